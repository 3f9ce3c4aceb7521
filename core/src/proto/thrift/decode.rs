//! A streaming decoder of Thrift message bodies (binary and compact
//! encodings) that renders values as Packetbeat writes them.
//!
//! The body is read as it arrives: each fixed-size item (a number, a field
//! or container header: at most 16 bytes) is read whole, so the caller keeps
//! an unconsumed tail until more bytes come (the engine's carry block);
//! strings are consumed piece by piece. Nesting is tracked on an explicit
//! stack of [`MAX_DEPTH`] frames (no recursion); deeper input is malformed.
//!
//! Rendering (Packetbeat 1.x's format): structs as `(1: v, 2: v)`, lists as
//! `[a, b]`, sets as `{a, b}`, maps as `{k: v}`, strings quoted (or hex when
//! not UTF-8), at most `collection_max_size` elements or fields then `...`,
//! strings cut after `string_max_size` bytes with `...`. A struct with more
//! than `drop_after_n_struct_fields` fields makes the message malformed.

use core::fmt::{self, Write as _};

use super::idl::{FieldRange, ThriftIdl};
use super::txn::{TSpan, ThriftText};
use super::wire::{varint, Enc};

/// Deepest nesting of structs and containers decoded (Thrift's own default
/// recursion limit); deeper input is treated as malformed.
pub const MAX_DEPTH: usize = 64;
/// Largest message accepted (Thrift's default `max_message_size`, 100 MiB):
/// a string or container announcing more is malformed.
pub const MAX_MESSAGE: u32 = 100 * 1024 * 1024;

/// Value types (both encodings map to these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Ty {
    #[default]
    Bool,
    Byte,
    I16,
    I32,
    I64,
    Double,
    Binary,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

impl Ty {
    fn from_wire(enc: Enc, t: u8) -> Option<Ty> {
        match enc {
            Enc::Binary => match t {
                2 => Some(Ty::Bool),
                3 => Some(Ty::Byte),
                4 => Some(Ty::Double),
                6 => Some(Ty::I16),
                8 => Some(Ty::I32),
                10 => Some(Ty::I64),
                11 => Some(Ty::Binary),
                12 => Some(Ty::Struct),
                13 => Some(Ty::Map),
                14 => Some(Ty::Set),
                15 => Some(Ty::List),
                16 => Some(Ty::Uuid),
                _ => None,
            },
            Enc::Compact => match t {
                1 | 2 => Some(Ty::Bool),
                3 => Some(Ty::Byte),
                4 => Some(Ty::I16),
                5 => Some(Ty::I32),
                6 => Some(Ty::I64),
                7 => Some(Ty::Double),
                8 => Some(Ty::Binary),
                9 => Some(Ty::List),
                10 => Some(Ty::Set),
                11 => Some(Ty::Map),
                12 => Some(Ty::Struct),
                13 => Some(Ty::Uuid),
                _ => None,
            },
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Struct,
    List,
    Set,
    Map,
}

impl Kind {
    fn close(self) -> &'static [u8] {
        match self {
            Kind::Struct => b")",
            Kind::List => b"]",
            Kind::Set | Kind::Map => b"}",
        }
    }
}

/// One level of nesting (16 bytes).
#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    kind: Kind,
    /// Element type (lists, sets) or key type (maps).
    elem: Ty,
    /// Value type (maps).
    val: Ty,
    /// The contents are rendered.
    show: bool,
    /// Maps: the next item is the value of the current pair.
    map_value: bool,
    /// The reply's result struct: its first field decides between a return
    /// value and exceptions.
    result_root: bool,
    /// Compact encoding: the last field id (ids are sent as deltas).
    last_id: i16,
    /// Elements (or pairs) still to read.
    left: u32,
    /// Elements, pairs or fields read so far.
    index: u32,
}

/// What the message body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A call's argument struct: rendered into `params`.
    Args,
    /// A reply's result struct: field 0 is the return value, others exceptions.
    Result,
    /// A TApplicationException (message type EXCEPTION): rendered into `exceptions`.
    AppException,
}

/// Where the rendered text goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Target {
    #[default]
    None,
    Params,
    Return,
    Exceptions,
}

/// Decoding options (from the configuration).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Opts {
    pub string_max: u32,
    pub collection_max: u32,
    pub drop_after: u32,
    pub obfuscate: bool,
    /// Render at all (replies with `capture_reply: false` are only decoded).
    pub render: bool,
}

/// Outcome of [`Decoder::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Everything given was used (or a tail is kept): more bytes needed.
    NeedMore,
    /// The body is complete.
    Done,
    /// The bytes are not a valid body (or exceed a limit).
    Malformed,
}

/// Decoder state of one message body.
#[derive(Clone, Debug)]
pub(crate) struct Decoder {
    stack: [Frame; MAX_DEPTH],
    depth: u8,
    enc: Enc,
    opts: Opts,
    /// Type of the next value, when one is expected.
    want: Option<Ty>,
    /// Render the next value.
    show_value: bool,
    /// A string is being read.
    in_str: bool,
    str_show: bool,
    str_left: u32,
    str_total: u32,
    str_start: u16,
    /// Bytes the rest of the message may still have (frame, message cap).
    bound: u32,
    /// Render at all (`capture_reply: false` decodes replies without).
    render: bool,
    /// Start of the output in the arena, and the offset it may not pass.
    out_start: u16,
    limit: u16,
    /// The output was cut (arena budget): nothing more is written.
    cut: bool,
    /// Where the output goes.
    pub target: Target,
    /// The reply is an exception.
    pub exception: bool,
    /// IDL names of the top-level fields (parameters, or exceptions of a
    /// reply), when the method is in the table.
    names: Option<FieldRange>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            stack: [Frame::default(); MAX_DEPTH],
            depth: 0,
            enc: Enc::Binary,
            opts: Opts::default(),
            want: None,
            show_value: false,
            in_str: false,
            str_show: false,
            str_left: 0,
            str_total: 0,
            str_start: 0,
            bound: 0,
            render: false,
            out_start: 0,
            limit: 0,
            cut: false,
            target: Target::None,
            exception: false,
            names: None,
        }
    }
}

/// Writes formatted numbers straight into the output.
struct Out<'a> {
    d: &'a mut Decoder,
    text: &'a mut ThriftText,
}

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.d.put(self.text, s.as_bytes());
        Ok(())
    }
}

fn escape(b: u8) -> ([u8; 4], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let two = |c: u8| ([b'\\', c, 0, 0], 2);
    match b {
        b'"' => two(b'"'),
        b'\\' => two(b'\\'),
        b'\n' => two(b'n'),
        b'\r' => two(b'r'),
        b'\t' => two(b't'),
        0x07 => two(b'a'),
        0x08 => two(b'b'),
        0x0b => two(b'v'),
        0x0c => two(b'f'),
        0..=0x1f | 0x7f => {
            let h = |i: u8| HEX.get(i as usize).copied().unwrap_or(b'0');
            ([b'\\', b'x', h(b >> 4), h(b & 0x0f)], 4)
        }
        _ => ([b, 0, 0, 0], 1),
    }
}

fn be_u64(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |v, &x| (v << 8) | u64::from(x))
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

impl Decoder {
    /// Forgets any message in progress.
    pub(crate) fn clear(&mut self) {
        self.depth = 0;
        self.want = None;
        self.in_str = false;
        self.cut = false;
        self.target = Target::None;
        self.exception = false;
        self.names = None;
    }

    /// Names the top-level fields from an IDL table entry (set after
    /// [`start`](Self::start)).
    pub(crate) fn set_names(&mut self, names: Option<FieldRange>) {
        self.names = names;
    }

    /// True while a body is being decoded.
    pub(crate) fn active(&self) -> bool {
        self.depth > 0 || self.in_str || self.want.is_some()
    }

    /// Starts a body of `role`. Output goes at the arena's end and may not
    /// pass `limit`; `bound` is how many bytes the body can have at most.
    pub(crate) fn start(&mut self, text: &mut ThriftText, enc: Enc, role: Role, opts: Opts, limit: usize, bound: u32) {
        self.clear();
        self.enc = enc;
        self.opts = opts;
        self.render = opts.render;
        self.bound = bound.min(MAX_MESSAGE);
        self.out_start = text.len() as u16;
        self.limit = limit.min(super::txn::THRIFT_TEXT_CAP) as u16;
        self.target = match role {
            Role::Args => Target::Params,
            Role::Result => Target::Return,
            Role::AppException => Target::Exceptions,
        };
        self.exception = role == Role::AppException;
        let show = role != Role::Result;
        self.stack[0] = Frame { kind: Kind::Struct, show, result_root: role == Role::Result, ..Frame::default() };
        self.depth = 1;
        if show {
            self.put(text, b"(");
        }
    }

    /// The text rendered so far.
    pub(crate) fn output(&self, text: &ThriftText) -> TSpan {
        text.since(self.out_start as usize)
    }

    /// Ends a body that stopped early (gap, end of stream, end of frame):
    /// a string in progress is closed and the text ends in `...`.
    pub(crate) fn finish_incomplete(&mut self, text: &mut ThriftText) {
        if self.in_str {
            self.in_str = false;
            self.end_string(text);
        }
        if self.active() {
            self.put(text, b"...");
        }
        self.depth = 0;
        self.want = None;
    }

    /// Appends `bytes` to the output, or cuts it with `...` when the budget
    /// is reached (flagging the arena).
    fn put(&mut self, text: &mut ThriftText, bytes: &[u8]) {
        if !self.render || self.cut {
            return;
        }
        let lim = self.limit as usize;
        if text.append(bytes, lim.saturating_sub(3)) {
            return;
        }
        let room = lim.saturating_sub(3).saturating_sub(text.len());
        text.append(bytes.get(..room.min(bytes.len())).unwrap_or(&[]), lim);
        text.append(b"...", lim);
        text.truncated = true;
        self.cut = true;
    }

    fn put_fmt(&mut self, text: &mut ThriftText, args: fmt::Arguments<'_>) {
        if !self.render || self.cut {
            return;
        }
        let _ = Out { d: self, text }.write_fmt(args);
    }

    fn top(&mut self) -> Option<&mut Frame> {
        let d = self.depth as usize;
        self.stack.get_mut(d.checked_sub(1)?)
    }

    fn push(&mut self, text: &mut ThriftText, f: Frame) -> Result<(), ()> {
        let slot = self.stack.get_mut(self.depth as usize).ok_or(())?;
        *slot = f;
        self.depth += 1;
        if f.show {
            let open: &[u8] = match f.kind {
                Kind::Struct => b"(",
                Kind::List => b"[",
                Kind::Set | Kind::Map => b"{",
            };
            self.put(text, open);
        }
        Ok(())
    }

    fn pop(&mut self, text: &mut ThriftText) {
        let Some(f) = self.top().copied() else { return };
        self.depth -= 1;
        if f.show {
            self.put(text, f.kind.close());
        }
    }

    /// Takes `n` bytes off the body's bound; false when the body would
    /// exceed it.
    fn spend(&mut self, n: usize) -> bool {
        match self.bound.checked_sub(n as u32) {
            Some(b) if n <= u32::MAX as usize => {
                self.bound = b;
                true
            }
            _ => false,
        }
    }

    /// Decodes what it can of `data`; returns the bytes used and why it
    /// stopped.
    pub(crate) fn feed(&mut self, text: &mut ThriftText, data: &[u8], idl: Option<&ThriftIdl>) -> (usize, Step) {
        let mut pos = 0usize;
        // Every turn consumes bytes, or pushes or pops a frame (each push
        // consumed a header byte, or is a struct value announced by one).
        let mut guard = data.len().saturating_mul(3) + 4 * MAX_DEPTH + 8;
        loop {
            if guard == 0 {
                return (pos, Step::Malformed);
            }
            guard -= 1;
            let rest = data.get(pos..).unwrap_or(&[]);
            if self.in_str {
                let n = (self.str_left as usize).min(rest.len());
                if !self.spend(n) {
                    return (pos, Step::Malformed);
                }
                self.str_bytes(text, rest.get(..n).unwrap_or(&[]));
                pos += n;
                self.str_left -= n as u32;
                if self.str_left > 0 {
                    return (pos, Step::NeedMore);
                }
                self.in_str = false;
                self.end_string(text);
                continue;
            }
            let r = if let Some(ty) = self.want {
                let r = self.value(text, ty, rest);
                if matches!(r, Ok(Some(_))) {
                    self.want = None;
                }
                r
            } else {
                let Some(top) = self.top().copied() else { return (pos, Step::Done) };
                match top.kind {
                    Kind::Struct => self.field(text, rest, idl),
                    Kind::List | Kind::Set => {
                        self.element(text, top);
                        Ok(Some(0))
                    }
                    Kind::Map => {
                        self.map_item(text, top);
                        Ok(Some(0))
                    }
                }
            };
            match r {
                Ok(Some(n)) => {
                    if !self.spend(n) {
                        return (pos, Step::Malformed);
                    }
                    pos += n;
                }
                Ok(None) => return (pos, Step::NeedMore),
                Err(()) => return (pos, Step::Malformed),
            }
        }
    }

    /// Next element of a list or set (or its end).
    fn element(&mut self, text: &mut ThriftText, f: Frame) {
        if f.left == 0 {
            self.pop(text);
            return;
        }
        let i = f.index;
        if let Some(t) = self.top() {
            t.left -= 1;
            t.index += 1;
        }
        self.show_value = self.separator(text, f.show, i);
        self.want = Some(f.elem);
    }

    /// Next key or value of a map (or its end).
    fn map_item(&mut self, text: &mut ThriftText, f: Frame) {
        if f.map_value {
            let show = f.show && f.index.saturating_sub(1) < self.opts.collection_max;
            if show {
                self.put(text, b": ");
            }
            if let Some(t) = self.top() {
                t.map_value = false;
            }
            self.show_value = show;
            self.want = Some(f.val);
            return;
        }
        if f.left == 0 {
            self.pop(text);
            return;
        }
        let i = f.index;
        if let Some(t) = self.top() {
            t.left -= 1;
            t.index += 1;
            t.map_value = true;
        }
        self.show_value = self.separator(text, f.show, i);
        self.want = Some(f.elem);
    }

    /// Writes what goes before item `i` of a shown container: `, ` or, at
    /// the cap, `...`. Returns whether the item itself is shown.
    fn separator(&mut self, text: &mut ThriftText, show: bool, i: u32) -> bool {
        if !show {
            return false;
        }
        let cap = self.opts.collection_max;
        if i < cap {
            if i > 0 {
                self.put(text, b", ");
            }
            true
        } else {
            if i == cap {
                self.put(text, if i > 0 { b", ..." } else { b"..." });
            }
            false
        }
    }

    /// A struct field header (or the struct's end).
    fn field(&mut self, text: &mut ThriftText, d: &[u8], idl: Option<&ThriftIdl>) -> Result<Option<usize>, ()> {
        let Some(&b0) = d.first() else { return Ok(None) };
        if b0 == 0 {
            self.pop(text);
            return Ok(Some(1));
        }
        let (ty, id, n, compact_bool) = match self.enc {
            Enc::Binary => {
                let Some(b) = d.get(1..3) else { return Ok(None) };
                let id = i16::from_be_bytes([*b.first().ok_or(())?, *b.get(1).ok_or(())?]);
                (Ty::from_wire(Enc::Binary, b0).ok_or(())?, id, 3, None)
            }
            Enc::Compact => {
                let t = b0 & 0x0f;
                let ty = Ty::from_wire(Enc::Compact, t).ok_or(())?;
                let delta = b0 >> 4;
                let last = self.top().map_or(0, |f| f.last_id);
                let (id, n) = if delta == 0 {
                    let Some((v, n)) = varint(d, 1, 3)? else { return Ok(None) };
                    (i16::try_from(zigzag(v)).map_err(|_| ())?, 1 + n)
                } else {
                    (last.wrapping_add(i16::from(delta)), 1)
                };
                let b = match t {
                    1 => Some(true),
                    2 => Some(false),
                    _ => None,
                };
                (ty, id, n, b)
            }
        };
        let drop_after = self.opts.drop_after;
        let Some(f) = self.top() else { return Err(()) };
        f.last_id = id;
        let i = f.index;
        f.index = f.index.saturating_add(1);
        if f.index > drop_after {
            return Err(());
        }
        let f = *f;
        self.show_value = if f.result_root && i == 0 {
            if id == 0 {
                true
            } else {
                self.exception = true;
                self.target = Target::Exceptions;
                if let Some(t) = self.top() {
                    t.show = true;
                }
                self.put(text, b"(");
                self.label(text, id, idl);
                true
            }
        } else {
            let show = self.separator(text, f.show, i);
            if show {
                self.label(text, id, idl);
            }
            show
        };
        match compact_bool {
            Some(v) => {
                if self.show_value {
                    self.put(text, if v { b"true" } else { b"false" });
                }
            }
            None => self.want = Some(ty),
        }
        Ok(Some(n))
    }

    /// `id: `, or `name: ` for a top-level field the IDL table names.
    fn label(&mut self, text: &mut ThriftText, id: i16, idl: Option<&ThriftIdl>) {
        let name = match (self.depth, self.names, idl) {
            (1, Some(r), Some(t)) => t.field_name(r, id),
            _ => None,
        };
        match name {
            Some(n) => {
                self.put(text, n);
                self.put(text, b": ");
            }
            None => self.put_fmt(text, format_args!("{id}: ")),
        }
    }

    /// One value of type `ty` (a container's header).
    fn value(&mut self, text: &mut ThriftText, ty: Ty, d: &[u8]) -> Result<Option<usize>, ()> {
        let show = self.show_value;
        let compact = self.enc == Enc::Compact;
        macro_rules! need {
            ($n:expr) => {
                match d.get(..$n) {
                    Some(b) => b,
                    None => return Ok(None),
                }
            };
        }
        macro_rules! zz {
            ($max:expr) => {
                match varint(d, 0, $max)? {
                    Some((v, n)) => (zigzag(v), n),
                    None => return Ok(None),
                }
            };
        }
        let n = match ty {
            Ty::Bool => {
                let b = need!(1);
                // Binary: any non-zero byte is true; compact: 1 is true (2 false).
                let v = b.first().is_some_and(|&x| if compact { x == 1 } else { x != 0 });
                if show {
                    self.put(text, if v { b"true" } else { b"false" });
                }
                1
            }
            Ty::Byte => {
                let b = need!(1);
                if show {
                    self.put_fmt(text, format_args!("{}", b.first().copied().unwrap_or(0) as i8));
                }
                1
            }
            Ty::I16 | Ty::I32 | Ty::I64 if compact => {
                let (v, n) = match ty {
                    Ty::I16 => zz!(3),
                    Ty::I32 => zz!(5),
                    _ => zz!(10),
                };
                if show {
                    self.put_fmt(text, format_args!("{v}"));
                }
                n
            }
            Ty::I16 => {
                let b = need!(2);
                if show {
                    self.put_fmt(text, format_args!("{}", be_u64(b) as u16 as i16));
                }
                2
            }
            Ty::I32 => {
                let b = need!(4);
                if show {
                    self.put_fmt(text, format_args!("{}", be_u64(b) as u32 as i32));
                }
                4
            }
            Ty::I64 => {
                let b = need!(8);
                if show {
                    self.put_fmt(text, format_args!("{}", be_u64(b) as i64));
                }
                8
            }
            Ty::Double => {
                let b = need!(8);
                if show {
                    let bits = if compact { be_u64(b).swap_bytes() } else { be_u64(b) };
                    let v = f64::from_bits(bits);
                    // Go's strconv.FormatFloat(v, 'f', -1, 64), as Packetbeat.
                    if v.is_nan() {
                        self.put(text, b"NaN");
                    } else if v.is_infinite() {
                        self.put(text, if v > 0.0 { b"+Inf" } else { b"-Inf" });
                    } else {
                        self.put_fmt(text, format_args!("{v}"));
                    }
                }
                8
            }
            Ty::Uuid => {
                let b = need!(16);
                if show {
                    for (i, x) in b.iter().enumerate() {
                        if matches!(i, 4 | 6 | 8 | 10) {
                            self.put(text, b"-");
                        }
                        self.put_fmt(text, format_args!("{x:02x}"));
                    }
                }
                16
            }
            Ty::Binary => {
                let (len, n) = if compact {
                    match varint(d, 0, 5)? {
                        Some((v, n)) => (v, n),
                        None => return Ok(None),
                    }
                } else {
                    let b = need!(4);
                    let v = be_u64(b) as u32 as i32;
                    (u64::try_from(v).map_err(|_| ())?, 4)
                };
                if len > u64::from(self.bound.saturating_sub(n as u32)) {
                    return Err(());
                }
                self.start_string(text, len as u32, show);
                n
            }
            Ty::Struct => {
                self.push(text, Frame { kind: Kind::Struct, show, ..Frame::default() })?;
                0
            }
            Ty::List | Ty::Set => {
                let (et, size, n) = if compact {
                    let b = need!(1);
                    let b0 = b.first().copied().unwrap_or(0);
                    let short = u64::from(b0 >> 4);
                    let (size, n) = if short == 15 {
                        match varint(d, 1, 5)? {
                            Some((v, n)) => (v, 1 + n),
                            None => return Ok(None),
                        }
                    } else {
                        (short, 1)
                    };
                    (Ty::from_wire(Enc::Compact, b0 & 0x0f), size, n)
                } else {
                    let b = need!(5);
                    let size = be_u64(b.get(1..5).unwrap_or(&[])) as u32 as i32;
                    (
                        Ty::from_wire(Enc::Binary, b.first().copied().unwrap_or(0)),
                        u64::try_from(size).map_err(|_| ())?,
                        5,
                    )
                };
                // Every element takes at least one byte.
                if size > u64::from(self.bound.saturating_sub(n as u32)) {
                    return Err(());
                }
                let kind = if ty == Ty::List { Kind::List } else { Kind::Set };
                let elem = match et {
                    Some(t) => t,
                    None if size == 0 => Ty::Bool,
                    None => return Err(()),
                };
                self.push(text, Frame { kind, elem, show, left: size as u32, ..Frame::default() })?;
                n
            }
            Ty::Map => {
                let (kt, vt, size, n) = if compact {
                    let (size, n) = match varint(d, 0, 5)? {
                        Some(x) => x,
                        None => return Ok(None),
                    };
                    if size == 0 {
                        (Some(Ty::Bool), Some(Ty::Bool), 0, n)
                    } else {
                        let Some(&t) = d.get(n) else { return Ok(None) };
                        (Ty::from_wire(Enc::Compact, t >> 4), Ty::from_wire(Enc::Compact, t & 0x0f), size, n + 1)
                    }
                } else {
                    let b = need!(6);
                    let size = be_u64(b.get(2..6).unwrap_or(&[])) as u32 as i32;
                    let t = |i: usize| b.get(i).copied().unwrap_or(0);
                    let (kt, vt) = (Ty::from_wire(Enc::Binary, t(0)), Ty::from_wire(Enc::Binary, t(1)));
                    let size = u64::try_from(size).map_err(|_| ())?;
                    if size == 0 {
                        (Some(kt.unwrap_or_default()), Some(vt.unwrap_or_default()), 0, 6)
                    } else {
                        (kt, vt, size, 6)
                    }
                };
                if size.saturating_mul(2) > u64::from(self.bound.saturating_sub(n as u32)) {
                    return Err(());
                }
                let (Some(elem), Some(val)) = (kt, vt) else { return Err(()) };
                self.push(text, Frame { kind: Kind::Map, elem, val, show, left: size as u32, ..Frame::default() })?;
                n
            }
        };
        Ok(Some(n))
    }

    fn start_string(&mut self, text: &mut ThriftText, len: u32, show: bool) {
        self.in_str = true;
        self.str_left = len;
        self.str_total = len;
        self.str_show = show && self.render && !self.cut;
        self.str_start = text.len() as u16;
        if len == 0 {
            // No bytes will come: finish right away (the loop would not).
            self.in_str = false;
            self.end_string(text);
        }
    }

    fn str_bytes(&mut self, text: &mut ThriftText, bytes: &[u8]) {
        if !self.str_show || self.opts.obfuscate {
            return;
        }
        let kept = text.len().saturating_sub(self.str_start as usize);
        let want = (self.opts.string_max as usize).saturating_sub(kept).min(bytes.len());
        let room = (self.limit as usize).saturating_sub(text.len());
        text.append(bytes.get(..want.min(room)).unwrap_or(&[]), self.limit as usize);
    }

    /// Rewrites the raw string bytes kept at `str_start..` as Packetbeat
    /// shows them: `""` when empty, `"*"` when obfuscated, quoted when UTF-8
    /// (cut strings end in `...` inside the quotes), lower-case hex
    /// otherwise.
    fn end_string(&mut self, text: &mut ThriftText) {
        if !self.str_show {
            return;
        }
        let s = self.str_start as usize;
        let kept = text.len().saturating_sub(s);
        if self.str_total == 0 || self.opts.obfuscate {
            text.len = s as u16;
            self.put(text, if self.str_total == 0 { b"\"\"" } else { b"\"*\"" });
            return;
        }
        let over = self.str_total as usize > kept;
        let raw = text.buf.get(s..s + kept).unwrap_or(&[]);
        let (mut n, quoted) = match core::str::from_utf8(raw) {
            Ok(_) => (kept, true),
            // Only a character cut by the size limit: drop its start.
            Err(e) if e.error_len().is_none() && over => (e.valid_up_to(), true),
            Err(_) => (kept, false),
        };
        let dots = if over { 3 } else { 0 };
        let fixed = if quoted { 2 + dots } else { dots };
        let cost = |b: u8| if quoted { escape(b).1 } else { 2 };
        // Keep the most bytes whose rendering fits, leaving room for the
        // cut marker.
        let budget = (self.limit as usize).saturating_sub(s).saturating_sub(3);
        let total: usize = fixed + raw.get(..n).unwrap_or(&[]).iter().map(|&b| cost(b)).sum::<usize>();
        let mut room_cut = false;
        if total > budget + 3 {
            room_cut = true;
            let mut used = if quoted { 1 } else { 0 };
            let mut fit = 0;
            for &b in raw.get(..n).unwrap_or(&[]) {
                if used + cost(b) > budget {
                    break;
                }
                used += cost(b);
                fit += 1;
            }
            if quoted {
                while fit > 0 && raw.get(fit).is_some_and(|&b| b & 0xc0 == 0x80) {
                    fit -= 1;
                }
            }
            n = fit;
        }
        // Expand in place from the end: output positions never precede the
        // input bytes still to be read.
        let lead = usize::from(quoted);
        let body: usize = raw.get(..n).unwrap_or(&[]).iter().map(|&b| cost(b)).sum();
        let mut w = s + lead + body;
        for i in (0..n).rev() {
            let Some(&b) = text.buf.get(s + i) else { break };
            if quoted {
                let (e, k) = escape(b);
                w -= k;
                if let (Some(dst), Some(src)) = (text.buf.get_mut(w..w + k), e.get(..k)) {
                    dst.copy_from_slice(src);
                }
            } else {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                w -= 2;
                let h = |x: u8| HEX.get(x as usize).copied().unwrap_or(b'0');
                if let Some(dst) = text.buf.get_mut(w..w + 2) {
                    dst.copy_from_slice(&[h(b >> 4), h(b & 0x0f)]);
                }
            }
        }
        if quoted {
            if let Some(q) = text.buf.get_mut(s) {
                *q = b'"';
            }
        }
        text.len = (s + lead + body) as u16;
        let lim = self.limit as usize;
        if room_cut {
            text.append(b"...", lim);
            text.truncated = true;
            self.cut = true;
            return;
        }
        if over {
            text.append(b"...", lim);
        }
        if quoted {
            text.append(b"\"", lim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: Opts = Opts { string_max: 200, collection_max: 15, drop_after: 500, obfuscate: false, render: true };

    fn run(enc: Enc, role: Role, opts: Opts, body: &[u8], chunk: usize) -> (heapless::String<3072>, Step, Decoder) {
        let mut text = ThriftText::default();
        let mut d = Decoder::default();
        d.start(&mut text, enc, role, opts, 3072, u32::MAX);
        // Feed as a stream would: keep the unconsumed tail, add `chunk` bytes.
        let mut buf: heapless::Vec<u8, 4096> = heapless::Vec::new();
        let mut i = 0;
        let mut step = Step::NeedMore;
        while step == Step::NeedMore && i < body.len() {
            let end = (i + chunk).min(body.len());
            buf.extend_from_slice(&body[i..end]).unwrap();
            i = end;
            let (n, s) = d.feed(&mut text, &buf, None);
            step = s;
            let tail: heapless::Vec<u8, 4096> = heapless::Vec::from_slice(&buf[n..]).unwrap();
            buf = tail;
        }
        let out = core::str::from_utf8(text.get(d.output(&text))).unwrap();
        (heapless::String::try_from(out).unwrap(), step, d)
    }

    fn both(enc: Enc, role: Role, body: &[u8]) -> heapless::String<3072> {
        let (a, s, _) = run(enc, role, OPTS, body, body.len());
        assert_eq!(s, Step::Done, "{a}");
        for chunk in 1..4 {
            let (b, s, _) = run(enc, role, OPTS, body, chunk);
            assert_eq!(s, Step::Done);
            assert_eq!(a, b, "chunk {chunk}");
        }
        a
    }

    #[test]
    fn binary_args_as_packetbeat() {
        // add(1: 1, 2: 1)
        let b = b"\x08\x00\x01\x00\x00\x00\x01\x08\x00\x02\x00\x00\x00\x01\x00";
        assert_eq!(both(Enc::Binary, Role::Args, b), "(1: 1, 2: 1)");
        // (1: 1.2, 2: 1.3)
        let mut v: heapless::Vec<u8, 64> = heapless::Vec::new();
        v.extend_from_slice(b"\x04\x00\x01").unwrap();
        v.extend_from_slice(&1.2f64.to_bits().to_be_bytes()).unwrap();
        v.extend_from_slice(b"\x04\x00\x02").unwrap();
        v.extend_from_slice(&1.3f64.to_bits().to_be_bytes()).unwrap();
        v.push(0).unwrap();
        assert_eq!(both(Enc::Binary, Role::Args, &v), "(1: 1.2, 2: 1.3)");
        // string, list, set, map, nested struct, negative numbers
        let b = b"\x0b\x00\x01\x00\x00\x00\x05hello\x0f\x00\x02\x08\x00\x00\x00\x02\x00\x00\x00\x01\xff\xff\xff\xff\
\x0e\x00\x03\x03\x00\x00\x00\x01\x80\x0d\x00\x04\x0b\x06\x00\x00\x00\x01\x00\x00\x00\x01a\x00\x07\
\x0c\x00\x05\x02\x00\x01\x01\x00\x00";
        assert_eq!(
            both(Enc::Binary, Role::Args, b),
            "(1: \"hello\", 2: [1, -1], 3: {-128}, 4: {\"a\": 7}, 5: (1: true))"
        );
    }

    #[test]
    fn replies_return_value_or_exceptions() {
        assert_eq!(both(Enc::Binary, Role::Result, b"\x08\x00\x00\x00\x00\x00\x02\x00"), "2");
        assert_eq!(both(Enc::Binary, Role::Result, b"\x00"), "");
        let ex = b"\x0c\x00\x01\x08\x00\x01\x00\x00\x00\x04\x0b\x00\x02\x00\x00\x00\x12Cannot divide by 0\x00\x00";
        let (out, _, d) = run(Enc::Binary, Role::Result, OPTS, ex, 2);
        assert_eq!(out, "(1: (1: 4, 2: \"Cannot divide by 0\"))");
        assert!(d.exception);
        assert_eq!(d.target, Target::Exceptions);
    }

    #[test]
    fn strings_quoted_hex_obfuscated_and_cut() {
        let s = |v: &[u8]| {
            let mut b: heapless::Vec<u8, 600> = heapless::Vec::new();
            b.extend_from_slice(b"\x0b\x00\x01").unwrap();
            b.extend_from_slice(&(v.len() as u32).to_be_bytes()).unwrap();
            b.extend_from_slice(v).unwrap();
            b.push(0).unwrap();
            b
        };
        assert_eq!(both(Enc::Binary, Role::Args, &s(b"")), "(1: \"\")");
        assert_eq!(both(Enc::Binary, Role::Args, &s(b"a\"b\\\n\x01")), "(1: \"a\\\"b\\\\\\n\\x01\")");
        assert_eq!(both(Enc::Binary, Role::Args, &s(b"\xab\x0c\x1d")), "(1: ab0c1d)");
        assert_eq!(both(Enc::Binary, Role::Args, &s("é".as_bytes())), "(1: \"é\")");
        let long = [b'x'; 300];
        let (out, _, _) = run(Enc::Binary, Role::Args, Opts { string_max: 4, ..OPTS }, &s(&long), 7);
        assert_eq!(out, "(1: \"xxxx...\")");
        let (out, _, _) = run(Enc::Binary, Role::Args, Opts { obfuscate: true, ..OPTS }, &s(b"secret"), 3);
        assert_eq!(out, "(1: \"*\")");
        // A multi-byte character cut by the limit is dropped, not hexed.
        let (out, _, _) = run(Enc::Binary, Role::Args, Opts { string_max: 2, ..OPTS }, &s("aé".as_bytes()), 1);
        assert_eq!(out, "(1: \"a...\")");
    }

    #[test]
    fn collections_capped() {
        let mut b: heapless::Vec<u8, 128> = heapless::Vec::new();
        b.extend_from_slice(b"\x0f\x00\x01\x03\x00\x00\x00\x05\x01\x02\x03\x04\x05\x00").unwrap();
        let (out, s, _) = run(Enc::Binary, Role::Args, Opts { collection_max: 2, ..OPTS }, &b, 1);
        assert_eq!((out.as_str(), s), ("(1: [1, 2, ...])", Step::Done));
        let (out, _, _) = run(Enc::Binary, Role::Args, Opts { collection_max: 0, ..OPTS }, &b, 1);
        assert_eq!(out, "(...)");
        let (_, s, _) = run(Enc::Binary, Role::Args, Opts { drop_after: 0, ..OPTS }, &b, 1);
        assert_eq!(s, Step::Malformed);
    }

    #[test]
    fn compact_values() {
        // i32 field 1 = 1 (zigzag 2), i32 field 2 = -1 (zigzag 1), bool field 3 true,
        // string field 4 "hi", list<i16> field 5 [1,2], map<string,i32> field 6 {"a": 1},
        // double field 7 = 2.5 (little-endian), long-form id -1 byte 5
        let mut b: heapless::Vec<u8, 128> = heapless::Vec::new();
        b.extend_from_slice(b"\x15\x02\x15\x01\x11\x18\x02hi\x19\x24\x02\x04\x1b\x01\x85\x01a\x02\x17").unwrap();
        b.extend_from_slice(&2.5f64.to_bits().to_le_bytes()).unwrap();
        b.extend_from_slice(b"\x03\x01\x05\x00").unwrap();
        assert_eq!(
            both(Enc::Compact, Role::Args, &b),
            "(1: 1, 2: -1, 3: true, 4: \"hi\", 5: [1, 2], 6: {\"a\": 1}, 7: 2.5, -1: 5)"
        );
    }

    #[test]
    fn depth_and_bounds() {
        // 70 nested structs: deeper than MAX_DEPTH.
        let mut b: heapless::Vec<u8, 512> = heapless::Vec::new();
        for _ in 0..70 {
            b.extend_from_slice(b"\x0c\x00\x01").unwrap();
        }
        let (_, s, _) = run(Enc::Binary, Role::Args, OPTS, &b, 5);
        assert_eq!(s, Step::Malformed);
        // A list announcing more elements than the bound allows.
        let mut text = ThriftText::default();
        let mut d = Decoder::default();
        d.start(&mut text, Enc::Binary, Role::Args, OPTS, 3072, 20);
        assert_eq!(d.feed(&mut text, b"\x0f\x00\x01\x08\x00\x00\x01\x00", None).1, Step::Malformed);
        // Unknown types.
        let (_, s, _) = run(Enc::Binary, Role::Args, OPTS, b"\x01\x00\x01", 3);
        assert_eq!(s, Step::Malformed);
    }

    #[test]
    fn output_budget_is_respected() {
        let mut b: heapless::Vec<u8, 2048> = heapless::Vec::new();
        b.extend_from_slice(b"\x0f\x00\x01\x08\x00\x00\x00\x0f").unwrap();
        for _ in 0..15 {
            b.extend_from_slice(&(-1_000_000_000i32).to_be_bytes()).unwrap();
        }
        b.push(0).unwrap();
        let mut text = ThriftText::default();
        let mut d = Decoder::default();
        d.start(&mut text, Enc::Binary, Role::Args, OPTS, 40, u32::MAX);
        assert_eq!(d.feed(&mut text, &b, None).1, Step::Done);
        let out = core::str::from_utf8(text.get(d.output(&text))).unwrap();
        assert!(out.len() <= 40 && out.ends_with("..."), "{out}");
        assert!(text.truncated());
    }

    #[test]
    fn idl_names_top_level_fields() {
        let mut idl = ThriftIdl::default();
        idl.add_method("Calculator", "calculate", &[(1, "logid"), (2, "w")], &[(1, "ouch")]).unwrap();
        let m = idl.find(b"", b"calculate").unwrap();
        let mut text = ThriftText::default();
        let mut d = Decoder::default();
        d.start(&mut text, Enc::Binary, Role::Args, OPTS, 3072, u32::MAX);
        d.set_names(Some(m.params));
        let b =
            b"\x08\x00\x01\x00\x00\x00\x01\x0c\x00\x02\x08\x00\x01\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00\x09\x00";
        assert_eq!(d.feed(&mut text, b, Some(&idl)).1, Step::Done);
        assert_eq!(text.get(d.output(&text)), b"(logid: 1, w: (1: 1), 3: 9)");
        let mut text = ThriftText::default();
        d.start(&mut text, Enc::Binary, Role::Result, OPTS, 3072, u32::MAX);
        d.set_names(Some(m.exceptions));
        let ex = b"\x0c\x00\x01\x08\x00\x01\x00\x00\x00\x04\x00\x00";
        assert_eq!(d.feed(&mut text, ex, Some(&idl)).1, Step::Done);
        assert_eq!(text.get(d.output(&text)), b"(ouch: (1: 4))");
    }
}
