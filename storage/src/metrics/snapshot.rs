//! The head snapshot: every series the head knows (reference, tenant, labels), family
//! metadata, the time before which samples are in blocks, and the WAL position replay must
//! start from. Samples are not in it: they come back from the WAL.
//!
//! File `head.snapshot`: magic `LKMSNP\0\x01`, CRC-32 of the rest, postcard([`Snapshot`]).
//! Replaced atomically (temporary file, sync, rename).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::head::Head;
use crate::fs::replace_synced;
use crate::{Error, Labels, MetricMetadata, Result, Tenant, WalPosition};

const MAGIC: &[u8; 8] = b"LKMSNP\0\x01";
const FILE: &str = "head.snapshot";

#[derive(Debug, Serialize, Deserialize)]
struct SnapSeries {
    series: u64,
    tenant: String,
    labels: Labels,
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    replay_from: Option<WalPosition>,
    min_valid_t: i64,
    next_ref: u64,
    series: Vec<SnapSeries>,
    metadata: Vec<(String, MetricMetadata)>,
}

/// Encodes the head's snapshot; also returns where replay must start.
pub(crate) fn encode(head: &Head) -> Result<(Vec<u8>, Option<WalPosition>)> {
    let replay_from = head.replay_from().or(head.applied_through);
    let series = head
        .series
        .iter()
        .enumerate()
        .filter_map(|(id, s)| {
            let s = s.as_ref()?;
            Some(SnapSeries {
                series: id as u64,
                tenant: head.tenants[s.tenant as usize].name.as_str().to_string(),
                labels: head.symbols.labels(&s.labels),
            })
        })
        .collect();
    let metadata = head
        .tenants
        .iter()
        .flat_map(|t| t.metadata.values().map(|m| (t.name.as_str().to_string(), m.clone())))
        .collect();
    let snap =
        Snapshot { replay_from, min_valid_t: head.min_valid_t, next_ref: head.series.len() as u64, series, metadata };
    let body = postcard::to_stdvec(&snap)?;
    let mut bytes = Vec::with_capacity(body.len() + 12);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    Ok((bytes, replay_from))
}

/// Writes the snapshot file.
pub(crate) fn store(dir: &Path, bytes: &[u8]) -> Result<()> {
    replace_synced(&dir.join(FILE), bytes)
}

/// Loads the snapshot into an empty head; returns where replay must start (`None`: from the
/// beginning, also when there is no snapshot).
pub(crate) fn load(dir: &Path, head: &mut Head) -> Result<Option<WalPosition>> {
    let path = dir.join(FILE);
    let raw = match std::fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    let corrupt = |reason: String| Error::CorruptMetrics { path: path.clone(), reason };
    if raw.len() < 12 || &raw[..8] != MAGIC {
        return Err(corrupt("not a head snapshot".into()));
    }
    let crc = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]);
    if crc32fast::hash(&raw[12..]) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    let snap: Snapshot = postcard::from_bytes(&raw[12..]).map_err(|e| corrupt(e.to_string()))?;
    for s in snap.series {
        let tenant = Tenant::new(&s.tenant).map_err(|e| corrupt(e.to_string()))?;
        let Some(id) = super::head::series_id(s.series) else { continue };
        let (id, _) = head.get_or_create(&tenant, &s.labels, Some(id));
        if let Some(series) = head.series.get_mut(id as usize).and_then(Option::as_mut) {
            series.logged = true;
        }
    }
    let next = usize::try_from(snap.next_ref).unwrap_or(usize::MAX).min(u32::MAX as usize);
    if head.series.len() < next {
        head.series.resize_with(next, || None);
    }
    for (tenant, m) in snap.metadata {
        let tenant = Tenant::new(&tenant).map_err(|e| corrupt(e.to_string()))?;
        head.set_metadata(&tenant, m);
    }
    head.min_valid_t = snap.min_valid_t;
    Ok(snap.replay_from)
}
