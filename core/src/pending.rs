//! The pool of pending transactions over caller storage.
//!
//! A record is taken when a request starts (or a response arrives with no
//! request) and is given back when the transaction is handed to the sink.
//! Records are linked two ways:
//!
//! * per flow, in arrival order — the FIFO that pipelined protocols pair
//!   responses against, and what is reported when the flow closes;
//! * globally, by age — what `transaction_timeout` walks, and what is
//!   evicted (oldest first, counted) when the pool is full.
//!
//! Handles carry a generation number, so an analyzer that still holds a
//! handle to a record that timed out or was evicted finds it gone instead of
//! writing into a reused record.

use core::mem::MaybeUninit;

use fixed_slice_vec::FixedSliceVec;

use crate::pool::NONE;
use crate::time::Timestamp;
use crate::txn::Transaction;

/// Head and tail of one flow's records (stored apart from the flow slot so
/// the pool can unlink records of any flow).
#[derive(Clone, Copy, Debug)]
pub struct FlowQueue {
    head: u32,
    tail: u32,
}

impl FlowQueue {
    /// An empty queue.
    pub const EMPTY: FlowQueue = FlowQueue { head: NONE, tail: NONE };
}

impl Default for FlowQueue {
    fn default() -> Self {
        FlowQueue::EMPTY
    }
}

/// A reference to a pending record that stays valid only while the record
/// does.
///
/// One word (generation in the high half, index + 1 in the low half, never
/// zero), so that `Option<Handle>` is one word too and comes back from a
/// call in a register: as three 32-bit fields it was returned through
/// memory and read back as one wider load, which stalls (Redis's
/// `begin_command` spent half its time there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(core::num::NonZeroU64);

impl Handle {
    fn new(idx: u32, gen: u32) -> Handle {
        let word = (u64::from(gen) << 32) | (u64::from(idx.min(NONE - 1)) + 1);
        // `idx + 1` is at least 1 and at most 2^32 - 1 (indexes stay below
        // `NONE`), so the word is never zero and the fallback is unused.
        Handle(core::num::NonZeroU64::new(word).unwrap_or(core::num::NonZeroU64::MIN))
    }

    #[inline]
    fn idx(self) -> u32 {
        (self.0.get() as u32).wrapping_sub(1)
    }

    #[inline]
    fn gen(self) -> u32 {
        (self.0.get() >> 32) as u32
    }
}

/// The record is a response with no request (never paired).
pub const FLAG_RESPONSE_ONLY: u8 = 1;
/// The request message is complete.
pub const FLAG_REQUEST_DONE: u8 = 2;
/// A response has started for this record.
pub const FLAG_RESPONSE_STARTED: u8 = 4;
/// No response is required (a quiet or `noreply` request): if none comes
/// before the record times out or its flow ends, it is reported as it is,
/// not as unanswered.
pub const FLAG_RESPONSE_OPTIONAL: u8 = 0x80;

/// One pending record.
#[derive(Clone, Debug)]
pub struct PendingSlot {
    in_use: bool,
    gen: u32,
    flow: u32,
    fprev: u32,
    fnext: u32,
    aprev: u32,
    anext: u32,
    last: Timestamp,
    /// `FLAG_*` bits for the analyzer's bookkeeping.
    pub flags: u8,
    /// Stream position (TCP sequence number) of the request's first byte,
    /// for analyzers that pair by position after a gap.
    pub seq: u32,
    /// The transaction being built.
    pub txn: Transaction,
}

impl Default for PendingSlot {
    fn default() -> Self {
        PendingSlot {
            in_use: false,
            gen: 0,
            flow: NONE,
            fprev: NONE,
            fnext: NONE,
            aprev: NONE,
            anext: NONE,
            last: Timestamp::ZERO,
            flags: 0,
            seq: 0,
            txn: Transaction::default(),
        }
    }
}

/// The pool.
pub struct PendingPool<'a> {
    /// Records ever used, in order; the rest of the storage is untouched.
    slots: FixedSliceVec<'a, PendingSlot>,
    queues: &'a mut [FlowQueue],
    free_head: u32,
    age_head: u32,
    age_tail: u32,
    len: usize,
}

impl<'a> PendingPool<'a> {
    /// Builds an empty pool over `slots`, with one queue per flow slot.
    /// Records are written only when first needed, so unused storage is
    /// never touched.
    pub fn new(slots: &'a mut [MaybeUninit<PendingSlot>], queues: &'a mut [FlowQueue]) -> Self {
        let slots = crate::pool::table(slots);
        queues.fill(FlowQueue::EMPTY);
        PendingPool { free_head: NONE, slots, queues, age_head: NONE, age_tail: NONE, len: 0 }
    }

    /// Records in use.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no record is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes a free record for `flow`, appended to the flow's queue and to
    /// the age list. `None` when the pool is full (evict, then retry).
    pub fn alloc(&mut self, flow: u32, now: Timestamp) -> Option<Handle> {
        let idx = crate::pool::take(&mut self.slots, &mut self.free_head, |s| s.anext, PendingSlot::default)?;
        let s = self.slots.get_mut(idx as usize)?;
        s.in_use = true;
        s.gen = s.gen.wrapping_add(1);
        s.flow = flow;
        s.flags = 0;
        s.seq = 0;
        s.last = now;
        s.txn.reset_common();
        let gen = s.gen;
        // Append to the flow queue.
        let tail = self.queues.get(flow as usize).map_or(NONE, |q| q.tail);
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.fprev = tail;
            s.fnext = NONE;
        }
        match self.slots.get_mut(tail as usize) {
            Some(t) => t.fnext = idx,
            None => {
                if let Some(q) = self.queues.get_mut(flow as usize) {
                    q.head = idx;
                }
            }
        }
        if let Some(q) = self.queues.get_mut(flow as usize) {
            q.tail = idx;
        }
        self.age_push_back(idx);
        self.len += 1;
        Some(Handle::new(idx, gen))
    }

    /// The record behind `h`, if it is still alive.
    pub fn get(&self, h: Handle) -> Option<&PendingSlot> {
        self.slots.get(h.idx() as usize).filter(|s| s.in_use && s.gen == h.gen())
    }

    /// The record behind `h`, mutably, marking activity at `now` (which
    /// postpones its timeout).
    pub fn get_mut(&mut self, h: Handle, now: Timestamp) -> Option<&mut PendingSlot> {
        let s = self.slots.get_mut(h.idx() as usize).filter(|s| s.in_use && s.gen == h.gen())?;
        if now > s.last {
            s.last = now;
        }
        Some(s)
    }

    /// Handles of `flow`'s records, oldest first, passed to `f` until it
    /// returns `Some`.
    pub fn find_in_flow<T>(&self, flow: u32, mut f: impl FnMut(Handle, &PendingSlot) -> Option<T>) -> Option<T> {
        let mut i = self.queues.get(flow as usize).map_or(NONE, |q| q.head);
        let mut guard = self.slots.len();
        while guard > 0 {
            guard -= 1;
            let s = self.slots.get(i as usize)?;
            if let Some(r) = f(Handle::new(i, s.gen), s) {
                return Some(r);
            }
            i = s.fnext;
        }
        None
    }

    /// The oldest record of `flow`.
    pub fn flow_head(&self, flow: u32) -> Option<Handle> {
        let i = self.queues.get(flow as usize)?.head;
        let s = self.slots.get(i as usize)?;
        Some(Handle::new(i, s.gen))
    }

    /// The oldest record overall and when it was last active.
    pub fn oldest(&self) -> Option<(Handle, Timestamp)> {
        let s = self.slots.get(self.age_head as usize)?;
        Some((Handle::new(self.age_head, s.gen), s.last))
    }

    /// Moves `h` to the young end of the age list (it was active recently).
    pub fn requeue(&mut self, h: Handle) {
        if self.get(h).is_some() && self.age_tail != h.idx() {
            self.age_unlink(h.idx());
            self.age_push_back(h.idx());
        }
    }

    /// Unlinks and frees the record behind `h`. The caller has already
    /// handed its transaction to the sink (or decided to drop it).
    pub fn release(&mut self, h: Handle) {
        let Some(s) = self.get(h) else { return };
        let (flow, fp, fnx) = (s.flow, s.fprev, s.fnext);
        match self.slots.get_mut(fp as usize) {
            Some(p) => p.fnext = fnx,
            None => {
                if let Some(q) = self.queues.get_mut(flow as usize) {
                    q.head = fnx;
                }
            }
        }
        match self.slots.get_mut(fnx as usize) {
            Some(n) => n.fprev = fp,
            None => {
                if let Some(q) = self.queues.get_mut(flow as usize) {
                    q.tail = fp;
                }
            }
        }
        self.age_unlink(h.idx());
        if let Some(s) = self.slots.get_mut(h.idx() as usize) {
            s.in_use = false;
            s.gen = s.gen.wrapping_add(1);
            s.flow = NONE;
            s.anext = self.free_head;
        }
        self.free_head = h.idx();
        self.len = self.len.saturating_sub(1);
    }

    fn age_push_back(&mut self, idx: u32) {
        let t = self.age_tail;
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.aprev = t;
            s.anext = NONE;
        }
        match self.slots.get_mut(t as usize) {
            Some(ts) => ts.anext = idx,
            None => self.age_head = idx,
        }
        self.age_tail = idx;
    }

    fn age_unlink(&mut self, idx: u32) {
        let Some(s) = self.slots.get(idx as usize) else { return };
        let (p, n) = (s.aprev, s.anext);
        match self.slots.get_mut(p as usize) {
            Some(ps) => ps.anext = n,
            None => self.age_head = n,
        }
        match self.slots.get_mut(n as usize) {
            Some(ns) => ns.aprev = p,
            None => self.age_tail = p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_age_and_generations() {
        let mut slots = [const { core::mem::MaybeUninit::<PendingSlot>::uninit() }; 3];
        let mut queues = [FlowQueue::EMPTY; 2];
        let mut p = PendingPool::new(&mut slots, &mut queues);
        let a = p.alloc(0, Timestamp::from_micros(1)).unwrap();
        let b = p.alloc(1, Timestamp::from_micros(2)).unwrap();
        let c = p.alloc(0, Timestamp::from_micros(3)).unwrap();
        assert!(p.alloc(0, Timestamp::ZERO).is_none());
        assert_eq!(p.flow_head(0), Some(a));
        assert_eq!(p.oldest().map(|o| o.0), Some(a));
        p.release(a);
        assert!(p.get(a).is_none());
        assert_eq!(p.flow_head(0), Some(c));
        assert_eq!(p.oldest().map(|o| o.0), Some(b));
        let d = p.alloc(1, Timestamp::from_micros(4)).unwrap();
        assert_ne!(d, a, "reused slot has a new generation");
        assert_eq!(p.find_in_flow(1, |h, _| (h == d).then_some(1)), Some(1));
        p.requeue(b);
        assert_eq!(p.oldest().map(|o| o.0), Some(c));
        p.release(b);
        p.release(c);
        p.release(d);
        assert!(p.is_empty());
        assert_eq!(p.flow_head(0), None);
    }

    /// A handle keeps its index and generation whole at the extremes, and
    /// `Option<Handle>` is one word.
    #[test]
    fn handle_round_trip() {
        for (idx, gen) in [(0, 0), (0, u32::MAX), (NONE - 2, 1), (NONE - 2, u32::MAX), (12345, 678)] {
            let h = Handle::new(idx, gen);
            assert_eq!((h.idx(), h.gen()), (idx, gen));
        }
        assert_ne!(Handle::new(1, 2), Handle::new(2, 1));
        assert_eq!(core::mem::size_of::<Option<Handle>>(), 8);
    }
}
