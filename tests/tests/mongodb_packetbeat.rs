//! Packetbeat's own MongoDB system-test captures (tests/pcaps/packetbeat),
//! checked against the counts Packetbeat's tests assert and, field by
//! field, against the documents a real Packetbeat 1.0 wrote for them.
//! Where tapbeat differs from 1.0 on purpose, the test says why.

use serde_json::Value;
use tapbeat::Settings;
use tapbeat_core::json::Schema;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, packetbeat_10_docs, pcaps, read, s, settings_for};

fn settings(port: u16) -> Settings {
    settings_for(Protocol::Mongodb, &[port])
}

fn run_with(file: &str, st: &Settings) -> (Vec<Value>, tapbeat_core::Stats) {
    read(&pcaps().join("packetbeat").join(file), st)
}

fn run(file: &str) -> Vec<Value> {
    run_with(file, &settings(27017)).0
}

/// Fields compared as they are with Packetbeat 1.0's documents.
const FIELDS: &[&[&str]] = &[
    &["@timestamp"],
    &["type"],
    &["status"],
    &["client_ip"],
    &["client_port"],
    &["ip"],
    &["port"],
    &["bytes_in"],
    &["bytes_out"],
    &["responsetime"],
    &["resource"],
    &["mongodb", "cursorId"],
    &["mongodb", "fullCollectionName"],
    &["mongodb", "numberReturned"],
    &["mongodb", "numberToReturn"],
    &["mongodb", "numberToSkip"],
    &["mongodb", "startingFrom"],
];

/// The arguments inside `resource.method(...)` of a `query`, as JSON.
fn query_args(q: &str) -> Option<Value> {
    // Drop `.skip(n)` / `.limit(n)` first.
    let mut q = q;
    for suffix in [".limit(", ".skip("] {
        if let Some(i) = q.rfind(suffix) {
            let tail = &q[i + suffix.len()..];
            if tail.ends_with(')') && tail[..tail.len() - 1].bytes().all(|c| c.is_ascii_digit()) {
                q = &q[..i];
            }
        }
    }
    let open = q.find('(')?;
    let close = q.rfind(')')?;
    let args = &q[open + 1..close];
    if args.is_empty() {
        None
    } else {
        serde_json::from_str(args).ok()
    }
}

/// The count expected for each capture, and why when it is not what
/// Packetbeat's tests assert.
fn expected(file: &str, row_count: &str) -> usize {
    match file {
        // 8.x asserts ">=1 (indexed)": these are the request/reply pairs on
        // the wire (4 for create_collection, 2 for find, 5 for inserts),
        // which is also what Packetbeat 1.0 reported.
        "mongodb_create_collection.pcap" => 4,
        "mongodb_find.pcap" => 2,
        "mongodb_inserts.pcap" => 5,
        // 101 OP_MSG requests, each answered (tshark: 101 requests, 101
        // replies on two connections); 8.x asserts only ">=1".
        "mongodb_op_msg_opcode.pcap" => 101,
        // The capture starts with a reply to a request sent before it
        // began: tapbeat reports it ("Unmatched response") besides the
        // buildinfo transaction; 1.0 dropped it silently.
        "mongodb_reply_request_reply.pcap" => 2,
        // Three connections, each sending one message with opcode 2269:
        // each connection reports it once (a malformed request with
        // `mongodb.opcode`). Packetbeat's test counts log lines instead.
        "mongodb_invalid_opcode_2269.pcap" => 3,
        _ => row_count
            .split([',', ' '])
            .next()
            .unwrap()
            .trim_start_matches(">=")
            .trim_end_matches("(indexed)")
            .parse()
            .unwrap(),
    }
}

#[test]
fn every_manifest_capture_matches_packetbeat() {
    let dir = pcaps().join("packetbeat");
    let rows: Vec<_> = manifest(&dir.join("MANIFEST.tsv")).into_iter().filter(|r| r["protocol"] == "mongodb").collect();
    assert_eq!(rows.len(), 10, "MongoDB captures present");
    for row in rows {
        let file = &row["file"];
        let port: u16 = row["config_used_by_packetbeat_tests"].trim_start_matches("mongodb=").parse().unwrap();
        let (docs, stats) = run_with(file, &settings(port));
        let want_n = expected(file, &row["events_asserted_by_packetbeat_8x_tests"]);
        assert_eq!(docs.len(), want_n, "{file}: {docs:#?}");
        assert_eq!(stats.transactions_total(), want_n as u64, "{file}");
        assert!(docs.iter().all(|d| d["type"] == "mongodb"), "{file}");
        if row["packetbeat_1.0_output"].is_empty() {
            continue;
        }
        for want in packetbeat_10_docs(file, Some("mongodb")) {
            let got = docs
                .iter()
                .find(|d| d["@timestamp"] == want["@timestamp"] && d["client_port"] == want["client_port"])
                .unwrap_or_else(|| panic!("{file}: no document like {want}"));
            for f in FIELDS {
                assert_eq!(s(got, f), s(&want, f), "{file}: field {f:?}");
            }
            let (gm, wm) = (s(got, &["method"]), s(&want, &["method"]));
            if wm == "otherCommand" {
                // 1.0 named a command only when it was in its list and its
                // value a string or the double 1. This `buildinfo: 1` is an
                // int32: 1.0 fell back to "otherCommand". A command is named
                // by the first key of its document; tapbeat reports that.
                assert_eq!(gm, "buildinfo", "{file}");
                assert_eq!(s(got, &["query"]), s(&want, &["query"]).replace("otherCommand", "buildinfo"));
                continue;
            }
            assert_eq!(gm, wm, "{file}: method");
            let (gq, wq) = (s(got, &["query"]), s(&want, &["query"]));
            // Arguments are compared as JSON: 1.0 went through Go maps and
            // so sorted keys; tapbeat keeps the document's order (which
            // MongoDB defines as meaningful).
            assert_eq!(query_args(&gq), query_args(&wq), "{file}: query {gq} vs {wq}");
            assert_eq!(gq.split('(').next(), wq.split('(').next(), "{file}: query");
            assert_eq!(gq.rsplit(')').next(), wq.rsplit(')').next(), "{file}: query suffix");
            let (ge, we) = (s(got, &["mongodb", "error"]), s(&want, &["mongodb", "error"]));
            if we.is_empty() {
                assert_eq!(ge, "", "{file}: error");
            } else {
                let (g, w): (Value, Value) = (serde_json::from_str(&ge).unwrap(), serde_json::from_str(&we).unwrap());
                assert_eq!(g, w, "{file}: error");
            }
            // Not in tapbeat's documents: 1.0's `direction`, `proc`,
            // `client_proc`, `server`, `client_server`, `shipper` (process
            // and sensor attribution are not the analyzer's).
            assert!(got.get("notes").is_none(), "{file}: {got}");
        }
    }
}

#[test]
fn find_one_has_no_raw_text_by_default() {
    // test_mongodb_find_one
    let docs = run("mongo_one_row.pcap");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["method"], "find");
    assert!(docs[0].get("request").is_none());
    assert!(docs[0].get("response").is_none());
}

fn raw_settings() -> Settings {
    let mut st = settings(27017);
    st.core.mongodb.common.send_request = true;
    st.core.mongodb.common.send_response = true;
    st
}

#[test]
fn send_request_and_response() {
    // test_mongodb_send_response
    let (docs, _) = run_with("mongo_one_row.pcap", &raw_settings());
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["request"], "test.restaurants.find().limit(1)");
    let response = s(d, &["response"]);
    assert_eq!(response.lines().count(), 1);
    let first: Value = serde_json::from_str(&response).expect("a document per line");
    assert_eq!(first["name"], "Morris Park Bake Shop");
    assert_eq!(first["_id"], "558bebb45f075665d2ae8627");
    assert_eq!(first["grades"][0]["date"], "2014-03-03T00:00:00Z");
    assert_eq!(d["bytes_in"], 50);
    assert_eq!(d["bytes_out"], 514);
    assert!(d.get("notes").is_none(), "{d}");
}

#[test]
fn more_rows_keep_one_line_per_document() {
    // test_mongodb_send_response_more_rows: max_docs 0 gives 101 lines.
    // Packetbeat keeps every document whole; tapbeat's response text has a
    // fixed capacity, so the documents that do not fit are cut (" ..."),
    // still one line each, and the transaction is flagged truncated.
    let mut st = raw_settings();
    st.core.mongodb.max_docs = 0;
    let (docs, stats) = run_with("mongodb_more_rows.pcap", &st);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    let response = s(d, &["response"]);
    let lines: Vec<&str> = response.lines().collect();
    assert_eq!(lines.len(), 101);
    assert_eq!(d["mongodb"]["numberReturned"], 101);
    assert!(serde_json::from_str::<Value>(lines[0]).is_ok(), "first document whole: {}", lines[0]);
    assert!(lines.iter().all(|l| serde_json::from_str::<Value>(l).is_ok() || l.ends_with(" ...")));
    assert_eq!(d["notes"][0], "Fields truncated to their fixed capacity");
    assert_eq!(stats.txn_truncated, 1);
}

#[test]
fn max_docs_is_respected() {
    // test_max_docs_setting: 10 documents and the "[...]" line.
    let mut st = raw_settings();
    st.core.mongodb.max_docs = 10;
    let (docs, _) = run_with("mongodb_more_rows.pcap", &st);
    let response = s(&docs[0], &["response"]);
    let lines: Vec<&str> = response.lines().collect();
    assert_eq!(lines.len(), 11);
    assert_eq!(lines[10], "[...]");
}

#[test]
fn max_doc_length_is_respected() {
    // test_max_doc_length_setting: every line under 15 characters.
    let mut st = raw_settings();
    st.core.mongodb.max_doc_length = 10;
    let (docs, _) = run_with("mongodb_more_rows.pcap", &st);
    let response = s(&docs[0], &["response"]);
    assert_eq!(response.lines().count(), 11);
    assert!(response.lines().all(|l| l.len() < 15), "{response}");
    assert!(response.lines().take(10).all(|l| l.ends_with(" ...")));
    // A cut asked for by the configuration is not a capacity truncation.
    assert!(docs[0].get("notes").is_none(), "{}", docs[0]);
}

#[test]
fn inserts_are_named() {
    // test_mongodb_inserts
    let docs = run("mongodb_inserts.pcap");
    assert_eq!(docs[1]["method"], "insert");
    assert_eq!(docs[1]["resource"], "testDB.testCollection");
    assert_eq!(docs[1]["query"], "testDB.testCollection.insert({\"ordered\":true})");
}

#[test]
fn write_errors_set_error_status() {
    // test_write_errors
    let docs = run("mongodb_insert_duplicate_key.pcap");
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["method"], "insert");
    assert_eq!(d["status"], "Error");
    let err: Value = serde_json::from_str(&s(d, &["mongodb", "error"])).unwrap();
    assert_eq!(err[0]["code"], 11000);
    // Full request with send_request: the inserted documents are there.
    let (docs, _) = run_with("mongodb_insert_duplicate_key.pcap", &raw_settings());
    let req = s(&docs[0], &["request"]);
    let args = query_args(&req).unwrap();
    assert_eq!(args["documents"][0]["test_col"], 1);
    assert_eq!(args["ordered"], true);
}

#[test]
fn reply_before_request_and_response_time() {
    // test_request_after_reply: the first document is the paired one.
    let docs = run("mongodb_reply_request_reply.pcap");
    assert_eq!(docs[0]["type"], "mongodb");
    assert!(docs[0]["responsetime"].as_u64().is_some());
    assert_eq!(docs[1]["notes"][0], "Unmatched response");
    assert_eq!(docs[1]["status"], "Error");
    assert_eq!(docs[1]["bytes_out"], 323);
}

#[test]
fn op_msg_is_decoded() {
    // test_opmsg: OP_MSG (2013) decoded, no unknown opcode.
    let (docs, stats) = run_with("mongodb_op_msg_opcode.pcap", &settings(9991));
    assert_eq!(stats.parse_errors, 0);
    let heartbeats: Vec<&Value> = docs.iter().filter(|d| d["method"] == "replSetHeartbeat").collect();
    let hellos: Vec<&Value> = docs.iter().filter(|d| d["method"] == "ismaster").collect();
    assert_eq!(heartbeats.len(), 78);
    assert_eq!(hellos.len(), 23);
    // Every heartbeat reply is `ok: 0` with an errmsg: an error.
    for h in &heartbeats {
        assert_eq!(h["status"], "Error");
        assert_eq!(h["mongodb"]["error"], "Our replica set configuration is invalid or does not include us");
        assert_eq!(h["bytes_in"], 261);
        assert_eq!(h["bytes_out"], 493);
    }
    for h in &hellos {
        assert_eq!(h["status"], "OK", "{h}");
        assert_eq!(h["resource"], "admin.$cmd");
    }
}

#[test]
fn unknown_opcode_is_reported_once_per_connection() {
    // test_unknown_opcode_flood
    let (docs, stats) = run_with("mongodb_invalid_opcode_2269.pcap", &settings(27017));
    assert_eq!(docs.len(), 3);
    let mut ports: Vec<u64> = docs.iter().map(|d| d["client_port"].as_u64().unwrap()).collect();
    ports.dedup();
    assert_eq!(ports.len(), 3, "one report per connection");
    for d in &docs {
        assert_eq!(d["mongodb"]["opcode"], 2269);
        assert_eq!(d["notes"][0], "Malformed request");
        assert_eq!(d["bytes_in"], 93);
    }
    assert_eq!(stats.parse_errors, 3);
}

#[test]
fn ecs_layout() {
    let mut st = settings(27017);
    st.schema = Schema::Ecs;
    let (docs, _) = run_with("mongodb_insert_duplicate_key.pcap", &st);
    let d = &docs[0];
    assert_eq!(d["event"]["dataset"], "mongodb");
    assert_eq!(d["event"]["outcome"], "failure");
    assert_eq!(d["method"], "insert");
    assert_eq!(d["resource"], "test.restaurants");
    assert!(s(d, &["error", "message"]).contains("E11000"));
    assert_eq!(d["source"]["bytes"], 238);
    assert_eq!(d["mongodb"]["numberReturned"], 1);
}
