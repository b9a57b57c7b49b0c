//! Canonical printing: `Display` reproduces Loki's single-line `String()`, and
//! [`pretty`] reproduces `syntax.Prettify` (what `/loki/api/v1/format_query` returns).

use std::fmt::{self, Display, Formatter};

use super::ast::{
    BinOp, Cardinality, Expr, Grouping, LabelFilter, LabelReplace, LineFilter, LineFilterValue, LogExpr, LogRange,
    Matcher, NamedMatcher, RangeAggregation, SampleExpr, Stage, Unwrap, VectorAggregation, VectorOp,
};
use super::compat::{
    duration_nanos, go_duration, go_float_f, go_float_g, go_fmt_f6, go_quote, humanize_bytes, prom_duration,
};

fn join<T: Display>(items: &[T], sep: &str) -> String {
    items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(sep)
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Sample(s) => s.fmt(f),
        }
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), go_quote(&self.value))
    }
}

fn selector(l: &LogExpr) -> String {
    format!("{{{}}}", join(&l.matchers, ", "))
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&selector(self))?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl Display for LineFilterValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.ip { write!(f, "ip({})", go_quote(&self.value)) } else { f.write_str(&go_quote(&self.value)) }
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), join(&self.values, " or "))
    }
}

impl Display for NamedMatcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            NamedMatcher::Name(n) => f.write_str(n),
            NamedMatcher::Matcher(m) => m.fmt(f),
        }
    }
}

fn extractions(params: &[super::ast::LabelExtraction]) -> String {
    params.iter().map(|p| format!("{}={}", p.label, go_quote(&p.expression))).collect::<Vec<_>>().join(",")
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(l) => l.fmt(f),
            Stage::Json(p) if p.is_empty() => f.write_str("| json"),
            Stage::Json(p) => write!(f, "| json {}", extractions(p)),
            Stage::Logfmt { strict, keep_empty, params } if params.is_empty() => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                Ok(())
            }
            Stage::Logfmt { strict, keep_empty, params } => {
                f.write_str("| logfmt ")?;
                if *strict {
                    f.write_str("--strict ")?;
                }
                if *keep_empty {
                    f.write_str("--keep-empty ")?;
                }
                f.write_str(&extractions(params))
            }
            Stage::Regexp(r) => write!(f, "| regexp {}", go_quote(&r.pattern)),
            Stage::Pattern(p) => write!(f, "| pattern {}", go_quote(p)),
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(l) => write!(f, "| {l}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", go_quote(t)),
            Stage::LabelFormat(fs) => {
                let items: Vec<String> = fs
                    .iter()
                    .map(|l| {
                        if l.rename {
                            format!("{}={}", l.name, l.value)
                        } else {
                            format!("{}={}", l.name, go_quote(&l.value))
                        }
                    })
                    .collect();
                write!(f, "| label_format {}", items.join(","))
            }
            Stage::Decolorize => f.write_str("| decolorize"),
            Stage::Drop(m) => write!(f, "| drop {}", join(m, ",")),
            Stage::Keep(m) => write!(f, "| keep {}", join(m, ",")),
        }
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::And(a, b) => write!(f, "( {a} , {b} )"),
            LabelFilter::Or(a, b) => write!(f, "( {a} or {b} )"),
            LabelFilter::Matcher(m) => m.fmt(f),
            LabelFilter::Number { name, op, value } => write!(f, "{name}{}{}", op.as_str(), go_float_f(*value)),
            LabelFilter::Duration { name, op, value } => write!(f, "{name}{}{}", op.as_str(), go_duration(*value)),
            LabelFilter::Bytes { name, op, value } => write!(f, "{name}{}{}", op.as_str(), humanize_bytes(*value)),
            LabelFilter::Ip { name, negated, pattern } => {
                write!(f, "{name}{}ip({})", if *negated { "!=" } else { "=" }, go_quote(pattern))
            }
        }
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conv {
            Some(c) => write!(f, "| unwrap {}({})", c.as_str(), self.label)?,
            None => write!(f, "| unwrap {}", self.label)?,
        }
        for p in &self.post_filters {
            write!(f, " | {p}")?;
        }
        Ok(())
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(u) = &self.unwrap {
            write!(f, " {u}")?;
        }
        write!(f, "[{}]", prom_duration(duration_nanos(self.interval)))?;
        if self.offset != 0 {
            write!(f, " offset {}", go_duration(self.offset))?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", if self.without { "without" } else { "by" }, self.labels.join(","))
    }
}

impl Display for RangeAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op.as_str())?;
        if let Some(p) = self.param {
            write!(f, "{},", go_float_f(p))?;
        }
        write!(f, "{})", self.range)?;
        if let Some(g) = &self.grouping {
            write!(f, " {g}")?;
        }
        Ok(())
    }
}

impl Display for VectorAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if !self.grouping.is_singleton() {
            write!(f, " {}", self.grouping)?;
        }
        f.write_str("(")?;
        if let Some(p) = self.param {
            write!(f, "{p},")?;
        }
        write!(f, "{})", self.expr)
    }
}

fn binop_group(b: &BinOp, sep: &str) -> String {
    let mut group = match b.matching.card {
        Cardinality::OneToOne => String::new(),
        Cardinality::ManyToOne => "group_left".into(),
        Cardinality::OneToMany => "group_right".into(),
    };
    if !b.matching.include.is_empty() {
        group = format!("{group} ({})", b.matching.include.join(sep));
    }
    group
}

impl Display for BinOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut op = self.op.as_str().to_string();
        if self.return_bool {
            op.push_str(" bool");
        }
        let m = &self.matching;
        if m.on || !m.labels.is_empty() {
            let kw = if m.on { "on" } else { "ignoring" };
            op = format!("{op} {kw} ({}) {}", m.labels.join(","), binop_group(self, ","));
        }
        write!(f, "({} {op} {})", self.lhs, self.rhs)
    }
}

impl Display for LabelReplace {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "label_replace({},{},{},{},{})",
            self.expr,
            go_quote(&self.dst),
            go_quote(&self.replacement),
            go_quote(&self.src),
            go_quote(&self.regex)
        )
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::RangeAggregation(r) => r.fmt(f),
            SampleExpr::VectorAggregation(v) => v.fmt(f),
            SampleExpr::BinOp(b) => b.fmt(f),
            SampleExpr::Literal(v) => f.write_str(&go_float_g(*v)),
            SampleExpr::Vector(v) => write!(f, "vector({})", go_fmt_f6(*v)),
            SampleExpr::LabelReplace(l) => l.fmt(f),
        }
    }
}

const MAX_CHARS_PER_LINE: usize = 100;

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

fn need_split(s: &str) -> bool {
    s.len() > MAX_CHARS_PER_LINE
}

/// Multi-line form of Loki's `syntax.Prettify`: nodes longer than 100 characters are split and indented.
pub fn pretty(expr: &Expr) -> String {
    match expr {
        Expr::Log(l) => pretty_log(l, 0),
        Expr::Sample(s) => pretty_sample(s, 0),
    }
}

fn pretty_log(l: &LogExpr, level: usize) -> String {
    let s = l.to_string();
    if l.stages.is_empty() || !need_split(&s) {
        return indent(level) + &s;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut chain: Vec<&LineFilter> = Vec::new();
    for st in &l.stages {
        if let Stage::LineFilter(lf) = st {
            chain.push(lf);
            continue;
        }
        if !chain.is_empty() {
            parts.push(pretty_chain(&chain, level + 1));
            chain.clear();
        }
        parts.push(match st {
            Stage::Decolorize => st.to_string(),
            _ => indent(level + 1) + &st.to_string(),
        });
    }
    if !chain.is_empty() {
        parts.push(pretty_chain(&chain, level + 1));
    }
    format!("{}{}\n{}", indent(level), selector(l), parts.join("\n"))
}

fn pretty_chain(fs: &[&LineFilter], level: usize) -> String {
    let s = fs.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(" ");
    let Some((last, prefix)) = fs.split_last() else { return String::new() };
    if !need_split(&s) {
        return indent(level) + &s;
    }
    let mut out = String::new();
    if !prefix.is_empty() {
        out.push_str(&pretty_chain(prefix, level));
        out.push('\n');
    }
    out.push_str(&indent(level));
    out.push_str(&last.to_string());
    out
}

fn pretty_unwrap(u: &Unwrap, level: usize) -> String {
    let mut s = indent(level);
    match u.conv {
        Some(c) => s.push_str(&format!("| unwrap {}({})", c.as_str(), u.label)),
        None => s.push_str(&format!("| unwrap {}", u.label)),
    }
    for f in &u.post_filters {
        s.push_str(&format!("\n{}| {f}", indent(level)));
    }
    s
}

fn pretty_range(r: &LogRange, level: usize) -> String {
    let mut s = pretty_log(&r.log, level);
    if let Some(u) = &r.unwrap {
        s.push('\n');
        s.push_str(&pretty_unwrap(u, level + 1));
    }
    s = format!("{s} [{}]", prom_duration(duration_nanos(r.interval)));
    if r.offset != 0 {
        s.push_str(&format!(" offset {}", prom_duration(r.offset)));
    }
    s
}

fn pretty_grouping(g: &Grouping) -> String {
    let mut s = String::new();
    if g.without {
        s.push_str(" without");
    } else if !g.labels.is_empty() {
        s.push_str(" by");
    }
    if !g.labels.is_empty() {
        s.push_str(&format!(" ({})", g.labels.join(", ")));
    }
    s
}

fn pretty_sample(e: &SampleExpr, level: usize) -> String {
    let s = e.to_string();
    if !need_split(&s) {
        return indent(level) + &s;
    }
    let ind = indent(level);
    match e {
        SampleExpr::RangeAggregation(r) => {
            let mut out = format!("{ind}{}(\n", r.op.as_str());
            if let Some(p) = r.param {
                out.push_str(&format!("{}{},\n", indent(level + 1), go_float_g(p)));
            }
            out.push_str(&pretty_range(&r.range, level + 1));
            out.push_str(&format!("\n{ind})"));
            if let Some(g) = &r.grouping {
                out.push_str(&pretty_grouping(g));
            }
            out
        }
        SampleExpr::VectorAggregation(v) => {
            let left = pretty_sample(&v.expr, level + 1);
            let mut params = Vec::new();
            let always = matches!(v.op, VectorOp::Topk | VectorOp::Bottomk);
            match v.param {
                Some(p) if always || p != 0 => params.push(format!("{}{p}", indent(level + 1))),
                None if always => params.push(format!("{}0", indent(level + 1))),
                _ => {}
            }
            params.push(left);
            format!("{ind}{}{}(\n{}\n{ind})", v.op.as_str(), pretty_grouping(&v.grouping), params.join(",\n"))
        }
        SampleExpr::BinOp(b) => {
            let mut op = b.op.as_str().to_string();
            if b.return_bool {
                op.push_str(" bool");
            }
            if !b.matching.labels.is_empty() {
                let kw = if b.matching.on { "on" } else { "ignoring" };
                op = format!("{op} {kw} ({}) {}", b.matching.labels.join(", "), binop_group(b, ", "));
            }
            format!("{}\n{ind}{op}\n{}", pretty_sample(&b.lhs, level + 1), pretty_sample(&b.rhs, level + 1))
        }
        SampleExpr::LabelReplace(l) => {
            let i1 = indent(level + 1);
            let params = [
                pretty_sample(&l.expr, level + 1),
                format!("{i1}{}", go_quote(&l.dst)),
                format!("{i1}{}", go_quote(&l.replacement)),
                format!("{i1}{}", go_quote(&l.src)),
                format!("{i1}{}", go_quote(&l.regex)),
            ];
            format!("{ind}label_replace(\n{}\n{ind})", params.join(",\n"))
        }
        SampleExpr::Literal(_) | SampleExpr::Vector(_) => ind + &s,
    }
}
