//! OTLP log records → Loki streams, as Loki 3's OTLP endpoint maps them: the promoted resource
//! attributes become stream labels (dots and other invalid characters turned into `_`), and
//! everything else — the other resource attributes, the scope, the record's attributes and
//! fields — becomes structured metadata of each entry.

use std::collections::HashMap;

use crate::{AnyValue, Batch, Entry, KeyValue, Label, Labels, LogRecord, Stream, StreamBatch};

/// Loki's default list of resource attributes stored as stream labels
/// (`distributor.otlp_config.default_resource_attributes_as_index_labels`).
pub const DEFAULT_PROMOTED: [&str; 17] = [
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];

/// Stream labels Loki looks in, in order, for a `service_name` when the resource has no
/// `service.name` (`limits_config.discover_service_name`).
const DISCOVER_SERVICE_NAME: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// The service name given to streams where none was found.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Maps a batch of OTLP log records to streams. `promoted` lists the resource attributes (OTLP
/// names, with dots) that become stream labels.
pub fn streams_from_otlp(batch: &Batch<LogRecord>, promoted: &[String]) -> StreamBatch {
    let mut out = StreamBatch::default();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for group in &batch.resources {
        let mut labels = Vec::new();
        let mut resource_metadata = Vec::new();
        for kv in &group.resource.attributes {
            if promoted.iter().any(|p| p == &kv.key) {
                flatten(&kv.key, &kv.value, "", &mut labels);
            } else {
                flatten(&kv.key, &kv.value, "", &mut resource_metadata);
            }
        }
        let mut labels = Labels::new(labels);
        if labels.get("service_name").is_none() {
            let found = DISCOVER_SERVICE_NAME.iter().find_map(|name| labels.get(name)).map(str::to_owned);
            labels.set("service_name", found.unwrap_or_else(|| UNKNOWN_SERVICE.to_owned()));
        }
        let slot = *index.entry(labels.clone()).or_insert_with(|| {
            out.streams.push(Stream { labels, entries: Vec::new() });
            out.streams.len() - 1
        });
        for scope_group in &group.scopes {
            let scope = &scope_group.scope;
            let mut scope_metadata = Vec::new();
            for kv in &scope.attributes {
                flatten(&kv.key, &kv.value, "", &mut scope_metadata);
            }
            let fields = [("scope_name", &scope.name), ("scope_version", &scope.version)];
            for (name, value) in fields {
                if !value.is_empty() {
                    scope_metadata.push(Label::new(name, value.as_str()));
                }
            }
            if scope.dropped_attributes_count != 0 {
                scope_metadata
                    .push(Label::new("scope_dropped_attributes_count", scope.dropped_attributes_count.to_string()));
            }
            let entries = &mut out.streams[slot].entries;
            entries.reserve(scope_group.items.len());
            for record in &scope_group.items {
                let mut entry = entry(record);
                entry.metadata.extend(resource_metadata.iter().cloned());
                entry.metadata.extend(scope_metadata.iter().cloned());
                entries.push(entry);
            }
        }
    }
    out.streams.retain(|s| !s.entries.is_empty());
    out
}

fn entry(record: &LogRecord) -> Entry {
    let mut metadata = Vec::with_capacity(record.attributes.len() + 6);
    for kv in &record.attributes {
        flatten(&kv.key, &kv.value, "", &mut metadata);
    }
    if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
        metadata.push(Label::new("observed_timestamp", record.observed_time_unix_nano.to_string()));
    }
    if record.severity_number != 0 {
        metadata.push(Label::new("severity_number", record.severity_number.to_string()));
    }
    if !record.severity_text.is_empty() {
        metadata.push(Label::new("severity_text", record.severity_text.as_str()));
    }
    if record.dropped_attributes_count != 0 {
        metadata.push(Label::new("dropped_attributes_count", record.dropped_attributes_count.to_string()));
    }
    if record.flags != 0 {
        metadata.push(Label::new("flags", record.flags.to_string()));
    }
    if let Some(id) = record.trace_id {
        metadata.push(Label::new("trace_id", id.to_hex()));
    }
    if let Some(id) = record.span_id {
        metadata.push(Label::new("span_id", id.to_hex()));
    }
    // Not in Loki's mapping (its OTLP predates event names); kept rather than lost.
    if !record.event_name.is_empty() {
        metadata.push(Label::new("event_name", record.event_name.as_str()));
    }
    let time = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => now_nanos(),
        (0, observed) => observed,
        (time, _) => time,
    };
    Entry { time_unix_nano: i64::try_from(time).unwrap_or(i64::MAX), line: as_string(&record.body), metadata }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Adds `key: value` to `out`, the key normalized to a label name; maps are flattened with `_`
/// between the levels, as Loki does.
fn flatten(key: &str, value: &AnyValue, prefix: &str, out: &mut Vec<Label>) {
    let name = if prefix.is_empty() { normalize_label(key) } else { normalize_label(&format!("{prefix}_{key}")) };
    match value {
        AnyValue::Map(kvs) => {
            for KeyValue { key, value } in kvs {
                flatten(key, value, &name, out);
            }
        }
        other => out.push(Label::new(name, as_string(other))),
    }
}

/// A label name from an attribute name, as Prometheus's OTLP translator normalizes it: every
/// character other than `[a-zA-Z0-9_]` becomes `_`, a leading digit gets `key_` before it and a
/// single leading `_` gets `key`.
pub fn normalize_label(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// A value as text, as the OpenTelemetry collector's `AsString` writes it: strings as they are,
/// numbers and booleans in their usual form, bytes in base64, maps and arrays as JSON.
pub fn as_string(value: &AnyValue) -> String {
    match value {
        AnyValue::Empty => String::new(),
        AnyValue::String(s) => s.clone(),
        AnyValue::Bool(b) => b.to_string(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => format_double(*d),
        AnyValue::Bytes(b) => base64(b),
        AnyValue::Array(_) | AnyValue::Map(_) => to_json(value).to_string(),
    }
}

fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "json: unsupported value: NaN".into();
    }
    if d.is_infinite() {
        return format!("json: unsupported value: {}", if d > 0.0 { "+Inf" } else { "-Inf" });
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) { format!("{d:e}") } else { d.to_string() }
}

fn to_json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Empty => Value::Null,
        AnyValue::String(s) => Value::String(s.clone()),
        AnyValue::Bool(b) => Value::Bool(*b),
        AnyValue::Int(i) => Value::from(*i),
        AnyValue::Double(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        AnyValue::Bytes(b) => Value::String(base64(b)),
        AnyValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        AnyValue::Map(kvs) => Value::Object(kvs.iter().map(|kv| (kv.key.clone(), to_json(&kv.value))).collect()),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
