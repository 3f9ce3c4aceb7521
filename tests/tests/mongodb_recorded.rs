//! MongoDB captures recorded by tests/pcaps/recorded/record-mongodb.sh
//! (pymongo and hand-built clients against a small wire-protocol server):
//! tapbeat must report exactly one transaction per request the client sent
//! (an unknown opcode once per connection), with the methods, errors and
//! counts the server's message log says (MANIFEST.tsv).

use std::collections::HashMap;

use serde_json::Value;
use tapbeat::Settings;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, pcaps, read, s, settings_for};

fn rows() -> Vec<HashMap<String, String>> {
    manifest(&pcaps().join("recorded/mongodb/MANIFEST.tsv"))
}

fn settings(port: u16) -> Settings {
    settings_for(Protocol::Mongodb, &[port])
}

fn num(row: &HashMap<String, String>, col: &str) -> usize {
    row[col].parse().unwrap_or_else(|_| panic!("column {col}"))
}

fn run(file: &str) -> (Vec<Value>, tapbeat_core::Stats) {
    read(&pcaps().join("recorded/mongodb").join(file), &settings(27017))
}

/// The method tapbeat reports, in the manifest's notation: `-` when the
/// request was compressed with zstd (not decoded), `?N` for an unknown
/// opcode.
fn method(d: &Value) -> String {
    if let Some(op) = d["mongodb"]["opcode"].as_i64() {
        return format!("?{op}");
    }
    match d.get("method") {
        Some(m) => m.as_str().unwrap().to_string(),
        None => "-".to_string(),
    }
}

#[test]
fn one_transaction_per_request() {
    let rows = rows();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let file = &row["file"];
        let (docs, stats) = run(file);
        let n = num(row, "transactions");
        assert_eq!(docs.len(), n, "{file}: {docs:#?}");
        assert_eq!(stats.transactions_total(), n as u64, "{file}");
        // Requests = transactions + repeated unknown opcodes (reported once).
        let unknown = num(row, "unknown_opcode_messages");
        let unknown_reports = docs.iter().filter(|d| d["mongodb"]["opcode"].is_number()).count();
        assert_eq!(num(row, "requests"), n + unknown - unknown_reports, "{file}");
        assert_eq!(stats.parse_errors, unknown as u64, "{file}");
        // The methods, as a multiset (request-only transactions are
        // reported when the request ends, paired ones when the reply does).
        let mut want: Vec<String> = row["methods"].split(',').map(str::to_string).collect();
        let mut got: Vec<String> = docs.iter().map(method).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{file}");
        // Every reply is paired: none is reported alone, and exhaust
        // continuations are not transactions.
        assert_eq!(stats.unmatched_responses, 0, "{file}");
        assert!(docs.iter().all(|d| !s(d, &["notes"]).contains("Unmatched response")), "{file}");
        // Every request that expects no reply is known as such, even when
        // its flag is inside a compressed body: none is left unanswered.
        assert_eq!(stats.unmatched_requests, 0, "{file}");
        let alone = docs.iter().filter(|d| d["bytes_out"] == 0).count();
        assert_eq!(alone, num(row, "no_reply") + unknown_reports, "{file}");
        // Errors the server reported.
        let errors = docs
            .iter()
            .filter(|d| d["status"] == "Error" && !d["mongodb"]["opcode"].is_number() && d.get("notes").is_none())
            .count();
        assert_eq!(errors, num(row, "error_replies"), "{file}");
        assert!(
            docs.iter()
                .all(|d| d["mongodb"]["error"].is_string() == (d["status"] == "Error" && d.get("notes").is_none())),
            "{file}"
        );
        // Compressed requests are marked (and, but for zstd, decoded).
        let compressed = docs.iter().filter(|d| d["mongodb"]["compressor"].is_string()).count();
        assert_eq!(compressed, num(row, "compressed"), "{file}");
        assert_eq!(stats.txn_truncated, 0, "{file}");
    }
}

#[test]
fn pymongo_crud_fields() {
    let (docs, _) = run("pymongo_crud.pcap");
    let by = |m: &str| docs.iter().filter(|d| d["method"] == m).collect::<Vec<_>>();
    // Handshakes (monitor and application connection): pymongo 4.20 sends
    // them as OP_MSG, so there is no legacy fullCollectionName.
    let hellos = by("ismaster");
    assert_eq!(hellos.len(), 2);
    for h in hellos {
        assert_eq!(h["resource"], "admin.$cmd");
        assert!(h["mongodb"].get("fullCollectionName").is_none());
    }
    let inserts = by("insert");
    assert_eq!(inserts.len(), 4);
    assert!(inserts.iter().all(|d| d["resource"] == "shop.items" || d["resource"] == "shop.log"));
    let dup = inserts.iter().find(|d| d["status"] == "Error").expect("duplicate key insert");
    let err: Value = serde_json::from_str(&s(dup, &["mongodb", "error"])).unwrap();
    assert_eq!(err[0]["code"], 11000);
    // The w=0 insert: moreToCome, reported alone, no reply bytes.
    let w0 = inserts.iter().find(|d| d["resource"] == "shop.log").unwrap();
    assert_eq!(w0["bytes_out"], 0);
    assert!(w0.get("responsetime").is_none());
    assert_eq!(w0["query"], "shop.log.insert({\"ordered\":true,\"writeConcern\":{\"w\":0}})");
    // A cursor over 6 documents in batches of 2: find then two getMores.
    let find = by("find");
    assert_eq!(find[0]["mongodb"]["numberReturned"], 2);
    assert_eq!(find[0]["mongodb"]["cursorId"], 7001);
    let more = by("getMore");
    assert_eq!(more.len(), 2);
    assert_eq!(more[1]["mongodb"]["cursorId"], 0);
    assert_eq!(more[0]["resource"], "shop.items");
    let unknown = &by("frobnicate")[0];
    assert_eq!(unknown["status"], "Error");
    assert_eq!(unknown["mongodb"]["error"], "no such command: 'frobnicate'");
    assert_eq!(by("endSessions")[0]["resource"], "admin.$cmd");
}

#[test]
fn zlib_traffic_reads_like_plain_traffic() {
    // The same client with compressors=zlib: after the handshakes every
    // message is compressed; decoding their beginning gives the same
    // transactions (and the moreToCome of the w=0 insert).
    let strip = |docs: Vec<Value>| -> Vec<(String, String, String, String)> {
        docs.iter()
            .map(|d| (s(d, &["method"]), s(d, &["query"]), s(d, &["status"]), s(d, &["mongodb", "numberReturned"])))
            .collect()
    };
    let (plain, _) = run("pymongo_crud.pcap");
    let (zlib, stats) = run("pymongo_zlib.pcap");
    assert_eq!(strip(zlib.clone()), strip(plain));
    assert_eq!(zlib.iter().filter(|d| d["mongodb"]["compressor"] == "zlib").count(), 14);
    assert_eq!(stats.unmatched_requests, 0);
}

#[test]
fn legacy_opcodes_fields() {
    let (docs, _) = run("wire_legacy.pcap");
    let find = docs.iter().find(|d| d["method"] == "find").unwrap();
    assert_eq!(find["query"], "old.things.find().skip(1).limit(3)");
    assert_eq!(find["mongodb"]["numberToSkip"], 1);
    assert_eq!(find["mongodb"]["numberReturned"], 3);
    let more = docs.iter().find(|d| d["method"] == "getMore").unwrap();
    assert_eq!(more["mongodb"]["cursorId"], find["mongodb"]["cursorId"]);
    let update = docs.iter().find(|d| d["method"] == "update").unwrap();
    assert_eq!(update["mongodb"]["selector"], "{\"_id\":2}");
    assert_eq!(update["mongodb"]["update"], "{\"$set\":{\"v\":\"updated\"}}");
    let delete = docs.iter().find(|d| d["method"] == "delete").unwrap();
    assert_eq!(delete["mongodb"]["selector"], "{\"_id\":3}");
    let failed = docs.iter().find(|d| d["status"] == "Error").unwrap();
    assert_eq!(failed["mongodb"]["error"], "unknown operator: $bad");
    let msg = docs.iter().find(|d| d["method"] == "msg").unwrap();
    assert_eq!(msg["mongodb"]["message"], "hello from a 2010 driver");
    assert_eq!(docs.iter().find(|d| d["method"] == "killCursors").unwrap()["query"], "killCursors()");
    // With send_request, the query documents and inserted documents show.
    let mut st = settings(27017);
    st.core.mongodb.common.send_request = true;
    let (docs, _) = read(&pcaps().join("recorded/mongodb/wire_legacy.pcap"), &st);
    let ins = docs.iter().find(|d| d["method"] == "insert").unwrap();
    assert!(s(ins, &["request"]).starts_with("old.things.insert({\"documents\":[{\"_id\":1,\"v\":\"x\"}"), "{ins}");
    let find = docs.iter().find(|d| d["method"] == "find").unwrap();
    assert_eq!(find["mongodb"]["returnFieldsSelector"], "{\"v\":1}");
}

#[test]
fn op_msg_corners() {
    let mut st = settings(27017);
    st.core.mongodb.common.send_response = true;
    st.core.mongodb.max_docs = 0;
    let (docs, _) = read(&pcaps().join("recorded/mongodb/wire_op_msg.pcap"), &st);
    // The checksummed insert with a document sequence.
    let ins = docs.iter().find(|d| d["method"] == "insert").unwrap();
    assert_eq!(ins["query"], "wire.demo.insert({\"ordered\":true})");
    // Exhaust: one getMore, three replies, one transaction.
    let gm: Vec<_> = docs.iter().filter(|d| d["method"] == "getMore").collect();
    assert_eq!(gm.len(), 1);
    assert_eq!(gm[0]["resource"], "demo.c");
    // noop compression is decoded, zlib from the beginning of the body.
    let noop = docs.iter().find(|d| d["mongodb"]["compressor"] == "noop").unwrap();
    assert_eq!(noop["method"], "find");
    let zlib = docs.iter().find(|d| d["mongodb"]["compressor"] == "zlib").unwrap();
    assert_eq!(zlib["query"], "wire.demo.count()");
    // The 50 KB reply in ~35 segments: 300 documents counted, the response
    // text holds what fits and says so.
    let big = docs.iter().find(|d| d["resource"] == "wire.big" && d["method"] == "find").unwrap();
    assert_eq!(big["mongodb"]["numberReturned"], 300);
    assert!(big["bytes_out"].as_u64().unwrap() > 49_000);
    assert_eq!(big["notes"][0], "Fields truncated to their fixed capacity");
    // One reply document (the cursor), cut where the arena ends.
    let response = s(big, &["response"]);
    assert_eq!(response.lines().count(), 1);
    assert!(response.starts_with("{\"cursor\":{\"firstBatch\":[{\"_id\":1000,"), "{response}");
    assert!(response.ends_with(" ..."));
    // The header cut across three segments is read like any other.
    assert_eq!(docs.iter().filter(|d| d["method"] == "ping").count(), 2);
}
