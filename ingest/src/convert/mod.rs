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

use lookout_storage::{Batch, Payload, Resource, ResourceGroup, Scope, ScopeGroup};

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
        Converted { payload, rejected: self.count, message }
    }
}

/// Walks OTLP's resource → scope → item nesting, converting each item with its position
/// (`[resource, scope, item]` indexes) and keeping only the groups that still hold items.
pub(crate) fn regroup<I, T, Scopes>(
    resources: impl IntoIterator<Item = (Resource, Scopes)>,
    mut convert: impl FnMut(I, [usize; 3]) -> Option<T>,
) -> Batch<T>
where
    Scopes: IntoIterator<Item = (Scope, Vec<I>)>,
{
    let mut batch = Batch::default();
    for (r, (resource, scopes)) in resources.into_iter().enumerate() {
        let mut kept = Vec::new();
        for (s, (scope, items)) in scopes.into_iter().enumerate() {
            let items: Vec<T> =
                items.into_iter().enumerate().filter_map(|(i, item)| convert(item, [r, s, i])).collect();
            if !items.is_empty() {
                kept.push(ScopeGroup { scope, items });
            }
        }
        if !kept.is_empty() {
            batch.resources.push(ResourceGroup { resource, scopes: kept });
        }
    }
    batch
}
