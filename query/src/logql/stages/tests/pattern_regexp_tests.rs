use super::super::pattern::PatternParser;
use super::super::regexp::{RegexpParser, translate_go_regex};
use super::{Pairs, builder, pairs};

#[test]
fn pattern_matches_loki_fixtures() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("foo <foo> bar", "foo buzz bar", &["buzz"]),
        ("foo <foo> bar<fuzz>", "foo buzz bar", &["buzz", ""]),
        ("<foo>foo <bar> bar", "foo buzz bar", &["", "buzz"]),
        ("<foo> bar<fuzz>", " bar", &["", ""]),
        ("<foo>bar<baz>", " bar ", &[" ", " "]),
        ("<foo> bar<baz>", " bar ", &["", " "]),
        ("<foo>bar <baz>", " bar ", &[" ", ""]),
        ("<foo>", " bar ", &[" bar "]),
        ("<path>?<_>", "/api/plugins/versioncheck?slugIn=snuids-trafficlights-panel", &["/api/plugins/versioncheck"]),
        ("<path>?<_>", "/api/plugins/status", &["/api/plugins/status"]),
        (
            r#"<ip> <userid> <user> [<_>] "<method> <path> <_>" <status> <size>"#,
            r#"127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
            &["127.0.0.1", "user-identifier", "frank", "GET", "/apache_pb.gif", "200", "2326"],
        ),
        (
            "<_> <id> [<level>] [<no>] [<component>] ",
            "2020-08-06T14:25:02.835618Z 0 [Note] [MY-012487] [InnoDB] DDL log recovery : begin",
            &["0", "Note", "MY-012487", "InnoDB"],
        ),
        (
            "<level>  [<component>]<_> in <duration>.<_>",
            "INFO  [Service Thread] 2021-05-19 07:40:12,130 GCInspector.java:284 - ParNew GC in 248ms.  CMS Old Gen: 5043436640",
            &["INFO", "Service Thread", "248ms"],
        ),
        (
            r#"<_> msg="<method> <path> (<status>) <duration>""#,
            r#"level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 traceID=7fbb92fd0eb9c65d msg="POST /loki/api/v1/push (204) 1.238734ms""#,
            &["POST", "/loki/api/v1/push", "204", "1.238734ms"],
        ),
        (
            "<_> <_> <level> | <component>: <_> peer <peer_id> <_> tcp <ip>:<_>",
            "2021-05-19 08:16:50.181436 W | rafthttp: health check for peer fd8275e521cfb532 could not connect: dial tcp 10.32.85.85:2380: connect: connection refused",
            &["W", "rafthttp", "fd8275e521cfb532", "10.32.85.85"],
        ),
        (
            "<_>][<level>][<component>] [<id>] [<index>]",
            "[2021-05-19T06:54:06,994][INFO ][o.e.c.m.MetaDataMappingService] [1f605d47-8454-4bfb-a67f-49f318bf837a] [usage-stats-2021.05.19/O2Je9IbmR8CqFyUvNpTttA] update_mapping [report]",
            &[
                "INFO ",
                "o.e.c.m.MetaDataMappingService",
                "1f605d47-8454-4bfb-a67f-49f318bf837a",
                "usage-stats-2021.05.19/O2Je9IbmR8CqFyUvNpTttA",
            ],
        ),
        ("unicode <emoji> character", "unicode 🤷 character", &["🤷"]),
        ("unicode ▶ <what>", "unicode ▶ character", &["character"]),
        ("foo <f>\"", "bar", &[]),
        ("x <a>", "", &[]),
    ];
    for (pattern, line, want) in cases {
        let mut p = PatternParser::new(pattern).expect("valid pattern");
        let got: Vec<String> = p
            .matches(line.as_bytes())
            .to_vec()
            .into_iter()
            .map(|(s, e)| String::from_utf8_lossy(&line.as_bytes()[s..e]).into_owned())
            .collect();
        assert_eq!(got, *want, "{pattern}");
    }
}

#[test]
fn pattern_validation_errors() {
    let cases: &[(&str, Option<&str>)] = &[
        ("<f>", None),
        ("<f> <a>", None),
        ("", Some("parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL")),
        ("<_>", Some("at least one capture is required")),
        ("foo <_> bar <_>", Some("at least one capture is required")),
        ("foo bar buzz", Some("at least one capture is required")),
        ("<f><f>", Some("found consecutive capture '<f><f>': invalid expression")),
        ("<f> f<d><b>", Some("found consecutive capture '<d><b>': invalid expression")),
        ("<f> f<f>", Some("duplicate capture name (f): invalid expression")),
        ("f<f><_>", Some("found consecutive capture '<f><_>': invalid expression")),
        ("<f>f<f><_>", Some("found consecutive capture '<f><_>': invalid expression")),
        ("<1a> <b>", None),
        ("<a b> <c>", None),
    ];
    for (pattern, want) in cases {
        let got = PatternParser::new(pattern).err().map(|e| e.to_string());
        assert_eq!(got.as_deref(), *want, "{pattern:?}");
    }
}

#[test]
fn pattern_parser_labels() {
    let cases: &[(&str, &str, Pairs<'_>, Pairs<'_>)] = &[
        (
            r#"<ip> <userid> <user> [<_>] "<method> <path> <_>" <status> <size>"#,
            r#"127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
            &[("foo", "bar")],
            &[
                ("foo", "bar"),
                ("ip", "127.0.0.1"),
                ("userid", "user-identifier"),
                ("user", "frank"),
                ("method", "GET"),
                ("path", "/apache_pb.gif"),
                ("status", "200"),
                ("size", "2326"),
            ],
        ),
        (
            r#"<_> msg="<method> <path> (<status>) <duration>""#,
            r#"level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 traceID=7fbb92fd0eb9c65d msg="POST /loki/api/v1/push (204) 1.238734ms""#,
            &[("method", "bar")],
            &[
                ("method", "bar"),
                ("method_extracted", "POST"),
                ("path", "/loki/api/v1/push"),
                ("status", "204"),
                ("duration", "1.238734ms"),
            ],
        ),
        ("foo <f>\"", "bar", &[("method", "bar")], &[("method", "bar")]),
        (
            r#"<ip> - - <_> "<method> <uri> <_>" <status> <size> <_> "<agent>" <_>"#,
            r#"0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] "GET /api/plugins/versioncheck HTTP/1.1" 200 2 "-" "Go-http-client/2.0" "13.76.247.102, 34.120.177.193" "TLSv1.2" "US" """#,
            &[],
            &[
                ("ip", "0.191.12.2"),
                ("method", "GET"),
                ("uri", "/api/plugins/versioncheck"),
                ("status", "200"),
                ("size", "2"),
                ("agent", "Go-http-client/2.0"),
            ],
        ),
    ];
    for (pattern, line, stream, want) in cases {
        let mut p = PatternParser::new(pattern).expect("valid");
        let mut b = builder(stream);
        p.process(line.as_bytes(), &mut b);
        assert_eq!(b.labels(), pairs(want), "{pattern}");
    }
}

#[test]
fn regexp_constructor() {
    let cases: &[(&str, bool)] = &[
        ("w.*", true),
        ("f(.*) (foo|bar|buzz)", true),
        ("blah (.*) (?P<foo>)", false),
        ("blah (.*) (?P<foo>foo)(?P<bar>barr)", false),
        ("blah (.*) (?P<foo$>foo)(?P<bar>barr)", true),
        ("blah (.*) (?P<foo>foo)(?P<foo>barr)", true),
        ("(?P<1a>x)", true),
        ("(unclosed", true),
    ];
    for (re, want_err) in cases {
        assert_eq!(RegexpParser::new(re).is_err(), *want_err, "{re}");
    }
    assert_eq!(
        RegexpParser::new("w.*").expect_err("no capture").to_string(),
        "at least one named capture must be supplied"
    );
}

#[test]
fn regexp_parser_labels() {
    let cases: &[(&str, &str, Pairs<'_>, Pairs<'_>)] = &[
        ("(?P<foo>foo|bar)buzz", "blah", &[("app", "foo")], &[("app", "foo")]),
        ("(?P<foo>.*)buzz", "matchebuzz barbuzz", &[("app", "bar")], &[("app", "bar"), ("foo", "matchebuzz bar")]),
        ("(?P<bar>bar)buzz", "barbuzz", &[("bar", "foo")], &[("bar", "foo"), ("bar_extracted", "bar")]),
        (
            r"status=(?P<status>\w+),latency=(?P<latency>\w+)(ms|ns)",
            "status=200,latency=500ms",
            &[("app", "foo")],
            &[("app", "foo"), ("status", "200"), ("latency", "500")],
        ),
        ("(?P<a>x)|(?P<b>y)", "y", &[], &[("a", ""), ("b", "y")]),
        (r"(?P<d>\d+)", "٣٤ 42", &[], &[("d", "42")]),
        (
            r#"^(?P<ip>\S+) \S+ \S+ \[(?P<ts>[^\]]+)\] "(?P<method>\S+)"#,
            r#"10.0.0.1 - - [14/Dec/2020:22:56:24 +0000] "GET /x HTTP/1.1""#,
            &[],
            &[("ip", "10.0.0.1"), ("ts", "14/Dec/2020:22:56:24 +0000"), ("method", "GET")],
        ),
    ];
    for (re, line, stream, want) in cases {
        let mut p = RegexpParser::new(re).expect("valid");
        let mut b = builder(stream);
        p.process(line.as_bytes(), &mut b);
        assert_eq!(b.labels(), pairs(want), "{re}");
    }
}

#[test]
fn go_regex_translation() {
    assert_eq!(translate_go_regex(r"\d+"), "[0-9]+");
    assert_eq!(translate_go_regex(r"[\d.]"), "[[:digit:].]");
    assert_eq!(translate_go_regex(r"[[a]"), r"[\[a]");
    assert_eq!(translate_go_regex(r"[]a]"), r"[\]a]");
    assert_eq!(translate_go_regex(r"\Qa.b\E"), r"a\.b");
    assert_eq!(translate_go_regex(r"[[:alpha:]]"), "[[:alpha:]]");
}
