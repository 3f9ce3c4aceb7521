//! Packetbeat's own Memcache system-test captures (tests/pcaps/packetbeat/
//! memcache), checked against the counts and values Packetbeat's tests
//! assert and, field by field, against the documents a real Packetbeat 1.0
//! wrote for the TCP ones (1.0 could not decode memcache over UDP).
//!
//! Intentional differences from Packetbeat 1.0, each checked below:
//! * `bytes_in` / `bytes_out`: 1.0's memcache analyzer swapped them (its
//!   `bytes_out` is the request size, e.g. 2086 for a 2046-byte binary set).
//!   tapbeat reports request bytes in `bytes_in`, as every other protocol.
//! * `responsetime` of a text `quit` (which has no reply): 1.0 wrote -1;
//!   tapbeat leaves the field out, as for every request without a reply.
//! * Text `VALUE` replies: 1.0 wrote `cas_unique: 0` although `get` replies
//!   carry no CAS; tapbeat writes `cas_unique` only when the server sent
//!   one (`gets`).
//! * Binary `GetK` miss: 1.0 wrote `flags: 0` although the reply had no
//!   extras; tapbeat writes `flags` only when the reply carried them.
//! * Binary `Stat` reply: 1.0 wrote `keys: ["pid"]` (the name of the first
//!   statistic, an artifact of how it merged the replies); the names are in
//!   `stats`, so tapbeat writes no `keys` there.
//! * 1.0-only fields that tapbeat does not have (`client_proc`, `proc`,
//!   `client_server`, `server`, `direction`, `shipper`) are not compared.

use serde_json::Value;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, packetbeat_10_docs, pcaps, read, s, settings_for};

fn run(file: &str) -> (Vec<Value>, tapbeat_core::Stats) {
    read(&pcaps().join("packetbeat").join(file), &settings_for(Protocol::Memcache, &[11211]))
}

/// A 1.0 document with its known mistakes undone, reduced to the fields
/// tapbeat also writes.
fn normalise_pb10(d: &Value) -> Value {
    let mut d = d.as_object().unwrap().clone();
    for k in ["client_proc", "proc", "client_server", "server", "direction", "shipper"] {
        d.remove(k);
    }
    let (bin, bout) = (d["bytes_in"].clone(), d["bytes_out"].clone());
    d.insert("bytes_in".into(), bout);
    d.insert("bytes_out".into(), bin);
    if d["responsetime"] == -1 {
        d.remove("responsetime");
    }
    let mc = d.get_mut("memcache").unwrap().as_object_mut().unwrap();
    let binary = mc["protocol_type"] == "binary";
    if let Some(resp) = mc.get_mut("response").and_then(Value::as_object_mut) {
        if !binary && resp["command"] == "VALUE" {
            assert_eq!(resp.remove("cas_unique"), Some(Value::from(0)));
        }
        if binary && resp["type"] == "Load" && resp.get("count_values").is_none() {
            resp.remove("flags");
        }
        if resp["type"] == "Stats" {
            resp.remove("keys");
        }
    }
    Value::Object(d)
}

fn tcp_rows() -> Vec<std::collections::HashMap<String, String>> {
    manifest(&pcaps().join("packetbeat/MANIFEST.tsv"))
        .into_iter()
        .filter(|r| r["protocol"] == "memcache" && r["file"].contains("_tcp_"))
        .collect()
}

#[test]
fn tcp_captures_match_packetbeat_1_0_field_by_field() {
    let rows = tcp_rows();
    assert_eq!(rows.len(), 9);
    for row in rows {
        let file = &row["file"];
        let (docs, stats) = run(file);
        let want: Vec<Value> = packetbeat_10_docs(file, None).iter().map(normalise_pb10).collect();
        let n: usize = row["events_emitted_by_packetbeat_1.0"].parse().unwrap();
        assert_eq!(docs.len(), n, "{file}");
        assert_eq!(want.len(), n, "{file}");
        // Packetbeat's tests index events: at least that many.
        let asserted = &row["events_asserted_by_packetbeat_1.0_tests"];
        if let Some(k) = asserted.strip_suffix("(indexed)").and_then(|k| k.strip_prefix(">=")) {
            assert!(docs.len() >= k.parse::<usize>().unwrap(), "{file}");
        }
        for (i, (got, want)) in docs.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "{file} event {i}");
        }
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert_eq!(stats.unmatched_requests + stats.unmatched_responses, 0, "{file}");
    }
}

/// The UDP captures hold requests only (all `noreply` / quiet), so
/// Packetbeat 1.0 wrote nothing; Packetbeat's tests assert these counts
/// and values (test_0041_memcache_udp_*).
#[test]
fn udp_captures_match_packetbeat_tests() {
    let rows: Vec<_> = manifest(&pcaps().join("packetbeat/MANIFEST.tsv"))
        .into_iter()
        .filter(|r| r["protocol"] == "memcache" && r["file"].contains("_udp_"))
        .collect();
    assert_eq!(rows.len(), 7);
    for row in rows {
        let file = &row["file"];
        let (docs, stats) = run(file);
        let want: usize = row["events_asserted_by_packetbeat_1.0_tests"].parse().unwrap();
        assert_eq!(docs.len(), want, "{file}");
        let binary = file.contains("_bin_");
        for d in &docs {
            assert_eq!(s(d, &["status"]), "OK", "{file}");
            assert_eq!(s(d, &["transport"]), "udp");
            assert_eq!(s(d, &["client_ip"]), "192.168.188.37");
            assert_eq!(s(d, &["ip"]), "192.168.188.38");
            assert_eq!(s(d, &["port"]), "11211");
            assert_eq!(s(d, &["memcache", "protocol_type"]), if binary { "binary" } else { "text" });
            if binary {
                assert_eq!(d["memcache"]["request"]["quiet"], true, "{file}");
            } else {
                assert_eq!(d["memcache"]["request"]["noreply"], true, "{file}");
            }
            assert!(d.get("notes").is_none(), "{file}: {d}");
            assert!(d["memcache"].get("response").is_none());
        }
        assert_eq!(stats.parse_errors, 0);
        assert_eq!(stats.unmatched_requests, 0);
    }
}

fn req(d: &Value, f: &str) -> Value {
    d["memcache"]["request"][f].clone()
}

#[test]
fn udp_values_asserted_by_packetbeat() {
    let (d, _) = run("memcache/memcache_bin_udp_single_store.pcap");
    assert_eq!(req(&d[0], "opcode"), "SetQ");
    assert_eq!(req(&d[0], "command"), "set");
    assert_eq!(req(&d[0], "type"), "Store");
    assert_eq!(req(&d[0], "keys"), serde_json::json!(["test_key"]));
    assert_eq!(req(&d[0], "exptime"), 0);
    assert_eq!(req(&d[0], "bytes"), 1024);
    assert_eq!(req(&d[0], "count_values"), 1);

    let (d, _) = run("memcache/memcache_text_udp_single_store.pcap");
    assert_eq!(req(&d[0], "command"), "set");
    assert_eq!(req(&d[0], "keys"), serde_json::json!(["test_key"]));
    assert_eq!(req(&d[0], "bytes"), 1024);
    assert_eq!(req(&d[0], "count_values"), 1);

    {
        let (d, _) = run("memcache/memcache_bin_udp_multi_store.pcap");
        for (k, bytes) in [("k1", 100), ("k2", 20), ("k3", 10)] {
            let doc = d.iter().find(|x| req(x, "keys")[0] == k).unwrap();
            assert_eq!(req(doc, "bytes"), bytes);
            assert_eq!(req(doc, "opcode"), "SetQ");
        }
    }

    for file in ["memcache/memcache_bin_udp_counter_ops.pcap", "memcache/memcache_text_udp_counter_ops.pcap"] {
        let (d, _) = run(file);
        let by = |c: &str| d.iter().find(|x| req(x, "command") == c).unwrap().clone();
        assert_eq!(req(&by("incr"), "delta"), 2, "{file}");
        assert_eq!(req(&by("decr"), "delta"), 5, "{file}");
        assert_eq!(req(&by("set"), "keys"), serde_json::json!(["cnt"]));
        if file.contains("_bin_") {
            assert_eq!(req(&by("incr"), "opcode"), "IncrementQ");
            assert_eq!(req(&by("decr"), "opcode"), "DecrementQ");
        }
    }
    for file in ["memcache/memcache_bin_udp_delete.pcap", "memcache/memcache_text_udp_delete.pcap"] {
        let (d, _) = run(file);
        let del = d.iter().find(|x| req(x, "command") == "delete").unwrap();
        assert_eq!(req(del, "type"), "Delete");
        assert_eq!(req(del, "keys"), serde_json::json!(["key"]));
    }
}

#[test]
fn tcp_values_asserted_by_packetbeat() {
    let (d, _) = run("memcache/memcache_bin_tcp_single_load_store.pcap");
    assert!(d.iter().all(|x| x["status"] == "OK"));
    let set = &d[0]["memcache"];
    assert_eq!(set["request"]["opaque"], set["response"]["opaque"]);
    assert!(set["response"].get("cas_unique").is_some());
    let get = &d[1]["memcache"];
    assert_eq!(get["request"]["opcode"], "GetK");
    assert_eq!(get["response"]["bytes"], 2046);
    assert_eq!(get["response"]["keys"], serde_json::json!(["test_key"]));

    let (d, _) = run("memcache/memcache_text_tcp_multi_store_load.pcap");
    assert_eq!(d[3]["memcache"]["request"]["keys"], serde_json::json!(["x", "k1", "k2", "k3", "y"]));
    assert_eq!(d[3]["memcache"]["response"]["keys"], serde_json::json!(["k1", "k2", "k3"]));
    assert_eq!(d[3]["memcache"]["response"]["bytes"], 130);
    assert_eq!(d[3]["memcache"]["response"]["count_values"], 3);

    let (d, _) = run("memcache/memcache_bin_tcp_delete.pcap");
    assert_eq!(s(&d[2], &["status"]), "Error");
    assert_eq!(s(&d[2], &["memcache", "response", "status"]), "Key not found");

    for file in ["memcache/memcache_text_tcp_stats.pcap", "memcache/memcache_bin_tcp_stats.pcap"] {
        let (d, _) = run(file);
        let st = &d[2]["memcache"];
        assert_eq!(st["request"]["command"], "stats");
        assert_eq!(st["response"]["type"], "Stats");
        let entries = st["response"]["stats"].as_array().unwrap();
        assert_eq!(entries.len(), 52, "{file}");
        assert!(entries.iter().all(|e| e["name"] != "" && e["value"] != ""));
        assert!(d[2].get("notes").is_none());
    }
}

#[test]
fn ecs_layout_keeps_memcache_names() {
    let mut st = settings_for(Protocol::Memcache, &[11211]);
    st.schema = tapbeat_core::json::Schema::Ecs;
    let (d, _) = read(&pcaps().join("packetbeat/memcache/memcache_text_tcp_counter_ops.pcap"), &st);
    assert_eq!(d.len(), 5);
    assert_eq!(d[1]["memcache"]["request"]["command"], "incr");
    assert_eq!(d[1]["memcache"]["response"]["value"], 2);
    assert_eq!(d[1]["event"]["dataset"], "memcache");
    assert_eq!(d[1]["source"]["bytes"], 12);
    assert_eq!(d[1]["destination"]["bytes"], 3);
    assert_eq!(d[4]["event"]["outcome"], "success");
}

#[test]
fn values_are_reported_when_asked() {
    let mut st = settings_for(Protocol::Memcache, &[11211]);
    st.core.memcache.maxvalues = -1;
    st.core.memcache.maxbytespervalue = 4;
    let (d, _) = read(&pcaps().join("packetbeat/memcache/memcache_text_tcp_multi_store_load.pcap"), &st);
    // k1 = 100 x 'a', k2 = 20 x 'b', k3 = 10 x 'c'; 4 bytes kept each, base64.
    assert_eq!(d[3]["memcache"]["response"]["values"], serde_json::json!(["YWFhYQ==", "YmJiYg==", "Y2NjYw=="]));
    assert_eq!(d[0]["memcache"]["request"]["values"], serde_json::json!(["Y2NjYw=="]));
    st.core.memcache.maxvalues = 1;
    st.core.memcache.maxbytespervalue = 0;
    let (d, _) = read(&pcaps().join("packetbeat/memcache/memcache_text_tcp_multi_store_load.pcap"), &st);
    let vals = d[3]["memcache"]["response"]["values"].as_array().unwrap();
    assert_eq!(vals.len(), 1);
    assert_eq!(vals[0].as_str().unwrap().len(), 100 / 3 * 4 + 4);
}
