//! Go and Prometheus compatibility helpers: duration, bytes and number parsing/formatting,
//! Go string quoting, and Go-flavoured regex compilation.

use std::time::Duration;

use regex::Regex;

use super::ast::Nanos;

/// How a regex source is anchored before compilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Unanchored (line filters, `| regexp`).
    None,
    /// Prometheus label matcher: `^(?s:...)$` (dot matches newline).
    Label,
    /// `label_replace`: `^(?:...)$`.
    Full,
}

/// Rewrites a Rust regex error in the form of Go's `error parsing regexp: CODE: EXPR` messages.
fn go_regex_error(pattern: &str, e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let msg = lines.iter().rev().find_map(|l| l.strip_prefix("error: ")).unwrap_or(text.as_str()).trim();
    let span_start = match (lines.get(1), lines.get(2)) {
        (Some(p), Some(c)) if p.strip_prefix("    ") == Some(pattern) => c.strip_prefix("    ").and_then(|c| {
            let start = c.find('^')?;
            Some((start, c[start..].chars().take_while(|ch| *ch == '^').count()))
        }),
        _ => None,
    };
    let span = |to_end: bool| -> String {
        match span_start {
            Some((start, len)) => pattern.chars().skip(start).take(if to_end { usize::MAX } else { len }).collect(),
            None => pattern.to_string(),
        }
    };
    let (code, expr) = match msg {
        "unclosed group" => ("missing closing )", pattern.to_string()),
        "unopened group" => ("unexpected )", pattern.to_string()),
        "unclosed character class" => ("missing closing ]", span(true)),
        "repetition operator missing expression" => ("missing argument to repetition operator", span(false)),
        "unrecognized escape sequence" => ("invalid escape sequence", span(false)),
        "unrecognized flag" => ("invalid or unsupported Perl syntax", span(false)),
        m if m.starts_with("invalid character class range") => ("invalid character class range", span(false)),
        m if m.starts_with("incomplete escape sequence") => ("trailing backslash at end of expression", String::new()),
        m if m.starts_with("invalid repetition count") || m.starts_with("repetition quantifier") => {
            ("invalid repeat count", span(false))
        }
        m if m.starts_with("look-around") => ("invalid or unsupported Perl syntax", span(false)),
        m => (m, pattern.to_string()),
    };
    format!("error parsing regexp: {code}: `{expr}`")
}

/// Compiles a Go-flavoured regex with the given anchoring; errors read like Go's `error parsing regexp: ...`.
pub fn compile_regex(pattern: &str, anchor: Anchor) -> Result<Regex, String> {
    let plain = Regex::new(pattern).map_err(|e| go_regex_error(pattern, &e))?;
    let src = match anchor {
        Anchor::None => return Ok(plain),
        Anchor::Label => format!("^(?s:{pattern})$"),
        Anchor::Full => format!("^(?:{pattern})$"),
    };
    Regex::new(&src).map_err(|e| go_regex_error(pattern, &e))
}

/// Loki's `parseDuration`: Prometheus syntax first, then Go's `time.ParseDuration`.
pub fn parse_duration(s: &str) -> Option<Nanos> {
    if let Ok(d) = parse_prom_duration(s) {
        return i64::try_from(d.as_nanos()).ok();
    }
    parse_go_duration(s)
}

/// Prometheus `model.ParseDuration` (units y w d h m s ms, in decreasing order, no fractions).
pub fn parse_prom_duration(s: &str) -> Result<Duration, String> {
    match s {
        "0" => return Ok(Duration::ZERO),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", go_quote_simple(s));
    const UNITS: [(&str, u64, u8); 7] = [
        ("ms", 1_000_000, 7),
        ("s", 1_000_000_000, 6),
        ("m", 60_000_000_000, 5),
        ("h", 3_600_000_000_000, 4),
        ("d", 86_400_000_000_000, 3),
        ("w", 604_800_000_000_000, 2),
        ("y", 31_536_000_000_000_000, 1),
    ];
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_pos = 0u8;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return Err(invalid());
        }
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let v: u64 = s[st..i].parse().map_err(|_| invalid())?;
        let us = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if us == i {
            return Err(invalid());
        }
        let unit = &s[us..i];
        let Some(&(_, mult, pos)) = UNITS.iter().find(|(u, _, _)| *u == unit) else {
            return Err(format!("unknown unit {} in duration {}", go_quote_simple(unit), go_quote_simple(s)));
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total = total.checked_add(v * mult).ok_or_else(|| "duration out of range".to_string())?;
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok(Duration::from_nanos(total))
}

fn go_quote_simple(s: &str) -> String {
    format!("{s:?}")
}

/// Go's `time.ParseDuration` (units ns us µs μs ms s m h, fractions and sign allowed).
pub fn parse_go_duration(orig: &str) -> Option<Nanos> {
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        let mut i = 0;
        let mut v: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            v = v.checked_mul(10)?.checked_add(u64::from(b[i] - b'0'))?;
            if v > 1 << 63 {
                return None;
            }
            i += 1;
        }
        let pre = i > 0;
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let st = i;
            let mut overflow = false;
            while i < b.len() && b[i].is_ascii_digit() {
                if !overflow {
                    if f > (i64::MAX as u64 - 9) / 10 {
                        overflow = true;
                    } else {
                        f = f * 10 + u64::from(b[i] - b'0');
                        scale *= 10.0;
                    }
                }
                i += 1;
            }
            post = i > st;
        }
        if !pre && !post {
            return None;
        }
        let us = i;
        while i < b.len() && !(b[i] == b'.' || b[i].is_ascii_digit()) {
            i += 1;
        }
        let unit: u64 = match &s[us..i] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        if v > (1 << 63) / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return None;
            }
        }
        d = d.checked_add(v)?;
        if d > 1 << 63 {
            return None;
        }
        s = &s[i..];
    }
    if neg {
        return Some((d as i128).wrapping_neg() as i64);
    }
    i64::try_from(d).ok()
}

/// go-humanize `ParseBytes`, restricted to what Loki's lexer hands it.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !(c.is_numeric() || c == '.' || c == ',')).unwrap_or(s.len());
    let num: String = s[..split].chars().filter(|c| *c != ',').collect();
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let f: f64 = num.parse().ok()?;
    let mult: u64 = match s[split..].trim().to_lowercase().as_str() {
        "b" | "" => 1,
        "kib" | "ki" => 1 << 10,
        "kb" | "k" => 1_000,
        "mib" | "mi" => 1 << 20,
        "mb" | "m" => 1_000_000,
        "gib" | "gi" => 1 << 30,
        "gb" | "g" => 1_000_000_000,
        "tib" | "ti" => 1 << 40,
        "tb" | "t" => 1_000_000_000_000,
        "pib" | "pi" => 1 << 50,
        "pb" | "p" => 1_000_000_000_000_000,
        "eib" | "ei" => 1 << 60,
        "eb" | "e" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    let v = f * mult as f64;
    if v >= u64::MAX as f64 {
        return None;
    }
    Some(v as u64)
}

/// Go's `strconv.IsPrint`, approximated without Unicode tables.
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let u = c as u32;
    let format_char = matches!(
        u,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private_or_nonchar =
        matches!(u, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFDD0..=0xFDEF) || (u & 0xFFFE) == 0xFFFE;
    !(c.is_control() || c.is_whitespace() || format_char || private_or_nonchar)
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if go_is_print(c) => out.push(c),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `time.Duration.String()` (e.g. `1h0m0s`, `250ms`, `10µs`).
pub fn go_duration(ns: Nanos) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let frac = |v: u64, prec: u32| -> String {
        let p = 10u64.pow(prec);
        let mut f = format!("{:0width$}", v % p, width = prec as usize);
        while f.ends_with('0') {
            f.pop();
        }
        if f.is_empty() { format!("{}", v / p) } else { format!("{}.{f}", v / p) }
    };
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 6))
    } else {
        let secs = u / 1_000_000_000;
        let sub = u % 1_000_000_000;
        let mut s = frac(secs % 60 * 1_000_000_000 + sub, 9);
        s.push('s');
        let mins = secs / 60;
        if mins > 0 {
            s = format!("{}m{s}", mins % 60);
            let hours = mins / 60;
            if hours > 0 {
                s = format!("{hours}h{s}");
            }
        }
        s
    };
    if neg { format!("-{body}") } else { body }
}

/// Prometheus `model.Duration.String()` (e.g. `5m`, `1h30m`, `1d`, `2w`), millisecond resolution.
pub fn prom_duration(ns: Nanos) -> String {
    let mut ms = ns / 1_000_000;
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    ms = ms.abs();
    let mut r = String::new();
    let units: [(&str, i64, bool); 7] = [
        ("y", 1000 * 60 * 60 * 24 * 365, true),
        ("w", 1000 * 60 * 60 * 24 * 7, true),
        ("d", 1000 * 60 * 60 * 24, false),
        ("h", 1000 * 60 * 60, false),
        ("m", 1000 * 60, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            r.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    if neg { format!("-{r}") } else { r }
}

/// Converts a range interval to signed nanoseconds (saturating).
pub fn duration_nanos(d: std::time::Duration) -> Nanos {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Go's `fmt.Sprint(float64)` / `strconv.FormatFloat(v, 'g', -1, 64)`.
pub fn go_float_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let e = format!("{:e}", v.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if v < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{esign}{:02}", exp.abs());
    }
    let dp = exp + 1;
    let nd = digits.len() as i32;
    let body = if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        let (a, b) = digits.split_at(dp as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub fn go_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

/// Go's `%f` formatting (six decimals).
pub fn go_fmt_f6(v: f64) -> String {
    if v.is_nan() || v.is_infinite() { go_float_f(v) } else { format!("{v:.6}") }
}

/// go-humanize `Bytes` (SI units) with spaces removed, as Loki prints bytes filters.
pub fn humanize_bytes(s: u64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if s < 10 {
        return format!("{s}B");
    }
    let mut e = 0usize;
    let mut p: u64 = 1;
    while e + 1 < SIZES.len() && p.checked_mul(1000).is_some_and(|n| n <= s) {
        p *= 1000;
        e += 1;
    }
    let val = ((s as f64) / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 { format!("{val:.1}{}", SIZES[e]) } else { format!("{val:.0}{}", SIZES[e]) }
}
