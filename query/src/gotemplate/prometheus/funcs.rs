//! Prometheus's template functions (the `FuncMap` of `NewTemplateExpander`) on top of Go's
//! builtins.

use std::net::IpAddr;
use std::sync::Arc;

use super::TemplateQueryFn;
use super::humanize::{
    float_to_time, humanize, humanize_duration, humanize_percentage, humanize_timestamp, humanize1024, parse_duration,
    to_duration, to_float,
};
use crate::gotemplate::gofmt::go_quote;
use crate::gotemplate::{
    CallCtx, FuncSet, FuncSpec, ParamType, Struct, Value, builtin_spec, call_builtin, checked, go_case, query_escape,
};

/// Go type of a `query` result.
const QUERY_RESULT: &str = "template.queryResult";
/// Go type of one sample of a `query` result.
const SAMPLE: &str = "*template.sample";

use ParamType::{Any, Named, Str};

/// Prometheus's template functions for one expansion: `query` runs at the evaluation time, and
/// `externalURL`/`pathPrefix` read the configured external URL.
pub struct PrometheusFuncs<'a> {
    query: Option<TemplateQueryFn<'a>>,
    time_ms: i64,
    external_url: &'a str,
}

impl<'a> PrometheusFuncs<'a> {
    /// The functions of an expansion at `time_ms`; without a query function `query` fails.
    pub fn new(query: Option<TemplateQueryFn<'a>>, time_ms: i64, external_url: &'a str) -> Self {
        Self { query, time_ms, external_url }
    }

    fn query(&self, q: &str) -> Result<Value, String> {
        let run = self.query.ok_or("no query function is available here")?;
        let samples = run(q, self.time_ms)?;
        let samples = samples
            .into_iter()
            .map(|(labels, value)| {
                let labels = Value::StrMap(Arc::new(labels.into_iter().collect()));
                Value::Struct(Arc::new(Struct {
                    go_type: SAMPLE,
                    fields: vec![("Labels", labels), ("Value", Value::Float(value))],
                }))
            })
            .collect();
        Ok(Value::Slice(QUERY_RESULT, samples))
    }
}

/// Signature of a Prometheus function.
fn prometheus_spec(name: &str) -> Option<FuncSpec> {
    const QUERY: ParamType = Named(QUERY_RESULT);
    const ONE: ParamType = Named(SAMPLE);
    Some(match name {
        "query" | "safeHtml" | "title" | "toUpper" | "toLower" | "graphLink" | "tableLink" | "stripPort"
        | "stripDomain" | "parseDuration" => FuncSpec::fixed(&[Str]),
        "first" => FuncSpec::fixed(&[QUERY]),
        "label" => FuncSpec::fixed(&[Str, ONE]),
        "value" | "strvalue" => FuncSpec::fixed(&[ONE]),
        "args" => FuncSpec::variadic(&[], Any),
        "reReplaceAll" => FuncSpec::fixed(&[Str, Str, Str]),
        "match" => FuncSpec::fixed(&[Str, Str]),
        "sortByLabel" => FuncSpec::fixed(&[Str, QUERY]),
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage" | "humanizeTimestamp" | "toTime"
        | "toDuration" => FuncSpec::fixed(&[Any]),
        "now" | "pathPrefix" | "externalURL" => FuncSpec::fixed(&[]),
        _ => return None,
    })
}

impl FuncSet for PrometheusFuncs<'_> {
    fn lookup(&self, name: &str) -> Option<FuncSpec> {
        builtin_spec(name).or_else(|| prometheus_spec(name))
    }

    fn call(&self, name: &str, args: &[Value], ctx: &mut CallCtx<'_>) -> Result<Value, String> {
        let s = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("");
        Ok(match name {
            "query" => self.query(s(0))?,
            "first" => match &args[0] {
                Value::Slice(_, samples) if !samples.is_empty() => samples[0].clone(),
                _ => return Err("first() called on vector with no elements".to_owned()),
            },
            "label" => Value::Str(sample_label(&args[1], s(0))?),
            "value" => sample(&args[0])?.field("Value").cloned().unwrap_or(Value::Nil),
            "strvalue" => Value::Str(sample_label(&args[0], "__value__")?),
            "args" => Value::Map(args.iter().enumerate().map(|(i, a)| (format!("arg{i}"), a.clone())).collect()),
            "reReplaceAll" => {
                // `regexp.MustCompile` panics; Go's template turns the panic into the call's error.
                let re = ctx.regex(s(0)).map_err(|e| format!("regexp: Compile({}): {e}", regexp_quote(s(0))))?;
                return checked(re.replace_all(s(2), s(1)).into_owned());
            }
            "safeHtml" => Value::Html(s(0).to_owned()),
            "match" => Value::Bool(ctx.regex(s(0))?.is_match(s(1))),
            "title" => Value::Str(title(s(0))),
            "toUpper" => Value::Str(go_case(s(0), true)),
            "toLower" => Value::Str(go_case(s(0), false)),
            "graphLink" => Value::Str(format!("/graph?g0.expr={}&g0.tab=0", query_escape(s(0)))),
            "tableLink" => Value::Str(format!("/graph?g0.expr={}&g0.tab=1", query_escape(s(0)))),
            "sortByLabel" => sort_by_label(s(0), &args[1]),
            "stripPort" => Value::Str(strip_port(s(0)).to_owned()),
            "stripDomain" => Value::Str(strip_domain(s(0))),
            "humanize" => Value::Str(humanize(to_float(&args[0])?)),
            "humanize1024" => Value::Str(humanize1024(to_float(&args[0])?)),
            "humanizeDuration" => Value::Str(humanize_duration(to_float(&args[0])?)),
            "humanizePercentage" => Value::Str(humanize_percentage(to_float(&args[0])?)),
            "humanizeTimestamp" => Value::Str(humanize_timestamp(to_float(&args[0])?)?),
            "toTime" => Value::Time(float_to_time(to_float(&args[0])?)?),
            "toDuration" => to_duration(to_float(&args[0])?),
            "now" => Value::Float(self.time_ms as f64 / 1000.0),
            "pathPrefix" => Value::Str(url_path(self.external_url)),
            "externalURL" => Value::Str(self.external_url.to_owned()),
            "parseDuration" => Value::Float(parse_duration(s(0))?),
            _ => return call_builtin(name, args, ctx),
        })
    }
}

/// The struct behind a `*template.sample` argument (nil fails as Go's dereference does).
fn sample(v: &Value) -> Result<&Struct, String> {
    match v {
        Value::Struct(s) => Ok(s),
        _ => Err("runtime error: invalid memory address or nil pointer dereference".to_owned()),
    }
}

fn sample_label(v: &Value, name: &str) -> Result<String, String> {
    let labels = sample(v)?.field("Labels").and_then(|l| l.str_map(&[])).unwrap_or_default();
    Ok(labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default())
}

/// `sortByLabel`: a stable sort on one label's value (missing is "").
fn sort_by_label(label: &str, v: &Value) -> Value {
    let mut samples = match v {
        Value::Slice(_, samples) => samples.clone(),
        _ => Vec::new(),
    };
    samples.sort_by_cached_key(|s| sample_label(s, label).unwrap_or_default());
    Value::Slice(QUERY_RESULT, samples)
}

/// `regexp`'s quoting of a pattern in `MustCompile`'s panic.
fn regexp_quote(s: &str) -> String {
    let backquotable = !s.chars().any(|c| c == '`' || c == '\u{FEFF}' || c == '\u{7F}' || (c < ' ' && c != '\t'));
    if backquotable { format!("`{s}`") } else { go_quote(s) }
}

/// Go's `net.SplitHostPort`, or `None` where it fails.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

/// `stripPort`: the host of `host:port`, or the input when it does not split.
fn strip_port(hostport: &str) -> &str {
    split_host_port(hostport).map_or(hostport, |(host, _)| host)
}

/// `stripDomain`: the first label of a host name, keeping the port; IP addresses stay whole.
fn strip_domain(hostport: &str) -> String {
    let (host, port) = split_host_port(hostport).unwrap_or((hostport, ""));
    if host.parse::<IpAddr>().is_ok() {
        return hostport.to_owned();
    }
    let host = host.split('.').next().unwrap_or("");
    match (port, host.contains(':')) {
        ("", _) => host.to_owned(),
        (port, true) => format!("[{host}]:{port}"),
        (port, false) => format!("{host}:{port}"),
    }
}

/// The path of a URL, as `url.URL.Path` holds it (percent-decoded).
fn url_path(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let path = match url.find("//") {
        Some(i) if url[..i].ends_with(':') || i == 0 => {
            let after = &url[i + 2..];
            after.find('/').map_or("", |p| &after[p..])
        }
        _ => url.split_once(':').filter(|(scheme, _)| !scheme.contains('/')).map_or(url, |(_, rest)| rest),
    };
    percent_decode(path)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `title`: `cases.Title(language.AmericanEnglish, cases.NoLower)`, the first letter of every word
/// in title case and the rest kept as written. Words are runs of letters, digits, marks and
/// apostrophes/periods between letters (an approximation of Unicode word breaking).
fn title(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut in_word = false;
    for (i, &c) in chars.iter().enumerate() {
        let inner_punct = matches!(c, '\'' | '\u{2019}' | '.' | ':' | '\u{B7}')
            && in_word
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        if c.is_alphanumeric() || c == '_' || inner_punct || (in_word && is_mark(c)) {
            if !in_word && c.is_alphabetic() {
                push_title(&mut out, c);
            } else {
                out.push(c);
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

fn is_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}')
}

/// Appends the title case of `c` (upper case, with Unicode's title-case digraphs and ligatures).
fn push_title(out: &mut String, c: char) {
    let digraph = match c {
        '\u{1C4}'..='\u{1C6}' => Some('\u{1C5}'),
        '\u{1C7}'..='\u{1C9}' => Some('\u{1C8}'),
        '\u{1CA}'..='\u{1CC}' => Some('\u{1CB}'),
        '\u{1F1}'..='\u{1F3}' => Some('\u{1F2}'),
        _ => None,
    };
    if let Some(t) = digraph {
        out.push(t);
        return;
    }
    let mut upper = c.to_uppercase();
    if let Some(first) = upper.next() {
        out.push(first);
        out.extend(upper.flat_map(char::to_lowercase));
    }
}
