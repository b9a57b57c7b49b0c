//! Router-level tests against a real metrics store in a temporary directory.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use lookout_storage::metrics::TsdbOptions;
use lookout_storage::{Labels, MetricMetadata, MetricType, Sample, SampleExemplar, Tenant, WalPosition};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

/// A whole second an hour ago, so that every time below is exact in seconds.
fn t0() -> i64 {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    (now - 3_600_000) / 1000 * 1000
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: PrometheusState,
    t0: i64,
}

/// Default tenant: `up` for jobs api and db, `http_requests_total` with two exemplars and
/// metadata. Tenant `other`: `up` for job `other` only.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let t0 = t0();
    let samples = |n: i64| (0..n).map(|i| Sample { t: t0 + i * 15_000, v: i as f64 }).collect::<Vec<_>>();
    let tenant = Tenant::default();
    let mut app = db.appender(&tenant);
    app.add(&labels(&[("__name__", "up"), ("job", "api"), ("instance", "a:1")]), &samples(4), &[]);
    app.add(&labels(&[("__name__", "up"), ("job", "db"), ("instance", "b:1")]), &samples(4), &[]);
    let exemplars = [
        SampleExemplar { labels: labels(&[("trace_id", "abc")]), t: t0 + 1_123, v: 0.25 },
        SampleExemplar { labels: labels(&[("trace_id", "def")]), t: t0 + 2_000, v: 1e-7 },
    ];
    app.add(&labels(&[("__name__", "http_requests_total"), ("job", "api")]), &samples(4), &exemplars);
    app.add_metadata(MetricMetadata {
        metric_family: "http_requests_total".into(),
        kind: MetricType::Counter,
        help: "Requests served.".into(),
        unit: String::new(),
    });
    app.add_metadata(MetricMetadata {
        metric_family: "up".into(),
        kind: MetricType::Gauge,
        help: "Whether the target is up.".into(),
        unit: String::new(),
    });
    let (batch, refused) = app.finish();
    assert!(refused.is_empty(), "{refused:?}");
    db.apply(WalPosition { segment: 0, offset: 1 }, &tenant, &batch);

    let other = Tenant::new("other").unwrap();
    let mut app = db.appender(&other);
    app.add(&labels(&[("__name__", "up"), ("job", "other")]), &samples(2), &[]);
    let (batch, _) = app.finish();
    db.apply(WalPosition { segment: 0, offset: 2 }, &other, &batch);

    let build = BuildInfo { version: "0.1.0".into(), revision: "abc123".into(), ..BuildInfo::default() };
    Fixture {
        _dir: dir,
        state: PrometheusState {
            tsdb: Arc::new(db),
            build,
            admin_api: true,
            engine: Arc::new(crate::promql::Engine::default()),
            queries: Arc::new(tokio::sync::Semaphore::new(4)),
        },
        t0,
    }
}

/// Status, body (JSON, or `Value::Null` when empty).
async fn call(f: &Fixture, request: Request<Body>) -> (StatusCode, Value) {
    let response = router(f.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    if status != StatusCode::NO_CONTENT {
        let content_type = response.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().to_owned();
        assert_eq!(content_type, "application/json");
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, body)
}

async fn get(f: &Fixture, uri: &str) -> (StatusCode, Value) {
    call(f, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn get_as(f: &Fixture, tenant: &str, uri: &str) -> (StatusCode, Value) {
    call(f, Request::get(uri).header("X-Scope-OrgID", tenant).body(Body::empty()).unwrap()).await
}

async fn post(f: &Fixture, uri: &str, form: &str) -> (StatusCode, Value) {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    call(f, request).await
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn bad_data(message: &str) -> Value {
    json!({ "status": "error", "errorType": "bad_data", "error": message })
}

fn success(data: Value) -> Value {
    json!({ "status": "success", "data": data })
}

#[tokio::test]
async fn series_by_get_and_post_are_label_maps() {
    let f = fixture();
    let want = success(json!([
        { "__name__": "up", "instance": "a:1", "job": "api" },
        { "__name__": "up", "instance": "b:1", "job": "db" },
    ]));
    assert_eq!(get(&f, &format!("/api/v1/series?match[]={}", enc("up"))).await, (StatusCode::OK, want.clone()));
    assert_eq!(post(&f, "/api/v1/series", &format!("match[]={}", enc("up"))).await, (StatusCode::OK, want));
    // Repeated match[] are a union; body and URL parameters both count.
    let form = format!("match[]={}", enc(r#"{job="db"}"#));
    let (status, body) = post(&f, &format!("/api/v1/series?match[]={}", enc("http_requests_total")), &form).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["__name__"], "http_requests_total");
}

#[tokio::test]
async fn series_time_range_and_limit() {
    let f = fixture();
    let t0 = f.t0 / 1000;
    let (_, body) = get(&f, &format!("/api/v1/series?match[]=up&start={}&end={}", t0 - 600, t0 - 60)).await;
    assert_eq!(body, success(json!([])), "nothing before the first sample");
    let (_, body) = get(&f, &format!("/api/v1/series?match[]=up&start={}.001", t0 + 45)).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0, "the last sample is at t0+45s");
    let (_, body) = get(&f, &format!("/api/v1/series?match[]=up&start={}", t0 + 45)).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (status, body) = get(&f, "/api/v1/series?match[]=up&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "status": "success",
            "data": [{ "__name__": "up", "instance": "a:1", "job": "api" }],
            "warnings": ["results truncated due to limit"],
        })
    );
    let (_, body) = get(&f, "/api/v1/series?match[]=up&limit=2").await;
    assert!(body.get("warnings").is_none(), "exactly the limit is not truncated: {body}");
}

#[tokio::test]
async fn series_errors_are_prometheus_errors() {
    let f = fixture();
    let cases = [
        ("/api/v1/series".to_owned(), "no match[] parameter provided".to_owned()),
        (
            "/api/v1/series?match[]=up&limit=x".to_owned(),
            r#"invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax"#.to_owned(),
        ),
        ("/api/v1/series?match[]=up&limit=-1".to_owned(), r#"invalid parameter "limit": limit must be non-negative"#.to_owned()),
        (
            "/api/v1/series?match[]=up&start=yesterday".to_owned(),
            r#"invalid parameter "start": Invalid time value for 'start': cannot parse "yesterday" to a valid timestamp"#
                .to_owned(),
        ),
        (
            "/api/v1/series?match[]=up&end=2020-13-01T00:00:00Z".to_owned(),
            r#"invalid parameter "end": Invalid time value for 'end': cannot parse "2020-13-01T00:00:00Z" to a valid timestamp"#
                .to_owned(),
        ),
        (
            format!("/api/v1/series?match[]={}", enc(r#"{foo=""}"#)),
            r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#.to_owned(),
        ),
        (
            format!("/api/v1/series?match[]=up&match[]={}", enc(r#"{job=~".*"}"#)),
            r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#.to_owned(),
        ),
    ];
    for (uri, message) in cases {
        assert_eq!(get(&f, &uri).await, (StatusCode::BAD_REQUEST, bad_data(&message)), "{uri}");
    }
    let (status, body) = get(&f, &format!("/api/v1/series?match[]={}", enc("rate(up[5m])"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().starts_with(r#"invalid parameter "match[]": "#), "{body}");
    let (status, body) = get(&f, &format!("/api/v1/series?match[]={}", enc("up{"))).await;
    assert_eq!((status, &body["errorType"]), (StatusCode::BAD_REQUEST, &json!("bad_data")));
}

#[tokio::test]
async fn tenants_are_kept_apart() {
    let f = fixture();
    let (_, body) = get_as(&f, "other", "/api/v1/series?match[]=up").await;
    assert_eq!(body, success(json!([{ "__name__": "up", "job": "other" }])));
    let (_, body) = get_as(&f, "other", "/api/v1/label/job/values").await;
    assert_eq!(body, success(json!(["other"])));
    let (_, body) = get_as(&f, "nobody", "/api/v1/labels").await;
    assert_eq!(body, success(json!([])));
    let (_, body) = get_as(&f, "other", &format!("/api/v1/query_exemplars?query={}", enc("http_requests_total"))).await;
    assert_eq!(body, success(json!([])));
    let (_, body) = get_as(&f, "other", "/api/v1/metadata").await;
    assert_eq!(body, success(json!({})));
    let (_, body) = get_as(&f, "other", "/api/v1/status/tsdb").await;
    assert_eq!(body["data"]["headStats"]["numSeries"], 1);
    let (status, body) = get_as(&f, "../etc", "/api/v1/labels").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().unwrap().contains("invalid tenant id"), "{body}");
}

#[tokio::test]
async fn label_names_with_and_without_match() {
    let f = fixture();
    let all = success(json!(["__name__", "instance", "job"]));
    assert_eq!(get(&f, "/api/v1/labels").await, (StatusCode::OK, all.clone()));
    assert_eq!(post(&f, "/api/v1/labels", "").await, (StatusCode::OK, all));
    let (_, body) = get(&f, &format!("/api/v1/labels?match[]={}", enc("http_requests_total"))).await;
    assert_eq!(body, success(json!(["__name__", "job"])));
    let form = format!("match[]={}&match[]={}", enc("http_requests_total"), enc(r#"up{job="db"}"#));
    let (_, body) = post(&f, "/api/v1/labels", &form).await;
    assert_eq!(body, success(json!(["__name__", "instance", "job"])));
    let (_, body) = get(&f, "/api/v1/labels?limit=2").await;
    assert_eq!(body["data"], json!(["__name__", "instance"]));
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));
    let (status, body) = get(&f, &format!("/api/v1/labels?match[]={}", enc(r#"{a!="b"}"#))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#);
}

#[tokio::test]
async fn label_values_sorted_limited_and_escaped() {
    let f = fixture();
    let (status, body) = get(&f, "/api/v1/label/__name__/values").await;
    assert_eq!((status, body), (StatusCode::OK, success(json!(["http_requests_total", "up"]))));
    let (_, body) = post(&f, "/api/v1/label/job/values", &format!("match[]={}", enc("up"))).await;
    assert_eq!(body, success(json!(["api", "db"])));
    let (_, body) = get(&f, &format!("/api/v1/label/job/values?match[]={}", enc("http_requests_total"))).await;
    assert_eq!(body, success(json!(["api"])));
    let (_, body) = get(&f, "/api/v1/label/job/values?limit=1").await;
    assert_eq!(body["data"], json!(["api"]));
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));
    // `U__` names are Prometheus 3's escaping of UTF-8 names: `U__jo_62_` is `job`.
    let (_, body) = get(&f, "/api/v1/label/U__jo_62_/values").await;
    assert_eq!(body, success(json!(["api", "db"])));
    let (_, body) = get(&f, "/api/v1/label/missing/values").await;
    assert_eq!(body, success(json!([])));
    let (status, body) = get(&f, "/api/v1/label/%FF/values").await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, bad_data(r#"invalid label name: """#)));
}

#[tokio::test]
async fn metadata_by_family_with_limits() {
    let f = fixture();
    let want = success(json!({
        "http_requests_total": [{ "type": "counter", "help": "Requests served.", "unit": "" }],
        "up": [{ "type": "gauge", "help": "Whether the target is up.", "unit": "" }],
    }));
    assert_eq!(get(&f, "/api/v1/metadata").await, (StatusCode::OK, want.clone()));
    assert_eq!(post(&f, "/api/v1/metadata", "limit_per_metric=1").await, (StatusCode::OK, want));
    let (_, body) = get(&f, "/api/v1/metadata?metric=up").await;
    assert_eq!(body["data"], json!({ "up": [{ "type": "gauge", "help": "Whether the target is up.", "unit": "" }] }));
    let (_, body) = get(&f, "/api/v1/metadata?limit=1").await;
    assert_eq!(body["data"].as_object().unwrap().len(), 1);
    assert_eq!(get(&f, "/api/v1/metadata?limit=0").await.1, success(json!({})));
    assert_eq!(get(&f, "/api/v1/metadata?metric=nope").await.1, success(json!({})));
    assert_eq!(
        get(&f, "/api/v1/metadata?limit=x").await,
        (StatusCode::BAD_REQUEST, bad_data("limit must be a number"))
    );
    assert_eq!(
        get(&f, "/api/v1/metadata?limit_per_metric=x").await,
        (StatusCode::BAD_REQUEST, bad_data("limit_per_metric must be a number"))
    );
}

#[tokio::test]
async fn exemplars_of_every_selector_in_the_query() {
    let f = fixture();
    let t0 = f.t0 / 1000;
    let want = success(json!([{
        "seriesLabels": { "__name__": "http_requests_total", "job": "api" },
        "exemplars": [
            { "labels": { "trace_id": "abc" }, "value": "0.25", "timestamp": (f.t0 + 1_123) as f64 / 1000.0 },
            { "labels": { "trace_id": "def" }, "value": "1e-07", "timestamp": t0 + 2 },
        ],
    }]));
    let query = enc(r#"sum(rate(http_requests_total{job="api"}[5m])) / sum(rate(up[5m]))"#);
    assert_eq!(get(&f, &format!("/api/v1/query_exemplars?query={query}")).await, (StatusCode::OK, want.clone()));
    let form = format!("query={query}&start={}&end={}", t0, t0 + 60);
    assert_eq!(post(&f, "/api/v1/query_exemplars", &form).await, (StatusCode::OK, want));
    // Timestamps are written as Prometheus writes them: three digits of milliseconds.
    let response = router(f.state.clone())
        .oneshot(Request::get(format!("/api/v1/query_exemplars?query={query}")).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains(&format!(r#""value":"0.25","timestamp":{}.123}}"#, t0 + 1)), "{text}");
    assert!(text.contains(&format!(r#""value":"1e-07","timestamp":{}}}"#, t0 + 2)), "{text}");

    let (_, body) = get(&f, &format!("/api/v1/query_exemplars?query=up&start={}", t0 + 1)).await;
    assert_eq!(body, success(json!([])));
    let (_, body) =
        get(&f, &format!("/api/v1/query_exemplars?query=http_requests_total&start={}.5&end={}", t0 + 1, t0 + 3)).await;
    assert_eq!(body["data"][0]["exemplars"].as_array().unwrap().len(), 1);
    assert_eq!(get(&f, "/api/v1/query_exemplars?query=1%2B1").await, (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        get(&f, &format!("/api/v1/query_exemplars?query=up&start={}&end={}", t0 + 1, t0)).await,
        (StatusCode::BAD_REQUEST, bad_data("end timestamp must not be before start timestamp"))
    );
    let (status, body) = get(&f, &format!("/api/v1/query_exemplars?query={}", enc("sum(up"))).await;
    assert_eq!((status, &body["errorType"]), (StatusCode::BAD_REQUEST, &json!("bad_data")));
    let (status, _) = get(&f, "/api/v1/query_exemplars").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an empty query is a parse error");
}

#[tokio::test]
async fn buildinfo_has_prometheus_fields() {
    let f = fixture();
    let want = success(json!({
        "version": "0.1.0", "revision": "abc123", "branch": "", "buildUser": "", "buildDate": "", "goVersion": "",
    }));
    assert_eq!(get(&f, "/api/v1/status/buildinfo").await, (StatusCode::OK, want));
}

#[tokio::test]
async fn tsdb_status_head_stats_and_top_lists() {
    let f = fixture();
    let (status, body) = get(&f, "/api/v1/status/tsdb").await;
    assert_eq!(status, StatusCode::OK);
    let data = &body["data"];
    let head = &data["headStats"];
    // Four samples per series: the first chunk of series 0, 1 and 2 in a 2 h range closes
    // after 1, 2 and 3 samples (staggered by series id), the rest are in open chunks.
    assert_eq!((head["numSeries"].as_u64(), head["chunkCount"].as_u64()), (Some(3), Some(6)));
    assert_eq!(head["numLabelPairs"], 6, "__name__ x2, job x2, instance x2");
    assert_eq!((head["minTime"].as_i64(), head["maxTime"].as_i64()), (Some(f.t0), Some(f.t0 + 45_000)));
    assert_eq!(
        data["seriesCountByMetricName"],
        json!([{ "name": "up", "value": 2 }, { "name": "http_requests_total", "value": 1 }])
    );
    assert_eq!(data["labelValueCountByLabelName"][0], json!({ "name": "__name__", "value": 2 }));
    assert!(data["memoryInBytesByLabelName"].is_array());
    assert_eq!(data["seriesCountByLabelValuePair"][0], json!({ "name": "__name__=up", "value": 2 }));
    let (_, body) = get(&f, "/api/v1/status/tsdb?limit=1").await;
    assert_eq!(body["data"]["seriesCountByMetricName"].as_array().unwrap().len(), 1);
    for bad in ["0", "-3", "x"] {
        assert_eq!(
            get(&f, &format!("/api/v1/status/tsdb?limit={bad}")).await,
            (StatusCode::BAD_REQUEST, bad_data("limit must be a positive number"))
        );
    }
    let (_, body) = get_as(&f, "empty", "/api/v1/status/tsdb").await;
    let head = &body["data"]["headStats"];
    assert_eq!((head["minTime"].as_i64(), head["maxTime"].as_i64()), (Some(i64::MAX), Some(i64::MIN)));
    assert_eq!(body["data"]["seriesCountByMetricName"], json!([]));
}

#[tokio::test]
async fn snapshot_writes_the_head_as_blocks_only_when_admin_apis_are_on() {
    let f = fixture();
    let mut off = f.state.clone();
    off.admin_api = false;
    let r =
        router(off).oneshot(Request::post("/api/v1/admin/tsdb/snapshot").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"status":"error","errorType":"unavailable","error":"admin APIs disabled"})
    );
    let r = router(f.state.clone())
        .oneshot(Request::post("/api/v1/admin/tsdb/snapshot").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let name = body["data"]["name"].as_str().unwrap();
    let dir = f._dir.path().join("snapshots").join(name);
    let blocks: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(!blocks.is_empty(), "the head is written as blocks");
}

/// Seconds of `t` as Prometheus writes them in query results.
fn secs(t: i64) -> Value {
    if t % 1000 == 0 { json!(t / 1000) } else { json!(t as f64 / 1000.0) }
}

#[tokio::test]
async fn instant_queries_answer_in_prometheus_result_shapes() {
    let f = fixture();
    let t = f.t0 + 45_000;
    let uri = |q: &str| format!("/api/v1/query?query={}&time={}", enc(q), t as f64 / 1000.0);
    let want = success(json!({ "resultType": "vector", "result": [
        { "metric": { "__name__": "up", "instance": "a:1", "job": "api" }, "value": [secs(t), "3"] },
        { "metric": { "__name__": "up", "instance": "b:1", "job": "db" }, "value": [secs(t), "3"] },
    ]}));
    assert_eq!(get(&f, &uri("up")).await, (StatusCode::OK, want));
    let want = success(json!({ "resultType": "vector", "result": [
        { "metric": { "job": "api" }, "value": [secs(t), "6"] },
        { "metric": { "job": "db" }, "value": [secs(t), "6"] },
    ]}));
    assert_eq!(get(&f, &uri("sum by (job) (up * 2)")).await, (StatusCode::OK, want));
    let want = success(json!({ "resultType": "scalar", "result": [secs(t), "7"] }));
    assert_eq!(get(&f, &uri("1 + 2 * 3")).await, (StatusCode::OK, want));
    let want = success(json!({ "resultType": "string", "result": [secs(t), "hello"] }));
    assert_eq!(get(&f, &uri("\"hello\"")).await, (StatusCode::OK, want));
    // Tenants see only their own series.
    let (status, body) = get_as(&f, "other", &uri("count(up)")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["result"][0]["value"][1], "1");
}

#[tokio::test]
async fn range_queries_by_post_form_are_matrices() {
    let f = fixture();
    let (start, end) = (f.t0 as f64 / 1000.0, (f.t0 + 45_000) as f64 / 1000.0);
    let form = format!("query={}&start={start}&end={end}&step=15s", enc("up{job=\"api\"}"));
    let want = success(json!({ "resultType": "matrix", "result": [
        { "metric": { "__name__": "up", "instance": "a:1", "job": "api" }, "values": [
            [secs(f.t0), "0"], [secs(f.t0 + 15_000), "1"], [secs(f.t0 + 30_000), "2"], [secs(f.t0 + 45_000), "3"],
        ]},
    ]}));
    assert_eq!(post(&f, "/api/v1/query_range", &form).await, (StatusCode::OK, want));
}

#[tokio::test]
async fn annotations_go_into_the_envelope() {
    let f = fixture();
    let uri = format!("/api/v1/query?query={}&time={}", enc("rate(up[1m])"), (f.t0 + 45_000) as f64 / 1000.0);
    let (status, body) = get(&f, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["infos"],
        json!(["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\""])
    );
}

#[tokio::test]
async fn format_query_pretty_prints() {
    let f = fixture();
    let (status, body) = get(&f, &format!("/api/v1/format_query?query={}", enc("sum(rate(x[5m]))by(job)"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))");
    let (status, body) = get(&f, &format!("/api/v1/parse_query?query={}", enc("up"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["type"], "vectorSelector", "{body}");
}

#[tokio::test]
async fn bad_queries_get_prometheus_error_types_and_positions() {
    let f = fixture();
    let at = format!("&time={}", (f.t0 + 45_000) as f64 / 1000.0);
    let query = |q: &str| format!("/api/v1/query?query={}{at}", enc(q));
    // Syntax and type errors: bad_data, 400, the position first.
    let (status, body) = get(&f, &query("sum(rate(up[5m])")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            bad_data("invalid parameter \"query\": 1:17: parse error: unclosed left parenthesis")
        )
    );
    let (status, body) = post(&f, "/api/v1/query", &format!("query={}", enc("1 +\n  rate(up)"))).await;
    let want = "invalid parameter \"query\": 2:8: parse error: expected type range vector in call to function \"rate\", got instant vector";
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, bad_data(want)));
    // An error while evaluating: execution, 422.
    let (status, body) = get(&f, &query("up + on() up")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errorType"], "execution");
    assert!(body["error"].as_str().unwrap().contains("many-to-many matching not allowed"), "{body}");
    // A query that runs out of its time: timeout, 503.
    let (status, body) = get(&f, &format!("{}&timeout=0.000001", query("rate(up[1m])"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errorType"], "timeout");
    assert!(body["error"].as_str().unwrap().starts_with("query timed out in "), "{body}");
    // Parameters.
    let (status, body) = get(&f, "/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().starts_with("invalid parameter \"time\": "), "{body}");
    let range = |step: &str| format!("/api/v1/query_range?query=up&start=0&end=100000&step={step}");
    let (status, body) = get(&f, &range("0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "zero or negative query resolution step widths are not accepted. Try a positive integer");
    let (status, body) = get(&f, &range("1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
}
