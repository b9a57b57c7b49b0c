//! A real Prometheus (Debian's `prometheus` package) scrapes itself and remote-writes to
//! Lookout; afterwards both hold the same series and samples, read from each over remote read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Lookout, Prometheus, ReadSeries, eventually, http_client, now_ms, remote_read};

const EQ: i32 = 0;

fn start_prometheus(dir: &std::path::Path, remote_write: &str) -> Prometheus {
    Prometheus::start(dir, |port| {
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
             remote_write:\n  - url: {remote_write}\n    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 50ms\n      max_backoff: 500ms\n"
        )
    })
}

/// Series with their values as bits, so that NaNs (staleness markers) compare equal.
type Bits = Vec<(std::collections::BTreeMap<String, String>, Vec<(i64, u64)>)>;

fn bits(series: &[ReadSeries]) -> Bits {
    series.iter().map(|(l, s)| (l.clone(), s.iter().map(|&(t, v)| (t, v.to_bits())).collect())).collect()
}

#[test]
fn lookout_holds_what_a_real_prometheus_scraped_and_remote_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let lookout = Lookout::start(&dir.path().join("lookout"), &[]);
    let prometheus = start_prometheus(dir.path(), &format!("http://{}/api/v1/write", lookout.http));
    let lookout_url = format!("http://{}", lookout.http);
    let job = [(EQ, "job", "prometheus")];
    // Wait for a few scrapes to arrive, then compare everything up to a scrape well before the
    // newest one (later samples may still be in Prometheus's send queue).
    let until = eventually("five scrapes in lookout", || {
        let up = remote_read(&lookout_url, &[(EQ, "__name__", "up"), job[0]], 0, now_ms() + 60_000);
        let samples = &up.first()?.1;
        (samples.len() >= 5).then(|| samples[samples.len() - 3].0)
    });
    let (ours, theirs) = eventually("the same samples in both", || {
        let ours = remote_read(&lookout_url, &job, 0, until);
        let theirs = remote_read(&prometheus.url, &job, 0, until);
        (bits(&ours) == bits(&theirs)).then_some((ours, theirs))
    });
    assert_eq!(ours.len(), theirs.len());
    assert!(ours.len() > 100, "prometheus exposes hundreds of series; got {}", ours.len());
    let samples: usize = ours.iter().map(|s| s.1.len()).sum();
    assert!(samples >= 3 * ours.len() / 2, "{samples} samples for {} series", ours.len());
    let names: Vec<&str> = ours.iter().map(|s| s.0["__name__"].as_str()).collect();
    for wanted in ["up", "scrape_duration_seconds", "prometheus_build_info", "prometheus_http_requests_total"] {
        assert!(names.contains(&wanted), "{wanted} missing");
    }
    // Every request was accepted whole.
    let text = http_client().get(format!("{lookout_url}/metrics")).send().unwrap().text().unwrap();
    let ok = text.lines().any(|l| {
        l.starts_with("lookout_ingest_requests_total{")
            && l.contains("outcome=\"success\"")
            && l.contains("transport=\"remote_write\"")
    });
    assert!(ok, "{text}");
    assert!(
        !text.lines().any(|l| l.contains("transport=\"remote_write\"")
            && l.contains("outcome=\"invalid\"")
            && !l.ends_with(" 0"))
    );
}
