//! Ingestion rate limits: token buckets of items (spans, log records, data points, samples)
//! and bytes (request bodies as received), one pair per tenant and one pair for the whole
//! server, as Loki's and Mimir's distributors keep them. A request that would overdraw any of
//! the four buckets is refused whole, with 429 / `RESOURCE_EXHAUSTED`, the limit named, and
//! the time until it would fit as the retry hint; one that can never fit (larger than the
//! burst) says so. Nothing is taken from a bucket for a refused request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lookout_storage::logs::stream_id;
use lookout_storage::{Batch, Span, StreamBatch, Tenant, TraceId};
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
    /// Tenants with rates of their own (items, bytes) instead of the defaults.
    overrides: HashMap<Tenant, (Rate, Rate)>,
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
        Ok(RateLimiter {
            limits,
            overrides: HashMap::new(),
            global: Mutex::new(None),
            tenants: Mutex::new(HashMap::new()),
            refused,
        })
    }

    /// The same, with these tenants' own rates (items, bytes) in place of the defaults.
    pub fn with_overrides(mut self, overrides: HashMap<Tenant, (Rate, Rate)>) -> RateLimiter {
        self.overrides = overrides;
        self
    }

    /// A tenant's rates: its own, or the defaults.
    fn rates(&self, tenant: &Tenant) -> (Rate, Rate) {
        self.overrides.get(tenant).copied().unwrap_or((self.limits.tenant_items, self.limits.tenant_bytes))
    }

    /// Takes `items` and `bytes` for `tenant` from every bucket, or from none.
    pub fn take(&self, tenant: &Tenant, items: u64, bytes: u64) -> Result<(), Error> {
        self.take_at(tenant, items, bytes, Instant::now())
    }

    fn take_at(&self, tenant: &Tenant, items: u64, bytes: u64, now: Instant) -> Result<(), Error> {
        let l = self.limits;
        let (tenant_items, tenant_bytes) = self.rates(tenant);
        if !(tenant_items.on() || tenant_bytes.on() || l.global_items.on() || l.global_bytes.on()) {
            return Ok(());
        }
        let (items, bytes) = (items as f64, bytes as f64);
        let mut global = self.global.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut tenants = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let g = *global.get_or_insert_with(|| Pair {
            items: Bucket::full(l.global_items, now),
            bytes: Bucket::full(l.global_bytes, now),
        });
        let t = tenants
            .get(tenant)
            .copied()
            .unwrap_or_else(|| Pair { items: Bucket::full(tenant_items, now), bytes: Bucket::full(tenant_bytes, now) });
        let checks = [
            (Limit::TenantItems, tenant_items, t.items, items),
            (Limit::TenantBytes, tenant_bytes, t.bytes, bytes),
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
            tenants.retain(|id, p| {
                let (items, bytes) = self.rates(id);
                p.items.level(items, now) < items.burst() || p.bytes.level(bytes, now) < bytes.burst()
            });
        }
        tenants.insert(
            tenant.clone(),
            Pair { items: after(tenant_items, t.items, items), bytes: after(tenant_bytes, t.bytes, bytes) },
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

/// How long a log stream with no new entry still counts as active (Loki's chunk idle period).
pub const STREAM_IDLE: Duration = Duration::from_secs(30 * 60);

/// How long a trace with no new span is still counted (Tempo's trace idle period is 10 s; a
/// little longer here, so that slow senders' batches of one trace meet).
pub const TRACE_IDLE: Duration = Duration::from_secs(30);

/// Loki's limits on one stream's labels (`limits_config`): how many names it may have, and
/// how long a name or a value may be, in bytes. A stream past one is refused with its entries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamLabelLimits {
    /// `max_label_names_per_series` (15).
    pub max_names: usize,
    /// `max_label_name_length` (1024).
    pub max_name_length: usize,
    /// `max_label_value_length` (2048).
    pub max_value_length: usize,
}

impl Default for StreamLabelLimits {
    fn default() -> Self {
        StreamLabelLimits { max_names: 15, max_name_length: 1024, max_value_length: 2048 }
    }
}

impl StreamLabelLimits {
    /// Which limit `labels` breaks, if any, and how (for the message).
    fn check(&self, labels: &lookout_storage::Labels) -> Option<(&'static str, String)> {
        if labels.len() > self.max_names {
            return Some((
                "max_label_names_per_series",
                format!("has {} label names; limit {}", labels.len(), self.max_names),
            ));
        }
        labels.iter().find_map(|l| {
            if l.name.len() > self.max_name_length {
                Some((
                    "max_label_name_length",
                    format!("has a label name of {} bytes; limit {}", l.name.len(), self.max_name_length),
                ))
            } else if l.value.len() > self.max_value_length {
                Some((
                    "max_label_value_length",
                    format!("has a value of {} of {} bytes; limit {}", l.name, l.value.len(), self.max_value_length),
                ))
            } else {
                None
            }
        })
    }
}

/// A stream's labels for a message, long names and values cut short.
fn shown(labels: &lookout_storage::Labels) -> String {
    let cut = |s: &str| match s.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    };
    let pairs: Vec<String> = labels.iter().take(20).map(|l| format!("{}={:?}", cut(&l.name), cut(&l.value))).collect();
    let more = if labels.len() > 20 { ", …" } else { "" };
    format!("{{{}{more}}}", pairs.join(", "))
}

/// Per-tenant limits on what is active at once: log streams (Loki's
/// `max_global_streams_per_user`) and spans of one trace (Tempo's limit per trace, counted in
/// spans). A stream or a trace counts from its first item until it has been idle for
/// [`STREAM_IDLE`] or [`TRACE_IDLE`]. What is over a limit is dropped from the request before
/// it is stored, counted in `lookout_ingest_limited_items_total{limit}`, and named in the
/// answer; the rest is stored.
pub struct ActiveLimits {
    max_streams: usize,
    max_spans_per_trace: usize,
    /// Tenants' own limits (streams, spans per trace).
    overrides: HashMap<Tenant, (usize, usize)>,
    streams: Mutex<Recent<u64, ()>>,
    traces: Mutex<Recent<TraceId, u64>>,
    labels: StreamLabelLimits,
    refused: IntCounterVec,
}

/// Per tenant, keys last seen at an instant with a value, forgotten after an idle time.
struct Recent<K, V> {
    idle: Duration,
    swept: Instant,
    tenants: HashMap<Tenant, HashMap<K, (Instant, V), ahash::RandomState>>,
}

impl<K: std::hash::Hash + Eq, V> Recent<K, V> {
    fn new(idle: Duration) -> Self {
        Recent { idle, swept: Instant::now(), tenants: HashMap::new() }
    }

    /// The tenant's keys, after forgetting what has been idle too long (looked at a few times
    /// per idle period).
    fn of(&mut self, tenant: &Tenant, now: Instant) -> &mut HashMap<K, (Instant, V), ahash::RandomState> {
        if now.saturating_duration_since(self.swept) > self.idle / 4 {
            let horizon = now.checked_sub(self.idle).unwrap_or(now);
            for keys in self.tenants.values_mut() {
                keys.retain(|_, (seen, _)| *seen >= horizon);
            }
            self.tenants.retain(|_, keys| !keys.is_empty());
            self.swept = now;
        }
        self.tenants.entry(tenant.clone()).or_default()
    }
}

impl ActiveLimits {
    /// At most `max_streams` active streams per tenant and `max_spans_per_trace` spans per
    /// trace (0: no limit), counting refusals in `lookout_ingest_limited_items_total`.
    pub fn new(
        max_streams: usize,
        max_spans_per_trace: usize,
        registry: &Registry,
    ) -> prometheus::Result<ActiveLimits> {
        let refused = IntCounterVec::new(
            Opts::new(
                "lookout_ingest_limited_items_total",
                "Items (log entries, spans) dropped by a per-tenant limit, by the limit (its config key).",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        Ok(ActiveLimits {
            max_streams,
            max_spans_per_trace,
            overrides: HashMap::new(),
            streams: Mutex::new(Recent::new(STREAM_IDLE)),
            traces: Mutex::new(Recent::new(TRACE_IDLE)),
            labels: StreamLabelLimits::default(),
            refused,
        })
    }

    /// The same, with these limits on a stream's labels instead of Loki's defaults.
    pub fn with_stream_labels(mut self, labels: StreamLabelLimits) -> ActiveLimits {
        self.labels = labels;
        self
    }

    /// Drops the streams of `batch` whose labels break [`StreamLabelLimits`]; returns the
    /// entries dropped and what to tell the sender (the first such stream), if any were.
    pub fn drop_invalid_streams(&self, batch: &mut StreamBatch) -> Option<(u64, String)> {
        let (mut entries, mut streams, mut first) = (0u64, 0u64, None);
        batch.streams.retain(|stream| {
            let Some((limit, how)) = self.labels.check(&stream.labels) else { return true };
            self.refused.with_label_values(&[limit]).inc_by(stream.entries.len() as u64);
            entries += stream.entries.len() as u64;
            streams += 1;
            first.get_or_insert_with(|| format!("stream '{}' {how} (logs.{limit})", shown(&stream.labels)));
            false
        });
        first.map(|first| {
            let others = if streams > 1 { format!(", and {} more streams", streams - 1) } else { String::new() };
            (entries, format!("{entries} entries refused: {first}{others}"))
        })
    }

    /// The same, with these tenants' own limits (streams, spans per trace).
    pub fn with_overrides(mut self, overrides: HashMap<Tenant, (usize, usize)>) -> ActiveLimits {
        self.overrides = overrides;
        self
    }

    fn limits(&self, tenant: &Tenant) -> (usize, usize) {
        self.overrides.get(tenant).copied().unwrap_or((self.max_streams, self.max_spans_per_trace))
    }

    /// Drops the streams of `batch` that would take `tenant` past its stream limit (with
    /// `whole`, all of them if any would); returns the entries dropped and what to tell the
    /// sender, if any were.
    pub fn admit_streams(&self, tenant: &Tenant, batch: &mut StreamBatch, whole: bool) -> Option<(u64, String)> {
        self.admit_streams_at(tenant, batch, whole, Instant::now())
    }

    fn admit_streams_at(
        &self,
        tenant: &Tenant,
        batch: &mut StreamBatch,
        whole: bool,
        now: Instant,
    ) -> Option<(u64, String)> {
        let (max, _) = self.limits(tenant);
        if max == 0 {
            return None;
        }
        let mut recent = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let active = recent.of(tenant, now);
        let ids: Vec<u64> = batch.streams.iter().map(|s| stream_id(tenant, &s.labels)).collect();
        let mut fits: Vec<bool> = Vec::with_capacity(ids.len());
        let mut opened = std::collections::HashSet::new();
        for id in &ids {
            let known = active.contains_key(id) || opened.contains(id);
            fits.push(known || active.len() + opened.len() < max);
            if !known && active.len() + opened.len() < max {
                opened.insert(*id);
            }
        }
        let refuse_all = whole && fits.contains(&false);
        let (mut streams, mut entries) = (0u64, 0u64);
        let mut fit = fits.iter();
        let mut id = ids.iter();
        batch.streams.retain(|stream| {
            let (ok, id) = (*fit.next().unwrap_or(&false) && !refuse_all, id.next().copied().unwrap_or_default());
            if ok {
                active.insert(id, (now, ()));
            } else {
                streams += 1;
                entries += stream.entries.len() as u64;
            }
            ok
        });
        (streams > 0).then(|| {
            self.refused.with_label_values(&["max_streams_per_tenant"]).inc_by(entries);
            let what = if refuse_all { "this push refused" } else { "entries of new streams refused" };
            (entries, format!(
                "{what} ({entries} entries, {streams} streams): tenant {:?} has reached the limit of {max} active streams (limits.max_streams_per_tenant); reduce the number of streams (fewer labels or label values) or raise the limit",
                tenant.as_str()
            ))
        })
    }

    /// Drops the spans of `batch` that would take a trace past its span limit; returns the
    /// spans dropped and what to tell the sender, if any were.
    pub fn admit_spans(&self, tenant: &Tenant, batch: &mut Batch<Span>) -> Option<(u64, String)> {
        self.admit_spans_at(tenant, batch, Instant::now())
    }

    fn admit_spans_at(&self, tenant: &Tenant, batch: &mut Batch<Span>, now: Instant) -> Option<(u64, String)> {
        let (_, max) = self.limits(tenant);
        if max == 0 {
            return None;
        }
        let max = max as u64;
        let mut recent = self.traces.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let traces = recent.of(tenant, now);
        let (mut dropped, mut first) = (0u64, None);
        // The spans of a trace mostly come one after another: count a run of them locally and
        // touch the map once per run, not once per span.
        let mut run: Option<(TraceId, u64)> = None;
        for scope in batch.resources.iter_mut().flat_map(|r| r.scopes.iter_mut()) {
            scope.items.retain(|span| {
                let spans = match &mut run {
                    Some((trace, spans)) if *trace == span.trace_id => spans,
                    _ => {
                        if let Some((trace, spans)) = run.take() {
                            traces.insert(trace, (now, spans));
                        }
                        let spans = traces.get(&span.trace_id).map_or(0, |(_, n)| *n);
                        &mut run.insert((span.trace_id, spans)).1
                    }
                };
                if *spans < max {
                    *spans += 1;
                    return true;
                }
                dropped += 1;
                first.get_or_insert(span.trace_id);
                false
            });
        }
        if let Some((trace, spans)) = run {
            traces.insert(trace, (now, spans));
        }
        first.map(|trace| {
            self.refused.with_label_values(&["max_spans_per_trace"]).inc_by(dropped);
            (dropped, format!(
                "{dropped} spans refused: trace {} of tenant {:?} has reached the limit of {max} spans per trace (limits.max_spans_per_trace)",
                trace.to_hex(),
                tenant.as_str()
            ))
        })
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

    fn streams(names: &[&str]) -> StreamBatch {
        use lookout_storage::{Entry, Label, Labels, Stream};
        StreamBatch {
            streams: names
                .iter()
                .map(|n| Stream {
                    labels: Labels::from_sorted(vec![Label::new("service_name", *n)]),
                    entries: vec![Entry { time_unix_nano: 1, line: "x".into(), metadata: Vec::new() }],
                })
                .collect(),
        }
    }

    #[test]
    fn streams_past_the_limit_are_refused_until_others_go_idle() {
        let limits = ActiveLimits::new(2, 0, &Registry::new()).unwrap();
        let a = Tenant::new("a").unwrap();
        let t0 = Instant::now();
        assert!(limits.admit_streams_at(&a, &mut streams(&["x", "y"]), false, t0).is_none());
        let mut batch = streams(&["x", "z", "z"]);
        let (dropped, message) = limits.admit_streams_at(&a, &mut batch, false, t0).unwrap();
        assert_eq!((dropped, batch.streams.len()), (2, 1), "{message}");
        let mut whole = streams(&["x", "z"]);
        assert_eq!(limits.admit_streams_at(&a, &mut whole, true, t0).unwrap().0, 2);
        assert!(whole.streams.is_empty());
        assert!(limits.admit_streams_at(&Tenant::new("b").unwrap(), &mut streams(&["z"]), false, t0).is_none());
        // y went idle; x was seen again later, so only one place is free.
        let later = t0 + STREAM_IDLE / 2;
        assert!(limits.admit_streams_at(&a, &mut streams(&["x"]), false, later).is_none());
        let mut batch = streams(&["z", "w"]);
        assert_eq!(
            limits.admit_streams_at(&a, &mut batch, false, t0 + STREAM_IDLE + Duration::from_secs(1)).unwrap().0,
            1
        );
        assert_eq!(batch.streams.len(), 1);
    }

    fn spans(traces: &[u8]) -> Batch<Span> {
        use lookout_storage::{Resource, ResourceGroup, Scope, ScopeGroup, SpanId, SpanKind, Status, StatusCode};
        let span = |(i, trace): (usize, &u8)| Span {
            trace_id: TraceId([*trace; 16]),
            span_id: SpanId([i as u8; 8]),
            parent_span_id: None,
            trace_state: String::new(),
            flags: 1,
            name: "op".into(),
            kind: SpanKind::Server,
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status { code: StatusCode::Unset, message: String::new() },
        };
        // Two scopes, so that a run of one trace crosses from one to the next.
        let (one, two) = traces.split_at(traces.len() / 2);
        let scope = |items: Vec<Span>| ScopeGroup { scope: Scope::default(), items };
        Batch {
            resources: vec![ResourceGroup {
                resource: Resource::default(),
                scopes: vec![
                    scope(one.iter().enumerate().map(span).collect()),
                    scope(two.iter().enumerate().map(span).collect()),
                ],
            }],
        }
    }

    fn kept(batch: &Batch<Span>) -> Vec<u8> {
        batch.resources.iter().flat_map(|r| &r.scopes).flat_map(|s| &s.items).map(|s| s.trace_id.0[0]).collect()
    }

    #[test]
    fn spans_past_a_traces_limit_are_refused_however_its_spans_interleave() {
        let limits = ActiveLimits::new(0, 3, &Registry::new()).unwrap();
        let a = Tenant::new("a").unwrap();
        let t0 = Instant::now();
        let mut batch = spans(&[1, 1, 2, 1, 2, 2, 2, 2, 1, 3]);
        let (dropped, message) = limits.admit_spans_at(&a, &mut batch, t0).unwrap();
        assert_eq!(kept(&batch), [1, 1, 2, 1, 2, 2, 3]);
        assert_eq!(dropped, 3);
        assert!(message.contains("limit of 3 spans per trace"), "{message}");
        // The counts carry over to the next request, and to no other tenant.
        let mut batch = spans(&[3, 3, 1, 3, 4]);
        assert_eq!(limits.admit_spans_at(&a, &mut batch, t0).unwrap().0, 2);
        assert_eq!(kept(&batch), [3, 3, 4]);
        let mut other = spans(&[1, 1, 1]);
        assert!(limits.admit_spans_at(&Tenant::new("b").unwrap(), &mut other, t0).is_none());
        // An idle trace is forgotten, and counts from nothing again.
        let mut batch = spans(&[1, 1, 1, 1]);
        let later = t0 + TRACE_IDLE + Duration::from_secs(1);
        assert_eq!(limits.admit_spans_at(&a, &mut batch, later).unwrap().0, 1);
        assert_eq!(limits.refused.with_label_values(&["max_spans_per_trace"]).get(), 6);
    }

    #[test]
    fn streams_whose_labels_break_a_limit_are_refused_and_named() {
        use lookout_storage::{Entry, Label, Labels, Stream};
        let limits = ActiveLimits::new(0, 0, &Registry::new()).unwrap().with_stream_labels(StreamLabelLimits {
            max_names: 3,
            max_name_length: 8,
            max_value_length: 10,
        });
        let stream = |labels: &[(&str, &str)], entries: usize| Stream {
            labels: Labels::from_sorted(labels.iter().map(|(n, v)| Label::new(*n, *v)).collect()),
            entries: vec![Entry { time_unix_nano: 1, line: "x".into(), metadata: Vec::new() }; entries],
        };
        let mut batch = StreamBatch {
            streams: vec![
                stream(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")], 2),
                stream(&[("a", "1")], 1),
                stream(&[("a", "12345678901")], 3),
                stream(&[("longname1", "1")], 1),
            ],
        };
        let (dropped, message) = limits.drop_invalid_streams(&mut batch).unwrap();
        assert_eq!(dropped, 6);
        assert_eq!(batch.streams.len(), 1);
        assert_eq!(
            message,
            r#"6 entries refused: stream '{a="1", b="2", c="3", d="4"}' has 4 label names; limit 3 (logs.max_label_names_per_series), and 2 more streams"#
        );
        let counted = |limit: &str| limits.refused.with_label_values(&[limit]).get();
        assert_eq!(
            [
                counted("max_label_names_per_series"),
                counted("max_label_value_length"),
                counted("max_label_name_length")
            ],
            [2, 3, 1]
        );
        assert!(limits.drop_invalid_streams(&mut batch).is_none());
    }
}
