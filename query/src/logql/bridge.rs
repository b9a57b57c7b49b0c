//! What LogQL shares with PromQL, evaluated by the PromQL engine: once every range aggregation
//! has been reduced to series with one point per step (`range.rs`), the expression around them
//! — vector aggregations, binary operations with vector matching, `vector()`, `label_replace`,
//! `sort` — has PromQL's syntax and semantics. It is printed as PromQL with each range
//! aggregation replaced by a selector of a made-up metric name, and run by the PromQL engine
//! over a querier that serves those series, with a lookback of one millisecond so that a step
//! sees only its own point.

use std::collections::HashMap;
use std::fmt::Write;

use lookout_storage::metrics::{Matcher, Querier, SeriesData};
use lookout_storage::{Labels, Tenant};

use super::syntax::{BinOp, Cardinality, Grouping, SampleExpr, VectorOp};

/// The made-up metric name of the `n`th range aggregation.
pub(crate) fn range_name(n: usize) -> String {
    format!("__logql_range_{n}__")
}

/// `expr` as PromQL, with range aggregations numbered left to right.
pub(crate) fn to_promql(expr: &SampleExpr) -> String {
    let mut out = String::new();
    let mut next = 0;
    write_expr(expr, &mut out, &mut next);
    out
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn grouping(g: &Grouping) -> String {
    format!("{} ({})", if g.without { "without" } else { "by" }, g.labels.join(", "))
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v:?}")
    }
}

fn write_expr(expr: &SampleExpr, out: &mut String, next: &mut usize) {
    match expr {
        SampleExpr::RangeAggregation(_) => {
            out.push_str(&range_name(*next));
            *next += 1;
        }
        SampleExpr::Literal(v) => {
            out.push('(');
            out.push_str(&number(*v));
            out.push(')');
        }
        SampleExpr::Vector(v) => {
            let _ = write!(out, "vector({})", number(*v));
        }
        SampleExpr::LabelReplace(l) => {
            out.push_str("label_replace(");
            write_expr(&l.expr, out, next);
            let _ =
                write!(out, ", {}, {}, {}, {})", quote(&l.dst), quote(&l.replacement), quote(&l.src), quote(&l.regex));
        }
        SampleExpr::VectorAggregation(agg) => {
            let name = match agg.op {
                VectorOp::Sort | VectorOp::SortDesc => {
                    let _ = write!(out, "{}(", agg.op.as_str());
                    write_expr(&agg.expr, out, next);
                    out.push(')');
                    return;
                }
                VectorOp::ApproxTopk => "topk",
                op => op.as_str(),
            };
            out.push_str(name);
            if !agg.grouping.is_singleton() || agg.grouping.without {
                out.push(' ');
                out.push_str(&grouping(&agg.grouping));
            }
            out.push_str(" (");
            if let Some(k) = agg.param {
                let _ = write!(out, "{k}, ");
            }
            write_expr(&agg.expr, out, next);
            out.push(')');
        }
        SampleExpr::BinOp(b) => write_binary(b, out, next),
    }
}

fn write_binary(b: &BinOp, out: &mut String, next: &mut usize) {
    out.push('(');
    write_expr(&b.lhs, out, next);
    out.push_str(") ");
    out.push_str(b.op.as_str());
    if b.return_bool {
        out.push_str(" bool");
    }
    let m = &b.matching;
    if m.on || !m.labels.is_empty() {
        let _ = write!(out, " {}({})", if m.on { "on" } else { "ignoring" }, m.labels.join(", "));
    }
    match m.card {
        Cardinality::OneToOne => {}
        Cardinality::ManyToOne => {
            let _ = write!(out, " group_left({})", m.include.join(", "));
        }
        Cardinality::OneToMany => {
            let _ = write!(out, " group_right({})", m.include.join(", "));
        }
    }
    out.push_str(" (");
    write_expr(&b.rhs, out, next);
    out.push(')');
}

/// Serves the series of the range aggregations to the PromQL engine, by made-up metric name.
pub(crate) struct RangeSeries {
    pub series: HashMap<String, Vec<SeriesData>>,
}

impl Querier for RangeSeries {
    fn select(
        &self,
        _tenant: &Tenant,
        matchers: &[Matcher],
        _min_t: i64,
        _max_t: i64,
    ) -> lookout_storage::Result<Vec<SeriesData>> {
        let name = matchers.iter().find(|m| m.name == "__name__").map(|m| m.value.as_str()).unwrap_or("");
        Ok(self.series.get(name).cloned().unwrap_or_default())
    }

    fn series(
        &self,
        tenant: &Tenant,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> lookout_storage::Result<Vec<Labels>> {
        Ok(self.select(tenant, matchers, min_t, max_t)?.into_iter().map(|s| s.labels).collect())
    }
}
