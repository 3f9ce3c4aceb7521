//! Arbitrary frames of arbitrary link types at arbitrary times into an
//! engine with every analyzer on and tiny tables: no panic, tables within
//! bounds, everything released at the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapbeat_core::{Config, Engine, LinkType, OwnedStorageArrays, Timestamp, Transaction};

fuzz_target!(|data: &[u8]| {
    let mut mem = Box::new(OwnedStorageArrays::<8, 8, 8, 2>::new());
    let mut engine = Engine::new(Config::default(), mem.storage());
    let mut buf = vec![0u8; 1 << 16];
    let cfg = Config::default();
    let mut sink = |t: &Transaction| {
        let _ = tapbeat_core::json::write_json(t, &cfg, &tapbeat_core::json::JsonOptions::default(), &mut buf);
    };
    // Records: [link: u8][dt: u8][len: u16 le][frame...]
    let links = [0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276];
    let mut rest = data;
    let mut ts = 1_000_000u64;
    while rest.len() >= 4 {
        let link = LinkType(links[rest[0] as usize % links.len()]);
        ts += rest[1] as u64 * 10_000;
        let len = (u16::from_le_bytes([rest[2], rest[3]]) as usize).min(rest.len() - 4);
        let frame = &rest[4..4 + len];
        engine.process(Timestamp::from_micros(ts), link, frame, &mut sink);
        assert!(engine.active_flows() <= 8 && engine.pending_transactions() <= 8 && engine.blocks_in_use() <= 8);
        rest = &rest[4 + len..];
    }
    engine.finish(&mut sink);
    assert_eq!((engine.active_flows(), engine.pending_transactions(), engine.blocks_in_use()), (0, 0, 0));
});
