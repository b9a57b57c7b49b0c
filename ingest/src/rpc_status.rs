//! `google.rpc.Status` and `google.rpc.RetryInfo`, the error bodies OTLP asks for.

use prost_types::{Any, Duration as ProtoDuration};

use crate::Error;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Details such as `RetryInfo`.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// How long to wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    /// The status for an error, with `RetryInfo` when the error is worth a retry.
    pub fn from_error(err: &Error) -> RpcStatus {
        let details = err
            .retry_after()
            .map(|d| {
                let info = RetryInfo {
                    retry_delay: Some(ProtoDuration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }),
                };
                Any { type_url: RETRY_INFO_TYPE.into(), value: prost::Message::encode_to_vec(&info) }
            })
            .into_iter()
            .collect();
        RpcStatus { code: err.grpc_code() as i32, message: err.to_string(), details }
    }

    /// The proto3 JSON form: `{"code":…,"message":…,"details":[…]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let details: Vec<_> = self
            .details
            .iter()
            .filter(|d| d.type_url == RETRY_INFO_TYPE)
            .filter_map(|d| <RetryInfo as prost::Message>::decode(d.value.as_slice()).ok())
            .map(|info| {
                let delay = info.retry_delay.unwrap_or_default();
                serde_json::json!({"@type": RETRY_INFO_TYPE, "retryDelay": format!("{}s", delay.seconds)})
            })
            .collect();
        let mut body = serde_json::json!({"code": self.code, "message": self.message});
        if !details.is_empty() {
            body["details"] = serde_json::Value::Array(details);
        }
        body
    }
}
