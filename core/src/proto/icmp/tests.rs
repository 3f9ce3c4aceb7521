//! The ICMP analyzer driven through the engine with hand-made raw-IP frames.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::json::{write_json, JsonOptions, Schema};
use crate::txn::Protocol;
use crate::{Config, Engine, LinkType, OwnedStorageArrays, Timestamp};

type Frame = heapless::Vec<u8, 1600>;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const R: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

fn v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Frame {
    let mut f = Frame::new();
    let total = (20 + payload.len()) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    f.extend_from_slice(&h).unwrap();
    f.extend_from_slice(payload).unwrap();
    f
}

fn v6(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Frame {
    let mut f = Frame::new();
    let mut h = [0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    h[6] = 58;
    h[7] = 64;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    f.extend_from_slice(&h).unwrap();
    f.extend_from_slice(payload).unwrap();
    f
}

/// An ICMP message: type, code, id, seq, then `data`.
fn msg(typ: u8, code: u8, id: u16, seq: u16, data: &[u8]) -> heapless::Vec<u8, 1500> {
    let mut m = heapless::Vec::new();
    m.extend_from_slice(&[typ, code, 0, 0]).unwrap();
    m.extend_from_slice(&id.to_be_bytes()).unwrap();
    m.extend_from_slice(&seq.to_be_bytes()).unwrap();
    m.extend_from_slice(data).unwrap();
    m
}

/// What a test looks at in a reported transaction.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    status: Status,
    notes: Notes,
    client: IpAddr,
    server: IpAddr,
    req: Option<IcmpMsg>,
    resp: Option<IcmpMsg>,
    path: Option<IpAddr>,
    original: Option<Original>,
    rt_us: Option<u64>,
    bytes: (u64, u64),
}

type Out = heapless::Vec<Seen, 64>;

fn run(cfg: Config, frames: &[(u64, Frame)]) -> (Out, crate::Stats) {
    let mut mem = OwnedStorageArrays::<16, 2, 8, 1>::new();
    let mut engine = Engine::new(cfg, mem.storage());
    let mut out = Out::new();
    let mut sink = |t: &Transaction| {
        let Detail::Icmp(x) = &t.detail else { panic!("not ICMP") };
        assert_eq!(t.protocol, Protocol::Icmp);
        out.push(Seen {
            status: t.status,
            notes: t.notes,
            client: t.client.ip,
            server: t.server.ip,
            req: x.request,
            resp: x.response,
            path: x.path,
            original: x.original,
            rt_us: t.responsetime_us(),
            bytes: (t.bytes_in, t.bytes_out),
        })
        .unwrap();
        // Every transaction serialises in both layouts.
        let mut buf = [0u8; 2048];
        for schema in [Schema::Packetbeat, Schema::Ecs] {
            let opts = JsonOptions { schema, ..JsonOptions::default() };
            assert!(write_json(t, &Config::default(), &opts, &mut buf).is_ok());
        }
    };
    for (us, f) in frames {
        engine.process(Timestamp::from_micros(*us), LinkType::RAW, f, &mut sink);
    }
    engine.finish(&mut sink);
    let stats = *engine.stats();
    (out, stats)
}

fn echo(typ: u8, id: u16, seq: u16) -> heapless::Vec<u8, 1500> {
    msg(typ, 0, id, seq, b"abcd")
}

fn m(typ: u8, code: u8) -> Option<IcmpMsg> {
    Some(IcmpMsg { typ, code })
}

#[test]
fn section_fits_a_pending_record() {
    assert!(core::mem::size_of::<IcmpTxn>() <= core::mem::size_of::<crate::proto::http::HttpTxn>());
}

#[test]
fn echo_pair_v4() {
    let frames = [(1_000, v4(A, B, 1, &echo(8, 5, 1))), (21_130, v4(B, A, 1, &echo(0, 5, 1)))];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 1);
    let t = &out[0];
    assert_eq!(t.status, Status::Ok);
    assert!(t.notes.is_empty());
    assert_eq!((t.client, t.server), (IpAddr::V4(A), IpAddr::V4(B)));
    assert_eq!((t.req, t.resp), (m(8, 0), m(0, 0)));
    assert_eq!(t.path, Some(IpAddr::V4(B)));
    assert_eq!(t.rt_us, Some(20_130));
    assert_eq!(t.bytes, (4, 4));
    assert_eq!(stats.transactions_for(Protocol::Icmp), 1);
}

#[test]
fn capture_starting_with_a_reply() {
    // The flow's first sender is B (a reply), then A pings again: the
    // request side is taken from the type, not from who came first.
    let frames =
        [(0, v4(B, A, 1, &echo(0, 5, 1))), (10, v4(A, B, 1, &echo(8, 5, 2))), (30, v4(B, A, 1, &echo(0, 5, 2)))];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].status, Status::Error);
    assert!(out[0].notes.contains(Notes::NO_REQUEST));
    assert_eq!((out[0].req, out[0].resp), (None, m(0, 0)));
    assert_eq!((out[0].client, out[0].server), (IpAddr::V4(A), IpAddr::V4(B)));
    assert_eq!(out[0].rt_us, None);
    assert_eq!(out[1].status, Status::Ok);
    assert_eq!((out[1].client, out[1].server), (IpAddr::V4(A), IpAddr::V4(B)));
    assert_eq!(out[1].rt_us, Some(20));
    assert_eq!(stats.unmatched_responses, 1);
}

#[test]
fn replies_pair_by_id_and_sequence() {
    // Two pings in flight, answered out of order; a reply with a wrong
    // sequence number pairs with nothing.
    let frames = [
        (0, v4(A, B, 1, &echo(8, 7, 1))),
        (5, v4(A, B, 1, &echo(8, 7, 2))),
        (10, v4(B, A, 1, &echo(0, 7, 2))),
        (20, v4(B, A, 1, &echo(0, 7, 9))),
        (30, v4(B, A, 1, &echo(0, 7, 1))),
    ];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].rt_us, Some(5));
    assert!(out[1].notes.contains(Notes::NO_REQUEST));
    assert_eq!(out[2].rt_us, Some(30));
    assert_eq!(stats.unmatched_responses, 1);
    assert_eq!(stats.unmatched_requests, 0);
}

#[test]
fn loopback_pairs_by_type() {
    let lo = Ipv4Addr::LOCALHOST;
    let frames = [(0, v4(lo, lo, 1, &echo(8, 1, 1))), (40, v4(lo, lo, 1, &echo(0, 1, 1)))];
    let (out, _) = run(Config::default(), &frames);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].req, out[0].resp, out[0].rt_us), (m(8, 0), m(0, 0), Some(40)));
}

#[test]
fn unanswered_request_times_out() {
    let mut cfg = Config::default();
    cfg.icmp.common.transaction_timeout = crate::time::Duration::from_secs(1);
    let frames = [
        (0, v4(A, B, 1, &echo(8, 1, 1))),
        // Unrelated traffic lets time pass.
        (3_000_000, v4(R, B, 1, &msg(13, 0, 2, 2, &[0; 12]))),
    ];
    let (out, stats) = run(cfg, &frames);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].status, Status::Error);
    assert!(out[0].notes.contains(Notes::NO_RESPONSE));
    assert_eq!((out[0].req, out[0].resp), (m(8, 0), None));
    // The timestamp request, unanswered at the end of the input.
    assert!(out[1].notes.contains(Notes::NO_RESPONSE));
    assert_eq!(out[1].req, m(13, 0));
    assert_eq!(stats.unmatched_requests, 2);
}

#[test]
fn duplicate_request_gives_up_the_first() {
    let frames =
        [(0, v4(A, B, 1, &echo(8, 1, 1))), (10, v4(A, B, 1, &echo(8, 1, 1))), (15, v4(B, A, 1, &echo(0, 1, 1)))];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 2);
    assert!(out[0].notes.contains(Notes::NO_RESPONSE));
    assert_eq!(out[1].rt_us, Some(5));
    assert_eq!(stats.unmatched_requests, 1);
}

/// A port-unreachable error from `from` about a UDP datagram `src` -> `dst`.
fn port_unreachable(src: Ipv4Addr, dst: Ipv4Addr) -> heapless::Vec<u8, 1500> {
    let mut udp = [0u8; 12];
    udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes());
    udp[4..6].copy_from_slice(&12u16.to_be_bytes());
    let quoted = v4(src, dst, 17, &udp);
    msg(3, 3, 0, 0, &quoted)
}

#[test]
fn error_is_reported_alone_with_the_quoted_destination() {
    let frames = [(0, v4(B, A, 1, &port_unreachable(A, B)))];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 1);
    let t = &out[0];
    assert_eq!(t.status, Status::Error);
    assert!(t.notes.is_empty(), "an error is not an unmatched response");
    assert_eq!((t.req, t.resp), (None, m(3, 3)));
    assert_eq!((t.client, t.server), (IpAddr::V4(A), IpAddr::V4(B)));
    assert_eq!(t.path, Some(IpAddr::V4(B)));
    let o = t.original.unwrap();
    assert_eq!((o.protocol, o.ports), (17, Some((40000, 9))));
    assert_eq!(t.rt_us, None);
    assert_eq!(t.bytes, (0, 32));
    assert_eq!(stats.unmatched_responses, 0);
}

#[test]
fn error_from_a_router_names_the_real_destination() {
    // Time exceeded from a router R about A's datagram to far-away B.
    let frames = [(0, v4(R, A, 1, &msg(11, 0, 0, 0, &v4(A, B, 17, &[0; 8]))))];
    let (out, _) = run(Config::default(), &frames);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].client, out[0].server, out[0].path), (IpAddr::V4(A), IpAddr::V4(R), Some(IpAddr::V4(B))));
}

#[test]
fn error_about_a_waiting_ping_completes_it() {
    // B rejects A's ping with "communication administratively prohibited".
    let ping = echo(8, 3, 4);
    let quoted = v4(A, B, 1, &ping[..8]);
    let frames = [(0, v4(A, B, 1, &ping)), (100, v4(B, A, 1, &msg(3, 13, 0, 0, &quoted)))];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 1);
    let t = &out[0];
    assert_eq!((t.req, t.resp), (m(8, 0), m(3, 13)));
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.rt_us, Some(100));
    assert!(t.notes.is_empty());
    assert_eq!(stats.unmatched_requests, 0);
}

#[test]
fn echo_pair_v6_and_packet_too_big() {
    let a = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    let b = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    let mut quoted = v6(a, b, &[0; 8]);
    quoted[6] = 17;
    let frames = [
        (0, v6(a, b, &echo(128, 9, 1))),
        (16_439, v6(b, a, &echo(129, 9, 1))),
        (20_000, v6(b, a, &msg(2, 0, 0, 1280, &quoted))),
    ];
    let (out, _) = run(Config::default(), &frames);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].req, out[0].resp, out[0].rt_us), (m(128, 0), m(129, 0), Some(16_439)));
    assert_eq!((out[1].req, out[1].resp, out[1].status), (None, m(2, 0), Status::Error));
    assert_eq!(out[1].path, Some(IpAddr::V6(b)));
}

#[test]
fn neighbor_discovery() {
    let a = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let b = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    let snm = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);
    let nd = |typ: u8, target: Ipv6Addr| {
        let mut x = msg(typ, 0, 0, 0, &target.octets());
        x.truncate(24);
        x
    };
    let frames = [
        // Address resolution: to the solicited-node group, answered on
        // another flow -> reported at once, then an announcement.
        (0, v6(a, snm, &nd(135, b))),
        (10, v6(b, a, &nd(136, b))),
        // Reachability check: unicast, answered on the same flow.
        (100, v6(a, b, &nd(135, b))),
        (130, v6(b, a, &nd(136, b))),
    ];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 3);
    assert_eq!((out[0].req, out[0].resp, out[0].status), (m(135, 0), None, Status::Ok));
    assert_eq!((out[1].req, out[1].resp, out[1].status), (m(136, 0), None, Status::Ok));
    assert_eq!((out[2].req, out[2].resp, out[2].rt_us), (m(135, 0), m(136, 0), Some(30)));
    assert_eq!(stats.unmatched_responses + stats.unmatched_requests, 0);
}

#[test]
fn informational_and_malformed_messages() {
    let frames = [
        (0, v4(R, A, 1, &msg(5, 1, 0, 0, &v4(A, B, 6, &[0; 8])))),
        (1, v4(A, B, 1, &[8, 0, 0, 0, 0])),
        (2, v4(A, B, 1, &[8, 0])),
        (3, v4(A, B, 1, &msg(99, 0, 0, 0, &[]))),
    ];
    let (out, stats) = run(Config::default(), &frames);
    assert_eq!(out.len(), 3);
    assert_eq!((out[0].req, out[0].status, out[0].path), (m(5, 1), Status::Ok, Some(IpAddr::V4(B))));
    assert_eq!((out[1].req, out[1].status), (m(8, 0), Status::Error));
    assert!(out[1].notes.contains(Notes::REQUEST_MALFORMED));
    assert_eq!((out[2].req, out[2].status), (m(99, 0), Status::Ok));
    assert_eq!(stats.parse_errors, 2);
}

#[test]
fn disabled_analyzer_reports_nothing() {
    let mut cfg = Config::default();
    cfg.icmp.common.enabled = false;
    let (out, _) = run(cfg, &[(0, v4(A, B, 1, &echo(8, 1, 1)))]);
    assert!(out.is_empty());
}

#[test]
fn json_fields() {
    let mut mem = OwnedStorageArrays::<4, 1, 4, 1>::new();
    let mut engine = Engine::new(Config::default(), mem.storage());
    let mut docs: heapless::Vec<heapless::String<1024>, 4> = heapless::Vec::new();
    let mut sink = |t: &Transaction| {
        for schema in [Schema::Packetbeat, Schema::Ecs] {
            let mut buf = [0u8; 1024];
            let opts = JsonOptions { schema, ..JsonOptions::default() };
            let n = write_json(t, &Config::default(), &opts, &mut buf).unwrap();
            docs.push(heapless::String::try_from(core::str::from_utf8(&buf[..n]).unwrap()).unwrap()).unwrap();
        }
    };
    engine.process(Timestamp::from_micros(0), LinkType::RAW, &v4(A, B, 1, &echo(8, 1, 1)), &mut sink);
    engine.process(Timestamp::from_micros(20_000), LinkType::RAW, &v4(B, A, 1, &echo(0, 1, 1)), &mut sink);
    engine.process(Timestamp::from_micros(30_000), LinkType::RAW, &v4(B, A, 1, &port_unreachable(A, B)), &mut sink);
    engine.finish(&mut sink);
    assert_eq!(docs.len(), 4);
    let pb = &docs[0];
    assert!(pb.contains(r#""responsetime":20"#), "{pb}");
    assert!(pb.contains(r#""path":"10.0.0.2""#), "{pb}");
    assert!(pb.contains(
        r#""icmp":{"version":4,"request":{"message":"Echo Request","type":8,"code":0},"response":{"message":"Echo Reply","type":0,"code":0}}"#
    ));
    let ecs = &docs[1];
    assert!(ecs.contains(r#""duration":20000000"#), "{ecs}");
    assert!(ecs.contains(r#""icmp":{"version":4,"request""#), "{ecs}");
    let err = &docs[2];
    assert!(err.contains(r#""status":"Error""#), "{err}");
    assert!(err.contains(
        r#""icmp":{"version":4,"response":{"message":"Destination Unreachable (Port Unreachable)","type":3,"code":3},"original":{"transport":"udp","client_ip":"10.0.0.1","client_port":40000,"ip":"10.0.0.2","port":9}}"#
    ), "{err}");
    assert!(!err.contains("responsetime"), "{err}");
    let err_ecs = &docs[3];
    assert!(err_ecs.contains(
        r#""original":{"transport":"udp","source":{"ip":"10.0.0.1","port":40000},"destination":{"ip":"10.0.0.2","port":9}}"#
    ), "{err_ecs}");
}

#[test]
fn arbitrary_messages_never_panic() {
    // A deterministic spray of messages of every type, length and content,
    // in both versions, with few pending records (evictions happen).
    let mut frames: heapless::Vec<(u64, Frame), 64> = heapless::Vec::new();
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let a6 = Ipv6Addr::LOCALHOST;
    for round in 0..40u64 {
        frames.clear();
        for i in 0..64u64 {
            let len = (next() % 80) as usize;
            let mut body = [0u8; 80];
            for b in body.iter_mut() {
                *b = next() as u8;
            }
            // Bias toward known types so that pairing paths run.
            if i % 3 == 0 {
                body[0] = [0u8, 8, 3, 11, 13, 14, 128, 129, 1, 2, 135, 136, 133, 134][(next() % 14) as usize];
            }
            let body = &body[..len];
            let f = if (round + i) % 2 == 0 {
                let (s, d) = if next() % 2 == 0 { (A, B) } else { (B, A) };
                v4(s, d, 1, body)
            } else {
                v6(a6, Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, (next() % 3) as u16), body)
            };
            frames.push((round * 1_000_000 + i * 1000, f)).unwrap();
        }
        let (out, _) = run(Config::default(), &frames);
        assert!(out.len() <= frames.len());
    }
}
