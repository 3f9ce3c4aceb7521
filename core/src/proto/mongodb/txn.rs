//! MongoDB transaction fields, and how `query` / `request` are displayed.

use core::fmt;

use serde::ser::{Serialize, Serializer};

use super::bson::Walker;
use crate::text::{Lossy, Span, TextBuf};

/// Bytes of text one MongoDB transaction can hold: full collection name,
/// method, resource, the rendered request document (`params`), selector,
/// update, returned fields selector, legacy message, and the rendered
/// response documents (`response`) together. What does not fit is cut and
/// the transaction is flagged truncated.
pub const MONGODB_TEXT_CAP: usize = 3840;
/// Most bytes of text the request side may use (the rest is kept for the
/// response documents and the derived fields).
pub const REQUEST_TEXT_CAP: usize = 1600;
/// Longest error text kept (`mongodb.error`).
pub const ERROR_CAP: usize = 200;

/// The error reported by the server, kept apart from the arena so that a
/// full arena (many response documents) cannot crowd it out.
#[derive(Clone, Debug)]
pub struct ErrorText {
    buf: [u8; ERROR_CAP],
    len: u8,
    /// Some of the error did not fit [`ERROR_CAP`].
    pub cut: bool,
}

impl Default for ErrorText {
    fn default() -> Self {
        ErrorText { buf: [0; ERROR_CAP], len: 0, cut: false }
    }
}

impl ErrorText {
    /// The error text (empty when none).
    pub fn get(&self) -> &[u8] {
        self.buf.get(..self.len as usize).unwrap_or(&[])
    }
    /// True when no error was reported.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Forgets the text.
    pub fn clear(&mut self) {
        self.len = 0;
        self.cut = false;
    }
    /// Appends `b`, cut to what fits.
    pub fn push(&mut self, b: &[u8]) {
        let start = self.len as usize;
        let n = b.len().min(ERROR_CAP.saturating_sub(start));
        if n < b.len() {
            self.cut = true;
        }
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..start + n), b.get(..n)) {
            dst.copy_from_slice(src);
            self.len = (start + n) as u8;
        }
    }
}

/// The MongoDB section of a transaction.
///
/// Numbers are `None` when the message that carries them was not seen
/// (a request without reply has no `number_returned`). Text lives in
/// [`MongodbTxn::text`]; an empty span means "absent".
#[derive(Clone, Debug, Default)]
pub struct MongodbTxn {
    /// Storage of every span below ([`MONGODB_TEXT_CAP`] bytes).
    pub text: TextBuf<MONGODB_TEXT_CAP>,
    /// Operation or command name (`find`, `insert`, `getMore`, ...).
    pub method: Span,
    /// `database.collection` the operation works on.
    pub resource: Span,
    /// `fullCollectionName` of a legacy operation.
    pub full_collection_name: Span,
    /// The request document as JSON without its closing brace (the
    /// display adds it): command arguments, or the query of a legacy find.
    pub params: Span,
    /// `params` was cut to fit.
    pub params_cut: bool,
    /// Byte range of `params` left out of the short `query` form (the
    /// documents of an insert, the updates of an update, the update of a
    /// findAndModify, as Packetbeat does).
    pub query_skip: Option<(u16, u16)>,
    /// OP_UPDATE / OP_DELETE selector, as JSON.
    pub selector: Span,
    /// OP_UPDATE update document, as JSON.
    pub update: Span,
    /// OP_QUERY returned fields selector, as JSON.
    pub return_fields_selector: Span,
    /// Text of a legacy OP_MSG (opcode 1000).
    pub message: Span,
    /// Response documents as JSON, one per line (`send_response`).
    pub response: Span,
    /// Error reported by the server (`$err`, `writeErrors`,
    /// `writeConcernError`, or `errmsg` with `ok: 0`).
    pub error: ErrorText,
    /// OP_QUERY `numberToSkip` (as an unsigned value, like Packetbeat).
    pub number_to_skip: Option<u32>,
    /// OP_QUERY / OP_GET_MORE `numberToReturn` (unsigned: -1 is 4294967295).
    pub number_to_return: Option<u32>,
    /// Documents in the reply (OP_REPLY `numberReturned`, or the size of
    /// an OP_MSG reply's `cursor.firstBatch` / `nextBatch`).
    pub number_returned: Option<u32>,
    /// OP_REPLY `startingFrom`.
    pub starting_from: Option<u32>,
    /// Cursor id of the reply (or of an OP_GET_MORE request).
    pub cursor_id: Option<i64>,
    /// Opcode of the request (0 when no request was seen).
    pub opcode: i32,
    /// An opcode this analyzer does not know (reported once per flow).
    pub unknown_opcode: Option<i32>,
    /// OP_COMPRESSED compressor id of the request or response (0 noop,
    /// 1 snappy, 2 zlib, 3 zstd); only noop messages are decoded.
    pub compressor: Option<u8>,
    /// OP_REPLY flags (bit 0 CursorNotFound, bit 1 QueryFailure).
    pub reply_flags: u32,
    /// `requestID` of the request.
    pub request_id: i32,
    /// `responseTo` of the response.
    pub response_to: i32,
    /// Streaming BSON state of the message being decoded.
    pub(super) walk: Walker,
    /// Which direction owns `walk` (0 none, 1 request, 2 response).
    pub(super) walk_owner: u8,
}

/// Error text for a reply flag when the document said nothing.
pub(super) const QUERY_FAILURE: &[u8] = b"Query failure";
/// Error text for the CursorNotFound reply flag.
pub(super) const CURSOR_NOT_FOUND: &[u8] = b"Cursor not found";

impl MongodbTxn {
    /// Empties every field, keeping the storage (no arena zeroing per
    /// transaction). The pattern lists every field, so a new one cannot be
    /// forgotten here.
    pub fn reset(&mut self) {
        let MongodbTxn {
            text,
            method,
            resource,
            full_collection_name,
            params,
            params_cut,
            query_skip,
            selector,
            update,
            return_fields_selector,
            message,
            response,
            error,
            number_to_skip,
            number_to_return,
            number_returned,
            starting_from,
            cursor_id,
            opcode,
            unknown_opcode,
            compressor,
            reply_flags,
            request_id,
            response_to,
            walk,
            walk_owner,
        } = self;
        text.clear();
        for s in [
            method,
            resource,
            full_collection_name,
            params,
            selector,
            update,
            return_fields_selector,
            message,
            response,
        ] {
            *s = Span::EMPTY;
        }
        *params_cut = false;
        *query_skip = None;
        error.clear();
        *number_to_skip = None;
        *number_to_return = None;
        *number_returned = None;
        *starting_from = None;
        *cursor_id = None;
        *opcode = 0;
        *unknown_opcode = None;
        *compressor = None;
        *reply_flags = 0;
        *request_id = 0;
        *response_to = 0;
        walk.clear();
        *walk_owner = 0;
    }

    /// Gives `t` an empty MongoDB section, reusing the one it has.
    pub fn init(t: &mut crate::txn::Transaction) {
        use crate::txn::Detail;
        match &mut t.detail {
            Detail::Mongodb(m) => m.reset(),
            other => *other = Detail::Mongodb(MongodbTxn::default()),
        }
    }

    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        self.text.truncated() || self.error.cut || self.params_cut
    }

    /// Text of a span.
    pub fn s(&self, span: Span) -> Lossy<'_> {
        self.text.text(span)
    }

    /// Packetbeat's `query`: `resource.method(args).skip(n).limit(n)`
    /// (`method(...)` alone when there is no resource, e.g. killCursors),
    /// where the arguments are shown only for insert, update and
    /// findAndModify, without their data (documents, updates, update).
    pub fn query(&self) -> Query<'_> {
        Query { t: self, full: false }
    }

    /// Packetbeat's `request` (`send_request`): as [`MongodbTxn::query`],
    /// with every argument of the request document.
    pub fn request(&self) -> Query<'_> {
        Query { t: self, full: true }
    }

    /// The command arguments shown in the short `query` form: the data of
    /// insert, update and findAndModify is left out; other commands show
    /// none (Packetbeat's choice: the query shape, not the data).
    pub(super) fn shows_args(method: &[u8]) -> bool {
        short_form_skip(method).is_some()
    }
}

/// The argument left out of the short `query` form for `method`, if the
/// short form shows arguments at all.
pub(super) fn short_form_skip(method: &[u8]) -> Option<&'static [u8]> {
    if method == b"insert" {
        Some(b"documents")
    } else if method == b"update" {
        Some(b"updates")
    } else if method.eq_ignore_ascii_case(b"findandmodify") {
        Some(b"update")
    } else {
        None
    }
}

/// `query` / `request` for display.
pub struct Query<'a> {
    t: &'a MongodbTxn,
    full: bool,
}

impl fmt::Display for Query<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.t;
        if !t.resource.is_empty() {
            write!(f, "{}.", t.s(t.resource))?;
        }
        write!(f, "{}(", t.s(t.method))?;
        let method = t.text.get(t.method);
        let params = t.text.get(t.params);
        if !params.is_empty() && (self.full || MongodbTxn::shows_args(method)) {
            let (a, b) = match (self.full, t.query_skip) {
                (false, Some((s, e))) => {
                    (params.get(..s as usize).unwrap_or(params), params.get(e as usize..).unwrap_or(&[]))
                }
                _ => (params, &[][..]),
            };
            fmt::Display::fmt(&Lossy(a), f)?;
            fmt::Display::fmt(&Lossy(b), f)?;
            f.write_str(if t.params_cut { " ...)" } else { "})" })?;
        } else {
            f.write_str(")")?;
        }
        if let Some(skip) = t.number_to_skip.filter(|s| *s > 0) {
            write!(f, ".skip({skip})")?;
        }
        if let Some(limit) = t.number_to_return.filter(|l| *l > 0 && *l < 0x7fff_ffff) {
            write!(f, ".limit({limit})")?;
        }
        Ok(())
    }
}

impl Serialize for Query<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
