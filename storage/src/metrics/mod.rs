//! The metrics store: a time-series database in the shape of Prometheus's TSDB.
//!
//! - The head holds every series (interned labels, inverted postings) and its recent samples in
//!   Gorilla chunks. It is fed in WAL order by [`Tsdb::apply`]; ingest first asks an
//!   [`Appender`] for series references and sample checks, so that what the WAL keeps is
//!   already valid.
//! - Every `block_range` (2 h) of sample time, once the head spans one and a half ranges, the
//!   oldest range is cut into an immutable block on disk; blocks are compacted into ranges three
//!   times larger, and deleted whole by retention.
//! - After a cut the store writes its head snapshot (series and metadata, no samples) with the
//!   WAL position replay must start from; after a restart the head is the snapshot plus the
//!   WAL from there.
//!
//! Format and crash safety: `storage/docs/metrics.md`.

mod appender;
mod block;
mod chunk;
mod head;
mod head_chunks;
mod index;
mod memory;
mod pack;
mod querier;
mod snapshot;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

pub use self::appender::{Appender, Refusals};
use self::block::{Block, BlockWriter, ChunkReader, ChunkRef, SeriesReader};
pub use self::chunk::{Chunk, ChunkWriter};
use self::head::{Head, align_down};
use self::head_chunks::{ChunkFiles, ChunkHandle};
pub use self::index::{MatchOp, Matcher};
pub use self::memory::MemSeries;
pub use self::querier::{Querier, SeriesData, TsdbStatus};
use crate::{Error, Labels, Result, SampleBatch, Tenant, WalPosition};

/// Settings of the metrics store.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Sample time covered by one block cut from the head.
    pub block_range: Duration,
    /// Blocks entirely older than this (by sample time, against the wall clock) are deleted,
    /// and samples older than this are neither accepted nor returned.
    pub retention: Duration,
    /// Most series one tenant may have in the head.
    pub max_series_per_tenant: usize,
    /// Tenants with a series limit of their own.
    pub max_series_overrides: std::collections::HashMap<Tenant, usize>,
    /// Most labels one series may have (`__name__` included).
    pub max_labels_per_series: usize,
    /// Longest label name, in bytes (Mimir's default, 1024).
    pub max_label_name_length: usize,
    /// Longest label value, in bytes (Mimir's default, 2048).
    pub max_label_value_length: usize,
    /// Exemplars kept in memory, across all series (oldest dropped first).
    pub max_exemplars: usize,
    /// zstd level for blocks cut from the head.
    pub cut_zstd_level: i32,
    /// zstd level for compacted blocks.
    pub compact_zstd_level: i32,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        TsdbOptions {
            block_range: Duration::from_secs(2 * 3600),
            retention: Duration::from_secs(15 * 24 * 3600),
            max_series_per_tenant: 1_000_000,
            max_series_overrides: std::collections::HashMap::new(),
            max_labels_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_exemplars: 100_000,
            cut_zstd_level: 3,
            compact_zstd_level: 9,
        }
    }
}

impl TsdbOptions {
    /// The most series `tenant` may have in the head.
    pub fn max_series(&self, tenant: &Tenant) -> usize {
        self.max_series_overrides.get(tenant).copied().unwrap_or(self.max_series_per_tenant)
    }

    fn range_ms(&self) -> i64 {
        // A head chunk stores its time span in 32 bits.
        (self.block_range.as_millis() as i64).clamp(1, u32::MAX as i64)
    }

    fn retention_ms(&self) -> i64 {
        self.retention.as_millis().min(i64::MAX as u128) as i64
    }

    /// Block ranges compaction builds: three times the previous, up to a tenth of retention
    /// (at most 31 days), as Prometheus does.
    fn compaction_ranges(&self) -> Vec<i64> {
        let max = (self.retention_ms() / 10).min(31 * 24 * 3600 * 1000);
        let mut ranges = vec![self.range_ms()];
        while let Some(&last) = ranges.last() {
            let next = last.saturating_mul(3);
            if next > max || ranges.len() >= 8 {
                break;
            }
            ranges.push(next);
        }
        ranges
    }
}

/// What the store holds and has done, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TsdbStats {
    /// Series in the head.
    pub head_series: u64,
    /// Chunks in the head (closed and open).
    pub head_chunks: u64,
    /// Oldest and newest sample time in the head (ms).
    pub head_min_t: Option<i64>,
    /// Newest sample time in the head (ms).
    pub head_max_t: Option<i64>,
    /// Approximate heap bytes of the head.
    pub head_bytes: u64,
    /// Bytes of closed head chunks spilled to disk.
    pub head_chunk_file_bytes: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Bytes of blocks on disk.
    pub block_bytes: u64,
    /// Samples in blocks on disk.
    pub block_samples: u64,
    /// Samples appended to the head since start (replay included).
    pub samples_appended: u64,
    /// Samples in WAL records that the head could not take (out of order or out of bounds by
    /// the time they were applied).
    pub samples_dropped: u64,
    /// Exemplars in memory.
    pub exemplars: u64,
}

/// One series' head chunks, with its tenant and labels, on the way into a block.
type SeriesChunks = (Tenant, Labels, Vec<ChunkHandle>);

/// Replaces `out` with the samples of head chunks, in order.
fn chunk_samples(chunks: &[ChunkHandle], out: &mut Vec<crate::Sample>) -> Result<()> {
    out.clear();
    chunks.iter().try_for_each(|c| c.decode_into(out))
}

struct State {
    head: Head,
    blocks: Vec<Arc<Block>>,
}

/// The metrics store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Tsdb {
    dir: PathBuf,
    options: TsdbOptions,
    state: RwLock<State>,
    /// Serialises cuts, compactions, retention and snapshots.
    maintenance: Mutex<()>,
    /// Where replay must start, as of the last snapshot.
    checkpoint: Mutex<Option<WalPosition>>,
    appended: AtomicU64,
    dropped: AtomicU64,
    /// Damaged blocks moved aside when the store opened.
    quarantined: Vec<PathBuf>,
}

impl Tsdb {
    /// Opens (or creates) the store in `dir`: blocks and the head snapshot. The caller then
    /// replays the WAL from [`Tsdb::checkpoint`] through [`Tsdb::apply`].
    pub fn open(dir: &Path, options: TsdbOptions) -> Result<Tsdb> {
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir).map_err(Error::io("create directory", &blocks_dir))?;
        let (mut blocks, mut quarantined) = (Vec::new(), Vec::new());
        for entry in std::fs::read_dir(&blocks_dir).map_err(Error::io("read directory", &blocks_dir))? {
            let path = entry.map_err(Error::io("read directory", &blocks_dir))?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                // An unfinished block or compaction: its sources are still in place.
                std::fs::remove_dir_all(&path).map_err(Error::io("remove directory", &path))?;
                continue;
            }
            match Block::open(&path) {
                Ok(block) => blocks.push(Arc::new(block)),
                Err(e) if crate::quarantine::is_damage(&e) => {
                    quarantined.push(crate::quarantine::quarantine(dir, &path, &e)?)
                }
                Err(e) => return Err(e),
            }
        }
        remove_replaced_blocks(&mut blocks)?;
        blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
        let mut head = Head::new(options.range_ms(), options.max_exemplars);
        head.files = ChunkFiles::open(dir.join("head_chunks"))?;
        let checkpoint = snapshot::load(dir, &mut head)?;
        if let Some(last) = blocks.iter().map(|b| b.meta.max_t).max() {
            head.min_valid_t = head.min_valid_t.max(last);
        }
        info!(blocks = blocks.len(), series = head.live_series, "metrics store opened");
        Ok(Tsdb {
            dir: dir.to_path_buf(),
            options,
            state: RwLock::new(State { head, blocks }),
            maintenance: Mutex::new(()),
            checkpoint: Mutex::new(checkpoint),
            appended: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            quarantined,
        })
    }

    /// Damaged blocks moved to `quarantine/` when the store opened.
    pub fn quarantined(&self) -> &[PathBuf] {
        &self.quarantined
    }

    /// The store's options.
    pub fn options(&self) -> &TsdbOptions {
        &self.options
    }

    /// WAL records at or after this position may hold samples the store does not have on disk;
    /// `None` means replay everything.
    pub fn checkpoint(&self) -> Option<WalPosition> {
        *self.checkpoint.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the store needs from the WAL after a restart: nothing if it never took a record,
    /// else the records from its checkpoint (everything until it has written one).
    pub fn wal_needed(&self) -> crate::WalNeed {
        let applied = self.read().head.applied_through;
        match (self.checkpoint(), applied) {
            (Some(p), _) => crate::WalNeed::From(p),
            (None, None) => crate::WalNeed::Nothing,
            (None, Some(_)) => crate::WalNeed::Everything,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a batch for `tenant`: series references and checked samples for one WAL record.
    pub fn appender(&self, tenant: &Tenant) -> Appender<'_> {
        Appender::new(self, tenant.clone())
    }

    /// Applies a durable WAL record (in WAL order, live or during replay).
    pub fn apply(&self, position: WalPosition, tenant: &Tenant, batch: &SampleBatch) {
        let counts = self.write().head.apply(position, tenant, batch);
        self.appended.fetch_add(counts.samples, Ordering::Relaxed);
        if counts.dropped > 0 {
            self.dropped.fetch_add(counts.dropped, Ordering::Relaxed);
        }
    }

    /// Milliseconds since the Unix epoch of `now`.
    fn millis(now: SystemTime) -> i64 {
        now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    /// The oldest sample time retention keeps at `now`.
    pub fn retention_start(&self, now: SystemTime) -> i64 {
        Self::millis(now).saturating_sub(self.options.retention_ms())
    }

    /// Cuts the oldest block range out of the head when the head spans more than one and a
    /// half ranges; repeats while it still does. Returns the number of blocks written.
    pub fn cut_if_due(&self) -> Result<usize> {
        let _m = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let range = self.options.range_ms();
        let mut written = 0;
        loop {
            let Some((lo, hi)) = self.read().head.time_range() else { break };
            if hi - lo <= range / 2 * 3 {
                break;
            }
            let start = align_down(lo, range);
            self.cut_range(start, start + range)?;
            written += 1;
        }
        if written > 0 {
            self.write_snapshot_locked()?;
        }
        Ok(written)
    }

    /// Cuts everything in the head into blocks (used at shutdown and by tests).
    pub fn cut_all(&self) -> Result<usize> {
        let _m = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let range = self.options.range_ms();
        let mut written = 0;
        loop {
            let range_now = self.read().head.time_range();
            let Some((lo, _)) = range_now else { break };
            let start = align_down(lo, range);
            self.cut_range(start, start + range)?;
            written += 1;
        }
        self.write_snapshot_locked()?;
        Ok(written)
    }

    fn cut_range(&self, start: i64, end: i64) -> Result<()> {
        self.write().head.set_min_valid(end);
        // From here no chunk ending before `end` appears or changes, so the series can be read
        // a batch at a time, in block order, without copying every label set at once.
        let order: Vec<u32> = {
            let state = self.read();
            let head = &state.head;
            let mut ids: Vec<u32> = (0..head.series.len() as u32)
                .filter(|&id| {
                    // Chunks never span a block range: one starting before `end` ends before it.
                    head.series[id as usize]
                        .as_ref()
                        .is_some_and(|s| s.closed > 0 && s.min_t().is_some_and(|t| t < end))
                })
                .collect();
            ids.sort_unstable_by(|&a, &b| head.compare_series(a, b));
            ids
        };
        let dir = self.block_dir(start, end, 1);
        let mut writer = BlockWriter::create(&dir, start, end, 1, self.options.cut_zstd_level)?;
        let mut samples = Vec::new();
        for batch in order.chunks(1024) {
            // Where each series' chunks are, under the lock; the chunks are read after it.
            let (series, reader, chunks_from) = {
                let state = self.read();
                let head = &state.head;
                let series: Vec<_> = batch
                    .iter()
                    .filter_map(|&id| head.series[id as usize].as_ref())
                    .map(|s| (head.tenants[s.tenant as usize].name.clone(), head.symbols.labels(&s.labels), s.newest))
                    .collect();
                (series, head.files.reader(), head.chunks_from)
            };
            for (tenant, labels, newest) in &series {
                let chunks = reader.chunks(*newest, chunks_from, i64::MIN, end - 1)?;
                chunk_samples(&chunks, &mut samples)?;
                writer.add_series(tenant, labels, &samples)?;
            }
        }
        let block = writer.finish()?;
        let mut state = self.write();
        if let Some(block) = block {
            info!(block = %dir.display(), series = block.meta.series, samples = block.meta.samples, "metrics block cut");
            state.blocks.push(Arc::new(block));
            state.blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
        }
        state.head.truncate(end);
        Ok(())
    }

    fn block_dir(&self, min_t: i64, max_t: i64, level: u32) -> PathBuf {
        self.dir.join("blocks").join(format!("{min_t}-{max_t}-{level}"))
    }

    /// Writes the head snapshot and moves the checkpoint to where replay must start now.
    pub fn write_snapshot(&self) -> Result<()> {
        let _m = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        self.write_snapshot_locked()
    }

    fn write_snapshot_locked(&self) -> Result<()> {
        let (bytes, replay_from) = {
            let state = self.read();
            snapshot::encode(&state.head)?
        };
        snapshot::store(&self.dir, &bytes)?;
        *self.checkpoint.lock().unwrap_or_else(|e| e.into_inner()) = replay_from;
        Ok(())
    }

    /// Merges blocks whose aligned range of the next size is complete (no sample can still
    /// arrive in it). Returns the number of blocks written.
    pub fn compact(&self) -> Result<usize> {
        let _m = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let mut written = 0;
        for range in self.options.compaction_ranges().into_iter().skip(1) {
            loop {
                let (group, min_valid) = {
                    let state = self.read();
                    (compaction_group(&state.blocks, range, state.head.min_valid_t), state.head.min_valid_t)
                };
                let Some((start, group)) = group else { break };
                let level = group.iter().map(|b| b.meta.level).max().unwrap_or(1) + 1;
                let dir = self.block_dir(start, start + range, level);
                let merged = merge(&group, &dir, start, start + range, level, self.options.compact_zstd_level)?;
                let mut state = self.write();
                state.blocks.retain(|b| !group.iter().any(|g| Arc::ptr_eq(b, g)));
                if let Some(block) = merged {
                    info!(block = %dir.display(), sources = group.len(), samples = block.meta.samples, "metrics blocks compacted");
                    state.blocks.push(Arc::new(block));
                    state.blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
                }
                drop(state);
                for b in &group {
                    if b.dir != dir {
                        std::fs::remove_dir_all(&b.dir).map_err(Error::io("remove directory", &b.dir))?;
                    }
                }
                written += 1;
                let _ = min_valid;
            }
        }
        Ok(written)
    }

    /// Writes a snapshot of the whole store into `snapshots/<name>/` as Prometheus's
    /// `/api/v1/admin/tsdb/snapshot` does: links to every block, and the head written as blocks
    /// (at the compaction zstd level) unless `skip_head`. The running store is not changed.
    pub fn snapshot(&self, name: &str, skip_head: bool) -> Result<PathBuf> {
        let _m = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.dir.join("snapshots").join(name);
        std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
        let blocks: Vec<Arc<Block>> = self.read().blocks.clone();
        for b in &blocks {
            let Some(block_name) = b.dir.file_name() else { continue };
            let target = dir.join(block_name);
            std::fs::create_dir_all(&target).map_err(Error::io("create directory", &target))?;
            for file in ["meta.json", "index", "chunks"] {
                let from = b.dir.join(file);
                std::fs::hard_link(&from, target.join(file)).map_err(Error::io("link", &from))?;
            }
        }
        if skip_head {
            return Ok(dir);
        }
        let range = self.options.range_ms();
        let mut by_range: std::collections::BTreeMap<i64, Vec<SeriesChunks>> = Default::default();
        // Where each series' chunks are, under the lock; the chunks are read after it.
        let (series, reader, chunks_from) = {
            let state = self.read();
            let head = &state.head;
            let series: Vec<_> = head
                .series
                .iter()
                .flatten()
                .map(|s| {
                    let open = (s.open.count() > 0).then(|| ChunkHandle::memory(s.open.clone().finish()));
                    (head.tenants[s.tenant as usize].name.clone(), head.symbols.labels(&s.labels), s.newest, open)
                })
                .collect();
            (series, head.files.reader(), head.chunks_from)
        };
        for (tenant, labels, newest, open) in series {
            let mut chunks = reader.chunks(newest, chunks_from, i64::MIN, i64::MAX)?;
            chunks.extend(open);
            for c in chunks {
                let start = align_down(c.min_t, range);
                let list = by_range.entry(start).or_default();
                match list.last_mut() {
                    Some(last) if last.0 == tenant && last.1 == labels => last.2.push(c),
                    _ => list.push((tenant.clone(), labels.clone(), vec![c])),
                }
            }
        }
        for (start, mut series) in by_range {
            series.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
            let block_dir = dir.join(format!("{start}-{}-head", start + range));
            let mut writer = BlockWriter::create(&block_dir, start, start + range, 1, self.options.compact_zstd_level)?;
            let mut samples = Vec::new();
            for (tenant, labels, chunks) in &series {
                chunk_samples(chunks, &mut samples)?;
                writer.add_series(tenant, labels, &samples)?;
            }
            writer.finish()?;
        }
        Ok(dir)
    }

    /// Deletes blocks that end before the retention window. Returns how many.
    pub fn enforce_retention(&self, now: SystemTime) -> Result<usize> {
        let _m = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let start = self.retention_start(now);
        let expired: Vec<Arc<Block>> = {
            let mut state = self.write();
            let (old, keep): (Vec<_>, Vec<_>) = state.blocks.drain(..).partition(|b| b.meta.max_t <= start);
            state.blocks = keep;
            state.head.min_valid_t = state.head.min_valid_t.max(start);
            old
        };
        for b in &expired {
            info!(block = %b.dir.display(), "metrics block deleted by retention");
            std::fs::remove_dir_all(&b.dir).map_err(Error::io("remove directory", &b.dir))?;
        }
        Ok(expired.len())
    }

    /// Counters and sizes.
    pub fn stats(&self) -> TsdbStats {
        let state = self.read();
        let head = &state.head;
        let range = head.time_range();
        TsdbStats {
            head_series: head.live_series as u64,
            head_chunks: head.series.iter().flatten().map(|s| u64::from(s.closed) + (s.open.count() > 0) as u64).sum(),
            head_min_t: range.map(|r| r.0),
            head_max_t: range.map(|r| r.1),
            head_bytes: head.heap_bytes() as u64,
            head_chunk_file_bytes: head.files.bytes(),
            blocks: state.blocks.len() as u64,
            block_bytes: state.blocks.iter().map(|b| b.bytes).sum(),
            block_samples: state.blocks.iter().map(|b| b.meta.samples).sum(),
            samples_appended: self.appended.load(Ordering::Relaxed),
            samples_dropped: self.dropped.load(Ordering::Relaxed),
            exemplars: head.exemplars.len() as u64,
        }
    }
}

/// The first aligned range of size `range` whose blocks (more than one, all smaller than
/// `range`) can be merged: the range is entirely before `min_valid_t`.
fn compaction_group(blocks: &[Arc<Block>], range: i64, min_valid_t: i64) -> Option<(i64, Vec<Arc<Block>>)> {
    let mut groups: std::collections::BTreeMap<i64, Vec<Arc<Block>>> = Default::default();
    for b in blocks {
        let start = align_down(b.meta.min_t, range);
        if b.meta.max_t <= start + range && b.meta.max_t - b.meta.min_t < range {
            groups.entry(start).or_default().push(b.clone());
        }
    }
    groups.into_iter().find(|(start, g)| g.len() > 1 && start + range <= min_valid_t)
}

/// One block's series of one tenant, read in label order during a merge.
struct MergeCursor<'b> {
    block: &'b Block,
    series: SeriesReader<'b>,
    chunks: ChunkReader<'b>,
    next: u32,
    current: Option<(Labels, Vec<ChunkRef>)>,
}

impl<'b> MergeCursor<'b> {
    fn new(block: &'b Block, tenant: &Tenant) -> Result<MergeCursor<'b>> {
        let series = block.series_reader(tenant);
        let mut cursor = MergeCursor { block, series, chunks: ChunkReader::new(block), next: 0, current: None };
        cursor.advance()?;
        Ok(cursor)
    }

    fn advance(&mut self) -> Result<()> {
        self.current = None;
        if self.next < self.series.len() {
            let s = self.series.get(self.next)?;
            self.current = Some((self.block.symbols.labels(&s.labels), s.chunks.clone()));
            self.next += 1;
        }
        Ok(())
    }
}

/// Writes one block holding every series of `blocks`, merged by tenant and labels. Each
/// block's series are sorted by labels, so this walks them side by side, one series at a time.
fn merge(blocks: &[Arc<Block>], dir: &Path, min_t: i64, max_t: i64, level: u32, zstd: i32) -> Result<Option<Block>> {
    let mut writer = BlockWriter::create(dir, min_t, max_t, level, zstd)?;
    let mut tenants: Vec<&Tenant> = blocks.iter().flat_map(|b| b.tenants()).collect();
    tenants.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    tenants.dedup();
    let mut samples = Vec::new();
    for tenant in tenants {
        let mut cursors: Vec<MergeCursor<'_>> =
            blocks.iter().map(|b| MergeCursor::new(b, tenant)).collect::<Result<_>>()?;
        while let Some(next) = cursors.iter().filter_map(|c| c.current.as_ref().map(|(l, _)| l)).min().cloned() {
            samples.clear();
            let mut sources = 0;
            for c in &mut cursors {
                if let Some((_, refs)) = c.current.take_if(|(labels, _)| *labels == next) {
                    for r in &refs {
                        c.chunks.samples_into(r, &mut samples)?;
                    }
                    sources += 1;
                    c.advance()?;
                }
            }
            if sources > 1 {
                samples.sort_by_key(|s| s.t);
                samples.dedup_by_key(|s| s.t);
            }
            writer.add_series(tenant, &next, &samples)?;
        }
    }
    writer.finish()
}

/// After a crash between writing a compacted block and removing its sources, both are on
/// disk: drop blocks whose range lies inside a higher-level block's range.
fn remove_replaced_blocks(blocks: &mut Vec<Arc<Block>>) -> Result<()> {
    let covering: Vec<(i64, i64, u32)> = blocks.iter().map(|b| (b.meta.min_t, b.meta.max_t, b.meta.level)).collect();
    let mut keep = Vec::new();
    for b in blocks.drain(..) {
        let replaced = covering.iter().any(|&(lo, hi, level)| {
            level > b.meta.level && lo <= b.meta.min_t && b.meta.max_t <= hi && (lo, hi) != (b.meta.min_t, b.meta.max_t)
        });
        if replaced {
            warn!(block = %b.dir.display(), "removing a block already merged into a compacted one");
            std::fs::remove_dir_all(&b.dir).map_err(Error::io("remove directory", &b.dir))?;
        } else {
            keep.push(b);
        }
    }
    *blocks = keep;
    Ok(())
}
