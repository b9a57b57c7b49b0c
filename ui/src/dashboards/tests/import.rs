//! The Grafana import, on the demo's dashboards and on a hand-written one that exercises every
//! mapping.

use serde_json::{Value, json};

use super::DEMO;
use crate::Error;
use crate::dashboards::grafana::import;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Grafana panels in reading order, as the import sorts them.
fn grafana_panels(dashboard: &Value) -> Vec<&Value> {
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    panels.sort_by_key(|p| (p["gridPos"]["y"].as_u64().unwrap(), p["gridPos"]["x"].as_u64().unwrap()));
    panels
}

#[test]
fn demo_dashboards_import_with_nothing_skipped() {
    let expected = [
        ("gateway.json", 8, "lookout-demo-gateway"),
        ("services.json", 5, "lookout-demo-services"),
        ("broker.json", 6, "lookout-demo-broker"),
    ];
    for (builtin, (file, panel_count, uid)) in DEMO.iter().zip(expected) {
        assert_eq!(builtin.file_name, file);
        let grafana = parse(builtin.json);
        let imported = import(&grafana).unwrap();
        assert_eq!(imported.skipped, Vec::<String>::new(), "{file}");
        let d = &imported.dashboard;
        assert_eq!(d.uid, uid);
        assert_eq!(d.title, grafana["title"].as_str().unwrap());
        assert_eq!(d.description, grafana["description"].as_str().unwrap());
        assert_eq!(d.tags, vec!["lookout-demo".to_owned()]);
        assert_eq!((d.time.from.as_str(), d.time.to.as_str()), ("now-15m", "now"));
        assert_eq!(d.refresh, "5s");
        assert!(d.variables.is_empty());
        assert_eq!(d.rows.len(), 1, "{file}: no row panels, so one untitled row");
        assert_eq!(d.rows[0].title, "");
        let panels = &d.rows[0].panels;
        assert_eq!(panels.len(), panel_count, "{file}");
        for (panel, source) in panels.iter().zip(grafana_panels(&grafana)) {
            assert_eq!(panel.id, source["id"].as_u64().unwrap());
            assert_eq!(panel.title, source["title"].as_str().unwrap());
            assert_eq!(panel.kind, source["type"].as_str().unwrap(), "{file}: timeseries and stat map to themselves");
            assert_eq!((panel.width, panel.height), (12, 8));
            assert_eq!(panel.unit, source["fieldConfig"]["defaults"]["unit"].as_str().unwrap());
            let targets = source["targets"].as_array().unwrap();
            assert_eq!(panel.queries.len(), targets.len());
            for (query, target) in panel.queries.iter().zip(targets) {
                assert_eq!(query.lang, "promql");
                assert_eq!(query.expr, target["expr"].as_str().unwrap());
                assert!(
                    query.expr.contains("[$__rate_interval]") || !target["expr"].as_str().unwrap().contains("rate(")
                );
                assert_eq!(query.legend, target["legendFormat"].as_str().unwrap());
            }
        }
    }
}

#[test]
fn broker_dashboard_has_one_stat_panel() {
    let imported = import(&parse(DEMO[2].json)).unwrap();
    let kinds: Vec<&str> = imported.dashboard.rows[0].panels.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds, ["timeseries", "timeseries", "timeseries", "timeseries", "timeseries", "stat"]);
}

#[test]
fn kitchen_sink_matches_the_expected_lookout_dashboard() {
    let grafana = parse(include_str!("../testdata/grafana-kitchen-sink.json"));
    let imported = import(&grafana).unwrap();
    let got = json!({ "dashboard": imported.dashboard, "skipped": imported.skipped });
    let expected_path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/dashboards/testdata/grafana-kitchen-sink.expected.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let expected = parse(&std::fs::read_to_string(expected_path).unwrap());
    assert_eq!(
        got,
        expected,
        "got:\n{}\n(UPDATE_GOLDEN=1 rewrites the expected file; review the diff)",
        serde_json::to_string_pretty(&got).unwrap()
    );
}

#[test]
fn wrapped_dashboard_imports_like_the_plain_one() {
    let plain = parse(DEMO[0].json);
    let wrapped = json!({ "dashboard": plain.clone(), "meta": { "slug": "demo-gateway" } });
    assert_eq!(import(&wrapped).unwrap().dashboard, import(&plain).unwrap().dashboard);
}

#[test]
fn missing_uid_is_derived_from_the_title() {
    let mut grafana = parse(DEMO[0].json);
    grafana.as_object_mut().unwrap().remove("uid");
    grafana["title"] = json!("Shop: Orders / Payments (EU)");
    let imported = import(&grafana).unwrap();
    assert_eq!(imported.dashboard.uid, "shop-orders-payments-eu");
    assert!(imported.skipped.is_empty());

    grafana["uid"] = json!("not.valid");
    let imported = import(&grafana).unwrap();
    assert_eq!(imported.dashboard.uid, "shop-orders-payments-eu");
    assert_eq!(imported.skipped, ["uid \"not.valid\" is not a valid Lookout uid; using \"shop-orders-payments-eu\""]);
}

#[test]
fn datasource_variables_resolve_or_fall_back_to_inference() {
    let grafana = json!({
        "title": "Inferred",
        "panels": [
            {"id": 1, "type": "logs", "title": "Unknown on logs", "datasource": "$nowhere", "targets": [{"expr": "{app=\"x\"}"}]},
            {"id": 2, "type": "timeseries", "title": "Unknown elsewhere", "datasource": {"uid": "${nowhere}"}, "targets": [{"expr": "up"}]},
            {"id": 3, "type": "table", "title": "Tempo query", "targets": [{"query": "{ status = error }"}]},
            {"id": 4, "type": "stat", "title": "Named datasource", "datasource": "My Prom", "targets": [{"expr": "up", "legendFormat": "__auto"}]},
            {"id": 5, "type": "stat", "title": "Grafana builtin", "datasource": {"type": "datasource", "uid": "grafana"}, "targets": [{"refId": "A"}]}
        ]
    });
    let imported = import(&grafana).unwrap();
    let panels = &imported.dashboard.rows[0].panels;
    let summary: Vec<(&str, &str, &str)> =
        panels.iter().map(|p| (p.kind.as_str(), p.queries[0].lang.as_str(), p.queries[0].expr.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("logs", "logql", "{app=\"x\"}"),
            ("timeseries", "promql", "up"),
            ("traces", "traceql", "{ status = error }"),
            ("stat", "promql", "up"),
        ]
    );
    assert_eq!(imported.dashboard.uid, "inferred");
    assert_eq!(
        imported.skipped,
        [
            "panel \"Grafana builtin\" query A: datasource type \"grafana\" not supported",
            "panel \"Grafana builtin\": no query left; panel skipped"
        ]
    );
}

#[test]
fn not_a_grafana_dashboard_is_an_error() {
    for (value, message) in [
        (json!([1, 2]), "not a Grafana dashboard: expected a JSON object"),
        (json!({"title": "x"}), "not a Grafana dashboard: no \"panels\" array"),
        (json!({"title": "old", "schemaVersion": 14, "rows": []}), "before 5.0"),
        (json!({"dashboard": {"title": "x", "panels": {}}}), "no \"panels\" array"),
    ] {
        let err = import(&value).unwrap_err();
        assert!(matches!(err, Error::NotGrafana(_)), "{err}");
        assert!(err.to_string().contains(message), "{err}");
    }
}

#[test]
fn empty_dashboard_imports_with_no_rows() {
    let imported = import(&json!({"uid": "empty", "title": "Empty", "panels": [], "refresh": false})).unwrap();
    assert!(imported.dashboard.rows.is_empty());
    assert_eq!(imported.dashboard.refresh, "");
    assert!(imported.skipped.is_empty());
}
