//! OTLP metrics → Prometheus series, as Prometheus 3's OTLP receiver translates them with its
//! default settings (translation strategy `UnderscoreEscapingWithSuffixes`, no scope labels,
//! `target_info` on), plus the delta → cumulative conversion Prometheus does behind
//! `otlp-deltatocumulative`.
//!
//! Data comes from `convert` (the storage model's `Batch<Metric>`) and leaves as
//! [`SeriesSamples`] and [`MetricMetadata`] for the metrics store.
//!
//! # Layout
//! - `names`: metric, unit and label names.
//! - `labels`: attribute values as text, label sets, `job`/`instance`, `target_info`.
//! - `delta`: running totals for delta sums and histograms, bounded per tenant.
//! - `points`: one OTLP point → samples of the series it makes.
//!
//! # Deliberate differences from Prometheus
//! - Exponential histograms are rejected (counted and reported): the store has no native
//!   histograms yet.
//! - Invalid histogram and summary points (bucket counts that do not fit the bounds or do not
//!   add up to the count, unordered bounds, quantiles outside 0..=1) are rejected with a message
//!   where Prometheus would store what it can.

mod delta;
mod labels;
mod names;
mod points;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lookout_storage::{
    Batch, Labels, Metric, MetricData, MetricMetadata, MetricType, Sample, SampleExemplar, SeriesSamples, Temporality,
    Tenant,
};

pub use delta::DeltaLimits;

use delta::DeltaState;
use labels::ResourceLabels;
use names::NameKind;

/// Prometheus's default lookback delta; `target_info` gets a sample every half of it.
const TARGET_INFO_INTERVAL_NS: u64 = 150_000_000_000;

/// At most this many messages per call; the rest are counted in a last message.
const MAX_MESSAGES: usize = 100;

/// How OTLP is translated (Prometheus's `otlp:` configuration block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateOptions {
    /// Resource attributes copied as labels onto every series of their resource.
    pub promote_resource_attributes: Vec<String>,
    /// Add unit and type suffixes (`_seconds`, `_total`, `_ratio`) to metric names.
    pub add_suffixes: bool,
    /// Keep `service.name`, `service.namespace` and `service.instance.id` as `target_info` labels.
    pub keep_identifying_resource_attributes: bool,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            promote_resource_attributes: Vec::new(),
            add_suffixes: true,
            keep_identifying_resource_attributes: false,
        }
    }
}

/// The result of translating one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translated {
    /// Series with their samples and exemplars, in the order first produced.
    pub series: Vec<SeriesSamples>,
    /// One entry per metric family.
    pub metadata: Vec<MetricMetadata>,
    /// OTLP data points not stored (invalid, unsupported, out of order, over a limit).
    pub rejected_points: u64,
    /// Why points were rejected, one line per metric and problem.
    pub messages: Vec<String>,
    /// For each series, the OTLP data point each sample came from (numbered from 0 in batch
    /// order; [`NOT_A_POINT`] for `target_info`), so that refusals downstream can be counted
    /// in points.
    pub sample_points: Vec<Vec<u32>>,
}

/// The origin of a sample that no OTLP data point made (`target_info`).
pub const NOT_A_POINT: u32 = u32::MAX;

/// Milliseconds since the Unix epoch, for the delta state's idle limit.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Translates OTLP metric batches, keeping the running totals of delta streams between calls.
pub struct Translator {
    delta: DeltaState,
    clock: Clock,
}

impl std::fmt::Debug for Translator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translator").field("delta", &self.delta).finish_non_exhaustive()
    }
}

impl Default for Translator {
    fn default() -> Self {
        Translator::new()
    }
}

impl Translator {
    /// A translator with default limits and the system clock.
    pub fn new() -> Translator {
        let clock: Clock = Arc::new(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        Translator::with_clock(DeltaLimits::default(), clock)
    }

    /// A translator with the given delta limits and clock.
    pub fn with_clock(limits: DeltaLimits, clock: Clock) -> Translator {
        Translator { delta: DeltaState::new(limits), clock }
    }

    /// Number of delta streams currently tracked for `tenant`.
    pub fn delta_series(&self, tenant: &Tenant) -> usize {
        self.delta.len(tenant)
    }

    /// Translates one batch of `tenant`'s metrics.
    pub fn translate(&mut self, tenant: &Tenant, batch: &Batch<Metric>, opts: &TranslateOptions) -> Translated {
        let now_ms = (self.clock)();
        self.delta.sweep(now_ms);
        let mut out = Output::default();
        for group in &batch.resources {
            let mut errors = Vec::new();
            let res = ResourceLabels::new(&group.resource, &opts.promote_resource_attributes, &mut errors);
            for e in errors {
                out.message(format!("promoted resource attribute skipped: {e}"));
            }
            let (mut earliest, mut latest) = (u64::MAX, 0u64);
            for metric in group.scopes.iter().flat_map(|s| s.items.iter()) {
                for t in point_times(metric) {
                    earliest = earliest.min(t);
                    latest = latest.max(t);
                }
                let mut ctx = points::Ctx { tenant, res: &res, delta: &mut self.delta, now_ms, out: &mut out };
                translate_metric(&mut ctx, metric, opts);
            }
            if earliest <= latest {
                match labels::target_info_labels(&group.resource, opts.keep_identifying_resource_attributes) {
                    Ok(Some(labels)) => out.target_info(labels, earliest, latest),
                    Ok(None) => {}
                    Err(e) => out.message(format!("target_info skipped: {e}")),
                }
            }
        }
        out.finish()
    }
}

/// Every point time of a metric (Prometheus's `findMinAndMaxTimestamps` covers all types).
fn point_times(m: &Metric) -> Vec<u64> {
    match &m.data {
        MetricData::Gauge { points } | MetricData::Sum { points, .. } => {
            points.iter().map(|p| p.time_unix_nano).collect()
        }
        MetricData::Histogram { points, .. } => points.iter().map(|p| p.time_unix_nano).collect(),
        MetricData::ExponentialHistogram { points, .. } => points.iter().map(|p| p.time_unix_nano).collect(),
        MetricData::Summary { points } => points.iter().map(|p| p.time_unix_nano).collect(),
    }
}

fn translate_metric(ctx: &mut points::Ctx<'_>, m: &Metric, opts: &TranslateOptions) {
    let n = m.point_count() as u64;
    let (name_kind, kind, temporality) = match &m.data {
        MetricData::Gauge { .. } => (NameKind::Gauge, MetricType::Gauge, None),
        MetricData::Sum { temporality, monotonic: true, .. } => {
            (NameKind::MonotonicCounter, MetricType::Counter, Some(*temporality))
        }
        MetricData::Sum { temporality, monotonic: false, .. } => {
            (NameKind::Other, MetricType::Gauge, Some(*temporality))
        }
        MetricData::Histogram { temporality, .. } => (NameKind::Other, MetricType::Histogram, Some(*temporality)),
        MetricData::Summary { .. } => (NameKind::Other, MetricType::Summary, None),
        MetricData::ExponentialHistogram { .. } => {
            ctx.out.reject(
                n,
                format!(
                    "exponential histogram {:?} is not supported yet: {n} points dropped (no native histogram storage)",
                    m.name
                ),
            );
            return;
        }
    };
    if n == 0 {
        ctx.out.message(format!("metric {:?} has no data points", m.name));
        return;
    }
    if temporality == Some(Temporality::Unspecified) {
        ctx.out.reject(n, format!("metric {:?} has no aggregation temporality: {n} points dropped", m.name));
        return;
    }
    let family = match names::metric_name(&m.name, &m.unit, name_kind, opts.add_suffixes) {
        Ok(f) => f,
        Err(e) => {
            ctx.out.reject(n, format!("{e}: {n} points dropped"));
            return;
        }
    };
    ctx.out.metadata(MetricMetadata {
        metric_family: family.clone(),
        kind,
        help: m.description.clone(),
        unit: names::unit_name(&m.unit),
    });
    let mut rejections = points::Rejections::default();
    let delta = temporality == Some(Temporality::Delta);
    match &m.data {
        MetricData::Gauge { points } => {
            for p in points {
                ctx.out.next_point();
                points::gauge(ctx, &family, p, &mut rejections);
            }
        }
        MetricData::Sum { points, .. } => {
            for p in points {
                ctx.out.next_point();
                points::sum(ctx, &family, p, delta, &mut rejections);
            }
        }
        MetricData::Histogram { points, .. } => {
            for p in points {
                ctx.out.next_point();
                points::histogram(ctx, &family, p, delta, &mut rejections);
            }
        }
        MetricData::Summary { points } => {
            for p in points {
                ctx.out.next_point();
                points::summary(ctx, &family, p, &mut rejections);
            }
        }
        MetricData::ExponentialHistogram { .. } => {}
    }
    rejections.report(&m.name, ctx.out);
}

/// Series and metadata being built for one call.
#[derive(Debug, Default)]
pub(crate) struct Output {
    index: HashMap<Labels, usize>,
    series: Vec<SeriesSamples>,
    sample_points: Vec<Vec<u32>>,
    /// The point being translated (`NOT_A_POINT` before the first).
    point: u32,
    families: HashMap<String, usize>,
    metadata: Vec<MetricMetadata>,
    rejected: u64,
    messages: Vec<String>,
    dropped_messages: usize,
}

impl Output {
    /// Appends a sample (and exemplars) to the series named by `labels`.
    pub(crate) fn push(&mut self, labels: Labels, sample: Sample, exemplars: Vec<SampleExemplar>) {
        let i = self.series_index(labels);
        self.series[i].samples.push(sample);
        self.sample_points[i].push(self.point);
        self.series[i].exemplars.extend(exemplars);
    }

    /// Starts the next data point.
    fn next_point(&mut self) {
        self.point = self.point.wrapping_add(1);
    }

    fn series_index(&mut self, labels: Labels) -> usize {
        if let Some(&i) = self.index.get(&labels) {
            return i;
        }
        let i = self.series.len();
        self.index.insert(labels.clone(), i);
        self.series.push(SeriesSamples { labels, samples: Vec::new(), exemplars: Vec::new() });
        self.sample_points.push(Vec::new());
        i
    }

    /// `target_info` samples from `earliest` to `latest` every half lookback delta, and at
    /// `latest`; a timestamp the series already has is not repeated.
    fn target_info(&mut self, labels: Labels, earliest: u64, latest: u64) {
        let i = self.series_index(labels);
        let samples = &mut self.series[i].samples;
        let origins = &mut self.sample_points[i];
        let mut add = |t: i64| {
            if !samples.iter().any(|s| s.t == t) {
                samples.push(Sample { t, v: 1.0 });
                origins.push(NOT_A_POINT);
            }
        };
        let mut last = None;
        let mut t = earliest;
        while t < latest {
            add(points::millis(t));
            last = Some(points::millis(t));
            t = t.saturating_add(TARGET_INFO_INTERVAL_NS);
        }
        if last.is_none_or(|l| l < points::millis(latest)) {
            add(points::millis(latest));
        }
    }

    fn metadata(&mut self, md: MetricMetadata) {
        if !self.families.contains_key(&md.metric_family) {
            self.families.insert(md.metric_family.clone(), self.metadata.len());
            self.metadata.push(md);
        }
    }

    /// Counts `n` rejected points and says why.
    pub(crate) fn reject(&mut self, n: u64, message: String) {
        self.rejected += n;
        self.message(message);
    }

    pub(crate) fn message(&mut self, message: String) {
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(message);
        } else {
            self.dropped_messages += 1;
        }
    }

    fn finish(mut self) -> Translated {
        if self.dropped_messages > 0 {
            self.messages.push(format!("{} more messages not shown", self.dropped_messages));
        }
        Translated {
            series: self.series,
            metadata: self.metadata,
            rejected_points: self.rejected,
            messages: self.messages,
            sample_points: self.sample_points,
        }
    }
}

#[cfg(test)]
mod tests;
