//! # tapbeat-core
//!
//! The analysis kernel of tapbeat: it turns captured frames into
//! application-level **transactions** (a request paired with its response)
//! and serialises them as JSON, without an allocator and without I/O.
//!
//! ```text
//! frame ─▶ link ─▶ ip (+ defrag) ─▶ flow table ─▶ tcp reassembly / udp ─▶ analyzer ─▶ correlator ─▶ Transaction ─▶ Sink
//! ```
//!
//! ## Contract
//!
//! * **No panics on input.** Every byte of every frame is untrusted. Parsers
//!   check lengths before they slice; malformed data is counted in
//!   [`Stats`] and skipped. Clippy's `indexing_slicing`, `unwrap_used`,
//!   `expect_used` and `panic` are denied in this crate.
//! * **Fixed memory.** The [`Engine`] works over storage the caller provides
//!   ([`Storage`]): a flow table, a pool of stream-buffer blocks, a pool of
//!   pending transactions and an IP fragment pool. When a table is full the
//!   oldest entry is evicted and the eviction is counted; nothing grows.
//! * **Determinism.** Time comes only from packet timestamps (and
//!   [`Engine::advance`]); the same frames give the same transactions in the
//!   same order.
//! * **Nothing lost silently.** Evictions, gaps, truncations and timeouts are
//!   counted, and a request whose response never came is still reported,
//!   with a status and notes that say so.
//!
//! ## Example
//!
//! ```
//! use tapbeat_core::{Config, Engine, LinkType, Storage, StorageSizes, Timestamp, Transaction};
//!
//! let sizes = StorageSizes::small();
//! let mut mem = tapbeat_core::OwnedStorageArrays::<64, 64, 16, 8>::new();
//! let cfg = Config::default();
//! let mut engine = Engine::new(cfg, mem.storage());
//! let mut seen = 0;
//! let mut sink = |_t: &Transaction| seen += 1;
//! engine.process(Timestamp::from_micros(0), LinkType::ETHERNET, &[0u8; 10], &mut sink);
//! engine.finish(&mut sink);
//! assert_eq!(seen, 0);
//! let _ = sizes;
//! ```
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

pub mod config;
pub mod defrag;
pub mod engine;
pub mod flow;
pub mod json;
pub mod pending;
pub mod pool;
pub mod proto;
pub mod reasm;
pub mod stats;
pub mod text;
pub mod time;
pub mod txn;
pub mod wire;

pub use config::Config;
pub use engine::{Engine, OwnedStorageArrays, Sink, Storage, StorageSizes};
pub use stats::Stats;
pub use time::Timestamp;
pub use txn::{Endpoint, Notes, Protocol, Status, Transaction, Transport};
pub use wire::LinkType;
