//! TCP reassembly, one direction at a time.
//!
//! In-order payload is delivered straight from the packet (no copy).
//! Segments that arrive ahead of the next expected byte are copied into
//! pool blocks, kept sorted by sequence number, and delivered once the hole
//! before them fills. Overlaps keep the **first copy** of every byte (as the
//! Linux stack does); a later copy that disagrees is counted as a conflict.
//! A hole becomes an explicit **gap** when:
//!
//! * the peer has acknowledged bytes beyond it (the capture lost them —
//!   or reordered them: so the hole is given [`REORDER_SEGMENTS`] more
//!   segments of the flow or [`REORDER_TIME_US`] of packet time to fill),
//! * the out-of-order buffer of this direction exceeds its byte bound, or
//!   the block pool is exhausted,
//! * the stream closes (FIN, RST, idle expiry, eviction).
//!
//! Sequence numbers are compared modulo 2³² (RFC 1982 style), so streams
//! that wrap around are handled.
//!
//! **Cross-direction order.** A capture (a mirror port above all) can show
//! a response before the request it answers. Every segment's
//! acknowledgment number says how much of the *other* direction its sender
//! had received, so a segment whose ACK is beyond what the other direction
//! has delivered (or before the other direction was seen at all) is held
//! (in blocks, like out-of-order data) until the other direction catches
//! up, or its missing bytes are declared lost, or the hold outlasts the
//! reorder window or exceeds the out-of-order bound. Analyzers therefore see
//! a request before its response whatever order the capture has, within
//! that window. (A one-way capture only delays each message by the window.)

use crate::pool::{BlockPool, BLOCK_SIZE, NONE};
use crate::stats::Stats;

/// Segments of a flow to wait, once a hole is proven (acknowledged by the
/// peer), before declaring it lost: captures reorder, above all on mirror
/// ports, where each direction may come through its own queue.
pub const REORDER_SEGMENTS: u16 = 32;
/// Packet time to wait, likewise, in microseconds.
pub const REORDER_TIME_US: u64 = 100_000;

/// Signed distance `a - b` in sequence space.
#[inline]
pub fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// What to do with a segment that `on_segment` looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Deliver `payload[skip..skip + len]` now (the first `skip` bytes were
    /// seen before; bytes after `len` overlap data already held, whose
    /// first copy wins: they were buffered and come out of `drain`).
    Deliver {
        /// Bytes already delivered earlier (retransmitted overlap).
        skip: usize,
        /// Bytes to deliver from the packet.
        len: usize,
    },
    /// Buffered for later (out of order), or nothing to deliver.
    Held,
}

/// A piece of the stream that `drain` hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// `out[..n]` holds the next bytes of the stream.
    Data(usize),
    /// This many bytes were lost.
    Gap(u32),
}

/// Reassembly state of one direction of a TCP connection.
#[derive(Clone, Copy, Debug)]
pub struct StreamDir {
    started: bool,
    next_seq: u32,
    fin_pending: bool,
    fin_seq: u32,
    fin_delivered: bool,
    /// Holes before this sequence number are known lost.
    lost_before: Option<u32>,
    /// This direction is known to have sent bytes up to here (an empty
    /// segment beyond `next_seq` that the peer acknowledged): the bytes
    /// before it were lost in capture.
    known_end: Option<u32>,
    /// Since when (packet time, segments seen) a hole is proven.
    proof_since: u64,
    proof_segs: u16,
    proven: bool,
    last_ts: u64,
    /// Since when the head of the buffer waits for the other direction.
    gate_since: u64,
    gate_segs: u16,
    gating: bool,
    flush_all: bool,
    ooo_head: u32,
    ooo_bytes: u32,
    /// The analyzer's carry block (an unconsumed message tail), or `NONE`.
    pub(crate) carry: u32,
    /// Acknowledgment number carried with the bytes handed out last.
    last_ack: Option<u32>,
    /// Capture time of the bytes handed out last by `drain`.
    drained_ts: u64,
    /// The direction started without a SYN and the analyzer was not told yet.
    joined_mid_stream: bool,
    /// The direction started with a SYN (its beginning was captured).
    saw_syn: bool,
    /// Where this direction's data starts, as the peer's SYN-ACK said.
    isn_hint: Option<u32>,
    /// The first sequence number seen in this direction.
    start_seq: u32,
}

impl Default for StreamDir {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDir {
    /// A direction that has seen nothing yet.
    pub const fn new() -> Self {
        StreamDir {
            started: false,
            next_seq: 0,
            fin_pending: false,
            fin_seq: 0,
            fin_delivered: false,
            lost_before: None,
            known_end: None,
            proof_since: 0,
            proof_segs: 0,
            proven: false,
            last_ts: 0,
            gate_since: 0,
            gate_segs: 0,
            gating: false,
            flush_all: false,
            ooo_head: NONE,
            ooo_bytes: 0,
            carry: NONE,
            last_ack: None,
            drained_ts: 0,
            joined_mid_stream: false,
            saw_syn: false,
            isn_hint: None,
            start_seq: 0,
        }
    }

    /// The acknowledgment number that came with the bytes handed out last
    /// (how much of the other direction their sender had received).
    pub fn last_ack(&self) -> Option<u32> {
        self.last_ack
    }

    /// True once if this direction was first seen without a SYN (the
    /// capture joined the connection mid-stream).
    pub fn take_joined_mid_stream(&mut self) -> bool {
        core::mem::take(&mut self.joined_mid_stream)
    }

    /// Records the acknowledgment number of the peer's SYN-ACK: the first
    /// sequence number of this direction's data.
    pub fn set_isn_hint(&mut self, ack: u32) {
        self.isn_hint = Some(ack);
        if self.started && self.start_seq == ack {
            // The first data seen was the first data sent.
            self.joined_mid_stream = false;
        }
    }

    /// True when the direction started with a SYN.
    pub fn saw_syn(&self) -> bool {
        self.saw_syn
    }

    /// Capture time (µs) of the bytes `drain` handed out last.
    pub fn drained_ts(&self) -> u64 {
        self.drained_ts
    }

    /// Bytes held out of order.
    pub fn buffered(&self) -> u32 {
        self.ooo_bytes
    }

    /// The next sequence number expected, once the direction has started.
    pub fn next_seq(&self) -> Option<u32> {
        self.started.then_some(self.next_seq)
    }

    /// Looks at one segment. `max_ooo` bounds the bytes held out of order;
    /// `ack` is the segment's acknowledgment number (if it has one) and
    /// `other_next` the next byte expected from the other direction, used
    /// to hold data sent after bytes of the other direction not yet seen.
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment(
        &mut self,
        pool: &mut BlockPool<'_>,
        stats: &mut Stats,
        max_ooo: u32,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        ack: Option<u32>,
        other_next: Option<u32>,
        ts_us: u64,
    ) -> Accept {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if !self.started {
            self.started = true;
            self.next_seq = data_seq;
            // Joined mid-stream: the first bytes need not start a message.
            // Not so when the first segment carries no data (its sequence
            // number is where data will start), or starts where the peer's
            // SYN-ACK said this direction's data begins.
            self.joined_mid_stream =
                !syn && !payload.is_empty() && self.isn_hint.is_none_or(|h| seq_diff(data_seq, h) != 0);
            self.saw_syn = syn;
            self.start_seq = data_seq;
        } else if syn && data_seq == self.start_seq {
            // The SYN came after the first data (reordered): the stream did
            // start at its beginning.
            self.joined_mid_stream = false;
            self.saw_syn = true;
        }
        let len = payload.len().min(i32::MAX as usize) as u32;
        // A FIN before bytes already handed out cannot be this stream's end
        // (stale or forged): taking it would move the stream backwards.
        if fin && !self.fin_pending && seq_diff(data_seq.wrapping_add(len), self.next_seq) >= 0 {
            self.fin_pending = true;
            self.fin_seq = data_seq.wrapping_add(len);
        }
        if len == 0 {
            // An empty segment beyond the next expected byte, acknowledged by
            // the peer: the bytes before it were sent, and are lost to us.
            if seq_diff(data_seq, self.next_seq) > 0
                && self.lost_before.is_some_and(|l| seq_diff(l, data_seq) >= 0)
                && self.known_end.is_none_or(|k| seq_diff(data_seq, k) > 0)
            {
                self.known_end = Some(data_seq);
            }
            return Accept::Held;
        }
        let gated = ack.is_some_and(|a| other_next.is_none_or(|n| seq_diff(a, n) > 0));
        let d = seq_diff(data_seq, self.next_seq);
        if d <= 0 {
            let behind = d.unsigned_abs();
            if behind >= len {
                stats.tcp_retransmitted_bytes += len as u64;
                return Accept::Held;
            }
            // Where held data starts, from the next expected byte.
            let held_at = pool.get(self.ooo_head).map(|b| seq_diff(b.seq, self.next_seq));
            if !gated && held_at.is_none_or(|h| h > 0) {
                let fresh = len - behind;
                stats.tcp_retransmitted_bytes += behind as u64;
                self.last_ack = ack;
                let direct = held_at.map_or(fresh, |h| fresh.min(h as u32));
                self.next_seq = self.next_seq.wrapping_add(direct);
                if direct < fresh {
                    // The rest overlaps held bytes: their first copy wins.
                    self.insert(pool, stats, data_seq, payload, ack, ts_us);
                }
                return Accept::Deliver { skip: behind as usize, len: direct as usize };
            }
        } else {
            stats.tcp_out_of_order += 1;
        }
        if self.ooo_bytes.saturating_add(len) > max_ooo {
            self.flush_all = true;
        }
        self.insert(pool, stats, data_seq, payload, ack, ts_us);
        Accept::Held
    }

    /// Records an acknowledgment sent by the *peer* of this direction: bytes
    /// of this direction before `ack` were received by the peer, so a hole
    /// before it will never be filled in the capture.
    pub fn on_peer_ack(&mut self, ack: u32) {
        if !self.started {
            return;
        }
        match self.lost_before {
            Some(l) if seq_diff(ack, l) <= 0 => {}
            _ => self.lost_before = Some(ack),
        }
    }

    /// Gives up on every hole: the stream is closing, or the caller must
    /// make room.
    pub fn flush(&mut self) {
        self.flush_all = true;
    }

    /// Called once per segment of the flow (either direction) with its
    /// timestamp in microseconds: ages the proof that a hole is lost.
    pub fn tick(&mut self, ts_us: u64) {
        self.last_ts = self.last_ts.max(ts_us);
        if self.gating {
            self.gate_segs = self.gate_segs.saturating_add(1);
        }
        let hole = self.lost_before.is_some_and(|l| seq_diff(l, self.next_seq) > 0) || self.known_end.is_some();
        if !hole {
            self.proven = false;
        } else if !self.proven {
            self.proven = true;
            self.proof_since = self.last_ts;
            self.proof_segs = 0;
        } else {
            self.proof_segs = self.proof_segs.saturating_add(1);
        }
    }

    /// True when the proof that a hole is lost has aged past the reorder
    /// window.
    fn proof_aged(&self) -> bool {
        self.proven
            && (self.proof_segs >= REORDER_SEGMENTS || self.last_ts.saturating_sub(self.proof_since) >= REORDER_TIME_US)
    }

    /// True when the hole at `next_seq` may be turned into a gap now: the
    /// stream is closing or over its bounds, or the peer acknowledged bytes
    /// past the hole's start long enough ago.
    fn may_gap(&self) -> bool {
        self.flush_all || (self.proof_aged() && self.lost_before.is_some_and(|l| seq_diff(l, self.next_seq) > 0))
    }

    /// Hands out the next in-order piece of buffered data (copied into
    /// `out`) or a gap, or `None` when the stream must wait. `other_next` is
    /// the next byte expected from the other direction (see the module docs).
    pub fn drain(
        &mut self,
        pool: &mut BlockPool<'_>,
        stats: &mut Stats,
        out: &mut [u8; BLOCK_SIZE],
        other_next: Option<u32>,
    ) -> Option<Chunk> {
        let mut guard = pool.capacity() + 1;
        while guard > 0 {
            guard -= 1;
            let head = self.ooo_head;
            // Bytes known sent but never seen, before whatever is buffered.
            if let Some(k) = self.known_end {
                // A segment right after the FIN is one past it, not past data.
                let k = if self.fin_pending && k == self.fin_seq.wrapping_add(1) { self.fin_seq } else { k };
                let before_head = pool.get(head).is_none_or(|b| seq_diff(b.seq, k) >= 0);
                let d = seq_diff(k, self.next_seq);
                if d <= 0 {
                    self.known_end = None;
                } else if before_head && (self.flush_all || self.proof_aged()) {
                    self.known_end = None;
                    self.next_seq = k;
                    return Some(self.gap(stats, d as u32));
                }
            }
            let Some(b) = pool.get(head) else {
                // Nothing buffered. On close, bytes before an announced FIN are lost.
                if self.flush_all && self.fin_pending {
                    let d = seq_diff(self.fin_seq, self.next_seq);
                    if d > 0 {
                        self.next_seq = self.fin_seq;
                        return Some(self.gap(stats, d as u32));
                    }
                }
                return None;
            };
            let (bseq, blen, next) = (b.seq, b.len as u32, b.next);
            let d = seq_diff(bseq, self.next_seq);
            let end = d.saturating_add(blen as i32);
            if end <= 0 {
                stats.tcp_retransmitted_bytes += blen as u64;
                self.pop_head(pool, next, blen);
                continue;
            }
            if d > 0 {
                if !self.may_gap() {
                    return None;
                }
                self.next_seq = bseq;
                return Some(self.gap(stats, d as u32));
            }
            if !self.flush_all && b.acked && other_next.is_none_or(|n| seq_diff(b.ack, n) > 0) {
                // Sent after bytes of the other direction we have not seen:
                // wait for them, within the reorder window.
                if !self.gating {
                    self.gating = true;
                    self.gate_since = self.last_ts;
                    self.gate_segs = 0;
                }
                let aged = self.gate_segs >= REORDER_SEGMENTS
                    || self.last_ts.saturating_sub(self.gate_since) >= REORDER_TIME_US;
                if !aged {
                    return None;
                }
            }
            self.gating = false;
            let skip = d.unsigned_abs() as usize;
            let n = (blen as usize).saturating_sub(skip);
            if let (Some(dst), Some(src)) = (out.get_mut(..n), b.data.get(skip..skip + n)) {
                dst.copy_from_slice(src);
            }
            stats.tcp_retransmitted_bytes += skip as u64;
            self.last_ack = b.acked.then_some(b.ack);
            self.drained_ts = b.ts;
            self.next_seq = self.next_seq.wrapping_add(n as u32);
            self.pop_head(pool, next, blen);
            if self.ooo_head == NONE && !self.fin_pending {
                self.flush_all = false;
            }
            return Some(Chunk::Data(n));
        }
        None
    }

    fn gap(&mut self, stats: &mut Stats, n: u32) -> Chunk {
        stats.tcp_gaps += 1;
        stats.tcp_gap_bytes += n as u64;
        Chunk::Gap(n)
    }

    fn pop_head(&mut self, pool: &mut BlockPool<'_>, next: u32, blen: u32) {
        pool.free(self.ooo_head);
        self.ooo_head = next;
        self.ooo_bytes = self.ooo_bytes.saturating_sub(blen);
    }

    /// True when `drain` could have anything to hand out: held or
    /// out-of-order data, bytes known lost, or a FIN not yet delivered.
    /// Lets the engine skip the drain (and its copy buffer) per packet.
    pub fn needs_drain(&self) -> bool {
        self.ooo_head != NONE || self.known_end.is_some() || (self.fin_pending && !self.fin_delivered)
    }

    /// True once the FIN has been reached in sequence (all bytes before it
    /// delivered or declared lost). Returns true only once.
    pub fn take_fin(&mut self) -> bool {
        if self.fin_pending && !self.fin_delivered && seq_diff(self.next_seq, self.fin_seq) >= 0 {
            self.fin_delivered = true;
            // The FIN occupies one sequence number (never move backwards).
            let after = self.fin_seq.wrapping_add(1);
            if seq_diff(after, self.next_seq) > 0 {
                self.next_seq = after;
            }
            return true;
        }
        false
    }

    /// True after `take_fin` has returned true.
    pub fn fin_done(&self) -> bool {
        self.fin_delivered
    }

    /// Frees every block this direction holds (out-of-order data and carry).
    pub fn release(&mut self, pool: &mut BlockPool<'_>) {
        pool.free_list(self.ooo_head);
        self.ooo_head = NONE;
        self.ooo_bytes = 0;
        if self.carry != NONE {
            pool.free(self.carry);
            self.carry = NONE;
        }
    }

    /// Copies `payload` (starting at `seq`, ahead of `next_seq`) into
    /// sorted blocks, keeping bytes already held (first copy wins).
    fn insert(
        &mut self,
        pool: &mut BlockPool<'_>,
        stats: &mut Stats,
        seq: u32,
        payload: &[u8],
        ack: Option<u32>,
        ts_us: u64,
    ) {
        let len = payload.len();
        // Bytes before `next_seq` were delivered already.
        let behind = seq_diff(self.next_seq, seq);
        let mut c = if behind > 0 { (behind as usize).min(len) } else { 0 };
        let mut prev = NONE;
        let mut cur = self.ooo_head;
        let mut guard = pool.capacity().saturating_mul(2) + len / BLOCK_SIZE + 2;
        while c < len && guard > 0 {
            guard -= 1;
            let cs = seq.wrapping_add(c as u32);
            // Skip held blocks that end at or before `cs`.
            while let Some(b) = pool.get(cur) {
                if seq_diff(b.seq.wrapping_add(b.len as u32), cs) <= 0 {
                    prev = cur;
                    cur = b.next;
                } else {
                    break;
                }
            }
            let (cur_seq, cur_len, cur_next) = pool.get(cur).map_or((0, 0, NONE), |b| (b.seq, b.len as usize, b.next));
            let room_before = if cur == NONE { len - c } else { (seq_diff(cur_seq, cs).max(0) as usize).min(len - c) };
            if room_before > 0 {
                let n = room_before.min(BLOCK_SIZE);
                let Some(nb) = pool.alloc() else {
                    stats.block_alloc_failures += 1;
                    // Cannot hold it: give up on holes so the stream moves on.
                    self.flush_all = true;
                    return;
                };
                if let (Some(blk), Some(src)) = (pool.get_mut(nb), payload.get(c..c + n)) {
                    blk.seq = cs;
                    blk.len = n as u16;
                    blk.ack = ack.unwrap_or(0);
                    blk.acked = ack.is_some();
                    blk.ts = ts_us;
                    if let Some(dst) = blk.data.get_mut(..n) {
                        dst.copy_from_slice(src);
                    }
                    blk.next = cur;
                }
                if prev == NONE {
                    self.ooo_head = nb;
                } else if let Some(p) = pool.get_mut(prev) {
                    p.next = nb;
                }
                prev = nb;
                self.ooo_bytes = self.ooo_bytes.saturating_add(n as u32);
                c += n;
            } else if let Some(b) = pool.get(cur) {
                // `cur` already holds the bytes at `cs`: keep them, count conflicts.
                let off = seq_diff(cs, cur_seq).max(0) as usize;
                let n = cur_len.saturating_sub(off).min(len - c).max(1);
                let held = b.data.get(off..off + n).unwrap_or(&[]);
                let new = payload.get(c..c + n).unwrap_or(&[]);
                let conflicts = held.iter().zip(new).filter(|(a, b)| a != b).count();
                stats.tcp_overlap_conflicts += conflicts as u64;
                stats.tcp_retransmitted_bytes += n as u64;
                c += n;
                prev = cur;
                cur = cur_next;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Block;

    struct Harness {
        out: heapless::Vec<u8, 8192>,
        gaps: u32,
    }

    fn run(dir: &mut StreamDir, pool: &mut BlockPool<'_>, stats: &mut Stats, h: &mut Harness, seq: u32, data: &[u8]) {
        if let Accept::Deliver { skip, len } =
            dir.on_segment(pool, stats, 1 << 20, seq, false, false, data, None, None, 0)
        {
            h.out.extend_from_slice(&data[skip..skip + len]).unwrap();
        }
        let mut tmp = [0u8; BLOCK_SIZE];
        while let Some(c) = dir.drain(pool, stats, &mut tmp, None) {
            match c {
                Chunk::Data(n) => h.out.extend_from_slice(&tmp[..n]).unwrap(),
                Chunk::Gap(n) => h.gaps += n,
            }
        }
    }

    #[test]
    fn reorder_overlap_and_wrap() {
        let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 8];
        let mut pool = BlockPool::new(&mut blocks);
        let mut stats = Stats::default();
        let mut d = StreamDir::new();
        let mut h = Harness { out: heapless::Vec::new(), gaps: 0 };
        let base = u32::MAX - 3; // wraps inside the stream
        run(&mut d, &mut pool, &mut stats, &mut h, base, b"ab");
        run(&mut d, &mut pool, &mut stats, &mut h, base.wrapping_add(6), b"ghij");
        run(&mut d, &mut pool, &mut stats, &mut h, base.wrapping_add(4), b"eXgZ"); // overlaps "gh" with "gZ"
        assert_eq!(&h.out[..], b"ab");
        run(&mut d, &mut pool, &mut stats, &mut h, base.wrapping_add(1), b"bcd"); // retransmits 'b'
        assert_eq!(&h.out[..], b"abcdeXghij");
        assert_eq!(stats.tcp_overlap_conflicts, 1);
        assert_eq!(h.gaps, 0);
        assert_eq!(pool.free_count(), 8);
    }

    #[test]
    fn ack_beyond_hole_makes_gap() {
        let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 4];
        let mut pool = BlockPool::new(&mut blocks);
        let mut stats = Stats::default();
        let mut d = StreamDir::new();
        let mut h = Harness { out: heapless::Vec::new(), gaps: 0 };
        run(&mut d, &mut pool, &mut stats, &mut h, 100, b"abc");
        run(&mut d, &mut pool, &mut stats, &mut h, 110, b"xyz");
        assert_eq!(h.gaps, 0);
        d.on_peer_ack(113);
        run(&mut d, &mut pool, &mut stats, &mut h, 113, b"!");
        // Proven lost, but the capture may only have reordered it: wait.
        assert_eq!(h.gaps, 0);
        for _ in 0..=REORDER_SEGMENTS {
            d.tick(1);
        }
        run(&mut d, &mut pool, &mut stats, &mut h, 114, b"");
        assert_eq!(h.gaps, 7);
        assert_eq!(&h.out[..], b"abcxyz!");
        assert_eq!(stats.tcp_gap_bytes, 7);
    }

    #[test]
    fn pool_exhaustion_degrades_to_gap() {
        let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 1];
        let mut pool = BlockPool::new(&mut blocks);
        let mut stats = Stats::default();
        let mut d = StreamDir::new();
        let mut h = Harness { out: heapless::Vec::new(), gaps: 0 };
        run(&mut d, &mut pool, &mut stats, &mut h, 0, b"a");
        run(&mut d, &mut pool, &mut stats, &mut h, 10, b"k");
        run(&mut d, &mut pool, &mut stats, &mut h, 20, b"u");
        assert!(stats.block_alloc_failures >= 1);
        assert!(h.gaps > 0);
        d.release(&mut pool);
        assert_eq!(pool.free_count(), 1);
    }

    #[test]
    fn fin_before_delivered_bytes_does_not_rewind_the_stream() {
        // Found by fuzz/fuzz_targets/reasm.rs: 512 bytes delivered, then a
        // FIN at their start rewound the stream, so their retransmission
        // was delivered a second time.
        let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 2];
        let mut pool = BlockPool::new(&mut blocks);
        let mut stats = Stats::default();
        let mut d = StreamDir::new();
        let mut h = Harness { out: heapless::Vec::new(), gaps: 0 };
        run(&mut d, &mut pool, &mut stats, &mut h, 65, &[b'a'; 512]);
        assert_eq!(d.on_segment(&mut pool, &mut stats, 1 << 20, 65, false, true, b"", None, None, 0), Accept::Held);
        assert!(!d.take_fin());
        assert_eq!(d.next_seq(), Some(65 + 512));
        run(&mut d, &mut pool, &mut stats, &mut h, 65, &[b'b'; 512]);
        assert_eq!(h.out.len(), 512);
        // The real FIN, after the data, still ends the stream.
        d.on_segment(&mut pool, &mut stats, 1 << 20, 65 + 512, false, true, b"", None, None, 0);
        assert!(d.take_fin());
        assert_eq!(d.next_seq(), Some(65 + 513));
    }

    #[test]
    fn in_order_segment_keeps_the_first_copy_of_held_bytes() {
        // Found by fuzz/fuzz_targets/reasm.rs: an in-order segment covering
        // bytes already held out of order was delivered whole, so its later
        // copy replaced the first one, uncounted.
        let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 4];
        let mut pool = BlockPool::new(&mut blocks);
        let mut stats = Stats::default();
        let mut d = StreamDir::new();
        let mut h = Harness { out: heapless::Vec::new(), gaps: 0 };
        run(&mut d, &mut pool, &mut stats, &mut h, 100, b"GET ");
        run(&mut d, &mut pool, &mut stats, &mut h, 107, b"good/2 ");
        run(&mut d, &mut pool, &mut stats, &mut h, 100, b"GET /x/evil/2 HTTP");
        assert_eq!(&h.out[..], b"GET /x/good/2 HTTP");
        assert_eq!(stats.tcp_overlap_conflicts, 4);
        assert_eq!(pool.free_count(), 4);
    }

    #[test]
    fn data_sent_after_unseen_peer_bytes_is_held() {
        let mut blocks = [const { core::mem::MaybeUninit::<Block>::uninit() }; 4];
        let mut pool = BlockPool::new(&mut blocks);
        let mut stats = Stats::default();
        let mut d = StreamDir::new();
        // A response acknowledging request bytes up to 50 while the request
        // direction has delivered only up to 10: hold it.
        let a = d.on_segment(&mut pool, &mut stats, 1 << 20, 0, false, false, b"resp", Some(50), Some(10), 0);
        assert_eq!(a, Accept::Held);
        let mut tmp = [0u8; BLOCK_SIZE];
        assert_eq!(d.drain(&mut pool, &mut stats, &mut tmp, Some(10)), None);
        // Later in-order data may not overtake it.
        assert_eq!(
            d.on_segment(&mut pool, &mut stats, 1 << 20, 4, false, false, b"more", Some(10), Some(10), 0),
            Accept::Held
        );
        // The request direction caught up: both come out in order.
        assert_eq!(d.drain(&mut pool, &mut stats, &mut tmp, Some(50)), Some(Chunk::Data(4)));
        assert_eq!(&tmp[..4], b"resp");
        assert_eq!(d.drain(&mut pool, &mut stats, &mut tmp, Some(50)), Some(Chunk::Data(4)));
        assert_eq!(&tmp[..4], b"more");
        assert_eq!(d.drain(&mut pool, &mut stats, &mut tmp, Some(50)), None);
        assert_eq!(pool.free_count(), 4);
    }
}
