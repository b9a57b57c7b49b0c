//! `lookout demo` end to end: the real binary with every listener on a free port, the shop's
//! traffic flowing, and Lookout itself answering with the traces, metrics, logs and alerts the
//! demo's parts export; then the chaos switch opens a circuit and the demo's alert fires.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, http_client};
use serde_json::Value;

struct Demo {
    child: Child,
    lookout: String,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["demo", "--log.format", "json", "--data-dir"])
        .arg(dir.path())
        .args(["--http.listen-address", "127.0.0.1:0", "--otlp.grpc.listen-address", "127.0.0.1:0"])
        .args(["--otlp.http.listen-address", "127.0.0.1:0", "--demo.gateway-address", "127.0.0.1:0"])
        .args(["--demo.admin-address", "127.0.0.1:0", "--demo.amqp-address", "127.0.0.1:0"])
        .args(["--demo.amqp-management-address", "127.0.0.1:0", "--demo.metrics-interval", "1s"])
        .args(["--demo.traffic-rate", "20"])
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "200")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lookout demo");
    let (_log, addresses) = common::listeners(&mut child, 7);
    Demo {
        child,
        lookout: format!("http://{}", addresses["http"]),
        admin: format!("http://{}", addresses["demo-admin"]),
        _dir: dir,
    }
}

fn get(url: &str) -> Value {
    http_client().get(url).send().unwrap().json().unwrap()
}

/// The services of one trace.
fn services_of(lookout: &str, trace_id: &str) -> HashSet<String> {
    let trace: Value = http_client()
        .get(format!("{lookout}/api/traces/{trace_id}"))
        .header("accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    common::spans_by_name(&trace["batches"]).into_values().map(|(service, _, _)| service).collect()
}

#[test]
fn the_demo_shows_traces_metrics_logs_and_an_alert_when_chaos_opens_a_circuit() {
    let demo = start_demo();
    let lookout = demo.lookout.clone();

    // One trace crosses the shopper, the gateway, orders, the broker and a consumer.
    let wanted: HashSet<String> =
        ["shop-client", "lookout-gateway", "orders", "inventory", "lookout-broker", "billing"].map(String::from).into();
    eventually("a trace from the shopper through the gateway and the broker to billing", || {
        let q = "%7Bresource.service.name%3D%22billing%22%7D";
        let found = get(&format!("{lookout}/api/search?q={q}&limit=20"));
        found["traces"].as_array()?.iter().find_map(|t| {
            let services = services_of(&lookout, t["traceID"].as_str()?);
            wanted.is_subset(&services).then_some(())
        })
    });

    // The gateway's and the broker's metrics.
    let query = |q: &str| -> Vec<Value> {
        let v = get(&format!("{lookout}/api/v1/query?query={}", common::urlencode(q)));
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    };
    eventually("gateway request metrics by upstream", || {
        let r = query(
            r#"sum by (lookout_gateway_upstream) (http_server_request_duration_seconds_count{job="lookout-demo/lookout-gateway", http_route="orders"})"#,
        );
        (r.len() >= 3).then_some(())
    });
    eventually("broker queue metrics", || {
        let r = query(r#"lookout_broker_queue_consumers{job="lookout-demo/lookout-broker", queue="billing"}"#);
        (r.first()?["value"][1] == "2").then_some(())
    });

    // Logs carry the trace they were written in.
    eventually("orders logs with trace ids", || {
        let q = common::urlencode(r#"{service_name="orders"} |= "taken""#);
        let v = get(&format!("{lookout}/loki/api/v1/query_range?query={q}&limit=10"));
        let streams = v["data"]["result"].as_array()?;
        let with_trace = streams.iter().any(|s| s["stream"]["trace_id"].as_str().is_some_and(|t| t.len() == 32));
        with_trace.then_some(())
    });

    // The chaos switch: orders-2 fails every request, its circuit opens, the alert fires.
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["chaos", "fail", "orders-2", "1", "--demo.admin-url", &demo.admin])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""orders-2":1.0"#));
    eventually("the circuit of orders-2 to open", || {
        let pool = get(&format!("{}/api/pools/orders", demo.admin));
        pool["upstreams"].as_array()?.iter().any(|u| u["name"] == "orders-2" && u["circuit"] == "open").then_some(())
    });
    eventually("DemoCircuitOpen to fire", || {
        let alerts = get(&format!("{lookout}/api/v1/alerts"));
        alerts["data"]["alerts"]
            .as_array()?
            .iter()
            .any(|a| {
                a["labels"]["alertname"] == "DemoCircuitOpen"
                    && a["labels"]["lookout_gateway_upstream"] == "orders-2"
                    && a["state"] == "firing"
            })
            .then_some(())
    });
    // Every query of the demo's dashboards answers with data once a client floods the gateway.
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["chaos", "flood", "50", "--demo.admin-url", &demo.admin])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dashboards = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/dashboards");
    for name in ["gateway", "broker", "services"] {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(dashboards.join(format!("{name}.json"))).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "1m");
                eventually(&format!("data for {name} / {}: {expr}", panel["title"]), || {
                    let v = get(&format!("{lookout}/api/v1/query?query={}", common::urlencode(&expr)));
                    assert_eq!(v["status"], "success", "{expr}: {v}");
                    (!v["data"]["result"].as_array()?.is_empty()).then_some(())
                });
            }
        }
    }

    // A bad command is refused with the reason.
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["chaos", "fail", "orders-9", "1", "--demo.admin-url", &demo.admin])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("orders-1"));

    // Ctrl-C stops everything cleanly.
    let mut demo = demo;
    let status = Command::new("kill").args(["-INT", &demo.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = demo.child.try_wait().unwrap() {
            assert!(status.success(), "lookout demo exited with {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "lookout demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    }
}
