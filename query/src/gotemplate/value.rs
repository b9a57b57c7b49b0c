//! Dynamic values of the template engine, mirroring the Go types that LogQL's and Prometheus's
//! templates manipulate.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::gotime::GoTime;
use super::values::{go_parse_float, go_parse_int};

/// A template value (the Go type is noted for each variant).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A nil `interface{}` (prints `<no value>` at top level).
    Nil,
    /// `bool`
    Bool(bool),
    /// `int`
    Int(i64),
    /// `int64` (results of sprig integer math)
    Int64(i64),
    /// `float64`
    Float(f64),
    /// `string`
    Str(String),
    /// `time.Time`
    Time(GoTime),
    /// `[]interface {}` (from `fromJson`)
    List(Vec<Value>),
    /// `map[string]interface {}` (from `fromJson`)
    Map(BTreeMap<String, Value>),
    /// The `map[string]string` the execution was given (LogQL: the entry's labels), borrowed from the
    /// caller so that it is not copied per log line.
    Labels,
    /// Any other `map[string]string`, sorted by key (an alert's labels, a query sample's labels).
    StrMap(Arc<Vec<(String, String)>>),
    /// A Go struct, or a pointer to one when its type name starts with `*`.
    Struct(Arc<Struct>),
    /// A slice of a named Go type (its type name, then its elements), e.g. Prometheus's
    /// `template.queryResult`.
    Slice(&'static str, Vec<Value>),
    /// `*time.Duration` (nanoseconds), printed with `Duration.String()`.
    Duration(i64),
    /// `html/template.HTML`: a string of its own named type.
    Html(String),
}

/// The fields of a Go struct value, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// Go type name (`*template.sample`, `struct { Labels map[string]string; ... }`).
    pub go_type: &'static str,
    /// Field names and values.
    pub fields: Vec<(&'static str, Value)>,
}

impl Struct {
    /// Whether the value is a pointer to the struct (printed `&{...}`).
    pub fn is_pointer(&self) -> bool {
        self.go_type.starts_with('*')
    }

    /// The value of a field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Go parameter types of template functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `interface{}` / `reflect.Value`
    Any,
    /// `string`
    Str,
    /// `int`
    Int,
    /// `float64`
    Float,
    /// `time.Time`
    Time,
    /// A named pointer or slice type (`*template.sample`, `template.queryResult`): only values of
    /// that type, or nil (its zero value).
    Named(&'static str),
}

impl ParamType {
    /// Go spelling of the type (for error messages).
    pub fn go_name(self) -> &'static str {
        match self {
            ParamType::Any => "interface {}",
            ParamType::Str => "string",
            ParamType::Int => "int",
            ParamType::Float => "float64",
            ParamType::Time => "time.Time",
            ParamType::Named(name) => name,
        }
    }

    /// Go's `canBeNil`: whether `nil` converts to the parameter's zero value.
    pub fn can_be_nil(self) -> bool {
        matches!(self, ParamType::Any | ParamType::Named(_))
    }

    /// Tells whether a value of this dynamic type can be passed to the parameter.
    pub fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (ParamType::Any, _)
                | (ParamType::Str, Value::Str(_))
                | (ParamType::Int, Value::Int(_))
                | (ParamType::Float, Value::Float(_))
                | (ParamType::Time, Value::Time(_))
        ) || matches!(self, ParamType::Named(name) if v.type_name() == name)
    }
}

impl Value {
    /// Go type name (`fmt`'s `%T`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Time(_) => "time.Time",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Labels | Value::StrMap(_) => "map[string]string",
            Value::Struct(s) => s.go_type,
            Value::Slice(name, _) => name,
            Value::Duration(_) => "*time.Duration",
            Value::Html(_) => "template.HTML",
        }
    }

    /// Go template truthiness (`if`, `with`, `and`, `or`, `not`).
    pub fn truth(&self, labels_len: usize) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            // Structs are always true, and so are non-nil pointers.
            Value::Time(_) | Value::Struct(_) | Value::Duration(_) => true,
            Value::List(l) | Value::Slice(_, l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Labels => labels_len > 0,
            Value::StrMap(m) => !m.is_empty(),
        }
    }

    /// sprig's `empty` (used by `default`).
    pub fn is_empty_value(&self, labels_len: usize) -> bool {
        match self {
            Value::Time(_) => false,
            other => !other.truth(labels_len),
        }
    }

    /// The pairs of a `map[string]string` value (`labels` is what [`Value::Labels`] stands for).
    pub fn str_map<'a>(&'a self, labels: &'a [(String, String)]) -> Option<&'a [(String, String)]> {
        match self {
            Value::Labels => Some(labels),
            Value::StrMap(m) => Some(m),
            _ => None,
        }
    }

    /// Borrows the string of a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// spf13/cast `ToInt64` as used by sprig (unparsable strings give 0).
    pub fn cast_int64(&self) -> i64 {
        match self {
            Value::Int(i) | Value::Int64(i) => *i,
            Value::Float(f) => *f as i64,
            Value::Bool(b) => i64::from(*b),
            Value::Str(s) => go_parse_int(trim_zero_decimal(s), true).unwrap_or(0),
            _ => 0,
        }
    }

    /// spf13/cast `ToFloat64` as used by sprig (unparsable strings give 0).
    pub fn cast_float64(&self) -> f64 {
        match self {
            Value::Int(i) | Value::Int64(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => go_parse_float(s).unwrap_or(0.0),
            _ => 0.0,
        }
    }
}

/// spf13/cast's `trimZeroDecimal`: `"12.00"` -> `"12"`.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, c) in s.bytes().enumerate().rev() {
        match c {
            b'.' if found_zero => return &s[..i],
            b'.' => return s,
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Converts parsed JSON (sprig's `fromJson`) into template values.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}
