//! The shared harness of the per-analyzer fuzz targets: one analyzer on
//! its default port, driven through the real engine (flow table, TCP
//! reassembly, analyzer context, correlation, JSON) by arbitrary bytes cut
//! at arbitrary places, in both directions, with overlaps, holes, lost
//! segments, FIN/RST and time jumps.
//!
//! Input: `[options][ctl len payload]*`.
//! * options bit 0: no handshake (the capture joins mid-stream); bit 1: IPv6.
//! * ctl bit 0: direction (0 = to the server).
//! * ctl bits 1-2: sequence: in order, overlapping the previous bytes (a
//!   conflicting retransmission), 8 bytes ahead (a hole), or lost (the
//!   sequence advances, nothing is sent; the peer acknowledges it later).
//! * ctl bits 3-4: flags: PSH|ACK, PSH|ACK, FIN|ACK, ACK; with bit 7 also
//!   set, RST.
//! * ctl bit 5: four seconds pass first (transaction timeouts fire).
//! * ctl bit 6: a UDP datagram instead, for analyzers that take them.
//!
//! ICMP takes only datagrams: every record is one ICMP (or ICMPv6) message.

use tapbeat_core::json::{write_json, JsonOptions};
use tapbeat_core::{Config, Engine, LinkType, OwnedStorageArrays, Protocol, Timestamp, Transaction};

const CLIENT_PORT: u16 = 40000;
const FLAG_FIN: u8 = 0x01;
const FLAG_SYN: u8 = 0x02;
const FLAG_RST: u8 = 0x04;
const FLAG_PSH: u8 = 0x08;
const FLAG_ACK: u8 = 0x10;

/// The default server port of `p` (0 for ICMP).
fn port_of(p: Protocol) -> u16 {
    match p {
        Protocol::Http => 80,
        Protocol::Dns => 53,
        Protocol::Icmp => 0,
        Protocol::Redis => 6379,
        Protocol::Memcache => 11211,
        Protocol::Mysql => 3306,
        Protocol::Pgsql => 5432,
        Protocol::Mongodb => 27017,
        Protocol::Thrift => 9090,
    }
}

/// One IP packet (upper protocol `l4`, bytes `body`) in an Ethernet frame.
fn ip_frame(v6: bool, to_server: bool, l4: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    if v6 {
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(body.len() as u16).to_be_bytes());
        f.extend_from_slice(&[l4, 64]);
        let (a, b) = if to_server { (1, 2) } else { (2, 1) };
        for host in [a, b] {
            f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host]);
        }
    } else {
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, l4, 0, 0]);
        let (a, b) = if to_server { (1, 2) } else { (2, 1) };
        f.extend_from_slice(&[10, 0, 0, a, 10, 0, 0, b]);
    }
    f.extend_from_slice(body);
    f
}

fn ports(port: u16, to_server: bool) -> [u8; 4] {
    let (s, d) = if to_server { (CLIENT_PORT, port) } else { (port, CLIENT_PORT) };
    let (s, d) = (s.to_be_bytes(), d.to_be_bytes());
    [s[0], s[1], d[0], d[1]]
}

fn tcp_frame(v6: bool, port: u16, to_server: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = ports(port, to_server).to_vec();
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ip_frame(v6, to_server, 6, &t)
}

fn udp_frame(v6: bool, port: u16, to_server: bool, payload: &[u8]) -> Vec<u8> {
    let mut u = ports(port, to_server).to_vec();
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ip_frame(v6, to_server, 17, &u)
}

/// Runs `data` (see the module docs) through an engine with only `p` on.
pub fn run(p: Protocol, data: &[u8]) {
    let Some((&options, mut rest)) = data.split_first() else { return };
    let v6 = options & 2 != 0;
    let port = port_of(p);
    let mut cfg = Config::default();
    cfg.disable_all();
    if p == Protocol::Icmp {
        cfg.icmp.common.enabled = true;
    } else {
        cfg.set_ports(p, &[port]);
    }
    let datagrams_ok = matches!(p, Protocol::Dns | Protocol::Memcache | Protocol::Icmp);
    let mut mem = Box::new(OwnedStorageArrays::<4, 16, 16, 1>::new());
    let mut engine = Engine::new(cfg.clone(), mem.storage());
    let mut buf = vec![0u8; 1 << 16];
    let mut emitted = 0u64;
    let mut sink = |t: &Transaction| {
        emitted += 1;
        assert_eq!(t.protocol, p);
        let _ = write_json(t, &cfg, &JsonOptions::default(), &mut buf);
    };
    let mut ts = 1_000_000u64;
    // Next sequence number each side has sent (lost bytes included).
    let mut sent = [1000u32, 5000u32];
    let eth = LinkType::ETHERNET;
    if options & 1 == 0 && p != Protocol::Icmp {
        let f = tcp_frame(v6, port, true, sent[0].wrapping_sub(1), 0, FLAG_SYN, &[]);
        engine.process(Timestamp::from_micros(ts), eth, &f, &mut sink);
        let f = tcp_frame(v6, port, false, sent[1].wrapping_sub(1), sent[0], FLAG_SYN | FLAG_ACK, &[]);
        engine.process(Timestamp::from_micros(ts), eth, &f, &mut sink);
    }
    while let [ctl, len, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let to_server = ctl & 1 == 0;
        ts += if ctl & 0x20 != 0 { 4_000_000 } else { 1_000 };
        let now = Timestamp::from_micros(ts);
        if p == Protocol::Icmp {
            let l4 = if v6 { 58 } else { 1 };
            engine.process(now, eth, &ip_frame(v6, to_server, l4, payload), &mut sink);
        } else if ctl & 0x40 != 0 && datagrams_ok {
            engine.process(now, eth, &udp_frame(v6, port, to_server, payload), &mut sink);
        } else {
            let (d, o) = if to_server { (0, 1) } else { (1, 0) };
            let n = len as u32;
            let seq = match (ctl >> 1) & 3 {
                0 => sent[d],
                1 => sent[d].wrapping_sub(n / 2 + 1),
                2 => sent[d].wrapping_add(8),
                _ => {
                    sent[d] = sent[d].wrapping_add(n);
                    continue;
                }
            };
            let end = seq.wrapping_add(n);
            if (end.wrapping_sub(sent[d]) as i32) > 0 {
                sent[d] = end;
            }
            let flags = match ((ctl >> 3) & 3, ctl & 0x80 != 0) {
                (3, true) => FLAG_RST | FLAG_ACK,
                (3, false) => FLAG_ACK,
                (2, _) => FLAG_FIN | FLAG_ACK,
                _ => FLAG_PSH | FLAG_ACK,
            };
            let f = tcp_frame(v6, port, to_server, seq, sent[o], flags, payload);
            engine.process(now, eth, &f, &mut sink);
        }
        assert!(engine.active_flows() <= 4 && engine.pending_transactions() <= 16 && engine.blocks_in_use() <= 16);
    }
    engine.finish(&mut sink);
    assert_eq!((engine.active_flows(), engine.pending_transactions(), engine.blocks_in_use()), (0, 0, 0));
    let st = engine.stats();
    assert_eq!(st.transactions_total(), emitted);
    assert_eq!(st.transactions_for(p), emitted);
    assert!(st.unmatched_requests <= emitted);
}
