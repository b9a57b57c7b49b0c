//! The Prometheus text format 0.0.4, as Prometheus's `promlex.l`/`promparse.go` read it:
//! blanks (spaces and tabs) are allowed around every token and at the start of a line, label
//! pairs need no comma between them, a trailing comma is fine, timestamps are integer
//! milliseconds, and comments other than `# HELP` and `# TYPE` are ignored.

use lookout_storage::{Label, MetricType};

use super::{Builder, Lexer, ScrapedSample, finish_labels, name_label, parse_float, unescape};
use crate::scrape::error::ParseError;

pub(super) fn parse(body: &[u8], out: &mut Builder) -> Result<(), ParseError> {
    let mut lx = Lexer::new(body);
    loop {
        lx.skip_blanks();
        match lx.peek() {
            // Prometheus's lexer reads a NUL at the start of a line as the end of the input.
            None | Some(0) => return Ok(()),
            Some(b'\n') => lx.pos += 1,
            Some(b'#') => comment(&mut lx, out)?,
            Some(_) => {
                let sample = sample(&mut lx)?;
                out.samples.push(sample);
            }
        }
    }
}

/// A `#` line: `# HELP`, `# TYPE`, or a comment to skip.
fn comment(lx: &mut Lexer<'_>, out: &mut Builder) -> Result<(), ParseError> {
    lx.pos += 1; // '#'
    let keyword_follows = lx.peek().is_some_and(|c| c == b' ' || c == b'\t');
    lx.skip_blanks();
    let is_help = keyword_follows && (lx.looking_at(b"HELP ") || lx.looking_at(b"HELP\t"));
    let is_type = keyword_follows && (lx.looking_at(b"TYPE ") || lx.looking_at(b"TYPE\t"));
    if !is_help && !is_type {
        lx.rest_of_line();
        return Ok(());
    }
    let keyword = if is_help { "HELP" } else { "TYPE" };
    lx.pos += 4;
    lx.skip_blanks();
    let family = match lx.peek() {
        Some(b'"') => lx.quoted("metric name", true)?,
        _ => match lx.metric_name() {
            Some(name) => name.to_owned(),
            None => return Err(lx.expected(&format!("metric name after {keyword}"))),
        },
    };
    // The lexer takes the whole rest of the line as the text and Prometheus drops its first
    // byte (normally the separating blank); further blanks stay.
    let line_start = lx.pos;
    let rest = lx.rest_of_line();
    let text = rest.get(1..).unwrap_or_default();
    if is_help {
        let help = std::str::from_utf8(text).map_err(|_| lx.error_at(line_start, "help text is not valid UTF-8"))?;
        out.family(&family).help = if help.contains('\\') { unescape(help, false) } else { help.to_owned() };
    } else {
        let kind = match text {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Unknown,
            other => {
                let msg = format!("invalid metric type {:?}", String::from_utf8_lossy(other));
                return Err(lx.error_at(line_start, msg));
            }
        };
        out.family(&family).kind = kind;
    }
    Ok(())
}

/// A sample line: `name{labels} value [timestamp]`, where the name may instead be a quoted
/// string inside the braces.
fn sample(lx: &mut Lexer<'_>) -> Result<ScrapedSample, ParseError> {
    let line_start = lx.pos;
    let mut labels = Vec::new();
    let mut has_name = false;
    if let Some(name) = lx.metric_name() {
        labels.push(name_label(name));
        has_name = true;
        lx.skip_blanks();
    } else if lx.peek() != Some(b'{') {
        return Err(lx.expected("metric name, comment or blank line"));
    }
    if lx.peek() == Some(b'{') {
        label_pairs(lx, &mut labels, &mut has_name)?;
        lx.skip_blanks();
    }
    if !has_name {
        return Err(lx.error_at(line_start, "metric name not set"));
    }

    let value = lx.take_while(|c| !matches!(c, b'{' | b' ' | b'\t' | b'\n'));
    if value.is_empty() {
        return Err(lx.expected("value after metric"));
    }
    let Some(v) = parse_float(value) else {
        return Err(lx.error(format!("expected a float value, got {:?}", String::from_utf8_lossy(value))));
    };
    lx.skip_blanks();
    let mut t = None;
    if lx.peek().is_some_and(|c| c.is_ascii_digit()) {
        let digits = lx.take_while(|c| c.is_ascii_digit());
        let parsed = std::str::from_utf8(digits).ok().and_then(|s| s.parse::<i64>().ok());
        let Some(ts) = parsed else {
            return Err(lx.error(format!("timestamp {:?} out of range", String::from_utf8_lossy(digits))));
        };
        t = Some(ts);
        lx.skip_blanks();
        if !matches!(lx.peek(), None | Some(b'\n')) {
            return Err(lx.expected("end of line after timestamp"));
        }
    } else if !matches!(lx.peek(), None | Some(b'\n')) {
        return Err(lx.expected("timestamp or end of line"));
    }
    let labels = finish_labels(lx, line_start, labels)?;
    Ok(ScrapedSample { labels, t, v, exemplar: None })
}

/// The `{...}` of a sample, starting at `{`.
fn label_pairs(lx: &mut Lexer<'_>, labels: &mut Vec<Label>, has_name: &mut bool) -> Result<(), ParseError> {
    lx.pos += 1; // '{'
    loop {
        lx.skip_blanks();
        let (name, quoted) = match lx.peek() {
            Some(b'}') => {
                lx.pos += 1;
                return Ok(());
            }
            Some(b'"') => (lx.quoted("label name", true)?, true),
            _ => match lx.label_name() {
                Some(name) => (name.to_owned(), false),
                None => return Err(lx.expected("label name or \"}\"")),
            },
        };
        lx.skip_blanks();
        // A quoted string on its own is the metric name (Prometheus 3's UTF-8 syntax).
        if quoted && matches!(lx.peek(), Some(b',' | b'}')) {
            if *has_name {
                return Err(lx.error(format!("metric name given twice ({name:?})")));
            }
            labels.push(name_label(&name));
            *has_name = true;
            if lx.peek() == Some(b',') {
                lx.pos += 1;
            }
            continue;
        }
        if lx.peek() != Some(b'=') {
            return Err(lx.expected(&format!("\"=\" after label name {name:?}")));
        }
        lx.pos += 1;
        lx.skip_blanks();
        if lx.peek() != Some(b'"') {
            return Err(lx.expected("label value"));
        }
        let value = lx.quoted("label value", true)?;
        labels.push(Label::new(name, value));
        lx.skip_blanks();
        if lx.peek() == Some(b',') {
            lx.pos += 1;
        }
    }
}
