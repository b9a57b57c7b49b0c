//! Lookout's front door: OTLP over gRPC and HTTP, converted into the storage model and made
//! durable in the WAL before the sender hears "ok".
//!
//! # Layout
//! - `grpc` and `http`: the transports. They extract the body, tenant and encoding, call the
//!   [`Ingester`], and shape its answer (or error) the way the OTLP specification says.
//! - `pipeline`: the [`Ingester`], shared by every transport: admission (a bound on requests in
//!   flight), decompression, decoding, conversion, the WAL append.
//! - `convert`: OTLP types → `lookout_storage` model, with per-item validation.
//! - `error`: one error kind → HTTP status and gRPC code.

mod convert;
pub mod disk;
mod error;
pub mod generator;
mod grpc;
mod http;
mod intake;
pub mod limits;
pub mod loki_push;
mod metrics;
mod pipeline;
pub mod prom;
pub mod remote_write;
mod rpc_status;
pub mod scrape;
pub mod synthetic;
mod truncate;

pub use convert::{Converted, logs as convert_logs, metrics as convert_metrics, traces as convert_traces};
pub use disk::DiskGuard;
pub use error::{Error, Result};
pub use grpc::{LogsService, MetricsService, RawCodec, TraceService};
pub use http::{CorsOptions, router as http_router};
pub use intake::{IntakeOptions, MetricsIntake};
pub use limits::{ActiveLimits, Rate, RateLimiter, RateLimits, StreamLabelLimits};
pub use metrics::IngestMetrics;
pub use pipeline::{ExportReply, ExportRequest, IngestOptions, Ingester, Limiters, Transport, decode};
pub use rpc_status::{RetryInfo, RpcStatus};

use lookout_storage::Tenant;

/// The tenant named by an `X-Scope-OrgID` header or gRPC metadata value; `anonymous` if absent.
pub fn tenant_from(header: Option<&[u8]>) -> Result<Tenant> {
    match header {
        None => Ok(Tenant::default()),
        Some(raw) => {
            let text = std::str::from_utf8(raw).map_err(|_| Error::InvalidTenant("not UTF-8".into()))?;
            Tenant::new(text.trim()).map_err(|e| Error::InvalidTenant(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests;
