//! Pulling metrics the way Prometheus does: the pure parts, with no networking.
//!
//! # Layout
//! - `config`: the `scrape_configs` section in Prometheus's YAML, and the targets it names,
//!   labelled as Prometheus labels them.
//! - `relabel`: `relabel_config` rules, for targets (`relabel_configs`) and for scraped samples
//!   (`metric_relabel_configs`).
//! - `parse`: a scraped body (Prometheus text 0.0.4 or OpenMetrics 1.0) → samples and metadata.
//! - `error`: what a body that does not parse and a configuration that does not load report.
//!
//! A scrape loop (elsewhere) takes each [`Target`] from [`targets`], fetches `Target::url` with
//! [`ACCEPT_HEADER`], [`parse`]s the body, passes each sample's labels through
//! [`merge_sample_labels`] and then [`relabel::process`] with the job's
//! `metric_relabel_configs`, and appends what is kept.

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
    GlobalConfig, PrometheusConfig, Scheme, ScrapeConfig, StaticConfig, Target, merge_sample_labels, targets,
};
pub use error::{ConfigError, ParseError};
pub use manager::{Health, ScrapeManager, ScrapeOptions, ScrapeStatus, TargetHealth};
pub use parse::{ACCEPT_HEADER, Exposition, Format, ParseOptions, ScrapedSample, parse, parse_with};
pub use relabel::{Action, Regex, RelabelConfig};
