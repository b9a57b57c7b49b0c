//! The gateway's YAML configuration: routes matched by host, path prefix and method, each sent
//! to a pool of upstreams balanced by one of the course's algorithms.
//!
//! ```yaml
//! routes:
//!   - name: orders
//!     path_prefix: /api/orders
//!     pool: orders
//!     rate_limit: { requests_per_second: 50, burst: 100 }
//! pools:
//!   orders:
//!     algorithm: least_time
//!     upstreams:
//!       - { url: "http://127.0.0.1:9001" }
//!       - { url: "http://127.0.0.1:9002", weight: 2 }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::auth::AuthConfig;
use super::breaker::{BreakerConfig, RetryConfig};
use super::ratelimit::RateLimitConfig;

/// The whole gateway configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Routes, tried in order of the longest matching path prefix, then file order.
    pub routes: Vec<RouteConfig>,
    /// Upstream pools by name.
    pub pools: BTreeMap<String, PoolConfig>,
    /// Write one access log line per request.
    #[serde(default = "yes")]
    pub access_log: bool,
    /// The largest request body accepted (bodies are buffered so that a request can be retried).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers (against slow clients).
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// The largest request head (request line and headers) accepted, in bytes.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
}

/// One route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in metrics, logs and the admin API.
    pub name: String,
    /// Host the request must name (the `Host` header without its port); any when absent.
    #[serde(default)]
    pub host: Option<String>,
    /// Path prefix the request path must start with, on a segment boundary.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// Methods accepted; any when empty.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The pool that serves it.
    pub pool: String,
    /// Remove the path prefix before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Authentication required at the edge.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Rate limit per client, header value, subject or for everyone.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// Time allowed for each upstream attempt, headers received, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries on connection errors and the listed statuses.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// Served when no upstream can answer (all down, circuits open, attempts exhausted).
    #[serde(default)]
    pub fallback: Option<FallbackConfig>,
}

/// A canned response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Its status.
    #[serde(default = "default_fallback_status")]
    pub status: u16,
    /// Its body.
    #[serde(default)]
    pub body: String,
    /// Its `Content-Type`.
    #[serde(default = "default_content_type")]
    pub content_type: String,
}

/// One pool of upstreams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// How a request picks its upstream.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// What `hash` hashes.
    #[serde(default)]
    pub hash_on: Option<HashOn>,
    /// Cookie name of `sticky_round_robin`.
    #[serde(default = "default_sticky_cookie")]
    pub sticky_cookie: String,
    /// The upstreams.
    pub upstreams: Vec<UpstreamConfig>,
    /// Active health checks.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Passive ejection after failed requests, as NGINX's `max_fails` / `fail_timeout`.
    #[serde(default)]
    pub passive: PassiveConfig,
    /// A circuit breaker per upstream.
    #[serde(default)]
    pub circuit_breaker: Option<BreakerConfig>,
}

/// The load-balancing algorithms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Each upstream in turn, in proportion to its weight (NGINX's smooth weighted round robin).
    #[default]
    RoundRobin,
    /// Round robin for a new client, then the upstream named in its cookie while it is up.
    StickyRoundRobin,
    /// The fewest requests in flight per unit of weight.
    LeastConnections,
    /// The lowest latency average times requests in flight (NGINX Plus `least_time`).
    LeastTime,
    /// Rendezvous hashing on a header, cookie, query parameter or the path.
    Hash,
    /// Rendezvous hashing on the client's address.
    IpHash,
    /// Two upstreams at random, the less loaded of them.
    RandomTwoChoices,
}

impl Algorithm {
    /// The name used in configuration and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::StickyRoundRobin => "sticky_round_robin",
            Algorithm::LeastConnections => "least_connections",
            Algorithm::LeastTime => "least_time",
            Algorithm::Hash => "hash",
            Algorithm::IpHash => "ip_hash",
            Algorithm::RandomTwoChoices => "random_two_choices",
        }
    }
}

/// The key of `hash`: `{header: x-user}`, `{cookie: session}`, `{query: user}` or `path`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "KeyYaml")]
pub enum HashOn {
    /// A request header's value.
    Header(String),
    /// A cookie's value.
    Cookie(String),
    /// A query parameter's value.
    Query(String),
    /// The request path.
    Path,
}

impl TryFrom<KeyYaml> for HashOn {
    type Error = String;

    fn try_from(k: KeyYaml) -> Result<HashOn, String> {
        match k {
            KeyYaml::Word(w) if w == "path" => Ok(HashOn::Path),
            KeyYaml::Named(NamedKey { header: Some(h), cookie: None, query: None }) => Ok(HashOn::Header(h)),
            KeyYaml::Named(NamedKey { header: None, cookie: Some(c), query: None }) => Ok(HashOn::Cookie(c)),
            KeyYaml::Named(NamedKey { header: None, cookie: None, query: Some(q) }) => Ok(HashOn::Query(q)),
            _ => Err("hash_on must be path, {header: NAME}, {cookie: NAME} or {query: NAME}".into()),
        }
    }
}

/// A request key as written in YAML: a bare word, or one of `{header: …}`, `{cookie: …}`,
/// `{query: …}` (YAML maps rather than serde's `!tag` form for enums, which few people know).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum KeyYaml {
    /// `path`, `client_ip`, …
    Word(String),
    /// A named header, cookie or query parameter.
    Named(NamedKey),
}

/// The map form of [`KeyYaml`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedKey {
    /// A header's name.
    #[serde(default)]
    pub header: Option<String>,
    /// A cookie's name.
    #[serde(default)]
    pub cookie: Option<String>,
    /// A query parameter's name.
    #[serde(default)]
    pub query: Option<String>,
}

/// One upstream server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL, `http://host:port`.
    pub url: String,
    /// Name in metrics and cookies; `host:port` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Relative share of requests.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// Active health checks of every upstream in a pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Path requested; a 2xx or 3xx answer is healthy.
    #[serde(default = "default_health_path")]
    pub path: String,
    /// Time between checks, in milliseconds.
    #[serde(default = "default_health_interval_ms")]
    pub interval_ms: u64,
    /// Time allowed for an answer, in milliseconds.
    #[serde(default = "default_health_timeout_ms")]
    pub timeout_ms: u64,
    /// Consecutive good checks that bring an upstream back.
    #[serde(default = "default_threshold")]
    pub healthy_threshold: u32,
    /// Consecutive bad checks that take it out.
    #[serde(default = "default_threshold")]
    pub unhealthy_threshold: u32,
}

/// Passive health: NGINX's `max_fails` within `fail_timeout` take an upstream out for `fail_timeout`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveConfig {
    /// Failed requests (connection errors, timeouts, 502/503/504) that eject; 0 turns it off.
    #[serde(default = "default_max_fails")]
    pub max_fails: u32,
    /// The window the failures are counted in and the ejection's length, in milliseconds.
    #[serde(default = "default_fail_timeout_ms")]
    pub fail_timeout_ms: u64,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        PassiveConfig { max_fails: default_max_fails(), fail_timeout_ms: default_fail_timeout_ms() }
    }
}

/// A configuration that cannot be used, naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not fit the schema (the message names the key).
    #[error("invalid gateway configuration: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A value is out of range or refers to something missing.
    #[error("invalid gateway configuration: {0}")]
    Invalid(String),
}

impl GatewayConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &std::path::Path) -> Result<GatewayConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        GatewayConfig::parse(&text)
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
        let config: GatewayConfig = serde_yaml_ng::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        for route in &self.routes {
            if !self.pools.contains_key(&route.pool) {
                return invalid(format!("route {:?} names pool {:?}, which is not defined", route.name, route.pool));
            }
            if !route.path_prefix.starts_with('/') {
                return invalid(format!("route {:?}: path_prefix must start with '/'", route.name));
            }
            for m in &route.methods {
                if http::Method::from_bytes(m.as_bytes()).is_err() {
                    return invalid(format!("route {:?}: {m:?} is not an HTTP method", route.name));
                }
            }
            if let Some(l) = &route.rate_limit
                && let Err(e) = l.validate()
            {
                return invalid(format!("route {:?}: rate_limit: {e}", route.name));
            }
            if let Some(f) = &route.fallback
                && http::StatusCode::from_u16(f.status).is_err()
            {
                return invalid(format!("route {:?}: fallback status {} is not a status", route.name, f.status));
            }
        }
        for (name, pool) in &self.pools {
            if pool.upstreams.is_empty() {
                return invalid(format!("pool {name:?} has no upstreams"));
            }
            if pool.algorithm == Algorithm::Hash && pool.hash_on.is_none() {
                return invalid(format!("pool {name:?}: algorithm hash needs hash_on"));
            }
            for u in &pool.upstreams {
                let uri: http::Uri =
                    u.url.parse().map_err(|_| ConfigError::Invalid(format!("pool {name:?}: bad url {:?}", u.url)))?;
                if uri.scheme_str() != Some("http") || uri.authority().is_none() {
                    return invalid(format!("pool {name:?}: url {:?} must be http://host:port", u.url));
                }
                if u.weight == 0 {
                    return invalid(format!("pool {name:?}: upstream {:?} has weight 0", u.url));
                }
            }
        }
        Ok(())
    }
}

impl RouteConfig {
    /// The attempt timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

fn yes() -> bool {
    true
}
fn default_max_body_bytes() -> usize {
    10 << 20
}
fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_max_header_bytes() -> usize {
    64 << 10
}
fn default_prefix() -> String {
    "/".into()
}
fn default_timeout_ms() -> u64 {
    15_000
}
fn default_fallback_status() -> u16 {
    503
}
fn default_content_type() -> String {
    "application/json".into()
}
fn default_sticky_cookie() -> String {
    "lookout_upstream".into()
}
fn default_weight() -> u32 {
    1
}
fn default_health_path() -> String {
    "/health".into()
}
fn default_health_interval_ms() -> u64 {
    1000
}
fn default_health_timeout_ms() -> u64 {
    500
}
fn default_threshold() -> u32 {
    2
}
fn default_max_fails() -> u32 {
    3
}
fn default_fail_timeout_ms() -> u64 {
    10_000
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn minimal_file_takes_defaults() {
        let c = GatewayConfig::parse(
            "routes: [{name: all, pool: p}]\npools: {p: {upstreams: [{url: 'http://127.0.0.1:1'}]}}\n",
        )
        .unwrap();
        assert_eq!(c.routes[0].path_prefix, "/");
        assert_eq!(c.pools["p"].algorithm, Algorithm::RoundRobin);
        assert_eq!(c.pools["p"].passive.max_fails, 3);
        assert!(c.access_log);
    }

    #[test]
    fn wrong_key_is_named() {
        let e = GatewayConfig::parse(
            "routes: [{name: all, pool: p, path_prefx: /x}]\npools: {p: {upstreams: [{url: 'http://h:1'}]}}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("path_prefx"), "{e}");
    }

    #[test]
    fn missing_pool_and_bad_urls_are_refused() {
        let e = GatewayConfig::parse("routes: [{name: r, pool: nope}]\npools: {}\n").unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        let e = GatewayConfig::parse("routes: []\npools: {p: {upstreams: [{url: 'ftp://h:1'}]}}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ftp://h:1"), "{e}");
        let e = GatewayConfig::parse("routes: []\npools: {p: {algorithm: hash, upstreams: [{url: 'http://h:1'}]}}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hash_on"), "{e}");
    }
}
