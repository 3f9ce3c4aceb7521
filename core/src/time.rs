//! Packet time. The kernel never reads a clock: every notion of "now" is a
//! capture timestamp handed in by the shell.

/// A capture timestamp, in microseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself; also used for "no time yet".
    pub const ZERO: Timestamp = Timestamp(0);

    /// From microseconds since the epoch.
    pub const fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    /// From seconds and microseconds, as in a pcap record header.
    pub const fn from_secs_micros(secs: u64, micros: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000).saturating_add(micros as u64))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Milliseconds since the epoch (truncated).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// `self + d`, saturating.
    pub const fn add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// `self - earlier`, zero when `earlier` is later (captures are not
    /// always in time order).
    pub const fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// Writes this time as RFC 3339 UTC with millisecond precision
    /// (`2015-06-11T09:51:23.642Z`), the form Packetbeat uses for `@timestamp`.
    pub fn write_rfc3339_millis(self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let (year, rest) = self.rfc3339_parts();
        write!(out, "{year:04}")?;
        out.write_str(core::str::from_utf8(&rest).unwrap_or_default())
    }

    /// The same text without `core::fmt` (one per document, so it is on the
    /// hot path); `None` after the year 9999, where the text no longer has
    /// 24 bytes.
    pub fn rfc3339_millis(self) -> Option<[u8; 24]> {
        let (year, rest) = self.rfc3339_parts();
        if year > 9999 {
            return None;
        }
        let mut out = [0u8; 24];
        let (y, r) = out.split_at_mut(4);
        put_digits(y, year);
        r.copy_from_slice(&rest);
        Some(out)
    }

    /// `YYYY.MM.DD`: the day as daily index names carry it
    /// (`INDEX-YYYY.MM.DD`, Packetbeat's Elasticsearch layout); `None` after
    /// the year 9999.
    pub fn index_day(self) -> Option<[u8; 10]> {
        let text = self.rfc3339_millis()?;
        let mut day = [0u8; 10];
        for (d, &c) in day.iter_mut().zip(&text) {
            *d = if c == b'-' { b'.' } else { c };
        }
        Some(day)
    }

    /// The year, and the text after it: `-MM-DDThh:mm:ss.mmmZ`.
    fn rfc3339_parts(self) -> (u64, [u8; 20]) {
        let total_ms = self.0 / 1000;
        let secs = total_ms / 1000;
        let sod = secs % 86_400;
        let (y, m, d) = civil_from_days(secs / 86_400);
        let mut rest = *b"-00-00T00:00:00.000Z";
        for (at, width, v) in [
            (1, 2, m),
            (4, 2, d),
            (7, 2, sod / 3600),
            (10, 2, (sod / 60) % 60),
            (13, 2, sod % 60),
            (16, 3, total_ms % 1000),
        ] {
            if let Some(field) = rest.get_mut(at..at + width) {
                put_digits(field, v);
            }
        }
        (y, rest)
    }
}

/// `v` in decimal, right-aligned and zero-padded to the width of `out`
/// (higher digits that do not fit are dropped).
pub(crate) fn put_digits(out: &mut [u8], mut v: u64) {
    for c in out.iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A span of packet time, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Duration {
    /// From microseconds.
    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms.saturating_mul(1000))
    }
    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1_000_000))
    }
    /// Microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Milliseconds (truncated).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapless::String;

    #[test]
    fn rfc3339() {
        let mut s: String<32> = String::new();
        Timestamp::from_micros(1_434_016_283_642_123).write_rfc3339_millis(&mut s).unwrap();
        assert_eq!(s, "2015-06-11T09:51:23.642Z");
        s.clear();
        Timestamp::from_micros(951_782_400_000_000).write_rfc3339_millis(&mut s).unwrap();
        assert_eq!(s, "2000-02-29T00:00:00.000Z");
        s.clear();
        Timestamp::from_micros(253_402_300_800_000_000).write_rfc3339_millis(&mut s).unwrap();
        assert_eq!(s, "10000-01-01T00:00:00.000Z");
        assert_eq!(&Timestamp::from_micros(1_434_016_283_642_123).index_day().unwrap(), b"2015.06.11");
    }
}
