//! `tapbeat run` capturing real traffic on the loopback interface. Needs
//! root (or CAP_NET_RAW): CI runs as root; elsewhere the test says so and
//! passes without capturing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// A tiny HTTP/1.1 server on loopback: answers every request with a small
/// body, keeping connections alive.
fn serve() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    // Skip the headers.
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let body = "hello";
                    let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                }
            });
        }
    });
    port
}

#[test]
fn run_on_loopback_reports_every_request() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let port = serve();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tapbeat"))
        .args(["run", "-i", "lo", "--workers", "2", "--stats-interval", "0", "--ports"])
        .arg(format!("http={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it captures.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("capturing on lo"), "{first}");
    std::thread::sleep(Duration::from_millis(300));

    // 10 connections with 3 keep-alive requests each.
    for c in 0..10 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for i in 0..3 {
            write!(s, "GET /c{c}/r{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut buf = [0u8; 256];
            let t = Instant::now();
            let mut got = 0;
            while got < 43 && t.elapsed() < Duration::from_secs(5) {
                got += s.read(&mut buf[got..]).unwrap();
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    let docs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut paths: Vec<String> = docs.iter().map(|d| d["path"].as_str().unwrap_or("").to_string()).collect();
    paths.sort();
    let mut want: Vec<String> = (0..10).flat_map(|c| (0..3).map(move |i| format!("/c{c}/r{i}"))).collect();
    want.sort();
    assert_eq!(paths, want, "stderr:\n{rest}");
    assert!(docs.iter().all(|d| d["status"] == "OK" && d["http"]["code"] == 200));
    assert!(rest.contains("transactions_http: 30"), "{rest}");
}
