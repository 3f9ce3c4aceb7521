//! Link layers: Ethernet II with stacked 802.1Q/802.1ad tags, Linux cooked
//! capture v1 and v2, BSD loopback (null), and raw IP.

use super::{be16, Error};

/// A pcap link type (the `LINKTYPE_*` registry number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (the version nibble tells v4 from v6).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: like NULL but in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`-i any`).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// Raw IP on some older systems (DLT_RAW value 12 or 14).
    pub const RAW_ALT12: LinkType = LinkType(12);
    /// Raw IP on OpenBSD (DLT_RAW value 14).
    pub const RAW_ALT14: LinkType = LinkType(14);
}

/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Most VLAN tags walked in one frame; deeper stacks are malformed.
pub const MAX_VLAN_TAGS: usize = 8;

/// The network layer found inside a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkPayload<'a> {
    /// Ethertype of the payload (after VLAN tags).
    pub ethertype: u16,
    /// Innermost VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// The payload.
    pub payload: &'a [u8],
}

/// Finds the network-layer payload of `frame` for link type `link`.
pub fn decode_link(link: LinkType, frame: &[u8]) -> Result<LinkPayload<'_>, Error> {
    match link {
        LinkType::ETHERNET => {
            let ethertype = be16(frame, 12).ok_or(Error::Truncated)?;
            let rest = frame.get(14..).ok_or(Error::Truncated)?;
            walk_vlans(ethertype, rest)
        }
        LinkType::LINUX_SLL => {
            // 16-byte header; protocol type at 14.
            let ethertype = be16(frame, 14).ok_or(Error::Truncated)?;
            let rest = frame.get(16..).ok_or(Error::Truncated)?;
            walk_vlans(ethertype, rest)
        }
        LinkType::LINUX_SLL2 => {
            // 20-byte header; protocol type first.
            let ethertype = be16(frame, 0).ok_or(Error::Truncated)?;
            let rest = frame.get(20..).ok_or(Error::Truncated)?;
            walk_vlans(ethertype, rest)
        }
        LinkType::NULL | LinkType::LOOP => {
            let fam: [u8; 4] = frame.get(..4).ok_or(Error::Truncated)?.try_into().map_err(|_| Error::Truncated)?;
            // NULL is host byte order of the capturing machine: accept both.
            let v = if link == LinkType::LOOP { u32::from_be_bytes(fam) } else { u32::from_le_bytes(fam) };
            let v = if v > 0xffff { v.swap_bytes() } else { v };
            let payload = frame.get(4..).ok_or(Error::Truncated)?;
            let ethertype = match v {
                2 => ETHERTYPE_IPV4,
                // AF_INET6 differs per OS: Linux 10, BSDs 24/28/30.
                10 | 24 | 28 | 30 => ETHERTYPE_IPV6,
                _ => return Err(Error::Unsupported),
            };
            Ok(LinkPayload { ethertype, vlan: None, payload })
        }
        LinkType::RAW | LinkType::RAW_ALT12 | LinkType::RAW_ALT14 | LinkType::IPV4 | LinkType::IPV6 => {
            let first = *frame.first().ok_or(Error::Truncated)?;
            let ethertype = match first >> 4 {
                4 => ETHERTYPE_IPV4,
                6 => ETHERTYPE_IPV6,
                _ => return Err(Error::Malformed),
            };
            Ok(LinkPayload { ethertype, vlan: None, payload: frame })
        }
        _ => Err(Error::Unsupported),
    }
}

fn walk_vlans(mut ethertype: u16, mut rest: &[u8]) -> Result<LinkPayload<'_>, Error> {
    let mut vlan = None;
    for _ in 0..MAX_VLAN_TAGS {
        match ethertype {
            // 802.1Q, 802.1ad, and the pre-standard QinQ 0x9100.
            0x8100 | 0x88A8 | 0x9100 => {
                let tci = be16(rest, 0).ok_or(Error::Truncated)?;
                vlan = Some(tci & 0x0fff);
                ethertype = be16(rest, 2).ok_or(Error::Truncated)?;
                rest = rest.get(4..).ok_or(Error::Truncated)?;
            }
            _ => return Ok(LinkPayload { ethertype, vlan, payload: rest }),
        }
    }
    Err(Error::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_qinq() {
        let mut f = [0u8; 14 + 8 + 1];
        f[12] = 0x88;
        f[13] = 0xa8;
        f[14] = 0x00;
        f[15] = 0x64; // vlan 100
        f[16] = 0x81;
        f[17] = 0x00;
        f[18] = 0x00;
        f[19] = 0xc8; // vlan 200
        f[20] = 0x08;
        f[21] = 0x00;
        f[22] = 0x45;
        let p = decode_link(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(p.ethertype, ETHERTYPE_IPV4);
        assert_eq!(p.vlan, Some(200));
        assert_eq!(p.payload, &[0x45]);
    }

    #[test]
    fn short_frames_are_errors() {
        for n in 0..14 {
            let f = [0x81u8; 14];
            assert!(decode_link(LinkType::ETHERNET, &f[..n]).is_err());
        }
        let endless = [0u8, 1, 0x81, 0x00].repeat_array();
        assert_eq!(decode_link(LinkType::ETHERNET, &endless), Err(Error::Malformed));
        assert_eq!(decode_link(LinkType(9999), &[0; 40]), Err(Error::Unsupported));
    }

    trait RepeatArray {
        fn repeat_array(&self) -> [u8; 14 + 4 * 10];
    }
    impl RepeatArray for [u8; 4] {
        fn repeat_array(&self) -> [u8; 14 + 4 * 10] {
            let mut f = [0u8; 14 + 40];
            f[12] = 0x81;
            f[13] = 0x00;
            for i in 0..10 {
                f[14 + 4 * i..18 + 4 * i].copy_from_slice(self);
            }
            f
        }
    }

    #[test]
    fn null_and_sll() {
        let f = [2u8, 0, 0, 0, 0x45];
        assert_eq!(decode_link(LinkType::NULL, &f).unwrap().payload, &[0x45]);
        let f = [0u8, 0, 0, 30, 0x60];
        assert_eq!(decode_link(LinkType::NULL, &f).unwrap().ethertype, ETHERTYPE_IPV6);
        let mut s = [0u8; 17];
        s[14] = 0x86;
        s[15] = 0xdd;
        assert_eq!(decode_link(LinkType::LINUX_SLL, &s).unwrap().ethertype, ETHERTYPE_IPV6);
        let mut s2 = [0u8; 21];
        s2[0] = 0x08;
        assert_eq!(decode_link(LinkType::LINUX_SLL2, &s2).unwrap().payload.len(), 1);
    }
}
