//! Unit tests of the Thrift analyzer.

use super::*;

#[test]
fn txn_fits_a_pending_slot() {
    assert!(core::mem::size_of::<ThriftTxn>() <= core::mem::size_of::<crate::proto::http::HttpTxn>());
    assert!(core::mem::size_of::<ThriftParser>() <= core::mem::size_of::<crate::proto::http::HttpParser>());
}
