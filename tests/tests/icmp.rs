//! ICMP end to end: Packetbeat's own ICMP captures (tests/pcaps/packetbeat)
//! against what Packetbeat's tests assert, and the captures the project
//! recorded from real network stacks (tests/pcaps/recorded/icmp) against
//! what their clients counted.
//!
//! Intentional differences from Packetbeat, each checked below:
//!
//! * `icmp.*.message` is readable text ("Echo Request",
//!   "Destination Unreachable (Port Unreachable)"); Packetbeat prints Go
//!   identifiers ("EchoRequest(0)").
//! * ICMP errors are reported in the `response` section (they answer an
//!   earlier packet, which they quote; `icmp.original` tells which);
//!   Packetbeat files them under `request`.
//! * As Packetbeat 1.x, `port`, `client_port` and `transport` are absent for
//!   ICMP; as 8.x, ECS's `network.transport` is "icmp"/"ipv6-icmp".

use proptest::prelude::*;
use serde_json::Value;
use tapbeat::read::{EngineMemory, NdjsonSink};
use tapbeat::Settings;
use tapbeat_core::{Engine, LinkType, Protocol, Timestamp};
use tapbeat_tests::{load, manifest, pcaps, read, run_frames, s, settings_for, Capture};

fn icmp() -> Settings {
    settings_for(Protocol::Icmp, &[])
}

fn ecs() -> Settings {
    let mut st = icmp();
    st.schema = tapbeat_core::json::Schema::Ecs;
    st
}

fn reference(file: &str, st: &Settings) -> Vec<Value> {
    read(&pcaps().join("packetbeat").join(file), st).0
}

fn recorded(file: &str) -> Capture {
    load(&pcaps().join("recorded/icmp").join(file))
}

#[test]
fn every_reference_capture_gives_the_asserted_count() {
    let dir = pcaps().join("packetbeat");
    let rows: Vec<_> = manifest(&dir.join("MANIFEST.tsv")).into_iter().filter(|r| r["protocol"] == "icmp").collect();
    assert_eq!(rows.len(), 4, "icmp4_ping, icmp4_ping_over_vlan, icmp6_ping, 802.1q-q-in-q-icmp");
    for row in rows {
        let file = &row["file"];
        assert_eq!(row["config_used_by_packetbeat_tests"], "icmp");
        let want: usize = row["events_asserted_by_packetbeat_8x_tests"].parse().unwrap();
        let (docs, stats) = read(&dir.join(file), &icmp());
        assert_eq!(docs.len(), want, "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert!(docs.iter().all(|d| d["type"] == "icmp"), "{file}");
        // Packetbeat 1.0 had no ICMP analyzer: nothing to compare with.
        assert_eq!(row["events_emitted_by_packetbeat_1.0"], "0", "{file}");
    }
}

/// What Packetbeat's ICMP system tests assert for one ping capture
/// (`assert_common_fields` + `assert_common_icmp4/6_fields`).
struct Ping {
    file: &'static str,
    version: u8,
    timestamp: &'static str,
    responsetime_ms: u64,
    duration_ns: u64,
    client: &'static str,
    server: &'static str,
    types: (u8, u8),
}

const PINGS: &[Ping] = &[
    Ping {
        file: "icmp/icmp4_ping.pcap",
        version: 4,
        timestamp: "2015-10-19T20:49:23.817Z",
        responsetime_ms: 20,
        duration_ns: 20_130_000,
        client: "10.0.0.1",
        server: "10.0.0.2",
        types: (8, 0),
    },
    Ping {
        file: "icmp/icmp4_ping_over_vlan.pcap",
        version: 4,
        timestamp: "2015-10-19T20:49:23.849Z",
        responsetime_ms: 12,
        duration_ns: 12_192_000,
        client: "10.0.0.1",
        server: "10.0.0.2",
        types: (8, 0),
    },
    Ping {
        file: "icmp/icmp6_ping.pcap",
        version: 6,
        timestamp: "2015-10-19T20:49:23.872Z",
        responsetime_ms: 16,
        duration_ns: 16_439_000,
        client: "::1",
        server: "::2",
        types: (128, 129),
    },
];

#[test]
fn reference_pings_match_packetbeat_fields() {
    for p in PINGS {
        let docs = reference(p.file, &icmp());
        assert_eq!(docs.len(), 1, "{}", p.file);
        let d = &docs[0];
        assert_eq!(d["type"], "icmp");
        assert_eq!(d["icmp"]["version"], p.version);
        assert_eq!(d["@timestamp"], p.timestamp);
        assert_eq!(d["responsetime"], p.responsetime_ms, "{}", p.file);
        assert_eq!(d["client_ip"], p.client);
        assert_eq!(d["ip"], p.server);
        assert_eq!(d["path"], p.server);
        assert_eq!(d["status"], "OK");
        // Packetbeat counts the bytes after the 8-byte ICMP header.
        assert_eq!((d["bytes_in"].as_u64(), d["bytes_out"].as_u64()), (Some(4), Some(4)));
        assert_eq!(d["icmp"]["request"]["type"], p.types.0);
        assert_eq!(d["icmp"]["request"]["code"], 0);
        assert_eq!(d["icmp"]["response"]["type"], p.types.1);
        assert_eq!(d["icmp"]["response"]["code"], 0);
        // Packetbeat: "EchoRequest(0)" / "EchoReply(0)".
        assert_eq!(d["icmp"]["request"]["message"], "Echo Request");
        assert_eq!(d["icmp"]["response"]["message"], "Echo Reply");
        assert!(d.get("notes").is_none());
        // Packetbeat 1.x has no port or transport for ICMP.
        assert!(d.get("port").is_none() && d.get("client_port").is_none() && d.get("transport").is_none());
    }
}

#[test]
fn reference_pings_in_ecs() {
    for p in PINGS {
        let docs = reference(p.file, &ecs());
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        // Packetbeat 8.x: icmp.version, @timestamp, event.duration (ns).
        assert_eq!(d["icmp"]["version"], p.version);
        assert_eq!(d["@timestamp"], p.timestamp);
        assert_eq!(d["event"]["duration"], p.duration_ns, "{}", p.file);
        assert_eq!(d["event"]["dataset"], "icmp");
        assert_eq!(d["source"]["bytes"], 4);
        assert_eq!(d["destination"]["bytes"], 4);
        assert!(d["server"].get("port").is_none(), "no server.port for ICMP");
        assert_eq!(d["client"]["ip"], p.client);
        assert_eq!(d["server"]["ip"], p.server);
        assert_eq!(d["path"], p.server);
        assert_eq!(d["status"], "OK");
        assert_eq!(d["icmp"]["request"]["type"], p.types.0);
        assert_eq!(d["icmp"]["response"]["type"], p.types.1);
        // Packetbeat 8.x: "icmp" / "ipv6-icmp".
        let want = if d["network"]["type"] == "ipv4" { "icmp" } else { "ipv6-icmp" };
        assert_eq!(d["network"]["transport"], want);
    }
}

#[test]
fn q_in_q_ping_without_reply_is_reported_unanswered() {
    // One echo request over two VLAN tags and no reply. Packetbeat 8.x
    // publishes the expired request too ("Request was received without an
    // associated response."); tapbeat notes "Unmatched request".
    let docs = reference("802.1q-q-in-q-icmp.pcap", &icmp());
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["status"], "Error");
    assert_eq!(d["notes"], serde_json::json!(["Unmatched request"]));
    assert_eq!(d["client_ip"], "192.168.1.1");
    assert_eq!(d["path"], "192.168.1.2");
    assert_eq!(d["icmp"]["request"]["type"], 8);
    assert!(d["icmp"].get("response").is_none());
    assert!(d.get("responsetime").is_none());
    assert_eq!(d["bytes_in"], 32);
}

#[test]
fn icmp_off_reports_nothing() {
    let mut st = icmp();
    st.core.icmp.common.enabled = false;
    let (docs, stats) = read(&pcaps().join("packetbeat/icmp/icmp4_ping.pcap"), &st);
    assert!(docs.is_empty());
    assert_eq!(stats.unmonitored_packets, 2);
}

// ---- recorded captures ----------------------------------------------------

fn is_request_type(version: u64, t: u64) -> bool {
    match version {
        4 => matches!(t, 8 | 10 | 13 | 15 | 17 | 42),
        _ => matches!(t, 128 | 133 | 135 | 139 | 144 | 146 | 148 | 160),
    }
}

fn is_error_type(version: u64, t: u64) -> bool {
    match version {
        4 => matches!(t, 3 | 4 | 11 | 12),
        _ => matches!(t, 1..=4),
    }
}

fn count(docs: &[Value], f: impl Fn(&Value) -> bool) -> usize {
    docs.iter().filter(|d| f(d)).count()
}

#[test]
fn every_recorded_capture_matches_its_client_counts() {
    let dir = pcaps().join("recorded/icmp");
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    assert_eq!(rows.len(), 7);
    for row in rows {
        let file = &row["file"];
        let n = |c: &str| -> usize { row[c].parse().unwrap() };
        let (docs, stats) = read(&dir.join(file), &icmp());
        assert_eq!(stats.packets as usize, n("frames"), "{file}");
        assert_eq!(docs.len(), n("transactions"), "{file}");
        let version = |d: &Value| d["icmp"]["version"].as_u64().unwrap();
        let req_type = |d: &Value| d["icmp"]["request"]["type"].as_u64();
        let resp_type = |d: &Value| d["icmp"]["response"]["type"].as_u64();
        // Every request the client sent is reported exactly once.
        let requests = count(&docs, |d| req_type(d).is_some_and(|t| is_request_type(version(d), t)));
        assert_eq!(requests, n("requests"), "{file}");
        // Every error the client received is reported exactly once.
        let errors = count(&docs, |d| resp_type(d).is_some_and(|t| is_error_type(version(d), t)));
        assert_eq!(errors, n("errors"), "{file}");
        let paired = count(&docs, |d| req_type(d).is_some() && resp_type(d).is_some());
        assert_eq!(paired, n("paired"), "{file}");
        let unmatched = count(&docs, |d| d["notes"] == serde_json::json!(["Unmatched request"]));
        assert_eq!(unmatched, n("unmatched_requests"), "{file}");
        assert_eq!(stats.unmatched_requests as usize, n("unmatched_requests"), "{file}");
        assert_eq!(stats.unmatched_responses, 0, "{file}: every reply found its request");
        assert_eq!(stats.parse_errors, 0, "{file}");
        for d in &docs {
            let ok = d["status"] == "OK";
            let is_error = resp_type(d).is_some_and(|t| is_error_type(version(d), t));
            assert_eq!(ok, !is_error && d.get("notes").is_none(), "{file}: {d}");
            // A response time exactly when a request met its response.
            assert_eq!(d.get("responsetime").is_some(), req_type(d).is_some() && resp_type(d).is_some(), "{d}");
            assert!(d["path"].is_string(), "{d}");
        }
    }
}

#[test]
fn loopback_pings_pair_every_request_with_its_reply() {
    for (file, version, types, addr) in
        [("ping4_lo.pcap", 4, (8, 0), "127.0.0.1"), ("ping6_lo.pcap", 6, (128, 129), "::1")]
    {
        let (docs, _) = read(&pcaps().join("recorded/icmp").join(file), &icmp());
        assert_eq!(docs.len(), 10);
        let mut last = String::new();
        for d in &docs {
            assert_eq!(d["icmp"]["version"], version);
            assert_eq!(d["icmp"]["request"]["type"], types.0);
            assert_eq!(d["icmp"]["response"]["type"], types.1);
            assert_eq!((s(d, &["client_ip"]), s(d, &["ip"]), s(d, &["path"])), (addr.into(), addr.into(), addr.into()));
            // ping's default 56 data bytes.
            assert_eq!((d["bytes_in"].as_u64(), d["bytes_out"].as_u64()), (Some(56), Some(56)));
            // ping -i 0.2: documents come out in request order.
            let ts = s(d, &["@timestamp"]);
            assert!(ts > last, "{ts} after {last}");
            last = ts;
        }
    }
}

#[test]
fn port_unreachable_names_the_udp_destination() {
    let (docs, _) = read(&pcaps().join("recorded/icmp/udp_unreachable.pcap"), &icmp());
    assert_eq!(docs.len(), 6);
    for (i, d) in docs.iter().enumerate() {
        let v6 = i >= 3;
        let addr = if v6 { "::1" } else { "127.0.0.1" };
        assert_eq!(d["status"], "Error");
        assert!(d.get("notes").is_none(), "an ICMP error is not an unmatched response: {d}");
        assert!(d["icmp"].get("request").is_none());
        let r = &d["icmp"]["response"];
        assert_eq!(r["message"], "Destination Unreachable (Port Unreachable)");
        assert_eq!((r["type"].as_u64(), r["code"].as_u64()), if v6 { (Some(1), Some(4)) } else { (Some(3), Some(3)) });
        assert_eq!(d["path"], addr);
        let o = &d["icmp"]["original"];
        assert_eq!(o["transport"], "udp");
        assert_eq!(o["ip"], addr);
        assert_eq!(o["port"], 9);
        assert!(o["client_port"].as_u64().unwrap() > 1024);
        // The quoted datagram: IP header (20 / 40) + UDP header + 9 bytes.
        assert_eq!(d["bytes_out"].as_u64(), Some(if v6 { 57 } else { 37 }));
    }
    let (docs, _) = read(&pcaps().join("recorded/icmp/udp_unreachable.pcap"), &ecs());
    let o = &docs[0]["icmp"]["original"];
    assert_eq!((o["destination"]["ip"].as_str(), o["destination"]["port"].as_u64()), (Some("127.0.0.1"), Some(9)));
}

#[test]
fn rejected_pings_pair_with_their_error() {
    let (docs, _) = read(&pcaps().join("recorded/icmp/rejected.pcap"), &icmp());
    assert_eq!(docs.len(), 6);
    for d in &docs {
        assert_eq!(d["status"], "Error");
        assert!(d.get("notes").is_none());
        assert!(d["responsetime"].is_u64());
        assert_eq!(
            d["icmp"]["response"]["message"],
            "Destination Unreachable (Communication Administratively Prohibited)"
        );
    }
}

#[test]
fn router_errors_name_what_was_asked_for() {
    let (docs, _) = read(&pcaps().join("recorded/icmp/routed.pcap"), &icmp());
    let errors: Vec<(String, String, String)> = docs
        .iter()
        .filter(|d| d["icmp"].get("request").is_none())
        .map(|d| (s(d, &["ip"]), s(d, &["path"]), s(d, &["icmp", "response", "message"])))
        .collect();
    let want = [
        ("10.98.0.1", "10.97.0.2", "Time Exceeded (TTL Exceeded in Transit)"),
        ("10.98.0.1", "10.97.0.2", "Time Exceeded (TTL Exceeded in Transit)"),
        ("10.98.0.1", "10.97.0.99", "Destination Unreachable (Host Unreachable)"),
        ("10.98.0.1", "10.97.0.2", "Destination Unreachable (Fragmentation Needed and Don't Fragment Set)"),
        ("fd98::1", "fd97::2", "Time Exceeded (Hop Limit Exceeded in Transit)"),
        ("fd98::1", "fd97::2", "Time Exceeded (Hop Limit Exceeded in Transit)"),
        ("fd98::1", "fd97::99", "Destination Unreachable (Address Unreachable)"),
        ("fd98::1", "fd97::2", "Packet Too Big"),
    ];
    assert_eq!(errors, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
    // The requests the router answered for are reported unanswered: the
    // errors came on another address pair.
    let unanswered: Vec<String> = docs.iter().filter(|d| d.get("notes").is_some()).map(|d| s(d, &["path"])).collect();
    assert_eq!(unanswered.len(), 8);
    assert_eq!(unanswered.iter().filter(|p| p.ends_with("::99") || p.ends_with(".99")).count(), 2);
}

#[test]
fn neighbor_discovery_pairs_on_unicast_only() {
    let (docs, _) = read(&pcaps().join("recorded/icmp/ndisc.pcap"), &icmp());
    let got: Vec<(String, String, String)> = docs
        .iter()
        .map(|d| (s(d, &["path"]), s(d, &["icmp", "request", "type"]), s(d, &["icmp", "response", "type"])))
        .collect();
    let want = [
        ("fd98::1", "135", "136"),
        ("fd98::1", "135", "136"),
        ("fd98::1", "135", "136"),
        ("ff02::1:ff00:1", "135", ""),
        ("fd98::2", "136", ""),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
    assert!(docs.iter().all(|d| d["status"] == "OK"));
}

#[test]
fn timestamp_and_mask_requests() {
    let (docs, _) = read(&pcaps().join("recorded/icmp/timestamp_mask.pcap"), &icmp());
    let got: Vec<(String, String)> =
        docs.iter().map(|d| (s(d, &["icmp", "request", "message"]), s(d, &["icmp", "response", "message"]))).collect();
    assert_eq!(got[..3], vec![("Timestamp Request".to_string(), "Timestamp Reply".to_string()); 3][..]);
    assert_eq!(got[3..], vec![("Address Mask Request".to_string(), String::new()); 2][..]);
}

#[test]
fn short_timeout_reports_the_lost_request_early() {
    // With a 1 s transaction timeout the unanswered request to 10.97.0.99
    // is reported when the sweep passes (3 s later), before the end.
    let mut st = icmp();
    st.core.icmp.common.transaction_timeout = tapbeat_core::time::Duration::from_secs(1);
    let cap = recorded("routed.pcap");
    let (docs, stats) = run_frames(&st, cap.link, &cap.frames);
    assert_eq!(docs.len(), 22);
    assert_eq!(stats.unmatched_requests, 8);
    // The first time-exceeded request times out before the host-unreachable error.
    let first_unmatched = docs.iter().position(|d| d.get("notes").is_some()).unwrap();
    let host_unreachable = docs.iter().position(|d| s(d, &["path"]) == "10.97.0.99" && d["notes"].is_null()).unwrap();
    assert!(first_unmatched < host_unreachable);
}

// ---- damaged and hostile input --------------------------------------------

const RECORDED: &[&str] = &[
    "ping4_lo.pcap",
    "ping6_lo.pcap",
    "udp_unreachable.pcap",
    "timestamp_mask.pcap",
    "rejected.pcap",
    "routed.pcap",
    "ndisc.pcap",
];

/// ICMP messages in a capture that a reply could pair with (requests).
fn requests_in(docs: &[Value]) -> usize {
    count(docs, |d| {
        d["icmp"]["request"]["type"]
            .as_u64()
            .is_some_and(|t| is_request_type(d["icmp"]["version"].as_u64().unwrap(), t))
    })
}

/// Splits an Ethernet/IPv4 frame into IPv4 fragments of `unit`*8 payload
/// bytes (checksums are not checked by tapbeat, as with offload).
fn fragment_v4(f: &[u8], unit: usize) -> Option<Vec<Vec<u8>>> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ihl = (f[14] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    let payload = f.get(14 + ihl..14 + total)?;
    let size = unit * 8;
    if payload.len() <= size {
        return None;
    }
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(size).enumerate() {
        let mut g = f[..14 + ihl].to_vec();
        g.extend_from_slice(chunk);
        let len = (ihl + chunk.len()) as u16;
        g[16..18].copy_from_slice(&len.to_be_bytes());
        let more = (i + 1) * size < payload.len();
        let off = ((i * size / 8) as u16) | if more { 0x2000 } else { 0 };
        g[20..22].copy_from_slice(&off.to_be_bytes());
        out.push(g);
    }
    Some(out)
}

fn ipv4_frame(proto: u8, body: &[u8], swap: bool) -> Vec<u8> {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let (src, dst) = if swap { (b, a) } else { (a, b) };
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    let total = (20 + body.len()) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    f.extend_from_slice(&h);
    f.extend_from_slice(body);
    f
}

fn ipv6_frame(body: &[u8], swap: bool) -> Vec<u8> {
    let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
    a[0] = 0xfd;
    b[0] = 0xfd;
    a[15] = 1;
    b[15] = 2;
    let (src, dst) = if swap { (b, a) } else { (a, b) };
    let mut f = vec![0u8; 14];
    f[12] = 0x86;
    f[13] = 0xdd;
    let mut h = [0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
    h[6] = 58;
    h[7] = 64;
    h[8..24].copy_from_slice(&src);
    h[24..40].copy_from_slice(&dst);
    f.extend_from_slice(&h);
    f.extend_from_slice(body);
    f
}

/// Runs frames through an engine with very small tables (evictions and
/// pool pressure happen) and checks the bounds hold.
fn run_small(frames: &[(Timestamp, Vec<u8>)]) -> (usize, tapbeat_core::Stats) {
    let mut st = icmp();
    st.sizes = tapbeat_core::StorageSizes { flows: 4, blocks: 2, pending: 3, frags: 2 };
    let mut mem = EngineMemory::new(&st);
    let mut engine = Engine::new(st.core.clone(), mem.storage());
    let mut out = Vec::new();
    {
        let mut sink = NdjsonSink::new(&mut out, &st);
        for (ts, f) in frames {
            engine.process(*ts, LinkType::ETHERNET, f, &mut sink);
            assert!(engine.pending_transactions() <= 3);
            assert!(engine.active_flows() <= 4);
        }
        engine.finish(&mut sink);
        assert_eq!(sink.stats.oversize, 0);
    }
    let text = String::from_utf8(out).unwrap();
    for l in text.lines() {
        let _: Value = serde_json::from_str(l).unwrap();
    }
    (text.lines().count(), *engine.stats())
}

/// An ICMP body whose type is often one the analyzer pairs or quotes.
fn icmp_body() -> impl Strategy<Value = Vec<u8>> {
    let types = prop_oneof![
        Just(0u8),
        Just(8),
        Just(3),
        Just(11),
        Just(13),
        Just(14),
        Just(128),
        Just(129),
        Just(1),
        Just(2),
        Just(135),
        Just(136),
        any::<u8>()
    ];
    (types, proptest::collection::vec(any::<u8>(), 0..120)).prop_map(|(t, mut rest)| {
        rest.insert(0, t);
        rest
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary ICMP messages, both versions, both directions, any length:
    /// no panic, bounded tables, at most one document per message.
    #[test]
    fn arbitrary_messages(msgs in proptest::collection::vec((icmp_body(), any::<bool>(), any::<bool>(), 0u64..3_000_000), 1..60)) {
        let mut t = 0u64;
        let frames: Vec<(Timestamp, Vec<u8>)> = msgs
            .iter()
            .map(|(body, v6, swap, dt)| {
                t += dt;
                let f = if *v6 { ipv6_frame(body, *swap) } else { ipv4_frame(1, body, *swap) };
                (Timestamp::from_micros(t), f)
            })
            .collect();
        let (docs, stats) = run_small(&frames);
        prop_assert!(docs <= frames.len());
        prop_assert_eq!(stats.transactions_for(Protocol::Icmp) as usize, docs);
    }

    /// A quoted datagram of any shape inside an error message.
    #[test]
    fn arbitrary_quotes(typ in prop_oneof![Just(3u8), Just(4), Just(5), Just(11), Just(12)], quote in proptest::collection::vec(any::<u8>(), 0..100), v4 in any::<bool>()) {
        let mut body = vec![typ, 0, 0, 0, 0, 0, 0, 0];
        let mut q = quote;
        if let Some(first) = q.first_mut() {
            *first = if v4 { 0x45 } else { 0x60 };
        }
        body.extend_from_slice(&q);
        let frames = vec![(Timestamp::from_micros(1), ipv4_frame(1, &body, false))];
        let (docs, _) = run_small(&frames);
        prop_assert!(docs <= 1);
    }

    /// Real captures, damaged: frames dropped, duplicated, swapped with
    /// their neighbour, or cut short (as by a small snaplen). Never more
    /// requests reported than the capture holds, never more documents than
    /// frames.
    #[test]
    fn damaged_recordings(which in 0..RECORDED.len(), edits in proptest::collection::vec((0usize..64, 0u8..4, 0usize..200), 0..12)) {
        let cap = recorded(RECORDED[which]);
        let (clean, _) = run_frames(&icmp(), cap.link, &cap.frames);
        let mut frames = cap.frames.clone();
        let mut duplicates = 0;
        for (i, op, cut) in edits {
            let i = i % frames.len();
            match op {
                0 if frames.len() > 1 => { frames.remove(i); }
                1 => { let f = frames[i].clone(); frames.insert(i, f); duplicates += 1; }
                2 if i + 1 < frames.len() => {
                    // Swap the contents, keep time increasing.
                    let (a, b) = (frames[i].1.clone(), frames[i + 1].1.clone());
                    frames[i].1 = b;
                    frames[i + 1].1 = a;
                }
                _ => { let f = &mut frames[i].1; let n = cut.min(f.len()); f.truncate(n); }
            }
        }
        let (docs, stats) = run_frames(&icmp(), cap.link, &frames);
        prop_assert!(docs.len() <= frames.len());
        // A repeated request gives up the first copy (reported unanswered).
        prop_assert!(requests_in(&docs) <= requests_in(&clean) + duplicates);
        prop_assert_eq!(stats.transactions_for(Protocol::Icmp) as usize, docs.len());
    }

    /// IPv4 ICMP messages cut into IP fragments of any size, delivered in
    /// any order within a message, give the same transactions.
    #[test]
    fn fragmented_messages(unit in 1usize..40, reverse in any::<bool>()) {
        for name in ["ping4_lo.pcap", "routed.pcap", "rejected.pcap"] {
            let cap = recorded(name);
            let (want, _) = run_frames(&icmp(), cap.link, &cap.frames);
            let mut frames = Vec::new();
            for (ts, f) in &cap.frames {
                match fragment_v4(f, unit) {
                    Some(mut parts) => {
                        if reverse {
                            parts.reverse();
                        }
                        frames.extend(parts.into_iter().map(|p| (*ts, p)));
                    }
                    None => frames.push((*ts, f.clone())),
                }
            }
            let (got, stats) = run_frames(&icmp(), cap.link, &frames);
            prop_assert_eq!(&got, &want, "{}", name);
            prop_assert_eq!(stats.parse_errors, 0);
        }
    }
}
