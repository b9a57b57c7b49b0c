//! Loki's answers: `{"status":"success","data":…}` bodies, results in Loki's JSON shapes, and
//! errors as Loki writes them (plain text with the status).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_storage::Labels;
use serde_json::{Map, Value, json};

use crate::logql::{LogqlError, LogqlOutput, LogqlStats, LogqlValue};
use crate::prometheus::reply::{go_float, go_timestamp};

/// An error answer: status and message, written as plain text.
#[derive(Debug)]
pub(crate) struct LokiError {
    status: StatusCode,
    message: String,
}

impl LokiError {
    /// A 400 with this message.
    pub fn bad(message: impl Into<String>) -> LokiError {
        LokiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// A 500 with this message.
    pub fn internal(message: impl Into<String>) -> LokiError {
        LokiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }
}

impl From<LogqlError> for LokiError {
    fn from(e: LogqlError) -> Self {
        LokiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let headers =
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")];
        (self.status, headers, self.message).into_response()
    }
}

/// A handler's result.
pub(crate) type Reply = Result<Response, LokiError>;

/// `value` as a JSON 200.
pub(crate) fn json_ok(value: &Value) -> Reply {
    let body = serde_json::to_string(value).map_err(|e| LokiError::internal(format!("encoding the answer: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response())
}

/// `{"status":"success","data":data}`.
pub(crate) fn success(data: Value) -> Reply {
    json_ok(&json!({"status": "success", "data": data}))
}

/// Labels as a JSON object.
pub(crate) fn label_object(labels: &Labels) -> Value {
    Value::Object(labels.iter().map(|l| (l.name.clone(), Value::String(l.value.clone()))).collect())
}

fn pairs_object(pairs: &[lookout_storage::Label]) -> Value {
    Value::Object(pairs.iter().map(|l| (l.name.clone(), Value::String(l.value.clone()))).collect::<Map<_, _>>())
}

/// A millisecond time as a JSON number of seconds with Prometheus's digits.
fn seconds(t_ms: i64) -> Value {
    serde_json::from_str(&go_timestamp(t_ms)).unwrap_or(Value::Null)
}

/// A query answer in Loki's shape: `data.resultType`, `data.result`, `data.stats`.
pub(crate) fn query_answer(output: &LogqlOutput, categorize: bool) -> Reply {
    let (kind, result) = match &output.value {
        LogqlValue::Streams(streams) => {
            let result: Vec<Value> = streams
                .iter()
                .map(|s| {
                    let values: Vec<Value> = s
                        .entries
                        .iter()
                        .map(|e| {
                            let mut v = vec![Value::String(e.time.to_string()), Value::String(e.line.clone())];
                            if categorize && (!e.metadata.is_empty() || !e.parsed.is_empty()) {
                                let mut extra = Map::new();
                                if !e.metadata.is_empty() {
                                    extra.insert("structuredMetadata".into(), pairs_object(&e.metadata));
                                }
                                if !e.parsed.is_empty() {
                                    extra.insert("parsed".into(), pairs_object(&e.parsed));
                                }
                                v.push(Value::Object(extra));
                            }
                            Value::Array(v)
                        })
                        .collect();
                    json!({"stream": label_object(&s.labels), "values": values})
                })
                .collect();
            ("streams", Value::Array(result))
        }
        LogqlValue::Vector(samples) => (
            "vector",
            Value::Array(
                samples
                    .iter()
                    .map(|s| json!({"metric": label_object(&s.labels), "value": [seconds(s.t), go_float(s.v)]}))
                    .collect(),
            ),
        ),
        LogqlValue::Matrix(series) => (
            "matrix",
            Value::Array(
                series
                    .iter()
                    .map(|s| {
                        let values: Vec<Value> =
                            s.points.iter().map(|p| json!([seconds(p.t), go_float(p.v)])).collect();
                        json!({"metric": label_object(&s.labels), "values": values})
                    })
                    .collect(),
            ),
        ),
        LogqlValue::Scalar { t, v } => ("scalar", json!([seconds(*t), go_float(*v)])),
    };
    let mut data = json!({"resultType": kind, "result": result, "stats": stats(&output.stats)});
    if categorize && let Some(map) = data.as_object_mut() {
        map.insert("encodingFlags".into(), json!(["categorize-labels"]));
    }
    json_ok(&json!({"status": "success", "data": data}))
}

/// Loki's `stats.summary`, from what the query read.
fn stats(s: &LogqlStats) -> Value {
    let per_second = |n: u64| if s.exec_seconds > 0.0 { (n as f64 / s.exec_seconds) as u64 } else { 0 };
    json!({
        "summary": {
            "bytesProcessedPerSecond": per_second(s.bytes),
            "linesProcessedPerSecond": per_second(s.lines),
            "totalBytesProcessed": s.bytes,
            "totalLinesProcessed": s.lines,
            "execTime": s.exec_seconds,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": s.returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": s.returned,
            "totalStructuredMetadataBytesProcessed": 0
        }
    })
}
