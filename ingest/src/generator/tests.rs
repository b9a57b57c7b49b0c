use std::time::Duration;

use lookout_storage::{
    AnyValue, Batch, KeyValue, Labels, Resource, ResourceGroup, Scope, ScopeGroup, SeriesSamples, Span, SpanId,
    SpanKind, Status, StatusCode, Tenant, TraceId,
};

use super::registry::format_le;
use super::{Generator, GeneratorOptions, size};

const T0_NS: u64 = 1_700_000_000_000_000_000;
const NOW: i64 = 1_700_000_100_000;

fn trace(n: u8) -> TraceId {
    TraceId([n; 16])
}

/// The trace id as Tempo writes it in an exemplar: hex without leading zeros.
fn exemplar_id(n: u8) -> String {
    trace(n).to_hex().trim_start_matches('0').to_owned()
}

fn id(n: u8) -> SpanId {
    SpanId([n; 8])
}

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_owned(), value: AnyValue::String(value.to_owned()) }
}

struct S {
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: &'static str,
    kind: SpanKind,
    millis: u64,
    code: StatusCode,
    attributes: Vec<KeyValue>,
}

fn s(trace: u8, id: u8, parent: Option<u8>, name: &'static str, kind: SpanKind, millis: u64) -> S {
    S { trace, id, parent, name, kind, millis, code: StatusCode::Unset, attributes: Vec::new() }
}

impl S {
    fn code(mut self, code: StatusCode) -> S {
        self.code = code;
        self
    }

    fn attr(mut self, key: &str, value: &str) -> S {
        self.attributes.push(attr(key, value));
        self
    }

    fn build(self) -> Span {
        Span {
            trace_id: trace(self.trace),
            span_id: id(self.id),
            parent_span_id: self.parent.map(id),
            trace_state: String::new(),
            flags: 0,
            name: self.name.to_owned(),
            kind: self.kind,
            start_time_unix_nano: T0_NS,
            end_time_unix_nano: T0_NS + self.millis * 1_000_000,
            attributes: self.attributes,
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status { code: self.code, message: String::new() },
        }
    }
}

/// One resource per `(service, spans)`.
fn batch(groups: Vec<(&str, Vec<S>)>) -> Batch<Span> {
    Batch {
        resources: groups
            .into_iter()
            .map(|(service, spans)| ResourceGroup {
                resource: Resource { attributes: vec![attr("service.name", service)], ..Resource::default() },
                scopes: vec![ScopeGroup { scope: Scope::default(), items: spans.into_iter().map(S::build).collect() }],
            })
            .collect(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// The one tenant's series after a collect at `now`.
fn collect_one(g: &mut Generator, now: i64) -> Vec<SeriesSamples> {
    let mut out = g.collect(now);
    assert_eq!(out.len(), 1, "one tenant");
    out.remove(0).1
}

fn find<'a>(series: &'a [SeriesSamples], pairs: &[(&str, &str)]) -> &'a SeriesSamples {
    let want = labels(pairs);
    series.iter().find(|s| s.labels == want).unwrap_or_else(|| panic!("no series {want}"))
}

fn value(series: &[SeriesSamples], pairs: &[(&str, &str)]) -> f64 {
    let s = find(series, pairs);
    assert_eq!(s.samples.len(), 1);
    s.samples[0].v
}

fn absent(series: &[SeriesSamples], pairs: &[(&str, &str)]) -> bool {
    let want = labels(pairs);
    !series.iter().any(|s| s.labels == want)
}

fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(extra).copied().collect()
}

/// Checks one histogram series: the cumulative count at each `le`, sum and count.
fn assert_histogram(series: &[SeriesSamples], name: &str, base: &[(&str, &str)], bounds: &[f64], value_s: f64) {
    let bucket = format!("{name}_bucket");
    for b in bounds.iter().copied().chain([f64::INFINITY]) {
        let le = format_le(b);
        let pairs = with(base, &[("__name__", &bucket), ("le", &le)]);
        let want = if value_s <= b { 1.0 } else { 0.0 };
        assert_eq!(value(series, &pairs), want, "{name} le={le}");
    }
    let sum = format!("{name}_sum");
    let count = format!("{name}_count");
    assert_eq!(value(series, &with(base, &[("__name__", &sum)])), value_s);
    assert_eq!(value(series, &with(base, &[("__name__", &count)])), 1.0);
}

/// client (frontend) → server (orders) → producer (orders) → consumer (billing, error).
fn shop_trace() -> Batch<Span> {
    batch(vec![
        ("frontend", vec![s(1, 1, None, "GET /orders", SpanKind::Client, 100)]),
        (
            "orders",
            vec![
                s(1, 2, Some(1), "GET /orders", SpanKind::Server, 80),
                s(1, 3, Some(2), "publish invoice", SpanKind::Producer, 10),
            ],
        ),
        ("billing", vec![s(1, 4, Some(3), "process invoice", SpanKind::Consumer, 30).code(StatusCode::Error)]),
    ])
}

#[test]
fn default_buckets_are_tempos() {
    let o = GeneratorOptions::default();
    let le: Vec<String> = o.histogram_buckets.iter().map(|b| format_le(*b)).collect();
    assert_eq!(
        le,
        [
            "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096",
            "8.192", "16.384"
        ]
    );
    let le: Vec<String> = o.service_graph_buckets.iter().map(|b| format_le(*b)).collect();
    assert_eq!(le, ["0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8"]);
    assert_eq!(format_le(f64::INFINITY), "+Inf");
    assert_eq!(o.service_graph_wait, Duration::from_secs(10));
    assert_eq!(o.max_items, 10_000);
    assert_eq!(o.trace_id_label_name, "traceID");
}

#[test]
fn shop_trace_gives_tempo_span_metrics() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    let b = shop_trace();
    g.observe(&tenant, &b, NOW);
    let out = g.collect(NOW);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, tenant);
    let series = &out[0].1;
    let bounds = GeneratorOptions::default().histogram_buckets;

    let spans: Vec<&Span> = b.items().collect();
    let cases = [
        ("frontend", "GET /orders", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", 0.1, spans[0]),
        ("orders", "GET /orders", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", 0.08, spans[1]),
        ("orders", "publish invoice", "SPAN_KIND_PRODUCER", "STATUS_CODE_UNSET", 0.01, spans[2]),
        ("billing", "process invoice", "SPAN_KIND_CONSUMER", "STATUS_CODE_ERROR", 0.03, spans[3]),
    ];
    for (service, name, kind, code, seconds, span) in cases {
        let base = [("service", service), ("span_name", name), ("span_kind", kind), ("status_code", code)];
        assert_eq!(value(series, &with(&base, &[("__name__", "traces_spanmetrics_calls_total")])), 1.0);
        assert_eq!(
            value(series, &with(&base, &[("__name__", "traces_spanmetrics_size_total")])),
            size::encoded_len(span) as f64
        );
        assert_histogram(series, "traces_spanmetrics_latency", &base, &bounds, seconds);
    }

    // The exemplar sits on the first bucket holding the value, and nowhere else.
    let base = [
        ("service", "frontend"),
        ("span_name", "GET /orders"),
        ("span_kind", "SPAN_KIND_CLIENT"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    let with_exemplar: Vec<&SeriesSamples> = series
        .iter()
        .filter(|s| !s.exemplars.is_empty() && s.labels.get("service") == Some("frontend"))
        .filter(|s| s.labels.metric_name() == Some("traces_spanmetrics_latency_bucket"))
        .collect();
    assert_eq!(with_exemplar.len(), 1);
    let bucket = find(series, &with(&base, &[("__name__", "traces_spanmetrics_latency_bucket"), ("le", "0.128")]));
    assert_eq!(bucket.exemplars.len(), 1);
    assert_eq!(bucket.exemplars[0].labels, labels(&[("traceID", &exemplar_id(1))]));
    assert_eq!(exemplar_id(1).len(), 31, "leading zero left out, as Tempo does");
    assert_eq!(bucket.exemplars[0].v, 0.1);
    assert_eq!(bucket.exemplars[0].t, NOW);
    // Counters carry no exemplars, as in Tempo.
    assert!(find(series, &with(&base, &[("__name__", "traces_spanmetrics_calls_total")])).exemplars.is_empty());
    // Every sample is at the collect time.
    assert!(series.iter().all(|s| s.samples.len() == 1 && s.samples[0].t == NOW));
}

#[test]
fn shop_trace_gives_tempo_service_graph() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    g.observe(&tenant, &shop_trace(), NOW);
    assert_eq!(g.pending_edges(&tenant), 0, "every half found its pair");
    let series = collect_one(&mut g, NOW);
    let bounds = GeneratorOptions::default().service_graph_buckets;

    // HTTP call: no connection_type label (Tempo's empty value).
    let http = [("client", "frontend"), ("server", "orders")];
    assert_eq!(value(&series, &with(&http, &[("__name__", "traces_service_graph_request_total")])), 1.0);
    assert!(absent(&series, &with(&http, &[("__name__", "traces_service_graph_request_failed_total")])));
    assert_histogram(&series, "traces_service_graph_request_server_seconds", &http, &bounds, 0.08);
    assert_histogram(&series, "traces_service_graph_request_client_seconds", &http, &bounds, 0.1);
    let le = find(
        &series,
        &with(&http, &[("__name__", "traces_service_graph_request_client_seconds_bucket"), ("le", "0.1")]),
    );
    assert_eq!(le.exemplars.len(), 1);
    assert_eq!(le.exemplars[0].labels.get("traceID"), Some(exemplar_id(1).as_str()));

    // Queue: the consumer's error fails the edge.
    let queue = [("client", "orders"), ("server", "billing"), ("connection_type", "messaging_system")];
    assert_eq!(value(&series, &with(&queue, &[("__name__", "traces_service_graph_request_total")])), 1.0);
    assert_eq!(value(&series, &with(&queue, &[("__name__", "traces_service_graph_request_failed_total")])), 1.0);
    assert_histogram(&series, "traces_service_graph_request_server_seconds", &queue, &bounds, 0.03);
    assert_histogram(&series, "traces_service_graph_request_client_seconds", &queue, &bounds, 0.01);

    // Exactly these series: 4 span-metric label sets × (2 counters + 15 buckets + sum + count),
    // 2 edges × (request_total + 2 × (9 buckets + sum + count)) + one failed counter.
    assert_eq!(series.len(), 4 * 19 + 2 * 23 + 1);
    let graph: Vec<_> = series
        .iter()
        .filter(|s| s.labels.metric_name().is_some_and(|n| n.starts_with("traces_service_graph")))
        .collect();
    assert_eq!(graph.len(), 47);
    assert!(
        !series.iter().any(|s| s.labels.metric_name().is_some_and(|n| n.contains("unpaired") || n.contains("dropped")))
    );
    assert_eq!(g.active_series(&tenant), 4 * 19 + 2 * 23 + 1);
}

#[test]
fn halves_of_a_pair_arriving_in_different_batches_pair() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    // The server half first, the client half 9.9 s later.
    g.observe(&tenant, &batch(vec![("orders", vec![s(7, 2, Some(1), "GET /orders", SpanKind::Server, 80)])]), NOW);
    assert_eq!(g.pending_edges(&tenant), 1);
    let series = collect_one(&mut g, NOW + 5_000);
    assert!(!series.iter().any(|s| s.labels.metric_name() == Some("traces_service_graph_request_total")));
    g.observe(
        &tenant,
        &batch(vec![("frontend", vec![s(7, 1, None, "GET /orders", SpanKind::Client, 100)])]),
        NOW + 9_900,
    );
    assert_eq!(g.pending_edges(&tenant), 0);
    let series = collect_one(&mut g, NOW + 20_000);
    let http = [("client", "frontend"), ("server", "orders")];
    assert_eq!(value(&series, &with(&http, &[("__name__", "traces_service_graph_request_total")])), 1.0);
    assert_eq!(value(&series, &with(&http, &[("__name__", "traces_service_graph_request_server_seconds_sum")])), 0.08);
    assert_eq!(value(&series, &with(&http, &[("__name__", "traces_service_graph_request_client_seconds_sum")])), 0.1);
    assert!(!series.iter().any(|s| s.labels.metric_name() == Some("traces_service_graph_unpaired_spans_total")));
}

#[test]
fn unpaired_halves_expire_after_the_wait() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    g.observe(
        &tenant,
        &batch(vec![
            // A client with no server and no peer attribute: unpaired.
            ("frontend", vec![s(1, 1, None, "GET /a", SpanKind::Client, 5)]),
            // A non-root server with no client: unpaired.
            ("orders", vec![s(2, 2, Some(9), "GET /b", SpanKind::Server, 5)]),
        ]),
        NOW,
    );
    assert_eq!(g.pending_edges(&tenant), 2);
    let series = collect_one(&mut g, NOW + 9_999);
    assert_eq!(g.pending_edges(&tenant), 2, "still within the wait");
    assert!(!series.iter().any(|s| s.labels.metric_name() == Some("traces_service_graph_unpaired_spans_total")));

    let series = collect_one(&mut g, NOW + 10_000);
    assert_eq!(g.pending_edges(&tenant), 0);
    let unpaired = "traces_service_graph_unpaired_spans_total";
    assert_eq!(value(&series, &[("__name__", unpaired), ("client", "frontend")]), 1.0);
    assert_eq!(value(&series, &[("__name__", unpaired), ("server", "orders")]), 1.0);
    assert!(!series.iter().any(|s| s.labels.metric_name() == Some("traces_service_graph_request_total")));

    // A server half arriving after its client expired does not pair with it.
    g.observe(&tenant, &batch(vec![("api", vec![s(1, 5, Some(1), "GET /a", SpanKind::Server, 5)])]), NOW + 10_001);
    assert_eq!(g.pending_edges(&tenant), 1);
}

#[test]
fn expired_halves_become_virtual_node_edges_where_tempo_makes_them() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    g.observe(
        &tenant,
        &batch(vec![
            // A root server span: called by an uninstrumented "user".
            ("orders", vec![s(1, 1, None, "GET /orders", SpanKind::Server, 20).code(StatusCode::Error)]),
            // A root consumer span with a peer attribute: the peer is the client.
            ("billing", vec![s(2, 1, None, "consume", SpanKind::Consumer, 20).attr("peer.service", "kafka")]),
            // A client span with a peer attribute: the peer is the server.
            ("orders", vec![s(3, 1, None, "POST /charge", SpanKind::Client, 300).attr("peer.service", "stripe")]),
        ]),
        NOW,
    );
    let series = collect_one(&mut g, NOW + 10_000);
    let user = [("client", "user"), ("server", "orders"), ("connection_type", "virtual_node")];
    assert_eq!(value(&series, &with(&user, &[("__name__", "traces_service_graph_request_total")])), 1.0);
    assert_eq!(value(&series, &with(&user, &[("__name__", "traces_service_graph_request_failed_total")])), 1.0);
    assert_eq!(value(&series, &with(&user, &[("__name__", "traces_service_graph_request_client_seconds_sum")])), 0.0);
    let kafka = [("client", "kafka"), ("server", "billing"), ("connection_type", "virtual_node")];
    assert_eq!(value(&series, &with(&kafka, &[("__name__", "traces_service_graph_request_total")])), 1.0);
    let stripe = [("client", "orders"), ("server", "stripe"), ("connection_type", "virtual_node")];
    assert_eq!(value(&series, &with(&stripe, &[("__name__", "traces_service_graph_request_total")])), 1.0);
    assert_eq!(value(&series, &with(&stripe, &[("__name__", "traces_service_graph_request_client_seconds_sum")])), 0.3);
    assert!(!series.iter().any(|s| s.labels.metric_name() == Some("traces_service_graph_unpaired_spans_total")));
}

#[test]
fn database_client_span_is_a_whole_edge() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    g.observe(
        &tenant,
        &batch(vec![(
            "orders",
            vec![
                s(1, 1, None, "SELECT", SpanKind::Client, 4)
                    .attr("db.system", "postgresql")
                    .attr("server.address", "pg-1"),
                s(1, 2, None, "GET", SpanKind::Client, 2).attr("db.system", "redis").attr("db.namespace", "0"),
                s(1, 3, None, "find", SpanKind::Client, 2)
                    .attr("db.name", "users")
                    .attr("network.peer.address", "10.0.0.7")
                    .attr("network.peer.port", "27017"),
            ],
        )]),
        NOW,
    );
    assert_eq!(g.pending_edges(&tenant), 0, "database edges complete without a server span");
    let series = collect_one(&mut g, NOW);
    for server in ["pg-1", "0", "10.0.0.7:27017"] {
        let edge = [("client", "orders"), ("server", server), ("connection_type", "database")];
        assert_eq!(value(&series, &with(&edge, &[("__name__", "traces_service_graph_request_total")])), 1.0);
    }
    let pg = [("client", "orders"), ("server", "pg-1"), ("connection_type", "database")];
    assert_eq!(value(&series, &with(&pg, &[("__name__", "traces_service_graph_request_server_seconds_sum")])), 0.004);
}

#[test]
fn values_stay_cumulative_across_collects() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    g.observe(&tenant, &shop_trace(), NOW);
    let first = collect_one(&mut g, NOW);
    let calls = [
        ("__name__", "traces_spanmetrics_calls_total"),
        ("service", "billing"),
        ("span_name", "process invoice"),
        ("span_kind", "SPAN_KIND_CONSUMER"),
        ("status_code", "STATUS_CODE_ERROR"),
    ];
    assert_eq!(value(&first, &calls), 1.0);

    // Nothing new: the same values again, now at the new time, and no exemplar a second time.
    let second = collect_one(&mut g, NOW + 15_000);
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.samples[0].v, b.samples[0].v);
        assert_eq!(b.samples[0].t, NOW + 15_000);
        assert!(b.exemplars.is_empty());
    }

    // The same trace shape again (new trace id): every counter and bucket goes on from there.
    let mut again = shop_trace();
    for span in again.resources.iter_mut().flat_map(|r| r.scopes.iter_mut()).flat_map(|s| s.items.iter_mut()) {
        span.trace_id = trace(2);
    }
    g.observe(&tenant, &again, NOW + 20_000);
    let third = collect_one(&mut g, NOW + 30_000);
    assert_eq!(third.len(), first.len());
    for (a, c) in first.iter().zip(&third) {
        assert_eq!(a.labels, c.labels);
        assert_eq!(c.samples[0].v, 2.0 * a.samples[0].v, "{}", c.labels);
    }
    let queue = [
        ("__name__", "traces_service_graph_request_failed_total"),
        ("client", "orders"),
        ("server", "billing"),
        ("connection_type", "messaging_system"),
    ];
    assert_eq!(value(&third, &queue), 2.0);
    let bucket = find(
        &third,
        &[
            ("__name__", "traces_spanmetrics_latency_bucket"),
            ("service", "billing"),
            ("span_name", "process invoice"),
            ("span_kind", "SPAN_KIND_CONSUMER"),
            ("status_code", "STATUS_CODE_ERROR"),
            ("le", "0.032"),
        ],
    );
    assert_eq!(bucket.exemplars[0].labels.get("traceID"), Some(exemplar_id(2).as_str()));
}

#[test]
fn series_cap_refuses_new_series_and_counts_them() {
    // 19 series for the first label set (calls, size, 15 buckets, sum, count) and one more.
    let mut g = Generator::new(GeneratorOptions { max_series_per_tenant: 20, ..GeneratorOptions::default() });
    let tenant = Tenant::default();
    g.observe(
        &tenant,
        &batch(vec![(
            "jobs",
            vec![s(1, 1, None, "a", SpanKind::Internal, 1), s(1, 2, None, "b", SpanKind::Internal, 1)],
        )]),
        NOW,
    );
    assert_eq!(g.active_series(&tenant), 20);
    // Span "b": its counter fit, its histogram (17) and size counter did not.
    assert_eq!(g.series_refused(&tenant), 2);
    let series = collect_one(&mut g, NOW);
    assert_eq!(series.len(), 20);
    let b = [
        ("service", "jobs"),
        ("span_name", "b"),
        ("span_kind", "SPAN_KIND_INTERNAL"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    assert_eq!(value(&series, &with(&b, &[("__name__", "traces_spanmetrics_calls_total")])), 1.0);
    assert!(absent(&series, &with(&b, &[("__name__", "traces_spanmetrics_size_total")])));

    // Existing series still count; new ones are still refused.
    g.observe(&tenant, &batch(vec![("jobs", vec![s(2, 1, None, "a", SpanKind::Internal, 1)])]), NOW + 1);
    g.observe(&tenant, &batch(vec![("jobs", vec![s(2, 2, None, "c", SpanKind::Internal, 1)])]), NOW + 1);
    assert_eq!(g.series_refused(&tenant), 5);
    let series = collect_one(&mut g, NOW + 2);
    let a = [
        ("service", "jobs"),
        ("span_name", "a"),
        ("span_kind", "SPAN_KIND_INTERNAL"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    assert_eq!(value(&series, &with(&a, &[("__name__", "traces_spanmetrics_calls_total")])), 2.0);
    assert_eq!(series.len(), 20);
}

#[test]
fn stale_series_are_removed_and_free_the_cap() {
    let mut g =
        Generator::new(GeneratorOptions { stale_duration: Duration::from_secs(60), ..GeneratorOptions::default() });
    let tenant = Tenant::default();
    g.observe(&tenant, &batch(vec![("jobs", vec![s(1, 1, None, "a", SpanKind::Internal, 1)])]), NOW);
    assert_eq!(collect_one(&mut g, NOW + 60_000).len(), 19);
    assert!(g.collect(NOW + 60_001).is_empty());
    assert_eq!(g.active_series(&tenant), 0);
}

#[test]
fn full_pending_store_drops_spans_and_counts_them() {
    let mut g = Generator::new(GeneratorOptions { max_items: 1, ..GeneratorOptions::default() });
    let tenant = Tenant::default();
    g.observe(
        &tenant,
        &batch(vec![
            (
                "frontend",
                vec![s(1, 1, None, "GET /a", SpanKind::Client, 5), s(2, 1, None, "GET /b", SpanKind::Client, 5)],
            ),
            ("billing", vec![s(3, 2, Some(1), "consume", SpanKind::Consumer, 5)]),
        ]),
        NOW,
    );
    assert_eq!(g.pending_edges(&tenant), 1);
    let series = collect_one(&mut g, NOW);
    let dropped = "traces_service_graph_dropped_spans_total";
    assert_eq!(value(&series, &[("__name__", dropped), ("client", "frontend")]), 1.0);
    assert_eq!(
        value(&series, &[("__name__", dropped), ("server", "billing"), ("connection_type", "messaging_system")]),
        1.0
    );

    // The one that got in still pairs.
    g.observe(&tenant, &batch(vec![("orders", vec![s(1, 2, Some(1), "GET /a", SpanKind::Server, 5)])]), NOW + 1);
    let series = collect_one(&mut g, NOW + 2);
    assert_eq!(
        value(
            &series,
            &[("__name__", "traces_service_graph_request_total"), ("client", "frontend"), ("server", "orders")]
        ),
        1.0
    );
}

#[test]
fn tenants_are_kept_apart() {
    let mut g = Generator::default();
    let a = Tenant::new("a").unwrap();
    let b = Tenant::new("b").unwrap();
    g.observe(&a, &batch(vec![("frontend", vec![s(1, 1, None, "GET /a", SpanKind::Client, 5)])]), NOW);
    g.observe(&b, &batch(vec![("orders", vec![s(1, 2, Some(1), "GET /a", SpanKind::Server, 5)])]), NOW);
    assert_eq!((g.pending_edges(&a), g.pending_edges(&b)), (1, 1), "no pairing across tenants");
    let out = g.collect(NOW);
    assert_eq!(out.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn span_without_service_name_has_no_service_label_and_no_edge() {
    let mut g = Generator::default();
    let tenant = Tenant::default();
    let mut b = batch(vec![("x", vec![s(1, 1, None, "GET", SpanKind::Client, 5)])]);
    b.resources[0].resource.attributes.clear();
    g.observe(&tenant, &b, NOW);
    assert_eq!(g.pending_edges(&tenant), 0);
    let series = collect_one(&mut g, NOW);
    let calls = [
        ("__name__", "traces_spanmetrics_calls_total"),
        ("span_name", "GET"),
        ("span_kind", "SPAN_KIND_CLIENT"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    assert_eq!(value(&series, &calls), 1.0);
}

#[test]
fn span_size_is_the_otlp_protobuf_size() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{self as common, any_value::Value};
    use opentelemetry_proto::tonic::trace::v1 as otlp;
    use prost::Message;

    let kv = |key: &str, value: Value| common::KeyValue {
        key: key.into(),
        value: Some(common::AnyValue { value: Some(value) }),
        ..common::KeyValue::default()
    };
    let attributes = vec![
        kv("http.method", Value::StringValue("GET".into())),
        kv("empty", Value::StringValue(String::new())),
        kv("ok", Value::BoolValue(false)),
        kv("n", Value::IntValue(-3)),
        kv("big", Value::IntValue(300)),
        kv("ratio", Value::DoubleValue(0.5)),
        kv("raw", Value::BytesValue(vec![1, 2, 3])),
        kv(
            "list",
            Value::ArrayValue(common::ArrayValue {
                values: vec![common::AnyValue { value: Some(Value::StringValue("x".repeat(200))) }],
            }),
        ),
        kv("map", Value::KvlistValue(common::KeyValueList { values: vec![kv("inner", Value::IntValue(1))] })),
    ];
    let spans = vec![
        otlp::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            trace_state: "k=v".into(),
            parent_span_id: vec![3; 8],
            flags: 0x301,
            name: "GET /orders".into(),
            kind: 2,
            start_time_unix_nano: T0_NS,
            end_time_unix_nano: T0_NS + 5,
            attributes: attributes.clone(),
            dropped_attributes_count: 2,
            events: vec![otlp::span::Event {
                time_unix_nano: T0_NS + 1,
                name: "exception".into(),
                attributes: attributes.clone(),
                dropped_attributes_count: 0,
            }],
            dropped_events_count: 1,
            links: vec![otlp::span::Link {
                trace_id: vec![4; 16],
                span_id: vec![5; 8],
                trace_state: String::new(),
                attributes: vec![kv("a", Value::StringValue("b".into()))],
                dropped_attributes_count: 3,
                flags: 1,
            }],
            dropped_links_count: 0,
            status: Some(otlp::Status { message: "boom".into(), code: 2 }),
        },
        otlp::Span {
            trace_id: vec![1; 16],
            span_id: vec![6; 8],
            name: "root".into(),
            status: Some(otlp::Status::default()),
            ..otlp::Span::default()
        },
    ];
    let want: Vec<usize> = spans.iter().map(Message::encoded_len).collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![otlp::ResourceSpans {
            scope_spans: vec![otlp::ScopeSpans { spans, ..otlp::ScopeSpans::default() }],
            ..otlp::ResourceSpans::default()
        }],
    };
    let lookout_storage::Payload::Traces(batch) = crate::convert_traces(request).payload else {
        panic!("not traces");
    };
    let got: Vec<usize> = batch.items().map(size::encoded_len).collect();
    assert_eq!(got, want);
}

#[test]
fn metadata_names_every_family() {
    let meta = Generator::metadata();
    let names: Vec<&str> = meta.iter().map(|m| m.metric_family.as_str()).collect();
    assert_eq!(
        names,
        [
            "traces_spanmetrics_calls",
            "traces_spanmetrics_latency",
            "traces_spanmetrics_size",
            "traces_service_graph_request",
            "traces_service_graph_request_failed",
            "traces_service_graph_request_server_seconds",
            "traces_service_graph_request_client_seconds",
            "traces_service_graph_unpaired_spans",
            "traces_service_graph_dropped_spans",
        ]
    );
    // Every family the generator wrote is described.
    let mut g = Generator::new(GeneratorOptions { max_items: 0, ..GeneratorOptions::default() });
    let tenant = Tenant::default();
    g.observe(&tenant, &shop_trace(), NOW);
    for s in collect_one(&mut g, NOW) {
        let name = s.labels.metric_name().unwrap_or_default();
        assert!(
            meta.iter().any(|m| {
                let f = m.metric_family.as_str();
                name == f || ["_total", "_bucket", "_sum", "_count"].iter().any(|suffix| name == format!("{f}{suffix}"))
            }),
            "{name} has no metadata"
        );
    }
}
