//! Label filter expressions (`| status >= 400`, `| latency > 250ms`, `| size > 1KB`, `| level=~"err.*"`)
//! and the `unwrap` value conversions, with Loki's error-label rules.

use super::labels::{ERR_LABEL_FILTER, ERR_SAMPLE_EXTRACTION, ERROR_LABEL, LabelsBuilder, Matcher};
use super::values::{duration_seconds, go_parse_bytes, go_parse_duration, go_parse_float};

/// Comparison operator of numeric, duration and bytes filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` (or `=`)
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// A label filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// String/regex matcher; a missing label compares as "" and `__error__` reads the error state.
    Matcher(Matcher),
    /// Numeric comparison (`strconv.ParseFloat` of the label value).
    Number {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Literal.
        value: f64,
    },
    /// Duration comparison (`time.ParseDuration` of the label value), literal in nanoseconds.
    Duration {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Literal in nanoseconds.
        nanos: i64,
    },
    /// Bytes comparison (go-humanize `ParseBytes` of the label value).
    Bytes {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Literal in bytes.
        value: u64,
    },
    /// `a and b` / `a, b` / `a b` (both sides are always evaluated, as in Loki).
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// `a or b` (the right side runs only when the left one fails).
    Or(Box<LabelFilter>, Box<LabelFilter>),
}

fn conversion_failed(lbs: &mut LabelsBuilder, details: &str) -> bool {
    if !lbs.has_err() {
        lbs.set_err(ERR_LABEL_FILTER);
        lbs.set_err_details(details);
    }
    true
}

impl LabelFilter {
    /// Evaluates the filter: `false` drops the line. A value that does not convert keeps the line and
    /// sets `__error__="LabelFilterErr"` (unless an error is already set); a missing label drops it.
    pub fn process(&self, lbs: &mut LabelsBuilder) -> bool {
        match self {
            LabelFilter::Matcher(m) => {
                let v = if m.name == ERROR_LABEL { lbs.err().unwrap_or("") } else { lbs.get(&m.name).unwrap_or("") };
                m.matches(v)
            }
            LabelFilter::Number { name, op, value } => {
                let Some(v) = lbs.get(name) else { return false };
                match go_parse_float(v) {
                    Ok(x) => op.apply(x, *value),
                    Err(e) => conversion_failed(lbs, &e),
                }
            }
            LabelFilter::Duration { name, op, nanos } => {
                let Some(v) = lbs.get(name) else { return false };
                match go_parse_duration(v) {
                    Ok(x) => op.apply(x, *nanos),
                    Err(e) => conversion_failed(lbs, &e),
                }
            }
            LabelFilter::Bytes { name, op, value } => {
                let Some(v) = lbs.get(name) else { return false };
                match go_parse_bytes(v) {
                    Ok(x) => op.apply(x, *value),
                    Err(e) => conversion_failed(lbs, &e),
                }
            }
            LabelFilter::And(l, r) => {
                let a = l.process(lbs);
                let b = r.process(lbs);
                a && b
            }
            LabelFilter::Or(l, r) => l.process(lbs) || r.process(lbs),
        }
    }
}

/// `unwrap` conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// `unwrap label` (`strconv.ParseFloat`).
    Float,
    /// `unwrap duration(label)` / `duration_seconds(label)` (seconds).
    Duration,
    /// `unwrap bytes(label)`.
    Bytes,
}

/// Converts a value for `unwrap`; the error is Go's message.
pub fn convert(value: &str, conv: Conversion) -> Result<f64, String> {
    match conv {
        Conversion::Float => go_parse_float(value),
        Conversion::Duration => go_parse_duration(value).map(duration_seconds),
        Conversion::Bytes => go_parse_bytes(value).map(|b| b as f64),
    }
}

/// Extracts the `unwrap` sample: `None` when the label is missing or empty (no sample, as Loki);
/// on conversion failure sets `__error__="SampleExtractionErr"` with details and returns `Some(0.0)`.
pub fn unwrap_sample(lbs: &mut LabelsBuilder, label: &str, conv: Conversion) -> Option<f64> {
    let value = lbs.get(label).filter(|v| !v.is_empty())?;
    match convert(value, conv) {
        Ok(v) => Some(v),
        Err(e) => {
            lbs.set_err(ERR_SAMPLE_EXTRACTION);
            lbs.set_err_details(&e);
            Some(0.0)
        }
    }
}
