//! Lookout's query side: PromQL, LogQL and TraceQL engines and the Prometheus, Loki and Tempo
//! HTTP APIs, reading the stores through storage's querier traits.
//!
//! # Layout
//! - `traceql`: the TraceQL parser (issue 3). Its evaluator waits for the span store.
//!
//! Nothing here answers a query yet, and the binary serves no query API.

pub mod traceql;
