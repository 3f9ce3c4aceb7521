//! A mirror device that replays a classic pcap file held in memory.
//!
//! For tests and demos on a host: the same [`Appliance`](crate::Appliance)
//! that runs on a mirror port runs over a capture, with each frame's
//! timestamp taken from the file (so the kernel sees the capture's own
//! time, as `tapbeat read` does).
//!
//! Format (the libpcap file format): a 24-byte file header whose magic
//! gives the byte order (`a1b2c3d4` microseconds, `a1b23c4d` nanoseconds,
//! either byte order), then records of a 16-byte header (seconds,
//! sub-second, captured length, original length) and the captured bytes.
//! pcapng is not read. Every length is checked against the file: a record
//! cut short ends the replay and is counted in [`PcapReplay::truncated`];
//! nothing here panics or reads out of bounds.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use tapbeat_core::LinkType;

use crate::appliance::MirrorPort;

const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// Why a buffer is not a pcap file this reader handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PcapError {
    /// Shorter than the 24-byte file header.
    Truncated,
    /// Not a classic pcap magic number (pcapng is not supported).
    BadMagic,
}

impl core::fmt::Display for PcapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PcapError::Truncated => "shorter than a pcap file header",
            PcapError::BadMagic => "not a classic pcap file (bad magic)",
        })
    }
}

impl core::error::Error for PcapError {}

/// One record of the file.
struct Record<'a> {
    ts: Instant,
    data: &'a [u8],
}

/// A receive-only smoltcp [`Device`] that hands out the frames of a pcap
/// file one by one, then reports [`MirrorPort::at_end`].
///
/// `transmit` always returns `None`: a mirror port never sends.
pub struct PcapReplay<'a> {
    file: &'a [u8],
    pos: usize,
    big_endian: bool,
    nanos: bool,
    link: LinkType,
    frames: u64,
    truncated: bool,
}

impl<'a> PcapReplay<'a> {
    /// A replay of `file` (the bytes of a `.pcap` file).
    pub fn new(file: &'a [u8]) -> Result<Self, PcapError> {
        let magic_bytes: [u8; 4] = file.get(..4).and_then(|m| m.try_into().ok()).ok_or(PcapError::Truncated)?;
        let (big_endian, nanos) = match u32::from_le_bytes(magic_bytes) {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            _ => return Err(PcapError::BadMagic),
        };
        if file.len() < FILE_HEADER {
            return Err(PcapError::Truncated);
        }
        let mut r =
            PcapReplay { file, pos: FILE_HEADER, big_endian, nanos, link: LinkType(0), frames: 0, truncated: false };
        r.link = LinkType(r.u32_at(20).unwrap_or(0) & 0x0fff_ffff);
        Ok(r)
    }

    /// The file's link type (the low 28 bits of its `network` field).
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Frames handed out so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The file ended inside a record (the rest of it was not replayed).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.file.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    /// The next record without consuming it; `None` at the end (and when
    /// the rest of the file is a cut-short record).
    fn peek(&self) -> Option<(Record<'a>, usize)> {
        let secs = self.u32_at(self.pos)?;
        let frac = self.u32_at(self.pos.checked_add(4)?)?;
        let caplen = usize::try_from(self.u32_at(self.pos.checked_add(8)?)?).ok()?;
        let start = self.pos.checked_add(RECORD_HEADER)?;
        let end = start.checked_add(caplen)?;
        let data = self.file.get(start..end)?;
        let micros = if self.nanos { frac / 1000 } else { frac };
        let total = i64::from(secs).saturating_mul(1_000_000).saturating_add(i64::from(micros));
        Some((Record { ts: Instant::from_micros(total), data }, end))
    }
}

impl MirrorPort for PcapReplay<'_> {
    fn link_type(&self) -> LinkType {
        self.link
    }

    fn next_timestamp(&self) -> Option<Instant> {
        self.peek().map(|(r, _)| r.ts)
    }

    fn at_end(&self) -> bool {
        self.peek().is_none()
    }
}

/// Receive token of [`PcapReplay`]: one frame of the file.
pub struct ReplayRx<'a>(&'a [u8]);

impl phy::RxToken for ReplayRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.0)
    }
}

/// Transmit token of [`PcapReplay`]; never handed out (a mirror port does
/// not send), present only because [`Device::receive`] pairs one with
/// every frame. Sending through it discards the bytes.
pub struct ReplayTx;

impl phy::TxToken for ReplayTx {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // A zero-length scratch: a mirror port has nowhere to send to.
        let _ = len;
        f(&mut [])
    }
}

impl Device for PcapReplay<'_> {
    type RxToken<'b>
        = ReplayRx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = ReplayTx
    where
        Self: 'b;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let Some((rec, next)) = self.peek() else {
            // Bytes left over that do not make a whole record: a file cut
            // short (counted once, visible to the caller).
            if self.pos < self.file.len() {
                self.truncated = true;
                self.pos = self.file.len();
            }
            return None;
        };
        self.pos = next;
        self.frames = self.frames.saturating_add(1);
        Some((ReplayRx(rec.data), ReplayTx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = if self.link == LinkType::ETHERNET { Medium::Ethernet } else { Medium::Ip };
        caps.max_transmission_unit = 65_535;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::RxToken;

    fn file(big: bool, nanos: bool, records: &[(u32, u32, &[u8])], cut: usize) -> [u8; 256] {
        let mut out = [0u8; 256];
        let mut n = 0;
        let mut put = |b: &[u8], out: &mut [u8; 256]| {
            out[n..n + b.len()].copy_from_slice(b);
            n += b.len();
        };
        let w = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        put(&w(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }), &mut out);
        put(&[0; 16], &mut out);
        put(&w(1), &mut out);
        for (s, f, d) in records {
            put(&w(*s), &mut out);
            put(&w(*f), &mut out);
            put(&w(d.len() as u32), &mut out);
            put(&w(d.len() as u32), &mut out);
            put(d, &mut out);
        }
        let _ = cut;
        out
    }

    fn len_of(records: &[(u32, u32, &[u8])]) -> usize {
        24 + records.iter().map(|r| 16 + r.2.len()).sum::<usize>()
    }

    #[test]
    fn replays_both_byte_orders_and_precisions() {
        let recs: &[(u32, u32, &[u8])] = &[(10, 5, b"abc"), (11, 7_000, b"de")];
        for (big, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
            let buf = file(big, nanos, recs, 0);
            let mut p = PcapReplay::new(&buf[..len_of(recs)]).unwrap();
            assert_eq!(p.link(), LinkType::ETHERNET);
            assert_eq!(p.next_timestamp(), Some(Instant::from_micros(10_000_000 + if nanos { 0 } else { 5 })));
            let (rx, _) = p.receive(Instant::ZERO).unwrap();
            assert_eq!(rx.consume(|d| d.to_vec_like()), *b"abc\0");
            let expect = 11_000_000 + if nanos { 7 } else { 7_000 };
            assert_eq!(p.next_timestamp(), Some(Instant::from_micros(expect)));
            assert!(!p.at_end());
            assert!(p.receive(Instant::ZERO).is_some());
            assert!(p.at_end());
            assert!(p.receive(Instant::ZERO).is_none());
            assert_eq!(p.frames(), 2);
            assert!(!p.truncated());
        }
    }

    #[test]
    fn cut_short_record_ends_the_replay_and_is_flagged() {
        let recs: &[(u32, u32, &[u8])] = &[(1, 0, b"abcdef")];
        let buf = file(false, false, recs, 0);
        for cut in 24..len_of(recs) {
            let mut p = PcapReplay::new(&buf[..cut]).unwrap();
            assert!(p.receive(Instant::ZERO).is_none());
            assert_eq!(p.truncated(), cut > 24, "cut at {cut}");
        }
        assert_eq!(PcapReplay::new(&buf[..10]).err(), Some(PcapError::Truncated));
        assert_eq!(PcapReplay::new(b"\x0a\x0d\x0d\x0a....").err(), Some(PcapError::BadMagic));
    }

    trait ToVecLike {
        fn to_vec_like(&self) -> [u8; 4];
    }
    impl ToVecLike for [u8] {
        fn to_vec_like(&self) -> [u8; 4] {
            let mut a = [0; 4];
            a[..self.len()].copy_from_slice(self);
            a
        }
    }
}
