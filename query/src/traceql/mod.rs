//! TraceQL: the query language of Tempo, parsed into [`ast::Query`].

pub mod ast;
mod eval;
mod lexer;
mod parser;

pub use eval::{
    Compiled, Spanset, Trace, Val, attribute_values, block_may_match, column_verdict, compile, describe, evaluate,
    render,
};
pub use parser::parse;

/// A query that does not parse, with where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {column}: {message}")]
pub struct ParseError {
    /// Byte offset in the query.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(text: &str, offset: usize, message: String) -> ParseError {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError { offset, line, column, message }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod eval_tests;
