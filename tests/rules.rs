//! Alert rules end to end: metrics sent with the OpenTelemetry Python SDK make an alert go
//! pending then firing; a real Alertmanager (Debian's package) shows it, then shows it resolved;
//! a plain webhook gets Alertmanager's version 4 payload; a LogQL rule on error lines fires the
//! same way; broken receivers do not hold evaluation up; a restart in the middle of `for` keeps
//! the time already spent pending. Also `lookout rules check` / `test` exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Alertmanager, Lookout, Receiver, eventually, http_client, now_ms, python};
use serde_json::{Value, json};

/// Sets the gauge `e2e_temperature{room}` with the Python SDK.
fn set_temperature(lookout: &Lookout, room: &str, value: f64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/send_gauge.py");
    let status = Command::new(python())
        .arg(script)
        .arg(format!("http://{}", lookout.grpc))
        .args(["e2e_temperature", &value.to_string(), &format!("room={room}")])
        .status()
        .unwrap();
    assert!(status.success(), "send_gauge.py failed");
}

fn api(lookout: &Lookout, path: &str) -> Value {
    let body = http_client().get(format!("http://{}{path}", lookout.http)).send().unwrap().text().unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The state of the alert named `name` on `/api/v1/alerts`, if it is pending or firing.
fn alert_state(lookout: &Lookout, name: &str) -> Option<(String, String)> {
    let body = api(lookout, "/api/v1/alerts");
    body["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .map(|a| (a["state"].as_str().unwrap().to_owned(), a["activeAt"].as_str().unwrap().to_owned()))
}

const RULES: &str = r#"groups:
  - name: temperature
    interval: 1s
    rules:
      - alert: RoomTooHot
        expr: e2e_temperature > 50
        for: 3s
        labels:
          severity: page
        annotations:
          summary: "Room {{ $labels.room }} is at {{ $value | humanize }} degrees"
      - record: room:temperature:max
        expr: max by (room) (e2e_temperature)
"#;

const LOG_RULES: &str = r#"groups:
  - name: log-errors
    interval: 1s
    rules:
      - alert: CheckoutErrors
        expr: sum by (service_name) (count_over_time({service_name="checkout"} |= "error" [1m])) > 2
        annotations:
          summary: "{{ $value }} error lines from {{ $labels.service_name }}"
"#;

fn alertmanager_config(webhook: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {webhook}\n        send_resolved: true\n"
    )
}

#[test]
fn an_alert_goes_pending_then_firing_reaches_alertmanager_and_webhooks_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules/logs")).unwrap();
    std::fs::write(dir.path().join("rules/temperature.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("rules/logs/errors.yml"), LOG_RULES).unwrap();
    let am_hook = Receiver::start(200);
    let alertmanager = Alertmanager::start(dir.path(), &alertmanager_config(&am_hook.url));
    let webhook = Receiver::start(200);
    let failing = Receiver::start(500);
    let rules = format!("{}/rules/*.yml,{}/rules/logs/*.yml", dir.path().display(), dir.path().display());
    let webhooks = format!("{},{}", webhook.url, failing.url);
    // A receiver that is down and one that answers 500 sit beside the good ones.
    let alertmanagers = format!("{},http://127.0.0.1:1", alertmanager.url);
    let lookout = Lookout::start(
        &dir.path().join("data"),
        &[
            "--rules.path",
            &rules,
            "--rules.alertmanager-url",
            &alertmanagers,
            "--rules.webhook-url",
            &webhooks,
            "--rules.resend-delay",
            "1s",
            "--web.external-url",
            "http://lookout.example:3000",
        ],
    );

    // The rules are loaded and shown as Prometheus shows them.
    let groups = api(&lookout, "/api/v1/rules");
    let names: Vec<&str> =
        groups["data"]["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["log-errors", "temperature"], "{groups}");

    set_temperature(&lookout, "kitchen", 80.0);
    let (state, _) = eventually("RoomTooHot pending", || alert_state(&lookout, "RoomTooHot"));
    assert_eq!(state, "pending", "for: 3s keeps it pending first");
    eventually("RoomTooHot firing", || alert_state(&lookout, "RoomTooHot").filter(|(s, _)| s == "firing"));

    // The recording rule wrote its series back; ALERTS is queryable.
    let query = |q: &str| api(&lookout, &format!("/api/v1/query?query={}", common::urlencode(q)));
    eventually("recorded series", || {
        let r = query("room:temperature:max");
        (r["data"]["result"][0]["value"][1] == "80").then_some(())
    });
    eventually("ALERTS series", || {
        let r = query("ALERTS{alertname=\"RoomTooHot\",alertstate=\"firing\"}");
        (r["data"]["result"][0]["metric"]["room"] == "kitchen").then_some(())
    });

    // Alertmanager has it, labels and expanded annotations intact.
    let alert = eventually("alert in alertmanager", || {
        alertmanager.alerts(&[("active", "true")]).into_iter().find(|a| a["labels"]["alertname"] == "RoomTooHot")
    });
    assert_eq!(alert["labels"]["room"], "kitchen");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "Room kitchen is at 80 degrees");
    assert_eq!(alert["status"]["state"], "active");
    assert!(alert["generatorURL"].as_str().unwrap().starts_with("http://lookout.example:3000/graph?g0.expr="));

    // The plain webhook got Alertmanager's version 4 payload, firing.
    let firing = eventually("webhook firing", || {
        webhook.bodies().into_iter().find(|b| b["status"] == "firing" && b["commonLabels"]["alertname"] == "RoomTooHot")
    });
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["alerts"][0]["labels"]["room"], "kitchen");
    assert_eq!(firing["alerts"][0]["status"], "firing");
    // Alertmanager's own webhook call carries the same top-level fields as ours.
    let from_am =
        eventually("alertmanager's webhook", || am_hook.bodies().into_iter().find(|b| b["status"] == "firing"));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&firing), keys(&from_am));
    assert_eq!(keys(&firing["alerts"][0]), keys(&from_am["alerts"][0]));

    // Broken receivers are counted, and evaluation went on regardless.
    eventually("errors counted for the broken receivers", || {
        let text = http_client().get(format!("http://{}/metrics", lookout.http)).send().unwrap().text().unwrap();
        let errors = |url: &str| {
            text.lines().any(|l| {
                l.starts_with("lookout_rules_notifications_errors_total") && l.contains(url) && !l.ends_with(" 0")
            })
        };
        (errors(&failing.url) && errors("127.0.0.1:1")).then_some(())
    });

    // The condition clears: resolved in Alertmanager and on the webhook.
    set_temperature(&lookout, "kitchen", 20.0);
    eventually("alert gone from lookout", || alert_state(&lookout, "RoomTooHot").is_none().then_some(()));
    eventually("alert resolved in alertmanager", || {
        let active = alertmanager.alerts(&[("active", "true")]);
        (!active.iter().any(|a| a["labels"]["alertname"] == "RoomTooHot")).then_some(())
    });
    eventually("webhook resolved", || {
        webhook
            .bodies()
            .into_iter()
            .find(|b| b["status"] == "resolved" && b["commonLabels"]["alertname"] == "RoomTooHot")
    });

    // A LogQL rule over error lines fires the same way.
    let now_ns = now_ms() * 1_000_000;
    let values: Vec<Value> = (0..5).map(|i| json!([(now_ns + i).to_string(), format!("payment error {i}")])).collect();
    let push = json!({"streams": [{"stream": {"service_name": "checkout"}, "values": values}]});
    let status = http_client()
        .post(format!("http://{}/loki/api/v1/push", lookout.http))
        .header("content-type", "application/json")
        .body(push.to_string())
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
    eventually("CheckoutErrors firing", || alert_state(&lookout, "CheckoutErrors").filter(|(s, _)| s == "firing"));
    let alert = eventually("log alert in alertmanager", || {
        alertmanager.alerts(&[("active", "true")]).into_iter().find(|a| a["labels"]["alertname"] == "CheckoutErrors")
    });
    assert_eq!(alert["labels"]["service_name"], "checkout");
    assert_eq!(alert["annotations"]["summary"], "5 error lines from checkout");

    // Prometheus's list of Alertmanagers.
    let listed = api(&lookout, "/api/v1/alertmanagers");
    let urls: Vec<&str> =
        listed["data"]["activeAlertmanagers"].as_array().unwrap().iter().map(|a| a["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [format!("{}/api/v2/alerts", alertmanager.url).as_str(), "http://127.0.0.1:1/api/v2/alerts"]);

    // Rules report health and evaluation times; filters work.
    let alerting = api(&lookout, "/api/v1/rules?type=alert&rule_name[]=CheckoutErrors");
    let group = &alerting["data"]["groups"][0];
    assert_eq!(group["name"], "log-errors");
    assert_eq!(group["rules"][0]["health"], "ok");
    assert_eq!(group["rules"][0]["type"], "alerting");
    assert_eq!(alerting["data"]["groups"].as_array().unwrap().len(), 1);
}

#[test]
fn a_restart_in_the_middle_of_for_keeps_the_pending_time() {
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("slow.yml");
    std::fs::write(&rules_file, RULES.replace("for: 3s", "for: 1h")).unwrap();
    let data = dir.path().join("data");
    let flags = ["--rules.path", rules_file.to_str().unwrap(), "--rules.alert.for-grace-period", "1s"];
    let lookout = Lookout::start(&data, &flags);
    set_temperature(&lookout, "attic", 90.0);
    let (_, active_at) = eventually("pending", || alert_state(&lookout, "RoomTooHot"));
    // Let ALERTS_FOR_STATE be written for a few evaluations, then stop hard.
    eventually("pending for 4s", || {
        let r = api(&lookout, "/api/v1/query?query=count_over_time(ALERTS_FOR_STATE%5B1m%5D)");
        (r["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<u32>().ok()) >= Some(5)).then_some(())
    });
    lookout.kill9();
    let lookout = Lookout::start(&data, &flags);
    let restarted_at = now_ms();
    let (state, restored) = eventually("pending again after the restart", || alert_state(&lookout, "RoomTooHot"));
    assert_eq!(state, "pending");
    // Without the restore, activeAt would be the first evaluation after the restart; with it,
    // it lies before the restart by the time already spent pending.
    let restored_ms = rfc3339_ms(&restored);
    assert!(
        restored_ms <= restarted_at - 2_500,
        "activeAt {restored} (was {active_at}) not moved back before the restart"
    );
    assert!(restored_ms > rfc3339_ms(&active_at), "the downtime does not count as pending time");
}

#[test]
fn reload_keeps_the_state_of_unchanged_rules_and_refuses_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    let slow = RULES.replace("for: 3s", "for: 1h");
    std::fs::write(&file, &slow).unwrap();
    let lookout = Lookout::start(&dir.path().join("data"), &["--rules.path", file.to_str().unwrap()]);
    set_temperature(&lookout, "hall", 70.0);
    let (_, active_at) = eventually("pending", || alert_state(&lookout, "RoomTooHot"));
    let rule_names = |lookout: &Lookout| -> Vec<String> {
        let body = api(lookout, "/api/v1/rules");
        body["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let reload = |lookout: &Lookout| http_client().post(format!("http://{}/-/reload", lookout.http)).send().unwrap();

    // A new rule in the same group: the alert keeps its activeAt.
    let extra = "      - record: room:temperature:min\n        expr: min by (room) (e2e_temperature)\n";
    std::fs::write(&file, format!("{slow}{extra}")).unwrap();
    assert_eq!(reload(&lookout).status().as_u16(), 200);
    assert_eq!(rule_names(&lookout), ["RoomTooHot", "room:temperature:max", "room:temperature:min"]);
    eventually("evaluated after the reload", || {
        let body = api(&lookout, "/api/v1/rules");
        (body["data"]["groups"][0]["rules"][2]["health"] == "ok").then_some(())
    });
    assert_eq!(alert_state(&lookout, "RoomTooHot").unwrap().1, active_at);

    // A broken file is refused and the running rules stay.
    std::fs::write(&file, "groups:\n  - name: temperature\n    rules:\n      - record: x\n        expr: 'sum('\n")
        .unwrap();
    let refused = reload(&lookout);
    assert_eq!(refused.status().as_u16(), 500);
    assert!(refused.text().unwrap().contains("could not parse expression"));
    assert_eq!(rule_names(&lookout).len(), 3);

    // SIGHUP reloads too.
    std::fs::write(&file, &slow).unwrap();
    let hup = Command::new("kill").args(["-HUP", &lookout.pid().to_string()]).status().unwrap();
    assert!(hup.success());
    eventually("reloaded on SIGHUP", || (rule_names(&lookout).len() == 2).then_some(()));
    assert_eq!(alert_state(&lookout, "RoomTooHot").unwrap().1, active_at);
}

#[test]
fn rules_check_and_test_exit_like_promtool() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/testdata/promtool");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .arg("rules")
            .args(args)
            .current_dir(&testdata)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    assert_eq!(run(&["check", "rules.yml"]).0, Some(0));
    let (code, out) = run(&["check", "rules-bad.yml"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("undefined variable \"$label\""), "{out}");
    assert_eq!(run(&["check", "--lint-fatal", "prometheus-rules.lint.yml"]).0, Some(3));
    let (code, out) = run(&["test", "long-period.yml"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&["test", "failing.yml"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("name: Failing test"), "{out}");
    assert_eq!(run(&["test", "--run", "correct test", "rules_run.yml"]).0, Some(0));
}

/// Milliseconds of an RFC 3339 UTC time as the API prints it (`2026-11-27T11:00:00.25Z`).
fn rfc3339_ms(text: &str) -> i64 {
    let (date, time) = text.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    let millis: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000) + millis
}
