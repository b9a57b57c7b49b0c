//! Unit tests of the runner itself: series notation, durations, numbers, float tolerance, block
//! structure and the in-memory store.

use std::collections::BTreeSet;

use lookout_storage::metrics::{Matcher, Querier};
use lookout_storage::{Labels, Tenant, is_stale_nan, stale_nan};

use super::compare::floats_equal;
use super::notation::{
    SeqValue, histogram_text, parse_duration, parse_go_number, parse_series_line, parse_values, unquote,
};
use super::script::{Command, EvalKind, TextMatch, parse_file};
use super::storage::MemStore;
use super::{Filter, eval_lines, parse_filter};

/// The floats of an expansion, `None` for omitted positions; panics on a histogram.
fn floats(s: &str) -> Vec<Option<f64>> {
    parse_values(s)
        .unwrap()
        .into_iter()
        .map(|v| match v {
            SeqValue::Float(f) => Some(f),
            SeqValue::Omitted => None,
            SeqValue::Histogram(h) => panic!("unexpected histogram {h:?}"),
        })
        .collect()
}

#[test]
fn notation_examples_from_upstream_docs() {
    assert_eq!(floats("-2+4x3"), [Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]);
    assert_eq!(floats("1-2x4"), [Some(1.0), Some(-1.0), Some(-3.0), Some(-5.0), Some(-7.0)]);
    assert_eq!(floats("1x4"), [Some(1.0); 5]);
    let v = floats("1 _x3 stale");
    assert_eq!(v.len(), 5);
    assert_eq!(v[0], Some(1.0));
    assert_eq!(&v[1..4], [None, None, None]);
    assert!(is_stale_nan(v[4].unwrap()));
}

#[test]
fn blank_repeat_gives_n_positions_but_value_repeat_gives_n_plus_one() {
    assert_eq!(floats("_x3"), [None; 3]);
    assert_eq!(floats("7x3"), [Some(7.0); 4]);
    assert_eq!(floats("_ 1"), [None, Some(1.0)]);
    assert_eq!(floats("0+1x0"), [Some(0.0)]);
}

#[test]
fn numbers_in_series_values() {
    let v = floats(".5 2. 1e3 2.4258259770489514e+08 +Inf -inf 1 -1");
    assert_eq!(v[..4], [Some(0.5), Some(2.0), Some(1000.0), Some(2.4258259770489514e8)]);
    assert_eq!(v[4], Some(f64::INFINITY));
    assert_eq!(v[5], Some(f64::NEG_INFINITY));
    assert_eq!(v[6..], [Some(1.0), Some(-1.0)]);
    let nan = floats("NaN nan");
    assert!(nan.iter().all(|v| v.is_some_and(|f| f.is_nan() && !is_stale_nan(f))));
    // No hex in series values: `0x10` is 0 repeated, 11 times.
    assert_eq!(floats("0x10"), [Some(0.0); 11]);
    assert!(parse_values("1+2").is_err(), "a+b needs xN");
    assert!(parse_values("foo").is_err());
}

#[test]
fn repeated_addition_like_upstream() {
    // Upstream adds the step each time; 0.1 ten times is not exactly 1.
    let v = floats("0+0.1x10");
    let mut want = 0.0;
    for got in &v {
        assert_eq!(got.unwrap().to_bits(), f64::to_bits(want));
        want += 0.1;
    }
}

#[test]
fn histogram_literals_count_positions() {
    let v = parse_values("1 {{schema:1 sum:-0.3 count:3.1 buckets:[5.1 10 7]}} _ {{count:0}}+{{count:1}}x4 {{}}x2")
        .unwrap();
    assert_eq!(v.len(), 1 + 1 + 1 + 5 + 3);
    assert_eq!(v[0], SeqValue::Float(1.0));
    assert!(matches!(v[1], SeqValue::Histogram(_)));
    assert_eq!(v[2], SeqValue::Omitted);
    assert!(v[3..].iter().all(|v| matches!(v, SeqValue::Histogram(_))));
    assert!(parse_values("{{schema:1").is_err());
}

#[test]
fn series_lines() {
    let (labels, values) = parse_series_line(r#"http_requests{job="api", instance='0', group=`x y`,} 1 2"#).unwrap();
    assert_eq!(
        labels,
        Labels::from_pairs([("__name__", "http_requests"), ("job", "api"), ("instance", "0"), ("group", "x y")])
    );
    assert_eq!(values, [SeqValue::Float(1.0), SeqValue::Float(2.0)]);

    let (labels, _) = parse_series_line("{} 1").unwrap();
    assert!(labels.is_empty());
    let (labels, _) = parse_series_line(r#"{__name__="a:b"} 1"#).unwrap();
    assert_eq!(labels, parse_series_line("a:b 1").unwrap().0);
    let (labels, _) = parse_series_line(r#"{"my.metric", "my.label"="v"} 1"#).unwrap();
    assert_eq!(labels, Labels::from_pairs([("__name__", "my.metric"), ("my.label", "v")]));
    let (labels, values) = parse_series_line("metric {{schema:0}}").unwrap();
    assert_eq!(labels, Labels::from_pairs([("__name__", "metric")]));
    assert_eq!(values.len(), 1);
    assert!(parse_series_line(r#"foo{a!="b"} 1"#).is_err());
    assert!(parse_series_line(r#"foo{a="b" 1"#).is_err());
}

#[test]
fn go_string_literals() {
    assert_eq!(unquote(r#""a\"b\n\x41\u00e9\101""#).unwrap(), "a\"b\nAéA");
    assert_eq!(unquote(r"`raw\n`").unwrap(), r"raw\n");
    assert_eq!(unquote(r#"" Foo ""#).unwrap(), " Foo ");
    assert!(unquote(r#""open"#).is_err());
    assert!(unquote(r#""a" b"#).is_err());
}

#[test]
fn durations() {
    assert_eq!(parse_duration("1m30s"), Ok(90_000));
    assert_eq!(parse_duration("10s53ms"), Ok(10_053));
    assert_eq!(parse_duration("0"), Ok(0));
    assert_eq!(parse_duration("0s"), Ok(0));
    assert_eq!(parse_duration("5ms"), Ok(5));
    assert_eq!(parse_duration("1h"), Ok(3_600_000));
    assert_eq!(parse_duration("1111111s"), Ok(1_111_111_000));
    assert_eq!(parse_duration("1y1w1d"), Ok((365 + 7 + 1) * 86_400_000));
    for bad in ["", "1s1m", "-1s", "1.5s", "1x", "s"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn scalar_lines_parse_like_go() {
    assert_eq!(parse_go_number("12340000"), Some(12_340_000.0));
    assert_eq!(parse_go_number("0x10"), Some(16.0));
    assert_eq!(parse_go_number("010"), Some(8.0));
    assert_eq!(parse_go_number("-0.0000002"), Some(-0.0000002));
    assert_eq!(parse_go_number("+Inf"), Some(f64::INFINITY));
    assert_eq!(parse_go_number("-Inf"), Some(f64::NEG_INFINITY));
    assert!(parse_go_number("NaN").is_some_and(f64::is_nan));
    assert_eq!(parse_go_number("1e3"), Some(1000.0));
    for not_number in ["{} 1", "foo", "foo 1", "", "1 2", "e5"] {
        assert_eq!(parse_go_number(not_number), None, "{not_number:?}");
    }
}

#[test]
fn float_tolerance() {
    assert!(floats_equal(1.0, 1.0 + 1e-9));
    assert!(!floats_equal(1.0, 1.00001));
    assert!(floats_equal(1e20, 1e20 * (1.0 + 5e-7)));
    assert!(floats_equal(f64::INFINITY, f64::INFINITY));
    assert!(!floats_equal(f64::INFINITY, f64::NEG_INFINITY));
    assert!(floats_equal(f64::NAN, -f64::NAN));
    // Next to zero the comparison is effectively exact.
    assert!(floats_equal(0.0, -0.0));
    assert!(!floats_equal(0.0, 1e-300));
    assert!(!floats_equal(1e-310, 2e-310));
    // The staleness marker equals only itself.
    assert!(floats_equal(stale_nan(), stale_nan()));
    assert!(!floats_equal(stale_nan(), f64::NAN));
    assert!(!floats_equal(f64::NAN, stale_nan()));
    assert!(!floats_equal(stale_nan(), 1.0));
}

#[test]
fn blocks_end_at_blank_lines_comments_and_scalars() {
    let text = "load 5m\n  a{x=\"1\"} 1 2\n  a{x=\"1\"} 3\n\nclear\nload 1m\n a 1\n# comment ends the block\n\
                eval instant at 1m a\n  # empty\neval instant at 0 1+1\n  2\neval range from 0 to 2m step 1m a\n\
                \texpect warn msg: PromQL warning: boom (1:5)\n\
                \texpect info regex: fixed for monotonicity .* \\(1:21\\)\n\
                \texpect warn regex: got NaN \\([0-9]+:[0-9]+\\)\n  a 1 _ 3\n\n\
                eval_fail instant at 0 a\n  expected_fail_message nope\n";
    let commands = parse_file(text);
    let kinds: Vec<&str> = commands
        .iter()
        .map(|c| match c {
            Command::Clear => "clear",
            Command::Load(_) => "load",
            Command::Eval(_) => "eval",
            Command::Invalid { .. } => "invalid",
        })
        .collect();
    assert_eq!(kinds, ["load", "clear", "load", "eval", "eval", "eval", "eval"]);
    let Command::Load(load) = &commands[0] else { panic!() };
    assert_eq!(load.interval, 300_000);
    assert_eq!(load.series.len(), 1, "the last line for a label set wins");
    assert_eq!(load.series.values().next().unwrap(), &[SeqValue::Float(3.0)]);
    let evals: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Eval(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(evals[0].line, 9);
    assert!(evals[0].series.is_empty() && evals[0].scalar.is_none() && evals[0].error.is_none());
    assert_eq!(evals[1].scalar, Some(2.0));
    assert_eq!(evals[2].kind, EvalKind::Range { start: 0, end: 120_000, step: 60_000 });
    assert!(evals[2].error.is_none(), "{:?}", evals[2].error);
    assert!(matches!(&evals[2].warn.lines[0], TextMatch::Exact(m) if m == "PromQL warning: boom"));
    assert!(evals[2].info.lines[0].matches("PromQL info: fixed for monotonicity of x"));
    assert!(evals[2].warn.lines[1].matches("PromQL warning: got NaN"));
    assert_eq!(evals[2].series.values().next().unwrap().values.len(), 3);
    assert!(evals[3].fail.as_ref().is_some_and(|f| f.matches("nope") && !f.matches("nope!")));
    assert_eq!(eval_lines(text), BTreeSet::from([9, 11, 13, 19]));
}

#[test]
fn instant_eval_with_two_values_is_an_error() {
    let commands = parse_file("eval instant at 0 a\n  a 1 2\n");
    let Command::Eval(eval) = &commands[0] else { panic!() };
    assert!(eval.error.is_some());
}

#[test]
fn store_appends_and_selects_inclusive_ranges() {
    let mut store = MemStore::new();
    let labels = Labels::from_pairs([("__name__", "m"), ("job", "a")]);
    store.append(&labels, vec![lookout_storage::Sample { t: 0, v: 1.0 }]);
    for command in parse_file("load 1m\n m{job=\"a\"} _ _ 3 4\n m{job=\"b\"} 9\n") {
        if let Command::Load(load) = &command {
            store.load(load);
        }
    }
    let tenant = Tenant::default();
    let all = store.select(&tenant, &[Matcher::equal("__name__", "m")], 0, 180_000).unwrap();
    assert_eq!(all.len(), 2);
    let a: Vec<(i64, f64)> = all[0].samples.iter().map(|s| (s.t, s.v)).collect();
    assert_eq!(a, [(0, 1.0), (120_000, 3.0), (180_000, 4.0)]);
    let some = store.select(&tenant, &[Matcher::equal("job", "a")], 120_000, 120_000).unwrap();
    assert_eq!(some.len(), 1);
    assert_eq!(some[0].samples.len(), 1);
    assert!(store.select(&tenant, &[Matcher::equal("job", "b")], 1, 100).unwrap().is_empty());
    assert_eq!(store.series(&tenant, &[], 0, 0).unwrap().len(), 2);
}

#[test]
fn filters() {
    assert_eq!(parse_filter("functions").unwrap(), Filter { file: "functions.test".into(), line: None });
    assert_eq!(parse_filter("functions.test:120").unwrap(), Filter { file: "functions.test".into(), line: Some(120) });
    assert!(parse_filter("functions.test:x").is_err());
}

/// The one histogram a value list holds, in canonical form.
fn one_histogram(values: &str) -> String {
    match &parse_values(values).unwrap()[..] {
        [SeqValue::Histogram(h)] => histogram_text(h),
        other => panic!("{values}: {other:?}"),
    }
}

#[test]
fn histogram_literals_decode_and_print_as_prometheus_does() {
    assert_eq!(
        one_histogram(
            "{{schema:1 sum:-0.3 count:32.1 z_bucket:7.1 z_bucket_w:0.05 buckets:[5.1 10 7] offset:-3 n_buckets:[4.1 5] n_offset:-5}}"
        ),
        "{{schema:1 count:32.1 sum:-0.3 z_bucket:7.1 z_bucket_w:0.05 offset:-3 buckets:[5.1 10 7] n_offset:-5 n_buckets:[4.1 5]}}"
    );
    // Keys in any order and case; empty buckets at the ends dropped, inside kept; Go's %g.
    assert_eq!(
        one_histogram("{{BUCKETS:[0 1 0 2 0] offset:1 counter_reset_hint:gauge count:1000000}}"),
        "{{count:1e+06 counter_reset_hint:gauge offset:2 buckets:[1 0 2]}}"
    );
    assert_eq!(one_histogram("{{}}"), "{{}}");
    assert_eq!(one_histogram("{{ }}"), "{{}}");
    assert_eq!(
        one_histogram("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]}}"),
        "{{schema:-53 count:1 sum:1 custom_values:[5 10] buckets:[1]}}"
    );
    for bad in [
        "{{sum:1 sum:2}}",
        "{{color:1}}",
        "{{buckets:[1 2}}",
        "{{counter_reset_hint:maybe}}",
        "{{custom_values:[1]}}",
        "{{schema:x}}",
    ] {
        assert!(parse_values(bad).is_err(), "{bad}");
    }
}

#[test]
fn histogram_series_add_again_and_again() {
    let v = parse_values("{{sum:3 count:2 buckets:[2]}}+{{sum:1.3 count:1 buckets:[1]}}x2").unwrap();
    let texts: Vec<String> = v
        .iter()
        .map(|v| match v {
            SeqValue::Histogram(h) => histogram_text(h),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        ["{{count:2 sum:3 buckets:[2]}}", "{{count:3 sum:4.3 buckets:[3]}}", "{{count:4 sum:5.6 buckets:[4]}}"]
    );
    let down = parse_values("{{count:5 buckets:[5]}}-{{count:1 buckets:[1]}}x1").unwrap();
    assert!(matches!(&down[1], SeqValue::Histogram(h) if histogram_text(h) == "{{count:4 buckets:[4]}}"));
    // The increment may not be coarser than the base.
    let err = parse_values("{{schema:1 buckets:[1]}}+{{schema:0 buckets:[1]}}x1").unwrap_err();
    assert!(err.contains("cannot merge from schema 0 to 1"), "{err}");
}
