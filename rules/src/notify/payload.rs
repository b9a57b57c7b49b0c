//! The JSON bodies the notifier sends, byte-compatible with what Prometheus and Alertmanager send:
//!
//! - to Alertmanager, `POST /api/v2/alerts` with the OpenAPI `postableAlerts` array, as Prometheus's
//!   `notifier.alertsToOpenAPIAlerts` builds it (`startsAt`/`endsAt` as `strfmt.DateTime`, i.e. RFC 3339
//!   with milliseconds, UTC);
//! - to a webhook, the `Message` of Alertmanager's `notify/webhook` (version `"4"`): its
//!   `template.Data` (`receiver`, `status`, `alerts`, `groupLabels`, `commonLabels`,
//!   `commonAnnotations`, `externalURL`) plus `version`, `groupKey` and `truncatedAlerts`. Times are
//!   Go's `time.Time` JSON (RFC 3339 with trailing zeros of the fraction dropped), and a firing alert's
//!   `endsAt` is Go's zero time, as Alertmanager's `types.Alerts` hides an end that is not reached yet.
//!
//! Webhook batches are grouped by `alertname`, as an Alertmanager root route with
//! `group_by: [alertname]` would group them; the `groupKey` is the key that route would give the
//! group: `{}:{alertname="<name>"}`.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::Alert;

/// Go's zero `time.Time` as `encoding/json` prints it: a firing alert's `endsAt` in a webhook body.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The webhook payload version Alertmanager sends (and this module reproduces).
pub(crate) const WEBHOOK_VERSION: &str = "4";

/// The label that names an alert and groups webhook notifications.
pub(crate) const ALERT_NAME: &str = "alertname";

/// Prometheus's `model.LabelSet.Fingerprint()` (which Alertmanager shows as an alert's
/// `fingerprint`): FNV-1a 64 over each label, in name order, as `name 0xff value 0xff`.
pub(crate) fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    const SEPARATOR: u8 = 0xff;
    let mut hash = OFFSET;
    let mut add = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    };
    // A BTreeMap iterates in byte order of the names, the order Go's sort.Strings gives.
    for (name, value) in labels {
        name.bytes().for_each(&mut add);
        add(SEPARATOR);
        value.bytes().for_each(&mut add);
        add(SEPARATOR);
    }
    hash
}

/// A fingerprint as Alertmanager prints it (`Fingerprint.String()`): 16 lowercase hex digits.
pub(crate) fn fingerprint_hex(labels: &BTreeMap<String, String>) -> String {
    format!("{:016x}", fingerprint(labels))
}

/// The `groupKey` Alertmanager gives a group of its root route (whose key is `{}`): the route key,
/// a colon and the group labels as Prometheus prints a label set, `{a="x", b="y"}` with Go `%q`
/// quoting of the values.
pub(crate) fn group_key(group_labels: &BTreeMap<&str, &str>) -> String {
    let mut key = String::from("{}:{");
    for (i, (name, value)) in group_labels.iter().enumerate() {
        if i > 0 {
            key.push_str(", ");
        }
        key.push_str(name);
        key.push('=');
        push_go_quoted(&mut key, value);
    }
    key.push('}');
    key
}

/// Appends `value` quoted the way Go's `%q` quotes a printable UTF-8 string.
fn push_go_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How many digits of the fraction of a second a formatted time shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fraction {
    /// Always three (`.000`), as go-openapi's `strfmt.DateTime` prints: the Alertmanager API.
    Millis,
    /// Up to nine, trailing zeros dropped and no dot for whole seconds, as Go's `time.Time` JSON:
    /// the webhook payload.
    Trimmed,
}

/// `time` as RFC 3339 in UTC (`2024-05-01T12:00:00.5Z`).
pub(crate) fn format_time(time: SystemTime, fraction: Fraction) -> String {
    let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
            if nanos == 0 { (-secs, 0) } else { (-secs - 1, 1_000_000_000 - nanos) }
        }
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out =
        format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", of_day / 3600, of_day % 3600 / 60, of_day % 60);
    match fraction {
        Fraction::Millis => {
            let _ = write!(out, ".{:03}", nanos / 1_000_000);
        }
        Fraction::Trimmed if nanos > 0 => {
            let digits = format!("{nanos:09}");
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
        Fraction::Trimmed => {}
    }
    out.push('Z');
    out
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// One element of Alertmanager's `postableAlerts`.
#[derive(Serialize)]
struct PostableAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
}

/// The body of `POST /api/v2/alerts` for `alerts`.
pub(crate) fn alertmanager_body<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> serde_json::Result<Vec<u8>> {
    let postable: Vec<PostableAlert<'_>> = alerts
        .into_iter()
        .map(|a| PostableAlert {
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: format_time(a.starts_at, Fraction::Millis),
            ends_at: a.ends_at.map(|t| format_time(t, Fraction::Millis)),
            generator_url: &a.generator_url,
        })
        .collect();
    serde_json::to_vec(&postable)
}

/// Alertmanager's webhook `Message` (`template.Data` + version, groupKey, truncatedAlerts).
#[derive(Serialize)]
struct WebhookMessage<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: Vec<WebhookAlert<'a>>,
    #[serde(rename = "groupLabels")]
    group_labels: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "commonLabels")]
    common_labels: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "commonAnnotations")]
    common_annotations: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    #[serde(rename = "groupKey")]
    group_key: String,
    #[serde(rename = "truncatedAlerts")]
    truncated_alerts: u64,
}

/// Alertmanager's `template.Alert`.
#[derive(Serialize)]
struct WebhookAlert<'a> {
    status: &'static str,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: String,
}

/// `firing` or `resolved`, as Alertmanager words an alert's or a group's status.
fn status(resolved: bool) -> &'static str {
    if resolved { "resolved" } else { "firing" }
}

/// Splits a batch into webhook groups, one per `alertname` (in name order), each alert once: a
/// later copy of the same label set (a resend that queued up behind a slow receiver) replaces the
/// earlier one in place.
pub(crate) fn group_by_alertname<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> Vec<Vec<&'a Alert>> {
    let mut groups: BTreeMap<&str, (Vec<&Alert>, BTreeMap<u64, usize>)> = BTreeMap::new();
    for alert in alerts {
        let (members, index) = groups.entry(alert.name()).or_default();
        match index.entry(fingerprint(&alert.labels)) {
            Entry::Occupied(at) => members[*at.get()] = alert,
            Entry::Vacant(slot) => {
                slot.insert(members.len());
                members.push(alert);
            }
        }
    }
    groups.into_values().map(|(members, _)| members).collect()
}

/// The labels (or annotations) that every alert of a non-empty group has with the same value.
fn common<'a>(
    alerts: &[&'a Alert],
    pick: impl Fn(&'a Alert) -> &'a BTreeMap<String, String>,
) -> BTreeMap<&'a str, &'a str> {
    let Some((first, rest)) = alerts.split_first() else {
        return BTreeMap::new();
    };
    let mut common: BTreeMap<&str, &str> = pick(first).iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for alert in rest {
        let map = pick(alert);
        common.retain(|k, v| map.get(*k).is_some_and(|other| other == v));
    }
    common
}

/// The webhook body for one group (alerts sharing an `alertname`), statuses as of `now`.
pub(crate) fn webhook_body(
    group: &[&Alert],
    receiver: &str,
    external_url: &str,
    now: SystemTime,
) -> serde_json::Result<Vec<u8>> {
    let alerts: Vec<WebhookAlert<'_>> = group
        .iter()
        .map(|a| {
            let resolved = a.is_resolved_at(now);
            WebhookAlert {
                status: status(resolved),
                labels: &a.labels,
                annotations: &a.annotations,
                starts_at: format_time(a.starts_at, Fraction::Trimmed),
                ends_at: match a.ends_at {
                    Some(end) if resolved => format_time(end, Fraction::Trimmed),
                    _ => GO_ZERO_TIME.to_owned(),
                },
                generator_url: &a.generator_url,
                fingerprint: fingerprint_hex(&a.labels),
            }
        })
        .collect();
    let any_firing = alerts.iter().any(|a| a.status == "firing");
    let group_labels: BTreeMap<&str, &str> = group
        .first()
        .and_then(|a| a.labels.get_key_value(ALERT_NAME))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .into_iter()
        .collect();
    let message = WebhookMessage {
        receiver,
        status: status(!any_firing),
        alerts,
        group_key: group_key(&group_labels),
        group_labels,
        common_labels: common(group, |a| &a.labels),
        common_annotations: common(group, |a| &a.annotations),
        external_url,
        version: WEBHOOK_VERSION,
        truncated_alerts: 0,
    };
    serde_json::to_vec(&message)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// Values from prometheus/common `model/signature_test.go`.
    #[test]
    fn fingerprint_matches_prometheus_common() {
        assert_eq!(fingerprint(&BTreeMap::new()), 14_695_981_039_346_656_037);
        assert_eq!(
            fingerprint(&labels(&[("name", "garland, briggs"), ("fear", "love is not enough")])),
            5_799_056_148_416_392_346
        );
        assert_eq!(fingerprint(&labels(&[("first-label", "first-label-value")])), 5_146_282_821_936_882_169);
        assert_eq!(
            fingerprint(&labels(&[("first-label", "first-label-value"), ("second-label", "second-label-value")])),
            3_195_800_080_984_914_717
        );
        assert_eq!(
            fingerprint(&labels(&[
                ("first-label", "first-label-value"),
                ("second-label", "second-label-value"),
                ("third-label", "third-label-value"),
            ])),
            13_843_036_195_897_128_121
        );
        assert_eq!(fingerprint_hex(&BTreeMap::new()), "cbf29ce484222325");
    }

    #[test]
    fn group_key_is_the_root_route_key_with_go_quoting() {
        assert_eq!(group_key(&BTreeMap::from([("alertname", "HighLatency")])), r#"{}:{alertname="HighLatency"}"#);
        assert_eq!(group_key(&BTreeMap::new()), "{}:{}");
        assert_eq!(
            group_key(&BTreeMap::from([("alertname", "a\"b\\c\nd\u{1}é")])),
            r#"{}:{alertname="a\"b\\c\nd\x01é"}"#
        );
    }

    #[test]
    fn times_format_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000);
        assert_eq!(format_time(t, Fraction::Millis), "2023-11-14T22:13:20.500Z");
        assert_eq!(format_time(t, Fraction::Trimmed), "2023-11-14T22:13:20.5Z");
        let whole = UNIX_EPOCH + Duration::from_secs(951_782_400); // a leap day
        assert_eq!(format_time(whole, Fraction::Trimmed), "2000-02-29T00:00:00Z");
        assert_eq!(format_time(whole, Fraction::Millis), "2000-02-29T00:00:00.000Z");
        let nanos = UNIX_EPOCH + Duration::new(0, 123_456_789);
        assert_eq!(format_time(nanos, Fraction::Trimmed), "1970-01-01T00:00:00.123456789Z");
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(format_time(before, Fraction::Millis), "1969-12-31T23:59:58.500Z");
    }

    fn alert(name: &str, instance: &str, ends_at: Option<SystemTime>) -> Alert {
        Alert {
            labels: labels(&[("alertname", name), ("instance", instance), ("severity", "page")]),
            annotations: labels(&[("summary", "it broke"), ("instance", instance)]),
            starts_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            ends_at,
            generator_url: "http://lookout:3000/graph".to_owned(),
            tenant: None,
        }
    }

    #[test]
    fn grouping_is_by_alertname_and_keeps_the_latest_copy() {
        let first = alert("B", "x", None);
        let mut again = first.clone();
        again.annotations.insert("summary".to_owned(), "still broken".to_owned());
        let other = alert("A", "y", None);
        let third = alert("B", "z", None);
        let batch = [first, other, again, third];
        let groups = group_by_alertname(&batch);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].len(), 1);
        assert_eq!(groups[0][0].name(), "A");
        assert_eq!(groups[1].len(), 2);
        assert_eq!(groups[1][0].annotations["summary"], "still broken");
        assert_eq!(groups[1][1].labels["instance"], "z");
    }

    #[test]
    fn alertmanager_body_omits_missing_end_and_generator() {
        let mut a = alert("A", "x", None);
        a.generator_url.clear();
        let body: serde_json::Value = serde_json::from_slice(&alertmanager_body([&a]).unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!([{
                "labels": {"alertname": "A", "instance": "x", "severity": "page"},
                "annotations": {"summary": "it broke", "instance": "x"},
                "startsAt": "2023-11-14T22:13:20.000Z",
            }])
        );
    }
}
