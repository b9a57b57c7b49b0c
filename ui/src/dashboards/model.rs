//! The Lookout dashboard model and its validation; `ui/docs/dashboard-model.md` describes both.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// The largest dashboard accepted from the UI, as JSON.
pub(crate) const MAX_DASHBOARD_BYTES: usize = 1 << 20;

/// The panel types the front end draws.
pub(crate) const PANEL_TYPES: [&str; 8] = ["timeseries", "stat", "gauge", "bar", "table", "logs", "traces", "heatmap"];

/// The query languages, each sent to Lookout's own API for it.
pub(crate) const QUERY_LANGS: [&str; 3] = ["promql", "logql", "traceql"];

/// The variable types: values from a PromQL `label_values(...)` or a fixed list.
pub(crate) const VARIABLE_TYPES: [&str; 2] = ["query", "custom"];

/// A uid the API reserves for its own route (`POST /ui/api/dashboards/import`).
const RESERVED_UID: &str = "import";

/// A dashboard: variables and rows of panels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Dashboard {
    /// The identifier in URLs and file names: `[A-Za-z0-9_-]{1,64}`.
    pub uid: String,
    /// The title shown in the list and the header.
    pub title: String,
    /// A longer text shown under the title.
    #[serde(default)]
    pub description: String,
    /// Tags to filter the list by.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The time range shown when the dashboard opens.
    #[serde(default)]
    pub time: TimeRange,
    /// How often the panels reload, such as `30s`; empty is off.
    #[serde(default)]
    pub refresh: String,
    /// Bumped on every save; a save must name the version it started from.
    #[serde(default = "first_version")]
    pub version: u64,
    /// Template variables, substituted into queries by the front end.
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// The rows of panels, top to bottom.
    pub rows: Vec<Row>,
}

fn first_version() -> u64 {
    1
}

/// A time range in Grafana's notation: `now-1h`, `now/d`, RFC 3339 or epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeRange {
    /// The start.
    pub from: String,
    /// The end.
    pub to: String,
}

impl Default for TimeRange {
    fn default() -> TimeRange {
        TimeRange { from: "now-1h".into(), to: "now".into() }
    }
}

/// A template variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Variable {
    /// The name used in queries as `$name`.
    pub name: String,
    /// The label shown beside the picker; the name when empty.
    #[serde(default)]
    pub label: String,
    /// `query` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `query`: `label_values(metric, label)` or `label_values(label)`.
    #[serde(default)]
    pub query: String,
    /// For `custom`: the values to pick from.
    #[serde(default)]
    pub options: Vec<String>,
    /// Whether several values can be picked.
    #[serde(default)]
    pub multi: bool,
    /// Whether an "All" choice is offered.
    #[serde(default, rename = "includeAll")]
    pub include_all: bool,
    /// The value picked when the dashboard opens: null, a string or an array of strings.
    #[serde(default)]
    pub current: Value,
}

/// A row of panels with an optional title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Row {
    /// The title; empty for a row without a header.
    #[serde(default)]
    pub title: String,
    /// Whether the row starts folded.
    #[serde(default)]
    pub collapsed: bool,
    /// The panels, left to right, wrapping at 24 columns.
    #[serde(default)]
    pub panels: Vec<Panel>,
}

/// A panel: queries and how to draw them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Panel {
    /// Unique within the dashboard.
    pub id: u64,
    /// The title.
    #[serde(default)]
    pub title: String,
    /// A longer text shown on hover.
    #[serde(default)]
    pub description: String,
    /// One of [`PANEL_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Grid columns, 1 to 24.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Grid rows of 30 px, 1 to 64.
    #[serde(default = "default_height")]
    pub height: u32,
    /// A Grafana unit id such as `short`, `percent`, `s` or `bytes`; empty for none.
    #[serde(default)]
    pub unit: String,
    /// The queries drawn together.
    #[serde(default)]
    pub queries: Vec<Query>,
    /// Free-form drawing options the front end reads (`min`, `max`, `decimals`, `thresholds`, `limit`).
    #[serde(default)]
    pub options: Map<String, Value>,
}

fn default_width() -> u32 {
    12
}

fn default_height() -> u32 {
    8
}

/// One query of a panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    /// One of [`QUERY_LANGS`].
    pub lang: String,
    /// The expression; Grafana macros and `$var` are left for the front end.
    pub expr: String,
    /// The series name template, such as `{{service}}`.
    #[serde(default)]
    pub legend: String,
}

impl Dashboard {
    /// Checks what serde cannot; the error names the field, such as `rows[0].panels[2].type`.
    pub(crate) fn validate(&self) -> Result<()> {
        check_uid(&self.uid)?;
        if self.title.trim().is_empty() {
            return invalid("title", "must not be empty".into());
        }
        for (field, value) in [("time.from", &self.time.from), ("time.to", &self.time.to)] {
            if !is_time(value) {
                return invalid(
                    field,
                    format!("{value:?} is not a relative time (now-1h), an RFC 3339 time or epoch milliseconds"),
                );
            }
        }
        if !self.refresh.is_empty() && !is_duration(&self.refresh) {
            return invalid("refresh", format!("{:?} is not a duration such as 30s or 5m (\"\" is off)", self.refresh));
        }
        let mut names = HashMap::new();
        for (i, v) in self.variables.iter().enumerate() {
            v.validate(&format!("variables[{i}]"))?;
            if let Some(first) = names.insert(v.name.as_str(), i) {
                return invalid(
                    &format!("variables[{i}].name"),
                    format!("duplicate variable name {:?} (also variables[{first}])", v.name),
                );
            }
        }
        let mut ids = HashMap::new();
        for (r, row) in self.rows.iter().enumerate() {
            for (p, panel) in row.panels.iter().enumerate() {
                let path = format!("rows[{r}].panels[{p}]");
                panel.validate(&path)?;
                if let Some(first) = ids.insert(panel.id, path.clone()) {
                    return invalid(&format!("{path}.id"), format!("duplicate panel id {} (also {first})", panel.id));
                }
            }
        }
        Ok(())
    }
}

impl Variable {
    fn validate(&self, path: &str) -> Result<()> {
        let name_ok = !self.name.is_empty() && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return invalid(&format!("{path}.name"), format!("{:?} is not a name of letters, digits and _", self.name));
        }
        match self.kind.as_str() {
            "query" if !is_label_values(&self.query) => {
                return invalid(
                    &format!("{path}.query"),
                    format!(
                        "{:?} is not supported; use label_values(metric, label) or label_values(label)",
                        self.query
                    ),
                );
            }
            "custom" if self.options.is_empty() => {
                return invalid(&format!("{path}.options"), "a custom variable needs at least one option".into());
            }
            "query" | "custom" => {}
            other => {
                return invalid(
                    &format!("{path}.type"),
                    format!("unknown variable type {other:?}; expected one of {}", VARIABLE_TYPES.join(", ")),
                );
            }
        }
        let current_ok = match &self.current {
            Value::Null | Value::String(_) => true,
            Value::Array(values) => values.iter().all(Value::is_string),
            _ => false,
        };
        if !current_ok {
            return invalid(&format!("{path}.current"), "must be null, a string or an array of strings".into());
        }
        Ok(())
    }
}

impl Panel {
    fn validate(&self, path: &str) -> Result<()> {
        if !PANEL_TYPES.contains(&self.kind.as_str()) {
            return invalid(
                &format!("{path}.type"),
                format!("unknown panel type {:?}; expected one of {}", self.kind, PANEL_TYPES.join(", ")),
            );
        }
        if !(1..=24).contains(&self.width) {
            return invalid(&format!("{path}.width"), format!("must be 1 to 24 grid columns; got {}", self.width));
        }
        if !(1..=64).contains(&self.height) {
            return invalid(&format!("{path}.height"), format!("must be 1 to 64 grid rows; got {}", self.height));
        }
        for (q, query) in self.queries.iter().enumerate() {
            if !QUERY_LANGS.contains(&query.lang.as_str()) {
                return invalid(
                    &format!("{path}.queries[{q}].lang"),
                    format!("unknown query language {:?}; expected one of {}", query.lang, QUERY_LANGS.join(", ")),
                );
            }
        }
        Ok(())
    }
}

/// Checks a uid's syntax; every uid is checked before it becomes part of a file name.
pub(crate) fn check_uid(uid: &str) -> Result<()> {
    if uid == RESERVED_UID {
        return invalid("uid", format!("{RESERVED_UID:?} is reserved"));
    }
    if is_uid(uid) {
        return Ok(());
    }
    invalid("uid", format!("must be 1 to 64 letters, digits, _ or -; got {uid:?}"))
}

/// Whether `uid` is a usable dashboard uid.
pub(crate) fn is_uid(uid: &str) -> bool {
    (1..=64).contains(&uid.len())
        && uid != RESERVED_UID
        && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn invalid(path: &str, message: String) -> Result<()> {
    Err(Error::Invalid(format!("{path}: {message}")))
}

/// Whether `query` is a `label_values(...)` call, the one variable query the front end runs.
pub(crate) fn is_label_values(query: &str) -> bool {
    let query = query.trim();
    query.starts_with("label_values(") && query.ends_with(')') && query.len() > "label_values()".len()
}

/// `30s`, `1m`, `500ms`, `2h`, `1d`, `1w`.
pub(crate) fn is_duration(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&s[digits..], "ms" | "s" | "m" | "h" | "d" | "w")
}

/// A Grafana-style relative time, an RFC 3339 time or epoch milliseconds.
pub(crate) fn is_time(s: &str) -> bool {
    is_relative_time(s) || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) || is_rfc3339(s)
}

/// `now`, then any of `-1h` / `+30m`, then an optional rounding such as `/d`.
fn is_relative_time(s: &str) -> bool {
    const UNITS: &[u8] = b"smhdwMy";
    let Some(mut rest) = s.strip_prefix("now").map(str::as_bytes) else {
        return false;
    };
    while let [b'-' | b'+', tail @ ..] = rest {
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        match tail.get(digits) {
            Some(unit) if digits > 0 && UNITS.contains(unit) => rest = &tail[digits + 1..],
            _ => return false,
        }
    }
    match rest {
        [] => true,
        [b'/', unit] => UNITS.contains(unit),
        _ => false,
    }
}

/// `2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.123+02:00`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>, max: u32| -> bool {
        let Some(part) = b.get(range) else { return false };
        part.iter().all(u8::is_ascii_digit) && part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= max
    };
    let date = num(0..4, 9999)
        && b.get(4) == Some(&b'-')
        && num(5..7, 12)
        && b.get(7) == Some(&b'-')
        && num(8..10, 31)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && num(11..13, 23)
        && b.get(13) == Some(&b':')
        && num(14..16, 59)
        && b.get(16) == Some(&b':')
        && num(17..19, 60);
    if !date {
        return false;
    }
    let mut rest = &b[19..];
    if let [b'.', tail @ ..] = rest {
        let digits = tail.iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &tail[digits..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}
