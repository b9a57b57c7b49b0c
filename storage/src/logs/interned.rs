//! Structured metadata in format version 2: what `columns.rs` leaves (the rest), kept so that
//! metadata repeated across a partition costs a few bits a line instead of its text.
//!
//! - A value goes into the entry's *set* when its name has few distinct values in the
//!   partition; the others (long values, names with many values) are stored with the line, in
//!   order, as a JSON array of strings.
//! - The set, JSON `[[name, value or null], …]` in the entry's order (`null`: the next stored
//!   value), is a dictionary-encoded column (`meta_set`): a segment keeps each distinct set once
//!   and a small ordinal per line.
//! - Past a number of distinct sets in a partition, or a budget of bytes remembered, new sets
//!   are not kept: such an entry's metadata is stored whole as `[[name, value], …]`, as in
//!   version 1. Hostile metadata costs at most the budget, and no more disk than version 1.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use tantivy::columnar::StrColumn;
use tantivy::{DocId, SegmentReader};

use crate::{Error, Label, Result};

/// Distinct values a name may have in one partition's sets; past it, its values are stored.
pub(crate) const MAX_VALUES_PER_NAME: usize = 256;
/// Names a partition's sets hold; the values of any further name are stored.
pub(crate) const MAX_NAMES: usize = 1024;
/// Values (and names) longer than this are stored.
pub(crate) const MAX_VALUE_LEN: usize = 256;
/// Distinct sets a partition keeps; an entry with a set past it has its metadata stored whole.
pub(crate) const MAX_SETS: usize = 16_384;
/// Longer sets are not kept (their entries' metadata is stored whole).
pub(crate) const MAX_SET_LEN: usize = 4096;
/// Bytes of names, values and sets one partition's writer remembers, whatever its entries hold.
pub(crate) const MAX_BYTES: usize = 8 << 20;

/// Which values a partition's writer puts in sets, from what it has seen. Kept in memory only:
/// after a restart the counting starts again, which changes where values are, never what they
/// are.
#[derive(Default)]
pub(crate) struct Interning {
    /// Each name's distinct values, or `None` once it has had too many.
    names: ahash::AHashMap<String, Option<ahash::AHashSet<String>>>,
    /// The distinct sets.
    sets: ahash::AHashSet<String>,
    /// Bytes of the names, values and sets above.
    bytes: usize,
}

impl Interning {
    /// Whether `value` of `name` goes into the set.
    fn admit(&mut self, name: &str, value: &str) -> bool {
        if value.len() > MAX_VALUE_LEN || name.len() > MAX_VALUE_LEN {
            return false;
        }
        let room = |bytes: usize, more: usize| bytes + more <= MAX_BYTES;
        let new_name = !room(self.bytes, name.len()) || self.names.len() >= MAX_NAMES;
        let entry = match self.names.get_mut(name) {
            Some(entry) => entry,
            None if !new_name => {
                self.bytes += name.len();
                self.names.entry(name.to_owned()).or_insert_with(|| Some(ahash::AHashSet::new()))
            }
            None => return false,
        };
        let Some(values) = entry else { return false };
        if values.contains(value) {
            return true;
        }
        if values.len() < MAX_VALUES_PER_NAME && room(self.bytes, value.len()) {
            self.bytes += value.len();
            values.insert(value.to_owned());
            return true;
        }
        if values.len() >= MAX_VALUES_PER_NAME {
            self.bytes -= values.iter().map(String::len).sum::<usize>();
            *entry = None;
        }
        false
    }

    /// Whether the set `set` (encoded) is kept.
    fn keep(&mut self, set: &str) -> bool {
        if self.sets.contains(set) {
            return true;
        }
        if self.sets.len() < MAX_SETS && set.len() <= MAX_SET_LEN && self.bytes + set.len() <= MAX_BYTES {
            self.bytes += set.len();
            self.sets.insert(set.to_owned());
            return true;
        }
        false
    }
}

/// One document's metadata, encoded.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Encoded {
    /// `meta_set`, or `None` when there is no metadata or the set is not kept.
    pub set: Option<String>,
    /// The stored values as a JSON array of strings; with no set, the metadata whole as JSON
    /// `[[name, value], …]`.
    pub stored: Option<String>,
}

/// Encodes the rest of an entry's metadata.
pub(crate) fn encode(rest: &[[&str; 2]], interning: &mut Interning) -> Encoded {
    if rest.is_empty() {
        return Encoded::default();
    }
    let mut set: Vec<(&str, Option<&str>)> = Vec::with_capacity(rest.len());
    let mut stored: Vec<&str> = Vec::new();
    for &[name, value] in rest {
        if interning.admit(name, value) {
            set.push((name, Some(value)));
        } else {
            set.push((name, None));
            stored.push(value);
        }
    }
    let set = serde_json::to_string(&set).unwrap_or_default();
    if !interning.keep(&set) {
        return Encoded { set: None, stored: serde_json::to_string(rest).ok() };
    }
    Encoded { set: Some(set), stored: if stored.is_empty() { None } else { serde_json::to_string(&stored).ok() } }
}

/// Decoded sets of one segment.
pub(crate) struct SegmentMetadata {
    column: Option<StrColumn>,
    /// Decoded sets by ordinal.
    sets: HashMap<u64, Vec<(String, Option<String>)>>,
}

impl SegmentMetadata {
    pub fn new(reader: &SegmentReader) -> Result<SegmentMetadata> {
        let column = reader.fast_fields().str("meta_set").map_err(super::partition::tantivy_error)?;
        Ok(SegmentMetadata { column, sets: HashMap::new() })
    }

    /// The metadata of `doc`, whose stored field is `stored`.
    pub fn read(&mut self, doc: DocId, stored: Option<&str>) -> Result<Vec<Label>> {
        let ord = self.column.as_ref().and_then(|c| c.ords().first(doc).map(|ord| (c, ord)));
        let Some((column, ord)) = ord else { return stored_whole(stored) };
        let set = match self.sets.entry(ord) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let text = ord_text(column, ord)?;
                e.insert(serde_json::from_str(&text).map_err(|e| damaged(format!("metadata set {text:?}: {e}")))?)
            }
        };
        let stored: Vec<String> = match stored {
            Some(s) => serde_json::from_str(s).map_err(|e| damaged(format!("stored metadata {s:?}: {e}")))?,
            None => Vec::new(),
        };
        let mut stored = stored.into_iter();
        let mut out = Vec::with_capacity(set.len());
        for (name, value) in set.iter() {
            let value = match value {
                Some(v) => v.clone(),
                None => stored.next().ok_or_else(|| damaged(format!("a stored value of {name:?} is missing")))?,
            };
            out.push(Label { name: name.clone(), value });
        }
        Ok(out)
    }
}

/// Metadata stored whole, JSON `[[name, value], …]` (version 1, and version 2 without a set).
pub(crate) fn stored_whole(stored: Option<&str>) -> Result<Vec<Label>> {
    let Some(s) = stored else { return Ok(Vec::new()) };
    let pairs: Vec<[String; 2]> =
        serde_json::from_str(s).map_err(|e| damaged(format!("stored metadata {s:?}: {e}")))?;
    Ok(pairs.into_iter().map(|[name, value]| Label { name, value }).collect())
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
    fn repeated_values_go_into_the_set_and_the_rest_is_stored_in_order() {
        let mut interning = Interning::default();
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        let rest = [["thread_id", "3"], ["user", "ann"], ["thread_id", "4"], ["blob", long.as_str()]];
        let e = encode(&rest, &mut interning);
        assert_eq!(e.set.as_deref(), Some(r#"[["thread_id","3"],["user","ann"],["thread_id","4"],["blob",null]]"#));
        assert_eq!(e.stored, Some(serde_json::to_string(&[long.as_str()]).unwrap()));
        assert_eq!(encode(&[], &mut interning), Encoded::default());
    }

    #[test]
    fn what_a_writer_remembers_stays_within_its_byte_budget() {
        let mut interning = Interning::default();
        let value = "v".repeat(MAX_VALUE_LEN);
        // Names with few values each, until the budget is spent: never past it.
        for i in 0..MAX_NAMES {
            for k in 0..MAX_VALUES_PER_NAME {
                let value = format!("{value:.250}{k:06}");
                interning.admit(&format!("name{i}"), &value);
            }
            assert!(interning.bytes <= MAX_BYTES);
        }
        assert!(interning.bytes > MAX_BYTES - MAX_VALUE_LEN * 2, "the budget is used: {}", interning.bytes);
        let long_set = format!("[[\"a\",\"{}\"]]", "x".repeat(MAX_SET_LEN));
        assert!(!interning.keep(&long_set));
    }

    #[test]
    fn past_the_last_kept_set_the_metadata_is_stored_whole() {
        let mut interning = Interning::default();
        for i in 0..MAX_SETS {
            let (a, b) = ((i % 128).to_string(), (i / 128).to_string());
            assert!(encode(&[["a", &a], ["b", &b]], &mut interning).set.is_some(), "set {i}");
        }
        assert!(encode(&[["a", "0"], ["b", "0"]], &mut interning).set.is_some(), "a set already kept");
        let e = encode(&[["a", "0"], ["b", "200"]], &mut interning);
        assert_eq!(e, Encoded { set: None, stored: Some(r#"[["a","0"],["b","200"]]"#.into()) });
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
