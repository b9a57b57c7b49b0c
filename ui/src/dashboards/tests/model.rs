//! The dashboard model: defaults of a minimal file, validation messages that name the field, and
//! Lookout's own dashboard.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::dashboards::LOOKOUT_DASHBOARD;
use crate::dashboards::model::{Dashboard, is_time};
use crate::dashboards::store::read_dashboard;

fn minimal() -> Value {
    json!({
        "uid": "minimal",
        "title": "Minimal",
        "rows": [{"panels": [{"id": 1, "type": "stat", "queries": [{"lang": "promql", "expr": "up"}]}]}]
    })
}

fn validate(value: &Value) -> Result<Dashboard, String> {
    let dashboard: Dashboard = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    dashboard.validate().map_err(|e| e.to_string())?;
    Ok(dashboard)
}

#[test]
fn minimal_file_gets_defaults() {
    let d = validate(&minimal()).unwrap();
    assert_eq!(d.description, "");
    assert!(d.tags.is_empty());
    assert_eq!((d.time.from.as_str(), d.time.to.as_str()), ("now-1h", "now"));
    assert_eq!(d.refresh, "");
    assert_eq!(d.version, 1);
    assert!(d.variables.is_empty());
    let row = &d.rows[0];
    assert_eq!((row.title.as_str(), row.collapsed), ("", false));
    let panel = &row.panels[0];
    assert_eq!((panel.title.as_str(), panel.width, panel.height, panel.unit.as_str()), ("", 12, 8, ""));
    assert_eq!(panel.queries[0].legend, "");
    assert!(panel.options.is_empty());
}

#[test]
fn serialized_model_has_every_field() {
    let d = validate(&minimal()).unwrap();
    let value = serde_json::to_value(&d).unwrap();
    assert_eq!(
        value,
        json!({
            "uid": "minimal", "title": "Minimal", "description": "", "tags": [],
            "time": {"from": "now-1h", "to": "now"}, "refresh": "", "version": 1, "variables": [],
            "rows": [{"title": "", "collapsed": false, "panels": [{
                "id": 1, "title": "", "description": "", "type": "stat", "width": 12, "height": 8, "unit": "",
                "queries": [{"lang": "promql", "expr": "up", "legend": ""}], "options": {}
            }]}]
        })
    );
}

/// Each broken field and the start of the message it gets.
#[test]
fn validation_errors_name_the_field() {
    let variable = |v: Value| {
        let mut d = minimal();
        d["variables"] = json!([v]);
        d
    };
    let panel = |key: &str, v: Value| {
        let mut d = minimal();
        d["rows"][0]["panels"][0][key] = v;
        d
    };
    let cases = [
        (json!({"uid": "a b", "title": "x", "rows": []}), "uid: must be 1 to 64 letters, digits, _ or -; got \"a b\""),
        (json!({"uid": "x".repeat(65), "title": "x", "rows": []}), "uid: must be 1 to 64"),
        (json!({"uid": "import", "title": "x", "rows": []}), "uid: \"import\" is reserved"),
        (json!({"uid": "ok", "title": " ", "rows": []}), "title: must not be empty"),
        (
            json!({"uid": "ok", "title": "x", "time": {"from": "yesterday", "to": "now"}, "rows": []}),
            "time.from: \"yesterday\"",
        ),
        (json!({"uid": "ok", "title": "x", "time": {"from": "now-1h", "to": "now+"}, "rows": []}), "time.to: \"now+\""),
        (json!({"uid": "ok", "title": "x", "refresh": "fast", "rows": []}), "refresh: \"fast\" is not a duration"),
        (panel("type", json!("pie")), "rows[0].panels[0].type: unknown panel type \"pie\""),
        (panel("width", json!(0)), "rows[0].panels[0].width: must be 1 to 24 grid columns; got 0"),
        (panel("width", json!(25)), "rows[0].panels[0].width: must be 1 to 24"),
        (panel("height", json!(65)), "rows[0].panels[0].height: must be 1 to 64 grid rows; got 65"),
        (
            panel("queries", json!([{"lang": "promql", "expr": "up"}, {"lang": "sql", "expr": "x"}])),
            "rows[0].panels[0].queries[1].lang: unknown query language \"sql\"",
        ),
        (variable(json!({"name": "a-b", "type": "custom", "options": ["1"]})), "variables[0].name: \"a-b\""),
        (
            variable(json!({"name": "v", "type": "interval", "options": ["1m"]})),
            "variables[0].type: unknown variable type \"interval\"",
        ),
        (
            variable(json!({"name": "v", "type": "query", "query": "metrics(x)"})),
            "variables[0].query: \"metrics(x)\" is not supported",
        ),
        (
            variable(json!({"name": "v", "type": "custom"})),
            "variables[0].options: a custom variable needs at least one option",
        ),
        (
            variable(json!({"name": "v", "type": "custom", "options": ["a"], "current": 3})),
            "variables[0].current: must be null",
        ),
    ];
    for (value, message) in cases {
        let err = validate(&value).unwrap_err();
        assert!(err.starts_with(message), "{err:?} does not start with {message:?}");
    }
}

#[test]
fn duplicates_are_errors() {
    let mut d = minimal();
    d["rows"] = json!([
        {"panels": [{"id": 1, "type": "stat", "queries": []}, {"id": 2, "type": "stat", "queries": []}]},
        {"panels": [{"id": 2, "type": "table", "queries": []}]}
    ]);
    assert_eq!(validate(&d).unwrap_err(), "rows[1].panels[0].id: duplicate panel id 2 (also rows[0].panels[1])");

    let mut d = minimal();
    d["variables"] = json!([
        {"name": "v", "type": "custom", "options": ["a"]},
        {"name": "v", "type": "query", "query": "label_values(job)"}
    ]);
    assert_eq!(validate(&d).unwrap_err(), "variables[1].name: duplicate variable name \"v\" (also variables[0])");
}

#[test]
fn unknown_fields_are_named() {
    let mut d = minimal();
    d["rows"][0]["panels"][0]["heigth"] = json!(4);
    let err = validate(&d).unwrap_err();
    assert!(err.contains("unknown field `heigth`"), "{err}");
}

#[test]
fn times_in_every_notation() {
    for ok in [
        "now",
        "now-1h",
        "now-7d/d",
        "now/w",
        "now+30m-1h",
        "1714550400000",
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.123+02:00",
    ] {
        assert!(is_time(ok), "{ok}");
    }
    for bad in [
        "",
        "now-",
        "now-1",
        "now-1x",
        "now/dd",
        "yesterday",
        "2024-05-01",
        "2024-13-01T00:00:00Z",
        "2024-05-01T12:00:00",
    ] {
        assert!(!is_time(bad), "{bad}");
    }
}

#[test]
fn lookout_dashboard_is_valid() {
    let (d, skipped) = read_dashboard(LOOKOUT_DASHBOARD.json).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(d.uid, "lookout-overview");
    let rows: Vec<&str> = d.rows.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(rows, ["Ingest", "Storage", "Queries", "Write-ahead log and rules"]);
    let panels: Vec<_> = d.rows.iter().flat_map(|r| &r.panels).collect();
    assert_eq!(panels.len(), 15);
    let kinds: HashSet<&str> = panels.iter().map(|p| p.kind.as_str()).collect();
    assert!(kinds.contains("stat") && kinds.contains("timeseries") && kinds.contains("gauge"), "{kinds:?}");
    for q in panels.iter().flat_map(|p| &p.queries) {
        assert_eq!(q.lang, "promql");
        assert!(q.expr.contains("job=\"lookout\""), "{}", q.expr);
    }
}
