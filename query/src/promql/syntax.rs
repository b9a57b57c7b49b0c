//! Where a query's syntax error is. `promql-parser` says that a query is wrong but not where,
//! and Prometheus's errors start with `line:column`. The first token after which the query
//! can no longer be completed into a valid one is where the error is: each prefix is tried
//! with the endings that most often complete a PromQL expression (an operand, a closing
//! bracket, a duration, a label value).

use promql_parser::parser;

/// Longest query (in tokens) for which the position is looked for; longer queries get the
/// parser's message with the position of their end.
const MAX_TOKENS: usize = 200;

/// Prometheus's form of a parse error: `line:col: parse error: message`.
pub(super) fn describe(query: &str, parser_message: &str) -> String {
    let (offset, what) = locate(query, parser_message);
    let (line, col) = line_col(query, offset);
    format!("{line}:{col}: parse error: {what}")
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
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b':' || c == b'.' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b':' | b'.')) {
                i += 1;
            }
        } else if matches!(c, b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b'@') {
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
    const MIDDLES: [&str; 18] = [
        "", "[5m]", "[5m:]", " 1", " x", "\"\"", "=\"\"", "5m", "5m:", " 5m", " 100", "(x)", " (x)", " (a) (x)",
        "(a) (x)", "x)", "1, x", "x, 1",
    ];
    let close = closers(prefix, toks);
    MIDDLES.iter().any(|m| {
        let candidate = format!("{prefix}{m}{close}");
        parser::parse(&candidate).is_ok()
    })
}

/// The byte offset of the error and what is wrong there.
fn locate(query: &str, parser_message: &str) -> (usize, String) {
    let toks = match tokens(query) {
        Ok(t) => t,
        Err(offset) => return (offset, parser_message.to_owned()),
    };
    if toks.is_empty() {
        return (0, "no expression found in input".to_owned());
    }
    if toks.len() > MAX_TOKENS {
        return (query.len(), parser_message.to_owned());
    }
    for k in 0..toks.len() {
        let prefix = &query[..toks[k].end];
        if !completable(prefix, &toks[..=k]) {
            let text = &query[toks[k].start..toks[k].end];
            return (toks[k].start, specific(parser_message).unwrap_or_else(|| format!("unexpected {text:?}")));
        }
    }
    (query.len(), specific(parser_message).unwrap_or_else(|| "unexpected end of input".to_owned()))
}

/// The parser's message when it says more than that the query is invalid.
fn specific(message: &str) -> Option<String> {
    (message != "invalid promql query").then(|| message.to_owned())
}
