//! Captures recorded by the project from a real server (dnsmasq queried by
//! dig on loopback; see tests/pcaps/recorded/dns/README.md): every query
//! dig sent is one transaction, answered ones with the response codes dig
//! printed, in order, and unanswered ones reported as such.

use serde_json::Value;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, pcaps, read, s, settings_for};

fn dir() -> std::path::PathBuf {
    pcaps().join("recorded/dns")
}

fn run(file: &str) -> Vec<Value> {
    read(&dir().join(file), &settings_for(Protocol::Dns, &[53])).0
}

fn answers(doc: &Value) -> &Vec<Value> {
    doc["dns"]["answers"].as_array().unwrap_or_else(|| panic!("no answers: {doc}"))
}

#[test]
fn every_recorded_capture_gives_one_transaction_per_query() {
    let rows = manifest(&dir().join("MANIFEST.tsv"));
    assert_eq!(rows.len(), 6);
    for row in rows {
        let file = &row["file"];
        let n = |k: &str| -> usize { row[k].parse().unwrap() };
        let port: u16 = row["server_port"].parse().unwrap();
        let (docs, stats) = read(&dir().join(file), &settings_for(Protocol::Dns, &[port]));
        assert_eq!(docs.len(), n("queries"), "{file}: {docs:#?}");
        assert_eq!(docs.len(), n("transactions"), "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert_eq!(stats.tcp_gaps, 0, "{file}");
        assert_eq!(stats.unmatched_responses, 0, "{file}");
        assert_eq!(stats.unmatched_requests, n("unanswered") as u64, "{file}");
        let (unanswered, answered): (Vec<&Value>, Vec<&Value>) =
            docs.iter().partition(|d| s(d, &["notes"]).contains("Unmatched request"));
        assert_eq!(unanswered.len(), n("unanswered"), "{file}");
        assert_eq!(answered.len(), n("responses"), "{file}");
        for d in &unanswered {
            assert_eq!(d["status"], "Error");
            assert_eq!(d["bytes_out"], 0);
            assert!(d.get("responsetime").is_none());
        }
        // dig prints the TCP answer only of a query retried after a
        // truncated UDP answer: compare its codes and questions with the
        // answers that are not truncated.
        let shown: Vec<&&Value> = answered.iter().filter(|d| d["dns"]["flags"]["truncated_response"] != true).collect();
        let codes: Vec<String> = shown.iter().map(|d| s(d, &["dns", "response_code"])).collect();
        assert_eq!(codes.join(","), row["response_codes"], "{file}");
        let questions: Vec<String> = shown
            .iter()
            .map(|d| format!("{} {}", s(d, &["dns", "question", "type"]), s(d, &["dns", "question", "name"])))
            .collect();
        assert_eq!(questions.join(","), row["questions"], "{file}");
        for d in &answered {
            let nx = d["dns"]["response_code"] != "NOERROR";
            assert_eq!(d["status"], if nx { "Error" } else { "OK" }, "{file}: {d}");
            assert_eq!(d["client_ip"], "127.0.0.1");
            assert_eq!(d["port"], 53);
            assert!(d["bytes_in"].as_u64().unwrap() > 12 && d["bytes_out"].as_u64().unwrap() > 12);
        }
        let transports: Vec<String> = docs.iter().map(|d| s(d, &["transport"])).collect();
        match row["transport"].as_str() {
            "udp+tcp" => assert_eq!(transports, ["udp", "tcp"]),
            t => assert!(transports.iter().all(|x| x == t), "{file}: {transports:?}"),
        }
    }
}

#[test]
fn record_types_from_a_real_server() {
    let docs = run("udp_types.pcap");
    let by_query = |q: &str| docs.iter().find(|d| d["query"] == q).unwrap_or_else(|| panic!("{q}"));
    let a = answers(by_query("class IN, type A, www.example.test"));
    assert_eq!((a.len(), s(&a[0], &["data"]), s(&a[0], &["ttl"])), (1, "192.0.2.10".into(), "3600".into()));
    assert_eq!(answers(by_query("class IN, type AAAA, www.example.test"))[0]["data"], "2001:db8::10");
    // A CNAME chain: the alias, then the address of its target.
    let a = answers(by_query("class IN, type A, alias.example.test"));
    assert_eq!(a[0]["type"], "CNAME");
    assert_eq!(a[0]["data"], "www.example.test");
    assert_eq!(a[1]["name"], "www.example.test");
    assert_eq!(a[1]["data"], "192.0.2.10");
    let mx: Vec<(u64, String)> = answers(by_query("class IN, type MX, example.test"))
        .iter()
        .map(|r| (r["preference"].as_u64().unwrap(), s(r, &["data"])))
        .collect();
    assert_eq!(mx, [(20, "mail2.example.test".into()), (10, "mail.example.test".into())]);
    // Two character-strings, joined by a space (as Packetbeat 8.x does).
    assert_eq!(answers(by_query("class IN, type TXT, example.test"))[0]["data"], "v=spf1 mx -all second string");
    let srv = &answers(by_query("class IN, type SRV, _sip._tcp.example.test"))[0];
    assert_eq!(
        (s(srv, &["data"]), &srv["port"], &srv["priority"], &srv["weight"]),
        ("sip.example.test".into(), &Value::from(5060), &Value::from(10), &Value::from(20))
    );
    let ptr = by_query("class IN, type PTR, 25.2.0.192.in-addr.arpa");
    assert_eq!(answers(ptr)[0]["data"], "mail.example.test");
    assert_eq!(ptr["resource"], "25.2.0.192.in-addr.arpa");
    let nx = by_query("class IN, type A, nothere.example.test");
    assert_eq!((s(nx, &["status"]), s(nx, &["dns", "response_code"])), ("Error".into(), "NXDOMAIN".into()));
    assert!(nx["dns"].get("answers").is_none());
    assert_eq!(answers(by_query("class IN, type CAA, example.test"))[0]["data"], "0 issue \"ca.example.net\"");
    let ds = &answers(by_query("class IN, type DS, example.test"))[0];
    assert_eq!(ds["key_tag"], 0xEA3D);
    assert_eq!(ds["algorithm"], "RSASHA256");
    assert_eq!(ds["digest_type"], "SHA-256");
    assert_eq!(ds["data"], "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90");
    let key = &answers(by_query("class IN, type DNSKEY, example.test"))[0];
    assert_eq!((&key["flags"], &key["protocol"]), (&Value::from(257), &Value::from(3)));
    assert_eq!(key["algorithm"], "ECDSAP256SHA256");
    assert_eq!(key["data"], "TVp6WmtsbW5vcHFyc3R1dnd4eXpBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWjAxMjM0NTY3ODkrLw==");
    let sig = &answers(by_query("class IN, type RRSIG, signed.example.test"))[0];
    assert_eq!(sig["type_covered"], "A");
    assert_eq!(sig["signer_name"], "example.test");
    assert_eq!(sig["original_ttl"], 300);
    assert_eq!(sig["expiration"], "20240111144936");
    let nsec = &answers(by_query("class IN, type NSEC, signed.example.test"))[0];
    assert_eq!(nsec["data"], "www.example.test");
    assert_eq!(nsec["type_bits"], "A MX RRSIG NSEC");
    let chaos = by_query("class CH, type TXT, version.bind");
    assert_eq!(answers(chaos)[0]["class"], "CH");
    assert!(answers(chaos)[0]["data"].as_str().unwrap().starts_with("dnsmasq-"));
}

#[test]
fn edns_and_its_absence() {
    let docs = run("udp_edns.pcap");
    let opt = &docs[0]["dns"]["opt"];
    // dig asked with DO and 4096; dnsmasq answers with its own 1232 and DO.
    assert_eq!(
        (&opt["do"], &opt["udp_size"], &opt["version"]),
        (&Value::from(true), &Value::from(1232), &Value::from(0))
    );
    assert!(docs[1]["dns"].get("opt").is_none());
    assert_eq!(docs[1]["dns"]["additionals_count"], 0);
}

#[test]
fn several_queries_on_one_tcp_connection() {
    let docs = run("tcp_keepopen.pcap");
    assert_eq!(docs.len(), 6);
    assert!(docs.iter().all(|d| d["client_port"] == docs[0]["client_port"] && d["transport"] == "tcp"));
    let ids: std::collections::HashSet<String> = docs.iter().map(|d| s(d, &["dns", "id"])).collect();
    assert_eq!(ids.len(), 6, "each query its own ID");
    let docs = run("tcp_separate.pcap");
    let ports: std::collections::HashSet<String> = docs.iter().map(|d| s(d, &["client_port"])).collect();
    assert_eq!(ports.len(), 3, "one connection per query");
}

#[test]
fn truncated_udp_answer_then_long_tcp_answer() {
    let docs = run("truncated_retry.pcap");
    let (udp, tcp) = (&docs[0], &docs[1]);
    assert_eq!(udp["dns"]["flags"]["truncated_response"], true);
    assert_eq!(udp["status"], "OK");
    assert!(udp.get("notes").is_none());
    // The 5 KB TCP answer is longer than a 4 KiB stream block: decoded as
    // far as the block goes, flagged, the true counts kept.
    assert_eq!(tcp["dns"]["flags"]["truncated_response"], false);
    assert_eq!(tcp["dns"]["answers_count"], 24);
    assert!(tcp["bytes_out"].as_u64().unwrap() > 4096);
    assert_eq!(tcp["notes"], serde_json::json!(["Fields truncated to their fixed capacity"]));
    let a = answers(tcp);
    assert!(a.len() >= 10 && a.len() <= tapbeat_core::proto::dns::MAX_ANSWERS, "{}", a.len());
    assert!(a.iter().all(|r| !r["data"].as_str().unwrap().is_empty()));
    // Each string is a two-digit number and 199 'x' (dnsmasq's order).
    assert!(a.iter().take(10).all(|r| r["data"].as_str().unwrap()[2..] == "x".repeat(199)));
}

#[test]
fn unanswered_queries_are_reported_with_an_error_status() {
    let docs = run("unanswered.pcap");
    let lost: Vec<&Value> = docs.iter().filter(|d| d["status"] == "Error").collect();
    assert_eq!(lost.len(), 2);
    for d in lost {
        assert_eq!(d["ip"], "127.0.0.2");
        assert_eq!(d["notes"], serde_json::json!(["Unmatched request"]));
        assert_eq!(d["dns"]["question"]["class"], "IN");
    }
}
