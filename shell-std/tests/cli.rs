//! The `tapbeat` binary as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tapbeat"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn sample() -> PathBuf {
    repo().join("tests/pcaps/recorded/http/curl_keepalive_mixed.pcap")
}

#[test]
fn reads_a_capture_to_ndjson_with_stats() {
    let out = bin().args(["read", "--ports", "http=8088"]).arg(sample()).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(docs.len(), 6);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("transactions_http: 6"), "{stderr}");
}

#[test]
fn output_file_and_schema_flags() {
    let dir = std::env::temp_dir().join(format!("tapbeat-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("out.ndjson");
    let st = bin()
        .args(["read", "--no-stats", "--schema", "ecs", "--ports", "http=8088", "-o"])
        .arg(&out_file)
        .arg(sample())
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.contains("\"event\":{\"kind\":\"event\""));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn missing_truncated_and_corrupt_files_fail_clearly() {
    let out = bin().args(["read", "/nonexistent.pcap"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.pcap: no such file"));

    let dir = std::env::temp_dir().join(format!("tapbeat-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Cut in the middle of the last packet: what came before is still reported.
    let data = std::fs::read(sample()).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &data[..data.len() - 30]).unwrap();
    let out = bin().args(["read", "--ports", "http=8088"]).arg(&cut).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("truncated or corrupt"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);

    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all").unwrap();
    let out = bin().arg("read").arg(&junk).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a readable pcap"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_config_names_the_key() {
    let dir = std::env::temp_dir().join(format!("tapbeat-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.yml");
    std::fs::write(&cfg, "protocols:\n  http:\n    ports: [80]\n    sned_request: true\n").unwrap();
    let out = bin().args(["check-config", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sned_request") && err.contains("line 4"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn shipped_config_is_valid() {
    let out = bin().args(["check-config", "-c"]).arg(repo().join("tapbeat.yml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("memory_bytes"));
}

#[test]
fn help_documents_every_read_flag() {
    let out = bin().args(["read", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--config", "--ports", "--schema", "--output", "--no-stats"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

fn check(yaml: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("tapbeat-chk-{}-{}", std::process::id(), yaml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = bin().args(["check-config", "-c"]).arg(&cfg).output().unwrap();
    std::fs::remove_dir_all(dir).ok();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_configs_get_clear_messages_and_exit_codes() {
    // Wrong type.
    let (code, err) = check("protocols:\n  http:\n    ports: eighty\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("ports") && err.contains("line 3"), "{err}");
    // Port out of range.
    let (code, err) = check("protocols:\n  redis:\n    ports: [70000]\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("70000") || err.contains("u16"), "{err}");
    // Bad enumerated value.
    let (code, err) = check("output:\n  redis:\n    datatype: queue\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("output.redis.datatype") && err.contains("queue"), "{err}");
    // Missing secret.
    let (code, err) = check("output:\n  redis:\n    password_env: TAPBEAT_NO_SUCH_VARIABLE\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("TAPBEAT_NO_SUCH_VARIABLE"), "{err}");
    // Unreachable outputs: valid config, exit 3, each output named.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, err) = check(&format!(
        "output:\n  redis:\n    host: 127.0.0.1\n    port: {port}\n    timeout: 1\n  elasticsearch:\n    hosts: [\"127.0.0.1:{port}\"]\n    timeout: 1\n"
    ));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("output redis: unreachable") && err.contains("output elasticsearch: unreachable"), "{err}");
}
