//! Human-readable names of ICMPv4 and ICMPv6 types and codes (IANA
//! registries "ICMP Type Numbers" and "ICMPv6 Parameters").
//!
//! Messages read `Type Name` or `Type Name (Code Name)`, for example
//! `Echo Request` or `Destination Unreachable (Port Unreachable)`. A code the
//! registry does not name gives `Type Name (code N)`; an unknown type gives
//! `Unknown (type T, code C)`. Packetbeat prints Go identifiers instead
//! (`EchoRequest(0)`, `DestinationUnreachable(Port)`); these are meant to be
//! read by people.

use core::fmt;

use serde::ser::{Serialize, Serializer};

/// The name of ICMPv4 (`v6` false) or ICMPv6 type `typ`, if registered.
pub fn type_name(v6: bool, typ: u8) -> Option<&'static str> {
    if v6 {
        v6_type_name(typ)
    } else {
        v4_type_name(typ)
    }
}

/// The name of code `code` of type `typ`, when the type defines codes and
/// this one is registered. Types without codes (where 0 is the only value)
/// give `None`.
pub fn code_name(v6: bool, typ: u8, code: u8) -> Option<&'static str> {
    if v6 {
        v6_code_name(typ, code)
    } else {
        v4_code_name(typ, code)
    }
}

/// True when type `typ` defines named codes (so a code is worth printing
/// even when it is 0).
pub fn has_codes(v6: bool, typ: u8) -> bool {
    code_name(v6, typ, 0).is_some() || code_name(v6, typ, 1).is_some()
}

fn v4_type_name(typ: u8) -> Option<&'static str> {
    Some(match typ {
        0 => "Echo Reply",
        3 => "Destination Unreachable",
        4 => "Source Quench",
        5 => "Redirect",
        6 => "Alternate Host Address",
        8 => "Echo Request",
        9 => "Router Advertisement",
        10 => "Router Solicitation",
        11 => "Time Exceeded",
        12 => "Parameter Problem",
        13 => "Timestamp Request",
        14 => "Timestamp Reply",
        15 => "Information Request",
        16 => "Information Reply",
        17 => "Address Mask Request",
        18 => "Address Mask Reply",
        30 => "Traceroute",
        31 => "Datagram Conversion Error",
        32 => "Mobile Host Redirect",
        33 => "IPv6 Where-Are-You",
        34 => "IPv6 I-Am-Here",
        35 => "Mobile Registration Request",
        36 => "Mobile Registration Reply",
        37 => "Domain Name Request",
        38 => "Domain Name Reply",
        39 => "SKIP",
        40 => "Photuris",
        42 => "Extended Echo Request",
        43 => "Extended Echo Reply",
        _ => return None,
    })
}

fn v4_code_name(typ: u8, code: u8) -> Option<&'static str> {
    Some(match (typ, code) {
        (3, 0) => "Network Unreachable",
        (3, 1) => "Host Unreachable",
        (3, 2) => "Protocol Unreachable",
        (3, 3) => "Port Unreachable",
        (3, 4) => "Fragmentation Needed and Don't Fragment Set",
        (3, 5) => "Source Route Failed",
        (3, 6) => "Destination Network Unknown",
        (3, 7) => "Destination Host Unknown",
        (3, 8) => "Source Host Isolated",
        (3, 9) => "Network Administratively Prohibited",
        (3, 10) => "Host Administratively Prohibited",
        (3, 11) => "Network Unreachable for Type of Service",
        (3, 12) => "Host Unreachable for Type of Service",
        (3, 13) => "Communication Administratively Prohibited",
        (3, 14) => "Host Precedence Violation",
        (3, 15) => "Precedence Cutoff in Effect",
        (5, 0) => "Redirect for Network",
        (5, 1) => "Redirect for Host",
        (5, 2) => "Redirect for Type of Service and Network",
        (5, 3) => "Redirect for Type of Service and Host",
        (9, 0) => "Normal Router Advertisement",
        (9, 16) => "Does Not Route Common Traffic",
        (11, 0) => "TTL Exceeded in Transit",
        (11, 1) => "Fragment Reassembly Time Exceeded",
        (12, 0) => "Pointer Indicates the Error",
        (12, 1) => "Missing a Required Option",
        (12, 2) => "Bad Length",
        (40, 0) => "Bad SPI",
        (40, 1) => "Authentication Failed",
        (40, 2) => "Decompression Failed",
        (40, 3) => "Decryption Failed",
        (40, 4) => "Need Authentication",
        (40, 5) => "Need Authorization",
        (43, 0) => "No Error",
        (43, 1) => "Malformed Query",
        (43, 2) => "No Such Interface",
        (43, 3) => "No Such Table Entry",
        (43, 4) => "Multiple Interfaces Satisfy Query",
        _ => return None,
    })
}

fn v6_type_name(typ: u8) -> Option<&'static str> {
    Some(match typ {
        1 => "Destination Unreachable",
        2 => "Packet Too Big",
        3 => "Time Exceeded",
        4 => "Parameter Problem",
        128 => "Echo Request",
        129 => "Echo Reply",
        130 => "Multicast Listener Query",
        131 => "Multicast Listener Report",
        132 => "Multicast Listener Done",
        133 => "Router Solicitation",
        134 => "Router Advertisement",
        135 => "Neighbor Solicitation",
        136 => "Neighbor Advertisement",
        137 => "Redirect",
        138 => "Router Renumbering",
        139 => "Node Information Query",
        140 => "Node Information Response",
        141 => "Inverse Neighbor Discovery Solicitation",
        142 => "Inverse Neighbor Discovery Advertisement",
        143 => "Multicast Listener Report v2",
        144 => "Home Agent Address Discovery Request",
        145 => "Home Agent Address Discovery Reply",
        146 => "Mobile Prefix Solicitation",
        147 => "Mobile Prefix Advertisement",
        148 => "Certification Path Solicitation",
        149 => "Certification Path Advertisement",
        151 => "Multicast Router Advertisement",
        152 => "Multicast Router Solicitation",
        153 => "Multicast Router Termination",
        154 => "FMIPv6",
        155 => "RPL Control Message",
        156 => "ILNPv6 Locator Update",
        157 => "Duplicate Address Request",
        158 => "Duplicate Address Confirmation",
        159 => "MPL Control Message",
        160 => "Extended Echo Request",
        161 => "Extended Echo Reply",
        _ => return None,
    })
}

fn v6_code_name(typ: u8, code: u8) -> Option<&'static str> {
    Some(match (typ, code) {
        (1, 0) => "No Route to Destination",
        (1, 1) => "Communication Administratively Prohibited",
        (1, 2) => "Beyond Scope of Source Address",
        (1, 3) => "Address Unreachable",
        (1, 4) => "Port Unreachable",
        (1, 5) => "Source Address Failed Ingress/Egress Policy",
        (1, 6) => "Reject Route to Destination",
        (1, 7) => "Error in Source Routing Header",
        (1, 8) => "Headers Too Long",
        (3, 0) => "Hop Limit Exceeded in Transit",
        (3, 1) => "Fragment Reassembly Time Exceeded",
        (4, 0) => "Erroneous Header Field",
        (4, 1) => "Unrecognized Next Header Type",
        (4, 2) => "Unrecognized IPv6 Option",
        (4, 3) => "Incomplete Header Chain in First Fragment",
        (4, 4) => "SR Upper-Layer Header Error",
        (4, 5) => "Unrecognized Next Header Type at Intermediate Node",
        (4, 6) => "Extension Header Too Big",
        (4, 7) => "Extension Header Chain Too Long",
        (4, 8) => "Too Many Extension Headers",
        (4, 9) => "Too Many Options in Extension Header",
        (4, 10) => "Option Too Big",
        (138, 0) => "Command",
        (138, 1) => "Result",
        (138, 255) => "Sequence Number Reset",
        (139, 0) => "Subject Is an IPv6 Address",
        (139, 1) => "Subject Is a Name",
        (139, 2) => "Subject Is an IPv4 Address",
        (140, 0) => "Successful Reply",
        (140, 1) => "Responder Refuses",
        (140, 2) => "Unknown Query Type",
        (161, 0) => "No Error",
        (161, 1) => "Malformed Query",
        (161, 2) => "No Such Interface",
        (161, 3) => "No Such Table Entry",
        (161, 4) => "Multiple Interfaces Satisfy Query",
        _ => return None,
    })
}

/// The human-readable text of one message (`icmp.request.message`,
/// `icmp.response.message`), written without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// ICMPv6 numbering (else ICMPv4).
    pub v6: bool,
    /// Type.
    pub typ: u8,
    /// Code.
    pub code: u8,
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(t) = type_name(self.v6, self.typ) else {
            return write!(f, "Unknown (type {}, code {})", self.typ, self.code);
        };
        f.write_str(t)?;
        match code_name(self.v6, self.typ, self.code) {
            Some(c) => write!(f, " ({c})"),
            // Codes other than 0 on a type without named codes are unusual
            // enough to show.
            None if self.code != 0 || has_codes(self.v6, self.typ) => write!(f, " (code {})", self.code),
            None => Ok(()),
        }
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn text(v6: bool, typ: u8, code: u8) -> heapless::String<96> {
        let mut s = heapless::String::new();
        write!(s, "{}", Message { v6, typ, code }).unwrap();
        s
    }

    #[test]
    fn messages() {
        assert_eq!(text(false, 8, 0), "Echo Request");
        assert_eq!(text(false, 0, 0), "Echo Reply");
        assert_eq!(text(false, 3, 3), "Destination Unreachable (Port Unreachable)");
        assert_eq!(text(false, 3, 99), "Destination Unreachable (code 99)");
        assert_eq!(text(false, 11, 0), "Time Exceeded (TTL Exceeded in Transit)");
        assert_eq!(text(false, 8, 7), "Echo Request (code 7)");
        assert_eq!(text(false, 200, 1), "Unknown (type 200, code 1)");
        assert_eq!(text(true, 128, 0), "Echo Request");
        assert_eq!(text(true, 129, 0), "Echo Reply");
        assert_eq!(text(true, 1, 4), "Destination Unreachable (Port Unreachable)");
        assert_eq!(text(true, 2, 0), "Packet Too Big");
        assert_eq!(text(true, 135, 0), "Neighbor Solicitation");
        // ICMPv4 numbering differs from ICMPv6 numbering.
        assert_eq!(text(true, 3, 0), "Time Exceeded (Hop Limit Exceeded in Transit)");
        assert_eq!(text(false, 3, 0), "Destination Unreachable (Network Unreachable)");
    }

    #[test]
    fn every_message_fits_a_small_buffer() {
        for v6 in [false, true] {
            for typ in 0..=255u8 {
                for code in 0..=255u8 {
                    let mut s = heapless::String::<96>::new();
                    assert!(write!(s, "{}", Message { v6, typ, code }).is_ok());
                }
            }
        }
    }
}
