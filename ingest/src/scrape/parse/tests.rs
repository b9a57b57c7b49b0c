use lookout_storage::{Labels, MetricMetadata, MetricType, is_stale_nan};

use super::*;

const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn text(body: &str) -> Exposition {
    parse(body.as_bytes(), TEXT, 0).unwrap()
}

fn om(body: &str) -> Exposition {
    parse(body.as_bytes(), OM, 42).unwrap()
}

fn text_err(body: &str) -> String {
    parse(body.as_bytes(), TEXT, 0).unwrap_err().to_string()
}

fn om_err(body: &str) -> String {
    parse(body.as_bytes(), OM, 0).unwrap_err().to_string()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn meta(family: &str, kind: MetricType, help: &str, unit: &str) -> MetricMetadata {
    MetricMetadata { metric_family: family.into(), kind, help: help.into(), unit: unit.into() }
}

#[test]
fn content_type_picks_the_format() {
    assert_eq!(Format::from_content_type(OM), Format::OpenMetrics);
    assert_eq!(Format::from_content_type("Application/OpenMetrics-Text"), Format::OpenMetrics);
    assert_eq!(Format::from_content_type(TEXT), Format::PrometheusText);
    assert_eq!(Format::from_content_type(""), Format::PrometheusText);
    assert_eq!(Format::from_content_type("application/json"), Format::PrometheusText);
    assert!(ACCEPT_HEADER.starts_with("application/openmetrics-text;version=1.0.0,"));
}

/// Prometheus's own `TestPromParse` input (model/textparse/promparse_test.go), less the UTF-8
/// help line, with the samples and metadata it expects.
#[test]
fn prometheus_text_parse_test_input() {
    let input = "# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# \tTYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05
go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05
go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05
go_gc_duration_seconds{quantile=\"0.8\", a=\"b\"} 8.3835e-05
go_gc_duration_seconds{ quantile=\"0.9\", a=\"b\"} 8.3835e-05
# Hrandom comment starting with prefix of HELP
#
wind_speed{A=\"2\",c=\"3\"} 12345
# comment with escaped \\n newline
# comment with escaped \\ escape character
# HELP nohelp1
# HELP nohelp2 
go_gc_duration_seconds{ quantile=\"1.0\", a=\"b\" } 8.3835e-05
go_gc_duration_seconds { quantile=\"1.0\", a=\"b\" } 8.3835e-05
go_gc_duration_seconds { quantile= \"1.0\", a= \"b\", } 8.3835e-05
go_gc_duration_seconds { quantile = \"1.0\", a = \"b\" } 8.3835e-05
go_gc_duration_seconds { quantile = \"2.0\" a = \"b\" } 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b=\"c\"}\t1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  \t123123
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore=\"foo\"} 1
testmetric{label=\"\\\"bar\\\"\"} 1
# HELP metric foo\x00bar
null_byte_metric{a=\"abc\x00\"} 1";
    let got = text(input);
    let gc = |q: &str, a: bool| {
        let mut l = vec![("__name__", "go_gc_duration_seconds"), ("quantile", q)];
        if a {
            l.push(("a", "b"));
        }
        labels(&l)
    };
    let want_labels = vec![
        gc("0", false),
        gc("0.25", false),
        gc("0.5", true),
        gc("0.8", true),
        gc("0.9", true),
        labels(&[("__name__", "wind_speed"), ("A", "2"), ("c", "3")]),
        gc("1.0", true),
        gc("1.0", true),
        gc("1.0", true),
        gc("1.0", true),
        gc("2.0", true),
        labels(&[("__name__", "go_gc_duration_seconds_count")]),
        labels(&[("__name__", "some:aggregate:rate5m"), ("a_b", "c")]),
        labels(&[("__name__", "go_goroutines")]),
        labels(&[("__name__", "_metric_starting_with_underscore")]),
        labels(&[("__name__", "testmetric"), ("_label_starting_with_underscore", "foo")]),
        labels(&[("__name__", "testmetric"), ("label", "\"bar\"")]),
        labels(&[("__name__", "null_byte_metric"), ("a", "abc\0")]),
    ];
    assert_eq!(got.samples.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(), want_labels);
    assert_eq!(got.samples[0].v, 4.9351e-05);
    assert_eq!(got.samples[5].v, 12345.0);
    assert_eq!(got.samples[13].t, Some(123123));
    assert_eq!(got.samples[13].v, 33.0);
    assert!(got.samples.iter().enumerate().all(|(i, s)| i == 13 || s.t.is_none()));
    assert_eq!(
        got.metadata,
        vec![
            meta("go_gc_duration_seconds", MetricType::Summary, "A summary of the GC invocation durations.", ""),
            meta("nohelp1", MetricType::Unknown, "", ""),
            meta("nohelp2", MetricType::Unknown, "", ""),
            meta("go_goroutines", MetricType::Gauge, "Number of goroutines that currently exist.", ""),
            meta("metric", MetricType::Unknown, "foo\0bar", ""),
        ]
    );
}

#[test]
fn text_values_timestamps_and_escapes() {
    let got = text(
        "# HELP h a \\\\ backslash,\\na newline and \\\"quotes\\\"\n\
         # TYPE h untyped\n\
         \n   \n\
         h{v=\"a\\\\b\\nc\\\"d\\te\"} NaN\n\
         a +Inf\nb -Inf\nc Inf\nd 1.5e3 0\ne -2E-2 1700000000000\nf .5\ng 7.\n",
    );
    assert_eq!(got.metadata[0].help, "a \\ backslash,\na newline and \\\"quotes\\\"");
    assert_eq!(got.samples[0].labels.get("v"), Some("a\\b\nc\"d\\te"));
    assert!(got.samples[0].v.is_nan() && !is_stale_nan(got.samples[0].v));
    let values: Vec<f64> = got.samples[1..].iter().map(|s| s.v).collect();
    assert_eq!(values, vec![f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, 1500.0, -0.02, 0.5, 7.0]);
    assert_eq!(got.samples[4].t, Some(0));
    assert_eq!(got.samples[5].t, Some(1_700_000_000_000));
}

#[test]
fn text_type_applies_to_the_named_family_only_and_last_wins() {
    let got = text("# TYPE x counter\n# TYPE x gauge\n# HELP y why\nx 1\n");
    assert_eq!(got.metadata, vec![meta("x", MetricType::Gauge, "", ""), meta("y", MetricType::Unknown, "why", "")]);
}

#[test]
fn text_errors_name_line_and_problem() {
    assert_eq!(text_err("a 1\nb 2\nc{d=x} 3\n"), "line 3: expected label value, got \"x\"");
    assert_eq!(text_err("a"), "line 1: expected value after metric, got end of input");
    assert_eq!(text_err("a{b='c'} 1\n"), "line 1: expected label value, got \"'c'\"");
    assert_eq!(text_err("a{b=\n"), "line 1: expected label value, got end of line");
    assert_eq!(text_err("a{\u{ff}=\"foo\"} 1\n"), "line 1: expected label name or \"}\", got \"ÿ\"");
    let err = parse(b"a{b=\"\xff\"} 1\n", TEXT, 0).unwrap_err().to_string();
    assert_eq!(err, "line 1: label value is not valid UTF-8");
    assert_eq!(text_err("a true\n"), "line 1: expected a float value, got \"true\"");
    assert_eq!(text_err("x 1\nsomething_weird{problem=\""), "line 2: unterminated label value");
    assert_eq!(text_err("empty_label_name{=\"\"} 0"), "line 1: expected label name or \"}\", got \"=\"");
    assert_eq!(text_err("foo 1_2\n"), "line 1: expected a float value, got \"1_2\"");
    assert_eq!(text_err("foo 0x1p-3\n"), "line 1: expected a float value, got \"0x1p-3\"");
    assert_eq!(text_err("foo 0 1_2\n"), "line 1: expected end of line after timestamp, got \"_2\"");
    assert_eq!(text_err("foo 0 -12\n"), "line 1: expected timestamp or end of line, got \"-12\"");
    assert_eq!(text_err("foo 0 99999999999999999999\n"), "line 1: timestamp \"99999999999999999999\" out of range");
    assert_eq!(text_err("foo 1e400\n"), "line 1: expected a float value, got \"1e400\"");
    assert_eq!(text_err("foo -nan\n"), "line 1: expected a float value, got \"-nan\"");
    assert_eq!(text_err("{a=\"ok\"} 1"), "line 1: metric name not set");
    assert_eq!(text_err("# TYPE #\n"), "line 1: expected metric name after TYPE, got \"#\"");
    assert_eq!(text_err("# HELP #\n"), "line 1: expected metric name after HELP, got \"#\"");
    assert_eq!(text_err("# TYPE a Counter\n"), "line 1: invalid metric type \"Counter\"");
    assert_eq!(text_err("a{b=\"1\",b=\"2\"} 1\n"), "line 1: duplicate label name \"b\"");
    assert_eq!(text_err("a{__name__=\"b\"} 1\n"), "line 1: duplicate label name \"__name__\"");
    assert_eq!(text_err("9 1\n"), "line 1: expected metric name, comment or blank line, got \"9\"");
}

#[test]
fn text_crlf_is_not_a_line_ending_as_in_prometheus() {
    // Prometheus: `strconv.ParseFloat: parsing "25.88\r": invalid syntax`.
    assert_eq!(text_err("a 25.88\r\n"), "line 1: expected a float value, got \"25.88\\r\"");
    assert_eq!(text_err("# TYPE a gauge\r\n"), "line 1: invalid metric type \"gauge\\r\"");
    assert_eq!(text_err("a 1 5\r\n"), "line 1: expected end of line after timestamp, got \"\\r\"");
    // A comment may end in CR; help text keeps it.
    let got = text("# just a comment\r\n# HELP a help\r\na 1\n");
    assert_eq!(got.metadata[0].help, "help\r");
}

#[test]
fn text_nul_at_line_start_ends_the_body() {
    let got = text("a 1\n\0b 2\n");
    assert_eq!(got.samples.len(), 1);
    assert!(parse(b"a\0{b=\"ddd\"} 1", TEXT, 0).is_err());
}

#[test]
fn text_quoted_utf8_names() {
    let got = text(
        "# HELP \"go.gc\" help\n{\"go.gc\",quantile=\"0\"} 1\n{ \"go.gc\", \"a.b\" = \"c\", } 2\n{q=\"1\",\"http.status\"} 3\n",
    );
    assert_eq!(got.metadata[0].metric_family, "go.gc");
    assert_eq!(got.samples[0].labels, labels(&[("__name__", "go.gc"), ("quantile", "0")]));
    assert_eq!(got.samples[1].labels, labels(&[("__name__", "go.gc"), ("a.b", "c")]));
    assert_eq!(got.samples[2].labels, labels(&[("__name__", "http.status"), ("q", "1")]));
    assert!(text_err("a{\"b\"} 1\n").contains("metric name given twice"));
}

#[test]
fn text_empty_label_values_are_dropped() {
    let got = text("a{b=\"\",c=\"d\"} 1\n");
    assert_eq!(got.samples[0].labels, labels(&[("__name__", "a"), ("c", "d")]));
}

/// Prometheus's `TestOpenMetricsParse` input (model/textparse/openmetricsparse_test.go),
/// abridged, with `_created` series skipped as that test does.
#[test]
fn openmetrics_parse_test_input() {
    let input = "# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05
go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05
# HELP nohelp1 
# HELP help2 escape \\ \\n \\\\ \\\" \\x chars
# UNIT nounit 
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b=\"c\"} 1
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hhh histogram
hhh_bucket{le=\"+Inf\"} 1 # {id=\"histogram-bucket-test\"} 4
# TYPE ggh gaugehistogram
ggh_bucket{le=\"+Inf\"} 1 # {id=\"gaugehistogram-bucket-test\",xx=\"yy\"} 4 123.123
# TYPE ii info
ii{foo=\"bar\"} 1
# TYPE ss stateset
ss{ss=\"foo\"} 1
# TYPE un unknown
testmetric{label=\"\\\"bar\\\"\"} 1
# HELP foo Counter with and without labels
# TYPE foo counter
foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5
foo_created 1520872607.123
foo_total{a=\"b\"} 17.0 1520879607.789 # {id=\"counter-test\"} 5
foo_created{a=\"b\"} 1520872607.123
# TYPE bar summary
bar_count 17.0
bar_created 1520872608.124
# TYPE baz histogram
baz_count 17
baz_created 1520872609.125
# TYPE fizz_created gauge
fizz_created 17.0
# HELP metric foo\x00bar
null_byte_metric{a=\"abc\x00\"} 1
# EOF
";
    let got = om(input);
    let names: Vec<&str> = got.samples.iter().filter_map(|s| s.labels.metric_name()).collect();
    assert_eq!(
        names,
        vec![
            "go_gc_duration_seconds",
            "go_gc_duration_seconds",
            "go_gc_duration_seconds_count",
            "some:aggregate:rate5m",
            "go_goroutines",
            "hhh_bucket",
            "ggh_bucket",
            "ii",
            "ss",
            "testmetric",
            "foo_total",
            "foo_total",
            "bar_count",
            "baz_count",
            "fizz_created",
            "null_byte_metric",
        ]
    );
    assert_eq!(got.samples[4].t, Some(123123));
    assert_eq!(got.samples[9].labels.get("label"), Some("\"bar\""));
    let hhh = got.samples[5].exemplar.clone().unwrap();
    assert_eq!(hhh, SampleExemplar { labels: labels(&[("id", "histogram-bucket-test")]), t: 42, v: 4.0 });
    let ggh = got.samples[6].exemplar.clone().unwrap();
    assert_eq!(ggh.labels, labels(&[("id", "gaugehistogram-bucket-test"), ("xx", "yy")]));
    assert_eq!(ggh.t, 123123);
    assert_eq!(got.samples[10].t, Some(1520879607789));
    assert_eq!(got.samples[10].exemplar.as_ref().map(|e| e.v), Some(5.0));
    assert_eq!(got.samples[11].labels, labels(&[("__name__", "foo_total"), ("a", "b")]));
    let md = |name: &str| got.metadata.iter().find(|m| m.metric_family == name).cloned().unwrap();
    assert_eq!(
        md("go_gc_duration_seconds"),
        meta("go_gc_duration_seconds", MetricType::Summary, "A summary of the GC invocation durations.", "seconds")
    );
    assert_eq!(md("help2").help, "escape \\ \n \\ \" \\x chars");
    assert_eq!(md("nohelp1").help, "");
    assert_eq!(md("foo"), meta("foo", MetricType::Counter, "Counter with and without labels", ""));
    assert_eq!(md("ggh").kind, MetricType::GaugeHistogram);
    assert_eq!(md("ii").kind, MetricType::Info);
    assert_eq!(md("ss").kind, MetricType::StateSet);
    assert_eq!(md("metric").help, "foo\0bar");
}

#[test]
fn openmetrics_created_series_kept_when_asked() {
    let body = b"# TYPE foo counter\nfoo_total 1\nfoo_created 2\n# EOF\n";
    let keep = ParseOptions { skip_created_series: false };
    let got = parse_with(body, Format::OpenMetrics, 0, keep).unwrap();
    assert_eq!(got.samples.len(), 2);
    assert_eq!(parse_with(body, Format::OpenMetrics, 0, ParseOptions::default()).unwrap().samples.len(), 1);
}

#[test]
fn openmetrics_eof_handling() {
    assert_eq!(om("# EOF").samples.len(), 0);
    assert_eq!(om("# EOF\n").samples.len(), 0);
    assert_eq!(om_err(""), "line 1: data does not end with # EOF");
    assert_eq!(om_err("metric 1"), "line 1: data does not end with # EOF");
    assert_eq!(om_err("a 1\nmetric 1\n"), "line 3: data does not end with # EOF");
    assert_eq!(om_err("metric_total 1 # {aa=\"bb\"} 4"), "line 1: data does not end with # EOF");
    assert_eq!(om_err("# EOF\na 1"), "line 2: unexpected data after # EOF");
    assert_eq!(om_err("# EOF\n\n"), "line 2: unexpected data after # EOF");
    assert_eq!(om_err("# EOFa 1"), "line 1: unexpected data after # EOF");
}

/// Cases from Prometheus's `TestOpenMetricsParseErrors`.
#[test]
fn openmetrics_errors() {
    let cases = [
        ("\n", "line 1: expected metric name, \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\", got end of line"),
        ("metric", "line 1: expected value after metric, got end of input"),
        ("a\n#EOF\n", "line 1: expected value after metric, got end of line"),
        (" a 1\n# EOF\n", "line 1: expected metric name, \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\", got \" \""),
        ("# TYPE u untyped\n# EOF\n", "line 1: invalid metric type \"untyped\""),
        ("# TYPE c counter \n# EOF\n", "line 1: invalid metric type \"counter \""),
        ("# TYPE c  counter\n# EOF\n", "line 1: invalid metric type \" counter\""),
        (
            "#  TYPE c counter\n# EOF\n",
            "line 1: expected \"# HELP \", \"# TYPE \", \"# UNIT \" or \"# EOF\", got \"#  TYPE\"",
        ),
        (
            "#\tTYPE c counter\n# EOF\n",
            "line 1: expected \"# HELP \", \"# TYPE \", \"# UNIT \" or \"# EOF\", got \"#\\tTYPE \"",
        ),
        ("# TYPE \n# EOF\n", "line 1: expected metric name after TYPE, got end of line"),
        ("# TYPE m\n# EOF\n", "line 1: expected a space and text after the metric name in TYPE, got end of line"),
        ("# UNIT metric suffix\n# EOF\n", "line 1: unit \"suffix\" not a suffix of metric \"metric\""),
        ("# UNIT metricsuffix suffix\n# EOF\n", "line 1: unit \"suffix\" not a suffix of metric \"metricsuffix\""),
        ("# UNIT m suffix\n# EOF\n", "line 1: unit \"suffix\" not a suffix of metric \"m\""),
        ("a\t1\n# EOF\n", "line 1: expected value after metric, got \"\\t\""),
        ("a 1\t2\n# EOF\n", "line 1: expected a float value, got \"1\\t2\""),
        ("a 1 2 \n# EOF\n", "line 1: expected end of line after timestamp, got \" \""),
        ("a 1 2 #\n# EOF\n", "line 1: expected end of line after timestamp, got \" \""),
        ("a 1 1z\n# EOF\n", "line 1: invalid timestamp \"1z\""),
        ("a 1 1 1\n# EOF\n", "line 1: expected end of line after timestamp, got \" \""),
        ("a{b='c'} 1\n# EOF\n", "line 1: expected label value, got \"'c'\""),
        ("a{,b=\"c\"} 1\n# EOF\n", "line 1: expected label name or \"}\", got \",\""),
        ("a{b=\"c\"d=\"e\"} 1\n# EOF\n", "line 1: expected \",\" or \"}\", got \"d\""),
        ("a{b=\"c\",,d=\"e\"} 1\n# EOF\n", "line 1: expected label name or \"}\", got \",\""),
        ("a{b=\"c\", d=\"e\"} 1\n# EOF\n", "line 1: expected label name or \"}\", got \" \""),
        ("a{b=\n# EOF\n", "line 1: expected label value, got end of line"),
        ("something_weird{problem=\"\n# EOF\n", "line 1: unterminated label value"),
        ("foo 1_2\n\n# EOF\n", "line 1: expected a float value, got \"1_2\""),
        ("custom_metric_total 1 # {aa=bb}\n# EOF\n", "line 1: expected label value, got \"bb\""),
        (
            "custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
            "line 1: expected value after exemplar labels, got end of line",
        ),
        ("custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1", "line 1: expected label name or \"}\", got \",\""),
        ("custom_metric_total 1 # {aa=\"bb\"} 0x1p-3", "line 1: expected a float value, got \"0x1p-3\""),
        ("custom_metric_total 1 # {\"aa\"} 1\n# EOF\n", "line 1: expected \"=\" after exemplar label name, got \"}\""),
        ("a 1 NaN\n# EOF\n", "line 1: invalid timestamp \"NaN\""),
        ("a 1 -Inf\n# EOF\n", "line 1: invalid timestamp \"-Inf\""),
        (
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 Inf\n# EOF\n",
            "line 2: invalid timestamp \"Inf\"",
        ),
        ("a{b=\"1\",b=\"2\"} 1\n# EOF\n", "line 1: duplicate label name \"b\""),
        ("{b=\"c\",} 1\n# EOF\n", "line 1: metric name not set"),
    ];
    for (input, want) in cases {
        assert_eq!(om_err(input), want, "input {input:?}");
    }
}

#[test]
fn openmetrics_exemplar_label_set_limit_is_128_code_points() {
    // "trace_id" (8) + 120 two-byte characters = 128 code points: kept.
    let at_limit = format!("a_total 1 # {{trace_id=\"{}\"}} 1 2.5\n# EOF\n", "é".repeat(120));
    let got = om(&at_limit);
    assert_eq!(got.samples[0].exemplar.as_ref().map(|e| e.t), Some(2500));
    let over = format!("a_total 1 # {{trace_id=\"{}\"}} 1\n# EOF\n", "é".repeat(121));
    let got = om(&over);
    assert_eq!(got.samples.len(), 1);
    assert!(got.samples[0].exemplar.is_none());
}

#[test]
fn openmetrics_timestamps_are_float_seconds_truncated_to_ms() {
    let got = om("a 1 1.001\nb 1 -1.5\nc 1 1e3\n# EOF\n");
    let ts: Vec<Option<i64>> = got.samples.iter().map(|s| s.t).collect();
    // 1.001 * 1000 is 1000.9999…, which Prometheus truncates to 1000.
    assert_eq!(ts, vec![Some(1000), Some(-1500), Some(1_000_000)]);
}

/// Random bytes, mutated valid bodies and every prefix of valid bodies: parsing returns,
/// never panics.
#[test]
fn garbage_and_truncated_inputs_never_panic() {
    let valid_text = "# HELP a x\\n\n# TYPE a counter\na{b=\"c\\\"\",d=\"\"} 1 2\n{\"q.x\",y=\"z\"} NaN\n";
    let valid_om = "# TYPE a counter\n# UNIT a_s s\na_total{b=\"c\"} 1 2.5 # {t=\"x\"} 3 4\n# EOF\n";
    for body in [valid_text, valid_om] {
        for end in 0..=body.len() {
            let prefix = &body.as_bytes()[..end];
            let _ = parse_with(prefix, Format::PrometheusText, 0, ParseOptions::default());
            let _ = parse_with(prefix, Format::OpenMetrics, 0, ParseOptions::default());
        }
    }
    let alphabet = b"ab_:{}=,\"\\# \t\n\r\x00\xff\xc3\xa9.+-eE1NaInf_createdHELPTYPEUNITEOF";
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let len = (next() % 80) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        let _ = parse_with(&body, Format::PrometheusText, 0, ParseOptions::default());
        let _ = parse_with(&body, Format::OpenMetrics, 0, ParseOptions::default());
        // Splice garbage into a valid body too.
        let mut mutated = valid_om.as_bytes().to_vec();
        let at = (next() as usize) % mutated.len();
        mutated.splice(at..at, body.drain(..body.len().min(3)));
        let _ = parse_with(&mutated, Format::PrometheusText, 0, ParseOptions::default());
        let _ = parse_with(&mutated, Format::OpenMetrics, 0, ParseOptions::default());
    }
}

#[test]
fn large_bodies_parse_in_linear_time() {
    // 200k samples on one body, and one very long label value: both must finish quickly (a
    // quadratic step would take minutes here).
    let mut body = String::new();
    for i in 0..200_000 {
        body.push_str(&format!("m{{i=\"{i}\"}} {i}\n"));
    }
    let started = std::time::Instant::now();
    assert_eq!(text(&body).samples.len(), 200_000);
    let long = format!("m{{v=\"{}\"}} 1\n# EOF\n", "\\n".repeat(500_000));
    assert_eq!(om(&long).samples[0].labels.get("v").map(str::len), Some(500_000));
    let err = format!("{}bad\n", "m 1\n".repeat(200_000));
    assert!(text_err(&err).starts_with("line 200001:"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
