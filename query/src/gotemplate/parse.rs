//! Parser of Go `text/template` into a small AST, with Go's parse-time checks and messages.

use super::gofmt::go_quote;
use super::lex::{Item, ItemKind, lex};
use super::values::{go_parse_float, go_parse_int};

/// Maximum nesting of control structures and parentheses (bounds recursion).
pub const MAX_PARSE_DEPTH: usize = 200;

/// A numeric literal with Go's int/float interpretations.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// Source text.
    pub text: String,
    /// Value as an int, when representable.
    pub int: Option<i64>,
    /// Value as a float, when representable.
    pub float: Option<f64>,
    /// Whether the literal is a float constant for `interface{}` parameters.
    pub is_float_literal: bool,
}

/// An operand of a command (`pos` is always the byte offset of the node in the template).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.a.b`
    Field {
        /// Byte offset.
        pos: usize,
        /// Field names.
        idents: Vec<String>,
    },
    /// `$x.a` (first ident is the variable name with `$`)
    Variable {
        /// Byte offset.
        pos: usize,
        /// Variable name then field names.
        idents: Vec<String>,
    },
    /// `.`
    Dot {
        /// Byte offset.
        pos: usize,
    },
    /// Function name.
    Ident {
        /// Byte offset.
        pos: usize,
        /// Function name.
        name: String,
    },
    /// String literal (quoted source kept for error messages).
    Str {
        /// Byte offset.
        pos: usize,
        /// Source text with quotes.
        quoted: String,
        /// Unquoted value.
        value: String,
    },
    /// Number literal.
    Number {
        /// Byte offset.
        pos: usize,
        /// Parsed number.
        num: Number,
    },
    /// `true` / `false`
    Bool {
        /// Byte offset.
        pos: usize,
        /// Value.
        value: bool,
    },
    /// `nil`
    Nil {
        /// Byte offset.
        pos: usize,
    },
    /// `( pipeline )`
    Pipe {
        /// Byte offset (of the first token inside the parentheses).
        pos: usize,
        /// Inner pipeline.
        pipe: Box<Pipe>,
    },
    /// `(pipeline).a.b` or `fn.a`
    Chain {
        /// Byte offset.
        pos: usize,
        /// Node the fields apply to.
        node: Box<Arg>,
        /// Field names.
        fields: Vec<String>,
    },
}

impl Arg {
    /// Byte offset of the node.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Dot { pos }
            | Arg::Ident { pos, .. }
            | Arg::Str { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::Bool { pos, .. }
            | Arg::Nil { pos }
            | Arg::Pipe { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
        }
    }

    /// Text shown in execution errors (`at <...>`): a parenthesized pipeline shows without parens.
    pub fn context(&self) -> String {
        match self {
            Arg::Pipe { pipe, .. } => pipe.render(),
            other => other.render(),
        }
    }

    /// Go's `Node.String()`.
    pub fn render(&self) -> String {
        match self {
            Arg::Field { idents, .. } => idents.iter().map(|i| format!(".{i}")).collect(),
            Arg::Variable { idents, .. } => idents.join("."),
            Arg::Dot { .. } => ".".to_owned(),
            Arg::Ident { name, .. } => name.clone(),
            Arg::Str { quoted, .. } => quoted.clone(),
            Arg::Number { num, .. } => num.text.clone(),
            Arg::Bool { value, .. } => value.to_string(),
            Arg::Nil { .. } => "nil".to_owned(),
            Arg::Pipe { pipe, .. } => format!("({})", pipe.render()),
            Arg::Chain { node, fields, .. } => {
                let mut s = match node.as_ref() {
                    Arg::Pipe { .. } => node.render(),
                    other => other.render(),
                };
                for f in fields {
                    s.push('.');
                    s.push_str(f);
                }
                s
            }
        }
    }
}

/// A command: operands separated by spaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Byte offset.
    pub pos: usize,
    /// Operands (the first may be a function).
    pub args: Vec<Arg>,
}

impl Command {
    /// Go's `CommandNode.String()`.
    pub fn render(&self) -> String {
        self.args.iter().map(Arg::render).collect::<Vec<_>>().join(" ")
    }
}

/// A pipeline with optional variable declarations.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    /// Byte offset.
    pub pos: usize,
    /// Declared or assigned variables (with `$`).
    pub decl: Vec<String>,
    /// `=` instead of `:=`.
    pub is_assign: bool,
    /// Commands separated by `|`.
    pub cmds: Vec<Command>,
}

impl Pipe {
    /// Go's `PipeNode.String()`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.decl.is_empty() {
            s.push_str(&self.decl.join(", "));
            s.push_str(if self.is_assign { " = " } else { " := " });
        }
        s.push_str(&self.cmds.iter().map(Command::render).collect::<Vec<_>>().join(" | "));
        s
    }
}

/// A node of the template body.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{pipeline}}`
    Action(Pipe),
    /// `{{if}}` / `{{with}}` / `{{range}}`
    Control(Branch),
    /// `{{break}}`
    Break,
    /// `{{continue}}`
    Continue,
}

/// A control structure with its body and optional `{{else}}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// `if`, `with` or `range`.
    pub kind: ControlKind,
    /// Condition / value pipeline.
    pub pipe: Pipe,
    /// Body.
    pub list: Vec<Node>,
    /// `{{else}}` body.
    pub else_list: Option<Vec<Node>>,
}

/// Kind of control structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// `if`
    If,
    /// `with`
    With,
    /// `range`
    Range,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    /// Template name used in messages (`line` or `label`).
    pub name: String,
    /// Source text.
    pub text: String,
    /// Body.
    pub root: Vec<Node>,
}

enum ListEnd {
    End,
    Else,
}

struct Parser<'f> {
    name: String,
    items: Vec<Item>,
    idx: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    has_func: &'f dyn Fn(&str) -> bool,
}

type PResult<T> = Result<T, String>;

impl Parser<'_> {
    fn peek(&self) -> &Item {
        &self.items[self.idx.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.peek().clone();
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        it
    }

    fn skip_spaces(&mut self) {
        while self.peek().kind == ItemKind::Space {
            self.idx += 1;
        }
    }

    fn peek_non_space(&mut self) -> Item {
        self.skip_spaces();
        self.peek().clone()
    }

    fn next_non_space(&mut self) -> Item {
        self.skip_spaces();
        self.next()
    }

    fn err<T>(&self, msg: impl AsRef<str>) -> PResult<T> {
        Err(format!("template: {}:{}: {}", self.name, self.peek_line(), msg.as_ref()))
    }

    fn peek_line(&self) -> usize {
        self.items[self.idx.saturating_sub(1).min(self.items.len() - 1)].line
    }

    fn unexpected<T>(&self, it: &Item, context: &str) -> PResult<T> {
        if it.kind == ItemKind::Error {
            return Err(format!("template: {}:{}: {}", self.name, it.line, it.val));
        }
        Err(format!("template: {}:{}: unexpected {} in {}", self.name, it.line, it.describe(), context))
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return self.err("max expression depth exceeded");
        }
        Ok(())
    }

    fn parse(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != ItemKind::Eof {
            match self.text_or_action()? {
                Err(ListEnd::End) => return self.err("unexpected {{end}}"),
                Err(ListEnd::Else) => return self.err("unexpected {{else}}"),
                Ok(Some(n)) => root.push(n),
                Ok(None) => {}
            }
        }
        Ok(root)
    }

    /// Returns `Ok(Err(end))` on `{{end}}`/`{{else}}`.
    fn text_or_action(&mut self) -> PResult<Result<Option<Node>, ListEnd>> {
        let it = self.next();
        match it.kind {
            ItemKind::Text => Ok(Ok(Some(Node::Text(it.val)))),
            ItemKind::LeftDelim => self.action(),
            _ => self.unexpected(&it, "input"),
        }
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek().kind != ItemKind::Eof {
            match self.text_or_action()? {
                Ok(Some(n)) => list.push(n),
                Ok(None) => {}
                Err(end) => return Ok((list, end)),
            }
        }
        self.err("unexpected EOF")
    }

    fn action(&mut self) -> PResult<Result<Option<Node>, ListEnd>> {
        let it = self.next_non_space();
        match it.kind {
            ItemKind::Break | ItemKind::Continue => {
                let t = self.next_non_space();
                if t.kind != ItemKind::RightDelim {
                    return self.unexpected(&t, &format!("{{{{{}}}}}", it.val));
                }
                if self.range_depth == 0 {
                    return self.err(format!("{{{{{}}}}} outside {{{{range}}}}", it.val));
                }
                Ok(Ok(Some(if it.kind == ItemKind::Break { Node::Break } else { Node::Continue })))
            }
            ItemKind::Else => {
                let p = self.peek_non_space();
                if matches!(p.kind, ItemKind::If | ItemKind::With) {
                    return Ok(Err(ListEnd::Else));
                }
                let t = self.next_non_space();
                if t.kind != ItemKind::RightDelim {
                    return self.unexpected(&t, "else");
                }
                Ok(Err(ListEnd::Else))
            }
            ItemKind::End => {
                let t = self.next_non_space();
                if t.kind != ItemKind::RightDelim {
                    return self.unexpected(&t, "end");
                }
                Ok(Err(ListEnd::End))
            }
            ItemKind::If => self.control(ControlKind::If).map(|n| Ok(Some(n))),
            ItemKind::With => self.control(ControlKind::With).map(|n| Ok(Some(n))),
            ItemKind::Range => self.control(ControlKind::Range).map(|n| Ok(Some(n))),
            ItemKind::Unsupported => self.err(format!("unsupported action {{{{{}}}}}", it.val)),
            _ => {
                self.idx -= 1;
                let pipe = self.pipeline("command", ItemKind::RightDelim)?;
                Ok(Ok(Some(Node::Action(pipe))))
            }
        }
    }

    fn control(&mut self, kind: ControlKind) -> PResult<Node> {
        self.enter()?;
        let mark = self.vars.len();
        let context = match kind {
            ControlKind::If => "if",
            ControlKind::With => "with",
            ControlKind::Range => "range",
        };
        let pipe = self.pipeline(context, ItemKind::RightDelim)?;
        if kind == ControlKind::Range {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if kind == ControlKind::Range {
            self.range_depth -= 1;
        }
        let else_list = match end {
            ListEnd::End => None,
            ListEnd::Else => {
                let p = self.peek_non_space();
                if (kind == ControlKind::If && p.kind == ItemKind::If)
                    || (kind == ControlKind::With && p.kind == ItemKind::With)
                {
                    self.next_non_space();
                    Some(vec![self.control(kind)?])
                } else {
                    let (l, end) = self.item_list()?;
                    if let ListEnd::Else = end {
                        return self.err("expected end; found {{else}}");
                    }
                    Some(l)
                }
            }
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Node::Control(Branch { kind, pipe, list, else_list }))
    }

    fn pipeline(&mut self, context: &str, end: ItemKind) -> PResult<Pipe> {
        self.enter()?;
        let start = self.peek_non_space();
        let mut pipe = Pipe { pos: start.pos, decl: Vec::new(), is_assign: false, cmds: Vec::new() };
        loop {
            let v = self.peek_non_space();
            if v.kind != ItemKind::Variable {
                break;
            }
            let save = self.idx;
            self.next();
            let next = self.peek_non_space();
            match next.kind {
                ItemKind::Assign | ItemKind::Declare => {
                    pipe.is_assign = next.kind == ItemKind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                ItemKind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            ItemKind::Variable | ItemKind::RightDelim | ItemKind::RightParen => continue,
                            _ => return self.err("range can only initialize variables"),
                        }
                    }
                    return self.err(format!("too many declarations in {context}"));
                }
                _ => {
                    self.idx = save;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            match t.kind {
                k if k == end => {
                    if pipe.cmds.is_empty() {
                        return self.err(format!("missing value for {context}"));
                    }
                    for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                        if matches!(
                            c.args.first(),
                            Some(
                                Arg::Bool { .. }
                                    | Arg::Dot { .. }
                                    | Arg::Nil { .. }
                                    | Arg::Number { .. }
                                    | Arg::Str { .. }
                            )
                        ) {
                            return self.err(format!("non executable command in pipeline stage {}", i + 1));
                        }
                    }
                    self.depth -= 1;
                    return Ok(pipe);
                }
                ItemKind::Bool
                | ItemKind::CharConstant
                | ItemKind::Dot
                | ItemKind::Field
                | ItemKind::Identifier
                | ItemKind::Number
                | ItemKind::Nil
                | ItemKind::RawStr
                | ItemKind::Str
                | ItemKind::Variable
                | ItemKind::LeftParen => {
                    self.idx -= 1;
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { pos, args: Vec::new() };
        loop {
            self.skip_spaces();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.kind {
                ItemKind::Space => continue,
                ItemKind::RightDelim | ItemKind::RightParen => self.idx -= 1,
                ItemKind::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else { return Ok(None) };
        if self.peek().kind != ItemKind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == ItemKind::Field {
            fields.push(self.next().val[1..].to_owned());
        }
        Ok(Some(match node {
            Arg::Field { pos, mut idents } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { pos, mut idents } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool { .. } | Arg::Str { .. } | Arg::Number { .. } | Arg::Nil { .. } | Arg::Dot { .. } => {
                return self.err(format!("unexpected . after term {}", go_quote(&node.render())));
            }
            other => Arg::Chain { pos: chain_pos, node: Box::new(other), fields },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.kind {
            ItemKind::Identifier => {
                if !(self.has_func)(&t.val) {
                    return self.err(format!("function {} not defined", go_quote(&t.val)));
                }
                Arg::Ident { pos, name: t.val }
            }
            ItemKind::Dot => Arg::Dot { pos },
            ItemKind::Nil => Arg::Nil { pos },
            ItemKind::Variable => {
                if !self.vars.contains(&t.val) {
                    return self.err(format!("undefined variable {}", go_quote(&t.val)));
                }
                Arg::Variable { pos, idents: vec![t.val] }
            }
            ItemKind::Field => Arg::Field { pos, idents: vec![t.val[1..].to_owned()] },
            ItemKind::Bool => Arg::Bool { pos, value: t.val == "true" },
            ItemKind::Number | ItemKind::CharConstant => {
                let num = parse_number(&t.val, t.kind == ItemKind::CharConstant)
                    .map_err(|e| format!("template: {}:{}: {}", self.name, t.line, e))?;
                Arg::Number { pos, num }
            }
            ItemKind::LeftParen => {
                let pipe = self.pipeline("parenthesized pipeline", ItemKind::RightParen)?;
                Arg::Pipe { pos: pipe.pos, pipe: Box::new(pipe) }
            }
            ItemKind::Str | ItemKind::RawStr => {
                let value = unquote(&t.val).map_err(|e| format!("template: {}:{}: {}", self.name, t.line, e))?;
                Arg::Str { pos, quoted: t.val, value }
            }
            _ => {
                self.idx -= 1;
                return Ok(None);
            }
        }))
    }
}

fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    if is_char {
        let inner = unquote_char(text)?;
        let v = i64::from(u32::from(inner));
        return Ok(Number { text: text.to_owned(), int: Some(v), float: Some(v as f64), is_float_literal: false });
    }
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {}", go_quote(text)));
    }
    let int = go_parse_int(text, true).ok();
    let mut float = int.map(|i| i as f64);
    let mut int = int;
    let lower = text.to_ascii_lowercase();
    let is_hex = lower.trim_start_matches(['+', '-']).starts_with("0x");
    if int.is_none()
        && let Ok(f) = go_parse_float(text)
    {
        {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: {}", go_quote(text)));
            }
            float = Some(f);
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                int = Some(f as i64);
            }
        }
    }
    if int.is_none() && float.is_none() {
        return Err(format!("illegal number syntax: {}", go_quote(text)));
    }
    let is_float_literal =
        float.is_some() && (if is_hex { lower.contains('p') } else { text.contains(['.', 'e', 'E']) });
    Ok(Number { text: text.to_owned(), int, float, is_float_literal })
}

fn unquote_char(text: &str) -> Result<char, String> {
    let inner = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')).ok_or("invalid syntax")?;
    let s = unquote_body(inner, '\'').map_err(|_| "invalid syntax".to_owned())?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("malformed character constant: {text}")),
    }
}

/// Go's `strconv.Unquote` for `"..."` and `` `...` `` literals.
pub fn unquote(text: &str) -> Result<String, String> {
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Ok(raw.replace('\r', ""));
    }
    let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or("invalid syntax")?;
    unquote_body(inner, '"').map_err(|_| "invalid syntax".to_owned())
}

fn unquote_body(s: &str, quote: char) -> Result<String, ()> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == quote || c == '\n' {
            return Err(());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or(())?;
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> Result<u32, ()> {
            let h: String = chars.by_ref().take(n).collect();
            if h.len() != n {
                return Err(());
            }
            u32::from_str_radix(&h, 16).map_err(|_| ())
        };
        match e {
            'a' => out.push('\u{07}'),
            'b' => out.push('\u{08}'),
            'f' => out.push('\u{0C}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{0B}'),
            '\\' => out.push('\\'),
            '\'' | '"' if e == quote => out.push(e),
            'x' => out.push(char::from_u32(hex(&mut chars, 2)?).ok_or(())?),
            'u' => out.push(char::from_u32(hex(&mut chars, 4)?).ok_or(())?),
            'U' => out.push(char::from_u32(hex(&mut chars, 8)?).ok_or(())?),
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).map_err(|_| ())?;
                if rest.len() != 2 || v > 255 {
                    return Err(());
                }
                out.push(char::from_u32(v).ok_or(())?);
            }
            _ => return Err(()),
        }
    }
    Ok(out)
}

/// Parses a template; `has_func` tells which function names exist (Go checks them at parse time).
pub fn parse_template(name: &str, text: &str, has_func: &dyn Fn(&str) -> bool) -> Result<Tree, String> {
    let items = lex(text);
    let mut p =
        Parser { name: name.to_owned(), items, idx: 0, vars: vec!["$".to_owned()], range_depth: 0, depth: 0, has_func };
    let root = p.parse()?;
    Ok(Tree { name: name.to_owned(), text: text.to_owned(), root })
}
