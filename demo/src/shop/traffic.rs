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
    /// Relative weights of new orders, order lists and stock checks.
    pub mix: Mix,
}

/// Relative weights of the three kinds of shopper request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// `POST /api/orders`.
    pub orders: f64,
    /// `GET /api/orders`.
    pub lists: f64,
    /// `GET /api/inventory/items`.
    pub stock: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { orders: 60.0, lists: 25.0, stock: 15.0 }
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `orders=60,lists=25,stock=15` (any of them; the others are 0).
    fn from_str(s: &str) -> Result<Mix, String> {
        let mut mix = Mix { orders: 0.0, lists: 0.0, stock: 0.0 };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("{part:?}: expected kind=weight"))?;
            let v: f64 = v.trim().parse().map_err(|_| format!("{part:?}: the weight is not a number"))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{part:?}: the weight must be 0 or more"));
            }
            match k.trim() {
                "orders" => mix.orders = v,
                "lists" => mix.lists = v,
                "stock" => mix.stock = v,
                other => return Err(format!("{other:?}: kinds are orders, lists and stock")),
            }
        }
        if mix.orders + mix.lists + mix.stock <= 0.0 {
            return Err("at least one weight must be above 0".into());
        }
        Ok(mix)
    }
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
        let total = config.mix.orders + config.mix.lists + config.mix.stock;
        let roll = super::random() * total;
        let (method, path, body) = if roll < config.mix.orders {
            let item = ITEMS[(super::random() * ITEMS.len() as f64) as usize % ITEMS.len()];
            let quantity = 1 + (super::random() * 3.0) as u32;
            let body = serde_json::json!({"item": item, "quantity": quantity, "user": user}).to_string();
            ("POST", "/api/orders", body)
        } else if roll < config.mix.orders + config.mix.lists {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mixes_parse_and_bad_ones_are_named() {
        assert_eq!("orders=1".parse::<Mix>().unwrap(), Mix { orders: 1.0, lists: 0.0, stock: 0.0 });
        assert_eq!("orders=60, lists=25,stock=15".parse::<Mix>().unwrap(), Mix::default());
        assert!("orders=x".parse::<Mix>().unwrap_err().contains("not a number"));
        assert!("refunds=3".parse::<Mix>().unwrap_err().contains("refunds"));
        assert!("orders=0".parse::<Mix>().unwrap_err().contains("above 0"));
    }
}
