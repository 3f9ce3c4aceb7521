//! The appliance shell, freestanding: a `static` [`Appliance`] over the
//! pcap-replay mirror device (a capture of the HTTP exchange, written here
//! into a static buffer) and a dummy medium-ip uplink that swallows what it
//! is given, polled until the capture is done. Proves that
//! `tapbeat-embedded` and its smoltcp build need neither std, alloc nor
//! libc, and that its memory is all `static`.

use core::hint::black_box;

use tapbeat_embedded::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use tapbeat_embedded::smoltcp::time::Instant;
use tapbeat_embedded::smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};
use tapbeat_embedded::{Appliance, DocSettings, IpConfig, PcapReplay, Resources, Target, UplinkConfig};

use crate::rt;

/// Kernel tables of 16 flows, 8 blocks, 8 pending records, 2 fragment
/// slots; 4 KiB each for ring, batch and JSON; 2 KiB TCP send buffer.
type Res = Resources<'static, 16, 8, 8, 2, 4096, 4096, 4096, 2048>;
type App = Appliance<'static, PcapReplay<'static>, NullUplink>;

static RES: rt::StaticCell<Res> = rt::StaticCell::new();
static APP: rt::StaticCell<App> = rt::StaticCell::new();
static PCAP: rt::StaticCell<[u8; 2048]> = rt::StaticCell::new();

/// An uplink with no one on the other end: transmitted packets land in a
/// fixed buffer and are counted.
pub struct NullUplink {
    buf: [u8; 1500],
    sent: u32,
}

pub struct NullRx;
pub struct NullTx<'a>(&'a mut [u8; 1500], &'a mut u32);

impl phy::RxToken for NullRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&[])
    }
}

impl phy::TxToken for NullTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        *self.1 += 1;
        let n = len.min(self.0.len());
        f(&mut self.0[..n])
    }
}

impl Device for NullUplink {
    type RxToken<'a> = NullRx;
    type TxToken<'a> = NullTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(NullRx, NullTx<'_>)> {
        None
    }

    fn transmit(&mut self, _: Instant) -> Option<NullTx<'_>> {
        Some(NullTx(&mut self.buf, &mut self.sent))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
}

/// Writes the exchange as a classic pcap file (little-endian,
/// microseconds, Ethernet) into `out`; returns its length.
fn write_pcap(out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let mut put = |b: &[u8], out: &mut [u8]| -> Option<()> {
        out.get_mut(n..n + b.len())?.copy_from_slice(b);
        n += b.len();
        Some(())
    };
    put(&0xa1b2_c3d4u32.to_le_bytes(), out)?;
    put(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0], out)?;
    put(&65_535u32.to_le_bytes(), out)?;
    put(&1u32.to_le_bytes(), out)?;
    let mut frame = [0u8; 256];
    for (i, seg) in crate::EXCHANGE.iter().enumerate() {
        let len = crate::build_frame(seg, i as u16 + 1, &mut frame)?;
        put(&1_700_000_000u32.to_le_bytes(), out)?;
        put(&((i as u32 + 1) * 1000).to_le_bytes(), out)?;
        put(&(len as u32).to_le_bytes(), out)?;
        put(&(len as u32).to_le_bytes(), out)?;
        put(frame.get(..len)?, out)?;
    }
    Some(n)
}

/// The check; returns the exit status (0: one document queued and the
/// uplink tried to connect).
pub fn run() -> i32 {
    let (Some(pcap), Some(res), Some(app)) = (PCAP.take(), RES.take(), APP.take()) else {
        rt::eprint(b"nostd-check: appliance statics already taken\n");
        return 1;
    };
    let pcap = pcap.write([0; 2048]);
    let Some(len) = write_pcap(pcap) else {
        rt::eprint(b"nostd-check: pcap buffer too small\n");
        return 1;
    };
    let file: &'static [u8] = &pcap[..len];
    let Ok(mirror) = PcapReplay::new(black_box(file)) else {
        rt::eprint(b"nostd-check: pcap not readable\n");
        return 1;
    };
    let res = res.write(Res::new());
    let uplink = UplinkConfig::new(
        HardwareAddress::Ip,
        IpConfig::Static { address: IpCidr::new(IpAddress::Ipv4(Ipv4Address::new(10, 9, 0, 2)), 24), gateway: None },
        IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 9, 0, 1)), 6379),
        Target::Redis { key: "tapbeat" },
    );
    let docs = DocSettings::default();
    let Ok(a) = Appliance::new(res, mirror, NullUplink { buf: [0; 1500], sent: 0 }, docs, uplink, Instant::ZERO) else {
        rt::eprint(b"nostd-check: appliance setup failed\n");
        return 1;
    };
    let app = app.write(a);
    let mut now = Instant::ZERO;
    for _ in 0..4 {
        app.poll(black_box(now));
        now += tapbeat_embedded::smoltcp::time::Duration::from_millis(10);
    }
    let st = app.stats();
    if st.engine.packets != crate::EXCHANGE.len() as u64 || st.shell.docs_queued != 1 || st.ring_docs != 1 {
        rt::eprint(b"nostd-check: the appliance did not queue exactly one document\n");
        return 1;
    }
    if st.shell.connect_attempts != 1 || app.uplink_device().sent == 0 {
        rt::eprint(b"nostd-check: the appliance's uplink did not try to connect\n");
        return 1;
    }
    0
}
