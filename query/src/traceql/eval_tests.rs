//! TraceQL over a fixed set of eight traces: every operator and intrinsic, each query with the
//! trace ids it must find.

use std::collections::BTreeSet;
use std::sync::Arc;

use lookout_storage::{
    AnyValue, KeyValue, Resource, Scope, Span, SpanEvent, SpanId, SpanKind, SpanLink, Status, StatusCode, TraceId,
    TraceSpan,
};

use super::{Trace, compile, evaluate, parse};

const MS: u64 = 1_000_000;

struct S {
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &'static str,
    name: &'static str,
    kind: SpanKind,
    start_ms: u64,
    duration_ms: u64,
    status: StatusCode,
    message: &'static str,
    attributes: Vec<(&'static str, AnyValue)>,
}

#[allow(clippy::too_many_arguments)]
fn s(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &'static str,
    name: &'static str,
    kind: SpanKind,
    start_ms: u64,
    duration_ms: u64,
) -> S {
    S {
        trace,
        id,
        parent,
        service,
        name,
        kind,
        start_ms,
        duration_ms,
        status: StatusCode::Unset,
        message: "",
        attributes: vec![],
    }
}

impl S {
    fn status(mut self, status: StatusCode, message: &'static str) -> S {
        self.status = status;
        self.message = message;
        self
    }
    fn attr(mut self, key: &'static str, value: AnyValue) -> S {
        self.attributes.push((key, value));
        self
    }
}

fn text(v: &str) -> AnyValue {
    AnyValue::String(v.into())
}

fn build(spec: S) -> TraceSpan {
    let mut resource_attributes = vec![KeyValue { key: "service.name".into(), value: text(spec.service) }];
    let environment = if spec.trace == 4 { "staging" } else { "prod" };
    resource_attributes.push(KeyValue { key: "deployment.environment".into(), value: text(environment) });
    if spec.service == "payments" {
        resource_attributes.push(KeyValue { key: "k8s.namespace.name".into(), value: text("pay") });
    }
    let scope = if spec.trace == 5 {
        Scope {
            name: "payments-lib".into(),
            version: "1.2".into(),
            attributes: vec![KeyValue { key: "lib.lang".into(), value: text("rust") }],
            ..Scope::default()
        }
    } else {
        Scope { name: "auto".into(), version: "0.9".into(), ..Scope::default() }
    };
    let mut events = Vec::new();
    let mut links = Vec::new();
    match (spec.trace, spec.id) {
        (1, 3) => events.push(SpanEvent {
            time_unix_nano: 1,
            name: "validated".into(),
            attributes: vec![KeyValue { key: "rules".into(), value: AnyValue::Int(12) }],
            dropped_attributes_count: 0,
        }),
        (1, 5) => links.push(SpanLink {
            trace_id: TraceId([2; 16]),
            span_id: SpanId([1; 8]),
            trace_state: String::new(),
            attributes: vec![KeyValue { key: "reason".into(), value: text("refund") }],
            dropped_attributes_count: 0,
            flags: 0,
        }),
        (8, 1) => events.push(SpanEvent {
            time_unix_nano: 1,
            name: "exception".into(),
            attributes: vec![KeyValue { key: "exception.type".into(), value: text("SmtpError") }],
            dropped_attributes_count: 0,
        }),
        _ => {}
    }
    let start = 1_700_000_000_000 * MS + spec.start_ms * MS;
    TraceSpan {
        resource: Arc::new(Resource { attributes: resource_attributes, ..Resource::default() }),
        scope: Arc::new(scope),
        span: Span {
            trace_id: TraceId([spec.trace; 16]),
            span_id: SpanId([spec.id; 8]),
            parent_span_id: spec.parent.map(|p| SpanId([p; 8])),
            trace_state: String::new(),
            flags: 0,
            name: spec.name.into(),
            kind: spec.kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + spec.duration_ms * MS,
            attributes: spec.attributes.into_iter().map(|(k, v)| KeyValue { key: k.into(), value: v }).collect(),
            dropped_attributes_count: 0,
            events,
            dropped_events_count: 0,
            links,
            dropped_links_count: 0,
            status: Status { code: spec.status, message: spec.message.into() },
        },
    }
}

/// The eight traces, by trace number.
fn traces() -> Vec<(u8, Vec<TraceSpan>)> {
    use AnyValue::{Bool, Double, Int};
    use SpanKind::*;
    use StatusCode::{Error, Ok as Fine};
    let specs = vec![
        s(1, 1, None, "gateway", "GET /checkout", Server, 0, 300)
            .status(Error, "upstream failed")
            .attr("http.status_code", Int(500))
            .attr("http.url", text("/api/checkout")),
        s(1, 2, Some(1), "gateway", "POST orders", Client, 10, 250).attr("peer.service", text("orders")),
        s(1, 3, Some(2), "orders", "create order", Server, 20, 200).attr("order.items", Int(3)),
        s(1, 4, Some(3), "orders", "publish", Producer, 30, 10).attr("messaging.system", text("rabbitmq")),
        s(1, 5, Some(4), "payments", "charge", Consumer, 50, 150)
            .status(Error, "card declined")
            .attr("payment.amount", Double(99.5)),
        s(2, 1, None, "cart", "GET /cart", Server, 0, 20)
            .status(Fine, "")
            .attr("http.status_code", Int(200))
            .attr("http.url", text("/api/cart"))
            .attr("tags", AnyValue::Array(vec![text("a"), text("b")])),
        s(2, 2, Some(1), "cart", "SELECT cart", Client, 2, 5).attr("db.system", text("postgresql")),
        s(2, 3, Some(1), "cart", "cache get", Internal, 8, 1),
        s(3, 1, None, "gateway", "GET /health", Server, 0, 1)
            .attr("http.status_code", Int(200))
            .attr("http.url", text("/health"))
            .attr("retry", Bool(true)),
        s(4, 1, None, "orders", "process batch", Internal, 0, 2000),
        s(4, 2, Some(1), "orders", "process item", Internal, 10, 500),
        s(4, 3, Some(1), "orders", "process item", Internal, 600, 500).status(Error, "bad item"),
        s(4, 4, Some(1), "orders", "process item", Internal, 1200, 500),
        s(5, 1, None, "payments", "refund", Server, 0, 800).attr("user.id", Int(42)),
        s(6, 1, None, "gateway", "GET /checkout", Server, 0, 50)
            .attr("http.status_code", Int(200))
            .attr("http.url", text("/api/checkout")),
        s(6, 2, Some(1), "orders", "create order", Server, 5, 30).attr("order.items", Int(1)),
        s(7, 9, Some(8), "legacy", "orphan", Unspecified, 0, 100),
        s(8, 1, None, "notifications", "send email", Consumer, 0, 3000).attr("email.to", text("x@y.z")),
    ];
    let mut out: Vec<(u8, Vec<TraceSpan>)> = Vec::new();
    for spec in specs {
        let n = spec.trace;
        let span = build(spec);
        match out.iter_mut().find(|(t, _)| *t == n) {
            Some((_, spans)) => spans.push(span),
            None => out.push((n, vec![span])),
        }
    }
    out
}

fn matching(query: &str) -> BTreeSet<u8> {
    let compiled = compile(parse(query).unwrap_or_else(|e| panic!("{query}: {e}"))).unwrap();
    traces().iter().filter(|(_, spans)| !evaluate(&compiled, &Trace::new(spans)).is_empty()).map(|(n, _)| *n).collect()
}

#[test]
fn queries_find_exactly_the_expected_traces() {
    let cases: &[(&str, &[u8])] = &[
        // Empty and constant filters.
        ("{}", &[1, 2, 3, 4, 5, 6, 7, 8]),
        ("{ true }", &[1, 2, 3, 4, 5, 6, 7, 8]),
        ("{ false }", &[]),
        // Names, services, resource and span scopes.
        (r#"{ name = "GET /checkout" }"#, &[1, 6]),
        (r#"{ span:name = "charge" }"#, &[1]),
        (r#"{ name != "GET /checkout" }"#, &[1, 2, 3, 4, 5, 6, 7, 8]),
        (r#"{ resource.service.name = "orders" }"#, &[1, 4, 6]),
        (r#"{ .service.name = "cart" }"#, &[2]),
        (r#"{ resource.service.name != "gateway" }"#, &[1, 2, 4, 5, 6, 7, 8]),
        (r#"{ resource.deployment.environment = "staging" }"#, &[4]),
        (r#"{ resource.k8s.namespace.name = "pay" }"#, &[1, 5]),
        (r#"{ span.service.name = "orders" }"#, &[]),
        (r#"{ span.http.url = "/health" }"#, &[3]),
        (r#"{ .http.url = "/health" }"#, &[3]),
        (r#"{ resource.http.url = "/health" }"#, &[]),
        // Numbers, floats, booleans, arrays.
        ("{ span.http.status_code = 500 }", &[1]),
        ("{ .http.status_code >= 200 }", &[1, 2, 3, 6]),
        ("{ .http.status_code > 200 }", &[1]),
        ("{ .http.status_code < 500 }", &[2, 3, 6]),
        ("{ .http.status_code <= 200 }", &[2, 3, 6]),
        ("{ .http.status_code != 200 }", &[1]),
        ("{ .order.items > 2 }", &[1]),
        ("{ .order.items >= 1 && .order.items < 3 }", &[6]),
        ("{ .payment.amount > 99 }", &[1]),
        ("{ .payment.amount = 99.5 }", &[1]),
        ("{ .payment.amount < 99.6 && .payment.amount > 99.4 }", &[1]),
        ("{ .user.id = 42 }", &[5]),
        ("{ .user.id > 41.5 }", &[5]),
        ("{ .retry = true }", &[3]),
        ("{ .retry = false }", &[]),
        (r#"{ .tags = "b" }"#, &[2]),
        (r#"{ .tags = "c" }"#, &[]),
        // Mixed types never match.
        (r#"{ .http.status_code = "500" }"#, &[]),
        // nil: presence and absence.
        ("{ .db.system != nil }", &[2]),
        ("{ .http.url = nil && kind = server }", &[1, 5, 6]),
        ("{ .email.to != nil }", &[8]),
        // Regular expressions, anchored.
        (r#"{ .http.url =~ "/api/.*" }"#, &[1, 2, 6]),
        (r#"{ .http.url =~ "/api" }"#, &[]),
        (r#"{ .http.url !~ "/api/.*" }"#, &[3]),
        (r#"{ name =~ "GET .*" }"#, &[1, 2, 3, 6]),
        (r#"{ name =~ "(?i)get /CART" }"#, &[2]),
        (r#"{ resource.service.name =~ "pay.*|notif.*" }"#, &[1, 5, 8]),
        // Status and status message.
        ("{ status = error }", &[1, 4]),
        ("{ status = ok }", &[2]),
        ("{ status = unset }", &[1, 2, 3, 4, 5, 6, 7, 8]),
        ("{ status != unset }", &[1, 2, 4]),
        ("{ span:status = error }", &[1, 4]),
        (r#"{ statusMessage = "card declined" }"#, &[1]),
        (r#"{ span:statusMessage =~ ".*item" }"#, &[4]),
        // Kind.
        ("{ kind = server }", &[1, 2, 3, 5, 6]),
        ("{ kind = client }", &[1, 2]),
        ("{ kind = producer }", &[1]),
        ("{ kind = consumer }", &[1, 8]),
        ("{ kind = internal }", &[2, 4]),
        ("{ kind = unspecified }", &[7]),
        ("{ span:kind != server && span:kind != internal }", &[1, 2, 7, 8]),
        // Durations.
        ("{ duration > 1s }", &[4, 8]),
        ("{ duration >= 500ms }", &[4, 5, 8]),
        ("{ duration < 2ms }", &[2, 3]),
        ("{ duration <= 1ms }", &[2, 3]),
        ("{ span:duration = 150ms }", &[1]),
        ("{ duration > 100ms && duration < 300ms }", &[1]),
        // Trace-level intrinsics.
        (r#"{ rootName = "GET /checkout" }"#, &[1, 6]),
        (r#"{ trace:rootName = "process batch" }"#, &[4]),
        (r#"{ rootServiceName = "gateway" }"#, &[1, 3, 6]),
        (r#"{ trace:rootService = "cart" }"#, &[2]),
        (r#"{ rootServiceName = "legacy" }"#, &[]),
        ("{ traceDuration > 1s }", &[4, 8]),
        ("{ trace:duration < 30ms }", &[2, 3]),
        (r#"{ trace:id = "03030303030303030303030303030303" }"#, &[3]),
        (r#"{ span:id = "0505050505050505" }"#, &[1]),
        (r#"{ span:parentID = "0808080808080808" }"#, &[7]),
        // Events, links, instrumentation.
        (r#"{ event:name = "exception" }"#, &[8]),
        (r#"{ event.rules = 12 }"#, &[1]),
        (r#"{ event.exception.type =~ "Smtp.*" }"#, &[8]),
        (r#"{ link:traceID = "02020202020202020202020202020202" }"#, &[1]),
        (r#"{ link.reason = "refund" }"#, &[1]),
        (r#"{ instrumentation:name = "payments-lib" }"#, &[5]),
        (r#"{ instrumentation:version = "0.9" && resource.service.name = "payments" }"#, &[1]),
        (r#"{ instrumentation.lib.lang = "rust" }"#, &[5]),
        // Logic inside a filter.
        (r#"{ resource.service.name = "gateway" && status = error }"#, &[1]),
        (r#"{ resource.service.name = "cart" || resource.service.name = "legacy" }"#, &[2, 7]),
        ("{ !(status = error) && kind = server && duration >= 200ms }", &[1, 5]),
        ("{ (kind = client || kind = producer) && duration < 20ms }", &[1, 2]),
        // Spanset operators.
        (r#"{ resource.service.name = "gateway" } && { resource.service.name = "payments" }"#, &[1]),
        (r#"{ resource.service.name = "cart" } || { resource.service.name = "notifications" }"#, &[2, 8]),
        (r#"{ name = "GET /checkout" } && { status = error }"#, &[1]),
        (r#"{ resource.service.name = "orders" } && { resource.service.name = "cart" }"#, &[]),
        // Structural operators.
        (r#"{ name = "GET /checkout" } > { name = "POST orders" }"#, &[1]),
        (r#"{ name = "GET /checkout" } > { name = "create order" }"#, &[6]),
        (r#"{ name = "GET /checkout" } >> { name = "create order" }"#, &[1, 6]),
        (r#"{ resource.service.name = "gateway" } >> { status = error }"#, &[1]),
        (r#"{ resource.service.name = "gateway" } >> { resource.service.name = "payments" }"#, &[1]),
        (r#"{ name = "SELECT cart" } ~ { name = "cache get" }"#, &[2]),
        (r#"{ name = "process item" } ~ { status = error }"#, &[4]),
        (r#"{ name = "GET /cart" } ~ { name = "SELECT cart" }"#, &[]),
        (r#"{ kind = server } > { kind = server }"#, &[6]),
        (r#"{ name = "GET /checkout" } > { name = "POST orders" } > { name = "create order" }"#, &[1]),
        (r#"({ name = "process batch" } > { status = error }) || { name = "orphan" }"#, &[4, 7]),
        // Pipelines.
        ("{ } | count() > 4", &[1]),
        ("{ } | count() = 1", &[3, 5, 7, 8]),
        (r#"{ name = "process item" } | count() >= 3"#, &[4]),
        ("{ status = error } | count() > 1", &[1]),
        ("{ } | avg(duration) > 500ms", &[4, 5, 8]),
        ("{ } | max(duration) >= 2s", &[4, 8]),
        ("{ } | min(duration) < 2ms", &[2, 3]),
        ("{ } | sum(duration) > 3s", &[4]),
        (r#"{ kind = server } | avg(.http.status_code) > 300"#, &[1]),
        (r#"{ } | { status = error }"#, &[1, 4]),
        (r#"{ resource.service.name = "orders" } | { status = error }"#, &[4]),
        (r#"{ } | by(resource.service.name) | count() > 2"#, &[2, 4]),
        (r#"{ } | by(resource.service.name) | count() > 1"#, &[1, 2, 4]),
        (r#"{ status = error } | select(span.http.url)"#, &[1, 4]),
    ];
    for (query, expected) in cases {
        let expected: BTreeSet<u8> = expected.iter().copied().collect();
        assert_eq!(matching(query), expected, "{query}");
    }
    assert!(cases.len() >= 80, "{} cases", cases.len());
}

#[test]
fn structural_results_are_the_right_side_spans() {
    let compiled = compile(parse(r#"{ resource.service.name = "gateway" } >> { status = error }"#).unwrap()).unwrap();
    let all = traces();
    let trace = Trace::new(&all[0].1);
    let sets = evaluate(&compiled, &trace);
    let names: Vec<&str> = sets[0].spans.iter().map(|&i| trace.spans[i].span.name.as_str()).collect();
    assert_eq!(names, ["charge"], "the gateway root itself is not a descendant of a gateway span");
}

#[test]
fn by_splits_spansets_and_labels_them() {
    let compiled = compile(parse("{ } | by(resource.service.name)").unwrap()).unwrap();
    let all = traces();
    let sets = evaluate(&compiled, &Trace::new(&all[0].1));
    let labels: Vec<&str> = sets.iter().map(|s| s.by[0].1.as_str()).collect();
    assert_eq!(labels, ["gateway", "orders", "payments"]);
    assert_eq!(sets[0].by[0].0, "resource.service.name");
}

#[test]
fn a_bad_regular_expression_is_an_error() {
    let err = compile(parse(r#"{ name =~ "(unclosed" }"#).unwrap()).unwrap_err();
    assert!(err.contains("invalid regular expression \"(unclosed\""), "{err}");
}
