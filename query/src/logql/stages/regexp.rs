//! `| regexp` parser stage, with Go RE2 syntax translated by `gotemplate::goregex`.

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

// The translation is tested with the stage.
use crate::gotemplate::goregex;
#[cfg(test)]
pub use crate::gotemplate::goregex::translate_go_regex;

use super::error::StageError;
use super::labels::{LabelsBuilder, is_valid_label_name, sanitize_label_key};
use super::text::go_lossy;

/// Compiles a Go RE2 pattern for matching `&str` values.
pub fn compile_go_regex(src: &str) -> Result<Regex, StageError> {
    goregex::compile_go_regex(src).map_err(StageError::new)
}

/// Compiles a Go RE2 pattern for matching raw log line bytes.
pub fn compile_go_regex_bytes(src: &str) -> Result<BytesRegex, StageError> {
    goregex::compile_go_regex_bytes(src).map_err(StageError::new)
}

/// The `| regexp "<re>"` stage: every named capture group becomes a parsed label.
#[derive(Debug, Clone)]
pub struct RegexpParser {
    re: BytesRegex,
    names: Vec<(usize, String)>,
    locs: regex::bytes::CaptureLocations,
}

impl RegexpParser {
    /// Compiles the expression; it needs at least one named group with a valid, unique label name.
    pub fn new(pattern: &str) -> Result<Self, StageError> {
        let re = compile_go_regex_bytes(pattern)?;
        if re.captures_len() <= 1 {
            return Err(StageError::new("at least one named capture must be supplied"));
        }
        let mut names: Vec<(usize, String)> = Vec::new();
        for (i, n) in re.capture_names().enumerate() {
            let Some(n) = n else { continue };
            if !is_valid_label_name(n) {
                return Err(StageError::new(format!("invalid extracted label name '{n}'")));
            }
            if names.iter().any(|(_, m)| m == n) {
                return Err(StageError::new(format!("duplicate extracted label name '{n}'")));
            }
            names.push((i, n.to_owned()));
        }
        if names.is_empty() {
            return Err(StageError::new("at least one named capture must be supplied"));
        }
        let locs = re.capture_locations();
        Ok(Self { re, names, locs })
    }

    /// Extracts the named groups of the first match (unmatched optional groups give empty labels).
    pub fn process(&mut self, line: &[u8], lbs: &mut LabelsBuilder) {
        if self.re.captures_read(&mut self.locs, line).is_none() {
            return;
        }
        for (idx, name) in &self.names {
            let key = sanitize_label_key(name, true);
            if key.is_empty() {
                continue;
            }
            let key = lbs.parsed_name(&key);
            let value = match self.locs.get(*idx) {
                Some((s, e)) => go_lossy(&line[s..e]),
                None => "".into(),
            };
            lbs.set_parsed(&key, &value);
        }
    }
}
