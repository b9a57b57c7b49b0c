//! The scrape loops: one tokio task per target that fetches, decides what to write
//! ([`super::append`]) and writes it through the [`Ingester`], as Prometheus's `scrapeLoop`.
//!
//! Timing follows Prometheus: each target's first scrape waits for an offset derived from a
//! hash of the target (its labels and URL, mixed with the external labels), measured against
//! the wall clock, so targets spread over the interval and keep their phase across restarts;
//! then a scrape every interval, missed ticks skipped, timestamps within 2 ms (at most 1% of
//! the interval) of the ideal grid snapped to it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lookout_storage::{Labels, Tenant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::append::{Appended, Report, SampleRules, ScrapeCache, report, report_stale};
use super::config::{GlobalConfig, ScrapeConfig, Target, targets};
use super::duration;
use super::fetch::{self, HttpClient};
use super::parse::{Format, ParseOptions, parse_with};
use crate::pipeline::{Ingester, Transport};

/// Largest scrape body, before or after gzip decompression, unless [`ScrapeOptions`] says
/// otherwise.
const DEFAULT_BODY_SIZE_LIMIT: usize = 64 << 20;
/// Prometheus's `ScrapeTimestampTolerance`.
const TIMESTAMP_TOLERANCE: Duration = Duration::from_millis(2);

/// Settings of the scrape loops that Prometheus's file has no place for.
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    /// Largest body accepted, compressed or decompressed; a larger one fails the scrape with
    /// `body size limit exceeded`. Default 64 MiB.
    pub body_size_limit: usize,
}

impl Default for ScrapeOptions {
    fn default() -> ScrapeOptions {
        ScrapeOptions { body_size_limit: DEFAULT_BODY_SIZE_LIMIT }
    }
}

/// Whether a target's last scrape worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
    /// Not scraped yet.
    Unknown,
}

impl Health {
    /// The word `/api/v1/targets` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }
}

/// One target as `/api/v1/targets` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetHealth {
    /// The job (`scrapePool`).
    pub scrape_pool: String,
    /// The labels every sample of the target gets.
    pub labels: Labels,
    /// The labels before relabelling.
    pub discovered_labels: Labels,
    /// What is fetched.
    pub scrape_url: String,
    /// The URL as seen from outside Lookout (the scrape URL: Lookout knows no external URL).
    pub global_url: String,
    /// Up, down or unknown.
    pub health: Health,
    /// Why the last scrape failed; empty if it did not.
    pub last_error: String,
    /// When the last scrape started; `None` before the first.
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took.
    pub last_scrape_duration: Duration,
    /// How often the target is scraped.
    pub scrape_interval: Duration,
    /// How long a scrape may take.
    pub scrape_timeout: Duration,
}

impl TargetHealth {
    /// The interval in Prometheus's notation (`15s`, `1m`).
    pub fn scrape_interval_text(&self) -> String {
        duration::format(self.scrape_interval)
    }

    /// The timeout in Prometheus's notation.
    pub fn scrape_timeout_text(&self) -> String {
        duration::format(self.scrape_timeout)
    }
}

/// The outcome of a target's last scrape.
#[derive(Debug, Clone)]
struct Observed {
    health: Health,
    last_error: String,
    last_scrape: Option<SystemTime>,
    last_scrape_duration: Duration,
}

/// A target and what its loop last observed.
struct Slot {
    pool: String,
    target: Target,
    observed: Mutex<Observed>,
}

impl Slot {
    fn health(&self) -> TargetHealth {
        let o = self.observed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        TargetHealth {
            scrape_pool: self.pool.clone(),
            labels: self.target.labels.clone(),
            discovered_labels: self.target.discovered_labels.clone(),
            scrape_url: self.target.url.clone(),
            global_url: self.target.url.clone(),
            health: o.health,
            last_error: o.last_error,
            last_scrape: o.last_scrape,
            last_scrape_duration: o.last_scrape_duration,
            scrape_interval: self.target.scrape_interval,
            scrape_timeout: self.target.scrape_timeout,
        }
    }

    fn record(&self, started: SystemTime, took: Duration, error: Option<String>) {
        let mut o = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        o.health = if error.is_none() { Health::Up } else { Health::Down };
        o.last_error = error.unwrap_or_default();
        o.last_scrape = Some(started);
        o.last_scrape_duration = took;
    }
}

/// A cheap, cloneable view of every target's health, for `/api/v1/targets`. It outlives
/// [`ScrapeManager::stop`] (then showing each target's last state). A default one shows no
/// targets until it [follows](ScrapeStatus::follow) a manager's, so that the route can be
/// served before the scrape manager starts.
#[derive(Clone, Default)]
pub struct ScrapeStatus {
    slots: Arc<std::sync::OnceLock<Arc<Vec<Arc<Slot>>>>>,
}

impl ScrapeStatus {
    fn of(slots: Vec<Arc<Slot>>) -> ScrapeStatus {
        let status = ScrapeStatus::default();
        let _ = status.slots.set(Arc::new(slots));
        status
    }

    /// Every target, in configuration order.
    pub fn targets(&self) -> Vec<TargetHealth> {
        self.slots.get().map(|slots| slots.iter().map(|s| s.health()).collect()).unwrap_or_default()
    }

    /// From now on shows the targets of `other` (only the first call has an effect).
    pub fn follow(&self, other: &ScrapeStatus) {
        if let Some(slots) = other.slots.get() {
            let _ = self.slots.set(Arc::clone(slots));
        }
    }
}

/// Scrapes every target of the configured jobs until stopped.
pub struct ScrapeManager {
    status: ScrapeStatus,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl ScrapeManager {
    /// Starts one loop per target of `jobs` (validated configurations), writing for `tenant`.
    /// Must be called inside a tokio runtime.
    pub fn start(ingester: Arc<Ingester>, global: GlobalConfig, jobs: Vec<ScrapeConfig>, tenant: Tenant) -> Self {
        ScrapeManager::start_with(ingester, global, jobs, tenant, ScrapeOptions::default())
    }

    /// [`ScrapeManager::start`] with explicit options.
    pub fn start_with(
        ingester: Arc<Ingester>,
        global: GlobalConfig,
        jobs: Vec<ScrapeConfig>,
        tenant: Tenant,
        options: ScrapeOptions,
    ) -> Self {
        let cancel = CancellationToken::new();
        let seed = offset_seed(&global);
        let mut slots = Vec::new();
        let mut tasks = Vec::new();
        for job in &jobs {
            // A job whose TLS files do not load keeps its targets, down with the reason.
            let client = fetch::client(&job.tls_config);
            if let Err(e) = &client {
                warn!(job = %job.job_name, error = %e, "scrape job's tls_config does not load");
            }
            for target in targets(job, &global) {
                let slot = Arc::new(Slot {
                    pool: job.job_name.clone(),
                    target,
                    observed: Mutex::new(Observed {
                        health: Health::Unknown,
                        last_error: String::new(),
                        last_scrape: None,
                        last_scrape_duration: Duration::ZERO,
                    }),
                });
                let rules = Arc::new(SampleRules {
                    target_labels: slot.target.labels.clone(),
                    honor_labels: job.honor_labels,
                    honor_timestamps: job.honor_timestamps,
                    metric_relabel_configs: job.metric_relabel_configs.clone(),
                    sample_limit: job.sample_limit,
                    label_limit: job.label_limit,
                });
                let scrape_loop = ScrapeLoop {
                    slot: Arc::clone(&slot),
                    rules,
                    ingester: Arc::clone(&ingester),
                    tenant: tenant.clone(),
                    client: client.clone(),
                    body_size_limit: options.body_size_limit,
                    cache: ScrapeCache::default(),
                };
                let offset = first_offset(&slot.target, seed, SystemTime::now());
                tasks.push(tokio::spawn(scrape_loop.run(offset, cancel.clone())));
                slots.push(slot);
            }
        }
        debug!(targets = slots.len(), "scrape loops started");
        ScrapeManager { status: ScrapeStatus::of(slots), cancel, tasks }
    }

    /// Every target's health, in configuration order.
    pub fn targets(&self) -> Vec<TargetHealth> {
        self.status.targets()
    }

    /// A handle for `/api/v1/targets` ([`super::targets_router`]).
    pub fn status(&self) -> ScrapeStatus {
        self.status.clone()
    }

    /// Stops every loop and waits for them. Each loop that scraped at least once writes
    /// staleness markers for every series it last produced, its report series included, as
    /// Prometheus does for a target that disappears. Call it before closing the WAL.
    pub async fn stop(self) {
        self.cancel.cancel();
        for task in self.tasks {
            if let Err(e) = task.await {
                warn!(error = %e, "scrape loop ended abnormally");
            }
        }
    }
}

/// One target's loop.
struct ScrapeLoop {
    slot: Arc<Slot>,
    rules: Arc<SampleRules>,
    ingester: Arc<Ingester>,
    tenant: Tenant,
    client: Result<HttpClient, String>,
    body_size_limit: usize,
    cache: ScrapeCache,
}

impl ScrapeLoop {
    async fn run(mut self, offset: Duration, cancel: CancellationToken) {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(offset) => {}
        }
        let interval = self.slot.target.scrape_interval;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut grid = Grid::new(interval, now_ms());
        let mut last_t = None;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let t = grid.align(now_ms());
            match self.scrape_and_report(t, &cancel).await {
                Some(()) => last_t = Some(t),
                None => break,
            }
        }
        if let Some(last) = last_t {
            self.end_of_run(now_ms().max(last + 1)).await;
        }
    }

    /// One scrape at `t` (ms): fetch, decide, write, record. `None` if cancelled while fetching.
    async fn scrape_and_report(&mut self, t: i64, cancel: &CancellationToken) -> Option<()> {
        let started_at = SystemTime::now();
        let started = Instant::now();
        let target = &self.slot.target;
        let fetched = tokio::select! {
            _ = cancel.cancelled() => return None,
            fetched = async {
                match &self.client {
                    Ok(client) => fetch::fetch(client, &target.url, target.scrape_timeout, self.body_size_limit).await,
                    Err(e) => Err(format!("Get {:?}: {e}", target.url)),
                }
            } => fetched,
        };
        let mut cache = std::mem::take(&mut self.cache);
        let (rules, limit) = (Arc::clone(&self.rules), self.body_size_limit);
        let decided = tokio::task::spawn_blocking(move || {
            let appended = match fetched.and_then(|f| decode_and_parse(&f, limit, t)) {
                Ok(exposition) => cache.append(exposition, t, &rules),
                Err(error) => Appended { series: cache.stale_all(t), error: Some(error), ..Appended::default() },
            };
            (cache, appended)
        })
        .await;
        let appended = match decided {
            Ok((cache, appended)) => {
                self.cache = cache;
                appended
            }
            Err(e) => Appended { error: Some(format!("scrape processing failed: {e}")), ..Appended::default() },
        };
        let took = started.elapsed();
        let Appended { mut series, metadata, scraped, post_relabel, series_added, mut error } = appended;
        series.extend(report(
            &self.slot.target.labels,
            t,
            Report { up: error.is_none(), duration_seconds: took.as_secs_f64(), scraped, post_relabel, series_added },
        ));
        if let Err(e) = self.write(series, metadata).await {
            self.cache.forget_metadata();
            error.get_or_insert(e);
        }
        if let Some(e) = &error {
            debug!(target = %self.slot.target.url, error = %e, "scrape failed");
        }
        self.slot.record(started_at, took, error);
        Some(())
    }

    /// Staleness markers at `t` for everything the target last produced, as its loop ends.
    async fn end_of_run(&mut self, t: i64) {
        let mut series = self.cache.stale_all(t);
        series.extend(report_stale(&self.slot.target.labels, t));
        if let Err(e) = self.write(series, Vec::new()).await {
            warn!(target = %self.slot.target.url, error = %e, "cannot write staleness markers for a stopped target");
        }
    }

    /// Writes through the ingester; refusals (out of order and the like) are not the target's
    /// fault and are only logged.
    async fn write(
        &self,
        series: Vec<lookout_storage::SeriesSamples>,
        metadata: Vec<lookout_storage::MetricMetadata>,
    ) -> Result<(), String> {
        match self.ingester.write_series(self.tenant.clone(), series, metadata, Transport::Scrape).await {
            Ok(refused) => {
                if !refused.is_empty() {
                    debug!(
                        target = %self.slot.target.url,
                        refused = refused.samples,
                        first = refused.first_error.as_deref().unwrap_or(""),
                        "scraped samples refused by the metrics store"
                    );
                }
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The body, decompressed and parsed in the format its content type names. `_created` series
/// of OpenMetrics are kept as ordinary series, as Prometheus does without its created-timestamp
/// feature.
fn decode_and_parse(fetched: &fetch::Fetched, limit: usize, t: i64) -> Result<super::Exposition, String> {
    let body = fetch::decode_body(fetched, limit)?;
    let format = Format::from_content_type(&fetched.content_type);
    parse_with(&body, format, t, ParseOptions { skip_created_series: false }).map_err(|e| e.to_string())
}

/// Scrape timestamps snapped to the ideal grid `first + k·interval` when within tolerance
/// (Prometheus's `AlignScrapeTimestamps`), for better compression.
struct Grid {
    aligned: i64,
    interval: i64,
    tolerance: i64,
}

impl Grid {
    fn new(interval: Duration, first: i64) -> Grid {
        let tolerance = (interval / 100).min(TIMESTAMP_TOLERANCE).as_millis() as i64;
        Grid { aligned: first, interval: (interval.as_millis() as i64).max(1), tolerance }
    }

    fn align(&mut self, now: i64) -> i64 {
        while now - self.aligned >= self.interval {
            self.aligned += self.interval;
        }
        if now - self.aligned <= self.tolerance { self.aligned } else { now }
    }
}

/// Mixed into every target's hash so that two servers with different external labels scrape
/// the same target at different moments.
fn offset_seed(global: &GlobalConfig) -> u64 {
    let mut h = Fnv::new();
    for (name, value) in &global.external_labels {
        h.write(name.as_bytes());
        h.write(&[0xff]);
        h.write(value.as_bytes());
        h.write(&[0xff]);
    }
    h.0
}

/// Time until the target's first scrape: its slot within the interval, pinned to the wall
/// clock (Prometheus's `Target.offset`).
fn first_offset(target: &Target, seed: u64, now: SystemTime) -> Duration {
    let interval = target.scrape_interval.as_nanos().max(1) as u64;
    let now = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let base = interval - now % interval;
    let mut h = Fnv::new();
    for l in target.labels.iter() {
        h.write(l.name.as_bytes());
        h.write(&[0xff]);
        h.write(l.value.as_bytes());
        h.write(&[0xff]);
    }
    h.write(target.url.as_bytes());
    let offset = (h.0 ^ seed) % interval;
    let mut next = base + offset;
    if next > interval {
        next -= interval;
    }
    Duration::from_nanos(next)
}

/// FNV-1a, 64 bits (what Prometheus hashes targets with).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    crate::intake::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_snaps_within_tolerance_only() {
        let mut g = Grid::new(Duration::from_secs(1), 10_000);
        assert_eq!(g.align(10_000), 10_000);
        assert_eq!(g.align(11_002), 11_000, "2 ms late snaps");
        assert_eq!(g.align(12_003), 12_003, "3 ms late does not");
        assert_eq!(g.align(15_001), 15_000, "skipped ticks are skipped on the grid too");
    }
}
