//! `lookout_query_limited_total{limit}`: queries refused or stopped by a query limit, by the
//! limit, as each error names it: `max_range` (`query.max_range`), `max_samples` (PromQL's
//! samples per query), `max_series` (PromQL's series per query), `max_entries_limit` (LogQL's
//! entries per query), `max_query_series` (series of a LogQL metric query) and `timeout`.
//!
//! Queries past `query.max_concurrency` wait rather than fail, as in Prometheus; the gauges
//! `lookout_query_waiting{api}` and `lookout_query_running{api}` show them.

use std::sync::LazyLock;

use ::prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};

/// The limits counted, each a label value.
const LIMITS: [&str; 6] =
    ["max_range", "max_samples", "max_series", "max_entries_limit", "max_query_series", "timeout"];

static LIMITED: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new("lookout_query_limited_total", "Queries refused or stopped by a query limit, by the limit."),
        &["limit"],
    )
    .ok()
});

/// The APIs whose queries share a concurrency limit, each a label value.
const APIS: [&str; 2] = ["prometheus", "loki"];

fn gauge(name: &str, help: &str) -> Option<IntGaugeVec> {
    IntGaugeVec::new(Opts::new(name, help), &["api"]).ok()
}

static WAITING: LazyLock<Option<IntGaugeVec>> = LazyLock::new(|| {
    gauge("lookout_query_waiting", "Queries waiting for a place under query.max_concurrency, by API.")
});

static RUNNING: LazyLock<Option<IntGaugeVec>> =
    LazyLock::new(|| gauge("lookout_query_running", "Queries being evaluated, by API."));

/// Registers the counter, with every limit at 0, and the concurrency gauges.
pub fn register(registry: &Registry) -> ::prometheus::Result<()> {
    if let Some(counter) = LIMITED.as_ref() {
        for limit in LIMITS {
            counter.with_label_values(&[limit]);
        }
        registry.register(Box::new(counter.clone()))?;
    }
    for gauges in [WAITING.as_ref(), RUNNING.as_ref()].into_iter().flatten() {
        for api in APIS {
            gauges.with_label_values(&[api]);
        }
        registry.register(Box::new(gauges.clone()))?;
    }
    Ok(())
}

/// A place among the queries evaluated at once; counted as running until dropped.
pub(crate) struct Admitted<'a> {
    _permit: SemaphorePermit<'a>,
    api: &'static str,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(g) = RUNNING.as_ref() {
            g.with_label_values(&[self.api]).dec();
        }
    }
}

/// Waits for a place among `queries` (`query.max_concurrency`), counted as waiting meanwhile.
pub(crate) async fn admit<'a>(queries: &'a Semaphore, api: &'static str) -> Result<Admitted<'a>, AcquireError> {
    let waiting = WAITING.as_ref().map(|g| g.with_label_values(&[api]));
    if let Some(g) = &waiting {
        g.inc();
    }
    // Decremented also when the request is dropped while it waits.
    struct Waited(Option<::prometheus::IntGauge>);
    impl Drop for Waited {
        fn drop(&mut self) {
            if let Some(g) = &self.0 {
                g.dec();
            }
        }
    }
    let waited = Waited(waiting);
    let permit = queries.acquire().await?;
    drop(waited);
    if let Some(g) = RUNNING.as_ref() {
        g.with_label_values(&[api]).inc();
    }
    Ok(Admitted { _permit: permit, api })
}

/// Counts one query stopped by `limit`.
pub(crate) fn count(limit: &'static str) {
    if let Some(counter) = LIMITED.as_ref() {
        counter.with_label_values(&[limit]).inc();
    }
}
