//! Synthetic but realistic OTLP export requests, for `lookout loadgen` and the benchmarks.
//!
//! Deterministic for a given seed, so that figures can be reproduced.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

const SERVICES: [&str; 5] = ["gateway", "orders", "payments", "inventory", "notifications"];
const ROUTES: [&str; 6] = ["/api/orders", "/api/orders/{id}", "/api/pay", "/api/stock/{sku}", "/health", "/api/notify"];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// A small, fast, seedable PRNG (xorshift64*), enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator; the same seed gives the same data.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    fn id(&mut self, len: usize) -> Vec<u8> {
        let mut out: Vec<u8> = (0..len.div_ceil(8)).flat_map(|_| self.next_u64().to_le_bytes()).take(len).collect();
        out[0] |= 1;
        out
    }
}

/// The severity text of the few severity numbers the generators use.
fn severity_text(number: i32) -> &'static str {
    match number {
        5 => "DEBUG",
        9 => "INFO",
        13 => "WARN",
        _ => "ERROR",
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn resource(service: &str, instance: usize) -> Resource {
    Resource {
        attributes: vec![
            text("service.name", service),
            text("service.namespace", "shop"),
            text("service.instance.id", &format!("{service}-{instance}")),
            text("deployment.environment", "bench"),
            text("host.name", &format!("node-{instance}")),
        ],
        ..Default::default()
    }
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "lookout.loadgen".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    })
}

/// `count` spans in traces of up to 8 spans, from one service, starting at `now_nanos`.
pub fn traces(rng: &mut Rng, count: usize, now_nanos: u64) -> ExportTraceServiceRequest {
    let service = rng.pick(&SERVICES);
    let mut spans = Vec::with_capacity(count);
    while spans.len() < count {
        let trace_id = rng.id(16);
        let root = rng.id(8);
        let in_trace = (1 + rng.below(8)).min(count - spans.len());
        for i in 0..in_trace {
            let start = now_nanos + rng.below(1_000_000_000) as u64;
            let route = rng.pick(&ROUTES);
            let error = rng.below(50) == 0;
            spans.push(Span {
                trace_id: trace_id.clone(),
                span_id: if i == 0 { root.clone() } else { rng.id(8) },
                parent_span_id: if i == 0 { Vec::new() } else { root.clone() },
                name: format!("{} {route}", rng.pick(&METHODS)),
                kind: if i == 0 { span::SpanKind::Server as i32 } else { span::SpanKind::Client as i32 },
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000 + rng.below(200_000_000) as u64,
                attributes: vec![
                    text("http.request.method", rng.pick(&METHODS)),
                    text("http.route", route),
                    kv("http.response.status_code", any_value::Value::IntValue(if error { 500 } else { 200 })),
                    text("server.address", "orders.shop.svc"),
                    kv("server.port", any_value::Value::IntValue(8080)),
                    text("url.scheme", "http"),
                    text("user_agent.original", "loadgen/1.0"),
                    kv("app.items", any_value::Value::IntValue(rng.below(20) as i64)),
                ],
                status: Some(Status {
                    code: if error { 2 } else { 0 },
                    message: if error { "upstream failed".into() } else { String::new() },
                }),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(service, rng.below(4))),
            scope_spans: vec![ScopeSpans { scope: scope(), spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// `count` log records with bodies of about 100 bytes from one service.
pub fn logs(rng: &mut Rng, count: usize, now_nanos: u64) -> ExportLogsServiceRequest {
    let service = rng.pick(&SERVICES);
    let records = (0..count)
        .map(|i| {
            let severity = [5, 9, 9, 9, 13, 17][rng.below(6)];
            let route = rng.pick(&ROUTES);
            LogRecord {
                time_unix_nano: now_nanos + i as u64 * 1000,
                observed_time_unix_nano: now_nanos + i as u64 * 1000 + 500,
                severity_number: severity,
                severity_text: severity_text(severity).into(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(format!(
                        "handled {} {route} for customer {} in {} ms with status {}",
                        rng.pick(&METHODS),
                        rng.below(100_000),
                        rng.below(500),
                        [200, 201, 404, 500][rng.below(4)]
                    ))),
                }),
                attributes: vec![
                    text("http.route", route),
                    text("code.function", "handle_request"),
                    kv("thread.id", any_value::Value::IntValue(rng.below(64) as i64)),
                    text("enduser.id", &format!("user-{}", rng.below(1000))),
                ],
                trace_id: rng.id(16),
                span_id: rng.id(8),
                flags: 1,
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(service, rng.below(4))),
            scope_logs: vec![ScopeLogs { scope: scope(), log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// Words the benchmark log lines are made of.
const MESSAGES: [&str; 12] = [
    "request completed",
    "cache lookup finished for key",
    "order state changed from pending to confirmed",
    "payment authorised by provider",
    "stock reservation released after timeout",
    "notification queued for delivery",
    "slow query detected on table orders",
    "retrying call to upstream after backoff",
    "session refreshed for user",
    "feature flag evaluated",
    "connection pool resized",
    "batch flushed to broker",
];

/// `count` log lines of 100–300 bytes for the log benchmark, from 50 streams (10 services × 5
/// instances), the `first`th line of the run at `start_nanos` and each next one `step_nanos`
/// later. About 2 % are errors with the word `error` in them; half carry a trace id.
pub fn log_lines(
    rng: &mut Rng,
    count: usize,
    first: u64,
    start_nanos: u64,
    step_nanos: u64,
) -> ExportLogsServiceRequest {
    const SERVICES10: [&str; 10] = [
        "gateway",
        "orders",
        "payments",
        "inventory",
        "notifications",
        "billing",
        "search",
        "auth",
        "cart",
        "shipping",
    ];
    let mut streams: Vec<Vec<LogRecord>> = vec![Vec::new(); 50];
    for i in 0..count {
        let stream = rng.below(50);
        let n = first + i as u64;
        let error = rng.below(50) == 0;
        let severity = if error { 17 } else { [5, 9, 9, 9, 9, 13][rng.below(6)] };
        let mut body = format!(
            "{} {} status={} duration_ms={} bytes={} user=user-{} request_id={:016x} msg=\"{}\"",
            rng.pick(&METHODS),
            rng.pick(&ROUTES),
            if error { 500 } else { [200, 200, 201, 204, 404][rng.below(5)] },
            rng.below(2000),
            rng.below(100_000),
            rng.below(5000),
            rng.next_u64(),
            if error { "upstream error: connection reset by peer" } else { rng.pick(&MESSAGES) },
        );
        let target = 100 + rng.below(201);
        while body.len() < target {
            let extra = match rng.below(4) {
                0 => format!(" region=eu-west-{}", rng.below(3)),
                1 => format!(" attempt={}", rng.below(5)),
                2 => format!(" items={}", rng.below(40)),
                _ => format!(" cart_id={:08x}", rng.next_u64() as u32),
            };
            body.push_str(&extra);
        }
        body.truncate(300);
        let traced = rng.below(2) == 0;
        streams[stream].push(LogRecord {
            time_unix_nano: start_nanos + n * step_nanos,
            observed_time_unix_nano: start_nanos + n * step_nanos + 1_000_000,
            severity_number: severity,
            severity_text: severity_text(severity).into(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(body)) }),
            attributes: vec![
                text("code.function", "handle_request"),
                kv("thread.id", any_value::Value::IntValue(rng.below(16) as i64)),
            ],
            trace_id: if traced { rng.id(16) } else { Vec::new() },
            span_id: if traced { rng.id(8) } else { Vec::new() },
            ..Default::default()
        });
    }
    let resource_logs = streams
        .into_iter()
        .enumerate()
        .filter(|(_, records)| !records.is_empty())
        .map(|(i, records)| ResourceLogs {
            resource: Some(resource(SERVICES10[i / 5], i % 5)),
            scope_logs: vec![ScopeLogs { scope: scope(), log_records: records, ..Default::default() }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

/// `count` cumulative counter data points spread over 10 metrics, from one service.
pub fn metrics(rng: &mut Rng, count: usize, now_nanos: u64) -> ExportMetricsServiceRequest {
    let service = rng.pick(&SERVICES);
    let per_metric = count.div_ceil(10);
    let metrics = (0..10)
        .map(|m| {
            let points = (0..per_metric.min(count.saturating_sub(m * per_metric)))
                .map(|p| NumberDataPoint {
                    attributes: vec![
                        text("http.route", ROUTES[p % ROUTES.len()]),
                        text("http.request.method", METHODS[(p / ROUTES.len()) % METHODS.len()]),
                        kv("http.response.status_code", any_value::Value::IntValue(200)),
                        text("shard", &format!("{}", p / 24)),
                    ],
                    start_time_unix_nano: now_nanos.saturating_sub(60_000_000_000),
                    time_unix_nano: now_nanos,
                    value: Some(number_data_point::Value::AsDouble(rng.below(1_000_000) as f64)),
                    ..Default::default()
                })
                .collect();
            Metric {
                name: format!("loadgen.requests.{m}"),
                unit: "{request}".into(),
                description: "Requests handled.".into(),
                data: Some(Data::Sum(Sum { data_points: points, aggregation_temporality: 2, is_monotonic: true })),
                ..Default::default()
            }
        })
        .filter(|m: &Metric| matches!(&m.data, Some(Data::Sum(s)) if !s.data_points.is_empty()))
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(service, rng.below(4))),
            scope_metrics: vec![ScopeMetrics { scope: scope(), metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}
