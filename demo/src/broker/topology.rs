//! Declaring and deleting exchanges and queues, binding them, and purging: the topology of
//! the virtual host, with RabbitMQ's checks and error texts. Durable parts are saved with the
//! store's definitions.

use std::collections::VecDeque;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic};
use amq_protocol::types::{AMQPValue, FieldTable};

use super::error::AmqpError;
use super::routing::{Binding, Exchange, ExchangeKind};
use super::state::{ConnId, Queue, State, VHOST, int_value};
use super::store::{BindingDef, Definitions, ExchangeDef, QueueDef};

impl State {
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
        if durable {
            self.save_definitions();
        }
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
        let durable = exchange.durable;
        self.exchanges.remove(name);
        if durable {
            self.save_definitions();
        }
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
        for key in ["x-dead-letter-exchange", "x-dead-letter-routing-key"] {
            if let Some(v) = arguments.inner().get(key)
                && !matches!(v, AMQPValue::LongString(_) | AMQPValue::ShortString(_))
            {
                return Err(AmqpError::precondition(format!(
                    "invalid arg '{key}' for queue '{name}' in vhost '{VHOST}': {{unacceptable_type,{v:?}}}"
                )));
            }
        }
        let durable_store = durable && !exclusive && self.store.is_some();
        if durable_store
            && let Some(store) = self.store.as_mut()
            && let Err(e) = store.add_queue(&name)
        {
            return Err(AmqpError::internal(format!("cannot create the log of queue '{name}': {e}")));
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
                next_id: 0,
            },
        );
        if durable_store {
            self.save_definitions();
        }
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

    /// The exchange of a bind or unbind, after checking the queue is `conn`'s to use and the
    /// exchange is not the default one.
    fn binding_target(&mut self, conn: ConnId, queue: &str, exchange: &str) -> Result<&mut Exchange, AmqpError> {
        if exchange.is_empty() {
            return Err(AmqpError::access_refused("operation not permitted on the default exchange"));
        }
        self.queue_for(conn, queue)?;
        self.exchanges
            .get_mut(exchange)
            .ok_or_else(|| AmqpError::not_found(format!("no exchange '{exchange}' in vhost '{VHOST}'")))
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
        let ex = self.binding_target(conn, queue, exchange)?;
        let binding = Binding { queue: queue.to_owned(), routing_key: routing_key.to_owned(), arguments };
        if !ex.bindings.contains(&binding) {
            ex.bindings.push(binding);
            if ex.durable {
                self.save_definitions();
            }
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
        let ex = self.binding_target(conn, queue, exchange)?;
        ex.bindings.retain(|b| !(b.queue == queue && b.routing_key == routing_key && b.arguments == *arguments));
        let durable = ex.durable;
        self.maybe_auto_delete_exchange(exchange);
        if durable {
            self.save_definitions();
        }
        Ok(())
    }

    /// Empties a queue's ready messages; returns how many there were.
    pub fn purge(&mut self, conn: ConnId, queue: &str) -> Result<u32, AmqpError> {
        self.queue_for(conn, queue)?;
        let purged = self.queues.get_mut(queue).map(|q| std::mem::take(&mut q.messages)).unwrap_or_default();
        for entry in &purged {
            self.forget(queue, entry);
        }
        Ok(purged.len() as u32)
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
                let _ = ch
                    .out
                    .send(AMQPFrame::Method(c.channel, AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel))).into());
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
        if q.durable {
            if let Some(store) = self.store.as_mut() {
                store.remove_queue(name);
            }
            self.save_definitions();
        }
        q.messages.len() as u32
    }

    /// Writes the durable exchanges, queues and bindings to the store.
    pub(super) fn save_definitions(&mut self) {
        let Some(store) = self.store.as_ref() else { return };
        let durable_queue = |name: &str| self.queues.get(name).is_some_and(|q| q.durable && q.owner.is_none());
        let mut defs = Definitions::default();
        for (name, ex) in &self.exchanges {
            if ex.durable && !name.is_empty() && !name.starts_with("amq.") {
                defs.exchanges.push(ExchangeDef {
                    name: name.clone(),
                    kind: ex.kind.as_str().to_owned(),
                    auto_delete: ex.auto_delete,
                    internal: ex.internal,
                });
            }
            if ex.durable && !name.is_empty() {
                for b in ex.bindings.iter().filter(|b| durable_queue(&b.queue)) {
                    defs.bindings.push(BindingDef {
                        exchange: name.clone(),
                        queue: b.queue.clone(),
                        routing_key: b.routing_key.clone(),
                        arguments: b.arguments.clone(),
                    });
                }
            }
        }
        for (name, q) in &self.queues {
            if durable_queue(name) {
                defs.queues.push(QueueDef {
                    name: name.clone(),
                    auto_delete: q.auto_delete,
                    arguments: q.arguments.clone(),
                });
            }
        }
        if let Err(e) = store.save_definitions(&defs) {
            tracing::error!(error = %e, "failed to save broker definitions");
        }
    }

    pub(super) fn maybe_auto_delete(&mut self, queue: &str) {
        if self.queues.get(queue).is_some_and(|q| q.auto_delete && q.had_consumers && q.consumers.is_empty()) {
            self.delete_queue(queue);
        }
    }

    fn maybe_auto_delete_exchange(&mut self, exchange: &str) {
        if self.exchanges.get(exchange).is_some_and(|e| e.auto_delete && e.bindings.is_empty()) {
            self.exchanges.remove(exchange);
        }
    }
}
