//! Small filesystem helpers for files that must be on disk before anyone is told so.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::Error;

/// Creates `path` with `bytes` and syncs it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = File::create(path).map_err(Error::io("create file", path))?;
    file.write_all(bytes).map_err(Error::io("write file", path))?;
    file.sync_all().map_err(Error::io("sync file", path))
}

/// Writes `bytes` to `path` atomically: a synced temporary file renamed over it, then the
/// directory synced.
pub(crate) fn replace_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Syncs a directory so that renames and new files in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("sync directory", dir))
}
