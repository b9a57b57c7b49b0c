//! Request parameters read as Prometheus reads them: the form (URL query, and for POST a
//! form-encoded body first), times, limits, `match[]` selectors, PromQL selectors and label names.

use axum::extract::{Form, FromRequest, Query, Request};
use axum::http::{HeaderMap, Method, header};
use lookout_storage::Tenant;
use lookout_storage::metrics::{MatchOp, Matcher};
use promql_parser::label::{MatchOp as PromOp, Matcher as PromMatcher};
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};

use super::reply::{ApiError, bad_data, invalid_param};

/// Prometheus's `MinTime` in milliseconds: the default `start` (everything).
pub(crate) const MIN_TIME: i64 = -9_223_309_901_257_974_000;
/// Prometheus's `MaxTime` in milliseconds: the default `end` (everything).
pub(crate) const MAX_TIME: i64 = 9_223_309_901_257_974_999;

/// The request's form values in Go's `r.Form` order: body values, then URL query values.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form_error = |e: &dyn std::fmt::Display| bad_data(format!("error parsing form values: {e}"));
        let Query(query) = Query::<Vec<(String, String)>>::try_from_uri(req.uri()).map_err(|e| form_error(&e))?;
        let is_form = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let mut pairs = Vec::new();
        if is_form {
            let Form(body) =
                Form::<Vec<(String, String)>>::from_request(req, state).await.map_err(|e| form_error(&e))?;
            pairs = body;
        }
        pairs.extend(query);
        Ok(Params(pairs))
    }
}

impl Params {
    /// Go's `r.FormValue`: the first value, `""` when absent.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`match[]`).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `start`/`end` in milliseconds (`parseTimeParam`), `default` when absent or empty.
    pub(crate) fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        let value = self.get(name);
        if value.is_empty() {
            return Ok(default);
        }
        parse_time(value).map_err(|e| invalid_param(name, format!("Invalid time value for '{name}': {e}")))
    }

    /// `limit` of series and label endpoints (`parseLimitParam`): 0 (the default) means none.
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        let value = self.get("limit");
        if value.is_empty() {
            return Ok(0);
        }
        let limit = go_atoi(value).map_err(|e| invalid_param("limit", e))?;
        usize::try_from(limit).map_err(|_| invalid_param("limit", "limit must be non-negative"))
    }

    /// An optional integer parameter that must be a number (`metadata`'s `limit`, ...), with
    /// `message` as the whole error when it is not.
    pub(crate) fn number(&self, name: &str, default: i64, message: &str) -> Result<i64, ApiError> {
        let value = self.get(name);
        if value.is_empty() {
            return Ok(default);
        }
        go_atoi(value).map_err(|_| bad_data(message))
    }

    /// The `match[]` selectors as matcher sets (`parseMatchersParam`): all parsed first, then
    /// each must have a matcher that does not match the empty string.
    pub(crate) fn matchers(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut sets = Vec::new();
        let mut everything = false;
        for text in self.all("match[]") {
            match series_selector(text) {
                Ok(found) => sets.extend(found),
                Err(Selector::MatchesEverything) => everything = true,
                Err(Selector::Invalid(e)) => return Err(invalid_param("match[]", e)),
            }
        }
        if everything || sets.iter().any(|set| set.iter().all(|m| m.matches(""))) {
            return Err(invalid_param("match[]", "match[] must contain at least one non-empty matcher"));
        }
        Ok(sets)
    }
}

/// The tenant named by `X-Scope-OrgID`, `anonymous` when absent.
pub(crate) fn tenant(headers: &HeaderMap) -> Result<Tenant, ApiError> {
    match headers.get("x-scope-orgid") {
        None => Ok(Tenant::default()),
        Some(v) => Tenant::new(v.to_str().unwrap_or("").trim()).map_err(|e| bad_data(e.to_string())),
    }
}

/// Go's `strconv.Atoi`, with its error text.
fn go_atoi(text: &str) -> Result<i64, String> {
    text.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        format!("strconv.Atoi: parsing {text:?}: {why}")
    })
}

/// A time parameter in milliseconds (`parseTime`): unix seconds with up to millisecond
/// fractions, or RFC 3339 (years beyond four digits too, which covers the `MinTime` and
/// `MaxTime` strings clients send for "everything").
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let invalid = || format!("cannot parse {text:?} to a valid timestamp");
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_nan() {
            return Err(invalid());
        }
        let whole = seconds.trunc();
        let millis = ((seconds - whole) * 1000.0).round();
        return Ok((whole as i64).saturating_mul(1000).saturating_add(millis as i64));
    }
    rfc3339_millis(text).ok_or_else(invalid)
}

/// `[-]YYYY…-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as milliseconds since the epoch (fractions
/// below a millisecond dropped, as `timestamp.FromTime` drops them).
fn rfc3339_millis(text: &str) -> Option<i64> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (year, rest) = rest.split_once('-')?;
    if year.len() < 4 || !digits(year) {
        return None;
    }
    let year: i64 = year.parse().ok()?;
    let year = if negative { -year } else { year };
    let bytes = rest.as_bytes();
    if bytes.len() < 15 || bytes[2] != b'-' || bytes[5] != b'T' || bytes[8] != b':' || bytes[11] != b':' {
        return None;
    }
    let field = |range| field_of(rest, range);
    let (month, day, hour, minute, second) = (field(0..2)?, field(3..5)?, field(6..8)?, field(9..11)?, field(12..14)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &rest[14..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(fraction.len());
        if end == 0 || end > 9 {
            return None;
        }
        let first3 = format!("{:0<3}", &fraction[..end.min(3)]);
        millis = first3.parse().ok()?;
        rest = &fraction[end..];
    }
    let offset_secs = match rest {
        "Z" => 0,
        _ => {
            let b = rest.as_bytes();
            if b.len() != 6 || (b[0] != b'+' && b[0] != b'-') || b[3] != b':' {
                return None;
            }
            let (h, m) = (field_of(rest, 1..3)?, field_of(rest, 4..6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let s = h * 3600 + m * 60;
            if b[0] == b'-' { -s } else { s }
        }
    };
    let days = i128::from(days_from_civil(year, month, day));
    let secs = days * 86_400 + i128::from(hour * 3600 + minute * 60 + second) - i128::from(offset_secs);
    let ms = secs * 1000 + i128::from(millis);
    Some(ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Digits at `range` of `text` as a number.
fn field_of(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let s = text.get(range)?;
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Why a `match[]` value gives no matchers.
enum Selector {
    /// It parses, but nothing in it narrows the selection.
    MatchesEverything,
    /// It is not a series selector.
    Invalid(String),
}

/// A series selector (`foo{a="b"}`, no offset or `@`) as matcher sets (more than one only for
/// `or` inside the braces).
fn series_selector(text: &str) -> Result<Vec<Vec<Matcher>>, Selector> {
    match crate::promql::parse_expr(text) {
        Ok(Expr::VectorSelector(vs)) if vs.offset.is_none() && vs.at.is_none() => {
            matcher_sets(&vs).map_err(Selector::Invalid)
        }
        Ok(_) => Err(Selector::Invalid(format!("parse error: {text:?} is not a series selector"))),
        // promql-parser refuses what Prometheus's selector parser accepts and `match[]` then
        // refuses with its own message.
        Err(e) if e.contains("at least one non-empty matcher") || e.contains("must contain label matchers") => {
            Err(Selector::MatchesEverything)
        }
        Err(e) => Err(Selector::Invalid(e)),
    }
}

/// The vector selectors of a PromQL expression as matcher sets (`parser.ExtractSelectors`),
/// matrix selectors included.
pub(crate) fn expr_selectors(query: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    struct Collect(Vec<VectorSelector>);
    impl ExprVisitor for Collect {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
            match expr {
                Expr::VectorSelector(vs) => self.0.push(vs.clone()),
                Expr::MatrixSelector(ms) => self.0.push(ms.vs.clone()),
                _ => {}
            }
            Ok(true)
        }
    }
    let expr = crate::promql::parse_expr(query).map_err(bad_data)?;
    let mut collect = Collect(Vec::new());
    let _ = walk_expr(&mut collect, &expr);
    let mut sets = Vec::new();
    for vs in &collect.0 {
        sets.extend(matcher_sets(vs).map_err(bad_data)?);
    }
    Ok(sets)
}

/// The store's matchers for one selector: the metric name as `__name__="…"`, then the matchers
/// in braces; one set per `or` branch.
fn matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, String> {
    let mut base = Vec::new();
    if let Some(name) = &vs.name {
        base.push(Matcher::equal(lookout_storage::METRIC_NAME, name.as_str()));
    }
    for m in &vs.matchers.matchers {
        base.push(store_matcher(m)?);
    }
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![base]);
    }
    let mut sets = Vec::new();
    for branch in &vs.matchers.or_matchers {
        let mut set = base.clone();
        for m in branch {
            set.push(store_matcher(m)?);
        }
        sets.push(set);
    }
    Ok(sets)
}

fn store_matcher(m: &PromMatcher) -> Result<Matcher, String> {
    let op = match m.op {
        PromOp::Equal => MatchOp::Equal,
        PromOp::NotEqual => MatchOp::NotEqual,
        PromOp::Re(_) => MatchOp::Regex,
        PromOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.as_str(), m.value.as_str()).map_err(|e| e.to_string())
}

/// The label name of `/api/v1/label/{name}/values`: `U__` names unescaped as Prometheus 3 does,
/// then checked as Prometheus 3 checks names (any non-empty UTF-8).
pub(crate) fn label_name(raw: &str) -> Result<String, ApiError> {
    let name = if raw.starts_with("U__") { unescape_name(raw) } else { raw.to_owned() };
    if name.is_empty() {
        return Err(bad_data(format!("invalid label name: {name:?}")));
    }
    Ok(name)
}

/// `model.UnescapeName` with value-encoding escaping: after `U__`, `__` is `_` and `_hex_` is
/// the code point `hex`; anything malformed leaves the name as it was.
fn unescape_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else { return name.to_owned() };
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let mut code = 0u32;
        let mut digits = 0;
        loop {
            match chars.next() {
                Some('_') if digits == 0 => {
                    out.push('_');
                    break;
                }
                Some('_') => match char::from_u32(code) {
                    Some(c) => {
                        out.push(c);
                        break;
                    }
                    None => return name.to_owned(),
                },
                Some(h) if digits < 6 && h.is_ascii_hexdigit() => {
                    code = code * 16 + h.to_digit(16).unwrap_or(0);
                    digits += 1;
                }
                _ => return name.to_owned(),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_unix_seconds_or_rfc3339() {
        assert_eq!(parse_time("1600000000"), Ok(1_600_000_000_000));
        assert_eq!(parse_time("1600000000.123"), Ok(1_600_000_000_123));
        assert_eq!(parse_time("1600000000.1236"), Ok(1_600_000_000_124));
        assert_eq!(parse_time("-1.5"), Ok(-1_500));
        assert_eq!(parse_time("2020-09-13T12:26:40Z"), Ok(1_600_000_000_000));
        assert_eq!(parse_time("2020-09-13T12:26:40.123456789Z"), Ok(1_600_000_000_123));
        assert_eq!(parse_time("2020-09-13T14:26:40.5+02:00"), Ok(1_600_000_000_500));
        assert_eq!(parse_time("1970-01-01T00:00:00-01:30"), Ok(5_400_000));
        assert_eq!(parse_time("2020-02-29T00:00:00Z"), Ok(1_582_934_400_000));
        // The strings Go prints for Prometheus's MinTime and MaxTime (sent by clients for "all").
        assert_eq!(parse_time("-292273086-05-16T16:47:06Z"), Ok(MIN_TIME));
        assert_eq!(parse_time("292277025-08-18T07:12:54.999999999Z"), Ok(MAX_TIME));
        for bad in
            ["abc", "2020-13-01T00:00:00Z", "2021-02-29T00:00:00Z", "2020-09-13 12:26:40Z", "2020-09-13T12:26:40"]
        {
            assert_eq!(parse_time(bad), Err(format!("cannot parse {bad:?} to a valid timestamp")));
        }
    }

    #[test]
    fn utf8_label_names_unescape_as_prometheus_3() {
        assert_eq!(unescape_name("U__http_2e_method"), "http.method");
        assert_eq!(unescape_name("U__a__b"), "a_b");
        assert_eq!(unescape_name("U___1f600_"), "\u{1f600}");
        assert_eq!(unescape_name("U__bad_zz_"), "U__bad_zz_");
        assert_eq!(unescape_name("U__open_2e"), "U__open_2e");
        assert_eq!(unescape_name("job"), "job");
    }

    #[test]
    fn selectors_become_matcher_sets() {
        let sets = series_selector(r#"up{job=~"a|b", instance!="x"}"#).ok().unwrap();
        assert_eq!(sets.len(), 1);
        let shown: Vec<String> = sets[0].iter().map(|m| m.to_string()).collect();
        assert_eq!(shown, vec![r#"__name__="up""#, r#"job=~"a|b""#, r#"instance!="x""#]);
        assert!(matches!(series_selector(r#"{foo=""}"#), Err(Selector::MatchesEverything)));
        assert!(matches!(series_selector("rate(up[5m])"), Err(Selector::Invalid(_))));
        let all = expr_selectors(r#"sum(rate(a[5m])) / on() b{c="d"} + 1"#).unwrap();
        assert_eq!(all.len(), 2);
        assert!(expr_selectors("1 + 1").unwrap().is_empty());
    }
}
