//! A flood through the appliance: thousands of flows, out-of-order
//! segments and never-completed IP fragments, with an uplink that never
//! connects. Checks that the appliance's memory is exactly its static
//! budget — the statics' sizes equal [`Resources::memory_budget`] and
//! polling makes no heap allocation at all (a counting global allocator) —
//! and that every eviction and drop is counted.
//!
//! No test harness (`harness = false` in Cargo.toml): the allocation
//! counter is global, and libtest's own threads allocate (bookkeeping,
//! output) while a test runs. Here the process has one thread, so every
//! allocation counted is the appliance's. Prints a libtest-style result
//! line so that test totals count it.

use std::alloc::System;
use std::mem::size_of_val;

use static_cell::StaticCell;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tapbeat_core::Protocol;
use tapbeat_embedded::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use tapbeat_embedded::smoltcp::time::{Duration, Instant};
use tapbeat_embedded::smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};
use tapbeat_embedded::{Appliance, DocSettings, IpConfig, MirrorPort, Resources, Target, UplinkConfig};
use tapbeat_tests::{settings_for, split_frame, tcp_frame};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Deliberately small: 64 flows, 8 stream blocks, 32 pending
/// transactions, 4 fragment slots, a 16 KiB ring.
type Res = Resources<'static, 64, 8, 32, 4, { 16 * 1024 }, { 8 * 1024 }, { 8 * 1024 }, { 4 * 1024 }>;
type App = Appliance<'static, Flood, NullUplink>;

static RES: StaticCell<Res> = StaticCell::new();
static APP: StaticCell<App> = StaticCell::new();

/// The mirror port: pre-built frames with their capture times.
struct Flood {
    frames: &'static [(Instant, Vec<u8>)],
    pos: usize,
}

struct FrameRx<'a>(&'a [u8]);
struct NoTx;

impl phy::RxToken for FrameRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for NoTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, _: usize, f: F) -> R {
        f(&mut [])
    }
}

impl Device for Flood {
    type RxToken<'a> = FrameRx<'a>;
    type TxToken<'a> = NoTx;

    fn receive(&mut self, _: Instant) -> Option<(FrameRx<'_>, NoTx)> {
        let (_, f) = self.frames.get(self.pos)?;
        self.pos += 1;
        Some((FrameRx(f), NoTx))
    }

    fn transmit(&mut self, _: Instant) -> Option<NoTx> {
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c
    }
}

impl MirrorPort for Flood {
    fn next_timestamp(&self) -> Option<Instant> {
        self.frames.get(self.pos).map(|(t, _)| *t)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.frames.len()
    }
}

/// An uplink cable to nowhere: frames sent vanish (into a fixed buffer),
/// nothing ever answers.
struct NullUplink {
    buf: [u8; 1514],
    sent: u64,
}

struct NullTx<'a>(&'a mut [u8; 1514], &'a mut u64);

impl phy::TxToken for NullTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        *self.1 += 1;
        f(&mut self.0[..len.min(1514)])
    }
}

impl Device for NullUplink {
    type RxToken<'a> = FrameRx<'a>;
    type TxToken<'a> = NullTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(FrameRx<'_>, NullTx<'_>)> {
        None
    }

    fn transmit(&mut self, _: Instant) -> Option<NullTx<'_>> {
        Some(NullTx(&mut self.buf, &mut self.sent))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

/// The first fragment (MF set, offset 0) of a UDP datagram to port 53
/// with IP id `id`; the rest never comes.
fn first_fragment(id: u16) -> Vec<u8> {
    let payload = [0x55u8; 64];
    let mut f = vec![0u8; 14 + 20];
    f[12] = 0x08;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((20 + 8 + payload.len()) as u16).to_be_bytes());
    f[18..20].copy_from_slice(&id.to_be_bytes());
    f[20] = 0x20; // more fragments, offset 0
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 1, 0, 1]);
    f[30..34].copy_from_slice(&[10, 1, 0, 2]);
    f.extend_from_slice(&5353u16.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&((8 + 2 * payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// 3000 HTTP flows whose requests all come before any response (the flow
/// table holds 64), every third one opened with a SYN and its request
/// split and sent second part first,
/// and 500 fragment sets that never complete (4 slots).
fn flood_frames() -> Vec<(Instant, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut t = 1_700_000_000_000_000i64;
    let mut push = |f: Vec<u8>, frames: &mut Vec<(Instant, Vec<u8>)>| {
        t += 10;
        frames.push((Instant::from_micros(t), f));
    };
    const FLOWS: u16 = 3000;
    for c in 0..FLOWS {
        let req = format!("GET /item/{c} HTTP/1.1\r\nHost: flood.invalid\r\n\r\n");
        let f = tcp_frame(80, c, true, 1, req.as_bytes());
        if c % 3 == 0 {
            // The connection's start is seen (SYN, sequence 0), so a
            // segment from beyond the next expected byte is out of order.
            let mut syn = tcp_frame(80, c, true, 0, b"");
            syn[47] = 0x02;
            push(syn, &mut frames);
            let (a, b) = split_frame(&f, 10).unwrap();
            push(b, &mut frames);
            push(a, &mut frames);
        } else {
            push(f, &mut frames);
        }
        if c % 6 == 0 {
            push(first_fragment(c), &mut frames);
        }
    }
    for c in 0..FLOWS {
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", c.to_string().len(), c);
        push(tcp_frame(80, c, false, 1, resp.as_bytes()), &mut frames);
    }
    frames
}

fn main() {
    flood_uses_exactly_the_static_budget_and_counts_every_loss();
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

fn flood_uses_exactly_the_static_budget_and_counts_every_loss() {
    let frames: &'static [(Instant, Vec<u8>)] = Box::leak(flood_frames().into_boxed_slice());
    let mut settings = settings_for(Protocol::Http, &[80]);
    assert!(settings.core.set_ports(Protocol::Dns, &[53]));
    let docs = DocSettings { engine: settings.core.clone(), schema: settings.schema, shipper: "flood", tags: &[] };
    let uplink = UplinkConfig {
        connect_timeout: Duration::from_millis(500),
        ..UplinkConfig::new(
            HardwareAddress::Ethernet(EthernetAddress([2, 0, 0, 0, 0, 9])),
            IpConfig::Static {
                address: IpCidr::new(IpAddress::Ipv4(Ipv4Address::new(192, 168, 7, 2)), 24),
                gateway: None,
            },
            IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(192, 168, 7, 1)), 6379),
            Target::Redis { key: "flood" },
        )
    };

    let res = RES.init_with(Res::new);
    let res_bytes = size_of_val(&*res);
    let mirror = Flood { frames, pos: 0 };
    let null = NullUplink { buf: [0; 1514], sent: 0 };
    let app = APP.init(Appliance::new(res, mirror, null, docs, uplink, frames[0].0).unwrap());

    // The budget is the statics, exactly: no padding, nothing else.
    assert_eq!(res_bytes, Res::BYTES);
    assert_eq!(res_bytes + size_of_val(&*app), Res::memory_budget::<Flood, NullUplink>());

    // Poll through the flood and 60 s of uplink retries afterwards with
    // the heap watched: not one allocation.
    // (The counter works: one allocation shows.)
    let probe = Region::new(GLOBAL);
    drop(std::hint::black_box(vec![0u8; 1]));
    assert_eq!(probe.change().allocations, 1);
    let region = Region::new(GLOBAL);
    let mut now = frames[0].0;
    let mut polls = 0u64;
    while !app.mirror().at_end() {
        app.poll(now);
        now += Duration::from_micros(50);
        polls += 1;
    }
    for _ in 0..6000 {
        app.poll(now);
        now += Duration::from_millis(10);
        polls += 1;
    }
    let heap = region.change();
    assert_eq!((heap.allocations, heap.reallocations, heap.bytes_allocated), (0, 0, 0), "after {polls} polls");

    let st = app.stats();
    let e = &st.engine;
    assert_eq!(e.packets, frames.len() as u64);
    assert!(e.flows_evicted > 0, "flow table overflow is counted: {e:?}");
    assert!(e.defrag_evicted + e.defrag_timeouts >= 500 - 4, "fragment sets are counted: {e:?}");
    let s = &st.shell;
    assert!(s.docs_queued > 1000, "{s:?}");
    assert!(s.ring_dropped > 0, "a full ring drops (and counts) its oldest: {s:?}");
    // Nothing lost silently: every document is in the ring or counted.
    assert_eq!(
        s.docs_queued,
        st.ring_docs as u64 + s.ring_dropped + s.request_oversize + s.docs_sent + st.in_flight as u64
    );
    assert_eq!(s.docs_oversize, 0);
    assert!(st.ring_bytes <= 16 * 1024);
    // The uplink kept trying, with backoff, and never connected.
    assert_eq!(s.connects, 0);
    assert!(s.connect_attempts >= 5 && s.connect_attempts <= 30, "{s:?}");
    // Every attempt but possibly the last (still pending) failed.
    assert!(s.connect_failures + 1 >= s.connect_attempts, "{s:?}");
    assert!(e.tcp_out_of_order + e.block_alloc_failures > 0, "{e:?}");
    eprintln!(
        "flood: {polls} polls, {} frames, 0 allocations; budget {} bytes; {st:?}",
        frames.len(),
        res_bytes + size_of_val(&*app)
    );
}
