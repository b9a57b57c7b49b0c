//! Error type returned when building a stage from invalid parameters.

use std::fmt;

/// Error raised when a stage cannot be built (invalid regex, pattern, template, expression...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageError {
    message: String,
}

impl StageError {
    /// Creates an error carrying the given message (worded like Loki's).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StageError {}
