//! Closed head chunks, spilled to files so that memory holds only each series' open chunk, as
//! Prometheus does with its memory-mapped `chunks_head`.
//!
//! The files are a cache, not a source of truth: the WAL holds every sample of the head, so the
//! directory is emptied at startup and rebuilt by replay. A file is deleted once no head chunk
//! lives in it; readers that still hold it (a query in flight) keep reading the open file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::chunk::{self, Chunk};
use crate::{Error, Result, Sample};

/// Bytes per head chunk file before the next one starts (offsets in a file fit in 32 bits).
const FILE_BYTES: u64 = 128 << 20;

/// Where a closed head chunk's bytes are. Sixteen bytes: a head holds several per series.
#[derive(Debug, Clone)]
enum Loc {
    /// In memory (spilling failed, no spill directory, or a copy of an open chunk).
    Mem(Arc<Box<[u8]>>),
    /// At `offset` in a head chunk file.
    Disk { file: Arc<File>, offset: u32, len: u32 },
}

/// A closed head chunk: its time range and count, and its bytes in memory or in a file.
#[derive(Debug, Clone)]
pub(crate) struct ChunkHandle {
    pub min_t: i64,
    pub count: u32,
    loc: Loc,
}

impl ChunkHandle {
    /// A chunk kept in memory.
    pub fn memory(chunk: Chunk) -> ChunkHandle {
        ChunkHandle { min_t: chunk.min_t, count: chunk.count, loc: Loc::Mem(Arc::new(chunk.bytes)) }
    }

    /// Appends the chunk's samples to `out`.
    pub fn decode_into(&self, out: &mut Vec<Sample>) -> Result<()> {
        match &self.loc {
            Loc::Mem(bytes) => chunk::decode_into(bytes, self.count, out),
            Loc::Disk { file, offset, len } => {
                let mut bytes = vec![0u8; *len as usize];
                file.read_exact_at(&mut bytes, *offset as u64).map_err(Error::io("read head chunk", "head_chunks"))?;
                chunk::decode_into(&bytes, self.count, out);
            }
        }
        Ok(())
    }
}

/// A closed chunk as the head stores it, in 24 bytes: its time range, count and where its
/// bytes are in the head chunk files. [`ChunkFiles::handle`] turns it into a [`ChunkHandle`]
/// that reads without the head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredChunk {
    pub min_t: i64,
    /// `max_t - min_t`: a chunk never spans a block range, which is far shorter than 49 days.
    span: u32,
    offset: u32,
    len: u32,
    slot: u16,
    count: u16,
}

impl StoredChunk {
    /// Timestamp of the last sample.
    pub fn max_t(&self) -> i64 {
        self.min_t + i64::from(self.span)
    }
}

/// Where stored chunks live: a file, or memory when a file cannot be written (or the head has
/// no directory).
enum Store {
    File { file: Arc<File>, path: PathBuf },
    Memory(Vec<u8>),
}

struct Slot {
    store: Store,
    live: u32,
}

/// Most bytes in one slot: offsets fit in 32 bits.
const SLOT_BYTES: u64 = FILE_BYTES;

/// The head chunk files.
pub(crate) struct ChunkFiles {
    dir: Option<PathBuf>,
    slots: Vec<Option<Slot>>,
    current: Option<u16>,
    current_len: u64,
    bytes: u64,
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
        ChunkFiles { dir: None, slots: Vec::new(), current: None, current_len: 0, bytes: 0 }
    }

    /// Bytes in live head chunk files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Stores a closed chunk: in the current file, or in memory when that fails.
    pub fn spill(&mut self, chunk: &Chunk) -> StoredChunk {
        let placed = match self.place(&chunk.bytes, false) {
            Ok(placed) => Ok(placed),
            Err(e) => {
                if self.dir.is_some() {
                    tracing::warn!(error = %e, "cannot spill a head chunk to disk; keeping it in memory");
                }
                self.place(&chunk.bytes, true)
            }
        };
        // Writing to memory cannot fail short of running out of slots (8 TiB of chunks).
        let (slot, offset) = placed.unwrap_or((u16::MAX, 0));
        StoredChunk {
            min_t: chunk.min_t,
            span: u32::try_from(chunk.max_t - chunk.min_t).unwrap_or(u32::MAX),
            offset,
            len: chunk.bytes.len() as u32,
            slot,
            count: chunk.count as u16,
        }
    }

    /// Appends `bytes` to the current slot, starting a new one when full, of the other kind or
    /// none. Returns the slot and offset.
    fn place(&mut self, bytes: &[u8], memory: bool) -> Result<(u16, u32)> {
        let current_is_memory = |files: &ChunkFiles| {
            files
                .current
                .and_then(|id| files.slots.get(id as usize)?.as_ref())
                .map(|s| matches!(s.store, Store::Memory(_)))
        };
        let fits = self.current_len + bytes.len() as u64 <= SLOT_BYTES;
        let kind_ok = current_is_memory(self) == Some(memory || self.dir.is_none());
        if self.current.is_none() || !fits || !kind_ok {
            let id =
                u16::try_from(self.slots.len()).map_err(|_| Error::Unavailable("too many head chunk files".into()))?;
            let store = match &self.dir {
                Some(dir) if !memory => {
                    let path = dir.join(format!("{id:08}"));
                    let file = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&path)
                        .map_err(Error::io("create file", &path))?;
                    Store::File { file: Arc::new(file), path }
                }
                _ => Store::Memory(Vec::new()),
            };
            self.slots.push(Some(Slot { store, live: 0 }));
            if let Some(old) = self.current.replace(id) {
                self.remove_if_unused(old);
            }
            self.current_len = 0;
        }
        let id = self.current.unwrap_or_default();
        let Some(Some(slot)) = self.slots.get_mut(id as usize) else {
            return Err(Error::Unavailable("head chunk file vanished".into()));
        };
        let offset = self.current_len as u32;
        match &mut slot.store {
            Store::File { file, path } => {
                file.write_all_at(bytes, offset as u64).map_err(Error::io("write head chunk", &*path))?;
                self.bytes += bytes.len() as u64;
            }
            Store::Memory(buf) => buf.extend_from_slice(bytes),
        }
        slot.live += 1;
        self.current_len += bytes.len() as u64;
        Ok((id, offset))
    }

    /// A handle that reads the chunk without the head.
    pub fn handle(&self, c: &StoredChunk) -> ChunkHandle {
        let loc = match self.slots.get(c.slot as usize).and_then(Option::as_ref).map(|s| &s.store) {
            Some(Store::File { file, .. }) => Loc::Disk { file: file.clone(), offset: c.offset, len: c.len },
            Some(Store::Memory(buf)) => {
                let bytes = buf.get(c.offset as usize..c.offset as usize + c.len as usize).unwrap_or_default();
                Loc::Mem(Arc::new(bytes.into()))
            }
            None => Loc::Mem(Arc::new(Box::default())),
        };
        ChunkHandle { min_t: c.min_t, count: u32::from(c.count), loc }
    }

    /// Bytes of memory a stored chunk holds.
    pub fn heap_bytes(&self, c: &StoredChunk) -> usize {
        match self.slots.get(c.slot as usize).and_then(Option::as_ref).map(|s| &s.store) {
            Some(Store::Memory(_)) => c.len as usize,
            _ => 0,
        }
    }

    /// Forgets a chunk that left the head; deletes its file once nothing lives in it.
    pub fn release(&mut self, c: &StoredChunk) {
        if let Some(Some(slot)) = self.slots.get_mut(c.slot as usize) {
            slot.live = slot.live.saturating_sub(1);
            if matches!(slot.store, Store::File { .. }) {
                self.bytes = self.bytes.saturating_sub(c.len as u64);
            }
        }
        self.remove_if_unused(c.slot);
    }

    fn remove_if_unused(&mut self, id: u16) {
        if self.current == Some(id) {
            return;
        }
        let Some(entry) = self.slots.get_mut(id as usize) else { return };
        if entry.as_ref().is_some_and(|s| s.live == 0)
            && let Some(slot) = entry.take()
            && let Store::File { path, .. } = slot.store
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::warn!(error = %e, path = %path.display(), "cannot remove a head chunk file");
        }
    }
}
