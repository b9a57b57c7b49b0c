//! `| regexp` parser stage and translation of Go RE2 syntax to the `regex` crate.

use regex::bytes::Regex as BytesRegex;
use regex::{Regex, RegexBuilder};

use super::error::StageError;
use super::labels::{LabelsBuilder, is_valid_label_name, sanitize_label_key};
use super::text::go_lossy;

const REGEX_SIZE_LIMIT: usize = 8 << 20;

/// Rewrites Go-specific escapes (`\d`, `\w`, `\s`, `\b` are ASCII-only in Go, `\Q..\E`, literal `[` in
/// classes) so that the `regex` crate matches exactly what Go's `regexp` matches.
pub fn translate_go_regex(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        let first_in_class = class_start;
        class_start = false;
        match c {
            '\\' if i + 1 < chars.len() => {
                let e = chars[i + 1];
                i += 2;
                if e == 'Q' {
                    let mut lit = String::new();
                    while i < chars.len() && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E')) {
                        lit.push(chars[i]);
                        i += 1;
                    }
                    if i < chars.len() {
                        i += 2;
                    }
                    out.push_str(&regex::escape(&lit));
                    continue;
                }
                let t = translate_escape(e, in_class);
                if t.is_empty() {
                    out.push('\\');
                    out.push(e);
                } else {
                    out.push_str(t);
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                class_start = true;
                continue;
            }
            '[' if in_class => {
                if chars.get(i + 1) == Some(&':') {
                    // POSIX class `[:name:]`, identical in both engines.
                    let rest: String = chars[i..].iter().collect();
                    if let Some(end) = rest.find(":]") {
                        out.push_str(&rest[..end + 2]);
                        i += rest[..end + 2].chars().count();
                        continue;
                    }
                }
                out.push_str("\\[");
            }
            ']' if in_class && !first_in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn translate_escape(e: char, in_class: bool) -> &'static str {
    match (e, in_class) {
        ('d', false) => "[0-9]",
        ('D', false) => "[^0-9]",
        ('w', false) => "[0-9A-Za-z_]",
        ('W', false) => "[^0-9A-Za-z_]",
        ('s', false) => "[\\t\\n\\x0C\\r ]",
        ('S', false) => "[^\\t\\n\\x0C\\r ]",
        ('b', false) => "(?-u:\\b)",
        ('d', true) => "[:digit:]",
        ('D', true) => "[:^digit:]",
        ('w', true) => "[:word:]",
        ('W', true) => "[:^word:]",
        ('s', true) => "\\t\\n\\x0C\\r ",
        ('S', true) => "[:^space:]",
        _ => "",
    }
}

fn regex_error(e: regex::Error) -> StageError {
    StageError::new(format!("error parsing regexp: {e}"))
}

/// Compiles a Go RE2 pattern for matching `&str` values.
pub fn compile_go_regex(src: &str) -> Result<Regex, StageError> {
    RegexBuilder::new(&translate_go_regex(src)).size_limit(REGEX_SIZE_LIMIT).build().map_err(regex_error)
}

/// Compiles a Go RE2 pattern for matching raw log line bytes.
pub fn compile_go_regex_bytes(src: &str) -> Result<BytesRegex, StageError> {
    regex::bytes::RegexBuilder::new(&translate_go_regex(src)).size_limit(REGEX_SIZE_LIMIT).build().map_err(regex_error)
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
