//! One client connection: the opening handshake (protocol header, start / start-ok with PLAIN
//! or AMQPLAIN, tune, open), then its channels' methods and content frames, heartbeats, and
//! closing — by the client, by an error (channel or connection), or by shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{AMQPClass, basic, channel, connection};
use amq_protocol::types::{AMQPValue, ChannelId, FieldTable, LongString, ShortString};
use opentelemetry::logs::Severity;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::error::{AmqpError, Scope};
use super::state::{ConnId, ConnInfo, FLOW_LOW};
use super::wire::{Out, PROTOCOL_HEADER, ReadError, encode_out, read_frame};
use super::{Broker, FRAME_MAX};

/// Most channels a connection may open.
const CHANNEL_MAX: u16 = 2047;
/// The heartbeat interval the broker proposes (seconds).
const HEARTBEAT: u16 = 60;
/// How long a client has to finish the opening handshake, or to answer a close.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message body accepted (RabbitMQ's default `max_message_size`).
pub(super) const MAX_MESSAGE: u64 = 128 << 20;

/// A publish waiting for its header and body frames.
pub(super) struct Pending {
    pub publish: basic::Publish,
    pub header: Option<AMQPContentHeader>,
    pub body: Vec<u8>,
}

/// What the connection task keeps per channel.
#[derive(Default)]
pub(super) struct LocalChannel {
    /// The broker sent `channel.close` and waits for `close-ok`.
    pub closing: bool,
    pub pending: Option<Pending>,
    /// Publisher confirms: the sequence number of the last publish.
    pub confirm: Option<u64>,
    /// The last queue declared, for methods that name the queue `""`.
    pub last_queue: String,
    /// For generated consumer tags.
    pub consumers: u64,
}

/// Runs one connection to its end.
pub async fn serve(stream: TcpStream, broker: Arc<Broker>, conn: ConnId, shutdown: CancellationToken) {
    let (Ok(peer_addr), Ok(local_addr)) = (stream.peer_addr(), stream.local_addr()) else { return };
    let (read, write) = stream.into_split();
    serve_halves(Box::new(read), Box::new(write), peer_addr, local_addr, broker, conn, shutdown).await;
}

/// The reading half of a connection, plain or TLS.
pub(super) type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection, plain or TLS.
pub(super) type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Runs one connection, given as its two halves, to its end.
pub(super) async fn serve_halves(
    read: ReadHalf,
    mut write: WriteHalf,
    peer_addr: std::net::SocketAddr,
    local_addr: std::net::SocketAddr,
    broker: Arc<Broker>,
    conn: ConnId,
    shutdown: CancellationToken,
) {
    let peer = peer_addr.to_string();
    let mut read = BufReader::with_capacity(64 << 10, read);
    let mut header = [0u8; 8];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, read.read_exact(&mut header)).await {
        Ok(Ok(_)) if &header == PROTOCOL_HEADER => {}
        Ok(Ok(_)) => {
            // The spec's answer to a header it does not speak: the one it does, then close.
            warn!(peer, "amqp protocol header mismatch");
            broker.log(Severity::Warn, "protocol header mismatch", &[("network.peer.address", peer.clone().into())]);
            let _ = write.write_all(PROTOCOL_HEADER).await;
            let _ = write.shutdown().await;
            return;
        }
        _ => return,
    }
    let (out, rx) = mpsc::unbounded_channel();
    let heartbeat = Arc::new(std::sync::atomic::AtomicU16::new(0));
    let reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer =
        tokio::spawn(write_frames(write, rx, Arc::clone(&heartbeat), Arc::clone(&reading), Arc::clone(&broker)));
    let mut c = Connection {
        broker: Arc::clone(&broker),
        conn,
        out: out.clone(),
        frame_max: FRAME_MAX,
        channel_max: CHANNEL_MAX,
        channels: HashMap::new(),
        peer: peer.clone(),
        user: String::new(),
        client_properties: FieldTable::default(),
        failed_method: None,
        reading,
        backlogged: Vec::new(),
    };
    let result = match c.open(&mut read, &heartbeat).await {
        Ok(()) => {
            info!(peer, user = c.user, "amqp connection opened");
            broker.log(
                Severity::Info,
                "connection opened",
                &[("network.peer.address", peer.clone().into()), ("user.name", c.user.clone().into())],
            );
            let connected_at =
                SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
            let info = ConnInfo {
                name: format!("{peer_addr} -> {local_addr}"),
                peer: peer_addr,
                local: local_addr,
                user: c.user.clone(),
                client_properties: std::mem::take(&mut c.client_properties),
                connected_at,
            };
            broker.with_state(|s| s.connections.insert(conn, info));
            c.run(&mut read, &heartbeat, shutdown).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        if e.scope == Scope::Channel {
            debug!(error = %e, "channel error escaped to the connection");
        }
        warn!(peer, code = e.code, error = %e.text, "amqp connection closed with an error");
        if e.code != 0 {
            broker.log(
                Severity::Warn,
                "connection closed with an error",
                &[
                    ("network.peer.address", peer.clone().into()),
                    ("amqp.reply_code", i64::from(e.code).into()),
                    ("amqp.reply_text", e.text.clone().into()),
                ],
            );
        }
        c.close_with(&mut read, &e).await;
    } else {
        broker.log(Severity::Info, "connection closed", &[("network.peer.address", peer.clone().into())]);
    }
    broker.with_state(|s| s.close_connection(conn));
    drop(c);
    drop(out);
    let _ = writer.await;
}

/// Writes queued frames, flushing when the queue runs dry; sends heartbeats when idle.
async fn write_frames(
    mut write: WriteHalf,
    mut rx: UnboundedReceiver<Out>,
    heartbeat: Arc<std::sync::atomic::AtomicU16>,
    reading: Arc<std::sync::atomic::AtomicBool>,
    broker: Arc<Broker>,
) {
    let mut buf = Vec::with_capacity(64 << 10);
    let mut last_write = std::time::Instant::now() - Duration::from_secs(1);
    loop {
        let secs = heartbeat.load(std::sync::atomic::Ordering::Relaxed);
        let idle = if secs == 0 { Duration::from_secs(3600) } else { Duration::from_secs(u64::from(secs)) / 2 };
        let frame = match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) if secs > 0 => AMQPFrame::Heartbeat.into(),
            Err(_) => continue,
        };
        encode_out(frame, &mut buf);
        // Under a steady stream (the last write was moments ago) let the producers of this
        // connection's frames add to this write for a few scheduler turns rather than writing
        // message by message: fewer, larger writes cost the client fewer wake-ups. A lone frame
        // after a quiet spell goes out at once.
        let streaming = last_write.elapsed() < Duration::from_millis(2);
        let mut waits = 0;
        while buf.len() < (256 << 10) {
            match rx.try_recv() {
                Ok(frame) => encode_out(frame, &mut buf),
                Err(_)
                    if waits < 64
                        && (reading.load(std::sync::atomic::Ordering::Acquire)
                            || (streaming
                                && (waits < 8
                                    || broker.busy_readers.load(std::sync::atomic::Ordering::Acquire) > 0))) =>
                {
                    waits += 1;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        last_write = std::time::Instant::now();
        if write.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
    }
    let _ = write.flush().await;
    let _ = write.shutdown().await;
}

pub(super) struct Connection {
    pub broker: Arc<Broker>,
    pub conn: ConnId,
    pub out: UnboundedSender<Out>,
    pub frame_max: usize,
    pub channel_max: u16,
    pub channels: HashMap<ChannelId, LocalChannel>,
    /// The client's address.
    pub peer: String,
    user: String,
    client_properties: FieldTable,
    /// Queues this connection published into that are backlogged: reading waits for them.
    pub backlogged: Vec<String>,
    /// Set while the reader has frames buffered that it has not handled yet.
    reading: Arc<std::sync::atomic::AtomicBool>,
    /// The class and method that caused a connection error.
    failed_method: Option<(u16, u16)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A connection that ends mid-batch is no longer busy reading.
        self.set_reading(false);
    }
}

/// A method frame on channel 0.
fn conn_method(m: connection::AMQPMethod) -> Out {
    AMQPFrame::Method(0, AMQPClass::Connection(m)).into()
}

impl Connection {
    pub(super) fn send(&self, channel: ChannelId, method: AMQPClass) {
        let _ = self.out.send(AMQPFrame::Method(channel, method).into());
    }

    /// Notes whether frames already read wait to be handled, here and broker-wide.
    fn set_reading(&self, busy: bool) {
        use std::sync::atomic::Ordering;
        if self.reading.swap(busy, Ordering::AcqRel) != busy {
            if busy {
                self.broker.busy_readers.fetch_add(1, Ordering::AcqRel);
            } else {
                self.broker.busy_readers.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Reads the next frame within `timeout`.
    async fn next(&self, read: &mut BufReader<ReadHalf>, timeout: Duration) -> Result<AMQPFrame, AmqpError> {
        self.set_reading(false);
        match tokio::time::timeout(timeout, read_frame(read, self.frame_max)).await {
            Ok(Ok(frame)) => {
                // More bytes already buffered: more frames to handle before the writer flushes.
                self.set_reading(!read.buffer().is_empty());
                Ok(frame)
            }
            Ok(Err(ReadError::Protocol(e))) => Err(e),
            Ok(Err(ReadError::Closed)) => Err(AmqpError { code: 0, text: "closed".into(), scope: Scope::Connection }),
            Err(_) => Err(AmqpError { code: 0, text: "timed out".into(), scope: Scope::Connection }),
        }
    }

    /// The opening handshake.
    async fn open(
        &mut self,
        read: &mut BufReader<ReadHalf>,
        heartbeat: &std::sync::atomic::AtomicU16,
    ) -> Result<(), AmqpError> {
        let mut capabilities = FieldTable::default();
        for cap in [
            "publisher_confirms",
            "basic.nack",
            "consumer_cancel_notify",
            "authentication_failure_close",
            "per_consumer_qos",
        ] {
            capabilities.insert(cap.into(), AMQPValue::Boolean(cap != "per_consumer_qos"));
        }
        let mut props = FieldTable::default();
        props.insert("product".into(), AMQPValue::LongString("Lookout broker".into()));
        props.insert("version".into(), AMQPValue::LongString(env!("CARGO_PKG_VERSION").into()));
        props.insert("platform".into(), AMQPValue::LongString("Rust".into()));
        props.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
        let _ = self.out.send(conn_method(connection::AMQPMethod::Start(connection::Start {
            version_major: 0,
            version_minor: 9,
            server_properties: props,
            mechanisms: "PLAIN AMQPLAIN".into(),
            locales: "en_US".into(),
        })));
        let start_ok = match self.next(read, HANDSHAKE_TIMEOUT).await? {
            AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::StartOk(s))) => s,
            _ => return Err(AmqpError::command_invalid("expected 'connection.start_ok'")),
        };
        let (user, password) = credentials(start_ok.mechanism.as_str(), &start_ok.response)?;
        if !self.broker.config.accepts(&user, &password) {
            return Err(AmqpError::login_refused(format!(
                "Login was refused using authentication mechanism {}. For details see the broker logfile.",
                start_ok.mechanism.as_str()
            )));
        }
        self.user = user;
        self.client_properties = start_ok.client_properties;
        let _ = self.out.send(conn_method(connection::AMQPMethod::Tune(connection::Tune {
            channel_max: CHANNEL_MAX,
            frame_max: FRAME_MAX as u32,
            heartbeat: HEARTBEAT,
        })));
        let tune_ok = match self.next(read, HANDSHAKE_TIMEOUT).await? {
            AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::TuneOk(t))) => t,
            _ => return Err(AmqpError::command_invalid("expected 'connection.tune_ok'")),
        };
        if tune_ok.frame_max != 0 && (tune_ok.frame_max as usize) < 4096 {
            return Err(AmqpError::not_allowed(format!("frame_max={} < 4096 min size", tune_ok.frame_max)));
        }
        if tune_ok.frame_max as usize > FRAME_MAX {
            return Err(AmqpError::not_allowed(format!("frame_max={} > {FRAME_MAX} max size", tune_ok.frame_max)));
        }
        if tune_ok.frame_max != 0 {
            self.frame_max = tune_ok.frame_max as usize;
        }
        if tune_ok.channel_max != 0 {
            self.channel_max = tune_ok.channel_max.min(CHANNEL_MAX);
        }
        heartbeat.store(tune_ok.heartbeat, std::sync::atomic::Ordering::Relaxed);
        let open = match self.next(read, HANDSHAKE_TIMEOUT).await? {
            AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Open(o))) => o,
            _ => return Err(AmqpError::command_invalid("expected 'connection.open'")),
        };
        if open.virtual_host.as_str() != super::state::VHOST {
            return Err(AmqpError::not_allowed(format!("vhost '{}' not found", open.virtual_host.as_str())));
        }
        let _ = self.out.send(conn_method(connection::AMQPMethod::OpenOk(connection::OpenOk {})));
        Ok(())
    }

    /// Serves frames until the client closes, an error closes the connection, or shutdown.
    async fn run(
        &mut self,
        read: &mut BufReader<ReadHalf>,
        heartbeat: &std::sync::atomic::AtomicU16,
        shutdown: CancellationToken,
    ) -> Result<(), AmqpError> {
        loop {
            let secs = heartbeat.load(std::sync::atomic::Ordering::Relaxed);
            // Two missed heartbeats end the connection.
            let timeout =
                if secs == 0 { Duration::from_secs(86_400 * 365) } else { Duration::from_secs(u64::from(secs) * 2) };
            self.wait_for_consumers(&shutdown).await;
            let frame = tokio::select! {
                frame = self.next(read, timeout) => frame,
                () = shutdown.cancelled() => {
                    return Err(AmqpError { code: 320, text: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'".into(), scope: Scope::Connection });
                }
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) if e.code == 0 => return Ok(()),
                Err(e) => return Err(e),
            };
            match frame {
                AMQPFrame::Heartbeat => {}
                AMQPFrame::ProtocolHeader(_) => return Err(AmqpError::unexpected_frame("protocol header after open")),
                AMQPFrame::InvalidHeartbeat(_) => {
                    return Err(AmqpError::frame_error("heartbeat frame on a channel other than 0"));
                }
                AMQPFrame::Method(0, AMQPClass::Connection(m)) => match m {
                    connection::AMQPMethod::Close(_) => {
                        // Unacked messages are back in their queues (and exclusive queues gone)
                        // before the client hears close-ok, so what it does next sees them.
                        let conn = self.conn;
                        self.broker.with_state(|s| s.close_connection(conn));
                        let _ = self.out.send(conn_method(connection::AMQPMethod::CloseOk(connection::CloseOk {})));
                        return Ok(());
                    }
                    connection::AMQPMethod::CloseOk(_) => return Ok(()),
                    connection::AMQPMethod::UpdateSecretOk(_)
                    | connection::AMQPMethod::Blocked(_)
                    | connection::AMQPMethod::Unblocked(_) => {}
                    _ => return Err(AmqpError::command_invalid("unexpected connection method after open")),
                },
                AMQPFrame::Method(0, _) => {
                    return Err(AmqpError::command_invalid("non-connection method on channel 0"));
                }
                AMQPFrame::Header(0, _) | AMQPFrame::Body(0, _) => {
                    return Err(AmqpError::unexpected_frame("content frame on channel 0"));
                }
                AMQPFrame::Method(ch, method) => {
                    let class_method = (method.get_amqp_class_id(), method.get_amqp_method_id());
                    if let Err(e) = self.channel_method(ch, method) {
                        self.fail(ch, e, class_method)?;
                    }
                }
                AMQPFrame::Header(ch, header) => {
                    if let Err(e) = self.content_header(ch, header) {
                        self.fail(ch, e, (60, 40))?;
                    }
                }
                AMQPFrame::Body(ch, body) => {
                    if let Err(e) = self.content_body(ch, body) {
                        self.fail(ch, e, (60, 40))?;
                    }
                }
            }
        }
    }

    /// Flow control: while a queue this connection published into is backlogged and its
    /// consumers (on other connections) are working it down, the connection is not read (TCP
    /// pushes back on the publisher) until they reach [`FLOW_LOW`]. Consumers that make no
    /// progress for a while do not hold the publisher: the backlog then just grows, as in any
    /// queue nobody reads.
    async fn wait_for_consumers(&mut self, shutdown: &CancellationToken) {
        let conn = self.conn;
        let mut checkpoint: Option<(tokio::time::Instant, usize)> = None;
        while !self.backlogged.is_empty() && !shutdown.is_cancelled() {
            let (still, ready) = self.broker.with_state(|s| {
                let still: Vec<String> = std::mem::take(&mut self.backlogged)
                    .into_iter()
                    .filter(|q| s.backlogged(q, FLOW_LOW) && !s.consumes_from(conn, q))
                    .collect();
                let ready = still.iter().filter_map(|q| s.queues.get(q)).map(|q| q.ready()).sum::<usize>();
                (still, ready)
            });
            self.backlogged = still;
            let now = tokio::time::Instant::now();
            match checkpoint {
                None => checkpoint = Some((now, ready)),
                Some((at, before)) if now.duration_since(at) >= Duration::from_millis(200) => {
                    if ready >= before {
                        break;
                    }
                    checkpoint = Some((now, ready));
                }
                Some(_) => {}
            }
            if self.backlogged.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.backlogged.clear();
    }

    /// Reports an error: a channel error closes the channel; a connection error is returned.
    fn fail(&mut self, ch: ChannelId, e: AmqpError, (class_id, method_id): (u16, u16)) -> Result<(), AmqpError> {
        if e.scope == Scope::Connection {
            self.failed_method = Some((class_id, method_id));
            return Err(e);
        }
        let Some(local) = self.channels.get_mut(&ch) else { return Ok(()) };
        local.closing = true;
        local.pending = None;
        debug!(channel = ch, code = e.code, error = %e.text, "amqp channel error");
        self.broker.log(
            Severity::Warn,
            "channel closed with an error",
            &[
                ("network.peer.address", self.peer.clone().into()),
                ("amqp.channel", i64::from(ch).into()),
                ("amqp.reply_code", i64::from(e.code).into()),
                ("amqp.reply_text", e.text.clone().into()),
            ],
        );
        self.broker.with_state(|s| s.close_channel(self.conn, ch));
        self.send(
            ch,
            AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: e.code,
                reply_text: short(&e.text),
                class_id,
                method_id,
            })),
        );
        Ok(())
    }

    /// Closes the connection with an error and waits briefly for `close-ok`.
    async fn close_with(&mut self, read: &mut BufReader<ReadHalf>, e: &AmqpError) {
        if e.code == 0 {
            return;
        }
        let (class_id, method_id) = self.failed_method.unwrap_or((0, 0));
        let _ = self.out.send(conn_method(connection::AMQPMethod::Close(connection::Close {
            reply_code: e.code,
            reply_text: short(&e.text),
            class_id,
            method_id,
        })));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(frame)) = tokio::time::timeout_at(deadline, read_frame(read, self.frame_max)).await {
            if matches!(
                frame,
                AMQPFrame::Method(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(_) | connection::AMQPMethod::Close(_))
                )
            ) {
                break;
            }
        }
    }
}

/// A reply text cut to a short string's 255 bytes.
fn short(text: &str) -> ShortString {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

/// User and password from `start-ok`'s response.
fn credentials(mechanism: &str, response: &LongString) -> Result<(String, String), AmqpError> {
    let bytes = response.as_bytes();
    match mechanism {
        "PLAIN" => {
            // authzid NUL authcid NUL password
            let parts: Vec<&[u8]> = bytes.split(|b| *b == 0).collect();
            if parts.len() != 3 {
                return Err(AmqpError::login_refused("malformed PLAIN response"));
            }
            Ok((String::from_utf8_lossy(parts[1]).into_owned(), String::from_utf8_lossy(parts[2]).into_owned()))
        }
        "AMQPLAIN" => {
            // A field table without its length prefix.
            let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(bytes);
            let table = amq_protocol::types::parsing::parse_field_table(&framed[..])
                .map(|(_, t)| t)
                .map_err(|_| AmqpError::login_refused("malformed AMQPLAIN response"))?;
            let text = |key: &str| match table.inner().get(key) {
                Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                Some(AMQPValue::ShortString(s)) => s.as_str().to_owned(),
                _ => String::new(),
            };
            Ok((text("LOGIN"), text("PASSWORD")))
        }
        other => Err(AmqpError::login_refused(format!("unsupported authentication mechanism '{other}'"))),
    }
}
