//! `tapbeat run` capturing real traffic on the loopback interface. Needs
//! root (or CAP_NET_RAW): CI runs as root; elsewhere the test says so and
//! passes without capturing.

mod common;

use std::time::Duration;

use common::{doc_paths, http_requests, is_root, serve_http, Tapbeat};

#[test]
fn run_on_loopback_reports_every_request() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let port = serve_http();
    let ports = format!("http={port}");
    let mut tb = Tapbeat::run(&["run", "-i", "lo", "--workers", "2", "--stats-interval", "0", "--ports", &ports]);
    tb.wait_capturing();

    // 10 connections with 3 keep-alive requests each.
    let mut want = http_requests(port, "t", 10, 3);
    want.sort();
    // Give the capture a moment to read the last packets before stopping.
    std::thread::sleep(Duration::from_millis(500));
    tb.term();
    let (status, _) = tb.wait_exit(Duration::from_secs(20)).expect("exits after SIGTERM");
    let rest = tb.stderr();
    assert!(status.success(), "{rest}");
    let out = tb.stdout();
    assert_eq!(doc_paths(&out), want, "stderr:\n{rest}");
    for l in out.lines() {
        let d: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(d["status"] == "OK" && d["http"]["code"] == 200, "{d}");
    }
    assert!(rest.contains("transactions_http: 30"), "{rest}");
}
