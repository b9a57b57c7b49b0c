//! `histogram_quantile` and `histogram_fraction` over classic histograms: series named
//! `…_bucket` with an `le` label, grouped by their other labels.

use std::collections::HashMap;

use lookout_storage::Labels;

use super::eval::{EvalResult, Evaluator, NAME, Pt, Ser, Steps, Val};
use super::functions::format_value;

/// One bucket: its upper bound and cumulative count.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Groups bucket series by their labels without `le`; warns about unusable `le` values.
fn group_buckets(ev: &mut Evaluator<'_>, series: Vec<Ser>, steps: &Steps) -> (Vec<Labels>, Vec<Vec<Vec<Bucket>>>) {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let mut buckets: Vec<Vec<Vec<Bucket>>> = Vec::new();
    for s in series {
        let le = s.labels.get("le").and_then(parse_le);
        let Some(upper) = le else {
            ev.annotations.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}",
                s.labels.get("le").unwrap_or(""),
                s.labels.get(NAME).unwrap_or("")
            ));
            continue;
        };
        let mut key = s.labels.clone();
        key.remove("le");
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(key);
            buckets.push(vec![Vec::new(); steps.n]);
            groups.len() - 1
        });
        for p in &s.points {
            buckets[g][p.i as usize].push(Bucket { upper, count: p.v });
        }
    }
    (groups, buckets)
}

/// Parses an `le` value as Go's `strconv.ParseFloat` would.
fn parse_le(v: &str) -> Option<f64> {
    let f: f64 = v.trim().parse().ok()?;
    (!f.is_nan()).then_some(f)
}

/// `histogram_quantile(q, buckets)` at every step.
pub(super) fn quantile(ev: &mut Evaluator<'_>, q: &[f64], series: Vec<Ser>, steps: &Steps) -> EvalResult<Val> {
    if q.iter().any(|q| q.is_nan() || *q < 0.0 || *q > 1.0) {
        let bad = q.iter().copied().find(|q| q.is_nan() || *q < 0.0 || *q > 1.0).unwrap_or(f64::NAN);
        ev.annotations.warn(format!("quantile value should be between 0 and 1, got {}", format_value(bad)));
    }
    let (groups, buckets) = group_buckets(ev, series, steps);
    let mut out = Vec::new();
    let mut forced = Vec::new();
    for (labels, per_step) in groups.into_iter().zip(buckets) {
        let mut points = Vec::new();
        for (i, mut b) in per_step.into_iter().enumerate() {
            if b.is_empty() {
                continue;
            }
            let (v, fixed) = bucket_quantile(q[i], &mut b);
            if fixed {
                forced.push(labels.get(NAME).unwrap_or("").to_string());
            }
            points.push(Pt { i: i as u32, v });
        }
        if !points.is_empty() {
            out.push(Ser { labels, points, drop_name: true, hists: Vec::new() });
        }
    }
    for name in forced {
        ev.annotations.info(format!("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"));
    }
    Ok(Val::Vector(out))
}

/// `histogram_fraction(lower, upper, buckets)` at every step.
pub(super) fn fraction(
    ev: &mut Evaluator<'_>,
    lower: &[f64],
    upper: &[f64],
    series: Vec<Ser>,
    steps: &Steps,
) -> EvalResult<Val> {
    let (groups, buckets) = group_buckets(ev, series, steps);
    let mut out = Vec::new();
    for (labels, per_step) in groups.into_iter().zip(buckets) {
        let mut points = Vec::new();
        for (i, mut b) in per_step.into_iter().enumerate() {
            if b.is_empty() {
                continue;
            }
            points.push(Pt { i: i as u32, v: bucket_fraction(lower[i], upper[i], &mut b) });
        }
        if !points.is_empty() {
            out.push(Ser { labels, points, drop_name: true, hists: Vec::new() });
        }
    }
    Ok(Val::Vector(out))
}

/// Sorts buckets by bound and merges those with the same bound.
fn prepare(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(std::cmp::Ordering::Equal));
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    *buckets = merged;
}

/// Whether `a` and `b` are equal within a relative `tolerance`.
fn almost_equal(a: f64, b: f64, tolerance: f64) -> bool {
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < f64::MIN_POSITIVE {
        return diff < tolerance * f64::MIN_POSITIVE;
    }
    diff / sum.min(f64::MAX) < tolerance
}

/// Makes counts non-decreasing; returns whether a real decrease had to be removed.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            b.count = prev;
            continue;
        }
        if cur < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    forced
}

/// The q-quantile of classic buckets, interpolating linearly inside the bucket that holds it.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    prepare(buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let forced = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 || observations.is_nan() {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].iter().position(|b| b.count >= rank).unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return (buckets[buckets.len() - 2].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The fraction of observations between `lower` and `upper`, interpolating linearly inside
/// buckets.
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    prepare(buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    ensure_monotonic(buckets);
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, b) in buckets.iter().enumerate() {
        let lo = if i > 0 {
            buckets[i - 1].upper
        } else if b.upper > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let hi = b.upper;
        let interpolate = |v: f64| rank + (b.count - rank) * (v - lo) / (hi - lo);
        if !lower_set && lo >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lo >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lo < lower && hi > lower {
            // An infinitely wide bucket is not interpolated: none of it counts.
            lower_rank = if lo.is_infinite() { b.count } else { interpolate(lower) };
            lower_set = true;
        }
        if !upper_set && lo < upper && hi > upper {
            upper_rank = if lo.is_infinite() || hi.is_infinite() { rank } else { interpolate(upper) };
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}
