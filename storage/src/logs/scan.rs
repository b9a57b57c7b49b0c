//! Reading entries back: the tantivy query for a scan (streams, time range, and the line
//! filters that can be answered from the index), and the walk over the hits in time order.
//!
//! The `line` field is indexed as runs of alphanumeric characters without digits, case kept
//! (`tokens.rs`). A line that contains the string `s` contains, as a whole token, every run of
//! `s` that is bounded on both sides inside `s`; when such a run has no digit, that token is
//! in the index. The index query asks for those tokens only, so it returns a superset of the
//! matching lines, and the caller checks each line again. The runs at the ends of `s` may be
//! parts of longer tokens, which may hold digits and not be indexed: they are left to the
//! line check.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ops::Bound;

use tantivy::collector::{Collector, Count, SegmentCollector};
use tantivy::query::{AllQuery, BooleanQuery, EnableScoring, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader, TantivyDocument, Term};

use super::LogStore;
use super::interned::SegmentMetadata;
use super::partition::{Partition, tantivy_error};
use crate::{Error, Label, Result};

/// What the index can answer about a line, a superset that the caller re-checks.
#[derive(Debug, Clone, PartialEq)]
pub enum LineQuery {
    /// The line contains this string.
    Contains(String),
    /// All of these hold.
    All(Vec<LineQuery>),
    /// At least one of these holds.
    Any(Vec<LineQuery>),
    /// This trace id is in the entry's structured metadata.
    TraceId(String),
}

/// One scan over the store.
#[derive(Debug, Clone)]
pub struct LogScan<'a> {
    /// Stream ids to read.
    pub streams: &'a [u64],
    /// First nanosecond wanted.
    pub start: i64,
    /// First nanosecond not wanted.
    pub end: i64,
    /// Newest first.
    pub backward: bool,
    /// What the index can check of the lines.
    pub line: Option<&'a LineQuery>,
}

/// One entry read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Its stream's id.
    pub stream: u64,
    /// Nanoseconds since the epoch.
    pub time: i64,
    /// The line.
    pub line: String,
    /// Structured metadata.
    pub metadata: Vec<Label>,
}

/// Hits gathered in one go at most; larger ranges are read in time windows.
const WINDOW_HITS: usize = 250_000;

impl LogStore {
    /// Calls `visit` with every entry of the scan, in time order (ties in insertion order),
    /// until it returns false.
    pub fn scan(&self, scan: &LogScan<'_>, visit: &mut dyn FnMut(LogEntry) -> bool) -> Result<()> {
        if scan.streams.is_empty() || scan.start >= scan.end {
            return Ok(());
        }
        let mut partitions: Vec<_> =
            self.snapshot().into_iter().filter(|p| p.end > scan.start && p.start < scan.end).collect();
        if scan.backward {
            partitions.reverse();
        }
        for p in partitions {
            let (start, end) = (scan.start.max(p.start), scan.end.min(p.end));
            if !scan_partition(&p, scan, start, end, visit)? {
                break;
            }
        }
        Ok(())
    }

    /// Calls `visit(stream, time, line bytes, level index)` for every entry of the scan, from
    /// the columns alone (no line is read), in no particular order.
    pub fn scan_columns(&self, scan: &LogScan<'_>, visit: &mut dyn FnMut(u64, i64, u64, u64)) -> Result<()> {
        if scan.streams.is_empty() || scan.start >= scan.end {
            return Ok(());
        }
        for p in self.snapshot().into_iter().filter(|p| p.end > scan.start && p.start < scan.end) {
            let query = build_query(&p, scan, scan.start.max(p.start), scan.end.min(p.end))?;
            let searcher = p.reader.searcher();
            let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher)).map_err(tantivy_error)?;
            for reader in searcher.segment_readers() {
                let fast = reader.fast_fields();
                let ts = fast.i64("ts").map_err(tantivy_error)?;
                let stream = StreamColumn::open(reader, p.fields.v2.is_some()).map_err(tantivy_error)?;
                let (size, level) =
                    (fast.u64("size").map_err(tantivy_error)?, fast.u64("level").map_err(tantivy_error)?);
                weight
                    .for_each_no_score(reader, &mut |docs| {
                        for &doc in docs {
                            visit(
                                stream.get(doc),
                                ts.first(doc).unwrap_or(0),
                                size.first(doc).unwrap_or(0),
                                level.first(doc).unwrap_or(0),
                            );
                        }
                    })
                    .map_err(tantivy_error)?;
            }
        }
        Ok(())
    }

    /// Names of the structured metadata of the entries in the partitions overlapping
    /// `[start, end)`.
    pub fn metadata_names(&self, start: i64, end: i64) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for p in self.snapshot().into_iter().filter(|p| p.end > start && p.start < end) {
            names.extend(p.metadata_names());
        }
        names
    }
}

fn scan_partition(
    p: &Partition,
    scan: &LogScan<'_>,
    start: i64,
    end: i64,
    visit: &mut dyn FnMut(LogEntry) -> bool,
) -> Result<bool> {
    let searcher = p.reader.searcher();
    let total = searcher.search(&*build_query(p, scan, start, end)?, &Count).map_err(tantivy_error)?;
    if total == 0 {
        return Ok(true);
    }
    let windows = total.div_ceil(WINDOW_HITS).max(1) as i64;
    let width = ((end - start) / windows).max(1);
    let mut bounds: Vec<(i64, i64)> = (0..windows)
        .map(|i| {
            let lo = start + i * width;
            let hi = if i == windows - 1 { end } else { (lo + width).min(end) };
            (lo, hi)
        })
        .filter(|(lo, hi)| lo < hi)
        .collect();
    if scan.backward {
        bounds.reverse();
    }
    let f = p.fields;
    for (lo, hi) in bounds {
        let query = build_query(p, scan, lo, hi)?;
        let mut hits = searcher.search(&*query, &HitCollector { v2: f.v2.is_some() }).map_err(tantivy_error)?;
        hits.sort_unstable_by_key(|h| (h.ts, h.segment, h.doc));
        if scan.backward {
            hits.reverse();
        }
        let mut segments: HashMap<SegmentOrdinal, SegmentMetadata> = HashMap::new();
        for hit in hits {
            let doc: TantivyDocument = searcher.doc(DocAddress::new(hit.segment, hit.doc)).map_err(tantivy_error)?;
            let line = doc.get_first(f.line).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let stored = doc.get_first(f.metadata).and_then(|v| v.as_str());
            let rest = if f.v2.is_some() {
                let segment = match segments.entry(hit.segment) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(SegmentMetadata::new(searcher.segment_reader(hit.segment))?),
                };
                segment.read(hit.doc, stored)?
            } else {
                super::interned::stored_whole(stored)?
            };
            let metadata = super::columns::rebuild(rest, hit.columns);
            if !visit(LogEntry { stream: hit.stream, time: hit.ts, line, metadata }) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn build_query(p: &Partition, scan: &LogScan<'_>, start: i64, end: i64) -> Result<Box<dyn Query>> {
    let f = p.fields;
    let streams = TermSetQuery::new(scan.streams.iter().map(|id| Term::from_field_u64(f.stream, *id)));
    let range = RangeQuery::new(
        Bound::Included(Term::from_field_i64(f.ts, start)),
        Bound::Excluded(Term::from_field_i64(f.ts, end)),
    );
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        vec![(Occur::Must, Box::new(streams)), (Occur::Must, Box::new(range))];
    if let Some(line) = scan.line {
        clauses.push((Occur::Must, line_query(p, line)?));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

/// The index query for what a line must contain.
fn line_query(p: &Partition, q: &LineQuery) -> Result<Box<dyn Query>> {
    let field = p.fields.line;
    Ok(match q {
        LineQuery::TraceId(id) => match super::columns::trace_halves(id) {
            Some((hi, lo)) => {
                let exact = |field, v: u64| -> Box<dyn Query> {
                    Box::new(RangeQuery::new(
                        Bound::Included(Term::from_field_u64(field, v)),
                        Bound::Included(Term::from_field_u64(field, v)),
                    ))
                };
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, exact(p.fields.trace_hi, hi)),
                    (Occur::Must, exact(p.fields.trace_lo, lo)),
                ]))
            }
            // Not a trace id the column holds: the line check decides.
            None => Box::new(AllQuery),
        },
        LineQuery::All(parts) => {
            let clauses = parts.iter().map(|q| Ok((Occur::Must, line_query(p, q)?))).collect::<Result<Vec<_>>>()?;
            if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) }
        }
        LineQuery::Any(parts) => {
            let clauses = parts.iter().map(|q| Ok((Occur::Should, line_query(p, q)?))).collect::<Result<Vec<_>>>()?;
            if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) }
        }
        LineQuery::Contains(s) => {
            let clauses: Vec<(Occur, Box<dyn Query>)> = runs(s)
                .into_iter()
                .filter(|(run, at_start, at_end)| !at_start && !at_end && super::tokens::indexed(run))
                .map(|(run, _, _)| -> (Occur, Box<dyn Query>) {
                    (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(field, run), IndexRecordOption::Basic)))
                })
                .collect();
            if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) }
        }
    })
}

/// The alphanumeric runs of `s`, each with whether it touches the start and the end of `s`.
fn runs(s: &str) -> Vec<(&str, bool, bool)> {
    let mut out = Vec::new();
    let mut begin = None;
    for (i, c) in s.char_indices() {
        match (c.is_alphanumeric(), begin) {
            (true, None) => begin = Some(i),
            (false, Some(b)) => {
                out.push((&s[b..i], b == 0, false));
                begin = None;
            }
            _ => {}
        }
    }
    if let Some(b) = begin {
        out.push((&s[b..], b == 0, true));
    }
    out
}

/// Stream ids present in a partition, from the term dictionary of the `stream` field.
pub(crate) fn stream_ids(p: &Partition) -> Result<HashSet<u64>> {
    let mut ids = HashSet::new();
    for segment in p.reader.searcher().segment_readers() {
        let index = segment.inverted_index(p.fields.stream).map_err(tantivy_error)?;
        let mut terms = index.terms().stream().map_err(|e| Error::Index(e.to_string()))?;
        while terms.advance() {
            if let Ok(bytes) = <[u8; 8]>::try_from(terms.key()) {
                ids.insert(u64::from_be_bytes(bytes));
            }
        }
    }
    Ok(ids)
}

/// One hit: where the document is, and the columns read for it.
#[derive(Debug, Clone, Copy)]
struct Hit {
    ts: i64,
    segment: SegmentOrdinal,
    doc: DocId,
    stream: u64,
    columns: super::columns::Columns,
}

/// Gathers every hit with its time and stream.
struct HitCollector {
    /// The partition is in format version 2.
    v2: bool,
}

struct SegmentHits {
    segment: SegmentOrdinal,
    ts: tantivy::columnar::Column<i64>,
    stream: StreamColumn,
    severity: tantivy::columnar::Column<u64>,
    level: tantivy::columnar::Column<u64>,
    observed: tantivy::columnar::Column<i64>,
    trace_hi: tantivy::columnar::Column<u64>,
    trace_lo: tantivy::columnar::Column<u64>,
    span: tantivy::columnar::Column<u64>,
    hits: Vec<Hit>,
}

impl Collector for HitCollector {
    type Fruit = Vec<Hit>;
    type Child = SegmentHits;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentHits> {
        let fast = reader.fast_fields();
        Ok(SegmentHits {
            segment,
            ts: fast.i64("ts")?,
            stream: StreamColumn::open(reader, self.v2)?,
            severity: fast.u64("severity")?,
            level: fast.u64("level")?,
            observed: fast.i64("observed_delta")?,
            trace_hi: fast.u64("trace_hi")?,
            trace_lo: fast.u64("trace_lo")?,
            span: fast.u64("span")?,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Hit>>) -> tantivy::Result<Vec<Hit>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentHits {
    type Fruit = Vec<Hit>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.hits.push(Hit {
            ts: self.ts.first(doc).unwrap_or(0),
            segment: self.segment,
            doc,
            stream: self.stream.get(doc),
            columns: super::columns::Columns {
                severity: self.severity.first(doc).unwrap_or(0),
                level: self.level.first(doc).unwrap_or(super::columns::OTHER_LEVEL),
                observed: self.observed.first(doc).map(|d| d.wrapping_add(self.ts.first(doc).unwrap_or(0))),
                trace: self.trace_hi.first(doc).zip(self.trace_lo.first(doc)),
                span: self.span.first(doc),
            },
        });
    }

    fn harvest(self) -> Vec<Hit> {
        self.hits
    }
}

/// A segment's stream ids by document: version 2's dictionary-encoded keys, or version 1's
/// column of ids.
enum StreamColumn {
    Keys { ords: tantivy::columnar::Column<u64>, ids: Vec<u64> },
    Ids(tantivy::columnar::Column<u64>),
}

impl StreamColumn {
    fn open(reader: &SegmentReader, v2: bool) -> tantivy::Result<StreamColumn> {
        let fast = reader.fast_fields();
        if !v2 {
            return Ok(StreamColumn::Ids(fast.u64("stream")?));
        }
        let Some(keys) = fast.bytes("stream_key")? else {
            return Ok(StreamColumn::Keys { ords: tantivy::columnar::Column::build_empty_column(0), ids: Vec::new() });
        };
        let mut ids = Vec::with_capacity(keys.num_terms());
        let mut terms = keys.dictionary().stream()?;
        while terms.advance() {
            let key = <[u8; 8]>::try_from(terms.key()).map_err(|_| {
                tantivy::TantivyError::DataCorruption(tantivy::error::DataCorruption::comment_only(
                    "a stream key is not 8 bytes",
                ))
            })?;
            ids.push(u64::from_be_bytes(key));
        }
        Ok(StreamColumn::Keys { ords: keys.ords().clone(), ids })
    }

    fn get(&self, doc: DocId) -> u64 {
        match self {
            StreamColumn::Keys { ords, ids } => ords.first(doc).and_then(|o| ids.get(o as usize)).copied().unwrap_or(0),
            StreamColumn::Ids(ids) => ids.first(doc).unwrap_or(0),
        }
    }
}
