//! Import of Grafana dashboard JSON into the Lookout model: rows from `row` panels, panel types
//! and targets mapped, what has no counterpart skipped with a message.
//!
//! The import is a pure function of the JSON; it never fails because of one panel, only when the
//! input is not a Grafana dashboard at all.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::model::{self, Dashboard, Panel, Query, Row, TimeRange, Variable};
use crate::{Error, Result};

/// A dashboard imported from Grafana and what it left out.
#[derive(Debug, Clone)]
pub(crate) struct Imported {
    /// The dashboard in the Lookout model, valid.
    pub dashboard: Dashboard,
    /// One message per panel, query, variable or setting left out, naming it.
    pub skipped: Vec<String>,
}

/// Imports a Grafana dashboard: the plain dashboard JSON or `{"dashboard": {...}}` as Grafana's
/// API and export wrap it.
pub(crate) fn import(value: &Value) -> Result<Imported> {
    let root = value.get("dashboard").filter(|d| d.is_object()).unwrap_or(value);
    let Some(obj) = root.as_object() else {
        return Err(Error::NotGrafana("expected a JSON object".into()));
    };
    let Some(panels) = obj.get("panels").and_then(Value::as_array) else {
        if obj.contains_key("rows") && obj.contains_key("schemaVersion") {
            return Err(Error::NotGrafana(
                "a dashboard of Grafana before 5.0 (\"rows\" without \"panels\"); save it in a newer Grafana first"
                    .into(),
            ));
        }
        if obj.contains_key("rows") {
            return Err(Error::NotGrafana(
                "no \"panels\" array; with \"rows\" it looks like a Lookout dashboard".into(),
            ));
        }
        return Err(Error::NotGrafana("no \"panels\" array".into()));
    };
    let mut importer = Importer::new(obj);
    let title = str_of(obj, "title").trim().to_owned();
    let title = if title.is_empty() { "Untitled".to_owned() } else { title };
    let uid = importer.uid(str_of(obj, "uid"), &title);
    let time = importer.time(obj.get("time"));
    let refresh = importer.refresh(obj.get("refresh"));
    let variables = importer.variables(obj.get("templating").and_then(|t| t.get("list")));
    let rows = importer.rows(panels);
    let dashboard = Dashboard {
        uid,
        title,
        description: str_of(obj, "description").to_owned(),
        tags: obj.get("tags").and_then(Value::as_array).into_iter().flatten().filter_map(as_string).collect(),
        time,
        refresh,
        version: 1,
        variables,
        rows,
    };
    dashboard.validate()?;
    Ok(Imported { dashboard, skipped: importer.skipped })
}

/// The language a datasource speaks, as far as the import can tell.
#[derive(Debug, Clone, PartialEq)]
enum Datasource {
    /// Not given, mixed, or a name or variable that cannot be resolved: inferred from the target.
    Unknown,
    /// Prometheus, Loki or Tempo.
    Lang(&'static str),
    /// Any other plugin, by id.
    Other(String),
}

struct Importer {
    /// Datasource variables and `__inputs` by name, to plugin id.
    datasource_vars: HashMap<String, String>,
    skipped: Vec<String>,
    /// Every panel id in the Grafana JSON, so that a new id does not take one a later panel keeps.
    grafana_ids: HashSet<u64>,
    /// The ids given to imported panels so far.
    assigned_ids: HashSet<u64>,
}

impl Importer {
    fn new(obj: &Map<String, Value>) -> Importer {
        let mut datasource_vars = HashMap::new();
        for input in obj.get("__inputs").and_then(Value::as_array).into_iter().flatten() {
            if input.get("type").and_then(Value::as_str) == Some("datasource")
                && let (Some(name), Some(plugin)) =
                    (input.get("name").and_then(Value::as_str), input.get("pluginId").and_then(Value::as_str))
            {
                datasource_vars.insert(name.to_owned(), plugin.to_owned());
            }
        }
        let vars = obj.get("templating").and_then(|t| t.get("list")).and_then(Value::as_array);
        for var in vars.into_iter().flatten() {
            if var.get("type").and_then(Value::as_str) == Some("datasource")
                && let (Some(name), Some(plugin)) =
                    (var.get("name").and_then(Value::as_str), var.get("query").and_then(Value::as_str))
            {
                datasource_vars.insert(name.to_owned(), plugin.to_owned());
            }
        }
        Importer { datasource_vars, skipped: Vec::new(), grafana_ids: HashSet::new(), assigned_ids: HashSet::new() }
    }

    fn uid(&mut self, uid: &str, title: &str) -> String {
        if model::is_uid(uid) {
            return uid.to_owned();
        }
        let mut slug = String::new();
        for c in title.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        slug.truncate(64);
        let slug = slug.trim_end_matches('-');
        let derived = if model::is_uid(slug) { slug.to_owned() } else { "imported-dashboard".to_owned() };
        if !uid.is_empty() {
            self.skipped.push(format!("uid {uid:?} is not a valid Lookout uid; using {derived:?}"));
        }
        derived
    }

    fn time(&mut self, time: Option<&Value>) -> TimeRange {
        let default = TimeRange::default();
        let Some(time) = time.filter(|t| !t.is_null()) else {
            return default;
        };
        let from = time.get("from").and_then(Value::as_str).unwrap_or_default();
        let to = time.get("to").and_then(Value::as_str).unwrap_or_default();
        if model::is_time(from) && model::is_time(to) {
            return TimeRange { from: from.to_owned(), to: to.to_owned() };
        }
        self.skipped.push(format!("time range {from:?} to {to:?} not understood; using now-1h to now"));
        default
    }

    fn refresh(&mut self, refresh: Option<&Value>) -> String {
        match refresh {
            Some(Value::String(s)) if s.is_empty() || model::is_duration(s) => s.clone(),
            Some(Value::String(s)) => {
                self.skipped.push(format!("refresh {s:?} not understood; auto-refresh is off"));
                String::new()
            }
            _ => String::new(),
        }
    }

    /// Sorts panels by position, starts a row at each `row` panel and converts the others.
    fn rows(&mut self, panels: &[Value]) -> Vec<Row> {
        let panels = by_position(panels);
        for p in &panels {
            self.reserve_id(p);
            for child in p.get("panels").and_then(Value::as_array).into_iter().flatten() {
                if let Some(child) = child.as_object() {
                    self.reserve_id(child);
                }
            }
        }
        let mut rows = Vec::new();
        let mut current: Option<Row> = None;
        for p in panels {
            if str_of(p, "type") == "row" {
                rows.extend(current.take());
                let mut row = Row {
                    title: str_of(p, "title").to_owned(),
                    collapsed: p.get("collapsed").and_then(Value::as_bool).unwrap_or(false),
                    panels: Vec::new(),
                };
                // A collapsed row carries its panels; an expanded one is followed by them.
                let children = p.get("panels").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                for child in by_position(children) {
                    row.panels.extend(self.panel(child));
                }
                current = Some(row);
            } else {
                let panel = self.panel(p);
                let row =
                    current.get_or_insert_with(|| Row { title: String::new(), collapsed: false, panels: Vec::new() });
                row.panels.extend(panel);
            }
        }
        rows.extend(current);
        rows
    }

    fn reserve_id(&mut self, p: &Map<String, Value>) {
        if let Some(id) = p.get("id").and_then(Value::as_u64) {
            self.grafana_ids.insert(id);
        }
    }

    /// The panel's id if no earlier panel took it, else the lowest id no Grafana panel has.
    fn assign_id(&mut self, p: &Map<String, Value>) -> u64 {
        if let Some(id) = p.get("id").and_then(Value::as_u64)
            && self.assigned_ids.insert(id)
        {
            return id;
        }
        let mut id = 1;
        while self.grafana_ids.contains(&id) || self.assigned_ids.contains(&id) {
            id += 1;
        }
        self.assigned_ids.insert(id);
        id
    }

    fn panel(&mut self, p: &Map<String, Value>) -> Option<Panel> {
        let name = panel_name(p);
        let grafana_type = str_of(p, "type");
        let mapped = match grafana_type {
            "timeseries" | "graph" => Some("timeseries"),
            "stat" | "singlestat" => Some("stat"),
            "gauge" => Some("gauge"),
            "bargauge" | "barchart" => Some("bar"),
            "table" | "table-old" => Some("table"),
            "logs" => Some("logs"),
            "traces" => Some("traces"),
            "heatmap" => Some("heatmap"),
            _ => None,
        };
        let Some(mapped) = mapped else {
            if grafana_type.is_empty() && p.contains_key("libraryPanel") {
                self.skipped.push(format!("{name}: library panels are not supported; panel skipped"));
            } else {
                self.skipped.push(format!("{name} ({grafana_type}): panel type not supported; panel skipped"));
            }
            return None;
        };
        let panel_datasource = self.datasource(p.get("datasource"));
        let mut queries = Vec::new();
        for (i, target) in p.get("targets").and_then(Value::as_array).into_iter().flatten().enumerate() {
            if let Some(target) = target.as_object() {
                queries.extend(self.target(&name, mapped, &panel_datasource, i, target));
            }
        }
        if queries.is_empty() {
            self.skipped.push(format!("{name}: no query left; panel skipped"));
            return None;
        }
        let kind = if queries.iter().all(|q| q.lang == "traceql") { "traces" } else { mapped };
        let id = self.assign_id(p);
        let grid = p.get("gridPos");
        let size = |key: &str, default: u64, max: u64| {
            grid.and_then(|g| g.get(key)).and_then(Value::as_u64).unwrap_or(default).clamp(1, max) as u32
        };
        let defaults = p.get("fieldConfig").and_then(|f| f.get("defaults"));
        let legacy_unit = match grafana_type {
            "graph" => p.get("yaxes").and_then(|y| y.get(0)).and_then(|y| y.get("format")),
            "singlestat" => p.get("format"),
            _ => None,
        };
        let unit = defaults.and_then(|d| d.get("unit")).or(legacy_unit).and_then(Value::as_str).unwrap_or_default();
        self.ignored(&name, p.get("transformations"), "transformations");
        self.ignored(&name, p.get("fieldConfig").and_then(|f| f.get("overrides")), "field overrides");
        self.ignored(&name, p.get("links"), "links");
        self.ignored(&name, p.get("alert"), "alert");
        if let Some(by) = p.get("repeat").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            self.skipped.push(format!("{name}: repeat by ${by} ignored"));
        }
        Some(Panel {
            id,
            title: str_of(p, "title").to_owned(),
            description: str_of(p, "description").to_owned(),
            kind: kind.to_owned(),
            width: size("w", 12, 24),
            height: size("h", 8, 64),
            unit: unit.to_owned(),
            queries,
            options: self.options(&name, defaults),
        })
    }

    /// Notes a setting with no counterpart, when it holds anything.
    fn ignored(&mut self, name: &str, value: Option<&Value>, what: &str) {
        let present = match value {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(_) => true,
        };
        if present {
            self.skipped.push(format!("{name}: {what} ignored"));
        }
    }

    /// `min`, `max`, `decimals` and the threshold steps of `fieldConfig.defaults`.
    fn options(&mut self, name: &str, defaults: Option<&Value>) -> Map<String, Value> {
        let mut options = Map::new();
        let Some(defaults) = defaults else {
            return options;
        };
        for key in ["min", "max", "decimals"] {
            if let Some(v) = defaults.get(key).filter(|v| v.is_number()) {
                options.insert(key.to_owned(), v.clone());
            }
        }
        let thresholds = defaults.get("thresholds");
        if let Some(steps) = thresholds.and_then(|t| t.get("steps")).and_then(Value::as_array) {
            let steps: Vec<Value> = steps
                .iter()
                .map(|s| {
                    let value = s.get("value").filter(|v| v.is_number()).cloned().unwrap_or(Value::Null);
                    json!({ "value": value, "color": s.get("color").and_then(Value::as_str).unwrap_or_default() })
                })
                .collect();
            if !steps.is_empty() {
                options.insert("thresholds".to_owned(), Value::Array(steps));
            }
            if thresholds.and_then(|t| t.get("mode")).and_then(Value::as_str) == Some("percentage") {
                self.skipped.push(format!("{name}: percentage thresholds imported as absolute values"));
            }
        }
        options
    }

    fn target(
        &mut self,
        name: &str,
        panel_type: &str,
        panel_datasource: &Datasource,
        index: usize,
        t: &Map<String, Value>,
    ) -> Option<Query> {
        if t.get("hide").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let ref_id = t.get("refId").and_then(Value::as_str).map_or_else(|| format!("#{}", index + 1), str::to_owned);
        let expr = str_of(t, "expr");
        let query = str_of(t, "query");
        let datasource = match self.datasource(t.get("datasource")) {
            Datasource::Unknown => panel_datasource.clone(),
            known => known,
        };
        let lang = match datasource {
            Datasource::Lang(lang) => lang,
            Datasource::Other(plugin) => {
                self.skipped.push(format!("{name} query {ref_id}: datasource type {plugin:?} not supported"));
                return None;
            }
            Datasource::Unknown if !expr.is_empty() => {
                if panel_type == "logs" {
                    "logql"
                } else {
                    "promql"
                }
            }
            Datasource::Unknown if !query.is_empty() => "traceql",
            Datasource::Unknown => "",
        };
        let text = if lang == "traceql" { query } else { expr };
        if text.trim().is_empty() {
            self.skipped.push(format!("{name} query {ref_id}: no query expression"));
            return None;
        }
        let legend = str_of(t, "legendFormat");
        Some(Query {
            lang: lang.to_owned(),
            expr: text.to_owned(),
            legend: if legend == "__auto" { String::new() } else { legend.to_owned() },
        })
    }

    /// Resolves a `datasource` field: `{type, uid}`, a name, or a variable.
    fn datasource(&self, value: Option<&Value>) -> Datasource {
        match value {
            Some(Value::String(s)) => self.datasource_by_name(s),
            Some(Value::Object(o)) => {
                let uid = o.get("uid").and_then(Value::as_str).unwrap_or_default();
                match o.get("type").and_then(Value::as_str).unwrap_or_default() {
                    "" => self.datasource_by_name(uid),
                    "datasource" if uid == "-- Mixed --" => Datasource::Unknown,
                    "datasource" => Datasource::Other(if uid.is_empty() { "datasource".into() } else { uid.into() }),
                    plugin if is_variable(plugin) => self.datasource_by_name(plugin),
                    plugin => by_plugin(plugin),
                }
            }
            _ => Datasource::Unknown,
        }
    }

    fn datasource_by_name(&self, name: &str) -> Datasource {
        if is_variable(name) {
            return self.datasource_vars.get(variable_name(name)).map_or(Datasource::Unknown, |p| by_plugin(p));
        }
        match name {
            "-- Grafana --" | "grafana" => Datasource::Other("grafana".into()),
            "-- Dashboard --" => Datasource::Other("dashboard".into()),
            // Any other name is a datasource named by its owner; the target tells what it speaks.
            _ => match by_plugin(&name.to_ascii_lowercase()) {
                Datasource::Lang(lang) => Datasource::Lang(lang),
                _ => Datasource::Unknown,
            },
        }
    }

    fn variables(&mut self, list: Option<&Value>) -> Vec<Variable> {
        let mut variables: Vec<Variable> = Vec::new();
        for v in list.and_then(Value::as_array).into_iter().flatten() {
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
            let raw_query = match v.get("query") {
                Some(Value::String(s)) => s.trim(),
                Some(Value::Object(o)) => o.get("query").and_then(Value::as_str).unwrap_or_default().trim(),
                _ => "",
            };
            // Newer Grafana keeps the query text of a structured query object in `definition`.
            let raw_query = if raw_query.is_empty() { str_of_value(v, "definition").trim() } else { raw_query };
            let mut variable = Variable {
                name: name.to_owned(),
                label: v.get("label").and_then(Value::as_str).unwrap_or_default().to_owned(),
                kind: "custom".to_owned(),
                query: String::new(),
                options: Vec::new(),
                multi: v.get("multi").and_then(Value::as_bool).unwrap_or(false),
                include_all: v.get("includeAll").and_then(Value::as_bool).unwrap_or(false),
                current: current_value(v.get("current")),
            };
            match kind {
                "datasource" => continue,
                "query" => {
                    let foreign = match self.datasource(v.get("datasource")) {
                        Datasource::Lang("logql") => Some("loki".to_owned()),
                        Datasource::Lang("traceql") => Some("tempo".to_owned()),
                        Datasource::Other(plugin) => Some(plugin),
                        _ => None,
                    };
                    if let Some(plugin) = foreign {
                        self.skipped.push(format!("variable {name:?}: query variables on {plugin} are not supported"));
                        continue;
                    }
                    if !model::is_label_values(raw_query) {
                        self.skipped.push(format!(
                            "variable {name:?}: query {raw_query:?} not supported; only label_values(...) is"
                        ));
                        continue;
                    }
                    variable.kind = "query".to_owned();
                    variable.query = raw_query.to_owned();
                }
                "custom" | "interval" => {
                    variable.options =
                        raw_query.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
                }
                "constant" => {
                    variable.options = vec![raw_query.to_owned()];
                    variable.current = Value::String(raw_query.to_owned());
                }
                _ => {
                    self.skipped.push(format!("variable {name:?} ({kind}): variable type not supported"));
                    continue;
                }
            }
            if variable.kind == "custom" && variable.options.is_empty() {
                self.skipped.push(format!("variable {name:?} ({kind}): no values; variable skipped"));
                continue;
            }
            let valid_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_name || variables.iter().any(|other| other.name == name) {
                self.skipped.push(format!("variable {name:?}: invalid or duplicate name; variable skipped"));
                continue;
            }
            variables.push(variable);
        }
        variables
    }
}

/// The panels that are objects, by `gridPos.y`, then `gridPos.x`.
fn by_position(panels: &[Value]) -> Vec<&Map<String, Value>> {
    let mut panels: Vec<&Map<String, Value>> = panels.iter().filter_map(Value::as_object).collect();
    let pos = |p: &Map<String, Value>, key: &str| {
        p.get("gridPos").and_then(|g| g.get(key)).and_then(Value::as_u64).unwrap_or(0)
    };
    panels.sort_by_key(|p| (pos(p, "y"), pos(p, "x")));
    panels
}

fn by_plugin(plugin: &str) -> Datasource {
    match plugin {
        "prometheus" => Datasource::Lang("promql"),
        "loki" => Datasource::Lang("logql"),
        "tempo" => Datasource::Lang("traceql"),
        other => Datasource::Other(other.to_owned()),
    }
}

fn is_variable(s: &str) -> bool {
    s.starts_with('$') || s.starts_with("[[")
}

/// `DS_PROMETHEUS` from `${DS_PROMETHEUS}`, `${ds:raw}`, `$ds` or `[[ds]]`.
fn variable_name(s: &str) -> &str {
    if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        return inner.split(':').next().unwrap_or(inner);
    }
    if let Some(inner) = s.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
        return inner.split(':').next().unwrap_or(inner);
    }
    s.trim_start_matches('$')
}

/// `current.value` of a Grafana variable: a string or an array of strings, else null.
fn current_value(current: Option<&Value>) -> Value {
    match current.and_then(|c| c.get("value")) {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Array(values)) if values.iter().all(Value::is_string) => Value::Array(values.clone()),
        _ => Value::Null,
    }
}

fn panel_name(p: &Map<String, Value>) -> String {
    match (str_of(p, "title"), p.get("id").and_then(Value::as_u64)) {
        ("", Some(id)) => format!("panel #{id}"),
        ("", None) => "untitled panel".to_owned(),
        (title, _) => format!("panel {title:?}"),
    }
}

fn str_of<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn str_of_value<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn as_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}
