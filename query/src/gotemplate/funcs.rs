//! Template functions: the [`FuncSet`] a template is parsed and executed with, and Go's builtins
//! (`and or not len index print printf println html js urlquery eq ne lt le gt ge`) that every set
//! starts from.

use std::collections::HashMap;

use regex::Regex;

use super::gofmt::{sprint, sprintf};
use super::goregex::compile_go_regex;
use super::value::{ParamType, Value};

/// Longest string a function may produce (bounds `repeat`, `indent`, padding...).
pub const MAX_STRING_BYTES: usize = 1 << 20;

/// Maximum number of compiled regexes cached per template.
const MAX_CACHED_REGEXES: usize = 64;

use ParamType::{Any, Str};

/// Signature of a template function, checked like Go's `text/template` checks a `FuncMap` entry.
#[derive(Debug, Clone, Copy)]
pub struct FuncSpec {
    /// Fixed parameters.
    pub params: &'static [ParamType],
    /// Type of the variadic tail, if any.
    pub variadic: Option<ParamType>,
}

impl FuncSpec {
    /// A function with fixed parameters.
    pub const fn fixed(params: &'static [ParamType]) -> Self {
        Self { params, variadic: None }
    }

    /// A function with fixed parameters and a variadic tail.
    pub const fn variadic(params: &'static [ParamType], tail: ParamType) -> Self {
        Self { params, variadic: Some(tail) }
    }
}

/// The functions a template can call (Go's `FuncMap` plus the builtins): LogQL's set, Prometheus's.
///
/// Names are resolved when the template is parsed (an unknown name is a parse error, as in Go) and
/// again when it runs; `call` gets arguments already checked against the [`FuncSpec`]. `and` and
/// `or` are evaluated by the engine itself, since they short-circuit.
pub trait FuncSet {
    /// Signature of `name`, or `None` when the set has no such function.
    fn lookup(&self, name: &str) -> Option<FuncSpec>;

    /// Calls `name`; the error is the text after Go's `error calling <name>: `.
    fn call(&self, name: &str, args: &[Value], ctx: &mut CallCtx<'_>) -> Result<Value, String>;
}

/// What a function call may use beyond its arguments.
pub struct CallCtx<'a> {
    /// The map [`Value::Labels`] stands for in this execution.
    pub labels: &'a [(String, String)],
    /// Compiled regexes of the template, by Go pattern.
    pub regexes: &'a mut HashMap<String, Regex>,
}

impl CallCtx<'_> {
    /// Compiles a Go RE2 pattern, or reuses it from the template's cache.
    pub fn regex(&mut self, src: &str) -> Result<Regex, String> {
        if let Some(re) = self.regexes.get(src) {
            return Ok(re.clone());
        }
        let re = compile_go_regex(src)?;
        if self.regexes.len() >= MAX_CACHED_REGEXES {
            self.regexes.clear();
        }
        self.regexes.insert(src.to_owned(), re.clone());
        Ok(re)
    }
}

/// Signature of a Go builtin.
pub fn builtin_spec(name: &str) -> Option<FuncSpec> {
    Some(match name {
        "and" | "or" => FuncSpec::variadic(&[Any], Any),
        "not" | "len" => FuncSpec::fixed(&[Any]),
        "index" => FuncSpec::variadic(&[Any], Any),
        "print" | "println" | "html" | "js" | "urlquery" => FuncSpec::variadic(&[], Any),
        "printf" => FuncSpec::variadic(&[Str], Any),
        "eq" => FuncSpec::variadic(&[Any], Any),
        "ne" | "lt" | "le" | "gt" | "ge" => FuncSpec::fixed(&[Any, Any]),
        _ => return None,
    })
}

/// Fails when a produced string is longer than [`MAX_STRING_BYTES`].
pub fn checked(out: String) -> Result<Value, String> {
    if out.len() > MAX_STRING_BYTES {
        return Err(format!("result exceeds {MAX_STRING_BYTES} bytes"));
    }
    Ok(Value::Str(out))
}

fn s(args: &[Value], i: usize) -> &str {
    args.get(i).and_then(Value::as_str).unwrap_or("")
}

/// Calls a Go builtin other than `and`/`or` with type-checked arguments.
pub fn call_builtin(name: &str, args: &[Value], ctx: &CallCtx<'_>) -> Result<Value, String> {
    Ok(match name {
        "not" => Value::Bool(!args[0].truth(ctx.labels.len())),
        "print" => return checked(sprint(args, ctx.labels, false)),
        "println" => return checked(sprint(args, ctx.labels, true)),
        "printf" => return checked(sprintf(s(args, 0), &args[1..], ctx.labels)),
        "html" => return checked(html_escape(&sprint(args, ctx.labels, false))),
        "js" => return checked(js_escape(&sprint(args, ctx.labels, false))),
        "urlquery" => return checked(query_escape(&sprint(args, ctx.labels, false))),
        "eq" => Value::Bool(eq(&args[0], &args[1..])?),
        "ne" => Value::Bool(!eq(&args[0], &args[1..2])?),
        "lt" => Value::Bool(lt(&args[0], &args[1])?),
        "le" => Value::Bool(lt(&args[0], &args[1])? || eq(&args[0], &args[1..2])?),
        "gt" => Value::Bool(!(lt(&args[0], &args[1])? || eq(&args[0], &args[1..2])?)),
        "ge" => Value::Bool(!lt(&args[0], &args[1])?),
        "len" => Value::Int(length(&args[0], ctx.labels)?),
        "index" => index(&args[0], &args[1..], ctx.labels)?,
        other => return Err(format!("function {other:?} not implemented")),
    })
}

/// Go's `url.QueryEscape`.
pub fn query_escape(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for b in src.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn html_escape(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `strings.ToUpper`/`ToLower` (simple case mapping: multi-char mappings keep the rune).
pub fn go_case(src: &str, upper: bool) -> String {
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        let mapped: Vec<char> = if upper { c.to_uppercase().collect() } else { c.to_lowercase().collect() };
        match mapped.as_slice() {
            [m] => out.push(*m),
            _ => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Nil,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Html(_) => Kind::Str,
        Value::Nil => Kind::Nil,
        _ => Kind::Other,
    }
}

fn string_of(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) | Value::Html(s) => Some(s),
        _ => None,
    }
}

/// Go template `eq arg1 arg2...`: true when arg1 equals any other argument.
fn eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".to_owned());
    }
    for b in rest {
        let (ka, kb) = (kind(a), kind(b));
        let truth = if ka != kb {
            if ka != Kind::Nil && kb != Kind::Nil {
                return Err("incompatible types for comparison".to_owned());
            }
            false
        } else {
            match (a, b) {
                (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
                (Value::Time(x), Value::Time(y)) => x == y,
                (Value::Duration(x), Value::Duration(y)) => x == y,
                (Value::List(_) | Value::Map(_) | Value::Labels | Value::StrMap(_) | Value::Slice(..), _) => {
                    return Err(format!("non-comparable type {}", a.type_name()));
                }
                _ if ka == Kind::Str => string_of(a) == string_of(b),
                _ => a == b,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go template `lt`.
fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Nil | Kind::Other | Kind::Bool) || matches!(kb, Kind::Nil | Kind::Other | Kind::Bool) {
        return Err("invalid type for comparison".to_owned());
    }
    if ka != kb {
        return Err("incompatible types for comparison".to_owned());
    }
    Ok(match (a, b) {
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        _ => string_of(a) < string_of(b),
    })
}

fn length(v: &Value, labels: &[(String, String)]) -> Result<i64, String> {
    if let Some(m) = v.str_map(labels) {
        return Ok(m.len() as i64);
    }
    Ok(match v {
        Value::Str(s) | Value::Html(s) => s.len() as i64,
        Value::List(l) | Value::Slice(_, l) => l.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::Nil => return Err("len of nil pointer".to_owned()),
        other => return Err(format!("len of type {}", other.type_name())),
    })
}

fn label_lookup(labels: &[(String, String)], key: &str) -> String {
    labels.binary_search_by(|(n, _)| n.as_str().cmp(key)).map(|i| labels[i].1.clone()).unwrap_or_default()
}

fn index(item: &Value, keys: &[Value], labels: &[(String, String)]) -> Result<Value, String> {
    let mut cur = item.clone();
    for k in keys {
        if let Some(m) = cur.str_map(labels) {
            cur = match k {
                Value::Str(key) => Value::Str(label_lookup(m, key)),
                other => return Err(format!("value has type {}; should be string", other.type_name())),
            };
            continue;
        }
        cur = match (&cur, k) {
            (Value::Nil, _) => return Err("index of untyped nil".to_owned()),
            (Value::Map(m), Value::Str(key)) => m.get(key).cloned().unwrap_or(Value::Nil),
            (Value::Map(_), other) => {
                return Err(format!("value has type {}; should be string", other.type_name()));
            }
            (Value::List(l) | Value::Slice(_, l), Value::Int(i) | Value::Int64(i)) => {
                usize::try_from(*i).ok().and_then(|x| l.get(x)).cloned().ok_or(format!("index out of range: {i}"))?
            }
            (Value::Str(s) | Value::Html(s), Value::Int(i) | Value::Int64(i)) => {
                let b = usize::try_from(*i).ok().and_then(|x| s.as_bytes().get(x));
                Value::Int(i64::from(*b.ok_or(format!("index out of range: {i}"))?))
            }
            (Value::List(_) | Value::Slice(..) | Value::Str(_) | Value::Html(_), other) => {
                return Err(format!("cannot index slice/array with type {}", other.type_name()));
            }
            (other, _) => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(cur)
}
