//! Bytes on disk of every log partition under a directory, by tantivy file kind and field:
//! where the stored size goes (BENCHMARKS.md, the log benchmark).
//!
//!     cargo run --release -p lookout-storage --example space -- <data-dir>/logs/partitions
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args().nth(1).ok_or("usage: space <partitions directory>")?;
    let mut bytes: BTreeMap<String, u64> = BTreeMap::new();
    for entry in std::fs::read_dir(&root)? {
        let index = tantivy::Index::open_in_dir(entry?.path())?;
        let usage = index.reader()?.searcher().space_usage()?;
        for segment in usage.segments() {
            let kinds = [
                ("fast", segment.fast_fields()),
                ("postings", segment.postings()),
                ("terms", segment.termdict()),
                ("fieldnorms", segment.fieldnorms()),
            ];
            for (kind, fields) in kinds {
                for field in fields.fields() {
                    *bytes.entry(format!("{kind} {}", field.field_name())).or_default() += field.total().get_bytes();
                }
            }
            *bytes.entry("doc store".into()).or_default() += segment.store().total().get_bytes();
        }
    }
    let total: u64 = bytes.values().sum();
    for (what, n) in &bytes {
        println!("{what:32} {n:>14} {:>6.1} %", *n as f64 * 100.0 / total.max(1) as f64);
    }
    println!("{:32} {total:>14}", "total");
    Ok(())
}
