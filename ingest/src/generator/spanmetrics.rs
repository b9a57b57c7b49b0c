//! Span metrics: a call counter, a latency histogram and a size counter per service, span name,
//! kind and status, as Tempo's `span-metrics` processor makes them with its defaults
//! (`modules/generator/processor/spanmetrics/spanmetrics.go`, `config.go`).

use lookout_storage::{Labels, SeriesSamples, Span, SpanKind, StatusCode};

use super::registry::{CounterVec, HistogramVec, SeriesBudget};
use super::size;

/// `traces_spanmetrics_calls_total`.
pub(super) const CALLS_TOTAL: &str = "traces_spanmetrics_calls_total";
/// `traces_spanmetrics_latency` (`_bucket`, `_sum`, `_count`), in seconds.
pub(super) const LATENCY: &str = "traces_spanmetrics_latency";
/// `traces_spanmetrics_size_total`, in bytes of OTLP protobuf.
pub(super) const SIZE_TOTAL: &str = "traces_spanmetrics_size_total";

/// The OTLP enum name Tempo writes for a span kind.
pub(super) fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

/// The OTLP enum name Tempo writes for a status code.
pub(super) fn status_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

/// Seconds from start to end; a span that ends before it starts counts as zero, as in Tempo.
pub(super) fn duration_seconds(span: &Span) -> f64 {
    span.duration_nanos() as f64 / 1e9
}

/// The span metrics families of one tenant.
#[derive(Debug)]
pub(super) struct SpanMetrics {
    pub(super) calls: CounterVec,
    pub(super) latency: HistogramVec,
    pub(super) size: CounterVec,
}

impl SpanMetrics {
    pub(super) fn new(buckets: &[f64]) -> SpanMetrics {
        SpanMetrics {
            calls: CounterVec::new(CALLS_TOTAL),
            latency: HistogramVec::new(LATENCY, buckets),
            size: CounterVec::new(SIZE_TOTAL),
        }
    }

    /// Counts one span of `service` (absent `service.name` gives no `service` label, as an
    /// empty value does in Prometheus).
    pub(super) fn observe(&mut self, service: &str, span: &Span, now_ms: i64, budget: &mut SeriesBudget) {
        let labels = Labels::from_pairs([
            ("service", service),
            ("span_name", span.name.as_str()),
            ("span_kind", kind_name(span.kind)),
            ("status_code", status_name(span.status.code)),
        ]);
        self.calls.inc(&labels, 1.0, now_ms, budget);
        self.latency.observe(&labels, duration_seconds(span), span.trace_id, now_ms, budget);
        self.size.inc(&labels, size::encoded_len(span) as f64, now_ms, budget);
    }

    pub(super) fn remove_stale(&mut self, cutoff_ms: i64, budget: &mut SeriesBudget) {
        self.calls.remove_stale(cutoff_ms, budget);
        self.latency.remove_stale(cutoff_ms, budget);
        self.size.remove_stale(cutoff_ms, budget);
    }

    pub(super) fn collect(&mut self, now_ms: i64, trace_label: &str, out: &mut Vec<SeriesSamples>) {
        self.calls.collect(now_ms, out);
        self.latency.collect(now_ms, trace_label, out);
        self.size.collect(now_ms, out);
    }
}
