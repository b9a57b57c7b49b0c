//! The demo gateway end to end: `lookout gateway` started on free ports in front of three real
//! HTTP upstream servers, driven with an HTTP client and raw bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::gateway::{GatewayProcess, Upstream};
use common::{eventually, http_client};

/// A gateway with one route `/` to pool `p` of `upstreams`, with extra pool and route YAML.
fn gateway(upstreams: &[Upstream], pool_extra: &str, route_extra: &str) -> GatewayProcess {
    let list: Vec<String> = upstreams.iter().map(Upstream::yaml).collect();
    GatewayProcess::start(&format!(
        "access_log: false\nheader_timeout_ms: 1000\nroutes:\n  - {{name: all, path_prefix: /, pool: p{route_extra}}}\npools:\n  p: {{upstreams: [{}]{pool_extra}}}\n",
        list.join(", ")
    ))
}

/// Sends `n` GETs from `threads` threads at once; returns the statuses.
fn load(url: &str, threads: usize, n: usize) -> Vec<u16> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let client = http_client();
                    (0..n / threads).map(|_| client.get(url).send().unwrap().status().as_u16()).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    })
}

fn hits(upstreams: &[Upstream]) -> Vec<u64> {
    upstreams.iter().map(Upstream::hits).collect()
}

/// Waits until the admin API shows `upstream` of pool `p` as healthy or not.
fn wait_health(gw: &GatewayProcess, upstream: &str, healthy: bool) {
    eventually(&format!("{upstream} healthy={healthy}"), || {
        (gw.upstreams("p")[upstream]["healthy"] == healthy).then_some(())
    });
}

#[test]
fn round_robin_splits_300_requests_100_100_100() {
    let ups = Upstream::three();
    let gw = gateway(&ups, ", algorithm: round_robin", "");
    let client = http_client();
    let mut seen = HashMap::<String, u32>::new();
    for _ in 0..300 {
        let r = client.get(gw.url("/x")).send().unwrap();
        assert_eq!(r.status(), 200);
        *seen.entry(r.text().unwrap()).or_default() += 1;
    }
    assert_eq!(seen, HashMap::from([("a".into(), 100), ("b".into(), 100), ("c".into(), 100)]));
    assert_eq!(hits(&ups), vec![100, 100, 100]);
    let admin = gw.upstreams("p");
    for name in ["a", "b", "c"] {
        assert_eq!(admin[name]["requests"], 100);
        assert!((admin[name]["share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    }
}

/// Connections that arrive together are spread over the gateway's worker threads (handed from
/// the thread that accepted them); every one of them is served.
#[test]
fn many_connections_at_once_are_all_served_whichever_worker_takes_them() {
    let ups = Upstream::three();
    let gw = gateway(&ups, ", algorithm: round_robin", "");
    let statuses = load(&gw.url("/"), 16, 320);
    assert_eq!(statuses.len(), 320);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(hits(&ups).iter().sum::<u64>(), 320);
}

#[test]
fn sticky_round_robin_keeps_a_client_on_its_upstream_until_it_goes_down() {
    let ups = Upstream::three();
    let gw = gateway(
        &ups,
        ", algorithm: sticky_round_robin, health_check: {interval_ms: 100, unhealthy_threshold: 1, healthy_threshold: 1}",
        "",
    );
    let client = http_client();
    // Six clients: each gets a cookie on its first request and keeps its upstream.
    let mut cookies = Vec::new();
    for _ in 0..6 {
        let r = client.get(gw.url("/")).send().unwrap();
        let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let upstream = r.text().unwrap();
        assert!(set.starts_with(&format!("lookout_upstream={upstream};")), "{set}");
        cookies.push((format!("lookout_upstream={upstream}"), upstream));
    }
    let ask = |cookie: &str| {
        let r = client.get(gw.url("/")).header("cookie", cookie).send().unwrap();
        let set = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
        (r.text().unwrap(), set)
    };
    for (cookie, upstream) in &cookies {
        for _ in 0..10 {
            assert_eq!(ask(cookie), (upstream.clone(), None));
        }
    }
    // Its upstream goes down: that client moves (and is told so), the others stay.
    let gone = cookies[0].1.clone();
    ups.iter().find(|u| u.name == gone).unwrap().stop();
    wait_health(&gw, &gone, false);
    for (cookie, upstream) in &cookies {
        let (answer, set) = ask(cookie);
        if *upstream == gone {
            assert_ne!(answer, gone);
            assert!(set.unwrap().starts_with(&format!("lookout_upstream={answer};")));
        } else {
            assert_eq!((answer, set), (upstream.clone(), None));
        }
    }
}

#[test]
fn hash_keeps_each_key_on_one_upstream_and_moves_only_the_keys_of_one_that_goes_down() {
    let ups = Upstream::three();
    let gw = gateway(
        &ups,
        ", algorithm: hash, hash_on: {header: x-user}, health_check: {interval_ms: 100, unhealthy_threshold: 1, healthy_threshold: 1}",
        "",
    );
    let client = http_client();
    let ask = |user: &str| client.get(gw.url("/cart")).header("x-user", user).send().unwrap().text().unwrap();
    let users: Vec<String> = (0..30).map(|i| format!("user-{i}")).collect();
    let home: Vec<String> = users.iter().map(|u| ask(u)).collect();
    assert_eq!(home.iter().collect::<HashSet<_>>().len(), 3, "30 keys should spread over 3 upstreams: {home:?}");
    for _ in 0..3 {
        assert_eq!(users.iter().map(|u| ask(u)).collect::<Vec<_>>(), home);
    }
    let gone = home[0].clone();
    let down = ups.iter().find(|u| u.name == gone).unwrap();
    down.stop();
    wait_health(&gw, &gone, false);
    for (user, was) in users.iter().zip(&home) {
        let now = ask(user);
        if *was == gone {
            assert_ne!(now, gone);
        } else {
            assert_eq!(now, *was, "{user} moved although its upstream stayed up");
        }
    }
    down.restart();
    wait_health(&gw, &gone, true);
    assert_eq!(users.iter().map(|u| ask(u)).collect::<Vec<_>>(), home, "keys go home when it is back");
}

#[test]
fn ip_hash_keeps_a_client_address_on_one_upstream() {
    let ups = Upstream::three();
    let gw = gateway(&ups, ", algorithm: ip_hash", "");
    let client = http_client();
    let answers: HashSet<String> = (0..30).map(|_| client.get(gw.url("/")).send().unwrap().text().unwrap()).collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let h = hits(&ups);
    assert_eq!(h.iter().sum::<u64>(), 30);
    assert_eq!(h.iter().filter(|n| **n == 30).count(), 1);
}

/// With upstream `a` slow, 120 requests from 6 concurrent clients: `a` gets well under a third.
fn slow_upstream_gets_less(algorithm: &str) {
    let ups = Upstream::three();
    ups[0].behaviour.delay_ms.store(400, Ordering::Relaxed);
    let gw = gateway(&ups, &format!(", algorithm: {algorithm}"), "");
    let statuses = load(&gw.url("/"), 6, 120);
    assert!(statuses.iter().all(|s| *s == 200));
    let h = hits(&ups);
    assert_eq!(h.iter().sum::<u64>(), 120);
    // Round robin would give it 40.
    assert!(h[0] <= 20, "{algorithm}: the slow upstream got {h:?}");
}

#[test]
fn least_connections_sends_less_to_a_slow_upstream() {
    slow_upstream_gets_less("least_connections");
}

#[test]
fn least_time_sends_less_to_a_slow_upstream() {
    slow_upstream_gets_less("least_time");
}

#[test]
fn power_of_two_choices_avoids_the_most_loaded_upstream() {
    slow_upstream_gets_less("random_two_choices");
}

#[test]
fn an_unhealthy_upstream_gets_nothing_until_it_recovers() {
    let ups = Upstream::three();
    let gw = gateway(&ups, ", health_check: {interval_ms: 100, unhealthy_threshold: 2, healthy_threshold: 2}", "");
    ups[1].behaviour.sick.store(true, Ordering::Relaxed);
    wait_health(&gw, "b", false);
    let before = hits(&ups);
    assert!(load(&gw.url("/"), 2, 60).iter().all(|s| *s == 200));
    let after = hits(&ups);
    assert_eq!(after[1], before[1], "the unhealthy upstream got requests");
    assert_eq!(after[0] + after[2] - before[0] - before[2], 60);
    ups[1].behaviour.sick.store(false, Ordering::Relaxed);
    wait_health(&gw, "b", true);
    load(&gw.url("/"), 1, 60);
    assert_eq!(hits(&ups)[1] - after[1], 20, "back in the rotation");
}

#[test]
fn rate_limit_answers_429_with_retry_after_per_key() {
    let ups = Upstream::three();
    let gw = gateway(&ups, "", ", rate_limit: {requests_per_second: 0.2, burst: 3, key: {header: x-user}}");
    let client = http_client();
    let ask = |user: &str| client.get(gw.url("/")).header("x-user", user).send().unwrap();
    for _ in 0..3 {
        assert_eq!(ask("alice").status(), 200);
    }
    let refused = ask("alice");
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry_after), "retry-after {retry_after}");
    assert_eq!(refused.json::<serde_json::Value>().unwrap()["error"], "rate limit exceeded");
    assert_eq!(ask("bob").status(), 200, "another key has its own bucket");
    assert_eq!(hits(&ups).iter().sum::<u64>(), 4);
}

const HS_SECRET: &str = "course-secret";

fn token(claims: serde_json::Value, key: &jsonwebtoken::EncodingKey, alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, key).unwrap()
}

#[test]
fn jwt_at_the_edge_accepts_valid_tokens_and_refuses_expired_forged_and_missing_ones() {
    let ups = Upstream::three();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/tests/data");
    let public = std::fs::read_to_string(data.join("rs256.pub")).unwrap();
    let indented: String = public.lines().map(|l| format!("        {l}\n")).collect();
    let list: Vec<String> = ups.iter().map(Upstream::yaml).collect();
    let gw = GatewayProcess::start(&format!(
        "routes:\n  - name: secure\n    pool: p\n    auth:\n      type: jwt\n      hs256_secret: {HS_SECRET}\n      issuer: course\n      rs256_public_key_pem: |\n{indented}pools:\n  p: {{upstreams: [{}]}}\n",
        list.join(", ")
    ));
    let now = common::now_ms() / 1000;
    let hs = jsonwebtoken::EncodingKey::from_secret(HS_SECRET.as_bytes());
    let rs = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(data.join("rs256.key")).unwrap()).unwrap();
    let other = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(data.join("other.key")).unwrap()).unwrap();
    let claims = |exp: i64| serde_json::json!({"sub": "student", "iss": "course", "exp": exp});
    let client = http_client();
    let ask = |bearer: Option<&str>| {
        let mut r = client.get(gw.url("/orders"));
        if let Some(t) = bearer {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        let r = r.send().unwrap();
        let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), challenge, r.text().unwrap())
    };
    use jsonwebtoken::Algorithm::{HS256, RS256};
    assert_eq!(ask(Some(&token(claims(now + 300), &hs, HS256))).0, 200);
    assert_eq!(ask(Some(&token(claims(now + 300), &rs, RS256))).0, 200);
    let (status, challenge, body) = ask(Some(&token(claims(now - 300), &hs, HS256)));
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("invalid_token"));
    assert!(body.contains("expired"), "{body}");
    let wrong = jsonwebtoken::EncodingKey::from_secret(b"not-the-secret");
    for forged in [token(claims(now + 300), &wrong, HS256), token(claims(now + 300), &other, RS256)] {
        let (status, _, body) = ask(Some(&forged));
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("signature"), "{body}");
    }
    let wrong_issuer = token(serde_json::json!({"sub": "x", "iss": "elsewhere", "exp": now + 300}), &hs, HS256);
    assert_eq!(ask(Some(&wrong_issuer)).0, 401);
    assert_eq!(ask(Some("not.a.token")).0, 401);
    let (status, challenge, _) = ask(None);
    assert_eq!(status, 401);
    assert!(challenge.unwrap().starts_with("Bearer"));
    assert_eq!(hits(&ups).iter().sum::<u64>(), 2, "only the valid tokens reached an upstream");
}

#[test]
fn circuit_breaker_opens_serves_the_fallback_then_half_opens_and_closes() {
    let ups = vec![Upstream::start("a")];
    ups[0].behaviour.status.store(500, Ordering::Relaxed);
    let gw = gateway(
        &ups,
        ", passive: {max_fails: 0}, circuit_breaker: {failure_threshold: 3, open_s: 1}",
        ", fallback: {status: 503, body: '{\"orders\": []}'}",
    );
    let client = http_client();
    let circuit = || gw.upstreams("p")["a"]["circuit"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let r = client.get(gw.url("/")).send().unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["x-lookout-fallback"], "1");
    }
    assert_eq!(circuit(), "open");
    assert_eq!(ups[0].hits(), 3);
    // Open: the fallback is served and the upstream is left alone.
    for _ in 0..10 {
        let r = client.get(gw.url("/")).send().unwrap();
        assert_eq!((r.status().as_u16(), r.text().unwrap()), (503, "{\"orders\": []}".to_owned()));
    }
    assert_eq!(ups[0].hits(), 3);
    // The upstream recovers; after open_s the circuit lets a probe through, which closes it.
    ups[0].behaviour.status.store(0, Ordering::Relaxed);
    eventually("the circuit to half-open", || (circuit() == "half_open").then_some(()));
    let r = client.get(gw.url("/")).send().unwrap();
    assert_eq!((r.status().as_u16(), r.text().unwrap()), (200, "a".to_owned()));
    assert_eq!(circuit(), "closed");
}

#[test]
fn retries_stay_within_the_retry_budget() {
    let ups = Upstream::three();
    for u in &ups {
        u.behaviour.status.store(503, Ordering::Relaxed);
    }
    let gw = gateway(
        &ups,
        ", passive: {max_fails: 0}",
        ", retry: {attempts: 3, backoff_ms: 1, budget_ratio: 0.1, budget_min_per_s: 0}",
    );
    let client = http_client();
    for _ in 0..100 {
        assert_eq!(client.get(gw.url("/")).send().unwrap().status(), 503);
    }
    let total: u64 = hits(&ups).iter().sum();
    assert!(total > 100, "no retries at all: {total}");
    assert!(total <= 111, "{} retries for 100 requests exceed a 10% budget", total - 100);
}

#[test]
fn retries_move_to_another_upstream_when_one_refuses_connections() {
    let ups = Upstream::three();
    ups[1].stop();
    let gw = gateway(&ups, ", passive: {max_fails: 0}", ", retry: {attempts: 2, backoff_ms: 1}");
    let statuses = load(&gw.url("/"), 1, 30);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(hits(&ups)[0] + hits(&ups)[2], 30);
}

#[test]
fn request_id_traceparent_and_forwarding_headers_reach_the_upstream() {
    let ups = vec![Upstream::start("a")];
    let gw = gateway(&ups, "", "");
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = http_client()
        .get(gw.url("/x?q=1"))
        .header("x-request-id", "req-42")
        .header("traceparent", traceparent)
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42");
    let seen = ups[0].behaviour.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(seen["x-request-id"], "req-42");
    assert_eq!(seen["traceparent"], traceparent);
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    // Without an id of its own, a request gets one.
    let r = http_client().get(gw.url("/")).send().unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 32);
}

#[test]
fn the_upstream_gets_the_request_target_in_origin_form_and_a_host() {
    let ups = vec![Upstream::start("a")];
    let gw = gateway(&ups, "", "");
    let r = http_client().get(gw.url("/x?q=1")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ups[0].behaviour.last_target.lock().unwrap().as_deref(), Some("/x?q=1"));
    // An HTTP/1.0 client may send no Host; the upstream, spoken to in HTTP/1.1, gets its own.
    let answer = raw(&gw, b"GET /y HTTP/1.0\r\n\r\n", Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert_eq!(ups[0].behaviour.last_target.lock().unwrap().as_deref(), Some("/y"));
    let seen = ups[0].behaviour.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(seen["host"], ups[0].addr.to_string());
}

/// Writes raw bytes and reads the answer until the gateway closes or `wait` passes.
fn raw(gw: &GatewayProcess, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_oversized_and_smuggling_requests_are_refused() {
    let ups = vec![Upstream::start("a")];
    let gw = gateway(&ups, "", "");
    let wait = Duration::from_secs(5);
    assert!(raw(&gw, b"GARBAGE\r\n\r\n", wait).starts_with("HTTP/1.1 400"));
    assert!(raw(&gw, b"GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", wait).starts_with("HTTP/1.1 400"));
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000));
    assert!(raw(&gw, big.as_bytes(), wait).starts_with("HTTP/1.1 431"));
    let smuggle = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd";
    assert!(raw(&gw, smuggle, wait).starts_with("HTTP/1.1 400"));
    let te_cl = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    // Both framings at once: chunked wins, the body is re-framed for the upstream, and the
    // connection closes after this request (RFC 9112 §6.3), so nothing rides along behind it.
    let answer = raw(&gw, te_cl, wait);
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(ups[0].hits() <= 1, "a smuggled request reached the upstream");
    // The gateway still serves.
    assert_eq!(http_client().get(gw.url("/")).send().unwrap().status(), 200);
}

#[test]
fn a_slowloris_client_is_cut_off_without_delaying_others() {
    let ups = vec![Upstream::start("a")];
    let gw = gateway(&ups, "", "");
    let mut slow = TcpStream::connect(gw.addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let dripping = std::thread::spawn(move || {
        // One header byte at a time: the head never completes.
        for _ in 0..100 {
            if slow.write_all(b"X").is_err() {
                return started.elapsed();
            }
            let mut buf = [0u8; 1];
            slow.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            match slow.read(&mut buf) {
                Ok(_) => return started.elapsed(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return started.elapsed(),
            }
        }
        Duration::MAX
    });
    // Meanwhile everyone else is served promptly.
    let client = http_client();
    for _ in 0..20 {
        assert_eq!(client.get(gw.url("/")).send().unwrap().status(), 200);
    }
    let cut = dripping.join().unwrap();
    assert!(cut < Duration::from_secs(5), "the slow client was not cut off ({cut:?})");
}
