//! Reading a `.test` file into commands: `clear`, `load` blocks and `eval` blocks with their
//! expectations (FORMAT.md §1, §3, §6.1-6.3, §6.7).
//!
//! A problem in one block does not stop the file: a bad load line becomes an
//! [`Command::Invalid`], a bad eval block keeps its first problem in [`Eval::error`] so the
//! runner can report that eval (unless it is skipped) and go on.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use lookout_storage::Labels;
use regex::Regex;

use super::notation::{SeqValue, parse_duration, parse_go_number, parse_series_line, unquote};

/// `eval instant` header (FORMAT.md §6.1, Go's regex).
static EVAL_INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$").expect("regex")
});

/// `eval range` header (FORMAT.md §6.1, Go's regex).
static EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$").expect("regex")
});

/// `load` header (FORMAT.md §3).
static LOAD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").expect("regex"));

/// `expect range vector from <a> to <b> step <s>` (FORMAT.md §6.2).
static EXPECT_RANGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^expect\s+range\s+vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$").expect("regex"));

/// An expectation line (FORMAT.md §6.2).
static EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$").expect("regex")
});

/// A position suffix ` (L:C)` at the end of an annotation.
static POSITION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r" \(\d+:\d+\)$").expect("regex"));

/// A position at the end of an annotation regex: `\([0-9]+:[0-9]+\)` or `\(1:21\)`.
static REGEX_POSITION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\\\((?:\[0-9\]\+|\d+):(?:\[0-9\]\+|\d+)\\\)$").expect("regex"));

/// One command of a test file.
#[derive(Debug)]
pub enum Command {
    /// `clear`: drop all data.
    Clear,
    /// A `load` block.
    Load(Load),
    /// An `eval` block.
    Eval(Box<Eval>),
    /// A line that is not a valid command or load line; upstream would fail the whole file.
    Invalid {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        error: String,
    },
}

/// A `load` block: series to append, the k-th value at `k * interval`.
#[derive(Debug)]
pub struct Load {
    /// Step between values (ms).
    pub interval: i64,
    /// `load_with_nhcb`: the classic histograms would also be loaded as NHCB series.
    pub nhcb: bool,
    /// Series of the block; when a label set repeats, the last line won.
    pub series: BTreeMap<Labels, Vec<SeqValue>>,
}

/// What kind of query an eval runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvalKind {
    /// An instant query at this time (ms).
    Instant {
        /// Evaluation time (ms).
        at: i64,
    },
    /// A range query.
    Range {
        /// First step (ms).
        start: i64,
        /// Last possible step (ms).
        end: i64,
        /// Step (ms).
        step: i64,
    },
}

/// How an annotation or error text is expected to look.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// Any text.
    Any,
    /// Exactly this text (annotation positions already stripped).
    Exact(String),
    /// A regex found anywhere in the text (not anchored).
    Regex(Regex),
}

impl TextMatch {
    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(want) => want == text,
            TextMatch::Regex(re) => re.is_match(text),
        }
    }

    /// For messages.
    pub fn describe(&self) -> String {
        match self {
            TextMatch::Any => "any".to_string(),
            TextMatch::Exact(s) => format!("{s:?}"),
            TextMatch::Regex(re) => format!("/{}/", re.as_str()),
        }
    }
}

/// Expectations on one kind of annotation (warnings or infos).
#[derive(Debug, Clone, Default)]
pub struct AnnotationExpectation {
    /// `expect warn …` lines: each must match an annotation, and each annotation one of them.
    pub lines: Vec<TextMatch>,
    /// `expect no_warn`: there must be none.
    pub none: bool,
    /// `eval_warn` / `eval_info`: there must be at least one.
    pub some: bool,
}

/// One expected series line.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    /// 1-based position among the expected series lines, for `expect ordered`.
    pub pos: usize,
    /// Values: one for an instant vector, one per step for a matrix.
    pub values: Vec<SeqValue>,
}

/// An `eval` block.
#[derive(Debug)]
pub struct Eval {
    /// 1-based line of the `eval` command: the eval's key in the skip lists.
    pub line: usize,
    /// The PromQL expression.
    pub expr: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// `Some` if the query must fail, with how the error must read.
    pub fail: Option<TextMatch>,
    /// `expect ordered`.
    pub ordered: bool,
    /// Warning expectations.
    pub warn: AnnotationExpectation,
    /// Info expectations.
    pub info: AnnotationExpectation,
    /// `expect range vector from a to b step s` (ms).
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string …`.
    pub string: Option<String>,
    /// A scalar result line.
    pub scalar: Option<f64>,
    /// Expected series by label set.
    pub series: BTreeMap<Labels, ExpectedSeries>,
    /// The first problem found in the block; the eval cannot run.
    pub error: Option<String>,
}

/// Reads a file into commands (FORMAT.md §10).
pub fn parse_file(text: &str) -> Vec<Command> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { "" } else { l }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("").to_lowercase();
        if word == "clear" {
            commands.push(Command::Clear);
        } else if word.starts_with("load") {
            i = parse_load(&lines, i, &mut commands);
        } else if word.starts_with("eval") {
            i = parse_eval(&lines, i, &mut commands);
        } else {
            commands.push(Command::Invalid { line: i + 1, error: format!("invalid command {line:?}") });
        }
        i += 1;
    }
    commands
}

/// Index of the last line of the block that starts at `i` (the last non-empty line).
fn block_end(lines: &[&str], i: usize) -> usize {
    let mut j = i;
    while j + 1 < lines.len() && !lines[j + 1].is_empty() {
        j += 1;
    }
    j
}

/// Reads the `load` block at `i`; returns the index of its last line.
fn parse_load(lines: &[&str], i: usize, commands: &mut Vec<Command>) -> usize {
    let end = block_end(lines, i);
    let Some(caps) = LOAD.captures(lines[i]) else {
        commands.push(Command::Invalid { line: i + 1, error: format!("invalid load command {:?}", lines[i]) });
        return end;
    };
    let interval = match parse_duration(&caps[2]) {
        Ok(d) => d,
        Err(e) => {
            commands.push(Command::Invalid { line: i + 1, error: e });
            return end;
        }
    };
    let mut load = Load { interval, nhcb: caps.get(1).is_some(), series: BTreeMap::new() };
    let mut errors = Vec::new();
    for (j, line) in lines.iter().enumerate().take(end + 1).skip(i + 1) {
        // `@st` start-timestamp lines (FORMAT.md §3.1) are read past: the store keeps no start times.
        if line.split_whitespace().next().is_some_and(|w| w.ends_with("@st")) {
            continue;
        }
        match parse_series_line(line) {
            Ok((labels, values)) => {
                load.series.insert(labels, values);
            }
            Err(e) => errors.push(Command::Invalid { line: j + 1, error: format!("bad series line: {e}") }),
        }
    }
    commands.push(Command::Load(load));
    commands.extend(errors);
    end
}

/// Parses a duration field of an eval header.
fn duration_field(what: &str, s: &str) -> Result<i64, String> {
    parse_duration(s.trim()).map_err(|e| format!("bad {what}: {e}"))
}

/// Reads the eval header at `i`.
fn parse_eval_header(line: &str, n: usize) -> Result<Eval, String> {
    let mut eval = Eval {
        line: n,
        expr: String::new(),
        kind: EvalKind::Instant { at: 0 },
        fail: None,
        ordered: false,
        warn: AnnotationExpectation::default(),
        info: AnnotationExpectation::default(),
        range_vector: None,
        string: None,
        scalar: None,
        series: BTreeMap::new(),
        error: None,
    };
    let modifier;
    if let Some(caps) = EVAL_INSTANT.captures(line) {
        modifier = caps.get(1).map(|m| m.as_str().to_string());
        let at = caps.get(2).map(|m| m.as_str()).unwrap_or("");
        eval.kind = EvalKind::Instant { at: duration_field("eval time", at)? };
        eval.expr = caps[3].to_string();
    } else if let Some(caps) = EVAL_RANGE.captures(line) {
        modifier = caps.get(1).map(|m| m.as_str().to_string());
        let start = duration_field("range start", &caps[2])?;
        let end = duration_field("range end", &caps[3])?;
        let step = duration_field("range step", &caps[4])?;
        if end < start {
            return Err(format!("invalid test definition, end timestamp ({end}) is before start timestamp ({start})"));
        }
        eval.kind = EvalKind::Range { start, end, step };
        eval.expr = caps[5].to_string();
    } else {
        return Err(format!("invalid evaluation command {line:?}"));
    }
    match modifier.as_deref() {
        Some("fail") => eval.fail = Some(TextMatch::Any),
        Some("warn") => eval.warn.some = true,
        Some("info") => eval.info.some = true,
        Some("ordered") => eval.ordered = true,
        _ => {}
    }
    Ok(eval)
}

/// Reads the `eval` block at `i`; returns the index of its last line (FORMAT.md §6.2).
fn parse_eval(lines: &[&str], i: usize, commands: &mut Vec<Command>) -> usize {
    let mut eval = match parse_eval_header(lines[i], i + 1) {
        Ok(eval) => eval,
        Err(error) => {
            commands.push(Command::Invalid { line: i + 1, error });
            return block_end(lines, i);
        }
    };
    let is_instant = matches!(eval.kind, EvalKind::Instant { .. });
    let mut j = i;
    let mut series_pos = 0;
    while j + 1 < lines.len() && !lines[j + 1].is_empty() {
        j += 1;
        let line = lines[j];
        let result = match body_line(&mut eval, line, is_instant, &mut series_pos) {
            Ok(flow) => flow,
            Err(e) => {
                if eval.error.is_none() {
                    eval.error = Some(format!("line {}: {e}", j + 1));
                }
                Flow::Continue
            }
        };
        if result == Flow::EndBlock {
            break;
        }
    }
    if let Err(e) = check_expectations(&eval)
        && eval.error.is_none()
    {
        eval.error = Some(e);
    }
    commands.push(Command::Eval(Box::new(eval)));
    j
}

/// Whether a body line ends the eval block.
#[derive(Debug, PartialEq)]
enum Flow {
    /// Read the next line as part of the block.
    Continue,
    /// The block ends here (scalar line, `expected_fail_*`).
    EndBlock,
}

/// Applies one body line, classified in FORMAT.md §6.2's order.
fn body_line(eval: &mut Eval, line: &str, is_instant: bool, series_pos: &mut usize) -> Result<Flow, String> {
    if eval.fail.is_some() {
        if let Some(msg) = line.strip_prefix("expected_fail_message") {
            eval.fail = Some(TextMatch::Exact(msg.trim().to_string()));
            return Ok(Flow::EndBlock);
        }
        if let Some(re) = line.strip_prefix("expected_fail_regexp") {
            let re = Regex::new(re.trim()).map_err(|e| format!("bad expected_fail_regexp: {e}"))?;
            eval.fail = Some(TextMatch::Regex(re));
            return Ok(Flow::EndBlock);
        }
    }
    if let Some(caps) = EXPECT_RANGE.captures(line) {
        if !is_instant {
            return Err("expect range vector can only be used with an instant query".to_string());
        }
        let a = duration_field("range vector start", &caps[1])?;
        let b = duration_field("range vector end", &caps[2])?;
        let s = duration_field("range vector step", &caps[3])?;
        eval.range_vector = Some((a, b, s));
        return Ok(Flow::Continue);
    }
    if let Some(quoted) = line.strip_prefix("expect string") {
        if !is_instant {
            return Err("expect string can only be used with an instant query".to_string());
        }
        eval.string = Some(unquote(quoted.trim()).map_err(|e| format!("bad expect string: {e}"))?);
        return Ok(Flow::Continue);
    }
    if line.split(' ').next() == Some("expect") {
        expect_line(eval, line)?;
        return Ok(Flow::Continue);
    }
    if let Some(v) = parse_go_number(line) {
        eval.scalar = Some(v);
        return Ok(Flow::EndBlock);
    }
    let (labels, values) = parse_series_line(line)?;
    if is_instant && eval.range_vector.is_none() && values.len() != 1 {
        return Err(format!("expected exactly one value in instant evaluation, got {}", values.len()));
    }
    *series_pos += 1;
    eval.series.insert(labels, ExpectedSeries { pos: *series_pos, values });
    Ok(Flow::Continue)
}

/// Applies an `expect <type> [msg:|regex: …]` line.
fn expect_line(eval: &mut Eval, line: &str) -> Result<(), String> {
    let caps = EXPECT.captures(line).ok_or_else(|| format!("invalid expect statement {line:?}"))?;
    let kind = &caps[1];
    let text = match (caps.get(2).map(|m| m.as_str()), caps.get(3).map(|m| m.as_str().trim())) {
        (Some("msg"), Some(msg)) if matches!(kind, "warn" | "info") => {
            // The engine prints no annotation positions (FORMAT.md §6.3).
            TextMatch::Exact(POSITION.replace(msg, "").into_owned())
        }
        (Some("msg"), Some(msg)) => TextMatch::Exact(msg.to_string()),
        (Some(_), Some(re)) => {
            let re = if matches!(kind, "warn" | "info") { REGEX_POSITION.replace(re, "") } else { re.into() };
            TextMatch::Regex(Regex::new(&re).map_err(|e| format!("bad regex in {line:?}: {e}"))?)
        }
        _ => TextMatch::Any,
    };
    if matches!(kind, "ordered" | "no_warn" | "no_info") && !matches!(text, TextMatch::Any) {
        return Err(format!("no message or regex allowed for expect {kind}"));
    }
    match kind {
        "ordered" => eval.ordered = true,
        "fail" => {
            if eval.fail.is_some() {
                return Err("more than one expect fail".to_string());
            }
            eval.fail = Some(text);
        }
        "warn" => eval.warn.lines.push(text),
        "info" => eval.info.lines.push(text),
        "no_warn" => eval.warn.none = true,
        "no_info" => eval.info.none = true,
        _ => return Err(format!("unknown expect type {kind}")),
    }
    Ok(())
}

/// The rules of FORMAT.md §6.2 on combining expect lines.
fn check_expectations(eval: &Eval) -> Result<(), String> {
    if eval.warn.none && (!eval.warn.lines.is_empty() || eval.warn.some) {
        return Err("expect warn and expect no_warn cannot both be used".to_string());
    }
    if eval.info.none && (!eval.info.lines.is_empty() || eval.info.some) {
        return Err("expect info and expect no_info cannot both be used".to_string());
    }
    if eval.ordered && matches!(eval.kind, EvalKind::Range { .. }) {
        return Err("expect ordered cannot be used with a range query".to_string());
    }
    Ok(())
}
