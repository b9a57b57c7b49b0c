//! The notifier against a real Alertmanager (Debian's `prometheus-alertmanager`): alerts posted to
//! its API show up there as active and go away once resolved, and the webhook payload Alertmanager
//! itself sends for them is the payload Lookout's own webhook sender produces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener as StdTcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lookout_rules::notify::{Alert, Notifier, NotifierOptions};
use prometheus::Registry;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Bound for anything the test waits for; reached only when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);

/// The receiver name in Alertmanager's configuration, and Lookout's webhook receiver name.
const RECEIVER: &str = "hook";

/// A running Alertmanager, killed when dropped.
struct AlertmanagerProcess {
    child: Child,
    base: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for AlertmanagerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AlertmanagerProcess {
    /// Starts Alertmanager on a free port, routing every alert (grouped by `alertname`, quickly)
    /// to a webhook at `webhook_url`, and waits until `/-/ready` answers 200.
    async fn start(webhook_url: &str) -> AlertmanagerProcess {
        assert!(
            Path::new(ALERTMANAGER).exists(),
            "{ALERTMANAGER} is missing: install Debian's prometheus-alertmanager package \
             (apt-get install prometheus-alertmanager) to run this test"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: {RECEIVER}\n  group_by: [alertname]\n  group_wait: 100ms\n  \
                 group_interval: 100ms\n  repeat_interval: 1h\n\
                 receivers:\n  - name: {RECEIVER}\n    webhook_configs:\n      - url: {webhook_url}\n        \
                 send_resolved: true\n"
            ),
        )
        .unwrap();
        let storage = dir.path().join("data");
        std::fs::create_dir(&storage).unwrap();
        let stderr = dir.path().join("stderr.log");
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.external-url={base}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut am = AlertmanagerProcess { child, base, stderr, _dir: dir };
        am.wait_ready().await;
        am
    }

    async fn wait_ready(&mut self) {
        let url = format!("{}/-/ready", self.base);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("alertmanager exited with {status} before it was ready; stderr:\n{}", self.stderr_text());
            }
            if let Some((StatusCode::OK, _)) = get(&url).await {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("alertmanager was not ready within {PATIENCE:?}; stderr:\n{}", self.stderr_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `GET /api/v2/alerts` (which lists neither resolved alerts nor anything else but alerts).
    async fn alerts(&self) -> Vec<Value> {
        let url = format!("{}/api/v2/alerts", self.base);
        match get(&url).await {
            Some((StatusCode::OK, body)) => serde_json::from_slice(&body).unwrap(),
            other => panic!("GET {url}: {other:?}; stderr:\n{}", self.stderr_text()),
        }
    }

    /// Polls the alert list until `done` holds for it.
    async fn wait_alerts(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let alerts = self.alerts().await;
            if done(&alerts) {
                return alerts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; alertmanager lists {alerts:#?}; stderr:\n{}",
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A GET's status and body, `None` if the request failed (e.g. nothing listens yet).
async fn get(url: &str) -> Option<(StatusCode, Vec<u8>)> {
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(url.parse().ok()?)).await.ok()?.ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes().to_vec();
    Some((status, body))
}

/// Webhook bodies received, by path.
struct Hooks {
    base: String,
    bodies: mpsc::UnboundedReceiver<(String, Value)>,
}

async fn record(State(tx): State<Arc<mpsc::UnboundedSender<(String, Value)>>>, uri: Uri, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = tx.send((uri.path().to_owned(), value));
    StatusCode::OK
}

impl Hooks {
    async fn start() -> Hooks {
        let (tx, bodies) = mpsc::unbounded_channel();
        let app = Router::new().fallback(record).with_state(Arc::new(tx));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hooks { base, bodies }
    }

    /// The next body posted to `/am` (by Alertmanager) and to `/lookout` (by the notifier) whose
    /// `status` is `status`.
    async fn next_pair(&mut self, status: &str, am: &AlertmanagerProcess) -> (Value, Value) {
        let (mut from_am, mut from_lookout) = (None, None);
        while from_am.is_none() || from_lookout.is_none() {
            let Ok(Some((path, body))) = tokio::time::timeout(PATIENCE, self.bodies.recv()).await else {
                panic!(
                    "no {status} webhook from {} in time; stderr:\n{}",
                    if from_am.is_none() { "alertmanager" } else { "lookout" },
                    am.stderr_text()
                );
            };
            if body["status"] != status {
                continue;
            }
            match path.as_str() {
                "/am" => from_am = Some(body),
                "/lookout" => from_lookout = Some(body),
                other => panic!("webhook on unexpected path {other}"),
            }
        }
        (from_am.unwrap_or_default(), from_lookout.unwrap_or_default())
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// Lookout's webhook payload has Alertmanager's shape: the same top-level and per-alert keys,
/// and (since both are configured alike) the same values.
fn assert_same_payload(from_am: &Value, from_lookout: &Value) {
    assert_eq!(keys(from_lookout), keys(from_am), "top-level keys differ");
    let (am_alerts, our_alerts) = (from_am["alerts"].as_array().unwrap(), from_lookout["alerts"].as_array().unwrap());
    assert_eq!(our_alerts.len(), am_alerts.len());
    for (ours, theirs) in our_alerts.iter().zip(am_alerts) {
        assert_eq!(keys(ours), keys(theirs), "per-alert keys differ");
    }
    assert_eq!(from_lookout, from_am, "payloads differ");
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(time.duration_since(UNIX_EPOCH).unwrap().as_secs())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_real_alertmanager_and_match_its_webhook_payload() {
    let mut hooks = Hooks::start().await;
    let am = AlertmanagerProcess::start(&format!("{}/am", hooks.base)).await;

    let registry = Registry::new();
    let stop = CancellationToken::new();
    let options = NotifierOptions {
        alertmanagers: vec![format!("{}/", am.base)],
        webhooks: vec![format!("{}/lookout", hooks.base)],
        webhook_receiver: RECEIVER.to_owned(),
        external_url: am.base.clone(),
        ..NotifierOptions::default()
    };
    let notifier = Notifier::start(options, &registry, stop.clone()).unwrap();
    assert_eq!(notifier.alertmanagers(), [format!("{}/api/v2/alerts", am.base)]);

    // Whole seconds, so that Alertmanager's millisecond timestamps print as Lookout's do.
    let now = whole_seconds(SystemTime::now());
    let labels: BTreeMap<String, String> =
        [("alertname", "LookoutNotifierTest"), ("severity", "page"), ("instance", "db-1:9100")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let mut alert = Alert {
        labels: labels.clone(),
        annotations: [("summary".to_owned(), "the database is on fire".to_owned())].into(),
        starts_at: now - Duration::from_secs(60),
        ends_at: Some(now + Duration::from_secs(3600)),
        generator_url: "http://lookout.test:3000/graph?g0.expr=up%3D%3D0".to_owned(),
        // A tenant's alert carries X-Scope-OrgID, which a single-tenant Alertmanager ignores.
        tenant: Some("team-a".to_owned()),
    };
    notifier.send(vec![alert.clone()]);

    let want_labels = serde_json::to_value(&labels).unwrap();
    let listed = am
        .wait_alerts("the alert to be active", |alerts| {
            alerts.iter().any(|a| a["labels"] == want_labels && a["status"]["state"] == "active")
        })
        .await;
    let listed = listed.iter().find(|a| a["labels"] == want_labels).unwrap();
    assert_eq!(listed["annotations"]["summary"], "the database is on fire");
    assert_eq!(listed["generatorURL"], alert.generator_url);
    assert_eq!(listed["fingerprint"], alert.fingerprint(), "fingerprint differs from Alertmanager's");

    let (from_am, from_lookout) = hooks.next_pair("firing", &am).await;
    assert_eq!(from_am["version"], "4");
    assert_eq!(from_am["groupKey"], "{}:{alertname=\"LookoutNotifierTest\"}");
    assert_same_payload(&from_am, &from_lookout);

    // Resolved: Alertmanager's v2 API leaves resolved alerts out of the list altogether.
    alert.ends_at = Some(now - Duration::from_secs(1));
    notifier.send(vec![alert.clone()]);
    am.wait_alerts("the resolved alert to leave the list", |alerts| alerts.iter().all(|a| a["labels"] != want_labels))
        .await;
    let (from_am, from_lookout) = hooks.next_pair("resolved", &am).await;
    assert_eq!(from_am["alerts"][0]["status"], "resolved");
    assert_same_payload(&from_am, &from_lookout);

    stop.cancel();
    notifier.stopped().await;
}
