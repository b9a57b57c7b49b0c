//! Starts the real `lookout` binary on free ports and talks to it.

#![allow(dead_code)]

pub mod broker;
pub mod browser;
pub mod gateway;
pub mod ui_data;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lookout_ingest::RawCodec;
use tonic::codegen::http::uri::PathAndQuery;

/// How long anything may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Collects a child's stderr (JSON log lines) and waits until it has logged `count`
/// `listening` events; returns the log so far (still growing) and the addresses by server.
pub fn listeners(
    child: &mut Child,
    count: usize,
) -> (Arc<Mutex<Vec<String>>>, std::collections::HashMap<String, SocketAddr>) {
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            sink.lock().unwrap().push(line);
        }
    });
    let mut addresses = std::collections::HashMap::new();
    let deadline = Instant::now() + PATIENCE;
    while addresses.len() < count {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no report of its listeners; log so far:\n{}", log.lock().unwrap().join("\n")));
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "listening" {
            let address: SocketAddr = event["address"].as_str().unwrap().parse().unwrap();
            addresses.insert(event["server"].as_str().unwrap().to_owned(), address);
        }
    }
    (log, addresses)
}

/// A running Lookout.
pub struct Lookout {
    child: Child,
    pub data_dir: PathBuf,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Lookout {
    /// Starts Lookout on `data_dir` with every listener on a free port, and waits until ready.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Lookout {
        let lookout = Lookout::spawn(data_dir, extra);
        lookout.wait_ready();
        lookout
    }

    /// Starts Lookout on `dir/data` with `yaml` as its config file (`dir/config.yaml`) and
    /// `extra` flags, and waits until ready.
    pub fn start_with_config(dir: &Path, yaml: &str, extra: &[&str]) -> Lookout {
        let config = dir.join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        let config = config.to_str().unwrap().to_owned();
        let args: Vec<&str> = ["--config.file", config.as_str()].into_iter().chain(extra.iter().copied()).collect();
        Lookout::start(&dir.join("data"), &args)
    }

    /// Starts Lookout and waits until its listeners are bound, not until it is ready (for
    /// listeners that plain HTTP cannot ask, as with TLS).
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> Lookout {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["serve", "--log.format", "json"])
            .env("LOOKOUT_LOG_LEVEL", "info")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http.listen-address", "127.0.0.1:0"])
            .args(["--otlp.grpc.listen-address", "127.0.0.1:0", "--otlp.http.listen-address", "127.0.0.1:0"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lookout");
        let (log, addresses) = listeners(&mut child, 3);
        Lookout {
            child,
            data_dir: data_dir.to_owned(),
            http: addresses["http"],
            grpc: addresses["otlp-grpc"],
            otlp_http: addresses["otlp-http"],
            log,
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + PATIENCE;
        let client = http_client();
        loop {
            let ready = client.get(format!("http://{}/-/ready", self.http)).send().map(|r| r.status().as_u16());
            if ready.as_ref().is_ok_and(|s| *s == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "lookout not ready: {ready:?}; log:\n{}", self.log().join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lookout's log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The value of one series on `/metrics`, e.g. `metric("x_total", &[("signal", "logs")])`
    /// (labels in alphabetical order, as the exposition writes them).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let series = if labels.is_empty() {
            name.to_owned()
        } else {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            format!("{name}{{{}}}", inner.join(","))
        };
        let text = http_client().get(format!("http://{}/metrics", self.http)).send().unwrap().text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("series {series} not on /metrics"))
            .parse()
            .unwrap()
    }

    /// The OTLP/HTTP URL for a signal path such as `/v1/traces`.
    pub fn otlp_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.otlp_http)
    }

    /// `kill -9`.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit()
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits until a log line contains `text`.
    pub fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.log().iter().any(|l| l.contains(text)) {
            assert!(Instant::now() < deadline, "no log line with {text:?}; log:\n{}", self.log().join("\n"));
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit.
    pub fn wait_exit(mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "lookout did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Lookout {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(PATIENCE).build().unwrap()
}

/// Every record in the WAL of `data_dir`, as `lookout wal dump` prints them.
pub fn wal_dump(data_dir: &Path) -> Vec<serde_json::Value> {
    let out =
        Command::new(env!("CARGO_BIN_EXE_lookout")).args(["wal", "dump", "--data-dir"]).arg(data_dir).output().unwrap();
    assert!(out.status.success(), "wal dump failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// gRPC `Export` paths by signal.
pub const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
pub const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Sends raw protobuf bytes to a gRPC `Export` method; returns the raw reply or the status.
pub async fn grpc_export(
    addr: SocketAddr,
    path: &'static str,
    body: Vec<u8>,
    gzip: bool,
) -> Result<Bytes, tonic::Status> {
    grpc_export_with(addr, path, body, gzip, &[]).await
}

/// [`grpc_export`] with request metadata (`x-scope-orgid`, `authorization`).
pub async fn grpc_export_with(
    addr: SocketAddr,
    path: &'static str,
    body: Vec<u8>,
    gzip: bool,
    metadata: &[(&'static str, &str)],
) -> Result<Bytes, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut client = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
    if gzip {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::from(body));
    for (key, value) in metadata {
        request.metadata_mut().insert(*key, value.parse().unwrap());
    }
    client.unary(request, PathAndQuery::from_static(path), RawCodec).await.map(|r| r.into_inner())
}

/// [`grpc_export`] for a server that may be gone: a failed connection is an error, not a panic.
pub async fn grpc_export_or_error(
    addr: SocketAddr,
    path: &'static str,
    body: Vec<u8>,
    gzip: bool,
) -> Result<Bytes, String> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut client = tonic::client::Grpc::new(channel);
    if gzip {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    client.ready().await.map_err(|e| e.to_string())?;
    client
        .unary(tonic::Request::new(Bytes::from(body)), PathAndQuery::from_static(path), RawCodec)
        .await
        .map(|r| r.into_inner())
        .map_err(|e| e.to_string())
}

/// A Python with the OpenTelemetry SDK: `$LOOKOUT_TEST_PYTHON`, or a venv made once under
/// `target/` from `tests/python/requirements.txt`.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("LOOKOUT_TEST_PYTHON") {
                return PathBuf::from(p);
            }
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-venv");
            let python = venv.join("bin/python");
            let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
            let stamp = venv.join("requirements.txt");
            if std::fs::read(&stamp).ok() != std::fs::read(&requirements).ok() {
                let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap().success();
                assert!(ok, "python3 -m venv failed");
                let ok = Command::new(&python)
                    .args(["-m", "pip", "install", "-q", "-r"])
                    .arg(&requirements)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "pip install of the test requirements failed");
                std::fs::copy(&requirements, &stamp).unwrap();
            }
            python
        })
        .clone()
}

/// One series as Prometheus remote read returns it: labels by name, samples as (ms, value).
pub type ReadSeries = (std::collections::BTreeMap<String, String>, Vec<(i64, f64)>);

/// Reads raw samples over Prometheus remote read (`POST {base}/api/v1/read`) — the same call
/// works against Lookout and against a real Prometheus.
pub fn remote_read(base: &str, matchers: &[(i32, &str, &str)], start_ms: i64, end_ms: i64) -> Vec<ReadSeries> {
    use lookout_query::remote_read::prompb;
    use prost::Message;
    let request = prompb::ReadRequest {
        queries: vec![prompb::Query {
            start_timestamp_ms: start_ms,
            end_timestamp_ms: end_ms,
            matchers: matchers
                .iter()
                .map(|&(t, n, v)| prompb::LabelMatcher { r#type: t, name: n.into(), value: v.into() })
                .collect(),
        }],
        accepted_response_types: vec![0],
    };
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
    let response = http_client()
        .post(format!("{base}/api/v1/read"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-read-version", "0.1.0")
        .body(body)
        .send()
        .unwrap();
    let status = response.status();
    let bytes = response.bytes().unwrap();
    assert!(status.is_success(), "remote read {base}: {status} {}", String::from_utf8_lossy(&bytes));
    let raw = snap::raw::Decoder::new().decompress_vec(&bytes).unwrap();
    let decoded = prompb::ReadResponse::decode(raw.as_slice()).unwrap();
    let mut out: Vec<ReadSeries> = decoded.results[0]
        .timeseries
        .iter()
        .map(|ts| {
            let labels = ts.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            (labels, ts.samples.iter().map(|s| (s.timestamp, s.value)).collect())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Prometheus's remote write request, built from the remote read messages it shares.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<lookout_query::remote_read::prompb::TimeSeries>,
}

/// One remote-write series: `__name__` plus `labels`, sorted by name as the protocol asks.
pub fn series(
    name: &str,
    labels: &[(&str, &str)],
    samples: &[(i64, f64)],
) -> lookout_query::remote_read::prompb::TimeSeries {
    use lookout_query::remote_read::prompb;
    let mut all: Vec<prompb::Label> = labels
        .iter()
        .chain(std::iter::once(&("__name__", name)))
        .map(|(n, v)| prompb::Label { name: (*n).into(), value: (*v).into() })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    prompb::TimeSeries {
        labels: all,
        samples: samples.iter().map(|&(t, v)| prompb::Sample { timestamp: t, value: v }).collect(),
    }
}

/// Sends one remote write 1.0 request (`POST {base}/api/v1/write`) — to Lookout or to a real
/// Prometheus — and returns the status and body.
pub fn remote_write(base: &str, timeseries: Vec<lookout_query::remote_read::prompb::TimeSeries>) -> (u16, String) {
    try_remote_write(base, timeseries).expect("remote write")
}

/// [`remote_write`], with a failure to connect or to read the answer returned (for tests that
/// kill the server while writing).
pub fn try_remote_write(
    base: &str,
    timeseries: Vec<lookout_query::remote_read::prompb::TimeSeries>,
) -> reqwest::Result<(u16, String)> {
    use prost::Message;
    let body = snap::raw::Encoder::new().compress_vec(&WriteRequest { timeseries }.encode_to_vec()).unwrap();
    let r = http_client()
        .post(format!("{base}/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .send()?;
    Ok((r.status().as_u16(), r.text()?))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Percent-encodes `s` for a URL query (everything but RFC 3986's unreserved characters).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `check` until it returns `Some`, failing after [`PATIENCE`] with `what`.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A real Prometheus (Debian's package) on a free port, killed when dropped.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus with the configuration `config(port)` (given its own port) and
    /// `dir` for its files, and waits until it is ready.
    pub fn start(dir: &Path, config: impl FnOnce(u16) -> String) -> Prometheus {
        Self::start_with_args(dir, &[], config)
    }

    /// [`Prometheus::start`] with more command-line flags.
    pub fn start_with_args(dir: &Path, extra: &[&str], config: impl FnOnce(u16) -> String) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config(port)).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus from Debian's package (apt-get install prometheus)");
        let prometheus = Prometheus { child, url: format!("http://127.0.0.1:{port}"), port };
        eventually("prometheus ready", || {
            http_client().get(format!("{}/-/ready", prometheus.url)).send().ok()?.status().is_success().then_some(())
        });
        prometheus
    }
}

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on a free port, killed when dropped.
pub struct Alertmanager {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Starts Alertmanager with `config` in `dir`, clustering off, and waits until ready.
    pub fn start(dir: &Path, config: &str) -> Alertmanager {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let file = dir.join("alertmanager.yml");
        std::fs::write(&file, config).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager from Debian's package (apt-get install prometheus-alertmanager)");
        let alertmanager = Alertmanager { child, url: format!("http://127.0.0.1:{port}") };
        eventually("alertmanager ready", || {
            http_client().get(format!("{}/-/ready", alertmanager.url)).send().ok()?.status().is_success().then_some(())
        });
        alertmanager
    }

    /// `GET /api/v2/alerts` with these query parameters.
    pub fn alerts(&self, params: &[(&str, &str)]) -> Vec<serde_json::Value> {
        let body =
            http_client().get(format!("{}/api/v2/alerts", self.url)).query(params).send().unwrap().text().unwrap();
        serde_json::from_str(&body).unwrap()
    }
}

/// A plain HTTP receiver on a free port that answers every request with `status` and keeps the
/// JSON bodies it was sent.
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    /// Starts the receiver.
    pub fn start(status: u16) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let sink = Arc::clone(&sink);
                std::thread::spawn(move || serve_connection(stream, status, &sink));
            }
        });
        Receiver { url, bodies }
    }

    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// Answers HTTP/1.1 requests on one connection until the peer closes it.
fn serve_connection(stream: std::net::TcpStream, status: u16, sink: &Mutex<Vec<serde_json::Value>>) {
    use std::io::{Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(json) = serde_json::from_slice(&body) {
            sink.lock().unwrap().push(json);
        }
        let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Spans of a Tempo JSON trace keyed by name: (service, parent name, the span itself).
pub fn spans_by_name(
    batches: &serde_json::Value,
) -> std::collections::HashMap<String, (String, Option<String>, serde_json::Value)> {
    let mut by_id = std::collections::HashMap::new();
    let mut spans = Vec::new();
    for batch in batches.as_array().unwrap() {
        let service = batch["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "service.name")
            .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned())
            .unwrap();
        for scope in batch["scopeSpans"].as_array().unwrap() {
            for span in scope["spans"].as_array().unwrap() {
                by_id.insert(span["spanId"].as_str().unwrap().to_owned(), span["name"].as_str().unwrap().to_owned());
                spans.push((service.clone(), span.clone()));
            }
        }
    }
    spans
        .into_iter()
        .map(|(service, span)| {
            let parent = span["parentSpanId"].as_str().filter(|p| !p.is_empty()).and_then(|p| by_id.get(p).cloned());
            (span["name"].as_str().unwrap().to_owned(), (service, parent, span))
        })
        .collect()
}
