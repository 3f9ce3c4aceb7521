//! `tapbeat run` without root: switching to another user once the capture
//! is open (`--user`, `tapbeat.user`), and capturing as an ordinary user
//! that holds only CAP_NET_RAW and CAP_NET_ADMIN (ambient, as systemd's
//! `AmbientCapabilities=` gives them, or file capabilities from `setcap`).
//! The process's identity is read from `/proc/PID/status`, for every thread.
//!
//! These need root to set up; elsewhere they say so and pass.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{config, doc_paths, http_requests, is_root, serve_http, tmp_dir, Tapbeat};

/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13), as a `/proc` capability mask.
const NET_CAPS: u64 = (1 << 12) | (1 << 13);

/// One field of `/proc/PID/task/TID/status` for every thread of `pid`.
fn thread_field(pid: u32, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let prefix = format!("{field}:");
        if let Some(v) = status.lines().find_map(|l| l.strip_prefix(&prefix)) {
            out.push(v.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    assert!(!out.is_empty(), "no {field} for {pid}");
    out
}

fn id_of(flag: &str, user: &str) -> String {
    let o = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// Captures 2 x 2 requests and stops it; returns (stdout, stderr).
fn capture_some(tb: &mut Tapbeat, port: u16, tag: &str) -> (String, String) {
    let mut want = http_requests(port, tag, 2, 2);
    want.sort();
    // Give the capture a moment to read the last packets before stopping.
    std::thread::sleep(Duration::from_millis(300));
    tb.term();
    let (status, _) = tb.wait_exit(Duration::from_secs(15)).expect("exits after SIGTERM");
    let (out, err) = (tb.stdout(), tb.stderr());
    assert!(status.success(), "{err}");
    assert_eq!(doc_paths(&out), want, "{err}");
    (out, err)
}

/// A copy of the binary that an ordinary user can run (the build folder
/// may not be readable by them).
fn public_copy(name: &str) -> PathBuf {
    let dir = tmp_dir(name);
    let bin = dir.join("tapbeat");
    std::fs::copy(common::bin(), &bin).unwrap();
    bin
}

#[test]
fn run_switches_to_the_user_after_opening_the_capture_and_still_captures() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let port = serve_http();
    let ports = format!("http={port}");
    let mut tb = Tapbeat::run(&[
        "run",
        "-i",
        "lo",
        "--workers",
        "2",
        "--stats-interval",
        "0",
        "--user",
        "nobody",
        "--ports",
        &ports,
    ]);
    tb.wait_capturing();
    assert!(tb.stderr().contains("running as user nobody"), "{}", tb.stderr());
    let (uid, gid) = (id_of("-u", "nobody"), id_of("-g", "nobody"));
    for v in thread_field(tb.pid(), "Uid") {
        assert_eq!(v, format!("{uid} {uid} {uid} {uid}"), "real, effective, saved, fs uid of every thread");
    }
    for v in thread_field(tb.pid(), "Gid") {
        assert_eq!(v, format!("{gid} {gid} {gid} {gid}"));
    }
    for v in thread_field(tb.pid(), "Groups") {
        assert_eq!(v, gid, "no supplementary group of root's left");
    }
    for v in thread_field(tb.pid(), "CapEff").into_iter().chain(thread_field(tb.pid(), "CapPrm")) {
        assert_eq!(u64::from_str_radix(&v, 16).unwrap(), 0, "no capability left");
    }
    capture_some(&mut tb, port, "nobody");
}

#[test]
fn a_user_that_cannot_be_switched_to_stops_the_run() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tmp_dir("bad-user");
    let cfg = config(&dir, "tapbeat:\n  user: tapbeat-no-such-user\n");
    let cfg = cfg.display().to_string();
    let mut tb = Tapbeat::run(&["run", "-i", "lo", "--stats-interval", "0", "-c", &cfg]);
    let (status, _) = tb.wait_exit(Duration::from_secs(15)).expect("exits");
    let err = tb.stderr();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("tapbeat-no-such-user: no such user") && err.contains("refusing to run"), "{err}");
    assert!(!err.contains("capturing on"), "{err}");
}

fn setpriv_available() -> bool {
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv is not installed");
        return false;
    }
    true
}

/// Checks the process runs as nobody with exactly the two capabilities.
fn assert_nobody_with_net_caps(tb: &Tapbeat) {
    let uid = id_of("-u", "nobody");
    for v in thread_field(tb.pid(), "Uid") {
        assert_eq!(v, format!("{uid} {uid} {uid} {uid}"));
    }
    for v in thread_field(tb.pid(), "CapEff") {
        assert_eq!(u64::from_str_radix(&v, 16).unwrap(), NET_CAPS, "CapEff {v}");
    }
}

#[test]
fn captures_as_an_ordinary_user_with_only_net_raw_and_net_admin() {
    if !is_root() {
        eprintln!("skipped: needs root to set the test up");
        return;
    }
    if !setpriv_available() {
        return;
    }
    let bin = public_copy("caps-ambient");
    let port = serve_http();
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=-all,+net_raw,+net_admin",
        "--ambient-caps=-all,+net_raw,+net_admin",
        "--bounding-set=-all,+net_raw,+net_admin",
        "--",
    ])
    .arg(&bin)
    .args(["run", "-i", "lo", "--workers", "1", "--stats-interval", "0", "--ports", &format!("http={port}")]);
    let mut tb = Tapbeat::spawn(c);
    tb.wait_capturing();
    assert_nobody_with_net_caps(&tb);
    capture_some(&mut tb, port, "ambient");
}

#[test]
fn file_capabilities_from_setcap_are_enough() {
    if !is_root() {
        eprintln!("skipped: needs root to set the test up");
        return;
    }
    if !setpriv_available() {
        return;
    }
    let bin = public_copy("caps-file");
    match Command::new("setcap").arg("cap_net_raw,cap_net_admin=eip").arg(&bin).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: setcap is missing or the file system takes no file capabilities");
            return;
        }
    }
    let port = serve_http();
    let mut c = Command::new("setpriv");
    c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]).arg(&bin).args([
        "run",
        "-i",
        "lo",
        "--workers",
        "1",
        "--stats-interval",
        "0",
        "--ports",
        &format!("http={port}"),
    ]);
    let mut tb = Tapbeat::spawn(c);
    tb.wait_capturing();
    assert_nobody_with_net_caps(&tb);
    capture_some(&mut tb, port, "setcap");
}
