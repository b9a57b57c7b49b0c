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
}
