//! Series held in memory: a [`Querier`] over plain data, for running a query engine without a
//! store (the engine's tests, Prometheus's PromQL test files).

use std::collections::BTreeMap;

use crate::metrics::{Matcher, Querier, SeriesData};
use crate::{Labels, Result, Sample, Tenant};

/// Float samples by label set, sorted by time with one sample per timestamp. Tenants are not
/// told apart.
#[derive(Debug, Default, Clone)]
pub struct MemSeries {
    series: BTreeMap<Labels, Vec<Sample>>,
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
        stored.extend(samples);
        // A stable sort keeps later writes after earlier ones at the same time.
        stored.sort_by_key(|s| s.t);
        let mut deduped: Vec<Sample> = Vec::with_capacity(stored.len());
        for s in stored.drain(..) {
            match deduped.last_mut() {
                Some(last) if last.t == s.t => *last = s,
                _ => deduped.push(s),
            }
        }
        *stored = deduped;
    }

    /// Matching series with their samples in `[min_t, max_t]`, in label order; those with no
    /// sample there are left out.
    fn matching(&self, matchers: &[Matcher], min_t: i64, max_t: i64) -> impl Iterator<Item = (&Labels, &[Sample])> {
        self.series.iter().filter(|(labels, _)| matchers.iter().all(|m| m.matches_labels(labels))).filter_map(
            move |(labels, samples)| {
                let from = samples.partition_point(|s| s.t < min_t);
                let to = samples.partition_point(|s| s.t <= max_t);
                (from < to).then(|| (labels, &samples[from..to]))
            },
        )
    }
}

impl Querier for MemSeries {
    fn select(&self, _tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<SeriesData>> {
        Ok(self
            .matching(matchers, min_t, max_t)
            .map(|(labels, samples)| SeriesData { labels: labels.clone(), samples: samples.to_vec() })
            .collect())
    }

    fn series(&self, _tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<Labels>> {
        Ok(self.matching(matchers, min_t, max_t).map(|(labels, _)| labels.clone()).collect())
    }
}
