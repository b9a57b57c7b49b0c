//! OTLP/gRPC: the logs, metrics and trace `Export` services.
//!
//! The services are written by hand rather than generated so that the request arrives as raw
//! bytes: decoding happens in the shared pipeline, off the reactor, and a bad message gets
//! `INVALID_ARGUMENT` with a reason instead of tonic's generic `INTERNAL`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use http::HeaderValue;
use lookout_storage::Signal;
use prost::Message;
use tonic::body::Body as TonicBody;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use crate::rpc_status::RpcStatus;
use crate::{Error, ExportRequest, Ingester, Transport, tenant_from};

/// A tonic codec that passes message bytes through untouched (also for clients that send
/// pre-encoded requests).
#[derive(Debug, Default, Clone, Copy)]
pub struct RawCodec;

/// The encoder and decoder of [`RawCodec`].
#[derive(Debug)]
pub struct RawCoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCoder;
    type Decoder = RawCoder;

    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }

    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

impl Encoder for RawCoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message;

    use super::*;
    use crate::{RetryInfo, RpcStatus};

    #[test]
    fn overload_carries_retry_info_in_the_status_details() {
        let err = Error::Overloaded { limit: 4, retry_after: Duration::from_secs(2) };
        let status = status(&err);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let details = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(details.details[0].type_url, "type.googleapis.com/google.rpc.RetryInfo");
        let retry = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
        assert_eq!(retry.retry_delay.unwrap().seconds, 2);
    }

    #[test]
    fn unavailable_carries_retry_info_and_bad_input_does_not() {
        let err = Error::Unavailable { reason: "shutting down".into(), retry_after: Duration::from_secs(1) };
        assert_eq!(status(&err).code(), tonic::Code::Unavailable);
        assert!(!status(&err).details().is_empty());
        let bad = status(&Error::Decode("invalid protobuf body".into()));
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        assert!(bad.details().is_empty());
    }
}

/// A gRPC status for an ingest error, with `RetryInfo` details when a retry makes sense.
fn status(err: &Error) -> Status {
    let details = RpcStatus::from_error(err);
    if details.details.is_empty() {
        Status::new(err.grpc_code(), err.to_string())
    } else {
        Status::with_details(err.grpc_code(), err.to_string(), details.encode_to_vec().into())
    }
}

#[derive(Clone)]
struct Export {
    ingester: Arc<Ingester>,
    signal: Signal,
}

impl UnaryService<Bytes> for Export {
    type Response = Bytes;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bytes>, Status>> + Send>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let (ingester, signal) = (Arc::clone(&self.ingester), self.signal);
        Box::pin(async move {
            let tenant = match tenant_from(request.metadata().get("x-scope-orgid").map(|v| v.as_bytes())) {
                Ok(tenant) => tenant,
                Err(e) => {
                    ingester.record_refusal(signal, Transport::Grpc, 0, &e);
                    return Err(status(&e));
                }
            };
            let body = request.into_inner();
            let export = ExportRequest { signal, transport: Transport::Grpc, tenant, body, gzip: false };
            match ingester.export(export).await {
                Ok(reply) => Ok(Response::new(crate::http::encode_reply(signal, &reply).into())),
                Err(e) => Err(status(&e)),
            }
        })
    }
}

/// Serves one OTLP service's `Export` method.
#[derive(Clone)]
struct ExportServer {
    export: Export,
    max_message_size: usize,
}

impl ExportServer {
    fn call_export<B>(&mut self, method: &str, request: http::Request<B>) -> BoxFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        if request.uri().path().rsplit('/').next() != Some(method) {
            return Box::pin(async move { Ok(unimplemented()) });
        }
        let (export, limit) = (self.export.clone(), self.max_message_size);
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(limit), None);
            Ok(grpc.unary(export, request).await)
        })
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<http::Response<TonicBody>, Infallible>> + Send>>;

fn unimplemented() -> http::Response<TonicBody> {
    let mut response = http::Response::new(TonicBody::default());
    response.headers_mut().insert("grpc-status", HeaderValue::from(tonic::Code::Unimplemented as i32));
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

macro_rules! otlp_service {
    ($name:ident, $path:literal, $signal:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name(ExportServer);

        impl $name {
            /// The service, writing through `ingester`, refusing messages over `max_message_size`.
            pub fn new(ingester: Arc<Ingester>) -> Self {
                let max_message_size = ingester.options().max_message_size;
                $name(ExportServer { export: Export { ingester, signal: $signal }, max_message_size })
            }
        }

        impl NamedService for $name {
            const NAME: &'static str = $path;
        }

        impl<B> tower::Service<http::Request<B>> for $name
        where
            B: http_body::Body<Data = Bytes> + Send + 'static,
            B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
        {
            type Response = http::Response<TonicBody>;
            type Error = Infallible;
            type Future = BoxFuture;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, request: http::Request<B>) -> BoxFuture {
                self.0.call_export("Export", request)
            }
        }
    };
}

otlp_service!(
    TraceService,
    "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal::Traces,
    "OTLP/gRPC `TraceService`."
);
otlp_service!(
    LogsService,
    "opentelemetry.proto.collector.logs.v1.LogsService",
    Signal::Logs,
    "OTLP/gRPC `LogsService`."
);
otlp_service!(
    MetricsService,
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal::Metrics,
    "OTLP/gRPC `MetricsService`."
);
