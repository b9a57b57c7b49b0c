//! Request parameters as Loki reads them: times in nanoseconds, seconds or RFC 3339, steps as
//! durations or seconds, `limit`, `direction`, `since`.

use axum::extract::{FromRequest, Request};
use lookout_storage::Tenant;

use super::reply::LokiError;
use crate::prometheus::params::Params;

/// The request's form values (URL query, and a form-encoded body for POST).
pub(crate) struct LokiParams(pub Params);

impl<S: Send + Sync> FromRequest<S> for LokiParams {
    type Rejection = LokiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Params::from_request(req, state).await.map(LokiParams).map_err(|e| LokiError::bad(e.message()))
    }
}

/// Nanoseconds since the epoch, now.
pub(crate) fn now_ns() -> i64 {
    lookout_storage::logs::now_unix_nano()
}

impl LokiParams {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.all(name)
    }

    /// A time parameter in nanoseconds, `default` when absent.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, LokiError> {
        let value = self.get(name);
        if value.is_empty() {
            return Ok(default);
        }
        parse_timestamp(value)
            .ok_or_else(|| LokiError::bad(format!("invalid {name} parameter: cannot parse {value:?}")))
    }

    /// `start` and `end` (ns) with Loki's defaults: `end` now, `start` `since` (or `default_since`)
    /// before `end`.
    pub fn bounds(&self, default_since: i64) -> Result<(i64, i64), LokiError> {
        let end = self.time("end", now_ns())?;
        let since = match self.get("since") {
            "" => default_since,
            text => duration_ns(text).ok_or_else(|| LokiError::bad(format!("invalid since parameter: {text:?}")))?,
        };
        let start = self.time("start", end.saturating_sub(since))?;
        if end < start {
            return Err(LokiError::bad("end timestamp must not be before or equal to start time"));
        }
        Ok((start, end))
    }

    /// `limit`, `default` when absent; must be positive.
    pub fn limit(&self, default: usize) -> Result<usize, LokiError> {
        match self.get("limit") {
            "" => Ok(default),
            text => match text.parse::<i64>() {
                Ok(n) if n > 0 => Ok(n as usize),
                Ok(_) => Err(LokiError::bad("limit must be a positive value")),
                Err(_) => Err(LokiError::bad(format!("invalid limit parameter: {text:?}"))),
            },
        }
    }

    /// Whether `direction` is backward (the default).
    pub fn backward(&self) -> Result<bool, LokiError> {
        match self.get("direction").to_ascii_lowercase().as_str() {
            "" | "backward" => Ok(true),
            "forward" => Ok(false),
            other => Err(LokiError::bad(format!("invalid direction {other:?}: use forward or backward"))),
        }
    }

    /// A duration parameter (`step`, `interval`) in nanoseconds, if given.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, LokiError> {
        match self.get(name) {
            "" => Ok(None),
            text => duration_ns(text).map(Some).ok_or_else(|| {
                LokiError::bad(format!("invalid {name} parameter: cannot parse {text:?} to a valid duration"))
            }),
        }
    }
}

/// The tenant named by `X-Scope-OrgID`, `anonymous` when absent.
pub(crate) fn tenant(headers: &axum::http::HeaderMap) -> Result<Tenant, LokiError> {
    crate::prometheus::params::tenant(headers).map_err(|e| LokiError::bad(e.message()))
}

/// Loki's `parseTimestamp`: float seconds when there is a point, integer seconds (up to ten
/// digits) or nanoseconds, else RFC 3339 with nanoseconds.
pub(crate) fn parse_timestamp(value: &str) -> Option<i64> {
    if value.contains('.')
        && let Ok(secs) = value.parse::<f64>()
    {
        if !secs.is_finite() {
            return None;
        }
        let whole = secs.trunc();
        let frac = ((secs - whole) * 1000.0).round() / 1000.0;
        return Some((whole as i64).saturating_mul(1_000_000_000).saturating_add((frac * 1e9) as i64));
    }
    if let Ok(n) = value.parse::<i64>() {
        let digits = value.trim_start_matches('-').len();
        return Some(if digits <= 10 { n.saturating_mul(1_000_000_000) } else { n });
    }
    rfc3339_nanos(value)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as nanoseconds since the epoch.
fn rfc3339_nanos(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut f = frac[..digits.min(9)].to_owned();
        while f.len() < 9 {
            f.push('0');
        }
        nanos = f.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// A duration as Loki takes `step`, `interval` and `since`: float seconds, or a Prometheus
/// duration (`5m`, `1h30m`, `250ms`). Nanoseconds.
pub(crate) fn duration_ns(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some((secs * 1e9) as i64);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 604_800_000_000_000,
            "y" => 31_536_000_000_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_form_loki_takes() {
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_timestamp("1700000000123456789"), Some(1_700_000_000_123_456_789));
        assert_eq!(parse_timestamp("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_timestamp("2023-11-14T23:13:20.25+01:00"), Some(1_700_000_000_250_000_000));
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn durations_as_seconds_or_prometheus_units() {
        assert_eq!(duration_ns("15"), Some(15_000_000_000));
        assert_eq!(duration_ns("0.5"), Some(500_000_000));
        assert_eq!(duration_ns("1h30m"), Some(5_400_000_000_000));
        assert_eq!(duration_ns("250ms"), Some(250_000_000));
        assert_eq!(duration_ns("5x"), None);
        assert_eq!(duration_ns("-1"), None);
    }
}
