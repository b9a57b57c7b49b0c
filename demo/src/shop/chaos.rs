//! The chaos switch: make an `orders` replica slow or failing, stop a consumer, flood the
//! gateway from one client — so the load balancer, circuit breaker, rate limiter, queue backlog
//! and alerts can be seen reacting. Driven by `POST /api/chaos` on the demo's admin API and by
//! `lookout chaos`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What is broken right now.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ChaosState {
    /// Added latency per replica, in milliseconds.
    pub slow: BTreeMap<String, u64>,
    /// Share of requests a replica fails with a 500, per replica.
    pub failing: BTreeMap<String, f64>,
    /// Consumers that have stopped consuming.
    pub stopped: BTreeSet<String>,
    /// Requests per second sent by one flooding client (0: none).
    pub flood_rps: u64,
}

/// One chaos command.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosCommand {
    /// `slow`, `fail`, `stop`, `start`, `flood` or `reset`.
    pub action: String,
    /// The replica (`orders-2`) or consumer (`billing`, `notifications`, `analytics`).
    #[serde(default)]
    pub target: Option<String>,
    /// Milliseconds for `slow`, a 0–1 share for `fail`, requests per second for `flood`.
    #[serde(default)]
    pub value: Option<f64>,
}

/// The switch, shared by the services, consumers and traffic generator.
#[derive(Debug)]
pub struct Chaos {
    state: Mutex<ChaosState>,
    changed: watch::Sender<ChaosState>,
    replicas: Vec<String>,
    consumers: Vec<String>,
}

impl Chaos {
    /// A switch over these replicas and consumers, all healthy.
    pub fn new(replicas: &[&str], consumers: &[&str]) -> Arc<Chaos> {
        let (changed, _) = watch::channel(ChaosState::default());
        Arc::new(Chaos {
            state: Mutex::new(ChaosState::default()),
            changed,
            replicas: replicas.iter().map(|s| (*s).to_owned()).collect(),
            consumers: consumers.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// The current state.
    pub fn state(&self) -> ChaosState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Follows changes.
    pub fn watch(&self) -> watch::Receiver<ChaosState> {
        self.changed.subscribe()
    }

    /// Applies a command; the error names what is wrong with it.
    pub fn apply(&self, c: &ChaosCommand) -> Result<ChaosState, String> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let replica = |t: &Option<String>| match t {
            Some(t) if self.replicas.contains(t) => Ok(t.clone()),
            _ => Err(format!("target must be one of {}", self.replicas.join(", "))),
        };
        let consumer = |t: &Option<String>| match t {
            Some(t) if self.consumers.contains(t) => Ok(t.clone()),
            _ => Err(format!("target must be one of {}", self.consumers.join(", "))),
        };
        let value = |min: f64, max: f64| match c.value {
            Some(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(format!("value must be between {min} and {max}")),
        };
        match c.action.as_str() {
            "slow" => {
                let (t, v) = (replica(&c.target)?, value(0.0, 60_000.0)?);
                if v == 0.0 {
                    s.slow.remove(&t);
                } else {
                    s.slow.insert(t, v as u64);
                }
            }
            "fail" => {
                let (t, v) = (replica(&c.target)?, value(0.0, 1.0)?);
                if v == 0.0 {
                    s.failing.remove(&t);
                } else {
                    s.failing.insert(t, v);
                }
            }
            "stop" => {
                s.stopped.insert(consumer(&c.target)?);
            }
            "start" => {
                s.stopped.remove(&consumer(&c.target)?);
            }
            "flood" => s.flood_rps = value(0.0, 10_000.0)? as u64,
            "reset" => *s = ChaosState::default(),
            other => return Err(format!("unknown action {other:?}: slow, fail, stop, start, flood or reset")),
        }
        let _ = self.changed.send_replace(s.clone());
        Ok(s.clone())
    }

    /// Added latency of a replica.
    pub fn delay_ms(&self, replica: &str) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).slow.get(replica).copied().unwrap_or(0)
    }

    /// Share of requests a replica fails.
    pub fn failure_ratio(&self, replica: &str) -> f64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failing.get(replica).copied().unwrap_or(0.0)
    }
}

/// `GET` and `POST /api/chaos`.
pub fn router(chaos: Arc<Chaos>) -> Router {
    Router::new().route("/api/chaos", get(show).post(apply)).with_state(chaos)
}

async fn show(State(chaos): State<Arc<Chaos>>) -> Json<ChaosState> {
    Json(chaos.state())
}

async fn apply(
    State(chaos): State<Arc<Chaos>>,
    Json(command): Json<ChaosCommand>,
) -> Result<Json<ChaosState>, (StatusCode, Json<serde_json::Value>)> {
    match chaos.apply(&command) {
        Ok(state) => {
            tracing::warn!(action = command.action, target = ?command.target, value = ?command.value, "chaos");
            Ok(Json(state))
        }
        Err(e) => Err((StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": e })))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cmd(action: &str, target: Option<&str>, value: Option<f64>) -> ChaosCommand {
        ChaosCommand { action: action.into(), target: target.map(Into::into), value }
    }

    #[test]
    fn commands_change_the_state_and_bad_ones_are_named() {
        let c = Chaos::new(&["orders-1", "orders-2"], &["billing"]);
        c.apply(&cmd("slow", Some("orders-2"), Some(500.0))).unwrap();
        c.apply(&cmd("fail", Some("orders-1"), Some(1.0))).unwrap();
        c.apply(&cmd("stop", Some("billing"), None)).unwrap();
        assert_eq!(c.delay_ms("orders-2"), 500);
        assert_eq!(c.failure_ratio("orders-1"), 1.0);
        assert!(c.state().stopped.contains("billing"));
        assert!(c.apply(&cmd("slow", Some("orders-9"), Some(1.0))).unwrap_err().contains("orders-1"));
        assert!(c.apply(&cmd("fail", Some("orders-1"), Some(2.0))).unwrap_err().contains("between"));
        assert!(c.apply(&cmd("explode", None, None)).unwrap_err().contains("unknown action"));
        c.apply(&cmd("reset", None, None)).unwrap();
        assert_eq!(c.state(), ChaosState::default());
    }
}
