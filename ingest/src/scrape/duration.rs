//! Prometheus's duration syntax (`model.Duration` in prometheus/common): units `y`, `w`, `d`,
//! `h`, `m`, `s`, `ms`, each at most once and in that order, integers only (`1m30s`, `100ms`,
//! `1d`); `0` alone is zero. A year is 365 days.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration.
pub(crate) fn parse(s: &str) -> Result<Duration, String> {
    match s {
        "0" => return Ok(Duration::ZERO),
        "" => return Err("empty duration string".to_owned()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| "duration out of range".to_owned())?;
        rest = &rest[digits..];
        // The unit: the longest that matches ("ms" before "m"), and it must come after the last.
        let found = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (unit, _))| rest.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len());
        let Some((index, (unit, ms))) = found else {
            return Err(invalid());
        };
        rest = &rest[unit.len()..];
        next_unit = index + 1;
        total_ms = n
            .checked_mul(*ms)
            .and_then(|v| v.checked_add(total_ms))
            .filter(|&v| v <= i64::MAX as u64 / 1_000_000)
            .ok_or_else(|| "duration out of range".to_owned())?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration as Prometheus does: `0s`, `1m30s`, `1d`, `2w`, `100ms`; years and weeks
/// only when they divide it exactly.
pub(crate) fn format(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (i, (unit, mult)) in UNITS.iter().enumerate() {
        let exact_only = i < 2;
        if exact_only && !ms.is_multiple_of(*mult) {
            continue;
        }
        let n = ms / mult;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            ms -= n * mult;
        }
    }
    out
}

/// Serde adapter: a duration field written in Prometheus's syntax.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let ms = |s: &str| parse(s).map(|d| d.as_millis() as u64);
        assert_eq!(ms("15s"), Ok(15_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("100ms"), Ok(100));
        assert_eq!(ms("1d"), Ok(86_400_000));
        assert_eq!(ms("1w"), Ok(604_800_000));
        assert_eq!(ms("1y"), Ok(31_536_000_000));
        assert_eq!(ms("1h1m1s1ms"), Ok(3_661_001));
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("0s"), Ok(0));
        for bad in ["", "1", "s", "1.5s", "-1s", "1s1m", "1m1m", "1S", " 1s", "1s ", "1sec", "9999999999999999999y"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(parse("5x"), Err("not a valid duration string: \"5x\"".to_owned()));
    }

    #[test]
    fn formats_like_prometheus() {
        let f = |ms: u64| format(Duration::from_millis(ms));
        assert_eq!(f(0), "0s");
        assert_eq!(f(60_000), "1m");
        assert_eq!(f(90_000), "1m30s");
        assert_eq!(f(10_000), "10s");
        assert_eq!(f(100), "100ms");
        assert_eq!(f(86_400_000), "1d");
        assert_eq!(f(604_800_000), "1w");
        assert_eq!(f(90 * 86_400_000), "90d");
        assert_eq!(f(31_536_000_000), "1y");
        assert_eq!(f(3_661_001), "1h1m1s1ms");
        for s in ["15s", "1m30s", "2h", "1d12h", "100ms"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
