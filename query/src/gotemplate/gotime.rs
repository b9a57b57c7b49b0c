//! A Go `time.Time` subset for templates: Go layouts (`2006-01-02T15:04:05Z07:00`) for formatting and
//! parsing, `Time.String()`, Unix conversions. The local time zone is UTC (Loki's container default).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds between 0001-01-01 and 1970-01-01 (Go's zero time is year 1).
const ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// An instant with a fixed zone offset and name, like Go's `time.Time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTime {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds within the second.
    pub nsec: u32,
    /// Zone offset in seconds east of UTC.
    pub offset: i32,
    /// Zone abbreviation ("" for an unnamed fixed offset).
    pub zone: String,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Broken-down local fields of a time.
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    yday: i64,
    wday: usize,
}

impl GoTime {
    /// Go's zero `time.Time` (0001-01-01 00:00:00 UTC).
    pub fn zero() -> Self {
        Self { unix: ZERO_TIME_UNIX, nsec: 0, offset: 0, zone: "UTC".to_owned() }
    }

    /// `time.Unix(sec, nsec)` in the local (UTC) zone.
    pub fn from_unix(sec: i64, nsec: i64) -> Self {
        let unix = sec.saturating_add(nsec.div_euclid(1_000_000_000));
        Self { unix, nsec: nsec.rem_euclid(1_000_000_000) as u32, offset: 0, zone: "UTC".to_owned() }
    }

    /// `time.Now()`.
    pub fn now() -> Self {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self::from_unix(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), i64::from(d.subsec_nanos()))
    }

    /// Same instant in UTC.
    pub fn utc(&self) -> Self {
        Self { unix: self.unix, nsec: self.nsec, offset: 0, zone: "UTC".to_owned() }
    }

    /// `Unix()` seconds.
    pub fn unix_secs(&self) -> i64 {
        self.unix
    }

    /// `UnixMilli()`.
    pub fn unix_milli(&self) -> i64 {
        self.unix.wrapping_mul(1000).wrapping_add(i64::from(self.nsec / 1_000_000))
    }

    /// `UnixMicro()`.
    pub fn unix_micro(&self) -> i64 {
        self.unix.wrapping_mul(1_000_000).wrapping_add(i64::from(self.nsec / 1000))
    }

    /// `UnixNano()` (wraps like Go outside the representable range).
    pub fn unix_nano(&self) -> i64 {
        self.unix.wrapping_mul(1_000_000_000).wrapping_add(i64::from(self.nsec))
    }

    fn fields(&self) -> Fields {
        let local = self.unix.saturating_add(i64::from(self.offset));
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Fields {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs % 3600 / 60,
            sec: secs % 60,
            yday: days - days_from_civil(year, 1, 1) + 1,
            wday: (days + 4).rem_euclid(7) as usize,
        }
    }

    /// Year in the time's zone.
    pub fn year(&self) -> i64 {
        self.fields().year
    }

    /// Day of month in the time's zone.
    pub fn day(&self) -> i64 {
        self.fields().day
    }

    /// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`.
    pub fn go_string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// Formats with a Go layout.
    pub fn format(&self, layout: &str) -> String {
        let f = self.fields();
        let mut out = String::with_capacity(layout.len() + 10);
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, std, suffix) = next_std_chunk(rest);
            out.push_str(prefix);
            let Some(std) = std else { break };
            self.format_std(&mut out, &std, &f);
            rest = suffix;
        }
        out
    }

    fn format_std(&self, out: &mut String, std: &Std, f: &Fields) {
        use std::fmt::Write;
        let _ = match std {
            Std::Year => write!(out, "{:02}", f.year.rem_euclid(100)),
            Std::LongYear => write!(out, "{:04}", f.year),
            Std::Month => write!(out, "{}", &MONTHS[(f.month - 1) as usize][..3]),
            Std::LongMonth => write!(out, "{}", MONTHS[(f.month - 1) as usize]),
            Std::NumMonth => write!(out, "{}", f.month),
            Std::ZeroMonth => write!(out, "{:02}", f.month),
            Std::WeekDay => write!(out, "{}", &DAYS[f.wday][..3]),
            Std::LongWeekDay => write!(out, "{}", DAYS[f.wday]),
            Std::Day => write!(out, "{}", f.day),
            Std::UnderDay => write!(out, "{:>2}", f.day),
            Std::ZeroDay => write!(out, "{:02}", f.day),
            Std::UnderYearDay => write!(out, "{:>3}", f.yday),
            Std::ZeroYearDay => write!(out, "{:03}", f.yday),
            Std::Hour => write!(out, "{:02}", f.hour),
            Std::Hour12 => write!(out, "{}", if f.hour % 12 == 0 { 12 } else { f.hour % 12 }),
            Std::ZeroHour12 => write!(out, "{:02}", if f.hour % 12 == 0 { 12 } else { f.hour % 12 }),
            Std::Minute => write!(out, "{}", f.min),
            Std::ZeroMinute => write!(out, "{:02}", f.min),
            Std::Second => write!(out, "{}", f.sec),
            Std::ZeroSecond => write!(out, "{:02}", f.sec),
            Std::PM => write!(out, "{}", if f.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => write!(out, "{}", if f.hour >= 12 { "pm" } else { "am" }),
            Std::Tz => {
                if self.zone.is_empty() {
                    let z = self.offset / 60;
                    write!(out, "{}{:02}{:02}", if z < 0 { '-' } else { '+' }, z.abs() / 60, z.abs() % 60)
                } else {
                    write!(out, "{}", self.zone)
                }
            }
            Std::NumTz { z, colon, secs, hours_only } => {
                if *z && self.offset == 0 {
                    out.push('Z');
                    return;
                }
                let o = self.offset.abs();
                let _ = write!(out, "{}{:02}", if self.offset < 0 { '-' } else { '+' }, o / 3600);
                if !hours_only {
                    if *colon {
                        out.push(':');
                    }
                    let _ = write!(out, "{:02}", o % 3600 / 60);
                }
                if *secs {
                    if *colon {
                        out.push(':');
                    }
                    let _ = write!(out, "{:02}", o % 60);
                }
                Ok(())
            }
            Std::Frac { sep, digits, trim } => {
                let s = format!("{:09}", self.nsec);
                let mut d = &s[..(*digits).min(9)];
                if *trim {
                    d = d.trim_end_matches('0');
                    if d.is_empty() {
                        return;
                    }
                }
                write!(out, "{sep}{d}")
            }
        };
    }

    /// Parses `value` with a Go layout; `None` when it does not match (Go returns an error).
    pub fn parse(layout: &str, value: &str) -> Option<Self> {
        parse(layout, value)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Std {
    Year,
    LongYear,
    Month,
    LongMonth,
    NumMonth,
    ZeroMonth,
    WeekDay,
    LongWeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    PM,
    Pm,
    Tz,
    NumTz { z: bool, colon: bool, secs: bool, hours_only: bool },
    Frac { sep: char, digits: usize, trim: bool },
}

/// Go's `nextStdChunk`: literal prefix, standard token, remaining layout.
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    let tz_forms: [(&str, bool, bool, bool); 5] = [
        ("070000", false, true, false),
        ("07:00:00", true, true, false),
        ("0700", false, false, false),
        ("07:00", true, false, false),
        ("07", false, false, true),
    ];
    for i in 0..b.len() {
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if at(i, "Jan") => Some(if at(i, "January") { (Std::LongMonth, 7) } else { (Std::Month, 3) }),
            b'M' if at(i, "Mon") => Some(if at(i, "Monday") { (Std::LongWeekDay, 6) } else { (Std::WeekDay, 3) }),
            b'M' if at(i, "MST") => Some((Std::Tz, 3)),
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'0' if b.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => Some((
                match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'1' => Some(if at(i, "15") { (Std::Hour, 2) } else { (Std::NumMonth, 1) }),
            b'2' => Some(if at(i, "2006") { (Std::LongYear, 4) } else { (Std::Day, 1) }),
            b'_' if at(i, "_2") && !at(i, "_2006") => Some((Std::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::PM, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm, 2)),
            b'-' | b'Z' => tz_forms.iter().find(|(f, ..)| at(i + 1, f)).map(|(f, colon, secs, hours_only)| {
                (Std::NumTz { z: b[i] == b'Z', colon: *colon, secs: *secs, hours_only: *hours_only }, f.len() + 1)
            }),
            c @ (b'.' | b',') if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while b.get(j) == Some(&ch) {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((Std::Frac { sep: c as char, digits: j - i - 1, trim: ch == b'9' }, j - i))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
    }
    (layout, None, "")
}

fn getnum(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = v.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    if !b.get(1).is_some_and(u8::is_ascii_digit) {
        if fixed {
            return None;
        }
        return Some((i64::from(b[0] - b'0'), &v[1..]));
    }
    Some((i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0'), &v[2..]))
}

fn fixed_digits(v: &str, n: usize) -> Option<(i64, &str)> {
    let d = v.get(..n)?;
    if !d.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((d.parse().ok()?, &v[n..]))
}

fn lookup<'a>(v: &'a str, names: &[&str], short: bool) -> Option<(i64, &'a str)> {
    for (i, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        if v.get(..n.len()).is_some_and(|p| p.eq_ignore_ascii_case(n)) {
            return Some((i as i64, &v[n.len()..]));
        }
    }
    None
}

fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Option<&'a str> {
    while let Some(p) = prefix.chars().next() {
        if p == ' ' {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        value = value.strip_prefix(p)?;
        prefix = &prefix[p.len_utf8()..];
    }
    Some(value)
}

fn parse_fraction(v: &str) -> Option<(u32, &str)> {
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let mut ns = 0u64;
    for (i, c) in v[..n].bytes().enumerate() {
        if i < 9 {
            ns = ns * 10 + u64::from(c - b'0');
        }
    }
    for _ in n..9 {
        ns *= 10;
    }
    Some((ns as u32, &v[n..]))
}

fn parse(layout: &str, value: &str) -> Option<GoTime> {
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nsec) =
        (0i64, -1i64, -1i64, 0i64, 0i64, 0i64, 0u32);
    let mut yday = -1i64;
    let mut pm_set = (false, false);
    let mut zone_offset: Option<i32> = None;
    let mut zone_name: Option<String> = None;
    let (mut layout, mut v) = (layout, value);
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        v = skip(v, prefix)?;
        let Some(std) = std else { break };
        layout = suffix;
        match std {
            Std::Year => {
                let (n, r) = fixed_digits(v, 2)?;
                year = if n >= 69 { n + 1900 } else { n + 2000 };
                v = r;
            }
            Std::LongYear => (year, v) = fixed_digits(v, 4)?,
            Std::Month | Std::LongMonth => {
                let (m, r) = lookup(v, &MONTHS, std == Std::Month)?;
                (month, v) = (m + 1, r);
            }
            Std::NumMonth | Std::ZeroMonth => {
                (month, v) = getnum(v, std == Std::ZeroMonth)?;
                if !(1..=12).contains(&month) {
                    return None;
                }
            }
            Std::WeekDay | Std::LongWeekDay => (_, v) = lookup(v, &DAYS, std == Std::WeekDay)?,
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && v.starts_with(' ') {
                    v = &v[1..];
                }
                (day, v) = getnum(v, std == Std::ZeroDay)?;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let t = if std == Std::UnderYearDay { v.trim_start_matches(' ') } else { v };
                let n = t.bytes().take(3).take_while(u8::is_ascii_digit).count();
                if n == 0 || (std == Std::ZeroYearDay && n != 3) {
                    return None;
                }
                (yday, v) = (t[..n].parse().ok()?, &t[n..]);
            }
            Std::Hour => {
                (hour, v) = getnum(v, false)?;
                if hour > 23 {
                    return None;
                }
            }
            Std::Hour12 | Std::ZeroHour12 => {
                (hour, v) = getnum(v, std == Std::ZeroHour12)?;
                if hour > 12 {
                    return None;
                }
            }
            Std::Minute | Std::ZeroMinute | Std::Second | Std::ZeroSecond => {
                let (n, r) = getnum(v, matches!(std, Std::ZeroMinute | Std::ZeroSecond))?;
                if n > 59 {
                    return None;
                }
                v = r;
                if matches!(std, Std::Minute | Std::ZeroMinute) {
                    min = n;
                } else {
                    sec = n;
                    let next_is_frac = matches!(next_std_chunk(layout), ("", Some(Std::Frac { .. }), _));
                    if !next_is_frac
                        && (v.starts_with('.') || v.starts_with(','))
                        && let Some((ns, r)) = parse_fraction(&v[1..])
                    {
                        (nsec, v) = (ns, r);
                    }
                }
            }
            Std::PM | Std::Pm => {
                let p = v.get(..2)?;
                let pm = match p {
                    "PM" | "pm" => true,
                    "AM" | "am" => false,
                    _ => return None,
                };
                pm_set = (true, pm);
                v = &v[2..];
            }
            Std::NumTz { z, colon, secs, hours_only } => {
                if z && v.starts_with('Z') {
                    v = &v[1..];
                    zone_offset = Some(0);
                    zone_name = Some("UTC".to_owned());
                    continue;
                }
                let sign = match v.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (hh, mut r) = fixed_digits(&v[1..], 2)?;
                let mut mm = 0;
                let mut ss = 0;
                if !hours_only {
                    if colon {
                        r = r.strip_prefix(':')?;
                    }
                    (mm, r) = fixed_digits(r, 2)?;
                }
                if secs {
                    if colon {
                        r = r.strip_prefix(':')?;
                    }
                    (ss, r) = fixed_digits(r, 2)?;
                }
                v = r;
                zone_offset = Some(sign * i32::try_from(hh * 3600 + mm * 60 + ss).ok()?);
            }
            Std::Tz => {
                if let Some(r) = v.strip_prefix("UTC") {
                    v = r;
                    zone_offset = Some(0);
                    zone_name = Some("UTC".to_owned());
                    continue;
                }
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return None;
                }
                zone_name = Some(v[..n].to_owned());
                v = &v[n..];
            }
            Std::Frac { digits, trim, .. } => {
                if !trim {
                    let r = v.strip_prefix(['.', ','])?;
                    let d = r.get(..digits)?;
                    if !d.bytes().all(|c| c.is_ascii_digit()) {
                        return None;
                    }
                    (nsec, v) = (parse_fraction(d).map_or(0, |x| x.0), &r[digits..]);
                } else if let Some((ns, r)) = v.strip_prefix(['.', ',']).and_then(parse_fraction) {
                    (nsec, v) = (ns, r);
                }
            }
        }
    }
    if !v.is_empty() {
        return None;
    }
    if pm_set.0 {
        if pm_set.1 && hour < 12 {
            hour += 12;
        } else if !pm_set.1 && hour == 12 {
            hour = 0;
        }
    }
    if yday >= 0 {
        let days = if is_leap(year) { 366 } else { 365 };
        if yday < 1 || yday > days {
            return None;
        }
        let mut m = 1;
        let mut d = yday;
        while d > days_in_month(year, m) {
            d -= days_in_month(year, m);
            m += 1;
        }
        if (month >= 0 && month != m) || (day >= 0 && day != d) {
            return None;
        }
        (month, day) = (m, d);
    }
    if month < 0 {
        month = 1;
    }
    if day < 0 {
        day = 1;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
    let (offset, zone) = match (zone_offset, zone_name) {
        (Some(0), _) => (0, "UTC".to_owned()),
        (Some(o), _) => (o, String::new()),
        (None, Some(name)) => {
            let o = name.strip_prefix("GMT").and_then(|h| h.parse::<i32>().ok()).map_or(0, |h| h * 3600);
            (o, name)
        }
        (None, None) => (0, "UTC".to_owned()),
    };
    Some(GoTime { unix: local - i64::from(offset), nsec, offset, zone })
}
