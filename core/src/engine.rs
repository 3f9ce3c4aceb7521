//! The engine: owns every table and drives a frame through the pipeline.

use core::mem::MaybeUninit;
use core::net::IpAddr;

use crate::config::Config;
use crate::defrag::{Defrag, FragSlot};
use crate::flow::{Direction, FlowKey, FlowMeta, FlowSlot, FlowTable};
use crate::pending::{FlowQueue, PendingPool, PendingSlot};
use crate::pool::{Block, BlockPool, BLOCK_SIZE, NONE};
use crate::proto::{emit_unanswered, feed, Analyzer, Ctx, ParserState};
use crate::reasm::{Accept, Chunk};
use crate::stats::Stats;
use crate::time::{Duration, Timestamp};
use crate::txn::{Endpoint, Notes, Protocol, Transaction, Transport};
use crate::wire::ip::{decode_transport, proto, IpPacket, TcpFlags, Transport as L4};
use crate::wire::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::wire::{decode_ip, decode_link, Error as WireError, LinkType};

/// Receives completed transactions. The kernel never does I/O: the shell's
/// sink serialises and ships them.
pub trait Sink {
    /// One transaction, complete or reported incomplete (see its notes).
    fn on_transaction(&mut self, txn: &Transaction);
}

impl<F: FnMut(&Transaction)> Sink for F {
    fn on_transaction(&mut self, txn: &Transaction) {
        self(txn)
    }
}

/// The caller-provided memory of an [`Engine`].
pub struct Storage<'a> {
    /// Flow-table slots: the most concurrent flows followed.
    pub flows: &'a mut [MaybeUninit<FlowSlot>],
    /// Heads of the flow table's hash chains (one per flow slot is usual;
    /// any length of at least one works).
    pub buckets: &'a mut [u32],
    /// One queue head per flow slot (same length as `flows`).
    pub queues: &'a mut [FlowQueue],
    /// Stream-buffer blocks ([`BLOCK_SIZE`] bytes each) for out-of-order
    /// segments and partial messages.
    pub blocks: &'a mut [MaybeUninit<Block>],
    /// Pending-transaction records: the most requests awaiting a response.
    pub pending: &'a mut [MaybeUninit<PendingSlot>],
    /// IP fragment reassembly slots.
    pub frags: &'a mut [MaybeUninit<FragSlot>],
}

/// How many of each storage element to provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageSizes {
    /// Flow slots (and flow queues).
    pub flows: usize,
    /// Stream blocks.
    pub blocks: usize,
    /// Pending-transaction records.
    pub pending: usize,
    /// Fragment slots.
    pub frags: usize,
}

impl StorageSizes {
    /// Defaults for a Linux host: 65 536 flows, 16 384 blocks (64 MiB),
    /// 16 384 pending transactions, 64 fragment slots.
    pub const fn default_host() -> Self {
        StorageSizes { flows: 65_536, blocks: 16_384, pending: 16_384, frags: 64 }
    }

    /// A small configuration for tests and appliances.
    pub const fn small() -> Self {
        StorageSizes { flows: 1024, blocks: 256, pending: 256, frags: 8 }
    }

    /// The share of one of `n` engines that divide these tables between
    /// them (analysis workers, each following its own flows): every count
    /// divided by `n`, rounded up, at least one.
    pub const fn share(&self, n: usize) -> Self {
        const fn part(x: usize, n: usize) -> usize {
            let p = x.div_ceil(if n == 0 { 1 } else { n });
            if p == 0 {
                1
            } else {
                p
            }
        }
        StorageSizes {
            flows: part(self.flows, n),
            blocks: part(self.blocks, n),
            pending: part(self.pending, n),
            frags: part(self.frags, n),
        }
    }

    /// Bytes of memory these sizes take (the most the tables can use: an
    /// element is first touched when it is first needed).
    pub const fn bytes(&self) -> usize {
        self.flows
            * (core::mem::size_of::<FlowSlot>() + core::mem::size_of::<u32>() + core::mem::size_of::<FlowQueue>())
            + self.blocks * core::mem::size_of::<Block>()
            + self.pending * core::mem::size_of::<PendingSlot>()
            + self.frags * core::mem::size_of::<FragSlot>()
    }
}

/// Storage as fixed arrays, for `static` use (appliances, tests). `F` flows,
/// `B` blocks, `P` pending records, `R` fragment slots. The tables start
/// uninitialised (in `.bss` as a static); the engine initialises an
/// element when it first uses it.
pub struct OwnedStorageArrays<const F: usize, const B: usize, const P: usize, const R: usize> {
    flows: [MaybeUninit<FlowSlot>; F],
    buckets: [u32; F],
    queues: [FlowQueue; F],
    blocks: [MaybeUninit<Block>; B],
    pending: [MaybeUninit<PendingSlot>; P],
    frags: [MaybeUninit<FragSlot>; R],
}

impl<const F: usize, const B: usize, const P: usize, const R: usize> Default for OwnedStorageArrays<F, B, P, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const F: usize, const B: usize, const P: usize, const R: usize> OwnedStorageArrays<F, B, P, R> {
    /// Fresh storage.
    pub fn new() -> Self {
        OwnedStorageArrays {
            flows: [const { MaybeUninit::uninit() }; F],
            buckets: [NONE; F],
            queues: [FlowQueue::EMPTY; F],
            blocks: [const { MaybeUninit::uninit() }; B],
            pending: [const { MaybeUninit::uninit() }; P],
            frags: [const { MaybeUninit::uninit() }; R],
        }
    }

    /// Borrows the arrays as engine storage.
    pub fn storage(&mut self) -> Storage<'_> {
        Storage {
            flows: &mut self.flows,
            buckets: &mut self.buckets,
            queues: &mut self.queues,
            blocks: &mut self.blocks,
            pending: &mut self.pending,
            frags: &mut self.frags,
        }
    }
}

/// Before a direction's first bytes reach the analyzer: if the capture lost
/// that direction's start although it saw the connection start (the other
/// side's SYN), the bytes may be mid-message, so the analyzer gets a gap of
/// unknown length (0). (When the whole connection was joined mid-way,
/// analyzers start at the first bytes, as Packetbeat does, and
/// resynchronise if those do not parse.) Given in stream order, after what
/// the other direction sent before.
fn joined_gap(parser: &mut ParserState, ctx: &mut Ctx<'_, '_>, tcp: &mut [crate::reasm::StreamDir; 2], dir: Direction) {
    let other_syn = tcp.get(dir.reverse().index()).is_some_and(|t| t.saw_syn());
    if tcp.get_mut(dir.index()).is_some_and(|t| t.take_joined_mid_stream()) && other_syn {
        parser.on_gap(ctx, dir, 0);
    }
}

/// How often (in packet time) timeouts are checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// How long a finished connection's slot lingers to absorb late
/// retransmissions (bounded by the flow timeout).
const CLOSED_LINGER: Duration = Duration::from_secs(10);
/// Most records re-queued per sweep (bounds the work of one sweep).
const SWEEP_REQUEUE_BUDGET: usize = 64;

/// The analysis engine. See the crate docs for its contract.
pub struct Engine<'a> {
    cfg: Config,
    flows: FlowTable<'a>,
    pending: PendingPool<'a>,
    blocks: BlockPool<'a>,
    defrag: Defrag<'a>,
    stats: Stats,
    now: Timestamp,
    next_sweep: Timestamp,
}

impl<'a> Engine<'a> {
    /// An engine with configuration `cfg` over `storage`.
    pub fn new(cfg: Config, storage: Storage<'a>) -> Self {
        let defrag_timeout = cfg.defrag_timeout;
        Engine {
            flows: FlowTable::new(storage.flows, storage.buckets),
            pending: PendingPool::new(storage.pending, storage.queues),
            blocks: BlockPool::new(storage.blocks),
            defrag: Defrag::new(storage.frags, defrag_timeout),
            cfg,
            stats: Stats::default(),
            now: Timestamp::ZERO,
            next_sweep: Timestamp::ZERO,
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Flows currently followed.
    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Transactions currently pending.
    pub fn pending_transactions(&self) -> usize {
        self.pending.len()
    }

    /// Stream blocks currently in use.
    pub fn blocks_in_use(&self) -> usize {
        self.blocks.capacity() - self.blocks.free_count()
    }

    /// Processes one captured frame of link type `link`, taken at `ts`.
    pub fn process(&mut self, ts: Timestamp, link: LinkType, frame: &[u8], sink: &mut dyn Sink) {
        self.stats.packets += 1;
        self.stats.bytes += frame.len() as u64;
        if ts > self.now {
            self.now = ts;
        }
        self.maybe_sweep(sink);
        let l2 = match decode_link(link, frame) {
            Ok(l2) => l2,
            Err(WireError::Unsupported) => {
                if matches!(
                    link,
                    LinkType::ETHERNET | LinkType::LINUX_SLL | LinkType::LINUX_SLL2 | LinkType::NULL | LinkType::LOOP
                ) {
                    self.stats.non_ip_frames += 1;
                } else {
                    self.stats.unknown_link_type += 1;
                }
                return;
            }
            Err(_) => {
                self.stats.malformed_frames += 1;
                return;
            }
        };
        if l2.ethertype != ETHERTYPE_IPV4 && l2.ethertype != ETHERTYPE_IPV6 {
            self.stats.non_ip_frames += 1;
            return;
        }
        // Matched by reference: moving the packet out of the returned
        // `Result` read its address back wider than it was written, which
        // stalls (failed store forwarding).
        let decoded = decode_ip(l2.ethertype, l2.payload);
        let ip = match &decoded {
            Ok(ip) => ip,
            Err(WireError::Truncated) => {
                self.stats.truncated_frames += 1;
                return;
            }
            Err(_) => {
                self.stats.malformed_frames += 1;
                return;
            }
        };
        match ip.frag {
            None => self.transport(ts, ip, ip.payload, sink),
            Some(f) => {
                // Only fragments of protocols we could analyse are worth a slot.
                if let Some((idx, len)) = self.defrag.add(ts, ip, f, &mut self.stats) {
                    // Move the datagram out of the pool borrow: the transport
                    // path needs `self` mutably.
                    let mut tmp = [0u8; crate::defrag::MAX_DATAGRAM];
                    let data = self.defrag.payload(idx, len);
                    let n = data.len();
                    if let Some(d) = tmp.get_mut(..n) {
                        d.copy_from_slice(data);
                    }
                    self.defrag.release(idx);
                    let whole = IpPacket { frag: None, ..*ip };
                    self.transport(ts, &whole, tmp.get(..n).unwrap_or(&[]), sink);
                }
            }
        }
    }

    fn transport(&mut self, ts: Timestamp, ip: &IpPacket<'_>, payload: &[u8], sink: &mut dyn Sink) {
        let l4 = match decode_transport(ip.proto, payload) {
            Ok(l4) => l4,
            Err(_) => {
                self.stats.malformed_frames += 1;
                return;
            }
        };
        match l4 {
            L4::Tcp { src_port, dst_port, seq, ack, flags, payload } => {
                self.tcp(ts, ip.src, src_port, ip.dst, dst_port, seq, ack, flags, payload, sink)
            }
            L4::Udp { src_port, dst_port, payload } => self.udp(ts, ip.src, src_port, ip.dst, dst_port, payload, sink),
            L4::Icmp { message, .. } => self.icmp(ts, ip.src, ip.dst, ip.proto, message, sink),
            L4::Other(_) => self.stats.other_transport += 1,
        }
    }

    /// Which side is the server, from the configured ports: the destination
    /// port first (the usual request direction), then the source port.
    fn classify(&self, src_port: u16, dst_port: u16) -> Option<(Protocol, Direction)> {
        if let Some(p) = self.cfg.protocol_for_port(dst_port) {
            return Some((p, Direction::ToServer));
        }
        self.cfg.protocol_for_port(src_port).map(|p| (p, Direction::ToClient))
    }

    /// Finds or creates the flow of a packet; returns its slot and the
    /// packet's direction.
    #[allow(clippy::too_many_arguments)]
    fn flow_for(
        &mut self,
        ts: Timestamp,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        ipproto: u8,
        create: bool,
        syn_only: bool,
        forced: Option<Protocol>,
        sink: &mut dyn Sink,
    ) -> Option<(u32, Direction)> {
        let mut key_hash = None;
        let found = self.flows.last_flow(src, dst, ipproto).or_else(|| {
            let key = FlowKey::new(src, dst, ipproto);
            let hash = key.hash32();
            key_hash = Some((key, hash));
            let idx = self.flows.lookup(&key, hash)?;
            self.flows.remember(src, dst, ipproto, idx);
            Some(idx)
        });
        if let Some(idx) = found {
            self.flows.touch(idx, ts);
            let client = self.flows.get(idx)?.meta.client;
            let dir =
                if client.ip == src.0 && client.port == src.1 { Direction::ToServer } else { Direction::ToClient };
            return Some((idx, dir));
        }
        // Not found: the lookup above computed the key and its hash.
        let (key, hash) = key_hash?;
        let class = match forced {
            // Without ports, the first sender is taken as the client; the
            // analyzer tells requests from replies by their content.
            Some(p) => Some((p, Direction::ToServer)),
            None => self.classify(src.1, dst.1),
        };
        let Some((protocol, mut dir)) = class else {
            self.stats.unmonitored_packets += 1;
            return None;
        };
        if !create {
            return None;
        }
        // A SYN without ACK names the client even when ports are ambiguous.
        if syn_only {
            dir = Direction::ToServer;
        }
        let idx = match self.flows.insert(key, hash, ts) {
            Ok(i) => i,
            Err(_) => {
                let victim = self.flows.oldest()?;
                let idle = self.flows.get(victim).map(|s| ts.since(s.meta.last_seen) >= self.cfg.flow_timeout);
                if idle == Some(true) {
                    self.stats.flows_expired += 1;
                    self.close_flow(victim, Notes::NO_RESPONSE, sink);
                } else {
                    self.stats.flows_evicted += 1;
                    self.close_flow(victim, Notes::FLOW_EVICTED, sink);
                }
                self.flows.insert(key, hash, ts).ok()?
            }
        };
        self.stats.flows_created += 1;
        let (client, server) = match dir {
            Direction::ToServer => (src, dst),
            Direction::ToClient => (dst, src),
        };
        let slot = self.flows.get_mut(idx)?;
        slot.meta = FlowMeta {
            client: Endpoint { ip: client.0, port: client.1 },
            server: Endpoint { ip: server.0, port: server.1 },
            protocol,
            transport: match ipproto {
                proto::TCP => Transport::Tcp,
                proto::UDP => Transport::Udp,
                _ => Transport::Ip,
            },
            ip_proto: ipproto,
            last_seen: ts,
            closed: false,
        };
        slot.parser = ParserState::new(protocol);
        Some((idx, dir))
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        ts: Timestamp,
        sip: IpAddr,
        sport: u16,
        dip: IpAddr,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &[u8],
        sink: &mut dyn Sink,
    ) {
        // Pure ACKs, FINs and RSTs of unknown flows are not worth a slot.
        let create = !payload.is_empty() || flags.syn;
        let Some((idx, dir)) =
            self.flow_for(ts, (sip, sport), (dip, dport), proto::TCP, create, flags.syn && !flags.ack, None, sink)
        else {
            return;
        };
        let max_ooo = self.cfg.max_ooo_bytes;
        let Some(slot) = self.flows.get_mut(idx) else { return };
        if slot.meta.closed {
            let old_next = slot.tcp.get(dir.index()).and_then(|t| t.next_seq());
            if flags.syn && !flags.ack && old_next.is_none_or(|n| crate::reasm::seq_diff(seq, n) > 0) {
                // The 5-tuple is reused by a new connection (its SYN starts
                // past the old one's sequence space, as TIME_WAIT requires).
                let protocol = slot.meta.protocol;
                slot.meta.closed = false;
                slot.meta.client = Endpoint { ip: sip, port: sport };
                slot.meta.server = Endpoint { ip: dip, port: dport };
                slot.tcp = [crate::reasm::StreamDir::new(), crate::reasm::StreamDir::new()];
                slot.parser = ParserState::new(protocol);
                // The finished connection is closed here: its slot is not
                // freed (the new one takes it), so `close_flow` never counts it.
                self.stats.flows_closed += 1;
                self.stats.flows_created += 1;
                return self.tcp(ts, sip, sport, dip, dport, seq, ack, flags, payload, sink);
            }
            // A late retransmission of a finished connection.
            self.stats.tcp_retransmitted_bytes += payload.len() as u64;
            return;
        }
        let d = dir.index();
        let o = dir.reverse().index();
        if flags.ack {
            if let Some(other) = slot.tcp.get_mut(o) {
                other.on_peer_ack(ack);
                if flags.syn {
                    other.set_isn_hint(ack);
                }
            }
        }
        for sd in slot.tcp.iter_mut() {
            sd.tick(ts.as_micros());
        }
        let other_next = slot.tcp.get(o).and_then(|t| t.next_seq());
        let ack = flags.ack.then_some(ack);
        let accept = match slot.tcp.get_mut(d) {
            Some(sd) => sd.on_segment(
                &mut self.blocks,
                &mut self.stats,
                max_ooo,
                seq,
                flags.syn,
                flags.fin,
                payload,
                ack,
                other_next,
                ts.as_micros(),
            ),
            None => Accept::Held,
        };
        if let Accept::Deliver { skip, len } = accept {
            self.deliver(idx, dir, payload.get(skip..skip.saturating_add(len)).unwrap_or(&[]), ts, sink);
        }
        // Each direction may be waiting for the other (see reasm): drain
        // both until neither moves. Each turn that continues delivered
        // something, so the loop is short.
        for _ in 0..8 {
            let a = self.drain(idx, dir, ts, sink);
            let b = self.drain(idx, dir.reverse(), ts, sink);
            if !a && !b {
                break;
            }
        }
        let done = flags.rst || self.flows.get(idx).is_some_and(|s| s.tcp.iter().all(|t| t.fin_done()));
        if done {
            self.end_flow(idx, Notes::NO_RESPONSE, sink);
            if let Some(s) = self.flows.get_mut(idx) {
                s.meta.closed = true;
            }
        }
    }

    /// Runs the analyzer of flow `idx` with a context borrowed from the
    /// engine's tables.
    fn with_analyzer(
        &mut self,
        idx: u32,
        ts: Timestamp,
        sink: &mut dyn Sink,
        f: impl FnOnce(&mut ParserState, &mut Ctx<'_, '_>, &mut BlockPool<'_>, &mut [crate::reasm::StreamDir; 2]),
    ) {
        let Some(slot) = self.flows.get_mut(idx) else { return };
        let meta = slot.meta;
        let mut ctx = Ctx {
            pending: &mut self.pending,
            stats: &mut self.stats,
            cfg: &self.cfg,
            sink,
            flow: idx,
            meta: &meta,
            ts,
            pos: 0,
            ack: None,
        };
        f(&mut slot.parser, &mut ctx, &mut self.blocks, &mut slot.tcp);
    }

    fn deliver(&mut self, idx: u32, dir: Direction, data: &[u8], ts: Timestamp, sink: &mut dyn Sink) {
        if data.is_empty() {
            return;
        }
        self.with_analyzer(idx, ts, sink, |parser, ctx, pool, tcp| {
            joined_gap(parser, ctx, tcp, dir);
            if let Some(sd) = tcp.get_mut(dir.index()) {
                ctx.ack = sd.last_ack();
                let pos = sd.next_seq().unwrap_or(0).wrapping_sub(data.len() as u32);
                feed(parser, ctx, pool, &mut sd.carry, dir, data, pos);
            }
        });
    }

    /// Delivers whatever direction `dir` of flow `idx` has ready (buffered
    /// data, gaps) and its FIN once reached. Returns true when anything was
    /// delivered.
    fn drain(&mut self, idx: u32, dir: Direction, ts: Timestamp, sink: &mut dyn Sink) -> bool {
        if !self.flows.get(idx).and_then(|s| s.tcp.get(dir.index())).is_some_and(|t| t.needs_drain()) {
            return false;
        }
        let mut tmp = [0u8; BLOCK_SIZE];
        let mut moved = false;
        self.with_analyzer(idx, ts, sink, |parser, ctx, pool, tcp| {
            let other_next = tcp.get(dir.reverse().index()).and_then(|t| t.next_seq());
            let other_syn = tcp.get(dir.reverse().index()).is_some_and(|t| t.saw_syn());
            let Some(sd) = tcp.get_mut(dir.index()) else { return };
            let mut guard = pool.capacity() + 2;
            while guard > 0 {
                guard -= 1;
                let chunk = sd.drain(pool, ctx.stats, &mut tmp, other_next);
                moved |= chunk.is_some();
                if chunk.is_some() && sd.take_joined_mid_stream() && other_syn {
                    parser.on_gap(ctx, dir, 0);
                }
                match chunk {
                    Some(Chunk::Data(n)) => {
                        ctx.ack = sd.last_ack();
                        // Held bytes keep the time they were captured at.
                        ctx.ts = Timestamp::from_micros(sd.drained_ts());
                        let pos = sd.next_seq().unwrap_or(0).wrapping_sub(n as u32);
                        feed(parser, ctx, pool, &mut sd.carry, dir, tmp.get(..n).unwrap_or(&[]), pos)
                    }
                    Some(Chunk::Gap(n)) => {
                        // A partial line before a gap cannot be completed.
                        if sd.carry != crate::pool::NONE {
                            ctx.stats.stream_bytes_skipped += pool.get(sd.carry).map_or(0, |b| b.len as u64);
                            pool.free(sd.carry);
                            sd.carry = crate::pool::NONE;
                        }
                        parser.on_gap(ctx, dir, n);
                    }
                    None => break,
                }
            }
            if sd.take_fin() {
                parser.on_fin(ctx, dir);
            }
        });
        moved
    }

    #[allow(clippy::too_many_arguments)]
    fn udp(
        &mut self,
        ts: Timestamp,
        sip: IpAddr,
        sport: u16,
        dip: IpAddr,
        dport: u16,
        payload: &[u8],
        sink: &mut dyn Sink,
    ) {
        let Some((idx, dir)) = self.flow_for(ts, (sip, sport), (dip, dport), proto::UDP, true, false, None, sink)
        else {
            return;
        };
        self.with_analyzer(idx, ts, sink, |parser, ctx, _, _| parser.on_datagram(ctx, dir, payload));
    }

    /// ICMP and ICMPv6 messages: one "flow" per address pair.
    fn icmp(&mut self, ts: Timestamp, src: IpAddr, dst: IpAddr, ipproto: u8, message: &[u8], sink: &mut dyn Sink) {
        if !self.cfg.icmp.common.enabled {
            self.stats.unmonitored_packets += 1;
            return;
        }
        let Some((idx, dir)) = self.flow_for(ts, (src, 0), (dst, 0), ipproto, true, false, Some(Protocol::Icmp), sink)
        else {
            return;
        };
        self.with_analyzer(idx, ts, sink, |parser, ctx, _, _| parser.on_datagram(ctx, dir, message));
    }

    /// Ends flow `idx` and frees its slot (see [`Engine::end_flow`]).
    fn close_flow(&mut self, idx: u32, why: Notes, sink: &mut dyn Sink) {
        if self.flows.get(idx).is_some_and(|s| !s.meta.closed) {
            self.end_flow(idx, why, sink);
        }
        self.flows.remove(idx);
        self.stats.flows_closed += 1;
    }

    /// Ends the connection of flow `idx`: flushes both directions (remaining
    /// holes become gaps), lets the analyzer complete what it can, reports
    /// the flow's open records with `why`, and frees its blocks.
    fn end_flow(&mut self, idx: u32, why: Notes, sink: &mut dyn Sink) {
        let ts = self.now;
        for dir in [Direction::ToServer, Direction::ToClient] {
            if let Some(sd) = self.flows.get_mut(idx).and_then(|s| s.tcp.get_mut(dir.index())) {
                sd.flush();
            }
        }
        // Flushed directions ignore each other's order; the request side first.
        self.drain(idx, Direction::ToServer, ts, sink);
        self.drain(idx, Direction::ToClient, ts, sink);
        self.with_analyzer(idx, ts, sink, |parser, ctx, pool, tcp| {
            parser.on_close(ctx);
            ctx.flush_flow(why);
            for sd in tcp.iter_mut() {
                // An unfinished message tail dies with the flow: count it.
                ctx.stats.stream_bytes_skipped += pool.get(sd.carry).map_or(0, |b| b.len as u64);
                sd.release(pool);
            }
        });
    }

    /// Lets time pass without traffic (call it when a live capture is idle)
    /// so that timeouts fire.
    pub fn advance(&mut self, now: Timestamp, sink: &mut dyn Sink) {
        if now > self.now {
            self.now = now;
        }
        self.maybe_sweep(sink);
    }

    fn maybe_sweep(&mut self, sink: &mut dyn Sink) {
        if self.now < self.next_sweep {
            return;
        }
        self.next_sweep = self.now.add(SWEEP_INTERVAL);
        let now = self.now;
        // Idle flows, oldest first.
        let linger = if self.cfg.flow_timeout < CLOSED_LINGER { self.cfg.flow_timeout } else { CLOSED_LINGER };
        while let Some(idx) = self.flows.oldest() {
            let idle = self.flows.get(idx).is_some_and(|s| {
                now.since(s.meta.last_seen) >= if s.meta.closed { linger } else { self.cfg.flow_timeout }
            });
            if !idle {
                break;
            }
            self.stats.flows_expired += 1;
            self.close_flow(idx, Notes::NO_RESPONSE, sink);
        }
        // Unanswered requests.
        let mut budget = SWEEP_REQUEUE_BUDGET;
        while let Some((h, last)) = self.pending.oldest() {
            let p = self.pending.get(h).map_or(Protocol::Http, |s| s.txn.protocol);
            let timeout = self.cfg.common(p).map_or(Duration::from_secs(10), |c| c.transaction_timeout);
            if now.since(last) >= timeout {
                emit_unanswered(&mut self.pending, &mut self.stats, sink, h, Notes::NO_RESPONSE);
                continue;
            }
            let created = self.pending.get(h).map_or(last, |s| s.txn.ts);
            if budget > 0 && now.since(created) >= timeout {
                // Still active: let younger records be checked.
                budget -= 1;
                self.pending.requeue(h);
                continue;
            }
            break;
        }
        self.defrag.expire(now, &mut self.stats);
    }

    /// End of input: every flow is closed (oldest first) and every pending
    /// transaction reported. The engine can then take another input whose
    /// timestamps start anew (the next capture file).
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        let mut guard = self.flows.capacity() + 1;
        while let Some(idx) = self.flows.oldest() {
            if guard == 0 {
                break;
            }
            guard -= 1;
            self.close_flow(idx, Notes::NO_RESPONSE, sink);
        }
        while let Some((h, _)) = self.pending.oldest() {
            emit_unanswered(&mut self.pending, &mut self.stats, sink, h, Notes::NO_RESPONSE);
        }
        // Everything is flushed: the next input may start at any time.
        self.now = Timestamp::ZERO;
        self.next_sweep = Timestamp::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::StorageSizes;

    #[test]
    fn shares_split_every_table_rounding_up() {
        let z = StorageSizes { flows: 65_536, blocks: 4096, pending: 4097, frags: 3 };
        assert_eq!(z.share(1), z);
        assert_eq!(z.share(0), z);
        assert_eq!(z.share(2), StorageSizes { flows: 32_768, blocks: 2048, pending: 2049, frags: 2 });
        // Never an empty table, and the shares together cover the whole.
        assert_eq!(z.share(8), StorageSizes { flows: 8192, blocks: 512, pending: 513, frags: 1 });
        for n in 1..40 {
            let s = z.share(n);
            assert!(s.flows * n >= z.flows && s.pending * n >= z.pending && s.frags >= 1, "{n}");
        }
    }
}
