//! IP fragment reassembly over a fixed pool of slots (IPv4, and IPv6
//! fragment headers).
//!
//! Each slot rebuilds one datagram of at most [`MAX_DATAGRAM`] payload
//! bytes, tracking received 8-byte units in a bitmap. Overlapping bytes keep
//! the first copy (disagreements are counted). A set that does not complete
//! within the timeout is dropped and counted; when every slot is busy the
//! oldest set is evicted and counted. Nothing here allocates.

use core::mem::MaybeUninit;
use core::net::IpAddr;

use fixed_slice_vec::FixedSliceVec;

use crate::stats::Stats;
use crate::time::{Duration, Timestamp};
use crate::wire::ip::{FragInfo, IpPacket};

/// Largest reassembled upper-layer payload, in bytes. Larger datagrams are
/// dropped (counted in `defrag_dropped`).
pub const MAX_DATAGRAM: usize = 16 * 1024;
const UNITS: usize = MAX_DATAGRAM / 8;
const WORDS: usize = UNITS / 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

/// One reassembly slot.
#[derive(Clone, Debug)]
pub struct FragSlot {
    key: Option<FragKey>,
    first: Timestamp,
    total: Option<u32>,
    units_set: u32,
    bitmap: [u64; WORDS],
    buf: [u8; MAX_DATAGRAM],
}

impl FragSlot {
    /// A free slot, for initialising storage.
    pub const EMPTY: FragSlot = FragSlot {
        key: None,
        first: Timestamp::ZERO,
        total: None,
        units_set: 0,
        bitmap: [0; WORDS],
        buf: [0; MAX_DATAGRAM],
    };
}

impl Default for FragSlot {
    fn default() -> Self {
        FragSlot::EMPTY
    }
}

/// The fragment pool.
pub struct Defrag<'a> {
    /// Slots ever used, in order; the rest of the storage is untouched.
    slots: FixedSliceVec<'a, FragSlot>,
    timeout: Duration,
}

impl<'a> Defrag<'a> {
    /// A pool over `slots`; sets older than `timeout` are dropped.
    /// A slot is written only when first needed.
    pub fn new(slots: &'a mut [MaybeUninit<FragSlot>], timeout: Duration) -> Self {
        Defrag { slots: FixedSliceVec::new(slots), timeout }
    }

    /// Adds one fragment. When it completes its datagram, returns the slot
    /// index and payload length: read it with [`Defrag::payload`], then call
    /// [`Defrag::release`].
    pub fn add(
        &mut self,
        now: Timestamp,
        ip: &IpPacket<'_>,
        frag: FragInfo,
        stats: &mut Stats,
    ) -> Option<(usize, usize)> {
        stats.fragments += 1;
        let data = ip.payload;
        let key = FragKey { src: ip.src, dst: ip.dst, id: frag.id, proto: ip.proto };
        let off = frag.offset as usize;
        let end = off.saturating_add(data.len());
        if end > MAX_DATAGRAM || (frag.more && data.len() % 8 != 0) || (frag.more && data.is_empty()) {
            stats.defrag_dropped += 1;
            // Poison the set: it can never complete correctly.
            if let Some(i) = self.find(&key) {
                self.drop_slot(i);
            }
            return None;
        }
        let idx = match self.find(&key) {
            Some(i) => i,
            None => self.take_slot(now, key, stats)?,
        };
        let slot = self.slots.get_mut(idx)?;
        if !frag.more {
            match slot.total {
                Some(t) if t as usize != end => {
                    stats.defrag_dropped += 1;
                    return None;
                }
                _ => slot.total = Some(end as u32),
            }
        }
        // Copy unit by unit, keeping bytes already received.
        let mut pos = off;
        while pos < end {
            let unit = pos / 8;
            let unit_end = ((unit + 1) * 8).min(end);
            let (w, bit) = (unit / 64, 1u64 << (unit % 64));
            let have = slot.bitmap.get(w).is_some_and(|x| x & bit != 0);
            let src = data.get(pos - off..unit_end - off).unwrap_or(&[]);
            if let Some(dst) = slot.buf.get_mut(pos..unit_end) {
                if have {
                    let diff = dst.iter().zip(src).filter(|(a, b)| a != b).count();
                    stats.defrag_overlap_conflicts += diff as u64;
                } else {
                    dst.copy_from_slice(src);
                    if unit_end % 8 == 0 || unit_end == end && !frag.more {
                        if let Some(x) = slot.bitmap.get_mut(w) {
                            *x |= bit;
                        }
                        slot.units_set += 1;
                    }
                }
            }
            pos = unit_end;
        }
        let total = slot.total? as usize;
        if slot.units_set as usize >= total.div_ceil(8) && Self::all_set(slot, total.div_ceil(8)) {
            stats.defrag_reassembled += 1;
            return Some((idx, total));
        }
        None
    }

    fn all_set(slot: &FragSlot, units: usize) -> bool {
        (0..units).all(|u| slot.bitmap.get(u / 64).is_some_and(|x| x & (1u64 << (u % 64)) != 0))
    }

    /// The reassembled payload of slot `idx`.
    pub fn payload(&self, idx: usize, len: usize) -> &[u8] {
        self.slots.get(idx).and_then(|s| s.buf.get(..len)).unwrap_or(&[])
    }

    /// Frees slot `idx` after its datagram was processed.
    pub fn release(&mut self, idx: usize) {
        self.drop_slot(idx);
    }

    /// Drops sets older than the timeout (counted).
    pub fn expire(&mut self, now: Timestamp, stats: &mut Stats) {
        let timeout = self.timeout;
        for s in self.slots.iter_mut() {
            if s.key.is_some() && now.since(s.first) >= timeout {
                s.key = None;
                stats.defrag_timeouts += 1;
            }
        }
    }

    /// Sets in progress.
    pub fn in_progress(&self) -> usize {
        self.slots.iter().filter(|s| s.key.is_some()).count()
    }

    fn find(&self, key: &FragKey) -> Option<usize> {
        self.slots.iter().position(|s| s.key.as_ref() == Some(key))
    }

    fn drop_slot(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            s.key = None;
        }
    }

    fn take_slot(&mut self, now: Timestamp, key: FragKey, stats: &mut Stats) -> Option<usize> {
        self.expire(now, stats);
        // The lowest free slot: a used one, else the next never-used one.
        let free = self.slots.iter().position(|s| s.key.is_none());
        let fresh = || crate::pool::take_fresh(&mut self.slots, FragSlot::EMPTY).map(|i| i as usize);
        let idx = match free.or_else(fresh) {
            Some(i) => i,
            None => {
                let i = self.slots.iter().enumerate().min_by_key(|(_, s)| s.first).map(|(i, _)| i)?;
                stats.defrag_evicted += 1;
                i
            }
        };
        let s = self.slots.get_mut(idx)?;
        s.key = Some(key);
        s.first = now;
        s.total = None;
        s.units_set = 0;
        s.bitmap = [0; WORDS];
        Some(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    fn pkt(src: u8, dst: u8, data: &[u8]) -> IpPacket<'_> {
        IpPacket { src: ip(src), dst: ip(dst), proto: 17, payload: data, frag: None }
    }

    #[test]
    fn out_of_order_with_overlap() {
        let mut slots = [const { core::mem::MaybeUninit::<FragSlot>::uninit() }; 2];
        let mut d = Defrag::new(&mut slots, Duration::from_secs(30));
        let mut st = Stats::default();
        let data: [u8; 20] = core::array::from_fn(|i| i as u8);
        let t = Timestamp::ZERO;
        assert!(d.add(t, &pkt(1, 2, &data[16..]), FragInfo { id: 7, offset: 16, more: false }, &mut st).is_none());
        assert!(d.add(t, &pkt(1, 2, &[0xAAu8; 8]), FragInfo { id: 7, offset: 8, more: true }, &mut st).is_none());
        let (i, n) = d.add(t, &pkt(1, 2, &data[..16]), FragInfo { id: 7, offset: 0, more: true }, &mut st).unwrap();
        assert_eq!(n, 20);
        let mut expect = data;
        expect[8..16].copy_from_slice(&[0xAAu8; 8]); // first copy wins
        assert_eq!(d.payload(i, n), &expect);
        assert_eq!(st.defrag_overlap_conflicts, 8);
        d.release(i);
        assert_eq!(d.in_progress(), 0);
    }

    #[test]
    fn timeout_and_eviction_are_counted() {
        let mut slots = [const { core::mem::MaybeUninit::<FragSlot>::uninit() }; 1];
        let mut d = Defrag::new(&mut slots, Duration::from_secs(1));
        let mut st = Stats::default();
        let f = FragInfo { id: 1, offset: 0, more: true };
        d.add(Timestamp::ZERO, &pkt(1, 2, &[0; 8]), f, &mut st);
        d.add(Timestamp::ZERO, &pkt(1, 3, &[0; 8]), f, &mut st);
        assert_eq!(st.defrag_evicted, 1);
        d.expire(Timestamp::from_micros(2_000_000), &mut st);
        assert_eq!(st.defrag_timeouts, 1);
        // Too large for a slot.
        d.add(Timestamp::ZERO, &pkt(1, 2, &[0; 8]), FragInfo { id: 2, offset: 65528, more: false }, &mut st);
        assert_eq!(st.defrag_dropped, 1);
    }
}
