//! Damaged data is moved aside, not fatal: a block or index that fails its checksum or does not
//! decode when its store opens goes to `<store>/quarantine/`, is logged once with what was
//! wrong, and the store opens without it. It is kept there, not deleted, for inspection.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::error;

use crate::{Error, Result};

/// Whether `e` says the data itself is damaged (as opposed to the disk or the process failing,
/// which must stop the store rather than hide data).
pub(crate) fn is_damage(e: &Error) -> bool {
    matches!(e, Error::CorruptBlock { .. } | Error::CorruptMetrics { .. } | Error::Arrow(_))
}

/// Moves `item` (a file or folder inside `store`) into `store/quarantine/`; returns where.
pub(crate) fn quarantine(store: &Path, item: &Path, why: &Error) -> Result<PathBuf> {
    let dir = store.join("quarantine");
    std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let relative = item.strip_prefix(store).unwrap_or(item).to_string_lossy().replace(['/', '\\'], "_");
    let at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let to = dir.join(format!("{relative}.{at}"));
    std::fs::rename(item, &to).map_err(Error::io("move to quarantine", item))?;
    error!(from = %item.display(), to = %to.display(), error = %why, "damaged data moved to quarantine; the store opens without it");
    Ok(to)
}
