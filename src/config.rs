//! Configuration: defaults, overridden by an optional YAML file, overridden by flags and
//! `LOOKOUT_…` environment variables. Unknown keys in the file are errors that name the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use lookout_ingest::scrape::{GlobalConfig, ScrapeConfig};
use serde::{Deserialize, Deserializer};

/// Everything `lookout serve` can be told.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the WAL and the stores live.
    pub data_dir: PathBuf,
    /// Lookout's own logging.
    pub log: LogConfig,
    /// The query APIs, UI, health and `/metrics` listener.
    pub http: HttpConfig,
    /// The OTLP receivers.
    pub otlp: OtlpConfig,
    /// The write-ahead log.
    pub wal: WalConfig,
    /// The span store.
    pub traces: TracesConfig,
    /// The log store.
    pub logs: LogsConfig,
    /// The metrics store and the ways metrics are made (OTLP translation, span metrics).
    pub metrics: MetricsConfig,
    /// The PromQL engine.
    pub query: QueryConfig,
    /// Prometheus's `global` section: scrape interval and timeout defaults, external labels.
    pub global: GlobalConfig,
    /// Prometheus's `scrape_configs`: targets Lookout pulls metrics from.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Alerting and recording rules and where alerts go.
    pub rules: RulesConfig,
    /// Dashboards provisioned from files.
    pub dashboards: DashboardsConfig,
    /// Tenants and credentials; off unless a tenants file is named.
    pub auth: AuthConfig,
    /// TLS on the listeners; off unless a certificate is named.
    pub tls: TlsConfig,
    /// Ingestion rate limits; 0 is no limit.
    pub limits: LimitsConfig,
    /// The data directory's disk.
    pub storage: StorageConfig,
    /// How long shutdown waits for in-flight requests before closing anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            otlp: OtlpConfig::default(),
            wal: WalConfig::default(),
            traces: TracesConfig::default(),
            logs: LogsConfig::default(),
            metrics: MetricsConfig::default(),
            query: QueryConfig::default(),
            global: default_global(),
            scrape_configs: Vec::new(),
            rules: RulesConfig::default(),
            dashboards: DashboardsConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            limits: LimitsConfig::default(),
            storage: StorageConfig::default(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Lookout's own logs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `lookout_ingest=debug,info`; `RUST_LOG` wins if set.
    pub level: String,
    /// `text` for people, `json` for machines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Text }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The :3000 listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address for the query APIs, UI, `/metrics`, `/-/healthy` and `/-/ready`.
    pub listen_address: SocketAddr,
    /// Answer Prometheus's admin endpoints (`/api/v1/admin/tsdb/snapshot`).
    pub enable_admin_api: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen_address: ([0, 0, 0, 0], 3000).into(), enable_admin_api: false }
    }
}

/// The OTLP receivers.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// OTLP/gRPC address.
    pub grpc_listen_address: SocketAddr,
    /// OTLP/HTTP address.
    pub http_listen_address: SocketAddr,
    /// Largest request accepted, compressed or decompressed.
    pub max_message_size: ByteSize,
    /// Export requests processed at once; beyond that clients get 429 / `RESOURCE_EXHAUSTED`.
    pub max_inflight_requests: usize,
    /// Retry hint sent with 429 / 503 / `RESOURCE_EXHAUSTED` / `UNAVAILABLE`.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// CORS for browser exporters on OTLP/HTTP.
    pub cors: CorsConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            grpc_listen_address: ([0, 0, 0, 0], 4317).into(),
            http_listen_address: ([0, 0, 0, 0], 4318).into(),
            max_message_size: ByteSize(16 << 20),
            max_inflight_requests: 64,
            retry_after: Duration::from_secs(1),
            cors: CorsConfig::default(),
        }
    }
}

/// CORS on OTLP/HTTP.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to send (`*` for any); empty turns CORS off.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed besides `Content-Type`, `Content-Encoding` and `X-Scope-OrgID`.
    pub allowed_headers: Vec<String>,
    /// How long browsers may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig { allowed_origins: Vec::new(), allowed_headers: Vec::new(), max_age: Duration::from_secs(7200) }
    }
}

/// The write-ahead log.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// `always`: fsync each group commit before acknowledging; `interval`: acknowledge once
    /// written, fsync every `fsync_interval`; `never`: leave it to the OS.
    pub fsync: FsyncMode,
    /// Background fsync period for `fsync: interval`.
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// Start a new segment file at this size.
    pub segment_size: ByteSize,
    /// How often segments no store needs any more are deleted (the metrics head snapshot is
    /// written then too).
    #[serde(with = "humantime_serde")]
    pub truncation_interval: Duration,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            fsync: FsyncMode::Always,
            fsync_interval: Duration::from_millis(100),
            segment_size: ByteSize(128 << 20),
            truncation_interval: Duration::from_secs(60),
        }
    }
}

/// The span store.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TracesConfig {
    /// Delete span blocks whose spans all ended longer ago than this.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Cut the in-memory head into a block once it holds this many spans.
    pub max_block_spans: usize,
    /// Cut the head into a block once its oldest span arrived this long ago.
    #[serde(with = "humantime_serde")]
    pub max_block_age: Duration,
}

impl Default for TracesConfig {
    fn default() -> Self {
        TracesConfig {
            retention: Duration::from_secs(7 * 24 * 3600),
            max_block_spans: 200_000,
            max_block_age: Duration::from_secs(120),
        }
    }
}

/// The log store.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Delete log partitions that ended longer ago than this; older entries are refused.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Length of one time partition (one index each, deleted whole by retention).
    #[serde(with = "humantime_serde")]
    pub partition: Duration,
    /// How often new entries are committed, i.e. the longest until they are searchable.
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// zstd level (1–22) of the lines in partitions created from now on: higher is smaller on
    /// disk and dearer to write.
    pub compression_level: i32,
    /// OTLP resource attributes that become stream labels (dots turned into `_`); the others
    /// become structured metadata. Loki's default list.
    pub promote_resource_attributes: Vec<String>,
    /// Most labels one stream may have (Loki's `max_label_names_per_series`); streams with
    /// more are refused with their entries.
    pub max_label_names_per_series: usize,
    /// Longest stream label name, in bytes (Loki's `max_label_name_length`).
    pub max_label_name_length: usize,
    /// Longest stream label value, in bytes (Loki's `max_label_value_length`).
    pub max_label_value_length: usize,
}

impl Default for LogsConfig {
    fn default() -> Self {
        let stream_labels = lookout_ingest::StreamLabelLimits::default();
        LogsConfig {
            retention: Duration::from_secs(7 * 24 * 3600),
            partition: Duration::from_secs(3600),
            commit_interval: Duration::from_secs(1),
            compression_level: lookout_storage::logs::LogStoreOptions::default().compression_level,
            promote_resource_attributes: lookout_storage::logs::DEFAULT_PROMOTED
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            max_label_names_per_series: stream_labels.max_names,
            max_label_name_length: stream_labels.max_name_length,
            max_label_value_length: stream_labels.max_value_length,
        }
    }
}

/// Alerting and recording rules (the evaluation interval of groups that set none is
/// `global.evaluation_interval`, their external labels `global.external_labels`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule files and globs (`*.yml`); files in a `logs/` folder hold LogQL rules. They are
    /// the default tenant's (`anonymous`).
    pub path: Vec<String>,
    /// Tenants' own rule files, as Loki's and Mimir's rulers keep them in local storage:
    /// `<dir>/<tenant>/*.yml`, evaluated over that tenant's data, their output written to it.
    pub tenants_dir: Option<PathBuf>,
    /// How often a firing alert is sent again.
    #[serde(with = "humantime_serde")]
    pub resend_delay: Duration,
    /// Alertmanagers alerts are posted to (`http://host:9093`; `/api/v2/alerts` is added).
    pub alertmanager_urls: Vec<String>,
    /// Webhooks that get Alertmanager's webhook payload (version 4).
    pub webhook_urls: Vec<String>,
    /// Where people reach Lookout: `$externalURL` in templates and the base of alert links.
    pub external_url: String,
    /// How long Lookout may be down for an alert's `for` state to be restored.
    #[serde(with = "humantime_serde")]
    pub for_outage_tolerance: Duration,
    /// Least time an alert with a restored `for` state waits after a restart before firing.
    #[serde(with = "humantime_serde")]
    pub for_grace_period: Duration,
    /// Alerts each receiver's queue holds; beyond it the oldest are dropped and counted.
    pub notification_queue_capacity: usize,
}

/// Authentication and tenancy (`src/auth.rs`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The tenants file: with it, every API and intake request needs credentials from it, and
    /// its tenant is the request's; without it, no credentials are asked for and the tenant is
    /// `X-Scope-OrgID` (or `anonymous`).
    pub tenants_file: Option<PathBuf>,
}

/// Ingestion rate limits (`ingest/src/limits.rs`): token buckets of items (spans, log records,
/// data points, samples) and of bytes as received, per tenant and for the whole server. A
/// rate of 0 is no limit; a burst of 0 is twice the rate.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Items per second, each tenant.
    pub ingest_rate_items: f64,
    /// Most items at once, each tenant.
    pub ingest_burst_items: f64,
    /// Bytes per second, each tenant.
    pub ingest_rate_bytes: ByteSize,
    /// Most bytes at once, each tenant.
    pub ingest_burst_bytes: ByteSize,
    /// Items per second, all tenants together.
    pub global_ingest_rate_items: f64,
    /// Most items at once, all tenants together.
    pub global_ingest_burst_items: f64,
    /// Bytes per second, all tenants together.
    pub global_ingest_rate_bytes: ByteSize,
    /// Most bytes at once, all tenants together.
    pub global_ingest_burst_bytes: ByteSize,
    /// Open connections from one client address to one port (0: no limit); more are refused
    /// with a 429 (gRPC: GOAWAY) naming the limit.
    pub max_connections_per_client: usize,
    /// Log streams a tenant may have active (with an entry in the last 30 minutes) at once;
    /// entries of new streams past it are refused (0: no limit).
    pub max_streams_per_tenant: usize,
    /// Spans one trace may have (counted until it has been idle for 30 s); more are refused
    /// (0: no limit).
    pub max_spans_per_trace: usize,
    /// String attribute values of spans and log records longer than this are cut to it
    /// (0: never).
    pub max_attribute_bytes: ByteSize,
    /// Tenants' own limits in place of the defaults above (and of
    /// `metrics.max_series_per_tenant`), keyed by tenant id.
    pub overrides: std::collections::BTreeMap<String, TenantLimits>,
}

/// One tenant's own limits (`limits.overrides.<tenant>`); what is not given is the default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Items per second.
    pub ingest_rate_items: Option<f64>,
    /// Most items at once.
    pub ingest_burst_items: Option<f64>,
    /// Bytes per second.
    pub ingest_rate_bytes: Option<ByteSize>,
    /// Most bytes at once.
    pub ingest_burst_bytes: Option<ByteSize>,
    /// Active series in the metrics store.
    pub max_series: Option<usize>,
    /// Active log streams.
    pub max_streams: Option<usize>,
    /// Spans per trace.
    pub max_spans_per_trace: Option<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            ingest_rate_items: 0.0,
            ingest_burst_items: 0.0,
            ingest_rate_bytes: ByteSize(0),
            ingest_burst_bytes: ByteSize(0),
            global_ingest_rate_items: 0.0,
            global_ingest_burst_items: 0.0,
            global_ingest_rate_bytes: ByteSize(0),
            global_ingest_burst_bytes: ByteSize(0),
            max_connections_per_client: 512,
            max_streams_per_tenant: 5000,
            max_spans_per_trace: 50_000,
            max_attribute_bytes: ByteSize(64 * 1024),
            overrides: std::collections::BTreeMap::new(),
        }
    }
}

impl LimitsConfig {
    /// The tenants with limits of their own, checked.
    pub fn tenants(&self) -> anyhow::Result<Vec<(lookout_storage::Tenant, &TenantLimits)>> {
        self.overrides
            .iter()
            .map(|(id, limits)| {
                let tenant = lookout_storage::Tenant::new(id)
                    .map_err(|e| anyhow::anyhow!("limits.overrides: tenant {id:?}: {e}"))?;
                Ok((tenant, limits))
            })
            .collect()
    }

    /// Each overriding tenant's rates (items, bytes), the defaults where it gives none.
    pub fn rate_overrides(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<lookout_storage::Tenant, (lookout_ingest::Rate, lookout_ingest::Rate)>>
    {
        use lookout_ingest::Rate;
        let d = self.rates();
        Ok(self
            .tenants()?
            .into_iter()
            .map(|(tenant, o)| {
                let items = Rate {
                    per_second: o.ingest_rate_items.map_or(d.tenant_items.per_second, |r| r.max(0.0)),
                    burst: o.ingest_burst_items.map_or(d.tenant_items.burst, |b| b.max(0.0)),
                };
                let bytes = Rate {
                    per_second: o.ingest_rate_bytes.map_or(d.tenant_bytes.per_second, |r| r.0 as f64),
                    burst: o.ingest_burst_bytes.map_or(d.tenant_bytes.burst, |b| b.0 as f64),
                };
                (tenant, (items, bytes))
            })
            .collect())
    }

    /// Each overriding tenant's (streams, spans per trace) limits.
    pub fn active_overrides(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<lookout_storage::Tenant, (usize, usize)>> {
        Ok(self
            .tenants()?
            .into_iter()
            .map(|(tenant, o)| {
                let streams = o.max_streams.unwrap_or(self.max_streams_per_tenant);
                (tenant, (streams, o.max_spans_per_trace.unwrap_or(self.max_spans_per_trace)))
            })
            .collect())
    }

    /// The rates for the ingester.
    pub fn rates(&self) -> lookout_ingest::RateLimits {
        use lookout_ingest::Rate;
        let bytes = |rate: ByteSize, burst: ByteSize| Rate { per_second: rate.0 as f64, burst: burst.0 as f64 };
        lookout_ingest::RateLimits {
            tenant_items: Rate { per_second: self.ingest_rate_items.max(0.0), burst: self.ingest_burst_items.max(0.0) },
            tenant_bytes: bytes(self.ingest_rate_bytes, self.ingest_burst_bytes),
            global_items: Rate {
                per_second: self.global_ingest_rate_items.max(0.0),
                burst: self.global_ingest_burst_items.max(0.0),
            },
            global_bytes: bytes(self.global_ingest_rate_bytes, self.global_ingest_burst_bytes),
        }
    }
}

/// The data directory's disk (`ingest/src/disk.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Below this much free space on the data directory's filesystem, intake answers 503 /
    /// UNAVAILABLE until space is freed (queries go on); 0 turns the check off.
    pub min_free_bytes: ByteSize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { min_free_bytes: ByteSize(100 << 20) }
    }
}

/// TLS on :3000, :4317 and :4318 (`src/tls.rs`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; with `key_file`, every listener speaks TLS only.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates: the OTLP listeners then require client certificates they sign.
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// The files, when TLS is on; an error when they are named by halves.
    pub fn files(&self, client_auth: bool) -> anyhow::Result<Option<crate::tls::TlsFiles>> {
        match (&self.cert_file, &self.key_file) {
            (None, None) => {
                anyhow::ensure!(
                    self.client_ca_file.is_none(),
                    "tls.client_ca_file needs tls.cert_file and tls.key_file"
                );
                Ok(None)
            }
            (Some(cert), Some(key)) => Ok(Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: if client_auth { self.client_ca_file.clone() } else { None },
            })),
            _ => anyhow::bail!("tls.cert_file and tls.key_file go together"),
        }
    }
}

/// Dashboards the UI shows besides Lookout's own and those saved from the UI.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardsConfig {
    /// Folders whose `*.json` files are dashboards (Lookout's model or Grafana's JSON), read
    /// again whenever the UI lists them.
    pub path: Vec<PathBuf>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            path: Vec::new(),
            tenants_dir: None,
            resend_delay: Duration::from_secs(60),
            alertmanager_urls: Vec::new(),
            webhook_urls: Vec::new(),
            external_url: String::new(),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            notification_queue_capacity: 10_000,
        }
    }
}

/// The metrics store and what feeds it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Samples older than this are deleted (whole blocks) and not returned.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Sample time the head cuts into one block (Prometheus's `--storage.tsdb.min-block-duration`);
    /// the head holds up to one and a half of it in memory.
    #[serde(with = "humantime_serde")]
    pub block_range: Duration,
    /// Most series one tenant may have in memory; beyond it new series are refused.
    pub max_series_per_tenant: usize,
    /// Most labels one series may have.
    pub max_labels_per_series: usize,
    /// Longest label name, in bytes; longer series are refused.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes; longer series are refused.
    pub max_label_value_length: usize,
    /// Exemplars kept in memory across all series.
    pub max_exemplars: usize,
    /// OTLP resource attributes copied as labels onto every series of their resource.
    pub promote_resource_attributes: Vec<String>,
    /// Make Tempo's span metrics and service graph series from received spans.
    pub span_metrics: bool,
    /// How often span metrics are written.
    #[serde(with = "humantime_serde")]
    pub span_metrics_interval: Duration,
    /// Scrape Lookout's own `/metrics` (job `lookout`).
    pub scrape_self: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            retention: Duration::from_secs(15 * 24 * 3600),
            block_range: lookout_storage::metrics::TsdbOptions::default().block_range,
            max_series_per_tenant: 1_000_000,
            max_labels_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_exemplars: 100_000,
            promote_resource_attributes: Vec::new(),
            span_metrics: true,
            span_metrics_interval: Duration::from_secs(15),
            scrape_self: true,
        }
    }
}

/// The PromQL engine's settings, with Prometheus's defaults.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// How far back an instant selector looks for a sample.
    #[serde(with = "humantime_serde")]
    pub lookback_delta: Duration,
    /// Most samples one query may hold in memory.
    pub max_samples: usize,
    /// Longest a query may run.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Queries evaluated at once; the others wait.
    pub max_concurrency: usize,
    /// Allow Prometheus's experimental functions (`limitk`, `sort_by_label`, `mad_over_time`, …).
    pub experimental_functions: bool,
    /// Longest time range of a PromQL or LogQL range query; 0 is no limit (Loki's
    /// `max_query_length` is 721h).
    #[serde(with = "humantime_serde")]
    pub max_range: Duration,
    /// Most distinct series one PromQL query may read (Mimir's
    /// `max_fetched_series_per_query`); 0 is no limit.
    pub max_series: usize,
    /// Most series a LogQL metric query may return (Loki's `max_query_series`).
    pub max_query_series: usize,
    /// Largest `limit` a LogQL log query may ask for (Loki's `max_entries_limit_per_query`).
    pub max_entries_limit_per_query: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        let logql = lookout_query::logql::LogqlOptions::default();
        QueryConfig {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_concurrency: 20,
            experimental_functions: false,
            max_range: Duration::ZERO,
            max_series: 0,
            max_query_series: logql.max_series,
            max_entries_limit_per_query: logql.max_entries_limit,
        }
    }
}

/// Prometheus's global defaults, filled in.
fn default_global() -> GlobalConfig {
    let mut global = GlobalConfig::default();
    // Only fills in the documented defaults; an empty config cannot be invalid.
    let _ = global.validate();
    global
}

/// WAL fsync policy as configured.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// Group commit with fsync before acknowledging.
    Always,
    /// Periodic background fsync.
    Interval,
    /// No fsync.
    Never,
}

/// A size in bytes, written as a number or with a unit (`16MiB`, `512KiB`, `1GB`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let number: u64 = number.parse().map_err(|_| format!("{s:?} is not a size such as 16MiB"))?;
        let multiplier: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => {
                return Err(format!("unknown size unit {other:?}: use B, KiB, MiB, GiB, KB, MB or GB"));
            }
        };
        number.checked_mul(multiplier).map(ByteSize).ok_or_else(|| format!("{s:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

impl Config {
    /// Reads a YAML config file; unknown keys and bad values are errors naming the key.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        Config::from_yaml(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses YAML config text.
    pub fn from_yaml(text: &str) -> anyhow::Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let mut config: Config = serde_yaml_ng::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Fills in the scrape defaults and checks the scrape configuration as Prometheus does.
    pub fn validate(&mut self) -> anyhow::Result<()> {
        self.global.validate()?;
        if !(1..=22).contains(&self.logs.compression_level) {
            anyhow::bail!(
                "logs.compression_level must be a zstd level from 1 to 22, not {}",
                self.logs.compression_level
            );
        }
        let mut names = std::collections::HashSet::new();
        for job in &mut self.scrape_configs {
            job.validate(&self.global)?;
            if !names.insert(job.job_name.clone()) {
                anyhow::bail!("found multiple scrape configs with job name {:?}", job.job_name);
            }
            if job.job_name == "lookout" && self.metrics.scrape_self {
                anyhow::bail!(
                    "job name \"lookout\" is Lookout's own scrape; set metrics.scrape_self: false to define it"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata").join(name)
    }

    #[test]
    fn example_config_is_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lookout.example.yaml");
        assert_eq!(Config::from_file(&path).unwrap(), Config::default());
    }

    #[test]
    fn tls_files_come_in_pairs() {
        let tls = |cert: Option<&str>, key: Option<&str>, ca: Option<&str>| TlsConfig {
            cert_file: cert.map(PathBuf::from),
            key_file: key.map(PathBuf::from),
            client_ca_file: ca.map(PathBuf::from),
        };
        assert!(tls(None, None, None).files(true).unwrap().is_none());
        let error = |c: TlsConfig| c.files(true).unwrap_err().to_string();
        assert!(error(tls(Some("c"), None, None)).contains("go together"));
        assert!(error(tls(None, None, Some("ca"))).contains("needs tls.cert_file"));
        let both = tls(Some("c"), Some("k"), Some("ca"));
        assert_eq!(both.files(true).unwrap().unwrap().client_ca, Some(PathBuf::from("ca")));
        assert_eq!(
            both.files(false).unwrap().unwrap().client_ca,
            None,
            "the query port never asks for client certificates"
        );
    }

    #[test]
    fn minimal_config_fills_in_defaults() {
        let config = Config::from_file(&fixture("minimal.yaml")).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/lookout"));
        assert_eq!(config.otlp, OtlpConfig::default());
    }

    #[test]
    fn full_config_sets_everything() {
        let c = Config::from_file(&fixture("full.yaml")).unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.otlp.max_message_size, ByteSize(4 << 20));
        assert_eq!(c.otlp.cors.allowed_origins, vec!["https://app.example.com".to_owned()]);
        assert_eq!(c.otlp.cors.max_age, Duration::from_secs(600));
        assert_eq!(c.wal.fsync, FsyncMode::Interval);
        assert_eq!(c.auth.tenants_file, Some(PathBuf::from("/etc/lookout/tenants.yaml")));
        assert_eq!(c.wal.fsync_interval, Duration::from_millis(250));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(c.rules.path, vec!["/etc/lookout/rules/*.yml".to_owned()]);
        assert_eq!(c.rules.resend_delay, Duration::from_secs(30));
        assert_eq!(c.rules.alertmanager_urls, vec!["http://am:9093".to_owned()]);
    }

    #[test]
    fn unknown_key_is_an_error_that_names_it() {
        let err = format!("{:#}", Config::from_file(&fixture("wrong_key.yaml")).unwrap_err());
        assert!(err.contains("max_mesage_size"), "{err}");
        assert!(err.contains("wrong_key.yaml"), "{err}");
    }

    #[test]
    fn a_log_compression_level_zstd_has_not_is_an_error_that_names_the_key() {
        assert_eq!(Config::from_yaml("logs: {compression_level: 19}").unwrap().logs.compression_level, 19);
        for level in [0, 23, -1] {
            let err = format!("{:#}", Config::from_yaml(&format!("logs: {{compression_level: {level}}}")).unwrap_err());
            assert!(err.contains("logs.compression_level") && err.contains(&level.to_string()), "{err}");
        }
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!("16MiB".parse::<ByteSize>(), Ok(ByteSize(16 << 20)));
        assert_eq!("1GB".parse::<ByteSize>(), Ok(ByteSize(1_000_000_000)));
        assert_eq!("512".parse::<ByteSize>(), Ok(ByteSize(512)));
        assert!("12 parsecs".parse::<ByteSize>().unwrap_err().contains("unknown size unit"));
    }

    #[test]
    fn flags_override_the_file() {
        use clap::Parser;
        let file = fixture("full.yaml");
        let cli = crate::cli::Cli::try_parse_from([
            "lookout",
            "--config.file",
            file.to_str().unwrap(),
            "--otlp.max-message-size",
            "2MiB",
            "--wal.fsync",
            "never",
        ])
        .unwrap();
        let config = cli.serve.resolve().unwrap();
        assert_eq!(config.otlp.max_message_size, ByteSize(2 << 20));
        assert_eq!(config.wal.fsync, FsyncMode::Never);
        assert_eq!(config.otlp.max_inflight_requests, 8, "unset flags keep the file's value");
    }
}
