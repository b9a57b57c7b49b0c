//! Go `fmt`/`strconv` formatting used by templates: `%v` printing of values, `printf` verbs,
//! float formatting (`strconv.FormatFloat` 'g'/'e'/'f') and `strconv.Quote`.

use std::fmt::Write;

use super::value::Value;
use super::values::go_duration_string;

/// Largest width or precision accepted by `printf` (Go prints `%!(BADWIDTH)` beyond 1e6).
const MAX_WIDTH: usize = 1_000_000;

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`.
pub fn is_print(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace() || ('\u{E000}'..='\u{F8FF}').contains(&c))
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        _ if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\u{07}' => out.push_str("\\a"),
        '\u{08}' => out.push_str("\\b"),
        '\u{0C}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{0B}' => out.push_str("\\v"),
        _ if is_print(c) => out.push(c),
        _ if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        _ if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        _ => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Decimal digits of `|f|` (no leading zeros) and the decimal point position.
fn decimal_digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (vec![b'0'], 1);
    }
    let s = match sig {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p.max(1) - 1, f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    if sig.is_some() {
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
        }
    }
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

fn fmt_e(out: &mut String, digits: &[u8], dp: i32, prec: usize, upper: bool) {
    out.push(digits.first().map_or('0', |&d| d as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digits.get(i).map_or('0', |&d| d as char));
        }
    }
    let exp = if digits == b"0" { 0 } else { dp - 1 };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
}

fn fmt_f(out: &mut String, digits: &[u8], dp: i32, prec: usize) {
    let digit = |i: i32| -> char { if i < 0 { '0' } else { digits.get(i as usize).map_or('0', |&d| d as char) } };
    if dp > 0 {
        for i in 0..dp {
            out.push(digit(i));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            out.push(digit(dp + i));
        }
    }
}

/// `strconv.FormatFloat(f, verb, prec, 64)` for verbs `e E f F g G` (prec < 0 = shortest).
pub fn format_float(f: f64, verb: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative()) {
        out.push('-');
    }
    let shortest = prec < 0;
    match verb {
        'e' | 'E' => {
            let (digits, dp) =
                if shortest { decimal_digits(f, None) } else { decimal_digits(f, Some(prec as usize + 1)) };
            let p = if shortest { digits.len().saturating_sub(1) } else { prec as usize };
            fmt_e(&mut out, &digits, dp, p, verb == 'E');
        }
        'f' | 'F' => {
            if shortest {
                let (digits, dp) = decimal_digits(f, None);
                fmt_f(&mut out, &digits, dp, (digits.len() as i32 - dp).max(0) as usize);
            } else {
                let _ = write!(out, "{:.*}", prec as usize, f.abs());
            }
        }
        _ => {
            let p = if shortest { None } else { Some((prec as usize).max(1)) };
            let (digits, dp) = decimal_digits(f, p);
            let mut eprec = p.map_or(digits.len() as i32, |p| p as i32);
            if eprec > digits.len() as i32 && digits.len() as i32 >= dp {
                eprec = digits.len() as i32;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                fmt_e(&mut out, &digits, dp, digits.len().saturating_sub(1), verb == 'G');
            } else {
                fmt_f(&mut out, &digits, dp, (digits.len() as i32 - dp).max(0) as usize);
            }
        }
    }
    out
}

/// Appends a value as Go's `fmt` `%v` does (`nil_text` is used for nil values).
pub fn write_value(out: &mut String, v: &Value, labels: &[(String, String)], nil_text: &str) {
    if let Some(pairs) = v.str_map(labels) {
        out.push_str("map[");
        for (i, (k, e)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{k}:{e}");
        }
        out.push(']');
        return;
    }
    match v {
        Value::Nil => out.push_str(nil_text),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float(*f, 'g', -1)),
        Value::Str(s) | Value::Html(s) => out.push_str(s),
        Value::Time(t) => out.push_str(&t.go_string()),
        Value::Duration(d) => out.push_str(&go_duration_string(*d)),
        Value::List(l) | Value::Slice(_, l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, e, labels, "<nil>");
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, e, labels, "<nil>");
            }
            out.push(']');
        }
        Value::Struct(st) => {
            if st.is_pointer() {
                out.push('&');
            }
            out.push('{');
            for (i, (_, e)) in st.fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, e, labels, "<nil>");
            }
            out.push('}');
        }
        // Printed above.
        Value::Labels | Value::StrMap(_) => {}
    }
}

/// Appends the result of a `{{pipeline}}` as `text/template` prints it: nil is `<no value>` and a
/// pointer is dereferenced first (a struct pointer prints as `{...}`, not `&{...}`).
pub fn write_printable(out: &mut String, v: &Value, labels: &[(String, String)]) {
    match v {
        Value::Struct(st) if st.is_pointer() => {
            let mut s = String::new();
            write_value(&mut s, v, labels, "<nil>");
            out.push_str(s.strip_prefix('&').unwrap_or(&s));
        }
        _ => write_value(out, v, labels, "<no value>"),
    }
}

/// Go's `fmt.Sprint`: operands separated by a space when neither side is a string.
pub fn sprint(args: &[Value], labels: &[(String, String)], newline: bool) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::Str(_) | Value::Html(_));
        if i > 0 && (newline || !(is_str || matches!(args[i - 1], Value::Str(_) | Value::Html(_)))) {
            out.push(' ');
        }
        write_value(&mut out, a, labels, "<nil>");
    }
    if newline {
        out.push('\n');
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(out: &mut String, s: &str, fl: &Flags) {
    let len = s.chars().count();
    let w = fl.width.unwrap_or(0);
    if len >= w {
        out.push_str(s);
        return;
    }
    let fill = w - len;
    if fl.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if fl.zero && s.starts_with(['-', '+', ' ']) && s.len() > 1 && !s.ends_with("Inf") && s != "NaN" {
        out.push_str(&s[..1]);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(&s[1..]);
    } else {
        let c = if fl.zero && !s.ends_with("Inf") && !s.ends_with("NaN") { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, verb: char, v: &Value, labels: &[(String, String)]) {
    let _ = write!(out, "%!{verb}(");
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        write_value(out, v, labels, "<nil>");
    }
    out.push(')');
}

fn fmt_int(out: &mut String, i: i64, verb: char, fl: &Flags) {
    let neg = i < 0;
    let mag = i.unsigned_abs();
    let mut digits = match verb {
        'b' => format!("{mag:b}"),
        'o' | 'O' => format!("{mag:o}"),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        _ => format!("{mag}"),
    };
    if let Some(p) = fl.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let prefix = match (verb, fl.sharp) {
        ('x', true) => "0x",
        ('X', true) => "0X",
        ('o', true) if !digits.starts_with('0') => "0",
        ('b', true) => "0b",
        ('O', _) => "0o",
        _ => "",
    };
    let sign = if neg {
        "-"
    } else if fl.plus {
        "+"
    } else if fl.space {
        " "
    } else {
        ""
    };
    let body = format!("{sign}{prefix}{digits}");
    let fl2 = Flags { zero: fl.zero && fl.prec.is_none() && !fl.minus, ..*fl };
    pad(out, &body, &fl2);
}

fn fmt_float_verb(out: &mut String, f: f64, verb: char, fl: &Flags) {
    let prec = match (verb, fl.prec) {
        (_, Some(p)) => p as i32,
        ('v' | 'g' | 'G', None) => -1,
        _ => 6,
    };
    let v = if verb == 'v' { 'g' } else { verb };
    let mut s = format_float(f, v, prec);
    if !s.starts_with('-') && !s.starts_with('+') && !s.starts_with('N') {
        if fl.plus {
            s.insert(0, '+');
        } else if fl.space {
            s.insert(0, ' ');
        }
    } else if s.starts_with("+Inf") && !fl.plus {
        s = if fl.space { " Inf".to_owned() } else { "+Inf".to_owned() };
    }
    let fl2 = Flags { zero: fl.zero && !fl.minus, ..*fl };
    pad(out, &s, &fl2);
}

fn fmt_arg(out: &mut String, verb: char, v: &Value, fl: &Flags, labels: &[(String, String)]) {
    // `template.HTML` formats as its underlying string; `*time.Duration` through its `String` method.
    let stringer = match (v, verb) {
        (Value::Html(s), 'v' | 's' | 'q' | 'x' | 'X') => Some(s.clone()),
        (Value::Duration(d), 'v' | 's' | 'q' | 'x' | 'X') => Some(go_duration_string(*d)),
        _ => None,
    };
    if let Some(s) = stringer {
        return fmt_arg(out, verb, &Value::Str(s), fl, labels);
    }
    match (v, verb) {
        (Value::Bool(b), 't' | 'v') => pad(out, if *b { "true" } else { "false" }, fl),
        (Value::Int(i) | Value::Int64(i), 'd' | 'v' | 'b' | 'o' | 'O' | 'x' | 'X') => fmt_int(out, *i, verb, fl),
        (Value::Int(i) | Value::Int64(i), 'c') => {
            pad(out, &char::from_u32(u32::try_from(*i).unwrap_or(0xFFFD)).unwrap_or('\u{FFFD}').to_string(), fl)
        }
        (Value::Int(i) | Value::Int64(i), 'q') => {
            let c = char::from_u32(u32::try_from(*i).unwrap_or(0xFFFD)).unwrap_or('\u{FFFD}');
            let mut s = String::from('\'');
            push_escaped(&mut s, c, '\'');
            s.push('\'');
            pad(out, &s, fl);
        }
        (Value::Int(i) | Value::Int64(i), 'U') => pad(out, &format!("U+{:04X}", *i), fl),
        (Value::Float(f), 'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G') => fmt_float_verb(out, *f, verb, fl),
        (Value::Str(s), 'v' | 's') => {
            let s: String = match fl.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            pad(out, &s, fl);
        }
        (Value::Str(s), 'q') => pad(out, &go_quote(s), fl),
        (Value::Str(s), 'x' | 'X') => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if fl.space && i > 0 {
                    h.push(' ');
                }
                if fl.sharp && (fl.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                let _ = if verb == 'x' { write!(h, "{b:02x}") } else { write!(h, "{b:02X}") };
            }
            pad(out, &h, fl);
        }
        (Value::Time(t), 'v' | 's') => pad(out, &t.go_string(), fl),
        (Value::Time(t), 'q') => pad(out, &go_quote(&t.go_string()), fl),
        (Value::Nil, 'v') => pad(out, "<nil>", fl),
        (
            Value::List(_) | Value::Map(_) | Value::Labels | Value::StrMap(_) | Value::Struct(_) | Value::Slice(..),
            'v',
        ) => {
            let mut s = String::new();
            write_value(&mut s, v, labels, "<nil>");
            pad(out, &s, fl);
        }
        _ => bad_verb(out, verb, v, labels),
    }
}

fn parse_num(b: &[u8], i: &mut usize) -> Option<usize> {
    let start = *i;
    let mut n: usize = 0;
    while let Some(c) = b.get(*i).filter(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(usize::from(c - b'0'));
        *i += 1;
    }
    (*i > start).then_some(n)
}

/// Go's `fmt.Sprintf` for the verbs templates use (`%v %s %d %f %.2f %e %g %q %x %X %t %c %b %o %%`).
pub fn sprintf(format: &str, args: &[Value], labels: &[(String, String)]) -> String {
    let b = format.as_bytes();
    let mut out = String::with_capacity(format.len() + 16);
    let mut argn = 0;
    let mut i = 0;
    while i < b.len() {
        let next = b[i..].iter().position(|&c| c == b'%').map_or(b.len(), |p| i + p);
        out.push_str(&format[i..next]);
        i = next;
        if i >= b.len() {
            break;
        }
        i += 1;
        let mut fl = Flags::default();
        while let Some(&c) = b.get(i) {
            match c {
                b'-' => fl.minus = true,
                b'+' => fl.plus = true,
                b'#' => fl.sharp = true,
                b' ' => fl.space = true,
                b'0' => fl.zero = !fl.minus,
                _ => break,
            }
            i += 1;
        }
        let mut bad_width = false;
        if b.get(i) == Some(&b'*') {
            i += 1;
            match args.get(argn) {
                Some(Value::Int(w) | Value::Int64(w)) => {
                    if w.unsigned_abs() as usize > MAX_WIDTH {
                        bad_width = true;
                    } else if *w < 0 {
                        fl.minus = true;
                        fl.width = Some(w.unsigned_abs() as usize);
                    } else {
                        fl.width = Some(*w as usize);
                    }
                }
                _ => bad_width = true,
            }
            argn += 1;
        } else {
            fl.width = parse_num(b, &mut i);
        }
        if fl.width.is_some_and(|w| w > MAX_WIDTH) {
            bad_width = true;
            fl.width = None;
        }
        if bad_width {
            out.push_str("%!(BADWIDTH)");
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if b.get(i) == Some(&b'*') {
                i += 1;
                match args.get(argn) {
                    Some(Value::Int(p) | Value::Int64(p)) if *p >= 0 && (*p as usize) <= MAX_WIDTH => {
                        fl.prec = Some(*p as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                argn += 1;
            } else {
                let p = parse_num(b, &mut i).unwrap_or(0);
                if p > MAX_WIDTH {
                    out.push_str("%!(BADPREC)");
                } else {
                    fl.prec = Some(p);
                }
            }
        }
        let Some(verb) = format[i..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argn) {
            Some(v) => fmt_arg(&mut out, verb, v, &fl, labels),
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
        }
        argn += 1;
    }
    if argn < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argn..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                out.push_str("<nil>");
            } else {
                out.push_str(a.type_name());
                out.push('=');
                write_value(&mut out, a, labels, "<nil>");
            }
        }
        out.push(')');
    }
    out
}
