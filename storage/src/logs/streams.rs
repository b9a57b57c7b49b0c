//! The stream table: every stream's id, tenant and labels. Ids are a stable hash of tenant and
//! labels, so the documents in the partitions name a stream by id alone; the table is kept in
//! `streams.jsonl` (one JSON object per line, appended when a stream is first seen, synced
//! before each commit of the partitions) and rebuilt from the WAL for streams not written yet.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::{Error, Labels, Result, Tenant};

/// A stream: who it belongs to and its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The stream id.
    pub id: u64,
    /// Its tenant.
    pub tenant: Tenant,
    /// Its labels.
    pub labels: Labels,
}

pub(crate) struct StreamTable {
    path: PathBuf,
    by_id: HashMap<u64, StreamInfo>,
    file: BufWriter<File>,
    unsynced: bool,
}

impl StreamTable {
    pub fn open(dir: &Path) -> Result<StreamTable> {
        let path = dir.join("streams.jsonl");
        let mut by_id = HashMap::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<StreamInfo>(&line) {
                    Ok(info) => {
                        by_id.insert(info.id, info);
                    }
                    // A torn last line after a crash: the WAL brings the stream back.
                    Err(e) => warn!(error = %e, "skipping an unreadable line of the stream table"),
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(Error::io("opening", &path))?;
        Ok(StreamTable { path, by_id, file: BufWriter::new(file), unsynced: false })
    }

    /// The id of a stream, added to the table if new.
    pub fn intern(&mut self, tenant: &Tenant, labels: &Labels) -> Result<u64> {
        let id = stream_id(tenant, labels);
        if let Some(known) = self.by_id.get(&id) {
            if known.tenant != *tenant || known.labels != *labels {
                warn!(id, "stream id collision: two label sets hash alike; the entries share one stream");
            }
            return Ok(id);
        }
        let info = StreamInfo { id, tenant: tenant.clone(), labels: labels.clone() };
        let mut line = serde_json::to_vec(&info).map_err(|e| Error::Index(e.to_string()))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(Error::io("writing", &self.path))?;
        self.unsynced = true;
        self.by_id.insert(id, info);
        Ok(id)
    }

    /// Makes every added stream durable.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file.flush().map_err(Error::io("writing", &self.path))?;
            self.file.get_ref().sync_data().map_err(Error::io("syncing", &self.path))?;
            self.unsynced = false;
        }
        Ok(())
    }

    pub fn get(&self, id: u64) -> Option<&StreamInfo> {
        self.by_id.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &StreamInfo> {
        self.by_id.values()
    }
}

/// FNV-1a over the tenant and the labels, with separators that cannot occur inside them.
pub fn stream_id(tenant: &Tenant, labels: &Labels) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(tenant.as_str().as_bytes());
    eat(&[0xff]);
    for l in labels.iter() {
        eat(l.name.as_bytes());
        eat(&[0xfe]);
        eat(l.value.as_bytes());
        eat(&[0xff]);
    }
    h
}
