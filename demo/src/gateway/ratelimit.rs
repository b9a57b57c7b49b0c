//! Token-bucket rate limiting per key, in a bounded, sharded map.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Upper bound on shards: enough for a 2–16 core gateway to rarely contend.
const MAX_SHARDS: usize = 16;
/// Fewest keys per shard worth a shard of its own.
const MIN_KEYS_PER_SHARD: usize = 64;
/// Highest refill rate accepted; larger values are clamped (and infinity with them).
const MAX_RATE: f64 = 1e9;
/// Slack for floating-point refill arithmetic, in tokens.
const EPSILON: f64 = 1e-9;

/// One route's rate limit, from YAML.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained rate: tokens added per second to each bucket.
    pub requests_per_second: f64,
    /// Bucket size: requests allowed at once after an idle period (at least 1).
    pub burst: u32,
    /// What a bucket is keyed by.
    #[serde(default = "default_key")]
    pub key: RateLimitKey,
}

fn default_key() -> RateLimitKey {
    RateLimitKey::ClientIp
}

/// What a rate-limit bucket is keyed by.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "super::config::KeyYaml")]
pub enum RateLimitKey {
    /// The client's IP address.
    ClientIp,
    /// The value of a request header (YAML: `{header: x-user}`).
    Header(String),
    /// The authenticated principal's subject.
    Subject,
    /// One bucket shared by all requests.
    Global,
}

impl TryFrom<super::config::KeyYaml> for RateLimitKey {
    type Error = String;

    fn try_from(k: super::config::KeyYaml) -> Result<RateLimitKey, String> {
        use super::config::{KeyYaml, NamedKey};
        match k {
            KeyYaml::Word(w) if w == "client_ip" => Ok(RateLimitKey::ClientIp),
            KeyYaml::Word(w) if w == "subject" => Ok(RateLimitKey::Subject),
            KeyYaml::Word(w) if w == "global" => Ok(RateLimitKey::Global),
            KeyYaml::Named(NamedKey { header: Some(h), cookie: None, query: None }) => Ok(RateLimitKey::Header(h)),
            _ => Err("key must be client_ip, subject, global or {header: NAME}".into()),
        }
    }
}

impl RateLimitConfig {
    /// Checks that the rate is a positive finite number and the burst is at least 1.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            return Err(format!("requests_per_second must be a positive number, got {}", self.requests_per_second));
        }
        if self.burst == 0 {
            return Err("burst must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Token buckets per key, at most `max_keys` of them, safe to share across tasks.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Debug)]
struct Shard {
    cap: usize,
    buckets: HashMap<Box<str>, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Last refill, which is also the last use (for LRU eviction).
    updated: Instant,
}

impl RateLimiter {
    /// Builds a limiter keeping at most `max_keys` buckets (at least 1).
    ///
    /// A rate that is not a positive finite number never refills; a burst of 0 counts as 1.
    /// Use [`RateLimitConfig::validate`] to refuse such configs up front.
    pub fn new(cfg: &RateLimitConfig, max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        let n = (max_keys / MIN_KEYS_PER_SHARD).clamp(1, MAX_SHARDS);
        let shards = (0..n)
            .map(|i| {
                let cap = max_keys / n + usize::from(i < max_keys % n);
                Mutex::new(Shard { cap, buckets: HashMap::with_capacity(cap.min(1024)) })
            })
            .collect();
        let rate = cfg.requests_per_second;
        Self {
            rate: if rate > 0.0 { rate.min(MAX_RATE) } else { 0.0 },
            burst: f64::from(cfg.burst.max(1)),
            hasher: RandomState::new(),
            shards,
        }
    }

    /// Ok(()) when a token was taken; Err(retry_after) with the time until the next token otherwise.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let idx = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        let Some(mutex) = self.shards.get(idx) else {
            return Ok(()); // unreachable: idx < len
        };
        let mut shard = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = shard.buckets.get_mut(key) {
            return bucket.take(now, self.rate, self.burst);
        }
        if shard.buckets.len() >= shard.cap {
            shard.compact(now, self.rate, self.burst);
        }
        let mut bucket = Bucket { tokens: self.burst, updated: now };
        let result = bucket.take(now, self.rate, self.burst);
        shard.buckets.insert(key.into(), bucket);
        result
    }

    /// Number of buckets currently held (for metrics and tests).
    pub fn tracked_keys(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).buckets.len()).sum()
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        if now > self.updated {
            let elapsed = now.duration_since(self.updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(burst);
            self.updated = now;
        }
    }

    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Result<(), Duration> {
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 - EPSILON {
            self.tokens = (self.tokens - 1.0).max(0.0);
            return Ok(());
        }
        Err(seconds_ceil((1.0 - self.tokens) / rate))
    }

    fn is_idle(&self, now: Instant, rate: f64, burst: f64) -> bool {
        let mut b = *self;
        b.refill(now, rate, burst);
        b.tokens >= burst - EPSILON
    }
}

/// A duration of `secs` rounded up to the nanosecond, saturating instead of panicking.
fn seconds_ceil(secs: f64) -> Duration {
    let nanos = (secs * 1e9).ceil();
    if nanos.is_nan() {
        return Duration::ZERO;
    }
    Duration::from_nanos(nanos as u64) // `as` saturates: infinity becomes ~584 years
}

impl Shard {
    /// Makes room in a full shard: first drops idle (full) buckets, which loses nothing;
    /// if that frees less than 1/16 of the shard, evicts the least recently used down to
    /// 15/16 of capacity, so that the O(n) pass is paid once per n/16 new keys.
    fn compact(&mut self, now: Instant, rate: f64, burst: f64) {
        self.buckets.retain(|_, b| !b.is_idle(now, rate, burst));
        let target = self.cap - (self.cap / 16).max(1);
        let excess = self.buckets.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut times: Vec<Instant> = self.buckets.values().map(|b| b.updated).collect();
        let (_, &mut cutoff, _) = times.select_nth_unstable(excess - 1);
        let older = times.iter().filter(|&&t| t < cutoff).count();
        let mut ties = excess - older;
        self.buckets.retain(|_, b| {
            if b.updated < cutoff {
                false
            } else if b.updated == cutoff && ties > 0 {
                ties -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests;
