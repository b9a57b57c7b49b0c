//! Structured metadata in format version 2: what `columns.rs` leaves in "the rest", kept so
//! that a value repeated across a partition costs a few bits instead of its text on every line.
//!
//! - Values of a name with few distinct values in the partition go to a dictionary-encoded
//!   column of their own, `meta.<name>` (a JSON fast field): each segment keeps the distinct
//!   values once and a small ordinal per document.
//! - Other values (long ones, names with many values, names that are not plain label names,
//!   a name's second occurrence in an entry) are stored with the line as a JSON array.
//! - `meta_shape`, dictionary-encoded too, gives each document's names in order and where each
//!   value is, so that the metadata comes back exactly as it went in.

use std::collections::{BTreeMap, HashMap};

use tantivy::columnar::StrColumn;
use tantivy::schema::OwnedValue;
use tantivy::{DocId, SegmentReader};

use crate::{Error, Label, Result};

/// Distinct values a name may have in one partition's columns; past it, its values are stored.
pub(crate) const MAX_VALUES_PER_NAME: usize = 256;
/// Names a partition puts in columns; the values of any further name are stored.
pub(crate) const MAX_NAMES: usize = 1024;
/// Longer values are stored.
pub(crate) const MAX_VALUE_LEN: usize = 256;

/// Which names a partition's writer puts in columns, from the values it has seen. Kept in
/// memory only: after a restart a name may go to its column again until it passes the limit,
/// which changes where values are, never what they are.
#[derive(Default)]
pub(crate) struct Interning {
    /// Each name's distinct values, or `None` once it has had too many.
    names: ahash::AHashMap<String, Option<ahash::AHashSet<String>>>,
}

impl Interning {
    /// Whether `value` of `name` goes to the name's column.
    fn admit(&mut self, name: &str, value: &str) -> bool {
        if value.len() > MAX_VALUE_LEN || !plain_name(name) {
            return false;
        }
        let full = self.names.len() >= MAX_NAMES;
        let entry = match self.names.get_mut(name) {
            Some(entry) => entry,
            None if !full => self.names.entry(name.to_owned()).or_insert_with(|| Some(ahash::AHashSet::new())),
            None => return false,
        };
        let Some(values) = entry else { return false };
        if values.contains(value) {
            return true;
        }
        if values.len() < MAX_VALUES_PER_NAME {
            values.insert(value.to_owned());
            return true;
        }
        *entry = None;
        false
    }
}

/// A name that is one JSON path segment as it stands: no dots or escapes to care for.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One document's metadata, encoded.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Encoded {
    /// `meta_shape`: JSON `[[name, in_column], …]`, or `None` without metadata.
    pub shape: Option<String>,
    /// `meta`: the values that go to columns.
    pub columns: BTreeMap<String, OwnedValue>,
    /// The stored values, in order, as a JSON array of strings.
    pub stored: Option<String>,
}

/// Encodes the rest of an entry's metadata.
pub(crate) fn encode(rest: &[[&str; 2]], interning: &mut Interning) -> Encoded {
    if rest.is_empty() {
        return Encoded::default();
    }
    let mut out = Encoded::default();
    let mut shape: Vec<(&str, bool)> = Vec::with_capacity(rest.len());
    let mut stored: Vec<&str> = Vec::new();
    for &[name, value] in rest {
        let column = !out.columns.contains_key(name) && interning.admit(name, value);
        if column {
            out.columns.insert(name.to_owned(), OwnedValue::Str(value.to_owned()));
        } else {
            stored.push(value);
        }
        shape.push((name, column));
    }
    out.shape = serde_json::to_string(&shape).ok();
    if !stored.is_empty() {
        out.stored = serde_json::to_string(&stored).ok();
    }
    out
}

/// Reads documents' metadata back from one segment, keeping what it decoded of the
/// dictionaries.
pub(crate) struct SegmentMetadata<'a> {
    reader: &'a SegmentReader,
    shape: Option<StrColumn>,
    /// Decoded shapes by ordinal.
    shapes: HashMap<u64, Vec<(String, bool)>>,
    /// Each name's column, and its decoded values by ordinal.
    columns: HashMap<String, (Option<StrColumn>, HashMap<u64, String>)>,
}

impl<'a> SegmentMetadata<'a> {
    pub fn new(reader: &'a SegmentReader) -> Result<SegmentMetadata<'a>> {
        let shape = reader.fast_fields().str("meta_shape").map_err(super::partition::tantivy_error)?;
        Ok(SegmentMetadata { reader, shape, shapes: HashMap::new(), columns: HashMap::new() })
    }

    /// The metadata of `doc`, whose stored values are `stored` (a JSON array of strings).
    pub fn read(&mut self, doc: DocId, stored: Option<&str>) -> Result<Vec<Label>> {
        let Some(shape_column) = &self.shape else { return Ok(Vec::new()) };
        let Some(ord) = shape_column.ords().first(doc) else { return Ok(Vec::new()) };
        if let std::collections::hash_map::Entry::Vacant(e) = self.shapes.entry(ord) {
            let text = ord_text(shape_column, ord)?;
            let shape = serde_json::from_str(&text).map_err(|e| damaged(format!("metadata shape {text:?}: {e}")))?;
            e.insert(shape);
        }
        let shape = &self.shapes[&ord];
        let stored: Vec<String> = match stored {
            Some(s) => serde_json::from_str(s).map_err(|e| damaged(format!("stored metadata {s:?}: {e}")))?,
            None => Vec::new(),
        };
        let mut stored = stored.into_iter();
        let mut out = Vec::with_capacity(shape.len());
        for (name, in_column) in shape {
            let value = if *in_column {
                let (column, values) = self.columns.entry(name.clone()).or_insert_with(|| {
                    (self.reader.fast_fields().str(&format!("meta.{name}")).ok().flatten(), HashMap::new())
                });
                let column = column.as_ref().ok_or_else(|| damaged(format!("no column for metadata {name:?}")))?;
                let ord = column.ords().first(doc).ok_or_else(|| damaged(format!("no value of metadata {name:?}")))?;
                match values.get(&ord) {
                    Some(v) => v.clone(),
                    None => {
                        let v = ord_text(column, ord)?;
                        values.insert(ord, v.clone());
                        v
                    }
                }
            } else {
                stored.next().ok_or_else(|| damaged(format!("a stored value of metadata {name:?} is missing")))?
            };
            out.push(Label { name: name.clone(), value });
        }
        Ok(out)
    }
}

fn ord_text(column: &StrColumn, ord: u64) -> Result<String> {
    let mut text = String::new();
    match column.ord_to_str(ord, &mut text) {
        Ok(true) => Ok(text),
        Ok(false) => Err(damaged(format!("term {ord} is not in its dictionary"))),
        Err(e) => Err(damaged(e.to_string())),
    }
}

fn damaged(what: String) -> Error {
    Error::Index(format!("log partition metadata does not decode: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_values_go_to_columns_and_the_rest_is_stored_in_order() {
        let mut interning = Interning::default();
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        let rest = [["thread_id", "3"], ["user.name", "ann"], ["thread_id", "4"], ["blob", long.as_str()]];
        let e = encode(&rest, &mut interning);
        assert_eq!(
            e.shape.as_deref(),
            Some(r#"[["thread_id",true],["user.name",false],["thread_id",false],["blob",false]]"#)
        );
        assert_eq!(e.columns, BTreeMap::from([("thread_id".to_owned(), OwnedValue::Str("3".into()))]));
        assert_eq!(e.stored, Some(serde_json::to_string(&["ann", "4", long.as_str()]).unwrap()));
        assert_eq!(encode(&[], &mut interning), Encoded::default());
    }

    #[test]
    fn a_name_with_too_many_values_goes_to_storage_from_then_on() {
        let mut interning = Interning::default();
        for i in 0..MAX_VALUES_PER_NAME {
            assert!(interning.admit("user", &i.to_string()), "value {i}");
        }
        assert!(interning.admit("user", "0"), "a value already seen");
        assert!(!interning.admit("user", "new"));
        assert!(!interning.admit("user", "0"), "once past the limit, every value is stored");
        assert!(interning.admit("thread_id", "1"));
    }
}
