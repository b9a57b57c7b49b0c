//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with protobuf or JSON bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use lookout_storage::Signal;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::rpc_status::RpcStatus;
use crate::{Error, ExportReply, ExportRequest, Ingester, Result, Transport, tenant_from};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Which browser origins may send OTLP/HTTP (for browser exporters).
#[derive(Debug, Clone, Default)]
pub struct CorsOptions {
    /// Allowed origins; `*` allows any; empty turns CORS off.
    pub allowed_origins: Vec<String>,
    /// Extra request headers a browser may send besides the OTLP ones.
    pub allowed_headers: Vec<String>,
    /// How long a browser may cache the preflight answer.
    pub max_age: Duration,
}

/// The OTLP/HTTP router (served on :4318).
pub fn router(ingester: Arc<Ingester>, cors: &CorsOptions) -> Router {
    let route = |signal: Signal| {
        post(move |State(ingester): State<Arc<Ingester>>, headers: HeaderMap, body: Body| async move {
            handle(&ingester, signal, &headers, body).await
        })
        .fallback(method_not_allowed)
    };
    let router = Router::new()
        .route("/v1/traces", route(Signal::Traces))
        .route("/v1/logs", route(Signal::Logs))
        .route("/v1/metrics", route(Signal::Metrics))
        .layer(TraceLayer::new_for_http())
        .with_state(ingester);
    match cors_layer(cors) {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

fn cors_layer(cors: &CorsOptions) -> Option<CorsLayer> {
    if cors.allowed_origins.is_empty() {
        return None;
    }
    let origins = if cors.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(cors.allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let mut headers: Vec<http::HeaderName> =
        vec![CONTENT_TYPE, CONTENT_ENCODING, http::HeaderName::from_static("x-scope-orgid")];
    headers.extend(cors.allowed_headers.iter().filter_map(|h| h.parse().ok()));
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::POST, Method::OPTIONS])
            .allow_headers(headers)
            .expose_headers(Any)
            .max_age(cors.max_age),
    )
}

async fn handle(ingester: &Ingester, signal: Signal, headers: &HeaderMap, body: Body) -> Response {
    let json = match content_type(headers) {
        Ok(json) => json,
        Err(e) => return refuse(ingester, signal, Transport::HttpProtobuf, e, true),
    };
    let transport = if json { Transport::HttpJson } else { Transport::HttpProtobuf };
    let request = match read_request(ingester, signal, transport, headers, body).await {
        Ok(request) => request,
        Err(e) => return refuse(ingester, signal, transport, e, json),
    };
    match ingester.export(request).await {
        Ok(reply) => success(signal, &reply, json),
        Err(e) => error_response(&e, json),
    }
}

async fn read_request(
    ingester: &Ingester,
    signal: Signal,
    transport: Transport,
    headers: &HeaderMap,
    body: Body,
) -> Result<ExportRequest> {
    let gzip = match headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase()) {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(e) => return Err(Error::UnsupportedContentEncoding(e)),
    };
    let tenant = tenant_from(headers.get("x-scope-orgid").map(|v| v.as_bytes()))?;
    let limit = ingester.options().max_message_size;
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge { limit, decompressed: false });
    }
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(Error::TooLarge { limit, decompressed: false });
        }
        Err(e) => return Err(Error::Decode(format!("cannot read request body: {e}"))),
    };
    Ok(ExportRequest { signal, transport, tenant, body, gzip })
}

/// `Ok(true)` for JSON, `Ok(false)` for protobuf.
fn content_type(headers: &HeaderMap) -> Result<bool> {
    let raw = headers.get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default();
    let essence = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        PROTOBUF | "application/protobuf" => Ok(false),
        JSON => Ok(true),
        _ => Err(Error::UnsupportedContentType(raw)),
    }
}

fn refuse(ingester: &Ingester, signal: Signal, transport: Transport, err: Error, json: bool) -> Response {
    ingester.record_refusal(signal, transport, 0, &err);
    error_response(&err, json)
}

/// An error as OTLP/HTTP wants it: the status code and a `google.rpc.Status` body in the
/// request's encoding, with `Retry-After` on 429 and 503.
fn error_response(err: &Error, json: bool) -> Response {
    let status = RpcStatus::from_error(err);
    let mut response = if json {
        (err.http_status(), [(CONTENT_TYPE, JSON)], status.to_json().to_string()).into_response()
    } else {
        (err.http_status(), [(CONTENT_TYPE, PROTOBUF)], status.encode_to_vec()).into_response()
    };
    if let Some(after) = err.retry_after() {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(after.as_secs().max(1)));
    }
    response
}

async fn method_not_allowed(method: Method) -> Response {
    let status = RpcStatus {
        code: tonic::Code::Unimplemented as i32,
        message: format!("method {method} is not allowed: OTLP/HTTP takes POST"),
        details: Vec::new(),
    };
    (StatusCode::METHOD_NOT_ALLOWED, [(ALLOW, "POST"), (CONTENT_TYPE, JSON)], status.to_json().to_string())
        .into_response()
}

fn success(signal: Signal, reply: &ExportReply, json: bool) -> Response {
    if json {
        // With nothing rejected, a message is a warning (the OTLP specification allows it).
        let body = if reply.rejected == 0 && reply.message.is_empty() {
            serde_json::json!({})
        } else {
            let field = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Logs => "rejectedLogRecords",
                Signal::Metrics => "rejectedDataPoints",
            };
            serde_json::json!({"partialSuccess": {field: reply.rejected.to_string(), "errorMessage": reply.message}})
        };
        return (StatusCode::OK, [(CONTENT_TYPE, JSON)], body.to_string()).into_response();
    }
    (StatusCode::OK, [(CONTENT_TYPE, PROTOBUF)], encode_reply(signal, reply)).into_response()
}

/// The `Export*ServiceResponse` for a reply, protobuf-encoded.
pub(crate) fn encode_reply(signal: Signal, reply: &ExportReply) -> Vec<u8> {
    let partial = reply.rejected > 0 || !reply.message.is_empty();
    let (rejected, error_message) = (reply.rejected as i64, reply.message.clone());
    match signal {
        Signal::Traces => ExportTraceServiceResponse {
            partial_success: partial.then_some(ExportTracePartialSuccess { rejected_spans: rejected, error_message }),
        }
        .encode_to_vec(),
        Signal::Logs => ExportLogsServiceResponse {
            partial_success: partial
                .then_some(ExportLogsPartialSuccess { rejected_log_records: rejected, error_message }),
        }
        .encode_to_vec(),
        Signal::Metrics => ExportMetricsServiceResponse {
            partial_success: partial
                .then_some(ExportMetricsPartialSuccess { rejected_data_points: rejected, error_message }),
        }
        .encode_to_vec(),
    }
}
