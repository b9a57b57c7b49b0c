//! Prometheus's alert templates: the labels and annotations of an alerting rule, expanded as
//! Prometheus's rule manager does (`rules/alerting.go` with `template/template.go`) and checked as
//! `promtool check rules` does (`model/rulefmt`).
//!
//! The template data is the struct `{Labels, ExternalLabels, ExternalURL, Value}`, and
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! is prepended to the text, so error positions on line 1 count those definitions too, as in
//! Prometheus. The template is named `__alert_<alertname>`, runs with `missingkey=zero` (a missing
//! label is "") and prints text, not HTML. The functions are Prometheus's (see `funcs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Struct, Template, Value};

mod funcs;
mod humanize;
#[cfg(test)]
mod tests;

pub use funcs::PrometheusFuncs;

/// The variable definitions Prometheus prepends to every alert template.
const DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Go type of the alert template data (`template.AlertTemplateData`).
const ALERT_DATA_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

/// What an alert's labels and annotations are expanded with.
#[derive(Debug, Clone, Copy)]
pub struct AlertTemplateData<'a> {
    /// The labels of the sample the alert is for (`$labels`, `.Labels`), before the rule's own
    /// labels are applied.
    pub labels: &'a BTreeMap<String, String>,
    /// The configured external labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// The configured external URL (`$externalURL`, and the `externalURL`/`pathPrefix` functions).
    pub external_url: &'a str,
    /// The sample value that fired the alert (`$value`).
    pub value: f64,
}

/// Runs a PromQL instant query at `time_ms` for the `query` template function; a scalar result
/// comes back as one sample with no labels.
pub type TemplateQueryFn<'a> = &'a dyn Fn(&str, i64) -> Result<Vec<(BTreeMap<String, String>, f64)>, String>;

/// Parses an alert template as `promtool check rules` / rulefmt does (with the `$labels`,
/// `$externalLabels`, `$externalURL`, `$value` definitions prepended, template name
/// `__alert_<alertname>`), returning Go's error text, e.g.
/// `template: __alert_InstanceDown:1: undefined variable "$label"`.
pub fn check_alert_template(alert_name: &str, text: &str) -> Result<(), String> {
    let funcs = PrometheusFuncs::new(None, 0, "");
    Template::parse(&template_name(alert_name), &format!("{DEFS}{text}"), &funcs).map(drop)
}

/// Expands an alert template at `time_ms` as Prometheus's rule manager does; the error is
/// Prometheus's (`error executing template __alert_X: template: ...`), the caller turns it into
/// `<error expanding template: ...>`.
pub fn expand_alert_template(
    alert_name: &str,
    text: &str,
    data: &AlertTemplateData<'_>,
    time_ms: i64,
    query: Option<TemplateQueryFn<'_>>,
) -> Result<String, String> {
    let name = template_name(alert_name);
    let funcs = PrometheusFuncs::new(query, time_ms, data.external_url);
    let mut template = Template::parse(&name, &format!("{DEFS}{text}"), &funcs)
        .map_err(|e| format!("error parsing template {name}: {e}"))?;
    template.execute(&alert_data(data), &[], &funcs).map_err(|e| format!("error executing template {name}: {e}"))
}

fn template_name(alert_name: &str) -> String {
    format!("__alert_{alert_name}")
}

/// A `map[string]string` template value.
fn str_map(map: &BTreeMap<String, String>) -> Value {
    Value::StrMap(Arc::new(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
}

/// The data struct of `template.AlertTemplateData`.
fn alert_data(data: &AlertTemplateData<'_>) -> Value {
    Value::Struct(Arc::new(Struct {
        go_type: ALERT_DATA_TYPE,
        fields: vec![
            ("Labels", str_map(data.labels)),
            ("ExternalLabels", str_map(data.external_labels)),
            ("ExternalURL", Value::Str(data.external_url.to_owned())),
            ("Value", Value::Float(data.value)),
        ],
    }))
}
