//! Binary operators: arithmetic, comparisons (filtering, or 0/1 with `bool`), `atan2`, and the
//! set operators, between scalars and instant vectors, with Prometheus's vector matching
//! (`on`/`ignoring`, `group_left`/`group_right`) and its errors.

use std::collections::HashMap;

use lookout_storage::{Label, Labels};
use promql_parser::parser::token;
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{EvalResult, Evaluator, NAME, Pt, Ser, Steps, Val, exec_err};

/// Applies a non-set operator to two numbers: the value, and whether a comparison held.
fn apply(op: u16, l: f64, r: f64) -> (f64, bool) {
    match op {
        token::T_ADD => (l + r, true),
        token::T_SUB => (l - r, true),
        token::T_MUL => (l * r, true),
        token::T_DIV => (l / r, true),
        token::T_MOD => (l % r, true),
        token::T_POW => (l.powf(r), true),
        token::T_ATAN2 => (l.atan2(r), true),
        token::T_EQLC => (l, l == r),
        token::T_NEQ => (l, l != r),
        token::T_GTR => (l, l > r),
        token::T_LSS => (l, l < r),
        token::T_GTE => (l, l >= r),
        token::T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

fn is_comparison(op: u16) -> bool {
    matches!(op, token::T_EQLC | token::T_NEQ | token::T_GTR | token::T_LSS | token::T_GTE | token::T_LTE)
}

/// Evaluates `lhs op rhs` at every step.
pub(super) fn eval(ev: &mut Evaluator<'_>, expr: &BinaryExpr, lhs: Val, rhs: Val, steps: &Steps) -> EvalResult<Val> {
    let op = expr.op.id();
    let modifier = expr.modifier.as_ref();
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(|(&a, &b)| {
                    let (v, keep) = apply(op, a, b);
                    if is_comparison(op) { if keep { 1.0 } else { 0.0 } } else { v }
                })
                .collect(),
        )),
        (Val::Vector(l), Val::Scalar(r)) => Ok(Val::Vector(vector_scalar(op, l, &r, false, return_bool))),
        (Val::Scalar(l), Val::Vector(r)) => Ok(Val::Vector(vector_scalar(op, r, &l, true, return_bool))),
        (Val::Vector(l), Val::Vector(r)) => {
            let default = BinModifier {
                card: VectorMatchCardinality::OneToOne,
                matching: None,
                return_bool: false,
                fill_values: Default::default(),
            };
            let m = modifier.unwrap_or(&default);
            match op {
                token::T_LAND | token::T_LOR | token::T_LUNLESS => Ok(Val::Vector(set_op(op, l, r, m, steps))),
                _ => vector_vector(ev, op, l, r, m, steps).map(Val::Vector),
            }
        }
        (l, r) => exec_err(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        )),
    }
}

/// A vector with a scalar on one side (`swap`: the scalar is on the left).
fn vector_scalar(op: u16, series: Vec<Ser>, scalar: &[f64], swap: bool, return_bool: bool) -> Vec<Ser> {
    let comparison = is_comparison(op);
    series
        .into_iter()
        .filter_map(|s| {
            let mut points = Vec::with_capacity(s.points.len());
            for p in &s.points {
                let x = scalar[p.i as usize];
                let (l, r) = if swap { (x, p.v) } else { (p.v, x) };
                let (mut v, keep) = apply(op, l, r);
                if comparison && swap {
                    v = p.v;
                }
                if return_bool {
                    points.push(Pt { i: p.i, v: if keep { 1.0 } else { 0.0 } });
                } else if keep {
                    points.push(Pt { i: p.i, v });
                }
            }
            if points.is_empty() {
                return None;
            }
            let drop_name = s.drop_name || !comparison || return_bool;
            Some(Ser { labels: s.labels, points, drop_name, hists: Vec::new() })
        })
        .collect()
}

/// The matching signature of a series: the `on` labels, or all labels but the `ignoring` ones
/// and the name.
fn signature(labels: &Labels, matching: &Option<LabelModifier>) -> Vec<(String, String)> {
    match matching {
        Some(LabelModifier::Include(on)) => {
            let mut names: Vec<&str> = on.labels.iter().map(|l| l.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names.iter().map(|n| (n.to_string(), labels.get(n).unwrap_or("").to_string())).collect()
        }
        Some(LabelModifier::Exclude(ignoring)) => {
            let skip: Vec<&str> = ignoring.labels.iter().map(|l| l.as_str()).collect();
            labels
                .iter()
                .filter(|l| l.name != NAME && !skip.contains(&l.name.as_str()))
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        }
        None => labels.iter().filter(|l| l.name != NAME).map(|l| (l.name.clone(), l.value.clone())).collect(),
    }
}

/// Prints a signature as a label set, as Prometheus prints a match group.
fn signature_string(sig: &[(String, String)]) -> String {
    let labels = Labels::new(sig.iter().map(|(n, v)| Label::new(n.clone(), v.clone())).collect());
    go_labels_string(&labels)
}

/// Prometheus's `labels.String()`: `{a="b", c="d"}` with `__name__` inside the braces.
fn go_labels_string(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", parts.join(", "))
}

/// and, or, unless.
fn set_op(op: u16, lhs: Vec<Ser>, rhs: Vec<Ser>, m: &BinModifier, steps: &Steps) -> Vec<Ser> {
    let lsig: Vec<_> = lhs.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    let rsig: Vec<_> = rhs.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    // Per step, which signatures the right (for and/unless) or left (for or) side has.
    let mut present: Vec<std::collections::HashSet<&Vec<(String, String)>>> = vec![Default::default(); steps.n];
    let (marker, marker_sigs) = if op == token::T_LOR { (&lhs, &lsig) } else { (&rhs, &rsig) };
    for (s, sig) in marker.iter().zip(marker_sigs) {
        for p in &s.points {
            present[p.i as usize].insert(sig);
        }
    }
    let keep_l = |i: u32, sig: &Vec<(String, String)>| -> bool {
        let has = present[i as usize].contains(sig);
        match op {
            token::T_LAND => has,
            token::T_LUNLESS => !has,
            _ => true,
        }
    };
    let mut out = Vec::new();
    for (s, sig) in lhs.iter().zip(&lsig) {
        let points: Vec<Pt> = s.points.iter().filter(|p| keep_l(p.i, sig)).copied().collect();
        if !points.is_empty() {
            out.push(Ser { labels: s.labels.clone(), points, drop_name: s.drop_name, hists: Vec::new() });
        }
    }
    if op == token::T_LOR {
        for (s, sig) in rhs.iter().zip(&rsig) {
            let points: Vec<Pt> = s.points.iter().filter(|p| !present[p.i as usize].contains(sig)).copied().collect();
            if !points.is_empty() {
                out.push(Ser { labels: s.labels.clone(), points, drop_name: s.drop_name, hists: Vec::new() });
            }
        }
    }
    out
}

/// Arithmetic, comparison and atan2 between two vectors.
fn vector_vector(
    ev: &mut Evaluator<'_>,
    op: u16,
    lhs: Vec<Ser>,
    rhs: Vec<Ser>,
    m: &BinModifier,
    steps: &Steps,
) -> EvalResult<Vec<Ser>> {
    let comparison = is_comparison(op);
    let (include, one_to_many) = match &m.card {
        VectorMatchCardinality::ManyToOne(l) => (Some(l), false),
        VectorMatchCardinality::OneToMany(l) => (Some(l), true),
        _ => (None, false),
    };
    let one_to_one = include.is_none();
    // The "many" side is `many`; the "one" side `one`. For one-to-one, left is "many".
    let (many, one) = if one_to_many { (&rhs, &lhs) } else { (&lhs, &rhs) };
    let many_sig: Vec<_> = many.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    let one_sig: Vec<_> = one.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    let mut sig_ids: HashMap<&Vec<(String, String)>, usize> = HashMap::new();
    for sig in many_sig.iter().chain(&one_sig) {
        let n = sig_ids.len();
        sig_ids.entry(sig).or_insert(n);
    }
    let many_id: Vec<usize> = many_sig.iter().map(|s| sig_ids[s]).collect();
    let one_id: Vec<usize> = one_sig.iter().map(|s| sig_ids[s]).collect();
    // Per step, the "one" side series of each signature.
    let mut one_at: Vec<Vec<(usize, usize, f64)>> = vec![Vec::new(); steps.n];
    for (oi, s) in one.iter().enumerate() {
        for p in &s.points {
            one_at[p.i as usize].push((one_id[oi], oi, p.v));
        }
    }
    let mut many_at: Vec<Vec<(usize, f64)>> = vec![Vec::new(); steps.n];
    for (mi, s) in many.iter().enumerate() {
        for p in &s.points {
            many_at[p.i as usize].push((mi, p.v));
        }
    }
    let mut out: Vec<Ser> = Vec::new();
    let mut out_index: HashMap<Labels, usize> = HashMap::new();
    let mut result_labels: HashMap<(usize, usize), Labels> = HashMap::new();
    for i in 0..steps.n {
        if i % 64 == 0 {
            ev.check_deadline()?;
        }
        let mut by_sig: HashMap<usize, (usize, f64)> = HashMap::new();
        for &(sig, oi, v) in &one_at[i] {
            if let Some(&(prev, _)) = by_sig.get(&sig) {
                let side = if one_to_many { "left" } else { "right" };
                let (a, b) = if one[prev].labels <= one[oi].labels { (prev, oi) } else { (oi, prev) };
                return exec_err(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    signature_string(&one_sig[oi]),
                    go_labels_string(&one[a].labels),
                    go_labels_string(&one[b].labels),
                ));
            }
            by_sig.insert(sig, (oi, v));
        }
        let mut matched: HashMap<usize, Vec<Labels>> = HashMap::new();
        let mut matched_one_to_one: std::collections::HashSet<usize> = Default::default();
        for &(mi, mv) in &many_at[i] {
            let sig = many_id[mi];
            let Some(&(oi, ov)) = by_sig.get(&sig) else { continue };
            // One-to-one matching fails on a second match even when the comparison would
            // filter both away.
            if one_to_one && !matched_one_to_one.insert(sig) {
                return exec_err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                );
            }
            let (l, r) = if one_to_many { (ov, mv) } else { (mv, ov) };
            let (mut v, keep) = apply(op, l, r);
            if m.return_bool {
                v = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            let labels = result_labels
                .entry((mi, oi))
                .or_insert_with(|| result_metric(&many[mi].labels, &one[oi].labels, m, include.map(|l| &l.labels)))
                .clone();
            let seen = matched.entry(sig).or_default();
            if !one_to_one && seen.contains(&labels) {
                return exec_err("multiple matches for labels: grouping labels must ensure unique matches");
            }
            seen.push(labels.clone());
            let drop_name = !comparison || m.return_bool || many[mi].drop_name;
            let idx = match out_index.get(&labels) {
                Some(&idx) => idx,
                None => {
                    out.push(Ser { labels: labels.clone(), points: Vec::new(), drop_name, hists: Vec::new() });
                    out_index.insert(labels, out.len() - 1);
                    out.len() - 1
                }
            };
            out[idx].drop_name |= drop_name;
            out[idx].points.push(Pt { i: i as u32, v });
        }
    }
    Ok(out)
}

/// The labels of a result: the "many" side's, narrowed to the `on` labels (or without the
/// `ignoring` ones) for one-to-one matching, plus the `group_x` labels from the "one" side.
fn result_metric(many: &Labels, one: &Labels, m: &BinModifier, include: Option<&Vec<String>>) -> Labels {
    let mut labels = many.clone();
    if include.is_none() {
        match &m.matching {
            Some(LabelModifier::Include(on)) => {
                let keep: Vec<&str> = on.labels.iter().map(|l| l.as_str()).collect();
                labels =
                    Labels::from_sorted(labels.iter().filter(|l| keep.contains(&l.name.as_str())).cloned().collect());
            }
            Some(LabelModifier::Exclude(ignoring)) => {
                for n in &ignoring.labels {
                    labels.remove(n);
                }
            }
            None => {}
        }
    }
    if let Some(names) = include {
        for n in names {
            match one.get(n) {
                Some(v) => labels.set(n, v.to_string()),
                None => {
                    labels.remove(n);
                }
            }
        }
    }
    labels
}
