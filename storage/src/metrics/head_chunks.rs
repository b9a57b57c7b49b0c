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

/// Bytes per head chunk file before the next one starts.
const FILE_BYTES: u64 = 128 << 20;

/// Where a closed head chunk's bytes are.
#[derive(Debug, Clone)]
enum Loc {
    /// In memory (spilling failed, or no spill directory).
    Mem(Arc<[u8]>),
    /// In head chunk file `id`.
    Disk { id: u32, file: Arc<File>, offset: u64, len: u32 },
}

/// A closed head chunk: its time range and count, and its bytes in memory or in a file.
#[derive(Debug, Clone)]
pub(crate) struct ChunkHandle {
    pub min_t: i64,
    pub max_t: i64,
    pub count: u32,
    loc: Loc,
}

impl ChunkHandle {
    /// A chunk kept in memory.
    pub fn memory(chunk: Chunk) -> ChunkHandle {
        ChunkHandle { min_t: chunk.min_t, max_t: chunk.max_t, count: chunk.count, loc: Loc::Mem(chunk.bytes.into()) }
    }

    /// Appends the chunk's samples to `out`.
    pub fn decode_into(&self, out: &mut Vec<Sample>) -> Result<()> {
        match &self.loc {
            Loc::Mem(bytes) => chunk::decode_into(bytes, self.count, out),
            Loc::Disk { file, offset, len, .. } => {
                let mut bytes = vec![0u8; *len as usize];
                file.read_exact_at(&mut bytes, *offset).map_err(Error::io("read head chunk", "head_chunks"))?;
                chunk::decode_into(&bytes, self.count, out);
            }
        }
        Ok(())
    }

    /// Bytes of memory the chunk holds.
    pub fn heap_bytes(&self) -> usize {
        match &self.loc {
            Loc::Mem(bytes) => bytes.len() + 16,
            Loc::Disk { .. } => 0,
        }
    }

    /// The head chunk file holding it, if any.
    fn file_id(&self) -> Option<u32> {
        match self.loc {
            Loc::Disk { id, .. } => Some(id),
            Loc::Mem(_) => None,
        }
    }
}

struct Slot {
    file: Arc<File>,
    path: PathBuf,
    live: u32,
}

/// The head chunk files.
pub(crate) struct ChunkFiles {
    dir: PathBuf,
    slots: Vec<Option<Slot>>,
    current: Option<u32>,
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
        Ok(ChunkFiles { dir, slots: Vec::new(), current: None, current_len: 0, bytes: 0 })
    }

    /// Bytes in live head chunk files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Spills a closed chunk; keeps it in memory if the write fails.
    pub fn spill(&mut self, chunk: Chunk) -> ChunkHandle {
        match self.write(&chunk.bytes) {
            Ok((id, file, offset)) => ChunkHandle {
                min_t: chunk.min_t,
                max_t: chunk.max_t,
                count: chunk.count,
                loc: Loc::Disk { id, file, offset, len: chunk.bytes.len() as u32 },
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot spill a head chunk to disk; keeping it in memory");
                ChunkHandle::memory(chunk)
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(u32, Arc<File>, u64)> {
        if self.current.is_none() || self.current_len + bytes.len() as u64 > FILE_BYTES {
            let id = self.slots.len() as u32;
            let path = self.dir.join(format!("{id:08}"));
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(Error::io("create file", &path))?;
            let file = Arc::new(file);
            self.slots.push(Some(Slot { file, path, live: 0 }));
            if let Some(old) = self.current.replace(id) {
                self.remove_if_unused(old);
            }
            self.current_len = 0;
        }
        let id = self.current.unwrap_or_default();
        let Some(Some(slot)) = self.slots.get_mut(id as usize) else {
            return Err(Error::Unavailable("head chunk file vanished".into()));
        };
        let offset = self.current_len;
        slot.file.write_all_at(bytes, offset).map_err(Error::io("write head chunk", &slot.path))?;
        slot.live += 1;
        self.current_len += bytes.len() as u64;
        self.bytes += bytes.len() as u64;
        Ok((id, slot.file.clone(), offset))
    }

    /// Forgets a chunk that left the head; deletes its file once nothing lives in it.
    pub fn release(&mut self, chunk: &ChunkHandle) {
        let Some(id) = chunk.file_id() else { return };
        if let Some(Some(slot)) = self.slots.get_mut(id as usize) {
            slot.live = slot.live.saturating_sub(1);
            if let Loc::Disk { len, .. } = &chunk.loc {
                self.bytes = self.bytes.saturating_sub(*len as u64);
            }
        }
        self.remove_if_unused(id);
    }

    fn remove_if_unused(&mut self, id: u32) {
        if self.current == Some(id) {
            return;
        }
        let Some(entry) = self.slots.get_mut(id as usize) else { return };
        if entry.as_ref().is_some_and(|s| s.live == 0)
            && let Some(slot) = entry.take()
            && let Err(e) = std::fs::remove_file(&slot.path)
        {
            tracing::warn!(error = %e, path = %slot.path.display(), "cannot remove a head chunk file");
        }
    }
}
