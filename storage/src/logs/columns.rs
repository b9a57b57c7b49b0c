//! Which structured metadata a document keeps in columns instead of its stored JSON: the
//! values that are in every OTLP entry and either repeat (severity number, detected level) or
//! are numbers and ids that compress far better as columns than as text (observed timestamp,
//! trace and span ids). A value moves to its column only when the column gives it back exactly;
//! anything else stays in the JSON.

use crate::Label;

/// `level` column value of an entry whose `detected_level` is not one of [`super::LEVELS`] (it
/// stays in the JSON).
pub(crate) const OTHER_LEVEL: u64 = 7;

/// Metadata split into column values and the rest.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Split<'a> {
    /// OTLP severity number, 0 if none.
    pub severity: u64,
    /// Index of `detected_level` in [`super::LEVELS`], or [`OTHER_LEVEL`].
    pub level: u64,
    pub observed: Option<i64>,
    pub trace: Option<(u64, u64)>,
    pub span: Option<u64>,
    /// What stays in the stored JSON, in order.
    pub rest: Vec<[&'a str; 2]>,
}

fn hex_u64(s: &str) -> Option<u64> {
    (s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
}

/// A 32-digit lowercase hex trace id as two halves.
pub(crate) fn trace_halves(s: &str) -> Option<(u64, u64)> {
    if s.len() != 32 {
        return None;
    }
    Some((hex_u64(&s[..16])?, hex_u64(&s[16..])?))
}

/// Splits an entry's metadata. The first of each moved name goes to its column.
pub(crate) fn split(metadata: &[Label]) -> Split<'_> {
    let mut out = Split { level: OTHER_LEVEL, ..Split::default() };
    let (mut severity, mut level) = (false, false);
    for Label { name, value } in metadata {
        let moved = match name.as_str() {
            "severity_number" if !severity => {
                value.parse::<u64>().ok().filter(|n| *n > 0 && n.to_string() == *value).map(|n| {
                    out.severity = n;
                    severity = true;
                })
            }
            "detected_level" if !level => super::LEVELS.iter().position(|l| l == value).map(|i| {
                out.level = i as u64;
                level = true;
            }),
            "observed_timestamp" if out.observed.is_none() => {
                value.parse::<i64>().ok().filter(|n| n.to_string() == *value).map(|n| out.observed = Some(n))
            }
            "trace_id" if out.trace.is_none() => trace_halves(value).map(|t| out.trace = Some(t)),
            "span_id" if out.span.is_none() => hex_u64(value).map(|s| out.span = Some(s)),
            _ => None,
        };
        if moved.is_none() {
            out.rest.push([name.as_str(), value.as_str()]);
        }
    }
    out
}

/// The column values of one document.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Columns {
    pub severity: u64,
    pub level: u64,
    pub observed: Option<i64>,
    pub trace: Option<(u64, u64)>,
    pub span: Option<u64>,
}

/// The metadata of a document: the stored rest, then what the columns hold.
pub(crate) fn rebuild(mut rest: Vec<Label>, c: Columns) -> Vec<Label> {
    if let Some(observed) = c.observed {
        rest.push(Label::new("observed_timestamp", observed.to_string()));
    }
    if c.severity > 0 {
        rest.push(Label::new("severity_number", c.severity.to_string()));
    }
    if let Some((hi, lo)) = c.trace {
        rest.push(Label::new("trace_id", format!("{hi:016x}{lo:016x}")));
    }
    if let Some(span) = c.span {
        rest.push(Label::new("span_id", format!("{span:016x}")));
    }
    if let Some(level) = super::LEVELS.get(c.level as usize) {
        rest.push(Label::new("detected_level", *level));
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_columns_give_back_exactly_move_and_the_rest_stays() {
        let md = vec![
            Label::new("user", "u1"),
            Label::new("observed_timestamp", "1700000000000000001"),
            Label::new("severity_number", "17"),
            Label::new("trace_id", "0af7651916cd43dd8448eb211c80319c"),
            Label::new("span_id", "B7AD6B7169203331"),
            Label::new("detected_level", "error"),
            Label::new("severity_number", "18"),
        ];
        let s = split(&md);
        assert_eq!(s.severity, 17);
        assert_eq!(s.level, 4);
        assert_eq!(s.trace, Some((0x0af7651916cd43dd, 0x8448eb211c80319c)));
        assert_eq!(s.span, None, "uppercase hex would not come back the same");
        assert_eq!(s.rest, [["user", "u1"], ["span_id", "B7AD6B7169203331"], ["severity_number", "18"]]);
        let columns =
            Columns { severity: s.severity, level: s.level, observed: s.observed, trace: s.trace, span: s.span };
        let rest = s.rest.iter().map(|[n, v]| Label::new(*n, *v)).collect();
        let mut back = rebuild(rest, columns);
        let mut want = md.clone();
        back.sort();
        want.sort();
        assert_eq!(back, want);
    }

    #[test]
    fn a_level_outside_the_list_stays_in_the_json() {
        let md = vec![Label::new("detected_level", "WARNING")];
        let s = split(&md);
        assert_eq!((s.level, s.rest.len()), (OTHER_LEVEL, 1));
        let back =
            rebuild(vec![Label::new("detected_level", "WARNING")], Columns { level: s.level, ..Columns::default() });
        assert_eq!(back, md);
    }
}
