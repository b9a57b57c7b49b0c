//! The WAL reader on a damaged or hostile segment, as a restart finds it, with every record it
//! accepts applied to a real metrics store and log store. The segment is a real header written
//! by the WAL writer followed by the input: as it is when the first byte is even (torn frames,
//! bad checksums), or cut into records framed with correct checksums when it is odd, so that
//! the record decoder itself is reached. Replay must report damage, never panic.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use lookout_storage::logs::{LogStore, LogStoreOptions};
use lookout_storage::metrics::Tsdb;
use lookout_storage::{FsyncPolicy, Payload, Wal, WalMetrics, WalOptions, WalReader};

/// Inputs run so far; the log store commits every 200, as the server's interval would.
static RUNS: AtomicU64 = AtomicU64::new(0);

struct Fixture {
    /// The WAL directory and its one segment file.
    dir: PathBuf,
    segment: PathBuf,
    /// The segment header the writer wrote.
    header: Vec<u8>,
    tsdb: Tsdb,
    logs: LogStore,
    _root: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = tempfile::tempdir().expect("temporary directory");
        let dir = root.path().join("wal");
        let options = WalOptions { fsync: FsyncPolicy::Never, ..WalOptions::default() };
        let metrics = WalMetrics::new(&prometheus::Registry::new()).expect("metrics");
        let wal = Wal::open(&dir, options, metrics, Box::new(|_, _| {})).expect("wal");
        wal.close();
        let segment = std::fs::read_dir(&dir).expect("wal dir").flatten().next().expect("a segment").path();
        let header = std::fs::read(&segment).expect("segment");
        Fixture {
            tsdb: Tsdb::open(&root.path().join("metrics"), Default::default()).expect("metrics store"),
            logs: LogStore::open(&root.path().join("logs"), LogStoreOptions::default()).expect("log store"),
            dir,
            segment,
            header,
            _root: root,
        }
    })
}

/// The input cut into records, each framed as the writer frames one: length, CRC-32, payload.
/// Each record's length is the next two input bytes, little-endian (bounded by what is left).
fn framed(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let [lo, hi, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*lo, *hi]));
        let (payload, next) = rest.split_at(len.min(rest.len()));
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        data = next;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let f = fixture();
    let mut segment = f.header.clone();
    if mode & 1 == 1 {
        segment.extend_from_slice(&framed(body));
    } else {
        segment.extend_from_slice(body);
    }
    std::fs::write(&f.segment, &segment).expect("write segment");
    let stats = WalReader::new(&f.dir).replay(mode & 2 == 2, |position, record| match record.payload {
        Payload::Samples(batch) => f.tsdb.apply(position, &record.tenant, &batch),
        Payload::Streams(batch) => {
            let _ = f.logs.append(position, &record.tenant, batch);
        }
        Payload::Logs(batch) => {
            let _ = f.logs.append_otlp(position, &record.tenant, &batch);
        }
        Payload::Traces(_) | Payload::Metrics(_) => {}
    });
    let stats = stats.expect("a damaged segment is reported, not an error");
    assert!(stats.bytes <= segment.len() as u64);
    if RUNS.fetch_add(1, Ordering::Relaxed) % 200 == 199 {
        let _ = f.logs.commit();
    }
});
