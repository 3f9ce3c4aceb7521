//! Memcache transaction fields, the command and opcode tables, and the
//! bounds of what one transaction keeps.

use heapless::Vec;

use crate::text::{Lossy, Span, TextBuf};

/// Bytes of text one Memcache transaction can hold: keys, kept values,
/// stats names and values, error messages, version strings and unknown
/// command lines of the request and the response together. What does not
/// fit is cut and the transaction is flagged truncated.
pub const MEMCACHE_TEXT_CAP: usize = 2944;
/// Most keys kept per message (a `get` may name many more; the rest are
/// counted in `keys_total` and the transaction is flagged truncated).
pub const MAX_KEYS: usize = 24;
/// Most values kept per message when `maxvalues` asks for them (`-1` means
/// "all", which is this many); `count_values` still counts every value.
pub const MAX_VALUES: usize = 8;
/// Most `stats` entries kept per response (further entries are dropped and
/// the transaction is flagged truncated).
pub const MAX_STATS: usize = 96;
/// Bytes of a message cut between two UDP datagrams that are kept until the
/// next datagram completes them (a text line or a binary header). Longer
/// pieces are dropped and counted in `stream_bytes_skipped`.
pub const UDP_CARRY_CAP: usize = 280;

/// Which protocol a transaction used (`memcache.protocol_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProtocolType {
    /// Neither message was decoded.
    #[default]
    Unknown,
    /// The text protocol.
    Text,
    /// The binary protocol.
    Binary,
}

impl ProtocolType {
    /// Field value.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolType::Unknown => "unknown",
            ProtocolType::Text => "text",
            ProtocolType::Binary => "binary",
        }
    }
}

/// Command classification (`memcache.request.type`, `memcache.response.type`),
/// with Packetbeat's names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Kind {
    #[default]
    Unknown,
    Load,
    Store,
    Delete,
    Counter,
    Info,
    SlabCtrl,
    LruCrawler,
    Stats,
    Success,
    Fail,
    Auth,
}

impl Kind {
    /// Field value.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Unknown => "UNKNOWN",
            Kind::Load => "Load",
            Kind::Store => "Store",
            Kind::Delete => "Delete",
            Kind::Counter => "Counter",
            Kind::Info => "Info",
            Kind::SlabCtrl => "SlabCtrl",
            Kind::LruCrawler => "LRUCrawler",
            Kind::Stats => "Stats",
            Kind::Success => "Success",
            Kind::Fail => "Fail",
            Kind::Auth => "Auth",
        }
    }
}

/// A request command, or a text response word (`memcache.*.command`).
/// Binary responses carry the command of their opcode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Command {
    #[default]
    Unknown,
    Noop,
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
    Get,
    Gets,
    Gat,
    Gats,
    Incr,
    Decr,
    CounterOp,
    Touch,
    Delete,
    SlabsReassign,
    SlabsAutomove,
    LruEnable,
    LruDisable,
    LruSleep,
    LruToCrawl,
    LruCrawl,
    Stats,
    Stat,
    FlushAll,
    Verbosity,
    Quit,
    Version,
    SaslList,
    SaslAuth,
    SaslStep,
    Ok,
    Value,
    End,
    Stored,
    NotStored,
    Exists,
    NotFound,
    Touched,
    Deleted,
    Error,
    ClientError,
    ServerError,
    Busy,
    BadClass,
    NoSpare,
    NotFull,
    Unsafe,
    Same,
    VersionReply,
}

impl Command {
    /// Field value (Packetbeat's spelling; `TOUCHED` is spelled right).
    pub fn name(self) -> &'static str {
        use Command::*;
        match self {
            Unknown => "UNKNOWN",
            Noop => "noop",
            Set => "set",
            Add => "add",
            Replace => "replace",
            Append => "append",
            Prepend => "prepend",
            Cas => "cas",
            Get => "get",
            Gets => "gets",
            Gat => "gat",
            Gats => "gats",
            Incr => "incr",
            Decr => "decr",
            CounterOp => "<counter_op_res>",
            Touch => "touch",
            Delete => "delete",
            SlabsReassign => "slabs reassign",
            SlabsAutomove => "slabs automove",
            LruEnable => "lru_crawler enable",
            LruDisable => "lru_crawler disable",
            LruSleep => "lru_crawler sleep",
            LruToCrawl => "lru_crawler tocrawl",
            LruCrawl => "lru_crawler crawl",
            Stats => "stats",
            Stat => "STAT",
            FlushAll => "flush_all",
            Verbosity => "verbosity",
            Quit => "quit",
            Version => "version",
            SaslList => "sasl_list",
            SaslAuth => "sasl_auth",
            SaslStep => "sasl_step",
            Ok => "OK",
            Value => "VALUE",
            End => "END",
            Stored => "STORED",
            NotStored => "NOT_STORED",
            Exists => "EXISTS",
            NotFound => "NOT_FOUND",
            Touched => "TOUCHED",
            Deleted => "DELETED",
            Error => "ERROR",
            ClientError => "CLIENT_ERROR",
            ServerError => "SERVER_ERROR",
            Busy => "BUSY",
            BadClass => "BADCLASS",
            NoSpare => "NOSPARE",
            NotFull => "NOTFULL",
            Unsafe => "UNSAFE",
            Same => "SAME",
            VersionReply => "VERSION",
        }
    }
}

/// Binary opcodes that ask the server to answer only on error (stores) or
/// only on a hit (gets): a request may go unanswered and still be fine.
pub fn is_quiet_opcode(op: u8) -> bool {
    matches!(op, 0x09 | 0x0d | 0x11..=0x1a | 0x1e | 0x24 | 0x32 | 0x34 | 0x36 | 0x38 | 0x3a | 0x3c)
}

/// The name (Packetbeat's), command and classification of a binary opcode.
/// Unknown opcodes have an empty name and the `UNKNOWN` command.
pub fn opcode_info(op: u8) -> (&'static str, Command, Kind) {
    use Command as C;
    use Kind as K;
    match op {
        0x00 => ("Get", C::Get, K::Load),
        0x01 => ("Set", C::Set, K::Store),
        0x02 => ("Add", C::Add, K::Store),
        0x03 => ("Replace", C::Replace, K::Store),
        0x04 => ("Delete", C::Delete, K::Delete),
        0x05 => ("Increment", C::Incr, K::Counter),
        0x06 => ("Decrement", C::Decr, K::Counter),
        0x07 => ("Quit", C::Quit, K::Info),
        0x08 => ("Flush", C::FlushAll, K::Delete),
        0x09 => ("GetQ", C::Get, K::Load),
        0x0a => ("No-op", C::Noop, K::Info),
        0x0b => ("Version", C::Version, K::Info),
        0x0c => ("GetK", C::Get, K::Load),
        0x0d => ("GetKQ", C::Get, K::Load),
        0x0e => ("Append", C::Append, K::Store),
        0x0f => ("Prepend", C::Prepend, K::Store),
        0x10 => ("Stat", C::Stats, K::Stats),
        0x11 => ("SetQ", C::Set, K::Store),
        0x12 => ("AddQ", C::Add, K::Store),
        0x13 => ("ReplaceQ", C::Replace, K::Store),
        0x14 => ("DeleteQ", C::Delete, K::Delete),
        0x15 => ("IncrementQ", C::Incr, K::Counter),
        0x16 => ("DecrementQ", C::Decr, K::Counter),
        0x17 => ("QuitQ", C::Quit, K::Info),
        0x18 => ("FlushQ", C::FlushAll, K::Delete),
        0x19 => ("AppendQ", C::Append, K::Store),
        0x1a => ("PrependQ", C::Prepend, K::Store),
        0x1b => ("Verbosity", C::Verbosity, K::Info),
        0x1c => ("Touch", C::Touch, K::Store),
        0x1d => ("GAT", C::Gat, K::Load),
        0x1e => ("GATQ", C::Gat, K::Load),
        0x20 => ("SASL list mechs", C::SaslList, K::Auth),
        0x21 => ("SASL Auth", C::SaslAuth, K::Auth),
        0x22 => ("SASL Step", C::SaslStep, K::Auth),
        0x23 => ("GatK", C::Gat, K::Load),
        0x24 => ("GatKQ", C::Gat, K::Load),
        0x30 => ("RGet", C::Unknown, K::Unknown),
        0x31 => ("RSet", C::Unknown, K::Unknown),
        0x32 => ("RSetQ", C::Unknown, K::Unknown),
        0x33 => ("RAppend", C::Unknown, K::Unknown),
        0x34 => ("RAppendQ", C::Unknown, K::Unknown),
        0x35 => ("RPrepend", C::Unknown, K::Unknown),
        0x36 => ("RPrependQ", C::Unknown, K::Unknown),
        0x37 => ("RDelete", C::Unknown, K::Unknown),
        0x38 => ("RDeleteQ", C::Unknown, K::Unknown),
        0x39 => ("RIncr", C::Unknown, K::Unknown),
        0x3a => ("RIncrQ", C::Unknown, K::Unknown),
        0x3b => ("RDecr", C::Unknown, K::Unknown),
        0x3c => ("RDecrQ", C::Unknown, K::Unknown),
        0x3d => ("Set VBucket", C::Unknown, K::Unknown),
        0x3e => ("Get VBucket", C::Unknown, K::Unknown),
        0x3f => ("Del VBucket", C::Unknown, K::Unknown),
        0x40 => ("TAP Connect", C::Unknown, K::Unknown),
        0x41 => ("TAP Mutation", C::Unknown, K::Unknown),
        0x42 => ("TAP Delete", C::Unknown, K::Unknown),
        0x43 => ("TAP Flush", C::Unknown, K::Unknown),
        0x44 => ("TAP Opaque", C::Unknown, K::Unknown),
        0x45 => ("TAP VBucket Set", C::Unknown, K::Unknown),
        0x46 => ("TAP Checkpoint Start", C::Unknown, K::Unknown),
        0x47 => ("TAP Checkpoint End", C::Unknown, K::Unknown),
        _ => ("", C::Unknown, K::Unknown),
    }
}

/// The text of a binary response status code (empty for unknown codes).
pub fn status_name(code: u16) -> &'static str {
    match code {
        0x00 => "Success",
        0x01 => "Key not found",
        0x02 => "Key exists",
        0x03 => "Value too large",
        0x04 => "Invalid arguments",
        0x05 => "Item not stored",
        0x06 => "Incr/Decr on non-numeric value.",
        0x07 => "The vbucket belongs to another server",
        0x20 => "Authentication error",
        0x21 => "Authentication continue",
        0x81 => "Unknown command",
        0x82 => "Out of memory",
        0x83 => "Not supported",
        0x84 => "Internal error",
        0x85 => "Busy",
        0x86 => "Temporary failure",
        _ => "",
    }
}

/// One `stats` entry of a response.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    /// Statistic name.
    pub name: Span,
    /// Its value, as sent.
    pub value: Span,
}

/// One decoded message (request or response). Optional fields are `None`
/// when the message did not carry them, and are then left out of the JSON.
#[derive(Clone, Debug, Default)]
pub struct Msg {
    /// The message was seen (at least its first line or header).
    pub present: bool,
    /// Binary protocol message.
    pub binary: bool,
    /// Command (text request or binary opcode) or text response word.
    pub command: Command,
    /// Classification.
    pub kind: Kind,
    /// Binary opcode.
    pub opcode: u8,
    /// Binary opaque.
    pub opaque: u32,
    /// Binary request vbucket.
    pub vbucket: u16,
    /// Binary response status.
    pub status: u16,
    /// CAS value (binary: when not 0; text: `cas` requests, `gets` replies).
    pub cas: Option<u64>,
    /// Keys, in order, at most [`MAX_KEYS`].
    pub keys: Vec<Span, MAX_KEYS>,
    /// Number of values carried (data blocks), when the command carries any.
    pub count_values: Option<u32>,
    /// Bytes of those values, as announced.
    pub bytes: Option<u64>,
    /// Kept values (`maxvalues`, `maxbytespervalue`), at most [`MAX_VALUES`].
    pub values: Vec<Span, MAX_VALUES>,
    /// Item flags.
    pub flags: Option<u32>,
    /// Expiry time (text requests may send negative values).
    pub exptime: Option<i64>,
    /// Counter delta.
    pub delta: Option<u64>,
    /// Binary counter initial value.
    pub initial: Option<u64>,
    /// The numeric argument or result of the command, written under the
    /// name that command uses: `value` (counter results, `lru_crawler
    /// tocrawl`), `verbosity`, `sleep_us` (`lru_crawler sleep`) or
    /// `automove` (`slabs automove`, as a mode name).
    pub value: Option<u64>,
    /// `slabs reassign` source class.
    pub source_class: Option<i64>,
    /// `slabs reassign` destination class.
    pub dest_class: Option<i64>,
    /// Text requests: `noreply` given (for commands that take it).
    pub noreply: Option<bool>,
    /// Binary requests: quiet opcode.
    pub quiet: bool,
    /// `stats` / `lru_crawler crawl` arguments as sent.
    pub raw_args: Option<Span>,
    /// Error message of a text error reply or binary error body.
    pub error_msg: Option<Span>,
    /// Server version.
    pub version: Option<Span>,
    /// The whole line of an unknown text command or reply.
    pub line: Option<Span>,
}

impl Msg {
    /// Empties the message, keeping its storage. The pattern lists every
    /// field, so a new one cannot be forgotten here.
    pub fn reset(&mut self) {
        let Msg {
            present,
            binary,
            command,
            kind,
            opcode,
            opaque,
            vbucket,
            status,
            cas,
            keys,
            count_values,
            bytes,
            values,
            flags,
            exptime,
            delta,
            initial,
            value,
            source_class,
            dest_class,
            noreply,
            quiet,
            raw_args,
            error_msg,
            version,
            line,
        } = self;
        *present = false;
        *binary = false;
        *command = Command::Unknown;
        *kind = Kind::Unknown;
        *opcode = 0;
        *opaque = 0;
        *vbucket = 0;
        *status = 0;
        keys.clear();
        values.clear();
        *count_values = None;
        *bytes = None;
        *flags = None;
        *exptime = None;
        *noreply = None;
        *quiet = false;
        for x in [cas, delta, initial, value] {
            *x = None;
        }
        *source_class = None;
        *dest_class = None;
        for s in [raw_args, error_msg, version, line] {
            *s = None;
        }
    }
}

/// The Memcache section of a transaction.
#[derive(Clone, Debug, Default)]
pub struct MemcacheTxn {
    /// Storage of every text field below.
    pub text: TextBuf<MEMCACHE_TEXT_CAP>,
    /// Text or binary.
    pub protocol: ProtocolType,
    /// The request.
    pub request: Msg,
    /// The response.
    pub response: Msg,
    /// `stats` entries of the response, at most [`MAX_STATS`].
    pub stats: Vec<Stat, MAX_STATS>,
    /// Keys named by the request, including those not kept.
    pub keys_total: u32,
    /// UDP request id (memcache UDP frame header) of the request.
    pub udp_id: Option<u16>,
    /// Bytes of a message cut at a UDP datagram boundary (bookkeeping).
    pub(crate) carry: Vec<u8, UDP_CARRY_CAP>,
    /// Which direction the carry belongs to (0 requests, 1 responses).
    pub(crate) carry_dir: u8,
}

impl MemcacheTxn {
    /// True when a text field, key list, value list or stats list was cut
    /// to fit its fixed capacity.
    pub fn truncated(&self) -> bool {
        self.text.truncated()
    }

    /// Empties every field, keeping the storage (no arena zeroing per
    /// transaction).
    pub fn reset(&mut self) {
        let MemcacheTxn { text, protocol, request, response, stats, keys_total, udp_id, carry, carry_dir } = self;
        text.clear();
        *protocol = ProtocolType::Unknown;
        request.reset();
        response.reset();
        stats.clear();
        *keys_total = 0;
        *udp_id = None;
        carry.clear();
        *carry_dir = 0;
    }

    /// Gives `t` an empty Memcache section, reusing the one it has.
    pub fn init(t: &mut crate::txn::Transaction) {
        use crate::txn::Detail;
        match &mut t.detail {
            Detail::Memcache(m) => m.reset(),
            other => *other = Detail::Memcache(MemcacheTxn::default()),
        }
    }

    /// Text of a span.
    pub fn s(&self, span: Span) -> Lossy<'_> {
        self.text.text(span)
    }
}
