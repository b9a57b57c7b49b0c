//! `rules test` and `rules check` over Prometheus's own promtool fixtures and the Thanos alert
//! suite (`rules/testdata/`, expected outcomes in its README).

use std::path::PathBuf;

use lookout_rules::check::{CheckOptions, LINT_FAILURE, check_files};
use lookout_rules::rulefmt::ParseOptions;
use lookout_rules::unittest::{TestOptions, run_file, run_files};

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(path)
}

/// The failures of one unit-test file.
fn failures(path: &str, options: &TestOptions) -> Vec<String> {
    match run_file(&testdata(path), options) {
        Ok(errors) | Err(errors) => errors,
    }
}

#[test]
fn files_prometheus_expects_to_pass_pass() {
    for file in [
        // Lookback, staleness, ALERTS, `for`, subqueries with the default step, fractional eval
        // times, and native histograms (literals, `{{A}}+{{B}}xN` series, read-back
        // counter-reset hints).
        "promtool/unittest.yml",
        "promtool/long-period.yml",
        "promtool/no-test-group-interval.yml",
        "promtool/start-time-test.yml",
        "promtool/at-modifier-test.yml",
        "promtool/negative-offset-test.yml",
        "thanos-examples/tests.yaml",
    ] {
        let errors = failures(file, &TestOptions::default());
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
    }
}

#[test]
fn a_wrong_histogram_fails_showing_both_in_canonical_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hist.yml");
    std::fs::write(
        &path,
        r#"
tests:
  - interval: 1m
    input_series:
      - series: h
        values: "{{schema:0 sum:1 count:1 buckets:[1]}}+{{sum:2 count:2 buckets:[0 2]}}x2"
    promql_expr_test:
      - expr: h
        eval_time: 2m
        exp_samples:
          - labels: h
            histogram: "{{count:5 sum:5 buckets:[1 4]}}"
"#,
    )
    .unwrap();
    let errors = match run_file(&path, &TestOptions::default()) {
        Ok(errors) | Err(errors) => errors.join("\n"),
    };
    assert!(errors.contains(r#"exp: {__name__="h"} {{count:5 sum:5 buckets:[1 4]}}"#), "{errors}");
    assert!(
        errors.contains(r#"got: {__name__="h"} {{count:5 sum:5 counter_reset_hint:not_reset buckets:[1 4]}}"#),
        "{errors}"
    );
}

#[test]
fn files_prometheus_expects_to_fail_fail_naming_the_test() {
    let cases = [
        (
            "promtool/failing.yml",
            vec![
                "name: Failing test,",
                "expr: \"test\", time: 0s",
                "name: Failing alert test,",
                "alertname: InstanceDown, time: 5m",
                "alertname: AlwaysFiring",
            ],
        ),
        ("promtool/rules_run_no_fuzzy.yml", vec!["expr: "]),
        ("promtool/bad-input-series.yml", vec!["parse error"]),
        ("promtool/bad-promql.yml", vec!["expr: \"join_1 + on(a) join_2\", time: 0s, err: "]),
        ("promtool/bad-rules-error-test.yml", vec!["rule: joined, time: 0s, err: "]),
        ("promtool/bad-rules-syntax-test.yml", vec!["bad-rules-syntax.yml", "could not parse expression"]),
    ];
    for (file, wants) in cases {
        let errors = failures(file, &TestOptions::default()).join("\n");
        assert!(!errors.is_empty(), "{file} should fail");
        for want in wants {
            assert!(errors.contains(want), "{file}: {errors:?} should contain {want:?}");
        }
    }
}

#[test]
fn run_selects_test_groups() {
    let all = failures("promtool/rules_run.yml", &TestOptions::default()).join("\n");
    assert!(all.contains("name: wrong test,") && !all.contains("correct test"), "{all}");
    let correct = TestOptions { run: vec!["correct.*".into()], ..TestOptions::default() };
    assert!(failures("promtool/rules_run.yml", &correct).is_empty());
    let fuzzy = failures("promtool/rules_run_fuzzy.yml", &TestOptions::default()).join("\n");
    assert!(fuzzy.contains("name: wrong fuzzy match,") && !fuzzy.contains("correct fuzzy match"), "{fuzzy}");
}

#[test]
fn unknown_rule_fields_need_the_flag() {
    assert!(!failures("promtool/rules_run_extrafields.yml", &TestOptions::default()).is_empty());
    let lenient = TestOptions { ignore_unknown_fields: true, ..TestOptions::default() };
    let errors = failures("promtool/rules_run_extrafields.yml", &lenient);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn exit_codes_and_report_are_promtools() {
    let mut out = Vec::new();
    let code = run_files(&[testdata("promtool/long-period.yml")], &TestOptions::default(), &mut out);
    assert_eq!(code, 0);
    assert!(String::from_utf8_lossy(&out).contains("  SUCCESS"));
    let mut out = Vec::new();
    let code = run_files(&[testdata("promtool/failing.yml")], &TestOptions::default(), &mut out);
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&out).contains("  FAILED:"));
}

fn check(path: &str, options: CheckOptions) -> (i32, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = check_files(&[testdata(path)], options, &mut out, &mut err);
    (code, format!("{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err)))
}

#[test]
fn check_accepts_good_files_and_rejects_bad_ones() {
    let (code, out) = check("promtool/rules.yml", CheckOptions::default());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS: 5 rules found"), "{out}");
    let (code, out) = check("promtool/rules-bad.yml", CheckOptions::default());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("undefined variable \"$label\""), "{out}");
    let (code, _) = check("promtool/rules_extrafields.yml", CheckOptions::default());
    assert_eq!(code, 1);
    let lenient = CheckOptions {
        parse: ParseOptions { ignore_unknown_fields: true, ..ParseOptions::default() },
        ..CheckOptions::default()
    };
    assert_eq!(check("promtool/rules_extrafields.yml", lenient).0, 0);
    for entry in std::fs::read_dir(testdata("rulefmt")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let want = if name.ends_with(".bad.yaml") && !name.starts_with("legacy_") { 1 } else { 0 };
        assert_eq!(check(&format!("rulefmt/{name}"), CheckOptions::default()).0, want, "{name}");
    }
}

#[test]
fn duplicate_rules_are_linted() {
    let (code, out) = check("promtool/rules_duplicates.yml", CheckOptions::default());
    assert_eq!(code, 0, "lint problems alone do not fail: {out}");
    assert!(out.contains("1 duplicate rule(s) found.\nMetric: job:test:count_over_time1m\nLabel(s):\n"), "{out}");
    let fatal = CheckOptions { lint_fatal: true, ..CheckOptions::default() };
    assert_eq!(check("promtool/prometheus-rules.lint.yml", fatal).0, LINT_FAILURE);
    let off = CheckOptions { lint_duplicates: false, lint_fatal: true, ..CheckOptions::default() };
    assert_eq!(check("promtool/prometheus-rules.lint.yml", off).0, 0);
}
