//! Recursive-descent LogQL parser following Loki's grammar (`pkg/logql/syntax/syntax.y`).
//!
//! Syntax errors abort immediately with a position. Errors Loki only detects
//! when validating the finished AST (bad parameters, empty-compatible
//! selectors, binary operations on log queries...) are collected while parsing
//! and the first one in Loki's pre-order is reported once the syntax is valid.

use std::fmt;

use super::ast::{
    BinOp, BinOpKind, Cardinality, Expr, Grouping, LabelReplace, LogExpr, Matcher, RangeAggregation, RangeOp,
    SampleExpr, VectorAggregation, VectorMatching, VectorOp,
};
use super::compat::go_fmt_f6;
use super::compat::{Anchor, compile_regex};
use super::lexer::{Func, Kw, Tok, Token, tokenize};

/// Maximum nesting depth of expressions, parentheses and label-filter chains.
pub const MAX_DEPTH: usize = 256;

/// Maximum accepted query length in bytes (Loki's `maxInputSize`).
pub const MAX_INPUT_SIZE: usize = 131_072;

/// Loki's message for selectors whose matchers all accept the empty string.
pub const ERR_EMPTY_MATCHERS: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// A LogQL parse error; `line` and `col` are 0 when Loki reports no position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line, or 0.
    pub line: u32,
    /// 1-based column in characters, or 0.
    pub col: u32,
    /// Message, e.g. `syntax error: unexpected IDENTIFIER`.
    pub message: String,
}

impl ParseError {
    /// An error without position (rendered as `parse error : msg`).
    pub fn plain(message: impl Into<String>) -> Self {
        ParseError { line: 0, col: 0, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.message)
        } else {
            write!(f, "parse error at line {}, col {}: {}", self.line, self.col, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a LogQL query (log or metric) with Loki's validation.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    if input.len() >= MAX_INPUT_SIZE {
        return Err(ParseError::plain(format!("input size too long ({} > {})", input.len(), MAX_INPUT_SIZE)));
    }
    let mut p = Parser { toks: tokenize(input), pos: 0, depth: 0, deferred: Vec::new() };
    let node = p.parse_expr()?;
    if !matches!(p.cur(), Tok::Eof) {
        return Err(p.unexpected());
    }
    if let Some(d) = p.deferred.iter().min_by(|a, b| a.tok.cmp(&b.tok).then(b.seq.cmp(&a.seq))) {
        return Err(ParseError::plain(d.msg.clone()));
    }
    Ok(match node {
        Node::Log(l) => Expr::Log(*l),
        Node::Sample(s) => Expr::Sample(*s),
    })
}

impl std::str::FromStr for Expr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_expr(s)
    }
}

/// Parses a log query (selector and pipeline); metric queries are rejected.
pub fn parse_log_expr(input: &str) -> Result<LogExpr, ParseError> {
    match parse_expr(input)? {
        Expr::Log(l) => Ok(l),
        Expr::Sample(_) => Err(ParseError::plain("only log selector is supported")),
    }
}

/// Parses a metric query; log queries are rejected.
pub fn parse_sample_expr(input: &str) -> Result<SampleExpr, ParseError> {
    match parse_expr(input)? {
        Expr::Sample(s) => Ok(s),
        Expr::Log(_) => Err(ParseError::plain("only sample expression supported")),
    }
}

/// Parses a bare stream selector such as `{app="foo"}` into its matchers.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse_expr(input)? {
        Expr::Log(l) if l.stages.is_empty() => Ok(l.matchers),
        _ => Err(ParseError::plain("only label matchers are supported")),
    }
}

/// An intermediate expression: binary operations accept log legs syntactically (Loki rejects them later).
pub(super) enum Node {
    Log(Box<LogExpr>),
    Sample(Box<SampleExpr>),
}

impl Node {
    fn sample(s: SampleExpr) -> Node {
        Node::Sample(Box::new(s))
    }
}

#[derive(Clone, Copy)]
enum Operand {
    Number,
    Signed,
    Special,
    Range(RangeOp),
    Vector(VectorOp),
    LabelReplace,
    VectorLit,
    Log,
    Paren,
    Other,
}

struct Deferred {
    tok: usize,
    seq: usize,
    msg: String,
}

/// Parser state over the token stream.
pub(super) struct Parser {
    toks: Vec<Token>,
    /// Index of the current token.
    pub(super) pos: usize,
    depth: usize,
    deferred: Vec<Deferred>,
}

/// Go's `strconv.ParseFloat` as far as LogQL number tokens go.
pub(super) fn parse_go_float(text: &str) -> Result<f64, String> {
    let quoted = format!("{text:?}");
    let hex = text.len() > 1 && text[1..].starts_with(['x', 'X']);
    match text.parse::<f64>() {
        Ok(v) if !hex && v.is_infinite() => Err(format!("strconv.ParseFloat: parsing {quoted}: value out of range")),
        Ok(v) if !hex => Ok(v),
        _ => Err(format!("strconv.ParseFloat: parsing {quoted}: invalid syntax")),
    }
}

fn fold(op: BinOpKind, a: f64, b: f64) -> f64 {
    let truth = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinOpKind::Add => a + b,
        BinOpKind::Sub => a - b,
        BinOpKind::Mul => a * b,
        BinOpKind::Div if b == 0.0 => f64::NAN,
        BinOpKind::Div => a / b,
        BinOpKind::Mod if b == 0.0 => f64::NAN,
        BinOpKind::Mod => a % b,
        BinOpKind::Pow => a.powf(b),
        BinOpKind::Eq => truth(a == b),
        BinOpKind::Neq => truth(a != b),
        BinOpKind::Gt => truth(a > b),
        BinOpKind::Gte => truth(a >= b),
        BinOpKind::Lt => truth(a < b),
        BinOpKind::Lte => truth(a <= b),
        BinOpKind::Or | BinOpKind::And | BinOpKind::Unless => a,
    }
}

fn go_type_name(l: &LogExpr) -> &'static str {
    if l.stages.is_empty() { "*syntax.MatchersExpr" } else { "*syntax.PipelineExpr" }
}

impl Parser {
    /// The current token.
    pub(super) fn cur(&self) -> &Tok {
        self.peek(0)
    }

    /// The token `n` positions ahead (`Eof` past the end).
    pub(super) fn peek(&self, n: usize) -> &Tok {
        match self.toks.get(self.pos + n).or_else(|| self.toks.last()) {
            Some(t) => &t.tok,
            None => &Tok::Eof,
        }
    }

    /// Whether the current token is keyword `k`.
    pub(super) fn at_kw(&self, k: Kw) -> bool {
        matches!(self.cur(), Tok::Kw(x) if *x == k)
    }

    /// Whether the token `n` ahead is keyword `k`.
    pub(super) fn peek_is_kw(&self, n: usize, k: Kw) -> bool {
        matches!(self.peek(n), Tok::Kw(x) if *x == k)
    }

    /// Consumes keyword `k` if present.
    pub(super) fn eat_kw(&mut self, k: Kw) -> bool {
        let hit = self.at_kw(k);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn error_here(&self, msg: String) -> ParseError {
        match self.toks.get(self.pos).or_else(|| self.toks.last()) {
            Some(t) => ParseError { line: if t.line_valid { t.line } else { 0 }, col: t.col, message: msg },
            None => ParseError::plain(msg),
        }
    }

    /// `syntax error: unexpected X` at the current token (or the lexer error it carries).
    pub(super) fn unexpected(&self) -> ParseError {
        match self.cur() {
            Tok::Error(msg) => self.error_here(msg.clone()),
            t => self.error_here(format!("syntax error: unexpected {}", t.name())),
        }
    }

    /// Like [`Parser::unexpected`], with goyacc's `, expecting ...` suffix.
    pub(super) fn unexpected_exp(&self, expecting: &str) -> ParseError {
        match self.cur() {
            Tok::Error(msg) => self.error_here(msg.clone()),
            t => self.error_here(format!("syntax error: unexpected {}, expecting {expecting}", t.name())),
        }
    }

    /// Consumes keyword `k` or fails with a syntax error.
    pub(super) fn expect_kw(&mut self, k: Kw, expecting: Option<&str>) -> Result<(), ParseError> {
        if self.eat_kw(k) {
            return Ok(());
        }
        Err(match expecting {
            Some(e) => self.unexpected_exp(e),
            None => self.unexpected(),
        })
    }

    /// Consumes a string literal or fails with a syntax error.
    pub(super) fn expect_str(&mut self, expecting: &str) -> Result<String, ParseError> {
        if let Tok::Str(s) = self.cur() {
            let s = s.clone();
            self.pos += 1;
            return Ok(s);
        }
        Err(self.unexpected_exp(expecting))
    }

    /// Consumes an identifier or fails with a syntax error.
    pub(super) fn expect_ident(&mut self, expecting: Option<&str>) -> Result<String, ParseError> {
        if let Tok::Ident(s) = self.cur() {
            let s = s.clone();
            self.pos += 1;
            return Ok(s);
        }
        Err(match expecting {
            Some(e) => self.unexpected_exp(e),
            None => self.unexpected(),
        })
    }

    /// Records an error Loki reports during validation; `tok` orders errors in pre-order.
    pub(super) fn defer(&mut self, tok: usize, msg: String) {
        let seq = self.deferred.len();
        self.deferred.push(Deferred { tok, seq, msg });
    }

    /// Increments the nesting depth, failing past [`MAX_DEPTH`].
    pub(super) fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::plain(format!("query is too deeply nested (maximum depth {MAX_DEPTH})")));
        }
        Ok(())
    }

    /// Decrements the nesting depth.
    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Current nesting depth.
    pub(super) fn depth(&self) -> usize {
        self.depth
    }

    /// Restores a saved nesting depth.
    pub(super) fn set_depth(&mut self, d: usize) {
        self.depth = d;
    }

    fn parse_expr(&mut self) -> Result<Node, ParseError> {
        self.parse_binary(0)
    }

    fn binop_at(&self) -> Option<BinOpKind> {
        let Tok::Kw(k) = self.cur() else { return None };
        Some(match k {
            Kw::Or => BinOpKind::Or,
            Kw::And => BinOpKind::And,
            Kw::Unless => BinOpKind::Unless,
            Kw::Add => BinOpKind::Add,
            Kw::Sub => BinOpKind::Sub,
            Kw::Mul => BinOpKind::Mul,
            Kw::Div => BinOpKind::Div,
            Kw::Mod => BinOpKind::Mod,
            Kw::Pow => BinOpKind::Pow,
            Kw::CmpEq => BinOpKind::Eq,
            Kw::Neq => BinOpKind::Neq,
            Kw::Gt => BinOpKind::Gt,
            Kw::Gte => BinOpKind::Gte,
            Kw::Lt => BinOpKind::Lt,
            Kw::Lte => BinOpKind::Lte,
            _ => return None,
        })
    }

    /// Precedence climbing; `^` is right-associative, everything else left-associative.
    fn parse_binary(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        self.enter()?;
        let base = self.depth;
        let start = self.pos;
        let mut lhs = self.parse_operand()?;
        while let Some(op) = self.binop_at() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            let (return_bool, matching) = self.parse_bin_modifier()?;
            let next = if op == BinOpKind::Pow { prec } else { prec + 1 };
            let rhs = self.parse_binary(next)?;
            lhs = self.make_binop(start, op, return_bool, matching, lhs, rhs);
            self.enter()?;
        }
        self.depth = base;
        self.leave();
        Ok(lhs)
    }

    fn parse_bin_modifier(&mut self) -> Result<(bool, VectorMatching), ParseError> {
        let return_bool = self.eat_kw(Kw::Bool);
        let mut m = VectorMatching::default();
        if self.at_kw(Kw::On) || self.at_kw(Kw::Ignoring) {
            m.on = self.at_kw(Kw::On);
            self.pos += 1;
            m.labels = self.parse_label_list()?;
            if self.at_kw(Kw::GroupLeft) || self.at_kw(Kw::GroupRight) {
                m.card = if self.at_kw(Kw::GroupLeft) { Cardinality::ManyToOne } else { Cardinality::OneToMany };
                self.pos += 1;
                if self.at_kw(Kw::LParen) {
                    m.include = self.parse_label_list()?;
                }
            }
        }
        Ok((return_bool, m))
    }

    fn make_binop(
        &mut self,
        start: usize,
        op: BinOpKind,
        return_bool: bool,
        matching: VectorMatching,
        lhs: Node,
        rhs: Node,
    ) -> Node {
        let name = op.as_str();
        let placeholder = Node::sample(SampleExpr::Vector(0.0));
        let lhs = match lhs {
            Node::Log(l) => {
                let ty = go_type_name(&l);
                self.defer(start, format!("unexpected type for left leg of binary operation ({name}): {ty}"));
                return placeholder;
            }
            Node::Sample(s) => *s,
        };
        let rhs = match rhs {
            Node::Log(l) => {
                let ty = go_type_name(&l);
                self.defer(start, format!("unexpected type for right leg of binary operation ({name}): {ty}"));
                return placeholder;
            }
            Node::Sample(s) => *s,
        };
        if op.is_set_op() {
            for (side, leg) in [("left", &lhs), ("right", &rhs)] {
                if let SampleExpr::Literal(v) = leg {
                    let v = go_fmt_f6(*v);
                    self.defer(
                        start,
                        format!("unexpected literal for {side} leg of logical/set binary operation ({name}): {v}"),
                    );
                    return placeholder;
                }
            }
        }
        if let (SampleExpr::Literal(a), SampleExpr::Literal(b)) = (&lhs, &rhs) {
            return Node::sample(SampleExpr::Literal(fold(op, *a, *b)));
        }
        Node::sample(SampleExpr::BinOp(BinOp { op, return_bool, matching, lhs: Box::new(lhs), rhs: Box::new(rhs) }))
    }

    fn literal(&mut self, start: usize, text: &str, negate: bool) -> SampleExpr {
        match parse_go_float(text) {
            Ok(v) => SampleExpr::Literal(if negate { -v } else { v }),
            Err(e) => {
                self.defer(start, format!("unable to parse literal as a float: {e}"));
                SampleExpr::Literal(0.0)
            }
        }
    }

    fn special_float(tok: &Tok) -> Option<f64> {
        match tok {
            Tok::Ident(s) if s.eq_ignore_ascii_case("nan") => Some(f64::NAN),
            Tok::Ident(s) if s.eq_ignore_ascii_case("inf") => Some(f64::INFINITY),
            _ => None,
        }
    }

    fn operand_kind(&self) -> Operand {
        match self.cur() {
            Tok::Number(_) => Operand::Number,
            Tok::Kw(Kw::Add | Kw::Sub) => Operand::Signed,
            t if Self::special_float(t).is_some() => Operand::Special,
            Tok::Func(Func::Range(op)) => Operand::Range(*op),
            Tok::Func(Func::Vector(op)) => Operand::Vector(*op),
            Tok::Func(Func::LabelReplace) => Operand::LabelReplace,
            Tok::Func(Func::VectorLit) => Operand::VectorLit,
            Tok::Kw(Kw::LBrace) => Operand::Log,
            Tok::Kw(Kw::LParen) => Operand::Paren,
            _ => Operand::Other,
        }
    }

    fn parse_operand(&mut self) -> Result<Node, ParseError> {
        match self.operand_kind() {
            Operand::Number | Operand::Signed | Operand::Special => self.parse_number().map(Node::sample),
            Operand::Range(op) => self.parse_range_agg(op),
            Operand::Vector(op) => self.parse_vector_agg(op),
            Operand::LabelReplace => self.parse_label_replace(),
            Operand::VectorLit => self.parse_vector(),
            Operand::Log => self.parse_log_expr(false).map(|l| Node::Log(Box::new(l))),
            Operand::Paren => self.parse_paren(),
            Operand::Other => Err(self.unexpected()),
        }
    }

    fn parse_paren(&mut self) -> Result<Node, ParseError> {
        self.pos += 1;
        let node = self.parse_expr()?;
        self.expect_kw(Kw::RParen, None)?;
        Ok(node)
    }

    /// `NUMBER`, `+NUMBER`, `-NUMBER` (and the `NaN`/`Inf` extension).
    fn parse_number(&mut self) -> Result<SampleExpr, ParseError> {
        let start = self.pos;
        let mut negate = false;
        if self.at_kw(Kw::Add) || self.at_kw(Kw::Sub) {
            negate = self.at_kw(Kw::Sub);
            self.pos += 1;
        }
        if let Some(v) = Self::special_float(self.cur()) {
            self.pos += 1;
            return Ok(SampleExpr::Literal(if negate { -v } else { v }));
        }
        let Tok::Number(text) = self.cur().clone() else { return Err(self.unexpected_exp("NUMBER")) };
        self.pos += 1;
        Ok(self.literal(start, &text, negate))
    }

    /// Parses `(a, b)` after `by`, `without`, `on`, `ignoring`, `group_left` or `group_right`.
    fn parse_label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_kw(Kw::LParen, Some("("))?;
        let mut out = Vec::new();
        if self.eat_kw(Kw::RParen) {
            return Ok(out);
        }
        loop {
            out.push(self.expect_ident(Some(if out.is_empty() { "IDENTIFIER or )" } else { "IDENTIFIER" }))?);
            if self.eat_kw(Kw::RParen) {
                return Ok(out);
            }
            self.expect_kw(Kw::Comma, Some(", or )"))?;
        }
    }

    fn parse_grouping(&mut self) -> Result<Grouping, ParseError> {
        let without = self.at_kw(Kw::Without);
        self.pos += 1;
        Ok(Grouping { without, labels: self.parse_label_list()? })
    }

    fn at_grouping(&self) -> bool {
        self.at_kw(Kw::By) || self.at_kw(Kw::Without)
    }

    /// A leading `NUMBER ,` parameter, as raw text.
    fn parse_param(&mut self) -> Option<String> {
        if let Tok::Number(t) = self.cur()
            && self.peek_is_kw(1, Kw::Comma)
        {
            let t = t.clone();
            self.pos += 2;
            return Some(t);
        }
        None
    }

    fn parse_range_agg(&mut self, op: RangeOp) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1;
        self.expect_kw(Kw::LParen, Some("("))?;
        let param_text = self.parse_param();
        let range = self.parse_log_range()?;
        self.expect_kw(Kw::RParen, None)?;
        let grouping = if self.at_grouping() { Some(self.parse_grouping()?) } else { None };
        let name = op.as_str();
        let mut param = None;
        let err = match (&param_text, op) {
            (Some(t), RangeOp::QuantileOverTime) => match parse_go_float(t) {
                Ok(v) => {
                    param = Some(v);
                    range_agg_error(op, grouping.is_some(), range.unwrap.is_some())
                }
                Err(e) => Some(format!("invalid parameter for operation {name}: {e}")),
            },
            (Some(t), _) => Some(format!("parameter {t} not supported for operation {name}")),
            (None, RangeOp::QuantileOverTime) => Some(format!("parameter required for operation {name}")),
            (None, _) => range_agg_error(op, grouping.is_some(), range.unwrap.is_some()),
        };
        if let Some(e) = err {
            self.defer(start, e);
        }
        Ok(Node::sample(SampleExpr::RangeAggregation(RangeAggregation { op, param, range, grouping })))
    }

    fn parse_vector_agg(&mut self, op: VectorOp) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let before = self.opt_grouping()?;
        self.expect_kw(Kw::LParen, Some("("))?;
        let param_text = self.parse_param();
        let inner = self.parse_expr()?;
        self.finish_vector_agg(start, op, before, param_text, inner)
    }

    fn opt_grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        if self.at_grouping() { self.parse_grouping().map(Some) } else { Ok(None) }
    }

    fn finish_vector_agg(
        &mut self,
        start: usize,
        op: VectorOp,
        before: Option<Grouping>,
        param_text: Option<String>,
        inner: Node,
    ) -> Result<Node, ParseError> {
        let Node::Sample(inner) = inner else { return Err(self.unexpected()) };
        self.expect_kw(Kw::RParen, None)?;
        let after = if before.is_none() { self.opt_grouping()? } else { None };
        let given = before.or(after);
        let name = op.as_str();
        let mut param = None;
        let err = match (&param_text, op.takes_param()) {
            (None, true) => Some(format!("parameter required for operation {name}")),
            (Some(t), true) => match t.parse::<i64>() {
                Err(_) => Some(format!("invalid parameter {name}({t},")),
                Ok(p) if p <= 0 => Some(format!("invalid parameter (must be greater than 0) {name}({t}")),
                Ok(_) if op == VectorOp::ApproxTopk && given.is_some() => {
                    Some(format!("grouping not allowed for {name} aggregation"))
                }
                Ok(p) => {
                    param = u64::try_from(p).ok();
                    None
                }
            },
            (Some(t), false) => Some(format!("unsupported parameter for operation {name}({t},")),
            (None, false) => None,
        };
        let grouping = given.unwrap_or_default();
        let sort_err = matches!(op, VectorOp::Sort | VectorOp::SortDesc) && !grouping.labels.is_empty();
        if let Some(e) = err {
            self.defer(start, e);
        } else if sort_err {
            self.defer(start, "sort and sort_desc doesn't allow grouping by ".into());
        }
        Ok(Node::sample(SampleExpr::VectorAggregation(VectorAggregation { op, param, expr: inner, grouping })))
    }

    fn parse_label_replace(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1;
        self.expect_kw(Kw::LParen, Some("("))?;
        let inner = self.parse_expr()?;
        self.finish_label_replace(start, inner)
    }

    fn finish_label_replace(&mut self, start: usize, inner: Node) -> Result<Node, ParseError> {
        let Node::Sample(inner) = inner else { return Err(self.unexpected()) };
        self.expect_kw(Kw::Comma, None)?;
        let mut args = Vec::with_capacity(4);
        for i in 0..4 {
            args.push(self.expect_str("STRING")?);
            if i < 3 {
                self.expect_kw(Kw::Comma, Some(","))?;
            }
        }
        self.expect_kw(Kw::RParen, Some(")"))?;
        let [dst, replacement, src, regex]: [String; 4] = match args.try_into() {
            Ok(a) => a,
            Err(_) => return Err(self.unexpected()),
        };
        match compile_regex(&regex, Anchor::Full) {
            Ok(compiled) => Ok(Node::sample(SampleExpr::LabelReplace(LabelReplace {
                expr: inner,
                dst,
                replacement,
                src,
                regex,
                compiled,
            }))),
            Err(e) => {
                self.defer(start, format!("invalid regex in label_replace: {e}"));
                Ok(Node::sample(SampleExpr::Vector(0.0)))
            }
        }
    }

    fn parse_vector(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1;
        self.expect_kw(Kw::LParen, Some("("))?;
        let Tok::Number(text) = self.cur().clone() else {
            return Err(self.unexpected_exp("NUMBER"));
        };
        self.pos += 1;
        self.expect_kw(Kw::RParen, Some(")"))?;
        match parse_go_float(&text) {
            Ok(v) => Ok(Node::sample(SampleExpr::Vector(v))),
            Err(e) => {
                self.defer(start, format!("unable to parse vectorExpr as a float: {e}"));
                Ok(Node::sample(SampleExpr::Vector(0.0)))
            }
        }
    }
}

/// Loki's `RangeAggregationExpr.validate`.
fn range_agg_error(op: RangeOp, grouped: bool, unwrapped: bool) -> Option<String> {
    use RangeOp::*;
    let name = op.as_str();
    if grouped
        && !matches!(
            op,
            AvgOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | MaxOverTime
                | MinOverTime
                | FirstOverTime
                | LastOverTime
        )
    {
        return Some(format!("grouping not allowed for {name} aggregation"));
    }
    if unwrapped {
        let ok = matches!(
            op,
            AvgOverTime
                | SumOverTime
                | MaxOverTime
                | MinOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | Rate
                | RateCounter
                | AbsentOverTime
                | FirstOverTime
                | LastOverTime
        );
        return if ok { None } else { Some(format!("invalid aggregation {name} with unwrap")) };
    }
    if matches!(op, BytesOverTime | BytesRate | CountOverTime | Rate | AbsentOverTime) {
        None
    } else {
        Some(format!("invalid aggregation {name} without unwrap"))
    }
}
