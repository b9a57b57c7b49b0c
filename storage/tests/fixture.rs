//! A WAL segment written by format version 1 must still read back the same.
//! Regenerate (only when the format version changes on purpose) with `UPDATE_GOLDEN=1`.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use lookout_storage::*;

fn record() -> TenantPayload {
    let span = Span {
        trace_id: TraceId::from_slice(&[0x5b; 16]).unwrap(),
        span_id: SpanId::from_slice(&[0xee; 8]).unwrap(),
        parent_span_id: None,
        trace_state: "k=v".into(),
        flags: 1,
        name: "GET /orders".into(),
        kind: SpanKind::Server,
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: 1_544_712_661_000_000_000,
        attributes: vec![KeyValue { key: "http.status".into(), value: AnyValue::Int(200) }],
        dropped_attributes_count: 0,
        events: vec![SpanEvent {
            time_unix_nano: 1,
            name: "e".into(),
            attributes: vec![],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Status { code: StatusCode::Error, message: "boom".into() },
    };
    let resource = Resource {
        attributes: vec![KeyValue { key: "service.name".into(), value: AnyValue::String("checkout".into()) }],
        dropped_attributes_count: 0,
        schema_url: String::new(),
    };
    TenantPayload {
        tenant: Tenant::new("team-a").unwrap(),
        payload: Payload::Traces(Batch {
            resources: vec![ResourceGroup {
                resource,
                scopes: vec![ScopeGroup { scope: Scope::default(), items: vec![span] }],
            }],
        }),
    }
}

#[test]
fn version_1_segment_still_reads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wal-v1");
    let segment = dir.join("0000000001.wal");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let mut bytes = b"LKWAL\0".to_vec();
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&encode_record(&record()).unwrap());
        std::fs::write(&segment, bytes).unwrap();
    }
    let mut read = Vec::new();
    let stats = WalReader::new(&dir).replay(false, |_, r| read.push(r)).unwrap();
    assert!(stats.damaged.is_empty());
    assert_eq!(read, vec![record()]);
}
