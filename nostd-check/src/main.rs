//! Freestanding proof that `tapbeat-core` needs neither `std`, `alloc` nor
//! libc: this binary has no standard library, no C runtime and no allocator,
//! yet drives the kernel through a real HTTP exchange and serialises the
//! transaction to JSON. If anything the kernel links pulls in `std` or
//! `alloc`, this fails to build (duplicate `panic_impl`, missing allocator)
//! or to link (undefined libc symbols).
//!
//! Exit status: 0 when exactly one transaction came out, its JSON starts
//! with `{"@timestamp"` and the appliance queued it, 1 otherwise (with a reason on stderr), 101 on panic.
//! See `run.sh`.
#![no_std]
#![no_main]
// `unsafe` lives in `rt` only (which allows it); everything else is safe.
#![deny(unsafe_code)]

mod appliance;
mod rt;

use core::hint::black_box;

use tapbeat_core::json::{write_json, JsonOptions};
use tapbeat_core::{Config, Engine, LinkType, OwnedStorageArrays, Timestamp, Transaction};

/// Engine storage: 16 flows, 8 blocks, 8 pending records, 2 fragment slots
/// (~100 KiB, in `.bss`).
type Mem = OwnedStorageArrays<16, 8, 8, 2>;
static MEM: rt::StaticCell<Mem> = rt::StaticCell::new();

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const CLIENT_PORT: u16 = 40_000;
const SERVER_PORT: u16 = 80;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.invalid\r\nUser-Agent: nostd-check\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/// One TCP segment of the exchange.
struct Segment {
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &'static [u8],
}

const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;
const REQ_END: u32 = C_ISN + 1 + REQUEST.len() as u32;
const RESP_END: u32 = S_ISN + 1 + RESPONSE.len() as u32;

/// Handshake, request, response, close.
const EXCHANGE: [Segment; 7] = [
    Segment { from_client: true, seq: C_ISN, ack: 0, flags: SYN, payload: b"" },
    Segment { from_client: false, seq: S_ISN, ack: C_ISN + 1, flags: SYN | ACK, payload: b"" },
    Segment { from_client: true, seq: C_ISN + 1, ack: S_ISN + 1, flags: ACK, payload: b"" },
    Segment { from_client: true, seq: C_ISN + 1, ack: S_ISN + 1, flags: PSH | ACK, payload: REQUEST },
    Segment { from_client: false, seq: S_ISN + 1, ack: REQ_END, flags: PSH | ACK, payload: RESPONSE },
    Segment { from_client: true, seq: REQ_END, ack: RESP_END, flags: FIN | ACK, payload: b"" },
    Segment { from_client: false, seq: RESP_END, ack: REQ_END + 1, flags: FIN | ACK, payload: b"" },
];

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const TCP_LEN: usize = 20;
const HDR_LEN: usize = ETH_LEN + IP_LEN + TCP_LEN;

/// Writes `seg` as an Ethernet/IPv4/TCP frame into `buf`; returns its length,
/// or `None` if `buf` is too small.
fn build_frame(seg: &Segment, id: u16, buf: &mut [u8]) -> Option<usize> {
    let (src, dst, sport, dport) = if seg.from_client {
        (CLIENT, SERVER, CLIENT_PORT, SERVER_PORT)
    } else {
        (SERVER, CLIENT, SERVER_PORT, CLIENT_PORT)
    };
    let len = HDR_LEN + seg.payload.len();
    let frame = buf.get_mut(..len)?;
    let (eth, rest) = frame.split_at_mut(ETH_LEN);
    let (ip, rest) = rest.split_at_mut(IP_LEN);
    let (tcp, payload) = rest.split_at_mut(TCP_LEN);

    let (mac_c, mac_s) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (smac, dmac) = if seg.from_client { (mac_c, mac_s) } else { (mac_s, mac_c) };
    eth[..6].copy_from_slice(&dmac);
    eth[6..12].copy_from_slice(&smac);
    eth[12..].copy_from_slice(&0x0800u16.to_be_bytes());

    let total = u16::try_from(IP_LEN + TCP_LEN + seg.payload.len()).ok()?;
    ip.fill(0);
    ip[0] = 0x45; // IPv4, 20-byte header
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
    ip[8] = 64; // TTL
    ip[9] = 6; // TCP
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let sum = ip_checksum(ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());

    tcp.fill(0);
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seg.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&seg.ack.to_be_bytes());
    tcp[12] = 5 << 4; // 20-byte header
    tcp[13] = seg.flags;
    tcp[14..16].copy_from_slice(&65_535u16.to_be_bytes()); // window

    // The TCP checksum stays zero: the kernel does not verify it (a capture
    // with checksum offload looks the same).

    payload.copy_from_slice(seg.payload);
    Some(len)
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What the sink saw.
struct Seen {
    transactions: usize,
    json_ok: bool,
}

/// Both checks; returns the process exit status.
fn run() -> i32 {
    match kernel() {
        0 => appliance::run(),
        fail => fail,
    }
}

/// The kernel alone; returns the process exit status.
fn kernel() -> i32 {
    let Some(slot) = MEM.take() else {
        rt::eprint(b"nostd-check: storage already taken\n");
        return 1;
    };
    let mem = slot.write(Mem::new());
    let cfg = Config::default();
    let mut engine = Engine::new(cfg.clone(), mem.storage());

    let mut seen = Seen { transactions: 0, json_ok: false };
    let mut sink = |t: &Transaction| {
        seen.transactions += 1;
        let mut buf = [0u8; 8192];
        seen.json_ok = match write_json(t, &cfg, &JsonOptions::default(), &mut buf) {
            Ok(n) => buf.get(..n).is_some_and(|doc| doc.starts_with(b"{\"@timestamp\"")),
            Err(_) => false,
        };
    };

    let mut frame = [0u8; 256];
    let mut now = Timestamp::from_secs_micros(1_700_000_000, 0).as_micros();
    for (i, seg) in EXCHANGE.iter().enumerate() {
        let Some(len) = build_frame(seg, i as u16 + 1, &mut frame) else {
            rt::eprint(b"nostd-check: frame buffer too small\n");
            return 1;
        };
        now += 1_000; // 1 ms apart

        // `black_box`: the optimiser must not see through the input.
        let data = black_box(&frame[..len]);
        engine.process(Timestamp::from_micros(now), LinkType::ETHERNET, data, &mut sink);
    }
    engine.finish(&mut sink);

    match (seen.transactions, seen.json_ok) {
        (1, true) => 0,
        (1, false) => {
            rt::eprint(b"nostd-check: JSON did not start with {\"@timestamp\"\n");
            1
        }
        (0, _) => {
            rt::eprint(b"nostd-check: no transaction produced\n");
            1
        }
        _ => {
            rt::eprint(b"nostd-check: more than one transaction produced\n");
            1
        }
    }
}
