//! Byte/UTF-8 helpers reproducing Go's handling of invalid UTF-8 in label names and values.

use std::borrow::Cow;

pub use crate::gotemplate::values::go_trim_space;

/// Decodes bytes like Go's `string` iteration: every invalid byte becomes one U+FFFD.
pub fn go_lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(map_invalid(bytes, '\u{FFFD}')),
    }
}

/// Converts a parsed value to a label value as Loki does: invalid bytes and U+FFFD become spaces.
pub fn label_value(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.contains('\u{FFFD}') => Cow::Borrowed(s),
        Ok(s) => Cow::Owned(s.replace('\u{FFFD}', " ")),
        Err(_) => Cow::Owned(map_invalid(bytes, '\u{FFFD}').replace('\u{FFFD}', " ")),
    }
}

/// Replaces each byte of every invalid UTF-8 sequence with `replacement`.
fn map_invalid(mut bytes: &[u8], replacement: char) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                // `valid_up_to` is guaranteed to be a char boundary of valid UTF-8.
                out.push_str(std::str::from_utf8(&bytes[..valid]).unwrap_or_default());
                let bad = e.error_len().unwrap_or(bytes.len() - valid);
                for _ in 0..bad {
                    out.push(replacement);
                }
                bytes = &bytes[valid + bad..];
            }
        }
    }
}
