//! PromQL functions: those over range vectors (one window of samples per step and series) and
//! those over instant vectors and scalars (one step at a time).

use std::collections::HashMap;

use lookout_storage::{Labels, Sample};
use promql_parser::parser::{Call, Expr};
use regex::Regex;

use super::QueryError;
use super::aggregate::{asc_nan_last, desc_nan_last};
use super::eval::{
    EvalResult, Evaluator, Merged, NAME, Pt, Raw, Ser, Steps, Val, absent_labels, chunks, exec_err, unparen,
};

/// Functions whose argument is a range vector, and which argument that is.
fn range_arg(name: &str) -> Option<usize> {
    match name {
        "rate"
        | "increase"
        | "delta"
        | "irate"
        | "idelta"
        | "avg_over_time"
        | "min_over_time"
        | "max_over_time"
        | "sum_over_time"
        | "count_over_time"
        | "last_over_time"
        | "first_over_time"
        | "stddev_over_time"
        | "stdvar_over_time"
        | "present_over_time"
        | "absent_over_time"
        | "changes"
        | "resets"
        | "deriv"
        | "predict_linear"
        | "holt_winters"
        | "double_exponential_smoothing"
        | "mad_over_time"
        | "ts_of_first_over_time"
        | "ts_of_last_over_time"
        | "ts_of_max_over_time"
        | "ts_of_min_over_time" => Some(0),
        "quantile_over_time" => Some(1),
        _ => None,
    }
}

/// Whether Lookout evaluates the function.
pub(super) fn is_supported(name: &str) -> bool {
    range_arg(name).is_some()
        || simple(name).is_some()
        || matches!(
            name,
            "time"
                | "pi"
                | "vector"
                | "scalar"
                | "absent"
                | "timestamp"
                | "sort"
                | "sort_desc"
                | "sort_by_label"
                | "sort_by_label_desc"
                | "clamp"
                | "clamp_min"
                | "clamp_max"
                | "round"
                | "label_replace"
                | "label_join"
                | "histogram_quantile"
                | "histogram_quantiles"
                | "histogram_fraction"
                | "info"
                | "min_of"
                | "max_of"
                | "histogram_count"
                | "histogram_sum"
                | "histogram_avg"
                | "histogram_stddev"
                | "histogram_stdvar"
                | "start"
                | "end"
                | "range"
                | "step"
                | "days_in_month"
                | "day_of_month"
                | "day_of_week"
                | "day_of_year"
                | "hour"
                | "minute"
                | "month"
                | "year"
        )
}

/// Functions applied to every value alone.
fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Evaluates a function call at every step.
pub(super) fn eval(ev: &mut Evaluator<'_>, call: &Call, steps: &Steps) -> EvalResult<Val> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if let Some(i) = range_arg(name) {
        return eval_range_function(ev, name, &args, i, steps);
    }
    if let Some(f) = simple(name) {
        let series = ev.eval_vector(args[0], steps)?;
        return Ok(Val::Vector(map_values(series, f)));
    }
    match name {
        "time" => Ok(Val::Scalar((0..steps.n).map(|i| steps.t(i) as f64 / 1000.0).collect())),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps.n])),
        "vector" => {
            let values = ev.eval_scalar(args[0], steps)?;
            let points = values.iter().enumerate().map(|(i, v)| Pt { i: i as u32, v: *v }).collect();
            Ok(Val::Vector(vec![Ser { labels: Labels::default(), points, drop_name: false, hists: Vec::new() }]))
        }
        "scalar" => {
            let series = ev.eval_vector(args[0], steps)?;
            let mut count = vec![0u32; steps.n];
            let mut value = vec![f64::NAN; steps.n];
            for s in &series {
                for p in &s.points {
                    count[p.i as usize] += 1;
                    value[p.i as usize] = p.v;
                }
            }
            Ok(Val::Scalar(value.into_iter().zip(count).map(|(v, c)| if c == 1 { v } else { f64::NAN }).collect()))
        }
        "absent" => {
            let series = ev.eval_vector(args[0], steps)?;
            let mut present = vec![false; steps.n];
            for s in &series {
                for p in &s.points {
                    present[p.i as usize] = true;
                }
            }
            let points: Vec<Pt> = (0..steps.n).filter(|i| !present[*i]).map(|i| Pt { i: i as u32, v: 1.0 }).collect();
            if points.is_empty() {
                return Ok(Val::Vector(Vec::new()));
            }
            Ok(Val::Vector(vec![Ser { labels: absent_labels(args[0]), points, drop_name: false, hists: Vec::new() }]))
        }
        "timestamp" => {
            let mut series = match unparen(args[0]) {
                Expr::VectorSelector(vs) => ev.instant_selector(vs, steps, true)?,
                other => {
                    let mut series = ev.eval_vector(other, steps)?;
                    for s in &mut series {
                        for p in &mut s.points {
                            p.v = steps.t(p.i as usize) as f64 / 1000.0;
                        }
                    }
                    series
                }
            };
            for s in &mut series {
                s.drop_name = true;
            }
            Ok(Val::Vector(series))
        }
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            let mut series = ev.eval_vector(args[0], steps)?;
            if steps.n == 1 {
                sort_series(name, &mut series, &string_args(&args[1..]));
            }
            Ok(Val::Vector(series))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let series = ev.eval_vector(args[0], steps)?;
            let (lo, hi) = match name {
                "clamp" => (ev.eval_scalar(args[1], steps)?, ev.eval_scalar(args[2], steps)?),
                "clamp_min" => (ev.eval_scalar(args[1], steps)?, vec![f64::INFINITY; steps.n]),
                _ => (vec![f64::NEG_INFINITY; steps.n], ev.eval_scalar(args[1], steps)?),
            };
            Ok(Val::Vector(map_points(series, |i, v| {
                let (lo, hi) = (lo[i], hi[i]);
                if hi < lo { None } else { Some(go_max(lo, go_min(hi, v))) }
            })))
        }
        "round" => {
            let series = ev.eval_vector(args[0], steps)?;
            let to = match args.get(1) {
                Some(a) => ev.eval_scalar(a, steps)?,
                None => vec![1.0; steps.n],
            };
            Ok(Val::Vector(map_points(series, |i, v| {
                let inv = 1.0 / to[i];
                Some((v * inv + 0.5).floor() / inv)
            })))
        }
        "start" | "end" | "range" | "step" => {
            let (start, end, step) = ev.query_times();
            let v = match name {
                "start" => start as f64 / 1000.0,
                "end" => end as f64 / 1000.0,
                "range" => (end - start) as f64 / 1000.0,
                _ => step as f64 / 1000.0,
            };
            Ok(Val::Scalar(vec![v; steps.n]))
        }
        // These read native histograms only; float series (all Lookout stores) give nothing.
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            ev.eval_vector(args[0], steps)?;
            Ok(Val::Vector(Vec::new()))
        }
        "label_replace" => label_replace(ev, &args, steps),
        "label_join" => label_join(ev, &args, steps),
        "histogram_quantile" => {
            let q = ev.eval_scalar(args[0], steps)?;
            let series = ev.eval_vector(args[1], steps)?;
            super::histogram::quantile(ev, &q, series, steps)
        }
        "histogram_quantiles" => histogram_quantiles(ev, &args, steps),
        "info" => super::info::info(ev, &args, steps),
        "min_of" | "max_of" => {
            let (a, b) = (ev.eval_scalar(args[0], steps)?, ev.eval_scalar(args[1], steps)?);
            let f = if name == "min_of" { go_min } else { go_max };
            Ok(Val::Scalar(a.into_iter().zip(b).map(|(a, b)| f(a, b)).collect()))
        }
        "histogram_fraction" => {
            let lower = ev.eval_scalar(args[0], steps)?;
            let upper = ev.eval_scalar(args[1], steps)?;
            let series = ev.eval_vector(args[2], steps)?;
            super::histogram::fraction(ev, &lower, &upper, series, steps)
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute" | "month" | "year" => {
            let f = date_function(name);
            match args.first() {
                None => {
                    let points = (0..steps.n).map(|i| Pt { i: i as u32, v: f(steps.t(i).div_euclid(1000)) }).collect();
                    Ok(Val::Vector(vec![Ser {
                        labels: Labels::default(),
                        points,
                        drop_name: false,
                        hists: Vec::new(),
                    }]))
                }
                Some(a) => {
                    let series = ev.eval_vector(a, steps)?;
                    Ok(Val::Vector(map_values(series, |v| if v.is_finite() { f(v as i64) } else { f64::NAN })))
                }
            }
        }
        other => Err(QueryError::BadData(format!("function {other:?} is not supported by Lookout"))),
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

/// Applies `f` to every value; the results lose their metric name.
fn map_values(mut series: Vec<Ser>, f: impl Fn(f64) -> f64) -> Vec<Ser> {
    for s in &mut series {
        for p in &mut s.points {
            p.v = f(p.v);
        }
        s.drop_name = true;
    }
    series
}

/// Applies `f(step, value)` to every value, dropping points where it gives `None`; the results
/// lose their metric name.
fn map_points(series: Vec<Ser>, f: impl Fn(usize, f64) -> Option<f64>) -> Vec<Ser> {
    series
        .into_iter()
        .filter_map(|s| {
            let points: Vec<Pt> =
                s.points.iter().filter_map(|p| f(p.i as usize, p.v).map(|v| Pt { i: p.i, v })).collect();
            (!points.is_empty()).then_some(Ser { labels: s.labels, points, drop_name: true, hists: Vec::new() })
        })
        .collect()
}

/// The string literals among `args`.
fn string_args(args: &[&Expr]) -> Vec<String> {
    args.iter()
        .filter_map(|a| match unparen(a) {
            Expr::StringLiteral(s) => Some(s.val.clone()),
            _ => None,
        })
        .collect()
}

/// The string literal argument `i`.
fn string_arg(args: &[&Expr], i: usize) -> EvalResult<String> {
    match args.get(i).map(|a| unparen(a)) {
        Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
        _ => exec_err(format!("expected a string literal as argument {}", i + 1)),
    }
}

/// Orders a one-step vector as `sort`, `sort_desc` and `sort_by_label(_desc)` do. NaN goes last
/// for both value sorts.
fn sort_series(name: &str, series: &mut [Ser], by: &[String]) {
    let value = |s: &Ser| s.points.first().map_or(f64::NAN, |p| p.v);
    match name {
        "sort" => series.sort_by(|a, b| asc_nan_last(value(a), value(b))),
        "sort_desc" => series.sort_by(|a, b| desc_nan_last(value(a), value(b))),
        _ => {
            let desc = name == "sort_by_label_desc";
            series.sort_by(|a, b| {
                for l in by {
                    let (x, y) = (a.labels.get(l).unwrap_or(""), b.labels.get(l).unwrap_or(""));
                    if x != y {
                        let o = natural_cmp(x, y);
                        return if desc { o.reverse() } else { o };
                    }
                }
                let o = a.labels.cmp(&b.labels);
                if desc { o.reverse() } else { o }
            });
        }
    }
}

/// Natural order: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let tx = trim_zeros(dx);
                let ty = trim_zeros(dy);
                let o = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|c| **c == b'0').count();
    &d[z.min(d.len().saturating_sub(1))..]
}

/// Whether `name` is a valid label name: UTF-8 names are allowed, as in Prometheus 3, but not
/// invalid UTF-8, which the query's byte escapes leave as U+FFFD (`syntax::go_byte_escapes`).
pub(super) fn valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('\u{fffd}')
}

fn label_replace(ev: &mut Evaluator<'_>, args: &[&Expr], steps: &Steps) -> EvalResult<Val> {
    let dst = string_arg(args, 1)?;
    let repl = string_arg(args, 2)?;
    let src = string_arg(args, 3)?;
    let pattern = string_arg(args, 4)?;
    let re = Regex::new(&format!("^(?s:{pattern})$"))
        .map_err(|_| QueryError::Execution(format!("invalid regular expression in label_replace(): {pattern}")))?;
    if !valid_label_name(&dst) {
        return exec_err(format!("invalid destination label name in label_replace(): {dst}"));
    }
    let mut series = ev.eval_vector(args[0], steps)?;
    for s in &mut series {
        let value = s.labels.get(&src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&value) {
            let mut out = String::new();
            // Go's `$1`/`${name}` template syntax is the regex crate's.
            caps.expand(&repl, &mut out);
            s.labels.set(&dst, out);
            s.drop_name = if dst == NAME { false } else { s.drop_name };
        }
    }
    check_unique_per_step(&series)?;
    Ok(Val::Vector(series))
}

fn label_join(ev: &mut Evaluator<'_>, args: &[&Expr], steps: &Steps) -> EvalResult<Val> {
    let dst = string_arg(args, 1)?;
    let sep = string_arg(args, 2)?;
    let mut srcs = Vec::new();
    for i in 3..args.len() {
        let src = string_arg(args, i)?;
        if !valid_label_name(&src) {
            return exec_err(format!("invalid source label name in label_join(): {src}"));
        }
        srcs.push(src);
    }
    if !valid_label_name(&dst) {
        return exec_err(format!("invalid destination label name in label_join(): {dst}"));
    }
    let mut series = ev.eval_vector(args[0], steps)?;
    for s in &mut series {
        let joined: Vec<&str> = srcs.iter().map(|l| s.labels.get(l).unwrap_or("")).collect();
        let joined = joined.join(&sep);
        s.labels.set(&dst, joined);
        s.drop_name = if dst == NAME { false } else { s.drop_name };
    }
    check_unique_per_step(&series)?;
    Ok(Val::Vector(series))
}

/// Fails when two series with the same labels have a value at the same step.
pub(super) fn check_unique_per_step(series: &[Ser]) -> EvalResult<()> {
    let mut by_labels: HashMap<&Labels, Vec<&Ser>> = HashMap::new();
    for s in series {
        by_labels.entry(&s.labels).or_default().push(s);
    }
    for group in by_labels.values().filter(|g| g.len() > 1) {
        let mut steps: Vec<u32> = group.iter().flat_map(|s| s.points.iter().map(|p| p.i)).collect();
        steps.sort_unstable();
        if steps.windows(2).any(|w| w[0] == w[1]) {
            return exec_err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(())
}

/// `histogram_quantiles(buckets, "label", q1, q2, …)`: `histogram_quantile` for each quantile,
/// told apart by `label` set to the quantile.
fn histogram_quantiles(ev: &mut Evaluator<'_>, args: &[&Expr], steps: &Steps) -> EvalResult<Val> {
    let series = ev.eval_vector(args[0], steps)?;
    let label = string_arg(args, 1)?;
    if !valid_label_name(&label) {
        return exec_err(format!("invalid label name {label:?}"));
    }
    let mut out = Vec::new();
    for arg in &args[2..] {
        let q = ev.eval_scalar(arg, steps)?;
        let Val::Vector(part) = super::histogram::quantile(ev, &q, series.clone(), steps)? else {
            continue;
        };
        for s in part {
            // The quantile may change from step to step, and with it the label.
            let mut by_value: Vec<(String, Vec<Pt>)> = Vec::new();
            for p in s.points {
                let value = float_label(q[p.i as usize]);
                match by_value.iter_mut().find(|(v, _)| *v == value) {
                    Some((_, points)) => points.push(p),
                    None => by_value.push((value, vec![p])),
                }
            }
            for (value, points) in by_value {
                let mut labels = s.labels.clone();
                labels.set(&label, value);
                out.push(Ser { labels, points, drop_name: s.drop_name, hists: Vec::new() });
            }
        }
    }
    check_unique_per_step(&out)?;
    Ok(Val::Vector(out))
}

/// A float as OpenMetrics writes it in a label: whole numbers keep a `.0`.
fn float_label(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.1}") } else { format_value(v) }
}

/// The date functions: from seconds since the epoch (UTC) to a calendar field.
fn date_function(name: &str) -> fn(i64) -> f64 {
    match name {
        "days_in_month" => |s| {
            let (y, m, _) = civil(s);
            days_in_month(y, m) as f64
        },
        "day_of_month" => |s| civil(s).2 as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_year" => |s| {
            let (y, m, d) = civil(s);
            ((1..m).map(|m| days_in_month(y, m)).sum::<i64>() + d) as f64
        },
        "hour" => |s| s.rem_euclid(86_400).div_euclid(3600) as f64,
        "minute" => |s| s.rem_euclid(3600).div_euclid(60) as f64,
        "month" => |s| civil(s).1 as f64,
        _ => |s| civil(s).0 as f64,
    }
}

/// Year, month (1–12) and day (1–31) of a Unix time in seconds, UTC.
fn civil(secs: i64) -> (i64, i64, i64) {
    // Howard Hinnant's days-from-civil inverse.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Evaluates a function over a range vector (a range selector or a subquery): for every series
/// and step, the samples in the step's window.
fn eval_range_function(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    arg: usize,
    steps: &Steps,
) -> EvalResult<Val> {
    // Scalar parameters, one per step.
    let params: Vec<Vec<f64>> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != arg)
        .map(|(_, a)| ev.eval_scalar(a, steps))
        .collect::<EvalResult<_>>()?;
    let target = unparen(args[arg]);
    let at = match target {
        Expr::MatrixSelector(ms) => ev.at_time(&ms.vs.at),
        Expr::Subquery(sq) => ev.at_time(&sq.at),
        _ => return exec_err(format!("expected type range vector in call to function {name:?}")),
    };
    let mut state = RangeState { name, keep_name: matches!(name, "last_over_time" | "first_over_time"), warned: false };
    let mut out = Merged::default();
    let mut present = vec![false; steps.n];
    match target {
        Expr::MatrixSelector(ms) => {
            let range = ms.range.as_millis() as i64;
            let offset = super::eval::offset_ms(&ms.vs.offset);
            for (lo, hi) in chunks(steps, at) {
                out.next_chunk();
                let part = Steps { start: steps.t(lo), step: steps.step, n: hi - lo };
                let raws = ev.range_selector(&ms.vs, range, &part, at)?;
                let window = Window { steps, lo, hi, at, offset, range };
                apply_windows(ev, &mut state, raws, &window, &params, &mut out, &mut present)?;
            }
        }
        Expr::Subquery(sq) => {
            let (raws, range, offset) = ev.subquery(sq, steps)?;
            let window = Window { steps, lo: 0, hi: steps.n, at, offset, range };
            apply_windows(ev, &mut state, raws, &window, &params, &mut out, &mut present)?;
        }
        _ => {}
    }
    if name == "absent_over_time" {
        let points: Vec<Pt> = (0..steps.n).filter(|i| !present[*i]).map(|i| Pt { i: i as u32, v: 1.0 }).collect();
        if points.is_empty() {
            return Ok(Val::Vector(Vec::new()));
        }
        return Ok(Val::Vector(vec![Ser {
            labels: absent_labels(target),
            points,
            drop_name: false,
            hists: Vec::new(),
        }]));
    }
    Ok(Val::Vector(out.series))
}

/// What stays the same across the chunks of one range function call.
struct RangeState<'a> {
    name: &'a str,
    keep_name: bool,
    warned: bool,
}

/// The steps `[lo, hi)` of `steps` whose windows are `(ref - range, ref]`.
struct Window<'a> {
    steps: &'a Steps,
    lo: usize,
    hi: usize,
    at: Option<i64>,
    offset: i64,
    range: i64,
}

/// Computes the function over every series' window at every step of `w`.
fn apply_windows(
    ev: &mut Evaluator<'_>,
    state: &mut RangeState<'_>,
    raws: Vec<Raw>,
    w: &Window<'_>,
    params: &[Vec<f64>],
    out: &mut Merged,
    present: &mut [bool],
) -> EvalResult<()> {
    let name = state.name;
    for (n, r) in raws.into_iter().enumerate() {
        if n % 256 == 0 {
            ev.check_deadline()?;
        }
        let Raw { labels, samples, drop_name } = r;
        if let Some(metric) = labels.get(NAME).filter(|_| matches!(name, "rate" | "increase"))
            && !["_total", "_sum", "_count", "_bucket"].iter().any(|s| metric.ends_with(s))
        {
            ev.annotations.info(format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
            ));
        }
        let mut points = Vec::new();
        let (mut lo, mut hi) = (0usize, 0usize);
        for i in w.lo..w.hi {
            let end = Evaluator::ref_time(w.steps, i, w.at, w.offset);
            let start = end.saturating_sub(w.range);
            if w.at.is_some() {
                lo = 0;
                hi = 0;
            }
            while hi < samples.len() && samples[hi].t <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].t <= start {
                lo += 1;
            }
            let window = &samples[lo..hi];
            if window.is_empty() {
                continue;
            }
            present[i] = true;
            if name == "absent_over_time" {
                continue;
            }
            let p: Vec<f64> = params.iter().map(|p| p[i]).collect();
            if name == "quantile_over_time" && !state.warned && (p[0].is_nan() || p[0] < 0.0 || p[0] > 1.0) {
                state.warned = true;
                ev.annotations.warn(format!("quantile value should be between 0 and 1, got {}", format_value(p[0])));
            }
            let args = WindowArgs { samples: window, start, end, range: w.range, t: w.steps.t(i), params: &p };
            if let Some(v) = window_value(name, &args)? {
                points.push(Pt { i: i as u32, v });
            }
        }
        out.add(labels, points, if state.keep_name { drop_name } else { true });
    }
    Ok(())
}

/// Go's `%g`-like formatting of a float as Prometheus prints values in messages.
pub(super) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// One window of one series at one step.
struct WindowArgs<'a> {
    samples: &'a [Sample],
    /// The window is `(start, end]`.
    start: i64,
    end: i64,
    range: i64,
    /// The evaluation time of the step.
    t: i64,
    /// Scalar arguments at this step.
    params: &'a [f64],
}

/// Neumaier's compensated summation step, as Prometheus's `kahanSumInc`.
pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The value of range function `name` over one window, if it has one.
fn window_value(name: &str, w: &WindowArgs<'_>) -> EvalResult<Option<f64>> {
    let s = w.samples;
    let v = match name {
        "rate" => extrapolated_rate(w, true, true),
        "increase" => extrapolated_rate(w, true, false),
        "delta" => extrapolated_rate(w, false, false),
        "irate" => instant_value(s, true),
        "idelta" => instant_value(s, false),
        "avg_over_time" => Some(mean(s.iter().map(|s| s.v))),
        "sum_over_time" => {
            let (mut sum, mut c) = (0.0, 0.0);
            for x in s {
                (sum, c) = kahan_inc(x.v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        }
        "count_over_time" => Some(s.len() as f64),
        "min_over_time" => Some(extreme(s, |cur, best| cur < best).1),
        "max_over_time" => Some(extreme(s, |cur, best| cur > best).1),
        "ts_of_min_over_time" => Some(extreme(s, |cur, best| cur <= best).0 as f64 / 1000.0),
        "ts_of_max_over_time" => Some(extreme(s, |cur, best| cur >= best).0 as f64 / 1000.0),
        "ts_of_first_over_time" => Some(s[0].t as f64 / 1000.0),
        "ts_of_last_over_time" => Some(s[s.len() - 1].t as f64 / 1000.0),
        "last_over_time" => Some(s[s.len() - 1].v),
        "first_over_time" => Some(s[0].v),
        "present_over_time" => Some(1.0),
        "stddev_over_time" => Some(variance(s.iter().map(|s| s.v)).sqrt()),
        "stdvar_over_time" => Some(variance(s.iter().map(|s| s.v))),
        "quantile_over_time" => Some(quantile(w.params[0], s.iter().map(|s| s.v).collect())),
        // A NaN sample makes the deviation unknown, rather than sorting first.
        "mad_over_time" if s.iter().any(|s| s.v.is_nan()) => Some(f64::NAN),
        "mad_over_time" => {
            let values: Vec<f64> = s.iter().map(|s| s.v).collect();
            let median = quantile(0.5, values.clone());
            Some(quantile(0.5, values.iter().map(|v| (v - median).abs()).collect()))
        }
        "changes" => {
            let mut n = 0;
            for p in s.windows(2) {
                let (a, b) = (p[0].v, p[1].v);
                if a != b && !(a.is_nan() && b.is_nan()) {
                    n += 1;
                }
            }
            Some(n as f64)
        }
        "resets" => Some(s.windows(2).filter(|p| p[1].v < p[0].v).count() as f64),
        "deriv" => (s.len() >= 2).then(|| linear_regression(s, s[0].t).0),
        "predict_linear" => (s.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(s, w.t);
            slope * w.params[0] + intercept
        }),
        "holt_winters" | "double_exponential_smoothing" => {
            let (sf, tf) = (w.params[0], w.params[1]);
            if sf <= 0.0 || sf >= 1.0 {
                return exec_err(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"));
            }
            if tf <= 0.0 || tf >= 1.0 {
                return exec_err(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"));
            }
            double_exponential_smoothing(s, sf, tf)
        }
        _ => return exec_err(format!("function {name:?} is not supported by Lookout")),
    };
    Ok(v)
}

/// rate, increase and delta: the change over the window, extrapolated towards its edges.
fn extrapolated_rate(w: &WindowArgs<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let s = w.samples;
    if s.len() < 2 {
        return None;
    }
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for p in &s[1..] {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }
    let mut to_start = (first.t - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_between = sampled / (s.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// irate and idelta: from the last two samples.
fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (a, b) = (s[s.len() - 2], s[s.len() - 1]);
    let interval = b.t - a.t;
    if interval == 0 {
        return None;
    }
    // A counter reset (the last value below the one before) counts from zero.
    let reset = is_rate && b.v < a.v;
    let mut v = if reset { b.v } else { b.v - a.v };
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// The mean with compensated summation, switching to an incremental mean when the sum would
/// overflow (Prometheus's `avg` and `avg_over_time`).
pub(super) fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let mut acc = MeanAcc::default();
    for v in values {
        acc.add(v);
    }
    acc.value()
}

/// A running mean as Prometheus computes it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MeanAcc {
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl MeanAcc {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = v;
            return;
        }
        if !self.incremental {
            let (s, c) = kahan_inc(v, self.sum, self.c);
            if !s.is_infinite() {
                self.sum = s;
                self.c = c;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.c) = kahan_inc(v / self.count, q * self.mean, q * self.c);
    }

    pub fn value(&self) -> f64 {
        if self.incremental { self.mean + self.c } else { self.sum / self.count + self.c / self.count }
    }
}

/// Population variance with compensated sums (Prometheus's `stdvar_over_time`).
pub(super) fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let mut acc = VarAcc::default();
    for v in values {
        acc.add(v);
    }
    acc.value()
}

/// A running variance as Prometheus computes it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct VarAcc {
    count: f64,
    mean: f64,
    c_mean: f64,
    aux: f64,
    c_aux: f64,
}

impl VarAcc {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        let delta = v - (self.mean + self.c_mean);
        (self.mean, self.c_mean) = kahan_inc(delta / self.count, self.mean, self.c_mean);
        (self.aux, self.c_aux) = kahan_inc(delta * (v - (self.mean + self.c_mean)), self.aux, self.c_aux);
    }

    pub fn value(&self) -> f64 {
        (self.aux + self.c_aux) / self.count
    }
}

/// The sample chosen by `better(current, best)` scanning in order; NaN loses to any number.
fn extreme(s: &[Sample], better: impl Fn(f64, f64) -> bool) -> (i64, f64) {
    let (mut t, mut best) = (s[0].t, s[0].v);
    for x in s {
        if better(x.v, best) || best.is_nan() {
            best = x.v;
            t = x.t;
        }
    }
    (t, best)
}

/// The φ-quantile of `values` with linear interpolation between ranks (Prometheus's
/// `quantile`); NaN sorts first.
pub(super) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Least-squares slope and intercept at `intercept_t` (ms), with compensated sums.
fn linear_regression(s: &[Sample], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = s[0].v;
    let mut const_y = true;
    for (i, p) in s.iter().enumerate() {
        if const_y && i > 0 && p.v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// Holt's linear smoothing (Prometheus's `double_exponential_smoothing`).
fn double_exponential_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = s[0].v;
    let mut b = s[1].v - s[0].v;
    for (i, p) in s.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}
