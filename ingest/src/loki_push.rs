//! Loki's push API, `POST /loki/api/v1/push`: a snappy-compressed protobuf `PushRequest`
//! (what promtail, Alloy and the Loki clients send) or its JSON form, with structured
//! metadata, as Loki's distributor takes them.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_storage::{Entry, Label, Labels, Stream, StreamBatch};
use serde::Deserialize;

use crate::remote_write::{IngesterSlot, Wire, error_response, ready_and_tenant, unsnappy};
use crate::{Error, Result};

/// How a push body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// Snappy-compressed protobuf (the default).
    Protobuf,
    /// JSON, as it is.
    Json,
    /// Gzip-compressed JSON.
    GzipJson,
}

/// The router with `POST /loki/api/v1/push`; until `slot` is filled it answers 503.
pub fn router(slot: IngesterSlot) -> Router {
    Router::new().route("/loki/api/v1/push", post(push)).with_state(slot)
}

async fn push(State(slot): State<IngesterSlot>, headers: HeaderMap, body: Bytes) -> Response {
    let (ingester, tenant) = match ready_and_tenant(&slot, &headers) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let json = content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    let format = match (json, encoding.to_ascii_lowercase().as_str()) {
        (true, "") => PushFormat::Json,
        (true, "gzip") => PushFormat::GzipJson,
        (false, "" | "snappy") => PushFormat::Protobuf,
        (_, other) => {
            let message = format!("Content-Encoding {other:?} not supported");
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, message).into_response();
        }
    };
    match ingester.push_logs(tenant, body, format).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

/// Decodes a push body into streams, refusing more than `limit` bytes once decompressed.
pub fn decode(body: &[u8], format: PushFormat, limit: usize) -> Result<StreamBatch> {
    match format {
        PushFormat::Protobuf => decode_protobuf(&unsnappy(body, limit)?),
        PushFormat::Json => decode_json(body),
        PushFormat::GzipJson => decode_json(&crate::pipeline::gunzip(body, limit)?),
    }
}

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::Decode(format!("invalid push request: {what}"))
}

/// Wire errors name remote write; say push instead.
fn wire<T>(r: Result<T>) -> Result<T> {
    r.map_err(|e| match e {
        Error::Decode(m) => invalid(m.trim_start_matches("invalid remote write request: ")),
        other => other,
    })
}

fn decode_protobuf(raw: &[u8]) -> Result<StreamBatch> {
    let mut w = Wire { buf: raw };
    let mut batch = StreamBatch::default();
    while !w.done() {
        match wire(w.key())? {
            (1, 2) => batch.streams.push(stream(wire(w.bytes())?)?),
            (_, t) => wire(w.skip(t))?,
        }
    }
    Ok(batch)
}

fn stream(bytes: &[u8]) -> Result<Stream> {
    let mut w = Wire { buf: bytes };
    let mut labels = None;
    let mut entries = Vec::new();
    while !w.done() {
        match wire(w.key())? {
            (1, 2) => labels = Some(parse_labels(wire(w.string())?)?),
            (2, 2) => entries.push(entry(wire(w.bytes())?)?),
            (_, t) => wire(w.skip(t))?,
        }
    }
    let labels = labels.ok_or_else(|| invalid("a stream has no labels"))?;
    Ok(Stream { labels, entries })
}

fn entry(bytes: &[u8]) -> Result<Entry> {
    let mut w = Wire { buf: bytes };
    let mut e = Entry { time_unix_nano: 0, line: String::new(), metadata: Vec::new() };
    while !w.done() {
        match wire(w.key())? {
            (1, 2) => e.time_unix_nano = timestamp(wire(w.bytes())?)?,
            (2, 2) => e.line = wire(w.string())?.to_owned(),
            (3, 2) => {
                let mut pair = Wire { buf: wire(w.bytes())? };
                let (mut name, mut value) = ("", "");
                while !pair.done() {
                    match wire(pair.key())? {
                        (1, 2) => name = wire(pair.string())?,
                        (2, 2) => value = wire(pair.string())?,
                        (_, t) => wire(pair.skip(t))?,
                    }
                }
                e.metadata.push(Label::new(name, value));
            }
            (_, t) => wire(w.skip(t))?,
        }
    }
    Ok(e)
}

/// A `google.protobuf.Timestamp` as nanoseconds since the epoch.
fn timestamp(bytes: &[u8]) -> Result<i64> {
    let mut w = Wire { buf: bytes };
    let (mut seconds, mut nanos) = (0i64, 0i64);
    while !w.done() {
        match wire(w.key())? {
            (1, 0) => seconds = wire(w.varint())? as i64,
            (2, 0) => nanos = i64::from(wire(w.varint())? as i32),
            (_, t) => wire(w.skip(t))?,
        }
    }
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(nanos))
        .ok_or_else(|| invalid("timestamp out of range"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    stream: std::collections::BTreeMap<String, String>,
    values: Vec<JsonValue>,
}

/// `[timestamp, line]` or `[timestamp, line, {structured metadata}]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonValue {
    Plain((String, String)),
    WithMetadata((String, String, std::collections::BTreeMap<String, String>)),
}

fn decode_json(body: &[u8]) -> Result<StreamBatch> {
    let push: JsonPush = serde_json::from_slice(body).map_err(invalid)?;
    let mut batch = StreamBatch::default();
    for s in push.streams {
        for name in s.stream.keys() {
            check_label_name(name)?;
        }
        let labels = Labels::from_pairs(s.stream);
        let mut entries = Vec::with_capacity(s.values.len());
        for value in s.values {
            let (ts, line, metadata) = match value {
                JsonValue::Plain((ts, line)) => (ts, line, Default::default()),
                JsonValue::WithMetadata((ts, line, md)) => (ts, line, md),
            };
            let time_unix_nano =
                ts.parse::<i64>().map_err(|_| invalid(format!("timestamp {ts:?} is not a number of nanoseconds")))?;
            entries.push(Entry {
                time_unix_nano,
                line,
                metadata: metadata.into_iter().map(|(n, v)| Label::new(n, v)).collect(),
            });
        }
        batch.streams.push(Stream { labels, entries });
    }
    Ok(batch)
}

fn check_label_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(invalid(format!("invalid label name {name:?}"))) }
}

/// Parses a label set in Prometheus's text form, `{a="b", c="d"}`, as Loki's push takes it.
pub fn parse_labels(text: &str) -> Result<Labels> {
    let bad = |why: &str| invalid(format!("error parsing labels {text:?}: {why}"));
    let body = text.trim().strip_prefix('{').and_then(|s| s.strip_suffix('}')).ok_or_else(|| bad("expected {…}"))?;
    let mut labels = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = &rest[..name_end];
        check_label_name(name).map_err(|_| bad("invalid label name"))?;
        rest = rest[name_end..].trim_start().strip_prefix('=').ok_or_else(|| bad("expected ="))?.trim_start();
        let quoted = rest.strip_prefix('"').ok_or_else(|| bad("expected a quoted value"))?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some('r') => value.push('\r'),
                    Some(c @ ('"' | '\\')) => value.push(c),
                    _ => return Err(bad("invalid escape")),
                },
                c => value.push(c),
            }
        }
        let end = end.ok_or_else(|| bad("unterminated value"))?;
        labels.push(Label::new(name, value));
        rest = quoted[end..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.is_empty() {
            return Err(bad("expected , between labels"));
        }
    }
    if labels.is_empty() {
        return Err(invalid("error at least one label pair is required per stream"));
    }
    Ok(Labels::new(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds, nanoseconds, line, structured metadata.
    type TestEntry<'a> = (i64, i32, &'a str, &'a [(&'a str, &'a str)]);

    fn push_protobuf(labels: &str, entries: &[TestEntry<'_>]) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
            varint(out, number << 3 | 2);
            varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        let mut stream = Vec::new();
        field(&mut stream, 1, labels.as_bytes());
        for (secs, nanos, line, md) in entries {
            let mut ts = Vec::new();
            varint(&mut ts, 1 << 3);
            varint(&mut ts, *secs as u64);
            varint(&mut ts, 2 << 3);
            varint(&mut ts, *nanos as u64);
            let mut e = Vec::new();
            field(&mut e, 1, &ts);
            field(&mut e, 2, line.as_bytes());
            for (n, v) in *md {
                let mut pair = Vec::new();
                field(&mut pair, 1, n.as_bytes());
                field(&mut pair, 2, v.as_bytes());
                field(&mut e, 3, &pair);
            }
            field(&mut stream, 2, &e);
        }
        let mut req = Vec::new();
        field(&mut req, 1, &stream);
        snap::raw::Encoder::new().compress_vec(&req).unwrap()
    }

    #[test]
    fn snappy_protobuf_with_structured_metadata() {
        let body = push_protobuf(r#"{app="web", env="prod"}"#, &[(1_700_000_000, 5, "GET /", &[("trace_id", "abc")])]);
        let batch = decode(&body, PushFormat::Protobuf, 1 << 20).unwrap();
        let s = &batch.streams[0];
        assert_eq!(s.labels, Labels::from_pairs([("app", "web"), ("env", "prod")]));
        assert_eq!(s.entries[0].time_unix_nano, 1_700_000_000_000_000_005);
        assert_eq!(s.entries[0].line, "GET /");
        assert_eq!(s.entries[0].metadata, [Label::new("trace_id", "abc")]);
    }

    #[test]
    fn json_with_and_without_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"web"},"values":[["1700000000000000001","a"],["1700000000000000002","b",{"user":"u1"}]]}]}"#;
        let batch = decode(body, PushFormat::Json, 1 << 20).unwrap();
        let e = &batch.streams[0].entries;
        assert_eq!((e[0].time_unix_nano, e[0].line.as_str()), (1_700_000_000_000_000_001, "a"));
        assert_eq!(e[1].metadata, [Label::new("user", "u1")]);
    }

    #[test]
    fn malformed_bodies_are_decode_errors_not_panics() {
        for body in [&b"\x00\x01\x02"[..], b"", b"\xff\xff\xff\xff"] {
            assert!(matches!(decode(body, PushFormat::Protobuf, 1 << 20), Err(Error::Decode(_)) | Ok(_)));
        }
        let cases: [&[u8]; 4] = [
            b"{",
            br#"{"streams":[{"stream":{"app":"web"},"values":[["soon","a"]]}]}"#,
            br#"{"streams":[{"stream":{"1bad":"web"},"values":[]}]}"#,
            br#"{"streams":[{"stream":{"app":"web"},"values":[[1,"a"]]}]}"#,
        ];
        for body in cases {
            let err = decode(body, PushFormat::Json, 1 << 20).unwrap_err();
            assert!(matches!(err, Error::Decode(ref m) if m.starts_with("invalid push request")), "{err}");
        }
        let bad_labels = push_protobuf("app=web", &[(1, 0, "x", &[])]);
        let err = decode(&bad_labels, PushFormat::Protobuf, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("error parsing labels"), "{err}");
    }

    #[test]
    fn label_sets_parse_with_escapes_and_refuse_junk() {
        assert_eq!(
            parse_labels(r#"{a="x \"y\"", b="1\\2"}"#).unwrap(),
            Labels::from_pairs([("a", "x \"y\""), ("b", "1\\2")])
        );
        for bad in ["{}", "{a=b}", r#"{a="b""#, r#"{a="b" c="d"}"#, "", r#"{-a="b"}"#] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
    }
}
