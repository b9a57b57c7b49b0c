//! The rule manager: loads rule files from `--rules.path` (files and globs), runs each group on
//! its interval, hands alert notices to the notify function, and reloads (`SIGHUP`,
//! `POST /-/reload`) keeping the state of rules that did not change (Prometheus
//! `rules/manager.go`).
//!
//! A group evaluates at `t` with `t ≡ offset (mod interval)`, the offset a hash of the group's
//! key, so that groups with the same interval spread out instead of all running at once. An
//! evaluation that takes longer than the interval skips the missed iterations and counts them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::watch;

use crate::group::{Group, Notice, RestoreOptions};
use crate::rulefmt::{self, ParseOptions};
use crate::{EvalContext, RuleAppender, RuleQuerier, now_ms};
use lookout_storage::Tenant;

/// Where alert notices go (Prometheus's `NotifyFunc`).
pub type NotifyFunc = Arc<dyn Fn(Vec<Notice>) + Send + Sync>;

/// Settings of the rule manager.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// Rule files and globs (`--rules.path`).
    pub paths: Vec<String>,
    /// Interval of groups that set none (ms); Prometheus's `evaluation_interval`.
    pub evaluation_interval_ms: i64,
    /// How often a firing alert is sent again (ms); `--rules.resend-delay`.
    pub resend_delay_ms: i64,
    /// `$externalLabels`, also added to notified alerts.
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` and the base of generator URLs.
    pub external_url: String,
    /// How the `for` state is restored after a restart.
    pub restore: RestoreOptions,
    /// How rule files are read.
    pub parse: ParseOptions,
    /// Tenants' own rule files: `<dir>/<tenant>/*.yml`, evaluated over that tenant's data.
    pub tenants_dir: Option<PathBuf>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            paths: Vec::new(),
            evaluation_interval_ms: 60_000,
            resend_delay_ms: 60_000,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            restore: RestoreOptions::default(),
            parse: ParseOptions::default(),
            tenants_dir: None,
        }
    }
}

/// The rule manager's own metrics.
struct Metrics {
    evaluations: IntCounter,
    failures: IntCounter,
    missed: IntCounterVec,
    duration: Histogram,
    last_duration: GaugeVec,
    rules: IntGauge,
    reloads: IntCounterVec,
}

impl Metrics {
    fn new(registry: &Registry) -> prometheus::Result<Metrics> {
        let group = &["rule_group"];
        let m = Metrics {
            evaluations: IntCounter::new("lookout_rules_evaluations_total", "Rule evaluations.")?,
            failures: IntCounter::new("lookout_rules_evaluation_failures_total", "Rule evaluations that failed.")?,
            missed: IntCounterVec::new(
                Opts::new(
                    "lookout_rules_group_iterations_missed_total",
                    "Group evaluations skipped because one ran late.",
                ),
                group,
            )?,
            duration: Histogram::with_opts(HistogramOpts::new(
                "lookout_rules_group_duration_seconds",
                "How long group evaluations take.",
            ))?,
            last_duration: GaugeVec::new(
                Opts::new("lookout_rules_group_last_duration_seconds", "How long the last evaluation of a group took."),
                group,
            )?,
            rules: IntGauge::new("lookout_rules_rules", "Rules loaded.")?,
            reloads: IntCounterVec::new(
                Opts::new("lookout_rules_reloads_total", "Rule reloads by outcome."),
                &["outcome"],
            )?,
        };
        registry.register(Box::new(m.evaluations.clone()))?;
        registry.register(Box::new(m.failures.clone()))?;
        registry.register(Box::new(m.missed.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.last_duration.clone()))?;
        registry.register(Box::new(m.rules.clone()))?;
        registry.register(Box::new(m.reloads.clone()))?;
        Ok(m)
    }
}

/// What every group task shares.
struct Shared {
    options: ManagerOptions,
    querier: Arc<dyn RuleQuerier>,
    appender: Arc<dyn RuleAppender>,
    notify: NotifyFunc,
    metrics: Metrics,
}

/// A running group: its state and the switch that stops its task.
struct Running {
    group: Arc<Mutex<Group>>,
    stop: watch::Sender<bool>,
}

/// Loads and runs rule groups.
pub struct Manager {
    shared: Arc<Shared>,
    groups: Mutex<BTreeMap<String, Running>>,
    /// Serializes reloads.
    reload_lock: tokio::sync::Mutex<()>,
}

impl Manager {
    /// A manager with no groups; call [`Manager::reload`] to load and start them.
    pub fn new(
        options: ManagerOptions,
        querier: Arc<dyn RuleQuerier>,
        appender: Arc<dyn RuleAppender>,
        notify: NotifyFunc,
        registry: &Registry,
    ) -> prometheus::Result<Manager> {
        let metrics = Metrics::new(registry)?;
        Ok(Manager {
            shared: Arc::new(Shared { options, querier, appender, notify, metrics }),
            groups: Mutex::new(BTreeMap::new()),
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The manager's settings.
    pub fn options(&self) -> &ManagerOptions {
        &self.shared.options
    }

    /// Reads the rule files again and swaps in the new groups, keeping the state of rules that
    /// are the same by name and labels; groups that did not change keep running untouched. On
    /// an error nothing changes and every problem is returned.
    pub async fn reload(&self) -> Result<(), Vec<String>> {
        let _serial = self.reload_lock.lock().await;
        let options = self.shared.options.clone();
        let loaded = tokio::task::spawn_blocking(move || load_groups(&options))
            .await
            .map_err(|e| vec![format!("loading rules failed: {e}")])?;
        let groups = match loaded {
            Ok(groups) => groups,
            Err(errors) => {
                self.shared.metrics.reloads.with_label_values(&["failure"]).inc();
                return Err(errors);
            }
        };
        let Ok(mut running) = self.groups.lock() else { return Err(vec!["rule manager state poisoned".into()]) };
        let mut next = BTreeMap::new();
        for mut group in groups {
            let key = group.key();
            if let Some(old) = running.remove(&key) {
                let unchanged =
                    old.group.lock().is_ok_and(|g| g.spec == group.spec && g.interval_ms == group.interval_ms);
                if unchanged {
                    next.insert(key, old);
                    continue;
                }
                if let Ok(g) = old.group.lock() {
                    group.copy_state(&g);
                }
                let _ = old.stop.send(true);
            }
            let group = Arc::new(Mutex::new(group));
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(run_group(Arc::clone(&group), Arc::clone(&self.shared), stopped));
            next.insert(key, Running { group, stop });
        }
        for (_, old) in std::mem::take(&mut *running) {
            let _ = old.stop.send(true);
        }
        let rule_count = next.values().filter_map(|r| r.group.lock().ok().map(|g| g.rules.len())).sum::<usize>();
        self.shared.metrics.rules.set(rule_count as i64);
        *running = next;
        self.shared.metrics.reloads.with_label_values(&["success"]).inc();
        Ok(())
    }

    /// A copy of every group's state, in file and name order.
    pub fn groups(&self) -> Vec<Group> {
        let Ok(running) = self.groups.lock() else { return Vec::new() };
        let mut groups: Vec<Group> = running.values().filter_map(|r| r.group.lock().ok().map(|g| g.clone())).collect();
        groups.sort_by(|a, b| (&a.file, &a.spec.name).cmp(&(&b.file, &b.spec.name)));
        groups
    }

    /// Stops every group.
    pub fn stop(&self) {
        if let Ok(mut running) = self.groups.lock() {
            for (_, r) in std::mem::take(&mut *running) {
                let _ = r.stop.send(true);
            }
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A notify function that hands notices to `notifier` as Prometheus's `SendAlerts` does:
/// `startsAt` is when the alert fired, `endsAt` when it resolved or, while it fires, the time
/// its last notice stays valid; external labels are added where the alert lacks them.
pub fn send_to(notifier: crate::notify::Notifier, options: &ManagerOptions) -> NotifyFunc {
    let external_labels = options.external_labels.clone();
    let external_url = options.external_url.trim_end_matches('/').to_string();
    Arc::new(move |notices: Vec<Notice>| {
        let at = |ms: i64| std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
        let alerts = notices
            .into_iter()
            .map(|n| {
                let mut labels: BTreeMap<String, String> =
                    n.alert.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                for (k, v) in &external_labels {
                    labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
                crate::notify::Alert {
                    labels,
                    annotations: n.alert.annotations,
                    starts_at: at(n.alert.fired_at.unwrap_or(n.alert.active_at)),
                    ends_at: Some(at(n.alert.resolved_at.unwrap_or(n.alert.valid_until))),
                    generator_url: format!("{external_url}{}", graph_link(&n.expr)),
                    tenant: (n.tenant != Tenant::default()).then(|| n.tenant.as_str().to_owned()),
                }
            })
            .collect();
        notifier.send(alerts);
    })
}

/// Prometheus's link to an expression's table view (`strutil.TableLinkForExpression`).
fn graph_link(expr: &str) -> String {
    let mut encoded = String::with_capacity(expr.len());
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(b as char),
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    format!("/graph?g0.expr={encoded}&g0.tab=1")
}

/// Expands the configured paths and globs into files, sorted and once each.
pub fn rule_files(paths: &[String]) -> Result<Vec<PathBuf>, Vec<String>> {
    let mut files = std::collections::BTreeSet::new();
    let mut errors = Vec::new();
    for pattern in paths {
        if !pattern.contains(['*', '?', '[']) {
            files.insert(PathBuf::from(pattern));
            continue;
        }
        match glob::glob(pattern) {
            Ok(matches) => files.extend(matches.filter_map(Result::ok).filter(|p| p.is_file())),
            Err(e) => errors.push(format!("invalid rule file pattern {pattern:?}: {e}")),
        }
    }
    if errors.is_empty() { Ok(files.into_iter().collect()) } else { Err(errors) }
}

/// Reads every rule file into groups.
fn load_groups(options: &ManagerOptions) -> Result<Vec<Group>, Vec<String>> {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    let mut files: Vec<(Tenant, PathBuf)> =
        rule_files(&options.paths)?.into_iter().map(|f| (Tenant::default(), f)).collect();
    if let Some(dir) = &options.tenants_dir {
        files.extend(tenant_rule_files(dir)?);
    }
    for (tenant, file) in files {
        match rulefmt::parse_file(&file, options.parse) {
            Ok(specs) => {
                let name = display(&file);
                groups.extend(specs.into_iter().map(|s| {
                    let mut group = Group::new(&name, s, options.evaluation_interval_ms);
                    group.tenant = tenant.clone();
                    group
                }));
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}

/// The rule files of each tenant, as Loki's and Mimir's rulers keep them in local storage:
/// `<dir>/<tenant>/*.yml` and `*.yaml`.
fn tenant_rule_files(dir: &Path) -> Result<Vec<(Tenant, PathBuf)>, Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(vec![format!("reading rules.tenants_dir {}: {e}", dir.display())]),
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let tenant = match Tenant::new(&name) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("rules.tenants_dir: {}: not a tenant id: {e}", path.display()));
                continue;
            }
        };
        let Ok(inner) = std::fs::read_dir(&path) else { continue };
        let mut own: Vec<PathBuf> = inner
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        own.sort();
        files.extend(own.into_iter().map(|f| (tenant.clone(), f)));
    }
    files.sort();
    if errors.is_empty() { Ok(files) } else { Err(errors) }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// The group's evaluation offset within its interval, from its key (FNV-1a).
fn offset_of(key: &str, interval_ms: i64) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % interval_ms.max(1) as u64) as i64
}

/// The latest evaluation time at or before `now` on the group's grid.
fn grid_time(now: i64, interval_ms: i64, offset: i64) -> i64 {
    now - (now - offset).rem_euclid(interval_ms)
}

/// Evaluates one group on its interval until stopped.
async fn run_group(group: Arc<Mutex<Group>>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let (key, interval) = match group.lock() {
        Ok(g) => (g.key(), g.interval_ms.max(1)),
        Err(_) => return,
    };
    let offset = offset_of(&key, interval);
    let last = group.lock().ok().and_then(|g| g.last_eval_timestamp);
    let mut next = match last {
        Some(t) => t + interval,
        None => grid_time(now_ms(), interval, offset) + interval,
    };
    loop {
        let wait = Duration::from_millis((next - now_ms()).max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let ts = next;
        let started = std::time::Instant::now();
        let (g, s) = (Arc::clone(&group), Arc::clone(&shared));
        let result = tokio::task::spawn_blocking(move || evaluate(&g, &s, ts)).await;
        if *stop.borrow() {
            return;
        }
        if let Ok(Some(notices)) = result
            && !notices.is_empty()
        {
            (shared.notify)(notices);
        }
        let took = started.elapsed().as_secs_f64();
        shared.metrics.duration.observe(took);
        shared.metrics.last_duration.with_label_values(&[key.as_str()]).set(took);
        next = ts + interval;
        let now = now_ms();
        if next <= now {
            let missed = (now - next) / interval + 1;
            shared.metrics.missed.with_label_values(&[key.as_str()]).inc_by(missed as u64);
            next += missed * interval;
        }
    }
}

/// One evaluation of a group: on a copy, so that readers never wait for it.
fn evaluate(group: &Mutex<Group>, shared: &Shared, ts: i64) -> Option<Vec<Notice>> {
    let mut copy = group.lock().ok()?.clone();
    let tenant = copy.tenant.clone();
    let ctx = EvalContext {
        tenant: &tenant,
        querier: shared.querier.as_ref(),
        appender: shared.appender.as_ref(),
        source: copy.spec.source,
        external_labels: &shared.options.external_labels,
        external_url: &shared.options.external_url,
    };
    let notices = copy.eval(&ctx, ts, shared.options.resend_delay_ms);
    if copy.should_restore {
        copy.restore_for_state(&ctx, ts, shared.options.restore);
    }
    shared.metrics.evaluations.inc_by(copy.rules.len() as u64);
    let failed = copy.rules.iter().filter(|r| r.health == crate::rule::Health::Err).count();
    shared.metrics.failures.inc_by(failed as u64);
    *group.lock().ok()? = copy;
    Some(notices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_times_fall_on_the_offset() {
        assert_eq!(grid_time(10_500, 1000, 200), 10_200);
        assert_eq!(grid_time(10_200, 1000, 200), 10_200);
        assert_eq!(grid_time(10_100, 1000, 200), 9_200);
        assert!(offset_of("a;b", 15_000) < 15_000);
    }
}
