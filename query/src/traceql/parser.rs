//! Recursive-descent TraceQL parser with light type checking.
//!
//! Precedence, loosest first: spanset `||`, spanset `&&`, structural `>` `>>` `~`; inside a
//! filter: `||`, `&&`, comparisons, `!`.

use super::ParseError;
use super::ast::*;
use super::lexer::{Tok, lex};

/// Parses a TraceQL query.
pub fn parse(text: &str) -> Result<Query, ParseError> {
    let tokens = lex(text)?;
    let mut p = Parser { text, tokens, pos: 0, depth: 0 };
    let query = p.query()?;
    p.expect_end()?;
    Ok(query)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    /// Open parentheses and negations, bounded so hostile input cannot exhaust the stack.
    depth: usize,
}

/// Deepest nesting of parentheses and `!` accepted.
const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].0
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos].1
    }

    fn next(&mut self) -> Tok {
        let tok = self.tokens[self.pos].0.clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn descend(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error(format!("the query nests deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == tok {
            self.next();
            true
        } else {
            false
        }
    }

    fn error<T>(&self, message: String) -> Result<T, ParseError> {
        Err(ParseError::at(self.text, self.offset(), message))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if self.eat(&tok) {
            Ok(())
        } else {
            self.error(format!("expected {what} but found {}", self.peek().describe()))
        }
    }

    fn expect_end(&self) -> Result<(), ParseError> {
        match self.peek() {
            Tok::Eof => Ok(()),
            other => self.error(format!("unexpected {} after the end of the query", other.describe())),
        }
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        let mut stages = vec![Stage::Spanset(self.spanset_or()?)];
        let mut metrics = None;
        while self.peek() == &Tok::Pipe {
            if metrics.is_some() {
                return self.error("a metrics function must be the last stage of the pipeline".into());
            }
            self.next();
            match self.peek().clone() {
                Tok::LBrace | Tok::LParen => stages.push(Stage::Spanset(self.spanset_or()?)),
                Tok::Word(w) => match w.as_str() {
                    "count" | "avg" | "min" | "max" | "sum" => stages.push(Stage::Scalar(self.scalar_filter(&w)?)),
                    "select" => {
                        self.next();
                        stages.push(Stage::Select(self.attribute_list()?));
                    }
                    "by" => {
                        self.next();
                        self.expect(Tok::LParen, "'(' after by")?;
                        let mut fields = vec![self.field_or()?];
                        while self.eat(&Tok::Comma) {
                            fields.push(self.field_or()?);
                        }
                        self.expect(Tok::RParen, "')'")?;
                        stages.push(Stage::By(fields));
                    }
                    "rate" | "count_over_time" | "quantile_over_time" | "histogram_over_time" => {
                        metrics = Some(self.metrics_stage(&w)?)
                    }
                    other => return self.error(format!("unknown pipeline stage '{other}'")),
                },
                other => {
                    return self.error(format!("expected a pipeline stage after '|' but found {}", other.describe()));
                }
            }
        }
        Ok(Query { stages, metrics })
    }

    fn spanset_or(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_and()?;
        while self.eat(&Tok::OrOr) {
            let rhs = self.spanset_and()?;
            lhs = SpansetExpr::Binary { op: SpansetOp::Or, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        }
        Ok(lhs)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_structural()?;
        while self.eat(&Tok::AndAnd) {
            let rhs = self.spanset_structural()?;
            lhs = SpansetExpr::Binary { op: SpansetOp::And, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        }
        Ok(lhs)
    }

    fn spanset_structural(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_primary()?;
        loop {
            let op = match self.peek() {
                Tok::Gt => SpansetOp::Child,
                Tok::Descendant => SpansetOp::Descendant,
                Tok::Tilde => SpansetOp::Sibling,
                _ => return Ok(lhs),
            };
            self.next();
            let rhs = self.spanset_primary()?;
            lhs = SpansetExpr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        }
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, ParseError> {
        match self.peek() {
            Tok::LParen => {
                self.next();
                self.descend()?;
                let inner = self.spanset_or()?;
                self.expect(Tok::RParen, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::LBrace => {
                self.next();
                if self.eat(&Tok::RBrace) {
                    return Ok(SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))));
                }
                let start = self.offset();
                let expr = self.field_or()?;
                if !is_condition(&expr) {
                    return Err(ParseError::at(
                        self.text,
                        start,
                        "a spanset filter must be a condition, such as .attr = \"x\" or .attr != nil".into(),
                    ));
                }
                self.expect(Tok::RBrace, "'}' to close the spanset filter")?;
                Ok(SpansetExpr::Filter(expr))
            }
            other => self.error(format!("expected a spanset filter '{{ ... }}' but found {}", other.describe())),
        }
    }

    fn field_or(&mut self) -> Result<FieldExpr, ParseError> {
        let mut lhs = self.field_and()?;
        while self.peek() == &Tok::OrOr {
            let at = self.offset();
            self.next();
            let rhs = self.field_and()?;
            self.check_logical(&lhs, &rhs, at)?;
            lhs = FieldExpr::Binary { op: FieldOp::Or, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        }
        Ok(lhs)
    }

    fn field_and(&mut self) -> Result<FieldExpr, ParseError> {
        let mut lhs = self.field_comparison()?;
        while self.peek() == &Tok::AndAnd {
            let at = self.offset();
            self.next();
            let rhs = self.field_comparison()?;
            self.check_logical(&lhs, &rhs, at)?;
            lhs = FieldExpr::Binary { op: FieldOp::And, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        }
        Ok(lhs)
    }

    fn check_logical(&self, lhs: &FieldExpr, rhs: &FieldExpr, at: usize) -> Result<(), ParseError> {
        if is_condition(lhs) && is_condition(rhs) {
            Ok(())
        } else {
            Err(ParseError::at(self.text, at, "both sides of && and || must be conditions".into()))
        }
    }

    fn field_comparison(&mut self) -> Result<FieldExpr, ParseError> {
        let lhs = self.field_unary()?;
        let Some(op) = compare_op(self.peek()) else { return Ok(lhs) };
        let at = self.offset();
        self.next();
        let rhs = self.field_unary()?;
        check_comparison(&lhs, op, &rhs).map_err(|m| ParseError::at(self.text, at, m))?;
        Ok(FieldExpr::Binary { op: FieldOp::Compare(op), lhs: Box::new(lhs), rhs: Box::new(rhs) })
    }

    fn field_unary(&mut self) -> Result<FieldExpr, ParseError> {
        if self.eat(&Tok::Not) {
            self.descend()?;
            let at = self.offset();
            let inner = self.field_unary()?;
            self.depth -= 1;
            if !is_condition(&inner) {
                return Err(ParseError::at(self.text, at, "'!' applies to a condition".into()));
            }
            return Ok(FieldExpr::Not(Box::new(inner)));
        }
        if self.eat(&Tok::LParen) {
            self.descend()?;
            let inner = self.field_or()?;
            self.expect(Tok::RParen, "')'")?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.field_primary()
    }

    fn field_primary(&mut self) -> Result<FieldExpr, ParseError> {
        if let Some(stat) = self.static_value()? {
            return Ok(FieldExpr::Static(stat));
        }
        Ok(FieldExpr::Attribute(self.attribute()?))
    }

    /// A literal, if the next token is one.
    fn static_value(&mut self) -> Result<Option<Static>, ParseError> {
        let stat = match self.peek() {
            Tok::Str(s) => Static::String(s.clone()),
            Tok::Int(i) => Static::Int(*i),
            Tok::Float(f) => Static::Float(*f),
            Tok::Duration(d) => Static::Duration(*d),
            Tok::Word(w) => match w.as_str() {
                "true" => Static::Bool(true),
                "false" => Static::Bool(false),
                "nil" => Static::Nil,
                "ok" => Static::Status(Status::Ok),
                "error" => Static::Status(Status::Error),
                "unset" => Static::Status(Status::Unset),
                "unspecified" => Static::Kind(Kind::Unspecified),
                "internal" => Static::Kind(Kind::Internal),
                "server" => Static::Kind(Kind::Server),
                "client" => Static::Kind(Kind::Client),
                "producer" => Static::Kind(Kind::Producer),
                "consumer" => Static::Kind(Kind::Consumer),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        self.next();
        Ok(Some(stat))
    }

    fn attribute(&mut self) -> Result<Attribute, ParseError> {
        match self.peek().clone() {
            Tok::Attribute(scope, name) => {
                let scope = match scope.as_str() {
                    "" => AttributeScope::Unscoped,
                    "resource" => AttributeScope::Resource,
                    "span" => AttributeScope::Span,
                    "event" => AttributeScope::Event,
                    "link" => AttributeScope::Link,
                    _ => AttributeScope::Instrumentation,
                };
                self.next();
                Ok(Attribute::Named { scope, name })
            }
            Tok::Word(w) => match Intrinsic::from_name(&w) {
                Some(intrinsic) => {
                    self.next();
                    Ok(Attribute::Intrinsic(intrinsic))
                }
                None => self.error(format!(
                    "unknown intrinsic or literal '{w}' (attributes need a scope: .{w}, span.{w} or resource.{w})"
                )),
            },
            other => self.error(format!("expected a value or an attribute but found {}", other.describe())),
        }
    }

    fn attribute_list(&mut self) -> Result<Vec<Attribute>, ParseError> {
        self.expect(Tok::LParen, "'('")?;
        let mut list = vec![self.attribute()?];
        while self.eat(&Tok::Comma) {
            list.push(self.attribute()?);
        }
        self.expect(Tok::RParen, "')'")?;
        Ok(list)
    }

    /// `name(...) op value`, with `name` the aggregate word under the cursor.
    fn scalar_filter(&mut self, name: &str) -> Result<ScalarFilter, ParseError> {
        self.next();
        let aggregate = match name {
            "count" => Aggregate::Count,
            "avg" => Aggregate::Avg,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            _ => Aggregate::Sum,
        };
        self.expect(Tok::LParen, "'('")?;
        let field = if aggregate == Aggregate::Count { None } else { Some(FieldExpr::Attribute(self.attribute()?)) };
        self.expect(Tok::RParen, "')'")?;
        let Some(op) = compare_op(self.peek()) else {
            return self.error(format!("expected a comparison after {name}() but found {}", self.peek().describe()));
        };
        self.next();
        let at = self.offset();
        match self.static_value()? {
            Some(value @ (Static::Int(_) | Static::Float(_) | Static::Duration(_))) => {
                Ok(ScalarFilter { aggregate, field, op, value })
            }
            _ => Err(ParseError::at(self.text, at, format!("{name}() compares with a number or a duration"))),
        }
    }

    /// `name(...) [by (...)]`, with `name` the function word under the cursor.
    fn metrics_stage(&mut self, name: &str) -> Result<MetricsStage, ParseError> {
        self.next();
        self.expect(Tok::LParen, "'('")?;
        let function = match name {
            "rate" => MetricsFunction::Rate,
            "count_over_time" => MetricsFunction::CountOverTime,
            "histogram_over_time" => MetricsFunction::HistogramOverTime { field: self.attribute()? },
            _ => {
                let field = self.attribute()?;
                let mut quantiles = Vec::new();
                while self.eat(&Tok::Comma) {
                    let at = self.offset();
                    let q = match self.next() {
                        Tok::Float(f) => f,
                        Tok::Int(i) => i as f64,
                        other => {
                            return Err(ParseError::at(
                                self.text,
                                at,
                                format!("expected a quantile but found {}", other.describe()),
                            ));
                        }
                    };
                    if !(0.0..=1.0).contains(&q) {
                        return Err(ParseError::at(self.text, at, format!("quantile {q} is outside [0, 1]")));
                    }
                    quantiles.push(q);
                }
                if quantiles.is_empty() {
                    return self.error("quantile_over_time needs at least one quantile".into());
                }
                MetricsFunction::QuantileOverTime { field, quantiles }
            }
        };
        self.expect(Tok::RParen, "')'")?;
        let by = if self.peek() == &Tok::Word("by".into()) {
            self.next();
            self.attribute_list()?
        } else {
            Vec::new()
        };
        Ok(MetricsStage { function, by })
    }
}

fn compare_op(tok: &Tok) -> Option<CompareOp> {
    Some(match tok {
        Tok::Eq => CompareOp::Eq,
        Tok::Ne => CompareOp::Ne,
        Tok::Gt => CompareOp::Gt,
        Tok::Ge => CompareOp::Ge,
        Tok::Lt => CompareOp::Lt,
        Tok::Le => CompareOp::Le,
        Tok::Regex => CompareOp::Regex,
        Tok::NotRegex => CompareOp::NotRegex,
        _ => return None,
    })
}

/// Whether an expression yields a boolean.
fn is_condition(expr: &FieldExpr) -> bool {
    match expr {
        FieldExpr::Static(Static::Bool(_)) | FieldExpr::Not(_) | FieldExpr::Binary { .. } => true,
        FieldExpr::Static(_) | FieldExpr::Attribute(_) => false,
    }
}

/// The type an operand is known to have, if it is known before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Number,
    Duration,
    Bool,
    Status,
    Kind,
    Nil,
}

fn static_type(expr: &FieldExpr) -> Option<Type> {
    Some(match expr {
        FieldExpr::Static(s) => match s {
            Static::String(_) => Type::String,
            Static::Int(_) | Static::Float(_) => Type::Number,
            Static::Duration(_) => Type::Duration,
            Static::Bool(_) => Type::Bool,
            Static::Nil => Type::Nil,
            Static::Status(_) => Type::Status,
            Static::Kind(_) => Type::Kind,
        },
        FieldExpr::Attribute(Attribute::Intrinsic(i)) => match i {
            Intrinsic::Duration | Intrinsic::TraceDuration => Type::Duration,
            Intrinsic::Status => Type::Status,
            Intrinsic::Kind => Type::Kind,
            _ => Type::String,
        },
        FieldExpr::Attribute(Attribute::Named { .. }) => return None,
        FieldExpr::Not(_) | FieldExpr::Binary { .. } => Type::Bool,
    })
}

fn check_comparison(lhs: &FieldExpr, op: CompareOp, rhs: &FieldExpr) -> Result<(), String> {
    let (l, r) = (static_type(lhs), static_type(rhs));
    if matches!(op, CompareOp::Regex | CompareOp::NotRegex) {
        return match (l, r) {
            (Some(Type::String) | None, Some(Type::String)) => Ok(()),
            _ => Err("=~ and !~ compare a string field with a string regular expression".into()),
        };
    }
    let (Some(l), Some(r)) = (l, r) else { return Ok(()) };
    let ordered = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    let compatible = l == r || l == Type::Nil || r == Type::Nil;
    if !compatible {
        return Err(format!("cannot compare {l:?} with {r:?}").to_lowercase());
    }
    if ordered && matches!(l, Type::Bool | Type::Status | Type::Kind | Type::Nil) {
        return Err(format!("{l:?} values have no order").to_lowercase());
    }
    Ok(())
}
