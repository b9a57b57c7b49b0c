use lookout_storage::{Payload, Span, SpanEvent, SpanKind, SpanLink, Status, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1 as otlp;

use super::common::{attributes, optional_span_id, resource, scope, span_id, trace_id};
use super::{Converted, Rejections, regroup};

/// Converts an OTLP trace export request, leaving out spans with invalid ids.
pub fn traces(request: ExportTraceServiceRequest) -> Converted {
    let mut rejections = Rejections::default();
    let groups = request.resource_spans.into_iter().map(|rs| {
        let scopes = rs.scope_spans.into_iter().map(|ss| (scope(ss.scope, ss.schema_url), ss.spans));
        (resource(rs.resource, rs.schema_url), scopes)
    });
    let batch = regroup(groups, |span, [r, s, i]| {
        convert_span(span)
            .map_err(|why| rejections.reject(1, || format!("resource_spans[{r}].scope_spans[{s}].spans[{i}]: {why}")))
            .ok()
    });
    rejections.finish(Payload::Traces(batch), "spans")
}

fn convert_span(s: otlp::Span) -> Result<Span, String> {
    let links =
        s.links.into_iter().enumerate().map(|(i, l)| convert_link(l).map_err(|why| format!("links[{i}]: {why}")));
    let status = s.status.unwrap_or_default();
    Ok(Span {
        trace_id: trace_id(&s.trace_id)?,
        span_id: span_id(&s.span_id)?,
        parent_span_id: optional_span_id(&s.parent_span_id, "parent_span_id")?,
        links: links.collect::<Result<_, _>>()?,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: SpanKind::from_otlp(s.kind),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attributes(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .into_iter()
            .map(|e| SpanEvent {
                time_unix_nano: e.time_unix_nano,
                name: e.name,
                attributes: attributes(e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        dropped_links_count: s.dropped_links_count,
        status: Status { code: StatusCode::from_otlp(status.code), message: status.message },
    })
}

fn convert_link(l: otlp::span::Link) -> Result<SpanLink, String> {
    Ok(SpanLink {
        trace_id: trace_id(&l.trace_id)?,
        span_id: span_id(&l.span_id)?,
        trace_state: l.trace_state,
        attributes: attributes(l.attributes),
        dropped_attributes_count: l.dropped_attributes_count,
        flags: l.flags,
    })
}
