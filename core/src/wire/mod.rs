//! Zero-copy views of captured frames, from the link layer to TCP/UDP.
//!
//! Panic contract (as in smoltcp's `wire`): every function here takes
//! untrusted bytes, checks lengths before reading, and returns an
//! [`Error`] instead of panicking. IPv4/IPv6/TCP/UDP headers are read with
//! `smoltcp::wire` views built with `new_checked`; the link layers smoltcp
//! does not know (VLAN stacks, Linux cooked capture, BSD loopback) are
//! decoded in [`link`].

pub mod ip;
pub mod link;

pub use ip::{decode_ip, IpPacket, Transport as IpTransport};
pub use link::{decode_link, LinkType};

/// Why a frame could not be decoded. Each variant maps to a counter in
/// [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Shorter than its headers say.
    Truncated,
    /// A header field has an impossible value.
    Malformed,
    /// A link type or ethertype the kernel does not decode.
    Unsupported,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated",
            Error::Malformed => "malformed",
            Error::Unsupported => "unsupported",
        })
    }
}

impl core::error::Error for Error {}

/// Reads a big-endian u16 at `off`.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off + 2)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// Reads a big-endian u32 at `off`.
#[inline]
pub(crate) fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}
