//! Upstream pools and the load-balancing algorithms the course teaches.
//!
//! Every algorithm chooses among the upstreams that are *available*: healthy by the active
//! checks, not ejected by passive failures, and with a circuit that lets requests through.
//! Hashing uses rendezvous (highest random weight) hashing, so a key stays on its upstream and
//! moves only when that upstream leaves, and then only its keys move.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Uri;
use http::uri::Authority;

use super::breaker::CircuitBreaker;
use super::config::{Algorithm, HashOn, PassiveConfig, PoolConfig};

/// One upstream server and what the balancer knows of it.
#[derive(Debug)]
pub struct Upstream {
    /// Its name in metrics, cookies and the admin API.
    pub name: String,
    /// `host:port`.
    pub authority: Authority,
    /// Relative share of requests.
    pub weight: u32,
    /// Requests in flight.
    active: AtomicU64,
    /// Requests sent to it so far.
    requests: AtomicU64,
    /// Failed requests so far.
    failures: AtomicU64,
    /// Average time to response headers, in microseconds (an f64's bits).
    latency_us: AtomicU64,
    /// When that average last took a sample, in microseconds since `epoch`.
    sampled_us: AtomicU64,
    epoch: Instant,
    /// Healthy by the active checks.
    healthy: AtomicBool,
    passive: Mutex<Passive>,
    /// Its circuit breaker.
    pub breaker: Option<CircuitBreaker>,
}

#[derive(Debug, Default)]
struct Passive {
    fails: u32,
    window_start: Option<Instant>,
    ejected_until: Option<Instant>,
}

/// A request in flight to an upstream: counted until dropped (with the response body).
#[derive(Debug)]
pub struct InFlight(Arc<Upstream>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the admin API shows of an upstream.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpstreamStatus {
    /// Its name.
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Its weight.
    pub weight: u32,
    /// Healthy by the active checks.
    pub healthy: bool,
    /// Ejected by passive failures right now.
    pub ejected: bool,
    /// Its circuit's state.
    pub circuit: &'static str,
    /// Requests in flight.
    pub active: u64,
    /// Requests sent to it.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Its share of the pool's requests, 0–1.
    pub share: f64,
    /// Average time to response headers, in milliseconds.
    pub latency_ms: f64,
}

impl Upstream {
    fn new(name: String, authority: Authority, weight: u32, breaker: Option<CircuitBreaker>) -> Upstream {
        Upstream {
            name,
            authority,
            weight,
            active: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            latency_us: AtomicU64::new(0f64.to_bits()),
            sampled_us: AtomicU64::new(0),
            epoch: Instant::now(),
            healthy: AtomicBool::new(true),
            passive: Mutex::new(Passive::default()),
            breaker,
        }
    }

    /// Requests in flight.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Requests sent to it so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Average time to response headers.
    pub fn latency(&self) -> Duration {
        Duration::from_secs_f64(f64::from_bits(self.latency_us.load(Ordering::Relaxed)) / 1e6)
    }

    /// Marks a request sent; it counts as in flight until the guard drops.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Sets the active health checks' verdict; true when it changed.
    pub fn set_healthy(&self, healthy: bool) -> bool {
        self.healthy.swap(healthy, Ordering::Relaxed) != healthy
    }

    /// Healthy by the active checks.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Whether it may be chosen now.
    pub fn available(&self, now: Instant) -> bool {
        self.healthy()
            && !self.ejected(now)
            && self.breaker.as_ref().is_none_or(|b| b.state(now) != super::breaker::BreakerState::Open)
    }

    fn ejected(&self, now: Instant) -> bool {
        let p = self.passive.lock().unwrap_or_else(|e| e.into_inner());
        p.ejected_until.is_some_and(|until| now < until)
    }

    /// The latency `least_time` weighs: the average, or nothing once it is over a second old,
    /// so that an upstream once slow and since left alone is tried again and measured afresh.
    pub fn latency_score(&self, now: Instant) -> Duration {
        let idle_us = (now.saturating_duration_since(self.epoch).as_micros() as u64)
            .saturating_sub(self.sampled_us.load(Ordering::Relaxed));
        if idle_us > 1_000_000 { Duration::ZERO } else { self.latency() }
    }

    /// Records a response's time to headers in the latency average.
    pub fn observe_latency(&self, took: Duration) {
        self.sampled_us.store(self.epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
        let sample = took.as_secs_f64() * 1e6;
        let _ = self.latency_us.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            let old = f64::from_bits(bits);
            let new = if old == 0.0 { sample } else { old * 0.7 + sample * 0.3 };
            Some(new.to_bits())
        });
    }

    /// Records a failed request; true when it ejected the upstream.
    pub fn fail(&self, passive: &PassiveConfig, now: Instant) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if passive.max_fails == 0 {
            return false;
        }
        let window = Duration::from_millis(passive.fail_timeout_ms);
        let mut p = self.passive.lock().unwrap_or_else(|e| e.into_inner());
        if p.window_start.is_none_or(|start| now.duration_since(start) > window) {
            p.window_start = Some(now);
            p.fails = 0;
        }
        p.fails += 1;
        if p.fails >= passive.max_fails {
            p.fails = 0;
            p.window_start = None;
            p.ejected_until = Some(now + window);
            return true;
        }
        false
    }

    /// Records a good answer: the failure count starts again.
    pub fn succeed(&self) {
        let mut p = self.passive.lock().unwrap_or_else(|e| e.into_inner());
        p.fails = 0;
        p.window_start = None;
    }

    fn load(&self) -> f64 {
        self.active() as f64 / f64::from(self.weight)
    }
}

/// What a request offers the balancer to choose by.
#[derive(Debug, Default)]
pub struct PickKey<'a> {
    /// The value `hash` hashes (from the header, cookie, query parameter or path).
    pub hash: Option<&'a str>,
    /// The upstream named in the sticky cookie.
    pub sticky: Option<&'a str>,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
}

/// A pool of upstreams behind one balancing algorithm.
#[derive(Debug)]
pub struct Pool {
    /// Its name.
    pub name: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// What `hash` hashes.
    pub hash_on: Option<HashOn>,
    /// The cookie of `sticky_round_robin`.
    pub sticky_cookie: String,
    /// Passive ejection settings.
    pub passive: PassiveConfig,
    /// The upstreams.
    pub upstreams: Vec<Arc<Upstream>>,
    /// Smooth weighted round robin's running weights.
    current: Mutex<Vec<i64>>,
    /// Rotates the start of tie-breaking scans.
    turn: AtomicU64,
    /// xorshift state for the random choices.
    seed: AtomicU64,
}

impl Pool {
    /// Builds a pool from its (validated) configuration.
    pub fn new(name: &str, config: &PoolConfig) -> Pool {
        let upstreams = config
            .upstreams
            .iter()
            .filter_map(|u| {
                let authority = u.url.parse::<Uri>().ok()?.authority()?.clone();
                let name = u.name.clone().unwrap_or_else(|| authority.to_string());
                let breaker = config.circuit_breaker.as_ref().map(CircuitBreaker::new);
                Some(Arc::new(Upstream::new(name, authority, u.weight, breaker)))
            })
            .collect::<Vec<_>>();
        let seed = std::collections::hash_map::RandomState::new().hash_one(name) | 1;
        Pool {
            name: name.to_owned(),
            algorithm: config.algorithm,
            hash_on: config.hash_on.clone(),
            sticky_cookie: config.sticky_cookie.clone(),
            passive: config.passive.clone(),
            current: Mutex::new(vec![0; upstreams.len()]),
            upstreams,
            turn: AtomicU64::new(0),
            seed: AtomicU64::new(seed),
        }
    }

    /// Chooses an upstream for a request, skipping the indexes in `exclude` (already tried);
    /// `None` when no upstream is available.
    pub fn pick(&self, key: &PickKey<'_>, exclude: &[usize], now: Instant) -> Option<usize> {
        let candidates: Vec<usize> =
            (0..self.upstreams.len()).filter(|i| !exclude.contains(i) && self.upstreams[*i].available(now)).collect();
        if candidates.is_empty() {
            return None;
        }
        Some(match self.algorithm {
            Algorithm::RoundRobin => self.round_robin(&candidates),
            Algorithm::StickyRoundRobin => key
                .sticky
                .and_then(|name| candidates.iter().copied().find(|i| self.upstreams[*i].name == name))
                .unwrap_or_else(|| self.round_robin(&candidates)),
            Algorithm::Hash => match key.hash {
                Some(k) => self.rendezvous(&candidates, k),
                None => self.round_robin(&candidates),
            },
            Algorithm::IpHash => match key.client_ip {
                Some(ip) => self.rendezvous(&candidates, &ip.to_string()),
                None => self.round_robin(&candidates),
            },
            Algorithm::LeastConnections => self.least_by(&candidates, |u| u.load()),
            Algorithm::LeastTime => self.least_by(&candidates, |u| {
                let ms = u.latency_score(now).as_secs_f64() * 1e3;
                (ms + 0.001) * (u.active() as f64 + 1.0) / f64::from(u.weight)
            }),
            Algorithm::RandomTwoChoices => self.two_choices(&candidates),
        })
    }

    /// NGINX's smooth weighted round robin over the candidates.
    fn round_robin(&self, candidates: &[usize]) -> usize {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0i64;
        let mut best = candidates[0];
        for &i in candidates {
            let w = i64::from(self.upstreams[i].weight);
            current[i] += w;
            total += w;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        best
    }

    /// Highest random weight: each upstream scores the key, weighted, and the best wins.
    fn rendezvous(&self, candidates: &[usize], key: &str) -> usize {
        let score = |i: usize| {
            let u = &self.upstreams[i];
            let mut h = Fnv(0xcbf2_9ce4_8422_2325);
            key.hash(&mut h);
            u.name.hash(&mut h);
            // Map the hash to (0, 1), then to a weighted score: -w / ln(x) grows with x and w.
            let x = ((h.finish() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            -f64::from(u.weight) / x.ln()
        };
        candidates
            .iter()
            .copied()
            .map(|i| (score(i), i))
            .fold((f64::MIN, candidates[0]), |a, b| if b.0 > a.0 { b } else { a })
            .1
    }

    /// The lowest `cost`; ties go round the pool in turn.
    fn least_by(&self, candidates: &[usize], cost: impl Fn(&Upstream) -> f64) -> usize {
        let start = self.turn.fetch_add(1, Ordering::Relaxed) as usize;
        let n = candidates.len();
        let mut best = candidates[start % n];
        let mut best_cost = cost(&self.upstreams[best]);
        for k in 1..n {
            let i = candidates[(start + k) % n];
            let c = cost(&self.upstreams[i]);
            if c < best_cost {
                best = i;
                best_cost = c;
            }
        }
        best
    }

    /// Power of two choices: two distinct candidates at random, the less loaded one.
    fn two_choices(&self, candidates: &[usize]) -> usize {
        if candidates.len() == 1 {
            return candidates[0];
        }
        let r = self.random();
        let n = candidates.len() as u64;
        let a = (r % n) as usize;
        let b = (a + 1 + ((r >> 32) % (n - 1)) as usize) % candidates.len();
        let (a, b) = (candidates[a], candidates[b]);
        if self.upstreams[b].load() < self.upstreams[a].load() { b } else { a }
    }

    fn random(&self) -> u64 {
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        x
    }

    /// The admin API's view of the upstreams.
    pub fn status(&self, now: Instant) -> Vec<UpstreamStatus> {
        let total: u64 = self.upstreams.iter().map(|u| u.requests()).sum();
        self.upstreams
            .iter()
            .map(|u| UpstreamStatus {
                name: u.name.clone(),
                address: u.authority.to_string(),
                weight: u.weight,
                healthy: u.healthy(),
                ejected: u.ejected(now),
                circuit: u.breaker.as_ref().map_or("none", |b| b.state(now).as_str()),
                active: u.active(),
                requests: u.requests(),
                failures: u.failures.load(Ordering::Relaxed),
                share: if total == 0 { 0.0 } else { u.requests() as f64 / total as f64 },
                latency_ms: u.latency().as_secs_f64() * 1e3,
            })
            .collect()
    }
}

/// FNV-1a: stable across processes and versions, so a key maps to the same upstream everywhere.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        // A final mix so nearby keys spread.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::gateway::config::GatewayConfig;

    fn pool(algorithm: &str, weights: &[u32]) -> Pool {
        let ups: Vec<String> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{{url: 'http://127.0.0.1:{}', weight: {w}}}", 9000 + i))
            .collect();
        let text = format!(
            "routes: []\npools: {{p: {{algorithm: {algorithm}, hash_on: {{header: x-user}}, upstreams: [{}]}}}}\n",
            ups.join(", ")
        );
        let config = GatewayConfig::parse(&text).unwrap();
        Pool::new("p", &config.pools["p"])
    }

    fn counts(pool: &Pool, n: usize, key: impl Fn(usize) -> PickKey<'static>) -> Vec<usize> {
        let mut c = vec![0; pool.upstreams.len()];
        let now = Instant::now();
        for i in 0..n {
            c[pool.pick(&key(i), &[], now).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn round_robin_follows_weights_smoothly() {
        let p = pool("round_robin", &[1, 1, 1]);
        assert_eq!(counts(&p, 300, |_| PickKey::default()), vec![100, 100, 100]);
        let p = pool("round_robin", &[5, 1, 1]);
        let now = Instant::now();
        let seq: Vec<usize> = (0..7).map(|_| p.pick(&PickKey::default(), &[], now).unwrap()).collect();
        // NGINX's documented sequence for weights 5, 1, 1: a a b a c a a.
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn rendezvous_moves_only_the_keys_of_a_leaving_upstream() {
        let p = pool("hash", &[1, 1, 1]);
        let now = Instant::now();
        let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
        let before: Vec<usize> =
            keys.iter().map(|k| p.pick(&PickKey { hash: Some(k), ..Default::default() }, &[], now).unwrap()).collect();
        for u in 0..3 {
            let share = before.iter().filter(|b| **b == u).count();
            assert!((60..=140).contains(&share), "upstream {u} got {share} of 300 keys");
        }
        p.upstreams[1].set_healthy(false);
        for (k, b) in keys.iter().zip(&before) {
            let after = p.pick(&PickKey { hash: Some(k), ..Default::default() }, &[], now).unwrap();
            if *b != 1 {
                assert_eq!(after, *b, "key {k} moved although its upstream stayed");
            } else {
                assert_ne!(after, 1);
            }
        }
    }

    #[test]
    fn least_connections_and_two_choices_avoid_the_loaded() {
        for algorithm in ["least_connections", "random_two_choices", "least_time"] {
            let p = pool(algorithm, &[1, 1, 1]);
            let _busy: Vec<_> = (0..5).map(|_| p.upstreams[0].start()).collect();
            let c = counts(&p, 200, |_| PickKey::default());
            assert!(c[0] < 40, "{algorithm}: the loaded upstream got {c:?}");
        }
    }

    #[test]
    fn least_time_prefers_the_fast() {
        let p = pool("least_time", &[1, 1]);
        p.upstreams[0].observe_latency(Duration::from_millis(50));
        p.upstreams[1].observe_latency(Duration::from_millis(2));
        assert_eq!(counts(&p, 50, |_| PickKey::default()), vec![0, 50]);
    }

    #[test]
    fn least_time_tries_a_once_slow_upstream_again_after_a_while() {
        let p = pool("least_time", &[1, 1]);
        p.upstreams[0].observe_latency(Duration::from_millis(200));
        p.upstreams[1].observe_latency(Duration::from_millis(5));
        let now = Instant::now();
        assert_eq!(p.pick(&PickKey::default(), &[], now), Some(1));
        // Ten seconds without a sample: both are measured afresh, the slow one too.
        let later = now + Duration::from_secs(10);
        let picks: Vec<_> = (0..4).filter_map(|_| p.pick(&PickKey::default(), &[], later)).collect();
        assert!(picks.contains(&0), "{picks:?}");
    }

    #[test]
    fn passive_failures_eject_for_fail_timeout() {
        let p = pool("round_robin", &[1, 1]);
        let now = Instant::now();
        assert!(!p.upstreams[0].fail(&p.passive, now));
        assert!(!p.upstreams[0].fail(&p.passive, now));
        assert!(p.upstreams[0].fail(&p.passive, now));
        assert!(!p.upstreams[0].available(now));
        assert!(p.upstreams[0].available(now + Duration::from_millis(10_001)));
        // Nothing available but what is excluded: none.
        p.upstreams[1].set_healthy(false);
        assert_eq!(p.pick(&PickKey::default(), &[], now), None);
    }
}
