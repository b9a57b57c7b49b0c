//! A runner for Prometheus's PromQL `.test` scripts (upstream `promql/promqltest`), over the
//! Lookout engine and in-memory series.
//!
//! The script language is described precisely in the corpus's `FORMAT.md` (kept beside the
//! corpus source, `/work/shared/corpus/promql-all/FORMAT.md`); the section numbers in comments
//! refer to it. `testdata/promql/README.md` says where the files come from and how the skip
//! lists work.
//!
//! # Layout
//! - `notation`: durations, series notation, Go strings and numbers.
//! - `script`: a file into `clear` / `load` / `eval` commands with their expectations.
//! - `storage`: the in-memory [`Querier`](lookout_storage::metrics::Querier).
//! - `compare`: float tolerance, annotation and result checks.
//! - `run`: one eval against the engine (with the range-mode cross-check), one file in order.
//! - this module: the whole corpus, the skip lists, `PROMQL_TEST_FILTER` and the summary.

pub mod compare;
pub use lookout_query::promql::notation;
pub mod run;
pub mod script;
pub mod storage;

#[cfg(test)]
mod notation_tests;
#[cfg(test)]
mod runner_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use run::{FileRun, Outcome, corpus_engine, run_commands};
use script::parse_file;

/// Longest failure message printed, in bytes.
const MAX_MESSAGE: usize = 500;

/// Evals listed in `skips.tsv` or `known-failures.tsv`: `(file, line)` → reason.
pub type EvalList = BTreeMap<(String, usize), String>;

/// Reads a `file<TAB>line<TAB>reason` list; blank lines and `#` comments are ignored.
pub fn read_list(path: &Path) -> Result<EvalList, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut list = EvalList::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let file = fields.next().unwrap_or("").trim();
        let number = fields.next().unwrap_or("").trim();
        let reason = fields.next().unwrap_or("").trim();
        let number: usize = number
            .parse()
            .map_err(|_| format!("{}:{}: expected file<TAB>line<TAB>reason, got {line:?}", path.display(), n + 1))?;
        if list.insert((file.to_string(), number), reason.to_string()).is_some() {
            return Err(format!("{}:{}: {file}:{number} is listed twice", path.display(), n + 1));
        }
    }
    Ok(list)
}

/// `PROMQL_TEST_FILTER=<file>[:<line>]`: one file, or one eval of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The file name, `.test` included.
    pub file: String,
    /// The eval's line, if only one eval should run.
    pub line: Option<usize>,
}

/// Parses a filter; `functions`, `functions.test` and `functions.test:120` are accepted.
pub fn parse_filter(s: &str) -> Result<Filter, String> {
    let (file, line) = match s.rsplit_once(':') {
        Some((file, line)) => {
            let line = line.parse().map_err(|_| format!("PROMQL_TEST_FILTER: bad line number in {s:?}"))?;
            (file, Some(line))
        }
        None => (s, None),
    };
    let file = if file.ends_with(".test") { file.to_string() } else { format!("{file}.test") };
    Ok(Filter { file, line })
}

/// Lines (1-based) of a file's eval commands, as `eval-index.tsv` counts them.
pub fn eval_lines(text: &str) -> BTreeSet<usize> {
    text.split('\n')
        .enumerate()
        .filter(|(_, l)| {
            let word = l.split_whitespace().next().unwrap_or("").to_lowercase();
            word.starts_with("eval")
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// Counts for one file.
#[derive(Debug, Clone, Default)]
pub struct FileSummary {
    /// The file name.
    pub name: String,
    /// Evals that met every expectation.
    pub passed: usize,
    /// Evals that failed and are not in `known-failures.tsv`.
    pub failed: usize,
    /// Evals in `skips.tsv`.
    pub skipped: usize,
    /// Evals that failed and are in `known-failures.tsv`.
    pub known: usize,
}

/// The outcome of a corpus run.
#[derive(Debug, Default)]
pub struct CorpusReport {
    /// Per file, in name order.
    pub files: Vec<FileSummary>,
    /// `<file>:<line>: <expr>: <difference>` for each new failure.
    pub failures: Vec<String>,
    /// The same for failures listed in `known-failures.tsv`.
    pub known_failures: Vec<String>,
    /// Evals in `known-failures.tsv` that passed.
    pub now_passing: Vec<String>,
    /// Entries of the lists that name no eval, or an eval in both lists.
    pub problems: Vec<String>,
}

impl CorpusReport {
    /// Whether the run should pass: no new failures, no stale known failures, consistent lists.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.now_passing.is_empty() && self.problems.is_empty()
    }

    /// A one-line verdict for the assertion message.
    pub fn verdict(&self) -> String {
        format!(
            "{} evals failed, {} known failures now pass, {} problems with the lists (details above)",
            self.failures.len(),
            self.now_passing.len(),
            self.problems.len()
        )
    }

    /// The summary: a line per file, a total, then failures, known failures and list problems.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut total = FileSummary { name: "total".to_string(), ..FileSummary::default() };
        for f in &self.files {
            summary_line(&mut out, f);
            total.passed += f.passed;
            total.failed += f.failed;
            total.skipped += f.skipped;
            total.known += f.known;
        }
        summary_line(&mut out, &total);
        let sections: [(&str, &Vec<String>); 4] = [
            ("failures", &self.failures),
            ("known failures (known-failures.tsv)", &self.known_failures),
            ("known failures that now pass", &self.now_passing),
            ("problems with skips.tsv / known-failures.tsv", &self.problems),
        ];
        for (title, lines) in sections {
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title} ({}):", lines.len());
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }
}

/// `<file>: N passed, N failed, N skipped[, N known failures]`.
fn summary_line(out: &mut String, f: &FileSummary) {
    let _ = write!(out, "{}: {} passed, {} failed, {} skipped", f.name, f.passed, f.failed, f.skipped);
    if f.known > 0 {
        let _ = write!(out, ", {} known failures", f.known);
    }
    out.push('\n');
}

/// Shortens a message to [`MAX_MESSAGE`] bytes.
fn clip(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} …", &s[..end])
}

/// Runs every `*.test` file in `dir` (or those `filter` names) with the skip lists found there.
pub fn run_corpus(dir: &Path, filter: Option<&str>) -> Result<CorpusReport, String> {
    let skips = read_list(&dir.join("skips.tsv"))?;
    let known = read_list(&dir.join("known-failures.tsv"))?;
    let filter = filter.map(parse_filter).transpose()?;
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test"))
        .collect();
    names.sort();
    let all_names: BTreeSet<String> = names.iter().cloned().collect();
    if let Some(f) = &filter {
        names.retain(|name| *name == f.file);
        if names.is_empty() {
            return Err(format!("PROMQL_TEST_FILTER: no file {} in {}", f.file, dir.display()));
        }
    }
    let engine = corpus_engine();
    let mut report = CorpusReport::default();
    for name in &names {
        let path = dir.join(name);
        let text = fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let only_line = filter.as_ref().and_then(|f| f.line);
        let evals = eval_lines(&text);
        if let Some(line) = only_line.filter(|l| !evals.contains(l)) {
            return Err(format!("PROMQL_TEST_FILTER: {name}:{line} is not an eval line"));
        }
        let skipped = |line: usize| skips.contains_key(&(name.clone(), line));
        let reports = run_commands(&engine, &parse_file(&text), &FileRun { skipped: &skipped, only_line });
        let mut summary = FileSummary { name: name.clone(), ..FileSummary::default() };
        for r in reports {
            let key = (name.clone(), r.line);
            let head =
                if r.expr.is_empty() { format!("{name}:{}", r.line) } else { format!("{name}:{}: {}", r.line, r.expr) };
            match r.outcome {
                Outcome::Skipped => summary.skipped += 1,
                Outcome::Passed => {
                    summary.passed += 1;
                    if known.contains_key(&key) {
                        report.now_passing.push(format!("{head}: now passes, remove from known-failures.tsv"));
                    }
                }
                Outcome::Failed(msg) if known.contains_key(&key) => {
                    summary.known += 1;
                    report.known_failures.push(format!("{head}: {}", clip(&msg)));
                }
                Outcome::Failed(msg) => {
                    summary.failed += 1;
                    report.failures.push(format!("{head}: {}", clip(&msg)));
                }
            }
        }
        if only_line.is_none() {
            check_lists(name, &evals, &skips, &known, &mut report.problems);
        }
        report.files.push(summary);
    }
    if filter.is_none() {
        for (file, line) in skips.keys().chain(known.keys()) {
            if !all_names.contains(file) {
                report.problems.push(format!("{file}:{line}: listed, but there is no such file"));
            }
        }
    }
    Ok(report)
}

/// Entries of either list for `file` must name an eval line, and no eval may be in both.
fn check_lists(file: &str, evals: &BTreeSet<usize>, skips: &EvalList, known: &EvalList, problems: &mut Vec<String>) {
    for (list_name, list) in [("skips.tsv", skips), ("known-failures.tsv", known)] {
        for (f, line) in list.keys().filter(|(f, _)| f == file) {
            if !evals.contains(line) {
                problems.push(format!("{f}:{line}: in {list_name}, but that line is not an eval"));
            }
        }
    }
    for (f, line) in known.keys().filter(|key| key.0 == file && skips.contains_key(*key)) {
        problems.push(format!("{f}:{line}: in both skips.tsv and known-failures.tsv"));
    }
}
