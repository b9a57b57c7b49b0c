//! The write-ahead log: every accepted batch lands here before its sender gets success.
//!
//! Records are framed as `len u32 | crc32 u32 | postcard(TenantPayload)` inside numbered
//! segment files (format: `storage/docs/wal.md`). One writer thread takes records from a
//! bounded queue, writes whatever has queued up in one go, fsyncs once for the whole group
//! (group commit) and only then completes each appender's future.

mod reader;
mod writer;

pub use reader::{ReplayStats, WalReader};
pub use writer::{Apply, FsyncPolicy, Wal, WalMetrics, WalOptions};

use std::path::{Path, PathBuf};

use crate::{Error, Result, TenantPayload};

/// Where a record starts: segment index and byte offset. Positions order like the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct WalPosition {
    /// Segment index (the file name's number).
    pub segment: u64,
    /// Byte offset of the record's frame in the segment.
    pub offset: u64,
}

/// What a store still needs from the WAL to rebuild itself after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalNeed {
    /// Every record (it has no checkpoint yet).
    Everything,
    /// Records from this position on (segments before its segment are not needed).
    From(WalPosition),
    /// Nothing: everything it was given is on disk in its own files.
    Nothing,
}

impl WalNeed {
    /// The first segment index still needed (`u64::MAX` for none).
    pub fn first_segment(self) -> u64 {
        match self {
            WalNeed::Everything => 0,
            WalNeed::From(p) => p.segment,
            WalNeed::Nothing => u64::MAX,
        }
    }
}

/// First bytes of every segment: magic and format version.
pub(crate) const MAGIC: &[u8; 6] = b"LKWAL\0";
/// Version of the segment and record format described in `storage/docs/wal.md`.
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Segment header length: magic + version.
pub(crate) const HEADER_LEN: usize = 8;
/// Record frame header length: length + checksum.
pub(crate) const FRAME_LEN: usize = 8;

/// Encodes one record with its frame, ready for [`Wal::append`].
///
/// This is CPU work proportional to the batch: callers on an async runtime run it off the reactor.
pub fn encode_record(record: &TenantPayload) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; FRAME_LEN];
    buf = postcard::to_extend(record, buf)?;
    let payload_len = buf.len() - FRAME_LEN;
    let len = u32::try_from(payload_len)
        .map_err(|_| Error::RecordTooLarge { size: payload_len, limit: u32::MAX as usize })?;
    let crc = crc32fast::hash(&buf[FRAME_LEN..]);
    buf[0..4].copy_from_slice(&len.to_le_bytes());
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

pub(crate) fn segment_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..6].copy_from_slice(MAGIC);
    h[6..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:010}.wal"))
}

/// Segment files in `dir`, sorted by index.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read directory", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(|n| n.strip_suffix(".wal")).and_then(|n| n.parse().ok()) else {
            continue;
        };
        out.push((index, entry.path()));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
