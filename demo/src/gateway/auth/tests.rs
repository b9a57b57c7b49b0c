use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, StatusCode};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

const RS_KEY: &str = include_str!("../../../tests/data/rs256.key");
const RS_PUB: &str = include_str!("../../../tests/data/rs256.pub");
const RS_PUB_PKCS1: &str = include_str!("../../../tests/data/rs256.rsapub");
const OTHER_KEY: &str = include_str!("../../../tests/data/other.key");
const SECRET: &str = "s3cr3t-for-tests";
const NOW_S: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_S)
}

fn jwt_cfg(yaml_json: serde_json::Value) -> AuthConfig {
    serde_json::from_value(yaml_json).unwrap()
}

fn hs_auth() -> Authenticator {
    Authenticator::new(&jwt_cfg(json!({
        "type": "jwt", "hs256_secret": SECRET, "issuer": "lookout", "audience": "gateway"
    })))
    .unwrap()
}

fn rs_auth(pem: &str) -> Authenticator {
    Authenticator::new(&jwt_cfg(json!({"type": "jwt", "rs256_public_key_pem": pem}))).unwrap()
}

fn claims() -> serde_json::Value {
    json!({"sub": "alice", "iss": "lookout", "aud": "gateway", "exp": NOW_S + 60})
}

fn hs_token(claims: &serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::default(), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn rs_token(claims: &serde_json::Value, key_pem: &str) -> String {
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    h
}

fn refused(auth: &Authenticator, headers: &HeaderMap) -> AuthError {
    let err = auth.check(headers, now()).unwrap_err();
    assert_eq!(err.status, StatusCode::UNAUTHORIZED);
    err
}

fn assert_invalid(err: &AuthError, message: &str) {
    assert_eq!(err.message, message);
    let challenge = err.www_authenticate.as_deref().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains(&format!("error_description=\"{message}\"")), "{challenge}");
}

#[test]
fn hs256_valid() {
    let p = hs_auth().check(&bearer(&hs_token(&claims(), SECRET.as_bytes())), now()).unwrap();
    assert_eq!(p.subject, "alice");
}

#[test]
fn missing_sub_is_empty_subject() {
    let auth = Authenticator::new(&jwt_cfg(json!({"type": "jwt", "hs256_secret": SECRET}))).unwrap();
    let token = hs_token(&json!({"exp": NOW_S + 5}), SECRET.as_bytes());
    assert_eq!(auth.check(&bearer(&token), now()).unwrap().subject, "");
}

#[test]
fn hs256_expired_uses_now_argument_and_leeway() {
    let mut c = claims();
    c["exp"] = json!(NOW_S - 10);
    let token = hs_token(&c, SECRET.as_bytes());
    assert_invalid(&refused(&hs_auth(), &bearer(&token)), "token expired");
    // Valid when `now` is before exp, even though the real clock is far past it.
    let earlier = now() - Duration::from_secs(20);
    assert!(hs_auth().check(&bearer(&token), earlier).is_ok());
    // Leeway covers small skew.
    let lenient = Authenticator::new(&jwt_cfg(json!({
        "type": "jwt", "hs256_secret": SECRET, "leeway_s": 30
    })))
    .unwrap();
    assert!(lenient.check(&bearer(&token), now()).is_ok());
}

#[test]
fn hs256_not_yet_valid() {
    let mut c = claims();
    c["nbf"] = json!(NOW_S + 100);
    c["exp"] = json!(NOW_S + 1000);
    let token = hs_token(&c, SECRET.as_bytes());
    assert_invalid(&refused(&hs_auth(), &bearer(&token)), "token not yet valid");
    assert!(hs_auth().check(&bearer(&token), now() + Duration::from_secs(100)).is_ok());
}

#[test]
fn hs256_wrong_secret() {
    let token = hs_token(&claims(), b"another-secret");
    assert_invalid(&refused(&hs_auth(), &bearer(&token)), "invalid signature");
}

#[test]
fn missing_and_non_bearer_credentials() {
    for headers in [HeaderMap::new(), {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Basic dXNlcjpwdw=="));
        h
    }] {
        let err = refused(&hs_auth(), &headers);
        assert_eq!(err.message, "missing bearer token");
        assert_eq!(err.www_authenticate.as_deref(), Some("Bearer realm=\"lookout-gateway\""));
    }
}

#[test]
fn garbage_token() {
    for t in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.x"] {
        assert_invalid(&refused(&hs_auth(), &bearer(t)), "malformed token");
    }
}

#[test]
fn alg_none_refused() {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    for token in [format!("{head}.{body}."), format!("{head}.{body}")] {
        assert_invalid(&refused(&hs_auth(), &bearer(&token)), "algorithm not allowed");
    }
}

#[test]
fn wrong_issuer_and_audience() {
    let mut c = claims();
    c["iss"] = json!("someone-else");
    let err = refused(&hs_auth(), &bearer(&hs_token(&c, SECRET.as_bytes())));
    assert_invalid(&err, "wrong issuer");

    let mut c = claims();
    c["aud"] = json!(["other"]);
    let err = refused(&hs_auth(), &bearer(&hs_token(&c, SECRET.as_bytes())));
    assert_invalid(&err, "wrong audience");

    let mut c = claims();
    c.as_object_mut().unwrap().remove("iss");
    let err = refused(&hs_auth(), &bearer(&hs_token(&c, SECRET.as_bytes())));
    assert_invalid(&err, "missing issuer");
}

#[test]
fn rs256_valid_spki_and_pkcs1() {
    let token = rs_token(&claims(), RS_KEY);
    for pem in [RS_PUB, RS_PUB_PKCS1] {
        assert_eq!(rs_auth(pem).check(&bearer(&token), now()).unwrap().subject, "alice");
    }
}

#[test]
fn rs256_wrong_key() {
    let token = rs_token(&claims(), OTHER_KEY);
    assert_invalid(&refused(&rs_auth(RS_PUB), &bearer(&token)), "invalid signature");
}

#[test]
fn hs256_token_refused_when_only_rs256_configured() {
    // Classic key-confusion attack: HMAC keyed with the public PEM bytes.
    let auth = rs_auth(RS_PUB);
    for secret in [RS_PUB, RS_PUB.trim()] {
        let token = hs_token(&claims(), secret.as_bytes());
        assert_invalid(&refused(&auth, &bearer(&token)), "algorithm not allowed");
    }
    let token = hs_token(&claims(), SECRET.as_bytes());
    assert_invalid(&refused(&auth, &bearer(&token)), "algorithm not allowed");
}

#[test]
fn rs256_token_refused_when_only_hs256_configured() {
    let token = rs_token(&claims(), RS_KEY);
    assert_invalid(&refused(&hs_auth(), &bearer(&token)), "algorithm not allowed");
}

#[test]
fn config_errors() {
    let err = Authenticator::new(&jwt_cfg(json!({"type": "jwt"}))).err().unwrap();
    assert!(matches!(err, AuthConfigError::NoJwtKey));

    for bad in [
        "not a pem",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
        RS_KEY,
    ] {
        let cfg = jwt_cfg(json!({"type": "jwt", "rs256_public_key_pem": bad}));
        let err = Authenticator::new(&cfg).err().unwrap();
        assert!(err.to_string().contains("rs256_public_key_pem"), "{err}");
    }

    let unknown = json!({"type": "jwt", "hs256_secret": "x", "algorithm": "HS256"});
    assert!(serde_json::from_value::<AuthConfig>(unknown).is_err());

    for keys in [
        json!([{"name": "a"}]),
        json!([{"name": "a", "key": "k", "sha256": "00"}]),
        json!([{"name": "a", "sha256": "xyz"}]),
        json!([]),
    ] {
        let cfg = jwt_cfg(json!({"type": "api_key", "keys": keys}));
        assert!(Authenticator::new(&cfg).is_err());
    }
}

fn api_key_auth() -> Authenticator {
    let hex: String = super::keys::sha256(b"hashed-key").iter().map(|b| format!("{b:02x}")).collect();
    Authenticator::new(&jwt_cfg(json!({
        "type": "api_key",
        "keys": [{"name": "ci", "key": "plain-key"}, {"name": "ops", "sha256": hex}]
    })))
    .unwrap()
}

fn with_key(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-api-key", HeaderValue::from_str(key).unwrap());
    h
}

#[test]
fn api_key_plain_and_sha256() {
    let auth = api_key_auth();
    assert_eq!(auth.check(&with_key("plain-key"), now()).unwrap().subject, "ci");
    assert_eq!(auth.check(&with_key("hashed-key"), now()).unwrap().subject, "ops");
}

#[test]
fn api_key_missing_and_unknown() {
    let auth = api_key_auth();
    let err = refused(&auth, &HeaderMap::new());
    assert_eq!(err.message, "missing api key");
    let err = refused(&auth, &with_key("plain-key2"));
    assert_eq!(err.message, "invalid api key");
}

#[test]
fn api_key_sha256_known_vector() {
    // echo -n abc | sha256sum
    let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let auth = Authenticator::new(&jwt_cfg(json!({
        "type": "api_key", "header": "x-token", "keys": [{"name": "abc", "sha256": hex.to_uppercase()}]
    })))
    .unwrap();
    let mut h = HeaderMap::new();
    h.insert("x-token", HeaderValue::from_static("abc"));
    assert_eq!(auth.check(&h, now()).unwrap().subject, "abc");
}
