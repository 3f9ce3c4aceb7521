//! Pure parsers for HTTP/1.x lines (RFC 9112) and form parameters.
//! Each takes one line without its line ending and borrows from it.

use crate::text::{find_byte, parse_u64, trim};

/// Longest method token accepted (longer is not HTTP).
pub const MAX_METHOD_LEN: usize = 24;

/// A request line: `METHOD SP target SP HTTP/x.y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// Method token.
    pub method: &'a [u8],
    /// Request target (path and query).
    pub target: &'a [u8],
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
}

/// A status line: `HTTP/x.y SP code SP phrase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// Status code.
    pub code: u16,
    /// Reason phrase (may be empty).
    pub phrase: &'a [u8],
    /// Minor version.
    pub minor: u8,
}

fn parse_version(v: &[u8]) -> Option<u8> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', m] if m.is_ascii_digit() => Some(m - b'0'),
        [b'H', b'T', b'T', b'P', b'/', b'0', b'.', b'9'] => Some(0),
        _ => None,
    }
}

/// RFC 9110 `tchar`, as a table: header names are checked byte by byte.
// `c < 256` by the loop bound; `get_mut` is not usable in a constant.
#[allow(clippy::indexing_slicing)]
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        c += 1;
    }
    t
};

/// RFC 9110 `tchar`.
#[inline]
fn is_token(c: u8) -> bool {
    TOKEN.get(usize::from(c)).copied().unwrap_or(false)
}

/// Parses a request line; `None` when it is not one.
pub fn parse_request_line(line: &[u8]) -> Option<RequestLine<'_>> {
    let sp1 = find_byte(line, b' ')?;
    let method = line.get(..sp1)?;
    if method.is_empty() || method.len() > MAX_METHOD_LEN || !method.iter().all(|&c| is_token(c)) {
        return None;
    }
    let rest = line.get(sp1 + 1..)?;
    let sp2 = rest.iter().rposition(|&c| c == b' ')?;
    let target = trim(rest.get(..sp2)?);
    let minor = parse_version(trim(rest.get(sp2 + 1..)?))?;
    if target.is_empty() {
        return None;
    }
    Some(RequestLine { method, target, minor })
}

/// Parses the beginning of a request line that was cut (longer than a
/// stream block): a method token, a space, and as much of the target as
/// was kept. The version is assumed to be HTTP/1.1.
pub fn parse_request_line_prefix(line: &[u8]) -> Option<RequestLine<'_>> {
    let sp1 = find_byte(line, b' ')?;
    let method = line.get(..sp1)?;
    if method.is_empty() || method.len() > MAX_METHOD_LEN || !method.iter().all(|&c| is_token(c)) {
        return None;
    }
    let target = trim(line.get(sp1 + 1..)?);
    if !target.starts_with(b"/") && !target.starts_with(b"http") && target != b"*" {
        return None;
    }
    Some(RequestLine { method, target, minor: 1 })
}

/// Parses a status line; `None` when it is not one.
pub fn parse_status_line(line: &[u8]) -> Option<StatusLine<'_>> {
    let sp1 = find_byte(line, b' ')?;
    let minor = parse_version(line.get(..sp1)?)?;
    let rest = line.get(sp1 + 1..)?;
    let code_bytes = rest.get(..3)?;
    let code = parse_u64(code_bytes)? as u16;
    if !(100..=999).contains(&code) {
        return None;
    }
    let phrase = rest.get(3..).map(trim).unwrap_or(&[]);
    Some(StatusLine { code, phrase, minor })
}

/// Splits a header line into name and trimmed value; `None` when there is
/// no colon or the name is not a token.
pub fn parse_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = find_byte(line, b':')?;
    let name = line.get(..colon)?;
    if name.is_empty() || !name.iter().all(|&c| is_token(c)) {
        return None;
    }
    Some((name, trim(line.get(colon + 1..)?)))
}

/// Parses a chunk-size line (hex, optional `;ext`). `None` when invalid or
/// larger than 2^60.
pub fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let end = line.iter().position(|&c| c == b';' || c == b' ' || c == b'\t').unwrap_or(line.len());
    let hex = line.get(..end)?;
    if hex.is_empty() || hex.len() > 15 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in hex {
        let d = (c as char).to_digit(16)? as u64;
        v = (v << 4) | d;
    }
    Some(v)
}

/// True when a comma-separated header value lists `token` (case-insensitive).
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&c| c == b',').any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Most parameters kept when normalising a query string or form body.
pub const MAX_PARAMS: usize = 32;

/// Writes `input` (a query string or urlencoded form) normalised the way
/// Packetbeat (Go's `url.ParseQuery` then `Values.Encode`) prints it: pairs
/// split on `&` and `;`, decoded, sorted by key (stable), re-encoded; values
/// of keys in `hide` (case-insensitive) replaced by `xxxxx`. Returns the
/// bytes written to `out`, or `None` when `out` or `scratch` was too small
/// (the caller then keeps the raw text and flags truncation).
pub fn normalize_params(input: &[u8], hide: &[&[u8]], scratch: &mut [u8], out: &mut [u8]) -> Option<usize> {
    // Decode pairs into scratch.
    let mut pairs: heapless::Vec<((usize, usize), (usize, usize)), MAX_PARAMS> = heapless::Vec::new();
    let mut used = 0usize;
    for raw in input.split(|&c| c == b'&' || c == b';') {
        if raw.is_empty() {
            continue;
        }
        let (k, v) = match find_byte(raw, b'=') {
            Some(i) => (raw.get(..i)?, raw.get(i + 1..)?),
            None => (raw, &[][..]),
        };
        let ks = used;
        let Some(kn) = unescape(k, scratch.get_mut(ks..)?) else { continue };
        let vs = ks + kn;
        let Some(vn) = unescape(v, scratch.get_mut(vs..)?) else { continue };
        used = vs + vn;
        if pairs.push(((ks, kn), (vs, vn))).is_err() {
            break;
        }
    }
    // Stable insertion sort by key (at most MAX_PARAMS entries).
    for i in 1..pairs.len() {
        let mut j = i;
        while j > 0 {
            let (a, b) = (pairs.get(j - 1)?, pairs.get(j)?);
            let ka = scratch.get(a.0 .0..a.0 .0 + a.0 .1)?;
            let kb = scratch.get(b.0 .0..b.0 .0 + b.0 .1)?;
            if ka <= kb {
                break;
            }
            pairs.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut w = Writer { out, len: 0 };
    for (i, ((ks, kn), (vs, vn))) in pairs.iter().enumerate() {
        if i > 0 {
            w.put(b"&")?;
        }
        let k = scratch.get(*ks..ks + kn)?;
        w.escape(k)?;
        w.put(b"=")?;
        if hide.iter().any(|h| h.eq_ignore_ascii_case(k)) {
            w.put(b"xxxxx")?;
        } else {
            w.escape(scratch.get(*vs..vs + vn)?)?;
        }
    }
    Some(w.len)
}

struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) -> Option<()> {
        self.out.get_mut(self.len..self.len + b.len())?.copy_from_slice(b);
        self.len += b.len();
        Some(())
    }
    fn escape(&mut self, s: &[u8]) -> Option<()> {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &c in s {
            if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
                self.put(&[c])?;
            } else if c == b' ' {
                self.put(b"+")?;
            } else {
                let hi = *HEX.get((c >> 4) as usize)?;
                let lo = *HEX.get((c & 15) as usize)?;
                self.put(&[b'%', hi, lo])?;
            }
        }
        Some(())
    }
}

/// Decodes `%XX` and `+` into `out`; `None` on a bad escape or no room.
fn unescape(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    while i < s.len() {
        let c = *s.get(i)?;
        let (b, step) = match c {
            b'+' => (b' ', 1),
            b'%' => {
                let h = (*s.get(i + 1)? as char).to_digit(16)?;
                let l = (*s.get(i + 2)? as char).to_digit(16)?;
                ((h * 16 + l) as u8, 3)
            }
            _ => (c, 1),
        };
        *out.get_mut(n)? = b;
        n += 1;
        i += step;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_status_lines() {
        let r = parse_request_line(b"GET /a?b=c HTTP/1.1").unwrap();
        assert_eq!((r.method, r.target, r.minor), (&b"GET"[..], &b"/a?b=c"[..], 1));
        assert!(parse_request_line(b"GET /a HTTX/1.1").is_none());
        assert!(parse_request_line(b"\x00\x01 / HTTP/1.1").is_none());
        assert!(parse_request_line(b"GET").is_none());
        let s = parse_status_line(b"HTTP/1.0 404 NOT FOUND").unwrap();
        assert_eq!((s.code, s.phrase, s.minor), (404, &b"NOT FOUND"[..], 0));
        assert_eq!(parse_status_line(b"HTTP/1.1 204").unwrap().phrase, b"");
        assert!(parse_status_line(b"HTTP/1.1 2x4 OK").is_none());
    }

    #[test]
    fn headers_and_chunks() {
        assert_eq!(parse_header(b"Content-Length:  12 "), Some((&b"Content-Length"[..], &b"12"[..])));
        assert!(parse_header(b"no colon").is_none());
        assert_eq!(parse_chunk_size(b"1a;ext=1"), Some(26));
        assert_eq!(parse_chunk_size(b"zz"), None);
        assert_eq!(parse_chunk_size(b"fffffffffffffffff"), None);
        assert!(has_token(b"keep-alive, Close", b"close"));
    }

    fn norm(input: &str, hide: &[&[u8]]) -> heapless::String<256> {
        let mut scratch = [0u8; 256];
        let mut out = [0u8; 256];
        let n = normalize_params(input.as_bytes(), hide, &mut scratch, &mut out).unwrap();
        heapless::String::try_from(core::str::from_utf8(&out[..n]).unwrap()).unwrap()
    }

    #[test]
    fn params_like_go() {
        assert_eq!(norm("user=monica&pass=secret", &[]), "pass=secret&user=monica");
        assert_eq!(norm("user=monica&pass=secret", &[b"PASS"]), "pass=xxxxx&user=monica");
        assert_eq!(
            norm("{ \"query\": { \"match_all\": {}}}\n", &[]),
            "%7B+%22query%22%3A+%7B+%22match_all%22%3A+%7B%7D%7D%7D%0A="
        );
        assert_eq!(norm("b=2&a=1&b=1&bad=%zz", &[]), "a=1&b=2&b=1");
        assert_eq!(norm("", &[]), "");
    }
}
