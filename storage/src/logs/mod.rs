//! The log store: entries in Loki's shape (stream labels, line, structured metadata) indexed
//! by tantivy, one index per time partition. Fed in WAL order, live and by replay; each
//! partition's commit records the WAL position it covers, and the store asks the WAL to keep
//! everything from the oldest uncommitted position. Format: `storage/docs/logs.md`.

mod columns;
mod interned;
mod level;
mod otlp;
mod partition;
mod scan;
mod streams;
mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tracing::{info, warn};

pub use self::level::{LEVELS, detect as detect_level};
pub use self::otlp::{DEFAULT_PROMOTED, UNKNOWN_SERVICE, normalize_label, streams_from_otlp};
pub use self::scan::{LineQuery, LogEntry, LogScan};
pub use self::streams::{StreamInfo, stream_id};

use self::partition::Partition;
use self::streams::StreamTable;
use crate::{Batch, Entry, Error, Label, LogRecord, Result, StreamBatch, Tenant, WalNeed, WalPosition};

/// How the log store is laid out and kept.
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// Length of a time partition (one tantivy index each).
    pub partition: Duration,
    /// Partitions that end before now minus this are deleted.
    pub retention: Duration,
    /// Resource attributes (OTLP names) that become stream labels.
    pub promoted: Vec<String>,
    /// Entries this far ahead of the clock are refused.
    pub future_grace: Duration,
    /// zstd level of new partitions' doc stores (the lines): higher is smaller and dearer to
    /// write (BENCHMARKS.md, "Logs").
    pub compression_level: i32,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        LogStoreOptions {
            partition: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            promoted: DEFAULT_PROMOTED.iter().map(|s| (*s).to_owned()).collect(),
            future_grace: Duration::from_secs(600),
            compression_level: 3,
        }
    }
}

/// Counts of what the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStoreStats {
    /// Partitions on disk.
    pub partitions: usize,
    /// Streams known.
    pub streams: usize,
    /// Searchable entries.
    pub entries: u64,
    /// Bytes on disk.
    pub disk_bytes: u64,
    /// Entries refused since start because they were outside the retention window or too far
    /// in the future.
    pub dropped: u64,
}

/// The log store.
pub struct LogStore {
    dir: PathBuf,
    options: LogStoreOptions,
    partitions: RwLock<BTreeMap<i64, Arc<Partition>>>,
    streams: Mutex<StreamTable>,
    /// Stream ids present in each partition (by partition start).
    present: RwLock<HashMap<i64, std::collections::HashSet<u64>>>,
    dropped: AtomicU64,
    /// Held by each append of a whole WAL record and by commits and retention, so that a
    /// commit never lands in the middle of a record: a partition's commit then holds either all
    /// of a record's entries for it or none, which is what replay relies on.
    maintenance: Mutex<()>,
    /// Damaged partitions moved aside when the store opened.
    quarantined: Vec<PathBuf>,
}

impl LogStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, options: LogStoreOptions) -> Result<LogStore> {
        if options.partition.as_nanos() == 0 {
            return Err(Error::InvalidInput("the log partition length must be positive".into()));
        }
        if !(1..=22).contains(&options.compression_level) {
            return Err(Error::InvalidInput(format!(
                "the log compression level must be a zstd level from 1 to 22, not {}",
                options.compression_level
            )));
        }
        let parts_dir = dir.join("partitions");
        std::fs::create_dir_all(&parts_dir).map_err(Error::io("creating", &parts_dir))?;
        let streams = StreamTable::open(dir)?;
        let mut partitions = BTreeMap::new();
        let mut present = HashMap::new();
        let mut quarantined = Vec::new();
        let step = partition_nanos(&options);
        for entry in std::fs::read_dir(&parts_dir).map_err(Error::io("listing", &parts_dir))?.flatten() {
            let name = entry.file_name();
            let Some(start) = name.to_str().and_then(|n| n.parse::<i64>().ok()) else { continue };
            let opened = Partition::open(&entry.path(), start, start.saturating_add(step), options.compression_level)
                .and_then(|p| scan::stream_ids(&p).map(|ids| (p, ids)));
            match opened {
                Ok((partition, ids)) => {
                    present.insert(start, ids);
                    partitions.insert(start, Arc::new(partition));
                }
                Err(e) if crate::quarantine::is_damage(&e) => {
                    quarantined.push(crate::quarantine::quarantine(dir, &entry.path(), &e)?)
                }
                Err(e) => return Err(e),
            }
        }
        info!(partitions = partitions.len(), dir = %dir.display(), "log store opened");
        Ok(LogStore {
            dir: dir.to_owned(),
            options,
            partitions: RwLock::new(partitions),
            streams: Mutex::new(streams),
            present: RwLock::new(present),
            dropped: AtomicU64::new(0),
            maintenance: Mutex::new(()),
            quarantined,
        })
    }

    /// Damaged partitions moved to `quarantine/` when the store opened.
    pub fn quarantined(&self) -> &[PathBuf] {
        &self.quarantined
    }

    /// Adds OTLP log records written to the WAL at `position`, mapped to streams as Loki does.
    pub fn append_otlp(&self, position: WalPosition, tenant: &Tenant, batch: &Batch<LogRecord>) -> Result<()> {
        let streams = streams_from_otlp(batch, &self.options.promoted);
        self.append(position, tenant, streams)
    }

    /// Adds entries written to the WAL at `position`. Entries the partitions' commits already
    /// hold (on replay) are skipped; each gets a `detected_level` if it has none.
    pub fn append(&self, position: WalPosition, tenant: &Tenant, mut batch: StreamBatch) -> Result<()> {
        let _record = self.maintenance.lock().map_err(|_| Error::Poisoned)?;
        let now = now_nanos();
        let oldest = now.saturating_sub(i64::try_from(self.options.retention.as_nanos()).unwrap_or(i64::MAX));
        let newest = now.saturating_add(i64::try_from(self.options.future_grace.as_nanos()).unwrap_or(i64::MAX));
        let step = partition_nanos(&self.options);
        let mut ids = Vec::with_capacity(batch.streams.len());
        for stream in &mut batch.streams {
            ids.push(self.streams.lock().map_err(|_| Error::Poisoned)?.intern(tenant, &stream.labels)?);
            add_levels(&mut stream.entries);
        }
        let mut by_partition: BTreeMap<i64, Vec<(u64, &Entry)>> = BTreeMap::new();
        for (stream, &id) in batch.streams.iter().zip(&ids) {
            for entry in &stream.entries {
                if entry.time_unix_nano < oldest || entry.time_unix_nano > newest {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                by_partition.entry(entry.time_unix_nano.div_euclid(step) * step).or_default().push((id, entry));
            }
        }
        for (start, mut entries) in by_partition {
            let partition = self.partition(start)?;
            if partition.covers(position) {
                continue;
            }
            // In time order across the streams (a stream's own order kept for equal times):
            // the time column then takes a few bits a document instead of 30-odd.
            entries.sort_by_key(|(_, entry)| entry.time_unix_nano);
            partition.add(position, tenant.as_str(), &entries)?;
            if let Ok(mut present) = self.present.write() {
                let present = present.entry(start).or_default();
                for &(id, _) in &entries {
                    present.insert(id);
                }
            }
        }
        Ok(())
    }

    fn partition(&self, start: i64) -> Result<Arc<Partition>> {
        if let Some(p) = self.partitions.read().map_err(|_| Error::Poisoned)?.get(&start) {
            return Ok(Arc::clone(p));
        }
        let mut partitions = self.partitions.write().map_err(|_| Error::Poisoned)?;
        if let Some(p) = partitions.get(&start) {
            return Ok(Arc::clone(p));
        }
        let dir = self.dir.join("partitions").join(start.to_string());
        let p = Arc::new(Partition::open(
            &dir,
            start,
            start.saturating_add(partition_nanos(&self.options)),
            self.options.compression_level,
        )?);
        partitions.insert(start, Arc::clone(&p));
        Ok(p)
    }

    fn snapshot(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().map(|p| p.values().cloned().collect()).unwrap_or_default()
    }

    /// Commits every partition written since its last commit, making the entries searchable
    /// and durable without the WAL. Writers of partitions older than two partition lengths are
    /// closed. Returns how many partitions were committed.
    pub fn commit(&self) -> Result<usize> {
        let _maintenance = self.maintenance.lock().map_err(|_| Error::Poisoned)?;
        self.streams.lock().map_err(|_| Error::Poisoned)?.sync()?;
        let old = now_nanos().saturating_sub(2 * partition_nanos(&self.options));
        let mut committed = 0;
        for p in self.snapshot() {
            if p.commit(p.end < old)? {
                committed += 1;
            }
        }
        Ok(committed)
    }

    /// Deletes the partitions that ended before `now - retention`. Returns how many. They are
    /// taken out of the store under its lock, and closed and deleted after it (intake waits for
    /// that lock; entries for them are refused as too old by then).
    pub fn enforce_retention(&self, now_unix_nano: i64) -> Result<usize> {
        let expired: Vec<Arc<Partition>> = {
            let _maintenance = self.maintenance.lock().map_err(|_| Error::Poisoned)?;
            let cutoff =
                now_unix_nano.saturating_sub(i64::try_from(self.options.retention.as_nanos()).unwrap_or(i64::MAX));
            let mut partitions = self.partitions.write().map_err(|_| Error::Poisoned)?;
            let starts: Vec<i64> = partitions.values().filter(|p| p.end <= cutoff).map(|p| p.start).collect();
            let expired: Vec<Arc<Partition>> = starts.iter().filter_map(|s| partitions.remove(s)).collect();
            if let Ok(mut present) = self.present.write() {
                for p in &expired {
                    present.remove(&p.start);
                }
            }
            expired
        };
        for p in &expired {
            if let Err(e) = p.close() {
                warn!(error = %e, "closing an expired log partition failed");
            }
            std::fs::remove_dir_all(&p.dir).map_err(Error::io("removing", &p.dir))?;
            info!(start = p.start, "log partition past retention deleted");
        }
        Ok(expired.len())
    }

    /// What the store still needs from the WAL: everything from the oldest position not yet
    /// committed.
    pub fn wal_needed(&self) -> WalNeed {
        match self.snapshot().iter().filter_map(|p| p.uncommitted_from()).min() {
            Some(first) => WalNeed::From(first),
            None => WalNeed::Nothing,
        }
    }

    /// Closes every writer, committing what is pending.
    pub fn close(&self) -> Result<()> {
        self.commit()?;
        for p in self.snapshot() {
            p.close()?;
        }
        Ok(())
    }

    /// The tenant's streams that may have entries in `[start, end)` (partition granularity)
    /// and whose labels `keep` accepts.
    pub fn streams(
        &self,
        tenant: &Tenant,
        start: i64,
        end: i64,
        keep: &dyn Fn(&crate::Labels) -> bool,
    ) -> Vec<StreamInfo> {
        let mut ids = std::collections::HashSet::new();
        if let Ok(present) = self.present.read() {
            for p in self.snapshot() {
                if p.end > start
                    && p.start < end
                    && let Some(set) = present.get(&p.start)
                {
                    ids.extend(set.iter().copied());
                }
            }
        }
        let Ok(table) = self.streams.lock() else { return Vec::new() };
        let mut out: Vec<StreamInfo> = ids
            .into_iter()
            .filter_map(|id| table.get(id))
            .filter(|s| s.tenant == *tenant && keep(&s.labels))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Labels of a stream.
    pub fn stream(&self, id: u64) -> Option<StreamInfo> {
        self.streams.lock().ok().and_then(|t| t.get(id).cloned())
    }

    /// Counts of what the store holds.
    pub fn stats(&self) -> LogStoreStats {
        let partitions = self.snapshot();
        LogStoreStats {
            partitions: partitions.len(),
            streams: self.streams.lock().map(|t| t.iter().count()).unwrap_or(0),
            entries: partitions.iter().map(|p| p.reader.searcher().num_docs()).sum(),
            disk_bytes: partitions.iter().map(|p| p.disk_bytes()).sum(),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Gives every entry without one a `detected_level` in its structured metadata, as Loki's
/// distributor does.
pub fn add_detected_levels(batch: &mut StreamBatch) {
    for stream in &mut batch.streams {
        add_levels(&mut stream.entries);
    }
}

fn add_levels(entries: &mut [Entry]) {
    for entry in entries {
        if !entry.metadata.iter().any(|l| l.name == "detected_level") {
            let level = level::detect(&entry.line, &entry.metadata);
            entry.metadata.push(Label::new("detected_level", level));
        }
    }
}

fn partition_nanos(options: &LogStoreOptions) -> i64 {
    i64::try_from(options.partition.as_nanos()).unwrap_or(i64::MAX).max(1)
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_unix_nano() -> i64 {
    now_nanos()
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
