//! The memcache text protocol: command and reply lines.
//!
//! Lines are split on spaces (as memcached does); these functions only look
//! at one complete line (without its CRLF) and never allocate.

use super::txn::{Command, Kind};
use crate::text::parse_u64;

/// How the arguments of a text request are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// `get <key>*`
    Keys,
    /// `gat <exptime> <key>*`
    GatKeys,
    /// `set <key> <flags> <exptime> <bytes> [noreply]` + data block
    Store,
    /// `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]` + data block
    Cas,
    /// `incr <key> <delta> [noreply]`
    Counter,
    /// `touch <key> <exptime> [noreply]`
    Touch,
    /// `delete <key> [<time>] [noreply]`
    Delete,
    /// `flush_all [<exptime>] [noreply]`
    FlushAll,
    /// `stats <args>*`: kept as sent
    RawArgs,
    /// `verbosity <level> [noreply]`
    Verbosity,
    /// No arguments (`version`).
    Plain,
    /// `quit`: the server closes the connection without a reply.
    Quit,
    /// `slabs reassign <src> <dst>` / `slabs automove <mode>`
    Slabs,
    /// `lru_crawler enable|disable|sleep <us>|tocrawl <n>|crawl <args>`
    Lru,
}

/// The command, classification and syntax of a text request word.
pub(crate) fn request_command(word: &[u8]) -> Option<(Command, Kind, Syntax)> {
    use Command as C;
    use Kind as K;
    Some(match word {
        b"get" => (C::Get, K::Load, Syntax::Keys),
        b"gets" => (C::Gets, K::Load, Syntax::Keys),
        b"gat" => (C::Gat, K::Load, Syntax::GatKeys),
        b"gats" => (C::Gats, K::Load, Syntax::GatKeys),
        b"set" => (C::Set, K::Store, Syntax::Store),
        b"add" => (C::Add, K::Store, Syntax::Store),
        b"replace" => (C::Replace, K::Store, Syntax::Store),
        b"append" => (C::Append, K::Store, Syntax::Store),
        b"prepend" => (C::Prepend, K::Store, Syntax::Store),
        b"cas" => (C::Cas, K::Store, Syntax::Cas),
        b"incr" => (C::Incr, K::Counter, Syntax::Counter),
        b"decr" => (C::Decr, K::Counter, Syntax::Counter),
        b"touch" => (C::Touch, K::Store, Syntax::Touch),
        b"delete" => (C::Delete, K::Delete, Syntax::Delete),
        b"flush_all" => (C::FlushAll, K::Delete, Syntax::FlushAll),
        b"stats" => (C::Stats, K::Stats, Syntax::RawArgs),
        b"verbosity" => (C::Verbosity, K::Info, Syntax::Verbosity),
        b"version" => (C::Version, K::Info, Syntax::Plain),
        b"quit" => (C::Quit, K::Info, Syntax::Quit),
        b"slabs" => (C::Unknown, K::SlabCtrl, Syntax::Slabs),
        b"lru_crawler" => (C::Unknown, K::LruCrawler, Syntax::Lru),
        _ => return None,
    })
}

/// True for a word that looks like a command memcached may know and this
/// analyzer does not (lower-case letters, digits, `_`): such a request is
/// still expected to get a reply, so it keeps its place in the queue.
pub(crate) fn plausible_command(word: &[u8]) -> bool {
    !word.is_empty()
        && word.len() <= 32
        && word.first().is_some_and(|c| c.is_ascii_lowercase())
        && word.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// The space-separated tokens of a line.
pub(crate) fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&c| c == b' ').filter(|t| !t.is_empty())
}

/// What follows the first token (leading spaces removed).
pub(crate) fn after_first(line: &[u8]) -> &[u8] {
    let s = skip_spaces(line);
    let end = s.iter().position(|&c| c == b' ').unwrap_or(s.len());
    skip_spaces(s.get(end..).unwrap_or(&[]))
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ').unwrap_or(s.len());
    s.get(start..).unwrap_or(&[])
}

/// A signed decimal number.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    match s.split_first() {
        Some((b'-', rest)) => parse_u64(rest).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        _ => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// A 32-bit unsigned decimal number.
pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// One line of a text reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// `VALUE <key> <flags> <bytes> [<cas unique>]`; a data block follows
    /// when `bytes` parsed.
    Value { key: &'a [u8], flags: Option<u32>, bytes: Option<u64>, cas: Option<u64> },
    /// `END`: the end of a retrieval or stats reply.
    End,
    /// `STAT <name> <value>` (also `ITEM` and `PREFIX` lines of the
    /// `stats cachedump` / `stats detail dump` replies).
    Stat { name: &'a [u8], value: &'a [u8] },
    /// The decimal result of `incr`/`decr`.
    Counter(u64),
    /// A one-word reply (`STORED`, `DELETED`, `OK`, ...), with the message
    /// that error replies carry (possibly empty).
    Word(Command, Kind, Option<&'a [u8]>),
    /// `VERSION <version>`
    Version(&'a [u8]),
    /// Anything else.
    Unknown,
}

/// Classifies a reply line (without CRLF).
pub(crate) fn classify_reply(line: &[u8]) -> Reply<'_> {
    use Command as C;
    use Kind as K;
    let mut t = tokens(line);
    let Some(word) = t.next() else { return Reply::Unknown };
    let rest = after_first(line);
    let word_only = |c: Command, k: Kind| Reply::Word(c, k, None);
    let with_msg = |c: Command| Reply::Word(c, K::Fail, Some(rest));
    match word {
        b"VALUE" => {
            let key = t.next().unwrap_or(&[]);
            let flags = t.next().and_then(parse_u32);
            let bytes = t.next().and_then(parse_u64);
            let cas = t.next().and_then(parse_u64);
            Reply::Value { key, flags, bytes, cas }
        }
        b"END" => Reply::End,
        b"STAT" | b"ITEM" | b"PREFIX" => {
            let name = t.next().unwrap_or(&[]);
            Reply::Stat { name, value: after_first(rest) }
        }
        b"STORED" => word_only(C::Stored, K::Success),
        b"NOT_STORED" => word_only(C::NotStored, K::Fail),
        b"EXISTS" => word_only(C::Exists, K::Success),
        b"NOT_FOUND" => word_only(C::NotFound, K::Fail),
        b"TOUCHED" => word_only(C::Touched, K::Success),
        b"DELETED" => word_only(C::Deleted, K::Success),
        b"OK" => word_only(C::Ok, K::Success),
        b"ERROR" => Reply::Word(C::Error, K::Fail, (!rest.is_empty()).then_some(rest)),
        b"CLIENT_ERROR" => with_msg(C::ClientError),
        b"SERVER_ERROR" => with_msg(C::ServerError),
        b"BUSY" => with_msg(C::Busy),
        b"BADCLASS" => with_msg(C::BadClass),
        b"NOSPARE" => with_msg(C::NoSpare),
        b"NOTFULL" => with_msg(C::NotFull),
        b"UNSAFE" => with_msg(C::Unsafe),
        b"SAME" => with_msg(C::Same),
        b"VERSION" => Reply::Version(rest),
        w if w.first().is_some_and(|c| c.is_ascii_digit()) => match parse_u64(w) {
            Some(v) => Reply::Counter(v),
            None => Reply::Unknown,
        },
        _ => Reply::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            classify_reply(b"VALUE k1 0 100"),
            Reply::Value { key: b"k1", flags: Some(0), bytes: Some(100), cas: None }
        );
        assert_eq!(
            classify_reply(b"VALUE k 5 2 77"),
            Reply::Value { key: b"k", flags: Some(5), bytes: Some(2), cas: Some(77) }
        );
        assert_eq!(classify_reply(b"STAT version 1.6.18"), Reply::Stat { name: b"version", value: b"1.6.18" });
        assert_eq!(
            classify_reply(b"STAT libevent 2.1 beta x"),
            Reply::Stat { name: b"libevent", value: b"2.1 beta x" }
        );
        assert_eq!(classify_reply(b"2"), Reply::Counter(2));
        assert_eq!(classify_reply(b"18446744073709551615"), Reply::Counter(u64::MAX));
        assert_eq!(classify_reply(b"184467440737095516150"), Reply::Unknown);
        assert_eq!(classify_reply(b"STORED"), Reply::Word(Command::Stored, Kind::Success, None));
        assert_eq!(
            classify_reply(b"CLIENT_ERROR bad data chunk"),
            Reply::Word(Command::ClientError, Kind::Fail, Some(b"bad data chunk"))
        );
        assert_eq!(classify_reply(b"ERROR"), Reply::Word(Command::Error, Kind::Fail, None));
        assert_eq!(classify_reply(b"VERSION 1.6.18"), Reply::Version(b"1.6.18"));
        assert_eq!(classify_reply(b""), Reply::Unknown);
        assert_eq!(classify_reply(b"HD"), Reply::Unknown);
    }

    #[test]
    fn helpers() {
        assert_eq!(after_first(b"stats  slabs 1"), b"slabs 1");
        assert_eq!(after_first(b"stats"), b"");
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"12"), Some(12));
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_u32(b"4294967296"), None);
        assert!(plausible_command(b"mg"));
        assert!(!plausible_command(b"GET"));
        assert!(!plausible_command(b"\x80"));
        assert_eq!(tokens(b" a  b ").count(), 2);
        assert!(request_command(b"gets").is_some());
        assert!(request_command(b"GET").is_none());
    }
}
