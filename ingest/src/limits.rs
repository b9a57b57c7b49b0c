//! Ingestion rate limits: token buckets of items (spans, log records, data points, samples)
//! and bytes (request bodies as received), one pair per tenant and one pair for the whole
//! server, as Loki's and Mimir's distributors keep them. A request that would overdraw any of
//! the four buckets is refused whole, with 429 / `RESOURCE_EXHAUSTED`, the limit named, and
//! the time until it would fit as the retry hint; one that can never fit (larger than the
//! burst) says so. Nothing is taken from a bucket for a refused request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lookout_storage::Tenant;
use prometheus::{IntCounterVec, Opts, Registry};

use crate::Error;

/// One rate: so many per second, with room for a burst; a rate of 0 is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    /// Sustained rate, per second.
    pub per_second: f64,
    /// Most that may be taken at once; 0 means twice the rate.
    pub burst: f64,
}

impl Rate {
    fn burst(self) -> f64 {
        if self.burst > 0.0 { self.burst } else { 2.0 * self.per_second }
    }

    fn on(self) -> bool {
        self.per_second > 0.0
    }
}

/// The rates in force.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateLimits {
    /// Items per second, each tenant.
    pub tenant_items: Rate,
    /// Bytes per second, each tenant.
    pub tenant_bytes: Rate,
    /// Items per second, all tenants together.
    pub global_items: Rate,
    /// Bytes per second, all tenants together.
    pub global_bytes: Rate,
}

/// Which limit refused a request: the name used in messages and in the metric's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `limits.ingest_rate_items` for the tenant.
    TenantItems,
    /// `limits.ingest_rate_bytes` for the tenant.
    TenantBytes,
    /// `limits.global_ingest_rate_items`.
    GlobalItems,
    /// `limits.global_ingest_rate_bytes`.
    GlobalBytes,
}

impl Limit {
    /// The config key of the limit.
    pub fn name(self) -> &'static str {
        match self {
            Limit::TenantItems => "ingest_rate_items",
            Limit::TenantBytes => "ingest_rate_bytes",
            Limit::GlobalItems => "global_ingest_rate_items",
            Limit::GlobalBytes => "global_ingest_rate_bytes",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Limit::TenantItems | Limit::GlobalItems => "items",
            Limit::TenantBytes | Limit::GlobalBytes => "bytes",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket { tokens: rate.burst(), at: now }
    }

    /// The tokens now, refilled since the last look.
    fn level(&self, rate: Rate, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate.per_second).min(rate.burst())
    }
}

/// A tenant's two buckets, or the server's.
#[derive(Debug, Clone, Copy)]
struct Pair {
    items: Bucket,
    bytes: Bucket,
}

/// The buckets, and a count of what they refused.
pub struct RateLimiter {
    limits: RateLimits,
    global: Mutex<Option<Pair>>,
    tenants: Mutex<HashMap<Tenant, Pair>>,
    refused: IntCounterVec,
}

/// Tenants whose buckets are kept; when more send, full buckets are forgotten (a full bucket
/// is what a new one would be).
const MAX_TRACKED_TENANTS: usize = 100_000;

impl RateLimiter {
    /// A limiter for `limits`, counting refusals in `lookout_ingest_rate_limited_requests_total`.
    pub fn new(limits: RateLimits, registry: &Registry) -> prometheus::Result<RateLimiter> {
        let refused = IntCounterVec::new(
            Opts::new(
                "lookout_ingest_rate_limited_requests_total",
                "Requests refused by an ingestion rate limit, by the limit (its config key).",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        Ok(RateLimiter { limits, global: Mutex::new(None), tenants: Mutex::new(HashMap::new()), refused })
    }

    /// Takes `items` and `bytes` for `tenant` from every bucket, or from none.
    pub fn take(&self, tenant: &Tenant, items: u64, bytes: u64) -> Result<(), Error> {
        self.take_at(tenant, items, bytes, Instant::now())
    }

    fn take_at(&self, tenant: &Tenant, items: u64, bytes: u64, now: Instant) -> Result<(), Error> {
        let l = self.limits;
        if !(l.tenant_items.on() || l.tenant_bytes.on() || l.global_items.on() || l.global_bytes.on()) {
            return Ok(());
        }
        let (items, bytes) = (items as f64, bytes as f64);
        let mut global = self.global.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut tenants = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let g = *global.get_or_insert_with(|| Pair {
            items: Bucket::full(l.global_items, now),
            bytes: Bucket::full(l.global_bytes, now),
        });
        let t = tenants.get(tenant).copied().unwrap_or_else(|| Pair {
            items: Bucket::full(l.tenant_items, now),
            bytes: Bucket::full(l.tenant_bytes, now),
        });
        let checks = [
            (Limit::TenantItems, l.tenant_items, t.items, items),
            (Limit::TenantBytes, l.tenant_bytes, t.bytes, bytes),
            (Limit::GlobalItems, l.global_items, g.items, items),
            (Limit::GlobalBytes, l.global_bytes, g.bytes, bytes),
        ];
        for (limit, rate, bucket, want) in checks {
            if !rate.on() {
                continue;
            }
            let level = bucket.level(rate, now);
            if want > level {
                self.refused.with_label_values(&[limit.name()]).inc();
                return Err(refusal(limit, rate, tenant, want, level));
            }
        }
        let after = |rate: Rate, bucket: Bucket, want: f64| Bucket { tokens: bucket.level(rate, now) - want, at: now };
        *global =
            Some(Pair { items: after(l.global_items, g.items, items), bytes: after(l.global_bytes, g.bytes, bytes) });
        if tenants.len() >= MAX_TRACKED_TENANTS {
            tenants.retain(|_, p| {
                p.items.level(l.tenant_items, now) < l.tenant_items.burst()
                    || p.bytes.level(l.tenant_bytes, now) < l.tenant_bytes.burst()
            });
        }
        tenants.insert(
            tenant.clone(),
            Pair { items: after(l.tenant_items, t.items, items), bytes: after(l.tenant_bytes, t.bytes, bytes) },
        );
        Ok(())
    }
}

fn refusal(limit: Limit, rate: Rate, tenant: &Tenant, want: f64, level: f64) -> Error {
    let burst = rate.burst();
    let whose = match limit {
        Limit::TenantItems | Limit::TenantBytes => format!(" for tenant {}", tenant.as_str()),
        Limit::GlobalItems | Limit::GlobalBytes => " for the whole server".to_owned(),
    };
    let unit = limit.unit();
    if want > burst {
        return Error::RateLimited {
            message: format!(
                "ingestion rate limit {}{whose} is {} {unit}/s with bursts of {burst}; this request of {want} {unit} is larger than a burst: split it",
                limit.name(),
                rate.per_second,
            ),
            retry_after: None,
        };
    }
    let wait = Duration::from_secs_f64(((want - level) / rate.per_second).max(0.0)).max(Duration::from_secs(1));
    Error::RateLimited {
        message: format!(
            "ingestion rate limit {}{whose} exceeded: {} {unit}/s with bursts of {burst}; this request of {want} {unit} fits in {}s",
            limit.name(),
            rate.per_second,
            wait.as_secs_f64().ceil(),
        ),
        retry_after: Some(Duration::from_secs(wait.as_secs_f64().ceil() as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limits: RateLimits) -> RateLimiter {
        RateLimiter::new(limits, &Registry::new()).unwrap()
    }

    #[test]
    fn a_tenant_gets_its_burst_then_its_rate_and_others_are_not_held_up() {
        let l = limiter(RateLimits { tenant_items: Rate { per_second: 100.0, burst: 200.0 }, ..RateLimits::default() });
        let (a, b) = (Tenant::new("a").unwrap(), Tenant::new("b").unwrap());
        let t0 = Instant::now();
        assert!(l.take_at(&a, 150, 0, t0).is_ok());
        let Err(Error::RateLimited { message, retry_after }) = l.take_at(&a, 100, 0, t0) else { panic!() };
        assert!(message.contains("ingest_rate_items for tenant a exceeded"), "{message}");
        assert_eq!(retry_after, Some(Duration::from_secs(1)));
        assert!(l.take_at(&b, 200, 0, t0).is_ok(), "b has a bucket of its own");
        // Half a second refills 50: 50 + 50 = 100.
        assert!(l.take_at(&a, 100, 0, t0 + Duration::from_millis(500)).is_ok());
        assert!(l.take_at(&a, 1, 0, t0 + Duration::from_millis(500)).is_err());
        assert_eq!(l.refused.with_label_values(&["ingest_rate_items"]).get(), 2);
    }

    #[test]
    fn a_refused_request_takes_nothing_and_one_larger_than_the_burst_says_so() {
        let l = limiter(RateLimits {
            tenant_items: Rate { per_second: 100.0, burst: 100.0 },
            global_bytes: Rate { per_second: 1000.0, burst: 1000.0 },
            ..RateLimits::default()
        });
        let a = Tenant::new("a").unwrap();
        let t0 = Instant::now();
        // The bytes limit refuses; the items it would have taken stay.
        let Err(Error::RateLimited { message, .. }) = l.take_at(&a, 100, 2000, t0) else { panic!() };
        assert!(
            message.contains("global_ingest_rate_bytes for the whole server") && message.contains("split it"),
            "{message}"
        );
        assert!(l.take_at(&a, 100, 10, t0).is_ok());
        let Err(Error::RateLimited { retry_after, .. }) = l.take_at(&a, 50, 10, t0) else { panic!() };
        assert_eq!(retry_after, Some(Duration::from_secs(1)));
        let Err(Error::RateLimited { retry_after, .. }) = l.take_at(&a, 100, 10, t0) else { panic!() };
        assert_eq!(retry_after, Some(Duration::from_secs(1)), "a full second refills the 100");
    }

    #[test]
    fn no_rates_no_limits() {
        let l = limiter(RateLimits::default());
        assert!(l.take(&Tenant::default(), u64::MAX, u64::MAX).is_ok());
    }
}
