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

use crate::output::secret::Secret;

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
    /// IDL files whose service definitions name parameters and exceptions.
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

/// `output:`. Several outputs may be configured; each document goes to all.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// NDJSON on stdout.
    pub console: Option<Console>,
    /// NDJSON into rotating files.
    pub file: Option<FileOut>,
    /// Redis list or channel (the Logstash path).
    pub redis: Option<RedisOut>,
    /// Elasticsearch `_bulk`.
    pub elasticsearch: Option<EsOut>,
}

/// `output.elasticsearch`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsOut {
    /// `["host:9200", "https://other:9200"]` (default localhost:9200), tried in turn.
    pub hosts: Option<Vec<String>>,
    /// `http` (default) or `https`, for hosts given without a scheme.
    pub protocol: Option<String>,
    /// Path prefix (a proxy in front of the cluster).
    pub path: Option<String>,
    /// Basic auth user.
    pub username: Option<String>,
    /// Basic auth password (prefer `password_env` or `password_file`).
    pub password: Option<Secret>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (one trailing newline is ignored).
    pub password_file: Option<String>,
    /// Index prefix: documents go to `INDEX-YYYY.MM.DD` (default `tapbeat`).
    pub index: Option<String>,
    /// Index template.
    pub template: Option<EsTemplate>,
    /// Documents per `_bulk` request (default 50).
    pub bulk_max_size: Option<usize>,
    /// Seconds a document waits for its batch (default 1).
    pub flush_interval: Option<f64>,
    /// Request timeout in seconds (default 90).
    pub timeout: Option<u64>,
    /// TLS settings.
    pub tls: Option<EsTls>,
}

/// `output.elasticsearch.template`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsTemplate {
    /// Install it (default true).
    pub enabled: Option<bool>,
    /// Name (default the index prefix).
    pub name: Option<String>,
    /// Replace an existing one (default false).
    pub overwrite: Option<bool>,
}

/// `output.elasticsearch.tls`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsTls {
    /// Accept any certificate (self-signed test clusters only).
    pub insecure: Option<bool>,
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
    /// Folder (default: the current one).
    pub path: Option<String>,
    /// File name (default `tapbeat`).
    pub filename: Option<String>,
    /// Rotate when the file would exceed this many KiB (default 10240).
    pub rotate_every_kb: Option<u64>,
    /// Files kept, the current one included (default 7).
    pub number_of_files: Option<usize>,
}

/// `output.redis` (Packetbeat 1.x names; 5.x's `hosts` and `key` accepted).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOut {
    /// Server host (default 127.0.0.1).
    pub host: Option<String>,
    /// Server port (default 6379).
    pub port: Option<u16>,
    /// `["host:port"]` (the first is used).
    pub hosts: Option<Vec<String>>,
    /// List or channel name (default `tapbeat`).
    pub key: Option<String>,
    /// 1.x name of `key`.
    pub index: Option<String>,
    /// `list` (default) or `channel`.
    pub datatype: Option<String>,
    /// Database number (default 0).
    pub db: Option<i64>,
    /// Password (prefer `password_env` or `password_file`).
    pub password: Option<Secret>,
    /// Environment variable holding the password (kept out of the config file).
    pub password_env: Option<String>,
    /// File holding the password (one trailing newline is ignored).
    pub password_file: Option<String>,
    /// Seconds for connect and I/O (default 5).
    pub timeout: Option<u64>,
    /// Seconds before the first retry after a failure (default 1; doubles up to 60).
    pub reconnect_interval: Option<u64>,
    /// Documents per batch (default 2048).
    pub bulk_max_size: Option<usize>,
    /// Seconds a document waits for its batch (default 1).
    pub flush_interval: Option<f64>,
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
    /// Documents queued per output between the analysis and the network.
    pub queue_size: Option<usize>,
    /// Seconds given to outputs to drain at shutdown.
    pub shutdown_timeout: Option<u64>,
    /// Analysis threads for live capture (default: the number of cores).
    pub workers: Option<usize>,
    /// `tapbeat run`: the user to switch to once the capture and the
    /// outputs are open (as `--user`).
    pub user: Option<String>,
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
    /// Configured outputs (none: stdout).
    pub outputs: Vec<OutputSpec>,
    /// Documents queued per output.
    pub queue_size: usize,
    /// Time given to outputs to drain at shutdown.
    pub shutdown_timeout: std::time::Duration,
    /// Analysis threads for live capture.
    pub workers: usize,
    /// Capture settings (`interfaces`).
    pub capture: Capture,
    /// User to run as after opening the capture (`tapbeat.user`, `--user`).
    pub user: Option<String>,
}

/// One configured output.
#[derive(Debug, Clone)]
pub enum OutputSpec {
    /// Stdout.
    Console,
    /// Rotating files.
    File(crate::output::file::FileSettings),
    /// Redis, with its batching.
    Redis(crate::output::redis::RedisSettings, crate::output::PipelineSettings),
    /// Elasticsearch, with its batching.
    Elasticsearch(crate::output::elasticsearch::EsSettings, crate::output::PipelineSettings),
}

/// Live-capture settings (`interfaces:`).
#[derive(Debug, Clone)]
pub struct Capture {
    /// Device (`any` for all).
    pub device: String,
    /// Bytes captured per packet.
    pub snaplen: i32,
    /// Kernel buffer in MiB.
    pub buffer_size_mb: i32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Filter overriding the one built from ports.
    pub bpf_filter: Option<String>,
    /// Also match VLAN-tagged traffic in the built filter.
    pub with_vlans: bool,
}

impl Default for Capture {
    fn default() -> Self {
        Capture {
            device: "any".into(),
            snaplen: 65535,
            buffer_size_mb: 32,
            promisc: true,
            bpf_filter: None,
            with_vlans: true,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            core: Config::default(),
            sizes: default_sizes(),
            schema: Schema::Packetbeat,
            shipper: String::new(),
            tags: Vec::new(),
            outputs: Vec::new(),
            queue_size: 8192,
            shutdown_timeout: std::time::Duration::from_secs(5),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            capture: Capture::default(),
            user: None,
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

/// An output's password from at most one of `password`, `password_env`
/// and `password_file`. Errors name the key, the variable or the file,
/// never the secret.
fn password(
    section: &str,
    inline: Option<Secret>,
    env: Option<String>,
    file: Option<String>,
) -> Result<Option<Secret>> {
    match (inline, env, file) {
        (p, None, None) => Ok(p),
        (None, Some(var), None) => match std::env::var(&var) {
            Ok(v) => Ok(Some(Secret::new(v))),
            Err(_) => bail!("{section}.password_env: environment variable {var} is not set"),
        },
        (None, None, Some(path)) => match Secret::from_file(Path::new(&path)) {
            Ok(s) => Ok(Some(s)),
            Err(e) => bail!("{section}.password_file: cannot read {path}: {e}"),
        },
        _ => bail!("{section}: give only one of password, password_env and password_file"),
    }
}

fn es_output(e: EsOut) -> Result<OutputSpec> {
    let scheme = match e.protocol.as_deref().unwrap_or("http") {
        p @ ("http" | "https") => p.to_string(),
        other => bail!("output.elasticsearch.protocol: '{other}' (expected http or https)"),
    };
    let path = e.path.unwrap_or_default();
    let path = path.trim_end_matches('/');
    let hosts: Vec<String> = e
        .hosts
        .unwrap_or_else(|| vec!["localhost:9200".into()])
        .into_iter()
        .map(|h| if h.contains("://") { format!("{h}{path}") } else { format!("{scheme}://{h}{path}") })
        .collect();
    if hosts.is_empty() {
        bail!("output.elasticsearch.hosts: empty list");
    }
    let password = password("output.elasticsearch", e.password, e.password_env, e.password_file)?;
    let index = e.index.unwrap_or_else(|| "tapbeat".into());
    let t = e.template.unwrap_or_default();
    Ok(OutputSpec::Elasticsearch(
        crate::output::elasticsearch::EsSettings {
            hosts,
            username: e.username,
            password,
            timeout: std::time::Duration::from_secs(e.timeout.unwrap_or(90).max(1)),
            template: t.enabled.unwrap_or(true),
            template_name: t.name.unwrap_or_else(|| index.clone()),
            template_overwrite: t.overwrite.unwrap_or(false),
            tls_insecure: e.tls.and_then(|t| t.insecure).unwrap_or(false),
            index,
        },
        crate::output::PipelineSettings {
            batch: e.bulk_max_size.unwrap_or(50).max(1),
            flush_interval: std::time::Duration::from_secs_f64(e.flush_interval.unwrap_or(1.0).clamp(0.001, 3600.0)),
            ..Default::default()
        },
    ))
}

fn redis_output(r: RedisOut) -> Result<OutputSpec> {
    use crate::output::redis::{DataType, RedisSettings};
    let addr = match (&r.hosts, &r.host) {
        (Some(h), _) => h.first().cloned().context("output.redis.hosts: empty list")?,
        (None, host) => format!("{}:{}", host.clone().unwrap_or_else(|| "127.0.0.1".into()), r.port.unwrap_or(6379)),
    };
    let datatype = match r.datatype.as_deref().unwrap_or("list") {
        "list" => DataType::List,
        "channel" => DataType::Channel,
        other => bail!("output.redis.datatype: '{other}' (expected list or channel)"),
    };
    let password = password("output.redis", r.password, r.password_env, r.password_file)?;
    let backoff = std::time::Duration::from_secs(r.reconnect_interval.unwrap_or(1).max(1));
    let pipeline = crate::output::PipelineSettings {
        batch: r.bulk_max_size.unwrap_or(2048).max(1),
        flush_interval: std::time::Duration::from_secs_f64(r.flush_interval.unwrap_or(1.0).clamp(0.001, 3600.0)),
        backoff,
        max_backoff: std::time::Duration::from_secs(60).max(backoff),
        ..Default::default()
    };
    Ok(OutputSpec::Redis(
        RedisSettings {
            addr,
            key: r.key.or(r.index).unwrap_or_else(|| "tapbeat".into()),
            datatype,
            db: r.db.unwrap_or(0),
            password,
            timeout: std::time::Duration::from_secs(r.timeout.unwrap_or(5).max(1)),
        },
        pipeline,
    ))
}

/// The options every protocol section has, taken from a section struct.
macro_rules! common_yaml {
    ($x:ident) => {
        CommonYaml {
            enabled: $x.enabled,
            ports: $x.ports,
            send_request: $x.send_request,
            send_response: $x.send_response,
            transaction_timeout: $x.transaction_timeout,
        }
    };
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
            apply_common(&mut s.core, proto, common_yaml!(q))?;
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
            apply_common(&mut s.core, Protocol::Mongodb, common_yaml!(m))?;
            if let Some(v) = m.max_docs {
                s.core.mongodb.max_docs = v;
            }
            if let Some(v) = m.max_doc_length {
                s.core.mongodb.max_doc_length = v;
            }
        }
        if let Some(t) = f.protocols.thrift {
            use tapbeat_core::proto::thrift::{ThriftProtocol, ThriftTransport};
            apply_common(&mut s.core, Protocol::Thrift, common_yaml!(t))?;
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
            if let Some(files) = t.idl_files {
                let mut table = tapbeat_core::proto::thrift::ThriftIdl::default();
                for f in &files {
                    let src = std::fs::read_to_string(f)
                        .with_context(|| format!("protocols.thrift.idl_files: cannot read {f}"))?;
                    crate::thrift_idl::parse_into(&src, &mut table)
                        .with_context(|| format!("protocols.thrift.idl_files: {f}"))?;
                }
                // Parsed once at start-up and kept for the process's life.
                th.idl = Some(Box::leak(Box::new(table)));
            }
        }
        if let Some(d) = f.protocols.dns {
            apply_common(&mut s.core, Protocol::Dns, common_yaml!(d))?;
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
            apply_common(&mut s.core, Protocol::Redis, common_yaml!(r))?;
        }
        if let Some(m) = f.protocols.memcache {
            apply_common(&mut s.core, Protocol::Memcache, common_yaml!(m))?;
            let mc = &mut s.core.memcache;
            mc.parseunknown = m.parseunknown.unwrap_or(false);
            mc.maxvalues = m.maxvalues.unwrap_or(0);
            mc.maxbytespervalue = m.maxbytespervalue.unwrap_or(0);
            if let Some(t) = m.udptransactiontimeout {
                mc.udptransactiontimeout = Duration::from_secs(t);
            }
        }
        if let Some(h) = f.protocols.http {
            apply_common(&mut s.core, Protocol::Http, common_yaml!(h))?;
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
        if f.output.console.is_some() {
            s.outputs.push(OutputSpec::Console);
        }
        if let Some(fo) = f.output.file {
            s.outputs.push(OutputSpec::File(crate::output::file::FileSettings {
                dir: fo.path.unwrap_or_else(|| ".".into()).into(),
                name: fo.filename.unwrap_or_else(|| "tapbeat".into()),
                rotate_bytes: fo.rotate_every_kb.unwrap_or(10240).max(1).saturating_mul(1024),
                keep: fo.number_of_files.unwrap_or(7).clamp(1, 1024),
            }));
        }
        if let Some(r) = f.output.redis {
            s.outputs.push(redis_output(r)?);
        }
        if let Some(e) = f.output.elasticsearch {
            s.outputs.push(es_output(e)?);
        }
        if let Some(i) = f.interfaces {
            let c = &mut s.capture;
            if let Some(d) = i.device {
                c.device = d;
            }
            if let Some(k) = i.kind {
                if k != "pcap" && k != "af_packet" {
                    bail!("interfaces.type: '{k}' is not supported (pcap or af_packet, both captured through libpcap)");
                }
            }
            if let Some(n) = i.snaplen {
                c.snaplen = i32::try_from(n).context("interfaces.snaplen: too large")?;
            }
            if let Some(n) = i.buffer_size_mb {
                c.buffer_size_mb = i32::try_from(n).context("interfaces.buffer_size_mb: too large")?;
            }
            c.bpf_filter = i.bpf_filter;
            if let Some(v) = i.with_vlans {
                c.with_vlans = v;
            }
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
        if let Some(q) = t.queue_size {
            if q == 0 {
                bail!("tapbeat.queue_size must be at least 1");
            }
            s.queue_size = q;
        }
        if let Some(secs) = t.shutdown_timeout {
            s.shutdown_timeout = std::time::Duration::from_secs(secs);
        }
        if let Some(w) = t.workers {
            if !(1..=256).contains(&w) {
                bail!("tapbeat.workers must be between 1 and 256");
            }
            s.workers = w;
        }
        if let Some(u) = t.user {
            if u.is_empty() {
                bail!("tapbeat.user: empty name");
            }
            s.user = Some(u);
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
    fn debug_output_redacts_passwords() {
        let y = "output:\n  redis:\n    password: red-secret-1\n  elasticsearch:\n    username: u\n    password: es-secret-2\n";
        let f: File = serde_yaml::from_str(y).unwrap();
        let s = Settings::from_yaml(y).unwrap();
        for text in [format!("{f:?}"), format!("{s:?}"), format!("{:#?}", s.outputs)] {
            assert!(!text.contains("secret-"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
    }

    #[test]
    fn user_key() {
        assert_eq!(Settings::from_yaml("tapbeat:\n  user: nobody\n").unwrap().user.as_deref(), Some("nobody"));
        assert!(Settings::from_yaml("tapbeat:\n  user: ''\n").is_err());
        assert_eq!(Settings::from_yaml("").unwrap().user, None);
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
