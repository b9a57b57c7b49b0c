//! Prometheus remote read (`POST /api/v1/read`): raw samples of the series matching each
//! query's matchers, as snappy-compressed protobuf, in the `SAMPLES` response type. What
//! Prometheus itself serves to a remote-read client, and a way to see exactly what the store
//! holds.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_storage::Tenant;
use lookout_storage::metrics::{MatchOp, Matcher, Querier, Tsdb};
use prost::Message;

/// Largest decompressed request accepted.
const MAX_REQUEST_BYTES: usize = 32 << 20;
/// Most samples one response may hold, as Prometheus's `--storage.remote.read-sample-limit`.
const MAX_SAMPLES: usize = 50_000_000;

/// The protobuf messages of Prometheus's `prompb` remote read.
pub mod prompb {
    /// A read request: one or more queries.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadRequest {
        /// The queries.
        #[prost(message, repeated, tag = "1")]
        pub queries: Vec<Query>,
        /// Response types the client accepts (0 = SAMPLES, 1 = STREAMED_XOR_CHUNKS).
        #[prost(int32, repeated, tag = "2")]
        pub accepted_response_types: Vec<i32>,
    }

    /// One query: a time range and label matchers.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Query {
        /// Start, ms.
        #[prost(int64, tag = "1")]
        pub start_timestamp_ms: i64,
        /// End, ms.
        #[prost(int64, tag = "2")]
        pub end_timestamp_ms: i64,
        /// Matchers.
        #[prost(message, repeated, tag = "3")]
        pub matchers: Vec<LabelMatcher>,
    }

    /// A label matcher (type 0 `=`, 1 `!=`, 2 `=~`, 3 `!~`).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelMatcher {
        /// The comparison.
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        /// Label name.
        #[prost(string, tag = "2")]
        pub name: String,
        /// Value or pattern.
        #[prost(string, tag = "3")]
        pub value: String,
    }

    /// The answer: one result per query, in order.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadResponse {
        /// Results.
        #[prost(message, repeated, tag = "1")]
        pub results: Vec<QueryResult>,
    }

    /// The series of one query.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryResult {
        /// Series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// One series with samples.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Labels, sorted by name.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Samples, oldest first.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// A label.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// Name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// A sample.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Time, ms.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// The router with `POST /api/v1/read`.
pub fn router(tsdb: Arc<Tsdb>) -> Router {
    Router::new().route("/api/v1/read", post(read)).with_state(tsdb)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

async fn read(State(tsdb): State<Arc<Tsdb>>, headers: HeaderMap, body: Bytes) -> Response {
    let tenant = match headers.get("x-scope-orgid").map(|v| v.to_str().map(|s| Tenant::new(s.trim()))) {
        None => Tenant::default(),
        Some(Ok(Ok(t))) => t,
        _ => return error(StatusCode::BAD_REQUEST, "invalid X-Scope-OrgID"),
    };
    let raw = match snap::raw::decompress_len(&body) {
        Ok(len) if len <= MAX_REQUEST_BYTES => snap::raw::Decoder::new().decompress_vec(&body),
        Ok(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "read request too large"),
        Err(e) => Err(e),
    };
    let request = match raw
        .map_err(|e| e.to_string())
        .and_then(|r| prompb::ReadRequest::decode(r.as_slice()).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid remote read request: {e}")),
    };
    if !request.accepted_response_types.is_empty() && !request.accepted_response_types.contains(&0) {
        return error(
            StatusCode::BAD_REQUEST,
            "none of the accepted response types is supported: Lookout answers remote read with SAMPLES",
        );
    }
    let answer = tokio::task::spawn_blocking(move || answer(&tsdb, &tenant, &request)).await;
    match answer {
        Ok(Ok(response)) => {
            let encoded = response.encode_to_vec();
            let Ok(packed) = snap::raw::Encoder::new().compress_vec(&encoded) else {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot compress the response");
            };
            let mut r = (StatusCode::OK, packed).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
            r
        }
        Ok(Err((status, message))) => error(status, message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn answer(
    tsdb: &Tsdb,
    tenant: &Tenant,
    request: &prompb::ReadRequest,
) -> Result<prompb::ReadResponse, (StatusCode, String)> {
    let mut results = Vec::with_capacity(request.queries.len());
    let mut total = 0usize;
    for q in &request.queries {
        let matchers = q
            .matchers
            .iter()
            .map(|m| {
                let op = match m.r#type {
                    0 => MatchOp::Equal,
                    1 => MatchOp::NotEqual,
                    2 => MatchOp::Regex,
                    3 => MatchOp::NotRegex,
                    t => return Err(format!("unknown matcher type {t}")),
                };
                Matcher::new(op, &m.name, &m.value).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let series = tsdb
            .select(tenant, &matchers, q.start_timestamp_ms, q.end_timestamp_ms)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let mut timeseries = Vec::with_capacity(series.len());
        for s in series {
            total += s.samples.len();
            if total > MAX_SAMPLES {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("exceeded sample limit ({MAX_SAMPLES}): narrow the time range or the matchers"),
                ));
            }
            timeseries.push(prompb::TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|l| prompb::Label { name: l.name.clone(), value: l.value.clone() })
                    .collect(),
                samples: s.samples.iter().map(|x| prompb::Sample { value: x.v, timestamp: x.t }).collect(),
            });
        }
        results.push(prompb::QueryResult { timeseries });
    }
    Ok(prompb::ReadResponse { results })
}
