//! `tapbeat read`'s output side: each analysis worker hands its documents
//! to the shared writer in chunks. Every document reaches the writer, in the
//! single-threaded order with one worker, and a writer that fails (on a
//! write or only on the final flush) makes the read fail.

use std::io;

use tapbeat::output::DocWriter;
use tapbeat::read::{read_files, read_files_with_workers};

fn capture() -> std::path::PathBuf {
    tapbeat_tests::pcaps().join("recorded/redis/pipelined.pcap")
}

fn settings() -> tapbeat::config::Settings {
    tapbeat_tests::settings_for(tapbeat_core::Protocol::Redis, &[6390])
}

/// Takes documents until `accept` of them were written, then fails; its
/// flush fails when `flush_fails`.
struct Failing {
    docs: Vec<Vec<u8>>,
    accept: usize,
    flush_fails: bool,
}

impl DocWriter for Failing {
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()> {
        if self.docs.len() >= self.accept {
            return Err(io::Error::other("disk full (test)"));
        }
        self.docs.push(line.to_vec());
        Ok(())
    }
    fn flush_docs(&mut self) -> io::Result<()> {
        if self.flush_fails {
            return Err(io::Error::other("flush failed (test)"));
        }
        Ok(())
    }
}

fn lines(out: &[u8]) -> Vec<&[u8]> {
    out.split_inclusive(|&b| b == b'\n').collect()
}

#[test]
fn every_document_arrives_in_order_with_one_worker_and_all_of_them_with_more() {
    let mut one = Vec::new();
    let sum = read_files(&[capture()], &settings(), &mut one).unwrap();
    let docs = lines(&one);
    // More documents than one chunk holds, so the chunks are reused.
    assert!(one.len() > 600 << 10, "capture too small to fill chunks: {} bytes", one.len());
    assert_eq!(sum.output.documents, docs.len() as u64);
    assert_eq!(sum.output.write_errors, 0);

    // Documents handed over one at a time arrive in the same order.
    let mut each = Failing { docs: Vec::new(), accept: usize::MAX, flush_fails: false };
    read_files(&[capture()], &settings(), &mut each).unwrap();
    assert_eq!(each.docs.len(), docs.len());
    assert!(each.docs.iter().zip(&docs).all(|(a, b)| a.as_slice() == *b), "order differs");

    for workers in [2, 3] {
        let mut out = Vec::new();
        let s = read_files_with_workers(&[capture()], &settings(), workers, &mut out).unwrap();
        let mut got = lines(&out);
        let mut want = docs.clone();
        got.sort();
        want.sort();
        assert!(got == want, "{workers} workers: different documents");
        assert_eq!(s.output.documents, docs.len() as u64);
    }
}

#[test]
fn a_failing_writer_fails_the_read() {
    let mut w = Failing { docs: Vec::new(), accept: 100, flush_fails: false };
    let err = read_files(&[capture()], &settings(), &mut w).unwrap_err();
    assert!(format!("{err:#}").contains("disk full (test)"), "{err:#}");
    assert_eq!(w.docs.len(), 100);
}

#[test]
fn a_failing_final_flush_is_not_lost() {
    let mut w = Failing { docs: Vec::new(), accept: usize::MAX, flush_fails: true };
    let err = read_files(&[capture()], &settings(), &mut w).unwrap_err();
    assert!(format!("{err:#}").contains("flush failed (test)"), "{err:#}");
}
