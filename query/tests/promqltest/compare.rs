//! Checking a query's output against an eval's expectations: float tolerance (FORMAT.md §6.5),
//! annotations (§6.3) and results (§6.4). Each check returns the first difference as a short
//! message.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use lookout_query::promql::{Annotations, Series, Value, VecSample};
use lookout_storage::is_stale_nan;
use regex::Regex;

use super::notation::{SeqValue, histogram_text};
use super::script::{AnnotationExpectation, Eval};

/// Relative tolerance of float comparisons (`defaultEpsilon` upstream).
const EPSILON: f64 = 1e-6;

/// The smallest normal positive `f64` (Go's `minNormal` in `util/almost`).
const MIN_NORMAL: f64 = 2.2250738585072014e-308;

/// Most values shown of a series in a message.
const SHOWN_POINTS: usize = 6;

/// A position suffix ` (L:C)` that an engine might print after an annotation.
static POSITION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r" \(\d+:\d+\)$").expect("regex"));

/// `almost.Equal(a, b, 1e-6)`: the stale marker equals only itself, NaN equals NaN, otherwise a
/// relative difference below 1e-6 (effectively exact next to zero).
pub fn floats_equal(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

/// A float as Go prints it in messages (`+Inf`, `NaN`, `stale`).
pub fn show(v: f64) -> String {
    if is_stale_nan(v) {
        "stale".to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        v.to_string()
    }
}

/// An expected value for messages.
fn show_expected(v: &SeqValue) -> String {
    match v {
        SeqValue::Omitted => "_".to_string(),
        SeqValue::Float(f) => show(*f),
        SeqValue::Histogram(h) => histogram_text(h),
    }
}

/// A few points of a series, `v@t`, for messages.
fn show_points(s: &Series) -> String {
    let mut out: Vec<String> = s.points.iter().take(SHOWN_POINTS).map(|p| format!("{}@{}", show(p.v), p.t)).collect();
    if s.points.len() > SHOWN_POINTS {
        out.push(format!("… ({} points)", s.points.len()));
    }
    format!("[{}]", out.join(" "))
}

/// Checks warnings and infos (FORMAT.md §6.3).
pub fn check_annotations(eval: &Eval, got: &Annotations) -> Result<(), String> {
    check_kind("warning", &eval.warn, &got.warnings)?;
    check_kind("info", &eval.info, &got.infos)
}

/// Checks one kind of annotation.
fn check_kind(kind: &str, want: &AnnotationExpectation, got: &[String]) -> Result<(), String> {
    // Positions are not part of the comparison: the engine prints none, expectations lose theirs.
    let got: Vec<String> = got.iter().map(|g| POSITION.replace(g, "").into_owned()).collect();
    if want.none && !got.is_empty() {
        return Err(format!("expected no {kind}s, got {:?}", got[0]));
    }
    if want.some && got.is_empty() {
        return Err(format!("expected a {kind}, got none"));
    }
    if want.lines.is_empty() {
        return Ok(());
    }
    for line in &want.lines {
        if !got.iter().any(|g| line.matches(g)) {
            return Err(match got.first() {
                None => format!("expected {kind} {}, got none", line.describe()),
                Some(first) => format!("expected {kind} {}, got {first:?} ({} in all)", line.describe(), got.len()),
            });
        }
    }
    for g in &got {
        if !want.lines.iter().any(|line| line.matches(g)) {
            return Err(format!("unexpected {kind} {g:?}"));
        }
    }
    Ok(())
}

/// Checks a result against the expected lines (FORMAT.md §6.4). A matrix is compared by
/// position from `start` with `step`; `end` bounds how many values an expected line may have.
pub fn compare_result(eval: &Eval, value: &Value, start: i64, end: i64, step: i64) -> Result<(), String> {
    if let Some(want) = &eval.string {
        return match value {
            Value::String { v, .. } if v == want => Ok(()),
            Value::String { v, .. } => Err(format!("expected string {want:?}, got {v:?}")),
            other => Err(format!("expected string {want:?}, got a {}", other.type_name())),
        };
    }
    match value {
        Value::Scalar { v, .. } => match eval.scalar {
            None => Err(format!("expected a vector or matrix, got scalar {}", show(*v))),
            Some(want) if floats_equal(want, *v) => Ok(()),
            Some(want) => Err(format!("expected scalar {}, got {}", show(want), show(*v))),
        },
        Value::String { v, .. } if v.is_empty() => Ok(()),
        Value::String { v, .. } => Err(format!("expected no string, got {v:?}")),
        Value::Vector(samples) => compare_vector(eval, samples),
        Value::Matrix(series) => compare_matrix(eval, series, start, end, step),
    }
}

/// Compares an instant vector: same label sets, values within tolerance, order if asked.
fn compare_vector(eval: &Eval, samples: &[VecSample]) -> Result<(), String> {
    if let Some(want) = eval.scalar {
        return Err(format!("expected scalar {}, got a vector of {} samples", show(want), samples.len()));
    }
    let mut seen = BTreeSet::new();
    for (pos, s) in samples.iter().enumerate() {
        let Some(want) = eval.series.get(&s.labels) else {
            return Err(format!(
                "unexpected series {} = {} in result ({} samples, {} expected)",
                s.labels,
                show(s.v),
                samples.len(),
                eval.series.len()
            ));
        };
        if eval.ordered && want.pos != pos + 1 {
            return Err(format!("expected {} at position {}, got it at {}", s.labels, want.pos, pos + 1));
        }
        match want.values.first() {
            Some(SeqValue::Float(f)) if floats_equal(*f, s.v) => {}
            Some(SeqValue::Float(f)) => {
                return Err(format!("{}: expected {}, got {}", s.labels, show(*f), show(s.v)));
            }
            Some(SeqValue::Histogram(h)) => {
                return Err(format!("{}: expected histogram {}, got float {}", s.labels, histogram_text(h), show(s.v)));
            }
            Some(SeqValue::Omitted) | None => {
                return Err(format!("{}: expected line has no value, got {}", s.labels, show(s.v)));
            }
        }
        seen.insert(&s.labels);
    }
    if let Some((labels, want)) = eval.series.iter().find(|(l, _)| !seen.contains(l)) {
        let value = want.values.first().map(show_expected).unwrap_or_default();
        return Err(format!(
            "missing series {labels} = {value} ({} samples, {} expected)",
            samples.len(),
            eval.series.len()
        ));
    }
    Ok(())
}

/// Compares a matrix: sorted by labels, the same series, and point by point from `start`.
fn compare_matrix(eval: &Eval, series: &[Series], start: i64, end: i64, step: i64) -> Result<(), String> {
    if eval.ordered {
        return Err("expected an ordered instant vector, got a matrix".to_string());
    }
    if let Some(want) = eval.scalar {
        return Err(format!("expected scalar {}, got a matrix of {} series", show(want), series.len()));
    }
    if let Some(w) = series.windows(2).find(|w| w[0].labels > w[1].labels) {
        return Err(format!("matrix is not sorted by labels: {} before {}", w[0].labels, w[1].labels));
    }
    let mut seen = BTreeSet::new();
    for s in series {
        let Some(want) = eval.series.get(&s.labels) else {
            return Err(format!("unexpected series {} {} in result", s.labels, show_points(s)));
        };
        seen.insert(&s.labels);
        let mut floats = Vec::new();
        let mut histograms = 0;
        for (i, v) in want.values.iter().enumerate() {
            let t = start + i as i64 * step;
            if t > end {
                return Err(format!(
                    "expected {} values for {}, but the query range has fewer steps",
                    want.values.len(),
                    s.labels
                ));
            }
            match v {
                SeqValue::Float(f) => floats.push((t, *f)),
                SeqValue::Histogram(_) => histograms += 1,
                SeqValue::Omitted => {}
            }
        }
        if floats.len() != s.points.len() || histograms != 0 {
            let expected: Vec<String> = want.values.iter().map(show_expected).collect();
            return Err(format!(
                "{}: expected {} float and {histograms} histogram points [{}], got {} float points {}",
                s.labels,
                floats.len(),
                expected.join(" "),
                s.points.len(),
                show_points(s)
            ));
        }
        for ((t, f), p) in floats.iter().zip(&s.points) {
            if *t != p.t {
                return Err(format!(
                    "{}: expected a point at t={t}, got one at t={} {}",
                    s.labels,
                    p.t,
                    show_points(s)
                ));
            }
            if !floats_equal(*f, p.v) {
                return Err(format!("{} at t={t}: expected {}, got {}", s.labels, show(*f), show(p.v)));
            }
        }
    }
    if let Some((labels, want)) = eval.series.iter().find(|(l, _)| !seen.contains(l)) {
        let values: Vec<String> = want.values.iter().map(show_expected).collect();
        return Err(format!(
            "missing series {labels} [{}] ({} series, {} expected)",
            values.join(" "),
            series.len(),
            eval.series.len()
        ));
    }
    Ok(())
}
