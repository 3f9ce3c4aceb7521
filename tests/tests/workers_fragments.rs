//! With several analysis workers, the fragments of a datagram go to the
//! worker of its flow: a DNS query sent whole and its answer fragmented
//! still make one transaction (the fragments carry no ports, so hashing
//! them alone would send them elsewhere), whichever fragment comes first.

use tapbeat::read::read_files_with_workers;
use tapbeat_tests::hostile::{fragmented_dns, Gen};

#[test]
fn fragmented_answers_meet_their_queries_on_any_number_of_workers() {
    answers_meet_their_queries(false);
}

#[test]
fn fragments_sent_last_first_meet_their_queries_on_any_number_of_workers() {
    answers_meet_their_queries(true);
}

fn answers_meet_their_queries(last_first: bool) {
    let mut g = Gen::new();
    let n = 64u16;
    for i in 0..n {
        fragmented_dns(&mut g, i, last_first);
    }
    let dir = std::env::temp_dir().join(format!("tapbeat-workers-frag-{}-{last_first}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = g.into_hostile("dns_fragmented_answers", "DNS answers in two fragments").save(&dir).unwrap();
    let settings = tapbeat_tests::settings_for(tapbeat_core::Protocol::Dns, &[53]);
    for workers in [1, 2, 3, 4] {
        let mut out = Vec::new();
        let sum = read_files_with_workers(&[&path], &settings, workers, &mut out).unwrap();
        let docs: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(docs.len(), n as usize, "{workers} workers");
        for d in &docs {
            assert_eq!(d["status"], "OK", "{workers} workers: {d}");
            assert_eq!(d["dns"]["answers_count"], 1, "{workers} workers: {d}");
        }
        assert_eq!(sum.engine.unmatched_requests, 0, "{workers} workers");
    }
    std::fs::remove_dir_all(&dir).ok();
}
