//! The Thrift analyzer through the engine: see `common/analyzer.rs`.
#![no_main]

#[path = "../common/analyzer.rs"]
mod analyzer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| analyzer::run(tapbeat_core::Protocol::Thrift, data));
