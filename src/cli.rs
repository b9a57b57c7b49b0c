//! Command-line flags. Every `serve` flag may also come from a `LOOKOUT_…` environment
//! variable, and overrides the config file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{ByteSize, Config, FsyncMode, LogFormat};

/// Lookout: one binary that receives OpenTelemetry logs, metrics and traces and keeps them.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `serve`, accepted without the subcommand too.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive OTLP on :4317 (gRPC) and :4318 (HTTP), serve health and metrics on :3000.
    Serve(Box<ServeArgs>),
    /// Inspect the write-ahead log.
    #[command(subcommand)]
    Wal(WalCommand),
    /// Send OTLP/gRPC load to a running Lookout and report the rate.
    Loadgen(crate::loadgen::LoadgenArgs),
    /// Check rule files and run rule unit tests, as promtool does.
    #[command(subcommand)]
    Rules(crate::rules::RulesCommand),
    /// Run the demo's AMQP 0-9-1 message broker alone.
    Broker(BrokerArgs),
    /// Run the demo's load-balancing API gateway alone.
    Gateway(GatewayArgs),
    /// Run Lookout with the microservice demo: gateway, shop services, broker, traffic.
    Demo(Box<DemoArgs>),
    /// Break the running demo on purpose: slow or failing replicas, stopped consumers, a flood.
    Chaos(ChaosArgs),
    /// Make credentials for the tenants file (`--auth.tenants-file`).
    #[command(subcommand)]
    Auth(AuthCommand),
}

/// `lookout auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Print a new random bearer token and the tenants-file line with its hash.
    Token {
        /// The token's name in the file.
        #[arg(long, default_value = "token")]
        name: String,
    },
    /// Read a password from standard input and print its pbkdf2-sha256 hash.
    HashPassword,
}

/// Flags of `lookout demo`: Lookout's own, and where the demo's parts listen.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Lookout's flags.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The gateway's address.
    #[arg(long = "demo.gateway-address", env = "LOOKOUT_DEMO_GATEWAY_ADDRESS", default_value = "0.0.0.0:8080")]
    pub gateway_address: SocketAddr,
    /// The gateway's admin API and the chaos switch.
    #[arg(long = "demo.admin-address", env = "LOOKOUT_DEMO_ADMIN_ADDRESS", default_value = "127.0.0.1:8081")]
    pub admin_address: SocketAddr,
    /// The broker's AMQP address.
    #[arg(long = "demo.amqp-address", env = "LOOKOUT_DEMO_AMQP_ADDRESS", default_value = "0.0.0.0:5672")]
    pub amqp_address: SocketAddr,
    /// The broker's management API.
    #[arg(
        long = "demo.amqp-management-address",
        env = "LOOKOUT_DEMO_AMQP_MANAGEMENT_ADDRESS",
        default_value = "0.0.0.0:15672"
    )]
    pub amqp_management_address: SocketAddr,
    /// Shopper requests per second sent by the traffic generator (0: none).
    #[arg(long = "demo.traffic-rate", env = "LOOKOUT_DEMO_TRAFFIC_RATE", default_value_t = 5.0)]
    pub traffic_rate: f64,
    /// The shoppers' mix: weights of new orders, order lists and stock checks.
    #[arg(long = "demo.traffic-mix", env = "LOOKOUT_DEMO_TRAFFIC_MIX", default_value = "orders=60,lists=25,stock=15")]
    pub traffic_mix: lookout_demo::shop::traffic::Mix,
    /// How often the demo's parts export their metrics.
    #[arg(long = "demo.metrics-interval", env = "LOOKOUT_DEMO_METRICS_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub metrics_interval: Duration,
}

/// `lookout chaos ACTION [TARGET] [VALUE]`.
#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// `slow`, `fail`, `stop`, `start`, `flood`, `reset` or `show`.
    pub action: String,
    /// An orders replica (`orders-1`…`orders-3`) or a consumer (`billing`, `notifications`, `analytics`).
    pub target: Option<String>,
    /// Milliseconds for `slow`, a 0–1 share for `fail`, requests per second for `flood`.
    pub value: Option<f64>,
    /// The demo's admin API.
    #[arg(long = "demo.admin-url", env = "LOOKOUT_DEMO_ADMIN_URL", default_value = "http://127.0.0.1:8081")]
    pub admin_url: String,
}

/// Flags of `lookout gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// The gateway's YAML file: routes, pools, algorithms, limits, auth.
    #[arg(long = "gateway.config", env = "LOOKOUT_GATEWAY_CONFIG")]
    pub config: PathBuf,
    /// Address of the proxy.
    #[arg(long = "gateway.listen-address", env = "LOOKOUT_GATEWAY_LISTEN_ADDRESS", default_value = "0.0.0.0:8080")]
    pub listen_address: SocketAddr,
    /// Address of the admin API (pools, upstream health, circuits).
    #[arg(long = "gateway.admin-address", env = "LOOKOUT_GATEWAY_ADMIN_ADDRESS", default_value = "127.0.0.1:8081")]
    pub admin_address: SocketAddr,
    /// OTLP/gRPC endpoint the gateway sends its traces, metrics and logs to (empty: none).
    #[arg(long = "otlp.endpoint", env = "LOOKOUT_GATEWAY_OTLP_ENDPOINT", default_value = "http://127.0.0.1:4317")]
    pub otlp_endpoint: String,
    /// How often the gateway exports its metrics.
    #[arg(long = "otlp.metrics-interval", env = "LOOKOUT_GATEWAY_OTLP_METRICS_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub otlp_metrics_interval: Duration,
    /// Log filter (RUST_LOG wins).
    #[arg(long = "log.level", env = "LOOKOUT_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long = "log.format", env = "LOOKOUT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// TLS on the admin API.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `--tls.cert-file` and `--tls.key-file` of the demo's parts run alone.
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// PEM certificate chain: with --tls.key-file, TLS (reloaded when the files change).
    #[arg(long = "tls.cert-file", env = "LOOKOUT_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls.cert-file.
    #[arg(long = "tls.key-file", env = "LOOKOUT_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
}

impl TlsArgs {
    /// The server settings for these files, if given, with these ALPN protocols.
    pub fn server(&self, alpn: &[&[u8]]) -> anyhow::Result<Option<std::sync::Arc<crate::tls::Tls>>> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Ok(Some(crate::tls::Tls::new(
                crate::tls::TlsFiles { cert: cert.clone(), key: key.clone(), client_ca: None },
                alpn,
            )?)),
            _ => Ok(None),
        }
    }
}

/// Flags of `lookout broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// AMQP address.
    #[arg(long = "amqp.listen-address", env = "LOOKOUT_AMQP_LISTEN_ADDRESS", default_value = "0.0.0.0:5672")]
    pub listen_address: SocketAddr,
    /// The management HTTP API's address (RabbitMQ's :15672 API, read-only).
    #[arg(long = "amqp.management-address", env = "LOOKOUT_AMQP_MANAGEMENT_ADDRESS", default_value = "0.0.0.0:15672")]
    pub management_address: SocketAddr,
    /// The user clients log in as.
    #[arg(long = "amqp.user", env = "LOOKOUT_AMQP_USER", default_value = "guest")]
    pub user: String,
    /// Its password.
    #[arg(long = "amqp.password", env = "LOOKOUT_AMQP_PASSWORD", default_value = "guest")]
    pub password: String,
    /// OTLP/gRPC endpoint the broker sends its traces, metrics and logs to (empty: none).
    #[arg(long = "otlp.endpoint", env = "LOOKOUT_BROKER_OTLP_ENDPOINT", default_value = "http://127.0.0.1:4317")]
    pub otlp_endpoint: String,
    /// How often the broker exports its metrics.
    #[arg(long = "otlp.metrics-interval", env = "LOOKOUT_BROKER_OTLP_METRICS_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub otlp_metrics_interval: Duration,
    /// Where durable queues and persistent messages are kept.
    #[arg(long = "amqp.data-dir", env = "LOOKOUT_AMQP_DATA_DIR", default_value = "./data/broker")]
    pub data_dir: PathBuf,
    /// AMQPS (AMQP over TLS) address, listened on with --tls.cert-file (RabbitMQ's 5671).
    #[arg(long = "amqps.listen-address", env = "LOOKOUT_AMQPS_LISTEN_ADDRESS", default_value = "0.0.0.0:5671")]
    pub amqps_address: SocketAddr,
    /// TLS: AMQPS beside plain AMQP, and the management API over HTTPS only.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Log filter (RUST_LOG wins).
    #[arg(long = "log.level", env = "LOOKOUT_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long = "log.format", env = "LOOKOUT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// `lookout wal …`.
#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Print every record in the WAL as one JSON object per line (read-only).
    Dump {
        /// Data directory whose `wal/` to read.
        #[arg(long = "data-dir", env = "LOOKOUT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// Flags of `lookout serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// YAML config file; flags and environment variables override it.
    #[arg(long = "config.file", env = "LOOKOUT_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Data directory (WAL and stores) [default: ./data].
    #[arg(long = "data-dir", env = "LOOKOUT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `lookout_ingest=debug,info` (RUST_LOG wins) [default: info].
    #[arg(long = "log.level", env = "LOOKOUT_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log format [default: text].
    #[arg(long = "log.format", env = "LOOKOUT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Address of the query APIs, UI, /metrics and health endpoints [default: 0.0.0.0:3000].
    #[arg(long = "http.listen-address", env = "LOOKOUT_HTTP_LISTEN_ADDRESS")]
    pub http_listen_address: Option<SocketAddr>,
    /// Answer Prometheus's admin endpoints, e.g. POST /api/v1/admin/tsdb/snapshot.
    #[arg(long = "web.enable-admin-api", env = "LOOKOUT_WEB_ENABLE_ADMIN_API")]
    pub enable_admin_api: bool,
    /// OTLP/gRPC address [default: 0.0.0.0:4317].
    #[arg(long = "otlp.grpc.listen-address", env = "LOOKOUT_OTLP_GRPC_LISTEN_ADDRESS")]
    pub otlp_grpc_listen_address: Option<SocketAddr>,
    /// OTLP/HTTP address [default: 0.0.0.0:4318].
    #[arg(long = "otlp.http.listen-address", env = "LOOKOUT_OTLP_HTTP_LISTEN_ADDRESS")]
    pub otlp_http_listen_address: Option<SocketAddr>,
    /// Largest OTLP request, compressed or decompressed, e.g. 16MiB [default: 16MiB].
    #[arg(long = "otlp.max-message-size", env = "LOOKOUT_OTLP_MAX_MESSAGE_SIZE")]
    pub otlp_max_message_size: Option<ByteSize>,
    /// Export requests processed at once; more get 429 / RESOURCE_EXHAUSTED [default: 64].
    #[arg(long = "otlp.max-inflight-requests", env = "LOOKOUT_OTLP_MAX_INFLIGHT_REQUESTS")]
    pub otlp_max_inflight_requests: Option<usize>,
    /// Origins allowed to send OTLP/HTTP from a browser, comma-separated, `*` for any [default: none].
    #[arg(
        long = "otlp.http.cors-allowed-origins",
        env = "LOOKOUT_OTLP_HTTP_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub otlp_cors_allowed_origins: Option<Vec<String>>,
    /// WAL fsync policy [default: always].
    #[arg(long = "wal.fsync", env = "LOOKOUT_WAL_FSYNC", value_enum)]
    pub wal_fsync: Option<FsyncMode>,
    /// Background fsync period with --wal.fsync=interval, e.g. 100ms [default: 100ms].
    #[arg(long = "wal.fsync-interval", env = "LOOKOUT_WAL_FSYNC_INTERVAL", value_parser = humantime::parse_duration)]
    pub wal_fsync_interval: Option<Duration>,
    /// Delete span blocks older than this, e.g. 7d or 48h [default: 7d].
    #[arg(long = "traces.retention", env = "LOOKOUT_TRACES_RETENTION", value_parser = humantime::parse_duration)]
    pub traces_retention: Option<Duration>,
    /// Delete log partitions older than this, e.g. 7d [default: 7d].
    #[arg(long = "logs.retention", env = "LOOKOUT_LOGS_RETENTION", value_parser = humantime::parse_duration)]
    pub logs_retention: Option<Duration>,
    /// Longest until new log lines are searchable, e.g. 1s [default: 1s].
    #[arg(long = "logs.commit-interval", env = "LOOKOUT_LOGS_COMMIT_INTERVAL", value_parser = humantime::parse_duration)]
    pub logs_commit_interval: Option<Duration>,
    /// Delete metrics older than this, e.g. 15d [default: 15d].
    #[arg(long = "metrics.retention", env = "LOOKOUT_METRICS_RETENTION", value_parser = humantime::parse_duration)]
    pub metrics_retention: Option<Duration>,
    /// Most active series per tenant [default: 1000000].
    #[arg(long = "metrics.max-series-per-tenant", env = "LOOKOUT_METRICS_MAX_SERIES_PER_TENANT")]
    pub metrics_max_series_per_tenant: Option<usize>,
    /// How far back PromQL instant selectors look, e.g. 5m [default: 5m].
    #[arg(long = "query.lookback-delta", env = "LOOKOUT_QUERY_LOOKBACK_DELTA", value_parser = humantime::parse_duration)]
    pub query_lookback_delta: Option<Duration>,
    /// Most samples one query may hold in memory [default: 50000000].
    #[arg(long = "query.max-samples", env = "LOOKOUT_QUERY_MAX_SAMPLES")]
    pub query_max_samples: Option<usize>,
    /// Longest a query may run, e.g. 2m [default: 2m].
    #[arg(long = "query.timeout", env = "LOOKOUT_QUERY_TIMEOUT", value_parser = humantime::parse_duration)]
    pub query_timeout: Option<Duration>,
    /// Queries evaluated at once [default: 20].
    #[arg(long = "query.max-concurrency", env = "LOOKOUT_QUERY_MAX_CONCURRENCY")]
    pub query_max_concurrency: Option<usize>,
    /// Longest time range of a PromQL or LogQL range query, e.g. 721h [default: 0, no limit].
    #[arg(long = "query.max-range", env = "LOOKOUT_QUERY_MAX_RANGE", value_parser = humantime::parse_duration)]
    pub query_max_range: Option<Duration>,
    /// Prometheus feature flags; `promql-experimental-functions` is the one Lookout knows.
    #[arg(long = "enable-feature", env = "LOOKOUT_ENABLE_FEATURE", value_delimiter = ',')]
    pub enable_feature: Vec<String>,
    /// Rule files and globs, comma-separated or repeated [default: none].
    #[arg(long = "rules.path", env = "LOOKOUT_RULES_PATH", value_delimiter = ',')]
    pub rules_path: Option<Vec<String>>,
    /// Tenants' own rule files: <dir>/<tenant>/*.yml [default: none].
    #[arg(long = "rules.tenants-dir", env = "LOOKOUT_RULES_TENANTS_DIR")]
    pub rules_tenants_dir: Option<PathBuf>,
    /// Folders of dashboard JSON files to provision, comma-separated or repeated [default: none].
    #[arg(long = "dashboards.path", env = "LOOKOUT_DASHBOARDS_PATH", value_delimiter = ',')]
    pub dashboards_path: Option<Vec<PathBuf>>,
    /// Turn on authentication with this tenants file (tokens, users, their tenants) [default: off].
    #[arg(long = "auth.tenants-file", env = "LOOKOUT_AUTH_TENANTS_FILE")]
    pub auth_tenants_file: Option<PathBuf>,
    /// Items (spans, log records, points, samples) per second each tenant may send [default: 0, no limit].
    #[arg(long = "limits.ingest-rate-items", env = "LOOKOUT_LIMITS_INGEST_RATE_ITEMS")]
    pub limits_ingest_rate_items: Option<f64>,
    /// Most items a tenant may send at once [default: twice the rate].
    #[arg(long = "limits.ingest-burst-items", env = "LOOKOUT_LIMITS_INGEST_BURST_ITEMS")]
    pub limits_ingest_burst_items: Option<f64>,
    /// Bytes per second each tenant may send, e.g. 4MiB [default: 0, no limit].
    #[arg(long = "limits.ingest-rate-bytes", env = "LOOKOUT_LIMITS_INGEST_RATE_BYTES")]
    pub limits_ingest_rate_bytes: Option<ByteSize>,
    /// Items per second all tenants together may send [default: 0, no limit].
    #[arg(long = "limits.global-ingest-rate-items", env = "LOOKOUT_LIMITS_GLOBAL_INGEST_RATE_ITEMS")]
    pub limits_global_ingest_rate_items: Option<f64>,
    /// Bytes per second all tenants together may send [default: 0, no limit].
    #[arg(long = "limits.global-ingest-rate-bytes", env = "LOOKOUT_LIMITS_GLOBAL_INGEST_RATE_BYTES")]
    pub limits_global_ingest_rate_bytes: Option<ByteSize>,
    /// Log streams a tenant may have active at once; 0 is no limit [default: 5000].
    #[arg(long = "limits.max-streams-per-tenant", env = "LOOKOUT_LIMITS_MAX_STREAMS_PER_TENANT")]
    pub limits_max_streams_per_tenant: Option<usize>,
    /// Spans one trace may have; 0 is no limit [default: 50000].
    #[arg(long = "limits.max-spans-per-trace", env = "LOOKOUT_LIMITS_MAX_SPANS_PER_TRACE")]
    pub limits_max_spans_per_trace: Option<usize>,
    /// Longer string attribute values of spans and log records are cut; 0 is never [default: 64KiB].
    #[arg(long = "limits.max-attribute-bytes", env = "LOOKOUT_LIMITS_MAX_ATTRIBUTE_BYTES")]
    pub limits_max_attribute_bytes: Option<ByteSize>,
    /// Open connections from one client address to one port; 0 is no limit [default: 512].
    #[arg(long = "limits.max-connections-per-client", env = "LOOKOUT_LIMITS_MAX_CONNECTIONS_PER_CLIENT")]
    pub limits_max_connections_per_client: Option<usize>,
    /// Below this much free disk under --data-dir, intake answers 503 until space is freed [default: 100MiB].
    #[arg(long = "storage.min-free-bytes", env = "LOOKOUT_STORAGE_MIN_FREE_BYTES")]
    pub storage_min_free_bytes: Option<ByteSize>,
    /// PEM certificate chain: with --tls.key-file, every listener speaks TLS [default: off].
    #[arg(long = "tls.cert-file", env = "LOOKOUT_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls.cert-file.
    #[arg(long = "tls.key-file", env = "LOOKOUT_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates; the OTLP listeners then require client certificates they sign.
    #[arg(long = "tls.client-ca-file", env = "LOOKOUT_TLS_CLIENT_CA_FILE")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// How often a firing alert is sent again, e.g. 1m [default: 1m].
    #[arg(long = "rules.resend-delay", env = "LOOKOUT_RULES_RESEND_DELAY", value_parser = humantime::parse_duration)]
    pub rules_resend_delay: Option<Duration>,
    /// Alertmanager URLs alerts are posted to, e.g. http://localhost:9093 [default: none].
    #[arg(long = "rules.alertmanager-url", env = "LOOKOUT_RULES_ALERTMANAGER_URL", value_delimiter = ',')]
    pub rules_alertmanager_url: Option<Vec<String>>,
    /// Webhook URLs that get Alertmanager's webhook payload [default: none].
    #[arg(long = "rules.webhook-url", env = "LOOKOUT_RULES_WEBHOOK_URL", value_delimiter = ',')]
    pub rules_webhook_url: Option<Vec<String>>,
    /// How long Lookout may be down for `for` states to be restored [default: 1h].
    #[arg(long = "rules.alert.for-outage-tolerance", env = "LOOKOUT_RULES_ALERT_FOR_OUTAGE_TOLERANCE", value_parser = humantime::parse_duration)]
    pub rules_for_outage_tolerance: Option<Duration>,
    /// Least wait after a restart before an alert with a restored `for` fires [default: 10m].
    #[arg(long = "rules.alert.for-grace-period", env = "LOOKOUT_RULES_ALERT_FOR_GRACE_PERIOD", value_parser = humantime::parse_duration)]
    pub rules_for_grace_period: Option<Duration>,
    /// Evaluation interval of rule groups that set none, e.g. 15s [default: 1m].
    #[arg(long = "rules.evaluation-interval", env = "LOOKOUT_RULES_EVALUATION_INTERVAL", value_parser = humantime::parse_duration)]
    pub rules_evaluation_interval: Option<Duration>,
    /// The URL people reach Lookout at, for alert links and `$externalURL` [default: none].
    #[arg(long = "web.external-url", env = "LOOKOUT_WEB_EXTERNAL_URL")]
    pub web_external_url: Option<String>,
    /// WAL segment size, e.g. 128MiB [default: 128MiB].
    #[arg(long = "wal.segment-size", env = "LOOKOUT_WAL_SEGMENT_SIZE")]
    pub wal_segment_size: Option<ByteSize>,
}

impl ServeArgs {
    /// The config file (if any) with these flags applied on top.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut c = match &self.config_file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        set(&mut c.data_dir, &self.data_dir);
        set(&mut c.log.level, &self.log_level);
        set(&mut c.log.format, &self.log_format);
        set(&mut c.http.listen_address, &self.http_listen_address);
        if self.enable_admin_api {
            c.http.enable_admin_api = true;
        }
        set(&mut c.otlp.grpc_listen_address, &self.otlp_grpc_listen_address);
        set(&mut c.otlp.http_listen_address, &self.otlp_http_listen_address);
        set(&mut c.otlp.max_message_size, &self.otlp_max_message_size);
        set(&mut c.otlp.max_inflight_requests, &self.otlp_max_inflight_requests);
        set(&mut c.otlp.cors.allowed_origins, &self.otlp_cors_allowed_origins);
        set(&mut c.wal.fsync, &self.wal_fsync);
        set(&mut c.wal.fsync_interval, &self.wal_fsync_interval);
        set(&mut c.wal.segment_size, &self.wal_segment_size);
        set(&mut c.traces.retention, &self.traces_retention);
        set(&mut c.metrics.retention, &self.metrics_retention);
        set(&mut c.logs.retention, &self.logs_retention);
        set(&mut c.logs.commit_interval, &self.logs_commit_interval);
        set(&mut c.metrics.max_series_per_tenant, &self.metrics_max_series_per_tenant);
        set(&mut c.query.lookback_delta, &self.query_lookback_delta);
        set(&mut c.query.max_samples, &self.query_max_samples);
        set(&mut c.query.timeout, &self.query_timeout);
        set(&mut c.query.max_concurrency, &self.query_max_concurrency);
        set(&mut c.query.max_range, &self.query_max_range);
        set(&mut c.rules.path, &self.rules_path);
        if let Some(dir) = &self.rules_tenants_dir {
            c.rules.tenants_dir = Some(dir.clone());
        }
        set(&mut c.dashboards.path, &self.dashboards_path);
        set(&mut c.storage.min_free_bytes, &self.storage_min_free_bytes);
        set(&mut c.limits.ingest_rate_items, &self.limits_ingest_rate_items);
        set(&mut c.limits.ingest_burst_items, &self.limits_ingest_burst_items);
        set(&mut c.limits.ingest_rate_bytes, &self.limits_ingest_rate_bytes);
        set(&mut c.limits.global_ingest_rate_items, &self.limits_global_ingest_rate_items);
        set(&mut c.limits.global_ingest_rate_bytes, &self.limits_global_ingest_rate_bytes);
        set(&mut c.limits.max_connections_per_client, &self.limits_max_connections_per_client);
        set(&mut c.limits.max_streams_per_tenant, &self.limits_max_streams_per_tenant);
        set(&mut c.limits.max_spans_per_trace, &self.limits_max_spans_per_trace);
        set(&mut c.limits.max_attribute_bytes, &self.limits_max_attribute_bytes);
        for (flag, key) in [
            (&self.auth_tenants_file, &mut c.auth.tenants_file),
            (&self.tls_cert_file, &mut c.tls.cert_file),
            (&self.tls_key_file, &mut c.tls.key_file),
            (&self.tls_client_ca_file, &mut c.tls.client_ca_file),
        ] {
            if let Some(file) = flag {
                *key = Some(file.clone());
            }
        }
        set(&mut c.rules.resend_delay, &self.rules_resend_delay);
        set(&mut c.rules.alertmanager_urls, &self.rules_alertmanager_url);
        set(&mut c.rules.webhook_urls, &self.rules_webhook_url);
        set(&mut c.rules.for_outage_tolerance, &self.rules_for_outage_tolerance);
        set(&mut c.rules.for_grace_period, &self.rules_for_grace_period);
        set(&mut c.global.evaluation_interval, &self.rules_evaluation_interval);
        set(&mut c.rules.external_url, &self.web_external_url);
        for feature in &self.enable_feature {
            match feature.as_str() {
                "promql-experimental-functions" => c.query.experimental_functions = true,
                other => anyhow::bail!("unknown feature flag {other:?} (known: promql-experimental-functions)"),
            }
        }
        Ok(c)
    }
}

fn set<T: Clone>(target: &mut T, flag: &Option<T>) {
    if let Some(value) = flag {
        *target = value.clone();
    }
}
