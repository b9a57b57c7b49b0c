//! Circuit breaker per upstream, retry budget and retry backoff.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use retry::{RetryBudget, RetryConfig, backoff};
use window::Window;

mod retry;
mod window;

/// Longest open period accepted.
const MAX_OPEN: Duration = Duration::from_secs(365 * 86_400);
/// Shortest time a half-open probe may stay unreported before another is let through.
const MIN_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Circuit breaker settings for one upstream, from YAML.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit; 0 disables this trigger.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Also open when failures/requests over the window reach this ratio (with enough requests).
    #[serde(default)]
    pub failure_ratio: Option<f64>,
    /// Requests needed in the window before `failure_ratio` applies.
    #[serde(default = "default_min_requests")]
    pub min_requests: u32,
    /// Sliding window for `failure_ratio`, in seconds (clamped to 1..=3600).
    #[serde(default = "default_window_s")]
    pub window_s: u64,
    /// Seconds the circuit stays open before probing (at most a year).
    #[serde(default = "default_open_s")]
    pub open_s: f64,
    /// Probes allowed in flight when half-open; that many successes close the circuit.
    #[serde(default = "default_half_open_requests")]
    pub half_open_requests: u32,
}

fn default_failure_threshold() -> u32 {
    5
}
fn default_min_requests() -> u32 {
    20
}
fn default_window_s() -> u64 {
    10
}
fn default_open_s() -> f64 {
    10.0
}
fn default_half_open_requests() -> u32 {
    1
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: default_failure_threshold(),
            failure_ratio: None,
            min_requests: default_min_requests(),
            window_s: default_window_s(),
            open_s: default_open_s(),
            half_open_requests: default_half_open_requests(),
        }
    }
}

/// State of a circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Requests flow; failures are counted.
    Closed,
    /// Requests are refused until the open period ends.
    Open,
    /// A few probe requests decide whether to close or reopen.
    HalfOpen,
}

impl BreakerState {
    /// Name for logs and labels: "closed", "open" or "half_open".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// Numeric value for a gauge: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

/// Leave to send one request; hand it back to [`CircuitBreaker::record`] with the outcome.
#[must_use = "report the outcome with CircuitBreaker::record"]
#[derive(Debug)]
pub struct Permit {
    generation: u64,
}

/// Refusal from an open (or saturated half-open) circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker is {}", .state.as_str())]
pub struct Rejected {
    /// State that refused the request.
    pub state: BreakerState,
    /// Time until the breaker may let a request through again.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Closed,
    Open { until: Instant },
    HalfOpen { since: Instant, in_flight: u32, successes: u32 },
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    /// Bumped on every state change (and probe reset): permits from before are stale.
    generation: u64,
    consecutive_failures: u32,
    /// [requests, failures] while closed.
    window: Window<2>,
}

/// Circuit breaker for one upstream, safe to share across tasks.
#[derive(Debug)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    failure_ratio: Option<f64>,
    min_requests: u64,
    open_for: Duration,
    probe_timeout: Duration,
    probes: u32,
    inner: Mutex<Inner>,
    transitions: AtomicU64,
}

impl CircuitBreaker {
    /// Builds a closed breaker; nonsensical values are clamped (e.g. `half_open_requests` ≥ 1).
    pub fn new(cfg: &BreakerConfig) -> Self {
        let open_for = match Duration::try_from_secs_f64(cfg.open_s) {
            Ok(d) => d.min(MAX_OPEN),
            Err(_) if cfg.open_s > 0.0 => MAX_OPEN,
            Err(_) => Duration::ZERO,
        };
        Self {
            failure_threshold: cfg.failure_threshold,
            failure_ratio: cfg.failure_ratio.filter(|r| !r.is_nan()),
            min_requests: u64::from(cfg.min_requests.max(1)),
            open_for,
            probe_timeout: open_for.max(MIN_PROBE_TIMEOUT),
            probes: cfg.half_open_requests.max(1),
            inner: Mutex::new(Inner {
                mode: Mode::Closed,
                generation: 0,
                consecutive_failures: 0,
                window: Window::new(cfg.window_s),
            }),
            transitions: AtomicU64::new(0),
        }
    }

    /// Whether a request may go to this upstream now; Open→HalfOpen once open_s has passed; in half-open at most half_open_requests in flight.
    ///
    /// A half-open probe not reported within max(open_s, 1 s) is presumed lost, and new probes are let through.
    pub fn allow(&self, now: Instant) -> Result<Permit, Rejected> {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        let generation = inner.generation;
        match &mut inner.mode {
            Mode::Closed => Ok(Permit { generation }),
            Mode::Open { until } => {
                Err(Rejected { state: BreakerState::Open, retry_after: until.saturating_duration_since(now) })
            }
            Mode::HalfOpen { in_flight, .. } if *in_flight < self.probes => {
                *in_flight += 1;
                Ok(Permit { generation })
            }
            Mode::HalfOpen { since, .. } => {
                let deadline = since.checked_add(self.probe_timeout);
                if deadline.is_some_and(|d| now >= d) {
                    inner.mode = Mode::HalfOpen { since: now, in_flight: 1, successes: 0 };
                    inner.generation += 1;
                    return Ok(Permit { generation: inner.generation });
                }
                Err(Rejected {
                    state: BreakerState::HalfOpen,
                    retry_after: deadline.map_or(Duration::MAX, |d| d - now),
                })
            }
        }
    }

    /// Reports the outcome of a permitted request; outcomes from before a state change are ignored.
    pub fn record(&self, permit: Permit, success: bool, now: Instant) {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        if permit.generation != inner.generation {
            return;
        }
        match inner.mode {
            Mode::Closed => {
                inner.window.add(now, 0, 1);
                if success {
                    inner.consecutive_failures = 0;
                    return;
                }
                inner.window.add(now, 1, 1);
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
                if self.should_open(&mut inner, now) {
                    self.open(&mut inner, now);
                }
            }
            Mode::HalfOpen { .. } if !success => self.open(&mut inner, now),
            Mode::HalfOpen { since, in_flight, successes } => {
                if successes + 1 >= self.probes {
                    self.transition(&mut inner, Mode::Closed);
                } else {
                    inner.mode =
                        Mode::HalfOpen { since, in_flight: in_flight.saturating_sub(1), successes: successes + 1 };
                }
            }
            Mode::Open { .. } => {} // no permits are issued while open
        }
    }

    /// Current state, moving Open→HalfOpen if open_s has passed.
    pub fn state(&self, now: Instant) -> BreakerState {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        match inner.mode {
            Mode::Closed => BreakerState::Closed,
            Mode::Open { .. } => BreakerState::Open,
            Mode::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Number of state changes so far, for metrics.
    pub fn transitions(&self) -> u64 {
        self.transitions.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn should_open(&self, inner: &mut Inner, now: Instant) -> bool {
        if self.failure_threshold > 0 && inner.consecutive_failures >= self.failure_threshold {
            return true;
        }
        let Some(ratio) = self.failure_ratio else {
            return false;
        };
        let [requests, failures] = inner.window.totals(now);
        requests >= self.min_requests && failures as f64 >= ratio * requests as f64
    }

    fn open(&self, inner: &mut Inner, now: Instant) {
        // open_for is at most a year, which no real Instant overflows.
        let until = now.checked_add(self.open_for).unwrap_or(now);
        self.transition(inner, Mode::Open { until });
    }

    fn advance(&self, inner: &mut Inner, now: Instant) {
        if let Mode::Open { until } = inner.mode
            && now >= until
        {
            let probing = Mode::HalfOpen { since: now, in_flight: 0, successes: 0 };
            self.transition(inner, probing);
        }
    }

    fn transition(&self, inner: &mut Inner, mode: Mode) {
        inner.mode = mode;
        inner.generation += 1;
        inner.consecutive_failures = 0;
        inner.window.clear();
        self.transitions.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
