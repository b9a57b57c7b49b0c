//! Differential test: the same generated data is remote-written into a real Prometheus 2.42
//! (Debian's package, remote-write receiver on) and into Lookout; then more than 200 queries
//! covering functions, aggregations and operators run through both HTTP APIs, as instant
//! queries at several times and as range queries, and the answers must agree: the same label
//! sets, values equal within 1e-9 relative, the same order where order is defined.
//!
//! Lookout follows Prometheus 3 (whose own test files it passes), and three rules changed
//! since 2.42. The data and the comparison keep each from deciding an answer:
//! - Whether a range includes a sample exactly at its left edge: evaluation times sit between
//!   sample timestamps.
//! - Where `rate` extrapolates to when the counter would reach zero before the range starts
//!   (prometheus/prometheus#13725, 2.51): every counter starts far enough above zero that the
//!   zero point is never nearer than the extrapolation threshold.
//! - `atan2` keeps the metric name in 2.42 and drops it in Prometheus 3 (`operators.test`
//!   expects `{}`): for `atan2` the comparison leaves `__name__` out of 2.42's labels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Lookout, Prometheus, eventually, http_client, now_ms, remote_write, series};
use lookout_query::remote_read::prompb;
use serde_json::Value;

/// Sample interval of the generated data (ms).
const STEP: i64 = 15_000;
/// Samples per series: one hour.
const SAMPLES: i64 = 240;
/// Samples sit this far after each 15 s boundary (ms), and evaluations 7.5 s after it: no
/// window or subquery step (whole minutes) ever starts exactly at a sample.
const OFFSET: i64 = 3_000;

/// A small deterministic generator (SplitMix64), so every run writes the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The generated data: counters with resets, gauges (some negative), classic histograms, a
/// series that stops halfway and one that ends with a staleness marker.
fn data(start: i64) -> Vec<prompb::TimeSeries> {
    let mut rng = Rng(42);
    let mut out = Vec::new();
    let times: Vec<i64> = (0..SAMPLES).map(|i| start + i * STEP + OFFSET).collect();
    for job in ["api", "web"] {
        for instance in ["a:9100", "b:9100", "c:9100"] {
            for (method, status) in [("GET", "200"), ("GET", "500"), ("POST", "200")] {
                let mut v = 10_000.0 + (rng.unit() * 100.0).floor();
                let rate = 1.0 + rng.unit() * 10.0;
                // Resets fall after the first quarter, so no range sees both the start and a reset.
                let reset_at = (SAMPLES / 4) as usize + (rng.next() % (SAMPLES as u64 * 3 / 4)) as usize;
                let samples: Vec<(i64, f64)> = times
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| {
                        if i == reset_at && job == "web" {
                            v = 0.0;
                        }
                        v += (rate * 15.0 * (0.5 + rng.unit())).floor();
                        (t, v)
                    })
                    .collect();
                out.push(series(
                    "http_requests_total",
                    &[("job", job), ("instance", instance), ("method", method), ("status", status)],
                    &samples,
                ));
            }
            let base = 1e9 + rng.unit() * 1e9;
            out.push(series(
                "node_memory_used_bytes",
                &[("job", job), ("instance", instance)],
                &times.iter().map(|&t| (t, (base + rng.unit() * 1e8).round())).collect::<Vec<_>>(),
            ));
            // Histogram buckets: cumulative counters, with a history of observations before
            // the first sample (see the module's note on rate's zero point).
            let mut counts = [0.0f64; 7];
            let mut sum = 0.0;
            observe(&mut rng, 2_000, &mut counts, &mut sum);
            let mut hist: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 9];
            for &t in &times {
                let n = 3 + rng.next() % 5;
                observe(&mut rng, n, &mut counts, &mut sum);
                for b in 0..7 {
                    hist[b].push((t, counts[b]));
                }
                hist[7].push((t, sum));
                hist[8].push((t, counts[6]));
            }
            for (b, bound) in BOUNDS.iter().enumerate() {
                out.push(series(
                    "http_request_duration_seconds_bucket",
                    &[("job", job), ("instance", instance), ("le", bound)],
                    &hist[b],
                ));
            }
            out.push(series("http_request_duration_seconds_sum", &[("job", job), ("instance", instance)], &hist[7]));
            out.push(series("http_request_duration_seconds_count", &[("job", job), ("instance", instance)], &hist[8]));
        }
    }
    for room in ["kitchen", "cellar", "attic", "garage"] {
        let base = rng.unit() * 30.0 - 10.0;
        out.push(series(
            "temperature_celsius",
            &[("room", room)],
            &times.iter().map(|&t| (t, ((base + rng.unit() * 8.0 - 4.0) * 100.0).round() / 100.0)).collect::<Vec<_>>(),
        ));
    }
    // A series that stops halfway, and one that ends with a staleness marker.
    out.push(series(
        "batch_last_success",
        &[("job", "batch")],
        &times[..SAMPLES as usize / 2].iter().map(|&t| (t, (t / 1000) as f64)).collect::<Vec<_>>(),
    ));
    let mut ended: Vec<(i64, f64)> = times[..SAMPLES as usize * 3 / 4].iter().map(|&t| (t, 7.0)).collect();
    ended.push((times[SAMPLES as usize * 3 / 4], f64::from_bits(0x7ff0_0000_0000_0002)));
    out.push(series("flapping_up", &[("job", "batch")], &ended));
    out
}

/// The histogram's bucket bounds.
const BOUNDS: [&str; 7] = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

/// Adds `n` random observations to cumulative bucket `counts` and their `sum`.
fn observe(rng: &mut Rng, n: u64, counts: &mut [f64; 7], sum: &mut f64) {
    for _ in 0..n {
        let x = rng.unit().powi(2) * 3.0;
        *sum += x;
        for (count, bound) in counts.iter_mut().zip(BOUNDS) {
            if x <= bound.replace("+Inf", "inf").parse::<f64>().unwrap() {
                *count += 1.0;
            }
        }
    }
}

fn write(url: &str, timeseries: Vec<prompb::TimeSeries>) {
    let (status, body) = remote_write(url, timeseries);
    assert!((200..300).contains(&status), "{url}: {status} {body}");
}

/// The queries, each with the Prometheus 3 feature it needs skipped for 2.42 where one does.
fn queries() -> Vec<String> {
    let mut q: Vec<String> = Vec::new();
    let counters = ["http_requests_total", "http_requests_total{job=\"api\"}", "http_requests_total{status=~\"5..\"}"];
    for c in counters {
        for f in ["rate", "irate", "increase", "delta", "idelta", "resets", "changes", "deriv"] {
            for r in ["1m", "5m", "15m"] {
                q.push(format!("{f}({c}[{r}])"));
            }
        }
    }
    for g in ["node_memory_used_bytes", "temperature_celsius"] {
        for f in [
            "avg_over_time",
            "min_over_time",
            "max_over_time",
            "sum_over_time",
            "count_over_time",
            "last_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "present_over_time",
        ] {
            q.push(format!("{f}({g}[10m])"));
        }
        q.push(format!("quantile_over_time(0.9, {g}[10m])"));
        q.push(format!("quantile_over_time(0.25, {g}[30m])"));
        q.push(format!("predict_linear({g}[10m], 3600)"));
        q.push(format!("holt_winters({g}[10m], 0.3, 0.6)"));
        q.push(format!("absent_over_time({g}{{job=\"nope\"}}[5m])"));
    }
    for agg in ["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"] {
        q.push(format!("{agg}(rate(http_requests_total[5m]))"));
        q.push(format!("{agg} by (job) (rate(http_requests_total[5m]))"));
        q.push(format!("{agg} without (instance, method) (rate(http_requests_total[5m]))"));
        q.push(format!("{agg} by (room) (temperature_celsius)"));
    }
    for k in ["1", "3"] {
        q.push(format!("topk({k}, rate(http_requests_total[5m]))"));
        q.push(format!("bottomk({k}, rate(http_requests_total[5m]))"));
        q.push(format!("topk by (job) ({k}, node_memory_used_bytes)"));
    }
    q.push("quantile(0.5, temperature_celsius)".into());
    q.push("quantile by (job) (0.9, rate(http_requests_total[5m]))".into());
    q.push("count_values(\"value\", round(temperature_celsius))".into());
    q.push("count_values by (job) (\"status_code\", count by (job, status) (http_requests_total))".into());
    for phi in ["0.5", "0.9", "0.99"] {
        q.push(format!("histogram_quantile({phi}, rate(http_request_duration_seconds_bucket[5m]))"));
        q.push(format!("histogram_quantile({phi}, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))"));
    }
    q.push("histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[10m])))".into());
    q.push("rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])".into());
    for op in ["+", "-", "*", "/", "%", "^", "atan2"] {
        q.push(format!("temperature_celsius {op} 3"));
        q.push(format!("2 {op} temperature_celsius"));
        q.push(format!(
            "rate(http_requests_total[5m]) {op} on (job, instance, method, status) rate(http_requests_total[10m])"
        ));
    }
    for op in ["==", "!=", ">", "<", ">=", "<="] {
        q.push(format!("temperature_celsius {op} 5"));
        q.push(format!("temperature_celsius {op} bool 5"));
        q.push(format!("5 {op} temperature_celsius"));
        q.push(format!("rate(http_requests_total[5m]) {op} rate(http_requests_total[10m])"));
        q.push(format!("rate(http_requests_total[5m]) {op} bool rate(http_requests_total[10m])"));
    }
    q.extend(
        [
            "sum by (job, instance) (rate(http_requests_total[5m])) / on (job, instance) group_left node_memory_used_bytes",
            "node_memory_used_bytes * on (job, instance) group_right sum by (job, instance, method) (rate(http_requests_total[5m]))",
            "rate(http_requests_total[5m]) / ignoring (method, status) group_left sum by (job, instance) (rate(http_requests_total[5m]))",
            "http_requests_total and http_requests_total{status=\"500\"}",
            "http_requests_total or node_memory_used_bytes",
            "http_requests_total unless http_requests_total{method=\"GET\"}",
            "http_requests_total and on (job) node_memory_used_bytes{instance=\"a:9100\"}",
            "temperature_celsius unless on (room) temperature_celsius > 10",
            "-temperature_celsius",
            "abs(temperature_celsius)",
            "ceil(temperature_celsius)",
            "floor(temperature_celsius)",
            "round(temperature_celsius)",
            "round(temperature_celsius, 5)",
            "sqrt(node_memory_used_bytes)",
            "exp(temperature_celsius / 10)",
            "ln(node_memory_used_bytes)",
            "log2(node_memory_used_bytes)",
            "log10(node_memory_used_bytes)",
            "sgn(temperature_celsius)",
            "clamp(temperature_celsius, 0, 10)",
            "clamp_min(temperature_celsius, 0)",
            "clamp_max(temperature_celsius, 5)",
            "sin(temperature_celsius)",
            "cos(temperature_celsius)",
            "tan(temperature_celsius)",
            "asin(temperature_celsius / 100)",
            "acos(temperature_celsius / 100)",
            "atan(temperature_celsius)",
            "sinh(temperature_celsius / 10)",
            "cosh(temperature_celsius / 10)",
            "tanh(temperature_celsius)",
            "asinh(temperature_celsius)",
            "acosh(abs(temperature_celsius) + 1)",
            "atanh(temperature_celsius / 100)",
            "deg(temperature_celsius)",
            "rad(temperature_celsius)",
            "pi()",
            "time()",
            "vector(1)",
            "vector(time())",
            "scalar(sum(node_memory_used_bytes))",
            "scalar(node_memory_used_bytes)",
            "sum(node_memory_used_bytes) / scalar(count(node_memory_used_bytes))",
            "timestamp(node_memory_used_bytes)",
            "timestamp(temperature_celsius offset 5m)",
            "absent(nonexistent_metric{job=\"x\"})",
            "absent(node_memory_used_bytes)",
            "label_replace(node_memory_used_bytes, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
            "label_replace(node_memory_used_bytes, \"host\", \"$1\", \"instance\", \"nomatch(.*)\")",
            "label_join(node_memory_used_bytes, \"target\", \"/\", \"job\", \"instance\")",
            "sort(temperature_celsius)",
            "sort_desc(temperature_celsius)",
            "sort(rate(http_requests_total{job=\"api\"}[5m]))",
            "day_of_month()",
            "day_of_week()",
            "day_of_year()",
            "days_in_month()",
            "hour()",
            "minute()",
            "month()",
            "year()",
            "hour(timestamp(node_memory_used_bytes))",
            "minute(vector(3600 * 25 + 120))",
            "node_memory_used_bytes offset 10m",
            "rate(http_requests_total[5m] offset 10m)",
            "rate(http_requests_total[5m] offset -5m)",
            "max_over_time(rate(http_requests_total[1m])[10m:1m])",
            "avg_over_time(temperature_celsius[15m:30s])",
            "sum_over_time(sum(node_memory_used_bytes)[10m:])",
            "max_over_time(deriv(node_memory_used_bytes[5m])[20m:2m])",
            "rate(sum(http_requests_total)[10m:1m])",
            "batch_last_success",
            "flapping_up",
            "count_over_time(flapping_up[10m])",
            "last_over_time(batch_last_success[1h])",
            "changes(batch_last_success[10m])",
            "sum(http_requests_total) by (status) / ignoring(status) group_left sum(http_requests_total)",
            "count(count by (instance) (http_requests_total))",
            "sum(rate(http_requests_total[5m])) by (job) > 30",
            "avg(temperature_celsius) + avg(temperature_celsius offset 30m)",
            "(temperature_celsius > 0) * 2",
            "temperature_celsius > 0 < 15",
            "1 + 2 * 3 - 4 / 2",
            "2 ^ 3 ^ 2",
            "(1 > bool 2) + (3 > bool 2)",
            "topk(2, sum by (instance) (rate(http_requests_total[5m])))",
            "bottomk(1, temperature_celsius)",
            "group by (job) (http_requests_total)",
            "max by (le) (rate(http_request_duration_seconds_bucket[5m]))",
            "sum without (le) (rate(http_request_duration_seconds_bucket[5m]))",
        ]
        .map(String::from),
    );
    q
}

/// Queries Prometheus refuses, each for a different reason: syntax, types, argument counts,
/// modifiers, regular expressions, several lines. (`x[5]` is left out: 2.42 wants a unit,
/// Prometheus 3 reads seconds.)
const BAD_QUERIES: [&str; 77] = [
    "sum(rate(x[5m])",
    "sum(rate(x[5m])))",
    "rate(x[5m]",
    "x{a=\"b\"",
    "x{a=\"b\",}}",
    "x{a=b}",
    "x{a~\"b\"}",
    "x[5m",
    "foo bar",
    "1 +",
    "+",
    "sum by (job) x",
    "sum(x) by job",
    "rate(x)",
    "rate(x[5m], 1)",
    "nonexistent_function(x)",
    "x offset",
    "x @ foo",
    "\"unterminated",
    "topk(x)",
    "histogram_quantile(0.9)",
    "label_replace(x, \"a\", \"b\", \"c\")",
    "x == == y",
    "(x",
    ")",
    "x[5m:1m:1m]",
    "x]",
    "{}",
    "{a=\"\"}",
    "x{__name__=\"y\"}",
    "sum(x) without",
    "count_values(1, x)",
    "x and 1",
    "1 and x",
    "x[5m] + 1",
    "rate(x[5m])[5m]",
    "abs(\"s\")",
    "x{a=\"b\"}}",
    "sum(rate(x[5m], 1))",
    "foo offset 5m offset 1m",
    "1 > 2",
    "x + bool y",
    "x @ 100 @ 200",
    "-\"s\"",
    "sum without(a) by(b) (x)",
    "rate(x[5m] offset)",
    "x / on(a) 1",
    "histogram_quantile(0.9, x[5m])",
    "label_join(x, \"a\", \",\", 1)",
    "max_over_time(x[5m:1m)",
    "x{a=\"b\" b=\"c\"}",
    "x @ start(",
    "sum(x) by (a) by (b)",
    "ab\ncd",
    "   ",
    "x{a=~\"(\"}",
    "1 +\n  sum(\n    rate(x)\n  )",
    "x offset 5m[5m]",
    "rate(x[5m] @ 10 offset 1m @ 20)",
    "sum(x",
    "x +",
    "x{",
    "{",
    "x[5m] or y",
    "quantile(x, y)",
    "abs()",
    "vector(\"a\")",
    "time(1)",
    "x{a!~}",
    "x offset -",
    "x @ -",
    "1 + sum by (a) (x) without (b)",
    "count_values(\"a\", x, y)",
    "x unless on(a) group_left y",
    "job:rate5m[5m:1m:]",
    "max_over_time((x)[5m])",
    "x +\n  # comment\n  y z",
];

/// One result as comparable data: (labels as text, [(time ms, value)]), in answer order.
type Rows = Vec<(String, Vec<(i64, f64)>)>;

fn rows(data: &Value) -> (String, Rows) {
    let kind = data["resultType"].as_str().unwrap_or_default().to_owned();
    let point = |p: &Value| -> (i64, f64) {
        let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
        let v = match p[1].as_str().unwrap() {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap(),
        };
        (t, v)
    };
    let rows = match kind.as_str() {
        "scalar" | "string" => vec![(String::new(), vec![point(&data["result"])])],
        _ => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = r["metric"].to_string();
                let points = match r.get("values") {
                    Some(values) => values.as_array().unwrap().iter().map(point).collect(),
                    None => vec![point(&r["value"])],
                };
                (labels, points)
            })
            .collect(),
    };
    (kind, rows)
}

fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Asks both servers; returns how many series (or scalars) they agree on, or a description of
/// the first difference.
fn compare(
    lookout: &str,
    prometheus: &str,
    path: &str,
    form: &[(&str, String)],
    ordered: bool,
) -> Result<usize, String> {
    let drops_name_in_3 = form[0].1.contains("atan2");
    let ask = |base: &str| -> Value {
        let r = http_client().post(format!("{base}{path}")).form(form).send().unwrap();
        r.json().unwrap()
    };
    let (ours, theirs) = (ask(lookout), ask(prometheus));
    if theirs["status"] != "success" || ours["status"] != "success" {
        if theirs["status"] == ours["status"] && theirs["errorType"] == ours["errorType"] {
            return Ok(0);
        }
        return Err(format!("lookout: {ours}\nprometheus: {theirs}"));
    }
    let (kind_a, mut a) = rows(&ours["data"]);
    let (kind_b, mut b) = rows(&theirs["data"]);
    if drops_name_in_3 {
        for row in &mut b {
            let mut labels: serde_json::Map<String, Value> = serde_json::from_str(&row.0).unwrap();
            labels.remove("__name__");
            row.0 = Value::Object(labels).to_string();
        }
    }
    if kind_a != kind_b {
        return Err(format!("result types differ: lookout {kind_a}, prometheus {kind_b}"));
    }
    if !ordered {
        a.sort_by(|x, y| x.0.cmp(&y.0));
        b.sort_by(|x, y| x.0.cmp(&y.0));
    }
    let labels = |r: &Rows| r.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    if labels(&a) != labels(&b) {
        return Err(format!("series differ:\n lookout    {:?}\n prometheus {:?}", labels(&a), labels(&b)));
    }
    for ((l, pa), (_, pb)) in a.iter().zip(&b) {
        let times = |p: &Vec<(i64, f64)>| p.iter().map(|x| x.0).collect::<Vec<_>>();
        if times(pa) != times(pb) {
            return Err(format!("{l}: timestamps differ:\n lookout    {:?}\n prometheus {:?}", times(pa), times(pb)));
        }
        if let Some(((t, x), (_, y))) = pa.iter().zip(pb).find(|((_, x), (_, y))| !same_value(*x, *y)) {
            return Err(format!("{l} at {t}: lookout {x}, prometheus {y}"));
        }
    }
    Ok(a.len())
}

#[test]
fn lookout_answers_promql_as_prometheus_does() {
    let dir = tempfile::tempdir().unwrap();
    // Lookout's own scrape stays out of the data both servers hold. Both servers refuse a query
    // that would hold more than a million samples (the runaway one below); no other query comes
    // near that.
    let lookout = Lookout::start_with_config(
        dir.path(),
        "metrics:\n  scrape_self: false\n  span_metrics: false\n",
        &["--query.max-samples", "1000000"],
    );
    let prometheus = Prometheus::start_with_args(
        dir.path(),
        &["--web.enable-remote-write-receiver", "--query.lookback-delta=5m", "--query.max-samples=1000000"],
        |_| "global:\n  scrape_interval: 1h\nscrape_configs: []\n".into(),
    );
    // One hour of data ending two minutes ago, on 15 s boundaries.
    let end = (now_ms() - 120_000) / STEP * STEP;
    let start = end - (SAMPLES - 1) * STEP;
    let lookout_url = format!("http://{}", lookout.http);
    for url in [&lookout_url, &prometheus.url] {
        write(url, data(start));
    }
    eventually("prometheus has the data", || {
        let r: Value = http_client()
            .get(format!("{}/api/v1/query", prometheus.url))
            .query(&[("query", "count(http_requests_total)"), ("time", &format!("{}", end / 1000))])
            .send()
            .ok()?
            .json()
            .ok()?;
        (r["data"]["result"][0]["value"][1] == "18").then_some(())
    });
    let queries = queries();
    assert!(queries.len() >= 200, "{} queries", queries.len());
    // Evaluation times halfway between samples.
    let times: Vec<f64> =
        [SAMPLES / 3, SAMPLES / 2, SAMPLES - 2].iter().map(|i| (start + i * STEP + 7_500) as f64 / 1000.0).collect();
    let mut failures = Vec::new();
    let mut empty = Vec::new();
    for q in &queries {
        let top = q.trim_start();
        let ordered = ["sort(", "sort_desc(", "topk(", "bottomk("].iter().any(|p| top.starts_with(p));
        for t in &times {
            let form = [("query", q.clone()), ("time", format!("{t:.3}"))];
            if let Err(diff) = compare(&lookout_url, &prometheus.url, "/api/v1/query", &form, ordered) {
                failures.push(format!("instant {q} @ {t}: {diff}"));
            }
        }
        let form = [
            ("query", q.clone()),
            ("start", format!("{:.3}", (start + 20 * STEP + 7_500) as f64 / 1000.0)),
            ("end", format!("{:.3}", (end - 7_500) as f64 / 1000.0)),
            ("step", "60".into()),
        ];
        match compare(&lookout_url, &prometheus.url, "/api/v1/query_range", &form, false) {
            Ok(0) => empty.push(q.as_str()),
            Ok(_) => {}
            Err(diff) => failures.push(format!("range {q}: {diff}")),
        }
    }
    // Bad queries: the same error type and the same `line:column` as Prometheus.
    for q in BAD_QUERIES {
        let ask = |base: &str| -> (u16, Value) {
            let r = http_client().post(format!("{base}/api/v1/query")).form(&[("query", q)]).send().unwrap();
            (r.status().as_u16(), r.json().unwrap())
        };
        let (ours, theirs) = (ask(&lookout_url), ask(&prometheus.url));
        assert_eq!(theirs.0, 400, "Prometheus takes {q:?}");
        let position = |v: &Value| v["error"].as_str().and_then(|e| e.split(": ").nth(1)).map(str::to_owned);
        if ours.0 != theirs.0
            || ours.1["errorType"] != theirs.1["errorType"]
            || position(&ours.1) != position(&theirs.1)
        {
            failures.push(format!(
                "bad query {q:?}:\n lookout    {} {}\n prometheus {} {}",
                ours.0, ours.1, theirs.0, theirs.1
            ));
        }
    }
    // A runaway query: a subquery of 2.6 billion steps is refused as Prometheus refuses it, and
    // the server goes on answering (the comparisons above and below run on the same process).
    let runaway = [("query", "count_over_time(vector(1)[30d:1ms])".to_string())];
    match compare(&lookout_url, &prometheus.url, "/api/v1/query", &runaway, false) {
        Ok(_) => {}
        Err(diff) => failures.push(format!("runaway query: {diff}")),
    }
    let refused: Value =
        http_client().post(format!("{lookout_url}/api/v1/query")).form(&runaway).send().unwrap().json().unwrap();
    assert_eq!(refused["errorType"], "execution", "{refused}");
    assert_eq!(refused["error"], "query processing would load too many samples into memory in query execution");
    let after = [("query", "count(up or vector(1))".into()), ("time", format!("{:.3}", times[0]))];
    let after = compare(&lookout_url, &prometheus.url, "/api/v1/query", &after, false);
    assert_eq!(after, Ok(1));
    // Comparisons of two empty answers prove little: only queries built to be empty may be.
    assert!(empty.len() <= 10, "{} queries answer nothing: {empty:?}", empty.len());
    assert!(failures.is_empty(), "{} of {} queries differ:\n{}", failures.len(), queries.len(), failures.join("\n\n"));
}
