//! Packetbeat's own DNS system-test captures (tests/pcaps/packetbeat),
//! checked against the counts Packetbeat's tests assert and, field by
//! field, against the documents a real Packetbeat 1.0 wrote for them.
//! Where tapbeat differs from 1.0 on purpose, the test says why.

use serde_json::Value;
use tapbeat_core::Protocol;
use tapbeat_tests::{manifest, packetbeat_10_docs, pcaps, read, s, settings_for};

/// Fields compared one to one with Packetbeat 1.0's documents.
const FIELDS: &[&[&str]] = &[
    &["@timestamp"],
    &["type"],
    &["status"],
    &["client_ip"],
    &["client_port"],
    &["ip"],
    &["port"],
    &["transport"],
    &["bytes_in"],
    &["bytes_out"],
    &["responsetime"],
    &["method"],
    &["query"],
    &["resource"],
    &["notes"],
    &["dns", "id"],
    &["dns", "op_code"],
    &["dns", "response_code"],
    &["dns", "question", "name"],
    &["dns", "question", "type"],
    &["dns", "question", "class"],
    &["dns", "flags", "authoritative"],
    &["dns", "flags", "recursion_desired"],
    &["dns", "flags", "truncated_response"],
    &["dns", "answers_count"],
    &["dns", "authorities_count"],
];

#[test]
fn every_manifest_capture_matches_packetbeat() {
    let dir = pcaps().join("packetbeat");
    let rows: Vec<_> = manifest(&dir.join("MANIFEST.tsv")).into_iter().filter(|r| r["protocol"] == "dns").collect();
    assert_eq!(rows.len(), 7, "DNS captures present");
    for row in rows {
        let file = &row["file"];
        let port: u16 = row["config_used_by_packetbeat_tests"].trim_start_matches("dns=").parse().unwrap();
        let (docs, stats) = read(&dir.join(file), &settings_for(Protocol::Dns, &[port]));
        let expected: usize = row["events_asserted_by_packetbeat_8x_tests"].parse().unwrap();
        assert_eq!(docs.len(), expected, "{file}: {docs:#?}");
        assert_eq!(stats.transactions_for(Protocol::Dns), expected as u64, "{file}");
        assert_eq!(stats.parse_errors, 0, "{file}");
        let pb = packetbeat_10_docs(file, Some("dns"));
        assert_eq!(pb.len(), docs.len(), "{file}");
        for (want, got) in pb.iter().zip(&docs) {
            for f in FIELDS {
                assert_eq!(s(got, f), s(want, f), "{file}: field {f:?}");
            }
            // 1.0 named the RA bit `recursion_allowed`; 1.2 renamed it
            // `recursion_available`, which is what tapbeat writes.
            assert_eq!(
                s(got, &["dns", "flags", "recursion_available"]),
                s(want, &["dns", "flags", "recursion_allowed"]),
                "{file}"
            );
            assert!(got["dns"]["flags"].get("recursion_allowed").is_none());
            // The two DNSSEC header bits, absent from 1.0's documents, are
            // present (1.2 and later write them).
            assert!(got["dns"]["flags"]["authentic_data"].is_boolean());
            assert!(got["dns"]["flags"]["checking_disabled"].is_boolean());
            // 1.0 counted the EDNS OPT pseudo-record as an additional
            // record; later Packetbeats, and tapbeat, do not (it is reported
            // as `dns.opt`).
            let opt = got["dns"].get("opt").is_some();
            let want_additionals = want["dns"]["additionals_count"].as_u64().unwrap() - u64::from(opt);
            assert_eq!(got["dns"]["additionals_count"].as_u64().unwrap(), want_additionals, "{file}");
            compare_answers(file, want, got);
            // Authorities and additionals are not listed by default.
            assert!(got["dns"].get("authorities").is_none() && got["dns"].get("additionals").is_none());
        }
    }
}

/// Answers, record by record. 1.0 rendered TXT with the length byte of
/// each string still in front ("Iglobalsign-...", "\134v=spf1 ..."), and
/// the DNSSEC types DS and RRSIG as escaped raw RDATA: tapbeat writes the
/// strings themselves and the RFC 4034 fields (checked in the tests below).
fn compare_answers(file: &str, want: &Value, got: &Value) {
    let (w, g) = (want["dns"]["answers"].as_array(), got["dns"]["answers"].as_array());
    let (Some(w), Some(g)) = (w, g) else {
        assert!(w.is_none() && g.is_none(), "{file}: answers listed by one side only");
        return;
    };
    assert_eq!(w.len(), g.len(), "{file}");
    for (wa, ga) in w.iter().zip(g) {
        for k in ["name", "type", "class", "ttl", "preference"] {
            assert_eq!(ga[k], wa[k], "{file}: answer {k}");
        }
        let raw_in_1_0 = ["TXT", "DS", "RRSIG"].contains(&wa["type"].as_str().unwrap());
        if !raw_in_1_0 {
            assert_eq!(ga["data"], wa["data"], "{file}: answer data");
        }
    }
}

#[test]
fn txt_strings_are_shown_without_their_length_bytes() {
    let (docs, _) = read(&pcaps().join("packetbeat/dns_txt.pcap"), &settings_for(Protocol::Dns, &[53]));
    let a = docs[0]["dns"]["answers"].as_array().unwrap();
    assert_eq!(a[0]["data"], "globalsign-domain-verification=l2wl8KOddZFyKJFy_NG1ZUFdWDEIR3dT3Gk2O0_9wS");
    assert_eq!(
        a[1]["data"],
        "v=spf1 include:_spf.google.com include:support.zendesk.com include:mail.zendesk.com \
         include:mktomail.com include:servers.mcsv.net ?all"
    );
}

#[test]
fn dnssec_records_and_edns_are_decoded() {
    let (docs, _) = read(&pcaps().join("packetbeat/dns_udp_edns_ds.pcap"), &settings_for(Protocol::Dns, &[53]));
    let d = &docs[0]["dns"];
    assert_eq!(d["flags"]["authentic_data"], true);
    assert_eq!(d["opt"]["udp_size"], 4000);
    assert_eq!(d["opt"]["do"], true);
    assert_eq!(d["opt"]["version"], 0);
    let a = d["answers"].as_array().unwrap();
    assert_eq!(a[0]["type"], "DS");
    assert_eq!(a[0]["key_tag"], 45586);
    assert_eq!(a[0]["algorithm"], "RSASHA1");
    assert_eq!(a[0]["digest_type"], "SHA-256");
    assert_eq!(a[0]["data"], "67FCD7E0B9E0366309F3B6F7476DFF931D5226EDC5348CD80FD82A081DFCF6EE");
    assert_eq!(a[1]["digest_type"], "SHA-1");
    assert_eq!(a[1]["data"], "D0FDF996D1AF2CCDBDC942B02CB02D379629E20B");
    assert_eq!(a[2]["type"], "RRSIG");
    assert_eq!(a[2]["type_covered"], "DS");
    assert_eq!(a[2]["algorithm"], "RSASHA1-NSEC3-SHA1");
    assert_eq!(a[2]["labels"], 2);
    assert_eq!(a[2]["original_ttl"], 86400);
    assert_eq!(a[2]["expiration"], "20130207154924");
    assert_eq!(a[2]["inception"], "20130117144924");
    assert_eq!(a[2]["key_tag"], 41790);
    assert_eq!(a[2]["signer_name"], "org");
    assert!(a[2]["data"].as_str().unwrap().starts_with("CzRzHX/bMNu+YcYeo1BJJ1WIF6M9v6lM3o+1VEKG"));
}

#[test]
fn include_authorities_and_additionals_list_those_sections() {
    let mut st = settings_for(Protocol::Dns, &[53]);
    st.core.dns.include_authorities = true;
    st.core.dns.include_additionals = true;
    for (file, authorities, additionals) in
        [("dns_additional.pcap", 5, 1), ("dns_mx.pcap", 4, 0), ("dns_not_found.pcap", 1, 0)]
    {
        let (docs, _) = read(&pcaps().join("packetbeat").join(file), &st);
        let d = &docs[0]["dns"];
        assert_eq!(d["authorities_count"], authorities, "{file}");
        assert_eq!(d["authorities"].as_array().unwrap().len(), authorities, "{file}");
        assert_eq!(d["additionals_count"], additionals, "{file}");
        assert_eq!(d["additionals"].as_array().map_or(0, |a| a.len()), additionals, "{file}");
        assert!(docs[0].get("notes").is_none(), "{file}");
    }
    let (docs, _) = read(&pcaps().join("packetbeat/dns_additional.pcap"), &st);
    let glue = &docs[0]["dns"]["additionals"][0];
    assert_eq!(
        (s(glue, &["name"]), s(glue, &["type"]), s(glue, &["data"])),
        ("ns.heise.de".into(), "A".into(), "193.99.145.37".into())
    );
    assert_eq!(docs[0]["dns"]["authorities"][1]["data"], "ns.heise.de");
    let (docs, _) = read(&pcaps().join("packetbeat/dns_not_found.pcap"), &st);
    let soa = &docs[0]["dns"]["authorities"][0];
    assert_eq!(soa["type"], "SOA");
    assert_eq!(soa["name"], "elastic.co");
    assert_eq!(soa["data"], "ns-1183.awsdns-19.org");
    assert_eq!(soa["rname"], "awsdns-hostmaster.amazon.com");
    assert_eq!(
        [&soa["serial"], &soa["refresh"], &soa["retry"], &soa["expire"], &soa["minimum"]],
        [1, 7200, 900, 1209600, 86400]
    );
    let (docs, _) = read(&pcaps().join("packetbeat/dns_mx.pcap"), &st);
    for ns in docs[0]["dns"]["authorities"].as_array().unwrap() {
        assert_eq!(ns["type"], "NS");
        assert_eq!(ns["name"], "elastic.co");
    }
}

#[test]
fn raw_request_and_response_text() {
    let mut st = settings_for(Protocol::Dns, &[53]);
    st.core.dns.common.send_request = true;
    st.core.dns.common.send_response = true;
    let (docs, _) = read(&pcaps().join("packetbeat/dns_mx.pcap"), &st);
    let d = &docs[0];
    assert_eq!(
        d["request"],
        "ID 55804; QR query; OPCODE QUERY; FLAGS rd; RCODE NOERROR; QUESTION class IN, type MX, elastic.co"
    );
    let resp = d["response"].as_str().unwrap();
    assert!(
        resp.starts_with(
            "ID 55804; QR response; OPCODE QUERY; FLAGS rd ra; RCODE NOERROR; QUESTION class IN, type MX, elastic.co; \
             ANSWER elastic.co 276 IN MX 1 aspmx.l.google.com; elastic.co 276 IN MX 10 alt3.aspmx.l.google.com"
        ),
        "{resp}"
    );
    // The raw text lists every section, whatever include_* say.
    assert!(resp.contains("; AUTHORITY elastic.co "), "{resp}");
}

#[test]
fn ecs_layout() {
    let mut st = settings_for(Protocol::Dns, &[53]);
    st.schema = tapbeat_core::json::Schema::Ecs;
    let (docs, _) = read(&pcaps().join("packetbeat/dns_google_com.pcap"), &st);
    let d = &docs[0];
    assert_eq!(d["event"]["dataset"], "dns");
    assert_eq!(d["event"]["outcome"], "success");
    assert_eq!(d["network"]["transport"], "udp");
    assert_eq!(d["query"], "class IN, type A, google.com");
    let x = &d["dns"];
    assert_eq!(x["type"], "answer");
    assert_eq!(x["header_flags"], serde_json::json!(["RD", "RA"]));
    assert_eq!(x["question"]["name"], "google.com");
    assert_eq!(x["answers_count"], 16);
    assert_eq!(x["resolved_ip"].as_array().unwrap().len(), 16);
    assert_eq!(x["resolved_ip"][0], "62.214.62.249");
    let (docs, _) = read(&pcaps().join("packetbeat/dns_not_found.pcap"), &st);
    assert_eq!(docs[0]["event"]["outcome"], "failure");
    assert_eq!(docs[0]["dns"]["response_code"], "NXDOMAIN");
}
