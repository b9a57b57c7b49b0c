use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(n)
}

fn breaker(cfg: serde_json::Value) -> CircuitBreaker {
    CircuitBreaker::new(&serde_json::from_value(cfg).unwrap())
}

/// Sends one request through the breaker with the given outcome; false if refused.
fn call(b: &CircuitBreaker, ok: bool, now: Instant) -> bool {
    match b.allow(now) {
        Ok(p) => {
            b.record(p, ok, now);
            true
        }
        Err(_) => false,
    }
}

#[test]
fn opens_after_consecutive_failures_and_success_resets() {
    let b = breaker(json!({"failure_threshold": 3}));
    let t0 = Instant::now();
    assert!(call(&b, false, t0));
    assert!(call(&b, false, t0));
    assert!(call(&b, true, t0)); // resets the count
    assert!(call(&b, false, t0));
    assert!(call(&b, false, t0));
    assert_eq!(b.state(t0), BreakerState::Closed);
    assert!(call(&b, false, t0));
    assert_eq!(b.state(t0), BreakerState::Open);
    let err = b.allow(t0 + secs(1.0)).unwrap_err();
    assert_eq!(err.state, BreakerState::Open);
    assert_eq!(err.retry_after, secs(9.0));
    assert_eq!(err.to_string(), "circuit breaker is open");
    assert_eq!(b.transitions(), 1);
}

#[test]
fn ratio_mode() {
    let b = breaker(json!({
        "failure_threshold": 0, "failure_ratio": 0.5, "min_requests": 10, "window_s": 10
    }));
    let t0 = Instant::now();
    for _ in 0..9 {
        call(&b, false, t0); // 100% failures, but below min_requests
    }
    assert_eq!(b.state(t0), BreakerState::Closed);
    call(&b, false, t0);
    assert_eq!(b.state(t0), BreakerState::Open);

    let b = breaker(json!({
        "failure_threshold": 0, "failure_ratio": 0.5, "min_requests": 10, "window_s": 10
    }));
    for i in 0..9 {
        call(&b, i % 2 == 0, t0); // 5 successes (0,2,4,6,8), 4 failures
    }
    assert_eq!(b.state(t0), BreakerState::Closed);
    call(&b, false, t0); // 10 requests, 5 failures: ratio 0.5 reached
    assert_eq!(b.state(t0), BreakerState::Open);
}

#[test]
fn ratio_mode_forgets_old_requests() {
    let b = breaker(json!({
        "failure_threshold": 0, "failure_ratio": 0.5, "min_requests": 4, "window_s": 10
    }));
    let t0 = Instant::now();
    for _ in 0..3 {
        call(&b, false, t0);
    }
    // Ten seconds on, the three failures have left the window.
    let t1 = t0 + secs(10.0);
    call(&b, true, t1);
    call(&b, true, t1);
    call(&b, true, t1);
    call(&b, false, t1); // 4 requests, 1 failure
    assert_eq!(b.state(t1), BreakerState::Closed);
    call(&b, false, t1 + secs(1.0)); // 5 requests, 2 failures
    assert_eq!(b.state(t1), BreakerState::Closed);
    call(&b, false, t1 + secs(2.0)); // 6 requests, 3 failures
    assert_eq!(b.state(t1 + secs(2.0)), BreakerState::Open);
}

#[test]
fn consecutive_threshold_also_applies_in_ratio_mode() {
    let b = breaker(json!({"failure_threshold": 2, "failure_ratio": 0.9}));
    let t0 = Instant::now();
    call(&b, false, t0);
    call(&b, false, t0);
    assert_eq!(b.state(t0), BreakerState::Open);
}

fn opened(cfg: serde_json::Value, t0: Instant) -> CircuitBreaker {
    let b = breaker(cfg);
    call(&b, false, t0);
    assert_eq!(b.state(t0), BreakerState::Open);
    b
}

#[test]
fn half_open_allows_exactly_n_probes_and_closes_on_success() {
    let t0 = Instant::now();
    let b = opened(json!({"failure_threshold": 1, "open_s": 5, "half_open_requests": 2}), t0);
    assert!(b.allow(t0 + secs(4.999)).is_err());
    let t1 = t0 + secs(5.0);
    assert_eq!(b.state(t1), BreakerState::HalfOpen);
    let p1 = b.allow(t1).unwrap();
    let p2 = b.allow(t1).unwrap();
    let err = b.allow(t1).unwrap_err();
    assert_eq!(err.state, BreakerState::HalfOpen);
    b.record(p1, true, t1);
    assert_eq!(b.state(t1), BreakerState::HalfOpen);
    b.record(p2, true, t1);
    assert_eq!(b.state(t1), BreakerState::Closed);
    assert_eq!(b.transitions(), 3); // closed→open→half_open→closed
    assert!(b.allow(t1).is_ok());
}

#[test]
fn probe_failure_reopens_and_restarts_timer() {
    let t0 = Instant::now();
    let b = opened(json!({"failure_threshold": 1, "open_s": 5}), t0);
    let t1 = t0 + secs(6.0);
    let probe = b.allow(t1).unwrap();
    assert!(b.allow(t1).is_err());
    let t2 = t1 + secs(1.0);
    b.record(probe, false, t2);
    assert_eq!(b.state(t2), BreakerState::Open);
    assert_eq!(b.allow(t2).unwrap_err().retry_after, secs(5.0));
    assert!(b.allow(t2 + secs(4.9)).is_err());
    assert!(b.allow(t2 + secs(5.0)).is_ok());
    assert_eq!(b.transitions(), 4);
}

#[test]
fn stale_permits_are_ignored() {
    let t0 = Instant::now();
    let b = breaker(json!({"failure_threshold": 1, "open_s": 1}));
    let slow = b.allow(t0).unwrap();
    call(&b, false, t0);
    let t1 = t0 + secs(1.0);
    let probe = b.allow(t1).unwrap();
    // The slow request from the closed period fails late: it must not reopen the circuit.
    b.record(slow, false, t1);
    assert_eq!(b.state(t1), BreakerState::HalfOpen);
    b.record(probe, true, t1);
    assert_eq!(b.state(t1), BreakerState::Closed);
}

#[test]
fn lost_probe_does_not_wedge_half_open() {
    let t0 = Instant::now();
    let b = opened(json!({"failure_threshold": 1, "open_s": 2}), t0);
    let t1 = t0 + secs(2.0);
    let lost = b.allow(t1).unwrap();
    drop(lost);
    assert_eq!(b.allow(t1 + secs(1.0)).unwrap_err().retry_after, secs(1.0));
    let probe = b.allow(t1 + secs(2.0)).unwrap();
    b.record(probe, true, t1 + secs(2.0));
    assert_eq!(b.state(t1 + secs(2.0)), BreakerState::Closed);
}

#[test]
fn state_names_and_codes() {
    let all = [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen];
    let names: Vec<_> = all.iter().map(|s| s.as_str()).collect();
    let codes: Vec<_> = all.iter().map(|s| s.code()).collect();
    assert_eq!(names, ["closed", "open", "half_open"]);
    assert_eq!(codes, [0, 1, 2]);
}

#[test]
fn config_defaults_and_unknown_fields() {
    let b: BreakerConfig = serde_json::from_value(json!({})).unwrap();
    assert_eq!(b, BreakerConfig::default());
    assert_eq!((b.failure_threshold, b.min_requests, b.window_s), (5, 20, 10));
    assert_eq!((b.open_s, b.half_open_requests, b.failure_ratio), (10.0, 1, None));
    let r: RetryConfig = serde_json::from_value(json!({})).unwrap();
    assert_eq!(r, RetryConfig::default());
    assert_eq!((r.attempts, r.backoff_ms, r.max_backoff_ms), (3, 25, 1000));
    assert_eq!((r.budget_ratio, r.budget_min_per_s), (0.2, 10.0));
    assert_eq!(r.retry_on, [502, 503, 504]);
    assert!(serde_json::from_value::<BreakerConfig>(json!({"treshold": 1})).is_err());
    assert!(serde_json::from_value::<RetryConfig>(json!({"retries": 1})).is_err());
}

#[test]
fn degenerate_breaker_configs_do_not_panic() {
    let t0 = Instant::now();
    for open_s in [f64::NAN, -1.0, f64::INFINITY, 1e300, 0.0] {
        let b = breaker(json!({"failure_threshold": 1, "half_open_requests": 0, "window_s": 0}));
        let b2 = CircuitBreaker::new(&BreakerConfig { open_s, ..BreakerConfig::default() });
        call(&b, false, t0);
        let _ = b.state(t0 + secs(100.0));
        for _ in 0..6 {
            call(&b2, false, t0);
        }
        let _ = b2.allow(t0 + secs(1.0));
    }
}

fn budget(ratio: f64, min_per_s: f64) -> RetryBudget {
    RetryBudget::new(&RetryConfig { budget_ratio: ratio, budget_min_per_s: min_per_s, ..RetryConfig::default() })
}

#[test]
fn retry_budget_ratio() {
    let b = budget(0.2, 0.0);
    let t0 = Instant::now();
    assert!(!b.try_withdraw(t0));
    for _ in 0..10 {
        b.deposit(t0);
    }
    assert!(b.try_withdraw(t0));
    assert!(b.try_withdraw(t0 + secs(1.0)));
    assert!(!b.try_withdraw(t0 + secs(2.0)));
    // Once the requests leave the 10 s window, so does the allowance.
    assert!(!b.try_withdraw(t0 + secs(10.0)));
    for _ in 0..5 {
        b.deposit(t0 + secs(10.0));
    }
    // The retry at t0+1 s is still in the window (it counts), the one at t0 has left.
    assert!(!b.try_withdraw(t0 + secs(10.0)));
    assert!(b.try_withdraw(t0 + secs(11.0)));
    assert!(!b.try_withdraw(t0 + secs(11.0)));
}

#[test]
fn retry_budget_minimum_recovers_as_window_slides() {
    let b = budget(0.0, 0.2); // 2 retries per 10 s with no traffic
    let t0 = Instant::now();
    assert!(b.try_withdraw(t0));
    assert!(b.try_withdraw(t0 + secs(3.0)));
    assert!(!b.try_withdraw(t0 + secs(5.0)));
    assert!(!b.try_withdraw(t0 + secs(9.9)));
    assert!(b.try_withdraw(t0 + secs(10.0)));
    assert!(!b.try_withdraw(t0 + secs(12.0)));
    assert!(b.try_withdraw(t0 + secs(13.0)));
}

#[test]
fn retry_budget_ratio_plus_minimum() {
    let b = budget(0.5, 0.1); // 1 + 0.5 × requests
    let t0 = Instant::now();
    for _ in 0..4 {
        b.deposit(t0);
    }
    let granted = (0..10).filter(|_| b.try_withdraw(t0)).count();
    assert_eq!(granted, 3);
}

#[test]
fn backoff_bounds() {
    let c = RetryConfig::default(); // base 25 ms, max 1000 ms
    let ms = Duration::from_millis;
    assert_eq!(backoff(&c, 0, 1.0), ms(25));
    assert_eq!(backoff(&c, 3, 1.0), ms(200));
    assert_eq!(backoff(&c, 2, 0.5), ms(50));
    assert_eq!(backoff(&c, 6, 1.0), ms(1000));
    assert_eq!(backoff(&c, 63, 1.0), ms(1000));
    assert_eq!(backoff(&c, 64, 1.0), ms(1000));
    assert_eq!(backoff(&c, u32::MAX, 1.0), ms(1000));
    assert_eq!(backoff(&c, 3, 0.0), Duration::ZERO);
    assert_eq!(backoff(&c, 3, f64::NAN), Duration::ZERO);
    assert_eq!(backoff(&c, 3, 7.0), ms(200));
    assert_eq!(backoff(&c, 3, -1.0), Duration::ZERO);
    for i in 0..=100 {
        let r = f64::from(i) / 100.0;
        for attempt in 0..10 {
            assert!(backoff(&c, attempt, r) <= ms(1000));
        }
    }
}
