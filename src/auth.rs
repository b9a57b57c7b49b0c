//! Tenants and credentials (`--auth.tenants-file`): off by default, for the local single-user
//! case; once on, every request to the query API, the UI's API and every intake (OTLP gRPC and
//! HTTP, remote_write, Loki push) needs a bearer token or HTTP basic credentials from the file.
//!
//! The tenant comes from the credential, never from the client: an `X-Scope-OrgID` that names
//! another tenant is refused, and the header is then set to the credential's tenant, so every
//! store and query engine behind it (which scope by that header) sees only that tenant's data.
//! A credential reads, writes, or both. Refusals say what is missing, never which part of a
//! credential was wrong: 401 (gRPC `UNAUTHENTICATED`) and 403 (`PERMISSION_DENIED`). Open to
//! all: `/-/healthy`, `/-/ready`, Lookout's own `/metrics`, and the UI's pages and files.
//!
//! ```yaml
//! tenants:
//!   - id: team-a
//!     tokens:                     # Authorization: Bearer <token>
//!       - {name: collector, hash: "sha256:<hex of SHA-256 of the token>", access: write}
//!       - {name: grafana, hash: "sha256:…", access: read, expires: 2027-01-01T00:00:00Z}
//!     users:                      # Authorization: Basic base64(name:password)
//!       - {name: alice, hash: "pbkdf2-sha256:<iterations>:<salt, base64>:<hash, base64>"}
//! ```
//!
//! The web UI signs in through `POST /ui/api/login` with a token or a user and password, and
//! gets an HttpOnly, SameSite=Strict session cookie (a random id; the server keeps the
//! principal for 12 hours, or until the credential expires, or until Lookout restarts), which
//! stands for the credential on every request the UI makes, WebSockets included.
//!
//! `lookout auth token` prints a new token with its line; `lookout auth hash-password` hashes
//! a password read from standard input.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lookout_storage::Tenant;
use ring::{digest, pbkdf2};
use serde::Deserialize;

/// Iterations of PBKDF2-HMAC-SHA256 for new password hashes (OWASP's 2023 figure).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// Verified basic-auth logins kept so that PBKDF2 runs once per login, not once per request.
const LOGIN_CACHE: usize = 4096;

/// The tenants file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsFile {
    /// Every tenant and its credentials.
    pub tenants: Vec<TenantConfig>,
}

/// One tenant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant id: what `X-Scope-OrgID` would say.
    pub id: String,
    /// Bearer tokens.
    #[serde(default)]
    pub tokens: Vec<CredentialConfig>,
    /// Basic-auth users.
    #[serde(default)]
    pub users: Vec<CredentialConfig>,
}

/// One token or user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// The token's label, or the user's login name.
    pub name: String,
    /// `sha256:<hex>` (tokens) or `pbkdf2-sha256:<iterations>:<salt>:<hash>` (users).
    pub hash: String,
    /// What it may do.
    #[serde(default)]
    pub access: Access,
    /// When it stops working (RFC 3339), if ever.
    #[serde(default, with = "rfc3339")]
    pub expires: Option<SystemTime>,
}

mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => humantime::parse_rfc3339_weak(&text).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Query, list and look.
    Read,
    /// Send telemetry.
    Write,
    /// Both, and change what the tenant has (dashboards, series deletion, rule reloads).
    #[default]
    ReadWrite,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health checks, the UI's pages and their static files, CORS preflights.
    Nothing,
    /// A reading credential.
    Read,
    /// A writing credential.
    Write,
    /// A credential that does both.
    ReadWrite,
}

impl Access {
    fn allows(self, need: Need) -> bool {
        match need {
            Need::Nothing => true,
            Need::Read => self != Access::Write,
            Need::Write => self != Access::Read,
            Need::ReadWrite => self == Access::ReadWrite,
        }
    }
}

/// Who a verified credential speaks for.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Its tenant.
    pub tenant: Tenant,
    /// What it may do.
    pub access: Access,
    expires: Option<SystemTime>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials were sent.
    Missing,
    /// The credentials are not valid (unknown, wrong, expired or malformed: not said which).
    Invalid,
    /// Valid, but they may not do this.
    NotAllowed(Need),
    /// `X-Scope-OrgID` names a tenant other than the credential's.
    OtherTenant,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "authentication required: send a bearer token or basic credentials",
            Refusal::Invalid => "invalid or expired credentials",
            Refusal::NotAllowed(Need::Write) => "these credentials may not write",
            Refusal::NotAllowed(Need::ReadWrite) => {
                "these credentials may not change data: they need read and write access"
            }
            Refusal::NotAllowed(_) => "these credentials may not read",
            Refusal::OtherTenant => "X-Scope-OrgID names a tenant these credentials do not belong to",
        }
    }

    /// The HTTP answer: 401 with the schemes accepted, or 403.
    pub fn http_response(self) -> Response {
        match self {
            Refusal::Missing | Refusal::Invalid => {
                let challenge = HeaderValue::from_static(r#"Bearer realm="lookout", Basic realm="lookout""#);
                (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], self.message()).into_response()
            }
            Refusal::NotAllowed(_) | Refusal::OtherTenant => (StatusCode::FORBIDDEN, self.message()).into_response(),
        }
    }

    /// The gRPC status.
    pub fn grpc_status(self) -> tonic::Status {
        match self {
            Refusal::Missing | Refusal::Invalid => tonic::Status::unauthenticated(self.message()),
            Refusal::NotAllowed(_) | Refusal::OtherTenant => tonic::Status::permission_denied(self.message()),
        }
    }
}

/// A password or token hash from the tenants file.
#[derive(Debug)]
enum SecretHash {
    Sha256([u8; 32]),
    Pbkdf2 { iterations: NonZeroU32, salt: Vec<u8>, hash: Vec<u8> },
}

impl SecretHash {
    fn parse(text: &str) -> Result<SecretHash, String> {
        if let Some(hex_digest) = text.strip_prefix("sha256:") {
            let bytes = hex::decode(hex_digest).map_err(|e| format!("sha256 digest is not hex: {e}"))?;
            let digest: [u8; 32] = bytes.try_into().map_err(|_| "sha256 digest must be 64 hex digits".to_owned())?;
            return Ok(SecretHash::Sha256(digest));
        }
        if let Some(rest) = text.strip_prefix("pbkdf2-sha256:") {
            let parts: Vec<&str> = rest.split(':').collect();
            let [iterations, salt, hash] = parts.as_slice() else {
                return Err("pbkdf2-sha256 needs <iterations>:<salt>:<hash>".into());
            };
            let iterations = iterations
                .parse::<u32>()
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| format!("pbkdf2 iterations {iterations:?} is not a positive number"))?;
            let salt = BASE64.decode(salt).map_err(|e| format!("pbkdf2 salt is not base64: {e}"))?;
            let hash = BASE64.decode(hash).map_err(|e| format!("pbkdf2 hash is not base64: {e}"))?;
            if hash.is_empty() {
                return Err("pbkdf2 hash is empty".into());
            }
            return Ok(SecretHash::Pbkdf2 { iterations, salt, hash });
        }
        Err("a hash starts with sha256: or pbkdf2-sha256:".into())
    }

    fn verify(&self, secret: &[u8]) -> bool {
        match self {
            // Comparing digests: how long it takes says nothing about the secret.
            SecretHash::Sha256(want) => sha256(secret) == *want,
            SecretHash::Pbkdf2 { iterations, salt, hash } => {
                pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, *iterations, salt, secret, hash).is_ok()
            }
        }
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Verifies credentials against the tenants file.
pub struct Authenticator {
    /// Tokens by the SHA-256 of the token.
    tokens: HashMap<[u8; 32], Principal>,
    /// Users by login name.
    users: HashMap<String, (SecretHash, Principal)>,
    /// Basic logins already verified, by the SHA-256 of `name:password`.
    logins: Mutex<HashMap<[u8; 32], Principal>>,
    /// The UI's sign-ins, by the SHA-256 of the session cookie's value.
    sessions: Mutex<HashMap<[u8; 32], (Principal, SystemTime)>>,
}

impl Authenticator {
    /// Reads and checks a tenants file; errors name the tenant and credential at fault.
    pub fn load(path: &Path) -> anyhow::Result<Authenticator> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the tenants file {}: {e}", path.display()))?;
        Authenticator::parse(&text).map_err(|e| anyhow::anyhow!("tenants file {}: {e}", path.display()))
    }

    /// Checks a tenants file's text.
    pub fn parse(text: &str) -> Result<Authenticator, String> {
        let file: TenantsFile = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let mut auth = Authenticator {
            tokens: HashMap::new(),
            users: HashMap::new(),
            logins: Mutex::default(),
            sessions: Mutex::default(),
        };
        for t in file.tenants {
            let tenant = Tenant::new(&t.id).map_err(|e| format!("tenant {:?}: {e}", t.id))?;
            let principal =
                |c: &CredentialConfig| Principal { tenant: tenant.clone(), access: c.access, expires: c.expires };
            for c in &t.tokens {
                let at = || format!("tenant {:?}, token {:?}", t.id, c.name);
                match SecretHash::parse(&c.hash).map_err(|e| format!("{}: {e}", at()))? {
                    SecretHash::Sha256(digest) => {
                        if auth.tokens.insert(digest, principal(c)).is_some() {
                            return Err(format!("{}: the same token is listed twice", at()));
                        }
                    }
                    SecretHash::Pbkdf2 { .. } => {
                        return Err(format!(
                            "{}: tokens are hashed with sha256 (they are random, and each request is checked)",
                            at()
                        ));
                    }
                }
            }
            for c in &t.users {
                let at = || format!("tenant {:?}, user {:?}", t.id, c.name);
                let hash = SecretHash::parse(&c.hash).map_err(|e| format!("{}: {e}", at()))?;
                if matches!(hash, SecretHash::Sha256(_)) {
                    return Err(format!(
                        "{}: passwords are hashed with pbkdf2-sha256 (lookout auth hash-password)",
                        at()
                    ));
                }
                if c.name.contains(':') || c.name.is_empty() {
                    return Err(format!("{}: a user name is not empty and has no ':'", at()));
                }
                if auth.users.insert(c.name.clone(), (hash, principal(c))).is_some() {
                    return Err(format!("{}: the user is listed twice", at()));
                }
            }
        }
        Ok(auth)
    }

    /// The principal behind an `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&[u8]>, now: SystemTime) -> Result<Principal, Refusal> {
        let value = authorization.ok_or(Refusal::Missing)?;
        let text = std::str::from_utf8(value).map_err(|_| Refusal::Invalid)?.trim();
        let (scheme, credentials) = text.split_once(' ').ok_or(Refusal::Invalid)?;
        let credentials = credentials.trim();
        let principal = if scheme.eq_ignore_ascii_case("bearer") {
            self.tokens.get(&sha256(credentials.as_bytes())).cloned().ok_or(Refusal::Invalid)?
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.login(credentials)?
        } else {
            return Err(Refusal::Invalid);
        };
        match principal.expires {
            Some(at) if at <= now => Err(Refusal::Invalid),
            _ => Ok(principal),
        }
    }

    fn login(&self, credentials: &str) -> Result<Principal, Refusal> {
        let decoded = BASE64.decode(credentials).map_err(|_| Refusal::Invalid)?;
        let key = sha256(&decoded);
        if let Some(p) = self.logins.lock().ok().and_then(|l| l.get(&key).cloned()) {
            return Ok(p);
        }
        let text = std::str::from_utf8(&decoded).map_err(|_| Refusal::Invalid)?;
        let (name, password) = text.split_once(':').ok_or(Refusal::Invalid)?;
        let (hash, principal) = self.users.get(name).ok_or(Refusal::Invalid)?;
        if !hash.verify(password.as_bytes()) {
            return Err(Refusal::Invalid);
        }
        if let Ok(mut logins) = self.logins.lock() {
            if logins.len() >= LOGIN_CACHE {
                logins.clear();
            }
            logins.insert(key, principal.clone());
        }
        Ok(principal.clone())
    }

    /// Checks a request's credentials for `need`, and points its `X-Scope-OrgID` at the
    /// credential's tenant.
    pub fn admit(&self, headers: &mut HeaderMap, need: Need) -> Result<(), Refusal> {
        if need == Need::Nothing {
            return Ok(());
        }
        let now = SystemTime::now();
        let principal = match headers.get(header::AUTHORIZATION) {
            Some(authorization) => self.authenticate(Some(authorization.as_bytes()), now)?,
            None => self.session(headers, now).ok_or(Refusal::Missing)?,
        };
        if !principal.access.allows(need) {
            return Err(Refusal::NotAllowed(need));
        }
        if let Some(claimed) = headers.get("x-scope-orgid")
            && claimed.as_bytes().trim_ascii() != principal.tenant.as_str().as_bytes()
        {
            return Err(Refusal::OtherTenant);
        }
        let tenant = HeaderValue::from_str(principal.tenant.as_str()).map_err(|_| Refusal::Invalid)?;
        headers.insert("x-scope-orgid", tenant);
        Ok(())
    }
}

/// Name of the UI's session cookie.
const SESSION_COOKIE: &str = "lookout_session";

/// How long a UI sign-in lasts.
const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// Sign-ins kept at most; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

impl Authenticator {
    /// Starts a UI session for a verified principal; returns the cookie's value (random, and
    /// kept on the server only as a hash).
    fn start_session(&self, principal: Principal, now: SystemTime) -> String {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
        let id = hex::encode(bytes);
        let ends = principal.expires.map_or(now + SESSION_TTL, |e| e.min(now + SESSION_TTL));
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|_, (_, until)| *until > now);
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions.iter().min_by_key(|(_, (_, until))| *until).map(|(k, _)| *k)
            {
                sessions.remove(&oldest);
            }
            sessions.insert(sha256(id.as_bytes()), (principal, ends));
        }
        id
    }

    /// The principal of the request's session cookie, if it names a live session.
    fn session(&self, headers: &HeaderMap, now: SystemTime) -> Option<Principal> {
        let id = session_cookie(headers)?;
        let sessions = self.sessions.lock().ok()?;
        let (principal, until) = sessions.get(&sha256(id.as_bytes()))?;
        (*until > now).then(|| principal.clone())
    }

    fn end_session(&self, headers: &HeaderMap) {
        if let (Some(id), Ok(mut sessions)) = (session_cookie(headers), self.sessions.lock()) {
            sessions.remove(&sha256(id.as_bytes()));
        }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

/// What the UI asks to sign in with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// A bearer token,
    #[serde(default)]
    pub token: Option<String>,
    /// or a user and password.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// The UI's session API, on :3000 whether authentication is on or not: `GET /ui/api/session`
/// (is it on, and who is signed in), `POST /ui/api/login` and `POST /ui/api/logout`.
pub fn session_router(auth: Option<Arc<Authenticator>>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/ui/api/session", get(session_info))
        .route("/ui/api/login", post(sign_in))
        .route("/ui/api/logout", post(sign_out))
        .with_state(auth)
}

fn principal_json(p: &Principal) -> serde_json::Value {
    let access = match p.access {
        Access::Read => "read",
        Access::Write => "write",
        Access::ReadWrite => "read_write",
    };
    serde_json::json!({ "auth": true, "tenant": p.tenant.as_str(), "access": access })
}

async fn session_info(State(auth): State<Option<Arc<Authenticator>>>, headers: HeaderMap) -> Response {
    let Some(auth) = auth else { return axum::Json(serde_json::json!({ "auth": false })).into_response() };
    match auth.session(&headers, SystemTime::now()) {
        Some(p) => axum::Json(principal_json(&p)).into_response(),
        None => axum::Json(serde_json::json!({ "auth": true, "tenant": null })).into_response(),
    }
}

async fn sign_in(
    State(auth): State<Option<Arc<Authenticator>>>,
    body: Result<axum::Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(auth) = auth else {
        return (StatusCode::NOT_FOUND, "authentication is off: there is nothing to sign in to").into_response();
    };
    let Ok(axum::Json(sign_in)) = body else {
        return (StatusCode::BAD_REQUEST, "send {\"token\": ...} or {\"username\": ..., \"password\": ...}")
            .into_response();
    };
    let authorization = match (sign_in.token, sign_in.username, sign_in.password) {
        (Some(token), None, None) => format!("Bearer {}", token.trim()),
        (None, Some(user), Some(password)) => format!("Basic {}", BASE64.encode(format!("{user}:{password}"))),
        _ => return (StatusCode::BAD_REQUEST, "send a token, or a username and a password").into_response(),
    };
    let now = SystemTime::now();
    let principal = match tokio::task::spawn_blocking({
        let auth = Arc::clone(&auth);
        move || auth.authenticate(Some(authorization.as_bytes()), now)
    })
    .await
    {
        Ok(Ok(p)) => p,
        Ok(Err(refusal)) => return refusal.http_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let id = auth.start_session(principal.clone(), now);
    let cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_TTL.as_secs());
    let mut response = axum::Json(principal_json(&principal)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn sign_out(State(auth): State<Option<Arc<Authenticator>>>, headers: HeaderMap) -> Response {
    if let Some(auth) = auth {
        auth.end_session(&headers);
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// What a request to the HTTP API on :3000 needs, by method and path.
pub fn http_need(method: &Method, path: &str) -> Need {
    // Lookout's own metrics are about the process, not any tenant's data; Prometheus, Loki and
    // Tempo leave /metrics open too (and Lookout scrapes its own).
    if method == Method::OPTIONS
        || matches!(
            path,
            "/-/healthy" | "/-/ready" | "/metrics" | "/ui/api/session" | "/ui/api/login" | "/ui/api/logout"
        )
    {
        return Need::Nothing;
    }
    if path == "/api/v1/write" || path == "/loki/api/v1/push" || path.starts_with("/v1/") {
        return Need::Write;
    }
    let api = path.starts_with("/api/")
        || path.starts_with("/loki/")
        || path.starts_with("/ui/api/")
        || path.starts_with("/-/");
    if !api {
        // The UI's pages and static files: no data in them, and the login page is one.
        return Need::Nothing;
    }
    let changes = path.starts_with("/api/v1/admin/")
        || path.starts_with("/-/")
        || path.starts_with("/ui/api/dashboards") && *method != Method::GET && *method != Method::HEAD;
    if changes { Need::ReadWrite } else { Need::Read }
}

/// The axum middleware for :3000 and the OTLP/HTTP listener.
pub async fn http_layer(State(auth): State<Arc<Authenticator>>, mut request: Request, next: Next) -> Response {
    let need = http_need(request.method(), request.uri().path());
    match auth.admit(request.headers_mut(), need) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.http_response(),
    }
}

/// The tonic interceptor for OTLP/gRPC (every call writes); lets everything through when
/// authentication is off.
pub fn grpc_interceptor(
    auth: Option<Arc<Authenticator>>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |mut request: tonic::Request<()>| {
        let Some(auth) = &auth else { return Ok(request) };
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        auth.admit(&mut headers, Need::Write).map_err(Refusal::grpc_status)?;
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(request)
    }
}

/// A new random token and the `sha256:` hash the tenants file takes for it.
pub fn new_token() -> (String, String) {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let token = format!("lk_{}", hex::encode(bytes));
    let hash = format!("sha256:{}", hex::encode(sha256(token.as_bytes())));
    (token, hash)
}

/// The `pbkdf2-sha256:` hash of a password, with a random salt.
pub fn hash_password(password: &str) -> String {
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut salt);
    let mut hash = [0u8; 32];
    let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &mut hash);
    format!("pbkdf2-sha256:{PBKDF2_ITERATIONS}:{}:{}", BASE64.encode(salt), BASE64.encode(hash))
}

#[cfg(test)]
mod tests;
