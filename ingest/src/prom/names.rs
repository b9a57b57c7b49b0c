//! Metric, unit and label names, as Prometheus 3's OTLP receiver builds them with the default
//! `UnderscoreEscapingWithSuffixes` strategy (`github.com/prometheus/otlptranslator`:
//! `metric_namer.go`, `unit_namer.go`, `label_namer.go`).

/// The kind of metric, as far as naming cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// Gauge: unit `1` adds `_ratio`.
    Gauge,
    /// Monotonic sum: `_total`.
    MonotonicCounter,
    /// Non-monotonic sum, histogram, summary, exponential histogram: unit suffix only.
    Other,
}

/// UCUM unit → Prometheus unit word (`unitMap`). Units not listed are kept as written.
fn main_unit(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// The unit after `/` → singular word (`perUnitMap`).
fn per_unit(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// Whether a character may stay in a metric name (`[a-zA-Z0-9:]`; `_` is a separator).
fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Main and `per_` suffixes of a unit, before clean-up. Parts holding a `{annotation}` are dropped.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if main.is_empty() || main.contains(['{', '}']) { String::new() } else { main_unit(main).to_owned() };
    let per = match parts.next() {
        Some(p) if !p.is_empty() => {
            let p = p.trim();
            if p.is_empty() || p.contains(['{', '}']) { String::new() } else { format!("per_{}", per_unit(p)) }
        }
        _ => String::new(),
    };
    (main, per)
}

/// Invalid characters → `_`, runs of `_` collapsed, a leading `_` removed (`cleanUpUnit`).
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_metric_char(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    match out.strip_prefix('_') {
        Some(rest) => rest.to_owned(),
        None => out,
    }
}

/// The Prometheus metric family name for an OTLP metric, or why there is none.
///
/// With suffixes: the name split into tokens of `[a-zA-Z0-9:]` (so runs of invalid characters
/// and `_` become one `_`), the unit and `per_` unit added unless already a token, `_total`
/// moved to the end for monotonic counters, `_ratio` for gauges of unit `1`, and `_` in front of
/// a leading digit. Without suffixes only the tokenising and the digit rule apply.
pub(crate) fn metric_name(name: &str, unit: &str, kind: NameKind, add_suffixes: bool) -> Result<String, String> {
    if !add_suffixes {
        // Without suffixes `_` is a valid character, so runs of it survive; only invalid runs fold.
        let tokens: Vec<&str> =
            name.split(|c: char| !(is_metric_char(c) || c == '_')).filter(|t| !t.is_empty()).collect();
        return finish_name(name, tokens.join("_"));
    }
    let mut tokens: Vec<&str> = name.split(|c: char| !is_metric_char(c)).filter(|t| !t.is_empty()).collect();
    let (main, per);
    {
        let (m, p) = unit_suffixes(unit);
        main = clean_unit(&m);
        per = clean_unit(&p);
        let mut main: &str = &main;
        let mut per: &str = &per;
        if tokens.contains(&main) {
            main = "";
        }
        if per == "per_" {
            per = "";
        } else {
            per = per.strip_suffix('_').unwrap_or(per);
            if tokens.contains(&per) {
                per = "";
            }
        }
        if !per.is_empty() {
            main = main.strip_suffix('_').unwrap_or(main);
        }
        if !main.is_empty() {
            tokens.push(main);
        }
        if !per.is_empty() {
            tokens.push(per);
        }
        if kind == NameKind::MonotonicCounter {
            tokens.retain(|t| *t != "total");
            tokens.push("total");
        }
        if unit == "1" && kind == NameKind::Gauge {
            tokens.retain(|t| *t != "ratio");
            tokens.push("ratio");
        }
    }
    finish_name(name, tokens.join("_"))
}

/// The leading-digit rule and the emptiness checks shared by both naming paths.
fn finish_name(name: &str, mut out: String) -> Result<String, String> {
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        return Err(format!("metric name {name:?} has no valid characters"));
    }
    if out != name && out.chars().all(|c| c == '_') {
        return Err(format!("metric name {name:?} normalises to the invalid name {out:?}"));
    }
    Ok(out)
}

/// The unit as Prometheus's metadata names it (`UnitNamer`): `s` → `seconds`, `By/s` →
/// `bytes_per_second`, `1` and `{annotations}` → empty.
pub(crate) fn unit_name(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let (main, per) = (clean_unit(&main), clean_unit(&per));
    let joined = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    let s = joined.strip_prefix('_').unwrap_or(&joined);
    s.strip_suffix('_').unwrap_or(s).to_owned()
}

/// A Prometheus label name for an OTLP attribute key (`LabelNamer` with Prometheus 3's
/// defaults): every character outside `[a-zA-Z0-9_]` becomes `_` (runs are kept), a leading digit
/// gets `key_` in front, a single leading `_` gets `key` in front, and `__` prefixes are kept.
pub(crate) fn label_name(key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("attribute with an empty key".to_owned());
    }
    let mut out: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    if out != key && out.chars().all(|c| c == '_') {
        return Err(format!("attribute key {key:?} normalises to the invalid label name {out:?}"));
    }
    Ok(out)
}
