//! IPv4/IPv6 fragment reassembly against a model: arbitrary fragments of
//! four datagrams (two IPv4 ids, an IPv6 one, another source), at arbitrary
//! offsets and lengths, in any order, overlapping with conflicting bytes,
//! with time passing. The pool must hand out exactly the datagrams the
//! model completes, each byte the first copy received (as Linux does), and
//! never hold more sets than it has slots.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use tapbeat_core::defrag::{Defrag, FragSlot, MAX_DATAGRAM};
use tapbeat_core::time::Duration;
use tapbeat_core::wire::ip::FragInfo;
use tapbeat_core::wire::IpPacket;
use tapbeat_core::{Stats, Timestamp};

const TIMEOUT_US: u64 = 30_000_000;

/// What the pool should hold for one datagram.
#[derive(Clone)]
struct Model {
    active: bool,
    first: u64,
    total: Option<usize>,
    bytes: Vec<Option<u8>>,
}

fn key(k: usize) -> (IpAddr, u32) {
    let v4 = |n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
    match k {
        0 => (v4(1), 7),
        1 => (v4(1), 8),
        2 => (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), 7),
        _ => (v4(3), 7),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut slots: Vec<core::mem::MaybeUninit<FragSlot>> = (0..4).map(|_| core::mem::MaybeUninit::uninit()).collect();
    let mut pool = Defrag::new(&mut slots, Duration::from_micros(TIMEOUT_US));
    let mut stats = Stats::default();
    let mut model = vec![Model { active: false, first: 0, total: None, bytes: vec![None; MAX_DATAGRAM + 8] }; 4];
    let mut now = 0u64;
    // Records: [ctl][offset units: u16 le][len][fill]; the fragment's byte
    // at datagram offset x is fill + x.
    for r in data.chunks_exact(5) {
        let (ctl, units, len, fill) = (r[0], u16::from_le_bytes([r[1], r[2]]) & 0x1fff, r[3], r[4]);
        let k = (ctl & 3) as usize;
        let more = ctl & 4 != 0;
        let mut len = len as usize * if ctl & 8 != 0 { 64 } else { 1 };
        if ctl & 0x10 != 0 {
            len &= !7;
        }
        now += match (ctl >> 5) & 3 {
            0 => 0,
            1 => 1_000,
            2 => 20_000_000,
            _ => 31_000_000,
        };
        if ctl & 0x80 != 0 {
            pool.expire(Timestamp::from_micros(now), &mut stats);
            for m in model.iter_mut() {
                m.active &= now - m.first < TIMEOUT_US;
            }
        }
        let off = units as usize * 8;
        let payload: Vec<u8> = (off..off + len).map(|x| fill.wrapping_add(x as u8)).collect();
        let (src, id) = key(k);
        let dst = if src.is_ipv4() { IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)) } else { src };
        let ip = IpPacket { src, dst, proto: 17, payload: &payload, frag: None };
        let got = pool.add(Timestamp::from_micros(now), &ip, FragInfo { id, offset: off as u32, more }, &mut stats);

        // The model: invalid fragments poison their set.
        let end = off + len;
        let expect = if end > MAX_DATAGRAM || (more && (len % 8 != 0 || len == 0)) {
            model[k].active = false;
            None
        } else {
            if !model[k].active {
                for m in model.iter_mut() {
                    m.active &= now - m.first < TIMEOUT_US;
                }
                let m = &mut model[k];
                m.active = true;
                m.first = now;
                m.total = None;
                m.bytes.iter_mut().for_each(|b| *b = None);
            }
            let m = &mut model[k];
            if !more && m.total.is_some_and(|t| t != end) {
                None
            } else {
                if !more {
                    m.total = Some(end);
                }
                for (x, b) in (off..end).zip(&payload) {
                    m.bytes[x].get_or_insert(*b);
                }
                match m.total {
                    Some(t) if m.bytes[..t].iter().all(Option::is_some) => {
                        m.active = false;
                        Some(m.bytes[..t].iter().map(|b| b.unwrap_or(0)).collect::<Vec<u8>>())
                    }
                    _ => None,
                }
            }
        };
        match (got, expect) {
            (Some((idx, n)), Some(want)) => {
                assert_eq!(pool.payload(idx, n), &want[..], "reassembled bytes differ from the first copies");
                pool.release(idx);
            }
            (None, None) => {}
            (got, want) => panic!("pool says {got:?}, model says {:?}", want.map(|w| w.len())),
        }
        assert_eq!(pool.in_progress(), model.iter().filter(|m| m.active).count());
    }
    assert_eq!(stats.defrag_evicted, 0, "four sets fit four slots");
});
