//! How messages enter and leave queues beyond plain delivery: persistence in the queue's log,
//! expiry (`x-message-ttl`, per-message `expiration`), length limits (`x-max-length`, dropping
//! from the head), dead-lettering to `x-dead-letter-exchange` with RabbitMQ's `x-death`
//! headers, and recovery of durable queues after a restart.
//!
//! Expired messages are removed from the head of a queue only (as RabbitMQ does): at dispatch,
//! at `basic.get`, and by the broker's sweeper every [`SWEEP_INTERVAL`].

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::{AMQPValue, FieldArray, FieldTable, LongString};

use super::error::AmqpError;
use super::routing::{Binding, Exchange, ExchangeKind};
use super::state::{Entry, Message, Queue, State, int_value};
use super::store::{Record, Recovered, Store};

/// How often the broker looks for expired messages.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

impl State {
    /// A state with what `store` recovered: durable exchanges, queues and bindings, and the
    /// queues' persistent messages (marked redelivered: they may have been delivered before).
    pub fn recovered(store: Store, recovered: Recovered) -> State {
        let mut state = State::new();
        for e in recovered.definitions.exchanges {
            let Some(kind) = ExchangeKind::parse(&e.kind) else { continue };
            state.exchanges.insert(
                e.name,
                Exchange {
                    kind,
                    durable: true,
                    auto_delete: e.auto_delete,
                    internal: e.internal,
                    bindings: Vec::new(),
                },
            );
        }
        let mut messages = recovered.messages;
        let now = Instant::now();
        for q in recovered.definitions.queues {
            let stored = messages.remove(&q.name).unwrap_or_default();
            let mut queue = Queue {
                durable: true,
                owner: None,
                auto_delete: q.auto_delete,
                arguments: q.arguments,
                messages: Default::default(),
                consumers: Vec::new(),
                next_consumer: 0,
                had_consumers: false,
                unacked: 0,
                next_id: stored.last().map_or(0, |m| m.id + 1),
            };
            for m in stored {
                let message = Message {
                    exchange: m.exchange,
                    routing_key: m.routing_key,
                    properties: m.properties,
                    body: m.body,
                    trace: None,
                };
                let expires_at = expiry(&queue, &message, now);
                queue.messages.push_back(Entry {
                    message: Arc::new(message),
                    redelivered: true,
                    id: m.id,
                    persisted: true,
                    expires_at,
                });
            }
            state.queues.insert(q.name, queue);
        }
        for b in recovered.definitions.bindings {
            if let Some(ex) = state.exchanges.get_mut(&b.exchange)
                && state.queues.contains_key(&b.queue)
            {
                ex.bindings.push(Binding { queue: b.queue, routing_key: b.routing_key, arguments: b.arguments });
            }
        }
        state.store = Some(store);
        state
    }

    /// Appends a routed message to a queue (writing it to the queue's log when both are
    /// durable), then enforces `x-max-length`.
    pub(super) fn enqueue(&mut self, queue: &str, message: &Arc<Message>) -> Result<(), AmqpError> {
        let Some(q) = self.queues.get_mut(queue) else { return Ok(()) };
        let id = q.next_id;
        q.next_id += 1;
        let persisted = q.durable && message.persistent() && self.store.is_some();
        let expires_at = expiry(q, message, Instant::now());
        if persisted && let Some(store) = self.store.as_mut() {
            let record = Record::Publish {
                id,
                exchange: message.exchange.clone(),
                routing_key: message.routing_key.clone(),
                properties: Box::new(message.properties.clone()),
                body: message.body.clone(),
            };
            store
                .publish(queue, &record)
                .map_err(|e| AmqpError::internal(format!("cannot write to the log of queue '{queue}': {e}")))?;
        }
        q.messages.push_back(Entry { message: Arc::clone(message), redelivered: false, id, persisted, expires_at });
        self.stats.count(Some(queue), Some(&message.exchange), |c| c.publish_out += 1);
        self.stats.count(Some(queue), None, |c| c.publish += 1);
        if let Some(max) = q.max_length() {
            // RabbitMQ's default overflow: drop (or dead-letter) from the head.
            let mut over = Vec::new();
            while q.messages.len() > max {
                over.extend(q.messages.pop_front());
            }
            for entry in over {
                self.dead_letter(queue, entry, "maxlen");
            }
        }
        Ok(())
    }

    /// Records that a message left a queue for good (acked, dropped, dead-lettered), compacting
    /// the queue's log when mostly settled records remain.
    pub(super) fn forget(&mut self, queue: &str, entry: &Entry) {
        if !entry.persisted {
            return;
        }
        let Some(store) = self.store.as_mut() else { return };
        match store.settle(queue, entry.id) {
            Ok(true) => self.compact(queue),
            Ok(false) => {}
            Err(e) => tracing::error!(queue, error = %e, "failed to record a settled message"),
        }
    }

    /// Rewrites a queue's log with the messages it still holds (ready or unacknowledged).
    fn compact(&mut self, queue: &str) {
        let Some(q) = self.queues.get(queue) else { return };
        let unacked = self.channels.values().flat_map(|c| c.unacked.values()).filter(|u| u.queue == queue);
        let mut live: Vec<&Entry> =
            q.messages.iter().chain(unacked.map(|u| &u.entry)).filter(|e| e.persisted).collect();
        live.sort_by_key(|e| e.id);
        let records: Vec<Record> = live
            .into_iter()
            .map(|e| Record::Publish {
                id: e.id,
                exchange: e.message.exchange.clone(),
                routing_key: e.message.routing_key.clone(),
                properties: Box::new(e.message.properties.clone()),
                body: e.message.body.clone(),
            })
            .collect();
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.compact(queue, &records)
        {
            tracing::error!(queue, error = %e, "failed to compact a queue log");
        }
    }

    /// A message leaves `queue` for `reason` (`rejected`, `expired`, `maxlen`): republished to
    /// the queue's dead-letter exchange with an `x-death` record, or dropped when it has none.
    pub(super) fn dead_letter(&mut self, queue: &str, entry: Entry, reason: &str) {
        self.forget(queue, &entry);
        self.stats.count(Some(queue), None, |c| c.dead_lettered += 1);
        let Some(q) = self.queues.get(queue) else { return };
        let text = |key: &str| match q.arguments.inner().get(key) {
            Some(AMQPValue::LongString(s)) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            Some(AMQPValue::ShortString(s)) => Some(s.as_str().to_owned()),
            _ => None,
        };
        let Some(exchange) = text("x-dead-letter-exchange") else { return };
        let routing_key = text("x-dead-letter-routing-key").unwrap_or_else(|| entry.message.routing_key.clone());
        let properties = with_death(&entry.message, queue, reason);
        let message = Message {
            exchange: exchange.clone(),
            routing_key,
            properties,
            body: entry.message.body.clone(),
            trace: entry.message.trace.clone(),
        };
        if let Err(e) = self.route(&exchange, message) {
            tracing::warn!(queue, error = %e, "dead-lettering failed");
        }
    }

    /// Dead-letters the expired messages at the head of a queue.
    pub(super) fn expire_head(&mut self, queue: &str, now: Instant) {
        let mut expired = Vec::new();
        if let Some(q) = self.queues.get_mut(queue) {
            while q.messages.front().is_some_and(|e| e.expires_at.is_some_and(|t| t <= now)) {
                expired.extend(q.messages.pop_front());
            }
        }
        for entry in expired {
            self.dead_letter(queue, entry, "expired");
        }
    }

    /// The sweeper's step: expires messages in every queue, then dispatches what changed.
    pub fn expire(&mut self, now: Instant) {
        let due: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| q.messages.front().is_some_and(|e| e.expires_at.is_some_and(|t| t <= now)))
            .map(|(n, _)| n.clone())
            .collect();
        for q in due {
            self.expire_head(&q, now);
        }
    }

    /// Handles to the queue logs written since the last call, to be fsynced outside the lock.
    pub fn logs_to_sync(&mut self) -> Vec<File> {
        self.store.as_mut().map(Store::dirty_files).unwrap_or_default()
    }
}

/// When a message put in `q` now expires: the sooner of the queue's `x-message-ttl` and the
/// message's `expiration` (both milliseconds).
fn expiry(q: &Queue, message: &Message, now: Instant) -> Option<Instant> {
    let queue_ttl = q.arguments.inner().get("x-message-ttl").and_then(int_value).and_then(|n| u64::try_from(n).ok());
    let message_ttl = message.properties.expiration().as_ref().and_then(|e| e.as_str().parse::<u64>().ok());
    let ttl = match (queue_ttl, message_ttl) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(now + Duration::from_millis(ttl))
}

/// The message's properties after dead-lettering from `queue`: `x-death` gains (or counts up)
/// the entry for this queue and reason, newest first; `x-first-death-*` are set once; the
/// per-message `expiration` moves into the entry as `original-expiration`.
fn with_death(message: &Message, queue: &str, reason: &str) -> AMQPProperties {
    let props = &message.properties;
    let mut headers = props.headers().clone().unwrap_or_default();
    let long = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    let mut deaths: Vec<AMQPValue> = match headers.inner().get("x-death") {
        Some(AMQPValue::FieldArray(a)) => a.as_slice().to_vec(),
        _ => Vec::new(),
    };
    let same = |v: &AMQPValue| match v {
        AMQPValue::FieldTable(t) => {
            t.inner().get("queue") == Some(&long(queue)) && t.inner().get("reason") == Some(&long(reason))
        }
        _ => false,
    };
    let previous = deaths.iter().position(same).map(|i| deaths.remove(i));
    let count = match &previous {
        Some(AMQPValue::FieldTable(t)) => t.inner().get("count").and_then(int_value).unwrap_or(0) + 1,
        _ => 1,
    };
    let mut death = FieldTable::default();
    death.insert("count".into(), AMQPValue::LongLongInt(count));
    death.insert("reason".into(), long(reason));
    death.insert("queue".into(), long(queue));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    death.insert("time".into(), AMQPValue::Timestamp(now));
    death.insert("exchange".into(), long(&message.exchange));
    death.insert("routing-keys".into(), AMQPValue::FieldArray(FieldArray::from(vec![long(&message.routing_key)])));
    if let Some(e) = props.expiration() {
        death.insert("original-expiration".into(), long(e.as_str()));
    }
    deaths.insert(0, AMQPValue::FieldTable(death));
    headers.insert("x-death".into(), AMQPValue::FieldArray(FieldArray::from(deaths)));
    for (key, value) in [
        ("x-first-death-reason", reason),
        ("x-first-death-queue", queue),
        ("x-first-death-exchange", &message.exchange),
    ] {
        if !headers.contains_key(key) {
            headers.insert(key.into(), long(value));
        }
    }
    let mut out = AMQPProperties::default().with_headers(headers);
    macro_rules! keep {
        ($get:ident, $with:ident) => {
            if let Some(v) = props.$get() {
                out = out.$with(v.clone());
            }
        };
    }
    keep!(content_type, with_content_type);
    keep!(content_encoding, with_content_encoding);
    keep!(delivery_mode, with_delivery_mode);
    keep!(priority, with_priority);
    keep!(correlation_id, with_correlation_id);
    keep!(reply_to, with_reply_to);
    keep!(message_id, with_message_id);
    keep!(timestamp, with_timestamp);
    keep!(kind, with_type);
    keep!(user_id, with_user_id);
    keep!(app_id, with_app_id);
    keep!(cluster_id, with_cluster_id);
    out
}
