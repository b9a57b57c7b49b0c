use std::fs::OpenOptions;
use std::io::Write;

use prometheus::Registry;

use super::*;
use crate::{
    AnyValue, Apply, Batch, KeyValue, LogRecord, Payload, Resource, ResourceGroup, Scope, ScopeGroup, Tenant,
    TenantPayload, WalMetrics,
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

/// Appends one record per body; returns what the apply hook saw.
fn write(dir: &Path, bodies: &[&str], fsync: FsyncPolicy) -> Vec<(WalPosition, TenantPayload)> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let metrics = WalMetrics::new(&Registry::new()).unwrap();
    let applied = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&applied);
    let apply: Apply = Box::new(move |position, record| sink.lock().unwrap().push((position, record)));
    let wal = Wal::open(dir, WalOptions { fsync, ..WalOptions::default() }, metrics, apply).unwrap();
    rt.block_on(async {
        for body in bodies {
            let record = record(body);
            wal.append(encode_record(&record).unwrap(), record).await.unwrap();
        }
    });
    wal.close();
    std::mem::take(&mut *applied.lock().unwrap())
}

fn replay_with_positions(dir: &Path) -> (Vec<(WalPosition, TenantPayload)>, ReplayStats) {
    let mut out = Vec::new();
    let stats = WalReader::new(dir).replay(true, |p, r| out.push((p, r))).unwrap();
    (out, stats)
}

fn replay(dir: &Path) -> (Vec<TenantPayload>, ReplayStats) {
    let (records, stats) = replay_with_positions(dir);
    (records.into_iter().map(|(_, r)| r).collect(), stats)
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
fn durable_records_are_applied_in_order_at_the_positions_replay_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut applied = write(dir.path(), &["a", "b", "c"], FsyncPolicy::Always);
    applied.extend(write(dir.path(), &["d"], FsyncPolicy::Never));
    let (replayed, _) = replay_with_positions(dir.path());
    assert_eq!(applied, replayed);
    let positions: Vec<WalPosition> = applied.iter().map(|(p, _)| *p).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(positions[0], WalPosition { segment: 1, offset: HEADER_LEN as u64 });
    assert_eq!(positions[3].segment, 2);
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
    let wal =
        Wal::open(dir.path(), WalOptions::default(), WalMetrics::new(&Registry::new()).unwrap(), Box::new(|_, _| {}))
            .unwrap();
    wal.close();
    let err = rt.block_on(wal.append(encode_record(&record("x")).unwrap(), record("x"))).unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
}

#[test]
fn segments_no_store_needs_are_removed_but_never_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    // Every open starts a new segment: five opens, five segments with one record each.
    for body in ["a", "b", "c", "d", "e"] {
        write(dir.path(), &[body], FsyncPolicy::Never);
    }
    let metrics = WalMetrics::new(&Registry::new()).unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default(), metrics, Box::new(|_, _| {})).unwrap();
    let before: Vec<u64> = list_segments(dir.path()).unwrap().into_iter().map(|(i, _)| i).collect();
    assert_eq!(before, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(wal.truncate(|| 3).unwrap(), 2, "1 and 2 go, 3 is needed");
    assert_eq!(wal.truncate(|| u64::MAX).unwrap(), 3, "all but the current one");
    let after: Vec<u64> = list_segments(dir.path()).unwrap().into_iter().map(|(i, _)| i).collect();
    assert_eq!(after, vec![6]);
    assert_eq!(WalNeed::From(WalPosition { segment: 7, offset: 9 }).first_segment(), 7);
    assert_eq!(WalNeed::Everything.first_segment(), 0);
    wal.close();
}

/// Regression: the writer used to move to a new segment as soon as a group was written, before
/// handing its records to the stores. Truncation in that moment saw stores that needed nothing
/// and deleted the segment; a `kill -9` before the log store's next commit lost the records,
/// acknowledged by then.
#[test]
fn a_segment_is_not_deleted_before_its_records_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (entered, applying) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let apply: Apply = Box::new(move |_, r: TenantPayload| {
        if r == record("held") {
            entered.send(()).unwrap();
            released.recv().unwrap();
        }
    });
    // Every group fills a segment.
    let options = WalOptions { fsync: FsyncPolicy::Never, segment_size: 1, ..WalOptions::default() };
    let wal =
        std::sync::Arc::new(Wal::open(dir.path(), options, WalMetrics::new(&Registry::new()).unwrap(), apply).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let appender = {
        let wal = std::sync::Arc::clone(&wal);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(wal.append(encode_record(&record("held")).unwrap(), record("held"))).unwrap();
        })
    };
    applying.recv().unwrap();
    // Written, not yet applied: the stores know nothing of it, and its segment stays.
    assert_eq!(wal.truncate(|| u64::MAX).unwrap(), 0);
    assert!(segment_path(dir.path(), 1).exists());
    release.send(()).unwrap();
    appender.join().unwrap();
    // Once the next record is answered, the writer has left the first segment behind.
    rt.block_on(wal.append(encode_record(&record("next")).unwrap(), record("next"))).unwrap();
    assert!(wal.truncate(|| u64::MAX).unwrap() >= 1);
    assert!(!segment_path(dir.path(), 1).exists());
    wal.close();
}
