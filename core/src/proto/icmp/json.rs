//! ICMP's part of a JSON document.
//!
//! Both layouts carry `path` (the destination that was asked for) and an
//! `icmp` object as Packetbeat writes it: `version`, then
//! `request`/`response` with `message`, `type`, `code` for the messages
//! present. Errors also get `icmp.original`, the packet they quote (not a
//! Packetbeat field): Packetbeat-style names (`client_ip`, `ip`, `port`) in
//! the Packetbeat layout, ECS-style `source`/`destination` in the ECS one.

use crate::json::{JsonError, Object};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{IcmpMsg, IcmpTxn, Original};
use crate::config::Config;
use crate::json::Ip;
use crate::txn::Transaction;

/// Writes the Icmp fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn json_packetbeat(
    m: &mut Object<'_, '_>,
    _t: &Transaction,
    x: &IcmpTxn,
    _cfg: &Config,
) -> Result<(), JsonError> {
    section(m, x, false)
}

/// Writes the Icmp fields of the ECS layout into `m`.
pub(crate) fn json_ecs(m: &mut Object<'_, '_>, _t: &Transaction, x: &IcmpTxn, _cfg: &Config) -> Result<(), JsonError> {
    section(m, x, true)
}

fn section(m: &mut Object<'_, '_>, x: &IcmpTxn, ecs: bool) -> Result<(), JsonError> {
    if let Some(p) = x.path {
        m.field(crate::key!("path"), &Ip(p))?;
    }
    m.field(crate::key!("icmp"), &Section { x, ecs })
}

struct Section<'a> {
    x: &'a IcmpTxn,
    ecs: bool,
}

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.x;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("version", &x.version)?;
        if let Some(r) = x.request {
            m.serialize_entry("request", &Msg { x, m: r })?;
        }
        if let Some(r) = x.response {
            m.serialize_entry("response", &Msg { x, m: r })?;
        }
        if let Some(o) = x.original {
            m.serialize_entry("original", &Orig { o, ecs: self.ecs })?;
        }
        m.end()
    }
}

struct Msg<'a> {
    x: &'a IcmpTxn,
    m: IcmpMsg,
}

impl Serialize for Msg<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("message", &self.x.message(self.m))?;
        m.serialize_entry("type", &self.m.typ)?;
        m.serialize_entry("code", &self.m.code)?;
        m.end()
    }
}

struct Orig {
    o: Original,
    ecs: bool,
}

struct EcsEnd {
    ip: core::net::IpAddr,
    port: Option<u16>,
}

impl Serialize for EcsEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ip", &Ip(self.ip))?;
        if let Some(p) = self.port {
            m.serialize_entry("port", &p)?;
        }
        m.end()
    }
}

impl Serialize for Orig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = &self.o;
        let mut m = s.serialize_map(None)?;
        match o.transport_name() {
            Some(n) => m.serialize_entry("transport", n)?,
            None => m.serialize_entry("iana_number", &o.protocol)?,
        }
        if self.ecs {
            m.serialize_entry("source", &EcsEnd { ip: o.src, port: o.ports.map(|p| p.0) })?;
            m.serialize_entry("destination", &EcsEnd { ip: o.dst, port: o.ports.map(|p| p.1) })?;
        } else {
            m.serialize_entry("client_ip", &Ip(o.src))?;
            if let Some((sp, _)) = o.ports {
                m.serialize_entry("client_port", &sp)?;
            }
            m.serialize_entry("ip", &Ip(o.dst))?;
            if let Some((_, dp)) = o.ports {
                m.serialize_entry("port", &dp)?;
            }
        }
        m.end()
    }
}
