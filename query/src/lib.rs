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
pub mod limits;
pub mod logql;
pub mod loki;
pub mod prometheus;
pub mod promql;
pub mod remote_read;
pub mod tempo;
pub mod traceql;

pub use prometheus::{BuildInfo, PrometheusState, router as prometheus_router};
pub use tempo::{TempoState, router as tempo_router};

/// A duration in ms as Go's `time.Duration` prints it (`744h0m0s`, `1.5s`), as Loki's and
/// Mimir's limit messages show query lengths.
pub(crate) fn format_duration_ms(ms: i64) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let seconds = if rest % 1000 == 0 { format!("{}", rest / 1000) } else { format!("{}", rest as f64 / 1000.0) };
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{m}m{seconds}s"),
        _ => format!("{h}h{m}m{seconds}s"),
    }
}

#[cfg(test)]
mod duration_tests {
    #[test]
    fn durations_print_as_go_prints_them() {
        assert_eq!(super::format_duration_ms(744 * 3_600_000), "744h0m0s");
        assert_eq!(super::format_duration_ms(90_500), "1m30.5s");
        assert_eq!(super::format_duration_ms(2000), "2s");
    }
}
