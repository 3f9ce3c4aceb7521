//! `pcap-scale`: builds a large capture out of small real ones.
//!
//! Every input is replicated `--copies` times. Copy `k` (from 0) has its
//! IP addresses rewritten so that its flows are new flows (IPv4: the two
//! middle octets of every address are XORed with `k`; IPv6: bytes 12–13),
//! with the IPv4 header checksum and the TCP/UDP checksums recomputed
//! (incrementally when the frame was cut by the snap length), and its
//! timestamps shifted by `k × --spread` microseconds. Each input's first
//! packet is first moved to the same start time, so different captures
//! interleave instead of following each other. All copies of all inputs are
//! merged in timestamp order into one classic pcap file (microseconds).
//!
//! Limits: classic pcap input (micro- or nanosecond, either byte order),
//! one link type shared by every input, any that tapbeat reads (frames are
//! decoded by `tapbeat_core::wire::decode_link`). At most 65,536 copies.
//! Inputs are held in memory.
//!
//! Usage: `pcap-scale --copies K [--spread US] -o OUT.pcap IN.pcap...`

use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use tapbeat_core::wire::decode_link;
use tapbeat_core::LinkType;

struct Packet {
    ts_us: u64,
    orig_len: u32,
    data: Vec<u8>,
}

struct Capture {
    link: u32,
    snaplen: u32,
    packets: Vec<Packet>,
}

fn u32_at(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if le { u32::from_le_bytes(w) } else { u32::from_be_bytes(w) })
}

fn load(path: &PathBuf) -> Result<Capture> {
    let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let magic = b.get(..4).context("file too short for a pcap header")?;
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => bail!("{}: not a classic pcap file (pcapng is not supported)", path.display()),
    };
    let snaplen = u32_at(&b, 16, le).context("short header")?;
    let link = u32_at(&b, 20, le).context("short header")? & 0x0fff_ffff;
    let mut packets = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let (Some(sec), Some(frac), Some(incl), Some(orig)) =
            (u32_at(&b, at, le), u32_at(&b, at + 4, le), u32_at(&b, at + 8, le), u32_at(&b, at + 12, le))
        else {
            bail!("{}: truncated record header at byte {at}", path.display());
        };
        let data =
            b.get(at + 16..at + 16 + incl as usize).with_context(|| format!("{}: truncated record", path.display()))?;
        let us = if nanos { u64::from(frac) / 1000 } else { u64::from(frac) };
        packets.push(Packet { ts_us: u64::from(sec) * 1_000_000 + us, orig_len: orig, data: data.to_vec() });
        at += 16 + incl as usize;
    }
    Ok(Capture { link, snaplen, packets })
}

/// Offset of the IP header in a frame of `link`, if the frame carries IP
/// (the kernel's link decoder: every link type and VLAN stack tapbeat reads).
fn ip_offset(link: u32, f: &[u8]) -> Option<usize> {
    let l2 = decode_link(LinkType(link), f).ok()?;
    matches!(l2.ethertype, 0x0800 | 0x86dd).then(|| f.len() - l2.payload.len())
}

/// One's-complement sum of 16-bit big-endian words (odd byte padded).
fn sum16(b: &[u8], mut acc: u32) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// RFC 1624 incremental update of checksum `ck` for a field changing from
/// `old` to `new` (equal lengths, even).
fn adjust(ck: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut acc = u32::from(!ck);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        acc += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        acc += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(acc)
}

/// Rewrites the addresses of copy `k` in place and fixes the checksums.
fn rewrite(link: u32, f: &mut [u8], orig_len: u32, k: u16) {
    if k == 0 {
        return;
    }
    let Some(ip) = ip_offset(link, f) else { return };
    let complete = f.len() as u32 == orig_len;
    let [hi, lo] = k.to_be_bytes();
    match f.get(ip).map(|v| v >> 4) {
        Some(4) => {
            let Some(ihl) = f.get(ip).map(|v| usize::from(v & 0xf) * 4) else { return };
            if ihl < 20 || f.len() < ip + ihl {
                return;
            }
            let old: Vec<u8> = f[ip + 12..ip + 20].to_vec();
            for a in [ip + 12, ip + 16] {
                f[a + 1] ^= hi;
                f[a + 2] ^= lo;
            }
            let new: Vec<u8> = f[ip + 12..ip + 20].to_vec();
            f[ip + 10] = 0;
            f[ip + 11] = 0;
            let ck = !fold(sum16(&f[ip..ip + ihl], 0));
            f[ip + 10..ip + 12].copy_from_slice(&ck.to_be_bytes());
            let proto = f[ip + 9];
            let frag_offset = u16::from_be_bytes([f[ip + 6], f[ip + 7]]) & 0x1fff;
            let total = usize::from(u16::from_be_bytes([f[ip + 2], f[ip + 3]]));
            if frag_offset == 0 {
                fix_l4(f, ip + ihl, (ip + total).min(f.len()), proto, &old, &new, complete, &|l4, len| {
                    let mut acc = sum16(&new, 0);
                    acc += u32::from(proto) + len as u32;
                    sum16(l4, acc)
                });
            }
        }
        Some(6) => {
            if f.len() < ip + 40 {
                return;
            }
            let old: Vec<u8> = f[ip + 8..ip + 40].to_vec();
            for a in [ip + 8, ip + 24] {
                f[a + 12] ^= hi;
                f[a + 13] ^= lo;
            }
            let new: Vec<u8> = f[ip + 8..ip + 40].to_vec();
            // Only the common case: the transport header follows directly.
            let proto = f[ip + 6];
            let total = ip + 40 + usize::from(u16::from_be_bytes([f[ip + 4], f[ip + 5]]));
            fix_l4(f, ip + 40, total.min(f.len()), proto, &old, &new, complete, &|l4, len| {
                let mut acc = sum16(&new, 0);
                acc += u32::from(proto) + (len as u32 >> 16) + (len as u32 & 0xffff);
                sum16(l4, acc)
            });
        }
        _ => {}
    }
}

/// Recomputes (complete frame) or adjusts (cut frame) the TCP/UDP checksum
/// after the addresses changed from `old` to `new`.
#[allow(clippy::too_many_arguments)]
fn fix_l4(
    f: &mut [u8],
    start: usize,
    end: usize,
    proto: u8,
    old: &[u8],
    new: &[u8],
    complete: bool,
    full_sum: &dyn Fn(&[u8], usize) -> u32,
) {
    let at = match proto {
        6 => start + 16,
        17 => start + 6,
        _ => return,
    };
    if f.len() < at + 2 || end < at + 2 {
        return;
    }
    let ck = u16::from_be_bytes([f[at], f[at + 1]]);
    if proto == 17 && ck == 0 {
        return; // UDP without a checksum
    }
    let new_ck = if complete {
        f[at] = 0;
        f[at + 1] = 0;
        let c = !fold(full_sum(&f[start..end], end - start));
        if proto == 17 && c == 0 {
            0xffff
        } else {
            c
        }
    } else {
        adjust(ck, old, new)
    };
    f[at..at + 2].copy_from_slice(&new_ck.to_be_bytes());
}

fn main() -> Result<()> {
    let mut copies = 1u32;
    let mut spread_us = 1000u64;
    let mut out: Option<PathBuf> = None;
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--copies" => copies = args.next().context("--copies needs a number")?.parse()?,
            "--spread" => spread_us = args.next().context("--spread needs microseconds")?.parse()?,
            "-o" => out = Some(args.next().context("-o needs a file")?.into()),
            "-h" | "--help" => {
                println!("usage: pcap-scale --copies K [--spread US] -o OUT.pcap IN.pcap...");
                return Ok(());
            }
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    ensure!((1..=65_536).contains(&copies), "--copies must be between 1 and 65536");
    let out = out.context("-o OUT.pcap is required")?;
    ensure!(!inputs.is_empty(), "no input captures");
    let caps: Vec<Capture> = inputs.iter().map(load).collect::<Result<_>>()?;
    let link = caps[0].link;
    ensure!(caps.iter().all(|c| c.link == link), "inputs have different link types");
    // Frames without IP would be copied unchanged, i.e. not as new flows.
    let first = caps.iter().find_map(|c| c.packets.first());
    ensure!(
        first.is_none_or(|p| ip_offset(link, &p.data).is_some()),
        "link type {link}: the first frame carries no IP"
    );
    let base = caps.iter().filter_map(|c| c.packets.first()).map(|p| p.ts_us).min().unwrap_or(0);
    let starts: Vec<u64> = caps.iter().map(|c| c.packets.first().map_or(0, |p| p.ts_us)).collect();

    // Min-heap on (time, input, copy, index): a k-way merge of every copy.
    let mut heap = BinaryHeap::new();
    let time = |i: usize, k: u32, j: usize| caps[i].packets[j].ts_us - starts[i] + base + u64::from(k) * spread_us;
    for (i, c) in caps.iter().enumerate() {
        if !c.packets.is_empty() {
            for k in 0..copies {
                heap.push(std::cmp::Reverse((time(i, k, 0), i, k, 0usize)));
            }
        }
    }
    let file = std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let snaplen = caps.iter().map(|c| c.snaplen).max().unwrap_or(65_535);
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&snaplen.to_le_bytes())?;
    w.write_all(&link.to_le_bytes())?;
    let mut frame = Vec::new();
    let mut written = 0u64;
    while let Some(std::cmp::Reverse((ts, i, k, j))) = heap.pop() {
        let p = &caps[i].packets[j];
        frame.clear();
        frame.extend_from_slice(&p.data);
        rewrite(link, &mut frame, p.orig_len, k as u16);
        w.write_all(&((ts / 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&((ts % 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&(frame.len() as u32).to_le_bytes())?;
        w.write_all(&p.orig_len.to_le_bytes())?;
        w.write_all(&frame)?;
        written += 1;
        if j + 1 < caps[i].packets.len() {
            heap.push(std::cmp::Reverse((time(i, k, j + 1), i, k, j + 1)));
        }
    }
    w.flush()?;
    eprintln!("pcap-scale: wrote {written} packets to {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/TCP frame with valid checksums.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let total = 20 + 20 + payload.len();
        let mut ip =
            vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2];
        let ck = !fold(sum16(&ip, 0));
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
        let mut tcp = vec![0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0];
        tcp.extend_from_slice(payload);
        let acc = sum16(&ip[12..20], 6 + tcp.len() as u32);
        let ck = !fold(sum16(&tcp, acc));
        tcp[16..18].copy_from_slice(&ck.to_be_bytes());
        f.extend(ip);
        f.extend(tcp);
        f
    }

    fn checksums_valid(f: &[u8]) -> bool {
        let ip = &f[14..34];
        let tcp = &f[34..];
        fold(sum16(ip, 0)) == 0xffff && fold(sum16(tcp, sum16(&ip[12..20], 6 + tcp.len() as u32))) == 0xffff
    }

    #[test]
    fn copies_get_new_addresses_and_valid_checksums() {
        let mut f = frame(b"GET / HTTP/1.1\r\n\r\n");
        assert!(checksums_valid(&f));
        let len = f.len() as u32;
        rewrite(LinkType::ETHERNET.0, &mut f, len, 0x0102);
        assert_eq!(&f[26..34], &[127, 1, 2, 1, 127, 1, 2, 2]);
        assert!(checksums_valid(&f));
    }

    #[test]
    fn cut_frames_get_incrementally_adjusted_checksums() {
        let full = frame(b"0123456789");
        let mut whole = full.clone();
        let len = full.len() as u32;
        rewrite(LinkType::ETHERNET.0, &mut whole, len, 7);
        let mut cut = full[..40].to_vec();
        rewrite(LinkType::ETHERNET.0, &mut cut, len, 7);
        assert_eq!(&cut[..40], &whole[..40], "the incremental update equals the full recomputation");
    }
}
