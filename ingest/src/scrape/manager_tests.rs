//! The scrape loops against a real exporter: an axum server on 127.0.0.1:0 serving a fixture
//! in the text format or OpenMetrics (optionally gzipped), switchable to fail with 500, hang, or
//! go away. Samples are read back from the metrics store the WAL feeds. Every wait polls the
//! store (or the target's health) with a deadline; nothing sleeps in place of readiness.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use lookout_storage::metrics::{Matcher, Querier, SeriesData, Tsdb};
use lookout_storage::{Apply, FsyncPolicy, MetricType, Payload, Tenant, Wal, WalMetrics, WalOptions, is_stale_nan};
use prometheus::Registry;
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::*;
use crate::{IngestMetrics, IngestOptions, Ingester, IntakeOptions, MetricsIntake};

const TEXT: &str = "\
# HELP demo_requests_total Requests handled.
# TYPE demo_requests_total counter
demo_requests_total{code=\"200\"} 10
demo_requests_total{code=\"500\"} 2
# HELP demo_temperature_celsius Current temperature.
# TYPE demo_temperature_celsius gauge
demo_temperature_celsius{job=\"exported\",room=\"lab\"} 21.5
demo_build_info{version=\"1.0\"} 1
";
const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const OPENMETRICS: &str = "\
# TYPE demo_latency_seconds histogram
# HELP demo_latency_seconds Request latency.
# UNIT demo_latency_seconds seconds
demo_latency_seconds_bucket{le=\"0.1\"} 3 # {trace_id=\"abc123\"} 0.05
demo_latency_seconds_bucket{le=\"+Inf\"} 5
demo_latency_seconds_sum 0.9
demo_latency_seconds_count 5
# EOF
";
const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// ---------------------------------------------------------------------------------------------
// The exporter.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    Fail,
    Hang,
}

struct Exposed {
    mode: Mode,
    body: String,
    content_type: &'static str,
    gzip: bool,
    requests: Vec<HeaderMap>,
}

struct Exporter {
    addr: SocketAddr,
    state: Arc<Mutex<Exposed>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    async fn start(body: &str, content_type: &'static str, gzip: bool) -> Exporter {
        let state = Arc::new(Mutex::new(Exposed {
            mode: Mode::Serve,
            body: body.to_owned(),
            content_type,
            gzip,
            requests: Vec::new(),
        }));
        let app = Router::new().route("/metrics", get(exposition)).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Exporter { addr, state, shutdown: Some(tx), task }
    }

    fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    fn set_body(&self, body: &str) {
        self.state.lock().unwrap().body = body.to_owned();
    }

    fn last_request(&self) -> HeaderMap {
        self.state.lock().unwrap().requests.last().cloned().unwrap()
    }

    /// Stops listening and closes every connection.
    async fn vanish(mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
        self.task.await.unwrap();
    }
}

async fn exposition(State(state): State<Arc<Mutex<Exposed>>>, headers: HeaderMap) -> Response {
    let (mode, body, content_type, gzip) = {
        let mut s = state.lock().unwrap();
        s.requests.push(headers.clone());
        (s.mode, s.body.clone(), s.content_type, s.gzip)
    };
    match mode {
        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Mode::Hang => std::future::pending::<Response>().await,
        Mode::Serve if gzip => {
            let accepts = headers.get("accept-encoding").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(accepts.contains("gzip"), "scraper must accept gzip, sent {accepts:?}");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(body.as_bytes()).unwrap();
            ([("content-type", content_type), ("content-encoding", "gzip")], gz.finish().unwrap()).into_response()
        }
        Mode::Serve => ([("content-type", content_type)], body).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// The store.

struct Store {
    _dir: tempfile::TempDir,
    tsdb: Arc<Tsdb>,
    ingester: Arc<Ingester>,
}

/// A real ingester: WAL in a tempdir, each durable record applied to the metrics store.
fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let tsdb = Arc::new(Tsdb::open(&dir.path().join("metrics"), Default::default()).unwrap());
    let into = Arc::clone(&tsdb);
    let apply: Apply = Box::new(move |position, record| {
        if let Payload::Samples(batch) = &record.payload {
            into.apply(position, &record.tenant, batch);
        }
    });
    let options = WalOptions { fsync: FsyncPolicy::Never, ..WalOptions::default() };
    let wal =
        Arc::new(Wal::open(&dir.path().join("wal"), options, WalMetrics::new(&registry).unwrap(), apply).unwrap());
    let intake = Arc::new(MetricsIntake::new(Arc::clone(&tsdb), IntakeOptions::default()));
    let ingester =
        Arc::new(Ingester::new(wal, IngestMetrics::new(&registry).unwrap(), IngestOptions::default(), intake));
    Store { _dir: dir, tsdb, ingester }
}

impl Store {
    /// Series named `name` whose labels include every pair of `with`.
    fn select(&self, name: &str, with: &[(&str, &str)]) -> Vec<SeriesData> {
        let mut matchers = vec![Matcher::equal("__name__", name)];
        matchers.extend(with.iter().map(|(n, v)| Matcher::equal(*n, *v)));
        self.tsdb.select(&Tenant::default(), &matchers, 0, i64::MAX).unwrap()
    }

    /// The values of the one series matching, oldest first.
    fn values(&self, name: &str, with: &[(&str, &str)]) -> Vec<f64> {
        let found = self.select(name, with);
        assert!(found.len() <= 1, "{name} {with:?} matches {} series", found.len());
        found.first().map(|s| s.samples.iter().map(|s| s.v).collect()).unwrap_or_default()
    }

    fn last(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        self.values(name, with).last().copied()
    }

    fn start(&self, yaml: &str) -> ScrapeManager {
        self.start_with(yaml, ScrapeOptions::default())
    }

    fn start_with(&self, yaml: &str, options: ScrapeOptions) -> ScrapeManager {
        let config = PrometheusConfig::from_yaml(yaml).unwrap();
        ScrapeManager::start_with(
            Arc::clone(&self.ingester),
            config.global,
            config.scrape_configs,
            Tenant::default(),
            options,
        )
    }
}

/// One job scraping `addr` every 100 ms, with `extra` lines added to the job.
fn job(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!(
        "  - job_name: {name}\n    scrape_interval: 100ms\n{extra}    static_configs:\n      - targets: [\"{addr}\"]\n"
    )
}

fn config(jobs: &[String]) -> String {
    format!("scrape_configs:\n{}", jobs.concat())
}

/// Polls `check` until it gives a value; fails after 10 s.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Target `i` once its health is `health` (recorded just after the scrape's write lands).
async fn health_of(manager: &ScrapeManager, i: usize, health: Health) -> TargetHealth {
    eventually("the target's health", || manager.targets().into_iter().nth(i).filter(|t| t.health == health)).await
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn text_samples_land_with_target_labels_and_report_series() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let addr = exporter.addr.to_string();
    let manager = s.start(&config(&[job("demo", exporter.addr, "")]));
    eventually("two successful scrapes", || (s.values("up", &[]).len() >= 2).then_some(())).await;
    assert!(s.values("up", &[]).iter().all(|v| *v == 1.0));

    let requests = s.select("demo_requests_total", &[("code", "200")]);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].labels,
        lookout_storage::Labels::from_pairs([
            ("__name__", "demo_requests_total"),
            ("code", "200"),
            ("instance", addr.as_str()),
            ("job", "demo")
        ])
    );
    assert_eq!(requests[0].samples[0].v, 10.0);
    assert_eq!(s.last("demo_temperature_celsius", &[("job", "demo"), ("exported_job", "exported")]), Some(21.5));
    assert_eq!(s.last("scrape_samples_scraped", &[("job", "demo"), ("instance", &addr)]), Some(4.0));
    assert_eq!(s.last("scrape_samples_post_metric_relabeling", &[]), Some(4.0));
    let added = s.values("scrape_series_added", &[]);
    assert_eq!(&added[..2], &[4.0, 0.0], "new series only in the first scrape");
    assert!(s.last("scrape_duration_seconds", &[]).unwrap() > 0.0);
    let up = s.select("up", &[]);
    let requests = s.select("demo_requests_total", &[("code", "200")]);
    assert_eq!(up[0].samples[0].t, requests[0].samples[0].t, "samples carry the scrape's time");

    let metadata = s.tsdb.metadata(&Tenant::default(), Some("demo_requests_total"), None);
    assert_eq!(metadata.len(), 1);
    assert_eq!(metadata[0].kind, MetricType::Counter);
    assert_eq!(metadata[0].help, "Requests handled.");

    let headers = exporter.last_request();
    assert_eq!(headers["accept"], ACCEPT_HEADER);
    assert_eq!(headers["accept-encoding"], "gzip");
    assert_eq!(headers["user-agent"], format!("Lookout/{}", env!("CARGO_PKG_VERSION")).as_str());
    assert_eq!(headers["x-prometheus-scrape-timeout-seconds"], "0.1");

    let health = manager.targets();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].health, Health::Up, "recorded before the second scrape was written");
    assert_eq!(health[0].last_error, "");
    assert!(health[0].last_scrape.is_some());
    assert_eq!(health[0].scrape_url, format!("http://{addr}/metrics"));

    manager.stop().await;
    for name in ["up", "scrape_duration_seconds", "demo_requests_total", "demo_build_info"] {
        for series in s.select(name, &[]) {
            let last = series.samples.last().unwrap();
            assert!(is_stale_nan(last.v), "{} not marked stale on stop", series.labels);
        }
    }
}

#[tokio::test]
async fn openmetrics_gzip_bodies_are_decompressed_and_exemplars_kept() {
    let s = store();
    let exporter = Exporter::start(OPENMETRICS, OPENMETRICS_TYPE, true).await;
    let manager = s.start(&config(&[job("om", exporter.addr, "")]));
    eventually("a scrape", || s.last("up", &[]).filter(|v| *v == 1.0)).await;
    assert_eq!(s.last("demo_latency_seconds_bucket", &[("le", "0.1")]), Some(3.0));
    assert_eq!(s.last("demo_latency_seconds_count", &[("job", "om")]), Some(5.0));
    assert_eq!(s.last("scrape_samples_scraped", &[]), Some(4.0));
    let exemplars = s.tsdb.exemplars(&Tenant::default(), &[vec![Matcher::equal("le", "0.1")]], 0, i64::MAX);
    assert_eq!(exemplars.len(), 1);
    assert_eq!(exemplars[0].1[0].labels.get("trace_id"), Some("abc123"));
    let metadata = s.tsdb.metadata(&Tenant::default(), Some("demo_latency_seconds"), None);
    assert_eq!(metadata[0].kind, MetricType::Histogram);
    assert_eq!(metadata[0].unit, "seconds");
    manager.stop().await;
}

#[tokio::test]
async fn failed_scrapes_report_down_and_mark_every_series_stale() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let manager = s.start(&config(&[job("demo", exporter.addr, "")]));
    eventually("a good scrape", || s.last("up", &[]).filter(|v| *v == 1.0)).await;

    exporter.set_mode(Mode::Fail);
    eventually("a failed scrape", || s.last("up", &[]).filter(|v| *v == 0.0)).await;
    let health = health_of(&manager, 0, Health::Down).await;
    assert_eq!(health.last_error, "server returned HTTP status 500 Internal Server Error");
    for series in s.select("demo_requests_total", &[]) {
        assert!(is_stale_nan(series.samples.last().unwrap().v), "{} not stale after failure", series.labels);
    }
    assert_eq!(s.last("scrape_samples_scraped", &[]), Some(0.0));
    let stale_markers = |s: &Store| s.values("demo_build_info", &[]).iter().filter(|v| is_stale_nan(**v)).count();
    eventually("another failed scrape", || {
        (s.values("up", &[]).iter().filter(|v| **v == 0.0).count() >= 2).then_some(())
    })
    .await;
    assert_eq!(stale_markers(&s), 1, "one stale marker, not one per failed scrape");

    exporter.set_mode(Mode::Serve);
    eventually("recovery", || s.last("up", &[]).filter(|v| *v == 1.0)).await;
    assert_eq!(s.last("demo_build_info", &[]), Some(1.0));
    assert_eq!(health_of(&manager, 0, Health::Up).await.last_error, "");
    manager.stop().await;
}

#[tokio::test]
async fn vanished_series_get_stale_markers_others_do_not() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let manager = s.start(&config(&[job("demo", exporter.addr, "")]));
    eventually("a scrape", || s.last("demo_build_info", &[])).await;
    exporter.set_body(&TEXT.replace("demo_build_info{version=\"1.0\"} 1\n", ""));
    eventually("the stale marker", || s.last("demo_build_info", &[]).filter(|v| is_stale_nan(*v))).await;
    let requests = s.values("demo_requests_total", &[("code", "200")]);
    assert!(requests.iter().all(|v| *v == 10.0), "still-exposed series stay fresh: {requests:?}");
    assert_eq!(s.last("up", &[]), Some(1.0));
    manager.stop().await;
}

#[tokio::test]
async fn honor_labels_and_metric_relabel_configs_apply() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let honored = job(
        "honored",
        exporter.addr,
        "    honor_labels: true\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: demo_build_info\n        action: drop\n",
    );
    let manager = s.start(&config(&[honored, job("plain", exporter.addr, "")]));
    eventually("both jobs scraped", || (s.select("up", &[]).len() == 2).then_some(())).await;
    eventually("both jobs' samples", || (s.select("demo_temperature_celsius", &[]).len() == 2).then_some(())).await;
    assert_eq!(s.last("demo_temperature_celsius", &[("job", "exported"), ("room", "lab")]), Some(21.5));
    assert!(s.select("demo_temperature_celsius", &[("job", "exported")])[0].labels.get("exported_job").is_none());
    assert_eq!(s.last("demo_temperature_celsius", &[("job", "plain"), ("exported_job", "exported")]), Some(21.5));
    assert_eq!(s.select("demo_build_info", &[]).len(), 1, "dropped for the honored job only");
    assert_eq!(s.last("demo_build_info", &[("job", "plain")]), Some(1.0));
    assert_eq!(s.last("scrape_samples_scraped", &[("job", "honored")]), Some(4.0));
    assert_eq!(s.last("scrape_samples_post_metric_relabeling", &[("job", "honored")]), Some(3.0));
    assert_eq!(s.last("scrape_samples_post_metric_relabeling", &[("job", "plain")]), Some(4.0));
    manager.stop().await;
}

#[tokio::test]
async fn sample_and_label_limits_fail_the_whole_scrape() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let samples = job("samples", exporter.addr, "    sample_limit: 2\n");
    let labels = job("labels", exporter.addr, "    label_limit: 3\n");
    let manager = s.start(&config(&[samples, labels]));
    eventually("both jobs scraped", || (s.select("up", &[]).len() == 2).then_some(())).await;
    assert_eq!(s.last("up", &[("job", "samples")]), Some(0.0));
    assert_eq!(s.last("up", &[("job", "labels")]), Some(0.0));
    assert!(s.select("demo_requests_total", &[]).is_empty(), "nothing of a failed scrape is kept");
    assert_eq!(s.last("scrape_samples_scraped", &[("job", "samples")]), Some(4.0));
    assert_eq!(s.last("scrape_samples_post_metric_relabeling", &[("job", "samples")]), Some(4.0));
    assert_eq!(health_of(&manager, 0, Health::Down).await.last_error, "sample limit exceeded");
    assert_eq!(
        health_of(&manager, 1, Health::Down).await.last_error,
        "label_limit exceeded (metric: demo_requests_total, number of labels: 4, limit: 3)"
    );
    manager.stop().await;
}

#[tokio::test]
async fn a_hanging_target_times_out() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    exporter.set_mode(Mode::Hang);
    let manager =
        s.start(&config(&[job("slow", exporter.addr, "    scrape_interval: 300ms\n    scrape_timeout: 100ms\n")
            .replace("    scrape_interval: 100ms\n", "")]));
    eventually("a timed-out scrape", || s.last("up", &[]).filter(|v| *v == 0.0)).await;
    let took = s.last("scrape_duration_seconds", &[]).unwrap();
    assert!((0.09..0.29).contains(&took), "scrape took {took}s with a 100ms timeout");
    let error = health_of(&manager, 0, Health::Down).await.last_error;
    assert!(error.ends_with("context deadline exceeded"), "{error}");
    assert_eq!(exporter.last_request()["x-prometheus-scrape-timeout-seconds"], "0.1");
    manager.stop().await;
}

#[tokio::test]
async fn a_target_that_goes_away_is_down() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let addr = exporter.addr;
    let manager = s.start(&config(&[job("demo", addr, "")]));
    eventually("a good scrape", || s.last("up", &[]).filter(|v| *v == 1.0)).await;
    exporter.vanish().await;
    eventually("a failed scrape", || s.last("up", &[]).filter(|v| *v == 0.0)).await;
    let error = health_of(&manager, 0, Health::Down).await.last_error;
    assert!(error.starts_with(&format!("Get \"http://{addr}/metrics\": ")), "{error}");
    assert!(is_stale_nan(s.last("demo_build_info", &[]).unwrap()));
    manager.stop().await;
}

#[tokio::test]
async fn bodies_over_the_size_limit_fail_the_scrape() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, true).await;
    let manager =
        s.start_with(&config(&[job("demo", exporter.addr, "")]), ScrapeOptions { body_size_limit: TEXT.len() - 1 });
    eventually("a failed scrape", || s.last("up", &[]).filter(|v| *v == 0.0)).await;
    assert_eq!(health_of(&manager, 0, Health::Down).await.last_error, "body size limit exceeded");
    manager.stop().await;
}

#[tokio::test]
async fn an_https_job_whose_ca_file_does_not_load_is_down_naming_the_file() {
    let s = store();
    let tls = "    scheme: https\n    tls_config:\n      ca_file: /nonexistent/ca.pem\n";
    let manager = s.start(&config(&[job("tls", "127.0.0.1:1".parse().unwrap(), tls)]));
    let error = health_of(&manager, 0, Health::Down).await.last_error;
    assert!(error.contains("tls_config.ca_file /nonexistent/ca.pem"), "{error}");
    assert_eq!(s.last("up", &[]), Some(0.0));
    manager.stop().await;
}

#[tokio::test]
async fn an_https_target_that_speaks_plain_http_is_down_with_the_tls_error() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let manager = s.start(&config(&[job(
        "tls",
        exporter.addr,
        "    scheme: https\n    tls_config:\n      insecure_skip_verify: true\n",
    )]));
    let error = health_of(&manager, 0, Health::Down).await.last_error;
    assert!(error.starts_with(&format!("Get \"https://{}/metrics\"", exporter.addr)), "{error}");
    manager.stop().await;
}

#[tokio::test]
async fn targets_api_has_prometheus_shape() {
    let s = store();
    let exporter = Exporter::start(TEXT, TEXT_TYPE, false).await;
    let addr = exporter.addr.to_string();
    let manager = s.start(&config(&[job("demo", exporter.addr, "")]));
    let get = |uri: &str| {
        let app = targets_router(manager.status());
        let request = Request::get(uri).body(Body::empty()).unwrap();
        async move {
            let response = app.oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    let before = get("/api/v1/targets").await;
    assert_eq!(before["data"]["activeTargets"][0]["health"], "unknown");
    assert_eq!(before["data"]["activeTargets"][0]["lastScrape"], "0001-01-01T00:00:00Z");

    eventually("a scrape", || (manager.targets()[0].health == Health::Up).then_some(())).await;
    let reply = get("/api/v1/targets").await;
    assert_eq!(reply["status"], "success");
    assert_eq!(reply["data"]["droppedTargets"], serde_json::json!([]));
    let target = &reply["data"]["activeTargets"][0];
    let mut keys: Vec<&str> = target.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "discoveredLabels",
            "globalUrl",
            "health",
            "labels",
            "lastError",
            "lastScrape",
            "lastScrapeDuration",
            "scrapeInterval",
            "scrapePool",
            "scrapeTimeout",
            "scrapeUrl"
        ]
    );
    assert_eq!(target["labels"], serde_json::json!({"instance": addr, "job": "demo"}));
    assert_eq!(target["discoveredLabels"]["__address__"], addr.as_str());
    assert_eq!(target["discoveredLabels"]["__metrics_path__"], "/metrics");
    assert_eq!(target["scrapePool"], "demo");
    assert_eq!(target["scrapeUrl"], format!("http://{addr}/metrics"));
    assert_eq!(target["health"], "up");
    assert_eq!(target["lastError"], "");
    assert_eq!(target["scrapeInterval"], "100ms");
    assert_eq!(target["scrapeTimeout"], "100ms");
    assert!(target["lastScrapeDuration"].as_f64().unwrap() > 0.0);
    assert!(target["lastScrape"].as_str().unwrap().ends_with('Z'));

    let dropped = get("/api/v1/targets?state=dropped").await;
    assert_eq!(dropped["data"]["activeTargets"], serde_json::json!([]));
    let other_pool = get("/api/v1/targets?scrapePool=other").await;
    assert_eq!(other_pool["data"]["activeTargets"], serde_json::json!([]));
    manager.stop().await;
}
