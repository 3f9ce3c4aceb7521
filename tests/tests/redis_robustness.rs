//! The Redis analyzer under damaged and hostile input: the recorded
//! captures re-segmented at arbitrary bytes (same documents), duplicated
//! and reordered (same transactions), with frames lost or cut (never more
//! transactions than the clients' commands plus the server's pushes), and
//! arbitrary bytes on a Redis port through tiny tables (no panic, tables
//! within bounds, everything freed).

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;
use tapbeat::read::{EngineMemory, NdjsonSink};
use tapbeat::Settings;
use tapbeat_core::{Engine, LinkType, Protocol, Timestamp};
use tapbeat_tests::{load, manifest, pcaps, run_frames, s, settings_for, split_frame, tcp_frame, Capture};

fn settings() -> Settings {
    settings_for(Protocol::Redis, &[6390])
}

/// (file, transactions) from the recorded captures' manifest, the large
/// ones left out to keep the cases fast.
fn captures() -> Vec<(String, usize)> {
    manifest(&pcaps().join("recorded/redis/MANIFEST.tsv"))
        .into_iter()
        .filter(|r| r["file"] != "pipelined.pcap" && r["file"] != "large_value.pcap")
        .map(|r| (r["file"].clone(), r["transactions"].parse().unwrap()))
        .collect()
}

fn recorded(name: &str) -> Capture {
    load(&pcaps().join("recorded/redis").join(name))
}

/// The transactions as a multiset, order and timing aside: connection,
/// command, reply, push or not, status.
fn txns(docs: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for d in docs {
        let key = format!(
            "{} {} {} {} {} {}",
            s(d, &["client_port"]),
            s(d, &["query"]),
            s(d, &["method"]),
            s(d, &["redis", "return_value"]),
            s(d, &["redis", "error"]),
            s(d, &["status"])
        );
        *m.entry(key).or_default() += 1;
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Messages cut at any byte, many or few per segment: same documents.
    #[test]
    fn segmentation_does_not_matter(which in 0usize..4, cuts in proptest::collection::vec((0usize..1000, 1usize..3000), 1..60)) {
        let caps = captures();
        let (name, n) = &caps[which % caps.len()];
        let cap = recorded(name);
        let st = settings();
        let (want, _) = run_frames(&st, cap.link, &cap.frames);
        prop_assert_eq!(want.len(), *n);
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

    /// Duplicated and reordered segments are reassembled: the same
    /// transactions.
    #[test]
    fn duplicates_and_reordering_are_absorbed(which in 0usize..4, ops in proptest::collection::vec((0usize..1000, any::<bool>()), 1..30)) {
        let caps = captures();
        let (name, n) = &caps[which % caps.len()];
        let cap = recorded(name);
        let st = settings();
        let (want, _) = run_frames(&st, cap.link, &cap.frames);
        let mut frames = cap.frames.clone();
        for (i, dup) in ops {
            let i = i % (frames.len() - 1);
            if dup {
                let f = frames[i].clone();
                frames.insert(i + 1, f);
            } else {
                frames.swap(i, i + 1);
            }
        }
        let (got, _) = run_frames(&st, cap.link, &frames);
        prop_assert_eq!(got.len(), *n);
        prop_assert_eq!(txns(&got), txns(&want));
    }

    /// Lost and truncated frames lose transactions, never invent them.
    #[test]
    fn loss_never_invents_transactions(which in 0usize..4, ops in proptest::collection::vec((0usize..1000, 0u8..3, 0usize..1500), 1..12)) {
        let caps = captures();
        let (name, n) = &caps[which % caps.len()];
        let cap = recorded(name);
        let mut frames = cap.frames.clone();
        for (i, op, len) in ops {
            if frames.is_empty() {
                break;
            }
            let i = i % frames.len();
            match op {
                0 => { frames.remove(i); }
                1 => { let l = len.min(frames[i].1.len()); frames[i].1.truncate(l); }
                _ => { let f = frames.remove(i); frames.push(f); }
            }
        }
        let (got, stats) = run_frames(&settings(), cap.link, &frames);
        prop_assert!(got.len() <= *n, "{} transactions for {} commands and pushes", got.len(), n);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
    }
}

#[test]
fn pipelined_capture_resegmented() {
    // The big one, once, cut everywhere into 100-byte segments.
    let cap = recorded("pipelined.pcap");
    let st = settings();
    let (want, _) = run_frames(&st, cap.link, &cap.frames);
    assert_eq!(want.len(), 4002);
    let mut frames = Vec::new();
    for (ts, f) in &cap.frames {
        let mut rest = f.clone();
        while let Some((a, b)) = split_frame(&rest, 100) {
            frames.push((*ts, a));
            rest = b;
        }
        frames.push((*ts, rest));
    }
    assert!(frames.len() > 2 * cap.frames.len());
    let (got, stats) = run_frames(&st, cap.link, &frames);
    assert_eq!(got, want);
    assert_eq!(stats.parse_errors, 0);
}

/// RESP-flavoured random payloads: mostly valid pieces, some noise.
fn resp_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"*3\r\n".to_vec()),
        Just(b"*-1\r\n".to_vec()),
        Just(b"*?\r\n".to_vec()),
        Just(b".\r\n".to_vec()),
        Just(b"$3\r\nSET\r\n".to_vec()),
        Just(b"$5\r\nab".to_vec()),
        Just(b"$-1\r\n".to_vec()),
        Just(b"$?\r\n;2\r\nab\r\n;0\r\n".to_vec()),
        Just(b">3\r\n$7\r\nmessage\r\n".to_vec()),
        Just(b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n".to_vec()),
        Just(b"%1\r\n+k\r\n:1\r\n".to_vec()),
        Just(b"|1\r\n+a\r\n+b\r\n".to_vec()),
        Just(b"=7\r\ntxt:abc\r\n".to_vec()),
        Just(b"!3\r\nERR\r\n".to_vec()),
        Just(b"+OK\r\n".to_vec()),
        Just(b"-ERR x\r\n".to_vec()),
        Just(b":12\r\n".to_vec()),
        Just(b"PING\r\n".to_vec()),
        Just(b"SUBSCRIBE a b\r\n".to_vec()),
        Just(b"MONITOR\r\n".to_vec()),
        Just(b"HELLO 3\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// Random payloads both ways on a Redis port, in and out of order, with
/// gaps, through tiny tables: analyzer and reassembly get arbitrary bytes
/// and cuts.
#[test]
fn random_streams_through_tiny_tables() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config { cases: 128, ..Config::default() });
    let strat = proptest::collection::vec((0u16..3, any::<bool>(), 0u32..3000, resp_bytes()), 1..120);
    runner
        .run(&strat, |segs| {
            let mut st = settings();
            st.sizes = tapbeat_core::StorageSizes { flows: 3, blocks: 4, pending: 3, frags: 1 };
            let mut mem = EngineMemory::new(&st);
            let mut engine = Engine::new(st.core.clone(), mem.storage());
            let mut out = Vec::new();
            let mut sink = NdjsonSink::new(&mut out, &st);
            let mut seqs = [[1u32; 2]; 3];
            for (i, (client, to_server, jump, payload)) in segs.iter().enumerate() {
                let seq = &mut seqs[*client as usize][*to_server as usize];
                // Mostly in order; now and then a hole or a rewind.
                let at = if jump % 5 == 0 { seq.wrapping_add(*jump) } else { *seq };
                let f = tcp_frame(6390, *client, *to_server, at, payload);
                *seq = at.wrapping_add(payload.len() as u32);
                engine.process(Timestamp::from_micros(i as u64 * 10_000), LinkType::ETHERNET, &f, &mut sink);
                prop_assert!(engine.blocks_in_use() <= 4);
                prop_assert!(engine.pending_transactions() <= 3);
            }
            engine.finish(&mut sink);
            prop_assert_eq!(engine.blocks_in_use(), 0);
            prop_assert_eq!(engine.pending_transactions(), 0);
            prop_assert_eq!(engine.active_flows(), 0);
            Ok(())
        })
        .unwrap();
}

#[test]
fn pipelined_capture_with_losses() {
    // Every 40th frame lost (requests and reply bursts of 16): fewer
    // transactions, never more, and most still paired.
    let cap = recorded("pipelined.pcap");
    let frames: Vec<_> = cap.frames.iter().enumerate().filter(|(i, _)| i % 40 != 7).map(|(_, f)| f.clone()).collect();
    let (got, stats) = run_frames(&settings(), cap.link, &frames);
    assert!(stats.tcp_gaps > 0);
    assert!(got.len() <= 4002, "{}", got.len());
    let ok = got.iter().filter(|d| d["status"] == "OK").count();
    assert!(ok > 3000, "{ok} of {}", got.len());
}
