//! The Memcache text and binary protocols, over TCP and UDP analyzer.
//!
//! Scaffolding: the configuration, transaction section and JSON hooks are
//! wired into the engine; the parser itself is being written (its issue),
//! and until then it decodes nothing and reports nothing.

use serde::ser::SerializeMap;

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::proto::{Analyzer, Ctx};
#[allow(unused_imports)]
use crate::time::Duration;
use crate::txn::Transaction;

/// Memcache analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcacheConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Parse unknown commands (`parseunknown`).
    pub parseunknown: bool,
    /// Values reported per response: 0 none, -1 all (`maxvalues`).
    pub maxvalues: i32,
    /// Bytes kept per reported value, 0 for no limit within capacity (`maxbytespervalue`).
    pub maxbytespervalue: u32,
    /// How long UDP datagrams of one request are awaited (`udptransactiontimeout`).
    pub udptransactiontimeout: Duration,
}

impl Default for MemcacheConfig {
    fn default() -> Self {
        MemcacheConfig {
            common: Common::on_ports(&[11211]),
            parseunknown: false,
            maxvalues: 0,
            maxbytespervalue: 0,
            udptransactiontimeout: Duration::from_secs(10),
        }
    }
}

/// The Memcache section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct MemcacheTxn {}

impl MemcacheTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        false
    }
}

/// Per-flow Memcache parser state.
#[derive(Clone, Debug, Default)]
pub struct MemcacheParser {}

impl MemcacheParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        MemcacheParser {}
    }
}

impl Analyzer for MemcacheParser {
    fn on_data(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, data: &[u8], _full: bool) -> usize {
        data.len()
    }
    fn on_gap(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _len: u32) {}
    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}
    fn on_close(&mut self, _ctx: &mut Ctx<'_, '_>) {}
    fn on_datagram(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _data: &[u8]) {}
}

/// Writes the Memcache fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &MemcacheTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}

/// Writes the Memcache fields of the ECS layout into `m`.
pub(crate) fn json_ecs<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &MemcacheTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}
