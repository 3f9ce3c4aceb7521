//! The Redis analyzer: RESP2 and RESP3 over TCP.
//!
//! A streaming parser per direction keeps a small stack of open aggregates
//! (arrays, maps, sets, pushes, attributes) with their remaining element
//! counts; bulk payloads are passed through without being buffered, a
//! bounded prefix of them kept as text. Messages may be cut at any byte and
//! many may share a segment.
//!
//! * **Requests** are multibulk arrays (`*3\r\n$3\r\nSET\r\n...`) or inline
//!   command lines (`PING\r\n`, as `nc` or `telnet` send them). `method`
//!   is the command (two words for container commands: `CONFIG GET`),
//!   `resource` the key (the next argument), `query` the arguments joined
//!   by spaces, as Packetbeat does.
//! * **Pipelining**: requests are queued per flow in arrival order and each
//!   reply is paired with the oldest request still unanswered (FIFO), so
//!   any number of commands may be in flight (bounded by the pending pool).
//!   `MULTI`/`EXEC` needs nothing special: each queued command is paired
//!   with its `+QUEUED`, `EXEC` with the array of results.
//! * **Replies** are rendered into `redis.return_value` (errors into
//!   `redis.error`, status `Error`): simple strings, numbers and bulk strings
//!   as they are, nulls as `nil`, aggregates as `[a, b]`, maps as `{k: v}`,
//!   booleans as `true`/`false`, verbatim strings without their format
//!   prefix; RESP3 attributes are skipped (they describe the reply, they are
//!   not it); RESP3 streamed strings and aggregates are followed.
//! * **Pub/sub and other pushes** are reported as **their own events**
//!   (`redis.push: true`, `method` the push kind such as `MESSAGE`,
//!   `resource` the channel, no request, no response time) and never paired
//!   with a command: RESP3 `>` pushes always; RESP2 arrays whose first element
//!   is `message`, `pmessage` or `smessage` once the connection has
//!   subscribed; lines of a `MONITOR` feed. The confirmations of
//!   `SUBSCRIBE a b c` (one per channel) are collected into the one
//!   `SUBSCRIBE` transaction, joined by `, `.
//!
//! Gaps: inside a bulk payload of known length the lost bytes are skipped
//! and the transaction is marked; anywhere else the message in progress is
//! ended (marked) and the direction resynchronises at the next line that
//! starts a message (`*N` for requests). Replies that then pair with a
//! command that was already waiting are marked (status `Error`, response
//! loss noted: they may be fragments of a cut reply); server messages with
//! nothing to pair with are skipped and counted, not reported, until a
//! command sent after the loss is answered (or a push is recognised). So a
//! loss never makes up transactions; the FIFO pairing can still be off by
//! the number of messages lost, as in any passive analyzer.
//!
//! Bounds: text of one transaction is a [`REDIS_TEXT_CAP`]-byte arena, the
//! command line at most [`QUERY_CAP`] of it; aggregates nest at most
//! [`MAX_DEPTH`] levels deep with their elements rendered (deeper ones are
//! followed with one counter and shown as `[...]`); lines longer than a
//! stream block (4 KiB) are cut. Every cut is flagged (transaction
//! truncated).

pub mod json;
pub mod resp;
pub mod txn;

pub(crate) use json::{json_ecs, json_packetbeat};
pub use txn::{RedisKind, RedisTxn, QUERY_CAP, REDIS_TEXT_CAP};

use heapless::Vec;

use crate::config::Common;
use crate::flow::Direction;
use crate::pending::{Handle, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::proto::{Analyzer, Ctx};
use crate::text::{find_byte, parse_u64, trim, Span};
use crate::time::Timestamp;
use crate::txn::{Detail, Notes, Status, Transaction};
use resp::{parse_header, Agg, Blob, Header, Peek};

/// Aggregates nested deeper than this are still followed (so the message
/// end is found) but not rendered: they show as `[...]`.
pub const MAX_DEPTH: usize = 8;

/// Pending-record flag (analyzer bits 0x08..0x80 of
/// [`PendingSlot::flags`](crate::pending::PendingSlot)): the record holds a
/// server push, which no reply may pair with.
pub const FLAG_PUSH: u8 = 0x08;
/// Pending-record flag: the command was waiting for its reply when the
/// reply stream lost framing, so what pairs with it may be a fragment; the
/// stream counts as back in step only once a command sent later is
/// answered.
pub const FLAG_STALE: u8 = 0x10;

/// Redis analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// Ports, raw text, timeout. `send_request` adds `request` (the command
    /// line, as Packetbeat does), `send_response` adds `response` (the
    /// rendered reply).
    pub common: Common,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig { common: Common::on_ports(&[6379]) }
    }
}

/// Where a direction's parser is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// At the start of a line: a message or an element header.
    #[default]
    Line,
    /// Inside a bulk payload: `rem` bytes left, the first `skip` of them
    /// not rendered (a verbatim string's format prefix).
    Bulk { rem: u64, skip: u8 },
    /// Expecting the CR LF after a payload (`left` bytes of it).
    BulkEnd { left: u8 },
    /// The rest of a line longer than a block: skipped up to its LF, which
    /// ends the value (`inline`: an inline command, which it completes).
    LongLine { inline: bool },
    /// Lost framing (gap, parse error): skipping to a line that starts a
    /// message (`line_start`: positioned at the start of a line).
    Resync { line_start: bool },
}

/// What the message in progress is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Role {
    /// A command (client to server).
    #[default]
    Command,
    /// A reply, paired with a command (or reported alone).
    Reply,
    /// A push, reported as its own event.
    Push,
    /// A (un)subscribe confirmation, collected into its command's record.
    Confirm(Sub),
}

/// The (un)subscribe family: commands and their confirmation kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sub {
    Subscribe,
    PSubscribe,
    SSubscribe,
    Unsubscribe,
    PUnsubscribe,
    SUnsubscribe,
}

impl Sub {
    fn from_name(k: &[u8]) -> Option<Sub> {
        const NAMES: [(&[u8], Sub); 6] = [
            (b"subscribe", Sub::Subscribe),
            (b"psubscribe", Sub::PSubscribe),
            (b"ssubscribe", Sub::SSubscribe),
            (b"unsubscribe", Sub::Unsubscribe),
            (b"punsubscribe", Sub::PUnsubscribe),
            (b"sunsubscribe", Sub::SUnsubscribe),
        ];
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, s)| *s)
    }
}

/// One open aggregate.
#[derive(Clone, Copy, Debug)]
struct Level {
    agg: Agg,
    /// RESP3 streamed aggregate: ends with a `.` line.
    streamed: bool,
    /// Values still to come (unused when `streamed`).
    remaining: u32,
    /// Values seen so far, saturating: past 65 535 only the separators of
    /// text that no longer fits the arena could be wrong.
    items: u16,
}

/// Parser state of one direction.
#[derive(Clone, Debug)]
struct Side<const D: usize> {
    state: State,
    /// A message has started and is not complete.
    in_msg: bool,
    /// Its record (None when the pool could not give one, or it was evicted).
    msg: Option<Handle>,
    role: Role,
    /// Wire bytes of the message so far.
    bytes: u64,
    /// The text being built: the command line or the rendered reply.
    span: Span,
    stack: Vec<Level, D, u8>,
    /// Values still to come inside an aggregate nested beyond the stack.
    deep: u32,
    /// Inside a RESP3 streamed string (`$?`, then `;N` chunks).
    streamed_string: bool,
    /// The top-level value is an error.
    top_error: bool,
    /// Where the current top-level element's text starts in `span`.
    elem_start: u16,
    /// Index of the element that holds a push's channel (0: none).
    resource_at: u8,
    /// The command is a container command (`CONFIG GET`): the key is the
    /// third word.
    container: bool,
    /// A confirmation's channel was null / its subscription count.
    conf_nil: bool,
    conf_count: Option<u32>,
    /// Time of the packet where a message start began arriving, while its
    /// first line is incomplete (valid when `waiting`).
    wait_ts: Timestamp,
    waiting: bool,
    /// Framing was lost (gap, parse error) and no command sent since has
    /// been answered: server messages with nothing to pair with are
    /// skipped (counted in `resync_skipped_bytes`), not reported.
    recovering: bool,
    /// The message in progress is being skipped (see `recovering`).
    dropped: bool,
}

impl<const D: usize> Side<D> {
    const fn new() -> Side<D> {
        Side {
            state: State::Line,
            in_msg: false,
            msg: None,
            role: Role::Command,
            bytes: 0,
            span: Span::EMPTY,
            stack: Vec::new(),
            deep: 0,
            streamed_string: false,
            top_error: false,
            elem_start: 0,
            resource_at: 0,
            container: false,
            conf_nil: false,
            conf_count: None,
            wait_ts: Timestamp::ZERO,
            waiting: false,
            recovering: false,
            dropped: false,
        }
    }

    /// Forgets the message in progress (the record stays where it is).
    fn reset_message(&mut self) {
        let (state, wait_ts, waiting, recovering) = (self.state, self.wait_ts, self.waiting, self.recovering);
        *self = Side::new();
        (self.state, self.wait_ts, self.waiting, self.recovering) = (state, wait_ts, waiting, recovering);
    }

    /// The time a message starting now began arriving.
    fn start_ts(&mut self, now: Timestamp) -> Timestamp {
        let ts = if self.waiting { self.wait_ts } else { now };
        self.waiting = false;
        ts
    }

    /// The start of a message is incomplete: remember when it began.
    fn wait_from(&mut self, now: Timestamp) {
        if !self.waiting {
            self.waiting = true;
            self.wait_ts = now;
        }
    }

    /// In a (un)subscribe confirmation, the index of the top-level field
    /// being read (1: channel, 2: count).
    fn confirmation_field(&self) -> Option<u16> {
        match (self.role, self.stack.len(), self.stack.last()) {
            (Role::Confirm(_), 1, Some(l)) if self.deep == 0 => Some(l.items),
            _ => None,
        }
    }

    /// Text is not kept inside attributes and over-deep aggregates.
    fn suppressed(&self) -> bool {
        self.deep > 0 || self.stack.iter().any(|l| l.agg == Agg::Attribute)
    }
}

impl<const D: usize> Default for Side<D> {
    fn default() -> Self {
        Side::new()
    }
}

/// An (un)subscribe transaction still collecting confirmations.
#[derive(Clone, Copy, Debug)]
struct Collect {
    h: Handle,
    sub: Sub,
    /// Confirmations still expected (None: until the count says done).
    remaining: Option<u32>,
}

/// Connection-wide state.
#[derive(Clone, Debug, Default)]
struct Conn {
    /// RESP2 subscribed mode: arrays may be pushed messages.
    pubsub: bool,
    /// The client switched to RESP3 (`HELLO 3`): pushes are `>` only.
    resp3: bool,
    /// `MONITOR` was accepted: unsolicited status lines are its feed.
    monitor: bool,
    collect: Option<Collect>,
    /// Subscriptions, as the confirmations count them.
    channels: u32,
    patterns: u32,
    shards: u32,
}

impl Conn {
    const fn new() -> Conn {
        Conn { pubsub: false, resp3: false, monitor: false, collect: None, channels: 0, patterns: 0, shards: 0 }
    }
}

/// Per-flow Redis parser state (both directions and the connection's
/// modes: subscribed, RESP3, monitor). Commands are flat arrays, so their
/// direction keeps one aggregate level (anything nested in a command is
/// followed by the over-depth counter); replies keep [`MAX_DEPTH`].
#[derive(Clone, Debug, Default)]
pub struct RedisParser {
    req: Side<1>,
    rsp: Side<MAX_DEPTH>,
    conn: Conn,
}

fn redis(t: &mut Transaction) -> Option<&mut RedisTxn> {
    match &mut t.detail {
        Detail::Redis(r) => Some(r),
        _ => None,
    }
}

/// A record whose command is complete and still waits for its reply.
fn waiting(flags: u8) -> bool {
    flags & (FLAG_REQUEST_DONE | FLAG_RESPONSE_STARTED | FLAG_RESPONSE_ONLY | FLAG_PUSH) == FLAG_REQUEST_DONE
}

fn gap_note(dir: Direction) -> Notes {
    match dir {
        Direction::ToServer => Notes::REQUEST_GAP,
        Direction::ToClient => Notes::RESPONSE_GAP,
    }
}

fn malformed_note(dir: Direction) -> Notes {
    match dir {
        Direction::ToServer => Notes::REQUEST_MALFORMED,
        Direction::ToClient => Notes::RESPONSE_MALFORMED,
    }
}

/// Why a line could not be handled yet.
enum Outcome {
    /// Consumed (handled or skipped).
    Done,
    /// More bytes are needed after the line (a push kind to peek at).
    Wait,
}

/// Appends `bytes` to the text being built, within the direction's cap.
fn put<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, dir: Direction, bytes: &[u8]) {
    if bytes.is_empty() || side.suppressed() {
        return;
    }
    let Some(r) = side.msg.and_then(|h| ctx.txn(h)).and_then(redis) else { return };
    let cap = match dir {
        Direction::ToServer => QUERY_CAP,
        Direction::ToClient => REDIS_TEXT_CAP,
    };
    let room = cap.saturating_sub(side.span.len());
    let piece = bytes.get(..room.min(bytes.len())).unwrap_or(&[]);
    if piece.len() < bytes.len() {
        r.text.mark_truncated();
    }
    if piece.is_empty() {
        return;
    }
    side.span = r.text.extend(side.span, piece);
    match dir {
        Direction::ToServer => r.query = side.span,
        Direction::ToClient => r.value = side.span,
    }
}

/// Notes `note` on the message in progress.
fn note<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &Side<D>, note: Notes) {
    if let Some(t) = side.msg.and_then(|h| ctx.txn(h)) {
        t.notes.insert(note);
    }
}

fn mark_truncated<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &Side<D>) {
    if let Some(r) = side.msg.and_then(|h| ctx.txn(h)).and_then(redis) {
        r.text.mark_truncated();
    }
}

impl RedisParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        RedisParser { req: Side::new(), rsp: Side::new(), conn: Conn::new() }
    }
}

// ---- message start and end ----

/// Starts a command record.
fn begin_command<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>) {
    let ts = side.start_ts(ctx.ts);
    side.reset_message();
    side.in_msg = true;
    side.role = Role::Command;
    side.msg = ctx.begin(ts);
    if let Some(t) = side.msg.and_then(|h| ctx.txn(h)) {
        RedisTxn::init(t);
    }
}

/// Starts a reply, push or confirmation whose first line is `h`; `after`
/// is what follows that line. Decides what it is and binds its record.
fn begin_server_message<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    h: &Header<'_>,
    after: &[u8],
    full: bool,
) -> Outcome {
    let maybe_push = match h {
        Header::Aggregate(Agg::Push, Some(n)) => *n > 0,
        // RESP2 arrays are looked at even before a subscription is seen,
        // so that the confirmations of a SUBSCRIBE lost in capture are
        // recognised (and not reported as one unmatched reply each).
        Header::Aggregate(Agg::Array, Some(n)) => *n > 0 && !conn.resp3,
        _ => false,
    };
    let kind = if maybe_push {
        match resp::peek_kind(after) {
            Peek::Need if !full => return Outcome::Wait,
            Peek::Kind(k) => Some(k),
            _ => None,
        }
    } else {
        None
    };
    let is_push_type = matches!(h, Header::Aggregate(Agg::Push, _));
    let mut role = match kind {
        Some(k) => match Sub::from_name(k) {
            Some(s) => Role::Confirm(s),
            None if is_push_type => Role::Push,
            None => {
                let data = [&b"message"[..], b"pmessage", b"smessage"];
                if conn.pubsub && data.iter().any(|d| d.eq_ignore_ascii_case(k)) {
                    Role::Push
                } else {
                    Role::Reply
                }
            }
        },
        None if is_push_type => Role::Push,
        None => Role::Reply,
    };
    if let (Role::Confirm(_), false, false) = (role, is_push_type, conn.pubsub) {
        // A RESP2 array that looks like a confirmation outside subscribed
        // mode is one only if the command it answers is a (un)subscribe
        // (or that command was not seen); otherwise it is data
        // (`LRANGE` of a list holding "subscribe").
        let sub_cmd = ctx.find(|s| waiting(s.flags)).and_then(|h| ctx.txn(h)).and_then(redis).map(|r| {
            let m = r.bytes(r.method);
            let m = m.split(|&c| c == b' ').next().unwrap_or(&[]);
            Sub::from_name(m).is_some()
        });
        if sub_cmd == Some(false) {
            role = Role::Reply;
        }
    }
    let ts = side.start_ts(ctx.ts);
    side.reset_message();
    side.in_msg = true;
    // Confirmations arrive back to back; anything else ends a collection.
    if let Some(c) = conn.collect {
        let same = matches!(role, Role::Confirm(s) if s == c.sub);
        if same {
            side.role = role;
            side.msg = Some(c.h);
            if let Some(r) = ctx.txn(c.h).and_then(redis) {
                side.span = r.value;
                put(ctx, side, Direction::ToClient, b", ");
                return Outcome::Done;
            }
            // The record is gone (timed out): pair afresh below.
            conn.collect = None;
        } else if role != Role::Push {
            finish_collect(ctx, conn);
        }
    }
    let mut h_rec = None;
    if role != Role::Push {
        h_rec = ctx.find(|s| waiting(s.flags));
        if h_rec.is_none() && role == Role::Reply && conn.monitor && matches!(h, Header::Simple(_)) {
            role = Role::Push;
        }
    }
    side.role = role;
    if role == Role::Push && kind.is_some() {
        // A push whose kind could be read has a shape fragments seldom
        // have: the stream is back in step (a subscriber that only
        // receives pushes recovers here).
        side.recovering = false;
    }
    if h_rec.is_none() && (side.recovering || matches!(role, Role::Confirm(_))) {
        // Nothing to pair with, right after lost framing: most likely a
        // piece of a message cut by the loss (parsed, skipped, counted).
        // And a (un)subscribe confirmation whose command was not seen is
        // counted, not reported: there is one per channel.
        if side.recovering {
            side.dropped = true;
        } else {
            ctx.stats.unmatched_responses += 1;
        }
        return Outcome::Done;
    }
    match h_rec {
        Some(rec) => {
            side.msg = Some(rec);
            if let Some(s) = ctx.slot(rec) {
                if s.flags & FLAG_STALE == 0 {
                    side.recovering = false;
                } else {
                    s.txn.notes.insert(Notes::RESPONSE_GAP);
                }
                s.flags |= FLAG_RESPONSE_STARTED;
                s.txn.response_ts = Some(ts);
                if let Some(r) = redis(&mut s.txn) {
                    r.value = Span::EMPTY;
                }
            }
        }
        None => {
            side.msg = ctx.begin(ts);
            let Some(rec) = side.msg else { return Outcome::Done };
            let push = role == Role::Push;
            if !push {
                ctx.stats.unmatched_responses += 1;
            }
            if let Some(s) = ctx.slot(rec) {
                s.flags |= FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED;
                RedisTxn::init(&mut s.txn);
                if push {
                    s.flags |= FLAG_PUSH;
                    if let Some(r) = redis(&mut s.txn) {
                        r.kind = RedisKind::Push;
                        if matches!(h, Header::Simple(_)) {
                            // A MONITOR line: its kind is not in the message.
                            r.method = r.text.push(b"monitor");
                        }
                    }
                } else {
                    s.txn.notes.insert(Notes::NO_REQUEST);
                    s.txn.response_ts = Some(ts);
                }
            }
        }
    }
    if role == Role::Push {
        side.resource_at = match kind {
            Some(k) if k.eq_ignore_ascii_case(b"pmessage") => 2,
            Some(k) if k.eq_ignore_ascii_case(b"message") || k.eq_ignore_ascii_case(b"smessage") => 1,
            _ => 0,
        };
    }
    Outcome::Done
}

/// The command in progress is complete: it now waits for its reply.
fn finish_command<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, conn: &mut Conn) {
    if let Some(s) = side.msg.and_then(|h| ctx.slot(h)) {
        s.flags |= FLAG_REQUEST_DONE;
        s.txn.bytes_in = side.bytes;
        if redis(&mut s.txn).is_some_and(|r| subscribes(r)) {
            conn.pubsub = true;
        }
    }
    side.reset_message();
}

/// The command subscribes the connection (`SUBSCRIBE`, `PSUBSCRIBE`,
/// `SSUBSCRIBE`): the server may push messages from then on.
fn subscribes(r: &RedisTxn) -> bool {
    r.command_is(b"SUBSCRIBE") || r.command_is(b"PSUBSCRIBE") || r.command_is(b"SSUBSCRIBE")
}

/// The server message in progress is complete (`failed`: cut by a gap, a
/// parse error or the end of the stream).
fn finish_server_message<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, conn: &mut Conn, failed: bool) {
    let role = side.role;
    let (bytes, top_error) = (side.bytes, side.top_error);
    let (conf_nil, conf_count) = (side.conf_nil, side.conf_count);
    let msg = side.msg;
    if side.dropped {
        ctx.stats.resync_skipped_bytes += bytes;
    }
    side.reset_message();
    if let Role::Confirm(sub) = role {
        if !failed {
            if let Some(n) = conf_count {
                match sub {
                    Sub::Subscribe | Sub::Unsubscribe => conn.channels = n.saturating_sub(conn.patterns),
                    Sub::PSubscribe | Sub::PUnsubscribe => conn.patterns = n.saturating_sub(conn.channels),
                    Sub::SSubscribe | Sub::SUnsubscribe => conn.shards = n,
                }
            }
            if !conn.resp3 {
                conn.pubsub = conn.channels + conn.patterns + conn.shards > 0
                    || matches!(sub, Sub::Subscribe | Sub::PSubscribe | Sub::SSubscribe);
            }
        }
        let Some(h) = msg else { return };
        let mut argc = 0;
        if let Some(s) = ctx.slot(h) {
            s.txn.bytes_out = s.txn.bytes_out.saturating_add(bytes);
            if let Some(r) = redis(&mut s.txn) {
                r.replied = true;
                argc = r.argc;
            }
            if failed {
                s.txn.status = Status::Error;
            }
        }
        let remaining = match conn.collect {
            Some(c) if c.h == h => c.remaining.map(|n| n.saturating_sub(1)),
            _ => (argc > 1).then(|| argc - 2),
        };
        let done = failed
            || match remaining {
                Some(n) => n == 0,
                None => {
                    conf_nil
                        || match sub {
                            Sub::Unsubscribe => conn.channels == 0,
                            Sub::PUnsubscribe => conn.patterns == 0,
                            Sub::SUnsubscribe => conn.shards == 0,
                            _ => true,
                        }
                }
            };
        if done {
            conn.collect = None;
            ctx.emit(h);
        } else {
            conn.collect = Some(Collect { h, sub, remaining });
        }
        return;
    }
    let Some(h) = msg else { return };
    let mut cmd_monitor = false;
    let mut cmd_reset = false;
    let mut hello = None;
    if let Some(s) = ctx.slot(h) {
        let response_only = s.flags & FLAG_RESPONSE_ONLY != 0 && s.flags & FLAG_PUSH == 0;
        // Paired after lost framing: the reply may be a fragment of another.
        let stale = s.flags & FLAG_STALE != 0;
        s.txn.bytes_out = bytes;
        s.txn.status = if response_only || top_error || failed || stale { Status::Error } else { Status::Ok };
        if let Some(r) = redis(&mut s.txn) {
            r.replied = true;
            r.is_error = top_error;
            if !top_error && !failed && r.kind == RedisKind::Command {
                cmd_monitor = r.command_is(b"MONITOR");
                cmd_reset = r.command_is(b"RESET");
                if r.command_is(b"HELLO") {
                    hello = Some(r.bytes(r.resource).first().copied());
                }
            }
        }
    }
    ctx.emit(h);
    if cmd_monitor {
        conn.monitor = true;
    }
    if cmd_reset {
        *conn = Conn::new();
    }
    match hello {
        Some(Some(b'3')) => conn.resp3 = true,
        Some(Some(b'2')) => conn.resp3 = false,
        _ => {}
    }
}

/// Emits the (un)subscribe transaction that was collecting confirmations.
fn finish_collect(ctx: &mut Ctx<'_, '_>, conn: &mut Conn) {
    if let Some(c) = conn.collect.take() {
        if ctx.slot(c.h).is_some() {
            ctx.emit(c.h);
        }
    }
}

/// Ends the message in progress of `dir` early, noting `why`.
fn abort_message<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    dir: Direction,
    why: Notes,
) {
    if !side.in_msg {
        side.reset_message();
        return;
    }
    note(ctx, side, why);
    match dir {
        Direction::ToServer => finish_command(ctx, side, conn),
        Direction::ToClient => finish_server_message(ctx, side, conn, true),
    }
}

/// The reply stream lost framing: the commands waiting now may get a
/// fragment, or nothing, for a reply (see [`FLAG_STALE`]).
fn lose_reply_framing<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>) {
    side.recovering = true;
    // One record flagged per turn; bounded by the pool (and a guard).
    let mut guard = 1usize << 16;
    while guard > 0 {
        guard -= 1;
        let Some(h) = ctx.find(|s| waiting(s.flags) && s.flags & FLAG_STALE == 0) else { break };
        match ctx.slot(h) {
            Some(s) => s.flags |= FLAG_STALE,
            None => break,
        }
    }
}

/// A parse error: the message in progress ends, marked; the direction
/// resynchronises.
fn malformed<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    dir: Direction,
    line_start: bool,
) {
    ctx.stats.parse_errors += 1;
    abort_message(ctx, side, conn, dir, malformed_note(dir));
    side.state = State::Resync { line_start };
    if dir == Direction::ToClient {
        lose_reply_framing(ctx, side);
    }
}

// ---- values ----

/// A value starts: separator from the previous one, element bookkeeping.
fn value_start<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, dir: Direction) {
    if side.deep > 0 {
        return;
    }
    let depth = side.stack.len();
    let Some(l) = side.stack.last() else { return };
    let sep: &[u8] = if l.items == 0 {
        b""
    } else if dir == Direction::ToServer && depth == 1 {
        b" "
    } else if l.agg == Agg::Map && l.items % 2 == 1 {
        b": "
    } else {
        b", "
    };
    put(ctx, side, dir, sep);
    if depth == 1 {
        side.elem_start = side.span.len() as u16;
    }
}

/// Bookkeeping when top-level element `idx` ends: method, resource,
/// argument count, push channel, confirmation fields.
fn element_end<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, dir: Direction, idx: u16) {
    let (start, end) = (usize::from(side.elem_start), side.span.len());
    let len = end.saturating_sub(start);
    let role = side.role;
    if let Role::Confirm(_) = role {
        return;
    }
    let Some(r) = side.msg.and_then(|h| ctx.txn(h)).and_then(redis) else { return };
    let span = side.span;
    match (dir, role) {
        (Direction::ToServer, _) => command_element(r, &mut side.container, idx, span, start),
        (Direction::ToClient, Role::Push) => {
            if idx == 0 {
                r.method = r.text.sub(span, start, len);
            } else if idx == u16::from(side.resource_at) {
                r.resource = r.text.sub(span, start, len);
            }
        }
        _ => {}
    }
}

/// Top-level element `idx` of a command ended; `span` is the command line
/// so far and the element's text starts `start` bytes into it. Sets the
/// argument count, the method (two words for a container command such as
/// `CONFIG GET`, which sets `container`) and the resource (the key).
fn command_element(r: &mut RedisTxn, container: &mut bool, idx: u16, span: Span, start: usize) {
    let end = span.len();
    let len = end.saturating_sub(start);
    r.argc = u32::from(idx) + 1;
    match idx {
        0 => r.method = r.text.sub(span, start, len),
        1 if resp::is_container(r.text.get(r.method)) => {
            *container = true;
            r.method = r.text.sub(span, 0, end);
        }
        1 => r.resource = r.text.sub(span, start, len),
        2 if *container => r.resource = r.text.sub(span, start, len),
        _ => {}
    }
}

/// A value is complete: counts it in its aggregate, closes the aggregates
/// it completes, and ends the message when it was the top-level value.
fn value_done<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, conn: &mut Conn, dir: Direction) {
    if side.deep > 0 {
        side.deep -= 1;
        if side.deep > 0 {
            return;
        }
        // The over-deep aggregate is complete: a value of the level above.
    }
    let mut guard = MAX_DEPTH + 2;
    while guard > 0 {
        guard -= 1;
        let depth = side.stack.len();
        let Some(l) = side.stack.last().copied() else {
            match dir {
                Direction::ToServer => finish_command(ctx, side, conn),
                Direction::ToClient => finish_server_message(ctx, side, conn, false),
            }
            return;
        };
        if depth == 1 && l.agg != Agg::Attribute {
            element_end(ctx, side, dir, l.items);
        }
        let Some(top) = side.stack.last_mut() else { return };
        top.items = top.items.saturating_add(1);
        if top.streamed {
            return;
        }
        top.remaining = top.remaining.saturating_sub(1);
        if top.remaining > 0 {
            return;
        }
        if !close_level(ctx, side, dir) {
            return;
        }
    }
}

/// Pops the innermost aggregate, rendering its closing bracket. Returns
/// whether it was a value (attributes are not).
fn close_level<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, dir: Direction) -> bool {
    let Some(l) = side.stack.pop() else { return false };
    if l.agg == Agg::Attribute {
        return false;
    }
    let top_command = dir == Direction::ToServer && side.stack.is_empty();
    if !top_command {
        put(ctx, side, dir, if l.agg == Agg::Map { b"}" } else { b"]" });
    }
    true
}

/// An aggregate header.
fn open<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    dir: Direction,
    agg: Agg,
    len: Option<u64>,
) -> Result<(), ()> {
    let values = match len {
        Some(n) => Some(u32::try_from(n.saturating_mul(agg.per_entry())).map_err(|_| ())?),
        None => None,
    };
    if side.deep > 0 {
        // One counter follows everything below the depth cap.
        let n = values.ok_or(())?;
        if agg == Agg::Attribute {
            side.deep = side.deep.saturating_add(n);
        } else if n == 0 {
            value_done(ctx, side, conn, dir);
        } else {
            side.deep = side.deep.saturating_add(n - 1);
        }
        return Ok(());
    }
    let top_command = dir == Direction::ToServer && side.stack.is_empty();
    if agg == Agg::Attribute {
        if values == Some(0) {
            return Ok(());
        }
    } else if values == Some(0) {
        if !top_command {
            put(ctx, side, dir, if agg == Agg::Map { b"{}" } else { b"[]" });
        }
        value_done(ctx, side, conn, dir);
        return Ok(());
    }
    if side.stack.is_full() {
        let n = values.ok_or(())?;
        if agg == Agg::Attribute {
            return Err(());
        }
        put(ctx, side, dir, b"[...]");
        mark_truncated(ctx, side);
        side.deep = n;
        return Ok(());
    }
    if agg != Agg::Attribute && !top_command {
        put(ctx, side, dir, if agg == Agg::Map { b"{" } else { b"[" });
    }
    let level = Level { agg, remaining: values.unwrap_or(0), streamed: len.is_none(), items: 0 };
    side.stack.push(level).map_err(|_| ())
}

/// A header line inside a message (or the first line of one).
fn on_header<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    dir: Direction,
    h: Header<'_>,
) -> Result<(), ()> {
    if side.streamed_string {
        match h {
            Header::Chunk(0) => {
                side.streamed_string = false;
                value_done(ctx, side, conn, dir);
            }
            Header::Chunk(n) => side.state = State::Bulk { rem: n, skip: 0 },
            _ => return Err(()),
        }
        return Ok(());
    }
    match h {
        Header::Chunk(_) => return Err(()),
        Header::End => {
            if side.deep > 0 || !side.stack.last().is_some_and(|l| l.streamed) {
                return Err(());
            }
            if close_level(ctx, side, dir) {
                value_done(ctx, side, conn, dir);
            }
            return Ok(());
        }
        _ => {}
    }
    let attribute = matches!(h, Header::Aggregate(Agg::Attribute, _));
    if !attribute {
        value_start(ctx, side, dir);
        if side.stack.is_empty() && side.deep == 0 {
            side.top_error = matches!(h, Header::Error(_) | Header::Blob(Blob::Error, _));
        }
    }
    match h {
        Header::Simple(t) | Header::Error(t) | Header::Number(t) => {
            put(ctx, side, dir, t);
            value_done(ctx, side, conn, dir);
        }
        Header::Integer(t) => {
            put(ctx, side, dir, t);
            if side.confirmation_field() == Some(2) {
                side.conf_count = parse_u64(t).and_then(|v| u32::try_from(v).ok());
            }
            value_done(ctx, side, conn, dir);
        }
        Header::Boolean(b) => {
            put(ctx, side, dir, if b { b"true" } else { b"false" });
            value_done(ctx, side, conn, dir);
        }
        Header::Null => {
            put(ctx, side, dir, b"nil");
            side.conf_nil |= side.confirmation_field() == Some(1);
            value_done(ctx, side, conn, dir);
        }
        Header::Blob(kind, n) => {
            let skip = if kind == Blob::Verbatim { 4 } else { 0 };
            side.state = State::Bulk { rem: n, skip };
        }
        Header::StreamedString => side.streamed_string = true,
        Header::Aggregate(agg, len) => open(ctx, side, conn, dir, agg, len)?,
        Header::Chunk(_) | Header::End => return Err(()),
    }
    Ok(())
}

// ---- lines ----

/// An inline command line (`raw` with its line end; `cut`: the line was
/// longer than a block and continues).
fn inline_command<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, conn: &mut Conn, raw: &[u8], cut: bool) {
    let line = trim(resp::strip_eol(raw));
    if line.is_empty() {
        // Redis ignores empty lines between commands (no reply).
        side.waiting = false;
        return;
    }
    let words = resp::inline_words(line);
    let word = |i: usize| words.get(i).and_then(|&(s, n)| line.get(s..s + n)).unwrap_or(&[]);
    if !resp::plausible_command(word(0)) {
        malformed(ctx, side, conn, Direction::ToServer, false);
        side.state = State::Resync { line_start: !cut };
        return;
    }
    begin_command(ctx, side);
    side.bytes = raw.len() as u64;
    put(ctx, side, Direction::ToServer, line);
    let span = side.span;
    if let Some(r) = side.msg.and_then(|h| ctx.txn(h)).and_then(redis) {
        let at = |i: usize| words.get(i).copied().unwrap_or((0, 0));
        let (m0, m1, m2) = (at(0), at(1), at(2));
        r.method = r.text.sub(span, m0.0, m0.1);
        if resp::is_container(word(0)) && m1.1 > 0 {
            r.method = r.text.sub(span, m0.0, m1.0 + m1.1 - m0.0);
            r.resource = r.text.sub(span, m2.0, m2.1);
        } else {
            r.resource = r.text.sub(span, m1.0, m1.1);
        }
        let argc = line.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).count();
        r.argc = u32::try_from(argc).unwrap_or(u32::MAX);
        if cut {
            r.text.mark_truncated();
        }
    }
    if cut {
        side.state = State::LongLine { inline: true };
    } else {
        finish_command(ctx, side, conn);
    }
}

/// Whether a line may start a message (while resynchronising).
fn starts_message(dir: Direction, line: &[u8]) -> bool {
    match (dir, parse_header(line)) {
        (Direction::ToServer, Some(Header::Aggregate(Agg::Array, Some(_)))) => true,
        (Direction::ToServer, _) => false,
        (Direction::ToClient, Some(Header::Chunk(_) | Header::End)) | (Direction::ToClient, None) => false,
        (Direction::ToClient, Some(_)) => true,
    }
}

/// One complete line (`raw` with its line end); `after` is what follows it.
fn on_line<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    dir: Direction,
    raw: &[u8],
    after: &[u8],
    full: bool,
) -> Outcome {
    let line = resp::strip_eol(raw);
    if !side.in_msg && dir == Direction::ToServer && line.first() != Some(&b'*') {
        inline_command(ctx, side, conn, raw, false);
        return Outcome::Done;
    }
    let Some(h) = parse_header(line) else {
        malformed(ctx, side, conn, dir, true);
        return Outcome::Done;
    };
    if !side.in_msg {
        match dir {
            Direction::ToServer => match h {
                Header::Aggregate(Agg::Array, Some(n)) if n > 0 => begin_command(ctx, side),
                Header::Aggregate(Agg::Array, Some(_)) | Header::Null => {
                    // `*0` and `*-1` are ignored by Redis (no reply).
                    side.waiting = false;
                    return Outcome::Done;
                }
                _ => {
                    malformed(ctx, side, conn, dir, true);
                    return Outcome::Done;
                }
            },
            Direction::ToClient => {
                if matches!(h, Header::Chunk(_) | Header::End) {
                    malformed(ctx, side, conn, dir, true);
                    return Outcome::Done;
                }
                if let Outcome::Wait = begin_server_message(ctx, side, conn, &h, after, full) {
                    return Outcome::Wait;
                }
            }
        }
    }
    side.bytes = side.bytes.saturating_add(raw.len() as u64);
    if on_header(ctx, side, conn, dir, h).is_err() {
        malformed(ctx, side, conn, dir, true);
    }
    Outcome::Done
}

/// A line longer than a block: its first block is all there is.
fn on_cut_line<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    dir: Direction,
    prefix: &[u8],
) {
    if side.state != State::Line {
        // Resynchronising: a long line is never a message start.
        ctx.stats.resync_skipped_bytes += prefix.len() as u64;
        side.state = State::Resync { line_start: false };
        return;
    }
    if !side.in_msg && dir == Direction::ToServer && prefix.first() != Some(&b'*') {
        inline_command(ctx, side, conn, prefix, true);
        return;
    }
    // Only string-like scalars can be this long.
    let text = prefix.get(1..).unwrap_or(&[]);
    let h = match prefix.first() {
        Some(b'+') => Header::Simple(text),
        Some(b'-') => Header::Error(text),
        Some(b',' | b'(') if side.in_msg || dir == Direction::ToClient => Header::Number(text),
        _ => {
            malformed(ctx, side, conn, dir, false);
            return;
        }
    };
    if !side.in_msg {
        if dir == Direction::ToServer {
            malformed(ctx, side, conn, dir, false);
            return;
        }
        let _ = begin_server_message(ctx, side, conn, &h, &[], true);
    }
    side.bytes = side.bytes.saturating_add(prefix.len() as u64);
    value_start(ctx, side, dir);
    if side.stack.is_empty() && side.deep == 0 {
        side.top_error = matches!(h, Header::Error(_));
    }
    put(ctx, side, dir, text);
    mark_truncated(ctx, side);
    side.state = State::LongLine { inline: false };
}

/// End of one direction's stream: the message in progress is cut.
fn end_of_stream<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, conn: &mut Conn, dir: Direction) {
    let why = match dir {
        Direction::ToServer => Notes::REQUEST_MALFORMED,
        Direction::ToClient => Notes::RESPONSE_INCOMPLETE,
    };
    abort_message(ctx, side, conn, dir, why);
    side.state = State::Line;
    side.waiting = false;
    if dir == Direction::ToClient {
        finish_collect(ctx, conn);
    }
}

/// In-order bytes of one direction (see the streaming contract).
fn stream<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    dir: Direction,
    data: &[u8],
    full: bool,
) -> usize {
    let mut pos = 0usize;
    // Every turn consumes a byte, or changes state in a way that the
    // next turn consumes (bulk of length 0, a resync line check).
    let mut guard = 2 * data.len() + 8;
    while pos < data.len() && guard > 0 {
        guard -= 1;
        let rest = data.get(pos..).unwrap_or(&[]);
        match side.state {
            State::Bulk { rem, skip } => {
                if rem == 0 {
                    side.state = State::BulkEnd { left: 2 };
                    continue;
                }
                let n = rem.min(rest.len() as u64) as usize;
                let chunk = rest.get(..n).unwrap_or(&[]);
                let sk = (skip as usize).min(n);
                put(ctx, side, dir, chunk.get(sk..).unwrap_or(&[]));
                side.state = State::Bulk { rem: rem - n as u64, skip: skip - sk as u8 };
                side.bytes = side.bytes.saturating_add(n as u64);
                pos += n;
                if rem == n as u64 && rest.get(n..n + 2) == Some(b"\r\n") {
                    // The usual case, the payload's CR LF right behind it:
                    // what `BulkEnd` would do over the next two turns.
                    pos += 2;
                    side.bytes = side.bytes.saturating_add(2);
                    bulk_ended(ctx, side, conn, dir);
                }
            }
            State::BulkEnd { left } => {
                let c = rest.first().copied().unwrap_or(0);
                if (left == 2 && c == b'\r') || c == b'\n' {
                    pos += 1;
                    side.bytes = side.bytes.saturating_add(1);
                    if c == b'\r' {
                        side.state = State::BulkEnd { left: 1 };
                    } else {
                        bulk_ended(ctx, side, conn, dir);
                    }
                } else {
                    malformed(ctx, side, conn, dir, false);
                }
            }
            State::LongLine { inline } => {
                let (n, ended) = match find_byte(rest, b'\n') {
                    Some(i) => (i + 1, true),
                    None => (rest.len(), false),
                };
                pos += n;
                side.bytes = side.bytes.saturating_add(n as u64);
                if ended {
                    side.state = State::Line;
                    if inline {
                        finish_command(ctx, side, conn);
                    } else {
                        value_done(ctx, side, conn, dir);
                    }
                }
            }
            State::Resync { line_start: false } => {
                let (n, ended) = match find_byte(rest, b'\n') {
                    Some(i) => (i + 1, true),
                    None => (rest.len(), false),
                };
                pos += n;
                ctx.stats.resync_skipped_bytes += n as u64;
                if ended {
                    side.state = State::Resync { line_start: true };
                }
            }
            State::Line | State::Resync { line_start: true } => {
                if !side.in_msg && side.state == State::Line {
                    let whole = match dir {
                        Direction::ToServer => whole_command(ctx, side, conn, rest),
                        Direction::ToClient => whole_reply(ctx, side, conn, rest, full),
                    };
                    if let Some(n) = whole {
                        pos += n;
                        continue;
                    }
                }
                let Some(i) = find_byte(rest, b'\n') else {
                    if full && pos == 0 {
                        on_cut_line(ctx, side, conn, dir, rest);
                        return data.len();
                    }
                    if !side.in_msg {
                        side.wait_from(ctx.ts);
                    }
                    return pos;
                };
                let raw = rest.get(..=i).unwrap_or(rest);
                if side.state != State::Line {
                    if starts_message(dir, resp::strip_eol(raw)) {
                        side.state = State::Line;
                    } else {
                        pos += raw.len();
                        ctx.stats.resync_skipped_bytes += raw.len() as u64;
                    }
                    continue;
                }
                let after = rest.get(i + 1..).unwrap_or(&[]);
                match on_line(ctx, side, conn, dir, raw, after, full) {
                    Outcome::Done => pos += raw.len(),
                    Outcome::Wait => {
                        side.wait_from(ctx.ts);
                        return pos;
                    }
                }
            }
        }
    }
    if guard == 0 {
        // Cannot happen by the argument above; never loop forever.
        return data.len();
    }
    pos
}

/// Most arguments a command may have to take [`whole_command`]'s path.
const WHOLE_COMMAND_ARGS: usize = 16;

/// `<kind><decimal>\r\n` at the start of `data` in its plain form (no sign,
/// no leading zero, at most 10 digits): the number and the bytes it took.
fn plain_header(data: &[u8], kind: u8) -> Option<(usize, usize)> {
    // Nearly every header has one or two digits: read those whole.
    match data.get(..5) {
        Some(&[k, d, b'\r', b'\n', _]) if k == kind && d.is_ascii_digit() => return Some((usize::from(d - b'0'), 4)),
        Some(&[k, d1, d2, b'\r', b'\n']) if k == kind && (b'1'..=b'9').contains(&d1) && d2.is_ascii_digit() => {
            return Some((usize::from(d1 - b'0') * 10 + usize::from(d2 - b'0'), 5))
        }
        _ => {}
    }
    plain_header_digits(data, kind)
}

/// [`plain_header`] digit by digit, for any number of digits.
fn plain_header_digits(data: &[u8], kind: u8) -> Option<(usize, usize)> {
    if data.first() != Some(&kind) {
        return None;
    }
    let mut v = 0usize;
    let mut i = 1;
    while let Some(&c) = data.get(i) {
        match c {
            b'0'..=b'9' if i <= 10 && !(i == 2 && v == 0) => v = v * 10 + usize::from(c - b'0'),
            b'\r' if i > 1 => return (data.get(i + 1) == Some(&b'\n')).then_some((v, i + 2)),
            _ => return None,
        }
        i += 1;
    }
    None
}

/// The common request — a multibulk command of at most
/// [`WHOLE_COMMAND_ARGS`] bulk strings in their plain form, all of it in
/// `data`, its command line within [`QUERY_CAP`] — read in one pass and
/// written into its record once. The record is the one the line-by-line
/// path builds (the same text pieces in the same order, the same method,
/// resource, argument count and byte count); that path takes everything
/// else (cut messages, nesting, long commands). Returns the bytes taken.
fn whole_command<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    data: &[u8],
) -> Option<usize> {
    let (argc, mut at) = plain_header(data, b'*')?;
    if argc == 0 || argc > WHOLE_COMMAND_ARGS {
        return None;
    }
    let mut args: [&[u8]; WHOLE_COMMAND_ARGS] = [&[]; WHOLE_COMMAND_ARGS];
    let mut text = 0usize;
    for (i, arg) in args.iter_mut().take(argc).enumerate() {
        let (len, took) = plain_header(data.get(at..)?, b'$')?;
        let start = at + took;
        let end = start.checked_add(len)?;
        if data.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        *arg = data.get(start..end)?;
        text += len + usize::from(i > 0);
        at = end + 2;
    }
    if text > QUERY_CAP {
        return None;
    }
    begin_command(ctx, side);
    if let Some(s) = side.msg.and_then(|h| ctx.slot(h)) {
        s.flags |= FLAG_REQUEST_DONE;
        s.txn.bytes_in = at as u64;
        if let Some(r) = redis(&mut s.txn) {
            let args = args.get(..argc).unwrap_or(&[]);
            let query = r.text.push_words(args, b' ');
            let mut container = false;
            let mut start = 0;
            for (i, arg) in (0u16..).zip(args) {
                // The query up to and including this argument.
                let upto = r.text.sub(query, 0, start + arg.len());
                command_element(r, &mut container, i, upto, start);
                start += arg.len() + 1;
            }
            r.query = query;
            if subscribes(r) {
                conn.pubsub = true;
            }
        }
    }
    side.reset_message();
    Some(at)
}

/// The common reply — a status, error or integer line, or a plain bulk
/// string, all of it in `data` — taken in one turn through the same steps
/// as the line-by-line path (pairing, text, completion), without its state
/// machine. Returns the bytes taken.
fn whole_reply<const D: usize>(
    ctx: &mut Ctx<'_, '_>,
    side: &mut Side<D>,
    conn: &mut Conn,
    data: &[u8],
    full: bool,
) -> Option<usize> {
    let (h, text, n) = match data.first()? {
        b'+' | b'-' | b':' => {
            let lf = find_byte(data, b'\n')?;
            let h = parse_header(resp::strip_eol(data.get(..=lf)?))?;
            let (Header::Simple(text) | Header::Error(text) | Header::Integer(text)) = h else { return None };
            (h, text, lf + 1)
        }
        b'$' => {
            let (len, took) = plain_header(data, b'$')?;
            let end = took.checked_add(len)?;
            if data.get(end..end + 2)? != b"\r\n" {
                return None;
            }
            (Header::Blob(Blob::String, len as u64), data.get(took..end)?, end + 2)
        }
        _ => return None,
    };
    if let Outcome::Wait = begin_server_message(ctx, side, conn, &h, data.get(n..).unwrap_or(&[]), full) {
        return None;
    }
    side.bytes = n as u64;
    side.top_error = matches!(h, Header::Error(_));
    put(ctx, side, Direction::ToClient, text);
    finish_server_message(ctx, side, conn, false);
    Some(n)
}

/// A bulk payload and its CR LF are read: back to lines, and the value is
/// complete (a streamed string's chunk is not a value of its own).
fn bulk_ended<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, conn: &mut Conn, dir: Direction) {
    side.state = State::Line;
    if !side.streamed_string {
        value_done(ctx, side, conn, dir);
    }
}

/// `len` bytes of one direction were lost.
fn gap<const D: usize>(ctx: &mut Ctx<'_, '_>, side: &mut Side<D>, conn: &mut Conn, dir: Direction, len: u32) {
    side.waiting = false;
    if side.in_msg {
        note(ctx, side, gap_note(dir));
    }
    let len = u64::from(len);
    if let State::Bulk { rem, skip } = side.state {
        if len <= rem {
            // Lost inside a payload of known length: skip it, go on.
            side.bytes = side.bytes.saturating_add(len);
            let sk = u8::try_from(len).unwrap_or(u8::MAX);
            side.state = State::Bulk { rem: rem - len, skip: skip.saturating_sub(sk) };
            return;
        }
    }
    abort_message(ctx, side, conn, dir, gap_note(dir));
    // The next byte may start a message (whole segments were lost) or
    // be in the middle of one: look at its line first.
    side.state = State::Resync { line_start: true };
    if dir == Direction::ToClient {
        lose_reply_framing(ctx, side);
    }
}

impl Analyzer for RedisParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        match dir {
            Direction::ToServer => stream(ctx, &mut self.req, &mut self.conn, dir, data, full),
            Direction::ToClient => stream(ctx, &mut self.rsp, &mut self.conn, dir, data, full),
        }
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        match dir {
            Direction::ToServer => gap(ctx, &mut self.req, &mut self.conn, dir, len),
            Direction::ToClient => gap(ctx, &mut self.rsp, &mut self.conn, dir, len),
        }
    }

    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        match dir {
            Direction::ToServer => end_of_stream(ctx, &mut self.req, &mut self.conn, dir),
            Direction::ToClient => end_of_stream(ctx, &mut self.rsp, &mut self.conn, dir),
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        end_of_stream(ctx, &mut self.rsp, &mut self.conn, Direction::ToClient);
        end_of_stream(ctx, &mut self.req, &mut self.conn, Direction::ToServer);
    }

    fn on_datagram(&mut self, ctx: &mut Ctx<'_, '_>, _dir: Direction, _data: &[u8]) {
        // Redis has no UDP transport.
        ctx.stats.parse_errors += 1;
    }
}

#[cfg(test)]
mod tests;
