//! The span store: a head of recent spans in memory, cut into immutable columnar blocks on
//! disk, with a trace-id index per block so that a trace by id touches only the blocks that
//! hold it. Fed in WAL order (live, and by replay after the checkpoint). Format and crash
//! safety: `storage/docs/traces.md`.

mod block;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use self::block::{BLOCK_VERSION, Block, BlockMeta, write_block};
use crate::fs::{sync_dir, write_synced};
use crate::{Batch, Error, Resource, Result, Scope, Span, SpanKind, StatusCode, Tenant, TraceId, WalPosition};

/// A span with the resource and scope it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpan {
    /// The resource (shared by the spans that came with it).
    pub resource: Arc<Resource>,
    /// The instrumentation scope.
    pub scope: Arc<Scope>,
    /// The span.
    pub span: Span,
}

/// The few span fields kept as plain columns, readable without decoding a whole span: what a
/// search looks at first to skip rows that cannot match.
pub trait SpanColumns {
    /// The resource's `service.name`.
    fn service_name(&self, row: usize) -> Option<&str>;
    /// Span name.
    fn name(&self, row: usize) -> &str;
    /// Span kind.
    fn kind(&self, row: usize) -> SpanKind;
    /// Duration in nanoseconds.
    fn duration(&self, row: usize) -> u64;
    /// Status code.
    fn status(&self, row: usize) -> StatusCode;
    /// Status message.
    fn status_message(&self, row: usize) -> &str;
}

/// The head's spans seen through [`SpanColumns`].
struct HeadColumns<'a>(&'a [TraceSpan]);

impl SpanColumns for HeadColumns<'_> {
    fn service_name(&self, row: usize) -> Option<&str> {
        self.0[row].resource.service_name()
    }
    fn name(&self, row: usize) -> &str {
        &self.0[row].span.name
    }
    fn kind(&self, row: usize) -> SpanKind {
        self.0[row].span.kind
    }
    fn duration(&self, row: usize) -> u64 {
        self.0[row].span.duration_nanos()
    }
    fn status(&self, row: usize) -> StatusCode {
        self.0[row].span.status.code
    }
    fn status_message(&self, row: usize) -> &str {
        &self.0[row].span.status.message
    }
}

/// Decides, before anything is decoded, which blocks and rows a scan needs. Both answers may
/// be "maybe" (true); false must be certain.
pub trait SpanFilter {
    /// Whether a block with these string attribute values may hold a wanted span.
    fn block(&self, _values: &AttributeValues) -> bool {
        true
    }
    /// Whether a row may be wanted, judged from its plain columns.
    fn row(&self, _columns: &dyn SpanColumns, _row: usize) -> bool {
        true
    }
}

/// A filter that keeps everything.
pub struct Everything;

impl SpanFilter for Everything {}

/// The string values each attribute key takes in a block, per scope, so that a search for a
/// value the block does not have skips it. A key with too many values, or with values that are
/// not strings, is listed without them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeValues {
    /// Span attributes.
    pub span: HashMap<String, Option<std::collections::BTreeSet<String>>>,
    /// Resource attributes.
    pub resource: HashMap<String, Option<std::collections::BTreeSet<String>>>,
}

/// What a block knows about one attribute key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValues<'a> {
    /// No span in the block has the key.
    Absent,
    /// Every value the key takes in the block.
    Values(&'a std::collections::BTreeSet<String>),
    /// The key is there, its values are not listed.
    Unlisted,
}

impl AttributeValues {
    /// Most values listed for one key.
    pub const MAX_VALUES: usize = 1024;

    /// What the block knows about `key` in span (`resource == false`) or resource attributes.
    pub fn key(&self, resource: bool, key: &str) -> KeyValues<'_> {
        let map = if resource { &self.resource } else { &self.span };
        match map.get(key) {
            None => KeyValues::Absent,
            Some(None) => KeyValues::Unlisted,
            Some(Some(values)) => KeyValues::Values(values),
        }
    }

    pub(crate) fn collect(spans: &[&TraceSpan]) -> AttributeValues {
        // Borrowed while collecting, in a map with a cheap hash: this runs for every attribute
        // of every span at each cut.
        type Seen<'s> = HashMap<&'s str, Option<std::collections::BTreeSet<&'s str>>, BuildHasherDefault<Fnv>>;
        fn add<'s>(seen: &mut Seen<'s>, kv: &'s crate::KeyValue) {
            let entry = seen.entry(kv.key.as_str()).or_insert_with(|| Some(Default::default()));
            let Some(values) = entry else { return };
            match &kv.value {
                crate::AnyValue::String(v)
                    if values.len() < AttributeValues::MAX_VALUES || values.contains(v.as_str()) =>
                {
                    values.insert(v);
                }
                _ => *entry = None,
            }
        }
        let (mut span, mut resource) = (Seen::default(), Seen::default());
        let mut last_resource: Option<*const Resource> = None;
        for ts in spans {
            ts.span.attributes.iter().for_each(|kv| add(&mut span, kv));
            if last_resource != Some(Arc::as_ptr(&ts.resource)) {
                last_resource = Some(Arc::as_ptr(&ts.resource));
                ts.resource.attributes.iter().for_each(|kv| add(&mut resource, kv));
            }
        }
        let own = |seen: Seen| {
            seen.into_iter()
                .map(|(k, v)| (k.to_owned(), v.map(|set| set.into_iter().map(str::to_owned).collect())))
                .collect()
        };
        AttributeValues { span: own(span), resource: own(resource) }
    }
}

/// How the span store cuts and keeps blocks.
#[derive(Debug, Clone)]
pub struct SpanStoreOptions {
    /// Cut the head into blocks once it holds this many spans.
    pub max_head_spans: usize,
    /// Cut the head once its oldest span arrived this long ago.
    pub max_head_age: Duration,
    /// Delete blocks whose spans all ended longer ago than this.
    pub retention: Duration,
    /// Rows per arrow record batch inside a block (the unit read for a trace by id).
    pub batch_rows: usize,
}

impl Default for SpanStoreOptions {
    fn default() -> Self {
        SpanStoreOptions {
            max_head_spans: 200_000,
            max_head_age: Duration::from_secs(120),
            retention: Duration::from_secs(7 * 24 * 3600),
            batch_rows: 8192,
        }
    }
}

/// Spans of one tenant in the head.
#[derive(Default)]
struct TenantHead {
    spans: Vec<TraceSpan>,
    traces: HashMap<TraceId, Vec<u32>>,
}

/// What arrived since the last cut.
#[derive(Default)]
struct Head {
    tenants: HashMap<Tenant, TenantHead>,
    spans: usize,
    /// The last WAL record applied.
    last: Option<WalPosition>,
    /// When the first span of this head arrived.
    opened: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    head: Head,
    /// A head being written out; still read until its blocks are registered.
    flushing: Option<Arc<Head>>,
    blocks: Vec<Arc<Block>>,
}

/// `checkpoint.json`: the last complete cut.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    cut: u64,
    wal_through: WalPosition,
}

/// The span store. Share it behind an `Arc`.
pub struct SpanStore {
    dir: PathBuf,
    options: SpanStoreOptions,
    state: RwLock<State>,
    /// Serializes cuts; holds the last complete checkpoint.
    cuts: Mutex<Option<Checkpoint>>,
    /// Woken when the head reaches its size limit.
    full: tokio::sync::Notify,
    /// Damaged blocks moved aside when the store opened.
    quarantined: Vec<PathBuf>,
}

impl SpanStore {
    /// Opens (or creates) the store in `dir`, loading every block of a complete cut and
    /// deleting what an interrupted cut left behind.
    pub fn open(dir: &Path, options: SpanStoreOptions) -> Result<SpanStore> {
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir).map_err(Error::io("create span store directory", &blocks_dir))?;
        let checkpoint_path = dir.join("checkpoint.json");
        let checkpoint: Option<Checkpoint> = match std::fs::read(&checkpoint_path) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::CorruptBlock { path: checkpoint_path.clone(), reason: e.to_string() })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read span store checkpoint", &checkpoint_path)(e)),
        };
        let complete_cut = checkpoint.map_or(0, |c| c.cut);
        let (mut blocks, mut quarantined) = (Vec::new(), Vec::new());
        for tenant_dir in read_dir(&blocks_dir)? {
            for block_dir in read_dir(&tenant_dir)? {
                let name = block_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let cut: Option<u64> = name.parse().ok();
                if cut.is_none_or(|c| c > complete_cut) {
                    warn!(block = %block_dir.display(), "removing a block of an interrupted cut; the wal still holds its spans");
                    std::fs::remove_dir_all(&block_dir).map_err(Error::io("remove incomplete block", &block_dir))?;
                    continue;
                }
                match Block::open(&block_dir) {
                    Ok(block) => blocks.push(Arc::new(block)),
                    Err(e) if crate::quarantine::is_damage(&e) => {
                        quarantined.push(crate::quarantine::quarantine(dir, &block_dir, &e)?)
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        blocks.sort_by_key(|b| b.meta.cut);
        info!(blocks = blocks.len(), checkpoint = ?checkpoint.map(|c| c.wal_through), "span store opened");
        Ok(SpanStore {
            dir: dir.to_owned(),
            options,
            state: RwLock::new(State { blocks, ..State::default() }),
            cuts: Mutex::new(checkpoint),
            full: tokio::sync::Notify::new(),
            quarantined,
        })
    }

    /// Damaged blocks moved to `quarantine/` when the store opened.
    pub fn quarantined(&self) -> &[PathBuf] {
        &self.quarantined
    }

    /// WAL records at or before this position are already in blocks; replay only later ones.
    pub fn checkpoint(&self) -> Option<WalPosition> {
        self.cuts.lock().ok().and_then(|c| c.map(|c| c.wal_through))
    }

    /// What the span store needs from the WAL after a restart: nothing when every span it was
    /// given is in a block, else the records after its checkpoint.
    pub fn wal_needed(&self) -> crate::WalNeed {
        if self.stats().head_spans == 0 {
            return crate::WalNeed::Nothing;
        }
        match self.checkpoint() {
            Some(c) => crate::WalNeed::From(c),
            None => crate::WalNeed::Everything,
        }
    }

    /// Adds the spans of one WAL record to the head. Records must come in WAL order.
    ///
    /// When the head reaches its size limit, whoever waits in [`SpanStore::head_full`] is woken
    /// to cut it; when it reaches twice the limit because cuts fall behind, this call cuts it
    /// itself, so that a caller feeding faster than blocks are written is slowed down instead
    /// of memory growing without bound.
    pub fn append(&self, position: WalPosition, tenant: &Tenant, batch: Batch<Span>) -> Result<()> {
        let spans = self.append_to_head(position, tenant, batch);
        if spans >= self.options.max_head_spans {
            self.full.notify_one();
        }
        if spans >= self.options.max_head_spans.saturating_mul(2) {
            self.cut()?;
        }
        Ok(())
    }

    /// Resolves once the head has reached its size limit.
    pub async fn head_full(&self) {
        self.full.notified().await
    }

    fn append_to_head(&self, position: WalPosition, tenant: &Tenant, batch: Batch<Span>) -> usize {
        let Ok(mut state) = self.state.write() else { return 0 };
        let head = &mut state.head;
        head.opened.get_or_insert_with(SystemTime::now);
        head.last = Some(position);
        let tenant_head = head.tenants.entry(tenant.clone()).or_default();
        for group in batch.resources {
            let resource = Arc::new(group.resource);
            for scope_group in group.scopes {
                let scope = Arc::new(scope_group.scope);
                for span in scope_group.items {
                    let row = tenant_head.spans.len() as u32;
                    tenant_head.traces.entry(span.trace_id).or_default().push(row);
                    tenant_head.spans.push(TraceSpan {
                        resource: Arc::clone(&resource),
                        scope: Arc::clone(&scope),
                        span,
                    });
                    head.spans += 1;
                }
            }
        }
        head.spans
    }

    /// Every span of trace `id` for `tenant`, from the head and the blocks that hold it,
    /// ordered by start time. Empty if the trace is unknown.
    pub fn trace(&self, tenant: &Tenant, id: TraceId) -> Result<Vec<TraceSpan>> {
        let (mut spans, blocks) = {
            let state = self.state.read().map_err(|_| Error::Unavailable("span store lock poisoned".into()))?;
            let mut spans = Vec::new();
            for head in std::iter::once(&state.head).chain(state.flushing.as_deref()) {
                if let Some(t) = head.tenants.get(tenant)
                    && let Some(rows) = t.traces.get(&id)
                {
                    spans.extend(rows.iter().map(|&r| t.spans[r as usize].clone()));
                }
            }
            let blocks: Vec<Arc<Block>> =
                state.blocks.iter().filter(|b| b.meta.tenant == *tenant && b.contains(&id)).cloned().collect();
            (spans, blocks)
        };
        for block in blocks {
            spans.extend(block.trace(&id)?);
        }
        spans.sort_by_key(|s| (s.span.start_time_unix_nano, s.span.span_id));
        Ok(spans)
    }

    /// Streams the spans of `tenant` that overlap `[start, end]` (nanoseconds), newest data
    /// first (the head, then blocks from the latest cut back), one record batch in memory at a
    /// time, until `each` returns false.
    pub fn scan(&self, tenant: &Tenant, start: u64, end: u64, each: &mut dyn FnMut(&TraceSpan) -> bool) -> Result<()> {
        self.scan_filtered(tenant, start, end, &Everything, each)
    }

    /// [`SpanStore::scan`] that first asks `filter` about each row from its plain columns, and
    /// decodes and hands on only the rows it keeps.
    pub fn scan_filtered(
        &self,
        tenant: &Tenant,
        start: u64,
        end: u64,
        filter: &dyn SpanFilter,
        each: &mut dyn FnMut(&TraceSpan) -> bool,
    ) -> Result<()> {
        let in_range = |s: &TraceSpan| s.span.start_time_unix_nano <= end && s.span.end_time_unix_nano >= start;
        let blocks: Vec<Arc<Block>> = {
            let state = self.state.read().map_err(|_| Error::Unavailable("span store lock poisoned".into()))?;
            for head in std::iter::once(&state.head).chain(state.flushing.as_deref()) {
                let Some(t) = head.tenants.get(tenant) else { continue };
                let columns = HeadColumns(&t.spans);
                for (row, span) in t.spans.iter().enumerate().rev() {
                    if in_range(span) && filter.row(&columns, row) && !each(span) {
                        return Ok(());
                    }
                }
            }
            state
                .blocks
                .iter()
                .rev()
                .filter(|b| {
                    b.meta.tenant == *tenant && b.meta.min_start_unix_nano <= end && b.meta.max_end_unix_nano >= start
                })
                .cloned()
                .collect()
        };
        for block in blocks {
            if block.values.as_ref().is_some_and(|values| !filter.block(values)) {
                continue;
            }
            let finished = block.scan(filter, &mut |span| !in_range(span) || each(span))?;
            if !finished {
                break;
            }
        }
        Ok(())
    }

    /// Cuts the head into blocks if it is over its size or age limit. Returns whether it cut.
    pub fn cut_if_due(&self, now: SystemTime) -> Result<bool> {
        let due = {
            let state = self.state.read().map_err(|_| Error::Unavailable("span store lock poisoned".into()))?;
            let old = state
                .head
                .opened
                .is_some_and(|t| now.duration_since(t).unwrap_or_default() >= self.options.max_head_age);
            state.head.spans > 0 && (state.head.spans >= self.options.max_head_spans || old)
        };
        if due {
            self.cut()?;
        }
        Ok(due)
    }

    /// Writes everything in the head as blocks, one per tenant, then records the checkpoint.
    /// The head stays readable until its blocks are.
    pub fn cut(&self) -> Result<()> {
        let mut checkpoint = self.cuts.lock().map_err(|_| Error::Unavailable("span store lock poisoned".into()))?;
        let head = {
            let mut state = self.state.write().map_err(|_| Error::Unavailable("span store lock poisoned".into()))?;
            if state.head.spans == 0 {
                return Ok(());
            }
            let head = Arc::new(std::mem::take(&mut state.head));
            state.flushing = Some(Arc::clone(&head));
            head
        };
        let Some(wal_through) = head.last else { return Ok(()) };
        let cut = checkpoint.map_or(1, |c| c.cut + 1);
        let written = self.write_cut(&head, cut, wal_through);
        let mut state = self.state.write().map_err(|_| Error::Unavailable("span store lock poisoned".into()))?;
        match written {
            Ok(blocks) => {
                state.blocks.extend(blocks);
                state.flushing = None;
                *checkpoint = Some(Checkpoint { version: BLOCK_VERSION, cut, wal_through });
                Ok(())
            }
            Err(e) => {
                // Put the spans back in front of the head so nothing becomes unreadable; the
                // WAL still holds them, and the next cut tries again.
                state.flushing = None;
                match Arc::try_unwrap(head) {
                    Ok(mut restored) => {
                        merge(&mut restored, std::mem::take(&mut state.head));
                        state.head = restored;
                    }
                    Err(shared) => state.flushing = Some(shared),
                }
                Err(e)
            }
        }
    }

    fn write_cut(&self, head: &Head, cut: u64, wal_through: WalPosition) -> Result<Vec<Arc<Block>>> {
        let mut blocks = Vec::new();
        for (tenant, tenant_head) in &head.tenants {
            let mut rows: Vec<&TraceSpan> = tenant_head.spans.iter().collect();
            rows.sort_by_key(|s| (s.span.trace_id, s.span.start_time_unix_nano));
            let meta = BlockMeta {
                version: BLOCK_VERSION,
                tenant: tenant.clone(),
                cut,
                min_start_unix_nano: rows.iter().map(|s| s.span.start_time_unix_nano).min().unwrap_or(0),
                max_end_unix_nano: rows.iter().map(|s| s.span.end_time_unix_nano).max().unwrap_or(0),
                spans: rows.len() as u64,
                traces: tenant_head.traces.len() as u64,
                batches: rows.len().div_ceil(self.options.batch_rows.max(1)) as u32,
                wal_through,
            };
            let dir = self.dir.join("blocks").join(tenant.as_str()).join(format!("{cut:010}"));
            write_block(&dir, &meta, &rows, self.options.batch_rows)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            blocks.push(Arc::new(Block::open(&dir)?));
        }
        let checkpoint = Checkpoint { version: BLOCK_VERSION, cut, wal_through };
        let tmp = self.dir.join("checkpoint.json.tmp");
        let bytes = serde_json::to_vec(&checkpoint)
            .map_err(|e| Error::CorruptBlock { path: tmp.clone(), reason: e.to_string() })?;
        write_synced(&tmp, &bytes)?;
        let path = self.dir.join("checkpoint.json");
        std::fs::rename(&tmp, &path).map_err(Error::io("rename span store checkpoint", &path))?;
        sync_dir(&self.dir)?;
        info!(cut, blocks = blocks.len(), spans = head.spans, "span store cut");
        Ok(blocks)
    }

    /// Deletes blocks whose every span ended more than the retention before `now`.
    /// Returns how many were deleted.
    pub fn enforce_retention(&self, now: SystemTime) -> Result<usize> {
        let horizon = now.checked_sub(self.options.retention).unwrap_or(SystemTime::UNIX_EPOCH);
        let horizon = horizon.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
        let expired: Vec<Arc<Block>> = {
            let mut state = self.state.write().map_err(|_| Error::Unavailable("span store lock poisoned".into()))?;
            let (expired, kept) =
                std::mem::take(&mut state.blocks).into_iter().partition(|b| b.meta.max_end_unix_nano < horizon);
            state.blocks = kept;
            expired
        };
        for block in &expired {
            std::fs::remove_dir_all(&block.dir).map_err(Error::io("remove expired block", &block.dir))?;
            info!(block = %block.dir.display(), "span block past retention removed");
        }
        Ok(expired.len())
    }

    /// Spans in the head, spans in blocks, and the number of blocks.
    pub fn stats(&self) -> SpanStoreStats {
        let Ok(state) = self.state.read() else { return SpanStoreStats::default() };
        SpanStoreStats {
            head_spans: state.head.spans + state.flushing.as_ref().map_or(0, |h| h.spans),
            block_spans: state.blocks.iter().map(|b| b.meta.spans).sum(),
            blocks: state.blocks.len(),
        }
    }
}

/// FNV-1a: a fast hash for short keys that come from our own data, not from an attacker's
/// choice of collisions worth worrying about (a block's keys are bounded by its spans).
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// Counts for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanStoreStats {
    /// Spans not yet in a block.
    pub head_spans: usize,
    /// Spans in blocks.
    pub block_spans: u64,
    /// Blocks on disk.
    pub blocks: usize,
}

fn merge(into: &mut Head, newer: Head) {
    for (tenant, t) in newer.tenants {
        let target = into.tenants.entry(tenant).or_default();
        for span in t.spans {
            let row = target.spans.len() as u32;
            target.traces.entry(span.span.trace_id).or_default().push(row);
            target.spans.push(span);
        }
    }
    into.spans += newer.spans;
    into.last = newer.last.or(into.last);
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("read directory", dir))? {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        if entry.file_type().map_err(Error::io("read directory", dir))?.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
