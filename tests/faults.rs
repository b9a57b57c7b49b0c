//! `kill -9` at random points while traces and log lines stream in and the stores cut blocks
//! and commit indexes as fast as they are allowed to, twenty rounds on one data directory:
//! after each restart every acknowledged line and trace is found, each once, and the metric
//! query's count agrees with the listing. (A push the kill cut off before its answer may or may
//! not have been kept, whole; nothing else may appear.) The points are random but seeded, so a failure can be replayed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Lookout, TRACES_PATH, eventually, grpc_export, http_client, urlencode};
use lookout_ingest::synthetic::{self, Rng};
use prost::Message;

const ROUNDS: usize = 20;

/// What Lookout acknowledged, by round: log lines by text, traces by hex id. The push in
/// flight when the kill came is unconfirmed: it may or may not have been made durable.
#[derive(Default)]
struct Acknowledged {
    lines: Vec<Vec<String>>,
    unconfirmed: Vec<Vec<String>>,
    traces: Vec<Vec<String>>,
}

impl Acknowledged {
    fn total_lines(&self) -> usize {
        self.lines.iter().map(Vec::len).sum()
    }

    fn total_unconfirmed(&self) -> usize {
        self.unconfirmed.iter().map(Vec::len).sum()
    }
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Lookout with its stores cutting and committing as often as they may, and nothing of its own
/// writing (so every item is one the test sent).
fn start(dir: &std::path::Path) -> Lookout {
    let config = dir.join("faults.yaml");
    std::fs::write(
        &config,
        "metrics:\n  scrape_self: false\n  span_metrics: false\ntraces:\n  max_block_spans: 200\n  max_block_age: 1s\nlogs:\n  commit_interval: 100ms\n",
    )
    .unwrap();
    Lookout::start(&dir.join("data"), &["--config.file", config.to_str().unwrap()])
}

/// Sends until told to stop or until Lookout stops answering; records what was acknowledged.
fn send(lookout: &Lookout, round: usize, seed: u64, stop: &AtomicBool, acked: &Mutex<Acknowledged>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut rng = Rng::new(seed);
    let client = http_client();
    for batch in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let lines: Vec<String> = (0..20).map(|i| format!("round {round} batch {batch} line {i}")).collect();
        let values: Vec<serde_json::Value> =
            lines.iter().enumerate().map(|(i, l)| serde_json::json!([(now_ns() + i as u64).to_string(), l])).collect();
        let push = serde_json::json!({"streams": [{"stream": {"job": "faults"}, "values": values}]});
        match client.post(format!("http://{}/loki/api/v1/push", lookout.http)).json(&push).send() {
            Ok(r) if r.status() == 204 => acked.lock().unwrap().lines[round].extend(lines),
            _ => {
                acked.lock().unwrap().unconfirmed[round].extend(lines);
                return;
            }
        }
        let request = synthetic::traces(&mut rng, 12, now_ns());
        let ids: Vec<String> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| hex::encode(&s.trace_id))
            .collect();
        match runtime.block_on(grpc_export(lookout.grpc, TRACES_PATH, request.encode_to_vec(), batch % 2 == 0)) {
            Ok(_) => {
                let mut acked = acked.lock().unwrap();
                for id in ids {
                    if !acked.traces[round].contains(&id) {
                        acked.traces[round].push(id);
                    }
                }
            }
            Err(_) => return,
        }
    }
}

fn query(lookout: &Lookout, path: &str, logql: &str, extra: &str) -> serde_json::Value {
    let url = format!("http://{}{path}?query={}{extra}", lookout.http, urlencode(logql));
    let response = http_client().get(url).send().unwrap();
    assert_eq!(response.status(), 200);
    response.json().unwrap()
}

/// The lines of one round, as listed by a log query.
fn lines_of_round(lookout: &Lookout, round: usize) -> Vec<String> {
    let (start, end) = (now_ns() - 3_600_000_000_000, now_ns() + 60_000_000_000);
    let logql = format!(r#"{{job="faults"}} |= "round {round} batch""#);
    let body = query(lookout, "/loki/api/v1/query_range", &logql, &format!("&start={start}&end={end}&limit=5000"));
    let mut lines: Vec<String> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap())
        .map(|v| v[1].as_str().unwrap().to_owned())
        .collect();
    lines.sort();
    lines
}

/// Every line, as counted by a metric query.
fn counted_lines(lookout: &Lookout) -> f64 {
    let body = query(lookout, "/loki/api/v1/query", r#"sum(count_over_time({job="faults"}[2h]))"#, "");
    body["data"]["result"][0]["value"][1].as_str().map_or(0.0, |v| v.parse().unwrap())
}

/// Checks that the lines and traces of `rounds` are all there.
fn check(lookout: &Lookout, acked: &Acknowledged, rounds: std::ops::Range<usize>) {
    let (expected, extra) = (acked.total_lines() as f64, acked.total_unconfirmed() as f64);
    let counted = eventually(&format!("{expected} lines counted"), || {
        let counted = counted_lines(lookout);
        (counted >= expected).then_some(counted)
    });
    assert!(counted <= expected + extra, "counted {counted} lines, {expected} acknowledged and {extra} unconfirmed");
    for round in rounds {
        let listed = lines_of_round(lookout, round);
        // Every acknowledged line, each once; besides them, only lines of the unconfirmed push.
        let mut want = acked.lines[round].clone();
        want.sort();
        let mut found: Vec<String> = listed.iter().filter(|l| !acked.unconfirmed[round].contains(l)).cloned().collect();
        found.sort();
        assert_eq!(found, want, "round {round}: the lines listed are the ones acknowledged");
        let unconfirmed = listed.len() - found.len();
        assert!(
            unconfirmed == 0 || unconfirmed == acked.unconfirmed[round].len(),
            "round {round}: half a push was kept"
        );
        for id in &acked.traces[round] {
            let status = http_client().get(format!("http://{}/api/traces/{id}", lookout.http)).send().unwrap().status();
            assert_eq!(status, 200, "round {round}: acknowledged trace {id} missing");
        }
    }
}

#[test]
fn twenty_kill_9s_at_random_points_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(Acknowledged {
        lines: vec![Vec::new(); ROUNDS],
        unconfirmed: vec![Vec::new(); ROUNDS],
        traces: vec![Vec::new(); ROUNDS],
    }));
    let mut rng = Rng::new(2026);
    for round in 0..ROUNDS {
        let lookout = start(dir.path());
        // The round before the kill is all there, and the count of every line agrees.
        check(&lookout, &acked.lock().unwrap(), round.saturating_sub(1)..round);
        // Send, and kill at a random point, 100–900 ms in.
        let stop = Arc::new(AtomicBool::new(false));
        let lookout = Arc::new(lookout);
        let sender = {
            let (lookout, stop, acked) = (Arc::clone(&lookout), Arc::clone(&stop), Arc::clone(&acked));
            let seed = rng.next_u64();
            std::thread::spawn(move || send(&lookout, round, seed, &stop, &acked))
        };
        std::thread::sleep(Duration::from_millis(100 + rng.next_u64() % 800));
        let pid = lookout.pid();
        let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
        assert!(killed.success());
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap();
        Arc::try_unwrap(lookout).ok().unwrap().kill9();
    }
    // After the last kill: every round, line by line and trace by trace.
    let lookout = start(dir.path());
    let acked = acked.lock().unwrap();
    check(&lookout, &acked, 0..ROUNDS);
    let traces: usize = acked.traces.iter().map(Vec::len).sum();
    assert!(acked.total_lines() > ROUNDS * 20, "only {} lines were acknowledged in all", acked.total_lines());
    println!("{} lines and {traces} traces acknowledged over {ROUNDS} kills", acked.total_lines());
}
