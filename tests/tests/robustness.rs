//! The engine under hostile and damaged input: random frames, and real
//! captures whose segments are split at arbitrary bytes, reordered,
//! duplicated, truncated and dropped. It must never panic, never report
//! more transactions than requests, never exceed its tables, and give the
//! same transactions whatever the segmentation.

use proptest::prelude::*;
use serde_json::Value;
use tapbeat::read::{EngineMemory, NdjsonSink};
use tapbeat_core::{Engine, LinkType, Timestamp};
use tapbeat_tests::{http_settings, load, pcaps, run_frames, s, split_frame, tcp_frame, Capture};

fn recorded(name: &str) -> Capture {
    load(&pcaps().join("recorded/http").join(name))
}

/// True when delaying a frame captured at `a` behind one captured at `b`
/// stays within half the reorder window.
fn within_window(a: &Timestamp, b: &Timestamp) -> bool {
    b.as_micros().saturating_sub(a.as_micros()) < tapbeat_core::reasm::REORDER_TIME_US / 2
}

fn pairs(docs: &[Value]) -> Vec<(String, String, String)> {
    docs.iter().map(|d| (s(d, &["method"]), s(d, &["path"]), s(d, &["http", "code"]))).collect()
}

const CAPTURES: &[(&str, u16, usize)] = &[
    ("pipelined.pcap", 8088, 5),
    ("curl_keepalive_mixed.pcap", 8088, 6),
    ("chunked_split.pcap", 8090, 2),
    ("chunked.pcap", 8088, 3),
    ("post_100_continue.pcap", 8088, 2),
    ("http10_close.pcap", 8088, 1),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Re-segmenting the streams at arbitrary bytes changes nothing.
    #[test]
    fn segmentation_does_not_matter(which in 0..CAPTURES.len(), cuts in proptest::collection::vec((0usize..400, 1usize..2000), 1..40)) {
        let (name, port, _) = CAPTURES[which];
        let cap = recorded(name);
        let st = http_settings(&[port]);
        let (want, _) = run_frames(&st, cap.link, &cap.frames);
        let mut frames = cap.frames.clone();
        for (i, at) in cuts {
            let i = i % frames.len();
            if let Some((a, b)) = split_frame(&frames[i].1, at) {
                let ts = frames[i].0;
                frames[i] = (ts, a);
                frames.insert(i + 1, (ts, b));
            }
        }
        let (got, stats) = run_frames(&st, cap.link, &frames);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(stats.parse_errors, 0);
    }

    /// Duplicated and reordered (adjacent swaps) segments are reassembled:
    /// the same requests pair with the same responses. Reordering is kept
    /// within the kernel's reorder window (a frame is never delayed behind
    /// one captured half a window later): beyond it, a hole the peer has
    /// acknowledged is declared lost, by design.
    #[test]
    fn duplicates_and_reordering_are_absorbed(which in 0..CAPTURES.len(), ops in proptest::collection::vec((0usize..400, any::<bool>()), 1..30)) {
        let (name, port, n) = CAPTURES[which];
        let cap = recorded(name);
        let st = http_settings(&[port]);
        let (want, _) = run_frames(&st, cap.link, &cap.frames);
        let mut frames = cap.frames.clone();
        for (i, dup) in ops {
            let i = i % (frames.len() - 1);
            if dup {
                let f = frames[i].clone();
                frames.insert(i + 1, f);
            } else if within_window(&frames[i].0, &frames[i + 1].0) {
                frames.swap(i, i + 1);
            }
        }
        let (got, _) = run_frames(&st, cap.link, &frames);
        prop_assert_eq!(got.len(), n);
        prop_assert_eq!(pairs(&got), pairs(&want));
    }

    /// Dropped and truncated frames lose data, and frames delayed (within
    /// the reorder window) are put back in order: no transaction is ever
    /// invented.
    #[test]
    fn loss_never_invents_transactions(which in 0..CAPTURES.len(), ops in proptest::collection::vec((0usize..400, 0u8..3, 0usize..1500), 1..12)) {
        let (name, port, n) = CAPTURES[which];
        let cap = recorded(name);
        let st = http_settings(&[port]);
        let mut frames = cap.frames.clone();
        for (i, op, len) in ops {
            if frames.is_empty() { break; }
            let i = i % frames.len();
            match op {
                0 => { frames.remove(i); }
                1 => { let l = len.min(frames[i].1.len()); frames[i].1.truncate(l); }
                _ => {
                    let f = frames.remove(i);
                    let mut to = i;
                    while to < frames.len() && to < i + 1 + len % 8 && within_window(&f.0, &frames[to].0) {
                        to += 1;
                    }
                    frames.insert(to, f);
                }
            }
        }
        let (got, stats) = run_frames(&st, cap.link, &frames);
        prop_assert!(got.len() <= n, "{} transactions for {} requests", got.len(), n);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
    }

    /// Arbitrary bytes as frames of every link type: no panic, every frame
    /// counted, tables within bounds.
    #[test]
    fn random_frames(frames in proptest::collection::vec((0u32..300, proptest::collection::vec(any::<u8>(), 0..200)), 1..200)) {
        let st = http_settings(&[80, 1, 0]);
        let mut mem = EngineMemory::new(&st);
        let mut engine = Engine::new(st.core.clone(), mem.storage());
        let mut out = Vec::new();
        let mut sink = NdjsonSink::new(&mut out, &st);
        let links = [0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276];
        for (i, (l, f)) in frames.iter().enumerate() {
            let link = LinkType(links.get(*l as usize % 11).copied().unwrap_or(*l));
            engine.process(Timestamp::from_micros(i as u64 * 1000), link, f, &mut sink);
            prop_assert!(engine.active_flows() <= st.sizes.flows);
            prop_assert!(engine.pending_transactions() <= st.sizes.pending);
        }
        engine.finish(&mut sink);
        prop_assert_eq!(engine.stats().packets, frames.len() as u64);
        prop_assert_eq!(engine.active_flows(), 0);
        prop_assert_eq!(engine.pending_transactions(), 0);
        prop_assert_eq!(engine.blocks_in_use(), 0);
    }
}

/// Random TCP payloads on an HTTP port, in and out of order, through tiny
/// tables: analyzers and reassembly get arbitrary bytes and cuts.
#[test]
fn random_tcp_streams_through_tiny_tables() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config { cases: 64, ..Config::default() });
    let strat = proptest::collection::vec(
        (0u16..4, any::<bool>(), 0u32..5000, proptest::collection::vec(any::<u8>(), 0..300)),
        1..150,
    );
    runner
        .run(&strat, |segs| {
            let mut st = http_settings(&[80]);
            st.sizes = tapbeat_core::StorageSizes { flows: 3, blocks: 4, pending: 3, frags: 1 };
            let mut mem = EngineMemory::new(&st);
            let mut engine = Engine::new(st.core.clone(), mem.storage());
            let mut out = Vec::new();
            let mut sink = NdjsonSink::new(&mut out, &st);
            for (i, (client, to_server, seq, payload)) in segs.iter().enumerate() {
                let f = tcp_frame(80, *client, *to_server, *seq, payload);
                engine.process(Timestamp::from_micros(i as u64 * 10_000), LinkType::ETHERNET, &f, &mut sink);
                prop_assert!(engine.blocks_in_use() <= 4);
            }
            engine.finish(&mut sink);
            prop_assert_eq!(engine.blocks_in_use(), 0);
            prop_assert_eq!(engine.pending_transactions(), 0);
            Ok(())
        })
        .unwrap();
}

#[test]
fn http_shaped_garbage_is_bounded() {
    // Requests with huge announced bodies, endless headers and junk lines,
    // interleaved with a real request: the real one is still reported.
    let st = http_settings(&[80]);
    let mut frames = Vec::new();
    let mut seq = 1u32;
    let push = |frames: &mut Vec<(Timestamp, Vec<u8>)>, client: u16, to_server: bool, seq: &mut u32, p: &[u8]| {
        frames.push((Timestamp::from_micros(frames.len() as u64), tcp_frame(80, client, to_server, *seq, p)));
        *seq = seq.wrapping_add(p.len() as u32);
    };
    push(&mut frames, 1, true, &mut seq, b"POST /x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nabc");
    let mut s2 = 1u32;
    let long = vec![b'a'; 20_000];
    push(&mut frames, 2, true, &mut s2, b"GET /");
    push(&mut frames, 2, true, &mut s2, &long);
    push(&mut frames, 2, true, &mut s2, b" HTTP/1.1\r\nX: y\r\n\r\n");
    let mut s3 = 1u32;
    push(&mut frames, 3, true, &mut s3, b"\x00\x01garbage\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut r3 = 1u32;
    push(&mut frames, 3, false, &mut r3, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    let (docs, stats) = run_frames(&st, LinkType::ETHERNET, &frames);
    let ok: Vec<&Value> = docs.iter().filter(|d| d["path"] == "/ok").collect();
    assert_eq!(ok.len(), 1, "{docs:#?}");
    assert_eq!(ok[0]["status"], "OK");
    assert!(stats.parse_errors >= 1);
    let long_doc = docs.iter().find(|d| s(d, &["path"]).starts_with("/aaa")).expect("long request reported");
    assert_eq!(long_doc["notes"][1], "Fields truncated to their fixed capacity", "{long_doc}");
}
