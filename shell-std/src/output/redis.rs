//! The Redis output: the Logstash queue path. Each batch is one `RPUSH key
//! doc...` (list) or a pipeline of `PUBLISH key doc` (channel). A failed
//! batch drops the connection; the next attempt reconnects (the pipeline
//! retries with backoff).

use std::io;
use std::time::Duration;

use super::Output;

/// `datatype`: where documents go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `RPUSH` onto a list.
    List,
    /// `PUBLISH` on a channel.
    Channel,
}

/// Redis output settings.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `host:port`.
    pub addr: String,
    /// List or channel name.
    pub key: String,
    /// List or channel.
    pub datatype: DataType,
    /// Database number.
    pub db: i64,
    /// Password (never logged: its `Debug` is redacted).
    pub password: Option<super::secret::Secret>,
    /// Connect and I/O timeout.
    pub timeout: Duration,
}

/// The Redis output.
pub struct RedisOutput {
    s: RedisSettings,
    conn: Option<redis::Connection>,
}

fn io_err(e: redis::RedisError) -> io::Error {
    io::Error::other(format!("redis: {e}"))
}

impl RedisOutput {
    /// An output that connects on first use.
    pub fn new(s: RedisSettings) -> RedisOutput {
        RedisOutput { s, conn: None }
    }

    fn connect(&mut self) -> io::Result<&mut redis::Connection> {
        if self.conn.is_none() {
            let (host, port) = self.s.addr.rsplit_once(':').unwrap_or((self.s.addr.as_str(), "6379"));
            let port: u16 =
                port.parse().map_err(|_| io::Error::other(format!("bad redis port in '{}'", self.s.addr)))?;
            let mut rinfo = redis::RedisConnectionInfo::default().set_db(self.s.db);
            if let Some(pw) = &self.s.password {
                rinfo = rinfo.set_password(pw.expose());
            }
            let info =
                redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp(host.to_string(), port))
                    .map_err(io_err)?
                    .set_redis_settings(rinfo);
            let client = redis::Client::open(info).map_err(io_err)?;
            let c = client.get_connection_with_timeout(self.s.timeout).map_err(io_err)?;
            c.set_read_timeout(Some(self.s.timeout)).map_err(io_err)?;
            c.set_write_timeout(Some(self.s.timeout)).map_err(io_err)?;
            self.conn = Some(c);
        }
        self.conn.as_mut().ok_or_else(|| io::Error::other("redis: not connected"))
    }
}

fn strip_nl(d: &[u8]) -> &[u8] {
    d.strip_suffix(b"\n").unwrap_or(d)
}

impl Output for RedisOutput {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let key = self.s.key.clone();
        let datatype = self.s.datatype;
        let conn = self.connect()?;
        let r: redis::RedisResult<()> = match datatype {
            DataType::List => {
                let mut cmd = redis::cmd("RPUSH");
                cmd.arg(&key);
                for d in batch {
                    cmd.arg(strip_nl(d));
                }
                cmd.query(conn)
            }
            DataType::Channel => {
                let mut pipe = redis::pipe();
                for d in batch {
                    pipe.cmd("PUBLISH").arg(&key).arg(strip_nl(d)).ignore();
                }
                pipe.query(conn)
            }
        };
        if let Err(e) = r {
            self.conn = None;
            return Err(io_err(e));
        }
        Ok(0)
    }
    fn close(&mut self) -> io::Result<()> {
        self.conn = None;
        Ok(())
    }
    fn probe(&mut self) -> io::Result<()> {
        let conn = self.connect()?;
        redis::cmd("PING").query::<String>(conn).map_err(io_err)?;
        Ok(())
    }
}
