//! The MongoDB wire protocol analyzer.
//!
//! Every message starts with a 16-byte header (length, `requestID`,
//! `responseTo`, opcode). Requests are paired with responses by
//! `requestID` ↔ `responseTo` within the connection, so pipelined and
//! out-of-order replies pair correctly, and a reply seen before its request
//! (capture reordering) waits for it. Requests that expect no reply
//! (legacy insert/update/delete/kill-cursors, OP_MSG with `moreToCome`) are
//! reported on their own as soon as they are complete.
//!
//! Opcodes: OP_MSG (sections of kind 0 and 1, checksum flag, `moreToCome`,
//! exhaust replies), OP_QUERY / OP_REPLY (finds and commands), OP_GET_MORE,
//! OP_INSERT, OP_UPDATE, OP_DELETE, OP_KILL_CURSORS, the legacy OP_MSG
//! (1000), and OP_COMPRESSED (`mongodb.compressor` set): noop messages are
//! decoded whole; of snappy and zlib ones the first [`peek::PEEK_OUT`]
//! bytes are decoded (a full decompressor needs a 32–64 KiB window per
//! message, beyond this kernel's memory budget; a prefix needs none), which
//! gives the flags (`moreToCome`), the command and most small messages
//! whole; zstd messages are paired but not decoded. A message with an opcode nobody
//! defined is skipped by its length; each such opcode is reported once per
//! connection (a transaction marked malformed, `mongodb.opcode` set), not
//! once per message, and counted in `parse_errors` every time.
//!
//! Documents are read by a streaming BSON walker ([`bson`]) that renders
//! the request arguments, selectors and response documents as JSON within
//! fixed bounds, and picks out the command name, collection, `$db`, the
//! server's error and cursor fields. Messages may be cut at any byte.
//!
//! Gaps: inside a message the lost bytes are skipped (the message's length
//! is known) and the transaction is marked; a gap that crosses a message
//! boundary loses framing, and the parser resynchronises at the next
//! delivery that starts with a plausible header.
//!
//! Bounds: per flow a few dozen bytes of framing state; per transaction a
//! [`MONGODB_TEXT_CAP`]-byte arena (request side at most
//! [`REQUEST_TEXT_CAP`]), an [`ERROR_CAP`]-byte error, and the walker's
//! stack of [`bson::MAX_DEPTH`] levels. Cuts are flagged.

pub mod bson;
pub mod json;
pub mod peek;
pub mod txn;

pub use txn::{ErrorText, MongodbTxn, Query, ERROR_CAP, MONGODB_TEXT_CAP, REQUEST_TEXT_CAP};

use crate::json::{JsonError, Object};

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::pending::{Handle, PendingSlot, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::proto::{Analyzer, Ctx};
use crate::text::Span;
use crate::time::Timestamp;
use crate::txn::{Detail, Notes, Status, Transaction};
use bson::{le_i32, le_i64, Env, Opts, Out, Role, Walker};

/// Mongodb analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MongodbConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Documents kept in the raw `response` text (`max_docs`; 0: all that
    /// fit the arena).
    pub max_docs: u32,
    /// Bytes kept per document (`max_doc_length`; 0: no limit but the
    /// arena's).
    pub max_doc_length: u32,
}

impl Default for MongodbConfig {
    fn default() -> Self {
        MongodbConfig { common: Common::on_ports(&[27017]), max_docs: 10, max_doc_length: 5000 }
    }
}

/// OP_REPLY.
pub const OP_REPLY: i32 = 1;
/// The legacy OP_MSG (a diagnostic string).
pub const OP_MSG_LEGACY: i32 = 1000;
/// OP_UPDATE.
pub const OP_UPDATE: i32 = 2001;
/// OP_INSERT.
pub const OP_INSERT: i32 = 2002;
/// OP_QUERY.
pub const OP_QUERY: i32 = 2004;
/// OP_GET_MORE.
pub const OP_GET_MORE: i32 = 2005;
/// OP_DELETE.
pub const OP_DELETE: i32 = 2006;
/// OP_KILL_CURSORS.
pub const OP_KILL_CURSORS: i32 = 2007;
/// OP_COMPRESSED.
pub const OP_COMPRESSED: i32 = 2012;
/// OP_MSG.
pub const OP_MSG: i32 = 2013;

/// Bytes of the message header.
pub const HEADER_LEN: usize = 16;
/// Longest message accepted (MongoDB's `maxMessageSizeBytes` is 48 MB);
/// a header announcing more means the stream is not where we think.
pub const MAX_MESSAGE_LEN: u32 = 48_000_000;
/// Unknown opcodes remembered per connection (each reported once); once
/// full, further unknown opcodes are only counted.
pub const MAX_UNKNOWN_OPCODES: usize = 4;
/// Longest full collection name or legacy message text kept.
pub const NAME_CAP: usize = bson::COLL_CAP;

/// Record flag (bits free in `PendingSlot::flags`): the request expects
/// no reply.
const F_NO_REPLY: u8 = 0x08;
/// Record flag: the response message is complete.
const F_RESPONSE_DONE: u8 = 0x10;

/// OP_MSG flag bits.
const MSG_CHECKSUM: u32 = 1;
const MSG_MORE_TO_COME: u32 = 2;

/// The fields of a message body, in wire order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// An int32 that is not reported (flags, reserved zero).
    Skip4,
    /// `fullCollectionName`.
    Fcn,
    NumberToSkip,
    NumberToReturn,
    CursorId,
    /// The query (or command) document of OP_QUERY.
    QueryDoc,
    /// The optional returned-fields selector of OP_QUERY.
    FieldsDoc,
    SelectorDoc,
    UpdateDoc,
    /// The documents of OP_INSERT.
    InsertDocs,
    ReplyFlags,
    StartingFrom,
    NumberReturned,
    ReplyDocs,
    MsgFlags,
    Sections,
    /// The text of a legacy OP_MSG.
    LegacyText,
    /// The OP_COMPRESSED header (original opcode, size, compressor).
    Compressed,
    /// Whatever follows: skipped.
    Rest,
}

/// The layout of opcode `op`'s body (`None`: an opcode we do not know).
fn program(op: i32) -> Option<&'static [Item]> {
    use Item::*;
    Some(match op {
        OP_REPLY => &[ReplyFlags, CursorId, StartingFrom, NumberReturned, ReplyDocs, Rest],
        OP_MSG_LEGACY => &[LegacyText, Rest],
        OP_UPDATE => &[Skip4, Fcn, Skip4, SelectorDoc, UpdateDoc, Rest],
        OP_INSERT => &[Skip4, Fcn, InsertDocs, Rest],
        OP_QUERY => &[Skip4, Fcn, NumberToSkip, NumberToReturn, QueryDoc, FieldsDoc, Rest],
        OP_GET_MORE => &[Skip4, Fcn, NumberToReturn, CursorId, Rest],
        OP_DELETE => &[Skip4, Fcn, Skip4, SelectorDoc, Rest],
        OP_KILL_CURSORS => &[Rest],
        OP_COMPRESSED => &[Compressed, Rest],
        OP_MSG => &[MsgFlags, Sections, Rest],
        _ => return None,
    })
}

/// Smallest plausible message of a known opcode (header included).
fn min_len(op: i32) -> u32 {
    match op {
        OP_REPLY => 36,
        OP_QUERY => 34,
        OP_MSG => 26,
        OP_COMPRESSED => 25,
        OP_UPDATE => 35,
        OP_DELETE => 30,
        OP_GET_MORE => 33,
        OP_INSERT => 21,
        _ => 16,
    }
}

/// True when a request with opcode `op` is answered.
fn expects_reply(op: i32) -> bool {
    matches!(op, OP_QUERY | OP_GET_MORE | OP_MSG)
}

/// The method of a legacy operation (commands are named by their document).
fn legacy_method(op: i32) -> Option<&'static [u8]> {
    Some(match op {
        OP_UPDATE => b"update",
        OP_INSERT => b"insert",
        OP_GET_MORE => b"getMore",
        OP_DELETE => b"delete",
        OP_KILL_CURSORS => b"killCursors",
        OP_MSG_LEGACY => b"msg",
        _ => return None,
    })
}

/// Where a direction's parser is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Expecting a message header.
    #[default]
    Header,
    /// Inside a message body.
    Body,
}

/// Parser state of one direction (framing only: what is decoded from the
/// body lives in the transaction record).
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    phase: Phase,
    /// Headers are trusted: a message boundary is known. False at the
    /// start of a flow and after lost bytes; then a header is looked for
    /// only at the start of a delivery, and must look plausible.
    synced: bool,
    /// Stream position just past the current message.
    end: u32,
    /// Capture time of the first bytes of a header still incomplete (the
    /// message's time is its first packet's, not the one completing it);
    /// zero when none.
    first_ts: Timestamp,
    /// OP_MSG: end of the sections (a checksum may follow).
    region_end: u32,
    /// OP_MSG: end of the kind-1 section being read.
    sec_end: u32,
    /// The record this message belongs to.
    msg: Option<Handle>,
    /// Opcode whose layout is being read (the original one inside a
    /// noop-compressed message).
    op: i32,
    /// `requestID` of the message.
    id: i32,
    /// Index into the opcode's layout.
    step: u8,
    /// OP_MSG section state: 0 kind, 1 body, 2 size, 3 name, 4 documents.
    sub: u8,
    /// The record's walker belongs to this message.
    walking: bool,
    /// A compressed message whose beginning was decoded (see [`peek`]).
    peeked: bool,
    /// Lengths or fields made no sense (the rest was skipped).
    malformed: bool,
    more_to_come: bool,
}

/// Per-flow MongoDB parser state (both directions).
#[derive(Clone, Debug, Default)]
pub struct MongodbParser {
    sides: [Side; 2],
    /// Unknown opcodes already reported on this connection.
    unknown: [i32; MAX_UNKNOWN_OPCODES],
    unknown_n: u8,
    /// `requestID` of the last reply sent with `moreToCome`: the next reply
    /// answering it continues an exhaust cursor, it is not a new response.
    exhaust: Option<i32>,
}

/// The MongoDB section of a record.
fn mongo(t: &mut Transaction) -> Option<&mut MongodbTxn> {
    match &mut t.detail {
        Detail::Mongodb(m) => Some(m),
        _ => None,
    }
}

fn mongo_ref(s: &PendingSlot) -> Option<&MongodbTxn> {
    match &s.txn.detail {
        Detail::Mongodb(m) => Some(m),
        _ => None,
    }
}

/// What a header says about the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// A message we can read.
    Known,
    /// A well-framed message with an opcode nobody defined.
    Unknown,
    /// Not a message header.
    Bad,
}

/// Reads a cstring piece: returns (bytes before the NUL, consumed, found).
fn cstr(chunk: &[u8]) -> (&[u8], usize, bool) {
    match chunk.iter().position(|&c| c == 0) {
        Some(i) => (chunk.get(..i).unwrap_or(&[]), i + 1, true),
        None => (chunk, chunk.len(), false),
    }
}

impl MongodbParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        const SIDE: Side = Side {
            phase: Phase::Header,
            synced: false,
            end: 0,
            first_ts: Timestamp::ZERO,
            region_end: 0,
            sec_end: 0,
            msg: None,
            op: 0,
            id: 0,
            step: 0,
            sub: 0,
            walking: false,
            peeked: false,
            malformed: false,
            more_to_come: false,
        };
        MongodbParser { sides: [SIDE, SIDE], unknown: [0; MAX_UNKNOWN_OPCODES], unknown_n: 0, exhaust: None }
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.sides[0],
            Direction::ToClient => &mut self.sides[1],
        }
    }

    fn opts(ctx: &Ctx<'_, '_>) -> Opts {
        let c = &ctx.cfg.mongodb;
        Opts {
            send_request: c.common.send_request,
            send_response: c.common.send_response,
            max_docs: c.max_docs,
            max_doc_length: c.max_doc_length,
        }
    }

    /// Runs `f` on the record's walker and arena, when this message owns
    /// the walker.
    fn with_walk<R>(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: Direction,
        f: impl FnOnce(&mut Walker, &mut Env<'_>, &mut MongodbTxn2<'_>) -> R,
    ) -> Option<R> {
        let side = *self.side(dir);
        Self::with_walk_of(ctx, side, f)
    }

    /// Runs `f` on the walker of `side`'s record (see `with_walk`).
    fn with_walk_of<R>(
        ctx: &mut Ctx<'_, '_>,
        side: Side,
        f: impl FnOnce(&mut Walker, &mut Env<'_>, &mut MongodbTxn2<'_>) -> R,
    ) -> Option<R> {
        if !side.walking {
            return None;
        }
        let opts = Self::opts(ctx);
        let x = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo)?;
        let MongodbTxn { text, error, walk, params, params_cut, query_skip, .. } = x;
        let mut rest = MongodbTxn2 { params, params_cut, query_skip };
        let mut env = Env { text, err: error, opts };
        Some(f(walk, &mut env, &mut rest))
    }

    /// True when `op` was reported already; otherwise remembers it.
    fn first_unknown(&mut self, op: i32) -> bool {
        let n = self.unknown_n as usize;
        if self.unknown.get(..n).is_some_and(|u| u.contains(&op)) {
            return false;
        }
        match self.unknown.get_mut(n) {
            Some(slot) => {
                *slot = op;
                self.unknown_n += 1;
                true
            }
            // Full: stay bounded, report no more.
            None => false,
        }
    }

    fn verdict(&self, ctx: &Ctx<'_, '_>, dir: Direction, synced: bool, len: u32, op: i32, rto: i32) -> Verdict {
        if !(HEADER_LEN as u32..=MAX_MESSAGE_LEN).contains(&len) {
            return Verdict::Bad;
        }
        let fits = match dir {
            Direction::ToServer => op != OP_REPLY,
            Direction::ToClient => matches!(op, OP_REPLY | OP_MSG | OP_COMPRESSED),
        };
        if program(op).is_some() && fits {
            if !synced && len < min_len(op) {
                return Verdict::Bad;
            }
            return Verdict::Known;
        }
        if synced {
            return Verdict::Unknown;
        }
        // Not in sync: only what looks like a message's start is taken for
        // one (a request answers nothing; a reply answers a request seen).
        let answers = |s: &PendingSlot| mongo_ref(s).is_some_and(|m| m.request_id == rto);
        let plausible = match dir {
            Direction::ToServer => rto == 0,
            Direction::ToClient => ctx.find(answers).is_some(),
        };
        if plausible {
            Verdict::Unknown
        } else {
            Verdict::Bad
        }
    }

    /// A header was read: find or start the message's record.
    #[allow(clippy::too_many_arguments)]
    fn begin_message(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: Direction,
        cur: u32,
        len: u32,
        id: i32,
        rto: i32,
        op: i32,
        known: bool,
    ) {
        let first = self.side(dir).first_ts;
        let ts = if first == Timestamp::ZERO { ctx.ts } else { first };
        let mut side = Side { phase: Phase::Body, synced: true, end: cur.wrapping_add(len), ..Side::default() };
        side.op = if known { op } else { 0 };
        side.id = id;
        side.region_end = side.end;
        match dir {
            Direction::ToServer => {
                if !known {
                    ctx.stats.parse_errors += 1;
                    if self.first_unknown(op) {
                        self.report_unknown(ctx, dir, op, len, id, rto);
                    }
                } else {
                    let waiting = |s: &PendingSlot| {
                        s.flags & FLAG_RESPONSE_ONLY != 0 && mongo_ref(s).is_some_and(|m| m.response_to == id)
                    };
                    let h = match ctx.find(waiting) {
                        Some(h) => {
                            // Its reply came first (capture order): pair now.
                            ctx.stats.unmatched_responses = ctx.stats.unmatched_responses.saturating_sub(1);
                            if let Some(s) = ctx.slot(h) {
                                s.flags &= !FLAG_RESPONSE_ONLY;
                                let old = s.txn.notes;
                                s.txn.notes = Notes::empty();
                                for n in [Notes::RESPONSE_GAP, Notes::RESPONSE_MALFORMED, Notes::RESPONSE_INCOMPLETE] {
                                    if old.contains(n) {
                                        s.txn.notes.insert(n);
                                    }
                                }
                                s.txn.ts = ts;
                            }
                            Some(h)
                        }
                        None => {
                            let h = ctx.begin(ts);
                            if let Some(s) = h.and_then(|h| ctx.slot(h)) {
                                MongodbTxn::init(&mut s.txn);
                            }
                            h
                        }
                    };
                    if let Some(s) = h.and_then(|h| ctx.slot(h)) {
                        s.seq = cur;
                        s.txn.bytes_in = len as u64;
                        if let Some(x) = mongo(&mut s.txn) {
                            x.request_id = id;
                            x.opcode = op;
                            if x.walk_owner == 0 {
                                x.walk_owner = 1;
                                x.walk.begin_message();
                                side.walking = true;
                            }
                        }
                    }
                    side.msg = h;
                }
            }
            Direction::ToClient => {
                let answers = |s: &PendingSlot| {
                    s.flags & (FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED | F_NO_REPLY) == 0
                        && mongo_ref(s).is_some_and(|m| m.request_id == rto)
                };
                let h = match ctx.find(answers) {
                    Some(h) => Some(h),
                    None if self.exhaust == Some(rto) => None,
                    None if !known => {
                        ctx.stats.parse_errors += 1;
                        if self.first_unknown(op) {
                            self.report_unknown(ctx, dir, op, len, id, rto);
                        }
                        None
                    }
                    None => {
                        let h = ctx.begin(ts);
                        if h.is_some() {
                            ctx.stats.unmatched_responses += 1;
                        }
                        if let Some(s) = h.and_then(|h| ctx.slot(h)) {
                            s.flags |= FLAG_RESPONSE_ONLY;
                            MongodbTxn::init(&mut s.txn);
                            s.txn.notes.insert(Notes::NO_REQUEST);
                        }
                        h
                    }
                };
                if !known && h.is_some() {
                    // A reply we cannot read: the request gets it, marked.
                    ctx.stats.parse_errors += 1;
                    side.malformed = true;
                }
                if let Some(s) = h.and_then(|h| ctx.slot(h)) {
                    s.flags |= FLAG_RESPONSE_STARTED;
                    s.txn.response_ts = Some(ts);
                    s.txn.bytes_out = len as u64;
                    if let Some(x) = mongo(&mut s.txn) {
                        x.response_to = rto;
                        if x.walk_owner == 0 {
                            x.walk_owner = 2;
                            x.walk.begin_message();
                            x.walk.out = Out::start(&x.text, Span::EMPTY, 0);
                            side.walking = true;
                        }
                    }
                }
                side.msg = h;
            }
        }
        if side.walking {
            let limit = REQUEST_TEXT_CAP;
            if let Some(x) = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo) {
                if dir == Direction::ToServer {
                    let used = MONGODB_TEXT_CAP.saturating_sub(x.text.remaining());
                    x.walk.out = Out::start(&x.text, Span::EMPTY, limit.saturating_sub(used));
                }
            }
        }
        *self.side(dir) = side;
    }

    /// Reports a message with an unknown opcode (once per opcode and flow).
    fn report_unknown(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, op: i32, len: u32, id: i32, rto: i32) {
        let ts = ctx.ts;
        let Some(h) = ctx.begin(ts) else { return };
        if let Some(s) = ctx.slot(h) {
            MongodbTxn::init(&mut s.txn);
            s.txn.status = Status::Error;
            match dir {
                Direction::ToServer => {
                    s.flags |= FLAG_REQUEST_DONE | F_NO_REPLY;
                    s.txn.bytes_in = len as u64;
                    s.txn.notes.insert(Notes::REQUEST_MALFORMED);
                }
                Direction::ToClient => {
                    s.flags |= FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED;
                    s.txn.bytes_out = len as u64;
                    s.txn.response_ts = Some(ts);
                    s.txn.notes.insert(Notes::RESPONSE_MALFORMED);
                }
            }
            if let Some(x) = mongo(&mut s.txn) {
                x.unknown_opcode = Some(op);
                x.opcode = op;
                x.request_id = id;
                x.response_to = rto;
            }
        }
        ctx.emit(h);
    }

    /// Bytes of the body; returns how many were consumed (`None`: more
    /// bytes are needed). `chunk` ends at or before the message end.
    fn body(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, chunk: &[u8], cur: u32) -> Option<usize> {
        let side = *self.side(dir);
        let item = program(side.op).and_then(|p| p.get(side.step as usize)).copied().unwrap_or(Item::Rest);
        let left = side.end.wrapping_sub(cur);
        // A fixed-size field: `Some(bytes)` when there, `None` to wait;
        // a message too short for it is malformed (the rest is skipped).
        let fixed = |n: usize| -> Result<Option<&[u8]>, ()> {
            if (left as usize) < n {
                Err(())
            } else {
                Ok(chunk.get(..n))
            }
        };
        macro_rules! take {
            ($n:expr) => {
                match fixed($n) {
                    Ok(Some(b)) => b,
                    Ok(None) => return None,
                    Err(()) => {
                        self.malformed(dir);
                        return Some(0);
                    }
                }
            };
        }
        match item {
            Item::Skip4 => {
                take!(4);
                self.next(dir);
                Some(4)
            }
            Item::NumberToSkip
            | Item::NumberToReturn
            | Item::ReplyFlags
            | Item::StartingFrom
            | Item::NumberReturned => {
                let v = le_i32(take!(4)).unwrap_or(0) as u32;
                if let Some(x) = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo) {
                    match item {
                        Item::NumberToSkip => x.number_to_skip = Some(v),
                        Item::NumberToReturn => x.number_to_return = Some(v),
                        Item::ReplyFlags => x.reply_flags = v,
                        Item::StartingFrom => x.starting_from = Some(v),
                        _ => {
                            x.number_returned = Some(v);
                            x.walk.expect_docs = v;
                        }
                    }
                }
                self.next(dir);
                Some(4)
            }
            Item::CursorId => {
                let v = le_i64(take!(8)).unwrap_or(0);
                if let Some(x) = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo) {
                    x.cursor_id = Some(v);
                }
                self.next(dir);
                Some(8)
            }
            Item::Fcn | Item::LegacyText => {
                let (piece, n, done) = cstr(chunk);
                if !done && n as u32 == left {
                    self.malformed(dir);
                    return Some(0);
                }
                if let Some(x) = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo) {
                    if side.walking {
                        x.walk.coll.push(piece);
                        if done {
                            let name = x.walk.coll;
                            if name.cut {
                                x.text.mark_truncated();
                            }
                            let span = x.text.push(name.get());
                            if item == Item::Fcn {
                                x.full_collection_name = span;
                            } else {
                                x.message = span;
                            }
                            x.walk.coll.clear();
                        }
                    }
                }
                if done {
                    self.next(dir);
                }
                Some(n)
            }
            Item::QueryDoc | Item::FieldsDoc | Item::SelectorDoc | Item::UpdateDoc => {
                if item == Item::FieldsDoc && left == 0 {
                    self.next(dir);
                    return Some(0);
                }
                self.walk_item(ctx, dir, chunk, left, item)
            }
            Item::InsertDocs | Item::ReplyDocs => self.walk_item(ctx, dir, chunk, left, item),
            Item::MsgFlags => {
                let flags = le_i32(take!(4)).unwrap_or(0) as u32;
                let s = self.side(dir);
                s.more_to_come = flags & MSG_MORE_TO_COME != 0;
                if flags & MSG_CHECKSUM != 0 {
                    if left < 4 + 4 {
                        self.malformed(dir);
                        return Some(0);
                    }
                    s.region_end = s.end.wrapping_sub(4);
                }
                if dir == Direction::ToServer && flags & MSG_MORE_TO_COME != 0 {
                    if let Some(sl) = side.msg.and_then(|h| ctx.slot(h)) {
                        sl.flags |= F_NO_REPLY;
                    }
                }
                self.next(dir);
                Some(4)
            }
            Item::Sections => self.sections(ctx, dir, chunk, cur),
            Item::Compressed => {
                let b = take!(9);
                let orig = le_i32(b).unwrap_or(0);
                let size = le_i32(b.get(4..).unwrap_or(&[])).unwrap_or(0) as u32;
                let comp = b.get(8).copied().unwrap_or(0);
                let inner_known = orig != OP_COMPRESSED && program(orig).is_some();
                if comp == 1 || comp == 2 {
                    // Wait for the compressed bytes whose decoding gives the
                    // beginning of the message (within a carry block).
                    let want = (left as usize).min(9 + peek::PEEK_IN);
                    if chunk.len() < want {
                        return None;
                    }
                }
                if let Some(x) = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo) {
                    x.compressor = Some(comp);
                    if dir == Direction::ToServer {
                        x.opcode = orig;
                    }
                }
                let s = self.side(dir);
                if comp == 0 && inner_known {
                    // noop: the original body follows as it is.
                    s.op = orig;
                    s.step = 0;
                    return Some(9);
                }
                s.step = s.step.saturating_add(1);
                if (comp == 1 || comp == 2) && inner_known && side.walking && size <= MAX_MESSAGE_LEN {
                    let input = chunk.get(9..(left as usize).min(9 + peek::PEEK_IN)).unwrap_or(&[]);
                    let mut out = [0u8; peek::PEEK_OUT];
                    let n = if comp == 1 {
                        peek::snappy_prefix(input, &mut out)
                    } else {
                        peek::zlib_prefix(input, &mut out)
                    };
                    self.peek_inner(ctx, dir, orig, size, out.get(..n).unwrap_or(&[]));
                }
                Some(9)
            }
            Item::Rest => Some(chunk.len()),
        }
    }

    /// Reads the decoded beginning (`prefix`) of a compressed message whose
    /// original opcode is `op` and body `size` bytes, as if it were the
    /// message: the same layout, at stream positions `0..size`. What lies
    /// beyond the prefix is skipped (the walk stops there, marked cut).
    fn peek_inner(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, op: i32, size: u32, prefix: &[u8]) {
        let real = *self.side(dir);
        {
            let s = self.side(dir);
            s.op = op;
            s.step = 0;
            s.sub = 0;
            s.end = size;
            s.region_end = size;
        }
        let mut pos = 0usize;
        // Every turn consumes bytes or moves to the next field.
        let mut guard = prefix.len() + 64;
        while guard > 0 && (pos as u32) < size {
            guard -= 1;
            let left = (size - pos as u32) as usize;
            let rest = prefix.get(pos..).unwrap_or(&[]);
            let chunk = rest.get(..rest.len().min(left)).unwrap_or(rest);
            match self.body(ctx, dir, chunk, pos as u32) {
                Some(n) => pos += n,
                None => break,
            }
        }
        let inner = *self.side(dir);
        Self::stop_walk(ctx, inner, false);
        let s = self.side(dir);
        s.op = real.op;
        s.step = real.step;
        s.sub = 0;
        s.end = real.end;
        s.region_end = real.end;
        s.sec_end = real.sec_end;
        s.peeked = true;
    }

    /// The message is malformed: note it and skip the rest.
    fn malformed(&mut self, dir: Direction) {
        let s = self.side(dir);
        s.malformed = true;
        s.step = program(s.op).map_or(0, |p| p.len().saturating_sub(1)) as u8;
        if program(s.op).is_none() {
            s.op = 0;
        }
    }

    fn next(&mut self, dir: Direction) {
        let s = self.side(dir);
        s.step = s.step.saturating_add(1);
    }

    /// Starts or continues the walk of a document item.
    fn walk_item(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        dir: Direction,
        chunk: &[u8],
        left: u32,
        item: Item,
    ) -> Option<usize> {
        let side = *self.side(dir);
        let fcn_is_cmd = side
            .msg
            .and_then(|h| ctx.txn(h))
            .and_then(mongo)
            .is_some_and(|x| x.text.get(x.full_collection_name).ends_with(b".$cmd"));
        let r = self.with_walk(ctx, dir, |w, env, rest| {
            if !w.active() {
                let (role, max, out) = match item {
                    Item::QueryDoc => (Role::Params { command: fcn_is_cmd }, 1, w.out),
                    Item::InsertDocs => {
                        w.set_method(b"insert");
                        w.reset_key();
                        w.push_key(b"documents");
                        (Role::ParamsSeq, u32::MAX, w.out)
                    }
                    Item::ReplyDocs => (Role::Reply { msg: false }, u32::MAX, w.out),
                    _ => {
                        let used = MONGODB_TEXT_CAP.saturating_sub(env.text.remaining());
                        (Role::Plain, 1, Out::start(env.text, Span::EMPTY, REQUEST_TEXT_CAP.saturating_sub(used)))
                    }
                };
                w.start(env, role, left, max, out);
            }
            let (n, done) = w.feed(env, chunk);
            if done {
                match item {
                    Item::QueryDoc | Item::InsertDocs => {
                        *rest.params = w.out.span;
                        *rest.params_cut = w.out.cut;
                        *rest.query_skip = w.query_skip;
                    }
                    _ => {}
                }
            }
            (n, done, w.out.span)
        });
        let Some((n, done, span)) = r else {
            // No record (or its walker is busy): skip the rest.
            self.malformed_quiet(dir);
            return Some(0);
        };
        if done {
            if let Some(x) = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo) {
                match item {
                    Item::FieldsDoc => x.return_fields_selector = span,
                    Item::SelectorDoc => x.selector = span,
                    Item::UpdateDoc => x.update = span,
                    _ => {}
                }
            }
            self.next(dir);
        }
        if n == 0 && !done {
            return None;
        }
        Some(n)
    }

    /// Skips the rest of the message without calling it malformed (there is
    /// nothing to decode it into).
    fn malformed_quiet(&mut self, dir: Direction) {
        let s = self.side(dir);
        s.step = program(s.op).map_or(0, |p| p.len().saturating_sub(1)) as u8;
        if program(s.op).is_none() {
            s.op = 0;
        }
    }

    /// OP_MSG sections.
    fn sections(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, chunk: &[u8], cur: u32) -> Option<usize> {
        let side = *self.side(dir);
        let region_left = side.region_end.wrapping_sub(cur);
        if region_left == 0 || region_left > MAX_MESSAGE_LEN {
            self.next(dir);
            return Some(0);
        }
        let chunk = chunk.get(..chunk.len().min(region_left as usize)).unwrap_or(chunk);
        match side.sub {
            0 => {
                let &kind = chunk.first()?;
                match kind {
                    0 => self.side(dir).sub = 1,
                    1 => self.side(dir).sub = 2,
                    _ => {
                        self.malformed(dir);
                        return Some(0);
                    }
                }
                Some(1)
            }
            2 => {
                if region_left < 4 {
                    self.malformed(dir);
                    return Some(0);
                }
                let size = le_i32(chunk.get(..4)?)?;
                if size < 5 || size as u32 > region_left {
                    self.malformed(dir);
                    return Some(0);
                }
                let s = self.side(dir);
                s.sec_end = cur.wrapping_add(size as u32);
                s.sub = 3;
                let _ = self.with_walk(ctx, dir, |w, _, _| w.reset_key());
                Some(4)
            }
            3 => {
                let sec_left = side.sec_end.wrapping_sub(cur) as usize;
                let avail = chunk.get(..chunk.len().min(sec_left)).unwrap_or(chunk);
                let (piece, n, done) = cstr(avail);
                if !done && n == sec_left {
                    self.malformed(dir);
                    return Some(0);
                }
                let _ = self.with_walk(ctx, dir, |w, _, _| w.push_key(piece));
                if done {
                    self.side(dir).sub = 4;
                }
                Some(n)
            }
            _ => {
                // 1: the body document; 4: a document sequence.
                let seq = side.sub == 4;
                let len = if seq { side.sec_end.wrapping_sub(cur) } else { region_left };
                let chunk = chunk.get(..chunk.len().min(len as usize)).unwrap_or(chunk);
                let r = self.with_walk(ctx, dir, |w, env, rest| {
                    if !w.active() {
                        let (role, max) = match (dir, seq) {
                            (Direction::ToServer, false) => (Role::Params { command: true }, 1),
                            (Direction::ToServer, true) => (Role::ParamsSeq, u32::MAX),
                            (Direction::ToClient, false) => (Role::Reply { msg: true }, 1),
                            (Direction::ToClient, true) => (Role::Reply { msg: true }, u32::MAX),
                        };
                        let out = w.out;
                        w.start(env, role, len, max, out);
                    }
                    let (n, done) = w.feed(env, chunk);
                    if done && dir == Direction::ToServer {
                        *rest.params = w.out.span;
                        *rest.params_cut = w.out.cut;
                        *rest.query_skip = w.query_skip;
                    }
                    (n, done)
                });
                match r {
                    Some((n, done)) => {
                        if done {
                            self.side(dir).sub = 0;
                        }
                        if n == 0 && !done {
                            return None;
                        }
                        Some(n)
                    }
                    None => {
                        self.malformed_quiet(dir);
                        Some(0)
                    }
                }
            }
        }
    }

    /// The message of `dir` ended (all its bytes seen, or the stream ended
    /// or lost bytes: `cut`).
    fn finish_message(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, cut: bool) {
        let side = *self.side(dir);
        let synced = side.synced;
        *self.side(dir) = Side { synced, ..Side::default() };
        // The walk, if any, ends here.
        let malformed = side.malformed;
        Self::stop_walk(ctx, side, !cut);
        if dir == Direction::ToClient && side.more_to_come {
            self.exhaust = Some(side.id);
        }
        let Some(h) = side.msg else { return };
        match dir {
            Direction::ToServer => self.finish_request(ctx, h, side, malformed),
            Direction::ToClient => self.finish_response(ctx, h, side, malformed),
        }
    }

    /// Ends a walk in progress where it is (its JSON closed); request
    /// arguments keep what was rendered.
    fn stop_walk(ctx: &mut Ctx<'_, '_>, side: Side, malformed: bool) {
        let _ = Self::with_walk_of(ctx, side, |w, env, rest| {
            if w.active() {
                let params = matches!(w.role(), Role::Params { .. } | Role::ParamsSeq);
                w.abort(env, malformed);
                if params {
                    *rest.params = w.out.span;
                    *rest.params_cut = w.out.cut;
                    *rest.query_skip = w.query_skip;
                }
            }
        });
    }

    fn finish_request(&mut self, ctx: &mut Ctx<'_, '_>, h: Handle, side: Side, malformed: bool) {
        let Some(s) = ctx.slot(h) else { return };
        s.flags |= FLAG_REQUEST_DONE;
        let Some(x) = mongo(&mut s.txn) else { return };
        let mut bad = malformed;
        if side.walking {
            let w = &x.walk;
            bad |= w.malformed;
            if w.truncated || w.method.cut || w.coll.cut || w.db.cut {
                x.text.mark_truncated();
            }
            // The opcode read: the original one of a compressed message
            // when its beginning could be decoded.
            let inner = if side.op == OP_COMPRESSED && side.peeked { x.opcode } else { side.op };
            // The method: the operation, or the command's first key.
            let method: &[u8] = match legacy_method(inner) {
                Some(m) => m,
                None if w.command_seen => w.method.get(),
                None if inner == OP_QUERY => b"find",
                None => b"",
            };
            let method_span = x.text.push(method);
            // The database: `$db`, or what precedes the first dot of the
            // full collection name.
            let mut db = bson::Name::<{ bson::DB_CAP }>::default();
            if w.db.get().is_empty() {
                let fcn = x.text.get(x.full_collection_name);
                db.push(fcn.split(|&c| c == b'.').next().unwrap_or(&[]));
            } else {
                db = w.db;
            }
            let db = db.get();
            let coll = w.coll.get();
            let resource = if !coll.is_empty() && !db.is_empty() {
                let r = x.text.push(db);
                let r = x.text.extend(r, b".");
                x.text.extend(r, coll)
            } else if !x.full_collection_name.is_empty() {
                x.full_collection_name
            } else if inner == OP_MSG && !db.is_empty() {
                let r = x.text.push(db);
                x.text.extend(r, b".$cmd")
            } else {
                Span::EMPTY
            };
            if !method.is_empty() {
                x.method = method_span;
                x.resource = resource;
            }
            x.walk_owner = 0;
        }
        if bad {
            s.txn.notes.insert(Notes::REQUEST_MALFORMED);
            s.txn.status = Status::Error;
        }
        let no_reply = s.flags & F_NO_REPLY != 0 || !expects_reply(mongo_ref(s).map_or(0, |m| m.opcode));
        if no_reply {
            s.flags |= F_NO_REPLY;
        }
        if no_reply || s.flags & F_RESPONSE_DONE != 0 {
            ctx.emit(h);
        }
    }

    fn finish_response(&mut self, ctx: &mut Ctx<'_, '_>, h: Handle, side: Side, malformed: bool) {
        let send_response = ctx.cfg.mongodb.common.send_response;
        let Some(s) = ctx.slot(h) else { return };
        s.flags |= F_RESPONSE_DONE;
        let Some(x) = mongo(&mut s.txn) else { return };
        let mut bad = malformed;
        if side.walking {
            let w = &x.walk;
            bad |= w.malformed;
            if w.truncated {
                x.text.mark_truncated();
            }
            if side.op == OP_MSG || side.peeked {
                if let Some(b) = w.batch {
                    x.number_returned = Some(b);
                }
                if let Some(c) = w.cursor_id {
                    x.cursor_id = Some(c);
                }
            }
            if send_response && w.docs > 0 {
                x.response = w.out.span;
            }
            x.walk_owner = 0;
        }
        if x.error.is_empty() {
            if x.reply_flags & 2 != 0 {
                x.error.push(txn::QUERY_FAILURE);
            } else if x.reply_flags & 1 != 0 {
                x.error.push(txn::CURSOR_NOT_FOUND);
            }
        }
        let failed = !x.error.is_empty();
        if bad {
            s.txn.notes.insert(Notes::RESPONSE_MALFORMED);
        }
        s.txn.status = if failed || bad { Status::Error } else { Status::Ok };
        if s.flags & FLAG_RESPONSE_ONLY == 0 && s.flags & FLAG_REQUEST_DONE != 0 {
            ctx.emit(h);
        }
    }

    /// Ends the message in progress of `dir` because the stream ended.
    fn end_of_stream(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        let side = *self.side(dir);
        if side.phase != Phase::Body {
            return;
        }
        if let Some(t) = side.msg.and_then(|h| ctx.txn(h)) {
            t.notes.insert(match dir {
                Direction::ToServer => Notes::REQUEST_MALFORMED,
                Direction::ToClient => Notes::RESPONSE_INCOMPLETE,
            });
        }
        self.finish_message(ctx, dir, true);
    }
}

/// The fields a walk fills besides its arena and error.
struct MongodbTxn2<'a> {
    params: &'a mut Span,
    params_cut: &'a mut bool,
    query_skip: &'a mut Option<(u16, u16)>,
}

impl Analyzer for MongodbParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        let base = ctx.pos;
        let mut pos = 0usize;
        // Every turn consumes bytes, or completes a message, or moves to
        // the next field of a message (a bounded number per message).
        let mut guard = data.len().saturating_mul(2).saturating_add(64);
        while pos < data.len() && guard > 0 {
            guard -= 1;
            let cur = base.wrapping_add(pos as u32);
            let rest = data.get(pos..).unwrap_or(&[]);
            let side = *self.side(dir);
            match side.phase {
                Phase::Header => {
                    if !side.synced && pos != 0 {
                        // Looking for a message start: only at the start of
                        // a delivery (where a segment likely starts one).
                        ctx.stats.resync_skipped_bytes += rest.len() as u64;
                        return data.len();
                    }
                    let Some(hdr) = rest.get(..HEADER_LEN) else {
                        if full {
                            ctx.stats.resync_skipped_bytes += rest.len() as u64;
                            return data.len();
                        }
                        let s = self.side(dir);
                        if s.first_ts == Timestamp::ZERO {
                            s.first_ts = ctx.ts;
                        }
                        return pos;
                    };
                    let len = le_i32(hdr).unwrap_or(0) as u32;
                    let id = hdr.get(4..).and_then(le_i32).unwrap_or(0);
                    let rto = hdr.get(8..).and_then(le_i32).unwrap_or(0);
                    let op = hdr.get(12..).and_then(le_i32).unwrap_or(0);
                    let verdict = self.verdict(ctx, dir, side.synced, len, op, rto);
                    if verdict == Verdict::Bad {
                        if side.synced {
                            ctx.stats.parse_errors += 1;
                        }
                        let s = self.side(dir);
                        s.synced = false;
                        s.first_ts = Timestamp::ZERO;
                        ctx.stats.resync_skipped_bytes += rest.len() as u64;
                        return data.len();
                    }
                    self.begin_message(ctx, dir, cur, len, id, rto, op, verdict == Verdict::Known);
                    pos += HEADER_LEN;
                    if len as usize == HEADER_LEN {
                        self.finish_message(ctx, dir, false);
                    }
                }
                Phase::Body => {
                    let left = side.end.wrapping_sub(cur);
                    if left == 0 || left > MAX_MESSAGE_LEN {
                        // Lost bytes covered the end of the message. Ending
                        // exactly there keeps the framing; beyond it, the
                        // next header is somewhere in what was lost.
                        self.finish_message(ctx, dir, true);
                        if left != 0 {
                            self.side(dir).synced = false;
                        }
                        continue;
                    }
                    let chunk = rest.get(..rest.len().min(left as usize)).unwrap_or(rest);
                    match self.body(ctx, dir, chunk, cur) {
                        Some(n) => {
                            pos += n;
                            if n as u32 == left {
                                self.finish_message(ctx, dir, false);
                            }
                        }
                        None => {
                            if full && pos == 0 {
                                // Cannot happen (fields are ≤ 16 bytes), but
                                // a full block must be consumed: give up on
                                // this message.
                                self.malformed(dir);
                                continue;
                            }
                            return pos;
                        }
                    }
                }
            }
        }
        pos
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, _len: u32) {
        let side = *self.side(dir);
        if let Some(t) = side.msg.and_then(|h| ctx.txn(h)) {
            t.notes.insert(match dir {
                Direction::ToServer => Notes::REQUEST_GAP,
                Direction::ToClient => Notes::RESPONSE_GAP,
            });
        }
        if side.phase != Phase::Body {
            let s = self.side(dir);
            s.synced = false;
            s.first_ts = Timestamp::ZERO;
            return;
        }
        // What was being decoded is lost; the rest of the message is skipped
        // by its length. Whether the loss ended inside the message or beyond
        // it, the position of the next delivery tells (see `on_data`): the
        // engine may also report as lost bytes it could not keep, so the
        // gap's length alone does not say where the stream resumes.
        Self::stop_walk(ctx, side, false);
        self.malformed_quiet(dir);
        if let Some(x) = side.msg.and_then(|h| ctx.txn(h)).and_then(mongo) {
            x.text.mark_truncated();
        }
    }

    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        self.end_of_stream(ctx, dir);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        self.end_of_stream(ctx, Direction::ToClient);
        self.end_of_stream(ctx, Direction::ToServer);
    }
}

#[cfg(test)]
mod tests;

/// Writes the Mongodb fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat(
    m: &mut Object<'_, '_>,
    t: &Transaction,
    x: &MongodbTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    json::packetbeat(m, t, x, cfg)
}

/// Writes the Mongodb fields of the ECS layout into `m`.
pub(crate) fn json_ecs(m: &mut Object<'_, '_>, t: &Transaction, x: &MongodbTxn, cfg: &Config) -> Result<(), JsonError> {
    json::ecs(m, t, x, cfg)
}
