//! Tests that the runner fails what it should: each case runs a tiny script against the engine
//! and checks the outcome of its one eval.

use super::run::{FileRun, Outcome, corpus_engine, run_commands};
use super::script::parse_file;

/// Data every case reads: two series, 1m apart.
const LOAD: &str = "load 1m\n  m{job=\"a\"} 1 2 3\n  m{job=\"b\"} 10 20 30\n\n";

/// The outcome of the single eval in `LOAD` + `eval`.
fn outcome(eval: &str) -> Outcome {
    let commands = parse_file(&format!("{LOAD}{eval}\n"));
    let skipped = |_: usize| false;
    let reports = run_commands(&corpus_engine(), &commands, &FileRun { skipped: &skipped, only_line: None });
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports[0].outcome.clone()
}

/// Asserts that the eval fails, with a message containing `needle`.
fn assert_fails(eval: &str, needle: &str) {
    match outcome(eval) {
        Outcome::Failed(msg) => assert!(msg.contains(needle), "{eval:?}: {msg:?} lacks {needle:?}"),
        other => panic!("{eval:?} should fail, got {other:?}"),
    }
}

#[test]
fn correct_expectations_pass() {
    for eval in [
        "eval instant at 2m m\n  m{job=\"a\"} 3\n  m{job=\"b\"} 30",
        "eval instant at 2m sum(m)\n  {} 33",
        "eval instant at 2m scalar(m{job=\"a\"})\n  3",
        "eval instant at 2m m{job=\"c\"}",
        "eval range from 0 to 2m step 1m m{job=\"a\"}\n  m{job=\"a\"} 1 2 3",
        "eval range from 0 to 3m step 1m m{job=\"a\"}\n  m{job=\"a\"} 1 2 3 3",
        "eval range from 0 to 3m step 1m m{job=\"a\"} > 1\n  m{job=\"a\"} _ 2 3 3",
        "eval instant at 2m m + on(foo) m\n  expect fail",
        "eval instant at 2m m\n  expect no_warn\n  expect no_info\n  m{job=\"a\"} 3.0000001\n  m{job=\"b\"} 30",
    ] {
        assert_eq!(outcome(eval), Outcome::Passed, "{eval:?}");
    }
}

#[test]
fn wrong_expectations_fail() {
    assert_fails("eval instant at 2m m\n  m{job=\"a\"} 4\n  m{job=\"b\"} 30", "expected 4, got 3");
    assert_fails("eval instant at 2m m\n  m{job=\"a\"} 3", "unexpected series");
    assert_fails("eval instant at 2m m\n  m{job=\"a\"} 3\n  m{job=\"b\"} 30\n  m{job=\"c\"} 1", "missing series");
    assert_fails("eval instant at 2m m\n  {job=\"a\"} 3\n  {job=\"b\"} 30", "unexpected series");
    assert_fails("eval instant at 2m sum(m)\n  34", "expected scalar 34, got a vector");
    assert_fails("eval instant at 2m scalar(m{job=\"a\"})\n  4", "expected scalar 4, got 3");
    assert_fails("eval instant at 2m scalar(m{job=\"a\"})", "got scalar");
    assert_fails("eval range from 0 to 2m step 1m m{job=\"a\"}\n  m{job=\"a\"} 1 2 4", "expected 4, got 3");
    assert_fails("eval range from 0 to 2m step 1m m{job=\"a\"}\n  m{job=\"a\"} 1 _ 3", "float points");
    assert_fails("eval range from 0 to 1m step 1m m{job=\"a\"}\n  m{job=\"a\"} 1 2 3", "fewer steps");
    assert_fails("eval instant at 2m m\n  expect fail", "expected error");
    assert_fails("eval instant at 2m m + on(foo) m\n  expect fail msg: something else", "expected error");
    assert_fails("eval instant at 2m m\n  expect warn\n  m{job=\"a\"} 3\n  m{job=\"b\"} 30", "got none");
    assert_fails("eval instant at 2m m{\n  m 1", "parse error");
    assert_fails("eval_ordered instant at 2m sort_desc(m)\n  m{job=\"a\"} 3\n  m{job=\"b\"} 30", "position");
}
