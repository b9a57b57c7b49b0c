//! `| line_format` and `| label_format` stages.

use super::error::StageError;
use super::labels::{ERR_TEMPLATE_FORMAT, ERROR_LABEL, LabelsBuilder};
use super::template::{ExecInput, Template};
use super::text::go_lossy;

/// The `| line_format "<template>"` stage.
#[derive(Debug, Clone)]
pub struct LineFormat {
    template: Template,
    simple_key: Option<String>,
    snapshot: Vec<(String, String)>,
}

impl LineFormat {
    /// Parses the template (Loki's error: `invalid line template: template: line:1: ...`).
    pub fn new(template: &str) -> Result<Self, StageError> {
        let template =
            Template::parse("line", template).map_err(|e| StageError::new(format!("invalid line template: {e}")))?;
        let simple_key = template.simple_field().map(str::to_owned);
        Ok(Self { template, simple_key, snapshot: Vec::new() })
    }

    /// Renders the new line; on error sets `__error__="TemplateFormatErr"` and returns the line unchanged.
    pub fn process(&mut self, line: &[u8], timestamp_ns: i64, lbs: &mut LabelsBuilder) -> String {
        if let Some(key) = &self.simple_key {
            return lbs.get(key).unwrap_or("").to_owned();
        }
        lbs.labels_into(&mut self.snapshot);
        let line_str = go_lossy(line);
        let input = ExecInput { labels: &self.snapshot, line: &line_str, ts: timestamp_ns };
        match self.template.execute(input) {
            Ok(out) => out,
            Err(e) => {
                lbs.set_err(ERR_TEMPLATE_FORMAT);
                lbs.set_err_details(&e);
                line_str.into_owned()
            }
        }
    }
}

/// Right-hand side of one `label_format` assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelSource {
    /// `dst=src`: rename a label.
    Rename(String),
    /// `dst="{{ template }}"`: render a template.
    Template(String),
}

#[derive(Debug, Clone)]
enum Compiled {
    Rename(String),
    Template(Box<Template>),
}

/// The `| label_format dst=src, dst2="tmpl"` stage.
#[derive(Debug, Clone)]
pub struct LabelFormat {
    formats: Vec<(String, Compiled)>,
    snapshot: Vec<(String, String)>,
}

impl LabelFormat {
    /// Validates (each destination once, never `__error__`) and compiles the templates.
    pub fn new(formats: Vec<(String, LabelSource)>) -> Result<Self, StageError> {
        let mut compiled: Vec<(String, Compiled)> = Vec::with_capacity(formats.len());
        for (dst, _) in &formats {
            if dst == ERROR_LABEL {
                return Err(StageError::new(format!("{dst} cannot be formatted")));
            }
        }
        for (i, (dst, _)) in formats.iter().enumerate() {
            if formats[..i].iter().any(|(d, _)| d == dst) {
                return Err(StageError::new(format!(
                    "multiple label name '{dst}' not allowed in a single format operation"
                )));
            }
        }
        for (dst, src) in formats {
            let c = match src {
                LabelSource::Rename(s) => Compiled::Rename(s),
                LabelSource::Template(t) => Compiled::Template(Box::new(
                    Template::parse("label", &t)
                        .map_err(|e| StageError::new(format!("invalid template for label '{dst}': {e}")))?,
                )),
            };
            compiled.push((dst, c));
        }
        Ok(Self { formats: compiled, snapshot: Vec::new() })
    }

    /// Applies the assignments in order; template errors set `__error__="TemplateFormatErr"`.
    pub fn process(&mut self, line: &[u8], timestamp_ns: i64, lbs: &mut LabelsBuilder) {
        self.snapshot.clear();
        let line_str = go_lossy(line);
        for (dst, fmt) in &mut self.formats {
            match fmt {
                Compiled::Rename(src) => {
                    lbs.rename(src, dst);
                }
                Compiled::Template(t) => {
                    if self.snapshot.is_empty() {
                        lbs.labels_into(&mut self.snapshot);
                    }
                    let input = ExecInput { labels: &self.snapshot, line: &line_str, ts: timestamp_ns };
                    match t.execute(input) {
                        Ok(v) => lbs.set_parsed(dst, &v),
                        Err(e) => {
                            lbs.set_err(ERR_TEMPLATE_FORMAT);
                            lbs.set_err_details(&e);
                        }
                    }
                }
            }
        }
    }
}
