//! A read-only subset of RabbitMQ's management HTTP API (`:15672`, HTTP basic auth with the
//! broker's user): overview, queues, exchanges, bindings, connections, channels and consumers,
//! with RabbitMQ's JSON field names for what it reports.

use std::sync::Arc;

use amq_protocol::types::{AMQPValue, FieldTable};
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};

use super::Broker;
use super::state::{State as BrokerState, VHOST};
use super::stats::{Counters, Rates};

/// The management API's routes, behind basic auth.
pub fn router(broker: Arc<Broker>) -> axum::Router {
    axum::Router::new()
        .route("/api/overview", get(overview))
        .route("/api/queues", get(queues))
        .route("/api/queues/{vhost}", get(queues_in))
        .route("/api/queues/{vhost}/{name}", get(queue))
        .route("/api/exchanges", get(exchanges))
        .route("/api/exchanges/{vhost}", get(exchanges_in))
        .route("/api/exchanges/{vhost}/{name}", get(exchange))
        .route("/api/bindings", get(bindings))
        .route("/api/bindings/{vhost}", get(bindings_in))
        .route("/api/connections", get(connections))
        .route("/api/channels", get(channels))
        .route("/api/consumers", get(consumers))
        .route("/api/consumers/{vhost}", get(consumers_in))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&broker), basic_auth))
        .with_state(broker)
}

type Api = State<Arc<Broker>>;

/// Refuses requests without the broker's user and password, as RabbitMQ does.
async fn basic_auth(State(broker): Api, headers: HeaderMap, request: Request, next: Next) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let ok = given
        .as_deref()
        .and_then(|g| g.split_once(':'))
        .is_some_and(|(user, password)| broker.config.accepts(user, password));
    if !ok {
        let body = Json(json!({"error": "not_authorized", "reason": "Not_Authorized"}));
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"RabbitMQ Management\"")], body)
            .into_response();
    }
    next.run(request).await
}

/// RabbitMQ's 404.
struct NotFound;

impl IntoResponse for NotFound {
    fn into_response(self) -> Response {
        (StatusCode::NOT_FOUND, Json(json!({"error": "Object Not Found", "reason": "Not Found"}))).into_response()
    }
}

async fn not_found() -> NotFound {
    NotFound
}

/// 404 unless `vhost` is the broker's only one.
fn known_vhost(vhost: &str) -> Result<(), NotFound> {
    if vhost == VHOST { Ok(()) } else { Err(NotFound) }
}

async fn overview(State(broker): Api) -> Json<Value> {
    let rates = broker.rates(|s| Some(s.total));
    Json(broker.with_state(|s| {
        let (ready, unacked): (usize, usize) =
            s.queues.values().map(|q| (q.ready(), q.unacked)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let consumers: usize = s.queues.values().map(|q| q.consumers.len()).sum();
        json!({
            "management_version": env!("CARGO_PKG_VERSION"),
            "product_name": "Lookout broker",
            "product_version": env!("CARGO_PKG_VERSION"),
            "rabbitmq_version": "3.10.0",
            "cluster_name": "lookout",
            "node": "lookout@localhost",
            "object_totals": {
                "connections": s.connections.len(),
                "channels": s.channels.len(),
                "exchanges": s.exchanges.len(),
                "queues": s.queues.len(),
                "consumers": consumers,
            },
            "queue_totals": {"messages": ready + unacked, "messages_ready": ready, "messages_unacknowledged": unacked},
            "message_stats": message_stats(&s.stats.total, &rates),
            "listeners": [{"node": "lookout@localhost", "protocol": "amqp", "port": broker.port()}],
        })
    }))
}

async fn queues(State(broker): Api) -> Json<Value> {
    Json(Value::Array(queue_list(&broker, None)))
}

async fn queues_in(State(broker): Api, Path(vhost): Path<String>) -> Result<Json<Value>, NotFound> {
    known_vhost(&vhost)?;
    Ok(Json(Value::Array(queue_list(&broker, None))))
}

async fn queue(State(broker): Api, Path((vhost, name)): Path<(String, String)>) -> Result<Json<Value>, NotFound> {
    known_vhost(&vhost)?;
    queue_list(&broker, Some(&name)).pop().map(Json).ok_or(NotFound)
}

/// Every queue (or the one named), as `/api/queues` lists them.
fn queue_list(broker: &Broker, only: Option<&str>) -> Vec<Value> {
    let names: Vec<String> =
        broker.with_state(|s| s.queues.keys().filter(|n| only.is_none_or(|o| o == *n)).cloned().collect());
    let rates: Vec<Rates> = names.iter().map(|n| broker.rates(|s| s.queues.get(n).copied())).collect();
    broker.with_state(|s| {
        names
            .iter()
            .zip(rates)
            .filter_map(|(name, rates)| {
                let q = s.queues.get(name)?;
                let counters = s.stats.queues.get(name).copied().unwrap_or_default();
                Some(json!({
                    "name": name,
                    "vhost": VHOST,
                    "durable": q.durable,
                    "auto_delete": q.auto_delete,
                    "exclusive": q.owner.is_some(),
                    "arguments": table_json(&q.arguments),
                    "messages": q.ready() + q.unacked,
                    "messages_ready": q.ready(),
                    "messages_unacknowledged": q.unacked,
                    "consumers": q.consumers.len(),
                    "state": "running",
                    "node": "lookout@localhost",
                    "type": "classic",
                    "message_stats": message_stats(&counters, &rates),
                }))
            })
            .collect()
    })
}

async fn exchanges(State(broker): Api) -> Json<Value> {
    Json(Value::Array(exchange_list(&broker, None)))
}

async fn exchanges_in(State(broker): Api, Path(vhost): Path<String>) -> Result<Json<Value>, NotFound> {
    known_vhost(&vhost)?;
    Ok(Json(Value::Array(exchange_list(&broker, None))))
}

async fn exchange(State(broker): Api, Path((vhost, name)): Path<(String, String)>) -> Result<Json<Value>, NotFound> {
    known_vhost(&vhost)?;
    // The default exchange is `amq.default` in URLs.
    let name = if name == "amq.default" { String::new() } else { name };
    exchange_list(&broker, Some(&name)).pop().map(Json).ok_or(NotFound)
}

fn exchange_list(broker: &Broker, only: Option<&str>) -> Vec<Value> {
    let names: Vec<String> =
        broker.with_state(|s| s.exchanges.keys().filter(|n| only.is_none_or(|o| o == *n)).cloned().collect());
    let rates: Vec<Rates> = names.iter().map(|n| broker.rates(|s| s.exchanges.get(n).copied())).collect();
    broker.with_state(|s| {
        names
            .iter()
            .zip(rates)
            .filter_map(|(name, rates)| {
                let e = s.exchanges.get(name)?;
                let c = s.stats.exchanges.get(name).copied().unwrap_or_default();
                Some(json!({
                    "name": name,
                    "vhost": VHOST,
                    "type": e.kind.as_str(),
                    "durable": e.durable,
                    "auto_delete": e.auto_delete,
                    "internal": e.internal,
                    "arguments": {},
                    "message_stats": {
                        "publish_in": c.publish,
                        "publish_in_details": {"rate": rates.publish},
                        "publish_out": c.publish_out,
                        "publish_out_details": {"rate": rates.publish_out},
                    },
                }))
            })
            .collect()
    })
}

async fn bindings(State(broker): Api) -> Json<Value> {
    Json(broker.with_state(binding_list))
}

async fn bindings_in(State(broker): Api, Path(vhost): Path<String>) -> Result<Json<Value>, NotFound> {
    known_vhost(&vhost)?;
    Ok(Json(broker.with_state(binding_list)))
}

/// Bindings as RabbitMQ lists them, the default exchange's implicit ones first.
fn binding_list(s: &mut BrokerState) -> Value {
    let mut out: Vec<Value> = s.queues.keys().map(|q| binding_json("", q, q, &FieldTable::default())).collect();
    for (name, e) in &s.exchanges {
        for b in &e.bindings {
            out.push(binding_json(name, &b.queue, &b.routing_key, &b.arguments));
        }
    }
    Value::Array(out)
}

fn binding_json(source: &str, queue: &str, routing_key: &str, arguments: &FieldTable) -> Value {
    let properties_key = if arguments.inner().is_empty() {
        if routing_key.is_empty() { "~".to_owned() } else { routing_key.to_owned() }
    } else {
        format!("{routing_key}~{}", arguments.inner().len())
    };
    json!({
        "source": source,
        "vhost": VHOST,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": routing_key,
        "arguments": table_json(arguments),
        "properties_key": properties_key,
    })
}

async fn connections(State(broker): Api) -> Json<Value> {
    Json(broker.with_state(|s| {
        Value::Array(
            s.connections
                .iter()
                .map(|(id, c)| {
                    let channels = s.channels.keys().filter(|(conn, _)| conn == id).count();
                    json!({
                        "name": c.name,
                        "user": c.user,
                        "vhost": VHOST,
                        "node": "lookout@localhost",
                        "peer_host": c.peer.ip().to_string(),
                        "peer_port": c.peer.port(),
                        "host": c.local.ip().to_string(),
                        "port": c.local.port(),
                        "channels": channels,
                        "state": "running",
                        "protocol": "AMQP 0-9-1",
                        "auth_mechanism": "PLAIN",
                        "client_properties": table_json(&c.client_properties),
                        "connected_at": c.connected_at,
                    })
                })
                .collect(),
        )
    }))
}

async fn channels(State(broker): Api) -> Json<Value> {
    Json(broker.with_state(|s| {
        let mut list: Vec<_> = s.channels.iter().collect();
        list.sort_by_key(|(k, _)| **k);
        Value::Array(
            list.into_iter()
                .filter_map(|((conn, number), ch)| {
                    let c = s.connections.get(conn)?;
                    let consumers =
                        s.queues.values().flat_map(|q| &q.consumers).filter(|k| k.conn == *conn && k.channel == *number).count();
                    Some(json!({
                        "name": format!("{} ({number})", c.name),
                        "number": number,
                        "user": c.user,
                        "vhost": VHOST,
                        "node": "lookout@localhost",
                        "connection_details": {"name": c.name, "peer_host": c.peer.ip().to_string(), "peer_port": c.peer.port()},
                        "consumer_count": consumers,
                        "messages_unacknowledged": ch.unacked.len(),
                        "prefetch_count": ch.prefetch,
                        "confirm": ch.confirm,
                        "state": if ch.active { "running" } else { "flow" },
                    }))
                })
                .collect(),
        )
    }))
}

async fn consumers(State(broker): Api) -> Json<Value> {
    Json(broker.with_state(consumer_list))
}

async fn consumers_in(State(broker): Api, Path(vhost): Path<String>) -> Result<Json<Value>, NotFound> {
    known_vhost(&vhost)?;
    Ok(Json(broker.with_state(consumer_list)))
}

fn consumer_list(s: &mut BrokerState) -> Value {
    let mut out = Vec::new();
    for (name, q) in &s.queues {
        for k in &q.consumers {
            let Some(c) = s.connections.get(&k.conn) else { continue };
            let prefetch = s.channels.get(&(k.conn, k.channel)).map_or(0, |ch| ch.prefetch);
            out.push(json!({
                "consumer_tag": k.tag,
                "queue": {"name": name, "vhost": VHOST},
                "channel_details": {
                    "name": format!("{} ({})", c.name, k.channel),
                    "number": k.channel,
                    "connection_name": c.name,
                    "peer_host": c.peer.ip().to_string(),
                    "peer_port": c.peer.port(),
                    "user": c.user,
                },
                "ack_required": !k.no_ack,
                "exclusive": k.exclusive,
                "prefetch_count": prefetch,
                "active": true,
                "arguments": {},
            }));
        }
    }
    Value::Array(out)
}

/// `message_stats` of a queue or the broker.
fn message_stats(c: &Counters, r: &Rates) -> Value {
    json!({
        "publish": c.publish, "publish_details": {"rate": r.publish},
        "deliver": c.deliver, "deliver_details": {"rate": r.deliver},
        "deliver_no_ack": c.deliver_no_ack, "deliver_no_ack_details": {"rate": r.deliver_no_ack},
        "get": c.get, "get_details": {"rate": r.get},
        "get_no_ack": c.get_no_ack, "get_no_ack_details": {"rate": r.get_no_ack},
        "deliver_get": c.deliver_get(), "deliver_get_details": {"rate": r.deliver_get()},
        "redeliver": c.redeliver, "redeliver_details": {"rate": r.redeliver},
        "ack": c.ack, "ack_details": {"rate": r.ack},
        "confirm": c.confirm, "confirm_details": {"rate": r.confirm},
        "return_unroutable": c.return_unroutable, "return_unroutable_details": {"rate": r.return_unroutable},
        "drop_unroutable": c.drop_unroutable, "drop_unroutable_details": {"rate": r.drop_unroutable},
    })
}

/// A field table as the management API writes arguments and client properties.
fn table_json(t: &FieldTable) -> Value {
    Value::Object(t.inner().iter().map(|(k, v)| (k.as_str().to_owned(), value_json(v))).collect())
}

fn value_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Timestamp(n) => json!(n),
        AMQPValue::Float(f) => json!(f),
        AMQPValue::Double(f) => json!(f),
        AMQPValue::DecimalValue(d) => json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::ByteArray(b) => json!(String::from_utf8_lossy(b.as_slice())),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value_json).collect()),
        AMQPValue::FieldTable(t) => table_json(t),
        AMQPValue::Void => Value::Null,
    }
}
