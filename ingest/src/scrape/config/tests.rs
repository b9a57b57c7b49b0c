use std::time::Duration;

use lookout_storage::Labels;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn load(yaml: &str) -> PrometheusConfig {
    PrometheusConfig::from_yaml(yaml).unwrap()
}

fn load_err(yaml: &str) -> String {
    PrometheusConfig::from_yaml(yaml).unwrap_err().to_string()
}

const FULL: &str = r#"
global:
  scrape_interval: 15s
  evaluation_interval: 30s
  external_labels:
    cluster: eu-1
scrape_configs:
  - job_name: node
    scrape_interval: 1m30s
    scrape_timeout: 20s
    metrics_path: /probe
    scheme: https
    params:
      module: [http_2xx, tcp]
      target: ["a b&c"]
    honor_labels: true
    honor_timestamps: false
    sample_limit: 1000
    label_limit: 30
    static_configs:
      - targets: ["10.0.0.1:9100", "10.0.0.2:9100"]
        labels:
          env: prod
      - targets: ["10.0.0.3:9100"]
    relabel_configs:
      - source_labels: [__address__]
        regex: "10\\.0\\.0\\.2:.*"
        action: drop
    metric_relabel_configs:
      - regex: go_.*
        source_labels: [__name__]
        action: drop
  - job_name: self
    static_configs:
      - targets: ["localhost:9090"]
"#;

#[test]
fn full_config_loads_with_defaults_filled() {
    let c = load(FULL);
    assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(30));
    assert_eq!(c.global.external_labels.get("cluster").map(String::as_str), Some("eu-1"));
    let node = &c.scrape_configs[0];
    assert_eq!(node.scrape_interval, Duration::from_secs(90));
    assert_eq!(node.scrape_timeout, Duration::from_secs(20));
    assert_eq!(node.scheme, Scheme::Https);
    assert!(node.honor_labels && !node.honor_timestamps);
    assert_eq!((node.sample_limit, node.label_limit), (1000, 30));
    assert_eq!(node.relabel_configs.len(), 1);
    assert_eq!(node.metric_relabel_configs.len(), 1);
    let own = &c.scrape_configs[1];
    assert_eq!(own.scrape_interval, Duration::from_secs(15));
    assert_eq!(own.scrape_timeout, Duration::from_secs(10));
    assert_eq!(own.metrics_path, "/metrics");
    assert_eq!(own.scheme, Scheme::Http);
    assert!(!own.honor_labels && own.honor_timestamps);
}

#[test]
fn minimal_config_loads() {
    let c = load("scrape_configs:\n  - job_name: x\n");
    assert_eq!(c.global, GlobalConfig::default());
    assert_eq!(c.scrape_configs[0].scrape_interval, Duration::from_secs(60));
    assert_eq!(c.scrape_configs[0].scrape_timeout, Duration::from_secs(10));
    assert_eq!(load("").scrape_configs.len(), 0);
}

#[test]
fn short_global_interval_caps_the_default_timeout() {
    let c = load(
        "global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: x\n  - job_name: y\n    scrape_interval: 2s\n",
    );
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
    assert_eq!(c.scrape_configs[1].scrape_timeout, Duration::from_secs(2));
}

#[test]
fn wrong_keys_and_values_are_named() {
    let err = load_err("scrape_configs:\n  - job_name: x\n    scrape_intervall: 1m\n");
    assert!(err.contains("unknown field `scrape_intervall`"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    let err = load_err("global:\n  scrape_interval: 1m\n  colour: red\n");
    assert!(err.contains("unknown field `colour`"), "{err}");
    let err =
        load_err("scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: [a]\n        label: {}\n");
    assert!(err.contains("unknown field `label`"), "{err}");
    let err = load_err("scrape_configs:\n  - job_name: x\n    scrape_interval: 1.5m\n");
    assert!(err.contains("not a valid duration string: \"1.5m\""), "{err}");
    let err = load_err("scrape_configs:\n  - job_name: x\n    scheme: ftp\n");
    assert!(err.contains("unknown variant `ftp`"), "{err}");
    let err = load_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: replace\n");
    assert!(err.contains("relabel configuration for replace action requires 'target_label' value"), "{err}");
}

#[test]
fn invalid_values_are_rejected() {
    let cases = [
        (
            "scrape_configs:\n  - job_name: x\n    scrape_interval: 10s\n    scrape_timeout: 11s\n",
            "scrape timeout greater than scrape interval for scrape config with job name \"x\"",
        ),
        (
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
            "global scrape timeout greater than scrape interval",
        ),
        ("scrape_configs:\n  - job_name: x\n  - job_name: x\n", "found multiple scrape configs with job name \"x\""),
        ("scrape_configs:\n  - job_name: ''\n", "job_name is empty"),
        (
            "scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: ['http://a:1/metrics']\n",
            "\"http://a:1/metrics\" is not a valid hostname",
        ),
        (
            "scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: [a]\n        labels: {a-b: c}\n",
            "\"a-b\" is not a valid label name",
        ),
        ("global:\n  external_labels: {1x: y}\n", "\"1x\" is not a valid label name"),
    ];
    for (yaml, want) in cases {
        assert_eq!(load_err(yaml), want, "{yaml}");
    }
}

#[test]
fn targets_are_labelled_as_prometheus_does() {
    let c = load(FULL);
    let node = targets(&c.scrape_configs[0], &c.global);
    // 10.0.0.2 is dropped by relabelling.
    assert_eq!(node.len(), 2);
    assert_eq!(node[0].labels, labels(&[("env", "prod"), ("instance", "10.0.0.1:9100"), ("job", "node")]));
    assert_eq!(node[1].labels, labels(&[("instance", "10.0.0.3:9100"), ("job", "node")]));
    assert_eq!(node[0].url, "https://10.0.0.1:9100/probe?module=http_2xx&module=tcp&target=a+b%26c");
    assert_eq!(node[0].scrape_interval, Duration::from_secs(90));
    assert_eq!(node[0].scrape_timeout, Duration::from_secs(20));
    let want_discovered = labels(&[
        ("__address__", "10.0.0.1:9100"),
        ("__metrics_path__", "/probe"),
        ("__param_module", "http_2xx"),
        ("__param_target", "a b&c"),
        ("__scheme__", "https"),
        ("__scrape_interval__", "1m30s"),
        ("__scrape_timeout__", "20s"),
        ("env", "prod"),
        ("job", "node"),
    ]);
    assert_eq!(node[0].discovered_labels, want_discovered);
    let own = targets(&c.scrape_configs[1], &c.global);
    assert_eq!(own[0].url, "http://localhost:9090/metrics");
    assert_eq!(own[0].discovered_labels.get("__scrape_interval__"), Some("15s"));
}

#[test]
fn relabelling_rewrites_address_path_params_and_interval() {
    let yaml = r#"
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets: ["example.com"]
        labels:
          job: custom-job
          __meta_zone: a
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: exporter:9115
      - target_label: __scrape_interval__
        replacement: 30s
      - source_labels: [__meta_zone]
        target_label: zone
"#;
    let c = load(yaml);
    let t = targets(&c.scrape_configs[0], &c.global);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].url, "http://exporter:9115/probe?module=http_2xx&target=example.com");
    // Group labels may set `job` (the job name only fills it in when absent); __meta_ labels go.
    assert_eq!(t[0].labels, labels(&[("instance", "example.com"), ("job", "custom-job"), ("zone", "a")]));
    assert_eq!(t[0].scrape_interval, Duration::from_secs(30));
}

#[test]
fn targets_left_invalid_by_relabelling_are_skipped() {
    let yaml = |rule: &str| {
        format!(
            "scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: [a:1, b:2]\n    relabel_configs:\n{rule}"
        )
    };
    let count = |rule: &str| {
        let c = load(&yaml(rule));
        targets(&c.scrape_configs[0], &c.global).len()
    };
    assert_eq!(
        count("      - {source_labels: [__address__], regex: 'a:1', target_label: __address__, replacement: ''}\n"),
        1
    );
    assert_eq!(count("      - {target_label: __scrape_interval__, replacement: nonsense}\n"), 0);
    assert_eq!(count("      - {target_label: __scrape_timeout__, replacement: 2m}\n"), 0);
    assert_eq!(count("      - {target_label: __address__, replacement: 'h/x'}\n"), 0);
    assert_eq!(count("      - {source_labels: [__address__], regex: 'b:.*', action: keep}\n"), 1);
}

#[test]
fn merge_renames_clashing_sample_labels_without_honor_labels() {
    let target = labels(&[("instance", "a:1"), ("job", "node")]);
    let sample = labels(&[("__name__", "up"), ("job", "inner"), ("exported_job", "taken"), ("x", "y")]);
    let got = merge_sample_labels(sample.clone(), &target, false);
    let want = labels(&[
        ("__name__", "up"),
        ("exported_exported_job", "inner"),
        ("exported_job", "taken"),
        ("instance", "a:1"),
        ("job", "node"),
        ("x", "y"),
    ]);
    assert_eq!(got, want);
    let got = merge_sample_labels(sample, &target, true);
    let want =
        labels(&[("__name__", "up"), ("exported_job", "taken"), ("instance", "a:1"), ("job", "inner"), ("x", "y")]);
    assert_eq!(got, want);
}

#[test]
fn merge_resolves_clashes_shortest_name_first() {
    // Prometheus's TestMutateSampleLabels-style case: `exported_` renames are resolved in
    // order of name length, so "a" takes exported_a before "exported_a" needs it.
    let target = labels(&[("a", "t1"), ("exported_a", "t2")]);
    let sample = labels(&[("__name__", "m"), ("a", "s1"), ("exported_a", "s2")]);
    let got = merge_sample_labels(sample, &target, false);
    let want = labels(&[
        ("__name__", "m"),
        ("a", "t1"),
        ("exported_a", "t2"),
        ("exported_exported_a", "s1"),
        ("exported_exported_exported_a", "s2"),
    ]);
    assert_eq!(got, want);
}

#[test]
fn url_escaping_follows_go() {
    assert_eq!(escape("/a b/c?d", false), "/a%20b/c%3Fd");
    assert_eq!(escape("a b&c=d/é", true), "a+b%26c%3Dd%2F%C3%A9");
    let l = labels(&[("__address__", "h:1"), ("__scheme__", "http"), ("__metrics_path__", "metrics")]);
    assert_eq!(target_url(&l, &BTreeMap::new()), "http://h:1/metrics");
}
