//! A fixed ring of serialised documents between analysis and the uplink.
//!
//! Records are a 4-byte little-endian length followed by the document, and
//! never wrap: a record that does not fit before the end of the buffer
//! starts again at the front (a "bip buffer"), so every document is one
//! contiguous slice. Pushing never fails and never waits: when there is no
//! room, the oldest documents are dropped (and the caller counts them) —
//! capture must not block on a slow or absent uplink. A document larger
//! than the whole ring is refused.

const LEN: usize = 4;

/// The document ring over caller storage (a `static` buffer on an
/// appliance).
pub struct DocRing<'a> {
    buf: &'a mut [u8],
    /// Start of the oldest record.
    head: usize,
    /// End of the first region (records from `head`).
    a_end: usize,
    /// End of the wrapped region (records from 0), when `wrapped`.
    b_end: usize,
    wrapped: bool,
    docs: usize,
}

/// What [`DocRing::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pushed {
    /// Stored, after dropping this many of the oldest documents.
    Stored {
        /// Oldest documents dropped to make room.
        dropped: usize,
    },
    /// Larger than the ring (or than `u32::MAX`): not stored.
    TooLarge,
}

impl<'a> DocRing<'a> {
    /// An empty ring over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        DocRing { buf, head: 0, a_end: 0, b_end: 0, wrapped: false, docs: 0 }
    }

    /// Documents held.
    pub fn len(&self) -> usize {
        self.docs
    }

    /// No documents held.
    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    /// Bytes held (documents and their length prefixes).
    pub fn bytes_used(&self) -> usize {
        self.a_end.saturating_sub(self.head) + if self.wrapped { self.b_end } else { 0 }
    }

    /// Size of the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Appends `doc`, dropping the oldest documents while there is no room.
    pub fn push(&mut self, doc: &[u8]) -> Pushed {
        let Some(need) = doc.len().checked_add(LEN).filter(|&n| n <= self.buf.len()) else {
            return Pushed::TooLarge;
        };
        let Ok(len) = u32::try_from(doc.len()) else {
            return Pushed::TooLarge;
        };
        let mut dropped = 0;
        let at = loop {
            if self.docs == 0 {
                self.head = 0;
                self.a_end = 0;
                self.b_end = 0;
                self.wrapped = false;
            }
            if !self.wrapped {
                if self.buf.len() - self.a_end >= need {
                    let at = self.a_end;
                    self.a_end += need;
                    break at;
                }
                if self.head >= need {
                    self.wrapped = true;
                    self.b_end = need;
                    break 0;
                }
            } else if self.head - self.b_end >= need {
                let at = self.b_end;
                self.b_end += need;
                break at;
            }
            // `docs > 0` here: an empty ring always has room for `need`.
            self.pop();
            dropped += 1;
        };
        if let Some(slot) = self.buf.get_mut(at..at + need) {
            let (l, d) = slot.split_at_mut(LEN);
            l.copy_from_slice(&len.to_le_bytes());
            d.copy_from_slice(doc);
        }
        self.docs += 1;
        Pushed::Stored { dropped }
    }

    /// Record at `at`: (document, end of record).
    fn record(&self, at: usize) -> Option<(&[u8], usize)> {
        let l: [u8; LEN] = self.buf.get(at..at.checked_add(LEN)?)?.try_into().ok()?;
        let start = at + LEN;
        let end = start.checked_add(usize::try_from(u32::from_le_bytes(l)).ok()?)?;
        Some((self.buf.get(start..end)?, end))
    }

    /// The oldest document.
    pub fn front(&self) -> Option<&[u8]> {
        if self.docs == 0 {
            return None;
        }
        self.record(self.head).map(|(d, _)| d)
    }

    /// Removes the oldest document; `false` when empty.
    pub fn pop(&mut self) -> bool {
        if self.docs == 0 {
            return false;
        }
        let end = self.record(self.head).map_or(self.a_end, |(_, e)| e);
        self.head = end;
        self.docs -= 1;
        if self.head >= self.a_end {
            if self.wrapped {
                self.head = 0;
                self.a_end = self.b_end;
                self.b_end = 0;
                self.wrapped = false;
            } else {
                self.head = 0;
                self.a_end = 0;
            }
        }
        if self.docs == 0 {
            self.head = 0;
            self.a_end = 0;
            self.b_end = 0;
            self.wrapped = false;
        }
        true
    }

    /// The oldest documents in order, without removing them.
    pub fn iter(&self) -> Iter<'_, 'a> {
        Iter { ring: self, at: self.head, in_b: false, left: self.docs }
    }
}

/// Iterator over the documents of a [`DocRing`], oldest first.
pub struct Iter<'r, 'a> {
    ring: &'r DocRing<'a>,
    at: usize,
    in_b: bool,
    left: usize,
}

impl<'r> Iterator for Iter<'r, '_> {
    type Item = &'r [u8];

    fn next(&mut self) -> Option<&'r [u8]> {
        if self.left == 0 {
            return None;
        }
        if !self.in_b && self.at >= self.ring.a_end {
            if !self.ring.wrapped {
                return None;
            }
            self.in_b = true;
            self.at = 0;
        }
        let (doc, end) = self.ring.record(self.at)?;
        self.at = end;
        self.left -= 1;
        Some(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_wraps_and_drops_oldest() {
        let mut buf = [0u8; 32];
        let mut r = DocRing::new(&mut buf);
        assert_eq!(r.push(b"aaaaaa"), Pushed::Stored { dropped: 0 }); // 10 bytes
        assert_eq!(r.push(b"bbbbbb"), Pushed::Stored { dropped: 0 }); // 20
        assert_eq!(r.push(b"cccccc"), Pushed::Stored { dropped: 0 }); // 30
                                                                      // 10 more do not fit at the end nor before head 0: drop "a", wrap.
        assert_eq!(r.push(b"dddddd"), Pushed::Stored { dropped: 1 });
        let v: [&[u8]; 3] = [b"bbbbbb", b"cccccc", b"dddddd"];
        assert!(r.iter().eq(v.iter().copied()));
        assert_eq!(r.len(), 3);
        assert_eq!(r.bytes_used(), 30);
        assert_eq!(r.front(), Some(&b"bbbbbb"[..]));
        assert!(r.pop());
        assert_eq!(r.push(b"e"), Pushed::Stored { dropped: 0 });
        let v: [&[u8]; 3] = [b"cccccc", b"dddddd", b"e"];
        assert!(r.iter().eq(v.iter().copied()));
        assert_eq!(r.push(&[0u8; 29]), Pushed::TooLarge);
        assert_eq!(r.push(&[7u8; 28]), Pushed::Stored { dropped: 3 });
        assert_eq!(r.len(), 1);
        assert!(r.pop());
        assert!(!r.pop());
        assert!(r.is_empty());
    }

    #[test]
    fn model_check_against_a_queue() {
        // Pseudo-random lengths; compare with a simple model queue.
        let mut buf = [0u8; 97];
        let mut r = DocRing::new(&mut buf);
        let mut model: [(u8, usize); 64] = [(0, 0); 64];
        let (mut mh, mut mt) = (0usize, 0usize);
        let mut x: u32 = 12345;
        for i in 0..5000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (x >> 16) as usize % 40;
            if (x >> 8) % 3 == 0 {
                let popped = r.pop();
                assert_eq!(popped, mh != mt);
                if popped {
                    mh += 1;
                }
            } else {
                let doc = [i as u8; 40];
                match r.push(&doc[..len]) {
                    Pushed::Stored { dropped } => {
                        mh += dropped;
                        model[mt % 64] = (i as u8, len);
                        mt += 1;
                    }
                    Pushed::TooLarge => unreachable!(),
                }
            }
            assert_eq!(r.len(), mt - mh);
            assert!(r.bytes_used() <= 97);
            for (k, d) in r.iter().enumerate() {
                let (b, l) = model[(mh + k) % 64];
                assert_eq!(d.len(), l);
                assert!(d.iter().all(|&c| c == b));
            }
        }
    }
}
