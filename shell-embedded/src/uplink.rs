//! The uplink: a smoltcp TCP connection that ships documents to
//! Elasticsearch (`_bulk`, NDJSON over HTTP/1.1) or Redis (`RPUSH`, RESP).
//!
//! One request is in flight at a time. A batch is cut from the front of the
//! [`DocRing`] into the batch buffer (so the ring can keep dropping its
//! oldest documents while a batch waits for a slow server) and stays there
//! until the server accepted it: a refused, failed or unanswered batch is
//! sent again after a backoff, on a new connection when the old one broke
//! (at-least-once delivery). Time comes only from the `now` given to
//! [`Appliance::poll`](crate::Appliance::poll).
//!
//! Formats follow the std shell's outputs:
//! * Elasticsearch: `POST /_bulk` with `Content-Type: application/x-ndjson`;
//!   per document an action line `{"index":{"_index":"INDEX-YYYY.MM.DD"}}`
//!   (the day of the document's `@timestamp`) and the document line. A 2xx
//!   status accepts the batch (a body with `"errors":true` is counted in
//!   [`ShellStats::bulk_item_errors`](crate::ShellStats)); any other status
//!   is retried after a backoff, as the std shell retries a failed request
//!   (a 401 or 403 is fixed by the operator, and the batch must still be
//!   there then; meanwhile the ring drops and counts its oldest documents).
//! * Redis: `RPUSH key doc…` as one RESP array; an integer reply accepts the
//!   batch, an error reply (`-ERR…`, e.g. `-LOADING`, `-OOM`) is retried.
//!
//! Limits: no TLS, no HTTP authentication, no Redis `AUTH`/`SELECT` (the
//! appliance talks to a collector on its management network). The HTTP
//! reply must carry `Content-Length` (Elasticsearch's do); a reply without
//! it, or with `Connection: close`, is read to its headers and the
//! connection is then closed and opened again.

use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpCidr, IpEndpoint, Ipv4Address};

use crate::appliance::ShellStats;
use crate::ring::DocRing;

/// How the uplink gets its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpConfig {
    /// A fixed address and, when the server is not on the local subnet, a
    /// default gateway.
    Static {
        /// Address and prefix, e.g. `192.168.10.5/24`.
        address: IpCidr,
        /// Default IPv4 gateway.
        gateway: Option<Ipv4Address>,
    },
    /// DHCPv4 (address and default route from the lease).
    Dhcp,
}

/// Where documents go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Redis list `key` (`RPUSH`), the Logstash path.
    Redis {
        /// List name.
        key: &'a str,
    },
    /// Elasticsearch `_bulk` API.
    Elasticsearch {
        /// `Host` header value (e.g. `es.local:9200`).
        host: &'a str,
        /// Index name prefix: documents go to `INDEX-YYYY.MM.DD`.
        index: &'a str,
    },
}

/// Uplink settings. [`UplinkConfig::new`] fills in the timing defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UplinkConfig<'a> {
    /// The uplink's hardware address (`HardwareAddress::Ip` on a medium-ip
    /// device); must match the uplink device's medium.
    pub hardware_addr: HardwareAddress,
    /// Address configuration.
    pub ip: IpConfig,
    /// The collector: Elasticsearch's HTTP port or Redis.
    pub server: IpEndpoint,
    /// Protocol and names.
    pub target: Target<'a>,
    /// First wait after a failure; doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// Give up on a connection attempt after this long.
    pub connect_timeout: Duration,
    /// Give up on a reply (and the connection) after this long.
    pub reply_timeout: Duration,
    /// Most documents in one request (also bounded by the batch buffer).
    pub max_batch_docs: usize,
    /// Seed for smoltcp (TCP initial sequence numbers) and the first local
    /// port; give each appliance a different one (e.g. from its serial
    /// number or a hardware RNG).
    pub random_seed: u64,
}

impl<'a> UplinkConfig<'a> {
    /// Settings with default timing: backoff 100 ms doubling to 10 s,
    /// 5 s connect timeout, 10 s reply timeout, at most 256 documents per
    /// request.
    pub fn new(hardware_addr: HardwareAddress, ip: IpConfig, server: IpEndpoint, target: Target<'a>) -> Self {
        UplinkConfig {
            hardware_addr,
            ip,
            server,
            target,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(10),
            max_batch_docs: 256,
            random_seed: 0x7461_7062_6561_7400,
        }
    }
}

// ---------------------------------------------------------------------------
// Request formatting.

/// A writer over a byte slice that fails instead of growing.
struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) -> Option<()> {
        let end = self.len.checked_add(b.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(b);
        self.len = end;
        Some(())
    }

    fn num(&mut self, mut n: usize) -> Option<()> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            *digits.get_mut(i)? = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.put(digits.get(i..)?)
    }
}

/// Room kept at the front of the batch buffer for the request head
/// (HTTP request line and headers, or the RESP array length), which is
/// written once the body's size is known.
const HEAD_ROOM: usize = 256;

/// Longest Elasticsearch `Host` value: the HTTP head (request line, host,
/// content type, a 20-digit length) must fit the 256 bytes reserved for it.
pub const MAX_HOST: usize = 128;

/// Formats as many documents from the front of `ring` as fit (at most
/// `max_docs`) into one request in `buf`. Returns `(request length,
/// documents)`; `(0, 0)` when nothing fits (the caller drops an oversize
/// front document). The documents stay in the ring: the caller pops them.
fn format_request(
    target: &Target<'_>,
    ring: &DocRing<'_>,
    max_docs: usize,
    fallback_day: &[u8; 10],
    buf: &mut [u8],
) -> (usize, usize) {
    let Some(body_buf) = buf.get_mut(HEAD_ROOM..) else {
        return (0, 0);
    };
    let mut body = Cursor { buf: body_buf, len: 0 };
    if let Target::Redis { key } = target {
        if body.put(b"$5\r\nRPUSH\r\n$").and_then(|_| body.num(key.len())).is_none()
            || body.put(b"\r\n").and_then(|_| body.put(key.as_bytes())).and_then(|_| body.put(b"\r\n")).is_none()
        {
            return (0, 0);
        }
    }
    let mut docs = 0;
    for doc in ring.iter().take(max_docs) {
        let mark = body.len;
        let ok = match target {
            Target::Redis { .. } => body
                .put(b"$")
                .and_then(|_| body.num(doc.len()))
                .and_then(|_| body.put(b"\r\n"))
                .and_then(|_| body.put(doc))
                .and_then(|_| body.put(b"\r\n")),
            Target::Elasticsearch { index, .. } => body
                .put(b"{\"index\":{\"_index\":\"")
                .and_then(|_| body.put(index.as_bytes()))
                .and_then(|_| body.put(b"-"))
                .and_then(|_| body.put(&tapbeat_core::json::doc_index_day(doc).unwrap_or(*fallback_day)))
                .and_then(|_| body.put(b"\"}}\n"))
                .and_then(|_| body.put(doc))
                .and_then(|_| body.put(b"\n")),
        };
        if ok.is_none() {
            body.len = mark;
            break;
        }
        docs += 1;
    }
    if docs == 0 {
        return (0, 0);
    }
    let body_len = body.len;
    let mut head_buf = [0u8; HEAD_ROOM];
    let mut head = Cursor { buf: &mut head_buf, len: 0 };
    let ok = match target {
        Target::Redis { .. } => head.put(b"*").and_then(|_| head.num(docs + 2)).and_then(|_| head.put(b"\r\n")),
        Target::Elasticsearch { host, .. } => head
            .put(b"POST /_bulk HTTP/1.1\r\nHost: ")
            .and_then(|_| head.put(host.as_bytes()))
            .and_then(|_| head.put(b"\r\nContent-Type: application/x-ndjson\r\nContent-Length: "))
            .and_then(|_| head.num(body_len))
            .and_then(|_| head.put(b"\r\n\r\n")),
    };
    let head_len = head.len;
    if ok.is_none() {
        return (0, 0);
    }
    // Head, then the body moved down to follow it.
    let (Some(dst), Some(src)) = (head_buf.get(..head_len), HEAD_ROOM.checked_add(body_len)) else {
        return (0, 0);
    };
    if buf.len() < src {
        return (0, 0);
    }
    buf.copy_within(HEAD_ROOM..src, head_len);
    match buf.get_mut(..head_len) {
        Some(h) => h.copy_from_slice(dst),
        None => return (0, 0),
    }
    (head_len + body_len, docs)
}

// ---------------------------------------------------------------------------
// Reply parsing.

/// What a server said about a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// Stored (`item_errors`: Elasticsearch refused some items).
    Accepted {
        /// The `_bulk` reply said `"errors":true`.
        item_errors: bool,
    },
    /// Refused (any HTTP status but 2xx, a Redis error reply): send again
    /// later.
    Retry,
    /// Not a reply of the expected protocol: reconnect.
    Garbage,
}

/// Longest reply line kept (status lines, the headers the uplink reads,
/// Redis replies); longer lines are read through and cut.
const LINE: usize = 128;

/// An incremental parser of one reply, fed whatever bytes arrived.
#[derive(Clone, Debug)]
pub struct ReplyParser {
    http: bool,
    line: [u8; LINE],
    line_len: usize,
    /// HTTP: status line seen.
    status: Option<u16>,
    content_length: Option<usize>,
    close: bool,
    /// HTTP: in the body, bytes left.
    body_left: Option<usize>,
    /// Progress matching `"errors":true` in the body.
    matched: usize,
    item_errors: bool,
}

const ERRORS_TRUE: &[u8] = b"\"errors\":true";

/// A complete reply: the outcome and whether the connection must be closed
/// afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The verdict on the batch.
    pub outcome: Outcome,
    /// Close (and later reopen) the connection.
    pub close: bool,
}

impl ReplyParser {
    /// A parser for an HTTP (`http`) or a RESP reply.
    pub fn new(http: bool) -> Self {
        ReplyParser {
            http,
            line: [0; LINE],
            line_len: 0,
            status: None,
            content_length: None,
            close: false,
            body_left: None,
            matched: 0,
            item_errors: false,
        }
    }

    /// Feeds bytes; returns how many were used and, once the reply is
    /// complete, the reply (bytes after it are left unread).
    pub fn feed(&mut self, data: &[u8]) -> (usize, Option<Reply>) {
        let mut used = 0;
        while used < data.len() {
            let rest = data.get(used..).unwrap_or(&[]);
            if let Some(left) = self.body_left {
                let n = left.min(rest.len());
                for &c in rest.get(..n).unwrap_or(&[]) {
                    self.match_errors(c);
                }
                used += n;
                self.body_left = Some(left - n);
                if left == n {
                    return (used, Some(self.http_done()));
                }
                continue;
            }
            let Some(&c) = rest.first() else { break };
            used += 1;
            if c != b'\n' {
                if let Some(slot) = self.line.get_mut(self.line_len) {
                    *slot = c;
                    self.line_len += 1;
                }
                continue;
            }
            let len = self.line_len;
            self.line_len = 0;
            let mut line = self.line.get(..len).unwrap_or(&[]);
            line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut copy = [0u8; LINE];
            let n = line.len();
            if let Some(d) = copy.get_mut(..n) {
                d.copy_from_slice(line);
            }
            if let Some(reply) = self.on_line(copy.get(..n).unwrap_or(&[])) {
                return (used, Some(reply));
            }
        }
        (used, None)
    }

    fn match_errors(&mut self, c: u8) {
        if self.item_errors {
            return;
        }
        if ERRORS_TRUE.get(self.matched) == Some(&c) {
            self.matched += 1;
            if self.matched == ERRORS_TRUE.len() {
                self.item_errors = true;
            }
        } else {
            // The pattern's only repeated byte is its first (`"`).
            self.matched = usize::from(c == b'"');
        }
    }

    fn on_line(&mut self, line: &[u8]) -> Option<Reply> {
        if !self.http {
            let outcome = match line.split_first() {
                Some((b':', digits)) if parse_int(digits.strip_prefix(b"-").unwrap_or(digits)).is_some() => {
                    Outcome::Accepted { item_errors: false }
                }
                Some((b'-', _)) => Outcome::Retry,
                _ => Outcome::Garbage,
            };
            return Some(Reply { outcome, close: outcome == Outcome::Garbage });
        }
        let Some(status) = self.status else {
            // Status line: `HTTP/1.1 200 OK`.
            let code = line
                .strip_prefix(b"HTTP/1.")
                .and_then(|r| r.get(2..5).filter(|_| r.get(1) == Some(&b' ')))
                .and_then(parse_int)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (100..600).contains(c));
            return match code {
                Some(c) => {
                    self.status = Some(c);
                    None
                }
                None => Some(Reply { outcome: Outcome::Garbage, close: true }),
            };
        };
        if line.is_empty() {
            if (100..200).contains(&status) {
                // An interim reply (`100 Continue`): the real one follows.
                self.status = None;
                return None;
            }
            return match self.content_length {
                Some(0) => Some(self.http_done()),
                Some(n) => {
                    self.body_left = Some(n);
                    None
                }
                None => {
                    self.close = true;
                    Some(self.http_done())
                }
            };
        }
        if let Some((name, value)) = split_header(line) {
            if name.eq_ignore_ascii_case(b"content-length") {
                self.content_length = parse_int(value);
                if self.content_length.is_none() {
                    return Some(Reply { outcome: Outcome::Garbage, close: true });
                }
            } else if name.eq_ignore_ascii_case(b"connection") && value.eq_ignore_ascii_case(b"close") {
                self.close = true;
            }
        }
        None
    }

    fn http_done(&self) -> Reply {
        let outcome = match self.status.unwrap_or(0) {
            200..=299 => Outcome::Accepted { item_errors: self.item_errors },
            300..=599 => Outcome::Retry,
            _ => Outcome::Garbage,
        };
        Reply { outcome, close: self.close || outcome == Outcome::Garbage }
    }
}

fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&c| c == b':')?;
    let name = line.get(..colon)?;
    let value = line.get(colon + 1..)?;
    Some((name, value.trim_ascii()))
}

/// A decimal number of at most 18 digits (no sign).
fn parse_int(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > 18 {
        return None;
    }
    d.iter()
        .try_fold(0usize, |n, &c| c.is_ascii_digit().then(|| n.checked_mul(10)?.checked_add(usize::from(c - b'0')))?)
}

// ---------------------------------------------------------------------------
// The connection state machine.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conn {
    /// Not connected; try again at this time.
    Down { retry_at: Instant },
    /// SYN sent at this time.
    Connecting { since: Instant },
    /// Established.
    Up,
}

/// The uplink's state: connection, the batch in flight, backoff.
pub struct Uplink<'a> {
    cfg: UplinkConfig<'a>,
    tcp: SocketHandle,
    batch: &'a mut [u8],
    /// Request bytes in `batch` (0: no batch).
    req_len: usize,
    req_docs: usize,
    sent: usize,
    awaiting: Option<(Instant, ReplyParser)>,
    /// Do not (re)send the batch before this time (after a refusal).
    resend_at: Instant,
    conn: Conn,
    backoff: Duration,
    ever_up: bool,
    port_seq: u16,
    pub(crate) has_ip: bool,
}

/// First local port used (the IANA dynamic range).
const PORT_BASE: u16 = 49_152;

impl<'a> Uplink<'a> {
    /// An uplink using TCP socket `tcp` and request buffer `batch`.
    pub(crate) fn new(cfg: UplinkConfig<'a>, tcp: SocketHandle, batch: &'a mut [u8]) -> Self {
        Uplink {
            tcp,
            batch,
            req_len: 0,
            req_docs: 0,
            sent: 0,
            awaiting: None,
            resend_at: Instant::ZERO,
            conn: Conn::Down { retry_at: Instant::ZERO },
            backoff: cfg.backoff_min,
            ever_up: false,
            port_seq: (cfg.random_seed % 16_384) as u16,
            has_ip: matches!(cfg.ip, IpConfig::Static { .. }),
            cfg,
        }
    }

    /// The settings.
    pub fn config(&self) -> &UplinkConfig<'a> {
        &self.cfg
    }

    /// Connected to the server.
    pub fn is_connected(&self) -> bool {
        self.conn == Conn::Up
    }

    /// Documents in the batch that is waiting to be accepted.
    pub fn in_flight(&self) -> usize {
        self.req_docs
    }

    /// Drops the connection and waits a backoff before the next attempt.
    /// A request on the wire counts as a failed send (it is sent again).
    fn fail(&mut self, now: Instant, stats: &mut ShellStats, sock: &mut tcp::Socket<'_>) {
        if self.sent > 0 || self.awaiting.is_some() {
            stats.send_failures = stats.send_failures.saturating_add(1);
        }
        sock.abort();
        self.conn = Conn::Down { retry_at: now + self.backoff };
        self.backoff = (self.backoff * 2).min(self.cfg.backoff_max);
        self.sent = 0;
        self.awaiting = None;
    }

    /// Drops the connection (the address was lost, DHCP lease expired).
    pub(crate) fn link_lost(&mut self, now: Instant, sockets: &mut SocketSet<'_>) {
        sockets.get_mut::<tcp::Socket>(self.tcp).abort();
        self.conn = Conn::Down { retry_at: now };
        self.sent = 0;
        self.awaiting = None;
    }

    /// One step: connect, cut a batch, send, read the reply. Never blocks.
    pub(crate) fn step(
        &mut self,
        now: Instant,
        iface: &mut Interface,
        sockets: &mut SocketSet<'_>,
        ring: &mut DocRing<'_>,
        stats: &mut ShellStats,
        fallback_day: &[u8; 10],
    ) {
        let sock = sockets.get_mut::<tcp::Socket>(self.tcp);
        match self.conn {
            Conn::Down { retry_at } => {
                if !self.has_ip || now < retry_at || (self.req_len == 0 && ring.is_empty()) {
                    return;
                }
                let port = PORT_BASE + self.port_seq % 16_384;
                self.port_seq = self.port_seq.wrapping_add(1);
                stats.connect_attempts = stats.connect_attempts.saturating_add(1);
                sock.set_timeout(Some(self.cfg.reply_timeout));
                match sock.connect(iface.context(), self.cfg.server, port) {
                    Ok(()) => {
                        debug!("uplink: connecting from port {}", port);
                        self.conn = Conn::Connecting { since: now };
                    }
                    Err(_) => {
                        stats.connect_failures = stats.connect_failures.saturating_add(1);
                        self.fail(now, stats, sock);
                    }
                }
            }
            Conn::Connecting { since } => {
                if sock.state() == tcp::State::Established {
                    stats.connects = stats.connects.saturating_add(1);
                    if self.ever_up {
                        stats.reconnects = stats.reconnects.saturating_add(1);
                    }
                    self.ever_up = true;
                    self.conn = Conn::Up;
                    self.sent = 0;
                    self.awaiting = None;
                    debug!("uplink: connected");
                } else if !sock.is_active() || now >= since + self.cfg.connect_timeout {
                    stats.connect_failures = stats.connect_failures.saturating_add(1);
                    warn!("uplink: connection failed; retry in {} ms", self.backoff.total_millis());
                    self.fail(now, stats, sock);
                }
            }
            Conn::Up => self.exchange(now, sock, ring, stats, fallback_day),
        }
    }

    fn exchange(
        &mut self,
        now: Instant,
        sock: &mut tcp::Socket<'_>,
        ring: &mut DocRing<'_>,
        stats: &mut ShellStats,
        fallback_day: &[u8; 10],
    ) {
        // A reply first: it may have arrived just before the peer closed.
        if let Some((since, mut parser)) = self.awaiting.take() {
            let got = sock.recv(|data| {
                let (used, reply) = parser.feed(data);
                (used, reply)
            });
            match got {
                Ok(Some(reply)) => {
                    self.on_reply(now, reply, sock, stats);
                    return;
                }
                Ok(None) | Err(_) if now >= since + self.cfg.reply_timeout => {
                    warn!("uplink: no reply in time");
                    self.awaiting = Some((since, parser));
                    self.fail(now, stats, sock);
                    return;
                }
                _ => self.awaiting = Some((since, parser)),
            }
        }
        if sock.state() != tcp::State::Established {
            // Closed or closing under us (the server went away): back off;
            // a batch on the wire is sent again on the next connection.
            warn!("uplink: connection lost");
            self.fail(now, stats, sock);
            return;
        }
        if self.awaiting.is_some() {
            return;
        }
        if self.req_len == 0 {
            self.cut_batch(ring, stats, fallback_day);
        }
        if self.req_len == 0 || now < self.resend_at {
            return;
        }
        if let Some(rest) = self.batch.get(self.sent..self.req_len) {
            match sock.send_slice(rest) {
                Ok(n) => self.sent += n,
                Err(_) => {
                    self.fail(now, stats, sock);
                    return;
                }
            }
        }
        if self.sent >= self.req_len {
            let http = matches!(self.cfg.target, Target::Elasticsearch { .. });
            self.awaiting = Some((now, ReplyParser::new(http)));
        }
    }

    fn cut_batch(&mut self, ring: &mut DocRing<'_>, stats: &mut ShellStats, fallback_day: &[u8; 10]) {
        while !ring.is_empty() {
            let (len, docs) =
                format_request(&self.cfg.target, ring, self.cfg.max_batch_docs.max(1), fallback_day, self.batch);
            if docs == 0 {
                // The front document alone does not fit a request.
                ring.pop();
                stats.request_oversize = stats.request_oversize.saturating_add(1);
                continue;
            }
            for _ in 0..docs {
                ring.pop();
            }
            self.req_len = len;
            self.req_docs = docs;
            self.sent = 0;
            return;
        }
    }

    fn on_reply(&mut self, now: Instant, reply: Reply, sock: &mut tcp::Socket<'_>, stats: &mut ShellStats) {
        let docs = self.req_docs as u64;
        match reply.outcome {
            Outcome::Accepted { item_errors } => {
                stats.docs_sent = stats.docs_sent.saturating_add(docs);
                stats.batches_sent = stats.batches_sent.saturating_add(1);
                if item_errors {
                    stats.bulk_item_errors = stats.bulk_item_errors.saturating_add(1);
                }
                self.clear_batch();
                self.backoff = self.cfg.backoff_min;
            }
            Outcome::Retry => {
                warn!("uplink: batch refused; retry in {} ms", self.backoff.total_millis());
                stats.send_failures = stats.send_failures.saturating_add(1);
                self.sent = 0;
                self.resend_at = now + self.backoff;
                self.backoff = (self.backoff * 2).min(self.cfg.backoff_max);
            }
            Outcome::Garbage => {
                warn!("uplink: unreadable reply");
                stats.send_failures = stats.send_failures.saturating_add(1);
                self.fail(now, stats, sock);
                return;
            }
        }
        if reply.close {
            sock.abort();
            self.conn = Conn::Down { retry_at: now };
        }
    }

    fn clear_batch(&mut self) {
        self.req_len = 0;
        self.req_docs = 0;
        self.sent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with<'a>(buf: &'a mut [u8], docs: &[&[u8]]) -> DocRing<'a> {
        let mut r = DocRing::new(buf);
        for d in docs {
            r.push(d);
        }
        r
    }

    #[test]
    fn es_bulk_request() {
        let mut rb = [0u8; 512];
        let d1: &[u8] = b"{\"@timestamp\":\"2015-06-11T09:51:23.642Z\",\"a\":1}";
        let d2: &[u8] = b"{\"x\":2}";
        let ring = ring_with(&mut rb, &[d1, d2]);
        let mut buf = [0u8; 1024];
        let t = Target::Elasticsearch { host: "es:9200", index: "tb" };
        let (len, docs) = format_request(&t, &ring, 10, b"2020.01.02", &mut buf);
        assert_eq!(docs, 2);
        let body =
            "{\"index\":{\"_index\":\"tb-2015.06.11\"}}\n{\"@timestamp\":\"2015-06-11T09:51:23.642Z\",\"a\":1}\n\
                    {\"index\":{\"_index\":\"tb-2020.01.02\"}}\n{\"x\":2}\n";
        let want = format!(
            "POST /_bulk HTTP/1.1\r\nHost: es:9200\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(core::str::from_utf8(&buf[..len]).unwrap(), want);
    }

    #[test]
    fn longest_host_fits_the_head() {
        let mut rb = [0u8; 64];
        let ring = ring_with(&mut rb, &[b"{}"]);
        let host = "h".repeat(MAX_HOST);
        let t = Target::Elasticsearch { host: &host, index: "i" };
        let mut buf = [0u8; 1024];
        let (len, docs) = format_request(&t, &ring, 1, b"2020.01.02", &mut buf);
        assert_eq!(docs, 1);
        assert!(buf[..len].ends_with(b"\r\n\r\n{\"index\":{\"_index\":\"i-2020.01.02\"}}\n{}\n"));
    }

    #[test]
    fn redis_rpush_request_and_batch_limits() {
        let mut rb = [0u8; 512];
        let ring = ring_with(&mut rb, &[b"{\"a\":1}", b"{}", b"{\"c\":333}"]);
        let mut buf = [0u8; 1024];
        let t = Target::Redis { key: "tb" };
        let (len, docs) = format_request(&t, &ring, 2, b"2020.01.02", &mut buf);
        assert_eq!(docs, 2);
        assert_eq!(&buf[..len], b"*4\r\n$5\r\nRPUSH\r\n$2\r\ntb\r\n$7\r\n{\"a\":1}\r\n$2\r\n{}\r\n");
        // A buffer that holds the head room and one document only.
        let mut small = [0u8; HEAD_ROOM + 36];
        let (_, docs) = format_request(&t, &ring, 10, b"2020.01.02", &mut small);
        assert_eq!(docs, 1);
        let mut tiny = [0u8; HEAD_ROOM + 10];
        assert_eq!(format_request(&t, &ring, 10, b"2020.01.02", &mut tiny), (0, 0));
    }

    fn parse_all(http: bool, input: &[u8], step: usize) -> Option<Reply> {
        let mut p = ReplyParser::new(http);
        let mut at = 0;
        while at < input.len() {
            let end = (at + step).min(input.len());
            let (used, r) = p.feed(&input[at..end]);
            if r.is_some() {
                assert_eq!(at + used, input.len(), "reply ends at the input's end");
                return r;
            }
            assert_eq!(used, end - at);
            at = end;
        }
        None
    }

    #[test]
    fn replies_split_anywhere() {
        let ok_errors = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n{\"took\":1,\"errors\":true,\"\"}";
        for step in 1..ok_errors.len() {
            let r = parse_all(true, ok_errors, step).unwrap();
            assert_eq!(r, Reply { outcome: Outcome::Accepted { item_errors: true }, close: false });
            assert_eq!(
                parse_all(false, b":42\r\n", step.min(5)),
                Some(Reply { outcome: Outcome::Accepted { item_errors: false }, close: false })
            );
        }
        let cases: [(&[u8], Outcome, bool); 7] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"errors\":false}",
                Outcome::Accepted { item_errors: false },
                false,
            ),
            (b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}", Outcome::Retry, false),
            (b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", Outcome::Retry, true),
            (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", Outcome::Retry, false),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n",
                Outcome::Accepted { item_errors: false },
                true,
            ),
            (b"SSH-2.0-OpenSSH\r\n", Outcome::Garbage, true),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", Outcome::Garbage, true),
        ];
        for (input, outcome, close) in cases {
            let end = input.iter().rposition(|_| true).unwrap() + 1;
            let mut p = ReplyParser::new(true);
            let (_, r) = p.feed(&input[..end]);
            assert_eq!(r, Some(Reply { outcome, close }), "{}", core::str::from_utf8(input).unwrap());
        }
        assert_eq!(parse_all(false, b"-LOADING busy\r\n", 3).unwrap().outcome, Outcome::Retry);
        assert_eq!(parse_all(false, b"+OK\r\n", 3).unwrap().outcome, Outcome::Garbage);
        // A huge line is read through without overflowing.
        let mut long = [b'a'; 1000];
        long[999] = b'\n';
        assert_eq!(parse_all(false, &long, 7).unwrap().outcome, Outcome::Garbage);
    }
}
