//! The datagram quoted by an ICMP error (RFC 792, RFC 4443 §2.4): the IP
//! header of the packet that caused the error and at least the first 8 bytes
//! of its payload (ICMPv6 quotes as much as fits the minimum MTU).
//!
//! Only what identifies the offending packet is read: its protocol, its
//! addresses, its ports (TCP, UDP, SCTP, DCCP, UDP-Lite), and the bytes of
//! its upper-layer header (to pair an error with an ICMP request). The
//! quote is usually cut short, so lengths in the quoted header are not
//! checked against what is present.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most IPv6 extension headers walked in a quoted datagram.
pub const MAX_QUOTE_EXT_HEADERS: usize = 8;

/// What an ICMP error says about the packet that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Original {
    /// IP protocol number of the quoted packet (its last next-header for
    /// IPv6).
    pub protocol: u8,
    /// Source address of the quoted packet (normally the receiver of the
    /// error).
    pub src: IpAddr,
    /// Destination address of the quoted packet.
    pub dst: IpAddr,
    /// Source and destination ports, for port-based transports whose
    /// ports were quoted.
    pub ports: Option<(u16, u16)>,
}

impl Original {
    /// The transport's usual name (`tcp`, `udp`, `icmp`, `ipv6-icmp`, ...),
    /// when it has one.
    pub fn transport_name(&self) -> Option<&'static str> {
        Some(match self.protocol {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            33 => "dccp",
            58 => "ipv6-icmp",
            132 => "sctp",
            136 => "udplite",
            _ => return None,
        })
    }
}

fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let x = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*x.first()?, *x.get(1)?]))
}

fn v4_addr(b: &[u8], at: usize) -> Option<IpAddr> {
    let x: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(x)))
}

fn v6_addr(b: &[u8], at: usize) -> Option<IpAddr> {
    let x: [u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(x)))
}

/// Reads the quoted datagram `b` (the bytes after an error's 8-byte
/// header). Returns what it says and the bytes of its upper-layer header
/// (empty when the quote stops before it, or for a non-first fragment).
pub fn parse(b: &[u8]) -> Option<(Original, &[u8])> {
    let first = *b.first()?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            let protocol = *b.get(9)?;
            let src = v4_addr(b, 12)?;
            let dst = v4_addr(b, 16)?;
            // A non-first fragment has no upper-layer header.
            let frag_offset = be16(b, 6)? & 0x1fff;
            let l4 = if frag_offset == 0 { b.get(ihl..).unwrap_or(&[]) } else { &[] };
            Some(finish(protocol, src, dst, l4))
        }
        6 => {
            let src = v6_addr(b, 8)?;
            let dst = v6_addr(b, 24)?;
            let mut next = *b.get(6)?;
            let mut rest = b.get(40..).unwrap_or(&[]);
            for _ in 0..MAX_QUOTE_EXT_HEADERS {
                let len = match next {
                    0 | 43 | 60 => rest.get(1).map(|l| (usize::from(*l) + 1) * 8),
                    44 => {
                        if be16(rest, 2).is_some_and(|o| o & 0xfff8 != 0) {
                            // A non-first fragment: the rest is not a header.
                            let n = rest.first().copied().unwrap_or(next);
                            return Some(finish(n, src, dst, &[]));
                        }
                        Some(8)
                    }
                    51 => rest.get(1).map(|l| (usize::from(*l) + 2) * 4),
                    _ => break,
                };
                // The quote may stop inside the extension headers: the
                // upper layer is then unknown, but the addresses still count.
                let (Some(len), Some(&n)) = (len, rest.first()) else {
                    return Some(finish(next, src, dst, &[]));
                };
                next = n;
                rest = rest.get(len..).unwrap_or(&[]);
            }
            Some(finish(next, src, dst, rest))
        }
        _ => None,
    }
}

fn finish(protocol: u8, src: IpAddr, dst: IpAddr, l4: &[u8]) -> (Original, &[u8]) {
    let ports = if has_ports(protocol) { be16(l4, 0).zip(be16(l4, 2)) } else { None };
    (Original { protocol, src, dst, ports }, l4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_udp_quote() {
        let mut q = [0u8; 28];
        q[0] = 0x45;
        q[9] = 17;
        q[12..16].copy_from_slice(&[127, 0, 0, 1]);
        q[16..20].copy_from_slice(&[127, 0, 0, 2]);
        q[20..22].copy_from_slice(&40000u16.to_be_bytes());
        q[22..24].copy_from_slice(&9u16.to_be_bytes());
        let (o, l4) = parse(&q).unwrap();
        assert_eq!(o.protocol, 17);
        assert_eq!(o.dst, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(o.ports, Some((40000, 9)));
        assert_eq!(o.transport_name(), Some("udp"));
        assert_eq!(l4.len(), 8);
        // Cut before the ports: addresses only.
        let (o, _) = parse(&q[..22]).unwrap();
        assert_eq!(o.ports, None);
        // Cut inside the header: nothing.
        assert!(parse(&q[..19]).is_none());
    }

    #[test]
    fn ipv6_quote_with_extension_headers() {
        let mut q = [0u8; 40 + 8 + 8 + 8];
        q[0] = 0x60;
        q[6] = 0; // hop-by-hop
        q[8..24].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
        q[24..40].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
        q[40] = 44; // -> fragment header
        q[41] = 0;
        q[48] = 17; // -> udp, first fragment
        q[56..58].copy_from_slice(&5353u16.to_be_bytes());
        q[58..60].copy_from_slice(&53u16.to_be_bytes());
        let (o, l4) = parse(&q).unwrap();
        assert_eq!(o.protocol, 17);
        assert_eq!(o.ports, Some((5353, 53)));
        assert_eq!(l4.len(), 8);
        // Cut inside the extension headers.
        let (o, l4) = parse(&q[..41]).unwrap();
        assert_eq!((o.protocol, o.ports, l4.len()), (0, None, 0));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut b = [0u8; 64];
        for seed in 0u32..4000 {
            let mut x = seed.wrapping_mul(2_654_435_761);
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *v = x as u8;
            }
            b[0] = if seed % 2 == 0 { 0x45 } else { 0x60 };
            for n in 0..b.len() {
                let _ = parse(&b[..n]);
            }
        }
    }
}
