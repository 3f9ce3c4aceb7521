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
        dns_object(m, x, false)?;
    }
    Ok(())
}

/// Writes the DNS fields of the ECS layout into `m`: the legacy `method`,
/// `query`, `resource` (kept by Packetbeat 8.x too) and the `dns` object
/// with ECS's `type`, `header_flags` and `resolved_ip`.
pub(crate) fn ecs(m: &mut Object<'_, '_>, _t: &Transaction, x: &DnsTxn, _cfg: &Config) -> Result<(), JsonError> {
    common(m, x)?;
    if x.has_header {
        dns_object(m, x, true)?;
    }
    Ok(())
}

/// A code's mnemonic when it has one (written as it is), else its
/// fallback text (`TYPE65280`).
fn code<T: Serialize>(
    m: &mut Object<'_, '_>,
    key: crate::json::writer::Key,
    mnemonic: Option<&'static str>,
    v: &T,
) -> Result<(), JsonError> {
    match mnemonic {
        Some(s) => m.ascii(key, s.as_bytes()),
        None => m.field(key, v),
    }
}

fn common(m: &mut Object<'_, '_>, x: &DnsTxn) -> Result<(), JsonError> {
    if x.has_header {
        let op = OpCodeName(x.op_code());
        code(m, crate::key!("method"), op.mnemonic(), &op)?;
    }
    if let (Some(q), Some(text)) = (x.question, x.query()) {
        match text.pieces() {
            Some(pieces) => m.text_parts(crate::key!("query"), &pieces)?,
            None => m.field(crate::key!("query"), &text)?,
        }
        m.text(crate::key!("resource"), x.text.get(q.name))?;
    }
    if !x.request_raw.is_empty() {
        m.text(crate::key!("request"), x.text.get(x.request_raw))?;
    }
    if !x.response_raw.is_empty() {
        m.text(crate::key!("response"), x.text.get(x.response_raw))?;
    }
    Ok(())
}

fn dns_object(m: &mut Object<'_, '_>, x: &DnsTxn, ecs: bool) -> Result<(), JsonError> {
    let mut m = m.object(crate::key!("dns"))?;
    m.uint(crate::key!("id"), x.id.into())?;
    let op = OpCodeName(x.op_code());
    code(&mut m, crate::key!("op_code"), op.mnemonic(), &op)?;
    if ecs {
        m.ascii(crate::key!("type"), if x.has_response { b"answer" } else { b"query" })?;
        m.field(crate::key!("header_flags"), &HeaderFlags(x))?;
    }
    // 1.2 names: `recursion_available` (1.0 wrote `recursion_allowed`),
    // and the two DNSSEC bits that 1.0 left out.
    let mut f = m.object(crate::key!("flags"))?;
    f.field(crate::key!("authoritative"), &x.flag(flag::AA))?;
    f.field(crate::key!("recursion_available"), &x.flag(flag::RA))?;
    f.field(crate::key!("recursion_desired"), &x.flag(flag::RD))?;
    f.field(crate::key!("truncated_response"), &x.flag(flag::TC))?;
    f.field(crate::key!("authentic_data"), &x.flag(flag::AD))?;
    f.field(crate::key!("checking_disabled"), &x.flag(flag::CD))?;
    f.close()?;
    let rcode = RcodeName(x.rcode);
    code(&mut m, crate::key!("response_code"), rcode.mnemonic(), &rcode)?;
    if let Some(q) = x.question {
        let mut o = m.object(crate::key!("question"))?;
        o.text(crate::key!("name"), x.text.get(q.name))?;
        let (t, c) = (TypeName(q.qtype), ClassName(q.qclass));
        code(&mut o, crate::key!("type"), t.mnemonic(), &t)?;
        code(&mut o, crate::key!("class"), c.mnemonic(), &c)?;
        o.close()?;
    }
    if let Some(o) = x.opt {
        m.field(crate::key!("opt"), &OptJson(o))?;
    }
    for (count_key, key, count, section) in [
        (crate::key!("answers_count"), crate::key!("answers"), x.answers_count, Section::Answer),
        (crate::key!("authorities_count"), crate::key!("authorities"), x.authorities_count, Section::Authority),
        (crate::key!("additionals_count"), crate::key!("additionals"), x.additionals_count, Section::Additional),
    ] {
        m.uint(count_key, count.into())?;
        if x.section(section).next().is_some() {
            let mut a = m.array(key)?;
            for r in x.section(section) {
                let mut o = a.push_object()?;
                record(&mut o, x, r)?;
                o.close()?;
            }
            a.close_array()?;
        }
    }
    if ecs && resolved(x).next().is_some() {
        m.field(crate::key!("resolved_ip"), &ResolvedIps(x))?;
    }
    m.close()
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

/// RRSIG times as in zone files: `YYYYMMDDHHmmSS`.
struct SigTime(u32);

impl Serialize for SigTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut b: Scratch<16> = Scratch::new();
        write_sig_time(&mut b, self.0);
        s.serialize_str(core::str::from_utf8(b.as_bytes()).unwrap_or(""))
    }
}

/// The fields of one resource record.
fn record(m: &mut Object<'_, '_>, x: &DnsTxn, r: &Record) -> Result<(), JsonError> {
    m.text(crate::key!("name"), x.text.get(r.name))?;
    let (t, c) = (TypeName(r.rtype), ClassName(r.class));
    code(m, crate::key!("type"), t.mnemonic(), &t)?;
    code(m, crate::key!("class"), c.mnemonic(), &c)?;
    m.uint(crate::key!("ttl"), r.ttl.into())?;
    m.text(crate::key!("data"), x.text.get(r.data))?;
    match r.extra {
        Extra::None => {}
        Extra::Mx { preference } => m.field(crate::key!("preference"), &preference)?,
        Extra::Srv { priority, weight, port } => {
            m.field(crate::key!("priority"), &priority)?;
            m.field(crate::key!("weight"), &weight)?;
            m.field(crate::key!("port"), &port)?;
        }
        Extra::Soa { rname, serial, refresh, retry, expire, minimum } => {
            m.field(crate::key!("rname"), &x.s(rname))?;
            m.field(crate::key!("serial"), &serial)?;
            m.field(crate::key!("refresh"), &refresh)?;
            m.field(crate::key!("retry"), &retry)?;
            m.field(crate::key!("expire"), &expire)?;
            m.field(crate::key!("minimum"), &minimum)?;
        }
        Extra::Ds { key_tag, algorithm, digest_type } => {
            m.field(crate::key!("key_tag"), &key_tag)?;
            m.field(crate::key!("algorithm"), &AlgorithmName(algorithm))?;
            m.field(crate::key!("digest_type"), &DigestName(digest_type))?;
        }
        Extra::Dnskey { flags, protocol, algorithm } => {
            m.field(crate::key!("flags"), &flags)?;
            m.field(crate::key!("protocol"), &protocol)?;
            m.field(crate::key!("algorithm"), &AlgorithmName(algorithm))?;
        }
        Extra::Rrsig { type_covered, algorithm, labels, original_ttl, expiration, inception, key_tag, signer } => {
            m.field(crate::key!("type_covered"), &TypeName(type_covered))?;
            m.field(crate::key!("algorithm"), &AlgorithmName(algorithm))?;
            m.field(crate::key!("labels"), &labels)?;
            m.field(crate::key!("original_ttl"), &original_ttl)?;
            m.field(crate::key!("expiration"), &SigTime(expiration))?;
            m.field(crate::key!("inception"), &SigTime(inception))?;
            m.field(crate::key!("key_tag"), &key_tag)?;
            m.field(crate::key!("signer_name"), &x.s(signer))?;
        }
        Extra::Nsec { type_bits } => m.field(crate::key!("type_bits"), &x.s(type_bits))?,
    }
    Ok(())
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
