use super::super::template::{ExecInput, Template};
use super::{Pairs, pairs};

fn exec(tmpl: &str, labels: &[(&str, &str)]) -> Result<String, String> {
    let mut t = Template::parse("line", tmpl)?;
    let labels = pairs(labels);
    t.execute(ExecInput { labels: &labels, line: "the line", ts: 1_656_353_124_120_000_000 })
}

#[test]
fn template_engine_features() {
    let l: &[(&str, &str)] =
        &[("a", "1"), ("b", "two"), ("level", "error"), ("json", r#"{"x":[1,2,3],"m":{"k":"v"},"s":"str"}"#)];
    let cases: Pairs<'_> = &[
        ("plain text", "plain text"),
        ("{{ .a }}-{{ .b }}", "1-two"),
        ("x  {{- .a -}}  y", "x1y"),
        ("x {{- /* comment */ -}} y", "xy"),
        ("{{/* only comment */}}z", "z"),
        ("{{ if eq .level \"error\" }}E{{ else if eq .level \"warn\" }}W{{ else }}O{{ end }}", "E"),
        ("{{ if eq .level \"info\" }}E{{ else if eq .level \"error\" }}W{{ else }}O{{ end }}", "W"),
        ("{{ if .missing }}yes{{ else }}no{{ end }}", "no"),
        ("{{ if and .a .b }}{{ and .a .b }}{{ end }}", "two"),
        ("{{ or .missing .b }}", "two"),
        ("{{ or .missing \"\" }}", ""),
        ("{{ not .missing }}", "true"),
        ("{{ if and (contains \"he\" \"hello\") (contains \"llo\" \"hello\") }}yes{{end}}", "yes"),
        ("{{ if or (contains \"he\" \"hello\") (contains \"zz\" \"hello\") }}yes{{end}}", "yes"),
        ("{{ with .b }}[{{ . }}]{{ end }}", "[two]"),
        ("{{ with .missing }}[{{ . }}]{{ else }}none{{ end }}", "none"),
        ("{{ $x := .b }}{{ $x }}{{ $x = \"y\" }}{{ $x }}", "twoy"),
        ("{{ range $i, $e := (fromJson .json).x }}{{ $i }}={{ $e }};{{ end }}", "0=1;1=2;2=3;"),
        ("{{ range (fromJson .json).x }}{{ . }}{{ end }}", "123"),
        ("{{ range $k, $v := (fromJson .json).m }}{{ $k }}:{{ $v }}{{ end }}", "k:v"),
        ("{{ range (fromJson .json).nope }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range $i := 3 }}{{ $i }}{{ end }}", "012"),
        (
            "{{ range $i, $e := (fromJson .json).x }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
            "1",
        ),
        ("{{ range $k, $v := . }}{{ $k }},{{ end }}", "a,b,json,level,"),
        ("{{ (fromJson .json).s }}", "str"),
        ("{{ (fromJson .json).m.k }}", "v"),
        ("{{ (fromJson .json).x }}", "[1 2 3]"),
        ("{{ fromJson .json | len }}", "3"),
        ("{{ index (fromJson .json).x 1 }}", "2"),
        ("{{ index . \"b\" }}", "two"),
        ("{{ fromJson \"not json\" }}", "<no value>"),
        ("{{ len .b }}", "3"),
        (
            "{{ printf \"%s=%d %05.2f %q %x %v %t\" .b 42 3.14159 \"q\" \"hi\" 1.5 true }}",
            "two=42 03.14 \"q\" 6869 1.5 true",
        ),
        ("{{ printf \"%d %s\" .b }}", "%!d(string=two) %!s(MISSING)"),
        ("{{ printf \"%-5s|%5s|\" \"ab\" \"cd\" }}", "ab   |   cd|"),
        (
            "{{ printf \"%x %X %o %b %c %e %g\" 255 255 8 5 65 1234.5678 0.000012 }}",
            "ff FF 10 101 A 1.234568e+03 1.2e-05",
        ),
        ("{{ printf \"%s\" 1 2 }}", "%!s(int=1)%!(EXTRA int=2)"),
        ("{{ printf \"%3c|%-3d|%+d\" 'x' 7 7 }}", "  x|7  |+7"),
        ("{{ print \"a\" 1 2 \"b\" }}", "a1 2b"),
        ("{{ println \"a\" 1 }}", "a 1\n"),
        ("{{ 'a' }} {{ 1.50 }} {{ 0x1F }} {{ 1e3 }} {{ -7 }}", "97 1.5 31 1000 -7"),
        ("{{ `raw \\n` }}", "raw \\n"),
        ("{{ \"tab\\tq\\\"\" }}", "tab\tq\""),
        (
            "{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }} {{ ne .a \"1\" }}",
            "true true true false false",
        ),
        ("{{ eq .b \"x\" \"y\" \"two\" }}", "true"),
        ("{{ eq (add 1 1) 2 }}", "true"),
        (
            "{{ html \"<a href='x'>\" }} {{ urlquery \"a b&c\" }} {{ js \"it's\" }}",
            "&lt;a href=&#39;x&#39;&gt; a+b%26c it\\'s",
        ),
        ("{{ .b | upper | lower | title }}", "Two"),
        ("{{ \"hello world\" | title }}", "Hello World"),
        ("{{ ToUpper \"This is a string\" | ToLower }}", "this is a string"),
        ("{{ Trim \"--x--\" \"-\" }} {{ TrimLeft \"--x--\" \"-\" }} {{ TrimRight \"--x--\" \"-\" }}", "x x-- --x"),
        (
            "{{ TrimPrefix \"prefix-x\" \"prefix-\" }} {{ TrimSuffix \"x.log\" \".log\" }} {{ TrimSpace \"  x \" }}",
            "x x x",
        ),
        ("{{ \"日本語\" | trunc 2 }} {{ \"日本語\" | trunc -1 }} {{ substr 1 2 \"日本語\" }}", "日本 語 本"),
        ("{{ substr 20 -1 \"abc\" }}|{{ substr -1 1 \"abc\" }}", "|a"),
        ("{{ alignLeft 6 \"ab\" }}|{{ alignRight 6 \"ab\" }}|", "ab    |    ab|"),
        ("{{ add 1 2 3 }} {{ sub 10 3 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod -7 3 }}", "6 7 24 3 -1"),
        ("{{ add \"0x10\" \"1.00\" \"x\" }}", "17"),
        ("{{ addf 0.1 0.2 }} {{ mulf 1.1 1.1 }} {{ subf 1 0.9 }} {{ divf 1 3 }}", "0.3 1.21 0.1 0.3333333333333333"),
        ("{{ round 2.5 0 }} {{ round -2.5 0 }} {{ round 1.2345 2 }}", "3 -3 1.23"),
        ("{{ int \"12.0\" }} {{ int \"12.5\" }} {{ float64 \"1e2\" }} {{ int 3.9 }}", "12 0 100 3"),
        ("{{ max 1 5 3 }} {{ min 4 2 }} {{ maxf 1.5 2 }} {{ minf 1.5 2 }}", "5 2 2 1.5"),
        ("{{ ceil 1.1 }} {{ floor -1.1 }} {{ ceil \"x\" }}", "2 -2 0"),
        ("{{ default \"d\" 0 }} {{ default \"d\" 1 }} {{ default \"d\" false }} {{ default \"d\" \"\" }}", "d 1 d d"),
        ("{{ b64dec \"!!\" }}", "illegal base64 data at input byte 0"),
        ("{{ urlencode \"a b/c\" }} {{ urldecode \"a+b%2Fc\" }}", "a+b%2Fc a b/c"),
        ("{{ \"a.b.c\" | replace \".\" \"-\" }} {{ Replace \"aaa\" \"a\" \"b\" 2 }}", "a-b-c bba"),
        ("{{ repeat 0 \"x\" }}|{{ indent 2 \"a\\nb\" }}", "|  a\n  b"),
        ("{{ trimAll \"$\" \"$5.00$\" }}", "5.00"),
        ("{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }}", "-W-xxW-"),
        ("{{ count \"\" \"abc\" }}", "4"),
        ("{{ __line__ }}", "the line"),
        (
            "{{ __timestamp__.Unix }} {{ (__timestamp__).Year }} {{ __timestamp__.Format \"15:04\" }}",
            "1656353124 2022 18:05",
        ),
        ("{{ __timestamp__ | date \"Mon Jan 2 15:04:05.000 MST 2006\" }}", "Mon Jun 27 18:05:24.120 UTC 2022"),
        ("{{ __timestamp__ | date \"2006-01-02T15:04:05.00Z07:00\" }}", "2022-06-27T18:05:24.12Z"),
        ("{{ date \"02/01/06 3:04PM\" 0 }}", "01/01/70 12:00AM"),
        ("{{ toDate \"2006-01-02T15:04:05-07:00\" \"2021-11-02T10:00:00+02:00\" | unixEpoch }}", "1635840000"),
        ("{{ toDate \"2006-01-02\" \"garbage\" | unixEpoch }}", "-62135596800"),
        ("{{ toDate \"Jan _2 15:04:05.000\" \"Mar  7 01:02:03.456\" }}", "0000-03-07 01:02:03.456 +0000 UTC"),
        (
            "{{ toDateInZone \"02 Jan 06 15:04 MST\" \"UTC\" \"10 Mar 23 01:32 UTC\" | unixEpochMillis }}",
            "1678411920000",
        ),
        ("{{ .a | printf \"%s!\" }}", "1!"),
    ];
    for (tmpl, want) in cases {
        assert_eq!(exec(tmpl, l).as_deref(), Ok(*want), "{tmpl}");
    }
}

#[test]
fn template_error_messages() {
    let l: &[(&str, &str)] = &[("a", "1"), ("b", "two")];
    let cases: Pairs<'_> = &[
        ("{{ .b 1 }}", r#"template: line:1:3: executing "line" at <.b>: b is not a method but has arguments"#),
        ("{{ 1 2 }}", r#"template: line:1:3: executing "line" at <1>: can't give argument to non-function 1"#),
        ("{{ nil }}", r#"template: line:1:3: executing "line" at <nil>: nil is not a command"#),
        (
            "{{ lt .b 1 }}",
            r#"template: line:1:3: executing "line" at <lt>: error calling lt: incompatible types for comparison"#,
        ),
        (
            "{{ lt true false }}",
            r#"template: line:1:3: executing "line" at <lt>: error calling lt: invalid type for comparison"#,
        ),
        ("{{ len 3 }}", r#"template: line:1:3: executing "line" at <len>: error calling len: len of type int"#),
        (
            "{{ index .b 10 }}",
            r#"template: line:1:3: executing "line" at <index>: error calling index: index out of range: 10"#,
        ),
        (
            "{{ urldecode \"%zz\" }}",
            r#"template: line:1:3: executing "line" at <urldecode>: error calling urldecode: invalid URL escape "%zz""#,
        ),
        (
            "{{ divf 1 0 }}",
            r#"template: line:1:3: executing "line" at <divf>: error calling divf: decimal division by 0"#,
        ),
        (
            "{{ repeat -1 \"x\" }}",
            r#"template: line:1:3: executing "line" at <repeat>: error calling repeat: strings: negative Repeat count"#,
        ),
        ("{{ upper 1 }}", r#"template: line:1:9: executing "line" at <1>: expected string; found 1"#),
        (
            "{{ .a | repeat 2 | add 1 | upper }}",
            r#"template: line:1:27: executing "line" at <upper>: wrong type for value; expected string; got int64"#,
        ),
        (
            "{{ unixEpoch .a }}",
            r#"template: line:1:13: executing "line" at <.a>: wrong type for value; expected time.Time; got string"#,
        ),
        ("{{ range .a }}{{ end }}", r#"template: line:1:9: executing "line" at <.a>: range can't iterate over 1"#),
        (
            "{{ range $i, $e := 3 }}{{ end }}",
            r#"template: line:1:19: executing "line" at <3>: can't use 3 to iterate over more than one variable"#,
        ),
        (
            "{{ (fromJson \"1\").x }}",
            r#"template: line:1:4: executing "line" at <fromJson>: can't evaluate field x in type float64"#,
        ),
        (
            "{{ and }}",
            r#"template: line:1:3: executing "line" at <and>: wrong number of args for and: want at least 1 got 0"#,
        ),
        (
            "{{ printf }}",
            r#"template: line:1:3: executing "line" at <printf>: wrong number of args for printf: want at least 1 got 0"#,
        ),
    ];
    for (tmpl, want) in cases {
        assert_eq!(exec(tmpl, l).expect_err("must fail"), *want, "{tmpl}");
    }
}
