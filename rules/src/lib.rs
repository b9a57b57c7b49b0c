//! Lookout's rules: Prometheus-format alerting and recording rules over metrics and logs, the
//! evaluation loop, alert state and the notifier (issue 7).
//!
//! # Layout
//! - `rulefmt`: rule files, parsed and validated as `promtool check rules` does.
//! - `rule`: one rule's evaluation; alert states and notices.
//! - `group`: rules evaluated in order at one timestamp; `for` state restored after a restart.
//! - `manager`: loads files from `--rules.path`, runs each group on its interval, reloads.
//! - `notify`: delivers alerts to Alertmanager's API and to webhooks.
//! - `api`: `/api/v1/rules`, `/api/v1/alerts`, `/-/reload` on :3000.
//! - `unittest`, `check`: `lookout rules test` and `lookout rules check`, as promtool's.
//!
//! Data comes in through a [`RuleQuerier`] (the PromQL and LogQL engines behind a query
//! function, and raw series for the `for` state) and goes out through an [`RuleAppender`]
//! (recording rules, `ALERTS`, `ALERTS_FOR_STATE`, written to the metrics store) and the
//! notifier. The rules never see the engines or the stores themselves.

pub mod api;
pub mod check;
pub mod group;
pub mod manager;
pub mod notify;
pub mod rule;
pub mod rulefmt;
pub mod unittest;

use std::collections::BTreeMap;

use lookout_storage::metrics::{Matcher, SeriesData};
use lookout_storage::{Labels, Tenant};

pub use group::{Group, Notice, RestoreOptions};
pub use manager::{Manager, ManagerOptions};
pub use rulefmt::Source;

/// One element of a query's instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// The series' labels.
    pub labels: Labels,
    /// Its value.
    pub v: f64,
}

/// How rules read: Prometheus's `QueryFunc` plus the `Queryable` the `for` state is restored
/// from.
pub trait RuleQuerier: Send + Sync {
    /// Runs an instant query in `source`'s language at `time_ms`. A scalar comes back as one
    /// sample without labels; a string or a range vector is an error.
    fn query(&self, tenant: &Tenant, source: Source, expr: &str, time_ms: i64) -> Result<Vec<QuerySample>, String>;

    /// The raw samples (staleness markers included) of the metric series matching `matchers`
    /// in `[start, end]` (ms).
    fn select(&self, tenant: &Tenant, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<SeriesData>, String>;
}

/// How rules write: the samples of one rule's evaluation, all at `time_ms`.
pub trait RuleAppender: Send + Sync {
    /// Writes `samples` at `time_ms`; a staleness marker is a sample with the stale NaN.
    fn append(&self, tenant: &Tenant, time_ms: i64, samples: Vec<(Labels, f64)>) -> Result<(), String>;
}

/// What a group's evaluation needs besides its rules.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    /// Whose data the rules read and write.
    pub tenant: &'a Tenant,
    /// Where queries go.
    pub querier: &'a dyn RuleQuerier,
    /// Where output goes.
    pub appender: &'a dyn RuleAppender,
    /// The language of the group's expressions.
    pub source: Source,
    /// `$externalLabels` in templates; also added to notified alerts.
    pub external_labels: &'a BTreeMap<String, String>,
    /// `$externalURL` in templates and the base of generator URLs.
    pub external_url: &'a str,
}

/// Wall-clock time in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
