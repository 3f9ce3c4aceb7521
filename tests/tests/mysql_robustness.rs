//! The MySQL analyzer under hostile and damaged input: arbitrary bytes in
//! both directions, real captures re-segmented at arbitrary bytes or with
//! segments lost, and synthetic conversations for what no capture holds
//! (16 MiB multi-packet payloads, LOCAL INFILE, a capture that starts in
//! the middle of a result). It must never panic, never report more
//! transactions than requests, and give the same transactions whatever the
//! segmentation.

use proptest::prelude::*;
use serde_json::Value;
use tapbeat_core::{LinkType, Protocol, Timestamp};
use tapbeat_tests::{load, pcaps, run_frames, s, settings_for, split_frame};

type Frames = Vec<(Timestamp, Vec<u8>)>;

/// Builds Ethernet/IPv4/TCP frames of one connection (127.0.0.1:40000 to
/// 127.0.0.1:port). Checksums are left zero: the kernel does not verify
/// them (as on a mirror port with offload).
struct Conv {
    port: u16,
    seq: [u32; 2],
    ts: u64,
    frames: Frames,
}

impl Conv {
    fn new(port: u16) -> Conv {
        let mut c = Conv { port, seq: [1000, 5000], ts: 1_000_000, frames: Vec::new() };
        c.segment(0, 0x02, &[]); // SYN
        c.segment(1, 0x12, &[]); // SYN-ACK
        c.seq[0] += 1;
        c.seq[1] += 1;
        c
    }

    fn segment(&mut self, dir: usize, flags: u8, payload: &[u8]) {
        let (sp, dp) = if dir == 0 { (40000, self.port) } else { (self.port, 40000) };
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        let total = (20 + 20 + payload.len()) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[127, 0, 0, 1]);
        f[30..34].copy_from_slice(&[127, 0, 0, 1]);
        f[34..36].copy_from_slice(&sp.to_be_bytes());
        f[36..38].copy_from_slice(&dp.to_be_bytes());
        f[38..42].copy_from_slice(&self.seq[dir].to_be_bytes());
        f[42..46].copy_from_slice(&self.seq[1 - dir].to_be_bytes());
        f[46] = 0x50;
        f[47] = flags | if flags & 0x02 != 0 && dir == 0 { 0 } else { 0x10 };
        f[48] = 0xff;
        f.extend_from_slice(payload);
        self.frames.push((Timestamp::from_micros(self.ts), f));
        self.ts += 100;
        self.seq[dir] = self.seq[dir].wrapping_add(payload.len() as u32);
    }

    /// Sends `data` from `dir` (0 client, 1 server) in segments of 1448.
    fn send(&mut self, dir: usize, data: &[u8]) {
        for chunk in data.chunks(1448) {
            self.segment(dir, 0x18, chunk);
        }
    }

    fn close(mut self) -> Frames {
        self.segment(0, 0x11, &[]);
        self.seq[0] += 1;
        self.segment(1, 0x11, &[]);
        self.frames
    }
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

fn run(frames: &Frames) -> (Vec<Value>, tapbeat_core::Stats) {
    run_frames(&settings_for(Protocol::Mysql, &[3306]), LinkType::ETHERNET, frames)
}

const OK: &[u8] = &[0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00];

#[test]
fn multi_packet_query_and_row() {
    // A COM_QUERY of 16 MiB + 10 bytes: a full 0xffffff packet, then 11.
    let mut sql = b"INSERT INTO blobs VALUES ('".to_vec();
    sql.resize(0xff_ffff - 1 + 11 - 2, b'x');
    sql.extend_from_slice(b"')");
    let mut body = vec![0x03];
    body.extend_from_slice(&sql);
    let (first, rest) = body.split_at(0xff_ffff);
    let mut c = Conv::new(3306);
    let mut req = packet(0, first);
    req.extend(packet(1, rest));
    c.send(0, &req);
    c.send(1, &packet(2, OK));
    // Then a SELECT whose one row is 16 MiB + 5 bytes.
    c.send(0, &packet(0, b"\x03SELECT big FROM blobs"));
    let mut resp = packet(1, &[1]);
    let mut coldef = Vec::new();
    for s in [&b"def"[..], b"db", b"blobs", b"blobs", b"big", b"big"] {
        coldef.push(s.len() as u8);
        coldef.extend_from_slice(s);
    }
    coldef.extend_from_slice(&[0x0c, 0x21, 0, 0, 0, 0, 0, 0xfc, 0, 0, 0, 0, 0]);
    resp.extend(packet(2, &coldef));
    resp.extend(packet(3, &[0xfe, 0, 0, 0x02, 0]));
    let mut row = vec![0xfd];
    let vlen = 0xff_ffff - 4 + 5;
    row.extend_from_slice(&(vlen as u32).to_le_bytes()[..3]);
    row.resize(4 + vlen, b'y');
    let (a, b) = row.split_at(0xff_ffff);
    resp.extend(packet(4, a));
    resp.extend(packet(5, b));
    resp.extend(packet(6, &[0xfe, 0, 0, 0x02, 0]));
    c.send(1, &resp);
    let (docs, stats) = run(&c.close());
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["method"], "INSERT");
    assert_eq!(docs[0]["bytes_in"], (4 + 0xff_ffff + 4 + 11) as u64);
    assert_eq!(docs[0]["mysql"]["affected_rows"], 1, "{:?}", docs[0]);
    assert!(s(&docs[0], &["notes"]).contains("truncated"), "the SQL was cut to fit");
    assert_eq!(docs[1]["path"], "db.blobs");
    assert_eq!(docs[1]["mysql"]["num_rows"], 1, "a 16 MiB row is one row");
    assert_eq!(docs[1]["bytes_out"], resp.len() as u64);
    assert_eq!(stats.parse_errors, 0);
}

#[test]
fn local_infile_and_a_mid_result_start() {
    let mut c = Conv::new(3306);
    // The capture starts in the middle of a result set: rows and an EOF
    // with no command seen. They are skipped, not reported.
    let mut junk = packet(7, &[1, b'a']);
    junk.extend(packet(8, &[0xfe, 0, 0, 0x02, 0]));
    c.send(1, &junk);
    c.send(0, &packet(0, b"\x03LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t"));
    c.send(1, &packet(1, b"\xfb/tmp/x"));
    c.send(0, &packet(2, b"1,a\n2,b\n"));
    c.send(0, &packet(3, b""));
    c.send(1, &packet(4, &[0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00]));
    c.send(0, &packet(0, b"\x0e")); // COM_PING: followed, not reported
    c.send(1, &packet(1, OK));
    c.send(0, &packet(0, b"\x03SELECT 1"));
    c.send(1, &packet(1, b"\xff\x28\x04#42000You have an error"));
    let (docs, _) = run(&c.close());
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["method"], "LOAD");
    assert_eq!(docs[0]["mysql"]["affected_rows"], 2);
    assert_eq!(docs[0]["bytes_in"], (4 + 45 + 4 + 8 + 4) as u64);
    assert_eq!(docs[1]["status"], "Error");
    assert_eq!(docs[1]["mysql"]["error_message"], "42000: You have an error");
}

#[test]
fn deprecate_eof_prepare_without_handshake() {
    // No handshake: whether EOF packets are used is not known. A prepare
    // with parameters and no columns ends after its last definition; the
    // next response shows it.
    let mut c = Conv::new(3306);
    let def = {
        let mut d = Vec::new();
        for s in [&b"def"[..], b"", b"", b"", b"?", b""] {
            d.push(s.len() as u8);
            d.extend_from_slice(s);
        }
        d.extend_from_slice(&[0x0c, 0x3f, 0, 0, 0, 0, 0, 0xfd, 0x80, 0, 0, 0, 0]);
        d
    };
    c.send(0, &packet(0, b"\x16DELETE FROM t WHERE id = ?"));
    let mut resp = packet(1, &[0, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    resp.extend(packet(2, &def));
    c.send(1, &resp);
    c.send(0, &packet(0, &[0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0x08, 0, 5, 0, 0, 0, 0, 0, 0, 0]));
    c.send(1, &packet(1, OK));
    let (docs, _) = run(&c.close());
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["method"], "PREPARE");
    assert_eq!(docs[0]["mysql"]["statement_id"], 7);
    assert!(docs[0].get("notes").is_none());
    assert_eq!(docs[1]["method"], "DELETE");
    assert_eq!(docs[1]["params"], serde_json::json!(["5"]));
}

fn recorded(name: &str) -> tapbeat_tests::Capture {
    load(&pcaps().join("recorded/mysql").join(name))
}

fn packetbeat(name: &str) -> tapbeat_tests::Capture {
    load(&pcaps().join("packetbeat").join(name))
}

fn has_payload(f: &[u8]) -> bool {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return false;
    }
    let tcp = 14 + (f[14] & 0x0f) as usize * 4;
    let pay = tcp + (f[tcp + 12] >> 4) as usize * 4;
    14 + (u16::from_be_bytes([f[16], f[17]]) as usize) > pay
}

fn summary(docs: &[Value]) -> Vec<(String, String, String, String, String)> {
    docs.iter()
        .map(|d| {
            (s(d, &["method"]), s(d, &["query"]), s(d, &["status"]), s(d, &["mysql", "num_rows"]), s(d, &["params"]))
        })
        .collect()
}

/// (capture, port, transactions = requests reported).
const CAPTURES: &[(&str, bool, u16, usize)] = &[
    ("cli_session.pcap", true, 13306, 17),
    ("prepared.pcap", true, 13306, 20),
    ("login_failed.pcap", true, 13306, 1),
    ("mysql_connection.pcap", false, 3306, 6),
    ("mysql_with_whitespaces.pcap", false, 3306, 7),
    ("mysql_prepare_statement.pcap", false, 3307, 2),
    ("mysql_long.pcap", false, 3306, 1),
];

fn capture(which: usize) -> (tapbeat_tests::Capture, u16, usize) {
    let (name, rec, port, n) = CAPTURES[which];
    (if rec { recorded(name) } else { packetbeat(name) }, port, n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Re-segmenting the streams at arbitrary bytes changes nothing.
    #[test]
    fn segmentation_does_not_matter(which in 0..CAPTURES.len(), cuts in proptest::collection::vec((0usize..400, 1usize..3000), 1..60)) {
        let (cap, port, n) = capture(which);
        let st = settings_for(Protocol::Mysql, &[port]);
        let (want, _) = run_frames(&st, cap.link, &cap.frames);
        prop_assert_eq!(want.len(), n);
        let mut frames = cap.frames.clone();
        for (i, at) in cuts {
            let i = i % frames.len();
            if let Some((a, b)) = split_frame(&frames[i].1, at) {
                let ts = frames[i].0;
                frames[i] = (ts, a);
                frames.insert(i + 1, (ts, b));
            }
        }
        let (got, stats) = run_frames(&st, cap.link, &frames);
        prop_assert_eq!(summary(&got), summary(&want));
        prop_assert_eq!(stats.parse_errors, 0);
    }

    /// Lost segments: never a panic, never more transactions than requests,
    /// and every transaction still says what it was.
    #[test]
    fn lost_segments(which in 0..CAPTURES.len(), drops in proptest::collection::vec(0usize..400, 1..6)) {
        let (cap, port, n) = capture(which);
        let st = settings_for(Protocol::Mysql, &[port]);
        let mut frames = cap.frames.clone();
        for d in drops {
            let data: Vec<usize> = (0..frames.len()).filter(|&i| has_payload(&frames[i].1)).collect();
            if data.is_empty() {
                break;
            }
            frames.remove(data[d % data.len()]);
        }
        let (got, stats) = run_frames(&st, cap.link, &frames);
        prop_assert!(got.len() <= n, "{} > {}", got.len(), n);
        prop_assert_eq!(stats.transactions_total(), got.len() as u64);
        for d in &got {
            prop_assert_eq!(&d["type"], "mysql");
            prop_assert!(d.get("method").is_some());
        }
    }

    /// Arbitrary bytes in both directions, after a real handshake or none.
    #[test]
    fn arbitrary_bytes(
        greet in any::<bool>(),
        msgs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..40),
    ) {
        let mut c = Conv::new(3306);
        let mut requests = 0usize;
        if greet {
            let mut g = b"\x0a5.7.0\0\x01\0\0\0abcdefgh\0\xff\xf7\x21\x02\0\xff\x81\x15".to_vec();
            g.extend_from_slice(&[0; 10]);
            g.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
            c.send(1, &packet(0, &g));
        }
        for (client, bytes) in &msgs {
            if *client {
                // Count anything that could start a command: an upper bound.
                requests += bytes.len() / 5 + 1;
            }
            c.send(if *client { 0 } else { 1 }, bytes);
        }
        let (docs, _) = run(&c.close());
        prop_assert!(docs.len() <= requests + 1, "{} transactions from {} client messages", docs.len(), requests);
        for d in &docs {
            prop_assert_eq!(&d["type"], "mysql");
        }
    }

    /// Well-formed commands with arbitrary responses: at most one
    /// transaction per command.
    #[test]
    fn commands_with_arbitrary_responses(
        resps in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20),
        cut in 1usize..100,
    ) {
        let mut c = Conv::new(3306);
        for (i, r) in resps.iter().enumerate() {
            let cmd: &[u8] = match i % 4 {
                0 => b"\x03SELECT * FROM t",
                1 => b"\x16SELECT ? FROM t",
                2 => &[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xfd, 0, 1, b'a'],
                _ => b"\x0e",
            };
            c.send(0, &packet(0, cmd));
            let mut resp = packet(1, r);
            resp.extend(packet(2, &r[..r.len().min(cut)]));
            c.send(1, &resp);
        }
        let reported = (0..resps.len()).filter(|i| i % 4 != 3).count();
        let (docs, _) = run(&c.close());
        prop_assert!(docs.len() <= reported, "{} > {}", docs.len(), reported);
    }
}
