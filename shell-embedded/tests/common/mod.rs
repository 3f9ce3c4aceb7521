//! Test helpers shared by the appliance's integration tests: an in-memory
//! medium-ip link (two smoltcp devices joined back to back) and a
//! `redis-server` on a free loopback port.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

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

pub use tapbeat_tests::redis_server::{free_port, RedisServer};

/// A client of `server`.
pub fn client(server: &RedisServer) -> redis::Client {
    redis::Client::open(server.url()).unwrap()
}

/// The whole list `key` on `server`.
pub fn list(server: &RedisServer, key: &str) -> Vec<Vec<u8>> {
    let mut c = client(server).get_connection().unwrap();
    redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query(&mut c).unwrap()
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
