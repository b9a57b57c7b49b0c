//! Prometheus remote_write 1.0: `POST /api/v1/write` with a snappy-compressed protobuf
//! `WriteRequest`, as Prometheus's own receiver takes it.
//!
//! The body is read without building the protobuf messages: each series' labels are borrowed
//! from the decompressed bytes and handed to the metrics store's appender, which allocates only
//! for series it has not seen.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_storage::metrics::Appender;
use lookout_storage::{Labels, MetricMetadata, MetricType, Sample, SampleExemplar, Tenant};

use crate::{Error, Ingester, tenant_from};

/// The ingester once it exists: the query listener starts (and answers health checks) while
/// the WAL is still being replayed, before there is an ingester to write with.
pub type IngesterSlot = Arc<OnceLock<Arc<Ingester>>>;

/// The router with `POST /api/v1/write`; until `slot` is filled it answers 503.
pub fn router(slot: IngesterSlot) -> Router {
    Router::new().route("/api/v1/write", post(write)).with_state(slot)
}

async fn write(State(slot): State<IngesterSlot>, headers: HeaderMap, body: Bytes) -> Response {
    let text = |status: StatusCode, message: String| (status, message).into_response();
    let (ingester, tenant) = match ready_and_tenant(&slot, &headers) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("snappy") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content encoding {encoding:?}: remote write 1.0 bodies are snappy-compressed"),
        );
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.is_empty() && !content_type.starts_with("application/x-protobuf") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {content_type:?}: use application/x-protobuf"),
        );
    }
    match ingester.remote_write(tenant, body).await {
        Ok(refused) if refused.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(refused) => {
            let status = if refused.limited() { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::BAD_REQUEST };
            let first = refused.first_error.clone().unwrap_or_default();
            text(status, format!("{} of the samples were refused; first: {first}", refused.samples))
        }
        Err(e) => error_response(&e),
    }
}

/// The ingester and the request's tenant, or the answer when there is none yet (503 while the
/// WAL replays) or the tenant is malformed (400). Shared by the HTTP receivers on :3000.
#[allow(clippy::result_large_err)]
pub(crate) fn ready_and_tenant(slot: &IngesterSlot, headers: &HeaderMap) -> Result<(Arc<Ingester>, Tenant), Response> {
    let Some(ingester) = slot.get() else {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, "lookout is starting: replaying its WAL").into_response();
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Err(response);
    };
    match tenant_from(headers.get("x-scope-orgid").map(|v| v.as_bytes())) {
        Ok(tenant) => Ok((Arc::clone(ingester), tenant)),
        Err(e) => Err((StatusCode::BAD_REQUEST, e.to_string()).into_response()),
    }
}

/// An ingest error as a plain-text answer with its status and, when it has one, `Retry-After`.
pub(crate) fn error_response(e: &Error) -> Response {
    let mut response = (e.http_status(), e.to_string()).into_response();
    if let Some(after) = e.retry_after()
        && let Ok(v) = after.as_secs().max(1).to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Decompresses a snappy block body, refusing more than `limit` bytes.
pub(crate) fn unsnappy(body: &[u8], limit: usize) -> crate::Result<Vec<u8>> {
    let len = snap::raw::decompress_len(body).map_err(|e| Error::Decode(format!("invalid snappy body: {e}")))?;
    if len > limit {
        return Err(Error::TooLarge { limit, decompressed: true });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(|e| Error::Decode(format!("invalid snappy body: {e}")))
}

/// Protobuf wire reader over a byte slice.
pub(crate) struct Wire<'a> {
    pub(crate) buf: &'a [u8],
}

fn bad(what: &str) -> Error {
    Error::Decode(format!("invalid remote write request: {what}"))
}

impl<'a> Wire<'a> {
    pub(crate) fn done(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn varint(&mut self) -> crate::Result<u64> {
        let mut out = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| bad("truncated varint"))?;
            self.buf = rest;
            out |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(out);
            }
        }
        Err(bad("varint too long"))
    }

    /// Field number and wire type of the next field.
    pub(crate) fn key(&mut self) -> crate::Result<(u64, u8)> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }

    pub(crate) fn bytes(&mut self) -> crate::Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| bad("length too large"))?;
        if len > self.buf.len() {
            return Err(bad("truncated field"));
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn fixed64(&mut self) -> crate::Result<u64> {
        if self.buf.len() < 8 {
            return Err(bad("truncated fixed64"));
        }
        let (head, rest) = self.buf.split_at(8);
        self.buf = rest;
        let mut b = [0u8; 8];
        b.copy_from_slice(head);
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn string(&mut self) -> crate::Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad("string is not UTF-8"))
    }

    pub(crate) fn skip(&mut self, wire: u8) -> crate::Result<()> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed64().map(drop),
            2 => self.bytes().map(drop),
            5 => {
                if self.buf.len() < 4 {
                    return Err(bad("truncated fixed32"));
                }
                self.buf = &self.buf[4..];
                Ok(())
            }
            _ => Err(bad("unsupported wire type")),
        }
    }
}

fn label(bytes: &[u8]) -> crate::Result<(&str, &str)> {
    let mut w = Wire { buf: bytes };
    let (mut name, mut value) = ("", "");
    while !w.done() {
        match w.key()? {
            (1, 2) => name = w.string()?,
            (2, 2) => value = w.string()?,
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok((name, value))
}

fn sample(bytes: &[u8]) -> crate::Result<Sample> {
    let mut w = Wire { buf: bytes };
    let mut s = Sample { t: 0, v: 0.0 };
    while !w.done() {
        match w.key()? {
            (1, 1) => s.v = f64::from_bits(w.fixed64()?),
            (2, 0) => s.t = w.varint()? as i64,
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok(s)
}

fn exemplar(bytes: &[u8]) -> crate::Result<SampleExemplar> {
    let mut w = Wire { buf: bytes };
    let (mut labels, mut t, mut v) = (Vec::new(), 0i64, 0.0f64);
    while !w.done() {
        match w.key()? {
            (1, 2) => labels.push(label(w.bytes()?)?),
            (2, 1) => v = f64::from_bits(w.fixed64()?),
            (3, 0) => t = w.varint()? as i64,
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok(SampleExemplar { labels: Labels::from_pairs(labels), t, v })
}

fn metadata(bytes: &[u8]) -> crate::Result<Option<MetricMetadata>> {
    let mut w = Wire { buf: bytes };
    let mut m = MetricMetadata {
        metric_family: String::new(),
        kind: MetricType::Unknown,
        help: String::new(),
        unit: String::new(),
    };
    while !w.done() {
        match w.key()? {
            (1, 0) => {
                m.kind = match w.varint()? {
                    1 => MetricType::Counter,
                    2 => MetricType::Gauge,
                    3 => MetricType::Histogram,
                    4 => MetricType::GaugeHistogram,
                    5 => MetricType::Summary,
                    6 => MetricType::Info,
                    7 => MetricType::StateSet,
                    _ => MetricType::Unknown,
                }
            }
            (2, 2) => m.metric_family = w.string()?.to_string(),
            (4, 2) => m.help = w.string()?.to_string(),
            (5, 2) => m.unit = w.string()?.to_string(),
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok((!m.metric_family.is_empty()).then_some(m))
}

/// Reads a decompressed `WriteRequest` into the appender. Returns the number of series read
/// and of native-histogram samples refused (the store has no native histograms yet).
pub(crate) fn append_write_request(body: &[u8], app: &mut Appender<'_>) -> crate::Result<(usize, u64)> {
    let mut w = Wire { buf: body };
    let (mut series, mut histograms) = (0usize, 0u64);
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
    let mut samples: Vec<Sample> = Vec::with_capacity(16);
    let mut exemplars: Vec<SampleExemplar> = Vec::new();
    while !w.done() {
        match w.key()? {
            (1, 2) => {
                let mut ts = Wire { buf: w.bytes()? };
                pairs.clear();
                samples.clear();
                exemplars.clear();
                while !ts.done() {
                    match ts.key()? {
                        (1, 2) => pairs.push(label(ts.bytes()?)?),
                        (2, 2) => samples.push(sample(ts.bytes()?)?),
                        (3, 2) => exemplars.push(exemplar(ts.bytes()?)?),
                        (4, 2) => {
                            ts.bytes()?;
                            histograms += 1;
                        }
                        (_, wire) => ts.skip(wire)?,
                    }
                }
                series += 1;
                app.add_pairs(&pairs, &samples, &exemplars);
            }
            (3, 2) => {
                if let Some(m) = metadata(w.bytes()?)? {
                    app.add_metadata(m);
                }
            }
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok((series, histograms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, number << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn label_bytes(n: &str, v: &str) -> Vec<u8> {
        let mut b = Vec::new();
        field(&mut b, 1, n.as_bytes());
        field(&mut b, 2, v.as_bytes());
        b
    }

    fn sample_bytes(t: i64, v: f64) -> Vec<u8> {
        let mut b = vec![0x09];
        b.extend_from_slice(&v.to_bits().to_le_bytes());
        varint(&mut b, 2 << 3);
        varint(&mut b, t as u64);
        b
    }

    #[test]
    fn labels_and_samples_are_read_from_the_wire() {
        let mut ts = Vec::new();
        field(&mut ts, 1, &label_bytes("__name__", "up"));
        field(&mut ts, 1, &label_bytes("job", "x"));
        field(&mut ts, 2, &sample_bytes(1_700_000_000_000, 1.5));
        let mut req = Vec::new();
        field(&mut req, 1, &ts);
        let mut w = Wire { buf: &req };
        assert_eq!(w.key().unwrap(), (1, 2));
        let mut inner = Wire { buf: w.bytes().unwrap() };
        assert_eq!(inner.key().unwrap(), (1, 2));
        assert_eq!(label(inner.bytes().unwrap()).unwrap(), ("__name__", "up"));
        inner.key().unwrap();
        inner.bytes().unwrap();
        inner.key().unwrap();
        assert_eq!(sample(inner.bytes().unwrap()).unwrap(), Sample { t: 1_700_000_000_000, v: 1.5 });
    }

    #[test]
    fn truncated_and_hostile_bodies_are_errors() {
        for body in [&[0x0a, 0x05, 0x01][..], &[0xff; 11], &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], &[0x0b]] {
            let mut w = Wire { buf: body };
            let r = (|| -> crate::Result<()> {
                while !w.done() {
                    let (_, wire) = w.key()?;
                    w.skip(wire)?;
                }
                Ok(())
            })();
            assert!(r.is_err(), "{body:?}");
        }
        assert!(unsnappy(b"\xff\xff\xff\xff\x0fxx", 1 << 20).is_err());
    }
}
