use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lookout_storage::{Signal, Tenant, TenantPayload, Wal, encode_record};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::metrics::IngestMetrics;
use crate::{Error, Result, convert};

/// How an export request reached Lookout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with a protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 3] = [Transport::Grpc, Transport::HttpProtobuf, Transport::HttpJson];

    /// The OTLP protocol name (`grpc`, `http/protobuf`, `http/json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http/protobuf",
            Transport::HttpJson => "http/json",
        }
    }
}

/// Limits of the receive path.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Largest request accepted, compressed or decompressed, in bytes.
    pub max_message_size: usize,
    /// Export requests processed at once; more get 429 / `RESOURCE_EXHAUSTED`.
    pub max_inflight_requests: usize,
    /// The retry hint sent with 429 / 503 and `RESOURCE_EXHAUSTED` / `UNAVAILABLE`.
    pub retry_after: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { max_message_size: 16 << 20, max_inflight_requests: 64, retry_after: Duration::from_secs(1) }
    }
}

/// One export request, as received.
#[derive(Debug)]
pub struct ExportRequest {
    /// Which service was called.
    pub signal: Signal,
    /// How it came in.
    pub transport: Transport,
    /// Whose data it is.
    pub tenant: Tenant,
    /// The body, possibly gzip-compressed.
    pub body: Bytes,
    /// Whether `body` is gzip-compressed (OTLP/HTTP only; gRPC decompresses in tonic).
    pub gzip: bool,
}

/// What the sender is told on success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportReply {
    /// Items left out as invalid.
    pub rejected: u64,
    /// Why (empty when nothing was rejected).
    pub message: String,
}

/// The receive path shared by every transport: admit, decode, convert, write to the WAL.
pub struct Ingester {
    wal: Arc<Wal>,
    metrics: IngestMetrics,
    options: IngestOptions,
    inflight: Arc<Semaphore>,
}

impl Ingester {
    /// An ingester that writes into `wal`.
    pub fn new(wal: Arc<Wal>, metrics: IngestMetrics, options: IngestOptions) -> Ingester {
        let inflight = Arc::new(Semaphore::new(options.max_inflight_requests));
        Ingester { wal, metrics, options, inflight }
    }

    /// The limits in force.
    pub fn options(&self) -> &IngestOptions {
        &self.options
    }

    /// Takes `n` in-flight slots until the guard drops, as `n` slow requests would.
    #[cfg(test)]
    pub(crate) fn hold_permits_for_test(&self, n: u32) -> tokio::sync::OwnedSemaphorePermit {
        Arc::clone(&self.inflight).try_acquire_many_owned(n).expect("free permits")
    }

    /// Receives one export request. Success means every accepted item is in the WAL.
    pub async fn export(&self, request: ExportRequest) -> Result<ExportReply> {
        let started = Instant::now();
        let (signal, transport, bytes) = (request.signal, request.transport, request.body.len());
        let result = self.export_inner(request).await;
        let outcome = match &result {
            Ok((accepted, reply)) => Ok((*accepted, reply.rejected)),
            Err(e) => Err(outcome_label(e)),
        };
        self.metrics.record(signal, transport, bytes, started.elapsed(), outcome);
        if let Err(e) = &result {
            debug!(error = %e, signal = signal.as_str(), transport = transport.as_str(), "export request refused");
        }
        result.map(|(_, reply)| reply)
    }

    /// Records a request that was refused before it reached [`Ingester::export`].
    pub fn record_refusal(&self, signal: Signal, transport: Transport, bytes: usize, err: &Error) {
        self.metrics.record(signal, transport, bytes, Duration::ZERO, Err(outcome_label(err)));
    }

    async fn export_inner(&self, request: ExportRequest) -> Result<(u64, ExportReply)> {
        let _permit = Arc::clone(&self.inflight).try_acquire_owned().map_err(|_| Error::Overloaded {
            limit: self.options.max_inflight_requests,
            retry_after: self.options.retry_after,
        })?;
        let limit = self.options.max_message_size;
        let prepared = tokio::task::spawn_blocking(move || prepare(request, limit))
            .await
            .map_err(|e| Error::Internal(format!("request processing failed: {e}")))??;
        if let Some((record, payload)) = prepared.record {
            self.wal.append(record, payload).await.map_err(|e| {
                warn!(error = %e, "wal append failed");
                Error::Unavailable { reason: e.to_string(), retry_after: self.options.retry_after }
            })?;
        }
        Ok((prepared.accepted, prepared.reply))
    }
}

fn outcome_label(err: &Error) -> &'static str {
    match err {
        Error::Decode(_) | Error::InvalidTenant(_) => "invalid",
        Error::UnsupportedContentType(_) | Error::UnsupportedContentEncoding(_) => "unsupported",
        Error::TooLarge { .. } => "too_large",
        Error::Overloaded { .. } => "overloaded",
        Error::Unavailable { .. } => "unavailable",
        Error::Internal(_) => "internal",
    }
}

/// The CPU-bound part of a request: decompress, decode, convert, encode the WAL record.
struct Prepared {
    /// The encoded WAL record and what it holds; `None` when nothing was accepted.
    record: Option<(Vec<u8>, TenantPayload)>,
    accepted: u64,
    reply: ExportReply,
}

fn prepare(request: ExportRequest, limit: usize) -> Result<Prepared> {
    let body = if request.gzip { gunzip(&request.body, limit)? } else { request.body };
    let json = request.transport == Transport::HttpJson;
    let converted = match request.signal {
        Signal::Traces => convert::traces(decode::<ExportTraceServiceRequest>(&body, json)?),
        Signal::Logs => convert::logs(decode::<ExportLogsServiceRequest>(&body, json)?),
        Signal::Metrics => convert::metrics(decode::<ExportMetricsServiceRequest>(&body, json)?),
    };
    let accepted = converted.payload.item_count() as u64;
    let reply = ExportReply { rejected: converted.rejected, message: converted.message };
    let record = if accepted == 0 {
        None
    } else {
        let record = TenantPayload { tenant: request.tenant, payload: converted.payload };
        let bytes = encode_record(&record).map_err(|e| Error::Internal(format!("cannot encode wal record: {e}")))?;
        Some((bytes, record))
    };
    Ok(Prepared { record, accepted, reply })
}

/// Decodes an OTLP request from protobuf or OTLP/JSON.
pub fn decode<T: prost::Message + Default + DeserializeOwned>(body: &[u8], json: bool) -> Result<T> {
    if json {
        serde_json::from_slice(body).map_err(|e| Error::Decode(format!("invalid OTLP/JSON body: {e}")))
    } else {
        T::decode(body).map_err(|e| Error::Decode(format!("invalid protobuf body: {e}")))
    }
}

/// Decompresses a gzip body, refusing to produce more than `limit` bytes (gzip bombs).
fn gunzip(body: &[u8], limit: usize) -> Result<Bytes> {
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| Error::Decode(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(Error::TooLarge { limit, decompressed: true });
    }
    Ok(out.into())
}
