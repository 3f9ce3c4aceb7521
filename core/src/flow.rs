//! The bidirectional flow table over caller storage.
//!
//! Slots are found through hash chains whose heads live in the slots
//! themselves (bucket `i`'s head is stored in slot `i`), so the table needs
//! one slice and no separate index. An intrusive LRU list orders the flows
//! by last activity: idle expiry walks it from the oldest end, and when the
//! table is full the oldest flow is the one evicted (by the engine, which
//! counts it and reports the flow's open transactions first).

use core::mem::MaybeUninit;
use core::net::IpAddr;

use fixed_slice_vec::FixedSliceVec;

use crate::pool::NONE;
use crate::proto::ParserState;
use crate::reasm::StreamDir;
use crate::time::Timestamp;
use crate::txn::{Endpoint, Protocol, Transport};

/// Direction of a packet relative to the transaction's roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server (requests).
    ToServer = 0,
    /// Server to client (responses).
    ToClient = 1,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
    /// 0 for `ToServer`, 1 for `ToClient`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A direction-free 5-tuple: the two endpoints are stored in a canonical
/// order so that both directions of a flow give the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    hi: (IpAddr, u16),
    lo: (IpAddr, u16),
    proto: u8,
}

impl FlowKey {
    /// The key of the flow between `a` and `b` over IP protocol `proto`.
    pub fn new(a: (IpAddr, u16), b: (IpAddr, u16), proto: u8) -> FlowKey {
        if a >= b {
            FlowKey { hi: a, lo: b, proto }
        } else {
            FlowKey { hi: b, lo: a, proto }
        }
    }

    /// A fast, deterministic, symmetric hash of the key (symmetric because
    /// the key is canonical). Also used by the std shell to pick a worker.
    pub fn hash32(&self) -> u32 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.proto as u64;
        for (ip, port) in [self.hi, self.lo] {
            let v = match ip {
                IpAddr::V4(a) => u32::from(a) as u128,
                IpAddr::V6(a) => u128::from(a),
            };
            for w in [v as u64, (v >> 64) as u64, port as u64] {
                h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                h ^= h >> 29;
            }
        }
        (h ^ (h >> 32)) as u32
    }
}

/// What the engine knows about a flow besides its streams and parser.
#[derive(Clone, Copy, Debug)]
pub struct FlowMeta {
    /// The requesting side.
    pub client: Endpoint,
    /// The answering side.
    pub server: Endpoint,
    /// Analyzer chosen for this flow.
    pub protocol: Protocol,
    /// Transport.
    pub transport: Transport,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub ip_proto: u8,
    /// Last packet seen.
    pub last_seen: Timestamp,
    /// The connection ended (FIN both ways, or RST) and was reported; the
    /// slot lingers so that late retransmissions are recognised as such.
    pub closed: bool,
}

impl Default for FlowMeta {
    fn default() -> Self {
        FlowMeta {
            client: Endpoint::default(),
            server: Endpoint::default(),
            protocol: Protocol::Http,
            transport: Transport::Tcp,
            ip_proto: 6,
            last_seen: Timestamp::ZERO,
            closed: false,
        }
    }
}

/// One flow-table slot.
#[derive(Clone, Debug)]
pub struct FlowSlot {
    in_use: bool,
    key: Option<FlowKey>,
    hash: u32,
    chain_next: u32,
    lru_prev: u32,
    lru_next: u32,
    /// Endpoints, protocol, last activity.
    pub meta: FlowMeta,
    /// TCP reassembly per direction (indexed by [`Direction::index`]).
    pub tcp: [StreamDir; 2],
    /// The analyzer's per-flow state.
    pub parser: ParserState,
}

impl FlowSlot {
    /// An unused slot, for initialising storage.
    pub const EMPTY: FlowSlot = FlowSlot {
        in_use: false,
        key: None,
        hash: 0,
        chain_next: NONE,
        lru_prev: NONE,
        lru_next: NONE,
        meta: FlowMeta {
            client: Endpoint { ip: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), port: 0 },
            server: Endpoint { ip: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), port: 0 },
            protocol: Protocol::Http,
            transport: Transport::Tcp,
            ip_proto: 6,
            last_seen: Timestamp::ZERO,
            closed: false,
        },
        tcp: [StreamDir::new(), StreamDir::new()],
        parser: ParserState::None,
    };
}

impl Default for FlowSlot {
    fn default() -> Self {
        FlowSlot::EMPTY
    }
}

/// The table is full; the caller must evict (see [`FlowTable::oldest`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The flow table.
pub struct FlowTable<'a> {
    /// Slots ever used, in order; the rest of the storage is untouched.
    slots: FixedSliceVec<'a, FlowSlot>,
    /// Head of each hash chain ([`NONE`] when empty): apart from the slots,
    /// so a lookup does not touch a slot that was never used.
    buckets: &'a mut [u32],
    /// Recycled slots (a slot freed last is taken first); when none, the
    /// next never-used slot is initialised.
    free_head: u32,
    lru_head: u32,
    lru_tail: u32,
    len: usize,
    last: Option<LastFlow>,
}

/// The flow of the last packet, with that packet's endpoints as they were:
/// the next packet usually belongs to the same flow (in either direction)
/// and then needs no key, hash or chain walk.
#[derive(Clone, Copy, Debug)]
struct LastFlow {
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    proto: u8,
    idx: u32,
}

impl<'a> FlowTable<'a> {
    /// Builds an empty table over `slots` (at most `u32::MAX - 1` used) and
    /// one hash-chain head per slot in `buckets` (its length is the number
    /// of chains; the table works with fewer than slots, at least one).
    /// Nothing in `slots` is written until a slot is first needed, so the
    /// memory of a large table costs nothing until flows fill it.
    pub fn new(slots: &'a mut [MaybeUninit<FlowSlot>], buckets: &'a mut [u32]) -> Self {
        buckets.fill(NONE);
        FlowTable {
            free_head: NONE,
            slots: crate::pool::table(slots),
            buckets,
            lru_head: NONE,
            lru_tail: NONE,
            len: 0,
            last: None,
        }
    }

    /// The index of the flow of a packet from `src` to `dst` (either way)
    /// when it is the flow [`FlowTable::remember`] was last told of.
    #[inline]
    pub fn last_flow(&self, src: (IpAddr, u16), dst: (IpAddr, u16), proto: u8) -> Option<u32> {
        let l = self.last.as_ref()?;
        let same = l.proto == proto && ((l.src == src && l.dst == dst) || (l.src == dst && l.dst == src));
        same.then_some(l.idx)
    }

    /// Remembers that packets from `src` to `dst` belong to flow `idx`
    /// (found by [`FlowTable::lookup`] or just inserted).
    #[inline]
    pub fn remember(&mut self, src: (IpAddr, u16), dst: (IpAddr, u16), proto: u8, idx: u32) {
        self.last = Some(LastFlow { src, dst, proto, idx });
    }

    /// Flows in use.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no flow is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots in all.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    fn bucket(&self, hash: u32) -> usize {
        match self.buckets.len() {
            0 => 0,
            n => (hash as usize) % n,
        }
    }

    /// The slot holding `key`, if any.
    pub fn lookup(&self, key: &FlowKey, hash: u32) -> Option<u32> {
        let mut i = *self.buckets.get(self.bucket(hash))?;
        let mut guard = self.slots.len();
        while guard > 0 {
            guard -= 1;
            let s = self.slots.get(i as usize)?;
            if s.hash == hash && s.key.as_ref() == Some(key) {
                return Some(i);
            }
            i = s.chain_next;
        }
        None
    }

    /// Takes a free slot for `key` and makes it the most recent flow.
    pub fn insert(&mut self, key: FlowKey, hash: u32, now: Timestamp) -> Result<u32, Full> {
        let b = self.bucket(hash);
        let head = *self.buckets.get(b).ok_or(Full)?;
        let idx = crate::pool::take(&mut self.slots, &mut self.free_head, |s| s.chain_next, || FlowSlot::EMPTY)
            .ok_or(Full)?;
        let s = self.slots.get_mut(idx as usize).ok_or(Full)?;
        // A free slot is already `EMPTY` apart from its free-list link: a
        // fresh one is made so, a removed one is reset by `remove`.
        s.in_use = true;
        s.key = Some(key);
        s.hash = hash;
        s.chain_next = head;
        s.meta.last_seen = now;
        if let Some(bh) = self.buckets.get_mut(b) {
            *bh = idx;
        }
        self.lru_push_front(idx);
        self.len += 1;
        Ok(idx)
    }

    /// Frees slot `idx` (the caller has released its blocks and records).
    pub fn remove(&mut self, idx: u32) {
        let Some(s) = self.slots.get(idx as usize) else { return };
        if !s.in_use {
            return;
        }
        if self.last.is_some_and(|l| l.idx == idx) {
            self.last = None;
        }
        let (hash, next) = (s.hash, s.chain_next);
        let b = self.bucket(hash);
        // Unlink from the hash chain.
        let head = self.buckets.get(b).copied().unwrap_or(NONE);
        if head == idx {
            if let Some(bh) = self.buckets.get_mut(b) {
                *bh = next;
            }
        } else {
            let mut i = head;
            let mut guard = self.slots.len();
            while guard > 0 && i != NONE {
                guard -= 1;
                let n = self.slots.get(i as usize).map_or(NONE, |s| s.chain_next);
                if n == idx {
                    if let Some(p) = self.slots.get_mut(i as usize) {
                        p.chain_next = next;
                    }
                    break;
                }
                i = n;
            }
        }
        self.lru_unlink(idx);
        if let Some(s) = self.slots.get_mut(idx as usize) {
            // Reset here, once (`insert` relies on it): a free slot keeps
            // nothing of the flow it held.
            *s = FlowSlot::EMPTY;
            s.chain_next = self.free_head;
        }
        self.free_head = idx;
        self.len = self.len.saturating_sub(1);
    }

    /// Marks `idx` as the most recently active flow.
    pub fn touch(&mut self, idx: u32, now: Timestamp) {
        if self.lru_head != idx {
            self.lru_unlink(idx);
            self.lru_push_front(idx);
        }
        if let Some(s) = self.slots.get_mut(idx as usize) {
            if now > s.meta.last_seen {
                s.meta.last_seen = now;
            }
        }
    }

    /// The least recently active flow.
    pub fn oldest(&self) -> Option<u32> {
        (self.lru_tail != NONE).then_some(self.lru_tail)
    }

    /// A slot by index.
    pub fn get(&self, idx: u32) -> Option<&FlowSlot> {
        self.slots.get(idx as usize).filter(|s| s.in_use)
    }

    /// A slot by index, mutably.
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut FlowSlot> {
        self.slots.get_mut(idx as usize).filter(|s| s.in_use)
    }

    fn lru_push_front(&mut self, idx: u32) {
        let old = self.lru_head;
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.lru_prev = NONE;
            s.lru_next = old;
        }
        if let Some(o) = self.slots.get_mut(old as usize) {
            o.lru_prev = idx;
        }
        self.lru_head = idx;
        if self.lru_tail == NONE {
            self.lru_tail = idx;
        }
    }

    fn lru_unlink(&mut self, idx: u32) {
        let Some(s) = self.slots.get(idx as usize) else { return };
        let (p, n) = (s.lru_prev, s.lru_next);
        match self.slots.get_mut(p as usize) {
            Some(ps) => ps.lru_next = n,
            None => self.lru_head = n,
        }
        match self.slots.get_mut(n as usize) {
            Some(ns) => ns.lru_prev = p,
            None => self.lru_tail = p,
        }
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.lru_prev = NONE;
            s.lru_next = NONE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn key(i: u16) -> FlowKey {
        FlowKey::new((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), i), (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80), 6)
    }

    /// The last-flow shortcut answers for both directions of the flow it
    /// remembers, nothing else, and forgets a removed flow.
    #[test]
    fn last_flow_both_ways_until_removed() {
        let mut slots = [const { core::mem::MaybeUninit::<FlowSlot>::uninit() }; 4];
        let mut buckets = [NONE; 4];
        let mut t = FlowTable::new(&mut slots, &mut buckets);
        let a = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1000);
        let b = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);
        let c = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 80);
        let k = FlowKey::new(a, b, 6);
        let idx = t.insert(k, k.hash32(), Timestamp::ZERO).unwrap();
        assert_eq!(t.last_flow(a, b, 6), None);
        t.remember(a, b, 6, idx);
        assert_eq!(t.last_flow(a, b, 6), Some(idx));
        assert_eq!(t.last_flow(b, a, 6), Some(idx));
        assert_eq!(t.last_flow(a, b, 17), None);
        assert_eq!(t.last_flow(a, c, 6), None);
        t.remove(idx);
        assert_eq!(t.last_flow(a, b, 6), None);
        assert_eq!(t.lookup(&k, k.hash32()), None);
    }

    #[test]
    fn symmetric_key() {
        let a = (IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)), 5);
        let b = (IpAddr::V4(Ipv4Addr::new(5, 6, 7, 8)), 80);
        assert_eq!(FlowKey::new(a, b, 6), FlowKey::new(b, a, 6));
        assert_eq!(FlowKey::new(a, b, 6).hash32(), FlowKey::new(b, a, 6).hash32());
    }

    #[test]
    fn insert_lookup_remove_lru() {
        let mut slots = [const { core::mem::MaybeUninit::<FlowSlot>::uninit() }; 4];
        let mut buckets = [NONE; 4];
        let mut t = FlowTable::new(&mut slots, &mut buckets);
        let mut ids = [0u32; 4];
        for i in 0..4u16 {
            let k = key(i);
            ids[i as usize] = t.insert(k, k.hash32(), Timestamp::from_micros(i as u64)).unwrap();
        }
        assert_eq!(t.insert(key(9), key(9).hash32(), Timestamp::ZERO), Err(Full));
        for i in 0..4u16 {
            assert_eq!(t.lookup(&key(i), key(i).hash32()), Some(ids[i as usize]));
        }
        assert_eq!(t.oldest(), Some(ids[0]));
        t.touch(ids[0], Timestamp::from_micros(10));
        assert_eq!(t.oldest(), Some(ids[1]));
        t.remove(ids[1]);
        assert_eq!(t.lookup(&key(1), key(1).hash32()), None);
        assert_eq!(t.len(), 3);
        assert_eq!(t.oldest(), Some(ids[2]));
        let k = key(7);
        let n = t.insert(k, k.hash32(), Timestamp::ZERO).unwrap();
        assert_eq!(t.lookup(&k, k.hash32()), Some(n));
        for i in [0u16, 2, 3] {
            assert!(t.lookup(&key(i), key(i).hash32()).is_some());
        }
    }
}
