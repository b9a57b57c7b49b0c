//! The broker's own OpenTelemetry: spans for publish, route and deliver (messaging semantic
//! conventions, W3C trace context taken from and put into the `traceparent` message header, so
//! a consumer's span joins the publisher's trace through the broker), metrics read from the
//! broker's counters, and logs for connections and errors.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::{AMQPValue, FieldTable, LongString};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::metrics::{AsyncInstrument, Meter};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, Span};

use super::Broker;
use super::stats::Counters;
use crate::telemetry::Telemetry;

/// The instrumentation scope.
const SCOPE: &str = "lookout-broker";

/// Spans, metrics and logs of one broker.
pub struct BrokerTelemetry {
    tracer: SdkTracer,
    logger: SdkLogger,
    propagator: TraceContextPropagator,
}

/// A message's publish span, open until the publish is answered.
pub struct PublishSpan {
    span: Span,
}

impl PublishSpan {
    /// The span's context, to parent the route and deliver spans.
    pub fn context(&self) -> SpanContext {
        self.span.span_context().clone()
    }

    /// Ends the span, marking it failed when the publish was refused.
    pub fn end(mut self, error: Option<&str>) {
        if let Some(e) = error {
            self.span.set_status(opentelemetry::trace::Status::error(e.to_owned()));
        }
        self.span.end();
    }
}

/// The AMQP name of an exchange in telemetry: RabbitMQ's `amq.default` for the default one.
fn exchange_name(exchange: &str) -> &str {
    if exchange.is_empty() { "amq.default" } else { exchange }
}

impl std::fmt::Debug for BrokerTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerTelemetry")
    }
}

impl BrokerTelemetry {
    /// Instruments `broker`: its metrics are read from its counters at each export.
    pub fn new(telemetry: &Telemetry, broker: &Arc<Broker>) -> BrokerTelemetry {
        register_metrics(&telemetry.meter(SCOPE), Arc::downgrade(broker));
        BrokerTelemetry {
            tracer: telemetry.tracer(SCOPE),
            logger: telemetry.logger(SCOPE),
            propagator: TraceContextPropagator::new(),
        }
    }

    /// Starts the span of a message published to `exchange`, a child of the publisher's span
    /// when its headers carry a `traceparent`.
    pub fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: Option<&FieldTable>,
        body_size: usize,
        peer: &str,
    ) -> PublishSpan {
        let parent = match headers {
            Some(h) => self.propagator.extract(&crate::telemetry::AmqpHeaders(h)),
            None => Context::new(),
        };
        let name = exchange_name(exchange);
        let span = self
            .tracer
            .span_builder(format!("publish {name}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("messaging.system", "rabbitmq"),
                KeyValue::new("messaging.operation.name", "publish"),
                KeyValue::new("messaging.operation.type", "receive"),
                KeyValue::new("messaging.destination.name", name.to_owned()),
                KeyValue::new("messaging.rabbitmq.destination.routing_key", routing_key.to_owned()),
                KeyValue::new("messaging.message.body.size", body_size as i64),
                KeyValue::new("network.peer.address", peer.to_owned()),
            ])
            .start_with_context(&self.tracer, &parent);
        PublishSpan { span }
    }

    /// Records the routing of a message (a child of its publish span): which queues got it.
    pub fn route(&self, publish: &SpanContext, exchange: &str, routing_key: &str, queues: &[String]) {
        let parent = Context::new().with_remote_span_context(publish.clone());
        let name = exchange_name(exchange);
        let mut span = self
            .tracer
            .span_builder(format!("route {name}"))
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new("messaging.system", "rabbitmq"),
                KeyValue::new("messaging.operation.name", "route"),
                KeyValue::new("messaging.destination.name", name.to_owned()),
                KeyValue::new("messaging.rabbitmq.destination.routing_key", routing_key.to_owned()),
                KeyValue::new("lookout.broker.routed_queues", queues.len() as i64),
                KeyValue::new(
                    "lookout.broker.queues",
                    opentelemetry::Value::Array(
                        queues.iter().map(|q| opentelemetry::StringValue::from(q.clone())).collect::<Vec<_>>().into(),
                    ),
                ),
            ])
            .start_with_context(&self.tracer, &parent);
        if queues.is_empty() {
            span.add_event("unroutable", Vec::new());
        }
        span.end();
    }

    /// Records the delivery of a message from `queue` (a child of its publish span) and returns
    /// the message's properties with this span as `traceparent`, for the consumer to continue.
    pub fn deliver(
        &self,
        publish: &SpanContext,
        queue: &str,
        consumer_tag: Option<&str>,
        delivery_tag: u64,
        redelivered: bool,
        properties: &AMQPProperties,
    ) -> AMQPProperties {
        let parent = Context::new().with_remote_span_context(publish.clone());
        let mut attributes = vec![
            KeyValue::new("messaging.system", "rabbitmq"),
            KeyValue::new("messaging.operation.name", "deliver"),
            KeyValue::new("messaging.operation.type", "send"),
            KeyValue::new("messaging.destination.name", queue.to_owned()),
            KeyValue::new("messaging.rabbitmq.message.delivery_tag", delivery_tag as i64),
            KeyValue::new("lookout.broker.redelivered", redelivered),
        ];
        if let Some(tag) = consumer_tag {
            attributes.push(KeyValue::new("messaging.consumer.group.name", tag.to_owned()));
        }
        let mut span = self
            .tracer
            .span_builder(format!("deliver {queue}"))
            .with_kind(SpanKind::Producer)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        let mut carrier = HashMap::new();
        self.propagator
            .inject_context(&Context::new().with_remote_span_context(span.span_context().clone()), &mut carrier);
        span.end();
        let mut headers = properties.headers().clone().unwrap_or_default();
        for (k, v) in carrier {
            headers.insert(k.into(), AMQPValue::LongString(LongString::from(v.into_bytes())));
        }
        properties.clone().with_headers(headers)
    }

    /// Emits a log record with attributes.
    pub fn log(&self, severity: Severity, body: &str, attributes: &[(&'static str, AnyValue)]) {
        let mut record = self.logger.create_log_record();
        record.set_severity_number(severity);
        record.set_severity_text(severity.name());
        record.set_body(AnyValue::from(body.to_owned()));
        for (k, v) in attributes {
            record.add_attribute(*k, v.clone());
        }
        self.logger.emit(record);
    }
}

/// What the metrics read at each export.
struct Snapshot {
    exchanges: Vec<(String, Counters)>,
    queues: Vec<(String, Counters, u64, u64, u64)>,
    total: Counters,
    connections: u64,
    channels: u64,
}

fn snapshot(broker: &Weak<Broker>) -> Option<Snapshot> {
    let broker = broker.upgrade()?;
    Some(broker.with_state(|s| {
        Snapshot {
            exchanges: s.stats.exchanges.iter().map(|(n, c)| (exchange_name(n).to_owned(), *c)).collect(),
            queues: s
                .queues
                .iter()
                .map(|(n, q)| {
                    let c = s.stats.queues.get(n).copied().unwrap_or_default();
                    (n.clone(), c, q.ready() as u64, q.unacked as u64, q.consumers.len() as u64)
                })
                .collect(),
            total: s.stats.total,
            connections: s.connections.len() as u64,
            channels: s.channels.len() as u64,
        }
    }))
}

/// Registers the broker's metrics as observable instruments over its counters.
fn register_metrics(meter: &Meter, broker: Weak<Broker>) {
    type Pick = fn(&Counters) -> u64;
    let per_exchange: [(&'static str, &'static str, Pick); 2] = [
        ("lookout.broker.messages.published", "Messages published to an exchange.", |c| c.publish),
        ("lookout.broker.messages.routed", "Messages an exchange routed to queues (one per queue).", |c| c.publish_out),
    ];
    for (name, description, pick) in per_exchange {
        let b = broker.clone();
        crate::telemetry::observe_u64(meter, name, description, "{message}", true, move |o| {
            if let Some(s) = snapshot(&b) {
                for (exchange, c) in &s.exchanges {
                    o.observe(pick(c), &[KeyValue::new("exchange", exchange.clone())]);
                }
            }
        });
    }
    let per_queue: [(&'static str, &'static str, Pick); 6] = [
        ("lookout.broker.queue.messages.enqueued", "Messages put into a queue.", |c| c.publish),
        ("lookout.broker.messages.delivered", "Messages delivered from a queue (consume and get).", |c| {
            c.deliver_get()
        }),
        ("lookout.broker.messages.acked", "Deliveries acknowledged.", |c| c.ack),
        ("lookout.broker.messages.redelivered", "Deliveries flagged redelivered.", |c| c.redeliver),
        ("lookout.broker.messages.dead_lettered", "Messages dead-lettered (rejected, expired, over length).", |c| {
            c.dead_lettered
        }),
        ("lookout.broker.messages.unacked_delivered", "Deliveries to consumers that do not acknowledge.", |c| {
            c.deliver_no_ack + c.get_no_ack
        }),
    ];
    for (name, description, pick) in per_queue {
        let b = broker.clone();
        crate::telemetry::observe_u64(meter, name, description, "{message}", true, move |o| {
            if let Some(s) = snapshot(&b) {
                for (queue, c, ..) in &s.queues {
                    o.observe(pick(c), &[KeyValue::new("queue", queue.clone())]);
                }
            }
        });
    }
    type Gauge = fn(&(String, Counters, u64, u64, u64)) -> u64;
    let gauges: [(&'static str, &'static str, &'static str, Gauge); 3] = [
        ("lookout.broker.queue.messages", "Messages ready in a queue.", "{message}", |q| q.2),
        ("lookout.broker.queue.unacked", "Messages delivered and not yet acknowledged.", "{message}", |q| q.3),
        ("lookout.broker.queue.consumers", "Consumers of a queue.", "{consumer}", |q| q.4),
    ];
    for (name, description, unit, pick) in gauges {
        let b = broker.clone();
        meter
            .u64_observable_gauge(name)
            .with_description(description)
            .with_unit(unit)
            .with_callback(move |o: &dyn AsyncInstrument<u64>| {
                if let Some(s) = snapshot(&b) {
                    for q in &s.queues {
                        o.observe(pick(q), &[KeyValue::new("queue", q.0.clone())]);
                    }
                }
            })
            .build();
    }
    type Total = fn(&Snapshot) -> u64;
    let totals: [(&'static str, &'static str, &'static str, bool, Total); 3] = [
        ("lookout.broker.messages.returned", "Mandatory messages returned unroutable.", "{message}", true, |s| {
            s.total.return_unroutable
        }),
        ("lookout.broker.connections", "Open AMQP connections.", "{connection}", false, |s| s.connections),
        ("lookout.broker.channels", "Open AMQP channels.", "{channel}", false, |s| s.channels),
    ];
    for (name, description, unit, counter, pick) in totals {
        let b = broker.clone();
        let callback = move |o: &dyn AsyncInstrument<u64>| {
            if let Some(s) = snapshot(&b) {
                o.observe(pick(&s), &[]);
            }
        };
        crate::telemetry::observe_u64(meter, name, description, unit, counter, callback);
    }
}
