//! Lookout's web UI: the pages and the dashboards behind them, served on :3000.
//!
//! # Layout
//! - `assets`: the static pages (plain ES modules, vendored preact, htm and uPlot) compiled into
//!   the binary from `ui/assets/`, served gzip-compressed to browsers that accept it. The pages
//!   talk to Lookout's own query APIs over HTTP, like any client.
//! - `dashboards`: the JSON dashboard model, dashboards built in, provisioned from a folder or
//!   saved from the UI, and the import of Grafana dashboards, under `/ui/api/dashboards`.

mod assets;
mod dashboards;
mod error;

pub use dashboards::{BuiltinDashboard, DashboardOptions};
pub use error::{Error, Result};

/// What the UI needs from the binary.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Where dashboards come from and where saved ones go.
    pub dashboards: DashboardOptions,
}

/// The UI's routes: the pages at `/` and the dashboard API under `/ui/api/dashboards`.
pub fn router(options: UiOptions) -> Result<axum::Router> {
    Ok(assets::router().merge(dashboards::router(options.dashboards)?))
}
