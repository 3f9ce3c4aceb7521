//! One JSON document per transaction, written with `serde` and
//! `serde-json-core` into a caller's buffer (no allocation).
//!
//! Two layouts: [`Schema::Packetbeat`] (Packetbeat 1.2's flat field names,
//! the default) and [`Schema::Ecs`] (Elastic Common Schema). A buffer too
//! small for a document gives [`Full`]; the shell counts it.

use core::fmt;
use core::net::IpAddr;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::Config;
use crate::proto::http::HttpTxn;
use crate::time::Timestamp;
use crate::txn::{Detail, Endpoint, Notes, Transaction};

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

/// Writes `txn` as one JSON object (no trailing newline) into `buf` and
/// returns its length.
pub fn write_json(txn: &Transaction, cfg: &Config, opts: &JsonOptions<'_>, buf: &mut [u8]) -> Result<usize, Full> {
    let doc = Doc { t: txn, cfg, opts };
    serde_json_core::to_slice(&doc, buf).map_err(|_| Full)
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

struct Rfc3339(Timestamp);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_rfc3339_millis(f)
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct Ip(IpAddr);

impl Serialize for Ip {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct NotesJson(Notes);

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
    m.serialize_entry("client_ip", &Ip(t.client.ip))?;
    m.serialize_entry("client_port", &t.client.port)?;
    m.serialize_entry("ip", &Ip(t.server.ip))?;
    m.serialize_entry("port", &t.server.port)?;
    m.serialize_entry("transport", t.transport.name())?;
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
    if let Detail::Http(h) = &t.detail {
        http_packetbeat(&mut m, h, d.cfg)?;
    }
    m.end()
}

fn http_packetbeat<M: SerializeMap>(m: &mut M, h: &HttpTxn, cfg: &Config) -> Result<(), M::Error> {
    if !h.method.is_empty() {
        m.serialize_entry("method", &h.s(h.method))?;
        m.serialize_entry("path", &h.s(h.path))?;
        m.serialize_entry("query", &h.query())?;
        m.serialize_entry("params", &h.s(h.params))?;
    }
    if !h.real_ip.is_empty() {
        m.serialize_entry("real_ip", &h.s(h.real_ip))?;
    }
    if !h.request_raw.is_empty() {
        m.serialize_entry("request", &h.s(h.request_raw))?;
    }
    if !h.response_raw.is_empty() {
        m.serialize_entry("response", &h.s(h.response_raw))?;
    }
    m.serialize_entry("http", &HttpSection { h, split_cookie: cfg.http.split_cookie })
}

struct HttpSection<'a> {
    h: &'a HttpTxn,
    split_cookie: bool,
}

impl Serialize for HttpSection<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.h;
        let mut m = s.serialize_map(None)?;
        if h.code != 0 {
            m.serialize_entry("code", &h.code)?;
            m.serialize_entry("phrase", &h.s(h.phrase))?;
        }
        if let Some(cl) = h.content_length {
            m.serialize_entry("content_length", &cl)?;
        }
        if !h.request_headers.is_empty() {
            m.serialize_entry("request_headers", &h.request_headers_json(self.split_cookie))?;
        }
        if !h.response_headers.is_empty() {
            m.serialize_entry("response_headers", &h.response_headers_json(self.split_cookie))?;
        }
        m.end()
    }
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
        m.serialize_entry("transport", t.transport.name())?;
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
    if let Detail::Http(h) = &t.detail {
        if !h.method.is_empty() {
            m.serialize_entry("method", &h.s(h.method))?;
            m.serialize_entry("query", &h.query())?;
            m.serialize_entry("url", &EcsUrl(h))?;
        }
        if !h.request_raw.is_empty() {
            m.serialize_entry("request", &h.s(h.request_raw))?;
        }
        if !h.response_raw.is_empty() {
            m.serialize_entry("response", &h.s(h.response_raw))?;
        }
        m.serialize_entry("http", &EcsHttp { t, h, split_cookie: d.cfg.http.split_cookie })?;
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

struct EcsUrl<'a>(&'a HttpTxn);

impl Serialize for EcsUrl<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("path", &h.s(h.path))?;
        if !h.params.is_empty() {
            m.serialize_entry("query", &h.s(h.params))?;
        }
        m.end()
    }
}

struct EcsHttp<'a> {
    t: &'a Transaction,
    h: &'a HttpTxn,
    split_cookie: bool,
}

struct EcsHttpMsg<'a> {
    h: &'a HttpTxn,
    request: bool,
    bytes: u64,
    split_cookie: bool,
}

struct BodyBytes(u64);

impl Serialize for BodyBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("bytes", &self.0)?;
        m.end()
    }
}

impl Serialize for EcsHttpMsg<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.h;
        let mut m = s.serialize_map(None)?;
        if self.request {
            m.serialize_entry("method", &h.s(h.method))?;
            m.serialize_entry("bytes", &self.bytes)?;
            m.serialize_entry("body", &BodyBytes(h.request_body_bytes))?;
            if !h.request_headers.is_empty() {
                m.serialize_entry("headers", &h.request_headers_json(self.split_cookie))?;
            }
        } else {
            m.serialize_entry("status_code", &h.code)?;
            m.serialize_entry("status_phrase", &h.s(h.phrase))?;
            m.serialize_entry("bytes", &self.bytes)?;
            m.serialize_entry("body", &BodyBytes(h.response_body_bytes))?;
            if !h.response_headers.is_empty() {
                m.serialize_entry("headers", &h.response_headers_json(self.split_cookie))?;
            }
        }
        m.end()
    }
}

impl Serialize for EcsHttp<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.h;
        let mut m = s.serialize_map(None)?;
        if !h.method.is_empty() {
            m.serialize_entry("version", if h.request_minor == 0 { "1.0" } else { "1.1" })?;
            m.serialize_entry(
                "request",
                &EcsHttpMsg { h, request: true, bytes: self.t.bytes_in, split_cookie: self.split_cookie },
            )?;
        }
        if h.code != 0 {
            m.serialize_entry(
                "response",
                &EcsHttpMsg { h, request: false, bytes: self.t.bytes_out, split_cookie: self.split_cookie },
            )?;
        }
        m.end()
    }
}
