//! Where a query's error is, and Prometheus's wording for it. `promql-parser` says what is
//! wrong but not where, and Prometheus's errors start with `line:column`.
//! - A syntax error is at the first token after which the query can no longer be completed
//!   into a valid one: each prefix is tried with the endings that most often complete a PromQL
//!   expression (an operand, a closing bracket, a duration, a label value).
//! - An error the parser finds in a well-formed expression (a type, an argument count) is at
//!   the innermost part of the query that gives the same error on its own, as Prometheus puts
//!   it at the node it checks; for a wrong argument, at that argument.

/// Longest query (in tokens) for which the position is looked for; longer queries get the
/// parser's message with the position of their end.
const MAX_TOKENS: usize = 200;

/// Prometheus's form of a parse error: `line:col: parse error: message`.
pub(super) fn describe(query: &str, parser_message: &str) -> String {
    let (offset, what) = locate(query, parser_message);
    let (line, col) = line_col(query, offset);
    format!("{line}:{col}: parse error: {}", prometheus_wording(&what))
}

/// The query with its string literals' byte escapes read as Go reads them. `promql-parser`
/// turns `\xc3\xa9` into two characters (`Ã©`) where Go's `"\xc3\xa9"` is the bytes of `é`,
/// and `\xff` into `ÿ` where Go's is an invalid byte. Runs of `\xNN` and octal `\NNN` escapes
/// that hold a byte above 0x7f are replaced by the characters their bytes encode, with U+FFFD
/// for bytes that are not UTF-8 (so that such a label name is refused, as Prometheus refuses
/// invalid UTF-8). Other queries come back unchanged.
pub(super) fn go_byte_escapes(query: &str) -> std::borrow::Cow<'_, str> {
    if !query.contains('\\') {
        return query.into();
    }
    let Ok(toks) = tokens(query) else { return query.into() };
    let mut out = String::new();
    let mut copied = 0;
    for t in toks {
        let text = &query[t.start..t.end];
        if !(text.starts_with('"') || text.starts_with('\'')) {
            continue;
        }
        let Some(rewritten) = rewrite_literal(text) else { continue };
        out.push_str(&query[copied..t.start]);
        out.push_str(&rewritten);
        copied = t.end;
    }
    if copied == 0 {
        return query.into();
    }
    out.push_str(&query[copied..]);
    out.into()
}

/// One quoted literal with its high byte escapes decoded, or `None` when it has none.
fn rewrite_literal(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let byte_escape = |i: usize| -> Option<(u8, usize)> {
        if b.get(i) != Some(&b'\\') {
            return None;
        }
        match b.get(i + 1)? {
            b'x' => {
                let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                Some((u8::from_str_radix(hex, 16).ok()?, 4))
            }
            b'0'..=b'7' => {
                let oct = std::str::from_utf8(b.get(i + 1..i + 4)?).ok()?;
                Some((u8::from_str_radix(oct, 8).ok()?, 4))
            }
            _ => None,
        }
    };
    let mut out = String::new();
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        // A run of byte escapes.
        let (mut bytes, mut j) = (Vec::new(), i);
        while let Some((byte, len)) = byte_escape(j) {
            bytes.push(byte);
            j += len;
        }
        if bytes.iter().any(|&byte| byte > 0x7f) {
            for c in String::from_utf8_lossy(&bytes).chars() {
                if c.is_ascii() {
                    out.push_str(&format!("\\x{:02x}", c as u8));
                } else {
                    out.push(c);
                }
            }
            changed = true;
            i = j;
            continue;
        }
        if j > i {
            out.push_str(&text[i..j]);
            i = j;
            continue;
        }
        // Any other character, with the one after a backslash kept beside it.
        let len = if b[i] == b'\\' { 1 + text[i + 1..].chars().next().map_or(0, char::len_utf8) } else { 0 };
        let len = if len == 0 { text[i..].chars().next().map_or(1, char::len_utf8) } else { len };
        out.push_str(&text[i..i + len]);
        i += len;
    }
    changed.then_some(out)
}

/// A matcher Lookout adds to the label selector of `info()`'s second argument, which may match
/// the empty string (`{data=~".*"}`): Prometheus's parser allows that there and nowhere else,
/// and `promql-parser` nowhere. `info()` drops it again.
pub(super) const INFO_SELECTOR_MARK: &str = "__lookout_info_selector__";

/// The query with [`INFO_SELECTOR_MARK`] added to the selector of every `info()` call's second
/// argument, or `None` when it has no such call.
pub(super) fn mark_info_selectors(query: &str) -> Option<String> {
    let toks = tokens(query).ok()?;
    let text = |t: &Token| &query[t.start..t.end];
    let mut inserts: Vec<(usize, bool)> = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        if text(t) != "info" || toks.get(k + 1).map(text) != Some("(") {
            continue;
        }
        // The call's top-level comma, then the braces of the selector after it.
        let mut depth = 0;
        let mut comma = None;
        for (j, u) in toks.iter().enumerate().skip(k + 1) {
            match text(u) {
                "(" | "{" | "[" => depth += 1,
                ")" | "}" | "]" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                "," if depth == 1 => {
                    comma = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let Some(comma) = comma else { continue };
        let Some(open) = toks.get(comma + 1).filter(|u| text(u) == "{") else { continue };
        let Some(close) = toks.iter().skip(comma + 2).find(|u| text(u) == "}") else { continue };
        inserts.push((close.start, close.start > open.end && query[open.end..close.start].trim().is_empty()));
    }
    if inserts.is_empty() {
        return None;
    }
    let mut out = query.to_owned();
    for (at, empty) in inserts.into_iter().rev() {
        let sep = if empty || query[..at].trim_end().ends_with('{') || query[..at].trim_end().ends_with(',') {
            ""
        } else {
            ","
        };
        out.insert_str(at, &format!("{sep}{INFO_SELECTOR_MARK}=~\".+\""));
    }
    Some(out)
}

/// 1-based line and byte column of `offset`.
fn line_col(query: &str, offset: usize) -> (usize, usize) {
    let before = &query[..offset.min(query.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, col)
}

/// A token: its byte span and whether it opens or closes a bracket.
#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
}

/// Splits a query into tokens; `Err(offset)` at a character no token starts with.
fn tokens(q: &str) -> Result<Vec<Token>, usize> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_brackets = false;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                i += 1;
            }
            if i >= b.len() {
                return Err(start);
            }
            i += 1;
        } else if c == b':' && in_brackets {
            // A subquery's colon; elsewhere colons belong to names like `job:rate5m`.
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b':' || c == b'.' {
            let name_char =
                |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.') || (c == b':' && !in_brackets);
            while i < b.len() && name_char(b[i]) {
                i += 1;
            }
        } else if matches!(c, b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b'@') {
            in_brackets = match c {
                b'[' => true,
                b']' => false,
                _ => in_brackets,
            };
            i += 1;
        } else if matches!(c, b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' | b'~') {
            i += 1;
            while i < b.len() && matches!(b[i], b'=' | b'~') && i - start < 2 {
                i += 1;
            }
        } else if c >= 0x80 {
            // UTF-8 inside identifiers is refused by the lexer; treat it as one odd token.
            i += 1;
            while i < b.len() && (b[i] & 0xC0) == 0x80 {
                i += 1;
            }
            return Err(start);
        } else {
            return Err(start);
        }
        out.push(Token { start, end: i });
    }
    Ok(out)
}

/// The closing brackets that the open ones in `prefix` need, innermost first.
fn closers(prefix: &str, toks: &[Token]) -> String {
    let mut stack = Vec::new();
    for t in toks {
        match &prefix[t.start..t.end] {
            "(" => stack.push(')'),
            "{" => stack.push('}'),
            "[" => stack.push(']'),
            ")" | "}" | "]" => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.iter().rev().collect()
}

/// Whether some common ending makes `prefix` a valid query.
fn completable(prefix: &str, toks: &[Token]) -> bool {
    const MIDDLES: [&str; 22] = [
        "", "[5m]", "[5m:]", " 1", " x", "\"\"", "=\"\"", "5m", "5m:", " 5m", " 100", "(x)", " (x)", " (a) (x)",
        "(a) (x)", "x)", "1, x", "x, 1", "a) (x", ") (x", "x[5m]", "a=\"b\"",
    ];
    let close = closers(prefix, toks);
    MIDDLES.iter().any(|m| {
        let candidate = format!("{prefix}{m}{close}");
        super::parse_expr(&candidate).is_ok()
    })
}

/// Errors the parser raises while checking a well-formed expression, by how they start.
const NODE_ERRORS: [&str; 21] = [
    "expected ",
    "unknown function with name",
    "wrong number of arguments",
    "metric name must not be set twice",
    "set operator",
    "binary expression must contain",
    "vector selector must contain",
    "ranges only allowed",
    "no offset modifiers allowed",
    "no @ modifiers allowed",
    "@ <timestamp> may not",
    "offset may not",
    "@ modifier must be preceded",
    "offset modifier must be preceded",
    "bool modifier can only",
    "comparisons between scalars",
    "no grouping allowed",
    "vector matching only allowed",
    "unary expression only allowed",
    "timestamp out of bounds",
    "aggregation operator expected",
];

/// The byte offset of the error and what is wrong there.
fn locate(query: &str, parser_message: &str) -> (usize, String) {
    let toks = match tokens(query) {
        Ok(t) => t,
        Err(offset) => return (offset, parser_message.to_owned()),
    };
    if toks.is_empty() {
        return (0, "no expression found in input".to_owned());
    }
    // The lexer finds both only at the end of its scan: Prometheus puts an unclosed parenthesis
    // at the end of the input, and a stray one just after it.
    if parser_message == "unclosed left parenthesis" || parser_message.starts_with("unexpected end of input") {
        return (query.len(), parser_message.to_owned());
    }
    // A bad regular expression: Prometheus points at its matcher.
    if let Some(regex) = parser_message.strip_prefix("illegal regex for ") {
        let matcher = toks.windows(3).find(|w| {
            matches!(&query[w[1].start..w[1].end], "=~" | "!~")
                && super::parse_expr(&format!("{{__name__={}}}", &query[w[2].start..w[2].end]))
                    .is_ok_and(|e| e.to_string().contains(regex))
        });
        if let Some(w) = matcher {
            return (w[0].start, parser_message.to_owned());
        }
    }
    if parser_message.starts_with("unexpected right parenthesis") {
        let mut depth = 0i32;
        for t in &toks {
            match &query[t.start..t.end] {
                "(" => depth += 1,
                ")" if depth == 0 => return (t.end, parser_message.to_owned()),
                ")" => depth -= 1,
                _ => {}
            }
        }
    }
    if toks.len() > MAX_TOKENS {
        return (query.len(), parser_message.to_owned());
    }
    if NODE_ERRORS.iter().any(|p| parser_message.starts_with(p))
        && let Some((first, last)) = failing_node(query, &toks, parser_message)
    {
        return (node_position(query, &toks[first..=last], parser_message), parser_message.to_owned());
    }
    for k in 0..toks.len() {
        let prefix = &query[..toks[k].end];
        if !completable(prefix, &toks[..=k]) {
            let text = &query[toks[k].start..toks[k].end];
            return (toks[k].start, specific(parser_message).unwrap_or_else(|| unexpected(text)));
        }
    }
    (query.len(), specific(parser_message).unwrap_or_else(|| "unexpected end of input".to_owned()))
}

/// Prometheus's words for an unexpected token: its kind, then the token.
fn unexpected(token: &str) -> String {
    let first = token.as_bytes()[0];
    if first.is_ascii_digit() || first == b'.' {
        format!("unexpected number {token:?}")
    } else if first.is_ascii_alphabetic() || first == b'_' || first == b':' {
        format!("unexpected identifier {token:?}")
    } else if first == b'"' || first == b'\'' || first == b'`' {
        format!("unexpected string {token:?}")
    } else {
        format!("unexpected {token:?}")
    }
}

/// The tokens `(first, last)` of the innermost (latest starting, then shortest) balanced part
/// of the query that fails on its own with the same message.
fn failing_node(query: &str, toks: &[Token], message: &str) -> Option<(usize, usize)> {
    for first in (0..toks.len()).rev() {
        let mut depth = 0i32;
        for last in first..toks.len() {
            match &query[toks[last].start..toks[last].end] {
                "(" | "{" | "[" => depth += 1,
                ")" | "}" | "]" => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                break;
            }
            if depth == 0
                && let Err(e) = super::parse_expr(&query[toks[first].start..toks[last].end])
                && e == message
            {
                return Some((first, last));
            }
        }
    }
    None
}

/// Where Prometheus reports an error found in the expression `node`: at the offending argument
/// of a call or the parameter of an aggregation, at the `[` of a range on something that is
/// not a selector, else at the start of the expression.
fn node_position(query: &str, node: &[Token], message: &str) -> usize {
    let text = |t: &Token| &query[t.start..t.end];
    let args = || -> Vec<&[Token]> {
        let Some(open) = node.iter().position(|t| text(t) == "(") else { return Vec::new() };
        let mut out = Vec::new();
        let (mut depth, mut from) = (0, open + 1);
        for (i, t) in node.iter().enumerate().skip(open + 1) {
            match text(t) {
                "(" | "{" | "[" => depth += 1,
                ")" | "}" | "]" if depth > 0 => depth -= 1,
                "," | ")" if depth == 0 => {
                    if i > from {
                        out.push(&node[from..i]);
                    }
                    from = i + 1;
                    if text(t) == ")" {
                        break;
                    }
                }
                _ => {}
            }
        }
        out
    };
    if message.contains("in call to function") {
        let got = message.rsplit("got ").next().unwrap_or_default();
        let typed = args().into_iter().find(|arg| {
            let (start, end) = (arg[0].start, arg[arg.len() - 1].end);
            super::parse_expr(&query[start..end]).is_ok_and(|e| e.value_type().to_string() == got)
        });
        if let Some(arg) = typed {
            return arg[0].start;
        }
    }
    if message.contains("in aggregation expression")
        && let Some(param) = args().first()
    {
        return param[0].start;
    }
    // Both about the operator of a binary expression.
    if message.starts_with("comparisons between scalars") || message.starts_with("bool modifier") {
        let mut depth = 0;
        for t in &node[1..] {
            match text(t) {
                "(" | "{" | "[" => depth += 1,
                ")" | "}" | "]" => depth -= 1,
                op if depth == 0 && is_operator(op) => return t.start,
                _ => {}
            }
        }
    }
    if message.starts_with("ranges only allowed") || message.ends_with("before range") {
        let mut depth = 0;
        let mut last_bracket = None;
        for t in node {
            match text(t) {
                "[" if depth == 0 => {
                    last_bracket = Some(t.start);
                    depth += 1;
                }
                "(" | "{" | "[" => depth += 1,
                ")" | "}" | "]" => depth -= 1,
                _ => {}
            }
        }
        if let Some(at) = last_bracket {
            return at;
        }
    }
    node[0].start
}

/// Whether a token is a binary operator.
fn is_operator(token: &str) -> bool {
    matches!(
        token,
        "+" | "-" | "*" | "/" | "%" | "^" | "==" | "!=" | ">" | "<" | ">=" | "<=" | "and" | "or" | "unless" | "atan2"
    )
}

/// The parser's message when it says more than that the query is invalid.
fn specific(message: &str) -> Option<String> {
    (message != "invalid promql query").then(|| message.to_owned())
}

/// Prometheus's wording for the parser's messages: names in double quotes, and its names for
/// the value types.
fn prometheus_wording(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    let mut chars = message.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        // A name in single quotes ('rate'), not a quoted character like ')' after "parenthesis".
        let opens = c == '\'' && !quoted && !prev.is_alphanumeric() && chars.clone().skip(1).any(|n| n == '\'');
        if opens && chars.peek().is_some_and(|n| n.is_alphanumeric() || *n == '_' || *n == ':') {
            quoted = true;
            out.push('"');
        } else if c == '\'' && quoted {
            quoted = false;
            out.push('"');
        } else {
            out.push(c);
        }
        prev = c;
    }
    for (from, to) in [
        ("type matrix", "type range vector"),
        ("type vector", "type instant vector"),
        ("got matrix", "got range vector"),
        ("got vector", "got instant vector"),
        ("in aggregation expression", "in aggregation parameter"),
    ] {
        out = out.replace(from, to);
    }
    out
}

#[cfg(test)]
mod tests {
    use promql_parser::parser;

    use super::*;

    /// Prometheus 2.42's positions for these queries (`tests/promql.rs` checks many more against
    /// a running Prometheus).
    #[test]
    fn errors_are_where_prometheus_puts_them() {
        for (query, want) in [
            ("sum(rate(x[5m])", "1:16: parse error: unclosed left parenthesis"),
            ("sum(rate(x[5m])))", "1:18: parse error: unexpected right parenthesis ')'"),
            (
                "rate(x)",
                "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
            ),
            ("sum(rate(x[5m], 1))", "1:5: parse error: expected 1 argument(s) in call to \"rate\", got 2"),
            ("sum by (job) x", "1:14: parse error: unexpected identifier \"x\""),
            ("x{a=\"b\" b=\"c\"}", "1:9: parse error: unexpected identifier \"b\""),
            (
                "1 +\n  sum(\n    rate(x)\n  )",
                "3:10: parse error: expected type range vector in call to function \"rate\", got instant vector",
            ),
            ("x offset 5m[5m]", "1:12: parse error: no offset modifiers allowed before range"),
            ("x{a=~\"(\"}", "1:3: parse error: illegal regex for ("),
            ("1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
            ("count_values(1, x)", "1:14: parse error: expected type string in aggregation parameter, got scalar"),
            ("x[5m:1m:1m]", "1:8: parse error: unexpected second colon(:) in brackets"),
            ("   ", "1:1: parse error: no expression found in input"),
        ] {
            let message = parser::parse(query).unwrap_err();
            assert_eq!(describe(query, &message), want, "{query:?}");
        }
    }

    #[test]
    fn byte_escapes_are_read_as_go_reads_them() {
        assert_eq!(go_byte_escapes(r#"x{a="\xc3\xa9"}"#), r#"x{a="é"}"#);
        assert_eq!(
            go_byte_escapes(r#"label_replace(x, "\xff", "", "a", "")"#),
            "label_replace(x, \"\u{fffd}\", \"\", \"a\", \"\")"
        );
        assert_eq!(go_byte_escapes(r#"x{a="\303\251\x41\n"}"#), r#"x{a="é\x41\n"}"#);
        for unchanged in [r#"x{a="\x41\"\\"}"#, "x{a=`\\xff`}", "up"] {
            assert!(matches!(go_byte_escapes(unchanged), std::borrow::Cow::Borrowed(_)), "{unchanged}");
        }
    }

    #[test]
    fn info_selectors_get_the_mark_and_nothing_else_does() {
        let marked = mark_info_selectors(r#"sum(info(rate(x[5m]), {data=~".*"})) + info(y, {})"#).unwrap();
        assert_eq!(
            marked,
            format!(
                r#"sum(info(rate(x[5m]), {{data=~".*",{m}=~".+"}})) + info(y, {{{m}=~".+"}})"#,
                m = INFO_SELECTOR_MARK
            )
        );
        assert!(parser::parse(&marked).is_ok());
        assert_eq!(mark_info_selectors(r#"info(x) + y{a=~".*"}"#), None);
    }
}
