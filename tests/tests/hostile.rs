//! The hostile captures of `tapbeat_tests::hostile` through the engine with
//! `tapbeat read`'s default settings (every analyzer on its default port,
//! the default table sizes): no panic, the attack visible in its counter,
//! and the legitimate transactions interleaved with it reported with the
//! right fields.

use serde_json::Value;
use tapbeat::Settings;
use tapbeat_core::{LinkType, Stats};
use tapbeat_tests::hostile::{self, Hostile};
use tapbeat_tests::{run_frames, s};

fn run(h: &Hostile) -> (Vec<Value>, Stats) {
    run_frames(&Settings::default(), LinkType::ETHERNET, &h.frames)
}

fn of_type<'a>(docs: &'a [Value], ty: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["type"] == ty).collect()
}

/// The documents of HTTP transactions for `path`.
fn http<'a>(docs: &'a [Value], path: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["type"] == "http" && s(d, &["path"]) == path).collect()
}

/// Asserts that the legitimate GET of `/good/<n>` (see `hostile::good_http`)
/// came out once, complete and right.
fn assert_good_http(docs: &[Value], n: u16) {
    let path = format!("/good/{n}");
    let d = http(docs, &path);
    assert_eq!(d.len(), 1, "{path}: {docs:#?}");
    let d = d[0];
    assert_eq!(s(d, &["status"]), "OK", "{d}");
    assert_eq!(s(d, &["method"]), "GET");
    assert_eq!(s(d, &["http", "code"]), "200");
    let c = hostile::good_client(n);
    assert_eq!(s(d, &["client_ip"]), format!("{}.{}.{}.{}", c[0], c[1], c[2], c[3]));
    assert_eq!(s(d, &["port"]), "80");
    assert!(d["notes"].is_null(), "{d}");
}

/// Asserts that the legitimate lookup of `<prefix><n>.example.test` came
/// out answered with 192.0.2.n.
fn assert_good_dns(docs: &[Value], prefix: &str, n: u16) {
    let name = format!("{prefix}{n}.example.test");
    let d: Vec<_> = of_type(docs, "dns").into_iter().filter(|d| s(d, &["dns", "question", "name"]) == name).collect();
    assert_eq!(d.len(), 1, "{name}: {docs:#?}");
    assert_eq!(s(d[0], &["status"]), "OK", "{}", d[0]);
    assert_eq!(d[0]["dns"]["answers"][0]["data"], format!("192.0.2.{n}"));
}

#[test]
fn syn_flood_evicts_flows_and_keeps_real_transactions() {
    let h = hostile::syn_flood();
    assert!(h.frames.len() >= 100_000);
    let (docs, st) = run(&h);
    assert!(st.flows_created >= 100_000, "{st:?}");
    // More SYNs than the default flow table (65 536): the oldest went.
    assert!(st.flows_evicted >= 100_000 - 65_536, "{st:?}");
    assert_eq!(docs.len(), 5, "half-open flows are not transactions");
    for n in 0..5 {
        assert_good_http(&docs, n);
    }
}

#[test]
fn fragment_flood_is_evicted_and_counted_and_real_fragments_reassemble() {
    let (docs, st) = run(&hostile::fragment_flood());
    assert_eq!(st.fragments, 20_010);
    assert!(st.defrag_evicted > 10_000, "{st:?}");
    assert!(st.defrag_overlap_conflicts > 0, "{st:?}");
    assert_eq!(st.defrag_reassembled, 5, "only the real answers complete");
    assert_eq!(docs.len(), 5);
    for n in 0..5 {
        assert_good_dns(&docs, "frag", n);
    }
}

#[test]
fn conflicting_tcp_overlaps_keep_the_first_copy_and_count_the_conflicts() {
    let (docs, st) = run(&hostile::tcp_overlap_conflicts());
    // "good" arrived first; "evil" disagrees in four bytes.
    assert_eq!(st.tcp_overlap_conflicts, 4, "{st:?}");
    assert!(http(&docs, "/evil/2").is_empty(), "{docs:#?}");
    assert_good_http(&docs, 1);
    assert_good_http(&docs, 2);
    assert_good_http(&docs, 3);
    assert_eq!(docs.len(), 3);
}

#[test]
fn sequence_wrap_and_jumps_become_gaps_without_losing_the_request() {
    let (docs, st) = run(&hostile::seq_jumps_near_wrap());
    assert!(st.tcp_out_of_order >= 2, "{st:?}");
    assert!(st.tcp_gaps >= 1 && st.tcp_gap_bytes >= 1 << 30, "{st:?}");
    assert_good_http(&docs, 4);
    // The whole request crossed the wrap: its 3 000-byte query string too.
    let req = format!("GET /good/4?{} HTTP/1.1\r\nHost: example.test\r\n\r\n", "w".repeat(3000));
    assert_eq!(http(&docs, "/good/4")[0]["bytes_in"], req.len());
    assert_good_http(&docs, 5);
    assert_eq!(docs.len(), 2);
}

#[test]
fn huge_content_length_is_reported_incomplete_not_waited_for() {
    let (docs, st) = run(&hostile::http_huge_content_length());
    let d = http(&docs, "/huge/7");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["http"]["content_length"], 4_000_000_000u64);
    assert_eq!(s(d[0], &["notes"]), r#"["Connection closed before the response was complete"]"#);
    assert_eq!(st.responses_incomplete, 1, "{st:?}");
    // A length beyond 64 bits is unusable: counted, the body read to the close.
    assert_eq!(st.parse_errors, 1, "{st:?}");
    assert_eq!(http(&docs, "/huge/8").len(), 1);
    assert_eq!(st.stream_bytes_skipped + st.block_alloc_failures, 0, "nothing buffered for the missing bytes");
    assert_good_http(&docs, 6);
    assert_good_http(&docs, 9);
}

#[test]
fn one_megabyte_of_headers_is_truncated_and_the_next_request_parsed() {
    let (docs, st) = run(&hostile::http_huge_headers());
    assert_eq!(st.txn_truncated, 1, "{st:?}");
    let big = http(&docs, "/big/10");
    assert_eq!(big.len(), 1);
    assert!(s(big[0], &["notes"]).contains("truncated"), "{}", big[0]);
    assert!(big[0]["bytes_in"].as_u64().unwrap() > 1 << 20);
    // The next request on the same connection.
    let next = http(&docs, "/good/10");
    assert_eq!(next.len(), 1);
    assert_eq!(s(next[0], &["http", "code"]), "200");
    assert_good_http(&docs, 11);
}

#[test]
fn dns_compression_loops_are_malformed_not_followed_forever() {
    let (docs, st) = run(&hostile::dns_compression_loops());
    assert_eq!(st.parse_errors, 4, "{st:?}");
    let bad: Vec<_> =
        of_type(&docs, "dns").into_iter().filter(|d| d["dns"]["id"].as_u64().unwrap() >> 8 == 0x66).collect();
    assert_eq!(bad.len(), 4);
    for d in bad {
        assert_eq!(s(d, &["status"]), "Error");
        assert!(s(d, &["notes"]).contains("Malformed response"), "{d}");
    }
    assert_good_dns(&docs, "good", 12);
    assert_good_dns(&docs, "good", 14);
}

#[test]
fn length_fields_at_their_maxima_are_counted_and_real_queries_reported() {
    let (docs, st) = run(&hostile::length_fields_at_maxima());
    assert!(st.parse_errors >= 3, "{st:?}");
    // Each attack alone leaves a trace in the counters (the MySQL one used
    // to vanish: its unfinished packet was dropped uncounted at the close).
    for (port, bytes) in hostile::length_field_attacks() {
        let mut g = hostile::Gen::new();
        g.tcp_conn((hostile::good_client(20), 21000), (hostile::SERVER, port), &[(true, &bytes)]);
        let (_, st) = run_frames(&Settings::default(), LinkType::ETHERNET, &g.frames);
        let seen = st.parse_errors + st.resync_skipped_bytes + st.stream_bytes_skipped;
        assert!(seen > 0, "port {port}: {st:?}");
    }
    for (ty, query) in
        [("mysql", "select 1"), ("pgsql", "select 1"), ("mongodb", "admin.$cmd.ping()"), ("thrift", "ping()")]
    {
        let ok: Vec<_> = of_type(&docs, ty).into_iter().filter(|d| s(d, &["status"]) == "OK").collect();
        assert_eq!(ok.len(), 1, "{ty}: {docs:#?}");
        assert_eq!(s(ok[0], &["query"]), query);
    }
}

#[test]
fn deep_nesting_is_cut_and_flagged() {
    let (docs, st) = run(&hostile::deep_nesting());
    assert!(st.txn_truncated >= 1 && st.parse_errors >= 1, "{st:?}");
    let find: Vec<_> = of_type(&docs, "mongodb").into_iter().filter(|d| s(d, &["method"]) == "find").collect();
    assert_eq!(find.len(), 1);
    assert!(s(find[0], &["notes"]).contains("truncated"), "{}", find[0]);
    let deep: Vec<_> = of_type(&docs, "thrift").into_iter().filter(|d| s(d, &["method"]) == "deep").collect();
    assert_eq!(deep.len(), 1);
    assert!(s(deep[0], &["notes"]).contains("Malformed request"), "{}", deep[0]);
    for (ty, query) in [("mongodb", "admin.$cmd.ping()"), ("thrift", "ping()")] {
        let ok: Vec<_> = of_type(&docs, ty).into_iter().filter(|d| s(d, &["status"]) == "OK").collect();
        assert_eq!(ok.len(), 1, "{ty}");
        assert_eq!(s(ok[0], &["query"]), query);
    }
}

#[test]
fn vlan_stacks_beyond_the_limit_are_malformed() {
    let (docs, st) = run(&hostile::vlan_stacks());
    let walked = tapbeat_core::wire::link::MAX_VLAN_TAGS as u64;
    // Frames with more tags than the decoder walks are counted, not decoded.
    assert_eq!(st.malformed_frames + of_type(&docs, "dns").len() as u64, 40, "{st:?}");
    assert!(st.malformed_frames >= 40 - walked, "{st:?}");
    assert!(!of_type(&docs, "dns").is_empty());
    let d = http(&docs, "/good/41");
    assert_eq!(d.len(), 1);
    assert_eq!(s(d[0], &["status"]), "OK");
    assert_eq!(s(d[0], &["http", "code"]), "200");
}

#[test]
fn frames_cut_by_the_snap_length_are_counted() {
    let (docs, st) = run(&hostile::truncated_snaplen());
    assert_eq!(st.truncated_frames + st.malformed_frames, 15, "{st:?}");
    assert!(st.truncated_frames >= 5, "{st:?}");
    assert_good_http(&docs, 52);
    assert_good_dns(&docs, "good", 53);
    assert_eq!(docs.len(), 2);
}

#[test]
fn captures_are_written_as_readable_pcap_files() {
    let dir = std::env::temp_dir().join(format!("tapbeat-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let h = hostile::tcp_overlap_conflicts();
    let p = h.save(&dir).unwrap();
    let (docs, st) = tapbeat_tests::read(&p, &Settings::default());
    assert_eq!(st.packets, h.frames.len() as u64);
    assert_eq!(docs, run(&h).0);
    let cut = hostile::truncated_snaplen();
    let back = tapbeat_tests::load(&cut.save(&dir).unwrap());
    assert_eq!(back.frames, cut.frames);
    std::fs::remove_dir_all(&dir).unwrap();
}
