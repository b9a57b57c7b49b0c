//! Go's `text/template` engine, shared by LogQL's `line_format`/`label_format` and Prometheus's
//! alert templates.
//!
//! # Layout
//! - `lex`, `parse`: Go's lexer and parser, with its parse-time checks and error messages.
//! - `exec`: [`Template`], executing a parsed tree against a data [`Value`] with Go's evaluation
//!   rules (`missingkey=zero`), bounded in steps and output size.
//! - `funcs`: the [`FuncSet`] trait a template is parsed and run with, and Go's builtins. Each
//!   language brings its own set: LogQL's (Loki and sprig functions) lives with its stages,
//!   Prometheus's in [`prometheus`].
//! - `value`: the dynamic values ([`Value`]) mirroring the Go types templates manipulate.
//! - Go compatibility helpers: `gofmt` (`fmt` verbs, `strconv.FormatFloat`), `gotime`
//!   (`time.Time` layouts), `values` (`strconv`/`time` parsing), `goregex` (RE2 syntax on the
//!   `regex` crate).
//! - [`prometheus`]: alert template expansion and checking as Prometheus's rule manager and
//!   `promtool check rules` do.

mod exec;
mod funcs;
pub(crate) mod gofmt;
pub(crate) mod goregex;
pub(crate) mod gotime;
mod lex;
mod parse;
pub mod prometheus;
mod value;
pub(crate) mod values;

pub use exec::{MAX_TEMPLATE_OUTPUT, MAX_TEMPLATE_STEPS, Template};
pub use funcs::{CallCtx, FuncSet, FuncSpec, MAX_STRING_BYTES};
pub(crate) use funcs::{builtin_spec, call_builtin, checked, go_case, query_escape};
pub use gotime::GoTime;
pub(crate) use value::from_json;
pub use value::{ParamType, Struct, Value};
