//! The head: every series the store knows, its recent samples in Gorilla chunks, the series
//! index and the exemplar buffer. Everything here is rebuilt from the head snapshot and the WAL
//! after a restart.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};

use super::chunk::ChunkWriter;
use super::head_chunks::{ChunkFiles, ChunkLoc};
use super::index::{Postings, Symbols, label_of};
use crate::{Labels, MetricMetadata, SampleBatch, SampleExemplar, SeriesRef, Tenant, WalPosition, is_stale_nan};

/// Most samples in one chunk before a new one starts.
pub(crate) const CHUNK_SAMPLES: u32 = 120;
const _: () = assert!(CHUNK_SAMPLES <= u8::MAX as u32);

/// Replay marks: `(position, time)` means that every sample in WAL records before `position`
/// is at most `time`, so a sample newer than `time` came from a record at or after `position`.
/// Replay for the head's oldest sample can start at the newest mark older than it. One mark is
/// taken per [`Marks::EVERY`] of sample time, so replay starts at most that much too early.
#[derive(Debug, Default)]
struct Marks(VecDeque<(WalPosition, i64)>);

impl Marks {
    /// Sample time between marks (ms).
    const EVERY: i64 = 60_000;

    /// Before applying the record at `pos`, when the newest sample time so far is `max_t`.
    fn note(&mut self, pos: WalPosition, max_t: i64) {
        match self.0.back() {
            Some(&(_, t)) if max_t < t.saturating_add(Self::EVERY) => {}
            _ => self.0.push_back((pos, max_t)),
        }
    }

    /// Where replay starts for samples at `t` and later: the newest mark below `t`, or the
    /// first mark (taken before the first record the head applied).
    fn before(&self, t: i64) -> Option<WalPosition> {
        let newer = self.0.partition_point(|&(_, m)| m < t);
        self.0.get(newer.saturating_sub(1)).map(|&(pos, _)| pos)
    }

    /// Drops the marks that replay for samples at `t` and later no longer needs.
    fn forget_before(&mut self, t: i64) {
        let newer = self.0.partition_point(|&(_, m)| m < t);
        self.0.drain(..newer.saturating_sub(1));
    }
}

/// One series in memory.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub tenant: u32,
    pub labels: Box<[(u32, u32)]>,
    /// The newest closed chunk, in the head chunk files; it names the one before it.
    pub newest: ChunkLoc,
    /// First timestamp of the oldest closed chunk (meaningless when `closed` is 0).
    oldest_t: i64,
    /// Closed chunks in the head.
    pub closed: u16,
    /// The chunk being appended to.
    pub open: ChunkWriter,
    /// Whether a WAL record applied so far defines this series.
    pub logged: bool,
    /// Samples the open chunk may hold before it closes (see [`chunk_limit`]).
    limit: u8,
}

impl MemSeries {
    /// Whether the series holds samples in the head.
    pub fn has_samples(&self) -> bool {
        self.closed > 0 || self.open.count() > 0
    }

    /// Timestamp of the newest sample ever appended (`i64::MIN` when none).
    pub fn last_t(&self) -> i64 {
        self.open.last().map_or(i64::MIN, |(t, _)| t)
    }

    /// Time of the oldest sample in the head, if any.
    pub fn min_t(&self) -> Option<i64> {
        if self.closed > 0 { Some(self.oldest_t) } else { (self.open.count() > 0).then(|| self.open.min_t()) }
    }

    /// Closes the open chunk, spilling it to a head chunk file when there are some.
    fn close_open(&mut self, files: &mut ChunkFiles) {
        if self.open.count() == 0 {
            return;
        }
        let done = self.open.close();
        let at = files.spill(&done, self.newest);
        if at.is_none() {
            return;
        }
        if self.closed == 0 {
            self.oldest_t = done.min_t;
        }
        self.newest = at;
        self.closed = self.closed.saturating_add(1);
    }

    fn heap_bytes(&self) -> usize {
        self.labels.len() * 8 + std::mem::size_of::<MemSeries>() + self.open.heap_bytes()
    }
}

/// Per-tenant index of the head.
#[derive(Debug, Default)]
pub(crate) struct TenantHead {
    pub name: Tenant,
    by_hash: HashMap<u64, u32>,
    collisions: HashMap<u64, Vec<u32>>,
    pub postings: Postings,
    pub metadata: HashMap<String, MetricMetadata>,
    pub series: usize,
}

/// What an append did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Stored.
    Ok,
    /// Same timestamp and value as the newest sample: nothing to do.
    Duplicate,
    /// Older than the newest sample, or the same time with another value.
    OutOfOrder,
    /// Older than what the head holds (already cut into blocks).
    OutOfBounds,
    /// The series does not exist.
    UnknownSeries,
}

/// Counters of what applying WAL records did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ApplyCounts {
    pub samples: u64,
    pub dropped: u64,
}

#[derive(Debug)]
pub(crate) struct Head {
    pub symbols: Symbols,
    pub series: Vec<Option<Box<MemSeries>>>,
    pub tenants: Vec<TenantHead>,
    tenant_ids: HashMap<Tenant, u32>,
    pub exemplars: VecDeque<(u32, SampleExemplar)>,
    pub max_exemplars: usize,
    /// Samples older than this are in blocks and refused.
    pub min_valid_t: i64,
    /// Where ingest would start a new chunk: block range in milliseconds.
    pub block_range: i64,
    /// The last WAL record applied.
    pub applied_through: Option<WalPosition>,
    /// Newest sample time appended so far.
    max_t: i64,
    /// Where replay must start for the samples of a given time.
    marks: Marks,
    pub live_series: usize,
    /// Where closed chunks go (memory only until the store gives the head a directory).
    pub files: ChunkFiles,
    /// Chunks ending before this are gone from the head (in blocks).
    pub chunks_from: i64,
    hasher: ahash::RandomState,
}

/// The series id for a reference, if it fits the head's 32-bit ids.
pub(crate) fn series_id(r: SeriesRef) -> Option<u32> {
    u32::try_from(r).ok()
}

impl Head {
    pub fn new(block_range: i64, max_exemplars: usize) -> Head {
        Head {
            symbols: Symbols::default(),
            series: Vec::new(),
            tenants: Vec::new(),
            tenant_ids: HashMap::new(),
            exemplars: VecDeque::new(),
            max_exemplars,
            min_valid_t: i64::MIN,
            block_range,
            applied_through: None,
            max_t: i64::MIN,
            marks: Marks::default(),
            live_series: 0,
            files: ChunkFiles::in_memory(),
            chunks_from: i64::MIN,
            hasher: ahash::RandomState::with_seeds(0x6c6f_6f6b, 0x6f75_7421, 0x7473_6462, 0x6865_6164),
        }
    }

    /// Hash of a label set given as sorted pairs.
    pub fn hash<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for (n, v) in pairs {
            h.write(n.as_bytes());
            h.write_u8(0xff);
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        h.finish()
    }

    pub fn tenant_id(&self, tenant: &Tenant) -> Option<u32> {
        self.tenant_ids.get(tenant).copied()
    }

    pub fn tenant(&self, tenant: &Tenant) -> Option<&TenantHead> {
        self.tenant_id(tenant).map(|id| &self.tenants[id as usize])
    }

    fn tenant_id_or_add(&mut self, tenant: &Tenant) -> u32 {
        if let Some(id) = self.tenant_id(tenant) {
            return id;
        }
        let id = self.tenants.len() as u32;
        self.tenants.push(TenantHead { name: tenant.clone(), ..TenantHead::default() });
        self.tenant_ids.insert(tenant.clone(), id);
        id
    }

    /// The series with exactly these labels (sorted pairs, with their hash), if it exists.
    pub fn find(&self, tenant: u32, hash: u64, pairs: &[(&str, &str)]) -> Option<u32> {
        let th = &self.tenants[tenant as usize];
        let same = |id: u32| {
            self.series[id as usize].as_ref().is_some_and(|s| {
                s.labels.len() == pairs.len()
                    && s.labels
                        .iter()
                        .zip(pairs)
                        .all(|(&(n, v), &(pn, pv))| self.symbols.get(n) == pn && self.symbols.get(v) == pv)
            })
        };
        match th.by_hash.get(&hash) {
            Some(&id) if same(id) => Some(id),
            Some(_) => th.collisions.get(&hash).and_then(|ids| ids.iter().copied().find(|&id| same(id))),
            None => None,
        }
    }

    /// Finds or creates the series. `id` forces the reference (replay); otherwise the next free one.
    pub fn get_or_create(&mut self, tenant: &Tenant, labels: &Labels, id: Option<u32>) -> (u32, bool) {
        let t = self.tenant_id_or_add(tenant);
        let pairs: Vec<(&str, &str)> = labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        let hash = self.hash(pairs.iter().copied());
        if let Some(found) = self.find(t, hash, &pairs) {
            return (found, false);
        }
        let id = id.unwrap_or(self.series.len() as u32);
        if self.series.len() <= id as usize {
            self.series.resize_with(id as usize + 1, || None);
        }
        let interned = self.symbols.intern_labels(labels);
        let th = &mut self.tenants[t as usize];
        if let Some(prev) = th.by_hash.insert(hash, id) {
            th.by_hash.insert(hash, prev);
            th.collisions.entry(hash).or_default().push(id);
        }
        th.postings.add_unordered(id, &interned);
        th.series += 1;
        self.live_series += 1;
        self.series[id as usize] = Some(Box::new(MemSeries {
            tenant: t,
            labels: interned,
            newest: ChunkLoc::NONE,
            oldest_t: 0,
            closed: 0,
            open: ChunkWriter::new(),
            logged: false,
            limit: CHUNK_SAMPLES as u8,
        }));
        (id, true)
    }

    /// Whether a sample at `t` with value `v` would be stored in series `id`.
    pub fn check(&self, id: u32, t: i64, v: f64) -> Appended {
        let Some(s) = self.series.get(id as usize).and_then(Option::as_ref) else { return Appended::UnknownSeries };
        check_order(s, self.min_valid_t, t, v)
    }

    /// Appends one sample (from WAL record `pos`).
    pub fn append(&mut self, id: u32, t: i64, v: f64) -> Appended {
        let min_valid_t = self.min_valid_t;
        let block_range = self.block_range;
        let files = &mut self.files;
        let Some(s) = self.series.get_mut(id as usize).and_then(Option::as_mut) else {
            return Appended::UnknownSeries;
        };
        let verdict = check_order(s, min_valid_t, t, v);
        if verdict != Appended::Ok {
            return verdict;
        }
        if s.open.count() > 0 {
            let block_end = align_down(s.open.min_t(), block_range).saturating_add(block_range);
            if s.open.count() >= u32::from(s.limit) || t >= block_end {
                s.close_open(files);
            }
        }
        if s.open.count() == 0 {
            s.limit = chunk_limit(id, s.last_t(), align_down(t, block_range));
        }
        s.open.append(t, v);
        self.max_t = self.max_t.max(t);
        Appended::Ok
    }

    /// Applies one WAL record: definitions, samples, exemplars, metadata.
    pub fn apply(&mut self, pos: WalPosition, tenant: &Tenant, batch: &SampleBatch) -> ApplyCounts {
        self.marks.note(pos, self.max_t);
        let mut counts = ApplyCounts::default();
        for def in &batch.series {
            let Some(want) = series_id(def.series) else { continue };
            let exists = self.series.get(want as usize).and_then(Option::as_ref).is_some();
            let id = if exists { want } else { self.get_or_create(tenant, &def.labels, Some(want)).0 };
            if let Some(s) = self.series.get_mut(id as usize).and_then(Option::as_mut) {
                s.logged = true;
            }
        }
        for s in &batch.samples {
            let verdict = match series_id(s.series) {
                Some(id) => self.append(id, s.t, s.v),
                None => Appended::UnknownSeries,
            };
            match verdict {
                Appended::Ok => counts.samples += 1,
                Appended::Duplicate => {}
                _ => counts.dropped += 1,
            }
        }
        for e in &batch.exemplars {
            let Some(id) = series_id(e.series) else { continue };
            if self.series.get(id as usize).and_then(Option::as_ref).is_none() || self.max_exemplars == 0 {
                continue;
            }
            let dup = self.exemplars.iter().rev().take(16).any(|(i, x)| *i == id && x == &e.exemplar);
            if !dup {
                if self.exemplars.len() >= self.max_exemplars {
                    self.exemplars.pop_front();
                }
                self.exemplars.push_back((id, e.exemplar.clone()));
            }
        }
        for m in &batch.metadata {
            self.set_metadata(tenant, m.clone());
        }
        self.applied_through = Some(pos);
        counts
    }

    /// Records a family's type, help and unit.
    pub fn set_metadata(&mut self, tenant: &Tenant, m: MetricMetadata) {
        let t = self.tenant_id_or_add(tenant);
        let map = &mut self.tenants[t as usize].metadata;
        if map.get(&m.metric_family) != Some(&m) {
            map.insert(m.metric_family.clone(), m);
        }
    }

    /// Oldest and newest sample time in the head, if any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        for s in self.series.iter().flatten() {
            let first = s.min_t();
            if let Some(first) = first {
                let (lo, hi) = range.unwrap_or((first, s.last_t()));
                range = Some((lo.min(first), hi.max(s.last_t())));
            }
        }
        range
    }

    /// Removes and returns every chunk ending before `boundary`, closing open chunks that end
    /// before it; from now on samples before `boundary` are refused.
    pub fn set_min_valid(&mut self, boundary: i64) {
        self.min_valid_t = self.min_valid_t.max(boundary);
        for s in self.series.iter_mut().flatten() {
            if s.open.count() > 0 && s.open.max_t() < boundary {
                s.close_open(&mut self.files);
            }
        }
    }

    /// Drops chunks that end before `boundary` (they are in a block now), then series left
    /// with no samples, and the replay marks no sample needs any more.
    ///
    /// Finding a series' oldest chunk left reads chunk headers back from the head chunk files
    /// (from the page cache: they were written within the last few hours).
    pub fn truncate(&mut self, boundary: i64) -> usize {
        let mut removed = 0;
        self.chunks_from = self.chunks_from.max(boundary);
        let reader = self.files.reader();
        for slot in self.series.iter_mut() {
            let Some(s) = slot else { continue };
            if s.closed > 0 && s.oldest_t < boundary {
                let (mut kept, mut oldest) = (0u16, None);
                let walked = reader.walk(s.newest, boundary, true, |c| {
                    kept += 1;
                    oldest = Some(c.min_t);
                    true
                });
                if let Err(e) = walked {
                    tracing::warn!(error = %e, "cannot read a head chunk back; the series' older head chunks are dropped");
                }
                s.closed = kept;
                match oldest {
                    Some(t) => s.oldest_t = t,
                    None => s.newest = ChunkLoc::NONE,
                }
            }
            if !s.has_samples() && s.last_t() < boundary {
                self.tenants[s.tenant as usize].series -= 1;
                *slot = None;
                removed += 1;
            }
        }
        self.files.drop_before(boundary);
        if removed > 0 {
            self.live_series -= removed;
            self.rebuild_index();
        }
        if let Some(oldest) = self.oldest_t() {
            self.marks.forget_before(oldest);
        }
        let live: std::collections::HashSet<u32> = self.exemplars.iter().map(|(id, _)| *id).collect();
        let gone: Vec<u32> = live.into_iter().filter(|id| self.series[*id as usize].is_none()).collect();
        if !gone.is_empty() {
            self.exemplars.retain(|(id, _)| !gone.contains(id));
        }
        removed
    }

    fn rebuild_index(&mut self) {
        for th in &mut self.tenants {
            th.by_hash.clear();
            th.collisions.clear();
            th.postings = Postings::default();
        }
        for (id, s) in self.series.iter().enumerate() {
            let Some(s) = s else { continue };
            let hash = self.hasher.hash_one_pairs(&self.symbols, &s.labels);
            let th = &mut self.tenants[s.tenant as usize];
            if let Some(prev) = th.by_hash.insert(hash, id as u32) {
                th.by_hash.insert(hash, prev);
                th.collisions.entry(hash).or_default().push(id as u32);
            }
            th.postings.add(id as u32, &s.labels);
        }
    }

    /// Time of the oldest sample in the head, if any.
    fn oldest_t(&self) -> Option<i64> {
        self.series.iter().flatten().filter_map(|s| s.min_t()).min()
    }

    /// The earliest WAL position whose records still matter to the head: the newest mark
    /// taken before any sample the head still holds was appended.
    pub fn replay_from(&self) -> Option<WalPosition> {
        let oldest = self.oldest_t()?;
        self.marks.before(oldest)
    }

    /// Series ids of `tenant` matching the matchers.
    pub fn select(&self, tenant: &Tenant, matchers: &[super::Matcher]) -> Vec<u32> {
        let Some(th) = self.tenant(tenant) else { return Vec::new() };
        th.postings.select(&self.symbols, matchers, |id, name| {
            self.series[id as usize].as_ref().and_then(|s| label_of(&s.labels, name))
        })
    }

    /// Orders series as blocks store them: by tenant name, then by labels.
    pub fn compare_series(&self, a: u32, b: u32) -> std::cmp::Ordering {
        let get = |id: u32| self.series.get(id as usize).and_then(Option::as_ref);
        let (Some(x), Some(y)) = (get(a), get(b)) else { return a.cmp(&b) };
        let sym = &self.symbols;
        let (tx, ty) = (self.tenants[x.tenant as usize].name.as_str(), self.tenants[y.tenant as usize].name.as_str());
        tx.cmp(ty).then_with(|| {
            let px = x.labels.iter().map(|&(n, v)| (sym.get(n), sym.get(v)));
            px.cmp(y.labels.iter().map(|&(n, v)| (sym.get(n), sym.get(v))))
        })
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: u32) -> Option<Labels> {
        self.series.get(id as usize).and_then(Option::as_ref).map(|s| self.symbols.labels(&s.labels))
    }

    /// Approximate heap bytes of the whole head.
    pub fn heap_bytes(&self) -> usize {
        let series: usize = self.series.iter().flatten().map(|s| s.heap_bytes()).sum();
        let index: usize = self.tenants.iter().map(|t| t.postings.heap_bytes() + t.by_hash.capacity() * 16).sum();
        series + index + self.symbols.heap_bytes() + self.series.capacity() * 8 + self.files.memory_bytes() as usize
    }
}

trait HashPairs {
    fn hash_one_pairs(&self, symbols: &Symbols, labels: &[(u32, u32)]) -> u64;
}

impl HashPairs for ahash::RandomState {
    fn hash_one_pairs(&self, symbols: &Symbols, labels: &[(u32, u32)]) -> u64 {
        let mut h = self.build_hasher();
        for &(n, v) in labels {
            h.write(symbols.get(n).as_bytes());
            h.write_u8(0xff);
            h.write(symbols.get(v).as_bytes());
            h.write_u8(0xff);
        }
        h.finish()
    }
}

fn check_order(s: &MemSeries, min_valid_t: i64, t: i64, v: f64) -> Appended {
    if t < min_valid_t {
        return Appended::OutOfBounds;
    }
    let Some((last_t, last_v)) = s.open.last() else { return Appended::Ok };
    if t > last_t {
        return Appended::Ok;
    }
    if t == last_t {
        let same = v.to_bits() == last_v || (is_stale_nan(v) && is_stale_nan(f64::from_bits(last_v)));
        return if same { Appended::Duplicate } else { Appended::OutOfOrder };
    }
    Appended::OutOfOrder
}

/// Samples the open chunk of series `id` may hold before it closes, when that chunk started in
/// the block range beginning at `block_start`.
///
/// Series scraped together fill their chunks together: were every chunk of a block range
/// [`CHUNK_SAMPLES`] long, every open chunk of the head would be full at the same moment and
/// empty at the next, and the head's memory would swing by the whole of its open chunks. The
/// first chunk of each series in a block range is shorter instead, by an amount that depends
/// on the series id, so that at any moment the open chunks are about half full on average.
/// The price is one more chunk per block range for most series.
/// `last_t` is the series' newest sample before the chunk's first.
fn chunk_limit(id: u32, last_t: i64, block_start: i64) -> u8 {
    let first_in_range = last_t < block_start;
    if first_in_range { (id % CHUNK_SAMPLES) as u8 + 1 } else { CHUNK_SAMPLES as u8 }
}

/// `t` rounded down to a multiple of `range` (towards negative infinity).
pub(crate) fn align_down(t: i64, range: i64) -> i64 {
    t.div_euclid(range) * range
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_and_its_closed_chunks_stay_small() {
        // The head holds one of these per series, whatever the number of its closed chunks.
        assert!(std::mem::size_of::<MemSeries>() <= 104, "{}", std::mem::size_of::<MemSeries>());
        assert_eq!(std::mem::size_of::<ChunkLoc>(), 8);
    }

    #[test]
    fn open_chunks_of_series_sampled_together_do_not_fill_together() {
        // 240 series sampled every 15 s for two 2-hour block ranges (480 samples each): were
        // every chunk 120 samples long, all open chunks would hold 120 samples at once.
        let (range, series) = (7_200_000, 240u32);
        let mut head = Head::new(range, 0);
        let tenant = Tenant::default();
        for i in 0..series {
            head.get_or_create(&tenant, &Labels::from_pairs([("i", i.to_string())]), None);
        }
        let mut most = 0;
        for n in 0..960i64 {
            for id in 0..series {
                assert_eq!(head.append(id, n * 15_000, n as f64), Appended::Ok);
            }
            let open: u32 = head.series.iter().flatten().map(|s| s.open.count()).sum();
            most = most.max(open);
        }
        assert!(most <= series * CHUNK_SAMPLES / 2 + series, "{most} samples in open chunks at once");
        let reader = head.files.reader();
        for s in head.series.iter().flatten() {
            let chunks = reader.chunks(s.newest, i64::MIN, i64::MIN, i64::MAX).unwrap();
            assert_eq!(chunks.len(), usize::from(s.closed));
            assert_eq!(chunks.iter().map(|c| c.count).sum::<u32>() + s.open.count(), 960);
            assert!(chunks.iter().all(|c| align_down(c.min_t, range) == align_down(c.max_t, range)));
            assert!(chunks.len() <= 10, "at most five chunks per block range");
        }
        // After the first range is cut, only the chunks of the second are left.
        head.truncate(range);
        let reader = head.files.reader();
        for s in head.series.iter().flatten() {
            let chunks = reader.chunks(s.newest, head.chunks_from, i64::MIN, i64::MAX).unwrap();
            assert_eq!(chunks.len(), usize::from(s.closed));
            assert_eq!(chunks.iter().map(|c| c.count).sum::<u32>() + s.open.count(), 480);
            assert_eq!(s.min_t(), Some(range));
        }
    }

    #[test]
    fn replay_starts_at_the_newest_mark_below_the_oldest_sample() {
        let p = |offset| WalPosition { segment: 1, offset };
        let mut marks = Marks::default();
        marks.note(p(0), i64::MIN);
        marks.note(p(10), 30_000);
        marks.note(p(20), 70_000); // less than a minute of sample time after the last mark: none
        marks.note(p(30), 200_000);
        assert_eq!(marks.0.len(), 3);
        // Samples from time 30,001 on were all appended at or after the record at 10.
        assert_eq!(marks.before(30_001), Some(p(10)));
        assert_eq!(marks.before(150_000), Some(p(10)));
        assert_eq!(marks.before(30_000), Some(p(0)), "a sample at the mark's own time may be before it");
        assert_eq!(marks.before(i64::MIN), Some(p(0)), "the first mark covers everything");
        marks.forget_before(250_000);
        assert_eq!(marks.0.len(), 1);
        assert_eq!(marks.before(250_000), Some(p(30)));
    }
}
