//! Thrift-RPC end to end: Packetbeat's reference captures (counts asserted
//! by its tests, and field-by-field comparison with the documents
//! Packetbeat 1.0 wrote for them), and the captures recorded from a real
//! python3-thrift server and client (tests/pcaps/recorded/thrift/README.md).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use tapbeat::Settings;
use tapbeat_core::proto::thrift::ThriftTransport;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, pcaps, read, s, settings_for};

fn reference(name: &str) -> PathBuf {
    pcaps().join("packetbeat").join(name)
}

fn recorded(name: &str) -> PathBuf {
    pcaps().join("recorded/thrift").join(name)
}

fn thrift(framed: bool) -> Settings {
    let mut st = settings_for(Protocol::Thrift, &[9090]);
    if framed {
        st.core.thrift.transport_type = ThriftTransport::Framed;
    }
    st
}

fn packetbeat_10(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(pcaps().join("packetbeat/packetbeat-1.0-output").join(name)).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Packetbeat's `tutorial_asserts` (its 1.x and 8.x system tests).
fn tutorial_asserts(objs: &[Value]) {
    assert_eq!(objs.len(), 17);
    assert!(objs.iter().all(|o| o["type"] == "thrift"));
    assert!(objs.iter().all(|o| o["bytes_in"].as_u64().unwrap() > 0));
    assert!(objs[0..14].iter().all(|o| o["bytes_out"].as_u64().unwrap() > 0));
    assert!(objs[16..].iter().all(|o| o["bytes_out"].as_u64().unwrap() > 0));
    assert_eq!(objs[14]["bytes_out"], 0);
    assert_eq!(objs[15]["bytes_out"], 0);
    let want = [
        ("ping", "()", ""),
        ("add", "(1: 1, 2: 1)", "2"),
        ("add16", "(1: 1, 2: 1)", "2"),
        ("add64", "(1: 1, 2: 1)", "2"),
        ("add_doubles", "(1: 1.2, 2: 1.3)", "2.5"),
        ("echo_bool", "(1: true)", "true"),
        ("echo_string", "(1: \"hello\")", "\"hello\""),
    ];
    for (o, (method, params, ret)) in objs.iter().zip(want) {
        assert_eq!(o["method"], method);
        assert_eq!(o["query"], format!("{method}{params}"));
        assert_eq!(o["thrift"]["params"], params);
        assert_eq!(o["thrift"]["return_value"], ret);
    }
}

/// Compares our documents with Packetbeat 1.0's, field by field.
/// `frame` is 4 for framed captures: tapbeat counts the frame length in
/// `bytes_in`/`bytes_out` (they are the bytes on the wire), Packetbeat
/// counted the message only.
fn compare_with_10(ours: &[Value], theirs: &[Value], frame: u64) {
    assert_eq!(ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        for key in [
            "@timestamp",
            "type",
            "status",
            "count",
            "client_ip",
            "client_port",
            "ip",
            "port",
            "method",
            "path",
            "query",
        ] {
            assert_eq!(o[key], t[key], "doc {i} field {key}");
        }
        assert_eq!(o["thrift"], t["thrift"], "doc {i}");
        assert_eq!(o["bytes_in"].as_u64().unwrap(), t["bytes_in"].as_u64().unwrap() + frame, "doc {i}");
        let out = t["bytes_out"].as_u64().unwrap();
        assert_eq!(o["bytes_out"].as_u64().unwrap(), if out == 0 { 0 } else { out + frame }, "doc {i}");
        if t["bytes_out"] == 0 {
            // One-way calls: no response, so no response time (1.0 wrote 0).
            assert!(o.get("responsetime").is_none(), "doc {i}");
            assert!(o["thrift"].get("return_value").is_none());
        } else {
            assert_eq!(o["responsetime"], t["responsetime"], "doc {i}");
        }
        // Not produced by tapbeat: process names (`proc`, `client_proc`),
        // topology names (`server`, `client_server`), `direction`, and the
        // `shipper` name (only when configured).
        assert!(o.get("notes").is_none(), "doc {i}: {o}");
    }
}

#[test]
fn tutorial_socket_matches_packetbeat() {
    let (docs, stats) = read(&reference("thrift_tutorial.pcap"), &thrift(false));
    tutorial_asserts(&docs);
    compare_with_10(&docs, &packetbeat_10("thrift_tutorial.ndjson"), 0);
    assert_eq!(docs[11]["status"], "Error");
    assert_eq!(docs[11]["thrift"]["exceptions"], "(1: (1: 4, 2: \"Cannot divide by 0\"))");
    assert_eq!(stats.parse_errors, 0);
    assert_eq!(stats.unmatched_requests + stats.unmatched_responses, 0);
    // No raw request/response text unless asked (Packetbeat's
    // test_send_options_default).
    assert!(docs.iter().all(|d| d.get("request").is_none() && d.get("response").is_none()));
}

#[test]
fn tutorial_send_request_and_response() {
    // Packetbeat's test_thrift_tutorial_socket.
    let mut st = thrift(false);
    st.core.thrift.common.send_request = true;
    st.core.thrift.common.send_response = true;
    let (docs, _) = read(&reference("thrift_tutorial.pcap"), &st);
    tutorial_asserts(&docs);
    assert!(docs.iter().all(|d| !s(d, &["request"]).is_empty()));
    assert_eq!(docs[0]["request"], "ping()");
    assert_eq!(docs[11]["response"], "Exceptions: (1: (1: 4, 2: \"Cannot divide by 0\"))");
    assert_eq!(docs[1]["response"], "2");
    assert!(docs.iter().all(|d| d["port"] == 9090));
    // One-way calls have no response to show.
    assert!(docs[14].get("response").is_none());
}

#[test]
fn tutorial_framed_and_ipv6_match_packetbeat() {
    for (file, out) in [
        ("thrift_tutorial_framed_transport.pcap", "thrift_tutorial_framed_transport.ndjson"),
        ("ipv6_thrift.pcap", "ipv6_thrift.ndjson"),
    ] {
        let (docs, stats) = read(&reference(file), &thrift(true));
        tutorial_asserts(&docs);
        compare_with_10(&docs, &packetbeat_10(out), 4);
        assert_eq!(stats.parse_errors, 0, "{file}");
        // Framing is recognised from the bytes: the socket setting gives the
        // same documents.
        let (same, _) = read(&reference(file), &thrift(false));
        assert_eq!(same, docs, "{file}");
    }
}

#[test]
fn echo_binary_is_hex() {
    // Packetbeat 8's test_thrift_binary (framed): 1 event, the binary
    // return value as hex. Packetbeat 1.0 wrote nothing for this capture
    // with the socket setting; tapbeat recognises the framing either way.
    for framed in [true, false] {
        let (docs, _) = read(&reference("thrift_echo_binary.pcap"), &thrift(framed));
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["method"], "echo_binary");
        assert_eq!(docs[0]["thrift"]["return_value"], "ab0c1d281a000000");
        assert_eq!(docs[0]["thrift"]["params"], "(1: ab0c1d281a000000)");
        assert_eq!(docs[0]["status"], "OK");
    }
}

fn rows() -> Vec<HashMap<String, String>> {
    let rows = manifest(&recorded("MANIFEST.tsv"));
    assert_eq!(rows.len(), 7);
    rows
}

fn settings_for_row(row: &HashMap<String, String>) -> Settings {
    let mut st = settings_for(Protocol::Thrift, &[row["server_port"].parse().unwrap()]);
    if row["transport_type"] == "framed" {
        st.core.thrift.transport_type = ThriftTransport::Framed;
    }
    st
}

#[test]
fn recorded_one_transaction_per_call() {
    for row in rows() {
        let file = &row["file"];
        let (docs, stats) = read(&recorded(file), &settings_for_row(&row));
        let calls: usize = row["calls"].parse().unwrap();
        assert_eq!(docs.len(), calls, "{file}");
        let methods: Vec<String> = docs.iter().map(|d| s(d, &["method"])).collect();
        assert_eq!(methods.join(","), row["methods"], "{file}");
        let errors = docs.iter().filter(|d| d["status"] == "Error").count();
        assert_eq!(errors.to_string(), row["exceptions"], "{file}");
        assert!(docs.iter().filter(|d| d["status"] == "Error").all(|d| d["thrift"].get("exceptions").is_some()));
        let oneway = docs.iter().filter(|d| d["bytes_out"] == 0).count();
        assert_eq!(oneway.to_string(), row["oneway"], "{file}");
        for d in &docs {
            assert!(d.get("notes").is_none(), "{file}: {d}");
            assert!(d["bytes_in"].as_u64().unwrap() > 0, "{file}");
            if d["bytes_out"] != 0 {
                assert!(d["thrift"].get("return_value").is_some(), "{file}: {d}");
            }
        }
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert_eq!(stats.tcp_gaps, 0, "{file}");
        assert_eq!(stats.unmatched_requests + stats.unmatched_responses, 0, "{file}");
        assert_eq!(stats.txn_truncated, 0, "{file}");
    }
}

/// The rendering of every call of scenario `all`, whatever the encoding.
const ALL: [(&str, &str); 24] = [
    ("ping()", ""),
    ("add(1: 1, 2: 1)", "2"),
    ("add(1: -5, 2: 3)", "-2"),
    ("add16(1: 1, 2: 1)", "2"),
    ("add64(1: 1099511627776, 2: 1)", "1099511627777"),
    ("add_doubles(1: 1.25, 2: 2.5)", "3.75"),
    ("echo_bool(1: true)", "true"),
    ("echo_byte(1: -7)", "-7"),
    ("echo_string(1: \"hello thrift\")", "\"hello thrift\""),
    ("echo_string(1: \"quote \\\" and ünïcode ✓\")", "\"quote \\\" and ünïcode ✓\""),
    ("", ""), // 300 x: checked below
    ("echo_binary(1: 0001feff)", "0001feff"),
    (
        "echo_list(1: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ...])",
        "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ...]",
    ),
    ("echo_set(1: {\"a\"})", "{\"a\"}"),
    ("echo_map(1: {\"x\": 1})", "{\"x\": 1}"),
    (
        "echo_item(1: (1: 7, 2: \"seven\", 3: [\"a\", \"b\"], 4: {\"m\": 0.5}, 5: abcd, 6: true))",
        "(1: 7, 2: \"seven\", 3: [\"a\", \"b\"], 4: {\"m\": 0.5}, 5: abcd, 6: true)",
    ),
    (
        "find(1: \"q\", 2: 3)",
        "[(1: 0, 2: \"q-0\", 3: [\"t\"], 4: {\"s\": 0}, 6: true), (1: 1, 2: \"q-1\", 3: [\"t\"], 4: {\"s\": 0.5}, 6: false), \
(1: 2, 2: \"q-2\", 3: [\"t\"], 4: {\"s\": 1}, 6: true)]",
    ),
    ("calculate(1: 1, 2: (1: 1, 2: 0, 3: 4))", ""),
    ("calculate(1: 2, 2: (1: 15, 2: 10, 3: 1))", "25"),
    ("zip(1: 0)", ""),
    ("ping()", ""),
    ("", ""), // no_such_method or Greeter:hello
    ("", ""), // 32 KiB string
    ("ping()", ""),
];

#[test]
fn recorded_values_are_the_same_in_every_encoding() {
    for row in rows().into_iter().filter(|r| r["methods"].split(',').count() == 24) {
        let file = &row["file"];
        let (docs, _) = read(&recorded(file), &settings_for_row(&row));
        for (i, (d, (query, ret))) in docs.iter().zip(ALL).enumerate() {
            if !query.is_empty() {
                assert_eq!(d["query"], query, "{file} call {i}");
                if d["bytes_out"] != 0 {
                    assert_eq!(d["thrift"]["return_value"], ret, "{file} call {i}");
                }
            }
        }
        // string_max_size (200): the string is cut inside its quotes.
        let long = format!("\"{}...\"", "x".repeat(200));
        assert_eq!(docs[10]["thrift"]["params"], format!("(1: {long})"), "{file}");
        assert_eq!(docs[10]["thrift"]["return_value"], long, "{file}");
        let big = format!("\"{}...\"", "0123456789abcdef".repeat(13).get(..200).unwrap());
        assert_eq!(docs[22]["thrift"]["return_value"], big, "{file}");
        assert!(docs[22]["bytes_in"].as_u64().unwrap() > 32 * 1024, "{file}");
        // The declared exception.
        assert_eq!(docs[17]["status"], "Error");
        assert_eq!(docs[17]["thrift"]["exceptions"], "(1: (1: 4, 2: \"Cannot divide by 0\"))", "{file}");
        assert_eq!(docs[17]["thrift"]["return_value"], "");
        // The one-way call: reported when complete, no response.
        assert_eq!(docs[19]["status"], "OK");
        assert!(docs[19].get("responsetime").is_none());
        if row["protocol"] == "multiplexed" {
            assert!(docs.iter().enumerate().all(|(i, d)| d["path"] == if i == 21 { "Greeter" } else { "Calculator" }));
            assert_eq!(docs[21]["thrift"]["service"], "Greeter");
            assert_eq!(docs[21]["query"], "hello(1: \"tapbeat\")");
            assert_eq!(docs[21]["thrift"]["return_value"], "\"hello tapbeat\"");
        } else {
            assert!(docs.iter().all(|d| d["path"] == "" && d["thrift"].get("service").is_none()));
            // A TApplicationException message (unknown method).
            assert_eq!(docs[21]["method"], "no_such_method");
            assert_eq!(docs[21]["status"], "Error");
            assert_eq!(docs[21]["thrift"]["exceptions"], "(1: \"Unknown function no_such_method\", 2: 1)");
        }
    }
}

#[test]
fn pipelined_calls_pair_by_sequence_id() {
    let row = rows().into_iter().find(|r| r["file"] == "pipelined_framed.pcap").unwrap();
    let (docs, _) = read(&recorded("pipelined_framed.pcap"), &settings_for_row(&row));
    let got: Vec<(String, String)> =
        docs.iter().map(|d| (s(d, &["thrift", "params"]), s(d, &["thrift", "return_value"]))).collect();
    let want = [("(1: 1, 2: 2)", "3"), ("(1: 3, 2: 4)", "7"), ("(1: 5, 2: 6)", "11"), ("()", "")];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[test]
fn options_shape_the_rendering() {
    let file = recorded("binary_buffered.pcap");
    let mut st = thrift(false);
    st.core.thrift.obfuscate_strings = true;
    st.core.thrift.string_max_size = 3;
    st.core.thrift.collection_max_size = 2;
    let (docs, _) = read(&file, &st);
    assert_eq!(docs.len(), 24);
    assert_eq!(docs[8]["thrift"]["params"], "(1: \"*\")");
    assert_eq!(docs[12]["thrift"]["params"], "(1: [1, 2, ...])");
    assert_eq!(docs[15]["thrift"]["return_value"], "(1: 7, 2: \"*\", ...)");
    // Binary values are strings on the wire: obfuscated too.
    assert_eq!(docs[11]["thrift"]["return_value"], "\"*\"");

    let mut st = thrift(false);
    st.core.thrift.string_max_size = 3;
    let (docs, _) = read(&file, &st);
    assert_eq!(docs[8]["thrift"]["params"], "(1: \"hel...\")");

    // capture_reply off: replies are still read (pairing, status, sizes)
    // but not shown.
    let mut st = thrift(false);
    st.core.thrift.capture_reply = false;
    st.core.thrift.common.send_response = true;
    let (docs, _) = read(&file, &st);
    assert_eq!(docs.len(), 24);
    assert!(docs.iter().all(|d| d["thrift"].get("return_value").is_none() && d.get("response").is_none()));
    assert_eq!(docs[17]["status"], "Error");
    assert_eq!(docs[1]["thrift"]["params"], "(1: 1, 2: 1)");

    // A struct with more fields than drop_after_n_struct_fields is taken as
    // misread: the message is malformed, and the stream resynchronises.
    let mut st = thrift(false);
    st.core.thrift.drop_after_n_struct_fields = 3;
    let (docs, stats) = read(&file, &st);
    assert_eq!(docs.len(), 24);
    let item = &docs[15];
    assert_eq!(item["status"], "Error");
    assert!(item["notes"].as_array().unwrap().iter().any(|n| n == "Malformed request"), "{item}");
    assert!(stats.parse_errors >= 1);
    assert_eq!(docs[16]["method"], "find");
}

#[test]
fn old_binary_needs_protocol_binary() {
    // Old binary messages carry no marker: with protocol_type compact they
    // are not taken for Thrift.
    let mut st = thrift(false);
    st.core.thrift.protocol_type = tapbeat_core::proto::thrift::ThriftProtocol::Compact;
    let (docs, stats) = read(&recorded("binary_old_buffered.pcap"), &st);
    assert!(docs.is_empty());
    assert!(stats.parse_errors > 0);
}

#[test]
fn ecs_layout() {
    let mut st = thrift(false);
    st.schema = tapbeat_core::json::Schema::Ecs;
    let (docs, _) = read(&reference("thrift_tutorial.pcap"), &st);
    assert_eq!(docs.len(), 17);
    let d = &docs[1];
    assert_eq!(d["event"]["dataset"], "thrift");
    assert_eq!(d["method"], "add");
    assert_eq!(d["query"], "add(1: 1, 2: 1)");
    assert_eq!(d["thrift"]["params"], "(1: 1, 2: 1)");
    assert_eq!(d["thrift"]["return_value"], "2");
    assert!(d.get("path").is_none());
    let e = &docs[11];
    assert_eq!(e["event"]["outcome"], "failure");
    assert_eq!(e["error"]["message"], "(1: (1: 4, 2: \"Cannot divide by 0\"))");
}

#[test]
fn idl_names_as_packetbeat_with_idl_files() {
    // Packetbeat's test_thrift_tutorial_with_idl, with the name table filled
    // in by hand as a shell would from tutorial.thrift and shared.thrift
    // (the kernel does not read files).
    let mut st = thrift(false);
    let mut idl = tapbeat_core::proto::thrift::ThriftIdl::default();
    let two = [(1, "num1"), (2, "num2")];
    for m in ["add", "add16", "add64", "add_doubles"] {
        idl.add_method("Calculator", m, &two, &[]).unwrap();
    }
    idl.add_method("Calculator", "ping", &[], &[]).unwrap();
    idl.add_method("Calculator", "echo_bool", &[(1, "b")], &[]).unwrap();
    idl.add_method("Calculator", "echo_string", &[(1, "s")], &[]).unwrap();
    idl.add_method("Calculator", "calculate", &[(1, "logid"), (2, "w")], &[(1, "ouch")]).unwrap();
    for m in ["echo_binary", "echo_list", "echo_set", "echo_map"] {
        idl.add_method("Calculator", m, &[(1, "arg")], &[]).unwrap();
    }
    idl.add_method("Calculator", "zip", &[], &[]).unwrap();
    idl.add_method("SharedService", "getStruct", &[(1, "key")], &[]).unwrap();
    st.core.thrift.idl = Some(Box::leak(Box::new(idl)));
    let (docs, _) = read(&reference("thrift_tutorial.pcap"), &st);
    assert_eq!(docs.len(), 17);
    assert!(docs.iter().all(|o| o["thrift"]["service"] == "Calculator" || o["thrift"]["service"] == "SharedService"));
    assert!(docs.iter().all(|o| o["path"] == o["thrift"]["service"]));
    assert_eq!(docs[0]["thrift"]["params"], "()");
    assert_eq!(docs[0]["thrift"]["return_value"], "");
    for d in &docs[1..4] {
        assert_eq!(d["thrift"]["params"], "(num1: 1, num2: 1)");
        assert_eq!(d["thrift"]["return_value"], "2");
    }
    assert_eq!(docs[4]["thrift"]["params"], "(num1: 1.2, num2: 1.3)");
    assert_eq!(docs[5]["thrift"]["params"], "(b: true)");
    assert_eq!(docs[6]["thrift"]["params"], "(s: \"hello\")");
    assert_eq!(docs[11]["thrift"]["params"], "(logid: 1, w: (1: 1, 2: 0, 3: 4))");
    assert_eq!(docs[11]["thrift"]["exceptions"], "(ouch: (1: 4, 2: \"Cannot divide by 0\"))");
    assert_eq!(docs[13]["thrift"]["service"], "SharedService");
    assert_eq!(docs[13]["query"], "getStruct(key: 1)");
}

#[test]
fn sizes_are_bounded() {
    use std::mem::size_of;
    use tapbeat_core::proto::{http, thrift};
    let (t, h) = (size_of::<thrift::ThriftTxn>(), size_of::<http::HttpTxn>());
    let (tp, hp) = (size_of::<thrift::ThriftParser>(), size_of::<http::HttpParser>());
    eprintln!(
        "ThriftTxn {t} B (HttpTxn {h} B), ThriftParser {tp} B (HttpParser {hp} B), ThriftIdl {} B",
        size_of::<thrift::ThriftIdl>()
    );
    assert!(t <= h && tp <= hp);
}
