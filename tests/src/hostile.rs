//! Hostile traffic, generated: floods, conflicting overlaps, absurd length
//! fields, compression loops and broken frames, each interleaved with a few
//! legitimate transactions that must still come out right. The captures
//! are built frame by frame here (no capture tool needed); the
//! `gen-hostile` binary writes them as pcap files, and
//! `tests/tests/hostile.rs` runs them through the engine.
//!
//! Every capture is deterministic (a fixed-seed generator), Ethernet, and
//! uses the default ports of each protocol, so that `tapbeat read` with its
//! default configuration analyses it.

use std::io::{self, Write};
use std::path::Path;

use tapbeat_core::Timestamp;

/// A generated capture.
pub struct Hostile {
    /// File name stem (`<name>.pcap`).
    pub name: &'static str,
    /// What the attack is, one line.
    pub what: &'static str,
    /// Ethernet frames as captured (possibly cut by the snap length).
    pub frames: Vec<(Timestamp, Vec<u8>)>,
    /// Length of each frame on the wire (larger than the captured bytes
    /// when the snap length cut it).
    pub wire_len: Vec<u32>,
}

impl Hostile {
    /// Writes the capture as a classic pcap file (Ethernet, microseconds).
    pub fn write_pcap(&self, out: &mut impl Write) -> io::Result<()> {
        let snap = self.frames.iter().map(|(_, f)| f.len()).max().unwrap_or(0).max(65535) as u32;
        let mut w = io::BufWriter::new(out);
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&[0; 8])?;
        w.write_all(&snap.to_le_bytes())?;
        w.write_all(&1u32.to_le_bytes())?;
        for ((ts, f), wire) in self.frames.iter().zip(&self.wire_len) {
            let us = ts.as_micros();
            w.write_all(&((us / 1_000_000) as u32).to_le_bytes())?;
            w.write_all(&((us % 1_000_000) as u32).to_le_bytes())?;
            w.write_all(&(f.len() as u32).to_le_bytes())?;
            w.write_all(&(*wire).max(f.len() as u32).to_le_bytes())?;
            w.write_all(f)?;
        }
        w.flush()
    }

    /// Writes `<dir>/<name>.pcap`; returns its path.
    pub fn save(&self, dir: &Path) -> io::Result<std::path::PathBuf> {
        let p = dir.join(format!("{}.pcap", self.name));
        self.write_pcap(&mut std::fs::File::create(&p)?)?;
        Ok(p)
    }
}

/// Every hostile capture, in a fixed order.
pub fn all() -> Vec<Hostile> {
    vec![
        syn_flood(),
        fragment_flood(),
        tcp_overlap_conflicts(),
        seq_jumps_near_wrap(),
        http_huge_content_length(),
        http_huge_headers(),
        dns_compression_loops(),
        length_fields_at_maxima(),
        deep_nesting(),
        vlan_stacks(),
        truncated_snaplen(),
    ]
}

/// A small xorshift generator: deterministic captures without a crate.
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (seed 0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

fn checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in h.chunks(2) {
        sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet in an Ethernet frame (with `vlans` 802.1Q tags), with
/// identification `id` and fragment field `frag` (offset in 8-byte units,
/// 0x2000 = more fragments).
pub fn ipv4(vlans: &[u16], src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    for v in vlans {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(body);
    f
}

/// A TCP segment's header and payload (checksum left zero, as with
/// offload on the capturing host).
pub fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, fl: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, fl, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// A UDP datagram's header and payload.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// Builds a capture: a packet clock and the frames so far.
pub struct Gen {
    /// Packet time of the next frame, in microseconds.
    pub now: u64,
    /// Frames so far.
    pub frames: Vec<(Timestamp, Vec<u8>)>,
    /// Wire lengths (see [`Hostile::wire_len`]).
    pub wire_len: Vec<u32>,
}

impl Default for Gen {
    fn default() -> Self {
        Gen::new()
    }
}

impl Gen {
    /// An empty capture starting at 2026-01-01T00:00:00Z.
    pub fn new() -> Gen {
        Gen { now: 1_767_225_600_000_000, frames: Vec::new(), wire_len: Vec::new() }
    }

    /// Appends a frame 20 µs after the previous one.
    pub fn push(&mut self, f: Vec<u8>) {
        self.now += 20;
        self.wire_len.push(f.len() as u32);
        self.frames.push((Timestamp::from_micros(self.now), f));
    }

    /// Appends a frame cut to `snap` bytes (its wire length kept).
    pub fn push_cut(&mut self, mut f: Vec<u8>, snap: usize) {
        self.now += 20;
        self.wire_len.push(f.len() as u32);
        f.truncate(snap);
        self.frames.push((Timestamp::from_micros(self.now), f));
    }

    /// The capture, named.
    pub fn into_hostile(self, name: &'static str, what: &'static str) -> Hostile {
        Hostile { name, what, frames: self.frames, wire_len: self.wire_len }
    }

    /// A UDP datagram from `src:sport` to `dst:dport`.
    pub fn udp4(&mut self, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) {
        self.push(ipv4(&[], src, dst, 17, 1, 0, &udp(sport, dport, payload)));
    }

    /// A whole TCP connection from `client` to `server`: handshake, then
    /// each `(to_server, bytes)` message in segments of at most 1448 bytes
    /// (acknowledged as a real peer would), then FIN both ways.
    pub fn tcp_conn(&mut self, client: ([u8; 4], u16), server: ([u8; 4], u16), messages: &[(bool, &[u8])]) {
        let mut c = Conn::open(self, client, server, 1_000, 50_000);
        for (to_server, m) in messages {
            c.send(self, *to_server, m);
        }
        c.close(self);
    }
}

/// An open TCP connection being written into a [`Gen`].
pub struct Conn {
    /// Client address and port.
    pub client: ([u8; 4], u16),
    /// Server address and port.
    pub server: ([u8; 4], u16),
    /// Next sequence number of the client and of the server.
    pub seq: [u32; 2],
    /// VLAN tags on every frame.
    pub vlans: Vec<u16>,
}

impl Conn {
    /// Writes the three-way handshake; data starts at `cisn + 1` and
    /// `sisn + 1`.
    pub fn open(g: &mut Gen, client: ([u8; 4], u16), server: ([u8; 4], u16), cisn: u32, sisn: u32) -> Conn {
        Conn::open_vlan(g, client, server, cisn, sisn, &[])
    }

    /// [`Conn::open`] with VLAN tags.
    pub fn open_vlan(
        g: &mut Gen,
        client: ([u8; 4], u16),
        server: ([u8; 4], u16),
        cisn: u32,
        sisn: u32,
        vlans: &[u16],
    ) -> Conn {
        let mut c = Conn { client, server, seq: [cisn, sisn], vlans: vlans.to_vec() };
        c.segment(g, true, cisn, 0, flags::SYN, &[]);
        c.segment(g, false, sisn, cisn.wrapping_add(1), flags::SYN | flags::ACK, &[]);
        c.seq = [cisn.wrapping_add(1), sisn.wrapping_add(1)];
        c.segment(g, true, c.seq[0], c.seq[1], flags::ACK, &[]);
        c
    }

    /// One raw segment (the caller chooses sequence, ack and flags).
    pub fn segment(&self, g: &mut Gen, to_server: bool, seq: u32, ack: u32, fl: u8, payload: &[u8]) {
        let ((sa, sp), (da, dp)) = if to_server { (self.client, self.server) } else { (self.server, self.client) };
        g.push(ipv4(&self.vlans, sa, da, 6, 1, 0, &tcp(sp, dp, seq, ack, fl, payload)));
    }

    /// Sends `data` in order in segments of at most 1448 bytes, each
    /// acknowledged by the peer.
    pub fn send(&mut self, g: &mut Gen, to_server: bool, data: &[u8]) {
        let (d, o) = if to_server { (0, 1) } else { (1, 0) };
        for piece in data.chunks(1448) {
            self.segment(g, to_server, self.seq[d], self.seq[o], flags::PSH | flags::ACK, piece);
            self.seq[d] = self.seq[d].wrapping_add(piece.len() as u32);
            self.segment(g, !to_server, self.seq[o], self.seq[d], flags::ACK, &[]);
        }
    }

    /// FIN from the client, FIN-ACK from the server, last ACK.
    pub fn close(&mut self, g: &mut Gen) {
        self.segment(g, true, self.seq[0], self.seq[1], flags::FIN | flags::ACK, &[]);
        self.seq[0] = self.seq[0].wrapping_add(1);
        self.segment(g, false, self.seq[1], self.seq[0], flags::FIN | flags::ACK, &[]);
        self.seq[1] = self.seq[1].wrapping_add(1);
        self.segment(g, true, self.seq[0], self.seq[1], flags::ACK, &[]);
    }
}

/// Address of legitimate client number `n` (10.1.x.y).
pub fn good_client(n: u16) -> [u8; 4] {
    [10, 1, (n >> 8) as u8, n as u8]
}

/// The web, DNS, ... server every capture talks to.
pub const SERVER: [u8; 4] = [10, 0, 0, 80];

/// A legitimate HTTP GET of `/good/<n>` answered 200 with a short body, on
/// its own connection.
pub fn good_http(g: &mut Gen, n: u16) {
    let req = format!("GET /good/{n} HTTP/1.1\r\nHost: example.test\r\nUser-Agent: legit\r\n\r\n");
    let body = format!("hello {n}\n");
    let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    g.tcp_conn((good_client(n), 30000 + n), (SERVER, 80), &[(true, req.as_bytes()), (false, resp.as_bytes())]);
}

/// Encodes a DNS name as labels.
pub fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.split('.').filter(|l| !l.is_empty()) {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

/// A DNS query (type A) with id `id` for `name`.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(name));
    m.extend_from_slice(&[0, 1, 0, 1]);
    m
}

/// The answer to [`dns_query`]: one A record `ip` (name compressed).
pub fn dns_answer(id: u16, name: &str, ip: [u8; 4]) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(name));
    m.extend_from_slice(&[0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
    m.extend_from_slice(&ip);
    m
}

/// A legitimate DNS exchange over UDP: `good<n>.example.test` → 192.0.2.n.
pub fn good_dns(g: &mut Gen, n: u16) {
    let name = format!("good{n}.example.test");
    let c = good_client(n);
    g.udp4(c, 20000 + n, SERVER, 53, &dns_query(0x4000 + n, &name));
    g.udp4(SERVER, 53, c, 20000 + n, &dns_answer(0x4000 + n, &name, [192, 0, 2, n as u8]));
}

/// A real DNS query (`frag<n>.example.test`) and its answer in two IPv4
/// fragments.
pub fn good_fragmented_dns(g: &mut Gen, n: u16) {
    fragmented_dns(g, n, false);
}

/// [`good_fragmented_dns`], the answer's fragments sent last first when
/// `last_first` (as some stacks send them).
pub fn fragmented_dns(g: &mut Gen, n: u16, last_first: bool) {
    let name = format!("frag{n}.example.test");
    let c = good_client(n);
    g.udp4(c, 20000 + n, SERVER, 53, &dns_query(0x5000 + n, &name));
    let d = udp(53, 20000 + n, &dns_answer(0x5000 + n, &name, [192, 0, 2, n as u8]));
    let id = 0x7000 + n;
    let first = ipv4(&[], SERVER, c, 17, id, 0x2000, &d[..24]);
    let last = ipv4(&[], SERVER, c, 17, id, 3, &d[24..]);
    if last_first {
        g.push(last);
        g.push(first);
    } else {
        g.push(first);
        g.push(last);
    }
}

/// ≥100 000 SYNs from random addresses and ports to the web server's port
/// 80 (more than the default flow table holds), with legitimate HTTP
/// transactions every 20 000 SYNs.
pub fn syn_flood() -> Hostile {
    let mut g = Gen::new();
    let mut rng = Rng::new(0x5f1);
    for i in 0..100_000u32 {
        if i % 20_000 == 10_000 {
            good_http(&mut g, (i / 20_000) as u16);
        }
        let r = rng.next_u64();
        let src = [172, 16 + (r as u8 & 15), (r >> 8) as u8, (r >> 16) as u8];
        let sport = 1024 + (r >> 24) as u16 % 60_000;
        g.push(ipv4(&[], src, SERVER, 6, 1, 0, &tcp(sport, 80, (r >> 32) as u32, 0, flags::SYN, &[])));
    }
    g.into_hostile("syn_flood", "100 000 SYNs from random sources and ports to port 80, five real GETs among them")
}

/// IPv4 fragments of UDP datagrams to the DNS port that never complete (the
/// last fragment never comes), many overlapping each other with different
/// bytes, more sets than the fragment pool has slots, spread over more than
/// the reassembly timeout; legitimate fragmented DNS responses among them.
pub fn fragment_flood() -> Hostile {
    let mut g = Gen::new();
    let mut rng = Rng::new(0xf4a9);
    for i in 0..20_000u32 {
        if i % 4_000 == 2_000 {
            good_fragmented_dns(&mut g, (i / 4_000) as u16);
        }
        let r = rng.next_u64();
        // Forty sources, each with a few ids: hundreds of open sets.
        let src = [172, 20, 0, (r % 40) as u8];
        let id = (r >> 8) as u16 % 8;
        let off = (r >> 16) as u16 % 64;
        let mut body = vec![(r >> 24) as u8; 64];
        if off == 0 {
            body[..8].copy_from_slice(&udp(1234, 53, &[0; 56])[..8]);
        }
        // Overlaps, always with "more fragments": never complete.
        g.push(ipv4(&[], src, SERVER, 17, id, 0x2000 | off, &body));
        // Half a minute passes over the flood: the reassembly timeout fires.
        g.now += 2_000;
    }
    g.into_hostile("fragment_flood", "20 000 overlapping IPv4 fragments of never-completed datagrams")
}

/// A request whose bytes arrive twice with different content: the real
/// request from byte 4 on arrives first (out of order), then a forged
/// whole request (in order) whose path disagrees, then a forged late
/// retransmission. The first copy of each byte wins (as in Linux): the
/// path is `/good/2`, and the four disagreeing bytes are counted.
pub fn tcp_overlap_conflicts() -> Hostile {
    let mut g = Gen::new();
    good_http(&mut g, 1);
    let real = b"GET /good/2 HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let forged = b"GET /evil/2 HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let mut c = Conn::open(&mut g, (good_client(2), 30002), (SERVER, 80), 7_000, 70_000);
    let (s, a) = (c.seq[0], c.seq[1]);
    c.segment(&mut g, true, s + 4, a, flags::PSH | flags::ACK, &real[4..]);
    c.segment(&mut g, true, s, a, flags::PSH | flags::ACK, forged);
    c.seq[0] += real.len() as u32;
    c.segment(&mut g, true, s, a, flags::PSH | flags::ACK, forged);
    c.send(&mut g, false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    c.close(&mut g);
    good_http(&mut g, 3);
    g.into_hostile("tcp_overlap_conflicts", "TCP segments overlapping with conflicting bytes around a real request")
}

/// A connection whose sequence numbers wrap around 2³² inside a request,
/// and segments that jump two gigabytes ahead (sequence space attack).
pub fn seq_jumps_near_wrap() -> Hostile {
    let mut g = Gen::new();
    let path = format!("/good/4?{}", "w".repeat(3000));
    let req = format!("GET {path} HTTP/1.1\r\nHost: example.test\r\n\r\n");
    let mut c = Conn::open(&mut g, (good_client(4), 30004), (SERVER, 80), u32::MAX - 1000, u32::MAX - 10);
    c.send(&mut g, true, req.as_bytes());
    // Segments far ahead in sequence space (and one behind), never filled.
    for jump in [0x7fff_fff0u32, 0x4000_0000, 0x8000_0010] {
        c.segment(&mut g, true, c.seq[0].wrapping_add(jump), c.seq[1], flags::PSH | flags::ACK, b"JUNKJUNK");
    }
    c.send(&mut g, false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    c.close(&mut g);
    good_http(&mut g, 5);
    g.into_hostile("seq_jumps_near_wrap", "sequence numbers wrapping mid-request, segments 2 GB ahead")
}

/// A response announcing 4 GB (and one announcing more than 64 bits hold)
/// that sends a few bytes and closes.
pub fn http_huge_content_length() -> Hostile {
    let mut g = Gen::new();
    good_http(&mut g, 6);
    for (n, len) in [(7u16, "4000000000"), (8, "99999999999999999999999999")] {
        let req = format!("GET /huge/{n} HTTP/1.1\r\nHost: example.test\r\n\r\n");
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\nonly a few bytes");
        g.tcp_conn((good_client(n), 30000 + n), (SERVER, 80), &[(true, req.as_bytes()), (false, resp.as_bytes())]);
    }
    good_http(&mut g, 9);
    g.into_hostile("http_huge_content_length", "Content-Length of 4 GB and of 10^25 with a few bytes sent")
}

/// A request with 1 MB of headers (one 512 KB line and thousands of short
/// ones), then a normal request on the same connection.
pub fn http_huge_headers() -> Hostile {
    let mut g = Gen::new();
    let mut req = String::from("GET /big/10 HTTP/1.1\r\nHost: example.test\r\n");
    req.push_str(&format!("X-Long: {}\r\n", "a".repeat(512 * 1024)));
    while req.len() < 1024 * 1024 {
        req.push_str("X-Many: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n");
    }
    req.push_str("\r\n");
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let next = b"GET /good/10 HTTP/1.1\r\nHost: example.test\r\n\r\n";
    g.tcp_conn(
        (good_client(10), 30010),
        (SERVER, 80),
        &[(true, req.as_bytes()), (false, ok), (true, next), (false, ok)],
    );
    good_http(&mut g, 11);
    g.into_hostile("http_huge_headers", "1 MB of HTTP request headers, then a normal request on the connection")
}

/// DNS responses whose names loop (a pointer to itself, two pointers to
/// each other) or chain through hundreds of pointers.
pub fn dns_compression_loops() -> Hostile {
    let mut g = Gen::new();
    good_dns(&mut g, 12);
    let c = good_client(13);
    // Self loop in the question name.
    let mut m = vec![0x66, 0x01, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1];
    g.udp4(SERVER, 53, c, 20013, &m);
    // Two pointers to each other in an answer.
    m = vec![0x66, 0x02, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(&dns_name("loop.example.test"));
    m.extend_from_slice(&[0, 1, 0, 1]);
    let a = m.len() as u16;
    m.extend_from_slice(&(0xc000 | (a + 2)).to_be_bytes());
    m.extend_from_slice(&(0xc000 | a).to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    g.udp4(SERVER, 53, c, 20013, &m);
    // A chain of 300 pointers, each to the one before, ending at a name.
    m = vec![0x66, 0x03, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(&dns_name("chain.example.test"));
    m.extend_from_slice(&[0, 1, 0, 1]);
    let mut prev = 12u16;
    for _ in 0..300 {
        let here = m.len() as u16;
        m.extend_from_slice(&(0xc000 | prev).to_be_bytes());
        prev = here;
    }
    // The answer's name is the last pointer of the chain.
    m.extend_from_slice(&(0xc000 | prev).to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    g.udp4(SERVER, 53, c, 20013, &m);
    // The same over TCP (two-byte length prefix), self loop.
    let mut t = vec![0, 18];
    t.extend_from_slice(&[0x66, 0x04, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]);
    let q = dns_query(0x6604, "x.example.test");
    let mut tq = (q.len() as u16).to_be_bytes().to_vec();
    tq.extend_from_slice(&q);
    g.tcp_conn((c, 20014), (SERVER, 53), &[(true, &tq), (false, &t)]);
    good_dns(&mut g, 14);
    g.into_hostile("dns_compression_loops", "DNS names with pointer loops and a 300-pointer chain, UDP and TCP")
}

/// Requests whose length field is at its maximum, each sending a few bytes
/// before its connection closes: `(server port, client bytes)` for a MySQL
/// packet of 2²⁴−1 bytes, a PostgreSQL message, a MongoDB message and a
/// framed Thrift call of 2³¹−1 bytes, and a Thrift method name of 2³¹−1
/// bytes.
pub fn length_field_attacks() -> Vec<(u16, Vec<u8>)> {
    let mut my = vec![0xff, 0xff, 0xff, 0, 0x03];
    my.extend_from_slice(b"select 1");
    let mut pg = vec![b'Q', 0x7f, 0xff, 0xff, 0xff];
    pg.extend_from_slice(b"select 1\0");
    let mut mo = 0x7fff_ffffu32.to_le_bytes().to_vec();
    mo.extend_from_slice(&1u32.to_le_bytes());
    mo.extend_from_slice(&0u32.to_le_bytes());
    mo.extend_from_slice(&2013u32.to_le_bytes());
    mo.extend_from_slice(&[0; 12]);
    let mut th = 0x7fff_ffffu32.to_be_bytes().to_vec();
    th.extend_from_slice(&[0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4]);
    th.extend_from_slice(b"ping");
    let mut th2 = vec![0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff];
    th2.extend_from_slice(b"pingpingping");
    vec![(3306, my), (5432, pg), (27017, mo), (9090, th), (9090, th2)]
}

/// [`length_field_attacks`], each on its own connection, then one
/// legitimate transaction of each protocol.
pub fn length_fields_at_maxima() -> Hostile {
    let mut g = Gen::new();
    for (i, (port, m)) in length_field_attacks().iter().enumerate() {
        g.tcp_conn((good_client(20), 21000 + i as u16), (SERVER, *port), &[(true, m)]);
    }
    good_mysql(&mut g, 21);
    good_pgsql(&mut g, 22);
    good_mongodb(&mut g, 23);
    good_thrift(&mut g, 24);
    g.into_hostile("length_fields_at_maxima", "MySQL, PostgreSQL, MongoDB and Thrift length fields at their maxima")
}

/// A legitimate MySQL `select 1` (no handshake captured) answered OK.
pub fn good_mysql(g: &mut Gen, n: u16) {
    let mut q = vec![9, 0, 0, 0, 0x03];
    q.extend_from_slice(b"select 1");
    let ok = [7, 0, 0, 1, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];
    g.tcp_conn((good_client(n), 31000 + n), (SERVER, 3306), &[(true, &q), (false, &ok)]);
}

/// A legitimate PostgreSQL simple query `select 1`, answered with
/// CommandComplete and ReadyForQuery.
pub fn good_pgsql(g: &mut Gen, n: u16) {
    let mut q = vec![b'Q', 0, 0, 0, 13];
    q.extend_from_slice(b"select 1\0");
    let mut r = vec![b'C', 0, 0, 0, 13];
    r.extend_from_slice(b"SELECT 1\0");
    r.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
    g.tcp_conn((good_client(n), 31000 + n), (SERVER, 5432), &[(true, &q), (false, &r)]);
}

/// A BSON document with one int32 field `key` = `v`.
fn bson_int(key: &str, v: i32) -> Vec<u8> {
    let mut d = vec![0x10];
    d.extend_from_slice(key.as_bytes());
    d.push(0);
    d.extend_from_slice(&v.to_le_bytes());
    wrap_bson(&d)
}

fn wrap_bson(elements: &[u8]) -> Vec<u8> {
    let mut d = ((elements.len() + 5) as u32).to_le_bytes().to_vec();
    d.extend_from_slice(elements);
    d.push(0);
    d
}

/// A MongoDB OP_MSG message (body section only).
fn op_msg(request_id: u32, response_to: u32, doc: &[u8]) -> Vec<u8> {
    let mut m = ((16 + 4 + 1 + doc.len()) as u32).to_le_bytes().to_vec();
    m.extend_from_slice(&request_id.to_le_bytes());
    m.extend_from_slice(&response_to.to_le_bytes());
    m.extend_from_slice(&2013u32.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.push(0);
    m.extend_from_slice(doc);
    m
}

/// A legitimate MongoDB `ping` (OP_MSG) answered `ok: 1`.
pub fn good_mongodb(g: &mut Gen, n: u16) {
    let mut cmd = vec![0x10];
    cmd.extend_from_slice(b"ping\0");
    cmd.extend_from_slice(&1i32.to_le_bytes());
    cmd.push(0x02);
    cmd.extend_from_slice(b"$db\0");
    cmd.extend_from_slice(&6u32.to_le_bytes());
    cmd.extend_from_slice(b"admin\0");
    let q = op_msg(100 + n as u32, 0, &wrap_bson(&cmd));
    let r = op_msg(900 + n as u32, 100 + n as u32, &bson_int("ok", 1));
    g.tcp_conn((good_client(n), 31000 + n), (SERVER, 27017), &[(true, &q), (false, &r)]);
}

/// A Thrift binary-protocol message (strict, unframed) with `body` after
/// the header.
fn thrift_msg(kind: u8, name: &str, seqid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0x80, 0x01, 0x00, kind];
    m.extend_from_slice(&(name.len() as u32).to_be_bytes());
    m.extend_from_slice(name.as_bytes());
    m.extend_from_slice(&seqid.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A legitimate Thrift call `ping()` answered by an empty reply.
pub fn good_thrift(g: &mut Gen, n: u16) {
    let q = thrift_msg(1, "ping", n as u32, &[0]);
    let r = thrift_msg(2, "ping", n as u32, &[0]);
    g.tcp_conn((good_client(n), 31000 + n), (SERVER, 9090), &[(true, &q), (false, &r)]);
}

/// A MongoDB query whose document nests 10 000 levels deep, and a Thrift
/// call whose argument struct nests 10 000 levels deep.
pub fn deep_nesting() -> Hostile {
    let mut g = Gen::new();
    let depth = 10_000;
    let mut doc = bson_int("x", 1);
    for _ in 0..depth {
        let mut e = vec![0x03, b'a', 0];
        e.extend_from_slice(&doc);
        doc = wrap_bson(&e);
    }
    let mut cmd = vec![0x03];
    cmd.extend_from_slice(b"find\0");
    cmd.extend_from_slice(&doc);
    let q = op_msg(7, 0, &wrap_bson(&cmd));
    g.tcp_conn((good_client(30), 32000), (SERVER, 27017), &[(true, &q)]);
    // Thrift: field 1 of type struct, 10 000 times, then the stops.
    let mut body = Vec::new();
    for _ in 0..depth {
        body.extend_from_slice(&[12, 0, 1]);
    }
    body.extend(std::iter::repeat_n(0u8, depth + 1));
    let call = thrift_msg(1, "deep", 77, &body);
    g.tcp_conn((good_client(31), 32001), (SERVER, 9090), &[(true, &call)]);
    good_mongodb(&mut g, 32);
    good_thrift(&mut g, 33);
    g.into_hostile("deep_nesting", "BSON and Thrift structures nested 10 000 levels deep")
}

/// Frames with 1 to 40 stacked 802.1Q tags (more than any decoder should
/// walk), then a legitimate HTTP transaction over two tags (QinQ).
pub fn vlan_stacks() -> Hostile {
    let mut g = Gen::new();
    for n in 1..=40u16 {
        let tags: Vec<u16> = (0..n).map(|i| 100 + i).collect();
        let body = udp(20040, 53, &dns_query(0x7700 + n, "vlan.example.test"));
        g.push(ipv4(&tags, good_client(40), SERVER, 17, 1, 0, &body));
    }
    let req = b"GET /good/41 HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let mut c = Conn::open_vlan(&mut g, (good_client(41), 30041), (SERVER, 80), 5, 500, &[10, 20]);
    c.send(&mut g, true, req);
    c.send(&mut g, false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    c.close(&mut g);
    g.into_hostile("vlan_stacks", "1 to 40 stacked VLAN tags, and HTTP over QinQ")
}

/// Frames cut by a snap length inside every header (Ethernet, VLAN, IP,
/// TCP, payload), then legitimate transactions.
pub fn truncated_snaplen() -> Hostile {
    let mut g = Gen::new();
    let req = b"GET /cut HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let full = ipv4(&[7], good_client(50), SERVER, 6, 1, 0, &tcp(30050, 80, 1, 1, flags::PSH | flags::ACK, req));
    for snap in [0, 5, 13, 15, 17, 20, 30, 38, 45, 60, 70] {
        g.push_cut(full.clone(), snap);
    }
    let dns = ipv4(&[], good_client(51), SERVER, 17, 1, 0, &udp(20051, 53, &dns_query(0x7751, "cut.example.test")));
    for snap in [20, 34, 40, 50] {
        g.push_cut(dns.clone(), snap);
    }
    good_http(&mut g, 52);
    good_dns(&mut g, 53);
    g.into_hostile("truncated_snaplen", "frames cut by the snap length inside each header")
}
