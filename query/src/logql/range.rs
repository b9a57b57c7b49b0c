//! Range aggregations over the samples a log range yields: for every step `t`, the samples in
//! `(t - offset - range, t - offset]` of each series reduced to one value, as Loki's range
//! vector iterator does.

use std::collections::HashMap;

use lookout_storage::metrics::SeriesData;
use lookout_storage::{Labels, Sample};

use super::syntax::{Grouping, RangeOp};

/// Evaluation times in milliseconds: `start`, `start + step`, … up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Steps {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Steps {
    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        let step = self.step.max(1);
        (0..).map(move |k| self.start + k * step).take_while(move |t| *t <= self.end)
    }
}

/// The windows of a range aggregation: its range and offset (ns) at each step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub range_ns: i64,
    pub offset_ns: i64,
    pub steps: Steps,
}

/// The samples of one series: `(time ns, value)`, in any order.
pub(crate) type Samples = Vec<(i64, f64)>;

/// Reduces `series` with `op` at every step; series keep their labels, with `name` as their
/// `__name__` so that the PromQL engine can select them.
pub(crate) fn evaluate(
    op: RangeOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    window: Window,
    series: HashMap<Labels, Samples>,
    name: &str,
) -> Vec<SeriesData> {
    let Window { range_ns, offset_ns, steps } = window;
    let series = match grouping {
        Some(g) => regroup(series, g),
        None => series,
    };
    let range_secs = range_ns as f64 / 1e9;
    let mut out = Vec::with_capacity(series.len());
    for (labels, mut samples) in series {
        samples.sort_by_key(|(t, _)| *t);
        let mut points = Vec::new();
        let (mut lo, mut hi) = (0usize, 0usize);
        for t in steps.times() {
            let end = t.saturating_mul(1_000_000).saturating_sub(offset_ns);
            let start = end.saturating_sub(range_ns);
            while hi < samples.len() && samples[hi].0 <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].0 <= start {
                lo += 1;
            }
            if lo == hi {
                continue;
            }
            if let Some(v) = reduce(op, param, &samples[lo..hi], range_secs, start, end) {
                points.push(Sample { t, v });
            }
        }
        if !points.is_empty() {
            let mut labels = labels;
            labels.set("__name__", name);
            out.push(SeriesData { labels, samples: points, histograms: Vec::new() });
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// `absent_over_time`: 1 at every step where no series has a sample in the window, labelled
/// with `labels` (the selector's equality matchers).
pub(crate) fn absent(
    range_ns: i64,
    offset_ns: i64,
    steps: Steps,
    series: &HashMap<Labels, Samples>,
    mut labels: Labels,
    name: &str,
) -> Vec<SeriesData> {
    let mut times: Vec<i64> = series.values().flatten().map(|(t, _)| *t).collect();
    times.sort_unstable();
    let mut points = Vec::new();
    for t in steps.times() {
        let end = t.saturating_mul(1_000_000).saturating_sub(offset_ns);
        let start = end.saturating_sub(range_ns);
        let first_after = times.partition_point(|x| *x <= start);
        let any = times.get(first_after).is_some_and(|x| *x <= end);
        if !any {
            points.push(Sample { t, v: 1.0 });
        }
    }
    if points.is_empty() {
        return Vec::new();
    }
    labels.set("__name__", name);
    vec![SeriesData { labels, samples: points, histograms: Vec::new() }]
}

fn regroup(series: HashMap<Labels, Samples>, g: &Grouping) -> HashMap<Labels, Samples> {
    let mut out: HashMap<Labels, Samples> = HashMap::new();
    for (labels, samples) in series {
        let kept =
            Labels::new(labels.into_vec().into_iter().filter(|l| g.labels.contains(&l.name) != g.without).collect());
        out.entry(kept).or_default().extend(samples);
    }
    out
}

fn reduce(op: RangeOp, param: Option<f64>, w: &[(i64, f64)], range_secs: f64, start: i64, end: i64) -> Option<f64> {
    let n = w.len() as f64;
    let sum = || w.iter().map(|(_, v)| v).sum::<f64>();
    let variance = || {
        // Welford, as Prometheus's stdvar_over_time.
        let (mut count, mut mean, mut m2) = (0.0, 0.0, 0.0);
        for (_, v) in w {
            count += 1.0;
            let delta = v - mean;
            mean += delta / count;
            m2 += delta * (v - mean);
        }
        m2 / count
    };
    Some(match op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate | RangeOp::BytesRate => sum() / range_secs,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::AvgOverTime => sum() / n,
        RangeOp::MinOverTime => {
            w.iter().map(|(_, v)| *v).fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a })
        }
        RangeOp::MaxOverTime => {
            w.iter().map(|(_, v)| *v).fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a })
        }
        RangeOp::StdvarOverTime => variance(),
        RangeOp::StddevOverTime => variance().sqrt(),
        RangeOp::QuantileOverTime => quantile(param.unwrap_or(f64::NAN), w.iter().map(|(_, v)| *v).collect()),
        RangeOp::FirstOverTime => w.first()?.1,
        RangeOp::LastOverTime => w.last()?.1,
        RangeOp::RateCounter => counter_rate(w, start, end, range_secs)?,
        RangeOp::AbsentOverTime => return None,
    })
}

/// Prometheus's `quantile`: linear interpolation between the closest ranks.
fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(f64::total_cmp);
    let rank = q * (values.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

/// Prometheus's extrapolated counter rate over one window (`rate()` on a counter), as Loki's
/// `rate_counter` computes it.
fn counter_rate(w: &[(i64, f64)], start: i64, end: i64, range_secs: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first_t, first_v) = w[0];
    let (last_t, last_v) = w[w.len() - 1];
    let mut delta = last_v - first_v;
    let mut prev = first_v;
    for (_, v) in &w[1..] {
        if *v < prev {
            delta += prev;
        }
        prev = *v;
    }
    let secs = |ns: i64| ns as f64 / 1e9;
    let sampled = secs(last_t - first_t);
    let average_interval = sampled / (w.len() - 1) as f64;
    let mut to_start = secs(first_t - start);
    let to_end = secs(end - last_t);
    if delta > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / delta);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_interval * 1.1;
    let mut extrapolate = sampled;
    extrapolate += if to_start < threshold { to_start } else { average_interval / 2.0 };
    extrapolate += if to_end < threshold { to_end } else { average_interval / 2.0 };
    Some(delta * (extrapolate / sampled) / range_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn one(samples: Samples) -> HashMap<Labels, Samples> {
        HashMap::from([(Labels::from_pairs([("app", "a")]), samples)])
    }

    #[test]
    fn windows_are_open_at_the_start_and_closed_at_the_end() {
        let steps = Steps { start: 10_000, end: 20_000, step: 10_000 };
        let samples = vec![(0, 1.0), (5 * S, 1.0), (10 * S, 1.0), (15 * S, 1.0), (20 * S, 1.0)];
        let out = evaluate(
            RangeOp::CountOverTime,
            None,
            None,
            Window { range_ns: 10 * S, offset_ns: 0, steps },
            one(samples),
            "x",
        );
        let values: Vec<(i64, f64)> = out[0].samples.iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(values, [(10_000, 2.0), (20_000, 2.0)]);
        assert_eq!(out[0].labels.get("__name__"), Some("x"));
    }

    #[test]
    fn rates_divide_by_the_range_and_offsets_shift_the_window() {
        let steps = Steps { start: 60_000, end: 60_000, step: 1 };
        let samples: Samples = (1..=30).map(|i| (i * S, 2.0)).collect();
        let rate = evaluate(
            RangeOp::BytesRate,
            None,
            None,
            Window { range_ns: 60 * S, offset_ns: 0, steps },
            one(samples.clone()),
            "x",
        );
        assert_eq!(rate[0].samples[0].v, 1.0);
        let shifted = evaluate(
            RangeOp::CountOverTime,
            None,
            None,
            Window { range_ns: 20 * S, offset_ns: 30 * S, steps },
            one(samples),
            "x",
        );
        assert_eq!(shifted[0].samples[0].v, 20.0, "window (10s, 30s]");
    }

    #[test]
    fn unwrapped_functions_and_grouping() {
        let steps = Steps { start: 10_000, end: 10_000, step: 1 };
        let mut series = one(vec![(S, 1.0), (2 * S, 3.0), (3 * S, 8.0)]);
        series.insert(Labels::from_pairs([("app", "b")]), vec![(S, 10.0)]);
        let by_nothing = Grouping { without: false, labels: vec![] };
        let check = |op, param, grouping: Option<&Grouping>| {
            let out =
                evaluate(op, param, grouping, Window { range_ns: 10 * S, offset_ns: 0, steps }, series.clone(), "x");
            out.iter().map(|s| s.samples[0].v).collect::<Vec<_>>()
        };
        assert_eq!(check(RangeOp::SumOverTime, None, None), [12.0, 10.0]);
        assert_eq!(check(RangeOp::AvgOverTime, None, None), [4.0, 10.0]);
        assert_eq!(check(RangeOp::MinOverTime, None, None), [1.0, 10.0]);
        assert_eq!(check(RangeOp::MaxOverTime, None, Some(&by_nothing)), [10.0]);
        assert_eq!(check(RangeOp::FirstOverTime, None, None), [1.0, 10.0]);
        assert_eq!(check(RangeOp::LastOverTime, None, None), [8.0, 10.0]);
        assert_eq!(check(RangeOp::QuantileOverTime, Some(0.5), None), [3.0, 10.0]);
        let stdvar = check(RangeOp::StdvarOverTime, None, None)[0];
        assert!((stdvar - 26.0 / 3.0).abs() < 1e-9, "{stdvar}");
    }

    #[test]
    fn absent_is_one_only_where_nothing_is_in_the_window() {
        let steps = Steps { start: 10_000, end: 30_000, step: 10_000 };
        let series = one(vec![(15 * S, 1.0)]);
        let out = absent(10 * S, 0, steps, &series, Labels::from_pairs([("app", "a")]), "x");
        let times: Vec<i64> = out[0].samples.iter().map(|s| s.t).collect();
        assert_eq!(times, [10_000, 30_000]);
    }
}
