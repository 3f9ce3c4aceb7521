//! # tapbeat-embedded
//!
//! The appliance shell of tapbeat: the [`tapbeat_core`] kernel on a tap or
//! mirror-port appliance. `#![no_std]`, no allocator, every byte of memory
//! fixed at build time.
//!
//! ```text
//! mirror port (smoltcp Device, receive only) ─▶ Engine ─▶ JSON ─▶ DocRing ─▶ uplink (smoltcp Interface + TCP) ─▶ Elasticsearch _bulk | Redis RPUSH
//! ```
//!
//! * [`Resources`] holds all the big memory (engine tables, the document
//!   ring, the uplink's batch and socket buffers); the firmware puts it in a
//!   `static` (e.g. `static_cell::StaticCell`). [`Resources::memory_budget`]
//!   states the total, including the [`Appliance`] state itself.
//! * [`Appliance::poll`] is the whole run loop: call it from a bare loop or
//!   any executor with the current time; it never blocks and keeps no clock
//!   of its own.
//! * Capture never waits for the uplink: when the ring is full the oldest
//!   documents are dropped and counted ([`ShellStats::ring_dropped`]).
//! * [`PcapReplay`] is a mirror device over a capture file in memory (tests,
//!   demos); on a Linux host smoltcp's TAP device works as both ports (see
//!   `examples/tap_appliance.rs` and the README).
//!
//! ## Panic contract
//!
//! Nothing here panics on input: frames are the kernel's business (see its
//! contract), and replies from the uplink's server are parsed with bounded,
//! checked code. A misconfiguration the code can detect (a hardware address
//! that does not fit the uplink's medium) is an error from
//! [`Appliance::new`], not a panic inside smoltcp.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo
    )
)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
#[macro_use]
extern crate std;

#[macro_use]
mod fmt;

pub mod appliance;
pub mod pcap;
pub mod ring;
pub mod uplink;

pub use appliance::{Appliance, ApplianceStats, DocSettings, MirrorPort, Resources, SetupError, ShellStats};
pub use pcap::PcapReplay;
pub use ring::DocRing;
pub use uplink::{IpConfig, Target, UplinkConfig};

/// Re-exported so that firmware names the same smoltcp the shell uses.
pub use smoltcp;
/// Re-exported so that firmware names the same kernel the shell uses.
pub use tapbeat_core;
