//! tapbeat-embedded: the appliance shell of tapbeat — the `tapbeat-core`
//! kernel over smoltcp phy devices (a receive-only mirror port, an uplink
//! that ships documents), with all memory `static`.
//!
//! This crate is a placeholder until its own issue is worked: today the
//! freestanding link of the kernel is proven by `nostd-check/` instead.
#![no_std]
