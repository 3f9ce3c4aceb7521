//! The Memcache analyzer: text and binary protocols, over TCP and UDP.
//!
//! One streaming parser per direction decides per message whether it is
//! binary (first byte `0x80` request / `0x81` response) or text, so a
//! connection may switch. Nothing needs a whole message in memory: keys,
//! kept values and stats go to the transaction's arena as they stream by.
//!
//! **Pairing.**
//! * Text over TCP: in order. A request with `noreply` (and `quit`) gets no
//!   reply: it is reported as soon as it is complete, with status OK.
//! * Binary over TCP: by `opaque` (and opcode). Quiet opcodes (`GetQ`,
//!   `SetQ`, ...) are answered only on a hit or an error: a quiet request is
//!   held until its reply, or until the reply to a later request passes it
//!   (then it is reported with status OK and no response), or until the
//!   connection ends. A non-quiet request passed over that way is reported
//!   as unanswered. `QuitQ` is reported at once.
//! * UDP: every message starts with the 8-byte frame header (request id,
//!   sequence number, datagram count, reserved); replies carry the request
//!   id of their request. The datagrams of a message are parsed as they
//!   arrive, in sequence order; a missing, duplicate or out-of-order
//!   datagram ends the message with a note (it is not buffered). A quiet
//!   request with no reply is reported as OK once `udptransactiontimeout`
//!   has passed (checked when the flow sees traffic) or when the flow ends.
//! * Multi-part replies are merged: text `VALUE ... END` (a `get` with many
//!   keys) and `STAT ... END`, binary `Stat` replies up to the empty one.
//! * Unknown text commands are reported (`UNKNOWN`, with the `line`) only
//!   with `parseunknown`; otherwise they keep their place in the queue (so
//!   that their reply does not pair with the next request) and are dropped
//!   with it. Unknown reply lines are reported as `UNKNOWN` replies.
//!
//! **Gaps.** Inside a value (text data block, binary key or body) of known
//! length the lost bytes are skipped and the transaction noted; anywhere
//! else the message in progress ends (noted) and the direction
//! resynchronises at the next valid command or reply line, or binary header.
//!
//! **Bounds.** Lines longer than a stream block (4 KiB) are cut and the rest
//! skipped; text fields share a [`MEMCACHE_TEXT_CAP`]-byte arena; at most
//! [`MAX_KEYS`] keys, [`MAX_VALUES`] values and [`MAX_STATS`] stats are kept
//! per message; UDP datagram boundaries inside a line are bridged with at
//! most [`UDP_CARRY_CAP`] bytes. Cuts are flagged. `send_request` and
//! `send_response` are ignored (Packetbeat's memcache has no raw text).

pub mod json;
pub(crate) mod text;
pub mod txn;

pub use txn::{
    Command, Kind, MemcacheTxn, Msg, ProtocolType, Stat, MAX_KEYS, MAX_STATS, MAX_VALUES, MEMCACHE_TEXT_CAP,
    UDP_CARRY_CAP,
};

use crate::json::{JsonError, Object};

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::pending::{Handle, PendingSlot, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::pool::BLOCK_SIZE;
use crate::proto::{Analyzer, Ctx};
use crate::text::{find_byte, Span};
use crate::time::Duration;
use crate::txn::{Detail, Notes, Status, Transaction, Transport};
use text::{Reply, Syntax};

/// Memcache analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcacheConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Parse unknown commands (`parseunknown`).
    pub parseunknown: bool,
    /// Values reported per response: 0 none, -1 all (`maxvalues`).
    pub maxvalues: i32,
    /// Bytes kept per reported value, 0 for no limit within capacity (`maxbytespervalue`).
    pub maxbytespervalue: u32,
    /// How long UDP datagrams of one request are awaited (`udptransactiontimeout`).
    pub udptransactiontimeout: Duration,
}

impl Default for MemcacheConfig {
    fn default() -> Self {
        MemcacheConfig {
            common: Common::on_ports(&[11211]),
            parseunknown: false,
            maxvalues: 0,
            maxbytespervalue: 0,
            udptransactiontimeout: Duration::from_secs(10),
        }
    }
}

// Bits of `PendingSlot::flags` this analyzer uses for its own bookkeeping
// (the engine defines 0x01..0x04 and 0x80, FLAG_RESPONSE_OPTIONAL).
/// A binary quiet request: a reply may never come, and that is fine.
const FLAG_QUIET: u8 = crate::pending::FLAG_RESPONSE_OPTIONAL;
/// No reply will come at all (text `noreply`, `quit`, binary `QuitQ`).
const FLAG_NOREPLY: u8 = 0x40;
/// An unknown command with `parseunknown` off: keeps its place in the
/// queue, then is dropped instead of reported.
const FLAG_HIDDEN: u8 = 0x20;

/// Binary message header size.
const HEADER: usize = 24;
/// Most pass-over steps per reply (bounded by the pool anyway).
const PASS_GUARD: usize = 4096;

/// Where a direction's parser is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Between messages.
    #[default]
    Idle,
    /// Inside a multi-line text reply (`VALUE`/`STAT` lines until `END`).
    Multi,
    /// Inside a text data block of `remaining` bytes.
    Data,
    /// Expecting the CRLF after a data block (`remaining`: bytes of it seen).
    DataEnd,
    /// Reading a binary key of `remaining` bytes.
    BinKey,
    /// Reading a binary value of `remaining` bytes.
    BinValue,
}

/// What the bytes of a binary value are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ValueUse {
    /// Counted, not kept (SASL data).
    #[default]
    Discard,
    /// An item value: counted, kept per `maxvalues`.
    Data,
    /// The 8-byte result of an increment or decrement.
    Counter,
    /// A version string.
    Version,
    /// The value of a `Stat` reply (its key is the name).
    StatValue,
    /// The message of an error reply.
    ErrorMsg,
}

/// Parser state of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    phase: Phase,
    /// After a gap or error: skip until a valid message start.
    resync: bool,
    /// Discard bytes up to the next LF (the rest of a cut line).
    skip_line: bool,
    /// The message in progress (or last one) is binary.
    binary: bool,
    /// A binary `Stat` reply is open: more `Stat` replies may follow.
    stats_open: bool,
    /// Bytes were lost between messages: the next message is noted.
    gap_pending: bool,
    /// The record of the message in progress.
    msg: Option<Handle>,
    /// Wire bytes of the message in progress (saturating).
    msg_bytes: u32,
    remaining: u32,
    /// Bytes of the current value still to keep (0: keep nothing more).
    keep: u32,
    /// The current value is kept in the message's value list.
    keeping: bool,
    /// After a text data block: back to `Multi` (a reply) or done (a request).
    in_reply: bool,
    // Binary message in progress.
    opcode: u8,
    opaque: u32,
    status: u16,
    value_len: u32,
    value_use: ValueUse,
    /// Key (or stat name) of the binary message, as stored.
    key: Span,
    /// Bytes of the counter result seen (it accumulates in the record).
    num_len: u8,
    // UDP message in progress in this direction.
    udp_active: bool,
    /// The rest of the UDP message is ignored (lost datagram, no record).
    udp_skip: bool,
    udp_id: u16,
    udp_next: u16,
    udp_total: u16,
}

impl Side {
    const NEW: Side = Side {
        phase: Phase::Idle,
        resync: false,
        skip_line: false,
        binary: false,
        stats_open: false,
        gap_pending: false,
        msg: None,
        msg_bytes: 0,
        remaining: 0,
        keep: 0,
        keeping: false,
        in_reply: false,
        opcode: 0,
        opaque: 0,
        status: 0,
        value_len: 0,
        value_use: ValueUse::Discard,
        key: Span::EMPTY,
        num_len: 0,
        udp_active: false,
        udp_skip: false,
        udp_id: 0,
        udp_next: 0,
        udp_total: 0,
    };
}

/// Per-flow Memcache parser state (both directions).
#[derive(Clone, Debug, Default)]
pub struct MemcacheParser {
    sides: [Side; 2],
    /// The request record the UDP reply in progress belongs to (found by
    /// request id when its first datagram came).
    udp_rec: Option<Handle>,
}

fn mc(t: &mut Transaction) -> Option<&mut MemcacheTxn> {
    match &mut t.detail {
        Detail::Memcache(m) => Some(m),
        _ => None,
    }
}

fn mc_ref(s: &PendingSlot) -> Option<&MemcacheTxn> {
    match &s.txn.detail {
        Detail::Memcache(m) => Some(m),
        _ => None,
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// A record waiting for its reply.
fn awaiting(s: &PendingSlot) -> bool {
    s.flags & (FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED | FLAG_NOREPLY) == 0 && mc_ref(s).is_some()
}

fn dir_index(dir: Direction) -> u8 {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

fn gap_note(dir: Direction) -> Notes {
    match dir {
        Direction::ToServer => Notes::REQUEST_GAP,
        Direction::ToClient => Notes::RESPONSE_GAP,
    }
}

/// Appends `key` to `keys` (or flags the cut).
fn push_key(m: &mut MemcacheTxn, request: bool, key: &[u8]) {
    let span = m.text.push(key);
    let msg = if request { &mut m.request } else { &mut m.response };
    if msg.keys.push(span).is_err() {
        m.text.mark_truncated();
    }
}

/// Status of a transaction whose reply is complete.
fn reply_status(m: &MemcacheTxn) -> Status {
    let r = &m.response;
    if r.binary {
        return match r.status {
            0 => Status::Ok,
            s if s > 0x80 => Status::ServerError,
            _ => Status::Error,
        };
    }
    match r.command {
        Command::ClientError | Command::Same => Status::ClientError,
        Command::ServerError
        | Command::Busy
        | Command::BadClass
        | Command::NoSpare
        | Command::NotFull
        | Command::Unsafe => Status::ServerError,
        Command::Error | Command::NotStored | Command::NotFound | Command::Unknown => Status::Error,
        _ => Status::Ok,
    }
}

/// Hands the record to the sink, or drops it when it is hidden.
fn finish(ctx: &mut Ctx<'_, '_>, h: Handle) {
    match ctx.pending.get(h) {
        Some(s) if s.flags & FLAG_HIDDEN != 0 => ctx.pending.release(h),
        Some(_) => ctx.emit(h),
        None => {}
    }
}

/// Reports a request that got no reply and will get none (passed over by
/// a later reply, or the flow ended).
fn finish_unanswered(ctx: &mut Ctx<'_, '_>, h: Handle) {
    let Some(s) = ctx.slot(h) else { return };
    if s.flags & (FLAG_QUIET | FLAG_NOREPLY | FLAG_HIDDEN) == 0 {
        s.txn.status = Status::Error;
        s.txn.notes.insert(Notes::NO_RESPONSE);
        ctx.stats.unmatched_requests += 1;
    }
    finish(ctx, h);
}

/// Reports the records of this flow queued before `target` that still wait
/// for a reply: the server answers in order, so they will get none.
/// `only_quiet`: pass over quiet (and hidden) requests only.
fn pass_over(ctx: &mut Ctx<'_, '_>, target: Handle, only_quiet: bool) {
    for _ in 0..PASS_GUARD {
        let flow = ctx.flow;
        let next = ctx.pending.find_in_flow(flow, |h, s| {
            if h == target {
                Some(None)
            } else if awaiting(s) && (!only_quiet || s.flags & (FLAG_QUIET | FLAG_HIDDEN) != 0) {
                Some(Some(h))
            } else {
                None
            }
        });
        match next {
            Some(Some(h)) => finish_unanswered(ctx, h),
            _ => return,
        }
    }
}

impl MemcacheParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        MemcacheParser { sides: [Side::NEW, Side::NEW], udp_rec: None }
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.sides[0],
            Direction::ToClient => &mut self.sides[1],
        }
    }

    /// Counts `n` wire bytes for `dir`'s message in progress.
    fn add_bytes(&mut self, dir: Direction, n: usize) {
        let s = self.side(dir);
        s.msg_bytes = s.msg_bytes.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// The Memcache section of the record of `dir`'s message in progress.
    fn cur<'c>(&mut self, ctx: &'c mut Ctx<'_, '_>, dir: Direction) -> Option<&'c mut MemcacheTxn> {
        let h = self.side(dir).msg?;
        ctx.txn(h).and_then(mc)
    }

    /// Sets `note` (and the truncation flag) on `dir`'s message in progress.
    fn mark(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, note: Notes, truncated: bool) {
        let Some(h) = self.side(dir).msg else { return };
        if let Some(t) = ctx.txn(h) {
            t.notes.insert(note);
            if truncated {
                if let Some(m) = mc(t) {
                    m.text.mark_truncated();
                }
            }
        }
    }

    // ---- records ----------------------------------------------------------

    /// Starts a request record; `None` when the pool cannot give one.
    fn begin_request(&mut self, ctx: &mut Ctx<'_, '_>, binary: bool, raw_len: usize) -> Option<Handle> {
        let ts = ctx.ts;
        let h = ctx.begin(ts)?;
        let pos = ctx.pos;
        if let Some(s) = ctx.slot(h) {
            // At or before the request's first byte (the start of the data
            // handed over): enough to tell replies sent before it.
            s.seq = pos;
        }
        let udp = ctx.meta.transport == Transport::Udp;
        let udp_id = udp.then_some(self.side(Direction::ToServer).udp_id);
        if let Some(t) = ctx.txn(h) {
            MemcacheTxn::init(t);
            if let Some(m) = mc(t) {
                m.protocol = if binary { ProtocolType::Binary } else { ProtocolType::Text };
                m.request.present = true;
                m.request.binary = binary;
                m.udp_id = udp_id;
            }
        }
        let s = self.side(Direction::ToServer);
        s.msg = Some(h);
        s.msg_bytes = u32::try_from(raw_len).unwrap_or(u32::MAX);
        s.binary = binary;
        if core::mem::take(&mut s.gap_pending) {
            if let Some(t) = ctx.txn(h) {
                t.notes.insert(Notes::REQUEST_GAP);
            }
        }
        Some(h)
    }

    /// Finds the record a reply belongs to (or makes a response-only one)
    /// and marks the reply as started.
    fn begin_reply(&mut self, ctx: &mut Ctx<'_, '_>, bin: Option<(u8, u32)>, raw_len: usize) -> Option<Handle> {
        let udp = ctx.meta.transport == Transport::Udp;
        let found = if udp {
            let cand = self.udp_rec.take();
            let ok = cand.and_then(|h| ctx.pending.get(h)).is_some_and(awaiting);
            if let (true, Some(h)) = (ok, cand) {
                pass_over(ctx, h, true);
                Some(h)
            } else {
                None
            }
        } else if let Some((op, opaque)) = bin {
            let h = ctx.find(|s| {
                awaiting(s)
                    && mc_ref(s)
                        .is_some_and(|m| m.request.binary && m.request.opaque == opaque && m.request.opcode == op)
            });
            if let Some(h) = h {
                pass_over(ctx, h, false);
            }
            h
        } else {
            ctx.find(awaiting)
        };
        let ts = ctx.ts;
        let h = match found {
            Some(h) => h,
            None => {
                let h = ctx.begin(ts)?;
                ctx.stats.unmatched_responses += 1;
                if let Some(s) = ctx.slot(h) {
                    s.flags |= FLAG_RESPONSE_ONLY;
                    MemcacheTxn::init(&mut s.txn);
                    s.txn.notes.insert(Notes::NO_REQUEST);
                }
                h
            }
        };
        let gap = core::mem::take(&mut self.side(Direction::ToClient).gap_pending);
        if let Some(s) = ctx.slot(h) {
            s.flags |= FLAG_RESPONSE_STARTED;
            s.txn.response_ts = Some(ts);
            if gap {
                s.txn.notes.insert(Notes::RESPONSE_GAP);
            }
            if let Some(m) = mc(&mut s.txn) {
                m.response.reset();
                m.response.present = true;
                m.response.binary = bin.is_some();
                if m.protocol == ProtocolType::Unknown {
                    m.protocol = if bin.is_some() { ProtocolType::Binary } else { ProtocolType::Text };
                }
            }
        }
        let s = self.side(Direction::ToClient);
        s.msg = Some(h);
        s.msg_bytes = u32::try_from(raw_len).unwrap_or(u32::MAX);
        s.binary = bin.is_some();
        Some(h)
    }

    /// The request in progress is complete.
    fn finish_request(&mut self, ctx: &mut Ctx<'_, '_>) {
        let s = self.side(Direction::ToServer);
        s.phase = Phase::Idle;
        let bytes = s.msg_bytes as u64;
        let Some(h) = s.msg.take() else { return };
        let Some(slot) = ctx.slot(h) else { return };
        slot.flags |= FLAG_REQUEST_DONE;
        slot.txn.bytes_in = bytes;
        if slot.flags & FLAG_NOREPLY != 0 && slot.flags & FLAG_RESPONSE_STARTED == 0 {
            let bad = slot.txn.notes.contains(Notes::REQUEST_MALFORMED);
            slot.txn.status = if bad { Status::Error } else { Status::Ok };
            finish(ctx, h);
        }
    }

    /// The reply in progress is complete: the transaction is reported.
    fn finish_reply(&mut self, ctx: &mut Ctx<'_, '_>) {
        let s = self.side(Direction::ToClient);
        s.phase = Phase::Idle;
        s.stats_open = false;
        let bytes = s.msg_bytes as u64;
        let Some(h) = s.msg.take() else { return };
        let Some(slot) = ctx.slot(h) else { return };
        slot.txn.bytes_out = bytes;
        let only = slot.flags & FLAG_RESPONSE_ONLY != 0;
        let status = mc(&mut slot.txn).map_or(Status::Error, |m| reply_status(m));
        slot.txn.status = if only { Status::Error } else { status };
        finish(ctx, h);
    }

    /// Ends `dir`'s message in progress, noting `note`.
    fn abort(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, note: Notes) {
        let s = *self.side(dir);
        if s.msg.is_none() {
            self.side(dir).phase = Phase::Idle;
            return;
        }
        self.mark(ctx, dir, note, false);
        match dir {
            Direction::ToServer => self.finish_request(ctx),
            Direction::ToClient => self.finish_reply(ctx),
        }
    }

    // ---- values -----------------------------------------------------------

    /// A value of `len` bytes starts in `dir`'s message: counts it and
    /// decides how much of it is kept.
    fn begin_value(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u64) {
        let maxvalues = ctx.cfg.memcache.maxvalues;
        let per = ctx.cfg.memcache.maxbytespervalue;
        let request = dir == Direction::ToServer;
        let mut keeping = false;
        let mut keep = 0u32;
        if let Some(m) = self.cur(ctx, dir) {
            let msg = if request { &mut m.request } else { &mut m.response };
            msg.count_values = Some(msg.count_values.unwrap_or(0).saturating_add(1));
            msg.bytes = Some(msg.bytes.unwrap_or(0).saturating_add(len));
            let wanted = match maxvalues {
                0 => false,
                n if n < 0 => true,
                n => msg.values.len() < n as usize,
            };
            if wanted {
                if msg.values.push(Span::EMPTY).is_ok() {
                    keeping = true;
                    let cap = if per == 0 { u32::MAX } else { per };
                    keep = u32::try_from(len).unwrap_or(u32::MAX).min(cap);
                } else {
                    m.text.mark_truncated();
                }
            }
        }
        let s = self.side(dir);
        s.keeping = keeping;
        s.keep = keep;
    }

    /// Bytes of the current value.
    fn value_bytes(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, bytes: &[u8]) {
        let s = *self.side(dir);
        if !s.keeping || s.keep == 0 {
            return;
        }
        let n = bytes.len().min(s.keep as usize);
        let piece = bytes.get(..n).unwrap_or(&[]);
        if let Some(m) = self.cur(ctx, dir) {
            let request = dir == Direction::ToServer;
            let last = {
                let msg = if request { &m.request } else { &m.response };
                msg.values.last().copied()
            };
            if let Some(v) = last {
                let grown = m.text.extend(v, piece);
                let msg = if request { &mut m.request } else { &mut m.response };
                if let Some(l) = msg.values.last_mut() {
                    *l = grown;
                }
            }
        }
        self.side(dir).keep = s.keep - n as u32;
    }

    // ---- text -------------------------------------------------------------

    fn text_line(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, raw: &[u8], cut: bool) {
        let line = strip_eol(raw);
        match dir {
            Direction::ToServer => self.text_request(ctx, raw, line, cut),
            Direction::ToClient => self.text_reply(ctx, raw, line, cut),
        }
    }

    fn text_request(&mut self, ctx: &mut Ctx<'_, '_>, raw: &[u8], line: &[u8], cut: bool) {
        let dir = Direction::ToServer;
        if line.is_empty() {
            // Blank lines between commands: tolerated, not counted.
            return;
        }
        let word = text::tokens(line).next().unwrap_or(&[]);
        let known = text::request_command(word);
        let plausible = known.is_some() || text::plausible_command(word);
        if !plausible || (known.is_none() && self.side(dir).resync) {
            let s = self.side(dir);
            if !s.resync {
                ctx.stats.parse_errors += 1;
                s.resync = true;
            }
            ctx.stats.resync_skipped_bytes += raw.len() as u64;
            return;
        }
        self.side(dir).resync = false;
        let Some(h) = self.begin_request(ctx, false, raw.len()) else {
            self.side(dir).resync = true;
            return;
        };
        let parseunknown = ctx.cfg.memcache.parseunknown;
        let mut data = None;
        let mut flags = 0u8;
        let mut malformed = false;
        if let Some(m) = ctx.txn(h).and_then(mc) {
            match known {
                Some((cmd, kind, syn)) => {
                    let r = apply_request(m, line, cmd, kind, syn, parseunknown);
                    data = r.data;
                    if r.noreply {
                        flags |= FLAG_NOREPLY;
                    }
                    if r.hidden {
                        flags |= FLAG_HIDDEN;
                    }
                    malformed = r.malformed;
                }
                None => {
                    m.request.command = Command::Unknown;
                    m.request.kind = Kind::Unknown;
                    if parseunknown {
                        m.request.line = Some(m.text.push(line));
                    } else {
                        flags |= FLAG_HIDDEN;
                    }
                }
            }
            if cut {
                m.text.mark_truncated();
            }
        }
        if malformed {
            ctx.stats.parse_errors += 1;
        }
        if let Some(s) = ctx.slot(h) {
            s.flags |= flags;
            if malformed {
                s.txn.notes.insert(Notes::REQUEST_MALFORMED);
            }
        }
        if data.is_some_and(|n| n > u32::MAX as u64) {
            // Larger than memcached could ever accept: the data block
            // cannot be followed.
            data = None;
            self.mark(ctx, dir, Notes::REQUEST_MALFORMED, false);
            self.side(dir).resync = true;
        }
        match data.map(|n| n as u32) {
            Some(n) => {
                self.begin_value(ctx, dir, n as u64);
                let s = self.side(dir);
                s.in_reply = false;
                s.remaining = n;
                s.phase = Phase::Data;
            }
            None => self.finish_request(ctx),
        }
    }

    fn text_reply(&mut self, ctx: &mut Ctx<'_, '_>, raw: &[u8], line: &[u8], cut: bool) {
        let dir = Direction::ToClient;
        let reply = text::classify_reply(line);
        if self.side(dir).stats_open {
            // A binary stats reply never got its terminator.
            self.abort(ctx, dir, Notes::RESPONSE_MALFORMED);
        }
        if self.side(dir).phase == Phase::Multi {
            self.add_bytes(dir, raw.len());
            match reply {
                Reply::Value { key, flags, bytes, cas } => {
                    self.value_line(ctx, key, flags, bytes, cas, cut);
                    return;
                }
                Reply::Stat { name, value } => {
                    if let Some(m) = self.cur(ctx, dir) {
                        push_stat(m, name, value);
                    }
                    return;
                }
                Reply::End => {
                    self.finish_reply(ctx);
                    return;
                }
                _ => {
                    // Not part of the multi-line reply: that one ended early,
                    // and the stream is out of step (after a gap, this may be
                    // value bytes): only a plausible reply start goes on.
                    let s = self.side(dir);
                    s.msg_bytes = s.msg_bytes.saturating_sub(u32::try_from(raw.len()).unwrap_or(u32::MAX));
                    self.abort(ctx, dir, Notes::RESPONSE_MALFORMED);
                    self.side(dir).resync = true;
                }
            }
        }
        if line.is_empty() {
            return;
        }
        if reply == Reply::Unknown && self.side(dir).resync {
            ctx.stats.resync_skipped_bytes += raw.len() as u64;
            return;
        }
        if self.side(dir).resync && ctx.meta.transport == Transport::Tcp {
            // After lost reply bytes: a line the server sent before it had
            // received the oldest waiting request (its ACK says so) is the
            // rest of an earlier reply, not the start of this one.
            if let (Some(ack), Some(h)) = (ctx.ack, ctx.find(awaiting)) {
                let req_start = ctx.pending.get(h).map_or(ack, |s| s.seq);
                if crate::reasm::seq_diff(ack, req_start) <= 0 {
                    ctx.stats.resync_skipped_bytes += raw.len() as u64;
                    return;
                }
            }
        }
        self.side(dir).resync = false;
        let Some(_h) = self.begin_reply(ctx, None, raw.len()) else {
            self.side(dir).resync = true;
            return;
        };
        if let Some(m) = self.cur(ctx, dir) {
            if cut {
                m.text.mark_truncated();
            }
            let r = &mut m.response;
            match reply {
                Reply::Value { .. } => {
                    r.command = Command::Value;
                    r.kind = Kind::Load;
                }
                Reply::End => {
                    r.command = Command::End;
                    r.kind = Kind::Load;
                }
                Reply::Stat { .. } => {
                    r.command = Command::Stat;
                    r.kind = Kind::Stats;
                }
                Reply::Counter(v) => {
                    r.command = Command::CounterOp;
                    r.kind = Kind::Counter;
                    r.value = Some(v);
                }
                Reply::Word(c, k, msg) => {
                    r.command = c;
                    r.kind = k;
                    if let Some(t) = msg {
                        let sp = m.text.push(t);
                        m.response.error_msg = Some(sp);
                    }
                }
                Reply::Version(v) => {
                    r.command = Command::VersionReply;
                    r.kind = Kind::Info;
                    let sp = m.text.push(v);
                    m.response.version = Some(sp);
                }
                Reply::Unknown => {
                    r.command = Command::Unknown;
                    r.kind = Kind::Unknown;
                    let sp = m.text.push(line);
                    m.response.line = Some(sp);
                }
            }
        }
        match reply {
            Reply::Value { key, flags, bytes, cas } => {
                self.side(dir).phase = Phase::Multi;
                self.value_line(ctx, key, flags, bytes, cas, cut);
            }
            Reply::Stat { name, value } => {
                self.side(dir).phase = Phase::Multi;
                if let Some(m) = self.cur(ctx, dir) {
                    push_stat(m, name, value);
                }
            }
            _ => self.finish_reply(ctx),
        }
    }

    /// A `VALUE` line of a retrieval reply.
    fn value_line(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        key: &[u8],
        flags: Option<u32>,
        bytes: Option<u64>,
        cas: Option<u64>,
        cut: bool,
    ) {
        let dir = Direction::ToClient;
        if let Some(m) = self.cur(ctx, dir) {
            push_key(m, false, key);
            let r = &mut m.response;
            if r.flags.is_none() {
                r.flags = flags;
            }
            if r.cas.is_none() {
                r.cas = cas;
            }
            if cut {
                m.text.mark_truncated();
            }
        }
        match bytes.and_then(|n| u32::try_from(n).ok()) {
            Some(n) if !cut => {
                self.begin_value(ctx, dir, n as u64);
                let s = self.side(dir);
                s.in_reply = true;
                s.remaining = n;
                s.phase = Phase::Data;
            }
            _ => {
                ctx.stats.parse_errors += 1;
                self.abort(ctx, dir, Notes::RESPONSE_MALFORMED);
                self.side(dir).resync = true;
            }
        }
    }

    /// The CRLF after a data block is done (or missing).
    fn data_done(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        if self.side(dir).in_reply {
            self.side(dir).phase = Phase::Multi;
        } else {
            self.finish_request(ctx);
        }
    }

    // ---- binary -----------------------------------------------------------

    /// A binary header (+ extras) at the start of `data`; returns how many
    /// bytes it took: `HEADER + extras`, or 1 when it is not a valid header
    /// (the byte is skipped and the direction resynchronises).
    fn bin_header(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) -> usize {
        let b = |i: usize| data.get(i).copied().unwrap_or(0);
        let be16 = |i: usize| u16::from_be_bytes([b(i), b(i + 1)]);
        let be32 = |i: usize| u32::from_be_bytes([b(i), b(i + 1), b(i + 2), b(i + 3)]);
        let magic = b(0);
        let opcode = b(1);
        let keylen = be16(2) as u64;
        let extlen = b(4) as u64;
        let status_or_vb = be16(6);
        let body = be32(8) as u64;
        let opaque = be32(12);
        let cas = u64::from_be_bytes([b(16), b(17), b(18), b(19), b(20), b(21), b(22), b(23)]);
        let want_magic = if dir == Direction::ToServer { 0x80 } else { 0x81 };
        let resyncing = self.side(dir).resync;
        let plausible = magic == want_magic
            && keylen + extlen <= body
            && (!resyncing || (b(5) == 0 && !txn::opcode_info(opcode).0.is_empty()));
        if !plausible {
            let s = self.side(dir);
            if !s.resync {
                ctx.stats.parse_errors += 1;
                s.resync = true;
                s.binary = true;
            }
            ctx.stats.resync_skipped_bytes += 1;
            return 1;
        }
        self.side(dir).resync = false;
        let taken = HEADER + extlen as usize;
        let extras = data.get(HEADER..taken).unwrap_or(&[]);
        let value_len = u32::try_from(body - keylen - extlen).unwrap_or(u32::MAX);
        let (_, cmd, kind) = txn::opcode_info(opcode);
        let quiet = txn::is_quiet_opcode(opcode);
        match dir {
            Direction::ToServer => {
                let Some(h) = self.begin_request(ctx, true, taken) else {
                    self.side(dir).resync = true;
                    return taken;
                };
                let mut flags = 0;
                if opcode == 0x17 {
                    flags |= FLAG_NOREPLY;
                } else if quiet {
                    flags |= FLAG_QUIET;
                }
                if let Some(s) = ctx.slot(h) {
                    s.flags |= flags;
                }
                if let Some(m) = ctx.txn(h).and_then(mc) {
                    let r = &mut m.request;
                    r.command = cmd;
                    r.kind = kind;
                    r.opcode = opcode;
                    r.opaque = opaque;
                    r.vbucket = status_or_vb;
                    r.quiet = quiet;
                    r.cas = (cas != 0).then_some(cas);
                    request_extras(r, opcode, extras);
                }
            }
            Direction::ToClient => {
                let s = *self.side(dir);
                let continues = s.stats_open && s.msg.is_some() && opcode == 0x10 && s.opaque == opaque;
                if continues {
                    self.add_bytes(dir, taken);
                } else {
                    if s.stats_open {
                        self.abort(ctx, dir, Notes::RESPONSE_MALFORMED);
                    }
                    if self.begin_reply(ctx, Some((opcode, opaque)), taken).is_none() {
                        self.side(dir).resync = true;
                        return taken;
                    }
                    if let Some(m) = self.cur(ctx, dir) {
                        let r = &mut m.response;
                        r.command = cmd;
                        r.kind = kind;
                        r.opcode = opcode;
                        r.opaque = opaque;
                        r.status = status_or_vb;
                        r.cas = (cas != 0).then_some(cas);
                        if kind == Kind::Load && extras.len() >= 4 {
                            r.flags = Some(be32(HEADER));
                        }
                    }
                }
            }
        }
        let value_use = match dir {
            Direction::ToServer if kind == Kind::Auth => ValueUse::Discard,
            Direction::ToServer => ValueUse::Data,
            Direction::ToClient if status_or_vb != 0 => ValueUse::ErrorMsg,
            Direction::ToClient => match cmd {
                Command::Incr | Command::Decr => ValueUse::Counter,
                Command::Version => ValueUse::Version,
                Command::Stats => ValueUse::StatValue,
                _ => ValueUse::Data,
            },
        };
        let s = self.side(dir);
        s.binary = true;
        s.opcode = opcode;
        s.opaque = opaque;
        s.status = status_or_vb;
        s.value_len = value_len;
        s.value_use = value_use;
        s.key = Span::EMPTY;
        s.num_len = 0;
        s.keeping = false;
        if keylen > 0 {
            s.remaining = keylen as u32;
            s.phase = Phase::BinKey;
        } else {
            self.key_done(ctx, dir);
        }
        taken
    }

    /// Bytes of a binary key.
    fn key_bytes(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, bytes: &[u8]) {
        let key = self.side(dir).key;
        if let Some(m) = self.cur(ctx, dir) {
            let k = m.text.extend(key, bytes);
            self.side(dir).key = k;
        }
    }

    /// The binary key is complete: the value (if any) follows.
    fn key_done(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        let s = *self.side(dir);
        let stat = dir == Direction::ToClient && s.value_use == ValueUse::StatValue;
        if stat && !s.key.is_empty() {
            let mut kept = false;
            if let Some(m) = self.cur(ctx, dir) {
                kept = m.stats.push(Stat { name: s.key, value: Span::EMPTY }).is_ok();
                if !kept {
                    m.text.mark_truncated();
                }
            }
            self.side(dir).keeping = kept;
        }
        if !s.key.is_empty() && !stat {
            let request = dir == Direction::ToServer;
            if let Some(m) = self.cur(ctx, dir) {
                let msg = if request { &mut m.request } else { &mut m.response };
                if msg.keys.push(s.key).is_err() {
                    m.text.mark_truncated();
                }
                if request {
                    m.keys_total = m.keys_total.saturating_add(1);
                }
            }
        }
        if s.value_len > 0 {
            if s.value_use == ValueUse::Data || s.value_use == ValueUse::Discard {
                self.begin_value(ctx, dir, s.value_len as u64);
                if s.value_use == ValueUse::Discard {
                    self.side(dir).keeping = false;
                }
            }
            let side = self.side(dir);
            side.remaining = s.value_len;
            side.phase = Phase::BinValue;
        } else {
            self.bin_done(ctx, dir);
        }
    }

    /// Bytes of a binary value.
    fn bin_value_bytes(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, bytes: &[u8]) {
        let s = *self.side(dir);
        match s.value_use {
            ValueUse::Data => self.value_bytes(ctx, dir, bytes),
            ValueUse::Discard => {}
            ValueUse::Counter => {
                let mut len = s.num_len;
                if let Some(m) = self.cur(ctx, dir) {
                    for &c in bytes {
                        if len < 8 {
                            let v = m.response.value.unwrap_or(0);
                            m.response.value = Some((v << 8) | c as u64);
                            len += 1;
                        }
                    }
                }
                self.side(dir).num_len = len;
            }
            ValueUse::Version | ValueUse::ErrorMsg => {
                if let Some(m) = self.cur(ctx, dir) {
                    let field =
                        if s.value_use == ValueUse::Version { m.response.version } else { m.response.error_msg };
                    let t = m.text.extend(field.unwrap_or(Span::EMPTY), bytes);
                    if s.value_use == ValueUse::Version {
                        m.response.version = Some(t);
                    } else {
                        m.response.error_msg = Some(t);
                    }
                }
            }
            ValueUse::StatValue if s.keeping => {
                if let Some(m) = self.cur(ctx, dir) {
                    if let Some(v) = m.stats.last().map(|st| st.value) {
                        let t = m.text.extend(v, bytes);
                        if let Some(st) = m.stats.last_mut() {
                            st.value = t;
                        }
                    }
                }
            }
            ValueUse::StatValue => {}
        }
    }

    /// A binary message is complete.
    fn bin_done(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        let s = *self.side(dir);
        self.side(dir).phase = Phase::Idle;
        if dir == Direction::ToServer {
            self.finish_request(ctx);
            return;
        }
        let mut stats_more = false;
        if let Some(m) = self.cur(ctx, dir) {
            match s.value_use {
                // A counter reply is 8 bytes; anything else is not a number.
                ValueUse::Counter if s.num_len != 8 => m.response.value = None,
                ValueUse::Version if m.response.version.is_none() => m.response.version = Some(Span::EMPTY),
                ValueUse::StatValue => stats_more = !s.key.is_empty(),
                _ => {}
            }
        }
        if stats_more {
            self.side(dir).stats_open = true;
        } else {
            self.finish_reply(ctx);
        }
    }

    // ---- stream -----------------------------------------------------------

    /// Ends the message in progress of `dir` because the stream ended.
    fn end_of_stream(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        let s = *self.side(dir);
        self.side(dir).skip_line = false;
        if s.msg.is_none() {
            self.side(dir).phase = Phase::Idle;
            return;
        }
        let note = match dir {
            Direction::ToServer => Notes::REQUEST_MALFORMED,
            Direction::ToClient => Notes::RESPONSE_INCOMPLETE,
        };
        self.abort(ctx, dir, note);
    }

    /// Quiet requests over UDP that have waited `udptransactiontimeout`
    /// are reported without a reply.
    fn expire_quiet(&mut self, ctx: &mut Ctx<'_, '_>) {
        let now = ctx.ts;
        let timeout = ctx.cfg.memcache.udptransactiontimeout;
        for _ in 0..PASS_GUARD {
            let h = ctx.find(|s| awaiting(s) && s.flags & FLAG_QUIET != 0 && now.since(s.txn.ts) >= timeout);
            match h {
                Some(h) => finish_unanswered(ctx, h),
                None => return,
            }
        }
    }

    /// The record that holds the UDP carry of `dir`.
    fn carry_holder(&self, dir: Direction) -> Option<Handle> {
        let s = match dir {
            Direction::ToServer => &self.sides[0],
            Direction::ToClient => &self.sides[1],
        };
        match dir {
            Direction::ToServer => s.msg,
            Direction::ToClient => s.msg.or(self.udp_rec),
        }
    }

    /// Feeds one UDP datagram's payload through the stream parser, joining
    /// it with the piece of the previous datagram that was cut mid-line.
    fn feed_udp(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, payload: &[u8], last: bool) {
        let mut buf = [0u8; BLOCK_SIZE];
        let mut used = 0usize;
        if let Some(h) = self.carry_holder(dir) {
            if let Some(m) = ctx.txn(h).and_then(mc) {
                if m.carry_dir == dir_index(dir) {
                    let n = m.carry.len().min(BLOCK_SIZE);
                    if let (Some(dst), Some(src)) = (buf.get_mut(..n), m.carry.get(..n)) {
                        dst.copy_from_slice(src);
                        used = n;
                    }
                }
                m.carry.clear();
            }
        }
        let mut data = payload;
        let mut guard = payload.len() + 2 * (payload.len() / BLOCK_SIZE + 2);
        while guard > 0 {
            guard -= 1;
            let take = (BLOCK_SIZE - used).min(data.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(used..used + take), data.get(..take)) {
                dst.copy_from_slice(src);
            }
            data = data.get(take..).unwrap_or(&[]);
            used += take;
            // The last datagram of a message has nothing after it: whatever is
            // left must be taken now (as a cut line).
            let full = used == BLOCK_SIZE || (last && data.is_empty());
            let window = buf.get(..used).unwrap_or(&[]);
            let mut n = if used > 0 { self.on_data(ctx, dir, window, full).min(used) } else { 0 };
            if n == 0 && full && used > 0 {
                ctx.stats.stream_bytes_skipped += used as u64;
                n = used;
            }
            buf.copy_within(n..used, 0);
            used -= n;
            if data.is_empty() && (used == 0 || !full || n == 0) {
                break;
            }
        }
        if used == 0 {
            return;
        }
        let leftover = buf.get(..used).unwrap_or(&[]);
        let stored = self.carry_holder(dir).and_then(|h| ctx.txn(h)).and_then(mc).is_some_and(|m| {
            m.carry.clear();
            m.carry_dir = dir_index(dir);
            m.carry.extend_from_slice(leftover).is_ok()
        });
        if !stored {
            ctx.stats.stream_bytes_skipped += used as u64;
            self.abort(ctx, dir, gap_note(dir));
            self.side(dir).udp_skip = true;
        }
    }
}

/// What applying a text request line found.
struct RequestInfo {
    /// A data block of this many bytes follows.
    data: Option<u64>,
    noreply: bool,
    hidden: bool,
    malformed: bool,
}

fn push_stat(m: &mut MemcacheTxn, name: &[u8], value: &[u8]) {
    let name = m.text.push(name);
    let value = m.text.push(value);
    if m.stats.push(Stat { name, value }).is_err() {
        m.text.mark_truncated();
    }
}

/// Fills the request section from a known text command line.
fn apply_request(
    m: &mut MemcacheTxn,
    line: &[u8],
    cmd: Command,
    kind: Kind,
    syn: Syntax,
    parseunknown: bool,
) -> RequestInfo {
    let mut info = RequestInfo { data: None, noreply: false, hidden: false, malformed: false };
    let mut t = text::tokens(line);
    let _ = t.next();
    let args = text::after_first(line);
    let last_is_noreply = text::tokens(args).last() == Some(&b"noreply"[..]);
    m.request.command = cmd;
    m.request.kind = kind;
    let takes_noreply = matches!(
        syn,
        Syntax::Store
            | Syntax::Cas
            | Syntax::Counter
            | Syntax::Touch
            | Syntax::Delete
            | Syntax::FlushAll
            | Syntax::Verbosity
            | Syntax::Quit
    );
    if takes_noreply {
        let nr = last_is_noreply && syn != Syntax::Quit;
        m.request.noreply = Some(nr);
        info.noreply = nr || syn == Syntax::Quit;
    }
    match syn {
        Syntax::Keys | Syntax::GatKeys => {
            if syn == Syntax::GatKeys {
                m.request.exptime = t.next().and_then(text::parse_i64);
            }
            let mut any = false;
            for k in t {
                any = true;
                m.keys_total = m.keys_total.saturating_add(1);
                if m.request.keys.is_full() {
                    m.text.mark_truncated();
                } else {
                    push_key(m, true, k);
                }
            }
            info.malformed = !any;
        }
        Syntax::Store | Syntax::Cas => {
            let key = t.next();
            if let Some(k) = key {
                m.keys_total = 1;
                push_key(m, true, k);
            }
            m.request.flags = t.next().and_then(text::parse_u32);
            m.request.exptime = t.next().and_then(text::parse_i64);
            let bytes = t.next().and_then(crate::text::parse_u64);
            if syn == Syntax::Cas {
                m.request.cas = t.next().and_then(crate::text::parse_u64);
            }
            let ok = key.is_some()
                && m.request.flags.is_some()
                && m.request.exptime.is_some()
                && bytes.is_some()
                && (syn == Syntax::Store || m.request.cas.is_some());
            if ok {
                m.request.count_values = Some(0);
                m.request.bytes = Some(0);
                info.data = bytes;
            } else {
                // memcached answers CLIENT_ERROR and reads no data block.
                info.malformed = true;
                info.noreply = false;
                m.request.noreply = Some(false);
            }
        }
        Syntax::Counter | Syntax::Touch | Syntax::Delete => {
            match t.next() {
                Some(k) => {
                    m.keys_total = 1;
                    push_key(m, true, k);
                }
                None => info.malformed = true,
            }
            match syn {
                Syntax::Counter => {
                    m.request.delta = t.next().and_then(crate::text::parse_u64);
                    info.malformed |= m.request.delta.is_none();
                }
                Syntax::Touch => {
                    m.request.exptime = t.next().and_then(text::parse_i64);
                    info.malformed |= m.request.exptime.is_none();
                }
                _ => {}
            }
        }
        Syntax::FlushAll => m.request.exptime = t.next().and_then(text::parse_i64),
        Syntax::RawArgs => m.request.raw_args = Some(m.text.push(args)),
        Syntax::Verbosity => {
            m.request.value = t.next().and_then(crate::text::parse_u64);
            info.malformed = m.request.value.is_none();
        }
        Syntax::Plain | Syntax::Quit => {}
        Syntax::Slabs => {
            let sub = t.next().unwrap_or(&[]);
            match sub {
                b"reassign" => {
                    m.request.command = Command::SlabsReassign;
                    m.request.source_class = t.next().and_then(text::parse_i64);
                    m.request.dest_class = t.next().and_then(text::parse_i64);
                }
                b"automove" => {
                    m.request.command = Command::SlabsAutomove;
                    m.request.value = t.next().and_then(crate::text::parse_u64);
                }
                _ => unknown_request(m, line, parseunknown, &mut info),
            }
        }
        Syntax::Lru => {
            let sub = t.next().unwrap_or(&[]);
            match sub {
                b"enable" => m.request.command = Command::LruEnable,
                b"disable" => m.request.command = Command::LruDisable,
                b"sleep" => {
                    m.request.command = Command::LruSleep;
                    m.request.value = t.next().and_then(crate::text::parse_u64);
                }
                b"tocrawl" => {
                    m.request.command = Command::LruToCrawl;
                    m.request.value = t.next().and_then(crate::text::parse_u64);
                }
                b"crawl" => {
                    m.request.command = Command::LruCrawl;
                    m.request.raw_args = Some(m.text.push(text::after_first(args)));
                }
                _ => unknown_request(m, line, parseunknown, &mut info),
            }
        }
    }
    info
}

fn unknown_request(m: &mut MemcacheTxn, line: &[u8], parseunknown: bool, info: &mut RequestInfo) {
    m.request.command = Command::Unknown;
    m.request.kind = Kind::Unknown;
    if parseunknown {
        m.request.line = Some(m.text.push(line));
    } else {
        info.hidden = true;
    }
}

/// Fills the request fields carried in binary extras.
fn request_extras(r: &mut Msg, opcode: u8, x: &[u8]) {
    let u32_at = |i: usize| x.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
    let u64_at = |i: usize| x.get(i..i + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
    match opcode {
        // Set, Add, Replace and their quiet forms: flags, expiration.
        0x01..=0x03 | 0x11..=0x13 => {
            r.flags = u32_at(0);
            r.exptime = u32_at(4).map(i64::from);
        }
        // Increment, Decrement (+quiet): delta, initial, expiration.
        0x05 | 0x06 | 0x15 | 0x16 => {
            r.delta = u64_at(0);
            r.initial = u64_at(8);
            r.exptime = u32_at(16).map(i64::from);
        }
        // Flush (+quiet), Touch, GAT family: expiration.
        0x08 | 0x18 | 0x1c | 0x1d | 0x1e | 0x23 | 0x24 => r.exptime = u32_at(0).map(i64::from),
        0x1b => r.value = u32_at(0).map(u64::from),
        _ => {}
    }
}

impl Analyzer for MemcacheParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        let mut pos = 0usize;
        // Each turn consumes at least one byte or returns.
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or(&[]);
            if self.side(dir).skip_line {
                let n = find_byte(rest, b'\n').map_or(rest.len(), |i| i + 1);
                let s = self.side(dir);
                s.skip_line = n == rest.len() && rest.last() != Some(&b'\n');
                if s.msg.is_some() {
                    self.add_bytes(dir, n);
                }
                pos += n;
                continue;
            }
            let phase = self.side(dir).phase;
            match phase {
                Phase::Data | Phase::BinKey | Phase::BinValue => {
                    let s = self.side(dir);
                    let n = (s.remaining as usize).min(rest.len());
                    s.remaining -= n as u32;
                    let done = s.remaining == 0;
                    self.add_bytes(dir, n);
                    let piece = rest.get(..n).unwrap_or(&[]);
                    pos += n;
                    match phase {
                        Phase::Data => {
                            self.value_bytes(ctx, dir, piece);
                            if done {
                                let s = self.side(dir);
                                s.phase = Phase::DataEnd;
                                s.remaining = 0;
                            }
                        }
                        Phase::BinKey => {
                            self.key_bytes(ctx, dir, piece);
                            if done {
                                self.key_done(ctx, dir);
                            }
                        }
                        _ => {
                            self.bin_value_bytes(ctx, dir, piece);
                            if done {
                                self.bin_done(ctx, dir);
                            }
                        }
                    }
                }
                Phase::DataEnd => {
                    let c = rest.first().copied().unwrap_or(0);
                    let s = self.side(dir);
                    if c == b'\r' && s.remaining == 0 {
                        s.remaining = 1;
                        self.add_bytes(dir, 1);
                        pos += 1;
                    } else if c == b'\n' {
                        self.add_bytes(dir, 1);
                        pos += 1;
                        self.data_done(ctx, dir);
                    } else {
                        // memcached would complain about a bad data chunk.
                        let note = if dir == Direction::ToServer {
                            Notes::REQUEST_MALFORMED
                        } else {
                            Notes::RESPONSE_MALFORMED
                        };
                        self.mark(ctx, dir, note, false);
                        self.data_done(ctx, dir);
                    }
                }
                Phase::Idle | Phase::Multi => {
                    let first = rest.first().copied().unwrap_or(0);
                    let s = *self.side(dir);
                    let bin_start = phase == Phase::Idle && (first == 0x80 || first == 0x81);
                    if bin_start || (phase == Phase::Idle && s.resync && s.binary) {
                        if !bin_start {
                            // Resynchronising a binary stream: find a magic byte.
                            let n = rest.iter().position(|&c| c == 0x80 || c == 0x81).unwrap_or(rest.len());
                            let n = n.max(1);
                            ctx.stats.resync_skipped_bytes += n as u64;
                            pos += n;
                            continue;
                        }
                        let ext = rest.get(4).copied().unwrap_or(0) as usize;
                        let need = HEADER + ext;
                        if rest.len() < need {
                            if full && pos == 0 {
                                ctx.stats.stream_bytes_skipped += rest.len() as u64;
                                self.side(dir).resync = true;
                                return data.len();
                            }
                            return pos;
                        }
                        pos += self.bin_header(ctx, dir, rest.get(..need).unwrap_or(rest));
                        continue;
                    }
                    let (raw, cut) = match find_byte(rest, b'\n') {
                        Some(i) => (rest.get(..=i).unwrap_or(rest), false),
                        // A line longer than the carry block: take what we have.
                        None if full && pos == 0 => (rest, true),
                        None => return pos,
                    };
                    pos += raw.len();
                    self.text_line(ctx, dir, raw, cut);
                    if cut {
                        self.side(dir).skip_line = true;
                    }
                }
            }
        }
        pos
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        let note = gap_note(dir);
        self.mark(ctx, dir, note, false);
        let s = self.side(dir);
        s.skip_line = false;
        match s.phase {
            Phase::Data | Phase::BinKey | Phase::BinValue if len < s.remaining => {
                s.remaining -= len;
                // The kept part of the value no longer matches the wire.
                s.keep = 0;
            }
            Phase::Data if len == s.remaining => {
                s.phase = Phase::DataEnd;
                s.remaining = 0;
            }
            Phase::BinValue if len == s.remaining => self.bin_done(ctx, dir),
            Phase::Idle if s.msg.is_none() => {
                s.resync = true;
                s.gap_pending = true;
            }
            // A multi-part reply stays open: what follows the gap may still
            // belong to it (more VALUE/STAT lines or Stat replies, then the
            // end), and must not be taken for replies to later requests.
            Phase::Multi | Phase::Data | Phase::DataEnd
                if dir == Direction::ToClient && s.msg.is_some() && !s.binary =>
            {
                s.phase = Phase::Multi;
                // The gap may have ended inside a line.
                s.skip_line = true;
            }
            _ if dir == Direction::ToClient && s.msg.is_some() && s.binary && (s.stats_open || s.opcode == 0x10) => {
                s.phase = Phase::Idle;
                s.stats_open = true;
                s.resync = true;
            }
            _ => {
                self.abort(ctx, dir, note);
                let s = self.side(dir);
                s.phase = Phase::Idle;
                s.resync = true;
            }
        }
    }

    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        self.end_of_stream(ctx, dir);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        self.end_of_stream(ctx, Direction::ToClient);
        self.end_of_stream(ctx, Direction::ToServer);
        // What is left waiting: quiet requests got no reply (fine), hidden
        // ones are dropped; the engine reports the rest as unanswered.
        for _ in 0..PASS_GUARD {
            let h = ctx.find(|s| awaiting(s) && s.flags & (FLAG_QUIET | FLAG_HIDDEN) != 0);
            match h {
                Some(h) => finish_unanswered(ctx, h),
                None => break,
            }
        }
    }

    fn on_datagram(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) {
        self.expire_quiet(ctx);
        let (Some(hdr), Some(payload)) = (data.get(..8), data.get(8..)) else {
            ctx.stats.parse_errors += 1;
            return;
        };
        let be16 =
            |i: usize| u16::from_be_bytes([hdr.get(i).copied().unwrap_or(0), hdr.get(i + 1).copied().unwrap_or(0)]);
        let (id, seq, total) = (be16(0), be16(2), be16(4).max(1));
        let s = *self.side(dir);
        let open = s.msg.is_some() || s.phase != Phase::Idle;
        // A reply with the id of the previous one whose request no longer
        // waits is a duplicate (`udp_total` is 0 until a message was seen).
        // Requests are not judged this way: clients may reuse ids.
        let repeat = seq == 0 && !s.udp_active && s.udp_total > 0 && s.udp_id == id;
        if dir == Direction::ToServer && seq == 0 && !s.udp_active && !open {
            // A request id that is still waiting for its reply: the client
            // sent the same request again (a retry, or a duplicate in the
            // capture). It is one request, as in Packetbeat.
            let waiting = ctx.find(|sl| {
                awaiting(sl) && sl.flags & FLAG_REQUEST_DONE != 0 && mc_ref(sl).is_some_and(|m| m.udp_id == Some(id))
            });
            if waiting.is_some() {
                return;
            }
        }
        if seq == 0 && !(s.udp_active && s.udp_id == id) {
            // A new UDP message. memcached sends a reply naming several keys
            // as several messages with the same request id: those continue
            // the reply in progress.
            let same_id = s.udp_id == id && (open || s.udp_skip);
            if !same_id {
                if open {
                    let note = if s.udp_active { gap_note(dir) } else { Notes::RESPONSE_INCOMPLETE };
                    self.abort(ctx, dir, note);
                }
                let side = self.side(dir);
                *side = Side { binary: side.binary, ..Side::NEW };
                if dir == Direction::ToClient {
                    self.udp_rec = ctx.find(|sl| awaiting(sl) && mc_ref(sl).is_some_and(|m| m.udp_id == Some(id)));
                    if self.udp_rec.is_none() && repeat {
                        // The same reply again (a duplicate in the capture).
                        self.side(dir).udp_skip = true;
                    }
                }
            }
            let side = self.side(dir);
            side.udp_active = true;
            side.udp_id = id;
            side.udp_next = 0;
            side.udp_total = total;
        } else if !(s.udp_active && s.udp_id == id && seq == s.udp_next) {
            if s.udp_active && s.udp_id == id && seq < s.udp_next {
                // A duplicate datagram.
                return;
            }
            // A datagram of this message is missing (or reordered): the
            // message cannot be parsed on; the rest of it is skipped.
            let note = gap_note(dir);
            if open {
                self.abort(ctx, dir, note);
            } else if dir == Direction::ToClient {
                let rec = ctx.find(|sl| awaiting(sl) && mc_ref(sl).is_some_and(|m| m.udp_id == Some(id)));
                if let Some(t) = rec.and_then(|h| ctx.txn(h)) {
                    t.notes.insert(note);
                }
            }
            let side = self.side(dir);
            *side = Side { binary: side.binary, ..Side::NEW };
            side.udp_skip = true;
            side.udp_active = seq.saturating_add(1) < total;
            side.udp_id = id;
            side.udp_next = seq.saturating_add(1);
            side.udp_total = total;
            ctx.stats.stream_bytes_skipped += payload.len() as u64;
            return;
        }
        let side = self.side(dir);
        side.udp_next = seq.saturating_add(1);
        let last = side.udp_next >= side.udp_total;
        if last {
            side.udp_active = false;
        }
        if side.udp_skip {
            ctx.stats.stream_bytes_skipped += payload.len() as u64;
            return;
        }
        // A request must fit in its UDP message; a reply may go on in the
        // next message with the same request id.
        let force = last && dir == Direction::ToServer;
        self.feed_udp(ctx, dir, payload, force);
        if force && self.side(dir).msg.is_some() {
            self.abort(ctx, dir, Notes::REQUEST_MALFORMED);
        }
    }
}

/// Writes the Memcache fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat(
    m: &mut Object<'_, '_>,
    _t: &Transaction,
    x: &MemcacheTxn,
    _cfg: &Config,
) -> Result<(), JsonError> {
    json::section(m, x)
}

/// Writes the Memcache fields of the ECS layout into `m` (Packetbeat 8.x
/// keeps the `memcache.*` names).
pub(crate) fn json_ecs(
    m: &mut Object<'_, '_>,
    _t: &Transaction,
    x: &MemcacheTxn,
    _cfg: &Config,
) -> Result<(), JsonError> {
    json::section(m, x)
}

#[cfg(test)]
mod tests;
