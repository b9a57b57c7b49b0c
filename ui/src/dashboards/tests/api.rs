//! The dashboard API over a real store in temporary folders, called without a socket.

use std::fs;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

use super::DEMO;
use crate::dashboards::{DashboardOptions, router};

/// A provisioning folder, a store folder (not created yet) and the demo dashboards built in.
struct Setup {
    _dir: TempDir,
    provisioned: PathBuf,
    store: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let provisioned = dir.path().join("provisioned");
        fs::create_dir(&provisioned).unwrap();
        let store = dir.path().join("data").join("dashboards");
        Setup { _dir: dir, provisioned, store }
    }

    fn router(&self) -> Router {
        router(DashboardOptions {
            provision_paths: vec![self.provisioned.clone()],
            store_dir: self.store.clone(),
            builtin: DEMO.to_vec(),
        })
        .unwrap()
    }

    fn provision(&self, name: &str, content: &Value) {
        fs::write(self.provisioned.join(name), serde_json::to_string_pretty(content).unwrap()).unwrap();
    }
}

async fn call(router: &Router, method: Method, uri: &str, body: Option<Vec<u8>>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, Body::from))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, value)
}

async fn get(router: &Router, uri: &str) -> (StatusCode, Value) {
    call(router, Method::GET, uri, None).await
}

async fn put(router: &Router, uid: &str, dashboard: &Value) -> (StatusCode, Value) {
    call(router, Method::PUT, &format!("/ui/api/dashboards/{uid}"), Some(serde_json::to_vec(dashboard).unwrap())).await
}

async fn delete(router: &Router, uid: &str) -> (StatusCode, Value) {
    call(router, Method::DELETE, &format!("/ui/api/dashboards/{uid}"), None).await
}

fn dashboard(uid: &str, title: &str, version: u64) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "version": version,
        "rows": [{"title": "Row", "panels": [
            {"id": 1, "title": "Up", "type": "stat", "width": 6, "height": 4, "queries": [{"lang": "promql", "expr": "up"}]}
        ]}]
    })
}

/// `(uid, source)` of the listing, in its order.
fn listed(listing: &Value) -> Vec<(String, String)> {
    listing["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["uid"].as_str().unwrap().to_owned(), d["source"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[tokio::test]
async fn list_merges_builtin_provisioned_and_saved_sorted_by_title() {
    let setup = Setup::new();
    setup.provision("team.json", &dashboard("team", "Team board", 1));
    let grafana: Value = serde_json::from_str(DEMO[1].json).unwrap();
    setup.provision(
        "grafana.json",
        &json!({"dashboard": {"uid": "from-grafana", "title": "A Grafana one", "panels": grafana["panels"]}}),
    );
    let router = setup.router();
    assert_eq!(put(&router, "mine", &dashboard("mine", "My board", 0)).await.0, StatusCode::OK);

    let (status, listing) = get(&router, "/ui/api/dashboards").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed(&listing),
        pairs(&[
            ("from-grafana", "provisioned"),
            ("lookout-demo-broker", "builtin"),
            ("lookout-demo-gateway", "builtin"),
            ("lookout-demo-services", "builtin"),
            ("lookout-overview", "builtin"),
            ("mine", "saved"),
            ("lookout-service", "builtin"),
            ("team", "provisioned"),
        ])
    );
    assert_eq!(listing["errors"], json!([]));
    let overview = listing["dashboards"].as_array().unwrap().iter().find(|d| d["uid"] == "lookout-overview").unwrap();
    assert_eq!(
        overview,
        &json!({"uid": "lookout-overview", "title": "Lookout", "tags": ["lookout"], "source": "builtin", "file": "lookout.json"})
    );
    let team = listing["dashboards"].as_array().unwrap().iter().find(|d| d["uid"] == "team").unwrap();
    assert_eq!(team["file"], json!(setup.provisioned.join("team.json").display().to_string()));
    let mine = listing["dashboards"].as_array().unwrap().iter().find(|d| d["uid"] == "mine").unwrap();
    assert_eq!(mine["file"], json!(setup.store.join("mine.json").display().to_string()));
}

#[tokio::test]
async fn get_returns_dashboard_source_and_what_the_import_skipped() {
    let setup = Setup::new();
    setup.provision(
        "pie.json",
        &json!({"uid": "pie", "title": "Pie", "panels": [
            {"id": 1, "type": "piechart", "title": "Share", "targets": [{"expr": "up"}]},
            {"id": 2, "type": "timeseries", "title": "Up", "targets": [{"expr": "up"}]}
        ]}),
    );
    let router = setup.router();
    let (status, body) = get(&router, "/ui/api/dashboards/pie").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["source"], "provisioned");
    assert_eq!(body["skipped"], json!(["panel \"Share\" (piechart): panel type not supported; panel skipped"]));
    assert_eq!(body["dashboard"]["rows"][0]["panels"][0]["title"], "Up");

    let (status, body) = get(&router, "/ui/api/dashboards/lookout-overview").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["source"].as_str(), body["skipped"].clone()), (Some("builtin"), json!([])));
    assert_eq!(body["dashboard"]["title"], "Lookout");

    let (status, body) = get(&router, "/ui/api/dashboards/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "dashboard \"nope\" not found"}));

    let (status, body) = get(&router, "/ui/api/dashboards/..").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().starts_with("uid: "), "{body}");
}

#[tokio::test]
async fn provisioned_file_changed_on_disk_shows_up_without_restart() {
    let setup = Setup::new();
    setup.provision("team.json", &dashboard("team", "Before", 1));
    let router = setup.router();
    assert_eq!(get(&router, "/ui/api/dashboards/team").await.1["dashboard"]["title"], "Before");
    setup.provision("team.json", &dashboard("team", "After", 1));
    setup.provision("more.json", &dashboard("more", "More", 1));
    assert_eq!(get(&router, "/ui/api/dashboards/team").await.1["dashboard"]["title"], "After");
    let listing = get(&router, "/ui/api/dashboards").await.1;
    assert!(listed(&listing).contains(&("more".to_owned(), "provisioned".to_owned())));
}

#[tokio::test]
async fn bad_provisioned_files_are_listed_in_errors_and_the_rest_still_load() {
    let setup = Setup::new();
    setup.provision("good.json", &dashboard("good", "Good", 1));
    fs::write(setup.provisioned.join("broken.json"), "{ not json").unwrap();
    let mut invalid = dashboard("invalid", "Invalid", 1);
    invalid["rows"][0]["panels"][0]["type"] = json!("pie");
    setup.provision("invalid.json", &invalid);
    setup.provision("neither.json", &json!({"title": "x"}));
    fs::write(setup.provisioned.join("notes.txt"), "not a dashboard").unwrap();
    let router = setup.router();

    let (status, listing) = get(&router, "/ui/api/dashboards").await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed(&listing).contains(&("good".to_owned(), "provisioned".to_owned())));
    let errors = listing["errors"].as_array().unwrap();
    let file = |name: &str| json!(setup.provisioned.join(name).display().to_string());
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0]["file"], file("broken.json"));
    assert!(
        errors[0]["error"].as_str().unwrap().starts_with("invalid dashboard JSON: key must be a string at line 1"),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        json!({"file": file("invalid.json"), "error": "rows[0].panels[0].type: unknown panel type \"pie\"; expected one of timeseries, stat, gauge, bar, table, logs, traces, heatmap"})
    );
    assert_eq!(errors[2]["file"], file("neither.json"));
    assert!(errors[2]["error"].as_str().unwrap().starts_with("neither a Lookout dashboard"));
    assert_eq!(get(&router, "/ui/api/dashboards/good").await.0, StatusCode::OK);
}

#[tokio::test]
async fn missing_provisioning_folder_is_an_error_in_the_listing() {
    let setup = Setup::new();
    fs::remove_dir(&setup.provisioned).unwrap();
    let listing = get(&setup.router(), "/ui/api/dashboards").await.1;
    assert_eq!(listing["errors"][0]["file"], json!(setup.provisioned.display().to_string()));
    assert!(listed(&listing).contains(&("lookout-overview".to_owned(), "builtin".to_owned())));
}

#[tokio::test]
async fn save_bumps_the_version_and_survives_a_restart() {
    let setup = Setup::new();
    let router = setup.router();
    assert!(!setup.store.exists(), "the store folder is created on the first save");

    let (status, body) = put(&router, "mine", &dashboard("mine", "Mine", 7)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"uid": "mine", "version": 1})));
    let (status, body) = put(&router, "mine", &dashboard("mine", "Mine, renamed", 1)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"uid": "mine", "version": 2})));

    let (status, body) = get(&router, "/ui/api/dashboards/mine").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["source"], "saved");
    let mut expected = dashboard("mine", "Mine, renamed", 2);
    expected["description"] = json!("");
    assert_eq!(body["dashboard"]["version"], 2);
    assert_eq!(body["dashboard"]["title"], expected["title"]);

    let files: Vec<String> =
        fs::read_dir(&setup.store).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(files, ["mine.json"], "no temporary file is left behind");

    let restarted = setup.router();
    let (status, again) = get(&restarted, "/ui/api/dashboards/mine").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, body);
}

#[tokio::test]
async fn stale_version_is_a_conflict() {
    let setup = Setup::new();
    let router = setup.router();
    put(&router, "mine", &dashboard("mine", "Mine", 0)).await;
    put(&router, "mine", &dashboard("mine", "Mine", 1)).await;
    let (status, body) = put(&router, "mine", &dashboard("mine", "Mine", 1)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"error": "dashboard \"mine\" was changed by someone else (version 2, yours 1); reload it"})
    );
    assert_eq!(get(&router, "/ui/api/dashboards/mine").await.1["dashboard"]["version"], 2);
}

#[tokio::test]
async fn invalid_saves_are_bad_requests_naming_the_field() {
    let setup = Setup::new();
    let router = setup.router();
    let with = |path: &[&str], value: Value| {
        let mut d = dashboard("d", "D", 1);
        let mut target = &mut d;
        for key in path {
            target = match key.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[*key],
            };
        }
        *target = value;
        d
    };
    let cases = [
        (with(&["uid"], json!("other")), "uid: \"other\" in the body does not match \"d\" in the path"),
        (
            with(&["rows", "0", "panels", "0", "type"], json!("pie")),
            "rows[0].panels[0].type: unknown panel type \"pie\"",
        ),
        (
            with(&["rows", "0", "panels", "0", "queries", "0", "lang"], json!("sql")),
            "rows[0].panels[0].queries[0].lang: unknown query language \"sql\"",
        ),
        (with(&["rows", "0", "panels", "0", "width"], json!(0)), "rows[0].panels[0].width: must be 1 to 24"),
        (with(&["rows", "0", "panels", "0", "height"], json!(100)), "rows[0].panels[0].height: must be 1 to 64"),
        (
            with(
                &["rows"],
                json!([dashboard("d", "D", 1)["rows"][0], {"panels": [{"id": 1, "type": "table", "queries": []}]}]),
            ),
            "rows[1].panels[0].id: duplicate panel id 1",
        ),
        (
            with(
                &["variables"],
                json!([{"name": "v", "type": "custom", "options": ["a"]}, {"name": "v", "type": "custom", "options": ["b"]}]),
            ),
            "variables[1].name: duplicate variable name \"v\"",
        ),
        (with(&["time"], json!({"from": "last week", "to": "now"})), "time.from: \"last week\""),
        (with(&["rows", "0", "panels", "0", "colour"], json!("red")), "invalid dashboard JSON: unknown field `colour`"),
        (
            with(&["rows", "0", "panels", "0", "width"], json!("wide")),
            "invalid dashboard JSON: invalid type: string \"wide\"",
        ),
    ];
    for (body, message) in cases {
        let (status, reply) = put(&router, "d", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}: {reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.starts_with(message), "{error:?} does not start with {message:?}");
    }
    let (status, reply) = call(&router, Method::PUT, "/ui/api/dashboards/d", Some(b"{\"uid\": ".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reply["error"].as_str().unwrap().starts_with("invalid dashboard JSON: EOF while parsing"), "{reply}");
    let (status, reply) = put(&router, "bad.uid", &dashboard("bad.uid", "Bad", 1)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reply["error"].as_str().unwrap().starts_with("uid: must be 1 to 64"), "{reply}");
    assert!(!setup.store.exists(), "nothing was saved");
}

#[tokio::test]
async fn body_over_one_mebibyte_is_too_large() {
    let setup = Setup::new();
    let router = setup.router();
    let mut big = dashboard("big", "Big", 1);
    big["description"] = json!("x".repeat(1 << 20));
    let (status, body) = put(&router, "big", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body, json!({"error": "dashboard JSON is larger than the limit of 1048576 bytes"}));
    assert!(!setup.store.exists());
}

#[tokio::test]
async fn delete_removes_the_saved_copy_only() {
    let setup = Setup::new();
    let router = setup.router();
    put(&router, "mine", &dashboard("mine", "Mine", 0)).await;
    assert_eq!(delete(&router, "mine").await, (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(get(&router, "/ui/api/dashboards/mine").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        delete(&router, "mine").await,
        (StatusCode::NOT_FOUND, json!({"error": "dashboard \"mine\" not found"}))
    );
    assert_eq!(
        delete(&router, "lookout-overview").await,
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "dashboard \"lookout-overview\" is provisioned from a file; it cannot be deleted here"})
        )
    );
}

#[tokio::test]
async fn saved_copy_overrides_provisioned_and_delete_reverts_to_it() {
    let setup = Setup::new();
    setup.provision("team.json", &dashboard("team", "Team", 3));
    let router = setup.router();
    let (status, body) = put(&router, "team", &dashboard("team", "Team, edited", 3)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"uid": "team", "version": 4})));

    let body = get(&router, "/ui/api/dashboards/team").await.1;
    assert_eq!((body["source"].as_str(), body["dashboard"]["title"].as_str()), (Some("saved"), Some("Team, edited")));
    let listing = get(&router, "/ui/api/dashboards").await.1;
    let teams: Vec<_> = listed(&listing).into_iter().filter(|(uid, _)| uid == "team").collect();
    assert_eq!(teams, pairs(&[("team", "saved")]));

    assert_eq!(delete(&router, "team").await.0, StatusCode::NO_CONTENT);
    let body = get(&router, "/ui/api/dashboards/team").await.1;
    assert_eq!((body["source"].as_str(), body["dashboard"]["title"].as_str()), (Some("provisioned"), Some("Team")));
    assert_eq!(body["dashboard"]["version"], 3);
    assert_eq!(
        delete(&router, "team").await,
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "dashboard \"team\" is provisioned from a file; it cannot be deleted here"})
        )
    );
}

#[tokio::test]
async fn saving_over_a_builtin_dashboard_keeps_a_copy() {
    let setup = Setup::new();
    let router = setup.router();
    let mut own = get(&router, "/ui/api/dashboards/lookout-overview").await.1["dashboard"].clone();
    own["title"] = json!("Lookout (mine)");
    let (status, body) = put(&router, "lookout-overview", &own).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"uid": "lookout-overview", "version": 2})));
    assert_eq!(get(&router, "/ui/api/dashboards/lookout-overview").await.1["source"], "saved");
}

#[tokio::test]
async fn import_converts_without_saving() {
    let setup = Setup::new();
    let router = setup.router();
    let (status, body) =
        call(&router, Method::POST, "/ui/api/dashboards/import", Some(DEMO[0].json.as_bytes().to_vec())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["skipped"], json!([]));
    assert_eq!(body["dashboard"]["uid"], "lookout-demo-gateway");
    assert_eq!(body["dashboard"]["rows"][0]["panels"].as_array().unwrap().len(), 8);
    assert!(!setup.store.exists());

    let lookout = serde_json::to_vec(&dashboard("x", "X", 1)).unwrap();
    let (status, body) = call(&router, Method::POST, "/ui/api/dashboards/import", Some(lookout)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "not a Grafana dashboard: no \"panels\" array; with \"rows\" it looks like a Lookout dashboard"})
        )
    );
    let (status, body) = call(&router, Method::POST, "/ui/api/dashboards/import", Some(b"nope".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().starts_with("invalid dashboard JSON: expected ident at line 1 column 2"),
        "{body}"
    );
}

#[tokio::test]
async fn saved_file_edited_by_hand_is_reported_not_fatal() {
    let setup = Setup::new();
    let router = setup.router();
    put(&router, "mine", &dashboard("mine", "Mine", 0)).await;
    fs::write(setup.store.join("mine.json"), "{").unwrap();
    fs::write(setup.store.join("other.json"), serde_json::to_vec(&dashboard("wrong", "Wrong", 1)).unwrap()).unwrap();
    let listing = get(&router, "/ui/api/dashboards").await.1;
    let files: Vec<&str> = listing["errors"].as_array().unwrap().iter().map(|e| e["file"].as_str().unwrap()).collect();
    let path = |name: &str| store_file(&setup.store, name);
    assert_eq!(files, [path("mine.json"), path("other.json")]);
    assert_eq!(listing["errors"][1]["error"], "uid \"wrong\" does not match the file name");
    assert_eq!(get(&router, "/ui/api/dashboards/mine").await.0, StatusCode::NOT_FOUND);
}

fn store_file(store: &Path, name: &str) -> String {
    store.join(name).display().to_string()
}

#[tokio::test]
async fn duplicate_provisioned_uid_is_reported_and_the_later_file_wins() {
    let setup = Setup::new();
    setup.provision("a.json", &dashboard("team", "From a", 1));
    setup.provision("b.json", &dashboard("team", "From b", 1));
    let router = setup.router();
    let listing = get(&router, "/ui/api/dashboards").await.1;
    let a = store_file(&setup.provisioned, "a.json");
    let b = store_file(&setup.provisioned, "b.json");
    assert_eq!(
        listing["errors"],
        json!([{"file": b, "error": format!("uid \"team\" is also provisioned by {a}; this file wins")}])
    );
    assert_eq!(get(&router, "/ui/api/dashboards/team").await.1["dashboard"]["title"], "From b");
}

async fn call_as(
    router: &Router,
    tenant: &str,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-scope-orgid", tenant)
        .body(body.map_or_else(Body::empty, |b| Body::from(serde_json::to_vec(b).unwrap())))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
}

#[tokio::test]
async fn saved_dashboards_belong_to_their_tenant() {
    let s = Setup::new();
    let r = s.router();
    let uri = "/ui/api/dashboards/team";
    assert_eq!(call_as(&r, "team-a", Method::PUT, uri, Some(&dashboard("team", "A's", 0))).await.0, StatusCode::OK);
    // Another tenant does not see it, cannot delete it, and may save its own under the same uid.
    assert_eq!(call_as(&r, "team-b", Method::GET, uri, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call_as(&r, "team-b", Method::DELETE, uri, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&r, uri).await.0, StatusCode::NOT_FOUND, "nor does the default tenant");
    assert_eq!(call_as(&r, "team-b", Method::PUT, uri, Some(&dashboard("team", "B's", 0))).await.0, StatusCode::OK);
    let (_, a) = call_as(&r, "team-a", Method::GET, uri, None).await;
    assert_eq!(a["dashboard"]["title"], "A's");
    let (_, listing) = call_as(&r, "team-b", Method::GET, "/ui/api/dashboards", None).await;
    let titles: Vec<&str> =
        listing["dashboards"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"B's") && !titles.contains(&"A's"), "{titles:?}");
    // Built-in dashboards are everyone's.
    assert_eq!(call_as(&r, "team-b", Method::GET, "/ui/api/dashboards/lookout-overview", None).await.0, StatusCode::OK);
    assert!(s.store.join("tenants/team-a/team.json").exists());
    assert_eq!(call_as(&r, "../x", Method::GET, uri, None).await.0, StatusCode::BAD_REQUEST);
}
