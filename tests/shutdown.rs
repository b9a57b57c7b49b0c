//! Graceful shutdown: on SIGTERM Lookout stops taking new work, finishes the request it is in
//! the middle of, makes it durable, and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Lookout, wal_dump};
use lookout_ingest::synthetic::{self, Rng};
use prost::Message;

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &["--log.level", "info,tower_http=debug"]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let body = synthetic::traces(&mut Rng::new(9), 100, now).encode_to_vec();

    // Half a request: the handler is waiting for the rest of the body when the signal comes.
    let mut stream = TcpStream::connect(lookout.otlp_http).unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: lookout\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..body.len() / 2]).unwrap();
    stream.flush().unwrap();
    lookout.wait_for_log("started processing request");
    lookout.send_sigterm();
    lookout.wait_for_log("shutting down: stopping intake");

    stream.write_all(&body[body.len() / 2..]).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");

    assert_eq!(lookout.wait_exit().code(), Some(0));
    // Besides the batch, the span metrics made from it are written on the way out.
    let records: Vec<serde_json::Value> =
        wal_dump(dir.path()).into_iter().filter(|r| r["payload"].get("traces").is_some()).collect();
    assert_eq!(records.len(), 1, "the in-flight batch was made durable before exit");
    let spans = records[0]["payload"]["traces"][0]["scopes"][0]["items"].as_array().unwrap().len();
    assert_eq!(spans, 100);
}
