//! The evaluator: every expression is evaluated over all steps of the query at once.
//!
//! # Selection rules (Prometheus 3)
//! - An evaluation step at time `t` reads its selectors at `ref = (@ or t) - offset`.
//! - An instant selector takes, per series, the newest sample in `(ref - lookback, ref]`; none
//!   when that sample is a staleness marker.
//! - A range selector `x[r]` takes the samples in `(ref - r, ref]`, staleness markers left out.
//! - A subquery `e[r:s]` evaluates `e` at the multiples of `s` in `(ref - r, ref]`; `s` defaults
//!   to the engine's subquery step.
//! - `@ start()` and `@ end()` are the query's own start and end, even inside subqueries.
//!
//! # Metric names
//! Operations that change a metric's meaning (arithmetic, most functions) mark their output
//! series instead of removing `__name__` at once (Prometheus's delayed name removal): the name
//! still takes part in `by (__name__)` grouping and label functions, and is removed when the
//! query ends. Two series that become equal then are an error, or, in a range query, merge
//! when they never share a step.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lookout_storage::metrics::{MatchOp, Matcher, Querier, SeriesData};
use lookout_storage::{FloatHistogram, HistogramSample, Labels, Sample, Tenant, is_stale_nan};
use promql_parser::label::MatchOp as ParserOp;
use promql_parser::parser::token;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use super::value::{Annotations, QueryOutput, Series, Value, VecSample};
use super::{EngineOptions, QueryError, aggregate, binary, functions};

/// The label that holds a metric's name.
pub(super) const NAME: &str = "__name__";

/// Prometheus's error text when a query holds too many samples.
const TOO_MANY_SAMPLES: &str = "query processing would load too many samples into memory in query execution";

/// The evaluation steps of one (sub)query: `start`, `start + step`, … up to `end`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Steps {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Steps {
    pub fn new(start: i64, end: i64, step: i64) -> Steps {
        let n = if step <= 0 || end <= start { 1 } else { (end.saturating_sub(start) / step + 1) as usize };
        Steps { start, step: step.max(1), n }
    }

    /// Time of step `i`.
    pub fn t(&self, i: usize) -> i64 {
        self.start.saturating_add((i as i64).saturating_mul(self.step))
    }
}

/// A value at one step of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pt {
    /// Step index.
    pub i: u32,
    pub v: f64,
}

/// A native histogram at one step of one series.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HPt {
    /// Step index.
    pub i: u32,
    pub h: FloatHistogram,
}

/// One series of an instant vector over the steps: points only at the steps where it has a value.
#[derive(Debug, Clone)]
pub(super) struct Ser {
    pub labels: Labels,
    pub points: Vec<Pt>,
    /// Native histograms, at steps that have no float point. Only selectors produce them; every
    /// other expression works on floats and leaves them out (see [`Evaluator::eval`]).
    pub hists: Vec<HPt>,
    /// Whether `__name__` goes when the query ends (delayed name removal).
    pub drop_name: bool,
}

/// One series of a range vector: raw samples, oldest first.
#[derive(Debug, Clone)]
pub(super) struct Raw {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub drop_name: bool,
}

/// An evaluated expression.
#[derive(Debug, Clone)]
pub(super) enum Val {
    /// One number per step.
    Scalar(Vec<f64>),
    Str(String),
    /// An instant vector over the steps.
    Vector(Vec<Ser>),
    /// A range vector (only at a single evaluation time, for an instant query's result).
    Matrix(Vec<Raw>),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }
}

pub(super) type EvalResult<T> = Result<T, QueryError>;

/// Shorthand for an execution error.
pub(super) fn exec_err<T>(msg: impl Into<String>) -> EvalResult<T> {
    Err(QueryError::Execution(msg.into()))
}

/// Checks what the parser leaves to the engine: experimental functions and aggregations need
/// the flag; functions Lookout does not evaluate are refused before anything runs.
pub(super) fn check(opts: &EngineOptions, expr: &Expr) -> EvalResult<()> {
    let mut problem = None;
    walk(expr, &mut |e| {
        if problem.is_some() {
            return;
        }
        match e {
            Expr::Call(c) => {
                let name = c.func.name;
                if c.func.experimental && !opts.experimental_functions {
                    problem = Some(QueryError::BadData(format!(
                        "function {name:?} is not enabled (experimental: --enable-feature=promql-experimental-functions)"
                    )));
                } else if !functions::is_supported(name) {
                    problem = Some(QueryError::BadData(format!("function {name:?} is not supported by Lookout")));
                }
            }
            Expr::Aggregate(a) => {
                let op = a.op.id();
                if (op == token::T_LIMITK || op == token::T_LIMIT_RATIO) && !opts.experimental_functions {
                    problem = Some(QueryError::BadData(format!(
                        "limitk() and limit_ratio() are experimental and must be enabled with --enable-feature=promql-experimental-functions ({})",
                        a.op
                    )));
                }
            }
            Expr::Extension(_) => problem = Some(QueryError::BadData("unsupported expression".into())),
            _ => {}
        }
    });
    problem.map_or(Ok(()), Err)
}

/// Visits `expr` and every expression inside it.
pub(super) fn walk(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, f);
            }
        }
        _ => {}
    }
}

/// How much time one read covers: long range queries read their selectors a chunk of steps
/// at a time, so that memory holds one chunk's samples, not the whole range's.
const CHUNK_MS: i64 = 2 * 3600 * 1000;

/// The steps in chunks `[lo, hi)` of at most [`CHUNK_MS`]; one chunk when `@` fixes the time.
pub(super) fn chunks(steps: &Steps, at: Option<i64>) -> Vec<(usize, usize)> {
    let per = if at.is_some() { steps.n } else { ((CHUNK_MS / steps.step.max(1)) as usize).max(1) };
    (0..steps.n).step_by(per).map(|lo| (lo, (lo + per).min(steps.n))).collect()
}

/// Output series gathered chunk by chunk, merged by labels. Within one chunk every label set
/// comes once, so the index by labels is built only when a next chunk starts.
#[derive(Default)]
pub(super) struct Merged {
    pub series: Vec<Ser>,
    index: HashMap<Labels, usize>,
    /// How many of `series` the index covers.
    indexed: usize,
}

impl Merged {
    /// Starts the next chunk: its series may continue those of earlier chunks.
    pub fn next_chunk(&mut self) {
        for (i, s) in self.series.iter().enumerate().skip(self.indexed) {
            self.index.insert(s.labels.clone(), i);
        }
        self.indexed = self.series.len();
    }

    /// Adds points of the series `labels` (later chunks' points come after earlier ones).
    pub fn add(&mut self, labels: Labels, points: Vec<Pt>, drop_name: bool) {
        self.add_with_histograms(labels, points, Vec::new(), drop_name);
    }

    /// Adds float and histogram points of the series `labels`.
    pub fn add_with_histograms(&mut self, labels: Labels, points: Vec<Pt>, hists: Vec<HPt>, drop_name: bool) {
        if points.is_empty() && hists.is_empty() {
            return;
        }
        match self.index.get(&labels) {
            Some(&i) => {
                self.series[i].points.extend(points);
                self.series[i].hists.extend(hists);
            }
            None => self.series.push(Ser { labels, points, drop_name, hists }),
        }
    }
}

/// Strips parentheses.
pub(super) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Runs a parsed query over `[start, end]` at `step` (an instant query when `range` is false).
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    opts: &EngineOptions,
    querier: &dyn Querier,
    tenant: &Tenant,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    range: bool,
) -> Result<QueryOutput, QueryError> {
    let steps = if range { Steps::new(start, end, step) } else { Steps::new(start, start, 0) };
    if range {
        let ty = expr.value_type();
        if !matches!(
            ty,
            promql_parser::parser::value::ValueType::Scalar | promql_parser::parser::value::ValueType::Vector
        ) {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                match ty {
                    promql_parser::parser::value::ValueType::Matrix => "range vector",
                    _ => "string",
                }
            )));
        }
    }
    let mut ev = Evaluator::new(opts, querier, tenant, start, end);
    ev.query_step = if range { step } else { 0 };
    let val = ev.eval(expr, &steps)?;
    let value = ev.finish(expr, val, &steps, range)?;
    Ok(QueryOutput { value, annotations: ev.annotations, samples_read: ev.samples_read })
}

/// State of one query's evaluation.
pub(super) struct Evaluator<'a> {
    pub opts: &'a EngineOptions,
    querier: &'a dyn Querier,
    tenant: &'a Tenant,
    /// The query's own start and end, for `@ start()` and `@ end()`.
    query_start: i64,
    query_end: i64,
    /// The range query's step (0 for an instant query), for `step()`.
    query_step: i64,
    deadline: Instant,
    pub annotations: Annotations,
    pub samples_read: u64,
    /// Hashes of the label sets read, when `max_series` limits them.
    series_read: std::collections::HashSet<u64>,
}

impl<'a> Evaluator<'a> {
    fn new(
        opts: &'a EngineOptions,
        querier: &'a dyn Querier,
        tenant: &'a Tenant,
        query_start: i64,
        query_end: i64,
    ) -> Evaluator<'a> {
        Evaluator {
            opts,
            querier,
            tenant,
            query_start,
            query_end,
            query_step: 0,
            deadline: Instant::now() + opts.timeout,
            annotations: Annotations::default(),
            samples_read: 0,
            series_read: std::collections::HashSet::new(),
        }
    }

    /// Fails once the query has run past its timeout.
    pub fn check_deadline(&self) -> EvalResult<()> {
        if Instant::now() > self.deadline {
            crate::limits::count("timeout");
            return Err(QueryError::Timeout("expression evaluation"));
        }
        if self.opts.canceled.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(QueryError::Canceled("expression evaluation"));
        }
        Ok(())
    }

    /// Fails when a result would hold more samples than allowed.
    pub fn check_samples(&self, n: usize) -> EvalResult<()> {
        if n > self.opts.max_samples {
            crate::limits::count("max_samples");
            return exec_err(TOO_MANY_SAMPLES);
        }
        Ok(())
    }

    /// Fails once the query has read more distinct series than `max_series` allows.
    fn check_series(&mut self, read: &[SeriesData]) -> EvalResult<()> {
        let max = self.opts.max_series;
        if max == 0 {
            return Ok(());
        }
        for s in read {
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&s.labels, &mut hasher);
            self.series_read.insert(std::hash::Hasher::finish(&hasher));
        }
        if self.series_read.len() > max {
            crate::limits::count("max_series");
            return exec_err(format!(
                "the query exceeded the maximum number of series (limit: {max} series) (query.max_series); narrow its selectors or raise the limit"
            ));
        }
        Ok(())
    }

    /// Evaluates `expr` at every step of `steps`.
    pub fn eval(&mut self, expr: &Expr, steps: &Steps) -> EvalResult<Val> {
        self.check_deadline()?;
        let val = match expr {
            Expr::NumberLiteral(n) => Val::Scalar(vec![n.val; steps.n]),
            Expr::StringLiteral(s) => Val::Str(s.val.clone()),
            Expr::Paren(p) => self.eval(&p.expr, steps)?,
            Expr::Unary(u) => match self.eval(&u.expr, steps)? {
                Val::Scalar(v) => Val::Scalar(v.into_iter().map(|x| -x).collect()),
                Val::Vector(mut series) => {
                    for s in &mut series {
                        for p in &mut s.points {
                            p.v = -p.v;
                        }
                        s.drop_name = true;
                    }
                    Val::Vector(series)
                }
                other => {
                    return exec_err(format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                        other.type_name()
                    ));
                }
            },
            Expr::VectorSelector(vs) => Val::Vector(self.instant_selector(vs, steps, false)?),
            Expr::MatrixSelector(ms) => {
                let at = self.at_time(&ms.vs.at);
                let raw = self.range_selector(&ms.vs, ms.range.as_millis() as i64, steps, at)?;
                Val::Matrix(raw)
            }
            Expr::Subquery(sq) => {
                let (raw, _, _) = self.subquery(sq, steps)?;
                Val::Matrix(raw)
            }
            Expr::Aggregate(a) => aggregate::eval(self, a, steps)?,
            Expr::Binary(b) => {
                let lhs = self.eval(&b.lhs, steps)?;
                let rhs = self.eval(&b.rhs, steps)?;
                binary::eval(self, b, lhs, rhs, steps)?
            }
            Expr::Call(c) => functions::eval(self, c, steps)?,
            Expr::Extension(_) => return exec_err("unsupported expression"),
        };
        let mut val = val;
        if let Val::Vector(series) = &mut val {
            if !matches!(expr, Expr::VectorSelector(_) | Expr::Paren(_)) {
                // Operators, functions and aggregations work on floats only: a histogram that
                // reached them is not part of their result.
                series.retain_mut(|s| {
                    if s.hists.is_empty() {
                        return true;
                    }
                    s.hists.clear();
                    !s.points.is_empty()
                });
            }
            self.check_samples(series.iter().map(|s| s.points.len() + s.hists.len()).sum())?;
        }
        Ok(val)
    }

    /// Evaluates an argument that must be a scalar: one number per step.
    pub fn eval_scalar(&mut self, expr: &Expr, steps: &Steps) -> EvalResult<Vec<f64>> {
        match self.eval(expr, steps)? {
            Val::Scalar(v) => Ok(v),
            other => exec_err(format!("expected scalar, got {}", other.type_name())),
        }
    }

    /// Evaluates an argument that must be an instant vector.
    pub fn eval_vector(&mut self, expr: &Expr, steps: &Steps) -> EvalResult<Vec<Ser>> {
        match self.eval(expr, steps)? {
            Val::Vector(v) => Ok(v),
            other => exec_err(format!("expected instant vector, got {}", other.type_name())),
        }
    }

    /// The query's start, end and step (ms), for `start()`, `end()`, `range()` and `step()`.
    pub fn query_times(&self) -> (i64, i64, i64) {
        (self.query_start, self.query_end, self.query_step)
    }

    /// The fixed time of an `@` modifier, in ms.
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(*t)),
        }
    }

    /// The time at which step `i` reads: `(@ or t) - offset`.
    pub fn ref_time(steps: &Steps, i: usize, at: Option<i64>, offset: i64) -> i64 {
        at.unwrap_or_else(|| steps.t(i)).saturating_sub(offset)
    }

    /// Reads matching series with samples in `[min_t, max_t]`.
    fn select(&mut self, vs: &VectorSelector, min_t: i64, max_t: i64) -> EvalResult<Vec<SeriesData>> {
        self.select_sets(&matcher_sets(vs)?, min_t, max_t)
    }

    /// Reads the series matching any of the matcher sets with samples in `[min_t, max_t]`.
    pub fn select_sets(&mut self, sets: &[Vec<Matcher>], min_t: i64, max_t: i64) -> EvalResult<Vec<SeriesData>> {
        let mut out: Vec<SeriesData> = Vec::new();
        for set in sets {
            let found = self
                .querier
                .select(self.tenant, set, min_t, max_t)
                .map_err(|e| QueryError::Execution(e.to_string()))?;
            out.extend(found);
        }
        if sets.len() > 1 {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.dedup_by(|a, b| a.labels == b.labels);
        }
        let n: usize = out.iter().map(|s| s.samples.len()).sum();
        self.samples_read += n as u64;
        self.check_samples(n)?;
        self.check_series(&out)?;
        Ok(out)
    }

    /// An instant selector at every step. With `want_time`, the value is the sample's own
    /// timestamp in seconds (for `timestamp()`). Long ranges are read a time chunk at a time.
    pub fn instant_selector(&mut self, vs: &VectorSelector, steps: &Steps, want_time: bool) -> EvalResult<Vec<Ser>> {
        let offset = offset_ms(&vs.offset);
        let at = self.at_time(&vs.at);
        let lookback = self.opts.lookback_delta;
        let mut out = Merged::default();
        for (lo, hi) in chunks(steps, at) {
            out.next_chunk();
            let first = Self::ref_time(steps, lo, at, offset);
            let last = Self::ref_time(steps, hi - 1, at, offset);
            let data = self.select(vs, first.min(last).saturating_sub(lookback).saturating_add(1), first.max(last))?;
            for sd in data {
                let (points, hists) = Self::instant_points(&sd, steps, lo..hi, at, offset, lookback, want_time);
                out.add_with_histograms(sd.labels, points, hists, false);
            }
        }
        Ok(out.series)
    }

    /// One series' value at steps `range`: the newest sample in `(ref - lookback, ref]`, float
    /// or histogram, unless it is a staleness marker. With `want_time`, its timestamp in seconds
    /// as a float, whichever kind it is.
    fn instant_points(
        sd: &SeriesData,
        steps: &Steps,
        range: std::ops::Range<usize>,
        at: Option<i64>,
        offset: i64,
        lookback: i64,
        want_time: bool,
    ) -> (Vec<Pt>, Vec<HPt>) {
        let (samples, histograms) = (&sd.samples, &sd.histograms);
        let (mut points, mut hists) = (Vec::new(), Vec::new());
        let (mut j, mut k) = (0usize, 0usize);
        let lo = range.start;
        for i in range {
            let r = Self::ref_time(steps, i, at, offset);
            if at.is_some() && i > lo {
                // Every step reads the same instant.
                if let Some(&Pt { v, .. }) = points.first() {
                    points.push(Pt { i: i as u32, v });
                }
                if let Some(HPt { h, .. }) = hists.first() {
                    let h = h.clone();
                    hists.push(HPt { i: i as u32, h });
                }
                continue;
            }
            while j < samples.len() && samples[j].t <= r {
                j += 1;
            }
            while k < histograms.len() && histograms[k].t <= r {
                k += 1;
            }
            let float = j.checked_sub(1).map(|j| samples[j]);
            let hist = k.checked_sub(1).map(|k| &histograms[k]);
            let newest_t = float.map(|s| s.t).max(hist.map(|h| h.t));
            let Some(t) = newest_t else { continue };
            if t <= r.saturating_sub(lookback) {
                continue;
            }
            match (float, hist) {
                (Some(s), _) if s.t == t => {
                    if is_stale_nan(s.v) {
                        continue;
                    }
                    points.push(Pt { i: i as u32, v: if want_time { s.t as f64 / 1000.0 } else { s.v } });
                }
                (_, Some(h)) if want_time => points.push(Pt { i: i as u32, v: h.t as f64 / 1000.0 }),
                (_, Some(h)) => hists.push(HPt { i: i as u32, h: h.h.clone() }),
                _ => {}
            }
        }
        (points, hists)
    }

    /// A range selector's samples for every step: per series the raw samples (staleness
    /// markers left out) covering all windows, and the window length.
    pub fn range_selector(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        steps: &Steps,
        at: Option<i64>,
    ) -> EvalResult<Vec<Raw>> {
        let offset = offset_ms(&vs.offset);
        let first = Self::ref_time(steps, 0, at, offset);
        let last = Self::ref_time(steps, steps.n - 1, at, offset);
        let data = self.select(vs, first.min(last).saturating_sub(range).saturating_add(1), first.max(last))?;
        Ok(data
            .into_iter()
            .map(|sd| {
                let samples: Vec<Sample> = sd.samples.into_iter().filter(|s| !is_stale_nan(s.v)).collect();
                Raw { labels: sd.labels, samples, drop_name: false }
            })
            .filter(|r| !r.samples.is_empty())
            .collect())
    }

    /// Evaluates a subquery's inner expression at its own steps covering every window of
    /// `steps`. Returns the series as raw samples, the range and the offset (ms).
    pub fn subquery(&mut self, sq: &SubqueryExpr, steps: &Steps) -> EvalResult<(Vec<Raw>, i64, i64)> {
        let range = sq.range.as_millis() as i64;
        let step = sq.step.map(|d| d.as_millis() as i64).filter(|s| *s > 0).unwrap_or(self.opts.default_subquery_step);
        let offset = offset_ms(&sq.offset);
        let at = self.at_time(&sq.at);
        let first = Self::ref_time(steps, 0, at, offset);
        let last = Self::ref_time(steps, steps.n - 1, at, offset);
        let lo = first.min(last).saturating_sub(range);
        // The first multiple of `step` at or after `lo` (Go's division truncates toward zero).
        let mut start = step * (lo / step);
        if start < lo {
            start += step;
        }
        let end = first.max(last);
        if start > end {
            return Ok((Vec::new(), range, offset));
        }
        if (end.saturating_sub(start) / step) as u64 >= self.opts.max_samples as u64 {
            crate::limits::count("max_samples");
            return exec_err(TOO_MANY_SAMPLES);
        }
        let inner = Steps::new(start, end, step);
        let raw = match self.eval(&sq.expr, &inner)? {
            Val::Vector(series) => series
                .into_iter()
                .map(|s| Raw {
                    labels: s.labels,
                    samples: s.points.iter().map(|p| Sample { t: inner.t(p.i as usize), v: p.v }).collect(),
                    drop_name: s.drop_name,
                })
                .collect(),
            Val::Scalar(values) => vec![Raw {
                labels: Labels::default(),
                samples: values.iter().enumerate().map(|(i, v)| Sample { t: inner.t(i), v: *v }).collect(),
                drop_name: false,
            }],
            other => return exec_err(format!("subquery is only allowed on instant vector, got {}", other.type_name())),
        };
        Ok((raw, range, offset))
    }

    /// Turns the evaluated top expression into the query's result, removing names marked for
    /// removal.
    fn finish(&mut self, expr: &Expr, val: Val, steps: &Steps, range: bool) -> EvalResult<Value> {
        let t0 = steps.start;
        match val {
            Val::Str(s) => Ok(Value::String { t: t0, v: s }),
            Val::Scalar(v) if !range => Ok(Value::Scalar { t: t0, v: v.first().copied().unwrap_or(f64::NAN) }),
            Val::Scalar(v) => Ok(Value::Matrix(vec![Series {
                labels: Labels::default(),
                points: v.iter().enumerate().map(|(i, v)| Sample { t: steps.t(i), v: *v }).collect(),
                histograms: Vec::new(),
            }])),
            Val::Matrix(raws) => {
                let mut out: Vec<Series> = raws
                    .into_iter()
                    .map(|r| Series {
                        labels: finished_labels(r.labels, r.drop_name),
                        points: r.samples,
                        histograms: Vec::new(),
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                if out.windows(2).any(|w| w[0].labels == w[1].labels) {
                    return exec_err("vector cannot contain metrics with the same labelset");
                }
                Ok(Value::Matrix(out))
            }
            Val::Vector(series) if !range => {
                let mut out: Vec<VecSample> = series
                    .into_iter()
                    .filter_map(|s| {
                        let (v, h) = match (s.points.first(), s.hists.into_iter().next()) {
                            (Some(p), _) => (p.v, None),
                            (None, Some(hp)) => (0.0, Some(hp.h)),
                            (None, None) => return None,
                        };
                        Some(VecSample { labels: finished_labels(s.labels, s.drop_name), t: t0, v, h })
                    })
                    .collect();
                let mut sorted: Vec<&Labels> = out.iter().map(|s| &s.labels).collect();
                sorted.sort();
                if sorted.windows(2).any(|w| w[0] == w[1]) {
                    return exec_err("vector cannot contain metrics with the same labelset");
                }
                if !keeps_order(expr) {
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                Ok(Value::Vector(out))
            }
            Val::Vector(series) => {
                if contains_sort(expr) {
                    self.annotations
                        .warn("sort is ineffective for range queries since results are always ordered by labels");
                }
                let mut merged: HashMap<Labels, (Vec<Pt>, Vec<HPt>)> = HashMap::new();
                for s in series {
                    let labels = finished_labels(s.labels, s.drop_name);
                    match merged.get_mut(&labels) {
                        None => {
                            merged.insert(labels, (s.points, s.hists));
                        }
                        Some((points, hists)) => {
                            points.extend(s.points);
                            points.sort_by_key(|p| p.i);
                            hists.extend(s.hists);
                            hists.sort_by_key(|p| p.i);
                            let mut steps: Vec<u32> =
                                points.iter().map(|p| p.i).chain(hists.iter().map(|p| p.i)).collect();
                            steps.sort_unstable();
                            if steps.windows(2).any(|w| w[0] == w[1]) {
                                return exec_err("vector cannot contain metrics with the same labelset");
                            }
                        }
                    }
                }
                let mut out: Vec<Series> = merged
                    .into_iter()
                    .map(|(labels, (points, hists))| Series {
                        labels,
                        points: points.iter().map(|p| Sample { t: steps.t(p.i as usize), v: p.v }).collect(),
                        histograms: hists
                            .into_iter()
                            .map(|p| HistogramSample { t: steps.t(p.i as usize), h: p.h })
                            .collect(),
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Ok(Value::Matrix(out))
            }
        }
    }
}

/// Labels as returned: without `__name__` when the series is marked for it.
fn finished_labels(mut labels: Labels, drop_name: bool) -> Labels {
    if drop_name {
        labels.remove(NAME);
    }
    labels
}

/// Whether an instant query's result keeps the order its top expression gave it.
fn keeps_order(expr: &Expr) -> bool {
    match unparen(expr) {
        Expr::Call(c) => matches!(c.func.name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"),
        Expr::Aggregate(a) => {
            let op = a.op.id();
            (op == token::T_TOPK || op == token::T_BOTTOMK) && a.modifier.is_none()
        }
        _ => false,
    }
}

/// Whether the top expression is one of the sort functions.
/// Whether a sort function is called anywhere in `expr`: in a range query each such call
/// is ineffective, as Prometheus warns.
fn contains_sort(expr: &Expr) -> bool {
    struct Find(bool);
    impl promql_parser::util::ExprVisitor for Find {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            self.0 |= matches!(e, Expr::Call(c) if matches!(c.func.name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"));
            Ok(!self.0)
        }
    }
    let mut find = Find(false);
    let _ = promql_parser::util::walk_expr(&mut find, expr);
    find.0
}

/// Milliseconds of an offset (negative for `offset -5m`).
pub(super) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

/// Milliseconds since the epoch of a time that may be before it.
fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// The selector's matchers as storage matchers: one set, or one per `or` alternative.
pub(super) fn matcher_sets(vs: &VectorSelector) -> EvalResult<Vec<Vec<Matcher>>> {
    let convert = |ms: &[promql_parser::label::Matcher]| -> EvalResult<Vec<Matcher>> {
        let mut out = Vec::with_capacity(ms.len() + 1);
        if let Some(name) = &vs.name {
            out.push(Matcher::equal(NAME, name.clone()));
        }
        for m in ms {
            let op = match m.op {
                ParserOp::Equal => MatchOp::Equal,
                ParserOp::NotEqual => MatchOp::NotEqual,
                ParserOp::Re(_) => MatchOp::Regex,
                ParserOp::NotRe(_) => MatchOp::NotRegex,
            };
            out.push(
                Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| QueryError::BadData(e.to_string()))?,
            );
        }
        Ok(out)
    };
    if vs.matchers.or_matchers.is_empty() {
        Ok(vec![convert(&vs.matchers.matchers)?])
    } else {
        vs.matchers.or_matchers.iter().map(|set| convert(set)).collect()
    }
}

/// Labels that `absent()` gives: the selector's equality matchers other than the name, each
/// once (a name matched twice is left out, as Prometheus does).
pub(super) fn absent_labels(expr: &Expr) -> Labels {
    let vs = match unparen(expr) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut has: Vec<&str> = Vec::new();
    let mut labels = Labels::default();
    for m in &vs.matchers.matchers {
        if m.name == NAME {
            continue;
        }
        if matches!(m.op, ParserOp::Equal) && !has.contains(&m.name.as_str()) {
            labels.set(&m.name, m.value.clone());
            has.push(m.name.as_str());
        } else {
            labels.remove(&m.name);
        }
    }
    labels
}
