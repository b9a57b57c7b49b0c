//! Turns TraceQL text into tokens, each with its byte offset for error messages.

use super::ParseError;

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    AndAnd,
    OrOr,
    Not,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Regex,
    NotRegex,
    Descendant,
    Tilde,
    /// A word: keyword, intrinsic (`span:name`), function or literal name.
    Word(String),
    /// `resource.x`, `span."a b"`, `.x`: scope word (empty for unscoped) and name.
    Attribute(String, String),
    Str(String),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Attribute(scope, name) => format!("attribute '{scope}.{name}'"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Duration(_) => "a duration".into(),
            Tok::Eof => "the end of the query".into(),
            other => format!("'{}'", symbol(other)),
        }
    }
}

fn symbol(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Pipe => "|",
        Tok::AndAnd => "&&",
        Tok::OrOr => "||",
        Tok::Not => "!",
        Tok::Eq => "=",
        Tok::Ne => "!=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Regex => "=~",
        Tok::NotRegex => "!~",
        Tok::Descendant => ">>",
        Tok::Tilde => "~",
        _ => "?",
    }
}

const SCOPES: [&str; 5] = ["resource", "span", "event", "link", "instrumentation"];

/// Characters that end an unquoted attribute name.
fn ends_name(c: char) -> bool {
    c.is_whitespace() || "{}()=~!<>&|^,\"".contains(c)
}

/// Splits `text` into tokens with their byte offsets; the last token is `Eof`.
pub(crate) fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let mut out = Vec::new();
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    let at = |i: usize| bytes.get(i).map(|&(_, c)| c);
    let offset = |i: usize| bytes.get(i).map_or(text.len(), |&(o, _)| o);
    while i < bytes.len() {
        let c = bytes[i].1;
        let start = offset(i);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = (c, at(i + 1).unwrap_or('\0'));
        let (tok, len) = match two {
            ('&', '&') => (Tok::AndAnd, 2),
            ('|', '|') => (Tok::OrOr, 2),
            ('!', '=') => (Tok::Ne, 2),
            ('!', '~') => (Tok::NotRegex, 2),
            ('=', '~') => (Tok::Regex, 2),
            ('>', '=') => (Tok::Ge, 2),
            ('<', '=') => (Tok::Le, 2),
            ('>', '>') => (Tok::Descendant, 2),
            ('{', _) => (Tok::LBrace, 1),
            ('}', _) => (Tok::RBrace, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            ('|', _) => (Tok::Pipe, 1),
            ('!', _) => (Tok::Not, 1),
            ('=', _) => (Tok::Eq, 1),
            ('>', _) => (Tok::Gt, 1),
            ('<', _) => (Tok::Lt, 1),
            ('~', _) => (Tok::Tilde, 1),
            _ => (Tok::Eof, 0),
        };
        if len > 0 {
            out.push((tok, start));
            i += len;
            continue;
        }
        if c == '"' || c == '`' {
            let (s, next) = string(&bytes, i, text)?;
            out.push((Tok::Str(s), start));
            i = next;
        } else if c.is_ascii_digit()
            || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit()))
            || (c == '-' && at(i + 1).is_some_and(|d| d.is_ascii_digit() || d == '.'))
        {
            let (tok, next) = number(&bytes, i, text)?;
            out.push((tok, start));
            i = next;
        } else if c == '.' {
            let (name, next) = attribute_name(&bytes, i + 1, text)?;
            out.push((Tok::Attribute(String::new(), name), start));
            i = next;
        } else if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while at(j).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                j += 1;
            }
            let word: String = bytes[i..j].iter().map(|&(_, c)| c).collect();
            if at(j) == Some('.') && SCOPES.contains(&word.as_str()) {
                let (name, next) = attribute_name(&bytes, j + 1, text)?;
                out.push((Tok::Attribute(word, name), start));
                i = next;
            } else {
                out.push((Tok::Word(word), start));
                i = j;
            }
        } else {
            return Err(ParseError::at(text, start, format!("unexpected character {c:?}")));
        }
    }
    out.push((Tok::Eof, text.len()));
    Ok(out)
}

fn attribute_name(bytes: &[(usize, char)], mut i: usize, text: &str) -> Result<(String, usize), ParseError> {
    let start = bytes.get(i).map_or(text.len(), |&(o, _)| o);
    if bytes.get(i).is_some_and(|&(_, c)| c == '"') {
        return string(bytes, i, text);
    }
    let mut name = String::new();
    while let Some(&(_, c)) = bytes.get(i) {
        if ends_name(c) {
            break;
        }
        name.push(c);
        i += 1;
    }
    if name.is_empty() {
        return Err(ParseError::at(text, start, "expected an attribute name after '.'".into()));
    }
    Ok((name, i))
}

fn string(bytes: &[(usize, char)], i: usize, text: &str) -> Result<(String, usize), ParseError> {
    let quote = bytes[i].1;
    let mut out = String::new();
    let mut j = i + 1;
    while let Some(&(_, c)) = bytes.get(j) {
        j += 1;
        match c {
            c if c == quote => return Ok((out, j)),
            '\\' if quote == '"' => {
                let Some(&(_, e)) = bytes.get(j) else { break };
                j += 1;
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    Err(ParseError::at(text, bytes[i].0, "unterminated string".into()))
}

fn number(bytes: &[(usize, char)], i: usize, text: &str) -> Result<(Tok, usize), ParseError> {
    let mut j = i;
    if bytes[j].1 == '-' {
        j += 1;
    }
    while bytes.get(j).is_some_and(|&(_, c)| c.is_ascii_digit() || c == '.') {
        j += 1;
    }
    let number: String = bytes[i..j].iter().map(|&(_, c)| c).collect();
    let mut k = j;
    while bytes.get(k).is_some_and(|&(_, c)| c.is_alphabetic()) {
        k += 1;
    }
    let unit: String = bytes[j..k].iter().map(|&(_, c)| c).collect();
    let start = bytes[i].0;
    let bad = || ParseError::at(text, start, format!("invalid number {number}{unit}"));
    if unit.is_empty() {
        return if number.contains('.') {
            number.parse().map(|f| (Tok::Float(f), j)).map_err(|_| bad())
        } else {
            number.parse().map(|n| (Tok::Int(n), j)).map_err(|_| bad())
        };
    }
    let scale: f64 = match unit.as_str() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => {
            return Err(ParseError::at(
                text,
                start,
                format!("unknown duration unit {unit:?} (use ns, us, ms, s, m or h)"),
            ));
        }
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    Ok((Tok::Duration((value * scale).round() as i64), k))
}
