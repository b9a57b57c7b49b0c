//! `/api/search` and the tag APIs: TraceQL (or Tempo's older `tags`) over the span store.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lookout_storage::{AnyValue, KeyValue, SpanStore, TraceSpan};
use serde::Deserialize;

use super::{ApiError, Json, Reply, TempoState, error, json, tenant};
use crate::traceql::{self, Compiled, Trace, Val, ast};

/// Query parameters of `/api/search`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    tags: Option<String>,
    #[serde(rename = "minDuration")]
    min_duration: Option<String>,
    #[serde(rename = "maxDuration")]
    max_duration: Option<String>,
    limit: Option<usize>,
    spss: Option<usize>,
    start: Option<u64>,
    end: Option<u64>,
}

/// Root service name Tempo reports for a trace whose root span has not arrived.
const NO_ROOT: &str = "<root span not yet received>";

fn go_duration(text: &str, what: &str) -> Result<u64, ApiError> {
    let invalid =
        || error(StatusCode::BAD_REQUEST, format!("invalid {what} {text:?}: use a duration such as 100ms or 1.5s"));
    let query = traceql::parse(&format!("{{ duration > {text} }}")).map_err(|_| invalid())?;
    match query.stages.first() {
        Some(ast::Stage::Spanset(ast::SpansetExpr::Filter(ast::FieldExpr::Binary { rhs, .. }))) => match rhs.as_ref() {
            ast::FieldExpr::Static(ast::Static::Duration(d)) if *d >= 0 => Ok(*d as u64),
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

/// Tempo's `tags` parameter (logfmt `key=value ...`) as a TraceQL filter.
fn tags_query(tags: &str) -> Result<String, ApiError> {
    let mut conditions = Vec::new();
    for pair in tags.split_whitespace() {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, format!("invalid tags: {pair:?} is not key=value")))?;
        let value = value.trim_matches('"').replace('\\', "\\\\").replace('"', "\\\"");
        conditions.push(format!(".{key} = \"{value}\""));
    }
    Ok(format!("{{ {} }}", conditions.join(" && ")))
}

fn compile(text: &str) -> Result<Compiled, ApiError> {
    let query = traceql::parse(text).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    if query.metrics.is_some() {
        return Err(error(StatusCode::BAD_REQUEST, "metrics queries are answered by /api/metrics/query_range"));
    }
    traceql::compile(query).map_err(|e| error(StatusCode::BAD_REQUEST, e))
}

/// `[start, end]` in nanoseconds from Tempo's unix-second parameters (everything by default).
fn range(start: Option<u64>, end: Option<u64>) -> Result<(u64, u64), ApiError> {
    let start = start.unwrap_or(0).saturating_mul(1_000_000_000);
    let end = end.map_or(u64::MAX, |e| e.saturating_mul(1_000_000_000).saturating_add(999_999_999));
    if start > end {
        return Err(error(StatusCode::BAD_REQUEST, "start must not be after end"));
    }
    Ok((start, end))
}

/// Most traces a search looks at in full, so that a broad query over a large store stays
/// bounded in time and memory; like Tempo, a search returns the first matches it finds.
pub(crate) const MAX_CANDIDATES: usize = 5_000;

/// Whether a span can be part of a match, judged from the span alone: true when any leaf
/// filter of the first stage holds for it. Queries that reach trace-level intrinsics keep every
/// span. Exact for span-level filters, never a false negative.
pub(crate) fn prefilter(compiled: &Compiled) -> Option<Compiled> {
    let Some(ast::Stage::Spanset(first)) = compiled.query.stages.first() else { return None };
    let mut leaves = Vec::new();
    collect_leaves(first, &mut leaves);
    let trace_level = leaves.iter().any(uses_trace_intrinsic);
    if trace_level || leaves.is_empty() {
        return None;
    }
    let any = leaves.into_iter().reduce(|a, b| ast::FieldExpr::Binary {
        op: ast::FieldOp::Or,
        lhs: Box::new(a),
        rhs: Box::new(b),
    })?;
    let query = ast::Query { stages: vec![ast::Stage::Spanset(ast::SpansetExpr::Filter(any))], metrics: None };
    traceql::compile(query).ok()
}

/// What a scan for a query's candidates may skip: blocks whose attribute values rule the
/// prefilter out, rows whose plain columns do.
pub(crate) struct Candidates(pub(crate) Option<Compiled>);

impl Candidates {
    fn expr(&self) -> Option<(&Compiled, &ast::FieldExpr)> {
        let compiled = self.0.as_ref()?;
        match compiled.query.stages.first() {
            Some(ast::Stage::Spanset(ast::SpansetExpr::Filter(expr))) => Some((compiled, expr)),
            _ => None,
        }
    }
}

impl lookout_storage::SpanFilter for Candidates {
    fn block(&self, values: &lookout_storage::AttributeValues) -> bool {
        self.expr().is_none_or(|(c, expr)| traceql::block_may_match(c, expr, values))
    }

    fn row(&self, columns: &dyn lookout_storage::SpanColumns, row: usize) -> bool {
        self.expr().is_none_or(|(c, expr)| traceql::column_verdict(c, expr, columns, row) != Some(false))
    }
}

fn collect_leaves(expr: &ast::SpansetExpr, out: &mut Vec<ast::FieldExpr>) {
    match expr {
        ast::SpansetExpr::Filter(f) => out.push(f.clone()),
        ast::SpansetExpr::Binary { lhs, rhs, .. } => {
            collect_leaves(lhs, out);
            collect_leaves(rhs, out);
        }
    }
}

fn uses_trace_intrinsic(expr: &ast::FieldExpr) -> bool {
    use ast::Intrinsic::{RootName, RootServiceName, TraceDuration};
    match expr {
        ast::FieldExpr::Attribute(ast::Attribute::Intrinsic(RootName | RootServiceName | TraceDuration)) => true,
        ast::FieldExpr::Binary { lhs, rhs, .. } => uses_trace_intrinsic(lhs) || uses_trace_intrinsic(rhs),
        ast::FieldExpr::Not(inner) => uses_trace_intrinsic(inner),
        _ => false,
    }
}

/// Runs `work` on the store off the reactor.
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Arc<SpanStore>,
    work: impl FnOnce(&SpanStore) -> lookout_storage::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            tracing::error!(error = %e, "reading spans failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "reading spans failed")
        })
}

/// Whole traces that may match `compiled`, newest data first, at most `MAX_CANDIDATES`,
/// evaluated until `wanted` of them match. Returns the matches and how many were inspected.
pub(crate) async fn matching_traces(
    store: &Arc<SpanStore>,
    tenant: lookout_storage::Tenant,
    compiled: &Compiled,
    (start, end): (u64, u64),
    wanted: usize,
    keep: impl Fn(&Trace) -> bool + Send + Sync + 'static,
) -> Result<(Vec<Vec<TraceSpan>>, usize), ApiError> {
    let filter = prefilter(compiled);
    let (compiled, filter) = (compiled.clone(), filter);
    blocking(store, move |store| {
        let mut seen = std::collections::HashSet::new();
        let mut candidates = Vec::new();
        let skip = Candidates(filter.clone());
        store.scan_filtered(&tenant, start, end, &skip, &mut |span| {
            let passes = filter.as_ref().is_none_or(|f| {
                let one = std::slice::from_ref(span);
                !traceql::evaluate(f, &Trace::new(one)).is_empty()
            });
            if passes && seen.insert(span.span.trace_id) {
                candidates.push(span.span.trace_id);
            }
            candidates.len() < MAX_CANDIDATES
        })?;
        let mut found = Vec::new();
        let mut inspected = 0;
        for id in candidates {
            inspected += 1;
            let spans = store.trace(&tenant, id)?;
            let trace = Trace::new(&spans);
            if keep(&trace) && !traceql::evaluate(&compiled, &trace).is_empty() {
                found.push(spans);
                if found.len() >= wanted {
                    break;
                }
            }
        }
        Ok((found, inspected))
    })
    .await
}

/// Trace ids in search results: hex without leading zeros, as Tempo writes them.
fn short_id(id: &lookout_storage::TraceId) -> String {
    let hex = id.to_hex();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() { "0".into() } else { trimmed.to_owned() }
}

fn otlp_value(v: &AnyValue) -> serde_json::Value {
    match v {
        AnyValue::String(s) => serde_json::json!({ "stringValue": s }),
        AnyValue::Int(i) => serde_json::json!({ "intValue": i.to_string() }),
        AnyValue::Double(d) => serde_json::json!({ "doubleValue": d }),
        AnyValue::Bool(b) => serde_json::json!({ "boolValue": b }),
        AnyValue::Array(items) => {
            serde_json::json!({ "arrayValue": { "values": items.iter().map(otlp_value).collect::<Vec<_>>() } })
        }
        AnyValue::Bytes(b) => serde_json::json!({ "bytesValue": hex::encode(b) }),
        AnyValue::Map(_) | AnyValue::Empty => serde_json::json!({}),
    }
}

fn selected_attributes(compiled: &Compiled, trace: &Trace, i: usize) -> Vec<serde_json::Value> {
    let span = &trace.spans[i];
    let mut out = Vec::new();
    if let Some(service) = span.resource.service_name() {
        out.push(serde_json::json!({ "key": "service.name", "value": { "stringValue": service } }));
    }
    for stage in &compiled.query.stages {
        let ast::Stage::Select(attributes) = stage else { continue };
        for attribute in attributes {
            let ast::Attribute::Named { name, .. } = attribute else { continue };
            let found: Option<&KeyValue> =
                span.span.attributes.iter().chain(&span.resource.attributes).find(|kv| kv.key == *name);
            if let Some(kv) = found {
                out.push(serde_json::json!({ "key": name, "value": otlp_value(&kv.value) }));
            }
        }
    }
    out
}

pub(crate) async fn search(
    State(state): State<TempoState>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<SearchParams>,
) -> Reply {
    Ok(Json(run_search(&state, &headers, p).await?))
}

async fn run_search(state: &TempoState, headers: &HeaderMap, p: SearchParams) -> Result<serde_json::Value, ApiError> {
    let text = match (&p.q, &p.tags) {
        (Some(q), _) if !q.trim().is_empty() => q.clone(),
        (_, Some(tags)) if !tags.trim().is_empty() => tags_query(tags)?,
        _ => "{}".into(),
    };
    let compiled = compile(&text)?;
    let min = p.min_duration.as_deref().map(|d| go_duration(d, "minDuration")).transpose()?;
    let max = p.max_duration.as_deref().map(|d| go_duration(d, "maxDuration")).transpose()?;
    let (limit, spss) = (p.limit.unwrap_or(20).max(1), p.spss.unwrap_or(3).max(1));
    let window = range(p.start, p.end)?;
    let keep = move |t: &Trace| !(min.is_some_and(|m| t.duration() < m) || max.is_some_and(|m| t.duration() > m));
    let (traces, inspected) = matching_traces(&state.spans, tenant(headers)?, &compiled, window, limit, keep).await?;
    let mut results = Vec::new();
    for spans in &traces {
        let trace = Trace::new(spans);
        let sets = traceql::evaluate(&compiled, &trace);
        if sets.is_empty() {
            continue;
        }
        let span_sets: Vec<serde_json::Value> = sets
            .iter()
            .map(|set| {
                let spans: Vec<serde_json::Value> = set
                    .spans
                    .iter()
                    .take(spss)
                    .map(|&i| {
                        let s = &trace.spans[i].span;
                        serde_json::json!({
                            "spanID": s.span_id.to_hex(),
                            "name": s.name,
                            "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                            "durationNanos": s.duration_nanos().to_string(),
                            "attributes": selected_attributes(&compiled, &trace, i),
                        })
                    })
                    .collect();
                let by: Vec<serde_json::Value> = set
                    .by
                    .iter()
                    .map(|(k, v)| serde_json::json!({ "key": format!("by({k})"), "value": { "stringValue": v } }))
                    .collect();
                let mut set_json = serde_json::json!({ "spans": spans, "matched": set.spans.len() });
                if !by.is_empty() {
                    set_json["attributes"] = serde_json::Value::Array(by);
                }
                set_json
            })
            .collect();
        let root = trace.root();
        let mut result = serde_json::json!({
            "traceID": short_id(&spans[0].span.trace_id),
            "rootServiceName": root.and_then(|r| r.resource.service_name()).unwrap_or(NO_ROOT),
            "startTimeUnixNano": trace.start().to_string(),
            "durationMs": trace.duration() / 1_000_000,
            "spanSet": span_sets[0],
            "spanSets": span_sets,
        });
        if let Some(root) = root {
            result["rootTraceName"] = serde_json::Value::String(root.span.name.clone());
        }
        results.push((trace.start(), result));
    }
    results.sort_by_key(|r| std::cmp::Reverse(r.0));
    let traces: Vec<serde_json::Value> = results.into_iter().take(limit).map(|(_, r)| r).collect();
    Ok(serde_json::json!({
        "traces": traces,
        "metrics": { "inspectedTraces": inspected, "inspectedBytes": "0", "completedJobs": 1, "totalJobs": 1 },
    }))
}

/// Query parameters of the tag APIs.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TagParams {
    scope: Option<String>,
    q: Option<String>,
    start: Option<u64>,
    end: Option<u64>,
}

/// Most distinct tag names or values one answer lists.
const MAX_TAGS: usize = 10_000;

/// Intrinsics that Tempo lists as tags.
const INTRINSICS: [&str; 10] = [
    "duration",
    "event:name",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
    "trace:id",
];

async fn tag_names(
    state: &TempoState,
    headers: &HeaderMap,
    p: &TagParams,
) -> Result<(BTreeSet<String>, BTreeSet<String>), ApiError> {
    let (start, end) = range(p.start, p.end)?;
    let tenant = tenant(headers)?;
    blocking(&state.spans, move |store| {
        let (mut span_tags, mut resource_tags) = (BTreeSet::new(), BTreeSet::new());
        store.scan(&tenant, start, end, &mut |s| {
            for kv in &s.span.attributes {
                if !span_tags.contains(&kv.key) {
                    span_tags.insert(kv.key.clone());
                }
            }
            for kv in &s.resource.attributes {
                if !resource_tags.contains(&kv.key) {
                    resource_tags.insert(kv.key.clone());
                }
            }
            span_tags.len() + resource_tags.len() < MAX_TAGS
        })?;
        Ok((span_tags, resource_tags))
    })
    .await
}

fn scope_filter(scope: Option<&str>) -> Result<&str, ApiError> {
    match scope.unwrap_or("all") {
        s @ ("all" | "span" | "resource" | "intrinsic" | "") => Ok(if s.is_empty() { "all" } else { s }),
        other => Err(error(
            StatusCode::BAD_REQUEST,
            format!("invalid scope {other:?}: use span, resource, intrinsic or all"),
        )),
    }
}

pub(crate) async fn tags_v1(
    State(state): State<TempoState>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<TagParams>,
) -> Reply {
    let scope = scope_filter(p.scope.as_deref())?;
    let (span_tags, resource_tags) = tag_names(&state, &headers, &p).await?;
    let mut names = BTreeSet::new();
    if matches!(scope, "all" | "span") {
        names.extend(span_tags);
    }
    if matches!(scope, "all" | "resource") {
        names.extend(resource_tags);
    }
    if scope == "intrinsic" {
        names.extend(INTRINSICS.iter().map(|s| s.to_string()));
    }
    Ok(Json(serde_json::json!({ "tagNames": names })))
}

pub(crate) async fn tags_v2(
    State(state): State<TempoState>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<TagParams>,
) -> Reply {
    let scope = scope_filter(p.scope.as_deref())?;
    let (span_tags, resource_tags) = tag_names(&state, &headers, &p).await?;
    let mut scopes = Vec::new();
    if matches!(scope, "all" | "resource") {
        scopes.push(serde_json::json!({ "name": "resource", "tags": resource_tags }));
    }
    if matches!(scope, "all" | "span") {
        scopes.push(serde_json::json!({ "name": "span", "tags": span_tags }));
    }
    if matches!(scope, "all" | "intrinsic") {
        scopes.push(serde_json::json!({ "name": "intrinsic", "tags": INTRINSICS }));
    }
    Ok(Json(serde_json::json!({ "scopes": scopes })))
}

/// A value as an OTLP/JSON `AnyValue`, for series labels.
pub(crate) fn typed_json(v: &Val) -> serde_json::Value {
    match v {
        Val::Int(i) => serde_json::json!({ "intValue": i.to_string() }),
        Val::Float(f) => serde_json::json!({ "doubleValue": f }),
        Val::Bool(b) => serde_json::json!({ "boolValue": b }),
        other => serde_json::json!({ "stringValue": traceql::render(other) }),
    }
}

/// A value with its type as the v2 tag-values API names it.
fn typed(v: &Val) -> (String, String) {
    let kind = match v {
        Val::Str(_) | Val::Owned(_) => "string",
        Val::Int(_) => "int",
        Val::Float(_) => "float",
        Val::Bool(_) => "bool",
        Val::Duration(_) => "duration",
        Val::Status(_) | Val::Kind(_) => "keyword",
    };
    (kind.to_owned(), traceql::render(v))
}

/// The values one attribute or intrinsic takes, with their TraceQL types.
async fn tag_values(
    state: &TempoState,
    headers: &HeaderMap,
    attribute: ast::Attribute,
    p: &TagParams,
) -> Result<BTreeSet<(String, String)>, ApiError> {
    let q = p.q.as_deref().filter(|q| !q.trim().is_empty() && q.trim() != "{}");
    let window = range(p.start, p.end)?;
    let tenant = tenant(headers)?;
    let trace_level = matches!(
        attribute,
        ast::Attribute::Intrinsic(
            ast::Intrinsic::RootName | ast::Intrinsic::RootServiceName | ast::Intrinsic::TraceDuration
        )
    );
    let mut values = BTreeSet::new();
    if q.is_none() && !trace_level {
        // A span-level field with no query: every span in the window, streamed.
        let attribute = attribute.clone();
        return blocking(&state.spans, move |store| {
            let mut values = BTreeSet::new();
            store.scan(&tenant, window.0, window.1, &mut |span| {
                let one = std::slice::from_ref(span);
                let trace = Trace::new(one);
                for v in traceql::attribute_values(&attribute, &trace, 0) {
                    values.insert(typed(&v));
                }
                values.len() < MAX_TAGS
            })?;
            Ok(values)
        })
        .await;
    }
    let filter = compile(q.unwrap_or("{}"))?;
    let (traces, _) = matching_traces(&state.spans, tenant, &filter, window, MAX_CANDIDATES, |_| true).await?;
    for spans in &traces {
        let trace = Trace::new(spans);
        for set in traceql::evaluate(&filter, &trace) {
            for i in set.spans {
                values.extend(traceql::attribute_values(&attribute, &trace, i).iter().map(typed));
            }
        }
    }
    Ok(values)
}

/// A tag as the v2 API names it (`resource.service.name`, `.http.url`, `name`) as an attribute.
fn parse_tag(tag: &str) -> Result<ast::Attribute, ApiError> {
    let bad = |detail: String| error(StatusCode::BAD_REQUEST, format!("invalid tag {tag:?}: {detail}"));
    let query = traceql::parse(&format!("{{ {tag} != nil }}")).map_err(|e| bad(e.message))?;
    match query.stages.first() {
        Some(ast::Stage::Spanset(ast::SpansetExpr::Filter(ast::FieldExpr::Binary { lhs, .. }))) => match lhs.as_ref() {
            ast::FieldExpr::Attribute(a) => Ok(a.clone()),
            _ => Err(bad("not an attribute".into())),
        },
        _ => Err(bad("not an attribute".into())),
    }
}

pub(crate) async fn tag_values_v1(
    State(state): State<TempoState>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    QueryParams(p): QueryParams<TagParams>,
) -> Response {
    let attribute = ast::Attribute::Named { scope: ast::AttributeScope::Unscoped, name: tag };
    match tag_values(&state, &headers, attribute, &p).await {
        Ok(values) => {
            let values: BTreeSet<String> = values.into_iter().map(|(_, v)| v).collect();
            json(serde_json::json!({ "tagValues": values }))
        }
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn tag_values_v2(
    State(state): State<TempoState>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    QueryParams(p): QueryParams<TagParams>,
) -> Reply {
    let attribute = parse_tag(&tag)?;
    let values = tag_values(&state, &headers, attribute, &p).await?;
    let values: Vec<serde_json::Value> =
        values.into_iter().map(|(kind, value)| serde_json::json!({ "type": kind, "value": value })).collect();
    Ok(Json(serde_json::json!({ "tagValues": values })))
}
