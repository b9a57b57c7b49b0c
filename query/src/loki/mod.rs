//! Loki's HTTP API over the log store: LogQL queries (instant and range), labels, label
//! values, series, index stats and volume, detected labels and fields, patterns, query
//! formatting, build info and live tailing over a WebSocket, answered in Loki 3's shapes so
//! that Grafana's Loki data source works unchanged.
//!
//! - Parameters come from the URL query and, for POST, a form-encoded body (`params`); times
//!   are nanoseconds, seconds or RFC 3339, as Loki takes them.
//! - The tenant is `X-Scope-OrgID` (`anonymous` when absent).
//! - Errors are Loki's: plain text with the status (`reply`).

mod handlers;
mod params;
mod reply;
mod tail;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use lookout_storage::logs::{LogScan, StreamInfo};
use lookout_storage::{Labels, Tenant};
use tokio::sync::Semaphore;

use self::reply::LokiError;
use crate::BuildInfo;
use crate::logql::{LogqlEngine, LogqlError, Matcher};

/// What the Loki API reads.
#[derive(Clone)]
pub struct LokiState {
    /// The LogQL engine (and through it, the log store).
    pub engine: LogqlEngine,
    /// Build information for `/loki/api/v1/status/buildinfo`.
    pub build: BuildInfo,
    /// Queries allowed to run at once; the others wait.
    pub queries: Arc<Semaphore>,
    /// How often a tail looks for new lines.
    pub tail_interval: std::time::Duration,
}

/// The Loki API routes under `/loki/api/v1`; query endpoints take GET and POST.
pub fn router(state: LokiState) -> Router {
    use self::handlers as h;
    Router::new()
        .route("/loki/api/v1/query", get(h::query).post(h::query))
        .route("/loki/api/v1/query_range", get(h::query_range).post(h::query_range))
        .route("/loki/api/v1/labels", get(h::labels).post(h::labels))
        .route("/loki/api/v1/label", get(h::labels).post(h::labels))
        .route("/loki/api/v1/label/{name}/values", get(h::label_values).post(h::label_values))
        .route("/loki/api/v1/series", get(h::series).post(h::series))
        .route("/loki/api/v1/index/stats", get(h::index_stats).post(h::index_stats))
        .route(
            "/loki/api/v1/index/volume",
            get(|s, hd, p| h::volume(s, hd, p, false)).post(|s, hd, p| h::volume(s, hd, p, false)),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(|s, hd, p| h::volume(s, hd, p, true)).post(|s, hd, p| h::volume(s, hd, p, true)),
        )
        .route("/loki/api/v1/detected_labels", get(h::detected_labels))
        .route("/loki/api/v1/detected_fields", get(h::detected_fields))
        .route("/loki/api/v1/patterns", get(h::patterns))
        .route("/loki/api/v1/format_query", get(h::format).post(h::format))
        .route("/loki/api/v1/status/buildinfo", get(h::buildinfo))
        .route("/loki/api/v1/tail", get(tail::tail))
        .with_state(state)
}

/// What one stream holds in a time range.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamVolume {
    pub labels: Labels,
    pub entries: u64,
    pub bytes: u64,
    /// Hours with entries (Loki counts chunks; this is the nearest thing).
    pub chunks: u64,
    /// Bytes per step end, for `volume_range`.
    pub buckets: std::collections::BTreeMap<i64, u64>,
}

impl LokiState {
    /// Runs `f` with the engine on a blocking thread, one of `queries` at a time.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LogqlEngine) -> Result<T, LogqlError> + Send + 'static,
    ) -> Result<T, LokiError> {
        let _permit =
            crate::limits::admit(&self.queries, "loki").await.map_err(|_| LokiError::internal("shutting down"))?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| LokiError::internal(format!("query failed: {e}")))?
            .map_err(LokiError::from)
    }

    /// Streams matching any of the matcher sets, once each, sorted by labels.
    pub(crate) async fn streams(
        &self,
        tenant: &Tenant,
        sets: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<StreamInfo>, LokiError> {
        let (tenant, sets) = (tenant.clone(), sets.to_vec());
        self.run(move |engine| {
            let mut found: HashMap<u64, StreamInfo> = HashMap::new();
            for set in &sets {
                for s in engine.select_streams(&tenant, set, start, end) {
                    found.insert(s.id, s);
                }
            }
            let mut out: Vec<StreamInfo> = found.into_values().collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(out)
        })
        .await
    }

    /// Entries and bytes per matching stream in `[start, end)`, read from the columns; with
    /// `buckets = (origin, step)`, bytes per step as well.
    pub(crate) async fn volumes(
        &self,
        tenant: &Tenant,
        sets: &[Vec<Matcher>],
        start: i64,
        end: i64,
        buckets: Option<(i64, i64)>,
    ) -> Result<HashMap<u64, StreamVolume>, LokiError> {
        let streams = self.streams(tenant, sets, start, end).await?;
        self.run(move |engine| {
            let ids: Vec<u64> = streams.iter().map(|s| s.id).collect();
            let mut out: HashMap<u64, StreamVolume> = streams
                .into_iter()
                .map(|s| (s.id, StreamVolume { labels: s.labels, ..StreamVolume::default() }))
                .collect();
            let mut hours: std::collections::HashSet<(u64, i64)> = std::collections::HashSet::new();
            let scan = LogScan { streams: &ids, start, end, backward: false, line: None };
            engine
                .store()
                .scan_columns(&scan, &mut |stream, time, size, _level| {
                    if let Some(v) = out.get_mut(&stream) {
                        v.entries += 1;
                        v.bytes += size;
                        hours.insert((stream, time.div_euclid(3_600_000_000_000)));
                        if let Some((origin, step)) = buckets {
                            let k = (time - origin + step - 1).div_euclid(step).max(0);
                            *v.buckets.entry(origin + k * step).or_default() += size;
                        }
                    }
                })
                .map_err(|e| LogqlError::Store(e.to_string()))?;
            for (stream, _) in hours {
                if let Some(v) = out.get_mut(&stream) {
                    v.chunks += 1;
                }
            }
            out.retain(|_, v| v.entries > 0);
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
