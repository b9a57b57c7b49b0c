//! Prometheus's HTTP API over the metrics store: PromQL queries (instant and range, format and
//! parse), series, label names and values, metadata, exemplars, build info and TSDB status, answered in the shapes
//! Prometheus 2.42–3.x gives (`web/api/v1/api.go`) so that Grafana's Prometheus data source
//! works unchanged.
//!
//! - Parameters come from the URL query and, for POST, from a form-encoded body, read as Go's
//!   `r.Form` reads them (`params`). `start` and `end` default to all time.
//! - The tenant is `X-Scope-OrgID` (`anonymous` when absent).
//! - Every answer is Prometheus's envelope (`reply`): `{"status":"success","data":…}` with
//!   `warnings` when a `limit` cut the result, or `{"status":"error","errorType":…,"error":…}`.

mod handlers;
pub(crate) mod params;
mod query;
mod read;
pub(crate) mod reply;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use lookout_storage::metrics::Tsdb;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::promql::Engine;

/// What `/api/v1/status/buildinfo` reports, given by the binary. Prometheus's field names; the
/// toolchain goes where Prometheus puts its Go version.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// Release version, e.g. `0.1.0`.
    pub version: String,
    /// Source revision (commit).
    pub revision: String,
    /// Source branch.
    pub branch: String,
    /// Who built it.
    pub build_user: String,
    /// When it was built.
    pub build_date: String,
    /// The toolchain it was built with (`goVersion` in the JSON), e.g. `rustc 1.95.0`.
    pub go_version: String,
}

/// What the Prometheus API reads.
#[derive(Clone)]
pub struct PrometheusState {
    /// The metrics store.
    pub tsdb: Arc<Tsdb>,
    /// Build information for `/api/v1/status/buildinfo`.
    pub build: BuildInfo,
    /// Whether `/api/v1/admin/…` answers (Prometheus's `--web.enable-admin-api`).
    pub admin_api: bool,
    /// The PromQL engine behind `/api/v1/query` and `/api/v1/query_range`.
    pub engine: Arc<Engine>,
    /// Queries allowed to run at once (`--query.max-concurrency`); the others wait.
    pub queries: Arc<Semaphore>,
}

/// The Prometheus API routes under `/api/v1`; the query endpoints take GET and POST.
pub fn router(state: PrometheusState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query::query).post(query::query))
        .route("/api/v1/query_range", get(query::query_range).post(query::query_range))
        .route("/api/v1/format_query", get(query::format_query).post(query::format_query))
        .route("/api/v1/parse_query", get(query::parse_query).post(query::parse_query))
        .route("/api/v1/series", get(handlers::series).post(handlers::series))
        .route("/api/v1/labels", get(handlers::labels).post(handlers::labels))
        .route("/api/v1/label/{name}/values", get(handlers::label_values).post(handlers::label_values))
        .route("/api/v1/metadata", get(handlers::metadata).post(handlers::metadata))
        .route("/api/v1/query_exemplars", get(handlers::query_exemplars).post(handlers::query_exemplars))
        .route("/api/v1/status/buildinfo", get(handlers::buildinfo))
        .route("/api/v1/status/tsdb", get(handlers::tsdb_status))
        .route("/api/v1/admin/tsdb/snapshot", post(handlers::snapshot).put(handlers::snapshot))
        .with_state(state)
}

#[cfg(test)]
mod tests;
