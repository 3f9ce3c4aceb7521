//! Unit tests of the Redis analyzer, driven through the same `feed`
//! function (carry block included) the engine uses.

use super::*;
use crate::config::Config;
use crate::flow::FlowMeta;
use crate::json::{write_json, JsonOptions};
use crate::pending::{FlowQueue, PendingPool, PendingSlot};
use crate::pool::{Block, BlockPool, NONE};
use crate::stats::Stats;
use crate::txn::Protocol;

type Doc = heapless::String<8192>;
type Docs = heapless::Vec<Doc, 24>;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

/// One thing that happens to the flow.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    /// Bytes in one direction at a time in microseconds.
    Data(Direction, &'a [u8], u64),
    Gap(Direction, u32),
    Fin(Direction),
}

fn cfg() -> Config {
    let mut c = Config::default();
    c.disable_all();
    c.set_ports(Protocol::Redis, &[6379]);
    c
}

/// Runs `steps` through a fresh parser (then closes the flow, as the
/// engine does); returns the documents and counters.
fn run_with(cfg: &Config, steps: &[Step<'_>]) -> (Docs, Stats) {
    let mut slots = [const { core::mem::MaybeUninit::<PendingSlot>::uninit() }; 24];
    let mut queues = [FlowQueue::EMPTY; 1];
    let mut pending = PendingPool::new(&mut slots, &mut queues);
    let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 2];
    let mut pool = BlockPool::new(&mut blocks);
    let mut stats = Stats::default();
    let meta = FlowMeta { protocol: Protocol::Redis, ..FlowMeta::default() };
    let mut docs = Docs::new();
    let mut sink = |t: &Transaction| {
        let mut buf = [0u8; 8192];
        let n = write_json(t, cfg, &JsonOptions::default(), &mut buf).unwrap();
        let mut d = Doc::new();
        d.push_str(core::str::from_utf8(&buf[..n]).unwrap()).unwrap();
        docs.push(d).unwrap();
    };
    let mut parser = RedisParser::new();
    let mut carry = [NONE, NONE];
    for step in steps {
        let ts = match step {
            Step::Data(_, _, us) => Timestamp::from_micros(*us),
            _ => Timestamp::from_micros(0),
        };
        let mut ctx = Ctx::for_test(&mut pending, &mut stats, cfg, &mut sink, &meta, ts);
        match *step {
            Step::Data(dir, data, _) => {
                let c = &mut carry[dir.index()];
                crate::proto::feed(&mut parser, &mut ctx, &mut pool, c, dir, data, 0);
            }
            Step::Gap(dir, n) => {
                let c = &mut carry[dir.index()];
                if *c != NONE {
                    pool.free(*c);
                    *c = NONE;
                }
                parser.on_gap(&mut ctx, dir, n);
            }
            Step::Fin(dir) => parser.on_fin(&mut ctx, dir),
        }
    }
    let mut ctx = Ctx::for_test(&mut pending, &mut stats, cfg, &mut sink, &meta, Timestamp::ZERO);
    parser.on_close(&mut ctx);
    ctx.flush_flow(Notes::NO_RESPONSE);
    for c in carry {
        if c != NONE {
            pool.free(c);
        }
    }
    assert!(pending.is_empty());
    (docs, stats)
}

fn run(steps: &[Step<'_>]) -> (Docs, Stats) {
    run_with(&cfg(), steps)
}

/// A conversation as (direction, bytes) pairs, each one segment.
fn talk(parts: &[(Direction, &[u8])]) -> Docs {
    let steps: heapless::Vec<Step<'_>, 64> =
        parts.iter().enumerate().map(|(i, (d, b))| Step::Data(*d, b, i as u64 * 1000)).collect();
    run(&steps).0
}

fn has(doc: &str, needle: &str) -> bool {
    doc.contains(needle)
}

#[track_caller]
fn check(doc: &str, needles: &[&str]) {
    for n in needles {
        assert!(has(doc, n), "{n} not in {doc}");
    }
}

const LINDEX: &[u8] = b"*3\r\n$6\r\nlindex\r\n$4\r\ntest\r\n$1\r\n1\r\n";
const HELLO1: &[u8] = b"$6\r\nhello1\r\n";

#[test]
fn section_fits_the_record() {
    assert!(core::mem::size_of::<RedisTxn>() <= core::mem::size_of::<crate::proto::http::HttpTxn>());
    // Per-flow state lives in every flow slot: keep it small.
    assert!(core::mem::size_of::<RedisParser>() <= 288, "{}", core::mem::size_of::<RedisParser>());
}

#[test]
fn one_transaction_like_packetbeat() {
    let docs = talk(&[(C, LINDEX), (S, HELLO1)]);
    assert_eq!(docs.len(), 1);
    check(
        &docs[0],
        &[
            r#""type":"redis""#,
            r#""status":"OK""#,
            r#""bytes_in":33"#,
            r#""bytes_out":12"#,
            r#""responsetime":1"#,
            r#""method":"LINDEX""#,
            r#""resource":"test""#,
            r#""query":"lindex test 1""#,
            r#""redis":{"return_value":"hello1"}"#,
        ],
    );
    assert!(!has(&docs[0], "notes"));
    assert!(!has(&docs[0], "\"request\""));
}

#[test]
fn raw_request_and_response_on_demand() {
    let mut c = cfg();
    c.redis.common.send_request = true;
    c.redis.common.send_response = true;
    let (docs, _) = run_with(&c, &[Step::Data(C, LINDEX, 0), Step::Data(S, HELLO1, 5)]);
    check(&docs[0], &[r#""request":"lindex test 1""#, r#""response":"hello1""#]);
}

#[test]
fn every_cut_gives_the_same_documents() {
    let req: &[u8] =
        b"*3\r\n$3\r\nSET\r\n$4\r\nkey3\r\n$2\r\nme\r\n*2\r\n$3\r\nGET\r\n$4\r\nkey3\r\nPING\r\n*1\r\n$4\r\nLLEN\r\n";
    let rsp: &[u8] = b"+OK\r\n$2\r\nme\r\n+PONG\r\n-ERR wrong\r\n";
    let want = talk(&[(C, req), (S, rsp)]);
    assert_eq!(want.len(), 4);
    check(&want[0], &[r#""method":"SET""#, r#""query":"SET key3 me""#, r#""return_value":"OK""#]);
    check(&want[1], &[r#""method":"GET""#, r#""return_value":"me""#]);
    check(&want[2], &[r#""method":"PING""#, r#""query":"PING""#, r#""return_value":"PONG""#]);
    check(&want[3], &[r#""status":"Error""#, r#""redis":{"error":"ERR wrong"}"#]);
    for dir_cut in [C, S] {
        let (whole, other) = if dir_cut == C { (req, rsp) } else { (rsp, req) };
        for i in 1..whole.len() {
            for j in i..whole.len() {
                let (a, rest) = whole.split_at(i);
                let (b, c) = rest.split_at(j - i);
                let mut steps: heapless::Vec<Step<'_>, 8> = heapless::Vec::new();
                if dir_cut == S {
                    steps.push(Step::Data(C, other, 0)).unwrap();
                }
                for (k, p) in [a, b, c].into_iter().enumerate() {
                    if !p.is_empty() {
                        steps.push(Step::Data(dir_cut, p, k as u64)).unwrap();
                    }
                }
                if dir_cut == C {
                    steps.push(Step::Data(S, other, 10)).unwrap();
                }
                let (got, stats) = run(&steps);
                assert_eq!(stats.parse_errors, 0);
                assert_eq!(got.len(), want.len(), "cut at {i},{j}");
                for (g, w) in got.iter().zip(want.iter()) {
                    // Timestamps move with the cuts; the fields do not.
                    let strip = |d: &str| -> Doc {
                        let mut o = Doc::new();
                        for part in d.split(',') {
                            if !part.contains("@timestamp") && !part.contains("responsetime") {
                                o.push_str(part).unwrap();
                            }
                        }
                        o
                    };
                    assert_eq!(strip(g), strip(w), "cut at {i},{j}");
                }
            }
        }
    }
}

#[test]
fn pipelined_replies_pair_in_order() {
    let mut req = heapless::Vec::<u8, 2048>::new();
    let mut rsp = heapless::Vec::<u8, 2048>::new();
    for i in 0..16u8 {
        req.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$2\r\nk").unwrap();
        req.push(b'a' + i).unwrap();
        req.extend_from_slice(b"\r\n").unwrap();
        rsp.extend_from_slice(b":").unwrap();
        rsp.push(b'0' + i % 10).unwrap();
        rsp.extend_from_slice(b"\r\n").unwrap();
    }
    // All requests in one segment, the replies in two cut mid-reply.
    let docs = talk(&[(C, &req), (S, &rsp[..12]), (S, &rsp[12..])]);
    assert_eq!(docs.len(), 16);
    for (i, d) in docs.iter().enumerate() {
        let mut want = heapless::String::<64>::new();
        core::fmt::write(&mut want, format_args!("\"resource\":\"k{}\"", (b'a' + i as u8) as char)).unwrap();
        check(d, &[&want]);
        let mut want = heapless::String::<64>::new();
        core::fmt::write(&mut want, format_args!("\"return_value\":\"{}\"", i % 10)).unwrap();
        check(d, &[&want]);
        check(d, &[r#""status":"OK""#, r#""bytes_in":22"#, r#""bytes_out":4"#]);
    }
}

#[test]
fn aggregates_are_rendered() {
    let docs = talk(&[
        (C, b"*1\r\n$4\r\nEXEC\r\n"),
        (S, b"*4\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n*0\r\n*-1\r\n"),
        (C, b"*1\r\n$4\r\nNULL\r\n"),
        (S, b"*-1\r\n"),
        (C, b"*1\r\n$5\r\nEMPTY\r\n"),
        (S, b"$0\r\n\r\n"),
    ]);
    assert_eq!(docs.len(), 3);
    check(&docs[0], &[r#""return_value":"[a, [1, nil], [], nil]""#]);
    check(&docs[1], &[r#""return_value":"nil""#]);
    check(&docs[2], &[r#""return_value":"""#, r#""bytes_out":6"#]);
}

#[test]
fn resp3_types() {
    let docs = talk(&[
        (C, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"),
        (S, b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"),
        (C, b"*1\r\n$1\r\nA\r\n"),
        (S, b"~2\r\n,3.14\r\n#t\r\n"),
        (C, b"*1\r\n$1\r\nB\r\n"),
        (S, b"*4\r\n_\r\n(3492890328409238509324850943850943825024385\r\n=15\r\ntxt:Some string\r\n#f\r\n"),
        (C, b"*1\r\n$1\r\nC\r\n"),
        (S, b"!21\r\nSYNTAX invalid syntax\r\n"),
        (C, b"*1\r\n$1\r\nD\r\n"),
        (S, b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n"),
        (C, b"*1\r\n$1\r\nE\r\n"),
        (S, b"$?\r\n;4\r\nHell\r\n;6\r\no worl\r\n;1\r\nd\r\n;0\r\n"),
        (C, b"*1\r\n$1\r\nF\r\n"),
        (S, b"*?\r\n:1\r\n%?\r\n+a\r\n:1\r\n.\r\n.\r\n"),
        (C, b"*1\r\n$1\r\nG\r\n"),
        (S, b"*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n"),
    ]);
    assert_eq!(docs.len(), 8);
    check(&docs[0], &[r#""method":"HELLO""#, r#""return_value":"{server: redis, proto: 3}""#]);
    check(&docs[1], &[r#""return_value":"[3.14, true]""#]);
    check(&docs[2], &[r#""return_value":"[nil, 3492890328409238509324850943850943825024385, Some string, false]""#]);
    check(&docs[3], &[r#""status":"Error""#, r#""error":"SYNTAX invalid syntax""#]);
    check(&docs[4], &[r#""return_value":"[2039123, 9543892]""#]);
    check(&docs[5], &[r#""return_value":"Hello world""#]);
    check(&docs[6], &[r#""return_value":"[1, {a: 1}]""#]);
    check(&docs[7], &[r#""return_value":"[v, 7]""#]);
}

#[test]
fn deep_nesting_is_followed_and_cut() {
    let mut rsp = heapless::Vec::<u8, 512>::new();
    for _ in 0..20 {
        rsp.extend_from_slice(b"*2\r\n").unwrap();
    }
    rsp.extend_from_slice(b":1\r\n").unwrap();
    for _ in 0..20 {
        rsp.extend_from_slice(b":2\r\n").unwrap();
    }
    rsp.extend_from_slice(b"+NEXT\r\n").unwrap();
    let (docs, stats) = run(&[Step::Data(C, b"*1\r\n$4\r\nDEEP\r\n*1\r\n$4\r\nNEXT\r\n", 0), Step::Data(S, &rsp, 1)]);
    assert_eq!(stats.parse_errors, 0);
    assert_eq!(docs.len(), 2);
    check(&docs[0], &["[[[[[[[[[...], 2], 2], 2], 2], 2], 2], 2], 2]", "Fields truncated"]);
    check(&docs[1], &[r#""method":"NEXT""#, r#""return_value":"NEXT""#]);
}

#[test]
fn large_values_stream_through_and_are_cut() {
    // A 100 000-byte SET value in 1000-byte segments, then a GET of it.
    let mut chunk = [b'x'; 1000];
    chunk[999] = b'y';
    let head: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$100000\r\n";
    let mut steps: heapless::Vec<Step<'_>, 256> = heapless::Vec::new();
    steps.push(Step::Data(C, head, 0)).unwrap();
    for i in 0..100 {
        steps.push(Step::Data(C, &chunk, i)).unwrap();
    }
    steps.push(Step::Data(C, b"\r\n*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 200)).unwrap();
    steps.push(Step::Data(S, b"+OK\r\n$100000\r\n", 300)).unwrap();
    for i in 0..100 {
        steps.push(Step::Data(S, &chunk, 301 + i)).unwrap();
    }
    steps.push(Step::Data(S, b"\r\n", 500)).unwrap();
    let (docs, stats) = run(&steps);
    assert_eq!(stats.parse_errors, 0);
    assert_eq!(docs.len(), 2);
    check(&docs[0], &[r#""method":"SET""#, r#""resource":"big""#, "Fields truncated", r#""bytes_in":100033"#]);
    check(&docs[1], &[r#""method":"GET""#, r#""bytes_out":100011"#, "Fields truncated"]);
    assert!(has(&docs[0], r#""query":"SET big xxxx"#));
}

#[test]
fn long_lines_are_cut() {
    let mut long = [b'e'; 6000];
    long[0] = b'-';
    long[5998] = b'\r';
    long[5999] = b'\n';
    let (docs, _) = run(&[
        Step::Data(C, b"*1\r\n$1\r\nX\r\n*1\r\n$1\r\nY\r\n", 0),
        Step::Data(S, &long, 1),
        Step::Data(S, b"+OK\r\n", 2),
    ]);
    assert_eq!(docs.len(), 2);
    check(&docs[0], &[r#""status":"Error""#, r#""error":"eeee"#, "Fields truncated", r#""bytes_out":6000"#]);
    check(&docs[1], &[r#""method":"Y""#, r#""return_value":"OK""#]);
}

#[test]
fn inline_commands() {
    let docs = talk(&[
        (C, b"PING\r\n"),
        (S, b"+PONG\r\n"),
        (C, b"\r\n  set  k \"v 1\"\n"),
        (S, b"+OK\r\n"),
        (C, b"CONFIG GET maxmemory\r\n"),
        (S, b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"),
        (C, b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$4\r\nsave\r\n$0\r\n\r\n"),
        (S, b"+OK\r\n"),
    ]);
    assert_eq!(docs.len(), 4);
    check(&docs[0], &[r#""method":"PING""#, r#""query":"PING""#, r#""bytes_in":6"#]);
    check(&docs[1], &[r#""method":"SET""#, r#""resource":"k""#, r#""query":"set  k \"v 1\"""#]);
    check(&docs[2], &[r#""method":"CONFIG GET""#, r#""resource":"maxmemory""#, r#""return_value":"[maxmemory, 0]""#]);
    check(&docs[3], &[r#""method":"CONFIG SET""#, r#""resource":"save""#, r#""query":"CONFIG SET save ""#]);
}

#[test]
fn multi_exec() {
    let docs = talk(&[
        (C, b"*1\r\n$5\r\nMULTI\r\n"),
        (S, b"+OK\r\n"),
        (C, b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (S, b"+QUEUED\r\n"),
        (C, b"*2\r\n$5\r\nLPUSH\r\n$1\r\na\r\n"),
        (S, b"+QUEUED\r\n"),
        (C, b"*1\r\n$4\r\nEXEC\r\n"),
        (S, b"*2\r\n+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ]);
    assert_eq!(docs.len(), 4);
    check(&docs[1], &[r#""return_value":"QUEUED""#]);
    check(
        &docs[3],
        &[
            r#""method":"EXEC""#,
            r#""status":"OK""#,
            r#""return_value":"[OK, WRONGTYPE Operation against a key holding the wrong kind of value]""#,
        ],
    );
}

#[test]
fn resp2_pubsub_messages_are_their_own_events() {
    let docs = talk(&[
        (C, b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"),
        (S, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"),
        (S, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"),
        (S, b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$3\r\nyo!\r\n"),
        (C, b"*1\r\n$4\r\nPING\r\n"),
        (S, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
        (C, b"*1\r\n$11\r\nUNSUBSCRIBE\r\n"),
        (S, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n"),
        (C, b"*1\r\n$4\r\nLLEN\r\n"),
        (S, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nno\r\n"),
    ]);
    assert_eq!(docs.len(), 6, "{docs:?}");
    check(
        &docs[0],
        &[
            r#""method":"SUBSCRIBE""#,
            r#""query":"SUBSCRIBE a b""#,
            r#""return_value":"[subscribe, a, 1], [subscribe, b, 2]""#,
            r#""bytes_out":60"#,
        ],
    );
    check(
        &docs[1],
        &[r#""method":"MESSAGE""#, r#""resource":"a""#, r#""return_value":"[message, a, hi]""#, r#""push":true"#],
    );
    assert!(!has(&docs[1], "responsetime") && !has(&docs[1], "notes") && !has(&docs[1], "query"));
    check(&docs[2], &[r#""method":"PMESSAGE""#, r#""resource":"nx""#, r#""return_value":"[pmessage, n*, nx, yo!]""#]);
    check(&docs[3], &[r#""method":"PING""#, r#""return_value":"[pong, ]""#]);
    check(&docs[4], &[r#""method":"UNSUBSCRIBE""#, r#""return_value":"[unsubscribe, a, 1], [unsubscribe, b, 0]""#]);
    // Out of subscribed mode, an array like a message is a reply.
    check(&docs[5], &[r#""method":"LLEN""#, r#""return_value":"[message, a, no]""#]);
    assert!(!has(&docs[5], "push"));
}

#[test]
fn resp3_pushes() {
    let docs = talk(&[
        (C, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"),
        (S, b"%1\r\n$5\r\nproto\r\n:3\r\n"),
        (C, b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"),
        (S, b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"),
        (C, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
        (S, b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"),
        (S, b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"),
        (S, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"),
    ]);
    assert_eq!(docs.len(), 5, "{docs:?}");
    check(&docs[1], &[r#""method":"SUBSCRIBE""#, r#""return_value":"[subscribe, ch, 1]""#]);
    check(&docs[2], &[r#""method":"MESSAGE""#, r#""resource":"ch""#, r#""push":true"#]);
    // RESP3: a plain array is a reply even while subscribed.
    check(&docs[3], &[r#""method":"GET""#, r#""return_value":"[message, ch, x]""#]);
    check(&docs[4], &[r#""method":"INVALIDATE""#, r#""return_value":"[invalidate, [k]]""#]);
}

#[test]
fn monitor_feed() {
    let docs = talk(&[
        (C, b"*1\r\n$7\r\nMONITOR\r\n"),
        (S, b"+OK\r\n"),
        (S, b"+1700000000.123456 [0 127.0.0.1:5000] \"GET\" \"k\"\r\n"),
    ]);
    assert_eq!(docs.len(), 2);
    check(
        &docs[1],
        &[
            r#""method":"MONITOR""#,
            r#""push":true"#,
            r#""return_value":"1700000000.123456 [0 127.0.0.1:5000] \"GET\" \"k\"""#,
        ],
    );
}

#[test]
fn unmatched_both_ways() {
    let docs = talk(&[(S, b"+OK\r\n"), (C, b"*1\r\n$4\r\nPING\r\n")]);
    assert_eq!(docs.len(), 2);
    check(&docs[0], &[r#""status":"Error""#, "Unmatched response", r#""return_value":"OK""#]);
    assert!(!has(&docs[0], "responsetime"));
    check(&docs[1], &[r#""status":"Error""#, "Unmatched request", r#""method":"PING""#]);
    assert!(!has(&docs[1], r#""redis":{"#));
}

#[test]
fn gaps() {
    // Inside a bulk payload: skipped, the pairing goes on.
    let (docs, stats) = run(&[
        Step::Data(C, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n01", 0),
        Step::Gap(C, 5),
        Step::Data(C, b"789\r\n", 1),
        Step::Data(S, b"+OK\r\n", 2),
    ]);
    assert_eq!(stats.parse_errors, 0);
    assert_eq!(docs.len(), 1);
    check(&docs[0], &["Packet loss while capturing the request", r#""return_value":"OK""#, r#""bytes_in":37"#]);
    // Between headers: the message ends, the stream resynchronises.
    let (docs, _) = run(&[
        Step::Data(C, b"*2\r\n$3\r\nGET\r\n", 0),
        Step::Gap(C, 9),
        Step::Data(C, b"*1\r\n$4\r\nPING\r\n", 1),
        Step::Data(S, b"$-1\r\n+PONG\r\n", 2),
    ]);
    assert_eq!(docs.len(), 2, "{docs:?}");
    check(&docs[0], &["Packet loss while capturing the request", r#""method":"GET""#, r#""return_value":"nil""#]);
    check(&docs[1], &[r#""method":"PING""#, r#""return_value":"PONG""#]);
    // A gap in a reply that is not a payload: the reply ends as an error.
    let (docs, _) = run(&[
        Step::Data(C, b"*1\r\n$4\r\nKEYS\r\n*1\r\n$4\r\nPING\r\n", 0),
        Step::Data(S, b"*3\r\n$1\r\na\r\n", 1),
        Step::Gap(S, 20),
        Step::Data(S, b"lue\r\n+PONG\r\n", 2),
    ]);
    assert_eq!(docs.len(), 2, "{docs:?}");
    check(&docs[0], &[r#""status":"Error""#, "Packet loss while capturing the response", r#""return_value":"[a"#]);
    check(&docs[1], &[r#""method":"PING""#, r#""return_value":"PONG""#]);
}

#[test]
fn end_of_stream_cuts() {
    let (docs, _) = run(&[
        Step::Data(C, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n", 0),
        Step::Data(S, b"$5\r\nab", 1),
        Step::Fin(S),
    ]);
    assert_eq!(docs.len(), 2);
    check(
        &docs[0],
        &[r#""status":"Error""#, "Connection closed before the response was complete", r#""return_value":"ab""#],
    );
    check(&docs[1], &["Unmatched request", "Malformed request"]);
}

#[test]
fn garbage_is_skipped() {
    let (docs, stats) = run(&[
        Step::Data(C, b"\x00\x01\x02 garbage\r\n*1\r\n$4\r\nPING\r\n", 0),
        Step::Data(S, b"?what\r\n+PONG\r\n", 1),
    ]);
    assert_eq!(stats.parse_errors, 2);
    assert_eq!(docs.len(), 1, "{docs:?}");
    check(&docs[0], &[r#""method":"PING""#, r#""return_value":"PONG""#]);
}

/// Pseudo-random bytes (xorshift) for the never-panic checks below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_never_panic() {
    // RESP-flavoured alphabet, so that many lines parse and nest.
    const ALPHA: &[u8] = b"*$:+-%~>|_,#(=!;.?0123456789\r\n\r\nabcPING ";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let mut bufs = [[0u8; 700]; 4];
        for b in bufs.iter_mut() {
            for c in b.iter_mut() {
                let r = rng.next();
                *c = if r % 5 == 0 { r as u8 } else { ALPHA[(r >> 8) as usize % ALPHA.len()] };
            }
        }
        let cut = |rng: &mut Rng| 1 + rng.next() as usize % 699;
        let (a, b, c, d) = (cut(&mut rng), cut(&mut rng), cut(&mut rng), cut(&mut rng));
        let steps = [
            Step::Data(C, &bufs[0][..a], 0),
            Step::Data(S, &bufs[1][..b], 1),
            Step::Gap(if a % 2 == 0 { C } else { S }, (c % 7) as u32),
            Step::Data(C, &bufs[2][..c], 2),
            Step::Data(S, &bufs[3][..d], 3),
            Step::Fin(C),
        ];
        let (docs, stats) = run(&steps);
        assert_eq!(stats.transactions_total() as usize, docs.len());
    }
}

#[test]
fn lost_framing_does_not_invent_replies() {
    // A gap inside a reply: what follows up to the next paired reply is
    // parsed and skipped, not reported as replies of its own.
    let (docs, stats) = run(&[
        Step::Data(C, b"*1\r\n$4\r\nKEYS\r\n", 0),
        Step::Data(S, b"*4\r\n$1\r\na\r\n", 1),
        Step::Gap(S, 7),
        Step::Data(S, b"$1\r\nc\r\n*2\r\n:1\r\n:2\r\n", 2),
        Step::Data(C, b"*1\r\n$4\r\nPING\r\n", 3),
        Step::Data(S, b"+PONG\r\n", 4),
        Step::Data(S, b"+OK\r\n", 5),
    ]);
    assert_eq!(docs.len(), 3, "{docs:?}");
    check(&docs[0], &[r#""method":"KEYS""#, r#""status":"Error""#, "Packet loss while capturing the response"]);
    check(&docs[1], &[r#""method":"PING""#, r#""return_value":"PONG""#]);
    // Back in step: an unpaired reply is reported again.
    check(&docs[2], &["Unmatched response"]);
    assert_eq!(stats.resync_skipped_bytes, 7 + 12);
    // The confirmations of a SUBSCRIBE that was not seen are counted only.
    let (docs, stats) = run(&[
        Step::Data(S, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n", 0),
        Step::Data(C, b"*2\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n", 1),
        Step::Data(S, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n", 2),
    ]);
    assert_eq!(stats.unmatched_responses, 2);
    assert_eq!(docs.len(), 1, "{docs:?}");
    // Outside subscribed mode, a list that reads like one is LRANGE's data.
    check(&docs[0], &[r#""method":"LRANGE""#, r#""return_value":"[subscribe, x, 1]""#]);
}

#[test]
fn whole_commands_give_the_records_the_line_path_gives() {
    // Each command whole in one segment (one pass) and cut into single
    // bytes (line by line): the same documents, pub/sub mode included.
    let cmds: [&[u8]; 9] = [
        b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000087354\r\n$3\r\nVXK\r\n",
        b"*1\r\n$4\r\nPING\r\n",
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n",
        b"*4\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n$2\r\nEX\r\n",
        b"*2\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n",
        // Not the plain form or too many arguments: the line path only.
        b"*2\r\n$03\r\nGET\r\n$1\r\nk\r\n",
        b"*17\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nk\r\n",
        b"*16\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n",
    ];
    for cmd in cmds {
        let replies: &[u8] = b"+OK\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
        let whole = [Step::Data(C, cmd, 0), Step::Data(S, replies, 1)];
        let (want_docs, want_stats) = {
            let mut steps: heapless::Vec<Step<'_>, 1024> = heapless::Vec::new();
            for i in 0..cmd.len() {
                steps.push(Step::Data(C, &cmd[i..i + 1], 0)).unwrap();
            }
            steps.push(Step::Data(S, replies, 1)).unwrap();
            run(&steps)
        };
        let (docs, stats) = run(&whole);
        assert_eq!(docs, want_docs, "{}", core::str::from_utf8(cmd).unwrap());
        assert_eq!(stats.transactions, want_stats.transactions);
        assert_eq!(stats.parse_errors, want_stats.parse_errors);
    }
}

#[test]
fn whole_replies_give_the_records_the_line_path_gives() {
    let cmds: &[u8] = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$1\r\ne\r\n*2\r\n$3\r\nGET\r\n$1\r\nn\r\n*1\r\n$7\r\nMONITOR\r\n";
    let replies: &[u8] =
        b"+OK\r\n-ERR bad thing\r\n:42\r\n$3\r\nabc\r\n$0\r\n\r\n$-1\r\n+OK\r\n+1700000000.1 [0 1.2.3.4:5] \"get\"\r\n:7\r\n";
    let (docs, stats) = run(&[Step::Data(C, cmds, 0), Step::Data(S, replies, 1)]);
    let mut steps: heapless::Vec<Step<'_>, 1024> = heapless::Vec::new();
    steps.push(Step::Data(C, cmds, 0)).unwrap();
    for i in 0..replies.len() {
        steps.push(Step::Data(S, &replies[i..i + 1], 1)).unwrap();
    }
    let (want_docs, want_stats) = run(&steps);
    assert_eq!(docs, want_docs);
    assert_eq!(stats.transactions, want_stats.transactions);
    assert_eq!(stats.unmatched_responses, want_stats.unmatched_responses);
    assert!(docs.len() >= 8, "{docs:?}");
}

/// `plain_header`'s one- and two-digit shortcut agrees with reading the
/// digits one by one, on every header of up to four bytes after its kind
/// over digits, CR, LF and a stray letter, followed by more data or not.
#[test]
fn plain_header_shortcut_agrees_with_the_digit_loop() {
    let alphabet = [b'0', b'1', b'5', b'9', b'\r', b'\n', b'x'];
    let mut checked = 0;
    for len in 0..=4usize {
        let mut idx = [0usize; 4];
        loop {
            for tail in [&b""[..], b"\r\n", b"abc"] {
                let mut buf = [0u8; 8];
                buf[0] = b'$';
                for (b, &i) in buf[1..].iter_mut().zip(&idx[..len]) {
                    *b = alphabet[i];
                }
                buf[1 + len..1 + len + tail.len()].copy_from_slice(tail);
                let d = &buf[..1 + len + tail.len()];
                for kind in [b'$', b'*'] {
                    assert_eq!(plain_header(d, kind), plain_header_digits(d, kind), "{d:?}");
                    checked += 1;
                }
            }
            // Next combination of `len` symbols.
            let mut k = 0;
            while k < len {
                idx[k] += 1;
                if idx[k] < alphabet.len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
            if k == len {
                break;
            }
        }
    }
    assert!(checked > 10_000);
}
