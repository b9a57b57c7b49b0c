//! `/loki/api/v1/tail`: a WebSocket that first sends the newest `limit` lines since `start`,
//! then every line that becomes searchable afterwards, in Loki's tail message shape.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::LokiState;
use super::params::{duration_ns, now_ns, parse_timestamp, tenant};
use super::reply::{LokiError, label_object};
use crate::logql::{LogqlQuery, LogqlValue};

/// Upgrades to a WebSocket and tails the query.
pub(crate) async fn tail(
    State(state): State<LokiState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
    ws: WebSocketUpgrade,
) -> Response {
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    let setup = || -> Result<(lookout_storage::Tenant, String, i64, usize, i64), LokiError> {
        let tenant = tenant(&headers)?;
        let query = get("query").to_owned();
        crate::logql::parse_log_query(&query).map_err(LokiError::bad)?;
        let start = match get("start") {
            "" => now_ns() - 3_600_000_000_000,
            t => parse_timestamp(t).ok_or_else(|| LokiError::bad(format!("invalid start parameter: {t:?}")))?,
        };
        let limit = match get("limit") {
            "" => 100,
            l => l.parse::<usize>().map_err(|_| LokiError::bad(format!("invalid limit parameter: {l:?}")))?,
        };
        let delay = match get("delay_for") {
            "" => 0,
            d => duration_ns(d)
                .filter(|d| *d <= 5_000_000_000)
                .ok_or_else(|| LokiError::bad("delay_for can't be greater than 5"))?,
        };
        Ok((tenant, query, start, limit, delay))
    };
    match setup() {
        Ok((tenant, query, start, limit, delay)) => {
            ws.on_upgrade(move |socket| run(socket, state, tenant, query, start, limit, delay)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn run(
    mut socket: WebSocket,
    state: LokiState,
    tenant: lookout_storage::Tenant,
    query: String,
    mut from: i64,
    limit: usize,
    delay: i64,
) {
    let mut first = true;
    loop {
        let until = now_ns() - delay + 1;
        if until > from {
            let q = LogqlQuery {
                query: query.clone(),
                start: from,
                end: until,
                step_ms: 1,
                interval: None,
                limit: if first { limit } else { state.engine.options().max_entries_limit },
                backward: first,
                instant: false,
            };
            let t = tenant.clone();
            let output = state.run(move |engine| engine.query(&t, &q, false)).await;
            let Ok(output) = output else {
                let _ = socket.send(Message::Close(None)).await;
                return;
            };
            if let LogqlValue::Streams(streams) = output.value {
                let mut newest = from;
                let streams: Vec<Value> = streams
                    .into_iter()
                    .filter(|s| !s.entries.is_empty())
                    .map(|mut s| {
                        s.entries.sort_by_key(|e| e.time);
                        newest = newest.max(s.entries.last().map_or(from, |e| e.time + 1));
                        let values: Vec<Value> =
                            s.entries.iter().map(|e| json!([e.time.to_string(), e.line])).collect();
                        json!({"stream": label_object(&s.labels), "values": values})
                    })
                    .collect();
                if !streams.is_empty() {
                    let message = json!({"streams": streams, "dropped_entries": null}).to_string();
                    if socket.send(Message::Text(message.into())).await.is_err() {
                        return;
                    }
                }
                // Lines not yet searchable may still arrive with older timestamps; the cursor
                // only moves past lines already sent.
                from = newest.max(from).max(until - 10_000_000_000);
            }
            first = false;
        }
        tokio::select! {
            _ = tokio::time::sleep(state.tail_interval) => {}
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            }
        }
    }
}
