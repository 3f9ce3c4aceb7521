//! The appliance: a mirror device into the kernel, documents into a ring,
//! the ring out through the uplink — all in memory fixed at build time.

use core::mem::size_of;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{Device, Medium, RxToken};
use smoltcp::socket::{dhcpv4, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpCidr};
use tapbeat_core::json::{write_json_cached, DocCache, JsonOptions, Schema};
use tapbeat_core::{Config, Engine, LinkType, OwnedStorageArrays, Sink, Stats, StorageSizes, Timestamp, Transaction};

use crate::ring::{DocRing, Pushed};
use crate::uplink::{IpConfig, Uplink, UplinkConfig};

/// A smoltcp device used as the mirror port: receive only. Beyond
/// [`Device`], it may say what it captures and when each frame was taken.
pub trait MirrorPort: Device {
    /// Link type of the frames. Default: from the device's medium
    /// (Ethernet, or raw IP for a medium-ip device).
    fn link_type(&self) -> LinkType {
        #[allow(unreachable_patterns)] // more media with more smoltcp features
        match self.capabilities().medium {
            Medium::Ethernet => LinkType::ETHERNET,
            Medium::Ip => LinkType::RAW,
            _ => LinkType(0),
        }
    }

    /// Capture time of the frame the next `receive` will return, when the
    /// hardware (or the file) stamps frames. Default `None`: the frame gets
    /// the `now` of the poll that receives it.
    fn next_timestamp(&self) -> Option<Instant> {
        None
    }

    /// The input is over (a replayed capture ended): the appliance then
    /// finishes the kernel's open transactions once, as `tapbeat read` does
    /// at the end of a file. Default `false` (a port never ends).
    fn at_end(&self) -> bool {
        false
    }
}

/// Bytes of the uplink TCP socket's receive buffer (replies are small and
/// read as they come).
pub const TCP_RX: usize = 2048;

/// Frames taken from the mirror port per [`Appliance::poll`] before the
/// uplink gets its turn.
pub const FRAMES_PER_POLL: usize = 64;

/// All the large memory of an appliance, for one `static`. The const
/// parameters fix every size at build time:
///
/// * `FLOWS`, `BLOCKS`, `PENDING`, `FRAGS`: the kernel's tables (see
///   [`StorageSizes`]; a block is 4 KiB of stream buffer);
/// * `RING`: bytes of the document ring between analysis and uplink;
/// * `BATCH`: bytes of one uplink request (head and documents);
/// * `DOC`: bytes of the JSON scratch buffer: a larger document is
///   counted in [`ShellStats::docs_oversize`] and skipped;
/// * `TX`: bytes of the uplink TCP socket's send buffer.
///
/// The byte buffers' sizes must be multiples of 8 and `FLOWS` even, so
/// that the whole structure has no padding and [`Resources::memory_budget`]
/// is exact (checked at compile time). The kernel's tables can live in
/// `.bss`: they start uninitialised and the engine writes an element when
/// it first uses it.
pub struct Resources<
    'a,
    const FLOWS: usize,
    const BLOCKS: usize,
    const PENDING: usize,
    const FRAGS: usize,
    const RING: usize,
    const BATCH: usize,
    const DOC: usize,
    const TX: usize,
> {
    engine: OwnedStorageArrays<FLOWS, BLOCKS, PENDING, FRAGS>,
    sockets: [SocketStorage<'a>; 2],
    ring: [u8; RING],
    batch: [u8; BATCH],
    doc: [u8; DOC],
    tcp_rx: [u8; TCP_RX],
    tcp_tx: [u8; TX],
}

impl<
        'a,
        const FLOWS: usize,
        const BLOCKS: usize,
        const PENDING: usize,
        const FRAGS: usize,
        const RING: usize,
        const BATCH: usize,
        const DOC: usize,
        const TX: usize,
    > Resources<'a, FLOWS, BLOCKS, PENDING, FRAGS, RING, BATCH, DOC, TX>
{
    const ALIGNED: () = assert!(
        RING % 8 == 0 && BATCH % 8 == 0 && DOC % 8 == 0 && TX % 8 == 0 && FLOWS % 2 == 0,
        "Resources: RING, BATCH, DOC and TX must be multiples of 8, FLOWS even (4-byte hash-chain heads)"
    );

    /// Bytes of this structure, summed from its parts: kernel tables, socket
    /// slots, ring, batch, JSON scratch and socket buffers.
    pub const BYTES: usize = StorageSizes { flows: FLOWS, blocks: BLOCKS, pending: PENDING, frags: FRAGS }.bytes()
        + 2 * size_of::<SocketStorage<'static>>()
        + RING
        + BATCH
        + DOC
        + TCP_RX
        + TX;

    /// Fresh resources. On an appliance, build them in place in a static:
    /// `RES.init_with(Resources::new)` with `static_cell::StaticCell`.
    pub fn new() -> Self {
        let () = Self::ALIGNED;
        Resources {
            engine: OwnedStorageArrays::new(),
            sockets: [SocketStorage::EMPTY, SocketStorage::EMPTY],
            ring: [0; RING],
            batch: [0; BATCH],
            doc: [0; DOC],
            tcp_rx: [0; TCP_RX],
            tcp_tx: [0; TX],
        }
    }

    /// The whole memory of an appliance with mirror device `M` and uplink
    /// device `U`: these resources plus the [`Appliance`] state (engine,
    /// interface, sockets, counters, the devices themselves). Nothing else
    /// is used: no heap, no buffers on the stack that outlive a call.
    pub const fn memory_budget<M: MirrorPort, U: Device>() -> usize {
        Self::BYTES + size_of::<Appliance<'static, M, U>>()
    }
}

impl<
        const FLOWS: usize,
        const BLOCKS: usize,
        const PENDING: usize,
        const FRAGS: usize,
        const RING: usize,
        const BATCH: usize,
        const DOC: usize,
        const TX: usize,
    > Default for Resources<'_, FLOWS, BLOCKS, PENDING, FRAGS, RING, BATCH, DOC, TX>
{
    fn default() -> Self {
        Self::new()
    }
}

/// How documents are written, as in the std shell's settings.
#[derive(Clone, Debug)]
pub struct DocSettings<'a> {
    /// The kernel's configuration (protocols, ports, timeouts).
    pub engine: Config,
    /// Field layout.
    pub schema: Schema,
    /// Sensor name (`shipper`); omitted when empty.
    pub shipper: &'a str,
    /// Tags added to every document.
    pub tags: &'a [&'a str],
}

impl Default for DocSettings<'_> {
    fn default() -> Self {
        DocSettings { engine: Config::default(), schema: Schema::Packetbeat, shipper: "", tags: &[] }
    }
}

/// The shell's own counters (the kernel's are in [`Stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellStats {
    /// Documents serialised into the ring.
    pub docs_queued: u64,
    /// Documents larger than the JSON buffer or the ring: never queued.
    pub docs_oversize: u64,
    /// Queued documents too large for one uplink request (the batch
    /// buffer): dropped. With these, `docs_queued` = `ring_docs` +
    /// `ring_dropped` + `request_oversize` + `docs_sent` + `in_flight`.
    pub request_oversize: u64,
    /// Oldest documents dropped because the ring was full.
    pub ring_dropped: u64,
    /// Documents the server accepted.
    pub docs_sent: u64,
    /// Requests the server accepted.
    pub batches_sent: u64,
    /// Accepted `_bulk` requests whose reply reported per-item errors.
    pub bulk_item_errors: u64,
    /// Failed requests: refusals, lost connections, timeouts, bad replies.
    pub send_failures: u64,
    /// Connection attempts.
    pub connect_attempts: u64,
    /// Attempts that failed (refused, timed out).
    pub connect_failures: u64,
    /// Connections established.
    pub connects: u64,
    /// Connections established after the first one.
    pub reconnects: u64,
    /// DHCP leases acquired.
    pub dhcp_leases: u64,
}

/// Everything the user can read about a running appliance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplianceStats {
    /// The kernel's counters.
    pub engine: Stats,
    /// The shell's counters.
    pub shell: ShellStats,
    /// Documents waiting in the ring.
    pub ring_docs: usize,
    /// Bytes used in the ring.
    pub ring_bytes: usize,
    /// Documents in the request waiting to be accepted.
    pub in_flight: usize,
    /// The uplink is connected.
    pub connected: bool,
}

/// Why an appliance could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SetupError {
    /// The uplink's hardware address is not of the uplink device's medium
    /// (an Ethernet address on a medium-ip device, or the reverse).
    MediumMismatch,
    /// The Elasticsearch `host` is longer than [`MAX_HOST`] bytes (the
    /// request head must fit its reserved space).
    HostTooLong,
}

/// Longest Elasticsearch `Host` value accepted.
pub const MAX_HOST: usize = crate::uplink::MAX_HOST;

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SetupError::MediumMismatch => "uplink hardware address does not match the uplink device's medium",
            SetupError::HostTooLong => "Elasticsearch host name too long",
        })
    }
}

impl core::error::Error for SetupError {}

/// Serialises transactions into the ring; counts what does not fit.
struct DocSink<'s, 'a> {
    cfg: &'s Config,
    opts: JsonOptions<'s>,
    doc: &'s mut [u8],
    cache: &'s mut DocCache,
    ring: &'s mut DocRing<'a>,
    stats: &'s mut ShellStats,
}

impl Sink for DocSink<'_, '_> {
    fn on_transaction(&mut self, txn: &Transaction) {
        let Ok(n) = write_json_cached(txn, self.cfg, &self.opts, self.cache, self.doc) else {
            self.stats.docs_oversize = self.stats.docs_oversize.saturating_add(1);
            return;
        };
        match self.ring.push(self.doc.get(..n).unwrap_or(&[])) {
            Pushed::Stored { dropped } => {
                self.stats.docs_queued = self.stats.docs_queued.saturating_add(1);
                if dropped > 0 {
                    self.stats.ring_dropped = self.stats.ring_dropped.saturating_add(dropped as u64);
                }
            }
            Pushed::TooLarge => self.stats.docs_oversize = self.stats.docs_oversize.saturating_add(1),
        }
    }
}

/// The kernel's clock: capture timestamps when the mirror gives them,
/// extrapolated with `now` while the port is idle.
#[derive(Clone, Copy, Debug)]
struct CaptureClock {
    /// Capture time of the last frame and the `now` it arrived at.
    last: Option<(Timestamp, Instant)>,
}

fn to_kernel(t: Instant) -> Timestamp {
    Timestamp::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

impl CaptureClock {
    fn at(&self, now: Instant) -> Timestamp {
        match self.last {
            Some((ts, at)) => {
                // smoltcp's `Instant - Instant` is the absolute difference.
                let idle = if now > at { (now - at).total_micros() } else { 0 };
                Timestamp::from_micros(ts.as_micros().saturating_add(idle))
            }
            None => to_kernel(now),
        }
    }
}

/// The appliance: call [`poll`](Appliance::poll) from a loop or a task.
/// Put it in a `static` too (its size is part of
/// [`Resources::memory_budget`]).
pub struct Appliance<'a, M: MirrorPort, U: Device> {
    mirror: M,
    uplink_dev: U,
    engine: Engine<'a>,
    json_cfg: Config,
    schema: Schema,
    shipper: &'a str,
    tags: &'a [&'a str],
    doc: &'a mut [u8],
    /// Head fields and timestamp text shared by consecutive documents.
    cache: DocCache,
    ring: DocRing<'a>,
    iface: Interface,
    sockets: SocketSet<'a>,
    dhcp: Option<SocketHandle>,
    uplink: Uplink<'a>,
    stats: ShellStats,
    clock: CaptureClock,
    finished: bool,
}

impl<'a, M: MirrorPort, U: Device> Appliance<'a, M, U> {
    /// An appliance over `res`, capturing from `mirror` and shipping through
    /// `uplink_dev`. `now` starts the uplink interface's clock.
    #[allow(clippy::too_many_arguments)]
    pub fn new<
        const FLOWS: usize,
        const BLOCKS: usize,
        const PENDING: usize,
        const FRAGS: usize,
        const RING: usize,
        const BATCH: usize,
        const DOC: usize,
        const TX: usize,
    >(
        res: &'a mut Resources<'a, FLOWS, BLOCKS, PENDING, FRAGS, RING, BATCH, DOC, TX>,
        mirror: M,
        mut uplink_dev: U,
        docs: DocSettings<'a>,
        uplink: UplinkConfig<'a>,
        now: Instant,
    ) -> Result<Self, SetupError> {
        let medium_ok = matches!(
            (uplink.hardware_addr, uplink_dev.capabilities().medium),
            (HardwareAddress::Ethernet(_), Medium::Ethernet) | (HardwareAddress::Ip, Medium::Ip)
        );
        if !medium_ok {
            return Err(SetupError::MediumMismatch);
        }
        if let crate::uplink::Target::Elasticsearch { host, .. } = uplink.target {
            if host.len() > MAX_HOST {
                return Err(SetupError::HostTooLong);
            }
        }
        let Resources { engine, sockets, ring, batch, doc, tcp_rx, tcp_tx } = res;

        let mut cfg = IfaceConfig::new(uplink.hardware_addr);
        cfg.random_seed = uplink.random_seed;
        let mut iface = Interface::new(cfg, &mut uplink_dev, now);
        let mut sockets = SocketSet::new(&mut sockets[..]);
        let tcp = sockets
            .add(tcp::Socket::new(tcp::SocketBuffer::new(&mut tcp_rx[..]), tcp::SocketBuffer::new(&mut tcp_tx[..])));
        let mut dhcp = None;
        match uplink.ip {
            IpConfig::Static { address, gateway } => {
                iface.update_ip_addrs(|a| {
                    let _ = a.push(address);
                });
                if let Some(gw) = gateway {
                    let _ = iface.routes_mut().add_default_ipv4_route(gw);
                }
            }
            IpConfig::Dhcp => dhcp = Some(sockets.add(dhcpv4::Socket::new())),
        }
        let json_cfg = docs.engine.clone();
        Ok(Appliance {
            mirror,
            uplink_dev,
            engine: Engine::new(docs.engine, engine.storage()),
            json_cfg,
            schema: docs.schema,
            shipper: docs.shipper,
            tags: docs.tags,
            doc: &mut doc[..],
            cache: DocCache::new(),
            ring: DocRing::new(&mut ring[..]),
            iface,
            sockets,
            dhcp,
            uplink: Uplink::new(uplink, tcp, &mut batch[..]),
            stats: ShellStats::default(),
            clock: CaptureClock { last: None },
            finished: false,
        })
    }

    /// Does all the work that is due at `now` and returns: up to
    /// [`FRAMES_PER_POLL`] mirror frames into the kernel (or, with none
    /// waiting, the kernel's timeouts), then the uplink (DHCP, connection,
    /// one request's progress). Returns whether anything happened; a bare
    /// loop may sleep a little when it did not. `now` must not go back.
    pub fn poll(&mut self, now: Instant) -> bool {
        let frames = self.capture(now);
        let mut busy = frames > 0;

        busy |= self.iface.poll(now, &mut self.uplink_dev, &mut self.sockets) != smoltcp::iface::PollResult::None;
        self.dhcp_events(now);
        let day = self.fallback_day();
        self.uplink.step(now, &mut self.iface, &mut self.sockets, &mut self.ring, &mut self.stats, &day);
        // Push out what the step queued without waiting for the next poll.
        busy |= self.iface.poll(now, &mut self.uplink_dev, &mut self.sockets) != smoltcp::iface::PollResult::None;
        busy
    }

    /// Mirror frames into the kernel; returns how many.
    fn capture(&mut self, now: Instant) -> usize {
        let Appliance {
            mirror, engine, json_cfg, schema, shipper, tags, doc, cache, ring, stats, clock, finished, ..
        } = self;
        let opts = JsonOptions { schema: *schema, shipper, tags };
        let mut sink = DocSink { cfg: json_cfg, opts, doc, cache, ring, stats };
        let mut frames = 0;
        while frames < FRAMES_PER_POLL {
            let stamp = mirror.next_timestamp();
            let link = mirror.link_type();
            let Some((rx, _)) = mirror.receive(now) else { break };
            let ts = stamp.map_or_else(|| to_kernel(now), to_kernel);
            rx.consume(|frame| engine.process(ts, link, frame, &mut sink));
            clock.last = stamp.map(|_| (ts, now));
            *finished = false;
            frames += 1;
        }
        if frames == 0 && !*finished {
            if mirror.at_end() {
                engine.finish(&mut sink);
                *finished = true;
            } else {
                engine.advance(clock.at(now), &mut sink);
            }
        }
        frames
    }

    fn dhcp_events(&mut self, now: Instant) {
        let Some(h) = self.dhcp else { return };
        match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            Some(dhcpv4::Event::Configured(c)) => {
                self.iface.update_ip_addrs(|a| {
                    a.clear();
                    let _ = a.push(IpCidr::Ipv4(c.address));
                });
                match c.router {
                    Some(r) => {
                        let _ = self.iface.routes_mut().add_default_ipv4_route(r);
                    }
                    None => {
                        self.iface.routes_mut().remove_default_ipv4_route();
                    }
                }
                self.stats.dhcp_leases = self.stats.dhcp_leases.saturating_add(1);
                self.uplink.has_ip = true;
                debug!("uplink: DHCP lease");
            }
            Some(dhcpv4::Event::Deconfigured) => {
                self.iface.update_ip_addrs(|a| a.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                self.uplink.has_ip = false;
                self.uplink.link_lost(now, &mut self.sockets);
                warn!("uplink: DHCP lease lost");
            }
            None => {}
        }
    }

    /// `YYYY.MM.DD` of the capture clock, for documents without a readable
    /// `@timestamp` (none from the kernel; a guard, as in the std shell).
    fn fallback_day(&self) -> [u8; 10] {
        let ts = self.clock.last.map_or(Timestamp::ZERO, |(ts, _)| ts);
        ts.index_day().unwrap_or(*b"1970.01.01")
    }

    /// Ends the input: the kernel reports every open transaction (as at the
    /// end of a capture file). Capture may continue afterwards.
    pub fn finish(&mut self) {
        let Appliance { engine, json_cfg, schema, shipper, tags, doc, cache, ring, stats, finished, .. } = self;
        let opts = JsonOptions { schema: *schema, shipper, tags };
        let mut sink = DocSink { cfg: json_cfg, opts, doc, cache, ring, stats };
        engine.finish(&mut sink);
        *finished = true;
    }

    /// The kernel finished its input (see [`MirrorPort::at_end`]) and every
    /// document was accepted by the server: nothing is left to do.
    pub fn is_drained(&self) -> bool {
        self.finished && self.ring.is_empty() && self.uplink.in_flight() == 0
    }

    /// All counters and the ring's state.
    pub fn stats(&self) -> ApplianceStats {
        ApplianceStats {
            engine: *self.engine.stats(),
            shell: self.stats,
            ring_docs: self.ring.len(),
            ring_bytes: self.ring.bytes_used(),
            in_flight: self.uplink.in_flight(),
            connected: self.uplink.is_connected(),
        }
    }

    /// How long a bare loop may sleep before the uplink interface needs a
    /// poll (`None`: only when a frame arrives). Mirror frames are not
    /// covered: a loop woken by the mirror device should poll at once.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        self.iface.poll_delay(now, &self.sockets)
    }

    /// The mirror device (e.g. to read a replay's progress).
    pub fn mirror(&self) -> &M {
        &self.mirror
    }

    /// The uplink device.
    pub fn uplink_device(&mut self) -> &mut U {
        &mut self.uplink_dev
    }
}
