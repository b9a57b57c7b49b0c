use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn cfg(rps: f64, burst: u32) -> RateLimitConfig {
    RateLimitConfig { requests_per_second: rps, burst, key: RateLimitKey::ClientIp }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn burst_then_refusal_with_retry_after() {
    let rl = RateLimiter::new(&cfg(2.0, 3), 100);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(rl.check("a", t0), Ok(()));
    }
    assert_eq!(rl.check("a", t0), Err(ms(500)));
    assert_eq!(rl.check("a", t0 + ms(250)), Err(ms(250)));
    assert_eq!(rl.check("a", t0 + ms(500)), Ok(()));
    assert_eq!(rl.check("a", t0 + ms(500)), Err(ms(500)));
}

#[test]
fn retry_after_is_enough_with_awkward_rates() {
    let rl = RateLimiter::new(&cfg(3.0, 1), 100);
    let mut now = Instant::now();
    assert_eq!(rl.check("k", now), Ok(()));
    for _ in 0..50 {
        let wait = rl.check("k", now).unwrap_err();
        now += wait;
        assert_eq!(rl.check("k", now), Ok(()), "waited {wait:?}");
    }
}

#[test]
fn refill_over_simulated_time_caps_at_burst() {
    let rl = RateLimiter::new(&cfg(10.0, 5), 100);
    let t0 = Instant::now();
    for _ in 0..5 {
        assert!(rl.check("k", t0).is_ok());
    }
    assert!(rl.check("k", t0).is_err());
    // 0.3 s at 10/s gives 3 tokens.
    let t1 = t0 + ms(300);
    for _ in 0..3 {
        assert!(rl.check("k", t1).is_ok());
    }
    assert_eq!(rl.check("k", t1), Err(ms(100)));
    // A long idle period refills only up to burst.
    let t2 = t1 + Duration::from_secs(60);
    for _ in 0..5 {
        assert!(rl.check("k", t2).is_ok());
    }
    assert!(rl.check("k", t2).is_err());
}

#[test]
fn keys_are_independent() {
    let rl = RateLimiter::new(&cfg(1.0, 2), 100);
    let t0 = Instant::now();
    assert!(rl.check("a", t0).is_ok());
    assert!(rl.check("a", t0).is_ok());
    assert!(rl.check("a", t0).is_err());
    assert!(rl.check("b", t0).is_ok());
    assert!(rl.check("b", t0).is_ok());
    assert!(rl.check("b", t0).is_err());
    assert_eq!(rl.tracked_keys(), 2);
}

#[test]
fn bound_holds_under_100k_distinct_keys() {
    let rl = RateLimiter::new(&cfg(1.0, 10), 1000);
    assert_eq!(rl.shards.len(), 15);
    assert_eq!(rl.shards.iter().map(|s| s.lock().unwrap().cap).sum::<usize>(), 1000);
    let t0 = Instant::now();
    let hot = "hot-client";
    for i in 0..100_000u64 {
        let now = t0 + Duration::from_micros(i * 10);
        assert!(rl.check(&format!("10.0.{}.{}", i / 256, i % 256), now).is_ok());
        if i % 1000 == 0 {
            assert!(rl.tracked_keys() <= 1000);
        }
        // A key used in every round stays most recent and is never reset.
        if i % 100 == 0 {
            let _ = rl.check(hot, now);
        }
    }
    assert!(rl.tracked_keys() <= 1000);
    // The hot key drained its burst long ago and refills at 1/s over ~1 s of simulated time.
    let end = t0 + Duration::from_micros(100_000 * 10);
    let allowed = (0..20).filter(|_| rl.check(hot, end).is_ok()).count();
    assert!(allowed <= 1, "hot key was reset: {allowed} allowed");
}

#[test]
fn idle_buckets_are_dropped_before_active_ones() {
    // max_keys 4: one shard of 4.
    let rl = RateLimiter::new(&cfg(1.0, 2), 4);
    assert_eq!(rl.shards.len(), 1);
    let t0 = Instant::now();
    for k in ["a", "b", "c", "d"] {
        assert!(rl.check(k, t0).is_ok());
    }
    assert!(rl.check("a", t0 + ms(500)).is_ok()); // a: 0.5 tokens left
    // At t0+1.5 s: b, c, d are full again (idle), a holds 1.5 tokens.
    let t1 = t0 + ms(1500);
    assert!(rl.check("e", t1).is_ok());
    assert_eq!(rl.tracked_keys(), 2);
    assert!(rl.check("a", t1).is_ok());
    assert!(rl.check("a", t1).is_err(), "a was reset instead of kept");
}

#[test]
fn least_recently_used_is_evicted_when_none_idle() {
    let rl = RateLimiter::new(&cfg(0.001, 1), 4);
    let t0 = Instant::now();
    for (i, k) in ["a", "b", "c", "d"].into_iter().enumerate() {
        assert!(rl.check(k, t0 + ms(i as u64)).is_ok());
    }
    assert!(rl.check("e", t0 + ms(4)).is_ok()); // evicts a
    assert_eq!(rl.tracked_keys(), 4);
    assert!(rl.check("b", t0 + ms(5)).is_err()); // b kept, and now recently used
    assert!(rl.check("a", t0 + ms(6)).is_ok()); // a was evicted: fresh bucket; evicts c
    assert!(rl.check("d", t0 + ms(7)).is_err());
    assert!(rl.check("c", t0 + ms(8)).is_ok());
    assert!(rl.tracked_keys() <= 4);
}

#[test]
fn tiny_and_degenerate_configs_do_not_panic() {
    let t0 = Instant::now();
    let rl = RateLimiter::new(&cfg(0.0, 0), 0);
    assert!(rl.check("x", t0).is_ok()); // burst 0 counts as 1
    assert!(rl.check("x", t0 + Duration::from_secs(1_000_000)).is_err());
    let rl = RateLimiter::new(&cfg(f64::NAN, 1), 1);
    assert!(rl.check("x", t0).is_ok());
    assert!(rl.check("x", t0).is_err());
    let rl = RateLimiter::new(&cfg(f64::INFINITY, 1), 1);
    assert!(rl.check("x", t0).is_ok());
    assert!(rl.check("x", t0 + ms(1)).is_ok());
    // A `now` earlier than the last use does not refill nor panic.
    let rl = RateLimiter::new(&cfg(1.0, 1), 10);
    assert!(rl.check("x", t0 + ms(10)).is_ok());
    assert_eq!(rl.check("x", t0), Err(Duration::from_secs(1)));
}

#[test]
fn concurrent_callers_share_one_bucket() {
    let rl = RateLimiter::new(&cfg(0.001, 100), 1000);
    let t0 = Instant::now();
    let ok = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    if rl.check("shared", t0).is_ok() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(ok.load(Ordering::Relaxed), 100);
}

#[test]
fn config_from_yaml_shapes() {
    let c: RateLimitConfig = serde_json::from_value(json!({"requests_per_second": 5, "burst": 10})).unwrap();
    assert_eq!(c.key, RateLimitKey::ClientIp);
    assert!(c.validate().is_ok());
    for (v, want) in [
        (json!({"header": "x-user"}), RateLimitKey::Header("x-user".into())),
        (json!("subject"), RateLimitKey::Subject),
        (json!("global"), RateLimitKey::Global),
        (json!("client_ip"), RateLimitKey::ClientIp),
    ] {
        let c: RateLimitConfig =
            serde_json::from_value(json!({"requests_per_second": 1.5, "burst": 1, "key": v})).unwrap();
        assert_eq!(c.key, want);
    }
    let unknown = json!({"requests_per_second": 1, "burst": 1, "burts": 2});
    assert!(serde_json::from_value::<RateLimitConfig>(unknown).is_err());
    assert!(cfg(0.0, 1).validate().is_err());
    assert!(cfg(1.0, 0).validate().is_err());
}
