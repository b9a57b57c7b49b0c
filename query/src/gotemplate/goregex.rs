//! Go RE2 regular expressions on the `regex` crate: Go's syntax translated so that both engines
//! match the same strings (LogQL's `regexp` stage and filters, template functions).

use regex::bytes::Regex as BytesRegex;
use regex::{Regex, RegexBuilder};

const REGEX_SIZE_LIMIT: usize = 8 << 20;

/// Rewrites Go-specific escapes (`\d`, `\w`, `\s`, `\b` are ASCII-only in Go, `\Q..\E`, literal `[` in
/// classes) so that the `regex` crate matches exactly what Go's `regexp` matches.
pub fn translate_go_regex(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        let first_in_class = class_start;
        class_start = false;
        match c {
            '\\' if i + 1 < chars.len() => {
                let e = chars[i + 1];
                i += 2;
                if e == 'Q' {
                    let mut lit = String::new();
                    while i < chars.len() && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E')) {
                        lit.push(chars[i]);
                        i += 1;
                    }
                    if i < chars.len() {
                        i += 2;
                    }
                    out.push_str(&regex::escape(&lit));
                    continue;
                }
                let t = translate_escape(e, in_class);
                if t.is_empty() {
                    out.push('\\');
                    out.push(e);
                } else {
                    out.push_str(t);
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                class_start = true;
                continue;
            }
            '[' if in_class => {
                if chars.get(i + 1) == Some(&':') {
                    // POSIX class `[:name:]`, identical in both engines.
                    let rest: String = chars[i..].iter().collect();
                    if let Some(end) = rest.find(":]") {
                        out.push_str(&rest[..end + 2]);
                        i += rest[..end + 2].chars().count();
                        continue;
                    }
                }
                out.push_str("\\[");
            }
            ']' if in_class && !first_in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn translate_escape(e: char, in_class: bool) -> &'static str {
    match (e, in_class) {
        ('d', false) => "[0-9]",
        ('D', false) => "[^0-9]",
        ('w', false) => "[0-9A-Za-z_]",
        ('W', false) => "[^0-9A-Za-z_]",
        ('s', false) => "[\\t\\n\\x0C\\r ]",
        ('S', false) => "[^\\t\\n\\x0C\\r ]",
        ('b', false) => "(?-u:\\b)",
        ('d', true) => "[:digit:]",
        ('D', true) => "[:^digit:]",
        ('w', true) => "[:word:]",
        ('W', true) => "[:^word:]",
        ('s', true) => "\\t\\n\\x0C\\r ",
        ('S', true) => "[:^space:]",
        _ => "",
    }
}

/// Go's wording of a compile error (`error parsing regexp: ...`, with the `regex` crate's detail).
fn regex_error(e: regex::Error) -> String {
    format!("error parsing regexp: {e}")
}

/// Compiles a Go RE2 pattern for matching `&str` values.
pub fn compile_go_regex(src: &str) -> Result<Regex, String> {
    RegexBuilder::new(&translate_go_regex(src)).size_limit(REGEX_SIZE_LIMIT).build().map_err(regex_error)
}

/// Compiles a Go RE2 pattern for matching raw log line bytes.
pub fn compile_go_regex_bytes(src: &str) -> Result<BytesRegex, String> {
    regex::bytes::RegexBuilder::new(&translate_go_regex(src)).size_limit(REGEX_SIZE_LIMIT).build().map_err(regex_error)
}
