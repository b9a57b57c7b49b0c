//! Why a LogQL query failed, each kind with the status Loki answers.

/// A LogQL failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogqlError {
    /// The query or a parameter is malformed, or a limit was hit (400).
    #[error("{0}")]
    BadRequest(String),
    /// A metric query's pipeline left an `__error__` label on a sample (400).
    #[error(
        "pipeline error: '{kind}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    )]
    Pipeline {
        /// The error label's value.
        kind: String,
        /// The failing series' labels, `{a="b"}`.
        series: String,
    },
    /// The log store failed (500).
    #[error("{0}")]
    Store(String),
    /// The query ran past its timeout (504).
    #[error(
        "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed"
    )]
    Timeout,
    /// The query was canceled (499).
    #[error("the request was cancelled by the client")]
    Canceled,
}

impl LogqlError {
    /// The HTTP status Loki answers with.
    pub fn status(&self) -> u16 {
        match self {
            LogqlError::BadRequest(_) | LogqlError::Pipeline { .. } => 400,
            LogqlError::Store(_) => 500,
            LogqlError::Timeout => 504,
            LogqlError::Canceled => 499,
        }
    }
}
