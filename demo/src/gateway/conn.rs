//! Connections to upstreams: HTTP/1.1 keep-alive connections pooled per thread and upstream.
//!
//! Each gateway thread runs its own runtime, so each keeps its own idle connections: a request
//! takes one (or opens one), and its response body hands it back once read to the end. A body
//! left unread closes its connection instead, since the connection is then mid-response.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http::uri::Authority;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

type Sender = SendRequest<Full<Bytes>>;

/// Idle connections kept per upstream and thread.
const MAX_IDLE: usize = 256;

/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

thread_local! {
    static IDLE: RefCell<HashMap<Authority, Vec<Sender>>> = RefCell::new(HashMap::new());
}

/// A connection lent to one request: back to the pool with [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    sender: Sender,
    authority: Authority,
}

impl Lease {
    /// Returns the connection to this thread's pool, its response read to the end.
    pub fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        IDLE.with(|idle| {
            let mut idle = idle.borrow_mut();
            let list = idle.entry(self.authority).or_default();
            if list.len() < MAX_IDLE {
                list.push(self.sender);
            }
        });
    }
}

/// Why a request got no response.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be opened: the request was not sent.
    Connect(std::io::Error),
    /// The connection failed before the response's headers.
    Broken(hyper::Error),
}

/// Sends `request` to `authority` on an idle connection or a new one.
pub async fn send(
    authority: &Authority,
    mut request: Request<Full<Bytes>>,
) -> Result<(http::Response<Incoming>, Lease), SendError> {
    while let Some(mut sender) = take_idle(authority) {
        if sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(request).await {
            Ok(response) => return Ok((response, Lease { sender, authority: authority.clone() })),
            // An idle connection the upstream closed just now: the request never left, so it
            // goes on another connection.
            Err(mut e) => match e.take_message() {
                Some(unsent) => request = unsent,
                None => return Err(SendError::Broken(e.into_error())),
            },
        }
    }
    let mut sender = open(authority).await?;
    if let Err(e) = sender.ready().await {
        return Err(SendError::Broken(e));
    }
    match sender.try_send_request(request).await {
        Ok(response) => Ok((response, Lease { sender, authority: authority.clone() })),
        Err(e) => Err(SendError::Broken(e.into_error())),
    }
}

fn take_idle(authority: &Authority) -> Option<Sender> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.get_mut(authority)?;
        while let Some(s) = list.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    })
}

async fn open(authority: &Authority) -> Result<Sender, SendError> {
    let port = authority.port_u16().unwrap_or(80);
    let stream =
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((authority.host(), port))).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SendError::Connect(e)),
            Err(_) => {
                return Err(SendError::Connect(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")));
            }
        };
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| SendError::Connect(std::io::Error::other(e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}
