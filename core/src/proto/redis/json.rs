//! Redis's part of a JSON document (Packetbeat and ECS layouts).
//!
//! Both layouts use Packetbeat's names, as Packetbeat 8 does for Redis in
//! its ECS documents: `method` (upper-cased command), `resource` (key),
//! `query` (command line), `redis.return_value` or `redis.error`, and the
//! raw `request` / `response` with `send_request` / `send_response`. A
//! push adds `redis.push: true`.

use core::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{RedisKind, RedisTxn};
use crate::config::Config;
use crate::txn::Transaction;

/// Upper-cased text (Packetbeat reports `method` upper-cased).
struct Upper<'a>(&'a [u8]);

impl fmt::Display for Upper<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                fmt::Write::write_char(f, c.to_ascii_uppercase())?;
            }
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Upper<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The `redis` object.
struct Section<'a>(&'a RedisTxn);

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        if x.replied {
            let key = if x.is_error { "error" } else { "return_value" };
            m.serialize_entry(key, &x.s(x.value))?;
        }
        if x.kind == RedisKind::Push {
            m.serialize_entry("push", &true)?;
        }
        m.end()
    }
}

/// The fields shared by both layouts.
fn fields<M: SerializeMap>(m: &mut M, x: &RedisTxn, cfg: &Config) -> Result<(), M::Error> {
    if !x.method.is_empty() {
        m.serialize_entry("method", &Upper(x.bytes(x.method)))?;
    }
    if !x.resource.is_empty() {
        m.serialize_entry("resource", &x.s(x.resource))?;
    }
    let command = x.kind == RedisKind::Command && !x.query.is_empty();
    if command {
        m.serialize_entry("query", &x.s(x.query))?;
    }
    if x.replied || x.kind == RedisKind::Push {
        m.serialize_entry("redis", &Section(x))?;
    }
    if cfg.redis.common.send_request && command {
        m.serialize_entry("request", &x.s(x.query))?;
    }
    if cfg.redis.common.send_response && x.replied {
        m.serialize_entry("response", &x.s(x.value))?;
    }
    Ok(())
}

/// Writes the Redis fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat<M: SerializeMap>(
    m: &mut M,
    _t: &Transaction,
    x: &RedisTxn,
    cfg: &Config,
) -> Result<(), M::Error> {
    fields(m, x, cfg)
}

/// Writes the Redis fields of the ECS layout into `m` (the same names:
/// ECS has none for Redis, and Packetbeat 8 keeps these).
pub(crate) fn json_ecs<M: SerializeMap>(
    m: &mut M,
    _t: &Transaction,
    x: &RedisTxn,
    cfg: &Config,
) -> Result<(), M::Error> {
    fields(m, x, cfg)
}
