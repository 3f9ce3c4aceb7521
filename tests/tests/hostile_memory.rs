//! Memory stays within the configured bound under a flood: the peak RSS of
//! the real `tapbeat read` binary (default settings) on the biggest hostile
//! captures is within a few MB of its peak on a small normal capture. Every
//! table is allocated at start-up, so a flood can only evict, never grow.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tapbeat_tests::{hostile, pcaps};

/// Most the peak RSS may grow over the small capture's, in KiB.
const SLACK_KIB: i64 = 4 * 1024;

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

/// Runs `tapbeat read FILE` to the end; returns its peak RSS in KiB (from
/// the kernel's accounting of that one child, `wait4`).
// The child is reaped by `wait4` (which also gives its rusage), not `wait`.
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(bin: &Path, file: &Path, args: &[&str]) -> i64 {
    let child = Command::new(bin)
        .arg("read")
        .args(args)
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tapbeat");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain FFI call with valid pointers to locals; `child` is not
    // waited for elsewhere, so the pid is still ours to reap.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "tapbeat read {} failed: {status}",
        file.display()
    );
    usage.ru_maxrss
}

#[test]
fn floods_do_not_grow_memory_beyond_a_normal_capture() {
    let bin = tapbeat_binary();
    let dir = std::env::temp_dir().join(format!("tapbeat-hostile-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The tables `tapbeat check-config` reports, plus the program itself.
    let bound_kib = (tapbeat::Settings::default().sizes.bytes() / 1024) as i64 + 16 * 1024;
    let normal = peak_rss_kib(&bin, &pcaps().join("packetbeat/http_post.pcap"), &[]);
    let mut report = vec![format!("normal capture: {normal} KiB")];
    for h in [hostile::syn_flood(), hostile::fragment_flood(), hostile::http_huge_headers()] {
        let p = h.save(&dir).unwrap();
        let peak = peak_rss_kib(&bin, &p, &[]);
        report.push(format!("{}: {peak} KiB ({:+} KiB)", h.name, peak - normal));
        assert!(peak - normal < SLACK_KIB, "{}", report.join("; "));
        assert!(peak < bound_kib, "over the configured tables plus 16 MiB: {}", report.join("; "));
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
