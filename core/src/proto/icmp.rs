//! The ICMP v4 and v6 analyzer.
//!
//! The engine hands every ICMP message of an address pair (one "flow") to
//! [`IcmpParser::on_datagram`]. Who asked and who answered is decided by
//! the message type, never by which address was seen first: a capture may
//! start with a reply, and on loopback both ends share one address.
//!
//! Each message plays one [`Role`]:
//!
//! * **Requests** that expect a reply — echo (v4 and v6), timestamp,
//!   information, address mask, extended echo (RFC 8335), node information
//!   (RFC 4620), router and neighbor solicitation, and the Mobile IPv6 /
//!   SEND solicitations — wait in the flow's queue for their reply, keyed
//!   by what the reply repeats (identifier and sequence number, nonce,
//!   target address). A request sent to a multicast or broadcast address is
//!   answered from other addresses (other flows), so it is reported at once.
//!   A second request with the same key while the first is unanswered
//!   reports the first as unanswered (Packetbeat's "duplicate request").
//! * **Replies** complete the oldest matching request of the flow (status
//!   OK, `responsetime`); with none they are reported alone with the note
//!   "Unmatched response" (status Error). Router and neighbor advertisements
//!   are often unsolicited: without a solicitation they are reported alone
//!   as announcements (status OK, in the `request` section).
//! * **Errors** — destination unreachable, source quench, time exceeded,
//!   parameter problem, packet too big — are responses to some earlier
//!   packet: reported as response-only events with status Error, with the
//!   destination of the quoted (offending) packet as `path` and the quoted
//!   protocol, addresses and ports under `icmp.original`. When the quoted
//!   packet is an ICMP request still waiting in this flow (a host rejecting
//!   pings), the error completes that request instead.
//! * Everything else (redirects, multicast listener messages, router
//!   advertisements without solicitation, ...) is an **informational**
//!   message, reported alone (status OK).
//!
//! Unanswered requests are reported by the engine after the ICMP
//! `transaction_timeout` or when the flow ends, as "Unmatched request".
//!
//! `bytes_in` / `bytes_out` are the bytes after the 8-byte ICMP header (the
//! echo data, the quoted datagram), as Packetbeat counts them.
//!
//! Bounds: an ICMP message is one datagram, so nothing is buffered between
//! packets; the section holds numbers and addresses only (no text arena,
//! nothing to truncate); correlation keys are at most [`MAX_KEY`] bytes;
//! quoted IPv6 extension headers are walked at most
//! [`quote::MAX_QUOTE_EXT_HEADERS`] deep.

pub mod json;
pub mod names;
pub mod quote;

pub(crate) use json::{json_ecs, json_packetbeat};
pub use names::Message;
pub use quote::Original;

use core::net::IpAddr;

use crate::config::Common;
use crate::flow::Direction;
use crate::pending::{Handle, PendingSlot, FLAG_REQUEST_DONE, FLAG_RESPONSE_ONLY, FLAG_RESPONSE_STARTED};
use crate::proto::{Analyzer, Ctx};
use crate::txn::{Detail, Endpoint, Notes, Status, Transaction};
use crate::wire::ip::proto;

/// Icmp analyzer options (Packetbeat's `protocols.icmp`).
///
/// `enabled` turns the analyzer on (ICMP is recognised by IP protocol, so
/// `ports` is ignored); `transaction_timeout` bounds the wait for a reply.
/// `send_request` / `send_response` are accepted and have no effect, as in
/// Packetbeat: an ICMP message has no text to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig { common: Common { enabled: true, ..Common::on_ports(&[]) } }
    }
}

/// Most bytes of a correlation key (an IPv6 neighbor-discovery target).
pub const MAX_KEY: usize = 16;

/// Length of the ICMP header that precedes the counted payload.
const HEADER_LEN: usize = 8;

/// What a reply repeats from its request, copied from the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Key {
    bytes: [u8; MAX_KEY],
    len: u8,
}

impl Key {
    fn from(b: &[u8]) -> Option<Key> {
        let mut k = Key::default();
        k.bytes.get_mut(..b.len())?.copy_from_slice(b);
        k.len = b.len() as u8;
        Some(k)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// Where in a message its correlation key lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Identifier and sequence number (bytes 4..8): echo, timestamp,
    /// information, address mask.
    IdSeq,
    /// 16-bit identifier and 8-bit sequence number (bytes 4..7): extended
    /// echo.
    IdSeq8,
    /// 16-bit identifier (bytes 4..6): Mobile IPv6 and SEND messages.
    Id,
    /// 64-bit nonce (bytes 8..16): node information.
    Nonce,
    /// Target address (bytes 8..24): neighbor solicitation/advertisement.
    Target,
    /// Nothing: router solicitation/advertisement.
    None,
}

impl KeyKind {
    /// The key of `msg`, `None` when the message is too short to hold it.
    fn extract(self, msg: &[u8]) -> Option<Key> {
        let range = match self {
            KeyKind::IdSeq => 4..8,
            KeyKind::IdSeq8 => 4..7,
            KeyKind::Id => 4..6,
            KeyKind::Nonce => 8..16,
            KeyKind::Target => 8..24,
            KeyKind::None => 0..0,
        };
        Key::from(msg.get(range)?)
    }
}

/// How a message type takes part in transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Expects a reply of type `reply`, matched by `key`.
    Request {
        /// Type of the reply.
        reply: u8,
        /// Where both carry the correlation key.
        key: KeyKind,
    },
    /// Answers a request of type `request`.
    Reply {
        /// Type of the request.
        request: u8,
        /// Where both carry the correlation key.
        key: KeyKind,
        /// Also sent unsolicited (advertisements): reported as an
        /// announcement, not as an unmatched response, when nothing waits.
        unsolicited: bool,
    },
    /// Reports a problem with an earlier packet, which it quotes.
    Error,
    /// Stands alone.
    Info,
}

const fn req(reply: u8, key: KeyKind) -> Role {
    Role::Request { reply, key }
}

const fn rep(request: u8, key: KeyKind) -> Role {
    Role::Reply { request, key, unsolicited: false }
}

const fn adv(request: u8, key: KeyKind) -> Role {
    Role::Reply { request, key, unsolicited: true }
}

/// The role of ICMPv4 (`v6` false) or ICMPv6 type `typ`.
pub fn role(v6: bool, typ: u8) -> Role {
    use KeyKind::*;
    if v6 {
        match typ {
            1..=4 => Role::Error,
            128 => req(129, IdSeq),
            129 => rep(128, IdSeq),
            133 => req(134, None),
            134 => adv(133, None),
            135 => req(136, Target),
            136 => adv(135, Target),
            139 => req(140, Nonce),
            140 => rep(139, Nonce),
            144 => req(145, Id),
            145 => rep(144, Id),
            146 => req(147, Id),
            147 => adv(146, Id),
            148 => req(149, Id),
            149 => adv(148, Id),
            160 => req(161, IdSeq8),
            161 => rep(160, IdSeq8),
            _ => Role::Info,
        }
    } else {
        match typ {
            3 | 4 | 11 | 12 => Role::Error,
            8 => req(0, IdSeq),
            0 => rep(8, IdSeq),
            13 => req(14, IdSeq),
            14 => rep(13, IdSeq),
            15 => req(16, IdSeq),
            16 => rep(15, IdSeq),
            17 => req(18, IdSeq),
            18 => rep(17, IdSeq),
            10 => req(9, None),
            9 => adv(10, None),
            42 => req(43, IdSeq8),
            43 => rep(42, IdSeq8),
            _ => Role::Info,
        }
    }
}

/// True when messages of this type quote the packet they are about.
fn quotes(v6: bool, typ: u8) -> bool {
    if v6 {
        matches!(typ, 1..=4)
    } else {
        matches!(typ, 3 | 4 | 5 | 11 | 12)
    }
}

/// Type and code of one message of a transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IcmpMsg {
    /// Type.
    pub typ: u8,
    /// Code.
    pub code: u8,
}

/// The Icmp section of a transaction: fixed-size numbers and addresses.
#[derive(Clone, Debug, Default)]
pub struct IcmpTxn {
    /// 4 or 6.
    pub version: u8,
    /// The request (absent for errors and unmatched replies).
    pub request: Option<IcmpMsg>,
    /// The reply or error (absent when unanswered or informational).
    pub response: Option<IcmpMsg>,
    /// What was asked for: the request's destination, or the destination of
    /// the packet an error quotes.
    pub path: Option<IpAddr>,
    /// The packet an error (or redirect) quotes.
    pub original: Option<Original>,
    /// Correlation key of a waiting request.
    pub key: Key,
}

impl IcmpTxn {
    /// True when a text field was cut to fit: never (there is no text).
    pub fn truncated(&self) -> bool {
        false
    }

    /// Empties every field, for ICMP `version`.
    pub fn reset(&mut self, version: u8) {
        *self = IcmpTxn { version, ..IcmpTxn::default() };
    }

    /// Gives `t` an empty ICMP section, reusing the one it has.
    pub fn init(t: &mut Transaction, version: u8) {
        match &mut t.detail {
            Detail::Icmp(x) => x.reset(version),
            other => *other = Detail::Icmp(IcmpTxn { version, ..IcmpTxn::default() }),
        }
    }

    /// The human-readable text of `m`.
    pub fn message(&self, m: IcmpMsg) -> Message {
        Message { v6: self.version == 6, typ: m.typ, code: m.code }
    }
}

fn icmp(t: &mut Transaction) -> Option<&mut IcmpTxn> {
    match &mut t.detail {
        Detail::Icmp(x) => Some(x),
        _ => None,
    }
}

/// True when `s` is a request of type `typ` with key `key` sent by
/// `client`, still waiting for its reply.
fn waiting(s: &PendingSlot, typ: u8, key: &Key, client: IpAddr) -> bool {
    if s.flags & (FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED) != 0 || s.txn.client.ip != client {
        return false;
    }
    match &s.txn.detail {
        Detail::Icmp(x) => x.request.is_some_and(|r| r.typ == typ) && x.key == *key,
        _ => false,
    }
}

/// Multicast and limited-broadcast destinations: replies come from other
/// addresses, which are other flows.
fn is_group(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// Which half of the ICMP section a message reported alone fills.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Request,
    Response,
}

/// One message reported alone.
struct Single {
    part: Part,
    msg: IcmpMsg,
    /// Sender and receiver of the message.
    src: IpAddr,
    dst: IpAddr,
    payload: u64,
    status: Status,
    notes: Notes,
    original: Option<Original>,
}

/// Per-flow Icmp parser state. ICMP needs none: every message is a whole
/// datagram and the waiting requests live in the pending pool.
#[derive(Clone, Debug, Default)]
pub struct IcmpParser {}

impl IcmpParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        IcmpParser {}
    }

    fn on_message(ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) {
        let v6 = ctx.meta.ip_proto == proto::ICMPV6;
        let (src, dst) = match dir {
            Direction::ToServer => (ctx.meta.client.ip, ctx.meta.server.ip),
            Direction::ToClient => (ctx.meta.server.ip, ctx.meta.client.ip),
        };
        // Type, code and checksum are the least a message has.
        let (Some(&typ), Some(&code), true) = (data.first(), data.get(1), data.len() >= 4) else {
            ctx.stats.parse_errors += 1;
            return;
        };
        let msg = IcmpMsg { typ, code };
        let payload = data.len().saturating_sub(HEADER_LEN) as u64;
        let single = |part, status, notes, original| Single { part, msg, src, dst, payload, status, notes, original };
        match role(v6, typ) {
            Role::Request { key, .. } => {
                let Some(k) = key.extract(data) else {
                    ctx.stats.parse_errors += 1;
                    Self::report(ctx, single(Part::Request, Status::Error, Notes::REQUEST_MALFORMED, None));
                    return;
                };
                if is_group(dst) {
                    Self::report(ctx, single(Part::Request, Status::Ok, Notes::empty(), None));
                } else {
                    Self::request(ctx, msg, k, src, dst, payload);
                }
            }
            Role::Reply { request, key, unsolicited } => {
                let Some(k) = key.extract(data) else {
                    ctx.stats.parse_errors += 1;
                    Self::report(ctx, single(Part::Response, Status::Error, Notes::RESPONSE_MALFORMED, None));
                    return;
                };
                if let Some(h) = ctx.find(|s| waiting(s, request, &k, dst)) {
                    Self::answer(ctx, h, msg, payload, Status::Ok, None);
                } else if unsolicited {
                    Self::report(ctx, single(Part::Request, Status::Ok, Notes::empty(), None));
                } else {
                    ctx.stats.unmatched_responses += 1;
                    Self::report(ctx, single(Part::Response, Status::Error, Notes::NO_REQUEST, None));
                }
            }
            Role::Error => {
                let quoted = data.get(HEADER_LEN..).and_then(quote::parse);
                if let Some(h) = quoted.and_then(|(o, l4)| Self::quoted_request(ctx, v6, &o, l4)) {
                    Self::answer(ctx, h, msg, payload, Status::Error, quoted.map(|q| q.0));
                    return;
                }
                Self::report(ctx, single(Part::Response, Status::Error, Notes::empty(), quoted.map(|q| q.0)));
            }
            Role::Info => {
                let original = if quotes(v6, typ) { data.get(HEADER_LEN..).and_then(quote::parse) } else { None };
                Self::report(ctx, single(Part::Request, Status::Ok, Notes::empty(), original.map(|q| q.0)));
            }
        }
    }

    /// Queues a request until its reply comes.
    fn request(ctx: &mut Ctx<'_, '_>, msg: IcmpMsg, key: Key, src: IpAddr, dst: IpAddr, payload: u64) {
        if let Some(old) = ctx.find(|s| waiting(s, msg.typ, &key, src)) {
            // The same request again before any reply: the first is given
            // up, as Packetbeat does (the reply pairs with the newest).
            crate::proto::emit_unanswered(ctx.pending, ctx.stats, ctx.sink, old, Notes::NO_RESPONSE);
        }
        let version = if ctx.meta.ip_proto == proto::ICMPV6 { 6 } else { 4 };
        let ts = ctx.ts;
        let Some(h) = ctx.begin(ts) else { return };
        if let Some(s) = ctx.slot(h) {
            s.flags |= FLAG_REQUEST_DONE;
            let t = &mut s.txn;
            IcmpTxn::init(t, version);
            t.client = Endpoint { ip: src, port: 0 };
            t.server = Endpoint { ip: dst, port: 0 };
            t.bytes_in = payload;
            if let Some(x) = icmp(t) {
                x.request = Some(msg);
                x.key = key;
                x.path = Some(dst);
            }
        }
    }

    /// Completes the waiting request `h` with `msg` (a reply, or an error
    /// quoting `original`) and reports it.
    fn answer(
        ctx: &mut Ctx<'_, '_>,
        h: Handle,
        msg: IcmpMsg,
        payload: u64,
        status: Status,
        original: Option<Original>,
    ) {
        let ts = ctx.ts;
        if let Some(s) = ctx.slot(h) {
            s.flags |= FLAG_RESPONSE_STARTED;
            let t = &mut s.txn;
            t.response_ts = Some(ts);
            t.bytes_out = payload;
            t.status = status;
            if let Some(x) = icmp(t) {
                x.response = Some(msg);
                x.original = original;
            }
        }
        ctx.emit(h);
    }

    /// The waiting request of this flow that an error quotes, if any.
    fn quoted_request(ctx: &Ctx<'_, '_>, v6: bool, o: &Original, l4: &[u8]) -> Option<Handle> {
        let own = if v6 { proto::ICMPV6 } else { proto::ICMP };
        if o.protocol != own {
            return None;
        }
        let typ = *l4.first()?;
        let Role::Request { key, .. } = role(v6, typ) else { return None };
        let k = key.extract(l4)?;
        ctx.find(|s| waiting(s, typ, &k, o.src))
    }

    /// Reports one message as a transaction of its own.
    fn report(ctx: &mut Ctx<'_, '_>, m: Single) {
        let version = if ctx.meta.ip_proto == proto::ICMPV6 { 6 } else { 4 };
        let ts = ctx.ts;
        let Some(h) = ctx.begin(ts) else { return };
        if let Some(s) = ctx.slot(h) {
            let t = &mut s.txn;
            IcmpTxn::init(t, version);
            t.status = m.status;
            t.notes = m.notes;
            let path = m.original.map(|o| o.dst);
            match m.part {
                Part::Request => {
                    s.flags |= FLAG_REQUEST_DONE;
                    t.client = Endpoint { ip: m.src, port: 0 };
                    t.server = Endpoint { ip: m.dst, port: 0 };
                    t.bytes_in = m.payload;
                    if let Some(x) = icmp(t) {
                        x.request = Some(m.msg);
                        x.path = Some(path.unwrap_or(m.dst));
                    }
                }
                Part::Response => {
                    // The receiver of a reply or error is the side that
                    // sent the request (or the offending packet).
                    s.flags |= FLAG_RESPONSE_ONLY | FLAG_RESPONSE_STARTED;
                    t.client = Endpoint { ip: m.dst, port: 0 };
                    t.server = Endpoint { ip: m.src, port: 0 };
                    t.bytes_out = m.payload;
                    // With "Unmatched response" the time is the response's
                    // and no response time is computed; an error without a
                    // request has no response time either.
                    if m.notes.contains(Notes::NO_REQUEST) {
                        t.response_ts = Some(ts);
                    }
                    if let Some(x) = icmp(t) {
                        x.response = Some(m.msg);
                        x.path = Some(path.unwrap_or(m.src));
                    }
                }
            }
            if let Some(x) = icmp(t) {
                x.original = m.original;
            }
        }
        ctx.emit(h);
    }
}

impl Analyzer for IcmpParser {
    fn on_data(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, data: &[u8], _full: bool) -> usize {
        // ICMP is never a stream; the engine does not call this.
        data.len()
    }
    fn on_gap(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _len: u32) {}
    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}
    fn on_close(&mut self, _ctx: &mut Ctx<'_, '_>) {}
    fn on_datagram(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) {
        Self::on_message(ctx, dir, data);
    }
}

#[cfg(test)]
mod tests;
