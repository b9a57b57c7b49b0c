use serde::{Deserialize, Serialize};

use super::{Attributes, SpanId, TraceId};

/// One metric with its data points, as OTLP describes it.
///
/// The translation into Prometheus series (names, `_total`, `le`, delta → cumulative) is the
/// metrics store's job; this keeps everything the sender said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Metric name.
    pub name: String,
    /// Help text.
    pub description: String,
    /// Unit, UCUM case-sensitive.
    pub unit: String,
    /// Additional metadata attributes.
    pub metadata: Attributes,
    /// The data points.
    pub data: MetricData,
}

impl Metric {
    /// Number of data points.
    pub fn point_count(&self) -> usize {
        match &self.data {
            MetricData::Gauge { points } | MetricData::Sum { points, .. } => points.len(),
            MetricData::Histogram { points, .. } => points.len(),
            MetricData::ExponentialHistogram { points, .. } => points.len(),
            MetricData::Summary { points } => points.len(),
        }
    }
}

/// The kind of a metric with its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetricData {
    /// Last-value measurements.
    Gauge {
        /// Data points.
        points: Vec<NumberPoint>,
    },
    /// Sums over time.
    Sum {
        /// Data points.
        points: Vec<NumberPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
        /// Whether the sum only goes up.
        monotonic: bool,
    },
    /// Explicit-bucket histograms.
    Histogram {
        /// Data points.
        points: Vec<HistogramPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// Base-2 exponential histograms.
    ExponentialHistogram {
        /// Data points.
        points: Vec<ExponentialHistogramPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// Quantile summaries.
    Summary {
        /// Data points.
        points: Vec<SummaryPoint>,
    },
}

/// How a sum or histogram accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Temporality {
    /// Not specified by the sender.
    Unspecified,
    /// Each point covers only its own interval.
    Delta,
    /// Each point covers everything since the start time.
    Cumulative,
}

impl Temporality {
    /// From the OTLP enum number; unknown numbers become `Unspecified`.
    pub fn from_otlp(n: i32) -> Temporality {
        match n {
            1 => Temporality::Delta,
            2 => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        }
    }
}

/// An integer or a double.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Number {
    /// Integer value.
    Int(i64),
    /// Floating-point value.
    Double(f64),
}

impl Number {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Double(d) => d,
        }
    }
}

/// A gauge or sum data point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberPoint {
    /// Point attributes (become labels).
    pub attributes: Attributes,
    /// Start of the accumulation, nanoseconds since the Unix epoch (0 if unknown).
    pub start_time_unix_nano: u64,
    /// When the value was recorded, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The value.
    pub value: Number,
    /// Exemplars.
    pub exemplars: Vec<Exemplar>,
    /// OTLP data point flags (bit 0: no recorded value).
    pub flags: u32,
}

/// An explicit-bucket histogram data point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramPoint {
    /// Point attributes.
    pub attributes: Attributes,
    /// Start of the accumulation, nanoseconds.
    pub start_time_unix_nano: u64,
    /// Time of the point, nanoseconds.
    pub time_unix_nano: u64,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, if known.
    pub sum: Option<f64>,
    /// Per-bucket counts (not cumulative), one more than `explicit_bounds`, or empty.
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of all but the last bucket, increasing.
    pub explicit_bounds: Vec<f64>,
    /// Exemplars.
    pub exemplars: Vec<Exemplar>,
    /// OTLP data point flags.
    pub flags: u32,
    /// Smallest observation, if known.
    pub min: Option<f64>,
    /// Largest observation, if known.
    pub max: Option<f64>,
}

/// An exponential histogram data point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExponentialHistogramPoint {
    /// Point attributes.
    pub attributes: Attributes,
    /// Start of the accumulation, nanoseconds.
    pub start_time_unix_nano: u64,
    /// Time of the point, nanoseconds.
    pub time_unix_nano: u64,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, if known.
    pub sum: Option<f64>,
    /// Resolution: bucket boundaries are powers of `2^(2^-scale)`.
    pub scale: i32,
    /// Observations whose magnitude is at most `zero_threshold`.
    pub zero_count: u64,
    /// Buckets for positive values.
    pub positive: Buckets,
    /// Buckets for negative values.
    pub negative: Buckets,
    /// OTLP data point flags.
    pub flags: u32,
    /// Exemplars.
    pub exemplars: Vec<Exemplar>,
    /// Smallest observation, if known.
    pub min: Option<f64>,
    /// Largest observation, if known.
    pub max: Option<f64>,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
}

/// A dense run of exponential histogram buckets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Buckets {
    /// Index of the first bucket.
    pub offset: i32,
    /// Counts from `offset` on.
    pub bucket_counts: Vec<u64>,
}

/// A summary data point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryPoint {
    /// Point attributes.
    pub attributes: Attributes,
    /// Start of the accumulation, nanoseconds.
    pub start_time_unix_nano: u64,
    /// Time of the point, nanoseconds.
    pub time_unix_nano: u64,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Quantile values.
    pub quantile_values: Vec<ValueAtQuantile>,
    /// OTLP data point flags.
    pub flags: u32,
}

/// One quantile of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueAtQuantile {
    /// The quantile, 0..=1.
    pub quantile: f64,
    /// The value at that quantile.
    pub value: f64,
}

/// A sample measurement tied to a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    /// Attributes filtered out of the point's attributes.
    pub filtered_attributes: Attributes,
    /// When, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The measured value.
    pub value: Number,
    /// Span active at the measurement, if any.
    pub span_id: Option<SpanId>,
    /// Trace active at the measurement, if any.
    pub trace_id: Option<TraceId>,
}
