//! DNS wire format (RFC 1035 §4): header, compressed names, resource
//! records, and RDATA rendered in presentation form.
//!
//! Everything here reads an untrusted message: every offset is checked,
//! name decompression follows at most [`MAX_POINTER_HOPS`] pointers, each
//! strictly before the previous target (so no loop can form), and a name is
//! at most [`MAX_NAME_WIRE`] bytes on the wire.

use core::fmt::{self, Write};
use core::net::Ipv6Addr;

use super::txn::{AlgorithmName, DigestName, Extra, TypeName};

/// Size of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Longest name on the wire (RFC 1035 §2.3.4), labels and length bytes.
pub const MAX_NAME_WIRE: usize = 255;
/// Most compression pointers followed while reading one name.
pub const MAX_POINTER_HOPS: usize = 32;
/// Capacity of a name in presentation form (escapes make it longer than
/// on the wire); longer names are cut and flagged.
pub const NAME_TEXT_CAP: usize = 512;
/// Capacity of one record's data in presentation form; longer data (big
/// TXT records, keys) is cut and flagged.
pub const DATA_TEXT_CAP: usize = 1024;

/// The message does not follow the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// The fixed header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Message ID.
    pub id: u16,
    /// Flags word.
    pub flags: u16,
    /// QDCOUNT.
    pub qd: u16,
    /// ANCOUNT.
    pub an: u16,
    /// NSCOUNT.
    pub ns: u16,
    /// ARCOUNT.
    pub ar: u16,
}

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn be32(msg: &[u8], at: usize) -> Option<u32> {
    Some(((be16(msg, at)? as u32) << 16) | be16(msg, at.checked_add(2)?)? as u32)
}

impl Header {
    /// Reads the header at the start of `msg`.
    pub fn parse(msg: &[u8]) -> Option<Header> {
        Some(Header {
            id: be16(msg, 0)?,
            flags: be16(msg, 2)?,
            qd: be16(msg, 4)?,
            an: be16(msg, 6)?,
            ns: be16(msg, 8)?,
            ar: be16(msg, 10)?,
        })
    }

    /// True for a response (QR set).
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// Operation code.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }
}

/// A fixed-capacity text buffer for rendering; writes past the end are
/// dropped and remembered in `cut`.
#[derive(Clone, Debug)]
pub struct Scratch<const N: usize> {
    buf: [u8; N],
    len: usize,
    cut: bool,
}

impl<const N: usize> Default for Scratch<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Scratch<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Scratch { buf: [0; N], len: 0, cut: false }
    }
    /// Forgets the content.
    pub fn clear(&mut self) {
        self.len = 0;
        self.cut = false;
    }
    /// The bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
    /// True when some bytes did not fit.
    pub fn cut(&self) -> bool {
        self.cut
    }
    /// Appends `b` (cut to what fits).
    pub fn push(&mut self, b: &[u8]) {
        let room = N.saturating_sub(self.len);
        let n = b.len().min(room);
        if n < b.len() {
            self.cut = true;
        }
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), b.get(..n)) {
            crate::text::copy_bytes(dst, src);
            self.len += n;
        }
    }
    /// Appends one byte.
    pub fn byte(&mut self, c: u8) {
        self.push(&[c]);
    }
}

impl<const N: usize> Write for Scratch<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Never an error: a cut is recorded, the caller goes on.
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Writes one byte of a label or character-string in presentation form:
/// printable ASCII as is, `\` (and `.` in labels) escaped, others as `\DDD`.
fn escaped<const N: usize>(out: &mut Scratch<N>, c: u8, in_label: bool) {
    if c == b'\\' || (in_label && c == b'.') {
        out.push(&[b'\\', c]);
    } else if (0x20..=0x7e).contains(&c) {
        out.byte(c);
    } else {
        out.push(&[b'\\', b'0' + c / 100, b'0' + (c / 10) % 10, b'0' + c % 10]);
    }
}

/// Reads the name at `pos`, writing it (without the trailing dot; the root
/// is empty) into `out` when given. Returns the offset just after the name
/// where it starts (after its first pointer, if compressed).
pub fn read_name<const N: usize>(msg: &[u8], pos: usize, mut out: Option<&mut Scratch<N>>) -> Result<usize, Malformed> {
    let mut p = pos;
    // Offset after the name in the record being read (set at the first pointer).
    let mut after: Option<usize> = None;
    // A pointer must land strictly before this: each jump goes further
    // back, so decompression cannot loop.
    let mut limit = pos;
    let mut hops = 0usize;
    let mut wire = 0usize;
    let mut first = true;
    // Each turn reads one label (wire grows, capped) or one pointer (hops
    // grows, capped): bounded.
    loop {
        let len = *msg.get(p).ok_or(Malformed)? as usize;
        match len & 0xc0 {
            0x00 => {
                wire += len + 1;
                if wire > MAX_NAME_WIRE {
                    return Err(Malformed);
                }
                if len == 0 {
                    return Ok(after.unwrap_or(p + 1));
                }
                let label = msg.get(p + 1..p + 1 + len).ok_or(Malformed)?;
                if let Some(o) = out.as_deref_mut() {
                    if !first {
                        o.byte(b'.');
                    }
                    // Nearly every label needs no escape: copied whole.
                    if label.iter().all(|&c| (0x20..=0x7e).contains(&c) && c != b'\\' && c != b'.') {
                        o.push(label);
                    } else {
                        for &c in label {
                            escaped(o, c, true);
                        }
                    }
                }
                first = false;
                p += 1 + len;
            }
            0xc0 => {
                let lo = *msg.get(p + 1).ok_or(Malformed)? as usize;
                let target = ((len & 0x3f) << 8) | lo;
                hops += 1;
                if hops > MAX_POINTER_HOPS || target >= limit {
                    return Err(Malformed);
                }
                if after.is_none() {
                    after = Some(p + 2);
                }
                limit = target;
                p = target;
            }
            // 0x40 (extended label types, obsolete) and 0x80 (reserved).
            _ => return Err(Malformed),
        }
    }
}

/// The fixed part of a resource record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrHeader {
    /// TYPE.
    pub rtype: u16,
    /// CLASS (for OPT: the UDP payload size).
    pub class: u16,
    /// TTL (for OPT: extended RCODE, version and flags).
    pub ttl: u32,
    /// Offset of the RDATA.
    pub rdata: usize,
    /// Offset just after the RDATA (the next record).
    pub end: usize,
}

/// Reads the record at `pos` (owner name into `name` when given).
pub fn read_rr<const N: usize>(msg: &[u8], pos: usize, name: Option<&mut Scratch<N>>) -> Result<RrHeader, Malformed> {
    let p = read_name(msg, pos, name)?;
    let rtype = be16(msg, p).ok_or(Malformed)?;
    let class = be16(msg, p + 2).ok_or(Malformed)?;
    let ttl = be32(msg, p + 4).ok_or(Malformed)?;
    let rdlen = be16(msg, p + 8).ok_or(Malformed)? as usize;
    let rdata = p + 10;
    let end = rdata + rdlen;
    if end > msg.len() {
        return Err(Malformed);
    }
    Ok(RrHeader { rtype, class, ttl, rdata, end })
}

/// Reads the question at `pos` (name into `name` when given); returns
/// (QTYPE, QCLASS, offset after it).
pub fn read_question<const N: usize>(
    msg: &[u8],
    pos: usize,
    name: Option<&mut Scratch<N>>,
) -> Result<(u16, u16, usize), Malformed> {
    let p = read_name(msg, pos, name)?;
    let qtype = be16(msg, p).ok_or(Malformed)?;
    let qclass = be16(msg, p + 2).ok_or(Malformed)?;
    Ok((qtype, qclass, p + 4))
}

/// True when `msg` is a whole, well-formed message of the expected kind
/// (`response`): header, every question and record, nothing left over.
/// Used to find a message start again after lost bytes.
pub fn plausible(msg: &[u8], response: bool) -> bool {
    let Some(h) = Header::parse(msg) else { return false };
    // Z must be zero, opcode a defined one, and one question as every
    // real query and almost every response carries.
    if h.is_response() != response || h.flags & 0x0040 != 0 || h.opcode() > 6 || h.opcode() == 3 || h.qd != 1 {
        return false;
    }
    let mut p = HEADER_LEN;
    let Ok((_, _, next)) = read_question::<0>(msg, p, None) else { return false };
    p = next;
    let records = h.an as usize + h.ns as usize + h.ar as usize;
    for _ in 0..records {
        match read_rr::<0>(msg, p, None) {
            Ok(rr) => p = rr.end,
            Err(_) => return false,
        }
    }
    p == msg.len()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_char(v: u32) -> u8 {
    B64.get((v & 63) as usize).copied().unwrap_or(b'=')
}

/// Writes `bytes` in base64 (RFC 4648, padded).
pub fn base64<const N: usize>(out: &mut Scratch<N>, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0) as u32;
        let b1 = chunk.get(1).copied().unwrap_or(0) as u32;
        let b2 = chunk.get(2).copied().unwrap_or(0) as u32;
        let v = (b0 << 16) | (b1 << 8) | b2;
        let c2 = if chunk.len() > 1 { b64_char(v >> 6) } else { b'=' };
        let c3 = if chunk.len() > 2 { b64_char(v) } else { b'=' };
        out.push(&[b64_char(v >> 18), b64_char(v >> 12), c2, c3]);
        if out.cut() {
            return;
        }
    }
}

/// Writes `bytes` in upper-case hex.
pub fn hex<const N: usize>(out: &mut Scratch<N>, bytes: &[u8]) {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        let hi = H.get((b >> 4) as usize).copied().unwrap_or(b'0');
        let lo = H.get((b & 15) as usize).copied().unwrap_or(b'0');
        out.push(&[hi, lo]);
        if out.cut() {
            return;
        }
    }
}

/// Writes a time in RRSIG presentation form, `YYYYMMDDHHmmSS` (UTC).
pub fn write_sig_time<const N: usize>(out: &mut Scratch<N>, secs: u32) {
    let mut s: Scratch<32> = Scratch::new();
    let ts = crate::time::Timestamp::from_secs_micros(secs as u64, 0);
    let _ = ts.write_rfc3339_millis(&mut s);
    // "2015-06-11T09:51:23.642Z": keep the digits of date and time.
    for &c in s.as_bytes().iter().take(19) {
        if c.is_ascii_digit() {
            out.byte(c);
        }
    }
}

/// RFC 3597 generic form: `\# LEN HEX`.
fn generic<const N: usize>(out: &mut Scratch<N>, rdata: &[u8]) {
    let _ = write!(out, "\\# {}", rdata.len());
    if !rdata.is_empty() {
        out.byte(b' ');
        hex(out, rdata);
    }
}

/// Character-strings (TXT, SPF) joined by a space, escaped.
fn strings<const N: usize>(out: &mut Scratch<N>, rdata: &[u8]) -> Result<(), Malformed> {
    let mut p = 0usize;
    let mut first = true;
    while p < rdata.len() {
        let len = *rdata.get(p).ok_or(Malformed)? as usize;
        let s = rdata.get(p + 1..p + 1 + len).ok_or(Malformed)?;
        if !first {
            out.byte(b' ');
        }
        first = false;
        for &c in s {
            escaped(out, c, false);
        }
        if out.cut() {
            return Ok(());
        }
        p += 1 + len;
    }
    Ok(())
}

/// NSEC type bitmap as type mnemonics separated by spaces.
fn type_bitmap<const N: usize>(out: &mut Scratch<N>, mut bits: &[u8]) -> Result<(), Malformed> {
    let mut first = true;
    // Each turn consumes a window (at least 2 bytes): bounded.
    while !bits.is_empty() {
        let window = *bits.first().ok_or(Malformed)? as u16;
        let len = *bits.get(1).ok_or(Malformed)? as usize;
        if len == 0 || len > 32 {
            return Err(Malformed);
        }
        let map = bits.get(2..2 + len).ok_or(Malformed)?;
        for (i, &b) in map.iter().enumerate() {
            for bit in 0..8u16 {
                if b & (0x80 >> bit) != 0 {
                    if !first {
                        out.byte(b' ');
                    }
                    first = false;
                    let _ = write!(out, "{}", TypeName(window * 256 + i as u16 * 8 + bit));
                }
            }
        }
        bits = bits.get(2 + len..).unwrap_or(&[]);
    }
    Ok(())
}

/// A name inside RDATA that must end within it.
fn rdata_name<const N: usize>(msg: &[u8], pos: usize, end: usize, out: &mut Scratch<N>) -> Result<usize, Malformed> {
    let next = read_name(msg, pos, Some(out))?;
    if next > end {
        return Err(Malformed);
    }
    Ok(next)
}

/// Renders the RDATA of a record of type `rtype` found at
/// `msg[start..end]`: `data` gets the main presentation text, `aux` the
/// second text field of types that have one (see [`Extra`]). RDATA that
/// does not decode as its type is shown in the generic form and reported
/// as `Err` (the caller marks the message malformed).
pub fn render_rdata<const D: usize, const A: usize>(
    msg: &[u8],
    rtype: u16,
    start: usize,
    end: usize,
    data: &mut Scratch<D>,
    aux: &mut Scratch<A>,
) -> Result<Extra, Malformed> {
    data.clear();
    aux.clear();
    let rdata = msg.get(start..end).ok_or(Malformed)?;
    let r = render_typed(msg, rtype, start, end, rdata, data, aux);
    if r.is_err() {
        data.clear();
        aux.clear();
        generic(data, rdata);
    }
    r
}

fn render_typed<const D: usize, const A: usize>(
    msg: &[u8],
    rtype: u16,
    start: usize,
    end: usize,
    rdata: &[u8],
    data: &mut Scratch<D>,
    aux: &mut Scratch<A>,
) -> Result<Extra, Malformed> {
    let u16_at = |o: usize| be16(rdata, o).ok_or(Malformed);
    let u32_at = |o: usize| be32(rdata, o).ok_or(Malformed);
    let u8_at = |o: usize| rdata.get(o).copied().ok_or(Malformed);
    let extra = match rtype {
        // A
        1 => {
            let b: [u8; 4] = rdata.try_into().map_err(|_| Malformed)?;
            // The JSON writer's dotted quad: `core::fmt` costs more than
            // the rest of the record.
            let mut text = [0u8; 15];
            let n = crate::json::ipv4_text(b, &mut text);
            data.push(text.get(..n).unwrap_or(&[]));
            Extra::None
        }
        // AAAA
        28 => {
            let b: [u8; 16] = rdata.try_into().map_err(|_| Malformed)?;
            let _ = write!(data, "{}", Ipv6Addr::from(b));
            Extra::None
        }
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME: one name.
        2..=5 | 7..=9 | 12 | 39 => {
            if rdata_name(msg, start, end, data)? != end {
                return Err(Malformed);
            }
            Extra::None
        }
        // MX
        15 => {
            let preference = u16_at(0)?;
            if rdata_name(msg, start + 2, end, data)? != end {
                return Err(Malformed);
            }
            Extra::Mx { preference }
        }
        // SOA
        6 => {
            let p = rdata_name(msg, start, end, data)?;
            let p = rdata_name(msg, p, end, aux)?;
            if end.checked_sub(p) != Some(20) {
                return Err(Malformed);
            }
            let o = p - start;
            Extra::Soa {
                rname: crate::text::Span::EMPTY,
                serial: u32_at(o)?,
                refresh: u32_at(o + 4)?,
                retry: u32_at(o + 8)?,
                expire: u32_at(o + 12)?,
                minimum: u32_at(o + 16)?,
            }
        }
        // TXT, SPF
        16 | 99 => {
            strings(data, rdata)?;
            Extra::None
        }
        // SRV
        33 => {
            let (priority, weight, port) = (u16_at(0)?, u16_at(2)?, u16_at(4)?);
            if rdata_name(msg, start + 6, end, data)? != end {
                return Err(Malformed);
            }
            Extra::Srv { priority, weight, port }
        }
        // DS, CDS, DLV
        43 | 59 | 32769 => {
            let (key_tag, algorithm, digest_type) = (u16_at(0)?, u8_at(2)?, u8_at(3)?);
            hex(data, rdata.get(4..).unwrap_or(&[]));
            Extra::Ds { key_tag, algorithm, digest_type }
        }
        // DNSKEY, CDNSKEY
        48 | 60 => {
            let (flags, protocol, algorithm) = (u16_at(0)?, u8_at(2)?, u8_at(3)?);
            base64(data, rdata.get(4..).unwrap_or(&[]));
            Extra::Dnskey { flags, protocol, algorithm }
        }
        // RRSIG, SIG
        46 | 24 => {
            let e = Extra::Rrsig {
                type_covered: u16_at(0)?,
                algorithm: u8_at(2)?,
                labels: u8_at(3)?,
                original_ttl: u32_at(4)?,
                expiration: u32_at(8)?,
                inception: u32_at(12)?,
                key_tag: u16_at(16)?,
                signer: crate::text::Span::EMPTY,
            };
            let p = rdata_name(msg, start + 18, end, aux)?;
            base64(data, msg.get(p..end).unwrap_or(&[]));
            e
        }
        // NSEC
        47 => {
            let p = rdata_name(msg, start, end, data)?;
            type_bitmap(aux, msg.get(p..end).unwrap_or(&[]))?;
            Extra::Nsec { type_bits: crate::text::Span::EMPTY }
        }
        // CAA: flags tag "value"
        257 => {
            let flags = u8_at(0)?;
            let tag_len = u8_at(1)? as usize;
            let tag = rdata.get(2..2 + tag_len).ok_or(Malformed)?;
            let _ = write!(data, "{} ", flags);
            for &c in tag {
                escaped(data, c, false);
            }
            data.push(b" \"");
            for &c in rdata.get(2 + tag_len..).unwrap_or(&[]) {
                if c == b'"' {
                    data.push(b"\\\"");
                } else {
                    escaped(data, c, false);
                }
            }
            data.byte(b'"');
            Extra::None
        }
        _ => {
            generic(data, rdata);
            Extra::None
        }
    };
    Ok(extra)
}

/// Writes a record's full presentation RDATA (as in a zone file) from the
/// rendered pieces: numeric fields first, then `data` (and `aux`).
pub fn write_presentation<const N: usize>(out: &mut Scratch<N>, extra: &Extra, data: &[u8], aux: &[u8]) {
    match *extra {
        Extra::None => out.push(data),
        Extra::Mx { preference } => {
            let _ = write!(out, "{} ", preference);
            out.push(data);
        }
        Extra::Srv { priority, weight, port } => {
            let _ = write!(out, "{} {} {} ", priority, weight, port);
            out.push(data);
        }
        Extra::Soa { serial, refresh, retry, expire, minimum, .. } => {
            out.push(data);
            out.byte(b' ');
            out.push(aux);
            let _ = write!(out, " {} {} {} {} {}", serial, refresh, retry, expire, minimum);
        }
        Extra::Ds { key_tag, algorithm, digest_type } => {
            let _ = write!(out, "{} {} {} ", key_tag, algorithm, digest_type);
            out.push(data);
        }
        Extra::Dnskey { flags, protocol, algorithm } => {
            let _ = write!(out, "{} {} {} ", flags, protocol, algorithm);
            out.push(data);
        }
        Extra::Rrsig { type_covered, algorithm, labels, original_ttl, expiration, inception, key_tag, .. } => {
            let _ = write!(out, "{} {} {} {} ", TypeName(type_covered), algorithm, labels, original_ttl);
            write_sig_time(out, expiration);
            out.byte(b' ');
            write_sig_time(out, inception);
            let _ = write!(out, " {} ", key_tag);
            out.push(aux);
            out.byte(b' ');
            out.push(data);
        }
        Extra::Nsec { .. } => {
            out.push(data);
            out.byte(b' ');
            out.push(aux);
        }
    }
}

/// Names of algorithm and digest codes, for the JSON writer.
pub fn algorithm_name(a: u8) -> AlgorithmName {
    AlgorithmName(a)
}

/// Name of a DS digest type, for the JSON writer.
pub fn digest_name(d: u8) -> DigestName {
    DigestName(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(msg: &[u8], pos: usize) -> Result<(heapless::String<64>, usize), Malformed> {
        let mut s: Scratch<64> = Scratch::new();
        let end = read_name(msg, pos, Some(&mut s))?;
        let mut out = heapless::String::new();
        out.push_str(core::str::from_utf8(s.as_bytes()).unwrap()).unwrap();
        Ok((out, end))
    }

    #[test]
    fn names_plain_compressed_escaped() {
        let mut m = [0u8; 40];
        let raw = b"\x03www\x07example\x03com\x00\x04mail\xc0\x04\x03a.b\x01\x07\x00";
        m[..raw.len()].copy_from_slice(raw);
        let (n, end) = name_of(&m, 0).unwrap();
        assert_eq!((n.as_str(), end), ("www.example.com", 17));
        let (n, end) = name_of(&m, 17).unwrap();
        assert_eq!((n.as_str(), end), ("mail.example.com", 24));
        let (n, _) = name_of(&m, 24).unwrap();
        assert_eq!(n.as_str(), "a\\.b.\\007");
        assert_eq!(name_of(b"\x00", 0).unwrap().0.as_str(), "");
        // Plain labels are copied whole; one byte to escape sends the
        // label through the byte-by-byte path (space and `~` stay as they are).
        let (n, _) = name_of(b"\x05a b~c\x03x\\y\x03\x7f.z\x00", 0).unwrap();
        assert_eq!(n.as_str(), "a b~c.x\\\\y.\\127\\.z");
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_rejected() {
        // A pointer to itself, to a later offset, and a two-pointer cycle.
        assert_eq!(name_of(b"\xc0\x00", 0), Err(Malformed));
        assert_eq!(name_of(b"\xc0\x02\x00", 0), Err(Malformed));
        assert_eq!(name_of(b"\x01a\xc0\x00", 2), Err(Malformed));
        // A label followed by a pointer back to it: label, pointer, label...
        assert_eq!(name_of(b"\x01a\xc0\x00", 0), Err(Malformed));
        // Truncated label, reserved label type.
        assert_eq!(name_of(b"\x05ab", 0), Err(Malformed));
        assert_eq!(name_of(b"\x40", 0), Err(Malformed));
    }

    #[test]
    fn overlong_names_are_rejected() {
        let mut m = [0u8; 300];
        for i in 0..64 {
            m[i * 4] = 3;
            m[i * 4 + 1..i * 4 + 4].copy_from_slice(b"abc");
        }
        assert_eq!(name_of(&m, 0).map(|_| ()), Err(Malformed));
    }

    #[test]
    fn encodings() {
        let mut s: Scratch<64> = Scratch::new();
        base64(&mut s, b"any carnal pleas");
        assert_eq!(s.as_bytes(), b"YW55IGNhcm5hbCBwbGVhcw==");
        s.clear();
        base64(&mut s, b"abc");
        assert_eq!(s.as_bytes(), b"YWJj");
        s.clear();
        hex(&mut s, &[0x0a, 0xff]);
        assert_eq!(s.as_bytes(), b"0AFF");
        s.clear();
        write_sig_time(&mut s, 1_359_000_000);
        assert_eq!(s.as_bytes(), b"20130124040000");
        let mut tiny: Scratch<3> = Scratch::new();
        base64(&mut tiny, b"abcdef");
        assert!(tiny.cut());
    }

    #[test]
    fn rdata_types() {
        let mut d: Scratch<128> = Scratch::new();
        let mut a: Scratch<64> = Scratch::new();
        // TXT with two strings and an escaped byte.
        let m = b"\x02hi\x03a\x01\\";
        assert_eq!(render_rdata(m, 16, 0, m.len(), &mut d, &mut a), Ok(Extra::None));
        assert_eq!(d.as_bytes(), b"hi a\\001\\\\");
        // A with a bad length: generic form, reported.
        let m = b"\x01\x02\x03";
        assert_eq!(render_rdata(m, 1, 0, 3, &mut d, &mut a), Err(Malformed));
        assert_eq!(d.as_bytes(), b"\\# 3 010203");
        // NSEC: next name and type bitmap (A, MX, RRSIG, NSEC; CAA in window 1).
        let m = b"\x01b\x00\x00\x06\x40\x01\x00\x00\x00\x03\x01\x01\x40";
        assert_eq!(
            render_rdata(m, 47, 0, m.len(), &mut d, &mut a),
            Ok(Extra::Nsec { type_bits: crate::text::Span::EMPTY })
        );
        assert_eq!(d.as_bytes(), b"b");
        assert_eq!(a.as_bytes(), b"A MX RRSIG NSEC CAA");
        // CAA.
        let m = b"\x00\x05issueletsencrypt.org";
        assert!(render_rdata(m, 257, 0, m.len(), &mut d, &mut a).is_ok());
        assert_eq!(d.as_bytes(), b"0 issue \"letsencrypt.org\"");
    }
}
