//! The appliance shell on a Linux host, over two TAP devices: one is the
//! mirror port (feed it frames, e.g. with `tcpreplay` or
//! `replay_to_tap.py`), the other the uplink, with a static address, to a
//! Redis list or an Elasticsearch `_bulk` endpoint. Needs root (TAP devices).
//! See `shell-embedded/README.md` for a complete run in a network namespace.
//!
//! ```text
//! tap_appliance MIRROR_TAP UPLINK_TAP ADDRESS/PREFIX SERVER_IP:PORT redis KEY
//! tap_appliance MIRROR_TAP UPLINK_TAP ADDRESS/PREFIX SERVER_IP:PORT es INDEX
//! ```
//!
//! All ports of all protocols at their defaults (HTTP 80/8080/…, DNS 53,
//! …). Prints the counters every five seconds and at Ctrl-C… well, until
//! killed: an appliance runs forever.

use std::str::FromStr;
use std::time::Duration as StdDuration;

use static_cell::StaticCell;
use tapbeat_embedded::smoltcp::phy::{Medium, TunTapInterface};
use tapbeat_embedded::smoltcp::time::Instant;
use tapbeat_embedded::smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use tapbeat_embedded::{Appliance, DocSettings, IpConfig, MirrorPort, Resources, Target, UplinkConfig};

/// 1024 flows, 128 stream blocks (512 KiB), 256 pending transactions, 16
/// fragment slots; a 256 KiB document ring, 64 KiB requests, 32 KiB
/// documents, a 16 KiB TCP send buffer.
type Res = Resources<'static, 1024, 128, 256, 16, { 256 * 1024 }, { 64 * 1024 }, { 32 * 1024 }, { 16 * 1024 }>;

static RES: StaticCell<Res> = StaticCell::new();

/// The mirror TAP: frames are stamped with the poll's `now` (a TAP device
/// gives no capture time).
struct MirrorTap(TunTapInterface);

impl tapbeat_embedded::smoltcp::phy::Device for MirrorTap {
    type RxToken<'a> = <TunTapInterface as tapbeat_embedded::smoltcp::phy::Device>::RxToken<'a>;
    type TxToken<'a> = <TunTapInterface as tapbeat_embedded::smoltcp::phy::Device>::TxToken<'a>;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.0.receive(now)
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        // A mirror port never sends.
        None
    }

    fn capabilities(&self) -> tapbeat_embedded::smoltcp::phy::DeviceCapabilities {
        self.0.capabilities()
    }
}

impl MirrorPort for MirrorTap {}

fn usage() -> ! {
    eprintln!("usage: tap_appliance MIRROR_TAP UPLINK_TAP ADDRESS/PREFIX SERVER_IP:PORT (redis KEY | es INDEX)");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 6 {
        usage();
    }
    let address = IpCidr::from_str(&args[2]).unwrap_or_else(|_| usage());
    let (ip, port) = args[3].rsplit_once(':').unwrap_or_else(|| usage());
    let server =
        IpEndpoint::new(IpAddress::from_str(ip).unwrap_or_else(|_| usage()), port.parse().unwrap_or_else(|_| usage()));
    // The strings live as long as the appliance: for ever.
    let name: &'static str = Box::leak(args[5].clone().into_boxed_str());
    let host: &'static str = Box::leak(args[3].clone().into_boxed_str());
    let target = match args[4].as_str() {
        "redis" => Target::Redis { key: name },
        "es" => Target::Elasticsearch { host, index: name },
        _ => usage(),
    };

    let mirror = MirrorTap(TunTapInterface::new(&args[0], Medium::Ethernet).expect("mirror TAP (root?)"));
    let uplink_dev = TunTapInterface::new(&args[1], Medium::Ethernet).expect("uplink TAP (root?)");
    let up = UplinkConfig::new(
        HardwareAddress::Ethernet(EthernetAddress([0x02, 0x74, 0x62, 0, 0, 1])),
        IpConfig::Static { address, gateway: None },
        server,
        target,
    );
    let res = RES.init_with(Res::new);
    println!("memory budget: {} bytes", Res::memory_budget::<MirrorTap, TunTapInterface>());
    let mut app =
        Appliance::new(res, mirror, uplink_dev, DocSettings::default(), up, Instant::now()).expect("uplink medium");

    let mut last_report = Instant::now();
    loop {
        let now = Instant::now();
        if !app.poll(now) {
            std::thread::sleep(StdDuration::from_millis(1));
        }
        if (now - last_report).secs() >= 5 {
            last_report = now;
            let st = app.stats();
            println!(
                "packets {} transactions {} queued {} sent {} ring {} dropped {} failures {} connects {}",
                st.engine.packets,
                st.engine.transactions.iter().sum::<u64>(),
                st.shell.docs_queued,
                st.shell.docs_sent,
                st.ring_docs,
                st.shell.ring_dropped,
                st.shell.send_failures,
                st.shell.connects
            );
        }
    }
}
