//! Running one eval against the engine (FORMAT.md §6.3-6.6) and one file's commands in order.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;
use std::time::Duration;

use lookout_query::promql::{Engine, EngineOptions, QueryError, QueryOutput, Value, VecSample};
use lookout_storage::Tenant;
use regex::Regex;

use super::compare::{check_annotations, compare_result};
use super::script::{Command, Eval, EvalKind};
use super::storage::MemStore;

/// Functions whose value differs between an instant query and a range query around it
/// (FORMAT.md §6.6 item 2): the range-mode cross-check is skipped for them.
static QUERY_CONTEXT_FN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:start|end|range|step)\s*\(\s*\)").expect("regex"));

/// The engine with the settings the corpus assumes (FORMAT.md §7).
pub fn corpus_engine() -> Engine {
    Engine::new(EngineOptions {
        lookback_delta: 5 * 60 * 1000,
        max_samples: 10_000,
        timeout: Duration::from_secs(100),
        experimental_functions: true,
        default_subquery_step: 60 * 1000,
        canceled: None,
        max_range: 0,
        max_series: 0,
    })
}

/// How one eval ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// The first difference found.
    Failed(String),
    /// Listed in `skips.tsv`; not run.
    Skipped,
}

/// The outcome of one eval (or of an invalid line, keyed by its line).
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// 1-based line of the eval command.
    pub line: usize,
    /// The expression, or the offending line for an invalid command.
    pub expr: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Which evals of a file to run.
pub struct FileRun<'a> {
    /// Lines of evals in `skips.tsv` for this file.
    pub skipped: &'a dyn Fn(usize) -> bool,
    /// Only the eval at this line, when set (data is still loaded from every earlier command).
    pub only_line: Option<usize>,
}

/// Runs the commands of one file on fresh storage, in order.
pub fn run_commands(engine: &Engine, commands: &[Command], run: &FileRun<'_>) -> Vec<EvalReport> {
    let mut store = MemStore::new();
    let mut reports = Vec::new();
    let wanted = |line: usize| run.only_line.is_none_or(|only| only == line);
    for command in commands {
        match command {
            Command::Clear => store = MemStore::new(),
            Command::Load(load) => store.load(load),
            Command::Invalid { line, error } => {
                if wanted(*line) {
                    let outcome = if (run.skipped)(*line) {
                        Outcome::Skipped
                    } else {
                        Outcome::Failed(format!("invalid test file: {error}"))
                    };
                    reports.push(EvalReport { line: *line, expr: String::new(), outcome });
                }
            }
            Command::Eval(eval) => {
                if !wanted(eval.line) {
                    continue;
                }
                let outcome = if (run.skipped)(eval.line) {
                    Outcome::Skipped
                } else {
                    match run_eval(engine, &store, eval) {
                        Ok(()) => Outcome::Passed,
                        Err(e) if store.read_histograms() => Outcome::Failed(format!(
                            "{e} [the query read a series whose native-histogram samples the runner does not load]"
                        )),
                        Err(e) => Outcome::Failed(e),
                    }
                };
                reports.push(EvalReport { line: eval.line, expr: eval.expr.clone(), outcome });
            }
        }
    }
    reports
}

/// What a query run gave: the engine's answer, or the message of a panic inside it.
type RunResult = Result<Result<QueryOutput, QueryError>, String>;

/// Runs `f`, turning a panic into an error so that one bad query does not end the corpus.
fn guarded(f: impl FnOnce() -> Result<QueryOutput, QueryError>) -> RunResult {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string())
    })
}

/// Runs one eval and checks its expectations; `Err` holds the first difference.
pub fn run_eval(engine: &Engine, store: &MemStore, eval: &Eval) -> Result<(), String> {
    if let Some(error) = &eval.error {
        return Err(format!("invalid eval block: {error}"));
    }
    // A parse error is never an expected failure (FORMAT.md §6.1).
    if let Err(e) = lookout_query::promql::parse(&eval.expr) {
        return Err(format!("parse error: {}", first_line(&e.to_string())));
    }
    store.reset_histogram_flag();
    let tenant = Tenant::default();
    let (start, end, step) = match (eval.kind, eval.range_vector) {
        (EvalKind::Instant { .. }, Some(range)) => range,
        (EvalKind::Instant { at }, None) => (at, at, 0),
        (EvalKind::Range { start, end, step }, _) => (start, end, step),
    };
    let result = match eval.kind {
        // With `expect range vector` the query runs at the range's end.
        EvalKind::Instant { .. } => guarded(|| engine.instant(store, &tenant, &eval.expr, end)),
        EvalKind::Range { .. } => guarded(|| engine.range(store, &tenant, &eval.expr, start, end, step)),
    };
    let output = match result {
        Err(panic) => return Err(format!("engine panicked: {}", first_line(&panic))),
        Ok(Err(e)) => {
            return match &eval.fail {
                Some(want) if want.matches(&e.to_string()) => Ok(()),
                Some(want) => Err(format!("expected error {}, got error {:?}", want.describe(), e.to_string())),
                None => Err(format!("unexpected error: {}", first_line(&e.to_string()))),
            };
        }
        Ok(Ok(output)) => output,
    };
    if let Some(want) = &eval.fail {
        return Err(format!("expected error {}, got a {} result", want.describe(), output.value.type_name()));
    }
    check_annotations(eval, &output.annotations)?;
    if matches!(eval.kind, EvalKind::Range { .. }) && !matches!(output.value, Value::Matrix(_)) {
        return Err(format!("range query returned a {}, not a matrix", output.value.type_name()));
    }
    compare_result(eval, &output.value, start, end, step)?;
    if let EvalKind::Instant { at } = eval.kind {
        range_mode_check(engine, store, eval, at, &output.value).map_err(|e| format!("in range mode: {e}"))?;
    }
    Ok(())
}

/// FORMAT.md §6.6 item 2: the instant query also runs as a range query from T-1m to T+1m with
/// step 1m, and its points at T must meet the same expectations (annotations not checked).
fn range_mode_check(engine: &Engine, store: &MemStore, eval: &Eval, at: i64, instant: &Value) -> Result<(), String> {
    if eval.range_vector.is_some() || eval.string.is_some() || QUERY_CONTEXT_FN.is_match(&eval.expr) {
        return Ok(());
    }
    let tenant = Tenant::default();
    let minute = 60 * 1000;
    let output = match guarded(|| engine.range(store, &tenant, &eval.expr, at - minute, at + minute, minute)) {
        Err(panic) => return Err(format!("engine panicked: {}", first_line(&panic))),
        Ok(Err(e)) => return Err(format!("unexpected error: {}", first_line(&e.to_string()))),
        Ok(Ok(output)) => output,
    };
    if eval.ordered {
        // Range results are always sorted by labels.
        return Ok(());
    }
    let Value::Matrix(series) = &output.value else {
        return Err(format!("range query returned a {}, not a matrix", output.value.type_name()));
    };
    if let Some(w) = series.windows(2).find(|w| w[0].labels > w[1].labels) {
        return Err(format!("matrix is not sorted by labels: {} before {}", w[0].labels, w[1].labels));
    }
    let at_t: Vec<VecSample> = series
        .iter()
        .filter_map(|s| {
            let p = s.points.iter().find(|p| p.t == at)?;
            Some(VecSample { labels: s.labels.clone(), t: p.t, v: p.v, h: None })
        })
        .collect();
    let value = match instant {
        Value::Scalar { .. } => match at_t.first() {
            Some(first) => Value::Scalar { t: at, v: first.v },
            None => return Err(format!("no point at t={at} for the scalar result")),
        },
        _ => Value::Vector(at_t),
    };
    compare_result(eval, &value, at, at, 0)
}

/// The first line of a message, for one-line reports.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.len() < s.trim_end().len() { format!("{line} …") } else { line.to_string() }
}
