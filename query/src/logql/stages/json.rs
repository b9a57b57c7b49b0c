//! `| json` parser stage: every leaf of the object, or only the given `label="expression"` paths.

use std::borrow::Cow;

use super::error::StageError;
use super::jsonscan::{JsonType, Located, ObjectIter, array_nth, unescape};
use super::labels::{
    DUPLICATE_SUFFIX, ERR_JSON, LabelsBuilder, append_sanitized, is_valid_label_name, sanitize_label_key_into,
};
use super::text::{go_lossy, label_value};

/// Maximum nesting of objects flattened into labels; deeper objects are skipped.
pub const MAX_JSON_DEPTH: usize = 64;

/// One step of a json expression path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// Object member (`a`, `["a b"]`).
    Key(String),
    /// Array element (`[0]`).
    Index(usize),
}

/// The `| json` stage.
#[derive(Debug, Clone)]
pub struct JsonParser {
    exprs: Vec<(String, Vec<PathSegment>)>,
    prefix: String,
    key: String,
}

impl JsonParser {
    /// Builds the stage; `params` are `(label, json_expression)` pairs, empty to extract everything.
    pub fn new(params: Vec<(String, String)>) -> Result<Self, StageError> {
        let mut exprs = Vec::with_capacity(params.len());
        for (label, expr) in params {
            let path = parse_json_expression(&expr)
                .map_err(|e| StageError::new(format!("cannot parse expression [{expr}]: {e}")))?;
            if !is_valid_label_name(&label) {
                return Err(StageError::new(format!("invalid extracted label name '{label}'")));
            }
            exprs.push((label, path));
        }
        Ok(Self { exprs, prefix: String::new(), key: String::new() })
    }

    /// Parses one line, setting parsed labels or `__error__="JSONParserErr"`.
    pub fn process(&mut self, line: &[u8], lbs: &mut LabelsBuilder) {
        if self.exprs.is_empty() { self.process_all(line, lbs) } else { self.process_exprs(line, lbs) }
    }

    fn process_all(&mut self, line: &[u8], lbs: &mut LabelsBuilder) {
        self.prefix.clear();
        let mut stack: Vec<(ObjectIter<'_>, usize)> = vec![(ObjectIter::new(line), 0)];
        while let Some((iter, _)) = stack.last_mut() {
            match iter.next() {
                None => {
                    if let Some((_, saved)) = stack.pop() {
                        self.prefix.truncate(saved);
                    }
                }
                Some(Err(e)) => {
                    lbs.set_err(ERR_JSON);
                    lbs.set_err_details(e.error.message());
                    return;
                }
                Some(Ok(entry)) => match entry.value.typ {
                    JsonType::String | JsonType::Number | JsonType::Boolean => {
                        self.build_key(&entry.key, lbs);
                        let value = read_value(&entry.value);
                        lbs.set_parsed(&self.key, &value);
                    }
                    JsonType::Object => {
                        let saved = self.prefix.len();
                        if !self.prefix.is_empty() {
                            self.prefix.push('_');
                        }
                        append_sanitized(&mut self.prefix, &go_lossy(&entry.key));
                        if stack.len() >= MAX_JSON_DEPTH {
                            self.prefix.truncate(saved);
                        } else {
                            stack.push((ObjectIter::new(entry.value.value), saved));
                        }
                    }
                    JsonType::Array | JsonType::Null => {}
                },
            }
        }
    }

    fn build_key(&mut self, raw_key: &[u8], lbs: &LabelsBuilder) {
        self.key.clear();
        if self.prefix.is_empty() {
            sanitize_label_key_into(&mut self.key, &go_lossy(raw_key), true);
        } else {
            self.key.push_str(&self.prefix);
            self.key.push('_');
            append_sanitized(&mut self.key, &go_lossy(raw_key));
        }
        if lbs.base_has(&self.key) {
            self.key.push_str(DUPLICATE_SUFFIX);
        }
    }

    fn process_exprs(&mut self, line: &[u8], lbs: &mut LabelsBuilder) {
        let Some(&first) = line.first() else { return };
        if !matches!(first, b'"' | b'{' | b'[') {
            lbs.set_err(ERR_JSON);
            return;
        }
        for (id, path) in &self.exprs {
            match find_path(line, path) {
                Ok(Some(v)) => {
                    let value = match v.typ {
                        JsonType::Null => String::new(),
                        JsonType::Object => go_lossy(v.value).into_owned(),
                        _ => unescape_label_value(v.value),
                    };
                    let key = lbs.parsed_name(id);
                    lbs.set_parsed(&key, &value);
                }
                Ok(None) => {}
                Err(e) => {
                    lbs.set_err(ERR_JSON);
                    lbs.set_err_details(e.message());
                }
            }
        }
        for (id, _) in &self.exprs {
            if lbs.get(id).is_none() {
                lbs.set_parsed(id, "");
            }
        }
    }
}

/// Loki's `unescapeJSONString`: invalid escapes give "", U+FFFD and invalid bytes become spaces.
pub fn unescape_label_value(raw: &[u8]) -> String {
    match unescape(raw) {
        Some(b) => label_value(&b).into_owned(),
        None => String::new(),
    }
}

fn read_value<'a>(v: &Located<'a>) -> Cow<'a, str> {
    match v.typ {
        JsonType::String => match unescape(v.value) {
            Some(Cow::Borrowed(b)) => label_value(b),
            Some(Cow::Owned(b)) => Cow::Owned(label_value(&b).into_owned()),
            None => Cow::Borrowed(""),
        },
        JsonType::Number => go_lossy(v.value),
        JsonType::Boolean if v.value == b"true" => Cow::Borrowed("true"),
        JsonType::Boolean => Cow::Borrowed("false"),
        _ => Cow::Borrowed(""),
    }
}

/// Finds the first value at `path`; errors only when the targeted value itself is malformed.
fn find_path<'a>(data: &'a [u8], path: &[PathSegment]) -> Result<Option<Located<'a>>, super::jsonscan::JsonError> {
    let mut cur = data;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let found = match seg {
            PathSegment::Key(k) => {
                let mut found = None;
                for item in ObjectIter::new(cur) {
                    match item {
                        Ok(e) if e.key.as_ref() == k.as_bytes() => {
                            found = Some(e.value);
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if last && e.key.as_deref() == Some(k.as_bytes()) => return Err(e.error),
                        Err(_) => return Ok(None),
                    }
                }
                found
            }
            PathSegment::Index(n) => array_nth(cur, *n),
        };
        let Some(v) = found else { return Ok(None) };
        if last {
            return Ok(Some(v));
        }
        match v.typ {
            JsonType::Object | JsonType::Array => cur = v.value,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    End,
    Dot,
    Lsb,
    Rsb,
    Str(String),
    Field(String),
    Index(usize),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::End => "$end",
            Tok::Dot => "DOT",
            Tok::Lsb => "LSB",
            Tok::Rsb => "RSB",
            Tok::Str(_) => "STRING",
            Tok::Field(_) => "FIELD",
            Tok::Index(_) => "INDEX",
        }
    }
}

struct ExprLexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    err: Option<String>,
}

impl ExprLexer<'_> {
    fn fail(&mut self, msg: String) -> Tok {
        self.err = Some(msg);
        Tok::End
    }

    fn next_tok(&mut self) -> Tok {
        loop {
            let Some(c) = self.chars.next() else { return Tok::End };
            match c {
                '\0' => return Tok::End,
                ' ' | '\t' | '\n' => continue,
                '0'..='9' => {
                    let mut num = String::from(c);
                    loop {
                        match self.chars.peek().copied() {
                            Some('.') => return self.fail("cannot use float as array index".to_owned()),
                            Some(' ' | '\t' | '\n' | ']') => break,
                            Some(d) if d.is_ascii_digit() => {
                                num.push(d);
                                self.chars.next();
                            }
                            other => {
                                return self.fail(format!("non-integer value: {}", other.unwrap_or('\0')));
                            }
                        }
                    }
                    return match num.parse::<usize>() {
                        Ok(n) => Tok::Index(n),
                        Err(_) => self.fail(format!("strconv.Atoi: parsing \"{num}\": value out of range")),
                    };
                }
                '[' => return Tok::Lsb,
                ']' => return Tok::Rsb,
                '.' => return Tok::Dot,
                '"' => {
                    let mut s = String::new();
                    for d in self.chars.by_ref() {
                        if d == '"' || d == ']' || d == '\0' {
                            break;
                        }
                        s.push(d);
                    }
                    return Tok::Str(s);
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let mut s = String::from(c);
                    while let Some(&d) = self.chars.peek() {
                        if !(d.is_ascii_alphanumeric() || d == '_') {
                            break;
                        }
                        s.push(d);
                        self.chars.next();
                    }
                    return Tok::Field(s);
                }
                other => return self.fail(format!("unexpected char {other}")),
            }
        }
    }
}

/// Parses a Loki json expression (`a.b`, `a[0]`, `["a b"].c`) into path segments.
pub fn parse_json_expression(expr: &str) -> Result<Vec<PathSegment>, String> {
    let mut lx = ExprLexer { chars: expr.chars().peekable(), err: None };
    let syntax = |t: &Tok, expecting: &str| {
        if expecting.is_empty() {
            format!("syntax error: unexpected {}", t.name())
        } else {
            format!("syntax error: unexpected {}, expecting {expecting}", t.name())
        }
    };
    let mut path = Vec::new();
    let mut started = false;
    loop {
        let t = lx.next_tok();
        match (started, t) {
            (false, Tok::Field(f)) => path.push(PathSegment::Key(f)),
            (true, Tok::End) => {
                return match lx.err {
                    Some(e) => Err(e),
                    None => Ok(path),
                };
            }
            (_, Tok::Lsb) => {
                let seg = match lx.next_tok() {
                    Tok::Str(s) => PathSegment::Key(s),
                    Tok::Index(i) => PathSegment::Index(i),
                    t => return Err(syntax(&t, "STRING or INDEX")),
                };
                match lx.next_tok() {
                    Tok::Rsb => path.push(seg),
                    t => return Err(syntax(&t, "RSB")),
                }
            }
            (true, Tok::Dot) => match lx.next_tok() {
                Tok::Field(f) => path.push(PathSegment::Key(f)),
                t => return Err(syntax(&t, "FIELD")),
            },
            (false, t) => return Err(syntax(&t, "LSB or FIELD")),
            (true, t) => return Err(syntax(&t, "")),
        }
        started = true;
    }
}
