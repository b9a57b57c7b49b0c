//! The notifier: delivers the alerts the rule evaluator hands over to Alertmanagers
//! (`POST /api/v2/alerts`) and to webhooks, in the payload Alertmanager itself sends to a
//! `webhook_config` receiver (version 4).
//!
//! # Layout
//!
//! ```text
//! evaluator ── Notifier::send ──► one bounded queue per receiver ──► one task per receiver ──► HTTP POST
//!                (never waits)      (full: oldest dropped, counted)    (batches, timeout,      (Alertmanager API
//!                                                                        retries with backoff)   or webhook)
//! ```
//!
//! The evaluator decides what to send and when, as Prometheus's `rules/alerting.go` `sendAlerts`
//! does: it resends firing alerts every resend delay with `ends_at` a few evaluation intervals
//! ahead, and sends a resolved alert with `ends_at` set to when it resolved. The notifier only
//! delivers: [`Notifier::send`] copies the alerts into every receiver's queue and returns, so a
//! receiver that is down, slow or answering 500s delays neither evaluation nor the other receivers.
//!
//! - `payload` builds the JSON bodies (and the fingerprint and group key webhooks carry);
//! - `queue` is a receiver's bounded queue;
//! - `sender` is a receiver's task: batching, the POST, retries;
//! - `metrics` are the `lookout_rules_notification*` metrics.

mod metrics;
mod payload;
mod queue;
mod sender;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http::Uri;
use prometheus::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::metrics::NotifierMetrics;
use self::queue::AlertQueue;
use self::sender::{Delivery, Receiver};

/// The path of Alertmanager's API for posting alerts, under its base URL.
pub const ALERTMANAGER_ALERTS_PATH: &str = "/api/v2/alerts";

/// An alert as the evaluator hands it over: Prometheus's `notifier.Alert`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The alert's identity, `alertname` included: the rule's name, the series' labels and the
    /// rule's extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra information that is not part of the identity (`summary`, `description`, …).
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing.
    pub starts_at: SystemTime,
    /// When the alert ends: in the future while it fires (so that a receiver that stops hearing
    /// about it resolves it by itself), in the past once resolved; `None` for no known end.
    pub ends_at: Option<SystemTime>,
    /// A link back to the rule's expression in Lookout (`generatorURL`); may be empty.
    pub generator_url: String,
    /// The tenant whose rule fired it, sent as `X-Scope-OrgID` as Loki's and Mimir's rulers do
    /// (a multi-tenant Alertmanager keeps tenants apart by it); `None` for the default tenant.
    pub tenant: Option<String>,
}

impl Alert {
    /// The `alertname` label, empty if there is none.
    pub fn name(&self) -> &str {
        self.labels.get(payload::ALERT_NAME).map_or("", String::as_str)
    }

    /// Whether the alert is resolved at `now`: it has an end, and the end is not after `now`
    /// (Prometheus's `Alert.ResolvedAt`).
    pub fn is_resolved_at(&self, now: SystemTime) -> bool {
        self.ends_at.is_some_and(|end| end <= now)
    }

    /// The label set's fingerprint as Alertmanager shows it (`fingerprint`, 16 hex digits):
    /// Prometheus's `model.LabelSet.Fingerprint()`.
    pub fn fingerprint(&self) -> String {
        payload::fingerprint_hex(&self.labels)
    }
}

/// How failed requests are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryOptions {
    /// Attempts per request, the first included (at least 1).
    pub max_tries: u32,
    /// The wait after the first failed attempt; it doubles after each further one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryOptions {
    /// 5 attempts, waiting 0.5 s, 1 s, 2 s and 4 s between them (at most 10 s).
    fn default() -> RetryOptions {
        RetryOptions { max_tries: 5, initial_backoff: Duration::from_millis(500), max_backoff: Duration::from_secs(10) }
    }
}

/// Where alerts go and how they are delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifierOptions {
    /// Alertmanager base URLs, as Prometheus's `--alertmanager.url` took them
    /// (`http://127.0.0.1:9093`, or with a path prefix `http://host/alertmanager/`); alerts are
    /// posted to `<base>/api/v2/alerts`. A URL that already ends in `/api/v2/alerts` is used as is.
    pub alertmanagers: Vec<String>,
    /// Webhook URLs that get Alertmanager's webhook payload (version 4), one POST per `alertname`.
    pub webhooks: Vec<String>,
    /// The `receiver` field of webhook payloads.
    pub webhook_receiver: String,
    /// The `externalURL` field of webhook payloads: where people reach Lookout.
    pub external_url: String,
    /// Alerts each receiver's queue holds before the oldest are dropped (at least 1).
    pub queue_capacity: usize,
    /// Alerts per request at most (at least 1).
    pub max_batch: usize,
    /// How long one request attempt may take, connecting and reading the answer included.
    pub timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryOptions,
}

impl Default for NotifierOptions {
    /// No receivers; Prometheus's queue capacity (10,000) and timeout (10 s); batches of 64;
    /// webhook receiver name `lookout`.
    fn default() -> NotifierOptions {
        NotifierOptions {
            alertmanagers: Vec::new(),
            webhooks: Vec::new(),
            webhook_receiver: "lookout".to_owned(),
            external_url: String::new(),
            queue_capacity: 10_000,
            max_batch: 64,
            timeout: Duration::from_secs(10),
            retry: RetryOptions::default(),
        }
    }
}

/// What kind of receiver a URL is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiverKind {
    /// An Alertmanager, posted to through its API v2.
    Alertmanager,
    /// A webhook, posted Alertmanager's webhook payload.
    Webhook,
}

/// One receiver the notifier delivers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReceiverInfo {
    /// Alertmanager or webhook.
    pub kind: ReceiverKind,
    /// The URL posted to (for an Alertmanager, the full `…/api/v2/alerts` URL, as Prometheus's
    /// `/api/v1/alertmanagers` lists it); also the `receiver` label of the metrics.
    pub url: String,
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A receiver URL that cannot be posted to.
    #[error("invalid {kind} url {url:?}: {reason}")]
    InvalidUrl {
        /// `alertmanager` or `webhook`.
        kind: &'static str,
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option out of range.
    #[error("invalid notifier option: {0}")]
    InvalidOption(&'static str),
    /// The metrics could not be registered (for example, a notifier already registered them in
    /// this registry).
    #[error("registering the notifier's metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// [`Notifier::start`] was called outside a Tokio runtime.
    #[error("the notifier must be started inside a tokio runtime")]
    NoRuntime,
}

/// Delivers alerts to Alertmanagers and webhooks in the background. Cheap to clone; every clone
/// feeds the same queues.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    receivers: Vec<Arc<Receiver>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Notifier {
    /// Validates `options`, registers the metrics in `registry` and spawns one task per receiver
    /// on the current Tokio runtime. The tasks run until `shutdown` is cancelled; alerts still
    /// queued then are dropped (and counted), and a request under way is abandoned.
    pub fn start(
        options: NotifierOptions,
        registry: &Registry,
        shutdown: CancellationToken,
    ) -> Result<Notifier, NotifyError> {
        if options.queue_capacity == 0 {
            return Err(NotifyError::InvalidOption("queue capacity must be at least 1"));
        }
        if options.max_batch == 0 {
            return Err(NotifyError::InvalidOption("max batch must be at least 1"));
        }
        if options.retry.max_tries == 0 {
            return Err(NotifyError::InvalidOption("max tries must be at least 1"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let mut targets: Vec<(ReceiverInfo, Uri)> = Vec::new();
        for url in &options.alertmanagers {
            let (url, uri) = alertmanager_url(url)?;
            push_unique(&mut targets, ReceiverKind::Alertmanager, url, uri);
        }
        for url in &options.webhooks {
            let uri = http_uri(url, "webhook")?;
            push_unique(&mut targets, ReceiverKind::Webhook, url.trim().to_owned(), uri);
        }
        let metrics = NotifierMetrics::register(registry, options.queue_capacity)?;
        let delivery = Arc::new(Delivery {
            client: sender::client(),
            max_batch: options.max_batch,
            timeout: options.timeout,
            retry: options.retry,
            webhook_receiver: options.webhook_receiver,
            external_url: options.external_url,
        });
        let mut receivers = Vec::with_capacity(targets.len());
        let mut tasks = Vec::with_capacity(targets.len());
        for (info, uri) in targets {
            let metrics = metrics.receiver(&info.url);
            let queue = AlertQueue::new(options.queue_capacity, metrics.queue_length.clone(), metrics.dropped.clone());
            let receiver = Arc::new(Receiver { info, uri, queue, metrics });
            tasks.push(runtime.spawn(sender::run(receiver.clone(), delivery.clone(), shutdown.clone())));
            receivers.push(receiver);
        }
        Ok(Notifier { inner: Arc::new(Inner { receivers, tasks: Mutex::new(tasks) }) })
    }

    /// Queues `alerts` for every receiver and returns at once: it never waits for a receiver.
    /// Where a queue is full, its oldest alerts are dropped to make room (and counted in
    /// `lookout_rules_notifications_dropped_total`).
    pub fn send(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() || self.inner.receivers.is_empty() {
            return;
        }
        let alerts: Vec<Arc<Alert>> = alerts.into_iter().map(Arc::new).collect();
        for receiver in &self.inner.receivers {
            let dropped = receiver.queue.push(&alerts);
            if dropped > 0 {
                tracing::warn!(
                    receiver = %receiver.info.url,
                    dropped,
                    "alert notification queue full, dropping the oldest alerts"
                );
            }
        }
    }

    /// Every receiver, Alertmanagers first, in the order configured (duplicates removed).
    pub fn receivers(&self) -> Vec<ReceiverInfo> {
        self.inner.receivers.iter().map(|r| r.info.clone()).collect()
    }

    /// The Alertmanagers' alert URLs (`http://host:9093/api/v2/alerts`): the `activeAlertmanagers`
    /// of Prometheus's `/api/v1/alertmanagers`.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.inner
            .receivers
            .iter()
            .filter(|r| r.info.kind == ReceiverKind::Alertmanager)
            .map(|r| r.info.url.clone())
            .collect()
    }

    /// Waits until every receiver task has stopped, which they do once the shutdown token is
    /// cancelled. Returns at once on a second call.
    pub async fn stopped(&self) {
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "alert notification task failed");
            }
        }
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("receivers", &self.receivers()).finish()
    }
}

fn push_unique(targets: &mut Vec<(ReceiverInfo, Uri)>, kind: ReceiverKind, url: String, uri: Uri) {
    let info = ReceiverInfo { kind, url };
    if !targets.iter().any(|(known, _)| *known == info) {
        targets.push((info, uri));
    }
}

/// Parses an `http` URL with a host; `kind` names it in errors.
fn http_uri(url: &str, kind: &'static str) -> Result<Uri, NotifyError> {
    let invalid = |reason: String| NotifyError::InvalidUrl { kind, url: url.to_owned(), reason };
    let uri: Uri = url.trim().parse().map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(invalid("https is not supported yet: this build of Lookout has no TLS client".to_owned()));
        }
        _ => return Err(invalid("the url must start with http://".to_owned())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("the url has no host".to_owned()));
    }
    Ok(uri)
}

/// The alerts URL of an Alertmanager given by its base URL: `<base>/api/v2/alerts`, keeping a
/// path prefix and dropping a trailing slash; a URL that already ends in `/api/v2/alerts` stays.
fn alertmanager_url(base: &str) -> Result<(String, Uri), NotifyError> {
    let uri = http_uri(base, "alertmanager")?;
    if uri.query().is_some() {
        return Err(NotifyError::InvalidUrl {
            kind: "alertmanager",
            url: base.to_owned(),
            reason: "a base url takes no query".to_owned(),
        });
    }
    let prefix = uri.path().trim_end_matches('/');
    let path = if prefix.ends_with(ALERTMANAGER_ALERTS_PATH) {
        prefix.to_owned()
    } else {
        format!("{prefix}{ALERTMANAGER_ALERTS_PATH}")
    };
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map_or("", |a| a.as_str());
    let url = format!("{scheme}://{authority}{path}");
    let uri = url.parse().map_err(|e: http::uri::InvalidUri| NotifyError::InvalidUrl {
        kind: "alertmanager",
        url: base.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((url, uri))
}
