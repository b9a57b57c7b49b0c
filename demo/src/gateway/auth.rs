//! Authentication at the edge: JWT bearer tokens (HS256 / RS256) and API keys.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, StatusCode};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use keys::{ct_eq, header_alg, parse_hex32, rsa_public_key, sha256};

mod keys;

/// Realm announced in every `WWW-Authenticate` challenge.
const REALM: &str = "lookout-gateway";

/// One route's auth settings, from YAML.
#[derive(Deserialize, Clone, Debug)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// Bearer JWT verified with an HS256 secret and/or an RS256 public key.
    Jwt(JwtConfig),
    /// Static API keys sent in a header.
    ApiKey(ApiKeyConfig),
}

/// JWT verification settings.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Shared secret for HS256 tokens (raw bytes of the string).
    #[serde(default)]
    pub hs256_secret: Option<String>,
    /// PEM public key for RS256 tokens ("PUBLIC KEY" SPKI or "RSA PUBLIC KEY" PKCS#1).
    #[serde(default)]
    pub rs256_public_key_pem: Option<String>,
    /// Required `iss` claim, if set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud` claim member, if set.
    #[serde(default)]
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway_s")]
    pub leeway_s: u64,
    /// Header carrying `Bearer <token>`.
    #[serde(default = "default_jwt_header")]
    pub header: String,
}

/// API key settings.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Header carrying the key.
    #[serde(default = "default_api_key_header")]
    pub header: String,
    /// Accepted keys.
    #[serde(default)]
    pub keys: Vec<ApiKeyEntry>,
}

/// One accepted API key; exactly one of `key` / `sha256` must be set.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    /// Name reported as the principal's subject.
    pub name: String,
    /// The key in clear.
    #[serde(default)]
    pub key: Option<String>,
    /// Hex SHA-256 of the key.
    #[serde(default)]
    pub sha256: Option<String>,
}

fn default_leeway_s() -> u64 {
    0
}
fn default_jwt_header() -> String {
    "authorization".to_owned()
}
fn default_api_key_header() -> String {
    "x-api-key".to_owned()
}

/// Why an auth config was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// JWT config has neither `hs256_secret` nor `rs256_public_key_pem`.
    #[error("jwt auth needs hs256_secret or rs256_public_key_pem")]
    NoJwtKey,
    /// A key field could not be used.
    #[error("invalid {field}: {reason}")]
    InvalidKey {
        /// Config field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The `header` field is not a valid header name.
    #[error("invalid header name {0:?}")]
    InvalidHeader(String),
    /// `api_key` auth with no keys.
    #[error("api_key auth needs at least one key")]
    NoApiKeys,
}

/// Who a request was authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// JWT `sub` ("" if absent), or the API key entry's name.
    pub subject: String,
}

/// A refused request: status, challenge header and a short reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct AuthError {
    /// HTTP status to answer with (401).
    pub status: StatusCode,
    /// Value for the `WWW-Authenticate` response header, if any.
    pub www_authenticate: Option<String>,
    /// Short human reason, e.g. "token expired".
    pub message: String,
}

impl AuthError {
    fn missing_bearer() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: Some(format!("Bearer realm=\"{REALM}\"")),
            message: "missing bearer token".to_owned(),
        }
    }

    fn invalid_token(what: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{what}\""
            )),
            message: what.to_owned(),
        }
    }

    fn api_key(what: &str) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, www_authenticate: None, message: what.to_owned() }
    }
}

/// Checks requests against one route's [`AuthConfig`].
#[derive(Clone)]
pub struct Authenticator {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Jwt(Box<JwtAuth>),
    ApiKey(ApiKeyAuth),
}

#[derive(Clone)]
struct JwtAuth {
    header: HeaderName,
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_s: u64,
}

#[derive(Clone)]
struct ApiKeyAuth {
    header: HeaderName,
    keys: Vec<(String, [u8; 32])>,
}

impl Authenticator {
    /// Builds an authenticator, validating keys and header names.
    pub fn new(cfg: &AuthConfig) -> Result<Self, AuthConfigError> {
        let inner = match cfg {
            AuthConfig::Jwt(c) => Inner::Jwt(Box::new(JwtAuth::new(c)?)),
            AuthConfig::ApiKey(c) => Inner::ApiKey(ApiKeyAuth::new(c)?),
        };
        Ok(Self { inner })
    }

    /// Authenticates a request from its headers, judging expiry against `now`.
    pub fn check(&self, headers: &HeaderMap, now: SystemTime) -> Result<Principal, AuthError> {
        match &self.inner {
            Inner::Jwt(j) => j.check(headers, now),
            Inner::ApiKey(a) => a.check(headers),
        }
    }
}

fn header_name(s: &str) -> Result<HeaderName, AuthConfigError> {
    HeaderName::from_bytes(s.as_bytes()).map_err(|_| AuthConfigError::InvalidHeader(s.to_owned()))
}

impl JwtAuth {
    fn new(c: &JwtConfig) -> Result<Self, AuthConfigError> {
        if c.hs256_secret.is_none() && c.rs256_public_key_pem.is_none() {
            return Err(AuthConfigError::NoJwtKey);
        }
        let hs256 = match &c.hs256_secret {
            Some(s) if s.is_empty() => {
                return Err(AuthConfigError::InvalidKey { field: "hs256_secret", reason: "empty secret".to_owned() });
            }
            Some(s) => Some(DecodingKey::from_secret(s.as_bytes())),
            None => None,
        };
        let rs256 = match &c.rs256_public_key_pem {
            Some(pem) => Some(
                rsa_public_key(pem)
                    .map_err(|reason| AuthConfigError::InvalidKey { field: "rs256_public_key_pem", reason })?,
            ),
            None => None,
        };
        Ok(Self {
            header: header_name(&c.header)?,
            hs256,
            rs256,
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            leeway_s: c.leeway_s,
        })
    }

    fn check(&self, headers: &HeaderMap, now: SystemTime) -> Result<Principal, AuthError> {
        let token = bearer_token(headers, &self.header).ok_or_else(AuthError::missing_bearer)?;
        let alg = header_alg(token).ok_or_else(|| AuthError::invalid_token("malformed token"))?;
        // The key is chosen by the token's alg, each alg only ever with its own key:
        // an HS256 token can never be checked against the RSA public key, and "none" is refused.
        let (alg, key) = match (alg.as_str(), &self.hs256, &self.rs256) {
            ("HS256", Some(k), _) => (Algorithm::HS256, k),
            ("RS256", _, Some(k)) => (Algorithm::RS256, k),
            _ => return Err(AuthError::invalid_token("algorithm not allowed")),
        };
        let mut v = Validation::new(alg);
        v.validate_exp = false; // checked below against `now`
        v.validate_nbf = false;
        v.leeway = 0;
        let mut required = Vec::new();
        match &self.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &v)
            .map_err(|e| AuthError::invalid_token(describe(e.kind())))?
            .claims;
        self.check_times(&claims, now)?;
        let subject = match claims.get("sub") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(AuthError::invalid_token("malformed sub claim")),
        };
        Ok(Principal { subject })
    }

    fn check_times(&self, claims: &Map<String, Value>, now: SystemTime) -> Result<(), AuthError> {
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        let leeway = self.leeway_s as f64;
        if let Some(exp) = numeric_claim(claims, "exp")?
            && exp < now - leeway
        {
            return Err(AuthError::invalid_token("token expired"));
        }
        if let Some(nbf) = numeric_claim(claims, "nbf")?
            && nbf > now + leeway
        {
            return Err(AuthError::invalid_token("token not yet valid"));
        }
        Ok(())
    }
}

fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) => Ok(Some(n)),
            None => Err(AuthError::invalid_token(&format!("malformed {name} claim"))),
        },
    }
}

fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "invalid signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => "missing issuer",
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => "missing audience",
        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
        _ => "malformed token",
    }
}

/// The token of a `Bearer <token>` header, or None when absent or of another scheme.
fn bearer_token<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl ApiKeyAuth {
    fn new(c: &ApiKeyConfig) -> Result<Self, AuthConfigError> {
        if c.keys.is_empty() {
            return Err(AuthConfigError::NoApiKeys);
        }
        let mut keys = Vec::with_capacity(c.keys.len());
        for entry in &c.keys {
            let digest = match (&entry.key, &entry.sha256) {
                (Some(k), None) if !k.is_empty() => sha256(k.as_bytes()),
                (None, Some(hex)) => parse_hex32(hex).ok_or_else(|| AuthConfigError::InvalidKey {
                    field: "sha256",
                    reason: format!("key {:?}: expected 64 hex digits", entry.name),
                })?,
                _ => {
                    return Err(AuthConfigError::InvalidKey {
                        field: "keys",
                        reason: format!("key {:?}: set exactly one non-empty key or sha256", entry.name),
                    });
                }
            };
            keys.push((entry.name.clone(), digest));
        }
        Ok(Self { header: header_name(&c.header)?, keys })
    }

    fn check(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let presented = headers
            .get(&self.header)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AuthError::api_key("missing api key"))?;
        let digest = sha256(presented);
        // Compare against every entry without early exit; digests hide the key's bytes.
        let mut found = None;
        for (name, expected) in &self.keys {
            if ct_eq(&digest, expected) && found.is_none() {
                found = Some(name);
            }
        }
        found.map(|name| Principal { subject: name.clone() }).ok_or_else(|| AuthError::api_key("invalid api key"))
    }
}

#[cfg(test)]
mod tests;
