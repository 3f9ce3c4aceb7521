//! PostgreSQL end to end: Packetbeat's own captures (counts as its tests
//! assert, fields compared with the documents Packetbeat 1.0 wrote) and the
//! captures recorded from a real PostgreSQL 15 with psql and pgbench (counts
//! as the clients sent them, tests/pcaps/recorded/pgsql/MANIFEST.tsv).

use serde_json::Value;
use tapbeat::Settings;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, packetbeat_10_docs, pcaps, read, s, settings_for};

fn pg(ports: &[u16]) -> Settings {
    settings_for(Protocol::Pgsql, ports)
}

fn packetbeat(file: &str) -> (Vec<Value>, tapbeat_core::Stats) {
    read(&pcaps().join("packetbeat").join(file), &pg(&[5432]))
}

fn recorded_with(file: &str, st: &Settings) -> Vec<Value> {
    let (docs, stats) = read(&pcaps().join("recorded/pgsql").join(file), st);
    assert_eq!(stats.parse_errors, 0, "{file}");
    docs
}

fn recorded(file: &str) -> Vec<Value> {
    recorded_with(file, &pg(&[55432]))
}

/// Fields compared with Packetbeat 1.0's documents, all equal.
const FIELDS: &[&[&str]] = &[
    &["@timestamp"],
    &["type"],
    &["status"],
    &["client_ip"],
    &["client_port"],
    &["ip"],
    &["port"],
    &["method"],
    &["query"],
    &["bytes_in"],
    &["bytes_out"],
    &["responsetime"],
    &["notes"],
    &["pgsql", "iserror"],
    &["pgsql", "num_fields"],
    &["pgsql", "num_rows"],
    &["pgsql", "error_code"],
    &["pgsql", "error_message"],
    &["pgsql", "error_severity"],
];

#[test]
fn every_reference_capture_has_the_asserted_count() {
    let dir = pcaps().join("packetbeat");
    let rows: Vec<_> = manifest(&dir.join("MANIFEST.tsv")).into_iter().filter(|r| r["protocol"] == "pgsql").collect();
    assert_eq!(rows.len(), 5);
    for row in rows {
        let file = row["file"].as_str();
        assert_eq!(row["config_used_by_packetbeat_tests"], "pgsql=5432");
        let (docs, stats) = packetbeat(file);
        let expected: usize = match file {
            // Packetbeat 8 reports only the SELECT: it drops extended-query
            // statements starting with "SET " (the JDBC driver's session
            // setup). tapbeat reports every Execute, as it reports SET in a
            // simple query; see `extended_query_one_transaction_per_execute`.
            "pgsql_extended_query.pcap" => 2,
            _ => row["events_asserted_by_packetbeat_8x_tests"].parse().unwrap(),
        };
        assert_eq!(docs.len(), expected, "{file}: {docs:#?}");
        assert_eq!(stats.transactions_total(), expected as u64, "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert_eq!(stats.unmatched_requests + stats.unmatched_responses, 0, "{file}");
    }
}

#[test]
fn fields_match_packetbeat_1_0() {
    for file in ["pgsql_insert", "pgsql_insert_error", "pgsql_request_response", "pgsql_rt"] {
        let (docs, _) = packetbeat(&format!("{file}.pcap"));
        let want = packetbeat_10_docs(&format!("{file}.ndjson"), None);
        assert_eq!(docs.len(), want.len(), "{file}");
        for (got, want) in docs.iter().zip(&want) {
            for f in FIELDS {
                assert_eq!(s(got, f), s(want, f), "{file}: field {f:?}");
            }
        }
    }
}

#[test]
fn startup_ssl_refusal_and_authentication_are_not_transactions() {
    // pgsql_rt: two connections, each SSLRequest (refused), StartupMessage,
    // md5 authentication; the first gives up at the password prompt, the
    // second authenticates and runs one query. Only the query is reported,
    // and its bytes_in is the Query message alone (25, as Packetbeat 1.0).
    let (docs, _) = packetbeat("pgsql_rt.pcap");
    assert_eq!(docs.len(), 1);
    assert_eq!(s(&docs[0], &["bytes_in"]), "25");
    assert_eq!(s(&docs[0], &["client_port"]), "38145");
}

#[test]
fn extended_query_one_transaction_per_execute() {
    let (docs, _) = packetbeat("pgsql_extended_query.pcap");
    let got: Vec<_> = docs
        .iter()
        .map(|d| {
            (
                s(d, &["method"]),
                s(d, &["query"]),
                s(d, &["pgsql", "num_fields"]),
                s(d, &["pgsql", "num_rows"]),
                s(d, &["bytes_in"]),
                s(d, &["bytes_out"]),
            )
        })
        .collect();
    let row = |m: &str, q: &str, f: &str, r: &str, i: &str, o: &str| {
        (m.to_string(), q.to_string(), f.to_string(), r.to_string(), i.to_string(), o.to_string())
    };
    // bytes: the whole Parse..Sync pipeline and its answer but ReadyForQuery.
    assert_eq!(
        got,
        vec![
            row("SET", "SET extra_float_digits = 3", "0", "0", "63", "19"),
            row("SELECT", "SELECT * from test where id = $1", "2", "1", "90", "111"),
        ]
    );
}

#[test]
fn recorded_counts_match_the_clients() {
    let dir = pcaps().join("recorded/pgsql");
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    assert_eq!(rows.len(), 5);
    for row in rows {
        let file = row["file"].as_str();
        let port: u16 = row["server_port"].parse().unwrap();
        let (docs, stats) = read(&dir.join(file), &pg(&[port]));
        let n = |k: &str| row[k].parse::<usize>().unwrap();
        // One transaction per statement of a Query plus one per Execute.
        assert_eq!(n("transactions"), n("statements") + n("executes"), "{file}: manifest");
        assert_eq!(docs.len(), n("transactions"), "{file}: {docs:#?}");
        let iserror = docs.iter().filter(|d| s(d, &["pgsql", "iserror"]) == "true").count();
        assert_eq!(iserror, n("errors"), "{file}");
        let unanswered = docs.iter().filter(|d| s(d, &["notes"]).contains("Unmatched request")).count();
        assert_eq!(unanswered, n("not_executed"), "{file}");
        assert_eq!(stats.unmatched_requests as usize, n("not_executed"), "{file}");
        let unknown = docs.iter().filter(|d| s(d, &["pgsql", "unknown_statement"]) == "true").count();
        assert_eq!(unknown, n("unknown_statement"), "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert_eq!(stats.unmatched_responses, 0, "{file}");
        assert_eq!(stats.txn_truncated, 0, "{file}");
        let errors = docs.iter().filter(|d| d["status"] == "Error").count();
        assert_eq!(errors, n("errors") + n("not_executed"), "{file}");
    }
}

#[test]
fn psql_session_statement_by_statement() {
    let docs = recorded("psql_session.pcap");
    let got: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{} {} | {} rows={} fields={} {}{}",
                s(d, &["status"]),
                s(d, &["method"]),
                s(d, &["query"]),
                s(d, &["pgsql", "num_rows"]),
                s(d, &["pgsql", "num_fields"]),
                s(d, &["pgsql", "error_code"]),
                s(d, &["pgsql", "copy"]),
            )
        })
        .collect();
    let want = [
        "OK CREATE | CREATE TABLE t (id int PRIMARY KEY, name text, note text) rows=0 fields=0 ",
        "OK INSERT | INSERT INTO t VALUES (1, 'one', 'a,b'), (2, 'two', 'say \"hi\"'), (3, 'three', NULL) rows=0 fields=0 ",
        "OK SELECT | SELECT * FROM t ORDER BY id rows=3 fields=3 ",
        "OK UPDATE | UPDATE t SET note = 'x' WHERE id = 3 rows=0 fields=0 ",
        "OK SELECT | SELECT 1 AS a rows=1 fields=1 ",
        "OK SELECT | SELECT 2 AS b rows=1 fields=1 ",
        "OK SELECT | SELECT 3 AS c rows=1 fields=1 ",
        "Error INSERT | INSERT INTO t VALUES (1, 'dup', NULL) rows=0 fields=0 23505",
        "OK SELECT | SELECT 1 AS first rows=1 fields=1 ",
        "Error SELECT | SELECT 1/0 AS boom rows=0 fields=0 22012",
        // Never executed (the server skips the rest of the Query after an
        // error): reported as unanswered, no result fields.
        "Error SELECT | SELECT 3 AS never rows= fields= ",
        "OK SELECT | SELECT count(*) FROM t rows=1 fields=1 ",
        "OK DO | DO $$ BEGIN RAISE NOTICE 'hello; from a notice'; END $$ rows=0 fields=0 ",
        "OK SELECT | SELECT 'semi;colon' AS s, $q$dollar;quoted$q$ AS d, \"id\" FROM t /* c;omment */ WHERE id = 1 rows=1 fields=3 ",
        "OK SELECT | SELECT name FROM t WHERE id > 100 rows=0 fields=1 ",
        "OK COPY | COPY t TO STDOUT rows=0 fields=0 out",
        "OK COPY | COPY t (id, name) FROM STDIN rows=0 fields=0 in",
        "OK DELETE | DELETE FROM t WHERE id >= 10 rows=0 fields=0 ",
        "OK DROP | DROP TABLE t rows=0 fields=0 ",
    ];
    assert_eq!(got, want);
    let never = &docs[10];
    assert_eq!(s(never, &["notes"]), "[\"Unmatched request\"]");
    assert_eq!(s(never, &["pgsql", "not_executed"]), "true");
    assert_eq!(docs.iter().filter(|d| s(d, &["pgsql", "not_executed"]) == "true").count(), 1);
    assert!(never.get("responsetime").is_none());
    let dup = &docs[7];
    assert_eq!(s(dup, &["pgsql", "error_severity"]), "ERROR");
    assert_eq!(s(dup, &["pgsql", "error_message"]), "duplicate key value violates unique constraint \"t_pkey\"");
    let notice = &docs[12];
    assert_eq!(s(notice, &["pgsql", "notices"]), "1");
    assert_eq!(s(notice, &["pgsql", "notice_severity"]), "NOTICE");
    assert_eq!(s(notice, &["pgsql", "notice_message"]), "hello; from a notice");
    // The three statements of one Query message share its bytes: 5 header
    // bytes, the text with its separators, the NUL.
    let shared: u64 = docs[4..7].iter().map(|d| d["bytes_in"].as_u64().unwrap()).sum();
    assert_eq!(shared, 52, "Query message 'SELECT 1 AS a ; SELECT 2 AS b ; SELECT 3 AS c;'");
    // COPY FROM STDIN: the client's CopyData and CopyDone count as request.
    assert_eq!(s(&docs[16], &["bytes_in"]), (35 + 30).to_string());
}

#[test]
fn raw_request_and_csv_response() {
    let mut st = pg(&[55432]);
    st.core.pgsql.common.send_request = true;
    st.core.pgsql.common.send_response = true;
    let docs = recorded_with("psql_session.pcap", &st);
    let select = &docs[2];
    assert_eq!(s(select, &["request"]), "SELECT * FROM t ORDER BY id");
    // Go encoding/csv quoting, as Packetbeat renders rows; NULL is empty.
    assert_eq!(s(select, &["response"]), "id,name,note\n1,one,\"a,b\"\n2,two,\"say \"\"hi\"\"\"\n3,three,\n");
    st.core.pgsql.max_rows = 2;
    st.core.pgsql.max_row_length = 4;
    let docs = recorded_with("psql_session.pcap", &st);
    // At most 2 rows, at most 4 value bytes per row (later columns dropped).
    assert_eq!(s(&docs[2], &["response"]), "id,name,note\n1,one\n2,two\n");
    assert_eq!(s(&docs[2], &["pgsql", "num_rows"]), "3");
    assert!(docs.iter().all(|d| d.get("notes").is_none() || s(d, &["notes"]).contains("Unmatched request")));
}

#[test]
fn pgbench_extended_and_prepared() {
    let docs = recorded("pgbench_extended.pcap");
    let methods: Vec<String> = docs.iter().skip(2).take(7).map(|d| s(d, &["method"])).collect();
    assert_eq!(methods, ["BEGIN", "UPDATE", "SELECT", "UPDATE", "UPDATE", "INSERT", "END"]);
    assert_eq!(s(&docs[3], &["query"]), "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2");
    assert_eq!(s(&docs[4], &["pgsql", "num_rows"]), "1");
    assert!(docs.iter().all(|d| d["status"] == "OK"));
    // Named statements prepared in earlier exchanges: executed, counted,
    // paired, but their text is not known.
    let docs = recorded("pgbench_prepared.pcap");
    assert_eq!(docs.len(), 16);
    assert!(docs[2..].iter().all(|d| s(d, &["query"]).is_empty() && d["status"] == "OK"));
    assert_eq!(s(&docs[4], &["pgsql", "num_rows"]), "1", "the SELECT abalance");
}

#[test]
fn tls_accepted_connection_is_skipped() {
    let (docs, stats) = read(&pcaps().join("recorded/pgsql/ssl_accepted.pcap"), &pg(&[55432]));
    assert!(docs.is_empty());
    assert_eq!(stats.parse_errors, 0, "TLS records are never parsed as PostgreSQL");
    assert_eq!(stats.resync_skipped_bytes, 0);
    let docs = recorded("ssl_refused.pcap");
    assert_eq!(docs.len(), 1);
    assert_eq!(s(&docs[0], &["query"]), "SELECT 'after refused TLS' AS msg");
}

#[test]
fn ecs_layout() {
    let mut st = pg(&[5432]);
    st.schema = tapbeat_core::json::Schema::Ecs;
    let (docs, _) = read(&pcaps().join("packetbeat/pgsql_insert_error.pcap"), &st);
    let d = &docs[0];
    assert_eq!(s(d, &["event", "outcome"]), "failure");
    assert_eq!(s(d, &["method"]), "INSERT");
    assert_eq!(s(d, &["pgsql", "error_code"]), "23505");
    assert_eq!(s(d, &["error", "code"]), "23505");
    assert_eq!(s(d, &["source", "bytes"]), "63");
    assert_eq!(s(d, &["destination", "bytes"]), "147");
}
