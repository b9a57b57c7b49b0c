//! Tests of the dashboard model, the Grafana import, the store and the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod import;
mod model;

use super::BuiltinDashboard;

/// The demo's Grafana dashboards, as the binary passes them.
const DEMO: [BuiltinDashboard; 3] = [
    BuiltinDashboard { file_name: "gateway.json", json: include_str!("../../../../demo/dashboards/gateway.json") },
    BuiltinDashboard { file_name: "services.json", json: include_str!("../../../../demo/dashboards/services.json") },
    BuiltinDashboard { file_name: "broker.json", json: include_str!("../../../../demo/dashboards/broker.json") },
];
