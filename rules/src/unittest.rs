//! `lookout rules test`: promtool's rule unit tests (`promtool test rules`), with its file format,
//! its evaluation loop and its messages (Prometheus `cmd/promtool/unittest.go`).
//!
//! Each test group runs on fresh in-memory series: the input series are loaded step by step,
//! every rule group is evaluated at every `evaluation_interval` up to the largest `eval_time`,
//! alert checks run right after the step their `eval_time` rounds down to, and PromQL checks
//! run at the end as instant queries at their exact `eval_time`. Rules are marked restored from
//! the start, so `ALERTS` and `ALERTS_FOR_STATE` exist from the first step.
//!
//! Native histograms in `input_series` are stored as histograms and read back with the
//! counter-reset hints a TSDB gives them; `histogram:` expectations are compared with the result
//! in Prometheus's canonical text, as promtool does. The engine returns histograms from
//! selectors; its operators and functions work on floats only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use lookout_query::promql::notation::{SeqValue, histogram_text, parse_duration, parse_series_line};
use lookout_query::promql::{Engine, EngineOptions, Value};
use lookout_storage::metrics::{Matcher, MemSeries, Querier, SeriesData};
use lookout_storage::{HistogramSample, Labels, Sample, Tenant};
use serde::Deserialize;

use crate::group::Group;
use crate::rule::AlertState;
use crate::rulefmt::{self, ParseOptions, RuleKind, Source};
use crate::{EvalContext, QuerySample, RuleAppender, RuleQuerier};

/// How `lookout rules test` runs.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Only test groups whose name matches one of these regexes (`--run`).
    pub run: Vec<String>,
    /// Skip unknown keys in rule files (`--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// Allow experimental PromQL functions (`--enable-feature=promql-experimental-functions`).
    pub experimental_functions: bool,
}

/// A unit-test file (strict: unknown keys are errors).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<YamlText>,
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<YamlText>,
    #[serde(default)]
    start_timestamp: Option<YamlText>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: Option<YamlText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    #[serde(default)]
    eval_time: Option<YamlText>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTest {
    expr: String,
    #[serde(default)]
    eval_time: Option<YamlText>,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    histogram: String,
}

/// A YAML scalar read as its source text, whether it looks like a string or a number: as Go's
/// yaml decodes a scalar into a string field, `values: 0x10` is the text `0x10`, not 16.
#[derive(Debug, Clone)]
struct YamlText(String);

impl<'de> Deserialize<'de> for YamlText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(YamlText)
    }
}

fn duration_of(value: &Option<YamlText>, default: i64) -> Result<i64, String> {
    value.as_ref().map_or(Ok(default), |v| parse_duration(&v.0))
}

/// Runs every test file; returns the process exit code (0 all passed, 1 otherwise) after
/// printing promtool's report to `out`.
pub fn run_files(files: &[PathBuf], options: &TestOptions, out: &mut dyn std::io::Write) -> i32 {
    let mut failed = false;
    for file in files {
        let _ = writeln!(out, "Unit Testing:  {}", file.display());
        match run_file(file, options) {
            Ok(errors) if errors.is_empty() => {
                let _ = writeln!(out, "  SUCCESS");
            }
            Ok(errors) | Err(errors) => {
                failed = true;
                let _ = writeln!(out, "  FAILED:");
                for e in errors {
                    let _ = writeln!(out, "{e}");
                }
            }
        }
        let _ = writeln!(out);
    }
    i32::from(failed)
}

/// Runs one test file: the failures of its test groups, empty when all pass.
pub fn run_file(path: &Path, options: &TestOptions) -> Result<Vec<String>, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("  {}: {e}", path.display())])?;
    let file: TestFile = serde_yaml_ng::from_str(&text).map_err(|e| vec![format!("  {e}")])?;
    let interval = duration_of(&file.evaluation_interval, 60_000).map_err(|e| vec![format!("  {e}")])?;
    let mut seen = std::collections::BTreeSet::new();
    for name in &file.group_eval_order {
        if !seen.insert(name) {
            return Err(vec![format!("  group name repeated in evaluation order: {name}")]);
        }
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let specs = load_rule_files(base, &file.rule_files, options)?;
    let filters = options
        .run
        .iter()
        .map(|r| regex::Regex::new(&format!("^(?:{r})$")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| vec![format!("  invalid --run pattern: {e}")])?;
    let mut errors = Vec::new();
    for group in &file.tests {
        if !filters.is_empty() && !filters.iter().any(|f| f.is_match(&group.name)) {
            continue;
        }
        let runner = GroupRun { file: &file, group, interval, specs: &specs, options };
        errors.extend(runner.run());
    }
    Ok(errors)
}

/// The rule groups of every rule file, in `group_eval_order` later.
fn load_rule_files(
    base: &Path,
    patterns: &[String],
    options: &TestOptions,
) -> Result<Vec<(String, rulefmt::GroupSpec)>, Vec<String>> {
    let parse = ParseOptions { ignore_unknown_fields: options.ignore_unknown_fields, ..ParseOptions::default() };
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for pattern in patterns {
        let full = base.join(pattern).to_string_lossy().into_owned();
        let files = crate::manager::rule_files(std::slice::from_ref(&full))
            .map_err(|e| e.into_iter().map(|e| format!("  {e}")).collect::<Vec<_>>())?;
        for f in files {
            if !f.exists() {
                errors.push(format!("  {}: no such file", f.display()));
                continue;
            }
            match rulefmt::parse_file(&f, parse) {
                Ok(groups) => specs.extend(groups.into_iter().map(|g| (f.display().to_string(), g))),
                Err(e) => errors.extend(e.into_iter().map(|e| format!("  {e}"))),
            }
        }
    }
    if errors.is_empty() { Ok(specs) } else { Err(errors) }
}

/// One test group's run.
struct GroupRun<'a> {
    file: &'a TestFile,
    group: &'a TestGroup,
    interval: i64,
    specs: &'a [(String, rulefmt::GroupSpec)],
    options: &'a TestOptions,
}

impl GroupRun<'_> {
    fn name_prefix(&self) -> String {
        if self.group.name.is_empty() { String::new() } else { format!("    name: {},\n", self.group.name) }
    }

    fn run(&self) -> Vec<String> {
        match self.try_run() {
            Ok(errors) => errors,
            Err(e) => vec![format!("{}{e}", self.name_prefix())],
        }
    }

    fn try_run(&self) -> Result<Vec<String>, String> {
        let start = start_time(self.group.start_timestamp.as_ref())?;
        let series_interval = duration_of(&self.group.interval, self.interval)?;
        let inputs = self.input_samples(start, series_interval)?;
        let storage = TestStorage::new(self.interval, self.options.experimental_functions);
        let mut groups = self.rule_groups();

        let alert_times: Vec<i64> =
            self.group.alert_rule_test.iter().map(|t| duration_of(&t.eval_time, 0)).collect::<Result<_, _>>()?;
        let expr_times: Vec<i64> =
            self.group.promql_expr_test.iter().map(|t| duration_of(&t.eval_time, 0)).collect::<Result<_, _>>()?;
        let max_eval = alert_times.iter().chain(&expr_times).copied().max().unwrap_or(0);

        let external_labels = &self.group.external_labels;
        let tenant = Tenant::default();
        let ctx = EvalContext {
            tenant: &tenant,
            querier: &storage,
            appender: &storage,
            source: Source::Promql,
            external_labels,
            external_url: &self.group.external_url,
        };
        let mut errors = Vec::new();
        let mut loaded = 0;
        let mut ts = start;
        while ts <= start + max_eval {
            while loaded < inputs.len() && inputs[loaded].1.t() <= ts {
                let (labels, sample) = &inputs[loaded];
                storage.write(labels, sample.clone());
                loaded += 1;
            }
            for g in &mut groups {
                g.eval(&ctx, ts, 0);
                let failures: Vec<String> = g
                    .rules
                    .iter()
                    .filter_map(|r| {
                        r.last_error.as_ref().map(|e| {
                            format!("    rule: {}, time: {}, err: {e}", r.spec.name(), go_duration(ts - start))
                        })
                    })
                    .collect();
                if !failures.is_empty() {
                    return Err(failures.join("\n"));
                }
            }
            for (test, &t) in self.group.alert_rule_test.iter().zip(&alert_times) {
                if start + t >= ts
                    && start + t < ts + self.interval
                    && let Some(e) = self.check_alerts(test, &groups, t)
                {
                    errors.push(e);
                }
            }
            ts += self.interval;
        }
        for (test, &t) in self.group.promql_expr_test.iter().zip(&expr_times) {
            if let Some(e) = self.check_expr(&storage, test, start + t, t) {
                errors.push(e);
            }
        }
        Ok(errors)
    }

    /// Every input sample, by time.
    fn input_samples(&self, start: i64, interval: i64) -> Result<Vec<(Labels, InputSample)>, String> {
        let mut samples = Vec::new();
        for input in &self.group.input_series {
            let values = input.values.as_ref().map(|v| v.0.as_str()).unwrap_or("");
            let line = format!("{} {values}", input.series);
            let (labels, seq) = parse_series_line(&line).map_err(|e| format!("    parse error: {e}"))?;
            for (i, v) in seq.iter().enumerate() {
                let t = start + i as i64 * interval;
                match v {
                    SeqValue::Float(v) => samples.push((labels.clone(), InputSample::Float(Sample { t, v: *v }))),
                    SeqValue::Histogram(h) => {
                        samples.push((labels.clone(), InputSample::Histogram(HistogramSample { t, h: h.clone() })))
                    }
                    SeqValue::Omitted => {}
                }
            }
        }
        samples.sort_by_key(|(_, s)| s.t());
        Ok(samples)
    }

    /// The rule groups, those in `group_eval_order` first, marked restored.
    fn rule_groups(&self) -> Vec<Group> {
        let mut groups: Vec<Group> =
            self.specs.iter().map(|(file, spec)| Group::new(file, spec.clone(), self.interval)).collect();
        let order = &self.file.group_eval_order;
        groups.sort_by_key(|g| order.iter().position(|n| *n == g.spec.name).unwrap_or(usize::MAX));
        for g in &mut groups {
            g.should_restore = false;
            for r in &mut g.rules {
                r.restored = true;
            }
        }
        groups
    }

    fn check_alerts(&self, test: &AlertTest, groups: &[Group], t: i64) -> Option<String> {
        let mut got: Vec<(Labels, Labels)> = groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter(|r| matches!(&r.spec.kind, RuleKind::Alert(n) if *n == test.alertname))
            .flat_map(|r| r.alerts.values())
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| (a.labels.clone(), Labels::from_pairs(a.annotations.clone())))
            .collect();
        let mut exp: Vec<(Labels, Labels)> = test
            .exp_alerts
            .iter()
            .map(|e| {
                let mut labels = Labels::from_pairs(e.exp_labels.clone());
                labels.set("alertname", test.alertname.as_str());
                (labels, Labels::from_pairs(e.exp_annotations.clone()))
            })
            .collect();
        got.sort();
        exp.sort();
        if got == exp {
            return None;
        }
        Some(format!(
            "{}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
            self.name_prefix(),
            test.alertname,
            model_duration(t),
            indent(&alerts_string(&exp), "            "),
            indent(&alerts_string(&got), "            "),
        ))
    }

    fn check_expr(&self, storage: &TestStorage, test: &PromqlTest, at: i64, t: i64) -> Option<String> {
        let fail = |e: String| {
            Some(format!("{}    expr: {:?}, time: {}, err: {e}", self.name_prefix(), test.expr, model_duration(t)))
        };
        let mut got = match storage.instant(&test.expr, at) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        let mut exp = Vec::new();
        for s in &test.exp_samples {
            let labels = match parse_labels(&s.labels) {
                Ok(l) => l,
                Err(e) => return fail(format!("labels {:?}: {e}", s.labels)),
            };
            let histogram = if s.histogram.is_empty() {
                None
            } else {
                match parse_series_line(&format!("{{}} {}", s.histogram)) {
                    Ok((_, values)) => match values.first() {
                        Some(SeqValue::Histogram(h)) => Some(histogram_text(h)),
                        _ => return fail(format!("histogram {:?} is not a native histogram", s.histogram)),
                    },
                    Err(e) => return fail(format!("histogram {:?}: {e}", s.histogram)),
                }
            };
            exp.push((labels, s.value, histogram));
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got
                .iter()
                .zip(&exp)
                .all(|(g, e)| g.0 == e.0 && g.2 == e.2 && floats_match(g.1, e.1, self.file.fuzzy_compare));
        if same {
            return None;
        }
        Some(format!(
            "{}    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
            self.name_prefix(),
            test.expr,
            model_duration(t),
            samples_string(&exp),
            samples_string(&got),
        ))
    }
}

/// `==`, or within one ULP either side with `fuzzy_compare`.
fn floats_match(got: f64, exp: f64, fuzzy: bool) -> bool {
    if got == exp {
        return true;
    }
    fuzzy && got.is_finite() && exp.is_finite() && (next_up(exp) == got || next_down(exp) == got)
}

fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        return f64::from_bits(1);
    }
    if x > 0.0 { f64::from_bits(x.to_bits() + 1) } else { f64::from_bits(x.to_bits() - 1) }
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// A label set as promtool writes expected labels: `name{a="b"}`, `{a="b"}` or empty.
fn parse_labels(text: &str) -> Result<Labels, String> {
    if text.trim().is_empty() {
        return Ok(Labels::default());
    }
    parse_series_line(text.trim()).map(|(l, _)| l)
}

/// `start_timestamp`: Unix seconds (possibly fractional) or RFC 3339.
fn start_time(value: Option<&YamlText>) -> Result<i64, String> {
    let Some(YamlText(text)) = value else { return Ok(0) };
    if let Ok(secs) = text.parse::<f64>() {
        return Ok((secs * 1000.0).round() as i64);
    }
    parse_rfc3339(text).ok_or_else(|| format!("    start_timestamp: cannot parse {text:?} as Unix seconds or RFC 3339"))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` in ms.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once(['T', 't'])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset_ms) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (c, sign * (oh.parse::<i64>().ok()? * 3_600_000 + om.parse::<i64>().ok()? * 60_000))
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (parts.next()??, parts.next()??, parts.next()??);
    let millis = if frac.is_empty() { 0 } else { format!("{frac:0<3}")[..3].parse::<i64>().ok()? };
    let days = days_from_civil(y, m, day);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) * 1000 + millis) - offset_ms)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration as Prometheus's `model.Duration` prints it: `1d`, `5m`, `1h30m`, `0s`.
pub fn model_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    for (unit, size) in [
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// A duration as Go's `time.Duration` prints it: `1m0s`, `24h0m0s`, `1.5s`, `0s`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.abs();
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if milli == 0 { format!("{s}") } else { format!("{s}.{milli:03}").trim_end_matches('0').to_string() };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else if ms < 1000 {
        format!("{sign}{milli}ms")
    } else {
        format!("{sign}{secs}s")
    }
}

/// Alerts as promtool lists them (`labelsAndAnnotations.String`).
fn alerts_string(alerts: &[(Labels, Labels)]) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let items: Vec<String> = alerts
        .iter()
        .enumerate()
        .map(|(i, (labels, annotations))| {
            format!("{i}:\n  Labels:{}\n  Annotations:{}", go_labels(labels), go_labels(annotations))
        })
        .collect();
    format!("[\n{}\n]", items.join(",\n"))
}

/// Samples as promtool lists them (`parsedSamplesString`): `nil`, or each sample's labels and
/// value (`%E`) or histogram, joined by `, `.
fn samples_string(samples: &[(Labels, f64, Option<String>)]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    let parts: Vec<String> = samples
        .iter()
        .map(|(l, v, h)| match h {
            Some(h) => format!("{} {h}", go_labels(l)),
            None => format!("{} {}", go_labels(l), go_float_e(*v)),
        })
        .collect();
    parts.join(", ")
}

/// A label set as Prometheus's `Labels.String`: `{a="b", c="d"}`, `__name__` included.
fn go_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", parts.join(", "))
}

/// `%E`-style float as promtool prints sample values (`1E+00`).
fn go_float_e(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{v:E}");
    let (m, e) = s.split_once('E').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn indent(text: &str, prefix: &str) -> String {
    let mut lines = text.lines();
    let mut out = lines.next().unwrap_or_default().to_string();
    for l in lines {
        out.push('\n');
        out.push_str(prefix);
        out.push_str(l);
    }
    out
}

/// In-memory series with the PromQL engine over them: the test's storage, query function and
/// appender at once.
/// One input sample, float or native histogram.
#[derive(Debug, Clone)]
enum InputSample {
    Float(Sample),
    Histogram(HistogramSample),
}

impl InputSample {
    fn t(&self) -> i64 {
        match self {
            InputSample::Float(s) => s.t,
            InputSample::Histogram(h) => h.t,
        }
    }
}

struct TestStorage {
    series: RwLock<MemSeries>,
    engine: Engine,
}

impl TestStorage {
    fn new(evaluation_interval: i64, experimental: bool) -> TestStorage {
        let engine = Engine::new(EngineOptions {
            max_samples: 50_000_000,
            timeout: std::time::Duration::from_secs(100),
            experimental_functions: experimental,
            default_subquery_step: evaluation_interval,
            ..EngineOptions::default()
        });
        TestStorage { series: RwLock::new(MemSeries::new()), engine }
    }

    fn write(&self, labels: &Labels, sample: InputSample) {
        if let Ok(mut s) = self.series.write() {
            match sample {
                InputSample::Float(f) => s.append(labels, vec![f]),
                InputSample::Histogram(h) => s.append_histograms(labels, vec![h]),
            }
        }
    }

    /// Evaluates `expr` at `at`: labels, value and, for a histogram sample, its canonical text
    /// (the value is then 0, as Prometheus reports a histogram sample's float).
    fn instant(&self, expr: &str, at: i64) -> Result<Vec<(Labels, f64, Option<String>)>, String> {
        let series = self.series.read().map_err(|_| "storage lock poisoned".to_string())?;
        let out = self.engine.instant(&*series, &Tenant::default(), expr, at).map_err(|e| e.to_string())?;
        match out.value {
            Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v, s.h.as_ref().map(histogram_text))).collect()),
            Value::Scalar { v, .. } => Ok(vec![(Labels::default(), v, None)]),
            other => Err(format!("rule result is not a vector or scalar: {}", other.type_name())),
        }
    }
}

impl RuleQuerier for TestStorage {
    /// A test has one tenant's data: whichever the rules name.
    fn query(&self, _: &Tenant, source: Source, expr: &str, time_ms: i64) -> Result<Vec<QuerySample>, String> {
        if source == Source::Logql {
            return Err("LogQL rules cannot be unit-tested: the test has no log store".into());
        }
        Ok(self.instant(expr, time_ms)?.into_iter().map(|(labels, v, _)| QuerySample { labels, v }).collect())
    }

    fn select(&self, _: &Tenant, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<SeriesData>, String> {
        let series = self.series.read().map_err(|_| "storage lock poisoned".to_string())?;
        series.select(&Tenant::default(), matchers, start, end).map_err(|e| e.to_string())
    }
}

impl RuleAppender for TestStorage {
    fn append(&self, _: &Tenant, time_ms: i64, samples: Vec<(Labels, f64)>) -> Result<(), String> {
        let mut series = self.series.write().map_err(|_| "storage lock poisoned".to_string())?;
        for (labels, v) in samples {
            series.append(&labels, vec![Sample { t: time_ms, v }]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_prometheus_and_go() {
        assert_eq!(model_duration(86_400_000), "1d");
        assert_eq!(model_duration(5_400_000), "1h30m");
        assert_eq!(model_duration(179_999), "2m59s999ms");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(86_400_000), "24h0m0s");
        assert_eq!(go_duration(1500), "1.5s");
    }

    #[test]
    fn start_timestamps_parse() {
        assert_eq!(start_time(Some(&YamlText("1609459200".into()))), Ok(1_609_459_200_000));
        assert_eq!(start_time(Some(&YamlText("2021-01-01T00:00:00Z".into()))), Ok(1_609_459_200_000));
        assert_eq!(start_time(Some(&YamlText("2021-01-01T01:00:00+01:00".into()))), Ok(1_609_459_200_000));
    }

    #[test]
    fn numbers_keep_their_source_text() {
        // A regression: `values: 0x10` (ten zeros) was read as the number 16.
        let group: TestGroup = serde_yaml_ng::from_str("input_series:\n  - series: up\n    values: 0x10\n").unwrap();
        assert_eq!(group.input_series[0].values.as_ref().unwrap().0, "0x10");
        let group: TestGroup = serde_yaml_ng::from_str("start_timestamp: 1.5\n").unwrap();
        assert_eq!(group.start_timestamp.unwrap().0, "1.5");
    }

    #[test]
    fn fuzzy_compare_allows_one_ulp() {
        assert!(floats_match(next_up(3.0), 3.0, true));
        assert!(!floats_match(next_up(3.0), 3.0, false));
        assert!(!floats_match(next_up(next_up(3.0)), 3.0, true));
        assert!(!floats_match(f64::NAN, f64::NAN, true));
    }
}
