//! The PromQL engine: parses with `promql-parser`, evaluates over a [`Querier`].
//!
//! # Layout
//! - `value`: what a query returns (scalar, string, instant vector, matrix) and annotations.
//! - `eval`: the evaluator. Every expression is evaluated over all steps of the query at once
//!   (an instant query is a range query of one step), as Prometheus's engine does; lookback,
//!   staleness, `offset` and `@` rules are written down beside it.
//! - `functions`, `aggregate`, `binary`: functions, aggregation operators and binary operators
//!   on one step's instant vectors, and the range-vector functions.
//!
//! The engine reads only through [`Querier`], so the tests run it over in-memory series.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod histogram;
mod info;
pub mod notation;
mod syntax;
mod value;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use lookout_storage::Tenant;
use lookout_storage::metrics::Querier;

pub use value::{Annotations, QueryOutput, Series, Value, VecSample};

/// Engine settings, with Prometheus's defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (ms); `--query.lookback-delta`.
    pub lookback_delta: i64,
    /// Most samples a query may hold in memory at once; `--query.max-samples`.
    pub max_samples: usize,
    /// Longest a query may run; `--query.timeout`.
    pub timeout: Duration,
    /// Whether experimental functions (`limitk`, `sort_by_label`, `mad_over_time`, …) are on.
    pub experimental_functions: bool,
    /// Step of a subquery written without one (`x[5m:]`), in ms: Prometheus's global
    /// evaluation interval.
    pub default_subquery_step: i64,
    /// When set (by whoever asked, e.g. a client that went away), the engine's running
    /// queries stop with [`QueryError::Canceled`].
    pub canceled: Option<Arc<AtomicBool>>,
    /// Longest `end - start` of a range query through the HTTP API (ms); 0 is no limit;
    /// `query.max_range`.
    pub max_range: i64,
    /// Most distinct series one query may read from storage (Mimir's
    /// `max_fetched_series_per_query`); 0 is no limit; `query.max_series`.
    pub max_series: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            experimental_functions: false,
            default_subquery_step: 60 * 1000,
            canceled: None,
            max_range: 0,
            max_series: 0,
        }
    }
}

/// Why a query failed; each kind maps to one Prometheus `errorType`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query or a parameter is malformed (`bad_data`, 400).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (`execution`, 422).
    #[error("{0}")]
    Execution(String),
    /// The query ran past its timeout (`timeout`, 503).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was canceled (`canceled`, 499).
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
}

/// The PromQL engine.
#[derive(Debug, Clone)]
pub struct Engine {
    options: EngineOptions,
}

impl Engine {
    /// An engine with these settings.
    pub fn new(options: EngineOptions) -> Engine {
        register_functions();
        Engine { options }
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `query` at `time` (ms since the epoch).
    pub fn instant(
        &self,
        querier: &dyn Querier,
        tenant: &Tenant,
        query: &str,
        time: i64,
    ) -> Result<QueryOutput, QueryError> {
        let expr = self.parse(query)?;
        eval::run(&self.options, querier, tenant, &expr, time, time, 0, false)
    }

    /// Evaluates `query` at `start`, `start + step`, … up to `end` (ms); the result is a matrix.
    pub fn range(
        &self,
        querier: &dyn Querier,
        tenant: &Tenant,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        let expr = self.parse(query)?;
        eval::run(&self.options, querier, tenant, &expr, start, end, step, true)
    }

    /// Parses `query` and checks what the parser leaves to the engine (experimental functions).
    pub fn parse(&self, query: &str) -> Result<promql_parser::parser::Expr, QueryError> {
        let expr = parse(query)?;
        eval::check(&self.options, &expr)?;
        Ok(expr)
    }
}

/// Teaches the parser `holt_winters`, Prometheus 2's name for `double_exponential_smoothing`,
/// so that rules and dashboards written for Prometheus 2 keep working.
fn register_functions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use promql_parser::parser::Function;
        use promql_parser::parser::value::ValueType;
        let holt_winters = Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        // Only fails when the name is built in, which it is not in this parser version.
        let _ = promql_parser::parser::register_extra_functions(vec![holt_winters]);
    });
}

/// promql-parser's `parse`, with its panics turned into parse errors: it panics on some input
/// (a duration too large for `std::time::Duration`, found by `fuzz/`'s `queries` target), and a
/// query is a client's input.
pub fn parse_expr(text: &str) -> Result<promql_parser::parser::Expr, String> {
    std::panic::catch_unwind(|| promql_parser::parser::parse(text)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(if detail.contains("Duration") {
            "parse error: a duration in the query is too large".to_owned()
        } else {
            "parse error: the query could not be parsed".to_owned()
        })
    })
}

/// Parses a query; a syntax error says where it is, as Prometheus's do (`1:5: parse error: …`).
pub fn parse(query: &str) -> Result<promql_parser::parser::Expr, QueryError> {
    register_functions();
    let text = syntax::go_byte_escapes(query);
    parse_expr(&text).or_else(|e| {
        // `info()`'s label selector may match the empty string, which the parser refuses.
        let marked = (e == "vector selector must contain at least one non-empty matcher")
            .then(|| syntax::mark_info_selectors(&text))
            .flatten();
        marked.and_then(|q| parse_expr(&q).ok()).ok_or_else(|| QueryError::BadData(syntax::describe(&text, &e)))
    })
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineOptions::default())
    }
}

#[cfg(test)]
mod tests;
