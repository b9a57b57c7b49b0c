//! Label sets: point attributes, promoted resource attributes, `job` and `instance`, and the
//! `target_info` series, as Prometheus 3's `createAttributes` and `addResourceTargetInfo` build
//! them (`storage/remote/otlptranslator/prometheusremotewrite/helper.go`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lookout_storage::{AnyValue, Attributes, Label, Labels, METRIC_NAME, Resource};

use super::names::label_name;

/// Resource attributes that become `job` and `instance` rather than `target_info` labels.
pub(crate) const IDENTIFYING: [&str; 3] = ["service.namespace", "service.name", "service.instance.id"];

/// An attribute value as text, as the collector's `pcommon.Value.AsString` writes it: strings
/// as they are, numbers in shortest form, bytes in base64, arrays and maps as JSON.
pub(crate) fn value_string(v: &AnyValue) -> String {
    match v {
        AnyValue::Empty => String::new(),
        AnyValue::String(s) => s.clone(),
        AnyValue::Bool(b) => b.to_string(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => double_string(*d),
        AnyValue::Bytes(b) => base64(b),
        AnyValue::Array(_) | AnyValue::Map(_) => {
            let mut out = String::new();
            write_json(&mut out, v);
            out
        }
    }
}

/// A double as Go's JSON encoder writes it (ES6 number formatting): plain decimal, or an
/// exponent below 1e-6 and from 1e21 on.
fn double_string(d: f64) -> String {
    if d.is_nan() {
        return "json: unsupported value: NaN".to_owned();
    }
    if d.is_infinite() {
        return format!("json: unsupported value: {}", if d > 0.0 { "+Inf" } else { "-Inf" });
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e-7`/`1e21`; Go writes `1e-07`/`1e+21` and then strips the leading zero.
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{d}")
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// JSON as Go's `encoding/json` writes the raw value: map keys sorted, last duplicate wins.
fn write_json(out: &mut String, v: &AnyValue) {
    match v {
        AnyValue::Empty => out.push_str("null"),
        AnyValue::String(s) => write_json_string(out, s),
        AnyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AnyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        AnyValue::Double(d) if d.is_finite() => out.push_str(&double_string(*d)),
        AnyValue::Double(_) => out.push_str("null"),
        AnyValue::Bytes(b) => write_json_string(out, &base64(b)),
        AnyValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        AnyValue::Map(kvs) => {
            let sorted: BTreeMap<&str, &AnyValue> = kvs.iter().map(|kv| (kv.key.as_str(), &kv.value)).collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json(out, v);
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    // serde_json escapes the same characters Go does for the ones that matter in label values.
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

/// The string value of resource attribute `key`, if present.
pub(crate) fn resource_attr(resource: &Resource, key: &str) -> Option<String> {
    resource.attributes.iter().rev().find(|kv| kv.key == key).map(|kv| value_string(&kv.value))
}

/// Labels shared by every series of one resource: promoted attributes, `job` and `instance`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResourceLabels {
    /// Promoted resource attributes, sanitised, sorted by original key.
    promoted: Vec<(String, String)>,
    /// `service.namespace/service.name` or `service.name`.
    job: Option<String>,
    /// `service.instance.id`.
    instance: Option<String>,
}

impl ResourceLabels {
    /// Labels for `resource`; names that sanitise to nothing are reported in `errors`.
    pub(crate) fn new(resource: &Resource, promote: &[String], errors: &mut Vec<String>) -> ResourceLabels {
        let mut promoted: Vec<(&str, String)> = resource
            .attributes
            .iter()
            .filter(|kv| promote.contains(&kv.key))
            .map(|kv| (kv.key.as_str(), value_string(&kv.value)))
            .collect();
        promoted.sort_by(|a, b| a.0.cmp(b.0));
        let promoted = promoted
            .into_iter()
            .filter_map(|(k, v)| match label_name(k) {
                Ok(name) => Some((name, v)),
                Err(e) => {
                    errors.push(e);
                    None
                }
            })
            .collect();
        let job =
            resource_attr(resource, "service.name").map(|name| match resource_attr(resource, "service.namespace") {
                Some(ns) => format!("{ns}/{name}"),
                None => name,
            });
        let instance = resource_attr(resource, "service.instance.id");
        ResourceLabels { promoted, job, instance }
    }
}

/// The label set of a point without `__name__`, as `createAttributes`: attributes sorted by key
/// and sanitised (values of keys that sanitise alike joined with `;` in key order), promoted
/// resource attributes where no attribute took the name, then `job` and `instance` (these win).
pub(crate) fn point_labels(attrs: &Attributes, res: &ResourceLabels) -> Result<BTreeMap<String, String>, String> {
    let mut out = attribute_labels(attrs, &[])?;
    for (name, value) in &res.promoted {
        out.entry(name.clone()).or_insert_with(|| value.clone());
    }
    if let Some(job) = &res.job {
        out.insert("job".to_owned(), job.clone());
    }
    if let Some(instance) = &res.instance {
        out.insert("instance".to_owned(), instance.clone());
    }
    Ok(out)
}

/// Attributes (except `ignore`) as sanitised labels, colliding names merged with `;`.
fn attribute_labels(attrs: &Attributes, ignore: &[&str]) -> Result<BTreeMap<String, String>, String> {
    // OTLP maps have unique keys; if a sender repeats one, the last value is the one kept.
    let mut by_key: BTreeMap<&str, &AnyValue> = BTreeMap::new();
    for kv in attrs.iter().filter(|kv| !ignore.contains(&kv.key.as_str())) {
        by_key.insert(&kv.key, &kv.value);
    }
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in by_key {
        let name = label_name(key)?;
        let value = value_string(value);
        match out.get_mut(&name) {
            Some(existing) => {
                existing.push(';');
                existing.push_str(&value);
            }
            None => {
                out.insert(name, value);
            }
        }
    }
    Ok(out)
}

/// Turns a label map plus `__name__` and extra labels into [`Labels`] (extras win).
pub(crate) fn finish(base: &BTreeMap<String, String>, name: &str, extra: Option<(&str, &str)>) -> Labels {
    let mut labels: Vec<Label> = base.iter().map(|(k, v)| Label::new(k.clone(), v.clone())).collect();
    if let Some((k, v)) = extra {
        labels.push(Label::new(k, v));
    }
    labels.push(Label::new(METRIC_NAME, name));
    Labels::new(labels)
}

/// The `target_info` labels of a resource, or `None` when Prometheus would not emit it: no
/// attribute besides the identifying ones, or neither `job` nor `instance`. Promoted attributes
/// stay on `target_info` too (Prometheus clears the promotion list before building it).
pub(crate) fn target_info_labels(resource: &Resource, keep_identifying: bool) -> Result<Option<Labels>, String> {
    let non_identifying = resource.attributes.iter().filter(|kv| !IDENTIFYING.contains(&kv.key.as_str())).count();
    if non_identifying == 0 {
        return Ok(None);
    }
    let ignore: &[&str] = if keep_identifying { &[] } else { &IDENTIFYING };
    let mut base = attribute_labels(&resource.attributes, ignore)?;
    let res = ResourceLabels::new(resource, &[], &mut Vec::new());
    if let Some(job) = res.job {
        base.insert("job".to_owned(), job);
    }
    if let Some(instance) = res.instance {
        base.insert("instance".to_owned(), instance);
    }
    if !base.contains_key("job") && !base.contains_key("instance") {
        return Ok(None);
    }
    Ok(Some(finish(&base, "target_info", None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_the_collector_writes_them() {
        assert_eq!(value_string(&AnyValue::Double(1.5)), "1.5");
        assert_eq!(value_string(&AnyValue::Double(3.0)), "3");
        assert_eq!(value_string(&AnyValue::Double(1e21)), "1e+21");
        assert_eq!(value_string(&AnyValue::Double(1e-7)), "1e-7");
        assert_eq!(value_string(&AnyValue::Int(-4)), "-4");
        assert_eq!(value_string(&AnyValue::Bool(true)), "true");
        assert_eq!(value_string(&AnyValue::Bytes(b"hello".to_vec())), "aGVsbG8=");
        let map = AnyValue::Map(vec![
            lookout_storage::KeyValue { key: "b".into(), value: AnyValue::Int(1) },
            lookout_storage::KeyValue { key: "a".into(), value: AnyValue::Array(vec![AnyValue::String("x".into())]) },
        ]);
        assert_eq!(value_string(&map), r#"{"a":["x"],"b":1}"#);
    }
}
