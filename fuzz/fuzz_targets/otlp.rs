//! OTLP export requests as the receivers get them: the first byte picks the signal and the
//! encoding (protobuf or OTLP/JSON), the rest is the body. Decoding and conversion into
//! Lookout's model must return an error for anything malformed, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_ingest::{convert_logs, convert_metrics, convert_traces, decode};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let json = selector & 1 == 1;
    match (selector >> 1) % 3 {
        0 => {
            if let Ok(request) = decode::<ExportTraceServiceRequest>(body, json) {
                let _ = convert_traces(request);
            }
        }
        1 => {
            if let Ok(request) = decode::<ExportLogsServiceRequest>(body, json) {
                let _ = convert_logs(request);
            }
        }
        _ => {
            if let Ok(request) = decode::<ExportMetricsServiceRequest>(body, json) {
                let _ = convert_metrics(request);
            }
        }
    }
});
