//! The `scrape_configs` part of a Prometheus configuration file, in Prometheus's own YAML, and
//! the targets it names, labelled as Prometheus labels them (`scrape/target.go`
//! `PopulateLabels`, `scrape/scrape.go` `mutateSampleLabels`).
//!
//! Only static targets (`static_configs`); no service discovery, authentication or TLS
//! settings. Unknown keys are errors, so a file using any of those fails to load and says which
//! key it did not understand.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use lookout_storage::{Label, Labels};
use serde::Deserialize;

use super::duration;
use super::error::ConfigError;
use super::relabel::{self, RelabelConfig, is_label_name};

const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// A Prometheus configuration file, reduced to what scraping uses.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Defaults for every job.
    #[serde(default)]
    pub global: GlobalConfig,
    /// The jobs.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
}

impl PrometheusConfig {
    /// Parses and validates a configuration (defaults filled in, as Prometheus loads one).
    pub fn from_yaml(text: &str) -> Result<PrometheusConfig, ConfigError> {
        let mut config: PrometheusConfig =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Fills in defaults and checks the whole configuration: global settings, every job, and
    /// that no two jobs share a name.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        self.global.validate()?;
        let mut names = HashSet::new();
        for job in &mut self.scrape_configs {
            job.validate(&self.global)?;
            if !names.insert(job.job_name.clone()) {
                return Err(invalid(format!("found multiple scrape configs with job name {:?}", job.job_name)));
            }
        }
        Ok(())
    }
}

/// The `global` section: defaults for every job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How often to scrape a job that sets no interval. Default 1m.
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub scrape_interval: Duration,
    /// How long a scrape may take, for jobs that set no timeout. Default 10s, or the interval
    /// if that is shorter.
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub scrape_timeout: Duration,
    /// Interval of rule groups that set none. Default 1m.
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub evaluation_interval: Duration,
    /// Labels added to every series and alert sent outside.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> GlobalConfig {
        GlobalConfig {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            external_labels: BTreeMap::new(),
        }
    }
}

impl GlobalConfig {
    /// Fills in defaults (a zero duration means "not set") and checks the section.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        for name in self.external_labels.keys() {
            if !is_label_name(name) {
                return Err(invalid(format!("{name:?} is not a valid label name")));
            }
        }
        if self.scrape_interval.is_zero() {
            self.scrape_interval = DEFAULT_SCRAPE_INTERVAL;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(invalid("global scrape timeout greater than scrape interval".into()));
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval);
        }
        if self.evaluation_interval.is_zero() {
            self.evaluation_interval = DEFAULT_EVALUATION_INTERVAL;
        }
        Ok(())
    }
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP (the default).
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The URL scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One job of `scrape_configs`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The job's name, the `job` label of its targets unless relabelling changes it.
    pub job_name: String,
    /// How often to scrape; the global interval if not set.
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub scrape_interval: Duration,
    /// How long a scrape may take; the global timeout (at most the interval) if not set.
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub scrape_timeout: Duration,
    /// The HTTP path to fetch. Default `/metrics`.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// How `https` targets are checked (Prometheus's `tls_config`).
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// URL query parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the scraped labels when they clash with the target's (instead of renaming them
    /// `exported_<name>`).
    #[serde(default)]
    pub honor_labels: bool,
    /// Use the timestamps the target exposes. Default true.
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// The targets, in groups sharing labels.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Rules applied to each target's labels before scraping.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Rules applied to each scraped sample's labels before storing.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Most samples one scrape may keep after metric relabelling; 0 is no limit.
    #[serde(default)]
    pub sample_limit: u64,
    /// Most labels one sample may have after metric relabelling; 0 is no limit.
    #[serde(default)]
    pub label_limit: u64,
}

/// Prometheus's `tls_config` of a scrape job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CA certificates the target's certificate must chain to; without it, the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate, for targets that ask for one.
    pub cert_file: Option<std::path::PathBuf>,
    /// Its PEM private key.
    pub key_file: Option<std::path::PathBuf>,
    /// The name the certificate must carry, instead of the target's host.
    pub server_name: Option<String>,
    /// Accept any certificate (no verification at all).
    pub insecure_skip_verify: bool,
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}

fn default_true() -> bool {
    true
}

impl ScrapeConfig {
    /// Fills in the interval and timeout from `global` and checks the job, as Prometheus does.
    pub fn validate(&mut self, global: &GlobalConfig) -> Result<(), ConfigError> {
        if self.job_name.is_empty() {
            return Err(invalid("job_name is empty".into()));
        }
        let (interval, timeout) = self.interval_and_timeout(global);
        if !self.scrape_timeout.is_zero() && self.scrape_timeout > interval {
            return Err(invalid(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                self.job_name
            )));
        }
        self.scrape_interval = interval;
        self.scrape_timeout = timeout;
        for group in &self.static_configs {
            for target in &group.targets {
                check_address(target)?;
            }
            for name in group.labels.keys() {
                if !is_label_name(name) {
                    return Err(invalid(format!("{name:?} is not a valid label name")));
                }
            }
        }
        Ok(())
    }

    /// The interval and timeout in force, with the global defaults for unset (zero) values.
    fn interval_and_timeout(&self, global: &GlobalConfig) -> (Duration, Duration) {
        let interval = if self.scrape_interval.is_zero() { global.scrape_interval } else { self.scrape_interval };
        let timeout =
            if self.scrape_timeout.is_zero() { global.scrape_timeout.min(interval) } else { self.scrape_timeout };
        (interval, timeout)
    }
}

/// A group of targets sharing labels.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels given to every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A target to scrape, after relabelling.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The labels every sample of the target gets: no `__`-prefixed labels, `instance` set.
    pub labels: Labels,
    /// The labels before relabelling (for showing why a target looks as it does).
    pub discovered_labels: Labels,
    /// What to fetch: `scheme://address/path?params`.
    pub url: String,
    /// How often (`__scrape_interval__` after relabelling).
    pub scrape_interval: Duration,
    /// How long a scrape may take (`__scrape_timeout__` after relabelling).
    pub scrape_timeout: Duration,
}

const ADDRESS: &str = "__address__";
const SCHEME: &str = "__scheme__";
const METRICS_PATH: &str = "__metrics_path__";
const SCRAPE_INTERVAL: &str = "__scrape_interval__";
const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
const PARAM_PREFIX: &str = "__param_";
const META_PREFIX: &str = "__meta_";
const RESERVED_PREFIX: &str = "__";

/// The job's static targets, labelled and relabelled as Prometheus does. Targets dropped by
/// relabelling are left out; targets relabelling left invalid (no address, a bad interval) are
/// left out with a warning, as Prometheus logs and skips them.
pub fn targets(job: &ScrapeConfig, global: &GlobalConfig) -> Vec<Target> {
    let (interval, timeout) = job.interval_and_timeout(global);
    let mut out = Vec::new();
    for group in &job.static_configs {
        for address in &group.targets {
            match target(job, interval, timeout, address, &group.labels) {
                Ok(Some(t)) => out.push(t),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(job = %job.job_name, target = %address, %error, "skipping scrape target");
                }
            }
        }
    }
    out
}

/// One target; `Ok(None)` if relabelling dropped it.
fn target(
    job: &ScrapeConfig,
    interval: Duration,
    timeout: Duration,
    address: &str,
    group_labels: &BTreeMap<String, String>,
) -> Result<Option<Target>, String> {
    let mut labels = Labels::from_pairs([(ADDRESS, address)]);
    for (name, value) in group_labels {
        if name != ADDRESS {
            labels.set(name, value.as_str());
        }
    }
    let defaults = [
        ("job", job.job_name.clone()),
        (SCRAPE_INTERVAL, duration::format(interval)),
        (SCRAPE_TIMEOUT, duration::format(timeout)),
        (METRICS_PATH, job.metrics_path.clone()),
        (SCHEME, job.scheme.as_str().to_owned()),
    ];
    for (name, value) in defaults {
        if labels.get(name).is_none() {
            labels.set(name, value);
        }
    }
    for (name, values) in &job.params {
        let label = format!("{PARAM_PREFIX}{name}");
        if let Some(first) = values.first()
            && labels.get(&label).is_none()
        {
            labels.set(&label, first.as_str());
        }
    }
    let discovered_labels = labels.clone();
    let Some(mut labels) = relabel::process(labels, &job.relabel_configs) else {
        return Ok(None);
    };

    let address = labels.get(ADDRESS).unwrap_or("").to_owned();
    if address.is_empty() {
        return Err("no address".into());
    }
    check_address(&address).map_err(|e| e.to_string())?;
    let interval_text = labels.get(SCRAPE_INTERVAL).unwrap_or("");
    let interval = duration::parse(interval_text).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout_text = labels.get(SCRAPE_TIMEOUT).unwrap_or("");
    let timeout = duration::parse(timeout_text).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_text:?} > {interval_text:?})"
        ));
    }
    let meta: Vec<String> = labels.iter().filter(|l| l.name.starts_with(META_PREFIX)).map(|l| l.name.clone()).collect();
    for name in meta {
        labels.remove(&name);
    }
    if labels.get("instance").is_none() {
        labels.set("instance", address.as_str());
    }

    let url = target_url(&labels, &job.params);
    let public: Vec<Label> = labels.into_vec().into_iter().filter(|l| !l.name.starts_with(RESERVED_PREFIX)).collect();
    Ok(Some(Target {
        labels: Labels::from_sorted(public),
        discovered_labels,
        url,
        scrape_interval: interval,
        scrape_timeout: timeout,
    }))
}

/// Prometheus's `Target.URL()`: scheme, address and path from the labels, the job's params
/// with each `__param_<name>` label replacing its first value, query keys sorted.
fn target_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut query = params.clone();
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_PREFIX) {
            let values = query.entry(name.to_owned()).or_default();
            match values.first_mut() {
                Some(first) => first.clone_from(&l.value),
                None => values.push(l.value.clone()),
            }
        }
    }
    let scheme = labels.get(SCHEME).unwrap_or("");
    let address = labels.get(ADDRESS).unwrap_or("");
    let path = labels.get(METRICS_PATH).unwrap_or("");
    let mut url = format!("{scheme}://{address}");
    if !path.is_empty() && !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(&escape(path, false));
    let pairs: Vec<String> = query
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{}={}", escape(k, true), escape(v, true))))
        .collect();
    if !pairs.is_empty() {
        url.push('?');
        url.push_str(&pairs.join("&"));
    }
    url
}

/// Go's `url.PathEscape`-for-a-whole-path (`query: false`) and `url.QueryEscape` (`query:
/// true`): unreserved characters stay, a path also keeps `$&+,/:;=@`, a query turns spaces
/// into `+`, everything else is `%XX`.
fn escape(s: &str, query: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (!query && matches!(b, b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'));
        if keep {
            out.push(b as char);
        } else if query && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Prometheus's `CheckTargetAddress`: an address with a `/` is a URL, not a host.
fn check_address(address: &str) -> Result<(), ConfigError> {
    if address.contains('/') {
        return Err(invalid(format!("{address:?} is not a valid hostname")));
    }
    Ok(())
}

/// Prometheus's `mutateSampleLabels`, before `metric_relabel_configs`: the target's labels are
/// added to a scraped sample's. On a clash, with `honor_labels` the sample's value stays;
/// without it the target's value wins and the sample's moves to `exported_<name>` (prefixed
/// again while that name is taken, shortest names first).
pub fn merge_sample_labels(sample: Labels, target: &Labels, honor_labels: bool) -> Labels {
    let mut out = sample.clone();
    if honor_labels {
        for l in target.iter() {
            if sample.get(&l.name).is_none() {
                out.set(&l.name, l.value.as_str());
            }
        }
        return out;
    }
    let mut clashes: Vec<Label> = Vec::new();
    for l in target.iter() {
        if let Some(existing) = sample.get(&l.name).filter(|v| !v.is_empty()) {
            clashes.push(Label::new(l.name.as_str(), existing));
        }
        out.set(&l.name, l.value.as_str());
    }
    clashes.sort_by_key(|l| l.name.len());
    for clash in clashes {
        let mut name = clash.name;
        loop {
            name = format!("exported_{name}");
            if out.get(&name).is_none() {
                out.set(&name, clash.value);
                break;
            }
        }
    }
    out
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

#[cfg(test)]
mod tests;
