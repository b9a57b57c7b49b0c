//! The demo's API gateway: a reverse proxy that matches routes by host, path prefix and method,
//! authenticates at the edge (JWT, API keys), rate-limits, and balances each route's pool of
//! upstreams with one of the course's algorithms, with health checks, passive ejection, a
//! circuit breaker per upstream, retries under a budget, timeouts and a fallback response.
//!
//! # Layout
//! - `config`: the YAML file.
//! - `balance`: pools, upstream state and the algorithms.
//! - `health`: active health checks.
//! - `auth`, `ratelimit`, `breaker`: edge authentication, token buckets, circuit breaker and
//!   retry budget.
//! - `proxy`: the request path, from the accepted connection to the upstream and back.
//! - `conn`: keep-alive connections to the upstreams, pooled per thread.
//! - `admin`: the admin HTTP API (pools, upstream health, circuits, shares).
//! - `telemetry`: spans, metrics and access logs exported over OTLP.

pub mod admin;
pub mod auth;
pub mod balance;
pub mod breaker;
pub mod config;
mod conn;
mod health;
mod proxy;
pub mod ratelimit;
pub mod telemetry;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::auth::Authenticator;
use self::balance::Pool;
use self::breaker::{RetryBudget, RetryConfig};
pub use self::config::{ConfigError, GatewayConfig};
use self::config::{FallbackConfig, HealthCheckConfig};
use self::ratelimit::{RateLimitKey, RateLimiter};
use self::telemetry::GatewayTelemetry;

/// Distinct rate-limit keys remembered per route.
const RATE_LIMIT_KEYS: usize = 100_000;

/// A route, compiled.
pub(crate) struct Route {
    name: String,
    host: Option<String>,
    prefix: String,
    methods: Vec<http::Method>,
    pool: usize,
    strip_prefix: bool,
    auth: Option<Authenticator>,
    limit: Option<(RateLimiter, RateLimitKey)>,
    timeout: Duration,
    retry: Option<(RetryConfig, RetryBudget)>,
    fallback: Option<FallbackConfig>,
}

/// A running gateway's routes, pools and counters.
pub struct Gateway {
    routes: Vec<Route>,
    pools: Vec<Pool>,
    health: Vec<(usize, HealthCheckConfig)>,
    access_log: bool,
    max_body_bytes: usize,
    header_timeout: Duration,
    max_header_bytes: usize,
    telemetry: OnceLock<GatewayTelemetry>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("routes", &self.routes.len()).field("pools", &self.pools.len()).finish()
    }
}

impl Gateway {
    /// Builds a gateway from a validated configuration.
    pub fn new(config: &GatewayConfig) -> Result<Arc<Gateway>, ConfigError> {
        let names: Vec<&String> = config.pools.keys().collect();
        let pools: Vec<Pool> = config.pools.iter().map(|(name, p)| Pool::new(name, p)).collect();
        let health =
            config.pools.values().enumerate().filter_map(|(i, p)| p.health_check.clone().map(|h| (i, h))).collect();
        let mut routes = Vec::new();
        for r in &config.routes {
            let pool = names
                .iter()
                .position(|n| **n == r.pool)
                .ok_or_else(|| ConfigError::Invalid(format!("route {:?}: no pool {:?}", r.name, r.pool)))?;
            let auth = match &r.auth {
                Some(a) => Some(
                    Authenticator::new(a)
                        .map_err(|e| ConfigError::Invalid(format!("route {:?}: auth: {e}", r.name)))?,
                ),
                None => None,
            };
            routes.push(Route {
                name: r.name.clone(),
                host: r.host.as_ref().map(|h| h.to_ascii_lowercase()),
                prefix: r.path_prefix.clone(),
                methods: r.methods.iter().filter_map(|m| http::Method::from_bytes(m.as_bytes()).ok()).collect(),
                pool,
                strip_prefix: r.strip_prefix,
                auth,
                limit: r.rate_limit.as_ref().map(|l| (RateLimiter::new(l, RATE_LIMIT_KEYS), l.key.clone())),
                timeout: r.timeout(),
                retry: r.retry.as_ref().map(|c| (c.clone(), RetryBudget::new(c))),
                fallback: r.fallback.clone(),
            });
        }
        Ok(Arc::new(Gateway {
            routes,
            pools,
            health,
            access_log: config.access_log,
            max_body_bytes: config.max_body_bytes,
            header_timeout: Duration::from_millis(config.header_timeout_ms),
            max_header_bytes: config.max_header_bytes,
            telemetry: OnceLock::new(),
        }))
    }

    /// Exports spans, metrics and access logs through `telemetry` from now on.
    pub fn instrument(self: &Arc<Self>, telemetry: &crate::telemetry::Telemetry) {
        let _ = self.telemetry.set(GatewayTelemetry::new(telemetry, Arc::downgrade(self)));
    }

    /// Serves proxied requests from `listener` on `threads` threads and runs the health checks,
    /// until `shutdown`; then finishes the requests in flight.
    ///
    /// Each thread runs its own single-threaded runtime that accepts connections and keeps its own
    /// upstream connections, as NGINX's worker processes do: a request never changes thread, and
    /// no task is woken across threads on the request path. An accepted connection goes to the
    /// thread serving the fewest.
    pub async fn serve(self: Arc<Self>, listener: std::net::TcpListener, threads: usize, shutdown: CancellationToken) {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(server = "gateway", %address, "listening");
        }
        for (pool, config) in self.health.clone() {
            tokio::spawn(health::check_pool(Arc::clone(&self), pool, config, shutdown.clone()));
        }
        let mut listeners = Vec::new();
        for _ in 0..threads.max(1) {
            match listener.try_clone() {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    tracing::error!(error = %e, "cannot share the gateway listener");
                    break;
                }
            }
        }
        let (shared, inboxes) = proxy::Workers::new(listeners.len());
        let mut workers = Vec::new();
        for (i, (listener, inbox)) in listeners.into_iter().zip(inboxes).enumerate() {
            let (gateway, shutdown, mine) = (Arc::clone(&self), shutdown.clone(), Arc::clone(&shared));
            let worker = std::thread::Builder::new().name(format!("gateway-{i}")).spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                match (runtime, listener.set_nonblocking(true)) {
                    (Ok(rt), Ok(())) => rt.block_on(async move {
                        match TcpListener::from_std(listener) {
                            Ok(l) => proxy::accept(gateway, l, mine, i, inbox, shutdown).await,
                            Err(e) => {
                                mine.retire(i);
                                tracing::error!(error = %e, "gateway listener");
                            }
                        }
                    }),
                    (Err(e), _) | (_, Err(e)) => {
                        mine.retire(i);
                        tracing::error!(error = %e, "cannot start a gateway worker");
                    }
                }
            });
            match worker {
                Ok(w) => workers.push(w),
                Err(e) => {
                    shared.retire(i);
                    tracing::error!(error = %e, "cannot start a gateway worker thread");
                }
            }
        }
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await;
    }

    /// The pools, for the admin API.
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// Reports an upstream's health changing.
    fn health_changed(&self, pool: &str, upstream: &str, healthy: bool) {
        if let Some(t) = self.telemetry.get() {
            t.health_changed(pool, upstream, healthy);
        }
    }
}
