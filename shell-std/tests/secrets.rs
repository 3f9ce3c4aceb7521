//! Output passwords from a file and from the environment: they work against
//! servers that require them, and they never appear in anything tapbeat
//! prints, even at the most verbose log level and when authentication fails.

mod common;
#[path = "../../tests/src/es_server.rs"]
#[allow(dead_code, missing_docs, clippy::incompatible_msrv)]
mod es_server;
#[path = "../../tests/src/redis_server.rs"]
#[allow(dead_code, missing_docs)]
mod redis_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use common::{bin, config, tmp_dir};
use es_server::{EsServer, State};
use redis_server::{free_port, RedisServer};

const ES_PASSWORD: &str = "es-Pa55word-7f3c";
const REDIS_PASSWORD: &str = "redis-Pa55word-91d2";

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pcaps/recorded/http/ab_keepalive.pcap")
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() { T[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// Neither password, nor the Basic auth header made of one, in `text`.
fn assert_no_secret(what: &str, text: &str) {
    for s in [ES_PASSWORD.to_string(), REDIS_PASSWORD.to_string(), base64(&format!("elastic:{ES_PASSWORD}"))] {
        assert!(!text.contains(&s), "{what} shows a secret:\n{text}");
    }
}

/// A config with both outputs: the Elasticsearch password from a file
/// (with the trailing newline an editor leaves), Redis's from `REDIS_PW`.
fn setup(name: &str, es_url: &str, redis_port: u16) -> PathBuf {
    let dir = tmp_dir(name);
    let pw = dir.join("es-password");
    std::fs::write(&pw, format!("{ES_PASSWORD}\n")).unwrap();
    config(
        &dir,
        &format!(
            "protocols:\n  http:\n    ports: [8088]\noutput:\n  elasticsearch:\n    hosts: [\"{es_url}\"]\n    username: elastic\n    password_file: {}\n    flush_interval: 0.05\n    timeout: 2\n  redis:\n    host: 127.0.0.1\n    port: {redis_port}\n    key: tb\n    password_env: REDIS_PW\n    flush_interval: 0.05\n    timeout: 2\ntapbeat:\n  shutdown_timeout: 1\n",
            pw.display()
        ),
    )
}

fn tapbeat(args: &[&str], redis_pw: &str) -> Output {
    Command::new(bin()).args(args).env("REDIS_PW", redis_pw).output().unwrap()
}

#[test]
fn passwords_from_file_and_environment_work_and_never_show() {
    let state = Arc::new(State::default());
    let srv = EsServer::start(
        "127.0.0.1:0",
        Some(format!("Basic {}", base64(&format!("elastic:{ES_PASSWORD}")))),
        state.clone(),
    );
    let port = free_port();
    let dir = tmp_dir("secrets-redis");
    let redis = RedisServer::start(port, &dir, &["--requirepass", REDIS_PASSWORD]);
    let cfg = setup("secrets-ok", &srv.url(), port);
    let cfg_s = cfg.display().to_string();
    let sample = sample().display().to_string();

    let out = tapbeat(&["-vv", "read", "-c", &cfg_s, &sample], REDIS_PASSWORD);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("DEBUG"), "-vv logs at debug level:\n{stderr}");
    assert!(stderr.contains("output_elasticsearch: sent 50,"), "{stderr}");
    assert!(stderr.contains("output_redis: sent 50,"), "{stderr}");
    assert_eq!(srv.all_docs().len(), 50, "the password from the file was accepted");
    assert_eq!(state.unauthorized.load(std::sync::atomic::Ordering::Relaxed), 0);
    let mut c =
        redis::Client::open(format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
    let n: usize = redis::cmd("LLEN").arg("tb").query(&mut c).unwrap();
    assert_eq!(n, 50, "the password from the environment was accepted");
    assert_no_secret("read -vv stdout", &stdout);
    assert_no_secret("read -vv stderr", &stderr);

    let out = tapbeat(&["-vv", "check-config", "-c", &cfg_s], REDIS_PASSWORD);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert_no_secret("check-config -vv", &all);
    drop(redis);
}

#[test]
fn refused_passwords_are_reported_without_showing_them() {
    // Both servers want other passwords than the ones configured.
    let state = Arc::new(State::default());
    let srv = EsServer::start("127.0.0.1:0", Some("Basic c29tZW9uZTplbHNl".into()), state.clone());
    let port = free_port();
    let dir = tmp_dir("secrets-redis-bad");
    let _redis = RedisServer::start(port, &dir, &["--requirepass", "another-password"]);
    let cfg = setup("secrets-bad", &srv.url(), port);
    let cfg_s = cfg.display().to_string();
    let sample = sample().display().to_string();

    let out = tapbeat(&["-vv", "read", "-c", &cfg_s, &sample], REDIS_PASSWORD);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(stderr.to_lowercase().contains("auth"), "the Redis refusal is logged:\n{stderr}");
    assert!(stderr.contains("output_elasticsearch: sent 0,"), "{stderr}");
    assert!(state.unauthorized.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert_no_secret("read -vv stdout", &stdout);
    assert_no_secret("read -vv stderr", &stderr);

    let out = tapbeat(&["-vv", "check-config", "-c", &cfg_s], REDIS_PASSWORD);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert_no_secret("check-config -vv", &all);
}

#[test]
fn password_sources_are_checked_with_clear_errors() {
    let dir = tmp_dir("secrets-cfg");
    let check = |yaml: &str| {
        let cfg = config(&dir, yaml);
        let out = Command::new(bin()).args(["check-config", "--no-probe", "-c"]).arg(&cfg).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = check("output:\n  redis:\n    password_file: /nonexistent/tapbeat-pw\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("output.redis.password_file: cannot read /nonexistent/tapbeat-pw"), "{err}");
    let (code, err) =
        check(&format!("output:\n  elasticsearch:\n    password: {ES_PASSWORD}\n    password_env: HOME\n"));
    assert_eq!(code, Some(1));
    assert!(err.contains("give only one of password, password_env and password_file"), "{err}");
    assert_no_secret("check-config error", &err);
}
