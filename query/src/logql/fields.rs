//! `detected_fields`: the fields of the newest lines of a query — structured metadata, and what
//! the json and logfmt parsers find in each line — with the type their values suggest and how
//! many distinct values each has.

use std::collections::{BTreeMap, BTreeSet};

use lookout_storage::Tenant;
use lookout_storage::logs::LogScan;

use super::engine::LogqlEngine;
use super::error::LogqlError;
use super::stages::{self, JsonParser, LabelsBuilder, LogfmtParser};
use super::syntax::{Expr, parse_expr};

/// One detected field.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedField {
    /// Field (label) name.
    pub label: String,
    /// `string`, `int`, `float`, `boolean`, `duration` or `bytes`.
    pub kind: &'static str,
    /// Distinct values seen.
    pub cardinality: usize,
    /// Parsers that found it (`json`, `logfmt`); empty for structured metadata.
    pub parsers: Vec<&'static str>,
}

#[derive(Default)]
struct Seen {
    values: BTreeSet<String>,
    parsers: BTreeSet<&'static str>,
}

/// The fields of the newest `line_limit` lines the query selects in `[start, end)`.
pub fn detected_fields(
    engine: &LogqlEngine,
    tenant: &Tenant,
    query: &str,
    start: i64,
    end: i64,
    line_limit: usize,
) -> Result<Vec<DetectedField>, LogqlError> {
    let expr = parse_expr(query).map_err(|e| LogqlError::BadRequest(e.to_string()))?;
    let Some(log) = expr.log_selectors().first().map(|l| (*l).clone()) else {
        return Ok(Vec::new());
    };
    let query_is_log = matches!(expr, Expr::Log(_));
    let streams = engine.select_streams(tenant, &log.matchers, start, end);
    let ids: Vec<u64> = streams.iter().map(|s| s.id).collect();
    let by_id: std::collections::HashMap<u64, &lookout_storage::Labels> =
        streams.iter().map(|s| (s.id, &s.labels)).collect();
    let mut pipeline = super::pipeline::Pipeline::new(if query_is_log { &log.stages } else { &[] }, None)?;
    let mut json = JsonParser::new(Vec::new()).map_err(|e| LogqlError::BadRequest(e.to_string()))?;
    let mut logfmt = LogfmtParser::new(false, false, Vec::new()).map_err(|e| LogqlError::BadRequest(e.to_string()))?;
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut lines = 0usize;
    let scan = LogScan { streams: &ids, start, end, backward: true, line: None };
    engine
        .store()
        .scan(&scan, &mut |entry| {
            let Some(stream) = by_id.get(&entry.stream) else { return true };
            let Some(out) = pipeline.run(entry.time, &entry.line, stream, &entry.metadata) else { return true };
            for l in out.metadata.iter().chain(out.parsed.iter()) {
                if !l.name.starts_with("__") {
                    seen.entry(l.name.clone()).or_default().values.insert(l.value.clone());
                }
            }
            let trimmed = out.line.trim_start();
            let mut builder = LabelsBuilder::default();
            let name = if trimmed.starts_with('{') {
                json.process(out.line.as_bytes(), &mut builder);
                "json"
            } else {
                logfmt.process(out.line.as_bytes(), &mut builder);
                "logfmt"
            };
            if !builder.has_err() {
                for (k, v) in builder.labels() {
                    if k.starts_with("__") {
                        continue;
                    }
                    let slot = seen.entry(k).or_default();
                    slot.values.insert(v);
                    slot.parsers.insert(name);
                }
            }
            lines += 1;
            lines < line_limit
        })
        .map_err(|e| LogqlError::Store(e.to_string()))?;
    Ok(seen
        .into_iter()
        .map(|(label, s)| DetectedField {
            kind: kind_of(&s.values),
            cardinality: s.values.len(),
            parsers: s.parsers.into_iter().collect(),
            label,
        })
        .collect())
}

/// The narrowest type every value parses as.
fn kind_of(values: &BTreeSet<String>) -> &'static str {
    let all = |f: &dyn Fn(&str) -> bool| !values.is_empty() && values.iter().all(|v| f(v));
    if all(&|v| v.parse::<i64>().is_ok()) {
        "int"
    } else if all(&|v| v.parse::<f64>().is_ok()) {
        "float"
    } else if all(&|v| v == "true" || v == "false") {
        "boolean"
    } else if all(&|v| stages::go_parse_duration(v).is_ok()) {
        "duration"
    } else if all(&|v| stages::go_parse_bytes(v).is_ok() && v.trim_end().ends_with(|c: char| c.is_ascii_alphabetic())) {
        "bytes"
    } else {
        "string"
    }
}
