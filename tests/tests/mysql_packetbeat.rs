//! Packetbeat's own MySQL system-test captures (tests/pcaps/packetbeat),
//! checked against the counts Packetbeat's tests assert and, field by
//! field, against the documents a real Packetbeat 1.0 wrote for them.
//! Where tapbeat differs from 1.0 on purpose, the test says why.

use serde_json::Value;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, packetbeat_10_docs, pcaps, read, s, settings_for};

fn run(file: &str, port: u16) -> Vec<Value> {
    read(&pcaps().join("packetbeat").join(file), &settings_for(Protocol::Mysql, &[port])).0
}

/// Fields compared with Packetbeat 1.0's documents as they are.
const FIELDS: &[&[&str]] = &[
    &["@timestamp"],
    &["type"],
    &["status"],
    &["client_ip"],
    &["client_port"],
    &["ip"],
    &["port"],
    &["bytes_in"],
    &["responsetime"],
    &["mysql", "affected_rows"],
    &["mysql", "insert_id"],
    &["mysql", "num_fields"],
    &["mysql", "num_rows"],
    &["mysql", "iserror"],
    &["mysql", "error_code"],
    &["mysql", "error_message"],
];

#[test]
fn every_manifest_capture_matches_packetbeat() {
    let dir = pcaps().join("packetbeat");
    let rows: Vec<_> = manifest(&dir.join("MANIFEST.tsv")).into_iter().filter(|r| r["protocol"] == "mysql").collect();
    assert_eq!(rows.len(), 8, "MySQL captures present");
    for row in rows {
        let file = &row["file"];
        let port: u16 = row["config_used_by_packetbeat_tests"].trim_start_matches("mysql=").parse().unwrap();
        let (docs, stats) = read(&dir.join(file), &settings_for(Protocol::Mysql, &[port]));
        let expected: usize = match file.as_str() {
            // Packetbeat 8.x asserts 1: it does not know CLIENT_DEPRECATE_EOF
            // (this MySQL 8 server ends result sets with an OK packet), so it
            // reads the first result's row as a column definition and loses
            // its way until SELECT DATABASE(). tapbeat reports every
            // statement the client sent: 5 COM_QUERY and the COM_INIT_DB of
            // `use test` (the login succeeded and COM_QUIT has no response,
            // so neither is a transaction).
            "mysql_connection.pcap" => 6,
            _ => row["events_asserted_by_packetbeat_8x_tests"].parse().unwrap(),
        };
        assert_eq!(docs.len(), expected, "{file}: {docs:#?}");
        assert_eq!(stats.transactions_total(), expected as u64, "{file}");
        assert_eq!((stats.unmatched_requests, stats.unmatched_responses, stats.parse_errors), (0, 0, 0), "{file}");
        assert!(docs.iter().all(|d| d["type"] == "mysql" && d["port"] == port), "{file}");
        assert!(docs.iter().all(|d| d.get("notes").is_none() || file == "mysql_prepare_statement.pcap"), "{file}");
        if row["packetbeat_1.0_output"].is_empty() {
            continue;
        }
        let pb = packetbeat_10_docs(file, Some("mysql"));
        assert_eq!(pb.len(), docs.len(), "{file}: same number of documents as 1.0");
        for (want, got) in pb.iter().zip(&docs) {
            for f in FIELDS {
                assert_eq!(s(got, f), s(want, f), "{file}: field {f:?}");
            }
            // 1.0 trimmed the SQL; so does tapbeat.
            assert_eq!(s(got, &["query"]), s(want, &["query"]), "{file}: query");
            // 1.0 took the method up to the first space only ("SELECT\r"
            // for "SELECT\r\n\t1;"); tapbeat stops at any white space.
            assert_eq!(s(got, &["method"]), s(want, &["method"]).trim_end(), "{file}: method");
            // 1.0 wrote "." for a result whose columns have no table
            // (SELECT 1) and "" without a result set; tapbeat leaves `path`
            // out when no table is known.
            let wp = s(want, &["path"]);
            let wp = if wp == "." { String::new() } else { wp };
            assert_eq!(s(got, &["path"]), wp, "{file}: path");
            // 1.0 stopped counting a response at 100 KiB (its
            // maxPayloadSize, the most it kept); tapbeat counts every byte.
            let (wo, go) = (want["bytes_out"].as_u64().unwrap(), got["bytes_out"].as_u64().unwrap());
            if wo >= 100 * 1024 {
                assert!(go > wo, "{file}: bytes_out {go} vs {wo}");
            } else {
                assert_eq!(go, wo, "{file}: bytes_out");
            }
        }
    }
}

#[test]
fn long_result_counts_every_byte_and_row() {
    let docs = run("mysql_long.pcap", 3306);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["mysql"]["num_rows"], 400);
    assert_eq!(d["path"], "test.test_long");
    // Every TCP payload byte the server sent for it (tshark: 180,473).
    assert_eq!(d["bytes_out"], 180_473);
}

#[test]
fn connection_phase_then_every_statement() {
    let docs = run("mysql_connection.pcap", 3306);
    let got: Vec<(String, String)> = docs.iter().map(|d| (s(d, &["method"]), s(d, &["query"]))).collect();
    let want: Vec<(String, String)> = [
        ("SELECT", "select @@version_comment limit 1"),
        ("CREATE", "CREATE DATABASE test"),
        ("SELECT", "SELECT DATABASE()"),
        ("USE", "USE test"),
        ("SHOW", "SHOW TABLES"),
        ("DROP", "DROP DATABASE test"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    // Result sets of a CLIENT_DEPRECATE_EOF connection end with an OK.
    assert_eq!(docs[0]["mysql"]["num_rows"], 1);
    assert_eq!(docs[2]["mysql"]["num_rows"], 1);
    assert_eq!(docs[4]["mysql"]["num_rows"], 0);
    assert_eq!(docs[1]["mysql"]["affected_rows"], 1);
    assert!(docs.iter().all(|d| d["status"] == "OK"));
}

#[test]
fn prepared_statement_prepare_and_execute() {
    // Packetbeat 8.x asserts 2 events: the prepare and the execute, whose
    // method is SELECT, first parameter "A1224638" and num_rows 1.
    let docs = run("mysql_prepare_statement.pcap", 3307);
    assert_eq!(docs.len(), 2);
    let (prep, exec) = (&docs[0], &docs[1]);
    assert_eq!(prep["method"], "PREPARE");
    assert!(s(prep, &["query"]).starts_with("select distinct count(distinct purchasede0_.id) as col_0_0_ from"));
    assert_eq!(prep["mysql"]["statement_id"], 11);
    assert_eq!(prep["mysql"]["num_fields"], 1);
    assert_eq!(exec["method"], "SELECT");
    assert_eq!(exec["status"], "OK");
    assert_eq!(exec["mysql"]["statement_id"], 11);
    assert_eq!(exec["mysql"]["num_rows"], 1);
    // Dates are shown the way MySQL prints them (8.x: "2017/7/28 0:0:0").
    assert_eq!(exec["params"], serde_json::json!(["A1224638", "2017-07-28 00:00:00", "2017-10-28 23:59:59"]));
    // The execute gets the statement's SQL from the prepare, cut to the
    // per-connection statement cache's capacity, and says so.
    assert!(s(prep, &["query"]).starts_with(&s(exec, &["query"])));
    assert_eq!(exec["notes"], serde_json::json!(["Fields truncated to their fixed capacity"]));
}

#[test]
fn send_response_gives_the_result_table() {
    let mut st = settings_for(Protocol::Mysql, &[3306]);
    st.core.mysql.common.send_request = true;
    st.core.mysql.common.send_response = true;
    let (docs, _) = read(&pcaps().join("packetbeat/mysql_with_whitespaces.pcap"), &st);
    let sel = &docs[5];
    // `request` is the SQL as sent; `query` is trimmed.
    assert_eq!(sel["request"], "\nselect *\nfrom test\n");
    assert_eq!(sel["response"], "a,b\nme,and you\n");
    // Statements without a result set have no table.
    assert!(docs[0].get("response").is_none());

    st.core.mysql.max_rows = 2;
    st.core.mysql.max_row_length = 5;
    let (docs, _) = read(&pcaps().join("packetbeat/mysql_long_result.pcap"), &st);
    let resp = s(&docs[0], &["response"]);
    assert_eq!(resp.lines().count(), 3, "{resp}");
    assert!(resp.lines().skip(1).all(|l| l.replace(',', "").len() <= 5), "{resp}");
    assert_eq!(docs[0]["mysql"]["num_rows"], 15);

    let (docs, _) = read(&pcaps().join("packetbeat/mysql_prepare_statement.pcap"), &{
        let mut st = settings_for(Protocol::Mysql, &[3307]);
        st.core.mysql.common.send_response = true;
        st
    });
    // A binary row, rendered from the column types.
    assert_eq!(docs[1]["response"], "col_0_0_\n11\n");
}

#[test]
fn ecs_layout() {
    let mut st = settings_for(Protocol::Mysql, &[3306]);
    st.schema = tapbeat_core::json::Schema::Ecs;
    let (docs, _) = read(&pcaps().join("packetbeat/mysql_err_database_not_selected.pcap"), &st);
    let d = &docs[0];
    assert_eq!(d["event"]["outcome"], "failure");
    assert_eq!(d["method"], "SELECT");
    assert_eq!(d["query"], "select * from test");
    assert_eq!(d["error"]["code"], "1046");
    assert_eq!(d["error"]["message"], "3D000: No database selected");
    assert_eq!(d["mysql"]["error_code"], 1046);
    assert_eq!(d["server"]["bytes"], 33);
}
