//! Reading the metrics store: the [`Querier`] trait that query engines use, and the store's
//! other read paths (exemplars, metadata, cardinality status).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use super::block::{Block, ChunkReader};
use super::head_chunks::{ChainReader, ChunkHandle, ChunkLoc};
use super::{Matcher, Tsdb};
use crate::{HistogramSample, Labels, MetricMetadata, Result, Sample, SampleExemplar, Tenant};

/// One series with its samples in the asked range, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// The series' labels.
    pub labels: Labels,
    /// Samples (staleness markers included), one per timestamp.
    pub samples: Vec<Sample>,
    /// Native-histogram samples, oldest first, none at a time that has a float sample. Only
    /// [`MemSeries`](super::MemSeries) holds them: the store keeps floats.
    pub histograms: Vec<HistogramSample>,
}

/// What a query engine needs from a metrics store. Times are milliseconds since the Unix
/// epoch, ranges inclusive at both ends. Implemented by [`Tsdb`]; tests may implement it over
/// plain vectors.
pub trait Querier: Send + Sync {
    /// Series of `tenant` matching every matcher that have samples in `[min_t, max_t]`, with
    /// those samples, sorted by labels.
    fn select(&self, tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<SeriesData>>;

    /// Label sets of the matching series with samples in range, sorted.
    fn series(&self, tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<Labels>>;

    /// Label names of the matching series (all series when `matchers` is empty), sorted.
    fn label_names(&self, tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<String>> {
        Ok(names_of(&self.series(tenant, matchers, min_t, max_t)?))
    }

    /// Values of label `name` among the matching series, sorted.
    fn label_values(
        &self,
        tenant: &Tenant,
        name: &str,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> Result<Vec<String>> {
        Ok(values_of(&self.series(tenant, matchers, min_t, max_t)?, name))
    }
}

/// The label names of `series`, sorted and once each.
fn names_of(series: &[Labels]) -> Vec<String> {
    let names: BTreeSet<&str> = series.iter().flat_map(|l| l.iter().map(|l| l.name.as_str())).collect();
    names.into_iter().map(str::to_string).collect()
}

/// The values of label `name` in `series`, sorted and once each.
fn values_of(series: &[Labels], name: &str) -> Vec<String> {
    let values: BTreeSet<&str> = series.iter().filter_map(|l| l.get(name)).collect();
    values.into_iter().map(str::to_string).collect()
}

/// Head cardinality, as `/api/v1/status/tsdb` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TsdbStatus {
    /// Series in the head.
    pub num_series: u64,
    /// Distinct label pairs in the head.
    pub num_label_pairs: u64,
    /// Chunks in the head.
    pub chunk_count: u64,
    /// Oldest sample time in the head (ms), if any.
    pub min_time: Option<i64>,
    /// Newest sample time in the head (ms), if any.
    pub max_time: Option<i64>,
    /// Top metric names by series count.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Top label names by number of distinct values.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Top label names by bytes of their values.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Top `name=value` pairs by series count.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// One head series gathered under the lock: where its closed chunks are, and a copy of its
/// open chunk if that overlaps the range. Closed chunks are read after the lock.
struct Gathered {
    labels: Labels,
    newest: ChunkLoc,
    open: Option<ChunkHandle>,
}

/// Head series gathered under the lock, with what reads their closed chunks after it.
struct HeadPart {
    series: Vec<Gathered>,
    reader: ChainReader,
    /// Chunks ending before this had left the head.
    chunks_from: i64,
}

impl HeadPart {
    /// The series' chunks overlapping `[min_t, max_t]`, oldest first.
    fn chunks(&self, g: &Gathered, min_t: i64, max_t: i64) -> Result<Vec<ChunkHandle>> {
        let mut chunks = self.reader.chunks(g.newest, self.chunks_from, min_t, max_t)?;
        chunks.extend(g.open.clone());
        Ok(chunks)
    }

    /// Whether the series has samples in `[min_t, max_t]`, reading only chunk headers.
    fn has_samples(&self, g: &Gathered, min_t: i64, max_t: i64) -> Result<bool> {
        if g.open.is_some() {
            return Ok(true);
        }
        let mut found = false;
        self.reader.walk(g.newest, self.chunks_from.max(min_t), true, |c| {
            found = c.min_t <= max_t;
            !found
        })?;
        Ok(found)
    }
}

impl Tsdb {
    /// The effective lower bound of a query: nothing older than retention is returned.
    fn clamp(&self, min_t: i64) -> i64 {
        min_t.max(self.retention_start(SystemTime::now()))
    }

    /// Head series matching, with their chunks overlapping the range; and the blocks overlapping.
    fn gather(&self, tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> (HeadPart, Vec<Arc<Block>>) {
        let state = self.read();
        let head = &state.head;
        let mut out = Vec::new();
        for id in head.select(tenant, matchers) {
            let Some(s) = head.series[id as usize].as_ref() else { continue };
            let open = (s.open.count() > 0 && s.open.min_t() <= max_t && s.open.max_t() >= min_t)
                .then(|| ChunkHandle::memory(s.open.clone().finish()));
            // Closed chunks lie between the oldest one's start and the newest sample.
            let closed = s.closed > 0 && s.min_t().is_some_and(|t| t <= max_t) && s.last_t() >= min_t;
            if open.is_some() || closed {
                let newest = if closed { s.newest } else { ChunkLoc::NONE };
                out.push(Gathered { labels: head.symbols.labels(&s.labels), newest, open });
            }
        }
        let blocks = state.blocks.iter().filter(|b| b.overlaps(min_t, max_t)).cloned().collect();
        let part = HeadPart { series: out, reader: head.files.reader(), chunks_from: head.chunks_from };
        (part, blocks)
    }

    /// Exemplars of the series matching any of the matcher sets, in `[min_t, max_t]`.
    pub fn exemplars(
        &self,
        tenant: &Tenant,
        matcher_sets: &[Vec<Matcher>],
        min_t: i64,
        max_t: i64,
    ) -> Vec<(Labels, Vec<SampleExemplar>)> {
        let state = self.read();
        let head = &state.head;
        let mut ids: BTreeSet<u32> = BTreeSet::new();
        for set in matcher_sets {
            ids.extend(head.select(tenant, set));
        }
        let mut by_series: BTreeMap<u32, Vec<SampleExemplar>> = BTreeMap::new();
        for (id, e) in &head.exemplars {
            if ids.contains(id) && e.t >= min_t && e.t <= max_t {
                by_series.entry(*id).or_default().push(e.clone());
            }
        }
        let mut out: Vec<(Labels, Vec<SampleExemplar>)> = by_series
            .into_iter()
            .filter_map(|(id, mut es)| {
                es.sort_by_key(|e| e.t);
                head.labels(id).map(|l| (l, es))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Family metadata of `tenant`: for one metric, or all (up to `limit` families).
    pub fn metadata(&self, tenant: &Tenant, metric: Option<&str>, limit: Option<usize>) -> Vec<MetricMetadata> {
        let state = self.read();
        let Some(t) = state.head.tenant(tenant) else { return Vec::new() };
        let mut out: Vec<MetricMetadata> =
            t.metadata.values().filter(|m| metric.is_none_or(|name| m.metric_family == name)).cloned().collect();
        out.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        if let Some(limit) = limit {
            out.truncate(limit);
        }
        out
    }

    /// Head cardinality of `tenant`, top `limit` entries per list.
    pub fn status(&self, tenant: &Tenant, limit: usize) -> TsdbStatus {
        let state = self.read();
        let head = &state.head;
        let Some(t) = head.tenant(tenant) else { return TsdbStatus::default() };
        let sym = &head.symbols;
        let mut by_metric = Vec::new();
        let mut value_counts = Vec::new();
        let mut memory = Vec::new();
        let mut pairs = Vec::new();
        let mut num_label_pairs = 0u64;
        for name in t.postings.names() {
            let name_str = sym.get(name);
            let mut count = 0u64;
            let mut bytes = 0u64;
            for (value, ids) in t.postings.values(name) {
                let live = ids.len() as u64;
                if live == 0 {
                    continue;
                }
                count += 1;
                bytes += sym.get(value).len() as u64 * live;
                if name_str == crate::METRIC_NAME {
                    by_metric.push((sym.get(value).to_string(), live));
                }
                pairs.push((format!("{}={}", name_str, sym.get(value)), live));
            }
            num_label_pairs += count;
            value_counts.push((name_str.to_string(), count));
            memory.push((name_str.to_string(), bytes));
        }
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        let ids = head.select(tenant, &[]);
        let mut chunk_count = 0u64;
        let mut range: Option<(i64, i64)> = None;
        for id in ids {
            if let Some(s) = head.series[id as usize].as_ref() {
                chunk_count += u64::from(s.closed) + (s.open.count() > 0) as u64;
                let first = s.min_t();
                if let Some(first) = first {
                    let (lo, hi) = range.unwrap_or((first, s.last_t()));
                    range = Some((lo.min(first), hi.max(s.last_t())));
                }
            }
        }
        TsdbStatus {
            num_series: t.series as u64,
            num_label_pairs,
            chunk_count,
            min_time: range.map(|r| r.0),
            max_time: range.map(|r| r.1),
            series_count_by_metric_name: top(by_metric),
            label_value_count_by_label_name: top(value_counts),
            memory_in_bytes_by_label_name: top(memory),
            series_count_by_label_value_pair: top(pairs),
        }
    }
}

impl Querier for Tsdb {
    fn select(&self, tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<SeriesData>> {
        let min_t = self.clamp(min_t);
        if min_t > max_t {
            return Ok(Vec::new());
        }
        let (head, blocks) = self.gather(tenant, matchers, min_t, max_t);
        // Each source (a block, the head) holds a label set once; a series in several sources
        // is merged after sorting by labels.
        let mut parts: Vec<SeriesData> = Vec::new();
        let mut add = |labels: Labels, fill: &mut dyn FnMut(&mut Vec<Sample>) -> Result<()>| -> Result<()> {
            let mut samples = Vec::new();
            fill(&mut samples)?;
            samples.retain(|s| s.t >= min_t && s.t <= max_t);
            if !samples.is_empty() {
                parts.push(SeriesData { labels, samples, histograms: Vec::new() });
            }
            Ok(())
        };
        for block in &blocks {
            let mut series = block.series_reader(tenant);
            let mut reader = ChunkReader::new(block);
            for id in block.select(tenant, matchers)? {
                let s = series.get(id)?;
                let refs: Vec<_> = s.chunks.iter().filter(|c| c.min_t <= max_t && c.max_t >= min_t).copied().collect();
                if refs.is_empty() {
                    continue;
                }
                let labels = block.symbols.labels(&s.labels);
                add(labels, &mut |out| refs.iter().try_for_each(|r| reader.samples_into(r, out)))?;
            }
        }
        for g in &head.series {
            let chunks = head.chunks(g, min_t, max_t)?;
            add(g.labels.clone(), &mut |out| chunks.iter().try_for_each(|c| c.decode_into(out)))?;
        }
        // Stable, so a series' parts stay in block-then-head order.
        parts.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut out: Vec<SeriesData> = Vec::with_capacity(parts.len());
        let mut merged = Vec::new();
        for part in parts {
            match out.last_mut() {
                Some(last) if last.labels == part.labels => {
                    last.samples.extend(part.samples);
                    if merged.last() != Some(&(out.len() - 1)) {
                        merged.push(out.len() - 1);
                    }
                }
                _ => out.push(part),
            }
        }
        for i in merged {
            let samples = &mut out[i].samples;
            samples.sort_by_key(|s| s.t);
            samples.dedup_by_key(|s| s.t);
        }
        Ok(out)
    }

    fn series(&self, tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<Labels>> {
        let min_t = self.clamp(min_t);
        if min_t > max_t {
            return Ok(Vec::new());
        }
        let (head, blocks) = self.gather(tenant, matchers, min_t, max_t);
        let mut out = BTreeSet::new();
        for g in &head.series {
            if head.has_samples(g, min_t, max_t)? {
                out.insert(g.labels.clone());
            }
        }
        for block in &blocks {
            let mut series = block.series_reader(tenant);
            for id in block.select(tenant, matchers)? {
                let s = series.get(id)?;
                if s.chunks.iter().any(|c| c.min_t <= max_t && c.max_t >= min_t) {
                    out.insert(block.symbols.labels(&s.labels));
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    fn label_names(&self, tenant: &Tenant, matchers: &[Matcher], min_t: i64, max_t: i64) -> Result<Vec<String>> {
        if !matchers.is_empty() {
            return Ok(names_of(&self.series(tenant, matchers, min_t, max_t)?));
        }
        // Without matchers: the names in the head's index and in overlapping blocks.
        let min_t = self.clamp(min_t);
        let state = self.read();
        let mut names: BTreeSet<String> = BTreeSet::new();
        if let Some(t) = state.head.tenant(tenant) {
            names.extend(t.postings.names().map(|n| state.head.symbols.get(n).to_string()));
        }
        for b in state.blocks.iter().filter(|b| b.overlaps(min_t, max_t)) {
            names.extend(b.label_names(tenant).into_iter().map(str::to_string));
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        tenant: &Tenant,
        name: &str,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> Result<Vec<String>> {
        if !matchers.is_empty() {
            return Ok(values_of(&self.series(tenant, matchers, min_t, max_t)?, name));
        }
        let min_t = self.clamp(min_t);
        let state = self.read();
        let mut values: BTreeSet<String> = BTreeSet::new();
        let head = &state.head;
        if let (Some(t), Some(n)) = (head.tenant(tenant), head.symbols.lookup(name)) {
            for (v, ids) in t.postings.values(n) {
                if !ids.is_empty() {
                    values.insert(head.symbols.get(v).to_string());
                }
            }
        }
        for b in state.blocks.iter().filter(|b| b.overlaps(min_t, max_t)) {
            values.extend(b.label_values(tenant, name).into_iter().map(str::to_string));
        }
        Ok(values.into_iter().collect())
    }
}
