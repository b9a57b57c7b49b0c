//! Tests of the metrics store: appending, selecting, cutting, compaction, retention, restart.

use std::time::{Duration, SystemTime};

use super::*;
use crate::{Labels, MetricMetadata, MetricType, Sample, SampleExemplar, Tenant, is_stale_nan, stale_nan};

const HOUR: i64 = 3600 * 1000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn tenant() -> Tenant {
    Tenant::default()
}

/// Appends through an appender and applies the batch at WAL position `seq`, as ingest does.
fn write(db: &Tsdb, seq: u64, series: &[(Labels, Vec<Sample>)]) -> Refusals {
    let mut app = db.appender(&tenant());
    for (l, s) in series {
        app.add(l, s, &[]);
    }
    let (batch, refused) = app.finish();
    db.apply(WalPosition { segment: 0, offset: seq }, &tenant(), &batch);
    refused
}

fn select(db: &Tsdb, matchers: &[Matcher], min_t: i64, max_t: i64) -> Vec<SeriesData> {
    db.select(&tenant(), matchers, min_t, max_t).unwrap()
}

fn samples(from: i64, n: i64, step: i64) -> Vec<Sample> {
    (0..n).map(|i| Sample { t: from + i * step, v: (i * 3) as f64 + 0.5 }).collect()
}

#[test]
fn appended_samples_come_back_by_matcher_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let t0 = now_ms() - HOUR;
    let a = labels(&[("__name__", "up"), ("job", "api"), ("instance", "a:1")]);
    let b = labels(&[("__name__", "up"), ("job", "db"), ("instance", "b:1")]);
    let refused = write(&db, 1, &[(a.clone(), samples(t0, 300, 15_000)), (b.clone(), samples(t0, 10, 15_000))]);
    assert!(refused.is_empty(), "{refused:?}");
    assert!(db.stats().head_chunk_file_bytes > 0, "full chunks are spilled to head chunk files");
    let all = select(&db, &[Matcher::equal("__name__", "up")], t0, t0 + HOUR);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].labels, a, "sorted by labels");
    assert_eq!(all[0].samples, samples(t0, 300, 15_000).into_iter().filter(|s| s.t <= t0 + HOUR).collect::<Vec<_>>());
    let db_only = select(&db, &[Matcher::new(MatchOp::Regex, "job", "d.*").unwrap()], t0, t0 + HOUR);
    assert_eq!(db_only.len(), 1);
    assert_eq!(db_only[0].labels, b);
    let window = select(&db, &[Matcher::equal("job", "api")], t0 + 15_000, t0 + 45_000);
    assert_eq!(window[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(), vec![t0 + 15_000, t0 + 30_000, t0 + 45_000]);
    assert_eq!(db.label_names(&tenant(), &[], t0, t0 + HOUR).unwrap(), vec!["__name__", "instance", "job"]);
    assert_eq!(db.label_values(&tenant(), "job", &[], t0, t0 + HOUR).unwrap(), vec!["api", "db"]);
    assert_eq!(
        db.label_values(&tenant(), "instance", &[Matcher::equal("job", "db")], t0, t0 + HOUR).unwrap(),
        vec!["b:1"]
    );
    assert_eq!(db.series(&tenant(), &[Matcher::equal("job", "api")], t0, t0 + HOUR).unwrap(), vec![a]);
    assert!(select(&db, &[Matcher::equal("__name__", "up")], t0 - 10 * HOUR, t0 - HOUR).is_empty());
    let other = Tenant::new("other").unwrap();
    assert!(db.select(&other, &[Matcher::equal("__name__", "up")], t0, t0 + HOUR).unwrap().is_empty());
}

#[test]
fn out_of_order_duplicates_and_limits_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let options = TsdbOptions { max_series_per_tenant: 2, max_labels_per_series: 3, ..TsdbOptions::default() };
    let db = Tsdb::open(dir.path(), options).unwrap();
    let t0 = now_ms() - HOUR;
    let a = labels(&[("__name__", "a")]);
    assert!(write(&db, 1, &[(a.clone(), samples(t0, 5, 1000))]).is_empty());
    // Same timestamp and value again: silently ignored. Older: out of order.
    let again = write(&db, 2, &[(a.clone(), vec![Sample { t: t0 + 4000, v: 12.5 }, Sample { t: t0, v: 1.0 }])]);
    assert_eq!((again.samples, again.out_of_order), (1, 1));
    assert!(again.first_error.unwrap().contains("out of order"));
    let clash = write(&db, 3, &[(a.clone(), vec![Sample { t: t0 + 4000, v: 99.0 }])]);
    assert_eq!(clash.out_of_order, 1, "same time, other value");
    // Within one batch too.
    let inside = write(&db, 4, &[(a.clone(), vec![Sample { t: t0 + 9000, v: 1.0 }, Sample { t: t0 + 8000, v: 1.0 }])]);
    assert_eq!(inside.out_of_order, 1);
    let old = write(&db, 5, &[(a.clone(), vec![Sample { t: now_ms() - 20 * 24 * HOUR, v: 1.0 }])]);
    assert_eq!(old.out_of_bounds, 1, "beyond retention");
    let too_many =
        write(&db, 6, &[(labels(&[("__name__", "b"), ("x", "1"), ("y", "2"), ("z", "3")]), samples(t0, 1, 1))]);
    assert_eq!(too_many.label_limit, 1);
    assert!(too_many.first_error.unwrap().contains("max_labels_per_series"));
    let long_value = "v".repeat(2049);
    let too_long = write(&db, 61, &[(labels(&[("__name__", "b"), ("x", &long_value)]), samples(t0, 1, 1))]);
    assert_eq!(too_long.label_limit, 1);
    let message = too_long.first_error.unwrap();
    assert!(
        message.contains("max_label_value_length") && message.contains("2049 bytes") && message.len() < 300,
        "{message}"
    );
    let long_name = "n".repeat(1025);
    let too_long = write(&db, 62, &[(labels(&[("__name__", "b"), (&long_name, "1")]), samples(t0, 1, 1))]);
    assert!(too_long.first_error.unwrap().contains("max_label_name_length"));
    assert!(write(&db, 7, &[(labels(&[("__name__", "c")]), samples(t0, 1, 1))]).is_empty());
    let over = write(&db, 8, &[(labels(&[("__name__", "d")]), samples(t0, 3, 1))]);
    assert_eq!((over.series_limit, over.samples), (1, 3));
    assert!(over.limited());
    assert!(over.first_error.unwrap().contains("limit of 2 active series"));
    let nameless = write(&db, 9, &[(labels(&[("job", "x")]), samples(t0, 1, 1))]);
    assert_eq!(nameless.invalid, 1);
    let got = select(&db, &[Matcher::equal("__name__", "a")], t0, t0 + HOUR);
    assert_eq!(got[0].samples.len(), 6);
    assert_eq!(got[0].samples[4], Sample { t: t0 + 4000, v: 12.5 });
}

#[test]
fn staleness_markers_and_exemplars_and_metadata_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let t0 = now_ms() - HOUR;
    let l = labels(&[("__name__", "http_requests_total"), ("job", "api")]);
    let mut app = db.appender(&tenant());
    let exemplar = SampleExemplar { labels: labels(&[("trace_id", "abc"), ("span_id", "def")]), t: t0 + 1000, v: 0.25 };
    app.add(
        &l,
        &[Sample { t: t0, v: 1.0 }, Sample { t: t0 + 15_000, v: stale_nan() }],
        std::slice::from_ref(&exemplar),
    );
    app.add_metadata(MetricMetadata {
        metric_family: "http_requests".into(),
        kind: MetricType::Counter,
        help: "Requests.".into(),
        unit: String::new(),
    });
    let (batch, refused) = app.finish();
    assert!(refused.is_empty());
    db.apply(WalPosition::default(), &tenant(), &batch);
    let got = select(&db, &[Matcher::equal("job", "api")], t0, t0 + HOUR);
    assert!(is_stale_nan(got[0].samples[1].v));
    let ex = db.exemplars(&tenant(), &[vec![Matcher::equal("job", "api")]], t0, t0 + HOUR);
    assert_eq!(ex, vec![(l.clone(), vec![exemplar])]);
    assert!(db.exemplars(&tenant(), &[vec![Matcher::equal("job", "api")]], t0 + 2000, t0 + HOUR).is_empty());
    let meta = db.metadata(&tenant(), None, None);
    assert_eq!(meta[0].kind, MetricType::Counter);
    let status = db.status(&tenant(), 10);
    assert_eq!(status.num_series, 1);
    assert_eq!(status.series_count_by_metric_name, vec![("http_requests_total".to_string(), 1)]);
    assert_eq!(status.min_time, Some(t0));
}

/// Writes one sample per series per minute from `from` for `hours`, in time order, one WAL
/// record per minute; returns the records for replay.
fn fill(db: &Tsdb, series: &[Labels], from: i64, hours: i64, seq: &mut u64) -> Vec<(WalPosition, SampleBatch)> {
    let mut records = Vec::new();
    for minute in 0..hours * 60 {
        let t = from + minute * 60_000;
        let mut app = db.appender(&tenant());
        for (i, l) in series.iter().enumerate() {
            app.add(l, &[Sample { t, v: (minute * (i as i64 + 1)) as f64 }], &[]);
        }
        let (batch, refused) = app.finish();
        assert!(refused.is_empty(), "{refused:?}");
        *seq += 1;
        let pos = WalPosition { segment: 1, offset: *seq };
        db.apply(pos, &tenant(), &batch);
        records.push((pos, batch));
        if minute % 30 == 0 {
            db.cut_if_due().unwrap();
        }
    }
    records
}

#[test]
fn cuts_compaction_and_retention_keep_exactly_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<Labels> = (0..5).map(|i| labels(&[("__name__", "m"), ("i", &i.to_string())])).collect();
    // 48 hours, so that some compacted block (6 h or 18 h, aligned to the epoch) ends more than
    // 24 h ago at any time of day: 30 hours left that to the clock.
    let from = head::align_down(now_ms() - 48 * HOUR, 2 * HOUR);
    let expected = |i: usize, first: i64| -> Vec<Sample> {
        (0..48 * 60)
            .map(|m| Sample { t: from + m * 60_000, v: (m * (i as i64 + 1)) as f64 })
            .filter(|s| s.t >= first)
            .collect()
    };
    {
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        fill(&db, &series, from, 48, &mut 0);
        let stats = db.stats();
        assert!(stats.blocks >= 21, "{stats:?}");
        assert!(stats.head_min_t.unwrap() >= from + 44 * HOUR, "{stats:?}");
        // Every sample written is there, from blocks and head together.
        let all = select(&db, &[Matcher::equal("__name__", "m")], from, now_ms());
        for (i, s) in all.iter().enumerate() {
            assert_eq!(s.samples, expected(i, from), "series {i}");
        }
        // Compaction merges complete 6 h ranges; nothing changes for readers.
        let merged = db.compact().unwrap();
        assert!(merged >= 3, "{merged}");
        let levels: Vec<u32> = db.read().blocks.iter().map(|b| b.meta.level).collect();
        // Some hours of the day merge every 6 h block on into 18 h ones, so only a level above
        // the cut's is certain.
        assert!(levels.iter().any(|&l| l >= 2), "{levels:?}");
        let after = select(&db, &[Matcher::equal("__name__", "m")], from, now_ms());
        assert_eq!(after, all);
        db.cut_all().unwrap();
        assert_eq!(db.stats().head_series, 0);
        assert_eq!(db.stats().head_chunk_file_bytes, 0, "and their files go once they are in blocks");
        assert_eq!(select(&db, &[Matcher::equal("__name__", "m")], from, now_ms()), all);
    }
    // Reopened with a 24 h retention: whole blocks older than the window go, nothing inside it.
    let options = TsdbOptions { retention: Duration::from_secs(24 * 3600), ..TsdbOptions::default() };
    let db = Tsdb::open(dir.path(), options).unwrap();
    let removed = db.enforce_retention(SystemTime::now()).unwrap();
    assert!(removed >= 1);
    let on_disk = std::fs::read_dir(dir.path().join("blocks")).unwrap().count();
    assert_eq!(on_disk, db.read().blocks.len());
    let start = now_ms() - 24 * HOUR;
    for b in db.read().blocks.iter() {
        assert!(b.meta.max_t > start - 60_000, "{:?}", b.meta);
    }
    let kept = select(&db, &[Matcher::equal("__name__", "m")], from, now_ms());
    for (i, s) in kept.iter().enumerate() {
        // The window's start moves while the test runs: compare from the first sample returned.
        let first = s.samples[0].t;
        assert!((start - 60_000..=start + 60_000).contains(&first), "first sample {first}, window {start}");
        assert_eq!(s.samples, expected(i, first), "series {i}");
    }
}

#[test]
fn a_restart_rebuilds_the_head_from_snapshot_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<Labels> = (0..3).map(|i| labels(&[("__name__", "m"), ("i", &i.to_string())])).collect();
    let from = head::align_down(now_ms() - 10 * HOUR, 2 * HOUR);
    let (records, expected, replay_from) = {
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        assert_eq!(db.wal_needed(), crate::WalNeed::Nothing, "an empty store needs nothing");
        let mut seq = 0;
        write(&db, 0, &[]);
        let records = fill(&db, &series, from, 9, &mut seq);
        assert!(db.stats().blocks >= 2);
        let expected = select(&db, &[], from, now_ms());
        (records, expected, db.checkpoint())
    };
    let replay_from = replay_from.expect("a cut wrote a checkpoint");
    assert_eq!(Tsdb::open(dir.path(), TsdbOptions::default()).unwrap().wal_needed(), crate::WalNeed::From(replay_from));
    assert!(replay_from > records[0].0, "replay does not start at the beginning");
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    assert_eq!(db.checkpoint(), Some(replay_from));
    for (pos, batch) in records.iter().filter(|(p, _)| *p >= replay_from) {
        db.apply(*pos, &tenant(), batch);
    }
    let got = select(&db, &[], from, now_ms());
    assert_eq!(got, expected);
    // New series get fresh references after the restart.
    let mut app = db.appender(&tenant());
    app.add(&labels(&[("__name__", "new")]), &[Sample { t: now_ms(), v: 1.0 }], &[]);
    let (batch, _) = app.finish();
    assert!(batch.series[0].series >= 3);
}

#[test]
fn a_damaged_block_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let series = vec![labels(&[("__name__", "m")])];
    let from = head::align_down(now_ms() - 6 * HOUR, 2 * HOUR);
    {
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        fill(&db, &series, from, 5, &mut 0);
        assert!(db.stats().blocks >= 1);
    }
    let block = std::fs::read_dir(dir.path().join("blocks")).unwrap().next().unwrap().unwrap().path();
    let index = block.join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    // The last byte of the table of contents, just before the 24-byte footer.
    let last = bytes.len() - 25;
    bytes[last] ^= 0xff;
    std::fs::write(&index, bytes).unwrap();
    // Found by its checksum, and moved aside rather than stopping the store.
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    assert_eq!(db.quarantined().len(), 1);
    drop(db);
    // An unfinished block directory from a crash is removed on open.
    std::fs::create_dir_all(dir.path().join("blocks/1-2-1.tmp")).unwrap();
    Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    assert!(!dir.path().join("blocks/1-2-1.tmp").exists());
}

#[test]
fn a_block_with_a_damaged_index_is_quarantined_and_the_store_opens_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let series = vec![labels(&[("__name__", "m")])];
    let from = head::align_down(now_ms() - 10 * HOUR, 2 * HOUR);
    {
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        fill(&db, &series, from, 6, &mut 0);
        db.cut_all().unwrap();
        assert!(db.read().blocks.len() >= 2);
    }
    let mut blocks: Vec<_> = std::fs::read_dir(dir.path().join("blocks")).unwrap().map(|e| e.unwrap().path()).collect();
    blocks.sort();
    let damaged = &blocks[0];
    // The table of contents sits at the index's end, under the footer's checksum.
    let index = damaged.join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    let at = bytes.len() - 30;
    bytes[at] ^= 0xff;
    std::fs::write(&index, bytes).unwrap();

    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    assert_eq!(db.quarantined().len(), 1);
    assert!(db.quarantined()[0].starts_with(dir.path().join("quarantine")));
    assert!(!damaged.exists());
    assert_eq!(db.read().blocks.len(), blocks.len() - 1, "the other blocks are open");
    assert!(!select(&db, &[Matcher::equal("__name__", "m")], from, now_ms()).is_empty());
}
