//! Redis's part of a JSON document (Packetbeat and ECS layouts).
//!
//! Both layouts use Packetbeat's names, as Packetbeat 8 does for Redis in
//! its ECS documents: `method` (upper-cased command), `resource` (key),
//! `query` (command line), `redis.return_value` or `redis.error`, and the
//! raw `request` / `response` with `send_request` / `send_response`. A
//! push adds `redis.push: true`.

use super::{RedisKind, RedisTxn};
use crate::config::Config;
use crate::json::{JsonError, Object};
use crate::txn::Transaction;

/// The fields shared by both layouts. `method` is upper-cased, as
/// Packetbeat reports it.
fn fields(m: &mut Object<'_, '_>, x: &RedisTxn, cfg: &Config) -> Result<(), JsonError> {
    if !x.method.is_empty() {
        m.text_upper(crate::key!("method"), x.bytes(x.method))?;
    }
    if !x.resource.is_empty() {
        m.text(crate::key!("resource"), x.bytes(x.resource))?;
    }
    let command = x.kind == RedisKind::Command && !x.query.is_empty();
    if command {
        m.text(crate::key!("query"), x.bytes(x.query))?;
    }
    if x.replied || x.kind == RedisKind::Push {
        let mut o = m.object(crate::key!("redis"))?;
        if x.replied {
            o.text(if x.is_error { crate::key!("error") } else { crate::key!("return_value") }, x.bytes(x.value))?;
        }
        if x.kind == RedisKind::Push {
            o.field(crate::key!("push"), &true)?;
        }
        o.close()?;
    }
    if cfg.redis.common.send_request && command {
        m.text(crate::key!("request"), x.bytes(x.query))?;
    }
    if cfg.redis.common.send_response && x.replied {
        m.text(crate::key!("response"), x.bytes(x.value))?;
    }
    Ok(())
}

/// Writes the Redis fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat(
    m: &mut Object<'_, '_>,
    _t: &Transaction,
    x: &RedisTxn,
    cfg: &Config,
) -> Result<(), JsonError> {
    fields(m, x, cfg)
}

/// Writes the Redis fields of the ECS layout into `m` (the same names:
/// ECS has none for Redis, and Packetbeat 8 keeps these).
pub(crate) fn json_ecs(m: &mut Object<'_, '_>, _t: &Transaction, x: &RedisTxn, cfg: &Config) -> Result<(), JsonError> {
    fields(m, x, cfg)
}
