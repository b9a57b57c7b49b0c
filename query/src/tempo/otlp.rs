//! Lookout's spans back into OTLP protobuf types, for Tempo's trace-by-id responses.

use std::sync::Arc;

use lookout_storage::{AnyValue, Attributes, Resource, Scope, SpanKind, StatusCode, TraceSpan};
use opentelemetry_proto::tonic::common::v1::{self as otlp_common, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{self as otlp, ResourceSpans, ScopeSpans, span};

fn value(v: &AnyValue) -> otlp_common::AnyValue {
    let value = match v {
        AnyValue::Empty => None,
        AnyValue::String(s) => Some(Value::StringValue(s.clone())),
        AnyValue::Bool(b) => Some(Value::BoolValue(*b)),
        AnyValue::Int(i) => Some(Value::IntValue(*i)),
        AnyValue::Double(d) => Some(Value::DoubleValue(*d)),
        AnyValue::Bytes(b) => Some(Value::BytesValue(b.clone())),
        AnyValue::Array(items) => {
            Some(Value::ArrayValue(otlp_common::ArrayValue { values: items.iter().map(value).collect() }))
        }
        AnyValue::Map(kvs) => Some(Value::KvlistValue(otlp_common::KeyValueList { values: attributes(kvs) })),
    };
    otlp_common::AnyValue { value }
}

fn attributes(kvs: &Attributes) -> Vec<otlp_common::KeyValue> {
    kvs.iter()
        .map(|kv| otlp_common::KeyValue { key: kv.key.clone(), value: Some(value(&kv.value)), ..Default::default() })
        .collect()
}

fn resource(r: &Resource) -> OtlpResource {
    OtlpResource {
        attributes: attributes(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        ..Default::default()
    }
}

fn scope(s: &Scope) -> otlp_common::InstrumentationScope {
    otlp_common::InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: attributes(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

fn kind(k: SpanKind) -> i32 {
    (match k {
        SpanKind::Unspecified => span::SpanKind::Unspecified,
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
    }) as i32
}

fn status_code(c: StatusCode) -> i32 {
    (match c {
        StatusCode::Unset => otlp::status::StatusCode::Unset,
        StatusCode::Ok => otlp::status::StatusCode::Ok,
        StatusCode::Error => otlp::status::StatusCode::Error,
    }) as i32
}

fn otlp_span(ts: &TraceSpan) -> otlp::Span {
    let s = &ts.span;
    otlp::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: kind(s.kind),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attributes(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: attributes(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attributes(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(otlp::Status { message: s.status.message.clone(), code: status_code(s.status.code) }),
    }
}

type ScopeGroup = (Arc<Scope>, Vec<otlp::Span>);

/// Groups spans by resource, then scope, in the order they come.
pub(crate) fn resource_spans(spans: &[TraceSpan]) -> Vec<ResourceSpans> {
    let mut out: Vec<(Arc<Resource>, Vec<ScopeGroup>)> = Vec::new();
    for ts in spans {
        let i = match out.iter().position(|(r, _)| Arc::ptr_eq(r, &ts.resource) || **r == *ts.resource) {
            Some(i) => i,
            None => {
                out.push((Arc::clone(&ts.resource), Vec::new()));
                out.len() - 1
            }
        };
        let group = &mut out[i].1;
        match group.iter_mut().find(|(s, _)| Arc::ptr_eq(s, &ts.scope) || **s == *ts.scope) {
            Some((_, spans)) => spans.push(otlp_span(ts)),
            None => group.push((Arc::clone(&ts.scope), vec![otlp_span(ts)])),
        }
    }
    out.into_iter()
        .map(|(r, scopes)| ResourceSpans {
            schema_url: r.schema_url.clone(),
            resource: Some(resource(&r)),
            scope_spans: scopes
                .into_iter()
                .map(|(s, spans)| ScopeSpans { schema_url: s.schema_url.clone(), scope: Some(scope(&s)), spans })
                .collect(),
        })
        .collect()
}
