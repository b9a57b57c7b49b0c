//! A log pipeline built from a query's stages: line filters, parsers, label filters and
//! formatters run in order on each entry, with the stream labels and structured metadata as
//! the starting labels (Loki's `log.Pipeline` and sample extractor). Also decides which leading
//! line filters the log index can answer.

use lookout_storage::logs::LineQuery;
use lookout_storage::{Label, Labels};

use super::error::LogqlError;
use super::stages::{
    self, Conversion, JsonParser, LabelFormat, LabelSource, LabelsBuilder, LineFormat, LogfmtParser, PatternParser,
    RegexpParser, Unpack,
};
use super::syntax::{CmpOp, LabelFilter, LineFilter, LineFilterOp, MatchOp, NamedMatcher, Stage, Unwrap, UnwrapConv};

/// One compiled stage.
enum Step {
    Line(LineFilter, Option<Vec<PatternNode>>),
    Json(JsonParser),
    Logfmt(LogfmtParser),
    Regexp(RegexpParser),
    Pattern(PatternParser),
    Unpack(Unpack),
    Filter(stages::LabelFilter),
    LineFormat(LineFormat),
    LabelFormat(LabelFormat),
    Decolorize,
    Drop(Vec<stages::LabelSelector>),
    Keep(Vec<stages::LabelSelector>),
}

/// What the pipeline made of one entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Processed {
    /// The line after formatting.
    pub line: String,
    /// Every label, sorted (stream, metadata, parsed, `__error__`).
    pub labels: Labels,
    /// The stream labels left.
    pub stream: Labels,
    /// The structured metadata left.
    pub metadata: Vec<Label>,
    /// The labels the stages wrote.
    pub parsed: Vec<Label>,
    /// The unwrapped value, if the pipeline unwraps.
    pub value: f64,
}

/// A compiled pipeline.
pub(crate) struct Pipeline {
    steps: Vec<Step>,
    unwrap: Option<(String, Conversion, Vec<stages::LabelFilter>)>,
    builder: LabelsBuilder,
}

fn stage_error(e: impl std::fmt::Display) -> LogqlError {
    LogqlError::BadRequest(e.to_string())
}

fn cmp(op: CmpOp) -> stages::CmpOp {
    match op {
        CmpOp::Eq => stages::CmpOp::Eq,
        CmpOp::Neq => stages::CmpOp::Ne,
        CmpOp::Gt => stages::CmpOp::Gt,
        CmpOp::Gte => stages::CmpOp::Ge,
        CmpOp::Lt => stages::CmpOp::Lt,
        CmpOp::Lte => stages::CmpOp::Le,
    }
}

fn matcher(m: &super::syntax::Matcher) -> Result<stages::Matcher, LogqlError> {
    let op = match m.op {
        MatchOp::Equal => stages::MatchOp::Equal,
        MatchOp::NotEqual => stages::MatchOp::NotEqual,
        MatchOp::Regex => stages::MatchOp::Regex,
        MatchOp::NotRegex => stages::MatchOp::NotRegex,
    };
    stages::Matcher::new(m.name.clone(), op, m.value.clone()).map_err(stage_error)
}

fn label_filter(f: &LabelFilter) -> Result<stages::LabelFilter, LogqlError> {
    Ok(match f {
        LabelFilter::And(a, b) => stages::LabelFilter::And(Box::new(label_filter(a)?), Box::new(label_filter(b)?)),
        LabelFilter::Or(a, b) => stages::LabelFilter::Or(Box::new(label_filter(a)?), Box::new(label_filter(b)?)),
        LabelFilter::Matcher(m) => stages::LabelFilter::Matcher(matcher(m)?),
        LabelFilter::Number { name, op, value } => {
            stages::LabelFilter::Number { name: name.clone(), op: cmp(*op), value: *value }
        }
        LabelFilter::Duration { name, op, value } => {
            stages::LabelFilter::Duration { name: name.clone(), op: cmp(*op), nanos: *value }
        }
        LabelFilter::Bytes { name, op, value } => {
            stages::LabelFilter::Bytes { name: name.clone(), op: cmp(*op), value: *value }
        }
        LabelFilter::Ip { .. } => return Err(LogqlError::BadRequest("ip() label filters are not supported".into())),
    })
}

fn named(list: &[NamedMatcher]) -> Result<Vec<stages::LabelSelector>, LogqlError> {
    list.iter()
        .map(|n| {
            Ok(match n {
                NamedMatcher::Name(name) => stages::LabelSelector::Name(name.clone()),
                NamedMatcher::Matcher(m) => stages::LabelSelector::Matcher(matcher(m)?),
            })
        })
        .collect()
}

fn pairs(list: &[super::syntax::LabelExtraction]) -> Vec<(String, String)> {
    list.iter().map(|p| (p.label.clone(), p.expression.clone())).collect()
}

impl Pipeline {
    /// Compiles `stages` (and the unwrap of a metric query).
    pub fn new(stage_list: &[Stage], unwrap: Option<&Unwrap>) -> Result<Pipeline, LogqlError> {
        let mut steps = Vec::with_capacity(stage_list.len());
        for stage in stage_list {
            steps.push(match stage {
                Stage::LineFilter(f) => {
                    if f.values.iter().any(|v| v.ip) {
                        return Err(LogqlError::BadRequest("ip() line filters are not supported".into()));
                    }
                    let pattern = match f.op {
                        LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                            Some(pattern_nodes(f.values.first().map(|v| v.value.as_str()).unwrap_or("")))
                        }
                        _ => None,
                    };
                    Step::Line(f.clone(), pattern)
                }
                Stage::Json(params) => Step::Json(JsonParser::new(pairs(params)).map_err(stage_error)?),
                Stage::Logfmt { strict, keep_empty, params } => {
                    Step::Logfmt(LogfmtParser::new(*strict, *keep_empty, pairs(params)).map_err(stage_error)?)
                }
                Stage::Regexp(r) => Step::Regexp(RegexpParser::new(&r.pattern).map_err(stage_error)?),
                Stage::Pattern(p) => Step::Pattern(PatternParser::new(p).map_err(stage_error)?),
                Stage::Unpack => Step::Unpack(Unpack::new()),
                Stage::LabelFilter(f) => Step::Filter(label_filter(f)?),
                Stage::LineFormat(t) => Step::LineFormat(LineFormat::new(t).map_err(stage_error)?),
                Stage::LabelFormat(list) => Step::LabelFormat(
                    LabelFormat::new(
                        list.iter()
                            .map(|l| {
                                let source = if l.rename {
                                    LabelSource::Rename(l.value.clone())
                                } else {
                                    LabelSource::Template(l.value.clone())
                                };
                                (l.name.clone(), source)
                            })
                            .collect(),
                    )
                    .map_err(stage_error)?,
                ),
                Stage::Decolorize => Step::Decolorize,
                Stage::Drop(list) => Step::Drop(named(list)?),
                Stage::Keep(list) => Step::Keep(named(list)?),
            });
        }
        let unwrap = match unwrap {
            None => None,
            Some(u) => {
                let conv = match u.conv {
                    None => Conversion::Float,
                    Some(UnwrapConv::Bytes) => Conversion::Bytes,
                    Some(UnwrapConv::Duration | UnwrapConv::DurationSeconds) => Conversion::Duration,
                };
                let filters = u.post_filters.iter().map(label_filter).collect::<Result<Vec<_>, _>>()?;
                Some((u.label.clone(), conv, filters))
            }
        };
        Ok(Pipeline { steps, unwrap, builder: LabelsBuilder::default() })
    }

    /// Runs one entry; `None` when a filter drops it (or, with an unwrap, it has no value).
    pub fn run(&mut self, time: i64, line: &str, stream: &Labels, metadata: &[Label]) -> Option<Processed> {
        let b = &mut self.builder;
        b.set_stream(stream.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        for l in metadata {
            b.add_structured_metadata(&l.name, &l.value);
        }
        let mut line: std::borrow::Cow<'_, str> = std::borrow::Cow::Borrowed(line);
        for step in &mut self.steps {
            match step {
                Step::Line(f, pattern) => {
                    if !line_passes(f, pattern.as_deref(), &line) {
                        return None;
                    }
                }
                Step::Json(p) => p.process(line.as_bytes(), b),
                Step::Logfmt(p) => p.process(line.as_bytes(), b),
                Step::Regexp(p) => p.process(line.as_bytes(), b),
                Step::Pattern(p) => p.process(line.as_bytes(), b),
                Step::Unpack(p) => {
                    if let Some(new_line) = p.process(line.as_bytes(), b) {
                        line = std::borrow::Cow::Owned(new_line);
                    }
                }
                Step::Filter(f) => {
                    if !f.process(b) {
                        return None;
                    }
                }
                Step::LineFormat(f) => line = std::borrow::Cow::Owned(f.process(line.as_bytes(), time, b)),
                Step::LabelFormat(f) => f.process(line.as_bytes(), time, b),
                Step::Decolorize => {
                    if let std::borrow::Cow::Owned(s) = stages::decolorize(&line) {
                        line = std::borrow::Cow::Owned(s);
                    }
                }
                Step::Drop(list) => b.drop_labels(list),
                Step::Keep(list) => b.keep_labels(list),
            }
        }
        let mut value = 0.0;
        if let Some((label, conv, filters)) = &self.unwrap {
            value = stages::unwrap_sample(b, label, *conv)?;
            b.del(label);
            for f in filters.iter() {
                if !f.process(b) {
                    return None;
                }
            }
        }
        let to_labels =
            |pairs: Vec<(String, String)>| pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect::<Vec<_>>();
        let categorized = b.categorized();
        Some(Processed {
            line: line.into_owned(),
            labels: Labels::new(to_labels(b.labels())),
            stream: Labels::new(to_labels(categorized.stream)),
            metadata: to_labels(categorized.structured_metadata),
            parsed: to_labels(categorized.parsed),
            value,
        })
    }
}

/// A piece of a `|>` pattern: text that must appear, or a capture that skips text.
#[derive(Debug, Clone, PartialEq)]
enum PatternNode {
    Literal(String),
    Capture,
}

/// The nodes of a line filter pattern: `<name>` and `<_>` capture, everything else is literal.
fn pattern_nodes(pattern: &str) -> Vec<PatternNode> {
    let mut nodes = Vec::new();
    let mut literal = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
            && rest[1..end].chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && rest[1..end].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        {
            if !literal.is_empty() {
                nodes.push(PatternNode::Literal(std::mem::take(&mut literal)));
            }
            nodes.push(PatternNode::Capture);
            rest = &rest[end + 1..];
            continue;
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !literal.is_empty() {
        nodes.push(PatternNode::Literal(literal));
    }
    nodes
}

/// Whether `line` matches the pattern as Loki's pattern matcher reads it: a leading literal
/// must start the line, each later literal is the next occurrence after the previous one, and
/// a trailing literal must end the line.
fn pattern_matches(nodes: &[PatternNode], line: &str) -> bool {
    let mut at = 0;
    let mut after_capture = false;
    for (i, node) in nodes.iter().enumerate() {
        match node {
            PatternNode::Capture => after_capture = true,
            PatternNode::Literal(text) => {
                let last = i == nodes.len() - 1;
                if !after_capture {
                    if !line[at..].starts_with(text.as_str()) {
                        return false;
                    }
                    at += text.len();
                } else if last {
                    if !line[at..].ends_with(text.as_str()) || line.len() - at < text.len() {
                        return false;
                    }
                    at = line.len();
                } else {
                    match line[at..].find(text.as_str()) {
                        Some(found) => at += found + text.len(),
                        None => return false,
                    }
                }
                after_capture = false;
            }
        }
    }
    true
}

fn line_passes(f: &LineFilter, pattern: Option<&[PatternNode]>, line: &str) -> bool {
    match f.op {
        LineFilterOp::Contains => f.values.iter().any(|v| line.contains(v.value.as_str())),
        LineFilterOp::NotContains => !f.values.iter().any(|v| line.contains(v.value.as_str())),
        LineFilterOp::Regex => f.values.iter().any(|v| v.regex.as_ref().is_some_and(|r| r.is_match(line))),
        LineFilterOp::NotRegex => !f.values.iter().any(|v| v.regex.as_ref().is_some_and(|r| r.is_match(line))),
        LineFilterOp::Pattern => pattern.is_some_and(|p| pattern_matches(p, line)),
        LineFilterOp::NotPattern => !pattern.is_some_and(|p| pattern_matches(p, line)),
    }
}

/// What the log index can check of the lines: the `|=` filters (and `trace_id="…"` label
/// filters on structured metadata) before any stage that changes the line or the labels.
/// `stream_has_trace_id` turns the trace id pushdown off when a selected stream has a
/// `trace_id` stream label (the filter could then match the stream label instead).
pub(crate) fn pushdown(stage_list: &[Stage], stream_has_trace_id: bool) -> Option<LineQuery> {
    let mut parts = Vec::new();
    for stage in stage_list {
        match stage {
            Stage::LineFilter(f) if f.op == LineFilterOp::Contains && f.values.iter().all(|v| !v.ip) => {
                let mut alternatives: Vec<LineQuery> =
                    f.values.iter().map(|v| LineQuery::Contains(v.value.clone())).collect();
                parts.push(if alternatives.len() == 1 { alternatives.remove(0) } else { LineQuery::Any(alternatives) });
            }
            Stage::LineFilter(_) => {}
            Stage::LabelFilter(LabelFilter::Matcher(m))
                if !stream_has_trace_id && m.name == "trace_id" && m.op == MatchOp::Equal && !m.value.is_empty() =>
            {
                parts.push(LineQuery::TraceId(m.value.clone()));
            }
            Stage::LabelFilter(_) | Stage::Drop(_) | Stage::Keep(_) => {}
            _ => break,
        }
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(LineQuery::All(parts)),
    }
}
