//! Prometheus's response envelope, its error types, and how it writes numbers, times and label
//! sets (`web/api/v1/api.go` `respond`/`respondError`, `util/jsonutil`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_storage::{Labels, SampleExemplar};
use serde::Serialize;
use serde::ser::SerializeMap;

/// The warning Prometheus adds when a `limit` cut the result short.
pub(crate) const TRUNCATED: &str = "results truncated due to limit";

/// An error as the API reports it; each kind has one `errorType` and one HTTP status.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The request is wrong (`bad_data`, 400).
    BadData(String),
    /// The store could not answer (`execution`, 422), as Prometheus reports querier errors.
    Execution(String),
    /// Lookout itself failed (`internal`, 500).
    Internal(String),
    /// The endpoint is turned off (`unavailable`, 503), e.g. admin APIs.
    Unavailable(String),
    /// The query ran past its timeout (`timeout`, 503).
    Timeout(String),
    /// The query was canceled (`canceled`, 499).
    Canceled(String),
}

impl ApiError {
    /// The message, without the envelope.
    pub(crate) fn message(&self) -> &str {
        self.kind().2
    }

    fn kind(&self) -> (StatusCode, &'static str, &str) {
        match self {
            ApiError::BadData(m) => (StatusCode::BAD_REQUEST, "bad_data", m),
            ApiError::Execution(m) => (StatusCode::UNPROCESSABLE_ENTITY, "execution", m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
            ApiError::Timeout(m) => (StatusCode::SERVICE_UNAVAILABLE, "timeout", m),
            ApiError::Canceled(m) => (StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST), "canceled", m),
        }
    }
}

/// A `bad_data` error.
pub(crate) fn bad_data(message: impl Into<String>) -> ApiError {
    ApiError::BadData(message.into())
}

/// Prometheus's `invalidParamError`: `invalid parameter "name": reason`.
pub(crate) fn invalid_param(name: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::BadData(format!("invalid parameter {name:?}: {reason}"))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_type, message) = self.kind();
        let body =
            format!(r#"{{"status":"error","errorType":"{error_type}","error":{}}}"#, serde_json::Value::from(message));
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// A successful answer: `data` (already JSON) with warnings, or no content at all (what
/// Prometheus sends when a handler has no data, e.g. exemplars of a query without selectors).
pub(crate) enum Answer {
    /// `{"status":"success","data":...,"warnings":[...]}`.
    Data {
        /// The `data` value, serialized.
        json: String,
        /// Warnings; the field is left out when empty.
        warnings: Vec<String>,
        /// Infos (PromQL annotations); the field is left out when empty.
        infos: Vec<String>,
    },
    /// 204.
    NoContent,
}

impl Answer {
    /// Data without warnings.
    pub(crate) fn data<T: Serialize + ?Sized>(value: &T) -> Reply {
        Self::limited(value, false)
    }

    /// Data with the truncation warning when a limit cut it short.
    pub(crate) fn limited<T: Serialize + ?Sized>(value: &T, truncated: bool) -> Reply {
        let json = serde_json::to_string(value).map_err(|e| ApiError::Internal(format!("encoding the answer: {e}")))?;
        Ok(Self::raw(json, truncated))
    }

    /// Data written by hand.
    pub(crate) fn raw(json: String, truncated: bool) -> Answer {
        let warnings = if truncated { vec![TRUNCATED.to_owned()] } else { Vec::new() };
        Answer::Data { json, warnings, infos: Vec::new() }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let (json, warnings, infos) = match self {
            Answer::NoContent => return StatusCode::NO_CONTENT.into_response(),
            Answer::Data { json, warnings, infos } => (json, warnings, infos),
        };
        let mut body = format!(r#"{{"status":"success","data":{json}"#);
        if !warnings.is_empty() {
            body.push_str(r#","warnings":"#);
            body.push_str(&serde_json::Value::from(warnings).to_string());
        }
        if !infos.is_empty() {
            body.push_str(r#","infos":"#);
            body.push_str(&serde_json::Value::from(infos).to_string());
        }
        body.push('}');
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// What a handler returns.
pub(crate) type Reply = Result<Answer, ApiError>;

/// A label set as a JSON object, in label order.
pub(crate) struct LabelMap<'a>(pub(crate) &'a Labels);

impl Serialize for LabelMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for l in self.0 {
            map.serialize_entry(&l.name, &l.value)?;
        }
        map.end()
    }
}

/// A sample value as Prometheus writes it (`jsonutil.MarshalFloat`): Go's shortest decimal, with
/// an exponent only below 1e-6 and from 1e21 up; `+Inf`, `-Inf`, `NaN`.
pub(crate) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1.5e-7`; Go writes `1.5e-07` (sign always, at least two exponent digits).
        let rust = format!("{v:e}");
        if let Some((mantissa, exponent)) = rust.split_once('e') {
            let exponent: i32 = exponent.parse().unwrap_or(0);
            let sign = if exponent < 0 { '-' } else { '+' };
            return format!("{mantissa}e{sign}{:02}", exponent.abs());
        }
        return rust;
    }
    // Rust's `Display` is the shortest round-trip decimal without an exponent, as Go's 'f', -1.
    format!("{v}")
}

/// A millisecond time as Prometheus writes it (`jsonutil.MarshalTimestamp`): seconds, and the
/// milliseconds as three digits after a point when there are any.
pub(crate) fn go_timestamp(t: i64) -> String {
    let sign = if t < 0 { "-" } else { "" };
    let abs = t.unsigned_abs();
    let (secs, millis) = (abs / 1000, abs % 1000);
    if millis == 0 { format!("{sign}{secs}") } else { format!("{sign}{secs}.{millis:03}") }
}

/// `[{"seriesLabels":{...},"exemplars":[{"labels":{...},"value":"0.5","timestamp":1.5}]}]`,
/// written by hand so that timestamps keep Prometheus's exact digits.
pub(crate) fn exemplars_json(found: &[(Labels, Vec<SampleExemplar>)]) -> Result<String, ApiError> {
    let labels = |l: &Labels| {
        serde_json::to_string(&LabelMap(l)).map_err(|e| ApiError::Internal(format!("encoding the answer: {e}")))
    };
    let mut out = String::from("[");
    for (i, (series, exemplars)) in found.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"seriesLabels":"#);
        out.push_str(&labels(series)?);
        out.push_str(r#","exemplars":["#);
        for (j, e) in exemplars.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let value = go_float(e.v);
            let timestamp = go_timestamp(e.t);
            out.push_str(&format!(r#"{{"labels":{},"value":"{value}","timestamp":{timestamp}}}"#, labels(&e.labels)?));
        }
        out.push_str("]}");
    }
    out.push(']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_go_formats_them() {
        let cases = [
            (0.5, "0.5"),
            (1.0, "1"),
            (-0.0, "-0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-07"),
            (-2.5e300, "-2.5e+300"),
            (0.000001, "0.000001"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(go_float(v), want, "{v:?}");
        }
    }

    #[test]
    fn timestamps_keep_three_digits_of_milliseconds() {
        assert_eq!(go_timestamp(1_600_000_000_123), "1600000000.123");
        assert_eq!(go_timestamp(1_600_000_000_120), "1600000000.120");
        assert_eq!(go_timestamp(1_600_000_000_005), "1600000000.005");
        assert_eq!(go_timestamp(1_600_000_000_000), "1600000000");
        assert_eq!(go_timestamp(-1_500), "-1.500");
        assert_eq!(go_timestamp(0), "0");
    }
}
