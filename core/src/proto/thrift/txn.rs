//! The Thrift section of a transaction and its text storage.

use crate::text::Lossy;

use super::decode::Decoder;

/// Bytes of text one Thrift transaction can hold: method and service names,
/// rendered parameters, return value or exceptions. Parameters get at most
/// half of it, so that the reply still fits. What does not fit is cut
/// (ending in `...`) and the transaction is flagged truncated.
pub const THRIFT_TEXT_CAP: usize = 3072;

/// A range of bytes in a [`ThriftText`]; the empty span is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TSpan {
    pub(crate) off: u16,
    pub(crate) len: u16,
}

impl TSpan {
    /// Length in bytes.
    pub fn len(self) -> usize {
        self.len as usize
    }
    /// True when the span holds no bytes.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// The text arena of one Thrift transaction: rendered values are appended
/// and, for strings, rewritten in place (quoted or hex-encoded) once they
/// are complete, which [`TextBuf`](crate::text::TextBuf) does not allow.
#[derive(Clone, Debug)]
pub struct ThriftText {
    pub(crate) buf: [u8; THRIFT_TEXT_CAP],
    pub(crate) len: u16,
    pub(crate) truncated: bool,
}

impl Default for ThriftText {
    fn default() -> Self {
        ThriftText { buf: [0; THRIFT_TEXT_CAP], len: 0, truncated: false }
    }
}

impl ThriftText {
    /// Forgets every span; the storage is reused.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Bytes used.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when some text did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Appends `bytes` if they fit entirely below `limit`; returns whether
    /// they did.
    pub(crate) fn append(&mut self, bytes: &[u8], limit: usize) -> bool {
        let start = self.len as usize;
        let end = start + bytes.len();
        if end > limit.min(THRIFT_TEXT_CAP) {
            return false;
        }
        match self.buf.get_mut(start..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end as u16;
                true
            }
            None => false,
        }
    }

    /// Appends `bytes` (cut to what fits, flagged) and returns their span.
    pub fn push(&mut self, bytes: &[u8]) -> TSpan {
        let off = self.len;
        let room = THRIFT_TEXT_CAP - self.len as usize;
        let n = bytes.len().min(room);
        if n < bytes.len() {
            self.truncated = true;
        }
        self.append(bytes.get(..n).unwrap_or(&[]), THRIFT_TEXT_CAP);
        TSpan { off, len: n as u16 }
    }

    /// The span from offset `from` to the end.
    pub(crate) fn since(&self, from: usize) -> TSpan {
        let from = from.min(self.len as usize);
        TSpan { off: from as u16, len: self.len - from as u16 }
    }

    /// The bytes of `span`.
    pub fn get(&self, span: TSpan) -> &[u8] {
        let start = span.off as usize;
        self.buf.get(start..start + span.len as usize).unwrap_or(&[])
    }

    /// `span` as text (invalid UTF-8 replaced).
    pub fn text(&self, span: TSpan) -> Lossy<'_> {
        Lossy(self.get(span))
    }
}

/// What the reply to a call held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplyKind {
    /// No reply (yet): a one-way call, an unanswered call.
    #[default]
    None,
    /// A normal reply (return value, possibly void).
    Return,
    /// A declared exception (a result field other than 0) or a
    /// TApplicationException (message type EXCEPTION).
    Exception,
}

/// The Thrift section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct ThriftTxn {
    /// Storage of every text field below.
    pub text: ThriftText,
    /// Method name (without the `Service:` prefix of the multiplexed protocol).
    pub method: TSpan,
    /// Service name: the `Service:` prefix of a multiplexed call.
    pub service: TSpan,
    /// Call arguments, rendered as `(1: 1, 2: "a")`.
    pub params: TSpan,
    /// Return value rendered (empty for void), when a normal reply was decoded.
    pub return_value: TSpan,
    /// Exception struct rendered as `(1: (1: 4, 2: "msg"))`.
    pub exceptions: TSpan,
    /// Sequence id of the call.
    pub seqid: u32,
    /// The call was sent as ONEWAY (no reply expected).
    pub oneway: bool,
    /// What the reply held.
    pub reply: ReplyKind,
    /// The reply's value was decoded and rendered (`capture_reply`).
    pub reply_rendered: bool,
    /// Streaming decoder state of the message being read.
    pub(crate) dec: Decoder,
}

impl ThriftTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        self.text.truncated()
    }

    /// Empties every field, keeping the storage (no zeroing of the arena).
    pub fn reset(&mut self) {
        let ThriftTxn {
            text,
            method,
            service,
            params,
            return_value,
            exceptions,
            seqid,
            oneway,
            reply,
            reply_rendered,
            dec,
        } = self;
        text.clear();
        for s in [method, service, params, return_value, exceptions] {
            *s = TSpan::default();
        }
        *seqid = 0;
        *oneway = false;
        *reply = ReplyKind::None;
        *reply_rendered = false;
        dec.clear();
    }

    /// Gives `t` an empty Thrift section, reusing the one it has.
    pub fn init(t: &mut crate::txn::Transaction) {
        use crate::txn::Detail;
        match &mut t.detail {
            Detail::Thrift(x) => x.reset(),
            other => *other = Detail::Thrift(ThriftTxn::default()),
        }
    }

    /// Text of a span.
    pub fn s(&self, span: TSpan) -> Lossy<'_> {
        self.text.text(span)
    }
}
