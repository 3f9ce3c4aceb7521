//! The PostgreSQL analyzer under damaged and hostile input: real captures
//! re-segmented at arbitrary bytes, with frames dropped, truncated and
//! delayed, and arbitrary bytes on a PostgreSQL port. It must never panic,
//! never report more transactions than the statements the client sent, stay
//! within its tables, and give the same transactions whatever the
//! segmentation.

use proptest::prelude::*;
use serde_json::Value;
use tapbeat::read::{EngineMemory, NdjsonSink};
use tapbeat::Settings;
use tapbeat_core::{Engine, LinkType, Protocol, Timestamp};
use tapbeat_tests::{load, pcaps, run_frames, s, settings_for, split_frame, tcp_frame, Capture};

/// (folder, file, port, transactions)
const CAPTURES: &[(&str, &str, u16, usize)] = &[
    ("recorded/pgsql", "psql_session.pcap", 55432, 19),
    ("recorded/pgsql", "pgbench_extended.pcap", 55432, 37),
    ("recorded/pgsql", "pgbench_prepared.pcap", 55432, 16),
    ("recorded/pgsql", "ssl_refused.pcap", 55432, 1),
    ("recorded/pgsql", "ssl_accepted.pcap", 55432, 0),
    ("packetbeat", "pgsql_extended_query.pcap", 5432, 2),
    ("packetbeat", "pgsql_rt.pcap", 5432, 1),
    ("packetbeat", "pgsql_insert_error.pcap", 5432, 1),
];

fn capture(i: usize) -> (Capture, Settings, usize) {
    let (dir, name, port, n) = CAPTURES[i];
    (load(&pcaps().join(dir).join(name)), settings_for(Protocol::Pgsql, &[port]), n)
}

fn summary(docs: &[Value]) -> Vec<(String, String, String, String)> {
    docs.iter()
        .map(|d| (s(d, &["status"]), s(d, &["query"]), s(d, &["pgsql", "num_rows"]), s(d, &["bytes_out"])))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Re-segmenting the streams at arbitrary bytes changes nothing.
    #[test]
    fn segmentation_does_not_matter(which in 0..CAPTURES.len(), cuts in proptest::collection::vec((0usize..400, 1usize..600), 1..60)) {
        let (cap, st, n) = capture(which);
        let (want, _) = run_frames(&st, cap.link, &cap.frames);
        prop_assert_eq!(want.len(), n);
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
        prop_assert_eq!(summary(&got), summary(&want));
        prop_assert_eq!(stats.parse_errors, 0);
    }

    /// Dropped, truncated and delayed frames lose data: transactions may be
    /// lost or marked, never invented.
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
        prop_assert!(got.len() <= n, "{} transactions for {} statements: {:#?}", got.len(), n, got);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
    }

    /// Arbitrary bytes in both directions of PostgreSQL connections, in and
    /// out of order, through tiny tables.
    #[test]
    fn random_streams_through_tiny_tables(segs in proptest::collection::vec((0u16..3, any::<bool>(), 0u32..3000, proptest::collection::vec(any::<u8>(), 0..300)), 1..120)) {
        let mut st = settings_for(Protocol::Pgsql, &[5432]);
        st.core.pgsql.common.send_request = true;
        st.core.pgsql.common.send_response = true;
        st.sizes = tapbeat_core::StorageSizes { flows: 3, blocks: 4, pending: 3, frags: 1 };
        let mut mem = EngineMemory::new(&st);
        let mut engine = Engine::new(st.core.clone(), mem.storage());
        let mut out = Vec::new();
        let mut sink = NdjsonSink::new(&mut out, &st);
        for (i, (client, to_server, seq, payload)) in segs.iter().enumerate() {
            let f = tcp_frame(5432, *client, *to_server, *seq, payload);
            engine.process(Timestamp::from_micros(i as u64 * 10_000), LinkType::ETHERNET, &f, &mut sink);
            prop_assert!(engine.blocks_in_use() <= 4);
            prop_assert!(engine.pending_transactions() <= 3);
        }
        engine.finish(&mut sink);
        prop_assert_eq!(engine.blocks_in_use(), 0);
        prop_assert_eq!(engine.pending_transactions(), 0);
    }

    /// Well-formed message headers with random bodies, in order: the
    /// per-message decoders get every kind of malformed content.
    #[test]
    fn random_messages_in_order(msgs in proptest::collection::vec((any::<bool>(), proptest::sample::select(b"QPBDESHCdcfXpFTZINR12nstGHWKAv".to_vec()), proptest::collection::vec(any::<u8>(), 0..200)), 1..80)) {
        let mut st = settings_for(Protocol::Pgsql, &[5432]);
        st.core.pgsql.common.send_response = true;
        let mut frames = Vec::new();
        let (mut cs, mut ss) = (1u32, 1u32);
        let mut queries = 0usize;
        for (i, (to_server, typ, body)) in msgs.iter().enumerate() {
            let mut m = vec![*typ];
            m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
            m.extend_from_slice(body);
            let seq = if *to_server { &mut cs } else { &mut ss };
            frames.push((Timestamp::from_micros(i as u64 * 1000), tcp_frame(5432, 1, *to_server, *seq, &m)));
            *seq = seq.wrapping_add(m.len() as u32);
            if *to_server && matches!(*typ, b'Q' | b'E') {
                queries += 1 + body.iter().filter(|&&c| c == b';').count();
            }
        }
        let (got, stats) = run_frames(&st, LinkType::ETHERNET, &frames);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
        // Requests plus at most one response-only record per result message.
        let results = msgs.iter().filter(|(c, t, _)| !*c && matches!(*t, b'C' | b'I' | b'E' | b's')).count();
        prop_assert!(got.len() <= queries + results + 1);
    }
}

#[test]
fn huge_messages_stream_through() {
    // A 100 kB Query (one statement) and a result of 3 rows of 50 kB
    // each: nothing is buffered whole; the text is cut and flagged.
    let mut st = settings_for(Protocol::Pgsql, &[5432]);
    st.core.pgsql.common.send_response = true;
    let mut q = b"select '".to_vec();
    q.extend(std::iter::repeat_n(b'x', 100_000));
    q.extend_from_slice(b"' ; select 2\0");
    let mut c = vec![b'Q'];
    c.extend_from_slice(&((q.len() + 4) as u32).to_be_bytes());
    c.extend_from_slice(&q);
    let mut r = Vec::new();
    let msg = |r: &mut Vec<u8>, t: u8, b: &[u8]| {
        r.push(t);
        r.extend_from_slice(&((b.len() + 4) as u32).to_be_bytes());
        r.extend_from_slice(b);
    };
    let mut t = vec![0, 1];
    t.extend_from_slice(b"big\0");
    t.extend_from_slice(&[0; 18]);
    msg(&mut r, b'T', &t);
    for _ in 0..3 {
        let mut d = vec![0, 1];
        d.extend_from_slice(&50_000u32.to_be_bytes());
        d.extend(std::iter::repeat_n(b'v', 50_000));
        msg(&mut r, b'D', &d);
    }
    msg(&mut r, b'C', b"SELECT 3\0");
    msg(&mut r, b'C', b"SELECT 1\0");
    msg(&mut r, b'Z', b"I");
    let mut frames = Vec::new();
    for (i, chunk) in c.chunks(1448).enumerate() {
        frames.push((Timestamp::from_micros(i as u64), tcp_frame(5432, 1, true, 1 + (i * 1448) as u32, chunk)));
    }
    for (i, chunk) in r.chunks(1448).enumerate() {
        frames.push((Timestamp::from_micros(1000 + i as u64), tcp_frame(5432, 1, false, 1 + (i * 1448) as u32, chunk)));
    }
    let (docs, stats) = run_frames(&st, LinkType::ETHERNET, &frames);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(s(&docs[0], &["pgsql", "num_rows"]), "3");
    assert_eq!(s(&docs[0], &["method"]), "SELECT");
    assert_eq!(s(&docs[0], &["query"]).len(), 2048);
    assert!(s(&docs[0], &["notes"]).contains("truncated"));
    // The response gets what the 2048-byte query and the method leave of
    // the 4096-byte arena (rows alone would be cut at max_row_length).
    assert_eq!(s(&docs[0], &["response"]).len(), 4096 - 2048 - 6);
    assert!(s(&docs[0], &["response"]).starts_with("big\nvvvv"));
    assert_eq!(s(&docs[1], &["query"]), "select 2");
    assert_eq!(s(&docs[1], &["status"]), "OK");
    assert_eq!(stats.parse_errors, 0);
    assert_eq!(docs[0]["bytes_in"].as_u64().unwrap() + docs[1]["bytes_in"].as_u64().unwrap(), c.len() as u64);
}
