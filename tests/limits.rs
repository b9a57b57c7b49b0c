//! Ingestion rate limits against the real binary: a sender at five times a tenant's rate gets
//! `RESOURCE_EXHAUSTED` naming the limit, accepted data is all in the WAL, other tenants are
//! not held up, memory stays bounded, and OTLP/HTTP and Loki push get 429 with `Retry-After`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Lookout, TRACES_PATH, grpc_export, grpc_export_with, http_client, wal_dump};
use lookout_ingest::synthetic::{self, Rng};
use prost::Message;

/// The tenant's rate, items per second; its burst is the same.
const RATE: u64 = 2000;
/// Spans per request.
const BATCH: usize = 250;

/// Peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024
}

fn spans_in_wal(records: &[serde_json::Value], tenant: &str) -> usize {
    records
        .iter()
        .filter(|r| r["tenant"] == tenant)
        .filter_map(|r| r["payload"]["traces"].as_array())
        .flatten()
        .flat_map(|rg| rg["scopes"].as_array().unwrap())
        .map(|sg| sg["items"].as_array().unwrap().len())
        .sum()
}

#[test]
fn a_sender_at_five_times_its_rate_is_refused_the_excess_and_loses_nothing_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let rate = RATE.to_string();
    let lookout = Lookout::start(
        dir.path(),
        &[
            "--limits.ingest-rate-items",
            &rate,
            "--limits.ingest-burst-items",
            &rate,
            "--limits.ingest-rate-bytes",
            "64MiB",
        ],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = lookout.grpc;
    let mut rng = Rng::new(5);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    // Five times the rate for four seconds: a request every 25 ms.
    let bodies: Vec<Vec<u8>> = (0..160).map(|_| synthetic::traces(&mut rng, BATCH, now).encode_to_vec()).collect();
    let started = Instant::now();
    let (mut accepted, mut refused, mut messages) = (0u64, 0u64, Vec::new());
    for (i, body) in bodies.into_iter().enumerate() {
        let due = started + Duration::from_millis(25 * i as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        match runtime.block_on(grpc_export_with(addr, TRACES_PATH, body, false, &[("x-scope-orgid", "flood")])) {
            Ok(_) => accepted += BATCH as u64,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                refused += BATCH as u64;
                messages.push(status.message().to_owned());
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The burst, then the rate; one request's worth of slack for where the clock fell.
    let allowed = RATE as f64 * (1.0 + elapsed);
    assert!(refused > 0, "nothing refused at five times the rate");
    assert!(accepted as f64 <= allowed + BATCH as f64, "accepted {accepted} in {elapsed:.1}s, allowed {allowed}");
    assert!(accepted as f64 >= RATE as f64 * elapsed * 0.8, "accepted only {accepted} in {elapsed:.1}s");
    assert!(
        messages[0].contains("ingest_rate_items for tenant flood exceeded"),
        "the refusal names the limit: {}",
        messages[0]
    );
    // Another tenant is not held up by the flood.
    let other = synthetic::traces(&mut rng, BATCH, now).encode_to_vec();
    assert!(runtime.block_on(grpc_export(addr, TRACES_PATH, other, false)).is_ok());
    // The refusals are counted by limit.
    let metrics = http_client().get(format!("http://{}/metrics", lookout.http)).send().unwrap().text().unwrap();
    let counted = (refused / BATCH as u64).to_string();
    assert!(
        metrics.lines().any(
            |l| l == format!("lookout_ingest_rate_limited_requests_total{{limit=\"ingest_rate_items\"}} {counted}")
        ),
        "{}",
        metrics.lines().filter(|l| l.contains("rate_limited")).collect::<Vec<_>>().join("\n")
    );
    // OTLP/HTTP: 429 with Retry-After. A tenant of its own, so that the flood's refill does not
    // matter: one request takes most of a full burst, and the same again right after needs most
    // of a second of refill.
    let big = synthetic::traces(&mut rng, 1800, now);
    let spans: usize = big.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
    assert!((1700..=2000).contains(&spans), "{spans}");
    let body = big.encode_to_vec();
    let post = || {
        http_client()
            .post(lookout.otlp_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("x-scope-orgid", "burst")
            .body(body.clone())
            .send()
            .unwrap()
    };
    assert_eq!(post().status(), 200);
    let response = post();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // Loki push of more lines than a whole burst: 413, told to split.
    let ns = now.to_string();
    let line = "x".repeat(100);
    let values: Vec<serde_json::Value> = (0..3000).map(|_| serde_json::json!([ns, line])).collect();
    let push = serde_json::json!({"streams": [{"stream": {"job": "flood"}, "values": values}]});
    let response = http_client()
        .post(format!("http://{}/loki/api/v1/push", lookout.http))
        .header("x-scope-orgid", "flood")
        .json(&push)
        .send()
        .unwrap();
    assert_eq!(response.status(), 413, "3000 lines never fit a burst of {RATE}");
    assert!(response.text().unwrap().contains("larger than a burst"));

    let peak = peak_rss_mib(lookout.pid());
    println!("peak RSS during the flood: {peak} MiB");
    assert!(peak < 256, "peak RSS {peak} MiB, over the stated bound of 256 MiB");
    assert_eq!(lookout.terminate().code(), Some(0));
    // Everything acknowledged is durable, and nothing refused is.
    assert_eq!(spans_in_wal(&wal_dump(dir.path()), "flood") as u64, accepted);
}

#[test]
fn a_range_query_longer_than_query_max_range_is_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &["--query.max-range", "24h"]);
    let end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let get = |path: String| {
        let response = http_client().get(format!("http://{}{path}", lookout.http)).send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let promql =
        |hours: u64| get(format!("/api/v1/query_range?query=up&start={}&end={end}&step=60", end - hours * 3600));
    let (status, body) = promql(48);
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errorType"], "bad_data");
    assert_eq!(
        body["error"],
        "the query time range exceeds the limit (query length: 48h0m0s, limit: 24h0m0s) (query.max_range)"
    );
    assert_eq!(promql(23).0, 200);
    let logql = |hours: u64| {
        let query = common::urlencode(r#"{job="x"}"#);
        get(format!("/loki/api/v1/query_range?query={query}&start={}&end={end}", end - hours * 3600))
    };
    let (status, body) = logql(48);
    assert_eq!(status, 400);
    assert!(body.contains("the query time range exceeds the limit (query length: 48h0m0s, limit: 24h0m0s)"), "{body}");
    assert_eq!(logql(23).0, 200);
    // Each refusal is counted by the limit's name.
    assert_eq!(lookout.metric("lookout_query_limited_total", &[("limit", "max_range")]), 2.0);
    assert_eq!(lookout.metric("lookout_query_limited_total", &[("limit", "timeout")]), 0.0);
}

/// Sends `GET /-/ready` on `conn` and reads the whole answer, keeping the connection open;
/// returns the status line and body.
fn ask(conn: &mut std::net::TcpStream) -> (String, String) {
    use std::io::{Read, Write};
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return (text.lines().next().unwrap().to_owned(), text[end + 4..].to_owned());
            }
        }
        let n = conn.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed after {text:?}");
        got.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn a_client_past_max_connections_per_client_is_refused_naming_the_limit_and_others_still_served() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // Lookout's scrape of its own /metrics would hold a connection from the same address.
    let lookout = Lookout::start_with_config(
        dir.path(),
        "metrics:\n  scrape_self: false\n",
        &["--limits.max-connections-per-client", "3"],
    );
    for (port, listener) in [(lookout.http, "http"), (lookout.otlp_http, "otlp_http")] {
        // Three connections, each shown to be served (one may be refused while an earlier
        // client's connection is still being closed: then try again).
        let held: Vec<_> = (0..3)
            .map(|_| {
                common::eventually("a connection under the limit to be served", || {
                    let mut conn = std::net::TcpStream::connect(port).unwrap();
                    let (status, _) = ask(&mut conn);
                    (!status.contains(" 429 ")).then_some(conn)
                })
            })
            .collect();
        // The fourth from the same address gets a 429 naming the limit, then the connection closes.
        let mut fourth = std::net::TcpStream::connect(port).unwrap();
        fourth.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut answer = String::new();
        fourth.read_to_string(&mut answer).unwrap_or_else(|e| panic!("{listener}: {e}"));
        assert!(answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{answer}");
        assert!(answer.contains("max_connections_per_client"), "{answer}");
        // The held connections are still served, and closing them makes room again.
        for mut conn in held {
            assert!(!ask(&mut conn).0.contains(" 429 "));
        }
        common::eventually("a new connection to be served once the others closed", || {
            http_client().get(format!("http://{port}/-/ready")).send().ok().filter(|r| r.status() != 429)
        });
        assert!(lookout.metric("lookout_connections_refused_total", &[("listener", listener)]) >= 1.0);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let held: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(lookout.grpc).unwrap()).collect();
    let body = synthetic::traces(&mut Rng::new(1), 10, 0).encode_to_vec();
    let refused = runtime.block_on(grpc_export(lookout.grpc, TRACES_PATH, body.clone(), false)).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    assert!(format!("{refused:?}").contains("max_connections_per_client"), "{refused:?}");
    drop(held);
    common::eventually("a gRPC export once the others closed", || {
        runtime.block_on(grpc_export(lookout.grpc, TRACES_PATH, body.clone(), false)).ok()
    });
    assert!(lookout.metric("lookout_connections_refused_total", &[("listener", "otlp_grpc")]) >= 1.0);
}

/// POSTs OTLP/JSON to `path` on the OTLP/HTTP port as `tenant`; the status and JSON reply.
fn otlp_json(lookout: &Lookout, path: &str, tenant: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = http_client()
        .post(lookout.otlp_url(path))
        .header("content-type", "application/json")
        .header("x-scope-orgid", tenant)
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().unwrap()).unwrap_or_default())
}

/// A Loki push of one line to each stream `service` = each of `services`, as `tenant`.
fn loki_push(lookout: &Lookout, tenant: &str, services: &[&str]) -> (u16, String) {
    let now = common::now_ms() * 1_000_000;
    let streams: Vec<_> = services
        .iter()
        .map(|s| serde_json::json!({"stream": {"service_name": s}, "values": [[now.to_string(), format!("hello from {s}")]]}))
        .collect();
    let r = http_client()
        .post(format!("http://{}/loki/api/v1/push", lookout.http))
        .header("content-type", "application/json")
        .header("x-scope-orgid", tenant)
        .body(serde_json::json!({ "streams": streams }).to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn streams_spans_per_trace_attribute_size_and_series_are_limited_per_tenant_with_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start_with_config(
        dir.path(),
        "limits:\n  max_streams_per_tenant: 3\n  max_spans_per_trace: 5\n  max_attribute_bytes: 16\n  ingest_rate_items: 100\n  overrides:\n    big:\n      max_streams: 10\n      max_spans_per_trace: 20\n      ingest_rate_items: 100000\n      max_series: 2\n",
        &[],
    );

    // Streams: a Loki push that would open a fourth stream is refused whole, naming the limit;
    // the streams already open still take entries; a tenant with its own limit opens more.
    assert_eq!(loki_push(&lookout, "a", &["s1", "s2", "s3"]).0, 204);
    let (status, body) = loki_push(&lookout, "a", &["s1", "s4"]);
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("limit of 3 active streams (limits.max_streams_per_tenant)"), "{body}");
    assert_eq!(loki_push(&lookout, "a", &["s1", "s2"]).0, 204);
    assert_eq!(loki_push(&lookout, "big", &["s1", "s2", "s3", "s4", "s5"]).0, 204);
    // Over OTLP the entries of the new streams are refused, the rest stored: partial success.
    let now = (common::now_ms() * 1_000_000).to_string();
    let logs = |services: &[&str]| {
        let resource_logs: Vec<_> = services
            .iter()
            .map(|s| serde_json::json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
                "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": format!("otlp line of {s}")}}]}]
            }))
            .collect();
        serde_json::json!({ "resourceLogs": resource_logs })
    };
    let (status, reply) = otlp_json(&lookout, "/v1/logs", "a", logs(&["s3", "o1", "o2"]));
    assert_eq!(status, 200);
    assert_eq!(reply["partialSuccess"]["rejectedLogRecords"], "2", "{reply}");
    assert!(reply["partialSuccess"]["errorMessage"].as_str().unwrap().contains("limits.max_streams_per_tenant"));
    assert!(lookout.metric("lookout_ingest_limited_items_total", &[("limit", "max_streams_per_tenant")]) >= 4.0);

    // Spans per trace: the sixth span of a trace on is refused, in this request or a later one.
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let spans = |from: usize, to: usize, attribute: &str| {
        let spans: Vec<_> = (from..to)
            .map(|i| {
                serde_json::json!({
                    "traceId": trace_id, "spanId": format!("{:016x}", i + 1), "name": format!("span {i}"),
                    "startTimeUnixNano": now, "endTimeUnixNano": now,
                    "attributes": [{"key": "note", "value": {"stringValue": attribute}}]
                })
            })
            .collect();
        serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"spans": spans}]
        }]})
    };
    let (status, reply) = otlp_json(&lookout, "/v1/traces", "a", spans(0, 4, "short"));
    assert_eq!((status, reply["partialSuccess"].clone()), (200, serde_json::Value::Null), "{reply}");
    let (status, reply) = otlp_json(&lookout, "/v1/traces", "a", spans(4, 8, "short"));
    assert_eq!(status, 200);
    assert_eq!(reply["partialSuccess"]["rejectedSpans"], "3", "{reply}");
    let message = reply["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "trace {trace_id} of tenant \"a\" has reached the limit of 5 spans per trace (limits.max_spans_per_trace)"
        )),
        "{message}"
    );
    let (status, reply) = otlp_json(&lookout, "/v1/traces", "big", spans(0, 8, "short"));
    assert_eq!((status, reply["partialSuccess"].clone()), (200, serde_json::Value::Null), "{reply}");
    let count_spans = |tenant: &str| {
        let r = http_client()
            .get(format!("http://{}/api/traces/{trace_id}", lookout.http))
            .header("x-scope-orgid", tenant)
            .send()
            .unwrap();
        let trace: serde_json::Value = r.json().unwrap();
        trace["batches"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| b["scopeSpans"].as_array().unwrap())
            .map(|s| s["spans"].as_array().unwrap().len())
            .sum::<usize>()
    };
    assert_eq!(common::eventually("tenant a's trace", || Some(count_spans("a")).filter(|n| *n > 0)), 5);
    assert_eq!(count_spans("big"), 8);

    // Attribute values past 16 bytes are cut, said so, and the span is kept.
    let long = "0123456789abcdefXYZ";
    let other_trace = spans(0, 1, long).to_string().replace(trace_id, "6b8efff798038103d269b633813fc60c");
    let (status, reply) = otlp_json(&lookout, "/v1/traces", "c", serde_json::from_str(&other_trace).unwrap());
    assert_eq!(status, 200);
    assert_eq!(reply["partialSuccess"]["rejectedSpans"].as_str().unwrap_or("0"), "0", "{reply}");
    assert!(
        reply["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("longer than 16 bytes were cut to that length (limits.max_attribute_bytes)")
    );
    let stored: serde_json::Value = common::eventually("the cut span", || {
        let r = http_client()
            .get(format!("http://{}/api/traces/6b8efff798038103d269b633813fc60c", lookout.http))
            .header("x-scope-orgid", "c")
            .send()
            .unwrap();
        (r.status() == 200).then(|| r.json().unwrap())
    });
    assert!(stored.to_string().contains("\"0123456789abcdef\""), "{stored}");
    assert!(!stored.to_string().contains(long), "{stored}");
    assert_eq!(lookout.metric("lookout_ingest_truncated_attributes_total", &[]), 1.0);

    // Rates: 100 items/s with bursts of 200 for everyone but "big".
    let (status, _) = otlp_json(&lookout, "/v1/logs", "a", logs(&["s1"; 300]));
    assert_eq!(status, 413, "300 entries never fit a's bursts");
    let (status, reply) = otlp_json(&lookout, "/v1/logs", "big", logs(&["s1"; 300]));
    assert_eq!((status, reply["partialSuccess"].clone()), (200, serde_json::Value::Null), "{reply}");

    // Series: "big" may have 2.
    let write = |tenant: &str, names: &[&str]| {
        use prost::Message;
        let timeseries = names.iter().map(|n| common::series(n, &[("job", "x")], &[(common::now_ms(), 1.0)])).collect();
        let body =
            snap::raw::Encoder::new().compress_vec(&common::WriteRequest { timeseries }.encode_to_vec()).unwrap();
        let r = http_client()
            .post(format!("http://{}/api/v1/write", lookout.http))
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .header("x-scope-orgid", tenant)
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    assert_eq!(write("big", &["m1", "m2"]).0, 204);
    let (status, body) = write("big", &["m3"]);
    assert!(status >= 400 && body.contains("limit of 2 active series"), "{status} {body}");
    assert_eq!(write("a", &["m1", "m2", "m3"]).0, 204, "others keep the default");
}

#[test]
fn queries_reading_more_series_than_their_limits_are_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start_with_config(
        dir.path(),
        "metrics:\n  scrape_self: false\n  span_metrics: false\nquery:\n  max_series: 3\n  max_query_series: 2\n",
        &[],
    );
    let now = common::now_ms();
    let series = (0..5).map(|i| common::series("wide", &[("i", &i.to_string())], &[(now - 1000, i as f64)])).collect();
    assert_eq!(common::remote_write(&format!("http://{}", lookout.http), series).0, 204);
    assert_eq!(loki_push(&lookout, "anonymous", &["a", "b", "c"]).0, 204);
    let get = |path: String| {
        let response = http_client().get(format!("http://{}{path}", lookout.http)).send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let promql = |q: &str| get(format!("/api/v1/query?query={}&time={}", common::urlencode(q), now / 1000));
    // Three series are allowed; two selectors of three series each read four distinct ones.
    assert_eq!(promql(r#"sum(wide{i=~"[0-2]"})"#).0, 200);
    for q in ["sum(wide)", r#"wide{i=~"[0-2]"} + ignoring(i) group_left wide{i=~"[1-3]"}"#] {
        let (status, body) = promql(q);
        assert_eq!(status, 422, "{q}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["errorType"], "execution");
        assert_eq!(
            body["error"],
            "the query exceeded the maximum number of series (limit: 3 series) (query.max_series); narrow its selectors or raise the limit"
        );
    }
    let logql = |q: &str| {
        let end = now * 1_000_000 + 60_000_000_000;
        get(format!(
            "/loki/api/v1/query_range?query={}&start={}&end={end}&step=60",
            common::urlencode(q),
            end - 600_000_000_000
        ))
    };
    // Searchable within the commit interval.
    common::eventually("two streams' lines searchable", || {
        let (status, body) = logql(r#"sum by (service_name) (count_over_time({service_name=~"a|b"}[5m]))"#);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        (status == 200 && body["data"]["result"].as_array().is_some_and(|r| r.len() == 2)).then_some(())
    });
    let (status, body) = logql(r#"sum by (service_name) (count_over_time({service_name=~".+"}[5m]))"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("maximum of series (2) reached for a single query"), "{body}");
    assert_eq!(lookout.metric("lookout_query_limited_total", &[("limit", "max_series")]), 2.0);
    assert_eq!(lookout.metric("lookout_query_limited_total", &[("limit", "max_query_series")]), 1.0);
    // Refused or not, every query gave its place back.
    for api in ["prometheus", "loki"] {
        assert_eq!(lookout.metric("lookout_query_running", &[("api", api)]), 0.0);
        assert_eq!(lookout.metric("lookout_query_waiting", &[("api", api)]), 0.0);
    }
}

#[test]
fn streams_with_too_many_or_too_long_labels_are_refused_naming_the_stream_and_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start_with_config(
        dir.path(),
        "logs:\n  max_label_names_per_series: 3\n  max_label_value_length: 20\n  commit_interval: 100ms\n",
        &[],
    );
    let now = (common::now_ms() * 1_000_000).to_string();
    // Loki push: the stream of four labels is refused with 400, naming it and the limit, as
    // Loki does; the other stream of the push is stored.
    let push = serde_json::json!({"streams": [
        {"stream": {"service_name": "wide", "a": "1", "b": "2", "c": "3"}, "values": [[now, "refused line"]]},
        {"stream": {"service_name": "fine"}, "values": [[now, "stored line"]]}
    ]});
    let r = http_client()
        .post(format!("http://{}/loki/api/v1/push", lookout.http))
        .header("content-type", "application/json")
        .body(push.to_string())
        .send()
        .unwrap();
    let (status, body) = (r.status().as_u16(), r.text().unwrap());
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body.trim(),
        r#"1 entries refused: stream '{a="1", b="2", c="3", service_name="wide"}' has 4 label names; limit 3 (logs.max_label_names_per_series)"#
    );
    // OTLP: a resource whose service name is too long is refused with a partial success.
    let long = "a-service-name-far-too-long";
    let resource_logs: Vec<serde_json::Value> = [long, "short"]
        .iter()
        .map(|s| {
            serde_json::json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
                "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": format!("otlp line of {s}")}}]}]
            })
        })
        .collect();
    let logs = serde_json::json!({ "resourceLogs": resource_logs });
    let (status, reply) = otlp_json(&lookout, "/v1/logs", "anonymous", logs);
    assert_eq!(status, 200);
    assert_eq!(reply["partialSuccess"]["rejectedLogRecords"], "1", "{reply}");
    assert_eq!(
        reply["partialSuccess"]["errorMessage"],
        format!(
            "1 entries refused: stream '{{service_name={long:?}}}' has a value of service_name of 27 bytes; limit 20 (logs.max_label_value_length)"
        ),
        "{reply}"
    );
    // What was stored is there; what was refused is not.
    let query = common::urlencode(r#"{service_name=~".+"}"#);
    let stored: Vec<String> = common::eventually("the stored lines", || {
        let r: serde_json::Value = http_client()
            .get(format!("http://{}/loki/api/v1/query_range?query={query}&limit=100", lookout.http))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let mut services: Vec<String> = r["data"]["result"]
            .as_array()?
            .iter()
            .map(|s| s["stream"]["service_name"].as_str().unwrap().to_owned())
            .collect();
        services.sort();
        (services.len() >= 2).then_some(services)
    });
    assert_eq!(stored, ["fine", "short"]);
    let limited = |limit| lookout.metric("lookout_ingest_limited_items_total", &[("limit", limit)]);
    assert_eq!([limited("max_label_names_per_series"), limited("max_label_value_length")], [1.0, 1.0]);
}
