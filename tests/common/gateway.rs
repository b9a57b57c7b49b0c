//! Starts `lookout gateway` on free ports in front of real HTTP upstream servers run by the
//! test, whose latency, status and health the test turns up and down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tokio_util::sync::CancellationToken;

/// A runtime shared by every upstream server of a test binary.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// What an upstream does; the test changes it while the gateway runs.
#[derive(Default)]
pub struct Behaviour {
    /// Delay before answering, in milliseconds.
    pub delay_ms: AtomicU64,
    /// Status of answers (0 means 200).
    pub status: AtomicU16,
    /// `/health` answers 503 when set.
    pub sick: AtomicBool,
    /// Requests answered (not counting `/health`).
    pub hits: AtomicU64,
    /// Headers of the last request.
    pub last_headers: Mutex<Option<HeaderMap>>,
    /// Request target of the last request, as the upstream's HTTP server read it.
    pub last_target: Mutex<Option<String>>,
}

/// A real HTTP server on a free port that answers with its own name.
pub struct Upstream {
    /// Its name, the body of every answer.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it does.
    pub behaviour: Arc<Behaviour>,
    stop: Mutex<Option<CancellationToken>>,
}

async fn answer(
    State((name, b)): State<(String, Arc<Behaviour>)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    b.hits.fetch_add(1, Ordering::Relaxed);
    *b.last_headers.lock().unwrap() = Some(headers);
    *b.last_target.lock().unwrap() = Some(uri.to_string());
    let delay = b.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = match b.status.load(Ordering::Relaxed) {
        0 => StatusCode::OK,
        s => StatusCode::from_u16(s).unwrap(),
    };
    (status, [("x-upstream", name.clone())], name)
}

async fn health(State((_, b)): State<(String, Arc<Behaviour>)>) -> StatusCode {
    if b.sick.load(Ordering::Relaxed) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
}

impl Upstream {
    /// Starts an upstream named `name` on a free port.
    pub fn start(name: &str) -> Upstream {
        let listener = runtime().block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let up =
            Upstream { name: name.to_owned(), addr, behaviour: Arc::new(Behaviour::default()), stop: Mutex::new(None) };
        up.serve(listener);
        up
    }

    /// Starts three upstreams, `a`, `b` and `c`.
    pub fn three() -> Vec<Upstream> {
        ["a", "b", "c"].into_iter().map(Upstream::start).collect()
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .route("/health", axum::routing::get(health))
            .fallback(answer)
            .with_state((self.name.clone(), Arc::clone(&self.behaviour)));
        let token = stop.clone();
        runtime().spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned());
            let _ = server.await;
        });
        *self.stop.lock().unwrap() = Some(stop);
    }

    /// Stops listening and closes its connections: the upstream is down.
    pub fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            stop.cancel();
        }
        // Down means refusing connections: wait until the port is closed.
        super::eventually("the upstream to stop listening", || {
            std::net::TcpStream::connect(self.addr).is_err().then_some(())
        });
    }

    /// Listens again on the same port.
    pub fn restart(&self) {
        let listener = super::eventually("the upstream's port to be free again", || {
            runtime().block_on(tokio::net::TcpListener::bind(self.addr)).ok()
        });
        self.serve(listener);
    }

    /// Requests answered so far.
    pub fn hits(&self) -> u64 {
        self.behaviour.hits.load(Ordering::Relaxed)
    }

    /// The pool entry for the gateway's YAML.
    pub fn yaml(&self) -> String {
        format!("{{url: 'http://{}', name: {}}}", self.addr, self.name)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            stop.cancel();
        }
    }
}

/// A running `lookout gateway`.
pub struct GatewayProcess {
    child: Child,
    /// The proxy's address.
    pub addr: SocketAddr,
    /// The admin API's address.
    pub admin: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl GatewayProcess {
    /// Starts the gateway with `config` (YAML) and telemetry off.
    pub fn start(config: &str) -> GatewayProcess {
        GatewayProcess::start_with(config, &["--otlp.endpoint", ""])
    }

    /// Starts the gateway with `config` and `extra` flags.
    pub fn start_with(config: &str, extra: &[&str]) -> GatewayProcess {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.yaml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["gateway", "--log.format", "json", "--gateway.listen-address", "127.0.0.1:0"])
            .args(["--gateway.admin-address", "127.0.0.1:0", "--gateway.config"])
            .arg(&path)
            .args(extra)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lookout gateway");
        let (log, addresses) = super::listeners(&mut child, 2);
        GatewayProcess { child, addr: addresses["gateway"], admin: addresses["gateway-admin"], log, _dir: dir }
    }

    /// `http://<proxy address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The admin API's view of a pool's upstreams, by name.
    pub fn upstreams(&self, pool: &str) -> std::collections::HashMap<String, serde_json::Value> {
        let v: serde_json::Value =
            super::http_client().get(format!("http://{}/api/pools/{pool}", self.admin)).send().unwrap().json().unwrap();
        v["upstreams"].as_array().unwrap().iter().map(|u| (u["name"].as_str().unwrap().to_owned(), u.clone())).collect()
    }

    /// Everything the gateway logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
