//! Pulling metrics the way Prometheus does (work in progress).

mod error;
mod parse;

pub use error::{ConfigError, ParseError};
pub use parse::{ACCEPT_HEADER, Exposition, Format, ParseOptions, ScrapedSample, parse, parse_with};
