//! Execution of parsed Go templates against a data value, with Go's evaluation rules and error
//! messages, bounded in steps and output size.

use std::collections::HashMap;

use regex::Regex;

use super::funcs::{CallCtx, FuncSet, FuncSpec, MAX_STRING_BYTES};
use super::gofmt::{write_printable, write_value};
use super::gotime::GoTime;
use super::parse::{Arg, Branch, ControlKind, Node, Pipe, Tree, parse_template};
use super::value::{ParamType, Value};
use super::values::{duration_seconds, go_duration_string};

/// Maximum output of one template execution.
pub const MAX_TEMPLATE_OUTPUT: usize = 4 << 20;
/// Maximum number of evaluation steps of one template execution.
pub const MAX_TEMPLATE_STEPS: usize = 1_000_000;
/// Maximum bytes all function results of one execution may add up to.
const MAX_PRODUCED_BYTES: usize = 64 << 20;

/// A compiled Go text/template (`missingkey=zero`: a missing key of a `map[string]string` is "").
#[derive(Debug, Clone)]
pub struct Template {
    tree: Tree,
    regexes: HashMap<String, Regex>,
}

impl Template {
    /// Parses `text` as Go's `template.New(name).Funcs(funcs).Parse(text)`; the error is Go's
    /// (`template: <name>:<line>: ...`).
    pub fn parse(name: &str, text: &str, funcs: &dyn FuncSet) -> Result<Self, String> {
        let tree = parse_template(name, text, &|f| funcs.lookup(f).is_some())?;
        Ok(Self { tree, regexes: HashMap::new() })
    }

    /// When the template is exactly `{{.name}}`, returns `name` (Loki's fast path).
    pub fn simple_field(&self) -> Option<&str> {
        match self.tree.root.as_slice() {
            [Node::Action(p)] if p.decl.is_empty() && p.cmds.len() == 1 && p.cmds[0].args.len() == 1 => {
                match &p.cmds[0].args[0] {
                    Arg::Field { idents, .. } if idents.len() == 1 => Some(&idents[0]),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Executes the template with `data` as `.` and `$`; `labels` is the map [`Value::Labels`]
    /// stands for (sorted by name). The error is Go's `template: ...: executing ...` message.
    pub fn execute(
        &mut self,
        data: &Value,
        labels: &[(String, String)],
        funcs: &dyn FuncSet,
    ) -> Result<String, String> {
        let mut st = State {
            tree: &self.tree,
            labels,
            funcs,
            regexes: &mut self.regexes,
            vars: vec![("$".to_owned(), data.clone())],
            at: None,
            out: String::new(),
            steps: 0,
            produced: 0,
        };
        st.walk(data, &self.tree.root)?;
        Ok(st.out)
    }
}

#[derive(Clone, Copy)]
enum At<'t> {
    Arg(&'t Arg),
    Pipe(&'t Pipe),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'t, 'c> {
    tree: &'t Tree,
    labels: &'c [(String, String)],
    funcs: &'c dyn FuncSet,
    regexes: &'c mut HashMap<String, Regex>,
    vars: Vec<(String, Value)>,
    at: Option<At<'t>>,
    out: String,
    steps: usize,
    produced: usize,
}

type EResult<T> = Result<T, String>;

impl<'t> State<'t, '_> {
    fn errorf<T>(&self, msg: impl AsRef<str>) -> EResult<T> {
        let name = &self.tree.name;
        let Some(at) = self.at else {
            return Err(format!("template: {name}: {}", msg.as_ref()));
        };
        let (pos, mut context) = match at {
            At::Arg(a) => (a.pos(), a.context()),
            At::Pipe(p) => (p.pos, p.render()),
        };
        let before = &self.tree.text[..pos.min(self.tree.text.len())];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - nl - 1,
            None => pos,
        };
        if context.len() > 20 {
            context = format!("{}...", context.chars().take(20).collect::<String>());
        }
        Err(format!("template: {name}:{line}:{col}: executing \"{name}\" at <{context}>: {}", msg.as_ref()))
    }

    fn step(&mut self) -> EResult<()> {
        self.steps += 1;
        if self.steps > MAX_TEMPLATE_STEPS {
            return self.errorf("template execution exceeded the step limit");
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> EResult<()> {
        if self.out.len() + s.len() > MAX_TEMPLATE_OUTPUT {
            return self.errorf(format!("template output exceeds {MAX_TEMPLATE_OUTPUT} bytes"));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &Value, nodes: &'t [Node]) -> EResult<Flow> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(t) => self.write(t)?,
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let mut s = String::new();
                        write_printable(&mut s, &v, self.labels);
                        self.write(&s)?;
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Control(Branch { kind: ControlKind::Range, pipe, list, else_list }) => {
                    self.walk_range(dot, pipe, list, else_list.as_deref())?;
                }
                Node::Control(Branch { kind, pipe, list, else_list }) => {
                    let mark = self.vars.len();
                    let v = self.eval_pipeline(dot, pipe)?;
                    let flow = if v.truth(self.labels.len()) {
                        let inner = if *kind == ControlKind::With { &v } else { dot };
                        self.walk(inner, list)?
                    } else if let Some(e) = else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_range(
        &mut self,
        dot: &Value,
        pipe: &'t Pipe,
        list: &'t [Node],
        else_list: Option<&'t [Node]>,
    ) -> EResult<()> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, pipe)?;
        let mark2 = self.vars.len();
        let labels = self.labels;
        let mut ran = false;
        match &val {
            Value::List(l) | Value::Slice(_, l) => {
                for (i, e) in l.iter().enumerate() {
                    ran = true;
                    if self.range_body(pipe, list, mark2, Value::Int(i as i64), e.clone())? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, v) in m {
                    ran = true;
                    if self.range_body(pipe, list, mark2, Value::Str(k.clone()), v.clone())? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Labels | Value::StrMap(_) => {
                for (k, v) in val.str_map(labels).unwrap_or_default() {
                    ran = true;
                    let (key, value) = (Value::Str(k.clone()), Value::Str(v.clone()));
                    if self.range_body(pipe, list, mark2, key, value)? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Int(_) | Value::Int64(_) if pipe.decl.len() > 1 => {
                let mut s = String::new();
                write_value(&mut s, &val, labels, "<nil>");
                return self.errorf(format!("can't use {s} to iterate over more than one variable"));
            }
            Value::Int(n) | Value::Int64(n) => {
                let is_int = matches!(val, Value::Int(_));
                for i in 0..*n {
                    ran = true;
                    let v = if is_int { Value::Int(i) } else { Value::Int64(i) };
                    if self.range_body(pipe, list, mark2, v.clone(), v)? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                let mut s = String::new();
                write_value(&mut s, other, labels, "<nil>");
                return self.errorf(format!("range can't iterate over {s}"));
            }
        }
        if !ran && let Some(e) = else_list {
            self.walk(dot, e)?;
        }
        self.vars.truncate(mark);
        Ok(())
    }

    /// One `range` iteration: binds the declared variables, runs the body, pops body variables.
    fn range_body(
        &mut self,
        pipe: &'t Pipe,
        list: &'t [Node],
        mark2: usize,
        index: Value,
        elem: Value,
    ) -> EResult<Flow> {
        self.step()?;
        let nd = pipe.decl.len();
        if nd > 0 {
            if pipe.is_assign {
                let v = if nd > 1 { index.clone() } else { elem.clone() };
                self.set_var(&pipe.decl[0], v)?;
            } else if let Some(slot) = mark2.checked_sub(1).and_then(|i| self.vars.get_mut(i)) {
                slot.1 = elem.clone();
            }
        }
        if nd > 1 {
            if pipe.is_assign {
                self.set_var(&pipe.decl[1], elem.clone())?;
            } else if let Some(slot) = mark2.checked_sub(2).and_then(|i| self.vars.get_mut(i)) {
                slot.1 = index;
            }
        }
        let flow = self.walk(&elem, list)?;
        self.vars.truncate(mark2);
        Ok(flow)
    }

    fn set_var(&mut self, name: &str, v: Value) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> EResult<Value> {
        self.at = Some(At::Pipe(pipe));
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, &cmd.args, value)?);
        }
        let v = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, v.clone())?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn not_a_function(&self, args: &'t [Arg], final_: &Option<Value>) -> EResult<()> {
        if args.len() > 1 || final_.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0].render()));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, args: &'t [Arg], final_: Option<Value>) -> EResult<Value> {
        let first = &args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at = Some(At::Arg(first));
                self.eval_field_chain(dot.clone(), idents, args, final_)
            }
            Arg::Chain { node, fields, .. } => self.eval_chain(dot, first, node, fields, args, final_),
            Arg::Ident { name, .. } => self.eval_function(dot, first, name, &args[1..], final_),
            Arg::Pipe { pipe, .. } => {
                self.not_a_function(args, &final_)?;
                self.eval_pipeline(dot, pipe)
            }
            Arg::Variable { idents, .. } => self.eval_variable(first, idents, args, final_),
            _ => {
                self.at = Some(At::Arg(first));
                self.not_a_function(args, &final_)?;
                self.literal(dot, first)
            }
        }
    }

    fn literal(&self, dot: &Value, a: &Arg) -> EResult<Value> {
        match a {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.errorf("nil is not a command"),
            Arg::Str { value, .. } => Ok(Value::Str(value.clone())),
            Arg::Number { num, .. } => match (num.is_float_literal, num.int, num.float) {
                (true, _, Some(f)) => Ok(Value::Float(f)),
                (_, Some(i), _) => Ok(Value::Int(i)),
                (_, None, Some(f)) => Ok(Value::Float(f)),
                _ => self.errorf(format!("{} overflows int", num.text)),
            },
            _ => self.errorf(format!("can't handle {}", a.render())),
        }
    }

    fn eval_variable(
        &mut self,
        node: &'t Arg,
        idents: &[String],
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        self.at = Some(At::Arg(node));
        let Some((_, value)) = self.vars.iter().rev().find(|(n, _)| *n == idents[0]) else {
            return self.errorf(format!("undefined variable: {}", idents[0]));
        };
        let value = value.clone();
        if idents.len() == 1 {
            self.not_a_function(args, &final_)?;
            return Ok(value);
        }
        self.eval_field_chain(value, &idents[1..], args, final_)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'t Arg,
        node: &'t Arg,
        fields: &[String],
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        self.at = Some(At::Arg(chain));
        if matches!(node, Arg::Nil { .. }) {
            return self.errorf(format!("indirection through explicit nil in {}", chain.render()));
        }
        let receiver = self.eval_arg(dot, ParamType::Any, node)?;
        self.eval_field_chain(receiver, fields, args, final_)
    }

    fn eval_field_chain(
        &mut self,
        mut receiver: Value,
        idents: &[String],
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        let Some((last, init)) = idents.split_last() else { return Ok(receiver) };
        for ident in init {
            receiver = self.eval_field(ident, &[], None, receiver)?;
        }
        self.eval_field(last, args, final_, receiver)
    }

    fn eval_field(&mut self, name: &str, args: &'t [Arg], final_: Option<Value>, receiver: Value) -> EResult<Value> {
        let has_args = args.len() > 1 || final_.is_some();
        match receiver {
            Value::Nil => Ok(Value::Nil),
            Value::Labels | Value::StrMap(_) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                let labels = receiver.str_map(self.labels).unwrap_or_default();
                Ok(Value::Str(
                    labels
                        .binary_search_by(|(n, _)| n.as_str().cmp(name))
                        .map(|i| labels[i].1.clone())
                        .unwrap_or_default(),
                ))
            }
            Value::Struct(s) => match s.field(name) {
                Some(_) if has_args => self.errorf(format!("{name} has arguments but cannot be invoked as function")),
                Some(v) => Ok(v.clone()),
                None => self.errorf(format!("can't evaluate field {name} in type {}", s.go_type)),
            },
            Value::Duration(d) => self.duration_method(d, name, args, final_),
            Value::Map(m) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                Ok(m.get(name).cloned().unwrap_or(Value::Nil))
            }
            Value::Time(t) => self.time_method(&t, name, args, final_),
            other => self.errorf(format!("can't evaluate field {name} in type {}", other.type_name())),
        }
    }

    fn time_method(&mut self, t: &GoTime, name: &str, args: &'t [Arg], final_: Option<Value>) -> EResult<Value> {
        let nargs = args.len().saturating_sub(1) + usize::from(final_.is_some());
        let want = usize::from(name == "Format");
        let known = matches!(
            name,
            "Unix"
                | "UnixMilli"
                | "UnixMicro"
                | "UnixNano"
                | "Year"
                | "Day"
                | "Hour"
                | "Minute"
                | "Second"
                | "Nanosecond"
                | "YearDay"
                | "Month"
                | "Weekday"
                | "UTC"
                | "Local"
                | "String"
                | "Format"
        );
        if !known {
            return self.errorf(format!("can't evaluate field {name} in type time.Time"));
        }
        if nargs != want {
            return self.errorf(format!("wrong number of args for {name}: want {want} got {nargs}"));
        }
        let secs_of_day = (t.unix + i64::from(t.offset)).rem_euclid(86_400);
        Ok(match name {
            "Unix" => Value::Int64(t.unix_secs()),
            "UnixMilli" => Value::Int64(t.unix_milli()),
            "UnixMicro" => Value::Int64(t.unix_micro()),
            "UnixNano" => Value::Int64(t.unix_nano()),
            "Year" => Value::Int(t.year()),
            "Day" => Value::Int(t.day()),
            "Hour" => Value::Int(secs_of_day / 3600),
            "Minute" => Value::Int(secs_of_day % 3600 / 60),
            "Second" => Value::Int(secs_of_day % 60),
            "Nanosecond" => Value::Int(i64::from(t.nsec)),
            "YearDay" => Value::Int(t.format("002").parse().unwrap_or(0)),
            "Month" => Value::Str(t.format("January")),
            "Weekday" => Value::Str(t.format("Monday")),
            "UTC" | "Local" => Value::Time(t.utc()),
            "String" => Value::Str(t.go_string()),
            _ => {
                let layout = match (args.get(1), final_) {
                    (Some(a), _) => self.eval_arg(&Value::Nil, ParamType::Str, a)?,
                    (None, Some(f)) => self.validate(f, ParamType::Str)?,
                    _ => Value::Str(String::new()),
                };
                Value::Str(t.format(layout.as_str().unwrap_or("")))
            }
        })
    }

    /// `*time.Duration`'s methods without arguments.
    fn duration_method(&mut self, d: i64, name: &str, args: &'t [Arg], final_: Option<Value>) -> EResult<Value> {
        let result = match name {
            "String" => Value::Str(go_duration_string(d)),
            "Hours" => Value::Float(duration_seconds(d) / 3600.0),
            "Minutes" => Value::Float(duration_seconds(d) / 60.0),
            "Seconds" => Value::Float(duration_seconds(d)),
            "Milliseconds" => Value::Int64(d / 1_000_000),
            "Microseconds" => Value::Int64(d / 1_000),
            "Nanoseconds" => Value::Int64(d),
            "Abs" => Value::Duration(if d == i64::MIN { i64::MAX } else { d.abs() }),
            _ => return self.errorf(format!("can't evaluate field {name} in type *time.Duration")),
        };
        let nargs = args.len().saturating_sub(1) + usize::from(final_.is_some());
        if nargs != 0 {
            return self.errorf(format!("wrong number of args for {name}: want 0 got {nargs}"));
        }
        Ok(result)
    }

    fn validate(&self, v: Value, typ: ParamType) -> EResult<Value> {
        if typ.accepts(&v) {
            return Ok(v);
        }
        if matches!(v, Value::Nil) && typ.can_be_nil() {
            return Ok(v);
        }
        if matches!(v, Value::Nil) {
            return self.errorf(format!("invalid value; expected {}", typ.go_name()));
        }
        self.errorf(format!("wrong type for value; expected {}; got {}", typ.go_name(), v.type_name()))
    }

    fn eval_arg(&mut self, dot: &Value, typ: ParamType, a: &'t Arg) -> EResult<Value> {
        self.at = Some(At::Arg(a));
        let v = match a {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } if typ.can_be_nil() => return Ok(Value::Nil),
            Arg::Nil { .. } => return self.errorf(format!("cannot assign nil to {}", typ.go_name())),
            Arg::Field { idents, .. } => self.eval_field_chain(dot.clone(), idents, std::slice::from_ref(a), None)?,
            Arg::Variable { idents, .. } => self.eval_variable(a, idents, &[], None)?,
            Arg::Pipe { pipe, .. } => self.eval_pipeline(dot, pipe)?,
            Arg::Ident { name, .. } => self.eval_function(dot, a, name, &[], None)?,
            Arg::Chain { node, fields, .. } => self.eval_chain(dot, a, node, fields, &[], None)?,
            _ => return self.eval_literal_arg(dot, typ, a),
        };
        self.validate(v, typ)
    }

    fn eval_literal_arg(&self, dot: &Value, typ: ParamType, a: &Arg) -> EResult<Value> {
        match (typ, a) {
            (ParamType::Any, _) => self.literal(dot, a),
            (ParamType::Str, Arg::Str { value, .. }) => Ok(Value::Str(value.clone())),
            (ParamType::Str, _) => self.errorf(format!("expected string; found {}", a.render())),
            (ParamType::Int, Arg::Number { num, .. }) if num.int.is_some() => Ok(Value::Int(num.int.unwrap_or(0))),
            (ParamType::Int, _) => self.errorf(format!("expected integer; found {}", a.render())),
            (ParamType::Float, Arg::Number { num, .. }) if num.float.is_some() => {
                Ok(Value::Float(num.float.unwrap_or(0.0)))
            }
            (ParamType::Float, _) => self.errorf(format!("expected float; found {}", a.render())),
            (ParamType::Time | ParamType::Named(_), _) => {
                self.errorf(format!("can't handle {} for arg of type {}", a.render(), typ.go_name()))
            }
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &'t Arg,
        name: &str,
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        self.at = Some(At::Arg(node));
        self.step()?;
        let Some(spec) = self.funcs.lookup(name) else {
            return self.errorf(format!("{name:?} is not a defined function"));
        };
        let num_in = args.len() + usize::from(final_.is_some());
        let num_fixed = spec.params.len();
        if spec.variadic.is_some() {
            if num_in < num_fixed {
                return self
                    .errorf(format!("wrong number of args for {name}: want at least {num_fixed} got {}", args.len()));
            }
        } else if num_in != num_fixed {
            return self.errorf(format!("wrong number of args for {name}: want {num_fixed} got {num_in}"));
        }
        if name == "and" || name == "or" {
            return self.eval_and_or(dot, name == "or", args, final_);
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let t = param_type(&spec, i);
            argv.push(self.eval_arg(dot, t, a)?);
        }
        if let Some(f) = final_ {
            let t = param_type(&spec, num_in - 1);
            argv.push(self.validate(f, t)?);
        }
        let mut ctx = CallCtx { labels: self.labels, regexes: self.regexes };
        let res = self.funcs.call(name, &argv, &mut ctx);
        // Later errors point at the function (Go leaves them at its last argument: see the
        // `(query "missing").banana` case of the Prometheus tests).
        self.at = Some(At::Arg(node));
        match res {
            Ok(v) => {
                if let Value::Str(s) | Value::Html(s) = &v {
                    self.produced += s.len();
                    if s.len() > MAX_STRING_BYTES || self.produced > MAX_PRODUCED_BYTES {
                        return self.errorf(format!("error calling {name}: result exceeds the template output limit"));
                    }
                }
                Ok(v)
            }
            Err(e) => self.errorf(format!("error calling {name}: {e}")),
        }
    }

    fn eval_and_or(&mut self, dot: &Value, is_or: bool, args: &'t [Arg], final_: Option<Value>) -> EResult<Value> {
        let mut v = Value::Nil;
        for a in args {
            v = self.eval_arg(dot, ParamType::Any, a)?;
            if v.truth(self.labels.len()) == is_or {
                return Ok(v);
            }
        }
        if let Some(f) = final_ {
            v = f;
        }
        Ok(v)
    }
}

fn param_type(spec: &FuncSpec, i: usize) -> ParamType {
    spec.params.get(i).copied().or(spec.variadic).unwrap_or(ParamType::Any)
}
