//! The endpoint handlers: read the parameters in Prometheus's order (so that the first error
//! reported is Prometheus's), ask the store, shape the answer.

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use lookout_storage::MetricMetadata;
use lookout_storage::metrics::TsdbStatus;
use serde::Serialize;

use super::PrometheusState;
use super::params::{MAX_TIME, MIN_TIME, Params, expr_selectors, label_name, tenant};
use super::read::Range;
use super::reply::{Answer, ApiError, LabelMap, Reply, bad_data, exemplars_json, invalid_param};

/// `/api/v1/series`: the label sets of the series matching `match[]`.
pub(crate) async fn series(State(state): State<PrometheusState>, headers: HeaderMap, params: Params) -> Reply {
    let tenant = tenant(&headers)?;
    if params.all("match[]").next().is_none() {
        return Err(bad_data("no match[] parameter provided"));
    }
    let max = params.limit()?;
    let range = Range { start: params.time("start", MIN_TIME)?, end: params.time("end", MAX_TIME)? };
    let sets = params.matchers()?;
    let found = state.series(tenant, sets, range, max).await?;
    let maps: Vec<LabelMap<'_>> = found.items.iter().map(LabelMap).collect();
    Answer::limited(&maps, found.truncated)
}

/// `/api/v1/labels`: label names, of the series matching `match[]` if given.
pub(crate) async fn labels(State(state): State<PrometheusState>, headers: HeaderMap, params: Params) -> Reply {
    let tenant = tenant(&headers)?;
    let max = params.limit()?;
    let range = Range { start: params.time("start", MIN_TIME)?, end: params.time("end", MAX_TIME)? };
    let sets = params.matchers()?;
    let found = state.label_names(tenant, sets, range, max).await?;
    Answer::limited(&found.items, found.truncated)
}

/// `/api/v1/label/{name}/values`: values of one label, of the series matching `match[]` if given.
pub(crate) async fn label_values(
    State(state): State<PrometheusState>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    params: Params,
) -> Reply {
    let tenant = tenant(&headers)?;
    let name = label_name(&name.map(|Path(n)| n).unwrap_or_default())?;
    let max = params.limit()?;
    let range = Range { start: params.time("start", MIN_TIME)?, end: params.time("end", MAX_TIME)? };
    let sets = params.matchers()?;
    let found = state.label_values(tenant, name, sets, range, max).await?;
    Answer::limited(&found.items, found.truncated)
}

/// `/api/v1/query_exemplars`: exemplars of every selector in a PromQL expression.
pub(crate) async fn query_exemplars(State(state): State<PrometheusState>, headers: HeaderMap, params: Params) -> Reply {
    let tenant = tenant(&headers)?;
    let range = Range { start: params.time("start", MIN_TIME)?, end: params.time("end", MAX_TIME)? };
    if range.end < range.start {
        return Err(bad_data("end timestamp must not be before start timestamp"));
    }
    let sets = expr_selectors(params.get("query"))?;
    if sets.is_empty() {
        return Ok(Answer::NoContent);
    }
    let found = state.exemplars(tenant, sets, range).await?;
    Ok(Answer::raw(exemplars_json(&found)?, false))
}

/// One entry of `/api/v1/metadata`.
#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    help: &'a str,
    unit: &'a str,
}

/// `/api/v1/metadata`: type, help and unit by metric family.
pub(crate) async fn metadata(State(state): State<PrometheusState>, headers: HeaderMap, params: Params) -> Reply {
    let tenant = tenant(&headers)?;
    let families = params.number("limit", -1, "limit must be a number")?;
    let per_metric = params.number("limit_per_metric", -1, "limit_per_metric must be a number")?;
    let metric = Some(params.get("metric")).filter(|m| !m.is_empty()).map(str::to_owned);
    let found = state.metadata(tenant, metric, usize::try_from(families).ok()).await?;
    Answer::data(&by_family(&found, usize::try_from(per_metric).ok().filter(|&n| n > 0)))
}

/// Metadata grouped by family, at most `per_metric` entries each.
fn by_family(found: &[MetricMetadata], per_metric: Option<usize>) -> BTreeMap<&str, Vec<Metadata<'_>>> {
    let mut out: BTreeMap<&str, Vec<Metadata<'_>>> = BTreeMap::new();
    for m in found {
        let entries = out.entry(m.metric_family.as_str()).or_default();
        if per_metric.is_none_or(|n| entries.len() < n) {
            entries.push(Metadata { kind: m.kind.as_str(), help: &m.help, unit: &m.unit });
        }
    }
    out
}

/// `POST /api/v1/admin/tsdb/snapshot?skip_head=…`: blocks linked and the head written as
/// blocks into `metrics/snapshots/<name>/`.
pub(crate) async fn snapshot(
    State(state): State<PrometheusState>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Reply {
    if !state.admin_api {
        return Err(ApiError::Unavailable("admin APIs disabled".into()));
    }
    let skip_head = match query.get("skip_head").map(String::as_str) {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(invalid_param("skip_head", format!("strconv.ParseBool: parsing {other:?}: invalid syntax")));
        }
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let name = format!("{}-{:016x}", now.as_secs(), now.as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let tsdb = state.tsdb.clone();
    let made = name.clone();
    tokio::task::spawn_blocking(move || tsdb.snapshot(&made, skip_head))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("create snapshot: {e}")))?;
    Answer::data(&serde_json::json!({ "name": name }))
}

/// `/api/v1/status/buildinfo`.
pub(crate) async fn buildinfo(State(state): State<PrometheusState>) -> Reply {
    Answer::data(&state.build)
}

/// One `{"name","value"}` entry of `/api/v1/status/tsdb`.
#[derive(Serialize)]
struct Stat<'a> {
    name: &'a str,
    value: u64,
}

fn stats(list: &[(String, u64)]) -> Vec<Stat<'_>> {
    list.iter().map(|(name, value)| Stat { name, value: *value }).collect()
}

/// `headStats` of `/api/v1/status/tsdb`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStats {
    num_series: u64,
    num_label_pairs: u64,
    chunk_count: u64,
    min_time: i64,
    max_time: i64,
}

/// The data of `/api/v1/status/tsdb`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    head_stats: HeadStats,
    series_count_by_metric_name: Vec<Stat<'a>>,
    label_value_count_by_label_name: Vec<Stat<'a>>,
    memory_in_bytes_by_label_name: Vec<Stat<'a>>,
    series_count_by_label_value_pair: Vec<Stat<'a>>,
}

/// `/api/v1/status/tsdb`: head cardinality, `limit` (default 10) entries per list.
pub(crate) async fn tsdb_status(State(state): State<PrometheusState>, headers: HeaderMap, params: Params) -> Reply {
    let tenant = tenant(&headers)?;
    let top = params.number("limit", 10, "limit must be a positive number")?;
    let top =
        usize::try_from(top).ok().filter(|&n| n > 0).ok_or_else(|| bad_data("limit must be a positive number"))?;
    let s: TsdbStatus = state.status(tenant, top).await?;
    Answer::data(&Status {
        head_stats: HeadStats {
            num_series: s.num_series,
            num_label_pairs: s.num_label_pairs,
            chunk_count: s.chunk_count,
            // An empty head reports the extremes Prometheus's empty head starts from.
            min_time: s.min_time.unwrap_or(i64::MAX),
            max_time: s.max_time.unwrap_or(i64::MIN),
        },
        series_count_by_metric_name: stats(&s.series_count_by_metric_name),
        label_value_count_by_label_name: stats(&s.label_value_count_by_label_name),
        memory_in_bytes_by_label_name: stats(&s.memory_in_bytes_by_label_name),
        series_count_by_label_value_pair: stats(&s.series_count_by_label_value_pair),
    })
}
