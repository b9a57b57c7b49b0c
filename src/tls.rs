//! TLS on Lookout's listeners (`--tls.cert-file`, `--tls.key-file`): rustls with the ring
//! provider, TLS 1.2 and 1.3. With `--tls.client-ca-file` the OTLP listeners also require a
//! client certificate signed by that CA (mutual TLS); the query listener never does.
//!
//! The files are read again when they change (checked at most once a second, on a new
//! connection), so renewed certificates take effect without a restart; a change that does not
//! load is logged and the last good certificates stay in use.
//!
//! Handshakes run off the accept loop, each in its own task with a deadline, so a client that
//! stalls in its handshake holds up nobody else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once per listener; more wait to be accepted.
const MAX_HANDSHAKES: usize = 1024;

/// How often, at most, the files' modification times are looked at.
const RECHECK: Duration = Duration::from_secs(1);

/// The certificate files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to; `None`: no client
    /// certificates asked for.
    pub client_ca: Option<PathBuf>,
}

/// One listener's TLS settings, reloaded when the files change.
pub struct Tls {
    files: TlsFiles,
    alpn: Vec<Vec<u8>>,
    state: Mutex<State>,
}

struct State {
    config: Arc<ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
    checked: Instant,
}

impl Tls {
    /// Loads the files for a listener speaking `alpn` (e.g. `h2` for gRPC); an error names the
    /// file at fault.
    pub fn new(files: TlsFiles, alpn: &[&[u8]]) -> anyhow::Result<Arc<Tls>> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let config = Arc::new(load(&files, &alpn)?);
        let stamps = stamps(&files);
        Ok(Arc::new(Tls { files, alpn, state: Mutex::new(State { config, stamps, checked: Instant::now() }) }))
    }

    /// The settings for a new connection: the files' current contents.
    fn config(&self) -> Arc<ServerConfig> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            let now = stamps(&self.files);
            if now != state.stamps {
                state.stamps = now;
                match load(&self.files, &self.alpn) {
                    Ok(config) => {
                        info!(cert = %self.files.cert.display(), "tls certificates reloaded");
                        state.config = Arc::new(config);
                    }
                    Err(e) => {
                        warn!(error = %format!("{e:#}"), "tls certificates changed but do not load; keeping the last good ones")
                    }
                }
            }
        }
        Arc::clone(&state.config)
    }
}

fn stamps(files: &TlsFiles) -> Vec<Option<SystemTime>> {
    let mut paths = vec![&files.cert, &files.key];
    paths.extend(files.client_ca.as_ref());
    paths.into_iter().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).collect()
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", path.display());
    Ok(certs)
}

fn load(files: &TlsFiles, alpn: &[Vec<u8>]) -> anyhow::Result<ServerConfig> {
    // ring rather than aws-lc-rs, which needs a C toolchain and CMake to build; what ring lacks
    // is the post-quantum key exchange, which is why rustls 0.23.48 marks it deprecated.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the private key from {}", files.key.display()))?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert).with_context(|| format!("a CA certificate in {} is not usable", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("client verification with {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).with_context(|| {
        format!("{} and {} do not make a certificate and its key", files.cert.display(), files.key.display())
    })?;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

/// A TLS connection, finished handshake and all.
pub struct TlsConn {
    stream: TlsStream<TcpStream>,
    remote: SocketAddr,
    local: Option<SocketAddr>,
}

/// Accepts connections on `listener` and hands on those whose handshake succeeds, until `stop`.
pub fn accept(listener: TcpListener, tls: Arc<Tls>, stop: CancellationToken) -> mpsc::Receiver<TlsConn> {
    let (tx, rx) = mpsc::channel(64);
    let local = listener.local_addr().ok();
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else { return };
            let (tcp, remote) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum's own loop does.
                        debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let (tls, tx) = (Arc::clone(&tls), tx.clone());
            tokio::spawn(async move {
                let acceptor = TlsAcceptor::from(tls.config());
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(TlsConn { stream, remote, local }).await;
                    }
                    Ok(Err(e)) => debug!(error = %e, %remote, "tls handshake failed"),
                    Err(_) => debug!(%remote, "tls handshake timed out"),
                }
                drop(permit);
            });
        }
    });
    rx
}

/// An axum listener over [`accept`].
pub struct TlsListener {
    connections: mpsc::Receiver<TlsConn>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS on `listener` with `tls`.
    pub fn new(listener: TcpListener, tls: Arc<Tls>, stop: CancellationToken) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        Ok(TlsListener { connections: accept(listener, tls, stop), local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TlsConn, SocketAddr) {
        match self.connections.recv().await {
            Some(conn) => {
                let remote = conn.remote;
                (conn, remote)
            }
            // The accept loop stopped (shutdown): wait for the server's own shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo { local_addr: self.local, remote_addr: Some(self.remote) }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
