//! Lookout's storage: the data model every signal is converted into, and the write-ahead log
//! that makes an accepted batch durable before its sender hears "ok".
//!
//! # Layout
//! - `model`: tenants, resources, scopes, spans, log records, metrics (what ingest produces
//!   and the stores consume).
//! - `metrics`: the time-series store, a Gorilla-chunk head cut into compressed blocks, with
//!   a series index for label matchers (`storage/docs/metrics.md`).
//! - `traces`: the span store, a head in memory cut into arrow blocks with a trace-id index
//!   (`storage/docs/traces.md`).
//! - `wal`: segment files of checksummed records, written by one thread with group commit,
//!   replayed on start with torn or corrupt tails truncated. Format: `storage/docs/wal.md`.
//!
//! Data comes in from `lookout-ingest` (already converted) and goes to the WAL; on start the
//! WAL is replayed to whoever holds the stores.

mod error;
mod fs;
pub mod logs;
pub mod metrics;
mod model;
mod quarantine;
mod traces;
mod wal;

pub use error::{Error, Result};
pub use model::*;
pub use traces::{
    AttributeValues, Everything, KeyValues, SpanColumns, SpanFilter, SpanStore, SpanStoreOptions, SpanStoreStats,
    TraceSpan,
};
pub use wal::{
    Apply, FsyncPolicy, ReplayStats, Wal, WalMetrics, WalNeed, WalOptions, WalPosition, WalReader, encode_record,
};
