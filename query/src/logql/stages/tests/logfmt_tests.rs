use super::super::logfmt::{Decoder, LogfmtParser, parse_logfmt_expression};
use super::{Pairs, builder, pairs};

fn run(
    line: &[u8],
    stream: &[(&str, &str)],
    strict: bool,
    keep_empty: bool,
    params: &[(&str, &str)],
) -> Vec<(String, String)> {
    let params = params.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
    let mut p = LogfmtParser::new(strict, keep_empty, params).expect("valid parser");
    let mut b = builder(stream);
    p.process(line, &mut b);
    b.labels()
}

type Case<'a> =
    (&'a str, &'a [u8], &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)], Option<&'a [(&'a str, &'a str)]>);

#[test]
fn logfmt_loki_cases_strict_and_not() {
    let cases: &[Case<'_>] = &[
        (
            "not logfmt",
            b"foobar====wqe=sdad1r",
            &[("foo", "bar")],
            &[("foo", "bar")],
            Some(&[
                ("foo", "bar"),
                ("__error__", "LogfmtParserErr"),
                ("__error_details__", "logfmt syntax error at pos 8 : unexpected '='"),
            ]),
        ),
        ("utf8 error rune", "buzz=foo bar=\u{FFFD}f".as_bytes(), &[], &[("bar", " f"), ("buzz", "foo")], None),
        ("key alone", b"buzz bar=foo", &[("foo", "bar")], &[("foo", "bar"), ("bar", "foo")], None),
        ("quoted", br#"foobar="foo bar""#, &[("foo", "bar")], &[("foo", "bar"), ("foobar", "foo bar")], None),
        (
            "escaped control chars",
            br#"foobar="foo\nbar\tbaz""#,
            &[("a", "b")],
            &[("a", "b"), ("foobar", "foo\nbar\tbaz")],
            None,
        ),
        (
            "literal control chars",
            b"foobar=\"foo\nbar\tbaz\"",
            &[("a", "b")],
            &[("a", "b"), ("foobar", "foo\nbar\tbaz")],
            None,
        ),
        (
            "escaped slash",
            br#"foobar="foo ba\\r baz""#,
            &[("a", "b")],
            &[("a", "b"), ("foobar", r"foo ba\r baz")],
            None,
        ),
        (
            "literal newline and escaped slash",
            b"foobar=\"foo bar\nb\\\\az\"",
            &[("a", "b")],
            &[("a", "b"), ("foobar", "foo bar\nb\\az")],
            None,
        ),
        (
            "double property",
            br#"foobar="foo bar" latency=10ms"#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foobar", "foo bar"), ("latency", "10ms")],
            None,
        ),
        (
            "duplicate from line",
            br#"foobar="foo bar" foobar=10ms"#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foobar", "10ms")],
            None,
        ),
        (
            "duplicate property",
            br#"foo="foo bar" foobar=10ms"#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foo_extracted", "foo bar"), ("foobar", "10ms")],
            None,
        ),
        (
            "invalid key names",
            br#"foo="foo bar" foo.bar=10ms test-dash=foo"#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foo_extracted", "foo bar"), ("foo_bar", "10ms"), ("test_dash", "foo")],
            None,
        ),
        ("empty line", b"", &[("foo", "bar")], &[("foo", "bar")], None),
        (
            "empty key",
            br#"foo="foo bar" =notkey bar=10ms"#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foo_extracted", "foo bar"), ("bar", "10ms")],
            Some(&[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("__error__", "LogfmtParserErr"),
                ("__error_details__", "logfmt syntax error at pos 15 : unexpected '='"),
            ]),
        ),
        (
            "error rune in key",
            "foo=\"foo bar\" b\u{FFFD}r=10ms".as_bytes(),
            &[("foo", "bar")],
            &[("foo", "bar"), ("foo_extracted", "foo bar")],
            Some(&[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("__error__", "LogfmtParserErr"),
                ("__error_details__", "logfmt syntax error at pos 20 : invalid key"),
            ]),
        ),
        (
            "double quote in key",
            br#"foo="foo bar" bu"zz=10ms"#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foo_extracted", "foo bar")],
            Some(&[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("__error__", "LogfmtParserErr"),
                ("__error_details__", "logfmt syntax error at pos 17 : unexpected '\"'"),
            ]),
        ),
        (
            "= in value",
            br#"bar=bu=zz foo="foo bar""#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foo_extracted", "foo bar")],
            Some(&[
                ("foo", "bar"),
                ("__error__", "LogfmtParserErr"),
                ("__error_details__", "logfmt syntax error at pos 7 : unexpected '='"),
            ]),
        ),
        (
            "unterminated quote",
            br#"a=b c="open"#,
            &[],
            &[("a", "b")],
            Some(&[
                ("a", "b"),
                ("__error__", "LogfmtParserErr"),
                ("__error_details__", "logfmt syntax error at pos 12 : unterminated quoted value"),
            ]),
        ),
        (
            "invalid escape in quoted value",
            br#"a="x\qy" b=c"#,
            &[],
            &[("b", "c")],
            Some(&[
                ("__error__", "LogfmtParserErr"),
                ("__error_details__", "logfmt syntax error at pos 9 : invalid quoted value"),
            ]),
        ),
        (
            "docs example",
            br#"at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200"#,
            &[],
            &[
                ("at", "info"),
                ("method", "GET"),
                ("path", "/"),
                ("host", "grafana.net"),
                ("fwd", "124.133.124.161"),
                ("service", "8ms"),
                ("status", "200"),
            ],
            None,
        ),
        ("unicode escape in quoted value", br#"a="\u00e9\u0041""#, &[], &[("a", "éA")], None),
        ("invalid utf8 bytes", b"a=\xffb c=d", &[], &[("a", " b"), ("c", "d")], None),
    ];
    for (name, line, stream, want, want_strict) in cases {
        assert_eq!(run(line, stream, false, false, &[]), pairs(want), "{name} (non strict)");
        let ws = want_strict.unwrap_or(want);
        assert_eq!(run(line, stream, true, false, &[]), pairs(ws), "{name} (strict)");
    }
}

#[test]
fn logfmt_keep_empty() {
    let cases: &[(&str, &str, bool, Pairs<'_>)] = &[
        ("without keep empty", "foo bar=buzz", false, &[("foo", "bar"), ("bar", "buzz")]),
        ("with keep empty", "foo bar=buzz", true, &[("foo", "bar"), ("foo_extracted", ""), ("bar", "buzz")]),
        (
            "utf8 rune without keep",
            "foo=b\u{FFFD}r bar=buzz",
            false,
            &[("foo", "bar"), ("bar", "buzz"), ("foo_extracted", "b r")],
        ),
        (
            "utf8 rune with keep",
            "foo=b\u{FFFD}r bar=buzz",
            true,
            &[("foo", "bar"), ("foo_extracted", "b r"), ("bar", "buzz")],
        ),
        ("empty value", "a= b=c", true, &[("foo", "bar"), ("a", ""), ("b", "c")]),
        ("empty value dropped", "a= b=c", false, &[("foo", "bar"), ("b", "c")]),
    ];
    for strict in [false, true] {
        for (name, line, keep, want) in cases {
            assert_eq!(
                run(line.as_bytes(), &[("foo", "bar")], strict, *keep, &[]),
                pairs(want),
                "{name} strict={strict}"
            );
        }
    }
}

#[test]
fn logfmt_expressions() {
    let line = "app=foo level=error spaces=\"value with ÜFT8👌\" ts=2021-02-12T19:18:10.037940878Z".as_bytes();
    let cases: &[(&str, Pairs<'_>, Pairs<'_>, Pairs<'_>)] = &[
        ("single field", &[("app", "app")], &[], &[("app", "foo")]),
        (
            "multiple fields",
            &[("app", "app"), ("level", "level"), ("ts", "ts")],
            &[],
            &[("app", "foo"), ("level", "error"), ("ts", "2021-02-12T19:18:10.037940878Z")],
        ),
        ("label renaming", &[("test", "level")], &[], &[("test", "error")]),
        (
            "multiple with renaming",
            &[("app", "app"), ("lvl", "level"), ("timestamp", "ts")],
            &[],
            &[("app", "foo"), ("lvl", "error"), ("timestamp", "2021-02-12T19:18:10.037940878Z")],
        ),
        ("spaces and utf8", &[("spaces", "spaces")], &[], &[("spaces", "value with ÜFT8👌")]),
        ("matching nothing", &[("nope", "nope")], &[], &[("nope", "")]),
        ("double property", &[("app", "app")], &[("ap", "bar")], &[("ap", "bar"), ("app", "foo")]),
        ("label override", &[("app", "app")], &[("app", "bar")], &[("app", "bar"), ("app_extracted", "foo")]),
        ("label override 2", &[("lvl", "level")], &[("level", "debug")], &[("level", "debug"), ("lvl", "error")]),
        ("quoted key", &[("fwd_ip", r#""fwd""#)], &[], &[("fwd_ip", "")]),
    ];
    for (name, params, stream, want) in cases {
        assert_eq!(run(line, stream, false, false, params), pairs(want), "{name}");
    }
    let docs = br#"at=info host=grafana.net fwd="124.133.124.161""#;
    assert_eq!(
        run(docs, &[], false, false, &[("host", "host"), ("fwd_ip", "fwd")]),
        pairs(&[("host", "grafana.net"), ("fwd_ip", "124.133.124.161")])
    );
    assert_eq!(parse_logfmt_expression(r#""field with spaces""#), Ok("field with spaces".to_owned()));
    assert_eq!(parse_logfmt_expression("utf8"), Ok("utf8".to_owned()));
    assert_eq!(parse_logfmt_expression("field with spaces"), Err("syntax error: unexpected KEY".to_owned()));
    let err = LogfmtParser::new(false, false, vec![("app".into(), "field with space".into())]).expect_err("bad");
    assert_eq!(err.to_string(), "cannot parse expression [field with space]: syntax error: unexpected KEY");
}

#[test]
fn logfmt_decoder_positions() {
    let mut d = Decoder::new(b"a=1 b c=\"x y\"");
    let mut got = Vec::new();
    while !d.eol() {
        if d.scan_keyval() {
            got.push((String::from_utf8_lossy(d.key()).into_owned(), String::from_utf8_lossy(d.value()).into_owned()));
        }
    }
    assert_eq!(got, vec![("a".into(), "1".into()), ("b".into(), String::new()), ("c".into(), "x y".into())]);
    assert!(d.err().is_none());
}
