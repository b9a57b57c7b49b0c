//! Exposition formats: a scraped body → samples and family metadata, as Prometheus reads them.
//!
//! Two formats, chosen by the response's content type as Prometheus does:
//! - the Prometheus text format 0.0.4 (`prom`): lenient about blanks between tokens, no `# EOF`;
//! - OpenMetrics 1.0 (`openmetrics`): single spaces, float-second timestamps, exemplars and a
//!   mandatory `# EOF`.
//!
//! Both follow Prometheus's own lexers (`model/textparse`) rather than the prose of the formats
//! where the two differ, so that an exporter Prometheus accepts is accepted here and one it
//! rejects is rejected. Notable consequences: a CR before the LF is not a line ending (the value
//! `1\r` is not a float, the type `gauge\r` is unknown), and a NUL byte at the start of a line of
//! the text format ends the body. Parsing is one pass over the bytes; an error costs one more
//! pass to find its line number.

mod openmetrics;
mod prom;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use lookout_storage::{Label, Labels, METRIC_NAME, MetricMetadata, MetricType, SampleExemplar};

use super::error::ParseError;

/// The `Accept` header Prometheus 2.42 sends when it scrapes (without the protobuf format):
/// OpenMetrics first, the text format as a fallback.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The NaN Prometheus stores for a scraped `NaN` (never the staleness marker's bit pattern).
const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Everything a scrape body said: its samples in order, and one metadata entry per family.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// Samples in the order of the body.
    pub samples: Vec<ScrapedSample>,
    /// Type, help and unit per family, in the order families were first described.
    pub metadata: Vec<MetricMetadata>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedSample {
    /// The sample's labels, `__name__` included.
    pub labels: Labels,
    /// Milliseconds since the Unix epoch, only if the line carried a timestamp.
    pub t: Option<i64>,
    /// The value (a scraped `NaN` is Prometheus's normal NaN, never the staleness marker).
    pub v: f64,
    /// The line's exemplar (OpenMetrics only). Without its own timestamp it gets the default.
    pub exemplar: Option<SampleExemplar>,
}

/// Which exposition format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the media type is `application/openmetrics-text` (any parameters, any
    /// case), otherwise the Prometheus text format, as Prometheus 2.x decides.
    pub fn from_content_type(content_type: &str) -> Format {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// Choices a caller can make about parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Drop OpenMetrics `<name>_created` samples of counter, histogram and summary families.
    /// Prometheus drops them only when it ingests created timestamps (a feature flag); without
    /// the flag it stores them as ordinary series. Default: drop.
    pub skip_created_series: bool,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions { skip_created_series: true }
    }
}

/// Parses a scrape body in the format its `Content-Type` names. `default_t_ms` is the scrape's
/// timestamp, given to exemplars that carry none (samples keep `t: None`).
pub fn parse(body: &[u8], content_type: &str, default_t_ms: i64) -> Result<Exposition, ParseError> {
    parse_with(body, Format::from_content_type(content_type), default_t_ms, ParseOptions::default())
}

/// [`parse`] with the format and options chosen by the caller.
pub fn parse_with(
    body: &[u8],
    format: Format,
    default_t_ms: i64,
    options: ParseOptions,
) -> Result<Exposition, ParseError> {
    let mut out = Builder::default();
    match format {
        Format::PrometheusText => prom::parse(body, &mut out)?,
        Format::OpenMetrics => openmetrics::parse(body, default_t_ms, options, &mut out)?,
    }
    Ok(Exposition { samples: out.samples, metadata: out.metadata })
}

/// Collects what the format parsers find.
#[derive(Default)]
struct Builder {
    samples: Vec<ScrapedSample>,
    metadata: Vec<MetricMetadata>,
    by_family: HashMap<String, usize>,
}

impl Builder {
    /// The metadata entry of `family`, created (as type unknown) if new.
    fn family(&mut self, family: &str) -> &mut MetricMetadata {
        let i = match self.by_family.get(family) {
            Some(&i) => i,
            None => {
                self.metadata.push(MetricMetadata {
                    metric_family: family.to_owned(),
                    kind: MetricType::Unknown,
                    help: String::new(),
                    unit: String::new(),
                });
                self.by_family.insert(family.to_owned(), self.metadata.len() - 1);
                self.metadata.len() - 1
            }
        };
        &mut self.metadata[i]
    }
}

/// A cursor over the body with the lexing steps both formats share. Every step checks bounds,
/// so no input can make it panic.
struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(b: &'a [u8]) -> Lexer<'a> {
        Lexer { b, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// Whether the rest of the body starts with `prefix`.
    fn looking_at(&self, prefix: &[u8]) -> bool {
        self.b.get(self.pos..).is_some_and(|rest| rest.starts_with(prefix))
    }

    /// Consumes bytes while `keep` holds and returns them.
    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.b[start..self.pos]
    }

    /// Skips spaces and tabs (the text format allows any run of them between tokens).
    fn skip_blanks(&mut self) {
        self.take_while(|c| c == b' ' || c == b'\t');
    }

    /// The rest of the current line, without its `\n` (which stays unconsumed).
    fn rest_of_line(&mut self) -> &'a [u8] {
        self.take_while(|c| c != b'\n')
    }

    /// A metric name `[a-zA-Z_:][a-zA-Z0-9_:]*`, if one starts here.
    fn metric_name(&mut self) -> Option<&'a str> {
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':') {
            return None;
        }
        let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
        std::str::from_utf8(name).ok()
    }

    /// A label name `[a-zA-Z_][a-zA-Z0-9_]*`, if one starts here.
    fn label_name(&mut self) -> Option<&'a str> {
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') {
            return None;
        }
        let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
        std::str::from_utf8(name).ok()
    }

    /// A double-quoted string starting at the current `"`, unescaped (`\\`, `\"`, `\n`; any
    /// other escape is kept as written, as Prometheus does). `raw_newlines` allows an unescaped
    /// line feed inside the quotes (the text format's lexer does, OpenMetrics's does not).
    fn quoted(&mut self, what: &str, raw_newlines: bool) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1; // the opening quote
        let mut has_escape = false;
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, format!("unterminated {what}"))),
                Some(b'"') => break,
                Some(b'\n') if !raw_newlines => return Err(self.error_at(start, format!("unterminated {what}"))),
                Some(b'\\') => {
                    has_escape = true;
                    match self.b.get(self.pos + 1) {
                        None | Some(b'\n') => {
                            return Err(self.error_at(start, format!("unterminated {what}")));
                        }
                        Some(_) => self.pos += 2,
                    }
                }
                Some(_) => self.pos += 1,
            }
        }
        let raw = &self.b[start + 1..self.pos];
        self.pos += 1; // the closing quote
        let text = std::str::from_utf8(raw).map_err(|_| self.error_at(start, format!("{what} is not valid UTF-8")))?;
        Ok(if has_escape { unescape(text, true) } else { text.to_owned() })
    }

    /// An error at the current position.
    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// An error at byte `pos` (the line is found by counting, once, on the error path).
    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let end = pos.min(self.b.len());
        let line = self.b[..end].iter().filter(|&&c| c == b'\n').count() + 1;
        ParseError { line, message: message.into() }
    }

    /// "expected X, got Y" for what starts at the current position.
    fn expected(&self, what: &str) -> ParseError {
        self.error(format!("expected {what}, got {}", self.describe()))
    }

    /// A short quotation of the token at the current position, for error messages.
    fn describe(&self) -> String {
        const MAX: usize = 32;
        match self.peek() {
            None => "end of input".to_owned(),
            Some(b'\n') => "end of line".to_owned(),
            Some(_) => {
                let rest = &self.b[self.pos..];
                let stop = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b',' | b'=' | b'{' | b'}' | b'"');
                let len = rest.iter().position(stop).unwrap_or(rest.len()).clamp(1, MAX);
                format!("{:?}", String::from_utf8_lossy(&rest[..len]))
            }
        }
    }
}

/// Undoes the escapes of a label value (`quotes` also `\"`) or of help text: `\\` and `\n`.
/// Other escapes stay as written.
fn unescape(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

/// A float as Go's `strconv.ParseFloat` reads it, less the forms Prometheus refuses (hex
/// mantissas, `_` separators): decimal and exponent forms, `NaN`, and `Inf`/`Infinity` with
/// an optional sign, case-insensitively. Out-of-range values are errors, not infinities.
fn parse_float(s: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(s).ok()?;
    if s.bytes().any(|c| matches!(c, b'p' | b'P' | b'_' | b'x' | b'X')) {
        return None;
    }
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if unsigned.eq_ignore_ascii_case("nan") {
        // Go takes no sign on NaN.
        return (unsigned.len() == s.len()).then(|| f64::from_bits(NORMAL_NAN_BITS));
    }
    // What is left must be digits, a point and an exponent; Rust's parser agrees with Go's on
    // those, and its `inf`/`nan` spellings were handled above.
    if !unsigned.bytes().next().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// A sample's label list → [`Labels`], rejecting a name given twice (Prometheus fails the whole
/// scrape on that) and a missing or empty metric name.
fn finish_labels(lexer: &Lexer<'_>, line_start: usize, mut labels: Vec<Label>) -> Result<Labels, ParseError> {
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = labels.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(lexer.error_at(line_start, format!("duplicate label name {:?}", w[0].name)));
    }
    labels.retain(|l| !l.value.is_empty());
    let labels = Labels::from_sorted(labels);
    if labels.metric_name().is_none() {
        return Err(lexer.error_at(line_start, "metric name is missing or empty"));
    }
    Ok(labels)
}

/// The metric name label.
fn name_label(name: &str) -> Label {
    Label::new(METRIC_NAME, name)
}
