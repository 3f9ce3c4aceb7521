//! The YAML configuration file: Packetbeat 1.2's `packetbeat.yml` layout
//! (`interfaces`, `protocols`, `shipper`, `output`) plus tapbeat's own
//! `tapbeat:` section (table sizes, timeouts, schema).
//!
//! Unknown keys and wrong types are errors that name the key and the line.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tapbeat_core::config::{self as core_cfg, Names, MAX_NAME, MAX_NAMES, MAX_PORTS};
use tapbeat_core::json::Schema;
use tapbeat_core::time::Duration;
use tapbeat_core::{Config, Protocol, StorageSizes};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Capture settings (used by live capture; accepted and checked here).
    #[serde(default)]
    pub interfaces: Option<Interfaces>,
    /// Protocol analyzers.
    #[serde(default)]
    pub protocols: Protocols,
    /// Sensor name and tags.
    #[serde(default)]
    pub shipper: Shipper,
    /// Where documents go.
    #[serde(default)]
    pub output: Output,
    /// tapbeat's own settings.
    #[serde(default)]
    pub tapbeat: Tapbeat,
}

/// `interfaces:` (Packetbeat 1.x, one device).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interfaces {
    /// Device name or `any`.
    pub device: Option<String>,
    /// Capture type (`pcap`; `af_packet` is accepted as a synonym).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Snap length.
    pub snaplen: Option<u32>,
    /// Kernel buffer size in MB.
    pub buffer_size_mb: Option<u32>,
    /// Also capture VLAN-tagged traffic.
    pub with_vlans: Option<bool>,
    /// BPF filter overriding the one built from ports.
    pub bpf_filter: Option<String>,
    /// A pcap file to read instead of a device.
    pub file: Option<String>,
}

/// `protocols:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// `protocols.http`.
    pub http: Option<Http>,
    /// `protocols.dns`.
    pub dns: Option<Dns>,
    /// `protocols.icmp`.
    pub icmp: Option<Icmp>,
    /// `protocols.redis`.
    pub redis: Option<Redis>,
    /// `protocols.memcache`.
    pub memcache: Option<Memcache>,
    /// `protocols.mysql`.
    pub mysql: Option<Sql>,
    /// `protocols.pgsql`.
    pub pgsql: Option<Sql>,
    /// `protocols.mongodb`.
    pub mongodb: Option<Mongodb>,
    /// `protocols.thrift`.
    pub thrift: Option<Thrift>,
}

/// `protocols.mysql` and `protocols.pgsql`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sql {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Server ports.
    pub ports: Option<Vec<u16>>,
    /// Keep the raw request (the query).
    pub send_request: Option<bool>,
    /// Keep the raw response (a CSV-like rendering of the rows).
    pub send_response: Option<bool>,
    /// Seconds before an unanswered query is reported.
    pub transaction_timeout: Option<u64>,
    /// Rows kept in the raw response.
    pub max_rows: Option<u32>,
    /// Bytes kept per row in the raw response.
    pub max_row_length: Option<u32>,
}

/// `protocols.mongodb`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mongodb {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Server ports.
    pub ports: Option<Vec<u16>>,
    /// Keep the raw request.
    pub send_request: Option<bool>,
    /// Keep the raw response (one JSON document per line).
    pub send_response: Option<bool>,
    /// Seconds before an unanswered request is reported.
    pub transaction_timeout: Option<u64>,
    /// Documents kept in the raw response.
    pub max_docs: Option<u32>,
    /// Bytes kept per document.
    pub max_doc_length: Option<u32>,
}

/// `protocols.thrift`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thrift {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Server ports.
    pub ports: Option<Vec<u16>>,
    /// Keep the raw request.
    pub send_request: Option<bool>,
    /// Keep the raw response.
    pub send_response: Option<bool>,
    /// Seconds before an unanswered call is reported.
    pub transaction_timeout: Option<u64>,
    /// `socket` (default) or `framed`.
    pub transport_type: Option<String>,
    /// `binary` (default) or `compact`.
    pub protocol_type: Option<String>,
    /// Bytes kept per string value.
    pub string_max_size: Option<u32>,
    /// Elements shown per collection.
    pub collection_max_size: Option<u32>,
    /// Struct fields parsed before the rest is dropped.
    pub drop_after_n_struct_fields: Option<u32>,
    /// Decode replies.
    pub capture_reply: Option<bool>,
    /// Replace string values by "*".
    pub obfuscate_strings: Option<bool>,
    /// IDL files (accepted; method and field names are not resolved from
    /// IDL in this version).
    pub idl_files: Option<Vec<String>>,
}

/// `protocols.dns`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Server ports (UDP and TCP).
    pub ports: Option<Vec<u16>>,
    /// Keep the raw request.
    pub send_request: Option<bool>,
    /// Keep the raw response.
    pub send_response: Option<bool>,
    /// Seconds before an unanswered query is reported.
    pub transaction_timeout: Option<u64>,
    /// Report the authority section.
    pub include_authorities: Option<bool>,
    /// Report the additional section.
    pub include_additionals: Option<bool>,
}

/// `protocols.icmp`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Icmp {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Keep the raw request.
    pub send_request: Option<bool>,
    /// Keep the raw response.
    pub send_response: Option<bool>,
    /// Seconds before an unanswered request is reported.
    pub transaction_timeout: Option<u64>,
}

/// `protocols.redis`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Server ports.
    pub ports: Option<Vec<u16>>,
    /// Keep the raw request.
    pub send_request: Option<bool>,
    /// Keep the raw response.
    pub send_response: Option<bool>,
    /// Seconds before an unanswered command is reported.
    pub transaction_timeout: Option<u64>,
}

/// `protocols.memcache`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memcache {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Server ports (TCP and UDP).
    pub ports: Option<Vec<u16>>,
    /// Keep the raw request.
    pub send_request: Option<bool>,
    /// Keep the raw response.
    pub send_response: Option<bool>,
    /// Seconds before an unanswered command is reported.
    pub transaction_timeout: Option<u64>,
    /// Parse unknown commands.
    pub parseunknown: Option<bool>,
    /// Values reported per response: 0 none, -1 all.
    pub maxvalues: Option<i32>,
    /// Bytes kept per reported value.
    pub maxbytespervalue: Option<u32>,
    /// Seconds to wait for the datagrams of one UDP request.
    pub udptransactiontimeout: Option<u64>,
}

/// `protocols.http`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Analyzer on or off (default on when the section exists).
    pub enabled: Option<bool>,
    /// Server ports.
    pub ports: Option<Vec<u16>>,
    /// Keep the raw request.
    pub send_request: Option<bool>,
    /// Keep the raw response.
    pub send_response: Option<bool>,
    /// Seconds before an unanswered request is reported.
    pub transaction_timeout: Option<u64>,
    /// Headers to keep.
    pub send_headers: Option<Vec<String>>,
    /// Keep every header.
    pub send_all_headers: Option<bool>,
    /// Cookies as maps.
    pub split_cookie: Option<bool>,
    /// Packetbeat 1.x's sample misspelling of `split_cookie`, accepted.
    pub split_coookie: Option<bool>,
    /// Header that carries the real client IP.
    pub real_ip_header: Option<String>,
    /// Content types whose bodies go into the raw text.
    pub include_body_for: Option<Vec<String>>,
    /// Parameters to hide.
    pub hide_keywords: Option<Vec<String>>,
    /// Hide Authorization headers.
    pub redact_authorization: Option<bool>,
}

/// `shipper:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shipper {
    /// Sensor name (`shipper` field). Defaults to none.
    pub name: Option<String>,
    /// Tags added to every document.
    pub tags: Option<Vec<String>>,
}

/// `output:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// NDJSON on stdout.
    pub console: Option<Console>,
    /// NDJSON into a file.
    pub file: Option<FileOut>,
}

/// `output.console`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// Accepted for compatibility; documents are always one per line.
    pub pretty: Option<bool>,
}

/// `output.file`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOut {
    /// Folder.
    pub path: Option<String>,
    /// File name (default `tapbeat`).
    pub filename: Option<String>,
}

/// `tapbeat:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tapbeat {
    /// Flow-table slots.
    pub flows: Option<usize>,
    /// Stream blocks (4 KiB each).
    pub stream_blocks: Option<usize>,
    /// Pending-transaction records.
    pub pending: Option<usize>,
    /// IP fragment slots (16 KiB each).
    pub fragments: Option<usize>,
    /// Seconds of silence before a flow is closed.
    pub flow_timeout: Option<u64>,
    /// Out-of-order bytes buffered per direction before a gap is declared.
    pub max_out_of_order_bytes: Option<u32>,
    /// `packetbeat` or `ecs`.
    pub schema: Option<String>,
}

/// The effective settings: kernel config, storage sizes, document options.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kernel configuration.
    pub core: Config,
    /// Table sizes.
    pub sizes: StorageSizes,
    /// Document layout.
    pub schema: Schema,
    /// Sensor name.
    pub shipper: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Output file from the config (`output.file`), if any.
    pub output_file: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            core: Config::default(),
            sizes: default_sizes(),
            schema: Schema::Packetbeat,
            shipper: String::new(),
            tags: Vec::new(),
            output_file: None,
        }
    }
}

/// Host defaults: 65 536 flows, 4 096 stream blocks (16 MiB), 4 096
/// pending transactions, 64 fragment slots.
pub fn default_sizes() -> StorageSizes {
    StorageSizes { flows: 65_536, blocks: 4096, pending: 4096, frags: 64 }
}

fn names(key: &str, v: &[String]) -> Result<Names> {
    if v.len() > MAX_NAMES {
        bail!("{key}: at most {MAX_NAMES} entries are supported, got {}", v.len());
    }
    let mut out = Names::new();
    for s in v {
        let n = core_cfg::name(s).with_context(|| format!("{key}: '{s}' is longer than {MAX_NAME} bytes"))?;
        let _ = out.push(n);
    }
    Ok(out)
}

/// The options every protocol section has.
struct CommonYaml {
    enabled: Option<bool>,
    ports: Option<Vec<u16>>,
    send_request: Option<bool>,
    send_response: Option<bool>,
    transaction_timeout: Option<u64>,
}

fn apply_common(core: &mut Config, p: Protocol, y: CommonYaml) -> Result<()> {
    let name = p.name();
    if let Some(ports) = &y.ports {
        if ports.len() > MAX_PORTS {
            bail!("protocols.{name}.ports: at most {MAX_PORTS} ports are supported");
        }
        core.set_ports(p, ports);
    }
    let c = core.common_mut(p).with_context(|| format!("protocols.{name}: no analyzer in this build"))?;
    // ICMP has no ports; the others need at least one.
    c.enabled = y.enabled.unwrap_or(true) && (p == Protocol::Icmp || !c.ports.is_empty());
    c.send_request = y.send_request.unwrap_or(false);
    c.send_response = y.send_response.unwrap_or(false);
    if let Some(t) = y.transaction_timeout {
        c.transaction_timeout = Duration::from_secs(t);
    }
    Ok(())
}

/// Parses `schema` names.
pub fn parse_schema(s: &str) -> Result<Schema> {
    match s {
        "packetbeat" => Ok(Schema::Packetbeat),
        "ecs" => Ok(Schema::Ecs),
        other => bail!("unknown schema '{other}' (expected packetbeat or ecs)"),
    }
}

impl Settings {
    /// Reads and validates a config file.
    pub fn from_path(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("in config {}", path.display()))
    }

    /// Parses and validates config text.
    pub fn from_yaml(text: &str) -> Result<Settings> {
        let file: File = if text.trim().is_empty() { File::default() } else { serde_yaml::from_str(text)? };
        Self::from_file(file)
    }

    fn from_file(f: File) -> Result<Settings> {
        let mut s = Settings::default();
        // A config that names protocols analyses those; one that names
        // none keeps every analyzer on its default ports.
        let p = &f.protocols;
        if p.http.is_some()
            || p.dns.is_some()
            || p.icmp.is_some()
            || p.redis.is_some()
            || p.memcache.is_some()
            || p.mysql.is_some()
            || p.pgsql.is_some()
            || p.mongodb.is_some()
            || p.thrift.is_some()
        {
            s.core.disable_all();
        }
        for (proto, sql) in [(Protocol::Mysql, f.protocols.mysql), (Protocol::Pgsql, f.protocols.pgsql)] {
            let Some(q) = sql else { continue };
            let c = CommonYaml {
                enabled: q.enabled,
                ports: q.ports,
                send_request: q.send_request,
                send_response: q.send_response,
                transaction_timeout: q.transaction_timeout,
            };
            apply_common(&mut s.core, proto, c)?;
            let (rows, len) = match proto {
                Protocol::Mysql => (&mut s.core.mysql.max_rows, &mut s.core.mysql.max_row_length),
                _ => (&mut s.core.pgsql.max_rows, &mut s.core.pgsql.max_row_length),
            };
            if let Some(v) = q.max_rows {
                *rows = v;
            }
            if let Some(v) = q.max_row_length {
                *len = v;
            }
        }
        if let Some(m) = f.protocols.mongodb {
            let c = CommonYaml {
                enabled: m.enabled,
                ports: m.ports,
                send_request: m.send_request,
                send_response: m.send_response,
                transaction_timeout: m.transaction_timeout,
            };
            apply_common(&mut s.core, Protocol::Mongodb, c)?;
            if let Some(v) = m.max_docs {
                s.core.mongodb.max_docs = v;
            }
            if let Some(v) = m.max_doc_length {
                s.core.mongodb.max_doc_length = v;
            }
        }
        if let Some(t) = f.protocols.thrift {
            use tapbeat_core::proto::thrift::{ThriftProtocol, ThriftTransport};
            let c = CommonYaml {
                enabled: t.enabled,
                ports: t.ports,
                send_request: t.send_request,
                send_response: t.send_response,
                transaction_timeout: t.transaction_timeout,
            };
            apply_common(&mut s.core, Protocol::Thrift, c)?;
            let th = &mut s.core.thrift;
            if let Some(v) = t.transport_type {
                th.transport_type = match v.as_str() {
                    "socket" => ThriftTransport::Socket,
                    "framed" => ThriftTransport::Framed,
                    other => bail!("protocols.thrift.transport_type: '{other}' (expected socket or framed)"),
                };
            }
            if let Some(v) = t.protocol_type {
                th.protocol_type = match v.as_str() {
                    "binary" => ThriftProtocol::Binary,
                    "compact" => ThriftProtocol::Compact,
                    other => bail!("protocols.thrift.protocol_type: '{other}' (expected binary or compact)"),
                };
            }
            if let Some(v) = t.string_max_size {
                th.string_max_size = v;
            }
            if let Some(v) = t.collection_max_size {
                th.collection_max_size = v;
            }
            if let Some(v) = t.drop_after_n_struct_fields {
                th.drop_after_n_struct_fields = v;
            }
            if let Some(v) = t.capture_reply {
                th.capture_reply = v;
            }
            if let Some(v) = t.obfuscate_strings {
                th.obfuscate_strings = v;
            }
        }
        if let Some(d) = f.protocols.dns {
            let c = CommonYaml {
                enabled: d.enabled,
                ports: d.ports,
                send_request: d.send_request,
                send_response: d.send_response,
                transaction_timeout: d.transaction_timeout,
            };
            apply_common(&mut s.core, Protocol::Dns, c)?;
            s.core.dns.include_authorities = d.include_authorities.unwrap_or(false);
            s.core.dns.include_additionals = d.include_additionals.unwrap_or(false);
        }
        if let Some(i) = f.protocols.icmp {
            let c = CommonYaml {
                enabled: i.enabled,
                ports: None,
                send_request: i.send_request,
                send_response: i.send_response,
                transaction_timeout: i.transaction_timeout,
            };
            apply_common(&mut s.core, Protocol::Icmp, c)?;
        }
        if let Some(r) = f.protocols.redis {
            let c = CommonYaml {
                enabled: r.enabled,
                ports: r.ports,
                send_request: r.send_request,
                send_response: r.send_response,
                transaction_timeout: r.transaction_timeout,
            };
            apply_common(&mut s.core, Protocol::Redis, c)?;
        }
        if let Some(m) = f.protocols.memcache {
            let c = CommonYaml {
                enabled: m.enabled,
                ports: m.ports,
                send_request: m.send_request,
                send_response: m.send_response,
                transaction_timeout: m.transaction_timeout,
            };
            apply_common(&mut s.core, Protocol::Memcache, c)?;
            let mc = &mut s.core.memcache;
            mc.parseunknown = m.parseunknown.unwrap_or(false);
            mc.maxvalues = m.maxvalues.unwrap_or(0);
            mc.maxbytespervalue = m.maxbytespervalue.unwrap_or(0);
            if let Some(t) = m.udptransactiontimeout {
                mc.udptransactiontimeout = Duration::from_secs(t);
            }
        }
        if let Some(h) = f.protocols.http {
            let c = CommonYaml {
                enabled: h.enabled,
                ports: h.ports,
                send_request: h.send_request,
                send_response: h.send_response,
                transaction_timeout: h.transaction_timeout,
            };
            apply_common(&mut s.core, Protocol::Http, c)?;
            let c2 = &mut s.core.http;
            if let Some(v) = h.send_headers {
                c2.send_headers = names("protocols.http.send_headers", &v)?;
            }
            c2.send_all_headers = h.send_all_headers.unwrap_or(false);
            c2.split_cookie = h.split_cookie.or(h.split_coookie).unwrap_or(false);
            if let Some(r) = h.real_ip_header {
                c2.real_ip_header = Some(
                    core_cfg::name(&r)
                        .with_context(|| format!("protocols.http.real_ip_header: longer than {MAX_NAME} bytes"))?,
                );
            }
            if let Some(v) = h.include_body_for {
                c2.include_body_for = names("protocols.http.include_body_for", &v)?;
            }
            if let Some(v) = h.hide_keywords {
                c2.hide_keywords = names("protocols.http.hide_keywords", &v)?;
            }
            c2.redact_authorization = h.redact_authorization.unwrap_or(false);
        }
        s.shipper = f.shipper.name.unwrap_or_default();
        s.tags = f.shipper.tags.unwrap_or_default();
        if let Some(fo) = f.output.file {
            let dir = fo.path.unwrap_or_else(|| ".".into());
            s.output_file = Some(Path::new(&dir).join(fo.filename.unwrap_or_else(|| "tapbeat".into())));
        }
        let t = f.tapbeat;
        if let Some(n) = t.flows {
            s.sizes.flows = n;
        }
        if let Some(n) = t.stream_blocks {
            s.sizes.blocks = n;
        }
        if let Some(n) = t.pending {
            s.sizes.pending = n;
        }
        if let Some(n) = t.fragments {
            s.sizes.frags = n;
        }
        if s.sizes.flows == 0 || s.sizes.pending == 0 {
            bail!("tapbeat.flows and tapbeat.pending must be at least 1");
        }
        if let Some(secs) = t.flow_timeout {
            s.core.flow_timeout = Duration::from_secs(secs);
        }
        if let Some(b) = t.max_out_of_order_bytes {
            s.core.max_ooo_bytes = b;
        }
        if let Some(sc) = t.schema {
            s.schema = parse_schema(&sc).context("tapbeat.schema")?;
        }
        Ok(s)
    }

    /// Applies a `--ports http=80,8080` override.
    pub fn apply_ports_override(&mut self, spec: &str) -> Result<()> {
        let (proto, ports) =
            spec.split_once('=').with_context(|| format!("--ports '{spec}': expected PROTOCOL=PORT[,PORT...]"))?;
        let p = Protocol::from_name(proto.trim()).with_context(|| format!("--ports: unknown protocol '{proto}'"))?;
        let mut list = Vec::new();
        for x in ports.split(',').filter(|x| !x.trim().is_empty()) {
            list.push(x.trim().parse::<u16>().with_context(|| format!("--ports: '{x}' is not a port number"))?);
        }
        if list.len() > MAX_PORTS {
            bail!("--ports: at most {MAX_PORTS} ports per protocol");
        }
        if !self.core.set_ports(p, &list) {
            bail!("--ports: protocol '{proto}' has no analyzer in this build yet");
        }
        Ok(())
    }

    /// A human-readable summary of the effective settings (YAML-like).
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::from("protocols:\n");
        for p in Protocol::ALL {
            let Some(c) = self.core.common(p) else { continue };
            let _ = writeln!(o, "  {}:\n    enabled: {}", p.name(), c.enabled);
            if p != Protocol::Icmp {
                let _ = writeln!(o, "    ports: {:?}", c.ports.as_slice());
            }
            let _ = writeln!(
                o,
                "    send_request: {}\n    send_response: {}\n    transaction_timeout: {}",
                c.send_request,
                c.send_response,
                c.transaction_timeout.as_millis() / 1000
            );
            match p {
                Protocol::Http => {
                    let h = &self.core.http;
                    fn list(n: &tapbeat_core::config::Names) -> Vec<&str> {
                        n.iter().map(|s| s.as_str()).collect()
                    }
                    let _ = writeln!(
                        o,
                        "    send_all_headers: {}\n    send_headers: {:?}\n    split_cookie: {}\n    real_ip_header: {:?}\n    include_body_for: {:?}\n    hide_keywords: {:?}\n    redact_authorization: {}",
                        h.send_all_headers,
                        list(&h.send_headers),
                        h.split_cookie,
                        h.real_ip_header.as_ref().map(|s| s.as_str()),
                        list(&h.include_body_for),
                        list(&h.hide_keywords),
                        h.redact_authorization
                    );
                }
                Protocol::Dns => {
                    let d = &self.core.dns;
                    let _ = writeln!(
                        o,
                        "    include_authorities: {}\n    include_additionals: {}",
                        d.include_authorities, d.include_additionals
                    );
                }
                Protocol::Mysql | Protocol::Pgsql => {
                    let (rows, len) = match p {
                        Protocol::Mysql => (self.core.mysql.max_rows, self.core.mysql.max_row_length),
                        _ => (self.core.pgsql.max_rows, self.core.pgsql.max_row_length),
                    };
                    let _ = writeln!(o, "    max_rows: {rows}\n    max_row_length: {len}");
                }
                Protocol::Mongodb => {
                    let m = &self.core.mongodb;
                    let _ = writeln!(o, "    max_docs: {}\n    max_doc_length: {}", m.max_docs, m.max_doc_length);
                }
                Protocol::Thrift => {
                    let t = &self.core.thrift;
                    let _ = writeln!(
                        o,
                        "    transport_type: {:?}\n    protocol_type: {:?}\n    string_max_size: {}\n    collection_max_size: {}\n    drop_after_n_struct_fields: {}\n    capture_reply: {}\n    obfuscate_strings: {}",
                        t.transport_type,
                        t.protocol_type,
                        t.string_max_size,
                        t.collection_max_size,
                        t.drop_after_n_struct_fields,
                        t.capture_reply,
                        t.obfuscate_strings
                    );
                }
                Protocol::Memcache => {
                    let m = &self.core.memcache;
                    let _ = writeln!(
                        o,
                        "    parseunknown: {}\n    maxvalues: {}\n    maxbytespervalue: {}\n    udptransactiontimeout: {}",
                        m.parseunknown,
                        m.maxvalues,
                        m.maxbytespervalue,
                        m.udptransactiontimeout.as_millis() / 1000
                    );
                }
                _ => {}
            }
        }
        let _ = writeln!(o, "shipper:\n  name: {:?}\n  tags: {:?}", self.shipper, self.tags);
        let _ = writeln!(
            o,
            "tapbeat:\n  flows: {}\n  stream_blocks: {}\n  pending: {}\n  fragments: {}\n  flow_timeout: {}\n  max_out_of_order_bytes: {}\n  schema: {}\n  memory_bytes: {}",
            self.sizes.flows,
            self.sizes.blocks,
            self.sizes.pending,
            self.sizes.frags,
            self.core.flow_timeout.as_millis() / 1000,
            self.core.max_ooo_bytes,
            match self.schema {
                Schema::Packetbeat => "packetbeat",
                Schema::Ecs => "ecs",
            },
            self.sizes.bytes(),
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packetbeat_layout_is_accepted() {
        let s = Settings::from_yaml(
            "interfaces:\n  device: any\nprotocols:\n  http:\n    ports: [80, 8080]\n    send_headers: [\"User-Agent\"]\n    split_coookie: true\n    real_ip_header: X-Forwarded-For\nshipper:\n  name: edge1\n  tags: [a, b]\n",
        )
        .unwrap();
        assert_eq!(s.core.http.common.ports.as_slice(), &[80, 8080]);
        assert!(s.core.http.split_cookie);
        assert_eq!(s.shipper, "edge1");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = Settings::from_yaml("protocols:\n  http:\n    portz: [80]\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("portz"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn every_protocol_section_and_option() {
        let s = Settings::from_yaml(
            "protocols:
  dns: {ports: [53, 5353], include_authorities: true, include_additionals: true}
  icmp: {enabled: true, transaction_timeout: 3}
  redis: {ports: [6380]}
  memcache: {ports: [11211], parseunknown: true, maxvalues: -1, maxbytespervalue: 100, udptransactiontimeout: 5}
  mysql: {ports: [3307], max_rows: 5, max_row_length: 64}
  pgsql: {ports: [5433], max_rows: 6, max_row_length: 65, send_response: true}
  mongodb: {ports: [27018], max_docs: 2, max_doc_length: 100}
  thrift: {ports: [9091], transport_type: framed, protocol_type: compact, string_max_size: 10, collection_max_size: 3, drop_after_n_struct_fields: 7, capture_reply: false, obfuscate_strings: true}
",
        )
        .unwrap();
        let c = &s.core;
        assert!(!c.http.common.enabled, "only the listed protocols run");
        assert_eq!(c.protocol_for_port(5353), Some(Protocol::Dns));
        assert!(c.dns.include_authorities && c.dns.include_additionals);
        assert!(c.icmp.common.enabled);
        assert_eq!(c.icmp.common.transaction_timeout, Duration::from_secs(3));
        assert_eq!(c.protocol_for_port(6380), Some(Protocol::Redis));
        assert_eq!((c.memcache.maxvalues, c.memcache.maxbytespervalue), (-1, 100));
        assert_eq!(c.memcache.udptransactiontimeout, Duration::from_secs(5));
        assert_eq!((c.mysql.max_rows, c.mysql.max_row_length), (5, 64));
        assert_eq!(c.protocol_for_port(5433), Some(Protocol::Pgsql));
        assert!(c.pgsql.common.send_response);
        assert_eq!((c.mongodb.max_docs, c.mongodb.max_doc_length), (2, 100));
        assert_eq!(c.thrift.transport_type, tapbeat_core::proto::thrift::ThriftTransport::Framed);
        assert_eq!(c.thrift.protocol_type, tapbeat_core::proto::thrift::ThriftProtocol::Compact);
        assert!(!c.thrift.capture_reply && c.thrift.obfuscate_strings);
        assert!(Settings::from_yaml("protocols:\n  thrift: {transport_type: carrier-pigeon}\n").is_err());
    }

    #[test]
    fn ports_override() {
        let mut s = Settings::default();
        s.apply_ports_override("http=81,82").unwrap();
        assert_eq!(s.core.http.common.ports.as_slice(), &[81, 82]);
        assert!(s.apply_ports_override("http=x").is_err());
        assert!(s.apply_ports_override("nope=1").is_err());
    }
}
