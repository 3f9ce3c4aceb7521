//! HTTP's part of a JSON document (Packetbeat and ECS layouts).

use crate::json::{JsonError, Object};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::HttpTxn;
use crate::config::Config;
use crate::txn::Transaction;

/// Writes the HTTP fields of the Packetbeat 1.2 layout into `m`.
pub(crate) fn packetbeat(m: &mut Object<'_, '_>, _t: &Transaction, h: &HttpTxn, cfg: &Config) -> Result<(), JsonError> {
    let text = |span| h.text.get(span);
    if !h.method.is_empty() {
        m.text(crate::key!("method"), text(h.method))?;
        m.text(crate::key!("path"), text(h.path))?;
        // `method path`: as stored in the request line when one space
        // separates them there (the common case), else composed.
        match h.text.joined(h.method, 1, h.path).filter(|q| q.get(h.method.len()) == Some(&b' ')) {
            Some(q) => m.text(crate::key!("query"), q)?,
            None => m.text_parts(crate::key!("query"), &[text(h.method), b" ", text(h.path)])?,
        }
        m.text(crate::key!("params"), text(h.params))?;
    }
    if !h.real_ip.is_empty() {
        m.text(crate::key!("real_ip"), text(h.real_ip))?;
    }
    if !h.request_raw.is_empty() {
        m.text(crate::key!("request"), text(h.request_raw))?;
    }
    if !h.response_raw.is_empty() {
        m.text(crate::key!("response"), text(h.response_raw))?;
    }
    let mut o = m.object(crate::key!("http"))?;
    if h.code != 0 {
        o.uint(crate::key!("code"), h.code.into())?;
        o.text(crate::key!("phrase"), text(h.phrase))?;
    }
    if let Some(cl) = h.content_length {
        o.uint(crate::key!("content_length"), cl)?;
    }
    if !h.request_headers.is_empty() {
        o.field(crate::key!("request_headers"), &h.request_headers_json(cfg.http.split_cookie))?;
    }
    if !h.response_headers.is_empty() {
        o.field(crate::key!("response_headers"), &h.response_headers_json(cfg.http.split_cookie))?;
    }
    o.close()
}

/// Writes the HTTP fields of the ECS layout into `m`.
pub(crate) fn ecs(m: &mut Object<'_, '_>, t: &Transaction, h: &HttpTxn, cfg: &Config) -> Result<(), JsonError> {
    if !h.method.is_empty() {
        m.field(crate::key!("method"), &h.s(h.method))?;
        m.text_parts(crate::key!("query"), &[h.text.get(h.method), b" ", h.text.get(h.path)])?;
        m.field(crate::key!("url"), &EcsUrl(h))?;
    }
    if !h.request_raw.is_empty() {
        m.field(crate::key!("request"), &h.s(h.request_raw))?;
    }
    if !h.response_raw.is_empty() {
        m.field(crate::key!("response"), &h.s(h.response_raw))?;
    }
    m.field(crate::key!("http"), &EcsHttp { t, h, split_cookie: cfg.http.split_cookie })
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
