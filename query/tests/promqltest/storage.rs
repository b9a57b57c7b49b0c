//! The in-memory series the evals read: a [`Querier`] over label sets and sorted samples.
//!
//! Only float samples (and staleness markers) are kept. Native-histogram samples, and the NHCB
//! series `load_with_nhcb` would build, are not stored; their label sets are remembered so that
//! a failing eval can say it read a series whose histogram samples are missing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use lookout_storage::metrics::{Matcher, MemSeries, Querier, SeriesData};
use lookout_storage::{Labels, METRIC_NAME, Sample, Tenant};

use super::notation::SeqValue;
use super::script::Load;

/// Series loaded since the last `clear`.
#[derive(Debug, Default)]
pub struct MemStore {
    /// Float samples per series.
    series: MemSeries,
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

    /// Adds samples to a series (at a timestamp written twice, the later write wins).
    pub fn append(&mut self, labels: &Labels, samples: Vec<Sample>) {
        self.series.append(labels, samples);
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
}

impl Querier for MemStore {
    fn select(
        &self,
        tenant: &Tenant,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> lookout_storage::Result<Vec<SeriesData>> {
        self.note_histogram_reads(matchers);
        self.series.select(tenant, matchers, min_t, max_t)
    }

    fn series(
        &self,
        tenant: &Tenant,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> lookout_storage::Result<Vec<Labels>> {
        self.note_histogram_reads(matchers);
        self.series.series(tenant, matchers, min_t, max_t)
    }
}
