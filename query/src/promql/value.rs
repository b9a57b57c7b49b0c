//! What a query returns, in Prometheus's four value types, and the annotations beside it.

use lookout_storage::{FloatHistogram, HistogramSample, Labels, Sample};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VecSample {
    /// The series' labels.
    pub labels: Labels,
    /// Evaluation time (ms).
    pub t: i64,
    /// The value (0 for a histogram sample).
    pub v: f64,
    /// The native histogram, when the sample is one.
    pub h: Option<FloatHistogram>,
}

/// One series of a matrix: its labels and points, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// Points, oldest first.
    pub points: Vec<Sample>,
    /// Native-histogram points, oldest first.
    pub histograms: Vec<HistogramSample>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at an evaluation time (ms).
    Scalar {
        /// Evaluation time (ms).
        t: i64,
        /// The number.
        v: f64,
    },
    /// A string at an evaluation time (ms).
    String {
        /// Evaluation time (ms).
        t: i64,
        /// The string.
        v: String,
    },
    /// An instant vector.
    Vector(Vec<VecSample>),
    /// A range vector, or the result of a range query: series sorted by labels.
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus's name for the type: `scalar`, `string`, `vector` or `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Warnings and infos raised while evaluating, as Prometheus words them
/// (`PromQL warning: …`, `PromQL info: …`), each once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// Warnings: the result may be wrong.
    pub warnings: Vec<String>,
    /// Infos: the query may not mean what it says.
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning (`text` without the `PromQL warning: ` prefix), once.
    pub fn warn(&mut self, text: impl Into<String>) {
        let text = format!("PromQL warning: {}", text.into());
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    /// Adds an info (`text` without the `PromQL info: ` prefix), once.
    pub fn info(&mut self, text: impl Into<String>) {
        let text = format!("PromQL info: {}", text.into());
        if !self.infos.contains(&text) {
            self.infos.push(text);
        }
    }
}

/// A query's result with its annotations and how many samples it read.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    /// The result.
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
    /// Samples read from storage, for `stats`.
    pub samples_read: u64,
}
