//! A password or token that must never reach a log, a panic message or
//! `check-config` output: its `Debug` and `Display` print `<redacted>`, and
//! the text is only reachable through [`Secret::expose`], at the one place
//! that sends it to the server.

use std::path::Path;

use serde::Deserialize;

/// A secret string (output passwords).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret text, for the protocol that needs it (never for logs).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from a file (e.g. a mounted Kubernetes or systemd
    /// credential): the whole file, minus one trailing newline (`\n` or
    /// `\r\n`), which editors and `echo` add. The error names the file,
    /// never its contents.
    pub fn from_file(path: &Path) -> std::io::Result<Secret> {
        let text = std::fs::read_to_string(path)?;
        let t = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
        Ok(Secret(t.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_file_loses_one_newline() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        let dir = std::env::temp_dir().join(format!("tapbeat-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (text, want) in [("pw\n", "pw"), ("pw\r\n", "pw"), ("pw\n\n", "pw\n"), ("pw", "pw"), (" pw \n", " pw ")] {
            let f = dir.join("pw");
            std::fs::write(&f, text).unwrap();
            assert_eq!(Secret::from_file(&f).unwrap().expose(), want);
        }
        assert!(Secret::from_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
