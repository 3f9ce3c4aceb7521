//! The Thrift-RPC analyzer.
//!
//! Scaffolding: the configuration, transaction section and JSON hooks are
//! wired into the engine; the parser itself is being written (its issue),
//! and until then it decodes nothing and reports nothing.

use serde::ser::SerializeMap;

use crate::config::{Common, Config};
use crate::flow::Direction;
use crate::proto::{Analyzer, Ctx};
use crate::txn::Transaction;

/// Thrift transport framing (`transport_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThriftTransport {
    /// Unframed messages on the socket (`socket`, the default).
    #[default]
    Socket,
    /// Each message prefixed with a 4-byte length (`framed`).
    Framed,
}

/// Thrift protocol encoding (`protocol_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThriftProtocol {
    /// TBinaryProtocol (`binary`, the default).
    #[default]
    Binary,
    /// TCompactProtocol (`compact`).
    Compact,
}

/// Thrift analyzer options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThriftConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Message framing (`transport_type`).
    pub transport_type: ThriftTransport,
    /// Encoding (`protocol_type`).
    pub protocol_type: ThriftProtocol,
    /// Bytes kept per string value (`string_max_size`).
    pub string_max_size: u32,
    /// Elements shown per list/set/map (`collection_max_size`).
    pub collection_max_size: u32,
    /// Struct fields parsed before the rest is dropped (`drop_after_n_struct_fields`).
    pub drop_after_n_struct_fields: u32,
    /// Decode replies (`capture_reply`).
    pub capture_reply: bool,
    /// Replace string values by `"*"` (`obfuscate_strings`).
    pub obfuscate_strings: bool,
}

impl Default for ThriftConfig {
    fn default() -> Self {
        ThriftConfig {
            common: Common::on_ports(&[9090]),
            transport_type: ThriftTransport::Socket,
            protocol_type: ThriftProtocol::Binary,
            string_max_size: 200,
            collection_max_size: 15,
            drop_after_n_struct_fields: 500,
            capture_reply: true,
            obfuscate_strings: false,
        }
    }
}

/// The Thrift section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct ThriftTxn {}

impl ThriftTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        false
    }
}

/// Per-flow Thrift parser state.
#[derive(Clone, Debug, Default)]
pub struct ThriftParser {}

impl ThriftParser {
    /// A parser for a new flow.
    pub const fn new() -> Self {
        ThriftParser {}
    }
}

impl Analyzer for ThriftParser {
    fn on_data(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, data: &[u8], _full: bool) -> usize {
        data.len()
    }
    fn on_gap(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction, _len: u32) {}
    fn on_fin(&mut self, _ctx: &mut Ctx<'_, '_>, _dir: Direction) {}
    fn on_close(&mut self, _ctx: &mut Ctx<'_, '_>) {}
}

/// Writes the Thrift fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &ThriftTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}

/// Writes the Thrift fields of the ECS layout into `m`.
pub(crate) fn json_ecs<M: SerializeMap>(
    _m: &mut M,
    _t: &Transaction,
    _x: &ThriftTxn,
    _cfg: &Config,
) -> Result<(), M::Error> {
    Ok(())
}
