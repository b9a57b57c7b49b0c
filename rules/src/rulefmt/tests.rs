//! Rule-file parsing against Prometheus's own fixtures (`rules/testdata/`, see its README for
//! the expected outcome of each file).

use std::path::PathBuf;

use super::*;

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(path)
}

fn parse_with(path: &str, options: ParseOptions) -> Result<Vec<GroupSpec>, Vec<String>> {
    parse_file(&testdata(path), options)
}

fn errors_of(path: &str, options: ParseOptions) -> String {
    match parse_with(path, options) {
        Ok(groups) => panic!("{path}: expected errors, parsed {} groups", groups.len()),
        Err(errors) => errors.join("\n"),
    }
}

#[test]
fn prometheus_good_rulefmt_files_parse() {
    for file in ["test.yaml", "test_aliases.yaml", "utf-8_lname.good.yaml", "utf-8_annotation.good.yaml"] {
        parse_with(&format!("rulefmt/{file}"), ParseOptions::default()).unwrap_or_else(|e| panic!("{file}: {e:?}"));
    }
    let legacy = ParseOptions { names: NameValidation::Legacy, ..ParseOptions::default() };
    parse_with("rulefmt/legacy_validation_annotation.good.yaml", legacy).unwrap();
}

#[test]
fn each_bad_rulefmt_file_fails_with_prometheus_reason() {
    let cases = [
        ("duplicate_grp.bad.yaml", "groupname: \"yolo\" is repeated in the same file"),
        ("bad_expr.bad.yaml", "parse error"),
        ("record_and_alert.bad.yaml", "only one of 'record' and 'alert' must be set"),
        ("no_rec_alert.bad.yaml", "one of 'record' or 'alert' must be set"),
        ("noexpr.bad.yaml", "field 'expr' must be set in rule"),
        (
            "invalid_record_name.bad.yaml",
            "braces present in the recording rule name; should it be in expr?: strawberry{flavor=\"sweet\"}",
        ),
        ("bad_field.bad.yaml", "field annotation not found"),
        ("invalid_label_name.bad.yaml", "invalid label name"),
        ("record_and_for.bad.yaml", "invalid field 'for' in recording rule"),
        ("record_and_keep_firing_for.bad.yaml", "invalid field 'keep_firing_for' in recording rule"),
    ];
    for (file, reason) in cases {
        let errors = errors_of(&format!("rulefmt/{file}"), ParseOptions::default());
        assert!(errors.contains(reason), "{file}: {errors:?} does not contain {reason:?}");
        assert!(errors.contains(file), "{file}: errors name the file: {errors:?}");
    }
    let legacy = ParseOptions { names: NameValidation::Legacy, ..ParseOptions::default() };
    let errors = errors_of("rulefmt/legacy_validation_annotation.bad.yaml", legacy);
    assert!(errors.contains("invalid annotation name: ins-tance"), "{errors}");
}

#[test]
fn errors_name_the_group_and_rule() {
    let errors = errors_of("rulefmt/noexpr.bad.yaml", ParseOptions::default());
    assert!(errors.contains("group \"yolo\", rule 1, "), "{errors}");
}

#[test]
fn aliases_and_merge_keys_are_followed() {
    let groups = parse_with("rulefmt/test_aliases.yaml", ParseOptions::default()).unwrap();
    let rules = &groups[0].rules;
    assert_eq!(rules[0].kind, RuleKind::Alert("HighAlert".into()));
    assert_eq!(rules[1].kind, RuleKind::Record("new_metric".into()));
    assert_eq!(rules[2].kind, RuleKind::Alert("HighAlert".into()));
    assert_eq!(rules[2].labels["severity"], "critical");
    assert_eq!(rules[2].annotations["description"], "stuff's happening with {{ $.labels.service }}");
    assert_eq!(rules[3].kind, RuleKind::Alert("HighAlert2".into()));
    assert_eq!(rules[3].expr, rules[0].expr);
    assert_eq!(rules[3].for_ms, 300_000);
    assert_eq!(groups[0].interval, Some(30_000));
}

#[test]
fn unknown_fields_fail_unless_ignored() {
    let errors = errors_of("promtool/rules_extrafields.yml", ParseOptions::default());
    assert!(errors.contains("field namespace not found in type rulefmt.RuleGroup"), "{errors}");
    let lenient = ParseOptions { ignore_unknown_fields: true, ..ParseOptions::default() };
    parse_with("promtool/rules_extrafields.yml", lenient).unwrap();
    let errors = errors_of("fixtures/invalid_rules.yaml", ParseOptions::default());
    assert!(errors.contains("field unexpected_field not found in type rulefmt.Rule"), "{errors}");
}

#[test]
fn undefined_template_variables_are_caught() {
    let errors = errors_of("promtool/rules-bad.yml", ParseOptions::default());
    assert!(
        errors.contains("group \"alerts\", rule 1, \"InstanceDown\": annotation \"summary\": template: __alert_InstanceDown:1: undefined variable \"$label\""),
        "{errors}"
    );
}

#[test]
fn rule_manager_fixtures_parse_and_only_the_first_document_counts() {
    for entry in std::fs::read_dir(testdata("fixtures")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "invalid_rules.yaml" {
            continue;
        }
        parse_file(&path, ParseOptions::default()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    let groups = parse_with("fixtures/rules_multi_doc.yaml", ParseOptions::default()).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "multi_doc");
}

#[test]
fn logql_groups_take_metric_queries() {
    let text = "groups:\n  - name: logs\n    source: logql\n    rules:\n      - alert: Errors\n        expr: sum by (service_name) (count_over_time({service_name=\"api\"} |= \"error\" [1m])) > 0\n";
    let groups = parse(text, ParseOptions::default()).unwrap();
    assert_eq!(groups[0].source, Source::Logql);
    let log_query = text.replace(
        "sum by (service_name) (count_over_time({service_name=\"api\"} |= \"error\" [1m])) > 0",
        "'{service_name=\"api\"} |= \"error\"'",
    );
    let errors = parse(&log_query, ParseOptions::default()).unwrap_err().join("\n");
    assert!(errors.contains("could not parse expression"), "{errors}");
    let by_folder = ParseOptions { default_source: Source::Logql, ..ParseOptions::default() };
    let promql = "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: rate(x[5m])\n";
    assert!(parse(promql, by_folder).is_err(), "PromQL is not LogQL");
    assert!(parse(promql, ParseOptions::default()).is_ok());
}

#[test]
fn durations_and_limits_are_read() {
    let text = "groups:\n  - name: g\n    interval: 1m30s\n    query_offset: 10s\n    limit: 5\n    labels:\n      team: a\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 2m\n        keep_firing_for: 1m\n";
    let g = &parse(text, ParseOptions::default()).unwrap()[0];
    assert_eq!((g.interval, g.query_offset, g.limit), (Some(90_000), Some(10_000), 5));
    assert_eq!((g.rules[0].for_ms, g.rules[0].keep_firing_for_ms), (120_000, 60_000));
    let bad = text.replace("2m", "two minutes");
    assert!(parse(&bad, ParseOptions::default()).unwrap_err().join("").contains("not a valid duration string"));
}
