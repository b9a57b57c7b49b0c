//! Metrics end to end: the OpenTelemetry Python SDK's metrics become the Prometheus series the
//! specification prescribes; remote_write samples survive `kill -9`; span metrics and service
//! graph series appear for a trace; bad remote_write bodies get clear errors. Samples are read
//! back over Prometheus remote read, the same call that reads a real Prometheus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Lookout, ReadSeries, eventually, http_client, now_ms, python, remote_read, remote_write, series};
use lookout_query::remote_read::prompb;

const EQ: i32 = 0;
const RE: i32 = 2;

fn read(lookout: &Lookout, matchers: &[(i32, &str, &str)]) -> Vec<ReadSeries> {
    remote_read(&format!("http://{}", lookout.http), matchers, 0, now_ms() + 60_000)
}

/// The last value of each series, keyed by its labels without the ones every series shares.
fn last_values(series: &[ReadSeries], drop: &[&str]) -> BTreeMap<String, f64> {
    series
        .iter()
        .map(|(labels, samples)| {
            let shown: Vec<String> = labels
                .iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| if k == "__name__" { v.clone() } else { format!("{k}={v}") })
                .collect();
            (shown.join(" "), samples.last().unwrap().1)
        })
        .collect()
}

#[test]
fn otlp_metrics_from_the_python_sdk_become_the_series_the_specification_prescribes() {
    let dir = tempfile::tempdir().unwrap();
    // Lookout's own scrape would add job "lookout" to the label values checked below.
    let lookout = Lookout::start_with_config(
        dir.path(),
        "metrics:\n  scrape_self: false\n  promote_resource_attributes: [deployment.environment]\n",
        &[],
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_metrics.py");
    let out = Command::new(python()).arg(script).arg(format!("http://{}", lookout.grpc)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let stored = read(&lookout, &[(EQ, "job", "demo/shop")]);
    // Every series carries job, instance and the promoted attribute.
    for (labels, _) in &stored {
        assert_eq!(labels["job"], "demo/shop");
        assert_eq!(labels["instance"], "i-1");
        if labels["__name__"] != "target_info" {
            assert_eq!(labels["deployment_environment"], "e2e", "{labels:?}");
            assert_eq!(
                labels.len(),
                4 + labels.contains_key("le") as usize + labels.contains_key("http_method") as usize
            );
        }
    }
    let values = last_values(&stored, &["job", "instance", "deployment_environment"]);
    let target_info: Vec<&String> = values.keys().filter(|k| k.starts_with("target_info")).collect();
    assert_eq!(target_info.len(), 1, "{values:#?}");
    assert!(target_info[0].contains("host_name=h1") && target_info[0].contains("telemetry_sdk_language=python"));
    assert!(!target_info[0].contains("service_name"), "identifying attributes stay out of target_info");
    let expected: BTreeMap<String, f64> = [
        ("http_server_requests_total http_method=GET", 5.0),
        ("queue_depth", 3.0),
        ("cpu_temperature_celsius", 42.5),
        ("http_server_duration_seconds_bucket le=0.25", 1.0),
        ("http_server_duration_seconds_bucket le=0.5", 2.0),
        ("http_server_duration_seconds_bucket le=1", 2.0),
        ("http_server_duration_seconds_bucket le=2.5", 3.0),
        ("http_server_duration_seconds_bucket le=+Inf", 3.0),
        ("http_server_duration_seconds_count", 3.0),
        ("http_server_duration_seconds_sum", 1.9),
        // Delta temporality, made cumulative per series.
        ("rpc_duration_milliseconds_bucket le=0.25", 1.0),
        ("rpc_duration_milliseconds_bucket le=0.5", 1.0),
        ("rpc_duration_milliseconds_bucket le=1", 2.0),
        ("rpc_duration_milliseconds_bucket le=2.5", 2.0),
        ("rpc_duration_milliseconds_bucket le=+Inf", 3.0),
        ("rpc_duration_milliseconds_count", 3.0),
        ("rpc_duration_milliseconds_sum", 3.9),
        ("messages_sent_total", 6.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut got = values.clone();
    got.retain(|k, _| !k.starts_with("target_info"));
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (k, v) in &expected {
        assert!((got[k] - v).abs() < 1e-9, "{k}: {} != {v}", got[k]);
    }
    // The same series through Prometheus's HTTP API, as Grafana asks for them.
    let api = |path: &str| -> serde_json::Value {
        let r = http_client().get(format!("http://{}{path}", lookout.http)).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.json().unwrap()
    };
    let jobs = api("/api/v1/label/job/values");
    assert_eq!(jobs["data"], serde_json::json!(["demo/shop"]));
    let series = api("/api/v1/series?match[]=http_server_duration_seconds_count");
    assert_eq!(series["data"][0]["instance"], "i-1");
    let metadata = api("/api/v1/metadata?metric=http_server_requests_total");
    let meta = &metadata["data"]["http_server_requests_total"][0];
    assert_eq!((meta["type"].as_str(), meta["help"].as_str()), (Some("counter"), Some("Requests served.")));
    let form = http_client()
        .post(format!("http://{}/api/v1/labels", lookout.http))
        .form(&[("match[]", "queue_depth")])
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(form["data"], serde_json::json!(["__name__", "deployment_environment", "instance", "job"]));
    // The exponential histogram is refused, not dropped silently: counted as rejected.
    assert!(read(&lookout, &[(RE, "__name__", "payload.*")]).is_empty());
    assert!(
        lookout.metric("lookout_ingest_rejected_items_total", &[("signal", "metrics"), ("transport", "grpc")]) >= 2.0
    );
}

#[test]
fn remote_write_refusals_and_bad_bodies_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(&dir.path().join("data"), &["--metrics.max-series-per-tenant", "50"]);
    let t0 = now_ms() - 600_000;
    let (status, body) = remote_write(
        &format!("http://{}", lookout.http),
        vec![series("rw_test", &[("job", "rw")], &[(t0, 1.0), (t0 + 1000, 2.0)])],
    );
    assert_eq!(status, 204, "{body}");
    // Out of order: refused with Prometheus's wording, 400 so that the sender does not retry.
    let (status, body) =
        remote_write(&format!("http://{}", lookout.http), vec![series("rw_test", &[("job", "rw")], &[(t0, 5.0)])]);
    assert_eq!(status, 400);
    assert!(body.contains("out of order sample"), "{body}");
    // The per-tenant series limit, named in the reply; the series under the limit are kept.
    let many: Vec<prompb::TimeSeries> =
        (0..60).map(|i| series("other", &[("i", &format!("{i:02}"))], &[(now_ms(), 1.0)])).collect();
    let (status, body) = remote_write(&format!("http://{}", lookout.http), many);
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("max_series_per_tenant") && body.contains("limit of 50"), "{body}");
    assert_eq!(read(&lookout, &[(EQ, "__name__", "other")]).len(), 49);
    // Not snappy, not protobuf, wrong encoding: clear errors, nothing stored, nothing crashes.
    let client = http_client();
    let url = format!("http://{}/api/v1/write", lookout.http);
    let r = client.post(&url).header("content-encoding", "snappy").body(b"\xff\x01garbage".to_vec()).send().unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("snappy"));
    let r = client
        .post(&url)
        .header("content-encoding", "snappy")
        .body(snap::raw::Encoder::new().compress_vec(b"\x0a\xff\xff\xff\x0f").unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("invalid remote write request"));
    let r = client.post(&url).header("content-encoding", "gzip").body(vec![1, 2, 3]).send().unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let huge = snap::raw::Encoder::new().compress_vec(&vec![0u8; 40 << 20]).unwrap();
    let r = client.post(&url).header("content-encoding", "snappy").body(huge).send().unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(read(&lookout, &[(EQ, "__name__", "rw_test")])[0].1, vec![(t0, 1.0), (t0 + 1000, 2.0)]);
}

#[test]
fn remote_write_samples_acknowledged_before_kill_9_are_all_there_even_with_a_torn_wal_tail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lookout = Lookout::start(&data, &[]);
    let t0 = now_ms() - 3_600_000;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let sender = {
        let (acked, url) = (acked.clone(), format!("http://{}", lookout.http));
        std::thread::spawn(move || {
            for batch in 0i64.. {
                let ts: Vec<prompb::TimeSeries> = (0..50)
                    .map(|i| series("crash_test", &[("i", &format!("{i:02}"))], &[(t0 + batch * 1000, batch as f64)]))
                    .collect();
                match common::try_remote_write(&url, ts) {
                    Ok((204, _)) => acked.lock().unwrap().push(batch),
                    _ => return,
                }
            }
        })
    };
    eventually("some acknowledged writes", || (acked.lock().unwrap().len() >= 50).then_some(()));
    lookout.kill9();
    sender.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    // A torn record at the end of the newest segment of the samples' WAL, as a crash mid-write
    // leaves it.
    let wal = data.join("wal").join("metrics");
    let newest = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .max()
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&newest).unwrap();
    std::io::Write::write_all(&mut f, &[0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).unwrap();
    drop(f);

    let lookout = Lookout::start(&data, &[]);
    let stored = read(&lookout, &[(EQ, "__name__", "crash_test")]);
    assert_eq!(stored.len(), 50);
    for (labels, samples) in &stored {
        let times: std::collections::HashSet<i64> = samples.iter().map(|s| s.0).collect();
        for b in &acked {
            assert!(times.contains(&(t0 + b * 1000)), "{labels:?}: acknowledged batch {b} missing");
        }
    }
    assert_eq!(lookout.metric("lookout_wal_replay_damaged_segments_total", &[]), 1.0);
}

#[test]
fn span_metrics_and_service_graph_series_appear_for_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start_with_config(dir.path(), "metrics:\n  span_metrics_interval: 200ms\n", &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_trace.py");
    let out = Command::new(python()).arg(script).arg(format!("http://{}", lookout.grpc)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // gateway CLIENT "POST orders" → orders SERVER "create order" → orders PRODUCER → payments
    // CONSUMER "charge card" (error).
    let calls = eventually("span metrics", || {
        let s = read(&lookout, &[(EQ, "__name__", "traces_spanmetrics_calls_total")]);
        (s.len() >= 6).then_some(s)
    });
    let by_span: BTreeMap<String, (String, String, String, f64)> = calls
        .iter()
        .map(|(l, s)| {
            (
                l["span_name"].clone(),
                (l["service"].clone(), l["span_kind"].clone(), l["status_code"].clone(), s.last().unwrap().1),
            )
        })
        .collect();
    assert_eq!(
        by_span["charge card"],
        ("payments".into(), "SPAN_KIND_CONSUMER".into(), "STATUS_CODE_ERROR".into(), 1.0)
    );
    assert_eq!(by_span["create order"], ("orders".into(), "SPAN_KIND_SERVER".into(), "STATUS_CODE_UNSET".into(), 1.0));
    assert_eq!(by_span["POST orders"].1, "SPAN_KIND_CLIENT");
    let latency_count =
        read(&lookout, &[(EQ, "__name__", "traces_spanmetrics_latency_count"), (EQ, "span_name", "charge card")]);
    assert_eq!(latency_count[0].1.last().unwrap().1, 1.0);
    let buckets =
        read(&lookout, &[(EQ, "__name__", "traces_spanmetrics_latency_bucket"), (EQ, "span_name", "charge card")]);
    assert!(buckets.iter().any(|(l, s)| l["le"] == "+Inf" && s.last().unwrap().1 == 1.0));

    let edges = eventually("service graph", || {
        let s = read(&lookout, &[(EQ, "__name__", "traces_service_graph_request_total")]);
        (s.len() >= 2).then_some(s)
    });
    let pairs: BTreeMap<(String, String, String), f64> = edges
        .iter()
        .map(|(l, s)| {
            let kind = l.get("connection_type").cloned().unwrap_or_default();
            ((l["client"].clone(), l["server"].clone(), kind), s.last().unwrap().1)
        })
        .collect();
    assert_eq!(pairs[&("gateway".into(), "orders".into(), String::new())], 1.0, "{pairs:?}");
    assert_eq!(pairs[&("orders".into(), "payments".into(), "messaging_system".into())], 1.0, "{pairs:?}");
    let failed = read(&lookout, &[(EQ, "__name__", "traces_service_graph_request_failed_total")]);
    assert!(failed.iter().any(|(l, s)| l["server"] == "payments" && s.last().unwrap().1 == 1.0), "{failed:?}");
    let server_seconds = read(&lookout, &[(EQ, "__name__", "traces_service_graph_request_server_seconds_count")]);
    assert_eq!(server_seconds.len(), 2);
}

#[test]
fn a_shorter_block_range_cuts_the_head_into_blocks_sooner_and_loses_no_sample() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start_with_config(dir.path(), "metrics:\n  block_range: 10m\n", &[]);
    // 40 minutes of samples every 30 s, ending now: the head spans more than one and a half
    // 10-minute ranges, so its oldest ranges are cut into blocks until it spans no more.
    let end = now_ms() / 30_000 * 30_000;
    let times: Vec<i64> = (0..=80).map(|i| end - 2_400_000 + i * 30_000).collect();
    let timeseries = (0..3)
        .map(|s| {
            let samples: Vec<(i64, f64)> = times.iter().map(|&t| (t, (s * 1000) as f64 + (t - end) as f64)).collect();
            series("block_range_test", &[("s", &s.to_string())], &samples)
        })
        .collect();
    assert_eq!(remote_write(&format!("http://{}", lookout.http), timeseries).0, 204);
    // The cut keeps at most one and a half ranges in the head: 15 of the 40 minutes. The 10-minute
    // blocks it writes may be compacted into one 30-minute block in the same pass, depending on
    // where the wall clock falls in a 30-minute window, so the count of blocks shows only that
    // there is one.
    let blocks = eventually("blocks cut from the head", || {
        let blocks = lookout.metric("lookout_tsdb_blocks", &[]);
        let head_min = lookout.metric("lookout_tsdb_head_min_time", &[]) as i64;
        (blocks >= 1.0 && head_min >= end - 1_500_000).then_some(blocks)
    });
    let check = |lookout: &Lookout| {
        let stored = read(lookout, &[(EQ, "__name__", "block_range_test")]);
        assert_eq!(stored.len(), 3);
        for (labels, samples) in &stored {
            let got: Vec<i64> = samples.iter().map(|s| s.0).collect();
            assert_eq!(got, times, "{labels:?}");
        }
    };
    check(&lookout);
    lookout.kill9();
    let lookout = Lookout::start_with_config(dir.path(), "metrics:\n  block_range: 10m\n", &[]);
    assert!(lookout.metric("lookout_tsdb_blocks", &[]) >= blocks);
    check(&lookout);
}
