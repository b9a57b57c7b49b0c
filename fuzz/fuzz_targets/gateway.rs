//! The gateway's request handling over a real socket: raw bytes as a client sends them, to a
//! gateway with every edge feature on a route (JWT, API keys, a rate limit, hashing on a
//! header, retries, a circuit breaker and a fallback) in front of a real upstream. Malformed
//! HTTP, smuggling attempts and odd headers must get an error answer, never a panic. (The
//! client keeps its side open: the gateway, like NGINX, drops a request whose client closes
//! before the answer. Slow and stalled clients are the integration tests' part.)

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lookout_demo::gateway::{Gateway, GatewayConfig};
use lookout_fuzz::End;
use tokio_util::sync::CancellationToken;

/// How long a kept-alive connection may stay quiet before the exchange ends. The seeds end with
/// `Connection: close`, so most inputs end with the server's close instead.
const QUIET: Duration = Duration::from_millis(30);

struct Fixture {
    address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

fn config(upstream: SocketAddr) -> String {
    format!(
        r#"
access_log: false
header_timeout_ms: 2000
max_body_bytes: 65536
routes:
  - name: jwt
    path_prefix: /jwt
    pool: hashed
    auth: {{type: jwt, hs256_secret: fuzz-secret, issuer: fuzz}}
  - name: key
    path_prefix: /key
    strip_prefix: true
    pool: plain
    auth: {{type: api_key, keys: [{{name: fuzz, key: fuzz-key}}]}}
  - name: limited
    path_prefix: /limited
    pool: plain
    rate_limit: {{requests_per_second: 5, burst: 5, key: {{header: x-user}}}}
  - name: rest
    pool: plain
    methods: [GET, POST]
    timeout_ms: 500
    retry: {{attempts: 2, backoff_ms: 1}}
    fallback: {{status: 503, body: unavailable}}
pools:
  hashed:
    algorithm: hash
    hash_on: {{header: x-user}}
    upstreams: [{{url: "http://{upstream}", name: a}}, {{url: "http://{upstream}", name: b}}]
  plain:
    algorithm: least_time
    upstreams: [{{url: "http://{upstream}"}}]
    circuit_breaker: {{failure_threshold: 5, open_s: 1, half_open_requests: 1}}
"#
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        // The upstream: answers every request with its method and path.
        let upstream = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("listen");
        let upstream_address = upstream.local_addr().expect("address");
        let echo = axum::Router::new()
            .fallback(|method: http::Method, uri: http::Uri| async move { format!("{method} {uri}") });
        runtime.spawn(async move { axum::serve(upstream, echo).await });
        let config = GatewayConfig::parse(&config(upstream_address)).expect("gateway config");
        let gateway = Gateway::new(&config).expect("gateway");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let address = listener.local_addr().expect("address");
        runtime.spawn(gateway.serve(listener, 1, CancellationToken::new()));
        // A plain request must reach the upstream, or the inputs test nothing past the edge.
        let request = b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        let answer = lookout_fuzz::exchange(address, request, End::Quiet(QUIET));
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("GET /x"), "{answer}");
        Fixture { address, _runtime: runtime }
    })
}

fuzz_target!(|data: &[u8]| {
    lookout_fuzz::exchange(fixture().address, data, End::Quiet(QUIET));
});
