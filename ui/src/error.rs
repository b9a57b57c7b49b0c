use std::path::PathBuf;

/// Everything that can go wrong in the UI crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// JSON text could not be read as a dashboard (syntax, a wrong type, an unknown field).
    #[error("invalid dashboard JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A dashboard breaks a rule of the model; the message starts with the field's path, such as
    /// `rows[0].panels[2].type: unknown panel type "pie"`.
    #[error("{0}")]
    Invalid(String),
    /// A dashboard's JSON is larger than the limit.
    #[error("dashboard JSON is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No dashboard has this uid.
    #[error("dashboard {uid:?} not found")]
    NotFound {
        /// The uid asked for.
        uid: String,
    },
    /// A save started from an older version than the one stored.
    #[error("dashboard {uid:?} was changed by someone else (version {current}, yours {yours}); reload it")]
    Conflict {
        /// The dashboard.
        uid: String,
        /// The version stored now.
        current: u64,
        /// The version the save started from.
        yours: u64,
    },
    /// A delete of a dashboard that only exists built in or in a provisioned file.
    #[error("dashboard {uid:?} is provisioned from a file; it cannot be deleted here")]
    Provisioned {
        /// The dashboard.
        uid: String,
    },
    /// JSON given to the Grafana import is not a Grafana dashboard.
    #[error("not a Grafana dashboard: {0}")]
    NotGrafana(String),
    /// A dashboard compiled into the binary does not load (a bug caught by the tests).
    #[error("builtin dashboard {file}: {message}")]
    Builtin {
        /// Its file name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A background task for the dashboard store failed.
    #[error("dashboard store task failed: {0}")]
    Task(String),
}

/// The UI crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
