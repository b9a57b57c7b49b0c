//! A rule group: its rules evaluated in order at one timestamp, each rule's output written
//! before the next rule runs (so later rules see earlier ones' series and `ALERTS`), and the
//! `for` state of alerts restored after a restart (Prometheus `rules/group.go`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lookout_storage::metrics::{MatchOp, Matcher};
use lookout_storage::{Labels, METRIC_NAME, Tenant, is_stale_nan, stale_nan};

use crate::rule::{Alert, Health, Rule};
use crate::rulefmt::{GroupSpec, RuleKind, Source};
use crate::{EvalContext, now_ms};

/// How a restart's `for` state is restored (Prometheus's `--rules.alert.for-*` flags).
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions {
    /// How long Lookout may have been down for the state to still be restored (ms).
    pub outage_tolerance_ms: i64,
    /// Least time an alert waits after a restart before firing (ms).
    pub grace_period_ms: i64,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions { outage_tolerance_ms: 3_600_000, grace_period_ms: 600_000 }
    }
}

/// A loaded group with its rules' state.
#[derive(Debug, Clone)]
pub struct Group {
    /// Whose data it reads and writes: the default tenant's for `rules.path`, a tenant's for
    /// files under `rules.tenants_dir/<tenant>/`.
    pub tenant: Tenant,
    /// The file it came from.
    pub file: String,
    /// The group as written.
    pub spec: GroupSpec,
    /// Evaluation interval (ms): the group's own, else the global one.
    pub interval_ms: i64,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
    /// Wall-clock start of the last evaluation (ms).
    pub last_evaluation: Option<i64>,
    /// How long the last evaluation took.
    pub evaluation_time: Duration,
    /// Timestamp of the last evaluation (ms).
    pub last_eval_timestamp: Option<i64>,
    /// Whether the `for` state of its alerts is still to be restored from `ALERTS_FOR_STATE`.
    pub should_restore: bool,
}

/// A notice for the notifier: an alert and the expression that raised it.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The alert, as of this evaluation.
    pub alert: Alert,
    /// The rule's expression, for the generator URL.
    pub expr: String,
    /// The rule's language.
    pub source: Source,
    /// The tenant whose rule it is.
    pub tenant: Tenant,
}

impl Group {
    /// A group from its spec; group labels are added to every rule's labels (the rule's own win).
    pub fn new(file: &str, spec: GroupSpec, default_interval_ms: i64) -> Group {
        let rules = spec
            .rules
            .iter()
            .map(|r| {
                let mut r = r.clone();
                for (k, v) in &spec.labels {
                    r.labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
                Rule::new(r)
            })
            .collect();
        Group {
            tenant: Tenant::default(),
            file: file.to_string(),
            interval_ms: spec.interval.filter(|i| *i > 0).unwrap_or(default_interval_ms),
            spec,
            rules,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
            last_eval_timestamp: None,
            should_restore: true,
        }
    }

    /// `file;name`, the key Prometheus gives a group.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.spec.name)
    }

    /// Takes over the state of rules that are the same (name and labels) in `old`.
    pub fn copy_state(&mut self, old: &Group) {
        self.last_evaluation = old.last_evaluation;
        self.evaluation_time = old.evaluation_time;
        self.last_eval_timestamp = old.last_eval_timestamp;
        self.should_restore = old.should_restore;
        let mut by_identity: BTreeMap<String, Vec<&Rule>> = BTreeMap::new();
        for rule in &old.rules {
            by_identity.entry(rule.identity()).or_default().push(rule);
        }
        for rule in &mut self.rules {
            if let Some(olds) = by_identity.get_mut(&rule.identity())
                && !olds.is_empty()
            {
                rule.copy_state(olds.remove(0));
            }
        }
    }

    /// Evaluates every rule at `ts` (ms), writing each rule's output through the context's
    /// appender before the next rule runs. Returns the alert notices due.
    pub fn eval(&mut self, ctx: &EvalContext<'_>, ts: i64, resend_delay_ms: i64) -> Vec<Notice> {
        let ctx = &EvalContext { source: self.spec.source, ..*ctx };
        let started = Instant::now();
        self.last_evaluation = Some(now_ms());
        let offset = self.spec.query_offset.unwrap_or(0);
        let mut notices = Vec::new();
        for rule in &mut self.rules {
            let rule_started = Instant::now();
            let result = rule.eval(ctx, ts, offset, self.spec.limit).and_then(|(mut output, stale)| {
                output.extend(stale.into_iter().map(|l| (l, stale_nan())));
                if output.is_empty() { Ok(()) } else { ctx.appender.append(ctx.tenant, ts - offset, output) }
            });
            rule.last_evaluation = self.last_evaluation;
            rule.evaluation_time = rule_started.elapsed();
            match result {
                Ok(()) => {
                    rule.health = Health::Ok;
                    rule.last_error = None;
                    if rule.is_alerting() {
                        let due = rule.alerts_to_send(ts, resend_delay_ms, self.interval_ms);
                        notices.extend(due.into_iter().map(|alert| Notice {
                            alert,
                            expr: rule.spec.expr.clone(),
                            source: self.spec.source,
                            tenant: self.tenant.clone(),
                        }));
                    }
                }
                Err(e) => {
                    tracing::warn!(group = %self.spec.name, rule = %rule.spec.name(), error = %e, "rule evaluation failed");
                    rule.health = Health::Err;
                    rule.last_error = Some(e);
                }
            }
        }
        self.evaluation_time = started.elapsed();
        self.last_eval_timestamp = Some(ts);
        notices
    }

    /// Restores the `active_at` of alerts found active in the first evaluation after a start
    /// from the `ALERTS_FOR_STATE` series written before it (Prometheus `RestoreForState`): the
    /// time an alert already spent pending counts, the downtime does not, and no alert fires
    /// sooner than the grace period after the restart.
    pub fn restore_for_state(&mut self, ctx: &EvalContext<'_>, ts: i64, options: RestoreOptions) {
        self.should_restore = false;
        for rule in &mut self.rules {
            let RuleKind::Alert(name) = &rule.spec.kind else { continue };
            let hold = rule.spec.for_ms;
            if hold < options.grace_period_ms || rule.alerts.is_empty() {
                rule.restored = true;
                continue;
            }
            let matchers = [
                Matcher::new(MatchOp::Equal, METRIC_NAME, "ALERTS_FOR_STATE"),
                Matcher::new(MatchOp::Equal, "alertname", name.as_str()),
            ];
            let Ok(matchers) = matchers.into_iter().collect::<Result<Vec<_>, _>>() else { continue };
            let series = match ctx.querier.select(ctx.tenant, &matchers, ts - options.outage_tolerance_ms, ts) {
                Ok(series) => series,
                Err(e) => {
                    tracing::warn!(alert = %name, error = %e, "reading ALERTS_FOR_STATE to restore alerts failed");
                    rule.restored = true;
                    continue;
                }
            };
            let mut last: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
            for s in series {
                let mut labels = s.labels;
                labels.remove(METRIC_NAME);
                if let Some(sample) = s.samples.last() {
                    last.insert(labels, (sample.t, sample.v));
                }
            }
            for alert in rule.alerts.values_mut() {
                let Some(&(t, v)) = last.get(&alert.labels) else { continue };
                if is_stale_nan(v) {
                    continue;
                }
                let down_at = t.div_euclid(1000) * 1000;
                let mut active_at = (v as i64) * 1000;
                let remaining = hold - (down_at - active_at);
                if remaining <= 0 {
                    // It was firing when Lookout stopped; the next evaluation decides.
                } else if remaining < options.grace_period_ms {
                    active_at = ts + options.grace_period_ms - hold;
                } else {
                    active_at += ts - down_at;
                }
                alert.active_at = active_at;
            }
            rule.restored = true;
        }
    }
}

#[cfg(test)]
mod tests;
