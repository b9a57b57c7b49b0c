//! OTLP (protobuf types, however they were decoded) → Lookout's data model.
//!
//! Conversion takes the request by value so strings and vectors move instead of being copied.
//! Items that break OTLP's rules (ids of the wrong length, a metric without a name …) are left
//! out and counted; the reply's `partial_success` reports how many and why, as the OTLP
//! specification asks.

mod common;
mod logs;
mod metrics;
mod trace;

pub use logs::logs;
pub use metrics::metrics;
pub use trace::traces;

use lookout_storage::Payload;

/// The result of converting one export request.
#[derive(Debug)]
pub struct Converted {
    /// What was kept.
    pub payload: Payload,
    /// Items that were left out.
    pub rejected: u64,
    /// Why the first rejected item was left out, with how many followed it.
    pub message: String,
}

/// Counts rejected items and remembers the first reason.
#[derive(Default)]
pub(crate) struct Rejections {
    count: u64,
    first: Option<String>,
}

impl Rejections {
    pub(crate) fn reject(&mut self, n: u64, reason: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        if self.first.is_none() {
            self.first = Some(reason());
        }
        self.count += n;
    }

    pub(crate) fn finish(self, payload: Payload, unit: &str) -> Converted {
        let message = match self.first {
            None => String::new(),
            Some(first) if self.count == 1 => first,
            Some(first) => format!("{} {unit} rejected; first: {first}", self.count),
        };
        Converted {
            payload,
            rejected: self.count,
            message,
        }
    }
}
