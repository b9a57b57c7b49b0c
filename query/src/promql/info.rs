//! `info(v [, selector])`: adds the data labels of info series to the series of `v` that share
//! their identifying labels, `instance` and `job`. The info series are `target_info` unless
//! the selector's `__name__` matchers pick others; the selector's other matchers filter the
//! info series and name the only labels to add.

use std::collections::HashMap;

use lookout_storage::metrics::{MatchOp, Matcher};
use lookout_storage::{Labels, is_stale_nan};
use promql_parser::parser::{AtModifier, Expr, Offset};

use super::eval::{EvalResult, Evaluator, NAME, Pt, Ser, Steps, Val, exec_err, matcher_sets, offset_ms, unparen};

/// The labels an info series shares with the series it describes.
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// One info series: its labels, the identifying values it is found by, and at each step the
/// timestamp of the sample that is current then (none when it has no current sample).
struct InfoSeries {
    labels: Labels,
    key: (String, String, String),
    current: Vec<Option<i64>>,
}

pub(super) fn info(ev: &mut Evaluator<'_>, args: &[&Expr], steps: &Steps) -> EvalResult<Val> {
    let base = ev.eval_vector(args[0], steps)?;
    let selector = match args.get(1).map(|a| unparen(a)) {
        None => Vec::new(),
        Some(Expr::VectorSelector(vs)) => {
            let mut set = matcher_sets(vs)?.into_iter().next().unwrap_or_default();
            set.retain(|m| m.name != super::syntax::INFO_SELECTOR_MARK);
            set
        }
        Some(_) => return exec_err("expected a label selector as the second argument of info()"),
    };
    let (mut names, data): (Vec<Matcher>, Vec<Matcher>) = selector.into_iter().partition(|m| m.name == NAME);
    if names.is_empty() {
        names.push(Matcher::equal(NAME, "target_info"));
    } else if names.iter().all(|m| matches!(m.op, MatchOp::NotEqual | MatchOp::NotRegex)) {
        // Only exclusions: among the info metrics, by their conventional suffix.
        names.push(Matcher::new(MatchOp::Regex, NAME, ".+_info").map_err(|e| bad(e.to_string()))?);
    }
    // Info series themselves pass through as they are.
    let is_info = |labels: &Labels| names.iter().all(|m| m.matches(labels.get(NAME).unwrap_or("")));
    let passes: Vec<bool> = base.iter().map(|s| is_info(&s.labels)).collect();

    let infos = info_series(ev, args[0], steps, &base, &passes, &names, &data)?;
    let info_names: Vec<&str> = {
        let mut n: Vec<&str> = infos.iter().map(|s| s.key.0.as_str()).collect();
        n.sort_unstable();
        n.dedup();
        n
    };
    let empty_ok = data.iter().all(|m| m.matches(""));

    let mut out: Vec<Ser> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut emit = |labels: Labels, p: Pt, drop_name: bool| {
        let i = *index.entry(labels.clone()).or_insert_with(|| {
            out.push(Ser { labels, points: Vec::new(), drop_name, hists: Vec::new() });
            out.len() - 1
        });
        out[i].points.push(p);
    };
    let current: Vec<HashMap<(&str, &str, &str), usize>> = if infos.is_empty() {
        vec![HashMap::new(); steps.n]
    } else {
        (0..steps.n).map(|step| current_infos(&infos, step)).collect::<EvalResult<_>>()?
    };
    for (s, passes) in base.iter().zip(&passes) {
        for &p in &s.points {
            let current = &current[p.i as usize];
            if *passes {
                emit(s.labels.clone(), p, s.drop_name);
                continue;
            }
            let (instance, job) = (s.labels.get("instance").unwrap_or(""), s.labels.get("job").unwrap_or(""));
            let mut added: Vec<(&str, &str)> = Vec::new();
            let mut matched = false;
            for name in &info_names {
                let Some(&k) = current.get(&(*name, instance, job)) else { continue };
                matched = true;
                for l in infos[k].labels.iter().filter(|l| l.name != NAME) {
                    if !data.is_empty() && !data.iter().any(|m| m.name == l.name) {
                        continue;
                    }
                    match added.iter().find(|(n, _)| *n == l.name) {
                        Some((_, v)) if *v != l.value => return exec_err(format!("conflicting label: {}", l.name)),
                        Some(_) => continue,
                        None => {}
                    }
                    if s.labels.get(&l.name).is_none() {
                        added.push((&l.name, &l.value));
                    }
                }
            }
            if !matched && !empty_ok {
                continue;
            }
            let mut labels = s.labels.clone();
            for (n, v) in added {
                labels.set(n, v);
            }
            emit(labels, p, s.drop_name);
        }
    }
    for s in &mut out {
        s.points.sort_by_key(|p| p.i);
        if s.points.windows(2).any(|w| w[0].i == w[1].i) {
            return exec_err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(Val::Vector(out))
}

fn bad(message: String) -> super::QueryError {
    super::QueryError::BadData(message)
}

/// Reads the info series that may describe the series of `base` that do not pass through,
/// with the sample current at each step's reference time.
fn info_series(
    ev: &mut Evaluator<'_>,
    arg: &Expr,
    steps: &Steps,
    base: &[Ser],
    passes: &[bool],
    names: &[Matcher],
    data: &[Matcher],
) -> EvalResult<Vec<InfoSeries>> {
    // The identifying values to look for; none at all means nothing to look up.
    let mut wanted: Vec<Matcher> = Vec::new();
    for label in IDENTIFYING {
        let mut values: Vec<&str> =
            base.iter().zip(passes).filter(|(_, p)| !**p).filter_map(|(s, _)| s.labels.get(label)).collect();
        values.sort_unstable();
        values.dedup();
        if !values.is_empty() {
            let pattern = values.iter().map(|v| regex::escape(v)).collect::<Vec<_>>().join("|");
            wanted.push(Matcher::new(MatchOp::Regex, label, pattern).map_err(|e| bad(e.to_string()))?);
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let matchers: Vec<Matcher> = names.iter().chain(data).cloned().chain(wanted).collect();
    // Info series are read as of the time the argument's selector reads, @ and offsets included.
    let refs: Vec<i64> = (0..steps.n).map(|i| reference(ev, arg, steps.t(i)).unwrap_or(steps.t(i))).collect();
    let lookback = ev.opts.lookback_delta;
    let (lo, hi) = (refs.iter().min().copied().unwrap_or(0), refs.iter().max().copied().unwrap_or(0));
    let found = ev.select_sets(&[matchers], lo.saturating_sub(lookback).saturating_add(1), hi)?;
    Ok(found
        .into_iter()
        .map(|sd| {
            let current = refs
                .iter()
                .map(|&r| {
                    let j = sd.samples.partition_point(|s| s.t <= r);
                    let s = sd.samples.get(j.checked_sub(1)?)?;
                    (s.t > r.saturating_sub(lookback) && !is_stale_nan(s.v)).then_some(s.t)
                })
                .collect();
            let value = |n: &str| sd.labels.get(n).unwrap_or("").to_string();
            let key = (value(NAME), value(IDENTIFYING[0]), value(IDENTIFYING[1]));
            InfoSeries { labels: sd.labels, key, current }
        })
        .collect())
}

/// At one step, the info series current for each (metric name, instance, job): the one with
/// the newest sample; two with samples at the same time are an error.
fn current_infos(infos: &[InfoSeries], step: usize) -> EvalResult<HashMap<(&str, &str, &str), usize>> {
    let mut chosen: HashMap<(&str, &str, &str), (usize, i64)> = HashMap::new();
    for (k, s) in infos.iter().enumerate() {
        let Some(t) = s.current[step] else { continue };
        let key = (s.key.0.as_str(), s.key.1.as_str(), s.key.2.as_str());
        match chosen.get(&key) {
            Some(&(other, ot)) if ot == t => {
                return exec_err(format!(
                    "found duplicate series for info metric: existing {:?} @ {ot}, new {:?} @ {t}",
                    infos[other].labels, s.labels
                ));
            }
            Some(&(_, ot)) if ot > t => {}
            _ => {
                chosen.insert(key, (k, t));
            }
        }
    }
    Ok(chosen.into_iter().map(|(key, (k, _))| (key, k)).collect())
}

/// The time at which the first selector under `expr` reads for a step at `t`: each `@` on the
/// way down fixes it, each offset moves it back. `None` when there is no selector.
fn reference(ev: &Evaluator<'_>, expr: &Expr, t: i64) -> Option<i64> {
    let shift = |at: &Option<AtModifier>, offset: &Option<Offset>| {
        ev.at_time(at).unwrap_or(t).saturating_sub(offset_ms(offset))
    };
    match expr {
        Expr::VectorSelector(vs) => Some(shift(&vs.at, &vs.offset)),
        Expr::MatrixSelector(ms) => Some(shift(&ms.vs.at, &ms.vs.offset)),
        Expr::Subquery(sq) => reference(ev, &sq.expr, shift(&sq.at, &sq.offset)),
        Expr::Paren(p) => reference(ev, &p.expr, t),
        Expr::Unary(u) => reference(ev, &u.expr, t),
        Expr::Aggregate(a) => reference(ev, &a.expr, t),
        Expr::Binary(b) => reference(ev, &b.lhs, t).or_else(|| reference(ev, &b.rhs, t)),
        Expr::Call(c) => c.args.args.iter().find_map(|a| reference(ev, a, t)),
        _ => None,
    }
}
