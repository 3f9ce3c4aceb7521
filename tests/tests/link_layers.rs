//! The same traffic behind every supported link layer, and fragmented at
//! the IP layer, gives the same transactions.

use proptest::prelude::*;
use tapbeat_core::{LinkType, Timestamp};
use tapbeat_tests::{http_settings, load, pcaps, run_frames};

type Frames = Vec<(Timestamp, Vec<u8>)>;

fn sample() -> (LinkType, Frames) {
    let cap = load(&pcaps().join("recorded/http/curl_keepalive_mixed.pcap"));
    assert_eq!(cap.link, LinkType::ETHERNET);
    (cap.link, cap.frames)
}

/// Replaces the 14-byte Ethernet header with `header(ethertype)`.
fn relink(frames: &Frames, header: impl Fn(u16) -> Vec<u8>) -> Frames {
    frames
        .iter()
        .map(|(ts, f)| {
            let et = u16::from_be_bytes([f[12], f[13]]);
            let mut g = header(et);
            g.extend_from_slice(&f[14..]);
            (*ts, g)
        })
        .collect()
}

#[test]
fn every_link_layer_gives_the_same_transactions() {
    let st = http_settings(&[8088]);
    let (link, frames) = sample();
    let (want, _) = run_frames(&st, link, &frames);
    assert_eq!(want.len(), 6);
    let variants: Vec<(LinkType, Frames)> = vec![
        // Linux cooked capture v1: type, ARPHRD, addr len, addr[8], protocol.
        (LinkType::LINUX_SLL, relink(&frames, |et| [&[0, 0, 0, 1, 0, 6], &[0u8; 8][..], &et.to_be_bytes()].concat())),
        // v2: protocol, reserved, ifindex, ARPHRD, type, addr len, addr[8].
        (
            LinkType::LINUX_SLL2,
            relink(&frames, |et| [&et.to_be_bytes()[..], &[0, 0, 0, 0, 0, 1, 0, 1, 0, 6], &[0u8; 8]].concat()),
        ),
        // BSD loopback: address family in host order.
        (LinkType::NULL, relink(&frames, |_| 2u32.to_le_bytes().to_vec())),
        (LinkType::LOOP, relink(&frames, |_| 2u32.to_be_bytes().to_vec())),
        (LinkType::RAW, relink(&frames, |_| Vec::new())),
        // Two stacked VLAN tags (802.1ad outer, 802.1Q inner).
        (
            LinkType::ETHERNET,
            relink(&frames, |et| [&[0u8; 12][..], &[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20], &et.to_be_bytes()].concat()),
        ),
    ];
    for (link, frames) in variants {
        let (got, stats) = run_frames(&st, link, &frames);
        assert_eq!(got, want, "{link:?}");
        assert_eq!(stats.malformed_frames + stats.unknown_link_type + stats.non_ip_frames, 0);
    }
}

/// Splits an Ethernet/IPv4 frame into IP fragments of `size` payload bytes
/// (a multiple of 8).
fn fragment(f: &[u8], size: usize) -> Vec<Vec<u8>> {
    let ihl = (f[14] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    let payload = &f[14 + ihl..14 + total];
    let id = [f[18], f[19]];
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + size).min(payload.len());
        let more = end < payload.len();
        let mut g = f[..14 + ihl].to_vec();
        g[16..18].copy_from_slice(&((ihl + end - off) as u16).to_be_bytes());
        g[18..20].copy_from_slice(&id);
        let fo = (off / 8) as u16 | if more { 0x2000 } else { 0 };
        g[20..22].copy_from_slice(&fo.to_be_bytes());
        g.extend_from_slice(&payload[off..end]);
        out.push(g);
        off = end;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// IPv4 fragments, in any order, are reassembled into the same segments.
    #[test]
    fn ip_fragments_in_any_order(units in 1usize..40, picks in proptest::collection::vec((0usize..64, any::<bool>()), 1..20)) {
        let st = http_settings(&[8088]);
        let (link, frames) = sample();
        let (want, _) = run_frames(&st, link, &frames);
        let mut out = frames.clone();
        let mut split = 0u64;
        for (i, reverse) in picks {
            let i = i % out.len();
            let f = &out[i].1;
            let is_v4_unfragmented = f.len() > 34 && f[12..14] == [8, 0] && f[20] & 0x3f == 0 && f[21] == 0;
            if !is_v4_unfragmented {
                continue;
            }
            let ts = out[i].0;
            let mut parts = fragment(f, units * 8);
            if parts.len() < 2 {
                continue;
            }
            if reverse {
                parts.reverse();
            }
            out.splice(i..=i, parts.into_iter().map(|p| (ts, p)));
            split += 1;
        }
        let (got, stats) = run_frames(&st, link, &out);
        prop_assert_eq!(got, want);
        prop_assert_eq!(stats.defrag_dropped, 0);
        prop_assert_eq!(stats.defrag_reassembled, split);
    }
}
