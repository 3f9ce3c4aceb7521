//! A small Elasticsearch stand-in for the output tests: it speaks the parts
//! of the real HTTP API the output uses — `GET /`, `GET /_cluster/health`,
//! `GET`/`PUT /_index_template/NAME`, `POST /_bulk` — and checks them as
//! Elasticsearch would (NDJSON action/source pairs, JSON validity, basic
//! auth), with faults that can be switched on: whole-request 429s and
//! 500s, per-item 429s and 400s, slow answers, connections closed before
//! answering or in the middle of the answer, and refusing connections.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// Faults to inject.
#[derive(Default)]
pub struct Faults {
    /// Answer this many `_bulk` requests with 429.
    pub bulk_429: AtomicUsize,
    /// Answer this many items (across requests) with a per-item 429.
    pub item_429: AtomicUsize,
    /// Reject (400, mapper_parsing_exception) documents containing this text.
    pub reject_containing: Mutex<Option<String>>,
    /// Delay every answer by this many milliseconds.
    pub delay_ms: AtomicUsize,
    /// Answer this many `_bulk` requests with 500 (nothing stored).
    pub bulk_500: AtomicUsize,
    /// Close the connection without answering this many `_bulk` requests
    /// (nothing stored).
    pub close_before_response: AtomicUsize,
    /// Store this many `_bulk` requests' documents, then close the
    /// connection halfway through the answer (the client cannot know they
    /// were stored).
    pub close_mid_response: AtomicUsize,
    /// Handle this many `_bulk` requests only after `slow_ms` (a busy
    /// cluster: the documents are stored after the wait, whether or not
    /// the client is still there).
    pub slow_requests: AtomicUsize,
    /// Delay of the slow requests, in milliseconds.
    pub slow_ms: AtomicUsize,
}

/// Takes one from a fault counter; true if the fault applies.
fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1)).is_ok()
}

/// What the server stored and saw.
#[derive(Default)]
pub struct State {
    /// Documents per index, in arrival order.
    pub indices: Mutex<HashMap<String, Vec<Value>>>,
    /// Templates by name.
    pub templates: Mutex<HashMap<String, Value>>,
    /// `_bulk` requests answered (any status).
    pub bulk_requests: AtomicUsize,
    /// Requests refused for bad auth.
    pub unauthorized: AtomicUsize,
    /// Faults.
    pub faults: Faults,
}

/// A running server.
pub struct EsServer {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// Shared state.
    pub state: Arc<State>,
    stop: Arc<AtomicBool>,
}

impl EsServer {
    /// Starts on `addr` (port 0: any free port). `auth`: required
    /// `Authorization` header value.
    pub fn start(addr: &str, auth: Option<String>, state: Arc<State>) -> EsServer {
        let l = TcpListener::bind(addr).expect("bind");
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, stp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stp.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let st = st.clone();
                        let auth = auth.clone();
                        let stp = stp.clone();
                        std::thread::spawn(move || {
                            let _ = serve(s, &st, auth.as_deref(), &stp);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        EsServer { addr, state, stop }
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening and closes connections (new ones are refused).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(30));
    }

    /// Every stored document, all indices, sorted by index then arrival.
    pub fn all_docs(&self) -> Vec<(String, Value)> {
        let idx = self.state.indices.lock().unwrap();
        let mut names: Vec<&String> = idx.keys().collect();
        names.sort();
        names.into_iter().flat_map(|n| idx[n].iter().map(move |d| (n.clone(), d.clone()))).collect()
    }
}

impl Drop for EsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn respond(w: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    write!(
        w,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
        text.len()
    )?;
    w.flush()
}

fn serve(s: TcpStream, st: &State, auth: Option<&str>, stop: &AtomicBool) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                continue
            }
            Err(e) => return Err(e),
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut len = 0usize;
        let mut authz = None;
        let mut ctype = String::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => authz = Some(v.trim().to_string()),
                    "content-type" => ctype = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        let delay = st.faults.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay as u64));
        }
        if let Some(a) = auth {
            if authz.as_deref() != Some(a) {
                st.unauthorized.fetch_add(1, Ordering::Relaxed);
                respond(&mut w, 401, &json!({"error": {"type": "security_exception"}, "status": 401}))?;
                continue;
            }
        }
        match (method.as_str(), path.as_str()) {
            ("GET", "/") => respond(
                &mut w,
                200,
                &json!({"name": "tapbeat-test", "version": {"number": "8.11.0"}, "tagline": "You Know, for Search"}),
            )?,
            ("GET", "/_cluster/health") => respond(&mut w, 200, &json!({"status": "green"}))?,
            ("GET", p) if p.starts_with("/_index_template/") => {
                let name = &p["/_index_template/".len()..];
                match st.templates.lock().unwrap().get(name) {
                    Some(t) => {
                        respond(&mut w, 200, &json!({"index_templates": [{"name": name, "index_template": t}]}))?
                    }
                    None => respond(&mut w, 404, &json!({"error": "not found", "status": 404}))?,
                }
            }
            ("PUT", p) if p.starts_with("/_index_template/") => {
                let name = p["/_index_template/".len()..].to_string();
                match serde_json::from_slice::<Value>(&body) {
                    Ok(v) if v["index_patterns"].is_array() => {
                        st.templates.lock().unwrap().insert(name, v);
                        respond(&mut w, 200, &json!({"acknowledged": true}))?;
                    }
                    _ => respond(&mut w, 400, &json!({"error": {"type": "parse_exception"}, "status": 400}))?,
                }
            }
            ("POST", "/_bulk") => {
                st.bulk_requests.fetch_add(1, Ordering::Relaxed);
                if take(&st.faults.close_before_response) {
                    return Ok(());
                }
                if take(&st.faults.bulk_500) {
                    respond(&mut w, 500, &json!({"error": {"type": "node_not_connected_exception"}, "status": 500}))?;
                    continue;
                }
                if take(&st.faults.bulk_429) {
                    respond(
                        &mut w,
                        429,
                        &json!({"error": {"type": "es_rejected_execution_exception"}, "status": 429}),
                    )?;
                    continue;
                }
                if !ctype.starts_with("application/x-ndjson") && !ctype.starts_with("application/json") {
                    respond(&mut w, 400, &json!({"error": "bad content type", "status": 400}))?;
                    continue;
                }
                // Decided on arrival, so a request already being answered
                // when the fault is switched on is not slowed.
                if take(&st.faults.slow_requests) {
                    std::thread::sleep(Duration::from_millis(st.faults.slow_ms.load(Ordering::Relaxed) as u64));
                }
                let (status, reply) = bulk(st, &body);
                if take(&st.faults.close_mid_response) {
                    let text = reply.to_string();
                    write!(
                        w,
                        "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                        text.len(),
                        &text[..text.len() / 2]
                    )?;
                    w.flush()?;
                    return Ok(());
                }
                respond(&mut w, status, &reply)?;
            }
            _ => respond(&mut w, 404, &json!({"error": "no handler", "status": 404}))?,
        }
    }
}

/// Handles a `_bulk` body like Elasticsearch: an action line, then a source
/// line, for each document; the body must end with a newline.
fn bulk(st: &State, body: &[u8]) -> (u16, Value) {
    if !body.ends_with(b"\n") {
        return (
            400,
            json!({"error": {"type": "illegal_argument_exception", "reason": "The bulk request must be terminated by a newline [\\n]"}, "status": 400}),
        );
    }
    let lines: Vec<&[u8]> = body.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
    if !lines.len().is_multiple_of(2) {
        return (
            400,
            json!({"error": {"type": "illegal_argument_exception", "reason": "action without source"}, "status": 400}),
        );
    }
    let mut items = Vec::new();
    let mut errors = false;
    let reject = st.faults.reject_containing.lock().unwrap().clone();
    for pair in lines.chunks(2) {
        let action: Value = match serde_json::from_slice(pair[0]) {
            Ok(v) => v,
            Err(_) => return (400, json!({"error": {"type": "x_content_parse_exception"}, "status": 400})),
        };
        let Some(index) = action["index"]["_index"].as_str().or(action["create"]["_index"].as_str()) else {
            return (400, json!({"error": {"type": "action_request_validation_exception"}, "status": 400}));
        };
        let doc: Result<Value, _> = serde_json::from_slice(pair[1]);
        let text = String::from_utf8_lossy(pair[1]);
        let item_status = if doc.is_err() || reject.as_deref().is_some_and(|r| text.contains(r)) {
            400
        } else if st.faults.item_429.load(Ordering::Relaxed) > 0 {
            st.faults.item_429.fetch_sub(1, Ordering::Relaxed);
            429
        } else {
            201
        };
        if item_status == 201 {
            if let Ok(d) = doc {
                st.indices.lock().unwrap().entry(index.to_string()).or_default().push(d);
            }
            items.push(json!({"index": {"_index": index, "status": 201, "result": "created"}}));
        } else {
            errors = true;
            let kind = if item_status == 429 { "es_rejected_execution_exception" } else { "mapper_parsing_exception" };
            items.push(json!({"index": {"_index": index, "status": item_status, "error": {"type": kind, "reason": "injected"}}}));
        }
    }
    (200, json!({"took": 1, "errors": errors, "items": items}))
}
