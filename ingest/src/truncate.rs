//! `limits.max_attribute_bytes`: string attribute values of spans and log records, and of their
//! resources, scopes, events and links, longer than the limit are cut to it (on a character
//! boundary), as Tempo's `max_attribute_bytes` does, rather than refusing the item. The answer
//! says how many were cut, and `lookout_ingest_truncated_attributes_total` counts them.
//! Metric attributes become labels, which have limits of their own that refuse the series.

use lookout_storage::{AnyValue, Attributes, Batch, Payload, ResourceGroup};

/// Cuts what is too long in `payload`; says so if anything was.
pub(crate) fn attributes(payload: &mut Payload, max: usize) -> Option<(u64, String)> {
    if max == 0 {
        return None;
    }
    let mut cut = 0;
    match payload {
        Payload::Traces(batch) => each(batch, max, &mut cut, |span, max, cut| {
            values(&mut span.attributes, max, cut);
            for event in &mut span.events {
                values(&mut event.attributes, max, cut);
            }
            for link in &mut span.links {
                values(&mut link.attributes, max, cut);
            }
        }),
        Payload::Logs(batch) => each(batch, max, &mut cut, |record, max, cut| values(&mut record.attributes, max, cut)),
        _ => {}
    }
    (cut > 0).then(|| {
        (
            cut,
            format!(
                "{cut} attribute values longer than {max} bytes were cut to that length (limits.max_attribute_bytes)"
            ),
        )
    })
}

fn each<T>(batch: &mut Batch<T>, max: usize, cut: &mut u64, item: impl Fn(&mut T, usize, &mut u64)) {
    for ResourceGroup { resource, scopes } in &mut batch.resources {
        values(&mut resource.attributes, max, cut);
        for scope in scopes {
            values(&mut scope.scope.attributes, max, cut);
            for i in &mut scope.items {
                item(i, max, cut);
            }
        }
    }
}

fn values(attributes: &mut Attributes, max: usize, cut: &mut u64) {
    for kv in attributes {
        value(&mut kv.value, max, cut);
    }
}

fn value(v: &mut AnyValue, max: usize, cut: &mut u64) {
    match v {
        AnyValue::String(s) if s.len() > max => {
            s.truncate(s.floor_char_boundary(max));
            *cut += 1;
        }
        AnyValue::Bytes(b) if b.len() > max => {
            b.truncate(max);
            *cut += 1;
        }
        AnyValue::Array(items) => {
            for item in items {
                value(item, max, cut);
            }
        }
        AnyValue::Map(kvs) => values(kvs, max, cut),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use lookout_storage::{KeyValue, LogRecord, Resource, Scope, ScopeGroup};

    use super::*;

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue { key: key.into(), value: AnyValue::String(value.into()) }
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary_and_counted_nested_ones_too() {
        let record = LogRecord {
            time_unix_nano: 1,
            observed_time_unix_nano: 0,
            severity_number: 0,
            severity_text: String::new(),
            body: AnyValue::Empty,
            dropped_attributes_count: 0,
            flags: 0,
            trace_id: None,
            span_id: None,
            event_name: String::new(),
            attributes: vec![
                text("short", "abc"),
                text("long", &"é".repeat(10)),
                KeyValue { key: "list".into(), value: AnyValue::Array(vec![AnyValue::String("x".repeat(9))]) },
            ],
        };
        let mut payload = Payload::Logs(Batch {
            resources: vec![ResourceGroup {
                resource: Resource {
                    attributes: vec![text("service.name", "checkout-service")],
                    ..Resource::default()
                },
                scopes: vec![ScopeGroup { scope: Scope::default(), items: vec![record] }],
            }],
        });
        let (cut, message) = attributes(&mut payload, 5).unwrap();
        assert_eq!(cut, 3, "{message}");
        assert!(message.contains("limits.max_attribute_bytes"));
        let Payload::Logs(batch) = payload else { unreachable!() };
        assert_eq!(batch.resources[0].resource.attributes[0].value, AnyValue::String("check".into()));
        let attrs = &batch.resources[0].scopes[0].items[0].attributes;
        assert_eq!(attrs[0].value, AnyValue::String("abc".into()));
        assert_eq!(attrs[1].value, AnyValue::String("éé".into()), "4 bytes: the third é would not fit whole");
        assert_eq!(attrs[2].value, AnyValue::Array(vec![AnyValue::String("xxxxx".into())]));
    }
}
