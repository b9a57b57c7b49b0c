//! The CPU part of the receive path on batches of 1,000 items, beside raw protobuf decoding
//! (the ceiling): `cargo bench --bench receive`. End-to-end figures come from `lookout loadgen`
//! (BENCHMARKS.md).

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lookout_ingest::synthetic::{self, Rng};
use lookout_storage::{Tenant, TenantPayload, encode_record};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

const BATCH: usize = 1000;
const NOW: u64 = 1_764_000_000_000_000_000;

fn receive(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    let traces = synthetic::traces(&mut rng, BATCH, NOW).encode_to_vec();
    let logs = synthetic::logs(&mut rng, BATCH, NOW).encode_to_vec();
    let metrics = synthetic::metrics(&mut rng, BATCH, NOW).encode_to_vec();
    let mut group = c.benchmark_group("receive");
    group.throughput(Throughput::Elements(BATCH as u64));
    let record = |payload| encode_record(&TenantPayload { tenant: Tenant::default(), payload }).unwrap();

    group.bench_with_input(BenchmarkId::new("decode", "traces"), &traces, |b, body| {
        b.iter(|| ExportTraceServiceRequest::decode(body.as_slice()).unwrap())
    });
    group.bench_with_input(BenchmarkId::new("decode+convert+encode", "traces"), &traces, |b, body| {
        b.iter(|| {
            record(lookout_ingest::convert_traces(ExportTraceServiceRequest::decode(body.as_slice()).unwrap()).payload)
        })
    });
    group.bench_with_input(BenchmarkId::new("decode", "logs"), &logs, |b, body| {
        b.iter(|| ExportLogsServiceRequest::decode(body.as_slice()).unwrap())
    });
    group.bench_with_input(BenchmarkId::new("decode+convert+encode", "logs"), &logs, |b, body| {
        b.iter(|| {
            record(lookout_ingest::convert_logs(ExportLogsServiceRequest::decode(body.as_slice()).unwrap()).payload)
        })
    });
    group.bench_with_input(BenchmarkId::new("decode", "metrics"), &metrics, |b, body| {
        b.iter(|| ExportMetricsServiceRequest::decode(body.as_slice()).unwrap())
    });
    group.bench_with_input(BenchmarkId::new("decode+convert+encode", "metrics"), &metrics, |b, body| {
        b.iter(|| {
            record(
                lookout_ingest::convert_metrics(ExportMetricsServiceRequest::decode(body.as_slice()).unwrap()).payload,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, receive);
criterion_main!(benches);
