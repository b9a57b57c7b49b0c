use std::path::PathBuf;

/// Everything that can go wrong in the storage crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tenant id broke the naming rules.
    #[error("invalid tenant id {0:?}: use 1-150 characters from A-Z a-z 0-9 ! - _ . * ' ( )")]
    InvalidTenant(String),
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A WAL record could not be encoded or decoded.
    #[error("wal record codec: {0}")]
    Codec(#[from] postcard::Error),
    /// A WAL segment does not start with a header this version understands.
    #[error("wal segment {path}: {reason}")]
    BadSegment {
        /// The segment file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A span block or the span store's checkpoint cannot be read.
    #[error("span store {path}: {reason}")]
    CorruptBlock {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A metrics block, the head snapshot or the metrics checkpoint cannot be read.
    #[error("metrics store {path}: {reason}")]
    CorruptMetrics {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A caller passed something the store cannot accept (a bad regular expression, a range).
    #[error("{0}")]
    InvalidInput(String),
    /// Arrow could not write or read a block.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A record is larger than the WAL accepts.
    #[error("wal record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A log partition's tantivy index failed.
    #[error("log index: {0}")]
    Index(String),
    /// A lock was poisoned by a panic in another thread.
    #[error("a store lock was poisoned")]
    Poisoned,
    /// The WAL is closed (shutting down) or failed earlier and takes no more writes.
    #[error("wal is not accepting writes: {0}")]
    Unavailable(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

/// Result with the storage crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
