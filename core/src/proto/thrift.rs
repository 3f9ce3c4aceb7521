//! The Thrift-RPC analyzer.
//!
//! Decodes TBinaryProtocol (strict and old) and TCompactProtocol messages,
//! unframed or with the framed transport's 4-byte length; the encoding and
//! framing are recognised from each message's first bytes (see [`wire`]), so
//! `transport_type` and `protocol_type` only settle the old binary encoding,
//! which has no marker. Message bodies are decoded as they stream in, without
//! buffering the message ([`decode`]), and rendered as Packetbeat 1.x shows
//! them: `thrift.params` `(1: 1, 2: "a")`, `thrift.return_value`,
//! `thrift.exceptions`, with field ids, or the names of an IDL table
//! ([`idl`]) that the shell fills in from `idl_files`.
//!
//! Pairing: a reply belongs to the oldest unanswered call of the connection
//! with the same sequence id and method name (multiplexed `Service:method`
//! names are split into `path`/`thrift.service` and method). Calls may be
//! pipelined; at most [`MAX_IN_FLIGHT`] wait per connection, the oldest is
//! reported unanswered beyond that. ONEWAY calls are reported when complete,
//! with no response. Clients that send one-way calls as plain CALLs (Python
//! and others reuse sequence id 0 on a connection) are recognised when a
//! later call with the same sequence id is answered: an older call with that
//! id, still unanswered, cannot get a reply any more and is reported as
//! one-way (Packetbeat assumes the same when a second call comes). Replies
//! that match no call are reported alone ("Unmatched response").
//!
//! Status: `Error` for exceptions (a result field other than 0, or an
//! EXCEPTION message), unanswered calls and unmatched replies.
//!
//! Gaps: the message in progress ends there (marked); a call whose header
//! was seen keeps waiting for its reply. With framing, decoding resumes at
//! the next frame; without, the parser resynchronises at the next bytes that
//! look like a message header. Malformed bodies are handled the same way.
//!
//! Bounds: text per transaction [`THRIFT_TEXT_CAP`] bytes (parameters half of
//! it), nesting [`MAX_DEPTH`], method names [`MAX_METHOD_NAME`], strings and
//! containers no larger than the frame or [`MAX_MESSAGE`]; the configured
//! `string_max_size`, `collection_max_size` and `drop_after_n_struct_fields`.

pub mod decode;
pub mod idl;
pub mod json;
pub mod txn;
pub mod wire;

pub use decode::{MAX_DEPTH, MAX_MESSAGE};
pub use idl::{IdlFull, ThriftIdl, IDL_TEXT_CAP, MAX_IDL_FIELDS, MAX_IDL_METHODS};
pub use txn::{ReplyKind, TSpan, ThriftText, ThriftTxn, THRIFT_TEXT_CAP};
pub use wire::{MAX_FRAME, MAX_METHOD_NAME};

use crate::config::Common;
use crate::flow::Direction;
use crate::pending::{Handle, PendingSlot, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::proto::{Analyzer, Ctx};
use crate::time::Timestamp;
use crate::txn::{Detail, Notes, Status, Transaction};
use decode::{Opts, Role, Step, Target};
use wire::{Enc, Expect, Header, Parsed};

pub(crate) use json::{ecs as json_ecs, packetbeat as json_packetbeat};

/// Most calls of one connection waiting for a reply; a new call beyond this
/// reports the oldest as unanswered.
pub const MAX_IN_FLIGHT: usize = 64;

/// Thrift transport framing (`transport_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThriftTransport {
    /// Unframed messages on the socket (`socket`, the default).
    #[default]
    Socket,
    /// Each message prefixed with a 4-byte length (`framed`).
    Framed,
}

/// Thrift protocol encoding (`protocol_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThriftProtocol {
    /// TBinaryProtocol (`binary`, the default).
    #[default]
    Binary,
    /// TCompactProtocol (`compact`).
    Compact,
}

/// Thrift analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThriftConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Message framing (`transport_type`): framed messages are recognised
    /// either way; this says whether old (non-strict) binary messages,
    /// which carry no marker, come with a frame length.
    pub transport_type: ThriftTransport,
    /// Encoding (`protocol_type`): strict binary and compact messages are
    /// recognised either way; with `binary`, old binary messages are too.
    pub protocol_type: ThriftProtocol,
    /// Bytes kept per string value (`string_max_size`); longer ones end in `...`.
    pub string_max_size: u32,
    /// Elements shown per list/set/map and fields per struct
    /// (`collection_max_size`); the rest is shown as `...`.
    pub collection_max_size: u32,
    /// A struct with more fields than this makes the message malformed
    /// (`drop_after_n_struct_fields`): it was probably misread.
    pub drop_after_n_struct_fields: u32,
    /// Decode and show replies (`capture_reply`); when off, replies are
    /// still read (to find where they end) but not rendered.
    pub capture_reply: bool,
    /// Show every non-empty string as `"*"` (`obfuscate_strings`).
    pub obfuscate_strings: bool,
    /// Names from the IDL files (`idl_files`), parsed by the shell into a
    /// table that lives as long as the program (so that the configuration
    /// does not grow by the table's size when there is none).
    pub idl: Option<&'static ThriftIdl>,
}

impl Default for ThriftConfig {
    fn default() -> Self {
        ThriftConfig {
            common: Common::on_ports(&[9090]),
            transport_type: ThriftTransport::Socket,
            protocol_type: ThriftProtocol::Binary,
            string_max_size: 200,
            collection_max_size: 15,
            drop_after_n_struct_fields: 500,
            capture_reply: true,
            obfuscate_strings: false,
            idl: None,
        }
    }
}

impl ThriftConfig {
    fn opts(&self) -> Opts {
        Opts {
            string_max: self.string_max_size,
            collection_max: self.collection_max_size,
            drop_after: self.drop_after_n_struct_fields,
            obfuscate: self.obfuscate_strings,
            render: true,
        }
    }

    fn expect(&self) -> Expect {
        Expect {
            framed: self.transport_type == ThriftTransport::Framed,
            old_binary: self.protocol_type == ThriftProtocol::Binary,
        }
    }
}

/// Where a direction's parser is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Expecting a message header.
    #[default]
    Idle,
    /// Decoding a message body into `msg`.
    Body,
    /// Skipping the rest of a frame.
    Skip,
}

/// Parser state of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    phase: Phase,
    /// After junk or a gap: looking for the next message header.
    resync: bool,
    /// The record the message goes into.
    msg: Option<Handle>,
    /// The message is a call (else a reply).
    request: bool,
    /// The message is framed; its frame length.
    frame: Option<u32>,
    /// Body bytes of the frame not consumed yet.
    frame_left: u32,
    /// Bytes to skip (Skip phase).
    skip_left: u32,
    /// Bytes of the message so far.
    msg_bytes: u64,
    /// Time of the message's first byte (its header may end in a later packet).
    start_ts: Option<Timestamp>,
    /// Framing and encoding of the last message decoded without error: a
    /// connection keeps them, so a header of another kind (found while
    /// resynchronising, inside other data) is not believed.
    known: Option<(bool, Enc)>,
    /// Framing and encoding of the message in progress.
    kind: (bool, Enc),
}

/// Per-flow Thrift parser state (both directions).
#[derive(Clone, Debug, Default)]
pub struct ThriftParser {
    sides: [Side; 2],
    /// Bytes were lost on the server-to-client side since the last matched
    /// reply: unanswered calls may have lost their replies.
    response_gap: bool,
}

fn thrift(t: &mut Transaction) -> Option<&mut ThriftTxn> {
    match &mut t.detail {
        Detail::Thrift(x) => Some(x),
        _ => None,
    }
}

fn thrift_ref(t: &Transaction) -> Option<&ThriftTxn> {
    match &t.detail {
        Detail::Thrift(x) => Some(x),
        _ => None,
    }
}

/// `Service:method` of the multiplexed protocol, or just a method.
fn split_name(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().position(|&c| c == b':') {
        Some(i) => (name.get(..i).unwrap_or(&[]), name.get(i + 1..).unwrap_or(&[])),
        None => (&[], name),
    }
}

/// A call that is complete and waits for its reply.
fn waiting(s: &PendingSlot) -> bool {
    s.flags & (FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED) == 0
        && s.flags & FLAG_REQUEST_DONE != 0
        && thrift_ref(&s.txn).is_some_and(|x| !x.oneway)
}

/// A call not yet answered (complete or still arriving).
fn unanswered(s: &PendingSlot) -> bool {
    s.flags & (FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED) == 0
}

fn seqid_of(s: &PendingSlot) -> Option<u32> {
    thrift_ref(&s.txn).map(|x| x.seqid)
}

impl ThriftParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        const IDLE: Side = Side {
            phase: Phase::Idle,
            resync: false,
            msg: None,
            request: false,
            frame: None,
            frame_left: 0,
            skip_left: 0,
            msg_bytes: 0,
            start_ts: None,
            known: None,
            kind: (false, Enc::Binary),
        };
        ThriftParser { sides: [IDLE; 2], response_gap: false }
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.sides[0],
            Direction::ToClient => &mut self.sides[1],
        }
    }

    /// Starts the message whose header is `h` (at stream offset `at` of the
    /// data being handled).
    fn start_message(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, h: &Header<'_>, at: usize) {
        let request = matches!(h.mtype, wire::CALL | wire::ONEWAY);
        let ts = self.side(dir).start_ts.take().unwrap_or(ctx.ts);
        let header_body = (h.len - if h.frame.is_some() { 4 } else { 0 }) as u32;
        let frame_left = h.frame.map_or(0, |f| f.saturating_sub(header_body));
        let bound = if h.frame.is_some() { frame_left } else { MAX_MESSAGE };
        let (service, method) = split_name(h.name);
        let h_opt = if request {
            self.begin_call(ctx, h, ts, at, service, method, bound)
        } else {
            self.begin_reply(ctx, h, ts, service, method, bound)
        };
        let side = self.side(dir);
        side.request = request;
        side.kind = (h.frame.is_some(), h.enc);
        side.frame = h.frame;
        side.frame_left = frame_left;
        side.msg_bytes = h.len as u64;
        side.resync = false;
        match h_opt {
            Some(handle) => {
                side.msg = Some(handle);
                side.phase = Phase::Body;
            }
            None => {
                // No record to decode into: skip the frame, or resynchronise.
                side.msg = None;
                if h.frame.is_some() {
                    side.phase = Phase::Skip;
                    side.skip_left = frame_left;
                } else {
                    side.phase = Phase::Idle;
                    side.resync = true;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn begin_call(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        h: &Header<'_>,
        ts: Timestamp,
        at: usize,
        service: &[u8],
        method: &[u8],
        bound: u32,
    ) -> Option<Handle> {
        // Bound the calls waiting on this connection.
        let mut n = 0usize;
        ctx.find(|s| {
            if unanswered(s) {
                n += 1;
            }
            false
        });
        if n >= MAX_IN_FLIGHT {
            if let Some(old) = ctx.find(unanswered) {
                ctx.emit_unanswered(old, Notes::NO_RESPONSE);
            }
        }
        let handle = ctx.begin(ts)?;
        let seq = ctx.pos.wrapping_add(at as u32);
        let cfg = &ctx.cfg.thrift;
        let opts = cfg.opts();
        let idl = cfg.idl;
        let known = idl.and_then(|t| t.find(service, method).map(|m| (t, m)));
        let s = ctx.slot(handle)?;
        s.seq = seq;
        ThriftTxn::init(&mut s.txn);
        let x = thrift(&mut s.txn)?;
        x.method = x.text.push(method);
        x.service = match known {
            Some((t, m)) if service.is_empty() => x.text.push(t.service(m.index)),
            _ => x.text.push(service),
        };
        x.seqid = h.seqid;
        x.oneway = h.mtype == wire::ONEWAY;
        x.dec.start(&mut x.text, h.enc, Role::Args, opts, THRIFT_TEXT_CAP / 2, bound);
        x.dec.set_names(known.map(|(_, m)| m.params));
        Some(handle)
    }

    fn begin_reply(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        h: &Header<'_>,
        ts: Timestamp,
        service: &[u8],
        method: &[u8],
        bound: u32,
    ) -> Option<Handle> {
        let seqid = h.seqid;
        let same_call = |s: &PendingSlot| {
            waiting(s) && thrift_ref(&s.txn).is_some_and(|x| x.seqid == seqid && x.text.get(x.method) == method)
        };
        let found = ctx.find(same_call).or_else(|| self.answered_in_progress(ctx, seqid, method));
        if let Some(target) = found {
            // Older calls with this sequence id can no longer be answered: a
            // client that reuses an id waits for each reply, so they were
            // one-way calls (or their replies were lost in a gap).
            let lost = core::mem::take(&mut self.response_gap);
            let mut guard = MAX_IN_FLIGHT + 1;
            while guard > 0 {
                guard -= 1;
                let Some(old) = ctx.find(|s| waiting(s) && seqid_of(s) == Some(seqid)) else { break };
                if old == target {
                    break;
                }
                if lost {
                    ctx.emit_unanswered(old, Notes::RESPONSE_GAP);
                } else {
                    ctx.emit(old);
                }
            }
        }
        let handle = match found {
            Some(t) => t,
            None => {
                let t = ctx.begin(ts)?;
                ctx.stats.unmatched_responses += 1;
                let s = ctx.slot(t)?;
                s.flags |= FLAG_RESPONSE_ONLY;
                ThriftTxn::init(&mut s.txn);
                s.txn.notes.insert(Notes::NO_REQUEST);
                let x = thrift(&mut s.txn)?;
                x.method = x.text.push(method);
                x.service = x.text.push(service);
                x.seqid = seqid;
                t
            }
        };
        let cfg = &ctx.cfg.thrift;
        let opts = Opts { render: cfg.capture_reply, ..cfg.opts() };
        let role = if h.mtype == wire::EXCEPTION { Role::AppException } else { Role::Result };
        let names = cfg.idl.and_then(|t| t.find(service, method)).map(|m| m.exceptions);
        let s = ctx.slot(handle)?;
        s.flags |= FLAG_RESPONSE_STARTED;
        s.txn.response_ts = Some(ts);
        let x = thrift(&mut s.txn)?;
        x.dec.start(&mut x.text, h.enc, role, opts, THRIFT_TEXT_CAP, bound);
        if role == Role::Result {
            x.dec.set_names(names);
        }
        Some(handle)
    }

    /// The call still being decoded on the client side, when it is the one
    /// this reply (`seqid`, `method`) answers: the server had all of it, so
    /// the rest we have not seen was lost (or sits behind a hole in the
    /// capture). The call ends here, noted, and the rest of it is skipped.
    fn answered_in_progress(&mut self, ctx: &mut Ctx<'_, '_>, seqid: u32, method: &[u8]) -> Option<Handle> {
        let side = *self.side(Direction::ToServer);
        let h = side.msg.filter(|_| side.phase == Phase::Body && side.request)?;
        let answers = ctx.slot(h).is_some_and(|s| {
            unanswered(s)
                && thrift_ref(&s.txn).is_some_and(|x| !x.oneway && x.seqid == seqid && x.text.get(x.method) == method)
        });
        if !answers {
            return None;
        }
        self.abort(ctx, Direction::ToServer, Notes::REQUEST_GAP, Notes::RESPONSE_GAP);
        self.lost_position(Direction::ToServer, side);
        Some(h)
    }

    /// Decodes body bytes of `dir`'s message; returns bytes used and the
    /// decoder's outcome (`None`: the record is gone).
    fn body(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) -> Option<(usize, Step)> {
        let h = self.side(dir).msg?;
        let idl = ctx.cfg.thrift.idl;
        let x = thrift(ctx.txn(h)?)?;
        if !x.dec.active() {
            return Some((0, Step::Done));
        }
        Some(x.dec.feed(&mut x.text, data, idl))
    }

    /// Ends `dir`'s message: fills the record and reports it when it is a
    /// reply or a one-way call. `why` notes an early end.
    fn complete(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, why: Option<Notes>) {
        let side = *self.side(dir);
        let s = self.side(dir);
        *s = Side { resync: side.resync, known: side.known, ..Side::default() };
        if why.is_none() {
            s.known = Some(side.kind);
        }
        let Some(h) = side.msg else { return };
        let bytes = match side.frame {
            Some(f) => 4 + u64::from(f),
            None => side.msg_bytes,
        };
        let capture = ctx.cfg.thrift.capture_reply;
        let Some(slot) = ctx.slot(h) else { return };
        let response_only = slot.flags & FLAG_RESPONSE_ONLY != 0;
        let t = &mut slot.txn;
        if let Some(n) = why {
            t.notes.insert(n);
        }
        let Some(x) = thrift(t) else { return };
        if x.dec.active() {
            x.dec.finish_incomplete(&mut x.text);
        }
        let out = x.dec.output(&x.text);
        let (target, exception) = (x.dec.target, x.dec.exception);
        x.dec.clear();
        if side.request {
            x.params = out;
            let oneway = x.oneway;
            t.bytes_in = bytes;
            slot.flags |= FLAG_REQUEST_DONE;
            if oneway {
                ctx.emit(h);
            }
            return;
        }
        match target {
            Target::Exceptions => x.exceptions = out,
            _ => x.return_value = out,
        }
        x.reply = if exception { ReplyKind::Exception } else { ReplyKind::Return };
        x.reply_rendered = capture;
        t.bytes_out = bytes;
        t.status = if exception || response_only || why.is_some() { Status::Error } else { Status::Ok };
        ctx.emit(h);
    }

    /// The message in progress in `dir` stopped early.
    fn abort(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, note_req: Notes, note_resp: Notes) {
        let note = if self.side(dir).request { note_req } else { note_resp };
        self.complete(ctx, dir, Some(note));
    }
}

impl Analyzer for ThriftParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        let mut pos = 0usize;
        // Each turn consumes at least one byte, or changes phase after
        // consuming some, or returns.
        let mut guard = data.len().saturating_mul(2) + 8;
        while pos < data.len() && guard > 0 {
            guard -= 1;
            let rest = data.get(pos..).unwrap_or(&[]);
            match self.side(dir).phase {
                Phase::Skip => {
                    let s = self.side(dir);
                    let n = (s.skip_left as usize).min(rest.len());
                    s.skip_left -= n as u32;
                    pos += n;
                    if s.skip_left == 0 {
                        s.phase = Phase::Idle;
                    }
                }
                Phase::Body => {
                    let side = *self.side(dir);
                    let window = match side.frame {
                        Some(_) => rest.get(..(side.frame_left as usize).min(rest.len())).unwrap_or(&[]),
                        None => rest,
                    };
                    let Some((n, step)) = self.body(ctx, dir, window) else {
                        // The record timed out or was evicted mid-message.
                        self.complete(ctx, dir, None);
                        self.lost_position(dir, side);
                        continue;
                    };
                    pos += n;
                    let s = self.side(dir);
                    s.msg_bytes += n as u64;
                    if s.frame.is_some() {
                        s.frame_left = s.frame_left.saturating_sub(n as u32);
                    }
                    let frame_left = s.frame_left;
                    let framed = s.frame.is_some();
                    match step {
                        Step::Done => {
                            self.complete(ctx, dir, None);
                            if framed && frame_left > 0 {
                                let s = self.side(dir);
                                s.phase = Phase::Skip;
                                s.skip_left = frame_left;
                            }
                        }
                        Step::NeedMore if framed && frame_left == 0 => {
                            // The frame ended inside the body.
                            ctx.stats.parse_errors += 1;
                            self.abort(ctx, dir, Notes::REQUEST_MALFORMED, Notes::RESPONSE_MALFORMED);
                        }
                        Step::NeedMore if n == 0 && full && pos == 0 => {
                            // Cannot happen with items of at most 16 bytes;
                            // consume anyway, as the contract requires.
                            ctx.stats.parse_errors += 1;
                            self.abort(ctx, dir, Notes::REQUEST_MALFORMED, Notes::RESPONSE_MALFORMED);
                            self.lost_position(dir, side);
                        }
                        Step::NeedMore => return pos,
                        Step::Malformed => {
                            ctx.stats.parse_errors += 1;
                            self.abort(ctx, dir, Notes::REQUEST_MALFORMED, Notes::RESPONSE_MALFORMED);
                            let s = self.side(dir);
                            if framed {
                                s.phase = Phase::Skip;
                                s.skip_left = frame_left;
                            } else {
                                s.resync = true;
                            }
                        }
                    }
                }
                Phase::Idle => {
                    if self.side(dir).start_ts.is_none() {
                        self.side(dir).start_ts = Some(ctx.ts);
                    }
                    let known = self.side(dir).known;
                    let parsed = match wire::parse_header(rest, ctx.cfg.thrift.expect()) {
                        Parsed::Ok(h) if known.is_some_and(|k| k != (h.frame.is_some(), h.enc)) => Parsed::Invalid,
                        other => other,
                    };
                    match parsed {
                        Parsed::Ok(h) => {
                            self.start_message(ctx, dir, &h, pos);
                            pos += h.len;
                        }
                        Parsed::NeedMore if !(full && pos == 0) => return pos,
                        _ => {
                            let s = self.side(dir);
                            if !s.resync {
                                ctx.stats.parse_errors += 1;
                                s.resync = true;
                            }
                            s.start_ts = None;
                            ctx.stats.resync_skipped_bytes += 1;
                            pos += 1;
                            guard += 1;
                        }
                    }
                }
            }
        }
        pos.max(usize::from(full && !data.is_empty()))
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        if dir == Direction::ToClient {
            self.response_gap = true;
        }
        let side = *self.side(dir);
        match side.phase {
            Phase::Body => {
                self.abort(ctx, dir, Notes::REQUEST_GAP, Notes::RESPONSE_GAP);
                match side.frame {
                    // The rest of the frame is still to come: skip it.
                    Some(_) if len < side.frame_left => {
                        let s = self.side(dir);
                        s.phase = Phase::Skip;
                        s.skip_left = side.frame_left - len;
                    }
                    // The gap ended exactly with the frame.
                    Some(_) if len == side.frame_left => {}
                    _ => self.side(dir).resync = true,
                }
            }
            Phase::Skip if len < side.skip_left => self.side(dir).skip_left -= len,
            Phase::Skip if len == side.skip_left => self.side(dir).phase = Phase::Idle,
            Phase::Skip | Phase::Idle => {
                let s = self.side(dir);
                s.phase = Phase::Idle;
                s.resync = true;
                s.start_ts = None;
            }
        }
    }

    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        if self.side(dir).phase == Phase::Body {
            self.abort(ctx, dir, Notes::REQUEST_MALFORMED, Notes::RESPONSE_INCOMPLETE);
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        self.on_fin(ctx, Direction::ToClient);
        self.on_fin(ctx, Direction::ToServer);
    }
}

impl ThriftParser {
    /// After losing the decoder mid-message: skip the rest of the frame, or
    /// resynchronise.
    fn lost_position(&mut self, dir: Direction, before: Side) {
        let s = self.side(dir);
        match before.frame {
            Some(_) => {
                s.phase = Phase::Skip;
                s.skip_left = before.frame_left;
            }
            None => {
                s.phase = Phase::Idle;
                s.resync = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
