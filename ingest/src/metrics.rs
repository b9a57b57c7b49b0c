use std::time::Duration;

use lookout_storage::Signal;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::Transport;

/// Ingest's own metrics, labelled by signal and transport.
#[derive(Clone)]
pub struct IngestMetrics {
    accepted: IntCounterVec,
    rejected: IntCounterVec,
    requests: IntCounterVec,
    duration: HistogramVec,
    received_bytes: IntCounterVec,
}

impl IngestMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<IngestMetrics> {
        let labels = &["signal", "transport"];
        let m = IngestMetrics {
            accepted: IntCounterVec::new(
                Opts::new(
                    "lookout_ingest_accepted_items_total",
                    "Spans, log records or metric data points accepted and written to the WAL.",
                ),
                labels,
            )?,
            rejected: IntCounterVec::new(
                Opts::new(
                    "lookout_ingest_rejected_items_total",
                    "Items left out of accepted requests as invalid (reported in partial_success).",
                ),
                labels,
            )?,
            requests: IntCounterVec::new(
                Opts::new(
                    "lookout_ingest_requests_total",
                    "Export requests by outcome (success, partial, or the error kind).",
                ),
                &["signal", "transport", "outcome"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "lookout_ingest_request_duration_seconds",
                    "Time from receiving an export request body to the reply, WAL write included.",
                )
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 14)?),
                labels,
            )?,
            received_bytes: IntCounterVec::new(
                Opts::new(
                    "lookout_ingest_received_bytes_total",
                    "Request body bytes received, as sent (compressed or not).",
                ),
                labels,
            )?,
        };
        registry.register(Box::new(m.accepted.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.received_bytes.clone()))?;
        for signal in Signal::ALL {
            for transport in Transport::ALL {
                let labels = [signal.as_str(), transport.as_str()];
                m.accepted.with_label_values(&labels);
                m.rejected.with_label_values(&labels);
            }
        }
        Ok(m)
    }

    pub(crate) fn record(
        &self,
        signal: Signal,
        transport: Transport,
        bytes: usize,
        elapsed: Duration,
        outcome: Result<(u64, u64), &'static str>,
    ) {
        let labels = [signal.as_str(), transport.as_str()];
        self.received_bytes.with_label_values(&labels).inc_by(bytes as u64);
        self.duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
        let outcome = match outcome {
            Ok((accepted, rejected)) => {
                self.accepted.with_label_values(&labels).inc_by(accepted);
                self.rejected.with_label_values(&labels).inc_by(rejected);
                if rejected == 0 { "success" } else { "partial" }
            }
            Err(kind) => kind,
        };
        self.requests.with_label_values(&[labels[0], labels[1], outcome]).inc();
    }
}
