//! Prometheus's number functions: `humanize*`, `toTime`, `toDuration`, `parseDuration`, with
//! Go's `%.4g` formatting (`template/template.go`, `prometheus/common/helpers/templates`).

use crate::gotemplate::gofmt::format_float;
use crate::gotemplate::values::go_parse_float;
use crate::gotemplate::{GoTime, Value};

/// `prometheus/common`'s `ConvertToFloat`: numbers and numeric strings.
pub fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Str(s) => go_parse_float(s),
        Value::Int(i) | Value::Int64(i) => Ok(*i as f64),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// Go's `fmt.Sprintf("%.4g", v)`.
fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

/// Divides (or multiplies) `v` into the range of the next prefixes, as Prometheus's loops do.
fn scale(mut v: f64, base: f64, prefixes: &[&'static str], up: bool) -> (f64, &'static str) {
    let mut prefix = "";
    for p in prefixes {
        if (up && v.abs() < base) || (!up && v.abs() >= 1.0) {
            break;
        }
        prefix = p;
        if up {
            v /= base;
        } else {
            v *= base;
        }
    }
    (v, prefix)
}

const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

/// `humanize`: metric prefixes, 4 significant digits (`1234567` -> `1.235M`, `0.12` -> `120m`).
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let (v, prefix) = if v.abs() >= 1.0 {
        scale(v, 1000.0, &["k", "M", "G", "T", "P", "E", "Z", "Y"], true)
    } else {
        scale(v, 1000.0, &SMALL, false)
    };
    format!("{}{prefix}", g4(v))
}

/// `humanize1024`: binary prefixes (`1048576` -> `1Mi`).
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let (v, prefix) = scale(v, 1024.0, &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"], true);
    format!("{}{prefix}", g4(v))
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.234s`, `100ms` below a second.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        // Go's `int64(v)` truncates (and saturates here where Go's overflow is unspecified).
        let whole = v as i64;
        let (days, hours, minutes, seconds) = (whole / 86_400, whole / 3600 % 24, whole / 60 % 60, whole % 60);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let (v, prefix) = scale(v, 1000.0, &SMALL, false);
    format!("{}{prefix}s", g4(v))
}

/// `humanizePercentage`: a ratio as a percentage (`0.1234` -> `12.34%`).
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// `humanizeTimestamp`: Unix seconds as Go prints a UTC `time.Time`, truncated to milliseconds.
pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(g4(v));
    }
    Ok(float_to_time(v)?.go_string())
}

/// Prometheus's `floatToTime`: Unix seconds to a UTC time with millisecond precision.
pub fn float_to_time(v: f64) -> Result<GoTime, String> {
    if !v.is_finite() {
        return Err("value is NaN or Inf".to_owned());
    }
    let nanos = v * 1e9;
    if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
        let shown = format_float(v, 'g', -1);
        return Err(format!("{shown} cannot be represented as a nanoseconds timestamp since it overflows int64"));
    }
    // `model.TimeFromUnixNano` keeps milliseconds, truncating toward zero like Go's division.
    let ms = (nanos as i64) / 1_000_000;
    Ok(GoTime::from_unix(ms / 1000, (ms % 1000) * 1_000_000))
}

/// `toDuration`: seconds to a `*time.Duration`.
pub fn to_duration(v: f64) -> Value {
    // Go converts with `time.Duration(v * 1e9)`; out of range it is unspecified, here it saturates.
    Value::Duration((v * 1e9) as i64)
}

/// `parseDuration`: a Prometheus duration (`1h2m10ms`, `5m`, `0`) in seconds, as
/// `model.ParseDuration` reads it (units in decreasing order, each at most once).
pub fn parse_duration(s: &str) -> Result<f64, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    match s {
        "0" => return Ok(0.0),
        "" => return Err("empty duration string".to_owned()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", crate::gotemplate::gofmt::go_quote(s));
    let mut rest = s;
    let mut total_ms: u64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            let quote = crate::gotemplate::gofmt::go_quote;
            return Err(format!("unknown unit {} in duration {}", quote(unit), quote(s)));
        };
        if last_unit.is_some_and(|last| pos <= last) {
            return Err(invalid());
        }
        last_unit = Some(pos);
        // `model.Duration` counts nanoseconds in an int64.
        let max_ms = (i64::MAX as u64) / 1_000_000;
        total_ms = n
            .checked_mul(UNITS[pos].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .filter(|ms| *ms <= max_ms)
            .ok_or("duration out of range")?;
    }
    Ok(total_ms as f64 / 1000.0)
}
