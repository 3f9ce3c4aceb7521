//! Arbitrary TCP payloads, cut anywhere, in and out of order, both
//! directions, on every analyzer's default port: the analyzers and the
//! reassembly get arbitrary bytes and arbitrary segmentation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapbeat_core::{Config, Engine, LinkType, OwnedStorageArrays, Timestamp, Transaction};

const PORTS: [u16; 8] = [80, 53, 6379, 11211, 3306, 5432, 27017, 9090];

fn frame(port: u16, to_server: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (sp, dp) = if to_server { (40000, port) } else { (port, 40000) };
    let (sa, da) = if to_server { ([10, 0, 0, 1], [10, 0, 0, 2]) } else { ([10, 0, 0, 2], [10, 0, 0, 1]) };
    let mut f = vec![0u8; 54];
    f[12] = 0x08;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&sa);
    f[30..34].copy_from_slice(&da);
    f[34..36].copy_from_slice(&sp.to_be_bytes());
    f[36..38].copy_from_slice(&dp.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[42..46].copy_from_slice(&ack.to_be_bytes());
    f[46] = 5 << 4;
    f[47] = flags;
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let port = PORTS[data[0] as usize % PORTS.len()];
    let mut mem = Box::new(OwnedStorageArrays::<4, 16, 16, 1>::new());
    let mut engine = Engine::new(Config::default(), mem.storage());
    let mut sink = |_: &Transaction| {};
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let mut ts = 1_000_000u64;
    engine.process(Timestamp::from_micros(ts), LinkType::ETHERNET, &frame(port, true, cseq - 1, 0, 0x02, &[]), &mut sink);
    engine.process(Timestamp::from_micros(ts), LinkType::ETHERNET, &frame(port, false, sseq - 1, cseq, 0x12, &[]), &mut sink);
    // Records: [ctl: u8][len: u8][payload...]; ctl picks direction, a
    // sequence offset (out of order, overlap, hole) and flags.
    let mut rest = &data[1..];
    while rest.len() >= 2 {
        let ctl = rest[0];
        let len = (rest[1] as usize).min(rest.len() - 2);
        let payload = &rest[2..2 + len];
        let to_server = ctl & 1 == 0;
        let shift = ((ctl >> 1) & 7) as i32 - 3;
        let flags = match ctl >> 6 { 0 | 1 => 0x18, 2 => 0x19, _ => 0x14 };
        ts += 1000;
        let (seq, ack) = if to_server { (&mut cseq, sseq) } else { (&mut sseq, cseq) };
        let s = seq.wrapping_add((shift * 7) as u32);
        engine.process(Timestamp::from_micros(ts), LinkType::ETHERNET, &frame(port, to_server, s, ack, flags, payload), &mut sink);
        *seq = seq.wrapping_add(len as u32);
        rest = &rest[2 + len..];
    }
    engine.finish(&mut sink);
    assert_eq!((engine.active_flows(), engine.pending_transactions(), engine.blocks_in_use()), (0, 0, 0));
});
