//! Byte-level decoding of MySQL/MariaDB packets: length-encoded integers
//! and strings, OK/EOF/ERR packets, column definitions, the handshake
//! packets of the connection phase, and binary-protocol values.
//!
//! Every function works on the bytes it is given (a whole payload or only
//! its head, when the packet is larger than a stream block) and returns
//! `None` instead of reading past them.

use core::fmt;

use crate::text::Lossy;

/// `CLIENT_CONNECT_WITH_DB`: the login names a default schema.
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
/// `CLIENT_COMPRESS`: zlib-compressed framing after the login.
pub const CLIENT_COMPRESS: u32 = 0x20;
/// `CLIENT_PROTOCOL_41`: the 4.1 packet formats (SQL state in ERR, ...).
pub const CLIENT_PROTOCOL_41: u32 = 0x200;
/// `CLIENT_SSL`: TLS after the SSL request.
pub const CLIENT_SSL: u32 = 0x800;
/// `CLIENT_SECURE_CONNECTION`: 1-byte length before the auth response.
pub const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
/// `CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA`.
pub const CLIENT_AUTH_LENENC: u32 = 0x20_0000;
/// `CLIENT_DEPRECATE_EOF`: OK packets (header 0xfe) replace EOF packets.
pub const CLIENT_DEPRECATE_EOF: u32 = 0x100_0000;
/// `CLIENT_OPTIONAL_RESULTSET_METADATA` (MySQL 8).
pub const CLIENT_OPTIONAL_RESULTSET_METADATA: u32 = 0x200_0000;
/// `CLIENT_ZSTD_COMPRESSION_ALGORITHM` (MySQL 8).
pub const CLIENT_ZSTD: u32 = 0x400_0000;
/// `CLIENT_QUERY_ATTRIBUTES` (MySQL 8.0.23+): parameters before the SQL.
pub const CLIENT_QUERY_ATTRIBUTES: u32 = 0x800_0000;
/// MariaDB extended capability `MARIADB_CLIENT_CACHE_METADATA`.
pub const MARIADB_CACHE_METADATA: u32 = 0x10;

/// `SERVER_MORE_RESULTS_EXISTS`: another result set follows.
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
/// `SERVER_STATUS_CURSOR_EXISTS`: rows come later, through COM_STMT_FETCH.
pub const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;

/// Column flag `UNSIGNED_FLAG`.
pub const UNSIGNED_FLAG: u16 = 0x20;

/// Little-endian 3-byte length of a packet header.
pub fn u24(b: &[u8]) -> Option<u32> {
    let b = b.get(..3)?;
    Some(b.iter().rev().fold(0u32, |acc, &x| (acc << 8) | x as u32))
}

/// A bounds-checked reader over a payload.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1).and_then(|b| b.first().copied())
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Little-endian unsigned integer of `n` ≤ 8 bytes.
    pub fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.bytes(n.min(8))?;
        Some(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    /// Little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.uint(2).map(|v| v as u16)
    }

    /// Little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.uint(4).map(|v| v as u32)
    }

    /// A length-encoded integer. `Some(None)` is the NULL marker (0xfb).
    pub fn lenenc(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0xfb => Some(None),
            0xfc => self.uint(2).map(Some),
            0xfd => self.uint(3).map(Some),
            0xfe => self.uint(8).map(Some),
            0xff => None,
            b => Some(Some(b as u64)),
        }
    }

    /// A length-encoded integer that must not be NULL.
    pub fn lenenc_int(&mut self) -> Option<u64> {
        self.lenenc()?
    }

    /// A length-encoded string (`Some(None)` for NULL).
    pub fn lenenc_str(&mut self) -> Option<Option<&'a [u8]>> {
        match self.lenenc()? {
            None => Some(None),
            Some(n) => self.bytes(usize::try_from(n).ok()?).map(Some),
        }
    }

    /// A length-encoded string, or as much of it as the buffer holds (for
    /// values of a packet whose tail was not kept). The flag says it was cut.
    pub fn lenenc_str_prefix(&mut self) -> Option<(Option<&'a [u8]>, bool)> {
        match self.lenenc()? {
            None => Some((None, false)),
            Some(n) => {
                let rest = self.rest();
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                let take = n.min(rest.len());
                let b = self.bytes(take)?;
                Some((Some(b), take < n))
            }
        }
    }

    /// A NUL-terminated string (without the NUL).
    pub fn nul_str(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest();
        let end = rest.iter().position(|&c| c == 0)?;
        let s = self.bytes(end)?;
        self.skip(1)?;
        Some(s)
    }
}

/// What an OK packet (or the OK/EOF that ends a result set) says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OkInfo {
    /// Rows changed by the statement.
    pub affected_rows: u64,
    /// `LAST_INSERT_ID()` after the statement.
    pub insert_id: u64,
    /// Server status flags.
    pub status: u16,
}

/// Parses an OK packet (header 0x00, or 0xfe with `CLIENT_DEPRECATE_EOF`)
/// or a classic 5-byte EOF packet (header 0xfe: warnings, then status).
pub fn parse_ok_or_eof(payload: &[u8], len: u32) -> Option<OkInfo> {
    let mut r = Reader::new(payload);
    let header = r.u8()?;
    if header == 0xfe && len < 7 {
        // EOF: warnings, then status flags (absent before 4.1).
        let _warnings = r.u16();
        return Some(OkInfo { status: r.u16().unwrap_or(0), ..OkInfo::default() });
    }
    let affected_rows = r.lenenc_int()?;
    let insert_id = r.lenenc_int()?;
    let status = r.u16().unwrap_or(0);
    Some(OkInfo { affected_rows, insert_id, status })
}

/// What an ERR packet says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrInfo<'a> {
    /// MySQL error number.
    pub code: u16,
    /// The five-character SQL state, when sent.
    pub state: Option<&'a [u8]>,
    /// The message.
    pub message: &'a [u8],
}

/// Parses an ERR packet (header 0xff).
pub fn parse_err(payload: &[u8]) -> Option<ErrInfo<'_>> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0xff {
        return None;
    }
    let code = r.u16()?;
    let state = if r.peek() == Some(b'#') {
        r.skip(1)?;
        Some(r.bytes(5).unwrap_or(&[]))
    } else {
        None
    };
    Some(ErrInfo { code, state, message: r.rest() })
}

/// The parts of a column definition (`ColumnDefinition41`) tapbeat uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ColDef<'a> {
    /// Schema (database) of the table.
    pub schema: &'a [u8],
    /// Table name as used in the query (alias).
    pub table: &'a [u8],
    /// Column name as used in the query (alias).
    pub name: &'a [u8],
    /// Column type (`MYSQL_TYPE_*`).
    pub ctype: u8,
    /// Column flags.
    pub flags: u16,
}

/// Parses a column definition. Names are read even when the fixed part
/// that follows them is missing (type then 0xfd, a string).
pub fn parse_coldef(payload: &[u8]) -> Option<ColDef<'_>> {
    let mut r = Reader::new(payload);
    let _catalog = r.lenenc_str()?;
    let schema = r.lenenc_str()?.unwrap_or(&[]);
    let table = r.lenenc_str()?.unwrap_or(&[]);
    let _org_table = r.lenenc_str()?;
    let name = r.lenenc_str()?.unwrap_or(&[]);
    let _org_name = r.lenenc_str()?;
    let mut def = ColDef { schema, table, name, ctype: 0xfd, flags: 0 };
    // MariaDB's extended metadata (type names) sits before the fixed block,
    // whose length byte is always 0x0c.
    if r.peek().is_some_and(|b| b != 0x0c) {
        let _ = r.lenenc_str();
    }
    if r.u8() == Some(0x0c) {
        let fixed = (|| {
            let _charset = r.u16()?;
            let _length = r.u32()?;
            let ctype = r.u8()?;
            let flags = r.u16()?;
            Some((ctype, flags))
        })();
        if let Some((ctype, flags)) = fixed {
            def.ctype = ctype;
            def.flags = flags;
        }
    }
    Some(def)
}

/// The server's first packet (`HandshakeV10`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Greeting {
    /// Server capability flags.
    pub caps: u32,
    /// MariaDB extended capabilities (0 for MySQL).
    pub ext_caps: u32,
}

/// Parses a `HandshakeV10` payload (protocol version byte 10).
pub fn parse_greeting(payload: &[u8]) -> Option<Greeting> {
    let mut r = Reader::new(payload);
    if r.u8()? != 10 {
        return None;
    }
    let version = r.nul_str()?;
    if version.is_empty() || version.len() > 100 || version.iter().any(|&c| !(0x20..0x7f).contains(&c)) {
        return None;
    }
    let _thread = r.u32()?;
    r.skip(8 + 1)?;
    let low = r.u16()? as u32;
    let mut g = Greeting { caps: low, ext_caps: 0 };
    // Older servers stop after the lower capability flags.
    let rest = (|| {
        let _charset = r.u8()?;
        let _status = r.u16()?;
        let high = r.u16()? as u32;
        let _auth_len = r.u8()?;
        r.skip(6)?;
        let ext = r.u32()?;
        Some((high, ext))
    })();
    if let Some((high, ext)) = rest {
        g.caps |= high << 16;
        // MariaDB clears CLIENT_MYSQL (bit 0) and puts its own flags in the
        // last four reserved bytes.
        if g.caps & 1 == 0 {
            g.ext_caps = ext;
        }
    }
    Some(g)
}

/// The client's answer to the greeting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginRequest {
    /// Client capability flags.
    pub caps: u32,
    /// MariaDB extended capabilities the client asks for.
    pub ext_caps: u32,
    /// This is an SSL request: TLS follows.
    pub ssl: bool,
}

/// Parses a `HandshakeResponse41` or `SSLRequest` payload.
pub fn parse_login(payload: &[u8]) -> Option<LoginRequest> {
    let mut r = Reader::new(payload);
    let caps = r.u32()?;
    if caps & CLIENT_PROTOCOL_41 == 0 {
        // HandshakeResponse320: 2 capability bytes; enough to know SSL.
        let caps = caps & 0xffff;
        return Some(LoginRequest { caps, ext_caps: 0, ssl: caps & CLIENT_SSL != 0 && payload.len() <= 5 });
    }
    let _max_packet = r.u32()?;
    let _charset = r.u8()?;
    r.skip(19)?;
    let ext = r.u32()?;
    let ext_caps = if caps & 1 == 0 { ext } else { 0 };
    Some(LoginRequest { caps, ext_caps, ssl: caps & CLIENT_SSL != 0 && payload.len() == 32 })
}

/// Length of the fixed-size binary encoding of type `t`, `None` for the
/// length-prefixed ones.
fn fixed_len(t: u8) -> Option<usize> {
    match t {
        0x01 => Some(1),               // TINY
        0x02 | 0x0d => Some(2),        // SHORT, YEAR
        0x03 | 0x09 | 0x04 => Some(4), // LONG, INT24, FLOAT
        0x08 | 0x05 => Some(8),        // LONGLONG, DOUBLE
        0x06 => Some(0),               // NULL
        _ => None,
    }
}

/// One value of the binary protocol (prepared-statement parameters and
/// binary result rows), ready to be shown as text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    UInt(u64),
    /// FLOAT.
    F32(f32),
    /// DOUBLE.
    F64(f64),
    /// DATE, DATETIME, TIMESTAMP: year, month, day, hour, minute, second,
    /// microsecond, and whether a time part was sent.
    DateTime([u16; 6], u32, bool),
    /// TIME: negative, days, hours, minutes, seconds, microseconds.
    Time(bool, u32, [u8; 3], u32),
    /// Anything sent as a length-prefixed string (also decimals, JSON,
    /// blobs); the flag says the packet tail holding the rest was not kept.
    Bytes(&'a [u8], bool),
}

/// Reads one binary-protocol value of column/parameter type `t`.
pub fn read_value<'a>(r: &mut Reader<'a>, t: u8, unsigned: bool) -> Option<Value<'a>> {
    if let Some(n) = fixed_len(t) {
        let raw = r.uint(n)?;
        return Some(match t {
            0x06 => Value::Null,
            0x04 => Value::F32(f32::from_bits(raw as u32)),
            0x05 => Value::F64(f64::from_bits(raw)),
            _ if unsigned || t == 0x0d => Value::UInt(raw),
            _ => {
                // Sign-extend from the value's width.
                let shift = 64 - 8 * n as u32;
                Value::Int(((raw << shift) as i64) >> shift)
            }
        });
    }
    match t {
        0x07 | 0x0a | 0x0c => {
            let n = r.u8()? as usize;
            let mut b = Reader::new(r.bytes(n)?);
            let mut f = [0u16; 6];
            if n >= 4 {
                f[0] = b.u16()?;
                f[1] = b.u8()? as u16;
                f[2] = b.u8()? as u16;
            }
            if n >= 7 {
                f[3] = b.u8()? as u16;
                f[4] = b.u8()? as u16;
                f[5] = b.u8()? as u16;
            }
            let micros = if n >= 11 { b.u32()? } else { 0 };
            Some(Value::DateTime(f, micros, t != 0x0a))
        }
        0x0b => {
            let n = r.u8()? as usize;
            let mut b = Reader::new(r.bytes(n)?);
            if n < 8 {
                return Some(Value::Time(false, 0, [0; 3], 0));
            }
            let neg = b.u8()? == 1;
            let days = b.u32()?;
            let hms = [b.u8()?, b.u8()?, b.u8()?];
            let micros = if n >= 12 { b.u32()? } else { 0 };
            Some(Value::Time(neg, days, hms, micros))
        }
        _ => {
            let (v, cut) = r.lenenc_str_prefix()?;
            Some(match v {
                Some(b) => Value::Bytes(b, cut),
                None => Value::Null,
            })
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Null => f.write_str("NULL"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::DateTime(d, us, with_time) => {
                write!(f, "{:04}-{:02}-{:02}", d[0], d[1], d[2])?;
                if with_time {
                    write!(f, " {:02}:{:02}:{:02}", d[3], d[4], d[5])?;
                    if us != 0 {
                        write!(f, ".{us:06}")?;
                    }
                }
                Ok(())
            }
            Value::Time(neg, days, hms, us) => {
                let hours = days as u64 * 24 + hms[0] as u64;
                write!(f, "{}{:02}:{:02}:{:02}", if neg { "-" } else { "" }, hours, hms[1], hms[2])?;
                if us != 0 {
                    write!(f, ".{us:06}")?;
                }
                Ok(())
            }
            Value::Bytes(b, _) => fmt::Display::fmt(&Lossy(b), f),
        }
    }
}

/// Writes `v` as text into `out` (cut to its capacity) and returns the
/// bytes: strings are returned as they are, without a copy.
pub fn value_text<'v, const N: usize>(v: &Value<'v>, out: &'v mut heapless::String<N>) -> &'v [u8] {
    match v {
        Value::Bytes(b, _) => b,
        other => {
            out.clear();
            let _ = fmt::Write::write_fmt(out, format_args!("{other}"));
            out.as_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_forms() {
        let mut r = Reader::new(&[0x05, 0xfc, 0x34, 0x12, 0xfd, 1, 2, 3, 0xfb, 0xff]);
        assert_eq!(r.lenenc(), Some(Some(5)));
        assert_eq!(r.lenenc(), Some(Some(0x1234)));
        assert_eq!(r.lenenc(), Some(Some(0x030201)));
        assert_eq!(r.lenenc(), Some(None));
        assert_eq!(r.lenenc(), None);
        let mut r = Reader::new(&[0xfe, 1, 2]);
        assert_eq!(r.lenenc(), None, "8-byte form cut");
        let mut r = Reader::new(&[3, b'a', b'b']);
        assert_eq!(r.lenenc_str(), None);
        let mut r = Reader::new(&[3, b'a', b'b']);
        assert_eq!(r.lenenc_str_prefix(), Some((Some(&b"ab"[..]), true)));
    }

    #[test]
    fn ok_eof_err() {
        // OK: affected 0x13c (316), insert id 0, status 0x22.
        let ok = [0x00, 0xfc, 0x3c, 0x01, 0x00, 0x22, 0x00, 0x00, 0x00];
        assert_eq!(
            parse_ok_or_eof(&ok, ok.len() as u32),
            Some(OkInfo { affected_rows: 316, insert_id: 0, status: 0x22 })
        );
        let eof = [0xfe, 0x00, 0x00, 0x0a, 0x00];
        assert_eq!(parse_ok_or_eof(&eof, 5).map(|o| o.status), Some(0x0a));
        let err = b"\xff\x16\x04#3D000No database selected";
        let e = parse_err(err).unwrap();
        assert_eq!((e.code, e.state, e.message), (1046, Some(&b"3D000"[..]), &b"No database selected"[..]));
        assert_eq!(parse_err(b"\xff\x16").map(|e| e.message), None);
    }

    #[test]
    fn coldef_and_values() {
        let mut p: heapless::Vec<u8, 64> = heapless::Vec::new();
        for s in [&b"def"[..], b"test", b"t", b"t", b"a", b"a"] {
            p.push(s.len() as u8).unwrap();
            p.extend_from_slice(s).unwrap();
        }
        p.extend_from_slice(&[0x0c, 0x21, 0, 0x14, 0, 0, 0, 0x08, 0x20, 0x00, 0, 0, 0]).unwrap();
        let c = parse_coldef(&p).unwrap();
        assert_eq!((c.schema, c.table, c.name, c.ctype, c.flags), (&b"test"[..], &b"t"[..], &b"a"[..], 8, 0x20));

        let mut s: heapless::String<64> = heapless::String::new();
        let mut r = Reader::new(&[0xff]);
        let v = read_value(&mut r, 0x01, false).unwrap();
        assert_eq!(value_text(&v, &mut s), b"-1");
        let mut r = Reader::new(&[0xff]);
        let v = read_value(&mut r, 0x01, true).unwrap();
        assert_eq!(value_text(&v, &mut s), b"255");
        let mut r = Reader::new(&[0x0b, 0xe1, 0x07, 0x0a, 0x1c, 0x17, 0x3b, 0x3b, 0, 0, 0, 0]);
        let v = read_value(&mut r, 0x0c, false).unwrap();
        assert_eq!(value_text(&v, &mut s), b"2017-10-28 23:59:59");
        let mut r = Reader::new(&[8, 1, 1, 0, 0, 0, 2, 3, 4]);
        let v = read_value(&mut r, 0x0b, false).unwrap();
        assert_eq!(value_text(&v, &mut s), b"-26:03:04");
        let mut r = Reader::new(&[0, 0, 0, 0, 0, 0, 0xf8, 0x3f]);
        let v = read_value(&mut r, 0x05, false).unwrap();
        assert_eq!(value_text(&v, &mut s), b"1.5");
        let mut r = Reader::new(&[2, b'h']);
        assert_eq!(read_value(&mut r, 0xfd, false), Some(Value::Bytes(b"h", true)));
        let mut r = Reader::new(&[0x0c, 1]);
        assert_eq!(read_value(&mut r, 0x0c, false), None);
    }

    #[test]
    fn handshake_packets() {
        let g = [
            0x0a, b'1', b'0', b'.', b'1', 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xfe, 0xf7, 0x2d, 0x02, 0x00, 0xff,
            0x81, 0x15, 0, 0, 0, 0, 0, 0, 0x1d, 0, 0, 0,
        ];
        let g = parse_greeting(&g).unwrap();
        assert_eq!(g.caps & CLIENT_PROTOCOL_41, CLIENT_PROTOCOL_41);
        assert_eq!(g.ext_caps, 0x1d);
        assert!(parse_greeting(b"\x0a\x01\x02").is_none());
        let mut ssl = [0u8; 32];
        ssl[..4].copy_from_slice(&(CLIENT_PROTOCOL_41 | CLIENT_SSL).to_le_bytes());
        assert!(parse_login(&ssl).unwrap().ssl);
    }
}
