//! Lookout's listeners: one accept loop for the query port and both OTLP ports, plain or TLS,
//! that also holds each client address to `limits.max_connections_per_client` open
//! connections per port, as NGINX's `limit_conn` does per address.
//!
//! A connection over the limit is answered in the port's own protocol and closed: an HTTP
//! port writes a 429 naming the limit, the gRPC port an HTTP/2 GOAWAY with
//! `ENHANCE_YOUR_CALM` and the same words (gRPC clients report `RESOURCE_EXHAUSTED`). Under TLS
//! nothing can be said before a handshake, so the connection is closed. Refusals are counted
//! in `lookout_connections_refused_total{listener}`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus::{IntCounterVec, Opts, Registry};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::tls::Tls;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS handshakes in progress at once per listener; more wait to be accepted.
const MAX_HANDSHAKES: usize = 1024;

/// What a listener speaks, for the words of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 or HTTP/2 with prior knowledge.
    Http,
    /// gRPC: HTTP/2 only.
    Grpc,
}

/// Open connections per client address on one listener.
pub struct ConnectionLimit {
    listener: &'static str,
    max_per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    refused: IntCounterVec,
}

impl ConnectionLimit {
    /// The counter every listener's limit counts its refusals in.
    pub fn counter(registry: &Registry) -> prometheus::Result<IntCounterVec> {
        let refused = IntCounterVec::new(
            Opts::new(
                "lookout_connections_refused_total",
                "Connections refused by limits.max_connections_per_client, by listener.",
            ),
            &["listener"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        Ok(refused)
    }

    /// At most `max_per_client` connections per address on `listener` (0: no limit).
    pub fn new(listener: &'static str, max_per_client: usize, refused: IntCounterVec) -> Arc<ConnectionLimit> {
        Arc::new(ConnectionLimit { listener, max_per_client, open: Mutex::new(HashMap::new()), refused })
    }

    /// A place for one more connection from `ip`, or none.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        if self.max_per_client == 0 {
            return Some(Admitted(None));
        }
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_default();
        if *n >= self.max_per_client {
            self.refused.with_label_values(&[self.listener]).inc();
            return None;
        }
        *n += 1;
        Some(Admitted(Some((Arc::clone(self), ip))))
    }

    fn message(&self, ip: IpAddr) -> String {
        format!(
            "connection limit max_connections_per_client reached: {ip} already has {} open connections to this port",
            self.max_per_client
        )
    }
}

/// A connection's place under its limit, given back when the connection is dropped.
struct Admitted(Option<(Arc<ConnectionLimit>, IpAddr)>);

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some((limit, ip)) = self.0.take() {
            let mut open = limit.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = open.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&ip);
                }
            }
        }
    }
}

/// Says why a connection is refused, in the port's protocol, and closes it.
async fn refuse(mut tcp: TcpStream, protocol: Protocol, message: String) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        match protocol {
            Protocol::Http => {
                let answer = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}\n",
                    message.len() + 1
                );
                tcp.write_all(answer.as_bytes()).await?;
            }
            Protocol::Grpc => {
                // The server's preface (an empty SETTINGS frame); then, once the client's first
                // request has started (so that it fails with the reason rather than seeing the
                // connection merely closed), GOAWAY: last stream 0, ENHANCE_YOUR_CALM (0xb),
                // the message as debug data.
                tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await?;
                let _ = tokio::time::timeout(Duration::from_secs(1), first_request(&mut tcp)).await;
                let mut goaway = ((8 + message.len()) as u32).to_be_bytes()[1..].to_vec();
                goaway.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb]);
                goaway.extend_from_slice(message.as_bytes());
                tcp.write_all(&goaway).await?;
            }
        }
        // Then what the client sent meanwhile is read and dropped until it closes: closing
        // with unread bytes would reset the connection, and the client could lose the answer.
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Reads an HTTP/2 client's preface and frames until its first HEADERS frame.
async fn first_request(tcp: &mut TcpStream) -> std::io::Result<()> {
    const PREFACE: usize = 24;
    let mut buf = Vec::new();
    let mut at = PREFACE;
    loop {
        while buf.len() >= at + 9 {
            let length = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
            if buf[at + 3] == 1 {
                return Ok(());
            }
            at += 9 + length;
        }
        let mut chunk = [0u8; 4096];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A connection: plain or TLS, with its addresses and its place under the limit.
pub struct Conn {
    stream: Stream,
    remote: SocketAddr,
    local: Option<SocketAddr>,
    _admitted: Admitted,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Accepts connections on `listener` until `stop`: each admitted by `limit`, then (with `tls`)
/// through its handshake, off the accept loop.
pub fn accept(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    limit: Arc<ConnectionLimit>,
    protocol: Protocol,
    stop: CancellationToken,
) -> mpsc::Receiver<Conn> {
    let (tx, rx) = mpsc::channel(64);
    let local = listener.local_addr().ok();
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
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
            let Some(admitted) = limit.admit(remote.ip()) else {
                debug!(%remote, listener = limit.listener, "connection refused: too many from this client");
                if tls.is_none() {
                    tokio::spawn(refuse(tcp, protocol, limit.message(remote.ip())));
                }
                continue;
            };
            let Some(tls) = &tls else {
                let conn = Conn { stream: Stream::Plain(tcp), remote, local, _admitted: admitted };
                if tx.send(conn).await.is_err() {
                    return;
                }
                continue;
            };
            let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else { return };
            let (tls, tx) = (Arc::clone(tls), tx.clone());
            tokio::spawn(async move {
                let acceptor = TlsAcceptor::from(tls.config());
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let conn = Conn { stream: Stream::Tls(Box::new(stream)), remote, local, _admitted: admitted };
                        let _ = tx.send(conn).await;
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
pub struct Listener {
    connections: mpsc::Receiver<Conn>,
    local: SocketAddr,
}

impl Listener {
    /// Serves HTTP on `listener`, with `tls` if given, under `limit`.
    pub fn new(
        listener: TcpListener,
        tls: Option<Arc<Tls>>,
        limit: Arc<ConnectionLimit>,
        stop: CancellationToken,
    ) -> std::io::Result<Listener> {
        let local = listener.local_addr()?;
        Ok(Listener { connections: accept(listener, tls, limit, Protocol::Http, stop), local })
    }
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
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

impl lookout_demo::broker::PeerStream for Conn {
    fn peer(&self) -> SocketAddr {
        self.remote
    }

    fn local(&self) -> SocketAddr {
        self.local.unwrap_or(self.remote)
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo { local_addr: self.local, remote_addr: Some(self.remote) }
    }
}

macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match &mut $self.get_mut().stream {
            Stream::Plain($s) => $e,
            Stream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        both!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        both!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        both!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}
