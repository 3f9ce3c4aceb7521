//! Memcache on captures recorded from a real memcached (tests/pcaps/
//! recorded/memcache, see its README and record-memcache.sh), and the
//! analyzer under damaged input: re-segmented, lost, duplicated and
//! reordered packets, arbitrary bytes.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::Value;
use tapbeat::Settings;
use tapbeat_core::Protocol;
use tapbeat_tests::{load, manifest, pcaps, read, run_frames, s, settings_for, split_frame, Capture};

fn dir() -> std::path::PathBuf {
    pcaps().join("recorded/memcache")
}

fn rows() -> Vec<HashMap<String, String>> {
    manifest(&dir().join("MANIFEST.tsv"))
}

fn settings(parseunknown: bool) -> Settings {
    let mut st = settings_for(Protocol::Memcache, &[11211]);
    st.core.memcache.parseunknown = parseunknown;
    st
}

fn run(file: &str, st: &Settings) -> (Vec<Value>, tapbeat_core::Stats) {
    read(&dir().join(file), st)
}

fn has_reply(d: &Value) -> bool {
    d["memcache"].get("response").is_some()
}

#[test]
fn one_transaction_per_request_sent() {
    let rows = rows();
    assert_eq!(rows.len(), 5);
    for row in rows {
        let file = &row["file"];
        let requests: usize = row["requests"].parse().unwrap();
        let replies: usize = row["replies"].parse().unwrap();
        // With parseunknown the unknown command of text_tcp_commands is
        // reported too: every request the client sent is one transaction.
        let (docs, stats) = run(file, &settings(true));
        assert_eq!(docs.len(), requests, "{file}");
        assert_eq!(docs.iter().filter(|d| has_reply(d)).count(), replies, "{file}");
        assert_eq!(stats.transactions_for(Protocol::Memcache), requests as u64);
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert_eq!(stats.unmatched_requests + stats.unmatched_responses, 0, "{file}");
        for d in &docs {
            let notes = d.get("notes").map(|n| n.to_string()).unwrap_or_default();
            // Only the capacity of stats lists / key lists is ever reached.
            assert!(notes.is_empty() || notes == r#"["Fields truncated to their fixed capacity"]"#, "{file}: {d}");
            assert_eq!(s(d, &["transport"]), row["transport"], "{file}");
            assert_eq!(s(d, &["memcache", "protocol_type"]), row["protocol"], "{file}");
            assert_eq!(s(d, &["port"]), "11211");
        }
        // Without parseunknown the unknown command (and its ERROR) is not
        // reported, and nothing else changes.
        let (plain, _) = run(file, &settings(false));
        let unknown = docs.iter().filter(|d| s(d, &["memcache", "request", "command"]) == "UNKNOWN").count();
        assert_eq!(plain.len(), requests - unknown, "{file}");
        assert_eq!(unknown, usize::from(file == "text_tcp_commands.pcap"));
    }
}

fn by_command<'a>(docs: &'a [Value], cmd: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| s(d, &["memcache", "request", "command"]) == cmd).collect()
}

#[test]
fn text_tcp_commands() {
    let (d, _) = run("text_tcp_commands.pcap", &settings(true));
    let get = by_command(&d, "get")[0];
    assert_eq!(get["memcache"]["request"]["keys"], serde_json::json!(["x", "k1", "k2", "k3", "y"]));
    assert_eq!(get["memcache"]["response"]["keys"], serde_json::json!(["k1", "k2", "k3"]));
    assert_eq!(get["memcache"]["response"]["bytes"], 130);
    assert_eq!(get["memcache"]["response"]["count_values"], 3);
    let gets = by_command(&d, "gets")[0];
    assert!(gets["memcache"]["response"]["cas_unique"].is_u64());
    let cas = by_command(&d, "cas");
    assert_eq!(cas[0]["memcache"]["request"]["cas_unique"], gets["memcache"]["response"]["cas_unique"]);
    assert_eq!(s(cas[0], &["memcache", "response", "command"]), "STORED");
    assert_eq!(s(cas[1], &["memcache", "response", "command"]), "EXISTS");
    let incr = by_command(&d, "incr");
    assert_eq!(incr[0]["memcache"]["response"]["value"], 15);
    assert_eq!(s(incr[1], &["status"]), "Error");
    assert_eq!(s(incr[2], &["status"]), "Client Error");
    assert!(s(incr[2], &["memcache", "response", "error_msg"]).contains("non-numeric"));
    assert_eq!(incr[3]["memcache"]["request"]["noreply"], true);
    assert_eq!(s(by_command(&d, "decr")[0], &["memcache", "response", "value"]), "12");
    let stats = by_command(&d, "stats");
    assert_eq!(s(stats[0], &["memcache", "request", "raw_args"]), "");
    assert_eq!(s(stats[1], &["memcache", "request", "raw_args"]), "slabs");
    assert_eq!(stats[0]["memcache"]["response"]["stats"].as_array().unwrap().len(), 92);
    assert!(s(by_command(&d, "version")[0], &["memcache", "response", "version"]).starts_with("1."));
    assert_eq!(by_command(&d, "verbosity")[0]["memcache"]["request"]["verbosity"], 1);
    let unknown = by_command(&d, "UNKNOWN")[0];
    assert_eq!(s(unknown, &["memcache", "request", "line"]), "bogus_command");
    assert_eq!(s(unknown, &["memcache", "response", "command"]), "ERROR");
    // The noreply commands are reported at once, OK, without a reply.
    let noreply: Vec<_> = d.iter().filter(|x| x["memcache"]["request"]["noreply"] == true).collect();
    assert_eq!(noreply.len(), 7);
    assert!(noreply.iter().all(|x| !has_reply(x) && s(x, &["status"]) == "OK" && x.get("responsetime").is_none()));
    let quit = by_command(&d, "quit")[0];
    assert!(!has_reply(quit));
    assert_eq!(s(quit, &["status"]), "OK");
}

#[test]
fn text_get_with_many_keys() {
    let (d, stats) = run("text_tcp_many_keys.pcap", &settings(false));
    let get = by_command(&d, "get")[0];
    // 60 keys asked, 24 kept (MAX_KEYS), 30 values of 2048 bytes returned.
    assert_eq!(get["memcache"]["request"]["keys"].as_array().unwrap().len(), 24);
    assert_eq!(get["memcache"]["response"]["count_values"], 30);
    assert_eq!(get["memcache"]["response"]["bytes"], 30 * 2048);
    assert_eq!(get["memcache"]["response"]["keys"].as_array().unwrap().len(), 24);
    assert_eq!(get["notes"], serde_json::json!(["Fields truncated to their fixed capacity"]));
    assert_eq!(stats.txn_truncated, 1);
    let gets = by_command(&d, "gets")[0];
    assert_eq!(gets["memcache"]["response"]["count_values"], 5);
    assert!(gets.get("notes").is_none());
}

#[test]
fn binary_tcp_commands() {
    let (d, _) = run("binary_tcp_commands.pcap", &settings(false));
    let op = |x: &Value| s(x, &["memcache", "request", "opcode"]);
    let getkq: Vec<_> = d.iter().filter(|x| op(x) == "GetKQ").collect();
    assert_eq!(getkq.len(), 5);
    // Misses of quiet gets: no reply, OK; hits paired by opaque.
    for g in &getkq {
        let hit = has_reply(g);
        let key = g["memcache"]["request"]["keys"][0].as_str().unwrap();
        assert_eq!(hit, key == "bk2" || key == "bcnt", "{key}");
        assert_eq!(s(g, &["status"]), "OK");
        if hit {
            assert_eq!(g["memcache"]["request"]["opaque"], g["memcache"]["response"]["opaque"]);
        }
    }
    let setq: Vec<_> = d.iter().filter(|x| op(x) == "SetQ").collect();
    assert_eq!(setq.len(), 3);
    assert!(setq.iter().all(|x| !has_reply(x) && s(x, &["status"]) == "OK"));
    let addq = d.iter().find(|x| op(x) == "AddQ").unwrap();
    assert_eq!(s(addq, &["memcache", "response", "status"]), "Key exists");
    assert_eq!(s(addq, &["status"]), "Error");
    let incr: Vec<_> = d.iter().filter(|x| op(x) == "Increment").collect();
    assert_eq!(incr[0]["memcache"]["response"]["value"], 100);
    assert_eq!(incr[0]["memcache"]["request"]["initial"], 100);
    assert_eq!(incr[1]["memcache"]["response"]["value"], 107);
    let stat = d.iter().find(|x| op(x) == "Stat").unwrap();
    assert_eq!(stat["memcache"]["response"]["stats"].as_array().unwrap().len(), 92);
    let miss = d.iter().find(|x| op(x) == "Get" && x["memcache"]["response"]["status_code"] == 1).unwrap();
    assert_eq!(s(miss, &["memcache", "response", "error_msg"]), "Not found");
    let quitq = d.iter().find(|x| op(x) == "QuitQ").unwrap();
    assert!(!has_reply(quitq));
    assert_eq!(s(quitq, &["status"]), "OK");
    assert!(s(d.iter().find(|x| op(x) == "Version").unwrap(), &["memcache", "response", "version"]).starts_with("1."));
}

#[test]
fn udp_commands() {
    let (d, _) = run("text_udp_commands.pcap", &settings(false));
    // The reply to this get came as three UDP messages with one request id
    // (one per hit, and an empty one for the miss): one transaction.
    let get = by_command(&d, "get")[0];
    assert_eq!(get["memcache"]["response"]["keys"], serde_json::json!(["u1", "big"]));
    assert_eq!(get["memcache"]["response"]["bytes"], 3005);
    assert_eq!(s(get, &["bytes_out"]), (21 + 18 + 3000 + 2 + 5).to_string());
    let st = by_command(&d, "stats")[0];
    assert!(st["memcache"]["response"]["stats"].as_array().unwrap().len() > 80);
    let (b, _) = run("binary_udp_commands.pcap", &settings(false));
    let setq = b.iter().find(|x| s(x, &["memcache", "request", "opcode"]) == "SetQ").unwrap();
    assert!(!has_reply(setq));
    assert_eq!(s(setq, &["status"]), "OK");
    let incr = b.iter().find(|x| s(x, &["memcache", "request", "command"]) == "incr").unwrap();
    assert_eq!(incr["memcache"]["response"]["value"], 10);
}

// ---- damaged input ----------------------------------------------------------

/// (capture, requests sent): recorded ones and Packetbeat's TCP ones.
fn tcp_captures() -> Vec<(Capture, usize)> {
    let mut v = Vec::new();
    for row in rows().into_iter().filter(|r| r["transport"] == "tcp") {
        v.push((load(&dir().join(&row["file"])), row["requests"].parse().unwrap()));
    }
    for (f, n) in [("memcache_bin_tcp_stats.pcap", 4), ("memcache_text_tcp_multi_store_load.pcap", 5)] {
        v.push((load(&pcaps().join("packetbeat/memcache").join(f)), n));
    }
    v
}

fn udp_captures() -> Vec<(Capture, usize)> {
    let mut v = Vec::new();
    for row in rows().into_iter().filter(|r| r["transport"] == "udp") {
        v.push((load(&dir().join(&row["file"])), row["requests"].parse().unwrap()));
    }
    v
}

fn all_captures() -> &'static [(Capture, usize)] {
    static C: std::sync::OnceLock<Vec<(Capture, usize)>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let mut v = tcp_captures();
        v.extend(udp_captures());
        v
    })
}

const TCP_COUNT: usize = 5;

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Re-segmenting the TCP streams at arbitrary bytes changes nothing.
    #[test]
    fn segmentation_does_not_matter(which in 0..TCP_COUNT, cuts in proptest::collection::vec((0usize..400, 1usize..1500), 1..60)) {
        let (cap, n) = &all_captures()[which];
        let st = settings(true);
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

    /// Lost, truncated, duplicated and reordered packets (TCP and UDP) lose
    /// or damage transactions, never invent more than were requested.
    #[test]
    fn damage_never_invents_transactions(which in 0..7usize, ops in proptest::collection::vec((0usize..400, 0u8..4, 0usize..1500), 1..12)) {
        let (cap, n) = &all_captures()[which];
        let st = settings(true);
        let mut frames = cap.frames.clone();
        let udp = which >= TCP_COUNT;
        for (i, op, len) in ops {
            if frames.len() < 2 { break; }
            let i = i % frames.len();
            // On UDP a moved reply cannot be paired with a request it now
            // precedes (TCP reassembly puts the directions back in order),
            // and a duplicated request is a request sent twice (a client
            // may reuse request ids): only loss and truncation there.
            let op = if udp && op >= 2 { op - 2 } else { op };
            match op {
                0 => { frames.remove(i); }
                1 => { let l = len.min(frames[i].1.len()); frames[i].1.truncate(l); }
                2 => { let f = frames[i].clone(); frames.insert(i + 1, f); }
                _ => { let j = (i + 1) % frames.len(); frames.swap(i, j); }
            }
        }
        let (got, stats) = run_frames(&st, cap.link, &frames);
        prop_assert!(got.len() <= *n, "{} transactions for {} requests", got.len(), n);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
    }

    /// Arbitrary payloads in memcache TCP segments and UDP datagrams: no
    /// panic, every document valid JSON, tables within bounds.
    #[test]
    fn arbitrary_payloads(payloads in proptest::collection::vec((any::<bool>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 1..60), magic in any::<bool>()) {
        let st = settings(true);
        let mut frames = Vec::new();
        let mut seq = [1000u32, 5000u32];
        for (i, (to_server, udp, mut p)) in payloads.into_iter().enumerate() {
            if magic && !p.is_empty() {
                p[0] = if to_server { 0x80 } else { 0x81 };
            }
            let f = frame(to_server, udp, &p, &mut seq);
            frames.push((tapbeat_core::Timestamp::from_micros(i as u64 * 1000), f));
        }
        let (got, stats) = run_frames(&st, tapbeat_core::LinkType::ETHERNET, &frames);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
    }
}

/// An Ethernet/IPv4 frame 10.0.0.1:40000 <-> 10.0.0.2:11211 (TCP without
/// handshake, in sequence per direction; or UDP).
fn frame(to_server: bool, udp: bool, payload: &[u8], seq: &mut [u32; 2]) -> Vec<u8> {
    let (src, dst, sp, dp) = if to_server {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000u16, 11211u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 11211, 40000)
    };
    let l4 = if udp { 8 } else { 20 };
    let total = 20 + l4 + payload.len();
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, if udp { 17 } else { 6 }, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    if udp {
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    } else {
        let d = usize::from(!to_server);
        f.extend_from_slice(&seq[d].to_be_bytes());
        f.extend_from_slice(&seq[1 - d].to_be_bytes());
        f.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        seq[d] = seq[d].wrapping_add(payload.len() as u32);
    }
    f.extend_from_slice(payload);
    f
}
