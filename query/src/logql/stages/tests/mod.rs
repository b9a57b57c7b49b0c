//! Table-driven tests derived from Loki's documentation and test suites.

mod format_tests;
mod json_tests;
mod labels_tests;
mod logfmt_tests;
mod pattern_regexp_tests;
mod robustness_tests;
mod template_tests;
mod unpack_tests;
mod values_tests;

use super::labels::LabelsBuilder;

/// A borrowed list of label pairs used in test tables.
pub(super) type Pairs<'a> = &'a [(&'a str, &'a str)];

/// Builds a labels builder over stream labels.
pub(super) fn builder(stream: &[(&str, &str)]) -> LabelsBuilder {
    LabelsBuilder::new(stream.iter().map(|(k, v)| (*k, *v)))
}

/// Sorted owned pairs.
pub(super) fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    v.sort();
    v
}
