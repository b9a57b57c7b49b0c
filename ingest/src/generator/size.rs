//! The size a span has when encoded as an OTLP protobuf `Span` message: what Tempo's
//! `traces_spanmetrics_size_total` adds up (`span.Size()` in Tempo's span metrics processor).
//!
//! Computed from the model without building the protobuf message. The model cannot tell an
//! absent attribute value or status from an empty one; both are counted as present (OTLP SDKs
//! always send a status), so a span that had neither may count two bytes more than it was.

use lookout_storage::{AnyValue, KeyValue, Span, SpanEvent, SpanKind, SpanLink, StatusCode};

/// Bytes a varint takes.
fn varint(v: u64) -> usize {
    // One byte per started group of 7 significant bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A length-delimited field (tag below 16) holding `len` bytes.
fn delimited(len: usize) -> usize {
    1 + varint(len as u64) + len
}

/// An optional string or bytes field (proto3 leaves out empty ones).
fn text(len: usize) -> usize {
    if len == 0 { 0 } else { delimited(len) }
}

/// An optional varint field with a tag below 16.
fn uint(v: u64) -> usize {
    if v == 0 { 0 } else { 1 + varint(v) }
}

/// An optional fixed64 field.
fn fixed64(v: u64) -> usize {
    if v == 0 { 0 } else { 9 }
}

fn any_value(v: &AnyValue) -> usize {
    match v {
        AnyValue::Empty => 0,
        // A oneof member is written even when it holds its type's default.
        AnyValue::String(s) => delimited(s.len()),
        AnyValue::Bool(_) => 2,
        AnyValue::Int(i) => 1 + varint(*i as u64),
        AnyValue::Double(_) => 9,
        AnyValue::Bytes(b) => delimited(b.len()),
        AnyValue::Array(values) => delimited(values.iter().map(|v| delimited(any_value(v))).sum()),
        AnyValue::Map(kvs) => delimited(attributes(kvs)),
    }
}

fn key_value(kv: &KeyValue) -> usize {
    text(kv.key.len()) + delimited(any_value(&kv.value))
}

fn attributes(kvs: &[KeyValue]) -> usize {
    kvs.iter().map(|kv| delimited(key_value(kv))).sum()
}

fn event(e: &SpanEvent) -> usize {
    fixed64(e.time_unix_nano)
        + text(e.name.len())
        + attributes(&e.attributes)
        + uint(u64::from(e.dropped_attributes_count))
}

fn link(l: &SpanLink) -> usize {
    delimited(16)
        + delimited(8)
        + text(l.trace_state.len())
        + attributes(&l.attributes)
        + uint(u64::from(l.dropped_attributes_count))
        + if l.flags == 0 { 0 } else { 5 }
}

fn kind_number(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn status_number(code: StatusCode) -> u64 {
    match code {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

/// Encoded size of `span` as an OTLP `Span` message, in bytes.
pub(super) fn encoded_len(span: &Span) -> usize {
    let status = text(span.status.message.len()) + uint(status_number(span.status.code));
    delimited(16)
        + delimited(8)
        + text(span.trace_state.len())
        + span.parent_span_id.map_or(0, |_| delimited(8))
        // `flags` is field 16, fixed32: a two-byte tag and four bytes.
        + if span.flags == 0 { 0 } else { 6 }
        + text(span.name.len())
        + uint(kind_number(span.kind))
        + fixed64(span.start_time_unix_nano)
        + fixed64(span.end_time_unix_nano)
        + attributes(&span.attributes)
        + uint(u64::from(span.dropped_attributes_count))
        + span.events.iter().map(|e| delimited(event(e))).sum::<usize>()
        + uint(u64::from(span.dropped_events_count))
        + span.links.iter().map(|l| delimited(link(l))).sum::<usize>()
        + uint(u64::from(span.dropped_links_count))
        + delimited(status)
}
