//! The request path: accept a connection, match a route, authenticate, rate-limit, choose an
//! upstream, forward with a timeout and retries, and stream the answer back.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::balance::{InFlight, PickKey, Pool};
use super::config::HashOn;
use super::ratelimit::RateLimitKey;
use super::telemetry::ServerSpan;
use super::{Gateway, Route};

/// What the gateway answers with: an upstream's streamed body or its own.
pub type GatewayBody = Either<Upstreamed, Full<Bytes>>;

/// Time given to requests in flight at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// Spreads connections over the worker threads. Whichever worker's `accept` returns first
/// would otherwise take a whole burst of connections (64 at once from a benchmark, every
/// connection of a pooled client): the worker that accepts one hands it to the worker serving
/// the fewest, keeping it itself on a tie, as NGINX's workers share out accepts one at a time.
pub(super) struct Workers {
    /// Connections each worker is serving or has been handed.
    open: Vec<AtomicUsize>,
    /// Where each worker takes connections handed to it.
    inboxes: Vec<mpsc::UnboundedSender<Handed>>,
}

/// A connection handed from one worker to another, counted against the one it goes to.
type Handed = (std::net::TcpStream, SocketAddr, Serving);

/// What a worker receives connections from, besides its listener.
pub(super) type Inbox = mpsc::UnboundedReceiver<Handed>;

impl Workers {
    /// `n` workers, and the inbox of each.
    pub(super) fn new(n: usize) -> (Arc<Workers>, Vec<Inbox>) {
        let (inboxes, receivers) = (0..n).map(|_| mpsc::unbounded_channel()).unzip();
        (Arc::new(Workers { open: (0..n).map(|_| AtomicUsize::new(0)).collect(), inboxes }), receivers)
    }

    /// Worker `i` could not start: nothing is handed to it.
    pub(super) fn retire(&self, i: usize) {
        self.open[i].store(usize::MAX / 2, Ordering::Relaxed);
    }

    /// The worker that should serve the next connection accepted by worker `me`.
    fn choose(&self, me: usize) -> usize {
        let load = |i: usize| self.open[i].load(Ordering::Relaxed);
        let least = (0..self.open.len()).min_by_key(|&i| load(i)).unwrap_or(me);
        if load(least) < load(me) { least } else { me }
    }

    /// Counts a connection against worker `i` until the returned guard is dropped.
    fn count(self: &Arc<Self>, i: usize) -> Serving {
        self.open[i].fetch_add(1, Ordering::Relaxed);
        Serving { workers: Arc::clone(self), i }
    }
}

/// A connection counted against a worker while it is open (or on its way to it).
pub(super) struct Serving {
    workers: Arc<Workers>,
    i: usize,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.workers.open[self.i].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Worker `me`'s loop: accepts connections (serving each here or handing it to a less busy
/// worker) and serves those handed to it, until `shutdown`; then drains them.
pub(super) async fn accept(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    workers: Arc<Workers>,
    me: usize,
    mut inbox: Inbox,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let (stream, peer, serving) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let to = workers.choose(me);
                    if to == me {
                        (stream, peer, workers.count(me))
                    } else {
                        // A connection that cannot be handed over is closed, as one refused at
                        // accept would be; its count goes with it.
                        if let Ok(stream) = stream.into_std() {
                            let _ = workers.inboxes[to].send((stream, peer, workers.count(to)));
                        }
                        continue;
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    warn!(error = %e, "gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Never closed: this worker holds a sender of its own inbox.
            Some((stream, peer, serving)) = inbox.recv() => match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => (stream, peer, serving),
                Err(e) => {
                    warn!(error = %e, "gateway cannot take a connection from another worker");
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let gateway = Arc::clone(&gateway);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _serving = serving;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(gateway.header_timeout)
                .max_buf_size(gateway.max_header_bytes.max(8192))
                .keep_alive(true);
            let service = {
                let gateway = Arc::clone(&gateway);
                service_fn(move |req| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, Infallible>(gateway.handle(req, peer).await) }
                })
            };
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                debug!(error = %e, client = %peer, "gateway connection ended with an error");
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(DRAIN, connections.wait()).await;
}

/// How a request's trip to its upstreams ended.
struct Outcome {
    response: Response<GatewayBody>,
    upstream: Option<String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// No connection: the request was not sent, so any method may be retried.
    Connect,
    /// Sent, but no answer came or the connection broke.
    Broken,
    /// No answer within the route's timeout.
    Timeout,
}

impl Gateway {
    /// Serves one request.
    async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<GatewayBody> {
        let started = Instant::now();
        let request_id = request_id(req.headers());
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let head_bytes: usize = req.uri().path_and_query().map_or(0, |p| p.as_str().len())
            + req.headers().iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum::<usize>();
        if head_bytes > self.max_header_bytes {
            // hyper bounds what it buffers; this holds the head to the configured size.
            let mut response =
                error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request header fields too large", &request_id);
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            self.finish(None, &method, &path, peer, started, &request_id, None, &response, None);
            return response;
        }
        let Some(route) = self.route_for(&req) else {
            let (status, message) = if self.route_for_any_method(&req) {
                (StatusCode::METHOD_NOT_ALLOWED, format!("method {method} not allowed on {path}"))
            } else {
                (StatusCode::NOT_FOUND, format!("no route for {method} {path}"))
            };
            let response = error(status, &message, &request_id);
            self.finish(None, &method, &path, peer, started, &request_id, None, &response, None);
            return response;
        };
        let mut span = self.telemetry.get().map(|t| t.server_span(&req, &route.name, peer));
        let outcome = self.route_request(route, req, peer, &request_id, span.as_mut()).await;
        self.finish(
            Some(route),
            &method,
            &path,
            peer,
            started,
            &request_id,
            outcome.upstream.as_deref(),
            &outcome.response,
            span,
        );
        outcome.response
    }

    /// Everything after the route is known.
    async fn route_request(
        &self,
        route: &Route,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
        span: Option<&mut ServerSpan>,
    ) -> Outcome {
        let own = |response| Outcome { response, upstream: None };
        let mut subject = None;
        if let Some(auth) = &route.auth {
            match auth.check(req.headers(), SystemTime::now()) {
                Ok(principal) => subject = Some(principal.subject),
                Err(e) => {
                    let mut response = error(e.status, &e.message, request_id);
                    if let Some(challenge) = e.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
                        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                    }
                    return own(response);
                }
            }
        }
        if let Some((limiter, key)) = &route.limit {
            let key = match key {
                RateLimitKey::ClientIp => peer.ip().to_string(),
                RateLimitKey::Header(h) => {
                    header_str(req.headers(), h).map_or_else(|| peer.ip().to_string(), str::to_owned)
                }
                RateLimitKey::Subject => subject.clone().unwrap_or_else(|| peer.ip().to_string()),
                RateLimitKey::Global => String::new(),
            };
            if let Err(wait) = limiter.check(&key, Instant::now()) {
                if let Some(t) = self.telemetry.get() {
                    t.rate_limited(&route.name);
                }
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded", request_id);
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                return own(response);
            }
        }
        let (parts, body) = req.into_parts();
        if parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            > Some(self.max_body_bytes)
        {
            return own(error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large", request_id));
        }
        let body = if hyper::body::Body::is_end_stream(&body) {
            Bytes::new()
        } else {
            match Limited::new(body, self.max_body_bytes).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return own(error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large", request_id));
                }
                Err(_) => return own(error(StatusCode::BAD_REQUEST, "could not read the request body", request_id)),
            }
        };
        self.forward(route, parts, body, peer, request_id, span).await
    }

    /// Sends the request to the route's pool, retrying as the route allows.
    async fn forward(
        &self,
        route: &Route,
        parts: http::request::Parts,
        body: Bytes,
        peer: SocketAddr,
        request_id: &str,
        mut span: Option<&mut ServerSpan>,
    ) -> Outcome {
        let pool = &self.pools[route.pool];
        let Some(target) = upstream_path(&parts, route) else {
            return Outcome {
                response: error(StatusCode::BAD_REQUEST, "bad request target", request_id),
                upstream: None,
            };
        };
        let mut headers = Some(upstream_headers(&parts.headers, peer.ip(), request_id));
        let cookie_sticky = cookie(&parts.headers, &pool.sticky_cookie);
        let hash_key = hash_key(pool, &parts);
        let key = PickKey { hash: hash_key.as_deref(), sticky: cookie_sticky.as_deref(), client_ip: Some(peer.ip()) };
        let attempts = route.retry.as_ref().map_or(1, |(c, _)| c.attempts.max(1));
        if let Some((_, budget)) = &route.retry {
            budget.deposit(Instant::now());
        }
        let idempotent =
            matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE);
        let mut tried = Vec::new();
        let mut last_failure = None;
        let mut attempt = 0;
        // A retry already granted (for a retryable status, decided before dropping its answer).
        let mut granted = false;
        while attempt < attempts {
            if attempt > 0 {
                if !(granted || last_failure == Some(Failure::Connect) || idempotent) {
                    break;
                }
                if !granted && !self.withdraw_retry(route) {
                    break;
                }
                granted = false;
                if let Some((config, _)) = &route.retry {
                    tokio::time::sleep(super::breaker::backoff(config, attempt - 1, crate::random::random())).await;
                }
            }
            attempt += 1;
            let Some((index, permit)) = choose(pool, &key, &mut tried) else { break };
            let upstream = &pool.upstreams[index];
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = parts.method.clone();
            // The last attempt takes the headers; earlier ones copy them.
            *request.headers_mut() = if attempt == attempts {
                headers.take().unwrap_or_default()
            } else {
                headers.clone().unwrap_or_default()
            };
            if let Some(s) = span.as_deref_mut() {
                s.attempt(&upstream.name, attempt);
                if let Some(traceparent) = s.traceparent() {
                    request.headers_mut().insert(HeaderName::from_static("traceparent"), traceparent);
                }
            }
            // Origin form (`/path?query`), as NGINX sends it: an origin server is not a proxy,
            // and the absolute form would show up in the upstream's view of the request.
            *request.uri_mut() = http::Uri::from(target.clone());
            if !request.headers().contains_key(header::HOST)
                && let Ok(host) = HeaderValue::from_str(upstream.authority.as_str())
            {
                request.headers_mut().insert(header::HOST, host);
            }
            let in_flight = upstream.start();
            let sent = Instant::now();
            let result = tokio::time::timeout(route.timeout, super::conn::send(&upstream.authority, request)).await;
            let now = Instant::now();
            let failure = match result {
                Ok(Ok((response, lease))) => {
                    upstream.observe_latency(now - sent);
                    let status = response.status();
                    let failed = status.is_server_error();
                    if let Some((b, p)) = upstream.breaker.as_ref().zip(permit) {
                        b.record(p, !failed, now);
                    }
                    if failed {
                        upstream.fail(&pool.passive, now);
                    } else {
                        upstream.succeed();
                    }
                    let retry_on = route.retry.as_ref().is_some_and(|(c, _)| c.retry_on.contains(&status.as_u16()));
                    if retry_on && attempt < attempts && idempotent && self.withdraw_retry(route) {
                        if let Some(s) = span.as_deref_mut() {
                            s.attempt_failed(&upstream.name, status.as_str());
                        }
                        last_failure = Some(Failure::Broken);
                        granted = true;
                        continue;
                    }
                    if failed && let Some(fallback) = self.fallback(route, request_id) {
                        return Outcome { response: fallback, upstream: Some(upstream.name.clone()) };
                    }
                    let response = self.respond(
                        response,
                        (in_flight, lease),
                        pool,
                        &upstream.name,
                        cookie_sticky.as_deref(),
                        request_id,
                    );
                    return Outcome { response, upstream: Some(upstream.name.clone()) };
                }
                Ok(Err(super::conn::SendError::Connect(e))) => {
                    debug!(upstream = upstream.name, error = %e, "cannot connect to the upstream");
                    Failure::Connect
                }
                Ok(Err(super::conn::SendError::Broken(e))) => {
                    debug!(upstream = upstream.name, error = %e, "upstream connection failed");
                    Failure::Broken
                }
                Err(_) => Failure::Timeout,
            };
            drop(in_flight);
            debug!(upstream = upstream.name, ?failure, "upstream attempt failed");
            if let Some((b, p)) = upstream.breaker.as_ref().zip(permit) {
                b.record(p, false, now);
            }
            if upstream.fail(&pool.passive, now) {
                warn!(pool = pool.name, upstream = upstream.name, "upstream ejected after failed requests");
            }
            if let Some(s) = span.as_deref_mut() {
                s.attempt_failed(&upstream.name, failure_text(failure));
            }
            last_failure = Some(failure);
        }
        if let Some(response) = self.fallback(route, request_id) {
            return Outcome { response, upstream: None };
        }
        let response = match last_failure {
            Some(Failure::Timeout) => error(StatusCode::GATEWAY_TIMEOUT, "upstream timed out", request_id),
            Some(Failure::Connect | Failure::Broken) => {
                error(StatusCode::BAD_GATEWAY, "upstream unreachable or failed", request_id)
            }
            None => error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("no available upstream in pool {}", pool.name),
                request_id,
            ),
        };
        Outcome { response, upstream: None }
    }

    /// Takes a retry from the route's budget; false when the budget is spent.
    fn withdraw_retry(&self, route: &Route) -> bool {
        let Some((_, budget)) = &route.retry else { return false };
        if !budget.try_withdraw(Instant::now()) {
            debug!(route = route.name, "retry budget exhausted");
            return false;
        }
        if let Some(t) = self.telemetry.get() {
            t.retried(&route.name);
        }
        true
    }

    /// The route's fallback response, if it has one.
    fn fallback(&self, route: &Route, request_id: &str) -> Option<Response<GatewayBody>> {
        let f = route.fallback.as_ref()?;
        if let Some(t) = self.telemetry.get() {
            t.fell_back(&route.name);
        }
        let mut response = Response::new(Either::Right(Full::new(Bytes::from(f.body.clone()))));
        *response.status_mut() = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&f.content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        headers.insert(HeaderName::from_static("x-lookout-fallback"), HeaderValue::from_static("1"));
        set_request_id(headers, request_id);
        Some(response)
    }

    /// The upstream's answer, passed on with its body streaming.
    fn respond(
        &self,
        response: Response<Incoming>,
        (in_flight, lease): (InFlight, super::conn::Lease),
        pool: &Pool,
        upstream: &str,
        sticky: Option<&str>,
        request_id: &str,
    ) -> Response<GatewayBody> {
        let (mut parts, body) = response.into_parts();
        remove_hop_by_hop(&mut parts.headers);
        set_request_id(&mut parts.headers, request_id);
        if pool.algorithm == super::config::Algorithm::StickyRoundRobin
            && sticky != Some(upstream)
            && let Ok(v) = HeaderValue::from_str(&format!("{}={upstream}; Path=/; HttpOnly", pool.sticky_cookie))
        {
            parts.headers.append(header::SET_COOKIE, v);
        }
        Response::from_parts(parts, Either::Left(Upstreamed { body, lease: Some(lease), _in_flight: in_flight }))
    }

    /// The route for a request: host, method and the longest path prefix.
    fn route_for(&self, req: &Request<Incoming>) -> Option<&Route> {
        let host = request_host(req);
        self.routes
            .iter()
            .filter(|r| r.matches(host, req.uri().path()))
            .filter(|r| r.methods.is_empty() || r.methods.contains(req.method()))
            .max_by_key(|r| r.prefix.len())
    }

    fn route_for_any_method(&self, req: &Request<Incoming>) -> bool {
        let host = request_host(req);
        self.routes.iter().any(|r| r.matches(host, req.uri().path()))
    }

    /// Access log, metrics and the end of the server span.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        route: Option<&Route>,
        method: &Method,
        path: &str,
        peer: SocketAddr,
        started: Instant,
        request_id: &str,
        upstream: Option<&str>,
        response: &Response<GatewayBody>,
        span: Option<ServerSpan>,
    ) {
        let took = started.elapsed();
        let status = response.status().as_u16();
        let route_name = route.map_or("", |r| r.name.as_str());
        let pool = route.map_or("", |r| self.pools[r.pool].name.as_str());
        if self.access_log {
            let trace_id = span.as_ref().map(ServerSpan::trace_id);
            info!(
                target: "lookout_demo::gateway::access",
                client = %peer.ip(),
                method = %method,
                path,
                status,
                route = route_name,
                upstream = upstream.unwrap_or("-"),
                duration_ms = took.as_secs_f64() * 1e3,
                request_id,
                trace_id = trace_id.as_deref().unwrap_or(""),
                "request"
            );
        }
        if let Some(t) = self.telemetry.get() {
            t.request(route_name, pool, upstream.unwrap_or(""), method, status, took);
            if self.access_log {
                t.access_log(span.as_ref(), peer, method, path, status, route_name, upstream, took, request_id);
            }
            if let Some(s) = span {
                s.end(status);
            }
        }
    }
}

/// The upstream's body, keeping the upstream's in-flight count until it is done and handing
/// the connection back once it has been read to the end.
pub struct Upstreamed {
    body: Incoming,
    lease: Option<super::conn::Lease>,
    _in_flight: InFlight,
}

impl hyper::body::Body for Upstreamed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let done = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            Poll::Ready(Some(Err(_))) => {
                self.lease = None;
                false
            }
            Poll::Pending => false,
        };
        if done && let Some(lease) = self.lease.take() {
            lease.release();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Picks an available upstream whose circuit admits the request, excluding those tried.
fn choose(pool: &Pool, key: &PickKey<'_>, tried: &mut Vec<usize>) -> Option<(usize, Option<super::breaker::Permit>)> {
    loop {
        let now = Instant::now();
        let index = pool.pick(key, tried, now)?;
        tried.push(index);
        match pool.upstreams[index].breaker.as_ref().map(|b| b.allow(now)) {
            None => return Some((index, None)),
            Some(Ok(permit)) => return Some((index, Some(permit))),
            Some(Err(_)) => continue,
        }
    }
}

/// The host a request names, without its port.
fn request_host(req: &Request<Incoming>) -> Option<&str> {
    let h = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| req.uri().host())?;
    Some(match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => h,
    })
}

impl Route {
    /// Whether the route's host and path prefix match.
    fn matches(&self, host: Option<&str>, path: &str) -> bool {
        self.host.as_ref().is_none_or(|want| host.is_some_and(|h| h.eq_ignore_ascii_case(want)))
            && prefix_matches(&self.prefix, path)
    }
}

/// A path prefix matches on a segment boundary: `/api` matches `/api` and `/api/x`, not `/apix`.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
}

/// Path and query sent upstream: the request's own, or without the route's prefix.
fn upstream_path(parts: &http::request::Parts, route: &Route) -> Option<http::uri::PathAndQuery> {
    if !(route.strip_prefix && route.prefix != "/") {
        return Some(parts.uri.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")));
    }
    let path = match parts.uri.path().strip_prefix(route.prefix.trim_end_matches('/')) {
        Some("") | None => "/",
        Some(rest) => rest,
    };
    let target = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    target.parse().ok()
}

/// Headers not forwarded: they describe one hop, not the message.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// The request's headers as sent upstream: hop-by-hop removed, forwarding headers added.
fn upstream_headers(incoming: &HeaderMap, client: IpAddr, request_id: &str) -> HeaderMap {
    let mut headers = incoming.clone();
    remove_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    let forwarded = match header_str(incoming, "x-forwarded-for") {
        Some(prior) => format!("{prior}, {client}"),
        None => client.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static("http"));
    if let Some(host) = incoming.get(header::HOST) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    set_request_id(&mut headers, request_id);
    headers
}

fn set_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
}

/// The client's `X-Request-Id` when it is a sane token, else a new random one.
fn request_id(headers: &HeaderMap) -> String {
    match header_str(headers, "x-request-id") {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => new_request_id(),
    }
}

/// 32 random hex digits, from a per-thread generator (no shared state on the request path).
fn new_request_id() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(crate::random::random_u64() | 1);
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    STATE.with(|state| {
        for _ in 0..2 {
            // xorshift64*
            let mut x = state.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            state.set(x);
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            for i in (0..16).rev() {
                out.push(HEX[((r >> (i * 4)) & 0xf) as usize] as char);
            }
        }
    });
    out
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A cookie's value from the `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// The key `hash` hashes for this request.
fn hash_key(pool: &Pool, parts: &http::request::Parts) -> Option<String> {
    match pool.hash_on.as_ref()? {
        HashOn::Header(h) => header_str(&parts.headers, h).map(str::to_owned),
        HashOn::Cookie(c) => cookie(&parts.headers, c),
        HashOn::Query(q) => parts.uri.query().and_then(|query| {
            query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| k == q).map(|(_, v)| v.to_owned())
        }),
        HashOn::Path => Some(parts.uri.path().to_owned()),
    }
}

fn failure_text(f: Failure) -> &'static str {
    match f {
        Failure::Connect => "connection refused or unreachable",
        Failure::Broken => "connection broken before an answer",
        Failure::Timeout => "timed out",
    }
}

/// The gateway's own error answer: JSON naming the problem and the request.
pub(super) fn error(status: StatusCode, message: &str, request_id: &str) -> Response<GatewayBody> {
    let body = serde_json::json!({ "status": status.as_u16(), "error": message, "request_id": request_id });
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    set_request_id(response.headers_mut(), request_id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_goes_to_the_worker_serving_fewest_and_stays_on_a_tie() {
        let (workers, _inboxes) = Workers::new(3);
        assert_eq!(workers.choose(1), 1);
        workers.open[0].store(2, Ordering::Relaxed);
        workers.open[1].store(2, Ordering::Relaxed);
        workers.open[2].store(1, Ordering::Relaxed);
        assert_eq!(workers.choose(0), 2);
        assert_eq!(workers.choose(2), 2);
        workers.retire(2);
        assert_eq!(workers.choose(2), 0);
        assert_eq!(workers.choose(1), 1);
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/orders"));
        assert!(!prefix_matches("/api", "/apiary"));
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api/", "/api/x"));
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        let out = upstream_headers(&h, "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])), "abc");
        assert!(
            out.get("x-secret").is_none() && out.get(header::TE).is_none() && out.get(header::CONNECTION).is_none()
        );
        assert_eq!(out.get("x-kept").map(|v| v.as_bytes()), Some(&b"1"[..]));
        assert_eq!(out.get("x-forwarded-for").map(|v| v.as_bytes()), Some(&b"10.0.0.1"[..]));
        assert_eq!(out.get("x-request-id").map(|v| v.as_bytes()), Some(&b"abc"[..]));
    }

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("req-1"));
        assert_eq!(request_id(&h), "req-1");
        h.insert("x-request-id", HeaderValue::from_static("bad id with spaces"));
        assert_eq!(request_id(&h).len(), 32);
    }
}
