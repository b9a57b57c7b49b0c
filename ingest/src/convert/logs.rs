use lookout_storage::{Batch, LogRecord, Payload, ResourceGroup, ScopeGroup};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1 as otlp;

use super::common::{attributes, optional_span_id, optional_trace_id, resource, scope, value};
use super::{Converted, Rejections};

/// Converts an OTLP logs export request, leaving out records with malformed trace or span ids.
pub fn logs(request: ExportLogsServiceRequest) -> Converted {
    let mut rejections = Rejections::default();
    let mut batch = Batch::default();
    for (ri, rl) in request.resource_logs.into_iter().enumerate() {
        let mut scopes = Vec::with_capacity(rl.scope_logs.len());
        for (si, sl) in rl.scope_logs.into_iter().enumerate() {
            let mut items = Vec::with_capacity(sl.log_records.len());
            for (i, record) in sl.log_records.into_iter().enumerate() {
                match convert_record(record) {
                    Ok(record) => items.push(record),
                    Err(why) => rejections.reject(1, || {
                        format!("resource_logs[{ri}].scope_logs[{si}].log_records[{i}]: {why}")
                    }),
                }
            }
            if !items.is_empty() {
                scopes.push(ScopeGroup {
                    scope: scope(sl.scope, sl.schema_url),
                    items,
                });
            }
        }
        if !scopes.is_empty() {
            batch.resources.push(ResourceGroup {
                resource: resource(rl.resource, rl.schema_url),
                scopes,
            });
        }
    }
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
