//! `tapbeat run` and `tapbeat read` with outputs that fail: Elasticsearch
//! down or hanging when SIGTERM comes, and a file output on a file system
//! that is full. The process must keep going, exit promptly on SIGTERM,
//! deliver what the output took and count everything else.
//!
//! Live capture and mounts need root: elsewhere these tests say so and
//! pass without running.

mod common;
#[path = "../../tests/src/es_server.rs"]
#[allow(dead_code, missing_docs, clippy::incompatible_msrv)]
mod es_server;
#[path = "../../tests/src/redis_server.rs"]
#[allow(dead_code, missing_docs)]
mod redis_server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{
    config, doc_paths, http_requests, is_root, output_counts, serve_http, stat, tmp_dir, wait_until, Tapbeat,
};
use es_server::{EsServer, State};
use redis_server::RedisServer;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run_args(cfg: &Path) -> Vec<String> {
    ["run", "-i", "lo", "--workers", "1", "--stats-interval", "1", "-c"]
        .iter()
        .map(|s| s.to_string())
        .chain([cfg.display().to_string()])
        .collect()
}

fn run(cfg: &Path) -> Tapbeat {
    let args = run_args(cfg);
    Tapbeat::run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Elasticsearch refuses connections the whole time; the queue holds 4
/// documents. SIGTERM: out within the shutdown timeout (plus the grace for
/// a send in progress), every transaction either dropped because the
/// queue was full or at shutdown, and said so.
#[test]
fn sigterm_with_elasticsearch_down_exits_promptly_and_counts_everything() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let dir = tmp_dir("es-down");
    let port = serve_http();
    let cfg = config(
        &dir,
        &format!(
            "protocols:\n  http:\n    ports: [{port}]\noutput:\n  elasticsearch:\n    hosts: [\"127.0.0.1:{}\"]\n    timeout: 1\n    bulk_max_size: 5\n    flush_interval: 0.05\ntapbeat:\n  queue_size: 4\n  shutdown_timeout: 1\n",
            free_port()
        ),
    );
    let mut tb = run(&cfg);
    tb.wait_capturing();
    http_requests(port, "down", 10, 3);
    tb.expect_stderr("output queue full", Duration::from_secs(10));
    // The periodic stats line shows the drops while it runs.
    tb.expect_stderr("; output_elasticsearch sent 0, dropped ", Duration::from_secs(5));
    // Give the capture a moment to read the last packets before stopping.
    std::thread::sleep(Duration::from_millis(300));
    tb.term();
    let (status, took) = tb.wait_exit(Duration::from_secs(15)).expect("exits after SIGTERM");
    let err = tb.stderr();
    assert!(status.success(), "{err}");
    assert!(took < Duration::from_secs(6), "took {took:?} (shutdown_timeout 1 s + 1 s grace)");
    let (sent, rejected, queue_full, at_shutdown, errors) = output_counts(&err, "elasticsearch");
    assert_eq!(stat(&err, "transactions_http"), 30, "{err}");
    assert_eq!((sent, rejected), (0, 0), "{err}");
    assert!(queue_full > 0 && errors > 0, "{err}");
    assert!(errors < 40, "retries back off, also while shutting down: {errors}");
    assert_eq!(queue_full + at_shutdown, 30, "every document accounted for:\n{err}");
    assert!(err.contains("shutdown deadline passed: dropped"), "{err}");
}

/// Elasticsearch takes the first documents, then stops answering (a
/// request hangs far longer than the shutdown timeout). SIGTERM: out
/// promptly anyway; what Elasticsearch confirmed is counted as sent and is
/// stored, the rest counted as dropped at shutdown.
#[test]
fn sigterm_with_elasticsearch_hanging_exits_promptly_and_counts_everything() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let dir = tmp_dir("es-hang");
    let port = serve_http();
    let state = Arc::new(State::default());
    let srv = EsServer::start("127.0.0.1:0", None, state.clone());
    let cfg = config(
        &dir,
        &format!(
            "protocols:\n  http:\n    ports: [{port}]\noutput:\n  elasticsearch:\n    hosts: [\"{}\"]\n    timeout: 120\n    bulk_max_size: 5\n    flush_interval: 0.05\ntapbeat:\n  shutdown_timeout: 1\n",
            srv.url()
        ),
    );
    let mut tb = run(&cfg);
    tb.wait_capturing();
    let first = http_requests(port, "early", 2, 5);
    assert!(
        wait_until(Duration::from_secs(15), || srv.all_docs().len() >= first.len()),
        "the first documents arrive: {} stored\n{}",
        srv.all_docs().len(),
        tb.stderr()
    );
    // From now on every _bulk request hangs for a minute.
    state.faults.slow_ms.store(60_000, Ordering::Relaxed);
    state.faults.slow_requests.store(1000, Ordering::Relaxed);
    http_requests(port, "late", 4, 5);
    std::thread::sleep(Duration::from_millis(500));
    tb.term();
    let (status, took) = tb.wait_exit(Duration::from_secs(15)).expect("exits after SIGTERM");
    let err = tb.stderr();
    assert!(status.success(), "{err}");
    assert!(took < Duration::from_secs(6), "took {took:?} (shutdown_timeout 1 s + 1 s grace)");
    let (sent, rejected, queue_full, at_shutdown, _) = output_counts(&err, "elasticsearch");
    assert_eq!(stat(&err, "transactions_http"), 30, "{err}");
    assert_eq!(sent, first.len() as u64, "{err}");
    assert_eq!(sent + rejected + queue_full + at_shutdown, 30, "{err}");
    assert!(err.contains("abandoned"), "{err}");
    let stored: Vec<String> =
        srv.all_docs().iter().map(|(_, d)| d["path"].as_str().unwrap_or("").to_string()).collect();
    for p in &first {
        assert!(stored.contains(p), "{p} confirmed but not stored");
    }
}

/// `tapbeat read` into an Elasticsearch that takes 400 ms per request, with
/// a queue of 20: reading waits for the output (once the bounded batches
/// between the reading thread and the worker are full: hence many files).
/// SIGTERM: reading stops, what the queue holds is delivered until the shutdown timeout, and every
/// document written is accounted for as sent or dropped at shutdown.
#[test]
fn sigterm_stops_a_read_waiting_for_a_slow_output() {
    let dir = tmp_dir("read-sigterm");
    let state = Arc::new(State::default());
    state.faults.slow_ms.store(400, Ordering::Relaxed);
    state.faults.slow_requests.store(1000, Ordering::Relaxed);
    let srv = EsServer::start("127.0.0.1:0", None, state.clone());
    let cfg = config(
        &dir,
        &format!(
            "protocols:\n  http:\n    ports: [8088]\noutput:\n  elasticsearch:\n    hosts: [\"{}\"]\n    bulk_max_size: 10\n    flush_interval: 0.05\ntapbeat:\n  queue_size: 20\n  shutdown_timeout: 1\n",
            srv.url()
        ),
    );
    let mut args = vec!["read".to_string(), "-c".into(), cfg.display().to_string()];
    args.extend((0..300).map(|_| sample().display().to_string()));
    let mut tb = Tapbeat::run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(wait_until(Duration::from_secs(10), || srv.all_docs().len() >= 10), "{}", tb.stderr());
    tb.term();
    let (status, took) = tb.wait_exit(Duration::from_secs(15)).expect("exits after SIGTERM");
    let err = tb.stderr();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(took < Duration::from_secs(6), "took {took:?} (shutdown_timeout 1 s + 1 s grace)");
    assert!(err.contains("stopped by a signal"), "{err}");
    let written = stat(&err, "documents_written");
    assert!(written > 0 && written < 300 * 50, "reading stopped early: {written}\n{err}");
    let (sent, rejected, queue_full, at_shutdown, _) = output_counts(&err, "elasticsearch");
    assert_eq!(queue_full, 0, "reading waits instead of dropping: {err}");
    assert!(sent >= 10, "{err}");
    assert_eq!(sent + rejected + at_shutdown, written, "{err}");
    assert!(srv.all_docs().len() as u64 >= sent, "everything confirmed is stored");
}

/// `tapbeat run` shipping to a real Redis that is killed and restarted
/// while traffic goes on: every transaction ends up in the list (at least
/// once), nothing is dropped, and the outage was seen.
#[test]
fn run_with_redis_killed_and_restarted_loses_nothing() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let dir = tmp_dir("redis-restart");
    let port = serve_http();
    let rport = free_port();
    let cfg = config(
        &dir,
        &format!(
            "protocols:\n  http:\n    ports: [{port}]\noutput:\n  redis:\n    host: 127.0.0.1\n    port: {rport}\n    key: tb\n    timeout: 1\n    flush_interval: 0.05\ntapbeat:\n  shutdown_timeout: 10\n"
        ),
    );
    let llen = |r: &RedisServer| -> usize {
        let mut c = redis::Client::open(r.url()).unwrap().get_connection().unwrap();
        redis::cmd("LLEN").arg("tb").query(&mut c).unwrap_or(0)
    };
    let data = dir.join("redis-data");
    let redis = RedisServer::start(rport, &data, &[]);
    let mut tb = run(&cfg);
    tb.wait_capturing();
    let mut want = http_requests(port, "before", 2, 5);
    assert!(wait_until(Duration::from_secs(10), || llen(&redis) >= 10), "{}", tb.stderr());
    let data = redis.stop();
    want.extend(http_requests(port, "down", 2, 5));
    tb.expect_stderr("send failed", Duration::from_secs(10));
    let redis = RedisServer::start(rport, &data, &[]);
    want.extend(http_requests(port, "after", 2, 5));
    want.sort();
    assert!(wait_until(Duration::from_secs(20), || llen(&redis) >= 30), "{}", tb.stderr());
    tb.term();
    let (status, _) = tb.wait_exit(Duration::from_secs(20)).expect("exits after SIGTERM");
    let err = tb.stderr();
    assert!(status.success(), "{err}");
    let (sent, _, queue_full, at_shutdown, errors) = output_counts(&err, "redis");
    assert_eq!((sent, queue_full, at_shutdown), (30, 0, 0), "{err}");
    assert!(errors > 0, "{err}");
    let mut c = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let got: Vec<String> = redis::cmd("LRANGE").arg("tb").arg(0).arg(-1).query(&mut c).unwrap();
    let mut paths: Vec<String> = got
        .iter()
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap()["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths, want, "every transaction, at least once");
}

/// A small tmpfs in a private mount namespace: a `sleep` holds the
/// namespace; commands enter it with `nsenter`, and its files are reached
/// from outside through `/proc/PID/root`.
struct SmallFs {
    holder: Child,
    /// The mount point (the same path inside and outside the namespace).
    dir: PathBuf,
}

impl SmallFs {
    fn mount(name: &str, size_kb: u32) -> Option<SmallFs> {
        for tool in ["unshare", "nsenter", "mount"] {
            if Command::new(tool).arg("--version").output().is_err() {
                eprintln!("skipped: {tool} is not installed");
                return None;
            }
        }
        let dir = tmp_dir(name);
        let script = format!(
            "mount -t tmpfs -o size={size_kb}k tapbeat-test '{}' && echo ready && exec sleep 120",
            dir.display()
        );
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.trim() != "ready" {
            let _ = holder.kill();
            let _ = holder.wait();
            eprintln!("skipped: cannot mount a tmpfs in a new mount namespace");
            return None;
        }
        Some(SmallFs { holder, dir })
    }

    /// A path inside the tmpfs, as seen from outside the namespace.
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.holder.id(), self.dir.join(name).display()))
    }

    /// `tapbeat ARGS` inside the namespace.
    fn tapbeat(&self, args: &[String]) -> Tapbeat {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-m", "--", common::bin()]).args(args);
        Tapbeat::spawn(c)
    }

    /// Fills the file system with a file `name`.
    fn fill(&self, name: &str) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path(name)).unwrap();
        let chunk = vec![b'x'; 4096];
        while f.write_all(&chunk).is_ok() {}
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every line of a file is a whole JSON document; returns them.
fn whole_docs(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{} ends in a partial line", path.display());
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: partial document {e}: {l}", path.display())))
        .collect()
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pcaps/recorded/http/ab_keepalive.pcap")
}

/// `tapbeat read` into a 64 KiB file system: more than fits. The output
/// deletes its oldest rotated files to make room, never leaves a partial
/// line, and finishes with the newest documents kept.
#[test]
fn read_into_a_full_file_system_keeps_the_newest_whole_documents() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let Some(fs) = SmallFs::mount("fullfs-read", 64) else { return };
    let cfg_dir = tmp_dir("fullfs-read-cfg");
    let cfg = config(
        &cfg_dir,
        &format!(
            "protocols:\n  http:\n    ports: [8088]\noutput:\n  file:\n    path: {}\n    filename: tb\n    rotate_every_kb: 16\n    number_of_files: 20\n",
            fs.dir.display()
        ),
    );
    // The sample 12 times: 600 documents, about 4 times the room.
    let mut args = vec!["read".to_string(), "-c".into(), cfg.display().to_string()];
    args.extend((0..12).map(|_| sample().display().to_string()));
    let mut tb = fs.tapbeat(&args);
    let (status, _) = tb.wait_exit(Duration::from_secs(20)).expect("read finishes");
    let err = tb.stderr();
    assert!(status.success(), "{err}");
    assert!(err.contains("file system full: deleted the oldest rotated file"), "{err}");
    let (sent, _, queue_full, at_shutdown, _) = output_counts(&err, "file");
    assert_eq!((sent, queue_full, at_shutdown), (600, 0, 0), "{err}");
    // The kept files are consecutive from the newest, all whole documents,
    // and the very last document is the last line of the current file.
    let mut expected_last = Vec::new();
    tapbeat::read::read_files(&[sample()], &settings_8088(), &mut expected_last).unwrap();
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8(expected_last).unwrap().lines().last().unwrap()).unwrap();
    let current = whole_docs(&fs.path("tb"));
    assert_eq!(current.last(), Some(&last));
    let mut kept = current.len();
    let mut i = 1;
    while fs.path(&format!("tb.{i}")).exists() {
        kept += whole_docs(&fs.path(&format!("tb.{i}"))).len();
        i += 1;
    }
    assert!(i < 20, "space, not number_of_files, limited the files: {i}");
    assert!(kept > 50 && kept < 600, "{kept} documents kept");
}

fn settings_8088() -> tapbeat::Settings {
    let mut s = tapbeat::Settings::default();
    s.core.disable_all();
    assert!(s.core.set_ports(tapbeat_core::Protocol::Http, &[8088]));
    s
}

/// `tapbeat run` writing to a file system another file has filled: the
/// output fails and retries while capture goes on; once there is room
/// again every queued document is written, and SIGTERM flushes the rest.
#[test]
fn run_with_a_full_file_system_retries_and_loses_nothing_the_queue_held() {
    if !is_root() {
        eprintln!("skipped: live capture and mounting a tmpfs need root");
        return;
    }
    let Some(fs) = SmallFs::mount("fullfs-run", 256) else { return };
    let cfg_dir = tmp_dir("fullfs-run-cfg");
    let port = serve_http();
    let cfg = config(
        &cfg_dir,
        &format!(
            "protocols:\n  http:\n    ports: [{port}]\noutput:\n  file:\n    path: {}\n    filename: tb\ntapbeat:\n  shutdown_timeout: 5\n",
            fs.dir.display()
        ),
    );
    let mut tb = fs.tapbeat(&run_args(&cfg));
    tb.wait_capturing();
    fs.fill("filler");
    let mut want = http_requests(port, "full", 5, 2);
    tb.expect_stderr("send failed", Duration::from_secs(15));
    assert!(tb.stderr().contains("No space left on device"), "{}", tb.stderr());
    std::fs::remove_file(fs.path("filler")).unwrap();
    want.extend(http_requests(port, "room", 5, 2));
    want.sort();
    let written = wait_until(Duration::from_secs(15), || {
        std::fs::read_to_string(fs.path("tb")).map(|t| t.lines().count() >= want.len()).unwrap_or(false)
    });
    assert!(written, "documents written once there is room:\n{}", tb.stderr());
    tb.term();
    let (status, took) = tb.wait_exit(Duration::from_secs(15)).expect("exits after SIGTERM");
    let err = tb.stderr();
    assert!(status.success(), "{err}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let docs = std::fs::read_to_string(fs.path("tb")).unwrap();
    assert_eq!(doc_paths(&docs), want, "{err}");
    let (sent, _, queue_full, at_shutdown, errors) = output_counts(&err, "file");
    assert_eq!((sent, queue_full, at_shutdown), (20, 0, 0), "{err}");
    assert!(errors > 0, "{err}");
}
