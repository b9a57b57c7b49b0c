//! `| decolorize` stage: strips ANSI colour escape sequences.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

// Same expression as Loki (from acarl005/stripansi), with Go's ASCII `\d` spelled out.
const ANSI_PATTERN: &str = "[\\x{1B}\\x{9B}][\\[\\]()#;?]*(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\\x{07})|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))";

static ANSI_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(ANSI_PATTERN).ok());

/// Removes ANSI escape sequences from a line (borrowed when nothing was removed).
pub fn decolorize(line: &str) -> Cow<'_, str> {
    match ANSI_RE.as_ref() {
        Some(re) => re.replace_all(line, ""),
        None => Cow::Borrowed(line),
    }
}
