use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use tracing::warn;

use super::{FRAME_LEN, HEADER_LEN, MAGIC, WalPosition, list_segments};
use crate::{Error, Result, TenantPayload};

/// Largest record the reader believes; a bigger length field means a corrupt frame.
const MAX_RECORD: usize = 1 << 30;

/// What a replay found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayStats {
    /// Segment files read.
    pub segments: usize,
    /// Records decoded and handed on.
    pub records: u64,
    /// Bytes of good records.
    pub bytes: u64,
    /// Torn or corrupt tails found: segment, offset of the first bad record, what was wrong.
    pub damaged: Vec<(PathBuf, u64, String)>,
}

/// Reads the WAL directory from the oldest record to the newest.
#[derive(Debug)]
pub struct WalReader {
    dir: PathBuf,
}

enum Step {
    Record(TenantPayload, u64),
    End,
    Damaged(String),
}

impl WalReader {
    /// A reader over the segments in `dir` (a missing directory reads as empty).
    pub fn new(dir: impl Into<PathBuf>) -> WalReader {
        WalReader { dir: dir.into() }
    }

    /// Hands every good record to `each`, in order. A torn or corrupt record ends its segment;
    /// with `repair` the segment is truncated there (with a warning), so the damage is gone on
    /// the next start, and later segments are still read.
    pub fn replay(&self, repair: bool, mut each: impl FnMut(WalPosition, TenantPayload)) -> Result<ReplayStats> {
        let mut stats = ReplayStats::default();
        for (index, path) in list_segments(&self.dir)? {
            stats.segments += 1;
            let damage = read_segment(index, &path, &mut stats, &mut each)?;
            let Some((offset, reason)) = damage else {
                continue;
            };
            warn!(segment = %path.display(), offset, reason = %reason, repair, "wal segment has a torn or corrupt tail");
            if repair {
                truncate(&path, offset)?;
            }
            stats.damaged.push((path, offset, reason));
        }
        Ok(stats)
    }
}

/// Reads one segment; returns where and why it stopped early, if it did.
fn read_segment(
    index: u64,
    path: &Path,
    stats: &mut ReplayStats,
    each: &mut impl FnMut(WalPosition, TenantPayload),
) -> Result<Option<(u64, String)>> {
    let file = File::open(path).map_err(Error::io("open wal segment", path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut header = [0u8; HEADER_LEN];
    match read_full(&mut reader, &mut header).map_err(Error::io("read wal segment", path))? {
        0 => return Ok(None),
        n if n < HEADER_LEN => return Ok(Some((0, "torn segment header".into()))),
        _ => {}
    }
    if &header[..6] != MAGIC {
        return Ok(Some((0, "not a lookout wal segment (bad magic)".into())));
    }
    let version = u16::from_le_bytes([header[6], header[7]]);
    if version != super::FORMAT_VERSION {
        return Err(Error::BadSegment {
            path: path.into(),
            reason: format!("format version {version} is not supported"),
        });
    }
    let mut offset = HEADER_LEN as u64;
    let mut payload = Vec::new();
    loop {
        match next_record(&mut reader, &mut payload).map_err(Error::io("read wal segment", path))? {
            Step::End => return Ok(None),
            Step::Damaged(reason) => return Ok(Some((offset, reason))),
            Step::Record(record, len) => {
                each(WalPosition { segment: index, offset }, record);
                offset += len;
                stats.records += 1;
                stats.bytes += len;
            }
        }
    }
}

fn next_record(reader: &mut impl Read, payload: &mut Vec<u8>) -> std::io::Result<Step> {
    let mut frame = [0u8; FRAME_LEN];
    match read_full(reader, &mut frame)? {
        0 => return Ok(Step::End),
        n if n < FRAME_LEN => return Ok(Step::Damaged("torn record frame".into())),
        _ => {}
    }
    let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if len > MAX_RECORD {
        return Ok(Step::Damaged(format!("record length {len} is implausible")));
    }
    // Read as the bytes come, not into a buffer of the declared length: a damaged length field
    // may claim up to a gigabyte that the segment does not hold.
    payload.clear();
    payload.reserve(len.min(1 << 20));
    if (&mut *reader).take(len as u64).read_to_end(payload)? < len {
        return Ok(Step::Damaged("torn record".into()));
    }
    if crc32fast::hash(payload) != crc {
        return Ok(Step::Damaged("record checksum mismatch".into()));
    }
    match postcard::from_bytes::<TenantPayload>(payload) {
        Ok(record) => Ok(Step::Record(record, (FRAME_LEN + len) as u64)),
        Err(e) => Ok(Step::Damaged(format!("record does not decode: {e}"))),
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn truncate(path: &Path, offset: u64) -> Result<()> {
    let file = OpenOptions::new().write(true).open(path).map_err(Error::io("open wal segment", path))?;
    file.set_len(offset).map_err(Error::io("truncate wal segment", path))?;
    file.sync_all().map_err(Error::io("sync wal segment", path))
}
