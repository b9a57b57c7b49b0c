//! The notifier against small in-process HTTP receivers: payloads, retries, isolation of a broken
//! receiver, the bounded queue and shutdown. Tests wait for what a receiver gets, never for time.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use prometheus::Registry;
use prometheus::proto::MetricType;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::*;

/// Generous bound for anything a test waits for; reached only when a test fails.
const PATIENCE: Duration = Duration::from_secs(10);

type Respond = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = StatusCode> + Send>> + Send + Sync>;

/// One request a test receiver got.
#[derive(Debug)]
struct Received {
    path: String,
    body: Value,
    /// The `X-Scope-OrgID` header.
    tenant: Option<String>,
}

struct ServerState {
    count: AtomicUsize,
    respond: Respond,
    requests: mpsc::UnboundedSender<Received>,
}

/// A receiver on a free port that reports every request, then answers as `respond` says for
/// the n-th request (from 0).
struct TestServer {
    base: String,
    requests: mpsc::UnboundedReceiver<Received>,
}

impl TestServer {
    async fn start(
        respond: impl Fn(usize) -> Pin<Box<dyn Future<Output = StatusCode> + Send>> + Send + Sync + 'static,
    ) -> TestServer {
        let (tx, requests) = mpsc::unbounded_channel();
        let state = Arc::new(ServerState { count: AtomicUsize::new(0), respond: Arc::new(respond), requests: tx });
        let app = Router::new().fallback(record).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer { base, requests }
    }

    /// A receiver that accepts everything.
    async fn ok() -> TestServer {
        TestServer::start(|_| Box::pin(async { StatusCode::OK })).await
    }

    /// The next request, failing the test if none comes.
    async fn next(&mut self) -> Received {
        tokio::time::timeout(PATIENCE, self.requests.recv())
            .await
            .expect("no request reached the test receiver in time")
            .expect("test receiver stopped")
    }

    /// Fails the test if a request is already waiting.
    fn assert_no_more(&mut self) {
        if let Ok(extra) = self.requests.try_recv() {
            panic!("unexpected request {extra:?}");
        }
    }
}

async fn record(
    State(state): State<Arc<ServerState>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = state.count.fetch_add(1, Ordering::SeqCst);
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let tenant = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let _ = state.requests.send(Received { path: uri.path().to_owned(), body, tenant });
    (state.respond)(n).await
}

/// A URL on which nothing listens.
async fn down_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Fast retries, so that tests run quickly.
fn options(alertmanagers: &[&str], webhooks: &[&str]) -> NotifierOptions {
    NotifierOptions {
        alertmanagers: alertmanagers.iter().map(|s| (*s).to_owned()).collect(),
        webhooks: webhooks.iter().map(|s| (*s).to_owned()).collect(),
        timeout: Duration::from_secs(5),
        retry: RetryOptions {
            max_tries: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        ..NotifierOptions::default()
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn firing(name: &str, instance: &str) -> Alert {
    Alert {
        labels: map(&[("alertname", name), ("instance", instance)]),
        annotations: map(&[("summary", "it broke")]),
        starts_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ends_at: Some(SystemTime::now() + Duration::from_secs(3600)),
        generator_url: String::new(),
        tenant: None,
    }
}

/// The value of the notifier metric `name` for `receiver` (`None` for the unlabelled one).
fn metric(registry: &Registry, name: &str, receiver: Option<&str>) -> f64 {
    let families = registry.gather();
    let Some(family) = families.iter().find(|f| f.name() == name) else {
        panic!("metric {name} is not registered");
    };
    for m in family.get_metric() {
        let label = m.get_label().iter().find(|l| l.name() == "receiver").map(|l| l.value());
        if label == receiver {
            return match family.get_field_type() {
                MetricType::COUNTER => m.get_counter().get_value(),
                MetricType::GAUGE => m.get_gauge().get_value(),
                _ => m.get_histogram().get_sample_count() as f64,
            };
        }
    }
    panic!("metric {name} has no series for {receiver:?}");
}

/// Polls `condition` until it holds; fails the test with `what` if it does not within PATIENCE.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn names(body: &Value) -> Vec<String> {
    body.as_array().unwrap().iter().map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn webhook_payload_is_alertmanagers_version_4_message() {
    let mut hook = TestServer::ok().await;
    let url = format!("{}/hook", hook.base);
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let mut opts = options(&[], &[&url]);
    opts.webhook_receiver = "team-a".to_owned();
    opts.external_url = "http://lookout.example:3000".to_owned();
    let notifier = Notifier::start(opts, &registry, stop.clone()).unwrap();

    let starts_at = UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000);
    let resolved_at = UNIX_EPOCH + Duration::from_secs(1_700_000_600);
    let latency_a = Alert {
        labels: map(&[("alertname", "HighLatency"), ("instance", "a:80"), ("severity", "page")]),
        annotations: map(&[("summary", "latency is high"), ("description", "a is slow")]),
        starts_at,
        ends_at: Some(SystemTime::now() + Duration::from_secs(3600)),
        generator_url: "http://lookout.example:3000/graph?g0.expr=up".to_owned(),
        tenant: None,
    };
    let latency_b = Alert {
        labels: map(&[("alertname", "HighLatency"), ("instance", "b:80"), ("severity", "page")]),
        annotations: map(&[("summary", "latency is high"), ("description", "b is slow")]),
        starts_at,
        ends_at: Some(resolved_at),
        generator_url: "http://lookout.example:3000/graph?g0.expr=up".to_owned(),
        tenant: None,
    };
    let disk = Alert {
        labels: map(&[("alertname", "DiskFull"), ("instance", "c:80")]),
        annotations: BTreeMap::new(),
        starts_at,
        ends_at: Some(resolved_at),
        generator_url: String::new(),
        tenant: None,
    };
    let fingerprints = [latency_a.fingerprint(), latency_b.fingerprint(), disk.fingerprint()];
    notifier.send(vec![latency_a, latency_b, disk]);

    // One POST per alertname, in name order.
    let first = hook.next().await;
    assert_eq!(first.path, "/hook");
    assert_eq!(
        first.body,
        json!({
            "receiver": "team-a",
            "status": "resolved",
            "alerts": [{
                "status": "resolved",
                "labels": {"alertname": "DiskFull", "instance": "c:80"},
                "annotations": {},
                "startsAt": "2023-11-14T22:13:20.25Z",
                "endsAt": "2023-11-14T22:23:20Z",
                "generatorURL": "",
                "fingerprint": fingerprints[2],
            }],
            "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": {"alertname": "DiskFull", "instance": "c:80"},
            "commonAnnotations": {},
            "externalURL": "http://lookout.example:3000",
            "version": "4",
            "groupKey": "{}:{alertname=\"DiskFull\"}",
            "truncatedAlerts": 0,
        })
    );
    let second = hook.next().await;
    assert_eq!(
        second.body,
        json!({
            "receiver": "team-a",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighLatency", "instance": "a:80", "severity": "page"},
                    "annotations": {"summary": "latency is high", "description": "a is slow"},
                    "startsAt": "2023-11-14T22:13:20.25Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://lookout.example:3000/graph?g0.expr=up",
                    "fingerprint": fingerprints[0],
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "HighLatency", "instance": "b:80", "severity": "page"},
                    "annotations": {"summary": "latency is high", "description": "b is slow"},
                    "startsAt": "2023-11-14T22:13:20.25Z",
                    "endsAt": "2023-11-14T22:23:20Z",
                    "generatorURL": "http://lookout.example:3000/graph?g0.expr=up",
                    "fingerprint": fingerprints[1],
                },
            ],
            "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {"alertname": "HighLatency", "severity": "page"},
            "commonAnnotations": {"summary": "latency is high"},
            "externalURL": "http://lookout.example:3000",
            "version": "4",
            "groupKey": "{}:{alertname=\"HighLatency\"}",
            "truncatedAlerts": 0,
        })
    );
    eventually("sent counted", || metric(&registry, "lookout_rules_notifications_sent_total", Some(&url)) == 3.0).await;
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn alertmanager_gets_postable_alerts_under_its_path_prefix() {
    let mut am = TestServer::ok().await;
    let base = format!("{}/am/", am.base);
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let notifier = Notifier::start(options(&[&base], &[]), &registry, stop.clone()).unwrap();
    let push_url = format!("{}/am/api/v2/alerts", am.base);
    assert_eq!(notifier.alertmanagers(), std::slice::from_ref(&push_url));
    assert_eq!(notifier.receivers(), [ReceiverInfo { kind: ReceiverKind::Alertmanager, url: push_url.clone() }]);

    let alert = Alert {
        labels: map(&[("alertname", "HighLatency"), ("instance", "a:80")]),
        annotations: map(&[("summary", "latency is high")]),
        starts_at: UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000),
        ends_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_600)),
        generator_url: "http://lookout:3000/graph".to_owned(),
        tenant: None,
    };
    notifier.send(vec![alert]);
    let got = am.next().await;
    assert_eq!(got.path, "/am/api/v2/alerts");
    assert_eq!(
        got.body,
        json!([{
            "labels": {"alertname": "HighLatency", "instance": "a:80"},
            "annotations": {"summary": "latency is high"},
            "startsAt": "2023-11-14T22:13:20.250Z",
            "endsAt": "2023-11-14T22:23:20.000Z",
            "generatorURL": "http://lookout:3000/graph",
        }])
    );
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn receiver_failing_twice_gets_the_batch_on_the_third_try() {
    let mut am = TestServer::start(|n| {
        Box::pin(async move { if n < 2 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK } })
    })
    .await;
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let notifier = Notifier::start(options(&[&am.base], &[]), &registry, stop.clone()).unwrap();
    let url = notifier.alertmanagers().remove(0);
    notifier.send(vec![firing("A", "x"), firing("B", "y")]);

    let tries = [am.next().await, am.next().await, am.next().await];
    for t in &tries {
        assert_eq!(t.body, tries[0].body, "every try carries the same batch");
        assert_eq!(names(&t.body), ["A", "B"]);
    }
    eventually("third try counted as sent", || {
        metric(&registry, "lookout_rules_notifications_sent_total", Some(&url)) == 2.0
    })
    .await;
    assert_eq!(metric(&registry, "lookout_rules_notifications_errors_total", Some(&url)), 4.0);
    assert_eq!(metric(&registry, "lookout_rules_notifications_dropped_total", Some(&url)), 0.0);
    assert_eq!(metric(&registry, "lookout_rules_notification_latency_seconds", Some(&url)), 3.0);
    am.assert_no_more();
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn retries_run_out_and_the_batch_is_dropped() {
    let mut am = TestServer::start(|_| Box::pin(async { StatusCode::SERVICE_UNAVAILABLE })).await;
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let notifier = Notifier::start(options(&[&am.base], &[]), &registry, stop.clone()).unwrap();
    let url = notifier.alertmanagers().remove(0);
    notifier.send(vec![firing("A", "x")]);
    for _ in 0..3 {
        am.next().await;
    }
    eventually("batch dropped after 3 tries", || {
        metric(&registry, "lookout_rules_notifications_dropped_total", Some(&url)) == 1.0
    })
    .await;
    assert_eq!(metric(&registry, "lookout_rules_notifications_errors_total", Some(&url)), 3.0);
    am.assert_no_more();
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn client_error_is_not_retried() {
    let mut am =
        TestServer::start(|n| Box::pin(async move { if n == 0 { StatusCode::BAD_REQUEST } else { StatusCode::OK } }))
            .await;
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let notifier = Notifier::start(options(&[&am.base], &[]), &registry, stop.clone()).unwrap();
    let url = notifier.alertmanagers().remove(0);
    notifier.send(vec![firing("Refused", "x")]);
    assert_eq!(names(&am.next().await.body), ["Refused"]);
    eventually("refused batch dropped", || {
        metric(&registry, "lookout_rules_notifications_dropped_total", Some(&url)) == 1.0
    })
    .await;
    // The next request carries the next alerts, not a retry of the refused ones.
    notifier.send(vec![firing("Accepted", "x")]);
    assert_eq!(names(&am.next().await.body), ["Accepted"]);
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn receiver_that_is_down_does_not_hold_up_another() {
    let down = down_url().await;
    let mut hook = TestServer::ok().await;
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let mut opts = options(&[&down], &[&hook.base]);
    // The down receiver sits in a long backoff while the other one must keep getting alerts.
    opts.retry.initial_backoff = Duration::from_secs(3600);
    opts.retry.max_backoff = Duration::from_secs(3600);
    let notifier = Notifier::start(opts, &registry, stop.clone()).unwrap();
    let down_push = notifier.alertmanagers().remove(0);

    notifier.send(vec![firing("First", "x")]);
    assert_eq!(hook.next().await.body["groupLabels"]["alertname"], "First");
    eventually("connection refused counted", || {
        metric(&registry, "lookout_rules_notifications_errors_total", Some(&down_push)) == 1.0
    })
    .await;
    notifier.send(vec![firing("Second", "x")]);
    assert_eq!(hook.next().await.body["groupLabels"]["alertname"], "Second");
    assert_eq!(metric(&registry, "lookout_rules_notifications_queue_length", Some(&down_push)), 1.0);
    stop.cancel();
    notifier.stopped().await;
    assert_eq!(metric(&registry, "lookout_rules_notifications_dropped_total", Some(&down_push)), 2.0);
}

#[tokio::test]
async fn slow_receiver_does_not_block_send_or_others() {
    // Accepts the connection and never answers.
    let mut slow = TestServer::start(|_| Box::pin(std::future::pending())).await;
    let mut hook = TestServer::ok().await;
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let mut opts = options(&[&slow.base], &[&hook.base]);
    opts.timeout = Duration::from_millis(200);
    opts.retry.max_tries = 1;
    let notifier = Notifier::start(opts, &registry, stop.clone()).unwrap();
    let slow_push = notifier.alertmanagers().remove(0);

    notifier.send(vec![firing("A-One", "x")]);
    assert_eq!(names(&slow.next().await.body), ["A-One"]);
    assert_eq!(hook.next().await.body["groupLabels"]["alertname"], "A-One");
    // The slow receiver holds its request; `send` (synchronous) still returns at once, and the
    // other receiver still gets everything.
    notifier.send(vec![firing("B-Two", "x")]);
    notifier.send(vec![firing("C-Three", "x")]);
    for name in ["B-Two", "C-Three"] {
        assert_eq!(hook.next().await.body["groupLabels"]["alertname"], name);
    }
    eventually("slow request timed out", || {
        metric(&registry, "lookout_rules_notifications_errors_total", Some(&slow_push)) >= 1.0
    })
    .await;
    // After the timeout the slow receiver's task moves on to the rest of its queue.
    let mut rest = Vec::new();
    while rest.len() < 2 {
        rest.extend(names(&slow.next().await.body));
    }
    assert_eq!(rest, ["B-Two", "C-Three"]);
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn full_queue_drops_the_oldest_alerts() {
    let gate = Arc::new(Semaphore::new(0));
    let held = gate.clone();
    let mut am = TestServer::start(move |n| {
        let gate = held.clone();
        Box::pin(async move {
            if n == 0 {
                let _permit = gate.acquire().await;
            }
            StatusCode::OK
        })
    })
    .await;
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let mut opts = options(&[&am.base], &[]);
    opts.queue_capacity = 3;
    let notifier = Notifier::start(opts, &registry, stop.clone()).unwrap();
    let url = notifier.alertmanagers().remove(0);
    assert_eq!(metric(&registry, "lookout_rules_notifications_queue_capacity", None), 3.0);

    notifier.send(vec![firing("A1", "x")]);
    // The receiver holds the first request: everything sent now waits in the queue.
    assert_eq!(names(&am.next().await.body), ["A1"]);
    notifier.send(vec![firing("A2", "x"), firing("A3", "x")]);
    notifier.send(vec![firing("A4", "x"), firing("A5", "x"), firing("A6", "x")]);
    assert_eq!(metric(&registry, "lookout_rules_notifications_dropped_total", Some(&url)), 2.0);
    assert_eq!(metric(&registry, "lookout_rules_notifications_queue_length", Some(&url)), 3.0);

    gate.add_permits(1);
    assert_eq!(names(&am.next().await.body), ["A4", "A5", "A6"]);
    eventually("queue drained", || metric(&registry, "lookout_rules_notifications_sent_total", Some(&url)) == 4.0)
        .await;
    assert_eq!(metric(&registry, "lookout_rules_notifications_queue_length", Some(&url)), 0.0);
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn shutdown_stops_retrying_promptly() {
    let mut am = TestServer::start(|_| Box::pin(async { StatusCode::INTERNAL_SERVER_ERROR })).await;
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let mut opts = options(&[&am.base], &[]);
    opts.retry.initial_backoff = Duration::from_secs(3600);
    opts.retry.max_backoff = Duration::from_secs(3600);
    let notifier = Notifier::start(opts, &registry, stop.clone()).unwrap();
    let url = notifier.alertmanagers().remove(0);
    notifier.send(vec![firing("A", "x")]);
    am.next().await;
    eventually("first failure counted", || {
        metric(&registry, "lookout_rules_notifications_errors_total", Some(&url)) == 1.0
    })
    .await;
    stop.cancel();
    tokio::time::timeout(PATIENCE, notifier.stopped()).await.expect("the notifier did not stop while backing off");
    assert_eq!(metric(&registry, "lookout_rules_notifications_dropped_total", Some(&url)), 1.0);
    am.assert_no_more();
}

#[tokio::test]
async fn registering_twice_in_one_registry_is_an_error() {
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let first = Notifier::start(options(&["http://127.0.0.1:9093"], &[]), &registry, stop.clone()).unwrap();
    let second = Notifier::start(options(&["http://127.0.0.1:9094"], &[]), &registry, stop.clone());
    assert!(matches!(second, Err(NotifyError::Metrics(_))), "got {:?}", second.err());
    // The failed start left the first notifier's metrics as they were.
    let families = registry.gather();
    assert_eq!(families.len(), 6);
    assert!(
        metric(&registry, "lookout_rules_notifications_sent_total", Some("http://127.0.0.1:9093/api/v2/alerts")) == 0.0
    );
    stop.cancel();
    first.stopped().await;
}

#[tokio::test]
async fn invalid_options_are_refused() {
    let registry = Registry::new();
    let stop = CancellationToken::new();
    for (alertmanagers, webhooks) in [
        (vec!["https://am:9093"], vec![]),
        (vec!["am:9093"], vec![]),
        (vec!["http://am:9093/?x=1"], vec![]),
        (vec![], vec!["ftp://hook"]),
        (vec![], vec![""]),
    ] {
        let result = Notifier::start(options(&alertmanagers, &webhooks), &registry, stop.clone());
        assert!(matches!(result, Err(NotifyError::InvalidUrl { .. })), "{alertmanagers:?} {webhooks:?}");
    }
    let mut zero = options(&[], &[]);
    zero.queue_capacity = 0;
    assert!(matches!(Notifier::start(zero, &registry, stop.clone()), Err(NotifyError::InvalidOption(_))));
    // Nothing was registered by the refused starts.
    assert!(registry.gather().is_empty());
}

#[test]
fn alertmanager_urls_take_the_api_path() {
    let url = |base: &str| alertmanager_url(base).unwrap().0;
    assert_eq!(url("http://127.0.0.1:9093"), "http://127.0.0.1:9093/api/v2/alerts");
    assert_eq!(url("http://127.0.0.1:9093/"), "http://127.0.0.1:9093/api/v2/alerts");
    assert_eq!(url(" http://am/prefix/ "), "http://am/prefix/api/v2/alerts");
    assert_eq!(url("http://am/prefix/api/v2/alerts"), "http://am/prefix/api/v2/alerts");
}

#[tokio::test]
async fn duplicate_receivers_are_one() {
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let notifier = Notifier::start(
        options(&["http://am:9093", "http://am:9093/"], &["http://hook/x", "http://hook/x"]),
        &registry,
        stop.clone(),
    )
    .unwrap();
    assert_eq!(
        notifier.receivers(),
        [
            ReceiverInfo { kind: ReceiverKind::Alertmanager, url: "http://am:9093/api/v2/alerts".to_owned() },
            ReceiverInfo { kind: ReceiverKind::Webhook, url: "http://hook/x".to_owned() },
        ]
    );
    stop.cancel();
    notifier.stopped().await;
}

#[tokio::test]
async fn each_tenants_alerts_go_in_requests_of_their_own_naming_the_tenant() {
    let (mut am, mut hook) = (TestServer::ok().await, TestServer::ok().await);
    let registry = Registry::new();
    let stop = CancellationToken::new();
    let notifier = Notifier::start(options(&[&am.base], &[&hook.base]), &registry, stop.clone()).unwrap();
    let of = |tenant: Option<&str>, name: &str| Alert { tenant: tenant.map(str::to_owned), ..firing(name, "a:80") };
    notifier.send(vec![of(None, "A"), of(Some("team-a"), "A"), of(Some("team-b"), "B"), of(Some("team-a"), "C")]);
    let mut to_am: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for _ in 0..3 {
        let got = am.next().await;
        to_am.push((got.tenant, names(&got.body)));
    }
    to_am.sort();
    assert_eq!(
        to_am,
        [
            (None, vec!["A".to_owned()]),
            (Some("team-a".to_owned()), vec!["A".to_owned(), "C".to_owned()]),
            (Some("team-b".to_owned()), vec!["B".to_owned()]),
        ]
    );
    am.assert_no_more();
    // A webhook gets one request per tenant and alertname.
    let mut to_hook: Vec<(Option<String>, String)> = Vec::new();
    for _ in 0..4 {
        let got = hook.next().await;
        to_hook.push((got.tenant, got.body["groupLabels"]["alertname"].as_str().unwrap().to_owned()));
    }
    to_hook.sort();
    let want: Vec<(Option<String>, String)> =
        [(None, "A"), (Some("team-a"), "A"), (Some("team-a"), "C"), (Some("team-b"), "B")]
            .into_iter()
            .map(|(t, n)| (t.map(str::to_owned), n.to_owned()))
            .collect();
    assert_eq!(to_hook, want);
    stop.cancel();
    notifier.stopped().await;
}
