//! Closed head chunks, spilled to files so that memory holds only each series' open chunk, as
//! Prometheus does with its memory-mapped `chunks_head`.
//!
//! A series keeps only where its newest closed chunk is ([`ChunkLoc`], eight bytes): each
//! chunk written starts with a header naming the series' chunk before it, so a series' closed
//! chunks are a chain from newest to oldest, read back one `pread` per chunk. Memory per series
//! therefore does not grow with the number of chunks between two block cuts.
//!
//! The files are a cache, not a source of truth: the WAL holds every sample of the head, so the
//! directory is emptied at startup and rebuilt by replay. A file is deleted once every chunk in
//! it ends before the head's oldest time; readers that still hold it (a query in flight) keep
//! reading the open file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::chunk::{self, Chunk};
use crate::{Error, Result, Sample};

/// Bytes per head chunk file before the next one starts (offsets in a file fit in 32 bits).
const FILE_BYTES: u64 = 128 << 20;

/// Header before each chunk's bytes: the previous chunk's location (8 bytes), the first and
/// last timestamps (8 + 8), the sample count (2), all little-endian.
const HEADER: usize = 26;

/// Where a closed chunk is: slot (file), offset and length (header included). A chunk holds
/// at most [`super::head::CHUNK_SAMPLES`] samples of at most 19 bytes each, so its length fits
/// in 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkLoc {
    offset: u32,
    slot: u16,
    len: u16,
}

impl ChunkLoc {
    /// No chunk.
    pub const NONE: ChunkLoc = ChunkLoc { offset: 0, slot: u16::MAX, len: 0 };

    pub fn is_none(&self) -> bool {
        self.slot == u16::MAX
    }

    fn to_bytes(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self.offset.to_le_bytes());
        out[4..6].copy_from_slice(&self.slot.to_le_bytes());
        out[6..].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    fn from_bytes(b: &[u8]) -> ChunkLoc {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        ChunkLoc { offset: u32::from_le_bytes([b[0], b[1], b[2], b[3]]), slot: u16_at(4), len: u16_at(6) }
    }
}

/// A chunk read back (or an open chunk's copy): its time range, count and encoded samples.
/// Bytes are empty when only the header was read.
#[derive(Debug, Clone)]
pub(crate) struct ChunkHandle {
    pub min_t: i64,
    pub max_t: i64,
    pub count: u32,
    bytes: Box<[u8]>,
}

impl ChunkHandle {
    /// A chunk kept in memory.
    pub fn memory(chunk: Chunk) -> ChunkHandle {
        ChunkHandle { min_t: chunk.min_t, max_t: chunk.max_t, count: chunk.count, bytes: chunk.bytes }
    }

    /// Appends the chunk's samples to `out`.
    pub fn decode_into(&self, out: &mut Vec<Sample>) -> Result<()> {
        chunk::decode_into(&self.bytes, self.count, out);
        Ok(())
    }
}

/// Where stored chunks live: a file, or memory when a file cannot be written (or the head has
/// no directory).
#[derive(Clone)]
enum Store {
    File(Arc<File>),
    Memory(Arc<RwLock<Vec<u8>>>),
}

struct Slot {
    store: Store,
    path: Option<PathBuf>,
    /// Newest sample time of any chunk in the slot.
    max_t: i64,
}

/// The head chunk files.
pub(crate) struct ChunkFiles {
    dir: Option<PathBuf>,
    slots: Vec<Option<Slot>>,
    current: Option<u16>,
    current_len: u64,
    bytes: u64,
    memory_bytes: u64,
}

impl std::fmt::Debug for ChunkFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkFiles").field("dir", &self.dir).field("bytes", &self.bytes).finish()
    }
}

impl ChunkFiles {
    /// Empties (or creates) `dir`: what was there belongs to a head that replay rebuilds.
    pub fn open(dir: PathBuf) -> Result<ChunkFiles> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(Error::io("remove directory", &dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
        Ok(ChunkFiles { dir: Some(dir), ..ChunkFiles::in_memory() })
    }

    /// Chunks kept in memory only.
    pub fn in_memory() -> ChunkFiles {
        ChunkFiles { dir: None, slots: Vec::new(), current: None, current_len: 0, bytes: 0, memory_bytes: 0 }
    }

    /// Bytes in live head chunk files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes of chunks kept in memory.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// Stores a closed chunk whose series' previous chunk is at `prev`: in the current file,
    /// or in memory when that fails. [`ChunkLoc::NONE`] only if memory has no slot left either.
    pub fn spill(&mut self, chunk: &Chunk, prev: ChunkLoc) -> ChunkLoc {
        let mut bytes = Vec::with_capacity(HEADER + chunk.bytes.len());
        bytes.extend_from_slice(&prev.to_bytes());
        bytes.extend_from_slice(&chunk.min_t.to_le_bytes());
        bytes.extend_from_slice(&chunk.max_t.to_le_bytes());
        bytes.extend_from_slice(&(chunk.count as u16).to_le_bytes());
        bytes.extend_from_slice(&chunk.bytes);
        let Ok(len) = u16::try_from(bytes.len()) else {
            tracing::error!(bytes = bytes.len(), "head chunk larger than a chunk can be; not kept");
            return ChunkLoc::NONE;
        };
        let placed = match self.place(&bytes, chunk.max_t, false) {
            Ok(placed) => Ok(placed),
            Err(e) => {
                if self.dir.is_some() {
                    tracing::warn!(error = %e, "cannot spill a head chunk to disk; keeping it in memory");
                }
                self.place(&bytes, chunk.max_t, true)
            }
        };
        match placed {
            Ok((slot, offset)) => ChunkLoc { offset, slot, len },
            Err(_) => ChunkLoc::NONE,
        }
    }

    /// Appends `bytes` to the current slot, starting a new one when full, of the other kind or
    /// none. Returns the slot and offset.
    fn place(&mut self, bytes: &[u8], max_t: i64, memory: bool) -> Result<(u16, u32)> {
        let current_is_memory = |files: &ChunkFiles| {
            files
                .current
                .and_then(|id| files.slots.get(id as usize)?.as_ref())
                .map(|s| matches!(s.store, Store::Memory(_)))
        };
        let fits = self.current_len + bytes.len() as u64 <= FILE_BYTES;
        let kind_ok = current_is_memory(self) == Some(memory || self.dir.is_none());
        if self.current.is_none() || !fits || !kind_ok {
            let id = u16::try_from(self.slots.len())
                .ok()
                .filter(|&id| id != u16::MAX)
                .ok_or_else(|| Error::Unavailable("too many head chunk files".into()))?;
            let (store, path) = match &self.dir {
                Some(dir) if !memory => {
                    let path = dir.join(format!("{id:08}"));
                    let file = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&path)
                        .map_err(Error::io("create file", &path))?;
                    (Store::File(Arc::new(file)), Some(path))
                }
                _ => (Store::Memory(Arc::default()), None),
            };
            self.slots.push(Some(Slot { store, path, max_t: i64::MIN }));
            self.current = Some(id);
            self.current_len = 0;
        }
        let id = self.current.unwrap_or_default();
        let Some(Some(slot)) = self.slots.get_mut(id as usize) else {
            return Err(Error::Unavailable("head chunk file vanished".into()));
        };
        let offset = self.current_len as u32;
        match &slot.store {
            Store::File(file) => {
                file.write_all_at(bytes, offset as u64).map_err(Error::io("write head chunk", "head_chunks"))?;
                self.bytes += bytes.len() as u64;
            }
            Store::Memory(buf) => {
                buf.write().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
                self.memory_bytes += bytes.len() as u64;
            }
        }
        slot.max_t = slot.max_t.max(max_t);
        self.current_len += bytes.len() as u64;
        Ok((id, offset))
    }

    /// A reader of the chunks stored so far, usable without the head.
    pub fn reader(&self) -> ChainReader {
        ChainReader { slots: self.slots.iter().map(|s| s.as_ref().map(|s| s.store.clone())).collect() }
    }

    /// Forgets the slots whose chunks all end before `boundary`, deleting their files; the
    /// next chunk then starts a new one.
    pub fn drop_before(&mut self, boundary: i64) {
        for (id, entry) in self.slots.iter_mut().enumerate() {
            if entry.as_ref().is_none_or(|s| s.max_t >= boundary) {
                continue;
            }
            let Some(slot) = entry.take() else { continue };
            if self.current == Some(id as u16) {
                self.current = None;
            }
            match slot.store {
                Store::File(file) => self.bytes = self.bytes.saturating_sub(file.metadata().map_or(0, |m| m.len())),
                Store::Memory(buf) => {
                    let len = buf.read().unwrap_or_else(|e| e.into_inner()).len() as u64;
                    self.memory_bytes = self.memory_bytes.saturating_sub(len);
                }
            }
            if let Some(path) = slot.path
                && let Err(e) = std::fs::remove_file(&path)
            {
                tracing::warn!(error = %e, path = %path.display(), "cannot remove a head chunk file");
            }
        }
    }
}

fn corrupt(reason: String) -> Error {
    Error::CorruptMetrics { path: PathBuf::from("head_chunks"), reason }
}

/// Reads chains of closed chunks, from the slots that existed when it was made.
#[derive(Clone)]
pub(crate) struct ChainReader {
    slots: Vec<Option<Store>>,
}

impl ChainReader {
    /// Reads one chunk (only its header when `header_only`); `None` when its slot is gone.
    fn read(&self, loc: ChunkLoc, header_only: bool) -> Result<Option<(ChunkHandle, ChunkLoc)>> {
        let Some(Some(store)) = self.slots.get(loc.slot as usize) else { return Ok(None) };
        let len = if header_only { HEADER } else { loc.len as usize };
        if len < HEADER || len > loc.len as usize {
            return Err(corrupt(format!("a chunk of {} bytes", loc.len)));
        }
        let mut bytes = vec![0u8; len];
        match store {
            Store::File(file) => file
                .read_exact_at(&mut bytes, u64::from(loc.offset))
                .map_err(Error::io("read head chunk", "head_chunks"))?,
            Store::Memory(buf) => {
                let buf = buf.read().unwrap_or_else(|e| e.into_inner());
                let at = loc.offset as usize;
                let src = buf.get(at..at + len).ok_or_else(|| corrupt("a chunk past the end of its slot".into()))?;
                bytes.copy_from_slice(src);
            }
        }
        let i64_at = |i: usize| i64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
        let prev = ChunkLoc::from_bytes(&bytes[..8]);
        let (min_t, max_t) = (i64_at(8), i64_at(16));
        let count = u32::from(u16::from_le_bytes([bytes[24], bytes[25]]));
        let data = bytes.split_off(HEADER).into_boxed_slice();
        Ok(Some((ChunkHandle { min_t, max_t, count, bytes: data }, prev)))
    }

    /// Calls `f` with each chunk of the chain ending at `newest`, newest first, stopping at the
    /// first chunk that ends before `stop_before` (chunks are in time order along a chain) or
    /// when `f` returns false. Only headers are read when `header_only`.
    pub fn walk(
        &self,
        newest: ChunkLoc,
        stop_before: i64,
        header_only: bool,
        mut f: impl FnMut(ChunkHandle) -> bool,
    ) -> Result<()> {
        let mut at = newest;
        while !at.is_none() {
            let Some((chunk, prev)) = self.read(at, header_only)? else { break };
            if chunk.max_t < stop_before || !f(chunk) {
                break;
            }
            at = prev;
        }
        Ok(())
    }

    /// The chunks of the chain ending at `newest` that overlap `[min_t, max_t]` and end at or
    /// after `stop_before`, oldest first.
    pub fn chunks(&self, newest: ChunkLoc, stop_before: i64, min_t: i64, max_t: i64) -> Result<Vec<ChunkHandle>> {
        let mut out = Vec::new();
        self.walk(newest, stop_before.max(min_t), false, |c| {
            if c.min_t <= max_t {
                out.push(c);
            }
            true
        })?;
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::chunk::ChunkWriter;

    fn chunk(from: i64, n: i64) -> Chunk {
        let mut w = ChunkWriter::new();
        for t in from..from + n {
            w.append(t, t as f64);
        }
        w.finish()
    }

    #[test]
    fn a_chain_reads_back_newest_first_and_stops_where_asked() {
        for dir in [Some(tempfile::tempdir().unwrap()), None] {
            let mut files = match &dir {
                Some(d) => ChunkFiles::open(d.path().join("hc")).unwrap(),
                None => ChunkFiles::in_memory(),
            };
            let mut newest = ChunkLoc::NONE;
            for i in 0..5 {
                newest = files.spill(&chunk(i * 10, 10), newest);
                assert!(!newest.is_none());
            }
            let reader = files.reader();
            let all = reader.chunks(newest, i64::MIN, i64::MIN, i64::MAX).unwrap();
            assert_eq!(all.iter().map(|c| c.min_t).collect::<Vec<_>>(), [0, 10, 20, 30, 40]);
            let mut samples = Vec::new();
            all.iter().for_each(|c| c.decode_into(&mut samples).unwrap());
            assert_eq!(samples.iter().map(|s| s.t).collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
            // Chunks ending before 20 are gone from the head; the query wants [25, 33].
            let some = reader.chunks(newest, 20, 25, 33).unwrap();
            assert_eq!(some.iter().map(|c| (c.min_t, c.max_t)).collect::<Vec<_>>(), [(20, 29), (30, 39)]);
            let mut headers = 0;
            reader
                .walk(newest, 20, true, |_| {
                    headers += 1;
                    true
                })
                .unwrap();
            assert_eq!(headers, 3);
        }
    }
}
