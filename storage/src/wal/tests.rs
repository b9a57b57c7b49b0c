use std::fs::OpenOptions;
use std::io::Write;

use prometheus::Registry;

use super::*;
use crate::{
    AnyValue, Batch, KeyValue, LogRecord, Payload, Resource, ResourceGroup, Scope, ScopeGroup, Tenant, TenantPayload,
    WalMetrics,
};

fn record(body: &str) -> TenantPayload {
    let log = LogRecord {
        time_unix_nano: 1,
        observed_time_unix_nano: 2,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: AnyValue::String(body.into()),
        attributes: vec![KeyValue { key: "k".into(), value: AnyValue::Int(7) }],
        dropped_attributes_count: 0,
        flags: 0,
        trace_id: None,
        span_id: None,
        event_name: String::new(),
    };
    let batch = Batch {
        resources: vec![ResourceGroup {
            resource: Resource::default(),
            scopes: vec![ScopeGroup { scope: Scope::default(), items: vec![log] }],
        }],
    };
    TenantPayload { tenant: Tenant::new("t1").unwrap(), payload: Payload::Logs(batch) }
}

fn write(dir: &Path, bodies: &[&str], fsync: FsyncPolicy) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let metrics = WalMetrics::new(&Registry::new()).unwrap();
    let wal = Wal::open(dir, WalOptions { fsync, ..WalOptions::default() }, metrics).unwrap();
    rt.block_on(async {
        for body in bodies {
            wal.append(encode_record(&record(body)).unwrap()).await.unwrap();
        }
    });
    wal.close();
}

fn replay(dir: &Path) -> (Vec<TenantPayload>, ReplayStats) {
    let mut out = Vec::new();
    let stats = WalReader::new(dir).replay(true, |r| out.push(r)).unwrap();
    (out, stats)
}

#[test]
fn replays_what_was_appended_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &["a", "b"], FsyncPolicy::Always);
    write(dir.path(), &["c"], FsyncPolicy::Interval(std::time::Duration::from_millis(5)));
    let (records, stats) = replay(dir.path());
    assert_eq!(records, vec![record("a"), record("b"), record("c")]);
    assert_eq!(stats.segments, 2);
    assert!(stats.damaged.is_empty());
}

#[test]
fn torn_tail_is_truncated_and_writing_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &["a", "b"], FsyncPolicy::Never);
    let (_, last) = list_segments(dir.path()).unwrap().pop().unwrap();
    let full = std::fs::metadata(&last).unwrap().len();
    OpenOptions::new().write(true).open(&last).unwrap().set_len(full - 3).unwrap();

    let (records, stats) = replay(dir.path());
    assert_eq!(records, vec![record("a")]);
    assert_eq!(stats.damaged.len(), 1);
    assert_eq!(stats.damaged[0].2, "torn record");

    let (again, stats) = replay(dir.path());
    assert_eq!(again, vec![record("a")]);
    assert!(stats.damaged.is_empty(), "repair made the segment clean");

    write(dir.path(), &["c"], FsyncPolicy::Always);
    assert_eq!(replay(dir.path()).0, vec![record("a"), record("c")]);
}

#[test]
fn flipped_byte_fails_the_checksum_and_garbage_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &["a", "b"], FsyncPolicy::Never);
    let (_, last) = list_segments(dir.path()).unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 0xff;
    std::fs::write(&last, &bytes).unwrap();
    OpenOptions::new().append(true).open(&last).unwrap().write_all(b"garbage after the damage").unwrap();

    let (records, stats) = replay(dir.path());
    assert_eq!(records, vec![record("a")]);
    assert_eq!(stats.damaged[0].2, "record checksum mismatch");
}

#[test]
fn torn_header_and_foreign_file_do_not_stop_replay() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &["a"], FsyncPolicy::Never);
    std::fs::write(segment_path(dir.path(), 5), b"LKW").unwrap();
    std::fs::write(segment_path(dir.path(), 6), b"this is not a wal segment at all").unwrap();
    let (records, stats) = replay(dir.path());
    assert_eq!(records, vec![record("a")]);
    assert_eq!(stats.damaged.len(), 2);
}

#[test]
fn appends_after_close_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default(), WalMetrics::new(&Registry::new()).unwrap()).unwrap();
    wal.close();
    let err = rt.block_on(wal.append(encode_record(&record("x")).unwrap())).unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
}
