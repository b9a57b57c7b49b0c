//! The data the UI tests look at, sent to a real Lookout over its own intake (OTLP/HTTP JSON and
//! remote write), and a Lookout started with a rule that always fires and a dashboard folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::{Lookout, eventually, http_client, now_ms, remote_write, series, urlencode};

/// Shop traces: frontend → orders → inventory, five spans each.
pub const SHOP_TRACES: usize = 12;
/// Shop traces sent first, alone, so the span-made counters exist before the others arrive.
pub const WARM_UP_TRACES: usize = 2;
/// Spans in the big trace.
pub const BIG_TRACE_SPANS: usize = 5000;
/// Log lines of the `batch` service.
pub const BATCH_LINES: usize = 10_000;
/// Rooms of the `ui_room_temperature` gauge, one series each.
pub const ROOMS: [&str; 3] = ["attic", "hall", "kitchen"];

/// What was sent, for the tests to look for.
pub struct Seeded {
    /// The shop traces' ids, newest first; trace `i` failed at the inventory when `i % 4 == 0`.
    pub shop: Vec<String>,
    /// Two older shop traces (the first failed) without logs, sent before the others.
    pub warm_up: Vec<String>,
    /// The 5,000-span trace.
    pub big: String,
}

/// A Lookout with the seeded data, an always-firing rule and `dashboards` provisioned.
pub struct Fixture {
    /// The running Lookout.
    pub lookout: Lookout,
    /// What it holds.
    pub seeded: Seeded,
    /// `http://host:port` of its UI.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts Lookout with the UI test's rules and dashboards and sends it the data.
    pub fn start() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.yml");
        std::fs::write(&rules, RULES).unwrap();
        // Span metrics every second, so `rate()` over them has two samples soon after the spans.
        let config = dir.path().join("lookout.yml");
        std::fs::write(&config, "metrics:\n  span_metrics_interval: 1s\n").unwrap();
        let dashboards = dir.path().join("dashboards");
        std::fs::create_dir_all(&dashboards).unwrap();
        std::fs::write(dashboards.join("ui-test.json"), DASHBOARD).unwrap();
        let lookout = Lookout::start(
            &dir.path().join("data"),
            &[
                "--config.file",
                config.to_str().unwrap(),
                "--rules.path",
                rules.to_str().unwrap(),
                "--rules.evaluation-interval",
                "1s",
                "--dashboards.path",
                dashboards.to_str().unwrap(),
            ],
        );
        let seeded = seed(&lookout);
        let base = format!("http://{}", lookout.http);
        Fixture { lookout, seeded, base, _dir: dir }
    }

    /// The URL of a page.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

const RULES: &str = r#"groups:
  - name: ui-test
    interval: 1s
    rules:
      - alert: UiTestAlwaysFiring
        expr: vector(1) > 0
        labels:
          severity: page
        annotations:
          summary: always firing, for the UI test
      - record: ui:room_temperature:avg
        expr: avg(ui_room_temperature)
      - alert: UiTestBroken
        expr: ui_room_temperature * on() ui_room_temperature
"#;

/// A provisioned dashboard with one panel of every type, over the seeded data.
pub const DASHBOARD: &str = r#"{
  "uid": "ui-test",
  "title": "UI test",
  "tags": ["test"],
  "time": {"from": "now-30m", "to": "now"},
  "variables": [
    {"name": "room", "label": "Room", "type": "query", "query": "label_values(ui_room_temperature, room)", "includeAll": true},
    {"name": "agg", "label": "Aggregation", "type": "custom", "options": ["max", "min"]}
  ],
  "rows": [
    {"title": "Metrics", "panels": [
      {"id": 1, "title": "Temperature", "type": "timeseries", "width": 12, "height": 8, "unit": "short",
       "queries": [{"lang": "promql", "expr": "ui_room_temperature{room=~\"$room\"}", "legend": "{{room}}"}]},
      {"id": 2, "title": "Average", "type": "stat", "width": 6, "height": 4,
       "queries": [{"lang": "promql", "expr": "avg(ui_room_temperature)"}]},
      {"id": 3, "title": "Warmest or coldest", "type": "gauge", "width": 6, "height": 4, "options": {"min": 0, "max": 40},
       "queries": [{"lang": "promql", "expr": "$agg(ui_room_temperature)"}]},
      {"id": 4, "title": "By room", "type": "bar", "width": 6, "height": 4,
       "queries": [{"lang": "promql", "expr": "ui_room_temperature", "legend": "{{room}}"}]},
      {"id": 5, "title": "Rooms", "type": "table", "width": 6, "height": 4,
       "queries": [{"lang": "promql", "expr": "ui_room_temperature{room=~\"$room\"}"}]}
    ]},
    {"title": "Signals", "panels": [
      {"id": 6, "title": "Inventory logs", "type": "logs", "width": 8, "height": 8,
       "queries": [{"lang": "logql", "expr": "{service_name=\"inventory\"}"}]},
      {"id": 7, "title": "Frontend traces", "type": "traces", "width": 8, "height": 8,
       "queries": [{"lang": "traceql", "expr": "{ resource.service.name = \"frontend\" }"}]},
      {"id": 8, "title": "Inventory latency", "type": "heatmap", "width": 8, "height": 8,
       "queries": [{"lang": "promql", "expr": "sum by (le) (traces_spanmetrics_latency_bucket{service=\"inventory\"})"}]}
    ]}
  ]
}"#;

/// A deterministic hex id of `bytes` bytes for `seed`.
pub fn hex_id(seed: u64, bytes: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = String::new();
    while out.len() < bytes * 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(bytes * 2);
    out
}

#[allow(clippy::too_many_arguments)]
fn span(trace: &str, id: &str, parent: &str, name: &str, kind: u8, start: u64, end: u64, error: Option<&str>) -> Value {
    let mut s = json!({
        "traceId": trace, "spanId": id, "name": name, "kind": kind,
        "startTimeUnixNano": start.to_string(), "endTimeUnixNano": end.to_string(),
        "attributes": [{"key": "ui.test", "value": {"boolValue": true}}],
    });
    if !parent.is_empty() {
        s["parentSpanId"] = json!(parent);
    }
    if let Some(message) = error {
        s["status"] = json!({"code": 2, "message": message});
    }
    s
}

/// One shop trace's resource spans: frontend → orders → inventory, failing at the inventory.
fn shop_spans(trace: &str, seed: u64, t: u64, failed: bool) -> Vec<Value> {
    let ms = 1_000_000u64;
    let id = |k: u64| hex_id(seed * 100 + k, 8);
    let error = failed.then_some("out of stock");
    vec![
        json!({"resource": resource("frontend"), "scopeSpans": [{"spans": [
            span(trace, &id(1), "", "GET /checkout", 2, t, t + 40 * ms, None),
            span(trace, &id(2), &id(1), "GET /orders", 3, t + 2 * ms, t + 35 * ms, None),
        ]}]}),
        json!({"resource": resource("orders"), "scopeSpans": [{"spans": [
            span(trace, &id(3), &id(2), "GET /orders", 2, t + 3 * ms, t + 34 * ms, None),
            span(trace, &id(4), &id(3), "POST /reserve", 3, t + 5 * ms, t + 30 * ms, None),
        ]}]}),
        json!({"resource": resource("inventory"), "scopeSpans": [{"spans": [
            span(trace, &id(5), &id(4), "POST /reserve", 2, t + 6 * ms, t + (29 - seed % 20) * ms, error),
        ]}]}),
    ]
}

fn resource(service: &str) -> Value {
    json!({"attributes": [{"key": "service.name", "value": {"stringValue": service}}]})
}

fn post(lookout: &Lookout, path: &str, body: &Value) {
    let r = http_client().post(lookout.otlp_url(path)).json(body).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}: {}", r.text().unwrap_or_default());
}

fn log(trace: &str, span: &str, time: u64, severity: (u8, &str), body: &str) -> Value {
    json!({
        "timeUnixNano": time.to_string(), "severityNumber": severity.0, "severityText": severity.1,
        "body": {"stringValue": body}, "traceId": trace, "spanId": span,
    })
}

fn logs_of(service: &str, records: Vec<Value>) -> Value {
    json!({"resourceLogs": [{"resource": resource(service), "scopeLogs": [{"logRecords": records}]}]})
}

/// Sends the shop traces and their logs, the big trace, the batch lines and the room gauge,
/// then waits until all of it can be queried.
pub fn seed(lookout: &Lookout) -> Seeded {
    let now = now_ms() as u64 * 1_000_000;
    let ms = 1_000_000u64;
    // Counters made from spans count, for `rate()`, only what arrives after their first
    // collection: two warm-up traces (one failing) in one request create every series first.
    let warm_up: Vec<String> = (0..WARM_UP_TRACES as u64).map(|k| hex_id(500 + k, 16)).collect();
    let warm: Vec<Value> = warm_up
        .iter()
        .enumerate()
        .flat_map(|(k, trace)| shop_spans(trace, 500 + k as u64, now - (300 + k as u64) * 1_000 * ms, k == 0))
        .collect();
    post(lookout, "/v1/traces", &json!({ "resourceSpans": warm }));
    wait_for_collection(lookout);

    let mut shop = Vec::new();
    for i in 0..SHOP_TRACES {
        let trace = hex_id(i as u64 + 1, 16);
        let id = |k: u64| hex_id((i as u64 + 1) * 100 + k, 8);
        let t = now - (i as u64 + 1) * 20_000 * ms;
        let failed = i % 4 == 0;
        let body = json!({ "resourceSpans": shop_spans(&trace, i as u64 + 1, t, failed) });
        post(lookout, "/v1/traces", &body);
        post(
            lookout,
            "/v1/logs",
            &logs_of(
                "frontend",
                vec![log(&trace, &id(1), t + ms, (9, "INFO"), &format!("checkout started for order {i}"))],
            ),
        );
        let (severity, text) = if failed {
            ((17, "ERROR"), format!("out of stock for order {i}"))
        } else {
            ((9, "INFO"), format!("reserved stock for order {i}"))
        };
        post(lookout, "/v1/logs", &logs_of("inventory", vec![log(&trace, &id(5), t + 7 * ms, severity, &text)]));
        shop.push(trace);
    }

    // The big trace: run → batch → 49 steps → 101 items each.
    let big = hex_id(999, 16);
    let t = now - 200_000 * ms;
    let mut spans = vec![
        span(&big, &hex_id(1, 8), "", "run batch", 1, t, t + 10_000 * ms, None),
        span(&big, &hex_id(2, 8), &hex_id(1, 8), "batch", 1, t + ms, t + 9_990 * ms, None),
    ];
    for step in 0..49u64 {
        let step_id = hex_id(1_000 + step, 8);
        let s0 = t + 2 * ms + step * 200 * ms;
        spans.push(span(&big, &step_id, &hex_id(2, 8), &format!("step {step}"), 1, s0, s0 + 190 * ms, None));
        for item in 0..101u64 {
            let i0 = s0 + item * ms;
            spans.push(span(
                &big,
                &hex_id(100_000 + step * 1_000 + item, 8),
                &step_id,
                &format!("item {step}.{item}"),
                1,
                i0,
                i0 + ms,
                None,
            ));
        }
    }
    assert_eq!(spans.len(), BIG_TRACE_SPANS);
    for chunk in spans.chunks(1000) {
        post(
            lookout,
            "/v1/traces",
            &json!({"resourceSpans": [{"resource": resource("batch"), "scopeSpans": [{"spans": chunk}]}]}),
        );
    }

    // Batch log lines, 50 ms apart, the newest 40 s ago.
    let first = now - 40_000 * ms - BATCH_LINES as u64 * 50 * ms;
    let lines: Vec<Value> = (0..BATCH_LINES)
        .map(|n| log("", "", first + n as u64 * 50 * ms, (5, "DEBUG"), &format!("batch item {n}")))
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            o.remove("traceId");
            o.remove("spanId");
            v
        })
        .collect();
    for chunk in lines.chunks(2500) {
        post(lookout, "/v1/logs", &logs_of("batch", chunk.to_vec()));
    }

    // The room gauge: one sample every 15 s for the last 10 minutes.
    let end = now_ms();
    let rooms = ROOMS
        .iter()
        .enumerate()
        .map(|(r, room)| {
            let samples: Vec<(i64, f64)> =
                (0..40).map(|k| (end - (40 - k) * 15_000, 15.0 + 5.0 * r as f64 + (k % 5) as f64 * 0.5)).collect();
            series("ui_room_temperature", &[("job", "sensors"), ("room", room)], &samples)
        })
        .collect();
    let (status, body) = remote_write(&format!("http://{}", lookout.http), rooms);
    assert_eq!(status, 204, "{body}");

    wait_until_queryable(lookout, &big);
    Seeded { shop, warm_up, big }
}

fn get_json(url: &str) -> Option<Value> {
    let r = http_client().get(url).send().ok()?;
    r.status().is_success().then(|| r.json().ok()).flatten()
}

fn wait_for_collection(lookout: &Lookout) {
    let base = format!("http://{}", lookout.http);
    eventually("the first collection of span metrics", || {
        let q = urlencode("count(traces_service_graph_request_total) >= 2 and count(traces_spanmetrics_calls_total)");
        let body = get_json(&format!("{base}/api/v1/query?query={q}"))?;
        (!body["data"]["result"].as_array()?.is_empty()).then_some(())
    });
}

fn wait_until_queryable(lookout: &Lookout, big: &str) {
    let base = format!("http://{}", lookout.http);
    let start_ns = (now_ms() - 3_600_000) * 1_000_000;
    eventually("all batch lines to be searchable", || {
        let q = urlencode(r#"sum(count_over_time({service_name="batch"}[1h]))"#);
        let body = get_json(&format!("{base}/loki/api/v1/query?query={q}"))?;
        let n: f64 = body["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
        (n as usize == BATCH_LINES).then_some(())
    });
    eventually("the shop logs to be searchable", || {
        let q = urlencode(r#"{service_name=~"frontend|inventory"}"#);
        let body = get_json(&format!("{base}/loki/api/v1/query_range?query={q}&start={start_ns}&limit=1000"))?;
        let n: usize =
            body["data"]["result"].as_array()?.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum();
        (n == 2 * SHOP_TRACES).then_some(())
    });
    eventually("the big trace", || {
        let body = get_json(&format!("{base}/api/v2/traces/{big}"))?;
        let n: usize = body["trace"]["resourceSpans"][0]["scopeSpans"]
            .as_array()?
            .iter()
            .map(|s| s["spans"].as_array().map_or(0, Vec::len))
            .sum();
        (n == BIG_TRACE_SPANS).then_some(())
    });
    eventually("the service graph's three edges, with two samples each", || {
        let q = urlencode("count(rate(traces_service_graph_request_total[1m]))");
        let body = get_json(&format!("{base}/api/v1/query?query={q}"))?;
        let n: f64 = body["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
        (n >= 3.0).then_some(())
    });
    eventually("the firing alert", || {
        let body = get_json(&format!("{base}/api/v1/alerts"))?;
        body["data"]["alerts"].as_array()?.iter().any(|a| a["state"] == "firing").then_some(())
    });
}

/// Pushes one log line for `service` now.
pub fn push_line(lookout: &Lookout, service: &str, text: &str) {
    let now = now_ms() as u64 * 1_000_000;
    let mut record = log("", "", now, (9, "INFO"), text);
    let o = record.as_object_mut().unwrap();
    o.remove("traceId");
    o.remove("spanId");
    post(lookout, "/v1/logs", &logs_of(service, vec![record]));
}
