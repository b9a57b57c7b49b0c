//! Series held in memory: a [`Querier`] over plain data, for running a query engine without a
//! store (the engine's tests, Prometheus's PromQL test files).

use std::collections::BTreeMap;

use crate::metrics::{Matcher, Querier, SeriesData};
use crate::{CounterResetHint, FloatHistogram, HistogramSample, Labels, Result, Sample, Tenant};

/// Samples by label set, sorted by time with one sample per timestamp, floats and native
/// histograms. Tenants are not told apart.
#[derive(Debug, Default, Clone)]
pub struct MemSeries {
    series: BTreeMap<Labels, Stored>,
}

/// One series: floats and histograms, each sorted, never both at one time.
#[derive(Debug, Default, Clone)]
struct Stored {
    floats: Vec<Sample>,
    histograms: Vec<HistogramSample>,
}

impl MemSeries {
    /// No series.
    pub fn new() -> MemSeries {
        MemSeries::default()
    }

    /// Adds samples to a series, keeping it sorted; at a timestamp written twice the later
    /// write wins.
    pub fn append(&mut self, labels: &Labels, samples: Vec<Sample>) {
        if samples.is_empty() {
            return;
        }
        let stored = self.series.entry(labels.clone()).or_default();
        stored.histograms.retain(|h| samples.iter().all(|s| s.t != h.t));
        stored.floats = merge(std::mem::take(&mut stored.floats), samples, |s| s.t);
    }

    /// Adds native-histogram samples to a series, like [`MemSeries::append`].
    pub fn append_histograms(&mut self, labels: &Labels, samples: Vec<HistogramSample>) {
        if samples.is_empty() {
            return;
        }
        let stored = self.series.entry(labels.clone()).or_default();
        stored.floats.retain(|f| samples.iter().all(|s| s.t != f.t));
        stored.histograms = merge(std::mem::take(&mut stored.histograms), samples, |s| s.t);
    }

    /// Matching series with their samples in `[min_t, max_t]`, in label order; those with no
    /// sample there are left out.
    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
        min_t: i64,
        max_t: i64,
    ) -> impl Iterator<Item = SeriesData> + 'a {
        self.series.iter().filter(|(labels, _)| matchers.iter().all(|m| m.matches_labels(labels))).filter_map(
            move |(labels, stored)| {
                let floats = window(&stored.floats, min_t, max_t, |s| s.t);
                let first = stored.histograms.partition_point(|s| s.t < min_t);
                let histograms = window(&stored.histograms, min_t, max_t, |s| s.t);
                if floats.is_empty() && histograms.is_empty() {
                    return None;
                }
                let histograms = histograms
                    .iter()
                    .enumerate()
                    .map(|(k, s)| HistogramSample { t: s.t, h: stored.read_back(first + k) })
                    .collect();
                Some(SeriesData { labels: labels.clone(), samples: floats.to_vec(), histograms })
            },
        )
    }
}

impl Stored {
    /// Histogram `k` with the counter-reset hint a TSDB gives it when read back: gauges stay
    /// gauges; the first histogram, and the first after a float, is unknown; a later one is a
    /// reset when it went down from the one before (or was appended as a reset), else not.
    fn read_back(&self, k: usize) -> FloatHistogram {
        let mut h = self.histograms[k].h.clone();
        if h.hint == CounterResetHint::Gauge {
            return h;
        }
        let previous = k.checked_sub(1).map(|p| &self.histograms[p]).filter(|p| {
            let after = self.floats.partition_point(|f| f.t <= p.t);
            self.floats.get(after).is_none_or(|f| f.t > self.histograms[k].t)
        });
        h.hint = match previous {
            None if h.hint == CounterResetHint::Reset => CounterResetHint::Reset,
            None => CounterResetHint::Unknown,
            Some(p) if h.detect_reset(&p.h) => CounterResetHint::Reset,
            Some(_) => CounterResetHint::NotReset,
        };
        h
    }
}

/// `old` and `new` merged by time, a later write winning at an equal time.
fn merge<T>(mut old: Vec<T>, new: Vec<T>, t: impl Fn(&T) -> i64) -> Vec<T> {
    old.extend(new);
    // A stable sort keeps later writes after earlier ones at the same time.
    old.sort_by_key(&t);
    let mut deduped: Vec<T> = Vec::with_capacity(old.len());
    for s in old {
        match deduped.last_mut() {
            Some(last) if t(last) == t(&s) => *last = s,
            _ => deduped.push(s),
        }
    }
    deduped
}

/// The part of a sorted list in `[min_t, max_t]`.
fn window<T>(items: &[T], min_t: i64, max_t: i64, t: impl Fn(&T) -> i64) -> &[T] {
    let from = items.partition_point(|s| t(s) < min_t);
    let to = items.partition_point(|s| t(s) <= max_t);
    &items[from..to.max(from)]
}

impl Querier for MemSeries {
    fn select(&self, _tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<SeriesData>> {
        Ok(self.matching(matchers, min_t, max_t).collect())
    }

    fn series(&self, _tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<Labels>> {
        Ok(self.matching(matchers, min_t, max_t).map(|s| s.labels).collect())
    }
}
