//! The Redis section of a transaction.

use crate::text::{Lossy, Span, TextBuf};

/// Bytes of text one Redis transaction holds: the command line (`query`),
/// from which `method` and `resource` are sub-spans, and the rendered
/// reply (`redis.return_value` or `redis.error`). What does not fit is cut
/// and the transaction is flagged truncated.
pub const REDIS_TEXT_CAP: usize = 4096;
/// Most bytes of the arena the command line may take, so that a command
/// with a large value (`SET k <1 MiB>`) still leaves room for the reply.
pub const QUERY_CAP: usize = 2048;

/// What kind of exchange a record holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedisKind {
    /// A command and (once seen) its reply.
    #[default]
    Command,
    /// A message the server pushed without a request: a pub/sub `message`,
    /// `pmessage` or `smessage`, a RESP3 push such as `invalidate`, or a
    /// line of a `MONITOR` feed. `method` holds the push kind.
    Push,
}

/// The Redis section of a transaction. Every text field is a [`Span`] of
/// [`RedisTxn::text`].
#[derive(Clone, Debug, Default)]
pub struct RedisTxn {
    /// Storage of the text fields below.
    pub text: TextBuf<REDIS_TEXT_CAP>,
    /// Command or push.
    pub kind: RedisKind,
    /// The command as sent (upper-cased in the output); two words for
    /// container commands (`CONFIG GET`). For a push, its kind (`message`).
    pub method: Span,
    /// The key: the first argument after the command (for a push, the
    /// channel).
    pub resource: Span,
    /// The command line: arguments joined by single spaces (at most
    /// [`QUERY_CAP`] bytes); an inline command's line as sent.
    pub query: Span,
    /// The reply: simple strings, numbers and bulk strings as they are,
    /// `nil` for nulls, aggregates as `[a, b]` (maps `{k: v}`), bounded
    /// by the arena.
    pub value: Span,
    /// Number of arguments of the command, the command included (at most
    /// 65 536 are counted).
    pub argc: u32,
    /// A reply was seen (an empty `value` is then an empty string).
    pub replied: bool,
    /// The reply was an error (`-ERR ...` or a RESP3 blob error): `value`
    /// is then the error message.
    pub is_error: bool,
}

impl RedisTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        self.text.truncated()
    }

    /// Empties every field, keeping the storage (records are reused; the
    /// arena is not zeroed). The pattern lists every field, so a new one
    /// cannot be forgotten here.
    pub fn reset(&mut self) {
        let RedisTxn { text, kind, method, resource, query, value, argc, replied, is_error } = self;
        text.clear();
        *kind = RedisKind::Command;
        for s in [method, resource, query, value] {
            *s = Span::EMPTY;
        }
        *argc = 0;
        *replied = false;
        *is_error = false;
    }

    /// Gives `t` an empty Redis section, reusing the one it has.
    pub fn init(t: &mut crate::txn::Transaction) {
        use crate::txn::Detail;
        match &mut t.detail {
            Detail::Redis(r) => r.reset(),
            other => *other = Detail::Redis(RedisTxn::default()),
        }
    }

    /// Text of a span.
    pub fn s(&self, span: Span) -> Lossy<'_> {
        self.text.text(span)
    }

    /// The raw bytes of a span.
    pub fn bytes(&self, span: Span) -> &[u8] {
        self.text.get(span)
    }

    /// True when the command (first word of `method`) is `name`,
    /// ignoring case.
    pub fn command_is(&self, name: &[u8]) -> bool {
        // Asked several times per transaction: compare the prefix and the
        // byte after it rather than splitting the method.
        let m = self.text.get(self.method);
        let rest = m.get(name.len()..);
        m.get(..name.len()).is_some_and(|p| p.eq_ignore_ascii_case(name))
            && rest.is_some_and(|r| r.first().is_none_or(|&c| c == b' '))
    }
}
