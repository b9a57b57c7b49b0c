//! One OTLP data point → the samples of the Prometheus series it makes
//! (`prometheusremotewrite/number_data_points.go`, `helper.go`: `addHistogramDataPoints`,
//! `addSummaryDataPoints`, `getPromExemplars`, and `metrics_to_prw.go`: `addExemplars`).

use std::collections::BTreeMap;

use lookout_storage::{
    Exemplar, HistogramPoint, Label, Labels, NumberPoint, Sample, SampleExemplar, SummaryPoint, Tenant, stale_nan,
};

use super::Output;
use super::delta::DeltaState;
use super::labels::{ResourceLabels, finish, point_labels, value_string};

/// OTLP's `FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;

/// Exemplar labels may hold at most this many characters (OpenMetrics); filtered attributes
/// that would go over it are left off.
const MAX_EXEMPLAR_RUNES: usize = 128;

/// What the point converters need from the translation in progress.
pub(crate) struct Ctx<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) res: &'a ResourceLabels,
    pub(crate) delta: &'a mut DeltaState,
    pub(crate) now_ms: i64,
    pub(crate) out: &'a mut Output,
}

/// Rejected points of one metric, reported as one message per metric.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    count: u64,
    first: Option<String>,
}

impl Rejections {
    fn add(&mut self, reason: String) {
        self.count += 1;
        self.first.get_or_insert(reason);
    }

    pub(crate) fn report(self, metric: &str, out: &mut Output) {
        if let Some(first) = self.first {
            let n = self.count;
            out.reject(n, format!("metric {metric:?}: {n} point{} rejected: {first}", if n == 1 { "" } else { "s" }));
        }
    }
}

/// Nanoseconds → milliseconds, as Prometheus truncates them.
pub(crate) fn millis(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

fn stale(flags: u32) -> bool {
    flags & NO_RECORDED_VALUE != 0
}

/// Prometheus's float formatting for `le` and `quantile` (`strconv.FormatFloat(f, 'f', -1, 64)`).
pub(crate) fn format_float(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Rust's `Display` is the shortest round-trip form without an exponent, as Go's 'f', -1.
        format!("{f}")
    }
}

fn base_labels(ctx: &Ctx<'_>, attrs: &lookout_storage::Attributes) -> Result<BTreeMap<String, String>, String> {
    point_labels(attrs, ctx.res)
}

/// A gauge point: one sample; exemplars are dropped, as Prometheus drops them on gauges.
pub(crate) fn gauge(ctx: &mut Ctx<'_>, family: &str, p: &NumberPoint, rej: &mut Rejections) {
    let base = match base_labels(ctx, &p.attributes) {
        Ok(b) => b,
        Err(e) => return rej.add(e),
    };
    let v = if stale(p.flags) { stale_nan() } else { p.value.as_f64() };
    ctx.out.push(finish(&base, family, None), Sample { t: millis(p.time_unix_nano), v }, Vec::new());
}

/// A sum point: one sample with the point's exemplars; delta points become running totals.
pub(crate) fn sum(ctx: &mut Ctx<'_>, family: &str, p: &NumberPoint, delta: bool, rej: &mut Rejections) {
    let base = match base_labels(ctx, &p.attributes) {
        Ok(b) => b,
        Err(e) => return rej.add(e),
    };
    let labels = finish(&base, family, None);
    let v = if stale(p.flags) {
        if delta {
            ctx.delta.forget(ctx.tenant, &labels);
        }
        stale_nan()
    } else if delta {
        let span = (p.start_time_unix_nano, p.time_unix_nano);
        match ctx.delta.add_sum(ctx.tenant, &labels, span, p.value, ctx.now_ms) {
            Ok(v) => v,
            Err(e) => return rej.add(e),
        }
    } else {
        p.value.as_f64()
    };
    let exemplars = p.exemplars.iter().map(exemplar).collect();
    ctx.out.push(labels, Sample { t: millis(p.time_unix_nano), v }, exemplars);
}

/// Why a histogram point cannot be stored, if it cannot.
fn check_histogram(p: &HistogramPoint) -> Result<(), String> {
    let bounds = &p.explicit_bounds;
    if let Some(b) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(format!("histogram bound {b} is not finite"));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err("histogram bounds are not strictly increasing".to_owned());
    }
    if p.bucket_counts.is_empty() {
        return Ok(());
    }
    if p.bucket_counts.len() != bounds.len() + 1 {
        return Err(format!(
            "histogram has {} bucket counts for {} bounds (want bounds + 1)",
            p.bucket_counts.len(),
            bounds.len()
        ));
    }
    let total = p.bucket_counts.iter().try_fold(0u64, |a, c| a.checked_add(*c));
    if total != Some(p.count) {
        return Err(format!("histogram bucket counts add up to {total:?}, not the count {}", p.count));
    }
    Ok(())
}

/// A histogram point: `_sum` (if set), `_count`, then cumulative `_bucket{le}` series ending
/// with `le="+Inf"`; each exemplar goes to the first bucket whose bound is at least its value.
pub(crate) fn histogram(ctx: &mut Ctx<'_>, family: &str, p: &HistogramPoint, delta: bool, rej: &mut Rejections) {
    if let Err(e) = check_histogram(p) {
        return rej.add(e);
    }
    let base = match base_labels(ctx, &p.attributes) {
        Ok(b) => b,
        Err(e) => return rej.add(e),
    };
    let is_stale = stale(p.flags);
    let (count, sum, buckets) = if delta {
        let key = finish(&base, family, None);
        if is_stale {
            ctx.delta.forget(ctx.tenant, &key);
            (p.count, p.sum, p.bucket_counts.clone())
        } else {
            match ctx.delta.add_histogram(ctx.tenant, &key, p, ctx.now_ms) {
                Ok(h) => (h.count, h.sum, h.buckets),
                Err(e) => return rej.add(e),
            }
        }
    } else {
        (p.count, p.sum, p.bucket_counts.clone())
    };
    let t = millis(p.time_unix_nano);
    let value = |v: f64| if is_stale { stale_nan() } else { v };
    if let Some(s) = sum {
        ctx.out.push(finish(&base, &format!("{family}_sum"), None), Sample { t, v: value(s) }, Vec::new());
    }
    ctx.out.push(finish(&base, &format!("{family}_count"), None), Sample { t, v: value(count as f64) }, Vec::new());

    let mut exemplars: Vec<(f64, SampleExemplar)> =
        p.exemplars.iter().map(|e| (e.value.as_f64(), exemplar(e))).collect();
    let bucket_name = format!("{family}_bucket");
    let mut cumulative = 0u64;
    let finite = p.explicit_bounds.iter().zip(&buckets);
    let all = finite.map(|(b, c)| (*b, Some(*c))).chain(std::iter::once((f64::INFINITY, None)));
    for (bound, c) in all {
        let v = match c {
            Some(c) => {
                cumulative = cumulative.saturating_add(c);
                cumulative as f64
            }
            None => count as f64,
        };
        let (here, rest): (Vec<_>, Vec<_>) = exemplars.into_iter().partition(|(ev, _)| *ev <= bound);
        exemplars = rest;
        let le = format_float(bound);
        let labels = finish(&base, &bucket_name, Some(("le", &le)));
        ctx.out.push(labels, Sample { t, v: value(v) }, here.into_iter().map(|(_, e)| e).collect());
    }
}

/// A summary point: `_sum`, `_count`, then one `{quantile}` series per quantile.
pub(crate) fn summary(ctx: &mut Ctx<'_>, family: &str, p: &SummaryPoint, rej: &mut Rejections) {
    if let Some(q) = p.quantile_values.iter().find(|q| !(0.0..=1.0).contains(&q.quantile)) {
        return rej.add(format!("summary quantile {} is outside 0..=1", q.quantile));
    }
    let base = match base_labels(ctx, &p.attributes) {
        Ok(b) => b,
        Err(e) => return rej.add(e),
    };
    let t = millis(p.time_unix_nano);
    let value = |v: f64| if stale(p.flags) { stale_nan() } else { v };
    ctx.out.push(finish(&base, &format!("{family}_sum"), None), Sample { t, v: value(p.sum) }, Vec::new());
    ctx.out.push(finish(&base, &format!("{family}_count"), None), Sample { t, v: value(p.count as f64) }, Vec::new());
    for q in &p.quantile_values {
        let quantile = format_float(q.quantile);
        let labels = finish(&base, family, Some(("quantile", &quantile)));
        ctx.out.push(labels, Sample { t, v: value(q.value) }, Vec::new());
    }
}

/// An OTLP exemplar as a Prometheus one: `trace_id` and `span_id` in lowercase hex, then the
/// filtered attributes (keys as sent) unless they would take the labels over 128 characters.
fn exemplar(e: &Exemplar) -> SampleExemplar {
    let mut labels = Vec::new();
    let mut runes = 0;
    if let Some(id) = e.trace_id {
        let hex = id.to_hex();
        runes += "trace_id".len() + hex.len();
        labels.push(Label::new("trace_id", hex));
    }
    if let Some(id) = e.span_id {
        let hex = id.to_hex();
        runes += "span_id".len() + hex.len();
        labels.push(Label::new("span_id", hex));
    }
    let filtered: Vec<Label> =
        e.filtered_attributes.iter().map(|kv| Label::new(kv.key.clone(), value_string(&kv.value))).collect();
    runes += filtered.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum::<usize>();
    if runes <= MAX_EXEMPLAR_RUNES {
        labels.extend(filtered);
    }
    SampleExemplar { labels: Labels::new(labels), t: millis(e.time_unix_nano), v: e.value.as_f64() }
}
