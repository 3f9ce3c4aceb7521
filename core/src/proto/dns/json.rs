//! DNS's part of a JSON document (Packetbeat and ECS layouts).

use crate::json::{JsonError, Object};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::txn::{
    flag, AlgorithmName, ClassName, DigestName, DnsTxn, Extra, OpCodeName, RcodeName, Record, Section, TypeName,
};
use super::wire::{write_sig_time, Scratch};
use crate::config::Config;
use crate::txn::Transaction;

/// Writes the DNS fields of the Packetbeat 1.2 layout into `m`: `method`,
/// `query`, `resource`, the raw texts, and the `dns` object.
pub(crate) fn packetbeat(m: &mut Object<'_, '_>, _t: &Transaction, x: &DnsTxn, _cfg: &Config) -> Result<(), JsonError> {
    common(m, x)?;
    if x.has_header {
        m.field("dns", &DnsJson { x, ecs: false })?;
    }
    Ok(())
}

/// Writes the DNS fields of the ECS layout into `m`: the legacy `method`,
/// `query`, `resource` (kept by Packetbeat 8.x too) and the `dns` object
/// with ECS's `type`, `header_flags` and `resolved_ip`.
pub(crate) fn ecs(m: &mut Object<'_, '_>, _t: &Transaction, x: &DnsTxn, _cfg: &Config) -> Result<(), JsonError> {
    common(m, x)?;
    if x.has_header {
        m.field("dns", &DnsJson { x, ecs: true })?;
    }
    Ok(())
}

fn common(m: &mut Object<'_, '_>, x: &DnsTxn) -> Result<(), JsonError> {
    if x.has_header {
        m.field("method", &OpCodeName(x.op_code()))?;
    }
    if let (Some(q), Some(text)) = (x.question, x.query()) {
        m.field("query", &text)?;
        m.field("resource", &x.s(q.name))?;
    }
    if !x.request_raw.is_empty() {
        m.field("request", &x.s(x.request_raw))?;
    }
    if !x.response_raw.is_empty() {
        m.field("response", &x.s(x.response_raw))?;
    }
    Ok(())
}

struct DnsJson<'a> {
    x: &'a DnsTxn,
    ecs: bool,
}

impl Serialize for DnsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.x;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &x.id)?;
        m.serialize_entry("op_code", &OpCodeName(x.op_code()))?;
        if self.ecs {
            m.serialize_entry("type", if x.has_response { "answer" } else { "query" })?;
            m.serialize_entry("header_flags", &HeaderFlags(x))?;
        }
        m.serialize_entry("flags", &Flags(x))?;
        m.serialize_entry("response_code", &RcodeName(x.rcode))?;
        if let Some(q) = x.question {
            m.serialize_entry("question", &QuestionJson { x, name: q.name, qtype: q.qtype, qclass: q.qclass })?;
        }
        if let Some(o) = x.opt {
            m.serialize_entry("opt", &OptJson(o))?;
        }
        m.serialize_entry("answers_count", &x.answers_count)?;
        if x.section(Section::Answer).next().is_some() {
            m.serialize_entry("answers", &Records { x, section: Section::Answer })?;
        }
        m.serialize_entry("authorities_count", &x.authorities_count)?;
        if x.section(Section::Authority).next().is_some() {
            m.serialize_entry("authorities", &Records { x, section: Section::Authority })?;
        }
        m.serialize_entry("additionals_count", &x.additionals_count)?;
        if x.section(Section::Additional).next().is_some() {
            m.serialize_entry("additionals", &Records { x, section: Section::Additional })?;
        }
        if self.ecs && resolved(x).next().is_some() {
            m.serialize_entry("resolved_ip", &ResolvedIps(x))?;
        }
        m.end()
    }
}

/// 1.2 names: `recursion_available` (1.0 wrote `recursion_allowed`), and
/// the two DNSSEC bits that 1.0 left out.
struct Flags<'a>(&'a DnsTxn);

impl Serialize for Flags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("authoritative", &x.flag(flag::AA))?;
        m.serialize_entry("recursion_available", &x.flag(flag::RA))?;
        m.serialize_entry("recursion_desired", &x.flag(flag::RD))?;
        m.serialize_entry("truncated_response", &x.flag(flag::TC))?;
        m.serialize_entry("authentic_data", &x.flag(flag::AD))?;
        m.serialize_entry("checking_disabled", &x.flag(flag::CD))?;
        m.end()
    }
}

struct HeaderFlags<'a>(&'a DnsTxn);

impl Serialize for HeaderFlags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let all = [
            (flag::AA, "AA"),
            (flag::TC, "TC"),
            (flag::RD, "RD"),
            (flag::RA, "RA"),
            (flag::AD, "AD"),
            (flag::CD, "CD"),
        ];
        s.collect_seq(all.iter().filter(|(f, _)| x.flag(*f)).map(|(_, n)| *n))
    }
}

struct QuestionJson<'a> {
    x: &'a DnsTxn,
    name: crate::text::Span,
    qtype: u16,
    qclass: u16,
}

impl Serialize for QuestionJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("name", &self.x.s(self.name))?;
        m.serialize_entry("type", &TypeName(self.qtype))?;
        m.serialize_entry("class", &ClassName(self.qclass))?;
        m.end()
    }
}

struct OptJson(super::txn::Edns);

impl Serialize for OptJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = self.0;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("version", &o.version)?;
        m.serialize_entry("do", &o.dnssec_ok)?;
        m.serialize_entry("udp_size", &o.udp_size)?;
        m.serialize_entry("ext_rcode", &RcodeName((o.ext_rcode as u16) << 4))?;
        m.end()
    }
}

struct Records<'a> {
    x: &'a DnsTxn,
    section: Section,
}

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.x.section(self.section).map(|r| RecordJson { x: self.x, r }))
    }
}

struct RecordJson<'a> {
    x: &'a DnsTxn,
    r: &'a Record,
}

/// RRSIG times as in zone files: `YYYYMMDDHHmmSS`.
struct SigTime(u32);

impl Serialize for SigTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut b: Scratch<16> = Scratch::new();
        write_sig_time(&mut b, self.0);
        s.serialize_str(core::str::from_utf8(b.as_bytes()).unwrap_or(""))
    }
}

impl Serialize for RecordJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (x, r) = (self.x, self.r);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &x.s(r.name))?;
        m.serialize_entry("type", &TypeName(r.rtype))?;
        m.serialize_entry("class", &ClassName(r.class))?;
        m.serialize_entry("ttl", &r.ttl)?;
        m.serialize_entry("data", &x.s(r.data))?;
        match r.extra {
            Extra::None => {}
            Extra::Mx { preference } => m.serialize_entry("preference", &preference)?,
            Extra::Srv { priority, weight, port } => {
                m.serialize_entry("priority", &priority)?;
                m.serialize_entry("weight", &weight)?;
                m.serialize_entry("port", &port)?;
            }
            Extra::Soa { rname, serial, refresh, retry, expire, minimum } => {
                m.serialize_entry("rname", &x.s(rname))?;
                m.serialize_entry("serial", &serial)?;
                m.serialize_entry("refresh", &refresh)?;
                m.serialize_entry("retry", &retry)?;
                m.serialize_entry("expire", &expire)?;
                m.serialize_entry("minimum", &minimum)?;
            }
            Extra::Ds { key_tag, algorithm, digest_type } => {
                m.serialize_entry("key_tag", &key_tag)?;
                m.serialize_entry("algorithm", &AlgorithmName(algorithm))?;
                m.serialize_entry("digest_type", &DigestName(digest_type))?;
            }
            Extra::Dnskey { flags, protocol, algorithm } => {
                m.serialize_entry("flags", &flags)?;
                m.serialize_entry("protocol", &protocol)?;
                m.serialize_entry("algorithm", &AlgorithmName(algorithm))?;
            }
            Extra::Rrsig { type_covered, algorithm, labels, original_ttl, expiration, inception, key_tag, signer } => {
                m.serialize_entry("type_covered", &TypeName(type_covered))?;
                m.serialize_entry("algorithm", &AlgorithmName(algorithm))?;
                m.serialize_entry("labels", &labels)?;
                m.serialize_entry("original_ttl", &original_ttl)?;
                m.serialize_entry("expiration", &SigTime(expiration))?;
                m.serialize_entry("inception", &SigTime(inception))?;
                m.serialize_entry("key_tag", &key_tag)?;
                m.serialize_entry("signer_name", &x.s(signer))?;
            }
            Extra::Nsec { type_bits } => m.serialize_entry("type_bits", &x.s(type_bits))?,
        }
        m.end()
    }
}

fn resolved(x: &DnsTxn) -> impl Iterator<Item = &Record> {
    x.section(Section::Answer).filter(|r| r.rtype == 1 || r.rtype == 28)
}

struct ResolvedIps<'a>(&'a DnsTxn);

impl Serialize for ResolvedIps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(resolved(self.0).map(|r| self.0.s(r.data)))
    }
}
