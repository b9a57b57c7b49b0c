//! Evaluating a LogQL query over the log store: log queries stream matching entries through
//! the pipeline until the limit; metric queries reduce each log range to series per step
//! (`range.rs`) and hand the expression around them to the PromQL engine (`bridge.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use lookout_storage::logs::{LineQuery, LogScan, LogStore, StreamInfo};
use lookout_storage::metrics::SeriesData;
use lookout_storage::{Label, Labels, Tenant};

use super::bridge::{RangeSeries, range_name, to_promql};
use super::error::LogqlError;
use super::pipeline::{Pipeline, pushdown};
use super::range::{self, Samples, Steps};
use super::syntax::parse_expr;
use super::syntax::{Expr, LogExpr, Matcher, RangeAggregation, RangeOp, SampleExpr};
use crate::promql::{Engine, EngineOptions, QueryError, Value};

/// Limits of the LogQL engine, with Loki's defaults.
#[derive(Debug, Clone)]
pub struct LogqlOptions {
    /// Most entries a log query may return (`max_entries_limit_per_query`).
    pub max_entries_limit: usize,
    /// Most series a metric query may return (`max_query_series`).
    pub max_series: usize,
    /// Longest a query may run.
    pub timeout: std::time::Duration,
    /// Longest `end - start` of a range query, in ns (`max_query_length`); 0 is no limit.
    pub max_range: i64,
}

impl Default for LogqlOptions {
    fn default() -> Self {
        LogqlOptions {
            max_entries_limit: 5000,
            max_series: 500,
            timeout: std::time::Duration::from_secs(120),
            max_range: 0,
        }
    }
}

/// One query, as the HTTP API received it.
#[derive(Debug, Clone)]
pub struct LogqlQuery {
    /// The LogQL text.
    pub query: String,
    /// First nanosecond (log queries: entries at or after it).
    pub start: i64,
    /// Last nanosecond (log queries: entries before it; metric queries: the last step).
    pub end: i64,
    /// Step of a range metric query, ms.
    pub step_ms: i64,
    /// Log queries: keep at most one entry per stream per this many nanoseconds.
    pub interval: Option<i64>,
    /// Most entries returned.
    pub limit: usize,
    /// Newest first.
    pub backward: bool,
    /// An instant query (`/query`) rather than a range query.
    pub instant: bool,
}

/// One stream of a log query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultStream {
    /// The stream's labels: all labels, or only the stream labels when categorized.
    pub labels: Labels,
    /// Entries in the query's direction.
    pub entries: Vec<ResultEntry>,
}

/// One entry of a log query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultEntry {
    /// Nanoseconds since the epoch.
    pub time: i64,
    /// The line, after the pipeline.
    pub line: String,
    /// Structured metadata (for the categorized form).
    pub metadata: Vec<Label>,
    /// Labels the pipeline extracted (for the categorized form).
    pub parsed: Vec<Label>,
}

/// What a query returns.
#[derive(Debug, Clone, PartialEq)]
pub enum LogqlValue {
    /// Log lines.
    Streams(Vec<ResultStream>),
    /// An instant vector (ms timestamps).
    Vector(Vec<crate::promql::VecSample>),
    /// A matrix (ms timestamps).
    Matrix(Vec<crate::promql::Series>),
    /// A scalar at a time (ms).
    Scalar {
        /// Time (ms).
        t: i64,
        /// Value.
        v: f64,
    },
}

/// What a query read, for Loki's `stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogqlStats {
    /// Lines read from the store.
    pub lines: u64,
    /// Bytes of those lines.
    pub bytes: u64,
    /// Entries returned.
    pub returned: u64,
    /// Seconds spent.
    pub exec_seconds: f64,
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LogqlOutput {
    /// The result.
    pub value: LogqlValue,
    /// Read statistics.
    pub stats: LogqlStats,
}

/// The LogQL engine.
#[derive(Clone)]
pub struct LogqlEngine {
    logs: Arc<LogStore>,
    options: LogqlOptions,
}

impl LogqlEngine {
    /// An engine over `logs`.
    pub fn new(logs: Arc<LogStore>, options: LogqlOptions) -> LogqlEngine {
        LogqlEngine { logs, options }
    }

    /// The store the engine reads.
    pub fn store(&self) -> &Arc<LogStore> {
        &self.logs
    }

    /// The engine's limits.
    pub fn options(&self) -> &LogqlOptions {
        &self.options
    }

    /// Runs a query. `categorize` groups log results by stream labels only, with metadata and
    /// extracted labels beside each entry (`X-Loki-Response-Encoding-Flags: categorize-labels`).
    pub fn query(&self, tenant: &Tenant, q: &LogqlQuery, categorize: bool) -> Result<LogqlOutput, LogqlError> {
        let started = Instant::now();
        let expr = parse_expr(&q.query).map_err(|e| LogqlError::BadRequest(e.to_string()))?;
        if self.options.max_range > 0 && !q.instant && q.end - q.start > self.options.max_range {
            crate::limits::count("max_range");
            return Err(LogqlError::BadRequest(format!(
                "the query time range exceeds the limit (query length: {}, limit: {}) (query.max_range)",
                crate::format_duration_ms((q.end - q.start) / 1_000_000),
                crate::format_duration_ms(self.options.max_range / 1_000_000)
            )));
        }
        let mut stats = LogqlStats::default();
        let value = match &expr {
            Expr::Log(log) => {
                if q.instant {
                    return Err(LogqlError::BadRequest(
                        "log queries are not supported as an instant query type, please change your query to a range query type".into(),
                    ));
                }
                if q.limit > self.options.max_entries_limit {
                    crate::limits::count("max_entries_limit");
                    return Err(LogqlError::BadRequest(format!(
                        "max entries limit per query exceeded, limit > max_entries_limit ({} > {})",
                        q.limit, self.options.max_entries_limit
                    )));
                }
                LogqlValue::Streams(self.log_query(tenant, log, q, categorize, &mut stats, started)?)
            }
            Expr::Sample(sample) => self.metric_query(tenant, sample, q, &mut stats, started)?,
        };
        stats.exec_seconds = started.elapsed().as_secs_f64();
        Ok(LogqlOutput { value, stats })
    }

    /// The tenant's streams matching `matchers` with entries possibly in `[start, end)`.
    pub fn select_streams(&self, tenant: &Tenant, matchers: &[Matcher], start: i64, end: i64) -> Vec<StreamInfo> {
        self.logs.streams(tenant, start, end, &|labels| matches_all(matchers, labels))
    }

    fn check_time(&self, started: Instant) -> Result<(), LogqlError> {
        if started.elapsed() > self.options.timeout {
            crate::limits::count("timeout");
            Err(LogqlError::Timeout)
        } else {
            Ok(())
        }
    }

    fn log_query(
        &self,
        tenant: &Tenant,
        log: &LogExpr,
        q: &LogqlQuery,
        categorize: bool,
        stats: &mut LogqlStats,
        started: Instant,
    ) -> Result<Vec<ResultStream>, LogqlError> {
        let streams = self.select_streams(tenant, &log.matchers, q.start, q.end);
        let ids: Vec<u64> = streams.iter().map(|s| s.id).collect();
        let by_id: HashMap<u64, &Labels> = streams.iter().map(|s| (s.id, &s.labels)).collect();
        let mut pipeline = Pipeline::new(&log.stages, None)?;
        let line_query = pushdown(&log.stages, streams.iter().any(|s| s.labels.get("trace_id").is_some()));
        let scan =
            LogScan { streams: &ids, start: q.start, end: q.end, backward: q.backward, line: line_query.as_ref() };
        let mut groups: HashMap<Labels, ResultStream> = HashMap::new();
        let mut last_kept: HashMap<Labels, i64> = HashMap::new();
        let mut returned = 0usize;
        let mut timed_out = false;
        let mut checked = 0u32;
        let limit = q.limit;
        self.logs
            .scan(&scan, &mut |entry| {
                stats.lines += 1;
                stats.bytes += entry.line.len() as u64;
                checked += 1;
                if checked.is_multiple_of(4096) && started.elapsed() > self.options.timeout {
                    timed_out = true;
                    return false;
                }
                let Some(stream) = by_id.get(&entry.stream) else { return true };
                let Some(out) = pipeline.run(entry.time, &entry.line, stream, &entry.metadata) else { return true };
                let key = if categorize { out.stream.clone() } else { out.labels.clone() };
                if let Some(interval) = q.interval {
                    let kept = last_kept.get(&key);
                    if kept.is_some_and(|k| (entry.time - k).abs() < interval) {
                        return true;
                    }
                    last_kept.insert(key.clone(), entry.time);
                }
                let group =
                    groups.entry(key.clone()).or_insert_with(|| ResultStream { labels: key, entries: Vec::new() });
                group.entries.push(ResultEntry {
                    time: entry.time,
                    line: out.line,
                    metadata: if categorize { out.metadata } else { Vec::new() },
                    parsed: if categorize { out.parsed } else { Vec::new() },
                });
                returned += 1;
                returned < limit
            })
            .map_err(|e| LogqlError::Store(e.to_string()))?;
        if timed_out {
            crate::limits::count("timeout");
            return Err(LogqlError::Timeout);
        }
        stats.returned = returned as u64;
        let mut result: Vec<ResultStream> = groups.into_values().collect();
        result.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(result)
    }

    fn metric_query(
        &self,
        tenant: &Tenant,
        expr: &SampleExpr,
        q: &LogqlQuery,
        stats: &mut LogqlStats,
        started: Instant,
    ) -> Result<LogqlValue, LogqlError> {
        let start_ms = q.start.div_euclid(1_000_000);
        let end_ms = if q.instant { start_ms } else { q.end.div_euclid(1_000_000) };
        let step = if q.instant { 0 } else { q.step_ms.max(1) };
        let steps = Steps { start: start_ms, end: end_ms, step: step.max(1) };
        let mut ranges = Vec::new();
        collect_ranges(expr, None, &mut ranges);
        let mut series = HashMap::new();
        for (n, (agg, summed_by)) in ranges.into_iter().enumerate() {
            self.check_time(started)?;
            let name = range_name(n);
            let by_columns = match summed_by {
                Some(group) => self.by_columns(tenant, agg, steps, group, stats, &name)?,
                None => None,
            };
            let evaluated = match by_columns {
                Some(evaluated) => evaluated,
                None => self.range_aggregation(tenant, agg, steps, stats, started, &name)?,
            };
            series.insert(name, evaluated);
        }
        let promql = to_promql(expr);
        let engine = Engine::new(EngineOptions {
            lookback_delta: 1,
            timeout: self.options.timeout.saturating_sub(started.elapsed()),
            ..EngineOptions::default()
        });
        let querier = RangeSeries { series };
        let tenant = Tenant::default();
        let output = if q.instant {
            engine.instant(&querier, &tenant, &promql, start_ms)
        } else {
            engine.range(&querier, &tenant, &promql, start_ms, end_ms, step.max(1))
        }
        .map_err(|e| match e {
            QueryError::Timeout(_) => LogqlError::Timeout,
            QueryError::Canceled(_) => LogqlError::Canceled,
            QueryError::BadData(m) | QueryError::Execution(m) => LogqlError::BadRequest(m),
        })?;
        let strip = |mut labels: Labels| {
            labels.remove("__name__");
            labels
        };
        let value = match output.value {
            Value::Vector(v) => LogqlValue::Vector(
                v.into_iter().map(|s| crate::promql::VecSample { labels: strip(s.labels), ..s }).collect(),
            ),
            Value::Matrix(m) => LogqlValue::Matrix(
                m.into_iter().map(|s| crate::promql::Series { labels: strip(s.labels), ..s }).collect(),
            ),
            Value::Scalar { t, v } => LogqlValue::Scalar { t, v },
            Value::String { .. } => return Err(LogqlError::BadRequest("string results are not supported".into())),
        };
        let count = match &value {
            LogqlValue::Vector(v) => v.len(),
            LogqlValue::Matrix(m) => m.len(),
            _ => 0,
        };
        if count > self.options.max_series {
            crate::limits::count("max_query_series");
            return Err(LogqlError::BadRequest(format!(
                "maximum of series ({}) reached for a single query",
                self.options.max_series
            )));
        }
        Ok(value)
    }

    /// `sum by (group) (f({selector}[range]))` for a counting `f` over a selector without a
    /// pipeline (but `| drop __error__`), read from the index's columns without reading a line:
    /// each entry only adds one (or its size) to its group. `None` when the answer needs more
    /// than the columns have — a grouping label that is also structured metadata other than
    /// `detected_level`.
    fn by_columns(
        &self,
        tenant: &Tenant,
        agg: &RangeAggregation,
        steps: Steps,
        group: &[String],
        stats: &mut LogqlStats,
        name: &str,
    ) -> Result<Option<Vec<SeriesData>>, LogqlError> {
        use super::syntax::{NamedMatcher, Stage};
        let counting =
            matches!(agg.op, RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate);
        let only_error_drops = agg.range.log.stages.iter().all(|s| match s {
            Stage::Drop(list) => {
                list.iter().all(|m| matches!(m, NamedMatcher::Name(n) if n == "__error__" || n == "__error_details__"))
            }
            _ => false,
        });
        if !counting || !only_error_drops || agg.range.unwrap.is_some() || agg.grouping.is_some() {
            return Ok(None);
        }
        let range_ns = i64::try_from(agg.range.interval.as_nanos()).unwrap_or(i64::MAX);
        let offset = agg.range.offset;
        let first = steps.start.saturating_mul(1_000_000).saturating_sub(offset).saturating_sub(range_ns);
        let last = steps.end.saturating_mul(1_000_000).saturating_sub(offset);
        let streams = self.select_streams(tenant, &agg.range.log.matchers, first + 1, last + 1);
        let by_level = group.iter().any(|g| g == "detected_level");
        if by_level && streams.iter().any(|s| s.labels.get("detected_level").is_some()) {
            return Ok(None);
        }
        let metadata = self.logs.metadata_names(first + 1, last + 1);
        if group.iter().any(|g| g != "detected_level" && metadata.contains(g)) {
            return Ok(None);
        }
        // Each stream's part of the group key, interned.
        let mut keys: Vec<Labels> = Vec::new();
        let mut key_of: HashMap<u64, usize> = HashMap::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for s in &streams {
            let part =
                Labels::new(group.iter().filter_map(|g| s.labels.get(g).map(|v| Label::new(g.clone(), v))).collect());
            let k = *index.entry(part.clone()).or_insert_with(|| {
                keys.push(part);
                keys.len() - 1
            });
            key_of.insert(s.id, k);
        }
        // Window edges: an entry adds to the interval between the two edges around it.
        let mut edges: Vec<i64> = steps
            .times()
            .flat_map(|t| {
                let end = t.saturating_mul(1_000_000).saturating_sub(offset);
                [end.saturating_sub(range_ns), end]
            })
            .collect();
        edges.sort_unstable();
        edges.dedup();
        let levels = if by_level { lookout_storage::logs::LEVELS.len() } else { 1 };
        let intervals = edges.len().saturating_sub(1);
        let mut counts = vec![0u64; keys.len() * levels * intervals];
        let mut sums = vec![0f64; keys.len() * levels * intervals];
        let ids: Vec<u64> = streams.iter().map(|s| s.id).collect();
        let scan = LogScan { streams: &ids, start: first + 1, end: last + 1, backward: false, line: None };
        let mut read = 0u64;
        let mut other_level = false;
        self.logs
            .scan_columns(&scan, &mut |stream, time, size, level| {
                read += 1;
                if level as usize >= lookout_storage::logs::LEVELS.len() {
                    other_level = true;
                }
                let Some(&k) = key_of.get(&stream) else { return };
                let i = edges.partition_point(|e| *e < time);
                if i == 0 || i > intervals {
                    return;
                }
                let level = if by_level { (level as usize).min(levels - 1) } else { 0 };
                let slot = (k * levels + level) * intervals + (i - 1);
                counts[slot] += 1;
                sums[slot] += size as f64;
            })
            .map_err(|e| LogqlError::Store(e.to_string()))?;
        stats.lines += read;
        if by_level && other_level {
            // Some `detected_level` is not one of the usual words: only the lines have it.
            return Ok(None);
        }
        let range_secs = range_ns as f64 / 1e9;
        let mut out = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            for level in 0..levels {
                let base = (k * levels + level) * intervals;
                let mut count_prefix = vec![0u64; intervals + 1];
                let mut sum_prefix = vec![0f64; intervals + 1];
                for i in 0..intervals {
                    count_prefix[i + 1] = count_prefix[i] + counts[base + i];
                    sum_prefix[i + 1] = sum_prefix[i] + sums[base + i];
                }
                let mut points = Vec::new();
                for t in steps.times() {
                    let end = t.saturating_mul(1_000_000).saturating_sub(offset);
                    let (lo, hi) = (
                        edges.partition_point(|e| *e < end.saturating_sub(range_ns)),
                        edges.partition_point(|e| *e < end),
                    );
                    let n = count_prefix[hi] - count_prefix[lo];
                    if n == 0 {
                        continue;
                    }
                    let bytes = sum_prefix[hi] - sum_prefix[lo];
                    let v = match agg.op {
                        RangeOp::CountOverTime => n as f64,
                        RangeOp::Rate => n as f64 / range_secs,
                        RangeOp::BytesOverTime => bytes,
                        _ => bytes / range_secs,
                    };
                    points.push(lookout_storage::Sample { t, v });
                }
                if points.is_empty() {
                    continue;
                }
                let mut labels = key.clone();
                if by_level {
                    labels.set("detected_level", lookout_storage::logs::LEVELS[level]);
                }
                labels.set("__name__", name);
                out.push(SeriesData { labels, samples: points, histograms: Vec::new() });
            }
        }
        Ok(Some(out))
    }

    /// The series of one range aggregation, one point per step.
    fn range_aggregation(
        &self,
        tenant: &Tenant,
        agg: &RangeAggregation,
        steps: Steps,
        stats: &mut LogqlStats,
        started: Instant,
        name: &str,
    ) -> Result<Vec<SeriesData>, LogqlError> {
        let range_ns = i64::try_from(agg.range.interval.as_nanos()).unwrap_or(i64::MAX);
        let offset = agg.range.offset;
        let first = steps.start.saturating_mul(1_000_000).saturating_sub(offset).saturating_sub(range_ns);
        let last = steps.end.saturating_mul(1_000_000).saturating_sub(offset);
        let log = &agg.range.log;
        let streams = self.select_streams(tenant, &log.matchers, first + 1, last + 1);
        let ids: Vec<u64> = streams.iter().map(|s| s.id).collect();
        let by_id: HashMap<u64, &Labels> = streams.iter().map(|s| (s.id, &s.labels)).collect();
        let mut pipeline = Pipeline::new(&log.stages, agg.range.unwrap.as_ref())?;
        let line_query: Option<LineQuery> =
            pushdown(&log.stages, streams.iter().any(|s| s.labels.get("trace_id").is_some()));
        let scan =
            LogScan { streams: &ids, start: first + 1, end: last + 1, backward: false, line: line_query.as_ref() };
        let mut samples: HashMap<Labels, Samples> = HashMap::new();
        let mut failure: Option<LogqlError> = None;
        let mut checked = 0u32;
        let bytes = matches!(agg.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
        let unwrapped = agg.range.unwrap.is_some();
        self.logs
            .scan(&scan, &mut |entry| {
                stats.lines += 1;
                stats.bytes += entry.line.len() as u64;
                checked += 1;
                if checked.is_multiple_of(4096) && started.elapsed() > self.options.timeout {
                    crate::limits::count("timeout");
                    failure = Some(LogqlError::Timeout);
                    return false;
                }
                let Some(stream) = by_id.get(&entry.stream) else { return true };
                let Some(out) = pipeline.run(entry.time, &entry.line, stream, &entry.metadata) else { return true };
                if let Some(kind) = out.labels.get("__error__") {
                    failure = Some(LogqlError::Pipeline { kind: kind.to_owned(), series: prom_labels(&out.labels) });
                    return false;
                }
                let value = if unwrapped {
                    out.value
                } else if bytes {
                    out.line.len() as f64
                } else {
                    1.0
                };
                samples.entry(out.labels).or_default().push((entry.time, value));
                true
            })
            .map_err(|e| LogqlError::Store(e.to_string()))?;
        if let Some(e) = failure {
            return Err(e);
        }
        if agg.op == RangeOp::AbsentOverTime {
            let labels = Labels::new(
                log.matchers
                    .iter()
                    .filter(|m| m.op == super::syntax::MatchOp::Equal)
                    .map(|m| Label::new(m.name.clone(), m.value.clone()))
                    .collect(),
            );
            return Ok(range::absent(range_ns, offset, steps, &samples, labels, name));
        }
        let window = range::Window { range_ns, offset_ns: offset, steps };
        Ok(range::evaluate(agg.op, agg.param, agg.grouping.as_ref(), window, samples, name))
    }
}

/// Range aggregations in the order `bridge::to_promql` numbers them, each with the labels of
/// the `sum by (…)` directly around it, if there is one.
fn collect_ranges<'a>(
    expr: &'a SampleExpr,
    summed_by: Option<&'a [String]>,
    out: &mut Vec<(&'a RangeAggregation, Option<&'a [String]>)>,
) {
    match expr {
        SampleExpr::RangeAggregation(r) => out.push((r, summed_by)),
        SampleExpr::VectorAggregation(v) => {
            let by = (v.op == super::syntax::VectorOp::Sum && !v.grouping.without).then_some(&v.grouping.labels[..]);
            collect_ranges(&v.expr, by, out)
        }
        SampleExpr::LabelReplace(l) => collect_ranges(&l.expr, None, out),
        SampleExpr::BinOp(b) => {
            collect_ranges(&b.lhs, None, out);
            collect_ranges(&b.rhs, None, out);
        }
        SampleExpr::Literal(_) | SampleExpr::Vector(_) => {}
    }
}

/// Whether every matcher holds for `labels` (a missing label reads as empty).
pub(crate) fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// Labels as Prometheus's `Labels.String()` writes them: `{a="1", b="2"}`.
pub(crate) fn prom_labels(labels: &Labels) -> String {
    let inner: Vec<String> =
        labels.iter().map(|l| format!("{}={}", l.name, serde_json::to_string(&l.value).unwrap_or_default())).collect();
    format!("{{{}}}", inner.join(", "))
}
