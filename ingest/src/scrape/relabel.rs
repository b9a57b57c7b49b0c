//! Prometheus's `relabel_config`: rules that rewrite, keep or drop label sets, for targets
//! (`relabel_configs`) and scraped samples (`metric_relabel_configs`).
//!
//! Matches `model/relabel/relabel.go`: defaults (`separator: ;`, `regex: (.*)` anchored at both
//! ends, `replacement: $1`, `action: replace`), the validation messages, Go's template
//! expansion (`$1x` names group `1x`, `$$` is a dollar), the md5-based `hashmod`, and a
//! `replace` whose expanded target is not a valid label name doing nothing.
//!
//! Differences: regexes run on Rust's `regex` crate, whose syntax is RE2's like Go's, but whose
//! `\w`, `\d`, `\s` and `\b` are Unicode-aware where Go's are ASCII-only. Label names are
//! checked with Prometheus 2's rule `[a-zA-Z_][a-zA-Z0-9_]*`, not Prometheus 3's UTF-8 names.

use std::fmt;

use lookout_storage::Labels;
use serde::{Deserialize, Deserializer};

use super::error::ConfigError;

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when `regex` matches the joined source values.
    #[default]
    Replace,
    /// Drops the label set unless `regex` matches the joined source values.
    Keep,
    /// Drops the label set when `regex` matches the joined source values.
    Drop,
    /// Drops the label set unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the label set when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to the md5 of the joined source values modulo `modulus`.
    HashMod,
    /// Copies every label whose name matches `regex` to the name `replacement` expands to.
    LabelMap,
    /// Removes every label whose name matches `regex`.
    LabelDrop,
    /// Removes every label whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the joined source values in lower case.
    Lowercase,
    /// Sets `target_label` to the joined source values in upper case.
    Uppercase,
}

impl Action {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name, case-insensitively as Prometheus does.
    pub fn parse(name: &str) -> Result<Action, ConfigError> {
        let all = [
            Action::Replace,
            Action::Keep,
            Action::Drop,
            Action::KeepEqual,
            Action::DropEqual,
            Action::HashMod,
            Action::LabelMap,
            Action::LabelDrop,
            Action::LabelKeep,
            Action::Lowercase,
            Action::Uppercase,
        ];
        let lower = name.to_lowercase();
        all.into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| ConfigError::Invalid(format!("unknown relabel action {name:?}")))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        let name = String::deserialize(d)?;
        Action::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// A regular expression anchored at both ends (`^(?:…)$`), as relabelling uses them.
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    anchored: regex::Regex,
}

impl Regex {
    /// Compiles `source`, anchored.
    pub fn new(source: &str) -> Result<Regex, ConfigError> {
        let anchored = regex::Regex::new(&format!("^(?:{source})$"))
            .map_err(|e| ConfigError::Invalid(format!("invalid regex {source:?}: {e}")))?;
        Ok(Regex { source: source.to_owned(), anchored })
    }

    /// The expression as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.anchored.is_match(text)
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Regex, D::Error> {
        let source = String::deserialize(d)?;
        Regex::new(&source).map_err(serde::de::Error::custom)
    }
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One `relabel_config` rule, validated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RelabelConfigYaml")]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` and matched against `regex`.
    pub source_labels: Vec<String>,
    /// Put between the source values. Default `;`.
    pub separator: String,
    /// Matched against the joined values (or label names for the `label*` actions), anchored.
    /// Default `(.*)`.
    pub regex: Regex,
    /// For `hashmod`: the modulus.
    pub modulus: u64,
    /// The label written (for `replace` it may contain `$` references to groups).
    pub target_label: String,
    /// The value written by `replace`, or the new name for `labelmap`. Default `$1`.
    pub replacement: String,
    /// What the rule does. Default `replace`.
    pub action: Action,
}

/// The rule as written: `None` for a key left out, so that defaults and "was this set"
/// checks follow Prometheus.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelabelConfigYaml {
    source_labels: Option<Vec<String>>,
    separator: Option<String>,
    regex: Option<Regex>,
    modulus: Option<u64>,
    target_label: Option<String>,
    replacement: Option<String>,
    action: Option<Action>,
}

impl TryFrom<RelabelConfigYaml> for RelabelConfig {
    type Error = ConfigError;

    fn try_from(raw: RelabelConfigYaml) -> Result<RelabelConfig, ConfigError> {
        let regex_given = raw.regex.is_some();
        let source_labels_given = raw.source_labels.is_some();
        let config = RelabelConfig {
            source_labels: raw.source_labels.unwrap_or_default(),
            separator: raw.separator.unwrap_or_else(|| DEFAULT_SEPARATOR.to_owned()),
            regex: match raw.regex {
                Some(regex) => regex,
                None => Regex::new(DEFAULT_REGEX)?,
            },
            modulus: raw.modulus.unwrap_or(0),
            target_label: raw.target_label.unwrap_or_default(),
            replacement: raw.replacement.unwrap_or_else(|| DEFAULT_REPLACEMENT.to_owned()),
            action: raw.action.unwrap_or_default(),
        };
        config.check(regex_given, source_labels_given)?;
        Ok(config)
    }
}

impl RelabelConfig {
    /// A rule with every field at its default (`replace`, `(.*)`, `;`, `$1`).
    pub fn new(action: Action) -> RelabelConfig {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_owned(),
            regex: Regex::new(DEFAULT_REGEX).unwrap_or_else(|_| unreachable!("the default regex compiles")),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            action,
        }
    }

    /// Checks the rule as Prometheus does when it loads one (same messages).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check(self.regex.as_str() != DEFAULT_REGEX, !self.source_labels.is_empty())
    }

    fn check(&self, regex_given: bool, source_labels_given: bool) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        let action = self.action;
        let target = &self.target_label;
        if self.modulus == 0 && action == Action::HashMod {
            return invalid("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let writes_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if writes_target && target.is_empty() {
            return invalid(format!("relabel configuration for {action} action requires 'target_label' value"));
        }
        let bad_target = match action {
            Action::Replace if target.contains('$') => !is_template(target),
            Action::Replace
            | Action::HashMod
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual => !is_label_name(target),
            _ => false,
        };
        if bad_target {
            return invalid(format!("{target:?} is invalid 'target_label' for {action} action"));
        }
        let case_or_equal =
            matches!(action, Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual);
        if case_or_equal && self.replacement != DEFAULT_REPLACEMENT {
            return invalid(format!("'replacement' can not be set for {action} action"));
        }
        if action == Action::LabelMap && !is_template(&self.replacement) {
            return invalid(format!("{:?} is invalid 'replacement' for {action} action", self.replacement));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (regex_given || self.modulus != 0 || self.separator != DEFAULT_SEPARATOR)
        {
            return invalid(format!(
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (source_labels_given
                || !target.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return invalid(format!("{action} action requires only 'regex', and no other fields"));
        }
        Ok(())
    }

    /// Applies the rule; `false` means the label set is dropped.
    fn apply(&self, labels: &mut Labels) -> bool {
        let joined = || {
            let values: Vec<&str> = self.source_labels.iter().map(|n| labels.get(n).unwrap_or("")).collect();
            values.join(&self.separator)
        };
        match self.action {
            Action::Drop => return !self.regex.is_match(&joined()),
            Action::Keep => return self.regex.is_match(&joined()),
            Action::DropEqual => return labels.get(&self.target_label).unwrap_or("") != joined(),
            Action::KeepEqual => return labels.get(&self.target_label).unwrap_or("") == joined(),
            Action::Replace => {
                let value = joined();
                let Some(caps) = self.regex.anchored.captures(&value) else {
                    return true;
                };
                let target = expand(&self.target_label, &caps);
                if !is_label_name(&target) {
                    return true;
                }
                let replaced = expand(&self.replacement, &caps);
                labels.set(&target, replaced);
            }
            Action::Lowercase => {
                let value = joined().to_lowercase();
                labels.set(&self.target_label, value);
            }
            Action::Uppercase => {
                let value = joined().to_uppercase();
                labels.set(&self.target_label, value);
            }
            Action::HashMod => {
                let digest = md5::compute(joined().as_bytes());
                // Prometheus uses the last 8 bytes, big-endian, "to give the same result as
                // earlier versions".
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&digest.0[8..]);
                let hash = u64::from_be_bytes(tail) % self.modulus.max(1);
                labels.set(&self.target_label, hash.to_string());
            }
            Action::LabelMap => {
                let snapshot: Vec<(String, String)> =
                    labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                for (name, value) in snapshot {
                    if let Some(caps) = self.regex.anchored.captures(&name) {
                        let new_name = expand(&self.replacement, &caps);
                        if !new_name.is_empty() {
                            labels.set(&new_name, value);
                        }
                    }
                }
            }
            Action::LabelDrop | Action::LabelKeep => {
                let keep_matching = self.action == Action::LabelKeep;
                let doomed: Vec<String> = labels
                    .iter()
                    .filter(|l| self.regex.is_match(&l.name) != keep_matching)
                    .map(|l| l.name.clone())
                    .collect();
                for name in doomed {
                    labels.remove(&name);
                }
            }
        }
        true
    }
}

/// Applies `configs` in order; `None` if one of them drops the label set.
pub fn process(labels: Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut labels = labels;
    for config in configs {
        if !config.apply(&mut labels) {
            return None;
        }
    }
    Some(labels)
}

/// Whether `name` is a label name by Prometheus 2's rule, `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Whether `s` is a label name that may contain `$name` and `${name}` references, by
/// Prometheus's `relabelTarget` pattern: it does not start with a digit, every `$` starts a
/// reference, and everything else is a word character.
fn is_template(s: &str) -> bool {
    let b = s.as_bytes();
    if b.first().is_none_or(|c| c.is_ascii_digit()) {
        return false;
    }
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            if !word(&b[i]) {
                return false;
            }
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'{') {
            let len = b[i + 1..].iter().take_while(|c| word(c)).count();
            if len == 0 || b.get(i + 1 + len) != Some(&b'}') {
                return false;
            }
            i += len + 2;
        } else {
            let len = b[i..].iter().take_while(|c| word(c)).count();
            if len == 0 {
                return false;
            }
            i += len;
        }
    }
    true
}

/// Go's `Regexp.Expand`: `$name` and `${name}` are replaced by the named or numbered group
/// (empty if there is no such group or it did not take part), where a bare name is the longest
/// run of letters, digits and `_` (so `$1x` is group `1x`); `$$` is `$`; any other `$` is kept.
fn expand(template: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = reference(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(n) => caps.get(n),
            None => caps.name(name),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

/// The reference at the start of `s` (just after a `$`): its name and the text after it.
fn reference(s: &str) -> Option<(&str, &str)> {
    let is_name_char = |c: char| c.is_alphabetic() || c.is_numeric() || c == '_';
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len: usize = body.chars().take_while(|&c| is_name_char(c)).map(char::len_utf8).sum();
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        return after.strip_prefix('}').map(|after| (name, after));
    }
    Some((name, after))
}

/// A group number as Go reads one: ASCII digits, no leading zero, below 10^8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|c| c.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) || name.len() > 8 {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests;
