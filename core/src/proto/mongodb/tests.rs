//! Parser tests: messages built with a small BSON writer, fed through a
//! harness that keeps unconsumed bytes as the engine's carry block does.

use heapless::{String, Vec};

use super::*;
use crate::flow::FlowMeta;
use crate::json::{write_json, JsonOptions, Schema};
use crate::pending::{FlowQueue, PendingPool};
use crate::pool::BLOCK_SIZE;
use crate::stats::Stats;
use crate::time::Timestamp;
use crate::txn::Protocol;

type Bytes = Vec<u8, 8192>;
type Doc = String<6144>;

/// A BSON writer (test only): documents are opened and closed, lengths
/// filled in on close.
#[derive(Default)]
pub(super) struct Bs {
    pub buf: Bytes,
    starts: Vec<usize, 16>,
}

impl Bs {
    pub fn new() -> Self {
        let mut b = Bs::default();
        b.open();
        b
    }
    fn open(&mut self) {
        self.starts.push(self.buf.len()).unwrap();
        self.buf.extend_from_slice(&[0; 4]).unwrap();
    }
    pub fn close(&mut self) -> &mut Self {
        self.buf.push(0).unwrap();
        let s = self.starts.pop().unwrap();
        let n = (self.buf.len() - s) as i32;
        self.buf[s..s + 4].copy_from_slice(&n.to_le_bytes());
        self
    }
    fn key(&mut self, ty: u8, k: &str) {
        self.buf.push(ty).unwrap();
        self.buf.extend_from_slice(k.as_bytes()).unwrap();
        self.buf.push(0).unwrap();
    }
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(2, k);
        self.buf.extend_from_slice(&((v.len() + 1) as i32).to_le_bytes()).unwrap();
        self.buf.extend_from_slice(v.as_bytes()).unwrap();
        self.buf.push(0).unwrap();
        self
    }
    pub fn i32(&mut self, k: &str, v: i32) -> &mut Self {
        self.key(0x10, k);
        self.buf.extend_from_slice(&v.to_le_bytes()).unwrap();
        self
    }
    pub fn i64(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(0x12, k);
        self.buf.extend_from_slice(&v.to_le_bytes()).unwrap();
        self
    }
    pub fn f64(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(0x01, k);
        self.buf.extend_from_slice(&v.to_le_bytes()).unwrap();
        self
    }
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(0x08, k);
        self.buf.push(v as u8).unwrap();
        self
    }
    pub fn raw(&mut self, ty: u8, k: &str, v: &[u8]) -> &mut Self {
        self.key(ty, k);
        self.buf.extend_from_slice(v).unwrap();
        self
    }
    pub fn doc(&mut self, k: &str) -> &mut Self {
        self.key(3, k);
        self.open();
        self
    }
    pub fn arr(&mut self, k: &str) -> &mut Self {
        self.key(4, k);
        self.open();
        self
    }
    pub fn done(&mut self) -> Bytes {
        self.close();
        assert!(self.starts.is_empty());
        self.buf.clone()
    }
}

fn header(len: usize, id: i32, rto: i32, op: i32) -> Bytes {
    let mut m = Bytes::new();
    for v in [len as i32, id, rto, op] {
        m.extend_from_slice(&v.to_le_bytes()).unwrap();
    }
    m
}

fn message(id: i32, rto: i32, op: i32, body: &[u8]) -> Bytes {
    let mut m = header(HEADER_LEN + body.len(), id, rto, op);
    m.extend_from_slice(body).unwrap();
    m
}

pub(super) fn op_query(id: i32, fcn: &str, skip: i32, ret: i32, doc: &[u8]) -> Bytes {
    let mut b = Bytes::new();
    b.extend_from_slice(&0i32.to_le_bytes()).unwrap();
    b.extend_from_slice(fcn.as_bytes()).unwrap();
    b.push(0).unwrap();
    b.extend_from_slice(&skip.to_le_bytes()).unwrap();
    b.extend_from_slice(&ret.to_le_bytes()).unwrap();
    b.extend_from_slice(doc).unwrap();
    message(id, 0, OP_QUERY, &b)
}

pub(super) fn op_reply(id: i32, rto: i32, flags: i32, cursor: i64, docs: &[&[u8]]) -> Bytes {
    let mut b = Bytes::new();
    b.extend_from_slice(&flags.to_le_bytes()).unwrap();
    b.extend_from_slice(&cursor.to_le_bytes()).unwrap();
    b.extend_from_slice(&0i32.to_le_bytes()).unwrap();
    b.extend_from_slice(&(docs.len() as i32).to_le_bytes()).unwrap();
    for d in docs {
        b.extend_from_slice(d).unwrap();
    }
    message(id, rto, OP_REPLY, &b)
}

/// OP_MSG with a body and kind-1 sequences; `checksum` appends 4 bytes.
pub(super) fn op_msg(id: i32, rto: i32, flags: u32, body: &[u8], seqs: &[(&str, &[&[u8]])], checksum: bool) -> Bytes {
    let mut b = Bytes::new();
    let flags = flags | if checksum { MSG_CHECKSUM } else { 0 };
    b.extend_from_slice(&flags.to_le_bytes()).unwrap();
    b.push(0).unwrap();
    b.extend_from_slice(body).unwrap();
    for (name, docs) in seqs {
        b.push(1).unwrap();
        let size = 4 + name.len() + 1 + docs.iter().map(|d| d.len()).sum::<usize>();
        b.extend_from_slice(&(size as i32).to_le_bytes()).unwrap();
        b.extend_from_slice(name.as_bytes()).unwrap();
        b.push(0).unwrap();
        for d in *docs {
            b.extend_from_slice(d).unwrap();
        }
    }
    if checksum {
        b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]).unwrap();
    }
    message(id, rto, OP_MSG, &b)
}

/// What the harness does next.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step<'a> {
    /// Bytes of a direction, delivered as one segment.
    Data(Direction, &'a [u8]),
    /// Bytes lost in a direction.
    Gap(Direction, u32),
}

/// The documents of a run (at most 32).
pub(super) type Docs = Vec<Doc, 32>;

pub(super) struct Run {
    pub docs: Docs,
    pub stats: Stats,
}

/// Feeds `steps` to a fresh parser as the engine would (unconsumed bytes
/// carried to the next delivery), then closes the flow; returns every
/// document written.
pub(super) fn run(cfg: &Config, steps: &[Step<'_>]) -> Run {
    let mut slots = [const { core::mem::MaybeUninit::<PendingSlot>::uninit() }; 6];
    let mut queues = [FlowQueue::EMPTY; 1];
    let mut pool = PendingPool::new(&mut slots, &mut queues);
    let mut stats = Stats::default();
    let meta = FlowMeta { protocol: Protocol::Mongodb, ..FlowMeta::default() };
    let mut docs = Docs::new();
    let mut sink = |t: &Transaction| {
        let mut buf = [0u8; 6144];
        let n = write_json(t, cfg, &JsonOptions { schema: Schema::Packetbeat, ..JsonOptions::default() }, &mut buf)
            .expect("document fits");
        let mut d = Doc::new();
        d.push_str(core::str::from_utf8(&buf[..n]).unwrap()).unwrap();
        docs.push(d).expect("harness holds 32 documents");
    };
    let mut parser = MongodbParser::new();
    let mut carry: [Bytes; 2] = [Bytes::new(), Bytes::new()];
    let mut pos = [1000u32, 5000u32];
    for (i, step) in steps.iter().enumerate() {
        let ts = Timestamp::from_micros(1_000_000 + i as u64 * 1000);
        let mut ctx = Ctx::for_test(&mut pool, &mut stats, cfg, &mut sink, &meta, ts);
        match *step {
            Step::Data(dir, bytes) => {
                let d = dir.index();
                let mut rest = bytes;
                while !rest.is_empty() || carry[d].len() >= BLOCK_SIZE {
                    let take = rest.len().min(BLOCK_SIZE.saturating_sub(carry[d].len()).max(1));
                    let take = take.min(rest.len());
                    carry[d].extend_from_slice(&rest[..take]).unwrap();
                    rest = &rest[take..];
                    let full = carry[d].len() >= BLOCK_SIZE;
                    ctx.pos = pos[d];
                    let n = parser.on_data(&mut ctx, dir, &carry[d], full).min(carry[d].len());
                    assert!(n > 0 || !full, "a full block must be consumed");
                    pos[d] = pos[d].wrapping_add(n as u32);
                    let left: Bytes = Bytes::from_slice(&carry[d][n..]).unwrap();
                    carry[d] = left;
                    if rest.is_empty() {
                        break;
                    }
                }
            }
            Step::Gap(dir, n) => {
                let d = dir.index();
                pos[d] = pos[d].wrapping_add(carry[d].len() as u32).wrapping_add(n);
                carry[d].clear();
                parser.on_gap(&mut ctx, dir, n);
            }
        }
    }
    let mut ctx = Ctx::for_test(&mut pool, &mut stats, cfg, &mut sink, &meta, Timestamp::from_micros(9_000_000));
    parser.on_close(&mut ctx);
    ctx.flush_flow(Notes::NO_RESPONSE);
    Run { docs, stats }
}

fn cfg() -> Config {
    let mut c = Config::default();
    c.mongodb.common.send_request = false;
    c
}

fn has(doc: &str, needle: &str) -> bool {
    doc.contains(needle)
}

const S: Direction = Direction::ToServer;
const C: Direction = Direction::ToClient;

fn find_pair() -> (Bytes, Bytes) {
    let q = Bs::new().str("name", "x").i32("n", 3).done();
    let req = op_query(10, "test.restaurants", 0, 1, &q);
    let d1 = Bs::new().str("_id", "a").f64("v", 1.5).done();
    let rep = op_reply(74, 10, 0, 0, &[&d1]);
    (req, rep)
}

#[test]
fn sizes_stay_within_the_http_budget() {
    assert!(core::mem::size_of::<MongodbTxn>() <= core::mem::size_of::<crate::proto::http::HttpTxn>());
    // The per-flow state must not make flow slots bigger.
    assert!(core::mem::size_of::<MongodbParser>() <= core::mem::size_of::<crate::proto::http::HttpParser>());
}

#[test]
fn query_and_reply_pair() {
    let (req, rep) = find_pair();
    let r = run(&cfg(), &[Step::Data(S, &req), Step::Data(C, &rep)]);
    assert_eq!(r.docs.len(), 1);
    let d = &r.docs[0];
    assert!(has(d, "\"method\":\"find\""), "{d}");
    assert!(has(d, "\"resource\":\"test.restaurants\""), "{d}");
    assert!(has(d, "\"query\":\"test.restaurants.find().limit(1)\""), "{d}");
    assert!(has(d, "\"numberReturned\":1"), "{d}");
    assert!(has(d, "\"status\":\"OK\""), "{d}");
    assert!(!has(d, "notes"), "{d}");
}

/// The documents without `responsetime` (the harness stamps every step
/// with a later time, so an extra step delays the reply).
fn untimed(docs: &Docs) -> Docs {
    let mut out = Docs::new();
    for d in docs {
        let mut o = Doc::new();
        for (i, part) in d.split(',').enumerate() {
            if part.starts_with("\"responsetime\"") {
                continue;
            }
            if i > 0 {
                o.push(',').unwrap();
            }
            o.push_str(part).unwrap();
        }
        out.push(o).unwrap();
    }
    out
}

/// Cuts anywhere change nothing, `@timestamp` included: a message's time is
/// the time of its first bytes, even when its header is completed later.
#[test]
fn every_cut_gives_the_same_documents() {
    let (req, rep) = find_pair();
    let mut c = cfg();
    c.mongodb.common.send_request = true;
    c.mongodb.common.send_response = true;
    let whole = run(&c, &[Step::Data(S, &req), Step::Data(C, &rep)]).docs;
    assert_eq!(whole.len(), 1);
    assert!(has(&whole[0], r#""response":"{\"_id\":\"a\",\"v\":1.5}""#), "{}", whole[0]);
    assert!(has(&whole[0], r#"find({\"name\":\"x\",\"n\":3}).limit(1)"#), "{}", whole[0]);
    for at in 1..req.len() {
        let r = run(&c, &[Step::Data(S, &req[..at]), Step::Data(S, &req[at..]), Step::Data(C, &rep)]);
        assert_eq!(untimed(&r.docs), untimed(&whole), "request cut at {at}");
    }
    for at in 1..rep.len() {
        let r = run(&c, &[Step::Data(S, &req), Step::Data(C, &rep[..at]), Step::Data(C, &rep[at..])]);
        assert_eq!(untimed(&r.docs), untimed(&whole), "reply cut at {at}");
    }
    // One byte per delivery.
    let mut steps: Vec<Step<'_>, 1024> = Vec::new();
    for i in 0..req.len() {
        steps.push(Step::Data(S, &req[i..i + 1])).unwrap();
    }
    for i in 0..rep.len() {
        steps.push(Step::Data(C, &rep[i..i + 1])).unwrap();
    }
    assert_eq!(untimed(&run(&c, &steps).docs), untimed(&whole));
}

#[test]
fn op_msg_command_with_sequence_and_checksum() {
    let body = Bs::new()
        .str("insert", "people")
        .bool("ordered", true)
        .doc("lsid")
        .i32("id", 1)
        .close()
        .str("$db", "test")
        .done();
    let d1 = Bs::new().i32("_id", 1).str("name", "a").done();
    let d2 = Bs::new().i32("_id", 2).done();
    let req = op_msg(5, 0, 0, &body, &[("documents", &[&d1, &d2])], true);
    let rbody = Bs::new().i32("n", 2).f64("ok", 1.0).done();
    let rep = op_msg(6, 5, 0, &rbody, &[], false);
    let r = run(&cfg(), &[Step::Data(S, &req), Step::Data(C, &rep)]);
    assert_eq!(r.docs.len(), 1);
    let d = &r.docs[0];
    assert!(has(d, "\"method\":\"insert\""), "{d}");
    assert!(has(d, "\"resource\":\"test.people\""), "{d}");
    assert!(has(d, r#""query":"test.people.insert({\"ordered\":true})""#), "{d}");
    assert!(has(d, "\"status\":\"OK\""), "{d}");

    let mut c = cfg();
    c.mongodb.common.send_request = true;
    let r = run(&c, &[Step::Data(S, &req), Step::Data(C, &rep)]);
    let d = &r.docs[0];
    assert!(
        has(
            d,
            r#""request":"test.people.insert({\"ordered\":true,\"documents\":[{\"_id\":1,\"name\":\"a\"},{\"_id\":2}]})""#
        ),
        "{d}"
    );
    assert!(has(d, r#""query":"test.people.insert({\"ordered\":true})""#), "{d}");
}

#[test]
fn op_msg_find_reply_cursor_and_error() {
    let body = Bs::new().str("find", "c").doc("filter").i32("a", 1).close().str("$db", "db1").done();
    let req = op_msg(1, 0, 0, &body, &[], false);
    let rbody = Bs::new()
        .doc("cursor")
        .arr("firstBatch")
        .doc("0")
        .i32("a", 1)
        .close()
        .doc("1")
        .i32("a", 1)
        .close()
        .close()
        .i64("id", 77)
        .str("ns", "db1.c")
        .close()
        .f64("ok", 1.0)
        .done();
    let rep = op_msg(2, 1, 0, &rbody, &[], false);
    let err = Bs::new().f64("ok", 0.0).str("errmsg", "no such thing").i32("code", 59).done();
    let req2 = op_msg(3, 0, 0, &Bs::new().i32("frob", 1).str("$db", "admin").done(), &[], false);
    let rep2 = op_msg(4, 3, 0, &err, &[], false);
    let r = run(&cfg(), &[Step::Data(S, &req), Step::Data(C, &rep), Step::Data(S, &req2), Step::Data(C, &rep2)]);
    assert_eq!(r.docs.len(), 2);
    let d = &r.docs[0];
    assert!(has(d, "\"query\":\"db1.c.find()\""), "{d}");
    assert!(has(d, "\"numberReturned\":2"), "{d}");
    assert!(has(d, "\"cursorId\":77"), "{d}");
    let d = &r.docs[1];
    assert!(has(d, "\"method\":\"frob\""), "{d}");
    assert!(has(d, "\"resource\":\"admin.$cmd\""), "{d}");
    assert!(has(d, "\"status\":\"Error\""), "{d}");
    assert!(has(d, "\"error\":\"no such thing\""), "{d}");
}

#[test]
fn more_to_come_request_is_reported_alone() {
    let body = Bs::new().str("insert", "c").bool("ordered", false).str("$db", "t").done();
    let req = op_msg(9, 0, MSG_MORE_TO_COME, &body, &[], false);
    let r = run(&cfg(), &[Step::Data(S, &req)]);
    assert_eq!(r.docs.len(), 1);
    assert!(has(&r.docs[0], "\"status\":\"OK\""), "{}", r.docs[0]);
    assert!(!has(&r.docs[0], "notes"), "{}", r.docs[0]);
    assert_eq!(r.stats.unmatched_requests, 0);
}

#[test]
fn reply_before_its_request_still_pairs() {
    let (req, rep) = find_pair();
    let r = run(&cfg(), &[Step::Data(C, &rep), Step::Data(S, &req)]);
    assert_eq!(r.docs.len(), 1, "{:?}", r.docs);
    assert!(has(&r.docs[0], "\"method\":\"find\""), "{}", r.docs[0]);
    assert!(!has(&r.docs[0], "Unmatched"), "{}", r.docs[0]);
    assert_eq!(r.stats.unmatched_responses, 0);
}

#[test]
fn pipelined_replies_out_of_order() {
    let q = Bs::new().done();
    let a = op_query(1, "d.a", 0, 0, &q);
    let b = op_query(2, "d.b", 0, 0, &q);
    let ra = op_reply(11, 1, 0, 0, &[]);
    let rb = op_reply(12, 2, 0, 0, &[]);
    let r = run(&cfg(), &[Step::Data(S, &a), Step::Data(S, &b), Step::Data(C, &rb), Step::Data(C, &ra)]);
    assert_eq!(r.docs.len(), 2);
    assert!(has(&r.docs[0], "\"resource\":\"d.b\""));
    assert!(has(&r.docs[1], "\"resource\":\"d.a\""));
}

#[test]
fn exhaust_continuations_are_not_new_transactions() {
    let body = Bs::new().str("getMore", "x").str("$db", "d").done();
    let req = op_msg(1, 0, 0, &body, &[], false);
    let rb = Bs::new().f64("ok", 1.0).done();
    let r1 = op_msg(100, 1, MSG_MORE_TO_COME, &rb, &[], false);
    let r2 = op_msg(101, 100, MSG_MORE_TO_COME, &rb, &[], false);
    let r3 = op_msg(102, 101, 0, &rb, &[], false);
    let r = run(&cfg(), &[Step::Data(S, &req), Step::Data(C, &r1), Step::Data(C, &r2), Step::Data(C, &r3)]);
    assert_eq!(r.docs.len(), 1, "{:?}", r.docs);
    assert_eq!(r.stats.unmatched_responses, 0);
}

#[test]
fn unknown_opcode_reported_once_per_connection() {
    let m = message(0, 0, 2269, &[1, 2, 3, 4, 5]);
    let (req, rep) = find_pair();
    let r = run(&cfg(), &[Step::Data(S, &m), Step::Data(S, &m), Step::Data(S, &req), Step::Data(C, &rep)]);
    assert_eq!(r.docs.len(), 2, "{:?}", r.docs);
    assert!(has(&r.docs[0], "\"opcode\":2269"), "{}", r.docs[0]);
    assert!(has(&r.docs[0], "Malformed request"), "{}", r.docs[0]);
    assert!(has(&r.docs[1], "\"method\":\"find\""), "{}", r.docs[1]);
    assert_eq!(r.stats.parse_errors, 2);
}

#[test]
fn gap_inside_a_message_keeps_framing() {
    let (req, rep) = find_pair();
    let (req2, rep2) = find_pair();
    // Lose 10 bytes in the middle of the reply's document.
    let cut = rep.len() - 12;
    let r = run(
        &cfg(),
        &[
            Step::Data(S, &req),
            Step::Data(C, &rep[..cut]),
            Step::Gap(C, 10),
            Step::Data(C, &rep[cut + 10..]),
            Step::Data(S, &req2),
            Step::Data(C, &rep2),
        ],
    );
    assert_eq!(r.docs.len(), 2, "{:?}", r.docs);
    assert!(has(&r.docs[0], "Packet loss while capturing the response"), "{}", r.docs[0]);
    assert!(!has(&r.docs[1], "notes"), "{}", r.docs[1]);
}

#[test]
fn gap_across_messages_resynchronises() {
    let (req, rep) = find_pair();
    let (req2, rep2) = find_pair();
    let r = run(
        &cfg(),
        &[
            Step::Data(S, &req[..20]),
            Step::Gap(S, req.len() as u32 - 20 + 7),
            Step::Data(S, &req2[7..]),
            Step::Data(S, &req2),
            Step::Data(C, &rep2),
            Step::Data(C, &rep),
        ],
    );
    // The first request is lost (reported unanswered with the gap), the
    // middle of the second is skipped, the third pairs with its reply, and
    // the first's reply (same ids) finds no request.
    assert!(r.docs.len() <= 3, "{:?}", r.docs);
    assert!(r.docs.iter().any(|d| has(d, "\"method\":\"find\"") && has(d, "\"status\":\"OK\"")), "{:?}", r.docs);
}

/// A message wrapped in OP_COMPRESSED with compressor `comp`: noop (0),
/// snappy (1, literals only), zlib (2, one stored block) or zstd (3, not
/// really compressed: tapbeat does not decode it anyway).
fn compressed(m: &[u8], comp: u8) -> Bytes {
    let op = i32::from_le_bytes(m[12..16].try_into().unwrap());
    let id = i32::from_le_bytes(m[4..8].try_into().unwrap());
    let rto = i32::from_le_bytes(m[8..12].try_into().unwrap());
    let body = &m[16..];
    let mut b = Bytes::new();
    b.extend_from_slice(&op.to_le_bytes()).unwrap();
    b.extend_from_slice(&(body.len() as i32).to_le_bytes()).unwrap();
    b.push(comp).unwrap();
    match comp {
        1 => {
            b.push(body.len() as u8 | 0x80).unwrap();
            b.push((body.len() >> 7) as u8).unwrap();
            for piece in body.chunks(200) {
                // Literal with a one-byte length.
                b.extend_from_slice(&[60 << 2, (piece.len() - 1) as u8]).unwrap();
                b.extend_from_slice(piece).unwrap();
            }
        }
        2 => {
            b.extend_from_slice(&[0x78, 0x01, 0x01]).unwrap();
            let n = body.len() as u16;
            b.extend_from_slice(&n.to_le_bytes()).unwrap();
            b.extend_from_slice(&(!n).to_le_bytes()).unwrap();
            b.extend_from_slice(body).unwrap();
            b.extend_from_slice(&[0, 0, 0, 0]).unwrap();
        }
        _ => b.extend_from_slice(body).unwrap(),
    }
    message(id, rto, OP_COMPRESSED, &b)
}

#[test]
fn compressed_messages_are_decoded_from_their_beginning() {
    let (req, rep) = find_pair();
    for (comp, name) in [(0u8, "noop"), (1, "snappy"), (2, "zlib")] {
        let r = run(&cfg(), &[Step::Data(S, &compressed(&req, comp)), Step::Data(C, &compressed(&rep, comp))]);
        assert_eq!(r.docs.len(), 1);
        let d = &r.docs[0];
        assert!(has(d, "\"query\":\"test.restaurants.find().limit(1)\""), "{d}");
        assert!(has(d, "\"numberReturned\":1"), "{d}");
        assert!(has(d, &alloc_free_fmt("\"compressor\":\"", name)), "{d}");
        assert!(!has(d, "notes"), "{d}");
    }
    // zstd: paired and marked, not decoded.
    let r = run(&cfg(), &[Step::Data(S, &compressed(&req, 3)), Step::Data(C, &compressed(&rep, 3))]);
    assert_eq!(r.docs.len(), 1);
    assert!(has(&r.docs[0], "\"compressor\":\"zstd\""), "{}", r.docs[0]);
    assert!(!has(&r.docs[0], "method"), "{}", r.docs[0]);
    assert!(has(&r.docs[0], "\"status\":\"OK\""), "{}", r.docs[0]);
    // moreToCome inside a zlib body is seen: reported alone, not unmatched.
    let body = Bs::new().str("insert", "c").str("$db", "t").done();
    let w0 = op_msg(9, 0, MSG_MORE_TO_COME, &body, &[("documents", &[&Bs::new().i32("_id", 1).done()])], false);
    let r = run(&cfg(), &[Step::Data(S, &compressed(&w0, 2))]);
    assert_eq!(r.docs.len(), 1);
    assert!(has(&r.docs[0], "\"resource\":\"t.c\""), "{}", r.docs[0]);
    assert!(!has(&r.docs[0], "notes"), "{}", r.docs[0]);
    // An error reply inside snappy is an error.
    let req2 = op_msg(3, 0, 0, &Bs::new().i32("frob", 1).str("$db", "admin").done(), &[], false);
    let err = Bs::new().f64("ok", 0.0).str("errmsg", "no such command").done();
    let rep2 = op_msg(4, 3, 0, &err, &[], false);
    let r = run(&cfg(), &[Step::Data(S, &compressed(&req2, 1)), Step::Data(C, &compressed(&rep2, 1))]);
    assert!(has(&r.docs[0], "\"error\":\"no such command\""), "{}", r.docs[0]);
    assert!(has(&r.docs[0], "\"status\":\"Error\""), "{}", r.docs[0]);
}

/// `a` followed by `b`, as a bounded string (no allocation in core tests).
fn alloc_free_fmt(a: &str, b: &str) -> String<64> {
    let mut s = String::new();
    s.push_str(a).unwrap();
    s.push_str(b).unwrap();
    s.push('"').unwrap();
    s
}

#[test]
fn lying_lengths_are_contained() {
    // A document claiming more bytes than its message, a string longer
    // than its document, and an unknown element type.
    let mut bad = Bs::new().str("find", "c").done();
    bad[0] = 0x7f;
    let mut bad2 = Bs::new().str("a", "bcd").done();
    bad2[7] = 0x70;
    let mut bad3 = Bs::new().str("a", "bcd").done();
    bad3[4] = 0x33;
    for doc in [&bad, &bad2, &bad3] {
        let req = op_query(1, "x.$cmd", 0, -1, doc);
        let rep = op_reply(2, 1, 0, 0, &[doc]);
        let mut c = cfg();
        c.mongodb.common.send_request = true;
        c.mongodb.common.send_response = true;
        let r = run(&c, &[Step::Data(S, &req), Step::Data(C, &rep)]);
        assert_eq!(r.docs.len(), 1, "{:?}", r.docs);
        assert!(has(&r.docs[0], "Malformed"), "{}", r.docs[0]);
    }
}

#[test]
fn fin_mid_message_reports_what_was_seen() {
    let (req, rep) = find_pair();
    let r = run(&cfg(), &[Step::Data(S, &req), Step::Data(C, &rep[..30])]);
    assert_eq!(r.docs.len(), 1);
    assert!(has(&r.docs[0], "Connection closed before the response was complete"), "{}", r.docs[0]);
}
