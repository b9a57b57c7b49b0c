//! A nearly full data disk: with less free space than `--storage.min-free-bytes`, intake
//! answers 503 with `Retry-After` (gRPC `UNAVAILABLE`) while queries go on, and intake resumes
//! by itself once space is freed, with nothing acknowledged lost. The disk is filled for real:
//! the threshold is set just under today's free space and a file takes up more than the gap.
//! One test in its own binary, so no other test writes to the disk meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use common::{LOGS_PATH, Lookout, eventually, grpc_export, http_client, urlencode};
use lookout_ingest::synthetic::{self, Rng};
use prost::Message;

const MIB: u64 = 1 << 20;

fn push(lookout: &Lookout, text: &str) -> reqwest::blocking::Response {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let body = serde_json::json!({"streams": [{"stream": {"job": "disk"}, "values": [[now.to_string(), text]]}]});
    http_client().post(format!("http://{}/loki/api/v1/push", lookout.http)).json(&body).send().unwrap()
}

fn lines(lookout: &Lookout) -> usize {
    let url =
        format!("http://{}/loki/api/v1/query_range?query={}&limit=1000", lookout.http, urlencode(r#"{job="disk"}"#));
    let body: serde_json::Value = http_client().get(url).send().unwrap().json().unwrap();
    body["data"]["result"].as_array().unwrap().iter().map(|s| s["values"].as_array().unwrap().len()).sum()
}

#[test]
fn a_nearly_full_disk_stops_intake_with_503_queries_go_on_and_intake_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let available = fs4::available_space(dir.path()).unwrap();
    assert!(available > 1024 * MIB, "the test needs 1 GiB free, there is {available}");
    let threshold = (available - 150 * MIB).to_string();
    let lookout = Lookout::start(&dir.path().join("data"), &["--storage.min-free-bytes", &threshold]);
    let mut acknowledged = 0;
    for i in 0..5 {
        assert_eq!(push(&lookout, &format!("before {i}")).status(), 204);
        acknowledged += 1;
    }
    // Fill the disk past the threshold with a real file (written, not sparse).
    let filler = dir.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0x5a_u8; MIB as usize];
    for _ in 0..300 {
        file.write_all(&chunk).unwrap();
    }
    file.sync_all().unwrap();
    drop(file);
    let refused = eventually("intake to stop", || {
        let response = push(&lookout, "while full");
        if response.status() == 204 {
            acknowledged += 1;
            return None;
        }
        Some(response)
    });
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let message = refused.text().unwrap();
    assert!(message.contains("storage.min_free_bytes"), "{message}");
    // OTLP/gRPC says UNAVAILABLE, which exporters retry.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let body = synthetic::logs(&mut Rng::new(3), 5, 1_700_000_000_000_000_000).encode_to_vec();
    let status = runtime.block_on(grpc_export(lookout.grpc, LOGS_PATH, body, false)).unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    // Closes the client's connection (an idle one would hold up Lookout's graceful shutdown).
    drop(runtime);
    // Queries go on, and see everything acknowledged.
    eventually("the acknowledged lines searchable", || (lines(&lookout) == acknowledged).then_some(()));
    // Space returns: intake resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    eventually("intake to resume", || (push(&lookout, "after").status() == 204).then_some(()));
    acknowledged += 1;
    eventually("every acknowledged line searchable", || (lines(&lookout) == acknowledged).then_some(()));
    assert_eq!(lookout.terminate().code(), Some(0));
}
