//! Label matchers, interned label strings and inverted postings, shared by the head and by
//! on-disk blocks.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::{Error, Label, Labels, Result};

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// A label matcher, as in a PromQL selector. A label that is absent has the value `""`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// The value or pattern as written.
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// A matcher; regular expressions are anchored at both ends as Prometheus anchors them.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Matcher> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| Error::InvalidInput(format!("invalid regular expression {value:?}: {e}")))?,
            ),
            _ => None,
        };
        Ok(Matcher { name: name.into(), op, value, re })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher { name: name.into(), op: MatchOp::Equal, value: value.into(), re: None }
    }

    /// Whether `value` (`""` for an absent label) matches.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => self.value == value,
            (MatchOp::NotEqual, _) => self.value != value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (_, None) => false,
        }
    }

    /// Whether every series matches through this matcher when it lacks the label.
    fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// Whether a full label set matches.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

/// Interned strings: each distinct label name or value is kept once and named by a number.
#[derive(Debug, Default, Clone)]
pub struct Symbols {
    ids: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
}

impl Symbols {
    /// The number of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        let arc: Arc<str> = Arc::from(s);
        self.strings.push(arc.clone());
        self.ids.insert(arc, id);
        id
    }

    /// The number of `s`, if interned.
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string numbered `id`.
    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    /// Every string, in number order.
    pub fn strings(&self) -> impl Iterator<Item = &str> {
        self.strings.iter().map(|s| &**s)
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.strings.iter().map(|s| s.len() + 16).sum::<usize>()
            + self.ids.capacity() * 24
            + self.strings.capacity() * 16
    }

    /// Interns a label set.
    pub fn intern_labels(&mut self, labels: &Labels) -> Box<[(u32, u32)]> {
        labels.iter().map(|l| (self.intern(&l.name), self.intern(&l.value))).collect()
    }

    /// The label set named by interned pairs (already in name order).
    pub fn labels(&self, pairs: &[(u32, u32)]) -> Labels {
        Labels::from_sorted(pairs.iter().map(|&(n, v)| Label::new(self.get(n), self.get(v))).collect())
    }
}

/// Inverted index: label name → value → ids of the series with that pair (ascending).
#[derive(Debug, Default, Clone)]
pub struct Postings {
    by_name: HashMap<u32, HashMap<u32, Vec<u32>>>,
    all: Vec<u32>,
}

impl Postings {
    /// Adds series `id` (larger than every id added before) with its interned labels.
    pub fn add(&mut self, id: u32, labels: &[(u32, u32)]) {
        debug_assert!(self.all.last().is_none_or(|&last| last < id));
        self.all.push(id);
        for &(n, v) in labels {
            self.by_name.entry(n).or_default().entry(v).or_default().push(id);
        }
    }

    /// Adds series `id` at its place in id order (ids may come in any order).
    pub fn add_unordered(&mut self, id: u32, labels: &[(u32, u32)]) {
        fn put(list: &mut Vec<u32>, id: u32) {
            match list.last() {
                Some(&last) if last >= id => {
                    if let Err(at) = list.binary_search(&id) {
                        list.insert(at, id);
                    }
                }
                _ => list.push(id),
            }
        }
        put(&mut self.all, id);
        for &(n, v) in labels {
            put(self.by_name.entry(n).or_default().entry(v).or_default(), id);
        }
    }

    /// Values of label `name` with their series.
    pub fn values(&self, name: u32) -> impl Iterator<Item = (u32, &[u32])> {
        self.by_name.get(&name).into_iter().flat_map(|m| m.iter().map(|(&v, ids)| (v, ids.as_slice())))
    }

    /// The series with one label pair (empty when none has it).
    pub fn list(&self, name: u32, value: u32) -> &[u32] {
        self.by_name.get(&name).and_then(|values| values.get(&value)).map_or(&[], Vec::as_slice)
    }

    /// Label names present.
    pub fn names(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_name.keys().copied()
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let lists: usize =
            self.by_name.values().flat_map(|m| m.values()).map(|ids| ids.capacity() * 4 + 40).sum::<usize>();
        lists + self.all.capacity() * 4 + self.by_name.len() * 64
    }

    /// The ids of series matching every matcher, ascending. `label_of(id, name)` gives a
    /// series' value for a name (interned), used for matchers that also match absent labels.
    pub fn select(
        &self,
        symbols: &Symbols,
        matchers: &[Matcher],
        label_of: impl Fn(u32, u32) -> Option<u32>,
    ) -> Vec<u32> {
        let mut candidates: Option<Vec<u32>> = None;
        let mut rest: Vec<&Matcher> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                rest.push(m);
                continue;
            }
            // A matcher that needs the label present: union of the postings of matching values.
            let Some(name) = symbols.lookup(&m.name) else { return Vec::new() };
            let ids = match m.op {
                MatchOp::Equal => match symbols.lookup(&m.value) {
                    Some(v) => self.by_name.get(&name).and_then(|vals| vals.get(&v)).cloned().unwrap_or_default(),
                    None => Vec::new(),
                },
                _ => {
                    let lists: Vec<&[u32]> =
                        self.values(name).filter(|&(v, _)| m.matches(symbols.get(v))).map(|(_, ids)| ids).collect();
                    union(&lists)
                }
            };
            candidates = Some(match candidates {
                None => ids,
                Some(c) => intersect(&c, &ids),
            });
            if candidates.as_ref().is_some_and(|c| c.is_empty()) {
                return Vec::new();
            }
        }
        let mut ids = candidates.unwrap_or_else(|| self.all.clone());
        if !rest.is_empty() {
            let names: Vec<Option<u32>> = rest.iter().map(|m| symbols.lookup(&m.name)).collect();
            ids.retain(|&id| {
                rest.iter().zip(&names).all(|(m, name)| {
                    let value = name.and_then(|n| label_of(id, n)).map(|v| symbols.get(v)).unwrap_or("");
                    m.matches(value)
                })
            });
        }
        ids
    }
}

/// The ids (ascending) of the series matching every matcher, from postings lists alone: ids
/// run from 0 to `count`, `values(name)` gives the values a label name has and `list(name,
/// value)` loads the series with that pair. Used by blocks, whose lists are on disk: a matcher
/// that also matches an absent label (`!=`, `!~`, `=""`) loads only the lists it excludes.
pub(crate) fn select_postings(
    symbols: &Symbols,
    matchers: &[Matcher],
    count: u32,
    values: impl Fn(u32) -> Vec<u32>,
    mut list: impl FnMut(u32, u32) -> Result<Vec<u32>>,
) -> Result<Vec<u32>> {
    let mut candidates: Option<Vec<u32>> = None;
    for m in matchers.iter().filter(|m| !m.matches_empty()) {
        let Some(name) = symbols.lookup(&m.name) else { return Ok(Vec::new()) };
        let mut lists = Vec::new();
        if m.op == MatchOp::Equal {
            if let Some(value) = symbols.lookup(&m.value) {
                lists.push(list(name, value)?);
            }
        } else {
            for value in values(name) {
                if m.matches(symbols.get(value)) {
                    lists.push(list(name, value)?);
                }
            }
        }
        let lists: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
        let ids = union(&lists);
        let narrowed = match candidates {
            None => ids,
            Some(c) => intersect(&c, &ids),
        };
        if narrowed.is_empty() {
            return Ok(Vec::new());
        }
        candidates = Some(narrowed);
    }
    let mut ids = candidates.unwrap_or_else(|| (0..count).collect());
    for m in matchers.iter().filter(|m| m.matches_empty()) {
        // Nobody has the label: every series matches through its absence.
        let Some(name) = symbols.lookup(&m.name) else { continue };
        for value in values(name) {
            if !m.matches(symbols.get(value)) {
                let excluded = list(name, value)?;
                ids = difference(&ids, &excluded);
            }
        }
    }
    Ok(ids)
}

/// The value of interned label `name` in a sorted interned label set.
pub fn label_of(labels: &[(u32, u32)], name: u32) -> Option<u32> {
    labels.iter().find(|&&(n, _)| n == name).map(|&(_, v)| v)
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    a.iter()
        .copied()
        .filter(|&x| {
            while j < b.len() && b[j] < x {
                j += 1;
            }
            j >= b.len() || b[j] != x
        })
        .collect()
}

fn union(lists: &[&[u32]]) -> Vec<u32> {
    match lists {
        [] => Vec::new(),
        [one] => one.to_vec(),
        _ => {
            let mut out: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Interned = Vec<Box<[(u32, u32)]>>;

    fn index(sets: &[&[(&str, &str)]]) -> (Symbols, Postings, Interned) {
        let (mut sym, mut post, mut all) = (Symbols::default(), Postings::default(), Vec::new());
        for (id, set) in sets.iter().enumerate() {
            let labels = sym.intern_labels(&Labels::from_pairs(set.iter().copied()));
            post.add(id as u32, &labels);
            all.push(labels);
        }
        (sym, post, all)
    }

    #[test]
    fn matchers_select_as_prometheus_does() {
        let (sym, post, all) = index(&[
            &[("__name__", "up"), ("job", "a"), ("instance", "1")],
            &[("__name__", "up"), ("job", "b")],
            &[("__name__", "down"), ("job", "a"), ("instance", "2")],
        ]);
        let by_labels = |ms: &[Matcher]| post.select(&sym, ms, |id, n| label_of(&all[id as usize], n));
        let by_postings = |ms: &[Matcher]| {
            let values = |n| post.values(n).map(|(v, _)| v).collect();
            select_postings(&sym, ms, all.len() as u32, values, |n, v| Ok(post.list(n, v).to_vec())).unwrap()
        };
        let sel = |ms: Vec<Matcher>| {
            let ids = by_labels(&ms);
            assert_eq!(by_postings(&ms), ids, "blocks select as the head does: {ms:?}");
            ids
        };
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        assert_eq!(sel(vec![m(MatchOp::Equal, "__name__", "up")]), vec![0, 1]);
        assert_eq!(sel(vec![m(MatchOp::Equal, "__name__", "up"), m(MatchOp::Equal, "job", "a")]), vec![0]);
        assert_eq!(sel(vec![m(MatchOp::NotEqual, "job", "a")]), vec![1]);
        assert_eq!(sel(vec![m(MatchOp::Regex, "job", "a|b")]), vec![0, 1, 2]);
        assert_eq!(sel(vec![m(MatchOp::Regex, "job", "a|")]), vec![0, 2], "only series with job a or no job");
        assert_eq!(sel(vec![m(MatchOp::Equal, "instance", "")]), vec![1], "absent label equals empty");
        assert_eq!(sel(vec![m(MatchOp::NotRegex, "instance", ".+")]), vec![1]);
        assert_eq!(sel(vec![m(MatchOp::Regex, "job", "a.*"), m(MatchOp::NotEqual, "__name__", "up")]), vec![2]);
        assert_eq!(sel(vec![m(MatchOp::Equal, "nope", "x")]), Vec::<u32>::new());
        assert_eq!(sel(vec![m(MatchOp::Regex, "job", "A")]), Vec::<u32>::new(), "anchored and case-sensitive");
        assert!(Matcher::new(MatchOp::Regex, "a", "(").is_err());
    }
}
