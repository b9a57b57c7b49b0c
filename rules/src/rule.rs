//! One rule's evaluation and state: recording rules (Prometheus `rules/recording.go`) and alerting
//! rules with their alerts (`rules/alerting.go`).
//!
//! # Alert states
//! Each label set the alert expression returns becomes an alert, *pending* with `active_at = ts`.
//! It turns *firing* once `ts - active_at >= for` (at once when `for` is 0). When the expression
//! stops returning it, a pending alert is dropped; a firing one becomes *inactive* (resolved)
//! and is kept 15 minutes so that the resolved notice can be sent and resent. With
//! `keep_firing_for`, a firing alert whose condition cleared stays firing until
//! `ts - keep_firing_since >= keep_firing_for`.
//!
//! Every pending or firing alert writes `ALERTS{alertname, alertstate, …} 1` and
//! `ALERTS_FOR_STATE{alertname, …} <active_at in seconds>` at each evaluation, once the rule's
//! `for` state has been restored (see [`crate::group::Group::restore_for_state`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lookout_query::gotemplate::prometheus::{AlertTemplateData, expand_alert_template};
use lookout_storage::{Labels, METRIC_NAME};

use crate::rulefmt::{RuleKind, RuleSpec};
use crate::{EvalContext, QuerySample};

/// How long a resolved alert is kept to send its resolved notice.
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Resolved: the condition cleared after it fired.
    Inactive,
    /// The condition holds, for less than `for`.
    Pending,
    /// The condition has held for `for`.
    Firing,
}

impl AlertState {
    /// Prometheus's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The sample's labels without `__name__`, the rule's labels, and `alertname`.
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// Current state.
    pub state: AlertState,
    /// The expression's value at the last evaluation.
    pub value: f64,
    /// When the condition started to hold (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// When it was resolved (ms).
    pub resolved_at: Option<i64>,
    /// When it was last handed to the notifier (ms).
    pub last_sent_at: Option<i64>,
    /// Until when the last notice holds (ms), its `endsAt` while firing.
    pub valid_until: i64,
    /// When the condition cleared while `keep_firing_for` keeps it firing (ms).
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Whether a notice is due at `ts` (Prometheus's `needsSending`).
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.resolved_at, self.last_sent_at) {
            (_, None) => true,
            (Some(resolved), Some(sent)) if resolved > sent => true,
            (_, Some(sent)) => sent + resend_delay_ms < ts,
        }
    }
}

/// The health of a rule's last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Evaluated without error.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl Health {
    /// Prometheus's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule with its evaluation state.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written, with the group's labels merged into its labels.
    pub spec: RuleSpec,
    /// Health of the last evaluation.
    pub health: Health,
    /// Error of the last evaluation.
    pub last_error: Option<String>,
    /// Wall-clock time of the last evaluation (ms).
    pub last_evaluation: Option<i64>,
    /// How long the last evaluation took.
    pub evaluation_time: Duration,
    /// Alerts by label set (alerting rules).
    pub alerts: BTreeMap<Labels, Alert>,
    /// Whether ALERTS / ALERTS_FOR_STATE are written (after the `for` state was restored).
    pub restored: bool,
    /// Series written by the last evaluation, to mark stale when they disappear.
    previous_series: BTreeSet<Labels>,
}

/// What a rule's evaluation writes.
pub type Output = Vec<(Labels, f64)>;

impl Rule {
    /// A rule that has not been evaluated.
    pub fn new(spec: RuleSpec) -> Rule {
        Rule {
            spec,
            health: Health::Unknown,
            last_error: None,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
            alerts: BTreeMap::new(),
            restored: false,
            previous_series: BTreeSet::new(),
        }
    }

    /// Whether this is an alerting rule.
    pub fn is_alerting(&self) -> bool {
        matches!(self.spec.kind, RuleKind::Alert(_))
    }

    /// Name plus labels: what identifies a rule across a reload (Prometheus `nameAndLabels`).
    pub fn identity(&self) -> String {
        format!("{}{:?}", self.spec.name(), self.spec.labels)
    }

    /// Takes over the state of the same rule before a reload.
    pub fn copy_state(&mut self, old: &Rule) {
        self.health = old.health;
        self.last_error.clone_from(&old.last_error);
        self.last_evaluation = old.last_evaluation;
        self.evaluation_time = old.evaluation_time;
        self.alerts.clone_from(&old.alerts);
        self.restored = old.restored;
        self.previous_series.clone_from(&old.previous_series);
    }

    /// Evaluates the rule at `ts` (ms) with the query run at `ts - query_offset`. Returns the
    /// samples to write at that time; series written last time and missing now come back as
    /// `stale`, to be written as staleness markers.
    pub fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        ts: i64,
        query_offset: i64,
        limit: usize,
    ) -> Result<(Output, Vec<Labels>), String> {
        let vector = ctx.querier.query(ctx.tenant, ctx.source, &self.spec.expr, ts - query_offset)?;
        let output = match self.spec.kind.clone() {
            RuleKind::Record(name) => self.record(&name, vector, limit)?,
            RuleKind::Alert(name) => self.alert(ctx, &name, vector, ts, limit)?,
        };
        let current: BTreeSet<Labels> = output.iter().map(|(l, _)| l.clone()).collect();
        let stale = self.previous_series.difference(&current).cloned().collect();
        self.previous_series = current;
        Ok((output, stale))
    }

    fn record(&self, name: &str, vector: Vec<QuerySample>, limit: usize) -> Result<Output, String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(vector.len());
        for sample in vector {
            let mut labels = sample.labels;
            labels.set(METRIC_NAME, name);
            for (k, v) in &self.spec.labels {
                labels.set(k, v.as_str());
            }
            if !seen.insert(labels.clone()) {
                return Err("vector contains metrics with the same labelset after applying rule labels".into());
            }
            out.push((labels, sample.v));
        }
        if limit > 0 && out.len() > limit {
            return Err(format!("exceeded limit of {limit} with {} series", out.len()));
        }
        Ok(out)
    }

    fn alert(
        &mut self,
        ctx: &EvalContext<'_>,
        name: &str,
        vector: Vec<QuerySample>,
        ts: i64,
        limit: usize,
    ) -> Result<Output, String> {
        let mut found: BTreeMap<Labels, Alert> = BTreeMap::new();
        for sample in vector {
            let mut sample_labels = sample.labels;
            sample_labels.remove(METRIC_NAME);
            let label_map: BTreeMap<String, String> =
                sample_labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            let data = AlertTemplateData {
                labels: &label_map,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value: sample.v,
            };
            let expand = |text: &str| expand(ctx, name, text, &data, ts);
            let mut labels = sample_labels;
            for (k, v) in &self.spec.labels {
                labels.set(k, expand(v));
            }
            labels.set("alertname", name);
            let annotations = self.spec.annotations.iter().map(|(k, v)| (k.clone(), expand(v))).collect();
            if found.contains_key(&labels) {
                return Err("vector contains metrics with the same labelset after applying alert labels".into());
            }
            let alert = Alert {
                labels: labels.clone(),
                annotations,
                state: AlertState::Pending,
                value: sample.v,
                active_at: ts,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                valid_until: 0,
                keep_firing_since: None,
            };
            found.insert(labels, alert);
        }
        for (labels, alert) in &found {
            match self.alerts.get_mut(labels) {
                Some(active) if active.state != AlertState::Inactive => {
                    active.value = alert.value;
                    active.annotations.clone_from(&alert.annotations);
                }
                _ => {
                    self.alerts.insert(labels.clone(), alert.clone());
                }
            }
        }
        let mut out = Vec::new();
        let mut active_count = 0;
        let (hold, keep_for) = (self.spec.for_ms, self.spec.keep_firing_for_ms);
        self.alerts.retain(|labels, a| {
            if !found.contains_key(labels) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_for;
                }
                if !keep_firing {
                    let expired = a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS);
                    if a.state == AlertState::Pending || expired {
                        return false;
                    }
                    if a.state != AlertState::Inactive {
                        a.state = AlertState::Inactive;
                        a.resolved_at = Some(ts);
                    }
                    return true;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_count += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            true
        });
        if limit > 0 && active_count > limit {
            self.alerts.clear();
            return Err(format!("exceeded limit of {limit} with {active_count} alerts"));
        }
        if self.restored {
            for a in self.alerts.values().filter(|a| a.state != AlertState::Inactive) {
                let mut alerts = a.labels.clone();
                alerts.set(METRIC_NAME, "ALERTS");
                alerts.set("alertstate", a.state.as_str());
                out.push((alerts, 1.0));
                let mut for_state = a.labels.clone();
                for_state.set(METRIC_NAME, "ALERTS_FOR_STATE");
                out.push((for_state, (a.active_at.div_euclid(1000)) as f64));
            }
        }
        Ok(out)
    }

    /// The alerts due for a notice at `ts`, marked as sent (Prometheus's `sendAlerts`): firing
    /// ones every `resend_delay`, resolved ones once after resolving and then on the same
    /// schedule while they are kept.
    pub fn alerts_to_send(&mut self, ts: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let delta = resend_delay_ms.max(interval_ms);
        let mut due = Vec::new();
        for alert in self.alerts.values_mut() {
            if alert.needs_sending(ts, resend_delay_ms) {
                alert.last_sent_at = Some(ts);
                alert.valid_until = ts + 4 * delta;
                due.push(alert.clone());
            }
        }
        due
    }
}

/// Expands one template; a failure becomes the text Prometheus puts in its place.
fn expand(ctx: &EvalContext<'_>, name: &str, text: &str, data: &AlertTemplateData<'_>, ts: i64) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    let query = |q: &str, t: i64| {
        let vector = ctx.querier.query(ctx.tenant, crate::rulefmt::Source::Promql, q, t)?;
        Ok(vector
            .into_iter()
            .map(|s| (s.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(), s.v))
            .collect())
    };
    match expand_alert_template(name, text, data, ts, Some(&query)) {
        Ok(out) => out,
        Err(e) => {
            tracing::warn!(alert = name, error = %e, "expanding alert template failed");
            format!("<error expanding template: {e}>")
        }
    }
}
