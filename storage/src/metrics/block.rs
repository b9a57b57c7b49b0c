//! Immutable metrics blocks on disk: a time range of every series' chunks, with the series
//! index. Format (version 2, `storage/docs/metrics.md`):
//!
//! - `meta.json`: version, time range `[min_t, max_t)`, compaction level, counts.
//! - `chunks`: pages, each one zstd frame of concatenated chunks (`pack.rs` encoding), in
//!   series order.
//! - `index`: magic `LKMIDX\0\x02`, then series pages (zstd frames of postcard-encoded series:
//!   labels as string numbers and chunk references, sorted by labels) and postings lists
//!   (ascending series numbers as varint differences), then the table of contents (zstd of
//!   postcard [`Toc`]: label strings, page tables, where each postings list is), then a footer:
//!   the table's offset (u64) and length (u32), its CRC-32 (u32), and the magic again.
//!
//! Only the table of contents stays in memory. Series and postings are read from the file when
//! a query or a compaction needs them (the page cache keeps the hot ones), so an open block
//! costs memory for its distinct label pairs, not for its series or chunks.
//!
//! A block is written in a `.tmp` directory and renamed into place, so a crash never leaves a
//! half-written block visible.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::index::{Postings, Symbols, select_postings};
use super::pack::{self, put_varint};
use crate::fs::{replace_synced, sync_dir, write_synced};
use crate::{Error, Labels, Result, Sample, Tenant};

/// The block format version this code writes.
pub(crate) const BLOCK_VERSION: u32 = 2;
const INDEX_MAGIC: &[u8; 8] = b"LKMIDX\0\x02";
/// Version 1 kept the whole index in one zstd frame; such blocks are converted at open.
const INDEX_MAGIC_V1: &[u8; 8] = b"LKMIDX\0\x01";
/// Table offset, table length, table CRC, magic.
const FOOTER_LEN: usize = 8 + 4 + 4 + 8;
/// Raw bytes of chunk data per page before compression.
const PAGE_BYTES: usize = 256 * 1024;
/// Approximate raw bytes of series entries per index page before compression.
const SERIES_PAGE_BYTES: usize = 64 * 1024;
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

/// One series of a block: interned labels and chunk references.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexSeries {
    pub labels: Vec<(u32, u32)>,
    pub chunks: Vec<ChunkRef>,
}

/// A page of compressed chunk bytes in `chunks`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct PageRef {
    offset: u64,
    len: u32,
    raw_len: u32,
}

/// A page of series entries in `index`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct SeriesPageRef {
    offset: u64,
    len: u32,
    raw_len: u32,
    crc: u32,
    /// Number of the first series in the page.
    first: u32,
}

/// A postings list in `index`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct PostingsRef {
    name: u32,
    value: u32,
    offset: u64,
    len: u32,
    crc: u32,
    count: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct TocTenant {
    name: String,
    series: u32,
    pages: Vec<SeriesPageRef>,
    postings: Vec<PostingsRef>,
}

/// The table of contents at the end of `index`.
#[derive(Debug, Serialize, Deserialize)]
struct Toc {
    symbols: Vec<String>,
    tenants: Vec<TocTenant>,
    chunk_pages: Vec<PageRef>,
}

/// One tenant's part of a block, as held in memory.
#[derive(Debug)]
pub(crate) struct BlockTenant {
    series: u32,
    pages: Vec<SeriesPageRef>,
    /// Label name → its values' postings lists, in value-number order.
    postings: HashMap<u32, Vec<PostingsRef>>,
}

/// An open block.
#[derive(Debug)]
pub(crate) struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    pub symbols: Symbols,
    tenants: HashMap<Tenant, BlockTenant>,
    pages: Vec<PageRef>,
    chunks: File,
    index: File,
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

/// One tenant of an index being written.
struct TenantWriter {
    name: String,
    series: u32,
    pages: Vec<SeriesPageRef>,
    page: Vec<IndexSeries>,
    page_bytes: usize,
    postings: Postings,
}

/// Writes an `index` file: series pages as series come (in label order per tenant), postings
/// lists and the table of contents at the end. Holds the label strings, the postings and one
/// page per tenant in memory.
struct IndexWriter {
    out: BufWriter<File>,
    path: PathBuf,
    offset: u64,
    symbols: Symbols,
    tenants: Vec<TenantWriter>,
}

impl IndexWriter {
    fn create(path: PathBuf) -> Result<IndexWriter> {
        let file = File::create(&path).map_err(Error::io("create file", &path))?;
        let mut out = BufWriter::new(file);
        out.write_all(INDEX_MAGIC).map_err(Error::io("write index", &path))?;
        Ok(IndexWriter {
            out,
            path,
            offset: INDEX_MAGIC.len() as u64,
            symbols: Symbols::default(),
            tenants: Vec::new(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<u64> {
        let at = self.offset;
        self.out.write_all(bytes).map_err(Error::io("write index", &self.path))?;
        self.offset += bytes.len() as u64;
        Ok(at)
    }

    /// Adds a series, given by label strings (interned here) and its chunk references.
    fn add(&mut self, tenant: &str, labels: Vec<(u32, u32)>, chunks: Vec<ChunkRef>) -> Result<()> {
        let ti = match self.tenants.iter().position(|t| t.name == tenant) {
            Some(i) => i,
            None => {
                self.tenants.push(TenantWriter {
                    name: tenant.to_string(),
                    series: 0,
                    pages: Vec::new(),
                    page: Vec::new(),
                    page_bytes: 0,
                    postings: Postings::default(),
                });
                self.tenants.len() - 1
            }
        };
        let t = &mut self.tenants[ti];
        let id = t.series;
        t.postings.add(id, &labels);
        t.series += 1;
        t.page_bytes += 4 + labels.len() * 4 + chunks.len() * 24;
        t.page.push(IndexSeries { labels, chunks });
        if t.page_bytes >= SERIES_PAGE_BYTES {
            self.flush_page(ti)?;
        }
        Ok(())
    }

    fn flush_page(&mut self, ti: usize) -> Result<()> {
        let t = &mut self.tenants[ti];
        if t.page.is_empty() {
            return Ok(());
        }
        let first = t.series - t.page.len() as u32;
        let raw = postcard::to_stdvec(&t.page)?;
        t.page.clear();
        t.page_bytes = 0;
        let packed = zstd::bulk::compress(&raw, 3).map_err(Error::io("compress index page", &self.path))?;
        let crc = crc32fast::hash(&packed);
        let offset = self.write(&packed)?;
        let page = SeriesPageRef { offset, len: packed.len() as u32, raw_len: raw.len() as u32, crc, first };
        self.tenants[ti].pages.push(page);
        Ok(())
    }

    /// Writes the postings, the table of contents and the footer, and syncs the file.
    fn finish(mut self, chunk_pages: Vec<PageRef>) -> Result<()> {
        let mut tenants = Vec::new();
        for ti in 0..self.tenants.len() {
            self.flush_page(ti)?;
            let mut pairs: Vec<(u32, u32)> = Vec::new();
            let postings = std::mem::take(&mut self.tenants[ti].postings);
            for name in postings.names() {
                pairs.extend(postings.values(name).map(|(value, _)| (name, value)));
            }
            pairs.sort_unstable();
            let mut refs = Vec::with_capacity(pairs.len());
            let mut buf = Vec::new();
            for (name, value) in pairs {
                let ids = postings.list(name, value);
                buf.clear();
                let mut prev = 0u32;
                for (i, &id) in ids.iter().enumerate() {
                    put_varint(&mut buf, if i == 0 { id } else { id - prev } as u64);
                    prev = id;
                }
                let crc = crc32fast::hash(&buf);
                let offset = self.write(&buf)?;
                refs.push(PostingsRef { name, value, offset, len: buf.len() as u32, crc, count: ids.len() as u32 });
            }
            let t = &mut self.tenants[ti];
            tenants.push(TocTenant {
                name: std::mem::take(&mut t.name),
                series: t.series,
                pages: std::mem::take(&mut t.pages),
                postings: refs,
            });
        }
        let toc = Toc { symbols: self.symbols.strings().map(str::to_string).collect(), tenants, chunk_pages };
        let encoded = postcard::to_stdvec(&toc)?;
        let packed = zstd::bulk::compress(&encoded, 3).map_err(Error::io("compress index", &self.path))?;
        let toc_offset = self.write(&packed)?;
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(&toc_offset.to_le_bytes());
        footer.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(&packed).to_le_bytes());
        footer.extend_from_slice(INDEX_MAGIC);
        self.write(&footer)?;
        let file = self.out.into_inner().map_err(|e| Error::io("write index", &self.path)(e.into_error()))?;
        file.sync_all().map_err(Error::io("sync file", &self.path))
    }
}

/// Builds a block: series must be added in label order per tenant.
pub(crate) struct BlockWriter {
    tmp: PathBuf,
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexWriter,
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
            index: IndexWriter::create(tmp.join("index"))?,
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
        let interned = self.index.symbols.intern_labels(labels).into_vec();
        self.index.add(tenant.as_str(), interned, refs)
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
        self.index.finish(self.pages.pages)?;
        write_meta(&self.tmp, &self.meta)?;
        sync_dir(&self.tmp)?;
        std::fs::rename(&self.tmp, &self.dir).map_err(Error::io("rename", &self.tmp))?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        Block::open(&self.dir).map(Some)
    }
}

fn write_meta(dir: &Path, meta: &BlockMeta) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(meta).map_err(|e| corrupt(dir, e.to_string()))?;
    write_synced(&dir.join("meta.json"), &bytes)
}

/// Reads `len` bytes at `offset` of `file` and checks their CRC-32.
fn read_checked(file: &File, path: &Path, offset: u64, len: u32, crc: u32) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, offset).map_err(Error::io("read", path))?;
    if crc32fast::hash(&bytes) != crc {
        return Err(corrupt(path, "checksum mismatch"));
    }
    Ok(bytes)
}

impl Block {
    /// Opens a block directory, loading its table of contents into memory. A version 1 block
    /// gets a version 2 index first (its chunks are kept as they are).
    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = std::fs::read(&meta_path).map_err(Error::io("read", &meta_path))?;
        let mut meta: BlockMeta =
            serde_json::from_slice(&meta_bytes).map_err(|e| corrupt(&meta_path, e.to_string()))?;
        if meta.version == 1 {
            upgrade_v1(dir, &mut meta)?;
        }
        if meta.version != BLOCK_VERSION {
            return Err(corrupt(dir, format!("block version {} is not {BLOCK_VERSION}", meta.version)));
        }
        let index_path = dir.join("index");
        let index = File::open(&index_path).map_err(Error::io("open", &index_path))?;
        let index_len = index.metadata().map_err(Error::io("read", &index_path))?.len();
        let bad = |reason: &str| corrupt(&index_path, reason);
        if index_len < (INDEX_MAGIC.len() + FOOTER_LEN) as u64 {
            return Err(bad("not a metrics block index"));
        }
        let mut head = [0u8; 8];
        index.read_exact_at(&mut head, 0).map_err(Error::io("read", &index_path))?;
        let mut footer = [0u8; FOOTER_LEN];
        index.read_exact_at(&mut footer, index_len - FOOTER_LEN as u64).map_err(Error::io("read", &index_path))?;
        if &head != INDEX_MAGIC || &footer[16..] != INDEX_MAGIC {
            return Err(bad("not a metrics block index"));
        }
        let word = |at: usize| u32::from_le_bytes([footer[at], footer[at + 1], footer[at + 2], footer[at + 3]]);
        let toc_offset = u64::from_le_bytes(footer[..8].try_into().unwrap_or_default());
        let (toc_len, toc_crc) = (word(8), word(12));
        if toc_offset.saturating_add(toc_len as u64) > index_len - FOOTER_LEN as u64 {
            return Err(bad("table of contents out of range"));
        }
        let packed = read_checked(&index, &index_path, toc_offset, toc_len, toc_crc)?;
        let encoded = zstd::stream::decode_all(&packed[..]).map_err(|e| bad(&e.to_string()))?;
        let toc: Toc = postcard::from_bytes(&encoded).map_err(|e| bad(&e.to_string()))?;
        let mut symbols = Symbols::default();
        for s in &toc.symbols {
            symbols.intern(s);
        }
        if symbols.len() != toc.symbols.len() {
            return Err(bad("repeated label strings"));
        }
        let n = toc.symbols.len() as u32;
        let in_file = |offset: u64, len: u32| offset.saturating_add(len as u64) <= toc_offset;
        let mut tenants = HashMap::new();
        for t in toc.tenants {
            let tenant = Tenant::new(&t.name).map_err(|e| bad(&e.to_string()))?;
            let pages_ok = t.pages.iter().all(|p| in_file(p.offset, p.len) && p.first < t.series)
                && t.pages.windows(2).all(|w| w[0].first < w[1].first)
                && t.pages.first().is_none_or(|p| p.first == 0);
            if !pages_ok {
                return Err(bad("series page table out of range"));
            }
            let mut postings: HashMap<u32, Vec<PostingsRef>> = HashMap::new();
            for p in t.postings {
                if p.name >= n || p.value >= n || !in_file(p.offset, p.len) || p.count > t.series {
                    return Err(bad("postings out of range"));
                }
                postings.entry(p.name).or_default().push(p);
            }
            tenants.insert(tenant, BlockTenant { series: t.series, pages: t.pages, postings });
        }
        let chunks_path = dir.join("chunks");
        let chunks = File::open(&chunks_path).map_err(Error::io("open", &chunks_path))?;
        let bytes = chunks.metadata().map(|m| m.len()).unwrap_or(0) + index_len + meta_bytes.len() as u64;
        Ok(Block { dir: dir.to_path_buf(), meta, symbols, tenants, pages: toc.chunk_pages, chunks, index, bytes })
    }

    /// The decompressed bytes of chunk page `page`.
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

    /// The tenants with series in the block.
    pub fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.keys()
    }

    /// Reads the series of `tenant` (none when the tenant has none here).
    pub fn series_reader(&self, tenant: &Tenant) -> SeriesReader<'_> {
        SeriesReader { block: self, tenant: self.tenants.get(tenant), page: None }
    }

    /// The postings list of one label pair.
    fn postings(&self, t: &BlockTenant, name: u32, value: u32) -> Result<Vec<u32>> {
        let Some(p) = t.postings.get(&name).and_then(|ps| ps.iter().find(|p| p.value == value)) else {
            return Ok(Vec::new());
        };
        let path = self.dir.join("index");
        let raw = read_checked(&self.index, &path, p.offset, p.len, p.crc)?;
        let mut r = pack::Reader::new(&raw);
        let mut ids = Vec::with_capacity(p.count as usize);
        while !r.is_empty() {
            let delta = r.varint().and_then(|d| u32::try_from(d).ok()).ok_or_else(|| corrupt(&path, "bad postings"))?;
            let id = match ids.last() {
                None => delta,
                Some(&prev) if delta > 0 => prev + delta,
                Some(_) => return Err(corrupt(&path, "postings out of order")),
            };
            if id >= t.series {
                return Err(corrupt(&path, "postings out of range"));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// The series of `tenant` matching `matchers` (numbers into that tenant's series).
    pub fn select(&self, tenant: &Tenant, matchers: &[super::Matcher]) -> Result<Vec<u32>> {
        let Some(t) = self.tenants.get(tenant) else { return Ok(Vec::new()) };
        select_postings(
            &self.symbols,
            matchers,
            t.series,
            |name| t.postings.get(&name).map(|ps| ps.iter().map(|p| p.value).collect()).unwrap_or_default(),
            |name, value| self.postings(t, name, value),
        )
    }

    /// Label names of `tenant`'s series.
    pub fn label_names(&self, tenant: &Tenant) -> Vec<&str> {
        let Some(t) = self.tenants.get(tenant) else { return Vec::new() };
        t.postings.keys().map(|&n| self.symbols.get(n)).collect()
    }

    /// Values of label `name` among `tenant`'s series.
    pub fn label_values(&self, tenant: &Tenant, name: &str) -> Vec<&str> {
        let (Some(t), Some(n)) = (self.tenants.get(tenant), self.symbols.lookup(name)) else { return Vec::new() };
        t.postings.get(&n).into_iter().flatten().map(|p| self.symbols.get(p.value)).collect()
    }

    /// Whether the block overlaps `[min_t, max_t]`.
    pub fn overlaps(&self, min_t: i64, max_t: i64) -> bool {
        self.meta.min_t <= max_t && min_t < self.meta.max_t
    }
}

/// Reads one tenant's series of a block by number, keeping the last page decoded.
pub(crate) struct SeriesReader<'b> {
    block: &'b Block,
    tenant: Option<&'b BlockTenant>,
    page: Option<(usize, Vec<IndexSeries>)>,
}

impl SeriesReader<'_> {
    /// Number of series.
    pub fn len(&self) -> u32 {
        self.tenant.map_or(0, |t| t.series)
    }

    /// Series number `id`.
    pub fn get(&mut self, id: u32) -> Result<&IndexSeries> {
        let path = || self.block.dir.join("index");
        let t = self.tenant.filter(|t| id < t.series).ok_or_else(|| corrupt(&path(), "series out of range"))?;
        let pi = t.pages.partition_point(|p| p.first <= id).saturating_sub(1);
        if self.page.as_ref().is_none_or(|(loaded, _)| *loaded != pi) {
            let p = t.pages.get(pi).ok_or_else(|| corrupt(&path(), "series out of range"))?;
            let packed = read_checked(&self.block.index, &path(), p.offset, p.len, p.crc)?;
            let raw =
                zstd::bulk::decompress(&packed, p.raw_len as usize).map_err(|e| corrupt(&path(), e.to_string()))?;
            let series: Vec<IndexSeries> = postcard::from_bytes(&raw).map_err(|e| corrupt(&path(), e.to_string()))?;
            let n = self.block.symbols.len() as u32;
            let chunk_pages = self.block.pages.len() as u32;
            let valid = series.iter().all(|s| {
                s.labels.iter().all(|&(a, b)| a < n && b < n) && s.chunks.iter().all(|c| c.page < chunk_pages)
            });
            if !valid {
                return Err(corrupt(&path(), "series entry out of range"));
            }
            self.page = Some((pi, series));
        }
        let first = t.pages[pi].first;
        match &self.page {
            Some((_, series)) => {
                series.get((id - first) as usize).ok_or_else(|| corrupt(&path(), "series out of range"))
            }
            None => Err(corrupt(&path(), "series out of range")),
        }
    }
}

/// Gives a version 1 block (one zstd frame holding every series) a version 2 index, written
/// beside it and renamed over it, then its `meta.json`. The chunks file does not change.
fn upgrade_v1(dir: &Path, meta: &mut BlockMeta) -> Result<()> {
    #[derive(Deserialize)]
    struct TenantV1 {
        name: String,
        series: Vec<IndexSeries>,
    }
    #[derive(Deserialize)]
    struct IndexV1 {
        symbols: Vec<String>,
        tenants: Vec<TenantV1>,
        pages: Vec<PageRef>,
    }
    let path = dir.join("index");
    let raw = std::fs::read(&path).map_err(Error::io("read", &path))?;
    if raw.len() < 12 || &raw[..8] != INDEX_MAGIC_V1 {
        return Err(corrupt(&path, "not a metrics block index"));
    }
    let crc = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]);
    if crc32fast::hash(&raw[12..]) != crc {
        return Err(corrupt(&path, "checksum mismatch"));
    }
    let encoded = zstd::stream::decode_all(&raw[12..]).map_err(|e| corrupt(&path, e.to_string()))?;
    let old: IndexV1 = postcard::from_bytes(&encoded).map_err(|e| corrupt(&path, e.to_string()))?;
    let tmp = dir.join("index.v2.tmp");
    let mut writer = IndexWriter::create(tmp.clone())?;
    let n = old.symbols.len() as u32;
    let name_of = |id: u32| old.symbols.get(id as usize).map(String::as_str).unwrap_or("");
    for t in &old.tenants {
        for s in &t.series {
            if s.labels.iter().any(|&(a, b)| a >= n || b >= n) {
                return Err(corrupt(&path, "label string out of range"));
            }
            let labels =
                s.labels.iter().map(|&(a, b)| (writer.symbols.intern(name_of(a)), writer.symbols.intern(name_of(b))));
            let labels: Vec<(u32, u32)> = labels.collect();
            writer.add(&t.name, labels, s.chunks.clone())?;
        }
    }
    writer.finish(old.pages)?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &tmp))?;
    meta.version = BLOCK_VERSION;
    let bytes = serde_json::to_vec_pretty(&*meta).map_err(|e| corrupt(dir, e.to_string()))?;
    replace_synced(&dir.join("meta.json"), &bytes)?;
    tracing::info!(block = %dir.display(), "metrics block index upgraded to version 2");
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MatchOp, Matcher};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    /// Writes a block of `n` series per tenant, each with a few samples.
    fn write_block(dir: &Path, n: u32) -> Block {
        let mut w = BlockWriter::create(dir, 0, 7_200_000, 1, 3).unwrap();
        for tenant in ["a", "b"] {
            let tenant = Tenant::new(tenant).unwrap();
            let mut sets: Vec<Labels> = (0..n)
                .map(|i| {
                    let job = format!("job{}", i % 7);
                    let inst = format!("inst{i:05}");
                    labels(&[("__name__", "m"), ("job", job.as_str()), ("instance", inst.as_str())])
                })
                .collect();
            sets.sort();
            for (i, l) in sets.iter().enumerate() {
                let samples: Vec<Sample> =
                    (0..300).map(|k| Sample { t: k * 15_000, v: (i as i64 * k) as f64 }).collect();
                w.add_series(&tenant, l, &samples).unwrap();
            }
        }
        w.finish().unwrap().unwrap()
    }

    #[test]
    fn series_and_postings_are_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let block = write_block(&dir.path().join("b"), 3000);
        let a = Tenant::new("a").unwrap();
        let t = &block.tenants[&a];
        assert!(t.pages.len() > 1, "several series pages: {}", t.pages.len());
        let mut series = block.series_reader(&a);
        assert_eq!(series.len(), 3000);
        // Out of order reads across pages.
        for id in [2999, 0, 1500, 1501, 7] {
            let s = series.get(id).unwrap();
            assert_eq!(s.chunks.iter().map(|c| c.count).sum::<u32>(), 300);
        }
        assert!(series.get(3000).is_err());
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        let job3 = block.select(&a, &[m(MatchOp::Equal, "job", "job3")]).unwrap();
        assert_eq!(job3.len(), 3000 / 7 + usize::from(3000 % 7 > 3));
        for id in job3 {
            let s = series.get(id).unwrap();
            assert_eq!(block.symbols.labels(&s.labels).get("job"), Some("job3"));
        }
        let not3 = block.select(&a, &[m(MatchOp::NotEqual, "job", "job3")]).unwrap();
        assert_eq!(not3.len(), 3000 - 3000 / 7 - usize::from(3000 % 7 > 3));
        assert_eq!(block.select(&a, &[m(MatchOp::Regex, "instance", "inst0000[0-4]")]).unwrap().len(), 5);
        assert_eq!(block.select(&a, &[m(MatchOp::Equal, "nope", "")]).unwrap().len(), 3000);
        assert!(block.select(&Tenant::new("c").unwrap(), &[]).unwrap().is_empty());
        let mut values = block.label_values(&a, "job");
        values.sort();
        assert_eq!(values.len(), 7);
    }

    #[test]
    fn a_version_1_block_gets_a_version_2_index() {
        #[derive(Serialize)]
        struct TenantV1 {
            name: String,
            series: Vec<IndexSeries>,
        }
        #[derive(Serialize)]
        struct IndexV1 {
            symbols: Vec<String>,
            tenants: Vec<TenantV1>,
            pages: Vec<PageRef>,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        let (expected, old) = {
            let block = write_block(&path, 500);
            let mut tenants = Vec::new();
            let mut expected = Vec::new();
            for name in ["a", "b"] {
                let tenant = Tenant::new(name).unwrap();
                let mut reader = block.series_reader(&tenant);
                let mut chunks = ChunkReader::new(&block);
                let mut series = Vec::new();
                for id in 0..reader.len() {
                    let s = reader.get(id).unwrap().clone();
                    let mut samples = Vec::new();
                    for c in &s.chunks {
                        chunks.samples_into(c, &mut samples).unwrap();
                    }
                    expected.push((name, block.symbols.labels(&s.labels), samples));
                    series.push(s);
                }
                tenants.push(TenantV1 { name: name.to_string(), series });
            }
            let symbols = block.symbols.strings().map(str::to_string).collect();
            (expected, IndexV1 { symbols, tenants, pages: block.pages.clone() })
        };
        let packed = zstd::bulk::compress(&postcard::to_stdvec(&old).unwrap(), 3).unwrap();
        let mut bytes = INDEX_MAGIC_V1.to_vec();
        bytes.extend_from_slice(&crc32fast::hash(&packed).to_le_bytes());
        bytes.extend_from_slice(&packed);
        std::fs::write(path.join("index"), bytes).unwrap();
        let meta_path = path.join("meta.json");
        let meta = std::fs::read_to_string(&meta_path).unwrap().replace("\"version\": 2", "\"version\": 1");
        std::fs::write(&meta_path, meta).unwrap();

        let block = Block::open(&path).unwrap();
        assert_eq!(block.meta.version, 2);
        assert!(std::fs::read_to_string(&meta_path).unwrap().contains("\"version\": 2"));
        let mut got = Vec::new();
        for name in ["a", "b"] {
            let tenant = Tenant::new(name).unwrap();
            let mut reader = block.series_reader(&tenant);
            let mut chunks = ChunkReader::new(&block);
            for id in block.select(&tenant, &[]).unwrap() {
                let s = reader.get(id).unwrap().clone();
                let mut samples = Vec::new();
                for c in &s.chunks {
                    chunks.samples_into(c, &mut samples).unwrap();
                }
                got.push((name, block.symbols.labels(&s.labels), samples));
            }
        }
        assert_eq!(got, expected);
    }
}
