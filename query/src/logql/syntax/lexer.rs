//! LogQL lexer, mirroring Loki's `text/scanner` based tokenizer (`pkg/logql/syntax/lex.go`).
//!
//! Positions are 1-based (line, column in characters). Like Loki, tokens whose
//! lexing consumed extra characters past the scanner token (two-character
//! operators, ranges, durations, bytes, flags) report line 0 in errors.

use std::time::Duration;

use super::ast::Nanos;
use super::compat::{parse_bytes, parse_duration, parse_prom_duration};

/// Keyword and punctuation tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `!>`
    Npa,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `]`
    RBracket,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    CmpEq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `unwrap`
    Unwrap,
    /// `by`
    By,
    /// `without`
    Without,
    /// `bool`
    Bool,
    /// `offset`
    Offset,
    /// `on`
    On,
    /// `ignoring`
    Ignoring,
    /// `group_left`
    GroupLeft,
    /// `group_right`
    GroupRight,
    /// `or`
    Or,
    /// `and`
    And,
    /// `unless`
    Unless,
    /// `json`
    Json,
    /// `regexp`
    Regexp,
    /// `logfmt`
    Logfmt,
    /// `unpack`
    Unpack,
    /// `pattern`
    Pattern,
    /// `label_format`
    LabelFormat,
    /// `line_format`
    LineFormat,
    /// `decolorize`
    Decolorize,
    /// `drop`
    Drop,
    /// `keep`
    Keep,
}

const KEYWORDS: &[(&str, Kw)] = &[
    (",", Kw::Comma),
    (".", Kw::Dot),
    ("{", Kw::LBrace),
    ("}", Kw::RBrace),
    ("=", Kw::Eq),
    ("!=", Kw::Neq),
    ("=~", Kw::Re),
    ("!~", Kw::Nre),
    ("!>", Kw::Npa),
    ("|=", Kw::PipeExact),
    ("|~", Kw::PipeMatch),
    ("|>", Kw::PipePattern),
    ("|", Kw::Pipe),
    ("(", Kw::LParen),
    (")", Kw::RParen),
    ("]", Kw::RBracket),
    ("+", Kw::Add),
    ("-", Kw::Sub),
    ("*", Kw::Mul),
    ("/", Kw::Div),
    ("%", Kw::Mod),
    ("^", Kw::Pow),
    ("==", Kw::CmpEq),
    (">", Kw::Gt),
    (">=", Kw::Gte),
    ("<", Kw::Lt),
    ("<=", Kw::Lte),
    ("unwrap", Kw::Unwrap),
    ("by", Kw::By),
    ("without", Kw::Without),
    ("bool", Kw::Bool),
    ("offset", Kw::Offset),
    ("on", Kw::On),
    ("ignoring", Kw::Ignoring),
    ("group_left", Kw::GroupLeft),
    ("group_right", Kw::GroupRight),
    ("or", Kw::Or),
    ("and", Kw::And),
    ("unless", Kw::Unless),
    ("json", Kw::Json),
    ("regexp", Kw::Regexp),
    ("logfmt", Kw::Logfmt),
    ("unpack", Kw::Unpack),
    ("pattern", Kw::Pattern),
    ("label_format", Kw::LabelFormat),
    ("line_format", Kw::LineFormat),
    ("decolorize", Kw::Decolorize),
    ("drop", Kw::Drop),
    ("keep", Kw::Keep),
];

impl Kw {
    /// The token text, used in error messages.
    pub fn text(self) -> &'static str {
        KEYWORDS.iter().find(|(_, k)| *k == self).map(|(s, _)| *s).unwrap_or("?")
    }

    fn lookup(s: &str) -> Option<Kw> {
        KEYWORDS.iter().find(|(t, _)| *t == s).map(|(_, k)| *k)
    }
}

/// Function tokens: only recognised when followed by `(` or `by|without (`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// A range aggregation function.
    Range(super::ast::RangeOp),
    /// A vector aggregation operator.
    Vector(super::ast::VectorOp),
    /// `vector`
    VectorLit,
    /// `label_replace`
    LabelReplace,
    /// `bytes` (unwrap conversion)
    BytesConv,
    /// `duration` (unwrap conversion)
    DurationConv,
    /// `duration_seconds` (unwrap conversion)
    DurationSecondsConv,
    /// `ip`
    Ip,
}

impl Func {
    fn lookup(s: &str) -> Option<Func> {
        use super::ast::{RangeOp, VectorOp};
        if let Some(op) = RangeOp::ALL.iter().find(|o| o.as_str() == s) {
            return Some(Func::Range(*op));
        }
        let vec_ops = [
            VectorOp::Sum,
            VectorOp::Avg,
            VectorOp::Count,
            VectorOp::Max,
            VectorOp::Min,
            VectorOp::Stddev,
            VectorOp::Stdvar,
            VectorOp::Bottomk,
            VectorOp::Topk,
            VectorOp::Sort,
            VectorOp::SortDesc,
            VectorOp::ApproxTopk,
        ];
        if let Some(op) = vec_ops.iter().find(|o| o.as_str() == s) {
            return Some(Func::Vector(*op));
        }
        Some(match s {
            "vector" => Func::VectorLit,
            "label_replace" => Func::LabelReplace,
            "bytes" => Func::BytesConv,
            "duration" => Func::DurationConv,
            "duration_seconds" => Func::DurationSecondsConv,
            "ip" => Func::Ip,
            _ => return None,
        })
    }

    /// Loki's (goyacc) token name, used in error messages.
    pub fn token_name(self) -> String {
        match self {
            Func::Range(op) => op.as_str().to_uppercase(),
            Func::Vector(op) => op.as_str().to_uppercase(),
            Func::VectorLit => "VECTOR".into(),
            Func::LabelReplace => "label_replace".into(),
            Func::BytesConv => "BYTES_CONV".into(),
            Func::DurationConv => "DURATION_CONV".into(),
            Func::DurationSecondsConv => "DURATION_SECONDS_CONV".into(),
            Func::Ip => "ip".into(),
        }
    }
}

/// A token kind with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// End of input.
    Eof,
    /// Identifier (also any unknown single character, as in Loki).
    Ident(String),
    /// Unquoted string literal.
    Str(String),
    /// Number literal text.
    Number(String),
    /// Duration literal (`250ms`, `1h2m`, `-5s`), nanoseconds.
    Duration(Nanos),
    /// Bytes literal (`20KB`, `1MiB`).
    Bytes(u64),
    /// Range `[5m]`.
    Range(Duration),
    /// Parser flag (`--strict`, `--keep-empty`).
    Flag(String),
    /// Keyword or punctuation.
    Kw(Kw),
    /// Function name followed by `(`.
    Func(Func),
    /// Lexing error with its message.
    Error(String),
}

impl Tok {
    /// Loki's token name for `syntax error: unexpected ...` messages.
    pub fn name(&self) -> String {
        match self {
            Tok::Eof => "$end".into(),
            Tok::Ident(_) => "IDENTIFIER".into(),
            Tok::Str(_) => "STRING".into(),
            Tok::Number(_) => "NUMBER".into(),
            Tok::Duration(_) => "DURATION".into(),
            Tok::Bytes(_) => "BYTES".into(),
            Tok::Range(_) => "RANGE".into(),
            Tok::Flag(_) => "PARSER_FLAG".into(),
            Tok::Kw(k) => k.text().into(),
            Tok::Func(f) => f.token_name(),
            Tok::Error(_) => "error".into(),
        }
    }
}

/// A token with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Kind and payload.
    pub tok: Tok,
    /// 1-based line of the first character.
    pub line: u32,
    /// 1-based column (characters) of the first character.
    pub col: u32,
    /// False when Loki reports line 0 for this token.
    pub line_valid: bool,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    col: u32,
}

/// Tokenizes the whole input; the last token is always `Eof` (lexing errors become `Tok::Error`).
pub fn tokenize(input: &str) -> Vec<Token> {
    let mut lx = Lexer { chars: input.chars().collect(), pos: 0, line: 1, col: 1 };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token();
        let done = matches!(t.tok, Tok::Eof);
        out.push(t);
        if done {
            return out;
        }
    }
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn is_duration_rune(c: char) -> bool {
    matches!(c, 'n' | 'u' | 'µ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

fn is_bytes_rune(c: char) -> bool {
    matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

impl Lexer {
    fn peek(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn tok(&self, tok: Tok, line: u32, col: u32, line_valid: bool) -> Token {
        Token { tok, line, col, line_valid }
    }

    /// Skips whitespace and Go-style comments; returns an error token for an unterminated block comment.
    fn skip_space(&mut self) -> Option<Token> {
        loop {
            match self.peek(0) {
                Some(c) if is_go_space(c) => {
                    self.bump();
                }
                Some('/') if self.peek(1) == Some('/') => {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                Some('/') if self.peek(1) == Some('*') => {
                    let (line, col) = (self.line, self.col);
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => {
                                return Some(self.tok(Tok::Error("comment not terminated".into()), line, col, true));
                            }
                            Some('*') if self.peek(0) == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                Some('#') => {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return None,
            }
        }
    }

    fn next_token(&mut self) -> Token {
        if let Some(err) = self.skip_space() {
            self.pos = self.chars.len();
            return err;
        }
        let (line, col) = (self.line, self.col);
        let Some(c) = self.peek(0) else {
            return self.tok(Tok::Eof, line, col, true);
        };
        if c.is_ascii_digit() || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) {
            return self.number(line, col);
        }
        if c == '"' {
            return self.string(line, col);
        }
        if c == '`' {
            return self.raw_string(line, col);
        }
        if c == '\'' {
            return self.char_lit(line, col);
        }
        if is_ident_start(c) {
            return self.ident(line, col);
        }
        if c == '-' {
            self.bump();
            if self.peek(0) == Some('-')
                && let Some(flag) = self.try_flag()
            {
                return self.tok(Tok::Flag(flag), line, col, false);
            }
            if let Some(d) = self.try_duration("-") {
                return self.tok(Tok::Duration(d), line, col, false);
            }
            return self.tok(Tok::Kw(Kw::Sub), line, col, true);
        }
        if c == '[' {
            return self.range(line, col);
        }
        self.bump();
        if let Some(n) = self.peek(0) {
            let two: String = [c, n].iter().collect();
            if let Some(k) = Kw::lookup(&two) {
                self.bump();
                return self.tok(Tok::Kw(k), line, col, false);
            }
        }
        match Kw::lookup(&c.to_string()) {
            Some(k) => self.tok(Tok::Kw(k), line, col, true),
            None => self.tok(Tok::Ident(c.to_string()), line, col, true),
        }
    }

    fn number(&mut self, line: u32, col: u32) -> Token {
        let start = self.pos;
        if self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X')) {
            self.bump();
            self.bump();
            while self.peek(0).is_some_and(|c| c.is_ascii_hexdigit()) {
                self.bump();
            }
        } else {
            while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
            if self.peek(0) == Some('.') {
                self.bump();
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            }
            if matches!(self.peek(0), Some('e' | 'E')) {
                self.bump();
                if matches!(self.peek(0), Some('+' | '-')) {
                    self.bump();
                }
                if !self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    return self.tok(Tok::Error("exponent has no digits".into()), line, col, true);
                }
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let is_int = text.chars().all(|c| c.is_ascii_digit());
        if is_int
            && text.len() > 1
            && text.starts_with('0')
            && let Some(bad) = text.chars().find(|c| *c == '8' || *c == '9')
        {
            return self.tok(Tok::Error(format!("invalid digit '{bad}' in octal literal")), line, col, true);
        }
        if let Some(d) = self.try_duration(&text) {
            return self.tok(Tok::Duration(d), line, col, false);
        }
        if let Some(b) = self.try_bytes(&text) {
            return self.tok(Tok::Bytes(b), line, col, false);
        }
        self.tok(Tok::Number(text), line, col, true)
    }

    /// Collects the run of characters accepted by `accept` (stopping at whitespace) without consuming it.
    fn run(&self, accept: fn(char) -> bool) -> String {
        let mut s = String::new();
        let mut i = self.pos;
        while let Some(&c) = self.chars.get(i) {
            if c.is_whitespace() || !accept(c) {
                break;
            }
            s.push(c);
            i += 1;
        }
        s
    }

    fn consume(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    fn try_duration(&mut self, prefix: &str) -> Option<Nanos> {
        let rest = self.run(|c| c.is_numeric() || is_duration_rune(c) || c == '.');
        if rest.is_empty() {
            return None;
        }
        let d = parse_duration(&format!("{prefix}{rest}"))?;
        self.consume(rest.chars().count());
        Some(d)
    }

    fn try_bytes(&mut self, prefix: &str) -> Option<u64> {
        let rest = self.run(|c| c.is_numeric() || is_bytes_rune(c) || c == '.');
        if rest.is_empty() {
            return None;
        }
        let b = parse_bytes(&format!("{prefix}{rest}"))?;
        self.consume(rest.chars().count());
        Some(b)
    }

    fn try_flag(&mut self) -> Option<String> {
        let rest = self.run(|c| c.is_alphabetic() || c == '-');
        let flag = format!("-{rest}");
        if flag == "--strict" || flag == "--keep-empty" {
            self.consume(rest.chars().count());
            return Some(flag);
        }
        None
    }

    fn range(&mut self, line: u32, col: u32) -> Token {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return self.tok(Tok::Error("missing closing ']' in duration".into()), line, col, false),
                Some(']') => break,
                Some(c) => text.push(c),
            }
        }
        match parse_prom_duration(&text) {
            Ok(d) => self.tok(Tok::Range(d), line, col, false),
            Err(e) => self.tok(Tok::Error(e), line, col, false),
        }
    }

    fn ident(&mut self, line: u32, col: u32) -> Token {
        let start = self.pos;
        while self.peek(0).is_some_and(is_ident_char) {
            self.bump();
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let lower = text.to_lowercase();
        if let Some(f) = Func::lookup(&lower) {
            if self.is_function() {
                return self.tok(Tok::Func(f), line, col, true);
            }
            return self.tok(Tok::Ident(text), line, col, true);
        }
        match Kw::lookup(&lower) {
            Some(k) => self.tok(Tok::Kw(k), line, col, true),
            None => self.tok(Tok::Ident(text), line, col, true),
        }
    }

    /// Loki's `isFunction`: next non-space input is `(` or `by`/`without` followed by `(`.
    fn is_function(&self) -> bool {
        let skip = |mut i: usize| {
            while self.chars.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            i
        };
        let i = skip(self.pos);
        if self.chars.get(i) == Some(&'(') {
            return true;
        }
        for kw in ["by", "without"] {
            let n = kw.len();
            let word: String = self.chars.iter().skip(i).take(n).collect();
            if word.to_lowercase() == kw {
                return self.chars.get(skip(i + n)) == Some(&'(');
            }
        }
        false
    }

    fn string(&mut self, line: u32, col: u32) -> Token {
        self.bump();
        let mut buf: Vec<u8> = Vec::new();
        let mut err: Option<String> = None;
        loop {
            let c = match self.peek(0) {
                Some(c) if c != '\n' => c,
                _ => {
                    let msg = err.unwrap_or_else(|| "literal not terminated".into());
                    return self.tok(Tok::Error(msg), line, col, true);
                }
            };
            self.bump();
            match c {
                '"' => break,
                '\\' => {
                    if let Err(e) = self.escape('"', &mut buf) {
                        err.get_or_insert(e);
                    }
                }
                _ => {
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
        }
        if let Some(e) = err {
            return self.tok(Tok::Error(e), line, col, true);
        }
        match String::from_utf8(buf) {
            Ok(s) => self.tok(Tok::Str(s), line, col, true),
            Err(_) => self.tok(Tok::Error("invalid syntax".into()), line, col, true),
        }
    }

    /// Decodes one escape sequence after a backslash (Go rules), appending the bytes.
    fn escape(&mut self, quote: char, buf: &mut Vec<u8>) -> Result<(), String> {
        let bad = || "invalid char escape".to_string();
        let c = self.peek(0).ok_or_else(bad)?;
        let simple = match c {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            _ if c == quote => Some(quote as u8),
            _ => None,
        };
        if let Some(b) = simple {
            self.bump();
            buf.push(b);
            return Ok(());
        }
        let (base, digits) = match c {
            '0'..='7' => (8, 3),
            'x' => (16, 2),
            'u' => (16, 4),
            'U' => (16, 8),
            _ => return Err(bad()),
        };
        if c != '0' && !c.is_ascii_digit() {
            self.bump();
        }
        let mut v: u32 = 0;
        for _ in 0..digits {
            let d = self.peek(0).and_then(|d| d.to_digit(base)).ok_or_else(bad)?;
            self.bump();
            v = v * base + d;
        }
        match c {
            'u' | 'U' => {
                let ch = char::from_u32(v).ok_or_else(|| "invalid syntax".to_string())?;
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
            _ => buf.push(u8::try_from(v).map_err(|_| "invalid syntax".to_string())?),
        }
        Ok(())
    }

    fn raw_string(&mut self, line: u32, col: u32) -> Token {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return self.tok(Tok::Error("literal not terminated".into()), line, col, true),
                Some('`') => return self.tok(Tok::Str(s), line, col, true),
                Some(c) => s.push(c),
            }
        }
    }

    /// Go char literals (`'x'`) are not LogQL syntax; Loki hands them to the parser as identifiers.
    fn char_lit(&mut self, line: u32, col: u32) -> Token {
        let start = self.pos;
        self.bump();
        let mut n = 0;
        loop {
            let Some(c) = self.peek(0) else {
                return self.tok(Tok::Error("literal not terminated".into()), line, col, true);
            };
            if c == '\n' {
                return self.tok(Tok::Error("literal not terminated".into()), line, col, true);
            }
            self.bump();
            if c == '\'' {
                break;
            }
            if c == '\\' {
                let mut sink = Vec::new();
                if let Err(e) = self.escape('\'', &mut sink) {
                    return self.tok(Tok::Error(e), line, col, true);
                }
            }
            n += 1;
        }
        if n != 1 {
            return self.tok(Tok::Error("invalid char literal".into()), line, col, true);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        self.tok(Tok::Ident(text), line, col, true)
    }
}
