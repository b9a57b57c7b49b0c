use super::super::format::{LabelFormat, LabelSource, LineFormat};
use super::{Pairs, builder, pairs};

fn line_format(tmpl: &str, stream: &[(&str, &str)], ts: i64, line: &str) -> (String, Vec<(String, String)>) {
    let mut f = LineFormat::new(tmpl).expect("valid template");
    let mut b = builder(stream);
    let out = f.process(line.as_bytes(), ts, &mut b);
    (out, b.labels())
}

#[test]
fn line_format_loki_cases() {
    let fb: &[(&str, &str)] = &[("foo", "blip"), ("bar", "blop")];
    let cases: &[(&str, Pairs<'_>, i64, &str)] = &[
        (r#"{{.foo | count "abc" }}"#, &[("foo", "abc abc abc")], 0, "3"),
        (r#"{{.foo | count "a|b|c" }}"#, &[("foo", "abc abc abc")], 0, "9"),
        ("foo{{.foo}}buzz{{  .bar  }}", fb, 0, "fooblipbuzzblop"),
        (r#"foo{{.foo}}buzz{{ Replace .bar "blop" "bar" -1 }}"#, fb, 0, "fooblipbuzzbar"),
        (r#"foo{{.foo}}buzz{{ .bar | replace "blop" "bar" }}"#, fb, 0, "fooblipbuzzbar"),
        ("{{.foo | title }}", fb, 0, "Blip"),
        ("{{.foo | substr 1 3 }} {{ .bar  | trunc 1 }} {{ .bar  | trunc 3 }}", fb, 0, "li b blo"),
        (
            r#"{{.foo | trim }} {{ .bar  | trimAll "op" }} {{ .bar  | trimPrefix "b" }} {{ .bar  | trimSuffix "p" }}"#,
            &[("foo", "  blip "), ("bar", "blop")],
            0,
            "blip bl lop blo",
        ),
        ("{{.foo | lower }} {{ .bar  | upper }}", &[("foo", "BLIp"), ("bar", "blop")], 0, "blip BLOP"),
        (
            "{{.foo | urlencode }} {{ urlencode .foo }}",
            &[(
                "foo",
                r#"/loki/api/v1/query?query=sum(count_over_time({stream_filter="some_stream",environment="prod", host=~"someec2.*"}"#,
            )],
            0,
            "%2Floki%2Fapi%2Fv1%2Fquery%3Fquery%3Dsum%28count_over_time%28%7Bstream_filter%3D%22some_stream%22%2Cenvironment%3D%22prod%22%2C+host%3D~%22someec2.%2A%22%7D %2Floki%2Fapi%2Fv1%2Fquery%3Fquery%3Dsum%28count_over_time%28%7Bstream_filter%3D%22some_stream%22%2Cenvironment%3D%22prod%22%2C+host%3D~%22someec2.%2A%22%7D",
        ),
        ("{{.foo | urldecode }}", &[("foo", "%2Floki%2Fapi%3Fquery%3Dsum%28x%29+y")], 0, "/loki/api?query=sum(x) y"),
        (r#"{{ "foo" | repeat 3 }}"#, &[], 0, "foofoofoo"),
        ("{{ \"foo\\n bar\" | indent 4 }}", &[], 0, "    foo\n     bar"),
        (r#"{{ "foo" | nindent 2 }}"#, &[], 0, "\n  foo"),
        (
            r#"{{ if  .foo | contains "p"}}yes{{end}}-{{ if  .foo | contains "z"}}no{{end}}"#,
            &[("foo", "BLIp")],
            0,
            "yes-",
        ),
        (
            r#"{{ if  .foo | hasPrefix "BL" }}yes{{end}}-{{ if  .foo | hasPrefix "p"}}no{{end}}"#,
            &[("foo", "BLIp")],
            0,
            "yes-",
        ),
        (
            r#"{{ if  .foo | hasSuffix "Ip" }}yes{{end}}-{{ if  .foo | hasSuffix "pw"}}no{{end}}"#,
            &[("foo", "BLIp")],
            0,
            "yes-",
        ),
        (r#"{{ regexReplaceAll "(p)" .foo "t" }}"#, &[("foo", "BLIp")], 0, "BLIt"),
        (r#"{{ regexReplaceAllLiteral "(p)" .foo "${1}" }}"#, &[("foo", "BLIp")], 0, "BLI${1}"),
        (r#"{{ regexReplaceAll "(\\w+)@(\\w+)" .foo "${2}:$1" }}"#, &[("foo", "joe@home")], 0, "home:joe"),
        ("foo {{.foo}}buzz{{  .bar  }}", &[("bar", "blop")], 0, "foo buzzblop"),
        ("foo {{.foo | ToUpper }} buzz{{  .bar  }}", fb, 0, "foo BLIP buzzblop"),
        (
            "{{ add .foo 1 | sub .bar | mul .baz | div .bazz}}",
            &[("foo", "1"), ("bar", "3"), ("baz", "10"), ("bazz", "20")],
            0,
            "2",
        ),
        (
            "{{ addf .foo 1.5 | subf .bar 1.5 | mulf .baz | divf .bazz }}",
            &[("foo", "1.5"), ("bar", "5"), ("baz", "10.5"), ("bazz", "20.2")],
            0,
            "3.8476190476190477",
        ),
        (
            "{{ round (addf .foo 1.5 | subf .bar | mulf .baz | divf .bazz) 5 .2}}",
            &[("foo", "1.5"), ("bar", "3.5"), ("baz", "10.5"), ("bazz", "20.4")],
            0,
            "3.88572",
        ),
        (
            "min is {{ min .foo .bar .baz }} and max is {{ max .foo .bar .baz }}",
            &[("foo", "5"), ("bar", "10"), ("baz", "15")],
            0,
            "min is 5 and max is 15",
        ),
        (
            "minf is {{ minf .foo .bar .baz }} and maxf is {{maxf .foo .bar .baz}}",
            &[("foo", "5.3"), ("bar", "10.5"), ("baz", "15.2")],
            0,
            "minf is 5.3 and maxf is 15.2",
        ),
        ("ceil is {{ ceil .foo }} and floor is {{floor .foo }}", &[("foo", "5.3")], 0, "ceil is 6 and floor is 5"),
        ("mod is {{ mod .foo 3 }}", &[("foo", "20")], 0, "mod is 2"),
        ("{{ \"2.5\" | float64 | int | add 10}}", &[], 0, "12"),
        (
            r#"{{ sub (unixEpoch (toDate "2006-01-02" "2021-11-02")) (unixEpoch (toDate "2006-01-02" "2021-11-01")) }}"#,
            &[],
            0,
            "86400",
        ),
        (r#"{{ date "2006-01-02" (toDate "2006-01-02" "2021-11-02") }}"#, &[], 0, "2021-11-02"),
        ("{{ div (unixEpoch now) (unixEpoch now) }}", &[], 0, "1"),
        ("{{ __line__ }} bar {{ .bar }}", &[("bar", "2")], 0, "1 bar 2"),
        (
            r#"{{.foo | default "-" }}{{.bar | default "-"}}{{.unknown | default "-"}}"#,
            &[("foo", "blip"), ("bar", "")],
            0,
            "blip--",
        ),
        (
            r#"{{ __timestamp__ | date "2006-01-02" }} bar {{ .bar }}"#,
            &[("bar", "2")],
            1_656_353_124_120_000_000,
            "2022-06-27 bar 2",
        ),
        (
            "{{ __timestamp__ | unixEpoch }} bar {{ .bar }}",
            &[("bar", "2")],
            1_656_353_124_120_000_000,
            "1656353124 bar 2",
        ),
        ("{{ __timestamp__ }}", &[], 1_656_353_124_120_000_000, "2022-06-27 18:05:24.12 +0000 UTC"),
        ("{{ .foo | bytes }}", &[("foo", "3 kB")], 0, "3000"),
        ("{{ .foo | bytes }}", &[("foo", "3MB")], 0, "3e+06"),
        ("{{ .foo | duration }}", &[("foo", "3ms")], 0, "0.003"),
        ("{{ .foo | duration_seconds }}", &[("foo", "3m10s")], 0, "190"),
        (
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochMillis }}"#,
            &[("foo", "2023-03-10T01:32:40.340485723Z")],
            0,
            "1678411960340",
        ),
        (
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochNanos }}"#,
            &[("foo", "2023-03-10T01:32:40.340485723Z")],
            0,
            "1678411960340485723",
        ),
        ("{{ .foo | b64enc }}", &[("foo", "i'm a string, encode me!")], 0, "aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh"),
        ("{{ .foo | b64dec }}", &[("foo", "aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh")], 0, "i'm a string, encode me!"),
        ("{{ alignLeft 4 .foo }}", &[("foo", "hello")], 0, "hell"),
        ("{{ alignRight 4 .foo }}", &[("foo", "hello")], 0, "ello"),
        ("{{.foo}}", &[("foo", "bar")], 0, "bar"),
        ("{{.foo}}  ", &[("foo", "bar")], 0, "bar  "),
        ("{{.missing}}", &[("foo", "bar")], 0, ""),
    ];
    for (tmpl, stream, ts, want) in cases {
        let (out, labels) = line_format(tmpl, stream, *ts, "1");
        assert_eq!(out, *want, "{tmpl}");
        assert_eq!(labels, pairs(stream), "{tmpl} labels");
    }
}

#[test]
fn line_format_errors_keep_line() {
    let fb: &[(&str, &str)] = &[("foo", "blip"), ("bar", "blop")];
    let cases: Pairs<'_> = &[
        (
            r#"{{.foo Replace "foo"}}"#,
            r#"template: line:1:2: executing "line" at <.foo>: foo is not a method but has arguments"#,
        ),
        (
            "{{.foo | now}}",
            r#"template: line:1:9: executing "line" at <now>: wrong number of args for now: want 0 got 1"#,
        ),
        (
            "{{ div 1 0 }}",
            r#"template: line:1:3: executing "line" at <div>: error calling div: runtime error: integer divide by zero"#,
        ),
        (r#"{{ trunc "x" .foo }}"#, r#"template: line:1:9: executing "line" at <"x">: expected integer; found "x""#),
        (
            "{{ .foo.bar }}",
            r#"template: line:1:3: executing "line" at <.foo.bar>: can't evaluate field bar in type string"#,
        ),
        (
            "{{ repeat 100000000 .foo }}",
            r#"template: line:1:3: executing "line" at <repeat>: error calling repeat: result exceeds 1048576 bytes"#,
        ),
        (
            r#"{{ eq .foo 1 }}"#,
            r#"template: line:1:3: executing "line" at <eq>: error calling eq: incompatible types for comparison"#,
        ),
        (
            "{{ trunc (add 1 2) .foo }}",
            r#"template: line:1:10: executing "line" at <add>: wrong type for value; expected int; got int64"#,
        ),
    ];
    for (tmpl, details) in cases {
        let (out, labels) = line_format(tmpl, fb, 0, "original line");
        assert_eq!(out, "original line", "{tmpl}");
        let mut want = fb.to_vec();
        want.push(("__error__", "TemplateFormatErr"));
        want.push(("__error_details__", details));
        assert_eq!(labels, pairs(&want), "{tmpl}");
    }
}

#[test]
fn line_format_parse_errors() {
    let cases: Pairs<'_> = &[
        ("{{ .foo ", "invalid line template: template: line:1: unclosed action"),
        ("{{ foo .bar }}", r#"invalid line template: template: line:1: function "foo" not defined"#),
        ("{{ if .a }}x", "invalid line template: template: line:1: unexpected EOF"),
        ("{{ end }}", "invalid line template: template: line:1: unexpected {{end}}"),
        ("{{ else }}", "invalid line template: template: line:1: unexpected {{else}}"),
        ("{{ $x }}", r#"invalid line template: template: line:1: undefined variable "$x""#),
        ("{{ }}", "invalid line template: template: line:1: missing value for command"),
        (r#"{{ "a""b" }}"#, r#"invalid line template: template: line:1: unexpected "\"b\"" in operand"#),
        ("{{ break }}", "invalid line template: template: line:1: {{break}} outside {{range}}"),
        ("{{/* c */ x }}", "invalid line template: template: line:1: comment ends before closing delimiter"),
        ("{{ .a | 3 }}", "invalid line template: template: line:1: non executable command in pipeline stage 2"),
        ("{{ 3x }}", r#"invalid line template: template: line:1: bad number syntax: "3x""#),
        ("{{ \"abc }}", "invalid line template: template: line:1: unterminated quoted string"),
    ];
    for (tmpl, want) in cases {
        assert_eq!(LineFormat::new(tmpl).expect_err("invalid").to_string(), *want, "{tmpl}");
    }
}

type Formats<'a> = Vec<(&'a str, LabelSource)>;

fn label_format(formats: Vec<(&str, LabelSource)>, stream: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f = LabelFormat::new(formats.into_iter().map(|(d, s)| (d.to_owned(), s)).collect()).expect("valid");
    let mut b = builder(stream);
    f.process(b"test line", 1_661_518_453_244_672_570, &mut b);
    b.labels()
}

#[test]
fn label_format_loki_cases() {
    use LabelSource::{Rename, Template};
    let fb: &[(&str, &str)] = &[("foo", "blip"), ("bar", "blop")];
    let t = |s: &str| Template(s.to_owned());
    let r = |s: &str| Rename(s.to_owned());
    let cases: Vec<(Formats<'_>, Pairs<'_>, Pairs<'_>)> = vec![
        (vec![("baz", r("foo"))], fb, &[("bar", "blop"), ("baz", "blip")]),
        (vec![("bar", r("foo"))], fb, &[("bar", "blip")]),
        (vec![("foo", t("{{.foo}} and {{.bar}}"))], fb, &[("foo", "blip and blop"), ("bar", "blop")]),
        (
            vec![("blip", t("{{.foo}} and {{.bar}}")), ("bar", r("foo"))],
            fb,
            &[("blip", "blip and blop"), ("bar", "blip")],
        ),
        (
            vec![("blip", t("{{.foo | ToUpper }} and {{.bar}}")), ("bar", r("foo"))],
            fb,
            &[("blip", "BLIP and blop"), ("bar", "blip")],
        ),
        (vec![("status", t("{{div .status 100 }}"))], &[("status", "200")], &[("status", "2")]),
        (
            vec![("blip", t(r#"{{.foo | default "-" }} and {{.bar}}"#))],
            &[("bar", "blop")],
            &[("blip", "- and blop"), ("bar", "blop")],
        ),
        (
            vec![("bar", t(r#"{{replace "test" .foo}}"#))],
            fb,
            &[
                ("foo", "blip"),
                ("bar", "blop"),
                ("__error__", "TemplateFormatErr"),
                (
                    "__error_details__",
                    r#"template: label:1:2: executing "label" at <replace>: wrong number of args for replace: want 3 got 2"#,
                ),
            ],
        ),
        (vec![("line", t("{{ __line__ }}"))], fb, &[("foo", "blip"), ("bar", "blop"), ("line", "test line")]),
        (
            vec![("ts", t(r#"{{ __timestamp__ | date "2006-01-02" }}"#))],
            fb,
            &[("foo", "blip"), ("bar", "blop"), ("ts", "2022-08-26")],
        ),
        (
            vec![("ts", t("{{ __timestamp__ | unixEpoch }}"))],
            fb,
            &[("foo", "blip"), ("bar", "blop"), ("ts", "1661518453")],
        ),
        (
            vec![("count", t(r#"{{ __line__ | count "test" }}"#))],
            fb,
            &[("foo", "blip"), ("bar", "blop"), ("count", "1")],
        ),
        (vec![("count", t(r#"{{ __line__ | count "notmatching.*" }}"#))], &[], &[("count", "0")]),
        (
            vec![("bar", t("{{ .foo | bytes }}"))],
            &[("foo", "3 kB"), ("bar", "blop")],
            &[("foo", "3 kB"), ("bar", "3000")],
        ),
        (
            vec![("bar", t("{{ .foo | duration }}"))],
            &[("foo", "3m10s"), ("bar", "blop")],
            &[("foo", "3m10s"), ("bar", "190")],
        ),
        (
            vec![("foo", t("{{ .bar | unixToTime }}"))],
            &[("foo", ""), ("bar", "19503")],
            &[("bar", "19503"), ("foo", "2023-05-26 00:00:00 +0000 UTC")],
        ),
        (
            vec![("foo", t("{{ .bar | unixToTime }}"))],
            &[("foo", ""), ("bar", "1679577215")],
            &[("bar", "1679577215"), ("foo", "2023-03-23 13:13:35 +0000 UTC")],
        ),
        (
            vec![("foo", t("{{ .bar | unixToTime }}"))],
            &[("foo", ""), ("bar", "1257894000000")],
            &[("bar", "1257894000000"), ("foo", "2009-11-10 23:00:00 +0000 UTC")],
        ),
        (
            vec![("foo", t("{{ .bar | unixToTime }}"))],
            &[("foo", ""), ("bar", "1673798889902000")],
            &[("bar", "1673798889902000"), ("foo", "2023-01-15 16:08:09.902 +0000 UTC")],
        ),
        (
            vec![("foo", t("{{ .bar | unixToTime }}"))],
            &[("foo", ""), ("bar", "1000000000000000000")],
            &[("bar", "1000000000000000000"), ("foo", "2001-09-09 01:46:40 +0000 UTC")],
        ),
        (
            vec![("foo", t("{{ .bar | unixToTime }}"))],
            &[("foo", "x"), ("bar", "464")],
            &[
                ("foo", "x"),
                ("bar", "464"),
                ("__error__", "TemplateFormatErr"),
                (
                    "__error_details__",
                    r#"template: label:1:10: executing "label" at <unixToTime>: error calling unixToTime: unable to parse time '464': %!w(<nil>)"#,
                ),
            ],
        ),
    ];
    for (i, (formats, stream, want)) in cases.into_iter().enumerate() {
        assert_eq!(label_format(formats, stream), pairs(want), "case {i}");
    }
}

#[test]
fn label_format_validation() {
    let mk = |v: Vec<(&str, &str)>| {
        LabelFormat::new(v.into_iter().map(|(d, s)| (d.to_owned(), LabelSource::Rename(s.to_owned()))).collect())
    };
    assert!(mk(vec![("foo", "bar"), ("bar", "foo")]).is_ok());
    assert_eq!(
        mk(vec![("foo", "bar"), ("foo", "blip")]).expect_err("dup").to_string(),
        "multiple label name 'foo' not allowed in a single format operation"
    );
    assert_eq!(mk(vec![("__error__", "bar")]).expect_err("err").to_string(), "__error__ cannot be formatted");
    let err = LabelFormat::new(vec![("x".into(), LabelSource::Template("{{ nope }}".into()))]).expect_err("bad");
    assert_eq!(err.to_string(), r#"invalid template for label 'x': template: label:1: function "nope" not defined"#);
}
