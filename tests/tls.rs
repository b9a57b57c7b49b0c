//! TLS on every listener and mutual TLS on the OTLP ones, with certificates the test makes
//! (`tests/python/tls_certs.py`) and real clients: the OpenTelemetry Python SDK's gRPC and HTTP
//! exporters and requests (`tests/python/tls_client.py`). Renewed certificate files are served
//! without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Lookout, eventually, python};

fn script(name: &str) -> String {
    format!("{}/tests/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A CA, server and client certificates in `dir/certs` (`tests/python/tls_certs.py`).
fn make_certs(dir: &std::path::Path) -> std::path::PathBuf {
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    run(&[&script("tls_certs.py"), certs.to_str().unwrap()]);
    certs
}

fn run(args: &[&str]) -> String {
    // requests lets these variables override the CA file a session is given (psf/requests#3829),
    // which is the exporter's `certificate_file`: without them, the clients trust what they are told.
    let out = Command::new(python())
        .args(args)
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn serial_of(file: &Path) -> String {
    let code = "import sys; from cryptography import x509; print(x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read()).serial_number)";
    run(&["-c", code, file.to_str().unwrap()]).trim().to_owned()
}

#[test]
fn every_listener_speaks_tls_otlp_requires_client_certificates_and_renewed_files_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let file = |name: &str| certs.join(name).to_str().unwrap().to_owned();
    // The server reads its certificate from files the test later replaces.
    std::fs::copy(certs.join("server.pem"), certs.join("live.pem")).unwrap();
    std::fs::copy(certs.join("server.key"), certs.join("live.key")).unwrap();
    let lookout = Lookout::spawn(
        &dir.path().join("data"),
        &[
            "--tls.cert-file",
            &file("live.pem"),
            "--tls.key-file",
            &file("live.key"),
            "--tls.client-ca-file",
            &file("ca.pem"),
        ],
    );
    let (http, grpc, otlp_http) = (lookout.http.to_string(), lookout.grpc.to_string(), lookout.otlp_http.to_string());
    let out = run(&[&script("tls_client.py"), "check", &http, &grpc, &otlp_http, certs.to_str().unwrap()]);
    let checks: serde_json::Value = serde_json::from_str(&out).unwrap();
    let expected = serde_json::json!({
        "https_ready": 200,
        "plain_http_refused": true,
        "unknown_ca_refused": true,
        "grpc_client_cert": "SUCCESS",
        "grpc_no_client_cert": "FAILURE",
        "grpc_stranger_cert": "FAILURE",
        "http_client_cert": "SUCCESS",
        "http_no_client_cert": "FAILURE",
        "http_stranger_cert": "FAILURE",
        "stored": ["over grpc", "over http"],
    });
    assert_eq!(checks, expected);

    // Lookout scrapes its own /metrics over HTTPS.
    let up = "import sys, requests; r = requests.get(f'https://localhost:{sys.argv[1]}/api/v1/query', params={'query': 'up{job=\"lookout\"}'}, verify=sys.argv[2], timeout=10).json(); print(r['data']['result'][0]['value'][1] if r['data']['result'] else '')";
    eventually("the self-scrape over https", || {
        (run(&["-c", up, &lookout.http.port().to_string(), &file("ca.pem")]).trim() == "1").then_some(())
    });

    // Renewal: new files in place, and new connections get the new certificate.
    assert_eq!(
        run(&[&script("tls_client.py"), "serial", &http, certs.to_str().unwrap()]).trim(),
        serial_of(&certs.join("server.pem"))
    );
    let renewed = serial_of(&certs.join("server2.pem"));
    std::fs::copy(certs.join("server2.key"), certs.join("live.key.new")).unwrap();
    std::fs::copy(certs.join("server2.pem"), certs.join("live.pem.new")).unwrap();
    std::fs::rename(certs.join("live.key.new"), certs.join("live.key")).unwrap();
    std::fs::rename(certs.join("live.pem.new"), certs.join("live.pem")).unwrap();
    eventually("the renewed certificate served", || {
        let served = run(&[&script("tls_client.py"), "serial", &http, certs.to_str().unwrap()]);
        (served.trim() == renewed).then_some(())
    });
    assert!(lookout.log().iter().any(|l| l.contains("tls certificates reloaded")));
}

#[test]
fn the_broker_speaks_amqps_and_https_and_the_gateway_admin_api_https() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let file = |name: &str| certs.join(name).to_str().unwrap().to_owned();
    let tls = ["--tls.cert-file", &file("server.pem"), "--tls.key-file", &file("server.key")];

    let broker = common::broker::BrokerProcess::start_with(
        &dir.path().join("broker"),
        &[&["--otlp.endpoint", "", "--amqps.listen-address", "127.0.0.1:0"][..], &tls[..]].concat(),
    );
    let amqps = broker.amqps.unwrap().port().to_string();
    let management = broker.management.port().to_string();
    let out = run(&[&script("amqps_client.py"), &amqps, &file("ca.pem"), &management]);
    assert!(out.contains("amqps got sealed"), "{out}");
    assert!(out.contains("management product"), "{out}");
    // A client that trusts another CA is refused.
    let refused =
        Command::new(python()).args([&script("amqps_client.py"), &amqps, &file("stranger.pem")]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("CERTIFICATE_VERIFY_FAILED"));
    // Plain AMQP stays on its own port.
    let code = "import sys, pika; c = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', int(sys.argv[1]))); print(c.is_open)";
    assert_eq!(run(&["-c", code, &broker.amqp.port().to_string()]).trim(), "True");

    let upstream = common::gateway::Upstream::start("u1");
    let gateway = common::gateway::GatewayProcess::start_with(
        &format!(
            "routes:\n  - {{name: all, path_prefix: /, pool: p}}\npools:\n  p: {{upstreams: [{}]}}\n",
            upstream.yaml()
        ),
        &[&["--otlp.endpoint", ""][..], &tls[..]].concat(),
    );
    let admin = gateway.admin.port().to_string();
    let code = "import sys, requests; print(requests.get(f'https://localhost:{sys.argv[1]}/api/pools', verify=sys.argv[2], timeout=10).status_code)";
    assert_eq!(run(&["-c", code, &admin, &file("ca.pem")]).trim(), "200");
    assert!(
        common::http_client().get(format!("http://{}/api/pools", gateway.admin)).send().is_err(),
        "plain HTTP is not spoken on the admin port"
    );
}
