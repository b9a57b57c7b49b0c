//! Immutable span blocks: one directory per tenant and cut, holding `spans.arrow` (arrow IPC
//! file, zstd-compressed, rows sorted by trace id then start time), `index.bin` (trace id →
//! rows) and `meta.json`. Format: `storage/docs/traces.md`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, FixedSizeBinaryBuilder, StringBuilder, UInt8Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, FixedSizeBinaryArray, RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array,
};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::TraceSpan;
use crate::fs::{sync_dir, write_synced};
use crate::{Error, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Tenant, TraceId, WalPosition};

/// Version of the block layout in `storage/docs/traces.md`.
pub(crate) const BLOCK_VERSION: u32 = 1;
const INDEX_MAGIC: &[u8; 8] = b"LKTIDX\0\x01";
const INDEX_ENTRY: usize = 16 + 4 + 4 + 4;

/// `meta.json` of a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlockMeta {
    pub version: u32,
    pub tenant: Tenant,
    /// The cut that wrote the block; cuts number up from 1.
    pub cut: u64,
    pub min_start_unix_nano: u64,
    pub max_end_unix_nano: u64,
    pub spans: u64,
    pub traces: u64,
    pub batches: u32,
    /// Every WAL record up to and including this position is in this cut's blocks.
    pub wal_through: WalPosition,
}

/// Rows of one trace id inside the block's arrow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexEntry {
    trace_id: TraceId,
    batch: u32,
    row: u32,
    rows: u32,
}

/// An open block: its meta and trace-id index in memory, the spans on disk.
#[derive(Debug)]
pub(crate) struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    index: Vec<IndexEntry>,
    /// `attributes.json`, when the block has one.
    pub values: Option<super::AttributeValues>,
}

fn schema() -> Schema {
    let field = |name: &str, data_type: DataType, nullable: bool| Field::new(name, data_type, nullable);
    Schema::new(vec![
        field("trace_id", DataType::FixedSizeBinary(16), false),
        field("span_id", DataType::FixedSizeBinary(8), false),
        field("parent_span_id", DataType::FixedSizeBinary(8), true),
        field("trace_state", DataType::Utf8, false),
        field("service_name", DataType::Utf8, true),
        field("name", DataType::Utf8, false),
        field("kind", DataType::UInt8, false),
        field("start_unix_nano", DataType::UInt64, false),
        field("end_unix_nano", DataType::UInt64, false),
        field("duration_nano", DataType::UInt64, false),
        field("status_code", DataType::UInt8, false),
        field("status_message", DataType::Utf8, false),
        field("flags", DataType::UInt32, false),
        field("attributes", DataType::Binary, false),
        field("dropped_attributes_count", DataType::UInt32, false),
        field("events", DataType::Binary, false),
        field("dropped_events_count", DataType::UInt32, false),
        field("links", DataType::Binary, false),
        field("dropped_links_count", DataType::UInt32, false),
        field("resource", DataType::Binary, false),
        field("scope", DataType::Binary, false),
    ])
}

fn kind_code(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn status_code(code: StatusCode) -> u8 {
    match code {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::CorruptBlock { path: path.to_owned(), reason: reason.into() }
}

/// Writes `spans` (all of one tenant, sorted by trace id then start) as a block in `dir`,
/// which must not exist yet. Everything is fsynced before this returns.
pub(crate) fn write_block(dir: &Path, meta: &BlockMeta, spans: &[&TraceSpan], batch_rows: usize) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::io("create block directory", dir))?;
    let schema = Arc::new(schema());
    let path = dir.join("spans.arrow");
    let file = File::create(&path).map_err(Error::io("create block file", &path))?;
    let options = IpcWriteOptions::default().try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))?;
    let mut writer = FileWriter::try_new_with_options(BufWriter::new(file), &schema, options)?;
    let mut index: Vec<IndexEntry> = Vec::new();
    for (batch_no, chunk) in spans.chunks(batch_rows.max(1)).enumerate() {
        writer.write(&record_batch(&schema, chunk)?)?;
        for (row, span) in chunk.iter().enumerate() {
            match index.last_mut() {
                Some(last) if last.trace_id == span.span.trace_id && last.batch == batch_no as u32 => last.rows += 1,
                _ => index.push(IndexEntry {
                    trace_id: span.span.trace_id,
                    batch: batch_no as u32,
                    row: row as u32,
                    rows: 1,
                }),
            }
        }
    }
    writer.finish()?;
    let file = writer.into_inner()?.into_inner().map_err(|e| Error::io("flush block file", &path)(e.into_error()))?;
    file.sync_all().map_err(Error::io("sync block file", &path))?;

    let index_path = dir.join("index.bin");
    let mut bytes = Vec::with_capacity(INDEX_MAGIC.len() + 8 + index.len() * INDEX_ENTRY);
    bytes.extend_from_slice(INDEX_MAGIC);
    bytes.extend_from_slice(&(index.len() as u64).to_le_bytes());
    for e in &index {
        bytes.extend_from_slice(&e.trace_id.0);
        bytes.extend_from_slice(&e.batch.to_le_bytes());
        bytes.extend_from_slice(&e.row.to_le_bytes());
        bytes.extend_from_slice(&e.rows.to_le_bytes());
    }
    write_synced(&index_path, &bytes)?;
    let values = super::AttributeValues::collect(spans);
    let values_json = serde_json::to_vec(&values).map_err(|e| corrupt(dir, e.to_string()))?;
    write_synced(&dir.join("attributes.json"), &values_json)?;
    let mut checksums = std::collections::BTreeMap::new();
    for name in CHECKSUMMED {
        let path = dir.join(name);
        checksums.insert(name, file_crc(&path)?);
    }
    let checksums_json = serde_json::to_vec_pretty(&checksums).map_err(|e| corrupt(dir, e.to_string()))?;
    write_synced(&dir.join("checksums.json"), &checksums_json)?;
    let meta_json = serde_json::to_vec_pretty(meta).map_err(|e| corrupt(dir, e.to_string()))?;
    write_synced(&dir.join("meta.json"), &meta_json)?;
    sync_dir(dir)
}

/// The postcard encoding of the last few shared values, by pointer.
#[derive(Default)]
struct EncodeCache {
    entries: Vec<(usize, Vec<u8>)>,
}

fn encoded<'c, T: Serialize>(cache: &'c mut EncodeCache, value: &Arc<T>) -> Result<&'c [u8], Error> {
    let key = Arc::as_ptr(value) as usize;
    let at = match cache.entries.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            if cache.entries.len() >= 64 {
                cache.entries.remove(0);
            }
            cache.entries.push((key, postcard::to_stdvec(value.as_ref())?));
            cache.entries.len() - 1
        }
    };
    Ok(&cache.entries[at].1)
}

fn record_batch(schema: &Arc<Schema>, spans: &[&TraceSpan]) -> Result<RecordBatch, Error> {
    let n = spans.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let text = || StringBuilder::with_capacity(n, n * 16);
    let (mut trace_state, mut service, mut name, mut status_message) = (text(), text(), text(), text());
    let (mut kind, mut status) = (UInt8Builder::with_capacity(n), UInt8Builder::with_capacity(n));
    let (mut start, mut end, mut duration) =
        (UInt64Builder::with_capacity(n), UInt64Builder::with_capacity(n), UInt64Builder::with_capacity(n));
    let (mut flags, mut dropped_attributes, mut dropped_events, mut dropped_links) = (
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
    );
    let blob = |bytes_per_row: usize| BinaryBuilder::with_capacity(n, n * bytes_per_row);
    let (mut attributes, mut events, mut links, mut resource, mut scope) =
        (blob(256), blob(16), blob(16), blob(128), blob(32));
    // Spans of one export share their resource and scope: encode each once.
    let (mut resource_cache, mut scope_cache) = (EncodeCache::default(), EncodeCache::default());
    for ts in spans {
        let s = &ts.span;
        trace_id.append_value(s.trace_id.0)?;
        span_id.append_value(s.span_id.0)?;
        match s.parent_span_id {
            Some(p) => parent.append_value(p.0)?,
            None => parent.append_null(),
        }
        trace_state.append_value(&s.trace_state);
        service.append_option(ts.resource.service_name());
        name.append_value(&s.name);
        kind.append_value(kind_code(s.kind));
        start.append_value(s.start_time_unix_nano);
        end.append_value(s.end_time_unix_nano);
        duration.append_value(s.duration_nanos());
        status.append_value(status_code(s.status.code));
        status_message.append_value(&s.status.message);
        flags.append_value(s.flags);
        attributes.append_value(postcard::to_stdvec(&s.attributes)?);
        dropped_attributes.append_value(s.dropped_attributes_count);
        events.append_value(postcard::to_stdvec(&s.events)?);
        dropped_events.append_value(s.dropped_events_count);
        links.append_value(postcard::to_stdvec(&s.links)?);
        dropped_links.append_value(s.dropped_links_count);
        resource.append_value(encoded(&mut resource_cache, &ts.resource)?);
        scope.append_value(encoded(&mut scope_cache, &ts.scope)?);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(service.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(duration.finish()),
        Arc::new(status.finish()),
        Arc::new(status_message.finish()),
        Arc::new(flags.finish()),
        Arc::new(attributes.finish()),
        Arc::new(dropped_attributes.finish()),
        Arc::new(events.finish()),
        Arc::new(dropped_events.finish()),
        Arc::new(links.finish()),
        Arc::new(dropped_links.finish()),
        Arc::new(resource.finish()),
        Arc::new(scope.finish()),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The block's files whose CRC-32 `checksums.json` holds.
const CHECKSUMMED: [&str; 3] = ["spans.arrow", "index.bin", "attributes.json"];

/// The CRC-32 of a whole file, read in pieces.
fn file_crc(path: &Path) -> Result<u32, Error> {
    let mut file = BufReader::with_capacity(1 << 20, File::open(path).map_err(Error::io("open block file", path))?);
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(Error::io("read block file", path))?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

/// Checks the block's files against `checksums.json`; a block written before checksums were
/// kept has none and is taken as it is.
fn verify_checksums(dir: &Path) -> Result<(), Error> {
    let path = dir.join("checksums.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read block checksums", &path)(e)),
    };
    let sums: std::collections::BTreeMap<String, u32> =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e.to_string()))?;
    for (name, want) in sums {
        let file = dir.join(&name);
        if !CHECKSUMMED.contains(&name.as_str()) {
            return Err(corrupt(&path, format!("names an unknown file {name:?}")));
        }
        let got = file_crc(&file)?;
        if got != want {
            return Err(corrupt(&file, format!("checksum mismatch: CRC-32 {got:08x}, checksums.json says {want:08x}")));
        }
    }
    Ok(())
}

impl Block {
    /// Opens a block directory: checks its files' checksums, reads `meta.json` and `index.bin`.
    pub(crate) fn open(dir: &Path) -> Result<Block, Error> {
        verify_checksums(dir)?;
        let meta_path = dir.join("meta.json");
        let meta_bytes = std::fs::read(&meta_path).map_err(Error::io("read block meta", &meta_path))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes).map_err(|e| corrupt(&meta_path, e.to_string()))?;
        if meta.version != BLOCK_VERSION {
            return Err(corrupt(dir, format!("block version {} is not supported", meta.version)));
        }
        let index_path = dir.join("index.bin");
        let mut bytes = Vec::new();
        File::open(&index_path)
            .and_then(|f| BufReader::new(f).read_to_end(&mut bytes))
            .map_err(Error::io("read block index", &index_path))?;
        if bytes.len() < INDEX_MAGIC.len() + 8 || &bytes[..INDEX_MAGIC.len()] != INDEX_MAGIC {
            return Err(corrupt(&index_path, "bad index header"));
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&bytes[8..16]);
        let count = u64::from_le_bytes(count) as usize;
        let body = &bytes[16..];
        if body.len() != count.saturating_mul(INDEX_ENTRY) {
            return Err(corrupt(&index_path, "index length does not match its entry count"));
        }
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let index = body
            .chunks_exact(INDEX_ENTRY)
            .map(|e| {
                let trace_id = TraceId::from_slice(&e[..16]).ok_or_else(|| corrupt(&index_path, "zero trace id"))?;
                Ok(IndexEntry { trace_id, batch: u32_at(e, 16), row: u32_at(e, 20), rows: u32_at(e, 24) })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let values_path = dir.join("attributes.json");
        let values = match std::fs::read(&values_path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| corrupt(&values_path, e.to_string()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read block attributes", &values_path)(e)),
        };
        Ok(Block { dir: dir.to_owned(), meta, index, values })
    }

    /// Whether the block holds spans of `id`, from the in-memory index alone.
    pub(crate) fn contains(&self, id: &TraceId) -> bool {
        self.index.binary_search_by(|e| e.trace_id.cmp(id)).is_ok()
    }

    /// The spans of trace `id`, reading only the record batches that hold them.
    pub(crate) fn trace(&self, id: &TraceId) -> Result<Vec<TraceSpan>, Error> {
        let first = self.index.partition_point(|e| e.trace_id < *id);
        let entries: Vec<IndexEntry> = self.index[first..].iter().take_while(|e| e.trace_id == *id).copied().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.dir.join("spans.arrow");
        let file = File::open(&path).map_err(Error::io("open block file", &path))?;
        let mut reader = FileReader::try_new_buffered(file, None)?;
        let mut out = Vec::new();
        for entry in entries {
            reader.set_index(entry.batch as usize)?;
            let batch = reader.next().ok_or_else(|| corrupt(&path, "missing record batch"))??;
            let rows = Rows::new(&batch, &path)?;
            for row in entry.row as usize..(entry.row + entry.rows) as usize {
                let span = rows.span(row, out.last())?;
                out.push(span);
            }
        }
        Ok(out)
    }
}

impl Block {
    /// The spans of the block that `filter` keeps, batch by batch, until `each` returns false.
    /// Each batch is first read with only the filter's columns; a batch with no kept row is
    /// never decoded whole. Returns whether the whole block was read.
    pub(crate) fn scan(
        &self,
        filter: &dyn super::SpanFilter,
        each: &mut dyn FnMut(&TraceSpan) -> bool,
    ) -> Result<bool, Error> {
        let path = self.dir.join("spans.arrow");
        let schema = schema();
        let projection: Vec<usize> = ["service_name", "name", "kind", "duration_nano", "status_code", "status_message"]
            .iter()
            .map(|name| schema.index_of(name))
            .collect::<Result<_, _>>()?;
        let file = File::open(&path).map_err(Error::io("open block file", &path))?;
        let mut columns_reader = FileReader::try_new_buffered(file, Some(projection))?;
        let file = File::open(&path).map_err(Error::io("open block file", &path))?;
        let mut full_reader = FileReader::try_new_buffered(file, None)?;
        for index in 0..columns_reader.num_batches() {
            columns_reader.set_index(index)?;
            let columns = columns_reader.next().ok_or_else(|| corrupt(&path, "missing record batch"))??;
            let columns = Columns::new(&columns, &path)?;
            let keep: Vec<usize> = (0..columns.len()).filter(|&row| filter.row(&columns, row)).collect();
            if keep.is_empty() {
                continue;
            }
            full_reader.set_index(index)?;
            let batch = full_reader.next().ok_or_else(|| corrupt(&path, "missing record batch"))??;
            let rows = Rows::new(&batch, &path)?;
            let mut previous: Option<TraceSpan> = None;
            for row in keep {
                let span = rows.span(row, previous.as_ref())?;
                if !each(&span) {
                    return Ok(false);
                }
                previous = Some(span);
            }
        }
        Ok(true)
    }
}

/// The plain columns of one record batch, for [`super::SpanColumns`].
struct Columns<'a> {
    service_name: &'a StringArray,
    name: &'a StringArray,
    kind: &'a UInt8Array,
    duration: &'a UInt64Array,
    status: &'a UInt8Array,
    status_message: &'a StringArray,
}

impl<'a> Columns<'a> {
    fn new(batch: &'a RecordBatch, path: &Path) -> Result<Columns<'a>, Error> {
        Ok(Columns {
            service_name: column(batch, "service_name", path)?,
            name: column(batch, "name", path)?,
            kind: column(batch, "kind", path)?,
            duration: column(batch, "duration_nano", path)?,
            status: column(batch, "status_code", path)?,
            status_message: column(batch, "status_message", path)?,
        })
    }

    fn len(&self) -> usize {
        self.name.len()
    }
}

impl super::SpanColumns for Columns<'_> {
    fn service_name(&self, row: usize) -> Option<&str> {
        (!self.service_name.is_null(row)).then(|| self.service_name.value(row))
    }
    fn name(&self, row: usize) -> &str {
        self.name.value(row)
    }
    fn kind(&self, row: usize) -> SpanKind {
        SpanKind::from_otlp(i32::from(self.kind.value(row)))
    }
    fn duration(&self, row: usize) -> u64 {
        self.duration.value(row)
    }
    fn status(&self, row: usize) -> StatusCode {
        StatusCode::from_otlp(i32::from(self.status.value(row)))
    }
    fn status_message(&self, row: usize) -> &str {
        self.status_message.value(row)
    }
}

/// Typed access to one record batch's columns.
struct Rows<'a> {
    path: &'a Path,
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a FixedSizeBinaryArray,
    parent: &'a FixedSizeBinaryArray,
    trace_state: &'a StringArray,
    name: &'a StringArray,
    kind: &'a UInt8Array,
    start: &'a UInt64Array,
    end: &'a UInt64Array,
    status: &'a UInt8Array,
    status_message: &'a StringArray,
    flags: &'a UInt32Array,
    attributes: &'a BinaryArray,
    dropped_attributes: &'a UInt32Array,
    events: &'a BinaryArray,
    dropped_events: &'a UInt32Array,
    links: &'a BinaryArray,
    dropped_links: &'a UInt32Array,
    resource: &'a BinaryArray,
    scope: &'a BinaryArray,
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T, Error> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| corrupt(path, format!("column {name} is missing or of the wrong type")))
}

impl<'a> Rows<'a> {
    fn new(batch: &'a RecordBatch, path: &'a Path) -> Result<Rows<'a>, Error> {
        Ok(Rows {
            path,
            trace_id: column(batch, "trace_id", path)?,
            span_id: column(batch, "span_id", path)?,
            parent: column(batch, "parent_span_id", path)?,
            trace_state: column(batch, "trace_state", path)?,
            name: column(batch, "name", path)?,
            kind: column(batch, "kind", path)?,
            start: column(batch, "start_unix_nano", path)?,
            end: column(batch, "end_unix_nano", path)?,
            status: column(batch, "status_code", path)?,
            status_message: column(batch, "status_message", path)?,
            flags: column(batch, "flags", path)?,
            attributes: column(batch, "attributes", path)?,
            dropped_attributes: column(batch, "dropped_attributes_count", path)?,
            events: column(batch, "events", path)?,
            dropped_events: column(batch, "dropped_events_count", path)?,
            links: column(batch, "links", path)?,
            dropped_links: column(batch, "dropped_links_count", path)?,
            resource: column(batch, "resource", path)?,
            scope: column(batch, "scope", path)?,
        })
    }

    /// Row `i` as a span; shares the resource and scope of `previous` when they are equal.
    fn span(&self, i: usize, previous: Option<&TraceSpan>) -> Result<TraceSpan, Error> {
        if i >= self.trace_id.len() {
            return Err(corrupt(self.path, "index points past the end of a record batch"));
        }
        let decode_err = |what: &str| {
            let path = self.path.to_owned();
            let what = what.to_owned();
            move |e: postcard::Error| corrupt(&path, format!("{what}: {e}"))
        };
        let resource: Resource = postcard::from_bytes(self.resource.value(i)).map_err(decode_err("resource"))?;
        let scope: Scope = postcard::from_bytes(self.scope.value(i)).map_err(decode_err("scope"))?;
        let (resource, scope) = match previous {
            Some(p) if *p.resource == resource && *p.scope == scope => (Arc::clone(&p.resource), Arc::clone(&p.scope)),
            _ => (Arc::new(resource), Arc::new(scope)),
        };
        let id = |bytes: &[u8]| corrupt(self.path, format!("bad id {}", hex::encode(bytes)));
        let span = Span {
            trace_id: TraceId::from_slice(self.trace_id.value(i)).ok_or_else(|| id(self.trace_id.value(i)))?,
            span_id: SpanId::from_slice(self.span_id.value(i)).ok_or_else(|| id(self.span_id.value(i)))?,
            parent_span_id: if self.parent.is_null(i) { None } else { SpanId::from_slice(self.parent.value(i)) },
            trace_state: self.trace_state.value(i).to_owned(),
            flags: self.flags.value(i),
            name: self.name.value(i).to_owned(),
            kind: SpanKind::from_otlp(i32::from(self.kind.value(i))),
            start_time_unix_nano: self.start.value(i),
            end_time_unix_nano: self.end.value(i),
            attributes: postcard::from_bytes(self.attributes.value(i)).map_err(decode_err("attributes"))?,
            dropped_attributes_count: self.dropped_attributes.value(i),
            events: postcard::from_bytes(self.events.value(i)).map_err(decode_err("events"))?,
            dropped_events_count: self.dropped_events.value(i),
            links: postcard::from_bytes(self.links.value(i)).map_err(decode_err("links"))?,
            dropped_links_count: self.dropped_links.value(i),
            status: Status {
                code: StatusCode::from_otlp(i32::from(self.status.value(i))),
                message: self.status_message.value(i).to_owned(),
            },
        };
        Ok(TraceSpan { resource, scope, span })
    }
}
