//! The scrape module's errors: one for a scraped body that does not parse, one for a
//! configuration that does not load.

/// A scraped body that is not valid in the format its content type names. The scrape that
/// produced it fails as a whole, as in Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line of the body where the problem is.
    pub line: usize,
    /// What is wrong, naming what was expected and what was found.
    pub message: String,
}

/// A `scrape_configs` (or `relabel_configs`) document that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse or has the wrong shape (an unknown key, a wrong type, a bad
    /// duration); the message names the key and its position.
    #[error("{0}")]
    Yaml(String),
    /// The document parses but a value is not allowed (for example a timeout longer than its
    /// interval, or two jobs with the same name).
    #[error("{0}")]
    Invalid(String),
}
