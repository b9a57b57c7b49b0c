//! The demo's AMQP 0-9-1 message broker: what the course's pika publisher and subscriber talk
//! to on :5672 in place of RabbitMQ.
//!
//! # Layout
//! - `wire`: frames on the socket (decoded and encoded by `amq-protocol`).
//! - `connection`: one client connection's handshake, heartbeats and closing.
//! - `channel`: the methods of its channels and the content frames of a publish.
//! - `state`: the virtual host — exchanges, queues, bindings, routing, consumers, unacknowledged
//!   deliveries and dispatch — shared by all connections behind one mutex.
//! - `error`: reply codes and texts.

mod channel;
mod connection;
mod error;
mod state;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use error::{AmqpError, Scope};
pub use state::{ExchangeKind, headers_match, topic_matches};

/// The largest frame the broker accepts and proposes (RabbitMQ's default).
pub const FRAME_MAX: usize = 131_072;

/// How the broker is set up.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The user clients log in as.
    pub user: String,
    /// Its password.
    pub password: String,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig { user: "guest".into(), password: "guest".into() }
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
}

impl Broker {
    /// A broker with an empty virtual host.
    pub fn new(config: BrokerConfig) -> Arc<Broker> {
        Arc::new(Broker { config, state: Mutex::new(state::State::new()), connections: AtomicU64::new(0) })
    }

    /// Runs `f` on the state under the lock.
    fn with_state<T>(&self, f: impl FnOnce(&mut state::State) -> T) -> T {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Accepts connections on `listener` until `shutdown`, each served on its own task.
    pub async fn serve(self: Arc<Broker>, listener: TcpListener, shutdown: CancellationToken) {
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        info!(server = "amqp", address, "listening");
        let tasks = tokio_util::task::TaskTracker::new();
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
    }
}
