use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::{WalPosition, list_segments, segment_header, segment_path};
use crate::{Error, Result, TenantPayload};

/// When the WAL calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Group commit: each group of queued records is fsynced before any of them is acknowledged.
    Always,
    /// Acknowledge once written to the OS; fsync in the background on this interval.
    /// Survives a killed process, may lose the last interval on power loss.
    Interval(Duration),
    /// Never fsync (tests and benchmarks of everything but the disk).
    Never,
}

/// How the WAL behaves.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// Start a new segment once the current one is this large.
    pub segment_size: u64,
    /// Records waiting for the writer; appenders wait when it is full.
    pub queue_depth: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { fsync: FsyncPolicy::Always, segment_size: 128 << 20, queue_depth: 1024 }
    }
}

/// The WAL's own metrics.
#[derive(Clone)]
pub struct WalMetrics {
    written_bytes: IntCounter,
    records: IntCounter,
    fsync_duration: Histogram,
    group_records: Histogram,
    segments: IntGauge,
}

impl WalMetrics {
    /// Creates the metrics (`lookout_wal_…`) and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<WalMetrics> {
        WalMetrics::named(registry, "lookout_wal")
    }

    /// The same for another WAL, its metrics named `<prefix>_…`.
    pub fn named(registry: &Registry, prefix: &str) -> prometheus::Result<WalMetrics> {
        let m = WalMetrics {
            written_bytes: IntCounter::new(
                format!("{prefix}_written_bytes_total"),
                "Bytes written to the write-ahead log.",
            )?,
            records: IntCounter::new(format!("{prefix}_records_total"), "Records written to the write-ahead log.")?,
            fsync_duration: Histogram::with_opts(
                HistogramOpts::new(
                    format!("{prefix}_fsync_duration_seconds"),
                    "Time spent in fsync of the write-ahead log.",
                )
                .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16)?),
            )?,
            group_records: Histogram::with_opts(
                HistogramOpts::new(
                    format!("{prefix}_group_commit_records"),
                    "Records written together in one group commit.",
                )
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12)?),
            )?,
            segments: IntGauge::new(format!("{prefix}_segments"), "Segment files in the write-ahead log directory.")?,
        };
        registry.register(Box::new(m.written_bytes.clone()))?;
        registry.register(Box::new(m.records.clone()))?;
        registry.register(Box::new(m.fsync_duration.clone()))?;
        registry.register(Box::new(m.group_records.clone()))?;
        registry.register(Box::new(m.segments.clone()))?;
        Ok(m)
    }
}

struct Job {
    record: Vec<u8>,
    payload: TenantPayload,
    done: oneshot::Sender<Result<(), String>>,
}

/// Receives every record once it is durable, in WAL order, before its appender is answered:
/// this is how the stores are fed, so that what was acknowledged is also queryable.
pub type Apply = Box<dyn FnMut(WalPosition, TenantPayload) + Send>;

/// The open write-ahead log. Cheap to share behind an `Arc`.
pub struct Wal {
    tx: RwLock<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    dir: PathBuf,
    metrics: WalMetrics,
    /// The segment being written: every record of the segments before it has been applied.
    writing: Arc<AtomicU64>,
}

impl Wal {
    /// Opens the WAL in `dir` for appending. Writing starts in a new segment after the existing
    /// ones, so replay them first ([`crate::WalReader`]). `apply` gets each durable record.
    pub fn open(dir: &Path, options: WalOptions, metrics: WalMetrics, apply: Apply) -> Result<Wal> {
        std::fs::create_dir_all(dir).map_err(Error::io("create wal directory", dir))?;
        let existing = list_segments(dir)?;
        let next = existing.last().map_or(1, |(i, _)| i + 1);
        metrics.segments.set(existing.len() as i64);
        let segment = Segment::create(dir, next)?;
        metrics.segments.inc();
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        let current =
            Arc::new(Mutex::new(segment.file.try_clone().map_err(Error::io("clone wal segment", &segment.path))?));
        let mut syncer = None;
        let mut stop = None;
        if let FsyncPolicy::Interval(every) = options.fsync {
            let (file, sync_metrics) = (Arc::clone(&current), metrics.clone());
            let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::Builder::new()
                .name("wal-fsync".into())
                .spawn(move || interval_sync(file, every, stop_rx, sync_metrics))
                .map_err(Error::io("spawn wal fsync thread", dir))?;
            (syncer, stop) = (Some(thread), Some(stop_tx));
        }
        let writing = Arc::new(AtomicU64::new(next));
        let writer = Writer {
            writing: Arc::clone(&writing),
            dir: dir.to_owned(),
            segment,
            options,
            metrics: metrics.clone(),
            current,
            apply,
            failed: None,
            _stop: stop,
        };
        // The writer is joined first: it drops the stop sender, which ends the fsync thread.
        let threads = std::iter::once(spawn_writer(writer, rx, dir)?).chain(syncer).collect();
        Ok(Wal { tx: RwLock::new(Some(tx)), threads: Mutex::new(threads), dir: dir.to_owned(), metrics, writing })
    }

    /// Deletes the segments no store needs, and returns how many. `needed_from` gives the first
    /// segment the stores still need ([`crate::WalNeed::first_segment`]). It is asked after the
    /// segment being written is noted, and that segment and newer ones are kept: the writer
    /// moves to a new segment only once every record of the old one has been applied, so the
    /// stores' answer covers every record that is deleted.
    pub fn truncate(&self, needed_from: impl FnOnce() -> u64) -> Result<usize> {
        let writing = self.writing.load(Ordering::Acquire);
        let below = needed_from().min(writing);
        let mut removed = 0;
        for (index, path) in list_segments(&self.dir)? {
            if index >= below {
                continue;
            }
            std::fs::remove_file(&path).map_err(Error::io("remove wal segment", &path))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
            self.metrics.segments.sub(removed as i64);
        }
        Ok(removed)
    }

    /// Appends `payload`, encoded as `record` by [`crate::encode_record`]; resolves once it is
    /// durable under the fsync policy and applied. Waits while the writer's queue is full.
    pub async fn append(&self, record: Vec<u8>, payload: TenantPayload) -> Result<()> {
        let tx = self
            .tx
            .read()
            .map_err(|_| Error::Unavailable("wal lock poisoned".into()))?
            .clone()
            .ok_or_else(|| Error::Unavailable("shutting down".into()))?;
        let (done, wait) = oneshot::channel();
        tx.send(Job { record, payload, done }).await.map_err(|_| Error::Unavailable("writer stopped".into()))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::Unavailable(reason)),
            Err(_) => Err(Error::Unavailable("writer stopped".into())),
        }
    }

    /// Stops taking appends, writes and fsyncs what is queued, and waits for the writer.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.write() {
            tx.take();
        }
        let threads = self.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

fn spawn_writer(writer: Writer, rx: mpsc::Receiver<Job>, dir: &Path) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wal-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(Error::io("spawn wal writer", dir))
}

struct Segment {
    path: PathBuf,
    index: u64,
    file: File,
    size: u64,
}

impl Segment {
    fn create(dir: &Path, index: u64) -> Result<Segment> {
        let path = segment_path(dir, index);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(Error::io("create wal segment", &path))?;
        let header = segment_header();
        file.write_all(&header).map_err(Error::io("write wal segment header", &path))?;
        file.sync_all().map_err(Error::io("sync wal segment", &path))?;
        sync_dir(dir)?;
        Ok(Segment { path, index, file, size: header.len() as u64 })
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("sync wal directory", dir))
}

struct Writer {
    writing: Arc<AtomicU64>,
    dir: PathBuf,
    segment: Segment,
    options: WalOptions,
    metrics: WalMetrics,
    current: Arc<Mutex<File>>,
    apply: Apply,
    failed: Option<String>,
    /// Dropping this stops the interval fsync thread.
    _stop: Option<std::sync::mpsc::Sender<()>>,
}

/// Upper bound on one group commit, so a flood cannot delay every acknowledgement forever.
const MAX_GROUP_BYTES: usize = 32 << 20;

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut group: Vec<Job> = Vec::new();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        while let Some(first) = rx.blocking_recv() {
            buf.clear();
            // A burst may have grown the group buffer; do not keep its peak for good.
            if buf.capacity() > 4 << 20 {
                buf.shrink_to(1 << 20);
            }
            buf.extend_from_slice(&first.record);
            group.push(first);
            while buf.len() < MAX_GROUP_BYTES {
                let Ok(job) = rx.try_recv() else { break };
                buf.extend_from_slice(&job.record);
                group.push(job);
            }
            let mut position = WalPosition { segment: self.segment.index, offset: self.segment.size };
            let outcome = self.commit(&buf, group.len()).map_err(|e| {
                error!(error = %e, "wal write failed; refusing further writes");
                let reason = e.to_string();
                self.failed = Some(reason.clone());
                reason
            });
            for job in group.drain(..) {
                if outcome.is_ok() {
                    (self.apply)(position, job.payload);
                }
                position.offset += job.record.len() as u64;
                let _ = job.done.send(outcome.clone());
            }
            // A full segment is left only now that its records are applied: truncation deletes
            // the segments before the one being written, so the stores must know of every
            // record in them.
            if outcome.is_ok()
                && self.segment.size >= self.options.segment_size
                && let Err(e) = self.rotate()
            {
                error!(error = %e, "starting a new wal segment failed; refusing further writes");
                self.failed = Some(e.to_string());
            }
        }
        if self.failed.is_none()
            && let Err(e) = self.sync()
        {
            error!(error = %e, "final wal fsync failed");
        }
        info!(segment = %self.segment.path.display(), "wal closed");
    }

    fn commit(&mut self, buf: &[u8], records: usize) -> Result<()> {
        if let Some(reason) = &self.failed {
            return Err(Error::Unavailable(reason.clone()));
        }
        self.segment.file.write_all(buf).map_err(Error::io("write wal segment", &self.segment.path))?;
        self.segment.size += buf.len() as u64;
        self.metrics.written_bytes.inc_by(buf.len() as u64);
        self.metrics.records.inc_by(records as u64);
        self.metrics.group_records.observe(records as f64);
        if self.options.fsync == FsyncPolicy::Always {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let started = Instant::now();
        self.segment.file.sync_data().map_err(Error::io("sync wal segment", &self.segment.path))?;
        self.metrics.fsync_duration.observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        if self.options.fsync != FsyncPolicy::Never {
            self.sync()?;
        }
        let next = Segment::create(&self.dir, self.segment.index + 1)?;
        let clone = next.file.try_clone().map_err(Error::io("clone wal segment", &next.path))?;
        if let Ok(mut current) = self.current.lock() {
            *current = clone;
        }
        self.segment = next;
        self.writing.store(self.segment.index, Ordering::Release);
        self.metrics.segments.inc();
        Ok(())
    }
}

fn interval_sync(current: Arc<Mutex<File>>, every: Duration, stop: std::sync::mpsc::Receiver<()>, metrics: WalMetrics) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        let file = match current.lock() {
            Ok(file) => file.try_clone(),
            Err(_) => return,
        };
        let Ok(file) = file else { continue };
        let started = Instant::now();
        if let Err(e) = file.sync_data() {
            error!(error = %e, "background wal fsync failed");
        }
        metrics.fsync_duration.observe(started.elapsed().as_secs_f64());
    }
}
