//! The PostgreSQL section of a transaction.

use crate::text::{Lossy, Span, TextBuf};
use crate::txn::{Detail, Transaction};

/// Bytes of text one PostgreSQL transaction can hold: the statement, its
/// verb, the error and notice fields and (with `send_response`) the
/// CSV-rendered rows, together. What does not fit is cut and flagged.
pub const PGSQL_TEXT_CAP: usize = 4096;
/// Most bytes of statement text kept (the rest of the arena stays for the
/// response).
pub const MAX_QUERY: usize = 2048;
/// Most bytes kept of the method (the statement's first word).
pub const MAX_METHOD: usize = 32;
/// Most bytes kept of an error or notice message.
pub const MAX_MESSAGE: usize = 512;
/// Most bytes kept of an error code or severity.
pub const MAX_CODE: usize = 16;

/// What kind of COPY the statement ran, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CopyMode {
    /// Not a COPY.
    #[default]
    None,
    /// `COPY ... FROM STDIN`: the client streamed data to the server.
    In,
    /// `COPY ... TO STDOUT`: the server streamed data to the client.
    Out,
    /// Copy-both (replication streaming).
    Both,
}

impl CopyMode {
    /// Field value.
    pub fn name(self) -> &'static str {
        match self {
            CopyMode::None => "",
            CopyMode::In => "in",
            CopyMode::Out => "out",
            CopyMode::Both => "both",
        }
    }
}

/// The PostgreSQL section of a transaction: one statement of a simple Query
/// message, or one Execute of the extended protocol, with its result.
#[derive(Clone, Debug, Default)]
pub struct PgsqlTxn {
    /// Storage of every text field below.
    pub text: TextBuf<PGSQL_TEXT_CAP>,
    /// Statement text, without leading whitespace and comments and without
    /// the terminating `;` (at most [`MAX_QUERY`] bytes).
    pub query: Span,
    /// The statement's first word, upper-cased.
    pub method: Span,
    /// A response message was attributed to this statement.
    pub answered: bool,
    /// Columns in the result (RowDescription).
    pub num_fields: u32,
    /// DataRow messages in the result.
    pub num_rows: u64,
    /// The server answered with an ErrorResponse.
    pub iserror: bool,
    /// SQLSTATE of the error (`C` field).
    pub error_code: Span,
    /// Primary error message (`M` field, at most [`MAX_MESSAGE`] bytes).
    pub error_message: Span,
    /// Severity (`S` field, or `V` when `S` is absent).
    pub error_severity: Span,
    /// NoticeResponse messages received while the statement ran.
    pub notices: u32,
    /// Message of the first notice.
    pub notice_message: Span,
    /// Severity of the first notice (`NOTICE`, `WARNING`, ...).
    pub notice_severity: Span,
    /// COPY direction, when the statement was a COPY.
    pub copy: CopyMode,
    /// The server ended the exchange without running this statement (it
    /// skips the rest of a Query, or of a pipeline up to Sync, after an
    /// error).
    pub not_executed: bool,
    /// The extended-protocol statement was parsed in an earlier exchange
    /// (a named prepared statement): its text is not known.
    pub unknown_statement: bool,
    /// CSV rendering of the result (`send_response`): column names, then
    /// up to `max_rows` rows of up to `max_row_length` bytes each.
    pub response: Span,
    /// The CSV rendering has its header line (a RowDescription was seen).
    pub csv_started: bool,
    /// Rows written to the CSV rendering.
    pub csv_rows: u32,
}

impl PgsqlTxn {
    /// Empties every field, keeping the storage (no arena zeroing per
    /// transaction). The pattern lists every field, so a new one cannot be
    /// forgotten here.
    pub fn reset(&mut self) {
        let PgsqlTxn {
            text,
            query,
            method,
            answered,
            num_fields,
            num_rows,
            iserror,
            error_code,
            error_message,
            error_severity,
            notices,
            notice_message,
            notice_severity,
            copy,
            not_executed,
            unknown_statement,
            response,
            csv_started,
            csv_rows,
        } = self;
        text.clear();
        for s in [query, method, error_code, error_message, error_severity, notice_message, notice_severity, response] {
            *s = Span::EMPTY;
        }
        *answered = false;
        *num_fields = 0;
        *num_rows = 0;
        *iserror = false;
        *notices = 0;
        *copy = CopyMode::None;
        *not_executed = false;
        *unknown_statement = false;
        *csv_started = false;
        *csv_rows = 0;
    }

    /// Gives `t` an empty PostgreSQL section, reusing the one it has.
    pub fn init(t: &mut Transaction) {
        match &mut t.detail {
            Detail::Pgsql(x) => x.reset(),
            other => *other = Detail::Pgsql(PgsqlTxn::default()),
        }
    }

    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        self.text.truncated()
    }

    /// Text of a span.
    pub fn s(&self, span: Span) -> Lossy<'_> {
        self.text.text(span)
    }
}

/// The PostgreSQL section of `t`, if it has one.
pub fn pgsql(t: &mut Transaction) -> Option<&mut PgsqlTxn> {
    match &mut t.detail {
        Detail::Pgsql(x) => Some(x),
        _ => None,
    }
}
