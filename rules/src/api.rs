//! Prometheus's rule and alert endpoints on :3000: `GET /api/v1/rules` (with `type`,
//! `rule_name[]`, `rule_group[]`, `file[]` and `exclude_alerts`), `GET /api/v1/alerts`,
//! `GET /api/v1/alertmanagers`, and `POST /-/reload` (also `PUT`), in the shapes of
//! Prometheus's `web/api/v1/api.go`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lookout_storage::Tenant;
use serde::Serialize;
use serde_json::json;

use crate::group::Group;
use crate::manager::Manager;
use crate::rule::{Alert, AlertState, Rule};
use crate::rulefmt::RuleKind;

/// The rule endpoints, over `manager`; `alertmanagers` are the URLs alerts are posted to.
pub fn router(manager: Arc<Manager>, alertmanagers: Vec<String>) -> Router {
    let listed = json!({
        "activeAlertmanagers": alertmanagers.iter().map(|url| json!({ "url": url })).collect::<Vec<_>>(),
        "droppedAlertmanagers": [],
    });
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .route("/-/reload", post(reload).put(reload))
        .with_state(manager)
        .route("/api/v1/alertmanagers", get(move || async move { success(listed) }))
}

/// Which rules `/api/v1/rules` returns.
#[derive(Debug, Default)]
struct RuleFilter {
    kind: Option<&'static str>,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
}

impl RuleFilter {
    fn parse(pairs: Vec<(String, String)>) -> Result<RuleFilter, String> {
        let mut filter = RuleFilter::default();
        for (k, v) in pairs {
            match k.as_str() {
                "type" => {
                    filter.kind = match v.to_lowercase().as_str() {
                        "" => None,
                        "alert" => Some("alert"),
                        "record" => Some("record"),
                        _ => return Err(format!("not supported value {v:?}")),
                    }
                }
                "rule_name[]" => filter.names.push(v),
                "rule_group[]" => filter.groups.push(v),
                "file[]" => filter.files.push(v),
                "exclude_alerts" => {
                    filter.exclude_alerts =
                        v.parse().map_err(|_| format!("parsing exclude_alerts: invalid syntax {v:?}"))?
                }
                _ => {}
            }
        }
        Ok(filter)
    }

    fn filters_rules(&self) -> bool {
        self.kind.is_some() || !self.names.is_empty()
    }

    fn keeps_group(&self, g: &Group) -> bool {
        (self.groups.is_empty() || self.groups.contains(&g.spec.name))
            && (self.files.is_empty() || self.files.contains(&g.file))
    }

    fn keeps_rule(&self, r: &Rule) -> bool {
        let kind_ok = matches!(
            (self.kind, &r.spec.kind),
            (None, _) | (Some("alert"), RuleKind::Alert(_)) | (Some("record"), RuleKind::Record(_))
        );
        kind_ok && (self.names.is_empty() || self.names.iter().any(|n| n == r.spec.name()))
    }
}

/// The request's tenant: `X-Scope-OrgID` (with authentication on, the credential's tenant),
/// else the default one. Each tenant sees its own groups and alerts only: those of
/// `rules.path` are the default tenant's, those under `rules.tenants_dir/<tenant>/` that
/// tenant's. `None` for a header that is not a tenant id: it sees nothing.
fn tenant_of(headers: &HeaderMap) -> Option<Tenant> {
    match headers.get("x-scope-orgid") {
        None => Some(Tenant::default()),
        Some(v) => v.to_str().ok().and_then(|t| Tenant::new(t.trim()).ok()),
    }
}

/// Whether the request is for the default tenant, who may reload every tenant's files.
fn for_default_tenant(headers: &HeaderMap) -> bool {
    tenant_of(headers).is_some_and(|t| t == Tenant::default())
}

async fn rules(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let filter = match RuleFilter::parse(pairs) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", &format!("invalid query parameter: {e}")),
    };
    let tenant = tenant_of(&headers);
    let groups: Vec<ApiGroup> = manager
        .groups()
        .iter()
        .filter(|g| tenant.as_ref() == Some(&g.tenant) && filter.keeps_group(g))
        .map(|g| ApiGroup::new(g, &filter))
        .filter(|g| !filter.filters_rules() || !g.rules.is_empty())
        .collect();
    success(json!({ "groups": groups }))
}

async fn alerts(State(manager): State<Arc<Manager>>, headers: HeaderMap) -> Response {
    let tenant = tenant_of(&headers);
    let alerts: Vec<ApiAlert> = manager
        .groups()
        .iter()
        .filter(|g| tenant.as_ref() == Some(&g.tenant))
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| r.alerts.values())
        .filter(|a| a.state != AlertState::Inactive)
        .map(ApiAlert::new)
        .collect();
    success(json!({ "alerts": alerts }))
}

async fn reload(State(manager): State<Arc<Manager>>, headers: HeaderMap) -> Response {
    if !for_default_tenant(&headers) {
        return (StatusCode::FORBIDDEN, "rule files are reloaded by the default tenant\n").into_response();
    }
    match manager.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(errors) => (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {}\n", errors.join("; ")))
            .into_response(),
    }
}

fn success(data: serde_json::Value) -> Response {
    axum::Json(json!({ "status": "success", "data": data })).into_response()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "status": "error", "errorType": kind, "error": message }))).into_response()
}

/// RFC 3339 with nanoseconds as Go prints a `time.Time` in JSON; Go's zero time when unset.
fn rfc3339(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "0001-01-01T00:00:00Z".into() };
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let frac = if millis == 0 { String::new() } else { format!(".{millis:03}").trim_end_matches('0').to_string() };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A float as Prometheus shows an alert's value (`strconv.FormatFloat(v, 'e', -1, 64)`).
fn go_exp(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    name: String,
    file: String,
    rules: Vec<serde_json::Value>,
    interval: f64,
    limit: usize,
    evaluation_time: f64,
    last_evaluation: String,
    /// Lookout's own addition: the group's query language (`promql` or `logql`), so a client
    /// knows where to run a rule's expression.
    source: &'static str,
}

impl ApiGroup {
    fn new(g: &Group, filter: &RuleFilter) -> ApiGroup {
        ApiGroup {
            name: g.spec.name.clone(),
            file: g.file.clone(),
            rules: g.rules.iter().filter(|r| filter.keeps_rule(r)).map(|r| api_rule(r, filter)).collect(),
            interval: g.interval_ms as f64 / 1000.0,
            limit: g.spec.limit,
            evaluation_time: g.evaluation_time.as_secs_f64(),
            last_evaluation: rfc3339(g.last_evaluation),
            source: g.spec.source.as_str(),
        }
    }
}

fn api_rule(r: &Rule, filter: &RuleFilter) -> serde_json::Value {
    let mut out = json!({
        "name": r.spec.name(),
        "query": r.spec.expr,
        "labels": r.spec.labels,
        "health": r.health.as_str(),
        "evaluationTime": r.evaluation_time.as_secs_f64(),
        "lastEvaluation": rfc3339(r.last_evaluation),
    });
    if let Some(e) = &r.last_error {
        out["lastError"] = json!(e);
    }
    if let RuleKind::Alert(_) = r.spec.kind {
        let state = r.alerts.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive);
        out["state"] = json!(state.as_str());
        out["duration"] = json!(r.spec.for_ms as f64 / 1000.0);
        out["keepFiringFor"] = json!(r.spec.keep_firing_for_ms as f64 / 1000.0);
        out["annotations"] = json!(r.spec.annotations);
        if !filter.exclude_alerts {
            let alerts: Vec<ApiAlert> =
                r.alerts.values().filter(|a| a.state != AlertState::Inactive).map(ApiAlert::new).collect();
            out["alerts"] = json!(alerts);
        }
        out["type"] = json!("alerting");
    } else {
        out["type"] = json!("recording");
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: &'static str,
    active_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

impl ApiAlert {
    fn new(a: &Alert) -> ApiAlert {
        ApiAlert {
            labels: a.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
            annotations: a.annotations.clone(),
            state: a.state.as_str(),
            active_at: rfc3339(Some(a.active_at)),
            keep_firing_since: a.keep_firing_since.map(|t| rfc3339(Some(t))),
            value: go_exp(a.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_go_does() {
        assert_eq!(go_exp(1.0), "1e+00");
        assert_eq!(go_exp(0.25), "2.5e-01");
        assert_eq!(go_exp(1234.5), "1.2345e+03");
        assert_eq!(go_exp(f64::INFINITY), "+Inf");
    }

    #[test]
    fn times_print_as_rfc3339() {
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_700_000_000_250)), "2023-11-14T22:13:20.25Z");
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn filters_parse_prometheus_parameters() {
        let pairs = |q: &str| -> Vec<(String, String)> {
            q.split('&').map(|p| p.split_once('=').map(|(k, v)| (k.into(), v.into())).unwrap_or_default()).collect()
        };
        let f = RuleFilter::parse(pairs("type=alert&rule_name[]=A&rule_name[]=B&file[]=x.yml")).unwrap();
        assert_eq!(f.kind, Some("alert"));
        assert_eq!(f.names, vec!["A", "B"]);
        assert_eq!(f.files, vec!["x.yml"]);
        assert!(RuleFilter::parse(pairs("type=bogus")).is_err());
    }
}
