//! The OpenTelemetry Python SDK exports traces, logs and metrics to the real binary over
//! OTLP/gRPC, OTLP/HTTP protobuf and OTLP/HTTP JSON; Lookout counts every item, keeps it with
//! its tenant, and takes the OTLP/JSON examples of the specification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Lookout, http_client, python, wal_dump};

fn send(lookout: &Lookout, transport: &str, tenant: &str) -> serde_json::Value {
    let endpoint = match transport {
        "grpc" => format!("http://{}", lookout.grpc),
        _ => format!("http://{}", lookout.otlp_http),
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_otlp.py");
    let out = Command::new(python()).arg(script).args([transport, &endpoint, tenant]).output().unwrap();
    assert!(
        out.status.success(),
        "{transport}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn python_sdk_exports_arrive_over_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &[]);
    for (transport, label, tenant) in [
        ("grpc", "grpc", "team-grpc"),
        ("http-protobuf", "http/protobuf", "team-proto"),
        ("http-json", "http/json", "team-json"),
    ] {
        let sent = send(&lookout, transport, tenant);
        for (signal, key) in [("traces", "spans"), ("logs", "logs"), ("metrics", "points")] {
            let exported = sent[key].as_f64().unwrap();
            assert!(exported > 0.0, "{transport} exported no {key}");
            let labels = [("signal", signal), ("transport", label)];
            assert_eq!(
                lookout.metric("lookout_ingest_accepted_items_total", &labels),
                exported,
                "{transport} {signal}"
            );
            assert_eq!(lookout.metric("lookout_ingest_rejected_items_total", &labels), 0.0, "{transport} {signal}");
        }
    }
    assert!(lookout.metric("lookout_wal_written_bytes_total", &[]) > 0.0);
    assert!(lookout.metric("lookout_wal_fsync_duration_seconds_count", &[]) > 0.0);
    assert!(
        lookout.metric("lookout_ingest_request_duration_seconds_count", &[("signal", "traces"), ("transport", "grpc")])
            > 0.0
    );
    assert_eq!(lookout.terminate().code(), Some(0), "graceful shutdown exits 0");

    let records = wal_dump(dir.path());
    for tenant in ["team-grpc", "team-proto", "team-json"] {
        let spans: Vec<&serde_json::Value> = records
            .iter()
            .filter(|r| r["tenant"] == tenant)
            .filter_map(|r| r["payload"]["traces"].as_array())
            .flatten()
            .flat_map(|rg| rg["scopes"].as_array().unwrap())
            .flat_map(|sg| sg["items"].as_array().unwrap())
            .collect();
        assert_eq!(spans.len(), 16, "{tenant}");
        let errors = spans.iter().filter(|s| s["status"]["code"] == "Error").count();
        assert_eq!(errors, 2, "{tenant}: the two failed publishes keep their status");
        let linked = spans.iter().filter(|s| !s["links"].as_array().unwrap().is_empty()).count();
        assert_eq!(linked, 4, "{tenant}: four roots link to the previous trace");
        let event = spans.iter().flat_map(|s| s["events"].as_array().unwrap()).find(|e| e["name"] == "rows fetched");
        assert!(event.is_some(), "{tenant}: span events kept");
    }
}

#[test]
fn otlp_json_examples_of_the_specification_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &[]);
    let client = http_client();
    for (file, path, signal, items) in [
        ("trace.json", "/v1/traces", "traces", 1.0),
        ("logs.json", "/v1/logs", "logs", 1.0),
        ("events.json", "/v1/logs", "logs", 2.0),
        ("metrics.json", "/v1/metrics", "metrics", 0.0),
    ] {
        let body = std::fs::read(format!("{}/tests/testdata/otlp-json/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let reply =
            client.post(lookout.otlp_url(path)).header("Content-Type", "application/json").body(body).send().unwrap();
        assert_eq!(reply.status(), 200, "{file}");
        assert_eq!(reply.headers()["content-type"], "application/json");
        let text = reply.text().unwrap();
        if signal == "metrics" {
            // The specification's example is from 2018, beyond the metrics retention, and has an
            // exponential histogram: all four points are refused, each with its reason.
            let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(reply["partialSuccess"]["rejectedDataPoints"], "4", "{text}");
            let message = reply["partialSuccess"]["errorMessage"].as_str().unwrap();
            assert!(message.contains("exponential histogram") && message.contains("too old"), "{message}");
        } else {
            assert_eq!(text, "{}", "{file}: full success has no partialSuccess");
        }
        let accepted =
            lookout.metric("lookout_ingest_accepted_items_total", &[("signal", signal), ("transport", "http/json")]);
        assert_eq!(accepted, items, "{file}");
    }
    drop(lookout);
    let records = wal_dump(dir.path());
    let span = &records[0]["payload"]["traces"][0]["scopes"][0]["items"][0];
    assert_eq!(span["trace_id"], "5b8efff798038103d269b633813fc60c", "upper-case hex ids decoded");
    assert_eq!(span["kind"], "Server");
    // Logs are in the WAL as Loki's streams: attributes became structured metadata.
    let metadata =
        |record: usize| records[record]["payload"]["streams"]["streams"][0]["entries"][0]["metadata"].clone();
    let log = metadata(1);
    assert!(
        log.as_array().unwrap().iter().any(|l| l["value"] == "10" && l["name"].as_str().unwrap().contains("int")),
        "intValue given as a string: {log}"
    );
    let event = metadata(2);
    assert!(
        event.as_array().unwrap().iter().any(|l| l["name"] == "event_name" && l["value"] == "browser.page_view"),
        "{event}"
    );
}
