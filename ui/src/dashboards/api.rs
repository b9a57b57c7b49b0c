//! The dashboard API under `/ui/api/dashboards`: list, get, save, delete and Grafana import.
//! JSON everywhere; errors are `{"error": "..."}` with the status [`status`] gives.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lookout_storage::Tenant;
use serde::Serialize;
use serde_json::json;
use tracing::error;

use super::grafana;
use super::model::{Dashboard, MAX_DASHBOARD_BYTES};
use super::store::{Entry, FileError, Source, Store};
use crate::{Error, Result};

/// The largest Grafana JSON the import takes; exports carry much that the import drops.
const MAX_IMPORT_BYTES: usize = 4 * MAX_DASHBOARD_BYTES;

/// The routes, over `store`.
pub(crate) fn routes(store: Arc<Store>) -> Router {
    Router::new()
        .route("/ui/api/dashboards", get(list))
        .route("/ui/api/dashboards/import", post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
        .route(
            "/ui/api/dashboards/{uid}",
            get(get_one).put(save).delete(delete).layer(DefaultBodyLimit::max(MAX_DASHBOARD_BYTES)),
        )
        .with_state(store)
}

/// `GET /ui/api/dashboards`.
#[derive(Serialize)]
struct Listing {
    dashboards: Vec<Summary>,
    errors: Vec<FileError>,
}

/// One dashboard in the listing.
#[derive(Serialize)]
struct Summary {
    uid: String,
    title: String,
    tags: Vec<String>,
    source: Source,
    file: String,
}

/// `PUT /ui/api/dashboards/{uid}`.
#[derive(Serialize)]
struct Saved {
    uid: String,
    version: u64,
}

/// `POST /ui/api/dashboards/import`.
#[derive(Serialize)]
struct ImportReply {
    dashboard: Dashboard,
    skipped: Vec<String>,
}

/// The tenant a request is for: `X-Scope-OrgID` (which authentication, when on, has set from
/// the credential), `anonymous` without it.
fn tenant(headers: &HeaderMap) -> Result<Tenant> {
    match headers.get("x-scope-orgid") {
        None => Ok(Tenant::default()),
        Some(v) => Tenant::new(v.to_str().unwrap_or("").trim()).map_err(|e| Error::Invalid(e.to_string())),
    }
}

async fn list(State(store): State<Arc<Store>>, headers: HeaderMap) -> Result<Json<Listing>> {
    let tenant = tenant(&headers)?;
    let catalog = blocking(move || Ok(store.list(&tenant))).await?;
    let mut dashboards: Vec<Summary> = catalog
        .entries
        .into_values()
        .map(|e| Summary {
            uid: e.dashboard.uid,
            title: e.dashboard.title,
            tags: e.dashboard.tags,
            source: e.source,
            file: e.file,
        })
        .collect();
    dashboards.sort_by(|a, b| a.title.to_lowercase().cmp(&b.title.to_lowercase()).then_with(|| a.uid.cmp(&b.uid)));
    Ok(Json(Listing { dashboards, errors: catalog.errors }))
}

async fn get_one(State(store): State<Arc<Store>>, headers: HeaderMap, Path(uid): Path<String>) -> Result<Json<Entry>> {
    let tenant = tenant(&headers)?;
    Ok(Json(blocking(move || store.get(&tenant, &uid)).await?))
}

async fn save(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Saved>> {
    let tenant = tenant(&headers)?;
    let body = body.map_err(|r| body_error(r, MAX_DASHBOARD_BYTES))?;
    let version = blocking({
        let uid = uid.clone();
        move || store.save_json(&tenant, &uid, &body)
    })
    .await?;
    Ok(Json(Saved { uid, version }))
}

async fn delete(State(store): State<Arc<Store>>, headers: HeaderMap, Path(uid): Path<String>) -> Result<StatusCode> {
    let tenant = tenant(&headers)?;
    blocking(move || store.delete(&tenant, &uid)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn import(body: std::result::Result<Bytes, BytesRejection>) -> Result<Json<ImportReply>> {
    let body = body.map_err(|r| body_error(r, MAX_IMPORT_BYTES))?;
    let imported = blocking(move || {
        let value = serde_json::from_slice(&body).map_err(Error::Json)?;
        grafana::import(&value)
    })
    .await?;
    Ok(Json(ImportReply { dashboard: imported.dashboard, skipped: imported.skipped }))
}

/// Runs file work and large JSON off the reactor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Task(e.to_string()))?
}

fn body_error(rejection: BytesRejection, limit: usize) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge { limit }
    } else {
        Error::Invalid(format!("cannot read the request body: {}", rejection.body_text()))
    }
}

/// The one place that maps an error to a status.
fn status(e: &Error) -> StatusCode {
    match e {
        Error::Json(_) | Error::Invalid(_) | Error::Provisioned { .. } | Error::NotGrafana(_) => {
            StatusCode::BAD_REQUEST
        }
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Io { .. } | Error::Builtin { .. } | Error::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = status(&self);
        let message = if status.is_server_error() {
            error!(error = %self, "dashboard request failed");
            "internal error in the dashboard store; the details are in Lookout's log".to_owned()
        } else {
            self.to_string()
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}
