//! A connection's channel methods: channel, exchange, queue, basic and confirm classes, and the
//! content frames that complete a publish.

use amq_protocol::frame::AMQPContentHeader;
use amq_protocol::protocol::{AMQPClass, basic, channel, confirm, exchange, queue, tx};
use amq_protocol::types::ChannelId;

use super::connection::{Connection, LocalChannel, MAX_MESSAGE, Pending};
use super::error::AmqpError;
use super::state::{Consumer, Got, Message, send_content};

impl Connection {
    /// Handles a method on channel `ch` (not 0).
    pub(super) fn channel_method(&mut self, ch: ChannelId, method: AMQPClass) -> Result<(), AmqpError> {
        let Some(local) = self.channels.get_mut(&ch) else {
            return match method {
                AMQPClass::Channel(channel::AMQPMethod::Open(_)) => self.open_channel(ch),
                _ => Err(AmqpError::channel(format!("expected 'channel.open' on channel {ch}"))),
            };
        };
        if local.closing {
            // Only the close handshake counts on a channel being closed.
            match method {
                AMQPClass::Channel(channel::AMQPMethod::CloseOk(_)) => {
                    self.channels.remove(&ch);
                }
                AMQPClass::Channel(channel::AMQPMethod::Close(_)) => {
                    self.send(ch, AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})));
                }
                _ => {}
            }
            return Ok(());
        }
        if local.pending.is_some() {
            return Err(AmqpError::unexpected_frame(format!(
                "expected content header for class 60, got a method on channel {ch}"
            )));
        }
        match method {
            AMQPClass::Channel(m) => self.channel_class(ch, m),
            AMQPClass::Exchange(m) => self.exchange_class(ch, m),
            AMQPClass::Queue(m) => self.queue_class(ch, m),
            AMQPClass::Basic(m) => self.basic_class(ch, m),
            AMQPClass::Confirm(confirm::AMQPMethod::Select(s)) => {
                if let Some(local) = self.channels.get_mut(&ch) {
                    local.confirm.get_or_insert(0);
                }
                self.broker.with_state(|st| {
                    if let Some(c) = st.channels.get_mut(&(self.conn, ch)) {
                        c.confirm = true;
                    }
                });
                if !s.nowait {
                    self.send(ch, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(confirm::SelectOk {})));
                }
                Ok(())
            }
            AMQPClass::Tx(tx::AMQPMethod::Select(_)) => {
                Err(AmqpError::not_implemented("transactions are not supported"))
            }
            other => Err(AmqpError::command_invalid(format!(
                "method {}.{} is not valid from a client",
                other.get_amqp_class_id(),
                other.get_amqp_method_id()
            ))),
        }
    }

    fn open_channel(&mut self, ch: ChannelId) -> Result<(), AmqpError> {
        if ch > self.channel_max {
            return Err(AmqpError::not_allowed(format!("channel id {ch} above the negotiated channel_max")));
        }
        self.channels.insert(ch, LocalChannel::default());
        let out = self.out.clone();
        let frame_max = self.frame_max;
        self.broker.with_state(|s| s.open_channel(self.conn, ch, out, frame_max));
        self.send(ch, AMQPClass::Channel(channel::AMQPMethod::OpenOk(channel::OpenOk {})));
        Ok(())
    }

    fn channel_class(&mut self, ch: ChannelId, m: channel::AMQPMethod) -> Result<(), AmqpError> {
        match m {
            channel::AMQPMethod::Open(_) => Err(AmqpError::channel(format!("channel {ch} already open"))),
            channel::AMQPMethod::Close(_) => {
                self.channels.remove(&ch);
                self.broker.with_state(|s| s.close_channel(self.conn, ch));
                self.send(ch, AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})));
                Ok(())
            }
            channel::AMQPMethod::CloseOk(_) | channel::AMQPMethod::FlowOk(_) => Ok(()),
            channel::AMQPMethod::Flow(f) => {
                self.broker.with_state(|s| s.flow(self.conn, ch, f.active));
                self.send(ch, AMQPClass::Channel(channel::AMQPMethod::FlowOk(channel::FlowOk { active: f.active })));
                Ok(())
            }
            channel::AMQPMethod::OpenOk(_) => Err(AmqpError::command_invalid("channel.open_ok from a client")),
        }
    }

    fn exchange_class(&mut self, ch: ChannelId, m: exchange::AMQPMethod) -> Result<(), AmqpError> {
        match m {
            exchange::AMQPMethod::Declare(d) => {
                self.broker.with_state(|s| {
                    s.declare_exchange(
                        d.exchange.as_str(),
                        d.kind.as_str(),
                        d.passive,
                        d.durable,
                        d.auto_delete,
                        d.internal,
                    )
                })?;
                if !d.nowait {
                    self.send(ch, AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {})));
                }
                Ok(())
            }
            exchange::AMQPMethod::Delete(d) => {
                self.broker.with_state(|s| s.delete_exchange(d.exchange.as_str(), d.if_unused))?;
                if !d.nowait {
                    self.send(ch, AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {})));
                }
                Ok(())
            }
            exchange::AMQPMethod::Bind(_) | exchange::AMQPMethod::Unbind(_) => {
                Err(AmqpError::not_implemented("exchange-to-exchange bindings are not supported"))
            }
            _ => Err(AmqpError::command_invalid("exchange method not valid from a client")),
        }
    }

    /// The queue a method names, or the channel's last declared one for `""`.
    fn queue_name(&self, ch: ChannelId, name: &str) -> Result<String, AmqpError> {
        if !name.is_empty() {
            return Ok(name.to_owned());
        }
        match self.channels.get(&ch).map(|l| l.last_queue.clone()) {
            Some(q) if !q.is_empty() => Ok(q),
            _ => Err(AmqpError::not_found("no previously declared queue")),
        }
    }

    fn queue_class(&mut self, ch: ChannelId, m: queue::AMQPMethod) -> Result<(), AmqpError> {
        let conn = self.conn;
        match m {
            queue::AMQPMethod::Declare(d) => {
                let (name, messages, consumers) = self.broker.with_state(|s| {
                    s.declare_queue(
                        conn,
                        d.queue.as_str(),
                        d.passive,
                        d.durable,
                        d.exclusive,
                        d.auto_delete,
                        d.arguments,
                    )
                })?;
                if let Some(local) = self.channels.get_mut(&ch) {
                    local.last_queue = name.clone();
                }
                if !d.nowait {
                    self.send(
                        ch,
                        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(queue::DeclareOk {
                            queue: name.as_str().into(),
                            message_count: messages,
                            consumer_count: consumers,
                        })),
                    );
                }
                Ok(())
            }
            queue::AMQPMethod::Bind(b) => {
                let q = self.queue_name(ch, b.queue.as_str())?;
                self.broker
                    .with_state(|s| s.bind(conn, &q, b.exchange.as_str(), b.routing_key.as_str(), b.arguments))?;
                if !b.nowait {
                    self.send(ch, AMQPClass::Queue(queue::AMQPMethod::BindOk(queue::BindOk {})));
                }
                Ok(())
            }
            queue::AMQPMethod::Unbind(u) => {
                let q = self.queue_name(ch, u.queue.as_str())?;
                self.broker
                    .with_state(|s| s.unbind(conn, &q, u.exchange.as_str(), u.routing_key.as_str(), &u.arguments))?;
                self.send(ch, AMQPClass::Queue(queue::AMQPMethod::UnbindOk(queue::UnbindOk {})));
                Ok(())
            }
            queue::AMQPMethod::Purge(p) => {
                let q = self.queue_name(ch, p.queue.as_str())?;
                let message_count = self.broker.with_state(|s| s.purge(conn, &q))?;
                if !p.nowait {
                    self.send(ch, AMQPClass::Queue(queue::AMQPMethod::PurgeOk(queue::PurgeOk { message_count })));
                }
                Ok(())
            }
            queue::AMQPMethod::Delete(d) => {
                let q = self.queue_name(ch, d.queue.as_str())?;
                let message_count =
                    self.broker.with_state(|s| s.delete_queue_checked(conn, &q, d.if_unused, d.if_empty))?;
                if !d.nowait {
                    self.send(ch, AMQPClass::Queue(queue::AMQPMethod::DeleteOk(queue::DeleteOk { message_count })));
                }
                Ok(())
            }
            _ => Err(AmqpError::command_invalid("queue method not valid from a client")),
        }
    }

    fn basic_class(&mut self, ch: ChannelId, m: basic::AMQPMethod) -> Result<(), AmqpError> {
        let conn = self.conn;
        match m {
            basic::AMQPMethod::Qos(q) => {
                self.broker.with_state(|s| s.qos(conn, ch, q.prefetch_count));
                self.send(ch, AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})));
                Ok(())
            }
            basic::AMQPMethod::Consume(c) => {
                let queue = self.queue_name(ch, c.queue.as_str())?;
                let tag = if c.consumer_tag.as_str().is_empty() {
                    let local = self.channels.get_mut(&ch).ok_or_else(|| AmqpError::channel("channel is not open"))?;
                    local.consumers += 1;
                    format!("amq.ctag-{}-{}-{}", conn, ch, local.consumers)
                } else {
                    c.consumer_tag.as_str().to_owned()
                };
                let consumer =
                    Consumer { tag: tag.clone(), conn, channel: ch, no_ack: c.no_ack, exclusive: c.exclusive };
                let out = self.out.clone();
                self.broker.with_state(|s| {
                    if s.has_consumer(conn, ch, &tag) {
                        return Err(AmqpError::not_allowed(format!("attempt to reuse consumer tag '{tag}'")));
                    }
                    // consume-ok goes out before the first delivery.
                    s.consume(consumer, &queue, || {
                        if !c.nowait {
                            let ok = basic::ConsumeOk { consumer_tag: tag.as_str().into() };
                            let _ = out.send(
                                amq_protocol::frame::AMQPFrame::Method(
                                    ch,
                                    AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)),
                                )
                                .into(),
                            );
                        }
                    })
                })
            }
            basic::AMQPMethod::Cancel(c) => {
                self.broker.with_state(|s| s.cancel(conn, ch, c.consumer_tag.as_str()));
                if !c.nowait {
                    let ok = basic::CancelOk { consumer_tag: c.consumer_tag };
                    self.send(ch, AMQPClass::Basic(basic::AMQPMethod::CancelOk(ok)));
                }
                Ok(())
            }
            basic::AMQPMethod::Publish(p) => {
                if let Some(local) = self.channels.get_mut(&ch) {
                    local.pending = Some(Pending { publish: p, header: None, body: Vec::new() });
                }
                Ok(())
            }
            basic::AMQPMethod::Get(g) => {
                let queue = self.queue_name(ch, g.queue.as_str())?;
                let got = self.broker.with_state(|s| s.get(conn, ch, &queue, g.no_ack))?;
                match got {
                    Some(Got { delivery_tag, redelivered, message, properties, remaining }) => {
                        let ok = basic::GetOk {
                            delivery_tag,
                            redelivered,
                            exchange: message.exchange.as_str().into(),
                            routing_key: message.routing_key.as_str().into(),
                            message_count: remaining,
                        };
                        send_content(
                            &self.out,
                            ch,
                            AMQPClass::Basic(basic::AMQPMethod::GetOk(ok)),
                            &message,
                            properties.as_ref(),
                            self.frame_max,
                        );
                    }
                    None => self.send(ch, AMQPClass::Basic(basic::AMQPMethod::GetEmpty(basic::GetEmpty {}))),
                }
                Ok(())
            }
            basic::AMQPMethod::Ack(a) => self.broker.with_state(|s| s.ack(conn, ch, a.delivery_tag, a.multiple)),
            basic::AMQPMethod::Nack(n) => {
                self.broker.with_state(|s| s.reject(conn, ch, n.delivery_tag, n.multiple, n.requeue))
            }
            basic::AMQPMethod::Reject(r) => {
                self.broker.with_state(|s| s.reject(conn, ch, r.delivery_tag, false, r.requeue))
            }
            basic::AMQPMethod::Recover(_) => {
                self.broker.with_state(|s| s.recover(conn, ch));
                self.send(ch, AMQPClass::Basic(basic::AMQPMethod::RecoverOk(basic::RecoverOk {})));
                Ok(())
            }
            basic::AMQPMethod::RecoverAsync(_) => {
                self.broker.with_state(|s| s.recover(conn, ch));
                Ok(())
            }
            _ => Err(AmqpError::command_invalid("basic method not valid from a client")),
        }
    }

    /// The content header of a publish.
    pub(super) fn content_header(&mut self, ch: ChannelId, header: AMQPContentHeader) -> Result<(), AmqpError> {
        let local = self.open_local(ch)?;
        if local.closing {
            return Ok(());
        }
        let Some(pending) = local.pending.as_mut().filter(|p| p.header.is_none()) else {
            return Err(AmqpError::unexpected_frame(format!("content header on channel {ch} without basic.publish")));
        };
        if header.class_id != 60 {
            return Err(AmqpError::unexpected_frame(format!("content header for class {}", header.class_id)));
        }
        if header.body_size > MAX_MESSAGE {
            return Err(AmqpError::precondition(format!(
                "message size {} is larger than configured max size {MAX_MESSAGE}",
                header.body_size
            )));
        }
        let done = header.body_size == 0;
        pending.header = Some(header);
        if done { self.finish_publish(ch) } else { Ok(()) }
    }

    /// A content body frame of a publish.
    pub(super) fn content_body(&mut self, ch: ChannelId, body: Vec<u8>) -> Result<(), AmqpError> {
        let local = self.open_local(ch)?;
        if local.closing {
            return Ok(());
        }
        let Some(pending) = local.pending.as_mut() else {
            return Err(AmqpError::unexpected_frame(format!("content body on channel {ch} without basic.publish")));
        };
        let Some(size) = pending.header.as_ref().map(|h| h.body_size) else {
            return Err(AmqpError::unexpected_frame(format!("content body on channel {ch} before its header")));
        };
        if pending.body.len() as u64 + body.len() as u64 > size {
            return Err(AmqpError::frame_error(format!("content body longer than the {size} bytes announced")));
        }
        pending.body.extend_from_slice(&body);
        if pending.body.len() as u64 == size { self.finish_publish(ch) } else { Ok(()) }
    }

    fn open_local(&mut self, ch: ChannelId) -> Result<&mut LocalChannel, AmqpError> {
        self.channels.get_mut(&ch).ok_or_else(|| AmqpError::channel(format!("expected 'channel.open' on channel {ch}")))
    }

    /// Routes a complete message; answers with `basic.return` (mandatory, unroutable) and
    /// `basic.ack` (confirm mode).
    fn finish_publish(&mut self, ch: ChannelId) -> Result<(), AmqpError> {
        let Some(local) = self.channels.get_mut(&ch) else { return Ok(()) };
        let Some(Pending { publish, header: Some(header), body }) = local.pending.take() else { return Ok(()) };
        let seq = local.confirm.as_mut().map(|n| {
            *n += 1;
            *n
        });
        let telemetry = self.broker.with_state(|s| s.telemetry.clone());
        let span = telemetry.as_ref().map(|t| {
            let headers = header.properties.headers().as_ref();
            t.publish(publish.exchange.as_str(), publish.routing_key.as_str(), headers, body.len(), &self.peer)
        });
        let message = Message {
            exchange: publish.exchange.as_str().to_owned(),
            routing_key: publish.routing_key.as_str().to_owned(),
            properties: header.properties,
            body,
            trace: span.as_ref().map(|s| s.context()),
        };
        let exchange = message.exchange.clone();
        let out = self.out.clone();
        let frame_max = self.frame_max;
        let published = self.broker.with_state(|s| {
            s.publish(&exchange, message, publish.mandatory, |m| {
                let ret = basic::Return {
                    reply_code: 312,
                    reply_text: "NO_ROUTE".into(),
                    exchange: m.exchange.as_str().into(),
                    routing_key: m.routing_key.as_str().into(),
                };
                let returned = std::sync::Arc::new(Message {
                    exchange: m.exchange.clone(),
                    routing_key: m.routing_key.clone(),
                    properties: m.properties.clone(),
                    body: m.body.clone(),
                    trace: None,
                });
                send_content(&out, ch, AMQPClass::Basic(basic::AMQPMethod::Return(ret)), &returned, None, frame_max);
            })
        });
        if let Some(span) = span {
            span.end(published.as_ref().err().map(|e| e.text.as_str()));
        }
        self.backlogged.extend(published?);
        if let Some(delivery_tag) = seq {
            self.broker.with_state(|s| s.stats.count(None, None, |c| c.confirm += 1));
            self.send(ch, AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag, multiple: false })));
        }
        Ok(())
    }
}
