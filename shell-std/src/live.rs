//! `tapbeat run`: live capture through libpcap, spread over worker threads.
//!
//! The capture thread reads packets and hashes each flow symmetrically
//! (both directions of a connection give the same hash) to one of N worker
//! threads, each with its own engine and fixed tables, so the documents of
//! one flow keep their order. Capture never waits: when a worker's queue is
//! full the packet is dropped and counted. When no packet arrives the
//! workers still advance their clocks, so timeouts fire on an idle link.
//! SIGINT/SIGTERM stop the capture; every worker then reports what is
//! pending and the outputs drain within `shutdown_timeout`. With
//! `Settings::user` set, the process switches to that user right after the
//! capture is open (see [`crate::privilege`]) and refuses to go on if it
//! cannot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use tapbeat_core::flow::FlowKey;
use tapbeat_core::wire::ip::{decode_transport, Transport as L4};
use tapbeat_core::wire::{decode_ip, decode_link};
use tapbeat_core::{Engine, LinkType, Protocol, Stats, Timestamp};

use crate::config::Settings;
use crate::output::{DocWriter, FanoutHandle};
use crate::read::{EngineMemory, NdjsonSink};
use crate::report::OutputStats;

/// Packets queued per worker before capture drops.
pub const WORKER_QUEUE: usize = 8192;

/// The BPF filter for the configured analyzers: every configured port (TCP
/// and UDP), and ICMP when enabled; with VLAN-tagged copies when asked.
pub fn bpf_for(settings: &Settings) -> String {
    let mut parts: Vec<String> = Vec::new();
    for p in Protocol::ALL {
        let Some(c) = settings.core.common(p) else { continue };
        if !c.enabled {
            continue;
        }
        if p == Protocol::Icmp {
            parts.push("icmp or icmp6".into());
        }
        for port in c.ports.iter() {
            let s = format!("port {port}");
            if !parts.contains(&s) {
                parts.push(s);
            }
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    let f = parts.join(" or ");
    if settings.capture.with_vlans {
        format!("({f}) or (vlan and ({f}))")
    } else {
        f
    }
}

/// The worker a frame goes to: a symmetric hash of its 5-tuple (of the
/// address pair for fragments and non-TCP/UDP packets, which carry no
/// ports in every fragment).
pub fn worker_for(link: LinkType, frame: &[u8], workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    let Ok(l2) = decode_link(link, frame) else { return 0 };
    let Ok(ip) = decode_ip(l2.ethertype, l2.payload) else { return 0 };
    let key = match (ip.frag, decode_transport(ip.proto, ip.payload)) {
        (None, Ok(L4::Tcp { src_port, dst_port, .. })) | (None, Ok(L4::Udp { src_port, dst_port, .. })) => {
            FlowKey::new((ip.src, src_port), (ip.dst, dst_port), ip.proto)
        }
        _ => FlowKey::new((ip.src, 0), (ip.dst, 0), ip.proto),
    };
    key.hash32() as usize % workers
}

enum Work {
    Packet(Timestamp, Vec<u8>),
    Tick(Timestamp),
}

fn wall_clock() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_micros(d.as_micros() as u64)
}

/// What a live run produced.
#[derive(Debug, Default)]
pub struct LiveSummary {
    /// Engine counters over all workers.
    pub engine: Stats,
    /// Documents written.
    pub output: OutputStats,
    /// Packets libpcap handed over.
    pub captured: u64,
    /// Packets the kernel or libpcap dropped (buffer full).
    pub pcap_dropped: u64,
    /// Packets the interface dropped.
    pub if_dropped: u64,
    /// Packets dropped because a worker's queue was full.
    pub worker_dropped: u64,
}

/// Captures on `device` until `stop` is set, writing documents through
/// `out` (one handle per worker). Prints a stats line every `stats_every`.
pub fn run_live(
    settings: &Settings,
    device: &str,
    filter: &str,
    stop: Arc<AtomicBool>,
    out: &crate::output::Fanout,
    stats_every: Option<Duration>,
) -> Result<LiveSummary> {
    let c = &settings.capture;
    let mut cap = pcap::Capture::from_device(device)
        .with_context(|| format!("capture device '{device}'"))?
        .promisc(c.promisc)
        .snaplen(c.snaplen)
        .buffer_size(c.buffer_size_mb.saturating_mul(1 << 20))
        .timeout(100)
        .immediate_mode(true)
        .open()
        .with_context(|| format!("cannot open '{device}' for capture (needs root or CAP_NET_RAW)"))?;
    if !filter.is_empty() {
        cap.filter(filter, true).with_context(|| format!("bad BPF filter '{filter}'"))?;
    }
    // Non-blocking reads: libpcap's own read timeout does not return on an
    // idle Linux interface with TPACKET_V3, and the loop must notice a
    // stop request and advance time while nothing arrives.
    let mut cap = cap.setnonblock().context("cannot make the capture non-blocking")?;
    // The capture and the outputs are open: nothing below needs root.
    if let Some(name) = settings.user.as_deref() {
        let id = crate::privilege::drop_to(name).context("refusing to run with the privileges it was started with")?;
        eprintln!("tapbeat: running as user {name} (uid {}, gid {})", id.uid, id.gid);
        tracing::info!(user = name, uid = id.uid, gid = id.gid, "privileges dropped");
    }
    // Printed once the capture is open: from here on no packet is missed
    // (scripts and tests wait for this line).
    eprintln!("tapbeat: capturing on {device} with filter '{filter}', {} worker(s)", settings.workers);
    let link = LinkType(cap.get_datalink().0 as u32);
    let workers = settings.workers.max(1);
    let worker_dropped = Arc::new(AtomicU64::new(0));
    let mut txs: Vec<SyncSender<Work>> = Vec::new();
    let mut handles = Vec::new();
    for i in 0..workers {
        let (tx, rx) = sync_channel::<Work>(WORKER_QUEUE);
        txs.push(tx);
        let st = settings.clone();
        let h = out.handle();
        handles.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || worker(st, link, rx, h))
                .context("cannot start a worker thread")?,
        );
    }
    let mut captured = 0u64;
    let mut last_stats = Instant::now();
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match cap.next_packet() {
            Ok(p) => {
                captured += 1;
                let ts =
                    Timestamp::from_secs_micros(p.header.ts.tv_sec.max(0) as u64, p.header.ts.tv_usec.max(0) as u32);
                let w = worker_for(link, p.data, workers);
                if let Some(tx) = txs.get(w) {
                    if let Err(TrySendError::Full(_)) = tx.try_send(Work::Packet(ts, p.data.to_vec())) {
                        worker_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(anyhow::anyhow!("capture on '{device}' failed: {e}")),
        }
        // Time passes for the engines even when nothing arrives.
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            let now = wall_clock();
            for tx in &txs {
                let _ = tx.try_send(Work::Tick(now));
            }
        }
        if let Some(every) = stats_every {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                let s = cap.stats().ok();
                eprintln!(
                    "tapbeat: captured {captured}, pcap_dropped {}, if_dropped {}, worker_dropped {}; {}",
                    s.map_or(0, |s| s.dropped),
                    s.map_or(0, |s| s.if_dropped),
                    worker_dropped.load(Ordering::Relaxed),
                    out.progress()
                );
            }
        }
    }
    let ps = cap.stats().ok();
    drop(txs);
    let mut sum = LiveSummary {
        captured,
        pcap_dropped: ps.map_or(0, |s| s.dropped as u64),
        if_dropped: ps.map_or(0, |s| s.if_dropped as u64),
        worker_dropped: worker_dropped.load(Ordering::Relaxed),
        ..Default::default()
    };
    for h in handles {
        if let Ok((stats, out)) = h.join() {
            sum.engine.add(&stats);
            sum.output.documents += out.documents;
            sum.output.oversize += out.oversize;
            sum.output.write_errors += out.write_errors;
        }
    }
    Ok(sum)
}

fn worker(settings: Settings, link: LinkType, rx: Receiver<Work>, mut out: FanoutHandle) -> (Stats, OutputStats) {
    let mut mem = EngineMemory::new(&settings);
    let mut engine = Engine::new(settings.core.clone(), mem.storage());
    let mut sink = NdjsonSink::new(&mut out as &mut dyn DocWriter, &settings);
    while let Ok(w) = rx.recv() {
        match w {
            Work::Packet(ts, data) => engine.process(ts, link, &data, &mut sink),
            Work::Tick(now) => engine.advance(now, &mut sink),
        }
    }
    engine.finish(&mut sink);
    (*engine.stats(), sink.stats)
}
