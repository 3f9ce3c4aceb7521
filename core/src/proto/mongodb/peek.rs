//! Decoding the beginning of a compressed message (zlib and snappy).
//!
//! A full decompressor needs a window of 32 KiB (zlib) or 64 KiB (snappy)
//! per message, beyond this kernel's memory budget. But the first `N`
//! bytes of output only ever refer back to themselves, so decoding just a
//! prefix needs no window beyond the output buffer. That prefix holds what
//! matters most: the OP_MSG flags (`moreToCome`), the command name, often
//! the whole command, and the `ok` / `errmsg` of an error reply.
//!
//! Both decoders are stateless (one call over the compressed bytes at
//! hand), stop at the end of their input or output, and give up (returning
//! what they produced) on anything malformed. Every loop consumes input
//! bits or produces output, and is capped besides.

/// Output bytes decoded at most (a stack buffer of the caller).
pub const PEEK_OUT: usize = 1024;
/// Compressed bytes looked at at most.
pub const PEEK_IN: usize = 2048;

/// Reads bits, least significant first, as DEFLATE stores them.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u32,
    nbits: u32,
}

impl Bits<'_> {
    fn need(&mut self, n: u32) -> Option<u32> {
        while self.nbits < n {
            let b = *self.data.get(self.pos)?;
            self.pos += 1;
            self.bit |= (b as u32) << self.nbits;
            self.nbits += 8;
        }
        let v = self.bit & ((1u32 << n) - 1);
        self.bit >>= n;
        self.nbits -= n;
        Some(v)
    }
}

/// A canonical Huffman code: how many codes of each length, and the
/// symbols in code order.
struct Huff {
    count: [u16; 16],
    symbol: [u16; 320],
}

impl Huff {
    fn new(lengths: &[u8]) -> Option<Huff> {
        let mut h = Huff { count: [0; 16], symbol: [0; 320] };
        for &l in lengths {
            *h.count.get_mut(l as usize)? += 1;
        }
        let mut offs = [0u16; 16];
        for len in 1..16 {
            let prev = offs.get(len - 1).copied().unwrap_or(0) + h.count.get(len - 1).copied().unwrap_or(0);
            *offs.get_mut(len)? = if len == 1 { 0 } else { prev };
        }
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                let o = offs.get_mut(l as usize)?;
                *h.symbol.get_mut(*o as usize)? = sym as u16;
                *o += 1;
            }
        }
        Some(h)
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Option<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.need(1)? as i32;
            let count = self.count.get(len).copied().unwrap_or(0) as i32;
            if code - count < first {
                return self.symbol.get((index + code - first) as usize).copied();
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        None
    }
}

const LEN_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// Order in which code length code lengths are stored.
const CL_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Output being produced: a prefix of the message.
struct Sink<'a> {
    out: &'a mut [u8],
    n: usize,
}

impl Sink<'_> {
    fn full(&self) -> bool {
        self.n >= self.out.len()
    }
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.out.get_mut(self.n) {
            *slot = b;
            self.n += 1;
        }
    }
    /// Copies `len` bytes from `dist` back; `None` when it points before the
    /// start (only possible in broken data: the prefix is the start).
    fn copy(&mut self, dist: usize, len: usize) -> Option<()> {
        if dist == 0 || dist > self.n {
            return None;
        }
        for _ in 0..len {
            if self.full() {
                break;
            }
            let b = *self.out.get(self.n - dist)?;
            self.push(b);
        }
        Some(())
    }
}

/// Decodes the start of a zlib stream (RFC 1950/1951) into `out`; returns
/// how many bytes were produced.
pub fn zlib_prefix(data: &[u8], out: &mut [u8]) -> usize {
    let (Some(&cmf), Some(&flg)) = (data.first(), data.get(1)) else { return 0 };
    if cmf & 0x0f != 8 || (((cmf as u16) << 8) | flg as u16) % 31 != 0 || flg & 0x20 != 0 {
        return 0;
    }
    let mut sink = Sink { out, n: 0 };
    let mut bits = Bits { data: data.get(2..).unwrap_or(&[]), pos: 0, bit: 0, nbits: 0 };
    let _ = inflate(&mut bits, &mut sink);
    sink.n
}

fn inflate(bits: &mut Bits<'_>, sink: &mut Sink<'_>) -> Option<()> {
    // A block either produces output or ends the stream; at most as many
    // blocks as input bytes.
    for _ in 0..PEEK_IN {
        if sink.full() {
            return Some(());
        }
        let last = bits.need(1)?;
        match bits.need(2)? {
            0 => {
                // Stored: byte-aligned LEN, NLEN, then the bytes.
                bits.bit = 0;
                bits.nbits = 0;
                let len = bits.need(16)?;
                let nlen = bits.need(16)?;
                if len != !nlen & 0xffff {
                    return None;
                }
                for _ in 0..len {
                    if sink.full() {
                        return Some(());
                    }
                    sink.push(bits.need(8)? as u8);
                }
            }
            1 => {
                let mut l = [0u8; 288];
                for (i, v) in l.iter_mut().enumerate() {
                    *v = match i {
                        0..=143 => 8,
                        144..=255 => 9,
                        256..=279 => 7,
                        _ => 8,
                    };
                }
                let lit = Huff::new(&l)?;
                let dist = Huff::new(&[5u8; 30])?;
                codes(bits, sink, &lit, &dist)?;
            }
            2 => {
                let nlen = bits.need(5)? as usize + 257;
                let ndist = bits.need(5)? as usize + 1;
                let ncode = bits.need(4)? as usize + 4;
                if nlen > 286 || ndist > 30 {
                    return None;
                }
                let mut cl = [0u8; 19];
                for &i in CL_ORDER.iter().take(ncode) {
                    *cl.get_mut(i)? = bits.need(3)? as u8;
                }
                let clh = Huff::new(&cl)?;
                let mut lengths = [0u8; 316];
                let mut i = 0;
                while i < nlen + ndist {
                    let sym = clh.decode(bits)?;
                    let (val, rep) = match sym {
                        0..=15 => (sym as u8, 1),
                        16 => (*lengths.get(i.checked_sub(1)?)?, 3 + bits.need(2)? as usize),
                        17 => (0, 3 + bits.need(3)? as usize),
                        18 => (0, 11 + bits.need(7)? as usize),
                        _ => return None,
                    };
                    for _ in 0..rep {
                        *lengths.get_mut(i)? = val;
                        i += 1;
                    }
                    if i > nlen + ndist {
                        return None;
                    }
                }
                let lit = Huff::new(lengths.get(..nlen)?)?;
                let dist = Huff::new(lengths.get(nlen..nlen + ndist)?)?;
                codes(bits, sink, &lit, &dist)?;
            }
            _ => return None,
        }
        if last == 1 {
            return Some(());
        }
    }
    Some(())
}

/// Literal/length and distance codes of one block, up to its end code or
/// a full output.
fn codes(bits: &mut Bits<'_>, sink: &mut Sink<'_>, lit: &Huff, dist: &Huff) -> Option<()> {
    // Each symbol produces output or ends the block.
    for _ in 0..PEEK_OUT * 2 {
        if sink.full() {
            return Some(());
        }
        let sym = lit.decode(bits)? as usize;
        if sym < 256 {
            sink.push(sym as u8);
        } else if sym == 256 {
            return Some(());
        } else {
            let s = sym - 257;
            let len = *LEN_BASE.get(s)? as usize + bits.need(*LEN_EXTRA.get(s)? as u32)? as usize;
            let d = dist.decode(bits)? as usize;
            let dd = *DIST_BASE.get(d)? as usize + bits.need(*DIST_EXTRA.get(d)? as u32)? as usize;
            sink.copy(dd, len)?;
        }
    }
    Some(())
}

/// Decodes the start of a raw snappy block into `out`; returns how many
/// bytes were produced.
pub fn snappy_prefix(data: &[u8], out: &mut [u8]) -> usize {
    let mut pos = 0usize;
    // The uncompressed length (a varint): not needed.
    for _ in 0..5 {
        let Some(&b) = data.get(pos) else { return 0 };
        pos += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut sink = Sink { out, n: 0 };
    let le = |d: &[u8], at: usize, n: usize| -> Option<usize> {
        let b = d.get(at..at + n)?;
        Some(b.iter().rev().fold(0usize, |v, &x| (v << 8) | x as usize))
    };
    // Each element consumes at least one input byte.
    while !sink.full() {
        let Some(&tag) = data.get(pos) else { break };
        pos += 1;
        let step = match tag & 3 {
            0 => {
                let mut len = (tag >> 2) as usize + 1;
                if len > 60 {
                    let n = len - 60;
                    let Some(v) = le(data, pos, n) else { break };
                    pos += n;
                    len = v + 1;
                }
                let avail = data.get(pos..).unwrap_or(&[]);
                for &b in avail.iter().take(len) {
                    sink.push(b);
                }
                pos = pos.saturating_add(len);
                Some(())
            }
            1 => {
                let len = 4 + ((tag >> 2) & 7) as usize;
                let Some(&lo) = data.get(pos) else { break };
                pos += 1;
                sink.copy(((tag as usize >> 5) << 8) | lo as usize, len)
            }
            2 => {
                let Some(off) = le(data, pos, 2) else { break };
                pos += 2;
                sink.copy(off, (tag >> 2) as usize + 1)
            }
            _ => {
                let Some(off) = le(data, pos, 4) else { break };
                pos += 4;
                sink.copy(off, (tag >> 2) as usize + 1)
            }
        };
        if step.is_none() {
            break;
        }
    }
    sink.n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `zlib.compress(b"hello hello hello hello, mongodb!" * 3)` (Python):
    /// one fixed-Huffman block with back-references.
    const ZLIB_FIXED: [u8; 31] = [
        0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x27, 0x75, 0x14, 0x72, 0xf3, 0xf3, 0xd2, 0xf3,
        0x53, 0x92, 0x14, 0x31, 0xa4, 0x48, 0x56, 0x00, 0x00, 0x17, 0x60, 0x24, 0x0a,
    ];
    /// `zlib.compress(b"stored block data", 0)`: a stored block.
    const ZLIB_STORED: [u8; 28] = [
        0x78, 0x01, 0x01, 0x11, 0x00, 0xee, 0xff, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x64, 0x20, 0x62, 0x6c, 0x6f, 0x63,
        0x6b, 0x20, 0x64, 0x61, 0x74, 0x61, 0x3b, 0xcd, 0x06, 0x77,
    ];
    /// 120 random words, `zlib.compress(text, 9)`: a dynamic-Huffman block.
    const DYN_PLAIN: &[u8] = b"ok find errmsg shop mongo insert name lsid insert ok db mongo lsid cursor mongo insert errmsg errmsg insert cursor insert lsid errmsg mongo name db insert cursor shop shop db mongo db db errmsg mongo cursor mongo lsid name find batch errmsg find lsid insert db batch lsid name shop find insert db db shop cursor ok insert lsid items insert db mongo db cursor documents shop lsid errmsg qty ok documents db documents ok batch cursor qty find items qty cursor insert db batch lsid documents ok items documents batch db insert insert lsid errmsg find qty ok find documents errmsg mongo shop insert qty lsid db qty name ok ok items ok db documents db qty documents";
    const DYN: [u8; 214] = [
        0x78, 0xda, 0x6d, 0x92, 0x6b, 0x12, 0xc2, 0x20, 0x0c, 0x84, 0xaf, 0x92, 0xab, 0xf5, 0x81, 0x2d, 0x53, 0x01,
        0x05, 0xfa, 0xc3, 0xdb, 0x1b, 0x36, 0x11, 0xc8, 0x8c, 0x33, 0x1d, 0x85, 0xf8, 0xed, 0x6e, 0x12, 0x9b, 0x2e,
        0x7a, 0xf8, 0xb8, 0x93, 0xcb, 0x39, 0x94, 0x83, 0xca, 0x99, 0x5e, 0x14, 0x52, 0x3c, 0x12, 0xf9, 0x58, 0x5c,
        0xae, 0x14, 0x97, 0xe0, 0xe8, 0x59, 0xfc, 0xfe, 0x2b, 0xa4, 0x8b, 0xf6, 0x55, 0x19, 0xd4, 0xb7, 0x3b, 0x97,
        0x94, 0xad, 0x4a, 0xed, 0xf4, 0x4b, 0x8b, 0x0a, 0xea, 0x0d, 0x5a, 0x05, 0x44, 0x8b, 0x28, 0xf6, 0xb6, 0x38,
        0x5a, 0xc2, 0x47, 0x8f, 0xe5, 0x03, 0x3f, 0x46, 0x6b, 0x9a, 0x80, 0x35, 0xdc, 0x30, 0xdb, 0xba, 0xd4, 0xed,
        0xfc, 0xe1, 0xa8, 0xcc, 0xf3, 0xb0, 0x93, 0x00, 0x43, 0x85, 0x34, 0x80, 0x83, 0xe1, 0x07, 0x65, 0x0d, 0xe2,
        0x2d, 0xcc, 0x73, 0xf8, 0xea, 0x42, 0x99, 0xe8, 0xde, 0xa7, 0xe2, 0x7b, 0xda, 0xee, 0xe0, 0x62, 0x2d, 0x62,
        0x32, 0xcf, 0xfe, 0xae, 0x1f, 0xec, 0xb4, 0x13, 0x2d, 0xac, 0x5f, 0xf8, 0x17, 0xe9, 0x4e, 0x8d, 0x1a, 0x2d,
        0x9d, 0x21, 0xb1, 0x5d, 0xed, 0x5a, 0xed, 0x38, 0xc6, 0x48, 0x24, 0xa3, 0x24, 0xdc, 0x58, 0xf8, 0x9f, 0x3f,
        0x06, 0x51, 0xda, 0x21, 0xce, 0x43, 0x6d, 0xd6, 0x8f, 0xa9, 0x54, 0xdf, 0x70, 0x09, 0x5f, 0x71, 0xc6, 0x4a,
        0x59, 0xdf, 0x3b, 0x90, 0x37, 0xc8, 0x0c, 0xdc, 0xb8, 0x5e, 0xf8, 0x02, 0xe7, 0x75, 0xf3, 0xc5,
    ];

    #[test]
    fn zlib_fixed_block() {
        let mut out = [0u8; 200];
        let n = zlib_prefix(&ZLIB_FIXED, &mut out);
        let want =
            b"hello hello hello hello, mongodb!hello hello hello hello, mongodb!hello hello hello hello, mongodb!";
        assert_eq!(&out[..n], &want[..]);
        // A short output buffer gets the prefix.
        let mut small = [0u8; 10];
        assert_eq!(zlib_prefix(&ZLIB_FIXED, &mut small), 10);
        assert_eq!(&small, b"hello hell");
    }

    #[test]
    fn zlib_stored_and_dynamic_blocks() {
        let mut out = [0u8; 1024];
        let n = zlib_prefix(&ZLIB_STORED, &mut out);
        assert_eq!(&out[..n], b"stored block data");
        let n = zlib_prefix(&DYN, &mut out);
        assert_eq!(&out[..n], DYN_PLAIN);
        // Cut input: a prefix of the output, never more.
        for cut in 0..DYN.len() {
            let n = zlib_prefix(&DYN[..cut], &mut out);
            assert_eq!(&out[..n], &DYN_PLAIN[..n], "input cut at {cut}");
        }
        // Short output.
        let mut small = [0u8; 100];
        assert_eq!(zlib_prefix(&DYN, &mut small), 100);
        assert_eq!(&small[..], &DYN_PLAIN[..100]);
    }

    #[test]
    fn snappy_literals_and_copies() {
        // varint 12, literal "abcd", copy-1 (len 4, offset 4), literal "xy",
        // copy-2 (len 2, offset 2).
        let data = [12u8, 3 << 2, b'a', b'b', b'c', b'd', 0b0000_0001, 4, 1 << 2, b'x', b'y', (1 << 2) | 2, 2, 0];
        let mut out = [0u8; 32];
        let n = snappy_prefix(&data, &mut out);
        assert_eq!(&out[..n], b"abcdabcdxyxy");
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_u32;
        let mut data = [0u8; 300];
        let mut out = [0u8; 128];
        for round in 0..3000 {
            for b in data.iter_mut() {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *b = (seed >> 24) as u8;
            }
            // Valid zlib headers sometimes, so the block decoders run.
            if round % 2 == 0 {
                data[0] = 0x78;
                data[1] = 0x9c;
            }
            let len = (seed as usize) % data.len();
            assert!(zlib_prefix(&data[..len], &mut out) <= out.len());
            assert!(snappy_prefix(&data[..len], &mut out) <= out.len());
        }
    }
}
