//! One task per receiver: it drains the receiver's queue in batches and POSTs each batch, retrying
//! with exponential backoff. Nothing here is shared between receivers but the connection pool, so
//! a receiver that is down, slow or failing holds up only its own queue.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::metrics::ReceiverMetrics;
use super::queue::AlertQueue;
use super::{Alert, ReceiverInfo, ReceiverKind, RetryOptions, payload};

/// The HTTP client all receivers share (connections are pooled per host).
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// How much of a failed response's body goes into the error message.
const ERROR_BODY_LIMIT: usize = 4096;

/// A plain-HTTP client (the workspace has no TLS stack yet; `https` URLs are refused at start).
pub(crate) fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// What every receiver task needs besides its own receiver.
pub(crate) struct Delivery {
    pub client: HttpClient,
    pub max_batch: usize,
    pub timeout: Duration,
    pub retry: RetryOptions,
    /// `receiver` of webhook payloads.
    pub webhook_receiver: String,
    /// `externalURL` of webhook payloads.
    pub external_url: String,
}

/// One receiver: where it is, its queue and its metrics.
pub(crate) struct Receiver {
    pub info: ReceiverInfo,
    pub uri: Uri,
    pub queue: AlertQueue,
    pub metrics: ReceiverMetrics,
}

/// Why one request attempt failed.
#[derive(Debug)]
enum PostError {
    /// No answer within the timeout.
    Timeout(Duration),
    /// The request could not be made (connection refused, reset, …).
    Connection(String),
    /// The receiver answered with a status other than 2xx.
    Status(StatusCode, String),
    /// The request could not even be built or encoded.
    Request(String),
}

impl PostError {
    /// Whether another attempt may succeed: timeouts, connection errors, 5xx and 429 are
    /// retried; other statuses mean the receiver refuses this body and would refuse it again.
    fn retryable(&self) -> bool {
        match self {
            PostError::Timeout(_) | PostError::Connection(_) => true,
            PostError::Status(status, _) => status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS,
            PostError::Request(_) => false,
        }
    }
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Timeout(timeout) => write!(f, "no response within {timeout:?}"),
            PostError::Connection(err) => write!(f, "{err}"),
            PostError::Status(status, body) if body.is_empty() => write!(f, "bad response status {status}"),
            PostError::Status(status, body) => write!(f, "bad response status {status}: {body}"),
            PostError::Request(err) => write!(f, "{err}"),
        }
    }
}

/// Drains `receiver`'s queue until `stop` is cancelled; then counts what is still queued as
/// dropped and returns. An attempt under way when `stop` fires is abandoned.
pub(crate) async fn run(receiver: Arc<Receiver>, delivery: Arc<Delivery>, stop: CancellationToken) {
    'wait: loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break 'wait,
            () = receiver.queue.wait() => {}
        }
        loop {
            let batch = receiver.queue.pop_batch(delivery.max_batch);
            if batch.is_empty() {
                break;
            }
            if !deliver(&receiver, &delivery, &batch, &stop).await {
                break 'wait;
            }
        }
    }
    let left = receiver.queue.clear();
    if left > 0 {
        warn!(receiver = %receiver.info.url, alerts = left, "dropping queued alert notifications at shutdown");
    }
}

/// Sends one batch: to an Alertmanager one request per tenant, to a webhook one request per
/// tenant and `alertname`; each names its tenant in `X-Scope-OrgID` unless it is the default
/// one. Returns false if `stop` fired meanwhile (the rest of the batch is then dropped).
async fn deliver(receiver: &Receiver, delivery: &Delivery, batch: &[Arc<Alert>], stop: &CancellationToken) -> bool {
    let mut requests: Vec<(Option<&str>, Vec<&Alert>)> = Vec::new();
    for (tenant, alerts) in by_tenant(batch) {
        match receiver.info.kind {
            ReceiverKind::Alertmanager => requests.push((tenant, alerts)),
            ReceiverKind::Webhook => {
                requests.extend(payload::group_by_alertname(alerts).into_iter().map(|group| (tenant, group)))
            }
        }
    }
    let now = SystemTime::now();
    for (i, (tenant, alerts)) in requests.iter().enumerate() {
        let body = match receiver.info.kind {
            ReceiverKind::Alertmanager => payload::alertmanager_body(alerts.iter().copied()),
            ReceiverKind::Webhook => {
                payload::webhook_body(alerts, &delivery.webhook_receiver, &delivery.external_url, now)
            }
        };
        if !post_with_retries(receiver, delivery, body, *tenant, alerts.len(), stop).await {
            let rest: usize = requests[i + 1..].iter().map(|(_, a)| a.len()).sum();
            receiver.metrics.dropped.inc_by(rest as u64);
            return false;
        }
    }
    true
}

/// The alerts of `batch` by tenant, tenants in the order they first appear.
fn by_tenant(batch: &[Arc<Alert>]) -> Vec<(Option<&str>, Vec<&Alert>)> {
    let mut out: Vec<(Option<&str>, Vec<&Alert>)> = Vec::new();
    for alert in batch {
        let tenant = alert.tenant.as_deref();
        match out.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, alerts)) => alerts.push(alert),
            None => out.push((tenant, vec![alert])),
        }
    }
    out
}

/// POSTs `body` (holding `count` alerts) until it is accepted, refused for good, or the tries run
/// out, sleeping between attempts. Returns false if `stop` fired meanwhile.
async fn post_with_retries(
    receiver: &Receiver,
    delivery: &Delivery,
    body: serde_json::Result<Vec<u8>>,
    tenant: Option<&str>,
    count: usize,
    stop: &CancellationToken,
) -> bool {
    let count = count as u64;
    let metrics = &receiver.metrics;
    let body = match body {
        Ok(body) => Bytes::from(body),
        Err(err) => {
            // Unreachable for string maps, but a bug here must not stop the task.
            warn!(receiver = %receiver.info.url, error = %err, "failed to encode alert notifications");
            metrics.dropped.inc_by(count);
            return true;
        }
    };
    let retry = &delivery.retry;
    let mut backoff = retry.initial_backoff;
    for attempt in 1..=retry.max_tries {
        let started = Instant::now();
        let result = tokio::select! {
            biased;
            () = stop.cancelled() => {
                metrics.dropped.inc_by(count);
                return false;
            }
            result = tokio::time::timeout(delivery.timeout, post(&delivery.client, &receiver.uri, body.clone(), tenant)) => {
                result.unwrap_or(Err(PostError::Timeout(delivery.timeout)))
            }
        };
        metrics.latency.observe(started.elapsed().as_secs_f64());
        let err = match result {
            Ok(()) => {
                metrics.sent.inc_by(count);
                debug!(receiver = %receiver.info.url, alerts = count, attempt, "sent alert notifications");
                return true;
            }
            Err(err) => err,
        };
        metrics.errors.inc_by(count);
        let again = err.retryable() && attempt < retry.max_tries;
        warn!(
            receiver = %receiver.info.url,
            alerts = count,
            attempt,
            retry = again,
            error = %err,
            "failed to send alert notifications"
        );
        if !again {
            break;
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                metrics.dropped.inc_by(count);
                return false;
            }
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = backoff.saturating_mul(2).min(retry.max_backoff);
    }
    metrics.dropped.inc_by(count);
    true
}

/// One POST of a JSON body; any 2xx is success, as in Prometheus's `sendOne`.
async fn post(client: &HttpClient, uri: &Uri, body: Bytes, tenant: Option<&str>) -> Result<(), PostError> {
    let mut request = Request::post(uri.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("Lookout/", env!("CARGO_PKG_VERSION")));
    if let Some(tenant) = tenant {
        request = request.header("X-Scope-OrgID", tenant);
    }
    let request = request.body(Full::new(body)).map_err(|e| PostError::Request(e.to_string()))?;
    let response = client.request(request).await.map_err(|e| PostError::Connection(chain(&e)))?;
    let status = response.status();
    // Reading the body lets the connection be reused, and holds the reason for a refusal.
    let text = match Limited::new(response.into_body(), ERROR_BODY_LIMIT).collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).trim().to_owned(),
        Err(_) => String::new(),
    };
    if status.is_success() { Ok(()) } else { Err(PostError::Status(status, text)) }
}

/// An error with its causes, `outer: inner: …` (hyper's own message is only "client error").
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
