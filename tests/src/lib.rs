//! Helpers for tapbeat's end-to-end tests: load a capture, run it through
//! the same code path as `tapbeat read`, get the documents back as JSON.

pub mod es_server;
pub mod hostile;
pub mod redis_server;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tapbeat::read::{read_files, EngineMemory, NdjsonSink};
use tapbeat::Settings;
use tapbeat_core::{Engine, LinkType, Stats, Timestamp};

/// The folder of the test captures.
pub fn pcaps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps")
}

/// Settings with HTTP on `ports` and everything else at defaults.
pub fn http_settings(ports: &[u16]) -> Settings {
    settings_for(tapbeat_core::Protocol::Http, ports)
}

/// Settings with only protocol `p` on `ports` (ICMP: enabled, no ports).
pub fn settings_for(p: tapbeat_core::Protocol, ports: &[u16]) -> Settings {
    let mut s = Settings::default();
    s.core.disable_all();
    if p == tapbeat_core::Protocol::Icmp {
        s.core.icmp.common.enabled = true;
    } else {
        assert!(s.core.set_ports(p, ports));
    }
    // Small tables keep tests fast; big enough for every test capture.
    s.sizes = tapbeat_core::StorageSizes { flows: 4096, blocks: 1024, pending: 1024, frags: 16 };
    s
}

/// Runs `tapbeat read` on one file; returns the documents and the stats.
pub fn read(path: &Path, settings: &Settings) -> (Vec<Value>, Stats) {
    let mut out = Vec::new();
    let sum = read_files(&[path], settings, &mut out).expect("read_files");
    assert!(sum.failures.is_empty(), "{:?}", sum.failures);
    let docs = String::from_utf8(out)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {e}: {l}")))
        .collect();
    (docs, sum.engine)
}

/// A capture loaded into memory.
pub struct Capture {
    /// Link type of every frame.
    pub link: LinkType,
    /// Frames with their timestamps.
    pub frames: Vec<(Timestamp, Vec<u8>)>,
}

/// Loads every frame of a capture file.
pub fn load(path: &Path) -> Capture {
    let mut cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Micro).expect("open capture");
    let link = LinkType(cap.get_datalink().0 as u32);
    let mut frames = Vec::new();
    while let Ok(p) = cap.next_packet() {
        let ts = Timestamp::from_secs_micros(p.header.ts.tv_sec as u64, p.header.ts.tv_usec as u32);
        frames.push((ts, p.data.to_vec()));
    }
    Capture { link, frames }
}

/// Runs frames through a fresh engine; returns the documents and stats.
pub fn run_frames(settings: &Settings, link: LinkType, frames: &[(Timestamp, Vec<u8>)]) -> (Vec<Value>, Stats) {
    let mut mem = EngineMemory::new(settings);
    let mut engine = Engine::new(settings.core.clone(), mem.storage());
    let mut out = Vec::new();
    {
        let mut sink = NdjsonSink::new(&mut out, settings);
        for (ts, f) in frames {
            engine.process(*ts, link, f, &mut sink);
        }
        engine.finish(&mut sink);
        assert_eq!(sink.stats.oversize, 0);
    }
    let docs = String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (docs, *engine.stats())
}

/// One row of a capture manifest (tab-separated, first line names columns).
pub fn manifest(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("manifest");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| header.iter().map(|h| h.to_string()).zip(l.split('\t').map(str::to_string)).collect())
        .collect()
}

/// `doc[a][b]...` as a string, or "" when absent.
pub fn s(doc: &Value, path: &[&str]) -> String {
    let mut v = doc;
    for p in path {
        v = &v[*p];
    }
    match v {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Splits the TCP payload of an Ethernet/IPv4/TCP frame at byte `at` into
/// two frames (sequence number and IP lengths adjusted, SYN kept on the
/// first part and FIN on the second; checksums are not verified by the
/// kernel, as on a mirror port with offload). `None` when the frame is not
/// Ethernet/IPv4/TCP or `at` is not inside its payload.
pub fn split_frame(f: &[u8], at: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    if f.len() < 14 + 20 + 20 || f.get(12..14)? != [0x08, 0x00] || *f.get(23)? != 6 {
        return None;
    }
    let tcp = 14 + (f[14] & 0x0f) as usize * 4;
    let pay = tcp + (*f.get(tcp + 12)? >> 4) as usize * 4;
    let end = 14 + u16::from_be_bytes([f[16], f[17]]) as usize;
    if end > f.len() || pay >= end || at == 0 || at >= end - pay {
        return None;
    }
    let flags = f[tcp + 13];
    let seq = u32::from_be_bytes([f[tcp + 4], f[tcp + 5], f[tcp + 6], f[tcp + 7]]);
    let mut a = f[..pay + at].to_vec();
    let a_total = (a.len() - 14) as u16;
    a[16..18].copy_from_slice(&a_total.to_be_bytes());
    a[tcp + 13] = flags & !0x01;
    let mut b = f[..pay].to_vec();
    b.extend_from_slice(&f[pay + at..end]);
    let b_total = (b.len() - 14) as u16;
    b[16..18].copy_from_slice(&b_total.to_be_bytes());
    b[tcp + 4..tcp + 8].copy_from_slice(&seq.wrapping_add(at as u32).to_be_bytes());
    b[tcp + 13] = flags & !0x02;
    Some((a, b))
}

/// A synthetic Ethernet/IPv4/TCP segment between 10.0.0.1:(40000+`client`)
/// and 10.0.0.2:`port`, PSH without ACK (so the kernel's cross-direction
/// ordering by acknowledgment numbers does not apply), sequence `seq`.
pub fn tcp_frame(port: u16, client: u16, to_server: bool, seq: u32, payload: &[u8]) -> Vec<u8> {
    let (sp, dp) = if to_server { (40000 + client, port) } else { (port, 40000 + client) };
    let (sa, da) = if to_server { ([10, 0, 0, 1], [10, 0, 0, 2]) } else { ([10, 0, 0, 2], [10, 0, 0, 1]) };
    let mut f = vec![0u8; 14 + 20 + 20];
    f[12] = 0x08;
    f[14] = 0x45;
    let total = (40 + payload.len()) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&sa);
    f[30..34].copy_from_slice(&da);
    f[34..36].copy_from_slice(&sp.to_be_bytes());
    f[36..38].copy_from_slice(&dp.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[46] = 5 << 4;
    f[47] = 0x08;
    f.extend_from_slice(payload);
    f
}

/// The documents Packetbeat 1.0 wrote for reference capture `file` (its
/// `.pcap` or `.ndjson` name below `packetbeat/`), only those of type `ty`
/// when given.
pub fn packetbeat_10_docs(file: &str, ty: Option<&str>) -> Vec<Value> {
    let name = file.strip_suffix(".pcap").map_or(file.to_string(), |f| format!("{f}.ndjson"));
    let p = pcaps().join("packetbeat/packetbeat-1.0-output").join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| ty.is_none_or(|t| d["type"] == t))
        .collect()
}
