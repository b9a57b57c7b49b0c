//! Prometheus remote_write and Loki push requests through their real HTTP routers, into a real
//! ingester: WAL, metrics store and log store, as `lookout serve` wires them. The first byte
//! picks the endpoint and the `Content-Type` / `Content-Encoding` pair, the rest is the body.
//! Anything malformed must get a 4xx, never a panic or a 500.

#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use lookout_ingest::{IngestMetrics, IngestOptions, Ingester, IntakeOptions, MetricsIntake};
use lookout_storage::logs::{LogStore, LogStoreOptions};
use lookout_storage::metrics::Tsdb;
use lookout_storage::{FsyncPolicy, Payload, Wal, WalMetrics, WalOptions};
use tower::ServiceExt;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    remote_write: Router,
    loki_push: Router,
    logs: Arc<LogStore>,
    runs: Mutex<u64>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let registry = prometheus::Registry::new();
        let tsdb = Arc::new(Tsdb::open(&dir.path().join("metrics"), Default::default()).expect("metrics store"));
        let logs = Arc::new(LogStore::open(&dir.path().join("logs"), LogStoreOptions::default()).expect("log store"));
        let (to_tsdb, to_logs) = (Arc::clone(&tsdb), Arc::clone(&logs));
        let apply = Box::new(move |position, record: lookout_storage::TenantPayload| match record.payload {
            Payload::Samples(batch) => to_tsdb.apply(position, &record.tenant, &batch),
            Payload::Streams(batch) => {
                let _ = to_logs.append(position, &record.tenant, batch);
            }
            _ => {}
        });
        let options = WalOptions { fsync: FsyncPolicy::Never, ..WalOptions::default() };
        let wal = Arc::new(
            Wal::open(&dir.path().join("wal"), options, WalMetrics::new(&registry).expect("metrics"), apply)
                .expect("wal"),
        );
        let intake = Arc::new(MetricsIntake::new(tsdb, IntakeOptions::default()));
        let ingester = Arc::new(Ingester::new(
            wal,
            IngestMetrics::new(&registry).expect("metrics"),
            IngestOptions::default(),
            intake,
        ));
        let slot: lookout_ingest::remote_write::IngesterSlot = Arc::new(OnceLock::new());
        let _ = slot.set(ingester);
        let fixture = Fixture {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime"),
            remote_write: lookout_ingest::remote_write::router(Arc::clone(&slot)),
            loki_push: lookout_ingest::loki_push::router(slot),
            logs,
            runs: Mutex::new(0),
            _dir: dir,
        };
        // A good push must be accepted, or the inputs test nothing past the door.
        let good = r#"{"streams":[{"stream":{"job":"a"},"values":[["1700000000000000000","hello"]]}]}"#;
        let request = Request::post("/loki/api/v1/push").header("content-type", "application/json");
        let request = request.body(Body::from(good)).expect("request");
        let status = fixture.runtime.block_on(fixture.loki_push.clone().oneshot(request)).map(|r| r.status());
        assert_eq!(status.ok(), Some(StatusCode::NO_CONTENT));
        fixture
    })
}

/// `Content-Type` and `Content-Encoding` pairs, right and wrong.
const HEADERS: [(&str, &str); 6] = [
    ("application/x-protobuf", "snappy"),
    ("application/json", ""),
    ("application/json", "gzip"),
    ("", ""),
    ("application/json; charset=utf-8", "snappy"),
    ("text/plain", "br"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let f = fixture();
    let (content_type, encoding) = HEADERS[usize::from(selector >> 1) % HEADERS.len()];
    let (router, path) = if selector & 1 == 0 {
        (f.remote_write.clone(), "/api/v1/write")
    } else {
        (f.loki_push.clone(), "/loki/api/v1/push")
    };
    let mut request = Request::post(path);
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    if !encoding.is_empty() {
        request = request.header("content-encoding", encoding);
    }
    let request = request.body(Body::from(body.to_vec())).expect("request");
    let status = f.runtime.block_on(async { router.oneshot(request).await.map(|r| r.status()) });
    let status = status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path} answered 500");
    let mut runs = f.runs.lock().expect("lock");
    *runs += 1;
    if *runs % 200 == 0 {
        let _ = f.logs.commit();
    }
});
