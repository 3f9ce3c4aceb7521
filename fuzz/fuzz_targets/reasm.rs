//! One direction of TCP reassembly against a model: arbitrary segments
//! (sequence numbers near wrap-around, lengths up to two blocks, FIN),
//! acknowledgments that prove holes lost, packet time passing, a small
//! block pool and out-of-order bound. Checked after every segment:
//! * delivery is contiguous: every byte of the stream is handed out once,
//!   as data or inside a gap, in order (no double delivery, no skipping);
//! * every data byte is the first copy received of that byte (as Linux
//!   keeps it), unless the pool ran out of blocks (counted), and never a
//!   byte that was not sent;
//! * the out-of-order buffer stays within its bound once drained, and
//!   every block goes back to the pool at the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapbeat_core::pool::{Block, BlockPool, BLOCK_SIZE};
use tapbeat_core::reasm::{seq_diff, Accept, Chunk, StreamDir};
use tapbeat_core::Stats;

const SPAN: usize = 65536 + 255 * 32 + 1;

struct Check {
    start: u32,
    /// Stream offset (from `start`) of the next byte to be handed out.
    cursor: u32,
    first: Vec<Option<u8>>,
    delivered: u64,
    sent: u64,
}

impl Check {
    fn data(&mut self, stats: &Stats, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let x = self.cursor.wrapping_add(i as u32) as usize;
            let first = self.first.get(x).copied().flatten();
            assert!(first.is_some(), "byte {x} was never sent");
            if stats.block_alloc_failures == 0 {
                assert_eq!(first, Some(*b), "byte {x} is not the first copy received");
            }
        }
        self.cursor = self.cursor.wrapping_add(bytes.len() as u32);
        self.delivered += bytes.len() as u64;
        assert!(self.delivered <= self.sent, "more bytes delivered than sent");
    }
}

fn drain(dir: &mut StreamDir, pool: &mut BlockPool<'_>, stats: &mut Stats, c: &mut Check) {
    let mut out = [0u8; BLOCK_SIZE];
    for _ in 0..10_000 {
        match dir.drain(pool, stats, &mut out, None) {
            Some(Chunk::Data(n)) => c.data(stats, &out[..n]),
            Some(Chunk::Gap(n)) => c.cursor = c.cursor.wrapping_add(n),
            None => break,
        }
        assert_eq!(dir.next_seq(), Some(c.start.wrapping_add(c.cursor)));
    }
    let before = dir.next_seq();
    if dir.take_fin() {
        // The FIN takes one sequence number, unless bytes past it were
        // handed out already (a forged FIN): never backwards.
        let step = before.zip(dir.next_seq()).map_or(-1, |(b, a)| seq_diff(a, b));
        assert!(step == 0 || step == 1, "FIN moved the stream by {step}");
        c.cursor = c.cursor.wrapping_add(step as u32);
    }
}

fuzz_target!(|data: &[u8]| {
    let [opt, s0, s1, rest @ ..] = data else { return };
    let nblocks = 1 + (*opt as usize & 7);
    let max_ooo = [1024u32, 16 * 1024, 256 * 1024, 4096][(*opt as usize >> 3) & 3];
    // Starting sequence numbers close below the wrap.
    let start = u32::MAX - u16::from_le_bytes([*s0, *s1]) as u32;
    let mut blocks: Vec<core::mem::MaybeUninit<Block>> = (0..nblocks).map(|_| core::mem::MaybeUninit::uninit()).collect();
    let mut pool = BlockPool::new(&mut blocks);
    let mut stats = Stats::default();
    let mut dir = StreamDir::new();
    let mut c = Check { start, cursor: 0, first: vec![None; SPAN], delivered: 0, sent: 0 };
    let mut started = false;
    let mut ts = 0u64;
    // Records: [ctl][offset: u16 le][len][fill]; the segment's byte at stream
    // offset x is fill + x.
    for r in rest.chunks_exact(5) {
        let (ctl, off, len, fill) = (r[0], u16::from_le_bytes([r[1], r[2]]) as usize, r[3] as usize, r[4]);
        let len = len * if ctl & 1 != 0 { 32 } else { 1 };
        let fin = ctl & 2 != 0;
        ts += if ctl & 4 != 0 { 50_000 } else { 1_000 };
        let payload: Vec<u8> = (off..off + len).map(|x| fill.wrapping_add(x as u8)).collect();
        if !started {
            // The stream starts at the first segment seen.
            started = true;
            c.cursor = off as u32;
        }
        // First copies: only bytes not yet handed out can still be delivered.
        for (x, b) in (off..off + len).zip(&payload) {
            if seq_diff(x as u32, c.cursor) >= 0 {
                c.first[x].get_or_insert(*b);
            }
        }
        c.sent += len as u64;
        dir.tick(ts);
        let seq = start.wrapping_add(off as u32);
        let free_before = pool.free_count();
        let a = dir.on_segment(&mut pool, &mut stats, max_ooo, seq, false, fin, &payload, None, None, ts);
        if let Accept::Deliver { skip, len: n } = a {
            assert_eq!(off + skip, c.cursor as usize, "delivered from the packet out of order");
            if skip + n == len {
                assert_eq!(pool.free_count(), free_before, "delivered whole, yet buffered");
            }
            c.data(&stats, &payload[skip..skip + n]);
        }
        if ctl & 8 != 0 {
            // The peer acknowledges the end of this segment.
            dir.on_peer_ack(seq.wrapping_add(len as u32));
        }
        drain(&mut dir, &mut pool, &mut stats, &mut c);
        assert!(dir.buffered() <= max_ooo, "{} bytes held over a bound of {max_ooo}", dir.buffered());
        assert!(nblocks - pool.free_count() <= nblocks);
    }
    dir.flush();
    drain(&mut dir, &mut pool, &mut stats, &mut c);
    assert_eq!(dir.buffered(), 0);
    dir.release(&mut pool);
    assert_eq!(pool.free_count(), nblocks);
});
