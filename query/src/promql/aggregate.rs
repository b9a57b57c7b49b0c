//! Aggregation operators: `sum avg min max count group stddev stdvar` accumulate series by
//! series into one slot per group and step; `topk bottomk limitk limit_ratio quantile
//! count_values` look at each step's values together.

use std::collections::HashMap;

use lookout_storage::Labels;
use promql_parser::parser::token;
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::{EvalResult, Evaluator, NAME, Pt, Ser, Steps, Val, exec_err};
use super::functions::{MeanAcc, VarAcc, format_value, kahan_inc, quantile};

/// The labels of a series' group under `by`/`without`.
fn group_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::default(),
        Some(LabelModifier::Include(names)) => {
            let keep: Vec<&str> = names.labels.iter().map(|l| l.as_str()).collect();
            Labels::from_sorted(labels.iter().filter(|l| keep.contains(&l.name.as_str())).cloned().collect())
        }
        Some(LabelModifier::Exclude(names)) => {
            let drop: Vec<&str> = names.labels.iter().map(|l| l.as_str()).collect();
            Labels::from_sorted(
                labels.iter().filter(|l| l.name != NAME && !drop.contains(&l.name.as_str())).cloned().collect(),
            )
        }
    }
}

/// Assigns each series its group: returns the groups' labels and each series' group index.
fn grouping(series: &[Ser], modifier: &Option<LabelModifier>) -> (Vec<Labels>, Vec<usize>) {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups = Vec::new();
    let of = series
        .iter()
        .map(|s| {
            let key = group_labels(&s.labels, modifier);
            *index.entry(key.clone()).or_insert_with(|| {
                groups.push(key);
                groups.len() - 1
            })
        })
        .collect();
    (groups, of)
}

/// One group's running aggregate at one step.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    seen: bool,
    value: f64,
    c: f64,
    count: f64,
    mean: MeanAcc,
    var: VarAcc,
}

/// Evaluates an aggregation at every step.
pub(super) fn eval(ev: &mut Evaluator<'_>, agg: &AggregateExpr, steps: &Steps) -> EvalResult<Val> {
    let op = agg.op.id();
    let param = match &agg.param {
        Some(p) if op == token::T_COUNT_VALUES => match ev.eval(p, steps)? {
            Val::Str(s) => Param::Label(s),
            other => return exec_err(format!("expected string parameter, got {}", other.type_name())),
        },
        Some(p) => Param::Numbers(ev.eval_scalar(p, steps)?),
        None => Param::None,
    };
    let series = ev.eval_vector(&agg.expr, steps)?;
    match op {
        token::T_TOPK | token::T_BOTTOMK | token::T_LIMITK | token::T_LIMIT_RATIO => {
            let Param::Numbers(k) = param else { return exec_err("missing parameter") };
            select_k(ev, op, &k, series, &agg.modifier, steps)
        }
        token::T_QUANTILE => {
            let Param::Numbers(q) = param else { return exec_err("missing parameter") };
            per_step_quantile(ev, &q, series, &agg.modifier, steps)
        }
        token::T_COUNT_VALUES => {
            let Param::Label(label) = param else { return exec_err("missing parameter") };
            count_values(&label, series, &agg.modifier)
        }
        _ => accumulate(ev, op, series, &agg.modifier, steps),
    }
}

enum Param {
    None,
    Numbers(Vec<f64>),
    Label(String),
}

/// sum, avg, min, max, count, group, stddev, stdvar.
fn accumulate(
    ev: &mut Evaluator<'_>,
    op: u16,
    series: Vec<Ser>,
    modifier: &Option<LabelModifier>,
    steps: &Steps,
) -> EvalResult<Val> {
    let (groups, of) = grouping(&series, modifier);
    ev.check_samples(groups.len() * steps.n)?;
    let mut accs = vec![Acc::default(); groups.len() * steps.n];
    let mut drop_name = vec![false; groups.len()];
    for (s, &g) in series.iter().zip(&of) {
        drop_name[g] |= s.drop_name;
        for p in &s.points {
            let a = &mut accs[g * steps.n + p.i as usize];
            let v = p.v;
            if !a.seen {
                a.seen = true;
                a.value = v;
                a.count = 1.0;
                a.mean.add(v);
                a.var.add(v);
                if op == token::T_GROUP {
                    a.value = 1.0;
                }
                continue;
            }
            a.count += 1.0;
            match op {
                token::T_SUM => (a.value, a.c) = kahan_inc(v, a.value, a.c),
                token::T_AVG => a.mean.add(v),
                token::T_MIN if a.value > v || a.value.is_nan() => a.value = v,
                token::T_MAX if a.value < v || a.value.is_nan() => a.value = v,
                token::T_STDDEV | token::T_STDVAR => a.var.add(v),
                _ => {}
            }
        }
    }
    let only_name_by = matches!(modifier, Some(LabelModifier::Include(l)) if l.labels.iter().any(|n| n == NAME));
    let mut out = Vec::with_capacity(groups.len());
    for (g, labels) in groups.into_iter().enumerate() {
        let mut points = Vec::new();
        for i in 0..steps.n {
            let a = &accs[g * steps.n + i];
            if !a.seen {
                continue;
            }
            let v = match op {
                token::T_SUM => {
                    if a.value.is_infinite() {
                        a.value
                    } else {
                        a.value + a.c
                    }
                }
                token::T_AVG => a.mean.value(),
                token::T_COUNT => a.count,
                token::T_GROUP => 1.0,
                token::T_STDDEV => a.var.value().sqrt(),
                token::T_STDVAR => a.var.value(),
                _ => a.value,
            };
            points.push(Pt { i: i as u32, v });
        }
        let drop = only_name_by && drop_name[g];
        out.push(Ser { labels, points, drop_name: drop, hists: Vec::new() });
    }
    Ok(Val::Vector(out))
}

/// topk, bottomk, limitk and limit_ratio: the chosen input series of each group, per step.
fn select_k(
    ev: &mut Evaluator<'_>,
    op: u16,
    param: &[f64],
    series: Vec<Ser>,
    modifier: &Option<LabelModifier>,
    steps: &Steps,
) -> EvalResult<Val> {
    let (_, of) = grouping(&series, modifier);
    // Per step, the (series, value) pairs of each group, in input order.
    let mut chosen: Vec<Vec<Pt>> = vec![Vec::new(); series.len()];
    let mut by_step: Vec<Vec<(usize, f64)>> = vec![Vec::new(); steps.n];
    for (si, s) in series.iter().enumerate() {
        for p in &s.points {
            by_step[p.i as usize].push((si, p.v));
        }
    }
    if op == token::T_LIMIT_RATIO {
        for (i, items) in by_step.iter().enumerate() {
            let mut r = param[i];
            if r.is_nan() {
                return exec_err("Ratio value is NaN");
            }
            if !(-1.0..=1.0).contains(&r) {
                let capped = r.clamp(-1.0, 1.0);
                ev.annotations.warn(format!(
                    "ratio value should be between -1 and 1, got {}, capping to {}",
                    format_value(r),
                    format_value(capped)
                ));
                r = capped;
            }
            for &(si, v) in items {
                let offset = sample_offset(&series[si].labels);
                let keep = if r >= 0.0 { offset < r } else { offset >= 1.0 + r };
                if keep {
                    chosen[si].push(Pt { i: i as u32, v });
                }
            }
        }
    } else {
        for (i, items) in by_step.iter().enumerate() {
            let k = param[i];
            if k.is_nan() {
                return exec_err("Parameter value is NaN");
            }
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&k) {
                return exec_err(format!("Scalar value {} overflows int64", format_value(k)));
            }
            let k = k as i64;
            if k < 1 {
                continue;
            }
            let mut per_group: HashMap<usize, Vec<(usize, f64)>> = HashMap::new();
            for &(si, v) in items {
                per_group.entry(of[si]).or_default().push((si, v));
            }
            for (_, mut members) in per_group {
                match op {
                    token::T_TOPK => members.sort_by(|a, b| desc_nan_last(a.1, b.1)),
                    token::T_BOTTOMK => members.sort_by(|a, b| asc_nan_last(a.1, b.1)),
                    _ => {}
                }
                for &(si, v) in members.iter().take(k.min(members.len() as i64) as usize) {
                    chosen[si].push(Pt { i: i as u32, v });
                }
            }
        }
    }
    let mut out = Vec::new();
    // For an instant query, order the result as Prometheus does: by group, then by value.
    let mut order: Vec<usize> = (0..series.len()).collect();
    if steps.n == 1 && matches!(op, token::T_TOPK | token::T_BOTTOMK) {
        let value = |si: usize| chosen[si].first().map_or(f64::NAN, |p| p.v);
        order.sort_by(|&a, &b| {
            of[a].cmp(&of[b]).then_with(|| {
                if op == token::T_TOPK { desc_nan_last(value(a), value(b)) } else { asc_nan_last(value(a), value(b)) }
            })
        });
    }
    let mut series: Vec<Option<Ser>> = series.into_iter().map(Some).collect();
    for si in order {
        let points = std::mem::take(&mut chosen[si]);
        if points.is_empty() {
            continue;
        }
        if let Some(s) = series[si].take() {
            out.push(Ser { labels: s.labels, points, drop_name: s.drop_name, hists: Vec::new() });
        }
    }
    Ok(Val::Vector(out))
}

/// Descending by value, NaN last.
pub(super) fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Ascending by value, NaN last.
pub(super) fn asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// A stable number in `[0, 1)` from a label set, for `limit_ratio`'s sampling.
fn sample_offset(labels: &Labels) -> f64 {
    // FNV-1a over names and values: stable across runs and processes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for l in labels.iter() {
        for b in l.name.bytes().chain([0xff]).chain(l.value.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// quantile: per group and step.
fn per_step_quantile(
    ev: &mut Evaluator<'_>,
    q: &[f64],
    series: Vec<Ser>,
    modifier: &Option<LabelModifier>,
    steps: &Steps,
) -> EvalResult<Val> {
    let (groups, of) = grouping(&series, modifier);
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); groups.len() * steps.n];
    for (s, &g) in series.iter().zip(&of) {
        for p in &s.points {
            values[g * steps.n + p.i as usize].push(p.v);
        }
    }
    let mut warned = false;
    let mut out = Vec::with_capacity(groups.len());
    for (g, labels) in groups.into_iter().enumerate() {
        let mut points = Vec::new();
        for (i, &qi) in q.iter().enumerate().take(steps.n) {
            let vals = std::mem::take(&mut values[g * steps.n + i]);
            if vals.is_empty() {
                continue;
            }
            if !warned && (qi.is_nan() || !(0.0..=1.0).contains(&qi)) {
                warned = true;
                ev.annotations.warn(format!("quantile value should be between 0 and 1, got {}", format_value(qi)));
            }
            points.push(Pt { i: i as u32, v: quantile(qi, vals) });
        }
        out.push(Ser { labels, points, drop_name: false, hists: Vec::new() });
    }
    Ok(Val::Vector(out))
}

/// count_values: how many series have each value, per group and step.
fn count_values(label: &str, series: Vec<Ser>, modifier: &Option<LabelModifier>) -> EvalResult<Val> {
    if !super::functions::valid_label_name(label) {
        return exec_err(format!("invalid label name {label:?}"));
    }
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Ser> = Vec::new();
    let mut counts: Vec<HashMap<u32, f64>> = Vec::new();
    for s in &series {
        let base = group_labels(&s.labels, modifier);
        for p in &s.points {
            let mut labels = base.clone();
            labels.set(label, format_value(p.v));
            let g = *index.entry(labels.clone()).or_insert_with(|| {
                out.push(Ser { labels, points: Vec::new(), drop_name: false, hists: Vec::new() });
                counts.push(HashMap::new());
                out.len() - 1
            });
            *counts[g].entry(p.i).or_default() += 1.0;
        }
    }
    for (s, c) in out.iter_mut().zip(counts) {
        let mut points: Vec<Pt> = c.into_iter().map(|(i, v)| Pt { i, v }).collect();
        points.sort_by_key(|p| p.i);
        s.points = points;
    }
    Ok(Val::Vector(out))
}
