use serde::{Deserialize, Serialize};

use super::{AnyValue, Attributes, Label, Labels, SpanId, TraceId};

/// One log record (or event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When the event happened, nanoseconds since the Unix epoch (0 if unknown).
    pub time_unix_nano: u64,
    /// When the collector saw it, nanoseconds since the Unix epoch (0 if unknown).
    pub observed_time_unix_nano: u64,
    /// OTLP severity number (0 unspecified, 1–24 TRACE..FATAL4).
    pub severity_number: i32,
    /// Severity as the source spelled it.
    pub severity_text: String,
    /// The body: usually a string, may be structured.
    pub body: AnyValue,
    /// Record attributes.
    pub attributes: Attributes,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags.
    pub flags: u32,
    /// Trace the record belongs to, if any.
    pub trace_id: Option<TraceId>,
    /// Span the record belongs to, if any.
    pub span_id: Option<SpanId>,
    /// Event name, for records that are events.
    pub event_name: String,
}

/// Log entries as Loki holds them: streams identified by their label set, each entry a
/// timestamp, a line and structured metadata. What Loki's push API sends, and what OTLP log
/// records are mapped to before they are indexed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamBatch {
    /// Streams with their entries.
    pub streams: Vec<Stream>,
}

/// One stream's entries in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// Stream labels (sorted by name).
    pub labels: Labels,
    /// Entries in the order they were sent.
    pub entries: Vec<Entry>,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Nanoseconds since the Unix epoch.
    pub time_unix_nano: i64,
    /// The line.
    pub line: String,
    /// Structured metadata, in the order it was sent.
    pub metadata: Vec<Label>,
}

impl StreamBatch {
    /// Entries in the batch.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }
}
