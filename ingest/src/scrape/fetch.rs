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

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::config::TlsConfig;
use super::parse::ACCEPT_HEADER;

/// The HTTP client of a job's scrape loops (connections are pooled per target): plain HTTP,
/// and HTTPS with the job's `tls_config`.
pub(super) type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Prometheus's error for a body over the limit.
const BODY_SIZE_LIMIT_EXCEEDED: &str = "body size limit exceeded";

/// A client for a job with `tls` (rustls; the system's CA certificates unless `ca_file`), or
/// what is wrong with its files.
pub(super) fn client(tls: &TlsConfig) -> Result<HttpClient, String> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = if tls.insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate))
    } else {
        builder.with_root_certificates(roots(tls.ca_file.as_deref())?)
    };
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls_config.cert_file {}: {e}", cert.display()))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls_config.key_file {}: {e}", key.display()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("tls_config: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("tls_config: cert_file and key_file go together".to_owned()),
    };
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http();
    let connector = match &tls.server_name {
        Some(name) => connector.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
            rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| format!("tls_config.server_name: {e}"))?,
        )),
        None => connector,
    };
    Ok(Client::builder(TokioExecutor::new()).build(connector.enable_http1().wrap_connector(http)))
}

/// rustls with ring, as Lookout's listeners use it (the post-quantum key exchange needs
/// aws-lc, which this build does not carry).
#[allow(deprecated)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The CA certificates in `file`, or the system's.
fn roots(file: Option<&std::path::Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match file {
        Some(file) => {
            for cert in CertificateDer::pem_file_iter(file)
                .map_err(|e| format!("tls_config.ca_file {}: {e}", file.display()))?
            {
                let cert = cert.map_err(|e| format!("tls_config.ca_file {}: {e}", file.display()))?;
                roots.add(cert).map_err(|e| format!("tls_config.ca_file {}: {e}", file.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// `insecure_skip_verify`: every certificate is taken, signatures still checked.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
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
