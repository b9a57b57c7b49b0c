//! The Loki routes answered without a socket: shapes of the smaller endpoints and errors.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lookout_storage::logs::{LogStore, LogStoreOptions};
use lookout_storage::{Entry, Label, Labels, Stream, StreamBatch, Tenant, WalPosition};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{LokiState, router};
use crate::BuildInfo;
use crate::logql::{LogqlEngine, LogqlOptions};

const T0: i64 = 1_700_000_000_000_000_000;

fn state() -> (tempfile::TempDir, LokiState) {
    let dir = tempfile::tempdir().unwrap();
    let forever = Duration::from_secs(100 * 365 * 24 * 3600);
    let store =
        LogStore::open(dir.path(), LogStoreOptions { retention: forever, future_grace: forever, ..Default::default() })
            .unwrap();
    let entry = |t: i64, line: &str, md: &[(&str, &str)]| Entry {
        time_unix_nano: T0 + t * 1_000_000_000,
        line: line.into(),
        metadata: md.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
    };
    let batch = StreamBatch {
        streams: vec![
            Stream {
                labels: Labels::from_pairs([("app", "api"), ("env", "prod")]),
                entries: vec![
                    entry(0, "level=info status=200 took=12ms", &[("user", "u1")]),
                    entry(1, "level=error status=500 took=1.5s", &[("user", "u2")]),
                ],
            },
            Stream {
                labels: Labels::from_pairs([("app", "web"), ("env", "dev")]),
                entries: vec![entry(2, r#"{"path":"/","size":12}"#, &[])],
            },
        ],
    };
    store.append(WalPosition::default(), &Tenant::default(), batch).unwrap();
    store.commit().unwrap();
    let state = LokiState {
        engine: LogqlEngine::new(Arc::new(store), LogqlOptions::default()),
        build: BuildInfo { version: "1.2.3".into(), ..BuildInfo::default() },
        queries: Arc::new(tokio::sync::Semaphore::new(4)),
        tail_interval: Duration::from_millis(100),
    };
    (dir, state)
}

async fn get(state: &LokiState, uri: &str) -> (StatusCode, String) {
    let response = router(state.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn range() -> String {
    format!("start={}&end={}", T0, T0 + 60_000_000_000)
}

fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn index_stats_volume_and_detected_labels() {
    let (_dir, state) = state();
    let (status, body) =
        get(&state, &format!("/loki/api/v1/index/stats?query={}&{}", enc(r#"{app=~".+"}"#), range())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["streams"], 2);
    assert_eq!(stats["entries"], 3);
    let bytes = "level=info status=200 took=12ms".len()
        + "level=error status=500 took=1.5s".len()
        + r#"{"path":"/","size":12}"#.len();
    assert_eq!(stats["bytes"], bytes);

    let (_, body) =
        get(&state, &format!("/loki/api/v1/index/volume?query={}&{}", enc(r#"{app=~".+"}"#), range())).await;
    let volume: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(volume["status"], "success");
    assert_eq!(volume["data"]["resultType"], "vector");
    let result = volume["data"]["result"].as_array().unwrap();
    assert_eq!(result[0]["metric"], json!({"app": "api"}), "largest first");
    assert_eq!(result[1]["metric"], json!({"app": "web"}));
    let (_, body) = get(
        &state,
        &format!(
            "/loki/api/v1/index/volume?query={}&aggregateBy=labels&targetLabels=env&{}",
            enc(r#"{app=~".+"}"#),
            range()
        ),
    )
    .await;
    let volume: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(volume["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(volume["data"]["result"][0]["metric"], json!({"env": ""}));
    let (_, body) =
        get(&state, &format!("/loki/api/v1/index/volume_range?query={}&step=60&{}", enc(r#"{app="web"}"#), range()))
            .await;
    let volume: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(volume["data"]["resultType"], "matrix");

    let (_, body) =
        get(&state, &format!("/loki/api/v1/detected_labels?query={}&{}", enc(r#"{app=~".+"}"#), range())).await;
    let labels: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        labels["detectedLabels"],
        json!([{"label": "app", "cardinality": 2}, {"label": "env", "cardinality": 2}])
    );
}

#[tokio::test]
async fn detected_fields_name_types_and_parsers() {
    let (_dir, state) = state();
    let (status, body) =
        get(&state, &format!("/loki/api/v1/detected_fields?query={}&{}", enc(r#"{app="api"}"#), range())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fields: Value = serde_json::from_str(&body).unwrap();
    let by_name = |name: &str| {
        fields["fields"].as_array().unwrap().iter().find(|f| f["label"] == name).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(by_name("status"), json!({"label": "status", "type": "int", "cardinality": 2, "parsers": ["logfmt"]}));
    assert_eq!(by_name("took")["type"], "duration");
    assert_eq!(by_name("user"), json!({"label": "user", "type": "string", "cardinality": 2, "parsers": null}));
    assert_eq!(by_name("detected_level")["cardinality"], 2);
}

#[tokio::test]
async fn format_query_patterns_buildinfo_and_errors() {
    let (_dir, state) = state();
    let (status, body) =
        get(&state, &format!("/loki/api/v1/format_query?query={}", enc(r#"{app="api"}|="x"|json"#))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let formatted: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(formatted["status"], "success");
    assert!(formatted["data"].as_str().unwrap().contains(r#"{app="api"} |= "x""#), "{formatted}");
    let (status, body) = get(&state, &format!("/loki/api/v1/patterns?query={}", enc(r#"{app="api"}"#))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"status": "success", "data": []}));
    let (_, body) = get(&state, "/loki/api/v1/status/buildinfo").await;
    let build: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(build["version"], "1.2.3");
    assert!(build.get("goVersion").is_some());
    // Loki's errors are plain text with the status.
    let (status, body) = get(&state, &format!("/loki/api/v1/query_range?query={}", enc("{app="))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("parse error at line 1, col"), "{body}");
    let (status, body) =
        get(&state, &format!("/loki/api/v1/query_range?query={}&step=0", enc("sum(rate({app=\"api\"}[1m]))"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("zero or negative query resolution step widths are not accepted"), "{body}");
    let (status, _) =
        get(&state, &format!("/loki/api/v1/query_range?query={}&start=yesterday", enc("{app=\"api\"}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) =
        get(&state, &format!("/loki/api/v1/query_range?query={}&direction=sideways", enc("{app=\"api\"}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn query_range_matrix_and_instant_vector_shapes() {
    let (_dir, state) = state();
    let q = enc(r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#);
    let (status, body) = get(&state, &format!("/loki/api/v1/query_range?query={q}&{}&step=30", range())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["data"]["resultType"], "matrix");
    assert_eq!(answer["data"]["result"][0]["metric"], json!({"app": "api"}));
    // At T0 the minute before holds the first line only; at T0 + 30 s both.
    assert_eq!(answer["data"]["result"][0]["values"][0], json!([1_700_000_000, "1"]));
    assert_eq!(answer["data"]["result"][0]["values"][1], json!([1_700_000_030, "2"]));
    assert!(answer["data"]["stats"]["summary"]["totalLinesProcessed"].is_u64());
    let (_, body) = get(&state, &format!("/loki/api/v1/query?query={q}&time={}", T0 + 10_000_000_000)).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["data"]["resultType"], "vector");
    assert_eq!(answer["data"]["result"][1], json!({"metric": {"app": "web"}, "value": [1_700_000_010, "1"]}));
    let (_, body) = get(&state, &format!("/loki/api/v1/query?query={}&time={}", enc("1+1"), T0)).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["data"]["resultType"], "scalar");
    assert_eq!(answer["data"]["result"], json!([1_700_000_000, "2"]));
}
