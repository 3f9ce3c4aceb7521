//! One JSON document per transaction, written with `serde` into a caller's
//! buffer by this crate's own compact writer ([`writer`]; no allocation).
//!
//! Two layouts: [`Schema::Packetbeat`] (Packetbeat 1.2's flat field names,
//! the default) and [`Schema::Ecs`] (Elastic Common Schema). A buffer too
//! small for a document gives [`Full`]; the shell counts it.

use core::fmt;
use core::net::IpAddr;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::Config;
use crate::time::Timestamp;
use crate::txn::{Detail, Endpoint, Notes, Transaction, Transport};

pub mod writer;

/// Document layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schema {
    /// Packetbeat 1.2 field names (`client_ip`, `responsetime`, `http.code`).
    #[default]
    Packetbeat,
    /// Elastic Common Schema (`source.ip`, `event.duration`, `http.response.status_code`).
    Ecs,
}

/// What the writer needs besides the transaction.
#[derive(Clone, Copy, Debug)]
pub struct JsonOptions<'a> {
    /// Layout.
    pub schema: Schema,
    /// Name of this sensor (`shipper` / `agent.name`); omitted when empty.
    pub shipper: &'a str,
    /// Tags added to every document; omitted when empty.
    pub tags: &'a [&'a str],
}

impl Default for JsonOptions<'_> {
    fn default() -> Self {
        JsonOptions { schema: Schema::Packetbeat, shipper: "", tags: &[] }
    }
}

/// The output buffer was too small for the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON buffer full")
    }
}

/// `YYYY.MM.DD` from a document this module wrote (it starts
/// `{"@timestamp":"YYYY-MM-DD…`): the day of its daily index. `None` for
/// anything else.
pub fn doc_index_day(doc: &[u8]) -> Option<[u8; 10]> {
    let date = doc.strip_prefix(b"{\"@timestamp\":\"")?.get(..10)?;
    let mut out = [0u8; 10];
    for (i, (o, &c)) in out.iter_mut().zip(date).enumerate() {
        *o = match (i, c) {
            (4 | 7, b'-') => b'.',
            (4 | 7, _) => return None,
            (_, b'0'..=b'9') => c,
            _ => return None,
        };
    }
    Some(out)
}

/// Writes `txn` as one JSON object (no trailing newline) into `buf` and
/// returns its length.
pub fn write_json(txn: &Transaction, cfg: &Config, opts: &JsonOptions<'_>, buf: &mut [u8]) -> Result<usize, Full> {
    let doc = Doc { t: txn, cfg, opts };
    writer::to_slice(&doc, buf).map_err(|_| Full)
}

struct Doc<'a> {
    t: &'a Transaction,
    cfg: &'a Config,
    opts: &'a JsonOptions<'a>,
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.opts.schema {
            Schema::Packetbeat => packetbeat(self, s),
            Schema::Ecs => ecs(self, s),
        }
    }
}

pub(crate) struct Rfc3339(pub(crate) Timestamp);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_rfc3339_millis(f)
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.rfc3339_millis() {
            Some(text) => s.serialize_str(core::str::from_utf8(&text).unwrap_or_default()),
            None => s.collect_str(self),
        }
    }
}

pub(crate) struct Ip(pub(crate) IpAddr);

impl Serialize for Ip {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            // Two per document: IPv4 is written without `core::fmt`; IPv6's
            // zero-compression rules stay with the standard formatter.
            IpAddr::V4(v4) => {
                let mut buf = [0u8; 15];
                let n = ipv4_text(v4.octets(), &mut buf);
                s.serialize_str(core::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default())
            }
            IpAddr::V6(_) => s.collect_str(&self.0),
        }
    }
}

/// Dotted-quad text of an IPv4 address into `buf`; returns its length.
fn ipv4_text(octets: [u8; 4], buf: &mut [u8; 15]) -> usize {
    let mut n = 0;
    for (i, o) in octets.into_iter().enumerate() {
        if i > 0 {
            if let Some(c) = buf.get_mut(n) {
                *c = b'.';
            }
            n += 1;
        }
        let digits = [o / 100, o / 10 % 10, o % 10];
        let skip = if o >= 100 {
            0
        } else if o >= 10 {
            1
        } else {
            2
        };
        for d in digits.into_iter().skip(skip) {
            if let Some(c) = buf.get_mut(n) {
                *c = b'0' + d;
            }
            n += 1;
        }
    }
    n
}

pub(crate) struct NotesJson(Notes);

impl Serialize for NotesJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.texts())
    }
}

struct Tags<'a>(&'a [&'a str]);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

fn packetbeat<S: Serializer>(d: &Doc<'_>, s: S) -> Result<S::Ok, S::Error> {
    let t = d.t;
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("@timestamp", &Rfc3339(t.ts))?;
    m.serialize_entry("type", t.protocol.name())?;
    m.serialize_entry("status", t.status.name())?;
    m.serialize_entry("count", &1u8)?;
    // ICMP has no ports and, in Packetbeat 1.x, no transport field.
    let l4 = t.transport != Transport::Ip;
    m.serialize_entry("client_ip", &Ip(t.client.ip))?;
    if l4 {
        m.serialize_entry("client_port", &t.client.port)?;
    }
    m.serialize_entry("ip", &Ip(t.server.ip))?;
    if l4 {
        m.serialize_entry("port", &t.server.port)?;
        m.serialize_entry("transport", t.transport.name())?;
    }
    m.serialize_entry("bytes_in", &t.bytes_in)?;
    m.serialize_entry("bytes_out", &t.bytes_out)?;
    if let Some(rt) = t.responsetime_ms() {
        m.serialize_entry("responsetime", &rt)?;
    }
    if !t.notes.is_empty() {
        m.serialize_entry("notes", &NotesJson(t.notes))?;
    }
    if !d.opts.shipper.is_empty() {
        m.serialize_entry("shipper", d.opts.shipper)?;
    }
    if !d.opts.tags.is_empty() {
        m.serialize_entry("tags", &Tags(d.opts.tags))?;
    }
    match &t.detail {
        Detail::Http(h) => crate::proto::http::json::packetbeat(&mut m, t, h, d.cfg)?,
        Detail::Dns(x) => crate::proto::dns::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::Icmp(x) => crate::proto::icmp::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::Redis(x) => crate::proto::redis::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::Memcache(x) => crate::proto::memcache::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::Mysql(x) => crate::proto::mysql::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::Pgsql(x) => crate::proto::pgsql::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::Mongodb(x) => crate::proto::mongodb::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::Thrift(x) => crate::proto::thrift::json_packetbeat(&mut m, t, x, d.cfg)?,
        Detail::None => {}
    }
    m.end()
}

// ---- ECS ----

struct EcsEndpoint {
    e: Endpoint,
    bytes: u64,
}

impl Serialize for EcsEndpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ip", &Ip(self.e.ip))?;
        if self.e.port != 0 {
            m.serialize_entry("port", &self.e.port)?;
        }
        m.serialize_entry("bytes", &self.bytes)?;
        m.end()
    }
}

struct EcsEvent<'a>(&'a Transaction);

impl Serialize for EcsEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", "event")?;
        m.serialize_entry("category", &["network"])?;
        m.serialize_entry("type", &["connection", "protocol"])?;
        m.serialize_entry("dataset", t.protocol.name())?;
        m.serialize_entry("start", &Rfc3339(t.ts))?;
        if let Some(us) = t.responsetime_us() {
            m.serialize_entry("duration", &us.saturating_mul(1000))?;
            m.serialize_entry("end", &Rfc3339(t.ts.add(crate::time::Duration::from_micros(us))))?;
        }
        let ok = matches!(t.status, crate::txn::Status::Ok);
        m.serialize_entry("outcome", if ok { "success" } else { "failure" })?;
        m.end()
    }
}

struct EcsNetwork<'a>(&'a Transaction);

impl Serialize for EcsNetwork<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        let transport = match (t.transport, t.client.ip.is_ipv4()) {
            // ECS uses the IANA protocol keywords.
            (Transport::Ip, true) => "icmp",
            (Transport::Ip, false) => "ipv6-icmp",
            (other, _) => other.name(),
        };
        m.serialize_entry("transport", transport)?;
        m.serialize_entry("type", if t.client.ip.is_ipv4() { "ipv4" } else { "ipv6" })?;
        m.serialize_entry("protocol", t.protocol.name())?;
        m.serialize_entry("bytes", &t.bytes_in.saturating_add(t.bytes_out))?;
        m.end()
    }
}

struct Related<'a>(&'a Transaction);

impl Serialize for Related<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if self.0.client.ip == self.0.server.ip {
            m.serialize_entry("ip", &[Ip(self.0.client.ip)])?;
        } else {
            m.serialize_entry("ip", &[Ip(self.0.client.ip), Ip(self.0.server.ip)])?;
        }
        m.end()
    }
}

fn ecs<S: Serializer>(d: &Doc<'_>, s: S) -> Result<S::Ok, S::Error> {
    let t = d.t;
    let client = EcsEndpoint { e: t.client, bytes: t.bytes_in };
    let server = EcsEndpoint { e: t.server, bytes: t.bytes_out };
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("@timestamp", &Rfc3339(t.ts))?;
    m.serialize_entry("event", &EcsEvent(t))?;
    m.serialize_entry("client", &client)?;
    m.serialize_entry("source", &client)?;
    m.serialize_entry("server", &server)?;
    m.serialize_entry("destination", &server)?;
    m.serialize_entry("network", &EcsNetwork(t))?;
    m.serialize_entry("related", &Related(t))?;
    m.serialize_entry("type", t.protocol.name())?;
    m.serialize_entry("status", t.status.name())?;
    if !t.notes.is_empty() {
        m.serialize_entry("notes", &NotesJson(t.notes))?;
    }
    if !d.opts.shipper.is_empty() {
        m.serialize_entry("agent", &AgentJson(d.opts.shipper))?;
    }
    if !d.opts.tags.is_empty() {
        m.serialize_entry("tags", &Tags(d.opts.tags))?;
    }
    m.serialize_entry("ecs", &EcsVersion)?;
    match &t.detail {
        Detail::Http(h) => crate::proto::http::json::ecs(&mut m, t, h, d.cfg)?,
        Detail::Dns(x) => crate::proto::dns::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::Icmp(x) => crate::proto::icmp::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::Redis(x) => crate::proto::redis::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::Memcache(x) => crate::proto::memcache::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::Mysql(x) => crate::proto::mysql::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::Pgsql(x) => crate::proto::pgsql::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::Mongodb(x) => crate::proto::mongodb::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::Thrift(x) => crate::proto::thrift::json_ecs(&mut m, t, x, d.cfg)?,
        Detail::None => {}
    }
    m.end()
}

struct AgentJson<'a>(&'a str);

impl Serialize for AgentJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", "tapbeat")?;
        m.serialize_entry("name", self.0)?;
        m.end()
    }
}

struct EcsVersion;

impl Serialize for EcsVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("version", "8.11.0")?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_matches_the_standard_formatter() {
        for o in [[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 99, 100], [1, 22, 103, 9]] {
            let mut buf = [0u8; 15];
            let n = ipv4_text(o, &mut buf);
            let mut want = heapless::String::<16>::new();
            core::fmt::write(&mut want, format_args!("{}", core::net::Ipv4Addr::from(o))).unwrap();
            assert_eq!(&buf[..n], want.as_bytes());
        }
    }

    #[test]
    fn index_day_of_documents() {
        assert_eq!(&doc_index_day(b"{\"@timestamp\":\"2015-06-11T09:51:23.642Z\"}").unwrap(), b"2015.06.11");
        assert_eq!(doc_index_day(b"{\"@timestamp\":\"2015/06/11\"}"), None);
        assert_eq!(doc_index_day(b"{\"@timestamp\":\"2015-"), None);
        assert_eq!(doc_index_day(b"{\"type\":1}"), None);
    }

    #[test]
    fn rfc3339_without_fmt_matches_the_formatter() {
        for us in [0u64, 1_764_000_000_123_456, 253_402_300_799_999_999, 999] {
            let ts = Timestamp::from_micros(us);
            let mut want = heapless::String::<32>::new();
            ts.write_rfc3339_millis(&mut want).unwrap();
            assert_eq!(&ts.rfc3339_millis().unwrap(), want.as_bytes());
        }
        assert!(Timestamp::from_micros(253_402_300_800_000_000).rfc3339_millis().is_none());
    }
}
