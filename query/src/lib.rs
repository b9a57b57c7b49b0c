//! Lookout's query side: PromQL, LogQL and TraceQL engines and the Prometheus, Loki and Tempo
//! HTTP APIs, reading the stores through storage.
//!
//! # Layout
//! - `remote_read`: Prometheus remote read, raw samples from the metrics store.
//! - `tempo`: Tempo's HTTP API (echo, build info, trace by id) over the span store.
//! - `traceql`: the TraceQL parser. Search with it comes next.

pub mod remote_read;
pub mod tempo;
pub mod traceql;

pub use tempo::{TempoState, router as tempo_router};
