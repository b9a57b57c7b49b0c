//! Traces end to end: the OpenTelemetry Python SDK sends a multi-service trace; Tempo's
//! trace-by-id API gives back every span with its attributes, events, links and status, in
//! JSON and protobuf, from memory and from blocks, and the same after `kill -9`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Lookout, PATIENCE, http_client, python, spans_by_name};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;

fn send_trace(lookout: &Lookout) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_trace.py");
    let out = Command::new(python()).arg(script).arg(format!("http://{}", lookout.grpc)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check_trace(lookout: &Lookout, sent: &serde_json::Value) {
    let id = sent["trace_id"].as_str().unwrap();
    let client = http_client();
    let reply = client.get(format!("http://{}/api/traces/{id}", lookout.http)).send().unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().unwrap();
    let spans = spans_by_name(&body["batches"]);
    let expected = sent["spans"].as_array().unwrap();
    assert_eq!(spans.len(), expected.len(), "every span, nothing twice: {body}");
    for e in expected {
        let (service, parent, _) = &spans[e["name"].as_str().unwrap()];
        assert_eq!(service, e["service"].as_str().unwrap());
        assert_eq!(parent.as_deref(), e["parent"].as_str());
    }
    let root = &spans["GET /checkout"].2;
    assert_eq!(root["kind"], 2);
    assert_eq!(root["status"], serde_json::json!({"code": 2, "message": "payment failed"}));
    assert_eq!(root["links"][0]["attributes"][0]["key"], "reason");
    assert_eq!(root["links"][0]["traceId"].as_str().unwrap().len(), 32);
    let create = &spans["create order"].2;
    let attributes: HashMap<&str, &serde_json::Value> =
        create["attributes"].as_array().unwrap().iter().map(|a| (a["key"].as_str().unwrap(), &a["value"])).collect();
    assert_eq!(attributes["order.items"], &serde_json::json!({"intValue": "3"}));
    assert_eq!(attributes["order.tags"]["arrayValue"]["values"][1]["stringValue"], "priority");
    assert_eq!(create["events"][0]["name"], "validated");
    let charge = &spans["charge card"].2;
    assert_eq!(charge["kind"], 5);
    assert_eq!(charge["events"][0]["name"], "exception", "recorded exceptions are events");
    assert_eq!(charge["attributes"][0]["value"]["doubleValue"], 99.5);

    let proto = client
        .get(format!("http://{}/api/traces/{id}", lookout.http))
        .header("Accept", "application/protobuf")
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let trace = TracesData::decode(proto).unwrap();
    let count: usize = trace.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
    assert_eq!(count, expected.len());

    let v2: serde_json::Value =
        client.get(format!("http://{}/api/v2/traces/{id}", lookout.http)).send().unwrap().json().unwrap();
    assert_eq!(spans_by_name(&v2["trace"]["resourceSpans"]).len(), expected.len());
}

fn wait_for(lookout: &Lookout, series: &str, at_least: f64) {
    let deadline = Instant::now() + PATIENCE;
    while lookout.metric(series, &[]) < at_least {
        assert!(Instant::now() < deadline, "{series} never reached {at_least}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_multi_service_trace_comes_back_whole_from_memory_blocks_and_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let start = || Lookout::start_with_config(dir.path(), "traces:\n  max_block_spans: 3\n", &[]);

    let lookout = start();
    let first = send_trace(&lookout);
    // Five spans in the trace plus the linked one: over the limit of 3, so the head is cut.
    wait_for(&lookout, "lookout_traces_blocks", 1.0);
    check_trace(&lookout, &first);
    let second = send_trace(&lookout);
    check_trace(&lookout, &second);
    lookout.kill9();

    let lookout = start();
    check_trace(&lookout, &first);
    check_trace(&lookout, &second);
    let missing = http_client()
        .get(format!("http://{}/api/traces/0123456789abcdef0123456789abcdef", lookout.http))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(http_client().get(format!("http://{}/api/traces/xyz", lookout.http)).send().unwrap().status(), 400);
    assert_eq!(lookout.terminate().code(), Some(0));
}

/// `TraceByIDResponse { Trace trace = 1; }`, as Grafana's Tempo data source decodes it.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
}

#[test]
fn the_calls_grafanas_tempo_data_source_makes_get_tempos_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &[]);
    let sent = send_trace(&lookout);
    let id = sent["trace_id"].as_str().unwrap();
    let base = format!("http://{}", lookout.http);
    let client = http_client();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let window = [("start", (now - 3600).to_string()), ("end", (now + 60).to_string())];
    let get = |path: &str, params: &[(&str, &str)]| -> serde_json::Value {
        let reply = client.get(format!("{base}{path}")).query(params).query(&window).send().unwrap();
        assert_eq!(reply.status(), 200, "{path}");
        assert_eq!(reply.headers()["content-type"], "application/json", "{path}");
        reply.json().unwrap()
    };

    // Health check and features.
    assert_eq!(client.get(format!("{base}/api/echo")).send().unwrap().text().unwrap(), "echo");
    let info: serde_json::Value = client.get(format!("{base}/api/status/buildinfo")).send().unwrap().json().unwrap();
    assert!(info["version"].is_string());

    // Tag names and values for the query builder.
    let tags = get("/api/v2/search/tags", &[]);
    let scopes: Vec<&str> = tags["scopes"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(scopes, ["resource", "span", "intrinsic"]);
    let resource_tags = &tags["scopes"][0]["tags"];
    assert!(resource_tags.as_array().unwrap().contains(&serde_json::json!("service.name")));
    assert!(tags["scopes"][1]["tags"].as_array().unwrap().contains(&serde_json::json!("http.route")));
    let only_resource = get("/api/v2/search/tags", &[("scope", "resource")]);
    assert_eq!(only_resource["scopes"].as_array().unwrap().len(), 1);
    let services = get("/api/v2/search/tag/resource.service.name/values", &[]);
    for service in ["gateway", "orders", "payments"] {
        assert!(
            services["tagValues"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({"type": "string", "value": service}))
        );
    }
    let names = get("/api/v2/search/tag/name/values", &[("q", r#"{ resource.service.name = "orders" }"#)]);
    let names: Vec<&str> =
        names["tagValues"].as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(names, ["create order", "publish order.created"]);
    assert!(get("/api/search/tags", &[])["tagNames"].as_array().unwrap().contains(&serde_json::json!("peer.service")));
    assert!(
        get("/api/search/tag/service.name/values", &[])["tagValues"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("payments"))
    );

    // TraceQL search.
    let found =
        get("/api/search", &[("q", r#"{ resource.service.name = "payments" }"#), ("limit", "20"), ("spss", "3")]);
    let traces = found["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(trace["traceID"].as_str().unwrap(), id.trim_start_matches('0'));
    assert_eq!(trace["rootServiceName"], "gateway");
    assert_eq!(trace["rootTraceName"], "GET /checkout");
    assert!(trace["durationMs"].is_u64());
    assert!(
        trace["startTimeUnixNano"].as_str().unwrap().parse::<u64>().unwrap() > now * 1_000_000_000 - 3_600_000_000_000
    );
    let span = &trace["spanSets"][0]["spans"][0];
    assert_eq!(span["name"], "charge card");
    assert_eq!(span["spanID"].as_str().unwrap().len(), 16);
    assert!(span["durationNanos"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(trace["spanSets"][0]["matched"], 1);
    let by_tags = get("/api/search", &[("tags", "service.name=orders")]);
    assert_eq!(by_tags["traces"][0]["traceID"], trace["traceID"]);
    let bad = client.get(format!("{base}/api/search")).query(&[("q", "{ .a }")]).send().unwrap();
    assert_eq!(bad.status(), 400);

    // The trace itself, as the data source's backend fetches it.
    let proto =
        client.get(format!("{base}/api/v2/traces/{id}")).header("Accept", "application/protobuf").send().unwrap();
    assert_eq!(proto.headers()["content-type"], "application/protobuf");
    let response = TraceByIdResponse::decode(proto.bytes().unwrap()).unwrap();
    let spans: usize =
        response.trace.unwrap().resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
    assert_eq!(spans, sent["spans"].as_array().unwrap().len());

    // TraceQL metrics.
    let rates = get("/api/metrics/query_range", &[("q", "{ } | rate() by (resource.service.name)"), ("step", "15s")]);
    let series = rates["series"].as_array().unwrap();
    assert_eq!(series.len(), 3, "gateway (with the linked span), orders, payments: {rates}");
    for s in series {
        assert_eq!(s["labels"][0]["key"], "resource.service.name");
        let sample = &s["samples"][0];
        assert!(sample["timestampMs"].as_str().unwrap().parse::<u64>().is_ok());
        assert!(sample["value"].as_f64().unwrap() > 0.0);
    }
    let instant = get("/api/metrics/query", &[("q", r#"{ status = error } | count_over_time()"#)]);
    assert_eq!(instant["series"][0]["value"], 2.0, "the root and the charge failed");
}
