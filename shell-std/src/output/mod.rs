//! Where documents go: console, rotating files, Redis (list or channel),
//! Elasticsearch.
//!
//! Each configured output runs behind a [`Pipeline`]: a bounded queue
//! between the analysis and one output thread that sends batches and
//! retries with backoff when the output fails. When the queue is full,
//! live capture drops the document and counts it (capture never waits);
//! reading a file waits instead (nothing is lost, reading slows down). At
//! shutdown the queue is drained within a deadline; what cannot be sent by
//! then is counted as dropped, and a send still hanging shortly after the
//! deadline is abandoned (its documents counted as dropped too), so an
//! output that is down or slow can never keep the process from exiting.
//!
//! Delivery is at least once: a batch whose outcome is unknown (the
//! connection broke after the request went out) is sent again, so a
//! destination may see a document twice; it never silently misses one.

pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod redis;
pub mod secret;

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long after the shutdown deadline a send still in progress (a slow
/// server, a long request timeout) is waited for before it is abandoned.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);

/// One document per line, written by the analysis side.
pub trait DocWriter {
    /// Writes one document (`line` ends with `\n`).
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()>;
    /// Flushes what is buffered.
    fn flush_docs(&mut self) -> io::Result<()>;
    /// Writes several documents at once: `docs` holds them back to back,
    /// each ending at one of `ends` (ascending offsets into `docs`).
    fn write_docs(&mut self, docs: &[u8], ends: &[usize]) -> io::Result<()> {
        let mut start = 0;
        for &end in ends {
            self.write_doc(docs.get(start..end).unwrap_or(&[]))?;
            start = end;
        }
        Ok(())
    }
    /// Room of `len` bytes in the writer's own buffer to serialise the next
    /// document into, saving a copy; `None` (the default) when the writer
    /// has none: then the document comes through [`DocWriter::write_doc`].
    fn doc_room(&mut self, _len: usize) -> Option<&mut [u8]> {
        None
    }
    /// The first `n` bytes of the room [`DocWriter::doc_room`] gave are a
    /// document (ending with `\n`).
    fn commit_doc(&mut self, _n: usize) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + ?Sized> DocWriter for W {
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_all(line)
    }
    /// A byte stream takes the documents in one write.
    fn write_docs(&mut self, docs: &[u8], _ends: &[usize]) -> io::Result<()> {
        self.write_all(docs)
    }
    fn flush_docs(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// A destination of batches of documents.
pub trait Output: Send {
    /// Short name for logs and stats (`file`, `redis`, ...).
    fn name(&self) -> &'static str;
    /// Delivers a batch (each entry one document with its `\n`) and returns
    /// how many documents the destination refused for good (dropped and
    /// counted). On error nothing may be assumed delivered and the batch is
    /// retried whole, unless the error wraps a [`PartlySent`] that says
    /// which documents still need sending.
    fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64>;
    /// Flushes and releases what the output holds.
    fn close(&mut self) -> io::Result<()>;
    /// Checks that the destination can be reached (for `check-config`).
    fn probe(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The error of a batch that was partly delivered: only the documents at
/// `retry` (indices into the batch) are sent again, `rejected` were refused
/// for good, the others arrived. Lets an output that fails midway (a file
/// system filling up after a rotation, Elasticsearch refusing some items)
/// avoid writing the delivered ones twice.
#[derive(Debug)]
pub struct PartlySent {
    /// Indices (into the batch) of the documents to send again.
    pub retry: Vec<usize>,
    /// Documents refused for good.
    pub rejected: u64,
    /// Why the rest failed.
    pub cause: io::Error,
}

impl PartlySent {
    /// Wraps the outcome as an `io::Error` for [`Output::send`].
    pub fn into_error(self) -> io::Error {
        io::Error::other(self)
    }
}

impl std::fmt::Display for PartlySent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (still to send: {} documents)", self.cause, self.retry.len())
    }
}

impl std::error::Error for PartlySent {}

/// Counters of one pipeline, shared with its thread.
#[derive(Debug, Default)]
pub struct PipelineCounters {
    /// Documents accepted into the queue.
    pub queued: AtomicU64,
    /// Documents delivered.
    pub sent: AtomicU64,
    /// Documents dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Documents dropped because the shutdown deadline passed first
    /// (including a send abandoned after [`SHUTDOWN_GRACE`], whose outcome
    /// is unknown).
    pub dropped_at_shutdown: AtomicU64,
    /// Failed send attempts (each retried).
    pub send_errors: AtomicU64,
    /// Documents the destination refused for good (e.g. a mapping error).
    pub rejected: AtomicU64,
}

impl PipelineCounters {
    fn count_queue_full(&self, name: &str) {
        let n = self.dropped_queue_full.fetch_add(1, Ordering::Relaxed) + 1;
        // Logged at 1, 10, 100, ... so a long outage does not flood the log;
        // the exact count is in the stats.
        if is_power_of_ten(n) {
            tracing::warn!(output = name, dropped = n, "output queue full: documents dropped");
        }
    }

    /// Documents accepted but neither delivered, refused nor counted as
    /// dropped yet.
    fn unaccounted(&self) -> u64 {
        let done = self.sent.load(Ordering::Relaxed)
            + self.rejected.load(Ordering::Relaxed)
            + self.dropped_at_shutdown.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(done)
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

/// Queue and batching settings of a pipeline.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    /// Documents the queue holds.
    pub queue: usize,
    /// Most documents per batch.
    pub batch: usize,
    /// Longest time a document waits for its batch to fill.
    pub flush_interval: Duration,
    /// Wait when the queue is full (file reading) instead of dropping (live).
    pub block_when_full: bool,
    /// First retry delay; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            queue: 8192,
            batch: 50,
            flush_interval: Duration::from_secs(1),
            block_when_full: true,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

enum Msg {
    Doc(Vec<u8>),
    /// Look at the stop signal now (sent when shutdown is requested).
    Wake,
}

/// A shutdown request shared by a pipeline and its thread. It is not a
/// queue message, so it reaches a thread stuck retrying a full queue's
/// batch, and it cuts a backoff sleep short.
#[derive(Default)]
struct StopSignal {
    deadline: Mutex<Option<Instant>>,
    cv: Condvar,
    /// Set when the caller gave up waiting: the thread must not count
    /// anything any more (its documents were counted as dropped). The
    /// thread holds the lock while counting, so a count is never made
    /// twice.
    abandoned: Mutex<bool>,
}

impl StopSignal {
    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request(&self, deadline: Instant) {
        let mut d = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        d.get_or_insert(deadline);
        self.cv.notify_all();
    }

    /// Sleeps for `d`; before a stop is requested, less if one comes
    /// meanwhile (so the output gets one more try at once).
    fn sleep(&self, d: Duration) {
        let g = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            let _ = self.cv.wait_timeout_while(g, d, |s| s.is_none());
        } else {
            drop(g);
            std::thread::sleep(d);
        }
    }
}

/// A bounded queue and the thread that feeds one [`Output`].
pub struct Pipeline {
    /// Senders are cloned into [`FanoutHandle`]s for worker threads.
    name: &'static str,
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
    block: bool,
    stop: Arc<StopSignal>,
    /// Counters, readable while it runs.
    pub counters: Arc<PipelineCounters>,
}

impl Pipeline {
    /// Starts the output thread.
    pub fn start(output: Box<dyn Output>, s: PipelineSettings) -> Pipeline {
        let (tx, rx) = sync_channel(s.queue.max(1));
        let counters = Arc::new(PipelineCounters::default());
        let stop = Arc::new(StopSignal::default());
        let (c, st) = (counters.clone(), stop.clone());
        let name = output.name();
        let thread =
            std::thread::Builder::new().name(format!("output-{name}")).spawn(move || run(output, rx, s, c, st)).ok();
        Pipeline { name, tx, thread, block: s.block_when_full, stop, counters }
    }

    /// Queues one document (with its `\n`).
    pub fn submit(&self, doc: Vec<u8>) {
        submit(&self.tx, self.block, &self.counters, &self.stop, self.name, doc);
    }

    /// Output name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Delivers what is queued, giving up at `deadline`, and stops. Returns
    /// by `deadline` + [`SHUTDOWN_GRACE`] whatever the output does; what it
    /// has not confirmed by then is counted in `dropped_at_shutdown`.
    pub fn shutdown(mut self, deadline: Instant) -> Arc<PipelineCounters> {
        self.stop.request(deadline);
        let _ = self.tx.try_send(Msg::Wake);
        if let Some(t) = self.thread.take() {
            let give_up = deadline + SHUTDOWN_GRACE;
            while !t.is_finished() && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
                // Documents queued after the thread took its last ones (a
                // producer racing the stop) were never handled.
                let n = self.counters.unaccounted();
                if n > 0 {
                    self.counters.dropped_at_shutdown.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(output = self.name, documents = n, "queued after the output stopped: dropped");
                }
            } else {
                let mut abandoned = self.stop.abandoned.lock().unwrap_or_else(|e| e.into_inner());
                *abandoned = true;
                let n = self.counters.unaccounted();
                self.counters.dropped_at_shutdown.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(
                    output = self.name,
                    documents = n,
                    "output still busy after the shutdown deadline: abandoned"
                );
            }
        }
        self.counters.clone()
    }
}

fn submit(tx: &SyncSender<Msg>, block: bool, c: &PipelineCounters, stop: &StopSignal, name: &str, doc: Vec<u8>) {
    let mut msg = Msg::Doc(doc);
    loop {
        match tx.try_send(msg) {
            Ok(()) => {
                c.queued.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // Waiting for room (reading a file): until a stop is requested,
            // so a signal still ends a read whose output is down.
            Err(TrySendError::Full(m)) if block => {
                if stop.deadline().is_some() {
                    c.dropped_at_shutdown.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                msg = m;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                c.count_queue_full(name);
                return;
            }
        }
    }
}

fn run(
    mut out: Box<dyn Output>,
    rx: Receiver<Msg>,
    s: PipelineSettings,
    c: Arc<PipelineCounters>,
    stop: Arc<StopSignal>,
) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(s.batch);
    loop {
        // Fill a batch: wait for the first document, then take what is
        // queued, up to the batch size or the flush interval.
        let mut first_at: Option<Instant> = None;
        while batch.len() < s.batch && stop.deadline().is_none() {
            let wait = match first_at {
                None => s.flush_interval,
                Some(t) => s.flush_interval.saturating_sub(t.elapsed()),
            };
            match rx.recv_timeout(wait) {
                Ok(Msg::Doc(d)) => {
                    first_at.get_or_insert_with(Instant::now);
                    batch.push(d);
                }
                Ok(Msg::Wake) => {}
                Err(RecvTimeoutError::Timeout) => {
                    if !batch.is_empty() {
                        break;
                    }
                }
                // Every sender is gone without a shutdown (the pipeline
                // was dropped): drain for a short while.
                Err(RecvTimeoutError::Disconnected) => stop.request(Instant::now() + Duration::from_secs(5)),
            }
        }
        if stop.deadline().is_some() {
            // Take everything still queued.
            while let Ok(m) = rx.try_recv() {
                if let Msg::Doc(d) = m {
                    batch.push(d);
                }
            }
            deliver_all(&mut *out, &mut batch, &s, &c, &stop);
            let _ = out.close();
            return;
        }
        deliver_all(&mut *out, &mut batch, &s, &c, &stop);
    }
}

/// Sends `batch` in chunks of `s.batch`, retrying each chunk with backoff
/// (only the documents a [`PartlySent`] names, if the output says); once a
/// shutdown deadline is set, gives up when it passes, counting the rest as
/// dropped.
fn deliver_all(
    out: &mut dyn Output,
    batch: &mut Vec<Vec<u8>>,
    s: &PipelineSettings,
    c: &PipelineCounters,
    stop: &StopSignal,
) {
    let mut backoff = s.backoff;
    let mut docs = std::mem::take(batch).into_iter();
    let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(s.batch);
    loop {
        if chunk.is_empty() {
            chunk.extend(docs.by_ref().take(s.batch.max(1)));
            if chunk.is_empty() {
                return;
            }
        }
        let r = out.send(&chunk);
        let abandoned = stop.abandoned.lock().unwrap_or_else(|e| e.into_inner());
        if *abandoned {
            return;
        }
        match r {
            Ok(rejected) => {
                tracing::debug!(output = out.name(), documents = chunk.len(), "batch sent");
                let rejected = rejected.min(chunk.len() as u64);
                c.sent.fetch_add(chunk.len() as u64 - rejected, Ordering::Relaxed);
                c.rejected.fetch_add(rejected, Ordering::Relaxed);
                chunk.clear();
                backoff = s.backoff;
            }
            Err(e) => {
                c.send_errors.fetch_add(1, Ordering::Relaxed);
                let partly = e.get_ref().is_some_and(|i| i.is::<PartlySent>());
                let e = if !partly {
                    e.to_string()
                } else {
                    match e.into_inner().map(|i| i.downcast::<PartlySent>()) {
                        Some(Ok(p)) => {
                            let keep: Vec<Vec<u8>> =
                                p.retry.iter().filter_map(|&i| chunk.get_mut(i).map(std::mem::take)).collect();
                            let rejected = p.rejected.min((chunk.len() - keep.len()) as u64);
                            c.sent.fetch_add((chunk.len() - keep.len()) as u64 - rejected, Ordering::Relaxed);
                            c.rejected.fetch_add(rejected, Ordering::Relaxed);
                            chunk = keep;
                            format!("{} (still to send: {} documents)", p.cause, chunk.len())
                        }
                        Some(Err(inner)) => inner.to_string(),
                        None => "send failed".to_string(),
                    }
                };
                tracing::warn!(output = out.name(), error = %e, retry_in = ?backoff, "send failed");
                // Once shutting down, never wait past the deadline.
                let mut wait = backoff;
                if let Some(d) = stop.deadline() {
                    let now = Instant::now();
                    if now >= d {
                        let n = (chunk.len() + docs.len()) as u64;
                        c.dropped_at_shutdown.fetch_add(n, Ordering::Relaxed);
                        tracing::warn!(output = out.name(), documents = n, "shutdown deadline passed: dropped");
                        return;
                    }
                    wait = wait.min(d - now);
                }
                drop(abandoned);
                stop.sleep(wait);
                backoff = (backoff * 2).min(s.max_backoff);
            }
        }
    }
}

/// Starts the shutdown of a [`Fanout`]'s pipelines from another thread:
/// they deliver what is queued until the deadline, and submitting no
/// longer waits for room. [`Fanout::shutdown`] must still be called; it
/// keeps the earlier deadline.
pub struct Stopper {
    pipelines: Vec<(Arc<StopSignal>, SyncSender<Msg>)>,
}

impl Stopper {
    /// Requests the stop, to be done by `deadline`.
    pub fn stop(&self, deadline: Instant) {
        for (s, tx) in &self.pipelines {
            s.request(deadline);
            let _ = tx.try_send(Msg::Wake);
        }
    }
}

/// Several pipelines fed the same documents.
pub struct Fanout {
    /// The pipelines.
    pub pipelines: Vec<Pipeline>,
}

impl DocWriter for Fanout {
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()> {
        for p in &self.pipelines {
            p.submit(line.to_vec());
        }
        Ok(())
    }
    fn flush_docs(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A per-thread way into a [`Fanout`]'s pipelines (live capture workers).
pub struct FanoutHandle {
    senders: Vec<Sender>,
}

/// What a [`FanoutHandle`] needs of one pipeline.
struct Sender {
    tx: SyncSender<Msg>,
    block: bool,
    counters: Arc<PipelineCounters>,
    stop: Arc<StopSignal>,
    name: &'static str,
}

impl DocWriter for FanoutHandle {
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()> {
        for s in &self.senders {
            submit(&s.tx, s.block, &s.counters, &s.stop, s.name, line.to_vec());
        }
        Ok(())
    }
    fn flush_docs(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Fanout {
    /// A handle that submits to every pipeline, for another thread.
    pub fn handle(&self) -> FanoutHandle {
        FanoutHandle {
            senders: self
                .pipelines
                .iter()
                .map(|p| Sender {
                    tx: p.tx.clone(),
                    block: p.block,
                    counters: p.counters.clone(),
                    stop: p.stop.clone(),
                    name: p.name,
                })
                .collect(),
        }
    }

    /// The outputs' counters so far, for the periodic stats line of a live
    /// run: `output_NAME sent N, dropped N, send_errors N` per output.
    pub fn progress(&self) -> String {
        let parts: Vec<String> = self
            .pipelines
            .iter()
            .map(|p| {
                let c = &p.counters;
                format!(
                    "output_{} sent {}, dropped {}, send_errors {}",
                    p.name,
                    c.sent.load(Ordering::Relaxed),
                    c.dropped_queue_full.load(Ordering::Relaxed) + c.dropped_at_shutdown.load(Ordering::Relaxed),
                    c.send_errors.load(Ordering::Relaxed)
                )
            })
            .collect();
        parts.join("; ")
    }

    /// A way to start the shutdown from another thread (a signal handler
    /// while the main thread is blocked submitting to a full queue).
    pub fn stopper(&self) -> Stopper {
        Stopper { pipelines: self.pipelines.iter().map(|p| (p.stop.clone(), p.tx.clone())).collect() }
    }

    /// Drains every pipeline (within `grace`, plus at most
    /// [`SHUTDOWN_GRACE`] for a send in progress) and returns a summary
    /// line per output.
    pub fn shutdown(self, grace: Duration) -> Vec<String> {
        let deadline = Instant::now() + grace;
        // Every pipeline is told first, so they drain in parallel.
        for p in &self.pipelines {
            p.stop.request(deadline);
            let _ = p.tx.try_send(Msg::Wake);
        }
        self.pipelines
            .into_iter()
            .map(|p| {
                let name = p.name();
                let c = p.shutdown(deadline);
                format!(
                    "  output_{name}: sent {}, rejected {}, dropped_queue_full {}, dropped_at_shutdown {}, send_errors {}",
                    c.sent.load(Ordering::Relaxed),
                    c.rejected.load(Ordering::Relaxed),
                    c.dropped_queue_full.load(Ordering::Relaxed),
                    c.dropped_at_shutdown.load(Ordering::Relaxed),
                    c.send_errors.load(Ordering::Relaxed)
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Fails the first `fail` sends, records the rest.
    struct Flaky {
        fail: usize,
        got: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Output for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(io::Error::other("down"));
            }
            self.got.lock().unwrap().extend_from_slice(batch);
            Ok(0)
        }
        fn close(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn settings(block: bool, queue: usize) -> PipelineSettings {
        PipelineSettings {
            queue,
            batch: 3,
            flush_interval: Duration::from_millis(10),
            block_when_full: block,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        }
    }

    #[test]
    fn retries_until_delivered_in_order() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let p = Pipeline::start(Box::new(Flaky { fail: 3, got: got.clone() }), settings(true, 4));
        for i in 0..20u8 {
            p.submit(vec![i]);
        }
        let c = p.shutdown(Instant::now() + Duration::from_secs(5));
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 20);
        assert!(got.iter().enumerate().all(|(i, d)| d[0] as usize == i));
        assert_eq!(c.sent.load(Ordering::Relaxed), 20);
        assert_eq!(c.send_errors.load(Ordering::Relaxed), 3);
    }

    /// Stores the first `room` documents of each call, then fails the rest
    /// with a [`PartlySent`]; after `fail_rounds` such calls, takes all.
    struct Partial {
        room: usize,
        fail_rounds: usize,
        got: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Output for Partial {
        fn name(&self) -> &'static str {
            "partial"
        }
        fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64> {
            let mut got = self.got.lock().unwrap();
            if self.fail_rounds == 0 || batch.len() <= self.room {
                got.extend_from_slice(batch);
                return Ok(0);
            }
            self.fail_rounds -= 1;
            got.extend_from_slice(&batch[..self.room]);
            let retry = (self.room..batch.len()).collect();
            Err(PartlySent { retry, rejected: 0, cause: io::Error::other("full") }.into_error())
        }
        fn close(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Never answers within a test's lifetime (a server that hangs).
    struct Hangs;

    impl Output for Hangs {
        fn name(&self) -> &'static str {
            "hangs"
        }
        fn send(&mut self, _: &[Vec<u8>]) -> io::Result<u64> {
            std::thread::sleep(Duration::from_secs(60));
            Ok(0)
        }
        fn close(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_partly_sent_batch_resends_only_the_rest() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let p = Pipeline::start(Box::new(Partial { room: 1, fail_rounds: 4, got: got.clone() }), settings(true, 4));
        for i in 0..12u8 {
            p.submit(vec![i]);
        }
        let c = p.shutdown(Instant::now() + Duration::from_secs(5));
        let got: Vec<u8> = got.lock().unwrap().iter().map(|d| d[0]).collect();
        assert_eq!(got, (0..12).collect::<Vec<u8>>(), "each once, in order");
        assert_eq!(c.sent.load(Ordering::Relaxed), 12);
        assert_eq!(c.send_errors.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn shutdown_is_bounded_with_a_long_backoff() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let s = PipelineSettings {
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(60),
            ..settings(true, 8)
        };
        let p = Pipeline::start(Box::new(Flaky { fail: usize::MAX, got }), s);
        for i in 0..5u8 {
            p.submit(vec![i]);
        }
        // Let the thread start its 30 s backoff.
        let t0 = Instant::now();
        while p.counters.send_errors.load(Ordering::Relaxed) == 0 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = Instant::now();
        let c = p.shutdown(Instant::now() + Duration::from_millis(200));
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
        assert_eq!(c.dropped_at_shutdown.load(Ordering::Relaxed), 5);
        let errors = c.send_errors.load(Ordering::Relaxed);
        assert!(errors >= 2, "tried again when told to stop");
        assert!(errors <= 4, "no busy retrying until the deadline: {errors}");
    }

    #[test]
    fn a_hanging_output_is_abandoned_and_counted() {
        let p = Pipeline::start(Box::new(Hangs), settings(false, 8));
        for i in 0..6u8 {
            p.submit(vec![i]);
        }
        let t = Instant::now();
        let c = p.shutdown(Instant::now() + Duration::from_millis(100));
        let took = t.elapsed();
        assert!(took >= SHUTDOWN_GRACE && took < SHUTDOWN_GRACE + Duration::from_secs(1), "took {took:?}");
        assert_eq!(c.queued.load(Ordering::Relaxed), 6);
        assert_eq!(c.dropped_at_shutdown.load(Ordering::Relaxed), 6);
        assert_eq!(c.sent.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn powers_of_ten() {
        let p: Vec<u64> = (0..=1000).filter(|&n| is_power_of_ten(n)).collect();
        assert_eq!(p, [1, 10, 100, 1000]);
    }

    #[test]
    fn a_dead_output_drops_and_counts_without_blocking() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let p = Pipeline::start(Box::new(Flaky { fail: usize::MAX, got }), settings(false, 2));
        let t = Instant::now();
        for i in 0..100u8 {
            p.submit(vec![i]);
        }
        assert!(t.elapsed() < Duration::from_secs(1), "live capture never waits");
        let c = p.shutdown(Instant::now() + Duration::from_millis(50));
        let dropped = c.dropped_queue_full.load(Ordering::Relaxed) + c.dropped_at_shutdown.load(Ordering::Relaxed);
        assert_eq!(dropped, 100, "every document is accounted for");
    }
}
