//! Alert states, notices, staleness, limits and the `for` restore, driven step by step with a
//! scripted query function (no clock: every evaluation gets its timestamp).

use std::collections::BTreeMap;
use std::sync::Mutex;

use lookout_storage::metrics::{Matcher, SeriesData};
use lookout_storage::{Labels, Sample, Tenant, is_stale_nan};

use super::*;
use crate::rule::AlertState;
use crate::rulefmt::{GroupSpec, RuleKind, RuleSpec};
use crate::{EvalContext, QuerySample, RuleAppender, RuleQuerier};

/// Answers every query with what `answer` says for its time, and keeps what is written.
#[derive(Default)]
struct Script {
    answers: Mutex<BTreeMap<i64, Vec<QuerySample>>>,
    written: Mutex<Vec<(i64, Labels, f64)>>,
    for_state: Mutex<Vec<SeriesData>>,
}

impl Script {
    fn answer(&self, t: i64, samples: &[(&[(&str, &str)], f64)]) {
        let samples =
            samples.iter().map(|(l, v)| QuerySample { labels: Labels::from_pairs(l.iter().copied()), v: *v }).collect();
        self.answers.lock().unwrap().insert(t, samples);
    }

    fn written_at(&self, t: i64) -> Vec<(String, f64)> {
        let written = self.written.lock().unwrap();
        written.iter().filter(|(at, _, _)| *at == t).map(|(_, l, v)| (l.to_string(), *v)).collect()
    }
}

impl RuleQuerier for Script {
    fn query(&self, _: &Tenant, _: Source, _: &str, t: i64) -> Result<Vec<QuerySample>, String> {
        Ok(self.answers.lock().unwrap().get(&t).cloned().unwrap_or_default())
    }

    fn select(&self, _: &Tenant, _: &[Matcher], _: i64, _: i64) -> Result<Vec<SeriesData>, String> {
        Ok(self.for_state.lock().unwrap().clone())
    }
}

impl RuleAppender for Script {
    fn append(&self, _: &Tenant, t: i64, samples: Vec<(Labels, f64)>) -> Result<(), String> {
        self.written.lock().unwrap().extend(samples.into_iter().map(|(l, v)| (t, l, v)));
        Ok(())
    }
}

fn alert(name: &str, for_ms: i64, keep_ms: i64) -> RuleSpec {
    RuleSpec {
        kind: RuleKind::Alert(name.into()),
        expr: "x > 1".into(),
        for_ms,
        keep_firing_for_ms: keep_ms,
        labels: BTreeMap::from([("severity".into(), "page".into())]),
        annotations: BTreeMap::from([("summary".into(), "{{ $labels.instance }} at {{ $value }}".into())]),
    }
}

fn group(rules: Vec<RuleSpec>, limit: usize) -> Group {
    let spec = GroupSpec {
        name: "g".into(),
        interval: Some(1000),
        query_offset: None,
        limit,
        labels: BTreeMap::new(),
        source: Source::Promql,
        rules,
    };
    let mut g = Group::new("f.yml", spec, 60_000);
    g.should_restore = false;
    for r in &mut g.rules {
        r.restored = true;
    }
    g
}

fn run(g: &mut Group, script: &Script, t: i64) -> Vec<Notice> {
    let labels = BTreeMap::new();
    let tenant = Tenant::default();
    let ctx = EvalContext {
        tenant: &tenant,
        querier: script,
        appender: script,
        source: Source::Promql,
        external_labels: &labels,
        external_url: "",
    };
    g.eval(&ctx, t, 10_000)
}

const HOST: &[(&str, &str)] = &[("__name__", "x"), ("instance", "a")];

fn state(g: &Group) -> Option<AlertState> {
    g.rules[0].alerts.values().next().map(|a| a.state)
}

#[test]
fn an_alert_is_pending_for_its_for_then_fires_and_writes_alerts_series() {
    let script = Script::default();
    let mut g = group(vec![alert("High", 2000, 0)], 0);
    for t in [0, 1000, 2000] {
        script.answer(t, &[(HOST, 5.0)]);
    }
    assert!(run(&mut g, &script, 0).is_empty(), "pending alerts are not sent");
    assert_eq!(state(&g), Some(AlertState::Pending));
    assert_eq!(
        script.written_at(0),
        vec![
            ("ALERTS{alertname=\"High\", alertstate=\"pending\", instance=\"a\", severity=\"page\"}".into(), 1.0),
            ("ALERTS_FOR_STATE{alertname=\"High\", instance=\"a\", severity=\"page\"}".into(), 0.0),
        ]
    );
    run(&mut g, &script, 1000);
    assert_eq!(state(&g), Some(AlertState::Pending));
    let sent = run(&mut g, &script, 2000);
    assert_eq!(state(&g), Some(AlertState::Firing));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].alert.annotations["summary"], "a at 5");
    assert_eq!(sent[0].alert.valid_until, 2000 + 4 * 10_000, "valid for four resend delays");
    assert!(script.written_at(2000).iter().any(|(l, _)| l.contains("alertstate=\"firing\"")));
}

#[test]
fn a_pending_alert_that_clears_is_dropped_and_a_firing_one_resolves_and_is_kept_for_its_notice() {
    let script = Script::default();
    let mut g = group(vec![alert("High", 1000, 0)], 0);
    script.answer(0, &[(HOST, 5.0)]);
    run(&mut g, &script, 0);
    run(&mut g, &script, 500); // cleared while pending
    assert_eq!(state(&g), None);

    script.answer(1000, &[(HOST, 5.0)]);
    script.answer(2000, &[(HOST, 5.0)]);
    run(&mut g, &script, 1000);
    assert_eq!(run(&mut g, &script, 2000).len(), 1, "fires at active + for");
    let resolved = run(&mut g, &script, 3000);
    assert_eq!(state(&g), Some(AlertState::Inactive));
    assert_eq!(resolved.len(), 1, "the resolved notice goes out at once");
    assert_eq!(resolved[0].alert.resolved_at, Some(3000));
    // ALERTS stops: a staleness marker ends each series.
    let at_3000 = script.written.lock().unwrap().iter().filter(|(t, _, _)| *t == 3000).count();
    assert_eq!(at_3000, 2);
    assert!(script.written.lock().unwrap().iter().filter(|(t, _, _)| *t == 3000).all(|(_, _, v)| is_stale_nan(*v)));
    // Kept (and resent) for 15 minutes, then forgotten.
    run(&mut g, &script, 3000 + 15 * 60_000);
    assert_eq!(state(&g), Some(AlertState::Inactive));
    run(&mut g, &script, 3001 + 15 * 60_000);
    assert_eq!(state(&g), None);
}

#[test]
fn firing_alerts_are_resent_after_the_resend_delay() {
    let script = Script::default();
    let mut g = group(vec![alert("High", 0, 0)], 0);
    for t in (0..=30_000).step_by(1000) {
        script.answer(t, &[(HOST, 5.0)]);
    }
    let sends: Vec<i64> = (0..=30_000).step_by(1000).filter(|t| !run(&mut g, &script, *t).is_empty()).collect();
    assert_eq!(sends, vec![0, 11_000, 22_000], "sent when firing, then when more than 10 s passed");
}

#[test]
fn keep_firing_for_holds_a_cleared_alert() {
    let script = Script::default();
    let mut g = group(vec![alert("High", 0, 2000)], 0);
    script.answer(0, &[(HOST, 5.0)]);
    run(&mut g, &script, 0);
    assert_eq!(state(&g), Some(AlertState::Firing));
    run(&mut g, &script, 1000);
    assert_eq!(state(&g), Some(AlertState::Firing), "cleared 0 s ago");
    run(&mut g, &script, 2000);
    assert_eq!(state(&g), Some(AlertState::Firing), "cleared 1 s ago");
    run(&mut g, &script, 3000);
    assert_eq!(state(&g), Some(AlertState::Inactive), "kept firing for 2 s");
}

#[test]
fn limits_and_duplicate_label_sets_fail_the_rule() {
    let script = Script::default();
    script.answer(0, &[(HOST, 5.0), (&[("__name__", "x"), ("instance", "b")], 6.0)]);
    let mut g = group(vec![alert("High", 0, 0)], 1);
    run(&mut g, &script, 0);
    assert_eq!(g.rules[0].last_error.as_deref(), Some("exceeded limit of 1 with 2 alerts"));
    assert_eq!(g.rules[0].health, crate::rule::Health::Err);

    let record = RuleSpec {
        kind: RuleKind::Record("r".into()),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        ..alert("", 0, 0)
    };
    script.answer(1000, &[(&[("__name__", "x"), ("i", "1")], 1.0), (&[("__name__", "y"), ("i", "1")], 2.0)]);
    let mut g = group(vec![record], 0);
    run(&mut g, &script, 1000);
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
}

#[test]
fn recorded_series_that_vanish_get_a_staleness_marker() {
    let script = Script::default();
    let record = RuleSpec {
        kind: RuleKind::Record("job:x:sum".into()),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        ..alert("", 0, 0)
    };
    let mut g = group(vec![record], 0);
    script.answer(0, &[(HOST, 1.0), (&[("__name__", "x"), ("instance", "b")], 2.0)]);
    script.answer(1000, &[(HOST, 3.0)]);
    run(&mut g, &script, 0);
    run(&mut g, &script, 1000);
    let at_1000 = script.written_at(1000);
    assert_eq!(at_1000[0], ("job:x:sum{instance=\"a\"}".into(), 3.0));
    assert_eq!(at_1000[1].0, "job:x:sum{instance=\"b\"}");
    assert!(is_stale_nan(at_1000[1].1));
}

#[test]
fn restore_counts_the_time_spent_pending_before_a_restart_but_not_the_downtime() {
    let script = Script::default();
    let mut g = group(vec![alert("High", 3_600_000, 0)], 0);
    g.should_restore = true;
    g.rules[0].restored = false;
    // Before the restart the alert was active from t=100 s; the last ALERTS_FOR_STATE sample
    // was written at 400 s. Lookout comes back at 1000 s.
    let mut labels = Labels::from_pairs([("alertname", "High"), ("instance", "a"), ("severity", "page")]);
    labels.set("__name__", "ALERTS_FOR_STATE");
    script.for_state.lock().unwrap().push(SeriesData {
        labels,
        samples: vec![Sample { t: 400_000, v: 100.0 }],
        histograms: Vec::new(),
    });
    script.answer(1_000_000, &[(HOST, 5.0)]);
    run(&mut g, &script, 1_000_000);
    assert!(script.written_at(1_000_000).is_empty(), "no ALERTS before the state is restored");
    let labels = BTreeMap::new();
    let tenant = Tenant::default();
    let ctx = EvalContext {
        tenant: &tenant,
        querier: &script,
        appender: &script,
        source: Source::Promql,
        external_labels: &labels,
        external_url: "",
    };
    g.restore_for_state(&ctx, 1_000_000, RestoreOptions { outage_tolerance_ms: 3_600_000, grace_period_ms: 600_000 });
    let active_at = g.rules[0].alerts.values().next().unwrap().active_at;
    assert_eq!(active_at, 100_000 + (1_000_000 - 400_000), "300 s already pending are kept");
    assert!(g.rules[0].restored);

    // Nearly done pending: the grace period still applies.
    let mut g = group(vec![alert("High", 700_000, 0)], 0);
    g.rules[0].restored = false;
    run(&mut g, &script, 1_000_000);
    g.restore_for_state(&ctx, 1_000_000, RestoreOptions { outage_tolerance_ms: 3_600_000, grace_period_ms: 600_000 });
    let active_at = g.rules[0].alerts.values().next().unwrap().active_at;
    assert_eq!(active_at, 1_000_000 + 600_000 - 700_000, "fires no sooner than the grace period");
}

#[test]
fn query_offset_moves_the_query_and_the_output_back() {
    let script = Script::default();
    let record = RuleSpec {
        kind: RuleKind::Record("r".into()),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        ..alert("", 0, 0)
    };
    let mut g = group(vec![record], 0);
    g.spec.query_offset = Some(30_000);
    script.answer(70_000, &[(HOST, 7.0)]);
    run(&mut g, &script, 100_000);
    assert_eq!(script.written_at(70_000), vec![("r{instance=\"a\"}".into(), 7.0)]);
}

#[test]
fn group_labels_are_added_and_rule_labels_win() {
    let mut spec = alert("High", 0, 0);
    spec.labels.insert("team".into(), "db".into());
    let g = Group::new(
        "f.yml",
        GroupSpec {
            name: "g".into(),
            interval: None,
            query_offset: None,
            limit: 0,
            labels: BTreeMap::from([("team".into(), "web".into()), ("tier".into(), "1".into())]),
            source: Source::Promql,
            rules: vec![spec],
        },
        15_000,
    );
    assert_eq!(g.interval_ms, 15_000, "the global interval when the group sets none");
    assert_eq!(g.rules[0].spec.labels["team"], "db");
    assert_eq!(g.rules[0].spec.labels["tier"], "1");
}
