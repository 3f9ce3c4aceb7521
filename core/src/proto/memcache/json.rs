//! Memcache's part of a JSON document.
//!
//! Both layouts write one `memcache` object with Packetbeat's field names
//! (`protocol_type`, `request.*`, `response.*`): Packetbeat 8.x keeps these
//! names under ECS too. Values are base64-encoded, as Packetbeat does.

use crate::json::{JsonError, Object};
use core::fmt;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::txn::{opcode_info, status_name, Command, Kind, MemcacheTxn, Msg, Stat};
use crate::text::Span;

/// Writes `"memcache": {...}` into `m`.
pub(crate) fn section(m: &mut Object<'_, '_>, x: &MemcacheTxn) -> Result<(), JsonError> {
    m.field(crate::key!("memcache"), &Section(x))
}

struct Section<'a>(&'a MemcacheTxn);

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("protocol_type", x.protocol.name())?;
        if x.request.present {
            m.serialize_entry("request", &MsgJson { x, msg: &x.request, request: true })?;
        }
        if x.response.present {
            m.serialize_entry("response", &MsgJson { x, msg: &x.response, request: false })?;
        }
        m.end()
    }
}

struct MsgJson<'a> {
    x: &'a MemcacheTxn,
    msg: &'a Msg,
    request: bool,
}

struct Texts<'a> {
    x: &'a MemcacheTxn,
    spans: &'a [Span],
}

impl Serialize for Texts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.spans.len()))?;
        for sp in self.spans {
            q.serialize_element(&self.x.s(*sp))?;
        }
        q.end()
    }
}

struct Values<'a> {
    x: &'a MemcacheTxn,
    spans: &'a [Span],
}

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.spans.len()))?;
        for sp in self.spans {
            q.serialize_element(&Base64(self.x.text.get(*sp)))?;
        }
        q.end()
    }
}

struct Stats<'a> {
    x: &'a MemcacheTxn,
    stats: &'a [Stat],
}

struct StatJson<'a> {
    x: &'a MemcacheTxn,
    st: Stat,
}

impl Serialize for StatJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &self.x.s(self.st.name))?;
        m.serialize_entry("value", &self.x.s(self.st.value))?;
        m.end()
    }
}

impl Serialize for Stats<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.stats.len()))?;
        for st in self.stats {
            q.serialize_element(&StatJson { x: self.x, st: *st })?;
        }
        q.end()
    }
}

/// Bytes as standard base64 (with padding), written in small pieces.
pub(crate) struct Base64<'a>(pub(crate) &'a [u8]);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl fmt::Display for Base64<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sym = |v: u32| B64.get((v & 63) as usize).copied().unwrap_or(b'=');
        for chunk in self.0.chunks(3) {
            let b = |i: usize| chunk.get(i).copied().unwrap_or(0) as u32;
            let n = (b(0) << 16) | (b(1) << 8) | b(2);
            let mut out = [sym(n >> 18), sym(n >> 12), sym(n >> 6), sym(n)];
            if chunk.len() < 3 {
                out[3] = b'=';
            }
            if chunk.len() < 2 {
                out[2] = b'=';
            }
            f.write_str(core::str::from_utf8(&out).unwrap_or("===="))?;
        }
        Ok(())
    }
}

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct Automove(u64);

impl Serialize for Automove {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            0 => s.serialize_str("standby"),
            1 => s.serialize_str("slow"),
            2 => s.serialize_str("aggressive"),
            n => s.collect_str(&n),
        }
    }
}

impl Serialize for MsgJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (x, g) = (self.x, self.msg);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("command", g.command.name())?;
        m.serialize_entry("type", g.kind.name())?;
        if let Some(l) = g.line {
            m.serialize_entry("line", &x.s(l))?;
        }
        if g.binary {
            m.serialize_entry("opcode", opcode_info(g.opcode).0)?;
            m.serialize_entry("opcode_value", &g.opcode)?;
            m.serialize_entry("opaque", &g.opaque)?;
            if self.request {
                m.serialize_entry("quiet", &g.quiet)?;
                m.serialize_entry("vbucket", &g.vbucket)?;
            } else {
                m.serialize_entry("status", status_name(g.status))?;
                m.serialize_entry("status_code", &g.status)?;
            }
        }
        if !g.keys.is_empty() {
            m.serialize_entry("keys", &Texts { x, spans: &g.keys })?;
        }
        if let Some(n) = g.count_values {
            m.serialize_entry("count_values", &n)?;
            if let Some(b) = g.bytes {
                m.serialize_entry("bytes", &b)?;
            }
            if !g.values.is_empty() {
                m.serialize_entry("values", &Values { x, spans: &g.values })?;
            }
        }
        if let Some(v) = g.flags {
            m.serialize_entry("flags", &v)?;
        }
        if let Some(v) = g.exptime {
            m.serialize_entry("exptime", &v)?;
        }
        if let Some(v) = g.cas {
            m.serialize_entry("cas_unique", &v)?;
        }
        if let Some(v) = g.delta {
            m.serialize_entry("delta", &v)?;
        }
        if let Some(v) = g.initial {
            m.serialize_entry("initial", &v)?;
        }
        if let Some(v) = g.value {
            match g.command {
                Command::Verbosity => m.serialize_entry("verbosity", &v)?,
                Command::LruSleep => m.serialize_entry("sleep_us", &v)?,
                Command::SlabsAutomove => m.serialize_entry("automove", &Automove(v))?,
                _ => m.serialize_entry("value", &v)?,
            }
        }
        if let Some(v) = g.source_class {
            m.serialize_entry("source_class", &v)?;
        }
        if let Some(v) = g.dest_class {
            m.serialize_entry("dest_class", &v)?;
        }
        if let Some(v) = g.noreply {
            m.serialize_entry("noreply", &v)?;
        }
        if let Some(v) = g.raw_args {
            m.serialize_entry("raw_args", &x.s(v))?;
        }
        if let Some(v) = g.error_msg {
            m.serialize_entry("error_msg", &x.s(v))?;
        }
        if let Some(v) = g.version {
            m.serialize_entry("version", &x.s(v))?;
        }
        if !self.request && g.kind == Kind::Stats {
            m.serialize_entry("stats", &Stats { x, stats: &x.stats })?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn base64() {
        for (i, o) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"\xff\xfe\x00", "//4A"),
        ] {
            let mut s: heapless::String<16> = heapless::String::new();
            write!(s, "{}", Base64(i)).unwrap();
            assert_eq!(s.as_str(), o);
        }
    }
}
