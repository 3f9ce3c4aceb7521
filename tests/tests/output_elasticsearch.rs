//! The Elasticsearch output against the bulk-API test server (or a real
//! cluster when `TAPBEAT_ES_URL` is set): what it stores equals what
//! `tapbeat read` prints, through 429s and 500s, per-item failures, answers
//! slower than the timeout, connections closed before or in the middle of
//! the answer, and refused connections.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tapbeat::config::OutputSpec;
use tapbeat::output::elasticsearch::{EsOutput, EsSettings};
use tapbeat::output::{Pipeline, PipelineSettings};
use tapbeat_tests::es_server::{EsServer, State};
use tapbeat_tests::{http_settings, pcaps};

fn sample() -> std::path::PathBuf {
    pcaps().join("recorded/http/ab_keepalive.pcap")
}

fn expected() -> Vec<Value> {
    let mut out = Vec::new();
    tapbeat::read::read_files(&[sample()], &http_settings(&[8088]), &mut out).unwrap();
    String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn es(url: &str, user: Option<&str>) -> EsSettings {
    EsSettings {
        hosts: vec![url.to_string()],
        index: "tbtest".into(),
        username: user.map(str::to_string),
        password: user.map(|_| tapbeat::output::secret::Secret::new("s3cret")),
        timeout: Duration::from_secs(5),
        template: true,
        template_name: "tbtest".into(),
        template_overwrite: false,
        tls_insecure: false,
    }
}

fn fast() -> PipelineSettings {
    PipelineSettings {
        batch: 8,
        flush_interval: Duration::from_millis(20),
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..Default::default()
    }
}

fn read_to(settings: EsSettings) -> Vec<String> {
    let mut s = http_settings(&[8088]);
    s.outputs = vec![OutputSpec::Elasticsearch(settings, fast())];
    s.shutdown_timeout = Duration::from_secs(20);
    let mut fan = tapbeat::read::start_outputs(&s, true).unwrap();
    tapbeat::read::read_files(&[sample()], &s, &mut fan).unwrap();
    fan.shutdown(s.shutdown_timeout)
}

#[test]
fn stores_exactly_what_read_prints_with_template_and_daily_index() {
    let state = Arc::new(State::default());
    let auth = format!("Basic {}", "ZWxhc3RpYzpzM2NyZXQ="); // elastic:s3cret
    let srv = EsServer::start("127.0.0.1:0", Some(auth), state.clone());
    let lines = read_to(es(&srv.url(), Some("elastic")));
    assert!(lines[0].contains("sent 50, rejected 0"), "{lines:?}");
    let docs = srv.all_docs();
    let want = expected();
    assert_eq!(docs.len(), want.len());
    for ((index, got), want) in docs.iter().zip(&want) {
        assert_eq!(got, want);
        let day = want["@timestamp"].as_str().unwrap()[..10].replace('-', ".");
        assert_eq!(index, &format!("tbtest-{day}"));
    }
    let t = state.templates.lock().unwrap();
    assert_eq!(t["tbtest"]["index_patterns"][0], "tbtest-*");
    assert_eq!(t["tbtest"]["template"]["mappings"]["properties"]["client_ip"]["type"], "ip");
    assert_eq!(state.unauthorized.load(Ordering::Relaxed), 0);
}

#[test]
fn wrong_password_is_an_error_not_a_silent_loss() {
    let state = Arc::new(State::default());
    let srv = EsServer::start("127.0.0.1:0", Some("Basic nope".into()), state.clone());
    let p = Pipeline::start(Box::new(EsOutput::new(es(&srv.url(), Some("elastic")))), fast());
    p.submit(b"{\"@timestamp\":\"2020-01-01T00:00:00.000Z\"}\n".to_vec());
    let c = p.shutdown(Instant::now() + Duration::from_millis(300));
    assert!(c.send_errors.load(Ordering::Relaxed) >= 1);
    assert_eq!(c.dropped_at_shutdown.load(Ordering::Relaxed), 1, "counted, not lost silently");
    assert!(srv.all_docs().is_empty());
}

#[test]
fn retries_429_and_item_failures_and_counts_rejections() {
    let state = Arc::new(State::default());
    state.faults.bulk_429.store(2, Ordering::Relaxed);
    state.faults.item_429.store(5, Ordering::Relaxed);
    state.faults.delay_ms.store(30, Ordering::Relaxed);
    // One document Elasticsearch can never take (a mapping error).
    let want = expected();
    let victim = want[17]["@timestamp"].as_str().unwrap().to_string();
    let victim_count = want.iter().filter(|d| d["@timestamp"] == victim.as_str()).count();
    *state.faults.reject_containing.lock().unwrap() = Some(format!("\"@timestamp\":\"{victim}\""));
    let srv = EsServer::start("127.0.0.1:0", None, state.clone());
    let lines = read_to(es(&srv.url(), None));
    let got: Vec<Value> = srv.all_docs().into_iter().map(|(_, d)| d).collect();
    let kept: Vec<&Value> = want.iter().filter(|d| d["@timestamp"] != victim.as_str()).collect();
    // Retried items may come after later ones; every document that could
    // be stored is there exactly once.
    assert_eq!(got.len(), kept.len(), "{lines:?}");
    for d in &kept {
        assert!(got.contains(d));
    }
    assert!(lines[0].contains(&format!("rejected {victim_count},")), "{lines:?}");
    assert!(state.bulk_requests.load(Ordering::Relaxed) >= 2 + 50 / 8);
}

#[test]
fn refused_connections_then_server_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let state = Arc::new(State::default());
    let st = state.clone();
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        EsServer::start(&format!("127.0.0.1:{port}"), None, st)
    });
    let lines = read_to(es(&url, None));
    let srv = starter.join().unwrap();
    assert!(lines[0].contains("sent 50, rejected 0, dropped_queue_full 0, dropped_at_shutdown 0"), "{lines:?}");
    let docs: Vec<Value> = srv.all_docs().into_iter().map(|(_, d)| d).collect();
    assert_eq!(docs, expected());
}

#[test]
fn fails_over_to_the_next_host() {
    let state = Arc::new(State::default());
    let srv = EsServer::start("127.0.0.1:0", None, state.clone());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut s = es(&format!("http://127.0.0.1:{dead}"), None);
    s.hosts.push(srv.url());
    let lines = read_to(s);
    assert!(lines[0].contains("sent 50,"), "{lines:?}");
    assert_eq!(srv.all_docs().len(), 50);
}

/// The same check against a real cluster when one is given.
#[test]
fn real_cluster_when_configured() {
    let Ok(url) = std::env::var("TAPBEAT_ES_URL") else {
        eprintln!("TAPBEAT_ES_URL not set: the real-cluster test is skipped");
        return;
    };
    let mut s = es(&url, None);
    s.index = format!("tapbeat-test-{}", std::process::id());
    s.template_name = s.index.clone();
    let lines = read_to(s);
    assert!(lines[0].contains("sent 50, rejected 0"), "{lines:?}");
}

/// Every document of `want` is in `got` at least once; returns how many
/// extra copies there are.
fn each_at_least_once(got: &[Value], want: &[Value]) -> usize {
    for d in want {
        assert!(got.contains(d), "missing: {d}");
    }
    got.len() - want.len()
}

#[test]
fn server_errors_and_dropped_connections_lose_nothing() {
    let state = Arc::new(State::default());
    state.faults.bulk_500.store(2, Ordering::Relaxed);
    state.faults.close_before_response.store(2, Ordering::Relaxed);
    state.faults.close_mid_response.store(2, Ordering::Relaxed);
    let srv = EsServer::start("127.0.0.1:0", None, state.clone());
    let lines = read_to(es(&srv.url(), None));
    assert!(lines[0].contains("sent 50, rejected 0, dropped_queue_full 0, dropped_at_shutdown 0"), "{lines:?}");
    let errors: u64 = lines[0].rsplit("send_errors ").next().unwrap().trim().parse().unwrap();
    assert!(errors >= 6, "each fault is a failed attempt: {lines:?}");
    let got: Vec<Value> = srv.all_docs().into_iter().map(|(_, d)| d).collect();
    // Answers cut midway came after the documents were stored: those two
    // batches (8 documents each at most) are stored twice, nothing else.
    let extra = each_at_least_once(&got, &expected());
    assert!(extra <= 2 * 8, "{extra} duplicates");
    assert_eq!(state.faults.close_mid_response.load(Ordering::Relaxed), 0, "the fault was exercised");
}

#[test]
fn answers_slower_than_the_timeout_are_retried() {
    let state = Arc::new(State::default());
    state.faults.slow_requests.store(2, Ordering::Relaxed);
    state.faults.slow_ms.store(2500, Ordering::Relaxed);
    let srv = EsServer::start("127.0.0.1:0", None, state.clone());
    let mut s = es(&srv.url(), None);
    s.timeout = Duration::from_secs(1);
    let t = Instant::now();
    let lines = read_to(s);
    assert!(lines[0].contains("sent 50, rejected 0, dropped_queue_full 0, dropped_at_shutdown 0"), "{lines:?}");
    assert!(!lines[0].ends_with("send_errors 0"), "the timeouts were seen: {lines:?}");
    let got: Vec<Value> = srv.all_docs().into_iter().map(|(_, d)| d).collect();
    let extra = each_at_least_once(&got, &expected());
    assert!(extra <= 2 * 8, "{extra} duplicates");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
}

#[test]
fn per_item_failures_that_persist_resend_only_those_items() {
    let state = Arc::new(State::default());
    // More item 429s than the output's immediate retries: the pipeline's
    // backoff takes over, for the refused items only (the third round
    // stores two of the four; the other two are sent again).
    state.faults.item_429.store(10, Ordering::Relaxed);
    let srv = EsServer::start("127.0.0.1:0", None, state.clone());
    let p = Pipeline::start(Box::new(EsOutput::new(es(&srv.url(), None))), fast());
    let want: Vec<Value> =
        (0..4).map(|i| serde_json::json!({"@timestamp": "2020-01-01T00:00:00.000Z", "n": i})).collect();
    for d in &want {
        p.submit(format!("{d}\n").into_bytes());
    }
    let c = p.shutdown(Instant::now() + Duration::from_secs(10));
    assert_eq!(c.sent.load(Ordering::Relaxed), 4);
    assert!(c.send_errors.load(Ordering::Relaxed) >= 1);
    let got: Vec<Value> = srv.all_docs().into_iter().map(|(_, d)| d).collect();
    assert_eq!(each_at_least_once(&got, &want), 0, "stored items are not indexed twice: {got:?}");
}
