//! Helpers shared by the tests that run the `tapbeat` binary: a loopback
//! HTTP server and client to make traffic, the binary as a child process
//! whose output is collected while it runs, and polling with deadlines.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether the tests run as root (live capture, mounts, user switches).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// The `tapbeat` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tapbeat")
}

/// A fresh, empty folder for one test.
pub fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tapbeat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `f` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tiny HTTP/1.1 server on loopback: answers every request with a small
/// body, keeping connections alive. Returns its port.
pub fn serve_http() -> u16 {
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

/// `conns` connections with `per_conn` keep-alive requests each, to
/// `/{tag}/c{c}/r{i}`, each answer read before the next request. Returns
/// the paths requested.
pub fn http_requests(port: u16, tag: &str, conns: usize, per_conn: usize) -> Vec<String> {
    let mut paths = Vec::new();
    for c in 0..conns {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for i in 0..per_conn {
            let path = format!("/{tag}/c{c}/r{i}");
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            // The answer is 43 bytes.
            let mut buf = [0u8; 256];
            let t = Instant::now();
            let mut got = 0;
            while got < 43 && t.elapsed() < Duration::from_secs(5) {
                match s.read(&mut buf[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            paths.push(path);
        }
    }
    paths
}

/// A running `tapbeat` whose stdout and stderr are collected by threads
/// (so a full pipe never blocks it); killed if still running when dropped.
pub struct Tapbeat {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(r: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    })
}

impl Tapbeat {
    /// Starts `cmd` (a `tapbeat` command line, possibly behind a wrapper
    /// such as `setpriv` or `nsenter`).
    pub fn spawn(mut cmd: Command) -> Tapbeat {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (stdout, stderr) = (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(String::new())));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Tapbeat { child, stdout, stderr, readers }
    }

    /// `tapbeat ARGS...`.
    pub fn run(args: &[&str]) -> Tapbeat {
        let mut c = Command::new(bin());
        c.args(args);
        Tapbeat::spawn(c)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// What it wrote on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits (up to `limit`) for `text` on stderr; panics with the stderr
    /// seen if it does not come or the process exits first.
    pub fn expect_stderr(&mut self, text: &str, limit: Duration) {
        let ok = wait_until(limit, || {
            self.stderr().contains(text) || self.child.try_wait().map(|s| s.is_some()).unwrap_or(true)
        });
        assert!(ok && self.stderr().contains(text), "no '{text}' within {limit:?}; stderr:\n{}", self.stderr());
    }

    /// Waits until the capture is open (the `capturing on` line).
    pub fn wait_capturing(&mut self) {
        self.expect_stderr("capturing on", Duration::from_secs(20));
    }

    /// Sends SIGTERM.
    pub fn term(&self) {
        let st = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(st.success());
    }

    /// Waits for the exit (up to `limit`): the status and the time it took,
    /// or `None` if still running (then it is killed when dropped).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let t = Instant::now();
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        let took = t.elapsed();
        // Let the readers take the last lines.
        if status.is_some() {
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
        }
        status.map(|s| (s, took))
    }
}

impl Drop for Tapbeat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `output_NAME: sent .., rejected .., ...` stats line as numbers:
/// (sent, rejected, dropped_queue_full, dropped_at_shutdown, send_errors).
pub fn output_counts(stderr: &str, name: &str) -> (u64, u64, u64, u64, u64) {
    let prefix = format!("output_{name}: ");
    let line = stderr.lines().find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_string));
    let line = line.unwrap_or_else(|| panic!("no {prefix} line in:\n{stderr}"));
    let n: Vec<u64> = line.split(", ").map(|kv| kv.rsplit(' ').next().unwrap().parse().unwrap()).collect();
    (n[0], n[1], n[2], n[3], n[4])
}

/// A counter of the stats summary (`  NAME: N`), 0 when absent.
pub fn stat(stderr: &str, name: &str) -> u64 {
    let prefix = format!("{name}: ");
    stderr.lines().find_map(|l| l.trim().strip_prefix(&prefix).and_then(|v| v.parse().ok())).unwrap_or(0)
}

/// The `path` of every document in NDJSON text, sorted.
pub fn doc_paths(ndjson: &str) -> Vec<String> {
    let mut v: Vec<String> = ndjson
        .lines()
        .map(|l| {
            let d: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {e}: {l}"));
            d["path"].as_str().unwrap_or("").to_string()
        })
        .collect();
    v.sort();
    v
}

/// Writes a config file for a test and returns its path.
pub fn config(dir: &Path, yaml: &str) -> PathBuf {
    let p = dir.join("tapbeat.yml");
    std::fs::write(&p, yaml).unwrap();
    p
}
