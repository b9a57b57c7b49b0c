//! LogQL front end: lexer, AST, parser and canonical printer, compatible with Grafana Loki 3.

// The full API stays, with the helpers its own tests use; the engine uses part of it.
#![cfg_attr(not(test), allow(dead_code))]

mod ast;
mod compat;
mod lexer;
mod parser;
mod pipeline;
mod print;
#[cfg(test)]
mod tests;

pub use ast::*;
pub use parser::{ParseError, parse_expr};
pub use print::pretty;
