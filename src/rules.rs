//! The rules' view of Lookout: a query function over the PromQL and LogQL engines, raw series
//! from the metrics store for the `for` state, and an appender that writes through the WAL like
//! every other intake. Also `lookout rules check` and `lookout rules test`.

use std::path::PathBuf;
use std::sync::Arc;

use lookout_ingest::Transport;
use lookout_ingest::remote_write::IngesterSlot;
use lookout_query::logql::{LogqlEngine, LogqlQuery, LogqlValue};
use lookout_query::promql::{Engine, Value};
use lookout_rules::check::{CheckOptions, check_files};
use lookout_rules::rulefmt::ParseOptions;
use lookout_rules::unittest::{TestOptions, run_files};
use lookout_rules::{QuerySample, RuleAppender, RuleQuerier, Source};
use lookout_storage::metrics::{Matcher, Querier, SeriesData, Tsdb};
use lookout_storage::{Labels, Sample, SeriesSamples, Tenant};

/// The stores and engines the rules read and write.
pub struct RuleStorage {
    /// The metrics store.
    pub tsdb: Arc<Tsdb>,
    /// PromQL.
    pub engine: Engine,
    /// LogQL over the log store.
    pub logql: LogqlEngine,
    /// Writes go through the ingester once it exists (after WAL replay).
    pub ingester: IngesterSlot,
    /// The runtime the ingester's async writes run on.
    pub runtime: tokio::runtime::Handle,
}

impl RuleQuerier for RuleStorage {
    fn query(&self, tenant: &Tenant, source: Source, expr: &str, time_ms: i64) -> Result<Vec<QuerySample>, String> {
        let (vector, scalar) = match source {
            Source::Promql => {
                match self.engine.instant(self.tsdb.as_ref(), tenant, expr, time_ms).map_err(|e| e.to_string())?.value {
                    Value::Vector(v) => (v, None),
                    Value::Scalar { v, .. } => (Vec::new(), Some(v)),
                    other => return Err(format!("rule result is not a vector or scalar: {}", other.type_name())),
                }
            }
            Source::Logql => {
                let at = time_ms.saturating_mul(1_000_000);
                let query = LogqlQuery {
                    query: expr.to_string(),
                    start: at,
                    end: at,
                    step_ms: 0,
                    interval: None,
                    limit: 100,
                    backward: true,
                    instant: true,
                };
                match self.logql.query(tenant, &query, false).map_err(|e| e.to_string())?.value {
                    LogqlValue::Vector(v) => (v, None),
                    LogqlValue::Scalar { v, .. } => (Vec::new(), Some(v)),
                    _ => return Err("rule result is not a vector or scalar".into()),
                }
            }
        };
        Ok(match scalar {
            Some(v) => vec![QuerySample { labels: Labels::default(), v }],
            None => vector.into_iter().map(|s| QuerySample { labels: s.labels, v: s.v }).collect(),
        })
    }

    fn select(&self, tenant: &Tenant, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<SeriesData>, String> {
        self.tsdb.select(tenant, matchers, start, end).map_err(|e| e.to_string())
    }
}

impl RuleAppender for RuleStorage {
    fn append(&self, tenant: &Tenant, time_ms: i64, samples: Vec<(Labels, f64)>) -> Result<(), String> {
        let ingester = self.ingester.get().ok_or("not ready: the write-ahead log is being replayed")?;
        let series = samples
            .into_iter()
            .map(|(labels, v)| SeriesSamples { labels, samples: vec![Sample { t: time_ms, v }], exemplars: Vec::new() })
            .collect();
        let refused = self
            .runtime
            .block_on(ingester.write_series(tenant.clone(), series, Vec::new(), Transport::Rules))
            .map_err(|e| e.to_string())?;
        if refused.samples > 0 {
            // As Prometheus does for out-of-order rule output: counted by the store, not a rule error.
            tracing::warn!(refused = refused.samples, "the metrics store refused samples of a rule's output");
        }
        Ok(())
    }
}

/// `lookout rules …`.
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Check rule files, as `promtool check rules` does (exit 1 if invalid, 3 on lint problems
    /// with --lint-fatal).
    Check {
        /// `duplicate-rules` (default) or `none`.
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint problems fail the check.
        #[arg(long = "lint-fatal")]
        lint_fatal: bool,
        /// Skip unknown keys in rule files.
        #[arg(long = "ignore-unknown-fields")]
        ignore_unknown_fields: bool,
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run rule unit tests, as `promtool test rules` does (exit 1 if any fails).
    Test {
        /// Only test groups whose name matches one of these regexes.
        #[arg(long)]
        run: Vec<String>,
        /// Skip unknown keys in the rule files the tests load.
        #[arg(long = "ignore-unknown-fields")]
        ignore_unknown_fields: bool,
        /// Feature flags; `promql-experimental-functions` is the one known.
        #[arg(long = "enable-feature", value_delimiter = ',')]
        enable_feature: Vec<String>,
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs a `lookout rules` command and returns its exit code.
pub fn run(command: RulesCommand) -> i32 {
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    match command {
        RulesCommand::Check { lint, lint_fatal, ignore_unknown_fields, files } => {
            let options = CheckOptions {
                lint_duplicates: lint != "none",
                lint_fatal,
                parse: ParseOptions { ignore_unknown_fields, ..ParseOptions::default() },
            };
            check_files(&files, options, &mut stdout.lock(), &mut stderr.lock())
        }
        RulesCommand::Test { run, ignore_unknown_fields, enable_feature, files } => {
            let options = TestOptions {
                run,
                ignore_unknown_fields,
                experimental_functions: enable_feature.iter().any(|f| f == "promql-experimental-functions"),
            };
            run_files(&files, &options, &mut stdout.lock())
        }
    }
}
