//! The gateway's own OpenTelemetry: one server span per request, joined to the caller's trace by
//! its `traceparent` and passed on to the upstream as `traceparent` (as NGINX's and Envoy's
//! tracing do: one span per hop; failed attempts are events on it), HTTP semantic-convention metrics by route and upstream, upstream health,
//! load and circuit state, and access logs carrying the trace.

use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request};
use opentelemetry::KeyValue;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::metrics::{AsyncInstrument, Counter, Histogram, Meter};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, Status, Tracer as _};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, Span};

use super::Gateway;
use crate::telemetry::Telemetry;

/// The instrumentation scope.
const SCOPE: &str = "lookout-gateway";

/// Spans, metrics and logs of one gateway.
pub struct GatewayTelemetry {
    tracer: SdkTracer,
    logger: SdkLogger,
    propagator: TraceContextPropagator,
    duration: Histogram<f64>,
    rate_limited: Counter<u64>,
    retries: Counter<u64>,
    fallbacks: Counter<u64>,
}

impl std::fmt::Debug for GatewayTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewayTelemetry")
    }
}

/// A request's server span.
pub struct ServerSpan {
    span: Span,
}

impl ServerSpan {
    /// The trace id, hex.
    pub fn trace_id(&self) -> String {
        self.span.span_context().trace_id().to_string()
    }

    /// Notes the upstream an attempt goes to (the last one is the one that answered).
    pub fn attempt(&mut self, upstream: &str, attempt: u32) {
        self.span.set_attribute(KeyValue::new("lookout.gateway.upstream", upstream.to_owned()));
        if attempt > 1 {
            self.span.set_attribute(KeyValue::new("http.request.resend_count", i64::from(attempt - 1)));
        }
    }

    /// Records an attempt that failed, as an event.
    pub fn attempt_failed(&mut self, upstream: &str, why: &str) {
        self.span.add_event(
            "upstream attempt failed",
            vec![
                KeyValue::new("lookout.gateway.upstream", upstream.to_owned()),
                KeyValue::new("error.type", why.to_owned()),
            ],
        );
    }

    /// The W3C `traceparent` naming this span, for the upstream to continue the trace.
    pub fn traceparent(&self) -> Option<HeaderValue> {
        let c = self.span.span_context();
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let filled = hex::encode_to_slice(c.trace_id().to_bytes(), &mut out[3..35])
            .and_then(|()| hex::encode_to_slice(c.span_id().to_bytes(), &mut out[36..52]))
            .and_then(|()| hex::encode_to_slice([c.trace_flags().to_u8()], &mut out[53..55]));
        filled.ok()?;
        HeaderValue::from_bytes(&out).ok()
    }

    /// Ends the span with the response's status.
    pub fn end(mut self, status: u16) {
        self.span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
        if status >= 500 {
            self.span.set_status(Status::error(format!("status {status}")));
        }
        self.span.end();
    }
}

impl GatewayTelemetry {
    /// Instruments `gateway`: its upstream gauges are read at each export.
    pub fn new(telemetry: &Telemetry, gateway: Weak<Gateway>) -> GatewayTelemetry {
        let meter = telemetry.meter(SCOPE);
        register_upstream_metrics(&meter, gateway);
        GatewayTelemetry {
            tracer: telemetry.tracer(SCOPE),
            logger: telemetry.logger(SCOPE),
            propagator: TraceContextPropagator::new(),
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_description("Duration of HTTP server requests.")
                .with_unit("s")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                ])
                .build(),
            rate_limited: meter
                .u64_counter("lookout.gateway.rate_limited")
                .with_description("Requests refused by a rate limit.")
                .with_unit("{request}")
                .build(),
            retries: meter
                .u64_counter("lookout.gateway.retries")
                .with_description("Upstream attempts after the first.")
                .with_unit("{request}")
                .build(),
            fallbacks: meter
                .u64_counter("lookout.gateway.fallbacks")
                .with_description("Requests answered with the route's fallback.")
                .with_unit("{request}")
                .build(),
        }
    }

    /// Starts a request's server span, a child of the caller's span when it sent `traceparent`.
    pub fn server_span<B>(&self, req: &Request<B>, route: &str, peer: SocketAddr) -> ServerSpan {
        let parent = self.propagator.extract(&crate::telemetry::HttpHeaders(req.headers()));
        let method = method_value(req.method());
        let mut name = String::with_capacity(method.as_str().len() + 1 + route.len());
        name.push_str(method.as_str());
        name.push(' ');
        name.push_str(route);
        let mut attributes = Vec::with_capacity(6);
        attributes.extend([
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.path", req.uri().path().to_owned()),
            KeyValue::new("http.route", route.to_owned()),
            KeyValue::new("client.address", ip_string(peer.ip())),
            KeyValue::new("network.protocol.version", "1.1"),
        ]);
        if let Some(ua) = req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()) {
            attributes.push(KeyValue::new("user_agent.original", ua.to_owned()));
        }
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        ServerSpan { span }
    }

    /// Records a finished request in the duration histogram.
    pub fn request(&self, route: &str, pool: &str, upstream: &str, method: &Method, status: u16, took: Duration) {
        self.duration.record(
            took.as_secs_f64(),
            &[
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("http.request.method", method_value(method)),
                KeyValue::new("http.response.status_code", i64::from(status)),
                KeyValue::new("lookout.gateway.pool", pool.to_owned()),
                KeyValue::new("lookout.gateway.upstream", upstream.to_owned()),
            ],
        );
    }

    /// Counts a request refused by `route`'s rate limit.
    pub fn rate_limited(&self, route: &str) {
        self.rate_limited.add(1, &[KeyValue::new("http.route", route.to_owned())]);
    }

    /// Counts a retry on `route`.
    pub fn retried(&self, route: &str) {
        self.retries.add(1, &[KeyValue::new("http.route", route.to_owned())]);
    }

    /// Counts a fallback answer on `route`.
    pub fn fell_back(&self, route: &str) {
        self.fallbacks.add(1, &[KeyValue::new("http.route", route.to_owned())]);
    }

    /// Logs an upstream's health changing.
    pub fn health_changed(&self, pool: &str, upstream: &str, healthy: bool) {
        let mut record = self.logger.create_log_record();
        let severity = if healthy { Severity::Info } else { Severity::Warn };
        record.set_severity_number(severity);
        record.set_severity_text(severity.name());
        record.set_body(AnyValue::from(if healthy { "upstream healthy again" } else { "upstream unhealthy" }));
        record.add_attribute("lookout.gateway.pool", AnyValue::from(pool.to_owned()));
        record.add_attribute("lookout.gateway.upstream", AnyValue::from(upstream.to_owned()));
        self.logger.emit(record);
    }

    /// Emits a request's access log record, in its trace.
    #[allow(clippy::too_many_arguments)]
    pub fn access_log(
        &self,
        span: Option<&ServerSpan>,
        peer: SocketAddr,
        method: &Method,
        path: &str,
        status: u16,
        route: &str,
        upstream: Option<&str>,
        took: Duration,
        request_id: &str,
    ) {
        let mut record = self.logger.create_log_record();
        let severity = if status >= 500 {
            Severity::Error
        } else if status >= 400 {
            Severity::Warn
        } else {
            Severity::Info
        };
        record.set_severity_number(severity);
        record.set_severity_text(severity.name());
        record.set_body(AnyValue::from(format!("{method} {path} {status}")));
        if let Some(s) = span {
            let c: &SpanContext = s.span.span_context();
            record.set_trace_context(c.trace_id(), c.span_id(), Some(c.trace_flags()));
        }
        for (k, v) in [
            ("http.request.method", AnyValue::from(method_value(method))),
            ("url.path", AnyValue::from(path.to_owned())),
            ("http.response.status_code", AnyValue::from(i64::from(status))),
            ("http.route", AnyValue::from(route.to_owned())),
            ("client.address", AnyValue::from(ip_string(peer.ip()))),
            ("lookout.gateway.upstream", AnyValue::from(upstream.unwrap_or("").to_owned())),
            ("lookout.gateway.duration_ms", AnyValue::from(took.as_secs_f64() * 1e3)),
            ("http.request.header.x-request-id", AnyValue::from(request_id.to_owned())),
        ] {
            record.add_attribute(k, v);
        }
        self.logger.emit(record);
    }
}

/// A request method as an attribute value: the standard ones without allocating.
fn method_value(method: &Method) -> opentelemetry::StringValue {
    const STANDARD: [&str; 9] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"];
    match STANDARD.iter().find(|name| **name == method.as_str()) {
        Some(name) => (*name).into(),
        None => method.to_string().into(),
    }
}

/// An address as `client.address` writes it, without the formatting machinery for IPv4.
fn ip_string(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else { return ip.to_string() };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

/// Observable instruments over the pools: requests, in flight, health, circuit state.
fn register_upstream_metrics(meter: &Meter, gateway: Weak<Gateway>) {
    type Read = fn(&super::balance::UpstreamStatus) -> u64;
    let gauges: [(&'static str, &'static str, &'static str, bool, Read); 5] = [
        ("lookout.gateway.upstream.requests", "Requests sent to an upstream.", "{request}", true, |u| u.requests),
        ("lookout.gateway.upstream.failures", "Failed requests to an upstream.", "{request}", true, |u| u.failures),
        ("lookout.gateway.upstream.active", "Requests in flight to an upstream.", "{request}", false, |u| u.active),
        (
            "lookout.gateway.upstream.healthy",
            "1 when an upstream is available (healthy, not ejected).",
            "",
            false,
            |u| u64::from(u.healthy && !u.ejected),
        ),
        ("lookout.gateway.circuit.state", "Circuit state: 0 closed, 1 open, 2 half-open.", "", false, |u| {
            match u.circuit {
                "open" => 1,
                "half_open" => 2,
                _ => 0,
            }
        }),
    ];
    for (name, description, unit, counter, read) in gauges {
        let g = gateway.clone();
        let callback = move |o: &dyn AsyncInstrument<u64>| {
            let Some(gateway) = g.upgrade() else { return };
            let now = Instant::now();
            for pool in gateway.pools() {
                for u in pool.status(now) {
                    o.observe(
                        read(&u),
                        &[
                            KeyValue::new("lookout.gateway.pool", pool.name.clone()),
                            KeyValue::new("lookout.gateway.upstream", u.name.clone()),
                        ],
                    );
                }
            }
        };
        crate::telemetry::observe_u64(meter, name, description, unit, counter, callback);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::{ServerSpan, ip_string, method_value};

    #[test]
    fn addresses_read_as_the_standard_library_writes_them() {
        for octet in [0u8, 1, 9, 10, 42, 99, 100, 101, 199, 200, 255] {
            let ip = IpAddr::V4(Ipv4Addr::new(octet, 255 - octet, octet / 2, 7));
            assert_eq!(ip_string(ip), ip.to_string());
        }
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(ip_string(v6), "::1");
    }

    #[test]
    fn methods_keep_their_names_standard_or_not() {
        for m in ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PURGE"] {
            let method = http::Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(method_value(&method).as_str(), m);
        }
    }

    #[test]
    fn traceparent_names_the_span_as_the_w3c_form_writes_it() {
        use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
        let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder().build().tracer("test");
        let span = ServerSpan { span: tracer.start("x") };
        let c = span.span.span_context().clone();
        let expected = format!("00-{}-{}-{:02x}", c.trace_id(), c.span_id(), c.trace_flags().to_u8());
        assert_eq!(span.traceparent().unwrap(), expected.as_str());
    }
}
