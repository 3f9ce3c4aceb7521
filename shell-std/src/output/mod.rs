//! Where documents go: console, rotating files, Redis (list or channel).
//!
//! Each configured output runs behind a [`Pipeline`]: a bounded queue
//! between the analysis and one output thread that sends batches and
//! retries with backoff when the output fails. When the queue is full,
//! live capture drops the document and counts it (capture never waits);
//! reading a file waits instead (nothing is lost, reading slows down). At
//! shutdown the queue is drained within a deadline; what cannot be sent by
//! then is counted as dropped.

pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod redis;

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One document per line, written by the analysis side.
pub trait DocWriter {
    /// Writes one document (`line` ends with `\n`).
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()>;
    /// Flushes what is buffered.
    fn flush_docs(&mut self) -> io::Result<()>;
}

impl<W: Write + ?Sized> DocWriter for W {
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_all(line)
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
    /// counted). On error nothing may be assumed delivered: the batch is
    /// retried whole.
    fn send(&mut self, batch: &[Vec<u8>]) -> io::Result<u64>;
    /// Flushes and releases what the output holds.
    fn close(&mut self) -> io::Result<()>;
    /// Checks that the destination can be reached (for `check-config`).
    fn probe(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counters of one pipeline, shared with its thread.
#[derive(Debug, Default)]
pub struct PipelineCounters {
    /// Documents delivered.
    pub sent: AtomicU64,
    /// Documents dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Documents dropped because the shutdown deadline passed first.
    pub dropped_at_shutdown: AtomicU64,
    /// Failed send attempts (each retried).
    pub send_errors: AtomicU64,
    /// Documents the destination refused for good (e.g. a mapping error).
    pub rejected: AtomicU64,
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
    /// Shut down: deliver what is queued until this instant.
    Stop(Instant),
}

/// A bounded queue and the thread that feeds one [`Output`].
pub struct Pipeline {
    /// Senders are cloned into [`FanoutHandle`]s for worker threads.
    name: &'static str,
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
    block: bool,
    /// Counters, readable while it runs.
    pub counters: Arc<PipelineCounters>,
}

impl Pipeline {
    /// Starts the output thread.
    pub fn start(output: Box<dyn Output>, s: PipelineSettings) -> Pipeline {
        let (tx, rx) = sync_channel(s.queue.max(1));
        let counters = Arc::new(PipelineCounters::default());
        let c = counters.clone();
        let name = output.name();
        let thread =
            std::thread::Builder::new().name(format!("output-{name}")).spawn(move || run(output, rx, s, c)).ok();
        Pipeline { name, tx, thread, block: s.block_when_full, counters }
    }

    /// Queues one document (with its `\n`).
    pub fn submit(&self, doc: Vec<u8>) {
        let r = if self.block {
            self.tx.send(Msg::Doc(doc)).map_err(|_| ())
        } else {
            match self.tx.try_send(Msg::Doc(doc)) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(()),
            }
        };
        if r.is_err() {
            self.counters.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Output name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Delivers what is queued, giving up at `deadline`, and stops.
    pub fn shutdown(mut self, deadline: Instant) -> Arc<PipelineCounters> {
        let _ = self.tx.send(Msg::Stop(deadline));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.counters.clone()
    }
}

fn run(mut out: Box<dyn Output>, rx: Receiver<Msg>, s: PipelineSettings, c: Arc<PipelineCounters>) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(s.batch);
    let mut stop: Option<Instant> = None;
    loop {
        // Fill a batch: wait for the first document, then take what is
        // queued, up to the batch size or the flush interval.
        let mut first_at: Option<Instant> = None;
        while batch.len() < s.batch && stop.is_none() {
            let wait = match first_at {
                None => s.flush_interval,
                Some(t) => s.flush_interval.saturating_sub(t.elapsed()),
            };
            match rx.recv_timeout(wait) {
                Ok(Msg::Doc(d)) => {
                    first_at.get_or_insert_with(Instant::now);
                    batch.push(d);
                }
                Ok(Msg::Stop(deadline)) => stop = Some(deadline),
                Err(RecvTimeoutError::Timeout) => {
                    if !batch.is_empty() {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => stop = Some(Instant::now() + Duration::from_secs(5)),
            }
        }
        if let Some(deadline) = stop {
            // Take everything still queued.
            while let Ok(Msg::Doc(d)) = rx.try_recv() {
                batch.push(d);
            }
            deliver_all(&mut *out, &mut batch, &s, &c, Some(deadline));
            let _ = out.close();
            return;
        }
        deliver_all(&mut *out, &mut batch, &s, &c, None);
    }
}

/// Sends `batch` in chunks of `s.batch`, retrying each chunk with backoff;
/// with a deadline, gives up when it passes (counting the rest as dropped).
fn deliver_all(
    out: &mut dyn Output,
    batch: &mut Vec<Vec<u8>>,
    s: &PipelineSettings,
    c: &PipelineCounters,
    deadline: Option<Instant>,
) {
    let mut backoff = s.backoff;
    let mut start = 0;
    while start < batch.len() {
        let end = (start + s.batch.max(1)).min(batch.len());
        let chunk = batch.get(start..end).unwrap_or(&[]);
        match out.send(chunk) {
            Ok(rejected) => {
                tracing::debug!(output = out.name(), documents = chunk.len(), "batch sent");
                let rejected = rejected.min(chunk.len() as u64);
                c.sent.fetch_add(chunk.len() as u64 - rejected, Ordering::Relaxed);
                c.rejected.fetch_add(rejected, Ordering::Relaxed);
                start = end;
                backoff = s.backoff;
            }
            Err(e) => {
                c.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(output = out.name(), error = %e, retry_in = ?backoff, "send failed");
                if deadline.is_some_and(|d| Instant::now() + backoff > d) {
                    c.dropped_at_shutdown.fetch_add((batch.len() - start) as u64, Ordering::Relaxed);
                    break;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(s.max_backoff);
            }
        }
    }
    batch.clear();
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
    senders: Vec<(SyncSender<Msg>, bool, Arc<PipelineCounters>)>,
}

impl DocWriter for FanoutHandle {
    fn write_doc(&mut self, line: &[u8]) -> io::Result<()> {
        for (tx, block, counters) in &self.senders {
            let msg = Msg::Doc(line.to_vec());
            let ok = if *block { tx.send(msg).is_ok() } else { tx.try_send(msg).is_ok() };
            if !ok {
                counters.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            }
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
        FanoutHandle { senders: self.pipelines.iter().map(|p| (p.tx.clone(), p.block, p.counters.clone())).collect() }
    }

    /// Drains every pipeline (within `grace`) and returns a summary line per
    /// output.
    pub fn shutdown(self, grace: Duration) -> Vec<String> {
        let deadline = Instant::now() + grace;
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
