//! Parsing of stream selectors, log pipelines, label filters and log ranges.

use super::ast::{
    CmpOp, LabelExtraction, LabelFilter, LabelFmt, LineFilter, LineFilterOp, LineFilterValue, LogExpr, LogRange,
    MatchOp, Matcher, NamedMatcher, Nanos, RegexpParser, Stage, Unwrap, UnwrapConv,
};
use super::compat::{Anchor, compile_regex};
use super::lexer::{Func, Kw, Tok};
use super::parser::{ERR_EMPTY_MATCHERS, ParseError, Parser, parse_go_float};

fn match_op(k: Kw) -> Option<MatchOp> {
    Some(match k {
        Kw::Eq => MatchOp::Equal,
        Kw::Neq => MatchOp::NotEqual,
        Kw::Re => MatchOp::Regex,
        Kw::Nre => MatchOp::NotRegex,
        _ => return None,
    })
}

fn line_filter_op(k: Kw) -> Option<LineFilterOp> {
    Some(match k {
        Kw::PipeExact => LineFilterOp::Contains,
        Kw::Neq => LineFilterOp::NotContains,
        Kw::PipeMatch => LineFilterOp::Regex,
        Kw::Nre => LineFilterOp::NotRegex,
        Kw::PipePattern => LineFilterOp::Pattern,
        Kw::Npa => LineFilterOp::NotPattern,
        _ => return None,
    })
}

fn is_legacy_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Validates a `| regexp` expression like Loki's `NewRegexpParser`.
fn regexp_parser(pattern: String) -> Result<RegexpParser, String> {
    let regex = compile_regex(&pattern, Anchor::None)?;
    let missing = "at least one named capture must be supplied".to_string();
    if regex.captures_len() <= 1 {
        return Err(missing);
    }
    let mut seen: Vec<&str> = Vec::new();
    for name in regex.capture_names().flatten() {
        if !is_legacy_label_name(name) {
            return Err(format!("invalid extracted label name '{name}'"));
        }
        if seen.contains(&name) {
            return Err(format!("duplicate extracted label name '{name}'"));
        }
        seen.push(name);
    }
    if seen.is_empty() {
        return Err(missing);
    }
    drop(seen);
    Ok(RegexpParser { pattern, regex })
}

/// Validates a `| pattern` expression like Loki's `pattern.New` (including its pairwise consecutive-capture check).
pub fn validate_pattern(p: &str) -> Result<(), String> {
    #[derive(PartialEq)]
    enum Node {
        Lit,
        Cap(String),
    }
    let chars: Vec<char> = p.chars().collect();
    let mut nodes: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '<' && chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') {
            let mut j = i + 2;
            while chars.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                j += 1;
            }
            if chars.get(j) == Some(&'>') {
                nodes.push(Node::Cap(chars[i + 1..j].iter().collect()));
                i = j + 1;
                continue;
            }
        }
        if nodes.last() != Some(&Node::Lit) {
            nodes.push(Node::Lit);
        }
        i += 1;
    }
    let names: Vec<&str> = nodes
        .iter()
        .filter_map(|n| match n {
            Node::Cap(c) if c != "_" => Some(c.as_str()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err("at least one capture is required".into());
    }
    let mut k = 0;
    while k + 1 < nodes.len() {
        if matches!(nodes[k], Node::Cap(_)) && matches!(nodes[k + 1], Node::Cap(_)) {
            return Err("found consecutive capture: invalid expression".into());
        }
        k += 2;
    }
    for (idx, n) in names.iter().enumerate() {
        if names[..idx].contains(n) {
            return Err(format!("duplicate capture name ({n}): invalid expression"));
        }
    }
    Ok(())
}

impl Parser {
    /// Parses `{...}` followed by pipeline stages; `in_range` lets a trailing `| unwrap` end the pipeline.
    pub(super) fn parse_log_expr(&mut self, in_range: bool) -> Result<LogExpr, ParseError> {
        let matchers = self.parse_selector()?;
        let stages = self.parse_pipeline(in_range)?;
        Ok(LogExpr { matchers, stages })
    }

    fn parse_selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        let start = self.pos;
        self.expect_kw(Kw::LBrace, Some("{"))?;
        let mut ms = Vec::new();
        if !self.eat_kw(Kw::RBrace) {
            loop {
                let name = self.expect_ident(Some(if ms.is_empty() { "IDENTIFIER or }" } else { "IDENTIFIER" }))?;
                let op = match self.cur() {
                    Tok::Kw(k) => match_op(*k),
                    _ => None,
                };
                let Some(op) = op else {
                    return Err(self.unexpected_exp("= or =~ or !~ or !="));
                };
                self.pos += 1;
                let value = self.expect_str("STRING")?;
                ms.push(Matcher::new(name, op, value).map_err(ParseError::plain)?);
                if self.eat_kw(Kw::RBrace) {
                    break;
                }
                self.expect_kw(Kw::Comma, Some("} or ,"))?;
            }
        }
        if ms.iter().all(|m| m.matches("")) {
            self.defer(start, ERR_EMPTY_MATCHERS.into());
        }
        Ok(ms)
    }

    fn at_pipe_unwrap(&self) -> bool {
        self.at_kw(Kw::Pipe) && self.peek_is_kw(1, Kw::Unwrap)
    }

    fn parse_pipeline(&mut self, in_range: bool) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        loop {
            match self.cur() {
                Tok::Kw(k) if line_filter_op(*k).is_some() => self.parse_line_filter(&mut stages)?,
                Tok::Kw(Kw::Pipe) => {
                    if self.peek_is_kw(1, Kw::Unwrap) {
                        if in_range {
                            break;
                        }
                        self.pos += 1;
                        return Err(self.unexpected());
                    }
                    self.pos += 1;
                    let stage = self.parse_stage()?;
                    stages.push(stage);
                }
                _ => break,
            }
        }
        Ok(stages)
    }

    fn parse_line_filter(&mut self, stages: &mut Vec<Stage>) -> Result<(), ParseError> {
        let op = match self.cur() {
            Tok::Kw(k) => line_filter_op(*k),
            _ => None,
        };
        let Some(op) = op else { return Err(self.unexpected()) };
        self.pos += 1;
        let mut values = vec![self.parse_line_filter_value(op)?];
        while self.eat_kw(Kw::Or) {
            values.push(self.parse_line_filter_value(op)?);
        }
        if op.is_negated() {
            stages.extend(values.into_iter().map(|v| Stage::LineFilter(LineFilter { op, values: vec![v] })));
        } else {
            stages.push(Stage::LineFilter(LineFilter { op, values }));
        }
        Ok(())
    }

    fn parse_line_filter_value(&mut self, op: LineFilterOp) -> Result<LineFilterValue, ParseError> {
        let start = self.pos;
        match self.cur().clone() {
            Tok::Str(value) => {
                self.pos += 1;
                let mut regex = None;
                if matches!(op, LineFilterOp::Regex | LineFilterOp::NotRegex) {
                    match compile_regex(&value, Anchor::None) {
                        Ok(r) => regex = Some(r),
                        Err(e) => self.defer(start, format!("stage '{} {value:?}' : {e}", op.as_str())),
                    }
                }
                Ok(LineFilterValue { value, ip: false, regex })
            }
            Tok::Func(Func::Ip) => {
                self.pos += 1;
                self.expect_kw(Kw::LParen, Some("("))?;
                let value = self.expect_str("STRING")?;
                self.expect_kw(Kw::RParen, Some(")"))?;
                Ok(LineFilterValue { value, ip: true, regex: None })
            }
            _ => Err(self.unexpected_exp("STRING or ip")),
        }
    }

    fn parse_stage(&mut self) -> Result<Stage, ParseError> {
        let tok = self.cur().clone();
        if matches!(tok, Tok::Ident(_) | Tok::Kw(Kw::LParen)) {
            return Ok(Stage::LabelFilter(*self.parse_label_filter(0)?));
        }
        let Tok::Kw(k) = tok else { return Err(self.unexpected()) };
        self.pos += 1;
        Ok(match k {
            Kw::Json => {
                let params = if matches!(self.cur(), Tok::Ident(_)) { self.parse_extractions()? } else { Vec::new() };
                Stage::Json(params)
            }
            Kw::Logfmt => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.cur() {
                    if f == "--strict" {
                        strict = true;
                    } else {
                        keep_empty = true;
                    }
                    self.pos += 1;
                }
                let params = if matches!(self.cur(), Tok::Ident(_)) { self.parse_extractions()? } else { Vec::new() };
                Stage::Logfmt { strict, keep_empty, params }
            }
            Kw::Regexp => {
                let re = self.expect_str("STRING")?;
                Stage::Regexp(regexp_parser(re).map_err(|e| ParseError::plain(format!("invalid regexp parser: {e}")))?)
            }
            Kw::Pattern => {
                let p = self.expect_str("STRING")?;
                validate_pattern(&p).map_err(|e| ParseError::plain(format!("invalid pattern parser: {e}")))?;
                Stage::Pattern(p)
            }
            Kw::Unpack => Stage::Unpack,
            Kw::LineFormat => Stage::LineFormat(self.expect_str("STRING")?),
            Kw::Decolorize => Stage::Decolorize,
            Kw::LabelFormat => {
                let mut out = Vec::new();
                loop {
                    let name = self.expect_ident(Some("IDENTIFIER"))?;
                    self.expect_kw(Kw::Eq, Some("="))?;
                    let (value, rename) = match self.cur().clone() {
                        Tok::Ident(v) => (v, true),
                        Tok::Str(v) => (v, false),
                        _ => return Err(self.unexpected_exp("IDENTIFIER or STRING")),
                    };
                    self.pos += 1;
                    out.push(LabelFmt { name, value, rename });
                    if !self.eat_kw(Kw::Comma) {
                        break Stage::LabelFormat(out);
                    }
                }
            }
            Kw::Drop | Kw::Keep => {
                let mut out = Vec::new();
                loop {
                    let name = self.expect_ident(Some("IDENTIFIER"))?;
                    let op = match self.cur() {
                        Tok::Kw(k) => match_op(*k),
                        _ => None,
                    };
                    if let Some(op) = op {
                        self.pos += 1;
                        let v = self.expect_str("STRING")?;
                        out.push(NamedMatcher::Matcher(Matcher::new(name, op, v).map_err(ParseError::plain)?));
                    } else {
                        out.push(NamedMatcher::Name(name));
                    }
                    if !self.eat_kw(Kw::Comma) {
                        break;
                    }
                }
                if k == Kw::Drop { Stage::Drop(out) } else { Stage::Keep(out) }
            }
            _ => {
                self.pos -= 1;
                return Err(self.unexpected());
            }
        })
    }

    fn parse_extractions(&mut self) -> Result<Vec<LabelExtraction>, ParseError> {
        let mut out = Vec::new();
        loop {
            let label = self.expect_ident(Some("IDENTIFIER"))?;
            let expression = if self.eat_kw(Kw::Eq) { self.expect_str("STRING")? } else { label.clone() };
            out.push(LabelExtraction { label, expression });
            if !self.eat_kw(Kw::Comma) {
                return Ok(out);
            }
        }
    }

    fn at_label_filter_start(&self) -> bool {
        matches!(self.cur(), Tok::Ident(_) | Tok::Kw(Kw::LParen))
    }

    /// Label filter expression. `and` binds tighter than `or`; `,` and juxtaposition
    /// join the preceding filter with everything that follows (goyacc shifts them).
    pub(super) fn parse_label_filter(&mut self, min_prec: u8) -> Result<Box<LabelFilter>, ParseError> {
        self.enter()?;
        let base = self.depth();
        let mut lhs = self.parse_label_filter_primary()?;
        if self.at_kw(Kw::Comma) || self.at_label_filter_start() {
            self.eat_kw(Kw::Comma);
            let rhs = self.parse_label_filter(0)?;
            lhs = Box::new(LabelFilter::And(lhs, rhs));
        }
        loop {
            let (prec, is_and) = match self.cur() {
                Tok::Kw(Kw::Or) => (1, false),
                Tok::Kw(Kw::And) => (2, true),
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            let rhs = self.parse_label_filter(prec + 1)?;
            lhs = Box::new(if is_and { LabelFilter::And(lhs, rhs) } else { LabelFilter::Or(lhs, rhs) });
            self.enter()?;
        }
        self.set_depth(base);
        self.leave();
        Ok(lhs)
    }

    fn parse_label_filter_primary(&mut self) -> Result<Box<LabelFilter>, ParseError> {
        match self.cur() {
            Tok::Kw(Kw::LParen) => {
                self.pos += 1;
                let f = self.parse_label_filter(0)?;
                self.expect_kw(Kw::RParen, None)?;
                Ok(f)
            }
            Tok::Ident(_) => self.parse_label_filter_leaf().map(Box::new),
            _ => Err(self.unexpected()),
        }
    }

    fn parse_label_filter_leaf(&mut self) -> Result<LabelFilter, ParseError> {
        let name = self.expect_ident(None)?;
        let Tok::Kw(k) = *self.cur() else { return Err(self.unexpected()) };
        let cmp = match k {
            Kw::Eq | Kw::CmpEq => Some(CmpOp::Eq),
            Kw::Neq => Some(CmpOp::Neq),
            Kw::Gt => Some(CmpOp::Gt),
            Kw::Gte => Some(CmpOp::Gte),
            Kw::Lt => Some(CmpOp::Lt),
            Kw::Lte => Some(CmpOp::Lte),
            Kw::Re | Kw::Nre => None,
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        if let Some(op) = match_op(k) {
            if let Tok::Str(v) = self.cur().clone() {
                self.pos += 1;
                return Ok(LabelFilter::Matcher(Matcher::new(name, op, v).map_err(ParseError::plain)?));
            }
            if matches!(op, MatchOp::Regex | MatchOp::NotRegex) {
                return Err(self.unexpected_exp("STRING"));
            }
            if matches!(self.cur(), Tok::Func(Func::Ip)) {
                self.pos += 1;
                self.expect_kw(Kw::LParen, Some("("))?;
                let pattern = self.expect_str("STRING")?;
                self.expect_kw(Kw::RParen, Some(")"))?;
                return Ok(LabelFilter::Ip { name, negated: op == MatchOp::NotEqual, pattern });
            }
        }
        let Some(op) = cmp else { return Err(self.unexpected()) };
        match self.cur().clone() {
            Tok::Duration(value) => {
                self.pos += 1;
                Ok(LabelFilter::Duration { name, op, value })
            }
            Tok::Bytes(value) => {
                self.pos += 1;
                Ok(LabelFilter::Bytes { name, op, value })
            }
            Tok::Number(t) => {
                self.pos += 1;
                Ok(LabelFilter::Number { name, op, value: lossy_float(&t) })
            }
            Tok::Kw(s @ (Kw::Add | Kw::Sub)) => {
                self.pos += 1;
                let Tok::Number(t) = self.cur().clone() else { return Err(self.unexpected_exp("NUMBER")) };
                self.pos += 1;
                let v = lossy_float(&t);
                Ok(LabelFilter::Number { name, op, value: if s == Kw::Sub { -v } else { v } })
            }
            _ => Err(self.unexpected()),
        }
    }

    /// Parses a log range (all the placements Loki's grammar allows for the range, offset, pipeline and unwrap).
    pub(super) fn parse_log_range(&mut self) -> Result<LogRange, ParseError> {
        self.enter()?;
        let r = if self.eat_kw(Kw::LParen) {
            if self.at_kw(Kw::LParen) {
                let inner = self.parse_log_range()?;
                self.expect_kw(Kw::RParen, None)?;
                inner
            } else {
                self.parse_paren_range_body()?
            }
        } else if self.at_kw(Kw::LBrace) {
            let (log, unwrap) = self.parse_range_prefix()?;
            self.parse_range_tail(log, unwrap)?
        } else {
            return Err(self.unexpected());
        };
        self.leave();
        Ok(r)
    }

    /// After `(`: `( selector [pipeline] [unwrap] ) range [offset]` or `( log-range )`.
    fn parse_paren_range_body(&mut self) -> Result<LogRange, ParseError> {
        if !self.at_kw(Kw::LBrace) {
            return Err(self.unexpected());
        }
        let (log, unwrap) = self.parse_range_prefix()?;
        if self.eat_kw(Kw::RParen) {
            let interval = self.expect_range()?;
            let offset = self.parse_offset()?;
            return Ok(LogRange { log, interval, offset, unwrap });
        }
        let r = self.parse_range_tail(log, unwrap)?;
        self.expect_kw(Kw::RParen, None)?;
        Ok(r)
    }

    fn parse_range_prefix(&mut self) -> Result<(LogExpr, Option<Unwrap>), ParseError> {
        let log = self.parse_log_expr(true)?;
        let unwrap = if self.at_pipe_unwrap() { Some(self.parse_unwrap()?) } else { None };
        Ok((log, unwrap))
    }

    fn parse_range_tail(&mut self, mut log: LogExpr, mut unwrap: Option<Unwrap>) -> Result<LogRange, ParseError> {
        let interval = self.expect_range()?;
        let offset = self.parse_offset()?;
        if log.stages.is_empty() && unwrap.is_none() {
            log.stages = self.parse_pipeline(true)?;
            if self.at_pipe_unwrap() {
                unwrap = Some(self.parse_unwrap()?);
            }
        }
        Ok(LogRange { log, interval, offset, unwrap })
    }

    fn expect_range(&mut self) -> Result<std::time::Duration, ParseError> {
        if let Tok::Range(d) = self.cur() {
            let d = *d;
            self.pos += 1;
            return Ok(d);
        }
        Err(self.unexpected())
    }

    fn parse_offset(&mut self) -> Result<Nanos, ParseError> {
        if !self.eat_kw(Kw::Offset) {
            return Ok(0);
        }
        if let Tok::Duration(d) = self.cur() {
            let d = *d;
            self.pos += 1;
            return Ok(d);
        }
        Err(self.unexpected_exp("DURATION"))
    }

    fn parse_unwrap(&mut self) -> Result<Unwrap, ParseError> {
        self.pos += 2;
        let (label, conv) = match self.cur().clone() {
            Tok::Ident(l) => {
                self.pos += 1;
                (l, None)
            }
            Tok::Func(f @ (Func::BytesConv | Func::DurationConv | Func::DurationSecondsConv)) => {
                self.pos += 1;
                self.expect_kw(Kw::LParen, Some("("))?;
                let l = self.expect_ident(Some("IDENTIFIER"))?;
                self.expect_kw(Kw::RParen, Some(")"))?;
                let conv = match f {
                    Func::BytesConv => UnwrapConv::Bytes,
                    Func::DurationConv => UnwrapConv::Duration,
                    _ => UnwrapConv::DurationSeconds,
                };
                (l, Some(conv))
            }
            _ => return Err(self.unexpected()),
        };
        let mut post_filters = Vec::new();
        while self.eat_kw(Kw::Pipe) {
            post_filters.push(*self.parse_label_filter(0)?);
        }
        Ok(Unwrap { label, conv, post_filters })
    }
}

/// Loki reads label-filter numbers with errors ignored (0 on syntax errors).
fn lossy_float(t: &str) -> f64 {
    match parse_go_float(t) {
        Ok(v) => v,
        Err(_) if t.parse::<f64>().is_ok_and(f64::is_infinite) => f64::INFINITY,
        Err(_) => 0.0,
    }
}
