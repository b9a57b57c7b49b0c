//! The broker with `lapin` (Rust's AMQP 0-9-1 client, not ours): exchange types, a work queue
//! with fair dispatch and redelivery, publisher confirms with mandatory returns, and
//! dead-lettering — against a broker started in-process on a free port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use lookout_demo::broker::{Broker, BrokerConfig};
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(20);

/// A broker on a free port; the URI to reach it.
async fn broker() -> (String, CancellationToken) {
    let (uri, shutdown, _) = broker_handle().await;
    (uri, shutdown)
}

/// A broker on a free port, with the broker itself for looking inside.
async fn broker_handle() -> (String, CancellationToken, std::sync::Arc<Broker>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("amqp://guest:guest@{}/%2f", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let broker = Broker::open(BrokerConfig::default()).unwrap();
    tokio::spawn(std::sync::Arc::clone(&broker).serve(listener, shutdown.clone()));
    (uri, shutdown, broker)
}

async fn connect(uri: &str) -> Connection {
    Connection::connect(uri, ConnectionProperties::default()).await.unwrap()
}

async fn confirmed_channel(conn: &Connection) -> Channel {
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    ch
}

async fn temp_queue(ch: &Channel, arguments: FieldTable) -> String {
    let options = QueueDeclareOptions { exclusive: true, ..QueueDeclareOptions::default() };
    ch.queue_declare("".into(), options, arguments).await.unwrap().name().as_str().to_owned()
}

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &str, properties: BasicProperties) {
    let confirm = ch
        .basic_publish(exchange.into(), key.into(), BasicPublishOptions::default(), body.as_bytes(), properties)
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

/// Every ready message of a queue, by `basic.get` with auto-ack.
async fn get_all(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(BasicGetMessage { delivery, .. }) =
        ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap()
    {
        out.push(String::from_utf8(delivery.data).unwrap());
    }
    out
}

fn table(pairs: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())));
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_direct_topic_and_headers_route_as_rabbitmq() {
    let (uri, _shutdown) = broker().await;
    let conn = connect(&uri).await;
    let ch = confirmed_channel(&conn).await;
    let declare = |name: &'static str, kind: ExchangeKind| {
        let ch = ch.clone();
        async move {
            ch.exchange_declare(name.into(), kind, ExchangeDeclareOptions::default(), FieldTable::default())
                .await
                .unwrap()
        }
    };
    let bind = |q: String, ex: &'static str, key: &'static str, args: FieldTable| {
        let ch = ch.clone();
        async move { ch.queue_bind(q.into(), ex.into(), key.into(), QueueBindOptions::default(), args).await.unwrap() }
    };

    declare("l.fan", ExchangeKind::Fanout).await;
    let fans = [
        temp_queue(&ch, FieldTable::default()).await,
        temp_queue(&ch, FieldTable::default()).await,
        temp_queue(&ch, FieldTable::default()).await,
    ];
    for q in &fans {
        bind(q.clone(), "l.fan", "", FieldTable::default()).await;
    }
    publish(&ch, "l.fan", "any", "hello", BasicProperties::default()).await;
    for q in &fans {
        assert_eq!(get_all(&ch, q).await, ["hello"]);
    }

    declare("l.direct", ExchangeKind::Direct).await;
    let errors = temp_queue(&ch, FieldTable::default()).await;
    bind(errors.clone(), "l.direct", "error", FieldTable::default()).await;
    for key in ["info", "error", "warning"] {
        publish(&ch, "l.direct", key, key, BasicProperties::default()).await;
    }
    assert_eq!(get_all(&ch, &errors).await, ["error"]);

    declare("l.topic", ExchangeKind::Topic).await;
    let mut by_pattern = HashMap::new();
    for pattern in ["sensor.*", "*.error", "#"] {
        let q = temp_queue(&ch, FieldTable::default()).await;
        bind(q.clone(), "l.topic", pattern, FieldTable::default()).await;
        by_pattern.insert(pattern, q);
    }
    for key in ["sensor.temp", "db.error", "sensor.temp.room"] {
        publish(&ch, "l.topic", key, key, BasicProperties::default()).await;
    }
    assert_eq!(get_all(&ch, &by_pattern["sensor.*"]).await, ["sensor.temp"]);
    assert_eq!(get_all(&ch, &by_pattern["*.error"]).await, ["db.error"]);
    assert_eq!(get_all(&ch, &by_pattern["#"]).await, ["sensor.temp", "db.error", "sensor.temp.room"]);

    declare("l.headers", ExchangeKind::Headers).await;
    let all = temp_queue(&ch, FieldTable::default()).await;
    let any = temp_queue(&ch, FieldTable::default()).await;
    bind(all.clone(), "l.headers", "", table(&[("x-match", "all"), ("format", "pdf"), ("type", "report")])).await;
    bind(any.clone(), "l.headers", "", table(&[("x-match", "any"), ("format", "pdf"), ("type", "report")])).await;
    let with = |pairs: &[(&str, &str)]| BasicProperties::default().with_headers(table(pairs));
    publish(&ch, "l.headers", "", "both", with(&[("format", "pdf"), ("type", "report")])).await;
    publish(&ch, "l.headers", "", "one", with(&[("format", "pdf")])).await;
    publish(&ch, "l.headers", "", "none", with(&[("format", "zip")])).await;
    assert_eq!(get_all(&ch, &all).await, ["both"]);
    assert_eq!(get_all(&ch, &any).await, ["both", "one"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_queue_spreads_fairly_and_redelivers_what_a_dead_worker_held() {
    let (uri, _shutdown) = broker().await;
    let conn = connect(&uri).await;
    let ch = confirmed_channel(&conn).await;
    ch.queue_declare("l.tasks".into(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut workers = Vec::new();
    for w in 0..3 {
        let conn = connect(&uri).await;
        let wch = conn.create_channel().await.unwrap();
        wch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
        let mut consumer = wch
            .basic_consume(
                "l.tasks".into(),
                format!("w{w}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                // A little work, so that a worker with a message in hand is skipped.
                tokio::time::sleep(Duration::from_millis(5)).await;
                // Acked before it is counted: once the test has seen all of them, every ack is
                // on the wire ahead of the connection's close.
                delivery.ack(BasicAckOptions::default()).await.unwrap();
                let _ = tx.send((w, String::from_utf8(delivery.data.clone()).unwrap()));
            }
        });
        workers.push(conn);
    }
    for n in 0..30 {
        publish(&ch, "", "l.tasks", &format!("t{n}"), BasicProperties::default()).await;
    }
    let mut per_worker = [0; 3];
    let mut seen = Vec::new();
    for _ in 0..30 {
        let (w, body) = tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap().unwrap();
        per_worker[w] += 1;
        seen.push(body);
    }
    seen.sort();
    let mut want: Vec<String> = (0..30).map(|n| format!("t{n}")).collect();
    want.sort();
    assert_eq!(seen, want, "each message once");
    assert!(per_worker.iter().all(|n| *n >= 5), "{per_worker:?}");
    for conn in workers {
        conn.close(200, "done".into()).await.unwrap();
    }

    // A worker that dies holding a message: it comes back to the next one, redelivered.
    let dying = connect(&uri).await;
    let dch = dying.create_channel().await.unwrap();
    dch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let mut held = dch
        .basic_consume("l.tasks".into(), "dying".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    publish(&ch, "", "l.tasks", "fragile", BasicProperties::default()).await;
    let first = tokio::time::timeout(PATIENCE, held.next()).await.unwrap().unwrap().unwrap();
    assert!(!first.redelivered);
    dying.close(200, "dying".into()).await.unwrap();
    let again = loop {
        if let Some(m) = ch.basic_get("l.tasks".into(), BasicGetOptions::default()).await.unwrap() {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((again.delivery.data.as_slice(), again.delivery.redelivered), (b"fragile".as_slice(), true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirms_come_back_and_unroutable_mandatory_messages_are_returned() {
    let (uri, _shutdown) = broker().await;
    let conn = connect(&uri).await;
    let ch = confirmed_channel(&conn).await;
    let mandatory = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
    let confirm = ch
        .basic_publish("".into(), "nowhere".into(), mandatory, b"lost", BasicProperties::default())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    let returned = confirm.take_message().expect("the unroutable message comes back");
    assert_eq!(returned.delivery.data, b"lost");
    assert_eq!(returned.reply_code, 312);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_arrive_after_ttl_and_after_reject() {
    let (uri, _shutdown) = broker().await;
    let conn = connect(&uri).await;
    let ch = confirmed_channel(&conn).await;
    ch.exchange_declare("l.dlx".into(), ExchangeKind::Fanout, ExchangeDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let dead = temp_queue(&ch, FieldTable::default()).await;
    ch.queue_bind(dead.as_str().into(), "l.dlx".into(), "".into(), QueueBindOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let mut args = table(&[("x-dead-letter-exchange", "l.dlx")]);
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(100));
    let ttl = temp_queue(&ch, args).await;
    publish(&ch, "", &ttl, "expires", BasicProperties::default()).await;
    let mut consumer = ch
        .basic_consume(dead.as_str().into(), "dead".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let expired = tokio::time::timeout(PATIENCE, consumer.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(expired.data, b"expires");
    let headers = expired.properties.headers().clone().unwrap();
    assert_eq!(
        headers.inner().get("x-first-death-reason"),
        Some(&AMQPValue::LongString(LongString::from(b"expired".to_vec())))
    );
    expired.ack(BasicAckOptions::default()).await.unwrap();

    let rejecting = temp_queue(&ch, table(&[("x-dead-letter-exchange", "l.dlx")])).await;
    publish(&ch, "", &rejecting, "refused", BasicProperties::default()).await;
    let got = ch.basic_get(rejecting.as_str().into(), BasicGetOptions::default()).await.unwrap().unwrap();
    got.delivery.reject(BasicRejectOptions { requeue: false }).await.unwrap();
    let refused = tokio::time::timeout(PATIENCE, consumer.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(refused.data, b"refused");
    let headers = refused.properties.headers().clone().unwrap();
    assert_eq!(
        headers.inner().get("x-first-death-reason"),
        Some(&AMQPValue::LongString(LongString::from(b"rejected".to_vec())))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_faster_than_its_consumer_is_held_back_near_the_flow_limit() {
    let (uri, _shutdown, broker) = broker_handle().await;
    let conn = connect(&uri).await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare("l.flow".into(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    // A consumer on its own connection that keeps working, a little slower than a publisher
    // that does not wait for anything.
    let consumer_conn = connect(&uri).await;
    let cch = consumer_conn.create_channel().await.unwrap();
    cch.basic_qos(100, BasicQosOptions::default()).await.unwrap();
    let mut consumer = cch
        .basic_consume("l.flow".into(), "slow".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let total = 20_000;
    let consumed = tokio::spawn(async move {
        let mut n = 0;
        while n < total {
            let Some(Ok(delivery)) = consumer.next().await else { break };
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            n += 1;
        }
        n
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let broker = std::sync::Arc::clone(&broker);
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let mut most = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (ready, _) = broker.queue_depth("l.flow").unwrap_or_default();
                most = most.max(ready);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            most
        })
    };
    let body = vec![7u8; 1024];
    for _ in 0..total {
        // Not awaiting the publisher confirm (none are asked for): as fast as lapin writes.
        let _not_confirmed = ch
            .basic_publish(
                "".into(),
                "l.flow".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    assert_eq!(tokio::time::timeout(Duration::from_secs(60), consumed).await.unwrap().unwrap(), total);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = watcher.await.unwrap();
    // The backlog rose to the limit (the publisher did outrun the consumer) and no further:
    // 20,000 messages published without waiting would otherwise have piled up.
    assert!(most >= lookout_demo::broker::FLOW_LOW, "the publisher never got ahead: {most}");
    assert!(most <= lookout_demo::broker::FLOW_HIGH + 16, "backlog {most} over the flow limit");
    assert_eq!(broker.queue_depth("l.flow"), Some((0, 0)));
}
