//! The HTTP/1.x analyzer.
//!
//! A line-oriented streaming parser per direction: start line, headers,
//! then a body delimited by `Content-Length`, chunked transfer coding (with
//! trailers), or connection close; `HEAD` requests and 1xx/204/304
//! responses have none. Requests are queued per flow in arrival order and
//! each response is paired with the oldest unanswered request, so
//! pipelining works. `100 Continue` and other interim responses are not
//! transactions; `101 Switching Protocols` ends HTTP on the connection.
//!
//! Gaps: inside a body of known length the lost bytes are skipped and the
//! transaction is marked ("Packet loss while capturing the response"); a
//! gap anywhere else ends the message in progress (marked) and the parser
//! resynchronises at the next line that is a valid start line.
//!
//! Bounds: lines longer than a stream block (4 KiB) are cut; text fields
//! share a [`HTTP_TEXT_CAP`]-byte arena per transaction; at most
//! [`MAX_HEADERS`] headers are kept per message. Cuts are flagged.

pub mod json;
pub mod parse;
pub mod txn;

pub use txn::{Header, HttpConfig, HttpTxn, HTTP_TEXT_CAP, MAX_HEADERS};

use crate::flow::Direction;
use crate::pending::{Handle, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::proto::{Analyzer, Ctx};
use crate::text::{find_byte, parse_u64, Span};
use crate::txn::{Detail, Notes, Status, Transaction};
use parse::{
    has_token, parse_chunk_size, parse_header, parse_request_line, parse_request_line_prefix, parse_status_line,
};

/// Where a direction's parser is within a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Between messages: expecting a start line.
    #[default]
    Idle,
    /// Reading header lines.
    Headers,
    /// Reading a body of known length.
    Body,
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Reading chunk data.
    ChunkData,
    /// Expecting the CRLF after chunk data.
    ChunkDataEnd,
    /// Reading trailer lines after the last chunk.
    Trailers,
    /// Reading a body that ends when the connection closes.
    UntilClose,
}

/// Parser state of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    phase: Phase,
    /// After a gap or error: skip lines until a valid start line.
    resync: bool,
    /// Discard bytes up to the next LF (the rest of a cut line).
    skip_line: bool,
    msg: Option<Handle>,
    msg_bytes: u64,
    remaining: u64,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    /// The paired request was HEAD (responses only).
    head: bool,
    code: u16,
    body_raw: bool,
    body_form: bool,
    raw: Span,
    body_span: Span,
    body_start: u16,
}

impl Side {
    /// A direction between messages.
    const NEW: Side = Side {
        phase: Phase::Idle,
        resync: false,
        skip_line: false,
        msg: None,
        msg_bytes: 0,
        remaining: 0,
        content_length: None,
        chunked: false,
        close: false,
        head: false,
        code: 0,
        body_raw: false,
        body_form: false,
        raw: Span::EMPTY,
        body_span: Span::EMPTY,
        body_start: 0,
    };

    fn reset_message(&mut self) {
        *self = Side::NEW;
    }
}

/// Per-flow HTTP parser state (both directions).
#[derive(Clone, Debug, Default)]
pub struct HttpParser {
    sides: [Side; 2],
    /// Stream position of the line being handled.
    line_seq: u32,
    /// The response direction lost bytes since its last message start:
    /// responses may be missing, so pair by stream position (see
    /// `start_response`).
    response_gap: bool,
    /// ACK carried by the start of the last response: the request bytes the
    /// server had received when it answered.
    last_response_ack: Option<u32>,
    /// After `101 Switching Protocols`: the connection is no longer HTTP.
    passthrough: bool,
}

fn http(t: &mut Transaction) -> Option<&mut HttpTxn> {
    match &mut t.detail {
        Detail::Http(h) => Some(h),
        _ => None,
    }
}

/// The span of `sub` (a sub-slice of `line`, stored at `line_span`), or
/// `sub` stored afresh when the line was not (fully) stored.
fn sub_span(h: &mut HttpTxn, line_span: Option<Span>, line: &[u8], sub: &[u8]) -> Span {
    if let Some(ls) = line_span {
        let start = (sub.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
        if start <= ls.len() && sub.len() <= ls.len() - start {
            return h.text.sub(ls, start, sub.len());
        }
    }
    h.text.push(sub)
}

/// A complete request line, or the start of one that was cut.
fn request_line(line: &[u8], cut: bool) -> Option<parse::RequestLine<'_>> {
    parse_request_line(line).or_else(|| if cut { parse_request_line_prefix(line) } else { None })
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

impl HttpParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        HttpParser {
            sides: [Side::NEW, Side::NEW],
            line_seq: 0,
            response_gap: false,
            last_response_ack: None,
            passthrough: false,
        }
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.sides[0],
            Direction::ToClient => &mut self.sides[1],
        }
    }

    /// Stores a raw line when the raw text is kept; returns its span.
    fn keep_raw(ctx: &mut Ctx<'_, '_>, side: &mut Side, dir: Direction, raw_line: &[u8]) -> Option<Span> {
        let keep = match dir {
            Direction::ToServer => ctx.cfg.http.common.send_request,
            Direction::ToClient => ctx.cfg.http.common.send_response,
        };
        if !keep {
            return None;
        }
        let h = side.msg?;
        let hx = http(ctx.txn(h)?)?;
        let before = side.raw.len();
        side.raw = hx.text.extend(side.raw, raw_line);
        // `extend` may have started a new span (another field was stored in
        // between): the line is then the whole span.
        let start = if side.raw.len() >= before + raw_line.len() { side.raw.len() - raw_line.len() } else { 0 };
        let stored = side.raw.len().saturating_sub(start);
        Some(hx.text.sub(side.raw, start, stored))
    }

    fn on_line(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, raw_line: &[u8], truncated: bool) {
        let line = strip_eol(raw_line);
        let phase = self.side(dir).phase;
        if phase != Phase::Idle {
            self.side(dir).msg_bytes += raw_line.len() as u64;
        }
        if truncated {
            self.mark(ctx, dir, Notes::empty(), true);
        }
        match phase {
            Phase::Idle => self.on_start_line(ctx, dir, raw_line, line, truncated),
            Phase::Headers => {
                if line.is_empty() {
                    let mut side = *self.side(dir);
                    Self::keep_raw(ctx, &mut side, dir, raw_line);
                    *self.side(dir) = side;
                    self.end_of_headers(ctx, dir);
                } else {
                    self.on_header(ctx, dir, raw_line, line);
                }
            }
            Phase::ChunkSize | Phase::ChunkDataEnd => {
                if phase == Phase::ChunkDataEnd && line.is_empty() {
                    self.side(dir).phase = Phase::ChunkSize;
                    return;
                }
                match parse_chunk_size(line) {
                    Some(0) => self.side(dir).phase = Phase::Trailers,
                    Some(n) => {
                        let s = self.side(dir);
                        s.remaining = n;
                        s.phase = Phase::ChunkData;
                    }
                    None => {
                        ctx.stats.parse_errors += 1;
                        let why = if dir == Direction::ToServer {
                            Notes::REQUEST_MALFORMED
                        } else {
                            Notes::RESPONSE_MALFORMED
                        };
                        self.mark(ctx, dir, why, false);
                        self.complete(ctx, dir);
                        self.side(dir).resync = true;
                    }
                }
            }
            Phase::Trailers => {
                if line.is_empty() {
                    self.complete(ctx, dir);
                }
            }
            Phase::Body | Phase::ChunkData | Phase::UntilClose => {}
        }
    }

    fn on_start_line(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, raw_line: &[u8], line: &[u8], cut: bool) {
        if line.is_empty() {
            return; // blank lines between messages are tolerated
        }
        let (request, status) = match dir {
            Direction::ToServer => (request_line(line, cut), None),
            Direction::ToClient => (None, parse_status_line(line)),
        };
        if request.is_none() && status.is_none() {
            let s = self.side(dir);
            if !s.resync {
                ctx.stats.parse_errors += 1;
                s.resync = true;
            }
            ctx.stats.resync_skipped_bytes += raw_line.len() as u64;
            return;
        }
        if let Some(rl) = request {
            self.start_request(ctx, raw_line, rl);
        } else if let Some(sl) = status {
            self.start_response(ctx, raw_line, sl);
        }
        if cut {
            // The rest of the line was not kept: say so on the new message.
            self.mark(ctx, dir, Notes::empty(), true);
        }
    }

    fn start_request(&mut self, ctx: &mut Ctx<'_, '_>, raw_line: &[u8], rl: parse::RequestLine<'_>) {
        let ts = ctx.ts;
        let Some(h) = ctx.begin(ts) else {
            self.side(Direction::ToServer).resync = true;
            return;
        };
        let side = self.side(Direction::ToServer);
        side.reset_message();
        side.msg = Some(h);
        side.phase = Phase::Headers;
        side.msg_bytes = raw_line.len() as u64;
        let mut side = *side;
        let line_seq = self.line_seq;
        if let Some(s) = ctx.slot(h) {
            s.seq = line_seq;
            HttpTxn::init(&mut s.txn);
        }
        let line_span = Self::keep_raw(ctx, &mut side, Direction::ToServer, raw_line);
        if let Some(hx) = ctx.txn(h).and_then(http) {
            let line_in_raw = raw_line;
            hx.method = sub_span(hx, line_span, line_in_raw, rl.method);
            let (path, query) = match find_byte(rl.target, b'?') {
                Some(q) => (rl.target.get(..q).unwrap_or(&[]), rl.target.get(q + 1..).unwrap_or(&[])),
                None => (rl.target, &[][..]),
            };
            hx.path = sub_span(hx, line_span, line_in_raw, path);
            hx.params = sub_span(hx, line_span, line_in_raw, query);
            hx.request_minor = rl.minor;
        }
        *self.side(Direction::ToServer) = side;
    }

    fn start_response(&mut self, ctx: &mut Ctx<'_, '_>, raw_line: &[u8], sl: parse::StatusLine<'_>) {
        let ts = ctx.ts;
        if (100..200).contains(&sl.code) && sl.code != 101 {
            // Interim response (100 Continue, 103 Early Hints): not a
            // transaction and not counted; the final response follows for
            // the same request (as Packetbeat does).
            let side = self.side(Direction::ToClient);
            side.reset_message();
            side.phase = Phase::Headers;
            side.code = sl.code;
            return;
        }
        let unanswered = |s: &crate::pending::PendingSlot| s.flags & (FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED) == 0;
        if core::mem::take(&mut self.response_gap) {
            // Responses may have been lost in the gap. The server sent this
            // one after receiving the request bytes before its ACK: it
            // answers the newest request that started before that point (as
            // without pipelining); older unanswered requests lost their
            // responses. Only when the connection is not pipelining: no
            // unanswered request was already sent when the previous response
            // went out (then positions say nothing and FIFO order stays).
            let pipelined = match self.last_response_ack {
                Some(prev) => ctx.find(|s| unanswered(s) && crate::reasm::seq_diff(prev, s.seq) > 0).is_some(),
                None => true,
            };
            if let (Some(ack), false) = (ctx.ack, pipelined) {
                let before = |s: &crate::pending::PendingSlot| crate::reasm::seq_diff(ack, s.seq) > 0;
                if let Some(target) = ctx.find_last(|s| unanswered(s) && before(s)) {
                    while let Some(old) = ctx.find(unanswered) {
                        if old == target {
                            break;
                        }
                        ctx.emit_unanswered(old, Notes::RESPONSE_GAP);
                    }
                }
            }
        }
        let h = match ctx.find(unanswered) {
            Some(h) => h,
            None => {
                let Some(h) = ctx.begin(ts) else {
                    self.side(Direction::ToClient).resync = true;
                    return;
                };
                ctx.stats.unmatched_responses += 1;
                if let Some(s) = ctx.slot(h) {
                    s.flags |= FLAG_RESPONSE_ONLY;
                    HttpTxn::init(&mut s.txn);
                    s.txn.notes.insert(Notes::NO_REQUEST);
                }
                h
            }
        };
        self.last_response_ack = ctx.ack;
        let mut head = false;
        if let Some(s) = ctx.slot(h) {
            s.txn.response_ts = Some(ts);
            s.flags |= FLAG_RESPONSE_STARTED;
            if let Some(hx) = http(&mut s.txn) {
                head = hx.text.get(hx.method).eq_ignore_ascii_case(b"HEAD");
                hx.code = sl.code;
            }
        }
        let side = self.side(Direction::ToClient);
        side.reset_message();
        side.msg = Some(h);
        side.phase = Phase::Headers;
        side.msg_bytes = raw_line.len() as u64;
        side.head = head;
        side.code = sl.code;
        let mut side = *side;
        let line_span = Self::keep_raw(ctx, &mut side, Direction::ToClient, raw_line);
        if let Some(hx) = ctx.txn(h).and_then(http) {
            hx.phrase = sub_span(hx, line_span, raw_line, sl.phrase);
        }
        *self.side(Direction::ToClient) = side;
    }

    fn on_header(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, raw_line: &[u8], line: &[u8]) {
        // In place: a copy out and back per line cost a store-forwarding
        // stall on every header.
        let side = self.side(dir);
        let line_span = Self::keep_raw(ctx, side, dir, raw_line);
        let cfg = &ctx.cfg.http;
        // Most header lines matter to nothing below: unless headers are
        // kept (or looked for by configured name), only the four framing
        // headers do, and none of those has another name length. The rest
        // need not be validated or split.
        let configured = cfg.send_all_headers
            || !cfg.send_headers.is_empty()
            || cfg.real_ip_header.is_some()
            || cfg.redact_authorization;
        let name_len = find_byte(line, b':').unwrap_or(0);
        if !configured && !matches!(name_len, 10 | 12 | 14 | 17) {
            return;
        }
        let Some((name, value)) = parse_header(line) else {
            return; // obsolete line folding or junk: ignored
        };
        if name.eq_ignore_ascii_case(b"content-length") {
            side.content_length = parse_u64(value);
            if side.content_length.is_none() {
                // Unusable (not a number, or beyond 64 bits): the message
                // is delimited some other way, which may not be the
                // sender's; say so.
                ctx.stats.parse_errors += 1;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            side.chunked = has_token(value, b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            side.close = has_token(value, b"close");
        } else if name.eq_ignore_ascii_case(b"content-type") {
            let send_raw = match dir {
                Direction::ToServer => cfg.common.send_request,
                Direction::ToClient => cfg.common.send_response,
            };
            // Repeated Content-Type headers happen: any match counts.
            side.body_raw |= send_raw && cfg.includes_body(value);
            side.body_form |= dir == Direction::ToServer
                && value.len() >= 33
                && value.get(..33).is_some_and(|v| v.eq_ignore_ascii_case(b"application/x-www-form-urlencoded"));
        }
        let keep = cfg.keeps_header(name);
        let real_ip = dir == Direction::ToServer
            && cfg.real_ip_header.as_ref().is_some_and(|r| r.as_bytes().eq_ignore_ascii_case(name));
        let redact = cfg.redact_authorization
            && (name.eq_ignore_ascii_case(b"authorization") || name.eq_ignore_ascii_case(b"proxy-authorization"));
        if keep || real_ip {
            if let Some(hx) = side.msg.and_then(|h| ctx.txn(h)).and_then(http) {
                let value_span = if redact { hx.text.push(b"*") } else { sub_span(hx, line_span, raw_line, value) };
                if real_ip {
                    // X-Forwarded-For lists proxies after the client: keep the first.
                    let first = value.split(|&c| c == b',').next().map(crate::text::trim).unwrap_or(&[]);
                    hx.real_ip = sub_span(hx, line_span, raw_line, first);
                }
                if keep {
                    let name_span = sub_span(hx, line_span, raw_line, name);
                    let list = match dir {
                        Direction::ToServer => &mut hx.request_headers,
                        Direction::ToClient => &mut hx.response_headers,
                    };
                    if list.push(Header { name: name_span, value: value_span }).is_err() {
                        hx.text.mark_truncated();
                    }
                }
            }
        }
    }

    fn end_of_headers(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        let side = self.side(dir);
        if side.body_raw {
            side.body_start = side.raw.len() as u16;
        }
        match dir {
            Direction::ToServer => {
                if side.chunked {
                    side.phase = Phase::ChunkSize;
                } else if let Some(n) = side.content_length.filter(|n| *n > 0) {
                    side.remaining = n;
                    side.phase = Phase::Body;
                } else {
                    self.complete(ctx, dir);
                }
            }
            Direction::ToClient => {
                let code = side.code;
                if (100..200).contains(&code) {
                    if code == 101 {
                        self.complete(ctx, dir);
                        self.passthrough = true;
                    } else {
                        // Interim response done: the final one follows.
                        side.reset_message();
                    }
                } else if side.head || code == 204 || code == 304 {
                    self.complete(ctx, dir);
                } else if side.chunked {
                    side.phase = Phase::ChunkSize;
                } else if let Some(n) = side.content_length {
                    if n == 0 {
                        self.complete(ctx, dir);
                    } else {
                        side.remaining = n;
                        side.phase = Phase::Body;
                    }
                } else {
                    side.phase = Phase::UntilClose;
                }
            }
        }
    }

    fn body(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, bytes: &[u8]) {
        let side = self.side(dir);
        side.msg_bytes += bytes.len() as u64;
        let (raw, form) = (side.body_raw, side.body_form);
        let Some(h) = side.msg else { return };
        let mut side = *side;
        if let Some(hx) = ctx.txn(h).and_then(http) {
            match dir {
                Direction::ToServer => hx.request_body_bytes += bytes.len() as u64,
                Direction::ToClient => hx.response_body_bytes += bytes.len() as u64,
            }
            // Request bodies get at most half the arena, so that the
            // response's fields still fit.
            let cap = match dir {
                Direction::ToServer => HTTP_TEXT_CAP / 2,
                Direction::ToClient => HTTP_TEXT_CAP,
            };
            let kept = if raw { side.raw.len() } else { side.body_span.len() };
            let room = cap.saturating_sub(kept);
            if (raw || form) && bytes.len() > room {
                hx.text.mark_truncated();
            }
            let piece = bytes.get(..room.min(bytes.len())).unwrap_or(&[]);
            if raw {
                side.raw = hx.text.extend(side.raw, piece);
            } else if form {
                side.body_span = hx.text.extend(side.body_span, piece);
            }
        }
        *self.side(dir) = side;
    }

    /// Sets `note` (and the truncation flag) on the message in progress.
    fn mark(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, note: Notes, truncated: bool) {
        if let Some(t) = self.side(dir).msg.and_then(|h| ctx.txn(h)) {
            t.notes.insert(note);
            if truncated {
                if let Some(hx) = http(t) {
                    hx.text.mark_truncated();
                }
            }
        }
    }

    /// The message of `dir` is complete.
    fn complete(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        let side = *self.side(dir);
        self.side(dir).reset_message();
        let Some(h) = side.msg else { return };
        match dir {
            Direction::ToServer => {
                let hide: heapless::Vec<&[u8], { crate::config::MAX_NAMES }> =
                    ctx.cfg.http.hide_keywords.iter().map(|k| k.as_bytes()).collect();
                let Some(s) = ctx.slot(h) else { return };
                s.flags |= FLAG_REQUEST_DONE;
                s.txn.bytes_in = side.msg_bytes;
                let Some(hx) = http(&mut s.txn) else { return };
                hx.request_raw = side.raw;
                let form = if side.body_form {
                    if side.body_raw {
                        let r = hx.text.get(side.raw);
                        Some(r.get(side.body_start as usize..).unwrap_or(&[]))
                    } else {
                        Some(hx.text.get(side.body_span))
                    }
                } else {
                    None
                };
                let src = form.unwrap_or_else(|| hx.text.get(hx.params));
                if !src.is_empty() {
                    let mut scratch = [0u8; HTTP_TEXT_CAP / 2];
                    let mut out = [0u8; HTTP_TEXT_CAP / 2];
                    match parse::normalize_params(src, &hide, &mut scratch, &mut out) {
                        Some(n) => {
                            hx.params = hx.text.push(out.get(..n).unwrap_or(&[]));
                        }
                        None => {
                            // Too long to normalise: keep it as sent.
                            if form.is_some() {
                                hx.params = side.body_span;
                            }
                        }
                    }
                }
            }
            Direction::ToClient => {
                if let Some(s) = ctx.slot(h) {
                    let response_only = s.flags & FLAG_RESPONSE_ONLY != 0;
                    s.txn.bytes_out = side.msg_bytes;
                    s.txn.status = if response_only || side.code >= 400 { Status::Error } else { Status::Ok };
                    if let Some(hx) = http(&mut s.txn) {
                        hx.content_length = side.content_length.or(Some(hx.response_body_bytes));
                        if !side.raw.is_empty() {
                            hx.response_raw = side.raw;
                        }
                    }
                }
                ctx.emit(h);
            }
        }
    }

    /// Ends the message in progress of `dir` because the stream ended.
    fn end_of_stream(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        let side = *self.side(dir);
        if side.msg.is_none() {
            return;
        }
        match side.phase {
            Phase::UntilClose => self.complete(ctx, dir),
            Phase::Idle => {}
            _ => {
                let note = match dir {
                    Direction::ToServer => Notes::REQUEST_MALFORMED,
                    Direction::ToClient => Notes::RESPONSE_INCOMPLETE,
                };
                self.mark(ctx, dir, note, false);
                self.complete(ctx, dir);
            }
        }
    }
}

impl Analyzer for HttpParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        if self.passthrough {
            return data.len();
        }
        let mut pos = 0usize;
        // Each turn consumes at least one byte or returns.
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or(&[]);
            if self.side(dir).skip_line {
                match find_byte(rest, b'\n') {
                    Some(i) => {
                        self.side(dir).skip_line = false;
                        self.side(dir).msg_bytes += (i + 1) as u64;
                        pos += i + 1;
                    }
                    None => {
                        self.side(dir).msg_bytes += rest.len() as u64;
                        return data.len();
                    }
                }
                continue;
            }
            match self.side(dir).phase {
                Phase::Body | Phase::ChunkData => {
                    let s = self.side(dir);
                    let n = (s.remaining.min(rest.len() as u64)) as usize;
                    s.remaining -= n as u64;
                    let done = s.remaining == 0;
                    let phase = s.phase;
                    self.body(ctx, dir, rest.get(..n).unwrap_or(&[]));
                    pos += n;
                    if done {
                        if phase == Phase::Body {
                            self.complete(ctx, dir);
                        } else {
                            self.side(dir).phase = Phase::ChunkDataEnd;
                        }
                    }
                }
                Phase::UntilClose => {
                    self.body(ctx, dir, rest);
                    pos = data.len();
                }
                _ => {
                    let (raw_line, cut) = match find_byte(rest, b'\n') {
                        Some(i) => (rest.get(..=i).unwrap_or(rest), false),
                        // A line longer than the carry block: take what we have.
                        None if full && pos == 0 => (rest, true),
                        None => return pos,
                    };
                    self.line_seq = ctx.pos.wrapping_add(pos as u32);
                    pos += raw_line.len();
                    self.on_line(ctx, dir, raw_line, cut);
                    if cut {
                        self.side(dir).skip_line = true;
                    }
                    if self.passthrough {
                        return data.len();
                    }
                }
            }
        }
        pos
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        let note = match dir {
            Direction::ToServer => Notes::REQUEST_GAP,
            Direction::ToClient => Notes::RESPONSE_GAP,
        };
        self.mark(ctx, dir, note, false);
        if dir == Direction::ToClient {
            self.response_gap = true;
        }
        let s = self.side(dir);
        s.skip_line = false;
        let len = len as u64;
        match s.phase {
            Phase::Body | Phase::ChunkData if len < s.remaining => s.remaining -= len,
            Phase::Body if len == s.remaining => self.complete(ctx, dir),
            Phase::UntilClose => {}
            Phase::Idle => s.resync = true,
            _ => {
                self.complete(ctx, dir);
                self.side(dir).resync = true;
            }
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
