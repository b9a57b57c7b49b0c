//! Prometheus-shaped metrics: label sets, samples, exemplars and the batches the WAL keeps for
//! the metrics store.
//!
//! Every way metrics arrive (OTLP after translation, remote_write, scraping, metrics derived
//! from spans) ends as [`SeriesSamples`]; ingest then resolves each label set to the store's
//! series reference and writes a [`SampleBatch`], which names each series by reference and
//! carries the label set of any series the WAL may not have defined yet.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Prometheus's staleness marker: a NaN with this exact bit pattern means "this series ended".
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the staleness marker (not any NaN: only Prometheus's bit pattern).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One label: name and value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Label value (never empty in a stored label set: an empty value means "no label").
    pub value: String,
}

impl Label {
    /// A label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label { name: name.into(), value: value.into() }
    }
}

/// A label set sorted by name, with no duplicate names and no empty values.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Sorts `labels` by name and drops empty values. When a name repeats, the last one wins.
    pub fn new(mut labels: Vec<Label>) -> Labels {
        labels.retain(|l| !l.value.is_empty());
        // Stable sort keeps input order among equal names, so keeping the last keeps the last given.
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(labels.len());
        for l in labels {
            match out.last_mut() {
                Some(prev) if prev.name == l.name => *prev = l,
                _ => out.push(l),
            }
        }
        Labels(out)
    }

    /// From `(name, value)` pairs.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Labels {
        Labels::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Wraps labels the caller guarantees are sorted, unique and non-empty.
    pub fn from_sorted(labels: Vec<Label>) -> Labels {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if set.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The labels, owned.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Sets `name` to `value` (an empty value removes the label).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, Label::new(name, value)),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok()?;
        Some(self.0.remove(i).value)
    }
}

impl fmt::Display for Labels {
    /// Prometheus's notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A sample's value. An enum so that native histograms can be added without a format break.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SampleValue {
    /// A float (may be the staleness marker).
    Float(f64),
}

/// One sample: milliseconds since the Unix epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Timestamp, milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// An exemplar: a measurement tied to a trace, kept per series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleExemplar {
    /// Exemplar labels (`trace_id`, `span_id` and any filtered attributes).
    pub labels: Labels,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The measured value.
    pub v: f64,
}

/// The Prometheus metric types, as `/api/v1/metadata` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricType {
    /// Monotonic counter.
    Counter,
    /// Arbitrary value.
    Gauge,
    /// Classic histogram (`_bucket`, `_sum`, `_count`).
    Histogram,
    /// OpenMetrics gauge histogram.
    GaugeHistogram,
    /// Quantile summary.
    Summary,
    /// OpenMetrics info metric.
    Info,
    /// OpenMetrics state set.
    StateSet,
    /// Type not given.
    Unknown,
}

impl MetricType {
    /// The lowercase name Prometheus uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// Type, help and unit of one metric family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetricMetadata {
    /// The family name (without `_bucket`, `_sum`, `_count`, `_total` for OpenMetrics counters).
    pub metric_family: String,
    /// The type.
    pub kind: MetricType,
    /// Help text.
    pub help: String,
    /// Unit (may be empty).
    pub unit: String,
}

/// Samples and exemplars for one label set, as ingest produces them before the store assigns a
/// series reference.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesSamples {
    /// The series' labels, `__name__` included.
    pub labels: Labels,
    /// Samples, in the order received.
    pub samples: Vec<Sample>,
    /// Exemplars, in the order received.
    pub exemplars: Vec<SampleExemplar>,
}

/// The metrics store's name for a series, unique across tenants for the life of the store.
pub type SeriesRef = u64;

/// A series defined in a [`SampleBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDef {
    /// The reference samples use.
    pub series: SeriesRef,
    /// Its label set.
    pub labels: Labels,
}

/// A sample of a referenced series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RefSample {
    /// Which series.
    pub series: SeriesRef,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// An exemplar of a referenced series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefExemplar {
    /// Which series.
    pub series: SeriesRef,
    /// The exemplar.
    pub exemplar: SampleExemplar,
}

/// What the WAL keeps for accepted metric samples: definitions of series the WAL may not hold
/// yet, then samples and exemplars by reference, then family metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SampleBatch {
    /// Series first used (as far as the store knew) by this batch.
    pub series: Vec<SeriesDef>,
    /// Samples.
    pub samples: Vec<RefSample>,
    /// Exemplars.
    pub exemplars: Vec<RefExemplar>,
    /// Family metadata seen in this batch.
    pub metadata: Vec<MetricMetadata>,
}
