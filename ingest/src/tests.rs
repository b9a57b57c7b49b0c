//! The OTLP/HTTP router without a socket, and the conversion rules.

use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderMap, Request, StatusCode};
use axum::body::Body;
use http_body_util::BodyExt;
use lookout_storage::{Payload, Wal, WalMetrics, WalOptions};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, metric::Data,
};
use prometheus::Registry;
use tower::ServiceExt;

use crate::synthetic::{self, Rng};
use crate::*;

struct Fixture {
    _dir: tempfile::TempDir,
    wal: Arc<Wal>,
    ingester: Arc<Ingester>,
}

fn fixture(options: IngestOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let wal = Arc::new(
        Wal::open(dir.path(), WalOptions::default(), WalMetrics::new(&registry).unwrap(), Box::new(|_, _| {})).unwrap(),
    );
    let tsdb = Arc::new(lookout_storage::metrics::Tsdb::open(&dir.path().join("metrics"), Default::default()).unwrap());
    let intake = Arc::new(MetricsIntake::new(tsdb, IntakeOptions::default()));
    let ingester = Arc::new(Ingester::new(Arc::clone(&wal), IngestMetrics::new(&registry).unwrap(), options, intake));
    Fixture { _dir: dir, wal, ingester }
}

fn traces_body() -> Vec<u8> {
    prost::Message::encode_to_vec(&synthetic::traces(&mut Rng::new(1), 10, 1_700_000_000_000_000_000))
}

fn post(path: &str, content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(path).header("content-type", content_type).body(Body::from(body)).unwrap()
}

async fn send(fixture: &Fixture, cors: &CorsOptions, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = http_router(Arc::clone(&fixture.ingester), cors).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn too_many_requests_in_flight_get_429_with_retry_after() {
    let f = fixture(IngestOptions {
        max_inflight_requests: 1,
        retry_after: Duration::from_secs(3),
        ..IngestOptions::default()
    });
    let held = f.ingester.hold_permits_for_test(1);
    let (status, headers, body) =
        send(&f, &CorsOptions::default(), post("/v1/traces", "application/json", b"{}".to_vec())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "3");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], 8, "RESOURCE_EXHAUSTED");
    assert_eq!(body["details"][0]["retryDelay"], "3s");
    drop(held);
    let (status, _, _) =
        send(&f, &CorsOptions::default(), post("/v1/traces", "application/json", b"{}".to_vec())).await;
    assert_eq!(status, StatusCode::OK, "accepted again once a slot is free");
}

#[tokio::test]
async fn closed_wal_gets_503_with_retry_after() {
    let f = fixture(IngestOptions::default());
    f.wal.close();
    let (status, headers, body) =
        send(&f, &CorsOptions::default(), post("/v1/traces", "application/x-protobuf", traces_body())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    let status = <RpcStatus as prost::Message>::decode(body.as_slice()).unwrap();
    assert_eq!(status.code, tonic::Code::Unavailable as i32);
    assert!(status.message.contains("shutting down"), "{}", status.message);
    let retry = <RetryInfo as prost::Message>::decode(status.details[0].value.as_slice()).unwrap();
    assert_eq!(retry.retry_delay.unwrap().seconds, 1);
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    use std::io::Write;
    let f = fixture(IngestOptions::default());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&traces_body()).unwrap();
    let mut request = post("/v1/traces", "application/x-protobuf", gz.finish().unwrap());
    request.headers_mut().insert("content-encoding", "gzip".parse().unwrap());
    let (status, headers, body) = send(&f, &CorsOptions::default(), request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert!(body.is_empty(), "a full success is an empty ExportTraceServiceResponse");
}

#[tokio::test]
async fn cors_preflight_is_answered_for_allowed_origins_only() {
    let f = fixture(IngestOptions::default());
    let cors = CorsOptions {
        allowed_origins: vec!["https://app.example".into()],
        max_age: Duration::from_secs(60),
        ..CorsOptions::default()
    };
    let preflight = |origin: &str| {
        Request::options("/v1/traces")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, _) = send(&f, &cors, preflight("https://app.example")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let (_, headers, _) = send(&f, &cors, preflight("https://evil.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

fn histogram(bucket_counts: Vec<u64>, explicit_bounds: Vec<f64>, count: u64) -> ExportMetricsServiceRequest {
    let point = HistogramDataPoint { count, bucket_counts, explicit_bounds, ..Default::default() };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "latency".into(),
                    data: Some(Data::Histogram(Histogram { data_points: vec![point], aggregation_temporality: 2 })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn histogram_points_must_match_their_bounds() {
    assert_eq!(convert_metrics(histogram(vec![1, 2, 3], vec![1.0, 2.0], 6)).rejected, 0);
    let wrong_len = convert_metrics(histogram(vec![1, 2], vec![1.0, 2.0], 3));
    assert_eq!(wrong_len.rejected, 1);
    assert!(
        wrong_len.message.contains("(latency).data_points[0]: histogram has 2 bucket counts for 2 explicit bounds"),
        "{}",
        wrong_len.message
    );
    assert!(convert_metrics(histogram(vec![1, 2, 3], vec![2.0, 1.0], 6)).message.contains("not strictly increasing"));
    assert!(convert_metrics(histogram(vec![1, 2, 3], vec![1.0, 2.0], 7)).message.contains("differs from the sum"));
}

#[test]
fn nameless_metric_rejects_all_its_points() {
    let mut request = synthetic::metrics(&mut Rng::new(2), 40, 1);
    request.resource_metrics[0].scope_metrics[0].metrics[1].name.clear();
    let converted = convert_metrics(request);
    assert_eq!(converted.rejected, 4);
    assert!(
        converted.message.starts_with(
            "4 data points rejected; first: resource_metrics[0].scope_metrics[0].metrics[1]: metric name is empty"
        ),
        "{}",
        converted.message
    );
    assert_eq!(converted.payload.item_count(), 36);
    assert!(matches!(converted.payload, Payload::Metrics(_)));
}

#[test]
fn all_zero_trace_id_on_a_log_means_none_but_on_a_span_is_invalid() {
    let mut logs = synthetic::logs(&mut Rng::new(3), 2, 1);
    logs.resource_logs[0].scope_logs[0].log_records[0].trace_id = vec![0; 16];
    logs.resource_logs[0].scope_logs[0].log_records[0].span_id = vec![];
    let converted = convert_logs(logs);
    assert_eq!(converted.rejected, 0);
    let Payload::Logs(batch) = converted.payload else { panic!() };
    assert_eq!(batch.items().next().unwrap().trace_id, None);

    let mut traces = synthetic::traces(&mut Rng::new(3), 2, 1);
    traces.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![0; 16];
    let converted = convert_traces(traces);
    assert_eq!(converted.rejected, 1);
    assert!(converted.message.ends_with("trace_id is all zeroes"), "{}", converted.message);
}

#[test]
fn tenant_header_rules() {
    assert_eq!(tenant_from(None).unwrap().as_str(), "anonymous");
    assert_eq!(tenant_from(Some(b"team-a")).unwrap().as_str(), "team-a");
    for bad in [&b""[..], b"..", b"a/b", &[0xff, 0xfe], &[b'x'; 151]] {
        assert!(tenant_from(Some(bad)).is_err(), "{bad:?}");
    }
}
