//! Where metrics enter the metrics store: OTLP metrics translated to Prometheus series,
//! Prometheus-shaped series from remote_write, scrapes and span metrics, all checked by the
//! store's appender before they become one WAL record.

use std::sync::{Arc, Mutex};

use lookout_storage::metrics::{Refusals, Tsdb};
use lookout_storage::{Batch, Metric, MetricMetadata, SampleBatch, SeriesSamples, Span, Tenant};

use crate::generator::{Generator, GeneratorOptions};
use crate::prom::{NOT_A_POINT, TranslateOptions, Translator};

/// Settings of the metrics intake.
#[derive(Debug, Clone, Default)]
pub struct IntakeOptions {
    /// How OTLP metrics become Prometheus series.
    pub translate: TranslateOptions,
    /// Span metrics and service graphs; `None` turns them off.
    pub generator: Option<GeneratorOptions>,
}

/// The metrics store with the state that turns incoming data into its samples.
pub struct MetricsIntake {
    tsdb: Arc<Tsdb>,
    translator: Mutex<Translator>,
    translate: TranslateOptions,
    generator: Option<Mutex<Generator>>,
}

/// What OTLP translation and the appender made of a batch.
pub(crate) struct Translated {
    pub batch: SampleBatch,
    /// Data points or samples left out.
    pub rejected: u64,
    /// Why, one line per reason.
    pub messages: Vec<String>,
}

impl MetricsIntake {
    /// An intake writing into `tsdb`.
    pub fn new(tsdb: Arc<Tsdb>, options: IntakeOptions) -> MetricsIntake {
        MetricsIntake {
            tsdb,
            translator: Mutex::new(Translator::new()),
            translate: options.translate,
            generator: options.generator.map(|o| Mutex::new(Generator::new(o))),
        }
    }

    /// The metrics store.
    pub fn tsdb(&self) -> &Arc<Tsdb> {
        &self.tsdb
    }

    /// OTLP metrics → one sample batch.
    pub(crate) fn otlp(&self, tenant: &Tenant, batch: &Batch<Metric>) -> Translated {
        let translated =
            self.translator.lock().unwrap_or_else(|e| e.into_inner()).translate(tenant, batch, &self.translate);
        let mut app = self.tsdb.appender(tenant);
        // A data point is rejected when the store refuses any sample made from it.
        let mut refused_points: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
        for (s, origins) in translated.series.iter().zip(&translated.sample_points) {
            app.add(&s.labels, &s.samples, &s.exemplars);
            refused_points.extend(
                app.last_refused().iter().filter_map(|&i| origins.get(i).copied()).filter(|&p| p != NOT_A_POINT),
            );
        }
        for m in &translated.metadata {
            app.add_metadata(m.clone());
        }
        let (batch, refused) = app.finish();
        let mut messages = translated.messages;
        if let Some(first) = &refused.first_error {
            messages.push(format!(
                "{} data points ({} samples) refused by the metrics store; first: {first}",
                refused_points.len(),
                refused.samples
            ));
        }
        Translated { batch, rejected: translated.rejected_points + refused_points.len() as u64, messages }
    }

    /// Prometheus-shaped series → one sample batch.
    pub(crate) fn series(
        &self,
        tenant: &Tenant,
        series: &[SeriesSamples],
        metadata: &[MetricMetadata],
    ) -> (SampleBatch, Refusals) {
        let mut app = self.tsdb.appender(tenant);
        for s in series {
            app.add(&s.labels, &s.samples, &s.exemplars);
        }
        for m in metadata {
            app.add_metadata(m.clone());
        }
        app.finish()
    }

    /// Lets the span-metrics generator see accepted spans.
    pub(crate) fn observe_spans(&self, tenant: &Tenant, batch: &Batch<Span>) {
        if let Some(g) = &self.generator {
            g.lock().unwrap_or_else(|e| e.into_inner()).observe(tenant, batch, now_ms());
        }
    }

    /// The span metrics and service graph series as of now, per tenant (empty when the
    /// generator is off).
    pub fn collect_span_metrics(&self) -> Vec<(Tenant, Vec<SeriesSamples>)> {
        match &self.generator {
            Some(g) => g.lock().unwrap_or_else(|e| e.into_inner()).collect(now_ms()),
            None => Vec::new(),
        }
    }

    /// Whether span metrics are generated.
    pub fn generates_span_metrics(&self) -> bool {
        self.generator.is_some()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
