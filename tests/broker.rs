//! The demo broker end to end: `lookout broker` started on a free port, driven by pika (the
//! course's own scripts and the scenarios in `tests/python/amqp_scenarios.py`) and by raw
//! bytes for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic, channel, connection, queue};
use common::PATIENCE;
use common::broker::{BrokerProcess, encode, handshake, read_frames};

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

#[test]
fn the_course_subscriber_receives_what_the_course_publisher_sends() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    let course = python_dir().join("course");
    let port = broker.amqp.port().to_string();
    let mut subscriber = Command::new(common::python())
        .arg("-u")
        .arg(course.join("run.py"))
        .arg(&port)
        .arg(course.join("subscriber.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = subscriber.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The subscriber binds its queue some time after it starts; a fanout message published
    // before that reaches nobody, as with RabbitMQ. Publish until one arrives.
    let deadline = Instant::now() + PATIENCE;
    let received = loop {
        assert!(Instant::now() < deadline, "the subscriber received nothing; broker log:\n{}", broker.log());
        let out = Command::new(common::python())
            .arg("-u")
            .arg(course.join("run.py"))
            .arg(&port)
            .arg(course.join("publisher.py"))
            .output()
            .unwrap();
        assert!(out.status.success(), "publisher failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[x] Mensagem enviada: Hello, assinantes!");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            break line;
        }
    };
    assert_eq!(received, "[x] Recebido: Hello, assinantes!");
    let _ = subscriber.kill();
    let _ = subscriber.wait();
}

#[test]
fn exchanges_work_queues_confirms_dead_letters_and_errors_behave_as_rabbitmq() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    let (ok, out) = broker.python(&python_dir().join("amqp_scenarios.py"), &[]);
    assert!(ok, "{out}\nbroker log:\n{}", broker.log());
    assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), 11, "{out}");
}

#[test]
fn persistent_messages_in_durable_queues_survive_kill_9_and_acked_ones_stay_gone() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    let mut publisher = broker
        .python_command(&python_dir().join("amqp_scenarios.py"), &["persist_publish"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(publisher.stdout.take().unwrap()).lines();
    // The publisher says so once every publish is confirmed and every ack applied.
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("published"), "{}", broker.log());
    broker.kill9();
    let _ = publisher.kill();
    let _ = publisher.wait();
    let broker = BrokerProcess::start(dir.path());
    let (ok, out) = broker.python(&python_dir().join("amqp_scenarios.py"), &["persist_check"]);
    assert!(ok, "{out}\nbroker log:\n{}", broker.log());
}

#[test]
fn the_management_api_reports_what_pika_did_in_rabbitmqs_fields() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    let port = broker.management.port().to_string();
    let (ok, out) = broker.python(&python_dir().join("amqp_management.py"), &[&port]);
    assert!(ok, "{out}\nbroker log:\n{}", broker.log());
    assert!(out.contains("ok management"), "{out}");
}

#[test]
fn one_trace_links_publisher_broker_and_consumer_and_the_broker_reports_metrics_and_logs() {
    let lookout_dir = tempfile::tempdir().unwrap();
    let lookout = common::Lookout::start(lookout_dir.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{}", lookout.grpc);
    let broker =
        BrokerProcess::start_with(dir.path(), &["--otlp.endpoint", &endpoint, "--otlp.metrics-interval", "1s"]);
    let (ok, out) = broker.python(&python_dir().join("amqp_traced.py"), &[&endpoint]);
    assert!(ok, "{out}\nbroker log:\n{}", broker.log());
    let sent: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let id = sent["trace_id"].as_str().unwrap().to_owned();
    let client = common::http_client();
    let spans = common::eventually("the whole trace in Lookout", || {
        let reply = client.get(format!("http://{}/api/traces/{id}", lookout.http)).send().ok()?;
        let body: serde_json::Value = reply.json().ok()?;
        let spans = common::spans_by_name(&body["batches"]);
        (spans.len() >= 5).then_some(spans)
    });
    let expect = [
        ("send order", "shop-publisher", None, 4),
        ("publish shop", "lookout-broker", Some("send order"), 2),
        ("route shop", "lookout-broker", Some("publish shop"), 1),
        ("deliver shop.orders", "lookout-broker", Some("publish shop"), 4),
        ("handle order", "shop-consumer", Some("deliver shop.orders"), 5),
    ];
    for (name, service, parent, kind) in expect {
        let (s, p, span) = spans.get(name).unwrap_or_else(|| panic!("no span {name:?} in {spans:?}"));
        assert_eq!((s.as_str(), p.as_deref(), span["kind"].as_i64()), (service, parent, Some(kind)), "{name}");
    }

    // The broker's metrics, by the names Lookout gives OTLP metrics.
    let published = common::eventually("the broker's metrics in Lookout", || {
        let url = format!("http://{}/api/v1/query", lookout.http);
        let query = [("query", r#"lookout_broker_messages_published_total{exchange="shop"}"#)];
        let body: serde_json::Value = client.get(url).query(&query).send().ok()?.json().ok()?;
        body["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    });
    assert_eq!(published, "1");
    // And its logs.
    common::eventually("the broker's connection logs in Lookout", || {
        let url = format!("http://{}/loki/api/v1/query_range", lookout.http);
        let query = [("query", r#"{service_name="lookout-broker"} |= "connection opened""#), ("limit", "10")];
        let body: serde_json::Value = client.get(url).query(&query).send().ok()?.json().ok()?;
        body["data"]["result"].as_array().filter(|r| !r.is_empty()).map(|_| ())
    });
}

#[test]
fn heartbeats_flow_both_ways_and_a_silent_client_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    // With a 1 s heartbeat the broker sends heartbeats when idle, and closes the connection
    // after two silent intervals.
    let mut stream = common::broker::handshake_with_heartbeat(broker.amqp, 1);
    let started = Instant::now();
    let frames = read_frames(&mut stream);
    assert!(frames.iter().any(|f| matches!(f, AMQPFrame::Heartbeat)), "{frames:?}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500) && waited < PATIENCE, "closed after {waited:?}");
    // A client that sends heartbeats stays connected.
    let mut stream = common::broker::handshake_with_heartbeat(broker.amqp, 1);
    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    for _ in 0..8 {
        stream.write_all(&encode(&[AMQPFrame::Heartbeat])).unwrap();
        let mut buf = [0u8; 64];
        // A read that times out is fine; one that ends the stream is not.
        let n = std::io::Read::read(&mut stream, &mut buf);
        assert!(!matches!(n, Ok(0)), "the broker dropped a client that sends heartbeats");
    }
}

/// Sends `bytes` on a fresh connection and returns what the broker answered until it closed.
fn answer_to(broker: &BrokerProcess, bytes: &[u8]) -> Vec<AMQPFrame> {
    let mut stream = TcpStream::connect(broker.amqp).unwrap();
    stream.write_all(bytes).unwrap();
    read_frames(&mut stream)
}

/// The `connection.close` among `frames`: (reply code, text).
fn close_of(frames: &[AMQPFrame]) -> (u16, String) {
    frames
        .iter()
        .find_map(|f| match f {
            AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
                Some((c.reply_code, c.reply_text.as_str().to_owned()))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no connection.close in {frames:?}"))
}

#[test]
fn bad_input_closes_that_connection_with_the_right_code_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    // A protocol header the broker does not speak: it answers with its own and closes.
    let mut stream = TcpStream::connect(broker.amqp).unwrap();
    stream.write_all(b"AMQP\x01\x01\x00\x0a").unwrap();
    let frames = read_frames(&mut stream);
    assert!(matches!(frames.as_slice(), [AMQPFrame::ProtocolHeader(v)] if (v.major, v.minor, v.revision) == (0, 9, 1)));
    // HTTP at the AMQP port.
    let frames = answer_to(&broker, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(frames.as_slice(), [AMQPFrame::ProtocolHeader(_)]), "{frames:?}");

    let header = b"AMQP\x00\x00\x09\x01";
    // Garbage where start-ok should be.
    let mut garbage = header.to_vec();
    garbage.extend_from_slice(&[0x41; 64]);
    let (code, text) = close_of(&answer_to(&broker, &garbage));
    assert_eq!((code, text.as_str()), (501, "FRAME_ERROR - unknown frame type 65"));
    // A frame larger than the 131072 bytes the broker allows, refused from its size field.
    let mut oversized = header.to_vec();
    oversized.extend_from_slice(&[1, 0, 0, 0x10, 0, 0, 0]);
    let (code, text) = close_of(&answer_to(&broker, &oversized));
    assert_eq!(code, 501, "{text}");
    assert!(text.contains("larger than negotiated maximum"), "{text}");
    // A method out of order: channel.open before the handshake.
    let mut early = header.to_vec();
    early.extend_from_slice(&[1, 0, 1, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE]);
    let (code, text) = close_of(&answer_to(&broker, &early));
    assert_eq!((code, text.as_str()), (503, "COMMAND_INVALID - expected 'connection.start_ok'"));

    // After a proper handshake: a method on a channel that was never opened.
    let mut stream = handshake(broker.amqp);
    let qos = basic::Qos { prefetch_count: 1, global: false };
    stream.write_all(&encode(&[AMQPFrame::Method(5, AMQPClass::Basic(basic::AMQPMethod::Qos(qos)))])).unwrap();
    let (code, text) = close_of(&read_frames(&mut stream));
    assert_eq!((code, text.as_str()), (504, "CHANNEL_ERROR - expected 'channel.open' on channel 5"));
    // Content without a publish.
    let mut stream = handshake(broker.amqp);
    let open = AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})));
    stream.write_all(&encode(&[open, AMQPFrame::Body(1, b"stray".to_vec())])).unwrap();
    let (code, text) = close_of(&read_frames(&mut stream));
    assert_eq!(code, 505, "{text}");
    // A channel used after it was closed.
    let mut stream = handshake(broker.amqp);
    let open = AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})));
    let close = channel::Close { reply_code: 200, reply_text: "bye".into(), class_id: 0, method_id: 0 };
    let close = AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Close(close)));
    let qos =
        AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos { prefetch_count: 1, global: false })));
    stream.write_all(&encode(&[open, close, qos])).unwrap();
    let (code, _) = close_of(&read_frames(&mut stream));
    assert_eq!(code, 504);
    // A consumer tag used twice on a channel.
    let mut stream = handshake(broker.amqp);
    let open = AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})));
    let declare = queue::Declare { queue: "twice".into(), exclusive: true, ..Default::default() };
    let declare = AMQPFrame::Method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare)));
    let consume = || {
        let c = basic::Consume { queue: "twice".into(), consumer_tag: "t".into(), ..Default::default() };
        AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(c)))
    };
    stream.write_all(&encode(&[open, declare, consume(), consume()])).unwrap();
    let (code, text) = close_of(&read_frames(&mut stream));
    assert_eq!((code, text.as_str()), (530, "NOT_ALLOWED - attempt to reuse consumer tag 't'"));
    // A frame over the negotiated size, after the handshake.
    let mut stream = handshake(broker.amqp);
    let mut big = vec![3u8, 0, 1];
    big.extend_from_slice(&(200_000u32).to_be_bytes());
    stream.write_all(&big).unwrap();
    let (code, text) = close_of(&read_frames(&mut stream));
    assert_eq!(code, 501, "{text}");

    // Other clients are unaffected.
    let (ok, out) = broker.python(&python_dir().join("amqp_scenarios.py"), &["direct_by_routing_key"]);
    assert!(ok, "{out}");
}
