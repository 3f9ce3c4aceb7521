//! Captures recorded by the project from real servers (nginx, ab, curl; see
//! tests/pcaps/recorded/README.md): every request the client sent is one
//! transaction, with the status codes in order.

use tapbeat_tests::{http_settings, manifest, pcaps, read, s};

#[test]
fn every_recorded_capture_gives_one_transaction_per_request() {
    let dir = pcaps().join("recorded");
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    assert!(rows.len() >= 8);
    for row in rows {
        let file = &row["file"];
        let port: u16 = row["server_port"].parse().unwrap();
        let requests: usize = row["requests"].parse().unwrap();
        let (docs, stats) = read(&dir.join("http").join(file), &http_settings(&[port]));
        assert_eq!(docs.len(), requests, "{file}");
        // Final responses only: interim 100s are not transactions.
        let want: Vec<&str> = row["status_codes"].split(',').filter(|c| *c != "100").collect();
        let got: Vec<String> = docs.iter().map(|d| s(d, &["http", "code"])).collect();
        assert_eq!(got, want, "{file}");
        for d in &docs {
            // The 3 800-byte form bodies do not fit the params capacity.
            if file == "post_100_continue.pcap" {
                assert_eq!(d["notes"][0], "Fields truncated to their fixed capacity");
                assert_eq!(d["http"]["phrase"], "OK", "response fields still fit");
                assert!(d["params"].as_str().unwrap().starts_with("field000=value-000&"));
            } else {
                assert!(d.get("notes").is_none(), "{file}: {d}");
            }
            assert!(d["bytes_in"].as_u64().unwrap() > 0 && d["bytes_out"].as_u64().unwrap() > 0, "{file}");
        }
        assert_eq!(stats.tcp_gaps, 0, "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        // The transactions column lists "METHOD /path CODE" in order when short.
        let listed = &row["transactions"];
        if listed.contains(';') {
            for (d, t) in docs.iter().zip(listed.split(';')) {
                let mut parts = t.split_whitespace();
                assert_eq!(s(d, &["method"]), parts.next().unwrap(), "{file}");
                assert_eq!(s(d, &["path"]), parts.next().unwrap(), "{file}");
            }
        }
    }
}

#[test]
fn large_body_over_hundreds_of_segments() {
    let (docs, _) = read(&pcaps().join("recorded/http/large_1mb.pcap"), &http_settings(&[8088]));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["http"]["content_length"], 1_048_576);
    assert!(docs[0]["bytes_out"].as_u64().unwrap() > 1_048_576);
}

#[test]
fn chunked_bodies_are_decoded_across_segments() {
    for (f, port) in [("chunked.pcap", 8088), ("chunked_split.pcap", 8090)] {
        let (docs, stats) = read(&pcaps().join("recorded/http").join(f), &http_settings(&[port]));
        assert!(docs.len() >= 2, "{f}");
        assert_eq!(stats.parse_errors, 0, "{f}");
        // Chunked responses have no Content-Length: the decoded size is reported.
        assert!(docs[0]["http"]["content_length"].as_u64().unwrap() > 0, "{f}");
    }
}

#[test]
fn pipelined_requests_pair_in_order() {
    let (docs, _) = read(&pcaps().join("recorded/http/pipelined.pcap"), &http_settings(&[8088]));
    let got: Vec<(String, String)> = docs.iter().map(|d| (s(d, &["path"]), s(d, &["http", "code"]))).collect();
    let want = [
        ("/index.html", "200"),
        ("/2k.txt", "200"),
        ("/missing.html", "404"),
        ("/empty", "204"),
        ("/index.html", "200"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // All five requests share one segment: they share its timestamp.
    assert!(docs.iter().all(|d| d["@timestamp"] == docs[0]["@timestamp"]));
}

#[test]
fn head_304_204_have_no_body() {
    let (docs, _) = read(&pcaps().join("recorded/http/curl_keepalive_mixed.pcap"), &http_settings(&[8088]));
    let head = docs.iter().find(|d| d["method"] == "HEAD").unwrap();
    assert_eq!(head["http"]["code"], 200);
    assert!(head["http"]["content_length"].as_u64().unwrap() > 0, "HEAD keeps the announced length");
    let after: Vec<String> =
        docs.iter().skip_while(|d| d["method"] != "HEAD").map(|d| s(d, &["http", "code"])).collect();
    assert_eq!(after, ["200", "304", "204"]);
}

#[test]
fn close_delimited_body() {
    let (docs, _) = read(&pcaps().join("recorded/http/http10_close.pcap"), &http_settings(&[8088]));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["http"]["content_length"], 98);
}

/// Index of the `n`th frame carrying TCP payload from `port` (source) in an
/// Ethernet/IPv4 capture.
fn nth_payload_frame(frames: &[(tapbeat_core::Timestamp, Vec<u8>)], from_port: u16, n: usize) -> usize {
    frames
        .iter()
        .enumerate()
        .filter(|(_, (_, f))| {
            let ihl = (f[14] & 0x0f) as usize * 4;
            let tcp = 14 + ihl;
            let total = u16::from_be_bytes([f[16], f[17]]) as usize;
            let doff = (f[tcp + 12] >> 4) as usize * 4;
            u16::from_be_bytes([f[tcp], f[tcp + 1]]) == from_port && total > ihl + doff
        })
        .nth(n)
        .map(|(i, _)| i)
        .unwrap()
}

#[test]
fn a_lost_request_leaves_one_unmatched_response_and_the_rest_paired() {
    let cap = tapbeat_tests::load(&pcaps().join("recorded/http/ab_keepalive.pcap"));
    let client_port = {
        let f = &cap.frames[0].1;
        u16::from_be_bytes([f[34], f[35]])
    };
    let mut frames = cap.frames.clone();
    frames.remove(nth_payload_frame(&frames, client_port, 20));
    let (docs, stats) = tapbeat_tests::run_frames(&http_settings(&[8088]), cap.link, &frames);
    assert_eq!(docs.len(), 50, "49 paired, 1 response without its request");
    let unmatched: Vec<_> = docs.iter().filter(|d| d["status"] != "OK").collect();
    assert_eq!(unmatched.len(), 1, "{unmatched:#?}");
    assert_eq!(unmatched[0]["notes"][0], "Unmatched response");
    assert_eq!(stats.tcp_gaps, 1);
    assert!(docs.iter().filter(|d| d["status"] == "OK").all(|d| d["http"]["code"] == 200 && d["method"] == "GET"));
}

#[test]
fn a_lost_response_does_not_shift_the_pairing() {
    let cap = tapbeat_tests::load(&pcaps().join("recorded/http/ab_keepalive.pcap"));
    let mut frames = cap.frames.clone();
    frames.remove(nth_payload_frame(&frames, 8088, 20));
    let (docs, stats) = tapbeat_tests::run_frames(&http_settings(&[8088]), cap.link, &frames);
    assert_eq!(docs.len(), 50);
    let lost: Vec<_> = docs.iter().filter(|d| d["status"] != "OK").collect();
    assert_eq!(lost.len(), 1, "{lost:#?}");
    assert_eq!(lost[0]["notes"][0], "Packet loss while capturing the response");
    assert_eq!(lost[0]["notes"][1], "Unmatched request");
    assert_eq!(stats.tcp_gaps, 1);
    // Every other request got its own response: response times stay small
    // and in order (a shifted pairing would pair request k with response k+1).
    let ok: Vec<_> = docs.iter().filter(|d| d["status"] == "OK").collect();
    assert_eq!(ok.len(), 49);
    let mut last = String::new();
    for d in ok {
        let ts = d["@timestamp"].as_str().unwrap().to_string();
        assert!(ts >= last);
        last = ts;
        assert_eq!(d["bytes_out"], docs[0]["bytes_out"]);
    }
}
