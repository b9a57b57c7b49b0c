//! LogQL over a fixed data set: every construct of the language, each query with the result
//! worked out by hand from the lines below and Loki's documented behaviour.
//!
//! The data: three streams, ten lines between T0 and T0 + 30 s. Every entry also carries the
//! `detected_level` the store derives, which Loki returns as structured metadata too.

use std::sync::Arc;
use std::time::Duration;

use lookout_storage::logs::{LogStore, LogStoreOptions};
use lookout_storage::{Entry, Label, Labels, Stream, StreamBatch, Tenant, WalPosition};

use super::engine::prom_labels;
use super::{LogqlEngine, LogqlOptions, LogqlQuery, LogqlValue};

const T0: i64 = 1_700_000_000_000_000_000;
const S: i64 = 1_000_000_000;

type Line = (i64, &'static str, &'static [(&'static str, &'static str)]);

const PROD_API: &[Line] = &[
    (0, "level=info method=GET path=/users status=200 latency=12ms size=1KB", &[("trace_id", "aaa")]),
    (
        10,
        r#"level=error method=POST path=/orders status=500 latency=250ms size=2KB msg="db timeout""#,
        &[("trace_id", "bbb")],
    ),
    (20, "level=info method=GET path=/orders status=200 latency=30ms size=512B", &[]),
    (30, "level=warn method=GET path=/users status=404 latency=5ms size=100B", &[]),
];
const DEV_API: &[Line] = &[
    (
        5,
        r#"{"level":"debug","msg":"cache miss","user":{"id":"u1","name":"ana"},"duration":"1.5s","bytes":1024}"#,
        &[("tier", "gold")],
    ),
    (
        15,
        r#"{"level":"error","msg":"connection refused","user":{"id":"u2","name":"bob"},"duration":"3s","bytes":2048}"#,
        &[],
    ),
    (25, "not json at all ERROR", &[]),
];
const WEB: &[Line] = &[
    (2, r#"10.0.0.1 - - "GET /index.html HTTP/1.1" 200 512"#, &[]),
    (12, r#"10.0.0.2 - - "GET /missing HTTP/1.1" 404 128"#, &[]),
    (22, "\x1b[31m10.0.0.1 - - \"POST /login HTTP/1.1\" 500 64\x1b[0m", &[]),
];

fn engine() -> (tempfile::TempDir, LogqlEngine) {
    let dir = tempfile::tempdir().unwrap();
    let forever = Duration::from_secs(100 * 365 * 24 * 3600);
    let options = LogStoreOptions { retention: forever, future_grace: forever, ..LogStoreOptions::default() };
    let store = LogStore::open(dir.path(), options).unwrap();
    let stream = |labels: &[(&str, &str)], lines: &[Line]| Stream {
        labels: Labels::from_pairs(labels.iter().copied()),
        entries: lines
            .iter()
            .map(|(t, line, md)| Entry {
                time_unix_nano: T0 + t * S,
                line: (*line).to_owned(),
                metadata: md.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            })
            .collect(),
    };
    let batch = StreamBatch {
        streams: vec![
            stream(&[("app", "api"), ("env", "prod")], PROD_API),
            stream(&[("app", "api"), ("env", "dev")], DEV_API),
            stream(&[("app", "web"), ("env", "prod")], WEB),
        ],
    };
    store.append(WalPosition::default(), &Tenant::default(), batch).unwrap();
    store.commit().unwrap();
    (dir, LogqlEngine::new(Arc::new(store), LogqlOptions::default()))
}

/// What a case expects.
enum Expect {
    /// A log query's lines, in time order (forward over `[T0, T0 + 60 s)`).
    Lines(Vec<&'static str>),
    /// A log query's entries with their labels: `{labels} line`, in time order.
    Entries(Vec<&'static str>),
    /// An instant metric query at T0 + 40 s: `{labels} value`, sorted unless the query sorts.
    Vector(Vec<&'static str>),
    /// A scalar at T0 + 40 s.
    Scalar(f64),
    /// A range metric query from T0 + `.0` s to T0 + `.1` s every `.2` s: `{labels} t:v t:v`.
    Matrix(i64, i64, i64, Vec<&'static str>),
    /// The query fails with a message containing this.
    Error(&'static str),
}

use Expect::*;

const API_ALL: &[&str] =
    &[PROD_API[0].1, DEV_API[0].1, PROD_API[1].1, DEV_API[1].1, PROD_API[2].1, DEV_API[2].1, PROD_API[3].1];

fn cases() -> Vec<(&'static str, Expect)> {
    vec![
        // Stream selectors.
        (r#"{app="api", env="prod"}"#, Lines(vec![PROD_API[0].1, PROD_API[1].1, PROD_API[2].1, PROD_API[3].1])),
        (r#"{app="api"}"#, Lines(API_ALL.to_vec())),
        (
            r#"{app=~"api|web"}"#,
            Lines(vec![
                PROD_API[0].1,
                WEB[0].1,
                DEV_API[0].1,
                PROD_API[1].1,
                WEB[1].1,
                DEV_API[1].1,
                PROD_API[2].1,
                WEB[2].1,
                DEV_API[2].1,
                PROD_API[3].1,
            ]),
        ),
        (r#"{env="prod", app!="api"}"#, Lines(vec![WEB[0].1, WEB[1].1, WEB[2].1])),
        (r#"{env="prod", app!~"a.*"}"#, Lines(vec![WEB[0].1, WEB[1].1, WEB[2].1])),
        (r#"{app="nothing"}"#, Lines(vec![])),
        // Line filters.
        (r#"{app="api"} |= "error""#, Lines(vec![PROD_API[1].1, DEV_API[1].1])),
        (r#"{app="api"} != "level""#, Lines(vec![DEV_API[2].1])),
        (r#"{app="api"} |~ "(?i)error""#, Lines(vec![PROD_API[1].1, DEV_API[1].1, DEV_API[2].1])),
        (
            r#"{app="api"} !~ "status=[45]\\d\\d""#,
            Lines(vec![PROD_API[0].1, DEV_API[0].1, DEV_API[1].1, PROD_API[2].1, DEV_API[2].1]),
        ),
        (r#"{app="api"} |= "GET" |= "users""#, Lines(vec![PROD_API[0].1, PROD_API[3].1])),
        (
            r#"{app="api"} |= "orders" or "users""#,
            Lines(vec![PROD_API[0].1, PROD_API[1].1, PROD_API[2].1, PROD_API[3].1]),
        ),
        (r#"{app="web"} |= "GET" != "missing""#, Lines(vec![WEB[0].1])),
        (r#"{app="web"} |= "" "#, Lines(vec![WEB[0].1, WEB[1].1, WEB[2].1])),
        (r#"{app="api"} |= "rror""#, Lines(vec![PROD_API[1].1, DEV_API[1].1])),
        (r#"{app="api"} |= "n refu""#, Lines(vec![DEV_API[1].1])),
        (r#"{app="api"} |> "<_> method=POST <_>""#, Lines(vec![PROD_API[1].1])),
        (
            r#"{app="api"} !> "<_> method=GET <_>""#,
            Lines(vec![DEV_API[0].1, PROD_API[1].1, DEV_API[1].1, DEV_API[2].1]),
        ),
        // logfmt and label filters on numbers, durations, bytes and strings.
        (r#"{app="api", env="prod"} | logfmt | status >= 400"#, Lines(vec![PROD_API[1].1, PROD_API[3].1])),
        (r#"{app="api", env="prod"} | logfmt | status == 200"#, Lines(vec![PROD_API[0].1, PROD_API[2].1])),
        (r#"{app="api", env="prod"} | logfmt | status != 200"#, Lines(vec![PROD_API[1].1, PROD_API[3].1])),
        (r#"{app="api", env="prod"} | logfmt | status < 300"#, Lines(vec![PROD_API[0].1, PROD_API[2].1])),
        (r#"{app="api", env="prod"} | logfmt | latency > 20ms"#, Lines(vec![PROD_API[1].1, PROD_API[2].1])),
        (r#"{app="api", env="prod"} | logfmt | latency <= 12ms"#, Lines(vec![PROD_API[0].1, PROD_API[3].1])),
        (r#"{app="api", env="prod"} | logfmt | size > 1KB"#, Lines(vec![PROD_API[1].1])),
        (r#"{app="api", env="prod"} | logfmt | size < 1KiB"#, Lines(vec![PROD_API[0].1, PROD_API[2].1, PROD_API[3].1])),
        (
            r#"{app="api", env="prod"} | logfmt | method="GET" and status=200"#,
            Lines(vec![PROD_API[0].1, PROD_API[2].1]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | method="GET", path="/users""#,
            Lines(vec![PROD_API[0].1, PROD_API[3].1]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | method="POST" or status=404"#,
            Lines(vec![PROD_API[1].1, PROD_API[3].1]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | (method="POST" or status=404) and latency > 100ms"#,
            Lines(vec![PROD_API[1].1]),
        ),
        (r#"{app="api", env="prod"} | logfmt | path=~"/ord.*""#, Lines(vec![PROD_API[1].1, PROD_API[2].1])),
        (r#"{app="api", env="prod"} | logfmt | path!~"/ord.*""#, Lines(vec![PROD_API[0].1, PROD_API[3].1])),
        (r#"{app="api", env="prod"} | logfmt | msg!="""#, Lines(vec![PROD_API[1].1])),
        (r#"{app="api", env="prod"} | logfmt --strict | msg="db timeout""#, Lines(vec![PROD_API[1].1])),
        (r#"{app="api", env="prod"} | logfmt code="status" | code=404"#, Lines(vec![PROD_API[3].1])),
        // json.
        (r#"{app="api", env="dev"} | json | user_name="bob""#, Lines(vec![DEV_API[1].1])),
        (r#"{app="api", env="dev"} | json | __error__!="""#, Lines(vec![DEV_API[2].1])),
        (r#"{app="api", env="dev"} | json | __error__="""#, Lines(vec![DEV_API[0].1, DEV_API[1].1])),
        (r#"{app="api", env="dev"} | json | __error__="JSONParserErr""#, Lines(vec![DEV_API[2].1])),
        (r#"{app="api", env="dev"} | json | bytes > 1500"#, Lines(vec![DEV_API[1].1])),
        (r#"{app="api", env="dev"} | json | duration > 2s"#, Lines(vec![DEV_API[1].1])),
        (r#"{app="api", env="dev"} | json name="user.name" | name="ana""#, Lines(vec![DEV_API[0].1])),
        (r#"{app="api", env="dev"} | json level="level", uid="user.id" | uid="u2""#, Lines(vec![DEV_API[1].1])),
        (
            r#"{app="api", env="dev"} | json | line_format "{{.user_name}}: {{.msg}}""#,
            Lines(vec!["ana: cache miss", "bob: connection refused", ": "]),
        ),
        // `unpack` adds labels only from a packed entry (one with an `_entry` key), as Loki's does.
        (r#"{app="api", env="dev"} |= "cache" | unpack | line_format "[{{.msg}}]""#, Lines(vec!["[]"])),
        // pattern, regexp, decolorize.
        (
            r#"{app="web"} | pattern "<ip> - - \"<method> <path> <_>\" <status> <size>" | status="404""#,
            Lines(vec![WEB[1].1]),
        ),
        (r#"{app="web"} | pattern "<ip> - - \"<method> <path> <_>\" <_>" | method="POST""#, Lines(vec![WEB[2].1])),
        (
            r#"{app="web"} | regexp "(?P<ip>\\S+) .* (?P<status>\\d{3}) (?P<size>\\d+)" | size < 200"#,
            Lines(vec![WEB[1].1, WEB[2].1]),
        ),
        (
            r#"{app="web"} | decolorize | regexp "(?P<status>\\d{3}) \\d+$" | status="500""#,
            Lines(vec!["10.0.0.1 - - \"POST /login HTTP/1.1\" 500 64"]),
        ),
        (
            r#"{app="web"} | decolorize | line_format "{{ __line__ | trunc 8 }}""#,
            Lines(vec!["10.0.0.1", "10.0.0.2", "10.0.0.1"]),
        ),
        // line_format, label_format, keep, drop.
        (
            r#"{app="api", env="prod"} | logfmt | line_format "{{.method}} {{.path | ToUpper}}""#,
            Lines(vec!["GET /USERS", "POST /ORDERS", "GET /ORDERS", "GET /USERS"]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | line_format "{{if eq .status \"500\"}}bad{{else}}ok{{end}}""#,
            Lines(vec!["ok", "bad", "ok", "ok"]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | line_format "{{printf \"%s=%05.1f\" .method (float64 .status)}}""#,
            Lines(vec!["GET=200.0", "POST=500.0", "GET=200.0", "GET=404.0"]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | label_format route="{{.method}}{{.path}}" | route="GET/users""#,
            Lines(vec![PROD_API[0].1, PROD_API[3].1]),
        ),
        (r#"{app="api", env="prod"} | logfmt | label_format code=status | code="500""#, Lines(vec![PROD_API[1].1])),
        (
            r#"{app="api", env="prod"} | logfmt | label_format code=status | line_format "{{.status}}|{{.code}}""#,
            Lines(vec!["|200", "|500", "|200", "|404"]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | keep method | line_format "{{.method}}:{{.status}}""#,
            Lines(vec!["GET:", "POST:", "GET:", "GET:"]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | drop latency, size | line_format "{{.latency}}{{.status}}""#,
            Lines(vec!["200", "500", "200", "404"]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | drop method="GET" | line_format "{{.method}}""#,
            Lines(vec!["", "POST", "", ""]),
        ),
        // Structured metadata in label filters, pushed into the index where exact.
        (r#"{app="api", env="prod"} | trace_id="bbb""#, Lines(vec![PROD_API[1].1])),
        (r#"{app="api"} | trace_id=~"a.*""#, Lines(vec![PROD_API[0].1])),
        (r#"{app="api", env="dev"} | tier="gold""#, Lines(vec![DEV_API[0].1])),
        (r#"{app="api", env="prod"} | detected_level="warn""#, Lines(vec![PROD_API[3].1])),
        // Labels of the entries: stream labels, metadata and extracted labels together.
        (
            r#"{app="web"} |= "missing""#,
            Entries(vec![
                r#"{app="web", detected_level="unknown", env="prod"} 10.0.0.2 - - "GET /missing HTTP/1.1" 404 128"#,
            ]),
        ),
        (
            r#"{app="api", env="prod"} |= "POST" | logfmt"#,
            Entries(vec![
                r#"{app="api", detected_level="error", env="prod", latency="250ms", level="error", method="POST", msg="db timeout", path="/orders", size="2KB", status="500", trace_id="bbb"} level=error method=POST path=/orders status=500 latency=250ms size=2KB msg="db timeout""#,
            ]),
        ),
        (
            r#"{app="api", env="dev"} |= "not json" | json | drop __error_details__"#,
            Entries(vec![
                r#"{__error__="JSONParserErr", app="api", detected_level="error", env="dev"} not json at all ERROR"#,
            ]),
        ),
        (
            r#"{app="api", env="dev"} |= "cache" | json | keep user_id"#,
            Entries(vec![
                r#"{user_id="u1"} {"level":"debug","msg":"cache miss","user":{"id":"u1","name":"ana"},"duration":"1.5s","bytes":1024}"#,
            ]),
        ),
        (
            r#"{app="api", env="dev"} |= "cache" | unpack | keep msg, level"#,
            Entries(vec![
                r#"{} {"level":"debug","msg":"cache miss","user":{"id":"u1","name":"ana"},"duration":"1.5s","bytes":1024}"#,
            ]),
        ),
        (
            r#"{app="api", env="prod"} | logfmt | status=404 | label_format level="{{.level | ToUpper}}" | keep level"#,
            Entries(vec![r#"{level="WARN"} level=warn method=GET path=/users status=404 latency=5ms size=100B"#]),
        ),
        (
            r#"{app="api", env="dev"} | json | user_id="u1" | keep app, env="dev""#,
            Entries(vec![
                r#"{app="api", env="dev"} {"level":"debug","msg":"cache miss","user":{"id":"u1","name":"ana"},"duration":"1.5s","bytes":1024}"#,
            ]),
        ),
        // Log range aggregations.
        (r#"count_over_time({app="web"}[1m])"#, Vector(vec![r#"{app="web", detected_level="unknown", env="prod"} 3"#])),
        (r#"sum(count_over_time({app=~".+"}[1m]))"#, Vector(vec!["{} 10"])),
        (r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#, Vector(vec![r#"{app="api"} 7"#, r#"{app="web"} 3"#])),
        (r#"sum(count_over_time({app=~".+"}[1m])) by (app)"#, Vector(vec![r#"{app="api"} 7"#, r#"{app="web"} 3"#])),
        (
            r#"sum by (detected_level) (count_over_time({app="api"}[1m]))"#,
            Vector(vec![
                r#"{detected_level="debug"} 1"#,
                r#"{detected_level="error"} 3"#,
                r#"{detected_level="info"} 2"#,
                r#"{detected_level="warn"} 1"#,
            ]),
        ),
        (r#"sum(rate({app="api"}[1m]))"#, Vector(vec!["{} 0.11666666666666667"])),
        (
            r#"sum by (env) (bytes_over_time({app="api"}[1m]))"#,
            Vector(vec![r#"{env="dev"} 225"#, r#"{env="prod"} 287"#]),
        ),
        (r#"sum(bytes_rate({app="web"}[1m]))"#, Vector(vec!["{} 2.3666666666666667"])),
        (r#"sum(count_over_time({app="api"}[1m] offset 30s))"#, Vector(vec!["{} 3"])),
        (r#"sum(count_over_time({app="api"}[15s]))"#, Vector(vec!["{} 1"])),
        (r#"absent_over_time({app="nothing"}[1m])"#, Vector(vec![r#"{app="nothing"} 1"#])),
        (r#"absent_over_time({app="api"}[1m])"#, Vector(vec![])),
        (
            r#"sum by (method) (count_over_time({app="api", env="prod"} | logfmt [1m]))"#,
            Vector(vec![r#"{method="GET"} 3"#, r#"{method="POST"} 1"#]),
        ),
        (
            r#"sum by (status) (count_over_time({app="api", env="prod"} | logfmt | status >= 400 [1m]))"#,
            Vector(vec![r#"{status="404"} 1"#, r#"{status="500"} 1"#]),
        ),
        (r#"sum(count_over_time({app="api"} |= "error" [1m]))"#, Vector(vec!["{} 2"])),
        (r#"sum(count_over_time({app="api"} |~ "(?i)error" [1m]))"#, Vector(vec!["{} 3"])),
        (
            r#"sum by (user_name) (count_over_time({app="api", env="dev"} | json | __error__="" [1m]))"#,
            Vector(vec![r#"{user_name="ana"} 1"#, r#"{user_name="bob"} 1"#]),
        ),
        (
            r#"sum by (ip) (count_over_time({app="web"} | decolorize | pattern "<ip> - - <_>" [1m]))"#,
            Vector(vec![r#"{ip="10.0.0.1"} 2"#, r#"{ip="10.0.0.2"} 1"#]),
        ),
        (
            r#"sum by (level) (count_over_time({app="api", env="prod"} | logfmt | label_format level=method [1m]))"#,
            Vector(vec![r#"{level="GET"} 3"#, r#"{level="POST"} 1"#]),
        ),
        (r#"sum by (tier) (count_over_time({app="api"} | tier!="" [1m]))"#, Vector(vec![r#"{tier="gold"} 1"#])),
        (
            r#"count_over_time({app="api", env="prod"} | trace_id="aaa" [1m])"#,
            Vector(vec![r#"{app="api", detected_level="info", env="prod", trace_id="aaa"} 1"#]),
        ),
        (r#"sum(count_over_time({app="api", env="dev"} | json | __error__="" [1m]))"#, Vector(vec!["{} 2"])),
        (
            r#"sum(count_over_time({app="api", env="dev"} | json | drop __error__, __error_details__ [1m]))"#,
            Vector(vec!["{} 3"]),
        ),
        (
            r#"sum by (level, detected_level) (count_over_time({app="web"} | drop __error__ [1m]))"#,
            Vector(vec![r#"{detected_level="unknown"} 3"#]),
        ),
        // Unwrapped range aggregations.
        (
            r#"max(max_over_time({app="api", env="prod"} | logfmt | unwrap duration(latency) [1m]))"#,
            Vector(vec!["{} 0.25"]),
        ),
        (
            r#"max_over_time({app="api", env="prod"} | logfmt | unwrap duration(latency) [1m]) by (method)"#,
            Vector(vec![r#"{method="GET"} 0.03"#, r#"{method="POST"} 0.25"#]),
        ),
        (
            r#"min_over_time({app="api", env="prod"} | logfmt | unwrap duration_seconds(latency) [1m]) by (method)"#,
            Vector(vec![r#"{method="GET"} 0.005"#, r#"{method="POST"} 0.25"#]),
        ),
        (
            r#"sum_over_time({app="api", env="dev"} | json | __error__="" | unwrap bytes [1m]) by (app)"#,
            Error("grouping not allowed for sum_over_time aggregation"),
        ),
        (
            r#"avg_over_time({app="api", env="dev"} | json | __error__="" | unwrap bytes [1m]) by (app)"#,
            Vector(vec![r#"{app="api"} 1536"#]),
        ),
        (
            r#"sum by (app) (sum_over_time({app="api", env="dev"} | json | unwrap bytes [1m]))"#,
            Vector(vec![r#"{app="api"} 3072"#]),
        ),
        (
            r#"quantile_over_time(0.5, {app="api", env="prod"} | logfmt | unwrap bytes(size) [1m]) by (app)"#,
            Vector(vec![r#"{app="api"} 756"#]),
        ),
        (
            r#"stddev_over_time({app="api", env="prod"} | logfmt | unwrap bytes(size) [1m]) by (app)"#,
            Vector(vec![r#"{app="api"} 708.9619171718605"#]),
        ),
        (
            r#"stdvar_over_time({app="api", env="prod"} | logfmt | unwrap bytes(size) [1m]) by (app)"#,
            Vector(vec![r#"{app="api"} 502627"#]),
        ),
        (
            r#"first_over_time({app="api", env="prod"} | logfmt | unwrap bytes(size) [1m]) by (app)"#,
            Vector(vec![r#"{app="api"} 1000"#]),
        ),
        (
            r#"last_over_time({app="api", env="prod"} | logfmt | unwrap bytes(size) [1m]) by (app)"#,
            Vector(vec![r#"{app="api"} 100"#]),
        ),
        (
            r#"sum by (app) (rate({app="api", env="prod"} | logfmt | unwrap bytes(size) [1m]))"#,
            Vector(vec![r#"{app="api"} 60.2"#]),
        ),
        (
            r#"sum(sum_over_time({app="api", env="prod"} | logfmt | unwrap latency | __error__="" [1m]))"#,
            Vector(vec![]),
        ),
        (
            r#"sum_over_time({app="api", env="prod"} | logfmt | status=404 | unwrap bytes(size) [1m])"#,
            Vector(vec![
                r#"{app="api", detected_level="warn", env="prod", latency="5ms", level="warn", method="GET", path="/users", status="404"} 100"#,
            ]),
        ),
        // Errors the pipeline leaves in metric queries.
        (
            r#"sum(count_over_time({app="api", env="dev"} | json [1m]))"#,
            Error("pipeline error: 'JSONParserErr' for series: '{__error__=\"JSONParserErr\""),
        ),
        (
            r#"sum(sum_over_time({app="api", env="prod"} | logfmt | unwrap latency [1m]))"#,
            Error("pipeline error: 'SampleExtractionErr'"),
        ),
        // Vector aggregations.
        (r#"topk(1, sum by (app) (count_over_time({app=~".+"}[1m])))"#, Vector(vec![r#"{app="api"} 7"#])),
        (r#"bottomk(1, sum by (app) (count_over_time({app=~".+"}[1m])))"#, Vector(vec![r#"{app="web"} 3"#])),
        (
            r#"topk by (env) (1, sum by (app, env) (count_over_time({app=~".+"}[1m])))"#,
            Vector(vec![r#"{app="api", env="dev"} 3"#, r#"{app="api", env="prod"} 4"#]),
        ),
        (r#"count(sum by (app, env) (count_over_time({app=~".+"}[1m])))"#, Vector(vec!["{} 3"])),
        (r#"avg(sum by (app, env) (count_over_time({app=~".+"}[1m])))"#, Vector(vec!["{} 3.3333333333333335"])),
        (r#"max(sum by (env) (count_over_time({app=~".+"}[1m])))"#, Vector(vec!["{} 7"])),
        (
            r#"min by (app) (sum by (app, env) (count_over_time({app=~".+"}[1m])))"#,
            Vector(vec![r#"{app="api"} 3"#, r#"{app="web"} 3"#]),
        ),
        (r#"stddev(sum by (app, env) (count_over_time({app=~".+"}[1m])))"#, Vector(vec!["{} 0.4714045207910317"])),
        (r#"stdvar(sum by (app, env) (count_over_time({app=~".+"}[1m])))"#, Vector(vec!["{} 0.2222222222222222"])),
        (r#"sum without (env, detected_level) (count_over_time({app="web"}[1m]))"#, Vector(vec![r#"{app="web"} 3"#])),
        (
            r#"sort(sum by (app) (count_over_time({app=~".+"}[1m])))"#,
            Vector(vec![r#"{app="web"} 3"#, r#"{app="api"} 7"#]),
        ),
        (
            r#"sort_desc(sum by (app) (count_over_time({app=~".+"}[1m])))"#,
            Vector(vec![r#"{app="api"} 7"#, r#"{app="web"} 3"#]),
        ),
        // Binary operations, vector(), label_replace.
        (r#"sum by (app) (count_over_time({app=~".+"}[1m])) > 5"#, Vector(vec![r#"{app="api"} 7"#])),
        (
            r#"sum by (app) (count_over_time({app=~".+"}[1m])) > bool 5"#,
            Vector(vec![r#"{app="api"} 1"#, r#"{app="web"} 0"#]),
        ),
        (
            r#"sum by (app) (count_over_time({app=~".+"}[1m])) * 2"#,
            Vector(vec![r#"{app="api"} 14"#, r#"{app="web"} 6"#]),
        ),
        (
            r#"sum by (app) (count_over_time({app=~".+"}[1m])) / sum by (app) (count_over_time({app=~".+"} |= "GET" [1m]))"#,
            Vector(vec![r#"{app="api"} 2.3333333333333335"#, r#"{app="web"} 1.5"#]),
        ),
        (r#"sum(count_over_time({app="api"}[1m])) + sum(count_over_time({app="web"}[1m]))"#, Vector(vec!["{} 10"])),
        (r#"sum(count_over_time({app="api"}[1m])) - sum(count_over_time({app="web"}[1m]))"#, Vector(vec!["{} 4"])),
        (r#"sum(count_over_time({app="api"}[1m])) ^ 2"#, Vector(vec!["{} 49"])),
        (r#"sum(count_over_time({app="api"}[1m])) % 4"#, Vector(vec!["{} 3"])),
        (
            r#"sum by (app) (count_over_time({app=~".+"}[1m])) and sum by (app) (count_over_time({app="web"}[1m]))"#,
            Vector(vec![r#"{app="web"} 3"#]),
        ),
        (
            r#"sum by (app) (count_over_time({app=~".+"}[1m])) unless sum by (app) (count_over_time({app="web"}[1m]))"#,
            Vector(vec![r#"{app="api"} 7"#]),
        ),
        (
            r#"sum by (app) (count_over_time({app="api"}[1m])) or sum by (app) (count_over_time({app="web"}[1m]))"#,
            Vector(vec![r#"{app="api"} 7"#, r#"{app="web"} 3"#]),
        ),
        (
            r#"sum by (app, env) (count_over_time({app=~".+"}[1m])) / on (app) group_left sum by (app) (count_over_time({app=~".+"}[1m]))"#,
            Vector(vec![
                r#"{app="api", env="dev"} 0.42857142857142855"#,
                r#"{app="api", env="prod"} 0.5714285714285714"#,
                r#"{app="web", env="prod"} 1"#,
            ]),
        ),
        (
            r#"sum by (app, env) (count_over_time({app=~".+"}[1m])) / ignoring (env) group_left sum by (app) (count_over_time({app=~".+"}[1m]))"#,
            Vector(vec![
                r#"{app="api", env="dev"} 0.42857142857142855"#,
                r#"{app="api", env="prod"} 0.5714285714285714"#,
                r#"{app="web", env="prod"} 1"#,
            ]),
        ),
        ("vector(1) + vector(1)", Vector(vec!["{} 2"])),
        ("vector(3)", Vector(vec!["{} 3"])),
        ("1 + 1", Scalar(2.0)),
        (
            r#"label_replace(sum by (app) (count_over_time({app="web"}[1m])), "svc", "$1-x", "app", "(.*)")"#,
            Vector(vec![r#"{app="web", svc="web-x"} 3"#]),
        ),
        // Range queries.
        (r#"sum(count_over_time({app=~".+"}[10s]))"#, Matrix(10, 30, 10, vec!["{} 10:3 20:3 30:3"])),
        (
            r#"sum by (app) (rate({app=~".+"}[20s]))"#,
            Matrix(20, 40, 20, vec![r#"{app="api"} 20:0.2 40:0.1"#, r#"{app="web"} 20:0.1 40:0.05"#]),
        ),
        (r#"sum(count_over_time({app="web"}[5s]))"#, Matrix(5, 25, 5, vec!["{} 5:1 15:1 25:1"])),
        (r#"sum(count_over_time({app="api"}[10s])) > 1"#, Matrix(10, 30, 10, vec!["{} 10:2 20:2 30:2"])),
        // Errors.
        (
            r#"{app=~".*"}"#,
            Error(
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value",
            ),
        ),
        (r#"sum(count_over_time({app="api"}))"#, Error("parse error")),
        (r#"{app="api"} | json | line_format "{{.a""#, Error("template")),
        (r#"{app="api" |= "x""#, Error("parse error")),
    ]
}

/// A forward range query over the whole data set, `[T0, T0 + 60 s)`, step 1 s, limit 100.
fn over_the_data(query: &str) -> LogqlQuery {
    LogqlQuery {
        query: query.into(),
        start: T0,
        end: T0 + 60 * S,
        step_ms: 1000,
        interval: None,
        limit: 100,
        backward: false,
        instant: false,
    }
}

fn run(engine: &LogqlEngine, query: &str, expect: &Expect) -> Result<Vec<String>, String> {
    let (start, end, step, instant) = match expect {
        Matrix(s, e, step, _) => (T0 + s * S, T0 + e * S, step * 1000, false),
        Vector(_) | Scalar(_) => (T0 + 40 * S, T0 + 40 * S, 0, true),
        _ => (T0, T0 + 60 * S, 1000, false),
    };
    let q = LogqlQuery { start, end, step_ms: step, limit: 1000, instant, ..over_the_data(query) };
    let out = engine.query(&Tenant::default(), &q, false).map_err(|e| e.to_string())?;
    Ok(render(out.value, matches!(expect, Lines(_)), query.contains("sort")))
}

fn render(value: LogqlValue, lines_only: bool, keep_order: bool) -> Vec<String> {
    let fmt = |v: f64| crate::prometheus::reply::go_float(v);
    match value {
        LogqlValue::Streams(streams) => {
            let mut entries: Vec<(i64, String)> = streams
                .into_iter()
                .flat_map(|s| {
                    let labels = prom_labels(&s.labels);
                    s.entries
                        .into_iter()
                        .map(move |e| (e.time, if lines_only { e.line } else { format!("{labels} {}", e.line) }))
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            entries.into_iter().map(|(_, l)| l).collect()
        }
        LogqlValue::Vector(v) => {
            let mut out: Vec<String> = v.iter().map(|s| format!("{} {}", prom_labels(&s.labels), fmt(s.v))).collect();
            if !keep_order {
                out.sort();
            }
            out
        }
        LogqlValue::Matrix(m) => {
            let mut out: Vec<String> = m
                .iter()
                .map(|s| {
                    let points: Vec<String> =
                        s.points.iter().map(|p| format!("{}:{}", (p.t * 1_000_000 - T0) / S, fmt(p.v))).collect();
                    format!("{} {}", prom_labels(&s.labels), points.join(" "))
                })
                .collect();
            out.sort();
            out
        }
        LogqlValue::Scalar { v, .. } => vec![format!("scalar {}", fmt(v))],
    }
}

/// Two rendered lines agree when their text does, or their labels do and their values are
/// within 1e-9 relative.
fn same(got: &str, want: &str) -> bool {
    if got == want {
        return true;
    }
    let split = |s: &str| s.rsplit_once(' ').map(|(l, v)| (l.to_owned(), v.parse::<f64>().ok()));
    match (split(got), split(want)) {
        (Some((gl, Some(gv))), Some((wl, Some(wv)))) => gl == wl && ((gv - wv).abs() <= 1e-9 * wv.abs().max(1.0)),
        _ => false,
    }
}

#[test]
fn every_query_of_the_table_gives_its_hand_written_result() {
    let (_dir, engine) = engine();
    let cases = cases();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (query, expect) in &cases {
        let outcome = run(&engine, query, expect);
        let ok = match (expect, &outcome) {
            (Error(text), Err(e)) => e.contains(text),
            (Lines(want) | Entries(want) | Vector(want) | Matrix(_, _, _, want), Ok(got)) => {
                got.len() == want.len() && got.iter().zip(want.iter()).all(|(g, w)| same(g, w))
            }
            (Scalar(v), Ok(got)) => got.len() == 1 && same(&got[0], &format!("scalar {v}")),
            _ => false,
        };
        if !ok {
            let want = match expect {
                Lines(w) | Entries(w) | Vector(w) | Matrix(_, _, _, w) => format!("{w:#?}"),
                Scalar(v) => format!("scalar {v}"),
                Error(e) => format!("error containing {e:?}"),
            };
            failures.push(format!("{query}\n  got:  {outcome:#?}\n  want: {want}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} queries differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn log_queries_honour_limit_direction_and_interval() {
    let (_dir, engine) = engine();
    let query = |q: &str, limit, backward, interval| {
        let q = LogqlQuery { interval, limit, backward, ..over_the_data(q) };
        render(engine.query(&Tenant::default(), &q, false).unwrap().value, true, false)
    };
    assert_eq!(query(r#"{app="api"}"#, 3, true, None), [PROD_API[2].1, DEV_API[2].1, PROD_API[3].1]);
    assert_eq!(query(r#"{app="api"}"#, 2, false, None), [PROD_API[0].1, DEV_API[0].1]);
    assert_eq!(query(r#"{app="web"}"#, 100, false, Some(15 * S)), [WEB[0].1, WEB[2].1]);
    let instant =
        LogqlQuery { end: T0, step_ms: 0, limit: 10, backward: true, instant: true, ..over_the_data(r#"{app="api"}"#) };
    let err = engine.query(&Tenant::default(), &instant, false).unwrap_err();
    assert!(err.to_string().contains("log queries are not supported as an instant query type"), "{err}");
    let too_many = LogqlQuery { limit: 5001, instant: false, end: T0 + S, ..instant };
    let err = engine.query(&Tenant::default(), &too_many, false).unwrap_err();
    assert_eq!(err.to_string(), "max entries limit per query exceeded, limit > max_entries_limit (5001 > 5000)");
}

#[test]
fn categorized_entries_keep_stream_labels_apart_from_metadata_and_parsed_labels() {
    let (_dir, engine) = engine();
    let q = LogqlQuery {
        limit: 10,
        backward: true,
        ..over_the_data(r#"{app="api", env="prod"} |= "POST" | logfmt | keep app, env, method, trace_id"#)
    };
    let LogqlValue::Streams(streams) = engine.query(&Tenant::default(), &q, true).unwrap().value else { panic!() };
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].labels, Labels::from_pairs([("app", "api"), ("env", "prod")]));
    let entry = &streams[0].entries[0];
    assert_eq!(entry.metadata, [Label::new("trace_id", "bbb")]);
    assert_eq!(entry.parsed, [Label::new("method", "POST")]);
}

/// `sum by (…)` of a counting function over a bare selector is read from the columns; the
/// same query with a pipeline stage that keeps every line takes the general path. Both agree.
#[test]
fn counting_sums_from_the_columns_agree_with_the_general_path() {
    let (_dir, engine) = engine();
    for query in [
        r#"sum by (detected_level) (count_over_time({app=~".+"}%s[7s]))"#,
        r#"sum by (app, env) (rate({app=~".+"}%s[9s]))"#,
        r#"sum (bytes_over_time({app="api"}%s[5s]))"#,
        r#"sum by (env, detected_level) (bytes_rate({env=~"prod|dev"}%s[13s] offset 3s))"#,
        r#"sum by (level) (count_over_time({app=~".+"}%s[1m]))"#,
    ] {
        let run = |filter: &str| {
            let q = LogqlQuery { end: T0 + 40 * S, step_ms: 3000, ..over_the_data(&query.replace("%s", filter)) };
            render(engine.query(&Tenant::default(), &q, false).unwrap().value, false, false)
        };
        let columns = run("");
        assert!(!columns.is_empty(), "{query}");
        assert_eq!(columns, run(r#" != "no line has this""#), "{query}");
    }
}
