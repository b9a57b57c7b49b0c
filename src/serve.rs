//! `lookout serve`: the composition root that wires storage, ingest and the listeners, and
//! shuts them down in order (stop intake → finish in-flight requests → close the WAL).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::serve::ListenerExt;
use lookout_ingest::{CorsOptions, IngestMetrics, IngestOptions, Ingester, LogsService, MetricsService, TraceService};
use lookout_storage::{FsyncPolicy, Signal, Wal, WalMetrics, WalOptions, WalReader};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::admin::{self, AdminState};
use crate::config::{Config, FsyncMode};

/// Runs Lookout until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let registry = Registry::new();
    registry.register(Box::new(build_info()?))?;
    let admin_listener = bind("http", config.http.listen_address).await?;
    let grpc_listener = bind("otlp-grpc", config.otlp.grpc_listen_address).await?;
    let otlp_http_listener = bind("otlp-http", config.otlp.http_listen_address).await?;

    let ready = Arc::new(AtomicBool::new(false));
    let admin_stop = CancellationToken::new();
    let admin = admin::router(AdminState { registry: registry.clone(), ready: Arc::clone(&ready) });
    let admin_task = tokio::spawn(
        axum::serve(admin_listener.tap_io(no_delay), admin)
            .with_graceful_shutdown(admin_stop.clone().cancelled_owned())
            .into_future(),
    );

    let wal_dir = config.data_dir.join("wal");
    replay(&wal_dir, &registry).await?;
    let wal_options = WalOptions {
        fsync: match config.wal.fsync {
            FsyncMode::Always => FsyncPolicy::Always,
            FsyncMode::Interval => FsyncPolicy::Interval(config.wal.fsync_interval),
            FsyncMode::Never => FsyncPolicy::Never,
        },
        segment_size: config.wal.segment_size.0,
        ..WalOptions::default()
    };
    let wal =
        Arc::new(Wal::open(&wal_dir, wal_options, WalMetrics::new(&registry)?).context("opening the write-ahead log")?);
    let ingest_options = IngestOptions {
        max_message_size: usize::try_from(config.otlp.max_message_size.0).unwrap_or(usize::MAX),
        max_inflight_requests: config.otlp.max_inflight_requests.max(1),
        retry_after: config.otlp.retry_after,
    };
    let ingester = Arc::new(Ingester::new(Arc::clone(&wal), IngestMetrics::new(&registry)?, ingest_options));

    let intake_stop = CancellationToken::new();
    let grpc = tonic::transport::Server::builder()
        .add_service(TraceService::new(Arc::clone(&ingester)))
        .add_service(LogsService::new(Arc::clone(&ingester)))
        .add_service(MetricsService::new(Arc::clone(&ingester)))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
            intake_stop.clone().cancelled_owned(),
        );
    let grpc_task = tokio::spawn(grpc);
    let cors = CorsOptions {
        allowed_origins: config.otlp.cors.allowed_origins.clone(),
        allowed_headers: config.otlp.cors.allowed_headers.clone(),
        max_age: config.otlp.cors.max_age,
    };
    let otlp_http = lookout_ingest::http_router(Arc::clone(&ingester), &cors);
    let otlp_http_task = tokio::spawn(
        axum::serve(otlp_http_listener.tap_io(no_delay), otlp_http)
            .with_graceful_shutdown(intake_stop.clone().cancelled_owned())
            .into_future(),
    );

    ready.store(true, Ordering::Release);
    info!(data_dir = %config.data_dir.display(), "lookout is ready");

    shutdown_signal().await;
    info!("shutting down: stopping intake");
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
    drop(ingester);
    tokio::task::spawn_blocking(move || wal.close()).await?;
    admin_stop.cancel();
    admin_task.await??;
    info!("shutdown complete");
    Ok(())
}

/// Replies go out at once instead of waiting for the peer's delayed ACK (Nagle's algorithm
/// would add up to 40 ms to every request that is answered in more than one write).
fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        warn!(error = %e, "cannot set TCP_NODELAY");
    }
}

async fn bind(server: &'static str, address: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener =
        TcpListener::bind(address).await.with_context(|| format!("binding the {server} listener to {address}"))?;
    info!(server, address = %listener.local_addr()?, "listening");
    Ok(listener)
}

/// Replays the WAL into the stores. The signal stores come with their own issues; until then a
/// replay re-reads and checks every record, repairs a damaged tail, and counts what it found.
async fn replay(dir: &Path, registry: &Registry) -> anyhow::Result<()> {
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
    let dir = dir.to_owned();
    let counters = items.clone();
    let stats = tokio::task::spawn_blocking(move || {
        WalReader::new(&dir).replay(true, |record| {
            counters.with_label_values(&[record.payload.signal().as_str()]).inc_by(record.payload.item_count() as u64);
        })
    })
    .await?
    .context("replaying the write-ahead log")?;
    records.inc_by(stats.records);
    damaged.inc_by(stats.damaged.len() as u64);
    info!(
        segments = stats.segments,
        records = stats.records,
        bytes = stats.bytes,
        damaged = stats.damaged.len(),
        "wal replayed"
    );
    Ok(())
}

fn build_info() -> prometheus::Result<prometheus::IntGauge> {
    let gauge = prometheus::IntGauge::with_opts(
        Opts::new("lookout_build_info", "Lookout's version; always 1.")
            .const_label("version", env!("CARGO_PKG_VERSION")),
    )?;
    gauge.set(1);
    Ok(gauge)
}

async fn shutdown_signal() {
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
