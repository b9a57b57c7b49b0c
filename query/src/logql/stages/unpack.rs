//! `| unpack` stage: string members of a JSON object become labels; `_entry` replaces the line.

use super::json::unescape_label_value;
use super::jsonscan::{JsonType, ObjectIter, unescape};
use super::labels::{DUPLICATE_SUFFIX, ERR_JSON, LabelsBuilder, sanitize_label_key};
use super::text::go_lossy;

/// Key holding the original log line in entries written by Promtail's `pack` stage.
pub const PACKED_ENTRY_KEY: &str = "_entry";

/// The `| unpack` stage.
#[derive(Debug, Clone, Default)]
pub struct Unpack {
    buffer: Vec<(String, String)>,
}

impl Unpack {
    /// Builds the stage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Unpacks one line; returns the replacement line when the object has an `_entry` member.
    ///
    /// Labels are only added when `_entry` is present (as Loki does); errors set `JSONParserErr`.
    pub fn process(&mut self, line: &[u8], lbs: &mut LabelsBuilder) -> Option<String> {
        if line.is_empty() {
            return None;
        }
        if line[0] != b'{' {
            lbs.set_err(ERR_JSON);
            lbs.set_err_details("expecting json object(6), but it is not");
            return None;
        }
        self.buffer.clear();
        let mut entry: Option<Vec<u8>> = None;
        for item in ObjectIter::new(line) {
            let e = match item {
                Ok(e) => e,
                Err(err) => {
                    lbs.set_err(ERR_JSON);
                    lbs.set_err_details(err.error.message());
                    return None;
                }
            };
            if e.value.typ != JsonType::String {
                continue;
            }
            if e.key.as_ref() == PACKED_ENTRY_KEY.as_bytes() {
                match unescape(e.value.value) {
                    Some(v) => entry = Some(v.into_owned()),
                    None => {
                        lbs.set_err(ERR_JSON);
                        lbs.set_err_details("Encountered an invalid escape sequence in a string");
                        return None;
                    }
                }
                continue;
            }
            let mut field = go_lossy(&e.key).into_owned();
            if lbs.base_has(&field) {
                field.push_str(DUPLICATE_SUFFIX);
            }
            self.buffer.push((sanitize_label_key(&field, true), unescape_label_value(e.value.value)));
        }
        let entry = entry?;
        for (k, v) in &self.buffer {
            lbs.set_parsed(k, v);
        }
        Some(go_lossy(&entry).into_owned())
    }
}
