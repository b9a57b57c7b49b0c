//! Logs end to end: the OpenTelemetry Python SDK's logging handler exports over OTLP/gRPC,
//! Loki's push API takes JSON and snappy protobuf, and the Loki HTTP API answers LogQL, labels,
//! series, volume, and tails over a WebSocket, as Grafana's Loki data source calls it. Every
//! acknowledged line survives `kill -9`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Lookout, eventually, http_client, python};
use serde_json::{Value, json};

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// `GET /loki/api/v1/<path>` with these parameters: status and body.
fn loki(lookout: &Lookout, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = http_client().get(format!("http://{}/loki/api/v1/{path}", lookout.http)).query(params);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn loki_json(lookout: &Lookout, path: &str, params: &[(&str, &str)]) -> Value {
    let (status, body) = loki(lookout, path, params, &[]);
    assert_eq!(status, 200, "{path} {params:?}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The lines of a log query over the last hour, oldest first, once `want` lines are there.
fn lines(lookout: &Lookout, query: &str, want: usize) -> Vec<String> {
    eventually(&format!("{want} lines for {query}"), || {
        let body = loki_json(lookout, "query_range", &[("query", query), ("direction", "forward"), ("limit", "5000")]);
        let mut entries: Vec<(i64, String)> = body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().iter())
            .map(|v| (v[0].as_str().unwrap().parse().unwrap(), v[1].as_str().unwrap().to_owned()))
            .collect();
        entries.sort();
        (entries.len() >= want).then(|| entries.into_iter().map(|(_, l)| l).collect())
    })
}

fn push_json(lookout: &Lookout, body: &Value) -> u16 {
    http_client()
        .post(format!("http://{}/loki/api/v1/push", lookout.http))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn python_sdk_logs_are_found_by_stream_text_parsed_field_and_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_logs.py");
    let out = Command::new(python()).arg(script).arg(format!("http://{}", lookout.grpc)).output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();

    // By stream, in the order written.
    assert_eq!(
        lines(&lookout, r#"{service_name="checkout"}"#, 3),
        ["order placed order_id=41 total=12.50", "payment declined for order_id=41", "inventory low sku=A1 left=3"]
    );
    assert_eq!(lines(&lookout, r#"{service_name="payments"}"#, 3).len(), 3);
    // By text, by parsed field, by trace id.
    assert_eq!(
        lines(&lookout, r#"{service_name=~"checkout|payments"} |= "declined""#, 1),
        ["payment declined for order_id=41"]
    );
    assert_eq!(
        lines(&lookout, r#"{service_name="payments"} | logfmt | amount > 50"#, 1),
        ["card expired amount=99.00 currency=EUR"]
    );
    let trace = sent["checkout"]["trace_id"].as_str().unwrap();
    assert_eq!(
        lines(&lookout, &format!(r#"{{service_name="checkout"}} | trace_id="{trace}""#), 2),
        ["order placed order_id=41 total=12.50", "payment declined for order_id=41"]
    );

    // Categorized: the stream is the promoted resource attributes; the rest is metadata.
    let (status, body) = loki(
        &lookout,
        "query_range",
        &[("query", r#"{service_name="payments"} |= "charge ok""#), ("limit", "10")],
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
    );
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["data"]["encodingFlags"], json!(["categorize-labels"]));
    let stream = &body["data"]["result"][0];
    // The SDK gives every resource a `service.instance.id`, which Loki's list promotes too.
    let instance = stream["stream"]["service_instance_id"].as_str().unwrap().to_owned();
    assert_eq!(
        stream["stream"],
        json!({"deployment_environment": "test", "service_instance_id": instance, "service_name": "payments"})
    );
    let value = &stream["values"][0];
    assert_eq!(value[1], "charge ok amount=12.50 currency=EUR");
    let metadata = value[2]["structuredMetadata"].as_object().unwrap();
    assert_eq!(metadata["trace_id"], sent["payments"]["trace_id"]);
    assert_eq!(metadata["span_id"], sent["payments"]["span_id"]);
    assert_eq!(metadata["severity_text"], "INFO");
    assert_eq!(metadata["severity_number"], "9");
    assert_eq!(metadata["detected_level"], "info");
    assert_eq!(metadata["customer"], "c-7");
    assert_eq!(metadata["host_name"], "node-1", "resource attributes not promoted are metadata");
    assert!(metadata.contains_key("observed_timestamp"));
    assert!(value[2].get("parsed").is_none());

    // Uncategorized: metadata joins the labels.
    let body = loki_json(&lookout, "query_range", &[("query", r#"{service_name="checkout"} |= "inventory""#)]);
    let labels = &body["data"]["result"][0]["stream"];
    assert_eq!(labels["service_name"], "checkout");
    assert_eq!(labels["severity_text"], "WARN", "the SDK names Python's WARNING level WARN");
    assert_eq!(labels["detected_level"], "warn");
    assert!(labels.get("trace_id").is_none(), "written outside a span");

    // Grafana's calls: labels → label values → series, the log volume query, vector(1)+vector(1).
    let names = loki_json(&lookout, "labels", &[]);
    assert_eq!(names["data"], json!(["deployment_environment", "service_instance_id", "service_name"]));
    let values = loki_json(&lookout, "label/service_name/values", &[]);
    assert_eq!(values["data"], json!(["checkout", "payments"]));
    let series = loki_json(&lookout, "series", &[("match[]", r#"{service_name="payments"}"#)]);
    assert_eq!(
        series["data"],
        json!([{"deployment_environment": "test", "service_instance_id": instance, "service_name": "payments"}])
    );
    let volume = loki_json(
        &lookout,
        "query",
        &[("query", r#"sum by (level, detected_level) (count_over_time({service_name=~".+"} | drop __error__ [1h]))"#)],
    );
    assert_eq!(volume["data"]["resultType"], "vector");
    let by_level: BTreeMap<String, String> = volume["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["metric"]["detected_level"].as_str().unwrap().to_owned(), r["value"][1].as_str().unwrap().to_owned())
        })
        .collect();
    let expected: BTreeMap<String, String> = [("debug", "1"), ("error", "2"), ("info", "2"), ("warn", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(by_level, expected);
    let two = loki_json(&lookout, "query", &[("query", "vector(1)+vector(1)")]);
    assert_eq!(two["data"]["resultType"], "vector");
    assert_eq!(two["data"]["result"][0]["value"][1], "2");
    let stats = loki_json(&lookout, "index/stats", &[("query", r#"{service_name=~".+"}"#)]);
    assert_eq!((stats["streams"].as_u64(), stats["entries"].as_u64()), (Some(2), Some(6)));
    let volume = loki_json(&lookout, "index/volume", &[("query", r#"{service_name=~".+"}"#)]);
    assert_eq!(volume["data"]["result"].as_array().unwrap().len(), 2);

    // Loki's errors: plain text with the status.
    let (status, body) = loki(&lookout, "query_range", &[("query", r#"{service_name="checkout""#)], &[]);
    assert_eq!(status, 400);
    assert!(body.starts_with("parse error at line 1"), "{body}");
    let (status, body) = loki(&lookout, "query_range", &[("query", r#"{service_name=~".*"}"#)], &[]);
    assert_eq!(status, 400);
    assert!(body.contains("queries require at least one regexp or equality matcher"), "{body}");
    assert_eq!(lookout.terminate().code(), Some(0));
}

#[test]
fn loki_push_json_and_tail_over_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &["--logs.commit-interval", "100ms"]);
    let url =
        format!("ws://{}/loki/api/v1/tail?query={}", lookout.http, common::urlencode(r#"{job="tail"} |= "hello""#));
    let (mut socket, _) = tungstenite::connect(url).unwrap();
    // The tail is open; a line pushed now arrives on it.
    let t = now_ns();
    let body = json!({"streams": [{"stream": {"job": "tail"}, "values": [
        [t.to_string(), "hello from the push api", {"trace_id": "0af7651916cd43dd8448eb211c80319c"}],
        [(t + 1).to_string(), "not this one"],
    ]}]});
    assert_eq!(push_json(&lookout, &body), 204);
    let message = loop {
        match socket.read().unwrap() {
            tungstenite::Message::Text(text) => break text.to_string(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected message {other:?}"),
        }
    };
    let message: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(message["streams"][0]["stream"]["job"], "tail");
    assert_eq!(message["streams"][0]["values"], json!([[t.to_string(), "hello from the push api"]]));
    let _ = socket.close(None);

    // The pushed structured metadata is queryable.
    assert_eq!(
        lines(&lookout, r#"{job="tail"} | trace_id="0af7651916cd43dd8448eb211c80319c""#, 1),
        ["hello from the push api"]
    );
    // Malformed pushes are refused with a reason and change nothing.
    for bad in [
        r#"{"streams": [{"stream": {"job": "x"}, "values": [["soon", "a"]]}]}"#,
        "{",
        r#"{"streams":[{"stream":{"1x":"y"},"values":[]}]}"#,
    ] {
        let response = http_client()
            .post(format!("http://{}/loki/api/v1/push", lookout.http))
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        assert!(response.text().unwrap().contains("invalid push request"));
    }
    assert_eq!(lines(&lookout, r#"{job="tail"}"#, 2).len(), 2);
}

#[test]
fn every_acknowledged_line_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // Commits every 50 ms: the kill lands with some lines committed and some only in the WAL.
    let lookout = Lookout::start(dir.path(), &["--logs.commit-interval", "50ms"]);
    let base = now_ns() - 60_000_000_000;
    let mut acknowledged = 0;
    for batch in 0..40 {
        let values: Vec<Value> = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                json!([(base + n * 1_000_000).to_string(), format!("line {n} of the crash test")])
            })
            .collect();
        let body =
            json!({"streams": [{"stream": {"job": "crash", "batch": (batch % 3).to_string()}, "values": values}]});
        assert_eq!(push_json(&lookout, &body), 204);
        acknowledged += 50;
    }
    lookout.kill9();
    let lookout = Lookout::start(dir.path(), &[]);
    let found = lines(&lookout, r#"{job="crash"}"#, acknowledged);
    assert_eq!(found.len(), acknowledged, "no line lost, none twice");
    let distinct: std::collections::BTreeSet<&String> = found.iter().collect();
    assert_eq!(distinct.len(), acknowledged);
    let count = loki_json(&lookout, "query", &[("query", r#"sum(count_over_time({job="crash"}[1h]))"#)]);
    assert_eq!(count["data"]["result"][0]["value"][1], acknowledged.to_string());
}
