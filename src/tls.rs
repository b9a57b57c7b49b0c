//! TLS on Lookout's listeners (`--tls.cert-file`, `--tls.key-file`): rustls with the ring
//! provider, TLS 1.2 and 1.3. With `--tls.client-ca-file` the OTLP listeners also require a
//! client certificate signed by that CA (mutual TLS); the query listener never does.
//!
//! The files are read again when they change (checked at most once a second, on a new
//! connection), so renewed certificates take effect without a restart; a change that does not
//! load is logged and the last good certificates stay in use.
//!
//! The listeners themselves are in `listen.rs`: handshakes run off the accept loop, each in
//! its own task with a deadline, so a client that stalls in its handshake holds up nobody else.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tracing::{info, warn};

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
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
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
