//! LogQL's template function set: Go's builtins, Loki's own functions and the sprig subset Loki
//! enables, with their Go signatures (checked like Go's `text/template`).

use base64::Engine;

use crate::gotemplate::gofmt::go_quote;
use crate::gotemplate::values::{duration_seconds, go_parse_bytes, go_parse_duration, go_parse_int};
use crate::gotemplate::{
    CallCtx, FuncSet, FuncSpec, GoTime, MAX_STRING_BYTES, ParamType, Value, builtin_spec, call_builtin, checked,
    from_json, go_case, query_escape,
};

use super::decimal::Decimal;

use ParamType::{Any, Float, Int, Str, Time};

const fn f(params: &'static [ParamType]) -> FuncSpec {
    FuncSpec::fixed(params)
}

const fn v(params: &'static [ParamType], tail: ParamType) -> FuncSpec {
    FuncSpec::variadic(params, tail)
}

/// Loki's functions for one execution: `__line__` and `__timestamp__` are the entry's.
#[derive(Debug, Clone, Copy)]
pub struct LokiFuncs<'a> {
    /// Current log line (`__line__`).
    pub line: &'a str,
    /// Entry timestamp in nanoseconds (`__timestamp__`).
    pub ts: i64,
}

/// Signature of a Loki or sprig function.
fn loki_spec(name: &str) -> Option<FuncSpec> {
    Some(match name {
        "__line__" | "__timestamp__" | "now" => f(&[]),
        "ToLower" | "ToUpper" | "TrimSpace" | "lower" | "upper" | "title" | "trim" | "b64enc" | "b64dec"
        | "urldecode" | "urlencode" | "bytes" | "duration" | "duration_seconds" | "unixToTime" | "fromJson" => {
            f(&[Str])
        }
        "Replace" => f(&[Str, Str, Str, Int]),
        "Trim" | "TrimLeft" | "TrimRight" | "TrimPrefix" | "TrimSuffix" | "count" | "contains" | "hasPrefix"
        | "hasSuffix" | "trimAll" | "trimSuffix" | "trimPrefix" | "toDate" => f(&[Str, Str]),
        "regexReplaceAll" | "regexReplaceAllLiteral" | "replace" | "toDateInZone" => f(&[Str, Str, Str]),
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => f(&[Time]),
        "alignLeft" | "alignRight" | "trunc" | "indent" | "nindent" | "repeat" => f(&[Int, Str]),
        "substr" => f(&[Int, Int, Str]),
        "int" | "float64" | "ceil" | "floor" => f(&[Any]),
        "add" | "addf" => v(&[], Any),
        "sub" | "div" | "mod" => f(&[Any, Any]),
        "mul" | "subf" | "mulf" | "divf" | "max" | "min" | "maxf" | "minf" => v(&[Any], Any),
        "round" => v(&[Any, Int], Float),
        "date" => f(&[Str, Any]),
        "default" => v(&[Any], Any),
        _ => return None,
    })
}

fn s(args: &[Value], i: usize) -> &str {
    args.get(i).and_then(Value::as_str).unwrap_or("")
}

fn n(args: &[Value], i: usize) -> i64 {
    match args.get(i) {
        Some(Value::Int(x) | Value::Int64(x)) => *x,
        _ => 0,
    }
}

fn time(args: &[Value], i: usize) -> GoTime {
    match args.get(i) {
        Some(Value::Time(t)) => t.clone(),
        _ => GoTime::zero(),
    }
}

fn repeat_checked(unit: &str, count: i64) -> Result<String, String> {
    if count < 0 {
        return Err("strings: negative Repeat count".to_owned());
    }
    let count = usize::try_from(count).map_err(|_| "strings: Repeat output length overflow".to_owned())?;
    if unit.len().saturating_mul(count) > MAX_STRING_BYTES {
        return Err(format!("result exceeds {MAX_STRING_BYTES} bytes"));
    }
    Ok(unit.repeat(count))
}

/// Go's `strings.Replace(s, old, new, n)`.
fn go_replace(src: &str, old: &str, new: &str, count: i64) -> Result<String, String> {
    if count == 0 || (old == new) {
        return Ok(src.to_owned());
    }
    let limit = if count < 0 { usize::MAX } else { count as usize };
    let mut out = String::with_capacity(src.len());
    if old.is_empty() {
        let mut done = 0;
        for (i, ch) in src.char_indices() {
            if done < limit {
                out.push_str(new);
                done += 1;
            }
            out.push_str(&src[i..i + ch.len_utf8()]);
            if out.len() > MAX_STRING_BYTES {
                return Err(format!("result exceeds {MAX_STRING_BYTES} bytes"));
            }
        }
        if done < limit {
            out.push_str(new);
        }
        return Ok(out);
    }
    let replaced = src.replacen(old, new, limit);
    if replaced.len() > MAX_STRING_BYTES {
        return Err(format!("result exceeds {MAX_STRING_BYTES} bytes"));
    }
    Ok(replaced)
}

/// Go's `strings.Title`.
fn go_title(src: &str) -> String {
    let mut prev_sep = true;
    src.chars()
        .map(|c| {
            let out = if prev_sep { c.to_uppercase().next().unwrap_or(c) } else { c };
            prev_sep = if c.is_ascii() {
                !(c.is_ascii_alphanumeric() || c == '_')
            } else if c.is_alphanumeric() {
                false
            } else {
                c.is_whitespace()
            };
            out
        })
        .collect()
}

fn query_unescape(src: &str) -> Result<String, String> {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(h) = hex else {
                    let bad: String = src[i..].chars().take(3).collect();
                    return Err(format!("invalid URL escape {}", go_quote(&bad)));
                };
                let hs = std::str::from_utf8(h).unwrap_or("00");
                out.push(u8::from_str_radix(hs, 16).unwrap_or(0));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(super::text::go_lossy(&out).into_owned())
}

fn align(count: i64, src: &str, left: bool) -> Result<Value, String> {
    let len = src.chars().count() as i64;
    if count < 0 || count == len {
        return Ok(Value::Str(src.to_owned()));
    }
    if count > len {
        let pad = repeat_checked(" ", count - len)?;
        return checked(if left { format!("{src}{pad}") } else { format!("{pad}{src}") });
    }
    let c = count as usize;
    Ok(Value::Str(if left { src.chars().take(c).collect() } else { src.chars().skip(len as usize - c).collect() }))
}

fn trunc(c: i64, src: &str) -> String {
    let len = src.chars().count() as i64;
    if c < 0 && len + c > 0 {
        return src.chars().skip((len + c) as usize).collect();
    }
    if c >= 0 && len > c {
        return src.chars().take(c as usize).collect();
    }
    src.to_owned()
}

fn substr(start: i64, end: i64, src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let l = chars.len() as i64;
    let end = end.min(l);
    let start = start.min(l);
    if start < 0 {
        if end < 0 {
            return String::new();
        }
        return chars[..end as usize].iter().collect();
    }
    if end < 0 {
        return chars[start as usize..].iter().collect();
    }
    if start > end {
        return String::new();
    }
    chars[start as usize..end as usize].iter().collect()
}

fn unix_to_time(epoch: &str) -> Result<Value, String> {
    let i = go_parse_int(epoch, false).map_err(|e| format!("unable to parse time '{epoch}': {e}"))?;
    let t = match epoch.len() {
        5 => GoTime::from_unix(i.saturating_mul(86_400), 0),
        10 => GoTime::from_unix(i, 0),
        13 => GoTime::from_unix(0, i.saturating_mul(1_000_000)),
        16 => GoTime::from_unix(0, i.saturating_mul(1000)),
        19 => GoTime::from_unix(0, i),
        _ => return Err(format!("unable to parse time '{epoch}': %!w(<nil>)")),
    };
    Ok(Value::Time(t))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// sprig's `execDecimalOp`: exact decimal arithmetic, falling back to float64 if it overflows.
fn decimal_op(first: &Value, rest: &[Value], op: DecOp) -> Result<Value, String> {
    let mut dec = Decimal::from_f64(first.cast_float64());
    let mut acc = first.cast_float64();
    for r in rest {
        let b = r.cast_float64();
        if op == DecOp::Div && b == 0.0 {
            return Err("decimal division by 0".to_owned());
        }
        dec = match (dec, Decimal::from_f64(b)) {
            (Some(a), Some(bd)) => match op {
                DecOp::Add => a.add(bd),
                DecOp::Sub => a.sub(bd),
                DecOp::Mul => a.mul(bd),
                DecOp::Div => a.div(bd).ok().flatten(),
            },
            _ => None,
        };
        acc = match dec {
            Some(d) => d.to_f64(),
            None => match op {
                DecOp::Add => acc + b,
                DecOp::Sub => acc - b,
                DecOp::Mul => acc * b,
                DecOp::Div => acc / b,
            },
        };
    }
    Ok(Value::Float(acc))
}

fn sprig_round(a: &Value, places: i64, round_on: f64) -> f64 {
    let val = a.cast_float64();
    let pow = 10f64.powf(places as f64);
    let digit = pow * val;
    let frac = digit.fract();
    let r = if frac >= round_on { digit.ceil() } else { digit.floor() };
    r / pow
}

impl FuncSet for LokiFuncs<'_> {
    fn lookup(&self, name: &str) -> Option<FuncSpec> {
        builtin_spec(name).or_else(|| loki_spec(name))
    }

    fn call(&self, name: &str, args: &[Value], ctx: &mut CallCtx<'_>) -> Result<Value, String> {
        call(self, name, args, ctx)
    }
}

/// Calls a function other than `and`/`or` with already type-checked arguments.
fn call(funcs: &LokiFuncs<'_>, name: &str, args: &[Value], ctx: &mut CallCtx<'_>) -> Result<Value, String> {
    let spec = funcs.lookup(name).ok_or_else(|| format!("function {name:?} not defined"))?;
    if args.len() < spec.params.len() || (spec.variadic.is_none() && args.len() != spec.params.len()) {
        return Err(format!("wrong number of args for {name}: want {} got {}", spec.params.len(), args.len()));
    }
    Ok(match name {
        "__line__" => Value::Str(funcs.line.to_owned()),
        "__timestamp__" => Value::Time(GoTime::from_unix(0, funcs.ts)),
        "now" => Value::Time(GoTime::now()),
        "ToLower" | "lower" => Value::Str(go_case(s(args, 0), false)),
        "ToUpper" | "upper" => Value::Str(go_case(s(args, 0), true)),
        "TrimSpace" | "trim" => Value::Str(super::text::go_trim_space(s(args, 0)).to_owned()),
        "title" => Value::Str(go_title(s(args, 0))),
        "Replace" => return checked(go_replace(s(args, 0), s(args, 1), s(args, 2), n(args, 3))?),
        "replace" => return checked(go_replace(s(args, 2), s(args, 0), s(args, 1), -1)?),
        "Trim" => Value::Str(s(args, 0).trim_matches(|c| s(args, 1).contains(c)).to_owned()),
        "trimAll" => Value::Str(s(args, 1).trim_matches(|c| s(args, 0).contains(c)).to_owned()),
        "TrimLeft" => Value::Str(s(args, 0).trim_start_matches(|c| s(args, 1).contains(c)).to_owned()),
        "TrimRight" => Value::Str(s(args, 0).trim_end_matches(|c| s(args, 1).contains(c)).to_owned()),
        "TrimPrefix" => Value::Str(s(args, 0).strip_prefix(s(args, 1)).unwrap_or(s(args, 0)).to_owned()),
        "TrimSuffix" => Value::Str(s(args, 0).strip_suffix(s(args, 1)).unwrap_or(s(args, 0)).to_owned()),
        "trimPrefix" => Value::Str(s(args, 1).strip_prefix(s(args, 0)).unwrap_or(s(args, 1)).to_owned()),
        "trimSuffix" => Value::Str(s(args, 1).strip_suffix(s(args, 0)).unwrap_or(s(args, 1)).to_owned()),
        "contains" => Value::Bool(s(args, 1).contains(s(args, 0))),
        "hasPrefix" => Value::Bool(s(args, 1).starts_with(s(args, 0))),
        "hasSuffix" => Value::Bool(s(args, 1).ends_with(s(args, 0))),
        "regexReplaceAll" => {
            let re = ctx.regex(s(args, 0))?;
            return checked(re.replace_all(s(args, 1), s(args, 2)).into_owned());
        }
        "regexReplaceAllLiteral" => {
            let re = ctx.regex(s(args, 0))?;
            return checked(re.replace_all(s(args, 1), regex::NoExpand(s(args, 2))).into_owned());
        }
        "count" => Value::Int(ctx.regex(s(args, 0))?.find_iter(s(args, 1)).count() as i64),
        "urlencode" => Value::Str(query_escape(s(args, 0))),
        "urldecode" => Value::Str(query_unescape(s(args, 0))?),
        "b64enc" => return checked(base64::engine::general_purpose::STANDARD.encode(s(args, 0))),
        "b64dec" => Value::Str(match b64_engine().decode(s(args, 0).replace(['\r', '\n'], "")) {
            Ok(b) => super::text::go_lossy(&b).into_owned(),
            Err(e) => b64_error(&e),
        }),
        "bytes" => Value::Float(go_parse_bytes(s(args, 0))? as f64),
        "duration" | "duration_seconds" => Value::Float(duration_seconds(go_parse_duration(s(args, 0))?)),
        "unixEpoch" => Value::Str(time(args, 0).unix_secs().to_string()),
        "unixEpochMillis" => Value::Str(time(args, 0).unix_milli().to_string()),
        "unixEpochNanos" => Value::Str(time(args, 0).unix_nano().to_string()),
        "unixToTime" => unix_to_time(s(args, 0))?,
        "toDate" => Value::Time(GoTime::parse(s(args, 0), s(args, 1)).unwrap_or_else(GoTime::zero)),
        // Only UTC/Local exist here; Loki falls back to UTC for zones it cannot load.
        "toDateInZone" => Value::Time(GoTime::parse(s(args, 0), s(args, 2)).unwrap_or_else(GoTime::zero)),
        "date" => {
            let t = match &args[1] {
                Value::Time(t) => t.clone(),
                Value::Int(i) | Value::Int64(i) => GoTime::from_unix(*i, 0),
                _ => GoTime::now(),
            };
            return checked(t.utc().format(s(args, 0)));
        }
        "alignLeft" => align(n(args, 0), s(args, 1), true)?,
        "alignRight" => align(n(args, 0), s(args, 1), false)?,
        "trunc" => Value::Str(trunc(n(args, 0), s(args, 1))),
        "substr" => Value::Str(substr(n(args, 0), n(args, 1), s(args, 2))),
        "indent" | "nindent" => {
            let pad = repeat_checked(" ", n(args, 0))?;
            let body = go_replace(s(args, 1), "\n", &format!("\n{pad}"), -1)?;
            let nl = if name == "nindent" { "\n" } else { "" };
            return checked(format!("{nl}{pad}{body}"));
        }
        "repeat" => Value::Str(repeat_checked(s(args, 1), n(args, 0))?),
        "int" => Value::Int(args[0].cast_int64()),
        "float64" => Value::Float(args[0].cast_float64()),
        "add" => Value::Int64(args.iter().fold(0i64, |a, b| a.wrapping_add(b.cast_int64()))),
        "sub" => Value::Int64(args[0].cast_int64().wrapping_sub(args[1].cast_int64())),
        "mul" => Value::Int64(args[1..].iter().fold(args[0].cast_int64(), |a, b| a.wrapping_mul(b.cast_int64()))),
        "div" | "mod" => {
            let (a, b) = (args[0].cast_int64(), args[1].cast_int64());
            if b == 0 {
                return Err("runtime error: integer divide by zero".to_owned());
            }
            Value::Int64(if name == "div" { a.wrapping_div(b) } else { a.wrapping_rem(b) })
        }
        "max" => Value::Int64(args[1..].iter().fold(args[0].cast_int64(), |a, b| a.max(b.cast_int64()))),
        "min" => Value::Int64(args[1..].iter().fold(args[0].cast_int64(), |a, b| a.min(b.cast_int64()))),
        "maxf" => Value::Float(args[1..].iter().fold(args[0].cast_float64(), |a, b| a.max(b.cast_float64()))),
        "minf" => Value::Float(args[1..].iter().fold(args[0].cast_float64(), |a, b| a.min(b.cast_float64()))),
        "addf" => decimal_op(&Value::Float(0.0), args, DecOp::Add)?,
        "subf" => decimal_op(&args[0], &args[1..], DecOp::Sub)?,
        "mulf" => decimal_op(&args[0], &args[1..], DecOp::Mul)?,
        "divf" => decimal_op(&args[0], &args[1..], DecOp::Div)?,
        "ceil" => Value::Float(args[0].cast_float64().ceil()),
        "floor" => Value::Float(args[0].cast_float64().floor()),
        "round" => {
            let round_on = match args.get(2) {
                Some(Value::Float(f)) => *f,
                _ => 0.5,
            };
            Value::Float(sprig_round(&args[0], n(args, 1), round_on))
        }
        "fromJson" => match serde_json::from_str::<serde_json::Value>(s(args, 0)) {
            Ok(j) => from_json(&j),
            Err(_) => Value::Nil,
        },
        "default" => match args.get(1) {
            Some(given) if !given.is_empty_value(ctx.labels.len()) => given.clone(),
            _ => args[0].clone(),
        },
        _ => return call_builtin(name, args, ctx),
    })
}

fn b64_engine() -> base64::engine::GeneralPurpose {
    let config = base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true);
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config)
}

fn b64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(off, _) | base64::DecodeError::InvalidLastSymbol(off, _) => {
            format!("illegal base64 data at input byte {off}")
        }
        base64::DecodeError::InvalidLength(len) => format!("illegal base64 data at input byte {len}"),
        base64::DecodeError::InvalidPadding => "illegal base64 data at input byte 0".to_owned(),
    }
}
