//! The traffic generator: shoppers calling the gateway at a steady rate with a mix of orders,
//! order lists and stock checks, each call a client span whose trace the gateway and services
//! continue; and, when the chaos switch says so, one client flooding the gateway.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::chaos::Chaos;
use super::instrument::{ServiceTelemetry, inject};
use super::services::ITEMS;

/// The API key the demo's gateway accepts from shoppers.
pub const API_KEY: &str = "demo-shopper-key";

/// Most requests in flight at once.
const IN_FLIGHT: usize = 256;

/// How the generator behaves.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    /// `http://host:port` of the gateway.
    pub gateway: String,
    /// Requests per second.
    pub rate: f64,
    /// Distinct shoppers.
    pub users: u32,
}

/// Sends traffic until `shutdown`.
pub async fn run(
    config: TrafficConfig,
    telemetry: Arc<ServiceTelemetry>,
    chaos: Arc<Chaos>,
    shutdown: CancellationToken,
) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new());
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let flood = tokio::spawn(flood(config.gateway.clone(), client.clone(), Arc::clone(&chaos), shutdown.clone()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / config.rate.max(0.01)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => break,
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else { continue };
        let user = format!("user-{}", 1 + (super::random() * f64::from(config.users.max(1))) as u32);
        let roll = super::random();
        let (method, path, body) = if roll < 0.6 {
            let item = ITEMS[(super::random() * ITEMS.len() as f64) as usize % ITEMS.len()];
            let quantity = 1 + (super::random() * 3.0) as u32;
            let body = serde_json::json!({"item": item, "quantity": quantity, "user": user}).to_string();
            ("POST", "/api/orders", body)
        } else if roll < 0.85 {
            ("GET", "/api/orders", String::new())
        } else {
            ("GET", "/api/inventory/items", String::new())
        };
        let (client, telemetry, gateway) = (client.clone(), Arc::clone(&telemetry), config.gateway.clone());
        tokio::spawn(async move {
            call(&client, &telemetry, &gateway, method, path, &user, body).await;
            drop(slot);
        });
    }
    flood.abort();
}

/// One shopper's call in a client span.
async fn call(
    client: &Client<HttpConnector, Full<Bytes>>,
    t: &ServiceTelemetry,
    gateway: &str,
    method: &'static str,
    path: &'static str,
    user: &str,
    body: String,
) {
    let span = t
        .tracer
        .span_builder(format!("{method} {path}"))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.full", format!("{gateway}{path}")),
            KeyValue::new("user.id", user.to_owned()),
        ])
        .start(&t.tracer);
    let cx = Context::new().with_span(span);
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("{gateway}{path}"))
        .header("x-api-key", API_KEY)
        .header("x-user", user)
        .header("content-type", "application/json");
    for (k, v) in inject(&cx) {
        req = req.header(k, v);
    }
    let Ok(req) = req.body(Full::new(Bytes::from(body))) else { return };
    let span = cx.span();
    match tokio::time::timeout(Duration::from_secs(10), client.request(req)).await {
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            let _ = resp.into_body().collect().await;
            span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
            if status >= 500 {
                span.set_status(Status::error(format!("status {status}")));
            }
        }
        Ok(Err(e)) => span.set_status(Status::error(e.to_string())),
        Err(_) => span.set_status(Status::error("timed out")),
    }
    span.end();
}

/// One client sending as fast as the chaos switch says, with no telemetry of its own.
async fn flood(
    gateway: String,
    client: Client<HttpConnector, Full<Bytes>>,
    chaos: Arc<Chaos>,
    shutdown: CancellationToken,
) {
    let mut watch = chaos.watch();
    loop {
        let rps = watch.borrow().flood_rps;
        if rps == 0 {
            tokio::select! {
                r = watch.changed() => if r.is_err() { return },
                () = shutdown.cancelled() => return,
            }
            continue;
        }
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rps as f64));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = watch.changed() => { if r.is_err() { return } break }
                () = shutdown.cancelled() => return,
            }
            let Ok(req) = http::Request::get(format!("{gateway}/api/orders"))
                .header("x-api-key", API_KEY)
                .header("x-user", "flooder")
                .body(Full::new(Bytes::new()))
            else {
                return;
            };
            let client = client.clone();
            tokio::spawn(async move {
                if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(5), client.request(req)).await {
                    let _ = r.into_body().collect().await;
                }
            });
        }
    }
}
