//! Kernel configuration: which ports carry which protocol, per-protocol
//! options, and the timeouts and bounds of reassembly.
//!
//! Every list has a fixed capacity (`MAX_*` below); the std shell rejects a
//! config that exceeds one with an error naming the key.

use heapless::{String, Vec};

use crate::proto::dns::DnsConfig;
use crate::proto::http::HttpConfig;
use crate::proto::icmp::IcmpConfig;
use crate::proto::memcache::MemcacheConfig;
use crate::proto::mongodb::MongodbConfig;
use crate::proto::mysql::MysqlConfig;
use crate::proto::pgsql::PgsqlConfig;
use crate::proto::redis::RedisConfig;
use crate::proto::thrift::ThriftConfig;
use crate::time::Duration;
use crate::txn::Protocol;

/// Most ports one protocol can be configured on.
pub const MAX_PORTS: usize = 16;
/// Longest name (header name, content type, keyword) in a config list.
pub const MAX_NAME: usize = 64;
/// Most entries in a config list of names.
pub const MAX_NAMES: usize = 16;

/// A bounded list of ports.
pub type Ports = Vec<u16, MAX_PORTS>;
/// A bounded name.
pub type Name = String<MAX_NAME>;
/// A bounded list of names.
pub type Names = Vec<Name, MAX_NAMES>;

/// Options every protocol has (Packetbeat's `ProtocolCommon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Common {
    /// Whether the analyzer runs.
    pub enabled: bool,
    /// Server ports that select this protocol.
    pub ports: Ports,
    /// Keep the raw request text (bounded) in `request`.
    pub send_request: bool,
    /// Keep the raw response text (bounded) in `response`.
    pub send_response: bool,
    /// Unanswered requests are reported after this long.
    pub transaction_timeout: Duration,
}

impl Common {
    /// Enabled on `ports`, other options at Packetbeat's defaults.
    pub fn on_ports(ports: &[u16]) -> Common {
        let mut p = Ports::new();
        for &x in ports.iter().take(MAX_PORTS) {
            let _ = p.push(x);
        }
        Common {
            enabled: true,
            ports: p,
            send_request: false,
            send_response: false,
            transaction_timeout: Duration::from_secs(10),
        }
    }
}

/// The kernel's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// HTTP analyzer options.
    pub http: HttpConfig,
    /// DNS analyzer options.
    pub dns: DnsConfig,
    /// ICMP analyzer options (no ports: ICMP is recognised by IP protocol).
    pub icmp: IcmpConfig,
    /// Redis analyzer options.
    pub redis: RedisConfig,
    /// Memcache analyzer options.
    pub memcache: MemcacheConfig,
    /// MySQL analyzer options.
    pub mysql: MysqlConfig,
    /// PostgreSQL analyzer options.
    pub pgsql: PgsqlConfig,
    /// MongoDB analyzer options.
    pub mongodb: MongodbConfig,
    /// Thrift analyzer options.
    pub thrift: ThriftConfig,
    /// A flow with no packets for this long is closed (its pending requests
    /// are reported). Default 60 s.
    pub flow_timeout: Duration,
    /// Incomplete IP fragment sets are dropped after this long. Default 30 s.
    pub defrag_timeout: Duration,
    /// Most out-of-order TCP payload bytes buffered per direction before
    /// the hole is declared a gap. Default 256 KiB.
    pub max_ooo_bytes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http: HttpConfig::default(),
            dns: DnsConfig::default(),
            icmp: IcmpConfig::default(),
            redis: RedisConfig::default(),
            memcache: MemcacheConfig::default(),
            mysql: MysqlConfig::default(),
            pgsql: PgsqlConfig::default(),
            mongodb: MongodbConfig::default(),
            thrift: ThriftConfig::default(),
            flow_timeout: Duration::from_secs(60),
            defrag_timeout: Duration::from_secs(30),
            max_ooo_bytes: 256 * 1024,
        }
    }
}

impl Config {
    /// The protocol configured for server port `port`, if any. Protocols
    /// are tried in a fixed order, so a port given to two protocols goes to
    /// the first (HTTP, DNS, Redis, Memcache, MySQL, PostgreSQL, MongoDB, Thrift).
    pub fn protocol_for_port(&self, port: u16) -> Option<Protocol> {
        [
            Protocol::Http,
            Protocol::Dns,
            Protocol::Redis,
            Protocol::Memcache,
            Protocol::Mysql,
            Protocol::Pgsql,
            Protocol::Mongodb,
            Protocol::Thrift,
        ]
        .into_iter()
        .find(|p| self.common(*p).is_some_and(|c| c.enabled && c.ports.contains(&port)))
    }

    /// The options shared by every protocol, for `p` (`None` when `p` has
    /// no analyzer in this build).
    pub fn common(&self, p: Protocol) -> Option<&Common> {
        match p {
            Protocol::Http => Some(&self.http.common),
            Protocol::Dns => Some(&self.dns.common),
            Protocol::Icmp => Some(&self.icmp.common),
            Protocol::Redis => Some(&self.redis.common),
            Protocol::Memcache => Some(&self.memcache.common),
            Protocol::Mysql => Some(&self.mysql.common),
            Protocol::Pgsql => Some(&self.pgsql.common),
            Protocol::Mongodb => Some(&self.mongodb.common),
            Protocol::Thrift => Some(&self.thrift.common),
        }
    }

    /// The options shared by every protocol, for `p`, mutably.
    pub fn common_mut(&mut self, p: Protocol) -> Option<&mut Common> {
        match p {
            Protocol::Http => Some(&mut self.http.common),
            Protocol::Dns => Some(&mut self.dns.common),
            Protocol::Icmp => Some(&mut self.icmp.common),
            Protocol::Redis => Some(&mut self.redis.common),
            Protocol::Memcache => Some(&mut self.memcache.common),
            Protocol::Mysql => Some(&mut self.mysql.common),
            Protocol::Pgsql => Some(&mut self.pgsql.common),
            Protocol::Mongodb => Some(&mut self.mongodb.common),
            Protocol::Thrift => Some(&mut self.thrift.common),
        }
    }

    /// Replaces the ports of protocol `p` and enables it (disables it when
    /// `ports` is empty). Returns `false` when `p` has no analyzer in this
    /// build or too many ports were given.
    pub fn set_ports(&mut self, p: Protocol, ports: &[u16]) -> bool {
        if ports.len() > MAX_PORTS {
            return false;
        }
        let Some(common) = self.common_mut(p) else {
            return false;
        };
        common.ports.clear();
        for &x in ports {
            let _ = common.ports.push(x);
        }
        common.enabled = !ports.is_empty();
        true
    }

    /// Turns every analyzer off (then enable the wanted ones).
    pub fn disable_all(&mut self) {
        for p in Protocol::ALL {
            if let Some(c) = self.common_mut(p) {
                c.enabled = false;
            }
        }
    }

    /// Longest transaction timeout of any enabled protocol.
    pub fn max_transaction_timeout(&self) -> Duration {
        Protocol::ALL
            .iter()
            .filter_map(|p| self.common(*p))
            .filter(|c| c.enabled)
            .map(|c| c.transaction_timeout)
            .max()
            .unwrap_or(Duration::from_secs(10))
    }
}

/// Builds a [`Name`] from `s`, `None` when it is longer than [`MAX_NAME`].
pub fn name(s: &str) -> Option<Name> {
    let mut n = Name::new();
    n.push_str(s).ok()?;
    Some(n)
}
