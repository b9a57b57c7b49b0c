//! LogQL abstract syntax tree, shaped for an evaluator.
//!
//! Durations that can be negative (offsets, duration label filters) are kept as
//! signed nanoseconds ([`Nanos`]); range intervals are [`std::time::Duration`].
//! Regex-bearing nodes keep the compiled [`Regex`] next to the source text and
//! compare equal by source text.

use std::time::Duration;

use regex::Regex;

use super::compat::{Anchor, compile_regex};

/// Signed nanosecond count (Go `time.Duration`), used for offsets and duration filters.
pub type Nanos = i64;

/// A parsed LogQL query: a log query or a metric (sample) query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query: stream selector followed by pipeline stages.
    Log(LogExpr),
    /// A metric query producing samples.
    Sample(SampleExpr),
}

impl Expr {
    /// Returns every log range (selector, pipeline, range, unwrap) inside a metric query, left to right.
    pub fn log_ranges(&self) -> Vec<&LogRange> {
        match self {
            Expr::Log(_) => Vec::new(),
            Expr::Sample(s) => s.log_ranges(),
        }
    }

    /// Returns every log selector with its pipeline: the query itself for log queries, or one per log range.
    pub fn log_selectors(&self) -> Vec<&LogExpr> {
        match self {
            Expr::Log(l) => vec![l],
            Expr::Sample(s) => s.log_ranges().into_iter().map(|r| &r.log).collect(),
        }
    }

    /// Returns the metric expression, if this is a metric query.
    pub fn as_sample(&self) -> Option<&SampleExpr> {
        match self {
            Expr::Sample(s) => Some(s),
            Expr::Log(_) => None,
        }
    }

    /// Returns the log expression, if this is a log query.
    pub fn as_log(&self) -> Option<&LogExpr> {
        match self {
            Expr::Log(l) => Some(l),
            Expr::Sample(_) => None,
        }
    }
}

/// Operator of a label matcher (`=`, `!=`, `=~`, `!~`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored regex)
    Regex,
    /// `!~` (fully anchored regex)
    NotRegex,
}

impl MatchOp {
    /// The operator as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// A label matcher such as `app=~"foo.*"`; regex values are fully anchored (Prometheus: `^(?s:...)$`).
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Match operator.
    pub op: MatchOp,
    /// Raw value (regex source for regex operators).
    pub value: String,
    /// Compiled anchored regex for `=~` / `!~`.
    pub regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling the anchored regex for regex operators.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(compile_regex(&value, Anchor::Label)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher { name: name.into(), op, value, regex })
    }

    /// Whether the label value `v` satisfies this matcher (absent labels match as `""`).
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

/// A log query: stream selector matchers plus pipeline stages in order.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// Stream selector matchers (`{...}`).
    pub matchers: Vec<Matcher>,
    /// Pipeline stages, in query order.
    pub stages: Vec<Stage>,
}

impl LogExpr {
    /// The stream selector matchers.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether any stage is something other than a line filter (parsers, label filters, formatters...).
    pub fn has_non_line_filter_stages(&self) -> bool {
        self.stages.iter().any(|s| !matches!(s, Stage::LineFilter(_)))
    }

    /// Like Loki's `HasFilter`: true if a stage can drop lines (a label filter, or a line filter other than `|= ""`/`|~ ""`).
    pub fn has_filter(&self) -> bool {
        self.stages.iter().any(|s| match s {
            Stage::LabelFilter(_) => true,
            Stage::LineFilter(f) => {
                !(matches!(f.op, LineFilterOp::Contains | LineFilterOp::Regex)
                    && f.values.len() == 1
                    && f.values.iter().all(|v| v.value.is_empty()))
            }
            _ => false,
        })
    }
}

/// Operator of a line filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineFilterOp {
    /// `|=` line contains.
    Contains,
    /// `!=` line does not contain.
    NotContains,
    /// `|~` line matches regex (unanchored).
    Regex,
    /// `!~` line does not match regex.
    NotRegex,
    /// `|>` line matches pattern.
    Pattern,
    /// `!>` line does not match pattern.
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    /// Whether the operator is a negation (`!=`, `!~`, `!>`).
    pub fn is_negated(self) -> bool {
        matches!(self, LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern)
    }
}

/// One value of a line filter: a plain string, or an `ip("...")` pattern.
#[derive(Debug, Clone)]
pub struct LineFilterValue {
    /// The filter string (or IP pattern when `ip` is set).
    pub value: String,
    /// True for the `ip("...")` form.
    pub ip: bool,
    /// Compiled unanchored regex for `|~` / `!~` plain values.
    pub regex: Option<Regex>,
}

impl PartialEq for LineFilterValue {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value && self.ip == other.ip
    }
}

/// A line filter stage; `values` are OR-ed (only positive operators carry more than one).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    /// Filter operator.
    pub op: LineFilterOp,
    /// Alternatives; a line passes a positive filter if any alternative matches.
    pub values: Vec<LineFilterValue>,
}

/// A `label="json.expression"` parameter of `| json` / `| logfmt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelExtraction {
    /// Destination label.
    pub label: String,
    /// Source expression (JSON path or logfmt key); equals `label` for the bare form.
    pub expression: String,
}

/// A `| regexp "..."` parser with its compiled regex.
#[derive(Debug, Clone)]
pub struct RegexpParser {
    /// Regex source.
    pub pattern: String,
    /// Compiled unanchored regex (has at least one named group).
    pub regex: Regex,
}

impl PartialEq for RegexpParser {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

/// One `dst=src` (rename) or `dst="template"` entry of `| label_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFmt {
    /// Destination label.
    pub name: String,
    /// Source label (rename) or raw template text.
    pub value: String,
    /// True when `value` is a bare label name to rename from.
    pub rename: bool,
}

/// An entry of `| keep` / `| drop`: a bare label name or a matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedMatcher {
    /// A bare label name.
    Name(String),
    /// A label matcher.
    Matcher(Matcher),
}

/// A pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// A line filter (`|=`, `!=`, `|~`, `!~`, `|>`, `!>`).
    LineFilter(LineFilter),
    /// `| json` with optional extraction parameters.
    Json(Vec<LabelExtraction>),
    /// `| logfmt` with flags and optional extraction parameters.
    Logfmt {
        /// `--strict` flag.
        strict: bool,
        /// `--keep-empty` flag.
        keep_empty: bool,
        /// Extraction parameters (empty for the plain parser).
        params: Vec<LabelExtraction>,
    },
    /// `| regexp "..."`.
    Regexp(RegexpParser),
    /// `| pattern "..."` (raw pattern text).
    Pattern(String),
    /// `| unpack`.
    Unpack,
    /// `| <label filter expression>`.
    LabelFilter(LabelFilter),
    /// `| line_format "template"` (raw template text).
    LineFormat(String),
    /// `| label_format ...`.
    LabelFormat(Vec<LabelFmt>),
    /// `| decolorize`.
    Decolorize,
    /// `| drop ...`.
    Drop(Vec<NamedMatcher>),
    /// `| keep ...`.
    Keep(Vec<NamedMatcher>),
}

/// Comparison operator of numeric, duration and bytes label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Neq,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
}

impl CmpOp {
    /// The operator as Loki prints it (`==` for equality).
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }
}

/// A label filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// Both must pass (`and`, `,` or juxtaposition).
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either must pass (`or`).
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// String matcher on a label (absent label compares as `""`).
    Matcher(Matcher),
    /// Numeric comparison.
    Number {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand value.
        value: f64,
    },
    /// Duration comparison (label parsed as a Go duration).
    Duration {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand value in nanoseconds.
        value: Nanos,
    },
    /// Bytes comparison (label parsed as humanized bytes).
    Bytes {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand value in bytes.
        value: u64,
    },
    /// `label=ip("...")` / `label!=ip("...")`.
    Ip {
        /// Label name.
        name: String,
        /// True for `!=`.
        negated: bool,
        /// IP, CIDR or range pattern (validated by the evaluator).
        pattern: String,
    },
}

/// Conversion applied by `| unwrap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnwrapConv {
    /// `bytes(label)`.
    Bytes,
    /// `duration(label)`.
    Duration,
    /// `duration_seconds(label)`.
    DurationSeconds,
}

impl UnwrapConv {
    /// The conversion function name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnwrapConv::Bytes => "bytes",
            UnwrapConv::Duration => "duration",
            UnwrapConv::DurationSeconds => "duration_seconds",
        }
    }
}

/// `| unwrap [conv(]label[)]` with its trailing label filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// Label whose value becomes the sample value.
    pub label: String,
    /// Optional conversion function.
    pub conv: Option<UnwrapConv>,
    /// Label filters applied after unwrapping (e.g. `| __error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

/// A log range: `{sel} | pipeline [| unwrap ...] [range] [offset d]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    /// Selector and pipeline.
    pub log: LogExpr,
    /// Range interval.
    pub interval: Duration,
    /// Offset in nanoseconds (0 when absent).
    pub offset: Nanos,
    /// Optional unwrap.
    pub unwrap: Option<Unwrap>,
}

/// Range aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeOp {
    /// `count_over_time`
    CountOverTime,
    /// `rate`
    Rate,
    /// `rate_counter`
    RateCounter,
    /// `bytes_over_time`
    BytesOverTime,
    /// `bytes_rate`
    BytesRate,
    /// `avg_over_time`
    AvgOverTime,
    /// `sum_over_time`
    SumOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `max_over_time`
    MaxOverTime,
    /// `stdvar_over_time`
    StdvarOverTime,
    /// `stddev_over_time`
    StddevOverTime,
    /// `quantile_over_time`
    QuantileOverTime,
    /// `first_over_time`
    FirstOverTime,
    /// `last_over_time`
    LastOverTime,
    /// `absent_over_time`
    AbsentOverTime,
}

impl RangeOp {
    /// All range operations.
    pub const ALL: [RangeOp; 15] = [
        RangeOp::CountOverTime,
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::BytesOverTime,
        RangeOp::BytesRate,
        RangeOp::AvgOverTime,
        RangeOp::SumOverTime,
        RangeOp::MinOverTime,
        RangeOp::MaxOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::StddevOverTime,
        RangeOp::QuantileOverTime,
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
        RangeOp::AbsentOverTime,
    ];

    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }
}

/// Grouping clause: `by (...)` or `without (...)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grouping {
    /// True for `without`.
    pub without: bool,
    /// Label names.
    pub labels: Vec<String>,
}

impl Grouping {
    /// `by ()` or no grouping at all: everything aggregates into one series.
    pub fn is_singleton(&self) -> bool {
        !self.without && self.labels.is_empty()
    }

    /// `without ()`: grouping does not change labels.
    pub fn is_noop(&self) -> bool {
        self.without && self.labels.is_empty()
    }
}

/// `op([param,] log-range) [grouping]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    /// Function.
    pub op: RangeOp,
    /// Parameter (quantile for `quantile_over_time`).
    pub param: Option<f64>,
    /// The log range.
    pub range: LogRange,
    /// Optional grouping (only for unwrapped value aggregations).
    pub grouping: Option<Grouping>,
}

/// Vector aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `max`
    Max,
    /// `min`
    Min,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `bottomk`
    Bottomk,
    /// `topk`
    Topk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
    /// `approx_topk`
    ApproxTopk,
}

impl VectorOp {
    /// The operator name.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Count => "count",
            VectorOp::Max => "max",
            VectorOp::Min => "min",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Topk => "topk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
            VectorOp::ApproxTopk => "approx_topk",
        }
    }

    /// Whether the operator takes a `k` parameter.
    pub fn takes_param(self) -> bool {
        matches!(self, VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk)
    }
}

/// `op [grouping] ([k,] expr) [grouping]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    /// Operator.
    pub op: VectorOp,
    /// `k` for topk/bottomk/approx_topk.
    pub param: Option<u64>,
    /// Aggregated expression.
    pub expr: Box<SampleExpr>,
    /// Grouping (`by ()` when omitted).
    pub grouping: Grouping,
}

/// Binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOpKind {
    /// `or`
    Or,
    /// `and`
    And,
    /// `unless`
    Unless,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl BinOpKind {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOpKind::Or => "or",
            BinOpKind::And => "and",
            BinOpKind::Unless => "unless",
            BinOpKind::Add => "+",
            BinOpKind::Sub => "-",
            BinOpKind::Mul => "*",
            BinOpKind::Div => "/",
            BinOpKind::Mod => "%",
            BinOpKind::Pow => "^",
            BinOpKind::Eq => "==",
            BinOpKind::Neq => "!=",
            BinOpKind::Gt => ">",
            BinOpKind::Gte => ">=",
            BinOpKind::Lt => "<",
            BinOpKind::Lte => "<=",
        }
    }

    /// Precedence (higher binds tighter), as in Loki's grammar.
    pub fn precedence(self) -> u8 {
        match self {
            BinOpKind::Or => 1,
            BinOpKind::And | BinOpKind::Unless => 2,
            BinOpKind::Eq | BinOpKind::Neq | BinOpKind::Gt | BinOpKind::Gte | BinOpKind::Lt | BinOpKind::Lte => 3,
            BinOpKind::Add | BinOpKind::Sub => 4,
            BinOpKind::Mul | BinOpKind::Div | BinOpKind::Mod => 5,
            BinOpKind::Pow => 6,
        }
    }

    /// Whether this is a comparison operator.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// Whether this is a logical/set operator (`and`, `or`, `unless`).
    pub fn is_set_op(self) -> bool {
        matches!(self, BinOpKind::Or | BinOpKind::And | BinOpKind::Unless)
    }
}

/// Cardinality of vector matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cardinality {
    /// One-to-one (default).
    #[default]
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
}

/// Vector matching options of a binary operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VectorMatching {
    /// Matching cardinality.
    pub card: Cardinality,
    /// True for `on(...)`, false for `ignoring(...)` or no clause.
    pub on: bool,
    /// Labels of `on`/`ignoring`.
    pub labels: Vec<String>,
    /// Extra labels of `group_left(...)`/`group_right(...)`.
    pub include: Vec<String>,
}

/// A binary operation between metric expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct BinOp {
    /// Operator.
    pub op: BinOpKind,
    /// `bool` modifier.
    pub return_bool: bool,
    /// Vector matching.
    pub matching: VectorMatching,
    /// Left operand.
    pub lhs: Box<SampleExpr>,
    /// Right operand.
    pub rhs: Box<SampleExpr>,
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`.
#[derive(Debug, Clone)]
pub struct LabelReplace {
    /// Input expression.
    pub expr: Box<SampleExpr>,
    /// Destination label.
    pub dst: String,
    /// Replacement template (`$1` style).
    pub replacement: String,
    /// Source label.
    pub src: String,
    /// Regex source.
    pub regex: String,
    /// Compiled anchored regex.
    pub compiled: Regex,
}

impl PartialEq for LabelReplace {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
            && self.dst == other.dst
            && self.replacement == other.replacement
            && self.src == other.src
            && self.regex == other.regex
    }
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleExpr {
    /// Range aggregation over a log range.
    RangeAggregation(RangeAggregation),
    /// Vector aggregation.
    VectorAggregation(VectorAggregation),
    /// Binary operation.
    BinOp(BinOp),
    /// Scalar literal (binary operations between literals are folded at parse time).
    Literal(f64),
    /// `vector(x)`.
    Vector(f64),
    /// `label_replace(...)`.
    LabelReplace(LabelReplace),
}

impl SampleExpr {
    /// Every log range inside this expression, left to right.
    pub fn log_ranges(&self) -> Vec<&LogRange> {
        let mut out = Vec::new();
        self.collect_ranges(&mut out);
        out
    }

    fn collect_ranges<'a>(&'a self, out: &mut Vec<&'a LogRange>) {
        match self {
            SampleExpr::RangeAggregation(r) => out.push(&r.range),
            SampleExpr::VectorAggregation(v) => v.expr.collect_ranges(out),
            SampleExpr::BinOp(b) => {
                b.lhs.collect_ranges(out);
                b.rhs.collect_ranges(out);
            }
            SampleExpr::LabelReplace(l) => l.expr.collect_ranges(out),
            SampleExpr::Literal(_) | SampleExpr::Vector(_) => {}
        }
    }
}
