//! LogQL: the parser (`syntax`), the per-line stages (`stages`), pipelines built from them
//! (`pipeline`), range aggregations (`range`), the bridge that lets the PromQL engine evaluate
//! what LogQL shares with PromQL (`bridge`), and the engine that runs queries over the log
//! store (`engine`).

mod bridge;
mod engine;
mod error;
mod fields;
mod pipeline;
mod range;
mod stages;
mod syntax;
#[cfg(test)]
mod tests;

pub use engine::{
    LogqlEngine, LogqlOptions, LogqlOutput, LogqlQuery, LogqlStats, LogqlValue, ResultEntry, ResultStream,
};
pub use error::LogqlError;
pub use fields::{DetectedField, detected_fields};
pub use syntax::{Expr, Matcher, ParseError, parse_expr};

/// The canonical (pretty) form of a query, as `/loki/api/v1/format_query` returns it.
pub fn format_query(query: &str) -> Result<String, String> {
    let expr = parse_expr(query).map_err(|e| e.to_string())?;
    Ok(syntax::pretty(&expr))
}

/// The matcher sets of every stream selector in `query` (a selector or any LogQL query).
pub fn selector_matchers(query: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let expr = parse_expr(query).map_err(|e| e.to_string())?;
    Ok(expr.log_selectors().into_iter().map(|l| l.matchers.clone()).collect())
}

/// Checks that `query` is a metric query (what a LogQL rule evaluates).
pub fn parse_metric_query(query: &str) -> Result<(), String> {
    match parse_expr(query).map_err(|e| e.to_string())? {
        Expr::Sample(_) => Ok(()),
        Expr::Log(_) => {
            Err("a log query cannot be a rule: rules need a metric query such as count_over_time(...)".into())
        }
    }
}

/// Checks that `query` is a log query (not a metric query).
pub fn parse_log_query(query: &str) -> Result<(), String> {
    match parse_expr(query).map_err(|e| e.to_string())? {
        Expr::Log(_) => Ok(()),
        Expr::Sample(_) => Err("only log queries can be tailed".into()),
    }
}
