use super::super::json::{JsonParser, PathSegment, parse_json_expression};
use super::{Pairs, builder, pairs};

fn run(line: &str, stream: &[(&str, &str)], params: &[(&str, &str)]) -> Vec<(String, String)> {
    let params = params.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
    let mut p = JsonParser::new(params).expect("valid parser");
    let mut b = builder(stream);
    p.process(line.as_bytes(), &mut b);
    b.labels()
}

#[test]
fn json_all_fields() {
    let cases: &[(&str, &str, Pairs<'_>, Pairs<'_>)] = &[
        (
            "multi depth",
            r#"{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}"#,
            &[],
            &[("app", "foo"), ("namespace", "prod"), ("pod_uuid", "foo"), ("pod_deployment_ref", "foobar")],
        ),
        (
            "numeric",
            r#"{"counter":1, "price": {"_net_":5.56909}}"#,
            &[],
            &[("counter", "1"), ("price__net_", "5.56909")],
        ),
        ("whitespace key value", r#"{" ": {"foo":"bar"}}"#, &[], &[("foo", "bar")]),
        ("whitespace key and subkey", r#"{" ": {" ":"bar"}}"#, &[], &[("", "bar")]),
        ("whitespace key and empty subkey", r#"{" ": {"":"bar"}}"#, &[], &[("", "bar")]),
        ("empty key and empty subkey", r#"{"": {"":"bar"}}"#, &[], &[("", "bar")]),
        (
            "escaped",
            r#"{"counter":1,"foo":"foo\\\"bar", "price": {"_net_":5.56909}}"#,
            &[],
            &[("counter", "1"), ("price__net_", "5.56909"), ("foo", r#"foo\"bar"#)],
        ),
        (
            "utf8 error rune",
            "{\"counter\":1,\"foo\":\"\u{FFFD}\", \"price\": {\"_net_\":5.56909}}",
            &[],
            &[("counter", "1"), ("price__net_", "5.56909"), ("foo", " ")],
        ),
        ("skip arrays", r#"{"counter":1, "price": {"net_":["10","20"]}}"#, &[], &[("counter", "1")]),
        ("bad key replaced", r#"{"cou-nter":1}"#, &[], &[("cou_nter", "1")]),
        (
            "duplicate extraction",
            r#"{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}},"next":{"err":false}}"#,
            &[("app", "bar")],
            &[
                ("app", "bar"),
                ("app_extracted", "foo"),
                ("namespace", "prod"),
                ("pod_uuid", "foo"),
                ("next_err", "false"),
                ("pod_deployment_ref", "foobar"),
            ],
        ),
        ("null skipped", r#"{"a":null,"b":true}"#, &[], &[("b", "true")]),
        ("digit key", r#"{"1a":"x","b":{"2c":"y"}}"#, &[], &[("_1a", "x"), ("b_2c", "y")]),
        ("nested whitespace key", r#"{"a":{" ":{"b":"c"}}}"#, &[], &[("a__b", "c")]),
        ("unicode escape", r#"{"a":"\u00e9\ud83d\ude00"}"#, &[], &[("a", "é😀")]),
        ("invalid escape gives empty", r#"{"a":"\q"}"#, &[], &[("a", "")]),
        (
            "docs example",
            r#"{"protocol":"HTTP/2.0","servers":["129.0.1.1","10.2.1.3"],"request":{"time":"6.032","method":"GET","host":"foo.grafana.net","size":"55","headers":{"Accept":"*/*","User-Agent":"curl/7.68.0"}},"response":{"status":401,"size":"228","latency_seconds":"6.031"}}"#,
            &[],
            &[
                ("protocol", "HTTP/2.0"),
                ("request_time", "6.032"),
                ("request_method", "GET"),
                ("request_host", "foo.grafana.net"),
                ("request_size", "55"),
                ("response_status", "401"),
                ("response_size", "228"),
                ("response_latency_seconds", "6.031"),
                ("request_headers_Accept", "*/*"),
                ("request_headers_User_Agent", "curl/7.68.0"),
            ],
        ),
        ("trailing garbage ignored", r#"{"a":"b"} trailing"#, &[], &[("a", "b")]),
    ];
    for (name, line, stream, want) in cases {
        assert_eq!(run(line, stream, &[]), pairs(want), "{name}");
    }
}

#[test]
fn json_errors() {
    let err = "Value looks like object, but can't find closing '}' symbol";
    let cases: &[(&str, Pairs<'_>)] = &[
        ("{n}", &[("__error__", "JSONParserErr"), ("__error_details__", err)]),
        ("not json", &[("__error__", "JSONParserErr"), ("__error_details__", err)]),
        ("", &[("__error__", "JSONParserErr"), ("__error_details__", err)]),
        (
            r#"{"a":"b","c":tru}"#,
            &[("a", "b"), ("__error__", "JSONParserErr"), ("__error_details__", "Unknown value type")],
        ),
        (
            r#"{"a":"b"#,
            &[
                ("__error__", "JSONParserErr"),
                ("__error_details__", "Value is string, but can't find closing '\"' symbol"),
            ],
        ),
        (r#"{"a":"b",}"#, &[("a", "b"), ("__error__", "JSONParserErr"), ("__error_details__", err)]),
        (r#"{"a":{"b":1"#, &[("__error__", "JSONParserErr"), ("__error_details__", err)]),
        (r#"{"a" "b"}"#, &[("__error__", "JSONParserErr"), ("__error_details__", "Malformed JSON error")]),
        (r#"{"a":"b" "c":1}"#, &[("a", "b"), ("__error__", "JSONParserErr"), ("__error_details__", err)]),
    ];
    for (line, want) in cases {
        assert_eq!(run(line, &[], &[]), pairs(want), "{line}");
    }
}

#[test]
fn json_expressions() {
    let line = r#"{"app":"foo","field with space":"value","field with ÜFT8👌":"value","null_field":null,"bool_field":false,"namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar", "params": [1,2,3,"string_value"]}}}"#;
    let cases: &[(&str, Pairs<'_>, Pairs<'_>, Pairs<'_>)] = &[
        ("single field", &[("app", "app")], &[], &[("app", "foo")]),
        ("alternate syntax", &[("test", r#"["field with space"]"#)], &[], &[("test", "value")]),
        (
            "multiple fields",
            &[("app", "app"), ("namespace", "namespace")],
            &[],
            &[("app", "foo"), ("namespace", "prod")],
        ),
        ("utf8", &[("utf8", r#"["field with ÜFT8👌"]"#)], &[], &[("utf8", "value")]),
        ("nested field", &[("uuid", "pod.uuid")], &[], &[("uuid", "foo")]),
        ("nested alt", &[("uuid", r#"pod["uuid"]"#)], &[], &[("uuid", "foo")]),
        ("nested alt 2", &[("uuid", r#"["pod"]["uuid"]"#)], &[], &[("uuid", "foo")]),
        ("nested alt 3", &[("uuid", r#"["pod"].uuid"#)], &[], &[("uuid", "foo")]),
        ("array element", &[("param", "pod.deployment.params[0]")], &[], &[("param", "1")]),
        ("object element not present", &[("undefined", r#"pod[""]"#)], &[], &[("undefined", "")]),
        ("invalid array index", &[("param", r#"pod.deployment.params[""]"#)], &[], &[("param", "")]),
        ("array string element", &[("param", "pod.deployment.params[3]")], &[], &[("param", "string_value")]),
        ("full array", &[("params", "pod.deployment.params")], &[], &[("params", r#"[1,2,3,"string_value"]"#)]),
        (
            "full object",
            &[("deployment", "pod.deployment")],
            &[],
            &[("deployment", r#"{"ref":"foobar", "params": [1,2,3,"string_value"]}"#)],
        ),
        ("matching nothing", &[("nope", "pod.nope")], &[], &[("nope", "")]),
        ("null field", &[("nf", "null_field")], &[], &[("nf", "")]),
        ("boolean field", &[("bool", "bool_field")], &[], &[("bool", "false")]),
        ("label override", &[("uuid", "pod.uuid")], &[("uuid", "bar")], &[("uuid", "bar"), ("uuid_extracted", "foo")]),
        (
            "non-matching expression",
            &[("request_size", "request.size.invalid")],
            &[("uuid", "bar")],
            &[("uuid", "bar"), ("request_size", "")],
        ),
        ("existing labels untouched", &[("uuid", "will.not.work")], &[("foo", "bar")], &[("foo", "bar"), ("uuid", "")]),
    ];
    for (name, params, stream, want) in cases {
        assert_eq!(run(line, stream, params), pairs(want), "{name}");
    }
}

#[test]
fn json_expression_edge_lines() {
    let p = &[("uuid", "pod.uuid")];
    assert_eq!(run("{}", &[], p), pairs(&[("uuid", "")]));
    assert_eq!(run("", &[("foo", "bar")], p), pairs(&[("foo", "bar")]));
    assert_eq!(run("invalid json", &[("foo", "bar")], p), pairs(&[("foo", "bar"), ("__error__", "JSONParserErr")]));
    let app = &[("app", "app")];
    assert_eq!(
        run(r#"{"app":"{ \"key\": \"value\", \"key2\":\"value2\"}"}"#, &[], app),
        pairs(&[("app", r#"{ "key": "value", "key2":"value2"}"#)])
    );
    assert_eq!(
        run(r#"{"app":{"name":"great \"loki\""}}"#, &[], app),
        pairs(&[("app", r#"{"name":"great \"loki\""}"#)])
    );
    assert_eq!(
        run(r#"{"app":"{\"name\":\"great \\\"loki\\\"\"}"}"#, &[], app),
        pairs(&[("app", r#"{"name":"great \"loki\""}"#)])
    );
    let docs = r#"{"servers":["129.0.1.1","10.2.1.3"],"request":{"headers":{"User-Agent":"curl/7.68.0"}}}"#;
    assert_eq!(
        run(docs, &[], &[("first_server", "servers[0]"), ("ua", r#"request.headers["User-Agent"]"#)]),
        pairs(&[("first_server", "129.0.1.1"), ("ua", "curl/7.68.0")])
    );
    assert_eq!(run(r#"[{"a":"x"},{"a":"y"}]"#, &[], &[("v", "[1].a")]), pairs(&[("v", "y")]));
    assert_eq!(
        run(r#"{"a":tru}"#, &[], &[("a", "a")]),
        pairs(&[("a", ""), ("__error__", "JSONParserErr"), ("__error_details__", "Unknown value type")])
    );
}

#[test]
fn json_expression_parse() {
    use PathSegment::{Index, Key};
    let ok: &[(&str, Vec<PathSegment>)] = &[
        ("app", vec![Key("app".into())]),
        (r#"["field with space"]"#, vec![Key("field with space".into())]),
        ("[0]", vec![Index(0)]),
        ("pod.uuid", vec![Key("pod".into()), Key("uuid".into())]),
        (
            "pod.deployment.params[0].param",
            vec![Key("pod".into()), Key("deployment".into()), Key("params".into()), Index(0), Key("param".into())],
        ),
        (
            r#"pod.deployment.params[0]["param"]"#,
            vec![Key("pod".into()), Key("deployment".into()), Key("params".into()), Index(0), Key("param".into())],
        ),
        ("utf8", vec![Key("utf8".into())]),
    ];
    for (e, want) in ok {
        assert_eq!(&parse_json_expression(e).expect("parses"), want, "{e}");
    }
    let bad: &[(&str, &str)] = &[
        ("field with space", "syntax error: unexpected FIELD"),
        (r#""pod"]"#, "syntax error: unexpected STRING, expecting LSB or FIELD"),
        (r#"["pod""#, "syntax error: unexpected $end, expecting RSB"),
        (r#"["pod""uuid"]"#, "syntax error: unexpected STRING, expecting RSB"),
        ("pod..uuid", "syntax error: unexpected DOT, expecting FIELD"),
        (r#"["key"#, "syntax error: unexpected $end, expecting RSB"),
        ("a[1.5]", "syntax error: unexpected $end, expecting STRING or INDEX"),
        ("a-b", "unexpected char -"),
    ];
    for (e, want) in bad {
        assert_eq!(parse_json_expression(e).expect_err("fails"), *want, "{e}");
    }
    let err = JsonParser::new(vec![("app".into(), "field with space".into())]).expect_err("invalid");
    assert_eq!(err.to_string(), "cannot parse expression [field with space]: syntax error: unexpected FIELD");
    let err = JsonParser::new(vec![("1app".into(), "app".into())]).expect_err("invalid");
    assert_eq!(err.to_string(), "invalid extracted label name '1app'");
}
