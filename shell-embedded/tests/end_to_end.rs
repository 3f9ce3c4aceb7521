//! End to end: reference captures replayed through the appliance's mirror
//! port arrive at a real `redis-server` and at the Elasticsearch bulk-API
//! test server byte for byte as `tapbeat read` prints them.
//!
//! ## The host bridge
//!
//! The appliance's uplink is a smoltcp interface; a test must not need root
//! or touch the host's network. So the uplink device here is one end of an
//! in-memory IP link ([`common::pipe`]); on the other end the test runs a
//! second smoltcp interface (10.0.0.1, the "collector" the appliance
//! connects to) whose TCP socket accepts the appliance's connection and
//! relays its bytes, both ways, to the real server over a std `TcpStream`
//! to 127.0.0.1. The appliance thus speaks real TCP (handshake, windows,
//! retransmission timers) through smoltcp to a real server, and everything
//! stays in this process and on loopback. The bridge also keeps a copy of
//! every byte the appliance sent, so the `_bulk` bodies can be checked byte
//! for byte (the bulk-API test server stores parsed documents). For the
//! DHCP test the link is Ethernet and the bridge also answers DHCP.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, free_port, list, pipe_of, smol_now, tmp, PipeEnd, RedisServer};
use serde_json::Value;
use tapbeat_core::{Protocol, Stats};
use tapbeat_embedded::smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet, SocketStorage};
use tapbeat_embedded::smoltcp::phy::{Device, Medium};
use tapbeat_embedded::smoltcp::socket::{tcp, udp};
use tapbeat_embedded::smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address,
};
use tapbeat_embedded::{Appliance, ApplianceStats, DocSettings, IpConfig, PcapReplay, Resources, Target, UplinkConfig};
use tapbeat_tests::es_server::{EsServer, State};
use tapbeat_tests::{pcaps, settings_for};

/// The appliance's sizes in these tests: small kernel tables (the captures
/// need few), a ring that holds a whole capture's documents.
type Res = Resources<'static, 256, 64, 256, 16, { 256 * 1024 }, { 64 * 1024 }, { 32 * 1024 }, { 16 * 1024 }>;

const COLLECTOR: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const APPLIANCE: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const COLLECTOR_PORT: u16 = 9200;

/// The collector end of the link: accepts the appliance's TCP connection
/// and relays it to `upstream` on loopback.
struct Bridge<'s> {
    iface: Interface,
    dev: PipeEnd,
    sockets: SocketSet<'s>,
    tcp: SocketHandle,
    upstream_addr: SocketAddr,
    upstream: Option<TcpStream>,
    /// Bytes from the server not yet taken by the socket.
    down: Vec<u8>,
    /// Every byte the appliance sent.
    sent: Vec<u8>,
    /// Connections accepted.
    accepted: usize,
    /// A DHCP server's UDP socket (port 67), when the link runs DHCP.
    dhcp: Option<SocketHandle>,
    /// DHCP replies sent.
    dhcp_replies: usize,
}

impl<'s> Bridge<'s> {
    fn new(
        mut dev: PipeEnd,
        storage: &'s mut [SocketStorage<'s>],
        rx: &'s mut [u8],
        tx: &'s mut [u8],
        upstream_addr: SocketAddr,
    ) -> Self {
        let hw = match dev.capabilities().medium {
            Medium::Ethernet => HardwareAddress::Ethernet(EthernetAddress([2, 0, 0, 0, 0, 1])),
            _ => HardwareAddress::Ip,
        };
        let mut iface = Interface::new(IfaceConfig::new(hw), &mut dev, smol_now(Instant::now()));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(COLLECTOR), 24)).unwrap());
        let mut sockets = SocketSet::new(storage);
        let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        socket.listen(COLLECTOR_PORT).unwrap();
        let tcp = sockets.add(socket);
        Bridge {
            iface,
            dev,
            sockets,
            tcp,
            upstream_addr,
            upstream: None,
            down: Vec::new(),
            sent: Vec::new(),
            accepted: 0,
            dhcp: None,
            dhcp_replies: 0,
        }
    }

    /// Also serves DHCP: offers and acknowledges `APPLIANCE`/24 to whoever
    /// asks (the smallest server the appliance's DHCP client accepts).
    fn serve_dhcp(&mut self, meta: &'s mut [udp::PacketMetadata], rx: &'s mut [u8], tx: &'s mut [u8]) {
        let (m_rx, m_tx) = meta.split_at_mut(4);
        let (p_rx, p_tx) = (udp::PacketBuffer::new(m_rx, rx), udp::PacketBuffer::new(m_tx, tx));
        let mut sock = udp::Socket::new(p_rx, p_tx);
        sock.bind(67).unwrap();
        self.dhcp = Some(self.sockets.add(sock));
    }

    fn dhcp_step(&mut self) {
        let Some(h) = self.dhcp else { return };
        let sock = self.sockets.get_mut::<udp::Socket>(h);
        let mut buf = [0u8; 1500];
        while let Ok((n, _)) = sock.recv_slice(&mut buf) {
            let Ok(pkt) = DhcpPacket::new_checked(&buf[..n]) else { continue };
            let Ok(req) = DhcpRepr::parse(&pkt) else { continue };
            let message_type = match req.message_type {
                DhcpMessageType::Discover => DhcpMessageType::Offer,
                DhcpMessageType::Request => DhcpMessageType::Ack,
                _ => continue,
            };
            let reply = DhcpRepr {
                message_type,
                transaction_id: req.transaction_id,
                secs: 0,
                client_hardware_address: req.client_hardware_address,
                client_ip: Ipv4Address::UNSPECIFIED,
                your_ip: APPLIANCE,
                server_ip: COLLECTOR,
                router: None,
                subnet_mask: Some(Ipv4Address::new(255, 255, 255, 0)),
                relay_agent_ip: Ipv4Address::UNSPECIFIED,
                broadcast: false,
                requested_ip: None,
                client_identifier: None,
                server_identifier: Some(COLLECTOR),
                parameter_request_list: None,
                dns_servers: None,
                max_size: None,
                lease_duration: Some(3600),
                renew_duration: None,
                rebind_duration: None,
                additional_options: &[],
            };
            let mut out = vec![0u8; reply.buffer_len()];
            reply.emit(&mut DhcpPacket::new_unchecked(&mut out[..])).unwrap();
            sock.send_slice(&out, IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::BROADCAST), 68)).unwrap();
            self.dhcp_replies += 1;
        }
    }

    fn poll(&mut self, now: tapbeat_embedded::smoltcp::time::Instant) -> bool {
        let mut busy = self.iface.poll(now, &mut self.dev, &mut self.sockets)
            != tapbeat_embedded::smoltcp::iface::PollResult::None;
        self.dhcp_step();
        let s = self.sockets.get_mut::<tcp::Socket>(self.tcp);
        if !s.is_open() {
            self.upstream = None;
            self.down.clear();
            s.listen(COLLECTOR_PORT).unwrap();
        }
        if s.state() == tcp::State::Established && self.upstream.is_none() {
            match TcpStream::connect(self.upstream_addr) {
                Ok(up) => {
                    up.set_nonblocking(true).unwrap();
                    up.set_nodelay(true).unwrap();
                    self.upstream = Some(up);
                    self.accepted += 1;
                }
                // The server is down: refuse the appliance's connection too.
                Err(_) => s.abort(),
            }
        }
        if let Some(up) = self.upstream.as_mut() {
            while s.can_recv() {
                let chunk = s.recv(|b| (b.len(), b.to_vec())).unwrap();
                self.sent.extend_from_slice(&chunk);
                write_all_nonblocking(up, &chunk);
                busy = true;
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match up.read(&mut buf) {
                    Ok(0) => {
                        // The server closed: close towards the appliance.
                        s.close();
                        self.upstream = None;
                        break;
                    }
                    Ok(n) => {
                        self.down.extend_from_slice(&buf[..n]);
                        busy = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        s.abort();
                        self.upstream = None;
                        break;
                    }
                }
            }
            if !self.down.is_empty() && s.can_send() {
                let n = s.send_slice(&self.down).unwrap_or(0);
                self.down.drain(..n);
            }
            if s.state() == tcp::State::CloseWait {
                s.close();
                self.upstream = None;
            }
        }
        busy |= self.iface.poll(now, &mut self.dev, &mut self.sockets)
            != tapbeat_embedded::smoltcp::iface::PollResult::None;
        busy
    }
}

fn write_all_nonblocking(w: &mut TcpStream, mut b: &[u8]) {
    while !b.is_empty() {
        match w.write(b) {
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("relay write: {e}"),
        }
    }
}

/// One reference capture and the settings `tapbeat read` uses for it.
struct Case {
    file: &'static str,
    protocol: Protocol,
    ports: &'static [u16],
}

const CASES: &[Case] = &[
    Case { file: "recorded/http/ab_keepalive.pcap", protocol: Protocol::Http, ports: &[8088] },
    Case { file: "recorded/dns/udp_types.pcap", protocol: Protocol::Dns, ports: &[53] },
    Case { file: "recorded/mysql/cli_session.pcap", protocol: Protocol::Mysql, ports: &[13306] },
    Case { file: "recorded/pgsql/psql_session.pcap", protocol: Protocol::Pgsql, ports: &[55432] },
    Case { file: "recorded/redis/session.pcap", protocol: Protocol::Redis, ports: &[6390] },
    Case { file: "recorded/icmp/ping4_lo.pcap", protocol: Protocol::Icmp, ports: &[] },
];

impl Case {
    fn path(&self) -> PathBuf {
        pcaps().join(self.file)
    }

    fn settings(&self) -> tapbeat::Settings {
        settings_for(self.protocol, self.ports)
    }

    /// What `tapbeat read` prints (its real code path), and its counters.
    fn expected(&self) -> (Vec<Vec<u8>>, Stats) {
        let mut out = Vec::new();
        let sum = tapbeat::read::read_files(&[self.path()], &self.settings(), &mut out).unwrap();
        assert!(sum.failures.is_empty(), "{:?}", sum.failures);
        let lines: Vec<Vec<u8>> = out.split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        assert!(!lines.is_empty(), "{}: tapbeat read found no transactions", self.file);
        (lines, sum.engine)
    }
}

/// Replays `case` through an appliance whose uplink reaches `server`
/// through the bridge; returns the appliance's counters and the bytes it
/// sent. `hook` sees the counters after every poll (to break the server at
/// a chosen moment).
fn replay(
    case: &Case,
    target: Target<'static>,
    server: SocketAddr,
    tune: impl FnOnce(&mut UplinkConfig),
    hook: impl FnMut(&ApplianceStats),
) -> (ApplianceStats, Vec<u8>, usize) {
    replay_over(Link::IpStatic, case, target, server, tune, hook)
}

/// The uplink's link and addressing.
#[derive(Clone, Copy, PartialEq)]
enum Link {
    /// Medium-ip, static address.
    IpStatic,
    /// Ethernet (ARP), address from the bridge's DHCP server.
    EthernetDhcp,
}

fn replay_over(
    link: Link,
    case: &Case,
    target: Target<'static>,
    server: SocketAddr,
    tune: impl FnOnce(&mut UplinkConfig),
    mut hook: impl FnMut(&ApplianceStats),
) -> (ApplianceStats, Vec<u8>, usize) {
    let file = std::fs::read(case.path()).unwrap();
    let file: &'static [u8] = Box::leak(file.into_boxed_slice());
    // Built on the heap once, before polling; `'static` like a firmware's.
    let res: &'static mut Res = Box::leak(Box::new(Res::new()));
    let settings = case.settings();
    let docs = DocSettings { engine: settings.core.clone(), schema: settings.schema, shipper: "", tags: &[] };
    let (app_end, bridge_end) = pipe_of(if link == Link::IpStatic { Medium::Ip } else { Medium::Ethernet });
    let (hw, ip) = match link {
        Link::IpStatic => (
            HardwareAddress::Ip,
            IpConfig::Static { address: IpCidr::new(IpAddress::Ipv4(APPLIANCE), 24), gateway: None },
        ),
        Link::EthernetDhcp => (HardwareAddress::Ethernet(EthernetAddress([2, 0, 0, 0, 0, 2])), IpConfig::Dhcp),
    };
    let mut up = UplinkConfig::new(hw, ip, IpEndpoint::new(IpAddress::Ipv4(COLLECTOR), COLLECTOR_PORT), target);
    up.max_batch_docs = 16;
    up.backoff_min = tapbeat_embedded::smoltcp::time::Duration::from_millis(20);
    tune(&mut up);
    let start = Instant::now();
    let mirror = PcapReplay::new(file).unwrap();
    let mut app = Appliance::new(res, mirror, app_end, docs, up, smol_now(start)).unwrap();

    let mut storage = [SocketStorage::EMPTY, SocketStorage::EMPTY];
    let (mut rx, mut tx) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut meta = [udp::PacketMetadata::EMPTY; 8];
    let (mut urx, mut utx) = (vec![0u8; 4096], vec![0u8; 4096]);
    let mut bridge = Bridge::new(bridge_end, &mut storage, &mut rx, &mut tx, server);
    if link == Link::EthernetDhcp {
        bridge.serve_dhcp(&mut meta, &mut urx, &mut utx);
    }
    while !app.is_drained() {
        assert!(start.elapsed() < Duration::from_secs(60), "{}: not delivered in time: {:?}", case.file, app.stats());
        let now = smol_now(start);
        let busy = app.poll(now) | bridge.poll(now);
        hook(&app.stats());
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(!app.mirror().truncated());
    if link == Link::EthernetDhcp {
        assert!(bridge.dhcp_replies >= 2, "offer and ack");
    }
    (app.stats(), bridge.sent, bridge.accepted)
}

/// Runs `f` on a thread with a large stack (debug builds construct the
/// resources on the stack before moving them to the heap).
fn big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(64 << 20).spawn(f).unwrap().join().unwrap();
}

fn check_counters(case: &Case, st: &ApplianceStats, expected: &[Vec<u8>], read_stats: &Stats) {
    assert_eq!(&st.engine, read_stats, "{}: the kernel saw what `tapbeat read` saw", case.file);
    let n = expected.len() as u64;
    assert_eq!(st.shell.docs_queued, n, "{}", case.file);
    assert_eq!(st.shell.docs_sent, n, "{}", case.file);
    assert_eq!((st.shell.ring_dropped, st.shell.docs_oversize, st.shell.request_oversize), (0, 0, 0), "{}", case.file);
    assert_eq!(st.shell.batches_sent, n.div_ceil(16), "{}: batches of 16", case.file);
    assert_eq!((st.ring_docs, st.in_flight), (0, 0));
}

#[test]
fn redis_list_receives_what_tapbeat_read_prints() {
    big_stack(|| {
        let redis = RedisServer::start(free_port(), &tmp("e2e-redis"), &[]);
        for (i, case) in CASES.iter().enumerate() {
            let (expected, read_stats) = case.expected();
            let key: &'static str = Box::leak(format!("tb-{i}").into_boxed_str());
            let (st, _, _) =
                replay(case, Target::Redis { key }, SocketAddr::from(([127, 0, 0, 1], redis.port)), |_| {}, |_| {});
            check_counters(case, &st, &expected, &read_stats);
            assert_eq!(st.shell.send_failures, 0);
            assert_eq!((st.shell.connects, st.shell.reconnects), (1, 0));
            assert_eq!(list(&redis, key), expected, "{}: byte for byte", case.file);
        }
    });
}

/// The `_bulk` requests in `bytes`: (index, document line) per document.
fn bulk_docs(mut bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("request head") + 4;
        let head = std::str::from_utf8(&bytes[..head_end]).unwrap();
        assert!(head.starts_with("POST /_bulk HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Type: application/x-ndjson\r\n"), "{head}");
        let len: usize =
            head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).expect("content-length").parse().unwrap();
        let body = &bytes[head_end..head_end + len];
        assert!(body.ends_with(b"\n"));
        let lines: Vec<&[u8]> = body[..len - 1].split(|&c| c == b'\n').collect();
        for pair in lines.chunks(2) {
            let action: Value = serde_json::from_slice(pair[0]).unwrap();
            out.push((action["index"]["_index"].as_str().unwrap().to_string(), pair[1].to_vec()));
        }
        bytes = &bytes[head_end + len..];
    }
    out
}

#[test]
fn elasticsearch_bulk_receives_what_tapbeat_read_prints_through_429s() {
    big_stack(|| {
        for case in CASES {
            let (expected, read_stats) = case.expected();
            let state = Arc::new(State::default());
            // Two whole-request refusals: the appliance backs off and resends.
            state.faults.bulk_429.store(2, Ordering::Relaxed);
            let srv = EsServer::start("127.0.0.1:0", None, state.clone());
            let target = Target::Elasticsearch { host: "collector:9200", index: "tbapp" };
            let (st, sent, _) = replay(case, target, srv.addr, |_| {}, |_| {});
            check_counters(case, &st, &expected, &read_stats);
            assert_eq!(st.shell.send_failures, 2, "{}: the two 429s", case.file);
            assert_eq!(state.bulk_requests.load(Ordering::Relaxed) as u64, st.shell.batches_sent + 2);

            // Byte for byte on the wire: the accepted requests' documents
            // (after the two refused copies of the first batch).
            let on_wire = bulk_docs(&sent);
            let first = expected.len().min(16);
            let accepted: Vec<&(String, Vec<u8>)> = on_wire.iter().skip(2 * first).collect();
            assert_eq!(accepted.len(), expected.len(), "{}", case.file);
            for ((index, doc), want) in accepted.iter().zip(&expected) {
                assert_eq!(doc, want, "{}: byte for byte", case.file);
                let v: Value = serde_json::from_slice(want).unwrap();
                let day = v["@timestamp"].as_str().unwrap()[..10].replace('-', ".");
                assert_eq!(index, &format!("tbapp-{day}"));
            }
            // What the server stored equals what `tapbeat read` printed.
            let mut stored: Vec<Value> = srv.all_docs().into_iter().map(|(_, d)| d).collect();
            let mut want: Vec<Value> = expected.iter().map(|l| serde_json::from_slice(l).unwrap()).collect();
            let key = |v: &Value| v.to_string();
            stored.sort_by_key(key);
            want.sort_by_key(key);
            assert_eq!(stored, want, "{}", case.file);
        }
    });
}

#[test]
fn redis_down_at_start_then_restarted_midway_loses_nothing() {
    big_stack(|| {
        let case = &CASES[0];
        let (expected, _) = case.expected();
        let port = free_port();
        let dir = tmp("e2e-restart");
        let mut redis: Option<RedisServer> = None;
        let mut queued_while_down = 0;
        let mut restarted = false;
        let (st, _, accepted) = replay(
            case,
            Target::Redis { key: "tbr" },
            SocketAddr::from(([127, 0, 0, 1], port)),
            // One document per request, so that the restart lands mid-capture.
            |u| u.max_batch_docs = 1,
            |st| {
                // Down at first: connections fail, documents wait in the ring.
                if redis.is_none() && st.shell.connect_attempts >= 3 {
                    queued_while_down = st.ring_docs;
                    redis = Some(RedisServer::start(port, &dir, &[]));
                }
                // Killed and restarted while documents are flowing.
                if !restarted && st.shell.docs_sent >= 20 {
                    restarted = true;
                    let dir = redis.take().unwrap().stop();
                    redis = Some(RedisServer::start(port, &dir, &[]));
                }
            },
        );
        assert!(restarted);
        assert!(queued_while_down > 0, "documents waited for the server");
        assert_eq!(st.shell.docs_queued, expected.len() as u64);
        assert_eq!(st.shell.ring_dropped, 0);
        assert!(st.shell.reconnects >= 2, "reconnected after the outages: {st:?}");
        assert!(accepted >= 2);
        // At-least-once: every document, in order; a request in flight when
        // the server died may arrive twice.
        let got = list(&redis.unwrap(), "tbr");
        let mut it = got.iter();
        let missing = expected.iter().filter(|w| !it.any(|g| g == *w)).count();
        assert_eq!(missing, 0, "{st:?}");
        assert!(got.len() <= expected.len() + 1, "{} documents", got.len());
    });
}

#[test]
fn ethernet_uplink_with_dhcp_delivers_byte_for_byte() {
    big_stack(|| {
        let redis = RedisServer::start(free_port(), &tmp("e2e-dhcp"), &[]);
        for case in &CASES[..2] {
            let (expected, read_stats) = case.expected();
            let (st, _, _) = replay_over(
                Link::EthernetDhcp,
                case,
                Target::Redis { key: "tbd" },
                SocketAddr::from(([127, 0, 0, 1], redis.port)),
                |_| {},
                |_| {},
            );
            check_counters(case, &st, &expected, &read_stats);
            assert_eq!(st.shell.dhcp_leases, 1, "{st:?}");
            assert_eq!(list(&redis, "tbd"), expected, "{}: byte for byte", case.file);
            let mut c = client(&redis).get_connection().unwrap();
            let _: () = redis::cmd("DEL").arg("tbd").query(&mut c).unwrap();
        }
    });
}
