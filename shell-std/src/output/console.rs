//! NDJSON on standard output.

use std::io::{self, Write};

use super::Output;

/// Writes documents to stdout.
#[derive(Debug, Default)]
pub struct ConsoleOutput;

impl Output for ConsoleOutput {
    fn name(&self) -> &'static str {
        "console"
    }
    fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64> {
        let mut out = io::stdout().lock();
        for d in batch {
            out.write_all(d)?;
        }
        out.flush()?;
        Ok(0)
    }
    fn close(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}
