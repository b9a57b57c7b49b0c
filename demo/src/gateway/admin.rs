//! The gateway's admin API: its routes, and per pool the upstreams' health, circuit state, load
//! and the share of requests each received.
//!
//! - `GET /api/routes`
//! - `GET /api/pools`, `GET /api/pools/{name}`
//! - `GET /-/healthy`

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Gateway;

/// The admin API's router.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/api/routes", get(routes))
        .route("/api/pools", get(pools))
        .route("/api/pools/{name}", get(pool))
        .route("/-/healthy", get(|| async { "Gateway is Healthy.\n" }))
        .with_state(gateway)
}

async fn routes(State(g): State<Arc<Gateway>>) -> Json<Value> {
    Json(Value::Array(
        g.routes
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "host": r.host,
                    "path_prefix": r.prefix,
                    "methods": r.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "pool": g.pools[r.pool].name,
                    "auth": r.auth.is_some(),
                    "rate_limited": r.limit.is_some(),
                    "retries": r.retry.as_ref().map_or(1, |(c, _)| c.attempts),
                    "timeout_ms": r.timeout.as_millis() as u64,
                    "fallback": r.fallback.is_some(),
                })
            })
            .collect(),
    ))
}

fn pool_json(g: &Gateway, index: usize, now: Instant) -> Value {
    let p = &g.pools[index];
    json!({
        "name": p.name,
        "algorithm": p.algorithm.as_str(),
        "upstreams": p.status(now),
    })
}

async fn pools(State(g): State<Arc<Gateway>>) -> Json<Value> {
    let now = Instant::now();
    Json(Value::Array((0..g.pools.len()).map(|i| pool_json(&g, i, now)).collect()))
}

async fn pool(State(g): State<Arc<Gateway>>, Path(name): Path<String>) -> Response {
    match g.pools.iter().position(|p| p.name == name) {
        Some(i) => Json(pool_json(&g, i, Instant::now())).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no pool {name:?}") }))).into_response(),
    }
}
