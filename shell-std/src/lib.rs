//! The Linux shell of tapbeat: reads captures with libpcap, runs the
//! `tapbeat-core` engine, and writes one JSON document per transaction.
//!
//! The binary (`src/main.rs`) is a thin CLI over [`read::read_files`]; the
//! end-to-end tests call the same function.

pub mod config;
pub mod live;
pub mod output;
pub mod pcapfile;
pub mod privilege;
pub mod read;
pub mod report;
pub mod thrift_idl;
pub mod workers;

pub use config::Settings;
