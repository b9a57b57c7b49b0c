//! The in-memory series the evals read: a [`Querier`] over label sets and sorted samples.
//!
//! Only float samples (and staleness markers) are kept. Native-histogram samples, and the NHCB
//! series `load_with_nhcb` would build, are not stored; their label sets are remembered so that
//! a failing eval can say it read a series whose histogram samples are missing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use lookout_storage::metrics::{Matcher, Querier, SeriesData};
use lookout_storage::{Labels, METRIC_NAME, Sample, Tenant};

use super::notation::SeqValue;
use super::script::Load;

/// Series loaded since the last `clear`.
#[derive(Debug, Default)]
pub struct MemStore {
    /// Float samples per series, sorted by time, one per timestamp.
    series: BTreeMap<Labels, Vec<Sample>>,
    /// Series that would also hold native-histogram samples.
    histogram_series: BTreeSet<Labels>,
    /// Set when a select matched a series of `histogram_series`.
    read_histograms: AtomicBool,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Appends a load block: the k-th value of each series at `k * interval`.
    pub fn load(&mut self, load: &Load) {
        for (labels, values) in &load.series {
            let mut samples = Vec::new();
            for (k, value) in values.iter().enumerate() {
                let t = k as i64 * load.interval;
                match value {
                    SeqValue::Float(v) => samples.push(Sample { t, v: *v }),
                    SeqValue::Histogram(_) => {
                        self.histogram_series.insert(labels.clone());
                    }
                    SeqValue::Omitted => {}
                }
            }
            if load.nhcb {
                self.note_nhcb(labels);
            }
            self.append(labels, samples);
        }
    }

    /// Adds samples to a series, keeping it sorted with one sample per timestamp (the newest
    /// write wins).
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

    /// Remembers the NHCB series a `load_with_nhcb` would build from an `X_bucket{le=…}` series.
    fn note_nhcb(&mut self, labels: &Labels) {
        let Some(base) = labels.metric_name().and_then(|n| n.strip_suffix("_bucket")) else { return };
        if labels.get("le").is_none() {
            return;
        }
        let mut nhcb = labels.clone();
        nhcb.set(METRIC_NAME, base);
        nhcb.remove("le");
        self.histogram_series.insert(nhcb);
    }

    /// Clears the "read a histogram series" flag.
    pub fn reset_histogram_flag(&self) {
        self.read_histograms.store(false, Ordering::Relaxed);
    }

    /// Whether a select since the last reset matched a series whose histogram samples are missing.
    pub fn read_histograms(&self) -> bool {
        self.read_histograms.load(Ordering::Relaxed)
    }

    /// Notes whether `matchers` select a series with missing histogram samples.
    fn note_histogram_reads(&self, matchers: &[Matcher]) {
        if self.histogram_series.iter().any(|l| matchers.iter().all(|m| m.matches_labels(l))) {
            self.read_histograms.store(true, Ordering::Relaxed);
        }
    }

    /// Matching series with their samples in `[min_t, max_t]`, those with none left out.
    fn matching(&self, matchers: &[Matcher], min_t: i64, max_t: i64) -> impl Iterator<Item = (&Labels, &[Sample])> {
        self.note_histogram_reads(matchers);
        self.series.iter().filter(|(labels, _)| matchers.iter().all(|m| m.matches_labels(labels))).filter_map(
            move |(labels, samples)| {
                let from = samples.partition_point(|s| s.t < min_t);
                let to = samples.partition_point(|s| s.t <= max_t);
                (from < to).then(|| (labels, &samples[from..to]))
            },
        )
    }
}

impl Querier for MemStore {
    fn select(
        &self,
        _tenant: &Tenant,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> lookout_storage::Result<Vec<SeriesData>> {
        Ok(self
            .matching(matchers, min_t, max_t)
            .map(|(labels, samples)| SeriesData { labels: labels.clone(), samples: samples.to_vec() })
            .collect())
    }

    fn series(
        &self,
        _tenant: &Tenant,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> lookout_storage::Result<Vec<Labels>> {
        Ok(self.matching(matchers, min_t, max_t).map(|(labels, _)| labels.clone()).collect())
    }
}
