//! The `lookout` binary: command line, configuration and the composition root.

mod admin;
mod auth;
mod cli;
mod config;
mod demo;
mod index_bench;
mod listen;
mod loadgen;
mod rules;
mod serve;
mod tls;

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, WalCommand};

/// mimalloc instead of the system allocator: decoding, converting and storing telemetry
/// allocates millions of small strings a second, and glibc's malloc spent a fifth of the CPU
/// of an ingest benchmark (BENCHMARKS.md). Built without transparent huge pages and with lazily
/// committed arenas (`no_thp` in Cargo.toml, `.cargo/config.toml`) so that it returns freed
/// memory. The `system-allocator` feature turns it off for heap profilers.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::config::LogFormat;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(*args),
        Some(Command::Wal(WalCommand::Dump { data_dir })) => dump_wal(&data_dir),
        Some(Command::Loadgen(args)) => runtime()?.block_on(loadgen::run(args)),
        Some(Command::Rules(command)) => std::process::exit(rules::run(command)),
        Some(Command::Broker(args)) => broker(args),
        Some(Command::Gateway(args)) => gateway(args),
        Some(Command::Demo(args)) => {
            let config = args.serve.resolve()?;
            init_logging(&config.log.level, config.log.format)?;
            runtime()?.block_on(demo::run(*args))
        }
        Some(Command::Chaos(args)) => runtime()?.block_on(demo::chaos(args)),
        Some(Command::Auth(command)) => auth_command(command),
    }
}

/// `lookout gateway`: the demo gateway alone, until SIGINT or SIGTERM.
fn gateway(args: cli::GatewayArgs) -> anyhow::Result<()> {
    init_logging(&args.log_level, args.log_format)?;
    let config = lookout_demo::gateway::GatewayConfig::load(&args.config)?;
    runtime()?.block_on(async move {
        let listener = std::net::TcpListener::bind(args.listen_address)
            .with_context(|| format!("listening for the gateway on {}", args.listen_address))?;
        let admin = tokio::net::TcpListener::bind(args.admin_address)
            .await
            .with_context(|| format!("listening for the gateway's admin API on {}", args.admin_address))?;
        let gateway = lookout_demo::gateway::Gateway::new(&config)?;
        let telemetry =
            start_telemetry(&args.otlp_endpoint, "lookout-gateway", args.listen_address, args.otlp_metrics_interval)?;
        if let Some(t) = &telemetry {
            gateway.instrument(t);
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        if let Ok(address) = admin.local_addr() {
            tracing::info!(server = "gateway-admin", %address, "listening");
        }
        let admin = listen::Listener::new(
            admin,
            args.tls.server(&[b"h2", b"http/1.1"])?,
            listen::ConnectionLimit::new(
                "gateway_admin",
                0,
                listen::ConnectionLimit::counter(&prometheus::Registry::new())?,
            ),
            shutdown.clone(),
        )?;
        let api = axum::serve(admin, lookout_demo::gateway::admin::router(std::sync::Arc::clone(&gateway)))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let api = tokio::spawn(async move { api.await });
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let serving = tokio::spawn(gateway.serve(listener, threads, shutdown.clone()));
        serve::shutdown_signal().await;
        shutdown.cancel();
        serving.await.context("gateway task")?;
        api.await.context("admin API task")?.context("admin API")?;
        if let Some(t) = telemetry {
            tokio::task::spawn_blocking(move || t.shutdown()).await.context("telemetry shutdown")?;
        }
        Ok(())
    })
}

/// The demo's OTLP export for `service`, or none when `endpoint` is empty.
fn start_telemetry(
    endpoint: &str,
    service: &str,
    instance: std::net::SocketAddr,
    metrics_interval: std::time::Duration,
) -> anyhow::Result<Option<lookout_demo::telemetry::Telemetry>> {
    if endpoint.is_empty() {
        return Ok(None);
    }
    let config = lookout_demo::telemetry::TelemetryConfig {
        endpoint: endpoint.to_owned(),
        service_name: service.to_owned(),
        instance_id: instance.to_string(),
        metrics_interval,
    };
    let telemetry = lookout_demo::telemetry::Telemetry::start(&config)?;
    tracing::info!(endpoint, service, "telemetry on");
    Ok(Some(telemetry))
}

/// `lookout broker`: the demo broker alone, until SIGINT or SIGTERM.
fn broker(args: cli::BrokerArgs) -> anyhow::Result<()> {
    init_logging(&args.log_level, args.log_format)?;
    let config =
        lookout_demo::broker::BrokerConfig { user: args.user, password: args.password, data_dir: Some(args.data_dir) };
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen_address)
            .await
            .with_context(|| format!("listening for AMQP on {}", args.listen_address))?;
        let management = tokio::net::TcpListener::bind(args.management_address)
            .await
            .with_context(|| format!("listening for the broker's management API on {}", args.management_address))?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let broker = lookout_demo::broker::Broker::open(config).context("opening the broker's data directory")?;
        let telemetry =
            start_telemetry(&args.otlp_endpoint, "lookout-broker", args.listen_address, args.otlp_metrics_interval)?;
        if let Some(t) = &telemetry {
            broker.instrument(t);
        }
        if let Ok(address) = management.local_addr() {
            tracing::info!(server = "amqp-management", %address, "listening");
        }
        let refused = listen::ConnectionLimit::counter(&prometheus::Registry::new())?;
        let management = listen::Listener::new(
            management,
            args.tls.server(&[b"h2", b"http/1.1"])?,
            listen::ConnectionLimit::new("amqp_management", 0, refused.clone()),
            shutdown.clone(),
        )?;
        let api =
            axum::serve(management, broker.management()).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let api = tokio::spawn(async move { api.await });
        // AMQPS beside AMQP, as RabbitMQ listens on 5671 and 5672.
        let amqps = match args.tls.server(&[])? {
            None => None,
            Some(tls) => {
                let listener = tokio::net::TcpListener::bind(args.amqps_address)
                    .await
                    .with_context(|| format!("listening for AMQPS on {}", args.amqps_address))?;
                if let Ok(address) = listener.local_addr() {
                    tracing::info!(server = "amqps", %address, "listening");
                }
                let limit = listen::ConnectionLimit::new("amqps", 0, refused);
                let streams = listen::accept(listener, Some(tls), limit, listen::Protocol::Http, shutdown.clone());
                Some(tokio::spawn(std::sync::Arc::clone(&broker).serve_streams(streams, shutdown.clone())))
            }
        };
        let serving = tokio::spawn(broker.serve(listener, shutdown.clone()));
        serve::shutdown_signal().await;
        shutdown.cancel();
        if let Some(amqps) = amqps {
            amqps.await.context("amqps task")?;
        }
        serving.await.context("broker task")?;
        api.await.context("management API task")?.context("management API")?;
        if let Some(t) = telemetry {
            tokio::task::spawn_blocking(move || t.shutdown()).await.context("telemetry shutdown")?;
        }
        Ok(())
    })
}

fn serve(args: cli::ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    init_logging(&config.log.level, config.log.format)?;
    runtime()?.block_on(serve::run(config))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")
}

fn init_logging(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env).context("RUST_LOG")?,
        _ => EnvFilter::try_new(level).with_context(|| format!("log level {level:?}"))?,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// `lookout auth token` and `lookout auth hash-password`.
fn auth_command(command: cli::AuthCommand) -> anyhow::Result<()> {
    match command {
        cli::AuthCommand::Token { name } => {
            let (token, hash) = auth::new_token();
            println!("token: {token}");
            println!("tenants file: - {{name: {name}, hash: \"{hash}\", access: read_write}}");
        }
        cli::AuthCommand::HashPassword => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "no password on standard input");
            println!("{}", auth::hash_password(password));
        }
    }
    Ok(())
}

fn dump_wal(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = None;
    let mut damaged = Vec::new();
    // The main WAL, then the metric samples' own.
    for dir in [data_dir.join("wal"), data_dir.join("wal").join("metrics")] {
        let stats = lookout_storage::WalReader::new(dir).replay(false, |_, record| {
            if failed.is_none()
                && let Err(e) = serde_json::to_writer(&mut out, &record)
                    .map_err(anyhow::Error::from)
                    .and_then(|()| Ok(out.write_all(b"\n")?))
            {
                failed = Some(e);
            }
        })?;
        damaged.extend(stats.damaged);
    }
    if let Some(e) = failed {
        let broken_pipe =
            e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
        return if broken_pipe { Ok(()) } else { Err(e.context("writing the dump")) };
    }
    out.flush()?;
    for (segment, offset, reason) in damaged {
        eprintln!("warning: {} is damaged at byte {offset}: {reason}", segment.display());
    }
    Ok(())
}
