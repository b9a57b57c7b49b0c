//! Tenants and credentials end to end: `lookout serve --auth.tenants-file` with credentials made
//! by `lookout auth`, the OpenTelemetry Python SDK sending as two tenants over OTLP/gRPC and
//! OTLP/HTTP with bearer tokens, and every read API walked with each tenant's credentials.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Lookout, eventually, http_client, python, urlencode};
use prost::Message;

/// Token hashes as the tenants file takes them.
fn sha256_hash(token: &str) -> String {
    format!("sha256:{}", hex::encode(ring::digest::digest(&ring::digest::SHA256, token.as_bytes())))
}

/// `lookout auth hash-password`, fed the password on standard input.
fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["auth", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `lookout auth token`: the token and the hash it prints.
fn new_token() -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout")).args(["auth", "token", "--name", "made"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text.lines().find_map(|l| l.strip_prefix("token: ")).unwrap().to_owned();
    let hash = text.split("hash: \"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    (token, hash)
}

struct Setup {
    lookout: Lookout,
    /// A token made by `lookout auth token` (team-b, read and write).
    made: String,
    _dir: tempfile::TempDir,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (made, made_hash) = new_token();
    let tenants = format!(
        r#"
tenants:
  - id: team-a
    tokens:
      - {{name: collector, hash: "{}", access: write}}
      - {{name: grafana, hash: "{}", access: read}}
      - {{name: old, hash: "{}", expires: 2020-01-01T00:00:00Z}}
    users:
      - {{name: alice, hash: "{}", access: read}}
  - id: team-b
    tokens:
      - {{name: made, hash: "{made_hash}"}}
  - id: anonymous
    tokens:
      - {{name: operator, hash: "{}"}}
"#,
        sha256_hash("write-a"),
        sha256_hash("read-a"),
        sha256_hash("old-a"),
        hash_password("alice's password"),
        sha256_hash("operator"),
    );
    let file = dir.path().join("tenants.yaml");
    std::fs::write(&file, tenants).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: operator\n    interval: 1s\n    rules:\n      - {alert: Always, expr: vector(1)}\n",
    )
    .unwrap();
    // team-a's own rules, as Loki's and Mimir's rulers keep them: <dir>/<tenant>/*.yml.
    let tenant_rules = dir.path().join("tenant-rules");
    std::fs::create_dir_all(tenant_rules.join("team-a")).unwrap();
    std::fs::write(
        tenant_rules.join("team-a/own.yml"),
        "groups:\n  - name: team-a\n    interval: 1s\n    rules:\n      - {record: 'tenant:series:count', expr: 'count by (job) ({__name__=~\"e2e.+\"})'}\n      - {alert: TeamAOnly, expr: vector(1)}\n",
    )
    .unwrap();
    let args = [
        "--auth.tenants-file",
        file.to_str().unwrap(),
        "--rules.path",
        rules.to_str().unwrap(),
        "--rules.tenants-dir",
        tenant_rules.to_str().unwrap(),
    ];
    let lookout = Lookout::start(&dir.path().join("data"), &args);
    Setup { lookout, made, _dir: dir }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The Python SDK sends traces, logs and metrics with `authorization`; returns whether every
/// export succeeded.
fn send_with_sdk(lookout: &Lookout, transport: &str, authorization: Option<&str>) -> bool {
    let endpoint = match transport {
        "grpc" => format!("http://{}", lookout.grpc),
        _ => format!("http://{}", lookout.otlp_http),
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_otlp.py");
    let mut command = Command::new(python());
    command.arg(script).args([transport, &endpoint]);
    if let Some(a) = authorization {
        command.env("LOOKOUT_AUTHORIZATION", a);
    }
    command.output().unwrap().status.success()
}

/// An OTLP/gRPC export with the given metadata; the status code of the answer.
fn grpc_code(lookout: &Lookout, metadata: &[(&'static str, &str)]) -> tonic::Code {
    let body =
        lookout_ingest::synthetic::traces(&mut lookout_ingest::synthetic::Rng::new(1), 2, 1_700_000_000_000_000_000)
            .encode_to_vec();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match runtime.block_on(common::grpc_export_with(lookout.grpc, common::TRACES_PATH, body, false, metadata)) {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

/// GET on :3000 with an `Authorization` header (and more headers); status and body.
fn get(lookout: &Lookout, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = http_client().get(format!("http://{}{path}", lookout.http));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.text().unwrap())
}

#[test]
fn requests_without_the_right_credentials_are_refused_on_every_port() {
    let s = start();
    let l = &s.lookout;
    // The query API: 401 with the accepted schemes, and the same answer for every bad credential.
    let query = "/api/v1/query?query=up";
    let (status, body) = get(l, query, &[]);
    assert_eq!((status, body.as_str()), (401, "authentication required: send a bearer token or basic credentials"));
    let challenge = http_client().get(format!("http://{}{query}", l.http)).send().unwrap();
    assert_eq!(challenge.headers()["www-authenticate"], r#"Bearer realm="lookout", Basic realm="lookout""#);
    for wrong in ["Bearer nope", "Bearer old-a", "Basic YWxpY2U6bm9wZQ==", "Digest x"] {
        assert_eq!(
            get(l, query, &[("authorization", wrong)]),
            (401, "invalid or expired credentials".into()),
            "{wrong}"
        );
    }
    // Access: a write-only token cannot read, a read-only one cannot write or change anything.
    assert_eq!(get(l, query, &[("authorization", &bearer("write-a"))]).0, 403);
    assert_eq!(get(l, query, &[("authorization", &bearer("read-a"))]).0, 200);
    let push = http_client()
        .post(format!("http://{}/loki/api/v1/push", l.http))
        .header("authorization", bearer("read-a"))
        .header("content-type", "application/json")
        .body(r#"{"streams":[]}"#)
        .send()
        .unwrap();
    assert_eq!(push.status(), 403);
    let reload = http_client()
        .post(format!("http://{}/-/reload", l.http))
        .header("authorization", bearer("read-a"))
        .send()
        .unwrap();
    assert_eq!(reload.status(), 403);
    // Basic credentials made with `lookout auth hash-password` work; the tenant is theirs.
    let alice = format!("Basic {}", base64_encode("alice:alice's password"));
    assert_eq!(get(l, query, &[("authorization", &alice)]).0, 200);
    // An X-Scope-OrgID that disagrees with the credential is refused.
    let other = get(l, query, &[("authorization", &bearer("read-a")), ("x-scope-orgid", "team-b")]);
    assert_eq!(other.0, 403);
    assert_eq!(get(l, query, &[("authorization", &bearer("read-a")), ("x-scope-orgid", "team-a")]).0, 200);
    // Open: health, Lookout's own metrics and the UI's pages.
    for open in ["/-/ready", "/-/healthy", "/metrics", "/", "/explore/logs"] {
        assert_eq!(get(l, open, &[]).0, 200, "{open}");
    }
    // OTLP/gRPC: UNAUTHENTICATED and PERMISSION_DENIED, as the gRPC spec names them.
    assert_eq!(grpc_code(l, &[]), tonic::Code::Unauthenticated);
    assert_eq!(grpc_code(l, &[("authorization", "Bearer nope")]), tonic::Code::Unauthenticated);
    assert_eq!(grpc_code(l, &[("authorization", "Bearer read-a")]), tonic::Code::PermissionDenied);
    assert_eq!(
        grpc_code(l, &[("authorization", "Bearer write-a"), ("x-scope-orgid", "team-b")]),
        tonic::Code::PermissionDenied
    );
    assert_eq!(grpc_code(l, &[("authorization", "Bearer write-a")]), tonic::Code::Ok);
    // OTLP/HTTP: 401 without credentials; the SDK's exporters fail without them and succeed
    // with them.
    let otlp = http_client()
        .post(l.otlp_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .unwrap();
    assert_eq!(otlp.status(), 401);
    assert!(!send_with_sdk(l, "http-protobuf", None));
    assert!(!send_with_sdk(l, "grpc", Some("Bearer read-a")));
    assert!(send_with_sdk(l, "http-protobuf", Some(&bearer(&s.made))));
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A read endpoint, and whether the answer must name the reader's own service (some list only
/// names that both tenants share, such as label names).
struct Endpoint {
    path: String,
    shows_own: bool,
}

fn endpoints() -> Vec<Endpoint> {
    let q = urlencode;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let window = format!("start={}&end={}", now - 600, now + 60);
    let series = q(r#"{__name__=~"e2e.+"}"#);
    let streams = q(r#"{service_name=~".+"}"#);
    let mut list = vec![
        // Prometheus
        (format!("/api/v1/query?query={}", q(r#"count by (job) ({__name__=~"e2e.+"})"#)), true),
        (format!("/api/v1/query_range?query={series}&{window}&step=15"), true),
        (format!("/api/v1/series?match[]={series}&{window}"), true),
        (format!("/api/v1/label/job/values?{window}"), true),
        (format!("/api/v1/labels?{window}"), false),
        (format!("/api/v1/query_exemplars?query={series}&{window}"), false),
        ("/api/v1/metadata".to_owned(), false),
        // Loki
        (format!("/loki/api/v1/query_range?query={streams}&{window}"), true),
        (
            format!(
                "/loki/api/v1/query?query={}",
                q(r#"sum by (service_name) (count_over_time({service_name=~".+"}[10m]))"#)
            ),
            true,
        ),
        (format!("/loki/api/v1/label/service_name/values?{window}"), true),
        (format!("/loki/api/v1/labels?{window}"), false),
        (format!("/loki/api/v1/series?match[]={streams}&{window}"), true),
        (format!("/loki/api/v1/index/stats?query={streams}&{window}"), false),
        (format!("/loki/api/v1/index/volume?query={streams}&{window}"), true),
        (format!("/loki/api/v1/detected_labels?query={streams}&{window}"), false),
        (format!("/loki/api/v1/detected_fields?query={streams}&{window}"), false),
        // Tempo
        (format!("/api/search?q={}&{window}", q("{}")), true),
        (format!("/api/search?tags={}&{window}", q("service.name=e2e-grpc")), false),
        ("/api/search/tags".to_owned(), false),
        ("/api/search/tag/service.name/values".to_owned(), true),
        ("/api/v2/search/tag/resource.service.name/values".to_owned(), true),
        ("/api/v2/search/tags".to_owned(), false),
        (format!("/api/metrics/query_range?q={}&{window}&step=60", q("{} | rate() by (resource.service.name)")), true),
    ];
    list.push((format!("/api/v1/query?query={}", q("sum(traces_spanmetrics_calls_total) by (service)")), false));
    list.into_iter().map(|(path, shows_own)| Endpoint { path, shows_own }).collect()
}

/// The trace ids a tenant's search finds.
fn trace_ids(lookout: &Lookout, authorization: &str) -> Vec<String> {
    let (status, body) =
        get(lookout, &format!("/api/search?q={}&limit=100", urlencode("{}")), &[("authorization", authorization)]);
    assert_eq!(status, 200, "{body}");
    let found: serde_json::Value = serde_json::from_str(&body).unwrap();
    found["traces"].as_array().unwrap().iter().map(|t| t["traceID"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn each_tenant_sees_only_its_own_data_through_every_read_endpoint() {
    let s = start();
    let l = &s.lookout;
    // team-a sends over gRPC (service e2e-grpc), team-b over HTTP (service e2e-http-protobuf),
    // each claiming nothing about its tenant: the token says it.
    assert!(send_with_sdk(l, "grpc", Some(&bearer("write-a"))));
    assert!(send_with_sdk(l, "http-protobuf", Some(&bearer(&s.made))));
    let readers = [
        ("team-a", bearer("read-a"), "e2e-grpc", "e2e-http-protobuf"),
        ("team-b", bearer(&s.made), "e2e-http-protobuf", "e2e-grpc"),
    ];
    // Everything is searchable within the commit intervals.
    for (tenant, auth, own, _) in &readers {
        eventually(&format!("{tenant}'s logs and traces searchable"), || {
            let lines = format!("/loki/api/v1/query_range?query={}&limit=100", urlencode(r#"{service_name=~".+"}"#));
            let logs = get(l, &lines, &[("authorization", auth)]).1;
            let traces = trace_ids(l, auth);
            (logs.matches(own).count() >= 7 && traces.len() == 6).then_some(())
        });
    }
    for endpoint in endpoints() {
        for (tenant, auth, own, other) in &readers {
            let (status, body) = get(l, &endpoint.path, &[("authorization", auth)]);
            assert_eq!(status, 200, "{tenant} {}: {body}", endpoint.path);
            assert!(!body.contains(other), "{tenant} sees {other} through {}: {body}", endpoint.path);
            if endpoint.shows_own {
                assert!(body.contains(own), "{tenant} does not see its own {own} through {}: {body}", endpoint.path);
            }
        }
    }
    // Rules and alerts: the rule files are evaluated over the default tenant's data, and only
    // its credentials see them; a dashboard saved by one tenant is not the other's.
    let operator = bearer("operator");
    eventually("the operator's alert firing", || {
        let alerts = get(l, "/api/v1/alerts", &[("authorization", &operator)]).1;
        alerts.contains("Always").then_some(())
    });
    for (tenant, auth, ..) in &readers {
        for path in ["/api/v1/rules", "/api/v1/alerts"] {
            let (status, body) = get(l, path, &[("authorization", auth)]);
            assert_eq!(status, 200);
            assert!(!body.contains("Always"), "{tenant} sees the operator's rules through {path}: {body}");
        }
    }
    // team-a's own rules run over team-a's data and write to it; only team-a sees them.
    let read_a = bearer("read-a");
    eventually("team-a's alert firing", || {
        get(l, "/api/v1/alerts", &[("authorization", &read_a)]).1.contains("TeamAOnly").then_some(())
    });
    let recorded = eventually("team-a's recording rule written", || {
        let body = get(l, "/api/v1/query?query=tenant:series:count", &[("authorization", &read_a)]).1;
        body.contains("e2e-grpc").then_some(body)
    });
    assert!(!recorded.contains("e2e-http-protobuf"), "team-a's rule read team-b's data: {recorded}");
    for auth in [bearer(&s.made), operator.clone()] {
        for path in ["/api/v1/rules", "/api/v1/alerts", "/api/v1/query?query=tenant:series:count"] {
            let body = get(l, path, &[("authorization", &auth)]).1;
            assert!(
                !body.contains("TeamAOnly") && !body.contains("e2e-grpc"),
                "team-a's rules seen through {path}: {body}"
            );
        }
    }
    let reload =
        http_client().post(format!("http://{}/-/reload", l.http)).header("authorization", bearer(&s.made)).send();
    assert_eq!(reload.unwrap().status(), 403);
    let dashboard = r#"{"uid": "mine", "title": "B's own", "rows": []}"#;
    let saved = http_client()
        .put(format!("http://{}/ui/api/dashboards/mine", l.http))
        .header("authorization", bearer(&s.made))
        .body(dashboard)
        .send()
        .unwrap();
    assert_eq!(saved.status(), 200);
    assert_eq!(get(l, "/ui/api/dashboards/mine", &[("authorization", &bearer(&s.made))]).0, 200);
    assert_eq!(get(l, "/ui/api/dashboards/mine", &[("authorization", &bearer("read-a"))]).0, 404);
    let listing = get(l, "/ui/api/dashboards", &[("authorization", &bearer("read-a"))]).1;
    assert!(!listing.contains("B's own"), "{listing}");
    // A trace by id: the owner gets it, the other tenant gets 404 as for a trace that does not exist.
    let a_trace = &trace_ids(l, &bearer("read-a"))[0];
    assert_eq!(get(l, &format!("/api/traces/{a_trace}"), &[("authorization", &bearer("read-a"))]).0, 200);
    assert_eq!(get(l, &format!("/api/v2/traces/{a_trace}"), &[("authorization", &bearer(&s.made))]).0, 404);
    assert_eq!(get(l, &format!("/api/traces/{a_trace}"), &[("authorization", &bearer(&s.made))]).0, 404);
}
