//! Dashboards: the JSON model (`model`), the import of Grafana dashboards (`grafana`), where
//! they come from and where the UI saves them (`store`), and the HTTP API (`api`).
//!
//! Sources merge by uid, a later one winning: Lookout's own dashboard and the others compiled in,
//! then the `*.json` files of the provisioning folders (read again on every call, so a changed
//! file shows without a restart), then dashboards saved from the UI under `store_dir`. The model
//! is described in `ui/docs/dashboard-model.md`.
use std::path::PathBuf;
use std::sync::Arc;

use crate::Result;

mod api;
mod grafana;
mod model;
mod store;
#[cfg(test)]
mod tests;

/// A dashboard compiled into the binary: a Lookout dashboard or a Grafana dashboard JSON.
#[derive(Debug, Clone)]
pub struct BuiltinDashboard {
    /// A file name for messages, such as `gateway.json`.
    pub file_name: &'static str,
    /// The JSON text.
    pub json: &'static str,
}

/// Where dashboards come from and where the UI saves them.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    /// Folders of provisioned dashboards (`--dashboards.path`), read again on every listing.
    pub provision_paths: Vec<PathBuf>,
    /// Where dashboards saved from the UI are kept (`<data>/dashboards`).
    pub store_dir: PathBuf,
    /// Dashboards compiled into the binary besides Lookout's own.
    pub builtin: Vec<BuiltinDashboard>,
}

/// Lookout's own dashboard: ingest, storage, the write-ahead log and rules, from its own metrics.
const LOOKOUT_DASHBOARD: BuiltinDashboard =
    BuiltinDashboard { file_name: "lookout.json", json: include_str!("../../dashboards/lookout.json") };

/// One service's RED, operations, latency, logs and traces; the service map links to it.
const SERVICE_DASHBOARD: BuiltinDashboard =
    BuiltinDashboard { file_name: "service.json", json: include_str!("../../dashboards/service.json") };

/// The dashboard API routes.
pub fn router(options: DashboardOptions) -> Result<axum::Router> {
    let store = store::Store::new(options, &[LOOKOUT_DASHBOARD, SERVICE_DASHBOARD])?;
    Ok(api::routes(Arc::new(store)))
}
