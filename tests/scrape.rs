//! Scraping end to end: Lookout pulls a fixture exposition from a small HTTP server and a real
//! Prometheus's own `/metrics` (Debian's package); when the fixture server stops, `up` goes to 0
//! and every series it exposed gets Prometheus's staleness marker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Lookout, Prometheus, eventually, http_client, now_ms, remote_read};

const EQ: i32 = 0;
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Serves the fixture over HTTP/1.1 until `stop` is set; then the port refuses connections.
fn fixture_server(stop: Arc<AtomicBool>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/scrape/fixture.prom")).unwrap();
    let handle = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut out = stream;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(&body));
        }
    });
    (port, handle)
}

#[test]
fn lookout_scrapes_a_fixture_and_prometheus_and_marks_a_vanished_target_stale() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (fixture_port, server) = fixture_server(stop.clone());
    let prometheus = Prometheus::start(dir.path(), |_| "scrape_configs: []\n".into());
    let prometheus_port = prometheus.port;
    let config = format!(
        "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n  external_labels: {{}}\n\
             scrape_configs:\n\
             \x20 - job_name: fixture\n    static_configs:\n      - targets: ['127.0.0.1:{fixture_port}']\n        labels: {{env: test}}\n\
             \x20   metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: go_.*\n        action: drop\n\
             \x20 - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prometheus_port}']\n"
    );
    let lookout = Lookout::start_with_config(dir.path(), &config, &[]);
    let base = format!("http://{}", lookout.http);
    let read = |matchers: &[(i32, &str, &str)]| remote_read(&base, matchers, 0, now_ms() + 60_000);

    let fixture = eventually("the fixture scraped twice", || {
        let s = read(&[(EQ, "job", "fixture"), (EQ, "__name__", "shop_orders_total")]);
        (s.len() == 2 && s.iter().all(|x| x.1.len() >= 2)).then_some(s)
    });
    let eu = &fixture[0];
    assert_eq!(eu.0["region"], "eu");
    assert_eq!(eu.0["env"], "test", "target labels are added");
    assert_eq!(eu.0["instance"], format!("127.0.0.1:{fixture_port}"));
    assert!(eu.1.iter().all(|s| s.1 == 1027.0));
    let info = read(&[(EQ, "__name__", "shop_info")]);
    assert_eq!(info[0].0["path"], "C:\\shop\\");
    assert_eq!(info[0].0["quote"], "say \"hi\"");
    assert_eq!(info[0].0["note"], "two\nlines");
    let buckets = read(&[(EQ, "__name__", "shop_request_seconds_bucket")]);
    let les: Vec<&str> = buckets.iter().map(|b| b.0["le"].as_str()).collect();
    assert_eq!(les, vec!["+Inf", "0.1", "0.5"]);
    assert!(read(&[(EQ, "__name__", "go_gc_duration_seconds_count"), (EQ, "job", "fixture")]).is_empty(), "dropped");
    let up = read(&[(EQ, "__name__", "up"), (EQ, "job", "fixture")]);
    assert!(up[0].1.iter().all(|s| s.1 == 1.0));
    let scraped = read(&[(EQ, "__name__", "scrape_samples_scraped"), (EQ, "job", "fixture")]);
    assert_eq!(scraped[0].1.last().unwrap().1, 10.0);
    let post = read(&[(EQ, "__name__", "scrape_samples_post_metric_relabeling"), (EQ, "job", "fixture")]);
    assert_eq!(post[0].1.last().unwrap().1, 9.0);

    // A real Prometheus's own exposition.
    eventually("prometheus's metrics", || {
        let s = read(&[(EQ, "job", "prometheus"), (EQ, "__name__", "prometheus_build_info")]);
        (!s.is_empty()).then_some(())
    });
    let metadata: serde_json::Value =
        http_client().get(format!("{base}/api/v1/metadata?metric=shop_orders_total")).send().unwrap().json().unwrap();
    assert_eq!(metadata["data"]["shop_orders_total"][0]["type"], "counter");
    let targets: serde_json::Value =
        http_client().get(format!("{base}/api/v1/targets")).send().unwrap().json().unwrap();
    let pools: Vec<&str> = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scrapePool"].as_str().unwrap())
        .collect();
    assert_eq!(pools, vec!["fixture", "prometheus", "lookout"], "Lookout scrapes itself by default");

    // The fixture server goes away: up drops to 0 and its series are marked stale.
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
    eventually("up = 0", || {
        let up = read(&[(EQ, "__name__", "up"), (EQ, "job", "fixture")]);
        (up[0].1.last().unwrap().1 == 0.0).then_some(())
    });
    for (labels, samples) in read(&[(EQ, "job", "fixture"), (EQ, "__name__", "shop_orders_total")]) {
        assert_eq!(samples.last().unwrap().1.to_bits(), STALE_NAN, "{labels:?}");
    }
    let queue = read(&[(EQ, "__name__", "shop_queue_depth")]);
    assert_eq!(queue[0].1.last().unwrap().1.to_bits(), STALE_NAN);
    let health: serde_json::Value =
        http_client().get(format!("{base}/api/v1/targets?scrapePool=fixture")).send().unwrap().json().unwrap();
    assert_eq!(health["data"]["activeTargets"][0]["health"], "down");
}
