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
    store.append(WalPosition::default(), &Tenant::default(), batch).unwrap();
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

fn second_trace(store: &SpanStore) {
    let mut root = span(9, None);
    root.trace_id = TraceId([0x0c; 16]);
    root.name = "GET /health".into();
    root.start_time_unix_nano = 5_000;
    root.end_time_unix_nano = 5_100;
    root.status = Status { code: SpanStatus::Unset, message: String::new() };
    root.kind = SpanKind::Server;
    let resource = Resource {
        attributes: vec![KeyValue { key: "service.name".into(), value: AnyValue::String("health".into()) }],
        ..Resource::default()
    };
    let batch = Batch {
        resources: vec![ResourceGroup {
            resource,
            scopes: vec![ScopeGroup { scope: Scope::default(), items: vec![root] }],
        }],
    };
    store.append(WalPosition { segment: 1, offset: 1 }, &Tenant::default(), batch).unwrap();
}

async fn get_json(store: &Arc<SpanStore>, uri: &str) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = get(store, uri, &[]).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())),
    )
}

#[tokio::test]
async fn search_answers_in_tempos_shape_newest_first() {
    let (_dir, store) = store();
    second_trace(&store);
    let (status, body) = get_json(&store, "/api/search?q=%7B%7D").await;
    assert_eq!(status, StatusCode::OK);
    let traces = body["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0]["traceID"], "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "newest first, leading zeros trimmed");
    assert_eq!(traces[0]["rootServiceName"], "health");
    assert_eq!(traces[0]["rootTraceName"], "GET /health");
    assert_eq!(traces[0]["startTimeUnixNano"], "5000");
    assert_eq!(body["metrics"]["inspectedTraces"], 2);

    let (_, body) = get_json(&store, "/api/search?q=%7B%20status%20%3D%20error%20%7D&spss=2").await;
    let traces = body["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0]["traceID"], ID);
    assert_eq!(traces[0]["rootServiceName"], "gateway");
    let set = &traces[0]["spanSets"][0];
    assert_eq!(set["matched"], 3);
    assert_eq!(set["spans"].as_array().unwrap().len(), 2, "spss caps the spans shown");
    assert_eq!(set["spans"][0]["spanID"], "0101010101010101");
    assert_eq!(set["spans"][0]["durationNanos"], "999");
    assert_eq!(set["spans"][0]["attributes"][0]["key"], "service.name");
    assert_eq!(traces[0]["spanSet"], *set);

    let (_, body) = get_json(&store, "/api/search?tags=service.name%3Dhealth").await;
    assert_eq!(body["traces"].as_array().unwrap().len(), 1);
    let (_, body) = get_json(&store, "/api/search?limit=1").await;
    assert_eq!(body["traces"].as_array().unwrap().len(), 1);
    let (_, body) = get_json(&store, "/api/search?minDuration=500ns").await;
    assert_eq!(body["traces"][0]["traceID"], ID, "only the ~1µs trace lasts 500ns or more");
    let (_, body) = get_json(&store, "/api/search?start=100&end=200").await;
    assert!(body["traces"].as_array().unwrap().is_empty(), "nothing in that time range");
}

#[tokio::test]
async fn bad_searches_are_400_with_the_reason() {
    let (_dir, store) = store();
    let (status, body) = get_json(&store, "/api/search?q=%7B%20.a%20%7D").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.as_str().unwrap().contains("parse error at line 1, col 3"), "{body}");
    let (status, body) = get_json(&store, "/api/search?q=%7B%7D%20%7C%20rate()").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.as_str().unwrap().contains("/api/metrics/query_range"));
    let (status, _) = get_json(&store, "/api/search?minDuration=fast").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get_json(&store, "/api/search?start=10&end=5").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get_json(&store, "/api/search?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tags_and_tag_values_v1_and_v2() {
    let (_dir, store) = store();
    second_trace(&store);
    let (_, body) = get_json(&store, "/api/search/tags").await;
    assert_eq!(body["tagNames"], serde_json::json!(["http.status_code", "service.name"]));
    let (_, body) = get_json(&store, "/api/search/tags?scope=resource").await;
    assert_eq!(body["tagNames"], serde_json::json!(["service.name"]));
    let (_, body) = get_json(&store, "/api/v2/search/tags").await;
    let scopes = body["scopes"].as_array().unwrap();
    assert_eq!(scopes[0], serde_json::json!({"name": "resource", "tags": ["service.name"]}));
    assert_eq!(scopes[1], serde_json::json!({"name": "span", "tags": ["http.status_code"]}));
    assert!(scopes[2]["tags"].as_array().unwrap().contains(&serde_json::json!("rootServiceName")));
    let (status, _) = get_json(&store, "/api/v2/search/tags?scope=galaxy").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, body) = get_json(&store, "/api/search/tag/service.name/values").await;
    assert_eq!(body["tagValues"], serde_json::json!(["gateway", "health", "orders"]));
    let (_, body) = get_json(&store, "/api/v2/search/tag/resource.service.name/values").await;
    assert_eq!(body["tagValues"][0], serde_json::json!({"type": "string", "value": "gateway"}));
    let (_, body) = get_json(&store, "/api/v2/search/tag/span.http.status_code/values").await;
    assert_eq!(body["tagValues"], serde_json::json!([{"type": "int", "value": "503"}]));
    let (_, body) = get_json(&store, "/api/v2/search/tag/name/values?q=%7B%20status%20%3D%20error%20%7D").await;
    assert_eq!(body["tagValues"].as_array().unwrap().len(), 3, "op-1, op-2, op-3 only");
    let (status, _) = get_json(&store, "/api/v2/search/tag/%7B/values").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn traceql_metrics_count_rate_and_quantiles_per_step() {
    let (_dir, store) = store();
    second_trace(&store);
    // Spans start at 1,001..1,003 ns (trace ab) and 5,000 ns (trace 0c): one 1 µs step each.
    let q = "%7B%7D%20%7C%20count_over_time()%20by%20(resource.service.name)";
    let (status, body) =
        get_json(&store, &format!("/api/metrics/query_range?q={q}&start=0.000001&end=0.000006&step=1us")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let series = body["series"].as_array().unwrap();
    let by_service: std::collections::HashMap<&str, &serde_json::Value> =
        series.iter().map(|s| (s["labels"][0]["value"]["stringValue"].as_str().unwrap(), s)).collect();
    assert_eq!(by_service["gateway"]["samples"], serde_json::json!([{"timestampMs": "0", "value": 1.0}]));
    assert_eq!(by_service["orders"]["samples"][0]["value"], 2.0);
    assert_eq!(by_service["health"]["samples"][0]["value"], 1.0);
    assert_eq!(by_service["orders"]["promLabels"], "{resource.service.name=\"orders\"}");

    let q = "%7B%20status%20%3D%20error%20%7D%20%7C%20rate()";
    let (_, body) =
        get_json(&store, &format!("/api/metrics/query_range?q={q}&start=0.000001&end=0.000006&step=1us")).await;
    assert_eq!(
        body["series"][0]["labels"][0],
        serde_json::json!({"key": "__name__", "value": {"stringValue": "rate"}})
    );
    assert_eq!(body["series"][0]["samples"][0]["value"], 3_000_000.0, "3 spans in 1 µs");

    let q = "%7B%7D%20%7C%20quantile_over_time(duration%2C%20.5)";
    let (_, body) = get_json(&store, &format!("/api/metrics/query?q={q}&start=0.000001&end=0.000006")).await;
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["labels"][1], serde_json::json!({"key": "p", "value": {"doubleValue": 0.5}}));
    assert!(
        (series[0]["value"].as_f64().unwrap() - 997.5e-9).abs() < 1e-12,
        "median of 100, 997, 998 and 999 ns: {body}"
    );
}

#[tokio::test]
async fn bad_metrics_queries_are_400() {
    let (_dir, store) = store();
    for uri in [
        "/api/metrics/query_range",
        "/api/metrics/query_range?q=%7B%7D",
        "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()&start=10&end=5",
        "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()&step=soon",
        "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()&start=0&end=100000&step=1s",
        "/api/metrics/query?q=%7B%20.a%20%7D%20%7C%20rate()",
    ] {
        let (status, body) = get_json(&store, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
    }
}

#[tokio::test]
async fn search_finds_the_same_in_blocks_as_in_the_head() {
    let (_dir, store) = store();
    second_trace(&store);
    let queries = [
        "{ status = error }",
        r#"{ resource.service.name = "health" }"#,
        r#"{ resource.service.name != "health" }"#,
        "{ duration > 500ns }",
        r#"{ name = "op-2" && .http.status_code = 503 }"#,
        "{ kind = client }",
        "{ kind = server || status = error }",
        r#"{ statusMessage = "boom" }"#,
        r#"{ name =~ "op-.*" }"#,
        "{ !(status = error) }",
        r#"{ name = "nothing" }"#,
        "{ .http.status_code = nil }",
        r#"{ .service.name = "health" }"#,
        r#"{ resource.service.name =~ "heal.*|gate.*" }"#,
        r#"{ resource.service.name = "nobody" }"#,
        r#"{ span.nothing = "x" }"#,
        "{ span.nothing != nil }",
        r#"{ .http.status_code = 503 && resource.service.name != "x" }"#,
    ];
    let ids = |body: serde_json::Value| -> Vec<String> {
        body["traces"].as_array().unwrap().iter().map(|t| t["traceID"].as_str().unwrap().to_owned()).collect()
    };
    let mut before = Vec::new();
    for q in queries {
        let (status, body) = get_json(&store, &format!("/api/search?q={}", urlencode(q))).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        before.push(ids(body));
    }
    assert_eq!(before.iter().filter(|ids| !ids.is_empty()).count(), 13, "{before:?}");
    store.cut().unwrap();
    assert_eq!(store.stats().head_spans, 0);
    for (q, expected) in queries.iter().zip(before) {
        let (_, body) = get_json(&store, &format!("/api/search?q={}", urlencode(q))).await;
        assert_eq!(ids(body), expected, "{q}");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
