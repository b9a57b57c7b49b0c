//! OpenTelemetry for the shop's services: an axum layer that opens a server span per request
//! (joined to the caller's trace) and records `http.server.request.duration`, W3C trace context
//! carried across HTTP headers and AMQP message headers, and logs inside the current trace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use amq_protocol::types::{AMQPValue, FieldTable, LongString};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;

use crate::telemetry::Telemetry;

/// One service instance's tracer, logger and request histogram.
pub struct ServiceTelemetry {
    /// Its tracer.
    pub tracer: SdkTracer,
    logger: SdkLogger,
    duration: Histogram<f64>,
    /// Messages it processed, for consumers.
    pub processed: Counter<u64>,
    /// Its `service.instance.id`.
    pub instance: String,
}

impl std::fmt::Debug for ServiceTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTelemetry").field("instance", &self.instance).finish()
    }
}

impl ServiceTelemetry {
    /// Instruments one service instance exporting through `telemetry`.
    pub fn new(telemetry: &Telemetry, instance: &str) -> Arc<ServiceTelemetry> {
        let meter = telemetry.meter("lookout-demo-shop");
        Arc::new(ServiceTelemetry {
            tracer: telemetry.tracer("lookout-demo-shop"),
            logger: telemetry.logger("lookout-demo-shop"),
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_description("Duration of HTTP server requests.")
                .with_unit("s")
                .with_boundaries(vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0])
                .build(),
            processed: meter
                .u64_counter("demo.messages.processed")
                .with_description("Messages a consumer processed.")
                .with_unit("{message}")
                .build(),
            instance: instance.to_owned(),
        })
    }

    /// Emits a log record inside the trace of `cx`.
    pub fn log(&self, cx: &Context, severity: Severity, body: String, attributes: &[(&'static str, AnyValue)]) {
        let mut record = self.logger.create_log_record();
        record.set_severity_number(severity);
        record.set_severity_text(severity.name());
        record.set_body(AnyValue::from(body));
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            record.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
        }
        record.add_attribute("service.instance.id", AnyValue::from(self.instance.clone()));
        for (k, v) in attributes {
            record.add_attribute(*k, v.clone());
        }
        self.logger.emit(record);
    }
}

/// The axum layer: a server span and a duration sample per request; handlers find the span's
/// [`Context`] in the request's extensions.
pub async fn traced(State(t): State<Arc<ServiceTelemetry>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let parent = TraceContextPropagator::new().extract(&crate::telemetry::HttpHeaders(req.headers()));
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let span = t
        .tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", method.clone()),
            KeyValue::new("http.route", route.clone()),
            KeyValue::new("url.path", req.uri().path().to_owned()),
            KeyValue::new("service.instance.id", t.instance.clone()),
        ])
        .start_with_context(&t.tracer, &parent);
    let cx = parent.with_span(span);
    req.extensions_mut().insert(cx.clone());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let span = cx.span();
    span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
    if status >= 500 {
        span.set_status(Status::error(format!("status {status}")));
    }
    span.end();
    t.duration.record(
        started.elapsed().as_secs_f64(),
        &[
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ],
    );
    response
}

/// The `traceparent` (and `tracestate`) naming `cx`'s span.
pub fn inject(cx: &Context) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    carrier
}

/// `cx`'s trace context as AMQP message headers.
pub fn amqp_headers(cx: &Context) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in inject(cx) {
        t.insert(k.into(), AMQPValue::LongString(LongString::from(v.into_bytes())));
    }
    t
}

/// The trace context in AMQP message headers.
pub fn amqp_context(headers: Option<&FieldTable>) -> Context {
    match headers {
        Some(h) => TraceContextPropagator::new().extract(&crate::telemetry::AmqpHeaders(h)),
        None => Context::new(),
    }
}
