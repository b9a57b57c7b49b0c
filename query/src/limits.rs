//! `lookout_query_limited_total{limit}`: queries refused or stopped by a query limit, by the
//! limit, as each error names it: `max_range` (`query.max_range`), `max_samples` (PromQL's
//! samples per query), `max_series` (PromQL's series per query), `max_entries_limit` (LogQL's
//! entries per query), `max_query_series` (series of a LogQL metric query) and `timeout`.

use std::sync::LazyLock;

use ::prometheus::{IntCounterVec, Opts, Registry};

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

/// Registers the counter, with every limit at 0.
pub fn register(registry: &Registry) -> ::prometheus::Result<()> {
    let Some(counter) = LIMITED.as_ref() else { return Ok(()) };
    for limit in LIMITS {
        counter.with_label_values(&[limit]);
    }
    registry.register(Box::new(counter.clone()))
}

/// Counts one query stopped by `limit`.
pub(crate) fn count(limit: &'static str) {
    if let Some(counter) = LIMITED.as_ref() {
        counter.with_label_values(&[limit]).inc();
    }
}
