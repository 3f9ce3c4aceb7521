//! MongoDB's part of a JSON document (Packetbeat and ECS layouts).

use crate::json::{JsonError, Object};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::MongodbTxn;
use crate::config::Config;
use crate::text::Lossy;
use crate::txn::Transaction;

/// The fields every layout shares: `method`, `resource`, `query`,
/// `request` and `response` (Packetbeat 1.2's names, which 8.x kept).
fn common(m: &mut Object<'_, '_>, x: &MongodbTxn, cfg: &Config) -> Result<(), JsonError> {
    if !x.method.is_empty() {
        m.field(crate::key!("method"), &x.s(x.method))?;
        m.field(crate::key!("resource"), &x.s(x.resource))?;
        m.field(crate::key!("query"), &x.query())?;
        if cfg.mongodb.common.send_request {
            m.field(crate::key!("request"), &x.request())?;
        }
    }
    if cfg.mongodb.common.send_response && !x.response.is_empty() {
        m.field(crate::key!("response"), &x.s(x.response))?;
    }
    m.field(crate::key!("mongodb"), &Section(x))
}

/// Writes the MongoDB fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn packetbeat(
    m: &mut Object<'_, '_>,
    _t: &Transaction,
    x: &MongodbTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    common(m, x, cfg)
}

/// Writes the MongoDB fields of the ECS layout into `m`: the same names
/// (ECS has no MongoDB fields), and the server's error as `error.message`.
pub(crate) fn ecs(m: &mut Object<'_, '_>, _t: &Transaction, x: &MongodbTxn, cfg: &Config) -> Result<(), JsonError> {
    common(m, x, cfg)?;
    if !x.error.is_empty() {
        m.field(crate::key!("error"), &EcsError(x))?;
    }
    Ok(())
}

/// The `mongodb` object.
struct Section<'a>(&'a MongodbTxn);

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        if !x.full_collection_name.is_empty() {
            m.serialize_entry("fullCollectionName", &x.s(x.full_collection_name))?;
        }
        if let Some(v) = x.number_to_skip {
            m.serialize_entry("numberToSkip", &v)?;
        }
        if let Some(v) = x.number_to_return {
            m.serialize_entry("numberToReturn", &v)?;
        }
        if let Some(v) = x.number_returned {
            m.serialize_entry("numberReturned", &v)?;
        }
        if let Some(v) = x.starting_from {
            m.serialize_entry("startingFrom", &v)?;
        }
        if let Some(v) = x.cursor_id {
            m.serialize_entry("cursorId", &v)?;
        }
        for (name, span) in [
            ("selector", x.selector),
            ("update", x.update),
            ("returnFieldsSelector", x.return_fields_selector),
            ("message", x.message),
        ] {
            if !span.is_empty() {
                m.serialize_entry(name, &x.s(span))?;
            }
        }
        if !x.error.is_empty() {
            m.serialize_entry("error", &Lossy(x.error.get()))?;
        }
        if let Some(op) = x.unknown_opcode {
            m.serialize_entry("opcode", &op)?;
        }
        if let Some(c) = x.compressor {
            m.serialize_entry("compressor", compressor_name(c))?;
        }
        m.end()
    }
}

/// The name of an OP_COMPRESSED compressor id.
pub fn compressor_name(id: u8) -> &'static str {
    match id {
        0 => "noop",
        1 => "snappy",
        2 => "zlib",
        3 => "zstd",
        _ => "unknown",
    }
}

struct EcsError<'a>(&'a MongodbTxn);

impl Serialize for EcsError<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("message", &Lossy(self.0.error.get()))?;
        m.end()
    }
}
