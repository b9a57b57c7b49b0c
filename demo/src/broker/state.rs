//! The broker's shared state: one virtual host (`/`) with its exchanges, queues and bindings,
//! every open channel's consumers and unacknowledged deliveries, and the dispatch that hands
//! ready messages to consumers.
//!
//! Everything sits behind one mutex held only for short, non-blocking steps; frames for a
//! connection go out through that connection's writer channel, so dispatch triggered by one
//! client (a publish) can deliver to another.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use amq_protocol::protocol::{AMQPClass, basic};
use amq_protocol::types::{AMQPValue, ChannelId, FieldTable};
use opentelemetry::trace::SpanContext;
use tokio::sync::mpsc::UnboundedSender;

use super::error::AmqpError;
use super::routing::{Exchange, ExchangeKind};
use super::stats::Stats;
use super::store::Store;
use super::telemetry::BrokerTelemetry;
use super::wire::Out;

/// Ready messages in a queue with consumers at which its publishers stop being read (flow
/// control: the consumers catch up instead of the backlog growing without bound).
pub const FLOW_HIGH: usize = 4096;

/// Ready messages at which held-back publishers are read again.
pub const FLOW_LOW: usize = FLOW_HIGH / 2;

/// The only virtual host.
pub const VHOST: &str = "/";

/// A connection's id, unique for the broker's life.
pub type ConnId = u64;

/// A published message, shared by every queue it was routed to.
#[derive(Debug)]
pub struct Message {
    pub exchange: String,
    pub routing_key: String,
    pub properties: basic::AMQPProperties,
    pub body: Vec<u8>,
    /// The broker's publish span, when telemetry is on: route and deliver spans are its
    /// children.
    pub trace: Option<SpanContext>,
}

impl Message {
    /// Whether the publisher asked for it to survive a restart (delivery mode 2).
    pub fn persistent(&self) -> bool {
        *self.properties.delivery_mode() == Some(2)
    }
}

/// A message in a queue (ready or delivered and unacknowledged).
#[derive(Debug, Clone)]
pub struct Entry {
    pub(super) message: Arc<Message>,
    pub(super) redelivered: bool,
    /// The queue's sequence number for it, as its log knows it.
    pub(super) id: u64,
    /// Whether the queue's log holds it.
    pub(super) persisted: bool,
    /// When it expires (`x-message-ttl` or the message's `expiration`).
    pub(super) expires_at: Option<Instant>,
}

/// A consumer on a queue.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub tag: String,
    pub conn: ConnId,
    pub channel: ChannelId,
    pub no_ack: bool,
    pub exclusive: bool,
}

/// A queue.
#[derive(Debug)]
pub struct Queue {
    pub durable: bool,
    /// The connection that owns an exclusive queue.
    pub owner: Option<ConnId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    pub(super) messages: VecDeque<Entry>,
    pub consumers: Vec<Consumer>,
    /// Where the round robin over consumers starts next.
    pub(super) next_consumer: usize,
    /// Whether a consumer ever subscribed (an auto-delete queue goes when the last one leaves).
    pub(super) had_consumers: bool,
    pub unacked: usize,
    /// The next message's sequence number.
    pub(super) next_id: u64,
}

impl Queue {
    /// Messages ready for delivery.
    pub fn ready(&self) -> usize {
        self.messages.len()
    }

    /// The queue's `x-max-length`, if set.
    pub(super) fn max_length(&self) -> Option<usize> {
        match self.arguments.inner().get("x-max-length") {
            Some(v) => int_value(v).and_then(|n| usize::try_from(n).ok()),
            None => None,
        }
    }
}

/// An integer argument of any AMQP integer type.
pub fn int_value(v: &AMQPValue) -> Option<i64> {
    match v {
        AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::LongLongInt(n) => Some(*n),
        _ => None,
    }
}

/// What `basic.get` took from a queue.
#[derive(Debug)]
pub struct Got {
    pub delivery_tag: u64,
    pub redelivered: bool,
    pub message: Arc<Message>,
    /// The properties to send when they differ from the message's (a new `traceparent`).
    pub properties: Option<basic::AMQPProperties>,
    /// Messages left ready.
    pub remaining: u32,
}

/// A delivery waiting for its acknowledgement.
#[derive(Debug, Clone)]
pub struct Unacked {
    pub queue: String,
    pub(super) entry: Entry,
}

/// An open channel, as dispatch needs it.
#[derive(Debug)]
pub struct Channel {
    /// Where this connection's outgoing frames go.
    pub(super) out: UnboundedSender<Out>,
    frame_max: usize,
    /// `basic.qos` prefetch count (0 = unlimited).
    pub prefetch: u16,
    /// Whether `channel.flow` lets deliveries through.
    pub active: bool,
    /// Whether publisher confirms are on.
    pub confirm: bool,
    pub(super) next_tag: u64,
    pub unacked: BTreeMap<u64, Unacked>,
}

/// The whole broker state.
#[derive(Debug, Default)]
pub struct State {
    pub exchanges: BTreeMap<String, Exchange>,
    pub queues: BTreeMap<String, Queue>,
    pub channels: HashMap<(ConnId, ChannelId), Channel>,
    /// For server-named queues.
    pub(super) names: u64,
    pub(super) started: Option<Instant>,
    /// Where durable things are kept; `None` keeps everything in memory.
    pub(super) store: Option<Store>,
    /// Message counters.
    pub stats: Stats,
    /// Open connections, for the management API.
    pub connections: BTreeMap<ConnId, ConnInfo>,
    /// Spans, when telemetry is on.
    pub telemetry: Option<Arc<BrokerTelemetry>>,
}

/// What the management API shows of a connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// `peer -> local`, as RabbitMQ names connections.
    pub name: String,
    pub peer: std::net::SocketAddr,
    pub local: std::net::SocketAddr,
    pub user: String,
    pub client_properties: FieldTable,
    /// Milliseconds since the Unix epoch.
    pub connected_at: u64,
}

impl State {
    /// A fresh vhost with the default exchange and the `amq.*` exchanges.
    pub fn new() -> State {
        let mut state = State { started: Some(Instant::now()), ..State::default() };
        for (name, kind) in [
            ("", ExchangeKind::Direct),
            ("amq.direct", ExchangeKind::Direct),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.topic", ExchangeKind::Topic),
            ("amq.headers", ExchangeKind::Headers),
            ("amq.match", ExchangeKind::Headers),
        ] {
            state.exchanges.insert(
                name.to_owned(),
                Exchange { kind, durable: true, auto_delete: false, internal: false, bindings: Vec::new() },
            );
        }
        state
    }

    /// Registers an open channel.
    pub fn open_channel(&mut self, conn: ConnId, channel: ChannelId, out: UnboundedSender<Out>, frame_max: usize) {
        self.channels.insert(
            (conn, channel),
            Channel {
                out,
                frame_max,
                prefetch: 0,
                active: true,
                confirm: false,
                next_tag: 1,
                unacked: BTreeMap::new(),
            },
        );
    }

    /// Closes a channel: its consumers go, its unacknowledged messages go back to their queues
    /// marked redelivered.
    pub fn close_channel(&mut self, conn: ConnId, channel: ChannelId) {
        let Some(ch) = self.channels.remove(&(conn, channel)) else { return };
        let mut touched: Vec<String> = Vec::new();
        for (_, u) in ch.unacked.into_iter().rev() {
            if let Some(q) = self.queues.get_mut(&u.queue) {
                q.unacked = q.unacked.saturating_sub(1);
                q.messages.push_front(Entry { redelivered: true, ..u.entry });
                touched.push(u.queue);
            }
        }
        let names: Vec<String> = self.queues.keys().cloned().collect();
        for name in names {
            let mut gone = Vec::new();
            if let Some(q) = self.queues.get_mut(&name) {
                q.consumers.retain(|c| {
                    let mine = c.conn == conn && c.channel == channel;
                    if mine {
                        gone.push(c.tag.clone());
                    }
                    !mine
                });
            }
            if !gone.is_empty() {
                self.maybe_auto_delete(&name);
                touched.push(name);
            }
        }
        touched.dedup();
        for q in touched {
            self.dispatch(&q);
        }
    }

    /// Closes a connection: its channels, then its exclusive queues.
    pub fn close_connection(&mut self, conn: ConnId) {
        self.connections.remove(&conn);
        let channels: Vec<ChannelId> = self.channels.keys().filter(|(c, _)| *c == conn).map(|(_, ch)| *ch).collect();
        for ch in channels {
            self.close_channel(conn, ch);
        }
        let exclusive: Vec<String> =
            self.queues.iter().filter(|(_, q)| q.owner == Some(conn)).map(|(n, _)| n.clone()).collect();
        for name in exclusive {
            self.delete_queue(&name);
        }
    }

    /// Routes a message through an exchange into its queues and dispatches them.
    /// `on_return` sees a mandatory message that reached no queue (for `basic.return`). Returns
    /// the queues it reached that are now backlogged (see [`FLOW_HIGH`]).
    pub fn publish(
        &mut self,
        exchange: &str,
        message: Message,
        mandatory: bool,
        on_return: impl FnOnce(&Message),
    ) -> Result<Vec<String>, AmqpError> {
        let ex = self
            .exchanges
            .get(exchange)
            .ok_or_else(|| AmqpError::not_found(format!("no exchange '{exchange}' in vhost '{VHOST}'")))?;
        if ex.internal {
            return Err(AmqpError::access_refused(format!(
                "cannot publish to internal exchange '{exchange}' in vhost '{VHOST}'"
            )));
        }
        if let Some(expiration) = message.properties.expiration() {
            let text = expiration.as_str();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.parse::<u64>().is_err() {
                return Err(AmqpError::precondition(format!("invalid expiration '{text}': no_integer")));
            }
        }
        self.stats.count(None, Some(exchange), |c| c.publish += 1);
        let routed = self.route(exchange, message)?;
        if let Err(message) = &routed {
            if mandatory {
                self.stats.count(None, None, |c| c.return_unroutable += 1);
                on_return(message);
            } else {
                self.stats.count(None, None, |c| c.drop_unroutable += 1);
            }
        }
        Ok(routed
            .map(|queues| queues.into_iter().filter(|q| self.backlogged(q, FLOW_HIGH)).collect())
            .unwrap_or_default())
    }

    /// Puts a message into every queue `exchange` routes it to and dispatches them: the
    /// number of queues, or the message back when it reached none (or the exchange is gone).
    pub(super) fn route(
        &mut self,
        exchange: &str,
        message: Message,
    ) -> Result<Result<Vec<String>, Message>, AmqpError> {
        let Some(ex) = self.exchanges.get(exchange) else { return Ok(Err(message)) };
        let queues = if exchange.is_empty() {
            if self.queues.contains_key(&message.routing_key) { vec![message.routing_key.clone()] } else { Vec::new() }
        } else {
            ex.route(&message.routing_key, message.properties.headers().as_ref())
        };
        if let (Some(t), Some(trace)) = (&self.telemetry, &message.trace) {
            t.route(trace, exchange, &message.routing_key, &queues);
        }
        if queues.is_empty() {
            return Ok(Err(message));
        }
        let message = Arc::new(message);
        for name in &queues {
            self.enqueue(name, &message)?;
            self.dispatch(name);
        }
        Ok(Ok(queues))
    }

    /// Whether connection `conn` has a consumer on `queue`.
    pub fn consumes_from(&self, conn: ConnId, queue: &str) -> bool {
        self.queues.get(queue).is_some_and(|q| q.consumers.iter().any(|c| c.conn == conn))
    }

    /// Whether a queue's consumers are more than `limit` messages behind (flow control holds
    /// its publishers back until they catch up).
    pub fn backlogged(&self, queue: &str, limit: usize) -> bool {
        self.queues.get(queue).is_some_and(|q| q.ready() >= limit && !q.consumers.is_empty())
    }

    /// Adds a consumer and dispatches to it; `on_ok` runs once the consumer is accepted, before
    /// any delivery (for `consume-ok`).
    pub fn consume(&mut self, consumer: Consumer, queue: &str, on_ok: impl FnOnce()) -> Result<(), AmqpError> {
        let q = self.queue_for(consumer.conn, queue)?;
        if q.consumers.iter().any(|c| c.exclusive) {
            return Err(AmqpError::access_refused(format!("queue '{queue}' in vhost '{VHOST}' in exclusive use")));
        }
        if consumer.exclusive && !q.consumers.is_empty() {
            return Err(AmqpError::access_refused(format!("queue '{queue}' in vhost '{VHOST}' in exclusive use")));
        }
        on_ok();
        if let Some(q) = self.queues.get_mut(queue) {
            q.consumers.push(consumer);
            q.had_consumers = true;
        }
        self.dispatch(queue);
        Ok(())
    }

    /// Removes a consumer by tag from a channel; returns whether it existed.
    pub fn cancel(&mut self, conn: ConnId, channel: ChannelId, tag: &str) -> bool {
        let mut found = None;
        for (name, q) in self.queues.iter_mut() {
            let before = q.consumers.len();
            q.consumers.retain(|c| !(c.conn == conn && c.channel == channel && c.tag == tag));
            if q.consumers.len() != before {
                found = Some(name.clone());
                break;
            }
        }
        if let Some(name) = &found {
            self.maybe_auto_delete(name);
        }
        found.is_some()
    }

    /// Whether a consumer tag is in use on a channel.
    pub fn has_consumer(&self, conn: ConnId, channel: ChannelId, tag: &str) -> bool {
        self.queues.values().flat_map(|q| &q.consumers).any(|c| c.conn == conn && c.channel == channel && c.tag == tag)
    }

    /// `basic.get`: the next ready message, recorded as unacknowledged unless `no_ack`.
    pub fn get(
        &mut self,
        conn: ConnId,
        channel: ChannelId,
        queue: &str,
        no_ack: bool,
    ) -> Result<Option<Got>, AmqpError> {
        self.queue_for(conn, queue)?;
        self.expire_head(queue, Instant::now());
        if !self.channels.contains_key(&(conn, channel)) {
            return Ok(None);
        }
        let Some(q) = self.queues.get_mut(queue) else { return Ok(None) };
        let Some(entry) = q.messages.pop_front() else { return Ok(None) };
        let remaining = q.messages.len() as u32;
        let Some(ch) = self.channels.get_mut(&(conn, channel)) else { return Ok(None) };
        let tag = ch.next_tag;
        ch.next_tag += 1;
        let properties = match (&self.telemetry, &entry.message.trace) {
            (Some(t), Some(trace)) => {
                Some(t.deliver(trace, queue, None, tag, entry.redelivered, &entry.message.properties))
            }
            _ => None,
        };
        let got = Got {
            delivery_tag: tag,
            redelivered: entry.redelivered,
            message: Arc::clone(&entry.message),
            properties,
            remaining,
        };
        if no_ack {
            self.forget(queue, &entry);
        } else {
            q.unacked += 1;
            ch.unacked.insert(tag, Unacked { queue: queue.to_owned(), entry });
        }
        self.stats.count(Some(queue), None, |s| {
            if no_ack {
                s.get_no_ack += 1
            } else {
                s.get += 1
            }
            s.redeliver += u64::from(got.redelivered);
        });
        Ok(Some(got))
    }

    /// `basic.ack`: forgets acknowledged deliveries (`multiple`: all up to the tag; tag 0 with
    /// `multiple`: all).
    pub fn ack(&mut self, conn: ConnId, channel: ChannelId, tag: u64, multiple: bool) -> Result<(), AmqpError> {
        let settled = self.settle(conn, channel, tag, multiple)?;
        let mut queues: Vec<String> = Vec::new();
        for u in settled {
            if let Some(q) = self.queues.get_mut(&u.queue) {
                q.unacked = q.unacked.saturating_sub(1);
            }
            self.forget(&u.queue, &u.entry);
            self.stats.count(Some(&u.queue), None, |s| s.ack += 1);
            queues.push(u.queue);
        }
        self.redispatch(conn, channel, queues);
        Ok(())
    }

    /// Dispatches the queues settled deliveries came from, and the queues this channel consumes
    /// from (settling frees prefetch room), each once.
    fn redispatch(&mut self, conn: ConnId, channel: ChannelId, mut queues: Vec<String>) {
        queues.extend(self.channel_queues(conn, channel));
        queues.sort_unstable();
        queues.dedup();
        for q in queues {
            self.dispatch(&q);
        }
    }

    /// `basic.nack` / `basic.reject`: requeued at the head marked redelivered, or dead-lettered
    /// (dropped when the queue has no dead-letter exchange).
    pub fn reject(
        &mut self,
        conn: ConnId,
        channel: ChannelId,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<(), AmqpError> {
        let settled = self.settle(conn, channel, tag, multiple)?;
        let mut queues = Vec::new();
        for u in settled.into_iter().rev() {
            let Some(q) = self.queues.get_mut(&u.queue) else { continue };
            q.unacked = q.unacked.saturating_sub(1);
            if requeue {
                q.messages.push_front(Entry { redelivered: true, ..u.entry });
            } else {
                self.dead_letter(&u.queue, u.entry, "rejected");
            }
            queues.push(u.queue);
        }
        self.redispatch(conn, channel, queues);
        Ok(())
    }

    /// `basic.recover`: every unacknowledged delivery of the channel back to its queue.
    pub fn recover(&mut self, conn: ConnId, channel: ChannelId) {
        let _ = self.reject(conn, channel, 0, true, true);
    }

    fn settle(
        &mut self,
        conn: ConnId,
        channel: ChannelId,
        tag: u64,
        multiple: bool,
    ) -> Result<Vec<Unacked>, AmqpError> {
        let ch = self.channels.get_mut(&(conn, channel)).ok_or_else(|| AmqpError::channel("channel is not open"))?;
        if multiple {
            let keep = if tag == 0 { BTreeMap::new() } else { ch.unacked.split_off(&(tag + 1)) };
            let taken = std::mem::replace(&mut ch.unacked, keep);
            if tag != 0 && taken.is_empty() {
                return Err(AmqpError::precondition(format!("unknown delivery tag {tag}")));
            }
            return Ok(taken.into_values().collect());
        }
        match ch.unacked.remove(&tag) {
            Some(u) => Ok(vec![u]),
            None => Err(AmqpError::precondition(format!("unknown delivery tag {tag}"))),
        }
    }

    /// Queues with a consumer on this channel.
    fn channel_queues(&self, conn: ConnId, channel: ChannelId) -> Vec<String> {
        self.queues
            .iter()
            .filter(|(_, q)| q.consumers.iter().any(|c| c.conn == conn && c.channel == channel))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Sets a channel's prefetch and dispatches what it now has room for.
    pub fn qos(&mut self, conn: ConnId, channel: ChannelId, prefetch: u16) {
        if let Some(ch) = self.channels.get_mut(&(conn, channel)) {
            ch.prefetch = prefetch;
        }
        for q in self.channel_queues(conn, channel) {
            self.dispatch(&q);
        }
    }

    /// `channel.flow`: pauses or resumes deliveries on a channel.
    pub fn flow(&mut self, conn: ConnId, channel: ChannelId, active: bool) {
        if let Some(ch) = self.channels.get_mut(&(conn, channel)) {
            ch.active = active;
        }
        if active {
            for q in self.channel_queues(conn, channel) {
                self.dispatch(&q);
            }
        }
    }

    /// Hands ready messages of a queue to its consumers, round robin, skipping consumers whose
    /// channel is paused or has `prefetch` deliveries unacknowledged (fair dispatch). Expired
    /// messages at the head are dead-lettered first.
    pub fn dispatch(&mut self, queue: &str) {
        self.expire_head(queue, Instant::now());
        loop {
            let Some(q) = self.queues.get_mut(queue) else { return };
            if q.messages.is_empty() || q.consumers.is_empty() {
                return;
            }
            let n = q.consumers.len();
            let mut chosen = None;
            for k in 0..n {
                let i = (q.next_consumer + k) % n;
                let c = &q.consumers[i];
                let Some(ch) = self.channels.get(&(c.conn, c.channel)) else { continue };
                let full = !c.no_ack && ch.prefetch > 0 && ch.unacked.len() >= usize::from(ch.prefetch);
                if ch.active && !full {
                    chosen = Some(i);
                    break;
                }
            }
            let Some(i) = chosen else { return };
            q.next_consumer = (i + 1) % n;
            let Some(entry) = q.messages.pop_front() else { return };
            let c = q.consumers[i].clone();
            let Some(ch) = self.channels.get_mut(&(c.conn, c.channel)) else { return };
            let tag = ch.next_tag;
            ch.next_tag += 1;
            let deliver = basic::Deliver {
                consumer_tag: c.tag.as_str().into(),
                delivery_tag: tag,
                redelivered: entry.redelivered,
                exchange: entry.message.exchange.as_str().into(),
                routing_key: entry.message.routing_key.as_str().into(),
            };
            let traced = match (&self.telemetry, &entry.message.trace) {
                (Some(t), Some(trace)) => {
                    Some(t.deliver(trace, queue, Some(&c.tag), tag, entry.redelivered, &entry.message.properties))
                }
                _ => None,
            };
            send_content(
                &ch.out,
                c.channel,
                AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)),
                &entry.message,
                traced.as_ref(),
                ch.frame_max,
            );
            let redelivered = entry.redelivered;
            if c.no_ack {
                self.forget(queue, &entry);
            } else {
                q.unacked += 1;
                ch.unacked.insert(tag, Unacked { queue: queue.to_owned(), entry });
            }
            self.stats.count(Some(queue), None, |s| {
                if c.no_ack {
                    s.deliver_no_ack += 1
                } else {
                    s.deliver += 1
                }
                s.redeliver += u64::from(redelivered);
            });
        }
    }
}

/// Sends a method that carries content (deliver, get-ok, return); the writer adds its header
/// and body frames, the body cut to the negotiated frame size.
pub fn send_content(
    out: &UnboundedSender<Out>,
    channel: ChannelId,
    method: AMQPClass,
    message: &Arc<Message>,
    properties: Option<&basic::AMQPProperties>,
    frame_max: usize,
) {
    let _ = out.send(Out::Content {
        channel,
        method,
        message: Arc::clone(message),
        properties: properties.cloned(),
        frame_max,
    });
}
