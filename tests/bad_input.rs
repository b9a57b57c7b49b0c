//! Hostile and malformed input gets the OTLP status with a message naming the problem; the
//! server stays up and keeps what it had accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{LOGS_PATH, Lookout, TRACES_PATH, grpc_export, http_client, wal_dump};
use lookout_ingest::RpcStatus;
use lookout_ingest::synthetic::{self, Rng};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

const LIMIT: usize = 1 << 20;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn post(lookout: &Lookout, path: &str, content_type: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
    let mut request = http_client().post(lookout.otlp_url(path)).header("Content-Type", content_type).body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let reply = request.send().unwrap();
    let status = reply.status().as_u16();
    let content_type = reply.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    Reply { status, content_type, body: reply.bytes().unwrap().to_vec() }
}

/// The `google.rpc.Status` message of a protobuf error reply.
fn proto_message(reply: &Reply) -> String {
    assert_eq!(reply.content_type, "application/x-protobuf");
    RpcStatus::decode(reply.body.as_slice()).unwrap().message
}

/// The message of a JSON error reply.
fn json_message(reply: &Reply) -> String {
    assert_eq!(reply.content_type, "application/json");
    serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap()["message"].as_str().unwrap().to_owned()
}

#[test]
fn every_bad_request_gets_its_status_and_nothing_accepted_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &["--otlp.max-message-size", "1MiB"]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let good = synthetic::traces(&mut Rng::new(3), 20, now).encode_to_vec();
    assert_eq!(post(&lookout, "/v1/traces", "application/x-protobuf", &[], good.clone()).status, 200);
    let accepted = |l: &Lookout| {
        l.metric("lookout_ingest_accepted_items_total", &[("signal", "traces"), ("transport", "http/protobuf")])
    };
    assert_eq!(accepted(&lookout), 20.0);

    let garbage =
        post(&lookout, "/v1/traces", "application/x-protobuf", &[], b"\xff\xfe this is not protobuf".to_vec());
    assert_eq!(garbage.status, 400);
    assert!(proto_message(&garbage).contains("invalid protobuf body"), "{}", proto_message(&garbage));

    let truncated = post(&lookout, "/v1/traces", "application/x-protobuf", &[], good[..good.len() / 2].to_vec());
    assert_eq!(truncated.status, 400);
    assert!(proto_message(&truncated).contains("invalid protobuf body"));

    let bad_json = post(&lookout, "/v1/logs", "application/json", &[], br#"{"resourceLogs": [ {"#.to_vec());
    assert_eq!(bad_json.status, 400);
    assert!(json_message(&bad_json).contains("invalid OTLP/JSON body"), "{}", json_message(&bad_json));

    let wrong_type = post(&lookout, "/v1/metrics", "text/plain", &[], b"cpu 1".to_vec());
    assert_eq!(wrong_type.status, 415);
    assert!(json_message(&wrong_type).contains("unsupported content type \"text/plain\""));

    let wrong_encoding =
        post(&lookout, "/v1/traces", "application/x-protobuf", &[("Content-Encoding", "br")], good.clone());
    assert_eq!(wrong_encoding.status, 415);
    assert!(proto_message(&wrong_encoding).contains("unsupported content encoding \"br\""));

    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < LIMIT, "the bomb itself is small");
    let exploded =
        post(&lookout, "/v1/traces", "application/x-protobuf", &[("Content-Encoding", "gzip")], bomb.clone());
    assert_eq!(exploded.status, 413);
    assert!(proto_message(&exploded).contains("exceeds the limit of 1048576 bytes once decompressed"));

    let oversize = post(&lookout, "/v1/logs", "application/json", &[], vec![b' '; LIMIT + 1]);
    assert_eq!(oversize.status, 413);
    assert!(json_message(&oversize).contains("exceeds the limit of 1048576 bytes"));

    let bad_ids = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"0102","spanId":"0102030405060708","name":"short trace id"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000000","name":"zero span id"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"fine"}]}]}]}"#;
    let partial = post(&lookout, "/v1/traces", "application/json", &[], bad_ids.to_vec());
    assert_eq!(partial.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&partial.body).unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "2");
    let message = body["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("trace_id must be 16 bytes, got 2"), "{message}");

    let mut with_bad_ids = synthetic::traces(&mut Rng::new(4), 10, now);
    with_bad_ids.resource_spans[0].scope_spans[0].spans[3].span_id = vec![1, 2, 3];
    let partial_proto = post(&lookout, "/v1/traces", "application/x-protobuf", &[], with_bad_ids.encode_to_vec());
    assert_eq!(partial_proto.status, 200);
    let reply = ExportTraceServiceResponse::decode(partial_proto.body.as_slice()).unwrap().partial_success.unwrap();
    assert_eq!(reply.rejected_spans, 1);

    let bad_tenant =
        post(&lookout, "/v1/traces", "application/x-protobuf", &[("X-Scope-OrgID", "../etc")], good.clone());
    assert_eq!(bad_tenant.status, 400);
    assert!(proto_message(&bad_tenant).contains("invalid X-Scope-OrgID"));

    let get = http_client().get(lookout.otlp_url("/v1/traces")).send().unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");

    // The same over gRPC.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status =
        runtime.block_on(grpc_export(lookout.grpc, TRACES_PATH, b"\xff\xfe garbage".to_vec(), false)).unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("invalid protobuf body"), "{}", status.message());
    let status = runtime.block_on(grpc_export(lookout.grpc, LOGS_PATH, vec![0u8; 64 << 20], true)).unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let status = runtime.block_on(grpc_export(lookout.grpc, LOGS_PATH, vec![0u8; LIMIT + 1], false)).unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{}", status.message());
    let reply = runtime.block_on(grpc_export(lookout.grpc, TRACES_PATH, with_bad_ids.encode_to_vec(), false)).unwrap();
    let reply = ExportTraceServiceResponse::decode(reply).unwrap().partial_success.unwrap();
    assert_eq!(reply.rejected_spans, 1);
    assert!(reply.error_message.contains("spans[3]: span_id must be 8 bytes, got 3"), "{}", reply.error_message);

    // A client that is gone, as real clients go: its connections close.
    drop(runtime);

    // Still up, and everything accepted before is intact.
    assert_eq!(http_client().get(format!("http://{}/-/ready", lookout.http)).send().unwrap().status(), 200);
    assert_eq!(post(&lookout, "/v1/traces", "application/x-protobuf", &[], good.clone()).status, 200);
    assert_eq!(accepted(&lookout), 20.0 + 9.0 + 20.0);
    assert_eq!(
        lookout.metric(
            "lookout_ingest_requests_total",
            &[("outcome", "invalid"), ("signal", "traces"), ("transport", "http/protobuf")]
        ),
        3.0
    );
    assert_eq!(lookout.terminate().code(), Some(0));
    let records = wal_dump(dir.path());
    let spans: usize = records
        .iter()
        .filter_map(|r| r["payload"]["traces"].as_array())
        .flatten()
        .flat_map(|rg| rg["scopes"].as_array().unwrap())
        .map(|sg| sg["items"].as_array().unwrap().len())
        .sum();
    assert_eq!(spans, 20 + 1 + 9 + 9 + 20, "good batches, the valid spans of partial ones, nothing else");
}

#[test]
fn bodies_up_to_the_default_limit_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &[]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let big = synthetic::logs(&mut Rng::new(5), 20_000, now).encode_to_vec();
    assert!(big.len() > 4 << 20, "larger than common framework defaults");
    let reply = post(&lookout, "/v1/logs", "application/x-protobuf", &[], big);
    assert_eq!(reply.status, 200);
    assert_eq!(
        lookout.metric("lookout_ingest_accepted_items_total", &[("signal", "logs"), ("transport", "http/protobuf")]),
        20_000.0
    );
}
