//! IPv4 and IPv6 (with extension-header walking), then TCP, UDP and ICMP.

use core::net::IpAddr;

use smoltcp::wire::{Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::{be16, be32, Error};

/// Most IPv6 extension headers walked before the packet is malformed.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

/// IP protocol numbers used here (IANA).
pub mod proto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
}

/// Where a fragment sits in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragInfo {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset of this fragment's payload in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// An IP packet: addresses, the upper-layer protocol and its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPacket<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol number.
    pub proto: u8,
    /// Upper-layer bytes (one fragment's worth when `frag` is set).
    pub payload: &'a [u8],
    /// Set when this packet is a fragment.
    pub frag: Option<FragInfo>,
}

/// Decodes the IP header of a network-layer payload with `ethertype`.
pub fn decode_ip(ethertype: u16, buf: &[u8]) -> Result<IpPacket<'_>, Error> {
    match ethertype {
        ETHERTYPE_IPV4 => decode_ipv4(buf),
        ETHERTYPE_IPV6 => decode_ipv6(buf),
        _ => Err(Error::Unsupported),
    }
}

fn map_len_err(buf_len: usize, needed: usize) -> Error {
    if buf_len < needed {
        Error::Truncated
    } else {
        Error::Malformed
    }
}

fn decode_ipv4(buf: &[u8]) -> Result<IpPacket<'_>, Error> {
    if buf.len() < 20 {
        return Err(Error::Truncated);
    }
    let p = Ipv4Packet::new_checked(buf).map_err(|_| map_len_err(buf.len(), be16(buf, 2).unwrap_or(0) as usize))?;
    if p.version() != 4 {
        return Err(Error::Malformed);
    }
    let off = p.frag_offset() as u32;
    let frag = if p.more_frags() || off != 0 {
        Some(FragInfo { id: p.ident() as u32, offset: off, more: p.more_frags() })
    } else {
        None
    };
    Ok(IpPacket {
        src: IpAddr::V4(p.src_addr()),
        dst: IpAddr::V4(p.dst_addr()),
        proto: p.next_header().into(),
        payload: p.payload(),
        frag,
    })
}

fn decode_ipv6(buf: &[u8]) -> Result<IpPacket<'_>, Error> {
    if buf.len() < 40 {
        return Err(Error::Truncated);
    }
    let p =
        Ipv6Packet::new_checked(buf).map_err(|_| map_len_err(buf.len(), 40 + be16(buf, 4).unwrap_or(0) as usize))?;
    if p.version() != 6 {
        return Err(Error::Malformed);
    }
    let (src, dst) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
    let mut next: u8 = p.next_header().into();
    let mut rest = p.payload();
    let mut frag = None;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        let len = match next {
            // Hop-by-hop, routing, destination options: 8 + 8*len.
            0 | 43 | 60 => (*rest.get(1).ok_or(Error::Truncated)? as usize + 1) * 8,
            // Fragment header: fixed 8 bytes.
            44 => {
                let ofs = be16(rest, 2).ok_or(Error::Truncated)?;
                let id = be32(rest, 4).ok_or(Error::Truncated)?;
                let offset = (ofs & 0xfff8) as u32;
                let more = ofs & 1 == 1;
                if offset != 0 || more {
                    frag = Some(FragInfo { id, offset, more });
                }
                8
            }
            // Authentication header: (len + 2) * 4.
            51 => (*rest.get(1).ok_or(Error::Truncated)? as usize + 2) * 4,
            _ => return Ok(IpPacket { src, dst, proto: next, payload: rest, frag }),
        };
        next = *rest.first().ok_or(Error::Truncated)?;
        rest = rest.get(len..).ok_or(Error::Truncated)?;
        if frag.is_some_and(|f| f.offset != 0) {
            // A non-first fragment carries no further headers.
            return Ok(IpPacket { src, dst, proto: next, payload: rest, frag });
        }
    }
    Err(Error::Malformed)
}

/// TCP flags the kernel acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK (the ack number is valid).
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// A decoded transport header and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number (valid when `flags.ack`).
        ack: u32,
        /// Flags.
        flags: TcpFlags,
        /// Payload.
        payload: &'a [u8],
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Payload.
        payload: &'a [u8],
    },
    /// An ICMP (v4 or v6) message, header included.
    Icmp {
        /// True for ICMPv6.
        v6: bool,
        /// The message.
        message: &'a [u8],
    },
    /// Another IP protocol.
    Other(u8),
}

/// Decodes the transport header of a (complete, defragmented) IP payload.
pub fn decode_transport(proto: u8, payload: &[u8]) -> Result<Transport<'_>, Error> {
    match proto {
        proto::TCP => {
            let t = TcpPacket::new_checked(payload).map_err(|_| Error::Truncated)?;
            Ok(Transport::Tcp {
                src_port: t.src_port(),
                dst_port: t.dst_port(),
                seq: t.seq_number().0 as u32,
                ack: t.ack_number().0 as u32,
                flags: TcpFlags { syn: t.syn(), ack: t.ack(), fin: t.fin(), rst: t.rst() },
                payload: t.payload(),
            })
        }
        proto::UDP => {
            let u = UdpPacket::new_checked(payload).map_err(|_| Error::Truncated)?;
            Ok(Transport::Udp { src_port: u.src_port(), dst_port: u.dst_port(), payload: u.payload() })
        }
        proto::ICMP => Ok(Transport::Icmp { v6: false, message: payload }),
        proto::ICMPV6 => Ok(Transport::Icmp { v6: true, message: payload }),
        other => Ok(Transport::Other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_tcp(payload: &[u8], buf: &mut [u8]) -> usize {
        let total = 20 + 20 + payload.len();
        buf[0] = 0x45;
        buf[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        buf[8] = 64;
        buf[9] = 6;
        buf[12..16].copy_from_slice(&[10, 0, 0, 1]);
        buf[16..20].copy_from_slice(&[10, 0, 0, 2]);
        buf[20..22].copy_from_slice(&1234u16.to_be_bytes());
        buf[22..24].copy_from_slice(&80u16.to_be_bytes());
        buf[24..28].copy_from_slice(&7u32.to_be_bytes());
        buf[32] = 5 << 4;
        buf[33] = 0x18;
        buf[40..40 + payload.len()].copy_from_slice(payload);
        total
    }

    #[test]
    fn ipv4_tcp_roundtrip() {
        let mut b = [0u8; 64];
        let n = ipv4_tcp(b"hi", &mut b);
        let ip = decode_ip(ETHERTYPE_IPV4, &b[..n]).unwrap();
        assert_eq!(ip.proto, proto::TCP);
        match decode_transport(ip.proto, ip.payload).unwrap() {
            Transport::Tcp { src_port, dst_port, seq, payload, .. } => {
                assert_eq!((src_port, dst_port, seq, payload), (1234, 80, 7, &b"hi"[..]));
            }
            t => panic!("{t:?}"),
        }
        // Snap-length truncation is reported as such.
        assert_eq!(decode_ip(ETHERTYPE_IPV4, &b[..n - 1]), Err(Error::Truncated));
    }

    #[test]
    fn ipv6_ext_headers() {
        let mut b = [0u8; 40 + 8 + 8 + 8];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&24u16.to_be_bytes());
        b[6] = 0; // hop-by-hop
        b[40] = 44; // -> fragment
        b[41] = 0;
        b[48] = 17; // fragment -> udp
        b[50..52].copy_from_slice(&(8u16 | 1).to_be_bytes()); // offset 8, more
        b[52..56].copy_from_slice(&99u32.to_be_bytes());
        let ip = decode_ip(ETHERTYPE_IPV6, &b).unwrap();
        assert_eq!(ip.proto, 17);
        assert_eq!(ip.frag, Some(FragInfo { id: 99, offset: 8, more: true }));
        assert_eq!(ip.payload.len(), 8);
    }

    #[test]
    fn never_panics_on_prefixes() {
        let mut b = [0u8; 64];
        let n = ipv4_tcp(b"hello", &mut b);
        for k in 0..n {
            let _ = decode_ip(ETHERTYPE_IPV4, &b[..k]).map(|ip| decode_transport(ip.proto, ip.payload));
            let _ = decode_ip(ETHERTYPE_IPV6, &b[..k]);
        }
    }
}
