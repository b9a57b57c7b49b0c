use lookout_storage::{LogRecord, Payload};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1 as otlp;

use super::common::{attributes, optional_span_id, optional_trace_id, resource, scope, value};
use super::{Converted, Rejections, regroup};

/// Converts an OTLP logs export request, leaving out records with malformed trace or span ids.
pub fn logs(request: ExportLogsServiceRequest) -> Converted {
    let mut rejections = Rejections::default();
    let groups = request.resource_logs.into_iter().map(|rl| {
        let scopes = rl.scope_logs.into_iter().map(|sl| (scope(sl.scope, sl.schema_url), sl.log_records));
        (resource(rl.resource, rl.schema_url), scopes)
    });
    let batch = regroup(groups, |record, [r, s, i]| {
        convert_record(record)
            .map_err(|why| {
                rejections.reject(1, || format!("resource_logs[{r}].scope_logs[{s}].log_records[{i}]: {why}"))
            })
            .ok()
    });
    rejections.finish(Payload::Logs(batch), "log records")
}

fn convert_record(r: otlp::LogRecord) -> Result<LogRecord, String> {
    Ok(LogRecord {
        trace_id: optional_trace_id(&r.trace_id, "trace_id")?,
        span_id: optional_span_id(&r.span_id, "span_id")?,
        time_unix_nano: r.time_unix_nano,
        observed_time_unix_nano: r.observed_time_unix_nano,
        severity_number: r.severity_number,
        severity_text: r.severity_text,
        body: value(r.body),
        attributes: attributes(r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        flags: r.flags,
        event_name: r.event_name,
    })
}
