//! `lookout rules check`: `promtool check rules` — parse and validate rule files, report the
//! number of rules, and lint for duplicate rules, with promtool's output and exit codes
//! (0 valid, 1 invalid, 3 lint problems with `--lint-fatal`).

use std::io::Write;
use std::path::PathBuf;

use crate::rulefmt::{self, GroupSpec, ParseOptions};

/// Exit code for an invalid file.
pub const FAILURE: i32 = 1;
/// Exit code for lint problems when they are fatal.
pub const LINT_FAILURE: i32 = 3;

/// How `lookout rules check` runs.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Report duplicate rules (`--lint=duplicate-rules`, the default; `--lint=none` turns it off).
    pub lint_duplicates: bool,
    /// Make lint problems fail the check with exit code 3 (`--lint-fatal`).
    pub lint_fatal: bool,
    /// How rule files are read.
    pub parse: ParseOptions,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { lint_duplicates: true, lint_fatal: false, parse: ParseOptions::default() }
    }
}

/// Checks every file, printing promtool's report: results to `out`, problems to `err`.
/// Returns the exit code.
pub fn check_files(files: &[PathBuf], options: CheckOptions, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (mut failed, mut has_errors) = (false, false);
    for file in files {
        let _ = writeln!(out, "Checking {}", file.display());
        match rulefmt::parse_file(file, options.parse) {
            Err(errors) => {
                failed = true;
                has_errors = true;
                let _ = writeln!(err, "  FAILED:");
                for e in errors {
                    let _ = writeln!(err, "{e}");
                }
            }
            Ok(groups) => {
                let count: usize = groups.iter().map(|g| g.rules.len()).sum();
                match options.lint_duplicates.then(|| duplicates(&groups)).filter(|d| !d.is_empty()) {
                    Some(dups) => {
                        failed = true;
                        let _ = writeln!(err, "  FAILED:");
                        let _ = writeln!(err, "lint error {}", duplicate_message(&dups));
                    }
                    None => {
                        let _ = writeln!(out, "  SUCCESS: {count} rules found");
                    }
                }
            }
        }
        let _ = writeln!(out);
    }
    if failed && has_errors {
        FAILURE
    } else if failed && options.lint_fatal {
        LINT_FAILURE
    } else {
        0
    }
}

/// A rule's name and labels: what promtool compares to find duplicates.
type RuleKey = (String, Vec<(String, String)>);

/// Rules with the same name and labels as another, each reported once (promtool's
/// `checkDuplicates`).
pub fn duplicates(groups: &[GroupSpec]) -> Vec<RuleKey> {
    let mut keys: Vec<RuleKey> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| (r.name().to_string(), r.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
        .collect();
    keys.sort();
    let mut dups: Vec<RuleKey> = Vec::new();
    for pair in keys.windows(2) {
        if pair[0] == pair[1] && dups.last() != Some(&pair[1]) {
            dups.push(pair[1].clone());
        }
    }
    dups
}

fn duplicate_message(dups: &[RuleKey]) -> String {
    let mut msg = format!("{} duplicate rule(s) found.\n", dups.len());
    for (metric, labels) in dups {
        msg.push_str(&format!("Metric: {metric}\nLabel(s):\n"));
        for (k, v) in labels {
            msg.push_str(&format!("\t{k}: {v}\n"));
        }
    }
    msg.push_str("Might cause inconsistency while recording expressions");
    msg
}
