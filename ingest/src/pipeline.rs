use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::disk::DiskGuard;
use crate::limits::{ActiveLimits, RateLimiter};
use lookout_storage::metrics::Refusals;
use lookout_storage::{MetricMetadata, Payload, SeriesSamples, Signal, Tenant, TenantPayload, Wal, encode_record};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::intake::MetricsIntake;
use crate::metrics::IngestMetrics;
use crate::{Error, Result, convert, remote_write};

/// How an export request reached Lookout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with a protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
    /// Prometheus remote_write.
    RemoteWrite,
    /// Lookout's own scrapes.
    Scrape,
    /// Span metrics and service graphs made from received spans.
    SpanMetrics,
    /// Loki's push API.
    LokiPush,
    /// Recording rules and the `ALERTS` series of alerting rules.
    Rules,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 8] = [
        Transport::Grpc,
        Transport::HttpProtobuf,
        Transport::HttpJson,
        Transport::RemoteWrite,
        Transport::Scrape,
        Transport::SpanMetrics,
        Transport::LokiPush,
        Transport::Rules,
    ];

    /// The OTLP protocol name (`grpc`, `http/protobuf`, `http/json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http/protobuf",
            Transport::HttpJson => "http/json",
            Transport::RemoteWrite => "remote_write",
            Transport::Scrape => "scrape",
            Transport::SpanMetrics => "span_metrics",
            Transport::LokiPush => "loki_push",
            Transport::Rules => "rules",
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
    /// OTLP resource attributes that become log stream labels (the others become structured
    /// metadata), as Loki maps OTLP logs.
    pub log_stream_attributes: Arc<Vec<String>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_message_size: 16 << 20,
            max_inflight_requests: 64,
            retry_after: Duration::from_secs(1),
            log_stream_attributes: Arc::new(
                lookout_storage::logs::DEFAULT_PROMOTED.iter().map(|s| (*s).to_owned()).collect(),
            ),
        }
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
    /// Where metric samples go, when not to `wal`: they are needed for as long as the metrics
    /// head holds them (hours), spans and log lines only until their stores commit.
    metrics_wal: Option<Arc<Wal>>,
    metrics: IngestMetrics,
    options: IngestOptions,
    inflight: Arc<Semaphore>,
    intake: Arc<MetricsIntake>,
    limits: Limiters,
    disk: Option<Arc<DiskGuard>>,
}

/// The limits on what clients send (not on what Lookout writes itself: scrapes, span metrics,
/// rule output).
#[derive(Clone, Default)]
pub struct Limiters {
    /// Ingestion rates, per tenant and global.
    pub rate: Option<Arc<RateLimiter>>,
    /// Active streams per tenant, spans per trace.
    pub active: Option<Arc<ActiveLimits>>,
    /// Longer string attribute values of spans and log records (and of their resources and
    /// scopes) are cut to this many bytes, as Tempo's `max_attribute_bytes` does; 0: never.
    pub max_attribute_bytes: usize,
    /// Counts the values cut (`lookout_ingest_truncated_attributes_total`).
    pub truncated: Option<prometheus::IntCounter>,
}

impl Ingester {
    /// An ingester that writes into `wal`, with metrics checked by `intake`'s store.
    pub fn new(wal: Arc<Wal>, metrics: IngestMetrics, options: IngestOptions, intake: Arc<MetricsIntake>) -> Ingester {
        let inflight = Arc::new(Semaphore::new(options.max_inflight_requests));
        Ingester { wal, metrics_wal: None, metrics, options, inflight, intake, limits: Limiters::default(), disk: None }
    }

    /// The same, refusing every write while the data disk is nearly full.
    pub fn with_disk_guard(mut self, disk: Arc<DiskGuard>) -> Ingester {
        self.disk = Some(disk);
        self
    }

    /// The same, writing metric samples to a WAL of their own.
    pub fn with_metrics_wal(mut self, wal: Arc<Wal>) -> Ingester {
        self.metrics_wal = Some(wal);
        self
    }

    /// The same, with limits on what clients send.
    pub fn with_limits(mut self, limits: Limiters) -> Ingester {
        self.limits = limits;
        self
    }

    /// The metrics intake.
    pub fn intake(&self) -> &Arc<MetricsIntake> {
        &self.intake
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
        let _permit = self.admit()?;
        let limit = self.options.max_message_size;
        let intake = Arc::clone(&self.intake);
        let streams = Arc::clone(&self.options.log_stream_attributes);
        let limits = self.limits.clone();
        let prepared = tokio::task::spawn_blocking(move || prepare(request, limit, &intake, &streams, &limits))
            .await
            .map_err(|e| Error::Internal(format!("request processing failed: {e}")))??;
        if let Some((record, payload)) = prepared.record {
            self.append(record, payload).await?;
        }
        Ok((prepared.accepted, prepared.reply))
    }

    async fn append(&self, record: Vec<u8>, payload: TenantPayload) -> Result<()> {
        let wal = match (&payload.payload, &self.metrics_wal) {
            (Payload::Samples(_), Some(metrics)) => metrics,
            _ => &self.wal,
        };
        wal.append(record, payload).await.map_err(|e| {
            warn!(error = %e, "wal append failed");
            Error::Unavailable { reason: e.to_string(), retry_after: self.options.retry_after }
        })
    }

    /// Receives a Prometheus remote_write 1.0 body (snappy-compressed protobuf). Success means
    /// every sample not refused is in the WAL.
    pub async fn remote_write(&self, tenant: Tenant, body: Bytes) -> Result<Refusals> {
        let started = Instant::now();
        let bytes = body.len();
        let result = self.remote_write_inner(tenant, body).await;
        let outcome = match &result {
            Ok((accepted, refused)) => Ok((*accepted, refused.samples)),
            Err(e) => Err(outcome_label(e)),
        };
        self.metrics.record(Signal::Metrics, Transport::RemoteWrite, bytes, started.elapsed(), outcome);
        result.map(|(_, refused)| refused)
    }

    async fn remote_write_inner(&self, tenant: Tenant, body: Bytes) -> Result<(u64, Refusals)> {
        let _permit = self.admit()?;
        let limit = self.options.max_message_size;
        if body.len() > limit {
            return Err(Error::TooLarge { limit, decompressed: false });
        }
        let intake = Arc::clone(&self.intake);
        let limiter = self.limits.rate.clone();
        let (record, refused) = tokio::task::spawn_blocking(move || -> Result<_> {
            let raw = remote_write::unsnappy(&body, limit)?;
            let mut app = intake.tsdb().appender(&tenant);
            let (_, histograms) = remote_write::append_write_request(&raw, &mut app)?;
            if let Some(limiter) = &limiter {
                limiter.take(&tenant, app.samples() as u64, body.len() as u64)?;
            }
            let (batch, mut refused) = app.finish();
            if histograms > 0 {
                refused.samples += histograms;
                refused.invalid += histograms;
                refused.first_error.get_or_insert_with(|| {
                    format!("{histograms} native histogram series refused: native histograms are not supported yet")
                });
            }
            Ok((encode_samples(tenant, batch)?, refused))
        })
        .await
        .map_err(|e| Error::Internal(format!("request processing failed: {e}")))??;
        let mut accepted = 0;
        if let Some((bytes, payload)) = record {
            accepted = payload.payload.item_count() as u64;
            self.append(bytes, payload).await?;
        }
        Ok((accepted, refused))
    }

    /// Receives a Loki push body (snappy protobuf, or JSON, possibly gzipped). Success means
    /// every entry is in the WAL.
    pub async fn push_logs(&self, tenant: Tenant, body: Bytes, format: crate::loki_push::PushFormat) -> Result<()> {
        let started = Instant::now();
        let bytes = body.len();
        let result: Result<u64> = async {
            let _permit = self.admit()?;
            let limit = self.options.max_message_size;
            if body.len() > limit {
                return Err(Error::TooLarge { limit, decompressed: false });
            }
            let limits = self.limits.clone();
            let (record, invalid) = tokio::task::spawn_blocking(move || -> Result<_> {
                let mut batch = crate::loki_push::decode(&body, format, limit)?;
                if let Some(limiter) = &limits.rate {
                    limiter.take(&tenant, batch.entry_count() as u64, body.len() as u64)?;
                }
                // As Loki does: streams with invalid labels are refused with a 400 naming the
                // limit, and the others stored (a 400 is not retried).
                let invalid = limits.active.as_ref().and_then(|a| a.drop_invalid_streams(&mut batch));
                // Whole or not at all: a push refused for the stream limit is retried whole,
                // and partly stored entries would be stored twice.
                if let Some((_, message)) =
                    limits.active.as_ref().and_then(|a| a.admit_streams(&tenant, &mut batch, true))
                {
                    return Err(Error::LimitReached { message });
                }
                lookout_storage::logs::add_detected_levels(&mut batch);
                if batch.entry_count() == 0 {
                    return Ok((None, invalid));
                }
                let record = TenantPayload { tenant, payload: Payload::Streams(batch) };
                let bytes =
                    encode_record(&record).map_err(|e| Error::Internal(format!("cannot encode wal record: {e}")))?;
                Ok((Some((bytes, record)), invalid))
            })
            .await
            .map_err(|e| Error::Internal(format!("request processing failed: {e}")))??;
            let mut accepted = 0;
            if let Some((bytes, record)) = record {
                accepted = record.payload.item_count() as u64;
                self.append(bytes, record).await?;
            }
            match invalid {
                Some((_, message)) => Err(Error::Invalid { message }),
                None => Ok(accepted),
            }
        }
        .await;
        let outcome = match &result {
            Ok(accepted) => Ok((*accepted, 0)),
            Err(e) => Err(outcome_label(e)),
        };
        self.metrics.record(Signal::Logs, Transport::LokiPush, bytes, started.elapsed(), outcome);
        result.map(drop)
    }

    fn disk_has_room(&self) -> Result<()> {
        match &self.disk {
            Some(disk) => disk.check(self.options.retry_after),
            None => Ok(()),
        }
    }

    /// Writes Prometheus-shaped series (scrapes, span metrics) for `tenant` through the WAL.
    pub async fn write_series(
        &self,
        tenant: Tenant,
        series: Vec<SeriesSamples>,
        metadata: Vec<MetricMetadata>,
        transport: Transport,
    ) -> Result<Refusals> {
        let started = Instant::now();
        let intake = Arc::clone(&self.intake);
        let result: Result<(u64, Refusals)> = async {
            self.disk_has_room()?;
            let (record, refused) = tokio::task::spawn_blocking(move || -> Result<_> {
                let (batch, refused) = intake.series(&tenant, &series, &metadata);
                Ok((encode_samples(tenant, batch)?, refused))
            })
            .await
            .map_err(|e| Error::Internal(format!("processing failed: {e}")))??;
            let mut accepted = 0;
            if let Some((bytes, payload)) = record {
                accepted = payload.payload.item_count() as u64;
                self.append(bytes, payload).await?;
            }
            Ok((accepted, refused))
        }
        .await;
        let outcome = match &result {
            Ok((accepted, refused)) => Ok((*accepted, refused.samples)),
            Err(e) => Err(outcome_label(e)),
        };
        self.metrics.record(Signal::Metrics, transport, 0, started.elapsed(), outcome);
        result.map(|(_, refused)| refused)
    }

    fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.disk_has_room()?;
        Arc::clone(&self.inflight).try_acquire_owned().map_err(|_| Error::Overloaded {
            limit: self.options.max_inflight_requests,
            retry_after: self.options.retry_after,
        })
    }
}

/// The WAL record for a sample batch; `None` when it holds nothing.
fn encode_samples(tenant: Tenant, batch: lookout_storage::SampleBatch) -> Result<Option<(Vec<u8>, TenantPayload)>> {
    if batch.samples.is_empty() && batch.series.is_empty() && batch.exemplars.is_empty() && batch.metadata.is_empty() {
        return Ok(None);
    }
    let record = TenantPayload { tenant, payload: Payload::Samples(batch) };
    let bytes = encode_record(&record).map_err(|e| Error::Internal(format!("cannot encode wal record: {e}")))?;
    Ok(Some((bytes, record)))
}

fn outcome_label(err: &Error) -> &'static str {
    match err {
        Error::Decode(_) | Error::InvalidTenant(_) | Error::Invalid { .. } => "invalid",
        Error::UnsupportedContentType(_) | Error::UnsupportedContentEncoding(_) => "unsupported",
        Error::TooLarge { .. } => "too_large",
        Error::Overloaded { .. } => "overloaded",
        Error::RateLimited { .. } | Error::LimitReached { .. } => "rate_limited",
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

fn prepare(
    request: ExportRequest,
    limit: usize,
    intake: &MetricsIntake,
    log_streams: &[String],
    limits: &Limiters,
) -> Result<Prepared> {
    let received = request.body.len() as u64;
    let body = if request.gzip { gunzip(&request.body, limit)? } else { request.body };
    let json = request.transport == Transport::HttpJson;
    let mut converted = match request.signal {
        Signal::Traces => convert::traces(decode::<ExportTraceServiceRequest>(&body, json)?),
        Signal::Logs => convert::logs(decode::<ExportLogsServiceRequest>(&body, json)?),
        Signal::Metrics => convert::metrics(decode::<ExportMetricsServiceRequest>(&body, json)?),
    };
    let mut accepted = converted.payload.item_count() as u64;
    // Before anything is counted or stored: a refused request leaves no trace.
    if let Some(limiter) = &limits.rate {
        limiter.take(&request.tenant, accepted, received)?;
    }
    let mut notes = Vec::new();
    if let Some((cut, note)) = crate::truncate::attributes(&mut converted.payload, limits.max_attribute_bytes) {
        if let Some(counter) = &limits.truncated {
            counter.inc_by(cut);
        }
        notes.push(note);
    }
    let mut refused = None;
    match &mut converted.payload {
        Payload::Traces(batch) => {
            refused = limits.active.as_ref().and_then(|a| a.admit_spans(&request.tenant, batch));
            intake.observe_spans(&request.tenant, batch);
        }
        // Mapped to Loki's streams here, on the request's thread, rather than when the WAL
        // applies the record: the WAL applies records one at a time.
        Payload::Logs(batch) => {
            let mut streams = lookout_storage::logs::streams_from_otlp(batch, log_streams);
            lookout_storage::logs::add_detected_levels(&mut streams);
            if let Some(active) = &limits.active {
                let invalid = active.drop_invalid_streams(&mut streams);
                let over = active.admit_streams(&request.tenant, &mut streams, false);
                refused = match (invalid, over) {
                    (Some((a, first)), Some((b, second))) => Some((a + b, format!("{first}; {second}"))),
                    (one, other) => one.or(other),
                };
            }
            converted.payload = Payload::Streams(streams);
        }
        Payload::Metrics(batch) => {
            // Points count as accepted unless translation or the store refused them.
            let translated = intake.otlp(&request.tenant, batch);
            accepted = accepted.saturating_sub(translated.rejected);
            converted.rejected += translated.rejected;
            let mut messages: Vec<String> = Vec::new();
            if !converted.message.is_empty() {
                messages.push(std::mem::take(&mut converted.message));
            }
            messages.extend(translated.messages);
            converted.message = messages.join("; ");
            let b = translated.batch;
            if b.samples.is_empty() && b.series.is_empty() && b.metadata.is_empty() {
                accepted = 0;
            }
            converted.payload = Payload::Samples(b);
        }
        _ => {}
    }
    if let Some((n, message)) = refused {
        accepted = accepted.saturating_sub(n);
        converted.rejected += n;
        notes.push(message);
    }
    if !notes.is_empty() {
        notes.insert(0, std::mem::take(&mut converted.message));
        notes.retain(|n| !n.is_empty());
        converted.message = notes.join("; ");
    }
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
pub(crate) fn gunzip(body: &[u8], limit: usize) -> Result<Bytes> {
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| Error::Decode(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(Error::TooLarge { limit, decompressed: true });
    }
    Ok(out.into())
}
