//! Active health checks: each upstream of a pool with `health_check` is asked for its health
//! path on an interval; consecutive failures take it out, consecutive successes bring it back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Gateway;
use super::config::HealthCheckConfig;

/// Checks one pool's upstreams until `shutdown`.
pub(super) async fn check_pool(
    gateway: Arc<Gateway>,
    pool: usize,
    config: HealthCheckConfig,
    shutdown: CancellationToken,
) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new());
    let n = gateway.pools[pool].upstreams.len();
    let mut good = vec![0u32; n];
    let mut bad = vec![0u32; n];
    let mut tick = tokio::time::interval(Duration::from_millis(config.interval_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let checks = (0..n).map(|i| {
            let upstream = &gateway.pools[pool].upstreams[i];
            let uri = format!("http://{}{}", upstream.authority, config.path);
            let client = client.clone();
            async move {
                let Ok(uri) = uri.parse::<http::Uri>() else { return false };
                let timeout = Duration::from_millis(config.timeout_ms);
                matches!(tokio::time::timeout(timeout, client.get(uri)).await,
                    Ok(Ok(r)) if r.status().is_success() || r.status().is_redirection())
            }
        });
        let results = futures::future::join_all(checks).await;
        for (i, ok) in results.into_iter().enumerate() {
            let upstream = &gateway.pools[pool].upstreams[i];
            if ok {
                good[i] += 1;
                bad[i] = 0;
            } else {
                bad[i] += 1;
                good[i] = 0;
            }
            let verdict = if !upstream.healthy() && good[i] >= config.healthy_threshold {
                Some(true)
            } else if upstream.healthy() && bad[i] >= config.unhealthy_threshold {
                Some(false)
            } else {
                None
            };
            if let Some(healthy) = verdict
                && upstream.set_healthy(healthy)
            {
                let pool_name = &gateway.pools[pool].name;
                if healthy {
                    info!(pool = pool_name, upstream = upstream.name, "upstream healthy again");
                } else {
                    warn!(pool = pool_name, upstream = upstream.name, "upstream unhealthy");
                }
                gateway.health_changed(pool_name, &upstream.name, healthy);
            }
        }
    }
}
