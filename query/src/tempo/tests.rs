use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use lookout_storage::{
    AnyValue, Batch, KeyValue, Resource, ResourceGroup, Scope, ScopeGroup, Span, SpanId, SpanKind, SpanStoreOptions,
    Status, StatusCode as SpanStatus, WalPosition,
};
use tower::ServiceExt;

use super::*;

fn span(id: u8, parent: Option<u8>) -> Span {
    Span {
        trace_id: TraceId([0xab; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        trace_state: String::new(),
        flags: 0,
        name: format!("op-{id}"),
        kind: SpanKind::Client,
        start_time_unix_nano: 1_000 + u64::from(id),
        end_time_unix_nano: 2_000,
        attributes: vec![KeyValue { key: "http.status_code".into(), value: AnyValue::Int(503) }],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Status { code: SpanStatus::Error, message: "boom".into() },
    }
}

fn store() -> (tempfile::TempDir, Arc<SpanStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SpanStore::open(dir.path(), SpanStoreOptions::default()).unwrap());
    let resource = |service: &str| Resource {
        attributes: vec![KeyValue { key: "service.name".into(), value: AnyValue::String(service.into()) }],
        ..Resource::default()
    };
    let batch = Batch {
        resources: vec![
            ResourceGroup {
                resource: resource("gateway"),
                scopes: vec![ScopeGroup { scope: Scope::default(), items: vec![span(1, None)] }],
            },
            ResourceGroup {
                resource: resource("orders"),
                scopes: vec![ScopeGroup { scope: Scope::default(), items: vec![span(2, Some(1)), span(3, Some(2))] }],
            },
        ],
    };
    store.append(WalPosition::default(), &Tenant::default(), batch);
    (dir, store)
}

async fn get(store: &Arc<SpanStore>, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String, Vec<u8>) {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let state = TempoState { spans: Arc::clone(store), version: "1.2.3" };
    let response = router(state).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

const ID: &str = "abababababababababababababababab";

#[tokio::test]
async fn trace_by_id_in_json_groups_spans_by_resource() {
    let (_dir, store) = store();
    let (status, content_type, body) = get(&store, &format!("/api/traces/{ID}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let batches = body["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0]["resource"]["attributes"][0]["value"]["stringValue"], "gateway");
    let orders = &batches[1]["scopeSpans"][0]["spans"];
    assert_eq!(orders.as_array().unwrap().len(), 2);
    assert_eq!(orders[0]["traceId"], ID, "ids in hex as OTLP/JSON spells them");
    assert_eq!(orders[0]["parentSpanId"], "0101010101010101");
    assert_eq!(orders[0]["kind"], 3);
    assert_eq!(orders[0]["status"]["code"], 2);
    assert_eq!(orders[0]["attributes"][0]["value"]["intValue"], "503");
}

#[tokio::test]
async fn trace_by_id_in_protobuf_v1_and_v2() {
    let (_dir, store) = store();
    let (status, content_type, body) =
        get(&store, &format!("/api/traces/{ID}"), &[("accept", "application/protobuf")]).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/protobuf"));
    let trace = TracesData::decode(body.as_slice()).unwrap();
    let spans: Vec<_> = trace.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[2].parent_span_id, vec![2; 8]);

    let (_, _, body) = get(&store, &format!("/api/v2/traces/{ID}"), &[("accept", "application/protobuf")]).await;
    let response = TraceByIdResponse::decode(body.as_slice()).unwrap();
    assert_eq!(response.trace.unwrap(), trace);

    let (status, _, body) = get(&store, &format!("/api/v2/traces/{ID}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["trace"]["resourceSpans"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_bad_and_other_tenants_traces() {
    let (_dir, store) = store();
    let (status, _, body) = get(&store, "/api/traces/0123456789abcdef0123456789abcdef", &[]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::NOT_FOUND, &b"trace not found"[..]));
    let (status, _, body) = get(&store, "/api/traces/not-hex", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8(body).unwrap().contains("invalid trace id"));
    let (status, _, _) = get(&store, &format!("/api/traces/{ID}"), &[("x-scope-orgid", "someone-else")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "tenants only see their own traces");
    let (status, _, _) = get(&store, &format!("/api/traces/{ID}"), &[("x-scope-orgid", "../x")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn short_ids_are_left_padded_like_tempo() {
    assert_eq!(parse_trace_id("1").unwrap().0[15], 1);
    assert_eq!(parse_trace_id("00000000000000000000000000000abc").unwrap(), parse_trace_id("abc").unwrap());
    assert!(parse_trace_id("0").is_err(), "all zeroes");
    assert!(parse_trace_id(&"f".repeat(33)).is_err());
}

#[tokio::test]
async fn echo_and_buildinfo() {
    let (_dir, store) = store();
    let (status, _, body) = get(&store, "/api/echo", &[]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"echo"[..]));
    let (_, _, body) = get(&store, "/api/status/buildinfo", &[]).await;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["version"], "1.2.3");
}
