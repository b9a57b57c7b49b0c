//! Rule files in Prometheus's format (`model/rulefmt`): parsing and validation, with the
//! messages `promtool check rules` prints.
//!
//! A file holds `groups`; each group a `name`, optional `interval`, `query_offset`, `limit`,
//! `labels`, and `rules`, each a recording rule (`record`) or an alerting rule (`alert`). One
//! key of our own: `source: logql` (or the file being in a `logs/` folder) makes a group's
//! expressions LogQL metric queries instead of PromQL.
//!
//! Unknown keys are errors unless `ignore_unknown_fields` is set, as with promtool's
//! `--ignore-unknown-fields`. YAML anchors, aliases and merge keys (`<<: *x`) work; only the
//! first YAML document of a file is read.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value as Yaml;

use lookout_query::promql::notation::parse_duration;

/// Which query language a group's expressions are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// PromQL over the metrics store.
    #[default]
    Promql,
    /// LogQL metric queries over the log store.
    Logql,
}

impl Source {
    /// The name used in rule files and the API (`promql` or `logql`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Promql => "promql",
            Source::Logql => "logql",
        }
    }
}

/// Which label and metric names are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// Any non-empty UTF-8 name (Prometheus 3's default).
    #[default]
    Utf8,
    /// `[a-zA-Z_][a-zA-Z0-9_]*` for labels, with `:` also allowed in metric names.
    Legacy,
}

/// How to read rule files.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Skip unknown keys instead of failing (`--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// Label and metric name rules.
    pub names: NameValidation,
    /// The language of groups that do not say (`logql` for files in a `logs/` folder).
    pub default_source: Source,
}

/// A rule group as written in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// The group's name, unique within its file.
    pub name: String,
    /// Evaluation interval (ms); `None` means the global one.
    pub interval: Option<i64>,
    /// How far back of the evaluation time the queries run (ms).
    pub query_offset: Option<i64>,
    /// Most series an alerting or recording rule may produce; 0 means no limit.
    pub limit: usize,
    /// Labels added to every rule's output.
    pub labels: BTreeMap<String, String>,
    /// The language of the expressions.
    pub source: Source,
    /// The rules, in evaluation order.
    pub rules: Vec<RuleSpec>,
}

/// Whether a rule records a series or raises an alert, and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    /// `record: <metric name>`.
    Record(String),
    /// `alert: <alert name>`.
    Alert(String),
}

/// A rule as written in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// Recording or alerting, with the name.
    pub kind: RuleKind,
    /// The query.
    pub expr: String,
    /// How long an alert stays pending before it fires (ms).
    pub for_ms: i64,
    /// How long a firing alert keeps firing after its condition clears (ms).
    pub keep_firing_for_ms: i64,
    /// Labels added to the output (alert labels may be templates).
    pub labels: BTreeMap<String, String>,
    /// Alert annotations (templates).
    pub annotations: BTreeMap<String, String>,
}

impl RuleSpec {
    /// The rule's name: the recorded metric or the alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Record(n) | RuleKind::Alert(n) => n,
        }
    }
}

/// Reads and validates one rule file. Errors are prefixed with the file's path, as
/// `promtool check rules` prints them. Files in a folder named `logs` default to LogQL.
pub fn parse_file(path: &Path, options: ParseOptions) -> Result<Vec<GroupSpec>, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let mut options = options;
    if path.parent().and_then(Path::file_name).is_some_and(|n| n == "logs") {
        options.default_source = Source::Logql;
    }
    parse(&text, options).map_err(|errs| errs.into_iter().map(|e| format!("{}: {e}", path.display())).collect())
}

/// Parses and validates rule-file text; every problem found is reported.
pub fn parse(text: &str, options: ParseOptions) -> Result<Vec<GroupSpec>, Vec<String>> {
    let mut errors = Vec::new();
    let document = first_document(text).map_err(|e| vec![e])?;
    let groups = read_groups(document, options, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    validate(&groups, options.names, &mut errors);
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}

/// The first YAML document, with merge keys applied; an empty file is an empty mapping.
fn first_document(text: &str) -> Result<Yaml, String> {
    use serde::Deserialize;
    let Some(document) = serde_yaml_ng::Deserializer::from_str(text).next() else {
        return Ok(Yaml::Null);
    };
    let mut value = Yaml::deserialize(document).map_err(|e| format!("yaml: {e}"))?;
    value.apply_merge().map_err(|e| format!("yaml: {e}"))?;
    Ok(value)
}

/// Keys each level of a rule file may hold.
const FILE_KEYS: &[&str] = &["groups"];
const GROUP_KEYS: &[&str] = &["name", "interval", "query_offset", "limit", "rules", "labels", "source"];
const RULE_KEYS: &[&str] = &["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"];

/// Reads the groups out of the document; shape errors (unknown keys, wrong types) go to `errors`.
fn read_groups(document: Yaml, options: ParseOptions, errors: &mut Vec<String>) -> Vec<GroupSpec> {
    let file = match document {
        Yaml::Null => return Vec::new(),
        Yaml::Mapping(m) => m,
        other => {
            errors
                .push(format!("yaml: unmarshal errors:\n  cannot unmarshal {} into rulefmt.RuleGroups", kind(&other)));
            return Vec::new();
        }
    };
    check_keys(&file, FILE_KEYS, "rulefmt.RuleGroups", options, errors);
    let groups = match file.get("groups") {
        None | Some(Yaml::Null) => return Vec::new(),
        Some(Yaml::Sequence(s)) => s,
        Some(other) => {
            errors
                .push(format!("yaml: unmarshal errors:\n  cannot unmarshal {} into []rulefmt.RuleGroup", kind(other)));
            return Vec::new();
        }
    };
    groups.iter().filter_map(|g| read_group(g, options, errors)).collect()
}

fn read_group(group: &Yaml, options: ParseOptions, errors: &mut Vec<String>) -> Option<GroupSpec> {
    let Some(map) = group.as_mapping() else {
        errors.push(format!("yaml: unmarshal errors:\n  cannot unmarshal {} into rulefmt.RuleGroup", kind(group)));
        return None;
    };
    check_keys(map, GROUP_KEYS, "rulefmt.RuleGroup", options, errors);
    let name = scalar(map.get("name"), "name", errors).unwrap_or_default();
    let source = match scalar(map.get("source"), "source", errors).as_deref() {
        None => options.default_source,
        Some("promql") => Source::Promql,
        Some("logql") => Source::Logql,
        Some(other) => {
            errors.push(format!("group {name:?}: unknown source {other:?}: must be promql or logql"));
            options.default_source
        }
    };
    let limit = match scalar(map.get("limit"), "limit", errors) {
        None => 0,
        Some(text) => text.parse::<i64>().map(|n| n.max(0) as usize).unwrap_or_else(|_| {
            errors.push(format!("yaml: unmarshal errors:\n  cannot unmarshal !!str `{text}` into int"));
            0
        }),
    };
    let rules = match map.get("rules") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Sequence(s)) => {
            s.iter().enumerate().filter_map(|(i, r)| read_rule(r, (&name, i), options, errors)).collect()
        }
        Some(other) => {
            errors.push(format!("yaml: unmarshal errors:\n  cannot unmarshal {} into []rulefmt.Rule", kind(other)));
            Vec::new()
        }
    };
    Some(GroupSpec {
        interval: duration(map.get("interval"), errors),
        query_offset: duration(map.get("query_offset"), errors),
        labels: string_map(map.get("labels"), errors),
        name,
        limit,
        source,
        rules,
    })
}

fn read_rule(rule: &Yaml, at: (&str, usize), options: ParseOptions, errors: &mut Vec<String>) -> Option<RuleSpec> {
    let Some(map) = rule.as_mapping() else {
        errors.push(format!("yaml: unmarshal errors:\n  cannot unmarshal {} into rulefmt.Rule", kind(rule)));
        return None;
    };
    check_keys(map, RULE_KEYS, "rulefmt.Rule", options, errors);
    let record = scalar(map.get("record"), "record", errors).unwrap_or_default();
    let alert = scalar(map.get("alert"), "alert", errors).unwrap_or_default();
    let problem = match (record.is_empty(), alert.is_empty()) {
        (false, false) => Some("only one of 'record' and 'alert' must be set"),
        (true, true) => Some("one of 'record' or 'alert' must be set"),
        _ => None,
    };
    if let Some(problem) = problem {
        let shown = if alert.is_empty() { &record } else { &alert };
        errors.push(format!("group {:?}, rule {}, {shown:?}: {problem}", at.0, at.1 + 1));
    }
    Some(RuleSpec {
        kind: if record.is_empty() { RuleKind::Alert(alert) } else { RuleKind::Record(record) },
        expr: scalar(map.get("expr"), "expr", errors).unwrap_or_default(),
        for_ms: duration(map.get("for"), errors).unwrap_or(0),
        keep_firing_for_ms: duration(map.get("keep_firing_for"), errors).unwrap_or(0),
        labels: string_map(map.get("labels"), errors),
        annotations: string_map(map.get("annotations"), errors),
    })
}

/// Unknown keys of a mapping, reported as yaml.v3's strict decoder does.
fn check_keys(
    map: &serde_yaml_ng::Mapping,
    known: &[&str],
    type_name: &str,
    options: ParseOptions,
    errors: &mut Vec<String>,
) {
    if options.ignore_unknown_fields {
        return;
    }
    for key in map.keys() {
        let name = key.as_str().map(str::to_string).unwrap_or_else(|| format!("{key:?}"));
        if !known.contains(&name.as_str()) {
            errors.push(format!("yaml: unmarshal errors:\n  field {name} not found in type {type_name}"));
        }
    }
}

/// A scalar as text (numbers and booleans as written); `None` when absent or null.
fn scalar(value: Option<&Yaml>, field: &str, errors: &mut Vec<String>) -> Option<String> {
    match value? {
        Yaml::Null => None,
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        other => {
            errors.push(format!("yaml: unmarshal errors:\n  cannot unmarshal {} into {field} (a string)", kind(other)));
            None
        }
    }
}

fn duration(value: Option<&Yaml>, errors: &mut Vec<String>) -> Option<i64> {
    let text = scalar(value, "duration", errors)?;
    match parse_duration(&text) {
        Ok(ms) => Some(ms),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

fn string_map(value: Option<&Yaml>, errors: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match value {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Mapping(m)) => {
            for (k, v) in m {
                let (Some(k), v) = (scalar(Some(k), "map key", errors), scalar(Some(v), "map value", errors)) else {
                    continue;
                };
                out.insert(k, v.unwrap_or_default());
            }
        }
        Some(other) => {
            errors.push(format!("yaml: unmarshal errors:\n  cannot unmarshal {} into map[string]string", kind(other)));
        }
    }
    out
}

/// yaml.v3's tag for a node kind, for messages.
fn kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "!!null",
        Yaml::Bool(_) => "!!bool",
        Yaml::Number(_) => "!!int",
        Yaml::String(_) => "!!str",
        Yaml::Sequence(_) => "!!seq",
        Yaml::Mapping(_) => "!!map",
        Yaml::Tagged(_) => "!!tagged",
    }
}

/// Checks what the YAML shape cannot: names, expressions, templates (Prometheus's
/// `RuleGroups.Validate`).
fn validate(groups: &[GroupSpec], names: NameValidation, errors: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    for group in groups {
        if group.name.is_empty() {
            errors.push("Groupname must not be empty".into());
        }
        if !seen.insert(group.name.as_str()) {
            errors.push(format!("groupname: \"{}\" is repeated in the same file", group.name));
        }
        check_labels(&group.labels, names, errors);
        for (i, rule) in group.rules.iter().enumerate() {
            let mut problems = Vec::new();
            validate_rule(rule, group.source, names, &mut problems);
            for problem in problems {
                errors.push(format!("group {:?}, rule {}, {:?}: {problem}", group.name, i + 1, rule.name()));
            }
        }
    }
}

fn validate_rule(rule: &RuleSpec, source: Source, names: NameValidation, problems: &mut Vec<String>) {
    if rule.expr.is_empty() {
        problems.push("field 'expr' must be set in rule".into());
    } else if let Err(e) = check_expr(&rule.expr, source) {
        problems.push(format!("could not parse expression: {e}"));
    }
    if let RuleKind::Record(record) = &rule.kind {
        if !rule.annotations.is_empty() {
            problems.push("invalid field 'annotations' in recording rule".into());
        }
        if rule.for_ms != 0 {
            problems.push("invalid field 'for' in recording rule".into());
        }
        if rule.keep_firing_for_ms != 0 {
            problems.push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !valid_metric_name(record, names) {
            problems.push(format!("invalid recording rule name: {record}"));
        }
        if record.contains(['{', '}']) {
            problems.push(format!("braces present in the recording rule name; should it be in expr?: {record}"));
        }
    }
    check_labels(&rule.labels, names, problems);
    for name in rule.annotations.keys() {
        if !valid_label_name(name, names) {
            problems.push(format!("invalid annotation name: {name}"));
        }
    }
    if let RuleKind::Alert(alert) = &rule.kind
        && !alert.is_empty()
    {
        for (what, map) in [("label", &rule.labels), ("annotation", &rule.annotations)] {
            for (k, text) in map {
                if let Err(e) = lookout_query::gotemplate::prometheus::check_alert_template(alert, text) {
                    problems.push(format!("{what} {k:?}: {e}"));
                }
            }
        }
    }
}

/// Parses an expression in the group's language.
pub fn check_expr(expr: &str, source: Source) -> Result<(), String> {
    match source {
        Source::Promql => lookout_query::promql::parse(expr).map(drop).map_err(|e| e.to_string()),
        Source::Logql => lookout_query::logql::parse_metric_query(expr),
    }
}

fn check_labels(labels: &BTreeMap<String, String>, names: NameValidation, problems: &mut Vec<String>) {
    for name in labels.keys() {
        if !valid_label_name(name, names) || name == "__name__" {
            problems.push(format!("invalid label name: {name}"));
        }
    }
}

/// Whether `name` may be a label name.
pub fn valid_label_name(name: &str, names: NameValidation) -> bool {
    match names {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => legacy_name(name, false),
    }
}

fn valid_metric_name(name: &str, names: NameValidation) -> bool {
    match names {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => legacy_name(name, true),
    }
}

fn legacy_name(name: &str, colons: bool) -> bool {
    let ok = |c: char, first: bool| {
        c == '_' || c.is_ascii_alphabetic() || (!first && c.is_ascii_digit()) || (colons && c == ':')
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

#[cfg(test)]
mod tests;
