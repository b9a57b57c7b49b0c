//! Evaluates a parsed TraceQL query against one whole trace.
//!
//! Semantics follow Tempo's: a filter `{ ... }` selects the spans it holds true for; spanset
//! `&&` needs both sides to match somewhere in the trace and keeps the spans of both; `||`
//! keeps either side's spans; `>`, `>>` and `~` keep right-side spans whose parent, ancestor
//! or sibling matched the left side. A comparison with a missing attribute is false, except
//! `= nil` (missing) and `!= nil` (present). Attributes with several values (arrays, events,
//! links) match when any value does. Regular expressions are anchored at both ends.

use std::collections::HashMap;

use lookout_storage::{AnyValue, AttributeValues, KeyValues, SpanColumns, TraceSpan};
use regex::Regex;

use super::ast::*;

/// A query ready to run: the tree and its compiled regular expressions.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The parsed query.
    pub query: Query,
    regexes: HashMap<String, Regex>,
}

/// Compiles the regular expressions of a query; an invalid one is an error naming it.
pub fn compile(query: Query) -> Result<Compiled, String> {
    let mut patterns = Vec::new();
    for stage in &query.stages {
        match stage {
            Stage::Spanset(expr) => spanset_patterns(expr, &mut patterns),
            Stage::By(fields) => fields.iter().for_each(|f| field_patterns(f, &mut patterns)),
            Stage::Scalar(_) | Stage::Select(_) => {}
        }
    }
    let mut regexes = HashMap::new();
    for pattern in patterns {
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
        regexes.insert(pattern, regex);
    }
    Ok(Compiled { query, regexes })
}

fn spanset_patterns(expr: &SpansetExpr, out: &mut Vec<String>) {
    match expr {
        SpansetExpr::Filter(f) => field_patterns(f, out),
        SpansetExpr::Binary { lhs, rhs, .. } => {
            spanset_patterns(lhs, out);
            spanset_patterns(rhs, out);
        }
    }
}

fn field_patterns(expr: &FieldExpr, out: &mut Vec<String>) {
    match expr {
        FieldExpr::Binary { op: FieldOp::Compare(CompareOp::Regex | CompareOp::NotRegex), rhs, lhs } => {
            for side in [lhs, rhs] {
                if let FieldExpr::Static(Static::String(s)) = side.as_ref() {
                    out.push(s.clone());
                }
            }
        }
        FieldExpr::Binary { lhs, rhs, .. } => {
            field_patterns(lhs, out);
            field_patterns(rhs, out);
        }
        FieldExpr::Not(inner) => field_patterns(inner, out),
        FieldExpr::Static(_) | FieldExpr::Attribute(_) => {}
    }
}

/// A trace with what evaluation needs precomputed.
pub struct Trace<'a> {
    /// The spans.
    pub spans: &'a [TraceSpan],
    parents: Vec<Option<usize>>,
    root: Option<usize>,
    start: u64,
    end: u64,
}

impl<'a> Trace<'a> {
    /// Indexes parents and finds the root span.
    pub fn new(spans: &'a [TraceSpan]) -> Trace<'a> {
        let by_id: HashMap<_, usize> = spans.iter().enumerate().map(|(i, s)| (s.span.span_id, i)).collect();
        let parents: Vec<Option<usize>> =
            spans.iter().map(|s| s.span.parent_span_id.and_then(|p| by_id.get(&p).copied())).collect();
        let root = spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.span.parent_span_id.is_none())
            .min_by_key(|(_, s)| s.span.start_time_unix_nano)
            .map(|(i, _)| i);
        let start = spans.iter().map(|s| s.span.start_time_unix_nano).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.span.end_time_unix_nano).max().unwrap_or(0);
        Trace { spans, parents, root, start, end }
    }

    /// The root span, if the trace has one.
    pub fn root(&self) -> Option<&'a TraceSpan> {
        let spans = self.spans;
        self.root.map(move |i| &spans[i])
    }

    /// Earliest start, nanoseconds.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Latest end minus earliest start, nanoseconds.
    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// `by(...)` labels and their values.
type Labels = Vec<(String, String)>;

/// Matched spans of one spanset, with the values that grouped it (`by`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanset {
    /// Indexes into the trace's spans, in order.
    pub spans: Vec<usize>,
    /// `by(...)` labels and their values, rendered as text.
    pub by: Labels,
}

/// The spansets a trace yields; empty when the trace does not match.
pub fn evaluate(compiled: &Compiled, trace: &Trace) -> Vec<Spanset> {
    let all = vec![true; trace.spans.len()];
    let mut sets: Vec<Spanset> = Vec::new();
    for (n, stage) in compiled.query.stages.iter().enumerate() {
        match stage {
            Stage::Spanset(expr) if n == 0 => {
                let mask = spanset(compiled, expr, trace, &all);
                sets = vec![Spanset { spans: indices(&mask), by: Vec::new() }];
            }
            Stage::Spanset(expr) => {
                for set in &mut sets {
                    let mut universe = vec![false; trace.spans.len()];
                    set.spans.iter().for_each(|&i| universe[i] = true);
                    set.spans = indices(&spanset(compiled, expr, trace, &universe));
                }
            }
            Stage::Scalar(filter) => sets.retain(|set| scalar(compiled, filter, trace, &set.spans)),
            Stage::By(fields) => {
                let mut split: Vec<Spanset> = Vec::new();
                for set in sets {
                    let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
                    for &i in &set.spans {
                        let key: Labels = fields
                            .iter()
                            .map(|f| {
                                (
                                    describe(f),
                                    values(compiled, f, trace, i).first().map(render).unwrap_or_else(|| "nil".into()),
                                )
                            })
                            .collect();
                        match groups.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, spans)) => spans.push(i),
                            None => groups.push((key, vec![i])),
                        }
                    }
                    split.extend(
                        groups.into_iter().map(|(by, spans)| Spanset { spans, by: [set.by.clone(), by].concat() }),
                    );
                }
                sets = split;
            }
            Stage::Select(_) => {}
        }
        sets.retain(|s| !s.spans.is_empty());
    }
    sets
}

fn indices(mask: &[bool]) -> Vec<usize> {
    mask.iter().enumerate().filter(|(_, m)| **m).map(|(i, _)| i).collect()
}

fn spanset(c: &Compiled, expr: &SpansetExpr, trace: &Trace, universe: &[bool]) -> Vec<bool> {
    match expr {
        SpansetExpr::Filter(f) => (0..trace.spans.len()).map(|i| universe[i] && condition(c, f, trace, i)).collect(),
        SpansetExpr::Binary { op, lhs, rhs } => {
            let l = spanset(c, lhs, trace, universe);
            let r = spanset(c, rhs, trace, universe);
            match op {
                SpansetOp::And if l.contains(&true) && r.contains(&true) => {
                    l.iter().zip(&r).map(|(a, b)| *a || *b).collect()
                }
                SpansetOp::And => vec![false; l.len()],
                SpansetOp::Or => l.iter().zip(&r).map(|(a, b)| *a || *b).collect(),
                SpansetOp::Child => (0..r.len()).map(|j| r[j] && trace.parents[j].is_some_and(|p| l[p])).collect(),
                SpansetOp::Descendant => (0..r.len()).map(|j| r[j] && ancestors(trace, j).any(|a| l[a])).collect(),
                SpansetOp::Sibling => (0..r.len())
                    .map(|j| {
                        r[j] && trace.parents[j]
                            .is_some_and(|p| (0..l.len()).any(|i| i != j && l[i] && trace.parents[i] == Some(p)))
                    })
                    .collect(),
            }
        }
    }
}

fn ancestors<'t>(trace: &'t Trace, mut i: usize) -> impl Iterator<Item = usize> + 't {
    let mut steps = 0;
    std::iter::from_fn(move || {
        // The step bound guards against parent cycles in malformed traces.
        steps += 1;
        let parent = trace.parents[i].filter(|_| steps <= trace.spans.len())?;
        i = parent;
        Some(parent)
    })
}

/// A value a field can take.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// Text.
    Str(&'a str),
    /// Owned text (ids rendered as hex).
    Owned(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    /// Span status.
    Status(Status),
    /// Span kind.
    Kind(Kind),
}

impl Val<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Owned(s) => Some(s),
            _ => None,
        }
    }
}

/// Renders a value as text (for `by` labels and tag values).
pub fn render(v: &Val) -> String {
    match v {
        Val::Str(s) => (*s).to_owned(),
        Val::Owned(s) => s.clone(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => f.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Duration(d) => format!("{d}ns"),
        Val::Status(s) => format!("{s:?}").to_lowercase(),
        Val::Kind(k) => format!("{k:?}").to_lowercase(),
    }
}

/// How a field is written in a query, for `by` labels.
pub fn describe(f: &FieldExpr) -> String {
    match f {
        FieldExpr::Attribute(Attribute::Named { scope, name }) => {
            let prefix = match scope {
                AttributeScope::Unscoped => "",
                AttributeScope::Resource => "resource",
                AttributeScope::Span => "span",
                AttributeScope::Event => "event",
                AttributeScope::Link => "link",
                AttributeScope::Instrumentation => "instrumentation",
            };
            format!("{prefix}.{name}")
        }
        FieldExpr::Attribute(Attribute::Intrinsic(i)) => format!("{i:?}").to_lowercase(),
        other => format!("{other:?}"),
    }
}

fn any_values<'a>(v: &'a AnyValue, out: &mut Vec<Val<'a>>) {
    match v {
        AnyValue::String(s) => out.push(Val::Str(s)),
        AnyValue::Int(i) => out.push(Val::Int(*i)),
        AnyValue::Double(d) => out.push(Val::Float(*d)),
        AnyValue::Bool(b) => out.push(Val::Bool(*b)),
        AnyValue::Array(items) => items.iter().for_each(|item| any_values(item, out)),
        AnyValue::Empty | AnyValue::Bytes(_) | AnyValue::Map(_) => {}
    }
}

fn lookup<'a>(attributes: &'a [lookout_storage::KeyValue], name: &str, out: &mut Vec<Val<'a>>) {
    if let Some(kv) = attributes.iter().find(|kv| kv.key == name) {
        any_values(&kv.value, out);
    }
}

/// Every value of an attribute or intrinsic on span `i` of `trace`.
pub fn attribute_values<'a>(attribute: &Attribute, trace: &Trace<'a>, i: usize) -> Vec<Val<'a>> {
    let ts = &trace.spans[i];
    let span = &ts.span;
    let mut out = Vec::new();
    match attribute {
        Attribute::Named { scope, name } => match scope {
            AttributeScope::Span => lookup(&span.attributes, name, &mut out),
            AttributeScope::Resource => lookup(&ts.resource.attributes, name, &mut out),
            AttributeScope::Unscoped => {
                lookup(&span.attributes, name, &mut out);
                if out.is_empty() {
                    lookup(&ts.resource.attributes, name, &mut out);
                }
            }
            AttributeScope::Event => span.events.iter().for_each(|e| lookup(&e.attributes, name, &mut out)),
            AttributeScope::Link => span.links.iter().for_each(|l| lookup(&l.attributes, name, &mut out)),
            AttributeScope::Instrumentation => lookup(&ts.scope.attributes, name, &mut out),
        },
        Attribute::Intrinsic(intrinsic) => match intrinsic {
            Intrinsic::Name => out.push(Val::Str(&span.name)),
            Intrinsic::Status => out.push(Val::Status(span.status.code)),
            Intrinsic::StatusMessage => out.push(Val::Str(&span.status.message)),
            Intrinsic::Duration => out.push(Val::Duration(span.duration_nanos() as i64)),
            Intrinsic::Kind => out.push(Val::Kind(span.kind)),
            Intrinsic::SpanId => out.push(Val::Owned(span.span_id.to_hex())),
            Intrinsic::ParentId => out.extend(span.parent_span_id.map(|p| Val::Owned(p.to_hex()))),
            Intrinsic::TraceId => out.push(Val::Owned(span.trace_id.to_hex())),
            Intrinsic::RootName => out.extend(trace.root().map(|r| Val::Str(&r.span.name))),
            Intrinsic::RootServiceName => {
                out.extend(trace.root().and_then(|r| r.resource.service_name()).map(Val::Str))
            }
            Intrinsic::TraceDuration => out.push(Val::Duration(trace.duration() as i64)),
            Intrinsic::EventName => out.extend(span.events.iter().map(|e| Val::Str(&e.name))),
            Intrinsic::LinkTraceId => out.extend(span.links.iter().map(|l| Val::Owned(l.trace_id.to_hex()))),
            Intrinsic::LinkSpanId => out.extend(span.links.iter().map(|l| Val::Owned(l.span_id.to_hex()))),
            Intrinsic::InstrumentationName => out.push(Val::Str(&ts.scope.name)),
            Intrinsic::InstrumentationVersion => out.push(Val::Str(&ts.scope.version)),
        },
    }
    out
}

fn values<'a>(c: &'a Compiled, expr: &'a FieldExpr, trace: &Trace<'a>, i: usize) -> Vec<Val<'a>> {
    match expr {
        FieldExpr::Attribute(a) => attribute_values(a, trace, i),
        FieldExpr::Static(s) => static_value(s).into_iter().collect(),
        other => vec![Val::Bool(condition(c, other, trace, i))],
    }
}

fn static_value(s: &Static) -> Option<Val<'_>> {
    Some(match s {
        Static::String(text) => Val::Str(text),
        Static::Int(n) => Val::Int(*n),
        Static::Float(f) => Val::Float(*f),
        Static::Duration(d) => Val::Duration(*d),
        Static::Bool(b) => Val::Bool(*b),
        Static::Status(s) => Val::Status(*s),
        Static::Kind(k) => Val::Kind(*k),
        Static::Nil => return None,
    })
}

fn condition(c: &Compiled, expr: &FieldExpr, trace: &Trace, i: usize) -> bool {
    match expr {
        FieldExpr::Static(Static::Bool(b)) => *b,
        FieldExpr::Static(_) | FieldExpr::Attribute(_) => false,
        FieldExpr::Not(inner) => !condition(c, inner, trace, i),
        FieldExpr::Binary { op: FieldOp::And, lhs, rhs } => condition(c, lhs, trace, i) && condition(c, rhs, trace, i),
        FieldExpr::Binary { op: FieldOp::Or, lhs, rhs } => condition(c, lhs, trace, i) || condition(c, rhs, trace, i),
        FieldExpr::Binary { op: FieldOp::Compare(op), lhs, rhs } => {
            let nil = |e: &FieldExpr| matches!(e, FieldExpr::Static(Static::Nil));
            if nil(rhs) || nil(lhs) {
                let other = if nil(rhs) { lhs } else { rhs };
                let present = !values(c, other, trace, i).is_empty();
                return match op {
                    CompareOp::Eq => !present,
                    CompareOp::Ne => present,
                    _ => false,
                };
            }
            let (l, r) = (values(c, lhs, trace, i), values(c, rhs, trace, i));
            l.iter().any(|a| r.iter().any(|b| compare(c, a, *op, b)))
        }
    }
}

fn ordered<T: PartialOrd>(a: T, op: CompareOp, b: T) -> bool {
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Regex | CompareOp::NotRegex => false,
    }
}

fn compare(c: &Compiled, a: &Val, op: CompareOp, b: &Val) -> bool {
    if let (CompareOp::Regex | CompareOp::NotRegex, Some(text), Some(pattern)) = (op, a.text(), b.text()) {
        let matched = c.regexes.get(pattern).is_some_and(|re| re.is_match(text));
        return matched == (op == CompareOp::Regex);
    }
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => ordered(x, op, y),
        (Val::Int(x), Val::Float(y)) => ordered(*x as f64, op, *y),
        (Val::Float(x), Val::Int(y)) => ordered(*x, op, *y as f64),
        (Val::Float(x), Val::Float(y)) => ordered(x, op, y),
        (Val::Duration(x), Val::Duration(y)) => ordered(x, op, y),
        (Val::Bool(x), Val::Bool(y)) => matches!(op, CompareOp::Eq | CompareOp::Ne) && ordered(x, op, y),
        (Val::Status(x), Val::Status(y)) => {
            matches!(op, CompareOp::Eq | CompareOp::Ne) && ordered(*x as u8, op, *y as u8)
        }
        (Val::Kind(x), Val::Kind(y)) => matches!(op, CompareOp::Eq | CompareOp::Ne) && ordered(*x as u8, op, *y as u8),
        _ => match (a.text(), b.text()) {
            (Some(x), Some(y)) => ordered(x, op, y),
            _ => false,
        },
    }
}

fn scalar(c: &Compiled, filter: &ScalarFilter, trace: &Trace, spans: &[usize]) -> bool {
    let numbers: Vec<f64> = match &filter.field {
        None => Vec::new(),
        Some(field) => spans
            .iter()
            .flat_map(|&i| values(c, field, trace, i))
            .filter_map(|v| match v {
                Val::Int(n) => Some(n as f64),
                Val::Float(f) => Some(f),
                Val::Duration(d) => Some(d as f64),
                _ => None,
            })
            .collect(),
    };
    let aggregate = match filter.aggregate {
        Aggregate::Count => spans.len() as f64,
        _ if numbers.is_empty() => return false,
        Aggregate::Sum => numbers.iter().sum(),
        Aggregate::Avg => numbers.iter().sum::<f64>() / numbers.len() as f64,
        Aggregate::Min => numbers.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    let target = match filter.value {
        Static::Int(n) => n as f64,
        Static::Float(f) => f,
        Static::Duration(d) => d as f64,
        _ => return false,
    };
    ordered(aggregate, filter.op, target)
}

/// A plain column's value for `attribute`: `None` when the attribute is not one of the columns,
/// `Some(None)` when the span has no value for it.
fn column_value<'c>(attribute: &Attribute, columns: &'c dyn SpanColumns, row: usize) -> Option<Option<Val<'c>>> {
    Some(match attribute {
        Attribute::Intrinsic(Intrinsic::Name) => Some(Val::Str(columns.name(row))),
        Attribute::Intrinsic(Intrinsic::Status) => Some(Val::Status(columns.status(row))),
        Attribute::Intrinsic(Intrinsic::StatusMessage) => Some(Val::Str(columns.status_message(row))),
        Attribute::Intrinsic(Intrinsic::Duration) => Some(Val::Duration(columns.duration(row) as i64)),
        Attribute::Intrinsic(Intrinsic::Kind) => Some(Val::Kind(columns.kind(row))),
        Attribute::Named { scope: AttributeScope::Resource, name } if name == "service.name" => {
            columns.service_name(row).map(Val::Str)
        }
        _ => return None,
    })
}

/// One side of a comparison from the columns; `None` when the columns cannot tell.
fn column_side<'e>(e: &'e FieldExpr, columns: &'e dyn SpanColumns, row: usize) -> Option<Option<Val<'e>>> {
    match e {
        FieldExpr::Attribute(a) => column_value(a, columns, row),
        FieldExpr::Static(Static::Nil) => None,
        FieldExpr::Static(s) => Some(static_value(s)),
        _ => None,
    }
}

/// What a span's plain columns say about a filter: `Some(verdict)` when they decide it,
/// `None` when the rest of the span is needed. Never wrong when it answers.
pub fn column_verdict(c: &Compiled, expr: &FieldExpr, columns: &dyn SpanColumns, row: usize) -> Option<bool> {
    match expr {
        FieldExpr::Static(Static::Bool(b)) => Some(*b),
        FieldExpr::Static(_) | FieldExpr::Attribute(_) => None,
        FieldExpr::Not(inner) => column_verdict(c, inner, columns, row).map(|v| !v),
        FieldExpr::Binary { op: FieldOp::And, lhs, rhs } => {
            match (column_verdict(c, lhs, columns, row), column_verdict(c, rhs, columns, row)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        }
        FieldExpr::Binary { op: FieldOp::Or, lhs, rhs } => {
            match (column_verdict(c, lhs, columns, row), column_verdict(c, rhs, columns, row)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            }
        }
        FieldExpr::Binary { op: FieldOp::Compare(op), lhs, rhs } => {
            let l = column_side(lhs, columns, row)?;
            let r = column_side(rhs, columns, row)?;
            match (l, r) {
                (Some(a), Some(b)) => Some(compare(c, &a, *op, &b)),
                _ => Some(false),
            }
        }
    }
}

/// Whether a block whose attribute values are `values` may hold a span for which `expr` holds.
/// False only when the values prove no span can match.
pub fn block_may_match(c: &Compiled, expr: &FieldExpr, values: &AttributeValues) -> bool {
    match expr {
        FieldExpr::Static(Static::Bool(b)) => *b,
        FieldExpr::Binary { op: FieldOp::And, lhs, rhs } => {
            block_may_match(c, lhs, values) && block_may_match(c, rhs, values)
        }
        FieldExpr::Binary { op: FieldOp::Or, lhs, rhs } => {
            block_may_match(c, lhs, values) || block_may_match(c, rhs, values)
        }
        FieldExpr::Binary { op: FieldOp::Compare(op), lhs, rhs } => match (lhs.as_ref(), rhs.as_ref()) {
            (FieldExpr::Attribute(a), FieldExpr::Static(s)) | (FieldExpr::Static(s), FieldExpr::Attribute(a)) => {
                comparison_may_match(c, a, *op, s, values)
            }
            _ => true,
        },
        FieldExpr::Static(_) | FieldExpr::Attribute(_) | FieldExpr::Not(_) => true,
    }
}

fn comparison_may_match(
    c: &Compiled,
    attribute: &Attribute,
    op: CompareOp,
    value: &Static,
    values: &AttributeValues,
) -> bool {
    let Attribute::Named { scope, name } = attribute else { return true };
    let scopes: &[bool] = match scope {
        AttributeScope::Span => &[false],
        AttributeScope::Resource => &[true],
        AttributeScope::Unscoped => &[false, true],
        _ => return true,
    };
    let keys: Vec<KeyValues> = scopes.iter().map(|&resource| values.key(resource, name)).collect();
    if matches!(value, Static::Nil) {
        // `= nil` holds for spans without the key, which any block may have.
        return op != CompareOp::Ne || keys.iter().any(|k| *k != KeyValues::Absent);
    }
    if keys.iter().all(|k| *k == KeyValues::Absent) {
        return false;
    }
    if keys.contains(&KeyValues::Unlisted) {
        return true;
    }
    let listed = keys.iter().filter_map(|k| match k {
        KeyValues::Values(set) => Some(*set),
        _ => None,
    });
    match (op, value) {
        (CompareOp::Eq, Static::String(v)) => listed.into_iter().any(|set| set.contains(v)),
        (CompareOp::Regex, Static::String(pattern)) => {
            let Some(re) = c.regexes.get(pattern) else { return true };
            listed.into_iter().any(|set| set.iter().any(|v| re.is_match(v)))
        }
        // Listed values are all strings: comparing with a number, a bool … never holds.
        (CompareOp::Eq, _) => false,
        _ => true,
    }
}
