//! RESP2/RESP3 line-level syntax: what one header line announces.
//!
//! Every RESP value starts with a line `<type byte><text>\r\n`. Scalars are
//! complete in that line; bulk strings announce a payload length; aggregates
//! announce an element count (or `?` for a RESP3 streamed aggregate, ended
//! by a `.` line). This module only classifies one line; the streaming
//! state lives in the analyzer.

use crate::text::parse_u64;

/// Largest element count or payload length accepted. Redis itself caps
/// bulk strings at 512 MiB and multibulk lengths at 2³¹; anything larger is
/// taken as garbage (it would otherwise make the parser skip forever).
pub const MAX_LEN: u64 = 1 << 40;
/// Largest aggregate element count accepted (Redis's own multibulk limit):
/// with maps' two values per entry, the values of one aggregate fit a `u32`.
pub const MAX_AGG: u64 = (1 << 31) - 1;

/// Aggregate types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agg {
    /// `*` array.
    Array,
    /// `%` map: count is pairs.
    Map,
    /// `~` set.
    Set,
    /// `>` push (RESP3 out-of-band data).
    Push,
    /// `|` attribute: a map of metadata before the real value; not a value.
    Attribute,
}

impl Agg {
    /// Values held per announced element (maps hold key and value).
    pub fn per_entry(self) -> u64 {
        match self {
            Agg::Map | Agg::Attribute => 2,
            _ => 1,
        }
    }
}

/// Payload-carrying string types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blob {
    /// `$` bulk string.
    String,
    /// `=` verbatim string: the payload starts with a 3-letter format and
    /// `:`, which is not part of the text.
    Verbatim,
    /// `!` blob error.
    Error,
}

/// What a header line announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header<'a> {
    /// `+` simple string.
    Simple(&'a [u8]),
    /// `-` error.
    Error(&'a [u8]),
    /// `:` integer (the digits as sent).
    Integer(&'a [u8]),
    /// `,` double, `(` big number: text as sent.
    Number(&'a [u8]),
    /// `#t` / `#f`.
    Boolean(bool),
    /// `_`, `$-1`, `*-1` (and the other aggregates with -1).
    Null,
    /// A string with a payload of this many bytes, then CRLF.
    Blob(Blob, u64),
    /// `$?`: a RESP3 streamed string, in `;N` chunks ended by `;0`.
    StreamedString,
    /// `;N`: one chunk of a streamed string (0 ends it).
    Chunk(u64),
    /// An aggregate of this many entries (`None`: streamed, ended by `.`).
    Aggregate(Agg, Option<u64>),
    /// `.`: end of a streamed aggregate.
    End,
}

/// A decimal length, `MAX_LEN` at most.
fn length(s: &[u8]) -> Option<u64> {
    parse_u64(s).filter(|n| *n <= MAX_LEN)
}

/// A signed decimal integer as RESP sends it (`-12`, `42`).
pub fn is_integer(s: &[u8]) -> bool {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    !digits.is_empty() && digits.len() <= 20 && digits.iter().all(u8::is_ascii_digit)
}

/// Classifies a header line (without its line end). `None` when the line
/// is not valid RESP.
pub fn parse_header(line: &[u8]) -> Option<Header<'_>> {
    let (&t, rest) = line.split_first()?;
    let h = match t {
        b'+' => Header::Simple(rest),
        b'-' => Header::Error(rest),
        b':' => {
            if !is_integer(rest) {
                return None;
            }
            Header::Integer(rest)
        }
        b',' | b'(' => {
            if rest.is_empty() || rest.len() > 512 || !rest.iter().all(|c| c.is_ascii_graphic()) {
                return None;
            }
            Header::Number(rest)
        }
        b'#' => match rest {
            b"t" => Header::Boolean(true),
            b"f" => Header::Boolean(false),
            _ => return None,
        },
        b'_' => {
            if !rest.is_empty() {
                return None;
            }
            Header::Null
        }
        b'$' | b'=' | b'!' => {
            if rest == b"-1" {
                return Some(Header::Null);
            }
            if t == b'$' && rest == b"?" {
                return Some(Header::StreamedString);
            }
            let kind = match t {
                b'$' => Blob::String,
                b'=' => Blob::Verbatim,
                _ => Blob::Error,
            };
            Header::Blob(kind, length(rest)?)
        }
        b';' => Header::Chunk(length(rest)?),
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let agg = match t {
                b'*' => Agg::Array,
                b'%' => Agg::Map,
                b'~' => Agg::Set,
                b'>' => Agg::Push,
                _ => Agg::Attribute,
            };
            match rest {
                b"-1" => Header::Null,
                b"?" => Header::Aggregate(agg, None),
                _ => Header::Aggregate(agg, Some(length(rest).filter(|n| *n <= MAX_AGG)?)),
            }
        }
        b'.' => {
            if !rest.is_empty() {
                return None;
            }
            Header::End
        }
        _ => return None,
    };
    Some(h)
}

/// `line` without its line end (`\r\n`, or a bare `\n` as Redis accepts
/// for inline commands).
pub fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// The first element of an aggregate whose header line has been read, when
/// it is a short bulk string: used to tell a pushed pub/sub message from a
/// reply before anything of it is stored. `after` is what follows the
/// header line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peek<'a> {
    /// Not enough bytes yet.
    Need,
    /// The first element is this bulk string.
    Kind(&'a [u8]),
    /// The first element is something else (or too long to be a kind).
    Other,
}

/// Longest push kind recognised (`tracking-redir-broken` is 21 bytes).
pub const MAX_KIND: usize = 32;

/// Looks at the first element after an aggregate header (see [`Peek`]).
pub fn peek_kind(after: &[u8]) -> Peek<'_> {
    let Some(lf) = crate::text::find_byte(after, b'\n') else {
        return if after.len() > 24 { Peek::Other } else { Peek::Need };
    };
    let line = strip_eol(after.get(..=lf).unwrap_or(&[]));
    let Some(Header::Blob(Blob::String, n)) = parse_header(line) else {
        return Peek::Other;
    };
    let n = n as usize;
    if n > MAX_KIND {
        return Peek::Other;
    }
    let start = lf + 1;
    match after.get(start..start + n) {
        Some(kind) => Peek::Kind(kind),
        None => Peek::Need,
    }
}

/// Splits an inline command line into its first three whitespace-separated
/// words (offsets into `line`), stripping one level of matching quotes.
pub fn inline_words(line: &[u8]) -> [(usize, usize); 3] {
    let mut out = [(0usize, 0usize); 3];
    let mut i = 0usize;
    for slot in out.iter_mut() {
        while line.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let start = i;
        while line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
            i += 1;
        }
        let (mut s, mut e) = (start, i);
        if e >= s + 2 {
            let (a, b) = (line.get(s).copied(), line.get(e - 1).copied());
            if a == b && (a == Some(b'"') || a == Some(b'\'')) {
                s += 1;
                e -= 1;
            }
        }
        *slot = (s, e - s);
    }
    out
}

/// Plausible first word of an inline command: a command name is short and
/// made of letters (a few have digits, `-`, `_`, `|` or `.` in modules).
pub fn plausible_command(word: &[u8]) -> bool {
    !word.is_empty()
        && word.len() <= MAX_KIND
        && word.first().is_some_and(u8::is_ascii_alphabetic)
        && word.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'|' | b'.'))
}

/// Commands whose second word names a subcommand: `method` then holds both
/// words and `resource` the word after them.
pub fn is_container(cmd: &[u8]) -> bool {
    // Asked of every command with arguments: the length picks the few
    // names worth comparing (most commands, GET or SET, have none).
    let names: &[&[u8]] = match cmd.len() {
        3 => &[b"ACL"],
        5 => &[b"DEBUG", b"XINFO"],
        6 => &[b"CLIENT", b"CONFIG", b"MEMORY", b"MODULE", b"OBJECT", b"PUBSUB", b"SCRIPT", b"XGROUP"],
        7 => &[b"CLUSTER", b"COMMAND", b"LATENCY", b"SLOWLOG"],
        8 => &[b"FUNCTION"],
        _ => return false,
    };
    names.iter().any(|c| c.eq_ignore_ascii_case(cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header(b"+OK"), Some(Header::Simple(b"OK")));
        assert_eq!(parse_header(b"-ERR x"), Some(Header::Error(b"ERR x")));
        assert_eq!(parse_header(b":-12"), Some(Header::Integer(b"-12")));
        assert_eq!(parse_header(b":1x"), None);
        assert_eq!(parse_header(b"$5"), Some(Header::Blob(Blob::String, 5)));
        assert_eq!(parse_header(b"$-1"), Some(Header::Null));
        assert_eq!(parse_header(b"$-2"), None);
        assert_eq!(parse_header(b"$?"), Some(Header::StreamedString));
        assert_eq!(parse_header(b";0"), Some(Header::Chunk(0)));
        assert_eq!(parse_header(b"*3"), Some(Header::Aggregate(Agg::Array, Some(3))));
        assert_eq!(parse_header(b"*-1"), Some(Header::Null));
        assert_eq!(parse_header(b"%?"), Some(Header::Aggregate(Agg::Map, None)));
        assert_eq!(parse_header(b">2"), Some(Header::Aggregate(Agg::Push, Some(2))));
        assert_eq!(parse_header(b"|1"), Some(Header::Aggregate(Agg::Attribute, Some(1))));
        assert_eq!(parse_header(b"~0"), Some(Header::Aggregate(Agg::Set, Some(0))));
        assert_eq!(parse_header(b"#t"), Some(Header::Boolean(true)));
        assert_eq!(parse_header(b"#x"), None);
        assert_eq!(parse_header(b"_"), Some(Header::Null));
        assert_eq!(parse_header(b",3.14"), Some(Header::Number(b"3.14")));
        assert_eq!(parse_header(b",inf"), Some(Header::Number(b"inf")));
        assert_eq!(parse_header(b"(1234567890123456789012"), Some(Header::Number(b"1234567890123456789012")));
        assert_eq!(parse_header(b"=15"), Some(Header::Blob(Blob::Verbatim, 15)));
        assert_eq!(parse_header(b"!21"), Some(Header::Blob(Blob::Error, 21)));
        assert_eq!(parse_header(b"."), Some(Header::End));
        assert_eq!(parse_header(b"*99999999999999999999"), None);
        assert_eq!(parse_header(b"*2000000000000"), None, "beyond MAX_LEN");
        assert_eq!(parse_header(b"*2147483648"), None, "beyond MAX_AGG");
        assert_eq!(parse_header(b"$2147483648"), Some(Header::Blob(Blob::String, 1 << 31)));
        assert_eq!(parse_header(b""), None);
        assert_eq!(parse_header(b"GET x"), None);
    }

    #[test]
    fn peeks() {
        assert_eq!(peek_kind(b"$7\r\nmessage\r\n$1"), Peek::Kind(b"message"));
        assert_eq!(peek_kind(b"$7\r\nmess"), Peek::Need);
        assert_eq!(peek_kind(b"$7"), Peek::Need);
        assert_eq!(peek_kind(b":1\r\n"), Peek::Other);
        assert_eq!(peek_kind(b"$100\r\n"), Peek::Other);
    }

    #[test]
    fn inline() {
        let l = b"  set  \"key 1\" 'v' x";
        let w = inline_words(l);
        assert_eq!(&l[w[0].0..w[0].0 + w[0].1], b"set");
        assert_eq!(&l[w[1].0..w[1].0 + w[1].1], b"\"key");
        assert_eq!(&l[w[2].0..w[2].0 + w[2].1], b"1\"");
        let l = b"GET \"k\"";
        let w = inline_words(l);
        assert_eq!(&l[w[1].0..w[1].0 + w[1].1], b"k");
        assert_eq!(inline_words(b"")[0], (0, 0));
        assert!(plausible_command(b"PING"));
        assert!(!plausible_command(b"\x00\x01"));
        assert!(is_container(b"config"));
        assert!(!is_container(b"GET"));
    }

    #[test]
    fn container_commands_are_found_by_length_then_name() {
        let all = [
            "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY", "MODULE",
            "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
        ];
        for name in all {
            assert!(is_container(name.as_bytes()), "{name}");
            assert!(is_container(name.to_ascii_lowercase().as_bytes()), "{name}");
            assert!(!is_container(&name.as_bytes()[1..]), "{name}");
        }
        for other in ["", "SET", "HGET", "DEBUGX", "CONFIGS", "SUBSCRIBE", "FUNCTIONS", "XADD"] {
            assert!(!is_container(other.as_bytes()), "{other}");
        }
    }
}
