//! The kernel's JSON writer against serde_json's parser: whatever string or
//! number goes in, the document parses back to the same value.

use proptest::prelude::*;
use tapbeat_core::json::writer::to_slice;

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let mut buf = vec![0u8; 4096 * 8];
    let n = to_slice(v, &mut buf).unwrap();
    let back: T =
        serde_json::from_slice(&buf[..n]).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&buf[..n])));
    assert_eq!(&back, v);
}

proptest! {
    #[test]
    fn strings_round_trip(s in any::<String>(), ctl in proptest::collection::vec(0u8..0x20, 0..8)) {
        let mut s = s;
        s.extend(ctl.into_iter().map(char::from));
        s.push_str("\"\\");
        roundtrip(&s);
    }

    #[test]
    fn integers_round_trip(u in any::<u64>(), i in any::<i64>(), small in any::<u16>()) {
        roundtrip(&u);
        roundtrip(&i);
        roundtrip(&small);
        roundtrip(&vec![u, u / 10, u % 1000]);
    }
}

#[test]
fn a_document_that_does_not_fit_is_refused() {
    let mut buf = [0u8; 5];
    assert!(to_slice("too long", &mut buf).is_err());
}
