//! Tempo's HTTP API over the span store, shaped as Tempo answers so that Grafana's Tempo data
//! source works unchanged.

mod metrics;
mod otlp;
mod search;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lookout_storage::{SpanStore, Tenant, TraceId, TraceSpan};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};
use prost::Message;
use tracing::error;

/// What the Tempo API reads.
#[derive(Clone)]
pub struct TempoState {
    /// The span store.
    pub spans: Arc<SpanStore>,
    /// Lookout's version, for `/api/status/buildinfo`.
    pub version: &'static str,
}

/// Tempo's query API: echo, build info, trace by id (v1, v2), search, tags, tag values and
/// TraceQL metrics.
pub fn router(state: TempoState) -> Router {
    Router::new()
        .route("/api/echo", get(|| async { "echo" }))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/search", get(search::search))
        .route("/api/metrics/query_range", get(metrics::query_range))
        .route("/api/metrics/query", get(metrics::query_instant))
        .route("/api/search/tags", get(search::tags_v1))
        .route("/api/v2/search/tags", get(search::tags_v2))
        .route("/api/search/tag/{tag}/values", get(search::tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(search::tag_values_v2))
        .with_state(state)
}

async fn buildinfo(State(state): State<TempoState>) -> Response {
    let body = serde_json::json!({
        "version": state.version,
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// An error as Tempo gives it: a status and a plain-text message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError { status, message: message.into() }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.message).into_response()
    }
}

/// Parses a trace id as Tempo does: hex, up to 32 digits, left-padded with zeros.
pub fn parse_trace_id(text: &str) -> Result<TraceId, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("invalid trace id {text:?}: use up to 32 hex digits"));
    }
    let padded = format!("{text:0>32}");
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(&padded, &mut bytes).map_err(|e| format!("invalid trace id {text:?}: {e}"))?;
    TraceId::from_slice(&bytes).ok_or_else(|| format!("invalid trace id {text:?}: all zeroes"))
}

fn tenant(headers: &HeaderMap) -> Result<Tenant, ApiError> {
    match headers.get("x-scope-orgid") {
        None => Ok(Tenant::default()),
        Some(v) => {
            Tenant::new(v.to_str().unwrap_or("").trim()).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))
        }
    }
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/protobuf"))
}

/// Looks the trace up off the reactor (blocks are read from disk).
async fn find(state: &TempoState, headers: &HeaderMap, id: &str) -> Result<Vec<ResourceSpans>, ApiError> {
    let tenant = tenant(headers)?;
    let id = parse_trace_id(id).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let store = Arc::clone(&state.spans);
    let spans: Vec<TraceSpan> = tokio::task::spawn_blocking(move || store.trace(&tenant, id))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            error!(error = %e, "reading a trace failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "reading the trace failed")
        })?;
    if spans.is_empty() {
        return Err(error(StatusCode::NOT_FOUND, "trace not found"));
    }
    Ok(otlp::resource_spans(&spans))
}

/// Tempo's `Trace` message is wire-identical to OTLP `TracesData` (field 1: resource spans).
fn protobuf(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/protobuf")], body).into_response()
}

/// A JSON answer; with [`ApiError`] it makes the `Reply` of the search, tag and metrics handlers.
pub(crate) struct Json(pub(crate) serde_json::Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        json(self.0)
    }
}

/// What a JSON handler returns.
pub(crate) type Reply = Result<Json, ApiError>;

fn json(body: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn trace_v1(State(state): State<TempoState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let resource_spans = match find(&state, &headers, &id).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if wants_protobuf(&headers) {
        return protobuf(TracesData { resource_spans }.encode_to_vec());
    }
    json(serde_json::json!({ "batches": resource_spans }))
}

/// `TraceByIDResponse { Trace trace = 1; ... }`.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
}

async fn trace_v2(State(state): State<TempoState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let resource_spans = match find(&state, &headers, &id).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if wants_protobuf(&headers) {
        return protobuf(TraceByIdResponse { trace: Some(TracesData { resource_spans }) }.encode_to_vec());
    }
    json(serde_json::json!({ "trace": { "resourceSpans": resource_spans } }))
}

#[cfg(test)]
mod tests;
