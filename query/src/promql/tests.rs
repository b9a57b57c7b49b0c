use lookout_storage::metrics::MemSeries;
use lookout_storage::{Labels, Sample, Tenant};

use super::*;

/// `http_requests_total` for jobs api and web, a sample a minute from 0 to 20 minutes,
/// growing by 60 and 120 a minute.
fn store() -> MemSeries {
    let mut store = MemSeries::new();
    for (job, per_step) in [("api", 60.0), ("web", 120.0)] {
        let labels = Labels::from_pairs([("__name__", "http_requests_total"), ("job", job)]);
        store.append(&labels, (0..=20).map(|i| Sample { t: i * 60_000, v: i as f64 * per_step }).collect());
    }
    store
}

fn tenant() -> Tenant {
    Tenant::default()
}

fn instant(q: &str, t_s: i64) -> Result<QueryOutput, QueryError> {
    Engine::default().instant(&store(), &tenant(), q, t_s * 1000)
}

fn vector(q: &str, t_s: i64) -> Vec<(String, f64)> {
    match instant(q, t_s).expect(q).value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

#[test]
fn rate_of_a_steady_counter_is_its_slope() {
    assert_eq!(
        vector("rate(http_requests_total[5m])", 600),
        vec![("{job=\"api\"}".into(), 1.0), ("{job=\"web\"}".into(), 2.0)]
    );
}

#[test]
fn sum_by_groups_and_drops_other_labels() {
    assert_eq!(
        vector("sum by (job) (http_requests_total)", 600),
        vec![("{job=\"api\"}".into(), 600.0), ("{job=\"web\"}".into(), 1200.0)]
    );
    assert_eq!(vector("sum(rate(http_requests_total[5m]))", 600), vec![("{}".into(), 3.0)]);
}

#[test]
fn lookback_ends_five_minutes_after_the_last_sample() {
    // The last sample is at 20 minutes.
    assert_eq!(vector("http_requests_total", 1499).len(), 2);
    assert!(vector("http_requests_total", 1500).is_empty());
}

#[test]
fn many_to_many_matching_is_an_execution_error() {
    let err = instant("http_requests_total + on() http_requests_total", 600).unwrap_err();
    assert!(matches!(err, QueryError::Execution(ref m) if m.contains("many-to-many matching not allowed")), "{err:?}");
}

#[test]
fn range_queries_return_a_point_per_step() {
    let out = Engine::default()
        .range(&store(), &tenant(), "http_requests_total{job=\"api\"} / 60", 0, 600_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = out.value else { panic!("expected a matrix") };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].points.iter().map(|p| p.v).collect::<Vec<_>>(), (0..=10).map(|i| i as f64).collect::<Vec<_>>());
}

#[test]
fn parse_errors_are_bad_data_and_experimental_functions_need_the_flag() {
    assert!(matches!(instant("sum(", 0), Err(QueryError::BadData(_))));
    assert!(matches!(instant("sort_by_label(http_requests_total, \"job\")", 0), Err(QueryError::BadData(_))));
}

#[test]
fn too_many_samples_is_prometheus_error() {
    let engine = Engine::new(EngineOptions { max_samples: 5, ..EngineOptions::default() });
    let err = engine.instant(&store(), &tenant(), "http_requests_total[10m]", 600_000).unwrap_err();
    assert_eq!(
        err,
        QueryError::Execution("query processing would load too many samples into memory in query execution".into())
    );
}

#[test]
fn prometheus_2_names_and_newest_functions_parse() {
    let value = |q: &str| match instant(q, 600).unwrap().value {
        Value::Vector(v) => v.first().map(|s| s.v),
        Value::Scalar { v, .. } => Some(v),
        other => panic!("{other:?}"),
    };
    // Prometheus 2's name for double_exponential_smoothing, which is experimental.
    assert!(value("holt_winters(http_requests_total{job=\"api\"}[10m], 0.5, 0.5)").is_some());
    let experimental = Engine::new(EngineOptions { experimental_functions: true, ..EngineOptions::default() });
    let out = experimental.instant(&store(), &tenant(), "min_of(2, max_of(1, 3))", 0).unwrap();
    assert!(matches!(out.value, Value::Scalar { v, .. } if v == 2.0), "{:?}", out.value);
}

#[test]
fn a_canceled_query_stops() {
    let canceled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let engine = Engine::new(EngineOptions { canceled: Some(canceled), ..EngineOptions::default() });
    let err = engine.instant(&store(), &tenant(), "rate(http_requests_total[5m])", 600_000).unwrap_err();
    assert_eq!(err, QueryError::Canceled("expression evaluation"));
    assert_eq!(err.to_string(), "query was canceled in expression evaluation");
}

/// `rpc_seconds`: floats from 0 to 2 minutes, then native histograms every minute to 5
/// minutes (counts 1, 2, 3), then a float again at 6 minutes.
fn mixed_store() -> MemSeries {
    use lookout_storage::{FloatHistogram, HistogramSample};
    let mut store = MemSeries::new();
    let labels = Labels::from_pairs([("__name__", "rpc_seconds")]);
    store.append(&labels, (0..=2).map(|i| Sample { t: i * 60_000, v: i as f64 }).collect());
    let histograms = (3..=5)
        .map(|i| {
            let mut h = FloatHistogram { count: (i - 2) as f64, sum: (i - 2) as f64, ..Default::default() };
            h.set_positive([(0, (i - 2) as f64)]);
            HistogramSample { t: i * 60_000, h }
        })
        .collect();
    store.append_histograms(&labels, histograms);
    store.append(&labels, vec![Sample { t: 360_000, v: 10.0 }]);
    store
}

#[test]
fn selectors_return_native_histograms_beside_floats() {
    use lookout_storage::CounterResetHint;
    let store = mixed_store();
    let at = |t_s: i64, q: &str| match Engine::default().instant(&store, &tenant(), q, t_s * 1000).expect(q).value {
        Value::Vector(v) => v,
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!((at(120, "rpc_seconds")[0].v, at(120, "rpc_seconds")[0].h.is_none()), (2.0, true));
    let first = at(180, "rpc_seconds").remove(0);
    let h = first.h.expect("a histogram at 3m");
    assert_eq!((h.count, h.hint), (1.0, CounterResetHint::Unknown));
    // Read back as a TSDB gives it: later histograms are not resets when nothing went down.
    let h = at(300, "rpc_seconds").remove(0).h.expect("a histogram at 5m");
    assert_eq!((h.count, h.hint), (3.0, CounterResetHint::NotReset));
    assert_eq!(at(360, "rpc_seconds")[0].v, 10.0);
    // timestamp() reads either kind; float-only operations leave histograms out.
    assert_eq!(at(240, "timestamp(rpc_seconds)")[0].v, 240.0);
    assert!(at(240, "abs(rpc_seconds)").is_empty());
    assert!(at(240, "-rpc_seconds").is_empty());
    assert!(at(240, "(rpc_seconds)")[0].h.is_some());

    let range = Engine::default().range(&store, &tenant(), "rpc_seconds", 0, 360_000, 60_000).unwrap();
    let Value::Matrix(series) = range.value else { panic!("{range:?}") };
    let floats: Vec<i64> = series[0].points.iter().map(|p| p.t).collect();
    let histograms: Vec<i64> = series[0].histograms.iter().map(|p| p.t).collect();
    assert_eq!((floats, histograms), (vec![0, 60_000, 120_000, 360_000], vec![180_000, 240_000, 300_000]));
}

/// `fuzz/`'s `queries` target found that promql-parser panics on a duration too large for
/// `std::time::Duration`; the query is refused instead.
#[test]
fn a_duration_too_large_is_a_parse_error_not_a_panic() {
    let query = format!("quantile_over_time(0.5, data[{}])", "8".repeat(120));
    let err = super::parse(&query).unwrap_err();
    assert!(matches!(err, QueryError::BadData(ref m) if m.contains("too large")), "{err:?}");
}
