//! Real MariaDB traffic recorded by tests/pcaps/recorded/record-mysql.sh:
//! the number of transactions equals what the client sent (by the rule in
//! tests/pcaps/recorded/mysql/README.md), and the fields say what happened.

use serde_json::{json, Value};
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, pcaps, read, s, settings_for};

fn run(file: &str) -> Vec<Value> {
    read(&pcaps().join("recorded/mysql").join(file), &settings_for(Protocol::Mysql, &[13306])).0
}

fn n(row: &std::collections::HashMap<String, String>, col: &str) -> usize {
    row[col].parse().unwrap()
}

#[test]
fn transactions_equal_what_the_client_sent() {
    let dir = pcaps().join("recorded/mysql");
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    assert_eq!(rows.len(), 6);
    for row in rows {
        let file = &row["file"];
        let want = n(&row, "transactions");
        if file != "compressed.pcap" {
            // Compressed framing hides the statements; elsewhere the rule holds.
            let rule = ["com_query", "com_init_db", "com_stmt_prepare", "com_stmt_execute", "logins_failed"]
                .iter()
                .map(|c| n(&row, c))
                .sum::<usize>()
                + n(&row, "ssl_requests")
                + n(&row, "compressed_logins");
            assert_eq!(want, rule, "{file}: manifest");
        }
        let st = settings_for(Protocol::Mysql, &[row["server_port"].parse().unwrap()]);
        let (docs, stats) = read(&dir.join(file), &st);
        assert_eq!(docs.len(), want, "{file}: {docs:#?}");
        assert_eq!(stats.transactions_total(), want as u64, "{file}");
        assert_eq!(stats.unmatched_requests, 0, "{file}");
        assert_eq!(stats.unmatched_responses, 0, "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        assert!(docs.iter().all(|d| d.get("responsetime").is_some()), "{file}: every one answered");
        let methods: Vec<String> = docs.iter().map(|d| s(d, &["method"])).collect();
        // COM_STMT_PREPARE (not the SQL statement PREPARE, a COM_QUERY).
        let binary_prepares =
            docs.iter().filter(|d| d["method"] == "PREPARE" && !s(d, &["query"]).starts_with("PREPARE"));
        assert_eq!(binary_prepares.count(), n(&row, "com_stmt_prepare"), "{file}: {methods:?}");
        assert_eq!(methods.iter().filter(|m| *m == "USE").count(), n(&row, "com_init_db"), "{file}");
    }
}

#[test]
fn cli_session_fields() {
    let docs = run("cli_session.pcap");
    let by_query = |q: &str| docs.iter().find(|d| d["query"] == q).unwrap_or_else(|| panic!("no {q}"));
    let ins = by_query("INSERT INTO t (name, note) VALUES ('a', 'x'), ('b', 'y, with a comma'), ('c', NULL)");
    assert_eq!(ins["method"], "INSERT");
    assert_eq!(ins["mysql"]["affected_rows"], 3);
    assert_eq!(ins["mysql"]["insert_id"], 1);
    let sel = by_query("SELECT * FROM t");
    assert_eq!(
        (sel["path"].clone(), sel["mysql"]["num_fields"].clone(), sel["mysql"]["num_rows"].clone()),
        (json!("tb.t"), json!(3), json!(3))
    );
    assert_eq!(by_query("UPDATE t SET note = 'z' WHERE id > 1")["mysql"]["affected_rows"], 2);
    let err = by_query("SELECT * FROM missing_table");
    assert_eq!(err["status"], "Error");
    assert_eq!(err["mysql"]["error_code"], 1146);
    assert_eq!(err["mysql"]["error_message"], "42S02: Table 'tb.missing_table' doesn't exist");
    assert_eq!(by_query("SELECT seq, REPEAT('r', 50) AS pad FROM seq_1_to_200")["mysql"]["num_rows"], 200);
    // One 6,000-byte row: a packet larger than a stream block.
    let wide = by_query("SELECT REPEAT('w', 6000) AS wide");
    assert_eq!(wide["mysql"]["num_rows"], 1);
    assert!(wide["bytes_out"].as_u64().unwrap() > 6000);
    assert_eq!(by_query("USE tb")["method"], "USE");
    // SQL-level prepared statements are text queries.
    assert_eq!(by_query("EXECUTE s USING @i")["mysql"]["num_rows"], 1);
    // Two result sets, then the final OK: one transaction.
    let call = by_query("CALL two()");
    assert_eq!((call["mysql"]["num_fields"].clone(), call["mysql"]["num_rows"].clone()), (json!(1), json!(2)));
    assert_eq!(docs.iter().filter(|d| d["status"] == "Error").count(), 1);
}

#[test]
fn cli_session_response_table() {
    let mut st = settings_for(Protocol::Mysql, &[13306]);
    st.core.mysql.common.send_response = true;
    st.core.mysql.max_row_length = 40;
    let (docs, _) = read(&pcaps().join("recorded/mysql/cli_session.pcap"), &st);
    let resp = |q: &str| s(docs.iter().find(|d| d["query"] == q).unwrap(), &["response"]);
    assert_eq!(resp("SELECT * FROM t"), "id,name,note\n1,a,x\n2,b,\"y, with a comma\"\n3,c,NULL\n");
    let long = resp("SELECT seq, REPEAT('r', 50) AS pad FROM seq_1_to_200");
    assert_eq!(long.lines().count(), 11, "header and max_rows (10) rows");
    assert_eq!(long.lines().nth(1).unwrap(), format!("1,{}", "r".repeat(39)));
    assert_eq!(resp("SELECT REPEAT('w', 6000) AS wide"), format!("wide\n{}\n", "w".repeat(40)));
}

#[test]
fn prepared_statements() {
    let docs = run("prepared.pcap");
    // Both connections (EOF packets, then CLIENT_DEPRECATE_EOF) read the same.
    let (a, b) = docs.split_at(10);
    for conn in [a, b] {
        let m: Vec<String> = conn.iter().map(|d| s(d, &["method"])).collect();
        assert_eq!(
            m,
            ["PREPARE", "SELECT", "SELECT", "PREPARE", "INSERT", "PREPARE", "EXECUTE", "PREPARE", "SELECT", "DELETE"]
        );
        assert_eq!(conn[0]["mysql"]["num_fields"], 4);
        assert_eq!(conn[0]["path"], "tb.people");
        assert_eq!(conn[1]["params"], json!(["alice", "2"]));
        assert_eq!(conn[1]["mysql"]["num_rows"], 2);
        // The second execute does not resend the types: they were kept.
        assert_eq!(conn[2]["params"], json!(["bob", "100"]));
        assert_eq!(conn[2]["mysql"]["num_rows"], 1);
        assert_eq!(conn[4]["params"], json!(["carol", "NULL", "2024-01-02 03:04:05"]));
        assert_eq!(conn[4]["mysql"]["affected_rows"], 1);
        assert_eq!(conn[5]["mysql"]["error_code"], 1054);
        assert_eq!(conn[5]["status"], "Error");
        // Unknown statement: no SQL, its id, the server's error.
        assert_eq!(conn[6]["query"], "");
        assert_eq!(conn[6]["mysql"]["statement_id"], 999);
        assert_eq!(conn[6]["mysql"]["error_code"], 1243);
        // Pipelined prepare + execute of statement -1: the SQL comes from the
        // prepare in flight, the id from its response.
        assert_eq!(conn[8]["query"], "SELECT COUNT(*) FROM people WHERE score > ?");
        assert_eq!(conn[8]["params"], json!(["10"]));
        assert_eq!(conn[8]["mysql"]["statement_id"], conn[7]["mysql"]["statement_id"]);
        assert_eq!(conn[8]["mysql"]["num_rows"], 1);
        assert!(conn[8].get("notes").is_none());
    }
}

#[test]
fn logins_that_are_reported() {
    let docs = run("login_failed.pcap");
    assert_eq!(docs[0]["method"], "LOGIN");
    assert_eq!(docs[0]["status"], "Error");
    assert_eq!(docs[0]["mysql"]["error_code"], 1045);
    assert!(s(&docs[0], &["mysql", "error_message"]).starts_with("28000: Access denied for user 'nobody'"));

    let docs = run("tls.pcap");
    assert_eq!(docs[0]["method"], "LOGIN");
    assert_eq!(docs[0]["mysql"]["encrypted"], true);
    assert_eq!(docs[0]["bytes_in"], 36, "the SSL request");
    assert_eq!(docs[0]["status"], "OK");

    let docs = run("compressed.pcap");
    assert_eq!(docs[0]["method"], "LOGIN");
    assert_eq!(docs[0]["mysql"]["compressed"], true);
    assert_eq!(docs[0]["status"], "OK");
}
