//! The shop's HTTP services: `orders` (replicated) takes orders, reserves stock at `inventory`
//! through the gateway, and publishes `order.created` to the broker; `inventory` keeps stock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel};
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::chaos::Chaos;
use super::instrument::{ServiceTelemetry, amqp_headers, inject, traced};

/// The items the shop sells.
pub const ITEMS: [&str; 5] = ["keyboard", "mouse", "monitor", "headset", "webcam"];

/// An order as the services and messages carry it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// The item ordered.
    pub item: String,
    /// How many.
    #[serde(default = "one")]
    pub quantity: u32,
    /// Who ordered.
    #[serde(default)]
    pub user: String,
    /// The replica that took it.
    #[serde(default)]
    pub replica: String,
}

fn one() -> u32 {
    1
}

/// Orders kept in memory, shared by the replicas as a database would be.
pub type OrderBook = Arc<Mutex<VecDeque<Order>>>;

/// One `orders` replica.
pub struct OrdersReplica {
    /// `orders-1`, …
    pub name: String,
    /// Its telemetry.
    pub telemetry: Arc<ServiceTelemetry>,
    /// The chaos switch.
    pub chaos: Arc<Chaos>,
    /// `http://gateway` for calls to other services.
    pub gateway: String,
    /// Its channel to the broker.
    pub amqp: Channel,
    /// The shared orders.
    pub book: OrderBook,
    /// HTTP client for calls through the gateway.
    pub client: Client<HttpConnector, Full<Bytes>>,
}

/// The router of an `orders` replica.
pub fn orders_router(replica: Arc<OrdersReplica>) -> Router {
    let t = Arc::clone(&replica.telemetry);
    Router::new()
        .route("/", post(create_order).get(list_orders))
        .route("/health", get(|| async { "ok" }))
        .with_state(replica)
        .layer(axum::middleware::from_fn_with_state(t, traced))
}

type Reply = (StatusCode, Json<serde_json::Value>);

async fn create_order(
    State(r): State<Arc<OrdersReplica>>,
    Extension(cx): Extension<Context>,
    Json(mut order): Json<Order>,
) -> Reply {
    let delay = r.chaos.delay_ms(&r.name);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if super::random() < r.chaos.failure_ratio(&r.name) {
        r.telemetry.log(&cx, Severity::Error, format!("failed to take order for {}", order.item), &[]);
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "orders replica failing (chaos)"})));
    }
    if !ITEMS.contains(&order.item.as_str()) || order.quantity == 0 || order.quantity > 100 {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unknown item or bad quantity"})));
    }
    order.id = format!("{:016x}", super::random_u64());
    order.replica = r.name.clone();
    // Reserve stock at inventory, through the gateway, in this trace.
    let reserve = json!({"item": order.item, "quantity": order.quantity}).to_string();
    let mut req = http::Request::post(format!("{}/api/inventory/reserve", r.gateway))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(reserve)));
    if let Ok(req) = req.as_mut() {
        for (k, v) in inject(&cx) {
            if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(&v)) {
                req.headers_mut().insert(k, v);
            }
        }
    }
    let Ok(req) = req else {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "bad inventory request"})));
    };
    let status = match tokio::time::timeout(Duration::from_secs(2), r.client.request(req)).await {
        Ok(Ok(resp)) => {
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            status
        }
        _ => StatusCode::BAD_GATEWAY,
    };
    if status == StatusCode::CONFLICT {
        r.telemetry.log(
            &cx,
            Severity::Warn,
            format!("{} out of stock", order.item),
            &[("order.id", order.id.clone().into())],
        );
        return (StatusCode::CONFLICT, Json(json!({"error": "out of stock", "item": order.item})));
    }
    if !status.is_success() {
        r.telemetry.log(&cx, Severity::Error, format!("inventory answered {status}"), &[]);
        return (StatusCode::BAD_GATEWAY, Json(json!({"error": "inventory unavailable"})));
    }
    let body = serde_json::to_vec(&order).unwrap_or_default();
    if let Err(e) = publish(&r, &cx, "shop.orders", "order.created", &body).await {
        r.telemetry.log(&cx, Severity::Error, format!("cannot publish order.created: {e}"), &[]);
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "broker unavailable"})));
    }
    let _ = publish(&r, &cx, "shop.events", "", &body).await;
    r.telemetry.log(
        &cx,
        Severity::Info,
        format!("order {} taken: {} x {}", order.id, order.quantity, order.item),
        &[("order.id", order.id.clone().into()), ("user.id", AnyValue::from(order.user.clone()))],
    );
    {
        let mut book = r.book.lock().unwrap_or_else(|e| e.into_inner());
        book.push_front(order.clone());
        book.truncate(100);
    }
    (StatusCode::CREATED, Json(json!({"id": order.id, "replica": order.replica})))
}

async fn list_orders(State(r): State<Arc<OrdersReplica>>) -> Reply {
    let delay = r.chaos.delay_ms(&r.name);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if super::random() < r.chaos.failure_ratio(&r.name) {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "orders replica failing (chaos)"})));
    }
    let book = r.book.lock().unwrap_or_else(|e| e.into_inner());
    let recent: Vec<&Order> = book.iter().take(20).collect();
    (StatusCode::OK, Json(json!({"replica": r.name, "orders": recent})))
}

/// Publishes `body` in a producer span whose context travels in the message's headers.
pub async fn publish(
    r: &OrdersReplica,
    cx: &Context,
    exchange: &str,
    key: &str,
    body: &[u8],
) -> Result<(), lapin::Error> {
    publish_on(&r.amqp, &r.telemetry, cx, exchange, key, body).await
}

/// Publishes on `channel` in a producer span (a child of `cx`).
pub async fn publish_on(
    channel: &Channel,
    telemetry: &ServiceTelemetry,
    cx: &Context,
    exchange: &str,
    key: &str,
    body: &[u8],
) -> Result<(), lapin::Error> {
    let span = telemetry
        .tracer
        .span_builder(format!("publish {exchange}"))
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "rabbitmq"),
            KeyValue::new("messaging.operation.name", "publish"),
            KeyValue::new("messaging.destination.name", exchange.to_owned()),
            KeyValue::new("messaging.rabbitmq.destination.routing_key", key.to_owned()),
        ])
        .start_with_context(&telemetry.tracer, cx);
    let pcx = cx.with_span(span);
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_headers(amqp_headers(&pcx));
    let result = channel
        .basic_publish(exchange.into(), key.into(), BasicPublishOptions::default(), body, properties)
        .await
        .map(|_| ());
    pcx.span().end();
    result
}

/// Stock by item.
pub struct Inventory {
    /// Its telemetry.
    pub telemetry: Arc<ServiceTelemetry>,
    /// Units in stock by item.
    pub stock: Mutex<BTreeMap<String, u32>>,
}

/// Units of each item at the start and after each restock.
pub const FULL_STOCK: u32 = 500;

impl Inventory {
    /// Full stock of every item.
    pub fn new(telemetry: Arc<ServiceTelemetry>) -> Arc<Inventory> {
        Arc::new(Inventory {
            telemetry,
            stock: Mutex::new(ITEMS.iter().map(|i| ((*i).to_owned(), FULL_STOCK)).collect()),
        })
    }

    /// Fills every item back up.
    pub fn restock(&self) {
        let mut s = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        for v in s.values_mut() {
            *v = FULL_STOCK;
        }
    }
}

/// The router of `inventory`.
pub fn inventory_router(inventory: Arc<Inventory>) -> Router {
    let t = Arc::clone(&inventory.telemetry);
    Router::new()
        .route("/reserve", post(reserve))
        .route("/items", get(items))
        .route("/health", get(|| async { "ok" }))
        .with_state(inventory)
        .layer(axum::middleware::from_fn_with_state(t, traced))
}

#[derive(Deserialize)]
struct Reservation {
    item: String,
    quantity: u32,
}

async fn reserve(
    State(inv): State<Arc<Inventory>>,
    Extension(cx): Extension<Context>,
    Json(r): Json<Reservation>,
) -> Reply {
    let left = {
        let mut s = inv.stock.lock().unwrap_or_else(|e| e.into_inner());
        match s.get_mut(&r.item) {
            None => return (StatusCode::NOT_FOUND, Json(json!({"error": "unknown item"}))),
            Some(n) if *n < r.quantity => None,
            Some(n) => {
                *n -= r.quantity;
                Some(*n)
            }
        }
    };
    match left {
        Some(left) => {
            inv.telemetry.log(&cx, Severity::Debug, format!("reserved {} x {}, {left} left", r.quantity, r.item), &[]);
            (StatusCode::OK, Json(json!({"item": r.item, "left": left})))
        }
        None => {
            inv.telemetry.log(&cx, Severity::Warn, format!("{} out of stock", r.item), &[]);
            (StatusCode::CONFLICT, Json(json!({"error": "out of stock"})))
        }
    }
}

async fn items(State(inv): State<Arc<Inventory>>) -> Json<BTreeMap<String, u32>> {
    Json(inv.stock.lock().unwrap_or_else(|e| e.into_inner()).clone())
}
