//! The command line: version, help, the committed example config, and a config error that
//! names the key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::Lookout;

fn lookout(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lookout")).args(args).env_remove("RUST_LOG").output().unwrap()
}

#[test]
fn version_and_help() {
    let out = lookout(&["--version"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("lookout {}", env!("CARGO_PKG_VERSION")));

    let help = String::from_utf8(lookout(&["serve", "--help"]).stdout).unwrap();
    for flag in [
        "--config.file",
        "--data-dir",
        "--log.level",
        "--log.format",
        "--http.listen-address",
        "--otlp.grpc.listen-address",
        "--otlp.http.listen-address",
        "--otlp.max-message-size",
        "--otlp.max-inflight-requests",
        "--otlp.http.cors-allowed-origins",
        "--wal.fsync",
        "--wal.fsync-interval",
        "--wal.segment-size",
    ] {
        assert!(help.contains(flag), "serve --help documents {flag}");
    }
    assert!(help.contains("[env: LOOKOUT_OTLP_MAX_MESSAGE_SIZE="), "flags name their environment variable");
}

#[test]
fn example_config_starts_lookout() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/lookout.example.yaml");
    let lookout = Lookout::start(dir.path(), &["--config.file", example]);
    assert_eq!(lookout.metric("lookout_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert_eq!(lookout.terminate().code(), Some(0));
}

#[test]
fn unknown_config_key_stops_startup_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.yaml");
    std::fs::write(&config, "wal:\n  fsync: always\n  fsync_every: 1s\n").unwrap();
    let out = lookout(&["--config.file", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("unknown field `fsync_every`"), "{stderr}");
}

#[test]
fn environment_variables_configure_serve() {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout")).env("LOOKOUT_WAL_FSYNC", "sometimes").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("invalid value 'sometimes'") && stderr.contains("--wal.fsync"), "{stderr}");
}

#[test]
fn loadgen_sends_and_finds_what_it_sent() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(dir.path(), &[]);
    let endpoint = format!("http://{}", lookout.grpc);
    let sent = lookout_cmd(&[
        "loadgen",
        "--endpoint",
        &endpoint,
        "--fresh-batches",
        "3",
        "--batch-size",
        "10",
        "--concurrency",
        "2",
    ]);
    assert!(sent.contains("requests_ok=3 requests_failed=0"), "{sent}");
    assert_eq!(
        lookout.metric("lookout_ingest_accepted_items_total", &[("signal", "traces"), ("transport", "grpc")]),
        30.0
    );
    let query_url = format!("http://{}", lookout.http);
    let found = lookout_cmd(&[
        "loadgen",
        "--trace-by-id",
        "5",
        "--fresh-batches",
        "3",
        "--batch-size",
        "10",
        "--query-url",
        &query_url,
    ]);
    assert!(found.contains("trace_by_id requests=5 found=5"), "{found}");
    let cycled = lookout_cmd(&[
        "loadgen",
        "--endpoint",
        &endpoint,
        "--signal",
        "logs",
        "--duration",
        "200ms",
        "--distinct-batches",
        "2",
        "--batch-size",
        "5",
    ]);
    assert!(cycled.contains("requests_failed=0"), "{cycled}");
}

fn lookout_cmd(args: &[&str]) -> String {
    let out = lookout(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
