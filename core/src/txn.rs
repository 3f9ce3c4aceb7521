//! The transaction model: one request paired with its response, with the
//! fields every protocol shares and one protocol-specific section.

use core::net::{IpAddr, Ipv4Addr};

use crate::proto::http::HttpTxn;
use crate::time::Timestamp;

/// Application protocols the kernel knows. The numeric value indexes
/// per-protocol counters in [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Protocol {
    /// HTTP/1.x.
    Http = 0,
    /// DNS.
    Dns = 1,
    /// ICMP v4/v6.
    Icmp = 2,
    /// Redis (RESP).
    Redis = 3,
    /// Memcache text/binary.
    Memcache = 4,
    /// MySQL/MariaDB.
    Mysql = 5,
    /// PostgreSQL.
    Pgsql = 6,
    /// Thrift-RPC.
    Thrift = 7,
    /// MongoDB.
    Mongodb = 8,
}

impl Protocol {
    /// Number of protocols.
    pub const COUNT: usize = 9;
    /// Every protocol, in counter order.
    pub const ALL: [Protocol; Self::COUNT] = [
        Protocol::Http,
        Protocol::Dns,
        Protocol::Icmp,
        Protocol::Redis,
        Protocol::Memcache,
        Protocol::Mysql,
        Protocol::Pgsql,
        Protocol::Thrift,
        Protocol::Mongodb,
    ];

    /// The `type` field value (Packetbeat's protocol names).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Dns => "dns",
            Protocol::Icmp => "icmp",
            Protocol::Redis => "redis",
            Protocol::Memcache => "memcache",
            Protocol::Mysql => "mysql",
            Protocol::Pgsql => "pgsql",
            Protocol::Thrift => "thrift",
            Protocol::Mongodb => "mongodb",
        }
    }

    /// Parses a protocol name as used in configs (`http`, `pgsql`, ...).
    pub fn from_name(s: &str) -> Option<Protocol> {
        Self::ALL.iter().copied().find(|p| p.name() == s)
    }

    /// Name of the per-protocol transaction counter in stats output.
    pub fn transactions_counter_name(self) -> &'static str {
        match self {
            Protocol::Http => "transactions_http",
            Protocol::Dns => "transactions_dns",
            Protocol::Icmp => "transactions_icmp",
            Protocol::Redis => "transactions_redis",
            Protocol::Memcache => "transactions_memcache",
            Protocol::Mysql => "transactions_mysql",
            Protocol::Pgsql => "transactions_pgsql",
            Protocol::Thrift => "transactions_thrift",
            Protocol::Mongodb => "transactions_mongodb",
        }
    }
}

/// Transport of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Carried directly over IP (ICMP).
    Ip,
}

impl Transport {
    /// Field value (`tcp`, `udp`, `ip`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Ip => "ip",
        }
    }
}

/// Outcome of a transaction, as in Packetbeat's `status` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The request succeeded.
    Ok,
    /// The request failed, or no response was seen.
    Error,
    /// The client made an error (HTTP 4xx in Packetbeat ≥ 1.2 terms).
    ClientError,
    /// The server failed (HTTP 5xx).
    ServerError,
}

impl Status {
    /// Field value.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "Error",
            Status::ClientError => "Client Error",
            Status::ServerError => "Server Error",
        }
    }
}

/// Notes attached to a transaction: what went wrong or is incomplete.
/// A bit set, so that it has a fixed size and a fixed output order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notes(u32);

impl Notes {
    /// Bytes of the request were lost in capture.
    pub const REQUEST_GAP: Notes = Notes(1 << 0);
    /// Bytes of the response were lost in capture.
    pub const RESPONSE_GAP: Notes = Notes(1 << 1);
    /// No response arrived within `transaction_timeout`, or before the
    /// connection closed or was evicted.
    pub const NO_RESPONSE: Notes = Notes(1 << 2);
    /// A response arrived for which no request had been seen.
    pub const NO_REQUEST: Notes = Notes(1 << 3);
    /// Some text fields were cut to fit their fixed capacity.
    pub const TRUNCATED: Notes = Notes(1 << 4);
    /// The flow was evicted from a full flow table while this was open.
    pub const FLOW_EVICTED: Notes = Notes(1 << 5);
    /// The pending-transaction pool was full and this record was the oldest.
    pub const PENDING_EVICTED: Notes = Notes(1 << 6);
    /// The request could not be parsed completely.
    pub const REQUEST_MALFORMED: Notes = Notes(1 << 7);
    /// The response could not be parsed completely.
    pub const RESPONSE_MALFORMED: Notes = Notes(1 << 8);
    /// The connection closed before the response was complete.
    pub const RESPONSE_INCOMPLETE: Notes = Notes(1 << 9);

    const TEXTS: [(Notes, &'static str); 10] = [
        (Notes::REQUEST_GAP, "Packet loss while capturing the request"),
        (Notes::RESPONSE_GAP, "Packet loss while capturing the response"),
        (Notes::NO_RESPONSE, "Unmatched request"),
        (Notes::NO_REQUEST, "Unmatched response"),
        (Notes::TRUNCATED, "Fields truncated to their fixed capacity"),
        (Notes::FLOW_EVICTED, "Flow evicted from a full flow table"),
        (Notes::PENDING_EVICTED, "Evicted from a full transaction pool"),
        (Notes::REQUEST_MALFORMED, "Malformed request"),
        (Notes::RESPONSE_MALFORMED, "Malformed response"),
        (Notes::RESPONSE_INCOMPLETE, "Connection closed before the response was complete"),
    ];

    /// No notes.
    pub const fn empty() -> Notes {
        Notes(0)
    }
    /// True when no note is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// True when every note of `other` is set.
    pub const fn contains(self, other: Notes) -> bool {
        self.0 & other.0 == other.0
    }
    /// Sets the notes of `other`.
    pub fn insert(&mut self, other: Notes) {
        self.0 |= other.0;
    }
    /// The texts of the set notes, in a fixed order.
    pub fn texts(self) -> impl Iterator<Item = &'static str> {
        Self::TEXTS.iter().filter(move |(n, _)| self.contains(*n)).map(|(_, t)| *t)
    }
}

/// One side of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address.
    pub ip: IpAddr,
    /// Port (0 for ICMP).
    pub port: u16,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint { ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED), port: 0 }
    }
}

/// The protocol-specific part of a transaction. Variants differ in size by
/// design: records are fixed-size pool slots sized for the largest one.
#[derive(Clone, Debug, Default)]
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum Detail {
    /// No section (a record not yet claimed by an analyzer).
    #[default]
    None,
    /// HTTP fields.
    Http(HttpTxn),
    /// DNS fields.
    Dns(crate::proto::dns::DnsTxn),
    /// ICMP fields.
    Icmp(crate::proto::icmp::IcmpTxn),
    /// Redis fields.
    Redis(crate::proto::redis::RedisTxn),
    /// Memcache fields.
    Memcache(crate::proto::memcache::MemcacheTxn),
    /// MySQL fields.
    Mysql(crate::proto::mysql::MysqlTxn),
    /// PostgreSQL fields.
    Pgsql(crate::proto::pgsql::PgsqlTxn),
    /// MongoDB fields.
    Mongodb(crate::proto::mongodb::MongodbTxn),
    /// Thrift fields.
    Thrift(crate::proto::thrift::ThriftTxn),
}

/// A request paired with its response (or a request or response reported
/// alone, with notes saying why). Every field has a fixed capacity.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// Time of the first packet of the request (of the response when there
    /// is no request).
    pub ts: Timestamp,
    /// Time of the first packet of the response, if one was seen.
    pub response_ts: Option<Timestamp>,
    /// Application protocol.
    pub protocol: Protocol,
    /// Transport.
    pub transport: Transport,
    /// Outcome.
    pub status: Status,
    /// The side that sent the request.
    pub client: Endpoint,
    /// The side that answered.
    pub server: Endpoint,
    /// Application-layer bytes of the request, as seen on the wire.
    pub bytes_in: u64,
    /// Application-layer bytes of the response, as seen on the wire.
    pub bytes_out: u64,
    /// What went wrong or is incomplete.
    pub notes: Notes,
    /// Protocol section.
    pub detail: Detail,
}

impl Default for Transaction {
    fn default() -> Self {
        Transaction {
            ts: Timestamp::ZERO,
            response_ts: None,
            protocol: Protocol::Http,
            transport: Transport::Tcp,
            status: Status::Ok,
            client: Endpoint::default(),
            server: Endpoint::default(),
            bytes_in: 0,
            bytes_out: 0,
            notes: Notes::empty(),
            detail: Detail::None,
        }
    }
}

impl Transaction {
    /// Resets the common fields for a new transaction, leaving the protocol
    /// section's storage for the analyzer to reset (it is large).
    pub fn reset_common(&mut self) {
        let Transaction {
            ts,
            response_ts,
            protocol,
            transport,
            status,
            client,
            server,
            bytes_in,
            bytes_out,
            notes,
            detail: _,
        } = self;
        *ts = Timestamp::ZERO;
        *response_ts = None;
        *protocol = Protocol::Http;
        *transport = Transport::Tcp;
        *status = Status::Ok;
        *client = Endpoint::default();
        *server = Endpoint::default();
        *bytes_in = 0;
        *bytes_out = 0;
        *notes = Notes::empty();
    }

    /// Response time in milliseconds (response minus request timestamp),
    /// when both were seen.
    pub fn responsetime_ms(&self) -> Option<u64> {
        if self.notes.contains(Notes::NO_REQUEST) {
            return None;
        }
        self.response_ts.map(|r| r.since(self.ts).as_millis())
    }

    /// Response time in microseconds.
    pub fn responsetime_us(&self) -> Option<u64> {
        if self.notes.contains(Notes::NO_REQUEST) {
            return None;
        }
        self.response_ts.map(|r| r.since(self.ts).as_micros())
    }

    /// True when a text field of the protocol section was cut.
    pub fn truncated(&self) -> bool {
        match &self.detail {
            Detail::None => false,
            Detail::Http(h) => h.text.truncated(),
            Detail::Dns(x) => x.truncated(),
            Detail::Icmp(x) => x.truncated(),
            Detail::Redis(x) => x.truncated(),
            Detail::Memcache(x) => x.truncated(),
            Detail::Mysql(x) => x.truncated(),
            Detail::Pgsql(x) => x.truncated(),
            Detail::Mongodb(x) => x.truncated(),
            Detail::Thrift(x) => x.truncated(),
        }
    }
}
