//! Table-driven parser and printer tests.

use super::ast::{Expr, LineFilterOp, MatchOp, SampleExpr, Stage};
use super::parser::{ERR_EMPTY_MATCHERS, parse_expr, parse_log_expr, parse_matchers, parse_sample_expr};
use super::print::pretty;

/// (query, canonical single-line print). Each must also round-trip through the printer.
const VALID: &[(&str, &str)] = &[
    // stream selectors
    (r#"{app="foo"}"#, r#"{app="foo"}"#),
    (r#"{ foo = "bar" }"#, r#"{foo="bar"}"#),
    (r#"{ namespace="buzz", foo != "bar" }"#, r#"{namespace="buzz", foo!="bar"}"#),
    (r#"{name=~"mysql.+"}"#, r#"{name=~"mysql.+"}"#),
    (r#"{name!~"mysql.+", env="prod"}"#, r#"{name!~"mysql.+", env="prod"}"#),
    (r#"{name=~`mysql-\d+`}"#, r#"{name=~"mysql-\\d+"}"#),
    (r#"{app!=""}"#, r#"{app!=""}"#),
    (r#"{app="föo"} |= "日本""#, r#"{app="föo"} |= "日本""#),
    (r#"{app="foo", env=~".+"}"#, r#"{app="foo", env=~".+"}"#),
    // line filters
    (r#"{app="foo"} |= "bar""#, r#"{app="foo"} |= "bar""#),
    (r#"{job="mysql"} |= "error" != "timeout""#, r#"{job="mysql"} |= "error" != "timeout""#),
    (r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap""#, r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap""#),
    (r#"{app="foo"} |= "a" or "b""#, r#"{app="foo"} |= "a" or "b""#),
    (r#"{app="foo"} != "a" or "b""#, r#"{app="foo"} != "a" != "b""#),
    (r#"{app="foo"} |~ "err" or "warn" or "fatal""#, r#"{app="foo"} |~ "err" or "warn" or "fatal""#),
    (r#"{app="foo"} !~ "a" or "b" |= "c""#, r#"{app="foo"} !~ "a" !~ "b" |= "c""#),
    (r#"{app="foo"} |> "<_> error <_>""#, r#"{app="foo"} |> "<_> error <_>""#),
    (r#"{app="foo"} !> "<_> debug <_>""#, r#"{app="foo"} !> "<_> debug <_>""#),
    (r#"{app="foo"} |> "a <_>" or "b <_>""#, r#"{app="foo"} |> "a <_>" or "b <_>""#),
    (r#"{job="security"} |= ip("192.168.4.5/16")"#, r#"{job="security"} |= ip("192.168.4.5/16")"#),
    (r#"{job="security"} != ip("192.168.4.5-192.168.4.6")"#, r#"{job="security"} != ip("192.168.4.5-192.168.4.6")"#),
    (r#"{foo="bar"} |= "baz" |= ip("123.123.123.123")"#, r#"{foo="bar"} |= "baz" |= ip("123.123.123.123")"#),
    (r#"{app="foo"} |= "tab\there""#, r#"{app="foo"} |= "tab\there""#),
    ("{app=\"foo\"} # comment\n |= \"bar\" # another\n", r#"{app="foo"} |= "bar""#),
    (r#"({app="foo"} |= "x")"#, r#"{app="foo"} |= "x""#),
    // parsers
    (r#"{app="foo"} | json"#, r#"{app="foo"} | json"#),
    (
        r#"{app="foo"} | json first_server="servers[0]", ua="request.headers[\"User-Agent\"]""#,
        r#"{app="foo"} | json first_server="servers[0]",ua="request.headers[\"User-Agent\"]""#,
    ),
    (r#"{app="foo"} | json status"#, r#"{app="foo"} | json status="status""#),
    (r#"{app="foo"} | logfmt"#, r#"{app="foo"} | logfmt"#),
    (r#"{app="foo"} | logfmt --strict"#, r#"{app="foo"} | logfmt --strict"#),
    (r#"{app="foo"} | logfmt --keep-empty --strict"#, r#"{app="foo"} | logfmt --strict --keep-empty"#),
    (
        r#"{app="foo"} | logfmt code="response.code", IPAddress="host""#,
        r#"{app="foo"} | logfmt code="response.code",IPAddress="host""#,
    ),
    (r#"{app="foo"} | logfmt --strict host, status="st""#, r#"{app="foo"} | logfmt --strict host="host",status="st""#),
    (
        r#"{app="foo"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+)""#,
        r#"{app="foo"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+)""#,
    ),
    (
        r#"{app="foo"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size>""#,
        r#"{app="foo"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size>""#,
    ),
    (r#"{app="foo"} | unpack"#, r#"{app="foo"} | unpack"#),
    (r#"{app="foo"} | decolorize"#, r#"{app="foo"} | decolorize"#),
    (r#"{APP="foo"} | JSON | LogFmt"#, r#"{APP="foo"} | json | logfmt"#),
    // formatting stages
    (r#"{app="foo"} | line_format "{{.msg}}""#, r#"{app="foo"} | line_format "{{.msg}}""#),
    (r#"{app="foo"} | line_format "{{ .foo }}\n{{.bar}}""#, r#"{app="foo"} | line_format "{{ .foo }}\n{{.bar}}""#),
    ("{app=\"foo\"} | line_format `{{.a}} \"q\"`", r#"{app="foo"} | line_format "{{.a}} \"q\"""#),
    (r#"{app="foo"} | label_format foo=bar, baz="{{.qux}}""#, r#"{app="foo"} | label_format foo=bar,baz="{{.qux}}""#),
    (
        r#"{app="foo"} | label_format dst="{{ .src | ToUpper }}""#,
        r#"{app="foo"} | label_format dst="{{ .src | ToUpper }}""#,
    ),
    (r#"{app="foo"} | keep level, method"#, r#"{app="foo"} | keep level,method"#),
    (r#"{app="foo"} | drop level, method="GET""#, r#"{app="foo"} | drop level,method="GET""#),
    (r#"{app="foo"} | drop __error__, __error_details__"#, r#"{app="foo"} | drop __error__,__error_details__"#),
    (r#"{app="foo"} | keep a=~"b.*", c!="d""#, r#"{app="foo"} | keep a=~"b.*",c!="d""#),
    // label filters
    (r#"{app="foo"} | level="error""#, r#"{app="foo"} | level="error""#),
    (r#"{app="foo"} | level!="debug""#, r#"{app="foo"} | level!="debug""#),
    (r#"{app="foo"} | level=~"err.*""#, r#"{app="foo"} | level=~"err.*""#),
    (r#"{app="foo"} | level!~"debug|info""#, r#"{app="foo"} | level!~"debug|info""#),
    (r#"{app="foo"} | status > 400"#, r#"{app="foo"} | status>400"#),
    (r#"{app="foo"} | status >= 400"#, r#"{app="foo"} | status>=400"#),
    (r#"{app="foo"} | status < 400.5"#, r#"{app="foo"} | status<400.5"#),
    (r#"{app="foo"} | status <= -1"#, r#"{app="foo"} | status<=-1"#),
    (r#"{app="foo"} | status == 200"#, r#"{app="foo"} | status==200"#),
    (r#"{app="foo"} | status = 200"#, r#"{app="foo"} | status==200"#),
    (r#"{app="foo"} | status != 200"#, r#"{app="foo"} | status!=200"#),
    (r#"{app="foo"} | x > 1e3"#, r#"{app="foo"} | x>1000"#),
    (r#"{app="foo"} | x > .5"#, r#"{app="foo"} | x>0.5"#),
    (r#"{app="foo"} | latency > 250ms"#, r#"{app="foo"} | latency>250ms"#),
    (r#"{app="foo"} | latency >= 1h2m3.5s"#, r#"{app="foo"} | latency>=1h2m3.5s"#),
    (r#"{app="foo"} | latency < 10us"#, r#"{app="foo"} | latency<10µs"#),
    (r#"{app="foo"} | latency < 10µs"#, r#"{app="foo"} | latency<10µs"#),
    (r#"{app="foo"} | latency > 1m"#, r#"{app="foo"} | latency>1m0s"#),
    (r#"{app="foo"} | latency > 2d"#, r#"{app="foo"} | latency>48h0m0s"#),
    (r#"{app="foo"} | latency > -5s"#, r#"{app="foo"} | latency>-5s"#),
    (r#"{app="foo"} | size > 20KB"#, r#"{app="foo"} | size>20kB"#),
    (r#"{app="foo"} | size > 5B"#, r#"{app="foo"} | size>5B"#),
    (r#"{app="foo"} | size <= 1.5GB"#, r#"{app="foo"} | size<=1.5GB"#),
    (
        r#"{app="foo"} | remote_addr = ip("2001:db8::1-2001:db8::8")"#,
        r#"{app="foo"} | remote_addr=ip("2001:db8::1-2001:db8::8")"#,
    ),
    (r#"{app="foo"} | addr != ip("10.0.0.0/8")"#, r#"{app="foo"} | addr!=ip("10.0.0.0/8")"#),
    (r#"{app="foo"} | a="b" and c="d""#, r#"{app="foo"} | ( a="b" , c="d" )"#),
    (r#"{app="foo"} | a="b", c="d""#, r#"{app="foo"} | ( a="b" , c="d" )"#),
    (r#"{app="foo"} | a="b" c="d""#, r#"{app="foo"} | ( a="b" , c="d" )"#),
    (r#"{app="foo"} | a="b" or c="d""#, r#"{app="foo"} | ( a="b" or c="d" )"#),
    (
        r#"{app="foo"} |= "bar" | json | latency >= 250ms or ( status_code < 500 and status_code > 200)"#,
        r#"{app="foo"} |= "bar" | json | ( latency>=250ms or ( status_code<500 , status_code>200 ) )"#,
    ),
    (
        r#"{app="foo"} | json |  status_code < 500 or status_code > 200 and latency >= 250ms"#,
        r#"{app="foo"} | json | ( status_code<500 or ( status_code>200 , latency>=250ms ) )"#,
    ),
    (
        r#"{app="foo"} | json | (duration > 1s or status!= 200) and method!="POST""#,
        r#"{app="foo"} | json | ( ( duration>1s or status!=200 ) , method!="POST" )"#,
    ),
    (r#"{app="foo"} | a="1" or b="2", c="3""#, r#"{app="foo"} | ( a="1" or ( b="2" , c="3" ) )"#),
    (r#"{app="foo"} | a="1", b="2" or c="3""#, r#"{app="foo"} | ( a="1" , ( b="2" or c="3" ) )"#),
    (r#"{app="foo"} | a="1" and b="2" or c="3""#, r#"{app="foo"} | ( ( a="1" , b="2" ) or c="3" )"#),
    (r#"{app="foo"} | logfmt | __error__="""#, r#"{app="foo"} | logfmt | __error__="""#),
    (r#"{app="foo"} | json | __error__ != "JSONParserErr""#, r#"{app="foo"} | json | __error__!="JSONParserErr""#),
    (r#"{app="foo"} | rate="a" | ip="1.2.3.4""#, r#"{app="foo"} | rate="a" | ip="1.2.3.4""#),
    (r#"{app="foo"} | bytes > 1KB | duration > 1s"#, r#"{app="foo"} | bytes>1.0kB | duration>1s"#),
    (
        r#"{container="query-frontend",namespace="loki-dev"} |= "metrics.go" | logfmt | duration > 10s and throughput_mb < 500"#,
        r#"{container="query-frontend", namespace="loki-dev"} |= "metrics.go" | logfmt | ( duration>10s , throughput_mb<500 )"#,
    ),
    (
        r#"{app="foo"} |= "a" | json | line_format "{{.x}}" |= "b""#,
        r#"{app="foo"} |= "a" | json | line_format "{{.x}}" |= "b""#,
    ),
    // range aggregations
    (r#"count_over_time({job="mysql"}[5m])"#, r#"count_over_time({job="mysql"}[5m])"#),
    (r#"rate({ foo = "bar" }[5h])"#, r#"rate({foo="bar"}[5h])"#),
    (r#"bytes_over_time({foo="bar"}[12m])"#, r#"bytes_over_time({foo="bar"}[12m])"#),
    (r#"bytes_rate({foo="bar"}[1d])"#, r#"bytes_rate({foo="bar"}[1d])"#),
    (r#"absent_over_time({foo="bar"}[1w])"#, r#"absent_over_time({foo="bar"}[1w])"#),
    (r#"count_over_time({foo="bar"}[1y])"#, r#"count_over_time({foo="bar"}[1y])"#),
    (r#"rate({foo="bar"}[90s])"#, r#"rate({foo="bar"}[1m30s])"#),
    (r#"rate({foo="bar"}[168h])"#, r#"rate({foo="bar"}[1w])"#),
    (r#"rate({foo="bar"}[1500ms])"#, r#"rate({foo="bar"}[1s500ms])"#),
    (r#"rate({foo="bar"}[0])"#, r#"rate({foo="bar"}[0s])"#),
    (r#"count_over_time({foo="bar"}[12h] |= "error")"#, r#"count_over_time({foo="bar"} |= "error"[12h])"#),
    (r#"count_over_time({foo="bar"} |= "error" [12h])"#, r#"count_over_time({foo="bar"} |= "error"[12h])"#),
    (
        r#"count_over_time({foo=~`bar\w+`}[12h] |~ `error\d`)"#,
        r#"count_over_time({foo=~"bar\\w+"} |~ "error\\d"[12h])"#,
    ),
    (
        r#"count_over_time(({foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap")[5m])"#,
        r#"count_over_time({foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap"[5m])"#,
    ),
    (r#"rate({foo="bar"}[5m] offset 1h)"#, r#"rate({foo="bar"}[5m] offset 1h0m0s)"#),
    (r#"rate({foo="bar"}[5m] offset -1h)"#, r#"rate({foo="bar"}[5m] offset -1h0m0s)"#),
    (
        r#"count_over_time({foo="bar"}[5m] offset 10m |= "x")"#,
        r#"count_over_time({foo="bar"} |= "x"[5m] offset 10m0s)"#,
    ),
    (
        r#"sum(count_over_time({job="mysql"} | json [5m] offset 10m))"#,
        r#"sum(count_over_time({job="mysql"} | json[5m] offset 10m0s))"#,
    ),
    (
        r#"absent_over_time( ( {job="mysql"} |="error" !="timeout" ) [10s] offset 10d )"#,
        r#"absent_over_time({job="mysql"} |= "error" != "timeout"[10s] offset 240h0m0s)"#,
    ),
    (r#"rate(({a="b"})[1m])"#, r#"rate({a="b"}[1m])"#),
    (r#"rate((({a="b"}[1m])))"#, r#"rate({a="b"}[1m])"#),
    (r#"rate({a="b"} | json | keep level [1m])"#, r#"rate({a="b"} | json | keep level[1m])"#),
    // unwrapped range aggregations
    (
        r#"sum_over_time({app="foo"} | logfmt | unwrap bytes_processed [1m])"#,
        r#"sum_over_time({app="foo"} | logfmt | unwrap bytes_processed[1m])"#,
    ),
    (
        r#"quantile_over_time(0.99, {cluster="ops-tools1",container="ingress-nginx"} | json | __error__ = "" | unwrap request_time [1m]) by (path)"#,
        r#"quantile_over_time(0.99,{cluster="ops-tools1", container="ingress-nginx"} | json | __error__="" | unwrap request_time[1m]) by (path)"#,
    ),
    (r#"max_over_time({a="b"} | unwrap x [1m]) by (y)"#, r#"max_over_time({a="b"} | unwrap x[1m]) by (y)"#),
    (
        r#"avg_over_time({a="b"} | logfmt | unwrap duration(latency) [5m]) without (pod)"#,
        r#"avg_over_time({a="b"} | logfmt | unwrap duration(latency)[5m]) without (pod)"#,
    ),
    (
        r#"sum_over_time({a="b"} | unwrap bytes(size) | __error__="" [5m])"#,
        r#"sum_over_time({a="b"} | unwrap bytes(size) | __error__=""[5m])"#,
    ),
    (
        r#"stddev_over_time({a="b"} | unwrap duration_seconds(d) [5m])"#,
        r#"stddev_over_time({a="b"} | unwrap duration_seconds(d)[5m])"#,
    ),
    (r#"stdvar_over_time({a="b"} | unwrap x [5m])"#, r#"stdvar_over_time({a="b"} | unwrap x[5m])"#),
    (r#"min_over_time({a="b"} | unwrap x [5m]) by (a,b)"#, r#"min_over_time({a="b"} | unwrap x[5m]) by (a,b)"#),
    (r#"first_over_time({a="b"} | unwrap x [5m])"#, r#"first_over_time({a="b"} | unwrap x[5m])"#),
    (r#"last_over_time({a="b"} | unwrap x [5m]) by ()"#, r#"last_over_time({a="b"} | unwrap x[5m]) by ()"#),
    (r#"rate_counter({a="b"} | unwrap x [5m])"#, r#"rate_counter({a="b"} | unwrap x[5m])"#),
    (r#"rate({a="b"} | unwrap x [1m])"#, r#"rate({a="b"} | unwrap x[1m])"#),
    (r#"absent_over_time({a="b"} | unwrap x [1m])"#, r#"absent_over_time({a="b"} | unwrap x[1m])"#),
    (r#"sum_over_time({a="b"}[5m] | unwrap x)"#, r#"sum_over_time({a="b"} | unwrap x[5m])"#),
    (
        r#"sum_over_time({a="b"}[5m] offset 1h | json | unwrap x)"#,
        r#"sum_over_time({a="b"} | json | unwrap x[5m] offset 1h0m0s)"#,
    ),
    (r#"sum_over_time(({a="b"} | json | unwrap x)[5m])"#, r#"sum_over_time({a="b"} | json | unwrap x[5m])"#),
    (
        r#"sum_over_time({namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms | unwrap latency | __error__!~".*" | foo >5[5m])"#,
        r#"sum_over_time({namespace="tns"} |= "level=error" | json | ( foo>=5 , bar<25ms ) | unwrap latency | __error__!~".*" | foo>5[5m])"#,
    ),
    (
        r#"stdvar_over_time({app="foo"} |= "bar" | json | latency >= 250ms or ( status_code < 500 and status_code > 200) | line_format "blip{{ .foo }}blop {{.status_code}}" | label_format foo=bar,status_code="buzz{{.bar}}" | unwrap foo [5m])"#,
        r#"stdvar_over_time({app="foo"} |= "bar" | json | ( latency>=250ms or ( status_code<500 , status_code>200 ) ) | line_format "blip{{ .foo }}blop {{.status_code}}" | label_format foo=bar,status_code="buzz{{.bar}}" | unwrap foo[5m])"#,
    ),
    (
        r#"count_over_time({a="b"} | pattern "<ip> <_>" | ip = ip("10.0.0.0/8") [5m])"#,
        r#"count_over_time({a="b"} | pattern "<ip> <_>" | ip=ip("10.0.0.0/8")[5m])"#,
    ),
    // vector aggregations
    (r#"sum(rate({ foo = "bar" }[5h]))"#, r#"sum(rate({foo="bar"}[5h]))"#),
    (
        r#"avg(count_over_time({ foo = "bar" }[5h])) by (bar,foo)"#,
        r#"avg by (bar,foo)(count_over_time({foo="bar"}[5h]))"#,
    ),
    (r#"avg(count_over_time({ foo = "bar" }[5h])) by ()"#, r#"avg(count_over_time({foo="bar"}[5h]))"#),
    (
        r#"max without (bar) (count_over_time({ foo = "bar" }[5h]))"#,
        r#"max without (bar)(count_over_time({foo="bar"}[5h]))"#,
    ),
    (r#"max without () (count_over_time({ foo = "bar" }[5h]))"#, r#"max without ()(count_over_time({foo="bar"}[5h]))"#),
    (
        r#"topk(10,count_over_time({ foo = "bar" }[5h])) without (bar)"#,
        r#"topk without (bar)(10,count_over_time({foo="bar"}[5h]))"#,
    ),
    (r#"bottomk(30 ,sum(rate({ foo = "bar" }[5h])) by (foo))"#, r#"bottomk(30,sum by (foo)(rate({foo="bar"}[5h])))"#),
    (
        r#"topk by (name)(10,sum(rate({region="us-east1"}[5m])))"#,
        r#"topk by (name)(10,sum(rate({region="us-east1"}[5m])))"#,
    ),
    (r#"count(count_over_time({a="b"}[1m]))"#, r#"count(count_over_time({a="b"}[1m]))"#),
    (r#"stddev(rate({a="b"}[1m])) by (x)"#, r#"stddev by (x)(rate({a="b"}[1m]))"#),
    (r#"stdvar(rate({a="b"}[1m]))"#, r#"stdvar(rate({a="b"}[1m]))"#),
    (r#"min(rate({a="b"}[1m]))"#, r#"min(rate({a="b"}[1m]))"#),
    (r#"sort(sum by(a) (rate({job="mysql"}[10s])))"#, r#"sort(sum by (a)(rate({job="mysql"}[10s])))"#),
    (r#"sort_desc(sum(rate({job="mysql"}[10s])))"#, r#"sort_desc(sum(rate({job="mysql"}[10s])))"#),
    (r#"approx_topk(5, rate({a="b"}[1m]))"#, r#"approx_topk(5,rate({a="b"}[1m]))"#),
    (r#"SUM(RATE({a="b"}[1m])) BY (x)"#, r#"sum by (x)(rate({a="b"}[1m]))"#),
    (r#"sum(5)"#, r#"sum(5)"#),
    (
        r#"sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))"#,
        r#"sum by (host)(rate({job="mysql"} |= "error" != "timeout" | json | duration>10s[1m]))"#,
    ),
    (
        r#"sum by (level) (count_over_time({job="mysql"} | logfmt | level=~"warn|error" [5m]))"#,
        r#"sum by (level)(count_over_time({job="mysql"} | logfmt | level=~"warn|error"[5m]))"#,
    ),
    (r#"topk(3, sum by (app) (rate({a="b"}[1m])) > 1)"#, r#"topk(3,(sum by (app)(rate({a="b"}[1m])) > 1))"#),
    // binary operations
    (
        r#"sum(count_over_time({foo="bar"}[5m])) by (foo) / sum(count_over_time({foo="bar"}[5m])) by (foo)"#,
        r#"(sum by (foo)(count_over_time({foo="bar"}[5m])) / sum by (foo)(count_over_time({foo="bar"}[5m])))"#,
    ),
    (
        r#"rate({a="b"}[1m]) / rate({a="c"}[1m]) / rate({a="d"}[1m])"#,
        r#"((rate({a="b"}[1m]) / rate({a="c"}[1m])) / rate({a="d"}[1m]))"#,
    ),
    (
        r#"rate({a="b"}[1m]) ^ rate({a="c"}[1m]) ^ rate({a="d"}[1m])"#,
        r#"(rate({a="b"}[1m]) ^ (rate({a="c"}[1m]) ^ rate({a="d"}[1m])))"#,
    ),
    (
        r#"rate({a="b"}[1m]) + rate({a="c"}[1m]) * rate({a="d"}[1m])"#,
        r#"(rate({a="b"}[1m]) + (rate({a="c"}[1m]) * rate({a="d"}[1m])))"#,
    ),
    (
        r#"sum by (job) (count_over_time({namespace="tns"} |= "level=error"[5m]) / count_over_time({namespace="tns"}[5m])) * 100"#,
        r#"(sum by (job)((count_over_time({namespace="tns"} |= "level=error"[5m]) / count_over_time({namespace="tns"}[5m]))) * 100)"#,
    ),
    (
        r#"sum(count_over_time({foo="bar"}[5m])) by (foo) + 1 / 2"#,
        r#"(sum by (foo)(count_over_time({foo="bar"}[5m])) + 0.5)"#,
    ),
    (r#"sum(rate({a="b"}[1m])) by (a) * 2 > 10"#, r#"((sum by (a)(rate({a="b"}[1m])) * 2) > 10)"#),
    (r#"rate({a="b"}[1m]) > 1 and rate({a="b"}[1m]) < 5"#, r#"((rate({a="b"}[1m]) > 1) and (rate({a="b"}[1m]) < 5))"#),
    (
        r#"rate({a="b"}[1m]) or rate({a="c"}[1m]) and rate({a="d"}[1m])"#,
        r#"(rate({a="b"}[1m]) or (rate({a="c"}[1m]) and rate({a="d"}[1m])))"#,
    ),
    (r#"sum by (app) (rate({app=~"foo|bar"}[1m])) > 10"#, r#"(sum by (app)(rate({app=~"foo|bar"}[1m])) > 10)"#),
    (
        r#"sum by (app) (count_over_time({app="foo"}[1m])) > bool 10"#,
        r#"(sum by (app)(count_over_time({app="foo"}[1m])) > bool 10)"#,
    ),
    (r#"rate({app="foo"}[5m]) and rate({app="bar"}[5m])"#, r#"(rate({app="foo"}[5m]) and rate({app="bar"}[5m]))"#),
    (
        r#"rate({app="foo"}[5m]) unless on (a) rate({app="bar"}[5m])"#,
        r#"(rate({app="foo"}[5m]) unless on (a)  rate({app="bar"}[5m]))"#,
    ),
    (
        r#"sum by (a,b) (rate({x="y"}[1m])) * on (a) group_left (b) sum by (a) (rate({x="z"}[1m]))"#,
        r#"(sum by (a,b)(rate({x="y"}[1m])) * on (a) group_left (b) sum by (a)(rate({x="z"}[1m])))"#,
    ),
    (
        r#"rate({x="y"}[1m]) / ignoring (pod) group_right rate({x="z"}[1m])"#,
        r#"(rate({x="y"}[1m]) / ignoring (pod) group_right rate({x="z"}[1m]))"#,
    ),
    (r#"rate({x="y"}[1m]) == bool on () rate({x="z"}[1m])"#, r#"(rate({x="y"}[1m]) == bool on ()  rate({x="z"}[1m]))"#),
    (r#"rate({x="y"}[1m]) - ignoring () rate({x="z"}[1m])"#, r#"(rate({x="y"}[1m]) - rate({x="z"}[1m]))"#),
    (
        r#"(count_over_time({job="postgres"}[5m])/2) or vector(2)"#,
        r#"((count_over_time({job="postgres"}[5m]) / 2) or vector(2.000000))"#,
    ),
    (r#"10 / (count_over_time({job="postgres"}[5m])/2)"#, r#"(10 / (count_over_time({job="postgres"}[5m]) / 2))"#),
    (
        r#"sum(count_over_time({foo="bar"}[1m])) or vector(0)"#,
        r#"(sum(count_over_time({foo="bar"}[1m])) or vector(0.000000))"#,
    ),
    ("sum(rate({a=\"b\"}[1m])) # total\n / 2", r#"(sum(rate({a="b"}[1m])) / 2)"#),
    (r#"1 > bool 1 > count_over_time({foo="bar"}[1m])"#, r#"(0 > count_over_time({foo="bar"}[1m]))"#),
    (r#"1 > bool 1 > bool count_over_time({foo="bar"}[1m])"#, r#"(0 > bool count_over_time({foo="bar"}[1m]))"#),
    (
        r#"sum by (job) (sum_over_time({namespace="tns"} |= "level=error" | json | foo=5 and bar<25ms | unwrap bytes(latency)[5m]) / count_over_time({namespace="tns"} | logfmt | label_format foo=bar[5m]))"#,
        r#"sum by (job)((sum_over_time({namespace="tns"} |= "level=error" | json | ( foo==5 , bar<25ms ) | unwrap bytes(latency)[5m]) / count_over_time({namespace="tns"} | logfmt | label_format foo=bar[5m])))"#,
    ),
    // literals, vector(), label_replace
    (r#"1 + -2 / 1"#, r#"-1"#),
    (r#"1 + 1 - -1"#, r#"3"#),
    (r#"1 > 1 > 1"#, r#"0"#),
    (r#"1 > 1 > bool 1"#, r#"0"#),
    (r#"1.6"#, r#"1.6"#),
    (r#"10 / (5/2)"#, r#"4"#),
    (r#"2 ^ 3 ^ 2"#, r#"512"#),
    (r#"-2 ^ 2"#, r#"4"#),
    (r#"5 % 3"#, r#"2"#),
    (r#"1 / 0"#, r#"NaN"#),
    (r#"-5"#, r#"-5"#),
    (r#"+5"#, r#"5"#),
    (r#"1e6"#, r#"1e+06"#),
    (r#"123456"#, r#"123456"#),
    (r#"0.00001"#, r#"1e-05"#),
    (r#"1234567.5"#, r#"1.2345675e+06"#),
    (r#"NaN"#, r#"NaN"#),
    (r#"Inf"#, r#"+Inf"#),
    (r#"-Inf"#, r#"-Inf"#),
    (r#"vector(1)"#, r#"vector(1.000000)"#),
    (r#"vector(0.5)"#, r#"vector(0.500000)"#),
    (r#"(rate({a="b"}[1m]))"#, r#"rate({a="b"}[1m])"#),
    (
        r#"label_replace(rate({job="api-server",service="a:c"}[5m]), "foo", "$1", "service", "(.*):.*")"#,
        r#"label_replace(rate({job="api-server", service="a:c"}[5m]),"foo","$1","service","(.*):.*")"#,
    ),
    (
        r#"avg(label_replace(count_over_time({ foo = "bar" }[5h]),"bar","$1$2","foo","(.*).(.*)")) by (bar,foo)"#,
        r#"avg by (bar,foo)(label_replace(count_over_time({foo="bar"}[5h]),"bar","$1$2","foo","(.*).(.*)"))"#,
    ),
];

/// Queries whose canonical print is lossy in Loki too (bytes are humanized); the print must be stable.
const LOSSY: &[(&str, &str)] = &[
    (r#"{app="foo"} | size >= 1MiB"#, r#"{app="foo"} | size>=1.0MB"#),
    (r#"{app="foo"} | size < 1023B"#, r#"{app="foo"} | size<1.0kB"#),
];

/// (query, expected error: the full Display when it starts with "parse error", else a substring).
const INVALID: &[(&str, &str)] = &[
    (r#"{foo="bar}"#, "parse error at line 1, col 6: literal not terminated"),
    (r#"{foo="bar""#, "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"),
    (r#"{foo="bar"} |~"#, "parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING or ip"),
    (r#"{foo="bar"} "foo""#, "parse error at line 1, col 13: syntax error: unexpected STRING"),
    (r#"{foo="bar"} foo"#, "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"),
    (r#"unk({ foo = "bar" }[5m])"#, "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"),
    (
        r#"absent_over_time({ foo = "bar" }[5h]) by (foo)"#,
        "parse error : grouping not allowed for absent_over_time aggregation",
    ),
    (
        r#"rate({ foo = "bar" }[5minutes])"#,
        r#"parse error at line 0, col 21: unknown unit "minutes" in duration "5minutes""#,
    ),
    (
        r#"label_replace(rate({ foo = "bar" }[5m]),"")"#,
        "parse error at line 1, col 43: syntax error: unexpected ), expecting ,",
    ),
    (
        r#"label_replace(rate({ foo = "bar" }[5m]),"foo","$1","bar","^^^^x43\\q")"#,
        "parse error : invalid regex in label_replace: error parsing regexp: invalid escape sequence: `\\q`",
    ),
    (r#"rate({ foo = "bar" }[5)"#, "parse error at line 0, col 21: missing closing ']' in duration"),
    (r#"min({ foo = "bar" }[5m])"#, "parse error at line 0, col 20: syntax error: unexpected RANGE"),
    (r#"sum(3 ,count_over_time({ foo = "bar" }[5h]))"#, "parse error : unsupported parameter for operation sum(3,"),
    (r#"topk(count_over_time({ foo = "bar" }[5h]))"#, "parse error : parameter required for operation topk"),
    (
        r#"bottomk(he,count_over_time({ foo = "bar" }[5h]))"#,
        "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER",
    ),
    (r#"bottomk(1.2,count_over_time({ foo = "bar" }[5h]))"#, "parse error : invalid parameter bottomk(1.2,"),
    (r#"stddev({ foo = "bar" })"#, "parse error at line 1, col 23: syntax error: unexpected )"),
    (
        r#"topk(0, sum(rate({region="us-east1"}[5m])) by (name))"#,
        "parse error : invalid parameter (must be greater than 0) topk(0",
    ),
    (
        r#"sort(sum by(a) (rate({job="mysql"}[10s]))) by (app)"#,
        "parse error : sort and sort_desc doesn't allow grouping by ",
    ),
    (r#"{app=~".*"}"#, ERR_EMPTY_MATCHERS),
    (r#"{}"#, ERR_EMPTY_MATCHERS),
    (r#"count_over_time({app="", b!~"x"}[5m])"#, ERR_EMPTY_MATCHERS),
    (r#"avg_over_time({app="x"}[5m])"#, "parse error : invalid aggregation avg_over_time without unwrap"),
    (r#"count_over_time({app="x"} | unwrap y [5m])"#, "parse error : invalid aggregation count_over_time with unwrap"),
    (r#"sum_over_time({app="x"} | unwrap y [5m]) by (a)"#, "grouping not allowed for sum_over_time aggregation"),
    (r#"rate({app="x"}[5m]) by (host)"#, "parse error : grouping not allowed for rate aggregation"),
    (
        r#"quantile_over_time({app="x"} | unwrap y [5m])"#,
        "parse error : parameter required for operation quantile_over_time",
    ),
    (r#"rate(5, {app="x"}[5m])"#, "parse error : parameter 5 not supported for operation rate"),
    (
        r#"quantile_over_time(0x1F, {a="b"} | unwrap x [1m])"#,
        r#"parse error : invalid parameter for operation quantile_over_time: strconv.ParseFloat: parsing "0x1F": invalid syntax"#,
    ),
    (r#"{app="foo"} + 1"#, "parse error : unexpected type for left leg of binary operation (+): *syntax.MatchersExpr"),
    (
        r#"1 + {app="foo"} |= "x""#,
        "parse error : unexpected type for right leg of binary operation (+): *syntax.PipelineExpr",
    ),
    (
        r#"rate({a="b"}[1m]) and 1"#,
        "parse error : unexpected literal for right leg of logical/set binary operation (and): 1.000000",
    ),
    (r#"1 and 1"#, "parse error : unexpected literal for left leg of logical/set binary operation (and): 1.000000"),
    (r#"{a=~"("}"#, "parse error : error parsing regexp: missing closing ): `(`"),
    (r#"{a="b"} | level=~"x[a""#, "parse error : error parsing regexp: missing closing ]: `[a`"),
    (r#"{a="b"} | keep x=~"a)""#, "parse error : error parsing regexp: unexpected ): `a)`"),
    (
        r#"{a="b"} | regexp "x{2,1}(?P<a>.)""#,
        "parse error : invalid regexp parser: error parsing regexp: invalid repeat count: `{2,1}`",
    ),
    (r#"{a="b"} |~ "(""#, "error parsing regexp"),
    (r#"{a="b"} | regexp "(foo)""#, "parse error : invalid regexp parser: at least one named capture must be supplied"),
    (r#"{a="b"} | pattern "foo""#, "parse error : invalid pattern parser: at least one capture is required"),
    (r#"{a="b"} | pattern "<a><b>""#, "invalid pattern parser: found consecutive capture: invalid expression"),
    (r#"{a="b"} | pattern "<a> <a>""#, "invalid pattern parser: duplicate capture name (a): invalid expression"),
    (r#"{a="b"} | unwrap x"#, "parse error at line 1, col 11: syntax error: unexpected unwrap"),
    (r#"sum_over_time({a="b"} | unwrap x | json [1m])"#, "syntax error: unexpected json"),
    (r#"{a="b"} | x > "str""#, "parse error at line 1, col 15: syntax error: unexpected STRING"),
    (r#"{a="b"} | x =~ 5"#, "syntax error: unexpected NUMBER, expecting STRING"),
    (r#"rate({a="b"}[5m] offset 5)"#, "syntax error: unexpected NUMBER, expecting DURATION"),
    (r#"vector(-1)"#, "syntax error: unexpected -, expecting NUMBER"),
    (r#"{a="b"} |= "x" [5m]"#, "parse error at line 0, col 16: syntax error: unexpected RANGE"),
    (r#"rate({a="b"})"#, "syntax error: unexpected )"),
    (r#"rate({a="b"}[1.5m])"#, r#"unknown unit "." in duration "1.5m""#),
    (r#"rate({a="b"}[])"#, "parse error at line 0, col 13: empty duration string"),
    (r#"rate({a="b"}[5m1h])"#, r#"not a valid duration string: "5m1h""#),
    (r#"{a="b"} |= "\q""#, "parse error at line 1, col 12: invalid char escape"),
    (r#"{a="b"} |= "x"#, "parse error at line 1, col 12: literal not terminated"),
    (r#"{a="b"} /* comment"#, "comment not terminated"),
    (r#"sum(rate({a="b"}[1m])) by (a) by (b)"#, "syntax error: unexpected by"),
    (r#"{a="b"} | json foo="bar" baz"#, "syntax error: unexpected IDENTIFIER"),
    (r#"{a="b", }"#, "syntax error: unexpected }, expecting IDENTIFIER"),
    (r#"{a "b"}"#, "syntax error: unexpected STRING, expecting = or =~ or !~ or !="),
    (r#"{on="b"}"#, "syntax error: unexpected on, expecting IDENTIFIER or }"),
    (r#"label_replace(rate({a="b"}[1m]),"a","b","c","(")"#, "parse error : invalid regex in label_replace"),
    (
        r#"approx_topk(5, rate({app="x"}[5m])) by (host)"#,
        "parse error : grouping not allowed for approx_topk aggregation",
    ),
    (r#"rate({a="b"}[1m]) +"#, "syntax error: unexpected $end"),
    (r#"{a="b"} | line_format"#, "syntax error: unexpected $end, expecting STRING"),
    (r#"sum(5, rate({a=~".*"}[1m]))"#, "parse error : unsupported parameter for operation sum(5,"),
    (r#"rate({a=~".*"}[1m]) +"#, "syntax error: unexpected $end"),
    (r#"{a="b"} |= "x" or"#, "syntax error: unexpected $end, expecting STRING or ip"),
    (r#"{a="b"} | label_format a=5"#, "syntax error: unexpected NUMBER, expecting IDENTIFIER or STRING"),
    (r#"sum by (a) ()"#, "syntax error: unexpected )"),
    (r#"topk(5.5, rate({a="b"}[1m]))"#, "parse error : invalid parameter topk(5.5,"),
    (r#"{a="b"} | unwrap"#, "syntax error: unexpected unwrap"),
    (r#"rate({a="b"}[5m]) > "x""#, "syntax error: unexpected STRING"),
];

fn check_valid(q: &str, want: &str, strict_round_trip: bool) -> Result<(), String> {
    let e = parse_expr(q).map_err(|err| format!("{q}\n  failed: {err}"))?;
    let got = e.to_string();
    if got != want {
        return Err(format!("{q}\n  printed: {got}\n  wanted:  {want}"));
    }
    let again = parse_expr(&got).map_err(|err| format!("{q}\n  reparse of {got} failed: {err}"))?;
    if strict_round_trip && format!("{again:?}") != format!("{e:?}") {
        return Err(format!("{q}\n  round trip changed the AST:\n  {e:?}\n  {again:?}"));
    }
    if again.to_string() != got {
        return Err(format!("{q}\n  print is not stable: {again}"));
    }
    let p = pretty(&e);
    let from_pretty = parse_expr(&p).map_err(|err| format!("{q}\n  pretty form failed to parse: {err}\n{p}"))?;
    if strict_round_trip && format!("{from_pretty:?}") != format!("{e:?}") {
        return Err(format!("{q}\n  pretty round trip changed the AST:\n{p}"));
    }
    Ok(())
}

#[test]
fn valid_queries_parse_and_print_canonically() {
    let mut failures = Vec::new();
    for (q, want) in VALID {
        if let Err(e) = check_valid(q, want, true) {
            failures.push(e);
        }
    }
    for (q, want) in LOSSY {
        if let Err(e) = check_valid(q, want, false) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(VALID.len() + LOSSY.len() >= 120, "only {} valid cases", VALID.len());
}

#[test]
fn invalid_queries_fail_with_loki_messages() {
    let mut failures = Vec::new();
    for (q, want) in INVALID {
        match parse_expr(q) {
            Ok(e) => failures.push(format!("{q}\n  unexpectedly parsed as {e}")),
            Err(err) => {
                let got = err.to_string();
                let ok = if want.starts_with("parse error") { got.starts_with(want) } else { got.contains(want) };
                if !ok {
                    failures.push(format!("{q}\n  got:    {got}\n  wanted: {want}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(INVALID.len() >= 30);
}

#[test]
fn error_display_and_position() {
    let err = parse_expr(r#"{foo="bar"} foo"#).unwrap_err();
    assert_eq!((err.line, err.col), (1, 13));
    assert_eq!(err.message, "syntax error: unexpected IDENTIFIER");
    let err = parse_expr("{foo=\"bar\"}\n  | json\n  | x > \"a\"").unwrap_err();
    assert_eq!(err.to_string(), "parse error at line 3, col 9: syntax error: unexpected STRING");
    let err = parse_expr("{}").unwrap_err();
    assert_eq!(err.to_string(), format!("parse error : {ERR_EMPTY_MATCHERS}"));
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    assert_eq!(parse_expr(&ok).unwrap().to_string(), "1");
    for q in [
        format!("{}1{}", "(".repeat(300), ")".repeat(300)),
        format!("{}rate({{a=\"b\"}}[1m]){}", "sum(".repeat(300), ")".repeat(300)),
        format!("{{a=\"b\"}} | {}x=\"1\"{}", "(".repeat(300), ")".repeat(300)),
        format!("{{a=\"b\"}} | {}", vec!["x=\"1\""; 400].join(" or ")),
        format!("{{a=\"b\"}} | {}", vec!["x=\"1\""; 400].join(" ")),
        vec!["rate({a=\"b\"}[1m])"; 400].join(" + "),
        format!("rate({}{{a=\"b\"}}[1m]{})", "(".repeat(300), ")".repeat(300)),
    ] {
        let err = parse_expr(&q).unwrap_err();
        assert!(err.message.contains("too deeply nested"), "{err}");
    }
    let long = format!("{{a=\"b\"}} |= \"{}\"", "x".repeat(200_000));
    assert!(parse_expr(&long).unwrap_err().to_string().contains("input size too long"));
}

#[test]
fn garbage_never_panics() {
    let pieces = [
        "{",
        "}",
        "(",
        ")",
        "[5m]",
        "[",
        "]",
        "|",
        "|=",
        "!=",
        "=~",
        "\"x\"",
        "`y`",
        "a",
        "=",
        ",",
        "by",
        "sum",
        "rate",
        "1",
        "-",
        "+",
        "or",
        "and",
        "unwrap",
        "json",
        "offset",
        "5m",
        "ip(",
        "#",
        "'",
        "\\",
        "1e",
        "--strict",
        "bool",
        "on",
        "group_left",
        "vector(",
        "label_replace(",
        "topk(",
        "1KB",
        "µ",
        "/*",
        "0x",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut q = String::new();
        for _ in 0..(seed % 12) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            q.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            if seed.is_multiple_of(3) {
                q.push(' ');
            }
        }
        if let Ok(e) = parse_expr(&q) {
            let printed = e.to_string();
            assert!(parse_expr(&printed).is_ok(), "{q} -> {printed}");
            let _ = pretty(&e);
        }
    }
}

#[test]
fn evaluator_helpers() {
    let e = parse_expr(r#"sum(rate({a="b"} |= "x" [1m])) / sum(count_over_time({c=~"d.+"} | json [5m] offset 1m))"#)
        .unwrap();
    let ranges = e.log_ranges();
    assert_eq!(ranges.len(), 2);
    assert_eq!(ranges[0].interval, std::time::Duration::from_secs(60));
    assert_eq!(ranges[1].offset, 60_000_000_000);
    let sels = e.log_selectors();
    assert_eq!(sels[0].matchers()[0].name, "a");
    assert!(!sels[0].has_non_line_filter_stages());
    assert!(sels[1].has_non_line_filter_stages());
    assert!(sels[0].has_filter());
    assert!(!sels[1].has_filter());

    let log = parse_log_expr(r#"{app=~"fo+", env!="dev"} |~ "err(or)?" != "x" or "y""#).unwrap();
    let m = &log.matchers()[0];
    assert_eq!(m.op, MatchOp::Regex);
    assert!(m.matches("foo") && !m.matches("xfoo") && !m.matches(""));
    assert!(log.matchers()[1].matches("") && !log.matchers()[1].matches("dev"));
    assert_eq!(log.stages.len(), 3);
    match &log.stages[0] {
        Stage::LineFilter(f) => {
            assert_eq!(f.op, LineFilterOp::Regex);
            assert!(f.values[0].regex.as_ref().is_some_and(|r| r.is_match("an error here")));
        }
        s => panic!("unexpected stage {s:?}"),
    }
    assert!(!log.has_non_line_filter_stages());

    assert_eq!(parse_matchers(r#"{a="b", c!="d"}"#).unwrap().len(), 2);
    assert!(parse_matchers(r#"{a="b"} |= "x""#).is_err());
    assert!(parse_sample_expr(r#"{a="b"}"#).is_err());
    assert!(matches!(parse_sample_expr("vector(2)").unwrap(), SampleExpr::Vector(v) if v == 2.0));
    assert!(matches!(parse_expr(r#"{a="b"}"#).unwrap(), Expr::Log(_)));
    assert!(matches!(r#"rate({a="b"}[1m])"#.parse::<Expr>().unwrap(), Expr::Sample(_)));
}

#[test]
fn pretty_matches_loki_prettify() {
    let short = parse_expr(r#"sum by (a) (rate({app="foo"}[1m]))"#).unwrap();
    assert_eq!(pretty(&short), r#"sum by (a)(rate({app="foo"}[1m]))"#);
    let q = r#"sum by (cluster) (count_over_time({job="mysql", namespace="production", cluster=~"us-.*"} |= "error" != "timeout" | json | level="error" [5m]))"#;
    let want = r#"sum by (cluster)(
  count_over_time(
    {job="mysql", namespace="production", cluster=~"us-.*"}
      |= "error" != "timeout"
      | json
      | level="error" [5m]
  )
)"#;
    assert_eq!(pretty(&parse_expr(q).unwrap()), want);
    let q = r#"quantile_over_time(0.99, {container="ingress-nginx", service="hosted-grafana"} | json | unwrap response_latency_seconds | __error__="" [1m]) by (cluster)"#;
    let want = r#"quantile_over_time(
  0.99,
  {container="ingress-nginx", service="hosted-grafana"} | json
    | unwrap response_latency_seconds
    | __error__="" [1m]
) by (cluster)"#;
    assert_eq!(pretty(&parse_expr(q).unwrap()), want);
}

#[test]
fn random_text_never_panics() {
    let alphabet: Vec<char> = "{}()[]|=!~<>+-*/%^,.\"`'#\\ \n\tabcxyz_019eEsmhµKBi@$:;?".chars().collect();
    let mut seed: u64 = 0xD1B5_4A32_D192_ED03;
    for _ in 0..5000 {
        let mut q = String::new();
        for _ in 0..(seed % 40) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            q.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        if let Ok(e) = parse_expr(&q) {
            let printed = e.to_string();
            assert!(parse_expr(&printed).is_ok(), "{q:?} -> {printed}");
        }
    }
}

#[test]
fn go_compatible_formatting() {
    use super::compat::{
        go_duration, go_float_f, go_float_g, go_quote, humanize_bytes, parse_go_duration, prom_duration,
    };
    let g = [
        (0.5, "0.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1.5e-7, "1.5e-07"),
        (-0.0001, "-0.0001"),
        (1e21, "1e+21"),
    ];
    for (v, want) in g {
        assert_eq!(go_float_g(v), want);
    }
    assert_eq!(go_float_f(1e21), "1000000000000000000000");
    assert_eq!(go_float_f(f64::INFINITY), "+Inf");
    let d = [(0, "0s"), (1, "1ns"), (1_500, "1.5µs"), (250_000_000, "250ms"), (90_000_000_000, "1m30s")];
    for (ns, want) in d {
        assert_eq!(go_duration(ns), want);
    }
    assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
    assert_eq!(go_duration(-7_200_000_000_000), "-2h0m0s");
    assert_eq!(prom_duration(86_400_000_000_000 * 14), "2w");
    assert_eq!(prom_duration(86_400_000_000_000 * 10), "10d");
    assert_eq!(prom_duration(90 * 86_400_000_000_000), "90d");
    assert_eq!(humanize_bytes(9), "9B");
    assert_eq!(humanize_bytes(1_000_000), "1.0MB");
    assert_eq!(humanize_bytes(20_000), "20kB");
    assert_eq!(humanize_bytes(u64::MAX), "18EB");
    assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
    assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
    assert_eq!(parse_go_duration("10us"), Some(10_000));
    assert_eq!(parse_go_duration("5"), None);
}
