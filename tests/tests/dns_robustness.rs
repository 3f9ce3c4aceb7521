//! The DNS analyzer on built messages and hostile input: correlation
//! corner cases (unanswered, unmatched, duplicate IDs, reversed roles),
//! malformed and looping names, TCP messages cut at every byte, lost
//! segments, and property tests (arbitrary bytes, arbitrary segmentation,
//! loss) checking that nothing panics, tables stay within bounds and no
//! more transactions are reported than queries were sent.

use proptest::prelude::*;
use serde_json::Value;
use tapbeat::read::{EngineMemory, NdjsonSink};
use tapbeat::Settings;
use tapbeat_core::{Engine, LinkType, Protocol, Timestamp};
use tapbeat_tests::{load, manifest, pcaps, run_frames, s, settings_for, split_frame, Capture};

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];

// ---- frames ----

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20];
    f[12] = 0x08;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = proto;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    f.extend_from_slice(l4);
    f
}

/// A UDP datagram; `to_server` picks the direction between
/// CLIENT:`cport` and SERVER:53.
fn udp(cport: u16, to_server: bool, payload: &[u8]) -> Vec<u8> {
    let (sa, da, sp, dp) = if to_server { (CLIENT, SERVER, cport, 53) } else { (SERVER, CLIENT, 53, cport) };
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sp.to_be_bytes());
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ipv4(17, sa, da, &u)
}

/// A TCP segment between CLIENT:`cport` and SERVER:53 (PSH|ACK, plus FIN
/// when asked); checksums are not checked by the kernel. Both directions
/// start at sequence number 1000.
fn tcp(cport: u16, to_server: bool, seq: u32, ack: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let (sa, da, sp, dp) = if to_server { (CLIENT, SERVER, cport, 53) } else { (SERVER, CLIENT, 53, cport) };
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sp.to_be_bytes());
    t[2..4].copy_from_slice(&dp.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x18 | u8::from(fin);
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(payload);
    ipv4(6, sa, da, &t)
}

/// Timestamped frames, one millisecond apart unless placed explicitly.
#[derive(Default)]
struct Frames(Vec<(Timestamp, Vec<u8>)>);

impl Frames {
    fn at(&mut self, ms: u64, f: Vec<u8>) -> &mut Self {
        self.0.push((Timestamp::from_micros(1_000_000_000_000 + ms * 1000), f));
        self
    }
    fn next(&mut self, f: Vec<u8>) -> &mut Self {
        let ms = self.0.last().map_or(0, |(t, _)| (t.as_micros() - 1_000_000_000_000) / 1000 + 1);
        self.at(ms, f)
    }
}

fn settings() -> Settings {
    settings_for(Protocol::Dns, &[53])
}

fn run(frames: &Frames) -> (Vec<Value>, tapbeat_core::Stats) {
    run_frames(&settings(), LinkType::ETHERNET, &frames.0)
}

// ---- messages ----

fn name(n: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in n.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

fn query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
    let mut v = header(id, 0x0100, [1, 0, 0, 0]);
    v.extend(name(qname));
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v
}

fn rr(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut v = owner.to_vec();
    v.extend_from_slice(&rtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&ttl.to_be_bytes());
    v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    v.extend_from_slice(rdata);
    v
}

/// The response to `query(id, qname, 1)` with A records `ips` (owner
/// names compressed to the question) and flags `flags` (QR set).
fn answer(id: u16, qname: &str, rcode: u16, ips: &[[u8; 4]]) -> Vec<u8> {
    let mut v = header(id, 0x8180 | rcode, [1, ips.len() as u16, 0, 0]);
    v.extend(name(qname));
    v.extend_from_slice(&[0, 1, 0, 1]);
    for ip in ips {
        v.extend(rr(&[0xc0, 12], 1, 60, ip));
    }
    v
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

fn notes(d: &Value) -> String {
    s(d, &["notes"])
}

// ---- correlation ----

#[test]
fn query_and_response_pair_by_id() {
    let mut f = Frames::default();
    // Two queries in flight on one flow, answered in reverse order.
    f.at(0, udp(40000, true, &query(1, "a.example", 1)));
    f.at(1, udp(40000, true, &query(2, "b.example", 1)));
    f.at(5, udp(40000, false, &answer(2, "b.example", 0, &[[192, 0, 2, 2]])));
    f.at(9, udp(40000, false, &answer(1, "a.example", 0, &[[192, 0, 2, 1]])));
    let (docs, stats) = run(&f);
    assert_eq!(docs.len(), 2);
    assert_eq!((s(&docs[0], &["resource"]), s(&docs[0], &["responsetime"])), ("b.example".into(), "4".into()));
    assert_eq!(docs[0]["dns"]["answers"][0]["data"], "192.0.2.2");
    assert_eq!((s(&docs[1], &["resource"]), s(&docs[1], &["responsetime"])), ("a.example".into(), "9".into()));
    assert_eq!(docs[1]["client_ip"], "10.0.0.1");
    assert_eq!(docs[1]["ip"], "10.0.0.2");
    assert_eq!(stats.parse_errors + stats.unmatched_requests + stats.unmatched_responses, 0);
}

#[test]
fn unanswered_query_is_reported_after_the_timeout() {
    let mut f = Frames::default();
    f.at(0, udp(40000, true, &query(7, "lost.example", 1)));
    // Another client, 12 s later: by then the first query has timed out.
    f.at(12_000, udp(40001, true, &query(8, "found.example", 1)));
    f.at(12_002, udp(40001, false, &answer(8, "found.example", 0, &[[192, 0, 2, 8]])));
    let (docs, stats) = run(&f);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["resource"], "lost.example", "reported when it timed out, before the later one");
    assert_eq!(docs[0]["status"], "Error");
    assert_eq!(notes(&docs[0]), r#"["Unmatched request"]"#);
    assert_eq!(docs[0]["bytes_out"], 0);
    assert!(docs[0].get("responsetime").is_none());
    assert_eq!(docs[1]["status"], "OK");
    assert_eq!(stats.unmatched_requests, 1);
}

#[test]
fn response_without_query_is_reported() {
    let mut f = Frames::default();
    f.at(0, udp(40000, false, &answer(3, "orphan.example", 0, &[[192, 0, 2, 3]])));
    let (docs, stats) = run(&f);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["status"], "Error");
    assert_eq!(notes(&docs[0]), r#"["Unmatched response"]"#);
    assert_eq!(docs[0]["resource"], "orphan.example");
    assert_eq!(docs[0]["client_port"], 40000);
    assert_eq!(docs[0]["bytes_in"], 0);
    assert!(docs[0].get("responsetime").is_none());
    assert_eq!(stats.unmatched_responses, 1);
}

#[test]
fn a_repeated_id_closes_the_older_query() {
    // A client retrying with the same ID: the first try is reported
    // unanswered, the answer pairs with the second (as Packetbeat does).
    let mut f = Frames::default();
    f.at(0, udp(40000, true, &query(5, "retry.example", 1)));
    f.at(1000, udp(40000, true, &query(5, "retry.example", 1)));
    f.at(1003, udp(40000, false, &answer(5, "retry.example", 0, &[[192, 0, 2, 5]])));
    let (docs, stats) = run(&f);
    assert_eq!(docs.len(), 2);
    assert_eq!(notes(&docs[0]), r#"["Unmatched request"]"#);
    assert_eq!(docs[1]["status"], "OK");
    assert_eq!(docs[1]["responsetime"], 3);
    assert_eq!(stats.unmatched_requests, 1);
}

#[test]
fn the_qr_bit_decides_who_asked() {
    // The port-53 side sends the query (e.g. a NOTIFY-style exchange):
    // the transaction's client is the side that asked.
    let mut f = Frames::default();
    f.at(0, udp(40000, false, &query(9, "rev.example", 1)));
    f.at(2, udp(40000, true, &answer(9, "rev.example", 0, &[[192, 0, 2, 9]])));
    let (docs, _) = run(&f);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["status"], "OK");
    assert_eq!((s(&docs[0], &["client_ip"]), s(&docs[0], &["client_port"])), ("10.0.0.2".into(), "53".into()));
    assert_eq!((s(&docs[0], &["ip"]), s(&docs[0], &["port"])), ("10.0.0.1".into(), "40000".into()));
}

// ---- malformed input ----

#[test]
fn a_compression_loop_is_a_malformed_response_not_a_hang() {
    let mut resp = header(4, 0x8180, [1, 1, 0, 0]);
    resp.extend(name("loop.example"));
    resp.extend_from_slice(&[0, 1, 0, 1]);
    // Owner name: a label, then a pointer back to that label.
    let at = resp.len() as u16;
    resp.extend_from_slice(&[1, b'x', 0xc0 | (at >> 8) as u8, at as u8]);
    resp.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    let mut f = Frames::default();
    f.at(0, udp(40000, true, &query(4, "loop.example", 1)));
    f.at(1, udp(40000, false, &resp));
    let (docs, stats) = run(&f);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["status"], "Error");
    assert_eq!(notes(&docs[0]), r#"["Malformed response"]"#);
    assert_eq!(docs[0]["dns"]["answers_count"], 1, "the header is still reported");
    assert_eq!(stats.parse_errors, 1);
}

#[test]
fn datagrams_too_short_for_dns_are_counted_and_reported() {
    let mut f = Frames::default();
    f.at(0, udp(40000, true, b"hello"));
    f.at(1, udp(40000, false, b""));
    let (docs, stats) = run(&f);
    assert_eq!(docs.len(), 2);
    assert_eq!(notes(&docs[0]), r#"["Malformed request"]"#);
    assert_eq!(docs[0]["bytes_in"], 5);
    assert_eq!(notes(&docs[1]), r#"["Malformed response"]"#);
    assert!(docs.iter().all(|d| d["status"] == "Error" && d.get("dns").is_none()));
    assert_eq!(stats.parse_errors, 2);
}

#[test]
fn long_names_and_many_records_are_bounded_and_flagged() {
    // 40 answers with distinct 60-byte owner names: more than are kept and
    // more text than the arena holds.
    let n = 40u16;
    let mut resp = header(6, 0x8180, [1, n, 0, 0]);
    resp.extend(name("big.example"));
    resp.extend_from_slice(&[0, 1, 0, 1]);
    for i in 0..n {
        let owner = format!("{:0>60}.example", i);
        resp.extend(rr(&name(&owner), 16, 1, &[[59u8].as_slice(), &[b'y'; 59]].concat()));
    }
    let mut f = Frames::default();
    f.at(0, udp(40000, true, &query(6, "big.example", 16)));
    f.at(1, udp(40000, false, &resp));
    let (docs, _) = run(&f);
    let d = &docs[0];
    assert_eq!(d["status"], "OK");
    assert_eq!(d["dns"]["answers_count"], n);
    assert_eq!(d["dns"]["answers"].as_array().unwrap().len(), tapbeat_core::proto::dns::MAX_ANSWERS);
    assert_eq!(notes(d), r#"["Fields truncated to their fixed capacity"]"#);
}

// ---- TCP ----

/// A TCP connection with the given client messages then server messages
/// (which acknowledge them all), each direction's bytes cut into segments
/// at `cuts` (offsets).
fn tcp_conn(cport: u16, to_server: &[u8], to_client: &[u8], cuts: &[usize]) -> Frames {
    let mut f = Frames::default();
    for (dir, bytes) in [(true, to_server), (false, to_client)] {
        let mut points: Vec<usize> = cuts.iter().copied().filter(|&c| c > 0 && c < bytes.len()).collect();
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();
        let mut start = 0;
        for p in points {
            let ack = if dir { 1000 } else { 1000 + to_server.len() as u32 };
            f.next(tcp(cport, dir, 1000 + start as u32, ack, false, &bytes[start..p]));
            start = p;
        }
    }
    f
}

#[test]
fn tcp_messages_cut_at_every_byte() {
    let mut qs = framed(&query(0x11, "one.example", 1));
    qs.extend(framed(&query(0x12, "two.example", 28)));
    let mut rs = framed(&answer(0x11, "one.example", 0, &[[192, 0, 2, 1]]));
    rs.extend(framed(&answer(0x12, "two.example", 3, &[])));
    let (want, _) = run(&tcp_conn(40000, &qs, &rs, &[]));
    assert_eq!(want.len(), 2);
    assert_eq!(want[0]["status"], "OK");
    assert_eq!(want[0]["transport"], "tcp");
    assert_eq!(want[0]["bytes_in"], query(0x11, "one.example", 1).len(), "without the length prefix");
    assert_eq!(want[1]["dns"]["response_code"], "NXDOMAIN");
    // Segments are a millisecond apart: a message's time is that of its
    // first segment, so only times differ with the cuts.
    let untimed = |docs: &[Value]| -> Vec<Value> {
        docs.iter()
            .map(|d| {
                let mut d = d.clone();
                d.as_object_mut().unwrap().retain(|k, _| k != "@timestamp" && k != "responsetime");
                d
            })
            .collect()
    };
    for cut in 1..qs.len().max(rs.len()) {
        let frames = tcp_conn(40000, &qs, &rs, &[cut, cut + 1]);
        let (got, stats) = run(&frames);
        assert_eq!(untimed(&got), untimed(&want), "cut at {cut}");
        assert_eq!(got[0]["@timestamp"], "1970-01-12T13:46:40.000Z", "cut at {cut}: time of the first segment");
        assert_eq!(stats.parse_errors, 0);
    }
}

#[test]
fn tcp_response_cut_by_the_end_of_the_connection() {
    let q = framed(&query(0x21, "cut.example", 1));
    let r = framed(&answer(0x21, "cut.example", 0, &[[192, 0, 2, 1], [192, 0, 2, 2]]));
    let mut f = Frames::default();
    let qend = 1000 + q.len() as u32;
    f.next(tcp(40000, true, 1000, 1000, false, &q));
    f.next(tcp(40000, false, 1000, qend, true, &r[..r.len() - 5]));
    f.next(tcp(40000, true, qend, 1000 + r.len() as u32 - 4, true, &[]));
    let (docs, stats) = run(&f);
    assert_eq!(docs.len(), 1, "{docs:#?}");
    assert_eq!(docs[0]["status"], "Error");
    assert_eq!(notes(&docs[0]), r#"["Connection closed before the response was complete"]"#);
    assert_eq!(stats.parse_errors, 1);
}

#[test]
fn tcp_resynchronises_after_lost_bytes() {
    // Three queries; the segment holding the second is lost. The server
    // answers all three.
    let q: Vec<Vec<u8>> = (0..3).map(|i| framed(&query(0x30 + i, &format!("q{i}.example"), 1))).collect();
    let r: Vec<Vec<u8>> =
        (0..3).map(|i| framed(&answer(0x30 + i, &format!("q{i}.example"), 0, &[[192, 0, 2, i as u8]]))).collect();
    let mut f = Frames::default();
    let mut seq = 1000u32;
    for (i, m) in q.iter().enumerate() {
        if i != 1 {
            f.next(tcp(40000, true, seq, 1000, false, m));
        }
        seq += m.len() as u32;
    }
    // The server received all three queries: its segments acknowledge them.
    let mut rseq = 1000u32;
    for m in &r {
        f.next(tcp(40000, false, rseq, seq, false, m));
        rseq += m.len() as u32;
    }
    f.next(tcp(40000, true, seq, rseq, true, &[]));
    f.next(tcp(40000, false, rseq, seq + 1, true, &[]));
    let (docs, stats) = run(&f);
    assert!(stats.tcp_gaps >= 1);
    let ok: Vec<String> = docs.iter().filter(|d| d["status"] == "OK").map(|d| s(d, &["resource"])).collect();
    assert_eq!(ok, ["q0.example", "q2.example"], "{docs:#?}");
    // The answer to the lost query has no query to pair with.
    let orphan: Vec<&Value> = docs.iter().filter(|d| notes(d).contains("Unmatched response")).collect();
    assert_eq!(orphan.len(), 1);
    assert_eq!(orphan[0]["resource"], "q1.example");
    assert_eq!(docs.len(), 3);
}

#[test]
fn a_tcp_message_longer_than_a_stream_block() {
    // 300 A records (about 4.8 KB): decoded up to the block size, flagged,
    // and the next message on the connection is still found.
    let ips: Vec<[u8; 4]> = (0..300u32).map(|i| [10, 1, (i >> 8) as u8, i as u8]).collect();
    let mut qs = framed(&query(0x41, "many.example", 1));
    qs.extend(framed(&query(0x42, "after.example", 1)));
    let mut rs = framed(&answer(0x41, "many.example", 0, &ips));
    rs.extend(framed(&answer(0x42, "after.example", 0, &[[192, 0, 2, 42]])));
    let cuts: Vec<usize> = (1..20).map(|i| i * 1400).collect();
    let (docs, stats) = run(&tcp_conn(40000, &qs, &rs, &cuts));
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["dns"]["answers_count"], 300);
    assert_eq!(notes(&docs[0]), r#"["Fields truncated to their fixed capacity"]"#);
    assert_eq!(
        docs[0]["bytes_out"],
        rs.len() - 2 - framed(&answer(0x42, "after.example", 0, &[[192, 0, 2, 42]])).len()
    );
    assert_eq!(docs[1]["resource"], "after.example");
    assert_eq!(docs[1]["status"], "OK");
    assert_eq!(stats.parse_errors, 0);
}

// ---- property tests ----

fn recorded(name: &str) -> Capture {
    load(&pcaps().join("recorded/dns").join(name))
}

fn queries_in(name: &str) -> usize {
    manifest(&pcaps().join("recorded/dns/MANIFEST.tsv"))
        .into_iter()
        .find(|r| r["file"] == name)
        .map(|r| r["queries"].parse().unwrap())
        .unwrap()
}

const CAPTURES: &[&str] = &[
    "udp_types.pcap",
    "udp_edns.pcap",
    "tcp_keepopen.pcap",
    "tcp_separate.pcap",
    "truncated_retry.pcap",
    "unanswered.pcap",
];
const TCP_CAPTURES: &[&str] = &["tcp_keepopen.pcap", "tcp_separate.pcap", "truncated_retry.pcap"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Re-segmenting the TCP streams at arbitrary bytes changes nothing.
    #[test]
    fn segmentation_does_not_matter(which in 0..TCP_CAPTURES.len(), cuts in proptest::collection::vec((0usize..100, 1usize..1500), 1..30)) {
        let cap = recorded(TCP_CAPTURES[which]);
        let (want, _) = run_frames(&settings(), cap.link, &cap.frames);
        let mut frames = cap.frames.clone();
        for (i, at) in cuts {
            let i = i % frames.len();
            if let Some((a, b)) = split_frame(&frames[i].1, at) {
                let ts = frames[i].0;
                frames[i] = (ts, a);
                frames.insert(i + 1, (ts, b));
            }
        }
        let (got, stats) = run_frames(&settings(), cap.link, &frames);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(stats.parse_errors, 0);
    }

    /// Dropped, truncated and reordered (within the reorder window) frames
    /// lose data, never invent transactions.
    #[test]
    fn loss_never_invents_transactions(which in 0..CAPTURES.len(), ops in proptest::collection::vec((0usize..100, 0u8..3, 0usize..1500), 1..10)) {
        let name = CAPTURES[which];
        let cap = recorded(name);
        let mut frames = cap.frames.clone();
        for (i, op, len) in ops {
            if frames.is_empty() { break; }
            let i = i % frames.len();
            match op {
                0 => { frames.remove(i); }
                1 => { let l = len.min(frames[i].1.len()); frames[i].1.truncate(l); }
                _ => {
                    // Delay a frame, within the kernel's reorder window (beyond
                    // it, a hole the peer acknowledged is declared lost, by design).
                    let f = frames.remove(i);
                    let mut to = i;
                    while to < frames.len()
                        && to < i + 1 + len % 8
                        && frames[to].0.as_micros().saturating_sub(f.0.as_micros()) < tapbeat_core::reasm::REORDER_TIME_US / 2
                    {
                        to += 1;
                    }
                    frames.insert(to, f);
                }
            }
        }
        let (got, stats) = run_frames(&settings(), cap.link, &frames);
        // A response whose query was lost is reported too, so at most one
        // transaction per query plus one per response.
        let queries = queries_in(name);
        let answered: usize = got.iter().filter(|d| !notes(d).contains("Unmatched response")).count();
        prop_assert!(answered <= queries, "{} transactions for {} queries: {:#?}", answered, queries, got);
        prop_assert!(got.len() <= 2 * queries);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
    }

    /// Arbitrary datagrams both ways: no panic, at most one transaction
    /// per datagram, nothing left pending.
    #[test]
    fn random_datagrams(dgrams in proptest::collection::vec((0u16..3, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..120)), 1..60)) {
        let mut f = Frames::default();
        for (c, dir, payload) in &dgrams {
            f.next(udp(40000 + c, *dir, payload));
        }
        let (docs, stats) = run(&f);
        prop_assert!(docs.len() <= dgrams.len());
        prop_assert_eq!(stats.transactions_total(), docs.len() as u64);
    }

    /// Arbitrary messages built from DNS-shaped pieces (headers with random
    /// counts, names with pointers anywhere, random RDATA): no panic.
    #[test]
    fn dns_shaped_datagrams(parts in proptest::collection::vec((any::<u16>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..80)), 1..30)) {
        let mut f = Frames::default();
        for (id, flags, tail) in &parts {
            let mut m = header(*id, *flags, [1, (tail.len() % 5) as u16, (tail.len() % 3) as u16, (tail.len() % 2) as u16]);
            m.extend_from_slice(tail);
            f.next(udp(40000, flags & 0x8000 == 0, &m));
        }
        let (docs, _) = run(&f);
        prop_assert!(docs.len() <= parts.len());
    }

    /// Random TCP payloads on port 53 in tiny tables: no panic, tables
    /// bounded, everything released at the end.
    #[test]
    fn random_tcp_streams(segs in proptest::collection::vec((0u16..3, any::<bool>(), 0u32..3000, proptest::collection::vec(any::<u8>(), 0..300)), 1..100)) {
        let mut st = settings();
        st.sizes = tapbeat_core::StorageSizes { flows: 3, blocks: 4, pending: 3, frags: 1 };
        let mut mem = EngineMemory::new(&st);
        let mut engine = Engine::new(st.core.clone(), mem.storage());
        let mut out = Vec::new();
        let mut sink = NdjsonSink::new(&mut out, &st);
        for (i, (c, dir, seq, payload)) in segs.iter().enumerate() {
            // Mostly DNS-framed: a length prefix that fits the payload.
            let mut p = payload.clone();
            if p.len() >= 14 && i % 2 == 0 {
                let l = (p.len() - 2) as u16;
                p[..2].copy_from_slice(&l.to_be_bytes());
            }
            let fr = tcp(40000 + c, *dir, 1000 + seq, 1000, false, &p);
            engine.process(Timestamp::from_micros(i as u64 * 10_000), LinkType::ETHERNET, &fr, &mut sink);
            prop_assert!(engine.blocks_in_use() <= 4);
            prop_assert!(engine.pending_transactions() <= 3);
        }
        engine.finish(&mut sink);
        prop_assert_eq!(engine.blocks_in_use(), 0);
        prop_assert_eq!(engine.pending_transactions(), 0);
        prop_assert_eq!(engine.active_flows(), 0);
    }
}
