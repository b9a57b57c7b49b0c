use std::time::Duration;

use super::interned;
use super::*;
use crate::{AnyValue, KeyValue, Labels, Resource, ResourceGroup, Scope, ScopeGroup, Stream, TraceId};

const MIN: i64 = 60_000_000_000;

fn pos(offset: u64) -> WalPosition {
    WalPosition { segment: 1, offset }
}

fn batch(labels: &[(&str, &str)], entries: &[(i64, &str)]) -> StreamBatch {
    StreamBatch {
        streams: vec![Stream {
            labels: Labels::from_pairs(labels.iter().copied()),
            entries: entries
                .iter()
                .map(|(t, l)| Entry { time_unix_nano: *t, line: (*l).into(), metadata: vec![] })
                .collect(),
        }],
    }
}

fn options() -> LogStoreOptions {
    LogStoreOptions { partition: Duration::from_secs(3600), ..LogStoreOptions::default() }
}

fn lines(store: &LogStore, tenant: &Tenant, backward: bool, line: Option<&LineQuery>) -> Vec<String> {
    let ids: Vec<u64> = store.streams(tenant, 0, i64::MAX, &|_| true).iter().map(|s| s.id).collect();
    let mut out = Vec::new();
    let scan = LogScan { streams: &ids, start: 0, end: i64::MAX, backward, line };
    store
        .scan(&scan, &mut |e| {
            out.push(e.line);
            true
        })
        .unwrap();
    out
}

#[test]
fn entries_come_back_in_time_order_either_way_after_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let t = Tenant::default();
    let now = now_nanos();
    store.append(pos(1), &t, batch(&[("app", "a")], &[(now - 2 * MIN, "two"), (now - 3 * MIN, "three")])).unwrap();
    store.append(pos(2), &t, batch(&[("app", "b")], &[(now - MIN, "one")])).unwrap();
    assert_eq!(lines(&store, &t, false, None), Vec::<String>::new(), "nothing is searchable before a commit");
    assert!(matches!(store.wal_needed(), WalNeed::From(p) if p == pos(1)));
    store.commit().unwrap();
    assert_eq!(store.wal_needed(), WalNeed::Nothing);
    assert_eq!(lines(&store, &t, false, None), ["three", "two", "one"]);
    assert_eq!(lines(&store, &t, true, None), ["one", "two", "three"]);
    assert_eq!(lines(&store, &Tenant::new("other").unwrap(), false, None), Vec::<String>::new());
}

#[test]
fn every_entry_gets_a_detected_level() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let t = Tenant::default();
    store.append(pos(1), &t, batch(&[("app", "a")], &[(now_nanos(), "level=error boom")])).unwrap();
    store.commit().unwrap();
    let ids: Vec<u64> = store.streams(&t, 0, i64::MAX, &|_| true).iter().map(|s| s.id).collect();
    let mut seen = Vec::new();
    store
        .scan(&LogScan { streams: &ids, start: 0, end: i64::MAX, backward: false, line: None }, &mut |e| {
            seen.push(e.metadata);
            true
        })
        .unwrap();
    assert_eq!(seen, [vec![Label::new("detected_level", "error")]]);
}

/// The index's answer for a `Contains` must include every line that holds the string: it
/// may include more (the caller re-checks), never fewer.
#[test]
fn line_pushdown_never_misses_a_line_that_contains_the_string() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let t = Tenant::default();
    let corpus = [
        "error",
        "errors everywhere",
        "xerrorx",
        "an Error happened",
        "connection refused by peer",
        "disconnection refused byte",
        "GET /api/v1/users?id=42 200",
        "user=alice took 12.5ms",
        "naïve café au lait",
        "",
        "::1 - - [27/Nov/2026] \"POST /x\"",
    ];
    let now = now_nanos();
    let entries: Vec<(i64, &str)> = corpus.iter().enumerate().map(|(i, l)| (now - MIN + i as i64, *l)).collect();
    store.append(pos(1), &t, batch(&[("app", "a")], &entries)).unwrap();
    store.commit().unwrap();
    let mut needles: Vec<String> = Vec::new();
    for line in corpus {
        let chars: Vec<char> = line.chars().collect();
        for i in 0..chars.len() {
            for j in i + 1..=chars.len().min(i + 6) {
                needles.push(chars[i..j].iter().collect());
            }
        }
    }
    needles.extend(["error".into(), "refused by".into(), "fé au".into(), "/v1/".into()]);
    for needle in needles {
        let q = LineQuery::Contains(needle.clone());
        let found = lines(&store, &t, false, Some(&q));
        for line in corpus.iter().filter(|l| l.contains(needle.as_str())) {
            assert!(found.iter().any(|f| f == line), "{needle:?}: index missed {line:?}");
        }
    }
    // Words bounded inside the string are looked up in the index; the rest is left to the
    // caller's check of each line (here: every line comes back).
    let refused = lines(&store, &t, false, Some(&LineQuery::Contains("connection refused by".into())));
    assert_eq!(refused, ["connection refused by peer", "disconnection refused byte"]);
    assert_eq!(lines(&store, &t, false, Some(&LineQuery::Contains("error".into()))).len(), corpus.len());
    let either = LineQuery::Any(vec![LineQuery::Contains(" alice ".into()), LineQuery::Contains("\"POST /".into())]);
    assert_eq!(lines(&store, &t, false, Some(&either)).len(), 2);
    let digits = lines(&store, &t, false, Some(&LineQuery::Contains("/v1/".into())));
    assert_eq!(digits.len(), corpus.len(), "tokens with digits are not indexed, so not looked up");
}

#[test]
fn committed_partitions_survive_a_reopen_and_replay_skips_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tenant::default();
    let now = now_nanos();
    {
        let store = LogStore::open(dir.path(), options()).unwrap();
        store.append(pos(1), &t, batch(&[("app", "a")], &[(now - MIN, "kept")])).unwrap();
        store.commit().unwrap();
        store.append(pos(2), &t, batch(&[("app", "a")], &[(now, "not committed")])).unwrap();
        // dropped without a commit, as by kill -9
    }
    let store = LogStore::open(dir.path(), options()).unwrap();
    assert_eq!(lines(&store, &t, false, None), ["kept"]);
    // Replay brings both records again: the first is already in the commit.
    store.append(pos(1), &t, batch(&[("app", "a")], &[(now - MIN, "kept")])).unwrap();
    store.append(pos(2), &t, batch(&[("app", "a")], &[(now, "not committed")])).unwrap();
    store.commit().unwrap();
    assert_eq!(lines(&store, &t, false, None), ["kept", "not committed"]);
}

#[test]
fn retention_deletes_whole_partitions_outside_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogStoreOptions { retention: Duration::from_secs(3 * 3600), ..options() };
    let store = LogStore::open(dir.path(), options).unwrap();
    let t = Tenant::default();
    let now = now_nanos();
    let hour = 60 * MIN;
    let entries: Vec<(i64, String)> = (0..3).map(|h| (now - h * hour - MIN, format!("h{h}"))).collect();
    for (i, (time, line)) in entries.iter().enumerate() {
        store.append(pos(i as u64), &t, batch(&[("app", "a")], &[(*time, line)])).unwrap();
    }
    store.commit().unwrap();
    assert_eq!(store.stats().partitions, 3);
    // Two hours later, the partition of "h2" ends more than 3 h ago; the others do not.
    let removed = store.enforce_retention(now + 2 * hour).unwrap();
    assert!(removed >= 1);
    let left = lines(&store, &t, false, None);
    assert!(!left.contains(&"h2".to_owned()) && left.contains(&"h0".to_owned()), "{left:?}");
    let everything_in_window = lines(&store, &t, false, None);
    assert_eq!(store.stats().entries as usize, everything_in_window.len());
    // Entries older than the retention are refused.
    store.append(pos(9), &t, batch(&[("app", "a")], &[(now - 10 * hour, "ancient")])).unwrap();
    assert_eq!(store.stats().dropped, 1);
}

#[test]
fn otlp_records_map_to_streams_as_loki_maps_them() {
    let resource = Resource {
        attributes: vec![
            KeyValue { key: "service.name".into(), value: AnyValue::String("shop".into()) },
            KeyValue { key: "k8s.pod.name".into(), value: AnyValue::String("shop-1".into()) },
            KeyValue { key: "host.name".into(), value: AnyValue::String("node-a".into()) },
        ],
        ..Resource::default()
    };
    let record = LogRecord {
        time_unix_nano: 1_000,
        observed_time_unix_nano: 2_000,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: AnyValue::String("payment failed".into()),
        attributes: vec![
            KeyValue { key: "http.status_code".into(), value: AnyValue::Int(502) },
            KeyValue {
                key: "user".into(),
                value: AnyValue::Map(vec![KeyValue { key: "id".into(), value: AnyValue::String("u1".into()) }]),
            },
        ],
        dropped_attributes_count: 0,
        flags: 1,
        trace_id: TraceId::from_slice(&[1; 16]),
        span_id: None,
        event_name: String::new(),
    };
    let batch = Batch {
        resources: vec![ResourceGroup {
            resource,
            scopes: vec![ScopeGroup {
                scope: Scope { name: "app.payments".into(), ..Scope::default() },
                items: vec![record],
            }],
        }],
    };
    let out = streams_from_otlp(&batch, &LogStoreOptions::default().promoted);
    assert_eq!(out.streams.len(), 1);
    let stream = &out.streams[0];
    assert_eq!(stream.labels, Labels::from_pairs([("k8s_pod_name", "shop-1"), ("service_name", "shop")]));
    let entry = &stream.entries[0];
    assert_eq!(entry.time_unix_nano, 1_000);
    assert_eq!(entry.line, "payment failed");
    let md: Vec<(&str, &str)> = entry.metadata.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
    assert_eq!(
        md,
        [
            ("http_status_code", "502"),
            ("user_id", "u1"),
            ("observed_timestamp", "2000"),
            ("severity_number", "17"),
            ("severity_text", "ERROR"),
            ("flags", "1"),
            ("trace_id", "01010101010101010101010101010101"),
            ("host_name", "node-a"),
            ("scope_name", "app.payments"),
        ]
    );
}

#[test]
fn a_resource_without_service_name_gets_one_discovered_or_unknown_service() {
    let group = |attrs: Vec<KeyValue>| ResourceGroup {
        resource: Resource { attributes: attrs, ..Resource::default() },
        scopes: vec![ScopeGroup {
            scope: Scope::default(),
            items: vec![LogRecord {
                time_unix_nano: 1,
                observed_time_unix_nano: 0,
                severity_number: 0,
                severity_text: String::new(),
                body: AnyValue::Int(7),
                attributes: vec![],
                dropped_attributes_count: 0,
                flags: 0,
                trace_id: None,
                span_id: None,
                event_name: String::new(),
            }],
        }],
    };
    let promoted = vec!["k8s.container.name".to_owned(), "service.name".to_owned()];
    let batch = Batch {
        resources: vec![
            group(vec![KeyValue { key: "k8s.container.name".into(), value: AnyValue::String("web".into()) }]),
            group(vec![]),
        ],
    };
    let out = streams_from_otlp(&batch, &promoted);
    assert_eq!(out.streams[0].labels.get("service_name"), Some("web"));
    assert_eq!(out.streams[1].labels.get("service_name"), Some(UNKNOWN_SERVICE));
    assert_eq!(out.streams[1].entries[0].line, "7");
}

/// A commit closes the writers of partitions older than two partition lengths, and their last
/// merges finish on a thread of their own. A late entry for such a partition opens a writer
/// again once the old one is done (the index takes one writer at a time).
#[test]
fn a_partition_closed_by_a_commit_takes_late_entries_while_its_writer_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let t = Tenant::default();
    let old = now_nanos() - 3 * 60 * MIN;
    for (i, line) in ["first", "late", "later"].into_iter().enumerate() {
        store.append(pos(i as u64 + 1), &t, batch(&[("app", "a")], &[(old + i as i64 * MIN, line)])).unwrap();
        assert_eq!(store.commit().unwrap(), 1);
    }
    assert_eq!(lines(&store, &t, false, None), ["first", "late", "later"]);
    store.close().unwrap();
    let reopened = LogStore::open(dir.path(), options()).unwrap();
    assert_eq!(lines(&reopened, &t, false, None), ["first", "late", "later"]);
}

/// Entries of `testdata/logs-v1`, a store written by format version 1 (commit dacf2f3), one
/// entry per append from position 1 on, committed once: (label `app`, time, line, metadata).
fn v1_fixture_entries() -> Vec<(&'static str, i64, String, Vec<Label>)> {
    const T0: i64 = 1_796_000_000_000_000_000;
    let mut out = Vec::new();
    for i in 0..40i64 {
        let app = ["a", "b", "c"][(i % 3) as usize];
        let mut metadata = vec![
            Label::new("code_function", "handle"),
            Label::new("thread_id", (i % 4).to_string()),
            Label::new("observed_timestamp", (T0 + i * 1_000_000_000 + 5).to_string()),
            Label::new("severity_number", if i % 5 == 0 { "17" } else { "9" }),
            Label::new("severity_text", if i % 5 == 0 { "ERROR" } else { "INFO" }),
        ];
        if i % 2 == 0 {
            metadata.push(Label::new("trace_id", format!("{:032x}", 0xabc000 + i)));
            metadata.push(Label::new("span_id", format!("{:016x}", 0xdef000 + i)));
        }
        if i % 7 == 0 {
            metadata.push(Label::new("user", format!("user-{i}")));
            metadata.push(Label::new("user", "duplicate"));
        }
        out.push((app, T0 + i * 1_000_000_000, format!("line {i} of {app} status={}", 200 + i), metadata));
    }
    out
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Every entry of a store, oldest first, as (time, line, metadata).
fn entries(store: &LogStore, tenant: &Tenant) -> Vec<(i64, String, Vec<Label>)> {
    let ids: Vec<u64> = store.streams(tenant, 0, i64::MAX, &|_| true).iter().map(|s| s.id).collect();
    let mut out = Vec::new();
    let scan = LogScan { streams: &ids, start: 0, end: i64::MAX, backward: false, line: None };
    store
        .scan(&scan, &mut |e| {
            out.push((e.time, e.line, e.metadata));
            true
        })
        .unwrap();
    out
}

/// Metadata as a scan gives it back: the names kept in columns after the others, in a fixed
/// order, then `detected_level`.
fn in_column_order(metadata: Vec<Label>, level: &str) -> Vec<Label> {
    const COLUMNS: [&str; 4] = ["observed_timestamp", "severity_number", "trace_id", "span_id"];
    let (mut out, moved): (Vec<Label>, Vec<Label>) =
        metadata.into_iter().partition(|l| !COLUMNS.contains(&l.name.as_str()));
    for name in COLUMNS {
        out.extend(moved.iter().filter(|l| l.name == name).cloned());
    }
    out.push(Label::new("detected_level", level));
    out
}

#[test]
fn partitions_written_in_format_version_1_read_back_whole_and_take_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/logs-v1"), dir.path());
    let options = LogStoreOptions { retention: Duration::from_secs(100 * 365 * 86400), ..options() };
    let store = LogStore::open(dir.path(), options.clone()).unwrap();
    let t = Tenant::default();
    let mut expected: Vec<(i64, String, Vec<Label>)> = v1_fixture_entries()
        .into_iter()
        .map(|(_, time, line, metadata)| {
            let level = if metadata.iter().any(|l| l.value == "ERROR") { "error" } else { "info" };
            (time, line, in_column_order(metadata, level))
        })
        .collect();
    assert_eq!(entries(&store, &t), expected);
    let tail = v1_fixture_entries().pop().unwrap().1 + 1;
    let late = vec![Label::new("thread_id", "9"), Label::new("trace_id", format!("{:032x}", 7))];
    store
        .append(
            pos(1000),
            &t,
            StreamBatch {
                streams: vec![Stream {
                    labels: Labels::from_pairs([("app", "a")]),
                    entries: vec![Entry { time_unix_nano: tail, line: "late".into(), metadata: late.clone() }],
                }],
            },
        )
        .unwrap();
    store.commit().unwrap();
    drop(store);
    let store = LogStore::open(dir.path(), options).unwrap();
    expected.push((tail, "late".into(), in_column_order(late, "unknown")));
    assert_eq!(entries(&store, &t), expected);
}

#[test]
fn metadata_comes_back_exactly_wherever_each_value_was_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let t = Tenant::default();
    let now = now_nanos() - 10 * MIN;
    let long = "v".repeat(interned::MAX_VALUE_LEN + 1);
    let mut want = Vec::new();
    let mut batches = Vec::new();
    // More distinct users than a name keeps in its column: the later ones are stored.
    for i in 0..interned::MAX_VALUES_PER_NAME as i64 + 20 {
        let metadata = vec![
            Label::new("user", format!("u{i}")),
            Label::new("thread_id", (i % 3).to_string()),
            Label::new("http.method", "GET"),
            Label::new("user", "again"),
            Label::new("blob", if i % 50 == 0 { long.as_str() } else { "short" }),
            Label::new("trace_id", format!("{:032x}", i + 1)),
            Label::new("empty", ""),
        ];
        let app = if i % 2 == 0 { "a" } else { "b" };
        let time = now + i;
        batches.push(Stream {
            labels: Labels::from_pairs([("app", app)]),
            entries: vec![Entry { time_unix_nano: time, line: format!("line {i}"), metadata: metadata.clone() }],
        });
        want.push((time, format!("line {i}"), in_column_order(metadata, "unknown")));
    }
    // Streams out of time order within one append: the store adds them in time order.
    batches.reverse();
    store.append(pos(1), &t, StreamBatch { streams: batches }).unwrap();
    store.commit().unwrap();
    assert_eq!(entries(&store, &t), want);
    drop(store);
    let store = LogStore::open(dir.path(), options()).unwrap();
    assert_eq!(entries(&store, &t), want, "after reopening");
}

#[test]
fn entries_past_the_last_kept_metadata_set_come_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let t = Tenant::default();
    let now = now_nanos() - 10 * MIN;
    let count = interned::MAX_SETS as i64 + 100;
    let entries_in: Vec<Entry> = (0..count)
        .map(|i| Entry {
            time_unix_nano: now + i,
            line: format!("line {i}"),
            metadata: vec![Label::new("a", (i % 128).to_string()), Label::new("b", (i / 128).to_string())],
        })
        .collect();
    let want: Vec<(i64, String, Vec<Label>)> = entries_in
        .iter()
        .map(|e| (e.time_unix_nano, e.line.clone(), in_column_order(e.metadata.clone(), "unknown")))
        .collect();
    let batch =
        StreamBatch { streams: vec![Stream { labels: Labels::from_pairs([("app", "a")]), entries: entries_in }] };
    store.append(pos(1), &t, batch).unwrap();
    store.commit().unwrap();
    assert_eq!(entries(&store, &t), want);
}

#[test]
fn a_higher_compression_level_keeps_the_same_lines_in_fewer_bytes() {
    let now = now_nanos() - 10 * MIN;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let generated: Vec<(i64, String)> = (0..5000i64)
        .map(|i| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let words = ["GET", "POST", "/api/orders", "/api/pay", "status=200", "status=500", "cache", "miss"];
            let line: Vec<&str> = (0..12).map(|k| words[((rng >> (k * 3)) & 7) as usize]).collect();
            (now + i, format!("{} took={}ms", line.join(" "), rng % 1000))
        })
        .collect();
    let entries_in: Vec<(i64, &str)> = generated.iter().map(|(t, l)| (*t, l.as_str())).collect();
    let stored = |level: i32| {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), LogStoreOptions { compression_level: level, ..options() }).unwrap();
        let t = Tenant::default();
        store.append(pos(1), &t, batch(&[("app", "a")], &entries_in)).unwrap();
        store.commit().unwrap();
        let read: Vec<String> = lines(&store, &t, false, None);
        (store.stats().disk_bytes, read)
    };
    let (small, read_small) = stored(19);
    let (large, read_large) = stored(1);
    assert!(small < large, "level 19 took {small} bytes, level 1 {large}");
    assert_eq!(read_small, read_large);
    assert_eq!(read_small.len(), 5000);
    let err =
        LogStore::open(tempfile::tempdir().unwrap().path(), LogStoreOptions { compression_level: 0, ..options() });
    assert!(matches!(err, Err(Error::InvalidInput(m)) if m.contains("compression level")));
}
