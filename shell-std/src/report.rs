//! The stats summary printed at the end of a run.

use std::fmt::Write as _;

use tapbeat_core::Stats;

/// Counters of the output side.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutputStats {
    /// Documents written.
    pub documents: u64,
    /// Documents too large for the serialisation buffer (skipped).
    pub oversize: u64,
    /// Documents whose write failed.
    pub write_errors: u64,
}

impl OutputStats {
    /// Adds another worker's counters to these.
    pub fn add(&mut self, other: &OutputStats) {
        self.documents += other.documents;
        self.oversize += other.oversize;
        self.write_errors += other.write_errors;
    }
}

/// A multi-line summary: every non-zero engine counter, then the output's.
pub fn summary(engine: &Stats, out: &OutputStats) -> String {
    let mut s = String::from("tapbeat stats:\n");
    engine.for_each(|name, v| {
        if v != 0 {
            let _ = writeln!(s, "  {name}: {v}");
        }
    });
    let _ = writeln!(s, "  documents_written: {}", out.documents);
    if out.oversize != 0 {
        let _ = writeln!(s, "  documents_oversize: {}", out.oversize);
    }
    if out.write_errors != 0 {
        let _ = writeln!(s, "  documents_write_errors: {}", out.write_errors);
    }
    s
}

/// This process's peak resident memory in KiB (`VmHWM` of
/// `/proc/self/status`), or `None` where that file is missing. Counted
/// from this program's own start: a parent's memory does not show in it,
/// as it can in a child's `ru_maxrss`.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}
