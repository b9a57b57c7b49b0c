//! What the handlers ask of the metrics store: each call runs off the reactor (blocks are read
//! from disk), merges the answers of several `match[]` sets, and applies `limit`.

use std::collections::BTreeSet;
use std::sync::Arc;

use lookout_storage::metrics::{Matcher, Querier, Tsdb, TsdbStatus};
use lookout_storage::{Labels, MetricMetadata, SampleExemplar, Tenant};
use tracing::error;

use super::PrometheusState;
use super::reply::ApiError;

/// Items kept by a limit, and whether there were more.
pub(crate) struct Limited<T> {
    /// What is returned.
    pub(crate) items: Vec<T>,
    /// Whether the limit dropped some.
    pub(crate) truncated: bool,
}

/// Keeps the first `limit` items (all when `limit` is 0).
fn limit<T>(mut items: Vec<T>, limit: usize) -> Limited<T> {
    let truncated = limit > 0 && items.len() > limit;
    if truncated {
        items.truncate(limit);
    }
    Limited { items, truncated }
}

/// A time range in milliseconds, inclusive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    /// Start.
    pub(crate) start: i64,
    /// End.
    pub(crate) end: i64,
}

impl PrometheusState {
    /// Runs `f` on the store off the reactor; store errors become `execution` errors (the
    /// detail is logged, the client gets the store's message without paths).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Tsdb) -> lookout_storage::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let tsdb = Arc::clone(&self.tsdb);
        tokio::task::spawn_blocking(move || f(&tsdb))
            .await
            .map_err(|e| {
                error!(error = %e, "metrics read task failed");
                ApiError::Internal("the metrics read failed".into())
            })?
            .map_err(|e| match e {
                lookout_storage::Error::InvalidInput(message) => ApiError::BadData(message),
                e => {
                    error!(error = %e, "reading the metrics store failed");
                    ApiError::Execution("reading the metrics store failed".into())
                }
            })
    }

    /// Series matching any of `sets` with samples in `range`, sorted.
    pub(crate) async fn series(
        &self,
        tenant: Tenant,
        sets: Vec<Vec<Matcher>>,
        range: Range,
        max: usize,
    ) -> Result<Limited<Labels>, ApiError> {
        let found =
            self.blocking(move |db| union(&sets, |set| db.series(&tenant, set, range.start, range.end))).await?;
        Ok(limit(found, max))
    }

    /// Label names of the series matching any of `sets` (of every series when there are none).
    pub(crate) async fn label_names(
        &self,
        tenant: Tenant,
        sets: Vec<Vec<Matcher>>,
        range: Range,
        max: usize,
    ) -> Result<Limited<String>, ApiError> {
        let found = self
            .blocking(move |db| {
                if sets.is_empty() {
                    return db.label_names(&tenant, &[], range.start, range.end);
                }
                union(&sets, |set| db.label_names(&tenant, set, range.start, range.end))
            })
            .await?;
        Ok(limit(found, max))
    }

    /// Values of label `name` among the series matching any of `sets` (every series when there
    /// are none), sorted.
    pub(crate) async fn label_values(
        &self,
        tenant: Tenant,
        name: String,
        sets: Vec<Vec<Matcher>>,
        range: Range,
        max: usize,
    ) -> Result<Limited<String>, ApiError> {
        let found = self
            .blocking(move |db| {
                if sets.is_empty() {
                    return db.label_values(&tenant, &name, &[], range.start, range.end);
                }
                union(&sets, |set| db.label_values(&tenant, &name, set, range.start, range.end))
            })
            .await?;
        Ok(limit(found, max))
    }

    /// Exemplars of the series matching any of `sets`, in `range`.
    pub(crate) async fn exemplars(
        &self,
        tenant: Tenant,
        sets: Vec<Vec<Matcher>>,
        range: Range,
    ) -> Result<Vec<(Labels, Vec<SampleExemplar>)>, ApiError> {
        self.blocking(move |db| Ok(db.exemplars(&tenant, &sets, range.start, range.end))).await
    }

    /// Family metadata: of one metric or all, at most `families` of them.
    pub(crate) async fn metadata(
        &self,
        tenant: Tenant,
        metric: Option<String>,
        families: Option<usize>,
    ) -> Result<Vec<MetricMetadata>, ApiError> {
        self.blocking(move |db| Ok(db.metadata(&tenant, metric.as_deref(), families))).await
    }

    /// Head cardinality, `top` entries per list.
    pub(crate) async fn status(&self, tenant: Tenant, top: usize) -> Result<TsdbStatus, ApiError> {
        self.blocking(move |db| Ok(db.status(&tenant, top))).await
    }
}

/// The sorted union of what `each` finds for every matcher set.
fn union<T: Ord>(
    sets: &[Vec<Matcher>],
    mut each: impl FnMut(&[Matcher]) -> lookout_storage::Result<Vec<T>>,
) -> lookout_storage::Result<Vec<T>> {
    let mut all = BTreeSet::new();
    for set in sets {
        all.extend(each(set)?);
    }
    Ok(all.into_iter().collect())
}
