use super::super::decolorize::decolorize;
use super::super::unpack::Unpack;
use super::{Pairs, builder, pairs};

#[test]
fn unpack_cases() {
    let cases: &[(&str, &str, Pairs<'_>, Pairs<'_>, Option<&str>)] = &[
        (
            "only map[string]string",
            r#"{"bar":1,"app":"foo","namespace":"prod","_entry":"some message","pod":{"uid":"1"}}"#,
            &[("cluster", "us-central1")],
            &[("app", "foo"), ("namespace", "prod"), ("cluster", "us-central1")],
            Some("some message"),
        ),
        (
            "wrong json",
            r#""app":"foo","namespace":"prod","_entry":"some message","pod":{"uid":"1"}"#,
            &[],
            &[("__error__", "JSONParserErr"), ("__error_details__", "expecting json object(6), but it is not")],
            None,
        ),
        ("empty line", "", &[("cluster", "us-central1")], &[("cluster", "us-central1")], None),
        (
            "not a map",
            r#"["foo","bar"]"#,
            &[("cluster", "us-central1")],
            &[
                ("__error__", "JSONParserErr"),
                ("__error_details__", "expecting json object(6), but it is not"),
                ("cluster", "us-central1"),
            ],
            None,
        ),
        (
            "should rename",
            r#"{"bar":1,"app":"foo","namespace":"prod","_entry":"some message","pod":{"uid":"1"}}"#,
            &[("cluster", "us-central1"), ("app", "bar")],
            &[("app", "bar"), ("app_extracted", "foo"), ("namespace", "prod"), ("cluster", "us-central1")],
            Some("some message"),
        ),
        (
            "no packed entry",
            r#"{"bar":1,"app":"foo","namespace":"prod","pod":{"uid":"1"}}"#,
            &[("app", "bar"), ("cluster", "us-central1")],
            &[("app", "bar"), ("cluster", "us-central1")],
            None,
        ),
        (
            "escaped quotes",
            r#"{"_entry":"I0303 17:49:45.976518    1526 kubelet_getters.go:178] \"Pod status updated\" pod=\"openshift-etcd/etcd\" status=Running"}"#,
            &[("app", "bar")],
            &[("app", "bar")],
            Some(
                r#"I0303 17:49:45.976518    1526 kubelet_getters.go:178] "Pod status updated" pod="openshift-etcd/etcd" status=Running"#,
            ),
        ),
        (
            "invalid key names",
            r#"{"foo.bar":"10ms","test-dash":"foo","_entry":"some message"}"#,
            &[("foo", "bar")],
            &[("foo", "bar"), ("foo_bar", "10ms"), ("test_dash", "foo")],
            Some("some message"),
        ),
        (
            "docs example",
            r#"{"container":"myapp","pod":"pod-3223f","_entry":"original log message"}"#,
            &[],
            &[("container", "myapp"), ("pod", "pod-3223f")],
            Some("original log message"),
        ),
        (
            "malformed after entry",
            r#"{"_entry":"x","a":"b""#,
            &[],
            &[
                ("__error__", "JSONParserErr"),
                ("__error_details__", "Value is array, but can't find closing ']' symbol"),
            ],
            None,
        ),
    ];
    for (name, line, stream, want, want_line) in cases {
        let mut u = Unpack::new();
        let mut b = builder(stream);
        let out = u.process(line.as_bytes(), &mut b);
        assert_eq!(b.labels(), pairs(want), "{name}");
        assert_eq!(out.as_deref(), *want_line, "{name}");
    }
}

#[test]
fn decolorize_cases() {
    let cases: Pairs<'_> = &[
        ("sample text", "sample text"),
        ("\x1b[0;32mgreen\x1b[0m \x1b[0;31mred\x1b[0m", "green red"),
        ("\x1b[1mbold\x1b[22m", "bold"),
        ("\x1b]0;title\x07rest", "rest"),
        ("\u{9b}31mX", "X"),
        ("no \x1b escape", "no \x1b escape"),
    ];
    for (input, want) in cases {
        assert_eq!(decolorize(input), *want, "{input:?}");
    }
}
