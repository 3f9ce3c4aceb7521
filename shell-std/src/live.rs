//! `tapbeat run`: live capture through libpcap, spread over worker threads.
//!
//! The capture thread reads packets and hashes each flow symmetrically
//! (both directions of a connection give the same hash) to one of N worker
//! threads, each with its own engine and fixed tables, so the documents of
//! one flow keep their order (see [`crate::workers`]). Capture never waits:
//! when a worker's queue is full the batch of frames is dropped and
//! counted. When no packet arrives the workers still advance their clocks,
//! so timeouts fire on an idle link.
//! SIGINT/SIGTERM stop the capture; every worker then reports what is
//! pending and the outputs drain within `shutdown_timeout`. With
//! `Settings::user` set, the process switches to that user right after the
//! capture is open (see [`crate::privilege`]) and refuses to go on if it
//! cannot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use tapbeat_core::{LinkType, Protocol, Stats, Timestamp};

use crate::config::Settings;
use crate::report::OutputStats;

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
    let (mut dispatch, queues) = crate::workers::channels(workers, false, settings.core.flow_timeout);
    let mut handles = Vec::new();
    for (i, queue) in queues.into_iter().enumerate() {
        let st = settings.clone();
        let mut h = out.handle();
        handles.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || crate::workers::run_worker(&st, queue, &mut h))
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
                dispatch.frame(ts, link, p.data);
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing waiting: hand over what is batched so far.
                dispatch.flush();
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(anyhow::anyhow!("capture on '{device}' failed: {e}")),
        }
        // Time passes for the engines even when nothing arrives; queued
        // frames reach the workers at least this often.
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            dispatch.tick(wall_clock());
        }
        if let Some(every) = stats_every {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                let s = cap.stats().ok();
                eprintln!(
                    "tapbeat: captured {captured}, pcap_dropped {}, if_dropped {}, worker_dropped {}; {}",
                    s.map_or(0, |s| s.dropped),
                    s.map_or(0, |s| s.if_dropped),
                    dispatch.dropped(),
                    out.progress()
                );
            }
        }
    }
    let ps = cap.stats().ok();
    let worker_dropped = dispatch.dropped();
    dispatch.close();
    let mut sum = LiveSummary {
        captured,
        pcap_dropped: ps.map_or(0, |s| s.dropped as u64),
        if_dropped: ps.map_or(0, |s| s.if_dropped as u64),
        worker_dropped,
        ..Default::default()
    };
    for h in handles {
        if let Ok(r) = h.join() {
            sum.engine.add(&r.engine);
            sum.output.add(&r.output);
        }
    }
    Ok(sum)
}
