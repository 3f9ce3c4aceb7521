//! The MySQL/MariaDB analyzer.
//!
//! Scaffolding: the configuration, transaction section and JSON hooks are
//! wired into the engine; the parser itself is being written (its issue),
//! and until then it decodes nothing and reports nothing.

use serde::ser::SerializeMap;

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::proto::{Analyzer, Ctx};
use crate::txn::Transaction;

/// Mysql analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Rows kept in the raw `response` text (`max_rows`).
    pub max_rows: u32,
    /// Bytes kept per row in the raw `response` text (`max_row_length`).
    pub max_row_length: u32,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig { common: Common::on_ports(&[3306]), max_rows: 10, max_row_length: 1024 }
    }
}

/// The Mysql section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct MysqlTxn {}

impl MysqlTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        false
    }
}

/// Per-flow Mysql parser state.
#[derive(Clone, Debug, Default)]
pub struct MysqlParser {}

impl MysqlParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        MysqlParser {}
    }
}

impl Analyzer for MysqlParser {
    fn on_data(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, data: &[u8], _full: bool) -> usize {
        data.len()
    }
    fn on_gap(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _len: u32) {}
    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}
    fn on_close(&mut self, _ctx: &mut Ctx<'_, '_>) {}
}

/// Writes the Mysql fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &MysqlTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}

/// Writes the Mysql fields of the ECS layout into `m`.
pub(crate) fn json_ecs<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &MysqlTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}
