//! Thrift's part of a JSON document (Packetbeat and ECS layouts).

use crate::json::{JsonError, Object};
use core::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::txn::{ReplyKind, ThriftTxn};
use crate::config::Config;
use crate::txn::{Notes, Transaction};

/// `method(params)`: Packetbeat's `query` (and raw `request`).
struct Query<'a>(&'a ThriftTxn);

impl fmt::Display for Query<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0.s(self.0.method), self.0.s(self.0.params))
    }
}

impl Serialize for Query<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The raw `response`: the return value, or `Exceptions: ...`.
struct Response<'a>(&'a ThriftTxn);

impl fmt::Display for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        match x.reply {
            ReplyKind::Exception => write!(f, "Exceptions: {}", x.s(x.exceptions)),
            _ => write!(f, "{}", x.s(x.return_value)),
        }
    }
}

impl Serialize for Response<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The `thrift` object.
struct Section<'a> {
    x: &'a ThriftTxn,
    has_request: bool,
}

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.x;
        let mut m = s.serialize_map(None)?;
        if !x.service.is_empty() {
            m.serialize_entry("service", &x.s(x.service))?;
        }
        if self.has_request {
            m.serialize_entry("params", &x.s(x.params))?;
        }
        if x.reply != ReplyKind::None && x.reply_rendered {
            m.serialize_entry("return_value", &x.s(x.return_value))?;
            if !x.exceptions.is_empty() {
                m.serialize_entry("exceptions", &x.s(x.exceptions))?;
            }
        }
        m.end()
    }
}

/// Writes the Thrift fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn packetbeat(
    m: &mut Object<'_, '_>,
    t: &Transaction,
    x: &ThriftTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    let has_request = !t.notes.contains(Notes::NO_REQUEST);
    m.field(crate::key!("method"), &x.s(x.method))?;
    m.field(crate::key!("path"), &x.s(x.service))?;
    if has_request {
        m.field(crate::key!("query"), &Query(x))?;
        if cfg.thrift.common.send_request {
            m.field(crate::key!("request"), &Query(x))?;
        }
    }
    if cfg.thrift.common.send_response && x.reply != ReplyKind::None && x.reply_rendered {
        m.field(crate::key!("response"), &Response(x))?;
    }
    m.field(crate::key!("thrift"), &Section { x, has_request })
}

/// ECS `error` object for exceptions.
struct EcsError<'a>(&'a ThriftTxn);

impl Serialize for EcsError<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", "thrift_exception")?;
        m.serialize_entry("message", &self.0.s(self.0.exceptions))?;
        m.end()
    }
}

/// Writes the Thrift fields of the ECS layout into `m` (the names Packetbeat
/// 8 keeps for Thrift: `method`, `path`, `query`, `thrift.*`; exceptions
/// also as ECS `error`).
pub(crate) fn ecs(m: &mut Object<'_, '_>, t: &Transaction, x: &ThriftTxn, cfg: &Config) -> Result<(), JsonError> {
    let has_request = !t.notes.contains(Notes::NO_REQUEST);
    m.field(crate::key!("method"), &x.s(x.method))?;
    if !x.service.is_empty() {
        m.field(crate::key!("path"), &x.s(x.service))?;
    }
    if has_request {
        m.field(crate::key!("query"), &Query(x))?;
        if cfg.thrift.common.send_request {
            m.field(crate::key!("request"), &Query(x))?;
        }
    }
    if cfg.thrift.common.send_response && x.reply != ReplyKind::None && x.reply_rendered {
        m.field(crate::key!("response"), &Response(x))?;
    }
    if x.reply == ReplyKind::Exception && !x.exceptions.is_empty() {
        m.field(crate::key!("error"), &EcsError(x))?;
    }
    m.field(crate::key!("thrift"), &Section { x, has_request })
}
