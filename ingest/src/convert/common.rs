use lookout_storage::{AnyValue, Attributes, KeyValue, Resource, Scope, SpanId, TraceId};
use opentelemetry_proto::tonic::common::v1 as otlp;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;

pub(crate) fn value(v: Option<otlp::AnyValue>) -> AnyValue {
    match v.and_then(|v| v.value) {
        None | Some(Value::StringValueStrindex(_)) => AnyValue::Empty,
        Some(Value::StringValue(s)) => AnyValue::String(s),
        Some(Value::BoolValue(b)) => AnyValue::Bool(b),
        Some(Value::IntValue(i)) => AnyValue::Int(i),
        Some(Value::DoubleValue(d)) => AnyValue::Double(d),
        Some(Value::BytesValue(b)) => AnyValue::Bytes(b),
        Some(Value::ArrayValue(a)) => AnyValue::Array(a.values.into_iter().map(|v| value(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => AnyValue::Map(attributes(kv.values)),
    }
}

pub(crate) fn attributes(kvs: Vec<otlp::KeyValue>) -> Attributes {
    kvs.into_iter().map(|kv| KeyValue { key: kv.key, value: value(kv.value) }).collect()
}

pub(crate) fn resource(r: Option<OtlpResource>, schema_url: String) -> Resource {
    let r = r.unwrap_or_default();
    Resource { attributes: attributes(r.attributes), dropped_attributes_count: r.dropped_attributes_count, schema_url }
}

pub(crate) fn scope(s: Option<otlp::InstrumentationScope>, schema_url: String) -> Scope {
    let s = s.unwrap_or_default();
    Scope {
        name: s.name,
        version: s.version,
        attributes: attributes(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        schema_url,
    }
}

/// A required trace id: exactly 16 bytes, not all zero.
pub(crate) fn trace_id(bytes: &[u8]) -> Result<TraceId, String> {
    TraceId::from_slice(bytes).ok_or_else(|| id_problem("trace_id", bytes, 16))
}

/// A required span id: exactly 8 bytes, not all zero.
pub(crate) fn span_id(bytes: &[u8]) -> Result<SpanId, String> {
    SpanId::from_slice(bytes).ok_or_else(|| id_problem("span_id", bytes, 8))
}

/// An optional trace id: empty (or all zero, which OTLP also treats as unset) means none.
pub(crate) fn optional_trace_id(bytes: &[u8], field: &str) -> Result<Option<TraceId>, String> {
    match bytes.len() {
        0 => Ok(None),
        16 => Ok(TraceId::from_slice(bytes)),
        _ => Err(id_problem(field, bytes, 16)),
    }
}

/// An optional span id: empty or all zero means none.
pub(crate) fn optional_span_id(bytes: &[u8], field: &str) -> Result<Option<SpanId>, String> {
    match bytes.len() {
        0 => Ok(None),
        8 => Ok(SpanId::from_slice(bytes)),
        _ => Err(id_problem(field, bytes, 8)),
    }
}

fn id_problem(field: &str, bytes: &[u8], len: usize) -> String {
    if bytes.len() == len {
        format!("{field} is all zeroes")
    } else {
        format!("{field} must be {len} bytes, got {}", bytes.len())
    }
}
