//! Metrics derived from spans, under the names Grafana Tempo's metrics-generator gives them, so
//! that Grafana's service graph and APM ("RED") views work against Lookout.
//!
//! # Data path
//! Accepted span batches go to [`Generator::observe`] with their tenant and the current time;
//! a periodic [`Generator::collect`] returns every series' cumulative value at that time, which
//! the caller writes to the metrics store like any other samples.
//!
//! - `spanmetrics`: `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency` and
//!   `traces_spanmetrics_size_total` by `service`, `span_name`, `span_kind`, `status_code`.
//! - `servicegraph`: pairs the client and server spans of each call into
//!   `traces_service_graph_request_*` by `client`, `server`, `connection_type`; the pairing
//!   rules are in that module's documentation.
//! - `registry`: cumulative counters and classic histograms, with a series cap per tenant.
//! - `size`: a span's OTLP protobuf size without encoding it.
//!
//! # What follows Tempo and what does not
//! Names, labels, label values, default buckets, the exemplar label (`traceID`, on histogram
//! buckets only, each exemplar sent once, the trace id in hex without leading zeros), the wait,
//! the pending-store size and the pairing and virtual-node rules follow Tempo's defaults.
//! Options that Tempo leaves off by default are not implemented: `traces_target_info` with
//! `job`/`instance` labels, `status_message`, extra dimensions, the messaging-system latency
//! histogram, the `virtual_node` label, span multipliers, filter policies and native histograms.
//! Tempo also sends a zero sample before a new series' first value; here each collect gives
//! exactly one sample per series. `traces_service_graph_unpaired_spans_total` and
//! `_dropped_spans_total` are not made by Tempo's generator (it counts these in its own
//! `tempo_metrics_generator_*` metrics) but are documented for service graphs and made by
//! Grafana Alloy; here they carry the labels of the half edge that could not be paired.
//!
//! Time is whatever `now_ms` the caller passes, so waits and expiry are deterministic in tests.

mod registry;
mod servicegraph;
mod size;
mod spanmetrics;

use std::collections::BTreeMap;
use std::time::Duration;

use lookout_storage::{Batch, MetricMetadata, MetricType, SeriesSamples, Span, Tenant};

use registry::SeriesBudget;
use servicegraph::ServiceGraph;
use spanmetrics::SpanMetrics;

/// `count` buckets from `start`, each `factor` times the last (Prometheus's
/// `ExponentialBuckets`, computed the same way so the `le` values match).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count);
    let mut next = start;
    for _ in 0..count {
        out.push(next);
        next *= factor;
    }
    out
}

/// Settings of the [`Generator`]; `Default` gives Tempo's defaults where Tempo has one.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorOptions {
    /// Upper bounds of `traces_spanmetrics_latency`, in seconds (`+Inf` is added). Tempo:
    /// 0.002 doubling 14 times, up to 16.384.
    pub histogram_buckets: Vec<f64>,
    /// Upper bounds of the service graph latency histograms, in seconds (`+Inf` is added).
    /// Tempo: 0.1 doubling 8 times, up to 12.8.
    pub service_graph_buckets: Vec<f64>,
    /// How long half an edge waits for its other half. Tempo: 10 s.
    pub service_graph_wait: Duration,
    /// Most half edges waiting per tenant; a span that would add one more is dropped. Tempo:
    /// 10 000.
    pub max_items: usize,
    /// Most active series per tenant, counted as Tempo counts them (a histogram series costs
    /// its buckets plus `_sum` and `_count`); 0 means no cap. Tempo has no cap by default;
    /// Lookout keeps one so memory stays bounded.
    pub max_series_per_tenant: usize,
    /// A series not updated for this long is removed. Tempo: 15 min.
    pub stale_duration: Duration,
    /// Exemplar label holding the trace id. Tempo: `traceID`.
    pub trace_id_label_name: String,
    /// Span attributes naming the other side of a call that sends no spans, first found wins.
    /// Tempo: `peer.service`, `db.name`, `db.system`.
    pub peer_attributes: Vec<String>,
    /// Attributes that make a client span a database call and name the database. Tempo:
    /// `db.namespace`, `db.name`, `db.system`.
    pub database_name_attributes: Vec<String>,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        let strings = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect();
        GeneratorOptions {
            histogram_buckets: exponential_buckets(0.002, 2.0, 14),
            service_graph_buckets: exponential_buckets(0.1, 2.0, 8),
            service_graph_wait: Duration::from_secs(10),
            max_items: 10_000,
            max_series_per_tenant: 100_000,
            stale_duration: Duration::from_secs(15 * 60),
            trace_id_label_name: "traceID".to_owned(),
            peer_attributes: strings(&["peer.service", "db.name", "db.system"]),
            database_name_attributes: strings(&["db.namespace", "db.name", "db.system"]),
        }
    }
}

/// Finite bounds, ascending, without repeats.
fn clean_buckets(buckets: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = buckets.iter().copied().filter(|b| b.is_finite()).collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// Everything kept for one tenant.
#[derive(Debug)]
struct TenantState {
    budget: SeriesBudget,
    spans: SpanMetrics,
    graph: ServiceGraph,
}

/// Turns spans into Tempo-named span metrics and service graph metrics, per tenant.
#[derive(Debug)]
pub struct Generator {
    options: GeneratorOptions,
    tenants: BTreeMap<Tenant, TenantState>,
}

impl Default for Generator {
    fn default() -> Self {
        Generator::new(GeneratorOptions::default())
    }
}

impl Generator {
    /// A generator with no series yet. Bucket lists are sorted and non-finite bounds dropped.
    pub fn new(mut options: GeneratorOptions) -> Generator {
        options.histogram_buckets = clean_buckets(&options.histogram_buckets);
        options.service_graph_buckets = clean_buckets(&options.service_graph_buckets);
        Generator { options, tenants: BTreeMap::new() }
    }

    /// Counts the spans of `batch` for `tenant`, at `now_ms` (milliseconds since the epoch).
    /// Half edges whose wait ended by `now_ms` expire first.
    pub fn observe(&mut self, tenant: &Tenant, batch: &Batch<Span>, now_ms: i64) {
        if batch.is_empty() {
            return;
        }
        let opts = &self.options;
        let state = self.tenants.entry(tenant.clone()).or_insert_with(|| TenantState {
            budget: SeriesBudget::new(opts.max_series_per_tenant),
            spans: SpanMetrics::new(&opts.histogram_buckets),
            graph: ServiceGraph::new(&opts.service_graph_buckets),
        });
        state.graph.expire(now_ms, &mut state.budget);
        for group in &batch.resources {
            let service = group.resource.service_name().unwrap_or("");
            for span in group.scopes.iter().flat_map(|s| s.items.iter()) {
                state.spans.observe(service, span, now_ms, &mut state.budget);
                if !service.is_empty() {
                    state.graph.observe(opts, &group.resource, service, span, now_ms, &mut state.budget);
                }
            }
        }
    }

    /// Every series' current cumulative value, one sample at `now_ms` each, by tenant. Expires
    /// half edges and removes stale series first; forgets tenants left with nothing.
    pub fn collect(&mut self, now_ms: i64) -> Vec<(Tenant, Vec<SeriesSamples>)> {
        let stale_ms = i64::try_from(self.options.stale_duration.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(stale_ms);
        let trace_label = self.options.trace_id_label_name.as_str();
        let mut out = Vec::new();
        self.tenants.retain(|tenant, state| {
            state.graph.expire(now_ms, &mut state.budget);
            state.spans.remove_stale(cutoff, &mut state.budget);
            state.graph.remove_stale(cutoff, &mut state.budget);
            let mut series = Vec::new();
            state.spans.collect(now_ms, trace_label, &mut series);
            state.graph.collect(now_ms, trace_label, &mut series);
            if !series.is_empty() {
                out.push((tenant.clone(), series));
            }
            state.budget.active > 0 || state.graph.pending() > 0
        });
        out
    }

    /// Type and help of every family the generator writes.
    pub fn metadata() -> Vec<MetricMetadata> {
        let family = |name: &str, kind, help: &str, unit: &str| MetricMetadata {
            metric_family: name.to_owned(),
            kind,
            help: help.to_owned(),
            unit: unit.to_owned(),
        };
        let counter = |name: &str, help| family(name.trim_end_matches("_total"), MetricType::Counter, help, "");
        vec![
            counter(spanmetrics::CALLS_TOTAL, "Total count of the span"),
            family(spanmetrics::LATENCY, MetricType::Histogram, "Duration of the span", ""),
            counter(spanmetrics::SIZE_TOTAL, "Total size of spans ingested"),
            counter(servicegraph::REQUEST_TOTAL, "Total count of requests between two nodes"),
            counter(servicegraph::REQUEST_FAILED_TOTAL, "Total count of failed requests between two nodes"),
            family(
                servicegraph::REQUEST_SERVER_SECONDS,
                MetricType::Histogram,
                "Time for a request between two nodes as seen from the server",
                "seconds",
            ),
            family(
                servicegraph::REQUEST_CLIENT_SECONDS,
                MetricType::Histogram,
                "Time for a request between two nodes as seen from the client",
                "seconds",
            ),
            counter(servicegraph::UNPAIRED_SPANS_TOTAL, "Total count of unpaired spans"),
            counter(servicegraph::DROPPED_SPANS_TOTAL, "Total count of dropped spans"),
        ]
    }

    /// New series of `tenant` not created because of `max_series_per_tenant`.
    pub fn series_refused(&self, tenant: &Tenant) -> u64 {
        self.tenants.get(tenant).map_or(0, |t| t.budget.refused)
    }

    /// Active series of `tenant`, counted as the cap counts them.
    pub fn active_series(&self, tenant: &Tenant) -> usize {
        self.tenants.get(tenant).map_or(0, |t| t.budget.active)
    }

    /// Half edges of `tenant` waiting for their other half.
    pub fn pending_edges(&self, tenant: &Tenant) -> usize {
        self.tenants.get(tenant).map_or(0, |t| t.graph.pending())
    }
}

#[cfg(test)]
mod tests;
