//! The head snapshot: every series the head knows (reference, tenant, labels), family
//! metadata, the time before which samples are in blocks, and the WAL position replay must
//! start from. Samples are not in it: they come back from the WAL.
//!
//! File `head.snapshot`: magic `LKMSNP\0\x01`, CRC-32 of the rest, postcard of the fields of
//! [`Snapshot`] (written straight from the head by [`SnapshotOut`]).
//! Replaced atomically (temporary file, sync, rename).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::head::Head;
use crate::fs::replace_synced;
use crate::{Error, Label, Labels, MetricMetadata, Result, Tenant, WalPosition};

const MAGIC: &[u8; 8] = b"LKMSNP\0\x01";
const FILE: &str = "head.snapshot";

/// A series as read back: reference, tenant number, label pairs as symbol numbers.
type SnapSeries = (u64, u32, Vec<(u32, u32)>);

/// The snapshot as read back: label strings once, series as numbers into them.
#[derive(Debug, Deserialize)]
struct Snapshot {
    replay_from: Option<WalPosition>,
    min_valid_t: i64,
    next_ref: u64,
    symbols: Vec<String>,
    tenants: Vec<String>,
    series: Vec<SnapSeries>,
    metadata: Vec<(u32, MetricMetadata)>,
}

/// The snapshot as written: serialised straight from the head, so that writing it does not
/// copy every label set first.
struct SnapshotOut<'a> {
    head: &'a Head,
    replay_from: Option<WalPosition>,
}

/// A sequence of known length written from an iterator.
struct Seq<F>(usize, F);

impl<F, I, T> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0))?;
        for item in (self.1)() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

impl Serialize for SnapshotOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let head = self.head;
        let live = head.series.iter().filter(|s| s.is_some()).count();
        let metadata = head.tenants.iter().map(|t| t.metadata.len()).sum();
        let mut t = serializer.serialize_tuple(7)?;
        t.serialize_element(&self.replay_from)?;
        t.serialize_element(&head.min_valid_t)?;
        t.serialize_element(&(head.series.len() as u64))?;
        t.serialize_element(&Seq(head.symbols.len(), || head.symbols.strings()))?;
        t.serialize_element(&Seq(head.tenants.len(), || head.tenants.iter().map(|t| t.name.as_str())))?;
        t.serialize_element(&Seq(live, || {
            head.series
                .iter()
                .enumerate()
                .filter_map(|(id, s)| s.as_ref().map(|s| (id as u64, s.tenant, &s.labels[..])))
        }))?;
        t.serialize_element(&Seq(metadata, || {
            head.tenants.iter().enumerate().flat_map(|(i, t)| t.metadata.values().map(move |m| (i as u32, m)))
        }))?;
        t.end()
    }
}

/// Encodes the head's snapshot; also returns where replay must start.
pub(crate) fn encode(head: &Head) -> Result<(Vec<u8>, Option<WalPosition>)> {
    let replay_from = head.replay_from().or(head.applied_through);
    let mut bytes = Vec::with_capacity(12 + head.live_series * 48);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[0; 4]);
    let mut bytes = postcard::to_extend(&SnapshotOut { head, replay_from }, bytes)?;
    let crc = crc32fast::hash(&bytes[12..]);
    bytes[8..12].copy_from_slice(&crc.to_le_bytes());
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
    let tenants = snap
        .tenants
        .iter()
        .map(|t| Tenant::new(t).map_err(|e| corrupt(e.to_string())))
        .collect::<Result<Vec<Tenant>>>()?;
    let symbol = |i: u32| snap.symbols.get(i as usize).ok_or_else(|| corrupt("label string out of range".into()));
    for (series, tenant, pairs) in &snap.series {
        let tenant = tenants.get(*tenant as usize).ok_or_else(|| corrupt("tenant out of range".into()))?;
        let labels = pairs
            .iter()
            .map(|&(n, v)| Ok(Label::new(symbol(n)?.as_str(), symbol(v)?.as_str())))
            .collect::<Result<Vec<Label>>>()?;
        let Some(id) = super::head::series_id(*series) else { continue };
        let (id, _) = head.get_or_create(tenant, &Labels::new(labels), Some(id));
        if let Some(series) = head.series.get_mut(id as usize).and_then(Option::as_mut) {
            series.logged = true;
        }
    }
    let next = usize::try_from(snap.next_ref).unwrap_or(usize::MAX).min(u32::MAX as usize);
    if head.series.len() < next {
        head.series.resize_with(next, || None);
    }
    for (tenant, m) in snap.metadata {
        let tenant = tenants.get(tenant as usize).ok_or_else(|| corrupt("tenant out of range".into()))?;
        head.set_metadata(tenant, m);
    }
    head.min_valid_t = snap.min_valid_t;
    Ok(snap.replay_from)
}
