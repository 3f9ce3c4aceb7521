//! NDJSON files with size-based rotation, as Packetbeat's file output:
//! `NAME` is written; when it would exceed `rotate_every_kb` it becomes
//! `NAME.1`, `NAME.1` becomes `NAME.2`, ..., and files beyond
//! `number_of_files` are deleted.
//!
//! A file never holds a partial document: a failed write (the file system
//! full, an I/O error) is cut back to the last whole document. When the
//! file system is full the output deletes its oldest rotated files, one at
//! a time, until the write fits (the newest documents are worth more, as in
//! rotation); when none is left to delete the send fails and the pipeline
//! retries with backoff: `tapbeat read` waits for space, `tapbeat run`
//! keeps what its queue holds and drops and counts the rest. The process
//! never stops over it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use super::{Output, PartlySent};

/// File output settings.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Folder.
    pub dir: PathBuf,
    /// File name.
    pub name: String,
    /// Size at which the file is rotated, in bytes.
    pub rotate_bytes: u64,
    /// Files kept (the current one included).
    pub keep: usize,
}

/// The rotating file output.
pub struct FileOutput {
    s: FileSettings,
    file: Option<File>,
    /// Bytes in the current file (all whole documents).
    size: u64,
    /// Documents of the batch being sent, not written yet.
    buf: Vec<u8>,
    /// Rotated files deleted early because the file system was full.
    pub deleted_for_space: u64,
}

/// `ENOSPC` (and `EDQUOT`, a quota reached): no room left.
fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122))
}

impl FileOutput {
    /// Opens (appends to) the current file, creating the folder.
    pub fn open(s: FileSettings) -> io::Result<FileOutput> {
        fs::create_dir_all(&s.dir)?;
        let mut f = FileOutput { s, file: None, size: 0, buf: Vec::new(), deleted_for_space: 0 };
        f.reopen()?;
        Ok(f)
    }

    fn path(&self, i: usize) -> PathBuf {
        if i == 0 {
            self.s.dir.join(&self.s.name)
        } else {
            self.s.dir.join(format!("{}.{i}", self.s.name))
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        let f = OpenOptions::new().create(true).append(true).open(self.path(0))?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let keep = self.s.keep.max(1);
        let _ = fs::remove_file(self.path(keep - 1));
        for i in (0..keep.saturating_sub(1)).rev() {
            let from = self.path(i);
            if from.exists() {
                fs::rename(&from, self.path(i + 1))?;
            }
        }
        self.reopen()
    }

    /// Appends `buf` to the current file as one write; on failure cuts the
    /// file back to its last whole document.
    fn write_buf(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.reopen()?;
        }
        let f = self.file.as_mut().ok_or_else(|| io::Error::other("file not open"))?;
        if let Err(e) = f.write_all(&self.buf) {
            if f.set_len(self.size).is_err() {
                // Cannot cut it back: start the next file clean instead.
                self.file = None;
                let _ = self.rotate();
            }
            return Err(e);
        }
        self.size += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes the buffered documents; while the file system is full,
    /// deletes the oldest rotated file and tries again.
    fn commit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        loop {
            match self.write_buf() {
                Err(e) if is_no_space(&e) => {
                    let Some(oldest) = (1..self.s.keep.max(1)).rev().map(|i| self.path(i)).find(|p| p.exists()) else {
                        return Err(e);
                    };
                    fs::remove_file(&oldest)?;
                    self.deleted_for_space += 1;
                    tracing::warn!(
                        file = %oldest.display(),
                        "file system full: deleted the oldest rotated file to make room"
                    );
                }
                r => return r,
            }
        }
    }
}

impl Output for FileOutput {
    fn name(&self) -> &'static str {
        "file"
    }
    fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64> {
        self.buf.clear();
        // Documents of `batch` before `written` are in a file.
        let mut written = 0;
        let partly = |written: usize, cause: io::Error| {
            if written == 0 {
                cause
            } else {
                PartlySent { retry: (written..batch.len()).collect(), rejected: 0, cause }.into_error()
            }
        };
        for (i, d) in batch.iter().enumerate() {
            let size = self.size + self.buf.len() as u64;
            if size > 0 && size + d.len() as u64 > self.s.rotate_bytes {
                self.commit().map_err(|e| partly(written, e))?;
                written = i;
                self.rotate().map_err(|e| partly(written, e))?;
            }
            self.buf.extend_from_slice(d);
        }
        self.commit().map_err(|e| partly(written, e))?;
        Ok(0)
    }
    fn close(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_keeps_n_files() {
        let dir = std::env::temp_dir().join(format!("tapbeat-rot-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut o =
            FileOutput::open(FileSettings { dir: dir.clone(), name: "tb".into(), rotate_bytes: 100, keep: 3 }).unwrap();
        let doc = vec![b'x'; 39].into_iter().chain([b'\n']).collect::<Vec<u8>>();
        for _ in 0..10 {
            o.send(std::slice::from_ref(&doc)).unwrap();
        }
        o.close().unwrap();
        let mut names: Vec<String> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["tb", "tb.1", "tb.2"]);
        for n in &names {
            let len = fs::metadata(dir.join(n)).unwrap().len();
            assert!(len <= 100 && len % 40 == 0, "{n}: {len}");
        }
        assert_eq!(fs::metadata(dir.join("tb")).unwrap().len(), 80, "10 docs, 2 per file: the last two");
        fs::remove_dir_all(dir).unwrap();
    }
}
