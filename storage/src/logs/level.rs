//! `detected_level`: the level Loki 3 attaches to each entry as structured metadata, from the
//! OTLP severity number when there is one, else from a level-like metadata field, else from the
//! line itself (a `level` key in JSON or logfmt, then level words).

use crate::Label;

/// Levels in the words Loki uses.
pub const LEVELS: [&str; 7] = ["trace", "debug", "info", "warn", "error", "critical", "unknown"];

/// The metadata field names taken as a level, in Loki's order of preference.
const LEVEL_FIELDS: [&str; 9] = ["level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl"];

/// The detected level of an entry.
pub fn detect(line: &str, metadata: &[Label]) -> &'static str {
    if let Some(number) = metadata.iter().find(|l| l.name == "severity_number")
        && let Ok(n) = number.value.parse::<i32>()
    {
        return from_severity_number(n);
    }
    for field in LEVEL_FIELDS {
        if let Some(l) = metadata.iter().find(|l| l.name == field) {
            return normalize(&l.value);
        }
    }
    if let Some(value) = level_in_line(line) {
        return normalize(value);
    }
    from_words(line)
}

/// The level of an OTLP severity number (1–4 trace … 21–24 fatal).
pub fn from_severity_number(n: i32) -> &'static str {
    match n {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "critical",
        _ => "unknown",
    }
}

/// A level word as Loki spells it (`WARNING` → `warn`, `fatal` → `critical`, …).
fn normalize(value: &str) -> &'static str {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "trace" | "trc" => "trace",
        "debug" | "dbg" => "debug",
        "info" | "inf" | "information" | "informational" | "notice" => "info",
        "warn" | "wrn" | "warning" => "warn",
        "error" | "err" | "eror" => "error",
        "critical" | "crit" | "fatal" | "panic" | "emergency" | "emerg" | "alert" => "critical",
        _ => "unknown",
    }
}

/// The value of a `level`-like key in a JSON or logfmt line.
fn level_in_line(line: &str) -> Option<&str> {
    for key in ["level", "lvl", "severity", "LEVEL", "Level", "SEVERITY", "Severity"] {
        for (open, sep) in [("\"", "\":"), ("", "=")] {
            let needle_start = format!("{open}{key}{sep}");
            let Some(at) = line.find(&needle_start) else { continue };
            if at > 0 && open.is_empty() && !line[..at].ends_with([' ', '\t']) {
                continue;
            }
            let rest = line[at + needle_start.len()..].trim_start();
            let rest = rest.strip_prefix('"').unwrap_or(rest);
            let end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
            if end > 0 {
                return Some(&rest[..end]);
            }
        }
    }
    None
}

/// A level from words in the line, case-insensitively, most severe first.
fn from_words(line: &str) -> &'static str {
    let has = |word: &str| line.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()));
    if has("critical") || has("fatal") {
        "critical"
    } else if has("error") || has("err") {
        "error"
    } else if has("warn") {
        "warn"
    } else if has("info") {
        "info"
    } else if has("debug") {
        "debug"
    } else if has("trace") {
        "trace"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_number_wins_over_the_line() {
        let md = [Label::new("severity_number", "17")];
        assert_eq!(detect("all is fine", &md), "error");
        assert_eq!(detect("x", &[Label::new("severity_number", "9")]), "info");
    }

    #[test]
    fn level_fields_then_line_keys_then_words() {
        assert_eq!(detect("x", &[Label::new("level", "WARNING")]), "warn");
        assert_eq!(detect(r#"{"level":"debug","msg":"error here"}"#, &[]), "debug");
        assert_eq!(detect("ts=1 level=error msg=x", &[]), "error");
        assert_eq!(detect("connection refused: ERROR", &[]), "error");
        assert_eq!(detect("nothing to see", &[]), "unknown");
    }
}
