//! `lookout serve`: the composition root that wires storage, ingest and the listeners, and
//! shuts them down in order (stop intake → finish in-flight requests → close the WAL).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use lookout_ingest::generator::{Generator, GeneratorOptions};
use lookout_ingest::prom::TranslateOptions;
use lookout_ingest::remote_write::IngesterSlot;
use lookout_ingest::scrape::{GlobalConfig, ScrapeConfig, ScrapeManager, ScrapeStatus};
use lookout_ingest::{
    CorsOptions, IngestMetrics, IngestOptions, Ingester, IntakeOptions, LogsService, MetricsIntake, MetricsService,
    TraceService, Transport,
};
use lookout_query::promql::{Engine, EngineOptions};
use lookout_query::{BuildInfo, PrometheusState, TempoState};
use lookout_storage::logs::{LogStore, LogStoreOptions};
use lookout_storage::metrics::{Tsdb, TsdbOptions};
use lookout_storage::{
    Apply, FsyncPolicy, Payload, Signal, SpanStore, SpanStoreOptions, Tenant, TenantPayload, Wal, WalMetrics,
    WalOptions, WalPosition, WalReader,
};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::admin::{self, AdminState};
use crate::auth;
use crate::config::{Config, FsyncMode};
use crate::listen::{self, ConnectionLimit, Listener, Protocol};
use crate::rules::RuleStorage;
use crate::tls::Tls;

/// Runs Lookout until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    run_reporting(config, None).await
}

/// Where a running Lookout listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The HTTP APIs and UI.
    pub http: SocketAddr,
    /// OTLP/gRPC.
    pub grpc: SocketAddr,
}

/// Runs Lookout until SIGINT or SIGTERM, telling `bound` its addresses once it listens.
pub async fn run_reporting(config: Config, bound: Option<tokio::sync::oneshot::Sender<Bound>>) -> anyhow::Result<()> {
    let registry = Registry::new();
    registry.register(Box::new(build_info()?))?;
    let admin_listener = bind("http", config.http.listen_address).await?;
    let admin_address = admin_listener.local_addr()?;
    let grpc_listener = bind("otlp-grpc", config.otlp.grpc_listen_address).await?;
    let otlp_http_listener = bind("otlp-http", config.otlp.http_listen_address).await?;
    if let Some(tx) = bound {
        let _ = tx.send(Bound { http: admin_address, grpc: grpc_listener.local_addr()? });
    }

    let span_options = SpanStoreOptions {
        max_head_spans: config.traces.max_block_spans.max(1),
        max_head_age: config.traces.max_block_age,
        retention: config.traces.retention,
        ..SpanStoreOptions::default()
    };
    let traces_dir = config.data_dir.join("traces");
    let spans = Arc::new(
        tokio::task::spawn_blocking(move || SpanStore::open(&traces_dir, span_options))
            .await?
            .context("opening the span store")?,
    );
    let tsdb_options = TsdbOptions {
        retention: config.metrics.retention,
        block_range: config.metrics.block_range.max(Duration::from_secs(1)),
        max_series_per_tenant: config.metrics.max_series_per_tenant.max(1),
        max_series_overrides: config
            .limits
            .tenants()?
            .into_iter()
            .filter_map(|(tenant, o)| o.max_series.map(|n| (tenant, n.max(1))))
            .collect(),
        max_labels_per_series: config.metrics.max_labels_per_series.max(1),
        max_label_name_length: config.metrics.max_label_name_length.max(1),
        max_label_value_length: config.metrics.max_label_value_length.max(1),
        max_exemplars: config.metrics.max_exemplars,
        ..TsdbOptions::default()
    };
    let metrics_dir = config.data_dir.join("metrics");
    let tsdb = Arc::new(
        tokio::task::spawn_blocking(move || Tsdb::open(&metrics_dir, tsdb_options))
            .await?
            .context("opening the metrics store")?,
    );
    let logs_options = LogStoreOptions {
        partition: config.logs.partition,
        retention: config.logs.retention,
        promoted: config.logs.promote_resource_attributes.clone(),
        compression_level: config.logs.compression_level,
        ..LogStoreOptions::default()
    };
    let logs_dir = config.data_dir.join("logs");
    let logs = Arc::new(
        tokio::task::spawn_blocking(move || LogStore::open(&logs_dir, logs_options))
            .await?
            .context("opening the log store")?,
    );
    let stores = Arc::new(Stores { spans: Arc::clone(&spans), tsdb: Arc::clone(&tsdb), logs: Arc::clone(&logs) });
    let quarantined = prometheus::IntGaugeVec::new(
        Opts::new(
            "lookout_storage_quarantined_items",
            "Damaged blocks and indexes moved to quarantine/ when the stores opened, by store.",
        ),
        &["store"],
    )?;
    registry.register(Box::new(quarantined.clone()))?;
    for (store, items) in
        [("traces", spans.quarantined()), ("metrics", tsdb.quarantined()), ("logs", logs.quarantined())]
    {
        quarantined.with_label_values(&[store]).set(items.len() as i64);
    }
    let ready = Arc::new(AtomicBool::new(false));
    let maintenance_stop = CancellationToken::new();
    let admin_stop = CancellationToken::new();
    let ingester_slot = IngesterSlot::default();
    let scrape_status = ScrapeStatus::default();
    let engine_options = EngineOptions {
        lookback_delta: config.query.lookback_delta.as_millis() as i64,
        max_samples: config.query.max_samples,
        timeout: config.query.timeout,
        experimental_functions: config.query.experimental_functions,
        default_subquery_step: config.global.evaluation_interval.as_millis() as i64,
        max_range: i64::try_from(config.query.max_range.as_millis()).unwrap_or(i64::MAX),
        max_series: config.query.max_series,
        ..EngineOptions::default()
    };
    let logql_options = lookout_query::logql::LogqlOptions {
        timeout: config.query.timeout,
        max_range: i64::try_from(config.query.max_range.as_nanos()).unwrap_or(i64::MAX),
        max_series: config.query.max_query_series.max(1),
        max_entries_limit: config.query.max_entries_limit_per_query.max(1),
    };
    let notifier_stop = CancellationToken::new();
    let rules = start_rules(
        &config,
        RuleStorage {
            tsdb: Arc::clone(&tsdb),
            engine: Engine::new(engine_options.clone()),
            logql: lookout_query::logql::LogqlEngine::new(Arc::clone(&logs), logql_options.clone()),
            ingester: Arc::clone(&ingester_slot),
            runtime: tokio::runtime::Handle::current(),
        },
        &registry,
        notifier_stop.clone(),
    )?;
    let ui = lookout_ui::router(lookout_ui::UiOptions {
        dashboards: lookout_ui::DashboardOptions {
            provision_paths: config.dashboards.path.clone(),
            store_dir: config.data_dir.join("dashboards"),
            builtin: Vec::new(),
        },
    })
    .context("starting the UI")?;
    let admin = admin::router(AdminState { registry: registry.clone(), ready: Arc::clone(&ready) })
        .merge(ui)
        .merge(lookout_rules::api::router(Arc::clone(&rules.0), rules.1.alertmanagers()))
        .merge(lookout_query::tempo_router(TempoState {
            spans: Arc::clone(&spans),
            version: env!("CARGO_PKG_VERSION"),
        }))
        .merge(lookout_ingest::remote_write::router(Arc::clone(&ingester_slot)))
        .merge(lookout_ingest::loki_push::router(Arc::clone(&ingester_slot)))
        .merge(lookout_ingest::scrape::targets_router(scrape_status.clone()))
        .merge(lookout_query::remote_read::router(Arc::clone(&tsdb)))
        .merge(lookout_query::loki::router(lookout_query::loki::LokiState {
            engine: lookout_query::logql::LogqlEngine::new(Arc::clone(&logs), logql_options),
            build: build_info_for_apis(),
            queries: Arc::new(tokio::sync::Semaphore::new(config.query.max_concurrency.max(1))),
            tail_interval: config.logs.commit_interval.max(Duration::from_millis(100)),
        }))
        .merge(lookout_query::prometheus_router(PrometheusState {
            tsdb: Arc::clone(&tsdb),
            build: build_info_for_apis(),
            admin_api: config.http.enable_admin_api,
            engine: Arc::new(Engine::new(engine_options)),
            queries: Arc::new(tokio::sync::Semaphore::new(config.query.max_concurrency.max(1))),
        }));
    let auth = match &config.auth.tenants_file {
        Some(file) => Some(Arc::new(auth::Authenticator::load(file)?)),
        None => None,
    };
    let admin = admin.merge(auth::session_router(auth.clone()));
    let admin = match &auth {
        Some(a) => admin.layer(axum::middleware::from_fn_with_state(Arc::clone(a), auth::http_layer)),
        None => admin,
    };
    let admin = admin::HttpMetrics::new(&registry)?.layer(admin);
    let refused = ConnectionLimit::counter(&registry)?;
    let per_client = config.limits.max_connections_per_client;
    let admin_tls = config.tls.files(false)?.map(|files| Tls::new(files, &[b"h2", b"http/1.1"])).transpose()?;
    let admin_listener = Listener::new(
        admin_listener,
        admin_tls,
        ConnectionLimit::new("http", per_client, refused.clone()),
        admin_stop.clone(),
    )?;
    let admin_task = tokio::spawn(
        axum::serve(admin_listener, admin).with_graceful_shutdown(admin_stop.clone().cancelled_owned()).into_future(),
    );

    let wal_dir = config.data_dir.join("wal");
    let wal_options = WalOptions {
        fsync: match config.wal.fsync {
            FsyncMode::Always => FsyncPolicy::Always,
            FsyncMode::Interval => FsyncPolicy::Interval(config.wal.fsync_interval),
            FsyncMode::Never => FsyncPolicy::Never,
        },
        segment_size: config.wal.segment_size.0,
        ..WalOptions::default()
    };
    let metrics_wal = open_wal(&wal_dir, &wal_options, &registry, Arc::clone(&stores)).await?;
    let store = Arc::clone(&stores);
    let apply: Apply = Box::new(move |position, record| apply_to_stores(&store, position, record));
    let wal = Arc::new(
        Wal::open(&wal_dir, wal_options, WalMetrics::new(&registry)?, apply).context("opening the write-ahead log")?,
    );
    // Replayed log lines are searchable once committed. Commit them before reporting ready, so
    // that no query after a restart lacks an acknowledged line, even for one commit interval.
    let replayed = Arc::clone(&stores.logs);
    tokio::task::spawn_blocking(move || replayed.commit()).await?.context("committing the replayed log lines")?;
    let ingest_options = IngestOptions {
        max_message_size: usize::try_from(config.otlp.max_message_size.0).unwrap_or(usize::MAX),
        max_inflight_requests: config.otlp.max_inflight_requests.max(1),
        retry_after: config.otlp.retry_after,
        log_stream_attributes: Arc::new(config.logs.promote_resource_attributes.clone()),
    };
    let intake = Arc::new(MetricsIntake::new(
        Arc::clone(&tsdb),
        IntakeOptions {
            translate: TranslateOptions {
                promote_resource_attributes: config.metrics.promote_resource_attributes.clone(),
                ..TranslateOptions::default()
            },
            generator: config.metrics.span_metrics.then(GeneratorOptions::default),
        },
    ));
    lookout_query::limits::register(&registry)?;
    let truncated = prometheus::IntCounter::new(
        "lookout_ingest_truncated_attributes_total",
        "Attribute values cut to limits.max_attribute_bytes.",
    )?;
    registry.register(Box::new(truncated.clone()))?;
    let limits = lookout_ingest::Limiters {
        rate: Some(Arc::new(
            lookout_ingest::RateLimiter::new(config.limits.rates(), &registry)?
                .with_overrides(config.limits.rate_overrides()?),
        )),
        active: Some(Arc::new(
            lookout_ingest::ActiveLimits::new(
                config.limits.max_streams_per_tenant,
                config.limits.max_spans_per_trace,
                &registry,
            )?
            .with_overrides(config.limits.active_overrides()?)
            .with_stream_labels(lookout_ingest::StreamLabelLimits {
                max_names: config.logs.max_label_names_per_series.max(1),
                max_name_length: config.logs.max_label_name_length.max(1),
                max_value_length: config.logs.max_label_value_length.max(1),
            }),
        )),
        max_attribute_bytes: usize::try_from(config.limits.max_attribute_bytes.0).unwrap_or(usize::MAX),
        truncated: Some(truncated),
    };
    let ingester = Arc::new(
        Ingester::new(Arc::clone(&wal), IngestMetrics::new(&registry)?, ingest_options, intake)
            .with_metrics_wal(Arc::clone(&metrics_wal))
            .with_limits(limits)
            .with_disk_guard(Arc::new(lookout_ingest::DiskGuard::new(
                config.data_dir.clone(),
                config.storage.min_free_bytes.0,
                &registry,
            )?)),
    );
    let _ = ingester_slot.set(Arc::clone(&ingester));

    let intake_stop = CancellationToken::new();
    let grpc = tonic::transport::Server::builder()
        .layer(tonic::service::InterceptorLayer::new(auth::grpc_interceptor(auth.clone())))
        .add_service(TraceService::new(Arc::clone(&ingester)))
        .add_service(LogsService::new(Arc::clone(&ingester)))
        .add_service(MetricsService::new(Arc::clone(&ingester)));
    let otlp_tls = config.tls.files(true)?;
    let connections = listen::accept(
        grpc_listener,
        otlp_tls.clone().map(|files| Tls::new(files, &[b"h2"])).transpose()?,
        ConnectionLimit::new("otlp_grpc", per_client, refused.clone()),
        Protocol::Grpc,
        intake_stop.clone(),
    );
    let incoming = Box::pin(futures::stream::unfold(connections, |mut rx| async move {
        rx.recv().await.map(|conn| (Ok::<_, std::io::Error>(conn), rx))
    }));
    let grpc_task = tokio::spawn(grpc.serve_with_incoming_shutdown(incoming, intake_stop.clone().cancelled_owned()));
    let cors = CorsOptions {
        allowed_origins: config.otlp.cors.allowed_origins.clone(),
        allowed_headers: config.otlp.cors.allowed_headers.clone(),
        max_age: config.otlp.cors.max_age,
    };
    let otlp_http = lookout_ingest::http_router(Arc::clone(&ingester), &cors);
    let otlp_http = match &auth {
        Some(a) => otlp_http.layer(axum::middleware::from_fn_with_state(Arc::clone(a), auth::http_layer)),
        None => otlp_http,
    };
    let otlp_http_listener = Listener::new(
        otlp_http_listener,
        otlp_tls.map(|files| Tls::new(files, &[b"h2", b"http/1.1"])).transpose()?,
        ConnectionLimit::new("otlp_http", per_client, refused),
        intake_stop.clone(),
    )?;
    let otlp_http_task = tokio::spawn(
        axum::serve(otlp_http_listener, otlp_http)
            .with_graceful_shutdown(intake_stop.clone().cancelled_owned())
            .into_future(),
    );

    let maintenance = tokio::spawn(maintain_span_store(Arc::clone(&spans), registry.clone(), maintenance_stop.clone()));
    let metrics_maintenance =
        tokio::spawn(maintain_metrics_store(Arc::clone(&tsdb), registry.clone(), maintenance_stop.clone()));
    let logs_maintenance = tokio::spawn(maintain_log_store(
        Arc::clone(&logs),
        config.logs.commit_interval,
        registry.clone(),
        maintenance_stop.clone(),
    ));
    let mut jobs = config.scrape_configs.clone();
    if config.metrics.scrape_self {
        jobs.push(self_scrape(admin_address, &config.global, config.tls.cert_file.is_some())?);
    }
    let scrape = ScrapeManager::start(Arc::clone(&ingester), config.global.clone(), jobs, Tenant::default());
    scrape_status.follow(&scrape.status());
    let truncation_stop = CancellationToken::new();
    let truncation = tokio::spawn(truncate_wal(
        config.wal.truncation_interval.max(std::time::Duration::from_millis(100)),
        Arc::clone(&wal),
        Arc::clone(&metrics_wal),
        Arc::clone(&stores),
        truncation_stop.clone(),
    ));
    let span_metrics_stop = CancellationToken::new();
    let span_metrics = tokio::spawn(write_span_metrics(
        Arc::clone(&ingester),
        config.metrics.span_metrics_interval,
        span_metrics_stop.clone(),
    ));
    let (rules, _notifier) = rules;
    if let Err(errors) = rules.reload().await {
        anyhow::bail!("loading rule files failed:\n{}", errors.join("\n"));
    }
    let reload_on_hangup = tokio::spawn(reload_rules_on_sighup(Arc::clone(&rules)));
    ready.store(true, Ordering::Release);
    info!(data_dir = %config.data_dir.display(), "lookout is ready");

    shutdown_signal().await;
    info!("shutting down: stopping intake");
    reload_on_hangup.abort();
    rules.stop();
    notifier_stop.cancel();
    ready.store(false, Ordering::Release);
    intake_stop.cancel();
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        if let Ok(Err(e)) = grpc_task.await {
            error!(error = %e, "otlp grpc server failed");
        }
        if let Ok(Err(e)) = otlp_http_task.await {
            error!(error = %e, "otlp http server failed");
        }
    })
    .await;
    if drained.is_err() {
        warn!(timeout = ?config.shutdown_timeout, "in-flight requests did not finish in time");
    }
    scrape.stop().await;
    span_metrics_stop.cancel();
    span_metrics.await?;
    truncation_stop.cancel();
    truncation.await?;
    drop(ingester);
    drop(ingester_slot);
    tokio::task::spawn_blocking(move || {
        wal.close();
        metrics_wal.close();
    })
    .await?;
    maintenance_stop.cancel();
    maintenance.await?;
    metrics_maintenance.await?;
    logs_maintenance.await?;
    let closing = Arc::clone(&logs);
    if let Err(e) = tokio::task::spawn_blocking(move || closing.close()).await? {
        warn!(error = %e, "closing the log store failed; the wal keeps what was not committed");
    }
    admin_stop.cancel();
    admin_task.await??;
    info!("shutdown complete");
    Ok(())
}

/// The rule manager and its notifier, started (the groups start with the first reload).
fn start_rules(
    config: &Config,
    storage: RuleStorage,
    registry: &Registry,
    stop: CancellationToken,
) -> anyhow::Result<(Arc<lookout_rules::Manager>, lookout_rules::notify::Notifier)> {
    let options = lookout_rules::ManagerOptions {
        paths: config.rules.path.clone(),
        tenants_dir: config.rules.tenants_dir.clone(),
        evaluation_interval_ms: config.global.evaluation_interval.as_millis() as i64,
        resend_delay_ms: config.rules.resend_delay.as_millis() as i64,
        external_labels: config.global.external_labels.clone(),
        external_url: config.rules.external_url.clone(),
        restore: lookout_rules::RestoreOptions {
            outage_tolerance_ms: config.rules.for_outage_tolerance.as_millis() as i64,
            grace_period_ms: config.rules.for_grace_period.as_millis() as i64,
        },
        ..lookout_rules::ManagerOptions::default()
    };
    let notifier = lookout_rules::notify::Notifier::start(
        lookout_rules::notify::NotifierOptions {
            alertmanagers: config.rules.alertmanager_urls.clone(),
            webhooks: config.rules.webhook_urls.clone(),
            external_url: config.rules.external_url.clone(),
            queue_capacity: config.rules.notification_queue_capacity.max(1),
            ..lookout_rules::notify::NotifierOptions::default()
        },
        registry,
        stop,
    )
    .context("starting the alert notifier")?;
    let notify = lookout_rules::manager::send_to(notifier.clone(), &options);
    let storage = Arc::new(storage);
    let manager = lookout_rules::Manager::new(options, storage.clone(), storage, notify, registry)?;
    Ok((Arc::new(manager), notifier))
}

/// Reloads the rule files on every SIGHUP, as Prometheus does.
async fn reload_rules_on_sighup(rules: Arc<lookout_rules::Manager>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        warn!("cannot listen for SIGHUP; rules reload only through POST /-/reload");
        return;
    };
    while hangups.recv().await.is_some() {
        match rules.reload().await {
            Ok(()) => info!("rules reloaded"),
            Err(errors) => error!(errors = %errors.join("; "), "reloading rules failed; the old rules keep running"),
        }
    }
}

/// What the build-info endpoints of the Prometheus and Loki APIs report.
fn build_info_for_apis() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        revision: option_env!("LOOKOUT_GIT_REVISION").unwrap_or("").into(),
        branch: String::new(),
        build_user: "lookout".into(),
        build_date: String::new(),
        go_version: "rust".into(),
    }
}

/// Replies go out at once instead of waiting for the peer's delayed ACK (Nagle's algorithm
/// would add up to 40 ms to every request that is answered in more than one write).
async fn bind(server: &'static str, address: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener =
        TcpListener::bind(address).await.with_context(|| format!("binding the {server} listener to {address}"))?;
    info!(server, address = %listener.local_addr()?, "listening");
    Ok(listener)
}

/// The scrape job for Lookout's own `/metrics` (job `lookout`, every 15 s).
/// Lookout's scrape of its own `/metrics`: over HTTPS when the query port speaks TLS, without
/// checking the certificate (it is this process, on a loopback or its own address).
fn self_scrape(address: SocketAddr, global: &GlobalConfig, tls: bool) -> anyhow::Result<ScrapeConfig> {
    let host = match address.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let target = SocketAddr::new(host, address.port());
    let scheme = if tls { "scheme: https\ntls_config:\n  insecure_skip_verify: true\n" } else { "" };
    let yaml = format!("job_name: lookout\nscrape_interval: 15s\n{scheme}static_configs:\n  - targets: ['{target}']\n");
    let mut job: ScrapeConfig = serde_yaml_ng::from_str(&yaml)?;
    job.validate(global)?;
    Ok(job)
}

/// The stores WAL records are applied to.
struct Stores {
    spans: Arc<SpanStore>,
    tsdb: Arc<Tsdb>,
    logs: Arc<LogStore>,
}

/// Hands a durable WAL record to the store of its signal. OTLP-shaped metrics records were
/// written before the metrics store existed and are not translated.
fn apply_to_stores(stores: &Stores, position: WalPosition, record: TenantPayload) {
    match record.payload {
        Payload::Traces(batch) => {
            if let Err(e) = stores.spans.append(position, &record.tenant, batch) {
                error!(error = %e, "cutting the span store's head failed; the wal keeps the spans");
            }
        }
        Payload::Samples(batch) => stores.tsdb.apply(position, &record.tenant, &batch),
        Payload::Logs(batch) => {
            if let Err(e) = stores.logs.append_otlp(position, &record.tenant, &batch) {
                error!(error = %e, "indexing log records failed; the wal keeps them");
            }
        }
        Payload::Streams(batch) => {
            if let Err(e) = stores.logs.append(position, &record.tenant, batch) {
                error!(error = %e, "indexing log entries failed; the wal keeps them");
            }
        }
        Payload::Metrics(_) => {}
    }
}

/// Every `interval` (a minute by default): writes the metrics head snapshot, then deletes the
/// segments of each WAL that no store needs any more. Until stopped.
async fn truncate_wal(
    interval: std::time::Duration,
    wal: Arc<Wal>,
    metrics_wal: Arc<Wal>,
    stores: Arc<Stores>,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let (wal, metrics_wal, stores) = (Arc::clone(&wal), Arc::clone(&metrics_wal), Arc::clone(&stores));
        let outcome = tokio::task::spawn_blocking(move || -> lookout_storage::Result<(usize, usize)> {
            if stores.tsdb.wal_needed() != lookout_storage::WalNeed::Nothing {
                stores.tsdb.write_snapshot()?;
            }
            let removed = wal
                .truncate(|| stores.spans.wal_needed().first_segment().min(stores.logs.wal_needed().first_segment()))?;
            let metrics_removed = metrics_wal.truncate(|| stores.tsdb.wal_needed().first_segment())?;
            Ok((removed, metrics_removed))
        })
        .await;
        match outcome {
            Ok(Ok((0, 0))) => {}
            Ok(Ok((removed, metrics_removed))) => {
                info!(removed, metrics_removed, "wal segments no store needs were deleted")
            }
            Ok(Err(e)) => warn!(error = %e, "wal truncation failed"),
            Err(e) => warn!(error = %e, "wal truncation task failed"),
        }
    }
}

/// Commits the log store every `interval` (what makes new lines searchable), deletes partitions
/// past retention every minute and keeps its gauges, until stopped.
async fn maintain_log_store(logs: Arc<LogStore>, interval: Duration, registry: Registry, stop: CancellationToken) {
    let names = [
        ("lookout_logs_partitions", "Log partitions (tantivy indexes) on disk."),
        ("lookout_logs_streams", "Log streams known."),
        ("lookout_logs_entries", "Searchable log entries."),
        ("lookout_logs_disk_bytes", "Bytes of log partitions on disk."),
        ("lookout_logs_dropped_entries", "Log entries refused since start for being outside the retention window."),
    ];
    let gauges = names.map(|(name, help)| {
        let gauge = prometheus::IntGauge::new(name, help).ok();
        if let Some(g) = &gauge
            && let Err(e) = registry.register(Box::new(g.clone()))
        {
            warn!(error = %e, name, "cannot register log store gauge");
        }
        gauge
    });
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_housekeeping: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let store = Arc::clone(&logs);
        let housekeeping = last_housekeeping.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        let outcome = tokio::task::spawn_blocking(move || {
            store.commit()?;
            if housekeeping {
                store.enforce_retention(lookout_storage::logs::now_unix_nano())?;
                return Ok::<_, lookout_storage::Error>(Some(store.stats()));
            }
            Ok(None)
        })
        .await;
        match outcome {
            Ok(Ok(Some(stats))) => {
                last_housekeeping = Some(std::time::Instant::now());
                let values = [
                    stats.partitions as i64,
                    stats.streams as i64,
                    stats.entries as i64,
                    stats.disk_bytes as i64,
                    stats.dropped as i64,
                ];
                for (gauge, value) in gauges.iter().zip(values) {
                    if let Some(g) = gauge {
                        g.set(value);
                    }
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => warn!(error = %e, "log store commit failed; the wal keeps the entries"),
            Err(e) => warn!(error = %e, "log store maintenance task failed"),
        }
    }
}

/// Cuts the metrics head into blocks, compacts blocks and enforces retention, until stopped.
async fn maintain_metrics_store(tsdb: Arc<Tsdb>, registry: Registry, stop: CancellationToken) {
    let gauge = |name: &str, help: &str| {
        let g = prometheus::IntGauge::new(name, help).ok()?;
        registry.register(Box::new(g.clone())).map_err(|e| warn!(error = %e, name, "cannot register gauge")).ok()?;
        Some(g)
    };
    let gauges = [
        gauge("lookout_tsdb_head_series", "Series in the metrics head."),
        gauge("lookout_tsdb_head_chunks", "Chunks in the metrics head."),
        gauge("lookout_tsdb_head_bytes", "Approximate memory held by the metrics head."),
        gauge("lookout_tsdb_head_chunk_file_bytes", "Bytes of closed head chunks spilled to disk."),
        gauge("lookout_tsdb_head_min_time", "Oldest sample time in the metrics head, in milliseconds (0 when empty)."),
        gauge("lookout_tsdb_head_max_time", "Newest sample time in the metrics head, in milliseconds (0 when empty)."),
        gauge("lookout_tsdb_blocks", "Metrics blocks on disk."),
        gauge("lookout_tsdb_block_bytes", "Bytes of metrics blocks on disk."),
        gauge("lookout_tsdb_block_samples", "Samples in metrics blocks on disk."),
        gauge("lookout_tsdb_exemplars", "Exemplars in memory."),
        gauge("lookout_tsdb_samples_appended", "Samples appended to the metrics head since start."),
        gauge(
            "lookout_tsdb_samples_dropped",
            "Samples in WAL records the metrics head could not take (out of order or out of bounds when applied).",
        ),
    ];
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(10));
    let mut last_retention: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let retention_due = last_retention.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
        if retention_due {
            last_retention = Some(std::time::Instant::now());
        }
        let store = Arc::clone(&tsdb);
        let outcome = tokio::task::spawn_blocking(move || {
            store.cut_if_due()?;
            store.compact()?;
            if retention_due {
                store.enforce_retention(std::time::SystemTime::now())?;
            }
            Ok::<_, lookout_storage::Error>(store.stats())
        })
        .await;
        match outcome {
            Ok(Ok(s)) => {
                let values = [
                    s.head_series,
                    s.head_chunks,
                    s.head_bytes,
                    s.head_chunk_file_bytes,
                    s.head_min_t.unwrap_or(0) as u64,
                    s.head_max_t.unwrap_or(0) as u64,
                    s.blocks,
                    s.block_bytes,
                    s.block_samples,
                    s.exemplars,
                    s.samples_appended,
                    s.samples_dropped,
                ];
                for (g, v) in gauges.iter().zip(values) {
                    if let Some(g) = g {
                        g.set(v as i64);
                    }
                }
            }
            Ok(Err(e)) => error!(error = %e, "metrics store maintenance failed; the wal keeps the samples"),
            Err(e) => error!(error = %e, "metrics store maintenance task failed"),
        }
    }
}

/// Writes the span metrics and service graph series every `interval`, until stopped.
async fn write_span_metrics(ingester: Arc<Ingester>, interval: std::time::Duration, stop: CancellationToken) {
    if !ingester.intake().generates_span_metrics() {
        return;
    }
    let mut ticks = tokio::time::interval(interval.max(std::time::Duration::from_millis(100)));
    ticks.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = ticks.tick() => false,
        };
        for (tenant, series) in ingester.intake().collect_span_metrics() {
            if series.is_empty() {
                continue;
            }
            match ingester.write_series(tenant, series, Generator::metadata(), Transport::SpanMetrics).await {
                Ok(refused) if !refused.is_empty() => {
                    warn!(refused = refused.samples, first = ?refused.first_error, "span metrics samples refused")
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "writing span metrics failed"),
            }
        }
        if stopping {
            return;
        }
    }
}

/// Cuts the span store's head into blocks when due and enforces retention, until stopped.
async fn maintain_span_store(spans: Arc<SpanStore>, registry: Registry, stop: CancellationToken) {
    let gauges = ["lookout_traces_head_spans", "lookout_traces_block_spans", "lookout_traces_blocks"].map(|name| {
        let help = match name {
            "lookout_traces_head_spans" => "Spans in memory, not yet cut into a block.",
            "lookout_traces_block_spans" => "Spans in blocks on disk.",
            _ => "Span blocks on disk.",
        };
        let gauge = prometheus::IntGauge::new(name, help).ok();
        if let Some(g) = &gauge
            && let Err(e) = registry.register(Box::new(g.clone()))
        {
            warn!(error = %e, name, "cannot register span store gauge");
        }
        gauge
    });
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut last_retention: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
            _ = spans.head_full() => {}
        }
        let store = Arc::clone(&spans);
        let retention_due = last_retention.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
        if retention_due {
            last_retention = Some(std::time::Instant::now());
        }
        let outcome = tokio::task::spawn_blocking(move || {
            let now = std::time::SystemTime::now();
            store.cut_if_due(now)?;
            if retention_due {
                store.enforce_retention(now)?;
            }
            Ok::<_, lookout_storage::Error>(store.stats())
        })
        .await;
        match outcome {
            Ok(Ok(stats)) => {
                let values = [stats.head_spans as i64, stats.block_spans as i64, stats.blocks as i64];
                for (gauge, value) in gauges.iter().zip(values) {
                    if let Some(g) = gauge {
                        g.set(value);
                    }
                }
            }
            Ok(Err(e)) => error!(error = %e, "span store maintenance failed; the wal keeps the spans"),
            Err(e) => error!(error = %e, "span store maintenance task failed"),
        }
    }
}

/// Replays the WAL into the stores: every record is read, checked and counted; trace records
/// after the span store's checkpoint go into it, sample records from the metrics store's
/// checkpoint on into that. A damaged tail is repaired.
/// Marks a metrics WAL whose records are all the samples the metrics store needs: written
/// once the samples of a data directory from before the split were moved out of the main WAL.
const METRICS_WAL_READY: &str = "ready";

/// Replays both WALs into the stores and opens the metrics WAL (`wal/metrics/`), which holds
/// the metric samples: the metrics head needs them for hours, spans and log lines only until
/// their stores commit, so the two are truncated apart. Metric samples that a data directory
/// from before the split still holds in the main WAL are first copied into the metrics WAL, in
/// order; the main WAL's copies are then dropped with it as usual.
async fn open_wal(
    dir: &Path,
    options: &WalOptions,
    registry: &Registry,
    stores: Arc<Stores>,
) -> anyhow::Result<Arc<Wal>> {
    let replay = Replay::new(registry)?;
    let metrics_dir = dir.join("metrics");
    let ready = metrics_dir.join(METRICS_WAL_READY);
    let apply_samples = |stores: &Arc<Stores>| -> Apply {
        let store = Arc::clone(stores);
        Box::new(move |position, record| apply_to_stores(&store, position, record))
    };
    let metrics = WalMetrics::named(registry, "lookout_metrics_wal")?;
    if ready.exists() {
        let samples_from = stores.tsdb.checkpoint();
        let store = Arc::clone(&stores);
        replay
            .run(&metrics_dir, move |position, record| {
                if matches!(record.payload, Payload::Samples(_)) && samples_from.is_none_or(|c| position >= c) {
                    apply_to_stores(&store, position, record);
                }
                false
            })
            .await?;
        let metrics_wal = Wal::open(&metrics_dir, options.clone(), metrics, apply_samples(&stores))
            .context("opening the metrics write-ahead log")?;
        replay.run(dir, main_replay(Arc::clone(&stores), None)).await?;
        return Ok(Arc::new(metrics_wal));
    }
    // Not split yet (or the split was cut short): the metrics WAL is made again from the
    // main WAL's samples, every one of them (the store skips what its blocks hold already),
    // written without an fsync each and synced once when closed.
    if metrics_dir.exists() {
        std::fs::remove_dir_all(&metrics_dir).with_context(|| format!("removing {}", metrics_dir.display()))?;
    }
    let copying = WalOptions { fsync: FsyncPolicy::Never, ..options.clone() };
    let copy = Arc::new(
        Wal::open(&metrics_dir, copying, WalMetrics::named(&Registry::new(), "copy")?, apply_samples(&stores))
            .context("opening the metrics write-ahead log")?,
    );
    let moved = replay.run(dir, main_replay(Arc::clone(&stores), Some(Arc::clone(&copy)))).await?;
    tokio::task::spawn_blocking(move || copy.close()).await?;
    std::fs::write(&ready, b"").with_context(|| format!("writing {}", ready.display()))?;
    std::fs::File::open(&metrics_dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", metrics_dir.display()))?;
    if moved > 0 {
        info!(records = moved, "metric samples moved from the main wal to wal/metrics");
    }
    let metrics_wal = Wal::open(&metrics_dir, options.clone(), metrics, apply_samples(&stores))
        .context("opening the metrics write-ahead log")?;
    Ok(Arc::new(metrics_wal))
}

/// What replaying the main WAL does with each record: spans and log lines to their stores;
/// metric samples, from before the split, copied to `copy_samples_to` if given (else they are
/// already in the metrics WAL, and skipped).
fn main_replay(
    stores: Arc<Stores>,
    copy_samples_to: Option<Arc<Wal>>,
) -> impl FnMut(WalPosition, TenantPayload) -> bool {
    let spans_through = stores.spans.checkpoint();
    let runtime = tokio::runtime::Handle::current();
    move |position, record| match &record.payload {
        Payload::Traces(_) => {
            if spans_through.is_none_or(|c| position > c) {
                apply_to_stores(&stores, position, record);
            }
            false
        }
        // The log store skips what its partitions' commits already hold.
        Payload::Logs(_) | Payload::Streams(_) => {
            apply_to_stores(&stores, position, record);
            false
        }
        Payload::Samples(_) => match &copy_samples_to {
            Some(wal) => match lookout_storage::encode_record(&record) {
                Ok(bytes) => {
                    if let Err(e) = runtime.block_on(wal.append(bytes, record)) {
                        error!(error = %e, "copying samples to the metrics wal failed");
                    }
                    true
                }
                Err(e) => {
                    error!(error = %e, "re-encoding a samples record failed");
                    false
                }
            },
            None => false,
        },
        Payload::Metrics(_) => false,
    }
}

/// WAL replay at startup, with its counters.
struct Replay {
    records: IntCounter,
    items: IntCounterVec,
    damaged: IntCounter,
}

impl Replay {
    fn new(registry: &Registry) -> anyhow::Result<Replay> {
        let records = IntCounter::new("lookout_wal_replayed_records_total", "WAL records replayed at startup.")?;
        let items = IntCounterVec::new(
            Opts::new(
                "lookout_wal_replayed_items_total",
                "Spans, log records and metric data points replayed from the WAL at startup.",
            ),
            &["signal"],
        )?;
        let damaged = IntCounter::new(
            "lookout_wal_replay_damaged_segments_total",
            "WAL segments whose torn or corrupt tail was truncated at startup.",
        )?;
        registry.register(Box::new(records.clone()))?;
        registry.register(Box::new(items.clone()))?;
        registry.register(Box::new(damaged.clone()))?;
        for signal in Signal::ALL {
            items.with_label_values(&[signal.as_str()]);
        }
        Ok(Replay { records, items, damaged })
    }

    /// Replays the WAL in `dir` into `each`, counting records and items; returns how many
    /// records `each` said it copied (by returning true).
    async fn run(
        &self,
        dir: &Path,
        mut each: impl FnMut(WalPosition, TenantPayload) -> bool + Send + 'static,
    ) -> anyhow::Result<u64> {
        let name = dir.display().to_string();
        let dir = dir.to_owned();
        let counters = self.items.clone();
        let (stats, copied) = tokio::task::spawn_blocking(move || {
            let mut copied = 0u64;
            let stats = WalReader::new(&dir).replay(true, |position, record| {
                let (signal, n) = (record.payload.signal(), record.payload.item_count() as u64);
                counters.with_label_values(&[signal.as_str()]).inc_by(n);
                if each(position, record) {
                    copied += 1;
                }
            });
            stats.map(|s| (s, copied))
        })
        .await?
        .context("replaying the write-ahead log")?;
        self.records.inc_by(stats.records);
        self.damaged.inc_by(stats.damaged.len() as u64);
        info!(
            wal = name,
            segments = stats.segments,
            records = stats.records,
            bytes = stats.bytes,
            damaged = stats.damaged.len(),
            "wal replayed"
        );
        Ok(copied)
    }
}

fn build_info() -> prometheus::Result<prometheus::IntGauge> {
    let gauge = prometheus::IntGauge::with_opts(
        Opts::new("lookout_build_info", "Lookout's version; always 1.")
            .const_label("version", env!("CARGO_PKG_VERSION")),
    )?;
    gauge.set(1);
    Ok(gauge)
}

pub(crate) async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("received SIGINT"),
        _ = terminate => info!("received SIGTERM"),
    }
}
