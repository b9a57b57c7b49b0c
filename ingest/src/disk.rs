//! Intake stops before the data disk is full (`storage.min_free_bytes`): while the filesystem
//! holding the data directory has less free space than that, every write answers 503 /
//! `UNAVAILABLE` with a retry hint, and queries go on. Space is looked at at most once a second,
//! when a write arrives; intake resumes by itself once space is freed.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{IntGauge, Registry};

use crate::Error;

/// How often, at most, free space is measured.
const RECHECK: Duration = Duration::from_secs(1);

/// Watches the free space under the data directory.
pub struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
    last: Mutex<Option<(Instant, u64)>>,
    free: IntGauge,
}

impl DiskGuard {
    /// A guard refusing writes while `dir`'s filesystem has under `min_free` bytes available
    /// (0: never), with the gauge `lookout_storage_disk_available_bytes`.
    pub fn new(dir: PathBuf, min_free: u64, registry: &Registry) -> prometheus::Result<DiskGuard> {
        let free = IntGauge::new(
            "lookout_storage_disk_available_bytes",
            "Bytes available to Lookout on the filesystem of its data directory, when last measured.",
        )?;
        registry.register(Box::new(free.clone()))?;
        Ok(DiskGuard { dir, min_free, last: Mutex::new(None), free })
    }

    /// Whether a write may go ahead.
    pub fn check(&self, retry_after: Duration) -> Result<(), Error> {
        if self.min_free == 0 {
            return Ok(());
        }
        let available = {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match *last {
                Some((at, available)) if at.elapsed() < RECHECK => available,
                _ => {
                    // A filesystem that cannot be asked is not called full.
                    let available = fs4::available_space(&self.dir).unwrap_or(u64::MAX);
                    self.free.set(i64::try_from(available).unwrap_or(i64::MAX));
                    *last = Some((Instant::now(), available));
                    available
                }
            }
        };
        if available >= self.min_free {
            return Ok(());
        }
        Err(Error::Unavailable {
            reason: format!(
                "the data disk is nearly full: {available} bytes available under {}, below storage.min_free_bytes ({}); intake resumes once space is freed",
                self.dir.display(),
                self.min_free
            ),
            retry_after,
        })
    }
}
