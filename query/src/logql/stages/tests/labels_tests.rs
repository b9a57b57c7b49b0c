use super::super::labels::{
    LabelCategory, LabelSelector, LabelsBuilder, MatchOp, Matcher, append_sanitized, is_valid_label_name,
    sanitize_label_key,
};
use super::{builder, pairs};

#[test]
fn precedence_and_categories() {
    let mut b = builder(&[("app", "foo"), ("env", "prod")]);
    b.add_structured_metadata("trace_id", "abc");
    b.add_structured_metadata("app", "meta");
    assert_eq!(b.get("app_extracted"), Some("meta"));
    b.set(LabelCategory::StructuredMetadata, "env", "meta-env");
    assert_eq!(b.get_with_category("env"), Some(("meta-env", LabelCategory::StructuredMetadata)));
    b.set_parsed("trace_id", "parsed");
    assert_eq!(b.get_with_category("trace_id"), Some(("parsed", LabelCategory::Parsed)));
    b.set(LabelCategory::StructuredMetadata, "trace_id", "ignored");
    assert_eq!(b.get("trace_id"), Some("parsed"));
    b.set_err("JSONParserErr");
    let c = b.categorized();
    assert_eq!(c.stream, pairs(&[("app", "foo")]));
    assert_eq!(c.structured_metadata, pairs(&[("app_extracted", "meta"), ("env", "meta-env")]));
    assert_eq!(c.parsed, pairs(&[("__error__", "JSONParserErr"), ("trace_id", "parsed")]));
    assert_eq!(b.get("__error__"), None);
}

#[test]
fn delete_rename_reset() {
    let mut b = builder(&[("a", "1"), ("b", "2")]);
    b.set_parsed("c", "3");
    b.del("a");
    b.del("c");
    assert_eq!(b.labels(), pairs(&[("b", "2")]));
    assert!(b.rename("b", "z"));
    assert!(!b.rename("missing", "y"));
    assert_eq!(b.labels(), pairs(&[("z", "2")]));
    b.set_parsed("a", "back");
    assert_eq!(b.labels(), pairs(&[("a", "back"), ("z", "2")]));
    // Loki quirk: renaming a label onto itself deletes it.
    assert!(b.rename("z", "z"));
    assert_eq!(b.labels(), pairs(&[("a", "back")]));
    b.reset();
    assert_eq!(b.labels(), pairs(&[("a", "1"), ("b", "2")]));
    let mut out = Vec::new();
    for _ in 0..3 {
        b.reset();
        b.set_parsed("x", "y");
        b.labels_into(&mut out);
    }
    assert_eq!(out, pairs(&[("a", "1"), ("b", "2"), ("x", "y")]));
}

#[test]
fn keep_and_drop() {
    let m = |n: &str, op, v: &str| LabelSelector::Matcher(Matcher::new(n, op, v).expect("ok"));
    let name = |n: &str| LabelSelector::Name(n.into());
    let mut b = builder(&[("app", "foo"), ("env", "prod"), ("level", "info")]);
    b.set_err("LabelFilterErr");
    b.set_err_details("details");
    b.drop_labels(&[name("env"), m("level", MatchOp::Equal, "debug"), name("__error_details__")]);
    assert_eq!(b.labels(), pairs(&[("app", "foo"), ("level", "info"), ("__error__", "LabelFilterErr")]));
    b.drop_labels(&[m("__error__", MatchOp::Regex, "Label.*")]);
    assert!(!b.has_err());
    let mut b = builder(&[("app", "foo"), ("env", "prod"), ("level", "info")]);
    b.set_parsed("x", "1");
    b.set_err("E");
    b.keep_labels(&[name("app"), m("level", MatchOp::NotEqual, "info"), m("x", MatchOp::Equal, "1")]);
    assert_eq!(b.labels(), pairs(&[("app", "foo"), ("x", "1"), ("__error__", "E")]));
}

#[test]
fn matchers() {
    let cases: &[(MatchOp, &str, &str, bool)] = &[
        (MatchOp::Equal, "a", "a", true),
        (MatchOp::NotEqual, "a", "a", false),
        (MatchOp::Regex, "err.*", "error", true),
        (MatchOp::Regex, "err", "error", false),
        (MatchOp::NotRegex, "err", "error", true),
        (MatchOp::Regex, "a.b", "a\nb", true),
        (MatchOp::Regex, "", "", true),
        (MatchOp::Regex, r"\d+", "١٢", false),
        (MatchOp::Regex, "(?i)ERR", "err", true),
        (MatchOp::Regex, "a|b", "b", true),
    ];
    for (op, v, input, want) in cases {
        assert_eq!(Matcher::new("x", *op, *v).expect("ok").matches(input), *want, "{op:?} {v} {input}");
    }
    assert!(Matcher::new("x", MatchOp::Regex, "(").is_err());
}

#[test]
fn sanitization() {
    let cases: &[(&str, bool, &str)] = &[
        ("foo.bar", true, "foo_bar"),
        (" spaced ", true, "spaced"),
        ("1abc", true, "_1abc"),
        ("1abc", false, "1abc"),
        ("ÜFT8", true, "_FT8"),
        ("a-b c", true, "a_b_c"),
        ("", true, ""),
        ("   ", true, ""),
    ];
    for (input, prefix, want) in cases {
        assert_eq!(sanitize_label_key(input, *prefix), *want, "{input:?}");
    }
    let mut s = String::new();
    append_sanitized(&mut s, "1x");
    assert_eq!(s, "_1x");
    s.push('_');
    append_sanitized(&mut s, "2y");
    assert_eq!(s, "_1x_2y");
    assert!(is_valid_label_name("_a1"));
    assert!(!is_valid_label_name("1a"));
    assert!(!is_valid_label_name(""));
    assert!(!is_valid_label_name("a-b"));
    let b = LabelsBuilder::new([("z", "1"), ("a", "2")]);
    assert!(b.base_has("a") && b.base_has("z") && !b.base_has("m"));
    assert_eq!(b.parsed_name("a"), "a_extracted");
}
