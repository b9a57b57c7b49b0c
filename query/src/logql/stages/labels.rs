//! Per-entry label state (stream labels, structured metadata, parsed labels and error state),
//! label matchers and Loki's label-name sanitization rules.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;

use super::error::StageError;
use super::regexp::compile_go_regex;
use super::text::go_trim_space;

/// Name of the label carrying the pipeline error kind.
pub const ERROR_LABEL: &str = "__error__";
/// Name of the label carrying the pipeline error details.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// Name of the label kept by Loki to preserve errors during hinted metric queries.
pub const PRESERVE_ERROR_LABEL: &str = "__preserve_error__";
/// Suffix appended to a parsed label whose name collides with a stream label.
pub const DUPLICATE_SUFFIX: &str = "_extracted";
/// Error kind set by the json and unpack parsers.
pub const ERR_JSON: &str = "JSONParserErr";
/// Error kind set by the logfmt parser.
pub const ERR_LOGFMT: &str = "LogfmtParserErr";
/// Error kind set when `line_format` / `label_format` templates fail.
pub const ERR_TEMPLATE_FORMAT: &str = "TemplateFormatErr";
/// Error kind set when a label filter cannot convert a value.
pub const ERR_LABEL_FILTER: &str = "LabelFilterErr";
/// Error kind set when `unwrap` cannot convert a value.
pub const ERR_SAMPLE_EXTRACTION: &str = "SampleExtractionErr";

/// The three label categories Loki reports with `categorize-labels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelCategory {
    /// Labels of the log stream.
    Stream,
    /// Structured metadata attached to the entry.
    StructuredMetadata,
    /// Labels extracted or written by pipeline stages.
    Parsed,
}

impl LabelCategory {
    fn index(self) -> usize {
        match self {
            LabelCategory::Stream => 0,
            LabelCategory::StructuredMetadata => 1,
            LabelCategory::Parsed => 2,
        }
    }

    fn from_index(i: usize) -> Self {
        match i {
            0 => LabelCategory::Stream,
            1 => LabelCategory::StructuredMetadata,
            _ => LabelCategory::Parsed,
        }
    }
}

/// Label pairs split per category, as Loki returns them with `categorize-labels`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategorizedLabels {
    /// Stream labels (sorted by name).
    pub stream: Vec<(String, String)>,
    /// Structured metadata (sorted by name).
    pub structured_metadata: Vec<(String, String)>,
    /// Parsed labels including `__error__`/`__error_details__` (sorted by name).
    pub parsed: Vec<(String, String)>,
}

/// Above this many entries, [`Slots`] maintains a hash index (keeps huge lines linear).
const INDEX_THRESHOLD: usize = 32;

/// Growable list of name/value pairs that keeps string allocations across `clear` calls.
#[derive(Debug, Clone, Default)]
struct Slots {
    items: Vec<(String, String)>,
    len: usize,
    index: HashMap<String, usize>,
}

impl Slots {
    fn clear(&mut self) {
        self.len = 0;
        self.index.clear();
    }

    fn as_slice(&self) -> &[(String, String)] {
        &self.items[..self.len]
    }

    fn position(&self, name: &str) -> Option<usize> {
        if self.len > INDEX_THRESHOLD {
            return self.index.get(name).copied();
        }
        self.as_slice().iter().position(|(n, _)| n == name)
    }

    fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.items[i].1.as_str())
    }

    fn push(&mut self, name: &str, value: &str) {
        if let Some(slot) = self.items.get_mut(self.len) {
            slot.0.clear();
            slot.0.push_str(name);
            slot.1.clear();
            slot.1.push_str(value);
        } else {
            self.items.push((name.to_owned(), value.to_owned()));
        }
        self.len += 1;
        if self.len == INDEX_THRESHOLD + 1 {
            for (i, (n, _)) in self.items[..self.len].iter().enumerate() {
                self.index.entry(n.clone()).or_insert(i);
            }
        } else if self.len > INDEX_THRESHOLD + 1 {
            self.index.entry(name.to_owned()).or_insert(self.len - 1);
        }
    }

    fn remove(&mut self, name: &str) {
        if let Some(i) = self.position(name) {
            let last = self.len - 1;
            self.items.swap(i, last);
            self.len -= 1;
            if self.len >= INDEX_THRESHOLD {
                self.index.remove(name);
                if i != last {
                    self.index.insert(self.items[i].0.clone(), i);
                }
            }
            if self.len == INDEX_THRESHOLD {
                self.index.clear();
            }
        }
    }
}

/// Labels of one log entry, mutated by the pipeline stages (Loki's `LabelsBuilder`).
///
/// Build it once per stream with [`LabelsBuilder::new`], then call [`LabelsBuilder::reset`] before each
/// line: allocations are reused between lines.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    base: Vec<(String, String)>,
    add: [Slots; 3],
    del: Slots,
    err: String,
    err_details: String,
}

impl LabelsBuilder {
    /// Creates a builder for the given stream labels.
    pub fn new<I, K, V>(stream: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut b = Self::default();
        b.set_stream(stream);
        b
    }

    /// Replaces the stream labels (and resets the per-line state).
    pub fn set_stream<I, K, V>(&mut self, stream: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.base.clear();
        self.base.extend(stream.into_iter().map(|(k, v)| (k.into(), v.into())));
        self.base.sort_by(|a, b| a.0.cmp(&b.0));
        self.reset();
    }

    /// Clears everything but the stream labels; call before processing each line.
    pub fn reset(&mut self) {
        for a in &mut self.add {
            a.clear();
        }
        self.del.clear();
        self.err.clear();
        self.err_details.clear();
    }

    /// Adds one structured metadata pair as Loki does (`_extracted` suffix on stream collisions).
    pub fn add_structured_metadata(&mut self, name: &str, value: &str) {
        if self.base_has(name) {
            let renamed = format!("{name}{DUPLICATE_SUFFIX}");
            self.add_metadata_named(&renamed, value);
        } else {
            self.add_metadata_named(name, value);
        }
    }

    fn add_metadata_named(&mut self, name: &str, value: &str) {
        match name {
            ERROR_LABEL => self.set_err(value),
            ERROR_DETAILS_LABEL => self.set_err_details(value),
            _ => self.set(LabelCategory::StructuredMetadata, name, value),
        }
    }

    /// Tells whether the stream labels contain `name` (the test Loki uses for the `_extracted` rule).
    pub fn base_has(&self, name: &str) -> bool {
        self.base.binary_search_by(|(n, _)| n.as_str().cmp(name)).is_ok()
    }

    /// Returns the name a parser must use for an extracted key: `name_extracted` on stream collisions.
    pub fn parsed_name<'n>(&self, name: &'n str) -> Cow<'n, str> {
        if self.base_has(name) { Cow::Owned(format!("{name}{DUPLICATE_SUFFIX}")) } else { Cow::Borrowed(name) }
    }

    /// Returns the current value of a label (parsed > structured metadata > stream), ignoring `__error__`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_with_category(name).map(|(v, _)| v)
    }

    /// Returns the current value and category of a label.
    pub fn get_with_category(&self, name: &str) -> Option<(&str, LabelCategory)> {
        for (i, slots) in self.add.iter().enumerate() {
            if let Some(v) = slots.get(name) {
                return Some((v, LabelCategory::from_index(i)));
            }
        }
        if self.del.contains(name) {
            return None;
        }
        self.base_get(name).map(|v| (v, LabelCategory::Stream))
    }

    fn base_get(&self, name: &str) -> Option<&str> {
        self.base.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| self.base[i].1.as_str())
    }

    /// Sets a label in a category with Loki's precedence rules (parsed > metadata > stream).
    pub fn set(&mut self, category: LabelCategory, name: &str, value: &str) {
        match category {
            LabelCategory::Parsed => {
                self.add[1].remove(name);
                self.add[0].remove(name);
            }
            LabelCategory::StructuredMetadata => {
                self.add[0].remove(name);
                if self.add[2].contains(name) {
                    return;
                }
            }
            LabelCategory::Stream => {
                if self.add[1].contains(name) || self.add[2].contains(name) {
                    return;
                }
            }
        }
        let slots = &mut self.add[category.index()];
        if let Some(i) = slots.position(name) {
            let v = &mut slots.items[i].1;
            v.clear();
            v.push_str(value);
        } else {
            slots.push(name, value);
        }
    }

    /// Sets a parsed label (the category every stage writes to).
    pub fn set_parsed(&mut self, name: &str, value: &str) {
        self.set(LabelCategory::Parsed, name, value);
    }

    /// Deletes a label from every category.
    pub fn del(&mut self, name: &str) {
        for slots in &mut self.add {
            slots.remove(name);
        }
        self.del.push(name, "");
    }

    /// Renames `src` to `dst` like `label_format dst=src`; returns false when `src` does not exist.
    pub fn rename(&mut self, src: &str, dst: &str) -> bool {
        let Some(v) = self.get(src).map(str::to_owned) else {
            return false;
        };
        self.set_parsed(dst, &v);
        self.del(src);
        true
    }

    /// Applies Loki's `drop` stage: names or matchers; `__error__`/`__error_details__` reset the error.
    pub fn drop_labels(&mut self, selectors: &[LabelSelector]) {
        for sel in selectors {
            match sel {
                LabelSelector::Matcher(m) => {
                    let name = m.name.as_str();
                    if name == ERROR_LABEL {
                        if m.matches(&self.err) {
                            self.err.clear();
                        }
                    } else if name == ERROR_DETAILS_LABEL {
                        if m.matches(&self.err_details) {
                            self.err_details.clear();
                        }
                    } else if m.matches(self.get(name).unwrap_or("")) {
                        self.del(name);
                    }
                }
                LabelSelector::Name(name) => {
                    let name = name.as_str();
                    if name == ERROR_LABEL {
                        self.err.clear();
                    } else if name == ERROR_DETAILS_LABEL {
                        self.err_details.clear();
                    } else if self.get(name).is_some() {
                        self.del(name);
                    }
                }
            }
        }
    }

    /// Applies Loki's `keep` stage: deletes every label not selected (error labels are always kept).
    pub fn keep_labels(&mut self, selectors: &[LabelSelector]) {
        if selectors.is_empty() {
            return;
        }
        let mut to_delete = Vec::new();
        self.visit(|name, value| {
            if matches!(name, ERROR_LABEL | ERROR_DETAILS_LABEL | PRESERVE_ERROR_LABEL) {
                return;
            }
            let keep = selectors.iter().any(|s| match s {
                LabelSelector::Matcher(m) => m.name == name && m.matches(value),
                LabelSelector::Name(n) => n == name,
            });
            if !keep {
                to_delete.push(name.to_owned());
            }
        });
        for name in to_delete {
            self.del(&name);
        }
    }

    /// Sets the `__error__` kind.
    pub fn set_err(&mut self, kind: &str) {
        self.err.clear();
        self.err.push_str(kind);
    }

    /// Returns the `__error__` kind, if any.
    pub fn err(&self) -> Option<&str> {
        if self.err.is_empty() { None } else { Some(&self.err) }
    }

    /// Tells whether `__error__` is set.
    pub fn has_err(&self) -> bool {
        !self.err.is_empty()
    }

    /// Sets `__error_details__`.
    pub fn set_err_details(&mut self, details: &str) {
        self.err_details.clear();
        self.err_details.push_str(details);
    }

    /// Returns `__error_details__`, if any.
    pub fn err_details(&self) -> Option<&str> {
        if self.err_details.is_empty() { None } else { Some(&self.err_details) }
    }

    /// Calls `f` for every final label (unsorted), including `__error__` and `__error_details__`.
    pub fn visit(&self, mut f: impl FnMut(&str, &str)) {
        let (stream_add, meta, parsed) = (&self.add[0], &self.add[1], &self.add[2]);
        for (name, value) in &self.base {
            if self.del.contains(name) || meta.contains(name) || parsed.contains(name) {
                continue;
            }
            f(name, stream_add.get(name).unwrap_or(value));
        }
        for (name, value) in meta.as_slice() {
            if !parsed.contains(name) {
                f(name, value);
            }
        }
        for (name, value) in parsed.as_slice() {
            f(name, value);
        }
        if !self.err.is_empty() {
            f(ERROR_LABEL, &self.err);
        }
        if !self.err_details.is_empty() {
            f(ERROR_DETAILS_LABEL, &self.err_details);
        }
    }

    /// Writes the final labels sorted by name into `out`, reusing its allocations.
    pub fn labels_into(&self, out: &mut Vec<(String, String)>) {
        let mut n = 0;
        self.visit(|name, value| {
            if let Some(slot) = out.get_mut(n) {
                slot.0.clear();
                slot.0.push_str(name);
                slot.1.clear();
                slot.1.push_str(value);
            } else {
                out.push((name.to_owned(), value.to_owned()));
            }
            n += 1;
        });
        out.truncate(n);
        out.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Returns the final labels sorted by name.
    pub fn labels(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.labels_into(&mut out);
        out
    }

    /// Returns the final labels split per category (errors are reported as parsed labels).
    pub fn categorized(&self) -> CategorizedLabels {
        let mut res = CategorizedLabels::default();
        for (name, value) in self.labels() {
            if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL || self.add[2].contains(&name) {
                res.parsed.push((name, value));
            } else if self.add[1].contains(&name) {
                res.structured_metadata.push((name, value));
            } else {
                res.stream.push((name, value));
            }
        }
        res
    }
}

/// Comparison operator of a label matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// A label matcher (`name op "value"`) with a compiled, fully anchored regex for `=~`/`!~`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Right-hand side value (regex source for regex operators).
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; regex operators compile `^(?s:value)$` with Go RE2 semantics.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Self, StageError> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(compile_go_regex(&format!("^(?s:{value})$"))?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self { name: name.into(), op, value, re })
    }

    /// Tells whether `v` satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// A `keep`/`drop` selector: a bare label name or a matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSelector {
    /// `name`: the label whatever its value.
    Name(String),
    /// `name="value"` (any operator): the label when its value matches.
    Matcher(Matcher),
}

/// Loki's `sanitizeLabelKey`: trims spaces, prefixes `_` before a leading digit (when `is_prefix`),
/// replaces every character outside `[a-zA-Z0-9_]` with `_`.
pub fn sanitize_label_key(key: &str, is_prefix: bool) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    sanitize_label_key_into(&mut out, key, is_prefix);
    out
}

/// Appends `sanitize_label_key(key, is_prefix)` to `out` (allocation-free variant).
pub fn sanitize_label_key_into(out: &mut String, key: &str, is_prefix: bool) {
    let key = go_trim_space(key);
    if is_prefix && key.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    out.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
}

/// Loki's `appendSanitized` used for nested json keys: appends the sanitized key to `to`.
pub fn append_sanitized(to: &mut String, key: &str) {
    let key = go_trim_space(key);
    if key.is_empty() {
        return;
    }
    if to.is_empty() && key.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        to.push('_');
    }
    to.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
}

/// Prometheus legacy label name check: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_'),
        _ => false,
    }
}
