//! The TraceQL syntax tree.

/// A whole query: spanset stages joined by `|`, optionally ending in a metrics function.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Stages in order; the first is always a spanset expression.
    pub stages: Vec<Stage>,
    /// A TraceQL metrics function closing the pipeline (`| rate() by (...)`), if any.
    pub metrics: Option<MetricsStage>,
}

/// One stage of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Spanset filters and the operators between them.
    Spanset(SpansetExpr),
    /// `count() > 3`, `avg(duration) > 1s`: keeps spansets whose aggregate compares true.
    Scalar(ScalarFilter),
    /// `select(span.a, resource.b)`: adds attributes to the result.
    Select(Vec<Attribute>),
    /// `by(resource.service.name)`: regroups spansets by a value.
    By(Vec<FieldExpr>),
}

/// Operators that combine spansets.
#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ ... }`.
    Filter(FieldExpr),
    /// Two spansets joined by a spanset operator.
    Binary {
        /// The operator.
        op: SpansetOp,
        /// Left side.
        lhs: Box<SpansetExpr>,
        /// Right side.
        rhs: Box<SpansetExpr>,
    },
}

/// Spanset operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpansetOp {
    /// `&&`: both sides match within the same trace.
    And,
    /// `||`: either side matches.
    Or,
    /// `>`: right-side spans that are direct children of left-side spans.
    Child,
    /// `>>`: right-side spans that are descendants of left-side spans.
    Descendant,
    /// `~`: right-side spans that are siblings of left-side spans.
    Sibling,
}

/// `agg(...) op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarFilter {
    /// The aggregate.
    pub aggregate: Aggregate,
    /// The field aggregated; `None` for `count()`.
    pub field: Option<FieldExpr>,
    /// The comparison.
    pub op: CompareOp,
    /// What it is compared with.
    pub value: Static,
}

/// Aggregates over a spanset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Number of spans.
    Count,
    /// Average of a field.
    Avg,
    /// Minimum of a field.
    Min,
    /// Maximum of a field.
    Max,
    /// Sum of a field.
    Sum,
}

/// A TraceQL metrics function and its grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsStage {
    /// The function.
    pub function: MetricsFunction,
    /// `by (...)` labels.
    pub by: Vec<Attribute>,
}

/// TraceQL metrics functions.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFunction {
    /// `rate()`: matching spans per second.
    Rate,
    /// `count_over_time()`: matching spans per step.
    CountOverTime,
    /// `quantile_over_time(field, q...)`.
    QuantileOverTime {
        /// The field whose quantiles are computed.
        field: Attribute,
        /// The quantiles, each in `[0, 1]`.
        quantiles: Vec<f64>,
    },
    /// `histogram_over_time(field)`.
    HistogramOverTime {
        /// The field bucketed.
        field: Attribute,
    },
}

/// An expression over one span's fields.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    /// A literal.
    Static(Static),
    /// An intrinsic or attribute.
    Attribute(Attribute),
    /// `!expr`.
    Not(Box<FieldExpr>),
    /// A binary operator.
    Binary {
        /// The operator.
        op: FieldOp,
        /// Left side.
        lhs: Box<FieldExpr>,
        /// Right side.
        rhs: Box<FieldExpr>,
    },
}

/// Operators inside a spanset filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// A comparison.
    Compare(CompareOp),
}

/// Comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `=~` (regular expression, anchored).
    Regex,
    /// `!~`.
    NotRegex,
}

/// Literal values.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    /// `"text"`.
    String(String),
    /// `42`.
    Int(i64),
    /// `4.2`.
    Float(f64),
    /// `150ms`, in nanoseconds.
    Duration(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `ok`, `error`, `unset`.
    Status(Status),
    /// `server`, `client` …
    Kind(Kind),
}

/// Span status literals (`ok`, `error`, `unset`) are the data model's status codes.
pub use lookout_storage::StatusCode as Status;

/// Span kind literals (`server`, `client` …) are the data model's span kinds.
pub use lookout_storage::SpanKind as Kind;

/// A field of a span: an intrinsic or a named attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// Built-in fields such as `duration`.
    Intrinsic(Intrinsic),
    /// `resource.x`, `span.x`, `.x` …
    Named {
        /// Where to look.
        scope: AttributeScope,
        /// The attribute name, dots included.
        name: String,
    },
}

/// Where a named attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeScope {
    /// `.x`: span attributes, then resource attributes.
    Unscoped,
    /// `resource.x`.
    Resource,
    /// `span.x`.
    Span,
    /// `event.x`.
    Event,
    /// `link.x`.
    Link,
    /// `instrumentation.x`.
    Instrumentation,
}

/// Intrinsic fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `name`, `span:name`.
    Name,
    /// `status`, `span:status`.
    Status,
    /// `statusMessage`, `span:statusMessage`.
    StatusMessage,
    /// `duration`, `span:duration`.
    Duration,
    /// `kind`, `span:kind`.
    Kind,
    /// `span:id`.
    SpanId,
    /// `span:parentID`.
    ParentId,
    /// `rootName`, `trace:rootName`.
    RootName,
    /// `rootServiceName`, `trace:rootService`.
    RootServiceName,
    /// `traceDuration`, `trace:duration`.
    TraceDuration,
    /// `trace:id`.
    TraceId,
    /// `event:name`.
    EventName,
    /// `link:traceID`.
    LinkTraceId,
    /// `link:spanID`.
    LinkSpanId,
    /// `instrumentation:name`.
    InstrumentationName,
    /// `instrumentation:version`.
    InstrumentationVersion,
}

impl Intrinsic {
    /// Looks up an intrinsic by any of its spellings.
    pub fn from_name(name: &str) -> Option<Intrinsic> {
        Some(match name {
            "name" | "span:name" => Intrinsic::Name,
            "status" | "span:status" => Intrinsic::Status,
            "statusMessage" | "span:statusMessage" => Intrinsic::StatusMessage,
            "duration" | "span:duration" => Intrinsic::Duration,
            "kind" | "span:kind" => Intrinsic::Kind,
            "span:id" => Intrinsic::SpanId,
            "span:parentID" => Intrinsic::ParentId,
            "rootName" | "trace:rootName" => Intrinsic::RootName,
            "rootServiceName" | "trace:rootService" => Intrinsic::RootServiceName,
            "traceDuration" | "trace:duration" => Intrinsic::TraceDuration,
            "trace:id" => Intrinsic::TraceId,
            "event:name" => Intrinsic::EventName,
            "link:traceID" => Intrinsic::LinkTraceId,
            "link:spanID" => Intrinsic::LinkSpanId,
            "instrumentation:name" => Intrinsic::InstrumentationName,
            "instrumentation:version" => Intrinsic::InstrumentationVersion,
            _ => return None,
        })
    }
}
