//! HTTP transaction fields, options, and their JSON rendering.

use core::fmt;

use heapless::Vec;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::{Common, Name, Names};
use crate::text::{Lossy, Span, TextBuf};

/// Bytes of text one HTTP transaction can hold: method, path, params,
/// phrase, kept headers, and raw request/response text together. What does
/// not fit is cut and the transaction is flagged truncated.
pub const HTTP_TEXT_CAP: usize = 4096;
/// Most headers kept per message (when headers are sent at all).
pub const MAX_HEADERS: usize = 32;

/// HTTP analyzer options (Packetbeat 1.2's `protocols.http`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Ports, raw text, timeout.
    pub common: Common,
    /// Keep every header (`send_all_headers`).
    pub send_all_headers: bool,
    /// Keep only these headers (`send_headers`), case-insensitive.
    pub send_headers: Names,
    /// Render `Cookie`/`Set-Cookie` as maps (`split_cookie`).
    pub split_cookie: bool,
    /// Header whose value fills `real_ip` (e.g. `X-Forwarded-For`).
    pub real_ip_header: Option<Name>,
    /// Content types whose bodies are appended to the raw `request` /
    /// `response` text (with `send_request` / `send_response`).
    pub include_body_for: Names,
    /// Parameters whose values are replaced by `xxxxx` (`hide_keywords`).
    pub hide_keywords: Names,
    /// Replace `Authorization`/`Proxy-Authorization` values by `*`.
    pub redact_authorization: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            common: Common::on_ports(&[80, 8080, 8000, 5000, 8002]),
            send_all_headers: false,
            send_headers: Names::new(),
            split_cookie: false,
            real_ip_header: None,
            include_body_for: Names::new(),
            hide_keywords: Names::new(),
            redact_authorization: false,
        }
    }
}

impl HttpConfig {
    /// True when header `name` is to be kept.
    pub fn keeps_header(&self, name: &[u8]) -> bool {
        self.send_all_headers || self.send_headers.iter().any(|h| h.as_bytes().eq_ignore_ascii_case(name))
    }

    /// True when a body of `content_type` goes into the raw text.
    pub fn includes_body(&self, content_type: &[u8]) -> bool {
        let ct = content_type.split(|&c| c == b';').next().unwrap_or(&[]);
        let ct = crate::text::trim(ct);
        self.include_body_for.iter().any(|t| {
            let t = t.as_bytes();
            // A configured "text/html" matches "text/html; charset=..."; a
            // configured prefix like "text" matches any text/* type.
            ct.eq_ignore_ascii_case(t)
                || (ct.len() > t.len() && ct.get(..t.len()).is_some_and(|p| p.eq_ignore_ascii_case(t)))
        })
    }
}

/// One kept header: name as sent, value trimmed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Header {
    /// Header name.
    pub name: Span,
    /// Header value.
    pub value: Span,
}

/// The HTTP section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct HttpTxn {
    /// Storage of every text field below.
    pub text: TextBuf<HTTP_TEXT_CAP>,
    /// Request method.
    pub method: Span,
    /// URL path (target up to `?`).
    pub path: Span,
    /// Query string, or the form body of a urlencoded POST, normalised.
    pub params: Span,
    /// Status code (0 when no response).
    pub code: u16,
    /// Reason phrase.
    pub phrase: Span,
    /// HTTP minor version of the request (0 or 1).
    pub request_minor: u8,
    /// `Content-Length` of the response, or its decoded body size when it
    /// had none (chunked, close-delimited).
    pub content_length: Option<u64>,
    /// Body bytes of the request.
    pub request_body_bytes: u64,
    /// Body bytes of the response (decoded size for chunked bodies).
    pub response_body_bytes: u64,
    /// Kept request headers.
    pub request_headers: Vec<Header, MAX_HEADERS>,
    /// Kept response headers.
    pub response_headers: Vec<Header, MAX_HEADERS>,
    /// Raw request text (`send_request`).
    pub request_raw: Span,
    /// Raw response text (`send_response`).
    pub response_raw: Span,
    /// Value of the `real_ip_header`.
    pub real_ip: Span,
}

impl HttpTxn {
    /// Empties every field, keeping the storage (no 4 KiB zeroing per
    /// transaction). The pattern lists every field, so a new one cannot be
    /// forgotten here.
    pub fn reset(&mut self) {
        let HttpTxn {
            text,
            method,
            path,
            params,
            code,
            phrase,
            request_minor,
            content_length,
            request_body_bytes,
            response_body_bytes,
            request_headers,
            response_headers,
            request_raw,
            response_raw,
            real_ip,
        } = self;
        text.clear();
        for s in [method, path, params, phrase, request_raw, response_raw, real_ip] {
            *s = Span::EMPTY;
        }
        *code = 0;
        *request_minor = 1;
        *content_length = None;
        *request_body_bytes = 0;
        *response_body_bytes = 0;
        request_headers.clear();
        response_headers.clear();
    }

    /// Gives `t` an empty HTTP section, reusing the one it has.
    pub fn init(t: &mut crate::txn::Transaction) {
        use crate::txn::Detail;
        match &mut t.detail {
            Detail::Http(h) => h.reset(),
            other => *other = Detail::Http(HttpTxn::default()),
        }
    }

    /// The kept request headers as a JSON object.
    pub fn request_headers_json(&self, split_cookie: bool) -> HeadersJson<'_> {
        HeadersJson { txn: self, headers: &self.request_headers, split_cookie }
    }

    /// The kept response headers as a JSON object.
    pub fn response_headers_json(&self, split_cookie: bool) -> HeadersJson<'_> {
        HeadersJson { txn: self, headers: &self.response_headers, split_cookie }
    }

    /// Text of a span.
    pub fn s(&self, span: Span) -> Lossy<'_> {
        self.text.text(span)
    }
}

/// Lower-cased text.
struct Lower<'a>(&'a [u8]);

impl fmt::Display for Lower<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                fmt::Write::write_char(f, c.to_ascii_lowercase())?;
            }
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Lower<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Headers as a JSON object: lower-case names, repeated headers joined
/// with `, ` (as Packetbeat does), cookies as maps when `split_cookie`.
pub struct HeadersJson<'a> {
    txn: &'a HttpTxn,
    headers: &'a [Header],
    split_cookie: bool,
}

struct Joined<'a> {
    txn: &'a HttpTxn,
    headers: &'a [Header],
    name: &'a [u8],
}

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for h in self.headers {
            if self.txn.text.get(h.name).eq_ignore_ascii_case(self.name) {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                fmt::Display::fmt(&self.txn.s(h.value), f)?;
            }
        }
        Ok(())
    }
}

impl Serialize for Joined<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct Cookies<'a> {
    txn: &'a HttpTxn,
    headers: &'a [Header],
    name: &'a [u8],
}

impl Serialize for Cookies<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let set_cookie = self.name.eq_ignore_ascii_case(b"set-cookie");
        for h in self.headers.iter().filter(|h| self.txn.text.get(h.name).eq_ignore_ascii_case(self.name)) {
            let v = self.txn.text.get(h.value);
            for (i, part) in v.split(|&c| c == b';').enumerate() {
                // A Set-Cookie header carries one cookie; the rest are attributes.
                if set_cookie && i > 0 {
                    break;
                }
                let part = crate::text::trim(part);
                if part.is_empty() {
                    continue;
                }
                let (k, val) = match part.iter().position(|&c| c == b'=') {
                    Some(e) => (part.get(..e).unwrap_or(&[]), part.get(e + 1..).unwrap_or(&[])),
                    None => (part, &[][..]),
                };
                m.serialize_entry(&Lower(crate::text::trim(k)), &Lossy(val))?;
            }
        }
        m.end()
    }
}

impl Serialize for HeadersJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (i, h) in self.headers.iter().enumerate() {
            let name = self.txn.text.get(h.name);
            let earlier = self.headers.get(..i).unwrap_or(&[]);
            if earlier.iter().any(|e| self.txn.text.get(e.name).eq_ignore_ascii_case(name)) {
                continue;
            }
            let is_cookie = name.eq_ignore_ascii_case(b"cookie") || name.eq_ignore_ascii_case(b"set-cookie");
            if self.split_cookie && is_cookie {
                m.serialize_entry(&Lower(name), &Cookies { txn: self.txn, headers: self.headers, name })?;
            } else {
                m.serialize_entry(&Lower(name), &Joined { txn: self.txn, headers: self.headers, name })?;
            }
        }
        m.end()
    }
}
