//! `tapbeat read`: capture files in, NDJSON out.

use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use tapbeat_core::defrag::FragSlot;
use tapbeat_core::engine::{Storage, StorageSizes};
use tapbeat_core::flow::FlowSlot;
use tapbeat_core::json::{write_json_cached, DocCache, JsonOptions};
use tapbeat_core::pending::{FlowQueue, PendingSlot};
use tapbeat_core::pool::Block;
use tapbeat_core::{LinkType, Stats, Timestamp, Transaction};

use crate::config::{OutputSpec, Settings};
use crate::output::{DocWriter, Fanout, Pipeline, PipelineSettings};
use crate::report::OutputStats;
use crate::workers::{Dispatcher, WorkerResult};

/// Set (by `tapbeat read`'s SIGTERM/SIGINT handler) to stop reading: the
/// file being read is recorded as a failure ("stopped by a signal") and the
/// remaining files are skipped the same way.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Largest document written; larger ones are counted and skipped (cannot
/// happen with the kernel's field capacities, but the bound is explicit).
pub const MAX_DOCUMENT: usize = 256 * 1024;

/// Memory for an engine, sized from settings and reused across files.
///
/// The big tables are allocated uninitialised and the kernel writes an
/// element only when it first needs it, so start-up writes almost nothing
/// and the process's resident memory grows with the traffic followed, up
/// to the configured sizes ([`StorageSizes::bytes`]).
pub struct EngineMemory {
    flows: Box<[MaybeUninit<FlowSlot>]>,
    buckets: Vec<u32>,
    queues: Vec<FlowQueue>,
    blocks: Box<[MaybeUninit<Block>]>,
    pending: Box<[MaybeUninit<PendingSlot>]>,
    frags: Box<[MaybeUninit<FragSlot>]>,
}

impl EngineMemory {
    /// Allocates the tables once, at start-up.
    pub fn new(s: &Settings) -> Self {
        Self::with_sizes(s.sizes)
    }

    /// [`EngineMemory::new`] with sizes of its own (a worker's share).
    pub fn with_sizes(z: StorageSizes) -> Self {
        EngineMemory {
            flows: Box::new_uninit_slice(z.flows),
            buckets: vec![tapbeat_core::pool::NONE; z.flows],
            queues: vec![FlowQueue::EMPTY; z.flows],
            blocks: Box::new_uninit_slice(z.blocks),
            pending: Box::new_uninit_slice(z.pending),
            frags: Box::new_uninit_slice(z.frags),
        }
    }

    /// Borrows the tables as engine storage.
    pub fn storage(&mut self) -> Storage<'_> {
        Storage {
            flows: &mut self.flows,
            buckets: &mut self.buckets,
            queues: &mut self.queues,
            blocks: &mut self.blocks,
            pending: &mut self.pending,
            frags: &mut self.frags,
        }
    }
}

/// Serialises transactions as NDJSON into a writer, counting what it could
/// not write. Write errors are kept (first one) and reported at the end.
pub struct NdjsonSink<'w> {
    out: &'w mut dyn DocWriter,
    buf: Vec<u8>,
    cache: DocCache,
    settings: &'w Settings,
    tags: Vec<&'w str>,
    /// Documents written, too large, and failed writes.
    pub stats: OutputStats,
    /// The first write error, if any.
    pub error: Option<std::io::Error>,
}

impl<'w> NdjsonSink<'w> {
    /// A sink writing to `out` with the document options of `settings`.
    pub fn new(out: &'w mut dyn DocWriter, settings: &'w Settings) -> Self {
        NdjsonSink {
            out,
            buf: vec![0; MAX_DOCUMENT],
            cache: DocCache::new(),
            tags: settings.tags.iter().map(|s| s.as_str()).collect(),
            settings,
            stats: OutputStats::default(),
            error: None,
        }
    }
}

impl NdjsonSink<'_> {
    /// Flushes the writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush_docs()
    }
}

impl tapbeat_core::Sink for NdjsonSink<'_> {
    fn on_transaction(&mut self, txn: &Transaction) {
        let opts = JsonOptions { schema: self.settings.schema, shipper: &self.settings.shipper, tags: &self.tags };
        // Straight into the writer's buffer when it has one, else into ours.
        let room = self.out.doc_room(MAX_DOCUMENT);
        let in_place = room.is_some();
        let buf = room.unwrap_or(&mut self.buf);
        let len = match write_json_cached(txn, &self.settings.core, &opts, &mut self.cache, buf) {
            Ok(n) if n < buf.len() => {
                if let Some(b) = buf.get_mut(n) {
                    *b = b'\n';
                }
                n + 1
            }
            _ => {
                self.stats.oversize += 1;
                return;
            }
        };
        let r =
            if in_place { self.out.commit_doc(len) } else { self.out.write_doc(self.buf.get(..len).unwrap_or(&[])) };
        match r {
            Ok(()) => self.stats.documents += 1,
            Err(e) => {
                self.stats.write_errors += 1;
                self.error.get_or_insert(e);
            }
        }
    }
}

/// What reading produced.
#[derive(Debug, Default)]
pub struct Summary {
    /// Engine counters (all files).
    pub engine: Stats,
    /// Output counters.
    pub output: OutputStats,
    /// Files that could not be read to the end, with the reason.
    pub failures: Vec<String>,
}

/// Reads every file in turn and writes NDJSON to `out`.
///
/// This thread reads the frames; one analysis thread runs the engine (see
/// [`read_files_with_workers`] for more) and writes its documents itself,
/// 256 KiB at a time, under a lock shared with the other workers (an
/// output thread of its own was measured slower: on two cores with two
/// workers it costs them a tenth of their time). A write or final flush
/// that fails fails the read, after the analysis ran to the end. With one
/// worker the documents come out in exactly the order of a single-threaded
/// read; with more, the same documents come out with the flows interleaved
/// differently. Flows do not carry over
/// from one file to the next. A file that cannot be opened or is cut short
/// is recorded in `failures` after everything it contained was analysed;
/// the other files are still read.
pub fn read_files(
    files: &[impl AsRef<Path>],
    settings: &Settings,
    out: &mut (dyn DocWriter + Send),
) -> Result<Summary> {
    read_files_with_workers(files, settings, 1, out)
}

/// [`read_files`] with `workers` analysis threads, each running an engine
/// (with tables of `settings.sizes`) over its share of the flows (see
/// [`crate::workers`]).
pub fn read_files_with_workers(
    files: &[impl AsRef<Path>],
    settings: &Settings,
    workers: usize,
    out: &mut (dyn DocWriter + Send),
) -> Result<Summary> {
    let (mut dispatch, queues) = crate::workers::channels(workers, true, settings.core.flow_timeout);
    let shared = Mutex::new(out);
    let mut failures = Vec::new();
    let results = std::thread::scope(|scope| -> Result<Vec<WorkerResult>> {
        let mut handles = Vec::new();
        for (i, queue) in queues.into_iter().enumerate() {
            let shared = &shared;
            let h = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn_scoped(scope, move || {
                    let mut docs = SharedDocs { local: Vec::new(), used: 0, ends: Vec::new(), shared };
                    crate::workers::run_worker(settings, queue, &mut docs)
                })
                .context("cannot start a worker thread")?;
            handles.push(h);
        }
        for f in files {
            let path = f.as_ref();
            if let Err(e) = read_one(path, &mut dispatch) {
                failures.push(format!("{}: {e:#}", path.display()));
            }
            dispatch.finish_flows();
        }
        dispatch.close();
        handles.into_iter().map(|h| h.join().map_err(|_| anyhow::anyhow!("a worker thread panicked"))).collect()
    })?;
    let mut sum = Summary { failures, ..Default::default() };
    let mut error = None;
    for r in results {
        sum.engine.add(&r.engine);
        sum.output.add(&r.output);
        error = error.or(r.error);
    }
    // A failed final flush loses documents too: it fails the read.
    let flushed = match shared.into_inner() {
        Ok(w) => w.flush_docs().err(),
        Err(_) => Some(std::io::Error::other("output lock poisoned")),
    };
    if let Some(e) = error.or(flushed) {
        bail!("writing output failed: {e}");
    }
    Ok(sum)
}

/// A worker's way into the shared output: documents are collected here and
/// handed over a chunk at a time, so workers rarely wait for each other's
/// lock, and whole documents never interleave. Documents are serialised
/// straight into the chunk ([`DocWriter::doc_room`]).
struct SharedDocs<'a, 'o> {
    /// Documents are `local[..used]`; the rest is room for the next one
    /// (the buffer keeps its length, so it is zeroed only once).
    local: Vec<u8>,
    used: usize,
    ends: Vec<usize>,
    shared: &'a Mutex<&'o mut (dyn DocWriter + Send)>,
}

/// Bytes of documents a worker collects before taking the output lock.
const SHARED_CHUNK: usize = 256 << 10;

impl SharedDocs<'_, '_> {
    fn hand_over(&mut self) -> std::io::Result<()> {
        if self.ends.is_empty() {
            return Ok(());
        }
        let mut w = self.shared.lock().map_err(|_| std::io::Error::other("output lock poisoned"))?;
        let r = w.write_docs(self.local.get(..self.used).unwrap_or(&[]), &self.ends);
        self.used = 0;
        self.ends.clear();
        r
    }
}

impl DocWriter for SharedDocs<'_, '_> {
    fn write_doc(&mut self, line: &[u8]) -> std::io::Result<()> {
        if let Some(room) = self.doc_room(line.len()) {
            room.copy_from_slice(line);
        }
        self.commit_doc(line.len())
    }

    fn doc_room(&mut self, len: usize) -> Option<&mut [u8]> {
        let end = self.used + len;
        if self.local.len() < end {
            // Once to a whole chunk's size, not a document at a time.
            self.local.resize(end.max(SHARED_CHUNK + len), 0);
        }
        self.local.get_mut(self.used..end)
    }

    fn commit_doc(&mut self, n: usize) -> std::io::Result<()> {
        self.used = (self.used + n).min(self.local.len());
        self.ends.push(self.used);
        if self.used >= SHARED_CHUNK {
            self.hand_over()?;
        }
        Ok(())
    }

    fn flush_docs(&mut self) -> std::io::Result<()> {
        self.hand_over()
    }
}

fn read_one(path: &Path, dispatch: &mut Dispatcher) -> Result<()> {
    if !path.exists() {
        bail!("no such file");
    }
    if let Some(mut file) = crate::pcapfile::PcapFile::open(path).context("cannot open the capture")? {
        return pump(path, &mut file, dispatch);
    }
    let cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Micro)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("not a readable pcap or pcapng file")?;
    pump(path, &mut Libpcap(cap), dispatch)
}

/// A capture file's frames, whoever reads them.
trait FrameSource {
    fn link(&self) -> LinkType;
    /// The next frame, `None` at the end, an error when the file is damaged.
    fn next_frame(&mut self) -> Result<Option<(Timestamp, &[u8])>, String>;
}

impl FrameSource for crate::pcapfile::PcapFile {
    fn link(&self) -> LinkType {
        crate::pcapfile::PcapFile::link(self)
    }
    #[inline(always)]
    fn next_frame(&mut self) -> Result<Option<(Timestamp, &[u8])>, String> {
        crate::pcapfile::PcapFile::next_frame(self).map_err(|e| e.to_string())
    }
}

/// pcapng and the link types the block reader leaves to libpcap.
struct Libpcap(pcap::Capture<pcap::Offline>);

impl FrameSource for Libpcap {
    fn link(&self) -> LinkType {
        LinkType(self.0.get_datalink().0 as u32)
    }
    fn next_frame(&mut self) -> Result<Option<(Timestamp, &[u8])>, String> {
        match self.0.next_packet() {
            Ok(p) => {
                let h = p.header;
                let ts = Timestamp::from_secs_micros(h.ts.tv_sec.max(0) as u64, h.ts.tv_usec.max(0) as u32);
                Ok(Some((ts, p.data)))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Every frame of `src` to the workers, until the end of the file, damage
/// or a stop signal.
fn pump(path: &Path, src: &mut impl FrameSource, dispatch: &mut Dispatcher) -> Result<()> {
    let link = src.link();
    tracing::info!(file = %path.display(), link = link.0, "reading capture");
    let mut progress = Progress::new(path);
    loop {
        if STOP.load(std::sync::atomic::Ordering::Relaxed) {
            progress.done();
            bail!("stopped by a signal");
        }
        match src.next_frame() {
            Ok(Some((ts, frame))) => {
                progress.packet(frame.len() as u64);
                dispatch.frame(ts, link, frame);
            }
            Ok(None) => {
                progress.done();
                return Ok(());
            }
            Err(e) => {
                progress.done();
                bail!("capture is truncated or corrupt: {e}")
            }
        }
    }
}

/// A one-line progress display on stderr (bytes, packets/s, ETA), shown
/// only when stderr is a terminal and the file takes more than a moment.
struct Progress {
    on: bool,
    total: u64,
    bytes: u64,
    packets: u64,
    start: std::time::Instant,
    last: std::time::Instant,
    shown: bool,
}

impl Progress {
    fn new(path: &Path) -> Progress {
        use std::io::IsTerminal;
        let now = std::time::Instant::now();
        Progress {
            on: std::io::stderr().is_terminal(),
            total: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            // Each record has a 16-byte header; the file a 24-byte one.
            bytes: 24,
            packets: 0,
            start: now,
            last: now,
            shown: false,
        }
    }

    #[inline(always)]
    fn packet(&mut self, caplen: u64) {
        if !self.on {
            return;
        }
        self.bytes += caplen + 16;
        self.packets += 1;
        if self.packets % 4096 == 0 && self.last.elapsed().as_millis() >= 250 {
            self.last = std::time::Instant::now();
            let secs = self.start.elapsed().as_secs_f64().max(1e-3);
            let frac = if self.total > 0 { (self.bytes as f64 / self.total as f64).min(1.0) } else { 0.0 };
            let eta = if frac > 0.0 { secs / frac - secs } else { 0.0 };
            eprint!(
                "\r{:5.1}%  {} / {} MiB  {:.0} packets/s  ETA {:.0}s   ",
                frac * 100.0,
                self.bytes >> 20,
                self.total >> 20,
                self.packets as f64 / secs,
                eta
            );
            self.shown = true;
        }
    }

    fn done(&mut self) {
        if self.shown {
            eprint!("\r{:70}\r", "");
        }
    }
}

/// Starts a pipeline per configured output. `block_when_full`: reading files
/// waits for a slow output; live capture drops and counts instead.
pub fn start_outputs(settings: &Settings, block_when_full: bool) -> Result<Fanout> {
    let mut pipelines = Vec::new();
    for spec in &settings.outputs {
        let base = PipelineSettings { queue: settings.queue_size, block_when_full, ..Default::default() };
        let p = match spec {
            OutputSpec::Console => Pipeline::start(
                Box::new(crate::output::console::ConsoleOutput),
                PipelineSettings { batch: 256, ..base },
            ),
            OutputSpec::File(f) => {
                let out = crate::output::file::FileOutput::open(f.clone())
                    .with_context(|| format!("output.file: cannot open {}", f.dir.join(&f.name).display()))?;
                Pipeline::start(Box::new(out), PipelineSettings { batch: 256, ..base })
            }
            OutputSpec::Elasticsearch(e, ps) => {
                let ps = PipelineSettings { queue: settings.queue_size, block_when_full, ..*ps };
                Pipeline::start(Box::new(crate::output::elasticsearch::EsOutput::new(e.clone())), ps)
            }
            OutputSpec::Redis(r, ps) => {
                let ps = PipelineSettings { queue: settings.queue_size, block_when_full, ..*ps };
                Pipeline::start(Box::new(crate::output::redis::RedisOutput::new(r.clone())), ps)
            }
        };
        pipelines.push(p);
    }
    Ok(Fanout { pipelines })
}

/// Tries every configured output once (a connection, a ping); returns one
/// line per output and whether all could be reached.
pub fn probe_outputs(settings: &Settings) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    for spec in &settings.outputs {
        let (name, r): (&str, std::io::Result<()>) = match spec {
            OutputSpec::Console => ("console", Ok(())),
            OutputSpec::File(f) => ("file", crate::output::file::FileOutput::open(f.clone()).map(|_| ())),
            OutputSpec::Redis(r, _) => {
                use crate::output::Output;
                ("redis", crate::output::redis::RedisOutput::new(r.clone()).probe())
            }
            OutputSpec::Elasticsearch(e, _) => {
                use crate::output::Output;
                ("elasticsearch", crate::output::elasticsearch::EsOutput::new(e.clone()).probe())
            }
        };
        match r {
            Ok(()) => lines.push(format!("output {name}: reachable")),
            Err(e) => {
                ok = false;
                lines.push(format!("output {name}: unreachable: {e}"));
            }
        }
    }
    (lines, ok)
}
