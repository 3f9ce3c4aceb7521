//! A bounded, streaming BSON reader that renders JSON without allocating.
//!
//! The walker is a push parser: [`Walker::feed`] takes the bytes that are
//! there, stops at any byte, and resumes with the next call. It keeps a
//! stack of at most [`MAX_DEPTH`] nested documents (deeper ones are skipped
//! by their length and shown as `"..."`), reads no value larger than 16
//! bytes at once (strings, binaries and keys are streamed), and checks every
//! length against the document that contains it: a document that lies about
//! its size is abandoned (its JSON closed, the transaction marked), never
//! read past.
//!
//! One walk covers a *region* (a run of documents, e.g. the documents of an
//! OP_REPLY or one OP_MSG section). What it renders depends on its
//! [`Role`]: the request document (command arguments, `params`), a plain
//! document (selector, update), or response documents (one JSON line each,
//! bounded by `max_docs` / `max_doc_length`). Along the way it picks out
//! the command name, collection, `$db`, errors, and cursor fields.
//!
//! JSON rendering follows what Packetbeat's documents show for the types
//! JSON has no word for: ObjectId as its hex string, datetime as an RFC 3339
//! string, timestamp as its 64-bit number; the other BSON types use MongoDB
//! extended JSON (`$binary`, `$regex`, `$numberDecimal`, `$code`, ...).

use core::fmt::{self, Write as _};

use super::txn::{short_form_skip, ErrorText, MONGODB_TEXT_CAP};
use crate::text::{Span, TextBuf};

/// Deepest nesting of documents and arrays that is rendered; deeper values
/// are skipped and shown as `"..."` (the transaction is marked truncated).
pub const MAX_DEPTH: usize = 10;
/// Longest key kept for rendering and matching; longer keys are cut.
pub const KEY_CAP: usize = 64;
/// Longest command name kept.
pub const METHOD_CAP: usize = 48;
/// Longest collection name kept (for `resource`).
pub const COLL_CAP: usize = 128;
/// Longest database name kept (MongoDB allows 64).
pub const DB_CAP: usize = 64;

type Text = TextBuf<MONGODB_TEXT_CAP>;

/// Output mask bit: the walk's main text (params, selector, response...).
const MAIN: u8 = 1;
/// Output mask bit: the error text.
const ERR: u8 = 2;

/// Level flag: an element has been rendered in this level.
const HAS_ITEMS: u8 = 1;
/// Level flag: no braces of its own (its elements continue `params`).
const BARE: u8 = 2;
/// Level flag: close one more brace at the end (code with scope).
const EXTRA_CLOSE: u8 = 4;
/// Level flag: a response document rendered as one line.
const LINE: u8 = 8;
/// Level flag: a document sequence rendered as a JSON array.
const ARRAY_SEQ: u8 = 16;

/// What a walk is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// Nothing (idle walker).
    #[default]
    None,
    /// The request document: its elements become `params`; with
    /// `command`, its first key is the command name.
    Params {
        /// The first key names a command.
        command: bool,
    },
    /// A sequence of request documents shown in `params` as an array under
    /// the key held in the key buffer (OP_MSG kind 1, OP_INSERT).
    ParamsSeq,
    /// One document rendered as it is (selector, update, fields selector).
    Plain,
    /// Response documents, one JSON line each.
    Reply {
        /// An OP_MSG reply: look for `cursor.id` and the batch size.
        msg: bool,
    },
}

/// Position in the structure that matters for what is picked out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Tag {
    #[default]
    None,
    /// Top level of the request document.
    ReqTop,
    /// Top level of the first response document.
    RespTop,
    /// The `cursor` document of an OP_MSG reply.
    Cursor,
    /// `cursor.firstBatch` / `cursor.nextBatch`.
    Batch,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Doc,
    Array,
    /// Documents back to back, without keys or terminator, up to `end`.
    Seq,
}

/// One open document, array or sequence.
#[derive(Clone, Copy, Debug, Default)]
struct Level {
    /// Walk offset just past this level's last byte.
    end: u32,
    /// Elements seen.
    count: u32,
    kind: Kind,
    tag: Tag,
    /// Outputs its elements are rendered to.
    out: u8,
    flags: u8,
}

/// Where the walker is within an element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum St {
    /// Expecting an element type, a terminator, or the next document of a
    /// sequence.
    #[default]
    Elem,
    /// Reading a key.
    Key,
    /// The value of type `ty` starts.
    Value,
    /// Streaming string bytes (`left` includes the terminating NUL).
    Str { left: u32, part: StrPart },
    /// Streaming binary bytes.
    Bin { left: u32 },
    /// Streaming a regex pattern (0) or its options (1).
    Regex { part: u8 },
    /// The ObjectId after a DBPointer's namespace.
    DbPtrId,
    /// The scope document of code with scope.
    ScopeLen,
    /// Skipping a value that is not rendered (too deep).
    Skip { left: u32 },
    /// After a fault: skipping the rest of the region.
    Drain { left: u32 },
}

/// Which string is being streamed (what closes it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum StrPart {
    #[default]
    Plain,
    Code,
    DbPtr,
    CodeScope,
}

/// What the current value is also captured into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Cap {
    #[default]
    None,
    Coll,
    Db,
    CursorId,
    Ok,
}

/// The main output being built: a span of the arena, with a length limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Out {
    /// What was written.
    pub span: Span,
    /// Most bytes ordinary writes may bring the span to.
    limit: u32,
    /// Arena fill right after our last write: if it moved, someone else
    /// wrote in between and the span cannot grow any more.
    fill: u16,
    /// A write did not fit (what follows is dropped).
    pub cut: bool,
    /// The limit is the configuration's (`max_doc_length`), not the
    /// arena's: a cut there is asked for, not a loss.
    soft: bool,
}

impl Out {
    fn fill_of(text: &Text) -> u16 {
        MONGODB_TEXT_CAP.saturating_sub(text.remaining()) as u16
    }

    /// Starts building on `span` (the arena's last span, or empty), allowing
    /// `limit` bytes in all.
    pub fn start(text: &Text, span: Span, limit: usize) -> Out {
        Out { span, limit: limit.min(u32::MAX as usize) as u32, fill: Self::fill_of(text), cut: false, soft: false }
    }

    /// Appends `b`; `atomic` pieces (escapes, numbers) are written whole or
    /// not at all. `force` ignores the limit (room reserved earlier).
    pub fn write(&mut self, text: &mut Text, b: &[u8], atomic: bool, force: bool) {
        if b.is_empty() || (self.cut && !force) {
            return;
        }
        if !self.span.is_empty() && Self::fill_of(text) != self.fill {
            // Another field was stored after ours: ours cannot grow.
            self.cut = true;
            text.mark_truncated();
            return;
        }
        let room = if force { usize::MAX } else { (self.limit as usize).saturating_sub(self.span.len()) };
        let room = room.min(text.remaining());
        let n = if b.len() <= room {
            b.len()
        } else if atomic {
            0
        } else {
            // Cut on a character boundary, so the text stays valid UTF-8.
            let mut n = room;
            while n > 0 && b.get(n).is_some_and(|c| c & 0xC0 == 0x80) {
                n -= 1;
            }
            n
        };
        if n < b.len() {
            self.cut = true;
            if !self.soft || b.len() > text.remaining() {
                text.mark_truncated();
            }
        }
        if n > 0 {
            self.span = text.extend(self.span, b.get(..n).unwrap_or(&[]));
            self.fill = Self::fill_of(text);
        }
    }
}

/// A small name kept by value (command, collection, database).
#[derive(Clone, Copy, Debug)]
pub struct Name<const N: usize> {
    buf: [u8; N],
    len: u8,
    /// The name was longer than `N`.
    pub cut: bool,
}

impl<const N: usize> Default for Name<N> {
    fn default() -> Self {
        Name { buf: [0; N], len: 0, cut: false }
    }
}

impl<const N: usize> Name<N> {
    /// The bytes kept.
    pub fn get(&self) -> &[u8] {
        self.buf.get(..self.len as usize).unwrap_or(&[])
    }
    /// Forgets the name.
    pub fn clear(&mut self) {
        self.len = 0;
        self.cut = false;
    }
    /// Appends `b`, cut to what fits.
    pub fn push(&mut self, b: &[u8]) {
        let start = self.len as usize;
        let n = b.len().min(N.min(255).saturating_sub(start));
        if n < b.len() {
            self.cut = true;
        }
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..start + n), b.get(..n)) {
            dst.copy_from_slice(src);
            self.len = (start + n) as u8;
        }
    }
}

/// Options that shape rendering, copied from the configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opts {
    /// Render every request argument (`send_request`).
    pub send_request: bool,
    /// Render response documents (`send_response`).
    pub send_response: bool,
    /// Most response documents rendered (0: all).
    pub max_docs: u32,
    /// Most bytes per rendered response document (0: unlimited).
    pub max_doc_length: u32,
}

/// Where a walk writes.
pub struct Env<'a> {
    /// The transaction's arena.
    pub text: &'a mut Text,
    /// The transaction's error text.
    pub err: &'a mut ErrorText,
    /// Rendering options.
    pub opts: Opts,
}

/// The streaming BSON walker (see the module docs). It lives in the
/// pending transaction record, not in the per-flow state, so flows stay
/// small.
#[derive(Clone, Debug)]
pub struct Walker {
    stack: [Level; MAX_DEPTH + 1],
    depth: u8,
    st: St,
    ty: u8,
    bin_sub: u8,
    /// Bytes consumed since the walk started.
    off: u32,
    key: [u8; KEY_CAP],
    key_len: u8,
    key_long: bool,
    /// Outputs of the current value.
    vout: u8,
    /// Tag and flags of the level the current value opens, if a document.
    vtag: Tag,
    vflags: u8,
    /// The current string value goes to the error text as it is.
    raw_err: bool,
    cap: Cap,
    /// The current element is the one left out of the short `query` form.
    skip_elem: bool,
    b64: [u8; 2],
    b64_n: u8,
    role: Role,
    /// The main output of this walk.
    pub out: Out,
    /// Response documents seen in this message (over every walk).
    pub docs: u32,
    /// Response documents announced (OP_REPLY `numberReturned`), 0 unknown.
    pub expect_docs: u32,
    /// A length or type made no sense: the rest of the region was skipped.
    pub malformed: bool,
    /// Something was cut (depth, long key) besides the output's own cut.
    pub truncated: bool,
    /// The command name (first key of a command document).
    pub method: Name<METHOD_CAP>,
    /// The command name was seen.
    pub command_seen: bool,
    /// The collection named by the command (or its `collection` argument).
    pub coll: Name<COLL_CAP>,
    /// `$db` of an OP_MSG command.
    pub db: Name<DB_CAP>,
    /// Range of `params` left out of the short `query` form.
    pub query_skip: Option<(u16, u16)>,
    /// The skipped range started right after `{`: the next comma goes too.
    skip_first: bool,
    /// `cursor.id` of an OP_MSG reply.
    pub cursor_id: Option<i64>,
    /// Size of `cursor.firstBatch` / `nextBatch`.
    pub batch: Option<u32>,
    /// Priority of the error text held (0 none, 1 errmsg, 2
    /// writeConcernError, 3 $err, 4 writeErrors).
    pub err_src: u8,
    /// `ok` was seen, and whether it was 0.
    pub ok_zero: Option<bool>,
}

impl Default for Walker {
    fn default() -> Self {
        Walker {
            stack: [Level::default(); MAX_DEPTH + 1],
            depth: 0,
            st: St::Elem,
            ty: 0,
            bin_sub: 0,
            off: 0,
            key: [0; KEY_CAP],
            key_len: 0,
            key_long: false,
            vout: 0,
            vtag: Tag::None,
            vflags: 0,
            raw_err: false,
            cap: Cap::None,
            skip_elem: false,
            b64: [0; 2],
            b64_n: 0,
            role: Role::None,
            out: Out::default(),
            docs: 0,
            expect_docs: 0,
            malformed: false,
            truncated: false,
            method: Name::default(),
            command_seen: false,
            coll: Name::default(),
            db: Name::default(),
            query_skip: None,
            skip_first: false,
            cursor_id: None,
            batch: None,
            err_src: 0,
            ok_zero: None,
        }
    }
}

/// Little-endian i32 from the first 4 bytes.
pub(super) fn le_i32(b: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

/// Little-endian i64 from the first 8 bytes.
pub(super) fn le_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

/// Bytes of a value of type `ty` that are read at once before rendering
/// or streaming starts; `None` for types BSON does not define.
fn fixed_len(ty: u8) -> Option<u32> {
    Some(match ty {
        0x06 | 0x0A | 0x0B | 0x7F | 0xFF => 0,
        0x08 => 1,
        0x02 | 0x03 | 0x04 | 0x0C | 0x0D | 0x0E | 0x10 => 4,
        0x05 => 5,
        0x01 | 0x09 | 0x0F | 0x11 | 0x12 => 8,
        0x07 => 12,
        0x13 => 16,
        _ => return None,
    })
}

impl Walker {
    /// Back to idle, forgetting every capture.
    pub fn clear(&mut self) {
        self.depth = 0;
        self.role = Role::None;
        self.begin_message();
    }

    /// Forgets what was picked out of the previous message.
    pub fn begin_message(&mut self) {
        self.docs = 0;
        self.expect_docs = 0;
        self.malformed = false;
        self.truncated = false;
        self.method.clear();
        self.command_seen = false;
        self.coll.clear();
        self.db.clear();
        self.query_skip = None;
        self.skip_first = false;
        self.skip_elem = false;
        self.cursor_id = None;
        self.batch = None;
        self.err_src = 0;
        self.ok_zero = None;
    }

    /// Names the operation of a legacy message (so that its documents are
    /// shown as the matching command's would be).
    pub fn set_method(&mut self, m: &[u8]) {
        self.method.clear();
        self.method.push(m);
        self.command_seen = true;
    }

    /// What the current (or last) walk is for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True while a walk is in progress.
    pub fn active(&self) -> bool {
        self.depth > 0
    }

    /// Starts walking a region of `len` bytes holding at most `max_docs`
    /// documents, rendered to `out`. For [`Role::ParamsSeq`] the key buffer
    /// holds the sequence's name (see [`Walker::push_key`]).
    pub fn start(&mut self, env: &mut Env<'_>, role: Role, len: u32, max_docs: u32, out: Out) {
        self.role = role;
        self.out = out;
        self.off = 0;
        self.st = St::Elem;
        self.b64_n = 0;
        // `count` of the root counts up to u32::MAX: starting it below lets
        // it hold at most `max_docs` documents.
        let mut root =
            Level { end: len, count: u32::MAX - max_docs, kind: Kind::Seq, tag: Tag::None, out: 0, flags: 0 };
        match role {
            Role::Plain => root.out = MAIN,
            Role::ParamsSeq => {
                let mut key = [0u8; KEY_CAP];
                let n = self.key_len as usize;
                if let (Some(d), Some(s)) = (key.get_mut(..n), self.key.get(..n)) {
                    d.copy_from_slice(s);
                }
                let key = key.get(..n).unwrap_or(&[]);
                let skip = if self.command_seen { short_form_skip(self.method.get()) } else { None };
                let skipped = skip.is_some_and(|k| k == key);
                if env.opts.send_request || (skip.is_some() && !skipped) {
                    root.out = MAIN;
                    root.flags = ARRAY_SEQ;
                    self.skip_elem = skipped;
                    self.top_separator(env);
                    self.write_key(env, MAIN);
                    self.out.write(env.text, b"[", true, false);
                }
            }
            Role::Params { .. } | Role::Reply { .. } | Role::None => {}
        }
        self.stack[0] = root;
        self.depth = 1;
    }

    /// Appends to the key buffer (a sequence name read by the caller).
    pub fn push_key(&mut self, b: &[u8]) {
        let start = self.key_len as usize;
        let n = b.len().min(KEY_CAP.saturating_sub(start));
        if n < b.len() {
            self.key_long = true;
        }
        if let (Some(dst), Some(src)) = (self.key.get_mut(start..start + n), b.get(..n)) {
            dst.copy_from_slice(src);
            self.key_len = (start + n) as u8;
        }
    }

    /// Empties the key buffer.
    pub fn reset_key(&mut self) {
        self.key_len = 0;
        self.key_long = false;
    }

    fn top(&self) -> Level {
        self.stack.get((self.depth as usize).wrapping_sub(1)).copied().unwrap_or_default()
    }

    fn top_mut(&mut self) -> Option<&mut Level> {
        self.stack.get_mut((self.depth as usize).wrapping_sub(1))
    }

    /// Bytes left in the innermost level.
    fn left(&self) -> u32 {
        self.top().end.saturating_sub(self.off)
    }

    fn put(&mut self, env: &mut Env<'_>, mask: u8, b: &[u8], atomic: bool) {
        if mask & MAIN != 0 {
            self.out.write(env.text, b, atomic, false);
        }
        if mask & ERR != 0 {
            env.err.push(b);
        }
    }

    /// Writes `b` as the inside of a JSON string.
    fn put_escaped(&mut self, env: &mut Env<'_>, mask: u8, b: &[u8]) {
        if mask == 0 {
            return;
        }
        let mut start = 0;
        for (i, &c) in b.iter().enumerate() {
            let esc: &[u8] = match c {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            self.put(env, mask, b.get(start..i).unwrap_or(&[]), false);
            if esc.is_empty() {
                let u = [b'\\', b'u', b'0', b'0', hex_digit(c >> 4), hex_digit(c)];
                self.put(env, mask, &u, true);
            } else {
                self.put(env, mask, esc, true);
            }
            start = i + 1;
        }
        self.put(env, mask, b.get(start..).unwrap_or(&[]), false);
    }

    /// Writes `{` or `,` before an element of the request's top level, and
    /// keeps the range the short form leaves out (`query_skip`).
    fn top_separator(&mut self, env: &mut Env<'_>) {
        let first = self.out.span.is_empty();
        if first {
            self.out.write(env.text, b"{", true, false);
        } else {
            let follows_skip =
                self.skip_first && self.query_skip.is_some_and(|(_, e)| e as usize == self.out.span.len());
            self.out.write(env.text, b",", true, false);
            if follows_skip {
                // The skipped element came first: its following comma goes too.
                let len = self.out.span.len() as u16;
                if let Some((_, e)) = self.query_skip.as_mut() {
                    *e = len;
                }
            }
            self.skip_first = false;
        }
        if self.skip_elem {
            if self.query_skip.is_some() {
                // Only one range: a second such key is shown.
                self.skip_elem = false;
            } else {
                let len = self.out.span.len();
                let at = if first { len } else { len.saturating_sub(1) };
                self.query_skip = Some((at as u16, at as u16));
                self.skip_first = first;
            }
        }
    }

    /// Writes the key buffer as `"key":`.
    fn write_key(&mut self, env: &mut Env<'_>, mask: u8) {
        if mask == 0 {
            return;
        }
        if self.key_long {
            self.truncated = true;
        }
        let key = self.key;
        let n = self.key_len as usize;
        self.put(env, mask, b"\"", true);
        self.put_escaped(env, mask, key.get(..n).unwrap_or(&[]));
        self.put(env, mask, b"\":", true);
    }

    /// Feeds bytes of the region; returns how many were consumed and
    /// whether the walk is over. Consuming fewer than given without being
    /// over means: call again with more bytes (at most 16 are awaited).
    pub fn feed(&mut self, env: &mut Env<'_>, data: &[u8]) -> (usize, bool) {
        let mut pos = 0usize;
        // Every turn consumes bytes, or pops a level, or moves an element
        // from one state to the next (a few per element at most).
        let mut guard = data.len().saturating_mul(4).saturating_add(4 * MAX_DEPTH + 16);
        while guard > 0 {
            guard -= 1;
            if self.depth == 0 {
                return (pos, true);
            }
            let rest = data.get(pos..).unwrap_or(&[]);
            let n = match self.step(env, rest) {
                Some(n) => n.min(rest.len()),
                None => return (pos, false),
            };
            pos += n;
            self.off = self.off.wrapping_add(n as u32);
        }
        (pos, self.depth == 0)
    }

    /// One step; `None` when more bytes are needed.
    fn step(&mut self, env: &mut Env<'_>, rest: &[u8]) -> Option<usize> {
        let top = self.top();
        let left = self.left();
        match self.st {
            St::Elem => {
                if top.kind == Kind::Seq {
                    if left == 0 || top.count == u32::MAX {
                        // Region done, or as many documents as asked for:
                        // what follows is the caller's.
                        self.pop(env);
                        return Some(0);
                    }
                    if left < 5 {
                        return Some(self.fault(env));
                    }
                    let len = le_i32(rest)?;
                    if len < 5 || len as u32 > left {
                        return Some(self.fault(env));
                    }
                    let end = self.off.wrapping_add(len as u32);
                    self.push_seq_doc(env, end);
                    return Some(4);
                }
                let &t = rest.first()?;
                if t == 0 {
                    if left != 1 {
                        return Some(self.fault(env));
                    }
                    self.pop(env);
                    return Some(1);
                }
                if left < 2 {
                    return Some(self.fault(env));
                }
                self.ty = t;
                self.reset_key();
                self.st = St::Key;
                Some(1)
            }
            St::Key => {
                let lim = rest.len().min(left as usize);
                let avail = rest.get(..lim).unwrap_or(&[]);
                match avail.iter().position(|&c| c == 0) {
                    Some(i) => {
                        self.push_key(avail.get(..i).unwrap_or(&[]));
                        self.on_key(env);
                        Some(i + 1)
                    }
                    None if lim as u32 == left => Some(self.fault(env)),
                    None if lim == 0 => None,
                    None => {
                        self.push_key(avail);
                        Some(lim)
                    }
                }
            }
            St::Value => self.value(env, rest, left),
            St::Str { left: sl, part } => {
                if sl > 1 {
                    let n = rest.len().min(sl as usize - 1);
                    if n == 0 {
                        return None;
                    }
                    self.string_bytes(env, rest.get(..n).unwrap_or(&[]));
                    self.st = St::Str { left: sl - n as u32, part };
                    return Some(n);
                }
                // The terminating NUL.
                rest.first()?;
                self.end_string(env, part);
                Some(1)
            }
            St::Bin { left: bl } => {
                if bl == 0 {
                    self.b64_flush(env);
                    let mut b = Buf::<32>::new();
                    let _ = write!(b, "\",\"subType\":\"{:02x}\"}}}}", self.bin_sub);
                    self.put(env, self.vout, b.get(), true);
                    self.elem_done();
                    return Some(0);
                }
                let n = rest.len().min(bl as usize);
                if n == 0 {
                    return None;
                }
                self.b64_feed(env, rest.get(..n).unwrap_or(&[]));
                self.st = St::Bin { left: bl - n as u32 };
                Some(n)
            }
            St::Regex { part } => {
                let lim = rest.len().min(left as usize);
                let avail = rest.get(..lim).unwrap_or(&[]);
                let mask = self.vout;
                match avail.iter().position(|&c| c == 0) {
                    Some(i) => {
                        self.put_escaped(env, mask, avail.get(..i).unwrap_or(&[]));
                        if part == 0 {
                            self.put(env, mask, b"\",\"$options\":\"", true);
                            self.st = St::Regex { part: 1 };
                        } else {
                            self.put(env, mask, b"\"}", true);
                            self.elem_done();
                        }
                        Some(i + 1)
                    }
                    None if lim as u32 == left => Some(self.fault(env)),
                    None if lim == 0 => None,
                    None => {
                        self.put_escaped(env, mask, avail);
                        Some(lim)
                    }
                }
            }
            St::DbPtrId => {
                if left < 12 {
                    return Some(self.fault(env));
                }
                let id = rest.get(..12)?;
                let mut hex = [0u8; 24];
                hex_into(id, &mut hex);
                self.put(env, self.vout, &hex, true);
                self.put(env, self.vout, b"\"}}", true);
                self.elem_done();
                Some(12)
            }
            St::ScopeLen => {
                if left < 5 {
                    return Some(self.fault(env));
                }
                let len = le_i32(rest)?;
                if len < 5 || len as u32 > left {
                    return Some(self.fault(env));
                }
                let end = self.off.wrapping_add(len as u32);
                self.open(env, Kind::Doc, end, Tag::None, self.vout, EXTRA_CLOSE);
                Some(4)
            }
            St::Skip { left: sl } => {
                if sl == 0 {
                    self.elem_done();
                    return Some(0);
                }
                let n = rest.len().min(sl as usize);
                if n == 0 {
                    return None;
                }
                self.st = St::Skip { left: sl - n as u32 };
                Some(n)
            }
            St::Drain { left: dl } => {
                if dl == 0 {
                    // Only the root is left (see `fault`).
                    self.st = St::Elem;
                    self.pop(env);
                    return Some(0);
                }
                let n = rest.len().min(dl as usize);
                if n == 0 {
                    return None;
                }
                self.st = St::Drain { left: dl - n as u32 };
                Some(n)
            }
        }
    }

    /// The value of type `self.ty` starts; `left` bytes remain in its
    /// document.
    fn value(&mut self, env: &mut Env<'_>, rest: &[u8], left: u32) -> Option<usize> {
        let Some(need) = fixed_len(self.ty) else {
            return Some(self.fault(env));
        };
        if need > left {
            return Some(self.fault(env));
        }
        let b = rest.get(..need as usize)?;
        let out = self.vout;
        let mut num = Buf::<64>::new();
        match self.ty {
            0x01 => {
                let v = f64::from_le_bytes(b.try_into().ok()?);
                if self.cap == Cap::Ok {
                    self.ok_zero = Some(v == 0.0);
                }
                write_f64(&mut num, v);
                self.put(env, out, num.get(), true);
            }
            0x02 | 0x0D | 0x0E | 0x0C => {
                let len = le_i32(b)?;
                if len < 1 || len as u32 > left - 4 {
                    return Some(self.fault(env));
                }
                let (open, part): (&[u8], StrPart) = match self.ty {
                    0x0D => (b"{\"$code\":\"", StrPart::Code),
                    0x0C => (b"{\"$dbPointer\":{\"$ref\":\"", StrPart::DbPtr),
                    _ => (b"\"", StrPart::Plain),
                };
                let mask = if self.raw_err { out & !ERR } else { out };
                self.put(env, mask, open, true);
                self.st = St::Str { left: len as u32, part };
                return Some(4);
            }
            0x03 | 0x04 => {
                let len = le_i32(b)?;
                if len < 5 || len as u32 > left {
                    return Some(self.fault(env));
                }
                if self.depth as usize > MAX_DEPTH {
                    self.truncated = true;
                    self.put(env, out, b"\"...\"", true);
                    self.st = St::Skip { left: len as u32 };
                    return Some(0);
                }
                let kind = if self.ty == 0x03 { Kind::Doc } else { Kind::Array };
                let end = self.off.wrapping_add(len as u32);
                let (tag, flags) = (self.vtag, self.vflags);
                self.open(env, kind, end, tag, out, flags);
                return Some(4);
            }
            0x05 => {
                let len = le_i32(b)?;
                if len < 0 || len as u32 > left - 5 {
                    return Some(self.fault(env));
                }
                self.bin_sub = b.get(4).copied().unwrap_or(0);
                self.b64_n = 0;
                self.put(env, out, b"{\"$binary\":{\"base64\":\"", true);
                self.st = St::Bin { left: len as u32 };
                return Some(5);
            }
            0x06 | 0x0A => self.put(env, out, b"null", true),
            0x07 => {
                let mut hex = [0u8; 26];
                hex[0] = b'"';
                hex[25] = b'"';
                if let Some(h) = hex.get_mut(1..25) {
                    hex_into(b, h);
                }
                self.put(env, out, &hex, true);
            }
            0x08 => {
                let v = b.first().copied().unwrap_or(0) != 0;
                if self.cap == Cap::Ok {
                    self.ok_zero = Some(!v);
                }
                self.put(env, out, if v { b"true" } else { b"false" }, true);
            }
            0x09 => {
                write_datetime(&mut num, le_i64(b)?);
                self.put(env, out, num.get(), true);
            }
            0x0B => {
                self.put(env, out, b"{\"$regex\":\"", true);
                self.st = St::Regex { part: 0 };
                return Some(0);
            }
            0x0F => {
                let total = le_i32(b)?;
                let slen = le_i32(b.get(4..)?)?;
                if total < 14 || total as u32 > left || slen < 1 || slen as u32 > (total as u32).saturating_sub(13) {
                    return Some(self.fault(env));
                }
                self.put(env, out, b"{\"$code\":\"", true);
                self.st = St::Str { left: slen as u32, part: StrPart::CodeScope };
                return Some(8);
            }
            0x10 => {
                let v = le_i32(b)?;
                if self.cap == Cap::Ok {
                    self.ok_zero = Some(v == 0);
                }
                let _ = write!(num, "{v}");
                self.put(env, out, num.get(), true);
            }
            0x11 => {
                let v = u64::from_le_bytes(b.try_into().ok()?);
                let _ = write!(num, "{v}");
                self.put(env, out, num.get(), true);
            }
            0x12 => {
                let v = le_i64(b)?;
                match self.cap {
                    Cap::Ok => self.ok_zero = Some(v == 0),
                    Cap::CursorId => self.cursor_id = Some(v),
                    _ => {}
                }
                let _ = write!(num, "{v}");
                self.put(env, out, num.get(), true);
            }
            0x13 => {
                self.put(env, out, b"{\"$numberDecimal\":\"", true);
                write_decimal128(&mut num, b);
                self.put(env, out, num.get(), true);
                self.put(env, out, b"\"}", true);
            }
            0x7F => self.put(env, out, b"{\"$maxKey\":1}", true),
            0xFF => self.put(env, out, b"{\"$minKey\":1}", true),
            _ => return Some(self.fault(env)),
        }
        self.elem_done();
        Some(need as usize)
    }

    /// Bytes of a string value (without its NUL).
    fn string_bytes(&mut self, env: &mut Env<'_>, b: &[u8]) {
        match self.cap {
            Cap::Coll => self.coll.push(b),
            Cap::Db => self.db.push(b),
            _ => {}
        }
        if self.raw_err {
            env.err.push(b);
            self.put_escaped(env, self.vout & !ERR, b);
        } else {
            self.put_escaped(env, self.vout, b);
        }
    }

    fn end_string(&mut self, env: &mut Env<'_>, part: StrPart) {
        let out = self.vout;
        match part {
            StrPart::Plain => {
                let mask = if self.raw_err { out & !ERR } else { out };
                self.put(env, mask, b"\"", true);
                self.elem_done();
            }
            StrPart::Code => {
                self.put(env, out, b"\"}", true);
                self.elem_done();
            }
            StrPart::DbPtr => {
                self.put(env, out, b"\",\"$id\":\"", true);
                self.st = St::DbPtrId;
            }
            StrPart::CodeScope => {
                self.put(env, out, b"\",\"$scope\":", true);
                self.st = St::ScopeLen;
            }
        }
    }

    fn b64_feed(&mut self, env: &mut Env<'_>, b: &[u8]) {
        let mut out = [0u8; 64];
        let mut n = 0usize;
        for &c in b {
            if let Some(slot) = self.b64.get_mut(self.b64_n as usize) {
                *slot = c;
                self.b64_n += 1;
                continue;
            }
            let q = b64_quad([self.b64[0], self.b64[1], c], 3);
            if let Some(d) = out.get_mut(n..n + 4) {
                d.copy_from_slice(&q);
            }
            n += 4;
            self.b64_n = 0;
            if n + 4 > out.len() {
                self.put(env, self.vout, out.get(..n).unwrap_or(&[]), false);
                n = 0;
            }
        }
        self.put(env, self.vout, out.get(..n).unwrap_or(&[]), false);
    }

    fn b64_flush(&mut self, env: &mut Env<'_>) {
        if self.b64_n > 0 {
            let q = b64_quad([self.b64[0], if self.b64_n > 1 { self.b64[1] } else { 0 }, 0], self.b64_n);
            self.put(env, self.vout, &q, true);
        }
        self.b64_n = 0;
    }

    /// Ends the walk where it is (the message ended or lost bytes): closes
    /// what was rendered so the JSON stays well formed.
    pub fn abort(&mut self, env: &mut Env<'_>, malformed: bool) {
        if self.depth == 0 {
            return;
        }
        self.malformed |= malformed;
        self.truncated = true;
        while self.depth > 0 {
            let lvl = self.top();
            self.close_level(env, lvl);
            self.depth -= 1;
        }
        if self.skip_elem {
            self.end_skip_range();
        }
        self.st = St::Elem;
    }

    /// A length or type made no sense: close what was rendered and skip to
    /// the end of the region. Returns 0 (the fault consumes nothing).
    fn fault(&mut self, env: &mut Env<'_>) -> usize {
        self.malformed = true;
        while self.depth > 1 {
            let lvl = self.top();
            self.close_level(env, lvl);
            self.depth -= 1;
        }
        self.skip_elem = false;
        self.stack[0].count = u32::MAX;
        let left = self.stack[0].end.saturating_sub(self.off);
        self.st = St::Drain { left };
        0
    }

    /// Writes what closes `lvl` and reports what it held.
    fn close_level(&mut self, env: &mut Env<'_>, lvl: Level) {
        let out = lvl.out;
        if lvl.flags & BARE == 0 {
            match lvl.kind {
                Kind::Doc => self.put(env, out, b"}", true),
                Kind::Array => self.put(env, out, b"]", true),
                Kind::Seq if lvl.flags & ARRAY_SEQ != 0 => self.put(env, out, b"]", true),
                Kind::Seq => {}
            }
        }
        if lvl.flags & EXTRA_CLOSE != 0 {
            self.put(env, out, b"}", true);
        }
        if lvl.flags & LINE != 0 && self.out.cut {
            // Packetbeat marks a cut document with " ..." (room reserved).
            self.out.write(env.text, b" ...", true, true);
        }
        match lvl.tag {
            Tag::Batch => self.batch = Some(lvl.count),
            Tag::RespTop if self.err_src == 1 && self.ok_zero == Some(false) => {
                // `errmsg` is an error only when `ok` is 0.
                env.err.clear();
                self.err_src = 0;
            }
            _ => {}
        }
    }

    fn pop(&mut self, env: &mut Env<'_>) {
        let lvl = self.top();
        self.close_level(env, lvl);
        self.depth = self.depth.saturating_sub(1);
        if lvl.kind == Kind::Seq && lvl.flags & ARRAY_SEQ != 0 && self.skip_elem {
            self.end_skip_range();
        }
        if self.depth > 0 {
            self.elem_done();
        }
    }

    fn end_skip_range(&mut self) {
        if let Some((_, e)) = self.query_skip.as_mut() {
            *e = self.out.span.len() as u16;
        }
        self.skip_elem = false;
    }

    /// The current element's value is complete.
    fn elem_done(&mut self) {
        if self.skip_elem && self.top().tag == Tag::ReqTop {
            self.end_skip_range();
        }
        if let Some(t) = self.top_mut() {
            t.count = t.count.saturating_add(1);
        }
        self.cap = Cap::None;
        self.raw_err = false;
        self.st = St::Elem;
    }

    /// Opens a nested level (its opening bracket is written now).
    fn open(&mut self, env: &mut Env<'_>, kind: Kind, end: u32, tag: Tag, out: u8, flags: u8) {
        if flags & BARE == 0 {
            match kind {
                Kind::Doc => self.put(env, out, b"{", true),
                Kind::Array => self.put(env, out, b"[", true),
                Kind::Seq => {}
            }
        }
        if let Some(l) = self.stack.get_mut(self.depth as usize) {
            *l = Level { end, count: 0, kind, tag, out, flags };
            self.depth += 1;
        }
        self.cap = Cap::None;
        self.raw_err = false;
        self.st = St::Elem;
    }

    /// A document of the region's sequence starts.
    fn push_seq_doc(&mut self, env: &mut Env<'_>, end: u32) {
        let seq = self.top();
        let (out, flags, tag) = match self.role {
            Role::Params { .. } => (MAIN, BARE, Tag::ReqTop),
            Role::Reply { .. } => {
                let out = self.line_begin(env);
                let tag = if self.docs == 1 { Tag::RespTop } else { Tag::None };
                (out, if out != 0 { LINE } else { 0 }, tag)
            }
            Role::Plain | Role::ParamsSeq | Role::None => {
                if seq.flags & HAS_ITEMS != 0 {
                    self.put(env, seq.out, b",", true);
                }
                (seq.out, 0, Tag::None)
            }
        };
        if let Some(t) = self.top_mut() {
            t.flags |= HAS_ITEMS;
        }
        self.open(env, Kind::Doc, end, tag, out, flags);
    }

    /// A response document starts: decides whether it is rendered, within
    /// what budget, keeping room so that every later document still gets
    /// its line (`max_docs` / `max_doc_length` as in Packetbeat).
    fn line_begin(&mut self, env: &mut Env<'_>) -> u8 {
        let i = self.docs;
        self.docs = self.docs.saturating_add(1);
        let o = env.opts;
        if !o.send_response {
            return 0;
        }
        if o.max_docs > 0 && i >= o.max_docs {
            if i == o.max_docs {
                self.out.write(env.text, b"\n[...]", true, true);
            }
            return 0;
        }
        if i > 0 {
            self.out.write(env.text, b"\n", true, true);
        }
        let mut later = self.expect_docs.saturating_sub(i.saturating_add(1));
        let mut more = 0usize;
        if o.max_docs > 0 {
            later = later.min(o.max_docs.saturating_sub(i.saturating_add(1)));
            if self.expect_docs > o.max_docs {
                more = 6;
            }
        }
        let reserve = 4usize.saturating_add((later as usize).saturating_mul(5)).saturating_add(more);
        let mut room = env.text.remaining().saturating_sub(reserve);
        self.out.soft = false;
        if o.max_doc_length > 0 && (o.max_doc_length as usize) < room {
            room = o.max_doc_length as usize;
            self.out.soft = true;
        }
        let cut = self.out.cut;
        self.out.limit = self.out.span.len().saturating_add(room).min(u32::MAX as usize) as u32;
        // A line cut only by its own budget leaves later lines their room;
        // a broken span (someone else wrote) stays broken.
        if cut && Out::fill_of(env.text) == self.out.fill {
            self.out.cut = false;
        }
        MAIN
    }

    /// The key is complete: decide what the value is rendered to and
    /// picked out as, and write the key.
    fn on_key(&mut self, env: &mut Env<'_>) {
        let lvl = self.top();
        let key_n = self.key_len as usize;
        let key_buf = self.key;
        let key = key_buf.get(..key_n).unwrap_or(&[]);
        let ty = self.ty;
        let is_str = ty == 0x02;
        let mut vout = lvl.out;
        self.vtag = Tag::None;
        self.vflags = 0;
        self.cap = Cap::None;
        self.raw_err = false;
        match lvl.tag {
            Tag::ReqTop => {
                let command = matches!(self.role, Role::Params { command: true });
                if command && !self.command_seen && key == b"$query" && ty == 0x03 {
                    // A command wrapped for a read preference: its first key
                    // is the command, its arguments continue the top level.
                    self.vtag = Tag::ReqTop;
                    self.vflags = BARE;
                    vout = MAIN;
                } else if command && !self.command_seen {
                    self.command_seen = true;
                    self.method.push(key);
                    self.method.cut |= self.key_long;
                    vout = 0;
                    if is_str {
                        self.cap = Cap::Coll;
                    }
                } else if key == b"$db" {
                    vout = 0;
                    if is_str {
                        self.cap = Cap::Db;
                    }
                } else if key == b"lsid" || key == b"$clusterTime" {
                    // Driver plumbing, the same for every command.
                    vout = 0;
                } else {
                    let skip = if self.command_seen { short_form_skip(self.method.get()) } else { None };
                    let skipped = skip.is_some_and(|k| k == key);
                    if !env.opts.send_request && (skipped || skip.is_none()) {
                        vout = 0;
                    }
                    if key == b"collection" && is_str && self.coll.get().is_empty() {
                        self.cap = Cap::Coll;
                    }
                    if vout != 0 {
                        self.skip_elem = skipped;
                        self.top_separator(env);
                        self.write_key(env, MAIN);
                    }
                }
            }
            Tag::RespTop => {
                let prio = if key == b"writeErrors" {
                    4
                } else if key == b"$err" {
                    3
                } else if key == b"writeConcernError" {
                    2
                } else if key == b"errmsg" && is_str {
                    1
                } else {
                    0
                };
                if prio > self.err_src {
                    env.err.clear();
                    self.err_src = prio;
                    vout |= ERR;
                    self.raw_err = is_str;
                } else if key == b"ok" {
                    self.cap = Cap::Ok;
                }
                if matches!(self.role, Role::Reply { msg: true }) && key == b"cursor" && ty == 0x03 {
                    self.vtag = Tag::Cursor;
                }
                self.key_and_sep(env, lvl.out);
            }
            Tag::Cursor => {
                if key == b"id" && ty == 0x12 {
                    self.cap = Cap::CursorId;
                } else if (key == b"firstBatch" || key == b"nextBatch") && ty == 0x04 {
                    self.vtag = Tag::Batch;
                }
                self.key_and_sep(env, lvl.out);
            }
            Tag::None | Tag::Batch => self.key_and_sep(env, lvl.out),
        }
        self.vout = vout;
        self.st = St::Value;
    }

    /// Separator and key of an element of a normal document or array.
    fn key_and_sep(&mut self, env: &mut Env<'_>, out: u8) {
        let lvl = self.top();
        if lvl.flags & HAS_ITEMS != 0 {
            self.put(env, out, b",", true);
        }
        if let Some(t) = self.top_mut() {
            t.flags |= HAS_ITEMS;
        }
        if lvl.kind == Kind::Doc {
            self.write_key(env, out);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The hex digit of the low nibble of `n`.
fn hex_digit(n: u8) -> u8 {
    HEX.get(n as usize & 15).copied().unwrap_or(b'0')
}

/// Lower-case hex of `b` into `out` (twice as long).
fn hex_into(b: &[u8], out: &mut [u8]) {
    for (i, &c) in b.iter().enumerate() {
        if let Some(d) = out.get_mut(2 * i..2 * i + 2) {
            d.copy_from_slice(&[hex_digit(c >> 4), hex_digit(c)]);
        }
    }
}

/// Base64 of `n` (1..=3) bytes of `b`, padded.
fn b64_quad(b: [u8; 3], n: u8) -> [u8; 4] {
    let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
    let c = |s: u32| B64.get((v >> s) as usize & 63).copied().unwrap_or(b'=');
    [c(18), c(12), if n > 1 { c(6) } else { b'=' }, if n > 2 { c(0) } else { b'=' }]
}

/// A fixed buffer for `core::fmt` (numbers, dates); writes past its end
/// fail instead of panicking.
pub(super) struct Buf<const N: usize> {
    b: [u8; N],
    n: usize,
}

impl<const N: usize> Buf<N> {
    pub(super) fn new() -> Self {
        Buf { b: [0; N], n: 0 }
    }
    pub(super) fn get(&self) -> &[u8] {
        self.b.get(..self.n).unwrap_or(&[])
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.n.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.b.get_mut(self.n..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.n = end;
        Ok(())
    }
}

/// A double as JSON: integral values without a fraction (as Go prints
/// them), very large or small ones in exponent form, non-finite ones as
/// extended JSON.
fn write_f64(b: &mut Buf<64>, v: f64) {
    if v.is_nan() {
        let _ = b.write_str("{\"$numberDouble\":\"NaN\"}");
    } else if v.is_infinite() {
        let _ =
            b.write_str(if v > 0.0 { "{\"$numberDouble\":\"Infinity\"}" } else { "{\"$numberDouble\":\"-Infinity\"}" });
    } else {
        let a = if v < 0.0 { -v } else { v };
        if a != 0.0 && !(1e-6..1e21).contains(&a) {
            let _ = write!(b, "{v:e}");
        } else {
            let _ = write!(b, "{v}");
        }
    }
}

/// Days since 1970-01-01 to a civil date (any sign; Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A BSON datetime (ms since the epoch) as an RFC 3339 string, trailing
/// zeros of the fraction dropped (as Go's encoder writes `time.Time`);
/// outside years 0..=9999 as the plain number.
fn write_datetime(b: &mut Buf<64>, ms: i64) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        let _ = write!(b, "{ms}");
        return;
    }
    let sod = secs.rem_euclid(86_400);
    let _ = write!(b, "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, mo, d, sod / 3600, sod / 60 % 60, sod % 60);
    if frac != 0 {
        let (mut f, mut w) = (frac, 3);
        while f % 10 == 0 {
            f /= 10;
            w -= 1;
        }
        let _ = write!(b, ".{f:0w$}");
    }
    let _ = b.write_str("Z\"");
}

/// A decimal128 (IEEE 754-2008, binary integer decimal) in the string
/// form MongoDB's extended JSON uses.
fn write_decimal128(b: &mut Buf<64>, v: &[u8]) {
    let (Some(lo), Some(hi)) = (v.get(..8), v.get(8..16)) else { return };
    let lo = u64::from_le_bytes(lo.try_into().unwrap_or([0; 8]));
    let hi = u64::from_le_bytes(hi.try_into().unwrap_or([0; 8]));
    let neg = hi >> 63 == 1;
    let comb = (hi >> 58) & 0x1f;
    if comb == 0x1f {
        let _ = b.write_str("NaN");
        return;
    }
    if comb == 0x1e {
        let _ = b.write_str(if neg { "-Infinity" } else { "Infinity" });
        return;
    }
    let (exp, coef) = if (hi >> 61) & 3 == 3 {
        // The large-coefficient form: always beyond 10^34, so zero.
        (((hi >> 47) & 0x3fff) as i32, 0u128)
    } else {
        let c = ((hi & 0x1_ffff_ffff_ffff) as u128) << 64 | lo as u128;
        (((hi >> 49) & 0x3fff) as i32, if c >= 10u128.pow(34) { 0 } else { c })
    };
    let exp = exp - 6176;
    let mut digits = Buf::<40>::new();
    let _ = write!(digits, "{coef}");
    let d = digits.get();
    let n = d.len() as i32;
    let adjusted = exp + n - 1;
    if neg {
        let _ = b.write_str("-");
    }
    fn s(x: &[u8]) -> &str {
        core::str::from_utf8(x).unwrap_or("")
    }
    if exp <= 0 && adjusted >= -6 {
        if exp == 0 {
            let _ = b.write_str(s(d));
        } else {
            let point = n + exp;
            if point > 0 {
                let (a, c) = d.split_at(point as usize);
                let _ = write!(b, "{}.{}", s(a), s(c));
            } else {
                let _ = b.write_str("0.");
                for _ in 0..-point {
                    let _ = b.write_str("0");
                }
                let _ = b.write_str(s(d));
            }
        }
    } else {
        let (a, c) = d.split_at(1.min(d.len()));
        let _ = b.write_str(s(a));
        if !c.is_empty() {
            let _ = write!(b, ".{}", s(c));
        }
        let _ = write!(b, "E{}{}", if adjusted >= 0 { "+" } else { "" }, adjusted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mongodb::tests::Bs;

    type Rendered = heapless::String<3000>;

    /// Renders one document with `Role::Plain`, `chunk` bytes per call
    /// (unconsumed bytes carried over, as the engine does).
    fn render(doc: &[u8], chunk: usize) -> (Rendered, bool, bool) {
        let mut text = Text::new();
        let mut err = ErrorText::default();
        let mut w = Walker::default();
        let mut env = Env { text: &mut text, err: &mut err, opts: Opts::default() };
        let out = Out::start(env.text, Span::EMPTY, 3000);
        w.start(&mut env, Role::Plain, doc.len() as u32, 1, out);
        let mut carry: heapless::Vec<u8, 4096> = heapless::Vec::new();
        let mut done = false;
        for piece in doc.chunks(chunk) {
            carry.extend_from_slice(piece).unwrap();
            let (n, d) = w.feed(&mut env, &carry);
            done = d;
            let rest: heapless::Vec<u8, 4096> = heapless::Vec::from_slice(&carry[n..]).unwrap();
            carry = rest;
        }
        assert!(done, "walk finished");
        assert!(carry.is_empty(), "every byte consumed");
        let mut s = Rendered::new();
        write!(s, "{}", crate::text::Lossy(env.text.get(w.out.span))).unwrap();
        (s, w.malformed, w.truncated)
    }

    fn balanced(s: &str) -> bool {
        let (mut depth, mut in_str, mut esc) = (0i32, false, false);
        for c in s.chars() {
            match (in_str, esc, c) {
                (true, true, _) => esc = false,
                (true, false, '\\') => esc = true,
                (true, false, '"') => in_str = false,
                (false, _, '"') => in_str = true,
                (false, _, '{' | '[') => depth += 1,
                (false, _, '}' | ']') => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return false;
            }
        }
        depth == 0 && !in_str
    }

    fn dec128(neg: bool, exp: i32, coef: u64) -> [u8; 16] {
        let hi = (neg as u64) << 63 | ((exp + 6176) as u64) << 49;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&coef.to_le_bytes());
        b[8..].copy_from_slice(&hi.to_le_bytes());
        b
    }

    #[test]
    fn every_type_renders_the_same_whatever_the_cuts() {
        let mut bin = [0u8; 21];
        bin[..4].copy_from_slice(&16i32.to_le_bytes());
        bin[4] = 4;
        for (i, b) in bin[5..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let oid = [0x55, 0x8b, 0xeb, 0xb4, 0x5f, 0x07, 0x56, 0x65, 0xd2, 0xae, 0x86, 0x27];
        let mut dbptr: heapless::Vec<u8, 64> = heapless::Vec::new();
        dbptr.extend_from_slice(&4i32.to_le_bytes()).unwrap();
        dbptr.extend_from_slice(b"a.b\0").unwrap();
        dbptr.extend_from_slice(&oid).unwrap();
        let scope = Bs::new().i32("x", 1).done();
        let mut cws: heapless::Vec<u8, 64> = heapless::Vec::new();
        let total = 4 + 4 + 2 + scope.len();
        cws.extend_from_slice(&(total as i32).to_le_bytes()).unwrap();
        cws.extend_from_slice(&2i32.to_le_bytes()).unwrap();
        cws.extend_from_slice(b"f\0").unwrap();
        cws.extend_from_slice(&scope).unwrap();
        let mut code = [0u8; 7];
        code[..4].copy_from_slice(&3i32.to_le_bytes());
        code[4..].copy_from_slice(b"go\0");
        let doc = Bs::new()
            .f64("d", 1.0)
            .f64("d2", -2.5)
            .f64("big", 1e300)
            .str("s", "q\"b\\n\n\u{1}é")
            .doc("o")
            .i32("a", 1)
            .arr("l")
            .str("0", "x")
            .bool("1", false)
            .close()
            .close()
            .raw(0x05, "bin", &bin)
            .raw(0x06, "u", &[])
            .raw(0x07, "id", &oid)
            .bool("t", true)
            .raw(0x09, "when", &1_394_755_200_123i64.to_le_bytes())
            .raw(0x09, "before", &(-1i64).to_le_bytes())
            .raw(0x0A, "n", &[])
            .raw(0x0B, "re", b"^a.*\0i\0")
            .raw(0x0C, "ptr", &dbptr)
            .raw(0x0D, "js", &code)
            .raw(0x0E, "sym", &code)
            .raw(0x0F, "cws", &cws)
            .i32("i", -7)
            .raw(0x11, "ts", &((5u64 << 32) | 1).to_le_bytes())
            .i64("l64", 1 << 40)
            .raw(0x13, "dec", &dec128(false, 0, 1))
            .raw(0x13, "dec2", &dec128(true, -6, 1234))
            .raw(0x13, "dec3", &dec128(false, 3, 123))
            .raw(0xFF, "min", &[])
            .raw(0x7F, "max", &[])
            .done();
        let want = concat!(
            r#"{"d":1,"d2":-2.5,"big":1e300,"s":"q\"b\\n\n\u0001é","o":{"a":1,"l":["x",false]},"#,
            r#""bin":{"$binary":{"base64":"AAECAwQFBgcICQoLDA0ODw==","subType":"04"}},"u":null,"#,
            r#""id":"558bebb45f075665d2ae8627","t":true,"when":"2014-03-14T00:00:00.123Z","#,
            r#""before":"1969-12-31T23:59:59.999Z","n":null,"re":{"$regex":"^a.*","$options":"i"},"#,
            r#""ptr":{"$dbPointer":{"$ref":"a.b","$id":"558bebb45f075665d2ae8627"}},"js":{"$code":"go"},"#,
            r#""sym":"go","cws":{"$code":"f","$scope":{"x":1}},"i":-7,"ts":21474836481,"l64":1099511627776,"#,
            r#""dec":{"$numberDecimal":"1"},"dec2":{"$numberDecimal":"-0.001234"},"#,
            r#""dec3":{"$numberDecimal":"1.23E+5"},"min":{"$minKey":1},"max":{"$maxKey":1}}"#
        );
        for chunk in [doc.len(), 1, 2, 3, 7, 16, 17] {
            let (s, malformed, truncated) = render(&doc, chunk);
            assert_eq!(s.as_str(), want, "chunk {chunk}");
            assert!(!malformed && !truncated);
        }
    }

    #[test]
    fn depth_is_capped() {
        let mut b = Bs::new();
        for _ in 0..15 {
            b.doc("a");
        }
        for _ in 0..15 {
            b.close();
        }
        let doc = b.done();
        let (s, malformed, truncated) = render(&doc, 5);
        assert!(!malformed);
        assert!(truncated);
        assert!(s.contains("\"...\""), "{s}");
        assert!(balanced(&s), "{s}");
    }

    #[test]
    fn faults_close_the_json() {
        let good = Bs::new().str("a", "xyz").doc("b").arr("c").i32("0", 1).close().close().done();
        for i in 0..good.len() {
            for v in [0x00u8, 0x01, 0x7f, 0xff, 0x03, 0x13] {
                let mut bad = good.clone();
                bad[i] = v;
                let (s, _, _) = render(&bad, 3);
                assert!(balanced(&s), "byte {i} = {v}: {s}");
            }
        }
    }

    #[test]
    fn names_cut_and_flagged() {
        let mut n: Name<4> = Name::default();
        n.push(b"abcdef");
        assert_eq!(n.get(), b"abcd");
        assert!(n.cut);
    }
}
