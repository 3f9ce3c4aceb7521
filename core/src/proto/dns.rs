//! The DNS analyzer, over UDP and TCP.
//!
//! A query and its response are paired by flow and message ID, as
//! Packetbeat does: the response must travel the opposite way of its query
//! on the same 5-tuple and carry the same ID. The QR bit, not the port,
//! says which is which (a flow between two servers on port 53 works). A
//! second query with an ID still open on the flow closes the first one as
//! unanswered (a client retrying with the same ID). A response with no
//! query is reported alone (`Unmatched response`); a query never answered
//! is reported by the engine after `transaction_timeout` (`Unmatched
//! request`). A response code other than NOERROR gives `status: Error`.
//!
//! UDP: one message per datagram. TCP: messages carry a 2-byte length
//! prefix (RFC 1035 §4.2.2), any number per connection, each cut at any
//! byte across segments. A message longer than a stream block (4 KiB) is
//! decoded as far as the block reaches, flagged truncated, and the rest is
//! skipped. After lost bytes (a gap) the message boundaries are unknown:
//! the parser scans for the next length prefix followed by a well-formed
//! message of the expected kind, and reports the message the gap hit when
//! its header had been seen (`Packet loss while capturing ...`).
//!
//! Malformed messages are counted (`parse_errors`) and reported: a message
//! with a readable header is paired as usual and noted `Malformed
//! request/response`; a datagram too short to be DNS is reported on its
//! own, with status Error.
//!
//! Bounds: names are at most 255 wire bytes with at most
//! [`MAX_POINTER_HOPS`](wire::MAX_POINTER_HOPS) compression pointers, each
//! pointing strictly before the previous one (no loops); at most
//! [`MAX_ANSWERS`] answers and [`MAX_RECORDS`] records in all are kept per
//! transaction (the `*_count` fields give the true numbers); text shares a
//! [`DNS_TEXT_CAP`]-byte arena. Every cut is flagged.

pub mod json;
pub mod txn;
pub mod wire;

use crate::json::{JsonError, Object};
use core::fmt::Write;

pub use txn::{DnsTxn, Edns, Extra, Question, Record, Section, DNS_TEXT_CAP, MAX_ANSWERS, MAX_RECORDS};

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::pending::{PendingSlot, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::pool::BLOCK_SIZE;
use crate::proto::{Analyzer, Ctx};
use crate::text::Span;
use crate::time::Timestamp;
use crate::txn::{Detail, Notes, Status, Transaction};
use txn::{flag, ClassName, OpCodeName, RcodeName, TypeName};
use wire::{Header, Malformed, Scratch, DATA_TEXT_CAP, HEADER_LEN, NAME_TEXT_CAP};

/// DNS analyzer options (Packetbeat 1.2's `protocols.dns`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Report the authority section (`include_authorities`).
    pub include_authorities: bool,
    /// Report the additional section (`include_additionals`).
    pub include_additionals: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig { common: Common::on_ports(&[53]), include_authorities: false, include_additionals: false }
    }
}

/// Pending-record flag (free bit of [`PendingSlot::flags`]): the query of
/// this record travelled server-to-client on its flow (the flow's roles,
/// chosen by port, are reversed for this transaction).
const FLAG_QUERY_TO_CLIENT: u8 = 0x08;

/// Capacity of the raw `request`/`response` text of one message.
const RAW_TEXT_CAP: usize = 1024;

/// Parser state of one TCP direction.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Bytes of a message cut at the stream-block size still to drop.
    skip: u32,
    /// Message boundaries were lost: scanning for the next message.
    resync: bool,
    /// Bytes left unconsumed by the last call (the engine holds them).
    held: u32,
    /// ID and QR bit of the held partial message, once its header is in.
    partial: Option<(u16, bool)>,
    /// Time of the first packet of the held partial message: a message's
    /// time is when it started, as for every protocol.
    started: Option<Timestamp>,
}

/// Per-flow DNS parser state (TCP only: UDP messages are self-contained).
#[derive(Clone, Debug, Default)]
pub struct DnsParser {
    sides: [Side; 2],
}

fn dns(t: &mut Transaction) -> Option<&mut DnsTxn> {
    match &mut t.detail {
        Detail::Dns(x) => Some(x),
        _ => None,
    }
}

/// A record whose query (ID `id`, sent in direction `qdir`) still waits
/// for its response.
fn open_query(s: &PendingSlot, id: u16, qdir: Direction) -> bool {
    s.flags & (FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED) == 0
        && ((s.flags & FLAG_QUERY_TO_CLIENT != 0) == (qdir == Direction::ToClient))
        && matches!(&s.txn.detail, Detail::Dns(x) if x.has_header && x.id == id)
}

/// What decoding a message found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Outcome {
    /// The message broke the wire format somewhere.
    malformed: bool,
}

/// The span of `bytes` in the arena, reusing an equal name or data span
/// already stored (answers repeat their owner name).
fn intern(x: &mut DnsTxn, bytes: &[u8]) -> Span {
    if bytes.is_empty() {
        return Span::EMPTY;
    }
    let text = &x.text;
    let found = x
        .question
        .iter()
        .map(|q| q.name)
        .chain(x.records.iter().flat_map(|r| [r.name, r.data]))
        .find(|s| text.get(*s) == bytes);
    match found {
        Some(s) => s,
        None => x.text.push(bytes),
    }
}

/// Writes the header part of the raw text (Packetbeat's layout).
fn raw_header<const N: usize>(raw: &mut Scratch<N>, h: &Header) {
    let _ = write!(
        raw,
        "ID {}; QR {}; OPCODE {}; FLAGS",
        h.id,
        if h.is_response() { "response" } else { "query" },
        OpCodeName(h.opcode())
    );
    let names = [
        (flag::AA, " aa"),
        (flag::TC, " tc"),
        (flag::RD, " rd"),
        (flag::RA, " ra"),
        (flag::AD, " ad"),
        (flag::CD, " cd"),
    ];
    for (f, n) in names {
        if h.flags & f != 0 {
            raw.push(n.as_bytes());
        }
    }
    let _ = write!(raw, "; RCODE {}", RcodeName(h.flags & 0x0f));
}

/// Decodes `msg` into `x` (a response replaces what the query put there,
/// keeping the query's question when the response has none). `complete`
/// is false when `msg` is only the start of a longer message: running out
/// of bytes is then a cut, not an error. `raw` asks for the message as
/// text in `request_raw` / `response_raw`.
fn decode(x: &mut DnsTxn, h: &Header, msg: &[u8], complete: bool, cfg: &DnsConfig, raw: bool) -> Outcome {
    let mut out = Outcome::default();
    x.has_header = true;
    x.has_response |= h.is_response();
    x.id = h.id;
    x.flags = h.flags;
    x.rcode = h.flags & 0x0f;
    x.answers_count = h.an;
    x.authorities_count = h.ns;
    x.additionals_count = h.ar;
    x.opt = None;
    x.records.clear();
    // Only when asked for: a kilobyte to clear per message otherwise.
    let mut raw_text: Option<Scratch<RAW_TEXT_CAP>> = raw.then(Scratch::new);
    if let Some(raw_text) = raw_text.as_mut() {
        raw_header(raw_text, h);
    }
    let mut name: Scratch<NAME_TEXT_CAP> = Scratch::new();
    // Made (1.5 KB to clear) at the first record rendered: a query has none.
    let mut rdata_text: Option<(Scratch<DATA_TEXT_CAP>, Scratch<NAME_TEXT_CAP>)> = None;
    let mut p = HEADER_LEN;
    let mut ran_out = false;
    // Each question and record consumes at least 5 bytes or ends the loop.
    for i in 0..h.qd {
        name.clear();
        let Ok((qtype, qclass, next)) = wire::read_question(msg, p, Some(&mut name)) else {
            ran_out = true;
            break;
        };
        p = next;
        if i == 0 {
            let span = intern(x, name.as_bytes());
            x.question = Some(Question { name: span, qtype, qclass });
            if name.cut() {
                x.text.mark_truncated();
            }
            if let Some(raw_text) = raw_text.as_mut() {
                let _ = write!(raw_text, "; QUESTION class {}, type {}, ", ClassName(qclass), TypeName(qtype));
                raw_text.push(name.as_bytes());
            }
        }
    }
    let (an, ns) = (h.an as usize, h.ns as usize);
    let total = if ran_out { 0 } else { an + ns + h.ar as usize };
    let mut answers_kept = 0usize;
    let mut prev_section = None;
    for i in 0..total {
        let section = if i < an {
            Section::Answer
        } else if i < an + ns {
            Section::Authority
        } else {
            Section::Additional
        };
        name.clear();
        let rr = match wire::read_rr(msg, p, Some(&mut name)) {
            Ok(rr) => rr,
            Err(Malformed) => {
                ran_out = true;
                break;
            }
        };
        p = rr.end;
        if rr.rtype == 41 && section == Section::Additional {
            if x.opt.is_some() {
                // RFC 6891 §6.1.1: at most one OPT per message.
                out.malformed = true;
                continue;
            }
            let e = Edns {
                udp_size: rr.class,
                ext_rcode: (rr.ttl >> 24) as u8,
                version: (rr.ttl >> 16) as u8,
                dnssec_ok: rr.ttl & 0x8000 != 0,
            };
            x.opt = Some(e);
            x.rcode |= (e.ext_rcode as u16) << 4;
            x.additionals_count = x.additionals_count.saturating_sub(1);
            if let Some(raw_text) = raw_text.as_mut() {
                let _ = write!(
                    raw_text,
                    "; OPT version {}, do {}, udp_size {}, ext_rcode {}",
                    e.version,
                    e.dnssec_ok,
                    e.udp_size,
                    RcodeName((e.ext_rcode as u16) << 4)
                );
            }
            continue;
        }
        let keep = match section {
            Section::Answer => answers_kept < MAX_ANSWERS,
            Section::Authority => cfg.include_authorities,
            Section::Additional => cfg.include_additionals,
        };
        if section == Section::Answer && !keep {
            x.text.mark_truncated();
        }
        if !keep && !raw {
            continue;
        }
        let (data, aux) = rdata_text.get_or_insert_with(|| (Scratch::new(), Scratch::new()));
        let extra = match wire::render_rdata(msg, rr.rtype, rr.rdata, rr.end, data, aux) {
            Ok(e) => e,
            Err(Malformed) => {
                out.malformed = true;
                Extra::None
            }
        };
        if keep {
            if section == Section::Answer {
                answers_kept += 1;
            }
            // A record with no room left for its text would show empty data.
            if x.records.is_full() || x.text.remaining() == 0 {
                x.text.mark_truncated();
            } else {
                if name.cut() || data.cut() || aux.cut() {
                    x.text.mark_truncated();
                }
                let name_span = intern(x, name.as_bytes());
                let data_span = intern(x, data.as_bytes());
                let mut extra = extra;
                if extra.has_text() {
                    extra.set_text(intern(x, aux.as_bytes()));
                }
                let rec = Record {
                    section,
                    name: name_span,
                    rtype: rr.rtype,
                    class: rr.class,
                    ttl: rr.ttl,
                    data: data_span,
                    extra,
                };
                let _ = x.records.push(rec);
            }
        }
        if let Some(raw_text) = raw_text.as_mut() {
            if prev_section != Some(section) {
                raw_text.push(match section {
                    Section::Answer => b"; ANSWER ",
                    Section::Authority => b"; AUTHORITY ",
                    Section::Additional => b"; ADDITIONAL ",
                });
                prev_section = Some(section);
            } else {
                raw_text.push(b"; ");
            }
            raw_text.push(name.as_bytes());
            let _ = write!(raw_text, " {} {} {} ", rr.ttl, ClassName(rr.class), TypeName(rr.rtype));
            wire::write_presentation(raw_text, &extra, data.as_bytes(), aux.as_bytes());
        }
    }
    if ran_out {
        if complete {
            out.malformed = true;
        } else {
            // A message cut at the stream-block size: what follows is lost.
            x.text.mark_truncated();
        }
    }
    if let Some(raw_text) = raw_text.as_ref() {
        if raw_text.cut() {
            x.text.mark_truncated();
        }
        let span = x.text.push(raw_text.as_bytes());
        if h.is_response() {
            x.response_raw = span;
        } else {
            x.request_raw = span;
        }
    }
    out
}

/// Swaps the endpoints of a record whose query went server-to-client.
fn swap_roles(t: &mut Transaction) {
    core::mem::swap(&mut t.client, &mut t.server);
}

/// One DNS message (a whole datagram or TCP message, or the start of a
/// TCP message longer than a block when `complete` is false). `len` is its
/// length on the wire without the TCP length prefix.
fn message(ctx: &mut Ctx<'_, '_>, dir: Direction, ts: Timestamp, msg: &[u8], complete: bool, len: usize) {
    match Header::parse(msg) {
        Some(h) if h.is_response() => response(ctx, dir, ts, &h, msg, complete, len),
        Some(h) => query(ctx, dir, ts, &h, msg, complete, len),
        None => not_dns(ctx, dir, ts, len),
    }
}

fn query(ctx: &mut Ctx<'_, '_>, dir: Direction, ts: Timestamp, h: &Header, msg: &[u8], complete: bool, len: usize) {
    if let Some(old) = ctx.find(|s| open_query(s, h.id, dir)) {
        // The same ID again before an answer: Packetbeat closes the older
        // query as unanswered, and so does tapbeat.
        if let Some(t) = ctx.txn(old) {
            t.status = Status::Error;
            t.notes.insert(Notes::NO_RESPONSE);
        }
        ctx.stats.unmatched_requests += 1;
        ctx.emit(old);
    }
    let Some(hd) = ctx.begin(ts) else { return };
    let cfg: &Config = ctx.cfg;
    let Some(s) = ctx.slot(hd) else { return };
    s.flags |= FLAG_REQUEST_DONE;
    if dir == Direction::ToClient {
        s.flags |= FLAG_QUERY_TO_CLIENT;
        swap_roles(&mut s.txn);
    }
    let t = &mut s.txn;
    t.bytes_in = len as u64;
    DnsTxn::init(t);
    let Some(x) = dns(t) else { return };
    let out = decode(x, h, msg, complete, &cfg.dns, cfg.dns.common.send_request);
    if out.malformed {
        t.notes.insert(Notes::REQUEST_MALFORMED);
        ctx.stats.parse_errors += 1;
    }
}

fn response(ctx: &mut Ctx<'_, '_>, dir: Direction, ts: Timestamp, h: &Header, msg: &[u8], complete: bool, len: usize) {
    let (hd, orphan) = match ctx.find(|s| open_query(s, h.id, dir.reverse())) {
        Some(hd) => (hd, false),
        None => {
            let Some(hd) = ctx.begin(ts) else { return };
            ctx.stats.unmatched_responses += 1;
            (hd, true)
        }
    };
    let cfg: &Config = ctx.cfg;
    let Some(s) = ctx.slot(hd) else { return };
    s.flags |= FLAG_RESPONSE_STARTED;
    if orphan {
        s.flags |= FLAG_RESPONSE_ONLY;
        if dir == Direction::ToServer {
            swap_roles(&mut s.txn);
        }
        DnsTxn::init(&mut s.txn);
        s.txn.notes.insert(Notes::NO_REQUEST);
    }
    let t = &mut s.txn;
    t.response_ts = Some(ts);
    t.bytes_out = len as u64;
    let Some(x) = dns(t) else { return };
    let out = decode(x, h, msg, complete, &cfg.dns, cfg.dns.common.send_response);
    let failed = x.rcode != 0;
    t.status = if orphan || failed || out.malformed { Status::Error } else { Status::Ok };
    if out.malformed {
        t.notes.insert(Notes::RESPONSE_MALFORMED);
        ctx.stats.parse_errors += 1;
    }
    ctx.emit(hd);
}

/// A message too short for a DNS header: reported on its own.
fn not_dns(ctx: &mut Ctx<'_, '_>, dir: Direction, ts: Timestamp, len: usize) {
    ctx.stats.parse_errors += 1;
    let Some(hd) = ctx.begin(ts) else { return };
    if let Some(t) = ctx.txn(hd) {
        DnsTxn::init(t);
        t.status = Status::Error;
        match dir {
            Direction::ToServer => {
                t.bytes_in = len as u64;
                t.notes.insert(Notes::REQUEST_MALFORMED);
            }
            Direction::ToClient => {
                t.bytes_out = len as u64;
                t.notes.insert(Notes::RESPONSE_MALFORMED);
            }
        }
    }
    ctx.emit(hd);
}

/// A TCP message whose header was seen but whose rest was lost (a gap, or
/// the connection ended): a response ends its query's transaction with
/// `note`; a query is recorded with `note` and may still be answered.
fn lost_message(ctx: &mut Ctx<'_, '_>, dir: Direction, ts: Timestamp, id: u16, is_response: bool, note: Notes) {
    if is_response {
        let Some(hd) = ctx.find(|s| open_query(s, id, dir.reverse())) else { return };
        if let Some(s) = ctx.slot(hd) {
            s.flags |= FLAG_RESPONSE_STARTED;
            s.txn.response_ts = Some(ts);
            s.txn.status = Status::Error;
            s.txn.notes.insert(note);
        }
        ctx.emit(hd);
    } else {
        let Some(hd) = ctx.begin(ts) else { return };
        let Some(s) = ctx.slot(hd) else { return };
        s.flags |= FLAG_REQUEST_DONE;
        if dir == Direction::ToClient {
            s.flags |= FLAG_QUERY_TO_CLIENT;
            swap_roles(&mut s.txn);
        }
        DnsTxn::init(&mut s.txn);
        s.txn.notes.insert(note);
        if let Some(x) = dns(&mut s.txn) {
            x.has_header = true;
            x.id = id;
        }
    }
}

/// Where scanning for a message start after lost bytes got to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scan {
    /// A well-formed message starts at this offset.
    Found(usize),
    /// Nothing before this offset can start a message; from here on more
    /// bytes are needed to tell.
    Wait(usize),
}

/// Most candidates fully parsed by one [`scan`]: hostile bytes could make
/// every offset a candidate; past this many the scan moves on (what it
/// checked is consumed), so each call's work stays bounded.
const MAX_SCAN_CHECKS: usize = 32;

/// Looks for a length prefix followed by a whole well-formed message of the
/// expected kind. Only messages that fit a stream block are candidates, so
/// a candidate always completes within what the engine can hold.
fn scan(data: &[u8], response: bool) -> Scan {
    let mut checks = 0usize;
    for i in 0..data.len() {
        let Some(rest) = data.get(i..).filter(|r| r.len() >= 2 + HEADER_LEN) else { return Scan::Wait(i) };
        let l = u16::from_be_bytes([rest.first().copied().unwrap_or(0), rest.get(1).copied().unwrap_or(0)]) as usize;
        if l < HEADER_LEN || l + 2 > BLOCK_SIZE {
            continue;
        }
        let Some(h) = rest.get(2..).and_then(Header::parse) else { continue };
        let records = h.an as usize + h.ns as usize + h.ar as usize;
        // Cheap filters before a full parse: the kind, one question, and
        // no more records than the length can hold.
        if h.is_response() != response || h.qd != 1 || records * 11 + 5 > l - HEADER_LEN {
            continue;
        }
        match rest.get(2..2 + l) {
            Some(m) if wire::plausible(m, response) => return Scan::Found(i),
            Some(_) => {
                checks += 1;
                if checks >= MAX_SCAN_CHECKS {
                    return Scan::Wait(i + 1);
                }
            }
            None => return Scan::Wait(i),
        }
    }
    Scan::Wait(data.len())
}

impl DnsParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        const S: Side = Side { skip: 0, resync: false, held: 0, partial: None, started: None };
        DnsParser { sides: [S, S] }
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.sides[0],
            Direction::ToClient => &mut self.sides[1],
        }
    }

    /// The bytes the engine holds for `dir` will never complete: report
    /// the message they started.
    fn abandon(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, note_request: Notes, note_response: Notes) {
        let s = *self.side(dir);
        let side = self.side(dir);
        side.held = 0;
        side.partial = None;
        side.started = None;
        if s.held > 0 && !s.resync {
            ctx.stats.parse_errors += 1;
            if let Some((id, is_response)) = s.partial {
                let ts = s.started.unwrap_or(ctx.ts);
                lost_message(ctx, dir, ts, id, is_response, if is_response { note_response } else { note_request });
            }
        }
    }
}

impl Analyzer for DnsParser {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        let mut pos = 0usize;
        // The data starts with what was held last time (if anything): the
        // first message began then.
        let mut started = self.side(dir).started.take();
        // Each turn consumes at least one byte or leaves the loop.
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or(&[]);
            let s = *self.side(dir);
            if s.skip > 0 {
                let n = (s.skip as usize).min(rest.len());
                self.side(dir).skip -= n as u32;
                pos += n;
                continue;
            }
            if s.resync {
                match scan(rest, dir == Direction::ToClient) {
                    Scan::Found(off) => {
                        self.side(dir).resync = false;
                        ctx.stats.resync_skipped_bytes += off as u64;
                        pos += off;
                        if off > 0 {
                            started = None;
                        }
                        continue;
                    }
                    Scan::Wait(off) => {
                        // A full block always completes any candidate (they
                        // fit a block), so this consumes when it must.
                        let off = if full && pos == 0 && off == 0 { 1 } else { off };
                        ctx.stats.resync_skipped_bytes += off as u64;
                        pos += off;
                        break;
                    }
                }
            }
            let (Some(&a), Some(&b)) = (rest.first(), rest.get(1)) else {
                started = started.or(Some(ctx.ts));
                break;
            };
            let l = u16::from_be_bytes([a, b]) as usize;
            let total = 2 + l;
            if rest.len() < total && !(full && pos == 0) {
                // Held for more bytes: keep when it started.
                started = started.or(Some(ctx.ts));
                break;
            }
            let ts = started.take().unwrap_or(ctx.ts);
            if let Some(msg) = rest.get(2..total) {
                message(ctx, dir, ts, msg, true, l);
                pos += total;
                continue;
            }
            if full && pos == 0 {
                // Longer than a stream block: decode the start, skip the rest.
                message(ctx, dir, ts, rest.get(2..).unwrap_or(&[]), false, l);
                self.side(dir).skip = (total - rest.len()) as u32;
                pos = data.len();
            }
            break;
        }
        let rest = data.get(pos..).unwrap_or(&[]);
        let side = self.side(dir);
        side.held = rest.len() as u32;
        side.started = if rest.is_empty() || side.resync || side.skip > 0 { None } else { started };
        side.partial = if side.resync || side.skip > 0 {
            None
        } else {
            rest.get(2..).and_then(Header::parse).map(|h| (h.id, h.is_response()))
        };
        pos
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, _len: u32) {
        // Where the next message starts is unknown (the engine also drops
        // what it held): report the message hit, then scan.
        self.abandon(ctx, dir, Notes::REQUEST_GAP, Notes::RESPONSE_GAP);
        let side = self.side(dir);
        side.skip = 0;
        side.resync = true;
    }

    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        self.abandon(ctx, dir, Notes::REQUEST_MALFORMED, Notes::RESPONSE_INCOMPLETE);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        self.abandon(ctx, Direction::ToClient, Notes::REQUEST_MALFORMED, Notes::RESPONSE_INCOMPLETE);
        self.abandon(ctx, Direction::ToServer, Notes::REQUEST_MALFORMED, Notes::RESPONSE_INCOMPLETE);
    }

    fn on_datagram(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) {
        let ts = ctx.ts;
        message(ctx, dir, ts, data, true, data.len());
    }
}

/// Writes the DNS fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat(
    m: &mut Object<'_, '_>,
    t: &Transaction,
    x: &DnsTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    json::packetbeat(m, t, x, cfg)
}

/// Writes the DNS fields of the ECS layout into `m`.
pub(crate) fn json_ecs(m: &mut Object<'_, '_>, t: &Transaction, x: &DnsTxn, cfg: &Config) -> Result<(), JsonError> {
    json::ecs(m, t, x, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Response to "a.b A": one answer (owner compressed), an OPT record
    /// with UDP size 4096, extended RCODE 1 (BADVERS with the header's 0)
    /// and DO set.
    const RESPONSE: &[u8] = b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x01\
        \x01a\x01b\x00\x00\x01\x00\x01\
        \xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01\
        \x00\x00\x29\x10\x00\x01\x00\x80\x00\x00\x00";

    fn text(x: &DnsTxn, s: Span) -> &str {
        core::str::from_utf8(x.text.get(s)).unwrap()
    }

    #[test]
    fn decodes_a_response() {
        let mut x = DnsTxn::default();
        let h = Header::parse(RESPONSE).unwrap();
        let out = decode(&mut x, &h, RESPONSE, true, &DnsConfig::default(), true);
        assert_eq!(out, Outcome { malformed: false });
        assert!(x.has_header && x.has_response);
        assert_eq!(x.id, 0x1234);
        assert!(x.flag(flag::RD) && x.flag(flag::RA) && !x.flag(flag::AA));
        let q = x.question.unwrap();
        assert_eq!((text(&x, q.name), q.qtype, q.qclass), ("a.b", 1, 1));
        assert_eq!(x.records.len(), 1);
        let r = x.records[0];
        assert_eq!((text(&x, r.name), text(&x, r.data), r.ttl), ("a.b", "10.0.0.1", 60));
        assert_eq!(r.name, q.name, "the owner name is stored once");
        assert_eq!(x.opt, Some(Edns { udp_size: 4096, ext_rcode: 1, version: 0, dnssec_ok: true }));
        assert_eq!(x.rcode, 16);
        assert_eq!(x.additionals_count, 0, "OPT is not an additional record");
        assert_eq!(
            text(&x, x.response_raw),
            "ID 4660; QR response; OPCODE QUERY; FLAGS rd ra; RCODE NOERROR; QUESTION class IN, type A, a.b; \
             ANSWER a.b 60 IN A 10.0.0.1; OPT version 0, do true, udp_size 4096, ext_rcode BADVERS"
        );
        assert!(!x.truncated());
    }

    #[test]
    fn cut_and_broken_messages() {
        let h = Header::parse(RESPONSE).unwrap();
        let cfg = DnsConfig::default();
        // The start of a longer message: a cut, not an error.
        let mut x = DnsTxn::default();
        let out = decode(&mut x, &h, &RESPONSE[..30], false, &cfg, false);
        assert!(!out.malformed && x.truncated() && x.question.is_some() && x.records.is_empty());
        // The same bytes as a whole message: malformed.
        let mut x = DnsTxn::default();
        assert!(decode(&mut x, &h, &RESPONSE[..30], true, &cfg, false).malformed);
        assert_eq!(x.answers_count, 1, "the header is kept");
    }

    #[test]
    fn scan_finds_the_next_message() {
        let mut buf = [0u8; 64];
        let junk = b"\x00\x05junk!\xff";
        buf[..junk.len()].copy_from_slice(junk);
        let at = junk.len();
        buf[at..at + 2].copy_from_slice(&(RESPONSE.len() as u16).to_be_bytes());
        buf[at + 2..at + 2 + RESPONSE.len()].copy_from_slice(RESPONSE);
        let end = at + 2 + RESPONSE.len();
        assert_eq!(scan(&buf[..end], true), Scan::Found(at));
        // A query is not what the response side expects.
        assert_eq!(scan(&buf[..end], false), Scan::Wait(end - 13));
        // Not all there yet: wait from the candidate on.
        assert_eq!(scan(&buf[..end - 1], true), Scan::Wait(at));
    }
}
