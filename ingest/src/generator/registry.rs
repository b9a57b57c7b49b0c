//! Cumulative counters and classic histograms keyed by label set, as Tempo's metrics-generator
//! registry keeps them (`modules/generator/registry/counter.go`, `histogram.go`).
//!
//! A series costs what Tempo counts as active series: one for a counter, `buckets + 2` for a
//! histogram (every `le` bucket including `+Inf`, `_sum` and `_count`). A tenant's
//! [`SeriesBudget`] refuses a new series that would go over the cap; a series not updated for
//! the stale duration is removed and gives its cost back.

use std::collections::BTreeMap;

use lookout_storage::{Labels, METRIC_NAME, Sample, SampleExemplar, SeriesSamples, TraceId};

/// Active series of one tenant, against its cap.
#[derive(Debug)]
pub(super) struct SeriesBudget {
    /// Series held now.
    pub(super) active: usize,
    /// Most series allowed; 0 means no cap.
    max: usize,
    /// New series not created because of the cap.
    pub(super) refused: u64,
}

impl SeriesBudget {
    pub(super) fn new(max: usize) -> SeriesBudget {
        SeriesBudget { active: 0, max, refused: 0 }
    }

    /// Takes `cost` series if the cap allows, else counts a refusal.
    fn take(&mut self, cost: usize) -> bool {
        if self.max != 0 && self.active + cost > self.max {
            self.refused += 1;
            return false;
        }
        self.active += cost;
        true
    }

    fn give_back(&mut self, cost: usize) {
        self.active = self.active.saturating_sub(cost);
    }
}

/// Labels with `__name__` (and maybe one more label) set.
fn named(labels: &Labels, name: &str) -> Labels {
    let mut out = labels.clone();
    out.set(METRIC_NAME, name);
    out
}

/// One sample at `t`.
fn series(labels: Labels, t: i64, v: f64) -> SeriesSamples {
    SeriesSamples { labels, samples: vec![Sample { t, v }], exemplars: Vec::new() }
}

#[derive(Debug)]
struct CounterSeries {
    value: f64,
    updated_ms: i64,
}

/// A counter family: cumulative values by label set.
#[derive(Debug)]
pub(super) struct CounterVec {
    name: &'static str,
    series: BTreeMap<Labels, CounterSeries>,
}

impl CounterVec {
    pub(super) fn new(name: &'static str) -> CounterVec {
        CounterVec { name, series: BTreeMap::new() }
    }

    /// Adds `by` to the series `labels`, creating it if the budget allows.
    pub(super) fn inc(&mut self, labels: &Labels, by: f64, now_ms: i64, budget: &mut SeriesBudget) {
        if let Some(s) = self.series.get_mut(labels) {
            s.value += by;
            s.updated_ms = now_ms;
        } else if budget.take(1) {
            self.series.insert(labels.clone(), CounterSeries { value: by, updated_ms: now_ms });
        }
    }

    /// Removes series last updated before `cutoff_ms`.
    pub(super) fn remove_stale(&mut self, cutoff_ms: i64, budget: &mut SeriesBudget) {
        let before = self.series.len();
        self.series.retain(|_, s| s.updated_ms >= cutoff_ms);
        budget.give_back(before - self.series.len());
    }

    /// Appends every series' current value at `now_ms`.
    pub(super) fn collect(&self, now_ms: i64, out: &mut Vec<SeriesSamples>) {
        out.extend(self.series.iter().map(|(labels, s)| series(named(labels, self.name), now_ms, s.value)));
    }
}

#[derive(Debug)]
struct HistogramSeries {
    /// Cumulative count per bucket, `+Inf` last.
    buckets: Vec<f64>,
    sum: f64,
    count: f64,
    /// The latest observation per bucket since the last collect, as Tempo keeps one.
    exemplars: Vec<Option<(TraceId, f64)>>,
    updated_ms: i64,
}

/// A classic histogram family (`_bucket` with `le`, `_sum`, `_count`) by label set.
#[derive(Debug)]
pub(super) struct HistogramVec {
    name_bucket: String,
    name_sum: String,
    name_count: String,
    /// Upper bounds, `+Inf` last.
    bounds: Vec<f64>,
    /// `le` values, formatted as Tempo formats them.
    le: Vec<String>,
    series: BTreeMap<Labels, HistogramSeries>,
}

/// Formats a bucket bound as Go's `strconv.FormatFloat(v, 'f', -1, 64)` does (shortest
/// round-trip, no exponent), with `+Inf` for infinity.
pub(super) fn format_le(bound: f64) -> String {
    if bound == f64::INFINITY { "+Inf".to_owned() } else { format!("{bound}") }
}

impl HistogramVec {
    /// `buckets` must be finite and ascending; `+Inf` is added.
    pub(super) fn new(name: &str, buckets: &[f64]) -> HistogramVec {
        let mut bounds = buckets.to_vec();
        bounds.push(f64::INFINITY);
        HistogramVec {
            name_bucket: format!("{name}_bucket"),
            name_sum: format!("{name}_sum"),
            name_count: format!("{name}_count"),
            le: bounds.iter().map(|b| format_le(*b)).collect(),
            bounds,
            series: BTreeMap::new(),
        }
    }

    fn cost(&self) -> usize {
        self.bounds.len() + 2
    }

    /// Records `value` in the series `labels`, keeping `trace` as the exemplar of its bucket.
    pub(super) fn observe(
        &mut self,
        labels: &Labels,
        value: f64,
        trace: TraceId,
        now_ms: i64,
        budget: &mut SeriesBudget,
    ) {
        let n = self.bounds.len();
        let s = match self.series.get_mut(labels) {
            Some(s) => s,
            None => {
                if !budget.take(n + 2) {
                    return;
                }
                let fresh = HistogramSeries {
                    buckets: vec![0.0; n],
                    sum: 0.0,
                    count: 0.0,
                    exemplars: vec![None; n],
                    updated_ms: now_ms,
                };
                self.series.entry(labels.clone()).or_insert(fresh)
            }
        };
        s.count += 1.0;
        s.sum += value;
        s.updated_ms = now_ms;
        // The first bucket that holds the value (Go's sort.SearchFloat64s); +Inf holds any.
        let first = self.bounds.partition_point(|b| *b < value).min(n - 1);
        for b in &mut s.buckets[first..] {
            *b += 1.0;
        }
        s.exemplars[first] = Some((trace, value));
    }

    /// Removes series last updated before `cutoff_ms`.
    pub(super) fn remove_stale(&mut self, cutoff_ms: i64, budget: &mut SeriesBudget) {
        let before = self.series.len();
        self.series.retain(|_, s| s.updated_ms >= cutoff_ms);
        budget.give_back((before - self.series.len()) * self.cost());
    }

    /// Appends every series' buckets, sum and count at `now_ms`. Exemplars are emitted once,
    /// at the collect after they were seen, with `trace_label` naming the trace id.
    pub(super) fn collect(&mut self, now_ms: i64, trace_label: &str, out: &mut Vec<SeriesSamples>) {
        for (labels, s) in &mut self.series {
            let bucket_base = named(labels, &self.name_bucket);
            for (i, le) in self.le.iter().enumerate() {
                let mut bucket_labels = bucket_base.clone();
                bucket_labels.set("le", le.as_str());
                let mut one = series(bucket_labels, now_ms, s.buckets[i]);
                if let Some((trace, v)) = s.exemplars[i].take() {
                    one.exemplars.push(SampleExemplar {
                        // Tempo writes the trace id without leading zeros; its query API (and
                        // Lookout's) pads short ids back.
                        labels: Labels::from_pairs([(trace_label, trace.to_hex().trim_start_matches('0'))]),
                        t: now_ms,
                        v,
                    });
                }
                out.push(one);
            }
            out.push(series(named(labels, &self.name_sum), now_ms, s.sum));
            out.push(series(named(labels, &self.name_count), now_ms, s.count));
        }
    }
}
