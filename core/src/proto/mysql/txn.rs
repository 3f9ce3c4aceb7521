//! The MySQL section of a transaction and the helpers that fill its text.

use heapless::Vec;

use crate::text::{Lossy, Span, TextBuf};
use crate::txn::{Detail, Transaction};

/// Bytes of text one MySQL transaction can hold: method, query (raw and
/// trimmed share their bytes), error message, parameters and the
/// `send_response` result table together. What does not fit is cut and the
/// transaction is flagged truncated.
pub const MYSQL_TEXT_CAP: usize = 4096;
/// Most bytes of SQL kept per request; the rest of the arena stays free for
/// the response.
pub const MAX_QUERY: usize = 2048;
/// Most bytes of an error message kept.
pub const MAX_ERROR_MESSAGE: usize = 512;
/// Most prepared-statement parameters shown (`params`).
pub const MAX_PARAMS: usize = 16;
/// Most bytes kept of one parameter value.
pub const MAX_PARAM_TEXT: usize = 128;
/// Most bytes of the `path` list (`db.table, db.table2`).
pub const MAX_PATH: usize = 128;
/// Most result columns whose binary types are remembered to render binary
/// rows in `response`; rows of wider results are counted, not rendered.
pub const MAX_BIN_COLS: usize = 64;
/// Longest method kept (the first SQL word, upper-cased).
pub const MAX_METHOD: usize = 32;

/// What kind of exchange a transaction is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// `COM_QUERY`: text SQL.
    #[default]
    Query,
    /// `COM_STMT_PREPARE`.
    Prepare,
    /// `COM_STMT_EXECUTE` (and MariaDB's `COM_STMT_BULK_EXECUTE`).
    Execute,
    /// `COM_INIT_DB` (`USE db`).
    InitDb,
    /// The connection phase (reported only when it failed, or when the
    /// rest of the connection cannot be decoded: TLS or compression).
    Login,
}

/// The MySQL section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct MysqlTxn {
    /// Storage of every text field below.
    pub text: TextBuf<MYSQL_TEXT_CAP>,
    /// The exchange.
    pub kind: Kind,
    /// `method`: the first SQL word upper-cased (`SELECT`), or `PREPARE`,
    /// `USE`, `LOGIN`; `EXECUTE` when the statement's SQL is unknown.
    pub method: Span,
    /// The SQL as sent (at most [`MAX_QUERY`] bytes), for `request`.
    pub raw_query: Span,
    /// `query`: the SQL without surrounding white space.
    pub query: Span,
    /// `path`: `schema.table` of the result columns, distinct, joined with
    /// `, ` (at most [`MAX_PATH`] bytes).
    pub path: Vec<u8, MAX_PATH>,
    /// Parameters of an executed prepared statement, as text.
    pub params: Vec<Span, MAX_PARAMS>,
    /// The result table as CSV-ish text (`send_response`): column names,
    /// then at most `max_rows` rows of at most `max_row_length` bytes.
    pub response_raw: Span,
    /// A response was seen.
    pub has_response: bool,
    /// The response was an ERR packet.
    pub iserror: bool,
    /// MySQL error number (ERR).
    pub error_code: u16,
    /// `SQLSTATE: message` (ERR).
    pub error_message: Span,
    /// Rows changed (OK).
    pub affected_rows: u64,
    /// Last insert id (OK).
    pub insert_id: u64,
    /// Columns of the (first) result set; for a prepare, of the statement.
    pub num_fields: u64,
    /// Rows of every result set of the response.
    pub num_rows: u64,
    /// Prepared-statement id (prepare and execute).
    pub statement_id: Option<u32>,
    /// The connection switched to TLS: nothing after the login is decoded.
    pub encrypted: bool,
    /// The connection switched to the compressed protocol: nothing after
    /// the login is decoded.
    pub compressed: bool,
    /// A parameter or the path list did not fit.
    pub cut: bool,
    /// Binary types of the result columns (for rendering binary rows).
    pub col_types: Vec<u8, MAX_BIN_COLS>,
    /// Bit `i` set: column `i` is unsigned.
    pub col_unsigned: u64,
    /// Result rows rendered into `response_raw` so far.
    pub rows_kept: u32,
    /// Result sets seen so far (multi-statement queries, `CALL`).
    pub result_sets: u16,
}

impl MysqlTxn {
    /// True when a text field was cut to fit.
    pub fn truncated(&self) -> bool {
        self.text.truncated() || self.cut
    }

    /// Empties every field, keeping the storage (no 4 KiB zeroing per
    /// transaction). The pattern lists every field, so a new one cannot be
    /// forgotten here.
    pub fn reset(&mut self) {
        let MysqlTxn {
            text,
            kind,
            method,
            raw_query,
            query,
            path,
            params,
            response_raw,
            has_response,
            iserror,
            error_code,
            error_message,
            affected_rows,
            insert_id,
            num_fields,
            num_rows,
            statement_id,
            encrypted,
            compressed,
            cut,
            col_types,
            col_unsigned,
            rows_kept,
            result_sets,
        } = self;
        text.clear();
        *kind = Kind::Query;
        for s in [method, raw_query, query, response_raw, error_message] {
            *s = Span::EMPTY;
        }
        path.clear();
        params.clear();
        col_types.clear();
        for b in [has_response, iserror, encrypted, compressed, cut] {
            *b = false;
        }
        *error_code = 0;
        *affected_rows = 0;
        *insert_id = 0;
        *num_fields = 0;
        *num_rows = 0;
        *statement_id = None;
        *col_unsigned = 0;
        *rows_kept = 0;
        *result_sets = 0;
    }

    /// Gives `t` an empty MySQL section, reusing the one it has.
    pub fn init(t: &mut Transaction) {
        match &mut t.detail {
            Detail::Mysql(x) => x.reset(),
            other => *other = Detail::Mysql(MysqlTxn::default()),
        }
    }

    /// Text of a span.
    pub fn s(&self, span: Span) -> Lossy<'_> {
        self.text.text(span)
    }

    /// Sets `method` to `m` upper-cased (cut to [`MAX_METHOD`]).
    pub(crate) fn set_method(&mut self, m: &[u8]) {
        let m = m.get(..m.len().min(MAX_METHOD)).unwrap_or(&[]);
        let mut up = [0u8; MAX_METHOD];
        for (d, s) in up.iter_mut().zip(m) {
            *d = s.to_ascii_uppercase();
        }
        self.method = self.text.push(up.get(..m.len()).unwrap_or(&[]));
    }

    /// Stores the SQL `sql` (cut to [`MAX_QUERY`]) as the raw and trimmed
    /// query, and derives the method from it unless `method` is given.
    pub(crate) fn set_query(&mut self, sql: &[u8], cut: bool, method: Option<&[u8]>) {
        let keep = sql.get(..sql.len().min(MAX_QUERY)).unwrap_or(&[]);
        if cut || keep.len() < sql.len() {
            self.text.mark_truncated();
        }
        self.raw_query = self.text.push(keep);
        let stored = self.text.get(self.raw_query);
        let start = stored.iter().position(|c| !is_space(*c)).unwrap_or(stored.len());
        let end = stored.iter().rposition(|c| !is_space(*c)).map_or(start, |e| e + 1);
        self.query = self.text.sub(self.raw_query, start, end.saturating_sub(start));
        match method {
            Some(m) => self.set_method(m),
            None => {
                let mut verb = [0u8; MAX_METHOD];
                let n = first_verb(self.text.get(self.query), &mut verb);
                self.set_method(verb.get(..n).unwrap_or(&[]));
            }
        }
    }

    /// Adds `schema.table` to the path list unless it is there already.
    pub(crate) fn add_table(&mut self, schema: &[u8], table: &[u8]) {
        if table.is_empty() {
            return;
        }
        let mut entry: Vec<u8, MAX_PATH> = Vec::new();
        let mut ok = true;
        if !schema.is_empty() {
            ok &= entry.extend_from_slice(schema).is_ok() && entry.push(b'.').is_ok();
        }
        ok &= entry.extend_from_slice(table).is_ok();
        if !ok {
            self.cut = true;
            return;
        }
        if self.path.split(|&c| c == b',').any(|p| crate::text::trim(p) == entry.as_slice()) {
            return;
        }
        let sep: &[u8] = if self.path.is_empty() { b"" } else { b", " };
        if self.path.len() + sep.len() + entry.len() > MAX_PATH {
            self.cut = true;
            return;
        }
        let _ = self.path.extend_from_slice(sep);
        let _ = self.path.extend_from_slice(&entry);
    }

    /// Adds a parameter value shown as text.
    pub(crate) fn add_param(&mut self, v: &[u8], cut: bool) {
        let keep = v.get(..v.len().min(MAX_PARAM_TEXT)).unwrap_or(&[]);
        if cut || keep.len() < v.len() {
            self.cut = true;
        }
        let span = self.text.push(keep);
        if self.params.push(span).is_err() {
            self.cut = true;
        }
    }

    fn resp(&mut self, bytes: &[u8]) {
        self.response_raw = self.text.extend(self.response_raw, bytes);
    }

    /// Appends one CSV field to the response table (Packetbeat's format:
    /// Go's `encoding/csv` after replacing CR and LF by `\r` and `\n`).
    pub(crate) fn csv_field(&mut self, first: bool, v: &[u8]) {
        if !first {
            self.resp(b",");
        }
        let quote = v.iter().any(|&c| c == b',' || c == b'"')
            || v.first().is_some_and(|&c| c == b' ' || c == b'\t' || c == 0x0b || c == 0x0c);
        if quote {
            self.resp(b"\"");
        }
        let mut start = 0;
        for (i, &c) in v.iter().enumerate() {
            let rep: &[u8] = match c {
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'"' => b"\"\"",
                _ => continue,
            };
            self.resp(v.get(start..i).unwrap_or(&[]));
            self.resp(rep);
            start = i + 1;
        }
        self.resp(v.get(start..).unwrap_or(&[]));
        if quote {
            self.resp(b"\"");
        }
    }

    /// Ends a CSV line.
    pub(crate) fn csv_end(&mut self) {
        self.resp(b"\n");
    }
}

/// SQL white space (ASCII).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// Writes the first SQL keyword of `sql` into `out` and returns its length:
/// leading white space, comments (`/* */`, `-- `, `#`) and opening
/// parentheses are skipped; the word is the run of letters and `_` that
/// follows. When there is none, the first white-space-separated word.
pub(crate) fn first_verb(sql: &[u8], out: &mut [u8]) -> usize {
    let mut i = 0;
    // Bounded: each turn moves forward.
    while i < sql.len() {
        let rest = sql.get(i..).unwrap_or(&[]);
        match rest {
            [c, ..] if is_space(*c) || *c == b'(' => i += 1,
            [b'/', b'*', ..] => {
                let end = rest.windows(2).skip(2).position(|w| w == b"*/");
                i += end.map_or(rest.len(), |e| e + 4);
            }
            [b'-', b'-', c, ..] if is_space(*c) => {
                i += rest.iter().position(|&c| c == b'\n').map_or(rest.len(), |e| e + 1);
            }
            [b'#', ..] => {
                i += rest.iter().position(|&c| c == b'\n').map_or(rest.len(), |e| e + 1);
            }
            _ => break,
        }
    }
    let rest = sql.get(i..).unwrap_or(&[]);
    let mut n = rest.iter().take_while(|c| c.is_ascii_alphabetic() || **c == b'_').count();
    let word = if n == 0 {
        let start = sql.iter().position(|c| !is_space(*c)).unwrap_or(sql.len());
        let w = sql.get(start..).unwrap_or(&[]);
        n = w.iter().take_while(|c| !is_space(**c)).count();
        w
    } else {
        rest
    };
    let n = n.min(out.len());
    if let (Some(d), Some(s)) = (out.get_mut(..n), word.get(..n)) {
        d.copy_from_slice(s);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verb(s: &str) -> heapless::String<32> {
        let mut out = [0u8; 32];
        let n = first_verb(s.as_bytes(), &mut out);
        heapless::String::try_from(core::str::from_utf8(&out[..n]).unwrap()).unwrap()
    }

    #[test]
    fn verbs() {
        assert_eq!(verb("select 1"), "select");
        assert_eq!(verb("SELECT\r\n\t1;"), "SELECT");
        assert_eq!(verb("  /* hint */ (select 1)"), "select");
        assert_eq!(verb("-- c\n# d\nINSERT INTO t"), "INSERT");
        assert_eq!(verb("/* unterminated"), "/*");
        assert_eq!(verb("@@x"), "@@x");
        assert_eq!(verb(""), "");
    }

    #[test]
    fn query_method_path_csv() {
        let mut x = MysqlTxn::default();
        x.set_query(b"\n drop \n table t\r\n", false, None);
        assert_eq!(x.text.get(x.query), b"drop \n table t");
        assert_eq!(x.text.get(x.method), b"DROP");
        assert_eq!(x.text.get(x.raw_query), b"\n drop \n table t\r\n");
        x.add_table(b"test", b"t");
        x.add_table(b"test", b"t");
        x.add_table(b"", b"u");
        x.add_table(b"x", b"");
        assert_eq!(x.path.as_slice(), b"test.t, u");
        x.csv_field(true, b"a,b");
        x.csv_field(false, b"say \"hi\"\n");
        x.csv_field(false, b" x");
        x.csv_end();
        assert_eq!(x.text.get(x.response_raw), b"\"a,b\",\"say \"\"hi\"\"\\n\",\" x\"\n");
        x.reset();
        assert!(x.path.is_empty() && x.response_raw.is_empty() && !x.truncated());
    }

    #[test]
    fn size_fits_the_pending_slot() {
        assert!(core::mem::size_of::<MysqlTxn>() <= core::mem::size_of::<crate::proto::http::HttpTxn>());
    }
}
