//! One HTTP scrape, as Prometheus's `targetScraper` makes it: a GET of the target's URL with
//! Prometheus's headers, the whole exchange bounded by the scrape timeout, the body bounded by
//! a size limit (after gzip decompression too).
//!
//! Errors are the text a target's `lastError` shows, worded as Prometheus words them where it
//! has a wording (`server returned HTTP status 500 Internal Server Error`, `body size limit
//! exceeded`, `Get "…": context deadline exceeded`).

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::parse::ACCEPT_HEADER;

/// The HTTP client every scrape loop shares (connections are pooled per target).
pub(super) type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Prometheus's error for a body over the limit.
const BODY_SIZE_LIMIT_EXCEEDED: &str = "body size limit exceeded";

/// A plain-HTTP client. The workspace has no TLS stack, so `https` targets are refused in
/// [`fetch`] with an error that says so.
pub(super) fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// A successful response: the raw body and what it says about itself.
pub(super) struct Fetched {
    /// The body as received (still compressed if `gzip`).
    pub body: Bytes,
    /// The `Content-Type` header, empty if absent.
    pub content_type: String,
    /// Whether the body is gzip-compressed (`Content-Encoding: gzip`).
    pub gzip: bool,
}

/// `User-Agent` of every scrape.
fn user_agent() -> String {
    format!("Lookout/{}", env!("CARGO_PKG_VERSION"))
}

/// GETs `url` within `timeout`; any status but 200 is an error, as in Prometheus.
pub(super) async fn fetch(client: &HttpClient, url: &str, timeout: Duration, limit: usize) -> Result<Fetched, String> {
    if url.starts_with("https://") {
        return Err(format!(
            "Get {url:?}: https targets are not supported: this build of Lookout has no TLS client, scrape over http"
        ));
    }
    match tokio::time::timeout(timeout, fetch_within(client, url, timeout, limit)).await {
        Ok(result) => result,
        Err(_) => Err(format!("Get {url:?}: context deadline exceeded")),
    }
}

async fn fetch_within(client: &HttpClient, url: &str, timeout: Duration, limit: usize) -> Result<Fetched, String> {
    let uri: Uri = url.parse().map_err(|e| format!("parse {url:?}: {e}"))?;
    let request = Request::get(uri)
        .header(ACCEPT, ACCEPT_HEADER)
        .header(ACCEPT_ENCODING, "gzip")
        .header(USER_AGENT, user_agent())
        .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", timeout.as_secs_f64()))
        .body(Empty::new())
        .map_err(|e| format!("Get {url:?}: {e}"))?;
    let response = client.request(request).await.map_err(|e| format!("Get {url:?}: {}", chain(&e)))?;
    if response.status() != StatusCode::OK {
        return Err(format!("server returned HTTP status {}", response.status()));
    }
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let content_type = header(CONTENT_TYPE);
    let gzip = header(CONTENT_ENCODING) == "gzip";
    let body = Limited::new(response.into_body(), limit).collect().await.map_err(|e| {
        if e.is::<LengthLimitError>() { BODY_SIZE_LIMIT_EXCEEDED.to_owned() } else { format!("Get {url:?}: {e}") }
    })?;
    Ok(Fetched { body: body.to_bytes(), content_type, gzip })
}

/// The body as the parser wants it: gunzipped if it came compressed, at most `limit` bytes.
/// CPU-bound; runs off the reactor with the parse.
pub(super) fn decode_body(fetched: &Fetched, limit: usize) -> Result<Vec<u8>, String> {
    if !fetched.gzip {
        return Ok(fetched.body.to_vec());
    }
    let mut out = Vec::with_capacity((fetched.body.len() * 4).min(limit));
    let mut decoder = flate2::read::MultiGzDecoder::new(fetched.body.as_ref()).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| format!("gzip: {e}"))?;
    if out.len() > limit {
        return Err(BODY_SIZE_LIMIT_EXCEEDED.to_owned());
    }
    Ok(out)
}

/// An error with its causes, `outer: inner: …` (hyper's own message is only "client error").
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
