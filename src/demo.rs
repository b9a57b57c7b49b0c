//! `lookout demo`: Lookout itself, and beside it the microservice demo — the broker, the
//! gateway, the shop's services and consumers, and shoppers — every part exporting OTLP to this
//! Lookout like any outside application. The demo's alert rules and dashboards are loaded from the
//! repository's `demo/config/rules.yml` and `demo/dashboards/`, compiled in.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use lookout_demo::broker::{Broker, BrokerConfig};
use lookout_demo::gateway::{Gateway, GatewayConfig};
use lookout_demo::shop::{GATEWAY_TEMPLATE, Shop, ShopConfig, ShopListeners};
use tokio_util::sync::CancellationToken;

use crate::cli::{ChaosArgs, DemoArgs};
use crate::serve;

/// The demo's alert rules.
const RULES: &str = include_str!("../demo/config/rules.yml");

/// The demo's dashboards (Grafana JSON), provisioned like any dashboard folder.
const DASHBOARDS: [(&str, &str); 3] = [
    ("gateway.json", include_str!("../demo/dashboards/gateway.json")),
    ("broker.json", include_str!("../demo/dashboards/broker.json")),
    ("services.json", include_str!("../demo/dashboards/services.json")),
];

/// Runs Lookout and the demo until SIGINT or SIGTERM.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut config = args.serve.resolve()?;
    // The demo's parts report to this Lookout over plain OTLP, without credentials.
    anyhow::ensure!(
        config.tls.cert_file.is_none() && config.auth.tenants_file.is_none(),
        "lookout demo runs Lookout without TLS and authentication: its parts report to it over plain OTLP on this machine. Run `lookout serve` for a Lookout with TLS or tenants."
    );
    let demo_dir = config.data_dir.join("demo");
    std::fs::create_dir_all(&demo_dir).with_context(|| format!("creating {}", demo_dir.display()))?;
    let rules = demo_dir.join("rules.yml");
    std::fs::write(&rules, RULES).with_context(|| format!("writing {}", rules.display()))?;
    config.rules.path.push(rules.display().to_string());
    let dashboards = demo_dir.join("dashboards");
    std::fs::create_dir_all(&dashboards).with_context(|| format!("creating {}", dashboards.display()))?;
    for (name, json) in DASHBOARDS {
        let file = dashboards.join(name);
        std::fs::write(&file, json).with_context(|| format!("writing {}", file.display()))?;
    }
    config.dashboards.path.push(dashboards);
    let broker_dir = config.data_dir.join("broker");

    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut lookout = tokio::spawn(serve::run_reporting(config, Some(tx)));
    let bound = tokio::select! {
        bound = rx => bound.context("lookout stopped before listening")?,
        result = &mut lookout => {
            result.context("lookout task")??;
            anyhow::bail!("lookout stopped before listening");
        }
    };
    let otlp = format!("http://{}", loopback(bound.grpc));
    let interval = args.metrics_interval;
    let shutdown = CancellationToken::new();

    // The broker.
    let amqp = bind(args.amqp_address, "the demo broker").await?;
    let amqp_address = loopback(amqp.local_addr()?);
    let management = bind(args.amqp_management_address, "the broker's management API").await?;
    let broker = Broker::open(BrokerConfig { data_dir: Some(broker_dir), ..BrokerConfig::default() })
        .context("opening the broker")?;
    let mut telemetry = Vec::new();
    if let Some(t) = crate::start_telemetry(&otlp, "lookout-broker", amqp_address, interval)? {
        broker.instrument(&t);
        telemetry.push(t);
    }
    tracing::info!(server = "amqp-management", address = %management.local_addr()?, "listening");
    let mut tasks = vec![
        tokio::spawn({
            let api =
                axum::serve(management, broker.management()).with_graceful_shutdown(shutdown.clone().cancelled_owned());
            async move {
                let _ = api.await;
            }
        }),
        tokio::spawn(Arc::clone(&broker).serve(amqp, shutdown.clone())),
    ];

    // The gateway in front of the shop's services.
    let gateway_listener = std::net::TcpListener::bind(args.gateway_address)
        .with_context(|| format!("listening for the demo gateway on {}", args.gateway_address))?;
    let gateway_address = loopback(gateway_listener.local_addr()?);
    let admin = bind(args.admin_address, "the demo's admin API").await?;
    let listeners = ShopListeners::bind().await.context("binding the demo services")?;
    let gateway_config = GatewayConfig::parse(&listeners.gateway_config(GATEWAY_TEMPLATE))?;
    let gateway = Gateway::new(&gateway_config)?;
    if let Some(t) = crate::start_telemetry(&otlp, "lookout-gateway", gateway_address, interval)? {
        gateway.instrument(&t);
        telemetry.push(t);
    }
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    tasks.push(tokio::spawn(Arc::clone(&gateway).serve(gateway_listener, threads, shutdown.clone())));

    let shop = Shop::start(
        listeners,
        ShopConfig {
            otlp_endpoint: otlp.clone(),
            metrics_interval: interval,
            amqp_uri: format!("amqp://guest:guest@{amqp_address}/%2f"),
            gateway_url: format!("http://{gateway_address}"),
            traffic_rate: args.traffic_rate,
            traffic_mix: args.traffic_mix,
        },
        shutdown.clone(),
    )
    .await
    .context("starting the demo services")?;
    let admin_api = lookout_demo::gateway::admin::router(Arc::clone(&gateway))
        .merge(lookout_demo::shop::chaos::router(Arc::clone(&shop.chaos)));
    tracing::info!(server = "demo-admin", address = %admin.local_addr()?, "listening");
    tasks.push(tokio::spawn({
        let api = axum::serve(admin, admin_api).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        async move {
            let _ = api.await;
        }
    }));
    tracing::info!(
        gateway = %gateway_address,
        lookout = %loopback(bound.http),
        "the demo is running: shoppers call the gateway, every part reports to lookout"
    );

    serve::shutdown_signal().await;
    shutdown.cancel();
    shop.stopped().await;
    for t in tasks {
        let _ = t.await;
    }
    tokio::task::spawn_blocking(move || telemetry.iter().for_each(|t| t.shutdown()))
        .await
        .context("telemetry shutdown")?;
    lookout.await.context("lookout task")?
}

/// `lookout chaos`: one command to the running demo's chaos switch; prints the switch's state.
pub async fn chaos(args: ChaosArgs) -> anyhow::Result<()> {
    use http_body_util::{BodyExt, Full};
    let url = format!("{}/api/chaos", args.admin_url.trim_end_matches('/'));
    let request = if args.action == "show" {
        hyper::Request::get(&url).body(Full::new(bytes::Bytes::new()))?
    } else {
        // `lookout chaos flood 50`: the number is the value, there is no target.
        let (target, value) = match (&args.target, args.value) {
            (Some(t), None) if t.parse::<f64>().is_ok() => (None, t.parse::<f64>().ok()),
            (t, v) => (t.clone(), v),
        };
        let command = serde_json::json!({"action": args.action, "target": target, "value": value});
        hyper::Request::post(&url)
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(command.to_string())))?
    };
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let response = client.request(request).await.with_context(|| format!("reaching the demo at {url}"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        anyhow::bail!("{status}: {text}");
    }
    println!("{text}");
    Ok(())
}

/// A listener for a demo part, with the error naming which.
async fn bind(address: SocketAddr, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await.with_context(|| format!("listening for {what} on {address}"))
}

/// The address to reach a listener on this machine: loopback for a wildcard.
fn loopback(address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
    } else {
        address
    }
}
