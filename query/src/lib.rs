//! Lookout's query side: PromQL, LogQL and TraceQL engines and the Prometheus, Loki and Tempo
//! HTTP APIs, reading the stores through storage.
//!
//! # Layout
//! - `gotemplate`: Go's `text/template` engine, shared by LogQL's `line_format`/`label_format` and
//!   Prometheus's alert templates (expanded for the rules crate).
//! - `promql`: the PromQL engine, reading the metrics store through its `Querier` trait.
//! - `prometheus`: Prometheus's HTTP API (queries, series, labels, metadata, exemplars, build
//!   info, TSDB status) over the metrics store.
//! - `remote_read`: Prometheus remote read, raw samples from the metrics store.
//! - `tempo`: Tempo's HTTP API (echo, build info, trace by id) over the span store.
//! - `traceql`: the TraceQL parser. Search with it comes next.

pub mod gotemplate;
pub mod logql;
pub mod loki;
pub mod prometheus;
pub mod promql;
pub mod remote_read;
pub mod tempo;
pub mod traceql;

pub use prometheus::{BuildInfo, PrometheusState, router as prometheus_router};
pub use tempo::{TempoState, router as tempo_router};
