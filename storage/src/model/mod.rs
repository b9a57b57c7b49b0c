//! Lookout's own data model: what every signal looks like once it has been accepted.
//!
//! It mirrors OTLP's shape (resource → scope → items) because that is how data arrives and
//! how the stores want it grouped, but with the wire format's looseness removed: ids are
//! fixed-size arrays, enums are Rust enums, absent values are `Option`s, and every batch
//! carries its tenant.

mod common;
mod histogram;
mod log;
mod metric;
mod sample;
mod trace;

pub use common::{
    AnyValue, Attributes, Batch, KeyValue, Resource, ResourceGroup, Scope, ScopeGroup, SpanId, Tenant, TraceId,
};
pub use histogram::{
    BucketSpan, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, HistogramBucket, HistogramSample,
};
pub use log::{Entry, LogRecord, Stream, StreamBatch};
pub use metric::{
    Buckets, Exemplar, ExponentialHistogramPoint, HistogramPoint, Metric, MetricData, Number, NumberPoint,
    SummaryPoint, Temporality, ValueAtQuantile,
};
pub use sample::{
    Label, Labels, METRIC_NAME, MetricMetadata, MetricType, RefExemplar, RefSample, STALE_NAN_BITS, Sample,
    SampleBatch, SampleExemplar, SampleValue, SeriesDef, SeriesRef, SeriesSamples, is_stale_nan, stale_nan,
};
pub use trace::{Span, SpanEvent, SpanKind, SpanLink, Status, StatusCode};

use serde::{Deserialize, Serialize};

/// The three OpenTelemetry signals Lookout receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Spans.
    Traces,
    /// Log records.
    Logs,
    /// Metric data points.
    Metrics,
}

impl Signal {
    /// All signals, in a fixed order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// The lowercase name used in metrics labels and paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }
}

/// One accepted batch of one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// Spans grouped by resource and scope.
    Traces(Batch<Span>),
    /// Log records grouped by resource and scope.
    Logs(Batch<LogRecord>),
    /// Metrics grouped by resource and scope, as OTLP sent them (written by version 1 of the
    /// WAL; now translated to [`Payload::Samples`] before the WAL).
    Metrics(Batch<Metric>),
    /// Prometheus-shaped samples for the metrics store.
    Samples(SampleBatch),
    /// Log entries in Loki's shape (stream labels, line, structured metadata), as Loki's push
    /// API sends them.
    Streams(StreamBatch),
}

impl Payload {
    /// Which signal this payload holds.
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Traces(_) => Signal::Traces,
            Payload::Logs(_) | Payload::Streams(_) => Signal::Logs,
            Payload::Metrics(_) | Payload::Samples(_) => Signal::Metrics,
        }
    }

    /// Items in the batch, counted as OTLP counts them: spans, log records, metric data points.
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Traces(b) => b.items().count(),
            Payload::Logs(b) => b.items().count(),
            Payload::Metrics(b) => b.items().map(Metric::point_count).sum(),
            Payload::Samples(b) => b.samples.len(),
            Payload::Streams(b) => b.entry_count(),
        }
    }
}

/// A payload with the tenant it belongs to: the unit the WAL stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantPayload {
    /// Who sent it.
    pub tenant: Tenant,
    /// What was sent.
    pub payload: Payload,
}
