//! Lexer of the Go `text/template` syntax (delimiters `{{ }}`, trim markers `{{- -}}`, comments).

use super::gofmt::is_print;

/// Kind of a lexed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// Plain text outside actions.
    Text,
    /// `{{`
    LeftDelim,
    /// `}}`
    RightDelim,
    /// Run of spaces inside an action.
    Space,
    /// `.name`
    Field,
    /// `$` or `$name`
    Variable,
    /// `.`
    Dot,
    /// Function name.
    Identifier,
    /// Quoted string (value keeps the quotes).
    Str,
    /// Raw string (value keeps the backquotes).
    RawStr,
    /// Character constant (value keeps the quotes).
    CharConstant,
    /// Number literal.
    Number,
    /// `true` / `false`
    Bool,
    /// `nil`
    Nil,
    /// `|`
    Pipe,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// Other printable character (`,`).
    Char,
    /// `if`
    If,
    /// `else`
    Else,
    /// `end`
    End,
    /// `range`
    Range,
    /// `with`
    With,
    /// `break`
    Break,
    /// `continue`
    Continue,
    /// `define`, `template`, `block` (unsupported).
    Unsupported,
    /// End of input.
    Eof,
    /// Lexing error (value is the message).
    Error,
}

/// A lexed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Kind.
    pub kind: ItemKind,
    /// Byte offset in the template.
    pub pos: usize,
    /// Text of the item.
    pub val: String,
    /// 1-based line.
    pub line: usize,
}

impl Item {
    /// Go's `item.String()` used in "unexpected ..." parse errors.
    pub fn describe(&self) -> String {
        match self.kind {
            ItemKind::Eof => "EOF".to_owned(),
            ItemKind::Error => self.val.clone(),
            ItemKind::If
            | ItemKind::Else
            | ItemKind::End
            | ItemKind::Range
            | ItemKind::With
            | ItemKind::Break
            | ItemKind::Continue
            | ItemKind::Unsupported => format!("<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let short: String = self.val.chars().take(10).collect();
                format!("{}...", super::gofmt::go_quote(&short))
            }
            _ => super::gofmt::go_quote(&self.val),
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    input: &'a str,
    newlines: Vec<usize>,
    pos: usize,
    start: usize,
    items: Vec<Item>,
    paren_depth: usize,
}

impl<'a> Lexer<'a> {
    fn line_of(&self, pos: usize) -> usize {
        1 + self.newlines.partition_point(|&nl| nl < pos)
    }

    fn emit(&mut self, kind: ItemKind) {
        let val = self.input[self.start..self.pos].to_owned();
        let line = self.line_of(self.start);
        self.items.push(Item { kind, pos: self.start, val, line });
        self.start = self.pos;
    }

    fn error(&mut self, msg: String) {
        let line = self.line_of(self.start);
        self.items.push(Item { kind: ItemKind::Error, pos: self.start, val: msg, line });
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Right delimiter at the current position: `Some(trim)` when found.
    fn at_right_delim(&self) -> Option<bool> {
        let r = self.rest().as_bytes();
        if r.len() >= 4 && is_space(r[0]) && r[1] == b'-' && &r[2..4] == RIGHT.as_bytes() {
            return Some(true);
        }
        r.starts_with(RIGHT.as_bytes()).then_some(false)
    }

    fn run(mut self) -> Vec<Item> {
        loop {
            // Text up to the next left delimiter.
            let Some(off) = self.rest().find(LEFT) else {
                self.pos = self.input.len();
                if self.pos > self.start {
                    self.emit(ItemKind::Text);
                }
                let line = self.line_of(self.pos);
                self.items.push(Item { kind: ItemKind::Eof, pos: self.pos, val: String::new(), line });
                return self.items;
            };
            let delim_pos = self.pos + off;
            let after = &self.input.as_bytes()[delim_pos + LEFT.len()..];
            let trim = after.len() >= 2 && after[0] == b'-' && is_space(after[1]);
            let mut text_end = delim_pos;
            if trim {
                while text_end > self.start && is_space(self.input.as_bytes()[text_end - 1]) {
                    text_end -= 1;
                }
            }
            if text_end > self.start {
                self.pos = text_end;
                self.emit(ItemKind::Text);
            }
            self.start = delim_pos;
            self.pos = delim_pos + LEFT.len();
            if trim {
                self.pos += 2;
            }
            if self.rest().starts_with("/*") {
                if !self.lex_comment() {
                    return self.items;
                }
                continue;
            }
            self.emit(ItemKind::LeftDelim);
            self.paren_depth = 0;
            if !self.lex_inside_action() {
                return self.items;
            }
        }
    }

    fn skip_after_right_delim(&mut self, trim: bool) {
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        self.start = self.pos;
        if trim {
            while self.pos < self.input.len() && is_space(self.input.as_bytes()[self.pos]) {
                self.pos += 1;
            }
            self.start = self.pos;
        }
    }

    fn lex_comment(&mut self) -> bool {
        let Some(end) = self.rest().find("*/") else {
            self.error("unclosed comment".to_owned());
            return false;
        };
        self.pos += end + 2;
        match self.at_right_delim() {
            Some(trim) => {
                self.skip_after_right_delim(trim);
                true
            }
            None => {
                self.error("comment ends before closing delimiter".to_owned());
                false
            }
        }
    }

    fn lex_inside_action(&mut self) -> bool {
        loop {
            if let Some(trim) = self.at_right_delim() {
                if self.paren_depth > 0 {
                    self.error("unclosed left paren".to_owned());
                    return false;
                }
                if trim {
                    self.pos += 2;
                }
                self.start = self.pos;
                self.pos += RIGHT.len();
                self.emit(ItemKind::RightDelim);
                if trim {
                    while self.pos < self.input.len() && is_space(self.input.as_bytes()[self.pos]) {
                        self.pos += 1;
                    }
                    self.start = self.pos;
                }
                return true;
            }
            let Some(c) = self.peek_char() else {
                self.error("unclosed action".to_owned());
                return false;
            };
            self.pos += c.len_utf8();
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    while let Some(&b) = self.input.as_bytes().get(self.pos) {
                        if !is_space(b) || self.at_right_delim() == Some(true) {
                            break;
                        }
                        self.pos += 1;
                    }
                    self.emit(ItemKind::Space);
                }
                '=' => self.emit(ItemKind::Assign),
                ':' => {
                    if self.peek_char() != Some('=') {
                        self.error("expected :=".to_owned());
                        return false;
                    }
                    self.pos += 1;
                    self.emit(ItemKind::Declare);
                }
                '|' => self.emit(ItemKind::Pipe),
                '"' => {
                    if !self.lex_quote('"', ItemKind::Str, "unterminated quoted string") {
                        return false;
                    }
                }
                '\'' => {
                    if !self.lex_quote('\'', ItemKind::CharConstant, "unterminated character constant") {
                        return false;
                    }
                }
                '`' => match self.rest().find('`') {
                    Some(end) => {
                        self.pos += end + 1;
                        self.emit(ItemKind::RawStr);
                    }
                    None => {
                        self.error("unterminated raw quoted string".to_owned());
                        return false;
                    }
                },
                '$' => {
                    if !self.lex_field_or_variable(ItemKind::Variable) {
                        return false;
                    }
                }
                '.' => {
                    if self.peek_char().is_some_and(|d| d.is_ascii_digit()) {
                        self.pos = self.start;
                        if !self.lex_number() {
                            return false;
                        }
                    } else if !self.lex_field_or_variable(ItemKind::Field) {
                        return false;
                    }
                }
                '+' | '-' | '0'..='9' => {
                    self.pos = self.start;
                    if !self.lex_number() {
                        return false;
                    }
                }
                '(' => {
                    self.paren_depth += 1;
                    self.emit(ItemKind::LeftParen);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        self.error("unexpected right paren".to_owned());
                        return false;
                    }
                    self.paren_depth -= 1;
                    self.emit(ItemKind::RightParen);
                }
                c if is_alnum(c) => {
                    if !self.lex_identifier() {
                        return false;
                    }
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(ItemKind::Char),
                c => {
                    self.error(format!("unrecognized character in action: {}", go_sharp_u(c)));
                    return false;
                }
            }
        }
    }

    fn scan_word(&mut self) {
        while let Some(c) = self.peek_char() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn lex_field_or_variable(&mut self, kind: ItemKind) -> bool {
        if self.at_terminator() {
            self.emit(if kind == ItemKind::Variable { ItemKind::Variable } else { ItemKind::Dot });
            return true;
        }
        self.scan_word();
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or('\0');
            self.error(format!("bad character {}", go_sharp_u(c)));
            return false;
        }
        self.emit(kind);
        true
    }

    fn at_terminator(&self) -> bool {
        match self.peek_char() {
            None => true,
            Some(c) => {
                matches!(c, ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(')
                    || self.rest().starts_with(RIGHT)
            }
        }
    }

    fn lex_identifier(&mut self) -> bool {
        self.scan_word();
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or('\0');
            self.error(format!("bad character {}", go_sharp_u(c)));
            return false;
        }
        let kind = match &self.input[self.start..self.pos] {
            "true" | "false" => ItemKind::Bool,
            "nil" => ItemKind::Nil,
            "if" => ItemKind::If,
            "else" => ItemKind::Else,
            "end" => ItemKind::End,
            "range" => ItemKind::Range,
            "with" => ItemKind::With,
            "break" => ItemKind::Break,
            "continue" => ItemKind::Continue,
            "define" | "template" | "block" => ItemKind::Unsupported,
            _ => ItemKind::Identifier,
        };
        self.emit(kind);
        true
    }

    fn lex_quote(&mut self, q: char, kind: ItemKind, unterminated: &str) -> bool {
        let mut escaped = false;
        loop {
            let Some(c) = self.peek_char() else {
                self.error(unterminated.to_owned());
                return false;
            };
            self.pos += c.len_utf8();
            match c {
                '\n' => {
                    self.error(unterminated.to_owned());
                    return false;
                }
                '\\' if !escaped => escaped = true,
                _ if c == q && !escaped => break,
                _ => escaped = false,
            }
        }
        self.emit(kind);
        true
    }

    fn lex_number(&mut self) -> bool {
        let b = self.input.as_bytes();
        if matches!(b.get(self.pos), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        let mut exp: &[u8] = b"eE";
        if b.get(self.pos) == Some(&b'0') {
            match b.get(self.pos + 1).map(u8::to_ascii_lowercase) {
                Some(b'x') => {
                    self.pos += 2;
                    digits = b"0123456789abcdefABCDEF_";
                    exp = b"pP";
                }
                Some(b'o') => {
                    self.pos += 2;
                    digits = b"01234567_";
                    exp = b"";
                }
                Some(b'b') => {
                    self.pos += 2;
                    digits = b"01_";
                    exp = b"";
                }
                _ => {}
            }
        }
        let accept_run = |pos: &mut usize, set: &[u8]| {
            while b.get(*pos).is_some_and(|c| set.contains(c)) {
                *pos += 1;
            }
        };
        accept_run(&mut self.pos, digits);
        if b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            accept_run(&mut self.pos, digits);
        }
        if b.get(self.pos).is_some_and(|c| exp.contains(c)) {
            self.pos += 1;
            if matches!(b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            accept_run(&mut self.pos, b"0123456789_");
        }
        if b.get(self.pos) == Some(&b'i') {
            self.pos += 1;
        }
        if self.peek_char().is_some_and(is_alnum) {
            self.pos += self.peek_char().map_or(0, char::len_utf8);
            let text = self.input[self.start..self.pos].to_owned();
            self.error(format!("bad number syntax: {}", super::gofmt::go_quote(&text)));
            return false;
        }
        self.emit(ItemKind::Number);
        true
    }
}

/// Go's `%#U`: `U+0041 'A'`, without the quoted rune when it is not printable (`U+00A0`).
fn go_sharp_u(c: char) -> String {
    if is_print(c) { format!("U+{:04X} '{c}'", c as u32) } else { format!("U+{:04X}", c as u32) }
}

/// Splits a template into items (the last one is `Eof` or `Error`).
pub fn lex(input: &str) -> Vec<Item> {
    let newlines = memchr::memchr_iter(b'\n', input.as_bytes()).collect();
    Lexer { input, newlines, pos: 0, start: 0, items: Vec::new(), paren_depth: 0 }.run()
}
