//! Memory stays within the configured bound under a flood: the peak RSS of
//! the real `tapbeat read` binary on the biggest hostile captures never
//! passes its configured tables plus a small constant. The tables are
//! allocated at start-up and touched only as they are used, so a small
//! capture costs little memory and a flood fills them, then evicts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tapbeat_tests::{hostile, pcaps};

/// Most the peak RSS may grow over the small capture's beyond the tables
/// a flood fills, in KiB: the reader's queue of frame batches for the
/// worker (a long capture fills it; a small one does not), and 4 MiB.
const SLACK_KIB: i64 = (tapbeat::workers::QUEUE_BATCHES * tapbeat::workers::BATCH_BYTES / 1024) as i64 + 4 * 1024;

/// The `tapbeat` binary of this build profile. `cargo test --workspace`
/// (the test command) builds it; when it is missing (`cargo test -p
/// tapbeat-tests` alone), it is built here.
fn tapbeat_binary() -> PathBuf {
    // This test runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = profile_dir.join("tapbeat");
    if !bin.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "tapbeat", "--bin", "tapbeat"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        assert!(build.status().expect("run cargo build").success(), "cargo build -p tapbeat failed");
    }
    bin
}

/// Runs `tapbeat read -v FILE` to the end; returns its peak RSS in KiB as
/// the program reports it (`peak_rss_kib`, its own `VmHWM`). A child's
/// `ru_maxrss` would not do: a spawned child starts as a copy of this test
/// process, whose resident memory (the generated captures) it inherits.
fn peak_rss_kib(bin: &Path, file: &Path, args: &[&str]) -> i64 {
    let out = Command::new(bin)
        .args(["read", "-v"])
        .args(args)
        .arg(file)
        .args(["-o", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run tapbeat");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tapbeat read {} failed: {}\n{log}", file.display(), out.status);
    log.split("peak_rss_kib=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak_rss_kib in the log of tapbeat read -v:\n{log}"))
}

#[test]
fn floods_do_not_grow_memory_beyond_the_configured_tables() {
    let bin = tapbeat_binary();
    let dir = std::env::temp_dir().join(format!("tapbeat-hostile-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The tables `tapbeat check-config` reports, plus the program itself.
    let tables_kib = (tapbeat::Settings::default().sizes.bytes() / 1024) as i64;
    let bound_kib = tables_kib + 16 * 1024;
    let normal = peak_rss_kib(&bin, &pcaps().join("packetbeat/http_post.pcap"), &[]);
    let mut report = vec![format!("normal capture: {normal} KiB (tables {tables_kib} KiB)")];
    // A few connections touch a few table elements, not the whole tables.
    assert!(normal < tables_kib / 4, "{}", report.join("; "));
    // With small tables, a flood far larger than them costs at most them.
    let small = dir.join("small-tables.yml");
    std::fs::write(&small, "tapbeat:\n  flows: 4096\n  stream_blocks: 256\n  pending: 256\n  fragments: 8\n").unwrap();
    let small_kib =
        (tapbeat_core::engine::StorageSizes { flows: 4096, blocks: 256, pending: 256, frags: 8 }.bytes() / 1024) as i64;
    for h in [hostile::syn_flood(), hostile::fragment_flood(), hostile::http_huge_headers()] {
        let p = h.save(&dir).unwrap();
        let peak = peak_rss_kib(&bin, &p, &[]);
        report.push(format!("{}: {peak} KiB ({:+} KiB)", h.name, peak - normal));
        assert!(peak < bound_kib, "over the configured tables plus 16 MiB: {}", report.join("; "));
        let peak_small = peak_rss_kib(&bin, &p, &["-c", small.to_str().unwrap()]);
        report.push(format!("{} with {small_kib} KiB of tables: {peak_small} KiB", h.name));
        assert!(peak_small - normal < small_kib + SLACK_KIB, "{}", report.join("; "));
    }
    println!("peak RSS of tapbeat read: {}", report.join("; "));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// More analysis workers split the configured tables instead of each
/// allocating them: four workers take about the memory of one (before,
/// three more copies of the ~75 MB of tables).
#[test]
fn workers_share_the_configured_tables() {
    let bin = tapbeat_binary();
    let file = pcaps().join("packetbeat/http_post.pcap");
    let one = peak_rss_kib(&bin, &file, &["--workers", "1"]);
    let four = peak_rss_kib(&bin, &file, &["--workers", "4"]);
    // Threads, their stacks and first batches, not tables.
    assert!(four - one < 16 * 1024, "--workers 1: {one} KiB, --workers 4: {four} KiB");
    println!("peak RSS of tapbeat read: --workers 1 {one} KiB, --workers 4 {four} KiB");
}
