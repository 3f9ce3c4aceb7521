//! The PostgreSQL analyzer (frontend/backend protocol 3.0).
//!
//! A streaming message framer per direction (1 type byte and a 4-byte
//! length, or the untyped startup-phase messages) feeds small per-message
//! decoders; no message is ever buffered whole, so messages of any size are
//! followed.
//!
//! **Transactions.** One per SQL statement of a simple `Query` message (the
//! query string is split at `;` outside literals, quoted identifiers,
//! comments and dollar quotes, as Packetbeat reports it), and one per
//! `Execute` of the extended protocol (a `Parse`/`Bind`/`Describe`/
//! `Execute`/`Sync` pipeline with two Executes gives two transactions).
//! Each is answered by the next CommandComplete, EmptyQueryResponse,
//! PortalSuspended or ErrorResponse, in order; RowDescription and DataRow
//! messages before it give `num_fields` and `num_rows` (and, with
//! `send_response`, a CSV rendering bounded by `max_rows` and
//! `max_row_length`). ReadyForQuery ends the exchange: statements of it that
//! got no answer (the server skips the rest after an error) are reported as
//! unanswered with `pgsql.not_executed`, and a `Parse` that was never
//! executed is dropped (unless it failed, then its error is reported). A
//! result with no statement waiting (capture started mid-exchange, request
//! lost) is counted in `unmatched_responses`, not reported: nothing in it
//! names its statement, so a guess could only double-count.
//!
//! **Exchanges.** Every `Query`, `Sync` and `FunctionCall` the client sends
//! opens an exchange that one ReadyForQuery closes; the records of an
//! exchange carry its number (mod 16) in their flag bits `0xF0`, bit `0x08`
//! says the record is a statement that was executed. Numbers are given in
//! order, so the exchanges waiting for their ReadyForQuery are a run of
//! consecutive numbers ending before the client's open one. At most
//! [`MAX_CYCLES`] groups wait; a deeper pipeline merges its newest exchanges
//! into the newest group, which then takes as many ReadyForQuery (pairing
//! stays right unless an error makes the server skip statements inside a
//! merged group).
//!
//! **Not transactions.** The startup phase (StartupMessage, authentication,
//! parameters), CancelRequest, and SSLRequest/GSSENCRequest: when the server
//! accepts encryption (`S`/`G`), the connection is marked encrypted and every
//! later byte of it is skipped; when it refuses (`N`), decoding goes on in
//! clear text. NoticeResponse messages are counted on the statement they
//! arrive during; COPY (`COPY ... FROM STDIN` / `TO STDOUT`) is marked in
//! `pgsql.copy`, and the client's copy data counts in `bytes_in`.
//!
//! **Limits.** A statement executed through a named prepared statement
//! parsed in an earlier exchange (`pgbench -M prepared`, JDBC after a few
//! executions) has no known text: `query` and `method` are empty and
//! `unknown_statement` is set. Text is cut to the fields' capacities
//! ([`PGSQL_TEXT_CAP`], [`MAX_QUERY`], [`MAX_MESSAGE`]) and flagged.
//!
//! **Gaps.** Inside a message body the lost bytes are skipped (the record is
//! marked "Packet loss while capturing ..."); a gap across a message
//! boundary makes that direction resynchronise at the next piece of data
//! that starts with a valid message header.

pub mod json;
pub mod sql;
pub mod txn;

pub(crate) use json::{json_ecs, json_packetbeat};
pub use txn::{CopyMode, PgsqlTxn, MAX_CODE, MAX_MESSAGE, MAX_METHOD, MAX_QUERY, PGSQL_TEXT_CAP};

use crate::config::Common;
use crate::flow::Direction;
use crate::pending::{Handle, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::proto::{Analyzer, Ctx};
use crate::text::Span;
use crate::time::Timestamp;
use crate::txn::{Notes, Status};
use sql::{Lexer, Tok};
use txn::pgsql;

/// Pgsql analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgsqlConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Rows kept in the raw `response` text (`max_rows`).
    pub max_rows: u32,
    /// Bytes kept per row in the raw `response` text (`max_row_length`).
    pub max_row_length: u32,
}

impl Default for PgsqlConfig {
    fn default() -> Self {
        PgsqlConfig { common: Common::on_ports(&[5432]), max_rows: 10, max_row_length: 1024 }
    }
}

/// Most groups of exchanges (Query/Sync/FunctionCall) waiting for their
/// ReadyForQuery (one exchange each, unless the pipeline is deeper).
pub const MAX_CYCLES: usize = 15;
/// Largest message length accepted as plausible (the server's own limit
/// for most messages is 1 GiB); a larger one is taken as garbage.
pub const MAX_MESSAGE_LEN: u32 = 0x4000_0000;
/// Largest startup-phase (untyped) message accepted.
const MAX_STARTUP_LEN: u32 = 10_000;
/// Most bytes of one column value rendered at once into the CSV response
/// (a value is waited for whole up to this, so it fits a stream block).
const MAX_CSV_VALUE: u32 = 2048;
/// Longest column name waited for whole (names are at most 63 bytes).
const MAX_NAME_WAIT: usize = 256;

/// Record flag: a statement that was executed (not just parsed).
const FLAG_EXECUTED: u8 = 0x08;
/// Record flags: the exchange number (mod 16).
const TAG_MASK: u8 = 0xF0;
const TAG_SHIFT: u8 = 4;
const TAGS: u8 = 16;

const UNTYPED: u8 = 0xFF;

fn tag_of(flags: u8) -> u8 {
    (flags & TAG_MASK) >> TAG_SHIFT
}

fn be16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]))
}

/// Message types a frontend sends after startup.
fn client_type(t: u8) -> bool {
    matches!(t, b'Q' | b'P' | b'B' | b'D' | b'E' | b'S' | b'H' | b'C' | b'd' | b'c' | b'f' | b'X' | b'p' | b'F')
}

/// Message types a backend sends.
fn server_type(t: u8) -> bool {
    matches!(
        t,
        b'R' | b'S'
            | b'K'
            | b'Z'
            | b'T'
            | b'D'
            | b'C'
            | b'I'
            | b'E'
            | b'N'
            | b'A'
            | b'1'
            | b'2'
            | b'3'
            | b'n'
            | b's'
            | b't'
            | b'G'
            | b'H'
            | b'W'
            | b'd'
            | b'c'
            | b'V'
            | b'v'
    )
}

/// Where a direction's decoder is inside a message body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Sub {
    /// Skip the rest of the body.
    #[default]
    Skip,
    /// Parse: the statement name, up to its NUL.
    StmtName,
    /// Query/Parse: the SQL text, up to its NUL.
    Sql,
    /// RowDescription/DataRow: the 2-byte count.
    Count,
    /// RowDescription: a column name.
    FieldName,
    /// RowDescription: the rest of a column name cut at the name cap.
    FieldNameRest,
    /// RowDescription: the 18 fixed bytes after a name.
    FieldFixed,
    /// DataRow: a column length.
    ColLen,
    /// DataRow: a column value.
    ColValue,
    /// ErrorResponse/NoticeResponse: a field type byte.
    ErrType,
    /// ErrorResponse/NoticeResponse: a field value.
    ErrValue,
}

/// Framing state of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Type of the message being read (0 between messages).
    typ: u8,
    /// Body bytes still to come.
    left: u32,
    sub: Sub,
    /// After a gap or garbage: wait for data that starts a valid header.
    resync: bool,
}

/// Where the server's decoder is inside a result message.
#[derive(Clone, Copy, Debug, Default)]
struct Rsp {
    /// Record this message's bytes count for.
    target: Option<Handle>,
    /// Columns in the current RowDescription/DataRow.
    count: u16,
    /// Current column.
    col: u16,
    /// Bytes left of the current column value.
    col_left: u32,
    /// Bytes of the current value still to render into the CSV text.
    keep: u16,
    /// Error/notice field being read, and whether it is kept.
    field: u8,
    keep_field: bool,
}

/// Per-flow PostgreSQL parser state (both directions).
#[derive(Clone, Debug, Default)]
pub struct PgsqlParser {
    client: Side,
    server: Side,
    rsp: Rsp,
    /// Capture time of the first byte of the client's current message.
    req_ts: Timestamp,
    lex: Lexer,
    /// Lexing a Parse message: one statement, the rest of the text ignored.
    single: bool,
    /// The Parse statement's text ended.
    stmt_done: bool,
    /// Statements started in the current Query message.
    stmts: u16,
    /// The latest record is receiving statement text (span so far).
    stmt_open: bool,
    stmt_span: Span,
    /// TLS or GSS encryption was accepted: nothing more can be decoded.
    encrypted: bool,
    /// SSLRequest/GSSENCRequest sent: the server's next byte answers it.
    tls_asked: bool,
    /// StartupMessage sent: the next ReadyForQuery ends the startup phase.
    startup: bool,
    /// A ReadyForQuery was seen (results with no statement are counted).
    ready_seen: bool,
    /// The server direction lost bytes since its last ReadyForQuery: some
    /// may have been lost, so a result with no statement left in the
    /// oldest exchange belongs to a later one.
    server_gap: bool,
    /// Groups of exchanges waiting for their ReadyForQuery, oldest first:
    /// how many ReadyForQuery each still takes (1 unless merged).
    ring: [u8; MAX_CYCLES],
    ring_start: u8,
    ring_len: u8,
    /// Number of the exchange the client is sending.
    open_tag: u8,
    /// Client bytes of the open exchange not counted on a record yet.
    unattributed: u32,
    /// Latest record of the open exchange.
    last: Option<Handle>,
    /// The latest record is a Parse not executed yet.
    parsed: bool,
    /// Statement receiving the client's COPY data.
    copy_in: Option<Handle>,
    /// Binary-format columns (first 32) of the current result.
    binary: u32,
    /// Value bytes of the current row rendered so far.
    row_len: u32,
    /// The current DataRow is rendered into the CSV text.
    row_keep: bool,
}

impl PgsqlParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        const SIDE: Side = Side { typ: 0, left: 0, sub: Sub::Skip, resync: false };
        PgsqlParser {
            client: SIDE,
            server: SIDE,
            rsp: Rsp { target: None, count: 0, col: 0, col_left: 0, keep: 0, field: 0, keep_field: false },
            req_ts: Timestamp::ZERO,
            lex: Lexer::new(),
            single: false,
            stmt_done: false,
            stmts: 0,
            stmt_open: false,
            stmt_span: Span::EMPTY,
            encrypted: false,
            tls_asked: false,
            startup: false,
            ready_seen: false,
            server_gap: false,
            ring: [0; MAX_CYCLES],
            ring_start: 0,
            ring_len: 0,
            open_tag: 0,
            unattributed: 0,
            last: None,
            parsed: false,
            copy_in: None,
            binary: 0,
            row_len: 0,
            row_keep: false,
        }
    }

    /// True once the connection switched to TLS/GSS encryption (everything
    /// after that is skipped).
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    // ---- exchanges -------------------------------------------------------

    /// Number of the oldest group waiting for its ReadyForQuery (the open
    /// exchange's when none waits).
    fn front_tag(&self) -> u8 {
        (self.open_tag + TAGS - self.ring_len) % TAGS
    }

    /// Removes the oldest waiting group; returns its number.
    fn pop_cycle(&mut self) -> Option<u8> {
        if self.ring_len == 0 {
            return None;
        }
        let t = self.front_tag();
        self.ring_start = ((self.ring_start as usize + 1) % MAX_CYCLES) as u8;
        self.ring_len -= 1;
        Some(t)
    }

    /// The client finished an exchange (Query, Sync, FunctionCall).
    fn close_cycle(&mut self, ctx: &mut Ctx<'_, '_>) {
        if (self.ring_len as usize) < MAX_CYCLES {
            let idx = (self.ring_start as usize + self.ring_len as usize) % MAX_CYCLES;
            if let Some(slot) = self.ring.get_mut(idx) {
                *slot = 1;
                self.ring_len += 1;
                self.open_tag = (self.open_tag + 1) % TAGS;
            }
        } else {
            // Pipeline deeper than the groups: the exchange joins the newest
            // group (its records take that number), which now takes one
            // more ReadyForQuery.
            let newest = (self.open_tag + TAGS - 1) % TAGS;
            let open = self.open_tag;
            let mut guard = 1 << 16;
            while guard > 0 {
                guard -= 1;
                let Some(h) = ctx.find(|s| s.flags & FLAG_RESPONSE_ONLY == 0 && tag_of(s.flags) == open) else { break };
                if let Some(s) = ctx.slot(h) {
                    s.flags = (s.flags & !TAG_MASK) | (newest << TAG_SHIFT);
                }
            }
            let idx = (self.ring_start as usize + self.ring_len as usize + MAX_CYCLES - 1) % MAX_CYCLES;
            if let Some(c) = self.ring.get_mut(idx) {
                *c = c.saturating_add(1);
            }
        }
        self.last = None;
        self.parsed = false;
        self.unattributed = 0;
    }

    /// Reports every record of exchange `tag` still open: executed
    /// statements as unanswered, Parse-only records are dropped. `ended`:
    /// the server ended the exchange (ReadyForQuery), so it skipped them.
    fn flush_tag(ctx: &mut Ctx<'_, '_>, tag: u8, ended: bool) {
        let mut guard = 1 << 16;
        while guard > 0 {
            guard -= 1;
            let Some(h) = ctx.find(|s| s.flags & FLAG_RESPONSE_ONLY == 0 && tag_of(s.flags) == tag) else { break };
            let executed = ctx.slot(h).is_some_and(|s| s.flags & FLAG_EXECUTED != 0);
            if executed {
                if let Some(x) = ctx.txn(h).and_then(pgsql).filter(|x| ended && !x.answered) {
                    x.not_executed = true;
                }
                ctx.emit_unanswered(h, Notes::NO_RESPONSE);
            } else {
                ctx.discard(h);
            }
        }
    }

    /// Starts a record for a statement of the open exchange.
    fn begin_record(&mut self, ctx: &mut Ctx<'_, '_>, executed: bool) -> Option<Handle> {
        let ts = self.req_ts;
        let h = ctx.begin(ts)?;
        let tag = self.open_tag;
        let bytes = core::mem::take(&mut self.unattributed);
        if let Some(s) = ctx.slot(h) {
            s.flags |= (tag << TAG_SHIFT) & TAG_MASK;
            if executed {
                s.flags |= FLAG_EXECUTED;
            }
            s.txn.bytes_in = bytes as u64;
            PgsqlTxn::init(&mut s.txn);
        }
        self.last = Some(h);
        Some(h)
    }

    /// Counts `n` client bytes on the record they belong to.
    fn attr_in(&mut self, ctx: &mut Ctx<'_, '_>, n: usize, copy: bool) {
        if n == 0 {
            return;
        }
        let h = if copy { self.copy_in.or(self.last) } else { self.last };
        match h.and_then(|h| ctx.txn(h)) {
            Some(t) => t.bytes_in = t.bytes_in.saturating_add(n as u64),
            None => self.unattributed = self.unattributed.saturating_add(n as u32),
        }
    }

    /// Counts `n` server bytes on the current response's record.
    fn attr_out(&mut self, ctx: &mut Ctx<'_, '_>, n: usize) {
        if let Some(t) = self.rsp.target.and_then(|h| ctx.txn(h)) {
            t.bytes_out = t.bytes_out.saturating_add(n as u64);
        }
    }

    // ---- client ------------------------------------------------------------

    fn client_step(&mut self, ctx: &mut Ctx<'_, '_>, rest: &[u8]) -> usize {
        if self.client.typ == 0 {
            return self.client_header(ctx, rest);
        }
        let copy = matches!(self.client.typ, b'd' | b'c' | b'f');
        let sub = self.client.sub;
        let n = match sub {
            Sub::StmtName => {
                let avail = rest.len().min(self.client.left as usize);
                match rest.get(..avail).and_then(|r| r.iter().position(|&c| c == 0)) {
                    Some(i) => {
                        self.client.sub = Sub::Sql;
                        i + 1
                    }
                    None => avail,
                }
            }
            Sub::Sql => self.sql(ctx, rest),
            _ => rest.len().min(self.client.left as usize),
        };
        if n == 0 {
            return 0;
        }
        if sub != Sub::Sql && !matches!(self.client.typ, UNTYPED | b'p' | b'X') {
            // `sql` counts its own bytes (a statement may start midway);
            // startup, authentication and goodbye belong to no statement.
            self.attr_in(ctx, n, copy);
        }
        self.client.left = self.client.left.saturating_sub(n as u32);
        if self.client.left == 0 {
            self.client_end(ctx);
        }
        n
    }

    fn client_header(&mut self, ctx: &mut Ctx<'_, '_>, rest: &[u8]) -> usize {
        let Some(&first) = rest.first() else { return 0 };
        if first == 0 {
            // Startup phase: length, then a protocol code instead of a type.
            let (Some(len), Some(code)) = (be32(rest), rest.get(4..).and_then(be32)) else { return 0 };
            if !(8..=MAX_STARTUP_LEN).contains(&len) {
                return self.client_garbage(ctx, rest);
            }
            match code {
                80_877_103 | 80_877_104 => self.tls_asked = true,
                0x0003_0000 | 0x0002_0000 => self.startup = true,
                _ => {}
            }
            self.client.resync = false;
            self.client = Side { typ: UNTYPED, left: len - 8, ..Side::default() };
            self.req_ts = ctx.ts;
            if self.client.left == 0 {
                self.client.typ = 0;
            }
            return 8;
        }
        let Some(len) = rest.get(1..).and_then(be32) else { return 0 };
        if !client_type(first) || !(4..=MAX_MESSAGE_LEN).contains(&len) {
            return self.client_garbage(ctx, rest);
        }
        self.client = Side { typ: first, left: len - 4, ..Side::default() };
        self.req_ts = ctx.ts;
        match first {
            b'Q' | b'P' => {
                self.lex = Lexer::new();
                self.single = first == b'P';
                self.stmt_done = false;
                self.stmts = 0;
                self.stmt_open = false;
                self.stmt_span = Span::EMPTY;
                self.client.sub = if first == b'P' { Sub::StmtName } else { Sub::Sql };
                self.unattributed = self.unattributed.saturating_add(5);
            }
            b'd' | b'c' | b'f' => self.attr_in(ctx, 5, true),
            b'p' | b'X' => {}
            _ => self.attr_in(ctx, 5, false),
        }
        if self.client.left == 0 {
            self.client_end(ctx);
        }
        5
    }

    fn client_garbage(&mut self, ctx: &mut Ctx<'_, '_>, rest: &[u8]) -> usize {
        if !self.client.resync {
            ctx.stats.parse_errors += 1;
            self.client.resync = true;
            if let Some(t) = self.last.and_then(|h| ctx.txn(h)) {
                t.notes.insert(Notes::REQUEST_MALFORMED);
            }
        }
        ctx.stats.resync_skipped_bytes += rest.len() as u64;
        rest.len()
    }

    /// Lexes SQL text of a Query/Parse body; returns the bytes consumed.
    fn sql(&mut self, ctx: &mut Ctx<'_, '_>, rest: &[u8]) -> usize {
        let avail = rest.len().min(self.client.left as usize);
        let body = rest.get(..avail).unwrap_or(&[]);
        let nul = body.iter().position(|&c| c == 0);
        let region = body.get(..nul.unwrap_or(avail)).unwrap_or(&[]);
        let more = nul.is_none() && (self.client.left as usize) > avail;
        let mut i = 0;
        let mut run: Option<usize> = None;
        let mut attr_from = 0;
        let mut guard = region.len() + 2;
        while i < region.len() && guard > 0 {
            guard -= 1;
            let (n, tok) = self.lex.next(region.get(i..).unwrap_or(&[]), more);
            if tok == Tok::Need || n == 0 {
                break;
            }
            match tok {
                Tok::Text if !self.stmt_done => {
                    if !self.stmt_open {
                        self.attr_in(ctx, i - attr_from, false);
                        attr_from = i;
                        self.start_stmt(ctx);
                    }
                    if run.is_none() {
                        run = Some(i);
                    }
                }
                Tok::End => {
                    if let Some(r) = run.take() {
                        self.append_stmt(ctx, region.get(r..i).unwrap_or(&[]));
                    }
                    self.finish_stmt(ctx);
                }
                _ => {
                    if let Some(r) = run.take() {
                        self.append_stmt(ctx, region.get(r..i).unwrap_or(&[]));
                    }
                }
            }
            i += n;
        }
        if let Some(r) = run.take() {
            self.append_stmt(ctx, region.get(r..i).unwrap_or(&[]));
        }
        let mut consumed = i;
        if i == region.len() && (nul.is_some() || !more) {
            // End of the SQL text: the NUL (if present) and whatever follows
            // it (Parse parameter types) are skipped.
            if self.stmt_open {
                self.finish_stmt(ctx);
            }
            if nul.is_some() {
                consumed += 1;
            }
            self.client.sub = Sub::Skip;
        }
        self.attr_in(ctx, consumed - attr_from, false);
        consumed
    }

    fn start_stmt(&mut self, ctx: &mut Ctx<'_, '_>) {
        let executed = !self.single;
        self.stmts = self.stmts.saturating_add(1);
        // The record becomes `last`, where the text goes.
        self.stmt_open = self.begin_record(ctx, executed).is_some();
        self.stmt_span = Span::EMPTY;
        self.parsed = self.single && self.stmt_open;
    }

    fn append_stmt(&mut self, ctx: &mut Ctx<'_, '_>, bytes: &[u8]) {
        if !self.stmt_open {
            return;
        }
        let Some(x) = self.last.and_then(|h| ctx.txn(h)).and_then(pgsql) else { return };
        let room = MAX_QUERY.saturating_sub(self.stmt_span.len());
        if bytes.len() > room {
            x.text.mark_truncated();
        }
        self.stmt_span = x.text.extend(self.stmt_span, bytes.get(..room.min(bytes.len())).unwrap_or(&[]));
    }

    /// The statement's text is complete: trim it, derive the method.
    fn finish_stmt(&mut self, ctx: &mut Ctx<'_, '_>) {
        let span = self.stmt_span;
        if core::mem::take(&mut self.stmt_open) {
            if let Some(x) = self.last.and_then(|h| ctx.txn(h)).and_then(pgsql) {
                set_query(x, span);
            }
        }
        if self.single {
            self.stmt_done = true;
        }
    }

    fn client_end(&mut self, ctx: &mut Ctx<'_, '_>) {
        let typ = self.client.typ;
        self.client.typ = 0;
        self.client.sub = Sub::Skip;
        match typ {
            b'Q' => {
                if self.stmt_open {
                    self.finish_stmt(ctx);
                }
                if self.stmts == 0 {
                    // An empty query string still gets an answer
                    // (EmptyQueryResponse): report it as a statement.
                    self.begin_record(ctx, true);
                }
                self.close_cycle(ctx);
            }
            b'P' if self.stmt_open => self.finish_stmt(ctx),
            b'E' => self.execute(ctx),
            b'S' | b'F' => self.close_cycle(ctx),
            _ => {}
        }
    }

    /// An Execute: the statement of the latest Parse runs, or (Parse not in
    /// this exchange) the statement executed before it runs again, or an
    /// unknown prepared statement runs.
    fn execute(&mut self, ctx: &mut Ctx<'_, '_>) {
        if core::mem::take(&mut self.parsed) {
            if let Some(s) = self.last.and_then(|h| ctx.slot(h)) {
                s.flags |= FLAG_EXECUTED;
                return;
            }
        }
        let prev = self.last;
        let Some(h) = self.begin_record(ctx, true) else { return };
        let mut buf = [0u8; MAX_QUERY];
        let mut n = 0;
        if let Some(x) = prev.and_then(|p| ctx.txn(p)).and_then(pgsql) {
            let q = x.text.get(x.query);
            n = q.len().min(MAX_QUERY);
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), q.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
        if let Some(x) = ctx.txn(h).and_then(pgsql) {
            if prev.is_some() && n > 0 {
                let span = x.text.push(buf.get(..n).unwrap_or(&[]));
                set_query(x, span);
            } else {
                x.unknown_statement = true;
            }
        }
    }

    // ---- server ------------------------------------------------------------

    fn server_step(&mut self, ctx: &mut Ctx<'_, '_>, rest: &[u8], full: bool) -> usize {
        if self.server.typ == 0 {
            return self.server_header(ctx, rest);
        }
        let left = self.server.left as usize;
        let avail = rest.len().min(left);
        let body = rest.get(..avail).unwrap_or(&[]);
        let n = match self.server.sub {
            Sub::Count => match be16(body) {
                Some(c) => {
                    self.on_count(ctx, c);
                    2
                }
                None if left < 2 => avail,
                None => 0,
            },
            Sub::FieldName => self.field_name(ctx, body, left, full),
            Sub::FieldNameRest => match body.iter().position(|&c| c == 0) {
                Some(i) => {
                    self.server.sub = Sub::FieldFixed;
                    i + 1
                }
                None => avail,
            },
            Sub::FieldFixed => match body.get(16..18).and_then(be16) {
                Some(format) => {
                    let col = self.rsp.col;
                    if format == 1 && col < 32 {
                        self.binary |= 1 << col;
                    }
                    self.rsp.col = col.saturating_add(1);
                    self.server.sub = if self.rsp.col >= self.rsp.count { Sub::Skip } else { Sub::FieldName };
                    18
                }
                None if left < 18 => {
                    self.server.sub = Sub::Skip;
                    avail
                }
                None => 0,
            },
            Sub::ColLen => match be32(body) {
                Some(len) => {
                    self.on_col_len(ctx, len as i32);
                    4
                }
                None if left < 4 => {
                    self.server.sub = Sub::Skip;
                    avail
                }
                None => 0,
            },
            Sub::ColValue => self.col_value(ctx, body, full),
            Sub::ErrType => match body.first() {
                Some(&0) => {
                    self.server.sub = Sub::Skip;
                    1
                }
                Some(&f) => {
                    self.on_err_type(ctx, f);
                    1
                }
                None => 0,
            },
            Sub::ErrValue => {
                let (chunk, done) = match body.iter().position(|&c| c == 0) {
                    Some(i) => (body.get(..i).unwrap_or(&[]), true),
                    None => (body, false),
                };
                if self.rsp.keep_field {
                    self.keep_err(ctx, chunk);
                }
                if done {
                    self.server.sub = Sub::ErrType;
                    chunk.len() + 1
                } else {
                    chunk.len()
                }
            }
            _ => avail,
        };
        if n == 0 {
            return 0;
        }
        if !matches!(self.server.typ, b'Z' | b'S' | b'K' | b'R' | b'A' | b'v') {
            self.attr_out(ctx, n);
        }
        self.server.left = self.server.left.saturating_sub(n as u32);
        if self.server.left == 0 {
            self.server_end(ctx);
        }
        n
    }

    fn server_header(&mut self, ctx: &mut Ctx<'_, '_>, rest: &[u8]) -> usize {
        let Some(&first) = rest.first() else { return 0 };
        if self.tls_asked {
            self.tls_asked = false;
            match first {
                b'S' | b'G' => {
                    // Encryption accepted: the rest of the connection is
                    // TLS/GSS records, which are not decoded.
                    self.encrypted = true;
                    return rest.len();
                }
                b'N' => return 1,
                _ => {}
            }
        }
        let Some(len) = rest.get(1..).and_then(be32) else { return 0 };
        if !server_type(first) || !(4..=MAX_MESSAGE_LEN).contains(&len) {
            if !self.server.resync {
                ctx.stats.parse_errors += 1;
                self.server.resync = true;
            }
            ctx.stats.resync_skipped_bytes += rest.len() as u64;
            return rest.len();
        }
        self.server = Side { typ: first, left: len - 4, ..Side::default() };
        self.rsp = Rsp::default();
        self.server_begin(ctx, first);
        if !matches!(first, b'Z' | b'S' | b'K' | b'R' | b'A' | b'v') {
            self.attr_out(ctx, 5);
        }
        if self.server.left == 0 {
            self.server_end(ctx);
        }
        5
    }

    /// The oldest statement of the exchange being answered.
    fn find_target(&self, ctx: &Ctx<'_, '_>, executed_only: bool) -> Option<Handle> {
        let tag = self.front_tag();
        ctx.find(|s| {
            s.flags & FLAG_RESPONSE_ONLY == 0
                && tag_of(s.flags) == tag
                && (!executed_only || s.flags & FLAG_EXECUTED != 0)
        })
    }

    fn server_begin(&mut self, ctx: &mut Ctx<'_, '_>, typ: u8) {
        let ts = ctx.ts;
        let target = match typ {
            b'Z' | b'S' | b'K' | b'R' | b'A' | b'v' => None,
            b'E' => self.find_target(ctx, true).or_else(|| self.find_target(ctx, false)),
            _ => self.find_target(ctx, true),
        };
        let target = match target {
            Some(h) => Some(h),
            None if self.server_gap && matches!(typ, b'C' | b'I' | b'E' | b's') => self.skip_lost_cycles(ctx),
            None => None,
        };
        let target = match target {
            Some(h) => Some(h),
            None => {
                if self.ready_seen && matches!(typ, b'C' | b'I' | b'E' | b's') {
                    // A result with no statement waiting: the capture
                    // started inside the exchange, or the request was lost
                    // (or is held back by reassembly after a loss). Results
                    // carry nothing that names their statement, so it is
                    // counted, not reported.
                    ctx.stats.unmatched_responses += 1;
                }
                None
            }
        };
        self.rsp.target = target;
        if let Some(s) = target.and_then(|h| ctx.slot(h)) {
            s.flags |= FLAG_RESPONSE_STARTED;
            if s.txn.response_ts.is_none() {
                s.txn.response_ts = Some(ts);
            }
            if let Some(x) = pgsql(&mut s.txn) {
                x.answered = true;
                match typ {
                    b'G' => x.copy = CopyMode::In,
                    b'H' => x.copy = CopyMode::Out,
                    b'W' => x.copy = CopyMode::Both,
                    _ => {}
                }
            }
        }
        match typ {
            b'T' | b'D' => self.server.sub = Sub::Count,
            b'E' | b'N' => self.server.sub = Sub::ErrType,
            b'G' | b'W' => self.copy_in = target,
            _ => {}
        }
        if typ == b'N' {
            if let Some(x) = target.and_then(|h| ctx.txn(h)).and_then(pgsql) {
                x.notices = x.notices.saturating_add(1);
            }
        }
    }

    /// After response-side loss: when a later exchange has a statement
    /// waiting, the ReadyForQuery of the earlier ones was lost; they are
    /// reported (as unanswered) and the result goes to that statement.
    fn skip_lost_cycles(&mut self, ctx: &mut Ctx<'_, '_>) -> Option<Handle> {
        let front = self.front_tag();
        let later = (1..self.ring_len).find(|&i| {
            let tag = (front + i) % TAGS;
            ctx.find(|s| s.flags & FLAG_EXECUTED != 0 && s.flags & FLAG_RESPONSE_ONLY == 0 && tag_of(s.flags) == tag)
                .is_some()
        })?;
        for _ in 0..later {
            if let Some(tag) = self.pop_cycle() {
                Self::flush_tag(ctx, tag, false);
            }
        }
        self.find_target(ctx, true)
    }

    fn server_end(&mut self, ctx: &mut Ctx<'_, '_>) {
        let typ = self.server.typ;
        let target = self.rsp.target.take();
        self.server.typ = 0;
        self.server.sub = Sub::Skip;
        match typ {
            b'C' | b'I' | b's' | b'E' => {
                let Some(h) = target else { return };
                if let Some(s) = ctx.slot(h) {
                    let err = typ == b'E';
                    if let Some(x) = pgsql(&mut s.txn) {
                        x.iserror |= err;
                    }
                    s.txn.status = if err { Status::Error } else { Status::Ok };
                }
                if self.copy_in == Some(h) {
                    self.copy_in = None;
                }
                ctx.emit(h);
            }
            b'T' => {
                if let Some(x) = target.and_then(|h| ctx.txn(h)).and_then(pgsql) {
                    if x.csv_started {
                        x.response = x.text.extend(x.response, b"\n");
                    }
                }
            }
            b'D' => {
                if self.row_keep {
                    if let Some(x) = target.and_then(|h| ctx.txn(h)).and_then(pgsql) {
                        x.response = x.text.extend(x.response, b"\n");
                    }
                }
                self.row_keep = false;
            }
            b'Z' => {
                if core::mem::take(&mut self.startup) {
                    // The first ReadyForQuery after a StartupMessage ends
                    // the startup phase, even when the client already sent
                    // its first query.
                    self.ready_seen = true;
                    return;
                }
                self.ready_seen = true;
                self.server_gap = false;
                if let Some(c) = self.ring.get_mut(self.ring_start as usize).filter(|c| **c > 1 && self.ring_len > 0) {
                    // A merged group: more of its exchanges are to end.
                    *c -= 1;
                } else if let Some(tag) = self.pop_cycle() {
                    Self::flush_tag(ctx, tag, true);
                }
            }
            _ => {}
        }
    }

    fn on_count(&mut self, ctx: &mut Ctx<'_, '_>, count: u16) {
        let send = ctx.cfg.pgsql.common.send_response;
        let max_rows = ctx.cfg.pgsql.max_rows;
        self.rsp.count = count;
        self.rsp.col = 0;
        let x = self.rsp.target.and_then(|h| ctx.txn(h)).and_then(pgsql);
        if self.server.typ == b'T' {
            self.binary = 0;
            if let Some(x) = x {
                x.num_fields = count as u32;
                x.csv_started = send;
            }
            self.server.sub = if count > 0 { Sub::FieldName } else { Sub::Skip };
        } else {
            self.row_len = 0;
            self.row_keep = false;
            if let Some(x) = x {
                x.num_rows = x.num_rows.saturating_add(1);
                if send && x.csv_started && x.csv_rows < max_rows {
                    x.csv_rows += 1;
                    self.row_keep = true;
                }
            }
            self.server.sub = if count > 0 { Sub::ColLen } else { Sub::Skip };
        }
    }

    fn field_name(&mut self, ctx: &mut Ctx<'_, '_>, body: &[u8], left: usize, full: bool) -> usize {
        let keep = ctx.cfg.pgsql.common.send_response;
        let nul = body.iter().position(|&c| c == 0);
        if keep && nul.is_none() && body.len() < MAX_NAME_WAIT && body.len() < left && !full {
            return 0; // wait for the whole name
        }
        let name = body.get(..nul.unwrap_or(body.len().min(MAX_NAME_WAIT))).unwrap_or(&[]);
        if keep {
            let col = self.rsp.col;
            if let Some(x) = self.rsp.target.and_then(|h| ctx.txn(h)).and_then(pgsql) {
                if x.csv_started {
                    if col > 0 {
                        x.response = x.text.extend(x.response, b",");
                    }
                    csv_value(x, name);
                }
            }
        }
        match nul {
            Some(i) => {
                self.server.sub = Sub::FieldFixed;
                i + 1
            }
            None => {
                self.server.sub = Sub::FieldNameRest;
                name.len()
            }
        }
    }

    fn on_col_len(&mut self, ctx: &mut Ctx<'_, '_>, len: i32) {
        let col = self.rsp.col;
        let max_len = ctx.cfg.pgsql.max_row_length;
        let value_len = len.max(0) as u32;
        self.rsp.col_left = value_len;
        self.rsp.keep = 0;
        if self.row_keep && self.row_len < max_len {
            let binary = col < 32 && self.binary & (1 << col) != 0;
            let shown = if binary { 0 } else { value_len };
            let k = shown.min(max_len - self.row_len).min(MAX_CSV_VALUE);
            self.rsp.keep = k as u16;
            self.row_len += k;
            if let Some(x) = self.rsp.target.and_then(|h| ctx.txn(h)).and_then(pgsql) {
                if col > 0 {
                    x.response = x.text.extend(x.response, b",");
                }
            }
        }
        if value_len == 0 {
            self.next_col();
        } else {
            self.server.sub = Sub::ColValue;
        }
    }

    fn next_col(&mut self) {
        self.rsp.col = self.rsp.col.saturating_add(1);
        self.server.sub = if self.rsp.col >= self.rsp.count { Sub::Skip } else { Sub::ColLen };
    }

    fn col_value(&mut self, ctx: &mut Ctx<'_, '_>, body: &[u8], full: bool) -> usize {
        let keep = self.rsp.keep as usize;
        let mut n = 0;
        if keep > 0 {
            let Some(v) = body.get(..keep) else {
                if !full {
                    return 0; // wait for the kept part whole (it fits a block)
                }
                self.rsp.keep = 0;
                return self.col_value(ctx, body, false);
            };
            if let Some(x) = self.rsp.target.and_then(|h| ctx.txn(h)).and_then(pgsql) {
                csv_value(x, v);
            }
            self.rsp.keep = 0;
            n = keep;
        }
        let skip = (self.rsp.col_left as usize - n).min(body.len() - n);
        n += skip;
        self.rsp.col_left -= n as u32;
        if self.rsp.col_left == 0 {
            self.next_col();
        }
        n
    }

    fn on_err_type(&mut self, ctx: &mut Ctx<'_, '_>, f: u8) {
        self.server.sub = Sub::ErrValue;
        self.rsp.field = f;
        self.rsp.keep_field = false;
        let notice = self.server.typ == b'N';
        if let Some(x) = self.rsp.target.and_then(|h| ctx.txn(h)).and_then(pgsql) {
            self.rsp.keep_field = if notice {
                // Only the first notice, and never while the CSV text is
                // being built (it must stay one contiguous span).
                x.notices == 1 && !x.csv_started && matches!(f, b'S' | b'M')
            } else {
                match f {
                    b'S' | b'C' | b'M' => true,
                    b'V' => x.error_severity.is_empty(),
                    _ => false,
                }
            };
        }
    }

    fn keep_err(&mut self, ctx: &mut Ctx<'_, '_>, chunk: &[u8]) {
        let notice = self.server.typ == b'N';
        let f = self.rsp.field;
        let Some(x) = self.rsp.target.and_then(|h| ctx.txn(h)).and_then(pgsql) else { return };
        let (span, cap) = match (notice, f) {
            (true, b'S') => (&mut x.notice_severity, MAX_CODE),
            (true, _) => (&mut x.notice_message, MAX_MESSAGE),
            (false, b'S' | b'V') => (&mut x.error_severity, MAX_CODE),
            (false, b'C') => (&mut x.error_code, MAX_CODE),
            (false, _) => (&mut x.error_message, MAX_MESSAGE),
        };
        let room = cap.saturating_sub(span.len());
        if chunk.len() > room {
            x.text.mark_truncated();
        }
        *span = x.text.extend(*span, chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
    }

    /// Marks the message in progress of `dir` (or the latest request).
    fn mark(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, note: Notes) {
        let h = match dir {
            Direction::ToServer => self.last,
            Direction::ToClient => self.rsp.target.or_else(|| self.find_target(ctx, true)),
        };
        if let Some(t) = h.and_then(|h| ctx.txn(h)) {
            t.notes.insert(note);
        }
    }
}

/// Stores `span` as the statement text of `x` (trailing whitespace cut) and
/// derives the method.
fn set_query(x: &mut PgsqlTxn, span: Span) {
    let text = x.text.get(span);
    let trimmed = sql::trim_end(text).len();
    let verb_len = sql::verb(text).len();
    let word_len =
        if verb_len > 0 { verb_len } else { text.iter().position(|c| c.is_ascii_whitespace()).unwrap_or(trimmed) };
    x.query = x.text.sub(span, 0, trimmed);
    let mut upper = [0u8; MAX_METHOD];
    let n = word_len.min(MAX_METHOD);
    for (d, s) in upper.iter_mut().zip(text.iter()).take(n) {
        *d = s.to_ascii_uppercase();
    }
    x.method = x.text.push(upper.get(..n).unwrap_or(&[]));
}

/// Appends one CSV field (quoted when it holds `,`, `"`, CR, LF or starts
/// with a space, as Go's encoding/csv does for Packetbeat) to the response.
fn csv_value(x: &mut PgsqlTxn, v: &[u8]) {
    let quote = v.iter().any(|&c| matches!(c, b',' | b'"' | b'\r' | b'\n'))
        || v.first().is_some_and(|c| c.is_ascii_whitespace());
    if !quote {
        x.response = x.text.extend(x.response, v);
        return;
    }
    x.response = x.text.extend(x.response, b"\"");
    for (i, part) in v.split(|&c| c == b'"').enumerate() {
        if i > 0 {
            x.response = x.text.extend(x.response, b"\"\"");
        }
        x.response = x.text.extend(x.response, part);
    }
    x.response = x.text.extend(x.response, b"\"");
}

impl Analyzer for PgsqlParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        if self.encrypted {
            return data.len();
        }
        let mut pos = 0;
        // Every turn consumes at least one byte or stops.
        let mut guard = data.len() + 1;
        while pos < data.len() && guard > 0 && !self.encrypted {
            guard -= 1;
            let rest = data.get(pos..).unwrap_or(&[]);
            let side = match dir {
                Direction::ToServer => &mut self.client,
                Direction::ToClient => &mut self.server,
            };
            if side.resync && side.typ == 0 && pos > 0 {
                // Resynchronise only where a new piece of data starts.
                ctx.stats.resync_skipped_bytes += rest.len() as u64;
                pos = data.len();
                break;
            }
            let n = match dir {
                Direction::ToServer => self.client_step(ctx, rest),
                Direction::ToClient => self.server_step(ctx, rest, full && pos == 0),
            };
            if n == 0 {
                break;
            }
            pos += n;
        }
        if self.encrypted {
            return data.len();
        }
        if pos == 0 && full {
            // Cannot happen with messages decoded as above (nothing waits
            // for more than a block); never stall the stream regardless.
            ctx.stats.parse_errors += 1;
            ctx.stats.resync_skipped_bytes += data.len() as u64;
            let side = match dir {
                Direction::ToServer => &mut self.client,
                Direction::ToClient => &mut self.server,
            };
            *side = Side { resync: true, ..Side::default() };
            return data.len();
        }
        pos
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        if self.encrypted {
            return;
        }
        let note = match dir {
            Direction::ToServer => Notes::REQUEST_GAP,
            Direction::ToClient => Notes::RESPONSE_GAP,
        };
        self.mark(ctx, dir, note);
        if dir == Direction::ToClient {
            self.server_gap = true;
        }
        let side = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        if side.typ != 0 && len < side.left {
            // Inside a body: skip the lost bytes. SQL text keeps being lexed
            // (the statement is marked cut); structured bodies are skipped.
            side.left -= len;
            if side.sub == Sub::Sql {
                if let Some(x) = self.last.filter(|_| self.stmt_open).and_then(|h| ctx.txn(h)).and_then(pgsql) {
                    x.text.mark_truncated();
                }
            } else {
                side.sub = Sub::Skip;
                if dir == Direction::ToClient {
                    self.row_keep = false;
                }
            }
            return;
        }
        // The gap reaches past the message end: close what was open and
        // resynchronise.
        let typ = side.typ;
        side.typ = 0;
        side.sub = Sub::Skip;
        side.resync = true;
        if dir == Direction::ToServer && typ == b'Q' {
            if self.stmt_open {
                self.finish_stmt(ctx);
            }
            self.close_cycle(ctx);
        }
        if dir == Direction::ToClient {
            self.row_keep = false;
            self.rsp.target = None;
        }
    }

    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}

    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        // Parsed-but-never-executed statements are not transactions.
        let mut guard = 1 << 16;
        while guard > 0 {
            guard -= 1;
            let Some(h) = ctx.find(|s| s.flags & (FLAG_EXECUTED | FLAG_RESPONSE_ONLY) == 0) else { break };
            ctx.discard(h);
        }
    }
}

#[cfg(test)]
mod tests;
