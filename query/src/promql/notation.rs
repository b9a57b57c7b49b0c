//! The small languages of Prometheus's test files, shared by the PromQL `.test` runner and
//! `lookout rules test` (promtool's `input_series`): durations (`query/testdata/promql/FORMAT.md`
//! §2), the series notation of load and expected-result lines (§4), Go string literals and Go
//! numbers (§6.2).
//!
//! Native-histogram literals `{{…}}` (§5) are decoded into [`FloatHistogram`]s, and
//! [`histogram_text`] prints one back in Prometheus's canonical form (`TestExpression`).

use std::sync::LazyLock;

use lookout_storage::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Label, Labels, METRIC_NAME, stale_nan};
use regex::Regex;

use crate::gotemplate::gofmt::format_float;

/// Most positions one item may expand to, so that a typo cannot exhaust memory.
const MAX_REPEAT: u64 = 10_000_000;

/// One position of an expanded value sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this position.
    Omitted,
    /// A float, possibly the staleness marker.
    Float(f64),
    /// A native histogram.
    Histogram(FloatHistogram),
}

/// A Prometheus duration: `^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$`.
#[allow(clippy::expect_used, reason = "a constant pattern, compiled by every test that parses a duration")]
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
        .expect("duration regex")
});

/// A float as the series notation writes it (sign optional), and the unsigned form.
const FLOAT: &str = r"(?:(?i:inf|nan)|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)";

/// A numeric series item: `v`, `vxN`, `a+bxN`, `a-bxN`.
#[allow(clippy::expect_used, reason = "a constant pattern, compiled by every test that parses a series")]
static NUMERIC_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^([+-]?{FLOAT})(?:([+-])({FLOAT}))?(?:x(\d+))?$")).expect("series item regex")
});

/// Parses a Prometheus duration (`1m30s`, `10s53ms`, `0`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    let caps = match DURATION.captures(s) {
        Some(caps) if !s.is_empty() => caps,
        _ => return Err(format!("not a valid duration string: {s:?}")),
    };
    const UNITS: [i64; 7] = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1];
    let mut total: i64 = 0;
    for (i, unit) in UNITS.iter().enumerate() {
        if let Some(m) = caps.get(i + 1) {
            let n: i64 = m.as_str().parse().map_err(|_| format!("duration out of range: {s:?}"))?;
            total = n
                .checked_mul(*unit)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        }
    }
    Ok(total)
}

/// Parses a whole line as Go does for a scalar expectation: `strconv.ParseInt(s, 0, 64)`, else
/// `strconv.ParseFloat(s, 64)` (so `0x10`, `010`, `1e3`, `NaN`, `-Inf` are numbers).
pub fn parse_go_number(s: &str) -> Option<f64> {
    parse_go_int(s).map(|i| i as f64).or_else(|| parse_go_float(s))
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`/`0o`/`0b`/`0` prefixes choose the
/// base; underscores may separate digits when there is a prefix.
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.to_string(), true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.to_string(), true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    if digits.contains('_') && !prefixed {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text, `inf`, `infinity` and `nan` (any case,
/// optional sign). Hex floats are not accepted; no file uses them.
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let word = body.to_ascii_lowercase();
    let is_word = word == "inf" || word == "infinity" || word == "nan";
    let is_decimal = !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && body.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.');
    if !is_word && !is_decimal {
        return None;
    }
    s.parse().ok()
}

/// Reads a PromQL/Go string literal (`"…"`, `'…'` with Go escapes, or raw `` `…` ``) that
/// makes up all of `s`.
pub fn unquote(s: &str) -> Result<String, String> {
    let mut cursor = Cursor::new(s);
    let out = cursor.quoted()?;
    if !cursor.rest().is_empty() {
        return Err(format!("unexpected text after string literal: {:?}", cursor.rest()));
    }
    Ok(out)
}

/// Parses `<series> <values>` (FORMAT.md §4): the label set and the expanded values.
pub fn parse_series_line(line: &str) -> Result<(Labels, Vec<SeqValue>), String> {
    let mut cursor = Cursor::new(line);
    let labels = cursor.label_set()?;
    let rest = cursor.rest();
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!("expected a space after the label set, found {rest:?}"));
    }
    let values = parse_values(rest.trim())?;
    Ok((labels, values))
}

/// Expands a space-separated value list (FORMAT.md §4.2) into positions.
pub fn parse_values(s: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    for item in split_items(s)? {
        expand_item(item, &mut out)?;
    }
    Ok(out)
}

/// Splits a value list at whitespace that is not inside a `{{…}}` histogram literal.
fn split_items(s: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with("{{") {
            let end = rest.find("}}").ok_or_else(|| format!("unterminated histogram literal in {s:?}"))?;
            start.get_or_insert(i);
            i += end + 2;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            if let Some(b) = start.take() {
                items.push(&s[b..i]);
            }
        } else {
            start.get_or_insert(i);
        }
        i += c.len_utf8();
    }
    if let Some(b) = start {
        items.push(&s[b..]);
    }
    Ok(items)
}

/// Parses a repeat count `N` of `xN`.
fn repeat(n: &str, item: &str) -> Result<u64, String> {
    let n: u64 = n.parse().map_err(|_| format!("bad repeat count in {item:?}"))?;
    if n > MAX_REPEAT {
        return Err(format!("repeat count too large in {item:?}"));
    }
    Ok(n)
}

/// Appends the positions one item stands for.
fn expand_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if item == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        // `_xN` is N positions, not N+1.
        let n = repeat(n, item)?;
        out.extend((0..n).map(|_| SeqValue::Omitted));
        return Ok(());
    }
    if item == "stale" {
        out.push(SeqValue::Float(stale_nan()));
        return Ok(());
    }
    if item.starts_with("{{") {
        return expand_histogram_item(item, out);
    }
    let caps = NUMERIC_ITEM.captures(item).ok_or_else(|| format!("invalid series value {item:?}"))?;
    let parse = |s: &str| s.parse::<f64>().map_err(|_| format!("invalid number {s:?} in {item:?}"));
    let mut value = parse(&caps[1])?;
    let times = match caps.get(4) {
        Some(n) => repeat(n.as_str(), item)?,
        None if caps.get(2).is_some() => return Err(format!("missing xN after {item:?}")),
        None => {
            out.push(SeqValue::Float(value));
            return Ok(());
        }
    };
    let step = match (caps.get(2), caps.get(3)) {
        (Some(op), Some(b)) if op.as_str() == "-" => -parse(b.as_str())?,
        (Some(_), Some(b)) => parse(b.as_str())?,
        _ => 0.0,
    };
    // Upstream adds the step again and again (not `a + i*b`), which matters in the last bits.
    for _ in 0..=times {
        out.push(SeqValue::Float(value));
        value += step;
    }
    Ok(())
}

/// Expands `{{A}}`, `{{A}}xN` (N+1 copies) or `{{A}}±{{B}}xN` (A, A±B, A±B±B, …, adding again
/// and again as Prometheus does).
fn expand_histogram_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    let end = item.find("}}").ok_or_else(|| format!("unterminated histogram {item:?}"))? + 2;
    let (first, rest) = item.split_at(end);
    let base = parse_histogram(first)?;
    if rest.is_empty() {
        out.push(SeqValue::Histogram(base));
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n = repeat(n, item)?;
        out.extend((0..=n).map(|_| SeqValue::Histogram(base.clone())));
        return Ok(());
    }
    let (subtract, incr) = match rest.as_bytes().first() {
        Some(b'+') => (false, &rest[1..]),
        Some(b'-') => (true, &rest[1..]),
        _ => return Err(format!("invalid histogram series item {item:?}")),
    };
    if !incr.starts_with("{{") {
        return Err(format!("invalid histogram series item {item:?}"));
    }
    let incr_end = incr.find("}}").ok_or_else(|| format!("unterminated histogram {item:?}"))? + 2;
    let (second, times) = incr.split_at(incr_end);
    let step = parse_histogram(second)?;
    let n = times.strip_prefix('x').ok_or_else(|| format!("missing xN after {item:?}"))?;
    let n = repeat(n, item)?;
    let mut current = base;
    out.push(SeqValue::Histogram(current.clone()));
    for _ in 0..n {
        if current.schema > step.schema {
            return Err(format!(
                "error combining histograms: cannot merge from schema {} to {}",
                step.schema, current.schema
            ));
        }
        current = if subtract { current.sub(&step) } else { current.add(&step) }
            .map_err(|e| format!("error combining histograms: {e}"))?;
        out.push(SeqValue::Histogram(current.clone()));
    }
    Ok(())
}

/// Parses one histogram literal `{{key:value …}}` (FORMAT.md §5).
pub fn parse_histogram(text: &str) -> Result<FloatHistogram, String> {
    let body = text
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .ok_or_else(|| format!("invalid histogram {text:?}"))?;
    if body.starts_with(' ') && !body.trim().is_empty() {
        return Err(format!("unexpected space after \"{{{{\" in {text:?}"));
    }
    let mut h = FloatHistogram::default();
    let (mut offset, mut n_offset) = (0i32, 0i32);
    let (mut buckets, mut n_buckets) = (Vec::new(), Vec::new());
    let mut seen: Vec<String> = Vec::new();
    let mut rest = body.trim_end();
    while !rest.is_empty() {
        rest = rest.trim_start();
        let (key, after) = rest.split_once(':').ok_or_else(|| format!("expected key:value in histogram {text:?}"))?;
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(format!("duplicate key \"{key}\" in histogram description"));
        }
        let (value, next) = if after.starts_with('[') {
            let close = after.find(']').ok_or_else(|| format!("unterminated list in histogram {text:?}"))?;
            after.split_at(close + 1)
        } else {
            after.split_at(after.find(' ').unwrap_or(after.len()))
        };
        rest = next;
        let number = || parse_go_float(value).ok_or_else(|| format!("invalid number {value:?} for {key}"));
        let int = || value.parse::<i32>().map_err(|_| format!("invalid integer {value:?} for {key}"));
        match key.as_str() {
            "schema" => h.schema = int()?,
            "sum" => h.sum = number()?,
            "count" => h.count = number()?,
            "z_bucket" => h.zero_count = number()?,
            "z_bucket_w" => h.zero_threshold = number()?,
            "offset" => offset = int()?,
            "n_offset" => n_offset = int()?,
            "buckets" => buckets = float_list(value)?,
            "n_buckets" => n_buckets = float_list(value)?,
            "custom_values" => h.custom_values = float_list(value)?,
            "counter_reset_hint" => {
                h.hint = match value {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::Reset,
                    "not_reset" => CounterResetHint::NotReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("invalid counter_reset_hint {other:?}")),
                }
            }
            other => return Err(format!("unknown histogram description key {other:?}")),
        }
        seen.push(key);
    }
    if !h.uses_custom_buckets() && !h.custom_values.is_empty() {
        return Err(format!("custom_values need schema {CUSTOM_BUCKETS_SCHEMA}, in {text:?}"));
    }
    h.set_positive(buckets.into_iter().enumerate().map(|(k, c)| (offset + k as i32, c)));
    h.set_negative(n_buckets.into_iter().enumerate().map(|(k, c)| (n_offset + k as i32, c)));
    Ok(h)
}

/// `[f f …]`.
fn float_list(s: &str) -> Result<Vec<f64>, String> {
    let inner = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or_else(|| format!("invalid list {s:?}"))?;
    inner
        .split_whitespace()
        .map(|f| parse_go_float(f).ok_or_else(|| format!("invalid number {f:?} in {s:?}")))
        .collect()
}

/// A histogram in Prometheus's canonical test form (`FloatHistogram.TestExpression`): compacted
/// to one span per sign, fields that are zero left out, numbers as Go's `%g`.
pub fn histogram_text(h: &FloatHistogram) -> String {
    let g = |f: f64| format_float(f, 'g', -1);
    let list = |v: &[f64]| format!("[{}]", v.iter().map(|f| g(*f)).collect::<Vec<_>>().join(" "));
    let h = h.compacted();
    let mut parts = Vec::new();
    if h.schema != 0 {
        parts.push(format!("schema:{}", h.schema));
    }
    for (key, v) in [("count", h.count), ("sum", h.sum), ("z_bucket", h.zero_count), ("z_bucket_w", h.zero_threshold)] {
        if v != 0.0 {
            parts.push(format!("{key}:{}", g(v)));
        }
    }
    if h.uses_custom_buckets() {
        parts.push(format!("custom_values:{}", list(&h.custom_values)));
    }
    match h.hint {
        CounterResetHint::Unknown => {}
        CounterResetHint::Reset => parts.push("counter_reset_hint:reset".into()),
        CounterResetHint::NotReset => parts.push("counter_reset_hint:not_reset".into()),
        CounterResetHint::Gauge => parts.push("counter_reset_hint:gauge".into()),
    }
    for (offset_key, buckets_key, spans, buckets) in [
        ("offset", "buckets", &h.positive_spans, &h.positive_buckets),
        ("n_offset", "n_buckets", &h.negative_spans, &h.negative_buckets),
    ] {
        if let Some(span) = spans.first().filter(|s| s.offset != 0) {
            parts.push(format!("{offset_key}:{}", span.offset));
        }
        if !buckets.is_empty() {
            parts.push(format!("{buckets_key}:{}", list(buckets)));
        }
    }
    format!("{{{{{}}}}}", parts.join(" "))
}

/// A position in a line being read by hand.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `s`.
    fn new(s: &'a str) -> Cursor<'a> {
        Cursor { s, pos: 0 }
    }

    /// What is left.
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    /// The next character, if any.
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Takes the next character.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Skips spaces and tabs.
    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Takes the longest run of characters for which `ok` holds.
    fn take_while(&mut self, ok: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&ok) {
            self.bump();
        }
        &self.s[start..self.pos]
    }

    /// Whether a label set `{…}` (not a histogram `{{…}}`) starts here.
    fn at_label_set(&self) -> bool {
        self.rest().starts_with('{') && !self.rest().starts_with("{{")
    }

    /// `name`, `name{…}` or `{…}` (FORMAT.md §4.1).
    fn label_set(&mut self) -> Result<Labels, String> {
        let mut labels = Vec::new();
        let is_name_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
        if self.peek().is_some_and(is_name_start) {
            let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            labels.push(Label::new(METRIC_NAME, name));
            let before = self.pos;
            self.skip_space();
            if !self.at_label_set() {
                self.pos = before;
                return Ok(Labels::new(labels));
            }
        } else if !self.at_label_set() {
            return Err(format!("expected a metric name or label set at {:?}", self.rest()));
        }
        self.bump();
        self.braces(&mut labels)?;
        Ok(Labels::new(labels))
    }

    /// The inside of `{…}` after the opening brace, through the closing one.
    fn braces(&mut self, labels: &mut Vec<Label>) -> Result<(), String> {
        loop {
            self.skip_space();
            match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(());
                }
                None => return Err("unterminated label set".to_string()),
                _ => {}
            }
            let quoted = matches!(self.peek(), Some('"' | '\'' | '`'));
            let name = if quoted {
                self.quoted()?
            } else {
                let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                if name.is_empty() {
                    return Err(format!("expected a label name at {:?}", self.rest()));
                }
                name.to_string()
            };
            self.skip_space();
            if quoted && matches!(self.peek(), Some(',' | '}')) {
                // A bare quoted string is the metric name.
                labels.push(Label::new(METRIC_NAME, name));
            } else {
                if self.bump() != Some('=') || matches!(self.peek(), Some('~')) {
                    return Err(format!("only `=` label matchers are allowed in series (label {name:?})"));
                }
                self.skip_space();
                let value = self.quoted()?;
                labels.push(Label::new(name, value));
            }
            self.skip_space();
            match self.bump() {
                Some(',') => {}
                Some('}') => return Ok(()),
                _ => return Err("expected `,` or `}` in label set".to_string()),
            }
        }
    }

    /// A string literal with Go escapes; invalid UTF-8 from `\x` escapes is replaced.
    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.bump().ok_or("expected a string literal")?;
        if quote == '`' {
            let body = self.take_while(|c| c != '`');
            return match self.bump() {
                Some('`') => Ok(body.to_string()),
                _ => Err("unterminated raw string".to_string()),
            };
        }
        if quote != '"' && quote != '\'' {
            return Err(format!("expected a string literal, found {quote:?}"));
        }
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let c = self.bump().ok_or("unterminated string")?;
            if c == quote {
                return Ok(String::from_utf8_lossy(&bytes).into_owned());
            }
            if c == '\n' {
                return Err("newline in string".to_string());
            }
            if c != '\\' {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            let esc = self.bump().ok_or("unterminated escape")?;
            match esc {
                'a' => bytes.push(7),
                'b' => bytes.push(8),
                'f' => bytes.push(12),
                'n' => bytes.push(b'\n'),
                'r' => bytes.push(b'\r'),
                't' => bytes.push(b'\t'),
                'v' => bytes.push(11),
                '\\' | '\'' | '"' => bytes.push(esc as u8),
                'x' => bytes.push(self.hex_escape(2)? as u8),
                'u' | 'U' => {
                    let code = self.hex_escape(if esc == 'u' { 4 } else { 8 })?;
                    let c = char::from_u32(code).ok_or("invalid unicode escape")?;
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                '0'..='7' => {
                    let mut code = esc.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        let d = self.bump().and_then(|c| c.to_digit(8)).ok_or("invalid octal escape")?;
                        code = code * 8 + d;
                    }
                    bytes.push(u8::try_from(code).map_err(|_| "octal escape out of range")?);
                }
                other => return Err(format!("unknown escape sequence \\{other}")),
            }
        }
    }

    /// `n` hex digits of a `\x`, `\u` or `\U` escape.
    fn hex_escape(&mut self, n: usize) -> Result<u32, String> {
        let mut code = 0u32;
        for _ in 0..n {
            let d = self.bump().and_then(|c| c.to_digit(16)).ok_or("invalid hex escape")?;
            code = code * 16 + d;
        }
        Ok(code)
    }
}
