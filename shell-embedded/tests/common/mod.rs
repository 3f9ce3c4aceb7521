//! Test helpers shared by the appliance's integration tests: an in-memory
//! medium-ip link (two smoltcp devices joined back to back) and a
//! `redis-server` on a free loopback port.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tapbeat_embedded::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use tapbeat_embedded::smoltcp::time::Instant as SmolInstant;

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of an in-memory IP link: what one end transmits, the other
/// receives, in order, without loss.
pub struct PipeEnd {
    rx: Queue,
    tx: Queue,
    medium: Medium,
}

/// An IP link (medium-ip): two ends.
pub fn pipe() -> (PipeEnd, PipeEnd) {
    pipe_of(Medium::Ip)
}

/// A link of `medium` (Ethernet: a cable between two ports): two ends.
pub fn pipe_of(medium: Medium) -> (PipeEnd, PipeEnd) {
    let (a, b) = (Queue::default(), Queue::default());
    (PipeEnd { rx: a.clone(), tx: b.clone(), medium }, PipeEnd { rx: b, tx: a, medium })
}

/// Receive token: one packet.
pub struct PipeRx(Vec<u8>);
/// Transmit token: appends to the peer's queue.
pub struct PipeTx<'a>(&'a Queue);

impl phy::RxToken for PipeRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for PipeTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.borrow_mut().push_back(buf);
        r
    }
}

impl Device for PipeEnd {
    type RxToken<'a> = PipeRx;
    type TxToken<'a> = PipeTx<'a>;

    fn receive(&mut self, _: SmolInstant) -> Option<(PipeRx, PipeTx<'_>)> {
        let p = self.rx.borrow_mut().pop_front()?;
        Some((PipeRx(p), PipeTx(&self.tx)))
    }

    fn transmit(&mut self, _: SmolInstant) -> Option<PipeTx<'_>> {
        Some(PipeTx(&self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = self.medium;
        c.max_transmission_unit = if self.medium == Medium::Ethernet { 1514 } else { 1500 };
        c
    }
}

/// A `redis-server` on 127.0.0.1:`port`, killed on drop.
pub struct Redis {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts one keeping its data (append-only file) in `dir`.
    pub fn start(port: u16, dir: &Path) -> Redis {
        std::fs::create_dir_all(dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        let r = Redis { child, port, dir: dir.to_path_buf() };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(mut c) = r.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return r;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start");
    }

    /// A client of it.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap()
    }

    /// The whole list `key`.
    pub fn list(&self, key: &str) -> Vec<Vec<u8>> {
        let mut c = self.client().get_connection().unwrap();
        redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query(&mut c).unwrap()
    }

    /// Stops it; returns its data directory (to restart on).
    pub fn stop(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.clone()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh temporary directory for this process.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tapbeat-embedded-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// smoltcp time from a std clock started at `start`.
pub fn smol_now(start: Instant) -> SmolInstant {
    SmolInstant::from_micros(start.elapsed().as_micros() as i64)
}
