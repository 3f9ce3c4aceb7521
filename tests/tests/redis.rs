//! Redis end to end: Packetbeat's reference capture (counts and, field by
//! field, the document Packetbeat 1.0 wrote), and the captures recorded
//! from a real redis-server 7.0 (tests/pcaps/recorded/redis/README.md):
//! every command the clients sent is one transaction, every pushed message
//! one more, with the values Packetbeat's tests asserted.

use serde_json::Value;
use tapbeat::Settings;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, pcaps, read, s, settings_for};

fn settings(port: u16) -> Settings {
    settings_for(Protocol::Redis, &[port])
}

fn recorded(file: &str) -> Vec<Value> {
    let (docs, stats) = read(&pcaps().join("recorded/redis").join(file), &settings(6390));
    assert_eq!(stats.parse_errors, 0, "{file}");
    docs
}

fn is_push(d: &Value) -> bool {
    d["redis"]["push"] == true
}

/// `doc.redis.return_value`, or `doc.redis.error`.
fn value(d: &Value) -> String {
    let v = s(d, &["redis", "return_value"]);
    if v.is_empty() {
        s(d, &["redis", "error"])
    } else {
        v
    }
}

// ---- Packetbeat's reference captures ----

/// Fields compared with Packetbeat 1.0's documents (all it wrote except
/// `count`, `direction`, `proc`/`client_proc`, `server`/`client_server` and
/// `shipper`, which are not Redis's and come from the shared writer).
const FIELDS: &[&[&str]] = &[
    &["@timestamp"],
    &["type"],
    &["status"],
    &["client_ip"],
    &["client_port"],
    &["ip"],
    &["port"],
    &["method"],
    &["resource"],
    &["query"],
    &["bytes_in"],
    &["bytes_out"],
    &["responsetime"],
    &["redis", "return_value"],
    &["redis", "error"],
    &["notes"],
];

#[test]
fn reference_captures_match_packetbeat() {
    let dir = pcaps().join("packetbeat");
    let rows: Vec<_> = manifest(&dir.join("MANIFEST.tsv")).into_iter().filter(|r| r["protocol"] == "redis").collect();
    assert!(!rows.is_empty(), "Redis reference captures present");
    for row in rows {
        let file = &row["file"];
        let port: u16 = row["config_used_by_packetbeat_tests"].trim_start_matches("redis=").parse().unwrap();
        let (docs, stats) = read(&dir.join(file), &settings(port));
        let want: usize = row["events_asserted_by_packetbeat_8x_tests"].parse().unwrap();
        assert_eq!(docs.len(), want, "{file}: {docs:#?}");
        assert_eq!(stats.transactions_for(Protocol::Redis), want as u64, "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        let out = &row["packetbeat_1.0_output"];
        if out.is_empty() {
            continue;
        }
        let pb: Vec<Value> =
            std::fs::read_to_string(dir.join(out)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(pb.len(), docs.len(), "{file}");
        for (got, want) in docs.iter().zip(&pb) {
            for f in FIELDS {
                assert_eq!(s(got, f), s(want, f), "{file}: field {f:?}");
            }
        }
    }
}

#[test]
fn one_transaction_in_ecs_layout() {
    let mut st = settings(6380);
    st.schema = tapbeat_core::json::Schema::Ecs;
    let (docs, _) = read(&pcaps().join("packetbeat/redis_one_transaction.pcap"), &st);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    // ECS has no Redis fields: Packetbeat 8 keeps method/resource/query and
    // redis.*, beside the ECS event, source and destination.
    assert_eq!(d["event"]["dataset"], "redis");
    assert_eq!(d["event"]["outcome"], "success");
    assert_eq!(d["network"]["protocol"], "redis");
    assert_eq!(d["source"]["bytes"], 33);
    assert_eq!(d["destination"]["bytes"], 12);
    assert_eq!(d["destination"]["port"], 6380);
    assert_eq!(d["method"], "LINDEX");
    assert_eq!(d["resource"], "test");
    assert_eq!(d["query"], "lindex test 1");
    assert_eq!(d["redis"]["return_value"], "hello1");
}

#[test]
fn raw_request_and_response_on_demand() {
    let mut st = settings(6380);
    st.core.redis.common.send_request = true;
    st.core.redis.common.send_response = true;
    let (docs, _) = read(&pcaps().join("packetbeat/redis_one_transaction.pcap"), &st);
    // As Packetbeat: the command line and the rendered reply.
    assert_eq!(docs[0]["request"], "lindex test 1");
    assert_eq!(docs[0]["response"], "hello1");
    let (docs, _) = read(&pcaps().join("packetbeat/redis_one_transaction.pcap"), &settings(6380));
    assert!(docs[0].get("request").is_none() && docs[0].get("response").is_none());
}

// ---- recorded captures ----

#[test]
fn every_recorded_capture_gives_one_transaction_per_command_and_push() {
    let dir = pcaps().join("recorded/redis");
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    assert_eq!(rows.len(), 6);
    for row in rows {
        let file = &row["file"];
        let n = |k: &str| -> usize { row[k].parse().unwrap() };
        let port: u16 = row["server_port"].parse().unwrap();
        let (docs, stats) = read(&dir.join(file), &settings(port));
        assert_eq!(docs.len(), n("transactions"), "{file}");
        assert_eq!(docs.iter().filter(|d| !is_push(d)).count(), n("requests"), "{file}");
        assert_eq!(docs.iter().filter(|d| is_push(d)).count(), n("pushes"), "{file}");
        assert_eq!(docs.iter().filter(|d| d["status"] == "Error").count(), n("errors"), "{file}");
        assert_eq!(stats.transactions_for(Protocol::Redis), n("transactions") as u64, "{file}");
        for k in [stats.parse_errors, stats.tcp_gaps, stats.unmatched_requests, stats.unmatched_responses] {
            assert_eq!(k, 0, "{file}: {stats:?}");
        }
        for d in &docs {
            // Only the 172 kB COMMAND DOCS reply and the 100 kB value do not
            // fit; nothing is unanswered or unpaired.
            let notes = s(d, &["notes"]);
            let big = d["method"] == "COMMAND DOCS" || (d["resource"] == "big" && d["method"] != "DEL");
            assert_eq!(notes.is_empty(), !big, "{file}: {d}");
            if is_push(d) {
                assert!(d.get("responsetime").is_none() && d.get("query").is_none(), "{file}: {d}");
                assert_eq!(d["bytes_in"], 0);
            } else {
                assert!(d["responsetime"].is_u64(), "{file}: {d}");
                assert!(d["bytes_in"].as_u64().unwrap() > 0 && d["bytes_out"].as_u64().unwrap() > 0, "{file}: {d}");
            }
        }
    }
}

#[test]
fn session_as_packetbeat_asserted() {
    let docs = recorded("session.pcap");
    // redis-cli 7 fetches the command docs first (for its hints): a
    // 172 298-byte reply of nested arrays, cut to the text capacity.
    assert_eq!(docs[0]["method"], "COMMAND DOCS");
    assert_eq!(docs[0]["bytes_out"], 172_298);
    assert!(value(&docs[0]).starts_with("[pttl, [summary, Get the time to live for a key in milliseconds"));
    // Then Packetbeat 1.x's redis_session.pcap sequence: its test asserted
    // these values for the first and third transactions.
    let d = &docs[1];
    assert_eq!(
        (s(d, &["method"]), s(d, &["resource"]), s(d, &["query"])),
        ("SET".into(), "key3".into(), "set key3 me".into())
    );
    assert_eq!((s(d, &["status"]), s(d, &["redis", "return_value"])), ("OK".into(), "OK".into()));
    assert_eq!(docs[2]["redis"]["return_value"], "me");
    let d = &docs[3];
    assert_eq!(d["method"], "LLEN");
    assert_eq!(d["status"], "Error");
    // Redis 2.6 and later prefix this error with WRONGTYPE where the older
    // server of Packetbeat's capture said ERR; the message is the same.
    assert_eq!(d["redis"]["error"], "WRONGTYPE Operation against a key holding the wrong kind of value");
    assert!(d["redis"].get("return_value").is_none());
    let by_query = |q: &str| docs.iter().find(|d| d["query"] == q).unwrap_or_else(|| panic!("{q}"));
    assert_eq!(value(by_query("lrange list1 0 -1")), "[a, b, c]");
    assert_eq!(value(by_query("hgetall h")), "[field1, v1, field2, v2]");
    assert_eq!(value(by_query("get missing")), "nil");
    assert_eq!(value(by_query("incr counter")), "1");
    // MULTI/EXEC: each queued command pairs with QUEUED, EXEC with the
    // results; an error inside EXEC does not fail the EXEC.
    for q in ["set a 1", "incr a", "lpush a x"] {
        assert_eq!(value(by_query(q)), "QUEUED");
    }
    let exec = by_query("exec");
    assert_eq!(exec["status"], "OK");
    assert_eq!(value(exec), "[OK, 2, WRONGTYPE Operation against a key holding the wrong kind of value]");
    let cfg = by_query("config get maxmemory");
    assert_eq!((s(cfg, &["method"]), s(cfg, &["resource"])), ("CONFIG GET".into(), "maxmemory".into()));
    assert_eq!(value(cfg), "[maxmemory, 0]");
    let unknown = by_query("nosuchcommand x");
    assert_eq!(unknown["status"], "Error");
    assert!(value(unknown).starts_with("ERR unknown command 'nosuchcommand'"));
    assert_eq!(value(by_query("del key3 list1 counter h a")), "5");
}

#[test]
fn inline_commands() {
    let docs = recorded("inline.pcap");
    let got: Vec<(String, String, String)> =
        docs.iter().map(|d| (s(d, &["method"]), s(d, &["query"]), value(d))).collect();
    let want = [
        ("PING", "PING", "PONG"),
        ("SET", "SET inl \"hello world\"", "OK"),
        ("GET", "GET inl", "hello world"),
        ("EXISTS", "EXISTS inl nope", "1"),
        ("QUIT", "QUIT", "OK"),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
    assert_eq!(docs[1]["resource"], "inl");
    assert_eq!(docs[0]["bytes_in"], 6);
}

#[test]
fn pipelined_benchmark_pairs_in_order() {
    let docs = recorded("pipelined.pcap");
    assert_eq!(docs.len(), 4002);
    let sets = docs.iter().filter(|d| d["method"] == "SET").collect::<Vec<_>>();
    let gets = docs.iter().filter(|d| d["method"] == "GET").collect::<Vec<_>>();
    assert_eq!((sets.len(), gets.len()), (2000, 2000));
    // redis-benchmark sets "key:__rand_int__" to "VXK" (no -r), then reads it.
    assert!(sets.iter().all(|d| d["query"] == "SET key:__rand_int__ VXK" && value(d) == "OK"));
    assert!(gets.iter().all(|d| d["resource"] == "key:__rand_int__" && value(d) == "VXK"));
    assert!(docs.iter().all(|d| d["status"] == "OK"));
    // 16 in flight: many commands share the timestamp of their segment.
    let mut per_ts = std::collections::HashMap::<(String, String), usize>::new();
    for d in &docs {
        *per_ts.entry((s(d, &["client_port"]), s(d, &["@timestamp"]))).or_default() += 1;
    }
    assert!(per_ts.values().any(|&n| n >= 16), "pipelined segments");
    let cfg: Vec<String> = docs.iter().filter(|d| d["method"] == "CONFIG GET").map(|d| s(d, &["resource"])).collect();
    assert_eq!(cfg, ["save", "appendonly"]);
}

#[test]
fn resp2_pubsub() {
    let docs = recorded("pubsub.pcap");
    let subs: Vec<String> =
        docs.iter().filter(|d| s(d, &["method"]).ends_with("SUBSCRIBE")).map(|d| s(d, &["query"])).collect();
    assert_eq!(
        subs,
        ["PSUBSCRIBE s*", "SUBSCRIBE news sport", "SUBSCRIBE news weather", "UNSUBSCRIBE news", "UNSUBSCRIBE"]
    );
    // One confirmation per channel, collected into the one transaction.
    let sub = docs.iter().find(|d| d["query"] == "SUBSCRIBE news sport").unwrap();
    assert_eq!(value(sub), "[subscribe, news, 1], [subscribe, sport, 2]");
    assert_eq!(sub["bytes_out"], 67);
    let unsub_all = docs.iter().find(|d| d["query"] == "UNSUBSCRIBE").unwrap();
    assert_eq!(value(unsub_all), "[unsubscribe, weather, 0]");
    // Pushed messages are their own events: 3 to the redis-cli subscriber,
    // 1 pmessage to the pattern subscriber, 2 to the python one.
    let pushes: Vec<(String, String, String)> =
        docs.iter().filter(|d| is_push(d)).map(|d| (s(d, &["method"]), s(d, &["resource"]), value(d))).collect();
    assert_eq!(pushes.len(), 6);
    assert!(pushes.contains(&("PMESSAGE".into(), "sport".into(), "[pmessage, s*, sport, goal]".into())));
    assert_eq!(pushes.iter().filter(|p| p.0 == "MESSAGE" && p.1 == "news").count(), 4);
    // PING while subscribed answers with an array, after it a plain PONG.
    let pings: Vec<String> = docs.iter().filter(|d| d["method"] == "PING").map(value).collect();
    assert_eq!(pings, ["[pong, ]", "PONG"]);
    let publishes: Vec<String> = docs.iter().filter(|d| d["method"] == "PUBLISH").map(value).collect();
    assert_eq!(publishes, ["2", "2", "2"]);
}

#[test]
fn resp3_types_and_pushes() {
    let docs = recorded("resp3.pcap");
    let by_query = |q: &str| value(docs.iter().find(|d| d["query"] == q).unwrap_or_else(|| panic!("{q}")));
    assert!(by_query("HELLO 3").starts_with("{server: redis, version: 7.0.15, proto: 3, "));
    assert_eq!(by_query("HGETALL h"), "{f1: 1, f2: 2}");
    assert_eq!(by_query("SMEMBERS s"), "[y, x]");
    // The attribute describes the reply and is not part of it.
    assert_eq!(by_query("DEBUG PROTOCOL attrib"), "Some real reply following the attribute");
    assert_eq!(by_query("DEBUG PROTOCOL bignum"), "1234567999999999999999999999999999999");
    assert_eq!(by_query("DEBUG PROTOCOL verbatim"), "This is a verbatim\nstring");
    assert_eq!(by_query("DEBUG PROTOCOL double"), "3.141");
    assert_eq!(by_query("DEBUG PROTOCOL true"), "true");
    assert_eq!(by_query("DEBUG PROTOCOL false"), "false");
    assert_eq!(by_query("DEBUG PROTOCOL null"), "nil");
    assert_eq!(by_query("DEBUG PROTOCOL map"), "{0: false, 1: true, 2: false}");
    assert_eq!(by_query("DEBUG PROTOCOL set"), "[0, 1, 2]");
    // A push sent just before the reply does not take the reply's place.
    assert_eq!(by_query("DEBUG PROTOCOL push"), "Some real reply following the push reply");
    assert_eq!(by_query("SUBSCRIBE ch"), "[subscribe, ch, 1]");
    assert_eq!(by_query("UNSUBSCRIBE ch"), "[unsubscribe, ch, 0]");
    let gets: Vec<String> = docs.iter().filter(|d| d["query"] == "GET k").map(value).collect();
    assert_eq!(gets, ["v", "v2"], "a command while subscribed (RESP3) is a plain reply");
    let pushes: Vec<(String, String)> =
        docs.iter().filter(|d| is_push(d)).map(|d| (s(d, &["method"]), value(d))).collect();
    let want = [
        ("SERVER-CPU-USAGE", "[server-cpu-usage, 42]"),
        ("INVALIDATE", "[invalidate, [k]]"),
        ("MESSAGE", "[message, ch, hi]"),
        ("INVALIDATE", "[invalidate, [k]]"),
    ];
    assert_eq!(pushes, want.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[test]
fn large_value_across_segments() {
    let docs = recorded("large_value.pcap");
    assert_eq!(docs.len(), 3);
    let (set, get) = (&docs[0], &docs[1]);
    // "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$100000\r\n" + value + "\r\n".
    assert_eq!(set["bytes_in"], 100_033);
    assert_eq!(get["bytes_out"], 100_011);
    assert_eq!(set["resource"], "big");
    assert!(s(set, &["query"]).starts_with("SET big value line 00000 ......................\nvalue line 00001"));
    assert!(value(get).starts_with("value line 00000 ......................\nvalue line 00001"));
    for d in [set, get] {
        assert_eq!(d["notes"][0], "Fields truncated to their fixed capacity");
        assert_eq!(d["status"], "OK");
    }
    assert_eq!(value(&docs[2]), "1");
}
