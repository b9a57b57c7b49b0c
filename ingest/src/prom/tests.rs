//! Golden tests: OTLP-shaped batches in, the exact series, samples and metadata out. Expected
//! names and label sets follow Prometheus's own tests (`otlptranslator/metric_namer_test.go`,
//! `normalize_label_test.go`, `prometheusremotewrite/*_test.go`) and the OpenTelemetry spec.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use lookout_storage::{
    AnyValue, Batch, Buckets, Exemplar, ExponentialHistogramPoint, HistogramPoint, KeyValue, Metric, MetricData,
    MetricMetadata, MetricType, Number, NumberPoint, Resource, ResourceGroup, Scope, ScopeGroup, SpanId, SummaryPoint,
    Temporality, Tenant, TraceId, ValueAtQuantile, is_stale_nan,
};

use super::names::{NameKind, label_name, metric_name, unit_name};
use super::{DeltaLimits, TranslateOptions, Translated, Translator};

/// 2023-11-14T22:13:20Z in nanoseconds; `T_MS` in milliseconds.
const T: u64 = 1_700_000_000_000_000_000;
const T_MS: i64 = 1_700_000_000_000;
const SEC: u64 = 1_000_000_000;

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue { key: key.into(), value }
}

fn s(v: &str) -> AnyValue {
    AnyValue::String(v.into())
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| kv(k, s(v))).collect()
}

fn service_resource() -> Resource {
    Resource {
        attributes: attrs(&[
            ("service.name", "api"),
            ("service.namespace", "shop"),
            ("service.instance.id", "i-1"),
            ("host.name", "h1"),
            ("deployment.environment", "prod"),
        ]),
        ..Resource::default()
    }
}

fn batch(resource: Resource, metrics: Vec<Metric>) -> Batch<Metric> {
    let scope = Scope { name: "io.lookout.test".into(), version: "1.0".into(), ..Scope::default() };
    Batch { resources: vec![ResourceGroup { resource, scopes: vec![ScopeGroup { scope, items: metrics }] }] }
}

fn metric(name: &str, unit: &str, data: MetricData) -> Metric {
    Metric { name: name.into(), description: format!("{name} help"), unit: unit.into(), metadata: vec![], data }
}

fn num(attributes: Vec<KeyValue>, start: u64, time: u64, value: Number) -> NumberPoint {
    NumberPoint { attributes, start_time_unix_nano: start, time_unix_nano: time, value, exemplars: vec![], flags: 0 }
}

fn hist(start: u64, time: u64, bounds: &[f64], counts: &[u64], sum: Option<f64>) -> HistogramPoint {
    HistogramPoint {
        attributes: attrs(&[("http.request.method", "GET")]),
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: counts.iter().sum(),
        sum,
        bucket_counts: counts.to_vec(),
        explicit_bounds: bounds.to_vec(),
        exemplars: vec![],
        flags: 0,
        min: None,
        max: None,
    }
}

fn exemplar(value: f64, time: u64) -> Exemplar {
    Exemplar {
        filtered_attributes: attrs(&[("user", "u7")]),
        time_unix_nano: time,
        value: Number::Double(value),
        span_id: SpanId::from_slice(&[0xab; 8]),
        trace_id: TraceId::from_slice(&[0x0f; 16]),
    }
}

/// Every series as `name{labels} => [value@ms, ...]`, in output order.
fn render(out: &Translated) -> Vec<String> {
    out.series
        .iter()
        .map(|s| {
            let samples: Vec<String> = s
                .samples
                .iter()
                .map(|p| if is_stale_nan(p.v) { format!("stale@{}", p.t) } else { format!("{}@{}", p.v, p.t) })
                .collect();
            format!("{} => [{}]", s.labels, samples.join(", "))
        })
        .collect()
}

fn translate(b: &Batch<Metric>, opts: &TranslateOptions) -> Translated {
    Translator::new().translate(&Tenant::default(), b, opts)
}

#[test]
fn metric_names_match_prometheus() {
    use NameKind::{Gauge, MonotonicCounter as Counter, Other};
    let cases: &[(&str, &str, NameKind, &str)] = &[
        ("http.server.request.duration", "s", Other, "http_server_request_duration_seconds"),
        ("system.memory.usage", "By", Other, "system_memory_usage_bytes"),
        ("foo.ratio", "1", Gauge, "foo_ratio"),
        ("cpu_usage", "1", Gauge, "cpu_usage_ratio"),
        ("items", "1", Counter, "items_total"),
        ("requests", "", Counter, "requests_total"),
        ("requests_total", "", Counter, "requests_total"),
        ("requests", "1/s", Gauge, "requests_per_second"),
        ("throughput", "By/s", Gauge, "throughput_bytes_per_second"),
        ("response_time", "ms", Gauge, "response_time_milliseconds"),
        ("response_time_seconds", "s", Gauge, "response_time_seconds"),
        ("custom_metric", "{custom}", Gauge, "custom_metric"),
        ("custom_metric", "By/{custom}", Gauge, "custom_metric_bytes"),
        ("custom_metric", "custom_unit", Gauge, "custom_metric_custom_unit"),
        ("custom_metric", "unit@with#special/chars", Gauge, "custom_metric_unit_with_special_per_chars"),
        (
            "metric__with__multiple__underscores",
            "unit__multiple__underscores",
            Gauge,
            "metric_with_multiple_underscores_unit_multiple_underscores",
        ),
        ("system.network.packets", "{packets}", Counter, "system_network_packets_total"),
        ("system.network.io", "KiBy", Counter, "system_network_io_kibibytes_total"),
        ("system.cpu.utilization", "%", Gauge, "system_cpu_utilization_percent"),
        ("uptime", "d", Gauge, "uptime_days"),
        ("foo", "1/s", Counter, "foo_per_second_total"),
        ("123_requests", "", Counter, "_123_requests_total"),
        ("total.requests", "", Counter, "requests_total"),
        ("métric.with.ñ", "", Gauge, "m_tric_with"),
    ];
    for (name, unit, kind, want) in cases {
        assert_eq!(metric_name(name, unit, *kind, true).as_deref(), Ok(*want), "{name} {unit}");
    }
    assert!(metric_name("@#$%", "", Gauge, true).is_err());
    assert!(metric_name("", "", Gauge, true).is_err());
    // Without suffixes only invalid characters fold; `_` runs stay, as in Prometheus.
    assert_eq!(metric_name("a__b.c", "s", Counter, false).as_deref(), Ok("a__b_c"));
    assert_eq!(metric_name("1st", "", Gauge, false).as_deref(), Ok("_1st"));
}

#[test]
fn units_and_label_names_match_prometheus() {
    for (unit, want) in [
        ("s", "seconds"),
        ("By/s", "bytes_per_second"),
        ("1", ""),
        ("{packets}", ""),
        ("1/s", "per_second"),
        ("%", "percent"),
        ("unit@with#special/chars", "unit_with_special_per_chars"),
    ] {
        assert_eq!(unit_name(unit), want, "{unit}");
    }
    for (key, want) in [
        ("label:with:colons", "label_with_colons"),
        ("LabelWithCapitalLetters", "LabelWithCapitalLetters"),
        ("label!with&special$chars)", "label_with_special_chars_"),
        ("label_with_foreign_characters_字符", "label_with_foreign_characters___"),
        ("label.with.dots", "label_with_dots"),
        ("123label", "key_123label"),
        ("_label_starting_with_underscore", "key_label_starting_with_underscore"),
        ("__label_starting_with_2underscores", "__label_starting_with_2underscores"),
        ("a..b", "a__b"),
    ] {
        assert_eq!(label_name(key).as_deref(), Ok(want), "{key}");
    }
    assert!(label_name("...").is_err());
    assert!(label_name("").is_err());
}

#[test]
fn counter_gauge_and_resource_labels() {
    let counter = metric(
        "http.requests",
        "{request}",
        MetricData::Sum {
            points: vec![num(
                vec![kv("http.method", s("GET")), kv("http.status_code", AnyValue::Int(200)), kv("job", s("ignored"))],
                T - 10 * SEC,
                T,
                Number::Int(10),
            )],
            temporality: Temporality::Cumulative,
            monotonic: true,
        },
    );
    let gauge = metric(
        "foo.ratio",
        "1",
        MetricData::Gauge { points: vec![num(attrs(&[("a.b", "1"), ("a_b", "2")]), 0, T, Number::Double(0.25))] },
    );
    let memory = metric(
        "system.memory.usage",
        "By",
        MetricData::Sum {
            points: vec![num(attrs(&[("state", "used")]), T - SEC, T, Number::Int(1024))],
            temporality: Temporality::Cumulative,
            monotonic: false,
        },
    );
    let opts =
        TranslateOptions { promote_resource_attributes: vec!["deployment.environment".into()], ..Default::default() };
    let out = translate(&batch(service_resource(), vec![counter, gauge, memory]), &opts);
    assert_eq!(
        render(&out),
        [
            format!(
                r#"http_requests_total{{deployment_environment="prod", http_method="GET", http_status_code="200", instance="i-1", job="shop/api"}} => [10@{T_MS}]"#
            ),
            format!(
                r#"foo_ratio{{a_b="1;2", deployment_environment="prod", instance="i-1", job="shop/api"}} => [0.25@{T_MS}]"#
            ),
            format!(
                r#"system_memory_usage_bytes{{deployment_environment="prod", instance="i-1", job="shop/api", state="used"}} => [1024@{T_MS}]"#
            ),
            // Promoted attributes stay on target_info, as in Prometheus; service.* do not.
            format!(
                r#"target_info{{deployment_environment="prod", host_name="h1", instance="i-1", job="shop/api"}} => [1@{T_MS}]"#
            ),
        ]
    );
    assert_eq!(
        out.metadata,
        [
            MetricMetadata {
                metric_family: "http_requests_total".into(),
                kind: MetricType::Counter,
                help: "http.requests help".into(),
                unit: String::new(),
            },
            MetricMetadata {
                metric_family: "foo_ratio".into(),
                kind: MetricType::Gauge,
                help: "foo.ratio help".into(),
                unit: String::new(),
            },
            MetricMetadata {
                metric_family: "system_memory_usage_bytes".into(),
                kind: MetricType::Gauge,
                help: "system.memory.usage help".into(),
                unit: "bytes".into(),
            },
        ]
    );
    assert_eq!((out.rejected_points, out.messages.len()), (0, 0), "{:?}", out.messages);
}

#[test]
fn histogram_buckets_are_cumulative_with_exemplars_in_their_bucket() {
    let mut p = hist(T - 10 * SEC, T, &[0.005, 0.1, 1.0], &[1, 2, 3, 4], Some(12.5));
    p.exemplars = vec![exemplar(0.05, T - SEC), exemplar(5.0, T - 2 * SEC), exemplar(0.1, T - 3 * SEC)];
    let m = metric(
        "http.server.request.duration",
        "s",
        MetricData::Histogram { points: vec![p], temporality: Temporality::Cumulative },
    );
    let resource = Resource { attributes: attrs(&[("service.name", "api")]), ..Resource::default() };
    let out = translate(&batch(resource, vec![m]), &TranslateOptions::default());
    let l = r#"http_request_method="GET", job="api""#;
    assert_eq!(
        render(&out),
        [
            format!("http_server_request_duration_seconds_sum{{{l}}} => [12.5@{T_MS}]"),
            format!("http_server_request_duration_seconds_count{{{l}}} => [10@{T_MS}]"),
            format!(r#"http_server_request_duration_seconds_bucket{{{l}, le="0.005"}} => [1@{T_MS}]"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l}, le="0.1"}} => [3@{T_MS}]"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l}, le="1"}} => [6@{T_MS}]"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l}, le="+Inf"}} => [10@{T_MS}]"#),
        ],
        "no target_info: the resource has only identifying attributes"
    );
    let exemplars: Vec<(usize, f64, i64)> =
        out.series.iter().enumerate().flat_map(|(i, s)| s.exemplars.iter().map(move |e| (i, e.v, e.t))).collect();
    assert_eq!(exemplars, [(3, 0.05, T_MS - 1000), (3, 0.1, T_MS - 3000), (5, 5.0, T_MS - 2000)]);
    let e = &out.series[3].exemplars[0];
    assert_eq!(e.labels.get("trace_id"), Some("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"));
    assert_eq!(e.labels.get("span_id"), Some("abababababababab"));
    assert_eq!(e.labels.get("user"), Some("u7"));
    assert_eq!(out.metadata[0].kind, MetricType::Histogram);
    assert_eq!(out.metadata[0].unit, "seconds");
}

#[test]
fn delta_histograms_accumulate_and_reject_older_streams() {
    let points = vec![
        hist(T, T + SEC, &[1.0], &[1, 1], Some(3.0)),
        hist(T + SEC, T + 2 * SEC, &[1.0], &[2, 0], Some(1.0)),
        // Starts before the stream did: belongs to an older writer.
        hist(T - SEC, T + 3 * SEC, &[1.0], &[5, 5], Some(9.0)),
    ];
    let m = metric("rpc.duration", "ms", MetricData::Histogram { points, temporality: Temporality::Delta });
    let mut tr = Translator::new();
    let out = tr.translate(&Tenant::default(), &batch(Resource::default(), vec![m]), &TranslateOptions::default());
    let l = r#"http_request_method="GET""#;
    let (t1, t2) = (T_MS + 1000, T_MS + 2000);
    assert_eq!(
        render(&out),
        [
            format!("rpc_duration_milliseconds_sum{{{l}}} => [3@{t1}, 4@{t2}]"),
            format!("rpc_duration_milliseconds_count{{{l}}} => [2@{t1}, 4@{t2}]"),
            format!(r#"rpc_duration_milliseconds_bucket{{{l}, le="1"}} => [1@{t1}, 3@{t2}]"#),
            format!(r#"rpc_duration_milliseconds_bucket{{{l}, le="+Inf"}} => [2@{t1}, 4@{t2}]"#),
        ]
    );
    assert_eq!(out.rejected_points, 1);
    assert!(
        out.messages[0].contains(r#"metric "rpc.duration": 1 point rejected: delta point starts"#),
        "{:?}",
        out.messages
    );
    assert_eq!(tr.delta_series(&Tenant::default()), 1);
}

#[test]
fn delta_sums_become_running_totals_across_calls() {
    let sum = |points, monotonic| {
        metric("jobs.done", "", MetricData::Sum { points, temporality: Temporality::Delta, monotonic })
    };
    let tenant = Tenant::new("t1").unwrap();
    let now = Arc::new(AtomicI64::new(0));
    let clock_now = now.clone();
    let mut tr = Translator::with_clock(
        DeltaLimits { max_series_per_tenant: 2, max_idle_ms: 3_600_000 },
        Arc::new(move || clock_now.load(Ordering::SeqCst)),
    );
    let opts = TranslateOptions::default();
    let first = vec![num(vec![], T, T + SEC, Number::Int(3)), num(vec![], T + SEC, T + 2 * SEC, Number::Int(4))];
    let out = tr.translate(&tenant, &batch(Resource::default(), vec![sum(first, true)]), &opts);
    assert_eq!(render(&out), [format!("jobs_done_total{{}} => [3@{}, 7@{}]", T_MS + 1000, T_MS + 2000)]);

    // Next call: a gap before the start is accepted (as the collector does), a repeat is out of order.
    let second = vec![
        num(vec![], T + 5 * SEC, T + 6 * SEC, Number::Double(0.5)),
        num(vec![], T + 5 * SEC, T + 6 * SEC, Number::Int(1)),
    ];
    let out = tr.translate(&tenant, &batch(Resource::default(), vec![sum(second, true)]), &opts);
    assert_eq!(render(&out), [format!("jobs_done_total{{}} => [7.5@{}]", T_MS + 6000)]);
    assert_eq!(out.rejected_points, 1);
    assert!(out.messages[0].contains("out of order"), "{:?}", out.messages);

    // Non-monotonic deltas (an up-down counter) accumulate too and become a gauge.
    let updown = vec![num(vec![], T, T + SEC, Number::Int(5)), num(vec![], T, T + 2 * SEC, Number::Int(-2))];
    let out = tr.translate(&tenant, &batch(Resource::default(), vec![sum(updown, false)]), &opts);
    assert_eq!(render(&out), [format!("jobs_done{{}} => [5@{}, 3@{}]", T_MS + 1000, T_MS + 2000)]);
    assert_eq!(out.metadata[0].kind, MetricType::Gauge);
    assert_eq!(tr.delta_series(&tenant), 2);

    // The tenant is at its limit: a third stream is rejected with a message.
    let third = vec![num(attrs(&[("k", "v")]), T, T + SEC, Number::Int(1))];
    let out = tr.translate(&tenant, &batch(Resource::default(), vec![sum(third, true)]), &opts);
    assert!(out.series.is_empty());
    assert_eq!(out.rejected_points, 1);
    assert!(out.messages[0].contains("delta series limit of 2 per tenant"), "{:?}", out.messages);

    // An hour and a bit later the idle streams are gone.
    now.store(3_700_000, Ordering::SeqCst);
    let _ = tr.translate(&tenant, &Batch::default(), &opts);
    assert_eq!(tr.delta_series(&tenant), 0);
}

#[test]
fn summary_quantiles() {
    let p = SummaryPoint {
        attributes: vec![],
        start_time_unix_nano: T - SEC,
        time_unix_nano: T,
        count: 4,
        sum: 2.5,
        quantile_values: vec![
            ValueAtQuantile { quantile: 0.5, value: 0.4 },
            ValueAtQuantile { quantile: 0.99, value: 1.2 },
        ],
        flags: 0,
    };
    let m = metric("rpc.latency", "s", MetricData::Summary { points: vec![p] });
    let out = translate(&batch(Resource::default(), vec![m]), &TranslateOptions::default());
    assert_eq!(
        render(&out),
        [
            format!("rpc_latency_seconds_sum{{}} => [2.5@{T_MS}]"),
            format!("rpc_latency_seconds_count{{}} => [4@{T_MS}]"),
            format!(r#"rpc_latency_seconds{{quantile="0.5"}} => [0.4@{T_MS}]"#),
            format!(r#"rpc_latency_seconds{{quantile="0.99"}} => [1.2@{T_MS}]"#),
        ]
    );
    assert_eq!(out.metadata[0].kind, MetricType::Summary);
}

#[test]
fn exponential_histograms_are_rejected_with_a_message() {
    let p = ExponentialHistogramPoint {
        attributes: vec![],
        start_time_unix_nano: 0,
        time_unix_nano: T,
        count: 1,
        sum: Some(1.0),
        scale: 0,
        zero_count: 0,
        positive: Buckets { offset: 0, bucket_counts: vec![1] },
        negative: Buckets::default(),
        flags: 0,
        exemplars: vec![],
        min: None,
        max: None,
        zero_threshold: 0.0,
    };
    let m = metric(
        "x",
        "s",
        MetricData::ExponentialHistogram { points: vec![p.clone(), p], temporality: Temporality::Cumulative },
    );
    let out = translate(&batch(Resource::default(), vec![m]), &TranslateOptions::default());
    assert!(out.series.is_empty() && out.metadata.is_empty());
    assert_eq!(out.rejected_points, 2);
    assert!(out.messages[0].starts_with(r#"exponential histogram "x" is not supported yet: "#), "{:?}", out.messages);
}

#[test]
fn no_recorded_value_marks_every_series_stale() {
    let mut p = hist(T - SEC, T, &[1.0], &[1, 1], Some(2.0));
    p.flags = 1;
    let mut g = num(vec![], 0, T, Number::Double(3.0));
    g.flags = 1;
    let metrics = vec![
        metric("h", "", MetricData::Histogram { points: vec![p], temporality: Temporality::Cumulative }),
        metric("g", "", MetricData::Gauge { points: vec![g] }),
    ];
    let out = translate(&batch(Resource::default(), metrics), &TranslateOptions::default());
    assert_eq!(out.series.len(), 5);
    for series in &out.series {
        assert!(series.samples.iter().all(|s| is_stale_nan(s.v) && s.t == T_MS), "{}", series.labels);
    }
}

#[test]
fn invalid_points_are_rejected_never_stored() {
    let bad_counts = hist(0, T, &[1.0, 2.0], &[1, 2], Some(1.0));
    let mut bad_count = hist(0, T, &[1.0], &[1, 2], None);
    bad_count.count = 5;
    let unordered = hist(0, T, &[2.0, 1.0], &[1, 1, 1], None);
    let good = hist(0, T, &[], &[], None);
    let quantile = SummaryPoint {
        attributes: vec![],
        start_time_unix_nano: 0,
        time_unix_nano: T,
        count: 1,
        sum: 1.0,
        quantile_values: vec![ValueAtQuantile { quantile: 1.5, value: 1.0 }],
        flags: 0,
    };
    let metrics = vec![
        metric(
            "h",
            "",
            MetricData::Histogram {
                points: vec![bad_counts, bad_count, unordered, good],
                temporality: Temporality::Cumulative,
            },
        ),
        metric("s", "", MetricData::Summary { points: vec![quantile] }),
        metric(
            "u",
            "",
            MetricData::Sum {
                points: vec![num(vec![], 0, T, Number::Int(1))],
                temporality: Temporality::Unspecified,
                monotonic: true,
            },
        ),
        metric("...", "", MetricData::Gauge { points: vec![num(vec![], 0, T, Number::Int(1))] }),
        metric("g", "", MetricData::Gauge { points: vec![num(attrs(&[("..", "x")]), 0, T, Number::Int(1))] }),
    ];
    let out = translate(&batch(Resource::default(), metrics), &TranslateOptions::default());
    // Only the histogram with no buckets survives: `_count` and `le="+Inf"` (no sum set).
    assert_eq!(
        render(&out),
        [format!("h_count{{http_request_method=\"GET\"}} => [0@{T_MS}]"), {
            format!(r#"h_bucket{{http_request_method="GET", le="+Inf"}} => [0@{T_MS}]"#)
        }]
    );
    assert_eq!(out.rejected_points, 7);
    assert_eq!(out.messages.len(), 5, "{:?}", out.messages);
    assert!(out.messages[0].contains(r#"metric "h": 3 points rejected: histogram has 2 bucket counts for 2 bounds"#));
    assert!(out.messages[1].contains("quantile 1.5"));
    assert!(out.messages[2].contains("no aggregation temporality"));
    assert!(out.messages[3].contains("no valid characters"));
    assert!(out.messages[4].contains("invalid label name"));
}

#[test]
fn target_info_spans_the_resource_interval_and_can_keep_identifying_attributes() {
    let points = vec![num(vec![], 0, T, Number::Int(1)), num(vec![], 0, T + 400 * SEC, Number::Int(2))];
    let m = metric("g", "", MetricData::Gauge { points });
    let b = batch(service_resource(), vec![m]);
    let opts = TranslateOptions { keep_identifying_resource_attributes: true, ..Default::default() };
    let out = translate(&b, &opts);
    let info = out.series.iter().find(|s| s.labels.metric_name() == Some("target_info")).unwrap();
    assert_eq!(
        info.labels.to_string(),
        r#"target_info{deployment_environment="prod", host_name="h1", instance="i-1", job="shop/api", service_instance_id="i-1", service_name="api", service_namespace="shop"}"#
    );
    let times: Vec<i64> = info.samples.iter().map(|s| s.t - T_MS).collect();
    assert_eq!(times, [0, 150_000, 300_000, 400_000]);
    assert!(info.samples.iter().all(|s| s.v == 1.0));
}

#[test]
fn delta_histogram_with_new_bounds_replaces_the_running_total() {
    let points = vec![
        hist(T, T + SEC, &[1.0], &[1, 1], Some(3.0)),
        hist(T + SEC, T + 2 * SEC, &[1.0, 2.0], &[1, 0, 0], Some(0.5)),
        hist(T + 2 * SEC, T + 3 * SEC, &[1.0, 2.0], &[0, 1, 0], Some(1.5)),
    ];
    let m = metric("d", "", MetricData::Histogram { points, temporality: Temporality::Delta });
    let out = translate(&batch(Resource::default(), vec![m]), &TranslateOptions::default());
    let count = out.series.iter().find(|s| s.labels.metric_name() == Some("d_count")).unwrap();
    let values: Vec<f64> = count.samples.iter().map(|s| s.v).collect();
    assert_eq!(values, [2.0, 1.0, 2.0]);
    let le2 = out.series.iter().find(|s| s.labels.get("le") == Some("2")).unwrap();
    assert_eq!(le2.samples.iter().map(|s| s.v).collect::<Vec<_>>(), [1.0, 2.0]);
    assert_eq!(out.rejected_points, 0, "{:?}", out.messages);
}
