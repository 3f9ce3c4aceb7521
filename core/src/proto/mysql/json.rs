//! MySQL's part of a JSON document (Packetbeat and ECS layouts).

use crate::json::{JsonError, Object};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::txn::{Kind, MysqlTxn};
use crate::config::Config;
use crate::text::Lossy;
use crate::txn::Transaction;

/// Writes the fields both layouts share: `method`, `query`, `path`,
/// `params`, and the raw `request` / `response` texts when kept.
fn common(m: &mut Object<'_, '_>, x: &MysqlTxn, cfg: &Config) -> Result<(), JsonError> {
    if !x.method.is_empty() {
        m.field(crate::key!("method"), &x.s(x.method))?;
        m.field(crate::key!("query"), &x.s(x.query))?;
    }
    if !x.path.is_empty() {
        m.field(crate::key!("path"), &Lossy(&x.path))?;
    }
    if !x.params.is_empty() {
        m.field(crate::key!("params"), &Params(x))?;
    }
    if cfg.mysql.common.send_request && !x.raw_query.is_empty() {
        m.field(crate::key!("request"), &x.s(x.raw_query))?;
    }
    if cfg.mysql.common.send_response && x.has_response && !x.response_raw.is_empty() {
        m.field(crate::key!("response"), &x.s(x.response_raw))?;
    }
    Ok(())
}

/// Writes the MySQL fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn packetbeat(
    m: &mut Object<'_, '_>,
    _t: &Transaction,
    x: &MysqlTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    common(m, x, cfg)?;
    m.field(crate::key!("mysql"), &Section(x))
}

/// Writes the MySQL fields of the ECS layout into `m`: the same names as
/// Packetbeat 8 (`method`, `query`, `path`, `params`, `mysql.*`), plus
/// `error.code` / `error.message` for a failed statement.
pub(crate) fn ecs(m: &mut Object<'_, '_>, _t: &Transaction, x: &MysqlTxn, cfg: &Config) -> Result<(), JsonError> {
    common(m, x, cfg)?;
    m.field(crate::key!("mysql"), &Section(x))?;
    if x.iserror {
        m.field(crate::key!("error"), &EcsError(x))?;
    }
    Ok(())
}

struct Params<'a>(&'a MysqlTxn);

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.params.iter().map(|p| self.0.s(*p)))
    }
}

/// The `mysql` object. The response fields appear once a response was seen
/// (Packetbeat 1.x always writes all seven; tapbeat leaves them out of an
/// unanswered request rather than report zeros it did not see).
struct Section<'a>(&'a MysqlTxn);

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        if x.has_response {
            m.serialize_entry("affected_rows", &x.affected_rows)?;
            m.serialize_entry("insert_id", &x.insert_id)?;
            m.serialize_entry("num_fields", &x.num_fields)?;
            m.serialize_entry("num_rows", &x.num_rows)?;
            m.serialize_entry("iserror", &x.iserror)?;
            m.serialize_entry("error_code", &x.error_code)?;
            m.serialize_entry("error_message", &x.s(x.error_message))?;
        }
        if let Some(id) = x.statement_id {
            m.serialize_entry("statement_id", &id)?;
        }
        if x.kind == Kind::Login {
            if x.encrypted {
                m.serialize_entry("encrypted", &true)?;
            }
            if x.compressed {
                m.serialize_entry("compressed", &true)?;
            }
        }
        m.end()
    }
}

struct EcsError<'a>(&'a MysqlTxn);

impl Serialize for EcsError<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("code", &Code(x.error_code))?;
        m.serialize_entry("message", &x.s(x.error_message))?;
        m.end()
    }
}

/// An error number as an ECS keyword (a string).
struct Code(u16);

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}
