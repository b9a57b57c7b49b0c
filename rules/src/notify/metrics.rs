//! The notifier's own metrics, Prometheus's `prometheus_notifications_*` under Lookout's names,
//! labelled by receiver URL (an Alertmanager's `…/api/v2/alerts` URL, or a webhook's URL).

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The label that names the receiver.
const RECEIVER: &str = "receiver";

/// Every notifier metric, registered once per registry.
pub(crate) struct NotifierMetrics {
    sent: IntCounterVec,
    errors: IntCounterVec,
    dropped: IntCounterVec,
    queue_length: IntGaugeVec,
    queue_capacity: IntGauge,
    latency: HistogramVec,
}

/// One receiver's series of [`NotifierMetrics`].
#[derive(Clone)]
pub(crate) struct ReceiverMetrics {
    /// Alerts delivered (counted once per successful request they were in).
    pub sent: IntCounter,
    /// Alerts in requests that failed (counted once per failed attempt).
    pub errors: IntCounter,
    /// Alerts given up on: queue full, retries exhausted, rejected with a 4xx, or still queued at
    /// shutdown.
    pub dropped: IntCounter,
    /// Alerts waiting in the receiver's queue.
    pub queue_length: IntGauge,
    /// Seconds per request attempt, failed ones included.
    pub latency: Histogram,
}

impl NotifierMetrics {
    /// Creates the metrics and registers them in `registry`; fails (registering nothing) if they
    /// are registered there already.
    pub(crate) fn register(registry: &Registry, queue_capacity: usize) -> prometheus::Result<NotifierMetrics> {
        let labels = &[RECEIVER];
        let metrics = NotifierMetrics {
            sent: IntCounterVec::new(
                Opts::new("lookout_rules_notifications_sent_total", "Alerts delivered to a receiver."),
                labels,
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "lookout_rules_notifications_errors_total",
                    "Alerts in notification requests that failed (each failed attempt counts).",
                ),
                labels,
            )?,
            dropped: IntCounterVec::new(
                Opts::new(
                    "lookout_rules_notifications_dropped_total",
                    "Alerts never delivered: queue full, retries exhausted, rejected by the receiver, or queued at shutdown.",
                ),
                labels,
            )?,
            queue_length: IntGaugeVec::new(
                Opts::new("lookout_rules_notifications_queue_length", "Alerts waiting in a receiver's queue."),
                labels,
            )?,
            queue_capacity: IntGauge::new(
                "lookout_rules_notifications_queue_capacity",
                "The capacity of each receiver's notification queue, in alerts.",
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "lookout_rules_notification_latency_seconds",
                    "Duration of notification request attempts, failed ones included.",
                )
                .buckets(prometheus::exponential_buckets(0.001, 2.0, 15)?),
                labels,
            )?,
        };
        let collectors = || -> [Box<dyn Collector>; 6] {
            [
                Box::new(metrics.sent.clone()),
                Box::new(metrics.errors.clone()),
                Box::new(metrics.dropped.clone()),
                Box::new(metrics.queue_length.clone()),
                Box::new(metrics.queue_capacity.clone()),
                Box::new(metrics.latency.clone()),
            ]
        };
        // Registers all or nothing, so that a failed start leaves the registry as it was.
        let handles = collectors();
        for (i, collector) in collectors().into_iter().enumerate() {
            if let Err(err) = registry.register(collector) {
                for done in handles.into_iter().take(i) {
                    let _ = registry.unregister(done);
                }
                return Err(err);
            }
        }
        metrics.queue_capacity.set(i64::try_from(queue_capacity).unwrap_or(i64::MAX));
        Ok(metrics)
    }

    /// The series of one receiver, created at zero so that they show before anything happens.
    pub(crate) fn receiver(&self, url: &str) -> ReceiverMetrics {
        ReceiverMetrics {
            sent: self.sent.with_label_values(&[url]),
            errors: self.errors.with_label_values(&[url]),
            dropped: self.dropped.with_label_values(&[url]),
            queue_length: self.queue_length.with_label_values(&[url]),
            latency: self.latency.with_label_values(&[url]),
        }
    }
}
