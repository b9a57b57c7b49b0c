use std::time::{Duration, SystemTime};

use super::*;
use crate::{
    AnyValue, AttributeValues, KeyValue, KeyValues, ResourceGroup, ScopeGroup, SpanEvent, SpanId, SpanKind, SpanLink,
    Status, StatusCode,
};

fn span(trace: u8, id: u8, start: u64) -> Span {
    Span {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: (id > 1).then_some(SpanId([1; 8])),
        trace_state: String::new(),
        flags: 1,
        name: format!("op-{id}"),
        kind: SpanKind::Server,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000,
        attributes: vec![KeyValue { key: "n".into(), value: AnyValue::Int(id as i64) }],
        dropped_attributes_count: 0,
        events: vec![SpanEvent {
            time_unix_nano: start + 1,
            name: "e".into(),
            attributes: vec![],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 2,
        links: vec![SpanLink {
            trace_id: TraceId([9; 16]),
            span_id: SpanId([9; 8]),
            trace_state: String::new(),
            attributes: vec![],
            dropped_attributes_count: 0,
            flags: 0,
        }],
        dropped_links_count: 0,
        status: Status {
            code: if id.is_multiple_of(2) { StatusCode::Error } else { StatusCode::Unset },
            message: String::new(),
        },
    }
}

fn batch(service: &str, spans: Vec<Span>) -> Batch<Span> {
    let resource = Resource {
        attributes: vec![KeyValue { key: "service.name".into(), value: AnyValue::String(service.into()) }],
        ..Resource::default()
    };
    Batch {
        resources: vec![ResourceGroup { resource, scopes: vec![ScopeGroup { scope: Scope::default(), items: spans }] }],
    }
}

fn pos(offset: u64) -> WalPosition {
    WalPosition { segment: 1, offset }
}

fn tenant(name: &str) -> Tenant {
    Tenant::new(name).unwrap()
}

fn options() -> SpanStoreOptions {
    SpanStoreOptions { batch_rows: 3, ..SpanStoreOptions::default() }
}

fn names(spans: &[TraceSpan]) -> Vec<String> {
    spans.iter().map(|s| s.span.name.clone()).collect()
}

#[test]
fn a_trace_reads_the_same_from_the_head_and_from_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), options()).unwrap();
    let a = tenant("a");
    store.append(pos(8), &a, batch("checkout", (1..=7).map(|i| span(1, i, 100 + u64::from(i))).collect())).unwrap();
    store.append(pos(9), &a, batch("cart", vec![span(2, 1, 50), span(1, 8, 99)])).unwrap();
    let before = store.trace(&a, TraceId([1; 16])).unwrap();
    assert_eq!(before.len(), 8);
    assert_eq!(names(&before)[0], "op-8", "ordered by start time");

    store.cut().unwrap();
    assert_eq!(store.stats(), SpanStoreStats { head_spans: 0, block_spans: 9, blocks: 1 });
    let after = store.trace(&a, TraceId([1; 16])).unwrap();
    assert_eq!(after, before, "every field survives the block, the trace straddling record batches");
    assert_eq!(after[0].resource.service_name(), Some("cart"));
    assert_eq!(after[1].resource.service_name(), Some("checkout"));
    assert!(Arc::ptr_eq(&after[1].resource, &after[2].resource), "rows of one resource share it");
    assert!(store.trace(&a, TraceId([3; 16])).unwrap().is_empty());
}

#[test]
fn tenants_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), options()).unwrap();
    store.append(pos(8), &tenant("a"), batch("s", vec![span(1, 1, 1)])).unwrap();
    store.append(pos(9), &tenant("b"), batch("s", vec![span(1, 2, 2)])).unwrap();
    for cut in [false, true] {
        if cut {
            store.cut().unwrap();
        }
        assert_eq!(names(&store.trace(&tenant("a"), TraceId([1; 16])).unwrap()), ["op-1"]);
        assert_eq!(names(&store.trace(&tenant("b"), TraceId([1; 16])).unwrap()), ["op-2"]);
        assert!(store.trace(&tenant("c"), TraceId([1; 16])).unwrap().is_empty());
    }
    assert_eq!(store.stats().blocks, 2, "one block per tenant");
}

#[test]
fn blocks_and_checkpoint_survive_a_reopen_and_a_trace_spans_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let a = tenant("a");
    {
        let store = SpanStore::open(dir.path(), options()).unwrap();
        assert_eq!(store.checkpoint(), None);
        store.append(pos(8), &a, batch("s", vec![span(1, 1, 1), span(1, 2, 2)])).unwrap();
        store.cut().unwrap();
        assert_eq!(store.checkpoint(), Some(pos(8)));
    }
    let store = SpanStore::open(dir.path(), options()).unwrap();
    assert_eq!(store.checkpoint(), Some(pos(8)));
    store.append(pos(20), &a, batch("s", vec![span(1, 3, 3)])).unwrap();
    assert_eq!(names(&store.trace(&a, TraceId([1; 16])).unwrap()), ["op-1", "op-2", "op-3"]);
    store.cut().unwrap();
    assert_eq!(store.checkpoint(), Some(pos(20)));
    assert_eq!(store.stats().blocks, 2);
}

#[test]
fn blocks_of_an_interrupted_cut_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let a = tenant("a");
    {
        let store = SpanStore::open(dir.path(), options()).unwrap();
        store.append(pos(8), &a, batch("s", vec![span(1, 1, 1)])).unwrap();
        store.cut().unwrap();
        store.append(pos(9), &a, batch("s", vec![span(2, 1, 1)])).unwrap();
        store.cut().unwrap();
    }
    // As if the process died after writing the second cut's block but before its checkpoint.
    let first = Checkpoint { version: BLOCK_VERSION, cut: 1, wal_through: pos(8) };
    std::fs::write(dir.path().join("checkpoint.json"), serde_json::to_vec(&first).unwrap()).unwrap();
    let store = SpanStore::open(dir.path(), options()).unwrap();
    assert_eq!(store.checkpoint(), Some(pos(8)), "replay resumes after the last complete cut");
    assert_eq!(store.stats().blocks, 1);
    assert!(store.trace(&a, TraceId([2; 16])).unwrap().is_empty());
    assert!(!dir.path().join("blocks/a/0000000002").exists());
}

#[test]
fn retention_deletes_whole_blocks_past_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let a = tenant("a");
    let day = 24 * 3600 * 1_000_000_000u64;
    let now = SystemTime::UNIX_EPOCH + Duration::from_nanos(100 * day);
    let store =
        SpanStore::open(dir.path(), SpanStoreOptions { retention: Duration::from_secs(7 * 24 * 3600), ..options() })
            .unwrap();
    store.append(pos(8), &a, batch("s", vec![span(1, 1, 90 * day)])).unwrap();
    store.cut().unwrap();
    store.append(pos(9), &a, batch("s", vec![span(2, 1, 95 * day)])).unwrap();
    store.cut().unwrap();
    assert_eq!(store.enforce_retention(now).unwrap(), 1);
    assert!(store.trace(&a, TraceId([1; 16])).unwrap().is_empty());
    assert_eq!(store.trace(&a, TraceId([2; 16])).unwrap().len(), 1);
    assert!(!dir.path().join("blocks/a/0000000001").exists());
    assert_eq!(store.enforce_retention(now).unwrap(), 0);
}

#[test]
fn the_head_is_cut_when_full_or_old() {
    let dir = tempfile::tempdir().unwrap();
    let a = tenant("a");
    let store = SpanStore::open(
        dir.path(),
        SpanStoreOptions { max_head_spans: 3, max_head_age: Duration::from_secs(60), ..options() },
    )
    .unwrap();
    let now = SystemTime::now();
    assert!(!store.cut_if_due(now).unwrap(), "nothing to cut");
    store.append(pos(8), &a, batch("s", vec![span(1, 1, 1), span(1, 2, 2)])).unwrap();
    assert!(!store.cut_if_due(now).unwrap());
    assert!(store.cut_if_due(now + Duration::from_secs(61)).unwrap(), "old enough");
    store.append(pos(9), &a, batch("s", vec![span(2, 1, 1), span(2, 2, 2), span(2, 3, 3)])).unwrap();
    assert!(store.cut_if_due(now).unwrap(), "full");
    assert_eq!(store.stats(), SpanStoreStats { head_spans: 0, block_spans: 5, blocks: 2 });
}

#[test]
fn a_damaged_block_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let a = tenant("a");
    let store = SpanStore::open(dir.path(), options()).unwrap();
    store.append(pos(8), &a, batch("s", vec![span(1, 1, 1)])).unwrap();
    store.cut().unwrap();
    std::fs::write(dir.path().join("blocks/a/0000000001/spans.arrow"), b"not arrow").unwrap();
    assert!(store.trace(&a, TraceId([1; 16])).is_err());
    // At the next open the checksums find it, and the block is moved aside.
    let reopened = SpanStore::open(dir.path(), options()).unwrap();
    assert_eq!(reopened.quarantined().len(), 1);
    assert!(!dir.path().join("blocks/a/0000000001").exists());
    assert!(dir.path().join("quarantine").read_dir().unwrap().next().is_some());
}

#[test]
fn a_head_twice_over_its_limit_is_cut_by_the_appender_itself() {
    let dir = tempfile::tempdir().unwrap();
    let a = tenant("a");
    let store = SpanStore::open(dir.path(), SpanStoreOptions { max_head_spans: 2, ..options() }).unwrap();
    store.append(pos(8), &a, batch("s", vec![span(1, 1, 1), span(1, 2, 2), span(1, 3, 3)])).unwrap();
    assert_eq!(store.stats().blocks, 0, "over the limit: a cut is requested, not forced");
    store.append(pos(9), &a, batch("s", vec![span(2, 1, 1)])).unwrap();
    assert_eq!(store.stats(), SpanStoreStats { head_spans: 0, block_spans: 4, blocks: 1 });
    assert_eq!(store.checkpoint(), Some(pos(9)));
}

#[test]
fn blocks_list_the_string_values_of_their_attributes() {
    let mut spans: Vec<Span> = (1..=3).map(|i| span(1, i, 1)).collect();
    spans[0].attributes.push(KeyValue { key: "http.route".into(), value: AnyValue::String("/a".into()) });
    spans[1].attributes.push(KeyValue { key: "http.route".into(), value: AnyValue::String("/b".into()) });
    let dir = tempfile::tempdir().unwrap();
    let store = SpanStore::open(dir.path(), options()).unwrap();
    store.append(pos(8), &tenant("a"), batch("checkout", spans)).unwrap();
    store.cut().unwrap();
    let text = std::fs::read_to_string(dir.path().join("blocks/a/0000000001/attributes.json")).unwrap();
    let values: AttributeValues = serde_json::from_str(&text).unwrap();
    let routes: Vec<&str> = match values.key(false, "http.route") {
        KeyValues::Values(set) => set.iter().map(String::as_str).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(routes, ["/a", "/b"]);
    assert_eq!(values.key(false, "n"), KeyValues::Unlisted, "integer values are not listed");
    assert_eq!(values.key(false, "missing"), KeyValues::Absent);
    assert!(matches!(values.key(true, "service.name"), KeyValues::Values(set) if set.contains("checkout")));
}

#[test]
fn a_key_with_too_many_values_is_listed_without_them() {
    let spans: Vec<Span> = (0..=AttributeValues::MAX_VALUES)
        .map(|i| {
            let mut s = span(1, 1, i as u64);
            s.attributes = vec![KeyValue { key: "user".into(), value: AnyValue::String(format!("u{i}")) }];
            s
        })
        .collect();
    let rows: Vec<TraceSpan> = spans
        .into_iter()
        .map(|span| TraceSpan { resource: Arc::new(Resource::default()), scope: Arc::new(Scope::default()), span })
        .collect();
    let refs: Vec<&TraceSpan> = rows.iter().collect();
    assert_eq!(AttributeValues::collect(&refs).key(false, "user"), KeyValues::Unlisted);
}
