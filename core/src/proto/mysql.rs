//! The MySQL/MariaDB analyzer.
//!
//! The protocol is a sequence of packets in each direction: a 3-byte
//! little-endian length, a sequence number, and the payload. A payload of
//! 16 MiB − 1 bytes continues in the next packet. Each direction is framed
//! packet by packet; a packet that fits a stream block (4 KiB) is decoded
//! whole, a larger one from its first block (its tail is skipped).
//!
//! **Connection phase.** The server's greeting and the client's login give
//! the capabilities of the connection. An SSL request means the rest is
//! TLS: one `LOGIN` transaction is reported, marked `mysql.encrypted`, and
//! nothing more is decoded. A login that negotiates compression is
//! reported the same way, marked `mysql.compressed`. A failed login is
//! reported with its error. A successful plain login is not a transaction
//! (as in Packetbeat, whose tests count only the statements).
//!
//! **Command phase.** Each client packet with sequence number 0 is a
//! command. Reported as transactions: `COM_QUERY` (method = the first SQL
//! word upper-cased, query = the SQL trimmed), `COM_STMT_PREPARE` (method
//! `PREPARE`), `COM_STMT_EXECUTE` (method and query from the prepared
//! statement when it was seen, parameters decoded into `params`), and
//! `COM_INIT_DB` (method `USE`). Other commands (`COM_PING`, `COM_QUIT`,
//! `COM_STMT_CLOSE`, `COM_STMT_RESET`, `COM_STATISTICS`, ...) are followed,
//! so that their responses are not mistaken for others, but not reported —
//! as in Packetbeat. Responses are paired in order (a client may pipeline):
//! OK (affected rows, insert id), ERR (code, `SQLSTATE: message`, status
//! Error), or a result set — column count, column definitions (which give
//! `path` = `schema.table`), an EOF unless `CLIENT_DEPRECATE_EOF`, rows
//! (text or binary), and an EOF or OK that ends it, possibly announcing
//! another result set. With `send_response` the column names and the first
//! `max_rows` rows (each cut at `max_row_length` bytes) are kept as CSV.
//!
//! **Capture started mid-connection.** Without the handshake the
//! capabilities are guessed from what is seen (an EOF after the column
//! definitions or not; a `COM_QUERY` body starting `00 01` carries MySQL 8
//! query attributes; compressed framing is recognised and skipped). Until a
//! direction is in step, it waits for a segment that starts with a
//! plausible packet chain (a command, or with a command outstanding, the
//! start of a response with the expected sequence number).
//!
//! **Gaps.** Lost bytes that end inside a packet of known length are
//! skipped (a lost row is still counted) and the transaction is marked
//! ("Packet loss while capturing the response"). Otherwise the direction is
//! out of step: the response in progress is reported as it is, marked (or,
//! if none of it was seen, its request is reported unanswered), and the
//! direction waits for a plausible packet as above.
//!
//! Bounds: [`MAX_INFLIGHT`] commands awaiting responses per connection,
//! [`MAX_STMTS`] prepared statements remembered per connection (their SQL
//! cut to [`STMT_TEXT_CAP`] bytes), and the text limits of [`MysqlTxn`].

pub mod json;
pub mod txn;
pub mod wire;

pub use txn::{Kind, MysqlTxn, MAX_BIN_COLS, MAX_ERROR_MESSAGE, MAX_PARAMS, MAX_PATH, MAX_QUERY, MYSQL_TEXT_CAP};

use crate::json::{JsonError, Object};

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::pending::{Handle, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::proto::{Analyzer, Ctx};
use crate::time::Timestamp;
use crate::txn::{Detail, Notes, Status, Transaction};
use wire::{Reader, Value};

/// Mysql analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Rows kept in the raw `response` text (`max_rows`).
    pub max_rows: u32,
    /// Bytes kept per row in the raw `response` text (`max_row_length`).
    pub max_row_length: u32,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig { common: Common::on_ports(&[3306]), max_rows: 10, max_row_length: 1024 }
    }
}

/// Most commands awaiting a response per connection (MySQL clients send
/// one at a time; some pipeline a few). A command beyond that is followed
/// but its response is not paired, and it is reported unanswered.
pub const MAX_INFLIGHT: usize = 4;
/// Prepared statements remembered per connection (the most recent ones);
/// an execute of another one is reported with method `EXECUTE` and its
/// `mysql.statement_id`, without the SQL.
pub const MAX_STMTS: usize = 2;
/// Bytes of a prepared statement's SQL remembered for its executes (the
/// parser state lives in every flow slot, so this is kept small); longer
/// SQL is cut and the execute flagged truncated.
pub const STMT_TEXT_CAP: usize = 48;
/// Parameter types remembered per prepared statement, for executes that do
/// not resend them.
pub const MAX_STMT_PARAM_TYPES: usize = 8;

/// Payload length that means "continued in the next packet".
const MAX_PACKET: u32 = 0xff_ffff;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_STATISTICS: u8 = 0x09;
const COM_PROCESS_INFO: u8 = 0x0a;
const COM_CHANGE_USER: u8 = 0x11;
const COM_BINLOG_DUMP: u8 = 0x12;
const COM_TABLE_DUMP: u8 = 0x13;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_FETCH: u8 = 0x1c;
const COM_BINLOG_DUMP_GTID: u8 = 0x1e;
const COM_RESET_CONNECTION: u8 = 0x1f;
/// MariaDB's `COM_STMT_BULK_EXECUTE`.
const COM_STMT_BULK_EXECUTE: u8 = 0xfa;
/// Not a command: marks the TLS login waiting for the server's first bytes.
const CMD_TLS: u8 = 0xfe;

/// Command bytes a client sends (sleep, 0x00, is server-internal).
fn known_command(c: u8) -> bool {
    (0x01..=0x1f).contains(&c) || c == COM_STMT_BULK_EXECUTE
}

/// Where the connection is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Nothing recognised yet (capture started mid-connection, or a gap).
    #[default]
    Unknown,
    /// The server's greeting was seen; the client's login comes next.
    Greeted,
    /// Login sent; authentication packets until the server's OK or ERR.
    Auth,
    /// Commands and responses.
    Command,
    /// TLS after an SSL request: not decoded.
    Tls,
    /// Compressed framing: not decoded.
    Compressed,
    /// Replication stream or other undecodable traffic.
    Opaque,
}

/// Where the response to the oldest outstanding command is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Resp {
    /// Expecting the first packet of a response (or of the next result set).
    #[default]
    Start,
    /// Column definitions of a result set (`left` to go).
    Cols,
    /// After the column definitions: an EOF, the first row, or the end.
    ColsEnd,
    /// Rows until an EOF/OK or ERR.
    Rows,
    /// Parameter definitions of a prepare response.
    PrepParams,
    /// After them: an EOF, or the column definitions, or the end.
    PrepParamsEnd,
    /// Column definitions of a prepare response.
    PrepCols,
    /// After them: an EOF or the end.
    PrepColsEnd,
    /// `COM_FIELD_LIST`: column definitions until EOF.
    FieldList,
    /// `LOAD DATA LOCAL INFILE`: the client sends the file, then the
    /// server's OK or ERR ends the exchange.
    Infile,
    /// `COM_CHANGE_USER`: authentication until OK or ERR.
    Auth,
}

/// Framing state of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Payload bytes of the current packet still to skip.
    skip: u32,
    /// The current payload continues in the next packet.
    more: bool,
    /// Out of step: wait for a segment that starts with a plausible packet.
    resync: bool,
    /// Bytes left unconsumed by the last call (kept by the engine until
    /// more arrive), and the size of the packet they begin (0: header
    /// incomplete). A gap then may still fall inside that packet.
    wait: u16,
    wait_total: u32,
}

/// A command awaiting its response.
#[derive(Clone, Copy, Debug, Default)]
struct Inflight {
    /// Stream position of the command (the pending record's `seq`).
    pos: u32,
    /// Command byte.
    cmd: u8,
    /// Sequence number the response starts with.
    resp_seq: u8,
    /// A pending record was started for it.
    reported: bool,
    /// An execute of the statement prepared by the command before it (not
    /// answered yet when the execute was sent): its id comes with that
    /// prepare's response.
    latest: bool,
}

/// A prepared statement remembered for its executes.
#[derive(Clone, Copy, Debug)]
struct Stmt {
    /// Statement id (0: free entry; servers count from 1).
    id: u32,
    nparams: u16,
    /// Entry age, for replacing the least recently used.
    used: u8,
    text_len: u8,
    text_cut: bool,
    /// Parameter types known (from an execute that sent them).
    ntypes: u8,
    types: [u8; MAX_STMT_PARAM_TYPES],
    /// Bit `i`: parameter `i` is unsigned.
    unsigned: u8,
    text: [u8; STMT_TEXT_CAP],
}

impl Stmt {
    const EMPTY: Stmt = Stmt {
        id: 0,
        nparams: 0,
        used: 0,
        text_len: 0,
        text_cut: false,
        ntypes: 0,
        types: [0; MAX_STMT_PARAM_TYPES],
        unsigned: 0,
        text: [0; STMT_TEXT_CAP],
    };
}

impl Default for Stmt {
    fn default() -> Self {
        Stmt::EMPTY
    }
}

/// Per-flow MySQL parser state.
#[derive(Clone, Debug)]
pub struct MysqlParser {
    phase: Phase,
    resp: Resp,
    /// Capabilities: the server's until the login, then the negotiated ones.
    caps: u32,
    /// MariaDB extended capabilities (same).
    ext_caps: u32,
    /// The login was seen, so `caps` is what the connection uses.
    caps_known: bool,
    /// Definitions still to come in `Cols`/`PrepParams`/`PrepCols`.
    left: u32,
    /// Columns announced by a prepare response.
    prep_cols: u16,
    sides: [Side; 2],
    ring: [Inflight; MAX_INFLIGHT],
    ring_head: u8,
    ring_len: u8,
    /// When the login was sent and the bytes of the login exchange, for the
    /// `LOGIN` transaction reported when it fails or ends decoding.
    login_ts: Timestamp,
    login_in: u32,
    login_out: u32,
    stmts: [Stmt; MAX_STMTS],
    tick: u8,
    /// Id of the last statement prepared (MariaDB executes id 0xffffffff
    /// as "the last one").
    last_stmt: u32,
}

impl Default for MysqlParser {
    fn default() -> Self {
        Self::new()
    }
}

fn mysql(t: &mut Transaction) -> Option<&mut MysqlTxn> {
    match &mut t.detail {
        Detail::Mysql(x) => Some(x),
        _ => None,
    }
}

/// An EOF packet (header 0xfe, shorter than 9 bytes).
fn is_eof(p: &[u8], len: u32) -> bool {
    p.first() == Some(&0xfe) && len < 9
}

/// The end of a row stream: an EOF, or an OK with header 0xfe
/// (`CLIENT_DEPRECATE_EOF`). A row starting with 0xfe would be ≥ 16 MiB.
fn is_end(p: &[u8], len: u32) -> bool {
    p.first() == Some(&0xfe) && len < MAX_PACKET
}

/// Packets of compressed framing: a 3-byte uncompressed length, then a
/// zlib stream or, when 0, a plain packet.
fn looks_compressed(len: u32, p: &[u8]) -> bool {
    match p {
        [0, 0, 0, a, b, c, s, ..] => wire::u24(&[*a, *b, *c]).is_some_and(|l| l + 4 + 3 == len) && *s == 0,
        [_, _, _, 0x78, f, ..] => (0x7800u32 | *f as u32) % 31 == 0,
        _ => false,
    }
}

/// Whether `data` starts with a chain of packet headers that could be real:
/// sequence numbers go up by one (or restart at `base`: the next command,
/// or the next response) and the last packet ends at or after the end.
fn plausible_chain(data: &[u8], base: u8) -> bool {
    let mut off = 0usize;
    let mut prev: Option<u8> = None;
    for _ in 0..16 {
        let Some(h) = data.get(off..off + 4) else { return true };
        let seq = h.get(3).copied().unwrap_or(0);
        if let Some(p) = prev {
            if seq != p.wrapping_add(1) && seq != base {
                return false;
            }
        }
        prev = Some(seq);
        off += 4 + wire::u24(h).unwrap_or(0) as usize;
        if off >= data.len() {
            return true;
        }
    }
    true
}

impl MysqlParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        const SIDE: Side = Side { skip: 0, more: false, resync: true, wait: 0, wait_total: 0 };
        const IDLE: Inflight = Inflight { pos: 0, cmd: 0, resp_seq: 0, reported: false, latest: false };
        MysqlParser {
            phase: Phase::Unknown,
            resp: Resp::Start,
            caps: 0,
            ext_caps: 0,
            caps_known: false,
            left: 0,
            prep_cols: 0,
            sides: [SIDE, SIDE],
            ring: [IDLE; MAX_INFLIGHT],
            ring_head: 0,
            ring_len: 0,
            login_ts: Timestamp::ZERO,
            login_in: 0,
            login_out: 0,
            stmts: [Stmt::EMPTY; MAX_STMTS],
            tick: 0,
            last_stmt: 0,
        }
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.sides[0],
            Direction::ToClient => &mut self.sides[1],
        }
    }

    // ---- the queue of commands awaiting responses ----

    fn front(&self) -> Option<Inflight> {
        if self.ring_len == 0 {
            return None;
        }
        self.ring.get(self.ring_head as usize % MAX_INFLIGHT).copied()
    }

    fn back(&self) -> Option<Inflight> {
        let n = self.ring_len as usize;
        if n == 0 {
            return None;
        }
        self.ring.get((self.ring_head as usize + n - 1) % MAX_INFLIGHT).copied()
    }

    /// The newest command's request went on to packet `seq`.
    fn bump_resp_seq(&mut self, seq: u8) {
        let n = self.ring_len as usize;
        if n > 0 {
            if let Some(e) = self.ring.get_mut((self.ring_head as usize + n - 1) % MAX_INFLIGHT) {
                e.resp_seq = seq.wrapping_add(1);
            }
        }
    }

    /// The command after the oldest.
    fn second(&self) -> Option<Inflight> {
        if self.ring_len < 2 {
            return None;
        }
        self.ring.get((self.ring_head as usize + 1) % MAX_INFLIGHT).copied()
    }

    fn pop(&mut self) {
        if self.ring_len > 0 {
            self.ring_head = ((self.ring_head as usize + 1) % MAX_INFLIGHT) as u8;
            self.ring_len -= 1;
        }
        self.resp = Resp::Start;
        self.left = 0;
    }

    /// Queues a command; when the queue is full the oldest is given up
    /// (reported unanswered).
    fn push(&mut self, ctx: &mut Ctx<'_, '_>, e: Inflight) {
        if self.ring_len as usize >= MAX_INFLIGHT {
            if let Some(old) = self.front() {
                if let Some(h) = self.record(ctx, old) {
                    ctx.emit_unanswered(h, Notes::NO_RESPONSE);
                }
            }
            self.pop();
        }
        let i = (self.ring_head as usize + self.ring_len as usize) % MAX_INFLIGHT;
        if let Some(slot) = self.ring.get_mut(i) {
            *slot = e;
            self.ring_len += 1;
        }
    }

    /// The pending record of a queued command, if it has one still alive.
    fn record(&self, ctx: &Ctx<'_, '_>, e: Inflight) -> Option<Handle> {
        if !e.reported {
            return None;
        }
        ctx.find(|s| s.seq == e.pos && s.flags & FLAG_RESPONSE_ONLY == 0 && matches!(s.txn.detail, Detail::Mysql(_)))
    }

    fn with_txn(ctx: &mut Ctx<'_, '_>, h: Option<Handle>, f: impl FnOnce(&mut MysqlTxn)) {
        if let Some(x) = h.and_then(|h| ctx.txn(h)).and_then(mysql) {
            f(x);
        }
    }

    fn deprecate_eof(&self) -> Option<bool> {
        self.caps_known.then_some(self.caps & wire::CLIENT_DEPRECATE_EOF != 0)
    }

    // ---- prepared statements ----

    fn stmt(&mut self, id: u32) -> Option<&mut Stmt> {
        let id = if id == u32::MAX { self.last_stmt } else { id };
        if id == 0 {
            return None;
        }
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        let s = self.stmts.iter_mut().find(|s| s.id == id)?;
        s.used = tick;
        Some(s)
    }

    fn remember_stmt(&mut self, id: u32, nparams: u16, sql: &[u8], cut: bool) {
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        // The same id, else a free entry, else the least recently used.
        let idx =
            self.stmts.iter().position(|s| s.id == id).or_else(|| self.stmts.iter().position(|s| s.id == 0)).or_else(
                || self.stmts.iter().enumerate().max_by_key(|(_, s)| tick.wrapping_sub(s.used)).map(|(i, _)| i),
            );
        let Some(s) = idx.and_then(|i| self.stmts.get_mut(i)) else { return };
        let n = sql.len().min(STMT_TEXT_CAP);
        *s = Stmt { id, nparams, used: tick, text_len: n as u8, text_cut: cut || n < sql.len(), ..Stmt::EMPTY };
        if let (Some(d), Some(src)) = (s.text.get_mut(..n), sql.get(..n)) {
            d.copy_from_slice(src);
        }
        self.last_stmt = id;
    }

    fn forget_stmts(&mut self) {
        self.stmts = [Stmt::EMPTY; MAX_STMTS];
        self.last_stmt = 0;
    }

    // ---- client side ----

    fn client_packet(&mut self, ctx: &mut Ctx<'_, '_>, pos: u32, seq: u8, len: u32, p: &[u8]) {
        let continued = core::mem::replace(&mut self.sides[0].more, len == MAX_PACKET);
        let wire_len = 4 + len as u64;
        if continued || (self.phase == Phase::Command && seq != 0) {
            // The tail of a payload over 16 MiB, or data of an exchange in
            // progress (LOCAL INFILE, COM_CHANGE_USER authentication): more
            // of the same request; the server's answer follows this packet.
            self.bump_resp_seq(seq);
            if let Some(h) = self.back().and_then(|e| self.record(ctx, e)) {
                if let Some(t) = ctx.txn(h) {
                    t.bytes_in += wire_len;
                }
            }
            return;
        }
        match self.phase {
            Phase::Unknown | Phase::Greeted if seq == 1 && p.len() >= 32 => self.login_request(ctx, pos, len, p),
            Phase::Unknown if seq == 0 => {
                if looks_compressed(len, p) {
                    self.phase = Phase::Compressed;
                } else {
                    self.phase = Phase::Command;
                    self.command(ctx, pos, len, p);
                }
            }
            Phase::Auth => self.login_in = self.login_in.saturating_add(wire_len as u32),
            Phase::Command => self.command(ctx, pos, len, p),
            _ => {}
        }
    }

    fn login_request(&mut self, ctx: &mut Ctx<'_, '_>, pos: u32, len: u32, p: &[u8]) {
        let Some(l) = wire::parse_login(p) else { return };
        if self.phase == Phase::Greeted {
            self.caps &= l.caps;
            self.ext_caps &= l.ext_caps;
        } else {
            self.caps = l.caps;
            self.ext_caps = l.ext_caps;
        }
        self.caps_known = true;
        if l.ssl {
            self.phase = Phase::Tls;
            let ts = ctx.ts;
            if let Some(h) = ctx.begin(ts) {
                if let Some(s) = ctx.slot(h) {
                    s.seq = pos;
                    s.flags |= FLAG_REQUEST_DONE;
                    s.txn.bytes_in = 4 + len as u64;
                    MysqlTxn::init(&mut s.txn);
                }
                Self::with_txn(ctx, Some(h), |x| {
                    x.kind = Kind::Login;
                    x.encrypted = true;
                    x.set_query(b"Login", false, Some(b"LOGIN"));
                });
                self.push(ctx, Inflight { pos, cmd: CMD_TLS, resp_seq: 2, reported: true, latest: false });
            }
            return;
        }
        self.phase = Phase::Auth;
        self.login_ts = ctx.ts;
        self.login_in = 4 + len;
        self.login_out = 0;
    }

    fn command(&mut self, ctx: &mut Ctx<'_, '_>, pos: u32, len: u32, p: &[u8]) {
        let Some((&cmd, body)) = p.split_first() else { return };
        let complete = p.len() as u64 >= len as u64;
        let queued = Inflight { pos, cmd, resp_seq: 1, reported: false, latest: false };
        match cmd {
            COM_QUIT | COM_STMT_SEND_LONG_DATA => {}
            COM_STMT_CLOSE => {
                let id = Reader::new(body).u32().unwrap_or(0);
                if let Some(s) = self.stmt(id) {
                    s.id = 0;
                }
            }
            COM_QUERY | COM_STMT_PREPARE | COM_INIT_DB | COM_STMT_EXECUTE | COM_STMT_BULK_EXECUTE => {
                let ts = ctx.ts;
                let Some(h) = ctx.begin(ts) else {
                    self.push(ctx, queued);
                    return;
                };
                let mut latest = false;
                if let Some(s) = ctx.slot(h) {
                    s.seq = pos;
                    s.flags |= FLAG_REQUEST_DONE;
                    s.txn.bytes_in = 4 + len as u64;
                    MysqlTxn::init(&mut s.txn);
                }
                match cmd {
                    COM_QUERY => {
                        let sql = self.strip_query_attributes(body);
                        Self::with_txn(ctx, Some(h), |x| x.set_query(sql, !complete, None));
                    }
                    COM_STMT_PREPARE => Self::with_txn(ctx, Some(h), |x| {
                        x.kind = Kind::Prepare;
                        x.set_query(body, !complete, Some(b"PREPARE"));
                    }),
                    COM_INIT_DB => {
                        let mut q = [0u8; 4 + 256];
                        let n = body.len().min(256);
                        if let (Some(d), Some(s)) = (q.get_mut(4..4 + n), body.get(..n)) {
                            d.copy_from_slice(s);
                        }
                        if let Some(d) = q.get_mut(..4) {
                            d.copy_from_slice(b"USE ");
                        }
                        let cut = !complete || n < body.len();
                        Self::with_txn(ctx, Some(h), |x| {
                            x.kind = Kind::InitDb;
                            x.set_query(q.get(..4 + n).unwrap_or(&[]), cut, Some(b"USE"));
                        });
                    }
                    _ => latest = self.execute(ctx, h, cmd, body),
                }
                self.push(ctx, Inflight { reported: true, latest, ..queued });
            }
            COM_BINLOG_DUMP | COM_BINLOG_DUMP_GTID | COM_TABLE_DUMP => self.phase = Phase::Opaque,
            _ => {
                if matches!(cmd, COM_CHANGE_USER | COM_RESET_CONNECTION) {
                    self.forget_stmts();
                }
                self.push(ctx, queued);
            }
        }
    }

    /// The SQL of a `COM_QUERY` body: with `CLIENT_QUERY_ATTRIBUTES`
    /// (MySQL 8) it follows a parameter count and a parameter-set count.
    /// Without the handshake, a body starting `00 01` is taken as that
    /// prefix with no parameters (SQL text never starts with NUL).
    fn strip_query_attributes<'b>(&self, body: &'b [u8]) -> &'b [u8] {
        let attrs =
            if self.caps_known { self.caps & wire::CLIENT_QUERY_ATTRIBUTES != 0 } else { body.starts_with(&[0, 1]) };
        if !attrs {
            return body;
        }
        let mut r = Reader::new(body);
        match (r.lenenc_int(), r.lenenc_int()) {
            (Some(0), Some(_)) => r.rest(),
            // Query attributes with values: skip them like execute
            // parameters would need their types; keep the body as is.
            _ => body,
        }
    }

    /// Fills an execute's record: the statement's SQL and its parameters.
    fn execute(&mut self, ctx: &mut Ctx<'_, '_>, h: Handle, cmd: u8, body: &[u8]) -> bool {
        let mut r = Reader::new(body);
        let id = r.u32().unwrap_or(0);
        let qattrs = self.caps_known && self.caps & wire::CLIENT_QUERY_ATTRIBUTES != 0;
        // MariaDB: id 0xffffffff is the statement prepared last, which may
        // be a prepare sent just before (pipelined) and not answered yet.
        let pending = if id == u32::MAX { self.pending_prepare() } else { None };
        let mut st = if pending.is_some() { None } else { self.stmt(id).copied() };
        if let Some(e) = pending {
            let mut sql = [0u8; MAX_QUERY];
            let mut n = 0;
            let mut cut = false;
            if let Some(x) = self.record(ctx, e).and_then(|ph| ctx.txn(ph)).and_then(mysql) {
                let q = x.text.get(x.query);
                n = q.len().min(MAX_QUERY);
                cut = x.text.truncated();
                if let (Some(d), Some(src)) = (sql.get_mut(..n), q.get(..n)) {
                    d.copy_from_slice(src);
                }
            }
            let text = sql.get(..n).unwrap_or(&[]);
            Self::with_txn(ctx, Some(h), |x| {
                x.kind = Kind::Execute;
                x.set_query(text, cut, None);
            });
            // Its parameter count is not known yet: count the placeholders.
            st = Some(Stmt { id: u32::MAX, nparams: placeholders(text), ..Stmt::EMPTY });
        } else {
            let real_id = if id == u32::MAX { self.last_stmt } else { id };
            Self::with_txn(ctx, Some(h), |x| {
                x.kind = Kind::Execute;
                x.statement_id = Some(real_id);
                match &st {
                    Some(s) => x.set_query(s.text.get(..s.text_len as usize).unwrap_or(&[]), s.text_cut, None),
                    None => x.set_query(b"", false, Some(b"EXECUTE")),
                }
            });
        }
        let latest = pending.is_some();
        let Some(st) = st else { return latest };
        let real_id = st.id;
        if cmd != COM_STMT_EXECUTE {
            return latest;
        }
        // flags, iteration count
        let Some(flags) = r.u8() else { return latest };
        if r.skip(4).is_none() {
            return latest;
        }
        let mut n = st.nparams as usize;
        if qattrs && (n > 0 || flags & 0x08 != 0) {
            match r.lenenc_int() {
                Some(c) => n = c.min(u16::MAX as u64) as usize,
                None => return latest,
            }
        }
        if n == 0 {
            return latest;
        }
        let Some(nulls) = r.bytes(n.div_ceil(8)) else { return latest };
        let mut types = [0u8; MAX_STMT_PARAM_TYPES];
        let mut unsigned = 0u8;
        let mut ntypes = 0usize;
        if r.u8() == Some(1) {
            for i in 0..n {
                let (Some(t), Some(f)) = (r.u8(), r.u8()) else { return latest };
                if qattrs && r.lenenc_str().is_none() {
                    return latest;
                }
                if let Some(d) = types.get_mut(i) {
                    *d = t;
                    if f & 0x80 != 0 {
                        unsigned |= 1 << i;
                    }
                    ntypes = i + 1;
                }
            }
            if let Some(s) = self.stmt(real_id).filter(|_| !latest) {
                s.types = types;
                s.unsigned = unsigned;
                s.ntypes = ntypes as u8;
            }
        } else {
            types = st.types;
            unsigned = st.unsigned;
            ntypes = st.ntypes as usize;
        }
        let mut buf: heapless::String<64> = heapless::String::new();
        Self::with_txn(ctx, Some(h), |x| {
            for i in 0..n.min(MAX_PARAMS) {
                let null = nulls.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
                if null {
                    x.add_param(b"NULL", false);
                    continue;
                }
                let (Some(&t), true) = (types.get(i), i < ntypes) else {
                    // Types unknown: the values cannot be delimited.
                    x.cut = true;
                    return;
                };
                match wire::read_value(&mut r, t, unsigned & (1 << i) != 0) {
                    Some(v) => {
                        let cut = matches!(v, Value::Bytes(_, true));
                        let text = wire::value_text(&v, &mut buf);
                        x.add_param(text, cut);
                    }
                    None => {
                        x.cut = true;
                        return;
                    }
                }
            }
            if n > MAX_PARAMS {
                x.cut = true;
            }
        });
        latest
    }

    /// The newest outstanding prepare, if the newest command is one.
    fn pending_prepare(&self) -> Option<Inflight> {
        self.back().filter(|e| e.cmd == COM_STMT_PREPARE)
    }

    // ---- server side ----

    fn server_packet(&mut self, ctx: &mut Ctx<'_, '_>, seq: u8, len: u32, p: &[u8]) {
        let continued = core::mem::replace(&mut self.sides[1].more, len == MAX_PACKET);
        let wire_len = 4 + len;
        match self.phase {
            Phase::Unknown | Phase::Greeted if seq == 0 && !continued => {
                if let Some(g) = wire::parse_greeting(p) {
                    self.phase = Phase::Greeted;
                    self.caps = g.caps;
                    self.ext_caps = g.ext_caps;
                    self.caps_known = false;
                } else if p.first() == Some(&0xff) {
                    // Refused before any login ("Too many connections").
                    self.login_ts = ctx.ts;
                    self.login_in = 0;
                    self.login_out = wire_len;
                    self.login_result(ctx, p);
                }
            }
            Phase::Auth => {
                self.login_out = self.login_out.saturating_add(wire_len);
                if !continued && matches!(p.first(), Some(0x00) | Some(0xff)) {
                    self.login_result(ctx, p);
                }
            }
            Phase::Command => self.response_packet(ctx, len, p, continued),
            _ => {}
        }
    }

    /// The server's OK or ERR that ends the login.
    fn login_result(&mut self, ctx: &mut Ctx<'_, '_>, p: &[u8]) {
        let err = wire::parse_err(p);
        let compressed = self.caps_known && self.caps & (wire::CLIENT_COMPRESS | wire::CLIENT_ZSTD) != 0;
        self.phase = if err.is_none() && compressed { Phase::Compressed } else { Phase::Command };
        if err.is_none() && !compressed {
            return;
        }
        let ts = self.login_ts;
        let Some(h) = ctx.begin(ts) else { return };
        let now = ctx.ts;
        if let Some(s) = ctx.slot(h) {
            s.flags |= FLAG_REQUEST_DONE | FLAG_RESPONSE_STARTED;
            s.txn.bytes_in = self.login_in as u64;
            s.txn.bytes_out = self.login_out as u64;
            s.txn.response_ts = Some(now);
            s.txn.status = if err.is_some() { Status::Error } else { Status::Ok };
            MysqlTxn::init(&mut s.txn);
        }
        Self::with_txn(ctx, Some(h), |x| {
            x.kind = Kind::Login;
            x.compressed = err.is_none();
            x.has_response = true;
            x.set_query(b"Login", false, Some(b"LOGIN"));
            if let Some(e) = err {
                set_error(x, &e);
            }
        });
        ctx.emit(h);
    }

    fn response_packet(&mut self, ctx: &mut Ctx<'_, '_>, len: u32, p: &[u8], continued: bool) {
        if !continued {
            let ends_prepare = match self.resp {
                Resp::PrepParamsEnd => self.prep_cols == 0,
                Resp::PrepColsEnd => true,
                _ => false,
            };
            if ends_prepare && !is_eof(p, len) {
                // No EOF closes this prepare response (CLIENT_DEPRECATE_EOF):
                // the packet starts the next response.
                self.finish(ctx, Notes::empty());
            }
        }
        let Some(front) = self.front() else {
            // Nothing outstanding (an unsolicited error before the server
            // closes, or a command lost in a gap): counted and skipped.
            if !continued {
                ctx.stats.unmatched_responses += 1;
            }
            return;
        };
        let h = self.record(ctx, front);
        let now = ctx.ts;
        if let Some(s) = h.and_then(|h| ctx.slot(h)) {
            if s.flags & FLAG_RESPONSE_STARTED == 0 {
                s.flags |= FLAG_RESPONSE_STARTED;
                s.txn.response_ts = Some(now);
            }
            s.txn.bytes_out += 4 + len as u64;
            if let Some(x) = mysql(&mut s.txn) {
                x.has_response = true;
            }
        }
        if continued {
            return;
        }
        // A packet can move the state once and be looked at again (e.g. the
        // first row of a fetch): two turns at most.
        for _ in 0..2 {
            if !self.step(ctx, front, h, len, p) {
                return;
            }
        }
    }

    /// Handles one response packet; returns true when it must be handled
    /// again in the new state.
    fn step(&mut self, ctx: &mut Ctx<'_, '_>, front: Inflight, h: Option<Handle>, len: u32, p: &[u8]) -> bool {
        let b0 = p.first().copied().unwrap_or(0);
        let binary = matches!(front.cmd, COM_STMT_EXECUTE | COM_STMT_BULK_EXECUTE | COM_STMT_FETCH);
        match self.resp {
            Resp::Start => return self.first_packet(ctx, front, h, len, p),
            Resp::Cols => {
                self.column(ctx, h, p, true);
                self.left = self.left.saturating_sub(1);
                if self.left == 0 {
                    self.columns_done(ctx, h);
                    self.resp = Resp::ColsEnd;
                }
            }
            Resp::ColsEnd => {
                if b0 == 0xfe && len < 7 {
                    let st = wire::parse_ok_or_eof(p, len).map_or(0, |o| o.status);
                    if binary && st & wire::SERVER_STATUS_CURSOR_EXISTS != 0 {
                        // Rows come later through COM_STMT_FETCH.
                        self.finish(ctx, Notes::empty());
                    } else {
                        self.resp = Resp::Rows;
                    }
                } else if is_end(p, len) || b0 == 0xff {
                    self.end_of_rows(ctx, h, len, p);
                } else {
                    self.resp = Resp::Rows;
                    self.row(ctx, h, p, binary);
                }
            }
            Resp::Rows => {
                if is_end(p, len) || b0 == 0xff {
                    self.end_of_rows(ctx, h, len, p);
                } else {
                    self.row(ctx, h, p, binary);
                }
            }
            Resp::PrepParams => {
                self.left = self.left.saturating_sub(1);
                if self.left == 0 {
                    self.resp = Resp::PrepParamsEnd;
                    if self.deprecate_eof() == Some(true) {
                        self.prep_params_end(ctx);
                    }
                }
            }
            Resp::PrepParamsEnd => {
                if is_eof(p, len) {
                    self.prep_params_end(ctx);
                } else {
                    // CLIENT_DEPRECATE_EOF: this is the first column.
                    self.left = self.prep_cols as u32;
                    self.resp = Resp::PrepCols;
                    return true;
                }
            }
            Resp::PrepCols => {
                self.column(ctx, h, p, false);
                self.left = self.left.saturating_sub(1);
                if self.left == 0 {
                    self.resp = Resp::PrepColsEnd;
                    if self.deprecate_eof() == Some(true) {
                        self.finish(ctx, Notes::empty());
                    }
                }
            }
            Resp::PrepColsEnd => self.finish(ctx, Notes::empty()),
            Resp::FieldList => {
                if b0 == 0xff {
                    Self::with_txn(ctx, h, |x| error_packet(x, p));
                    self.finish(ctx, Notes::empty());
                } else if is_end(p, len) {
                    self.finish(ctx, Notes::empty());
                }
            }
            Resp::Infile | Resp::Auth => match b0 {
                0x00 => {
                    if let Some(ok) = wire::parse_ok_or_eof(p, len) {
                        Self::with_txn(ctx, h, |x| {
                            x.affected_rows = ok.affected_rows;
                            x.insert_id = ok.insert_id;
                        });
                    }
                    self.finish(ctx, Notes::empty());
                }
                0xff => {
                    Self::with_txn(ctx, h, |x| error_packet(x, p));
                    self.finish(ctx, Notes::empty());
                }
                _ => {}
            },
        }
        false
    }

    /// After a prepare's parameter definitions (and their EOF).
    fn prep_params_end(&mut self, ctx: &mut Ctx<'_, '_>) {
        if self.prep_cols > 0 {
            self.left = self.prep_cols as u32;
            self.resp = Resp::PrepCols;
        } else {
            self.finish(ctx, Notes::empty());
        }
    }

    fn first_packet(&mut self, ctx: &mut Ctx<'_, '_>, front: Inflight, h: Option<Handle>, len: u32, p: &[u8]) -> bool {
        let b0 = p.first().copied().unwrap_or(0);
        match front.cmd {
            COM_QUERY | COM_PROCESS_INFO | COM_STMT_EXECUTE | COM_STMT_BULK_EXECUTE => match b0 {
                0x00 => {
                    let Some(ok) = wire::parse_ok_or_eof(p, len) else {
                        self.finish(ctx, Notes::RESPONSE_MALFORMED);
                        return false;
                    };
                    Self::with_txn(ctx, h, |x| {
                        x.affected_rows = x.affected_rows.saturating_add(ok.affected_rows);
                        if ok.insert_id != 0 {
                            x.insert_id = ok.insert_id;
                        }
                    });
                    if ok.status & wire::SERVER_MORE_RESULTS_EXISTS == 0 {
                        self.finish(ctx, Notes::empty());
                    }
                }
                0xff => {
                    if wire::parse_err(p).is_some_and(|e| e.code == 0xffff) {
                        // MariaDB progress report: the answer is still to come.
                        return false;
                    }
                    Self::with_txn(ctx, h, |x| error_packet(x, p));
                    self.finish(ctx, Notes::empty());
                }
                0xfb if front.cmd == COM_QUERY => self.resp = Resp::Infile,
                _ if is_eof(p, len) => self.finish(ctx, Notes::empty()),
                _ => self.result_set(ctx, h, p),
            },
            COM_STMT_PREPARE => match b0 {
                0x00 if p.len() >= 9 => {
                    let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
                    let (id, cols, params) = (r.u32().unwrap_or(0), r.u16().unwrap_or(0), r.u16().unwrap_or(0));
                    let mut sql = [0u8; STMT_TEXT_CAP];
                    let mut n = 0;
                    let mut cut = false;
                    Self::with_txn(ctx, h, |x| {
                        x.statement_id = Some(id);
                        x.num_fields = cols as u64;
                        let q = x.text.get(x.query);
                        n = q.len().min(STMT_TEXT_CAP);
                        cut = n < q.len() || x.text.truncated();
                        if let (Some(d), Some(s)) = (sql.get_mut(..n), q.get(..n)) {
                            d.copy_from_slice(s);
                        }
                    });
                    self.remember_stmt(id, params, sql.get(..n).unwrap_or(&[]), cut);
                    if let Some(next) = self.second().filter(|e| e.latest) {
                        let xh = self.record(ctx, next);
                        Self::with_txn(ctx, xh, |x| x.statement_id = Some(id));
                    }
                    self.prep_cols = cols;
                    if params > 0 {
                        self.left = params as u32;
                        self.resp = Resp::PrepParams;
                    } else if cols > 0 {
                        self.left = cols as u32;
                        self.resp = Resp::PrepCols;
                    } else {
                        self.finish(ctx, Notes::empty());
                    }
                }
                0xff => {
                    Self::with_txn(ctx, h, |x| error_packet(x, p));
                    self.finish(ctx, Notes::empty());
                }
                _ => self.finish(ctx, Notes::RESPONSE_MALFORMED),
            },
            COM_STMT_FETCH => {
                self.resp = Resp::Rows;
                return true;
            }
            COM_FIELD_LIST => {
                self.resp = Resp::FieldList;
                return true;
            }
            COM_CHANGE_USER => {
                self.resp = Resp::Auth;
                return true;
            }
            CMD_TLS => self.finish(ctx, Notes::empty()),
            _ => {
                // One packet: OK, ERR, EOF, or a string (COM_STATISTICS).
                if b0 == 0xff && front.cmd != COM_STATISTICS {
                    Self::with_txn(ctx, h, |x| error_packet(x, p));
                }
                self.finish(ctx, Notes::empty());
            }
        }
        false
    }

    /// The column-count packet that starts a result set.
    fn result_set(&mut self, ctx: &mut Ctx<'_, '_>, h: Option<Handle>, p: &[u8]) {
        let mut r = Reader::new(p);
        let optional_meta = self.caps_known && self.caps & wire::CLIENT_OPTIONAL_RESULTSET_METADATA != 0;
        let mut metadata = true;
        if optional_meta {
            metadata = r.u8() != Some(0);
        }
        // MySQL allows at most 4096 columns per table and 65535 per result.
        let Some(cols) = r.lenenc_int().filter(|c| (1..=0xffff).contains(c)) else {
            self.finish(ctx, Notes::RESPONSE_MALFORMED);
            return;
        };
        // MariaDB's metadata cache: a flag after the count says whether the
        // column definitions are sent.
        if self.ext_caps & wire::MARIADB_CACHE_METADATA != 0 && r.u8() == Some(0) {
            metadata = false;
        }
        let mut first = false;
        Self::with_txn(ctx, h, |x| {
            first = x.result_sets == 0;
            if first {
                x.num_fields = cols;
                x.col_types.clear();
                x.col_unsigned = 0;
            }
            x.result_sets = x.result_sets.saturating_add(1);
        });
        if metadata {
            self.left = u32::try_from(cols).unwrap_or(u32::MAX);
            self.resp = Resp::Cols;
        } else {
            // Rows follow at once; binary ones cannot be rendered without
            // the types (they are counted).
            self.resp = Resp::ColsEnd;
        }
    }

    /// One column definition of a result set (`result`) or of a prepared
    /// statement's result.
    fn column(&mut self, ctx: &mut Ctx<'_, '_>, h: Option<Handle>, p: &[u8], result: bool) {
        let Some(c) = wire::parse_coldef(p) else { return };
        let keep_csv = ctx.cfg.mysql.common.send_response;
        Self::with_txn(ctx, h, |x| {
            x.add_table(c.schema, c.table);
            if !result || x.result_sets != 1 {
                return;
            }
            let i = x.col_types.len();
            if x.col_types.push(c.ctype).is_ok() && c.flags & wire::UNSIGNED_FLAG != 0 {
                x.col_unsigned |= 1 << i;
            }
            if keep_csv {
                let first = x.response_raw.is_empty();
                x.csv_field(first, c.name);
            }
        });
    }

    fn columns_done(&mut self, ctx: &mut Ctx<'_, '_>, h: Option<Handle>) {
        if !ctx.cfg.mysql.common.send_response {
            return;
        }
        Self::with_txn(ctx, h, |x| {
            if x.result_sets == 1 && !x.response_raw.is_empty() {
                x.csv_end();
            }
        });
    }

    /// The EOF/OK or ERR after the rows.
    fn end_of_rows(&mut self, ctx: &mut Ctx<'_, '_>, h: Option<Handle>, len: u32, p: &[u8]) {
        if p.first() == Some(&0xff) {
            Self::with_txn(ctx, h, |x| error_packet(x, p));
            self.finish(ctx, Notes::empty());
            return;
        }
        let status = wire::parse_ok_or_eof(p, len).map_or(0, |o| o.status);
        if status & wire::SERVER_MORE_RESULTS_EXISTS != 0 {
            self.resp = Resp::Start;
        } else {
            self.finish(ctx, Notes::empty());
        }
    }

    fn row(&mut self, ctx: &mut Ctx<'_, '_>, h: Option<Handle>, p: &[u8], binary: bool) {
        let cfg = &ctx.cfg.mysql;
        let (keep, max_rows, max_len) = (cfg.common.send_response, cfg.max_rows, cfg.max_row_length as usize);
        Self::with_txn(ctx, h, |x| {
            x.num_rows += 1;
            if !keep || x.result_sets != 1 || x.rows_kept >= max_rows {
                return;
            }
            x.rows_kept += 1;
            let mut row = RowText { x, len: 0, max: max_len, first: true };
            if binary {
                row.binary(p);
            } else {
                row.text(p);
            }
            row.x.csv_end();
        });
    }

    /// The response to the oldest command is complete: report it.
    fn finish(&mut self, ctx: &mut Ctx<'_, '_>, note: Notes) {
        let front = self.front();
        self.pop();
        let Some(h) = front.and_then(|f| self.record(ctx, f)) else { return };
        if let Some(t) = ctx.txn(h) {
            t.notes.insert(note);
            let err = matches!(&t.detail, Detail::Mysql(x) if x.iserror);
            t.status = if err || !note.is_empty() { Status::Error } else { Status::Ok };
        }
        ctx.emit(h);
    }

    /// Sets `note` on the record of the oldest command (`ToClient`) or the
    /// newest (`ToServer`).
    fn mark(&self, ctx: &mut Ctx<'_, '_>, dir: Direction, note: Notes) {
        let e = match dir {
            Direction::ToServer => self.back(),
            Direction::ToClient => self.front(),
        };
        if let Some(t) = e.and_then(|e| self.record(ctx, e)).and_then(|h| ctx.txn(h)) {
            t.notes.insert(note);
        }
    }

    /// Whether `rest` (the start of a segment) can be taken as the next
    /// packet of `dir` by a side that is out of step.
    fn plausible(&self, dir: Direction, rest: &[u8]) -> bool {
        let (Some(len), Some(&seq)) = (wire::u24(rest), rest.get(3)) else { return false };
        let p = rest.get(4..).unwrap_or(&[]);
        let b0 = p.first().copied();
        match dir {
            Direction::ToServer => {
                let command = seq == 0 && b0.is_some_and(known_command);
                let login = seq == 1 && len >= 32 && matches!(self.phase, Phase::Unknown | Phase::Greeted);
                let compressed = seq == 0 && self.phase == Phase::Unknown && looks_compressed(len, p);
                (command || login || compressed) && plausible_chain(rest, 0)
            }
            Direction::ToClient => match self.phase {
                Phase::Unknown | Phase::Greeted => seq == 0 && matches!(b0, Some(0x0a) | Some(0xff)),
                Phase::Command => {
                    let Some(front) = self.front() else { return false };
                    let start = match b0 {
                        Some(0x00) => len >= 7,
                        Some(0xff) => len >= 3,
                        Some(0xfe) => len < 9,
                        Some(0xfb) => true,
                        Some(c) => c < 0xfb && len <= 2,
                        None => false,
                    };
                    seq == front.resp_seq && start && plausible_chain(rest, front.resp_seq)
                }
                Phase::Auth => true,
                _ => false,
            },
        }
    }

    /// Reports the TLS login once the server answered the SSL request.
    fn tls_answer(&mut self, ctx: &mut Ctx<'_, '_>, n: usize) {
        let Some(front) = self.front().filter(|f| f.cmd == CMD_TLS) else { return };
        if let Some(h) = self.record(ctx, front) {
            let now = ctx.ts;
            if let Some(s) = ctx.slot(h) {
                s.flags |= FLAG_RESPONSE_STARTED;
                s.txn.response_ts = Some(now);
                s.txn.bytes_out = n as u64;
            }
            ctx.emit(h);
        }
        self.pop();
    }
}

/// Number of `?` placeholders in `sql`, outside quotes and comments.
fn placeholders(sql: &[u8]) -> u16 {
    let mut n = 0u16;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while let Some(&c) = sql.get(i) {
        match quote {
            Some(q) if c == b'\\' && q != b'`' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' | b'`' => quote = Some(c),
                b'?' => n = n.saturating_add(1),
                b'#' => {
                    i += sql.get(i..).and_then(|r| r.iter().position(|&c| c == b'\n')).unwrap_or(sql.len());
                }
                b'-' if sql.get(i + 1) == Some(&b'-') => {
                    i += sql.get(i..).and_then(|r| r.iter().position(|&c| c == b'\n')).unwrap_or(sql.len());
                }
                b'/' if sql.get(i + 1) == Some(&b'*') => {
                    let end = sql.get(i + 2..).and_then(|r| r.windows(2).position(|w| w == b"*/"));
                    i += end.map_or(sql.len(), |e| e + 3);
                }
                _ => {}
            },
        }
        i += 1;
    }
    n
}

/// Sets the error fields from an ERR packet.
fn set_error(x: &mut MysqlTxn, e: &wire::ErrInfo<'_>) {
    x.iserror = true;
    x.error_code = e.code;
    let msg = e.message.get(..e.message.len().min(MAX_ERROR_MESSAGE)).unwrap_or(&[]);
    if msg.len() < e.message.len() {
        x.text.mark_truncated();
    }
    let mut span = crate::text::Span::EMPTY;
    if let Some(state) = e.state {
        span = x.text.push(state);
        span = x.text.extend(span, b": ");
    }
    x.error_message = x.text.extend(span, msg);
}

fn error_packet(x: &mut MysqlTxn, p: &[u8]) {
    match wire::parse_err(p) {
        Some(e) => set_error(x, &e),
        None => {
            x.iserror = true;
        }
    }
}

/// One row being written into the CSV table, cut at `max` value bytes.
struct RowText<'a> {
    x: &'a mut MysqlTxn,
    len: usize,
    max: usize,
    first: bool,
}

impl RowText<'_> {
    fn value(&mut self, v: &[u8], cut: bool) {
        if self.len >= self.max {
            return;
        }
        let room = self.max - self.len;
        let keep = v.get(..v.len().min(room)).unwrap_or(&[]);
        self.len += keep.len();
        if cut {
            self.x.text.mark_truncated();
        }
        self.x.csv_field(self.first, keep);
        self.first = false;
    }

    /// A text-protocol row: length-encoded strings, 0xfb for NULL.
    fn text(&mut self, p: &[u8]) {
        let mut r = Reader::new(p);
        let mut guard = p.len();
        while guard > 0 && !r.rest().is_empty() {
            guard -= 1;
            match r.lenenc_str_prefix() {
                Some((Some(v), cut)) => self.value(v, cut),
                Some((None, _)) => self.value(b"NULL", false),
                None => break,
            }
        }
    }

    /// A binary-protocol row: 0x00, a NULL bitmap (offset 2), then the
    /// values of the non-NULL columns by type.
    fn binary(&mut self, p: &[u8]) {
        let cols = self.x.num_fields as usize;
        if cols > self.x.col_types.len() {
            // Types unknown: the values cannot be delimited.
            self.x.cut = true;
            return;
        }
        let mut r = Reader::new(p);
        if r.u8() != Some(0x00) {
            return;
        }
        let Some(nulls) = r.bytes((cols + 9) / 8) else { return };
        let mut buf: heapless::String<64> = heapless::String::new();
        for i in 0..cols {
            let bit = i + 2;
            if nulls.get(bit / 8).is_some_and(|b| b & (1 << (bit % 8)) != 0) {
                self.value(b"NULL", false);
                continue;
            }
            let t = self.x.col_types.get(i).copied().unwrap_or(0xfd);
            let unsigned = self.x.col_unsigned & (1u64 << (i % 64)) != 0;
            match wire::read_value(&mut r, t, unsigned) {
                Some(v) => {
                    let cut = matches!(v, Value::Bytes(_, true));
                    let text = wire::value_text(&v, &mut buf);
                    self.value(text, cut);
                }
                None => {
                    self.x.text.mark_truncated();
                    return;
                }
            }
        }
    }
}

impl Analyzer for MysqlParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        let n = self.frame(ctx, dir, data, full).min(data.len());
        let tail = data.get(n..).unwrap_or(&[]);
        let side = self.side(dir);
        side.wait = tail.len().min(u16::MAX as usize) as u16;
        side.wait_total = wire::u24(tail).map_or(0, |l| l + 4);
        n
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        self.gap(ctx, dir, len);
    }

    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        if dir == Direction::ToClient {
            self.end_of_stream(ctx);
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        self.end_of_stream(ctx);
    }
}

impl MysqlParser {
    /// Frames and decodes the packets of `data`; returns the bytes consumed.
    fn frame(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        match self.phase {
            Phase::Tls => {
                if dir == Direction::ToClient {
                    self.tls_answer(ctx, data.len());
                }
                return data.len();
            }
            Phase::Compressed | Phase::Opaque => return data.len(),
            _ => {}
        }
        let mut pos = 0usize;
        // Each turn consumes at least one byte or returns.
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or(&[]);
            let side = *self.side(dir);
            if side.skip > 0 {
                let n = (side.skip as usize).min(rest.len());
                self.side(dir).skip -= n as u32;
                pos += n;
                continue;
            }
            if side.resync {
                // Only a segment start can be checked (out of step, every
                // byte is consumed, so `data` starts a segment); a start too
                // short to judge waits for more.
                if pos == 0 && rest.len() < 5 && !full {
                    return 0;
                }
                if pos == 0 && self.plausible(dir, rest) {
                    self.side(dir).resync = false;
                } else {
                    ctx.stats.resync_skipped_bytes += rest.len() as u64;
                    return data.len();
                }
            }
            let (Some(len), Some(&seq)) = (wire::u24(rest), rest.get(3)) else {
                if full && pos == 0 {
                    return data.len();
                }
                return pos;
            };
            let total = 4 + len as usize;
            let head = if rest.len() >= total {
                rest.get(4..total).unwrap_or(&[])
            } else if full && pos == 0 {
                // Larger than a block: decode its head, skip the rest.
                rest.get(4..).unwrap_or(&[])
            } else {
                return pos;
            };
            let at = ctx.pos.wrapping_add(pos as u32);
            pos += 4 + head.len();
            self.side(dir).skip = (len as usize - head.len()) as u32;
            match dir {
                Direction::ToServer => self.client_packet(ctx, at, seq, len, head),
                Direction::ToClient => self.server_packet(ctx, seq, len, head),
            }
            if matches!(self.phase, Phase::Tls | Phase::Compressed | Phase::Opaque) {
                return data.len();
            }
        }
        pos
    }

    fn gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        if matches!(self.phase, Phase::Tls | Phase::Compressed | Phase::Opaque) {
            return;
        }
        let note = match dir {
            Direction::ToServer => Notes::REQUEST_GAP,
            Direction::ToClient => Notes::RESPONSE_GAP,
        };
        let side = *self.side(dir);
        if side.skip == 0 && side.wait_total > 0 && (side.wait as u32).saturating_add(len) <= side.wait_total {
            // The engine dropped the start of a packet it was keeping for
            // us, and the lost bytes end inside that packet: skip the rest.
            let rest = side.wait_total - side.wait as u32 - len;
            let s = self.side(dir);
            s.skip = rest;
            s.more = side.wait_total - 4 == MAX_PACKET;
            s.wait = 0;
            s.wait_total = 0;
            self.mark(ctx, dir, note);
            if dir == Direction::ToClient && self.resp == Resp::Rows {
                let h = self.front().and_then(|e| self.record(ctx, e));
                Self::with_txn(ctx, h, |x| x.num_rows += 1);
            }
            return;
        }
        if side.skip >= len && side.skip > 0 {
            // Inside a packet of known length: framing survives.
            self.side(dir).skip -= len;
            self.mark(ctx, dir, note);
            if let Some(t) = self.back().and_then(|e| self.record(ctx, e)).and_then(|h| ctx.txn(h)) {
                if dir == Direction::ToServer {
                    if let Some(x) = mysql(t) {
                        x.text.mark_truncated();
                    }
                }
            }
            return;
        }
        *self.side(dir) = Side { resync: true, ..Side::default() };
        match self.phase {
            Phase::Command => {
                if dir == Direction::ToClient {
                    // The response in progress (or all of it) is lost.
                    self.mark(ctx, dir, note);
                    if let Some(f) = self.front() {
                        let started = self
                            .record(ctx, f)
                            .and_then(|h| ctx.slot(h))
                            .is_some_and(|s| s.flags & FLAG_RESPONSE_STARTED != 0);
                        if started {
                            self.finish(ctx, Notes::empty());
                        } else {
                            if let Some(h) = self.record(ctx, f) {
                                ctx.emit_unanswered(h, note);
                            }
                            self.pop();
                        }
                    }
                } else {
                    self.mark(ctx, dir, note);
                }
            }
            Phase::Greeted | Phase::Auth => {
                self.phase = Phase::Unknown;
                self.caps_known = false;
                self.sides = [Side { resync: true, ..Side::default() }; 2];
            }
            _ => {}
        }
    }

    /// The server's stream ended: a prepare response that was waiting to
    /// see whether an EOF follows is complete.
    fn end_of_stream(&mut self, ctx: &mut Ctx<'_, '_>) {
        let waiting = match self.resp {
            Resp::PrepParamsEnd => self.prep_cols == 0,
            Resp::PrepColsEnd => true,
            _ => false,
        };
        if waiting && self.phase == Phase::Command {
            self.finish(ctx, Notes::empty());
        }
    }
}

/// Writes the Mysql fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat(
    m: &mut Object<'_, '_>,
    t: &Transaction,
    x: &MysqlTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    json::packetbeat(m, t, x, cfg)
}

/// Writes the Mysql fields of the ECS layout into `m`.
pub(crate) fn json_ecs(m: &mut Object<'_, '_>, t: &Transaction, x: &MysqlTxn, cfg: &Config) -> Result<(), JsonError> {
    json::ecs(m, t, x, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowMeta;
    use crate::pending::{FlowQueue, PendingPool, PendingSlot};
    use crate::pool::{Block, BlockPool, NONE};
    use crate::stats::Stats;
    use crate::txn::Protocol;

    /// What a test keeps of a reported transaction.
    #[derive(Clone, Debug, PartialEq)]
    struct Seen {
        method: heapless::String<16>,
        query: heapless::String<64>,
        status: Status,
        rows: u64,
        affected: u64,
        notes: Notes,
        bytes: (u64, u64),
    }

    fn seen(t: &Transaction) -> Seen {
        let Detail::Mysql(x) = &t.detail else { panic!("not mysql") };
        let text =
            |sp| heapless::String::try_from(core::str::from_utf8(x.text.get(sp)).unwrap_or("?")).unwrap_or_default();
        Seen {
            method: heapless::String::try_from(core::str::from_utf8(x.text.get(x.method)).unwrap()).unwrap(),
            query: text(x.query),
            status: t.status,
            rows: x.num_rows,
            affected: x.affected_rows,
            notes: t.notes,
            bytes: (t.bytes_in, t.bytes_out),
        }
    }

    /// Feeds a conversation (direction, bytes) cut into pieces of at most
    /// `step` bytes, through the engine's carry logic; then closes the flow.
    fn drive(conv: &[(Direction, &[u8])], step: usize, gap: Option<(usize, u32)>) -> heapless::Vec<Seen, 16> {
        let mut slots = [const { core::mem::MaybeUninit::<PendingSlot>::uninit() }; 4];
        let mut queues = [FlowQueue::EMPTY; 1];
        let mut pending = PendingPool::new(&mut slots, &mut queues);
        let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 4];
        let mut pool = BlockPool::new(&mut blocks);
        let mut stats = Stats::default();
        let cfg = Config::default();
        let meta = FlowMeta { protocol: Protocol::Mysql, ..FlowMeta::default() };
        let mut out: heapless::Vec<Seen, 16> = heapless::Vec::new();
        let mut sink = |t: &Transaction| {
            let _ = out.push(seen(t));
        };
        let mut p = MysqlParser::new();
        let mut carry = [NONE, NONE];
        let mut pos = [0u32, 0u32];
        {
            let mut ctx = Ctx::for_test(&mut pending, &mut stats, &cfg, &mut sink, &meta, Timestamp::ZERO);
            for (i, (dir, bytes)) in conv.iter().enumerate() {
                ctx.ts = Timestamp::from_micros(1000 * i as u64);
                let d = dir.index();
                if let Some((at, len)) = gap.filter(|g| g.0 == i) {
                    if carry[d] != NONE {
                        pool.free(carry[d]);
                        carry[d] = NONE;
                    }
                    p.on_gap(&mut ctx, *dir, len);
                    pos[d] = pos[d].wrapping_add(len);
                    let _ = at;
                    continue;
                }
                for chunk in bytes.chunks(step) {
                    crate::proto::feed(&mut p, &mut ctx, &mut pool, &mut carry[d], *dir, chunk, pos[d]);
                    pos[d] = pos[d].wrapping_add(chunk.len() as u32);
                }
            }
            p.on_close(&mut ctx);
            ctx.flush_flow(Notes::NO_RESPONSE);
        }
        out
    }

    fn pkt<const N: usize>(seq: u8, payload: &[u8]) -> heapless::Vec<u8, N> {
        let mut v = heapless::Vec::new();
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]).unwrap();
        v.push(seq).unwrap();
        v.extend_from_slice(payload).unwrap();
        v
    }

    const C: Direction = Direction::ToServer;
    const S: Direction = Direction::ToClient;

    #[test]
    fn every_cut_gives_the_same_transactions() {
        let greeting = {
            let mut g: heapless::Vec<u8, 128> = heapless::Vec::new();
            g.extend_from_slice(b"\x0a8.0.12\0\x15\0\0\0abcdefgh\0\xff\xff\x21\x02\0\xff\xc3\x15").unwrap();
            g.extend_from_slice(&[0; 10]).unwrap();
            g.extend_from_slice(b"ijklmnopqrst\0caching_sha2_password\0").unwrap();
            pkt::<128>(0, &g)
        };
        let login = {
            let mut l = [0u8; 40];
            let caps = wire::CLIENT_PROTOCOL_41 | wire::CLIENT_SECURE_CONNECTION | wire::CLIENT_DEPRECATE_EOF;
            l[..4].copy_from_slice(&caps.to_le_bytes());
            l[32..36].copy_from_slice(b"root");
            pkt::<64>(1, &l)
        };
        let ok = pkt::<16>(2, &[0, 0, 0, 2, 0, 0, 0]);
        let q1 = pkt::<64>(0, b"\x03 select  @@version_comment limit 1 ");
        // Column count, definition, row, OK with 0xfe (CLIENT_DEPRECATE_EOF).
        let r1 = [
            &b"\x01\x00\x00\x01\x01"[..],
            b"\x27\x00\x00\x02\x03def\x00\x00\x00\x11@@version_comment\x00\x0c\x21\x00\x18\x00\x00\x00\xfd\x00\x00\x1f\x00\x00",
            b"\x09\x00\x00\x03\x08Homebrew",
            b"\x07\x00\x00\x04\xfe\x00\x00\x02\x00\x00\x00",
        ];
        let mut r1v: heapless::Vec<u8, 128> = heapless::Vec::new();
        for p in r1 {
            r1v.extend_from_slice(p).unwrap();
        }
        let ping = pkt::<8>(0, b"\x0e");
        let pong = pkt::<16>(1, &[0, 0, 0, 2, 0, 0, 0]);
        let q2 = pkt::<64>(0, b"\x03UPDATE t SET a = 1");
        let r2 = pkt::<16>(1, &[0, 3, 0, 2, 0, 0, 0]);
        let q3 = pkt::<64>(0, b"\x02nosuchdb");
        let r3 = pkt::<64>(1, b"\xff\x19\x04#42000Unknown database 'nosuchdb'");
        let quit = pkt::<8>(0, b"\x01");
        let conv: [(Direction, &[u8]); 12] = [
            (S, &greeting),
            (C, &login),
            (S, &ok),
            (C, &q1),
            (S, &r1v),
            (C, &ping),
            (S, &pong),
            (C, &q2),
            (S, &r2),
            (C, &q3),
            (S, &r3),
            (C, &quit),
        ];
        let want = drive(&conv, usize::MAX, None);
        assert_eq!(want.len(), 3, "{want:?}");
        assert_eq!((want[0].method.as_str(), want[0].query.as_str()), ("SELECT", "select  @@version_comment limit 1"));
        assert_eq!(want[0].rows, 1);
        assert_eq!(want[0].bytes, (q1.len() as u64, r1v.len() as u64));
        assert_eq!((want[1].method.as_str(), want[1].affected), ("UPDATE", 3));
        assert_eq!(
            (want[2].method.as_str(), want[2].query.as_str(), want[2].status),
            ("USE", "USE nosuchdb", Status::Error)
        );
        for step in 1..=9 {
            assert_eq!(drive(&conv, step, None), want, "cut every {step} bytes");
        }
    }

    #[test]
    fn gaps() {
        let q = pkt::<64>(0, b"\x03SELECT a FROM t");
        let mut resp: heapless::Vec<u8, 256> = heapless::Vec::new();
        resp.extend_from_slice(&pkt::<8>(1, &[1])).unwrap();
        resp.extend_from_slice(&pkt::<64>(
            2,
            b"\x03def\x01d\x01t\x01t\x01a\x01a\x0c\x21\x00\x18\x00\x00\x00\xfd\x00\x00\x1f\x00\x00",
        ))
        .unwrap();
        resp.extend_from_slice(&pkt::<16>(3, &[0xfe, 0, 0, 2, 0])).unwrap();
        resp.extend_from_slice(&pkt::<16>(4, b"\x01x")).unwrap();
        let big_row = [b'y'; 100];
        let mut row = [0u8; 101];
        row[0] = 100;
        row[1..].copy_from_slice(&big_row);
        let row2 = pkt::<128>(5, &row);
        let end = pkt::<16>(6, &[0xfe, 0, 0, 2, 0]);
        let q2 = pkt::<64>(0, b"\x03DELETE FROM t");
        let r2 = pkt::<16>(1, &[0, 4, 0, 2, 0, 0, 0]);
        // A gap inside a row of known length: framing survives, the row and
        // the rest are counted, the loss is noted.
        let conv: [(Direction, &[u8]); 8] = [
            (C, &q),
            (S, &resp),
            (S, row2.get(..20).unwrap()),
            (S, b""),
            (S, row2.get(60..).unwrap()),
            (S, &end),
            (C, &q2),
            (S, &r2),
        ];
        let got = drive(&conv, usize::MAX, Some((3, 40)));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].rows, 2);
        assert!(got[0].notes.contains(Notes::RESPONSE_GAP));
        assert_eq!(got[1].affected, 4);
        // A gap that swallows packet boundaries: the response in progress is
        // reported with the note; the next exchange is found again.
        let got = drive(&conv, usize::MAX, Some((3, 200)));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].notes.contains(Notes::RESPONSE_GAP));
        assert_eq!((got[1].method.as_str(), got[1].affected), ("DELETE", 4));
    }

    #[test]
    fn bounded_state() {
        // Parser state lives in every flow slot: keep it small.
        assert!(core::mem::size_of::<MysqlParser>() <= 232, "{}", core::mem::size_of::<MysqlParser>());
        assert_eq!(placeholders(b"SELECT '?', \"?\", `?` FROM t WHERE a = ? -- ?\n AND b = ? /* ? */ # ?"), 2);
        assert!(known_command(COM_QUERY) && !known_command(0) && known_command(COM_STMT_BULK_EXECUTE));
        assert!(plausible_chain(&[1, 0, 0, 0, 0x0e, 1, 0, 0, 0, 0x0e], 0));
        assert!(!plausible_chain(&[1, 0, 0, 0, 0x0e, 1, 0, 0, 7, 0x0e], 0));
    }
}
