//! Thrift message framing and headers: what starts a message on the wire.
//!
//! Three encodings of the message header are recognised from their first
//! bytes, with or without the 4-byte frame length of the framed transport:
//!
//! * strict TBinaryProtocol: `0x80 0x01 0x00 type`, i32 name length, name,
//!   i32 sequence id;
//! * old (non-strict) TBinaryProtocol: i32 name length, name, type byte,
//!   i32 sequence id. It carries no marker, so it is accepted only when the
//!   configuration says `protocol_type: binary`, and `transport_type`
//!   decides whether a frame length comes first;
//! * TCompactProtocol: `0x82`, a byte with the version (1) in its low 5 bits
//!   and the type in its high 3, varint sequence id, varint name length, name.
//!
//! Method names are checked to be printable ASCII of at most
//! [`MAX_METHOD_NAME`] bytes: what is not is not a Thrift message (the
//! analyzer then resynchronises).

/// Longest method name accepted in a message header (the name includes the
/// `Service:` prefix of the multiplexed protocol).
pub const MAX_METHOD_NAME: usize = 256;
/// Largest frame length accepted by the framed transport (1 GiB; Thrift's
/// own default limit is 16 MB).
pub const MAX_FRAME: u32 = 1 << 30;

/// Message types.
pub(crate) const CALL: u8 = 1;
pub(crate) const REPLY: u8 = 2;
pub(crate) const EXCEPTION: u8 = 3;
pub(crate) const ONEWAY: u8 = 4;

/// The encoding of a message's header and body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Enc {
    /// TBinaryProtocol (strict or old).
    #[default]
    Binary,
    /// TCompactProtocol.
    Compact,
}

/// A parsed message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    /// Frame length (framed transport), not counting its own 4 bytes.
    pub frame: Option<u32>,
    /// Body encoding.
    pub enc: Enc,
    /// Message type (`CALL` .. `ONEWAY`).
    pub mtype: u8,
    /// Sequence id.
    pub seqid: u32,
    /// Method name as sent.
    pub name: &'a [u8],
    /// Bytes of the header, frame length included.
    pub len: usize,
}

/// Outcome of [`parse_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A complete header.
    Ok(Header<'a>),
    /// Could be a header: more bytes are needed to tell.
    NeedMore,
    /// Not a message start.
    Invalid,
}

/// What [`parse_header`] may assume when the bytes carry no marker.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Expect {
    /// Old binary messages are framed (`transport_type: framed`).
    pub framed: bool,
    /// Old binary messages are possible (`protocol_type: binary`).
    pub old_binary: bool,
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]))
}

/// Reads an unsigned LEB128 varint of at most `max` bytes at `at`.
/// `Err(())` when it is longer than that; `Ok(None)` when cut.
pub(crate) fn varint(d: &[u8], at: usize, max: usize) -> Result<Option<(u64, usize)>, ()> {
    let mut v: u64 = 0;
    for i in 0..max {
        let Some(&b) = d.get(at + i) else { return Ok(None) };
        v |= u64::from(b & 0x7f) << (7 * i as u32);
        if b & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
    }
    Err(())
}

fn plausible_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= MAX_METHOD_NAME && name.iter().all(|&c| (0x21..=0x7e).contains(&c))
}

fn valid_type(t: u8) -> bool {
    matches!(t, CALL | REPLY | EXCEPTION | ONEWAY)
}

/// A strict binary or compact header at `at` (no frame length).
fn marked<'a>(d: &'a [u8], at: usize) -> Parsed<'a> {
    match d.get(at) {
        None => Parsed::NeedMore,
        Some(0x80) => strict(d, at),
        Some(0x82) => compact(d, at),
        Some(_) => Parsed::Invalid,
    }
}

fn strict<'a>(d: &'a [u8], at: usize) -> Parsed<'a> {
    let Some(ver) = be32(d, at) else {
        // Check what is there already, so junk is rejected early.
        return match d.get(at + 1) {
            Some(&v) if v != 0x01 => Parsed::Invalid,
            _ => Parsed::NeedMore,
        };
    };
    let mtype = (ver & 0xff) as u8;
    if ver & 0xffff_0000 != 0x8001_0000 || !valid_type(mtype) {
        return Parsed::Invalid;
    }
    let Some(n) = be32(d, at + 4) else { return Parsed::NeedMore };
    let n = n as usize;
    if n == 0 || n > MAX_METHOD_NAME {
        return Parsed::Invalid;
    }
    let name_at = at + 8;
    let Some(name) = d.get(name_at..name_at + n) else {
        return if d.get(name_at..).is_some_and(plausible_prefix) { Parsed::NeedMore } else { Parsed::Invalid };
    };
    if !plausible_name(name) {
        return Parsed::Invalid;
    }
    let Some(seqid) = be32(d, name_at + n) else { return Parsed::NeedMore };
    Parsed::Ok(Header { frame: None, enc: Enc::Binary, mtype, seqid, name, len: name_at + n + 4 })
}

fn plausible_prefix(s: &[u8]) -> bool {
    s.iter().all(|&c| (0x21..=0x7e).contains(&c))
}

fn compact<'a>(d: &'a [u8], at: usize) -> Parsed<'a> {
    let Some(&b) = d.get(at + 1) else { return Parsed::NeedMore };
    let mtype = b >> 5;
    if b & 0x1f != 1 || !valid_type(mtype) {
        return Parsed::Invalid;
    }
    let (seqid, n1) = match varint(d, at + 2, 5) {
        Err(()) => return Parsed::Invalid,
        Ok(None) => return Parsed::NeedMore,
        Ok(Some((v, n))) if v <= u64::from(u32::MAX) => (v as u32, n),
        Ok(Some(_)) => return Parsed::Invalid,
    };
    let len_at = at + 2 + n1;
    let (n, n2) = match varint(d, len_at, 5) {
        Err(()) => return Parsed::Invalid,
        Ok(None) => return Parsed::NeedMore,
        Ok(Some((v, n))) => (v as usize, n),
    };
    if n == 0 || n > MAX_METHOD_NAME {
        return Parsed::Invalid;
    }
    let name_at = len_at + n2;
    let Some(name) = d.get(name_at..name_at + n) else {
        return if d.get(name_at..).is_some_and(plausible_prefix) { Parsed::NeedMore } else { Parsed::Invalid };
    };
    if !plausible_name(name) {
        return Parsed::Invalid;
    }
    Parsed::Ok(Header { frame: None, enc: Enc::Compact, mtype, seqid, name, len: name_at + n })
}

fn old<'a>(d: &'a [u8], at: usize) -> Parsed<'a> {
    let Some(n) = be32(d, at) else {
        // The length's high bytes are zero for any plausible name.
        return if d.get(at..).is_some_and(|s| s.iter().all(|&c| c == 0)) { Parsed::NeedMore } else { Parsed::Invalid };
    };
    let n = n as usize;
    if n == 0 || n > MAX_METHOD_NAME {
        return Parsed::Invalid;
    }
    let name_at = at + 4;
    let Some(name) = d.get(name_at..name_at + n) else {
        return if d.get(name_at..).is_some_and(plausible_prefix) { Parsed::NeedMore } else { Parsed::Invalid };
    };
    if !plausible_name(name) {
        return Parsed::Invalid;
    }
    let Some(&mtype) = d.get(name_at + n) else { return Parsed::NeedMore };
    if !valid_type(mtype) {
        return Parsed::Invalid;
    }
    let Some(seqid) = be32(d, name_at + n + 1) else { return Parsed::NeedMore };
    Parsed::Ok(Header { frame: None, enc: Enc::Binary, mtype, seqid, name, len: name_at + n + 5 })
}

/// The frame length at the start of `d` if it is one: followed by a header
/// that fits in it.
fn framed<'a>(d: &'a [u8], inner: fn(&'a [u8], usize) -> Parsed<'a>) -> Parsed<'a> {
    let Some(n) = be32(d, 0) else {
        return match d.first() {
            Some(&b) if u32::from(b) << 24 >= MAX_FRAME => Parsed::Invalid,
            _ => Parsed::NeedMore,
        };
    };
    if n == 0 || n > MAX_FRAME {
        return Parsed::Invalid;
    }
    match inner(d, 4) {
        Parsed::Ok(h) if h.len - 4 <= n as usize => Parsed::Ok(Header { frame: Some(n), ..h }),
        Parsed::Ok(_) => Parsed::Invalid,
        other => other,
    }
}

/// Parses the message header at the start of `d`.
pub(crate) fn parse_header(d: &[u8], expect: Expect) -> Parsed<'_> {
    match d.first() {
        None => return Parsed::NeedMore,
        Some(0x80) | Some(0x82) => return marked(d, 0),
        Some(_) => {}
    }
    // A frame length (its first byte is small) or an old binary name length.
    match framed(d, marked) {
        Parsed::Invalid => {}
        other => return other,
    }
    if !expect.old_binary {
        return Parsed::Invalid;
    }
    type Try = for<'a> fn(&'a [u8]) -> Parsed<'a>;
    let (first, second): (Try, Try) =
        if expect.framed { (|d| framed(d, old), |d| old(d, 0)) } else { (|d| old(d, 0), |d| framed(d, old)) };
    match first(d) {
        Parsed::Invalid => second(d),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Expect = Expect { framed: false, old_binary: true };

    #[test]
    fn strict_binary_header() {
        let m = b"\x80\x01\x00\x01\x00\x00\x00\x04ping\x00\x00\x00\x07\x00";
        let Parsed::Ok(h) = parse_header(m, B) else { panic!() };
        assert_eq!((h.enc, h.mtype, h.seqid, h.name, h.len, h.frame), (Enc::Binary, CALL, 7, &b"ping"[..], 16, None));
        for cut in 0..16 {
            assert_eq!(parse_header(&m[..cut], B), Parsed::NeedMore, "cut {cut}");
        }
    }

    #[test]
    fn framed_and_compact_headers() {
        let m = b"\x00\x00\x00\x11\x80\x01\x00\x02\x00\x00\x00\x04ping\x00\x00\x00\x00\x00";
        let Parsed::Ok(h) = parse_header(m, B) else { panic!() };
        assert_eq!((h.frame, h.mtype, h.len), (Some(17), REPLY, 20));
        let c = b"\x82\x21\x05\x04ping\x00";
        let Parsed::Ok(h) = parse_header(c, B) else { panic!() };
        assert_eq!((h.enc, h.mtype, h.seqid, h.len), (Enc::Compact, CALL, 5, 8));
        for cut in 0..8 {
            assert_eq!(parse_header(&c[..cut], B), Parsed::NeedMore, "cut {cut}");
        }
    }

    #[test]
    fn old_binary_needs_the_config() {
        let m = b"\x00\x00\x00\x04ping\x01\x00\x00\x00\x03\x00";
        let Parsed::Ok(h) = parse_header(m, B) else { panic!() };
        assert_eq!((h.enc, h.mtype, h.seqid, h.len), (Enc::Binary, CALL, 3, 13));
        assert_eq!(parse_header(m, Expect { framed: false, old_binary: false }), Parsed::Invalid);
        let f = b"\x00\x00\x00\x0e\x00\x00\x00\x04ping\x01\x00\x00\x00\x03\x00";
        let Parsed::Ok(h) = parse_header(f, Expect { framed: true, old_binary: true }) else { panic!() };
        assert_eq!((h.frame, h.len), (Some(14), 17));
    }

    #[test]
    fn junk_is_invalid() {
        assert_eq!(parse_header(b"GET / HTTP/1.1\r\n", B), Parsed::Invalid);
        assert_eq!(parse_header(b"\x80\x02", B), Parsed::Invalid);
        assert_eq!(parse_header(b"\x80\x01\x00\x09", B), Parsed::Invalid);
        assert_eq!(parse_header(b"\x80\x01\x00\x01\x00\x00\x00\x02a\n", B), Parsed::Invalid);
        assert_eq!(parse_header(b"\xff\xff\xff\xff\x80", B), Parsed::Invalid);
        assert_eq!(varint(&[0xff; 11], 0, 10), Err(()));
    }
}
