//! Retry settings, retry budget and backoff.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::window::Window;

/// The retry budget's sliding window, in one-second slots.
const BUDGET_WINDOW_S: u64 = 10;

/// Retry settings for one route, from YAML.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Total tries including the first.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Base backoff in ms, doubled per retry, with full jitter.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Cap on one backoff, in ms.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Retries allowed as a fraction of requests over the budget window.
    #[serde(default = "default_budget_ratio")]
    pub budget_ratio: f64,
    /// Retries per second always allowed, whatever the traffic.
    #[serde(default = "default_budget_min_per_s")]
    pub budget_min_per_s: f64,
    /// Upstream statuses worth a retry.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<u16>,
}

fn default_attempts() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    25
}
fn default_max_backoff_ms() -> u64 {
    1000
}
fn default_budget_ratio() -> f64 {
    0.2
}
fn default_budget_min_per_s() -> f64 {
    10.0
}
fn default_retry_on() -> Vec<u16> {
    vec![502, 503, 504]
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            backoff_ms: default_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            budget_ratio: default_budget_ratio(),
            budget_min_per_s: default_budget_min_per_s(),
            retry_on: default_retry_on(),
        }
    }
}

/// Caps retries at `budget_min_per_s × 10 s + budget_ratio × requests` over a 10 s sliding window.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    reserve: f64,
    /// [requests, retries].
    window: Mutex<Window<2>>,
}

impl RetryBudget {
    /// Builds an empty budget; negative or NaN settings count as 0.
    pub fn new(cfg: &RetryConfig) -> Self {
        let sane = |x: f64| if x > 0.0 { x } else { 0.0 };
        Self {
            ratio: sane(cfg.budget_ratio),
            reserve: sane(cfg.budget_min_per_s) * BUDGET_WINDOW_S as f64,
            window: Mutex::new(Window::new(BUDGET_WINDOW_S)),
        }
    }

    /// Records one original (non-retry) request.
    pub fn deposit(&self, now: Instant) {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        w.add(now, 0, 1);
    }

    /// Takes one retry from the budget, or returns false when it is spent.
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let [requests, retries] = w.totals(now);
        let allowed = self.reserve + self.ratio * requests as f64;
        if (retries + 1) as f64 > allowed + 1e-9 {
            return false;
        }
        w.add(now, 1, 1);
        true
    }
}

/// Delay before retry number `attempt` (0 = first retry): `rand01 × min(max_backoff, base × 2^attempt)`.
pub fn backoff(cfg: &RetryConfig, attempt: u32, rand01: f64) -> Duration {
    let factor = 2u64.checked_pow(attempt).unwrap_or(u64::MAX);
    let cap_ms = cfg.backoff_ms.saturating_mul(factor).min(cfg.max_backoff_ms);
    let r = if rand01.is_nan() { 0.0 } else { rand01.clamp(0.0, 1.0) };
    Duration::from_micros((cap_ms as f64 * 1000.0 * r) as u64)
}
