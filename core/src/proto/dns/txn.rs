//! DNS transaction fields and the names of DNS codes.

use core::fmt;

use heapless::Vec;
use serde::ser::{Serialize, Serializer};

use crate::text::{Lossy, Span, TextBuf};
use crate::txn::{Detail, Transaction};

/// Bytes of text one DNS transaction can hold: the question name, record
/// owner names (repeated names are stored once), record data in
/// presentation form, and the raw `request`/`response` text when enabled.
/// What does not fit is cut and the transaction is flagged truncated.
pub const DNS_TEXT_CAP: usize = 2688;
/// Most resource records kept per transaction over all three sections.
/// The `*_count` fields always give the true counts from the header.
pub const MAX_RECORDS: usize = 40;
/// Most answer records kept (the rest are counted, not listed).
pub const MAX_ANSWERS: usize = 16;

/// Header flag bits (second 16-bit word of the DNS header).
pub mod flag {
    /// Query (0) or response (1).
    pub const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated (the UDP response did not fit).
    pub const TC: u16 = 0x0200;
    /// Recursion desired.
    pub const RD: u16 = 0x0100;
    /// Recursion available.
    pub const RA: u16 = 0x0080;
    /// Authentic data (RFC 4035).
    pub const AD: u16 = 0x0020;
    /// Checking disabled (RFC 4035).
    pub const CD: u16 = 0x0010;
}

/// The first question of a message (later questions, which no server
/// sends in practice, are parsed and not kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Question {
    /// Queried name, in presentation form without the trailing dot.
    pub name: Span,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// The EDNS(0) OPT pseudo-record of a message (RFC 6891).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edns {
    /// Largest UDP payload the sender accepts.
    pub udp_size: u16,
    /// Upper 8 bits of the extended response code.
    pub ext_rcode: u8,
    /// EDNS version.
    pub version: u8,
    /// DNSSEC OK bit.
    pub dnssec_ok: bool,
}

/// Which section of a message a record came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Section {
    /// Answer section.
    #[default]
    Answer,
    /// Authority section.
    Authority,
    /// Additional section.
    Additional,
}

/// Type-specific fields of a record beside its `data` text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Extra {
    /// Nothing beyond `data`.
    #[default]
    None,
    /// MX: `data` is the exchange.
    Mx {
        /// Preference (lower is preferred).
        preference: u16,
    },
    /// SRV: `data` is the target.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
    },
    /// SOA: `data` is the primary name server (MNAME).
    Soa {
        /// Mailbox of the responsible person.
        rname: Span,
        /// Zone serial.
        serial: u32,
        /// Refresh interval (s).
        refresh: u32,
        /// Retry interval (s).
        retry: u32,
        /// Expire limit (s).
        expire: u32,
        /// Negative-caching TTL (s).
        minimum: u32,
    },
    /// DS, CDS, DLV: `data` is the digest in upper-case hex.
    Ds {
        /// Key tag of the referenced DNSKEY.
        key_tag: u16,
        /// DNSSEC algorithm number.
        algorithm: u8,
        /// Digest type number.
        digest_type: u8,
    },
    /// DNSKEY, CDNSKEY: `data` is the public key in base64.
    Dnskey {
        /// Key flags (256 zone key, 257 key-signing key).
        flags: u16,
        /// Protocol (always 3).
        protocol: u8,
        /// DNSSEC algorithm number.
        algorithm: u8,
    },
    /// RRSIG, SIG: `data` is the signature in base64.
    Rrsig {
        /// Type the signature covers.
        type_covered: u16,
        /// DNSSEC algorithm number.
        algorithm: u8,
        /// Labels of the owner name.
        labels: u8,
        /// TTL of the covered records.
        original_ttl: u32,
        /// Expiration, seconds since the epoch (serial arithmetic ignored).
        expiration: u32,
        /// Inception, seconds since the epoch.
        inception: u32,
        /// Key tag of the signing key.
        key_tag: u16,
        /// Signer's name.
        signer: Span,
    },
    /// NSEC: `data` is the next owner name.
    Nsec {
        /// Types present at the owner, space-separated.
        type_bits: Span,
    },
}

impl Extra {
    /// Stores `s` as the field this variant keeps in the text arena
    /// (SOA rname, RRSIG signer, NSEC type list); others ignore it.
    pub fn set_text(&mut self, s: Span) {
        match self {
            Extra::Soa { rname, .. } => *rname = s,
            Extra::Rrsig { signer, .. } => *signer = s,
            Extra::Nsec { type_bits } => *type_bits = s,
            _ => {}
        }
    }

    /// True when this variant keeps a second text field.
    pub fn has_text(&self) -> bool {
        matches!(self, Extra::Soa { .. } | Extra::Rrsig { .. } | Extra::Nsec { .. })
    }
}

/// One kept resource record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Section it came from.
    pub section: Section,
    /// Owner name.
    pub name: Span,
    /// TYPE.
    pub rtype: u16,
    /// CLASS.
    pub class: u16,
    /// TTL in seconds.
    pub ttl: u32,
    /// RDATA in presentation form (see [`Extra`] for what it holds per type).
    pub data: Span,
    /// Type-specific fields.
    pub extra: Extra,
}

/// The DNS section of a transaction: the header, question and records of
/// the response (of the query while no response was seen).
#[derive(Clone, Debug, Default)]
pub struct DnsTxn {
    /// Storage of every text field below.
    pub text: TextBuf<DNS_TEXT_CAP>,
    /// A DNS header was decoded (false for datagrams too short to be DNS).
    pub has_header: bool,
    /// The fields below describe a response.
    pub has_response: bool,
    /// Message ID.
    pub id: u16,
    /// Header flags word (opcode, AA, TC, RD, RA, AD, CD, RCODE).
    pub flags: u16,
    /// Response code, extended by the OPT record's upper bits when present.
    pub rcode: u16,
    /// The question (from the response, or from the query when the
    /// response has none).
    pub question: Option<Question>,
    /// ANCOUNT.
    pub answers_count: u16,
    /// NSCOUNT.
    pub authorities_count: u16,
    /// ARCOUNT without the OPT pseudo-record.
    pub additionals_count: u16,
    /// EDNS information.
    pub opt: Option<Edns>,
    /// Kept records: answers (at most [`MAX_ANSWERS`]), then authorities
    /// and additionals when the configuration asks for them.
    pub records: Vec<Record, MAX_RECORDS>,
    /// Query as text (`send_request`).
    pub request_raw: Span,
    /// Response as text (`send_response`).
    pub response_raw: Span,
}

impl DnsTxn {
    /// Empties every field, keeping the storage (no arena zeroing per
    /// transaction). The pattern lists every field, so a new one cannot be
    /// forgotten here.
    pub fn reset(&mut self) {
        let DnsTxn {
            text,
            has_header,
            has_response,
            id,
            flags,
            rcode,
            question,
            answers_count,
            authorities_count,
            additionals_count,
            opt,
            records,
            request_raw,
            response_raw,
        } = self;
        text.clear();
        *has_header = false;
        *has_response = false;
        *id = 0;
        *flags = 0;
        *rcode = 0;
        *question = None;
        *answers_count = 0;
        *authorities_count = 0;
        *additionals_count = 0;
        *opt = None;
        records.clear();
        *request_raw = Span::EMPTY;
        *response_raw = Span::EMPTY;
    }

    /// Gives `t` an empty DNS section, reusing the one it has.
    pub fn init(t: &mut Transaction) {
        match &mut t.detail {
            Detail::Dns(d) => d.reset(),
            other => *other = Detail::Dns(DnsTxn::default()),
        }
    }

    /// True when a text field was cut to fit, or records were dropped for
    /// lack of room.
    pub fn truncated(&self) -> bool {
        self.text.truncated()
    }

    /// Operation code (4 bits of the header).
    pub fn op_code(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    /// True when header flag `f` (see [`flag`]) is set.
    pub fn flag(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    /// Text of a span.
    pub fn s(&self, span: Span) -> Lossy<'_> {
        self.text.text(span)
    }

    /// The kept records of one section.
    pub fn section(&self, s: Section) -> impl Iterator<Item = &Record> + Clone {
        self.records.iter().filter(move |r| r.section == s)
    }

    /// `"class IN, type A, example.com"`, Packetbeat's `query` field.
    pub fn query(&self) -> Option<QueryText<'_>> {
        self.question.map(|q| QueryText { txn: self, q })
    }
}

/// Packetbeat's `query` text of a question.
pub struct QueryText<'a> {
    txn: &'a DnsTxn,
    q: Question,
}

impl<'a> QueryText<'a> {
    /// The text as stored pieces (`class `, the class, `, type `, the type,
    /// `, `, the name), when both codes have mnemonics: what the JSON
    /// writer copies without `core::fmt`. `None` otherwise (`TYPE65280`:
    /// use the Display).
    pub fn pieces(&self) -> Option<[&'a [u8]; 6]> {
        let class = ClassName(self.q.qclass).mnemonic()?;
        let ty = TypeName(self.q.qtype).mnemonic()?;
        Some([b"class ", class.as_bytes(), b", type ", ty.as_bytes(), b", ", self.txn.text.get(self.q.name)])
    }
}

impl fmt::Display for QueryText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "class {}, type {}, {}", ClassName(self.q.qclass), TypeName(self.q.qtype), self.txn.s(self.q.name))
    }
}

impl Serialize for QueryText<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

macro_rules! code_name {
    ($(#[$m:meta])* $name:ident($t:ty), $fallback:literal, { $($v:literal => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(pub $t);

        impl $name {
            /// The mnemonic, when the code has one.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($s),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.mnemonic() {
                    Some(s) => f.write_str(s),
                    None => write!(f, concat!($fallback, "{}"), self.0),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.mnemonic() {
                    Some(m) => s.serialize_str(m),
                    None => s.collect_str(self),
                }
            }
        }
    };
}

code_name!(
    /// A record type by its mnemonic (`A`, `MX`), or `TYPEn` (RFC 3597).
    TypeName(u16), "TYPE", {
    1 => "A", 2 => "NS", 3 => "MD", 4 => "MF", 5 => "CNAME", 6 => "SOA", 7 => "MB", 8 => "MG",
    9 => "MR", 10 => "NULL", 11 => "WKS", 12 => "PTR", 13 => "HINFO", 14 => "MINFO", 15 => "MX",
    16 => "TXT", 17 => "RP", 18 => "AFSDB", 19 => "X25", 20 => "ISDN", 21 => "RT", 22 => "NSAP",
    23 => "NSAP-PTR", 24 => "SIG", 25 => "KEY", 26 => "PX", 27 => "GPOS", 28 => "AAAA", 29 => "LOC",
    30 => "NXT", 31 => "EID", 32 => "NIMLOC", 33 => "SRV", 34 => "ATMA", 35 => "NAPTR", 36 => "KX",
    37 => "CERT", 38 => "A6", 39 => "DNAME", 40 => "SINK", 41 => "OPT", 42 => "APL", 43 => "DS",
    44 => "SSHFP", 45 => "IPSECKEY", 46 => "RRSIG", 47 => "NSEC", 48 => "DNSKEY", 49 => "DHCID",
    50 => "NSEC3", 51 => "NSEC3PARAM", 52 => "TLSA", 53 => "SMIMEA", 55 => "HIP", 56 => "NINFO",
    57 => "RKEY", 58 => "TALINK", 59 => "CDS", 60 => "CDNSKEY", 61 => "OPENPGPKEY", 62 => "CSYNC",
    63 => "ZONEMD", 64 => "SVCB", 65 => "HTTPS", 99 => "SPF", 100 => "UINFO", 101 => "UID",
    102 => "GID", 103 => "UNSPEC", 104 => "NID", 105 => "L32", 106 => "L64", 107 => "LP",
    108 => "EUI48", 109 => "EUI64", 249 => "TKEY", 250 => "TSIG", 251 => "IXFR", 252 => "AXFR",
    253 => "MAILB", 254 => "MAILA", 255 => "ANY", 256 => "URI", 257 => "CAA", 258 => "AVC",
    259 => "DOA", 260 => "AMTRELAY", 32768 => "TA", 32769 => "DLV",
});

code_name!(
    /// A class by its mnemonic (`IN`), or `CLASSn` (RFC 3597).
    ClassName(u16), "CLASS", {
    1 => "IN", 2 => "CS", 3 => "CH", 4 => "HS", 254 => "NONE", 255 => "ANY",
});

code_name!(
    /// An operation code by its name (`QUERY`), or its number.
    OpCodeName(u8), "", {
    0 => "QUERY", 1 => "IQUERY", 2 => "STATUS", 4 => "NOTIFY", 5 => "UPDATE", 6 => "DSO",
});

code_name!(
    /// A response code by its name (`NXDOMAIN`), or its number.
    RcodeName(u16), "", {
    0 => "NOERROR", 1 => "FORMERR", 2 => "SERVFAIL", 3 => "NXDOMAIN", 4 => "NOTIMP", 5 => "REFUSED",
    6 => "YXDOMAIN", 7 => "YXRRSET", 8 => "NXRRSET", 9 => "NOTAUTH", 10 => "NOTZONE", 11 => "DSOTYPENI",
    16 => "BADVERS", 17 => "BADKEY", 18 => "BADTIME", 19 => "BADMODE", 20 => "BADNAME", 21 => "BADALG",
    22 => "BADTRUNC", 23 => "BADCOOKIE",
});

code_name!(
    /// A DNSSEC algorithm by its mnemonic (RFC 8624 registry), or its number.
    AlgorithmName(u8), "", {
    1 => "RSAMD5", 2 => "DH", 3 => "DSA", 5 => "RSASHA1", 6 => "DSA-NSEC3-SHA1",
    7 => "RSASHA1-NSEC3-SHA1", 8 => "RSASHA256", 10 => "RSASHA512", 12 => "ECC-GOST",
    13 => "ECDSAP256SHA256", 14 => "ECDSAP384SHA384", 15 => "ED25519", 16 => "ED448",
    252 => "INDIRECT", 253 => "PRIVATEDNS", 254 => "PRIVATEOID",
});

code_name!(
    /// A DS digest type by its mnemonic, or its number.
    DigestName(u8), "", {
    1 => "SHA-1", 2 => "SHA-256", 3 => "GOST94", 4 => "SHA-384",
});

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn names() {
        let mut s: heapless::String<32> = heapless::String::new();
        write!(s, "{} {} {} {}", TypeName(15), TypeName(4242), ClassName(1), ClassName(9)).unwrap();
        assert_eq!(s, "MX TYPE4242 IN CLASS9");
        s.clear();
        write!(s, "{} {} {}", RcodeName(3), RcodeName(12), OpCodeName(3)).unwrap();
        assert_eq!(s, "NXDOMAIN 12 3");
    }

    #[test]
    fn fits_in_a_pending_slot() {
        // Pending records are slots of the largest section: DNS must not
        // make them bigger than HTTP does.
        assert!(
            core::mem::size_of::<DnsTxn>() <= core::mem::size_of::<crate::proto::http::HttpTxn>(),
            "DnsTxn {} > HttpTxn {}",
            core::mem::size_of::<DnsTxn>(),
            core::mem::size_of::<crate::proto::http::HttpTxn>()
        );
    }
}
