//! Immutable metrics blocks on disk: a time range of every series' chunks, with the series
//! index. Format (version 1, `storage/docs/metrics.md`):
//!
//! - `meta.json`: version, time range `[min_t, max_t)`, compaction level, counts.
//! - `index`: magic `LKMIDX\0\x01`, CRC-32 of the rest, then zstd(postcard([`BlockIndex`])):
//!   the label strings, per tenant the series (labels as string numbers, sorted by labels)
//!   with their chunk references, and the page table of `chunks`.
//! - `chunks`: pages, each one zstd frame of concatenated chunks (`pack.rs` encoding), in
//!   series order.
//!
//! A block is written in a `.tmp` directory and renamed into place, so a crash never leaves a
//! half-written block visible.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::index::{Postings, Symbols, label_of};
use super::pack;
use crate::fs::{sync_dir, write_synced};
use crate::{Error, Labels, Result, Sample, Tenant};

/// The block format version this code writes and reads.
pub(crate) const BLOCK_VERSION: u32 = 1;
const INDEX_MAGIC: &[u8; 8] = b"LKMIDX\0\x01";
/// Raw bytes of chunk data per page before compression.
const PAGE_BYTES: usize = 256 * 1024;
/// Most samples in one chunk of a block.
const BLOCK_CHUNK_SAMPLES: usize = 240;

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlockMeta {
    pub version: u32,
    /// First millisecond covered.
    pub min_t: i64,
    /// First millisecond not covered.
    pub max_t: i64,
    /// 1 for a block cut from the head, one more for each compaction.
    pub level: u32,
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
}

/// Where a chunk's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChunkRef {
    pub min_t: i64,
    pub max_t: i64,
    pub count: u32,
    pub page: u32,
    pub offset: u32,
    pub len: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexSeries {
    pub labels: Vec<(u32, u32)>,
    pub chunks: Vec<ChunkRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexTenant {
    name: String,
    series: Vec<IndexSeries>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct PageRef {
    offset: u64,
    len: u32,
    raw_len: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct BlockIndex {
    symbols: Vec<String>,
    tenants: Vec<IndexTenant>,
    pages: Vec<PageRef>,
}

/// One tenant's part of a block.
#[derive(Debug)]
pub(crate) struct BlockTenant {
    pub series: Vec<IndexSeries>,
    pub postings: Postings,
}

/// An open block.
#[derive(Debug)]
pub(crate) struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    pub symbols: Symbols,
    pub tenants: HashMap<Tenant, BlockTenant>,
    pages: Vec<PageRef>,
    chunks: File,
    pub bytes: u64,
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::CorruptMetrics { path: path.to_path_buf(), reason: reason.into() }
}

/// Writes chunk bytes into compressed pages.
struct PageWriter {
    out: BufWriter<File>,
    path: PathBuf,
    page: Vec<u8>,
    pages: Vec<PageRef>,
    offset: u64,
    level: i32,
}

impl PageWriter {
    fn add(&mut self, bytes: &[u8]) -> Result<(u32, u32)> {
        if !self.page.is_empty() && self.page.len() + bytes.len() > PAGE_BYTES {
            self.flush()?;
        }
        let at = (self.pages.len() as u32, self.page.len() as u32);
        self.page.extend_from_slice(bytes);
        Ok(at)
    }

    fn flush(&mut self) -> Result<()> {
        if self.page.is_empty() {
            return Ok(());
        }
        let packed = zstd::bulk::compress(&self.page, self.level).map_err(Error::io("compress page", &self.path))?;
        self.out.write_all(&packed).map_err(Error::io("write chunks", &self.path))?;
        self.pages.push(PageRef { offset: self.offset, len: packed.len() as u32, raw_len: self.page.len() as u32 });
        self.offset += packed.len() as u64;
        self.page.clear();
        Ok(())
    }
}

/// Builds a block: series must be added in label order per tenant, tenants in any order.
pub(crate) struct BlockWriter {
    tmp: PathBuf,
    dir: PathBuf,
    meta: BlockMeta,
    symbols: Symbols,
    tenants: Vec<IndexTenant>,
    pages: PageWriter,
}

impl BlockWriter {
    /// Starts a block that will appear at `dir`.
    pub fn create(dir: &Path, min_t: i64, max_t: i64, level: u32, zstd_level: i32) -> Result<BlockWriter> {
        let tmp = dir.with_extension("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(Error::io("remove directory", &tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(Error::io("create directory", &tmp))?;
        let path = tmp.join("chunks");
        let file = File::create(&path).map_err(Error::io("create file", &path))?;
        Ok(BlockWriter {
            dir: dir.to_path_buf(),
            meta: BlockMeta { version: BLOCK_VERSION, min_t, max_t, level, series: 0, samples: 0, chunks: 0 },
            symbols: Symbols::default(),
            tenants: Vec::new(),
            pages: PageWriter {
                out: BufWriter::new(file),
                path,
                page: Vec::new(),
                pages: Vec::new(),
                offset: 0,
                level: zstd_level,
            },
            tmp,
        })
    }

    /// Adds one series with its samples (time-ordered, one per timestamp).
    pub fn add_series(&mut self, tenant: &Tenant, labels: &Labels, samples: &[Sample]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        if self.tenants.last().is_none_or(|t| t.name != tenant.as_str()) {
            self.tenants.push(IndexTenant { name: tenant.as_str().to_string(), series: Vec::new() });
        }
        let interned = self.symbols.intern_labels(labels).into_vec();
        let mut refs = Vec::with_capacity(samples.len().div_ceil(BLOCK_CHUNK_SAMPLES));
        for run in samples.chunks(BLOCK_CHUNK_SAMPLES) {
            let bytes = pack::encode(run);
            let (page, offset) = self.pages.add(&bytes)?;
            let (min_t, max_t) = (run[0].t, run[run.len() - 1].t);
            refs.push(ChunkRef { min_t, max_t, count: run.len() as u32, page, offset, len: bytes.len() as u32 });
            self.meta.samples += run.len() as u64;
            self.meta.chunks += 1;
        }
        self.meta.series += 1;
        if let Some(t) = self.tenants.last_mut() {
            t.series.push(IndexSeries { labels: interned, chunks: refs });
        }
        Ok(())
    }

    /// Writes the index and meta, syncs, and renames the block into place. Returns `None` when
    /// no series was added (nothing is left on disk).
    pub fn finish(mut self) -> Result<Option<Block>> {
        self.pages.flush()?;
        let file =
            self.pages.out.into_inner().map_err(|e| Error::io("write chunks", &self.pages.path)(e.into_error()))?;
        file.sync_all().map_err(Error::io("sync file", &self.pages.path))?;
        drop(file);
        if self.meta.series == 0 {
            std::fs::remove_dir_all(&self.tmp).map_err(Error::io("remove directory", &self.tmp))?;
            return Ok(None);
        }
        let index = BlockIndex {
            symbols: self.symbols.strings().map(str::to_string).collect(),
            tenants: self.tenants,
            pages: self.pages.pages,
        };
        let encoded = postcard::to_stdvec(&index)?;
        let packed = zstd::bulk::compress(&encoded, 3).map_err(Error::io("compress index", &self.tmp))?;
        let mut bytes = Vec::with_capacity(packed.len() + 12);
        bytes.extend_from_slice(INDEX_MAGIC);
        bytes.extend_from_slice(&crc32fast::hash(&packed).to_le_bytes());
        bytes.extend_from_slice(&packed);
        write_synced(&self.tmp.join("index"), &bytes)?;
        let meta = serde_json::to_vec_pretty(&self.meta).map_err(|e| corrupt(&self.tmp, e.to_string()))?;
        write_synced(&self.tmp.join("meta.json"), &meta)?;
        sync_dir(&self.tmp)?;
        std::fs::rename(&self.tmp, &self.dir).map_err(Error::io("rename", &self.tmp))?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        Block::open(&self.dir).map(Some)
    }
}

impl Block {
    /// Opens a block directory, loading its index into memory.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = std::fs::read(&meta_path).map_err(Error::io("read", &meta_path))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes).map_err(|e| corrupt(&meta_path, e.to_string()))?;
        if meta.version != BLOCK_VERSION {
            return Err(corrupt(dir, format!("block version {} is not {BLOCK_VERSION}", meta.version)));
        }
        let index_path = dir.join("index");
        let raw = std::fs::read(&index_path).map_err(Error::io("read", &index_path))?;
        if raw.len() < 12 || &raw[..8] != INDEX_MAGIC {
            return Err(corrupt(&index_path, "not a metrics block index"));
        }
        let crc = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]);
        if crc32fast::hash(&raw[12..]) != crc {
            return Err(corrupt(&index_path, "checksum mismatch"));
        }
        let encoded = zstd::stream::decode_all(&raw[12..]).map_err(|e| corrupt(&index_path, e.to_string()))?;
        let index: BlockIndex = postcard::from_bytes(&encoded).map_err(|e| corrupt(&index_path, e.to_string()))?;
        let mut symbols = Symbols::default();
        for s in &index.symbols {
            symbols.intern(s);
        }
        if symbols.len() != index.symbols.len() {
            return Err(corrupt(&index_path, "repeated label strings"));
        }
        let n = index.symbols.len() as u32;
        let mut tenants = HashMap::new();
        for t in index.tenants {
            let tenant = Tenant::new(&t.name).map_err(|e| corrupt(&index_path, e.to_string()))?;
            let mut postings = Postings::default();
            for (id, s) in t.series.iter().enumerate() {
                if s.labels.iter().any(|&(a, b)| a >= n || b >= n) {
                    return Err(corrupt(&index_path, "label string out of range"));
                }
                if s.chunks.iter().any(|c| c.page as usize >= index.pages.len()) {
                    return Err(corrupt(&index_path, "chunk page out of range"));
                }
                postings.add(id as u32, &s.labels);
            }
            tenants.insert(tenant, BlockTenant { series: t.series, postings });
        }
        let chunks_path = dir.join("chunks");
        let chunks = File::open(&chunks_path).map_err(Error::io("open", &chunks_path))?;
        let bytes = chunks.metadata().map(|m| m.len()).unwrap_or(0) + raw.len() as u64 + meta_bytes.len() as u64;
        Ok(Block { dir: dir.to_path_buf(), meta, symbols, tenants, pages: index.pages, chunks, bytes })
    }

    /// The decompressed bytes of page `page`.
    pub fn page(&self, page: u32) -> Result<Vec<u8>> {
        let path = || self.dir.join("chunks");
        let p = self.pages.get(page as usize).ok_or_else(|| corrupt(&path(), "page out of range"))?;
        let mut packed = vec![0u8; p.len as usize];
        self.chunks.read_exact_at(&mut packed, p.offset).map_err(Error::io("read", path()))?;
        let raw = zstd::bulk::decompress(&packed, p.raw_len as usize).map_err(|e| corrupt(&path(), e.to_string()))?;
        if raw.len() != p.raw_len as usize {
            return Err(corrupt(&path(), "page length mismatch"));
        }
        Ok(raw)
    }

    /// The series of `tenant` matching `matchers` (ids into that tenant's series).
    pub fn select(&self, tenant: &Tenant, matchers: &[super::Matcher]) -> Vec<u32> {
        let Some(t) = self.tenants.get(tenant) else { return Vec::new() };
        t.postings.select(&self.symbols, matchers, |id, name| label_of(&t.series[id as usize].labels, name))
    }

    /// Whether the block overlaps `[min_t, max_t]`.
    pub fn overlaps(&self, min_t: i64, max_t: i64) -> bool {
        self.meta.min_t <= max_t && min_t < self.meta.max_t
    }
}

/// Reads chunks of one block, keeping the last decompressed page.
pub(crate) struct ChunkReader<'b> {
    block: &'b Block,
    page: Option<(u32, Vec<u8>)>,
}

impl<'b> ChunkReader<'b> {
    pub fn new(block: &'b Block) -> ChunkReader<'b> {
        ChunkReader { block, page: None }
    }

    /// Appends the samples of the chunk at `r` to `out`.
    pub fn samples_into(&mut self, r: &ChunkRef, out: &mut Vec<Sample>) -> Result<()> {
        if self.page.as_ref().is_none_or(|(p, _)| *p != r.page) {
            self.page = Some((r.page, self.block.page(r.page)?));
        }
        let bytes = match &self.page {
            Some((_, page)) => page.get(r.offset as usize..(r.offset as usize).saturating_add(r.len as usize)),
            None => None,
        };
        let bytes = bytes.ok_or_else(|| corrupt(&self.block.dir, "chunk outside its page"))?;
        pack::decode_into(bytes, r.count, out).ok_or_else(|| corrupt(&self.block.dir, "undecodable chunk"))
    }
}
