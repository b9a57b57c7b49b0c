//! `lookout loadgen`: sends pre-encoded OTLP/gRPC batches to a running Lookout as fast as it
//! accepts them and reports the rate. Encoding happens before the clock starts, so the figure
//! is the server's receive path, not the generator's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use lookout_ingest::RawCodec;
use lookout_ingest::synthetic::{self, Rng};
use prost::Message;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// Flags of `lookout loadgen`.
#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// OTLP/gRPC endpoint of the Lookout under test.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    endpoint: String,
    /// Which signal to send.
    #[arg(long, value_enum, default_value = "traces")]
    signal: LoadSignal,
    /// Spans, log records or data points per request.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Concurrent senders, each on its own connection.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// How long to send, e.g. 30s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    duration: Duration,
    /// Distinct pre-encoded requests to cycle through.
    #[arg(long, default_value_t = 64)]
    distinct_batches: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pid of the server, to report its peak resident memory (VmHWM) at the end.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Send exactly this many freshly generated batches (the seed's first N) instead of
    /// cycling through `--distinct-batches` for `--duration`: every trace is then distinct.
    #[arg(long)]
    fresh_batches: Option<usize>,
    /// Instead of sending, fetch this many traces of the same synthetic data (same seed and
    /// batches, so sent earlier) by id from the Tempo API at `--query-url`, and report latency.
    #[arg(long)]
    trace_by_id: Option<usize>,
    /// With `--signal lines`: the span of event time the lines cover, ending now.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "6h")]
    span: Duration,
    /// With `--fresh-batches`: generate every batch before the clock starts (memory for speed),
    /// so that the figure is the server's alone.
    #[arg(long)]
    pregenerate: bool,
    /// Instead of sending, index the (pre-generated) batches into a log store in this folder,
    /// in this process: the store's ceiling for the same requests.
    #[arg(long)]
    index_into: Option<std::path::PathBuf>,
    /// With `--index-into`: a bare tantivy index of the lines instead of the log store.
    #[arg(long)]
    raw_tantivy: bool,
    /// With `--index-into`: the log store's zstd level (`logs.compression_level`).
    #[arg(long, default_value_t = lookout_storage::logs::LogStoreOptions::default().compression_level)]
    compression_level: i32,
    /// Base URL of Lookout's query API for `--trace-by-id`.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    query_url: String,
    /// Send this many requests per second in all, for `--duration`, each generated as it is
    /// due with the current time (the soak benchmark); 0 sends them as fast as they are taken.
    #[arg(long)]
    rate: Option<f64>,
    /// Print the rate, latency and failures of each window of this length as it ends.
    #[arg(long, value_parser = humantime::parse_duration)]
    report_every: Option<Duration>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LoadSignal {
    Traces,
    Logs,
    Metrics,
    /// Log lines of 100–300 bytes from 50 streams, spread over `--span` (the log benchmark).
    Lines,
}

impl LoadSignal {
    fn path(self) -> &'static str {
        match self {
            LoadSignal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            LoadSignal::Logs | LoadSignal::Lines => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            LoadSignal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        }
    }
}

/// Where the senders take their requests from.
#[derive(Clone)]
enum Source {
    /// Pre-encoded batches, cycled until the deadline.
    Cycle(Arc<Vec<Bytes>>, Instant),
    /// Batches generated while sending, until the generator stops.
    Fresh(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Bytes>>>),
    /// Batches generated before the clock started, each sent once.
    List(Arc<Vec<Bytes>>, Arc<AtomicU64>),
}

impl Source {
    async fn next(&self, i: &mut usize) -> Option<Bytes> {
        match self {
            Source::Cycle(batches, deadline) => {
                *i += 1;
                (Instant::now() < *deadline).then(|| batches[*i % batches.len()].clone())
            }
            Source::Fresh(rx) => rx.lock().await.recv().await,
            Source::List(batches, next) => batches.get(next.fetch_add(1, Ordering::Relaxed) as usize).cloned(),
        }
    }
}

/// Runs the load (or the trace-by-id queries) and prints the summary.
pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let now = unix_nanos();
    if let Some(count) = args.trace_by_id {
        return trace_by_id(&args, count, now).await;
    }
    let (signal, size, seed) = (args.signal, args.batch_size, args.seed);
    let batches_total = args.fresh_batches.unwrap_or(args.distinct_batches).max(1);
    let plan = Plan {
        start: now.saturating_sub(args.span.as_nanos() as u64),
        step: (args.span.as_nanos() as u64 / (batches_total * size).max(1) as u64).max(1),
    };
    let raw = Arc::new(AtomicU64::new(0));
    let (source, generator) = match args.fresh_batches {
        _ if args.rate.is_some() => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(args.concurrency.max(1) * 2);
            let pacing = Pacing { rate: args.rate.unwrap_or(0.0), until: Instant::now() + args.duration };
            let counted = Arc::clone(&raw);
            let generator = tokio::task::spawn_blocking(move || pacing.generate(signal, seed, size, &tx, &counted));
            (Source::Fresh(Arc::new(tokio::sync::Mutex::new(rx))), Some(generator))
        }
        Some(total) if args.pregenerate || args.index_into.is_some() => {
            let mut rng = Rng::new(seed);
            let batches: Vec<Bytes> =
                (0..total).map(|k| batch(signal, &mut rng, size, now, plan.at(k, size), &raw)).collect();
            if let Some(dir) = &args.index_into {
                println!("raw_line_bytes={}", raw.load(Ordering::Relaxed));
                let (dir, raw_tantivy, level) = (dir.clone(), args.raw_tantivy, args.compression_level);
                return tokio::task::spawn_blocking(move || {
                    if raw_tantivy {
                        crate::index_bench::into_tantivy(&dir, &batches)
                    } else {
                        crate::index_bench::into_store(&dir, &batches, level)
                    }
                })
                .await?;
            }
            (Source::List(Arc::new(batches), Arc::new(AtomicU64::new(0))), None)
        }
        Some(total) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(args.concurrency.max(1) * 2);
            let counted = Arc::clone(&raw);
            let generator = tokio::task::spawn_blocking(move || {
                let mut rng = Rng::new(seed);
                for k in 0..total {
                    if tx.blocking_send(batch(signal, &mut rng, size, now, plan.at(k, size), &counted)).is_err() {
                        break;
                    }
                }
            });
            (Source::Fresh(Arc::new(tokio::sync::Mutex::new(rx))), Some(generator))
        }
        None => {
            let mut rng = Rng::new(seed);
            let batches = (0..args.distinct_batches.max(1))
                .map(|k| batch(signal, &mut rng, size, now, plan.at(k, size), &raw))
                .collect();
            (Source::Cycle(Arc::new(batches), Instant::now() + args.duration), None)
        }
    };
    let (sent, failed, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let window = Arc::new(std::sync::Mutex::new(Window::default()));
    let reporter = args
        .report_every
        .map(|every| tokio::spawn(Window::report(Arc::clone(&window), every, args.batch_size, args.server_pid)));
    let mut workers = Vec::new();
    for worker in 0..args.concurrency.max(1) {
        let channel = Channel::from_shared(args.endpoint.clone())?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.endpoint))?;
        let (source, sent, failed, bytes, window) =
            (source.clone(), Arc::clone(&sent), Arc::clone(&failed), Arc::clone(&bytes), Arc::clone(&window));
        let path = args.signal.path();
        workers.push(tokio::spawn(async move {
            let mut client = tonic::client::Grpc::new(channel);
            let mut latencies = Vec::new();
            let mut i = worker;
            while let Some(body) = source.next(&mut i).await {
                let len = body.len() as u64;
                let t = Instant::now();
                let outcome = match client.ready().await {
                    Ok(()) => client
                        .unary(tonic::Request::new(body), PathAndQuery::from_static(path), RawCodec)
                        .await
                        .map(|_| ()),
                    Err(e) => Err(tonic::Status::unavailable(e.to_string())),
                };
                latencies.push(t.elapsed());
                window.lock().unwrap_or_else(|e| e.into_inner()).add(t.elapsed(), outcome.is_ok());
                match outcome {
                    Ok(()) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(len, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let source_kind = if matches!(source, Source::Cycle(..)) { "cycle" } else { "each once" };
    drop(source);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    if let Some(generator) = generator {
        generator.await?;
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| percentile_ms(&latencies, p);
    let ok = sent.load(Ordering::Relaxed);
    let sent_bytes = bytes.load(Ordering::Relaxed);
    println!(
        "signal={:?} batch_size={} concurrency={} duration_s={elapsed:.1}",
        args.signal, args.batch_size, args.concurrency
    );
    println!(
        "requests_ok={ok} requests_failed={} request_bytes={}",
        failed.load(Ordering::Relaxed),
        sent_bytes.checked_div(ok).unwrap_or(0)
    );
    println!(
        "items_per_s={:.0} mb_per_s={:.1}{}",
        ok as f64 * args.batch_size as f64 / elapsed,
        sent_bytes as f64 / elapsed / 1e6,
        if args.fresh_batches.is_some() && !args.pregenerate { " (generation on the client included)" } else { "" }
    );
    println!("latency_p50_ms={:.2} latency_p99_ms={:.2}", pct(0.5), pct(0.99));
    if matches!(args.signal, LoadSignal::Lines) && !matches!(source_kind, "cycle") {
        println!("raw_line_bytes={}", raw.load(Ordering::Relaxed));
    }
    if let Some(pid) = args.server_pid {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        for line in status.lines().filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS")) {
            println!("server_{}", line.split_whitespace().collect::<Vec<_>>().join("="));
        }
    }
    Ok(())
}

/// The paced generator of `--rate`: a batch due every `1 / rate` seconds until `until`, its
/// events at the time it is made. A generator that falls behind (the senders are slower than
/// the rate) sends what is due at once; the window reports show the rate reached.
struct Pacing {
    rate: f64,
    until: Instant,
}

impl Pacing {
    fn generate(
        self,
        signal: LoadSignal,
        seed: u64,
        size: usize,
        tx: &tokio::sync::mpsc::Sender<Bytes>,
        raw: &AtomicU64,
    ) {
        let mut rng = Rng::new(seed);
        let begun = Instant::now();
        let period = (self.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.rate));
        let mut last = 0;
        for k in 0u64.. {
            if let Some(due) = period.map(|p| begun + p.mul_f64(k as f64)) {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            if Instant::now() >= self.until {
                break;
            }
            // Strictly increasing, a millisecond apart at least, so that no metric sample of a
            // series repeats a timestamp.
            let now = unix_nanos().max(last + 1_000_000);
            last = now;
            let second = 1_000_000_000;
            let at = (0, now.saturating_sub(second), second / size.max(1) as u64);
            if tx.blocking_send(batch(signal, &mut rng, size, now, at, raw)).is_err() {
                break;
            }
        }
    }
}

/// The `p` quantile of sorted latencies, in milliseconds (0 when there are none).
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// What the senders did since the last `--report-every` line.
#[derive(Default)]
struct Window {
    latencies: Vec<Duration>,
    failed: u64,
}

impl Window {
    fn add(&mut self, latency: Duration, ok: bool) {
        if ok {
            self.latencies.push(latency);
        } else {
            self.failed += 1;
        }
    }

    /// Prints a line per window until aborted: the seconds since the start, the items per
    /// second acknowledged, the requests' p50 and p99, failures, and the server's memory.
    async fn report(window: Arc<std::sync::Mutex<Window>>, every: Duration, batch_size: usize, pid: Option<u32>) {
        let started = Instant::now();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            ticks.tick().await;
            let Window { mut latencies, failed } =
                std::mem::take(&mut *window.lock().unwrap_or_else(|e| e.into_inner()));
            latencies.sort();
            let ms = |p: f64| percentile_ms(&latencies, p);
            let status =
                pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok()).unwrap_or_default();
            let kib = |field: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .unwrap_or("")
                    .to_owned()
            };
            // RssAnon is the server's own memory; the rest of VmRSS is mapped files (indexes,
            // blocks) that the kernel may drop.
            let (rss, anon) = (kib("VmRSS:"), kib("RssAnon:"));
            println!(
                "window t_s={:.0} items_per_s={:.0} latency_p50_ms={:.2} latency_p99_ms={:.2} requests_failed={failed} server_rss_kib={rss} server_rss_anon_kib={anon}",
                started.elapsed().as_secs_f64(),
                (latencies.len() * batch_size) as f64 / every.as_secs_f64(),
                ms(0.5),
                ms(0.99),
            );
        }
    }
}

/// Event times of the `lines` signal: the whole run spread evenly from `start`.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: u64,
    step: u64,
}

impl Plan {
    /// The index of the first line of batch `k`, and the run's start and step.
    fn at(self, k: usize, size: usize) -> (u64, u64, u64) {
        ((k * size) as u64, self.start, self.step)
    }
}

/// One synthetic batch of the chosen signal, encoded; `raw` counts the bytes of the lines.
fn batch(signal: LoadSignal, rng: &mut Rng, size: usize, now: u64, at: (u64, u64, u64), raw: &AtomicU64) -> Bytes {
    Bytes::from(match signal {
        LoadSignal::Traces => synthetic::traces(rng, size, now).encode_to_vec(),
        LoadSignal::Logs => synthetic::logs(rng, size, now).encode_to_vec(),
        LoadSignal::Metrics => synthetic::metrics(rng, size, now).encode_to_vec(),
        LoadSignal::Lines => {
            let request = synthetic::log_lines(rng, size, at.0, at.1, at.2);
            let bytes: usize = request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .filter_map(|r| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.len()),
                    _ => None,
                })
                .sum();
            raw.fetch_add(bytes as u64, Ordering::Relaxed);
            request.encode_to_vec()
        }
    })
}

/// Fetches `count` traces by id, cycling through the trace ids of the synthetic batches, one
/// request at a time, and prints latency percentiles.
async fn trace_by_id(args: &LoadgenArgs, count: usize, now: u64) -> anyhow::Result<()> {
    use http_body_util::BodyExt;
    let mut rng = Rng::new(args.seed);
    let mut ids = Vec::new();
    for _ in 0..args.fresh_batches.unwrap_or(args.distinct_batches).max(1) {
        let request = synthetic::traces(&mut rng, args.batch_size, now);
        for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
            if span.parent_span_id.is_empty() {
                ids.push(hex::encode(&span.trace_id));
            }
        }
    }
    anyhow::ensure!(!ids.is_empty(), "the synthetic data has no traces");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let mut latencies = Vec::with_capacity(count);
    let (mut found, mut spans) = (0usize, 0usize);
    for i in 0..count {
        // Spread the picks over the whole id list.
        let id = &ids[(i * 7919 + i * i) % ids.len()];
        let uri: hyper::Uri = format!("{}/api/traces/{id}", args.query_url).parse()?;
        let t = Instant::now();
        let response = client.get(uri).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        latencies.push(t.elapsed());
        if status == 200 {
            found += 1;
            spans += serde_json::from_slice::<serde_json::Value>(&body)?["batches"].as_array().map_or(0, |b| {
                b.iter()
                    .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
                    .map(|s| s["spans"].as_array().map_or(0, Vec::len))
                    .sum()
            });
        }
    }
    latencies.sort();
    let pct = |p: f64| percentile_ms(&latencies, p);
    println!("trace_by_id requests={count} found={found} spans={spans}");
    println!("latency_p50_ms={:.2} latency_p99_ms={:.2} latency_max_ms={:.2}", pct(0.5), pct(0.99), pct(1.0));
    Ok(())
}
