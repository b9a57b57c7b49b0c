//! OpenMetrics 1.0 text, as Prometheus's `openmetricslex.l`/`openmetricsparse.go` read it:
//! exactly one space between tokens and none inside label sets, no blank lines and no comments
//! other than `# HELP`, `# TYPE`, `# UNIT` and the final `# EOF`, timestamps in float seconds,
//! and an optional exemplar after ` # `.

use lookout_storage::{Label, Labels, MetricType, SampleExemplar};

use super::{Builder, Lexer, ParseOptions, ScrapedSample, finish_labels, name_label, parse_float, unescape};
use crate::scrape::error::ParseError;

/// Longest exemplar label set, counted in code points of names and values (OpenMetrics 1.0).
/// Prometheus drops a longer exemplar and keeps its sample; so do we.
pub(crate) const EXEMPLAR_MAX_LABEL_SET_LENGTH: usize = 128;

pub(super) fn parse(
    body: &[u8],
    default_t_ms: i64,
    options: ParseOptions,
    out: &mut Builder,
) -> Result<(), ParseError> {
    let mut lx = Lexer::new(body);
    // The type of the family last described: `_created` series are recognised by it.
    let mut current_type = MetricType::Unknown;
    loop {
        match lx.peek() {
            None => return Err(lx.error("data does not end with # EOF")),
            Some(b'#') => {
                if lx.looking_at(b"# EOF") {
                    lx.pos += 5;
                    if lx.peek() == Some(b'\n') {
                        lx.pos += 1;
                    }
                    if !lx.at_end() {
                        return Err(lx.error("unexpected data after # EOF"));
                    }
                    return Ok(());
                }
                if let Some(kind) = metadata(&mut lx, out)? {
                    current_type = kind;
                }
            }
            Some(_) => {
                let sample = sample(&mut lx, default_t_ms)?;
                let skip = options.skip_created_series
                    && matches!(current_type, MetricType::Counter | MetricType::Histogram | MetricType::Summary)
                    && sample.labels.metric_name().is_some_and(|n| n.ends_with("_created"));
                if !skip {
                    out.samples.push(sample);
                }
            }
        }
    }
}

/// A `# HELP`, `# TYPE` or `# UNIT` line; returns the type a `# TYPE` line sets.
fn metadata(lx: &mut Lexer<'_>, out: &mut Builder) -> Result<Option<MetricType>, ParseError> {
    let keyword = if lx.looking_at(b"# HELP ") {
        "HELP"
    } else if lx.looking_at(b"# TYPE ") {
        "TYPE"
    } else if lx.looking_at(b"# UNIT ") {
        "UNIT"
    } else {
        return Err(lx.error(format!(
            "expected \"# HELP \", \"# TYPE \", \"# UNIT \" or \"# EOF\", got {:?}",
            String::from_utf8_lossy(lx.b.get(lx.pos..(lx.pos + 7).min(lx.b.len())).unwrap_or_default())
        )));
    };
    lx.pos += 7;
    let family = match lx.peek() {
        Some(b'"') => lx.quoted("metric name", true)?,
        _ => match lx.metric_name() {
            Some(name) => name.to_owned(),
            None => return Err(lx.expected(&format!("metric name after {keyword}"))),
        },
    };
    if lx.peek() != Some(b' ') {
        return Err(lx.expected(&format!("a space and text after the metric name in {keyword}")));
    }
    lx.pos += 1;
    let text_start = lx.pos;
    let text = lx.rest_of_line();
    if lx.peek() != Some(b'\n') {
        return Err(lx.error("data does not end with # EOF"));
    }
    lx.pos += 1;
    let text =
        std::str::from_utf8(text).map_err(|_| lx.error_at(text_start, format!("{keyword} text is not valid UTF-8")))?;
    match keyword {
        "HELP" => {
            out.family(&family).help = if text.contains('\\') { unescape(text, true) } else { text.to_owned() };
            Ok(None)
        }
        "UNIT" => {
            let is_suffix = family.strip_suffix(text).is_some_and(|head| head.ends_with('_'));
            if !text.is_empty() && !is_suffix {
                return Err(lx.error_at(text_start, format!("unit {text:?} not a suffix of metric {family:?}")));
            }
            out.family(&family).unit = text.to_owned();
            Ok(None)
        }
        _ => {
            let kind = match text {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "gaugehistogram" => MetricType::GaugeHistogram,
                "summary" => MetricType::Summary,
                "info" => MetricType::Info,
                "stateset" => MetricType::StateSet,
                "unknown" => MetricType::Unknown,
                other => return Err(lx.error_at(text_start, format!("invalid metric type {other:?}"))),
            };
            out.family(&family).kind = kind;
            Ok(Some(kind))
        }
    }
}

/// A sample line: `name{labels} value [timestamp] [# {labels} value [timestamp]]`.
fn sample(lx: &mut Lexer<'_>, default_t_ms: i64) -> Result<ScrapedSample, ParseError> {
    let line_start = lx.pos;
    let mut labels = Vec::new();
    let mut has_name = false;
    if let Some(name) = lx.metric_name() {
        labels.push(name_label(name));
        has_name = true;
    } else if lx.peek() != Some(b'{') {
        return Err(lx.expected("metric name, \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\""));
    }
    if lx.peek() == Some(b'{') {
        label_set(lx, &mut labels, Some(&mut has_name))?;
    }
    if !has_name {
        return Err(lx.error_at(line_start, "metric name not set"));
    }
    let v = value(lx, "value after metric")?;
    let mut t = None;
    let mut exemplar = None;
    if !lx.looking_at(b" # {") && lx.peek() == Some(b' ') {
        t = Some(timestamp(lx)?);
    }
    if lx.looking_at(b" # {") {
        lx.pos += 3;
        exemplar = parse_exemplar(lx, default_t_ms)?;
    }
    match lx.peek() {
        Some(b'\n') => lx.pos += 1,
        None => return Err(lx.error("data does not end with # EOF")),
        Some(_) => {
            return Err(lx.expected(if t.is_some() {
                "end of line after timestamp"
            } else {
                "timestamp or end of line"
            }));
        }
    }
    let labels = finish_labels(lx, line_start, labels)?;
    Ok(ScrapedSample { labels, t, v, exemplar })
}

/// `{labels} value [timestamp]` after ` # `; `None` if its labels are too long to keep.
fn parse_exemplar(lx: &mut Lexer<'_>, default_t_ms: i64) -> Result<Option<SampleExemplar>, ParseError> {
    let mut labels = Vec::new();
    label_set(lx, &mut labels, None)?;
    let v = value(lx, "value after exemplar labels")?;
    let t = if lx.peek() == Some(b' ') { timestamp(lx)? } else { default_t_ms };
    let length: usize = labels.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum();
    if length > EXEMPLAR_MAX_LABEL_SET_LENGTH {
        return Ok(None);
    }
    Ok(Some(SampleExemplar { labels: Labels::new(labels), t, v }))
}

/// ` value`: one space, then a float.
fn value(lx: &mut Lexer<'_>, what: &str) -> Result<f64, ParseError> {
    if lx.peek() != Some(b' ') || matches!(lx.b.get(lx.pos + 1), None | Some(b' ' | b'\n')) {
        return Err(lx.expected(what));
    }
    lx.pos += 1;
    let token = lx.take_while(|c| c != b' ' && c != b'\n');
    parse_float(token)
        .ok_or_else(|| lx.error(format!("expected a float value, got {:?}", String::from_utf8_lossy(token))))
}

/// ` timestamp`: one space, then float seconds, returned as milliseconds (truncated, as
/// Prometheus does).
fn timestamp(lx: &mut Lexer<'_>) -> Result<i64, ParseError> {
    if matches!(lx.b.get(lx.pos + 1), None | Some(b' ' | b'\n')) {
        return Err(lx.expected("timestamp"));
    }
    lx.pos += 1;
    let token = lx.take_while(|c| c != b' ' && c != b'\n');
    match parse_float(token) {
        Some(seconds) if seconds.is_finite() => Ok((seconds * 1000.0) as i64),
        _ => Err(lx.error(format!("invalid timestamp {:?}", String::from_utf8_lossy(token)))),
    }
}

/// `{name="value",...}` with no blanks, starting at `{`. For a sample (`has_name` given) a
/// quoted string on its own is the metric name; exemplars have no metric name.
fn label_set(lx: &mut Lexer<'_>, labels: &mut Vec<Label>, mut has_name: Option<&mut bool>) -> Result<(), ParseError> {
    lx.pos += 1; // '{'
    loop {
        let (name, quoted) = match lx.peek() {
            Some(b'}') => {
                lx.pos += 1;
                return Ok(());
            }
            Some(b'"') => (lx.quoted("label name", false)?, true),
            _ => match lx.label_name() {
                Some(name) => (name.to_owned(), false),
                None => return Err(lx.expected("label name or \"}\"")),
            },
        };
        if quoted && matches!(lx.peek(), Some(b',' | b'}')) {
            let Some(has_name) = has_name.as_deref_mut() else {
                return Err(lx.expected("\"=\" after exemplar label name"));
            };
            if *has_name {
                return Err(lx.error(format!("metric name given twice ({name:?})")));
            }
            labels.push(name_label(&name));
            *has_name = true;
        } else {
            if lx.peek() != Some(b'=') {
                return Err(lx.expected(&format!("\"=\" after label name {name:?}")));
            }
            lx.pos += 1;
            if lx.peek() != Some(b'"') {
                return Err(lx.expected("label value"));
            }
            let value = lx.quoted("label value", false)?;
            labels.push(Label::new(name, value));
        }
        match lx.peek() {
            Some(b',') => lx.pos += 1,
            Some(b'}') => {}
            _ => return Err(lx.expected("\",\" or \"}\"")),
        }
    }
}
