//! Delta → cumulative state, with the rules of the collector's `deltatocumulative` processor
//! (`processor/deltatocumulativeprocessor/internal/delta`, which Prometheus 3 embeds behind
//! `--enable-feature=otlp-deltatocumulative`):
//!
//! - the first point of a stream starts the running total with its own value and start time;
//! - a point whose start time is before the stream's start belongs to an older stream: dropped;
//! - a point not after the stream's last time is out of order: dropped;
//! - otherwise its value is added (a gap between the last time and the new start is accepted,
//!   as the processor accepts it); a histogram with other bounds replaces the state.
//!
//! Bounds: streams idle for `max_idle` are forgotten (the processor's `max_stale`), and a tenant
//! may hold at most `max_series` streams; points of new streams beyond that are rejected (the
//! processor's `max_streams`).

use std::collections::HashMap;

use lookout_storage::{HistogramPoint, Labels, Number, Tenant};

/// A running total.
#[derive(Debug, Clone, PartialEq)]
enum Total {
    /// Integer sums stay exact.
    Int(i64),
    /// Float sums, or integer sums that overflowed or met a float.
    Double(f64),
    /// Histogram counts.
    Histogram(HistogramTotal),
}

/// The cumulative state of a delta histogram.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramTotal {
    /// Total count.
    pub(crate) count: u64,
    /// Total sum, if every point had one.
    pub(crate) sum: Option<f64>,
    /// Per-bucket totals (not cumulative over buckets).
    pub(crate) buckets: Vec<u64>,
    /// Bounds the totals are for.
    pub(crate) bounds: Vec<f64>,
}

impl HistogramTotal {
    fn of(p: &HistogramPoint) -> HistogramTotal {
        HistogramTotal {
            count: p.count,
            sum: p.sum,
            buckets: p.bucket_counts.clone(),
            bounds: p.explicit_bounds.clone(),
        }
    }
}

#[derive(Debug)]
struct Stream {
    start: u64,
    last: u64,
    total: Total,
    touched_ms: i64,
}

/// Limits on the delta state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaLimits {
    /// Most delta streams kept per tenant; points of new streams beyond it are rejected.
    pub max_series_per_tenant: usize,
    /// Streams not updated for this many milliseconds (by the translator's clock) are dropped.
    pub max_idle_ms: i64,
}

impl Default for DeltaLimits {
    fn default() -> Self {
        DeltaLimits { max_series_per_tenant: 100_000, max_idle_ms: 3_600_000 }
    }
}

/// Running totals per tenant and series.
#[derive(Debug, Default)]
pub(crate) struct DeltaState {
    tenants: HashMap<Tenant, HashMap<Labels, Stream>>,
    limits: DeltaLimits,
    last_sweep_ms: i64,
}

impl DeltaState {
    pub(crate) fn new(limits: DeltaLimits) -> DeltaState {
        DeltaState { tenants: HashMap::new(), limits, last_sweep_ms: i64::MIN }
    }

    /// Number of streams held for `tenant`.
    pub(crate) fn len(&self, tenant: &Tenant) -> usize {
        self.tenants.get(tenant).map_or(0, HashMap::len)
    }

    /// Drops streams idle longer than the limit; runs at most once a minute.
    pub(crate) fn sweep(&mut self, now_ms: i64) {
        if now_ms.saturating_sub(self.last_sweep_ms) < 60_000 {
            return;
        }
        self.last_sweep_ms = now_ms;
        let max_idle = self.limits.max_idle_ms;
        for streams in self.tenants.values_mut() {
            streams.retain(|_, s| now_ms.saturating_sub(s.touched_ms) <= max_idle);
        }
        self.tenants.retain(|_, streams| !streams.is_empty());
    }

    /// Forgets a stream (its point said "no recorded value": the series ended).
    pub(crate) fn forget(&mut self, tenant: &Tenant, key: &Labels) {
        if let Some(streams) = self.tenants.get_mut(tenant) {
            streams.remove(key);
        }
    }

    /// Adds a delta sum point; returns the cumulative value.
    pub(crate) fn add_sum(
        &mut self,
        tenant: &Tenant,
        key: &Labels,
        (start, time): (u64, u64),
        value: Number,
        now_ms: i64,
    ) -> Result<f64, String> {
        let first = match value {
            Number::Int(i) => Total::Int(i),
            Number::Double(d) => Total::Double(d),
        };
        let total = self.update(tenant, key, (start, time), now_ms, first, |total| {
            *total = match (&*total, value) {
                (Total::Int(a), Number::Int(b)) => match a.checked_add(b) {
                    Some(s) => Total::Int(s),
                    None => Total::Double(*a as f64 + b as f64),
                },
                (Total::Int(a), Number::Double(b)) => Total::Double(*a as f64 + b),
                (Total::Double(a), v) => Total::Double(a + v.as_f64()),
                (Total::Histogram(_), v) => match v {
                    Number::Int(i) => Total::Int(i),
                    Number::Double(d) => Total::Double(d),
                },
            };
            false
        })?;
        Ok(match total {
            Total::Int(i) => *i as f64,
            Total::Double(d) => *d,
            Total::Histogram(h) => h.count as f64,
        })
    }

    /// Adds a (validated) delta histogram point; returns the cumulative histogram.
    pub(crate) fn add_histogram(
        &mut self,
        tenant: &Tenant,
        key: &Labels,
        p: &HistogramPoint,
        now_ms: i64,
    ) -> Result<HistogramTotal, String> {
        let first = Total::Histogram(HistogramTotal::of(p));
        let total = self.update(tenant, key, (p.start_time_unix_nano, p.time_unix_nano), now_ms, first, |total| {
            let h = match total {
                Total::Histogram(h) if h.bounds == p.explicit_bounds && h.buckets.len() == p.bucket_counts.len() => h,
                other => {
                    // Other bounds cannot be merged: the new point replaces the state.
                    *other = Total::Histogram(HistogramTotal::of(p));
                    return true;
                }
            };
            h.count = h.count.saturating_add(p.count);
            h.sum = match (h.sum, p.sum) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            for (t, c) in h.buckets.iter_mut().zip(&p.bucket_counts) {
                *t = t.saturating_add(*c);
            }
            false
        })?;
        match total {
            Total::Histogram(h) => Ok(h.clone()),
            _ => Ok(HistogramTotal::of(p)),
        }
    }

    fn update(
        &mut self,
        tenant: &Tenant,
        key: &Labels,
        (start, time): (u64, u64),
        now_ms: i64,
        first: Total,
        add: impl FnOnce(&mut Total) -> bool,
    ) -> Result<&Total, String> {
        let max = self.limits.max_series_per_tenant;
        let streams = self.tenants.entry(tenant.clone()).or_default();
        if !streams.contains_key(key) {
            if streams.len() >= max {
                return Err(format!("delta series limit of {max} per tenant reached; new delta series are rejected"));
            }
            let stream =
                streams.entry(key.clone()).or_insert(Stream { start, last: time, total: first, touched_ms: now_ms });
            return Ok(&stream.total);
        }
        let Some(stream) = streams.get_mut(key) else {
            return Err("delta state lost".to_owned());
        };
        if start < stream.start {
            return Err(format!(
                "delta point starts at {start} ns, before its series started at {} ns (two senders for one series?)",
                stream.start
            ));
        }
        if time <= stream.last {
            return Err(format!("delta point at {time} ns is out of order: series already at {} ns", stream.last));
        }
        if add(&mut stream.total) {
            // The state was replaced by this point, so the stream starts where it does.
            stream.start = start;
        }
        stream.last = time;
        stream.touched_ms = now_ms;
        Ok(&stream.total)
    }
}
