//! The MongoDB analyzer under damaged and hostile input: real captures
//! whose segments are split at arbitrary bytes, duplicated, reordered,
//! truncated, dropped or corrupted, and random streams on the MongoDB port.
//! It must never panic, never exceed its tables, never report more
//! transactions than requests, and give the same transactions whatever the
//! segmentation.

use proptest::prelude::*;
use serde_json::Value;
use tapbeat::read::{EngineMemory, NdjsonSink};
use tapbeat::Settings;
use tapbeat_core::{Engine, LinkType, Protocol, Timestamp};
use tapbeat_tests::{load, pcaps, run_frames, s, settings_for, tcp_frame, Capture};

/// Captures with complete connections (SYN to FIN): the first four.
/// Packetbeat's captures start mid-connection: there the first segment seen
/// in a direction is where its stream starts, so an earlier segment that
/// arrives after it is taken for a retransmission (the engine's rule, the
/// same for every protocol); they are not used to test reordering.
const COMPLETE: usize = 4;

/// (path below tests/pcaps, server port, requests the client sent).
const CAPTURES: &[(&str, u16, usize)] = &[
    ("recorded/mongodb/wire_legacy.pcap", 27017, 11),
    ("recorded/mongodb/wire_op_msg.pcap", 27017, 17),
    ("recorded/mongodb/pymongo_crud.pcap", 27017, 16),
    ("recorded/mongodb/pymongo_zlib.pcap", 27017, 16),
    ("packetbeat/mongodb_more_rows.pcap", 27017, 1),
    ("packetbeat/mongodb_inserts.pcap", 27017, 5),
    ("packetbeat/mongodb_insert_duplicate_key.pcap", 27017, 1),
];

fn capture(i: usize) -> (Capture, Settings, usize) {
    let (path, port, n) = CAPTURES[i];
    let mut st = settings_for(Protocol::Mongodb, &[port]);
    st.core.mongodb.common.send_request = true;
    st.core.mongodb.common.send_response = true;
    (load(&pcaps().join(path)), st, n)
}

/// The TCP payload range of an Ethernet/IPv4/TCP frame.
fn payload_range(f: &[u8]) -> Option<(usize, usize, usize)> {
    if f.len() < 14 + 20 + 20 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return None;
    }
    let ihl = (f[14] & 0x0f) as usize * 4;
    let tcp = 14 + ihl;
    let doff = (f[tcp + 12] >> 4) as usize * 4;
    let pay = tcp + doff;
    let end = 14 + u16::from_be_bytes([f[16], f[17]]) as usize;
    if end > f.len() || pay > end {
        return None;
    }
    Some((tcp, pay, end))
}

/// Splits the TCP payload of a frame at `at` into two frames (sequence
/// numbers and IP lengths adjusted; checksums are not verified).
fn split_frame(f: &[u8], at: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    let (tcp, pay, end) = payload_range(f)?;
    if at == 0 || at >= end - pay {
        return None;
    }
    let flags = f[tcp + 13];
    let seq = u32::from_be_bytes([f[tcp + 4], f[tcp + 5], f[tcp + 6], f[tcp + 7]]);
    let mut a = f[..pay + at].to_vec();
    let a_total = (a.len() - 14) as u16;
    a[16..18].copy_from_slice(&a_total.to_be_bytes());
    a[tcp + 13] = flags & !0x01;
    let mut b = f[..pay].to_vec();
    b.extend_from_slice(&f[pay + at..end]);
    let b_total = (b.len() - 14) as u16;
    b[16..18].copy_from_slice(&b_total.to_be_bytes());
    b[tcp + 4..tcp + 8].copy_from_slice(&seq.wrapping_add(at as u32).to_be_bytes());
    b[tcp + 13] = flags & !0x02;
    Some((a, b))
}

fn keys(docs: &[Value]) -> Vec<(String, String, String, String)> {
    let mut k: Vec<_> = docs
        .iter()
        .map(|d| (s(d, &["method"]), s(d, &["resource"]), s(d, &["status"]), s(d, &["mongodb", "compressor"])))
        .collect();
    k.sort();
    k
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Re-segmenting the streams at arbitrary bytes changes nothing.
    #[test]
    fn segmentation_does_not_matter(which in 0..CAPTURES.len(), cuts in proptest::collection::vec((0usize..400, 1usize..1500), 1..60)) {
        let (cap, st, _) = capture(which);
        let (want, want_stats) = run_frames(&st, cap.link, &cap.frames);
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
        prop_assert_eq!(stats.parse_errors, want_stats.parse_errors);
    }

    /// Duplicated and reordered (adjacent swaps) segments are reassembled:
    /// the same transactions come out.
    #[test]
    fn duplicates_and_reordering_are_absorbed(which in 0..COMPLETE, ops in proptest::collection::vec((0usize..400, any::<bool>()), 1..30)) {
        let (cap, st, _) = capture(which);
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
        prop_assert_eq!(keys(&got), keys(&want));
    }

    /// Dropped, truncated and delayed frames lose data: no transaction is
    /// ever invented (at most one per request), everything stays bounded.
    #[test]
    fn loss_never_invents_transactions(which in 0..CAPTURES.len(), ops in proptest::collection::vec((0usize..400, 0u8..3, 0usize..1500), 1..12)) {
        let (cap, st, n) = capture(which);
        let mut frames = cap.frames.clone();
        for (i, op, len) in ops {
            if frames.is_empty() { break; }
            let i = i % frames.len();
            match op {
                0 => { frames.remove(i); }
                1 => { let l = len.min(frames[i].1.len()); frames[i].1.truncate(l); }
                _ => { let f = frames.remove(i); let to = (i + 1 + len % 8).min(frames.len()); frames.insert(to, f); }
            }
        }
        let (got, stats) = run_frames(&st, cap.link, &frames);
        // Requests, plus replies whose request was lost (reported alone).
        let requests_seen = got.iter().filter(|d| !s(d, &["notes"]).contains("Unmatched response")).count();
        prop_assert!(requests_seen <= n, "{} transactions for {} requests", requests_seen, n);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
    }

    /// Corrupted payload bytes (lengths, opcodes, BSON types, anything):
    /// no panic, every document well formed, tables within bounds.
    #[test]
    fn corrupted_messages_are_contained(which in 0..CAPTURES.len(), flips in proptest::collection::vec((0usize..400, 0usize..2000, any::<u8>()), 1..40)) {
        let (cap, st, _) = capture(which);
        let mut frames = cap.frames.clone();
        for (i, at, v) in flips {
            let i = i % frames.len();
            if let Some((_, pay, end)) = payload_range(&frames[i].1) {
                if end > pay {
                    let at = pay + at % (end - pay);
                    frames[i].1[at] = v;
                }
            }
        }
        let (got, stats) = run_frames(&st, cap.link, &frames);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
        for d in &got {
            prop_assert_eq!(&d["type"], "mongodb");
            if let Some(r) = d.get("response") {
                prop_assert!(r.is_string());
            }
        }
    }
}

/// Random payloads, some shaped like MongoDB headers, in and out of order,
/// through tiny tables.
#[test]
fn random_streams_through_tiny_tables() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config { cases: 64, ..Config::default() });
    let payload = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // A plausible header (length, ids, a known or unknown opcode) and junk.
        (
            16u32..5000,
            any::<i32>(),
            any::<i32>(),
            prop_oneof![Just(1i32), Just(2004), Just(2013), Just(2012), any::<i32>()],
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(len, id, rto, op, rest)| {
                let mut m = Vec::new();
                for v in [len as i32, id, rto, op] {
                    m.extend_from_slice(&v.to_le_bytes());
                }
                m.extend_from_slice(&rest);
                m
            }),
    ];
    let strat = proptest::collection::vec((0u16..4, any::<bool>(), 0u32..5000, payload), 1..150);
    runner
        .run(&strat, |segs| {
            let mut st = settings_for(Protocol::Mongodb, &[27017]);
            st.core.mongodb.common.send_request = true;
            st.core.mongodb.common.send_response = true;
            st.sizes = tapbeat_core::StorageSizes { flows: 3, blocks: 4, pending: 3, frags: 1 };
            let mut mem = EngineMemory::new(&st);
            let mut engine = Engine::new(st.core.clone(), mem.storage());
            let mut out = Vec::new();
            let mut sink = NdjsonSink::new(&mut out, &st);
            for (i, (client, to_server, seq, payload)) in segs.iter().enumerate() {
                let f = tcp_frame(27017, *client, *to_server, *seq, payload);
                engine.process(Timestamp::from_micros(i as u64 * 10_000), LinkType::ETHERNET, &f, &mut sink);
                prop_assert!(engine.blocks_in_use() <= 4);
                prop_assert!(engine.pending_transactions() <= 3);
            }
            engine.finish(&mut sink);
            prop_assert_eq!(engine.blocks_in_use(), 0);
            prop_assert_eq!(engine.pending_transactions(), 0);
            Ok(())
        })
        .unwrap();
}

/// A real request and reply, each repeated in streams cut into 1-byte
/// segments: still exactly one transaction per request.
#[test]
fn one_byte_segments() {
    let (cap, st, n) = capture(0);
    let mut frames = Vec::new();
    for (ts, f) in &cap.frames {
        let mut rest = f.clone();
        loop {
            match split_frame(&rest, 1) {
                Some((a, b)) => {
                    frames.push((*ts, a));
                    rest = b;
                }
                None => {
                    frames.push((*ts, rest));
                    break;
                }
            }
        }
    }
    assert!(frames.len() > 1000);
    let (want, _) = run_frames(&st, cap.link, &cap.frames);
    let (got, _) = run_frames(&st, cap.link, &frames);
    assert_eq!(got.len(), n);
    assert_eq!(got, want);
}
