use serde::{Deserialize, Serialize};

use super::{Attributes, SpanId, TraceId};

/// One span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// Parent span, `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C `tracestate`.
    pub trace_state: String,
    /// W3C trace flags (low 8 bits) and the OTLP is-remote bits.
    pub flags: u32,
    /// Operation name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// Span attributes.
    pub attributes: Attributes,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Timed events.
    pub events: Vec<SpanEvent>,
    /// Events the sender dropped.
    pub dropped_events_count: u32,
    /// Links to other spans.
    pub links: Vec<SpanLink>,
    /// Links the sender dropped.
    pub dropped_links_count: u32,
    /// Outcome.
    pub status: Status,
}

impl Span {
    /// Duration in nanoseconds (zero if the end is before the start).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano.saturating_sub(self.start_time_unix_nano)
    }
}

/// OTLP span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpanKind {
    /// Not specified by the sender.
    Unspecified,
    /// An internal operation.
    Internal,
    /// Handles a synchronous request.
    Server,
    /// Makes a synchronous request.
    Client,
    /// Sends an asynchronous message.
    Producer,
    /// Receives an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// From the OTLP enum number; unknown numbers become `Unspecified`.
    pub fn from_otlp(n: i32) -> SpanKind {
        match n {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// A timed event inside a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    /// When, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Event name.
    pub name: String,
    /// Event attributes.
    pub attributes: Attributes,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanLink {
    /// Linked trace.
    pub trace_id: TraceId,
    /// Linked span.
    pub span_id: SpanId,
    /// W3C `tracestate` of the linked span.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Attributes,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Trace flags of the linked span.
    pub flags: u32,
}

/// A span's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Unset, ok or error.
    pub code: StatusCode,
    /// Developer-facing message, usually for errors.
    pub message: String,
}

/// OTLP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StatusCode {
    /// Not set.
    Unset,
    /// Explicitly ok.
    Ok,
    /// An error.
    Error,
}

impl StatusCode {
    /// From the OTLP enum number; unknown numbers become `Unset`.
    pub fn from_otlp(n: i32) -> StatusCode {
        match n {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}
