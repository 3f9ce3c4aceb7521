//! Frames from one reading thread to analysis workers, in batches.
//!
//! Both `tapbeat read` and `tapbeat run` split the work the same way: one
//! thread reads frames (libpcap, from a file or an interface) and hands
//! them to `workers` analysis threads, each with its own [`Engine`] and
//! fixed tables. A frame goes to the worker of its flow, so the documents
//! of one flow keep their order; with one worker the output is exactly
//! that of a single-threaded read. Flows are sorted into hash buckets (a
//! symmetric hash of the 5-tuple; fragments follow their datagram's first
//! fragment, waiting for it if they come before it) and a bucket goes to the worker with the least traffic so far
//! when it is first used, keeping that worker while it has live flows
//! (`Router`): a few heavy connections are spread evenly, which a plain
//! hash modulo the worker count leaves to chance.
//!
//! Frames travel in [`Batch`]es (up to [`BATCH_FRAMES`] frames or
//! [`BATCH_BYTES`] bytes in one buffer), not one allocation per packet, and
//! batches are recycled once a worker is done with them. A batch is sent
//! when full, or earlier when its worker has finished everything it was
//! sent (so a worker with few packets is not kept waiting while another's
//! fill the batches). Reading a file, the workers share a budget of
//! batches and the reader waits when all are out; live capture gives
//! each worker a queue of [`QUEUE_BATCHES`] and drops a batch that does
//! not fit, counting its frames ([`Dispatcher::dropped`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use tapbeat_core::flow::FlowKey;
use tapbeat_core::time::Duration;
use tapbeat_core::wire::ip::{decode_transport, Transport as L4};
use tapbeat_core::wire::{decode_ip, decode_link};
use tapbeat_core::{Engine, LinkType, Stats, Timestamp};

use crate::config::Settings;
use crate::output::DocWriter;
use crate::read::{EngineMemory, NdjsonSink};
use crate::report::OutputStats;

/// Frames per batch at most: enough that batches of small packets (the
/// bench's mix averages 230 bytes) still fill most of [`BATCH_BYTES`].
pub const BATCH_FRAMES: usize = 4096;
/// Frame bytes per batch before it is sent (a batch always takes at least
/// one frame, whatever its size).
pub const BATCH_BYTES: usize = 1 << 20;
/// Batches per worker in flight (so at most 16 MiB of frames each, plus
/// the one being filled). Reading a file, the workers share all of them:
/// a worker busy with a burst of its flows can have most of them queued
/// while the reader keeps the others fed; the reader waits only when
/// every batch is queued or being analysed. (With a fixed queue each,
/// the reader stopped at the busy worker's full queue while the other ran
/// dry: on the bench's mixed capture each of two workers waited 50–140 ms
/// of a 0.9 s run; sharing, 1–28 ms.) Live capture gives each worker a
/// queue of this many and drops what does not fit.
pub const QUEUE_BATCHES: usize = 16;

#[derive(Clone, Copy)]
struct FrameRef {
    ts: Timestamp,
    link: LinkType,
    start: usize,
    end: usize,
}

/// What a worker does after the frames of a batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    Nothing,
    /// Advance the engine's clock to this time (live capture on an idle link).
    Tick(Timestamp),
    /// Report every pending transaction and forget the flows (end of a file).
    Finish,
}

/// Frames for one worker, copied into one buffer.
pub struct Batch {
    data: Vec<u8>,
    frames: Vec<FrameRef>,
    after: After,
}

impl Batch {
    fn new() -> Batch {
        Batch { data: Vec::with_capacity(BATCH_BYTES), frames: Vec::with_capacity(BATCH_FRAMES), after: After::Nothing }
    }

    fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
        self.after = After::Nothing;
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.after == After::Nothing
    }

    fn push(&mut self, ts: Timestamp, link: LinkType, frame: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(frame);
        self.frames.push(FrameRef { ts, link, start, end: self.data.len() });
    }

    fn full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES || self.data.len() >= BATCH_BYTES
    }
}

/// Which worker each flow goes to. Flows fall into [`ROUTE_BUCKETS`] buckets
/// by a symmetric hash of their 5-tuple; an unused bucket is given to the
/// worker that has been sent the fewest bytes so far, and keeps it until
/// it has seen no packet for twice the flow timeout (packet time), by
/// which time every flow in it has expired on that worker. The choice
/// depends only on the frames read, so a file is split the same way on
/// every run.
struct Router {
    /// Worker of each bucket ([`UNASSIGNED`] when free).
    worker: Vec<u16>,
    /// Time of each bucket's last packet.
    last: Vec<Timestamp>,
    /// Frame bytes sent to each worker.
    load: Vec<u64>,
    /// Idle time after which a bucket is free again.
    idle: Duration,
}

/// Hash buckets of the router (`Router`).
pub const ROUTE_BUCKETS: usize = 4096;
const UNASSIGNED: u16 = u16::MAX;

impl Router {
    fn new(workers: usize, flow_timeout: Duration) -> Router {
        Router {
            worker: vec![UNASSIGNED; ROUTE_BUCKETS],
            last: vec![Timestamp::ZERO; ROUTE_BUCKETS],
            load: vec![0; workers.clamp(1, UNASSIGNED as usize)],
            idle: Duration::from_micros(flow_timeout.as_micros().saturating_mul(2)),
        }
    }

    /// The worker of a frame of `len` bytes whose flow hashes to `hash`.
    fn route(&mut self, hash: u32, ts: Timestamp, len: usize) -> usize {
        let b = hash as usize % ROUTE_BUCKETS;
        let (Some(w), Some(last)) = (self.worker.get_mut(b), self.last.get_mut(b)) else { return 0 };
        if *w == UNASSIGNED || ts.since(*last) >= self.idle {
            let least = self.load.iter().enumerate().min_by_key(|&(_, l)| *l).map_or(0, |(i, _)| i);
            *w = least as u16;
        }
        if ts > *last {
            *last = ts;
        }
        let w = *w as usize;
        if let Some(l) = self.load.get_mut(w) {
            *l += len as u64;
        }
        w
    }
}

/// Where a frame goes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// To this worker.
    Worker(usize),
    /// The first fragment of a datagram: to this worker, after the later
    /// fragments of it that came first ([`FragHold`]).
    First(usize, FragKey),
    /// A later fragment of a datagram whose first fragment has not been
    /// seen: held for it. `hash` routes it by the address pair if it
    /// never comes.
    Hold(FragKey, u32),
}

/// The worker a frame goes to: its flow's (see [`Router`]), by the 5-tuple
/// (the address pair for packets without ports). A fragment goes where the
/// first fragment of its datagram went (`routes`), so a fragmented UDP
/// answer meets its query on one worker; one that comes before the first
/// is held for it.
fn worker_for(ts: Timestamp, link: LinkType, frame: &[u8], router: &mut Router, routes: &mut FragRoutes) -> Route {
    if router.load.len() <= 1 {
        return Route::Worker(0);
    }
    if let Some(hash) = plain_ipv4_hash(link, frame) {
        return Route::Worker(router.route(hash, ts, frame.len()));
    }
    let Ok(l2) = decode_link(link, frame) else { return Route::Worker(0) };
    let Ok(ip) = decode_ip(l2.ethertype, l2.payload) else { return Route::Worker(0) };
    let frag = ip.frag.map(|f| (f, FragKey { src: ip.src, dst: ip.dst, proto: ip.proto, id: f.id }));
    let ports = match frag {
        None => match decode_transport(ip.proto, ip.payload) {
            Ok(L4::Tcp { src_port, dst_port, .. }) | Ok(L4::Udp { src_port, dst_port, .. }) => {
                Some((src_port, dst_port))
            }
            _ => None,
        },
        Some((f, key)) if f.offset != 0 => {
            return match routes.get(&key) {
                Some(w) => Route::Worker(w),
                None => Route::Hold(key, route_hash((ip.src, 0), (ip.dst, 0), ip.proto)),
            };
        }
        // The first fragment holds the transport header's ports
        // (`decode_transport` would check UDP's length against the whole
        // datagram).
        Some(_) => match (ip.proto, ip.payload) {
            (6 | 17, [a, b, c, d, ..]) => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
            _ => None,
        },
    };
    // Without ports (non-TCP/UDP packets), the address pair.
    let (sp, dp) = ports.unwrap_or((0, 0));
    let hash = route_hash((ip.src, sp), (ip.dst, dp), ip.proto);
    let w = router.route(hash, ts, frame.len());
    match frag {
        Some((_, key)) => {
            routes.set(key, w);
            Route::First(w, key)
        }
        None => Route::Worker(w),
    }
}

/// The [`route_hash`] of an unfragmented IPv4 TCP or UDP packet in an
/// untagged Ethernet frame, read at fixed offsets: most packets, routed
/// without decoding them whole. `None` for anything else.
fn plain_ipv4_hash(link: LinkType, frame: &[u8]) -> Option<u32> {
    if link != LinkType::ETHERNET {
        return None;
    }
    let ip = match frame.get(12..)? {
        [0x08, 0x00, ip @ ..] => ip,
        _ => return None,
    };
    let (&[vihl, _, _, _, _, _, f0, f1, _, proto], rest) = ip.split_first_chunk::<10>()?;
    // Version 4; no more fragments and offset 0; TCP or UDP.
    if vihl >> 4 != 4 || (u16::from_be_bytes([f0, f1]) & 0x3fff) != 0 || !(proto == 6 || proto == 17) {
        return None;
    }
    let src = u32::from_be_bytes(*rest.get(2..6)?.first_chunk::<4>()?);
    let dst = u32::from_be_bytes(*rest.get(6..10)?.first_chunk::<4>()?);
    let l4 = ip.get(usize::from(vihl & 0x0f) * 4..)?;
    let sp = u16::from_be_bytes(*l4.first_chunk::<2>()?);
    let dp = u16::from_be_bytes(*l4.get(2..)?.first_chunk::<2>()?);
    Some(endpoints_hash(u64::from(src), sp, u64::from(dst), dp, proto))
}

/// The hash a flow is routed by: symmetric (both directions of a flow get
/// the same value), cheap, and the same whichever way the packet was
/// decoded ([`plain_ipv4_hash`] or the full decode).
fn route_hash(a: (std::net::IpAddr, u16), b: (std::net::IpAddr, u16), proto: u8) -> u32 {
    fn fold(ip: std::net::IpAddr) -> u64 {
        match ip {
            std::net::IpAddr::V4(v4) => u64::from(u32::from(v4)),
            std::net::IpAddr::V6(v6) => {
                let x = u128::from(v6);
                // Never equal to an IPv4 address's value (< 2^32).
                ((x >> 64) as u64 ^ x as u64) | 1 << 63
            }
        }
    }
    endpoints_hash(fold(a.0), a.1, fold(b.0), b.1, proto)
}

fn endpoints_hash(ip_a: u64, port_a: u16, ip_b: u64, port_b: u16, proto: u8) -> u32 {
    let a = ip_a.rotate_left(16) ^ u64::from(port_a);
    let b = ip_b.rotate_left(16) ^ u64::from(port_b);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let x = lo.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ hi.wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(29)
        ^ u64::from(proto);
    (x.wrapping_mul(0xFF51_AFD7_ED55_8CCD) >> 32) as u32
}

/// A datagram's fragments: addresses, protocol and IP identification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FragKey {
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    proto: u8,
    id: u32,
}

/// Datagrams whose fragments are being routed.
const FRAG_ROUTES: usize = 1024;

/// Where the first fragments of recent datagrams went, direct-mapped and
/// overwritten: a later fragment whose first one is not (or no longer)
/// here, e.g. because it arrived first, goes by the address pair.
struct FragRoutes {
    slots: Vec<Option<(FragKey, usize)>>,
}

impl FragRoutes {
    fn new() -> FragRoutes {
        FragRoutes { slots: vec![None; FRAG_ROUTES] }
    }

    fn slot(key: &FragKey) -> usize {
        let k = FlowKey::new((key.src, 0), (key.dst, 0), key.proto);
        (k.hash32() ^ key.id.wrapping_mul(0x9E37_79B9)) as usize % FRAG_ROUTES
    }

    fn get(&self, key: &FragKey) -> Option<usize> {
        match self.slots.get(Self::slot(key)) {
            Some(Some((k, w))) if k == key => Some(*w),
            _ => None,
        }
    }

    fn set(&mut self, key: FragKey, worker: usize) {
        let i = Self::slot(&key);
        if let Some(s) = self.slots.get_mut(i) {
            *s = Some((key, worker));
        }
    }
}

/// Fragments held at most ([`FragHold`]).
const HELD_FRAMES: usize = 64;
/// Bytes of held fragments at most.
const HELD_BYTES: usize = 256 << 10;
/// Packet time after which a held fragment stops waiting for its first.
const HOLD_TIME: Duration = Duration::from_secs(1);

/// Later fragments that came before their datagram's first fragment (the
/// order some senders use, or reordering on the way): their worker is the
/// first fragment's, which is not known yet. They wait, bounded in number,
/// bytes and packet time; past those bounds, or at the end of a file, a
/// fragment goes by its address pair (its datagram then most likely never
/// completes, which the engine counts).
struct FragHold {
    frames: std::collections::VecDeque<Held>,
    bytes: usize,
}

/// A fragment waiting for its first, with what routes it if that never comes.
struct Held {
    key: FragKey,
    hash: u32,
    ts: Timestamp,
    link: LinkType,
    frame: Vec<u8>,
}

/// The reading side: sorts frames into per-worker batches and sends them.
pub struct Dispatcher {
    txs: Vec<SyncSender<Batch>>,
    /// The batch being filled for each worker; `None` after one was sent,
    /// until a frame for that worker needs a new one.
    open: Vec<Option<Batch>>,
    /// Batches sent to each worker, and (`done`) those it has finished:
    /// a worker with none in between is waiting for work.
    sent: Vec<u64>,
    done: Vec<Arc<AtomicU64>>,
    spare: Receiver<Batch>,
    /// Waits for a batch to come back (files) instead of dropping (live).
    block: bool,
    /// Batches that may exist when `block` (being filled, queued, being
    /// analysed).
    budget: usize,
    /// Batches made so far.
    made: usize,
    dropped: u64,
    router: Router,
    frag_routes: FragRoutes,
    held: FragHold,
}

/// The analysis side of one worker: its queue and where it returns batches.
pub struct WorkerQueue {
    rx: Receiver<Batch>,
    spare: SyncSender<Batch>,
    /// Counts the batches this worker has finished (see [`Dispatcher`]).
    done: Arc<AtomicU64>,
    /// Workers in all: each has its share of the configured tables.
    workers: usize,
}

/// Channels for `workers` workers (at least one): the dispatcher and one
/// queue per worker, to be run with [`run_worker`]. `flow_timeout` is the
/// engines' (see `Router`).
pub fn channels(workers: usize, block: bool, flow_timeout: Duration) -> (Dispatcher, Vec<WorkerQueue>) {
    let workers = workers.max(1);
    let budget = workers * (QUEUE_BATCHES + 1);
    // Every batch in flight fits in the spare queue, so returning one never blocks.
    let (spare_tx, spare_rx) = sync_channel(workers * (QUEUE_BATCHES + 2));
    let mut txs = Vec::with_capacity(workers);
    let mut queues = Vec::with_capacity(workers);
    let mut done = Vec::with_capacity(workers);
    for _ in 0..workers {
        // Reading a file, the budget bounds the batches, not the queues.
        let (tx, rx) = sync_channel(if block { budget } else { QUEUE_BATCHES });
        txs.push(tx);
        let counter = Arc::new(AtomicU64::new(0));
        queues.push(WorkerQueue { rx, spare: spare_tx.clone(), done: counter.clone(), workers });
        done.push(counter);
    }
    let router = Router::new(workers, flow_timeout);
    let d = Dispatcher {
        txs,
        open: (0..workers).map(|_| None).collect(),
        sent: vec![0; workers],
        done,
        spare: spare_rx,
        block,
        budget,
        made: 0,
        dropped: 0,
        router,
        frag_routes: FragRoutes::new(),
        held: FragHold { frames: std::collections::VecDeque::new(), bytes: 0 },
    };
    (d, queues)
}

impl Dispatcher {
    /// Queues one frame for its flow's worker.
    pub fn frame(&mut self, ts: Timestamp, link: LinkType, frame: &[u8]) {
        let w = match worker_for(ts, link, frame, &mut self.router, &mut self.frag_routes) {
            Route::Worker(w) => w,
            Route::First(w, key) => {
                self.release_held(|h| h.key == key, Some(w));
                w
            }
            Route::Hold(key, hash) => {
                self.hold(Held { key, hash, ts, link, frame: frame.to_vec() });
                return;
            }
        };
        self.push(w, ts, link, frame);
    }

    /// Queues a frame for worker `w`.
    fn push(&mut self, w: usize, ts: Timestamp, link: LinkType, frame: &[u8]) {
        let Some(batch) = self.open_batch(w) else { return };
        batch.push(ts, link, frame);
        if batch.full() {
            self.send(w);
            self.feed_idle();
        }
    }

    /// Holds a fragment for its datagram's first one, making room by
    /// sending on the oldest (and any that waited too long).
    fn hold(&mut self, h: Held) {
        let ts = h.ts;
        self.release_held(|old| ts.since(old.ts) >= HOLD_TIME, None);
        while !self.held.frames.is_empty()
            && (self.held.frames.len() >= HELD_FRAMES || self.held.bytes + h.frame.len() > HELD_BYTES)
        {
            if let Some(old) = self.held.frames.pop_front() {
                self.send_held(old, None);
            }
        }
        self.held.bytes += h.frame.len();
        self.held.frames.push_back(h);
    }

    /// Sends on the held fragments that `which` picks, in the order they
    /// came: to worker `to`, or else by their address pair.
    fn release_held(&mut self, which: impl Fn(&Held) -> bool, to: Option<usize>) {
        // At most HELD_FRAMES to look through, and no allocation (a flood
        // of fragments comes through here once per packet).
        while let Some(h) = self.held.frames.iter().position(&which).and_then(|i| self.held.frames.remove(i)) {
            self.send_held(h, to);
        }
    }

    /// Queues a fragment just taken out of the hold.
    fn send_held(&mut self, h: Held, to: Option<usize>) {
        self.held.bytes -= h.frame.len();
        let w = to.unwrap_or_else(|| self.router.route(h.hash, h.ts, h.frame.len()));
        self.push(w, h.ts, h.link, &h.frame);
    }

    /// Worker `w`'s batch being filled, a new one if it has none.
    fn open_batch(&mut self, w: usize) -> Option<&mut Batch> {
        if matches!(self.open.get(w), Some(None)) {
            let fresh = self.fresh_batch();
            if let Some(slot) = self.open.get_mut(w) {
                *slot = Some(fresh);
            }
        }
        self.open.get_mut(w)?.as_mut()
    }

    /// Sends the partly filled batch of every worker that has finished
    /// all it was sent: while the frames of one worker's busy flows fill
    /// the batches, another's frames would otherwise wait in a batch of
    /// their own that fills slowly, and that worker with them.
    fn feed_idle(&mut self) {
        for w in 0..self.open.len() {
            let idle = match (self.sent.get(w), self.done.get(w)) {
                (Some(&sent), Some(done)) => done.load(Ordering::Acquire) >= sent,
                _ => false,
            };
            if idle {
                self.send(w);
            }
        }
    }

    /// Advances every worker's clock to `now` (live capture, idle link)
    /// and sends what is queued so far.
    pub fn tick(&mut self, now: Timestamp) {
        self.release_held(|h| now.since(h.ts) >= HOLD_TIME, None);
        self.send_all(After::Tick(now));
    }

    /// Ends a file: every worker reports its pending transactions and
    /// forgets its flows after the frames queued so far.
    pub fn finish_flows(&mut self) {
        self.release_held(|_| true, None);
        self.send_all(After::Finish);
    }

    /// Sends every partly filled batch (bounds the latency of live capture).
    pub fn flush(&mut self) {
        self.send_all(After::Nothing);
    }

    /// Sends every worker's open batch, with `after` to do after its frames.
    fn send_all(&mut self, after: After) {
        for w in 0..self.open.len() {
            if after != After::Nothing {
                if let Some(b) = self.open_batch(w) {
                    b.after = after;
                }
            }
            self.send(w);
        }
    }

    /// Frames dropped because a worker's queue was full (live capture only).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends worker `w`'s open batch unless it is empty.
    fn send(&mut self, w: usize) {
        let (Some(slot), Some(tx), Some(sent)) = (self.open.get_mut(w), self.txs.get(w), self.sent.get_mut(w)) else {
            return;
        };
        let Some(batch) = slot.take_if(|b| !b.is_empty()) else { return };
        let unsent = if self.block {
            tx.send(batch).err().map(|e| e.0)
        } else {
            match tx.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(b)) | Err(TrySendError::Disconnected(b)) => Some(b),
            }
        };
        let Some(mut b) = unsent else {
            *sent += 1;
            return;
        };
        self.dropped += b.frames.len() as u64;
        // A tick or end-of-file must still reach the worker.
        let after = b.after;
        b.clear();
        b.after = match after {
            After::Finish => After::Finish,
            _ => After::Nothing,
        };
        *slot = Some(b);
    }

    /// A batch to fill: one a worker gave back, else a new one while under
    /// the budget (always for live capture, whose queues bound the
    /// batches), else the next one a worker gives back, however long that
    /// takes (a worker slowed by its output slows the reading; memory stays
    /// bounded). Only when every worker has gone is a new one made: the
    /// frames then go nowhere and are counted as dropped.
    fn fresh_batch(&mut self) -> Batch {
        if let Ok(b) = self.spare.try_recv() {
            return b;
        }
        if !self.block || self.made < self.budget {
            self.made += 1;
            return Batch::new();
        }
        // Waiting: first give idle workers what is already read for them.
        self.feed_idle();
        self.spare.recv().unwrap_or_else(|_| Batch::new())
    }

    /// Sends what is left and closes the queues: the workers finish.
    pub fn close(mut self) {
        self.release_held(|_| true, None);
        self.flush();
        drop(self.txs);
    }
}

/// What one worker produced.
#[derive(Debug, Default)]
pub struct WorkerResult {
    /// Engine counters.
    pub engine: Stats,
    /// Documents written and failed.
    pub output: OutputStats,
    /// The first write error.
    pub error: Option<std::io::Error>,
}

/// Runs one worker until its queue closes: allocates its share of the
/// configured tables, analyses every batch in order, writes documents to
/// `out`, and reports what is still pending at the end.
pub fn run_worker(settings: &Settings, queue: WorkerQueue, out: &mut dyn DocWriter) -> WorkerResult {
    // The configured tables are the process's: N workers split them (each
    // follows about 1/N of the flows), so memory does not grow with the
    // number of cores.
    let mut mem = EngineMemory::with_sizes(settings.sizes.share(queue.workers));
    let mut engine = Engine::new(settings.core.clone(), mem.storage());
    let mut sink = NdjsonSink::new(out, settings);
    while let Ok(mut batch) = queue.rx.recv() {
        for f in &batch.frames {
            engine.process(f.ts, f.link, batch.data.get(f.start..f.end).unwrap_or(&[]), &mut sink);
        }
        match batch.after {
            After::Nothing => {}
            After::Tick(now) => engine.advance(now, &mut sink),
            After::Finish => engine.finish(&mut sink),
        }
        batch.clear();
        queue.done.fetch_add(1, Ordering::Release);
        let _ = queue.spare.try_send(batch);
    }
    engine.finish(&mut sink);
    if let Err(e) = sink.flush() {
        sink.error.get_or_insert(e);
    }
    WorkerResult { engine: *engine.stats(), output: sink.stats, error: sink.error.take() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    /// Heavy flows starting together are dealt out evenly (a hash modulo
    /// two would put them where their hashes fall), and a flow keeps its
    /// worker however the loads change.
    #[test]
    fn new_buckets_go_to_the_least_loaded_worker_and_stay() {
        let mut r = Router::new(2, MINUTE);
        // Eight buckets that a plain `% 2` would all send to worker 0.
        let hashes: Vec<u32> = (0..8).map(|i| i * 2).collect();
        let first: Vec<usize> = hashes.iter().map(|&h| r.route(h, at(1), 1000)).collect();
        assert_eq!(first.iter().filter(|&&w| w == 0).count(), 4, "{first:?}");
        for t in 2..50 {
            for (i, &h) in hashes.iter().enumerate() {
                // Flow 0 is ten times heavier: it must not move.
                let len = if i == 0 { 10_000 } else { 1000 };
                assert_eq!(r.route(h, at(t), len), first[i]);
            }
        }
    }

    /// A bucket idle for two flow timeouts has no live flow left and goes
    /// to the least loaded worker again; one idle for less keeps its worker.
    #[test]
    fn an_idle_bucket_is_assigned_again() {
        let mut r = Router::new(2, MINUTE);
        assert_eq!(r.route(7, at(0), 5000), 0);
        assert_eq!(r.route(9, at(0), 100), 1);
        // Worker 1 is now the least loaded, but bucket 7 is still live.
        assert_eq!(r.route(7, at(119), 100), 0);
        // Idle for 120 s = two timeouts: free again, to the least loaded.
        assert_eq!(r.route(7, at(239), 100), 1);
        // Time going backwards does not free anything.
        assert_eq!(r.route(7, at(10), 100), 1);
    }

    /// One worker: everything goes to it, nothing is decoded.
    #[test]
    fn one_worker_takes_everything() {
        let mut r = Router::new(1, MINUTE);
        let mut routes = FragRoutes::new();
        assert_eq!(worker_for(at(0), LinkType::ETHERNET, &[0xff; 60], &mut r, &mut routes), Route::Worker(0));
        assert_eq!(r.route(12345, at(0), 1), 0);
    }

    /// An Ethernet frame with an IPv4 header (with options) and the start
    /// of a TCP header: what the router reads.
    fn tcp_frame(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, frag: u16) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&[0x08, 0x00, 0x46, 0, 0, 44, 0, 1]);
        v.extend_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(&[64, 6, 0, 0]);
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(&[0; 4]); // options (IHL 6)
        v.extend_from_slice(&sp.to_be_bytes());
        v.extend_from_slice(&dp.to_be_bytes());
        v.extend_from_slice(&[0; 16]);
        v
    }

    /// The fixed-offset path gives the full decode's hash, both ways, and
    /// declines what it does not read (fragments, VLAN tags, IPv6).
    #[test]
    fn the_fast_route_hash_is_the_full_one() {
        let f = tcp_frame;
        let ip = |a: [u8; 4]| std::net::IpAddr::from(a);
        let (a, b) = ([10, 0, 0, 1], [192, 168, 7, 9]);
        let full = route_hash((ip(a), 40000), (ip(b), 6379), 6);
        assert_eq!(plain_ipv4_hash(LinkType::ETHERNET, &f(a, b, 40000, 6379, 0)), Some(full));
        assert_eq!(plain_ipv4_hash(LinkType::ETHERNET, &f(b, a, 6379, 40000, 0x4000)), Some(full));
        assert_ne!(route_hash((ip(a), 40001), (ip(b), 6379), 6), full);
        assert_eq!(plain_ipv4_hash(LinkType::ETHERNET, &f(a, b, 40000, 6379, 0x2000)), None);
        assert_eq!(plain_ipv4_hash(LinkType::ETHERNET, &f(a, b, 40000, 6379, 0x0001)), None);
        assert_eq!(plain_ipv4_hash(LinkType(113), &f(a, b, 40000, 6379, 0)), None);
        assert_eq!(plain_ipv4_hash(LinkType::ETHERNET, &f(a, b, 40000, 6379, 0)[..36]), None);
        // A first fragment takes the full decode, and the same bucket: a
        // router that saw the plain packet sends the fragment to its worker.
        let mut r = Router::new(4, MINUTE);
        let mut routes = FragRoutes::new();
        let w = r.route(full.wrapping_add(1), at(0), 10);
        assert_eq!(r.route(full, at(0), 10), (w + 1) % 4);
        let first = f(a, b, 40000, 6379, 0x2000);
        let got = worker_for(at(1), LinkType::ETHERNET, &first, &mut r, &mut routes);
        assert!(matches!(got, Route::First(x, _) if x == (w + 1) % 4), "{got:?}");
    }

    /// A worker that has finished everything it was sent gets its partly
    /// filled batch as soon as another worker's batch fills, not when its
    /// own does; a worker still busy does not.
    #[test]
    fn an_idle_worker_is_sent_what_is_read_for_it() {
        let (mut d, queues) = channels(2, true, MINUTE);
        let busy = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 40000, 6379, 0);
        let light = tcp_frame([10, 0, 0, 3], [10, 0, 0, 2], 40001, 6379, 0);
        d.frame(at(0), LinkType::ETHERNET, &busy);
        d.frame(at(0), LinkType::ETHERNET, &light);
        let (q0, q1) = (&queues[0], &queues[1]);
        assert!(q1.rx.try_recv().is_err(), "nothing sent before a batch fills");
        for _ in 1..BATCH_FRAMES {
            d.frame(at(1), LinkType::ETHERNET, &busy);
        }
        assert_eq!(q0.rx.try_recv().map(|b| b.frames.len()).ok(), Some(BATCH_FRAMES));
        let first = q1.rx.try_recv().expect("the idle worker's frame was sent");
        assert_eq!(first.frames.len(), 1);
        // Worker 1 has not finished that batch: its next frame waits for a
        // fuller batch.
        d.frame(at(2), LinkType::ETHERNET, &light);
        for _ in 0..BATCH_FRAMES {
            d.frame(at(2), LinkType::ETHERNET, &busy);
        }
        assert!(q0.rx.try_recv().is_ok());
        assert!(q1.rx.try_recv().is_err(), "a busy worker's batch is not sent early");
        q1.done.fetch_add(1, Ordering::Release);
        for _ in 0..BATCH_FRAMES {
            d.frame(at(3), LinkType::ETHERNET, &busy);
        }
        assert_eq!(q1.rx.try_recv().map(|b| b.frames.len()).ok(), Some(1));
    }

    /// A fragment of datagram `id` between two fixed hosts (`frag`: the
    /// flags and offset field).
    fn fragment(id: u16, frag: u16) -> Vec<u8> {
        let mut v = tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 40000, 53, frag);
        v[18..20].copy_from_slice(&id.to_be_bytes());
        v
    }

    /// Every frame queued so far, per worker, after the end of the file.
    fn drain(d: &mut Dispatcher, queues: &[WorkerQueue]) -> Vec<Vec<Vec<u8>>> {
        d.finish_flows();
        queues
            .iter()
            .map(|q| {
                let mut got = Vec::new();
                while let Ok(b) = q.rx.try_recv() {
                    got.extend(b.frames.iter().map(|f| b.data[f.start..f.end].to_vec()));
                }
                got
            })
            .collect()
    }

    /// A later fragment that comes first waits for its datagram's first
    /// fragment and goes to the same worker, before it.
    #[test]
    fn a_fragment_before_its_first_waits_for_it() {
        let (mut d, queues) = channels(2, true, MINUTE);
        // Load worker 0 so that the address pair and the 5-tuple could
        // part ways.
        d.frame(at(0), LinkType::ETHERNET, &tcp_frame([10, 0, 0, 9], [10, 0, 0, 2], 1, 2, 0));
        let (later, first) = (fragment(7, 3), fragment(7, 0x2000));
        d.frame(at(1), LinkType::ETHERNET, &later);
        assert_eq!(d.held.frames.len(), 1);
        d.frame(at(1), LinkType::ETHERNET, &first);
        assert!(d.held.frames.is_empty());
        let got = drain(&mut d, &queues);
        let w = got.iter().position(|f| f.contains(&first)).expect("first fragment sent");
        assert_eq!(got[w].iter().filter(|f| **f == later || **f == first).count(), 2, "{got:?}");
        assert_eq!(got[w].iter().position(|f| *f == later), got[w].iter().position(|f| *f == first).map(|i| i - 1));
    }

    /// Held fragments are bounded: past the count (or a second of packet
    /// time) the oldest goes on by its address pair, and the end of the
    /// file sends on the rest; none is lost.
    #[test]
    fn held_fragments_are_bounded_and_never_lost() {
        let (mut d, queues) = channels(2, true, MINUTE);
        let n = HELD_FRAMES as u16 + 5;
        for id in 0..n {
            d.frame(at(1), LinkType::ETHERNET, &fragment(id, 3));
            assert!(d.held.frames.len() <= HELD_FRAMES);
        }
        assert_eq!(d.held.frames.len(), HELD_FRAMES);
        assert_eq!(d.held.frames.front().map(|h| h.key.id), Some(5));
        // Two seconds later, every one held has waited too long.
        d.frame(at(3), LinkType::ETHERNET, &fragment(n, 3));
        assert_eq!(d.held.frames.len(), 1);
        let got = drain(&mut d, &queues);
        assert!(d.held.frames.is_empty());
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), n as usize + 1);
    }

    /// Reading a file, a slow worker slows the reader instead of making it
    /// allocate: however many frames go to one worker, no more batches
    /// than the budget exist, and every frame arrives.
    #[test]
    fn a_slow_worker_holds_the_reader_to_the_budget() {
        let (mut d, queues) = channels(2, true, MINUTE);
        let budget = d.budget;
        let got = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for q in queues {
                let got = &got;
                s.spawn(move || {
                    // Late to start: the reader uses up the budget first.
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    while let Ok(mut b) = q.rx.recv() {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        got.fetch_add(b.frames.len(), std::sync::atomic::Ordering::Relaxed);
                        b.clear();
                        let _ = q.spare.try_send(b);
                    }
                });
            }
            // Not decodable: every frame goes to worker 0.
            let frame = [0xffu8; 1500];
            for i in 0..40_000u64 {
                d.frame(Timestamp::from_micros(i), LinkType::ETHERNET, &frame);
                assert!(d.made <= budget, "{} batches made, budget {budget}", d.made);
            }
            // The reader did outrun the worker: it reached the budget.
            assert_eq!(d.made, budget);
            d.close();
        });
        assert_eq!(got.into_inner(), 40_000);
    }
}
