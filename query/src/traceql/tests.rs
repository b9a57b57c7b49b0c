use super::ast::*;
use super::{ParseError, parse};

fn attr(scope: AttributeScope, name: &str) -> FieldExpr {
    FieldExpr::Attribute(Attribute::Named { scope, name: name.into() })
}

fn cmp(op: CompareOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    FieldExpr::Binary { op: FieldOp::Compare(op), lhs: Box::new(lhs), rhs: Box::new(rhs) }
}

fn filter(query: &str) -> FieldExpr {
    match parse(query).unwrap_or_else(|e| panic!("{query}: {e}")).stages.remove(0) {
        Stage::Spanset(SpansetExpr::Filter(f)) => f,
        other => panic!("{query}: not a single filter: {other:?}"),
    }
}

#[test]
fn every_documented_form_parses() {
    let valid = [
        "{}",
        "{ true }",
        "{ false }",
        r#"{ .http.method = "GET" }"#,
        r#"{ span.http.method = "GET" }"#,
        r#"{ resource.service.name = "checkout" }"#,
        r#"{ resource.service.name != "checkout" }"#,
        "{ span.http.status_code >= 500 }",
        "{ span.http.status_code > 499 && span.http.status_code < 600 }",
        "{ .http.status_code <= 200 }",
        r#"{ .http.url =~ "/api/.*" }"#,
        r#"{ .http.url !~ "/health.*" }"#,
        "{ duration > 100ms }",
        "{ duration >= 1.5s }",
        "{ duration < 2m }",
        "{ duration < 1h }",
        "{ duration > 10us && duration < 500ns }",
        "{ span:duration > 100ms }",
        "{ traceDuration > 1s }",
        "{ trace:duration > 1s }",
        "{ status = error }",
        "{ status = ok }",
        "{ status != unset }",
        "{ span:status = error }",
        r#"{ statusMessage = "boom" }"#,
        r#"{ span:statusMessage =~ ".*timeout.*" }"#,
        "{ kind = server }",
        "{ kind = client || kind = producer || kind = consumer || kind = internal || kind = unspecified }",
        "{ span:kind = server }",
        r#"{ name = "GET /orders" }"#,
        r#"{ span:name = "GET /orders" }"#,
        r#"{ rootName = "GET /" }"#,
        r#"{ trace:rootName = "GET /" }"#,
        r#"{ rootServiceName = "gateway" }"#,
        r#"{ trace:rootService = "gateway" }"#,
        r#"{ trace:id = "0102" }"#,
        r#"{ span:id = "0102030405060708" }"#,
        r#"{ event:name = "exception" }"#,
        r#"{ event.exception.message =~ ".*" }"#,
        r#"{ link:traceID = "ab" }"#,
        "{ link.weight > 1 }",
        r#"{ instrumentation:name = "lib" }"#,
        r#"{ instrumentation.foo = "bar" }"#,
        "{ .retry = true }",
        "{ .retry = false }",
        "{ .ratio > 0.5 }",
        "{ .ratio > .5 }",
        "{ .delta > -3 }",
        "{ .foo != nil }",
        "{ .foo = nil }",
        r#"{ span."name with spaces" = "x" }"#,
        r#"{ ."dotted.key" = "x" }"#,
        r#"{ .k = `raw \d string` }"#,
        r#"{ .k = "escaped \"quote\"" }"#,
        "{ !(status = error) }",
        "{ !(.a = 1) && .b = 2 }",
        "{ (.a = 1 || .b = 2) && .c = 3 }",
        r#"{ resource.service.name = "a" } && { resource.service.name = "b" }"#,
        r#"{ resource.service.name = "a" } || { resource.service.name = "b" }"#,
        r#"{ resource.service.name = "gateway" } > { resource.service.name = "orders" }"#,
        r#"{ resource.service.name = "gateway" } >> { status = error }"#,
        r#"{ name = "a" } ~ { name = "b" }"#,
        r#"({ name = "a" } >> { name = "b" }) && { name = "c" }"#,
        r#"{ name = "a" } > { name = "b" } > { name = "c" }"#,
        "{ status = error } | count() > 2",
        "{ } | count() >= 10",
        "{ status = error } | avg(duration) > 100ms",
        "{ } | min(duration) < 1ms",
        "{ } | max(span.http.status_code) = 500",
        "{ } | sum(duration) > 1s",
        "{ status = error } | select(span.http.url, resource.service.name)",
        "{ } | by(resource.service.name) | count() > 1",
        r#"{ } | { name = "x" }"#,
        "{ } | rate()",
        "{ status = error } | rate() by (resource.service.name)",
        "{ } | count_over_time() by (span.http.route, resource.service.name)",
        "{ } | quantile_over_time(duration, .5, .9, .99)",
        "{ } | quantile_over_time(duration, 0.99) by (resource.service.name)",
        "{ } | histogram_over_time(duration)",
        "{ kind = server }\n  | count() > 1",
    ];
    for query in valid {
        if let Err(e) = parse(query) {
            panic!("{query:?} should parse: {e}");
        }
    }
    assert!(valid.len() >= 80, "{} valid queries", valid.len());
}

#[test]
fn trees_are_built_with_the_right_precedence() {
    assert_eq!(
        filter("{ duration > 150ms }"),
        cmp(
            CompareOp::Gt,
            FieldExpr::Attribute(Attribute::Intrinsic(Intrinsic::Duration)),
            FieldExpr::Static(Static::Duration(150_000_000))
        )
    );
    let expected = FieldExpr::Binary {
        op: FieldOp::Or,
        lhs: Box::new(cmp(CompareOp::Eq, attr(AttributeScope::Unscoped, "a"), FieldExpr::Static(Static::Int(1)))),
        rhs: Box::new(FieldExpr::Binary {
            op: FieldOp::And,
            lhs: Box::new(cmp(CompareOp::Eq, attr(AttributeScope::Span, "b"), FieldExpr::Static(Static::Int(2)))),
            rhs: Box::new(cmp(CompareOp::Eq, attr(AttributeScope::Resource, "c.d"), FieldExpr::Static(Static::Int(3)))),
        }),
    };
    assert_eq!(filter("{ .a = 1 || span.b = 2 && resource.c.d = 3 }"), expected, "&& binds tighter than ||");

    let q = parse(r#"{ name = "a" } || { name = "b" } && { name = "c" } > { name = "d" }"#).unwrap();
    let Stage::Spanset(SpansetExpr::Binary { op: SpansetOp::Or, rhs, .. }) = &q.stages[0] else { panic!("{q:?}") };
    let SpansetExpr::Binary { op: SpansetOp::And, rhs, .. } = rhs.as_ref() else { panic!("{rhs:?}") };
    assert!(matches!(rhs.as_ref(), SpansetExpr::Binary { op: SpansetOp::Child, .. }), "structural binds tightest");

    let q = parse("{ } | quantile_over_time(duration, .5, .99) by (resource.service.name)").unwrap();
    let metrics = q.metrics.unwrap();
    assert_eq!(
        metrics.function,
        MetricsFunction::QuantileOverTime {
            field: Attribute::Intrinsic(Intrinsic::Duration),
            quantiles: vec![0.5, 0.99]
        }
    );
    assert_eq!(metrics.by, vec![Attribute::Named { scope: AttributeScope::Resource, name: "service.name".into() }]);

    assert_eq!(
        filter("{ duration > 1.5s }"),
        cmp(
            CompareOp::Gt,
            FieldExpr::Attribute(Attribute::Intrinsic(Intrinsic::Duration)),
            FieldExpr::Static(Static::Duration(1_500_000_000))
        )
    );
    assert_eq!(
        filter(r#"{ span."a b" = "x\ty" }"#),
        cmp(CompareOp::Eq, attr(AttributeScope::Span, "a b"), FieldExpr::Static(Static::String("x\ty".into())))
    );
}

#[test]
fn bad_queries_say_where_and_what() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "expected a spanset filter"),
        ("{", 2, "expected a value or an attribute but found the end of the query"),
        ("{ .a = 1", 9, "expected '}' to close the spanset filter"),
        (r#"{ .a = "x }"#, 8, "unterminated string"),
        ("{ .a }", 3, "a spanset filter must be a condition"),
        ("{ 1 }", 3, "a spanset filter must be a condition"),
        ("{ foo = 1 }", 3, "unknown intrinsic or literal 'foo'"),
        ("{ duration > \"fast\" }", 12, "cannot compare duration with string"),
        ("{ status > error }", 10, "status values have no order"),
        ("{ status = server }", 10, "cannot compare status with kind"),
        ("{ name =~ 5 }", 8, "=~ and !~ compare a string field with a string regular expression"),
        ("{ duration > 5xs }", 14, "unknown duration unit \"xs\""),
        ("{ .a = 1 && 2 }", 10, "both sides of && and || must be conditions"),
        ("{ .a = 1 } | nonsense()", 14, "unknown pipeline stage 'nonsense'"),
        ("{ } | count()", 14, "expected a comparison after count()"),
        ("{ } | count() > \"x\"", 17, "count() compares with a number or a duration"),
        ("{ } | rate() | count() > 1", 14, "a metrics function must be the last stage"),
        ("{ } | quantile_over_time(duration)", 34, "needs at least one quantile"),
        ("{ } | quantile_over_time(duration, 1.5)", 36, "quantile 1.5 is outside [0, 1]"),
        ("{ } }", 5, "unexpected '}' after the end of the query"),
        ("{ } >", 6, "expected a spanset filter"),
        ("{ .a = 1 } && ", 15, "expected a spanset filter"),
        ("{ . = 1 }", 4, "expected an attribute name after '.'"),
        ("{ .a = 1 } # comment", 12, "unexpected character '#'"),
        ("{ !.a }", 4, "'!' applies to a condition"),
        ("{ } | select()", 14, "expected a value or an attribute"),
        ("{ .a = 1 }\n| count() > x", 13, "count() compares with a number"),
    ];
    for &(query, column, message) in cases {
        let err: ParseError = parse(query).expect_err(query);
        assert!(err.message.contains(message), "{query:?}: {err}");
        assert_eq!(err.column, column, "{query:?}: {err}");
    }
    assert_eq!(parse("{ .a = 1 }\n| count() > x").unwrap_err().line, 2);
    assert_eq!(
        parse("{ .a }").unwrap_err().to_string(),
        "parse error at line 1, col 3: a spanset filter must be a condition, such as .attr = \"x\" or .attr != nil"
    );
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    for query in [
        format!("{{ {}.a = 1{} }}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{{ {}.a = 1 }}", "!".repeat(100_000)),
        format!("{}{{}}{}", "(".repeat(100_000), ")".repeat(100_000)),
    ] {
        let err = parse(&query).unwrap_err();
        assert!(err.message.contains("nests deeper than 64 levels"), "{err}");
    }
    assert!(parse(&format!("{{ {}.a = 1{} }}", "(".repeat(60), ")".repeat(60))).is_ok());
}
