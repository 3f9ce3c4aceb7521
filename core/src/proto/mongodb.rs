//! The MongoDB wire protocol analyzer.
//!
//! Scaffolding: the configuration, transaction section and JSON hooks are
//! wired into the engine; the parser itself is being written (its issue),
//! and until then it decodes nothing and reports nothing.

use serde::ser::SerializeMap;

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::proto::{Analyzer, Ctx};
use crate::txn::Transaction;

/// Mongodb analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MongodbConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Documents kept in the raw `response` text (`max_docs`).
    pub max_docs: u32,
    /// Bytes kept per document (`max_doc_length`).
    pub max_doc_length: u32,
}

impl Default for MongodbConfig {
    fn default() -> Self {
        MongodbConfig { common: Common::on_ports(&[27017]), max_docs: 10, max_doc_length: 5000 }
    }
}

/// The Mongodb section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct MongodbTxn {}

impl MongodbTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        false
    }
}

/// Per-flow Mongodb parser state.
#[derive(Clone, Debug, Default)]
pub struct MongodbParser {}

impl MongodbParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        MongodbParser {}
    }
}

impl Analyzer for MongodbParser {
    fn on_data(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, data: &[u8], _full: bool) -> usize {
        data.len()
    }
    fn on_gap(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _len: u32) {}
    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}
    fn on_close(&mut self, _ctx: &mut Ctx<'_, '_>) {}
}

/// Writes the Mongodb fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &MongodbTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}

/// Writes the Mongodb fields of the ECS layout into `m`.
pub(crate) fn json_ecs<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &MongodbTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}
