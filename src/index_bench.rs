//! `lookout loadgen --index-into DIR`: the ceiling figures of the log benchmark. The same
//! pre-encoded OTLP requests the server would receive are indexed in this process, with no
//! network and no WAL: by Lookout's log store (decode, convert, map to streams, index), and,
//! with `--raw-tantivy`, by a bare tantivy index of the same lines (time, stream, line) —
//! tantivy's own rate on these documents.

use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use lookout_storage::logs::{LogStore, LogStoreOptions};
use lookout_storage::{Payload, Tenant, WalPosition};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

/// Indexes `batches` into a log store in `dir`, its lines at zstd `compression_level`, and
/// prints the rate.
pub fn into_store(dir: &Path, batches: &[Bytes], compression_level: i32) -> anyhow::Result<()> {
    let store = LogStore::open(dir, LogStoreOptions { compression_level, ..LogStoreOptions::default() })?;
    let tenant = Tenant::default();
    let started = Instant::now();
    let mut lines = 0u64;
    for (i, body) in batches.iter().enumerate() {
        let request = ExportLogsServiceRequest::decode(body.as_ref())?;
        let converted = lookout_ingest::convert_logs(request);
        let Payload::Logs(batch) = converted.payload else { continue };
        lines += batch.items().count() as u64;
        store.append_otlp(WalPosition { segment: 1, offset: i as u64 }, &tenant, &batch)?;
        if i % 100 == 99 {
            store.commit()?;
        }
    }
    store.close()?;
    report("store", lines, started, dir);
    Ok(())
}

/// Indexes the lines of `batches` into a bare tantivy index (time, stream, line) in `dir`.
pub fn into_tantivy(dir: &Path, batches: &[Bytes]) -> anyhow::Result<()> {
    use tantivy::schema::{FAST, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
    let mut b = Schema::builder();
    let ts = b.add_i64_field("ts", FAST);
    let stream = b.add_u64_field("stream", INDEXED | FAST);
    let line = b.add_text_field(
        "line",
        TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_index_option(IndexRecordOption::Basic))
            .set_stored(),
    );
    std::fs::create_dir_all(dir)?;
    let index = tantivy::Index::create_in_dir(dir, b.build())?;
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 32 << 20)?;
    let started = Instant::now();
    let mut lines = 0u64;
    for (i, body) in batches.iter().enumerate() {
        let request = ExportLogsServiceRequest::decode(body.as_ref())?;
        for (r, resource) in request.resource_logs.iter().enumerate() {
            for record in resource.scope_logs.iter().flat_map(|s| &s.log_records) {
                let text = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => s.as_str(),
                    _ => "",
                };
                let mut doc = tantivy::TantivyDocument::new();
                doc.add_i64(ts, record.time_unix_nano as i64);
                doc.add_u64(stream, r as u64);
                doc.add_text(line, text);
                writer.add_document(doc)?;
                lines += 1;
            }
        }
        if i % 100 == 99 {
            writer.commit()?;
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    report("tantivy", lines, started, dir);
    Ok(())
}

fn report(what: &str, lines: u64, started: Instant, dir: &Path) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{what}_lines={lines} {what}_seconds={secs:.1} {what}_lines_per_s={:.0} {what}_disk_bytes={}",
        lines as f64 / secs,
        du(dir)
    );
}

/// Bytes of the files under `dir`.
pub fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
