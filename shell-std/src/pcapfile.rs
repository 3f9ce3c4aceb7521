//! Classic pcap files, read in large blocks without libpcap.
//!
//! `tapbeat read` spends its reading thread's time per packet: libpcap
//! reads every record with two buffered `fread` calls and copies it once
//! more into its own buffer. This reader takes the file a megabyte at a
//! time and hands out each frame as a slice of that block, which halves
//! the reading thread's work and so leaves more of the machine to the
//! analysis workers.
//!
//! It reads the classic format only (`tcpdump -w`: micro- or nanosecond
//! magic, either byte order, version 2) on the link types the kernel
//! decodes; [`PcapFile::open`] gives `None` for anything else (pcapng,
//! other link types, FCS annotations), which libpcap then reads. Records
//! are treated as libpcap treats them, so both readers give the same
//! frames: a frame longer than the file's snapshot length is cut to it, a
//! capture length above 262 144 bytes is an error, a record cut short by
//! the end of the file is an error, nanosecond timestamps are truncated to
//! microseconds.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use tapbeat_core::{LinkType, Timestamp};

/// libpcap's largest snapshot length (`MAXIMUM_SNAPLEN`): a record claiming
/// more is corrupt.
pub const MAX_CAPLEN: usize = 262_144;
/// Bytes read from the file at a time.
const BLOCK: usize = 1 << 20;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// Link types whose pcap `LINKTYPE_` value is also the value libpcap
/// reports (`DLT_`) on Linux, and that the kernel decodes.
const LINK_TYPES: [u32; 8] = [0, 1, 101, 108, 113, 228, 229, 276];

/// An open classic pcap file.
pub struct PcapFile {
    file: File,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    big_endian: bool,
    nanos: bool,
    snapshot: usize,
    link: LinkType,
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be read.
    Io(std::io::Error),
    /// A record is cut short by the end of the file, or claims an
    /// impossible length.
    Corrupt(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Corrupt(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ReadError {}

impl PcapFile {
    /// Opens `path` if it is a classic pcap file this reader handles;
    /// `Ok(None)` when it is something else (libpcap's turn).
    pub fn open(path: &Path) -> std::io::Result<Option<PcapFile>> {
        let mut file = File::open(path)?;
        let mut header = [0u8; FILE_HEADER];
        if read_at_least(&mut file, &mut header, FILE_HEADER)?.0 < FILE_HEADER {
            return Ok(None);
        }
        let (big_endian, nanos) = match u32_in(&header, 0, false) {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            _ => match u32_in(&header, 0, true) {
                0xa1b2_c3d4 => (true, false),
                0xa1b2_3c4d => (true, true),
                _ => return Ok(None),
            },
        };
        let major = if big_endian {
            u16::from_be_bytes([header[4], header[5]])
        } else {
            u16::from_le_bytes([header[4], header[5]])
        };
        let link = u32_in(&header, 20, big_endian);
        if major != 2 || !LINK_TYPES.contains(&link) {
            return Ok(None);
        }
        let snaplen = u32_in(&header, 16, big_endian) as usize;
        let snapshot = if snaplen == 0 || snaplen > MAX_CAPLEN { MAX_CAPLEN } else { snaplen };
        Ok(Some(PcapFile {
            file,
            buf: vec![0; BLOCK.max(MAX_CAPLEN + RECORD_HEADER)],
            start: 0,
            end: 0,
            eof: false,
            big_endian,
            nanos,
            snapshot,
            link: LinkType(link),
        }))
    }

    /// The file's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Reads until at least `want` unread bytes are buffered or the file
    /// ends; returns how many are buffered.
    #[inline(always)]
    fn fill(&mut self, want: usize) -> Result<usize, ReadError> {
        if self.end - self.start >= want || self.eof {
            return Ok(self.end - self.start);
        }
        self.refill(want)
    }

    /// [`PcapFile::fill`]'s slow path, kept out of the reading loop: moves
    /// the unread bytes to the front of the buffer and reads more.
    #[inline(never)]
    fn refill(&mut self, want: usize) -> Result<usize, ReadError> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let free = self.buf.get_mut(self.end..).unwrap_or(&mut []);
        let (n, eof) = read_at_least(&mut self.file, free, want - self.end).map_err(ReadError::Io)?;
        self.end += n;
        self.eof = eof;
        Ok(self.end)
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32_in(&self.buf, at, self.big_endian)
    }

    /// The next frame and its time, `None` at the end of the file.
    // Inlined into the reading loop: returned through memory, the result
    // was written in narrow stores and read back wide, a store-forwarding
    // stall that cost the reading thread a third of its time.
    #[inline(always)]
    pub fn next_frame(&mut self) -> Result<Option<(Timestamp, &[u8])>, ReadError> {
        let have = self.fill(RECORD_HEADER)?;
        if have == 0 {
            return Ok(None);
        }
        if have < RECORD_HEADER {
            return Err(ReadError::Corrupt(format!(
                "truncated dump file; tried to read {RECORD_HEADER} header bytes, only got {have}"
            )));
        }
        let h = self.start;
        let secs = self.u32_at(h) as u64;
        let frac = self.u32_at(h + 4);
        let caplen = self.u32_at(h + 8) as usize;
        if caplen > MAX_CAPLEN {
            return Err(ReadError::Corrupt(format!(
                "invalid packet capture length {caplen}, bigger than maximum of {MAX_CAPLEN}"
            )));
        }
        let have = self.fill(RECORD_HEADER + caplen)?;
        if have < RECORD_HEADER + caplen {
            return Err(ReadError::Corrupt(format!(
                "truncated dump file; tried to read {caplen} captured bytes, only got {}",
                have - RECORD_HEADER
            )));
        }
        // `fill` may have moved the record to the front of the buffer.
        let data = self.start + RECORD_HEADER;
        self.start = data + caplen;
        let micros = if self.nanos { frac / 1000 } else { frac };
        let frame = self.buf.get(data..data + caplen.min(self.snapshot)).unwrap_or(&[]);
        Ok(Some((Timestamp::from_secs_micros(secs, micros), frame)))
    }
}

/// Reads into `buf` until at least `want` bytes are there or the file
/// ends: the bytes read, and whether the file ended.
fn read_at_least(file: &mut File, buf: &mut [u8], want: usize) -> std::io::Result<(usize, bool)> {
    let mut got = 0;
    while got < want {
        match file.read(buf.get_mut(got..).unwrap_or(&mut [])) {
            Ok(0) => return Ok((got, true)),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((got, false))
}

/// The 32-bit word at `at` of `b` in the file's byte order (0 past the end).
fn u32_in(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let w = b.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).unwrap_or_default();
    if big_endian {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_header(magic: u32, big: bool, snaplen: u32, link: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let w32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        w32(&mut v, magic);
        let (major, minor): (u16, u16) = (2, 4);
        for x in [major, minor] {
            v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        }
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, snaplen);
        w32(&mut v, link);
        v
    }

    fn record(v: &mut Vec<u8>, big: bool, secs: u32, frac: u32, data: &[u8]) {
        for x in [secs, frac, data.len() as u32, data.len() as u32] {
            v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        }
        v.extend_from_slice(data);
    }

    fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tapbeat-pcapfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn frames(p: &Path) -> Result<Vec<(Timestamp, Vec<u8>)>, String> {
        let mut f = PcapFile::open(p).unwrap().expect("classic pcap");
        let mut out = Vec::new();
        loop {
            match f.next_frame() {
                Ok(Some((ts, d))) => out.push((ts, d.to_vec())),
                Ok(None) => return Ok(out),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    #[test]
    fn both_byte_orders_and_precisions() {
        for (magic, big, nanos) in [
            (0xa1b2_c3d4, false, false),
            (0xa1b2_c3d4, true, false),
            (0xa1b2_3c4d, false, true),
            (0xa1b2_3c4d, true, true),
        ] {
            let mut v = file_header(magic, big, 65535, 1);
            let frac = if nanos { 123_456_789 } else { 123_456 };
            record(&mut v, big, 1_700_000_000, frac, b"abc");
            record(&mut v, big, 1_700_000_001, 0, &[7u8; 1500]);
            let p = write(&format!("order-{magic:x}-{big}.pcap"), &v);
            let got = frames(&p).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].0, Timestamp::from_secs_micros(1_700_000_000, 123_456));
            assert_eq!(got[0].1, b"abc");
            assert_eq!(got[1].1.len(), 1500);
        }
    }

    #[test]
    fn records_across_blocks_and_cut_to_the_snapshot_length() {
        let mut v = file_header(0xa1b2_c3d4, false, 1000, 1);
        let mut want = Vec::new();
        for i in 0..3000u32 {
            let data: Vec<u8> = (0..(i % 1400 + 1)).map(|b| (b ^ i) as u8).collect();
            record(&mut v, false, i, 0, &data);
            want.push(data[..data.len().min(1000)].to_vec());
        }
        let p = write("blocks.pcap", &v);
        let got = frames(&p).unwrap();
        assert!(v.len() > BLOCK, "the file spans several blocks");
        assert_eq!(got.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn damage_is_an_error_after_the_good_records() {
        let mut v = file_header(0xa1b2_c3d4, false, 0, 1);
        record(&mut v, false, 1, 0, b"good");
        let whole = v.len();
        record(&mut v, false, 2, 0, b"cut short");
        let p = write("cut.pcap", &v[..v.len() - 3]);
        let mut f = PcapFile::open(&p).unwrap().unwrap();
        assert_eq!(f.next_frame().unwrap().unwrap().1, b"good");
        assert!(f.next_frame().unwrap_err().to_string().contains("truncated"));
        let p = write("header-cut.pcap", &v[..whole + 5]);
        let e = frames(&p).unwrap_err();
        assert!(e.contains("header bytes"), "{e}");
        let mut big = file_header(0xa1b2_c3d4, false, 0, 1);
        big.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        big.extend_from_slice(&(MAX_CAPLEN as u32 + 1).to_le_bytes());
        big.extend_from_slice(&[0; 4]);
        let e = frames(&write("huge.pcap", &big)).unwrap_err();
        assert!(e.contains("invalid packet capture length"), "{e}");
    }

    #[test]
    fn other_formats_are_left_to_libpcap() {
        let pcapng = [0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a];
        let mut v = pcapng.to_vec();
        v.resize(64, 0);
        assert!(PcapFile::open(&write("x.pcapng", &v)).unwrap().is_none());
        // A link type the kernel does not decode, and a short file.
        assert!(PcapFile::open(&write("ppp.pcap", &file_header(0xa1b2_c3d4, false, 0, 9))).unwrap().is_none());
        assert!(PcapFile::open(&write("short.pcap", b"\xd4\xc3\xb2\xa1")).unwrap().is_none());
    }
}
