//! The tenants file, credential checks and what each path needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, Method};

use super::*;

/// A password hash with few iterations, so the tests stay fast.
fn quick_hash(password: &str) -> String {
    let salt = b"0123456789abcdef";
    let mut hash = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, NonZeroU32::new(10).unwrap(), salt, password.as_bytes(), &mut hash);
    format!("pbkdf2-sha256:10:{}:{}", BASE64.encode(salt), BASE64.encode(hash))
}

fn token_hash(token: &str) -> String {
    format!("sha256:{}", hex::encode(sha256(token.as_bytes())))
}

fn authenticator() -> Authenticator {
    Authenticator::parse(&format!(
        r#"
tenants:
  - id: team-a
    tokens:
      - {{name: collector, hash: "{}", access: write}}
      - {{name: grafana, hash: "{}", access: read}}
      - {{name: old, hash: "{}", expires: 2020-01-01T00:00:00Z}}
    users:
      - {{name: alice, hash: "{}"}}
  - id: team-b
    tokens:
      - {{name: all, hash: "{}"}}
"#,
        token_hash("write-a"),
        token_hash("read-a"),
        token_hash("old-a"),
        quick_hash("s3cret"),
        token_hash("rw-b"),
    ))
    .unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    h
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

#[test]
fn a_token_admits_its_tenant_and_sets_x_scope_orgid() {
    let auth = authenticator();
    let mut h = headers(&[("authorization", "Bearer write-a")]);
    auth.admit(&mut h, Need::Write).unwrap();
    assert_eq!(h["x-scope-orgid"], "team-a");
    let mut h = headers(&[("authorization", "bearer rw-b"), ("x-scope-orgid", "team-b")]);
    auth.admit(&mut h, Need::ReadWrite).unwrap();
    assert_eq!(h["x-scope-orgid"], "team-b");
}

#[test]
fn missing_wrong_malformed_and_expired_credentials_are_refused_alike() {
    let auth = authenticator();
    let refusal = |pairs: &[(&'static str, &str)]| auth.admit(&mut headers(pairs), Need::Read).unwrap_err();
    assert_eq!(refusal(&[]), Refusal::Missing);
    assert_eq!(refusal(&[("x-scope-orgid", "team-a")]), Refusal::Missing);
    for wrong in [
        "Bearer nope",
        "Bearer",
        "Token read-a",
        "Bearer old-a",
        "Basic !!!",
        &basic("alice", "wrong"),
        &basic("bob", "s3cret"),
    ] {
        assert_eq!(refusal(&[("authorization", wrong)]), Refusal::Invalid, "{wrong}");
    }
    // The same token before its expiry works.
    let before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    assert_eq!(auth.authenticate(Some(b"Bearer old-a"), before).unwrap().tenant.as_str(), "team-a");
}

#[test]
fn read_only_and_write_only_credentials_stay_in_their_lane() {
    let auth = authenticator();
    let try_need = |token: &str, need| auth.admit(&mut headers(&[("authorization", token)]), need);
    assert!(try_need("Bearer read-a", Need::Read).is_ok());
    assert_eq!(try_need("Bearer read-a", Need::Write), Err(Refusal::NotAllowed(Need::Write)));
    assert_eq!(try_need("Bearer read-a", Need::ReadWrite), Err(Refusal::NotAllowed(Need::ReadWrite)));
    assert!(try_need("Bearer write-a", Need::Write).is_ok());
    assert_eq!(try_need("Bearer write-a", Need::Read), Err(Refusal::NotAllowed(Need::Read)));
    assert!(try_need(&basic("alice", "s3cret"), Need::ReadWrite).is_ok());
    // The cached login answers the same way, and a wrong password is still wrong.
    assert!(try_need(&basic("alice", "s3cret"), Need::Read).is_ok());
    assert_eq!(try_need(&basic("alice", "s3cret!"), Need::Read), Err(Refusal::Invalid));
}

#[test]
fn an_x_scope_orgid_naming_another_tenant_is_refused() {
    let auth = authenticator();
    let mut h = headers(&[("authorization", "Bearer read-a"), ("x-scope-orgid", "team-b")]);
    assert_eq!(auth.admit(&mut h, Need::Read), Err(Refusal::OtherTenant));
    assert_eq!(Refusal::OtherTenant.http_response().status(), 403);
    assert_eq!(Refusal::Invalid.http_response().status(), 401);
    assert!(Refusal::Missing.http_response().headers()[header::WWW_AUTHENTICATE].to_str().unwrap().contains("Bearer"));
    assert_eq!(Refusal::Missing.grpc_status().code(), tonic::Code::Unauthenticated);
    assert_eq!(Refusal::NotAllowed(Need::Write).grpc_status().code(), tonic::Code::PermissionDenied);
}

#[test]
fn what_each_path_needs() {
    let cases = [
        (Method::GET, "/-/ready", Need::Nothing),
        (Method::GET, "/", Need::Nothing),
        (Method::GET, "/explore/metrics", Need::Nothing),
        (Method::GET, "/ui/app.js", Need::Nothing),
        (Method::OPTIONS, "/v1/traces", Need::Nothing),
        (Method::POST, "/v1/traces", Need::Write),
        (Method::POST, "/api/v1/write", Need::Write),
        (Method::POST, "/loki/api/v1/push", Need::Write),
        (Method::GET, "/api/v1/query", Need::Read),
        (Method::POST, "/api/v1/query_range", Need::Read),
        (Method::POST, "/api/v1/read", Need::Read),
        (Method::GET, "/loki/api/v1/tail", Need::Read),
        (Method::GET, "/api/traces/abc", Need::Read),
        (Method::GET, "/ui/api/dashboards", Need::Read),
        (Method::GET, "/metrics", Need::Nothing),
        (Method::PUT, "/ui/api/dashboards/x", Need::ReadWrite),
        (Method::POST, "/ui/api/dashboards/import", Need::ReadWrite),
        (Method::POST, "/api/v1/admin/tsdb/delete_series", Need::ReadWrite),
        (Method::POST, "/-/reload", Need::ReadWrite),
    ];
    for (method, path, need) in cases {
        assert_eq!(http_need(&method, path), need, "{method} {path}");
    }
}

#[test]
fn tenants_file_errors_name_the_tenant_and_credential() {
    let error = |text: &str| Authenticator::parse(text).err().unwrap();
    assert!(error("tenants: [{id: a, tokens: [{name: t, hash: 'md5:00'}]}]").contains(r#"tenant "a", token "t""#));
    let pbkdf2_token = format!("tenants: [{{id: a, tokens: [{{name: t, hash: '{}'}}]}}]", quick_hash("x"));
    assert!(error(&pbkdf2_token).contains("sha256"));
    let sha_user = format!("tenants: [{{id: a, users: [{{name: u, hash: '{}'}}]}}]", token_hash("x"));
    assert!(error(&sha_user).contains(r#"user "u""#));
    assert!(error("tenants: [{id: 'a b'}]").contains(r#"tenant "a b""#));
    assert!(error("tenants: [{id: a, extra: 1}]").contains("extra"));
    let twice =
        format!("tenants: [{{id: a, tokens: [{{name: t, hash: '{0}'}}, {{name: u, hash: '{0}'}}]}}]", token_hash("x"));
    assert!(error(&twice).contains("twice"));
}

#[test]
fn new_tokens_and_password_hashes_verify() {
    let (token, hash) = new_token();
    assert!(token.starts_with("lk_") && token.len() == 67);
    let SecretHash::Sha256(digest) = SecretHash::parse(&hash).unwrap() else { panic!("{hash}") };
    assert_eq!(digest, sha256(token.as_bytes()));
    let hash = SecretHash::parse(&hash_password("hunter2")).unwrap();
    assert!(hash.verify(b"hunter2"));
    assert!(!hash.verify(b"hunter3"));
}
