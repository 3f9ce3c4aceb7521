//! Fixed-capacity text storage for transaction fields.
//!
//! A [`TextBuf`] is a small arena: protocol analyzers append the bytes of a
//! field (a path, a header value) and keep the returned [`Span`]. When the
//! arena is full the field is cut, and [`TextBuf::truncated`] says so; the
//! JSON writer then flags the transaction instead of hiding the loss.

use core::fmt;

/// A range of bytes inside a [`TextBuf`]. The empty span is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    off: u16,
    len: u16,
}

impl Span {
    /// The empty span.
    pub const EMPTY: Span = Span { off: 0, len: 0 };

    /// Length in bytes.
    pub fn len(self) -> usize {
        self.len as usize
    }
    /// True when the span holds no bytes.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// An append-only byte arena of `N` bytes (N ≤ 65535).
#[derive(Clone, Debug)]
pub struct TextBuf<const N: usize> {
    buf: [u8; N],
    len: u16,
    truncated: bool,
}

impl<const N: usize> Default for TextBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TextBuf<N> {
    /// An empty arena.
    pub const fn new() -> Self {
        TextBuf { buf: [0; N], len: 0, truncated: false }
    }

    /// Forgets every span; the storage is reused.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// True when some appended bytes did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Marks the arena's content as incomplete (used when a field was cut
    /// before it reached the arena, e.g. a line longer than a stream block).
    pub fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        N.min(u16::MAX as usize).saturating_sub(self.len as usize)
    }

    /// Appends `bytes` (cut to what fits) and returns where they are.
    pub fn push(&mut self, bytes: &[u8]) -> Span {
        let off = self.len;
        let n = bytes.len().min(self.remaining());
        if n < bytes.len() {
            self.truncated = true;
        }
        let start = off as usize;
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..start + n), bytes.get(..n)) {
            copy_bytes(dst, src);
            self.len = off.saturating_add(n as u16);
        }
        Span { off, len: n as u16 }
    }

    /// Appends `bytes` to `span`, which must be the last span pushed (as it
    /// is while one field is being built from several pieces). Returns the
    /// grown span; when `span` is not last, the bytes start a new span.
    pub fn extend(&mut self, span: Span, bytes: &[u8]) -> Span {
        if span.is_empty() {
            return self.push(bytes);
        }
        if (span.off as usize + span.len as usize) != self.len as usize {
            return self.push(bytes);
        }
        let added = self.push(bytes);
        Span { off: span.off, len: span.len.saturating_add(added.len) }
    }

    /// Appends `words` joined by single `sep` bytes as one span: a command
    /// line from its arguments, checked against the room left once and
    /// copied word by word. Cut (and flagged) where the arena ends.
    pub fn push_words(&mut self, words: &[&[u8]], sep: u8) -> Span {
        let seps = words.len().saturating_sub(1);
        let total = words.iter().fold(seps, |n, w| n.saturating_add(w.len()));
        let off = self.len as usize;
        let fits = total <= self.remaining();
        let Some(dst) = self.buf.get_mut(off..off.saturating_add(total)).filter(|_| fits) else {
            // Not enough room: piece by piece, which cuts and flags.
            let mut span = Span { off: self.len, len: 0 };
            for (i, w) in words.iter().enumerate() {
                if i > 0 {
                    span = self.extend(span, &[sep]);
                }
                span = self.extend(span, w);
            }
            return span;
        };
        let mut at = 0;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                if let Some(b) = dst.get_mut(at) {
                    *b = sep;
                }
                at += 1;
            }
            if let Some(d) = dst.get_mut(at..at + w.len()) {
                copy_bytes(d, w);
            }
            at += w.len();
        }
        self.len = self.len.saturating_add(total as u16);
        Span { off: off as u16, len: total as u16 }
    }

    /// The part of `span` that starts `start` bytes in and is `len` long
    /// (clamped to the span).
    pub fn sub(&self, span: Span, start: usize, len: usize) -> Span {
        let start = start.min(span.len as usize);
        let len = len.min(span.len as usize - start);
        Span { off: span.off.saturating_add(start as u16), len: len as u16 }
    }

    /// The bytes of `span` (empty if the span is not from this arena).
    pub fn get(&self, span: Span) -> &[u8] {
        let start = span.off as usize;
        self.buf.get(start..start + span.len as usize).unwrap_or(&[])
    }

    /// The bytes from the start of `a` to the end of `b` when `b` follows
    /// `a` with exactly `gap` bytes between them (`None` otherwise).
    pub fn joined(&self, a: Span, gap: usize, b: Span) -> Option<&[u8]> {
        let (start, end) = (a.off as usize, b.off as usize + b.len as usize);
        (a.off as usize + a.len as usize + gap == b.off as usize).then(|| self.buf.get(start..end)).flatten()
    }

    /// `span` as text for display and JSON (invalid UTF-8 is replaced).
    pub fn text(&self, span: Span) -> Lossy<'_> {
        Lossy(self.get(span))
    }
}

/// Bytes shown as UTF-8 text, with U+FFFD for invalid sequences. Wire data
/// is not guaranteed to be UTF-8, JSON strings must be.
#[derive(Clone, Copy)]
pub struct Lossy<'a>(pub &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Lossy<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match core::str::from_utf8(self.0) {
            Ok(v) => s.serialize_str(v),
            Err(_) => s.collect_str(self),
        }
    }
}

/// ASCII case-insensitive equality of two byte strings.
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `s` without leading and trailing spaces and tabs.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ' && c != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&c| c != b' ' && c != b'\t').map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or(&[])
}

/// Parses an unsigned decimal number; `None` on any non-digit or overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = c.checked_sub(b'0').filter(|d| *d <= 9)?;
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// Copies `src` (at most 16 bytes) into `dst` of the same length with two
/// overlapping fixed-size moves. Most pieces of a document (keys, numbers,
/// short values) are this small, and a call to `memcpy` per piece costs
/// more than the copy itself.
#[inline(always)]
pub(crate) fn small_copy(dst: &mut [u8], src: &[u8]) {
    fn two<const N: usize>(dst: &mut [u8], src: &[u8]) {
        let n = src.len();
        for at in [0, n - N] {
            if let (Some(d), Some(s)) = (dst.get_mut(at..at + N), src.get(at..at + N)) {
                if let (Ok(d), Ok(s)) = (<&mut [u8; N]>::try_from(d), <&[u8; N]>::try_from(s)) {
                    *d = *s;
                }
            }
        }
    }
    match src.len() {
        8.. => two::<8>(dst, src),
        4.. => two::<4>(dst, src),
        2.. => two::<2>(dst, src),
        1 => two::<1>(dst, src),
        _ => {}
    }
}

/// Copies `src` into `dst` of the same length: short pieces with
/// [`small_copy`], longer ones with one `copy_from_slice`.
#[inline(always)]
pub(crate) fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    if src.len() <= 16 {
        small_copy(dst, src);
    } else {
        dst.copy_from_slice(src);
    }
}

/// `b` in every byte of a word (for the word-at-a-time scans below).
#[inline]
pub(crate) const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// The high bit of every byte of `w` that is below `n` (`n` ≤ 128), plus
/// possibly of bytes above such a byte (a borrow runs upwards): the lowest
/// flagged byte is always a real one, and a zero result is exact.
#[inline]
pub(crate) const fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(splat(n)) & !w & splat(0x80)
}

/// Index of the first `needle` byte in `hay`. The line splitters of every
/// text protocol call this per line, and most lines are short: the first 32
/// bytes are scanned inline a word at a time, the rest by `memchr` (vector
/// registers; its set-up costs more than a short line).
#[inline]
pub fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let pattern = splat(needle);
    let mut i = 0;
    while i < 32 {
        let Some(word) = hay.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) else {
            return hay.get(i..)?.iter().position(|&c| c == needle).map(|p| i + p);
        };
        // Matching bytes are zero after the XOR; the lowest flagged one is
        // exact, so this is the first match.
        let found = bytes_below(u64::from_le_bytes(word) ^ pattern, 1);
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr(needle, hay.get(i..)?).map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `push_words` gives the span and bytes that pushing the words and
    /// separators one by one gives, including cuts at the arena's end.
    #[test]
    fn push_words_is_extend_word_by_word() {
        let cases: [&[&[u8]]; 6] = [
            &[],
            &[b"GET"],
            &[b"SET", b"key:000000063602", b"VXK"],
            &[b"", b"a", b""],
            &[b"a very long argument that will not fit", b"x"],
            &[b"0123456789", b"abcdefghij", b"ABCDEFGHIJ"],
        ];
        for words in cases {
            for used in [0usize, 5, 20] {
                let mut a = TextBuf::<32>::new();
                let mut b = TextBuf::<32>::new();
                a.push(&[b'.'; 32][..used]);
                b.push(&[b'.'; 32][..used]);
                let got = a.push_words(words, b' ');
                let mut want = Span { off: b.len, len: 0 };
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        want = b.extend(want, b" ");
                    }
                    want = b.extend(want, w);
                }
                assert_eq!(a.get(got), b.get(want), "{words:?} after {used}");
                assert_eq!((a.len, a.truncated()), (b.len, b.truncated()), "{words:?} after {used}");
            }
        }
    }

    #[test]
    fn find_byte_agrees_with_a_plain_scan() {
        let mut hay = [b'a'; 80];
        for len in 0..hay.len() {
            for at in 0..=len {
                if let Some(b) = hay.get_mut(at) {
                    *b = b'\n';
                }
                let want = hay[..len].iter().position(|&c| c == b'\n');
                assert_eq!(find_byte(&hay[..len], b'\n'), want, "len {len} at {at}");
                assert_eq!(find_byte(&hay[..len], 0x80 | b'\n'), None);
                if let Some(b) = hay.get_mut(at) {
                    *b = b'a';
                }
            }
        }
        // Bytes just above the needle (borrow cases) are not matches.
        assert_eq!(find_byte(b"\x0b\x0b\x0a\x0b", b'\n'), Some(2));
        assert_eq!(find_byte(b"\x01\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0a", b'\n'), Some(8));
    }

    #[test]
    fn push_truncates_and_flags() {
        let mut t: TextBuf<8> = TextBuf::new();
        let a = t.push(b"abc");
        let b = t.push(b"defghij");
        assert_eq!(t.get(a), b"abc");
        assert_eq!(t.get(b), b"defgh");
        assert!(t.truncated());
        assert_eq!(t.push(b"x").len(), 0);
    }

    #[test]
    fn extend_last_span() {
        let mut t: TextBuf<16> = TextBuf::new();
        let a = t.push(b"ab");
        let a = t.extend(a, b"cd");
        assert_eq!(t.get(a), b"abcd");
        let b = t.push(b"x");
        let a2 = t.extend(a, b"e");
        assert_eq!(t.get(b), b"x");
        assert_eq!(t.get(a2), b"e");
    }

    #[test]
    fn helpers() {
        assert_eq!(trim(b"  a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b"99999999999999999999999"), None);
    }

    #[test]
    fn lossy_display() {
        use core::fmt::Write;
        let mut s: heapless::String<16> = heapless::String::new();
        write!(s, "{}", Lossy(b"a\xffb")).unwrap();
        assert_eq!(s.as_str(), "a\u{FFFD}b");
    }
}
