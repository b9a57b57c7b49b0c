//! The endpoint handlers: read the parameters as Loki does, ask the LogQL engine or the log
//! store, shape the answer.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::LokiState;
use super::params::{LokiParams, now_ns, tenant};
use super::reply::{LokiError, Reply, json_ok, label_object, query_answer, success};
use crate::logql::{LogqlQuery, format_query, selector_matchers};

const HOUR: i64 = 3_600_000_000_000;

/// Whether the client asked for labels split into stream labels, metadata and parsed labels.
fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|f| f.trim() == "categorize-labels"))
}

/// Loki's default step: the range over 250 points, at least one second (ms).
fn default_step_ms(start: i64, end: i64) -> i64 {
    (((end - start) / 1_000_000_000) / 250).max(1) * 1000
}

/// `/loki/api/v1/query`: an instant metric query.
pub(crate) async fn query(State(state): State<LokiState>, headers: HeaderMap, params: LokiParams) -> Reply {
    let tenant = tenant(&headers)?;
    let time = params.time("time", now_ns())?;
    let q = LogqlQuery {
        query: params.get("query").to_owned(),
        start: time,
        end: time,
        step_ms: 0,
        interval: None,
        limit: params.limit(100)?,
        backward: params.backward()?,
        instant: true,
    };
    let categorized = categorize(&headers);
    let output = state.run(move |engine| engine.query(&tenant, &q, categorized)).await?;
    query_answer(&output, categorized)
}

/// `/loki/api/v1/query_range`: a log query, or a metric query over steps.
pub(crate) async fn query_range(State(state): State<LokiState>, headers: HeaderMap, params: LokiParams) -> Reply {
    let tenant = tenant(&headers)?;
    let (start, end) = params.bounds(HOUR)?;
    let step_ms = match params.duration("step")? {
        Some(0) => {
            return Err(LokiError::bad(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        Some(ns) => (ns / 1_000_000).max(1),
        None => default_step_ms(start, end),
    };
    if (end - start) / 1_000_000 / step_ms > 11_000 {
        return Err(LokiError::bad(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let q = LogqlQuery {
        query: params.get("query").to_owned(),
        start,
        end,
        step_ms,
        interval: params.duration("interval")?,
        limit: params.limit(100)?,
        backward: params.backward()?,
        instant: false,
    };
    let categorized = categorize(&headers);
    let output = state.run(move |engine| engine.query(&tenant, &q, categorized)).await?;
    query_answer(&output, categorized)
}

/// The matcher sets of `query` (a selector or any query: its selectors), or one empty set.
fn query_matchers(params: &LokiParams) -> Result<Vec<Vec<crate::logql::Matcher>>, LokiError> {
    match params.get("query") {
        "" => Ok(vec![Vec::new()]),
        text => selector_matchers(text).map_err(LokiError::bad),
    }
}

/// `/loki/api/v1/labels`: stream label names.
pub(crate) async fn labels(State(state): State<LokiState>, headers: HeaderMap, params: LokiParams) -> Reply {
    let tenant = tenant(&headers)?;
    let (start, end) = params.bounds(6 * HOUR)?;
    let sets = query_matchers(&params)?;
    let names: BTreeSet<String> = state
        .streams(&tenant, &sets, start, end)
        .await?
        .iter()
        .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
        .collect();
    success(json!(names))
}

/// `/loki/api/v1/label/{name}/values`: values of one stream label.
pub(crate) async fn label_values(
    State(state): State<LokiState>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    params: LokiParams,
) -> Reply {
    let tenant = tenant(&headers)?;
    let name = name.map(|Path(n)| n).map_err(|e| LokiError::bad(e.to_string()))?;
    let (start, end) = params.bounds(6 * HOUR)?;
    let sets = query_matchers(&params)?;
    let values: BTreeSet<String> = state
        .streams(&tenant, &sets, start, end)
        .await?
        .iter()
        .filter_map(|s| s.labels.get(&name).map(str::to_owned))
        .collect();
    success(json!(values))
}

/// `/loki/api/v1/series`: the label sets of the streams matching `match[]`.
pub(crate) async fn series(State(state): State<LokiState>, headers: HeaderMap, params: LokiParams) -> Reply {
    let tenant = tenant(&headers)?;
    let (start, end) = params.bounds(HOUR)?;
    let mut sets = Vec::new();
    for text in params.all("match[]") {
        sets.extend(selector_matchers(text).map_err(LokiError::bad)?);
    }
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let found = state.streams(&tenant, &sets, start, end).await?;
    success(Value::Array(found.iter().map(|s| label_object(&s.labels)).collect()))
}

/// `/loki/api/v1/index/stats`: streams, chunks (stream × partition), entries and bytes.
pub(crate) async fn index_stats(State(state): State<LokiState>, headers: HeaderMap, params: LokiParams) -> Reply {
    let tenant = tenant(&headers)?;
    let (start, end) = params.bounds(HOUR)?;
    let sets = query_matchers(&params)?;
    let volumes = state.volumes(&tenant, &sets, start, end, None).await?;
    let (mut streams, mut chunks, mut entries, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for v in volumes.values() {
        streams += 1;
        chunks += v.chunks;
        entries += v.entries;
        bytes += v.bytes;
    }
    json_ok(&json!({"streams": streams, "chunks": chunks, "entries": entries, "bytes": bytes}))
}

/// `/loki/api/v1/index/volume` and `/index/volume_range`: bytes per label set.
pub(crate) async fn volume(
    State(state): State<LokiState>,
    headers: HeaderMap,
    params: LokiParams,
    range: bool,
) -> Reply {
    let tenant = tenant(&headers)?;
    let (start, end) = params.bounds(HOUR)?;
    let text = params.get("query");
    if text.is_empty() {
        return Err(LokiError::bad("missing query parameter"));
    }
    let sets = selector_matchers(text).map_err(LokiError::bad)?;
    let limit = params.limit(100)?;
    let target: Vec<String> = match params.get("targetLabels") {
        "" => sets.iter().flatten().map(|m| m.name.clone()).collect::<BTreeSet<_>>().into_iter().collect(),
        list => list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
    };
    let by_labels = match params.get("aggregateBy") {
        "" | "series" => false,
        "labels" => true,
        other => return Err(LokiError::bad(format!("invalid aggregateBy {other:?}: use series or labels"))),
    };
    let step = if range {
        Some(match params.duration("step")? {
            Some(ns) if ns > 0 => ns,
            _ => default_step_ms(start, end) * 1_000_000,
        })
    } else {
        None
    };
    let volumes = state.volumes(&tenant, &sets, start, end, step.map(|s| (start, s))).await?;
    // Aggregate per label set (or per label name).
    /// Total bytes, and bytes per step.
    type Volume = (u64, BTreeMap<i64, u64>);
    let mut totals: BTreeMap<Vec<(String, String)>, Volume> = BTreeMap::new();
    for v in volumes.values() {
        let keys: Vec<Vec<(String, String)>> = if by_labels {
            target.iter().filter(|n| v.labels.get(n).is_some()).map(|n| vec![(n.clone(), String::new())]).collect()
        } else {
            let key: Vec<(String, String)> =
                target.iter().filter_map(|n| v.labels.get(n).map(|val| (n.clone(), val.to_owned()))).collect();
            if key.is_empty() { Vec::new() } else { vec![key] }
        };
        for key in keys {
            let slot = totals.entry(key).or_default();
            slot.0 += v.bytes;
            for (t, b) in &v.buckets {
                *slot.1.entry(*t).or_default() += b;
            }
        }
    }
    let mut rows: Vec<_> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(limit);
    let metric = |key: &[(String, String)]| {
        Value::Object(key.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    };
    let seconds = |ns: i64| {
        serde_json::from_str::<Value>(&crate::prometheus::reply::go_timestamp(ns / 1_000_000)).unwrap_or(Value::Null)
    };
    let data = if range {
        let result: Vec<Value> = rows
            .iter()
            .map(|(key, (_, buckets))| {
                let values: Vec<Value> = buckets.iter().map(|(t, b)| json!([seconds(*t), b.to_string()])).collect();
                json!({"metric": metric(key), "values": values})
            })
            .collect();
        json!({"resultType": "matrix", "result": result})
    } else {
        let result: Vec<Value> = rows
            .iter()
            .map(|(key, (total, _))| json!({"metric": metric(key), "value": [seconds(end), total.to_string()]}))
            .collect();
        json!({"resultType": "vector", "result": result})
    };
    success(data)
}

/// `/loki/api/v1/detected_labels`: stream labels of the matching streams with their cardinality.
pub(crate) async fn detected_labels(State(state): State<LokiState>, headers: HeaderMap, params: LokiParams) -> Reply {
    let tenant = tenant(&headers)?;
    let (start, end) = params.bounds(HOUR)?;
    let sets = query_matchers(&params)?;
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in state.streams(&tenant, &sets, start, end).await? {
        for l in s.labels.iter() {
            values.entry(l.name.clone()).or_default().insert(l.value.clone());
        }
    }
    let labels: Vec<Value> = values.iter().map(|(name, v)| json!({"label": name, "cardinality": v.len()})).collect();
    json_ok(&json!({"detectedLabels": labels}))
}

/// `/loki/api/v1/detected_fields`: fields of the newest lines (structured metadata and what
/// the json and logfmt parsers find), with type, cardinality and parser.
pub(crate) async fn detected_fields(State(state): State<LokiState>, headers: HeaderMap, params: LokiParams) -> Reply {
    let tenant = tenant(&headers)?;
    let (start, end) = params.bounds(HOUR)?;
    let query = params.get("query").to_owned();
    if query.is_empty() {
        return Err(LokiError::bad("missing query parameter"));
    }
    let line_limit = match params.get("line_limit") {
        "" => 1000,
        text => text.parse::<usize>().map_err(|_| LokiError::bad(format!("invalid line_limit {text:?}")))?,
    };
    let limit = params.limit(1000)?;
    let fields =
        state.run(move |engine| crate::logql::detected_fields(engine, &tenant, &query, start, end, line_limit)).await?;
    let list: Vec<Value> = fields
        .into_iter()
        .take(limit)
        .map(|f| {
            let parsers = if f.parsers.is_empty() { Value::Null } else { json!(f.parsers) };
            json!({"label": f.label, "type": f.kind, "cardinality": f.cardinality, "parsers": parsers})
        })
        .collect();
    json_ok(&json!({"fields": list, "limit": limit}))
}

/// `/loki/api/v1/patterns`: pattern detection is not run; an empty answer, as Loki gives
/// without a pattern ingester.
pub(crate) async fn patterns(headers: HeaderMap, params: LokiParams) -> Reply {
    tenant(&headers)?;
    if !params.get("query").is_empty() {
        selector_matchers(params.get("query")).map_err(LokiError::bad)?;
    }
    success(json!([]))
}

/// `/loki/api/v1/format_query`: the query in its canonical form.
pub(crate) async fn format(params: LokiParams) -> Reply {
    let formatted = format_query(params.get("query")).map_err(LokiError::bad)?;
    success(Value::String(formatted))
}

/// `/loki/api/v1/status/buildinfo`.
pub(crate) async fn buildinfo(State(state): State<LokiState>) -> Reply {
    json_ok(&serde_json::to_value(&state.build).map_err(|e| LokiError::internal(e.to_string()))?)
}
