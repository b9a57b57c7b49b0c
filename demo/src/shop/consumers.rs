//! The shop's asynchronous half: `billing` (a work queue shared by two workers with prefetch 1),
//! `notifications` (topic `order.*`) and `analytics` (fanout). Each delivery is processed in a
//! consumer span that continues the publisher's trace through the broker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use opentelemetry::KeyValue;
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer as _};
use tokio_util::sync::CancellationToken;

use super::chaos::Chaos;
use super::instrument::{ServiceTelemetry, amqp_context};
use super::services::{Order, publish_on};

/// What a consumer does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Charges the order, then publishes `order.billed`.
    Billing,
    /// Tells the user.
    Notifications,
    /// Counts orders per item.
    Analytics,
}

impl Work {
    /// The queue it consumes, also its name in the chaos switch.
    pub fn queue(self) -> &'static str {
        match self {
            Work::Billing => "billing",
            Work::Notifications => "notifications",
            Work::Analytics => "analytics",
        }
    }
}

/// One consumer instance.
pub struct Worker {
    /// What it does.
    pub work: Work,
    /// `billing-1`, …
    pub instance: String,
    /// Its telemetry.
    pub telemetry: Arc<ServiceTelemetry>,
    /// The chaos switch.
    pub chaos: Arc<Chaos>,
}

/// Consumes until `shutdown`, pausing (its consumer cancelled, messages left in the queue) while
/// the chaos switch has it stopped.
pub async fn run(worker: Worker, conn: Connection, shutdown: CancellationToken) {
    let mut chaos = worker.chaos.watch();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let queue = worker.work.queue();
    loop {
        while chaos.borrow().stopped.contains(queue) {
            tokio::select! {
                r = chaos.changed() => if r.is_err() { return },
                () = shutdown.cancelled() => return,
            }
        }
        let channel = match open(&conn, queue, &worker.instance).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, consumer = worker.instance, "cannot consume, retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.cancelled() => return,
                }
            }
        };
        let (ch, mut consumer) = channel;
        loop {
            tokio::select! {
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => handle(&worker, &ch, delivery, &mut counts).await,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, consumer = worker.instance, "consumer failed");
                        break;
                    }
                    None => break,
                },
                r = chaos.changed() => {
                    if r.is_err() { return }
                    if chaos.borrow().stopped.contains(queue) {
                        let _ = ch.basic_cancel(worker.instance.as_str().into(), BasicCancelOptions::default()).await;
                        let _ = ch.close(200, "stopped by chaos".into()).await;
                        tracing::warn!(consumer = worker.instance, "consumer stopped");
                        break;
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    }
}

async fn open(conn: &Connection, queue: &str, tag: &str) -> Result<(Channel, lapin::Consumer), lapin::Error> {
    let ch = conn.create_channel().await?;
    ch.basic_qos(1, BasicQosOptions::default()).await?;
    let consumer =
        ch.basic_consume(queue.into(), tag.into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
    Ok((ch, consumer))
}

async fn handle(w: &Worker, ch: &Channel, d: Delivery, counts: &mut BTreeMap<String, u64>) {
    let parent = amqp_context(d.properties.headers().as_ref());
    let queue = w.work.queue();
    let span = w
        .telemetry
        .tracer
        .span_builder(format!("process {queue}"))
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("messaging.system", "rabbitmq"),
            KeyValue::new("messaging.operation.name", "process"),
            KeyValue::new("messaging.destination.name", queue),
            KeyValue::new("messaging.rabbitmq.destination.routing_key", d.routing_key.as_str().to_owned()),
            KeyValue::new("messaging.consumer.group.name", queue),
        ])
        .start_with_context(&w.telemetry.tracer, &parent);
    let cx = parent.with_span(span);
    let Ok(order) = serde_json::from_slice::<Order>(&d.data) else {
        w.telemetry.log(&cx, Severity::Error, "unreadable message, dead-lettered".into(), &[]);
        let _ = d.reject(BasicRejectOptions { requeue: false }).await;
        cx.span().end();
        return;
    };
    let attrs = [("order.id", AnyValue::from(order.id.clone())), ("user.id", AnyValue::from(order.user.clone()))];
    match w.work {
        Work::Billing => {
            // Charging takes a while: the work queue spreads it over the workers.
            tokio::time::sleep(Duration::from_millis(20 + (super::random() * 40.0) as u64)).await;
            let amount = order.quantity as f64 * 19.9;
            w.telemetry.log(&cx, Severity::Info, format!("charged {amount:.2} for order {}", order.id), &attrs);
            let body = serde_json::to_vec(&order).unwrap_or_default();
            if let Err(e) = publish_on(ch, &w.telemetry, &cx, "shop.orders", "order.billed", &body).await {
                w.telemetry.log(&cx, Severity::Error, format!("cannot publish order.billed: {e}"), &attrs);
            }
        }
        Work::Notifications => {
            let what = if d.routing_key.as_str() == "order.billed" { "was charged" } else { "was received" };
            w.telemetry.log(&cx, Severity::Info, format!("told {} that order {} {what}", order.user, order.id), &attrs);
        }
        Work::Analytics => {
            let n = counts.entry(order.item.clone()).or_default();
            *n += u64::from(order.quantity);
            w.telemetry.log(&cx, Severity::Debug, format!("{} ordered {n} times so far", order.item), &attrs);
        }
    }
    if let Err(e) = d.ack(BasicAckOptions::default()).await {
        cx.span().set_status(opentelemetry::trace::Status::error(e.to_string()));
    }
    w.telemetry.processed.add(1, &[KeyValue::new("messaging.destination.name", queue)]);
    cx.span().end();
}

/// Declares the shop's exchanges, queues and bindings (idempotent).
pub async fn declare_topology(conn: &Connection) -> Result<(), lapin::Error> {
    use lapin::ExchangeKind;
    use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
    let ch = conn.create_channel().await?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    ch.exchange_declare("shop.orders".into(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
    ch.exchange_declare("shop.events".into(), ExchangeKind::Fanout, durable, FieldTable::default()).await?;
    let q = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    for (queue, exchange, key) in [
        ("billing", "shop.orders", "order.created"),
        ("notifications", "shop.orders", "order.*"),
        ("analytics", "shop.events", ""),
    ] {
        ch.queue_declare(queue.into(), q, FieldTable::default()).await?;
        ch.queue_bind(queue.into(), exchange.into(), key.into(), QueueBindOptions::default(), FieldTable::default())
            .await?;
    }
    ch.close(200, "declared".into()).await?;
    Ok(())
}
