use lookout_storage::Labels;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn rule_err(yaml: &str) -> String {
    serde_yaml_ng::from_str::<Vec<RelabelConfig>>(yaml).unwrap_err().to_string()
}

fn run(input: &[(&str, &str)], yaml: &str) -> Option<Labels> {
    process(labels(input), &rules(yaml))
}

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];

#[test]
fn defaults_follow_prometheus() {
    let r = &rules("- target_label: x")[0];
    assert_eq!(r.action, Action::Replace);
    assert_eq!(r.separator, ";");
    assert_eq!(r.regex.as_str(), "(.*)");
    assert_eq!(r.replacement, "$1");
    assert_eq!(r.modulus, 0);
    assert!(r.source_labels.is_empty());
    assert_eq!(rules("- action: LabelDrop\n  regex: x")[0].action, Action::LabelDrop);
}

// The cases below are Prometheus's `TestRelabel` (model/relabel/relabel_test.go).

#[test]
fn replace_with_group_reference() {
    let got = run(ABC, "- source_labels: [a]\n  regex: f(.*)\n  target_label: d\n  replacement: ch${1}-ch${1}");
    assert_eq!(got, Some(labels(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")])));
}

#[test]
fn replace_over_joined_sources_and_chained_rules() {
    let yaml = "
- source_labels: [a, b]
  regex: f(.*);(.*)r
  target_label: a
  replacement: b${1}${2}m
- source_labels: [c, a]
  regex: (b).*b(.*)ba(.*)
  target_label: d
  replacement: $1$2$2$3";
    let got = run(ABC, yaml);
    assert_eq!(got, Some(labels(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")])));
}

#[test]
fn regex_is_anchored() {
    // "o" would match inside "foo" unanchored; anchored it does not, so nothing happens.
    assert_eq!(
        run(&[("a", "foo")], "- source_labels: [a]\n  regex: o\n  target_label: b"),
        Some(labels(&[("a", "foo")]))
    );
    assert_eq!(run(&[("a", "foo")], "- source_labels: [a]\n  regex: f|o\n  action: keep"), None);
    assert_eq!(run(&[("a", "boo")], "- source_labels: [a]\n  regex: f\n  action: drop"), Some(labels(&[("a", "boo")])));
}

#[test]
fn keep_and_drop() {
    assert_eq!(run(ABC, "- source_labels: [a]\n  regex: f.*\n  action: drop"), None);
    assert_eq!(run(ABC, "- source_labels: [a]\n  regex: f.*\n  action: keep"), Some(labels(ABC)));
    assert_eq!(run(ABC, "- source_labels: [a]\n  regex: b.*\n  action: keep"), None);
    // A missing source label is the empty string.
    assert_eq!(run(ABC, "- source_labels: [nope]\n  regex: ''\n  action: keep"), Some(labels(ABC)));
}

#[test]
fn replace_with_empty_result_removes_the_target() {
    let got = run(
        &[("a", "foo"), ("b", "bar")],
        "- source_labels: [a]\n  regex: (f).*\n  target_label: b\n  replacement: ''",
    );
    assert_eq!(got, Some(labels(&[("a", "foo")])));
    // Empty source with the default regex: the fast path sets the literal replacement.
    let got = run(&[("a", "foo")], "- source_labels: [missing]\n  target_label: b\n  replacement: x");
    assert_eq!(got, Some(labels(&[("a", "foo"), ("b", "x")])));
}

#[test]
fn replace_into_an_expanded_target_name() {
    let yaml = "- source_labels: [a]\n  regex: some-([^-]+)-([^,]+)\n  target_label: ${1}\n  replacement: ${2}";
    assert_eq!(run(&[("a", "some-name-value")], yaml), Some(labels(&[("a", "some-name-value"), ("name", "value")])));
    // The expanded target is not a valid label name: the rule does nothing.
    assert_eq!(run(&[("a", "some-2name-value")], yaml), Some(labels(&[("a", "some-2name-value")])));
}

#[test]
fn go_template_expansion() {
    let r = |replacement: &str| {
        let yaml = format!(
            "- source_labels: [a]\n  regex: (?P<first>f)(o+)\n  target_label: b\n  replacement: '{replacement}'"
        );
        run(&[("a", "foo")], &yaml).and_then(|l| l.get("b").map(str::to_owned)).unwrap_or_default()
    };
    assert_eq!(r("$1x"), ""); // group "1x" does not exist
    assert_eq!(r("${1}x"), "fx");
    assert_eq!(r("$first-$2"), "f-oo");
    assert_eq!(r("${first}"), "f");
    assert_eq!(r("$$1"), "$1");
    assert_eq!(r("a$"), "a$");
    assert_eq!(r("${1"), "${1");
    assert_eq!(r("$9"), "");
    assert_eq!(r("$01"), ""); // a leading zero makes it a name, and there is no such name
}

#[test]
fn hashmod_matches_prometheus() {
    let got = run(ABC, "- source_labels: [c]\n  target_label: d\n  action: hashmod\n  modulus: 1000");
    assert_eq!(got.unwrap().get("d"), Some("976"));
    let got = run(&[("a", "foo\nbar")], "- source_labels: [a]\n  target_label: b\n  action: hashmod\n  modulus: 1000");
    assert_eq!(got.unwrap().get("b"), Some("734"));
}

#[test]
fn labelmap_labeldrop_labelkeep() {
    let input = &[("a", "foo"), ("b1", "bar"), ("b2", "baz")];
    let got = run(input, "- regex: (b.*)\n  replacement: bar_${1}\n  action: labelmap");
    let want = [("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")];
    assert_eq!(got, Some(labels(&want)));
    let meta = &[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")];
    let got = run(meta, "- regex: __meta_(my.*)\n  replacement: ${1}\n  action: labelmap");
    let want = [
        ("a", "foo"),
        ("__meta_my_bar", "aaa"),
        ("__meta_my_baz", "bbb"),
        ("__meta_other", "ccc"),
        ("my_bar", "aaa"),
        ("my_baz", "bbb"),
    ];
    assert_eq!(got, Some(labels(&want)));
    assert_eq!(run(ABC, "- regex: (b|c)\n  action: labeldrop"), Some(labels(&[("a", "foo")])));
    assert_eq!(run(ABC, "- regex: (b|c)\n  action: labelkeep"), Some(labels(&[("b", "bar"), ("c", "baz")])));
}

#[test]
fn lowercase_uppercase_keepequal_dropequal() {
    let input = &[("foo", "bAr123Foo"), ("bar", "bAr123Foo")];
    let got = run(input, "- source_labels: [foo]\n  target_label: foo_lower\n  action: lowercase").unwrap();
    assert_eq!(got.get("foo_lower"), Some("bar123foo"));
    let got = run(input, "- source_labels: [foo]\n  target_label: foo_upper\n  action: uppercase").unwrap();
    assert_eq!(got.get("foo_upper"), Some("BAR123FOO"));
    assert!(run(input, "- source_labels: [foo]\n  target_label: bar\n  action: keepequal").is_some());
    assert!(run(input, "- source_labels: [foo]\n  target_label: bar\n  action: dropequal").is_none());
    assert!(run(&[("foo", "a")], "- source_labels: [foo]\n  target_label: bar\n  action: keepequal").is_none());
}

#[test]
fn validation_messages_match_prometheus() {
    let cases = [
        ("- action: hashmod\n  target_label: x", "relabel configuration for hashmod requires non-zero modulus"),
        ("- source_labels: [a]", "relabel configuration for replace action requires 'target_label' value"),
        ("- action: lowercase", "relabel configuration for lowercase action requires 'target_label' value"),
        ("- target_label: 1x", "\"1x\" is invalid 'target_label' for replace action"),
        ("- target_label: ${1}-x", "\"${1}-x\" is invalid 'target_label' for replace action"),
        ("- action: uppercase\n  target_label: a-b", "\"a-b\" is invalid 'target_label' for uppercase action"),
        (
            "- action: lowercase\n  target_label: x\n  replacement: y",
            "'replacement' can not be set for lowercase action",
        ),
        ("- action: labelmap\n  replacement: a-b", "\"a-b\" is invalid 'replacement' for labelmap action"),
        (
            "- action: keepequal\n  target_label: x\n  regex: (.*)",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "- action: labeldrop\n  regex: x\n  source_labels: [a]",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "- action: labelkeep\n  regex: x\n  target_label: y",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        ("- action: frobnicate", "unknown relabel action \"frobnicate\""),
        ("- target_label: x\n  regex: '('", "invalid regex \"(\""),
        ("- target_label: x\n  sauce_labels: [a]", "unknown field `sauce_labels`"),
    ];
    for (yaml, want) in cases {
        let err = rule_err(yaml);
        assert!(err.contains(want), "{yaml:?}: got {err:?}, want it to contain {want:?}");
    }
}

#[test]
fn validate_agrees_with_loading() {
    assert!(RelabelConfig::new(Action::Keep).validate().is_ok());
    assert!(RelabelConfig::new(Action::Replace).validate().is_err());
    let mut r = RelabelConfig::new(Action::HashMod);
    r.target_label = "shard".into();
    assert!(r.validate().is_err());
    r.modulus = 4;
    assert!(r.validate().is_ok());
}

#[test]
fn template_check() {
    for ok in ["a", "_a1", "$1", "${1}", "a$1b", "${name}_x", "$a$b"] {
        assert!(is_template(ok), "{ok}");
    }
    for bad in ["", "1a", "a-b", "$", "${", "${}", "${a", "a$-"] {
        assert!(!is_template(bad), "{bad}");
    }
}
