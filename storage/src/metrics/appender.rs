//! Turning incoming series into one WAL record: series references from the head (new series
//! created on the spot), samples checked against what the head holds, limits enforced. What an
//! appender refuses is counted with the first reason, for the sender's error message.

use std::collections::HashMap;

use super::Tsdb;
use super::head::Appended;
use crate::{
    Label, Labels, METRIC_NAME, MetricMetadata, RefExemplar, RefSample, Sample, SampleBatch, SampleExemplar, SeriesDef,
    Tenant,
};

/// What an appender refused, and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refusals {
    /// Samples refused, whatever the reason.
    pub samples: u64,
    /// Samples older than the newest one of their series, or at its time with another value.
    pub out_of_order: u64,
    /// Samples older than what the store accepts (already in blocks, or beyond retention).
    pub out_of_bounds: u64,
    /// Series refused because the tenant has too many series.
    pub series_limit: u64,
    /// Series refused because they have too many labels.
    pub label_limit: u64,
    /// Series refused because their labels are invalid (no name, repeated label names).
    pub invalid: u64,
    /// The first refusal, worded for the sender.
    pub first_error: Option<String>,
}

impl Refusals {
    /// Whether nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// Whether a per-tenant limit (rather than bad data) caused a refusal.
    pub fn limited(&self) -> bool {
        self.series_limit > 0 || self.label_limit > 0
    }

    fn note(&mut self, message: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }
}

/// Builds one [`SampleBatch`] for a tenant. Dropping it without writing the batch anywhere
/// leaves at most some new, empty series behind (removed at the next head cut).
pub struct Appender<'a> {
    tsdb: &'a Tsdb,
    tenant: Tenant,
    batch: SampleBatch,
    /// Newest time per series in this batch.
    pending: HashMap<u32, (i64, u64)>,
    /// Series defined in this batch.
    defined: HashMap<u32, ()>,
    refusals: Refusals,
    min_t: i64,
    /// Indexes of the samples of the last `add` that were refused.
    last_refused: Vec<usize>,
}

impl<'a> Appender<'a> {
    pub(crate) fn new(tsdb: &'a Tsdb, tenant: Tenant) -> Appender<'a> {
        let min_t = tsdb.retention_start(std::time::SystemTime::now());
        Appender {
            tsdb,
            tenant,
            batch: SampleBatch::default(),
            pending: HashMap::new(),
            defined: HashMap::new(),
            refusals: Refusals::default(),
            min_t,
            last_refused: Vec::new(),
        }
    }

    /// Adds a series given as a label set.
    pub fn add(&mut self, labels: &Labels, samples: &[Sample], exemplars: &[SampleExemplar]) -> bool {
        let pairs: Vec<(&str, &str)> = labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        self.add_pairs(&pairs, samples, exemplars)
    }

    /// Adds a series given as label pairs (sorted by name for the fast path; anything else is
    /// normalised first). Returns whether the series was accepted (its samples may still be
    /// refused one by one).
    pub fn add_pairs(&mut self, pairs: &[(&str, &str)], samples: &[Sample], exemplars: &[SampleExemplar]) -> bool {
        self.last_refused.clear();
        let clean = pairs.windows(2).all(|w| w[0].0 < w[1].0) && pairs.iter().all(|p| !p.1.is_empty());
        if !clean {
            if let Some((name, _)) = pairs.windows(2).find(|w| w[0].0 == w[1].0).map(|w| w[0]) {
                return self.refuse_series(
                    samples.len(),
                    |r| &mut r.invalid,
                    || format!("invalid labels: duplicate label name {name:?}"),
                );
            }
            let labels = Labels::new(pairs.iter().map(|&(n, v)| Label::new(n, v)).collect());
            let owned: Vec<(&str, &str)> = labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
            return self.add_clean(&owned, samples, exemplars);
        }
        self.add_clean(pairs, samples, exemplars)
    }

    fn add_clean(&mut self, pairs: &[(&str, &str)], samples: &[Sample], exemplars: &[SampleExemplar]) -> bool {
        let options = self.tsdb.options();
        let name = pairs.iter().find(|p| p.0 == METRIC_NAME).map(|p| p.1);
        if name.is_none() {
            let shown = show(pairs);
            return self.refuse_series(
                samples.len(),
                |r| &mut r.invalid,
                || format!("series {shown} has no metric name"),
            );
        }
        if pairs.iter().any(|p| p.0.is_empty()) {
            let shown = show(pairs);
            return self.refuse_series(
                samples.len(),
                |r| &mut r.invalid,
                || format!("series {shown} has an empty label name"),
            );
        }
        if pairs.len() > options.max_labels_per_series {
            let (shown, limit, n) = (show(pairs), options.max_labels_per_series, pairs.len());
            return self.refuse_series(samples.len(), |r| &mut r.label_limit, || {
                format!("series {shown} has {n} labels, more than the limit of {limit} labels per series (max_labels_per_series)")
            });
        }
        // Named by a shortened metric name: the series itself may be megabytes long.
        let metric = shorten(name.unwrap_or_default());
        if let Some((n, _)) = pairs.iter().find(|p| p.0.len() > options.max_label_name_length) {
            let (limit, len, label) = (options.max_label_name_length, n.len(), shorten(n));
            return self.refuse_series(samples.len(), |r| &mut r.label_limit, || {
                format!("a series of {metric:?} has a label name of {len} bytes ({label:?}), longer than the limit of {limit} (max_label_name_length)")
            });
        }
        if let Some((n, v)) = pairs.iter().find(|p| p.1.len() > options.max_label_value_length) {
            let (limit, len, label) = (options.max_label_value_length, v.len(), shorten(n));
            return self.refuse_series(samples.len(), |r| &mut r.label_limit, || {
                format!("a series of {metric:?}: the value of label {label:?} is {len} bytes, longer than the limit of {limit} (max_label_value_length)")
            });
        }
        let Some((id, logged)) = self.resolve(pairs) else {
            let (shown, limit) = (show(pairs), options.max_series(&self.tenant));
            let tenant = self.tenant.as_str().to_string();
            return self.refuse_series(samples.len(), |r| &mut r.series_limit, || {
                format!("series {shown} refused: tenant {tenant:?} has reached the limit of {limit} active series (max_series_per_tenant)")
            });
        };
        if !logged && self.defined.insert(id, ()).is_none() {
            self.batch.series.push(SeriesDef {
                series: id as u64,
                labels: Labels::from_sorted(pairs.iter().map(|&(n, v)| Label::new(n, v)).collect()),
            });
        }
        {
            let state = self.tsdb.read();
            for (i, s) in samples.iter().enumerate() {
                let verdict = if s.t < self.min_t {
                    Appended::OutOfBounds
                } else {
                    match self.pending.get(&id) {
                        Some(&(t, bits)) if s.t < t || (s.t == t && s.v.to_bits() != bits) => Appended::OutOfOrder,
                        Some(&(t, _)) if s.t == t => Appended::Duplicate,
                        Some(_) => Appended::Ok,
                        None => state.head.check(id, s.t, s.v),
                    }
                };
                match verdict {
                    Appended::Ok => {
                        self.pending.insert(id, (s.t, s.v.to_bits()));
                        self.batch.samples.push(RefSample { series: id as u64, t: s.t, v: s.v });
                    }
                    Appended::Duplicate => {}
                    Appended::OutOfOrder => {
                        self.last_refused.push(i);
                        self.refusals.samples += 1;
                        self.refusals.out_of_order += 1;
                        self.refusals
                            .note(|| format!("out of order sample for series {}: timestamp {}", show(pairs), s.t));
                    }
                    Appended::OutOfBounds | Appended::UnknownSeries => {
                        self.last_refused.push(i);
                        self.refusals.samples += 1;
                        self.refusals.out_of_bounds += 1;
                        self.refusals.note(|| {
                            format!("out of bounds sample for series {}: timestamp {} is too old", show(pairs), s.t)
                        });
                    }
                }
            }
        }
        for e in exemplars {
            self.batch.exemplars.push(RefExemplar { series: id as u64, exemplar: e.clone() });
        }
        true
    }

    /// The series' id and whether the WAL already defines it; `None` when the series limit
    /// forbids creating it.
    fn resolve(&mut self, pairs: &[(&str, &str)]) -> Option<(u32, bool)> {
        {
            let state = self.tsdb.read();
            let head = &state.head;
            let hash = head.hash(pairs.iter().copied());
            if let Some(t) = head.tenant_id(&self.tenant) {
                if let Some(id) = head.find(t, hash, pairs) {
                    let logged = head.series[id as usize].as_ref().is_some_and(|s| s.logged);
                    return Some((id, logged));
                }
                if head.tenants[t as usize].series >= self.tsdb.options().max_series(&self.tenant) {
                    return None;
                }
            }
        }
        let labels = Labels::from_sorted(pairs.iter().map(|&(n, v)| Label::new(n, v)).collect());
        let mut state = self.tsdb.write();
        let head = &mut state.head;
        let existing = head.tenant(&self.tenant).map_or(0, |t| t.series);
        let (id, created) = head.get_or_create(&self.tenant, &labels, None);
        if created && existing >= self.tsdb.options().max_series(&self.tenant) {
            // Lost a race with another appender: undo is not worth it, the cut removes it.
            return None;
        }
        let logged = head.series[id as usize].as_ref().is_some_and(|s| s.logged);
        Some((id, logged))
    }

    fn refuse_series(
        &mut self,
        samples: usize,
        reason: fn(&mut Refusals) -> &mut u64,
        message: impl FnOnce() -> String,
    ) -> bool {
        self.refusals.samples += samples as u64;
        *reason(&mut self.refusals) += 1;
        self.refusals.note(message);
        false
    }

    /// Indexes (into its `samples`) of what the last [`Appender::add`] refused.
    pub fn last_refused(&self) -> &[usize] {
        &self.last_refused
    }

    /// Adds a family's metadata.
    pub fn add_metadata(&mut self, metadata: MetricMetadata) {
        if !self.batch.metadata.contains(&metadata) {
            self.batch.metadata.push(metadata);
        }
    }

    /// Samples accepted so far.
    pub fn samples(&self) -> usize {
        self.batch.samples.len()
    }

    /// The batch for the WAL and what was refused.
    pub fn finish(self) -> (SampleBatch, Refusals) {
        (self.batch, self.refusals)
    }
}

/// The first 64 characters of `s`, with `…` when there were more.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

fn show(pairs: &[(&str, &str)]) -> String {
    Labels::from_sorted(pairs.iter().map(|&(n, v)| Label::new(n, v)).collect()).to_string()
}
