//! LogQL's templates: the shared Go template engine run over an entry's labels with Loki's
//! function set (`__line__`, `__timestamp__`, sprig...).

use crate::gotemplate::{self, Value};

use super::template_funcs::LokiFuncs;

#[cfg(test)]
pub use crate::gotemplate::MAX_TEMPLATE_OUTPUT;

/// A compiled `line_format` / `label_format` template.
#[derive(Debug, Clone)]
pub struct Template {
    inner: gotemplate::Template,
}

/// Inputs of one execution.
#[derive(Debug, Clone, Copy)]
pub struct ExecInput<'a> {
    /// Labels sorted by name (the template data, a `map[string]string`).
    pub labels: &'a [(String, String)],
    /// Current line, for `__line__`.
    pub line: &'a str,
    /// Entry timestamp in nanoseconds, for `__timestamp__`.
    pub ts: i64,
}

impl Template {
    /// Parses `text`; `name` is `line` for `line_format` and `label` for `label_format`.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let funcs = LokiFuncs { line: "", ts: 0 };
        Ok(Self { inner: gotemplate::Template::parse(name, text, &funcs)? })
    }

    /// When the template is exactly `{{.name}}`, returns `name` (Loki's fast path).
    pub fn simple_field(&self) -> Option<&str> {
        self.inner.simple_field()
    }

    /// Executes the template; the error is Go's `template: ...: executing ...` message.
    pub fn execute(&mut self, input: ExecInput<'_>) -> Result<String, String> {
        let funcs = LokiFuncs { line: input.line, ts: input.ts };
        self.inner.execute(&Value::Labels, input.labels, &funcs)
    }
}
