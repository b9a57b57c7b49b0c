//! TraceQL metrics: `/api/metrics/query_range` and `/api/metrics/query` in Tempo's response
//! shape (`series` of `labels` with `samples` of `timestampMs` and `value`).
//!
//! A query whose filter looks at single spans only (no trace-level intrinsic, no structural
//! operator, no second stage) is answered from every span in the window, streamed. Other
//! queries are answered from the first traces found, as search is (at most 5,000 candidates).

use std::collections::BTreeMap;

use axum::extract::{Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode};
use lookout_storage::TraceSpan;
use serde::Deserialize;

use super::search::{Candidates, MAX_CANDIDATES, blocking, matching_traces, prefilter, typed_json};
use super::{ApiError, Json, Reply, TempoState, error, tenant};
use crate::traceql::{self, Compiled, Trace, ast};

/// Query parameters of the metrics endpoints.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MetricsParams {
    q: Option<String>,
    start: Option<String>,
    end: Option<String>,
    step: Option<String>,
}

/// Series labels: key and OTLP/JSON value.
type Labels = Vec<(String, serde_json::Value)>;

/// A matching span: its series labels, start and duration (nanoseconds).
type Matched = (Labels, u64, u64);

/// Most points one series may have.
const MAX_POINTS: u64 = 11_000;

/// A time as Tempo takes it: unix seconds (with a fraction) or unix nanoseconds.
fn time(text: &str, what: &str) -> Result<u64, ApiError> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, format!("invalid {what} {text:?}: use unix seconds")))?;
    if !value.is_finite() || value < 0.0 {
        return Err(error(StatusCode::BAD_REQUEST, format!("invalid {what} {text:?}")));
    }
    Ok(if value > 1e15 { value as u64 } else { (value * 1e9) as u64 })
}

fn step(text: &str) -> Result<u64, ApiError> {
    let bad =
        || error(StatusCode::BAD_REQUEST, format!("invalid step {text:?}: use a duration such as 30s, or seconds"));
    if let Ok(seconds) = text.trim().parse::<f64>() {
        return if seconds > 0.0 && seconds.is_finite() { Ok((seconds * 1e9) as u64) } else { Err(bad()) };
    }
    let query = traceql::parse(&format!("{{ duration > {text} }}")).map_err(|_| bad())?;
    match query.stages.first() {
        Some(ast::Stage::Spanset(ast::SpansetExpr::Filter(ast::FieldExpr::Binary { rhs, .. }))) => match rhs.as_ref() {
            ast::FieldExpr::Static(ast::Static::Duration(d)) if *d > 0 => Ok(*d as u64),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// The spans a metrics query counts, each with its series labels.
async fn matched_spans(
    state: &TempoState,
    headers: &HeaderMap,
    compiled: Compiled,
    window: (u64, u64),
) -> Result<Vec<Matched>, ApiError> {
    let Some(metrics) = compiled.query.metrics.clone() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "not a metrics query: end it with | rate(), | count_over_time(), | quantile_over_time(...) or | histogram_over_time(...)",
        ));
    };
    let tenant = tenant(headers)?;
    let labels = move |trace: &Trace, i: usize| -> Labels {
        metrics
            .by
            .iter()
            .map(|a| {
                let value = traceql::attribute_values(a, trace, i).first().map_or(serde_json::json!({}), typed_json);
                (traceql::describe(&ast::FieldExpr::Attribute(a.clone())), value)
            })
            .collect()
    };
    // (labels, span start, span duration) for every matching span.
    let span_local = compiled.query.stages.len() == 1 && prefilter(&compiled).is_some() && is_single_filter(&compiled);
    if span_local {
        let filter = prefilter(&compiled);
        return blocking(&state.spans, move |store| {
            let mut out = Vec::new();
            let candidates = Candidates(filter.clone());
            store.scan_filtered(&tenant, window.0, window.1, &candidates, &mut |span: &TraceSpan| {
                if span.span.start_time_unix_nano >= window.0 && span.span.start_time_unix_nano <= window.1 {
                    let one = std::slice::from_ref(span);
                    let trace = Trace::new(one);
                    if !traceql::evaluate(&compiled, &trace).is_empty() {
                        out.push((labels(&trace, 0), span.span.start_time_unix_nano, span.span.duration_nanos()));
                    }
                }
                true
            })?;
            Ok(out)
        })
        .await;
    }
    let (traces, _) = matching_traces(&state.spans, tenant, &compiled, window, MAX_CANDIDATES, |_| true).await?;
    let mut out = Vec::new();
    for spans in &traces {
        let trace = Trace::new(spans);
        for set in traceql::evaluate(&compiled, &trace) {
            for i in set.spans {
                let s = &trace.spans[i].span;
                if s.start_time_unix_nano >= window.0 && s.start_time_unix_nano <= window.1 {
                    out.push((labels(&trace, i), s.start_time_unix_nano, s.duration_nanos()));
                }
            }
        }
    }
    Ok(out)
}

fn is_single_filter(compiled: &Compiled) -> bool {
    matches!(compiled.query.stages.first(), Some(ast::Stage::Spanset(ast::SpansetExpr::Filter(_))))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// One output series: labels and a value per bucket.
type Series = BTreeMap<String, (Labels, BTreeMap<u64, f64>)>;

/// Computes the series of a metrics query over buckets of `step` starting at `start`.
fn series(function: &ast::MetricsFunction, spans: Vec<Matched>, start: u64, step: u64) -> Series {
    let name = match function {
        ast::MetricsFunction::Rate => "rate",
        ast::MetricsFunction::CountOverTime => "count_over_time",
        ast::MetricsFunction::QuantileOverTime { .. } => "quantile_over_time",
        ast::MetricsFunction::HistogramOverTime { .. } => "histogram_over_time",
    };
    let mut groups: BTreeMap<String, (Labels, BTreeMap<u64, Vec<f64>>)> = BTreeMap::new();
    for (labels, at, duration) in spans {
        let bucket = start + (at - start) / step * step;
        let mut labels = if labels.is_empty() {
            vec![("__name__".to_owned(), serde_json::json!({ "stringValue": name }))]
        } else {
            labels
        };
        if let ast::MetricsFunction::HistogramOverTime { .. } = function {
            let seconds = duration as f64 / 1e9;
            let bound = if seconds <= 0.0 { 0.0 } else { 2f64.powi(seconds.log2().ceil() as i32) };
            labels.push(("__bucket".to_owned(), serde_json::json!({ "doubleValue": bound })));
        }
        let key = serde_json::to_string(&labels).unwrap_or_default();
        let entry = groups.entry(key).or_insert_with(|| (labels, BTreeMap::new()));
        entry.1.entry(bucket).or_default().push(duration as f64 / 1e9);
    }
    let mut out = Series::new();
    for (key, (labels, buckets)) in groups {
        match function {
            ast::MetricsFunction::QuantileOverTime { quantiles, .. } => {
                for q in quantiles {
                    let mut labels = labels.clone();
                    labels.push(("p".to_owned(), serde_json::json!({ "doubleValue": q })));
                    let values = buckets
                        .iter()
                        .map(|(t, durations)| {
                            let mut sorted = durations.clone();
                            sorted.sort_by(f64::total_cmp);
                            (*t, quantile(&sorted, *q))
                        })
                        .collect();
                    out.insert(format!("{key}/{q}"), (labels, values));
                }
            }
            ast::MetricsFunction::Rate => {
                let per_second = step as f64 / 1e9;
                out.insert(key, (labels, buckets.iter().map(|(t, d)| (*t, d.len() as f64 / per_second)).collect()));
            }
            _ => {
                out.insert(key, (labels, buckets.iter().map(|(t, d)| (*t, d.len() as f64)).collect()));
            }
        }
    }
    out
}

fn label_json(labels: &[(String, serde_json::Value)]) -> (Vec<serde_json::Value>, String) {
    let json = labels.iter().map(|(k, v)| serde_json::json!({ "key": k, "value": v })).collect();
    let prom: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let value = v
                .as_object()
                .and_then(|o| o.values().next())
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .unwrap_or_default();
            format!("{k}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect();
    (json, format!("{{{}}}", prom.join(", ")))
}

struct Plan {
    compiled: Compiled,
    function: ast::MetricsFunction,
    start: u64,
    end: u64,
}

fn plan(p: &MetricsParams, now: u64) -> Result<Plan, ApiError> {
    let text =
        p.q.as_deref()
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "q is required"))?;
    let query = traceql::parse(text).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let Some(metrics) = &query.metrics else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "not a metrics query: end it with | rate(), | count_over_time(), | quantile_over_time(...) or | histogram_over_time(...)",
        ));
    };
    let function = metrics.function.clone();
    let compiled = traceql::compile(query).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let end = p.end.as_deref().map(|e| time(e, "end")).transpose()?.unwrap_or(now);
    let start =
        p.start.as_deref().map(|s| time(s, "start")).transpose()?.unwrap_or(end.saturating_sub(3_600_000_000_000));
    if start >= end {
        return Err(error(StatusCode::BAD_REQUEST, "start must be before end"));
    }
    Ok(Plan { compiled, function, start, end })
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

pub(crate) async fn query_range(
    State(state): State<TempoState>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<MetricsParams>,
) -> Reply {
    let plan = plan(&p, now())?;
    let step = match p.step.as_deref() {
        Some(s) => step(s)?,
        None => ((plan.end - plan.start) / 100).max(1_000_000_000),
    };
    if (plan.end - plan.start) / step > MAX_POINTS {
        return Err(error(StatusCode::BAD_REQUEST, format!("more than {MAX_POINTS} points per series: raise step")));
    }
    let start = plan.start / step * step;
    let spans = matched_spans(&state, &headers, plan.compiled, (start, plan.end)).await?;
    let series: Vec<serde_json::Value> = series(&plan.function, spans, start, step)
        .into_values()
        .map(|(labels, values)| {
            let (labels, prom) = label_json(&labels);
            let samples: Vec<serde_json::Value> = values
                .into_iter()
                .map(|(t, v)| serde_json::json!({ "timestampMs": (t / 1_000_000).to_string(), "value": v }))
                .collect();
            serde_json::json!({ "labels": labels, "samples": samples, "promLabels": prom })
        })
        .collect();
    Ok(Json(serde_json::json!({ "series": series, "metrics": { "completedJobs": 1, "totalJobs": 1 } })))
}

pub(crate) async fn query_instant(
    State(state): State<TempoState>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<MetricsParams>,
) -> Reply {
    let plan = plan(&p, now())?;
    let step = plan.end - plan.start + 1;
    let spans = matched_spans(&state, &headers, plan.compiled, (plan.start, plan.end)).await?;
    let series: Vec<serde_json::Value> = series(&plan.function, spans, plan.start, step)
        .into_values()
        .map(|(labels, values)| {
            let (labels, prom) = label_json(&labels);
            serde_json::json!({ "labels": labels, "value": values.values().next().copied().unwrap_or(0.0), "promLabels": prom })
        })
        .collect();
    Ok(Json(serde_json::json!({ "series": series, "metrics": { "completedJobs": 1, "totalJobs": 1 } })))
}
