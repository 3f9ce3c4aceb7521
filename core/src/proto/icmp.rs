//! The ICMP v4 and v6 analyzer.
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

/// Icmp analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig { common: Common { enabled: true, ..Common::on_ports(&[]) } }
    }
}

/// The Icmp section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct IcmpTxn {}

impl IcmpTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        false
    }
}

/// Per-flow Icmp parser state.
#[derive(Clone, Debug, Default)]
pub struct IcmpParser {}

impl IcmpParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        IcmpParser {}
    }
}

impl Analyzer for IcmpParser {
    fn on_data(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, data: &[u8], _full: bool) -> usize {
        data.len()
    }
    fn on_gap(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _len: u32) {}
    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}
    fn on_close(&mut self, _ctx: &mut Ctx<'_, '_>) {}
    fn on_datagram(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _data: &[u8]) {}
}

/// Writes the Icmp fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &IcmpTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}

/// Writes the Icmp fields of the ECS layout into `m`.
pub(crate) fn json_ecs<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &IcmpTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}
