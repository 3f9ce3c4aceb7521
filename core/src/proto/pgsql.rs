//! The PostgreSQL analyzer.
//!
//! Scaffolding: the configuration, transaction section and JSON hooks are
//! wired into the engine; the parser itself is being written (its issue),
//! and until then it decodes nothing and reports nothing.

use serde::ser::SerializeMap;

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::proto::{Analyzer, Ctx};
use crate::txn::Transaction;

/// Pgsql analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgsqlConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Rows kept in the raw `response` text (`max_rows`).
    pub max_rows: u32,
    /// Bytes kept per row in the raw `response` text (`max_row_length`).
    pub max_row_length: u32,
}

impl Default for PgsqlConfig {
    fn default() -> Self {
        PgsqlConfig { common: Common::on_ports(&[5432]), max_rows: 10, max_row_length: 1024 }
    }
}

/// The Pgsql section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct PgsqlTxn {}

impl PgsqlTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        false
    }
}

/// Per-flow Pgsql parser state.
#[derive(Clone, Debug, Default)]
pub struct PgsqlParser {}

impl PgsqlParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        PgsqlParser {}
    }
}

impl Analyzer for PgsqlParser {
    fn on_data(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, data: &[u8], _full: bool) -> usize {
        data.len()
    }
    fn on_gap(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _len: u32) {}
    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}
    fn on_close(&mut self, _ctx: &mut Ctx<'_, '_>) {}
}

/// Writes the Pgsql fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &PgsqlTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}

/// Writes the Pgsql fields of the ECS layout into `m`.
pub(crate) fn json_ecs<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &PgsqlTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}
