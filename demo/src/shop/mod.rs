//! The demo's microservices, a small shop: `orders` (three replicas behind the gateway) reserves
//! stock at `inventory` through the gateway and publishes `order.created`; `billing` (a work
//! queue with two workers), `notifications` (topic `order.*`) and `analytics` (fanout) consume it;
//! a traffic generator plays the shoppers; a chaos switch breaks things on purpose. Every
//! service instance exports its own traces, metrics and logs over OTLP.
//!
//! # Layout
//! - `services`: the HTTP services `orders` and `inventory`.
//! - `consumers`: the AMQP consumers and the broker topology.
//! - `traffic`: the traffic generator.
//! - `chaos`: the chaos switch and its admin API.
//! - `instrument`: the services' OpenTelemetry (server spans, trace context over HTTP and AMQP).

pub mod chaos;
pub mod consumers;
pub mod instrument;
pub mod services;
pub mod traffic;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use lapin::{Connection, ConnectionProperties};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::chaos::Chaos;
use self::consumers::{Work, Worker};
use self::instrument::ServiceTelemetry;
use self::services::{Inventory, OrdersReplica};
use crate::telemetry::{Telemetry, TelemetryConfig};

/// The `orders` replicas.
pub const REPLICAS: [&str; 3] = ["orders-1", "orders-2", "orders-3"];

/// The gateway configuration the demo runs, with `{{orders-1}}`-style placeholders for the
/// services' addresses.
pub const GATEWAY_TEMPLATE: &str = include_str!("../../config/gateway.yaml");

/// How the shop runs.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// OTLP/gRPC endpoint every service exports to (empty: none).
    pub otlp_endpoint: String,
    /// How often the services export metrics.
    pub metrics_interval: Duration,
    /// `amqp://…` of the broker.
    pub amqp_uri: String,
    /// `http://…` of the gateway.
    pub gateway_url: String,
    /// Shopper requests per second (0: no traffic).
    pub traffic_rate: f64,
    /// The shoppers' mix of requests.
    pub traffic_mix: traffic::Mix,
}

/// Why the shop could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// A listener could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// The OTLP exporter could not be built.
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// The broker could not be reached or refused the topology.
    #[error("broker: {0}")]
    Amqp(#[from] lapin::Error),
}

/// The shop's HTTP listeners, bound before the gateway's configuration is written.
#[derive(Debug)]
pub struct ShopListeners {
    listeners: Vec<(String, TcpListener)>,
}

impl ShopListeners {
    /// Binds each HTTP service on a free loopback port.
    pub async fn bind() -> std::io::Result<ShopListeners> {
        let mut listeners = Vec::new();
        for name in REPLICAS.iter().copied().chain(["inventory"]) {
            listeners.push((name.to_owned(), TcpListener::bind("127.0.0.1:0").await?));
        }
        Ok(ShopListeners { listeners })
    }

    /// Their addresses by service instance.
    pub fn addresses(&self) -> BTreeMap<String, SocketAddr> {
        self.listeners.iter().filter_map(|(n, l)| Some((n.clone(), l.local_addr().ok()?))).collect()
    }

    /// The gateway's configuration: `template` with each `{{name}}` replaced by `http://address`.
    pub fn gateway_config(&self, template: &str) -> String {
        self.addresses().iter().fold(template.to_owned(), |t, (name, addr)| {
            t.replace(&format!("{{{{{name}}}}}"), &format!("http://{addr}"))
        })
    }
}

/// The running shop.
pub struct Shop {
    /// The chaos switch.
    pub chaos: Arc<Chaos>,
    telemetry: Vec<Telemetry>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop").field("tasks", &self.tasks.len()).finish()
    }
}

impl Shop {
    /// Starts every service, consumer and the traffic generator; they stop at `shutdown`.
    pub async fn start(
        listeners: ShopListeners,
        config: ShopConfig,
        shutdown: CancellationToken,
    ) -> Result<Shop, ShopError> {
        let chaos = Chaos::new(&REPLICAS, &["billing", "notifications", "analytics"]);
        let mut shop = Shop { chaos: Arc::clone(&chaos), telemetry: Vec::new(), tasks: Vec::new() };
        let setup = connect(&config.amqp_uri, &shutdown).await?;
        consumers::declare_topology(&setup).await?;
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new());
        let book = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        for (name, listener) in listeners.listeners {
            let router = if name == "inventory" {
                let inventory = Inventory::new(shop.instrument(&config, "inventory", &name)?);
                let restocking = Arc::clone(&inventory);
                let stop = shutdown.clone();
                shop.tasks.push(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(30));
                    loop {
                        tokio::select! {
                            _ = tick.tick() => restocking.restock(),
                            () = stop.cancelled() => return,
                        }
                    }
                }));
                services::inventory_router(inventory)
            } else {
                let conn = connect(&config.amqp_uri, &shutdown).await?;
                let replica = OrdersReplica {
                    telemetry: shop.instrument(&config, "orders", &name)?,
                    name: name.clone(),
                    chaos: Arc::clone(&chaos),
                    gateway: config.gateway_url.clone(),
                    amqp: conn.create_channel().await?,
                    book: Arc::clone(&book),
                    client: client.clone(),
                };
                services::orders_router(Arc::new(replica))
            };
            tracing::info!(service = name, address = ?listener.local_addr().ok(), "demo service listening");
            let stop = shutdown.clone();
            shop.tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
            }));
        }
        for (work, instance) in [
            (Work::Billing, "billing-1"),
            (Work::Billing, "billing-2"),
            (Work::Notifications, "notifications"),
            (Work::Analytics, "analytics"),
        ] {
            let service = work.queue();
            let telemetry = shop.instrument(&config, service, instance)?;
            let worker = Worker { work, instance: instance.to_owned(), telemetry, chaos: Arc::clone(&chaos) };
            let conn = connect(&config.amqp_uri, &shutdown).await?;
            shop.tasks.push(tokio::spawn(consumers::run(worker, conn, shutdown.clone())));
        }
        if config.traffic_rate > 0.0 {
            let telemetry = shop.instrument(&config, "shop-client", "shop-client")?;
            let traffic = traffic::TrafficConfig {
                gateway: config.gateway_url.clone(),
                rate: config.traffic_rate,
                users: 20,
                mix: config.traffic_mix,
            };
            shop.tasks.push(tokio::spawn(traffic::run(traffic, telemetry, Arc::clone(&chaos), shutdown.clone())));
        }
        let _ = setup.close(200, "set up".into()).await;
        Ok(shop)
    }

    /// Starts the OTLP export of one service instance.
    fn instrument(
        &mut self,
        config: &ShopConfig,
        service: &str,
        instance: &str,
    ) -> Result<Arc<ServiceTelemetry>, ShopError> {
        let telemetry = Telemetry::start(&TelemetryConfig {
            endpoint: config.otlp_endpoint.clone(),
            service_name: service.to_owned(),
            instance_id: instance.to_owned(),
            metrics_interval: config.metrics_interval,
        })?;
        let s = ServiceTelemetry::new(&telemetry, instance);
        self.telemetry.push(telemetry);
        Ok(s)
    }

    /// Waits for the services to stop, then exports what is pending.
    pub async fn stopped(self) {
        for t in self.tasks {
            let _ = t.await;
        }
        let telemetry = self.telemetry;
        let _ = tokio::task::spawn_blocking(move || {
            for t in &telemetry {
                t.shutdown();
            }
        })
        .await;
    }
}

/// Connects to the broker, trying again while it starts.
async fn connect(uri: &str, shutdown: &CancellationToken) -> Result<Connection, lapin::Error> {
    let mut tries = 0;
    loop {
        match Connection::connect(uri, ConnectionProperties::default()).await {
            Ok(c) => return Ok(c),
            Err(e) if tries >= 50 || shutdown.is_cancelled() => return Err(e),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

pub(crate) use crate::random::{random, random_u64};
