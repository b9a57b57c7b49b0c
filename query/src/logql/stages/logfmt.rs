//! `| logfmt` parser stage (`--strict`, `--keep-empty`, `label="key"` expressions) and the logfmt
//! decoder it uses (Loki's fork of go-logfmt, byte-for-byte compatible error positions).

use std::borrow::Cow;

use super::error::StageError;
use super::labels::{
    DUPLICATE_SUFFIX, ERR_LOGFMT, LabelsBuilder, is_valid_label_name, sanitize_label_key, sanitize_label_key_into,
};
use super::text::{go_lossy, label_value};

/// A logfmt syntax error (`logfmt syntax error at pos N : msg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogfmtError {
    /// 1-based byte position.
    pub pos: usize,
    /// Error message.
    pub msg: String,
}

impl std::fmt::Display for LogfmtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "logfmt syntax error at pos {} : {}", self.pos, self.msg)
    }
}

/// Streaming logfmt decoder over one line.
#[derive(Debug)]
pub struct Decoder<'a> {
    line: &'a [u8],
    pos: usize,
    key: &'a [u8],
    value: Cow<'a, [u8]>,
    err: Option<LogfmtError>,
}

fn go_quote_byte(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_owned(),
        b'\\' => "'\\\\'".to_owned(),
        0x20..=0x7E => format!("'{}'", c as char),
        b'\n' => "'\\n'".to_owned(),
        b'\t' => "'\\t'".to_owned(),
        b'\r' => "'\\r'".to_owned(),
        _ => format!("'\\x{c:02x}'"),
    }
}

impl<'a> Decoder<'a> {
    /// Starts decoding `line`.
    pub fn new(line: &'a [u8]) -> Self {
        Self { line, pos: 0, key: &[], value: Cow::Borrowed(&[]), err: None }
    }

    /// True when the whole line has been consumed.
    pub fn eol(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Last key read.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// Last value read (unquoted).
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// Last syntax error.
    pub fn err(&self) -> Option<&LogfmtError> {
        self.err.as_ref()
    }

    fn syntax_error(&mut self, msg: &str) {
        self.err = Some(LogfmtError { pos: self.pos + 1, msg: msg.to_owned() });
    }

    fn unexpected(&mut self, c: u8) {
        self.err = Some(LogfmtError { pos: self.pos + 1, msg: format!("unexpected {}", go_quote_byte(c)) });
    }

    fn skip_value(&mut self) -> bool {
        let line = self.line;
        self.pos = line[self.pos..].iter().position(|&c| c <= b' ').map_or(line.len(), |p| self.pos + p);
        false
    }

    fn bad_key(key: &[u8], multibyte: bool) -> bool {
        multibyte && go_lossy(key).contains('\u{FFFD}')
    }

    /// Reads the next key/value pair; false on error (the decoder skips to the next space).
    pub fn scan_keyval(&mut self) -> bool {
        self.key = &[];
        self.value = Cow::Borrowed(&[]);
        let line = self.line;
        match line[self.pos.min(line.len())..].iter().position(|&c| c > b' ') {
            Some(p) => self.pos += p,
            None => {
                self.pos = line.len();
                return false;
            }
        }
        // key
        let start = self.pos;
        let mut multibyte = false;
        let mut i = self.pos;
        loop {
            let Some(&c) = line.get(i) else {
                self.pos = line.len();
                self.key = &line[start..];
                if Self::bad_key(self.key, multibyte) {
                    self.syntax_error("invalid key");
                    return false;
                }
                return true;
            };
            match c {
                b'=' => {
                    self.pos = i;
                    if i == start {
                        self.unexpected(c);
                        return self.skip_value();
                    }
                    self.key = &line[start..i];
                    if Self::bad_key(self.key, multibyte) {
                        self.syntax_error("invalid key");
                        return self.skip_value();
                    }
                    break;
                }
                b'"' => {
                    self.pos = i;
                    self.unexpected(c);
                    return self.skip_value();
                }
                _ if c <= b' ' => {
                    self.pos = i;
                    self.key = &line[start..i];
                    if Self::bad_key(self.key, multibyte) {
                        self.syntax_error("invalid key");
                        return false;
                    }
                    return true;
                }
                _ if c >= 0x80 => multibyte = true,
                _ => {}
            }
            i += 1;
        }
        // equal
        self.pos += 1;
        let Some(&c) = line.get(self.pos) else { return true };
        if c <= b' ' {
            return true;
        }
        if c == b'"' {
            return self.scan_quoted();
        }
        let start = self.pos;
        for (p, &c) in line[start..].iter().enumerate() {
            if c == b'=' || c == b'"' {
                self.pos = start + p;
                self.unexpected(c);
                return self.skip_value();
            }
            if c <= b' ' {
                self.pos = start + p;
                self.value = Cow::Borrowed(&line[start..self.pos]);
                return true;
            }
        }
        self.pos = line.len();
        self.value = Cow::Borrowed(&line[start..]);
        true
    }

    fn scan_quoted(&mut self) -> bool {
        let line = self.line;
        let start = self.pos;
        let (mut has_esc, mut esc) = (false, false);
        for (p, &c) in line[start + 1..].iter().enumerate() {
            if esc {
                esc = false;
            } else if c == b'\\' {
                has_esc = true;
                esc = true;
            } else if c == b'"' {
                self.pos = start + p + 2;
                if has_esc {
                    match unquote(&line[start + 1..self.pos - 1]) {
                        Some(v) => self.value = Cow::Owned(v),
                        None => {
                            self.syntax_error("invalid quoted value");
                            return false;
                        }
                    }
                } else {
                    self.value = Cow::Borrowed(&line[start + 1..self.pos - 1]);
                }
                return true;
            }
        }
        self.pos = line.len();
        self.syntax_error("unterminated quoted value");
        false
    }
}

fn hex4(s: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(s.get(..4)?).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// JSON-style unquoting of the inside of a quoted logfmt value (go-logfmt's `unquoteBytes`).
fn unquote(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut r = 0;
    let mut buf = [0u8; 4];
    while r < s.len() {
        let c = s[r];
        match c {
            b'\\' => {
                r += 1;
                let e = *s.get(r)?;
                let simple = match e {
                    b'"' | b'\\' | b'/' | b'\'' => Some(e),
                    b'b' => Some(0x08),
                    b'f' => Some(0x0C),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'u' => None,
                    _ => return None,
                };
                if let Some(b) = simple {
                    out.push(b);
                    r += 1;
                    continue;
                }
                let rr = hex4(&s[r + 1..])?;
                r += 5;
                let ch = if (0xD800..0xE000).contains(&rr) {
                    let pair = (s.get(r) == Some(&b'\\') && s.get(r + 1) == Some(&b'u'))
                        .then(|| hex4(&s[r + 2..]))
                        .flatten()
                        .filter(|lo| (0xDC00..0xE000).contains(lo) && rr < 0xDC00);
                    match pair {
                        Some(lo) => {
                            r += 6;
                            char::from_u32(0x10000 + ((rr - 0xD800) << 10) + (lo - 0xDC00)).unwrap_or('\u{FFFD}')
                        }
                        None => '\u{FFFD}',
                    }
                } else {
                    char::from_u32(rr).unwrap_or('\u{FFFD}')
                };
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            b'"' => return None,
            _ => {
                out.push(c);
                r += 1;
            }
        }
    }
    Some(out)
}

/// The `| logfmt` stage.
#[derive(Debug, Clone)]
pub struct LogfmtParser {
    strict: bool,
    keep_empty: bool,
    exprs: Vec<(String, String)>,
}

impl LogfmtParser {
    /// Builds the stage; `params` are `(label, key)` pairs restricting extraction (empty: every key).
    pub fn new(strict: bool, keep_empty: bool, params: Vec<(String, String)>) -> Result<Self, StageError> {
        let mut exprs = Vec::with_capacity(params.len());
        for (label, expr) in params {
            let key = parse_logfmt_expression(&expr)
                .map_err(|e| StageError::new(format!("cannot parse expression [{expr}]: {e}")))?;
            if !is_valid_label_name(&label) {
                return Err(StageError::new(format!("invalid extracted label name '{label}'")));
            }
            exprs.push((label, key));
        }
        Ok(Self { strict, keep_empty, exprs })
    }

    /// Parses one line, setting parsed labels or (strict mode) `__error__="LogfmtParserErr"`.
    pub fn process(&mut self, line: &[u8], lbs: &mut LabelsBuilder) {
        if self.exprs.is_empty() {
            self.process_all(line, lbs);
        } else {
            self.process_exprs(line, lbs);
        }
    }

    fn process_all(&self, line: &[u8], lbs: &mut LabelsBuilder) {
        let mut key = String::new();
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            if !dec.scan_keyval() {
                if self.strict {
                    break;
                }
                continue;
            }
            key.clear();
            sanitize_label_key_into(&mut key, &go_lossy(dec.key()), true);
            if key.is_empty() {
                continue;
            }
            if lbs.base_has(&key) {
                key.push_str(DUPLICATE_SUFFIX);
            }
            let value = label_value(dec.value());
            if !self.keep_empty && value.is_empty() {
                continue;
            }
            lbs.set_parsed(&key, &value);
        }
        self.report(&dec, lbs);
    }

    fn report(&self, dec: &Decoder<'_>, lbs: &mut LabelsBuilder) {
        if let (true, Some(e)) = (self.strict, dec.err()) {
            lbs.set_err(ERR_LOGFMT);
            lbs.set_err_details(&e.to_string());
        }
    }

    fn process_exprs(&self, line: &[u8], lbs: &mut LabelsBuilder) {
        for (id, _) in &self.exprs {
            if !lbs.base_has(id) {
                lbs.set_parsed(id, "");
            }
        }
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            if !dec.scan_keyval() {
                if self.strict {
                    break;
                }
                continue;
            }
            let mut key = sanitize_label_key(&go_lossy(dec.key()), true);
            if key.is_empty() {
                continue;
            }
            if let Some((id, _)) = self.exprs.iter().find(|(_, orig)| *orig == key) {
                key.clone_from(id);
            }
            if !self.exprs.iter().any(|(id, _)| *id == key) {
                continue;
            }
            let value = match std::str::from_utf8(dec.value()) {
                Ok(v) if !v.contains('\u{FFFD}') => v,
                _ => "",
            };
            if lbs.base_has(&key) {
                key.push_str(DUPLICATE_SUFFIX);
            }
            lbs.set_parsed(&key, value);
        }
        self.report(&dec, lbs);
    }
}

/// Parses a logfmt expression (`key` or `"quoted key"`) into the key it selects.
pub fn parse_logfmt_expression(expr: &str) -> Result<String, String> {
    let mut chars = expr.chars().peekable();
    let mut toks: Vec<(&'static str, String)> = Vec::new();
    let mut lex_err = None;
    while let Some(c) = chars.next() {
        match c {
            '\0' => break,
            ' ' | '\t' | '\n' => {}
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = String::from(c);
                while let Some(&d) = chars.peek() {
                    if !(d.is_ascii_alphanumeric() || d == '_') {
                        break;
                    }
                    s.push(d);
                    chars.next();
                }
                toks.push(("KEY", s));
            }
            '"' => {
                let s: String = chars.by_ref().take_while(|&d| d != '"' && d != ']' && d != '\0').collect();
                toks.push(("STRING", s));
            }
            other => {
                lex_err = Some(format!("unexpected char {other}"));
                break;
            }
        }
    }
    let mut iter = toks.into_iter();
    let first = match iter.next() {
        Some(t) => t,
        None => return Err("syntax error: unexpected $end, expecting KEY or STRING".to_owned()),
    };
    for (kind, _) in iter {
        if kind == "KEY" {
            return Err("syntax error: unexpected KEY".to_owned());
        }
    }
    match lex_err {
        Some(e) => Err(e),
        None => Ok(first.1),
    }
}
