//! LogQL per-line pipeline stages (parsers, formatters, label filters) with Grafana Loki 3 semantics.

// The full API stays, with the helpers its own tests use; the engine uses part of it.
#![cfg_attr(not(test), allow(dead_code))]

mod decimal;
mod decolorize;
mod error;
mod filter;
mod format;
mod json;
mod jsonscan;
mod labels;
mod logfmt;
mod pattern;
mod regexp;
mod template;
mod template_funcs;
mod text;
mod unpack;

#[cfg(test)]
mod tests;

// Go's `strconv`/`time` parsing, shared with the template engine.
use crate::gotemplate::values;

pub use decolorize::decolorize;
pub use filter::{CmpOp, Conversion, LabelFilter, unwrap_sample};
pub use format::{LabelFormat, LabelSource, LineFormat};
pub use json::JsonParser;
pub use labels::{LabelSelector, LabelsBuilder, MatchOp, Matcher};
pub use logfmt::LogfmtParser;
pub use pattern::PatternParser;
pub use regexp::RegexpParser;
pub use unpack::Unpack;
pub use values::{go_parse_bytes, go_parse_duration};
