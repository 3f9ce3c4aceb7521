//! A streaming SQL lexer that finds statement boundaries in a query string.
//!
//! It knows just enough PostgreSQL lexical structure to tell a `;` that ends
//! a statement from one inside a literal or comment: single-quoted strings
//! (with `''` and, in `E'...'` strings, backslash escapes), double-quoted
//! identifiers, `--` and nested `/* */` comments, and dollar quoting
//! (`$tag$ ... $tag$`). Whitespace and comments between statements are not
//! part of any statement. It does not know SQL-standard function bodies
//! (`BEGIN ATOMIC ... END`), whose inner `;` it takes as separators.
//!
//! The lexer is fed bytes in order, possibly cut anywhere; where it needs a
//! byte it has not been given yet (the second byte of `--`, a dollar tag) it
//! says so and the caller waits for more input.

/// Longest dollar-quote tag recognised (`$tag$`); a longer run is not a tag.
pub const MAX_DOLLAR_TAG: usize = 32;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Normal,
    /// Inside `'...'`; `escapes` for `E'...'` strings.
    Quote { escapes: bool, after_backslash: bool },
    /// Inside `"..."`.
    Ident,
    /// Inside `-- ...` up to the end of the line.
    LineComment,
    /// Inside `/* ... */`, nested `depth` deep.
    BlockComment { depth: u8 },
    /// Inside `$tag$ ... $tag$`; the tag is kept as a hash and a length (a
    /// collision could only end a dollar quote early, never overflow).
    Dollar { hash: u32, len: u8 },
}

/// What a run of bytes is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    /// Part of a statement's text.
    Text,
    /// Whitespace or a comment between statements.
    Skip,
    /// A `;` that ends the statement in progress (or an empty one).
    End,
    /// More input is needed to classify the next byte.
    Need,
}

/// Lexer state carried between pieces of one query string.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lexer {
    mode: Mode,
    /// A statement has started (and not ended).
    pub in_stmt: bool,
    /// The previous byte (in normal mode) was part of an identifier, so a
    /// `$` continues it instead of opening a dollar quote.
    prev_ident: bool,
    /// The previous byte was a lone `E`/`e` starting a token: a quote after
    /// it opens an escape string.
    prev_e: bool,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// FNV-1a, for dollar-quote tags.
fn hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Length of a dollar-quote opener `$tag$` at the start of `s` (which begins
/// with `$`): `Some(Some(n))` when it is one, `Some(None)` when it is not,
/// `None` when `s` ends before that is known.
fn dollar_opener(s: &[u8]) -> Option<Option<usize>> {
    for i in 1..=MAX_DOLLAR_TAG + 1 {
        let &c = s.get(i)?;
        if c == b'$' {
            return Some(Some(i + 1));
        }
        let ok = if i == 1 { is_ident_start(c) } else { is_ident(c) };
        if !ok {
            return Some(None);
        }
    }
    Some(None)
}

impl Lexer {
    /// A lexer at the start of a query string.
    pub const fn new() -> Self {
        Lexer { mode: Mode::Normal, in_stmt: false, prev_ident: false, prev_e: false }
    }

    /// Classifies the bytes at the start of `s`: returns how many bytes form
    /// one run of kind [`Tok`] (at least 1 unless `Need`). `more` says
    /// whether bytes follow `s` in the same query string (if not, a
    /// construct cut by the end of `s` is taken as it is).
    pub fn next(&mut self, s: &[u8], more: bool) -> (usize, Tok) {
        let Some(&c) = s.first() else { return (0, Tok::Need) };
        let text = if self.in_stmt { Tok::Text } else { Tok::Skip };
        let next = s.get(1).copied();
        // Lookahead past the end of `s`: wait when more bytes will come.
        let need_next = next.is_none() && more;
        match self.mode {
            Mode::Quote { escapes, after_backslash } => {
                if after_backslash {
                    self.mode = Mode::Quote { escapes, after_backslash: false };
                } else if c == b'\'' {
                    self.mode = Mode::Normal;
                } else if c == b'\\' && escapes {
                    self.mode = Mode::Quote { escapes, after_backslash: true };
                }
                (1, Tok::Text)
            }
            Mode::Ident => {
                if c == b'"' {
                    self.mode = Mode::Normal;
                }
                (1, Tok::Text)
            }
            Mode::LineComment => {
                if c == b'\n' {
                    self.mode = Mode::Normal;
                }
                (1, text)
            }
            Mode::BlockComment { depth } => {
                if (c == b'*' || c == b'/') && need_next {
                    return (0, Tok::Need);
                }
                if c == b'*' && next == Some(b'/') {
                    self.mode = if depth <= 1 { Mode::Normal } else { Mode::BlockComment { depth: depth - 1 } };
                    return (2, text);
                }
                if c == b'/' && next == Some(b'*') {
                    self.mode = Mode::BlockComment { depth: depth.saturating_add(1) };
                    return (2, text);
                }
                (1, text)
            }
            Mode::Dollar { hash: h, len } => {
                if c != b'$' {
                    return (1, Tok::Text);
                }
                let close = len as usize + 2;
                match s.get(..close) {
                    Some(cand) => {
                        let tag = cand.get(1..close - 1).unwrap_or(&[]);
                        if cand.last() == Some(&b'$') && hash(tag) == h {
                            self.mode = Mode::Normal;
                            self.prev_ident = false;
                            return (close, Tok::Text);
                        }
                        (1, Tok::Text)
                    }
                    None if more => (0, Tok::Need),
                    None => (1, Tok::Text),
                }
            }
            Mode::Normal => self.normal(s, c, next, need_next, more),
        }
    }

    fn normal(&mut self, s: &[u8], c: u8, next: Option<u8>, need_next: bool, more: bool) -> (usize, Tok) {
        if is_space(c) {
            self.prev_ident = false;
            self.prev_e = false;
            return (1, if self.in_stmt { Tok::Text } else { Tok::Skip });
        }
        if c == b';' {
            self.prev_ident = false;
            self.prev_e = false;
            self.in_stmt = false;
            return (1, Tok::End);
        }
        if (c == b'-' || c == b'/') && need_next {
            return (0, Tok::Need);
        }
        let text = if self.in_stmt { Tok::Text } else { Tok::Skip };
        if c == b'-' && next == Some(b'-') {
            self.mode = Mode::LineComment;
            self.prev_ident = false;
            return (2, text);
        }
        if c == b'/' && next == Some(b'*') {
            self.mode = Mode::BlockComment { depth: 1 };
            self.prev_ident = false;
            return (2, text);
        }
        // Everything else is statement text.
        self.in_stmt = true;
        let e_string = self.prev_e;
        self.prev_e = false;
        match c {
            b'\'' => {
                self.mode = Mode::Quote { escapes: e_string, after_backslash: false };
                self.prev_ident = false;
                (1, Tok::Text)
            }
            b'"' => {
                self.mode = Mode::Ident;
                self.prev_ident = false;
                (1, Tok::Text)
            }
            b'$' if !self.prev_ident => match dollar_opener(s) {
                Some(Some(n)) => {
                    let tag = s.get(1..n - 1).unwrap_or(&[]);
                    self.mode = Mode::Dollar { hash: hash(tag), len: tag.len() as u8 };
                    (n, Tok::Text)
                }
                Some(None) => {
                    // `$1` parameter or a lone `$`.
                    self.prev_ident = true;
                    (1, Tok::Text)
                }
                None if more => (0, Tok::Need),
                None => (1, Tok::Text),
            },
            _ => {
                if (c == b'E' || c == b'e') && !self.prev_ident {
                    self.prev_e = true;
                }
                self.prev_ident = is_ident(c) || c == b'$';
                (1, Tok::Text)
            }
        }
    }
}

/// The SQL verb of a statement: its first word, up to a character that
/// cannot be part of a keyword. Empty when the statement does not start
/// with a word.
pub fn verb(stmt: &[u8]) -> &[u8] {
    let end = stmt.iter().position(|&c| !(c.is_ascii_alphabetic() || c == b'_')).unwrap_or(stmt.len());
    stmt.get(..end).unwrap_or(&[])
}

/// `s` without trailing whitespace.
pub fn trim_end(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&c| !is_space(c)).map_or(0, |e| e + 1);
    s.get(..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapless::{String, Vec};

    /// Splits `q` fed in pieces of `step` bytes; returns the statements.
    fn split(q: &str, step: usize) -> Vec<String<128>, 16> {
        let q = q.as_bytes();
        let mut lx = Lexer::new();
        let mut out: Vec<String<128>, 16> = Vec::new();
        let mut cur: String<128> = String::new();
        let mut avail = step.min(q.len());
        let mut pos = 0;
        let mut guard = 10_000;
        while pos < q.len() && guard > 0 {
            guard -= 1;
            let s = &q[pos..avail];
            let more = avail < q.len();
            let (n, t) = lx.next(s, more);
            match t {
                Tok::Need => {
                    assert!(more, "Need only with more input");
                    avail = (avail + step).min(q.len());
                    continue;
                }
                Tok::Text => {
                    for &b in &s[..n] {
                        cur.push(b as char).unwrap();
                    }
                }
                Tok::End => {
                    if !cur.is_empty() {
                        let mut c = String::new();
                        c.push_str(core::str::from_utf8(trim_end(cur.as_bytes())).unwrap()).unwrap();
                        out.push(c).unwrap();
                        cur.clear();
                    }
                }
                Tok::Skip => {}
            }
            pos += n;
            if pos == avail && avail < q.len() {
                avail = (avail + step).min(q.len());
            }
        }
        if !cur.is_empty() {
            let mut c = String::new();
            c.push_str(core::str::from_utf8(trim_end(cur.as_bytes())).unwrap()).unwrap();
            out.push(c).unwrap();
        }
        out
    }

    fn check(q: &str, want: &[&str]) {
        for step in [1, 2, 3, 7, 1000] {
            let got = split(q, step);
            let got: Vec<&str, 16> = got.iter().map(|s| s.as_str()).collect();
            assert_eq!(&got[..], want, "query {q:?} step {step}");
        }
    }

    #[test]
    fn splits_like_postgres() {
        check("select 1", &["select 1"]);
        check("select 1;", &["select 1"]);
        check("  select 1 ;  select 2;;\n", &["select 1", "select 2"]);
        check("select ';' ; select 'it''s;'", &["select ';'", "select 'it''s;'"]);
        check("select E'a\\';b'; select 2", &["select E'a\\';b'", "select 2"]);
        check("select 'a\\'; select 2", &["select 'a\\'", "select 2"]);
        check("select \"a;b\" from t", &["select \"a;b\" from t"]);
        check("-- c;\nselect 1 -- x;y\n; /* a; /* b; */ c; */ select 2", &["select 1 -- x;y", "select 2"]);
        check(
            "do $$ begin raise notice 'x;'; end $$; select $1",
            &["do $$ begin raise notice 'x;'; end $$", "select $1"],
        );
        check("select $q$a;$b$;$q$; select a$b; select 3", &["select $q$a;$b$;$q$", "select a$b", "select 3"]);
        check("select 1-2; select 4/2", &["select 1-2", "select 4/2"]);
        check("", &[]);
        check(" ; -- only a comment", &[]);
    }

    #[test]
    fn verbs() {
        assert_eq!(verb(b"select 1"), b"select");
        assert_eq!(verb(b"INSERT INTO"), b"INSERT");
        assert_eq!(verb(b"(select 1)"), b"");
        assert_eq!(trim_end(b"a b \n\t"), b"a b");
    }
}
