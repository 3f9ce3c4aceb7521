//! Unit tests of the Memcache analyzer: hand-made conversations fed the
//! way the engine feeds them (stream carry included), cut at every byte.

use super::*;
use crate::config::Config;
use crate::flow::FlowMeta;
use crate::pending::{FlowQueue, PendingPool};
use crate::pool::{Block, BlockPool, NONE};
use crate::proto::feed;
use crate::stats::Stats;
use crate::time::Timestamp;
use crate::txn::Protocol;

type Out = heapless::Vec<Transaction, 24>;

#[derive(Clone, Copy)]
enum Step<'a> {
    Req(&'a [u8]),
    Rep(&'a [u8]),
    Gap(Direction, u32),
    Dgram(Direction, &'a [u8]),
    Fin(Direction),
    Tick(u64),
}

/// Runs `steps` through one parser, feeding stream data in pieces of
/// `chunk` bytes; returns the reported transactions and the counters.
fn run(cfg: &Config, transport: Transport, steps: &[Step<'_>], chunk: usize) -> (Out, Stats) {
    let mut slots = [const { core::mem::MaybeUninit::<PendingSlot>::uninit() }; 16];
    let mut queues = [FlowQueue::EMPTY; 1];
    let mut pending = PendingPool::new(&mut slots, &mut queues);
    let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 4];
    let mut pool = BlockPool::new(&mut blocks);
    let mut carry = [NONE, NONE];
    let mut stats = Stats::default();
    let mut out = Out::new();
    let mut sink = |t: &Transaction| {
        let _ = out.push(t.clone());
    };
    let meta = FlowMeta { protocol: Protocol::Memcache, transport, ..FlowMeta::default() };
    let mut p = MemcacheParser::new();
    let mut now = 1_000_000u64;
    for st in steps {
        let mut ctx = Ctx::for_test(&mut pending, &mut stats, cfg, &mut sink, &meta, Timestamp::from_micros(now));
        match *st {
            Step::Req(d) | Step::Rep(d) => {
                let dir = if matches!(st, Step::Req(_)) { Direction::ToServer } else { Direction::ToClient };
                let c = &mut carry[dir_index(dir) as usize];
                for piece in d.chunks(chunk.max(1)) {
                    feed(&mut p, &mut ctx, &mut pool, c, dir, piece, 0);
                }
            }
            Step::Gap(dir, n) => {
                let c = &mut carry[dir_index(dir) as usize];
                if *c != NONE {
                    pool.free(*c);
                    *c = NONE;
                }
                p.on_gap(&mut ctx, dir, n)
            }
            Step::Dgram(dir, d) => p.on_datagram(&mut ctx, dir, d),
            Step::Fin(dir) => p.on_fin(&mut ctx, dir),
            Step::Tick(us) => now += us,
        }
        now += 10;
    }
    let mut ctx = Ctx::for_test(&mut pending, &mut stats, cfg, &mut sink, &meta, Timestamp::from_micros(now));
    p.on_close(&mut ctx);
    ctx.flush_flow(Notes::NO_RESPONSE);
    for c in carry {
        if c != NONE {
            pool.free(c);
        }
    }
    (out, stats)
}

fn cfg() -> Config {
    let mut c = Config::default();
    c.memcache.maxvalues = -1;
    c
}

fn m(t: &Transaction) -> &MemcacheTxn {
    match &t.detail {
        Detail::Memcache(m) => m,
        _ => panic!("not memcache"),
    }
}

fn keys(t: &Transaction, request: bool) -> heapless::Vec<&[u8], 32> {
    let x = m(t);
    let g = if request { &x.request } else { &x.response };
    g.keys.iter().map(|k| x.text.get(*k)).collect()
}

fn json(t: &Transaction) -> heapless::String<8192> {
    let mut buf = [0u8; 8192];
    let n = crate::json::write_json(t, &cfg(), &crate::json::JsonOptions::default(), &mut buf).unwrap();
    let mut s = heapless::String::new();
    s.push_str(core::str::from_utf8(&buf[..n]).unwrap()).unwrap();
    s
}

const TEXT_SESSION: &[Step<'static>] = &[
    Step::Req(b"set k3 0 0 10\r\ncccccccccc\r\n"),
    Step::Rep(b"STORED\r\n"),
    Step::Req(b"get x k1 k3 y\r\n"),
    Step::Rep(b"VALUE k1 5 3\r\naaa\r\nVALUE k3 0 10 99\r\ncccccccccc\r\nEND\r\n"),
    Step::Req(b"incr cnt 2\r\n"),
    Step::Rep(b"12\r\n"),
    Step::Req(b"delete k1 noreply\r\n"),
    Step::Req(b"stats\r\n"),
    Step::Rep(b"STAT pid 1\r\nSTAT version 1.6.18\r\nEND\r\n"),
    Step::Req(b"version\r\n"),
    Step::Rep(b"VERSION 1.6.18\r\n"),
    Step::Req(b"append nokey 0 0 1\r\nz\r\n"),
    Step::Rep(b"NOT_STORED\r\n"),
    Step::Req(b"quit\r\n"),
];

#[test]
fn size_fits_the_largest_section() {
    let mc = core::mem::size_of::<MemcacheTxn>();
    let http = core::mem::size_of::<crate::proto::http::HttpTxn>();
    assert!(mc <= http, "MemcacheTxn {mc} > HttpTxn {http}");
    let p = core::mem::size_of::<MemcacheParser>();
    let hp = core::mem::size_of::<crate::proto::http::HttpParser>();
    assert!(p <= hp, "MemcacheParser {p} vs HttpParser {hp}");
}

#[test]
fn text_session() {
    let (out, stats) = run(&cfg(), Transport::Tcp, TEXT_SESSION, 4096);
    assert_eq!(out.len(), 8, "{:?}", out.iter().map(|t| m(t).request.command).collect::<heapless::Vec<_, 16>>());
    let set = &out[0];
    assert_eq!(m(set).request.command, Command::Set);
    assert_eq!(m(set).request.bytes, Some(10));
    assert_eq!(m(set).request.count_values, Some(1));
    assert_eq!(m(set).response.command, Command::Stored);
    assert_eq!(set.status, Status::Ok);
    assert_eq!(set.bytes_in, 27);
    assert_eq!(set.bytes_out, 8);
    let get = &out[1];
    assert_eq!(keys(get, true).as_slice(), &[&b"x"[..], b"k1", b"k3", b"y"]);
    assert_eq!(keys(get, false).as_slice(), &[&b"k1"[..], b"k3"]);
    assert_eq!(m(get).response.count_values, Some(2));
    assert_eq!(m(get).response.bytes, Some(13));
    assert_eq!(m(get).response.flags, Some(5));
    assert_eq!(m(get).response.cas, Some(99));
    assert_eq!(m(get).response.values.len(), 2);
    assert_eq!(m(get).text.get(m(get).response.values[1]), b"cccccccccc");
    assert_eq!(m(&out[2]).response.value, Some(12));
    assert_eq!(m(&out[3]).request.command, Command::Delete);
    assert_eq!(m(&out[3]).request.noreply, Some(true));
    assert!(!m(&out[3]).response.present);
    assert_eq!(out[3].status, Status::Ok);
    assert_eq!(m(&out[4]).stats.len(), 2);
    assert_eq!(m(&out[5]).text.get(m(&out[5]).response.version.unwrap()), b"1.6.18");
    assert_eq!(out[6].status, Status::Error);
    assert_eq!(m(&out[7]).request.command, Command::Quit);
    assert_eq!(out[7].status, Status::Ok);
    assert!(out.iter().all(|t| !t.notes.contains(Notes::NO_RESPONSE)));
    assert_eq!(stats.parse_errors, 0);
    let j = json(&out[1]);
    assert!(j.contains(r#""values":["YWFh","Y2NjY2NjY2NjYw=="]"#), "{j}");
    assert!(j.contains(r#""protocol_type":"text""#), "{j}");
}

#[test]
fn text_cut_anywhere() {
    let (want, _) = run(&cfg(), Transport::Tcp, TEXT_SESSION, 4096);
    for chunk in 1..40 {
        let (got, stats) = run(&cfg(), Transport::Tcp, TEXT_SESSION, chunk);
        assert_eq!(got.len(), want.len(), "chunk {chunk}");
        for (a, b) in got.iter().zip(want.iter()) {
            assert_eq!(json(a), json(b), "chunk {chunk}");
        }
        assert_eq!(stats.parse_errors, 0);
    }
}

#[allow(clippy::too_many_arguments)]
fn bin(
    magic: u8,
    op: u8,
    key: &[u8],
    extras: &[u8],
    value: &[u8],
    opaque: u32,
    status: u16,
    cas: u64,
) -> heapless::Vec<u8, 512> {
    let mut v = heapless::Vec::new();
    v.push(magic).unwrap();
    v.push(op).unwrap();
    v.extend_from_slice(&(key.len() as u16).to_be_bytes()).unwrap();
    v.push(extras.len() as u8).unwrap();
    v.push(0).unwrap();
    v.extend_from_slice(&status.to_be_bytes()).unwrap();
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes()).unwrap();
    v.extend_from_slice(&opaque.to_be_bytes()).unwrap();
    v.extend_from_slice(&cas.to_be_bytes()).unwrap();
    v.extend_from_slice(extras).unwrap();
    v.extend_from_slice(key).unwrap();
    v.extend_from_slice(value).unwrap();
    v
}

#[test]
fn binary_quiet_gets_and_noop() {
    // getkq x, getkq k1, getkq y, noop: hits for k1 only, then the noop reply.
    let mut req: heapless::Vec<u8, 512> = heapless::Vec::new();
    for (i, k) in [&b"x"[..], b"k1", b"y"].iter().enumerate() {
        req.extend_from_slice(&bin(0x80, 0x0d, k, &[], &[], i as u32 + 1, 0, 0)).unwrap();
    }
    req.extend_from_slice(&bin(0x80, 0x0a, b"", &[], &[], 9, 0, 0)).unwrap();
    let mut rep: heapless::Vec<u8, 512> = heapless::Vec::new();
    rep.extend_from_slice(&bin(0x81, 0x0d, b"k1", &[0, 0, 0, 7], b"val", 2, 0, 55)).unwrap();
    rep.extend_from_slice(&bin(0x81, 0x0a, b"", &[], &[], 9, 0, 0)).unwrap();
    let steps = [Step::Req(&req), Step::Rep(&rep)];
    for chunk in [1, 3, 7, 24, 25, 4096] {
        let (out, stats) = run(&cfg(), Transport::Tcp, &steps, chunk);
        assert_eq!(out.len(), 4, "chunk {chunk}");
        // x was passed over by k1's reply, y by the noop's.
        assert_eq!(keys(&out[0], true).as_slice(), &[&b"x"[..]]);
        assert!(!m(&out[0]).response.present);
        assert_eq!(out[0].status, Status::Ok);
        assert!(out[0].notes.is_empty());
        assert_eq!(keys(&out[1], false).as_slice(), &[&b"k1"[..]]);
        assert_eq!(m(&out[1]).response.flags, Some(7));
        assert_eq!(m(&out[1]).response.cas, Some(55));
        assert_eq!(m(&out[1]).response.bytes, Some(3));
        assert!(m(&out[1]).request.quiet);
        assert_eq!(keys(&out[2], true).as_slice(), &[&b"y"[..]]);
        assert_eq!(m(&out[3]).request.command, Command::Noop);
        assert_eq!(m(&out[3]).response.opaque, 9);
        assert_eq!(stats.unmatched_requests + stats.unmatched_responses + stats.parse_errors, 0);
    }
}

#[test]
fn binary_counter_stats_and_errors() {
    let mut req: heapless::Vec<u8, 512> = heapless::Vec::new();
    let mut ext = [0u8; 20];
    ext[7] = 2;
    ext[16..20].copy_from_slice(&[0xff; 4]);
    req.extend_from_slice(&bin(0x80, 0x05, b"cnt", &ext, &[], 1, 0, 0)).unwrap();
    req.extend_from_slice(&bin(0x80, 0x00, b"nokey", &[], &[], 2, 0, 0)).unwrap();
    req.extend_from_slice(&bin(0x80, 0x10, b"", &[], &[], 3, 0, 0)).unwrap();
    let mut rep: heapless::Vec<u8, 512> = heapless::Vec::new();
    rep.extend_from_slice(&bin(0x81, 0x05, b"", &[], &42u64.to_be_bytes(), 1, 0, 7)).unwrap();
    rep.extend_from_slice(&bin(0x81, 0x00, b"", &[], b"Not found", 2, 1, 0)).unwrap();
    rep.extend_from_slice(&bin(0x81, 0x10, b"pid", &[], b"1", 3, 0, 0)).unwrap();
    rep.extend_from_slice(&bin(0x81, 0x10, b"version", &[], b"1.6", 3, 0, 0)).unwrap();
    rep.extend_from_slice(&bin(0x81, 0x10, b"", &[], &[], 3, 0, 0)).unwrap();
    let steps = [Step::Req(&req), Step::Rep(&rep)];
    for chunk in [1, 2, 5, 4096] {
        let (out, _) = run(&cfg(), Transport::Tcp, &steps, chunk);
        assert_eq!(out.len(), 3);
        let inc = m(&out[0]);
        assert_eq!(inc.request.delta, Some(2));
        assert_eq!(inc.request.initial, Some(0));
        assert_eq!(inc.request.exptime, Some(4294967295));
        assert_eq!(inc.response.value, Some(42));
        assert_eq!(out[1].status, Status::Error);
        assert_eq!(m(&out[1]).text.get(m(&out[1]).response.error_msg.unwrap()), b"Not found");
        let st = m(&out[2]);
        assert_eq!(st.stats.len(), 2);
        assert_eq!(st.text.get(st.stats[1].name), b"version");
        assert_eq!(st.text.get(st.stats[1].value), b"1.6");
        assert!(st.response.keys.is_empty());
        assert_eq!(out[2].bytes_out, 24 * 3 + 4 + 10);
    }
}

#[test]
fn udp_text_and_binary() {
    let mut d1: heapless::Vec<u8, 256> = heapless::Vec::new();
    d1.extend_from_slice(&[0, 1, 0, 0, 0, 1, 0, 0]).unwrap();
    d1.extend_from_slice(b"set k 0 0 3 noreply\r\nabc\r\n").unwrap();
    let mut d2: heapless::Vec<u8, 256> = heapless::Vec::new();
    d2.extend_from_slice(&[0, 2, 0, 0, 0, 1, 0, 0]).unwrap();
    d2.extend_from_slice(b"get k\r\n").unwrap();
    // The reply in two datagrams, cut inside the VALUE line.
    let mut r1: heapless::Vec<u8, 256> = heapless::Vec::new();
    r1.extend_from_slice(&[0, 2, 0, 0, 0, 2, 0, 0]).unwrap();
    r1.extend_from_slice(b"VALUE k 0").unwrap();
    let mut r2: heapless::Vec<u8, 256> = heapless::Vec::new();
    r2.extend_from_slice(&[0, 2, 0, 1, 0, 2, 0, 0]).unwrap();
    r2.extend_from_slice(b" 3\r\nabc\r\nEND\r\n").unwrap();
    let mut d3: heapless::Vec<u8, 256> = heapless::Vec::new();
    d3.extend_from_slice(&[0, 3, 0, 0, 0, 1, 0, 0]).unwrap();
    d3.extend_from_slice(&bin(0x80, 0x11, b"q", &[0; 8], b"v", 3, 0, 0)).unwrap();
    let steps = [
        Step::Dgram(Direction::ToServer, &d1),
        Step::Dgram(Direction::ToServer, &d2),
        Step::Dgram(Direction::ToClient, &r1),
        Step::Dgram(Direction::ToClient, &r2),
        Step::Dgram(Direction::ToServer, &d3),
    ];
    let (out, stats) = run(&cfg(), Transport::Udp, &steps, 4096);
    assert_eq!(out.len(), 3);
    assert_eq!(m(&out[0]).request.noreply, Some(true));
    assert_eq!(out[0].status, Status::Ok);
    assert_eq!(m(&out[1]).udp_id, Some(2));
    assert_eq!(keys(&out[1], false).as_slice(), &[&b"k"[..]]);
    assert_eq!(m(&out[1]).response.bytes, Some(3));
    assert_eq!(out[1].bytes_out, 23);
    assert_eq!(m(&out[2]).request.opcode, 0x11);
    assert_eq!(out[2].status, Status::Ok);
    assert!(out[2].notes.is_empty());
    assert_eq!(stats.parse_errors, 0);
}

#[test]
fn udp_lost_datagram_is_noted() {
    let mut d: heapless::Vec<u8, 64> = heapless::Vec::new();
    d.extend_from_slice(&[0, 7, 0, 0, 0, 1, 0, 0]).unwrap();
    d.extend_from_slice(b"get k\r\n").unwrap();
    let mut r2: heapless::Vec<u8, 64> = heapless::Vec::new();
    r2.extend_from_slice(&[0, 7, 0, 1, 0, 2, 0, 0]).unwrap();
    r2.extend_from_slice(b"abc\r\nEND\r\n").unwrap();
    let steps = [Step::Dgram(Direction::ToServer, &d), Step::Dgram(Direction::ToClient, &r2)];
    let (out, _) = run(&cfg(), Transport::Udp, &steps, 4096);
    assert_eq!(out.len(), 1);
    assert!(out[0].notes.contains(Notes::RESPONSE_GAP));
    assert_eq!(out[0].status, Status::Error);
}

#[test]
fn unknown_commands() {
    let steps = [Step::Req(b"mn\r\n"), Step::Rep(b"MN\r\n"), Step::Req(b"get a\r\n"), Step::Rep(b"END\r\n")];
    let (out, _) = run(&cfg(), Transport::Tcp, &steps, 4096);
    assert_eq!(out.len(), 1, "hidden unknown command and its reply are dropped");
    assert_eq!(m(&out[0]).response.command, Command::End);
    let mut c = cfg();
    c.memcache.parseunknown = true;
    let (out, _) = run(&c, Transport::Tcp, &steps, 4096);
    assert_eq!(out.len(), 2);
    assert_eq!(m(&out[0]).text.get(m(&out[0]).request.line.unwrap()), b"mn");
    assert_eq!(m(&out[0]).text.get(m(&out[0]).response.line.unwrap()), b"MN");
}

#[test]
fn gaps_and_loose_ends() {
    // A gap inside a data block is skipped; a gap between messages resyncs.
    let steps = [
        Step::Req(b"set k 0 0 10\r\nabc"),
        Step::Gap(Direction::ToServer, 4),
        Step::Req(b"xyz\r\n"),
        Step::Rep(b"STORED\r\n"),
        Step::Req(b"get a\r\n"),
        Step::Gap(Direction::ToClient, 30),
        Step::Rep(b"garbage\r\nEND\r\n"),
        Step::Req(b"get b\r\n"),
        Step::Fin(Direction::ToServer),
    ];
    let (out, _) = run(&cfg(), Transport::Tcp, &steps, 4096);
    assert_eq!(out.len(), 3);
    assert!(out[0].notes.contains(Notes::REQUEST_GAP));
    assert_eq!(out[0].status, Status::Ok);
    assert!(out[1].notes.contains(Notes::RESPONSE_GAP), "{:?}", out[1].notes);
    assert!(out[2].notes.contains(Notes::NO_RESPONSE));
}

#[test]
fn bounds() {
    // More keys than kept, a value longer than the arena, a line longer
    // than a block: cut and flagged, never a panic.
    let mut line: heapless::Vec<u8, 9000> = heapless::Vec::new();
    line.extend_from_slice(b"get").unwrap();
    for i in 0..1000u32 {
        let _ = line.extend_from_slice(b" key");
        let _ = line.push(b'0' + (i % 10) as u8);
    }
    line.extend_from_slice(b"\r\n").unwrap();
    let big = [b'v'; 5000];
    let mut rep: heapless::Vec<u8, 9000> = heapless::Vec::new();
    rep.extend_from_slice(b"VALUE key0 0 5000\r\n").unwrap();
    rep.extend_from_slice(&big).unwrap();
    rep.extend_from_slice(b"\r\nEND\r\n").unwrap();
    let steps = [Step::Req(&line), Step::Rep(&rep)];
    for chunk in [1000, 4096] {
        let (out, _) = run(&cfg(), Transport::Tcp, &steps, chunk);
        assert_eq!(out.len(), 1);
        assert!(out[0].notes.contains(Notes::TRUNCATED));
        assert_eq!(m(&out[0]).request.keys.len(), MAX_KEYS);
        assert_eq!(m(&out[0]).response.bytes, Some(5000));
        assert_eq!(out[0].status, Status::Ok);
    }
}

#[test]
fn arbitrary_bytes_do_not_panic() {
    // A cheap deterministic generator: the property tests in the tests
    // crate do this at scale.
    let mut x: u32 = 0x1234_5678;
    let mut buf = [0u8; 600];
    for round in 0..200 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = match x % 7 {
                0 => b'\n',
                1 => b' ',
                2 => 0x80 | (round as u8 & 1),
                3 => b'0' + (x % 10) as u8,
                _ => (x >> 8) as u8,
            };
        }
        let n = 50 + (x as usize % 500);
        let steps = [
            Step::Req(&buf[..n]),
            Step::Rep(&buf[n / 2..]),
            Step::Gap(Direction::ToClient, x % 50),
            Step::Dgram(Direction::ToServer, &buf[..n / 3]),
            Step::Dgram(Direction::ToClient, &buf[n / 4..]),
            Step::Tick(20_000_000),
            Step::Dgram(Direction::ToClient, &buf[..]),
        ];
        for tr in [Transport::Tcp, Transport::Udp] {
            let _ = run(&cfg(), tr, &steps, 1 + (x as usize % 64));
        }
    }
}

#[test]
fn udp_reply_in_several_messages() {
    // memcached sends a multi-key reply as one UDP message per item, all
    // with the request's id, and an empty (0-datagram) message for a miss.
    let mut q: heapless::Vec<u8, 64> = heapless::Vec::new();
    q.extend_from_slice(&[0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    q.extend_from_slice(b"get a nokey b\r\n").unwrap();
    let mut r1: heapless::Vec<u8, 64> = heapless::Vec::new();
    r1.extend_from_slice(&[0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    r1.extend_from_slice(b"VALUE a 0 1\r\nx\r\n").unwrap();
    let empty = [0u8, 4, 0, 0, 0, 0, 0, 0];
    let mut r2: heapless::Vec<u8, 64> = heapless::Vec::new();
    r2.extend_from_slice(&[0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    r2.extend_from_slice(b"VALUE b 0 2\r\nyy\r\nEND\r\n").unwrap();
    let steps = [
        Step::Dgram(Direction::ToServer, &q),
        Step::Dgram(Direction::ToClient, &r1),
        Step::Dgram(Direction::ToClient, &empty),
        Step::Dgram(Direction::ToClient, &r2),
        // The same reply again: a duplicate, not a reply without request.
        Step::Dgram(Direction::ToClient, &r2),
    ];
    let (out, stats) = run(&cfg(), Transport::Udp, &steps, 4096);
    assert_eq!(out.len(), 1);
    assert_eq!(keys(&out[0], false).as_slice(), &[&b"a"[..], b"b"]);
    assert_eq!(m(&out[0]).response.bytes, Some(3));
    assert_eq!(out[0].status, Status::Ok);
    assert!(out[0].notes.is_empty());
    assert_eq!(stats.unmatched_responses, 0);
}

#[test]
fn gap_inside_a_stats_reply_keeps_it_whole() {
    let steps = [
        Step::Req(b"stats\r\n"),
        Step::Rep(b"STAT pid 1\r\nSTAT upt"),
        Step::Gap(Direction::ToClient, 20),
        Step::Rep(b"ime 5\r\nSTAT threads 4\r\nEND\r\n"),
        Step::Req(b"version\r\n"),
        Step::Rep(b"VERSION 1.6\r\n"),
    ];
    let (out, stats) = run(&cfg(), Transport::Tcp, &steps, 4096);
    assert_eq!(out.len(), 2);
    assert!(out[0].notes.contains(Notes::RESPONSE_GAP));
    assert_eq!(m(&out[0]).stats.len(), 2);
    assert_eq!(m(&out[1]).response.command, Command::VersionReply);
    assert_eq!(stats.unmatched_responses, 0);
}
