//! `tapbeat read`'s own classic-pcap reader against libpcap: on every
//! capture in the repository and every hostile capture, both give the same
//! link type and the same frames with the same timestamps, in the same
//! order, and fail on the same damaged files.

use std::path::{Path, PathBuf};

use tapbeat::pcapfile::PcapFile;
use tapbeat_core::Timestamp;

type Frames = Vec<(Timestamp, Vec<u8>)>;

fn with_libpcap(p: &Path) -> (u32, Frames, bool) {
    let mut cap = pcap::Capture::from_file_with_precision(p, pcap::Precision::Micro).unwrap();
    let link = cap.get_datalink().0 as u32;
    let mut out = Vec::new();
    loop {
        match cap.next_packet() {
            Ok(pk) => out.push((
                Timestamp::from_secs_micros(pk.header.ts.tv_sec.max(0) as u64, pk.header.ts.tv_usec.max(0) as u32),
                pk.data.to_vec(),
            )),
            Err(pcap::Error::NoMorePackets) => return (link, out, true),
            Err(_) => return (link, out, false),
        }
    }
}

/// `None` when the block reader leaves the file to libpcap.
fn with_block_reader(p: &Path) -> Option<(u32, Frames, bool)> {
    let mut f = PcapFile::open(p).unwrap()?;
    let link = f.link().0;
    let mut out = Vec::new();
    loop {
        match f.next_frame() {
            Ok(Some((ts, d))) => out.push((ts, d.to_vec())),
            Ok(None) => return Some((link, out, true)),
            Err(_) => return Some((link, out, false)),
        }
    }
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            captures(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap") {
            out.push(p);
        }
    }
}

fn same(p: &Path) -> bool {
    let Some(ours) = with_block_reader(p) else { return false };
    let theirs = with_libpcap(p);
    // DLT_RAW is 12 in libpcap and 101 in the file; the kernel takes both.
    let link_ok = ours.0 == theirs.0 || (ours.0 == 101 && theirs.0 == 12);
    assert!(link_ok, "{}: link {} vs libpcap {}", p.display(), ours.0, theirs.0);
    assert_eq!(ours.1.len(), theirs.1.len(), "{}: frame count", p.display());
    for (i, (a, b)) in ours.1.iter().zip(&theirs.1).enumerate() {
        assert_eq!(a, b, "{}: frame {i}", p.display());
    }
    assert_eq!(ours.2, theirs.2, "{}: read to the end", p.display());
    true
}

#[test]
fn every_repository_capture_reads_as_libpcap_reads_it() {
    let mut files = Vec::new();
    captures(&tapbeat_tests::pcaps(), &mut files);
    assert!(files.len() > 50);
    let read = files.iter().filter(|p| same(p)).count();
    // Nearly all are classic pcap (the rest is libpcap's).
    assert!(read * 10 >= files.len() * 8, "block reader took {read} of {}", files.len());
}

#[test]
fn hostile_captures_and_damaged_files_read_as_libpcap_reads_them() {
    let dir = std::env::temp_dir().join(format!("tapbeat-pcap-reader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for h in tapbeat_tests::hostile::all() {
        let p = h.save(&dir).unwrap();
        assert!(same(&p), "{}", p.display());
        // The same file cut at a few places: inside a record header, inside
        // frame data, right after a record.
        let bytes = std::fs::read(&p).unwrap();
        for cut in [bytes.len() - 1, bytes.len() - 17, bytes.len() * 2 / 3, 24 + 8, 24] {
            let q = dir.join(format!("{}-cut{cut}.pcap", h.name));
            std::fs::write(&q, &bytes[..cut]).unwrap();
            assert!(same(&q), "{}", q.display());
        }
    }
    // Nanosecond and big-endian files, and frames longer than the file's
    // snapshot length, as editcap and tcpdump never write them but others do.
    let src = tapbeat_tests::pcaps().join("recorded/http/curl_keepalive_mixed.pcap");
    let bytes = std::fs::read(&src).unwrap();
    for (name, f) in
        [("nanos", to_nanos(&bytes)), ("bigendian", to_big_endian(&bytes)), ("snap100", with_snaplen(&bytes, 100))]
    {
        let q = dir.join(format!("variant-{name}.pcap"));
        std::fs::write(&q, &f).unwrap();
        assert!(same(&q), "{}", q.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Record offsets of a little-endian classic pcap.
fn records(b: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= b.len() {
        out.push(at);
        at += 16 + u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    out
}

fn to_nanos(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    v[..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    for at in records(b) {
        let us = u32::from_le_bytes(v[at + 4..at + 8].try_into().unwrap());
        v[at + 4..at + 8].copy_from_slice(&(us * 1000 + 999).to_le_bytes());
    }
    v
}

fn to_big_endian(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    let swap = |v: &mut Vec<u8>, at: usize, n: usize| v[at..at + n].reverse();
    for (at, n) in [(0, 4), (4, 2), (6, 2), (8, 4), (12, 4), (16, 4), (20, 4)] {
        swap(&mut v, at, n);
    }
    for at in records(b) {
        for k in 0..4 {
            swap(&mut v, at + 4 * k, 4);
        }
    }
    v
}

fn with_snaplen(b: &[u8], snap: u32) -> Vec<u8> {
    let mut v = b.to_vec();
    v[16..20].copy_from_slice(&snap.to_le_bytes());
    v
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random record bytes after a valid file header (any byte order,
    /// precision and snapshot length): the block reader gives exactly
    /// libpcap's frames and stops where libpcap stops.
    #[test]
    fn random_records_read_as_libpcap_reads_them(
        big in proptest::prelude::any::<bool>(),
        nanos in proptest::prelude::any::<bool>(),
        snaplen in proptest::prop_oneof![proptest::prelude::Just(0u32), 1u32..2000, proptest::prelude::Just(65535u32)],
        records in proptest::collection::vec((0u32..3000, proptest::prelude::any::<u32>(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)), 0..40),
        tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
    ) {
        let w32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        let mut f = Vec::new();
        w32(&mut f, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        for x in [2u16, 4] {
            f.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        }
        for x in [0, 0, snaplen, 1] {
            w32(&mut f, x);
        }
        for (caplen, frac, data) in &records {
            // Mostly consistent records, some claiming more than they hold.
            let caplen = if *caplen < 2000 { data.len() as u32 } else { *caplen };
            for x in [1_700_000_000, *frac % 2_000_000_000, caplen, caplen] {
                w32(&mut f, x);
            }
            f.extend_from_slice(data);
        }
        f.extend_from_slice(&tail);
        let dir = std::env::temp_dir().join(format!("tapbeat-pcap-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("random.pcap");
        std::fs::write(&p, &f).unwrap();
        proptest::prop_assert!(same(&p));
    }
}

/// The same frames as a pcapng file (one section, one interface,
/// microsecond timestamps, enhanced packet blocks).
fn to_pcapng(link: u16, frames: &Frames) -> Vec<u8> {
    let mut v = Vec::new();
    let block = |v: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(body);
        v.extend(std::iter::repeat_n(0u8, pad));
        v.extend_from_slice(&len.to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut v, 0x0A0D_0D0A, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&link.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    block(&mut v, 1, &idb);
    for (ts, data) in frames {
        let us = ts.as_micros();
        let mut epb = Vec::new();
        for x in [0u32, (us >> 32) as u32, us as u32, data.len() as u32, data.len() as u32] {
            epb.extend_from_slice(&x.to_le_bytes());
        }
        epb.extend_from_slice(data);
        block(&mut v, 6, &epb);
    }
    v
}

/// pcapng goes to libpcap (the block reader declines it) and gives the
/// same documents as the classic file it was made from.
#[test]
fn pcapng_reads_through_libpcap_to_the_same_documents() {
    let src = tapbeat_tests::pcaps().join("recorded/http/curl_keepalive_mixed.pcap");
    let (link, frames, _) = with_libpcap(&src);
    let dir = std::env::temp_dir().join(format!("tapbeat-pcapng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ng = dir.join("same.pcapng");
    std::fs::write(&ng, to_pcapng(link as u16, &frames)).unwrap();
    assert!(PcapFile::open(&ng).unwrap().is_none());
    assert_eq!(with_libpcap(&ng).1, frames);
    let settings = tapbeat_tests::http_settings(&[8088]);
    let (a, sa) = tapbeat_tests::read(&src, &settings);
    let (b, sb) = tapbeat_tests::read(&ng, &settings);
    assert_eq!(a.len(), 6);
    assert_eq!(a, b);
    assert_eq!(sa.transactions_total(), sb.transactions_total());
    std::fs::remove_dir_all(&dir).ok();
}
