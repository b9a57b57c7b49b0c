//! What one scrape writes, as Prometheus's `scrapeLoop.append` and `report` decide it: scraped
//! samples labelled for the target, the limits that fail a scrape, staleness markers for series
//! that vanished, and the five report series. No I/O: the loop fetches, this decides, the loop
//! writes.
//!
//! # Staleness
//! A series written without an explicit timestamp is *tracked*. When a later successful scrape
//! does not produce it, it gets a stale NaN at that scrape's time; when a scrape fails (HTTP
//! error, parse error, a limit), every tracked series gets one and tracking starts afresh; when
//! the loop ends, everything tracked and the report series get one. Series with explicit
//! timestamps (`honor_timestamps`) are never tracked, as in Prometheus.

use std::collections::{HashMap, HashSet};

use lookout_storage::{Labels, METRIC_NAME, MetricMetadata, Sample, SeriesSamples, stale_nan};

use super::config::merge_sample_labels;
use super::parse::Exposition;
use super::relabel::{self, RelabelConfig};

/// `up`: 1 if the scrape succeeded.
pub(super) const UP: &str = "up";
/// The report series, in the order Prometheus writes them.
const REPORT_SERIES: [&str; 5] = [
    UP,
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// How a job treats its targets' samples.
#[derive(Debug, Clone)]
pub(super) struct SampleRules {
    /// The target's labels, added to every sample.
    pub target_labels: Labels,
    /// Keep scraped labels that clash with the target's.
    pub honor_labels: bool,
    /// Use the timestamps the exposition gives.
    pub honor_timestamps: bool,
    /// `metric_relabel_configs`.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Most samples after relabelling; 0 is no limit.
    pub sample_limit: u64,
    /// Most labels per sample after relabelling; 0 is no limit.
    pub label_limit: u64,
}

/// What one scrape contributes to the store, and the counts its report series carry.
#[derive(Debug, Default)]
pub(super) struct Appended {
    /// Scraped samples and staleness markers.
    pub series: Vec<SeriesSamples>,
    /// Family metadata that is new or changed since it was last written.
    pub metadata: Vec<MetricMetadata>,
    /// Samples in the body (`scrape_samples_scraped`).
    pub scraped: u64,
    /// Samples left after metric relabelling (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: u64,
    /// Series this target had not produced in its last successful scrape (`scrape_series_added`).
    pub series_added: u64,
    /// Why the scrape failed, if a limit or a malformed label set failed it.
    pub error: Option<String>,
}

/// What one target's loop remembers between scrapes.
#[derive(Debug, Default)]
pub(super) struct ScrapeCache {
    /// Series written by the last scrape without an explicit timestamp.
    tracked: HashSet<Labels>,
    /// Series of the last successful scrape, for `scrape_series_added`.
    known: HashSet<Labels>,
    /// Metadata as last written, per family.
    metadata: HashMap<String, MetricMetadata>,
}

impl ScrapeCache {
    /// Turns a parsed body into what the scrape writes at `t` (ms). When a limit fails the
    /// scrape, nothing scraped is kept and every tracked series gets a staleness marker instead.
    pub fn append(&mut self, exposition: Exposition, t: i64, rules: &SampleRules) -> Appended {
        let mut out = Appended { scraped: exposition.samples.len() as u64, ..Appended::default() };
        let mut series: Vec<SeriesSamples> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut tracked_now: HashSet<Labels> = HashSet::new();
        let mut appended: u64 = 0;
        let mut over_limit = false;
        let mut duplicates: u64 = 0;
        for sample in exposition.samples {
            let merged = merge_sample_labels(sample.labels, &rules.target_labels, rules.honor_labels);
            let Some(labels) = relabel::process(merged, &rules.metric_relabel_configs) else { continue };
            if labels.metric_name().is_none_or(str::is_empty) {
                out.error = Some(format!("missing metric name ({METRIC_NAME} label)"));
                break;
            }
            if rules.label_limit > 0 && labels.len() as u64 > rules.label_limit {
                out.error = Some(format!(
                    "label_limit exceeded (metric: {:.50}, number of labels: {}, limit: {})",
                    labels.metric_name().unwrap_or(""),
                    labels.len(),
                    rules.label_limit
                ));
                break;
            }
            out.post_relabel += 1;
            let explicit = sample.t.filter(|_| rules.honor_timestamps);
            let existing = index.get(&labels).copied();
            if existing.is_some() && explicit.is_none() {
                // A second sample at the scrape's own time: Prometheus refuses it as a duplicate.
                duplicates += 1;
                continue;
            }
            appended += 1;
            if rules.sample_limit > 0 && appended > rules.sample_limit {
                // Keep counting, so the report says how many samples there were.
                over_limit = true;
                continue;
            }
            let point = Sample { t: explicit.unwrap_or(t), v: sample.v };
            let exemplars: Vec<_> = sample.exemplar.into_iter().collect();
            if explicit.is_none() {
                tracked_now.insert(labels.clone());
            }
            match existing {
                Some(i) => {
                    series[i].samples.push(point);
                    series[i].exemplars.extend(exemplars);
                }
                None => {
                    if !over_limit && !self.known.contains(&labels) {
                        out.series_added += 1;
                    }
                    index.insert(labels.clone(), series.len());
                    series.push(SeriesSamples { labels, samples: vec![point], exemplars });
                }
            }
        }
        if duplicates > 0 {
            tracing::debug!(duplicates, "scrape had samples with the same labels and no timestamp");
        }
        if out.error.is_none() && over_limit {
            out.error = Some("sample limit exceeded".to_owned());
        }
        if out.error.is_some() {
            out.series = self.stale_all(t);
            return out;
        }
        let vanished: Vec<Labels> = self.tracked.iter().filter(|l| !tracked_now.contains(*l)).cloned().collect();
        series.extend(vanished.into_iter().map(|labels| stale(labels, t)));
        self.tracked = tracked_now;
        self.known = index.into_keys().collect();
        out.series = series;
        out.metadata = self.changed_metadata(exposition.metadata);
        out
    }

    /// Staleness markers at `t` for every tracked series (a failed scrape, or the end of the
    /// loop); tracking starts afresh.
    pub fn stale_all(&mut self, t: i64) -> Vec<SeriesSamples> {
        std::mem::take(&mut self.tracked).into_iter().map(|labels| stale(labels, t)).collect()
    }

    /// Forgets what metadata was written, so the next scrape writes it again (after a failed
    /// write).
    pub fn forget_metadata(&mut self) {
        self.metadata.clear();
    }

    /// The entries of `metadata` that differ from what was last written, remembered as written.
    fn changed_metadata(&mut self, metadata: Vec<MetricMetadata>) -> Vec<MetricMetadata> {
        metadata
            .into_iter()
            .filter(|m| {
                if self.metadata.get(&m.metric_family) == Some(m) {
                    return false;
                }
                self.metadata.insert(m.metric_family.clone(), m.clone());
                true
            })
            .collect()
    }
}

/// The counts a scrape's report series carry.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Report {
    /// Whether the scrape succeeded.
    pub up: bool,
    /// How long it took, in seconds.
    pub duration_seconds: f64,
    /// `scrape_samples_scraped`.
    pub scraped: u64,
    /// `scrape_samples_post_metric_relabeling`.
    pub post_relabel: u64,
    /// `scrape_series_added`.
    pub series_added: u64,
}

/// The five report series at `t`, with the target's labels.
pub(super) fn report(target_labels: &Labels, t: i64, r: Report) -> Vec<SeriesSamples> {
    let values = [
        if r.up { 1.0 } else { 0.0 },
        r.duration_seconds,
        r.scraped as f64,
        r.post_relabel as f64,
        r.series_added as f64,
    ];
    REPORT_SERIES.iter().zip(values).map(|(name, v)| one(report_labels(target_labels, name), t, v)).collect()
}

/// Staleness markers at `t` for the five report series (the end of the loop).
pub(super) fn report_stale(target_labels: &Labels, t: i64) -> Vec<SeriesSamples> {
    REPORT_SERIES.iter().map(|name| stale(report_labels(target_labels, name), t)).collect()
}

/// A report series' labels: its name and the target's labels (which never include `__name__`).
fn report_labels(target_labels: &Labels, name: &str) -> Labels {
    let mut labels = target_labels.clone();
    labels.set(METRIC_NAME, name);
    labels
}

fn stale(labels: Labels, t: i64) -> SeriesSamples {
    one(labels, t, stale_nan())
}

fn one(labels: Labels, t: i64, v: f64) -> SeriesSamples {
    SeriesSamples { labels, samples: vec![Sample { t, v }], exemplars: Vec::new() }
}

#[cfg(test)]
mod tests {
    use lookout_storage::is_stale_nan;

    use super::*;
    use crate::scrape::parse;

    fn rules() -> SampleRules {
        SampleRules {
            target_labels: Labels::from_pairs([("instance", "a:1"), ("job", "j")]),
            honor_labels: false,
            honor_timestamps: true,
            metric_relabel_configs: Vec::new(),
            sample_limit: 0,
            label_limit: 0,
        }
    }

    fn scrape(cache: &mut ScrapeCache, body: &str, t: i64, rules: &SampleRules) -> Appended {
        cache.append(parse(body.as_bytes(), "text/plain", t).unwrap(), t, rules)
    }

    fn stale_names(a: &Appended) -> Vec<String> {
        let mut names: Vec<String> = a
            .series
            .iter()
            .filter(|s| s.samples.iter().all(|p| is_stale_nan(p.v)))
            .map(|s| s.labels.metric_name().unwrap_or("").to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn series_with_their_own_timestamps_are_never_marked_stale() {
        let mut cache = ScrapeCache::default();
        let first = scrape(&mut cache, "a 1\nb 2 1000\n", 5_000, &rules());
        assert_eq!(first.series.len(), 2);
        assert_eq!(first.series[1].samples[0].t, 1000, "honor_timestamps keeps the exposed time");
        let second = scrape(&mut cache, "", 6_000, &rules());
        assert_eq!(stale_names(&second), ["a"]);
        let ignored = SampleRules { honor_timestamps: false, ..rules() };
        let third = scrape(&mut cache, "b 2 1000\n", 7_000, &ignored);
        assert_eq!(third.series[0].samples[0].t, 7_000, "without honor_timestamps the scrape time wins");
    }

    #[test]
    fn duplicate_samples_count_after_relabelling_but_only_the_first_is_kept() {
        let mut cache = ScrapeCache::default();
        let out = scrape(&mut cache, "a 1\na 2\n", 5_000, &rules());
        assert_eq!((out.scraped, out.post_relabel, out.series_added), (2, 2, 1));
        assert_eq!(out.series.len(), 1);
        assert_eq!(out.series[0].samples, [Sample { t: 5_000, v: 1.0 }]);
    }

    #[test]
    fn a_failure_stales_everything_once() {
        let mut cache = ScrapeCache::default();
        scrape(&mut cache, "a 1\nb 2\n", 5_000, &rules());
        let limited = SampleRules { sample_limit: 1, ..rules() };
        let failed = scrape(&mut cache, "a 1\nb 2\n", 6_000, &limited);
        assert_eq!(failed.error.as_deref(), Some("sample limit exceeded"));
        assert_eq!(stale_names(&failed), ["a", "b"]);
        assert_eq!(failed.series.len(), 2, "nothing scraped is kept");
        let again = scrape(&mut cache, "a 1\nb 2\n", 7_000, &limited);
        assert!(again.series.is_empty(), "already stale");
        let recovered = scrape(&mut cache, "a 1\nb 2\n", 8_000, &rules());
        assert_eq!(recovered.series_added, 0, "series of the last successful scrape are not new");
    }

    #[test]
    fn report_series_carry_the_target_labels() {
        let series = report(&rules().target_labels, 9, Report { up: true, ..Report::default() });
        assert_eq!(series.len(), 5);
        assert_eq!(series[0].labels, Labels::from_pairs([("__name__", "up"), ("instance", "a:1"), ("job", "j")]));
        assert_eq!(series[0].samples, [Sample { t: 9, v: 1.0 }]);
    }
}
