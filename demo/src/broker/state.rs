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

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{AMQPClass, basic};
use amq_protocol::types::{AMQPValue, ChannelId, FieldTable, ShortString};
use tokio::sync::mpsc::UnboundedSender;

use super::error::AmqpError;

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
}

/// A message waiting in a queue.
#[derive(Debug, Clone)]
struct Entry {
    message: Arc<Message>,
    redelivered: bool,
}

/// The exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// By exact routing key.
    Direct,
    /// To every bound queue.
    Fanout,
    /// By routing-key pattern (`*`, `#`).
    Topic,
    /// By message headers (`x-match` all / any).
    Headers,
}

impl ExchangeKind {
    /// The type from its AMQP name.
    pub fn parse(name: &str) -> Option<ExchangeKind> {
        match name {
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "topic" => Some(ExchangeKind::Topic),
            "headers" => Some(ExchangeKind::Headers),
            _ => None,
        }
    }

    /// The AMQP name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

/// A queue bound to an exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub queue: String,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// An exchange.
#[derive(Debug)]
pub struct Exchange {
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub bindings: Vec<Binding>,
}

impl Exchange {
    /// The queues a message goes to, each once.
    fn route(&self, routing_key: &str, headers: Option<&FieldTable>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for b in &self.bindings {
            let matched = match self.kind {
                ExchangeKind::Direct => b.routing_key == routing_key,
                ExchangeKind::Fanout => true,
                ExchangeKind::Topic => topic_matches(&b.routing_key, routing_key),
                ExchangeKind::Headers => headers_match(&b.arguments, headers),
            };
            if matched && !out.contains(&b.queue) {
                out.push(b.queue.clone());
            }
        }
        out
    }
}

/// Whether a topic binding pattern (`*` one word, `#` zero or more) matches a routing key.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn matches(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|skip| matches(rest, &k[skip..])),
            Some((&"*", rest)) => !k.is_empty() && matches(rest, &k[1..]),
            Some((word, rest)) => k.first() == Some(word) && matches(rest, &k[1..]),
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = if key.is_empty() { Vec::new() } else { key.split('.').collect() };
    matches(&p, &k)
}

/// Whether a headers binding (`x-match` `all` or `any`, default `all`; the `-with-x` forms also
/// compare `x-` keys) matches a message's headers. A binding value of void only asks for presence.
pub fn headers_match(binding: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let mode = match binding.inner().get("x-match") {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.as_str().to_owned(),
        _ => "all".to_owned(),
    };
    let with_x = mode.ends_with("-with-x");
    let any = mode.starts_with("any");
    let empty = FieldTable::default();
    let headers = headers.unwrap_or(&empty).inner();
    let mut wanted =
        binding.inner().iter().filter(|(k, _)| k.as_str() != "x-match" && (with_x || !k.as_str().starts_with("x-")));
    let hit = |(k, v): (&ShortString, &AMQPValue)| match (v, headers.get(k)) {
        (_, None) => false,
        (AMQPValue::Void, Some(_)) => true,
        (v, Some(h)) => same_value(v, h),
    };
    if any { wanted.any(hit) } else { wanted.all(hit) }
}

/// Header values compare by meaning: strings of either kind, integers of any width.
fn same_value(a: &AMQPValue, b: &AMQPValue) -> bool {
    fn text(v: &AMQPValue) -> Option<Vec<u8>> {
        match v {
            AMQPValue::LongString(s) => Some(s.as_bytes().to_vec()),
            AMQPValue::ShortString(s) => Some(s.as_str().as_bytes().to_vec()),
            _ => None,
        }
    }
    fn int(v: &AMQPValue) -> Option<i128> {
        Some(match v {
            AMQPValue::ShortShortInt(n) => i128::from(*n),
            AMQPValue::ShortShortUInt(n) => i128::from(*n),
            AMQPValue::ShortInt(n) => i128::from(*n),
            AMQPValue::ShortUInt(n) => i128::from(*n),
            AMQPValue::LongInt(n) => i128::from(*n),
            AMQPValue::LongUInt(n) => i128::from(*n),
            AMQPValue::LongLongInt(n) => i128::from(*n),
            AMQPValue::Timestamp(n) => i128::from(*n),
            _ => return None,
        })
    }
    match (text(a), text(b), int(a), int(b)) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a == b,
    }
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
    messages: VecDeque<Entry>,
    pub consumers: Vec<Consumer>,
    /// Where the round robin over consumers starts next.
    next_consumer: usize,
    /// Whether a consumer ever subscribed (an auto-delete queue goes when the last one leaves).
    had_consumers: bool,
    pub unacked: usize,
}

impl Queue {
    /// Messages ready for delivery.
    pub fn ready(&self) -> usize {
        self.messages.len()
    }

    /// The queue's `x-max-length`, if set.
    fn max_length(&self) -> Option<usize> {
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
    /// Messages left ready.
    pub remaining: u32,
}

/// A delivery waiting for its acknowledgement.
#[derive(Debug, Clone)]
pub struct Unacked {
    pub queue: String,
    message: Arc<Message>,
}

/// An open channel, as dispatch needs it.
#[derive(Debug)]
pub struct Channel {
    /// Where this connection's outgoing frames go.
    out: UnboundedSender<AMQPFrame>,
    frame_max: usize,
    /// `basic.qos` prefetch count (0 = unlimited).
    pub prefetch: u16,
    /// Whether `channel.flow` lets deliveries through.
    pub active: bool,
    next_tag: u64,
    pub unacked: BTreeMap<u64, Unacked>,
}

/// The whole broker state.
#[derive(Debug, Default)]
pub struct State {
    pub exchanges: BTreeMap<String, Exchange>,
    pub queues: BTreeMap<String, Queue>,
    pub channels: HashMap<(ConnId, ChannelId), Channel>,
    /// For server-named queues.
    names: u64,
    started: Option<Instant>,
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
    pub fn open_channel(
        &mut self,
        conn: ConnId,
        channel: ChannelId,
        out: UnboundedSender<AMQPFrame>,
        frame_max: usize,
    ) {
        self.channels.insert(
            (conn, channel),
            Channel { out, frame_max, prefetch: 0, active: true, next_tag: 1, unacked: BTreeMap::new() },
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
                q.messages.push_front(Entry { message: u.message, redelivered: true });
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

    /// A server-generated queue name, as RabbitMQ's `amq.gen-…`.
    pub fn generate_queue_name(&mut self) -> String {
        self.names += 1;
        let nanos = self.started.map(|s| s.elapsed().as_nanos()).unwrap_or_default();
        format!("amq.gen-{:016x}{:06x}", (nanos as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), self.names)
    }

    /// Declares (or checks) an exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn declare_exchange(
        &mut self,
        name: &str,
        kind: &str,
        passive: bool,
        durable: bool,
        auto_delete: bool,
        internal: bool,
    ) -> Result<(), AmqpError> {
        if let Some(existing) = self.exchanges.get(name) {
            if passive {
                return Ok(());
            }
            if existing.kind.as_str() != kind {
                return Err(AmqpError::precondition(format!(
                    "inequivalent arg 'type' for exchange '{name}' in vhost '{VHOST}': received '{kind}' but current is '{}'",
                    existing.kind.as_str()
                )));
            }
            if existing.durable != durable {
                return Err(AmqpError::precondition(format!(
                    "inequivalent arg 'durable' for exchange '{name}' in vhost '{VHOST}': received '{durable}' but current is '{}'",
                    existing.durable
                )));
            }
            return Ok(());
        }
        if passive {
            return Err(AmqpError::not_found(format!("no exchange '{name}' in vhost '{VHOST}'")));
        }
        if name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!("exchange name '{name}' contains reserved prefix 'amq.*'")));
        }
        let kind = ExchangeKind::parse(kind)
            .ok_or_else(|| AmqpError::command_invalid(format!("unknown exchange type '{kind}'")))?;
        self.exchanges.insert(name.to_owned(), Exchange { kind, durable, auto_delete, internal, bindings: Vec::new() });
        Ok(())
    }

    /// Deletes an exchange and its bindings.
    pub fn delete_exchange(&mut self, name: &str, if_unused: bool) -> Result<(), AmqpError> {
        if name.is_empty() || name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!(
                "operation not permitted on the default exchange or an amq.* exchange '{name}'"
            )));
        }
        let Some(exchange) = self.exchanges.get(name) else {
            return Err(AmqpError::not_found(format!("no exchange '{name}' in vhost '{VHOST}'")));
        };
        if if_unused && !exchange.bindings.is_empty() {
            return Err(AmqpError::precondition(format!("exchange '{name}' in vhost '{VHOST}' in use")));
        }
        self.exchanges.remove(name);
        Ok(())
    }

    /// Declares (or checks) a queue; returns its name, ready messages and consumers.
    #[allow(clippy::too_many_arguments)]
    pub fn declare_queue(
        &mut self,
        conn: ConnId,
        name: &str,
        passive: bool,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        arguments: FieldTable,
    ) -> Result<(String, u32, u32), AmqpError> {
        let name = if name.is_empty() && !passive { self.generate_queue_name() } else { name.to_owned() };
        if let Some(q) = self.queues.get(&name) {
            if q.owner.is_some_and(|o| o != conn) {
                return Err(AmqpError::resource_locked(format!(
                    "cannot obtain exclusive access to locked queue '{name}' in vhost '{VHOST}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration."
                )));
            }
            if !passive {
                for (arg, received, current) in [
                    ("durable", durable, q.durable),
                    ("exclusive", exclusive, q.owner.is_some()),
                    ("auto_delete", auto_delete, q.auto_delete),
                ] {
                    if received != current {
                        return Err(AmqpError::precondition(format!(
                            "inequivalent arg '{arg}' for queue '{name}' in vhost '{VHOST}': received '{received}' but current is '{current}'"
                        )));
                    }
                }
            }
            return Ok((name, q.ready() as u32, q.consumers.len() as u32));
        }
        if passive {
            return Err(AmqpError::not_found(format!("no queue '{name}' in vhost '{VHOST}'")));
        }
        if name.starts_with("amq.") && !name.starts_with("amq.gen-") {
            return Err(AmqpError::access_refused(format!("queue name '{name}' contains reserved prefix 'amq.*'")));
        }
        for key in ["x-message-ttl", "x-max-length"] {
            if let Some(v) = arguments.inner().get(key)
                && int_value(v).is_none_or(|n| n < 0)
            {
                return Err(AmqpError::precondition(format!(
                    "invalid arg '{key}' for queue '{name}' in vhost '{VHOST}': {{value_negative_or_not_an_integer,{v:?}}}"
                )));
            }
        }
        self.queues.insert(
            name.clone(),
            Queue {
                durable,
                owner: exclusive.then_some(conn),
                auto_delete,
                arguments,
                messages: VecDeque::new(),
                consumers: Vec::new(),
                next_consumer: 0,
                had_consumers: false,
                unacked: 0,
            },
        );
        // Every queue is bound to the default exchange by its name.
        Ok((name, 0, 0))
    }

    /// Checks that `conn` may use queue `name`.
    pub fn queue_for(&self, conn: ConnId, name: &str) -> Result<&Queue, AmqpError> {
        let q = self
            .queues
            .get(name)
            .ok_or_else(|| AmqpError::not_found(format!("no queue '{name}' in vhost '{VHOST}'")))?;
        if q.owner.is_some_and(|o| o != conn) {
            return Err(AmqpError::resource_locked(format!(
                "cannot obtain exclusive access to locked queue '{name}' in vhost '{VHOST}'"
            )));
        }
        Ok(q)
    }

    /// Binds a queue to an exchange (binding twice is a no-op).
    pub fn bind(
        &mut self,
        conn: ConnId,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), AmqpError> {
        if exchange.is_empty() {
            return Err(AmqpError::access_refused("operation not permitted on the default exchange"));
        }
        self.queue_for(conn, queue)?;
        let ex = self
            .exchanges
            .get_mut(exchange)
            .ok_or_else(|| AmqpError::not_found(format!("no exchange '{exchange}' in vhost '{VHOST}'")))?;
        let binding = Binding { queue: queue.to_owned(), routing_key: routing_key.to_owned(), arguments };
        if !ex.bindings.contains(&binding) {
            ex.bindings.push(binding);
        }
        Ok(())
    }

    /// Removes a binding (removing one that does not exist is a no-op).
    pub fn unbind(
        &mut self,
        conn: ConnId,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<(), AmqpError> {
        if exchange.is_empty() {
            return Err(AmqpError::access_refused("operation not permitted on the default exchange"));
        }
        self.queue_for(conn, queue)?;
        let ex = self
            .exchanges
            .get_mut(exchange)
            .ok_or_else(|| AmqpError::not_found(format!("no exchange '{exchange}' in vhost '{VHOST}'")))?;
        ex.bindings.retain(|b| !(b.queue == queue && b.routing_key == routing_key && b.arguments == *arguments));
        self.maybe_auto_delete_exchange(exchange);
        Ok(())
    }

    /// Empties a queue's ready messages; returns how many there were.
    pub fn purge(&mut self, conn: ConnId, queue: &str) -> Result<u32, AmqpError> {
        self.queue_for(conn, queue)?;
        let q = self.queues.get_mut(queue).map(|q| std::mem::take(&mut q.messages));
        Ok(q.map(|m| m.len() as u32).unwrap_or(0))
    }

    /// Deletes a queue on request; returns the messages it held.
    pub fn delete_queue_checked(
        &mut self,
        conn: ConnId,
        queue: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<u32, AmqpError> {
        let q = self.queue_for(conn, queue)?;
        if if_unused && !q.consumers.is_empty() {
            return Err(AmqpError::precondition(format!("queue '{queue}' in vhost '{VHOST}' in use")));
        }
        if if_empty && q.ready() > 0 {
            return Err(AmqpError::precondition(format!("queue '{queue}' in vhost '{VHOST}' is not empty")));
        }
        Ok(self.delete_queue(queue))
    }

    /// Removes a queue, its bindings and its consumers (who are told with `basic.cancel`).
    pub fn delete_queue(&mut self, name: &str) -> u32 {
        let Some(q) = self.queues.remove(name) else { return 0 };
        for c in &q.consumers {
            if let Some(ch) = self.channels.get(&(c.conn, c.channel)) {
                let cancel = basic::Cancel { consumer_tag: c.tag.as_str().into(), nowait: true };
                let _ = ch.out.send(AMQPFrame::Method(c.channel, AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel))));
            }
        }
        let mut emptied = Vec::new();
        for (ex_name, ex) in self.exchanges.iter_mut() {
            let before = ex.bindings.len();
            ex.bindings.retain(|b| b.queue != name);
            if before != ex.bindings.len() {
                emptied.push(ex_name.clone());
            }
        }
        for ex in emptied {
            self.maybe_auto_delete_exchange(&ex);
        }
        q.messages.len() as u32
    }

    fn maybe_auto_delete(&mut self, queue: &str) {
        if self.queues.get(queue).is_some_and(|q| q.auto_delete && q.had_consumers && q.consumers.is_empty()) {
            self.delete_queue(queue);
        }
    }

    fn maybe_auto_delete_exchange(&mut self, exchange: &str) {
        if self.exchanges.get(exchange).is_some_and(|e| e.auto_delete && e.bindings.is_empty()) {
            self.exchanges.remove(exchange);
        }
    }

    /// Routes a message through an exchange into its queues and dispatches them.
    /// `on_unroutable` sees a message that reached no queue (for `basic.return`).
    pub fn publish(
        &mut self,
        exchange: &str,
        message: Message,
        on_unroutable: impl FnOnce(&Message),
    ) -> Result<usize, AmqpError> {
        let ex = self
            .exchanges
            .get(exchange)
            .ok_or_else(|| AmqpError::not_found(format!("no exchange '{exchange}' in vhost '{VHOST}'")))?;
        if ex.internal {
            return Err(AmqpError::access_refused(format!(
                "cannot publish to internal exchange '{exchange}' in vhost '{VHOST}'"
            )));
        }
        let queues = if exchange.is_empty() {
            if self.queues.contains_key(&message.routing_key) { vec![message.routing_key.clone()] } else { Vec::new() }
        } else {
            ex.route(&message.routing_key, message.properties.headers().as_ref())
        };
        if queues.is_empty() {
            on_unroutable(&message);
        }
        let message = Arc::new(message);
        for name in &queues {
            if let Some(q) = self.queues.get_mut(name) {
                q.messages.push_back(Entry { message: Arc::clone(&message), redelivered: false });
                if let Some(max) = q.max_length() {
                    // RabbitMQ's default overflow: drop from the head.
                    while q.messages.len() > max {
                        q.messages.pop_front();
                    }
                }
            }
            self.dispatch(name);
        }
        Ok(queues.len())
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
        let Some(q) = self.queues.get_mut(queue) else { return Ok(None) };
        let Some(entry) = q.messages.pop_front() else { return Ok(None) };
        let remaining = q.messages.len() as u32;
        if !no_ack {
            q.unacked += 1;
        }
        let Some(ch) = self.channels.get_mut(&(conn, channel)) else { return Ok(None) };
        let tag = ch.next_tag;
        ch.next_tag += 1;
        if !no_ack {
            ch.unacked.insert(tag, Unacked { queue: queue.to_owned(), message: Arc::clone(&entry.message) });
        }
        Ok(Some(Got { delivery_tag: tag, redelivered: entry.redelivered, message: entry.message, remaining }))
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
            queues.push(u.queue);
        }
        queues.dedup();
        // Acks free prefetch room on this channel: its consumers' queues may deliver more.
        let consumed = self.channel_queues(conn, channel);
        for q in queues.into_iter().chain(consumed) {
            self.dispatch(&q);
        }
        Ok(())
    }

    /// `basic.nack` / `basic.reject`: requeued at the head marked redelivered, or dropped.
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
            if let Some(q) = self.queues.get_mut(&u.queue) {
                q.unacked = q.unacked.saturating_sub(1);
                if requeue {
                    q.messages.push_front(Entry { message: u.message, redelivered: true });
                }
            }
            queues.push(u.queue);
        }
        queues.dedup();
        let consumed = self.channel_queues(conn, channel);
        for q in queues.into_iter().chain(consumed) {
            self.dispatch(&q);
        }
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
    /// channel is paused or has `prefetch` deliveries unacknowledged (fair dispatch).
    pub fn dispatch(&mut self, queue: &str) {
        let Some(q) = self.queues.get_mut(queue) else { return };
        while !q.messages.is_empty() && !q.consumers.is_empty() {
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
            let Some(i) = chosen else { break };
            q.next_consumer = (i + 1) % n;
            let Some(entry) = q.messages.pop_front() else { break };
            let c = q.consumers[i].clone();
            let Some(ch) = self.channels.get_mut(&(c.conn, c.channel)) else { break };
            let tag = ch.next_tag;
            ch.next_tag += 1;
            if !c.no_ack {
                q.unacked += 1;
                ch.unacked.insert(tag, Unacked { queue: queue.to_owned(), message: Arc::clone(&entry.message) });
            }
            let deliver = basic::Deliver {
                consumer_tag: c.tag.as_str().into(),
                delivery_tag: tag,
                redelivered: entry.redelivered,
                exchange: entry.message.exchange.as_str().into(),
                routing_key: entry.message.routing_key.as_str().into(),
            };
            send_content(
                &ch.out,
                c.channel,
                AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)),
                &entry.message,
                ch.frame_max,
            );
        }
    }
}

/// Sends a method that carries content (deliver, get-ok, return) with its header and body
/// frames, the body cut to the negotiated frame size.
pub fn send_content(
    out: &UnboundedSender<AMQPFrame>,
    channel: ChannelId,
    method: AMQPClass,
    message: &Message,
    frame_max: usize,
) {
    let _ = out.send(AMQPFrame::Method(channel, method));
    let header = AMQPContentHeader {
        class_id: 60,
        body_size: message.body.len() as u64,
        properties: message.properties.clone(),
    };
    let _ = out.send(AMQPFrame::Header(channel, header));
    // A frame's payload is the frame size less 8 bytes of framing.
    let chunk = frame_max.saturating_sub(8).max(1);
    for part in message.body.chunks(chunk) {
        let _ = out.send(AMQPFrame::Body(channel, part.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_words() {
        for (pattern, key, want) in [
            ("sensor.*", "sensor.temp", true),
            ("sensor.*", "sensor.temp.room", false),
            ("sensor.*", "sensor", false),
            ("*.error", "db.error", true),
            ("*.error", "error", false),
            ("#", "", true),
            ("#", "a.b.c", true),
            ("a.#", "a", true),
            ("a.#.z", "a.b.c.z", true),
            ("a.#.z", "a.z", true),
            ("a.#.z", "a.b.c", false),
            ("order.created", "order.created", true),
        ] {
            assert_eq!(topic_matches(pattern, key), want, "{pattern} ~ {key}");
        }
    }

    #[test]
    fn headers_match_all_and_any() {
        let table = |pairs: &[(&str, &str)]| {
            let mut t = FieldTable::default();
            for (k, v) in pairs {
                t.insert((*k).into(), AMQPValue::LongString((*v).into()));
            }
            t
        };
        let all = table(&[("x-match", "all"), ("format", "pdf"), ("type", "report")]);
        let any = table(&[("x-match", "any"), ("format", "pdf"), ("type", "report")]);
        let msg = table(&[("format", "pdf"), ("type", "log")]);
        assert!(!headers_match(&all, Some(&msg)));
        assert!(headers_match(&any, Some(&msg)));
        assert!(headers_match(&all, Some(&table(&[("format", "pdf"), ("type", "report"), ("x", "y")]))));
        assert!(!headers_match(&any, None));
        let mut short = FieldTable::default();
        short.insert("format".into(), AMQPValue::ShortString("pdf".into()));
        assert!(headers_match(&table(&[("format", "pdf")]), Some(&short)));
    }
}
