//! NDJSON files with size-based rotation, as Packetbeat's file output:
//! `NAME` is written; when it would exceed `rotate_every_kb` it becomes
//! `NAME.1`, `NAME.1` becomes `NAME.2`, ..., and files beyond
//! `number_of_files` are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use super::Output;

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
    file: Option<BufWriter<File>>,
    size: u64,
}

impl FileOutput {
    /// Opens (appends to) the current file, creating the folder.
    pub fn open(s: FileSettings) -> io::Result<FileOutput> {
        fs::create_dir_all(&s.dir)?;
        let mut f = FileOutput { s, file: None, size: 0 };
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
        self.file = Some(BufWriter::with_capacity(1 << 16, f));
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush()?;
        }
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
}

impl Output for FileOutput {
    fn name(&self) -> &'static str {
        "file"
    }
    fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64> {
        for d in batch {
            if self.size > 0 && self.size + d.len() as u64 > self.s.rotate_bytes {
                self.rotate()?;
            }
            if self.file.is_none() {
                self.reopen()?;
            }
            let f = self.file.as_mut().ok_or_else(|| io::Error::other("file not open"))?;
            if let Err(e) = f.write_all(d) {
                // Start the retry on a fresh handle (a failed buffered write
                // leaves the writer in an unknown state).
                self.file = None;
                return Err(e);
            }
            self.size += d.len() as u64;
        }
        if let Some(f) = self.file.as_mut() {
            f.flush()?;
        }
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
