use super::super::filter::{CmpOp, Conversion, LabelFilter, unwrap_sample};
use super::super::labels::{MatchOp, Matcher};
use super::super::values::{
    go_parse_bytes, go_parse_duration, go_parse_float, go_parse_int, parse_bytes, parse_go_duration, parse_number,
};
use super::{Pairs, builder, pairs};

#[test]
fn durations() {
    let ok: &[(&str, f64)] = &[
        ("0", 0.0),
        ("5s", 5.0),
        ("30s", 30.0),
        ("1478s", 1478.0),
        ("-5s", -5.0),
        ("+5s", 5.0),
        ("-0", 0.0),
        ("+0", 0.0),
        ("5.0s", 5.0),
        ("5.6s", 5.6),
        ("5.s", 5.0),
        (".5s", 0.5),
        ("1.0s", 1.0),
        ("1.00s", 1.0),
        ("1.004s", 1.004),
        ("100.00100s", 100.001),
        ("10ns", 1e-8),
        ("11us", 11e-6),
        ("12µs", 12e-6),
        ("12μs", 12e-6),
        ("13ms", 0.013),
        ("14s", 14.0),
        ("15m", 900.0),
        ("16h", 57600.0),
        ("3h30m", 12600.0),
        ("10.5s4m", 250.5),
        ("-2m3.4s", -123.4),
        ("1h2m3s4ms5us6ns", 3723.004005006),
        ("39h9m14.425s", 140_954.425),
        ("52763797000ns", 52.763797),
        ("0.3333333333333333333h", 1200.0),
        ("9007199254740993ns", 9_007_199.254_740_993),
        ("9223372036854775807ns", 9_223_372_036.854_776),
        ("-9223372036854775808ns", -9_223_372_036.854_776),
        ("1.5h", 5400.0),
        ("-1.5h", -5400.0),
        ("300ms", 0.3),
    ];
    for (s, want) in ok {
        let got = parse_go_duration(s).unwrap_or(f64::NAN);
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{s}: {got} != {want}");
    }
    let bad: &[(&str, &str)] = &[
        ("", r#"time: invalid duration """#),
        ("3", r#"time: missing unit in duration "3""#),
        ("-", r#"time: invalid duration "-""#),
        ("s", r#"time: invalid duration "s""#),
        (".", r#"time: invalid duration ".""#),
        ("-.", r#"time: invalid duration "-.""#),
        (".s", r#"time: invalid duration ".s""#),
        ("+.s", r#"time: invalid duration "+.s""#),
        ("1d", r#"time: unknown unit "d" in duration "1d""#),
        ("1.1.1s", r#"time: missing unit in duration "1.1.1s""#),
        ("9223372036854775808ns", r#"time: invalid duration "9223372036854775808ns""#),
        ("3000000h", r#"time: invalid duration "3000000h""#),
        ("\u{e9}s", r#"time: invalid duration "\xc3\xa9s""#),
        ("1 s", r#"time: unknown unit " s" in duration "1 s""#),
    ];
    for (s, want) in bad {
        assert_eq!(go_parse_duration(s).expect_err("invalid"), *want, "{s:?}");
    }
}

#[test]
fn bytes_values() {
    let ok: &[(&str, u64)] = &[
        ("42", 42),
        ("42MB", 42_000_000),
        ("42mib", 44_040_192),
        ("42 MB", 42_000_000),
        ("42.5MB", 42_500_000),
        ("42.5 MiB", 44_564_480),
        ("10KB", 10_000),
        ("1KiB", 1024),
        ("5 MB", 5_000_000),
        ("1.5GiB", 1_610_612_736),
        ("1,000", 1000),
        ("1,000 KB", 1_000_000),
        ("42b", 42),
        ("42 B", 42),
        ("3 kB", 3000),
        ("1k", 1000),
        ("1ki", 1024),
        ("1 EB", 1_000_000_000_000_000_000),
        ("0", 0),
        ("1.9", 1),
    ];
    for (s, want) in ok {
        assert_eq!(go_parse_bytes(s), Ok(*want), "{s}");
    }
    let bad: &[(&str, &str)] = &[
        ("", r#"strconv.ParseFloat: parsing "": invalid syntax"#),
        ("-5MB", r#"strconv.ParseFloat: parsing "": invalid syntax"#),
        ("5 ZB", "unhandled size name: zb"),
        ("5 XB", "unhandled size name: xb"),
        ("1.2.3MB", r#"strconv.ParseFloat: parsing "1.2.3": invalid syntax"#),
        ("20 EB", "too large: 20 EB"),
    ];
    for (s, want) in bad {
        assert_eq!(go_parse_bytes(s).expect_err("invalid"), *want, "{s:?}");
    }
    assert_eq!(parse_bytes("2KiB"), Some(2048.0));
}

#[test]
fn floats_and_ints() {
    let ok: &[(&str, f64)] = &[
        ("1", 1.0),
        ("-1.5", -1.5),
        ("+2", 2.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("0x1p-2", 0.25),
        ("0x1.8p1", 3.0),
        ("1_000", 1000.0),
        ("inf", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
        ("1e-400", 0.0),
        ("00012", 12.0),
    ];
    for (s, want) in ok {
        assert_eq!(parse_number(s), Some(*want), "{s}");
    }
    assert!(parse_number("NaN").is_some_and(f64::is_nan));
    for bad in ["", " 1", "1 ", "abc", "1e", "0x10", "1__0", "_1", "+nan", "--1", "1.2.3", "infinit", "12ms"] {
        assert!(parse_number(bad).is_none(), "{bad:?} should fail");
    }
    assert_eq!(go_parse_float("abc").expect_err("bad"), r#"strconv.ParseFloat: parsing "abc": invalid syntax"#);
    assert_eq!(go_parse_float("1e400").expect_err("bad"), r#"strconv.ParseFloat: parsing "1e400": value out of range"#);
    let ints: &[(&str, bool, Option<i64>)] = &[
        ("42", false, Some(42)),
        ("-42", false, Some(-42)),
        ("0x1F", true, Some(31)),
        ("0x1F", false, None),
        ("010", true, Some(8)),
        ("0b101", true, Some(5)),
        ("0o17", true, Some(15)),
        ("1_000", true, Some(1000)),
        ("1_000", false, None),
        ("9223372036854775807", false, Some(i64::MAX)),
        ("-9223372036854775808", false, Some(i64::MIN)),
        ("9223372036854775808", false, None),
        ("", false, None),
    ];
    for (s, base0, want) in ints {
        assert_eq!(go_parse_int(s, *base0).ok(), *want, "{s} base0={base0}");
    }
}

fn eval(filter: &LabelFilter, stream: &[(&str, &str)]) -> (bool, Vec<(String, String)>) {
    let mut b = builder(stream);
    let keep = filter.process(&mut b);
    (keep, b.labels())
}

#[test]
fn label_filters() {
    let num = |name: &str, op, value| LabelFilter::Number { name: name.into(), op, value };
    let dur = |name: &str, op, s: &str| LabelFilter::Duration {
        name: name.into(),
        op,
        nanos: go_parse_duration(s).expect("d"),
    };
    let byt =
        |name: &str, op, s: &str| LabelFilter::Bytes { name: name.into(), op, value: go_parse_bytes(s).expect("b") };
    let re = |name: &str, v: &str| LabelFilter::Matcher(Matcher::new(name, MatchOp::Regex, v).expect("re"));
    let cases: Vec<(LabelFilter, Pairs<'_>, bool, Pairs<'_>)> = vec![
        (num("status", CmpOp::Ge, 400.0), &[("status", "404")], true, &[("status", "404")]),
        (num("status", CmpOp::Ge, 400.0), &[("status", "200")], false, &[("status", "200")]),
        (num("status", CmpOp::Eq, 200.0), &[("status", "200.0")], true, &[("status", "200.0")]),
        (num("status", CmpOp::Ne, 200.0), &[("status", "2e2")], false, &[("status", "2e2")]),
        (num("status", CmpOp::Ge, 400.0), &[], false, &[]),
        (
            num("status", CmpOp::Ge, 400.0),
            &[("status", "abc")],
            true,
            &[
                ("status", "abc"),
                ("__error__", "LabelFilterErr"),
                ("__error_details__", r#"strconv.ParseFloat: parsing "abc": invalid syntax"#),
            ],
        ),
        (dur("latency", CmpOp::Gt, "250ms"), &[("latency", "1s")], true, &[("latency", "1s")]),
        (dur("latency", CmpOp::Gt, "250ms"), &[("latency", "100ms")], false, &[("latency", "100ms")]),
        (dur("latency", CmpOp::Le, "1m"), &[("latency", "60s")], true, &[("latency", "60s")]),
        (
            dur("latency", CmpOp::Gt, "250ms"),
            &[("latency", "fast")],
            true,
            &[
                ("latency", "fast"),
                ("__error__", "LabelFilterErr"),
                ("__error_details__", r#"time: invalid duration "fast""#),
            ],
        ),
        (byt("size", CmpOp::Gt, "1KB"), &[("size", "2KiB")], true, &[("size", "2KiB")]),
        (byt("size", CmpOp::Lt, "1KB"), &[("size", "1000")], false, &[("size", "1000")]),
        (byt("size", CmpOp::Eq, "1KiB"), &[("size", "1024")], true, &[("size", "1024")]),
        (re("level", "err.*"), &[("level", "error")], true, &[("level", "error")]),
        (re("missing", ""), &[("level", "error")], true, &[("level", "error")]),
        (
            LabelFilter::Or(Box::new(num("a", CmpOp::Eq, 1.0)), Box::new(num("b", CmpOp::Eq, 2.0))),
            &[("a", "1"), ("b", "x")],
            true,
            &[("a", "1"), ("b", "x")],
        ),
        (
            LabelFilter::And(Box::new(num("a", CmpOp::Eq, 0.0)), Box::new(num("b", CmpOp::Eq, 2.0))),
            &[("a", "1"), ("b", "x")],
            false,
            &[
                ("a", "1"),
                ("b", "x"),
                ("__error__", "LabelFilterErr"),
                ("__error_details__", r#"strconv.ParseFloat: parsing "x": invalid syntax"#),
            ],
        ),
    ];
    for (i, (f, stream, keep, want)) in cases.iter().enumerate() {
        let (k, got) = eval(f, stream);
        assert_eq!((k, got), (*keep, pairs(want)), "case {i}");
    }
    // An existing error is not overwritten, and `__error__` matchers read the error state.
    let mut b = builder(&[("status", "abc")]);
    b.set_err("JSONParserErr");
    assert!(num("status", CmpOp::Gt, 1.0).process(&mut b));
    assert_eq!(b.err(), Some("JSONParserErr"));
    let m = LabelFilter::Matcher(Matcher::new("__error__", MatchOp::Equal, "").expect("m"));
    assert!(!m.process(&mut b));
}

#[test]
fn unwrap_conversions() {
    let mut b = builder(&[("latency", "1.5s"), ("size", "1KiB"), ("n", "42.5"), ("bad", "x"), ("empty", "")]);
    assert_eq!(unwrap_sample(&mut b, "latency", Conversion::Duration), Some(1.5));
    assert_eq!(unwrap_sample(&mut b, "size", Conversion::Bytes), Some(1024.0));
    assert_eq!(unwrap_sample(&mut b, "n", Conversion::Float), Some(42.5));
    assert_eq!(unwrap_sample(&mut b, "missing", Conversion::Float), None);
    assert_eq!(unwrap_sample(&mut b, "empty", Conversion::Float), None);
    assert!(!b.has_err());
    assert_eq!(unwrap_sample(&mut b, "bad", Conversion::Duration), Some(0.0));
    assert_eq!(b.err(), Some("SampleExtractionErr"));
    assert_eq!(b.err_details(), Some(r#"time: invalid duration "x""#));
}
