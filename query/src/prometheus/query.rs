//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` and `/api/v1/parse_query`:
//! parameters read in Prometheus's order, the query run on the blocking pool under the
//! concurrency limit, the result written as Prometheus writes it.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use lookout_storage::FloatHistogram;

use super::PrometheusState;
use super::params::{Params, parse_time, tenant};
use super::reply::{Answer, ApiError, LabelMap, Reply, TRUNCATED, bad_data, go_float, go_timestamp, invalid_param};
use crate::promql::{Engine, QueryError, QueryOutput, Value};

/// Most points per series a range query may ask for, as in Prometheus.
const MAX_POINTS: i64 = 11_000;

/// `/api/v1/query`: evaluates `query` at `time` (default now).
pub(crate) async fn query(State(state): State<PrometheusState>, headers: HeaderMap, params: Params) -> Reply {
    let tenant = tenant(&headers)?;
    let limit = params.limit()?;
    let time = params.time("time", now_ms())?;
    let timeout = timeout(&params)?;
    let stats = !params.get("stats").is_empty();
    let query = params.get("query").to_owned();
    let started = Instant::now();
    let out = run(&state, timeout, move |engine, tsdb| engine.instant(tsdb, &tenant, &query, time)).await?;
    respond(out, limit, stats.then_some(started))
}

/// `/api/v1/query_range`: evaluates `query` from `start` to `end` every `step`.
pub(crate) async fn query_range(State(state): State<PrometheusState>, headers: HeaderMap, params: Params) -> Reply {
    let tenant = tenant(&headers)?;
    let limit = params.limit()?;
    let start = parse_time(params.get("start")).map_err(|e| invalid_param("start", e))?;
    let end = parse_time(params.get("end")).map_err(|e| invalid_param("end", e))?;
    if end < start {
        return Err(bad_data("end timestamp must not be before start time"));
    }
    let max_range = state.engine.options().max_range;
    if max_range > 0 && end - start > max_range {
        crate::limits::count("max_range");
        return Err(bad_data(format!(
            "the query time range exceeds the limit (query length: {}, limit: {}) (query.max_range)",
            crate::format_duration_ms(end - start),
            crate::format_duration_ms(max_range)
        )));
    }
    let step = parse_duration(params.get("step")).map_err(|e| invalid_param("step", e))?;
    if step <= 0 {
        return Err(bad_data("zero or negative query resolution step widths are not accepted. Try a positive integer"));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = timeout(&params)?;
    let stats = !params.get("stats").is_empty();
    let query = params.get("query").to_owned();
    let started = Instant::now();
    let out = run(&state, timeout, move |engine, tsdb| engine.range(tsdb, &tenant, &query, start, end, step)).await?;
    respond(out, limit, stats.then_some(started))
}

/// `/api/v1/format_query`: the query pretty-printed.
pub(crate) async fn format_query(params: Params) -> Reply {
    let expr = crate::promql::parse(params.get("query")).map_err(|e| invalid_param("query", e))?;
    Answer::data(&expr.prettify())
}

/// `/api/v1/parse_query`: the query's syntax tree as JSON.
pub(crate) async fn parse_query(params: Params) -> Reply {
    let expr = crate::promql::parse(params.get("query")).map_err(|e| invalid_param("query", e))?;
    Answer::data(&expr)
}

/// Now, in milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The `timeout` parameter, if given.
fn timeout(params: &Params) -> Result<Option<Duration>, ApiError> {
    let text = params.get("timeout");
    if text.is_empty() {
        return Ok(None);
    }
    let ms = parse_duration(text).map_err(|e| invalid_param("timeout", e))?;
    Ok(Some(Duration::from_millis(ms.max(0) as u64)))
}

/// A duration parameter in ms (`parseDuration`): seconds as a float, or a Prometheus duration.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("cannot parse {text:?} to a valid duration");
    if let Ok(seconds) = text.parse::<f64>() {
        let ms = seconds * 1000.0;
        if !ms.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
            return Err(format!("cannot parse {text:?} to a valid duration. It overflows int64"));
        }
        return Ok(ms.round() as i64);
    }
    promql_parser::util::parse_duration(text).map(|d| d.as_millis() as i64).map_err(|_| invalid())
}

/// Runs a query on the blocking pool, at most the configured number at once, with the
/// request's timeout when it is shorter than the engine's.
async fn run(
    state: &PrometheusState,
    timeout: Option<Duration>,
    f: impl FnOnce(&Engine, &dyn lookout_storage::metrics::Querier) -> Result<QueryOutput, QueryError> + Send + 'static,
) -> Result<QueryOutput, ApiError> {
    let _permit = crate::limits::admit(&state.queries, "prometheus")
        .await
        .map_err(|_| ApiError::Unavailable("query engine stopped".into()))?;
    // The query stops when this request is dropped, as when its client goes away.
    let canceled = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(Arc::clone(&canceled));
    let mut options = state.engine.options().clone();
    if let Some(t) = timeout {
        options.timeout = options.timeout.min(t);
    }
    options.canceled = Some(canceled);
    let engine = Engine::new(options);
    let tsdb = Arc::clone(&state.tsdb);
    let out = tokio::task::spawn_blocking(move || f(&engine, tsdb.as_ref()))
        .await
        .map_err(|e| ApiError::Internal(format!("query panicked: {e}")))?;
    out.map_err(|e| match e {
        QueryError::BadData(m) => invalid_param("query", m),
        QueryError::Execution(m) => ApiError::Execution(m),
        e @ QueryError::Timeout(_) => ApiError::Timeout(e.to_string()),
        e @ QueryError::Canceled(_) => ApiError::Canceled(e.to_string()),
    })
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A native histogram as Prometheus writes it (`jsonutil.MarshalHistogram`): count, sum and
/// the non-empty buckets as `[boundary rule, lower, upper, count]`, the rule 0 for `(a,b]`,
/// 1 for `[a,b)`, 2 for `(a,b)` and 3 for `[a,b]`.
fn histogram_json(h: &FloatHistogram) -> String {
    let mut out = format!(r#"{{"count":"{}","sum":"{}""#, go_float(h.count), go_float(h.sum));
    let buckets: Vec<String> = h
        .all_buckets()
        .into_iter()
        .filter(|b| b.count != 0.0)
        .map(|b| {
            let rule = match (b.lower_inclusive, b.upper_inclusive) {
                (false, true) => 0,
                (true, false) => 1,
                (false, false) => 2,
                (true, true) => 3,
            };
            format!(r#"[{rule},"{}","{}","{}"]"#, go_float(b.lower), go_float(b.upper), go_float(b.count))
        })
        .collect();
    if !buckets.is_empty() {
        let _ = write!(out, r#","buckets":[{}]"#, buckets.join(","));
    }
    out.push('}');
    out
}

/// Writes a result as Prometheus does: `{"resultType":…,"result":…}`, with warnings and infos.
fn respond(out: QueryOutput, limit: usize, stats: Option<Instant>) -> Reply {
    let mut json = String::with_capacity(1024);
    let mut truncated = false;
    let labels = |l| serde_json::to_string(&LabelMap(l)).map_err(|e| ApiError::Internal(e.to_string()));
    match &out.value {
        Value::Scalar { t, v } => {
            let _ = write!(json, r#"{{"resultType":"scalar","result":[{},"{}"]}}"#, go_timestamp(*t), go_float(*v));
        }
        Value::String { t, v } => {
            let _ = write!(
                json,
                r#"{{"resultType":"string","result":[{},{}]}}"#,
                go_timestamp(*t),
                serde_json::Value::from(v.as_str())
            );
        }
        Value::Vector(samples) => {
            json.push_str(r#"{"resultType":"vector","result":["#);
            for (i, s) in samples.iter().enumerate() {
                if limit > 0 && i >= limit {
                    truncated = true;
                    break;
                }
                if i > 0 {
                    json.push(',');
                }
                match &s.h {
                    None => write!(
                        json,
                        r#"{{"metric":{},"value":[{},"{}"]}}"#,
                        labels(&s.labels)?,
                        go_timestamp(s.t),
                        go_float(s.v)
                    ),
                    Some(h) => write!(
                        json,
                        r#"{{"metric":{},"histogram":[{},{}]}}"#,
                        labels(&s.labels)?,
                        go_timestamp(s.t),
                        histogram_json(h)
                    ),
                }
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            }
            json.push_str("]}");
        }
        Value::Matrix(series) => {
            json.push_str(r#"{"resultType":"matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if limit > 0 && i >= limit {
                    truncated = true;
                    break;
                }
                if i > 0 {
                    json.push(',');
                }
                let _ = write!(json, r#"{{"metric":{}"#, labels(&s.labels)?);
                // As Prometheus: `values` for floats, `histograms` for histograms, each only
                // when there are some.
                if !s.points.is_empty() || s.histograms.is_empty() {
                    json.push_str(r#","values":["#);
                    for (j, p) in s.points.iter().enumerate() {
                        if j > 0 {
                            json.push(',');
                        }
                        let _ = write!(json, r#"[{},"{}"]"#, go_timestamp(p.t), go_float(p.v));
                    }
                    json.push(']');
                }
                if !s.histograms.is_empty() {
                    json.push_str(r#","histograms":["#);
                    for (j, p) in s.histograms.iter().enumerate() {
                        if j > 0 {
                            json.push(',');
                        }
                        let _ = write!(json, "[{},{}]", go_timestamp(p.t), histogram_json(&p.h));
                    }
                    json.push(']');
                }
                json.push('}');
            }
            json.push_str("]}");
        }
    }
    if let Some(started) = stats {
        // Splice the stats into the data object, as Prometheus reports them beside the result.
        json.pop();
        let secs = started.elapsed().as_secs_f64();
        let _ = write!(
            json,
            r#","stats":{{"timings":{{"evalTotalTime":{secs},"resultSortTime":0,"queryPreparationTime":0,"innerEvalTime":{secs},"execQueueTime":0,"execTotalTime":{secs}}},"samples":{{"totalQueryableSamples":{n},"peakSamples":{n}}}}}}}"#,
            n = out.samples_read
        );
    }
    let mut warnings = out.annotations.warnings;
    if truncated {
        warnings.push(TRUNCATED.to_owned());
    }
    Ok(Answer::Data { json, warnings, infos: out.annotations.infos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_written_as_prometheus_writes_them() {
        let mut h =
            FloatHistogram { count: 5.0, sum: 2.0, zero_threshold: 0.001, zero_count: 1.0, ..Default::default() };
        h.set_positive([(0, 1.0), (1, 2.0), (2, 0.0), (3, 0.0)]);
        h.set_negative([(0, 1.0)]);
        assert_eq!(
            histogram_json(&h),
            r#"{"count":"5","sum":"2","buckets":[[1,"-1","-0.5","1"],[3,"-0.001","0.001","1"],[0,"0.5","1","1"],[0,"1","2","2"]]}"#
        );
        assert_eq!(histogram_json(&FloatHistogram::default()), r#"{"count":"0","sum":"0"}"#);
    }
}
