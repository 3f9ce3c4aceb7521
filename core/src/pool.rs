//! A pool of fixed-size stream-buffer blocks over caller storage.
//!
//! Blocks hold out-of-order TCP payload (see [`reasm`](crate::reasm)) and
//! the unconsumed tail of a message an analyzer is waiting to complete (a
//! header line cut between two segments). Allocation is O(1) from a free
//! list; when the pool is empty the caller counts the failure and degrades
//! (declares a gap) instead of growing.

/// Bytes of payload in one block. A line longer than this is truncated by
/// line-oriented analyzers (and the transaction is flagged).
pub const BLOCK_SIZE: usize = 4096;

use core::mem::MaybeUninit;

use fixed_slice_vec::FixedSliceVec;

/// "No block" in index links.
pub const NONE: u32 = u32::MAX;

/// One stream-buffer block.
#[derive(Clone, Debug)]
pub struct Block {
    /// Next block in whatever list this block is on.
    pub(crate) next: u32,
    /// TCP sequence number of `data[0]` (out-of-order buffering).
    pub(crate) seq: u32,
    /// Bytes used in `data`.
    pub(crate) len: u16,
    /// Acknowledgment number carried by the segment these bytes came in
    /// (valid when `acked`): they were sent after the peer's bytes up to it.
    pub(crate) ack: u32,
    /// The segment carried an acknowledgment.
    pub(crate) acked: bool,
    /// Capture time of the segment, in microseconds: held data keeps its
    /// own timestamp.
    pub(crate) ts: u64,
    pub(crate) data: [u8; BLOCK_SIZE],
}

impl Block {
    /// An unused block, for initialising storage.
    pub const EMPTY: Block = Block { next: NONE, seq: 0, len: 0, ack: 0, acked: false, ts: 0, data: [0; BLOCK_SIZE] };

    /// The used bytes.
    pub fn bytes(&self) -> &[u8] {
        self.data.get(..self.len as usize).unwrap_or(&[])
    }
}

impl Default for Block {
    fn default() -> Self {
        Block::EMPTY
    }
}

/// The block pool.
pub struct BlockPool<'a> {
    /// Blocks ever used, in order; the rest of the storage is untouched.
    blocks: FixedSliceVec<'a, Block>,
    /// Recycled blocks (freed last, taken first); when none, the next
    /// never-used block is initialised.
    free_head: u32,
    free: usize,
}

/// A table over `slots`, none of them used yet: at most `u32::MAX - 1`
/// of them, so that every index fits a `u32` link and none is [`NONE`].
pub(crate) fn table<T>(slots: &mut [MaybeUninit<T>]) -> FixedSliceVec<'_, T> {
    let n = slots.len().min((NONE - 1) as usize);
    FixedSliceVec::new(slots.get_mut(..n).unwrap_or_default())
}

/// Initialises the next never-used element of `v` to `empty` and returns
/// its index (`None` when `v` is full). The tables hand out recycled
/// elements first and fresh ones in index order, so a table's memory is
/// touched only as far as it was ever needed.
pub(crate) fn take_fresh<T>(v: &mut FixedSliceVec<'_, T>, empty: T) -> Option<u32> {
    let idx = u32::try_from(v.len()).ok().filter(|&i| i < NONE)?;
    v.try_push(empty).ok()?;
    Some(idx)
}

/// An element to (re)use: the head of the free list that starts at
/// `free_head` and is linked through `next` (the head moves on), else
/// [`take_fresh`] with `empty()`. `None` when every element is in use.
/// The caller resets what it needs of the element.
#[inline]
pub(crate) fn take<T>(
    v: &mut FixedSliceVec<'_, T>,
    free_head: &mut u32,
    next: impl FnOnce(&T) -> u32,
    empty: impl FnOnce() -> T,
) -> Option<u32> {
    match v.get(*free_head as usize) {
        Some(s) => {
            let idx = *free_head;
            *free_head = next(s);
            Some(idx)
        }
        None => take_fresh(v, empty()),
    }
}

impl<'a> BlockPool<'a> {
    /// Builds the pool over `blocks`, all free. At most `u32::MAX - 1`
    /// blocks are used. Nothing in `blocks` is written until a block is
    /// first needed.
    pub fn new(blocks: &'a mut [MaybeUninit<Block>]) -> Self {
        let blocks = table(blocks);
        BlockPool { free_head: NONE, free: blocks.capacity(), blocks }
    }

    /// Free blocks.
    pub fn free_count(&self) -> usize {
        self.free
    }

    /// Total blocks.
    pub fn capacity(&self) -> usize {
        self.blocks.capacity()
    }

    /// Takes a block off the free list (`None` when the pool is empty).
    pub fn alloc(&mut self) -> Option<u32> {
        let idx = take(&mut self.blocks, &mut self.free_head, |b| b.next, || Block::EMPTY)?;
        let b = self.blocks.get_mut(idx as usize)?;
        b.next = NONE;
        b.len = 0;
        b.seq = 0;
        b.acked = false;
        self.free = self.free.saturating_sub(1);
        Some(idx)
    }

    /// Returns one block to the free list.
    pub fn free(&mut self, idx: u32) {
        if let Some(b) = self.blocks.get_mut(idx as usize) {
            b.next = self.free_head;
            b.len = 0;
            self.free_head = idx;
            self.free += 1;
        }
    }

    /// Returns a whole `next`-linked list of blocks.
    pub fn free_list(&mut self, mut idx: u32) {
        let mut guard = self.blocks.len();
        while idx != NONE && guard > 0 {
            let next = self.get(idx).map_or(NONE, |b| b.next);
            self.free(idx);
            idx = next;
            guard -= 1;
        }
    }

    /// A block by index.
    pub fn get(&self, idx: u32) -> Option<&Block> {
        self.blocks.get(idx as usize)
    }

    /// A block by index, mutably.
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut Block> {
        self.blocks.get_mut(idx as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_cycle() {
        let mut storage = [const { MaybeUninit::uninit() }; 3];
        let mut p = BlockPool::new(&mut storage);
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        let c = p.alloc().unwrap();
        assert!(p.alloc().is_none());
        assert_eq!(p.free_count(), 0);
        p.get_mut(a).unwrap().next = b;
        p.get_mut(b).unwrap().next = c;
        p.free_list(a);
        assert_eq!(p.free_count(), 3);
    }

    /// Blocks are handed out in index order, a freed block before any
    /// never-used one (the order a pre-linked free list gave, so output
    /// does not depend on how storage was initialised), and only the
    /// blocks ever handed out are initialised.
    #[test]
    fn recycled_first_then_fresh_in_order() {
        let mut storage = [const { MaybeUninit::uninit() }; 4];
        let mut p = BlockPool::new(&mut storage);
        assert_eq!((p.alloc(), p.alloc()), (Some(0), Some(1)));
        assert_eq!(p.blocks.len(), 2);
        p.free(0);
        assert_eq!(p.free_count(), 3);
        assert_eq!((p.alloc(), p.alloc(), p.alloc()), (Some(0), Some(2), Some(3)));
        assert_eq!((p.alloc(), p.free_count(), p.capacity()), (None, 0, 4));
    }
}
