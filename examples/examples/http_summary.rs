//! Uses the kernel directly: reads a capture with libpcap, runs the
//! `tapbeat-core` engine over fixed storage, and prints one line per HTTP
//! transaction from a closure sink — no JSON, no shell.
//!
//! `cargo run -p tapbeat-examples --example http_summary -- FILE.pcap PORT`

use tapbeat_core::txn::Detail;
use tapbeat_core::{Config, Engine, LinkType, OwnedStorageArrays, Protocol, Timestamp, Transaction};

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("usage: http_summary FILE.pcap PORT");
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(80);

    let mut cfg = Config::default();
    cfg.set_ports(Protocol::Http, &[port]);
    // Fixed storage, as on an appliance: 256 flows, 64 blocks, 64 pending
    // transactions, 4 fragment slots. Boxed only to keep it off the stack.
    let mut mem = Box::new(OwnedStorageArrays::<256, 64, 64, 4>::new());
    let mut engine = Engine::new(cfg, mem.storage());

    let mut sink = |t: &Transaction| {
        if let Detail::Http(h) = &t.detail {
            println!(
                "{} {}:{} {} {} -> {} {} ({} ms)",
                t.ts.as_millis(),
                t.client.ip,
                t.client.port,
                h.s(h.method),
                h.s(h.path),
                h.code,
                h.s(h.phrase),
                t.responsetime_ms().map_or("-".to_string(), |r| r.to_string()),
            );
        }
    };
    let mut cap = pcap::Capture::from_file_with_precision(&file, pcap::Precision::Micro).expect("open capture");
    let link = LinkType(cap.get_datalink().0 as u32);
    while let Ok(p) = cap.next_packet() {
        let ts = Timestamp::from_secs_micros(p.header.ts.tv_sec as u64, p.header.ts.tv_usec as u32);
        engine.process(ts, link, p.data, &mut sink);
    }
    engine.finish(&mut sink);
    eprintln!("{} transactions", engine.stats().transactions_for(Protocol::Http));
}
