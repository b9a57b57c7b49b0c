//! The demo's AMQP 0-9-1 message broker: what the course's pika publisher and subscriber talk
//! to on :5672 in place of RabbitMQ.
//!
//! # Layout
//! - `wire`: frames on the socket (decoded and encoded by `amq-protocol`).
//! - `connection`: one client connection's handshake, heartbeats and closing.
//! - `channel`: the methods of its channels and the content frames of a publish.
//! - `routing`: exchanges and how each type matches.
//! - `topology`: declaring, binding and deleting exchanges and queues.
//! - `lifecycle`: persistence, expiry, length limits, dead-lettering and recovery.
//! - `store`: the files behind durable queues (format in its module doc).
//! - `state`: the virtual host — exchanges, queues, bindings, routing, consumers, unacknowledged
//!   deliveries and dispatch — shared by all connections behind one mutex.
//! - `stats`: message counters and rates.
//! - `management`: the read-only management HTTP API (RabbitMQ's JSON shapes).
//! - `error`: reply codes and texts.

mod channel;
mod connection;
mod error;
mod lifecycle;
mod management;
mod routing;
mod state;
mod stats;
mod store;
mod telemetry;
mod topology;
mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use error::{AmqpError, Scope};

/// A connection accepted elsewhere (a TLS stream), with its addresses.
pub trait PeerStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {
    /// The client's address.
    fn peer(&self) -> std::net::SocketAddr;
    /// The address it connected to.
    fn local(&self) -> std::net::SocketAddr;
}
pub use routing::{ExchangeKind, headers_match, topic_matches};
pub use state::{FLOW_HIGH, FLOW_LOW};

/// The largest frame the broker accepts and proposes (RabbitMQ's default).
pub const FRAME_MAX: usize = 131_072;

/// How the broker is set up.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The user clients log in as.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Where durable queues and their persistent messages are kept; `None` keeps nothing
    /// across restarts.
    pub data_dir: Option<PathBuf>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig { user: "guest".into(), password: "guest".into(), data_dir: None }
    }
}

impl BrokerConfig {
    /// Whether a login is accepted.
    fn accepts(&self, user: &str, password: &str) -> bool {
        user == self.user && password == self.password
    }
}

/// A running broker's shared state.
pub struct Broker {
    config: BrokerConfig,
    state: Mutex<state::State>,
    connections: AtomicU64,
    rates: Mutex<stats::RateSampler>,
    /// The AMQP port, once listening.
    port: AtomicU16,
    /// Connections handling frames they have already read: while any is, writers streaming
    /// deliveries wait a few turns more, so deliveries leave in bursts as publishes arrive in them.
    pub(crate) busy_readers: std::sync::atomic::AtomicUsize,
}

impl Broker {
    /// A broker with what its data directory holds (an empty virtual host without one).
    pub fn open(config: BrokerConfig) -> std::io::Result<Arc<Broker>> {
        let state = match &config.data_dir {
            Some(dir) => {
                let (store, recovered) = store::Store::open(dir)?;
                let queues = recovered.definitions.queues.len();
                let messages: usize = recovered.messages.values().map(Vec::len).sum();
                info!(dir = %dir.display(), queues, messages, "broker state recovered");
                state::State::recovered(store, recovered)
            }
            None => state::State::new(),
        };
        Ok(Arc::new(Broker {
            config,
            state: Mutex::new(state),
            connections: AtomicU64::new(0),
            rates: Mutex::new(stats::RateSampler::default()),
            port: AtomicU16::new(0),
            busy_readers: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// Runs `f` on the state under the lock.
    fn with_state<T>(&self, f: impl FnOnce(&mut state::State) -> T) -> T {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Turns on the broker's spans, metrics and logs.
    pub fn instrument(self: &Arc<Broker>, telemetry: &crate::telemetry::Telemetry) {
        let instrumented = Arc::new(telemetry::BrokerTelemetry::new(telemetry, self));
        self.with_state(|s| s.telemetry = Some(instrumented));
    }

    /// Emits a log record through the broker's telemetry, when it is on.
    fn log(
        &self,
        severity: opentelemetry::logs::Severity,
        body: &str,
        attributes: &[(&'static str, opentelemetry::logs::AnyValue)],
    ) {
        if let Some(t) = self.with_state(|s| s.telemetry.clone()) {
            t.log(severity, body, attributes);
        }
    }

    /// A queue's ready and unacknowledged message counts.
    pub fn queue_depth(&self, queue: &str) -> Option<(usize, usize)> {
        self.with_state(|s| s.queues.get(queue).map(|q| (q.ready(), q.unacked)))
    }

    /// The management API's routes (serve them on :15672).
    pub fn management(self: &Arc<Broker>) -> axum::Router {
        management::router(Arc::clone(self))
    }

    /// Rates of the counters `pick` selects, over the last few seconds.
    fn rates(&self, pick: impl Fn(&stats::Stats) -> Option<stats::Counters>) -> stats::Rates {
        match self.rates.lock() {
            Ok(r) => r.rates(pick),
            Err(poisoned) => poisoned.into_inner().rates(pick),
        }
    }

    /// The AMQP port (0 before listening).
    fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// Accepts connections on `listener` until `shutdown`, each served on its own task.
    pub async fn serve(self: Arc<Broker>, listener: TcpListener, shutdown: CancellationToken) {
        if let Ok(a) = listener.local_addr() {
            self.port.store(a.port(), Ordering::Relaxed);
        }
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        info!(server = "amqp", address, "listening");
        let tasks = tokio_util::task::TaskTracker::new();
        tasks.spawn(Arc::clone(&self).sweep(shutdown.clone()));
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = shutdown.cancelled() => break,
            };
            match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let id = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
                    tasks.spawn(connection::serve(stream, Arc::clone(&self), id, shutdown.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "amqp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        tasks.close();
        tasks.wait().await;
        // Whatever the last connections wrote reaches the disk.
        for file in self.with_state(state::State::logs_to_sync) {
            let _ = file.sync_data();
        }
    }

    /// Serves connections that arrive already accepted (TLS connections after their
    /// handshake, as `lookout broker --tls.cert-file` makes them) until `shutdown`. The
    /// expiry sweep and the final sync are [`Broker::serve`]'s, which runs beside.
    pub async fn serve_streams<S: PeerStream>(
        self: Arc<Broker>,
        mut streams: tokio::sync::mpsc::Receiver<S>,
        shutdown: CancellationToken,
    ) {
        let tasks = tokio_util::task::TaskTracker::new();
        loop {
            let stream = tokio::select! {
                s = streams.recv() => s,
                () = shutdown.cancelled() => break,
            };
            let Some(stream) = stream else { break };
            let (peer, local) = (stream.peer(), stream.local());
            let (read, write) = tokio::io::split(stream);
            let id = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
            tasks.spawn(connection::serve_halves(
                Box::new(read),
                Box::new(write),
                peer,
                local,
                Arc::clone(&self),
                id,
                shutdown.clone(),
            ));
        }
        tasks.close();
        tasks.wait().await;
    }

    /// Expires messages every sweep interval and fsyncs the queue logs every sync interval,
    /// the fsync outside the state lock.
    async fn sweep(self: Arc<Broker>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(lifecycle::SWEEP_INTERVAL);
        let mut last_sync = std::time::Instant::now();
        let mut last_sample: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let now = std::time::Instant::now();
            self.with_state(|s| s.expire(now));
            if last_sample.is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(1)) {
                last_sample = Some(now);
                let snapshot = self.with_state(|s| s.stats.clone());
                if let Ok(mut r) = self.rates.lock() {
                    r.record(now, snapshot);
                }
            }
            if last_sync.elapsed() >= store::SYNC_INTERVAL {
                last_sync = std::time::Instant::now();
                let files = self.with_state(state::State::logs_to_sync);
                if !files.is_empty() {
                    let _ = tokio::task::spawn_blocking(move || {
                        for f in files {
                            let _ = f.sync_data();
                        }
                    })
                    .await;
                }
            }
        }
    }
}
