//! PostgreSQL's part of a JSON document (Packetbeat and ECS layouts).

use crate::json::{JsonError, Object};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{CopyMode, PgsqlTxn};
use crate::config::Config;
use crate::txn::{Notes, Transaction};

/// Writes the Pgsql fields of the Packetbeat 1.2 layout into `m`: `method`,
/// `query`, `request`/`response` (raw text when enabled) and the `pgsql`
/// object.
pub(crate) fn json_packetbeat(
    m: &mut Object<'_, '_>,
    t: &Transaction,
    x: &PgsqlTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    common(m, t, x, cfg)?;
    m.field(crate::key!("pgsql"), &Section(x))
}

/// Writes the Pgsql fields of the ECS layout into `m`: the same as the
/// Packetbeat layout (Packetbeat 8 keeps `method`, `query` and `pgsql.*`),
/// plus ECS `error.code`/`error.message` for an ErrorResponse.
pub(crate) fn json_ecs(m: &mut Object<'_, '_>, t: &Transaction, x: &PgsqlTxn, cfg: &Config) -> Result<(), JsonError> {
    common(m, t, x, cfg)?;
    m.field(crate::key!("pgsql"), &Section(x))?;
    if x.iserror {
        m.field(crate::key!("error"), &EcsError(x))?;
    }
    Ok(())
}

fn common(m: &mut Object<'_, '_>, t: &Transaction, x: &PgsqlTxn, cfg: &Config) -> Result<(), JsonError> {
    if !t.notes.contains(Notes::NO_REQUEST) {
        m.field(crate::key!("method"), &x.s(x.method))?;
        m.field(crate::key!("query"), &x.s(x.query))?;
        if cfg.pgsql.common.send_request {
            m.field(crate::key!("request"), &x.s(x.query))?;
        }
    }
    if cfg.pgsql.common.send_response && !x.response.is_empty() {
        m.field(crate::key!("response"), &x.s(x.response))?;
    }
    Ok(())
}

/// The `pgsql` object. The result fields are written only when a response
/// was seen (Packetbeat fills them from the response).
struct Section<'a>(&'a PgsqlTxn);

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        if x.answered {
            m.serialize_entry("iserror", &x.iserror)?;
            m.serialize_entry("num_fields", &x.num_fields)?;
            m.serialize_entry("num_rows", &x.num_rows)?;
            m.serialize_entry("error_code", &x.s(x.error_code))?;
            m.serialize_entry("error_message", &x.s(x.error_message))?;
            m.serialize_entry("error_severity", &x.s(x.error_severity))?;
        }
        if x.copy != CopyMode::None {
            m.serialize_entry("copy", x.copy.name())?;
        }
        if x.notices > 0 {
            m.serialize_entry("notices", &x.notices)?;
            m.serialize_entry("notice_severity", &x.s(x.notice_severity))?;
            m.serialize_entry("notice_message", &x.s(x.notice_message))?;
        }
        if x.not_executed {
            m.serialize_entry("not_executed", &true)?;
        }
        if x.unknown_statement {
            m.serialize_entry("unknown_statement", &true)?;
        }
        m.end()
    }
}

struct EcsError<'a>(&'a PgsqlTxn);

impl Serialize for EcsError<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("code", &x.s(x.error_code))?;
        m.serialize_entry("message", &x.s(x.error_message))?;
        m.end()
    }
}
