//! Go-compatible conversions used by label filters, `unwrap` and templates: `time.ParseDuration`,
//! go-humanize `ParseBytes`, `strconv.ParseFloat` and `strconv.ParseInt`.

use super::gofmt::go_quote;

/// `time.ParseDuration`'s quoting of the input in error messages.
fn time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c as u32 >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

const OVERFLOW: u64 = 1 << 63;

fn leading_int(s: &str) -> Result<(u64, &str), ()> {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut x: u64 = 0;
    for b in s[..end].bytes() {
        if x > OVERFLOW / 10 {
            return Err(());
        }
        x = x * 10 + u64::from(b - b'0');
        if x > OVERFLOW {
            return Err(());
        }
    }
    Ok((x, &s[end..]))
}

fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    for b in s[..end].bytes() {
        if overflow {
            continue;
        }
        if x > (OVERFLOW - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(b - b'0');
        if y > OVERFLOW {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[end..])
}

fn unit_nanos(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's `time.ParseDuration`: nanoseconds, or Go's error message.
pub fn go_parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", time_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c @ ('-' | '+')) = s.chars().next() {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let c = s.as_bytes()[0];
        if !(c == b'.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let pl = s.len();
        let (mut v, rest) = leading_int(s).map_err(|_| invalid())?;
        s = rest;
        let pre = pl != s.len();
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let pl = rest.len();
            let (fr, sc, rest) = leading_fraction(rest);
            (f, scale, s) = (fr, sc, rest);
            post = pl != s.len();
        }
        if !pre && !post {
            return Err(invalid());
        }
        let i = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        if i == 0 {
            return Err(format!("time: missing unit in duration {}", time_quote(orig)));
        }
        let u = &s[..i];
        s = &s[i..];
        let unit = unit_nanos(u)
            .ok_or_else(|| format!("time: unknown unit {} in duration {}", time_quote(u), time_quote(orig)))?;
        if v > OVERFLOW / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v = v.saturating_add((f as f64 * (unit as f64 / scale)) as u64);
            if v > OVERFLOW {
                return Err(invalid());
            }
        }
        d = d.saturating_add(v);
        if d > OVERFLOW {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > OVERFLOW - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// Go's `Duration.Seconds()`.
pub fn duration_seconds(nanos: i64) -> f64 {
    let sec = nanos / 1_000_000_000;
    let nsec = nanos % 1_000_000_000;
    sec as f64 + nsec as f64 / 1e9
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `-30m0s`, `0s`.
pub fn go_duration_string(nanos: i64) -> String {
    // The fraction of `v / 10^prec` without trailing zeros (nor the point when it is zero).
    fn frac(v: u64, prec: u32) -> (String, u64) {
        let p = 10u64.pow(prec);
        let digits = format!("{:0width$}", v % p, width = prec as usize);
        let digits = digits.trim_end_matches('0');
        (if digits.is_empty() { String::new() } else { format!(".{digits}") }, v / p)
    }
    let u = nanos.unsigned_abs();
    let sign = if nanos < 0 { "-" } else { "" };
    if u == 0 {
        return "0s".to_owned();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "\u{b5}s")
        } else {
            (6, "ms")
        };
        let (f, whole) = frac(u, prec);
        return format!("{sign}{whole}{f}{unit}");
    }
    let (f, secs) = frac(u, 9);
    let (hours, mins) = (secs / 3600, secs / 60 % 60);
    match (hours, secs / 60) {
        (0, 0) => format!("{sign}{}{f}s", secs % 60),
        (0, _) => format!("{sign}{mins}m{}{f}s", secs % 60),
        _ => format!("{sign}{hours}h{mins}m{}{f}s", secs % 60),
    }
}

#[cfg(test)] // Used by the LogQL stage tests.
/// Parses a Go duration (`1h2m3.5s`, `300ms`, `10µs`, `-1.5h`, `0`) into seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    go_parse_duration(s).ok().map(duration_seconds)
}

fn bytes_unit(name: &str) -> Option<u64> {
    const K: u64 = 1000;
    const KI: u64 = 1024;
    Some(match name {
        "b" | "" => 1,
        "kib" | "ki" => KI,
        "kb" | "k" => K,
        "mib" | "mi" => KI.pow(2),
        "mb" | "m" => K.pow(2),
        "gib" | "gi" => KI.pow(3),
        "gb" | "g" => K.pow(3),
        "tib" | "ti" => KI.pow(4),
        "tb" | "t" => K.pow(4),
        "pib" | "pi" => KI.pow(5),
        "pb" | "p" => K.pow(5),
        "eib" | "ei" => KI.pow(6),
        "eb" | "e" => K.pow(6),
        _ => return None,
    })
}

/// go-humanize's `ParseBytes`: byte count, or its error message.
pub fn go_parse_bytes(s: &str) -> Result<u64, String> {
    let last_digit = s.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b',').count();
    let num: String = s[..last_digit].chars().filter(|&c| c != ',').collect();
    let f = go_parse_float(&num)?;
    let extra = s[last_digit..].trim_matches(is_go_space).to_lowercase();
    match bytes_unit(&extra) {
        Some(m) => {
            let f = f * m as f64;
            if f >= u64::MAX as f64 {
                return Err(format!("too large: {s}"));
            }
            Ok(f as u64)
        }
        None => Err(format!("unhandled size name: {extra}")),
    }
}

#[cfg(test)] // Used by the LogQL stage tests.
/// Parses a humanized byte size (`10KB`=10000, `1KiB`=1024, `5 MB`, `1.5GiB`, `42`).
pub fn parse_bytes(s: &str) -> Option<f64> {
    go_parse_bytes(s).ok().map(|b| b as f64)
}

fn special_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (sign, body) = match lower.as_bytes().first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    match body {
        "inf" | "infinity" => Some(sign * f64::INFINITY),
        "nan" if body.len() == lower.len() => Some(f64::NAN),
        _ => None,
    }
}

/// Go's `underscoreOK`: underscores only between digits (a base prefix counts as a digit).
fn underscore_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let body = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"))?;
    let p = body.find(['p', 'P'])?;
    let (mant, exp) = (&body[..p], &body[p + 1..]);
    if exp.is_empty() || !exp.trim_start_matches(['+', '-']).bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let exp: i64 = exp.parse::<i64>().unwrap_or(if exp.starts_with('-') { -100_000 } else { 100_000 });
    let (int_part, frac_part) = match mant.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mant, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut m: u64 = 0;
    let mut e2: i64 = 0;
    let mut sticky = false;
    for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
        let d = u64::from(c.to_digit(16)?);
        let is_frac = i >= int_part.len();
        if m >> 56 == 0 {
            m = m * 16 + d;
            if is_frac {
                e2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !is_frac {
                e2 += 4;
            }
        }
    }
    if sticky {
        m |= 1;
    }
    let v = (m as f64) * 2f64.powi(i32::try_from((exp + e2).clamp(-2000, 2000)).ok()?);
    Some(if neg { -v } else { v })
}

/// Go's `strconv.ParseFloat(s, 64)`: value, or Go's error message (out of range included).
pub fn go_parse_float(s: &str) -> Result<f64, String> {
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(s));
    let range = || format!("strconv.ParseFloat: parsing {}: value out of range", go_quote(s));
    if let Some(v) = special_float(s) {
        return Ok(v);
    }
    if s.contains('_') && !underscore_ok(s) {
        return Err(syntax());
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let body = cleaned.strip_prefix(['+', '-']).unwrap_or(&cleaned);
    let v = if body.starts_with("0x") || body.starts_with("0X") {
        parse_hex_float(&cleaned).ok_or_else(syntax)?
    } else {
        let b = body.as_bytes();
        let valid = !b.is_empty()
            && b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
            && b.iter().take_while(|c| !matches!(c, b'e' | b'E')).any(u8::is_ascii_digit);
        if !valid {
            return Err(syntax());
        }
        cleaned.parse::<f64>().map_err(|_| syntax())?
    };
    if v.is_infinite() {
        return Err(range());
    }
    Ok(v)
}

#[cfg(test)] // Used by the LogQL stage tests.
/// Parses a number like Loki's numeric label filters and `unwrap` (Go `strconv.ParseFloat`).
pub fn parse_number(s: &str) -> Option<f64> {
    go_parse_float(s).ok()
}

/// Go's `strconv.ParseInt(s, base, 64)` for base 0 (prefixes, underscores) or base 10.
pub fn go_parse_int(s: &str, base0: bool) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s));
    let range = || format!("strconv.ParseInt: parsing {}: value out of range", go_quote(s));
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if base0 {
        let lower = body.get(..2).map(str::to_ascii_lowercase);
        match lower.as_deref() {
            Some("0x") => (16, &body[2..]),
            Some("0o") => (8, &body[2..]),
            Some("0b") => (2, &body[2..]),
            _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
            _ => (10, body),
        }
    } else {
        (10, body)
    };
    if digits.contains('_') && !(base0 && underscore_ok(s)) {
        return Err(syntax());
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let mag = u128::from_str_radix(&clean, radix).map_err(|_| range())?;
    let limit = if neg { 1u128 << 63 } else { (1u128 << 63) - 1 };
    if mag > limit {
        return Err(range());
    }
    let v = mag as i128;
    Ok(if neg { (-v) as i64 } else { v as i64 })
}

/// Go's `strings.TrimSpace` white space test (`unicode.IsSpace`).
pub fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{85}' | '\u{A0}')
        || (c > '\u{FF}' && c.is_whitespace())
}

/// Go's `strings.TrimSpace`.
pub fn go_trim_space(s: &str) -> &str {
    s.trim_matches(is_go_space)
}
