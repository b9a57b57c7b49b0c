//! Prometheus's PromQL test corpus (`testdata/promql/*.test`, see its README) run against the
//! PromQL engine over in-memory series.
//!
//! `cargo test -p lookout-query --test promql_corpus -- --nocapture` prints a line per file and
//! every failure. `PROMQL_TEST_FILTER=functions.test` runs one file,
//! `PROMQL_TEST_FILTER=functions.test:120` one eval (the line of its `eval` command).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod promqltest;

use std::path::Path;

#[test]
fn promql_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/promql");
    let filter = std::env::var("PROMQL_TEST_FILTER").ok().filter(|f| !f.trim().is_empty());
    let report = match promqltest::run_corpus(&dir, filter.as_deref().map(str::trim)) {
        Ok(report) => report,
        Err(e) => panic!("{e}"),
    };
    print!("{}", report.render());
    assert!(report.ok(), "{}", report.verdict());
}
