//! A damaged block or index: a byte flipped in a span block and in a log partition's index while
//! Lookout is stopped. At the next start both are found by checksum, reported, and moved to
//! `quarantine/`, and Lookout serves everything else (and replays what the WAL still holds).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Lookout, TRACES_PATH, eventually, grpc_export_with, http_client, urlencode};
use lookout_ingest::synthetic::{self, Rng};
use prost::Message;

fn start(dir: &Path) -> Lookout {
    Lookout::start_with_config(
        dir,
        "metrics:\n  scrape_self: false\n  span_metrics: false\ntraces:\n  max_block_spans: 10\n  max_block_age: 1s\nlogs:\n  commit_interval: 100ms\n",
        &[],
    )
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out
}

/// Flips one byte in the middle of `file`.
fn flip(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(file, bytes).unwrap();
}

fn push(lookout: &Lookout, at_ns: u128, text: &str) {
    let body = serde_json::json!({"streams": [{"stream": {"job": "damage"}, "values": [[at_ns.to_string(), text]]}]});
    let response = http_client().post(format!("http://{}/loki/api/v1/push", lookout.http)).json(&body).send().unwrap();
    assert_eq!(response.status(), 204);
}

fn lines(lookout: &Lookout, start_ns: u128, end_ns: u128) -> Vec<String> {
    let url = format!(
        "http://{}/loki/api/v1/query_range?query={}&start={start_ns}&end={end_ns}&limit=100",
        lookout.http,
        urlencode(r#"{job="damage"}"#)
    );
    let body: serde_json::Value = http_client().get(url).send().unwrap().json().unwrap();
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap())
        .map(|v| v[1].as_str().unwrap().to_owned())
        .collect()
}

fn trace_status(lookout: &Lookout, tenant: &str, id: &str) -> u16 {
    let url = format!("http://{}/api/traces/{id}", lookout.http);
    http_client().get(url).header("x-scope-orgid", tenant).send().unwrap().status().as_u16()
}

#[test]
fn a_damaged_span_block_and_log_index_are_quarantined_and_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lookout = start(dir.path());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let two_hours = 2 * 3600 * 1_000_000_000u128;
    // Log lines in two hourly partitions; traces of two tenants, each in blocks of its own.
    push(&lookout, now - two_hours, "earlier");
    push(&lookout, now, "now");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut ids = Vec::new();
    for tenant in ["damaged", "intact"] {
        let request = synthetic::traces(&mut Rng::new(9), 12, now as u64);
        ids.push(hex::encode(&request.resource_spans[0].scope_spans[0].spans[0].trace_id));
        let body = request.encode_to_vec();
        runtime
            .block_on(grpc_export_with(lookout.grpc, TRACES_PATH, body, false, &[("x-scope-orgid", tenant)]))
            .unwrap();
    }
    drop(runtime);
    let blocks = |tenant: &str| data.join("traces/blocks").join(tenant);
    eventually("span blocks cut for both tenants", || {
        (blocks("damaged").exists() && blocks("intact").exists()).then_some(())
    });
    eventually("both log lines searchable", || {
        (lines(&lookout, now - 2 * two_hours, now + 1).len() == 2).then_some(())
    });
    assert_eq!(lookout.terminate().code(), Some(0));

    // Damage: the span data of one tenant's block, and the index of the partition of "earlier".
    let arrow = files_under(&blocks("damaged")).into_iter().find(|p| p.ends_with("spans.arrow")).unwrap();
    flip(&arrow);
    let earlier_hour = (now - two_hours) / 3_600_000_000_000 * 3_600_000_000_000;
    let partition = data.join("logs/partitions").join(earlier_hour.to_string());
    let segment_file = files_under(&partition)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "store" || e == "idx" || e == "fast"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    flip(&segment_file);

    // Lookout starts, says what it moved aside, and serves the rest.
    let lookout = start(dir.path());
    let log = lookout.log().join("\n");
    assert_eq!(log.matches("damaged data moved to quarantine").count(), 2, "{log}");
    assert!(log.contains("checksum mismatch"), "{log}");
    for (store, n) in [("traces", 1.0), ("logs", 1.0), ("metrics", 0.0)] {
        assert_eq!(lookout.metric("lookout_storage_quarantined_items", &[("store", store)]), n, "{store}");
    }
    let quarantined: Vec<String> = std::fs::read_dir(data.join("traces/quarantine"))
        .unwrap()
        .chain(std::fs::read_dir(data.join("logs/quarantine")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    assert_eq!(trace_status(&lookout, "intact", &ids[1]), 200, "the other tenant's block is served");
    // The other partition is served; and the WAL, not truncated yet, still held the line of the
    // damaged one, so replay put it back into a new partition for that hour.
    let mut found = lines(&lookout, now - 2 * two_hours, now + 1);
    found.sort();
    assert_eq!(found, ["earlier", "now"]);
    // And intake goes on, into the hour whose partition was moved aside too.
    push(&lookout, now - two_hours, "after the damage");
    eventually("a new line in the damaged hour", || {
        lines(&lookout, now - 2 * two_hours, now + 1).contains(&"after the damage".to_owned()).then_some(())
    });
}
