//! A 5-tuple reused by a new connection (a client port recycled after
//! TIME_WAIT, as load generators do): two flows created, two closed, each
//! with its transaction.

use tapbeat_core::{LinkType, Timestamp};
use tapbeat_tests::{http_settings, run_frames, tcp_frame};

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

fn seg(to_server: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = tcp_frame(80, 1, to_server, seq, payload);
    f[42..46].copy_from_slice(&ack.to_be_bytes());
    f[47] = flags;
    f
}

/// One whole HTTP connection with client ISN `c` and server ISN `s`.
fn connection(c: u32, s: u32) -> Vec<Vec<u8>> {
    let req = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (c1, s1) = (c + 1, s + 1);
    let (c2, s2) = (c1 + req.len() as u32, s1 + resp.len() as u32);
    vec![
        seg(true, c, 0, SYN, b""),
        seg(false, s, c1, SYN | ACK, b""),
        seg(true, c1, s1, ACK, b""),
        seg(true, c1, s1, ACK | PSH, req),
        seg(false, s1, c2, ACK | PSH, resp),
        seg(true, c2, s2, ACK | FIN, b""),
        seg(false, s2, c2 + 1, ACK | FIN, b""),
        seg(true, c2 + 1, s2 + 1, ACK, b""),
    ]
}

#[test]
fn a_reused_five_tuple_is_a_second_flow_and_both_are_closed() {
    let frames: Vec<(Timestamp, Vec<u8>)> = connection(1000, 5000)
        .into_iter()
        .chain(connection(900_000, 7000))
        .enumerate()
        .map(|(i, f)| (Timestamp::from_micros(1_000_000 + i as u64 * 1000), f))
        .collect();
    let (docs, stats) = run_frames(&http_settings(&[80]), LinkType::ETHERNET, &frames);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert!(docs.iter().all(|d| d["status"] == "OK" && d["path"] == "/x"), "{docs:?}");
    assert_eq!((stats.flows_created, stats.flows_closed), (2, 2), "{stats:?}");
}
