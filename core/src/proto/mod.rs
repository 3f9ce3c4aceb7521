//! Protocol analyzers and the interface the engine drives them through.
//!
//! Each analyzer is a streaming parser: it may receive a message split at
//! any byte, keeps only bounded state, and must accept gaps. Dispatch is
//! static: [`ParserState`] is an enum of per-flow parser states, chosen by
//! the configured server port when a flow is created.
//!
//! ## The streaming contract
//!
//! [`Analyzer::on_data`] gets the next in-order bytes of one direction and
//! returns how many it consumed. It consumes everything it can; it returns
//! less only when it needs more bytes to go on (a header line cut between
//! two segments). The engine keeps the unconsumed tail in a stream block
//! ([`BLOCK_SIZE`] bytes) and calls again with the
//! tail and what follows. When `full` is set the block is full and the
//! analyzer **must** consume something (treat the line as truncated); if it
//! does not, the engine drops the bytes and counts them.
//!
//! [`Analyzer::on_gap`] says `len` bytes were lost: the analyzer skips them
//! if it knows where it is (inside a body of known length) or resynchronises
//! at the next message start, and marks the affected transaction.

pub mod dns;
pub mod http;
pub mod icmp;
pub mod memcache;
pub mod mongodb;
pub mod mysql;
pub mod pgsql;
pub mod redis;
pub mod thrift;

use crate::config::Config;
use crate::engine::Sink;
use crate::flow::{Direction, FlowMeta};
use crate::pending::{Handle, PendingPool, PendingSlot};
use crate::pool::{BlockPool, BLOCK_SIZE, NONE};
use crate::stats::Stats;
use crate::time::Timestamp;
use crate::txn::{Notes, Protocol, Status, Transaction};

/// What an analyzer may touch while it handles one flow's bytes: the
/// pending-transaction pool (through methods that keep it consistent), the
/// counters, the configuration and the sink.
pub struct Ctx<'c, 'p> {
    pub(crate) pending: &'c mut PendingPool<'p>,
    /// Engine counters.
    pub stats: &'c mut Stats,
    /// Configuration.
    pub cfg: &'c Config,
    pub(crate) sink: &'c mut dyn Sink,
    pub(crate) flow: u32,
    /// The flow's endpoints and protocol.
    pub meta: &'c FlowMeta,
    /// Timestamp of the packet being processed.
    pub ts: Timestamp,
    /// TCP sequence number of the first byte of the data being handed to
    /// `on_data` (0 for datagrams).
    pub pos: u32,
    /// Acknowledgment number that came with that data: how much of the other
    /// direction its sender had received (TCP only).
    pub ack: Option<u32>,
}

impl Ctx<'_, '_> {
    /// Starts a transaction record for this flow (appended to its queue),
    /// with the common fields filled in. When the pool is full the oldest
    /// record anywhere is reported (marked evicted) to make room.
    pub fn begin(&mut self, ts: Timestamp) -> Option<Handle> {
        let h = match self.pending.alloc(self.flow, ts) {
            Some(h) => h,
            None => {
                let (old, _) = self.pending.oldest()?;
                self.stats.pending_evicted += 1;
                emit_unanswered(self.pending, self.stats, self.sink, old, Notes::PENDING_EVICTED);
                self.pending.alloc(self.flow, ts)?
            }
        };
        let meta = *self.meta;
        if let Some(s) = self.pending.get_mut(h, ts) {
            let t = &mut s.txn;
            t.ts = ts;
            t.protocol = meta.protocol;
            t.transport = meta.transport;
            t.client = meta.client;
            t.server = meta.server;
        }
        Some(h)
    }

    /// The record behind `h` (activity postpones its timeout).
    pub fn slot(&mut self, h: Handle) -> Option<&mut PendingSlot> {
        let ts = self.ts;
        self.pending.get_mut(h, ts)
    }

    /// The transaction behind `h`.
    pub fn txn(&mut self, h: Handle) -> Option<&mut Transaction> {
        self.slot(h).map(|s| &mut s.txn)
    }

    /// The oldest record of this flow for which `f` holds.
    pub fn find(&self, mut f: impl FnMut(&PendingSlot) -> bool) -> Option<Handle> {
        self.pending.find_in_flow(self.flow, |h, s| f(s).then_some(h))
    }

    /// The newest record of this flow for which `f` holds.
    pub fn find_last(&self, mut f: impl FnMut(&PendingSlot) -> bool) -> Option<Handle> {
        let mut last = None;
        self.pending.find_in_flow(self.flow, |h, s| {
            if f(s) {
                last = Some(h);
            }
            None::<()>
        });
        last
    }

    /// Frees the record behind `h` without reporting it (a request that
    /// turned out not to be a transaction, e.g. a Parse never executed).
    pub fn discard(&mut self, h: Handle) {
        self.pending.release(h);
    }

    /// Reports `h` as a request that got no response, noting `why`.
    pub fn emit_unanswered(&mut self, h: Handle, why: Notes) {
        emit_unanswered(self.pending, self.stats, self.sink, h, why);
    }

    /// Hands the transaction behind `h` to the sink and frees its record.
    pub fn emit(&mut self, h: Handle) {
        emit(self.pending, self.stats, self.sink, h);
    }

    /// Reports every record of this flow still open, as unanswered with
    /// `why` noted (the flow is closing). Records holding a complete
    /// response-only message are reported as they are.
    pub fn flush_flow(&mut self, why: Notes) {
        while let Some(h) = self.pending.flow_head(self.flow) {
            emit_unanswered(self.pending, self.stats, self.sink, h, why);
        }
    }
}

#[cfg(test)]
impl<'c, 'p> Ctx<'c, 'p> {
    /// A context for unit tests that drive an analyzer directly (flow 0,
    /// no TCP position), so that new fields are set in one place.
    pub(crate) fn for_test(
        pending: &'c mut PendingPool<'p>,
        stats: &'c mut Stats,
        cfg: &'c Config,
        sink: &'c mut dyn Sink,
        meta: &'c FlowMeta,
        ts: Timestamp,
    ) -> Self {
        Ctx { pending, stats, cfg, sink, flow: 0, meta, ts, pos: 0, ack: None }
    }
}

/// Emits `h` as it is: counts it and calls the sink.
pub(crate) fn emit(pending: &mut PendingPool<'_>, stats: &mut Stats, sink: &mut dyn Sink, h: Handle) {
    if let Some(s) = pending.get_mut(h, Timestamp::ZERO) {
        let t = &mut s.txn;
        if t.truncated() {
            stats.txn_truncated += 1;
            t.notes.insert(Notes::TRUNCATED);
        }
        if t.notes.contains(Notes::RESPONSE_INCOMPLETE) {
            stats.responses_incomplete += 1;
        }
        if let Some(c) = stats.transactions.get_mut(t.protocol as usize) {
            *c += 1;
        }
    }
    if let Some(s) = pending.get(h) {
        sink.on_transaction(&s.txn);
    }
    pending.release(h);
}

/// Emits `h` as a request that got no response (unless it already holds a
/// response-only message), noting `why`.
pub(crate) fn emit_unanswered(
    pending: &mut PendingPool<'_>,
    stats: &mut Stats,
    sink: &mut dyn Sink,
    h: Handle,
    why: Notes,
) {
    if let Some(s) = pending.get_mut(h, Timestamp::ZERO) {
        if s.flags & crate::pending::FLAG_RESPONSE_OPTIONAL != 0 && s.flags & crate::pending::FLAG_RESPONSE_STARTED == 0
        {
            // Nothing was expected back: report it as it is.
            if why != Notes::NO_RESPONSE {
                s.txn.notes.insert(why);
            }
            emit(pending, stats, sink, h);
            return;
        }
        let response_only = s.flags & crate::pending::FLAG_RESPONSE_ONLY != 0;
        let t = &mut s.txn;
        t.status = Status::Error;
        if response_only {
            t.notes.insert(Notes::NO_REQUEST);
        } else if s.flags & crate::pending::FLAG_RESPONSE_STARTED == 0 {
            t.notes.insert(Notes::NO_RESPONSE);
            stats.unmatched_requests += 1;
        } else {
            t.notes.insert(Notes::RESPONSE_INCOMPLETE);
        }
        if why != Notes::NO_RESPONSE {
            t.notes.insert(why);
        }
    }
    emit(pending, stats, sink, h);
}

/// The interface every protocol analyzer implements. See the module docs
/// for the streaming contract.
pub trait Analyzer {
    /// In-order bytes of direction `dir`; returns the number consumed.
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize;
    /// `len` bytes of direction `dir` were lost. `len == 0` means an unknown
    /// amount: the capture joined the connection mid-stream (no SYN seen for
    /// this direction), so the next bytes need not start a message.
    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32);
    /// Direction `dir` ended (FIN reached in sequence).
    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction);
    /// The flow ends (both FINs, RST, expiry, eviction): complete what can
    /// be completed; the engine then reports every record still open.
    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>);
    /// One UDP datagram (protocols carried over UDP).
    fn on_datagram(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) {
        let _ = (dir, data);
        ctx.stats.parse_errors += 1;
    }
}

/// Per-flow parser state: one variant per analyzer.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum ParserState {
    /// No analyzer (unused slot).
    #[default]
    None,
    /// HTTP.
    Http(http::HttpParser),
    /// DNS.
    Dns(dns::DnsParser),
    /// ICMP.
    Icmp(icmp::IcmpParser),
    /// Redis.
    Redis(redis::RedisParser),
    /// Memcache.
    Memcache(memcache::MemcacheParser),
    /// MySQL.
    Mysql(mysql::MysqlParser),
    /// PostgreSQL.
    Pgsql(pgsql::PgsqlParser),
    /// MongoDB.
    Mongodb(mongodb::MongodbParser),
    /// Thrift.
    Thrift(thrift::ThriftParser),
}

impl ParserState {
    /// The initial state of protocol `p`'s analyzer.
    pub fn new(p: Protocol) -> ParserState {
        match p {
            Protocol::Http => ParserState::Http(http::HttpParser::new()),
            Protocol::Dns => ParserState::Dns(dns::DnsParser::new()),
            Protocol::Icmp => ParserState::Icmp(icmp::IcmpParser::new()),
            Protocol::Redis => ParserState::Redis(redis::RedisParser::new()),
            Protocol::Memcache => ParserState::Memcache(memcache::MemcacheParser::new()),
            Protocol::Mysql => ParserState::Mysql(mysql::MysqlParser::new()),
            Protocol::Pgsql => ParserState::Pgsql(pgsql::PgsqlParser::new()),
            Protocol::Mongodb => ParserState::Mongodb(mongodb::MongodbParser::new()),
            Protocol::Thrift => ParserState::Thrift(thrift::ThriftParser::new()),
        }
    }
}

/// Calls `$call` on the analyzer of whatever protocol the state holds.
macro_rules! dispatch {
    ($self:ident, $p:ident => $call:expr, $none:expr) => {
        match $self {
            ParserState::Http($p) => $call,
            ParserState::Dns($p) => $call,
            ParserState::Icmp($p) => $call,
            ParserState::Redis($p) => $call,
            ParserState::Memcache($p) => $call,
            ParserState::Mysql($p) => $call,
            ParserState::Pgsql($p) => $call,
            ParserState::Mongodb($p) => $call,
            ParserState::Thrift($p) => $call,
            ParserState::None => $none,
        }
    };
}

impl Analyzer for ParserState {
    fn on_data(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8], full: bool) -> usize {
        dispatch!(self, p => p.on_data(ctx, dir, data, full), data.len())
    }
    fn on_gap(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, len: u32) {
        dispatch!(self, p => p.on_gap(ctx, dir, len), ())
    }
    fn on_fin(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction) {
        dispatch!(self, p => p.on_fin(ctx, dir), ())
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, '_>) {
        dispatch!(self, p => p.on_close(ctx), ())
    }
    fn on_datagram(&mut self, ctx: &mut Ctx<'_, '_>, dir: Direction, data: &[u8]) {
        dispatch!(self, p => p.on_datagram(ctx, dir, data), ())
    }
}

/// Feeds in-order stream bytes to `a`, keeping an unconsumed tail in the
/// direction's carry block (see the module docs).
pub(crate) fn feed(
    a: &mut impl Analyzer,
    ctx: &mut Ctx<'_, '_>,
    pool: &mut BlockPool<'_>,
    carry: &mut u32,
    dir: Direction,
    mut data: &[u8],
    pos: u32,
) {
    // Stream position of `data[0]`.
    let mut cur = pos;
    // Every turn either moves bytes into the carry, or consumes some:
    // bounded by the input length plus one turn per full block.
    let mut guard = data.len() + 2 * (data.len() / BLOCK_SIZE + 2);
    while guard > 0 {
        guard -= 1;
        if *carry != NONE {
            let Some(blk) = pool.get_mut(*carry) else {
                *carry = NONE;
                continue;
            };
            let used = blk.len as usize;
            let take = BLOCK_SIZE.saturating_sub(used).min(data.len());
            if let (Some(dst), Some(src)) = (blk.data.get_mut(used..used + take), data.get(..take)) {
                dst.copy_from_slice(src);
            }
            data = data.get(take..).unwrap_or(&[]);
            let len = used + take;
            blk.len = len as u16;
            let full = len == BLOCK_SIZE;
            ctx.pos = cur.wrapping_sub(used as u32);
            cur = cur.wrapping_add(take as u32);
            let mut consumed = a.on_data(ctx, dir, blk.data.get(..len).unwrap_or(&[]), full).min(len);
            if consumed == 0 && full {
                ctx.stats.stream_bytes_skipped += len as u64;
                consumed = len;
            }
            blk.data.copy_within(consumed..len, 0);
            blk.len = (len - consumed) as u16;
            if blk.len == 0 {
                pool.free(*carry);
                *carry = NONE;
            }
            if data.is_empty() {
                return;
            }
        } else {
            if data.is_empty() {
                return;
            }
            ctx.pos = cur;
            let consumed = a.on_data(ctx, dir, data, false).min(data.len());
            data = data.get(consumed..).unwrap_or(&[]);
            cur = cur.wrapping_add(consumed as u32);
            if data.is_empty() {
                return;
            }
            if data.len() >= BLOCK_SIZE {
                // The analyzer waits for more than a block can hold: make it
                // take (truncate) what a block would.
                let window = data.get(..BLOCK_SIZE).unwrap_or(data);
                ctx.pos = cur;
                let mut n = a.on_data(ctx, dir, window, true).min(window.len());
                if n == 0 {
                    ctx.stats.stream_bytes_skipped += window.len() as u64;
                    n = window.len();
                }
                data = data.get(n..).unwrap_or(&[]);
                cur = cur.wrapping_add(n as u32);
                continue;
            }
            match pool.alloc() {
                Some(b) => {
                    if let Some(blk) = pool.get_mut(b) {
                        if let Some(dst) = blk.data.get_mut(..data.len()) {
                            dst.copy_from_slice(data);
                        }
                        blk.len = data.len() as u16;
                    }
                    *carry = b;
                }
                None => {
                    ctx.stats.block_alloc_failures += 1;
                    ctx.stats.stream_bytes_skipped += data.len() as u64;
                    a.on_gap(ctx, dir, data.len() as u32);
                }
            }
            return;
        }
    }
}
