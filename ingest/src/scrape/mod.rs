//! Pulling metrics the way Prometheus does: `scrape_configs`, targets, the scrape loops and
//! `/api/v1/targets`.
//!
//! # Layout
//! - `config`: the `scrape_configs` section in Prometheus's YAML, and the targets it names,
//!   labelled as Prometheus labels them.
//! - `relabel`: `relabel_config` rules, for targets (`relabel_configs`) and for scraped samples
//!   (`metric_relabel_configs`).
//! - `parse`: a scraped body (Prometheus text 0.0.4 or OpenMetrics 1.0) → samples and metadata.
//! - `fetch`: the HTTP GET of one scrape (headers, timeout, gzip, size cap).
//! - `append`: a parsed scrape → labelled samples, limits, report series, staleness markers.
//! - `manager`: one loop per target, started and stopped together; target health.
//! - `api`: `/api/v1/targets`.
//! - `error`: what a body that does not parse and a configuration that does not load report.
//!
//! Each loop takes its [`Target`] from [`targets`], fetches `Target::url` with
//! [`ACCEPT_HEADER`], [`parse`]s the body, passes each sample's labels through
//! [`merge_sample_labels`] and then [`relabel::process`] with the job's
//! `metric_relabel_configs`, and writes what is kept through the ingester's WAL.

mod api;
mod append;
mod config;
mod duration;
mod error;
mod fetch;
mod manager;
#[cfg(test)]
mod manager_tests;
mod parse;
pub mod relabel;

pub use api::router as targets_router;
pub use config::{
    GlobalConfig, PrometheusConfig, Scheme, ScrapeConfig, StaticConfig, Target, TlsConfig, merge_sample_labels, targets,
};
pub use error::{ConfigError, ParseError};
pub use manager::{Health, ScrapeManager, ScrapeOptions, ScrapeStatus, TargetHealth};
pub use parse::{ACCEPT_HEADER, Exposition, Format, ParseOptions, ScrapedSample, parse, parse_with};
pub use relabel::{Action, Regex, RelabelConfig};
