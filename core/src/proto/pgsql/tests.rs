//! Unit tests of the PostgreSQL analyzer: hand-built message sequences fed
//! in pieces of every small size, through a minimal copy of the engine's
//! carry logic.

use super::*;
use crate::config::Config;
use crate::flow::FlowMeta;
use crate::pending::{FlowQueue, PendingPool, PendingSlot};
use crate::stats::Stats;
use crate::txn::{Detail, Protocol, Transaction};
use heapless::{String, Vec};

type Buf = Vec<u8, 4096>;

fn msg(out: &mut Buf, typ: u8, body: &[u8]) {
    out.push(typ).unwrap();
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes()).unwrap();
    out.extend_from_slice(body).unwrap();
}

fn cstr(b: &mut Buf, s: &str) {
    b.extend_from_slice(s.as_bytes()).unwrap();
    b.push(0).unwrap();
}

fn query(out: &mut Buf, q: &str) {
    let mut b = Buf::new();
    cstr(&mut b, q);
    msg(out, b'Q', &b);
}

fn row_desc(out: &mut Buf, names: &[&str]) {
    let mut b = Buf::new();
    b.extend_from_slice(&(names.len() as u16).to_be_bytes()).unwrap();
    for n in names {
        cstr(&mut b, n);
        b.extend_from_slice(&[0u8; 16]).unwrap();
        b.extend_from_slice(&[0, 0]).unwrap(); // text format
    }
    msg(out, b'T', &b);
}

fn data_row(out: &mut Buf, vals: &[Option<&str>]) {
    let mut b = Buf::new();
    b.extend_from_slice(&(vals.len() as u16).to_be_bytes()).unwrap();
    for v in vals {
        match v {
            Some(v) => {
                b.extend_from_slice(&(v.len() as u32).to_be_bytes()).unwrap();
                b.extend_from_slice(v.as_bytes()).unwrap();
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()).unwrap(),
        }
    }
    msg(out, b'D', &b);
}

fn complete(out: &mut Buf, tag: &str) {
    let mut b = Buf::new();
    cstr(&mut b, tag);
    msg(out, b'C', &b);
}

fn ready(out: &mut Buf) {
    msg(out, b'Z', b"I");
}

fn error(out: &mut Buf, typ: u8, code: &str, text: &str) {
    let mut b = Buf::new();
    b.push(b'S').unwrap();
    cstr(&mut b, if typ == b'E' { "ERROR" } else { "NOTICE" });
    b.push(b'C').unwrap();
    cstr(&mut b, code);
    b.push(b'M').unwrap();
    cstr(&mut b, text);
    b.push(0).unwrap();
    msg(out, typ, &b);
}

/// What a test looks at in an emitted transaction.
#[derive(Debug, PartialEq)]
struct Seen {
    method: String<16>,
    query: String<96>,
    status: Status,
    rows: u64,
    fields: u32,
    code: String<8>,
    response: String<128>,
    notes: u32,
    bytes_in: u64,
    bytes_out: u64,
}

fn seen(t: &Transaction) -> Seen {
    let Detail::Pgsql(x) = &t.detail else { panic!("not pgsql") };
    let s = |span| {
        let mut o: String<128> = String::new();
        o.push_str(core::str::from_utf8(x.text.get(span)).unwrap()).unwrap();
        o
    };
    Seen {
        method: String::try_from(s(x.method).as_str()).unwrap(),
        query: String::try_from(s(x.query).as_str()).unwrap(),
        status: t.status,
        rows: x.num_rows,
        fields: x.num_fields,
        code: String::try_from(s(x.error_code).as_str()).unwrap(),
        response: s(x.response),
        notes: t.notes.texts().count() as u32,
        bytes_in: t.bytes_in,
        bytes_out: t.bytes_out,
    }
}

/// Feeds `script` (direction, bytes) cut in pieces of `step` bytes; returns
/// the transactions emitted, then those left open at close.
fn run(cfg: &Config, script: &[(Direction, &[u8])], step: usize) -> (Vec<Seen, 32>, Stats) {
    let mut slots = [const { core::mem::MaybeUninit::<PendingSlot>::uninit() }; 32];
    let mut queues = [FlowQueue::EMPTY; 1];
    let mut pending = PendingPool::new(&mut slots, &mut queues);
    let mut stats = Stats::default();
    let meta = FlowMeta { protocol: Protocol::Pgsql, ..FlowMeta::default() };
    let mut out: Vec<Seen, 32> = Vec::new();
    let mut sink = |t: &Transaction| out.push(seen(t)).unwrap();
    let mut p = PgsqlParser::new();
    let mut carry: [Vec<u8, 4096>; 2] = [Vec::new(), Vec::new()];
    {
        let mut ctx = Ctx::for_test(&mut pending, &mut stats, cfg, &mut sink, &meta, Timestamp::from_micros(1));
        for (dir, bytes) in script {
            let c = &mut carry[*dir as usize];
            for piece in bytes.chunks(step) {
                for &b in piece {
                    c.push(b).unwrap();
                    if c.len() == c.capacity() {
                        let n = p.on_data(&mut ctx, *dir, c, true);
                        assert!(n > 0);
                        let rest: Vec<u8, 4096> = Vec::from_slice(&c[n..]).unwrap();
                        *c = rest;
                    }
                }
                let n = p.on_data(&mut ctx, *dir, c, false);
                let rest: Vec<u8, 4096> = Vec::from_slice(&c[n..]).unwrap();
                *c = rest;
            }
        }
        p.on_close(&mut ctx);
        ctx.flush_flow(Notes::NO_RESPONSE);
    }
    (out, stats)
}

fn all_steps(cfg: &Config, script: &[(Direction, &[u8])]) -> Vec<Seen, 32> {
    let (first, _) = run(cfg, script, 10_000);
    for step in 1..=9 {
        let (again, _) = run(cfg, script, step);
        assert_eq!(again, first, "step {step}");
    }
    first
}

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

#[test]
fn sizes_fit() {
    assert!(core::mem::size_of::<PgsqlTxn>() <= core::mem::size_of::<crate::proto::http::HttpTxn>());
    assert!(core::mem::size_of::<PgsqlParser>() <= core::mem::size_of::<crate::proto::http::HttpParser>());
}

#[test]
fn simple_select_with_csv() {
    let mut cfg = Config::default();
    cfg.pgsql.common.send_response = true;
    let mut q = Buf::new();
    query(&mut q, "select * from t;");
    let mut r = Buf::new();
    row_desc(&mut r, &["id", "note"]);
    data_row(&mut r, &[Some("1"), Some("a,b")]);
    data_row(&mut r, &[Some("2"), None]);
    complete(&mut r, "SELECT 2");
    let out_len = r.len() as u64;
    ready(&mut r);
    let got = all_steps(&cfg, &[(C, &q), (S, &r)]);
    assert_eq!(got.len(), 1);
    let t = &got[0];
    assert_eq!((t.method.as_str(), t.query.as_str()), ("SELECT", "select * from t"));
    assert_eq!((t.rows, t.fields, t.status), (2, 2, Status::Ok));
    assert_eq!(t.response.as_str(), "id,note\n1,\"a,b\"\n2,\n");
    assert_eq!((t.bytes_in, t.bytes_out), (q.len() as u64, out_len));
}

#[test]
fn multi_statement_error_skips_the_rest() {
    let cfg = Config::default();
    let mut q = Buf::new();
    query(&mut q, "select 1; insert into t values (1); select 3");
    let mut r = Buf::new();
    row_desc(&mut r, &["?column?"]);
    data_row(&mut r, &[Some("1")]);
    complete(&mut r, "SELECT 1");
    error(&mut r, b'E', "23505", "duplicate key");
    ready(&mut r);
    // The next exchange still pairs right.
    query(&mut q, "  ");
    msg(&mut r, b'I', b"");
    ready(&mut r);
    let got = all_steps(&cfg, &[(C, &q), (S, &r)]);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!((got[0].query.as_str(), got[0].status, got[0].rows), ("select 1", Status::Ok, 1));
    assert_eq!((got[1].method.as_str(), got[1].status, got[1].code.as_str()), ("INSERT", Status::Error, "23505"));
    assert_eq!((got[2].query.as_str(), got[2].status), ("select 3", Status::Error));
    assert_eq!(got[2].notes, 1, "unanswered");
    assert_eq!((got[3].query.as_str(), got[3].status), ("", Status::Ok));
    assert_eq!(got[0].bytes_in + got[1].bytes_in + got[2].bytes_in, 5 + 45);
}

#[test]
fn extended_one_transaction_per_execute() {
    let cfg = Config::default();
    let mut q = Buf::new();
    let mut b = Buf::new();
    cstr(&mut b, "");
    cstr(&mut b, "SELECT * from test where id = $1");
    b.extend_from_slice(&[0, 0]).unwrap();
    msg(&mut q, b'P', &b);
    msg(&mut q, b'B', &[0, 0, 0, 0, 0, 0, 0, 0]);
    msg(&mut q, b'D', b"P\0");
    msg(&mut q, b'E', &[0, 0, 0, 0, 0]);
    msg(&mut q, b'B', &[0, 0, 0, 0, 0, 0, 0, 0]);
    msg(&mut q, b'E', &[0, 0, 0, 0, 0]);
    msg(&mut q, b'S', b"");
    // A named statement parsed in an earlier exchange.
    msg(&mut q, b'B', b"\0P_1\0\0\0\0\0\0\0");
    msg(&mut q, b'E', &[0, 0, 0, 0, 0]);
    msg(&mut q, b'S', b"");
    let mut r = Buf::new();
    msg(&mut r, b'1', b"");
    msg(&mut r, b'2', b"");
    row_desc(&mut r, &["id"]);
    data_row(&mut r, &[Some("7")]);
    complete(&mut r, "SELECT 1");
    msg(&mut r, b'2', b"");
    complete(&mut r, "SELECT 0");
    ready(&mut r);
    msg(&mut r, b'2', b"");
    complete(&mut r, "UPDATE 1");
    ready(&mut r);
    let got = all_steps(&cfg, &[(C, &q), (S, &r)]);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!((got[0].query.as_str(), got[0].rows, got[0].fields), ("SELECT * from test where id = $1", 1, 1));
    assert_eq!((got[1].query.as_str(), got[1].rows), ("SELECT * from test where id = $1", 0));
    assert_eq!((got[2].query.as_str(), got[2].status), ("", Status::Ok));
}

#[test]
fn parse_only_exchange_is_not_a_transaction_unless_it_fails() {
    let cfg = Config::default();
    let mut q = Buf::new();
    let mut b = Buf::new();
    cstr(&mut b, "P_0");
    cstr(&mut b, "BEGIN;");
    b.extend_from_slice(&[0, 0]).unwrap();
    msg(&mut q, b'P', &b);
    msg(&mut q, b'S', b"");
    let mut b = Buf::new();
    cstr(&mut b, "");
    cstr(&mut b, "SELEC 1");
    b.extend_from_slice(&[0, 0]).unwrap();
    msg(&mut q, b'P', &b);
    msg(&mut q, b'S', b"");
    let mut r = Buf::new();
    msg(&mut r, b'1', b"");
    ready(&mut r);
    error(&mut r, b'E', "42601", "syntax error");
    ready(&mut r);
    let got = all_steps(&cfg, &[(C, &q), (S, &r)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].method.as_str(), got[0].status, got[0].code.as_str()), ("SELEC", Status::Error, "42601"));
}

#[test]
fn tls_accepted_is_skipped_refused_goes_on() {
    let cfg = Config::default();
    let ssl = [0u8, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let mut q = Buf::new();
    q.extend_from_slice(&ssl).unwrap();
    let mut tls = Buf::new();
    tls.extend_from_slice(b"S\x16\x03\x01\x02\x00garbage").unwrap();
    let (got, stats) = run(&cfg, &[(C, &q), (S, &tls), (C, b"\x16\x03\x01 more garbage")], 3);
    assert!(got.is_empty());
    assert_eq!(stats.parse_errors, 0);

    let mut q2 = Buf::new();
    q2.extend_from_slice(&ssl).unwrap();
    let mut startup = Buf::new();
    startup.extend_from_slice(&[0, 0, 0, 16, 0, 3, 0, 0]).unwrap();
    cstr(&mut startup, "user");
    cstr(&mut startup, "x");
    startup.push(0).unwrap();
    let mut r = Buf::new();
    r.push(b'N').unwrap();
    let mut r2 = Buf::new();
    msg(&mut r2, b'R', &[0, 0, 0, 0]);
    ready(&mut r2);
    let mut q3 = Buf::new();
    query(&mut q3, "select 1");
    let mut r3 = Buf::new();
    complete(&mut r3, "SELECT 0");
    ready(&mut r3);
    let got = all_steps(&cfg, &[(C, &q2), (S, &r), (C, &startup), (S, &r2), (C, &q3), (S, &r3)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status, Status::Ok, "{got:?}");
}

#[test]
fn notice_and_copy() {
    let cfg = Config::default();
    let mut q = Buf::new();
    query(&mut q, "copy t from stdin");
    let mut r = Buf::new();
    msg(&mut r, b'G', &[0, 0, 0]);
    let mut d = Buf::new();
    msg(&mut d, b'd', b"1\tone\n");
    msg(&mut d, b'c', b"");
    let mut r2 = Buf::new();
    error(&mut r2, b'N', "00000", "hello");
    complete(&mut r2, "COPY 1");
    ready(&mut r2);
    let got = all_steps(&cfg, &[(C, &q), (S, &r), (C, &d), (S, &r2)]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bytes_in, (q.len() + d.len()) as u64);
    assert_eq!(got[0].code.as_str(), "");
}

#[test]
fn garbage_never_panics_and_resyncs() {
    let cfg = Config::default();
    let (got, stats) = run(&cfg, &[(C, b"\x01\x02garbage"), (S, b"\xff\xff\xff")], 2);
    assert!(got.is_empty());
    assert!(stats.parse_errors >= 1);
}

#[test]
fn deep_pipeline_pairs_in_order() {
    // 24 exchanges sent before any answer (deeper than MAX_CYCLES groups):
    // statement i gets i % 4 rows.
    let cfg = Config::default();
    let mut q = Buf::new();
    let mut r = Buf::new();
    for i in 0..24 {
        let mut b = Buf::new();
        cstr(&mut b, "");
        let mut text: String<16> = String::new();
        core::fmt::write(&mut text, format_args!("select {i}")).unwrap();
        cstr(&mut b, &text);
        b.extend_from_slice(&[0, 0]).unwrap();
        msg(&mut q, b'P', &b);
        msg(&mut q, b'B', &[0, 0, 0, 0, 0, 0, 0, 0]);
        msg(&mut q, b'E', &[0, 0, 0, 0, 0]);
        msg(&mut q, b'S', b"");
        msg(&mut r, b'1', b"");
        msg(&mut r, b'2', b"");
        for _ in 0..i % 4 {
            data_row(&mut r, &[Some("x")]);
        }
        complete(&mut r, "SELECT");
        ready(&mut r);
    }
    for step in [1, 5, 4096] {
        let (got, stats) = run(&cfg, &[(C, &q), (S, &r)], step);
        assert_eq!(got.len(), 24);
        for (i, t) in got.iter().enumerate() {
            let mut text: String<16> = String::new();
            core::fmt::write(&mut text, format_args!("select {i}")).unwrap();
            assert_eq!(
                (t.query.as_str(), t.rows, t.status),
                (text.as_str(), (i % 4) as u64, Status::Ok),
                "step {step}"
            );
        }
        assert_eq!(stats.unmatched_responses + stats.unmatched_requests, 0);
    }
}

#[test]
fn query_sent_before_startup_completes() {
    let cfg = Config::default();
    let mut c = Buf::new();
    c.extend_from_slice(&[0, 0, 0, 16, 0, 3, 0, 0]).unwrap();
    cstr(&mut c, "user");
    cstr(&mut c, "x");
    c.push(0).unwrap();
    query(&mut c, "select 1");
    let mut r = Buf::new();
    msg(&mut r, b'R', &[0, 0, 0, 0]);
    msg(&mut r, b'S', b"a\0b\0");
    msg(&mut r, b'K', &[0; 8]);
    ready(&mut r);
    complete(&mut r, "SELECT 1");
    ready(&mut r);
    let got = all_steps(&cfg, &[(C, &c), (S, &r)]);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].status, got[0].notes, got[0].bytes_in), (Status::Ok, 0, 14));
}
