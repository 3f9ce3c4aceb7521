//! One JSON document per transaction, written with `serde` into a caller's
//! buffer by this crate's own compact writer ([`writer`]; no allocation).
//!
//! Two layouts: [`Schema::Packetbeat`] (Packetbeat 1.2's flat field names,
//! the default) and [`Schema::Ecs`] (Elastic Common Schema). A buffer too
//! small for a document gives [`Full`]; the shell counts it.

use core::fmt;
use core::net::IpAddr;

use serde::ser::{Serialize, Serializer};

use crate::config::Config;
use crate::time::Timestamp;
use crate::txn::{Detail, Endpoint, Notes, Protocol, Status, Transaction, Transport};

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
    write_json_cached(txn, cfg, opts, &mut DocCache::new(), buf)
}

/// [`write_json`] for a stream of documents: `cache` keeps the text of the
/// last document's timestamp second and, in the Packetbeat layout, of its
/// head fields (`type` to `transport`), which consecutive documents of one
/// connection share. The output is the same as [`write_json`]'s.
pub fn write_json_cached(
    txn: &Transaction,
    cfg: &Config,
    opts: &JsonOptions<'_>,
    cache: &mut DocCache,
    buf: &mut [u8],
) -> Result<usize, Full> {
    writer::object_to_slice(buf, |m| match opts.schema {
        Schema::Packetbeat => packetbeat(m, txn, cfg, opts, cache),
        Schema::Ecs => ecs(m, txn, cfg, opts, cache),
    })
    .map_err(|_| Full)
}

/// Text reused from one document to the next (see [`write_json_cached`]).
/// About 300 bytes; a new one is empty.
#[derive(Clone, Debug)]
pub struct DocCache {
    /// Second of `second_text`, and the RFC 3339 text of a time in it.
    second: Option<u64>,
    second_text: [u8; 24],
    /// Protocol, status, endpoints and transport of `head_text`.
    head: Option<(Protocol, Status, Endpoint, Endpoint, Transport)>,
    head_text: [u8; HEAD_TEXT],
    head_len: usize,
}

/// Longest rendered head fields: type and status names, two IPv6
/// addresses with ports, transport.
const HEAD_TEXT: usize = 224;

impl DocCache {
    /// An empty cache.
    pub const fn new() -> DocCache {
        DocCache { second: None, second_text: [0; 24], head: None, head_text: [0; HEAD_TEXT], head_len: 0 }
    }

    /// The RFC 3339 text of `ts` (milliseconds), the date and time of day
    /// computed once per second. `None` after the year 9999.
    fn rfc3339(&mut self, ts: Timestamp) -> Option<[u8; 24]> {
        let micros = ts.as_micros();
        let second = micros / 1_000_000;
        if self.second != Some(second) {
            self.second_text = ts.rfc3339_millis()?;
            self.second = Some(second);
        }
        let mut text = self.second_text;
        if let Some(millis) = text.get_mut(20..23) {
            crate::time::put_digits(millis, micros / 1000 % 1000);
        }
        Some(text)
    }

    /// The Packetbeat layout's head fields of `t` (`type` to
    /// `transport`), rendered once per connection and status.
    fn head_fields(&mut self, t: &Transaction) -> Option<&[u8]> {
        let key = (t.protocol, t.status, t.client, t.server, t.transport);
        if self.head != Some(key) {
            self.head = None;
            let mut tmp = [0u8; HEAD_TEXT + 2];
            let n = writer::object_to_slice(&mut tmp, |m| head_fields(m, t)).ok()?;
            let inner = tmp.get(1..n - 1)?;
            self.head_text.get_mut(..inner.len())?.copy_from_slice(inner);
            self.head_len = inner.len();
            self.head = Some(key);
        }
        self.head_text.get(..self.head_len)
    }
}

impl Default for DocCache {
    fn default() -> Self {
        DocCache::new()
    }
}

pub(crate) use writer::Object;

/// What the document writers of the analyzers return.
pub(crate) type JsonError = writer::Error;

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

/// A timestamp field (RFC 3339, milliseconds, UTC).
fn timestamp(m: &mut Object<'_, '_>, key: writer::Key, ts: Timestamp, cache: &mut DocCache) -> Result<(), JsonError> {
    match cache.rfc3339(ts) {
        Some(text) => m.ascii(key, &text),
        None => m.field(key, &Rfc3339(ts)),
    }
}

pub(crate) struct Ip(pub(crate) IpAddr);

impl Serialize for Ip {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            IpAddr::V4(v4) => {
                let mut buf = [0u8; 15];
                let n = ipv4_text(v4.octets(), &mut buf);
                s.serialize_str(core::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default())
            }
            IpAddr::V6(_) => s.collect_str(&self.0),
        }
    }
}

/// An address field. IPv4, two per document, is written without
/// `core::fmt`; IPv6's zero-compression rules stay with the standard
/// formatter.
fn ip(m: &mut Object<'_, '_>, key: writer::Key, ip: IpAddr) -> Result<(), JsonError> {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let n = ipv4_text(v4.octets(), &mut buf);
            m.ascii(key, buf.get(..n).unwrap_or_default())
        }
        IpAddr::V6(_) => m.field(key, &Ip(ip)),
    }
}

/// Dotted-quad text of an IPv4 address into `buf`; returns its length.
pub(crate) fn ipv4_text(octets: [u8; 4], buf: &mut [u8; 15]) -> usize {
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

/// The protocol's own fields, in the layout of `ecs` or Packetbeat's.
fn detail(m: &mut Object<'_, '_>, t: &Transaction, cfg: &Config, ecs: bool) -> Result<(), JsonError> {
    use crate::proto::*;
    match (&t.detail, ecs) {
        (Detail::Http(h), false) => http::json::packetbeat(m, t, h, cfg),
        (Detail::Http(h), true) => http::json::ecs(m, t, h, cfg),
        (Detail::Dns(x), false) => dns::json_packetbeat(m, t, x, cfg),
        (Detail::Dns(x), true) => dns::json_ecs(m, t, x, cfg),
        (Detail::Icmp(x), false) => icmp::json_packetbeat(m, t, x, cfg),
        (Detail::Icmp(x), true) => icmp::json_ecs(m, t, x, cfg),
        (Detail::Redis(x), false) => redis::json_packetbeat(m, t, x, cfg),
        (Detail::Redis(x), true) => redis::json_ecs(m, t, x, cfg),
        (Detail::Memcache(x), false) => memcache::json_packetbeat(m, t, x, cfg),
        (Detail::Memcache(x), true) => memcache::json_ecs(m, t, x, cfg),
        (Detail::Mysql(x), false) => mysql::json_packetbeat(m, t, x, cfg),
        (Detail::Mysql(x), true) => mysql::json_ecs(m, t, x, cfg),
        (Detail::Pgsql(x), false) => pgsql::json_packetbeat(m, t, x, cfg),
        (Detail::Pgsql(x), true) => pgsql::json_ecs(m, t, x, cfg),
        (Detail::Mongodb(x), false) => mongodb::json_packetbeat(m, t, x, cfg),
        (Detail::Mongodb(x), true) => mongodb::json_ecs(m, t, x, cfg),
        (Detail::Thrift(x), false) => thrift::json_packetbeat(m, t, x, cfg),
        (Detail::Thrift(x), true) => thrift::json_ecs(m, t, x, cfg),
        (Detail::None, _) => Ok(()),
    }
}

/// The Packetbeat layout's head fields, `type` to `transport`: the same
/// for every transaction of a connection with the same status.
fn head_fields(m: &mut Object<'_, '_>, t: &Transaction) -> Result<(), JsonError> {
    m.ascii(crate::key!("type"), t.protocol.name().as_bytes())?;
    m.ascii(crate::key!("status"), t.status.name().as_bytes())?;
    m.uint(crate::key!("count"), 1)?;
    // ICMP has no ports and, in Packetbeat 1.x, no transport field.
    let l4 = t.transport != Transport::Ip;
    ip(m, crate::key!("client_ip"), t.client.ip)?;
    if l4 {
        m.uint(crate::key!("client_port"), t.client.port.into())?;
    }
    ip(m, crate::key!("ip"), t.server.ip)?;
    if l4 {
        m.uint(crate::key!("port"), t.server.port.into())?;
        m.ascii(crate::key!("transport"), t.transport.name().as_bytes())?;
    }
    Ok(())
}

fn packetbeat(
    m: &mut Object<'_, '_>,
    t: &Transaction,
    cfg: &Config,
    opts: &JsonOptions<'_>,
    cache: &mut DocCache,
) -> Result<(), JsonError> {
    timestamp(m, crate::key!("@timestamp"), t.ts, cache)?;
    match cache.head_fields(t) {
        Some(text) => m.rendered(text)?,
        None => head_fields(m, t)?,
    }
    m.uint(crate::key!("bytes_in"), t.bytes_in)?;
    m.uint(crate::key!("bytes_out"), t.bytes_out)?;
    if let Some(rt) = t.responsetime_ms() {
        m.uint(crate::key!("responsetime"), rt)?;
    }
    if !t.notes.is_empty() {
        m.field(crate::key!("notes"), &NotesJson(t.notes))?;
    }
    if !opts.shipper.is_empty() {
        m.str(crate::key!("shipper"), opts.shipper)?;
    }
    if !opts.tags.is_empty() {
        m.field(crate::key!("tags"), &Tags(opts.tags))?;
    }
    detail(m, t, cfg, false)
}

// ---- ECS ----

fn ecs_endpoint(m: &mut Object<'_, '_>, key: writer::Key, e: Endpoint, bytes: u64) -> Result<(), JsonError> {
    let mut o = m.object(key)?;
    ip(&mut o, crate::key!("ip"), e.ip)?;
    if e.port != 0 {
        o.uint(crate::key!("port"), e.port.into())?;
    }
    o.uint(crate::key!("bytes"), bytes)?;
    o.close()
}

fn ecs_event(m: &mut Object<'_, '_>, t: &Transaction, cache: &mut DocCache) -> Result<(), JsonError> {
    let mut o = m.object(crate::key!("event"))?;
    o.ascii(crate::key!("kind"), b"event")?;
    o.field(crate::key!("category"), &["network"])?;
    o.field(crate::key!("type"), &["connection", "protocol"])?;
    o.ascii(crate::key!("dataset"), t.protocol.name().as_bytes())?;
    timestamp(&mut o, crate::key!("start"), t.ts, cache)?;
    if let Some(us) = t.responsetime_us() {
        o.uint(crate::key!("duration"), us.saturating_mul(1000))?;
        timestamp(&mut o, crate::key!("end"), t.ts.add(crate::time::Duration::from_micros(us)), cache)?;
    }
    let ok = matches!(t.status, crate::txn::Status::Ok);
    o.ascii(crate::key!("outcome"), if ok { b"success" } else { b"failure" })?;
    o.close()
}

fn ecs_network(m: &mut Object<'_, '_>, t: &Transaction) -> Result<(), JsonError> {
    let mut o = m.object(crate::key!("network"))?;
    let transport = match (t.transport, t.client.ip.is_ipv4()) {
        // ECS uses the IANA protocol keywords.
        (Transport::Ip, true) => "icmp",
        (Transport::Ip, false) => "ipv6-icmp",
        (other, _) => other.name(),
    };
    o.ascii(crate::key!("transport"), transport.as_bytes())?;
    o.ascii(crate::key!("type"), if t.client.ip.is_ipv4() { b"ipv4" } else { b"ipv6" })?;
    o.ascii(crate::key!("protocol"), t.protocol.name().as_bytes())?;
    o.uint(crate::key!("bytes"), t.bytes_in.saturating_add(t.bytes_out))?;
    o.close()
}

fn ecs_related(m: &mut Object<'_, '_>, t: &Transaction) -> Result<(), JsonError> {
    let mut o = m.object(crate::key!("related"))?;
    if t.client.ip == t.server.ip {
        o.field(crate::key!("ip"), &[Ip(t.client.ip)])?;
    } else {
        o.field(crate::key!("ip"), &[Ip(t.client.ip), Ip(t.server.ip)])?;
    }
    o.close()
}

fn ecs(
    m: &mut Object<'_, '_>,
    t: &Transaction,
    cfg: &Config,
    opts: &JsonOptions<'_>,
    cache: &mut DocCache,
) -> Result<(), JsonError> {
    timestamp(m, crate::key!("@timestamp"), t.ts, cache)?;
    ecs_event(m, t, cache)?;
    ecs_endpoint(m, crate::key!("client"), t.client, t.bytes_in)?;
    ecs_endpoint(m, crate::key!("source"), t.client, t.bytes_in)?;
    ecs_endpoint(m, crate::key!("server"), t.server, t.bytes_out)?;
    ecs_endpoint(m, crate::key!("destination"), t.server, t.bytes_out)?;
    ecs_network(m, t)?;
    ecs_related(m, t)?;
    m.ascii(crate::key!("type"), t.protocol.name().as_bytes())?;
    m.ascii(crate::key!("status"), t.status.name().as_bytes())?;
    if !t.notes.is_empty() {
        m.field(crate::key!("notes"), &NotesJson(t.notes))?;
    }
    if !opts.shipper.is_empty() {
        let mut o = m.object(crate::key!("agent"))?;
        o.ascii(crate::key!("type"), b"tapbeat")?;
        o.str(crate::key!("name"), opts.shipper)?;
        o.close()?;
    }
    if !opts.tags.is_empty() {
        m.field(crate::key!("tags"), &Tags(opts.tags))?;
    }
    let mut o = m.object(crate::key!("ecs"))?;
    o.ascii(crate::key!("version"), b"8.11.0")?;
    o.close()?;
    detail(m, t, cfg, true)
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

    /// One cache across documents of changing times, endpoints and
    /// transports gives what a fresh writer gives for each, in both layouts.
    #[test]
    fn cached_documents_equal_fresh_ones() {
        use crate::txn::{Protocol, Transaction};
        use core::net::{Ipv4Addr, Ipv6Addr};
        let v4 = |a: u8, port| Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)), port };
        let v6 = |a: u16, port| Endpoint { ip: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, a)), port };
        let mut docs = heapless::Vec::<Transaction, 16>::new();
        for (i, (us, client, server, transport)) in [
            (1_764_000_000_123_456u64, v4(1, 40000), v4(2, 80), Transport::Tcp),
            (1_764_000_000_999_999, v4(1, 40000), v4(2, 80), Transport::Tcp),
            (1_764_000_001_000_000, v4(1, 40000), v4(2, 80), Transport::Tcp),
            (1_764_000_001_000_999, v4(1, 40001), v4(2, 80), Transport::Tcp),
            (1_764_086_400_000_000, v6(1, 5353), v6(2, 53), Transport::Udp),
            (1_764_086_400_007_000, v6(1, 0), v6(2, 0), Transport::Ip),
            (1_764_000_000_123_456, v4(1, 40000), v4(2, 80), Transport::Tcp),
            (253_402_300_800_000_000, v4(1, 40000), v4(2, 80), Transport::Tcp),
        ]
        .into_iter()
        .enumerate()
        {
            let t = Transaction {
                ts: Timestamp::from_micros(us),
                response_ts: Some(Timestamp::from_micros(us + 1500 * i as u64)),
                protocol: if transport == Transport::Ip { Protocol::Icmp } else { Protocol::Dns },
                status: if i % 3 == 1 { crate::txn::Status::Error } else { crate::txn::Status::Ok },
                client,
                server,
                transport,
                ..Transaction::default()
            };
            docs.push(t).unwrap();
        }
        let cfg = Config::default();
        for schema in [Schema::Packetbeat, Schema::Ecs] {
            let opts = JsonOptions { schema, ..JsonOptions::default() };
            let mut cache = DocCache::new();
            for t in &docs {
                let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
                let n = write_json(t, &cfg, &opts, &mut a).unwrap();
                let m = write_json_cached(t, &cfg, &opts, &mut cache, &mut b).unwrap();
                assert_eq!(core::str::from_utf8(&b[..m]).unwrap(), core::str::from_utf8(&a[..n]).unwrap());
            }
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
