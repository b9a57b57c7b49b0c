use std::time::Duration;

use http::StatusCode;
use tonic::Code;

/// Everything that can go wrong while receiving telemetry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body could not be decoded (bad protobuf, bad JSON, bad gzip).
    #[error("{0}")]
    Decode(String),
    /// The request's `Content-Type` is not one Lookout reads.
    #[error("unsupported content type {0:?}: use application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    /// The request's `Content-Encoding` is not one Lookout reads.
    #[error("unsupported content encoding {0:?}: use gzip or none")]
    UnsupportedContentEncoding(String),
    /// The body, or what it decompresses to, is larger than allowed.
    #[error("request body exceeds the limit of {limit} bytes{}", if *.decompressed { " once decompressed" } else { "" })]
    TooLarge {
        /// The configured limit.
        limit: usize,
        /// Whether the limit was hit while decompressing.
        decompressed: bool,
    },
    /// The `X-Scope-OrgID` header or metadata is not a valid tenant id.
    #[error("invalid X-Scope-OrgID: {0}")]
    InvalidTenant(String),
    /// Too many requests are being processed; the client should retry later.
    #[error("too many concurrent export requests ({limit} in flight); retry after {}s", retry_after.as_secs())]
    Overloaded {
        /// The in-flight limit that was hit.
        limit: usize,
        /// When to retry.
        retry_after: Duration,
    },
    /// An ingestion rate limit refused the request (`limits`); the message names the limit.
    #[error("{message}")]
    RateLimited {
        /// Which limit, its rate and burst, and what the request needed.
        message: String,
        /// When it would fit; `None` when it never will (larger than the burst).
        retry_after: Option<Duration>,
    },
    /// A per-tenant limit on what may be active at once refused the request (`limits`): too
    /// many log streams. The message names the limit; retrying helps only once some go idle.
    #[error("{message}")]
    LimitReached {
        /// Which limit, for which tenant.
        message: String,
    },
    /// Part of a Loki push broke a validation limit (a stream's labels): that part was refused
    /// and the rest stored. The message names the limit; retrying does not help.
    #[error("{message}")]
    Invalid {
        /// Which limit, and the first stream past it.
        message: String,
    },
    /// A bug: processing the request failed in a way no input should cause.
    #[error("internal error: {0}")]
    Internal(String),
    /// Lookout cannot make data durable right now (shutting down, or the WAL failed).
    #[error("cannot accept data right now: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
        /// When to retry.
        retry_after: Duration,
    },
}

impl Error {
    /// The HTTP status for this error, as the OTLP/HTTP specification assigns them.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Error::Decode(_) | Error::InvalidTenant(_) | Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::UnsupportedContentType(_) | Error::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Overloaded { .. } | Error::RateLimited { retry_after: Some(_), .. } | Error::LimitReached { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Error::RateLimited { retry_after: None, .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code for this error, as the OTLP/gRPC specification assigns them.
    pub fn grpc_code(&self) -> Code {
        match self {
            Error::Decode(_) | Error::InvalidTenant(_) | Error::Invalid { .. } => Code::InvalidArgument,
            Error::UnsupportedContentType(_) | Error::UnsupportedContentEncoding(_) => Code::Unimplemented,
            Error::TooLarge { .. }
            | Error::Overloaded { .. }
            | Error::RateLimited { .. }
            | Error::LimitReached { .. } => Code::ResourceExhausted,
            Error::Unavailable { .. } => Code::Unavailable,
            Error::Internal(_) => Code::Internal,
        }
    }

    /// How long the client should wait before retrying, for errors that are worth a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Overloaded { retry_after, .. } | Error::Unavailable { retry_after, .. } => Some(*retry_after),
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Result with the ingest crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
