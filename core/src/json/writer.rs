//! A compact JSON `serde::Serializer` into a caller's byte buffer.
//!
//! Written for the document hot path: strings are escaped by copying whole
//! runs of bytes that need no escape, and integers are formatted without
//! `core::fmt`. The output is compact JSON (no spaces); strings escape `"`,
//! `\`, and control characters below U+0020 (`\b \t \n \f \r` by name, the
//! rest as `\u00XX` with upper-case hex); everything else, including
//! non-ASCII UTF-8, is copied as is.
//!
//! Limits: the buffer never grows — a document that does not fit gives
//! [`Error::Full`]. Byte arrays, enum variants with data and `char` keys are
//! not used by tapbeat's documents and give [`Error::Unsupported`].

use core::fmt;

use serde::ser::{self, Serialize};

use crate::text::{bytes_below, copy_bytes, splat};

/// Why serialisation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer is too small for the document.
    Full,
    /// A value of a kind this writer does not produce (see the module docs).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Full => "JSON buffer full",
            Error::Unsupported => "value not representable by the JSON writer",
        })
    }
}

// serde's error bound is `std::error::Error` when another crate in the build
// enables serde's `std` feature and its own trait otherwise; `ser::StdError`
// names whichever applies.
impl ser::StdError for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Error::Unsupported
    }
}

/// Serialises `value` into `buf` and returns the length written.
pub fn to_slice<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<usize, Error> {
    let mut w = Writer { buf, len: 0 };
    value.serialize(&mut w)?;
    Ok(w.len)
}

/// Bytes that must be escaped inside a JSON string: control characters,
/// `"` and `\`.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// True when any of the eight bytes of `w` is below 0x20, `"` or `\`
/// (a byte equal to `c` is a zero byte of `w ^ splat(c)`). Bytes of 0x80
/// and above never match, so UTF-8 sequences pass through.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    (bytes_below(w, 0x20) | bytes_below(w ^ splat(b'"'), 1) | bytes_below(w ^ splat(b'\\'), 1)) != 0
}

/// True when `bad` holds for some eight-byte word of `s`, checked a word
/// at a time (a short string is read into one word with two overlapping
/// loads, padded with `a`s; the tail of a long one is taken as its last
/// eight bytes, overlapping what was checked): nearly every string of a
/// document is clean and takes this path only.
#[inline(always)]
fn any_word(s: &[u8], bad: impl Fn(u64) -> bool) -> bool {
    let n = s.len();
    if n < 8 {
        // Built in registers: bytes stored to memory and read back as one
        // word stall the load until the stores land (store forwarding
        // fails), which cost more than the check itself.
        const PAD: u64 = u64::from_le_bytes([b'a'; 8]);
        let u16_at = |at: usize| s.get(at..).and_then(|t| t.first_chunk::<2>()).map_or(0, |b| u16::from_le_bytes(*b));
        let u32_at = |at: usize| s.get(at..).and_then(|t| t.first_chunk::<4>()).map_or(0, |b| u32::from_le_bytes(*b));
        let w = match n {
            4.. => u64::from(u32_at(0)) | u64::from(u32_at(n - 4)) << 32,
            2.. => u64::from(u16_at(0)) | u64::from(u16_at(n - 2)) << 16 | (PAD & !0xffff_ffff),
            1 => s.first().map_or(PAD, |&b| u64::from(b) | (PAD & !0xff)),
            0 => PAD,
        };
        return bad(w);
    }
    let word = |at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map(u64::from_le_bytes);
    let mut at = 0;
    while at + 8 <= n {
        if word(at).is_none_or(&bad) {
            return true;
        }
        at += 8;
    }
    at < n && word(n - 8).is_none_or(&bad)
}

/// True when some byte of `s` needs escaping.
#[inline]
fn any_needs_escape(s: &[u8]) -> bool {
    any_word(s, word_needs_escape)
}

/// True when every byte of `s` is ASCII and needs no escaping.
#[inline]
fn is_clean_ascii(s: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    !any_word(s, |w| w & HIGH != 0 || word_needs_escape(w))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Two-digit decimal pairs "00".."99", for formatting integers two digits
/// at a time.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Writer<'_> {
    #[inline]
    fn push(&mut self, b: u8) -> Result<(), Error> {
        let slot = self.buf.get_mut(self.len).ok_or(Error::Full)?;
        *slot = b;
        self.len += 1;
        Ok(())
    }

    #[inline]
    fn extend(&mut self, s: &[u8]) -> Result<(), Error> {
        let end = self.len.checked_add(s.len()).ok_or(Error::Full)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(Error::Full)?;
        copy_bytes(dst, s);
        self.len = end;
        Ok(())
    }

    /// String contents (no quotes), escaped. `s` is UTF-8 or a piece of it
    /// cut at a character boundary; every byte that needs escaping is ASCII,
    /// so a byte scan is exact. Clean stretches are skipped eight bytes at a
    /// time and copied in one piece.
    #[inline]
    fn escaped(&mut self, s: &[u8]) -> Result<(), Error> {
        if !any_needs_escape(s) {
            return self.extend(s);
        }
        self.escaped_slow(s)
    }

    /// [`Writer::escaped`] for a string with something to escape.
    #[inline(never)]
    fn escaped_slow(&mut self, s: &[u8]) -> Result<(), Error> {
        let mut start = 0;
        let mut i = 0;
        while i < s.len() {
            if let Some(word) = s.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
                if !word_needs_escape(u64::from_le_bytes(word)) {
                    i += 8;
                    continue;
                }
            }
            let b = s.get(i).copied().unwrap_or(0);
            i += 1;
            if !needs_escape(b) {
                continue;
            }
            self.extend(s.get(start..i - 1).unwrap_or(&[]))?;
            start = i;
            match b {
                b'"' => self.extend(b"\\\"")?,
                b'\\' => self.extend(b"\\\\")?,
                0x08 => self.extend(b"\\b")?,
                b'\t' => self.extend(b"\\t")?,
                b'\n' => self.extend(b"\\n")?,
                0x0c => self.extend(b"\\f")?,
                b'\r' => self.extend(b"\\r")?,
                _ => {
                    let hex = |n: u8| HEX.get(usize::from(n & 0xf)).copied().unwrap_or(b'0');
                    self.extend(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b)])?
                }
            }
        }
        self.extend(s.get(start..).unwrap_or(&[]))
    }

    /// A JSON string from bytes that should be UTF-8 (invalid sequences
    /// become U+FFFD), ASCII letters upper-cased when `upper`. Clean ASCII,
    /// nearly every value, is checked a word at a time and copied.
    fn text(&mut self, s: &[u8], upper: bool) -> Result<(), Error> {
        if !is_clean_ascii(s) {
            return self.text_slow(s, upper);
        }
        self.push(b'"')?;
        if upper {
            let end = self.len.checked_add(s.len()).ok_or(Error::Full)?;
            let dst = self.buf.get_mut(self.len..end).ok_or(Error::Full)?;
            for (d, c) in dst.iter_mut().zip(s) {
                *d = c.to_ascii_uppercase();
            }
            self.len = end;
        } else {
            self.extend(s)?;
        }
        self.push(b'"')
    }

    #[inline(never)]
    fn text_slow(&mut self, s: &[u8], upper: bool) -> Result<(), Error> {
        self.push(b'"')?;
        self.text_body_slow(s, upper)?;
        self.push(b'"')
    }

    /// [`Writer::text`]'s contents without the quotes (not upper-cased).
    #[inline]
    fn text_body(&mut self, s: &[u8]) -> Result<(), Error> {
        if is_clean_ascii(s) {
            self.extend(s)
        } else {
            self.text_body_slow(s, false)
        }
    }

    #[inline(never)]
    fn text_body_slow(&mut self, s: &[u8], upper: bool) -> Result<(), Error> {
        for chunk in s.utf8_chunks() {
            let valid = chunk.valid().as_bytes();
            if upper {
                // Upper-cased in pieces through a small buffer; ASCII case
                // mapping never changes a byte's length or meaning in UTF-8.
                for piece in valid.chunks(64) {
                    let mut tmp = [0u8; 64];
                    let dst = tmp.get_mut(..piece.len()).unwrap_or(&mut []);
                    for (d, c) in dst.iter_mut().zip(piece) {
                        *d = c.to_ascii_uppercase();
                    }
                    self.escaped(dst)?;
                }
            } else {
                self.escaped(valid)?;
            }
            if !chunk.invalid().is_empty() {
                self.extend("\u{FFFD}".as_bytes())?;
            }
        }
        Ok(())
    }

    #[inline]
    fn string(&mut self, s: &str) -> Result<(), Error> {
        self.push(b'"')?;
        self.escaped(s.as_bytes())?;
        self.push(b'"')
    }

    fn unsigned(&mut self, mut v: u64) -> Result<(), Error> {
        // Most numbers of a document (counts, small byte counts, response
        // times in ms) have one or two digits.
        if v < 10 {
            return self.push(b'0' + v as u8);
        }
        if v < 100 {
            let p = v as usize * 2;
            return self.extend(DIGIT_PAIRS.get(p..p + 2).unwrap_or(b"00"));
        }
        // Digits are produced from the right, two at a time; u64::MAX has 20.
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut put_pair = |i: usize, n: u64| {
            let p = n as usize * 2;
            if let (Some(dst), Some(src)) = (tmp.get_mut(i..i + 2), DIGIT_PAIRS.get(p..p + 2)) {
                dst.copy_from_slice(src);
            }
        };
        while v >= 100 {
            i -= 2;
            put_pair(i, v % 100);
            v /= 100;
        }
        if v >= 10 {
            i -= 2;
            put_pair(i, v);
        } else {
            i -= 1;
            if let Some(d) = tmp.get_mut(i) {
                *d = b'0' + v as u8;
            }
        }
        self.extend(tmp.get(i..).unwrap_or(&[]))
    }

    fn signed(&mut self, v: i64) -> Result<(), Error> {
        if v < 0 {
            self.push(b'-')?;
        }
        self.unsigned(v.unsigned_abs())
    }
}

/// `core::fmt` output into a JSON string, escaped as it arrives.
struct Escaping<'a, 'b>(&'a mut Writer<'b>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.escaped(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// `core::fmt` output copied verbatim (floats: digits, sign, point).
struct Verbatim<'a, 'b>(&'a mut Writer<'b>);

impl fmt::Write for Verbatim<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// An array or object being written: whether a separator is due.
#[doc(hidden)]
pub struct Compound<'a, 'b> {
    w: &'a mut Writer<'b>,
    first: bool,
}

impl Compound<'_, '_> {
    fn separator(&mut self) -> Result<(), Error> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.w.push(b',')
        }
    }
}

/// Writes the JSON object `f` fills into `buf` and returns its length: the
/// document path, which writes its fields through [`Object`]'s methods
/// rather than through `serde` (values that are themselves structures
/// still can go through `serde`, with [`Object::field`]).
pub(crate) fn object_to_slice(
    buf: &mut [u8],
    f: impl FnOnce(&mut Object<'_, '_>) -> Result<(), Error>,
) -> Result<usize, Error> {
    let mut w = Writer { buf, len: 0 };
    w.push(b'{')?;
    f(&mut Compound { w: &mut w, first: true })?;
    w.push(b'}')?;
    Ok(w.len)
}

/// A field name with its JSON punctuation (`,"name":`), made at compile
/// time by [`key!`](crate::key): a field costs one copy, not three.
#[derive(Clone, Copy, Debug)]
pub struct Key(pub &'static str);

/// The [`Key`] of a field name given as a string literal (which must not
/// need escaping).
#[macro_export]
macro_rules! key {
    ($name:literal) => {
        $crate::json::writer::Key(concat!(",\"", $name, "\":"))
    };
}

/// An object being written field by field. Field names are [`Key`]s,
/// written as they are: they must not need escaping (the document's field
/// names never do; checked in debug builds). Keys from the wire go through
/// [`Object::field`] with a `serde` map value, which escapes them.
pub type Object<'a, 'b> = Compound<'a, 'b>;

impl<'b> Compound<'_, 'b> {
    /// `"key":`, after a comma unless it is the first field.
    #[inline]
    fn key(&mut self, key: Key) -> Result<(), Error> {
        let text = key.0.as_bytes();
        debug_assert!(text.len() >= 4 && !any_needs_escape(text.get(2..text.len() - 2).unwrap_or(&[])));
        if self.first {
            self.first = false;
            self.w.extend(text.get(1..).unwrap_or(&[]))
        } else {
            self.w.extend(text)
        }
    }

    /// A field whose value `serde` writes (structures, options, floats).
    #[inline]
    pub fn field<T: Serialize + ?Sized>(&mut self, key: Key, value: &T) -> Result<(), Error> {
        self.key(key)?;
        value.serialize(&mut *self.w)
    }

    /// A string field.
    #[inline]
    pub fn str(&mut self, key: Key, value: &str) -> Result<(), Error> {
        self.key(key)?;
        self.w.string(value)
    }

    /// A string field from bytes that should be UTF-8: invalid sequences
    /// become U+FFFD (as [`Lossy`](crate::text::Lossy) shows them).
    #[inline]
    pub fn text(&mut self, key: Key, value: &[u8]) -> Result<(), Error> {
        self.key(key)?;
        self.w.text(value, false)
    }

    /// A string field made of `parts` back to back, each as
    /// [`Object::text`] writes it (invalid UTF-8 becomes U+FFFD part by
    /// part): HTTP's and DNS's `query`, composed of stored pieces.
    #[inline]
    pub fn text_parts(&mut self, key: Key, parts: &[&[u8]]) -> Result<(), Error> {
        self.key(key)?;
        self.w.push(b'"')?;
        for part in parts {
            self.w.text_body(part)?;
        }
        self.w.push(b'"')
    }

    /// [`Object::text`] with ASCII letters upper-cased.
    #[inline]
    pub fn text_upper(&mut self, key: Key, value: &[u8]) -> Result<(), Error> {
        self.key(key)?;
        self.w.text(value, true)
    }

    /// An unsigned number field.
    #[inline]
    pub fn uint(&mut self, key: Key, value: u64) -> Result<(), Error> {
        self.key(key)?;
        self.w.unsigned(value)
    }

    /// A string field whose value is known to be ASCII that needs no
    /// escaping (timestamps, addresses, names from the kernel's tables).
    #[inline]
    pub(crate) fn ascii(&mut self, key: Key, value: &[u8]) -> Result<(), Error> {
        debug_assert!(value.is_ascii() && !any_needs_escape(value));
        self.key(key)?;
        self.w.push(b'"')?;
        self.w.extend(value)?;
        self.w.push(b'"')
    }

    /// Fields rendered before by this writer (`"a":1,"b":"x"`, no braces),
    /// copied as they are.
    #[inline]
    pub(crate) fn rendered(&mut self, fields: &[u8]) -> Result<(), Error> {
        if fields.is_empty() {
            return Ok(());
        }
        self.separator()?;
        self.w.extend(fields)
    }

    /// A nested object field; write its fields, then [`Object::close`] it.
    #[inline]
    pub fn object(&mut self, key: Key) -> Result<Object<'_, 'b>, Error> {
        self.key(key)?;
        self.w.push(b'{')?;
        Ok(Compound { w: &mut *self.w, first: true })
    }

    /// Ends a nested object.
    #[inline]
    pub fn close(self) -> Result<(), Error> {
        self.w.push(b'}')
    }

    /// An array field; add objects with [`Object::push_object`], then
    /// [`Object::close_array`] it.
    #[inline]
    pub fn array(&mut self, key: Key) -> Result<Compound<'_, 'b>, Error> {
        self.key(key)?;
        self.w.push(b'[')?;
        Ok(Compound { w: &mut *self.w, first: true })
    }

    /// An object element of an array opened with [`Object::array`]; write
    /// its fields, then [`Object::close`] it.
    #[inline]
    pub fn push_object(&mut self) -> Result<Object<'_, 'b>, Error> {
        self.separator()?;
        self.w.push(b'{')?;
        Ok(Compound { w: &mut *self.w, first: true })
    }

    /// Ends an array opened with [`Object::array`].
    #[inline]
    pub fn close_array(self) -> Result<(), Error> {
        self.w.push(b']')
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Writer<'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.extend(if v { b"true" } else { b"false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.signed(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.signed(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.signed(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.signed(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.unsigned(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.unsigned(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.unsigned(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.unsigned(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            // JSON has no NaN or infinity.
            return self.extend(b"null");
        }
        fmt::write(&mut Verbatim(self), format_args!("{v}")).map_err(|_| Error::Full)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.extend(b"null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.extend(b"null")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.extend(b"null")
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.push(b'[')?;
        Ok(Compound { w: self, first: true })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error::Unsupported)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.push(b'{')?;
        Ok(Compound { w: self, first: true })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error::Unsupported)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.push(b'"')?;
        fmt::write(&mut Escaping(self), format_args!("{value}")).map_err(|_| Error::Full)?;
        self.push(b'"')
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.separator()?;
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.push(b']')
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.separator()?;
        key.serialize(KeySerializer(&mut *self.w))?;
        self.w.push(b':')
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.push(b'}')
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.separator()?;
        self.w.string(key)?;
        self.w.push(b':')?;
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.push(b'}')
    }
}

/// Methods of a serializer that refuse values of these types.
macro_rules! refuse_scalars {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(fn $name(self, _v: $ty) -> Result<(), Error> {
            Err(Error::Unsupported)
        })*
    };
}

/// Object keys: strings only (what JSON allows).
struct KeySerializer<'a, 'b>(&'a mut Writer<'b>);

impl ser::Serializer for KeySerializer<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.string(v)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.0.collect_str(value)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        self.0.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    refuse_scalars!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_char: char,
        serialize_bytes: &[u8],
    );
    fn serialize_none(self) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error::Unsupported)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error::Unsupported)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error::Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error::Unsupported)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error::Unsupported)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, Error> {
        Err(Error::Unsupported)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::ser::{SerializeMap, Serializer};

    /// The word-at-a-time checks find one bad byte at every position of
    /// every short length (the lengths below a word are read with
    /// overlapping loads) and nothing in clean strings.
    #[test]
    fn word_checks_see_every_byte() {
        for n in 0..20 {
            let clean = [b'x'; 20][..n].to_vec();
            assert!(is_clean_ascii(&clean) && !any_needs_escape(&clean), "len {n}");
            for pos in 0..n {
                for bad in [0x00, 0x1f, b'"', b'\\', 0x80, 0xff] {
                    let mut v = clean.clone();
                    v[pos] = bad;
                    assert!(!is_clean_ascii(&v), "len {n} pos {pos} byte {bad:#x}");
                    assert_eq!(any_needs_escape(&v), bad < 0x80, "len {n} pos {pos} byte {bad:#x}");
                }
            }
        }
    }

    /// The direct field writers give what `serde` gives for the same value:
    /// `text` as `Lossy` (U+FFFD for invalid UTF-8, escapes), `text_upper`
    /// the same with ASCII letters upper-cased, nested objects, numbers.
    #[test]
    fn object_fields_match_serde() {
        let long = [b'a'; 150];
        let cases: [&[u8]; 10] = [
            b"",
            b"set",
            b"key:000000087354",
            b"quote \" and \\ backslash",
            b"tab\tnewline\n\x01\x1f",
            b"caf\xc3\xa9 \xe2\x82\xac",
            b"bad \xff\xfe utf8 \xc3",
            b"mixed \xff ok \"q\" \xe2\x82",
            &long,
            b"12345678\"",
        ];
        for c in cases {
            let mut got = [0u8; 1024];
            let n = object_to_slice(&mut got, |m| {
                m.text(crate::key!("a"), c)?;
                m.text_upper(crate::key!("b"), c)?;
                let mut o = m.object(crate::key!("c"))?;
                o.uint(crate::key!("n"), u64::MAX)?;
                o.str(crate::key!("s"), "x")?;
                o.close()?;
                m.field(crate::key!("d"), &crate::text::Lossy(c))?;
                m.text_parts(crate::key!("e"), &[c, b" ", b"/p\xffq"])
            })
            .unwrap();
            let mut want = [0u8; 1024];
            let mut w = Writer { buf: &mut want, len: 0 };
            let mut m = (&mut w).serialize_map(None).unwrap();
            m.serialize_entry("a", &crate::text::Lossy(c)).unwrap();
            let mut upper = [0u8; 256];
            let u = upper.get_mut(..c.len()).unwrap();
            u.copy_from_slice(c);
            u.make_ascii_uppercase();
            m.serialize_entry("b", &crate::text::Lossy(u)).unwrap();
            struct C;
            impl Serialize for C {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_entry("n", &u64::MAX)?;
                    m.serialize_entry("s", "x")?;
                    m.end()
                }
            }
            m.serialize_entry("c", &C).unwrap();
            m.serialize_entry("d", &crate::text::Lossy(c)).unwrap();
            // What HTTP's `query` wrote through `core::fmt` before `text_parts`.
            struct Pair<'a>(&'a [u8], &'a [u8]);
            impl fmt::Display for Pair<'_> {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "{} {}", crate::text::Lossy(self.0), crate::text::Lossy(self.1))
                }
            }
            impl Serialize for Pair<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_str(self)
                }
            }
            m.serialize_entry("e", &Pair(c, b"/p\xffq")).unwrap();
            SerializeMap::end(m).unwrap();
            let wn = w.len;
            assert_eq!(core::str::from_utf8(&got[..n]).unwrap(), core::str::from_utf8(&want[..wn]).unwrap());
        }
    }

    /// A full buffer is an error from the direct writers too.
    #[test]
    fn object_fields_report_full() {
        // {"abc":"defgh","n":12345} is 25 bytes.
        for size in 0..32 {
            let mut buf = [0u8; 32];
            let r = object_to_slice(&mut buf[..size], |m| {
                m.text(crate::key!("abc"), b"defgh")?;
                m.uint(crate::key!("n"), 12345)
            });
            assert_eq!(r, if size >= 25 { Ok(25) } else { Err(Error::Full) }, "size {size}");
        }
    }

    /// Serialises into a fixed buffer and compares as text (core has no alloc).
    fn check<T: Serialize + ?Sized>(v: &T, want: &str) {
        let mut buf = [0u8; 256];
        let n = to_slice(v, &mut buf).unwrap();
        assert_eq!(core::str::from_utf8(&buf[..n]).unwrap(), want);
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_controls_only() {
        check("a\"b\\c\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}é→", "\"a\\\"b\\\\c\\b\\t\\n\\f\\r\\u0001\\u001F\u{7f}é→\"");
        check("", "\"\"");
        check("plain", "\"plain\"");
    }

    #[test]
    fn integers_at_their_limits() {
        check(&0u8, "0");
        check(&9u8, "9");
        check(&10u16, "10");
        check(&99u16, "99");
        check(&100u32, "100");
        check(&1_000_001u32, "1000001");
        check(&u64::MAX, "18446744073709551615");
        check(&i64::MIN, "-9223372036854775808");
        check(&-7i32, "-7");
        // Every number up to 100 000 (the one- and two-digit shortcuts and
        // the pair loop) against digits computed one at a time.
        for v in 0u64..=100_000 {
            let mut want = [0u8; 20];
            let (mut n, mut i) = (v, want.len());
            loop {
                i -= 1;
                want[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let mut buf = [0u8; 20];
            let len = to_slice(&v, &mut buf).unwrap();
            assert_eq!(&buf[..len], &want[i..], "{v}");
        }
    }

    #[test]
    fn maps_sequences_and_display_values() {
        struct Doc;
        impl Serialize for Doc {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("a", &[1u8, 2])?;
                m.serialize_entry("b", &None::<u8>)?;
                m.serialize_entry("c", &true)?;
                m.serialize_entry("ip", &crate::json::Ip(core::net::IpAddr::from([10, 0, 0, 1])))?;
                m.serialize_entry("s", &crate::text::Lossy(b"x\"\xff"))?;
                m.serialize_entry("f", &1.5f64)?;
                m.serialize_entry("e", &[0u8; 0])?;
                m.end()
            }
        }
        check(&Doc, r#"{"a":[1,2],"b":null,"c":true,"ip":"10.0.0.1","s":"x\"�","f":1.5,"e":[]}"#);
    }

    #[test]
    fn a_full_buffer_is_an_error_never_a_partial_success() {
        let mut buf = [0u8; 8];
        assert_eq!(to_slice("0123456789", &mut buf), Err(Error::Full));
        assert_eq!(to_slice(&u64::MAX, &mut buf), Err(Error::Full));
        let mut exact = [0u8; 4];
        assert_eq!(to_slice("ab", &mut exact), Ok(4));
        assert_eq!(&exact, b"\"ab\"");
    }
}
