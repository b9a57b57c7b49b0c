//! Lookout's own endpoints on :3000: `/-/healthy`, `/-/ready` and `/metrics`, and the request
//! metrics of everything served there (`lookout_http_requests_total`,
//! `lookout_http_request_duration_seconds`, by route as Prometheus's `handler` label has it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    /// Metrics to expose.
    pub registry: Registry,
    /// Set once the WAL is replayed and the receivers are up; cleared at shutdown.
    pub ready: Arc<AtomicBool>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/-/healthy", get(|| async { "Lookout is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "Lookout is Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable: replaying the write-ahead log or shutting down.\n")
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, encoder.format_type().to_owned())], body),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain".to_owned())],
            e.to_string().into_bytes(),
        ),
    }
}

/// Requests and their durations on the :3000 listener, by route and status code.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Registers `lookout_http_requests_total` and `lookout_http_request_duration_seconds`.
    pub fn new(registry: &Registry) -> prometheus::Result<HttpMetrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "lookout_http_requests_total",
                "HTTP requests served on the query and UI port, by route and status code.",
            ),
            &["handler", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "lookout_http_request_duration_seconds",
                "Time from a request's arrival to its response's head, by route.",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
            &["handler"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(HttpMetrics { requests, duration })
    }

    /// Wraps every route of `router` with the measurement.
    pub fn layer(&self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), measure))
    }
}

async fn measure(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let handler = request.extensions().get::<MatchedPath>().map_or("other", MatchedPath::as_str).to_owned();
    let began = Instant::now();
    let response = next.run(request).await;
    metrics.duration.with_label_values(&[handler.as_str()]).observe(began.elapsed().as_secs_f64());
    metrics.requests.with_label_values(&[handler.as_str(), response.status().as_str()]).inc();
    response
}
