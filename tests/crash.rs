//! Durable before acknowledged: every batch Lookout said "ok" to is there after `kill -9`,
//! and a WAL with a torn last record still starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::OpenOptions;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{LOGS_PATH, Lookout, METRICS_PATH, TRACES_PATH, grpc_export, http_client, wal_dump};
use lookout_ingest::synthetic::{self, Rng};
use prost::Message;

/// Sends batches over gRPC and HTTP; returns what was acknowledged as Lookout's own records.
fn send_batches(lookout: &Lookout, rng: &mut Rng) -> Vec<serde_json::Value> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..6 {
        let traces = synthetic::traces(rng, 50 + i, now);
        let logs = synthetic::logs(rng, 40 + i, now);
        let metrics = synthetic::metrics(rng, 30 + i, now);
        let expect = |payload: lookout_storage::Payload| serde_json::to_value(&payload).unwrap();
        runtime.block_on(grpc_export(lookout.grpc, TRACES_PATH, traces.encode_to_vec(), i % 2 == 0)).unwrap();
        acknowledged.push(expect(lookout_ingest::convert_traces(traces).payload));
        runtime.block_on(grpc_export(lookout.grpc, LOGS_PATH, logs.encode_to_vec(), false)).unwrap();
        acknowledged.push(expect(as_streams(lookout_ingest::convert_logs(logs).payload)));
        if i % 2 == 0 {
            let reply = http_client()
                .post(lookout.otlp_url("/v1/metrics"))
                .header("Content-Type", "application/x-protobuf")
                .body(metrics.encode_to_vec())
                .send()
                .unwrap();
            assert_eq!(reply.status(), 200);
        } else {
            runtime.block_on(grpc_export(lookout.grpc, METRICS_PATH, metrics.encode_to_vec(), false)).unwrap();
        }
        // Metrics are kept as Prometheus samples; the record is checked by its kind.
        acknowledged.push(serde_json::json!("samples"));
    }
    acknowledged
}

/// OTLP logs as the WAL holds them: mapped to Loki's streams, each entry with a
/// `detected_level`, by the default stream labels.
fn as_streams(payload: lookout_storage::Payload) -> lookout_storage::Payload {
    let lookout_storage::Payload::Logs(batch) = payload else { return payload };
    let promoted: Vec<String> = lookout_storage::logs::DEFAULT_PROMOTED.iter().map(|s| (*s).to_owned()).collect();
    let mut streams = lookout_storage::logs::streams_from_otlp(&batch, &promoted);
    lookout_storage::logs::add_detected_levels(&mut streams);
    lookout_storage::Payload::Streams(streams)
}

/// A record's payload, or just its kind for metric samples (their series references depend on
/// the store).
fn comparable(payload: serde_json::Value) -> serde_json::Value {
    if payload.get("samples").is_some() { serde_json::json!("samples") } else { payload }
}

/// Lookout with nothing of its own writing to the WAL (no self-scrape, no span metrics), so that
/// every record is one a test sent.
fn start_quiet(dir: &std::path::Path) -> Lookout {
    Lookout::start_with_config(dir, "metrics:\n  scrape_self: false\n  span_metrics: false\n", &[])
}

/// Records in the order `lookout wal dump` prints them: the main WAL's (spans, log lines), then
/// the metrics WAL's (samples), each in the order written.
fn in_wal_order(records: impl IntoIterator<Item = serde_json::Value>) -> Vec<serde_json::Value> {
    let (samples, main): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r == "samples");
    main.into_iter().chain(samples).collect()
}

/// The value of the first series of a PromQL instant query at `t_ms`, if any.
fn instant_value(lookout: &Lookout, query: &str, t_ms: i64) -> Option<String> {
    let r: serde_json::Value = http_client()
        .get(format!("http://{}/api/v1/query?query={query}&time={}", lookout.http, t_ms as f64 / 1000.0))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
}

fn items(lookout: &Lookout, signal: &str) -> f64 {
    lookout.metric("lookout_wal_replayed_items_total", &[("signal", signal)])
}

#[test]
fn acknowledged_batches_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(42);
    let lookout = start_quiet(dir.path());
    let sent = send_batches(&lookout, &mut rng);
    let accepted: Vec<f64> = ["traces", "logs"]
        .iter()
        .map(|s| {
            ["grpc", "http/protobuf"]
                .iter()
                .map(|t| lookout.metric("lookout_ingest_accepted_items_total", &[("signal", s), ("transport", t)]))
                .sum()
        })
        .collect();
    lookout.kill9();

    let lookout = start_quiet(dir.path());
    assert_eq!([items(&lookout, "traces"), items(&lookout, "logs")].to_vec(), accepted);
    assert_eq!(lookout.metric("lookout_wal_replayed_records_total", &[]), sent.len() as f64);
    assert_eq!(lookout.metric("lookout_wal_replay_damaged_segments_total", &[]), 0.0);
    lookout.kill9();

    let dump = wal_dump(&dir.path().join("data"));
    let samples: usize = dump.iter().filter_map(|r| r["payload"]["samples"]["samples"].as_array()).map(Vec::len).sum();
    assert!(samples > 0);
    let stored: Vec<serde_json::Value> = dump.into_iter().map(|r| comparable(r["payload"].clone())).collect();
    assert_eq!(stored.len(), sent.len());
    assert!(stored == in_wal_order(sent), "every acknowledged item is back with its content");
}

#[test]
fn torn_last_record_is_cut_and_lookout_still_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(7);
    let lookout = start_quiet(dir.path());
    let sent = send_batches(&lookout, &mut rng);
    lookout.kill9();

    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("data/wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    OpenOptions::new().write(true).open(last).unwrap().set_len(len - 10).unwrap();

    let lookout = start_quiet(dir.path());
    assert_eq!(lookout.metric("lookout_wal_replayed_records_total", &[]), (sent.len() - 1) as f64);
    assert_eq!(lookout.metric("lookout_wal_replay_damaged_segments_total", &[]), 1.0);
    assert!(
        lookout.log().iter().any(|l| l.contains("torn or corrupt tail") && l.contains("WARN")),
        "a warning names the damage"
    );
    let more = send_batches(&lookout, &mut rng);
    assert_eq!(lookout.terminate().code(), Some(0));

    let stored: Vec<serde_json::Value> =
        wal_dump(&dir.path().join("data")).into_iter().map(|r| comparable(r["payload"].clone())).collect();
    // The torn record is the main WAL's last: the last sent that is not samples.
    let torn = sent.iter().rposition(|r| r != "samples").unwrap();
    let kept = sent.iter().enumerate().filter(|(i, _)| *i != torn).map(|(_, r)| r);
    let expected = in_wal_order(kept.chain(more.iter()).cloned());
    assert!(stored == expected, "everything before the torn record and everything after the restart");
}

#[test]
fn metric_samples_in_the_main_wal_from_before_the_split_are_moved_to_their_own_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = start_quiet(dir.path());
    let base = format!("http://{}", lookout.http);
    let now = common::now_ms();
    let (status, body) =
        common::remote_write(&base, vec![common::series("moved_metric", &[("job", "x")], &[(now, 42.0)])]);
    assert_eq!(status, 204, "{body}");
    lookout.kill9();

    // As a data directory from before the split: the samples' segments in the main WAL.
    let main = dir.path().join("data/wal");
    let metrics = main.join("metrics");
    let next = std::fs::read_dir(&main)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".wal")?.parse::<u64>().ok())
        .max()
        .unwrap()
        + 1;
    let mut segments: Vec<_> = std::fs::read_dir(&metrics)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    for (index, segment) in (next..).zip(segments) {
        std::fs::rename(segment, main.join(format!("{index:010}.wal"))).unwrap();
    }
    std::fs::remove_dir_all(&metrics).unwrap();

    let value = |lookout: &Lookout| instant_value(lookout, "moved_metric", now);
    let lookout = start_quiet(dir.path());
    assert_eq!(value(&lookout).as_deref(), Some("42"));
    assert!(metrics.join("ready").exists());
    assert!(lookout.log().iter().any(|l| l.contains("metric samples moved from the main wal")));
    lookout.kill9();
    // Now from the metrics WAL (the main WAL's copy is skipped).
    let lookout = start_quiet(dir.path());
    assert_eq!(value(&lookout).as_deref(), Some("42"));
    let samples = wal_dump(&dir.path().join("data")).iter().filter(|r| r["payload"].get("samples").is_some()).count();
    assert_eq!(samples, 2, "the old copy in the main WAL and the moved one, until the main WAL is truncated");
}

#[test]
fn the_main_wal_is_truncated_while_the_metrics_head_still_needs_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "metrics:\n  scrape_self: false\n  span_metrics: false\nlogs:\n  commit_interval: 100ms\nwal:\n  segment_size: 64KiB\n  truncation_interval: 200ms\n";
    let start = || Lookout::start_with_config(dir.path(), yaml, &[]);
    let lookout = start();
    let now = common::now_ms();
    let (status, body) = common::remote_write(
        &format!("http://{}", lookout.http),
        vec![common::series("kept", &[("job", "x")], &[(now, 7.0)])],
    );
    assert_eq!(status, 204, "{body}");
    // Log lines enough for several segments of the main WAL.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut rng = Rng::new(3);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut lines = 0;
    for _ in 0..20 {
        let logs = synthetic::logs(&mut rng, 100, nanos);
        lines += 100;
        runtime.block_on(grpc_export(lookout.grpc, LOGS_PATH, logs.encode_to_vec(), false)).unwrap();
    }
    let main = dir.path().join("data/wal");
    common::eventually("the main wal's first segment deleted", || {
        (!main.join("0000000001.wal").exists()).then_some(())
    });
    let holding = std::fs::read_dir(main.join("metrics"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal") && std::fs::metadata(p).unwrap().len() > 8)
        .count();
    assert_eq!(holding, 1, "the metrics head still needs its samples");
    lookout.kill9();

    let lookout = start();
    assert_eq!(instant_value(&lookout, "kept", now).as_deref(), Some("7"));
    // Replayed lines are committed before Lookout reports ready.
    let query = common::urlencode("sum(count_over_time({service_name=~\".+\"}[1h]))");
    let r: serde_json::Value = http_client()
        .get(format!("http://{}/loki/api/v1/query?query={query}&time={}", lookout.http, nanos / 1_000_000_000 + 60))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let count = r["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<u64>().ok());
    assert_eq!(count, Some(lines), "every acknowledged line, each once");
}
