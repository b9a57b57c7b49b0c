//! `GET /api/v1/targets` in Prometheus's shape (`web/api/v1/api.go` `targets`):
//! `{"status":"success","data":{"activeTargets":[…],"droppedTargets":[]}}`, with the `state`
//! (`active`, `dropped`, `any`) and `scrapePool` filters. Static targets dropped by relabelling
//! are not kept, so `droppedTargets` is always empty.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use lookout_storage::Labels;
use serde::{Deserialize, Serialize};

use super::manager::{ScrapeStatus, TargetHealth};

/// The router serving `GET /api/v1/targets` from `status` (merge it into the query API's).
pub fn router(status: ScrapeStatus) -> Router {
    Router::new().route("/api/v1/targets", get(targets)).with_state(status)
}

#[derive(Debug, Default, Deserialize)]
struct TargetsParams {
    #[serde(default)]
    state: String,
    #[serde(default, rename = "scrapePool")]
    scrape_pool: String,
}

#[derive(Serialize)]
struct Envelope<T> {
    status: &'static str,
    data: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery {
    active_targets: Vec<ActiveTarget>,
    dropped_targets: Vec<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget {
    discovered_labels: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    scrape_pool: String,
    scrape_url: String,
    global_url: String,
    last_error: String,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: String,
    scrape_timeout: String,
}

async fn targets(
    State(status): State<ScrapeStatus>,
    Query(params): Query<TargetsParams>,
) -> Json<Envelope<TargetDiscovery>> {
    let state = params.state.to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let active_targets = if show_active {
        status
            .targets()
            .into_iter()
            .filter(|t| params.scrape_pool.is_empty() || t.scrape_pool == params.scrape_pool)
            .map(active_target)
            .collect()
    } else {
        Vec::new()
    };
    Json(Envelope { status: "success", data: TargetDiscovery { active_targets, dropped_targets: Vec::new() } })
}

fn active_target(t: TargetHealth) -> ActiveTarget {
    ActiveTarget {
        scrape_interval: t.scrape_interval_text(),
        scrape_timeout: t.scrape_timeout_text(),
        discovered_labels: label_map(&t.discovered_labels),
        labels: label_map(&t.labels),
        scrape_pool: t.scrape_pool,
        scrape_url: t.scrape_url,
        global_url: t.global_url,
        last_error: t.last_error,
        last_scrape: t.last_scrape.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339_nano),
        last_scrape_duration: t.last_scrape_duration.as_secs_f64(),
        health: t.health.as_str(),
    }
}

fn label_map(labels: &Labels) -> BTreeMap<String, String> {
    labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
}

/// Go's `time.RFC3339Nano` in UTC, as `time.Time` marshals to JSON: the fraction without
/// trailing zeros, none at all when whole.
pub(super) fn rfc3339_nano(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    let nanos = since.subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_like_go_rfc3339_nano() {
        let at = |secs: u64, nanos: u32| SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        assert_eq!(rfc3339_nano(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(at(1_484_662_064, 723_715_405)), "2017-01-17T14:07:44.723715405Z");
        assert_eq!(rfc3339_nano(at(951_782_400, 500_000_000)), "2000-02-29T00:00:00.5Z");
    }
}
