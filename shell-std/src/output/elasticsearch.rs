//! The Elasticsearch output: the `_bulk` API with NDJSON bodies.
//!
//! - `hosts`: tried in turn; a host that fails is left for the next one.
//! - `index`: documents go to `INDEX-YYYY.MM.DD`, the date taken from the
//!   document's `@timestamp` (UTC), as Packetbeat does.
//! - An index template (`_index_template/NAME`) is installed once per
//!   connection unless disabled; it maps `@timestamp` as a date, addresses
//!   as `ip`, counters as `long`, and every other string as `keyword`.
//! - Retries: connection errors, 429 and 5xx retry the whole batch (the
//!   pipeline backs off); per-item failures retry only the failed items
//!   when they are retryable (429, 5xx) and drop and count the others (a
//!   document Elasticsearch rejects, e.g. a mapping conflict, would fail
//!   forever).

use std::io;
use std::time::Duration;

use super::secret::Secret;
use super::{Output, PartlySent};

/// Elasticsearch output settings.
#[derive(Debug, Clone)]
pub struct EsSettings {
    /// Base URLs (`http://host:9200`), tried in turn.
    pub hosts: Vec<String>,
    /// Index name prefix.
    pub index: String,
    /// Basic auth user.
    pub username: Option<String>,
    /// Basic auth password (never logged: its `Debug` is redacted).
    pub password: Option<Secret>,
    /// Request timeout.
    pub timeout: Duration,
    /// Install the index template.
    pub template: bool,
    /// Template name.
    pub template_name: String,
    /// Replace an existing template.
    pub template_overwrite: bool,
    /// Accept any TLS certificate (tests, self-signed clusters).
    pub tls_insecure: bool,
}

/// The output.
pub struct EsOutput {
    s: EsSettings,
    agent: ureq::Agent,
    host: usize,
    template_done: bool,
}

impl EsOutput {
    /// An output that connects on first use.
    pub fn new(s: EsSettings) -> EsOutput {
        let mut cfg = ureq::Agent::config_builder().timeout_global(Some(s.timeout)).http_status_as_error(false);
        if s.tls_insecure {
            cfg = cfg.tls_config(ureq::tls::TlsConfig::builder().disable_verification(true).build());
        }
        EsOutput { agent: cfg.build().into(), s, host: 0, template_done: false }
    }

    fn base(&self) -> &str {
        self.s.hosts.get(self.host % self.s.hosts.len().max(1)).map(|h| h.trim_end_matches('/')).unwrap_or("")
    }

    fn auth(&self) -> Option<String> {
        let user = self.s.username.as_ref()?;
        let pass = self.s.password.as_ref().map(Secret::expose).unwrap_or_default();
        Some(format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())))
    }

    fn request(&self, method: &str, path: &str, body: &[u8], ndjson: bool) -> io::Result<(u16, String)> {
        let url = format!("{}{}", self.base(), path);
        let ct = if ndjson { "application/x-ndjson" } else { "application/json" };
        let req = match method {
            "PUT" => self.agent.put(&url),
            "GET" => {
                let mut g = self.agent.get(&url);
                if let Some(a) = self.auth() {
                    g = g.header("Authorization", &a);
                }
                let mut r = g.call().map_err(|e| io::Error::other(format!("{url}: {e}")))?;
                let status = r.status().as_u16();
                let text = r.body_mut().read_to_string().unwrap_or_default();
                return Ok((status, text));
            }
            _ => self.agent.post(&url),
        };
        let mut req = req.header("Content-Type", ct);
        if let Some(a) = self.auth() {
            req = req.header("Authorization", &a);
        }
        let mut r = req.send(body).map_err(|e| io::Error::other(format!("{url}: {e}")))?;
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().map_err(|e| io::Error::other(format!("{url}: {e}")))?;
        Ok((status, text))
    }

    fn install_template(&mut self) -> io::Result<()> {
        if self.template_done || !self.s.template {
            return Ok(());
        }
        let path = format!("/_index_template/{}", self.s.template_name);
        if !self.s.template_overwrite {
            let (status, _) = self.request("GET", &path, b"", false)?;
            if status == 200 {
                self.template_done = true;
                return Ok(());
            }
        }
        let body = template(&self.s.index);
        let (status, text) = self.request("PUT", &path, body.as_bytes(), false)?;
        if !(200..300).contains(&status) {
            return Err(io::Error::other(format!(
                "template {}: HTTP {status}: {}",
                self.s.template_name,
                short(&text)
            )));
        }
        self.template_done = true;
        Ok(())
    }

    /// Sends `docs` once; returns the documents to retry and how many were
    /// rejected for good.
    fn bulk(&mut self, docs: &[&Vec<u8>]) -> io::Result<(Vec<usize>, u64)> {
        let mut body = Vec::with_capacity(docs.iter().map(|d| d.len() + 64).sum());
        for d in docs {
            let day = tapbeat_core::json::doc_index_day(d).unwrap_or_else(today);
            let index = format!("{}-{}", self.s.index, String::from_utf8_lossy(&day));
            body.extend_from_slice(format!("{{\"index\":{{\"_index\":\"{index}\"}}}}\n").as_bytes());
            body.extend_from_slice(d);
            if !d.ends_with(b"\n") {
                body.push(b'\n');
            }
        }
        let (status, text) = self.request("POST", "/_bulk", &body, true)?;
        match status {
            200..=299 => {}
            429 => return Err(io::Error::other("HTTP 429: Elasticsearch is overloaded")),
            _ => return Err(io::Error::other(format!("HTTP {status}: {}", short(&text)))),
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| io::Error::other(format!("bad _bulk reply: {e}")))?;
        if v["errors"] != serde_json::Value::Bool(true) {
            return Ok((Vec::new(), 0));
        }
        let items = v["items"].as_array().cloned().unwrap_or_default();
        let mut retry = Vec::new();
        let mut rejected = 0;
        for (i, item) in items.iter().enumerate() {
            let st = item["index"]["status"].as_u64().unwrap_or(0);
            if (200..300).contains(&st) {
                continue;
            }
            if st == 429 || st >= 500 {
                retry.push(i);
            } else {
                rejected += 1;
                eprintln!(
                    "tapbeat: output elasticsearch: document rejected (HTTP {st}): {}",
                    short(&item["index"]["error"].to_string())
                );
            }
        }
        Ok((retry, rejected))
    }
}

impl Output for EsOutput {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64> {
        let r = (|| {
            self.install_template()?;
            // Indices into `batch` of the documents not yet stored.
            let mut pending: Vec<usize> = (0..batch.len()).collect();
            let mut rejected_total = 0;
            // Items refused with a retryable status are sent again at once
            // a few times; then the pipeline's backoff takes over, for
            // those items only (the others are stored: sending them again
            // would index them twice).
            for round in 0..3 {
                let docs: Vec<&Vec<u8>> = pending.iter().filter_map(|&i| batch.get(i)).collect();
                let (retry, rejected) = match self.bulk(&docs) {
                    Ok(r) => r,
                    Err(e) if round == 0 => return Err(e),
                    Err(e) => {
                        return Err(PartlySent { retry: pending, rejected: rejected_total, cause: e }.into_error())
                    }
                };
                rejected_total += rejected;
                if retry.is_empty() {
                    return Ok(rejected_total);
                }
                pending = retry.iter().filter_map(|&i| pending.get(i).copied()).collect();
                std::thread::sleep(Duration::from_millis(100));
            }
            let cause = io::Error::other(format!("{} documents still refused (retryable)", pending.len()));
            Err(PartlySent { retry: pending, rejected: rejected_total, cause }.into_error())
        })();
        if r.is_err() && self.s.hosts.len() > 1 {
            // Fail over: the next attempt goes to the next host.
            self.host = self.host.wrapping_add(1);
            tracing::info!(host = self.base(), "elasticsearch: failing over");
            self.template_done = false;
        }
        r
    }

    fn close(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn probe(&mut self) -> io::Result<()> {
        let (status, text) = self.request("GET", "/", b"", false)?;
        if status == 200 {
            Ok(())
        } else {
            Err(io::Error::other(format!("{}: HTTP {status}: {}", self.base(), short(&text))))
        }
    }
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

/// `YYYY.MM.DD` of the wall clock, for a document without a readable
/// `@timestamp` (none from the kernel: a guard).
fn today() -> [u8; 10] {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    tapbeat_core::Timestamp::from_micros(now.as_micros() as u64).index_day().unwrap_or(*b"1970.01.01")
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(T[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The index template: explicit types for the common fields, strings as
/// keywords, numbers as longs.
pub fn template(index: &str) -> String {
    serde_json::json!({
        "index_patterns": [format!("{index}-*")],
        "priority": 100,
        "template": {
            "settings": {"index": {"refresh_interval": "5s"}},
            "mappings": {
                "dynamic_templates": [
                    {"ips": {"match": "*ip", "mapping": {"type": "ip"}}},
                    {"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}}},
                    {"longs": {"match_mapping_type": "long", "mapping": {"type": "long"}}}
                ],
                "properties": {
                    "@timestamp": {"type": "date"},
                    "client_ip": {"type": "ip"},
                    "ip": {"type": "ip"},
                    "client_port": {"type": "integer"},
                    "port": {"type": "integer"},
                    "responsetime": {"type": "long"},
                    "bytes_in": {"type": "long"},
                    "bytes_out": {"type": "long"},
                    "count": {"type": "integer"},
                    "request": {"type": "text"},
                    "response": {"type": "text"},
                    "query": {"type": "keyword", "ignore_above": 8191}
                }
            }
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(base64(b"elastic:changeme"), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert!(template("tb").contains("\"tb-*\""));
    }
}
