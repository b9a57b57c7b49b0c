//! One time partition of the log store: a tantivy index holding the entries whose timestamps
//! fall in `[start, end)`. Its last commit names the WAL position it covers, so that replay
//! after a crash adds only what the commit does not hold.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tantivy::schema::{FAST, Field, IndexRecordOption, NumericOptions, STORED, Schema, TextFieldIndexing, TextOptions};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument};

use crate::{Entry, Error, Label, Result, WalPosition};

/// Name of the tokenizer of the `line` field: runs of alphanumeric characters, case kept, so
/// that a token found in a filter string is found in the lines that contain the string.
pub(crate) const LINE_TOKENIZER: &str = "lookout_line";

/// Bytes of indexing memory for each partition's writer.
const WRITER_MEMORY: usize = 32 << 20;

/// The fields of a log document. Format version 1 (partitions written before version 2) has
/// the same fields but `v2`, keeps `stream` as a fast column, and stores all of the rest of the
/// metadata as JSON pairs.
#[derive(Clone, Copy)]
pub(crate) struct Fields {
    /// Entry time, ns (fast).
    pub ts: Field,
    /// Stream id (indexed; in version 1 fast too).
    pub stream: Field,
    /// Tenant (indexed).
    pub tenant: Field,
    /// OTLP severity number, 0 if none (fast).
    pub severity: Field,
    /// `detected_level` as an index into `level::LEVELS`, or `columns::OTHER_LEVEL` (fast).
    pub level: Field,
    /// `observed_timestamp` minus `ts`, ns (fast, optional): a constant or small number where
    /// the time itself would take 40-odd bits.
    pub observed: Field,
    /// Trace id, first and second half (fast, optional).
    pub trace_hi: Field,
    pub trace_lo: Field,
    /// Span id (fast, optional).
    pub span: Field,
    /// Line length in bytes (fast).
    pub size: Field,
    /// The line (indexed without positions, stored).
    pub line: Field,
    /// The rest of the structured metadata as JSON `[[name, value], …]`, or in version 2 with a
    /// set, the values the set leaves out as a JSON array (`interned.rs`; stored, optional).
    pub metadata: Field,
    /// What version 2 adds.
    pub v2: Option<FieldsV2>,
}

/// The fields of format version 2.
#[derive(Clone, Copy)]
pub(crate) struct FieldsV2 {
    /// The stream id as 8 big-endian bytes (fast, dictionary-encoded: a few bits a document
    /// where the id itself takes 64).
    pub stream_key: Field,
    /// The metadata set (`interned.rs`; fast, dictionary-encoded, optional).
    pub meta_set: Field,
}

impl Fields {
    /// The schema of a new partition (version 2).
    fn schema() -> Schema {
        let mut b = Schema::builder();
        let line_options = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(LINE_TOKENIZER)
                    .set_index_option(IndexRecordOption::Basic)
                    .set_fieldnorms(false),
            )
            .set_stored();
        b.add_i64_field("ts", FAST);
        b.add_u64_field("stream", NumericOptions::default().set_indexed());
        b.add_text_field(
            "tenant",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::Basic)
                    .set_fieldnorms(false),
            ),
        );
        b.add_u64_field("severity", FAST);
        b.add_u64_field("level", FAST);
        b.add_u64_field("size", FAST);
        b.add_i64_field("observed_delta", FAST);
        b.add_u64_field("trace_hi", FAST);
        b.add_u64_field("trace_lo", FAST);
        b.add_u64_field("span", FAST);
        b.add_text_field("line", line_options);
        b.add_text_field("metadata", STORED);
        b.add_bytes_field("stream_key", FAST);
        b.add_text_field("meta_set", TextOptions::default().set_fast("raw"));
        b.build()
    }

    /// The fields of a partition's schema, either version.
    fn of(schema: &Schema) -> tantivy::Result<Fields> {
        let v2 = match schema.get_field("stream_key") {
            Ok(stream_key) => Some(FieldsV2 { stream_key, meta_set: schema.get_field("meta_set")? }),
            Err(_) => None,
        };
        Ok(Fields {
            ts: schema.get_field("ts")?,
            stream: schema.get_field("stream")?,
            tenant: schema.get_field("tenant")?,
            severity: schema.get_field("severity")?,
            level: schema.get_field("level")?,
            size: schema.get_field("size")?,
            observed: schema.get_field("observed_delta")?,
            trace_hi: schema.get_field("trace_hi")?,
            trace_lo: schema.get_field("trace_lo")?,
            span: schema.get_field("span")?,
            line: schema.get_field("line")?,
            metadata: schema.get_field("metadata")?,
            v2,
        })
    }
}

/// One partition.
pub(crate) struct Partition {
    /// First nanosecond covered.
    pub start: i64,
    /// First nanosecond after it.
    pub end: i64,
    pub dir: PathBuf,
    pub fields: Fields,
    index: Index,
    pub reader: IndexReader,
    state: Mutex<WriteState>,
}

/// What the writer side of a partition knows.
#[derive(Default)]
struct WriteState {
    writer: Option<IndexWriter>,
    /// A released writer finishing its merges on a thread of its own.
    closing: Option<std::thread::JoinHandle<tantivy::Result<()>>>,
    /// The WAL position the last commit covers (everything at or before it is in the index).
    committed: Option<WalPosition>,
    /// The last position added since the commit, and the first.
    last: Option<WalPosition>,
    first: Option<WalPosition>,
    /// Names of the structured metadata of every entry, committed with the position.
    metadata_names: std::collections::BTreeSet<String>,
    /// Which metadata values go into sets (version 2).
    interning: super::interned::Interning,
}

/// What a commit records beside the documents.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CommitPayload {
    /// The last WAL position the commit holds.
    position: Option<WalPosition>,
    /// Structured metadata names of the partition's entries.
    #[serde(default)]
    metadata_names: std::collections::BTreeSet<String>,
}

impl Partition {
    /// Opens the partition in `dir`, creating it if needed with a doc store of zstd
    /// `compression_level`.
    pub fn open(dir: &Path, start: i64, end: i64, compression_level: i32) -> Result<Partition> {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        let index = if dir.join("meta.json").exists() {
            let index = Index::open_in_dir(dir).map_err(|e| damage_or(dir, e))?;
            // Every file of the index ends with its CRC-32; a mismatch is damage, not a query error.
            let damaged = index.validate_checksum().map_err(|e| damage_or(dir, e))?;
            if !damaged.is_empty() {
                let files: Vec<String> = damaged.iter().map(|p| p.display().to_string()).collect();
                return Err(Error::CorruptBlock {
                    path: dir.to_owned(),
                    reason: format!("checksum mismatch in {}", files.join(", ")),
                });
            }
            index
        } else {
            let settings = IndexSettings {
                docstore_compression: Compressor::Zstd(ZstdCompressor { compression_level: Some(compression_level) }),
                docstore_blocksize: 256 << 10,
                ..IndexSettings::default()
            };
            Index::builder().schema(Fields::schema()).settings(settings).create_in_dir(dir).map_err(tantivy_error)?
        };
        let fields = Fields::of(&index.schema()).map_err(|e| damage_or(dir, e))?;
        index.tokenizers().register(LINE_TOKENIZER, super::tokens::analyzer());
        let payload: CommitPayload = index
            .load_metas()
            .map_err(tantivy_error)?
            .payload
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(tantivy_error)?;
        let state =
            WriteState { committed: payload.position, metadata_names: payload.metadata_names, ..WriteState::default() };
        Ok(Partition { start, end, dir: dir.to_owned(), fields, index, reader, state: Mutex::new(state) })
    }

    /// Whether the last commit already holds what was written at `position`.
    pub fn covers(&self, position: WalPosition) -> bool {
        self.state.lock().map(|s| s.committed.is_some_and(|c| position <= c)).unwrap_or(false)
    }

    /// Adds entries, each with its stream id, written to the WAL at `position`.
    pub fn add(&self, position: WalPosition, tenant: &str, entries: &[(u64, &Entry)]) -> Result<()> {
        let mut guard = self.state.lock().map_err(|_| Error::Poisoned)?;
        let state = &mut *guard;
        if state.writer.is_none() {
            // A late entry for a partition whose writer is still closing: the index takes one
            // writer at a time.
            Self::finish_closing(state)?;
            state.writer = Some(self.index.writer_with_num_threads(1, WRITER_MEMORY).map_err(tantivy_error)?);
        }
        let Some(writer) = state.writer.as_ref() else { return Ok(()) };
        let f = self.fields;
        for &(stream, entry) in entries {
            for Label { name, .. } in &entry.metadata {
                if !state.metadata_names.contains(name) {
                    state.metadata_names.insert(name.clone());
                }
            }
            writer
                .add_document(Self::document(f, tenant, stream, entry, &mut state.interning))
                .map_err(tantivy_error)?;
        }
        state.first.get_or_insert(position);
        state.last = Some(position);
        Ok(())
    }

    fn document(
        f: Fields,
        tenant: &str,
        stream: u64,
        entry: &Entry,
        interning: &mut super::interned::Interning,
    ) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_i64(f.ts, entry.time_unix_nano);
        doc.add_u64(f.stream, stream);
        doc.add_text(f.tenant, tenant);
        doc.add_u64(f.size, entry.line.len() as u64);
        let split = super::columns::split(&entry.metadata);
        doc.add_u64(f.severity, split.severity);
        doc.add_u64(f.level, split.level);
        if let Some(observed) = split.observed {
            doc.add_i64(f.observed, observed.wrapping_sub(entry.time_unix_nano));
        }
        if let Some((hi, lo)) = split.trace {
            doc.add_u64(f.trace_hi, hi);
            doc.add_u64(f.trace_lo, lo);
        }
        if let Some(span) = split.span {
            doc.add_u64(f.span, span);
        }
        doc.add_text(f.line, &entry.line);
        match f.v2 {
            Some(v2) => {
                doc.add_bytes(v2.stream_key, &stream.to_be_bytes());
                let encoded = super::interned::encode(&split.rest, interning);
                if let Some(set) = encoded.set {
                    doc.add_text(v2.meta_set, set);
                }
                if let Some(stored) = encoded.stored {
                    doc.add_text(f.metadata, stored);
                }
            }
            None if !split.rest.is_empty() => {
                doc.add_text(f.metadata, serde_json::to_string(&split.rest).unwrap_or_default());
            }
            None => {}
        }
        doc
    }

    /// Names of the structured metadata of the partition's entries.
    pub fn metadata_names(&self) -> std::collections::BTreeSet<String> {
        self.state.lock().map(|s| s.metadata_names.clone()).unwrap_or_default()
    }

    /// The first WAL position added since the last commit, if any.
    pub fn uncommitted_from(&self) -> Option<WalPosition> {
        self.state.lock().ok().and_then(|s| s.first)
    }

    /// Commits what was added (with the WAL position it covers) and makes it searchable.
    /// With `close`, the writer is released afterwards: its last merges run on a thread of
    /// their own, since on a large partition they take seconds, and neither this partition's
    /// lock nor the store's (which intake waits for) is held meanwhile.
    pub fn commit(&self, close: bool) -> Result<bool> {
        let mut state = self.state.lock().map_err(|_| Error::Poisoned)?;
        let Some(last) = state.last else {
            if close {
                Self::release(&mut state)?;
            }
            return Ok(false);
        };
        let payload = CommitPayload { position: Some(last), metadata_names: state.metadata_names.clone() };
        let Some(writer) = state.writer.as_mut() else { return Ok(false) };
        let mut prepared = writer.prepare_commit().map_err(tantivy_error)?;
        prepared.set_payload(&serde_json::to_string(&payload).unwrap_or_default());
        prepared.commit().map_err(tantivy_error)?;
        state.committed = Some(last);
        state.last = None;
        state.first = None;
        if close {
            Self::release(&mut state)?;
        }
        drop(state);
        self.reader.reload().map_err(tantivy_error)?;
        Ok(true)
    }

    /// Waits for merges, for a clean close.
    pub fn close(&self) -> Result<()> {
        let mut state = self.state.lock().map_err(|_| Error::Poisoned)?;
        Self::finish_closing(&mut state)?;
        if let Some(writer) = state.writer.take() {
            writer.wait_merging_threads().map_err(tantivy_error)?;
        }
        Ok(())
    }

    /// Hands the writer to a thread that waits for its merges, after any earlier one is done.
    fn release(state: &mut WriteState) -> Result<()> {
        let Some(writer) = state.writer.take() else { return Ok(()) };
        // What the writer remembered of metadata goes with it.
        state.interning = Default::default();
        Self::finish_closing(state)?;
        let thread = std::thread::Builder::new()
            .name("log-partition-close".into())
            .spawn(move || writer.wait_merging_threads())
            .map_err(|e| Error::Index(format!("cannot start a thread to close a log partition: {e}")))?;
        state.closing = Some(thread);
        Ok(())
    }

    /// Waits for a released writer's merges, if any are still running.
    fn finish_closing(state: &mut WriteState) -> Result<()> {
        match state.closing.take().map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(tantivy_error(e)),
            Some(Err(_)) => Err(Error::Index("a log partition's closing thread panicked".into())),
        }
    }

    /// Bytes the partition takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|dir| dir.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }
}

/// A tantivy error met while opening `dir`: damage when tantivy says the data is corrupt or
/// does not fit the schema, a plain index error otherwise (the disk, the process).
fn damage_or(dir: &Path, e: tantivy::TantivyError) -> Error {
    use tantivy::TantivyError as T;
    match e {
        T::DataCorruption(_) | T::SchemaError(_) | T::IncompatibleIndex(_) | T::InvalidArgument(_) => {
            Error::CorruptBlock { path: dir.to_owned(), reason: e.to_string() }
        }
        e => tantivy_error(e),
    }
}

/// A tantivy error as a storage error.
pub(crate) fn tantivy_error(e: tantivy::TantivyError) -> Error {
    Error::Index(e.to_string())
}
