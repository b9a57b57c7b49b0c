//! The demo's OpenTelemetry set-up: traces, metrics and logs exported over OTLP/gRPC to
//! Lookout (or any OTLP endpoint), with the SDK's own batching and the standard
//! `OTEL_BSP_*` / `OTEL_BLRP_*` settings.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// Where and how often to export.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint, e.g. `http://127.0.0.1:4317`.
    pub endpoint: String,
    /// `service.name` of everything exported.
    pub service_name: String,
    /// `service.instance.id`.
    pub instance_id: String,
    /// How often metrics are exported.
    pub metrics_interval: Duration,
}

/// Running providers of the three signals; flushed and stopped by [`Telemetry::shutdown`].
pub struct Telemetry {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
    logs: SdkLoggerProvider,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the OTLP exporter: {0}")]
pub struct TelemetryError(String);

impl Telemetry {
    /// Starts exporting. Call inside a Tokio runtime: the gRPC exporter lives on it.
    pub fn start(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attributes([
                KeyValue::new("service.instance.id", config.instance_id.clone()),
                KeyValue::new("service.namespace", "lookout-demo"),
            ])
            .build();
        let err = |e: opentelemetry_otlp::ExporterBuildError| TelemetryError(e.to_string());
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(&config.endpoint)
            .build()
            .map_err(err)?;
        let traces = SdkTracerProvider::builder().with_batch_exporter(spans).with_resource(resource.clone()).build();
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(&config.endpoint)
            .build()
            .map_err(err)?;
        let reader = PeriodicReader::builder(metric_exporter).with_interval(config.metrics_interval).build();
        let metrics = SdkMeterProvider::builder().with_reader(reader).with_resource(resource.clone()).build();
        let log_exporter = opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(&config.endpoint)
            .build()
            .map_err(err)?;
        let logs = SdkLoggerProvider::builder().with_batch_exporter(log_exporter).with_resource(resource).build();
        Ok(Telemetry { traces, metrics, logs })
    }

    /// A tracer for an instrumentation scope.
    pub fn tracer(&self, scope: &'static str) -> SdkTracer {
        self.traces.tracer(scope)
    }

    /// A meter for an instrumentation scope.
    pub fn meter(&self, scope: &'static str) -> Meter {
        self.metrics.meter(scope)
    }

    /// A logger for an instrumentation scope.
    pub fn logger(&self, scope: &'static str) -> SdkLogger {
        use opentelemetry::logs::LoggerProvider as _;
        self.logs.logger(scope)
    }

    /// Exports what is pending and stops.
    pub fn shutdown(&self) {
        let _ = self.traces.shutdown();
        let _ = self.metrics.shutdown();
        let _ = self.logs.shutdown();
    }
}

/// Registers an observable `u64` instrument: a counter (`counter`) or a gauge, read by `callback`
/// at each export.
pub fn observe_u64(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    counter: bool,
    callback: impl Fn(&dyn opentelemetry::metrics::AsyncInstrument<u64>) + Send + Sync + 'static,
) {
    if counter {
        meter
            .u64_observable_counter(name)
            .with_description(description)
            .with_unit(unit)
            .with_callback(callback)
            .build();
    } else {
        meter.u64_observable_gauge(name).with_description(description).with_unit(unit).with_callback(callback).build();
    }
}

/// HTTP request headers as a W3C trace-context carrier.
pub struct HttpHeaders<'a>(pub &'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// AMQP message headers as a W3C trace-context carrier.
pub struct AmqpHeaders<'a>(pub &'a amq_protocol::types::FieldTable);

impl opentelemetry::propagation::Extractor for AmqpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        use amq_protocol::types::AMQPValue;
        match self.0.inner().get(key)? {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ShortString(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|k| k.as_str()).collect()
    }
}
