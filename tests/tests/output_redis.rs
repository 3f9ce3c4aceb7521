//! The Redis output against a real `redis-server` (started here, on a free
//! loopback port): every transaction of a capture arrives, as a list and on
//! a channel, and also when Redis is down at first or restarted midway.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tapbeat::config::OutputSpec;
use tapbeat::output::redis::{DataType, RedisSettings};
use tapbeat::output::PipelineSettings;
use tapbeat_tests::redis_server::{free_port, RedisServer};
use tapbeat_tests::{http_settings, pcaps};

/// The test's Redis: the shared server helper plus a client.
struct Redis(RedisServer);

impl Redis {
    fn start(port: u16, dir: &Path) -> Redis {
        Redis(RedisServer::start(port, dir, &[]))
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(self.0.url()).unwrap()
    }

    fn stop(self) -> PathBuf {
        self.0.stop()
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tapbeat-redis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// What `tapbeat read` prints for the sample capture.
fn expected() -> Vec<String> {
    let mut out = Vec::new();
    tapbeat::read::read_files(&[sample()], &http_settings(&[8088]), &mut out).unwrap();
    String::from_utf8(out).unwrap().lines().map(str::to_string).collect()
}

fn sample() -> PathBuf {
    pcaps().join("recorded/http/ab_keepalive.pcap")
}

fn settings_with(port: u16, datatype: DataType, key: &str) -> tapbeat::Settings {
    let mut s = http_settings(&[8088]);
    let ps = PipelineSettings {
        batch: 7,
        flush_interval: Duration::from_millis(20),
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..Default::default()
    };
    s.outputs = vec![OutputSpec::Redis(
        RedisSettings {
            addr: format!("127.0.0.1:{port}"),
            key: key.into(),
            datatype,
            db: 0,
            password: None,
            timeout: Duration::from_secs(2),
        },
        ps,
    )];
    s.shutdown_timeout = Duration::from_secs(20);
    s
}

fn read_to_outputs(s: &tapbeat::Settings) -> Vec<String> {
    let mut fan = tapbeat::read::start_outputs(s, true).unwrap();
    let sum = tapbeat::read::read_files(&[sample()], s, &mut fan).unwrap();
    assert_eq!(sum.output.documents, 50);
    fan.shutdown(s.shutdown_timeout)
}

#[test]
fn list_receives_every_document() {
    let port = free_port();
    let r = Redis::start(port, &tmp("list"));
    let lines = read_to_outputs(&settings_with(port, DataType::List, "tb"));
    assert!(lines[0].contains("sent 50,"), "{lines:?}");
    let mut c = r.client().get_connection().unwrap();
    let got: Vec<String> = redis::cmd("LRANGE").arg("tb").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(got, expected());
}

#[test]
fn channel_receives_every_document() {
    let port = free_port();
    let r = Redis::start(port, &tmp("chan"));
    let client = r.client();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut sub = client.get_connection().unwrap();
        let mut pubsub = sub.as_pubsub();
        pubsub.subscribe("tbc").unwrap();
        pubsub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        while got.len() < 50 {
            match pubsub.get_message() {
                Ok(m) => got.push(m.get_payload::<String>().unwrap()),
                Err(_) => break,
            }
        }
        got
    });
    ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    read_to_outputs(&settings_with(port, DataType::Channel, "tbc"));
    assert_eq!(reader.join().unwrap(), expected());
}

#[test]
fn redis_down_at_start_then_restarted_midway_loses_nothing() {
    use tapbeat::output::{redis::RedisOutput, Pipeline};
    let port = free_port();
    let dir = tmp("restart");
    let OutputSpec::Redis(rs, ps) = settings_with(port, DataType::List, "tbr").outputs.remove(0) else {
        unreachable!()
    };
    let p = Pipeline::start(Box::new(RedisOutput::new(rs)), ps);
    let docs: Vec<String> = (0..300).map(|i| format!("{{\"n\":{i}}}")).collect();
    let mut redis = None;
    for (i, d) in docs.iter().enumerate() {
        match i {
            // Down at first: documents queue while the output retries.
            50 => redis = Some(Redis::start(port, &dir)),
            // Restarted while documents keep flowing.
            150 => {
                let dir = redis.take().unwrap().stop();
                std::thread::sleep(Duration::from_millis(100));
                redis = Some(Redis::start(port, &dir));
            }
            _ => {}
        }
        p.submit(format!("{d}\n").into_bytes());
        std::thread::sleep(Duration::from_millis(2));
    }
    let c = p.shutdown(Instant::now() + Duration::from_secs(20));
    use std::sync::atomic::Ordering;
    assert_eq!(c.dropped_queue_full.load(Ordering::Relaxed) + c.dropped_at_shutdown.load(Ordering::Relaxed), 0);
    assert!(c.send_errors.load(Ordering::Relaxed) > 0, "the outage was seen");
    let r = redis.unwrap();
    let mut conn = r.client().get_connection().unwrap();
    let got: Vec<String> = redis::cmd("LRANGE").arg("tbr").arg(0).arg(-1).query(&mut conn).unwrap();
    // A batch written just before a failure was reported may be sent again
    // (at-least-once): every document is there, in order, none lost.
    let mut it = got.iter();
    let missing: Vec<&String> = docs.iter().filter(|w| !it.any(|g| g == *w)).collect();
    assert!(missing.is_empty(), "{} missing, e.g. {:?}", missing.len(), missing.first());
    assert!(got.len() <= docs.len() + 2 * 7, "duplicates are bounded by retried batches: {}", got.len());
}
