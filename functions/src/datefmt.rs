//! `to_char` of dates and timestamps, and `to_date`/`to_timestamp` reading text through a
//! template, with PostgreSQL's template patterns (see `template`).

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use datafusion::error::Result;

use crate::error::{fail, DATETIME_FIELD_OVERFLOW, INVALID_DATETIME_FORMAT};
use crate::template::{cased, ordinal, parse, Key, Node, DAYS, MONTHS, ROMAN_MONTHS};

/// A local date and time, and for timestamptz the zone it is shown in.
pub(crate) struct Moment {
    pub local: NaiveDateTime,
    /// (abbreviation, seconds east of UTC); None for timestamp without time zone and dates.
    pub zone: Option<(String, i32)>,
}

/// Julian day number of 0001-01-01 minus one: `num_days_from_ce` counts from 1 there.
const JULIAN_CE: i64 = 1_721_425;

fn pad(n: i64, width: usize, fm: bool) -> String {
    if fm {
        n.to_string()
    } else if n < 0 {
        format!("-{:0width$}", n.unsigned_abs())
    } else {
        format!("{n:0width$}")
    }
}

pub(crate) fn offset_text(secs: i32, with_minutes: bool) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m) = (a / 3600, (a % 3600) / 60);
    if with_minutes || m != 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}")
    }
}

pub(crate) fn to_char(m: &Moment, template: &str) -> String {
    let d = m.local;
    let year = i64::from(d.year());
    // Years before 1 AD print as BC years counted from 1.
    let shown_year = if year <= 0 { 1 - year } else { year };
    let iso = d.iso_week();
    let iso_year = i64::from(iso.year());
    let hour = i64::from(d.hour());
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let micros = i64::from(d.nanosecond() / 1000 % 1_000_000);
    let doy = i64::from(d.ordinal());
    let iso_dow = i64::from(d.weekday().number_from_monday());
    let mut out = String::new();
    for node in parse(template).iter() {
        let (key, fm, th) = match *node {
            Node::Literal(c) => {
                out.push(c);
                continue;
            }
            Node::Field { key, fm, th } => (key, fm, th),
        };
        let num = |n: i64, w: usize| (n, pad(n, w, fm));
        let (n, s) = match key {
            Key::Hh | Key::Hh12 => num(hour12, 2),
            Key::Hh24 => num(hour, 2),
            Key::Mi => num(i64::from(d.minute()), 2),
            Key::Ss => num(i64::from(d.second()), 2),
            Key::Ms => num(micros / 1000, 3),
            Key::Us => num(micros, 6),
            Key::Ff(p) => {
                let n = micros / 10i64.pow(6 - u32::from(p));
                num(n, usize::from(p))
            }
            Key::Ssss => {
                let n = i64::from(d.num_seconds_from_midnight());
                (n, n.to_string())
            }
            Key::Meridiem(lower, dots) => {
                let s = match (hour >= 12, dots) {
                    (false, false) => "AM",
                    (true, false) => "PM",
                    (false, true) => "A.M.",
                    (true, true) => "P.M.",
                };
                out.push_str(&if lower {
                    s.to_ascii_lowercase()
                } else {
                    s.into()
                });
                continue;
            }
            Key::Era(lower, dots) => {
                let s = match (year <= 0, dots) {
                    (false, false) => "AD",
                    (true, false) => "BC",
                    (false, true) => "A.D.",
                    (true, true) => "B.C.",
                };
                out.push_str(&if lower {
                    s.to_ascii_lowercase()
                } else {
                    s.into()
                });
                continue;
            }
            Key::YCommaYyy => (
                shown_year,
                format!("{},{:03}", shown_year / 1000, shown_year % 1000),
            ),
            Key::Yyyy => num(shown_year, 4),
            Key::Yyy => num(shown_year % 1000, 3),
            Key::Yy => num(shown_year % 100, 2),
            Key::Y => num(shown_year % 10, 1),
            Key::Iyyy => num(iso_year, 4),
            Key::Iyy => num(iso_year % 1000, 3),
            Key::Iy => num(iso_year % 100, 2),
            Key::I => num(iso_year % 10, 1),
            Key::Month(case) => {
                let name = cased(MONTHS[d.month0() as usize], case);
                out.push_str(&if fm { name } else { format!("{name:<9}") });
                continue;
            }
            Key::Mon(case) => {
                out.push_str(&cased(&MONTHS[d.month0() as usize][..3], case));
                continue;
            }
            Key::Mm => num(i64::from(d.month()), 2),
            Key::Day(case) => {
                let name = cased(DAYS[d.weekday().num_days_from_sunday() as usize], case);
                out.push_str(&if fm { name } else { format!("{name:<9}") });
                continue;
            }
            Key::Dy(case) => {
                let name = DAYS[d.weekday().num_days_from_sunday() as usize];
                out.push_str(&cased(&name[..3], case));
                continue;
            }
            Key::Ddd => num(doy, 3),
            Key::Iddd => num(i64::from(iso.week() - 1) * 7 + iso_dow, 3),
            Key::Dd => num(i64::from(d.day()), 2),
            Key::D => num(i64::from(d.weekday().number_from_sunday()), 1),
            Key::Id => num(iso_dow, 1),
            Key::W => num((i64::from(d.day()) - 1) / 7 + 1, 1),
            Key::Ww => num((doy - 1) / 7 + 1, 2),
            Key::Iw => num(i64::from(iso.week()), 2),
            Key::Cc => {
                let cc = if year > 0 {
                    (year + 99) / 100
                } else {
                    -((99 - (year - 1)) / 100)
                };
                num(cc, 2)
            }
            Key::J => {
                let n = i64::from(d.date().num_days_from_ce()) + JULIAN_CE;
                (n, n.to_string())
            }
            Key::Q => num((i64::from(d.month()) - 1) / 3 + 1, 1),
            Key::Rm(lower) => {
                let r = ROMAN_MONTHS[d.month0() as usize];
                let r = if lower {
                    r.to_ascii_lowercase()
                } else {
                    r.into()
                };
                out.push_str(&if fm { r } else { format!("{r:<4}") });
                continue;
            }
            Key::Tz(lower) => {
                // A fixed offset has no abbreviation (empty here); PostgreSQL prints nothing then.
                if let Some((shown, _)) = &m.zone {
                    out.push_str(&if lower {
                        shown.to_ascii_lowercase()
                    } else {
                        shown.to_string()
                    });
                }
                continue;
            }
            Key::Tzh => {
                let off = m.zone.as_ref().map_or(0, |z| z.1);
                let sign = if off < 0 { '-' } else { '+' };
                out.push_str(&format!("{sign}{:02}", off.unsigned_abs() / 3600));
                continue;
            }
            Key::Tzm => {
                let off = m.zone.as_ref().map_or(0, |z| z.1);
                out.push_str(&format!("{:02}", off.unsigned_abs() % 3600 / 60));
                continue;
            }
            Key::Of => {
                out.push_str(&offset_text(m.zone.as_ref().map_or(0, |z| z.1), false));
                continue;
            }
        };
        out.push_str(&s);
        if let Some(upper) = th {
            out.push_str(ordinal(n, upper));
        }
    }
    out
}

/// `to_char` of an interval: its fields as stored (27 hours print as 27 in HH24), and no
/// calendar names, which an interval has none of (22007 as in PostgreSQL).
pub(crate) fn interval_to_char(
    months: i64,
    days: i64,
    micros: i64,
    template: &str,
) -> Result<String> {
    let (years, month) = (months / 12, months % 12);
    let hours = micros / 3_600_000_000;
    let minute = micros / 60_000_000 % 60;
    let second = micros / 1_000_000 % 60;
    let frac = micros % 1_000_000;
    let mut out = String::new();
    for node in parse(template).iter() {
        let (key, fm, th) = match *node {
            Node::Literal(c) => {
                out.push(c);
                continue;
            }
            Node::Field { key, fm, th } => (key, fm, th),
        };
        let num = |n: i64, w: usize| (n, pad(n, w, fm));
        let (n, text) = match key {
            Key::Hh24 => num(hours, 2),
            Key::Hh | Key::Hh12 => {
                let h = hours % 12;
                num(if h == 0 { 12 } else { h }, 2)
            }
            Key::Mi => num(minute, 2),
            Key::Ss => num(second, 2),
            Key::Ms => num(frac / 1000, 3),
            Key::Us => num(frac, 6),
            Key::Ff(p) => num(frac / 10i64.pow(6 - u32::from(p)), usize::from(p)),
            Key::Ssss => {
                let n = micros / 1_000_000;
                (n, n.to_string())
            }
            Key::Meridiem(lower, dots) => {
                let s = match (hours % 24 >= 12, dots) {
                    (false, false) => "AM",
                    (true, false) => "PM",
                    (false, true) => "A.M.",
                    (true, true) => "P.M.",
                };
                out.push_str(&if lower {
                    s.to_ascii_lowercase()
                } else {
                    s.into()
                });
                continue;
            }
            Key::Yyyy => num(years, 4),
            Key::Yyy => num(years % 1000, 3),
            Key::Yy => num(years % 100, 2),
            Key::Y => num(years % 10, 1),
            Key::YCommaYyy => (years, format!("{},{:03}", years / 1000, years % 1000)),
            Key::Mm => num(month, 2),
            Key::Dd => num(days, 2),
            Key::Ddd => num(days, 3),
            Key::Q => num(month / 3 + 1, 1),
            Key::W => num((days - 1).max(0) / 7 + 1, 1),
            Key::Cc => num(years / 100, 2),
            _ => {
                return fail(
                    INVALID_DATETIME_FORMAT,
                    "invalid format specification for an interval value",
                )
            }
        };
        out.push_str(&text);
        if let Some(upper) = th {
            out.push_str(ordinal(n, upper));
        }
    }
    Ok(out)
}

/// What a template read from text; unset fields take PostgreSQL's defaults.
#[derive(Default, Debug)]
pub(crate) struct Fields {
    year: Option<(i64, usize)>,
    month: Option<u32>,
    day: Option<u32>,
    doy: Option<u32>,
    hour: Option<(u32, bool)>,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    micros: u32,
    julian: Option<i64>,
    iso_year: Option<i64>,
    iso_week: Option<u32>,
    iso_dow: Option<u32>,
    bc: bool,
    /// Seconds east of UTC given by TZH/TZM.
    pub offset: Option<i32>,
}

fn is_separator(c: char) -> bool {
    !c.is_alphanumeric()
}

fn field_name(key: Key) -> &'static str {
    match key {
        Key::Yyyy => "YYYY",
        Key::Yyy => "YYY",
        Key::Yy => "YY",
        Key::Y => "Y",
        Key::Mm => "MM",
        Key::Dd => "DD",
        Key::Ddd => "DDD",
        Key::Hh | Key::Hh12 => "HH",
        Key::Hh24 => "HH24",
        Key::Mi => "MI",
        Key::Ss => "SS",
        Key::Ms => "MS",
        Key::Us => "US",
        Key::Month(_) => "Month",
        Key::Mon(_) => "Mon",
        Key::Iyyy => "IYYY",
        Key::Iw => "IW",
        Key::Id => "ID",
        Key::J => "J",
        _ => "field",
    }
}

/// An integer field: its width in digits, or every digit there when `greedy`.
fn read_int(
    rest: &mut &str,
    width: usize,
    signed: bool,
    greedy: bool,
    key: Key,
) -> Result<(i64, usize)> {
    let mut end = 0;
    let bytes = rest.as_bytes();
    if signed && matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let start_digits = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() && (greedy || end - start_digits < width)
    {
        end += 1;
    }
    let digits = end - start_digits;
    if !greedy && digits < width && end == bytes.len() {
        return fail(
            INVALID_DATETIME_FORMAT,
            format!(
                "source string too short for \"{}\" formatting field",
                field_name(key)
            ),
        );
    }
    let Ok(v) = rest[..end].parse::<i64>() else {
        if rest.is_empty() {
            return fail(
                INVALID_DATETIME_FORMAT,
                format!(
                    "source string too short for \"{}\" formatting field",
                    field_name(key)
                ),
            );
        }
        let shown: String = rest.chars().take(width.max(1)).collect();
        return fail(
            INVALID_DATETIME_FORMAT,
            format!("invalid value \"{shown}\" for \"{}\"", field_name(key)),
        );
    };
    *rest = &rest[end..];
    Ok((v, digits))
}

/// Reads a template's fields out of `input`.
pub(crate) fn read(input: &str, template: &str) -> Result<Fields> {
    let nodes = parse(template);
    let mut f = Fields::default();
    let mut rest = input;
    for (i, node) in nodes.iter().enumerate() {
        // The rest of the template is not read once the input is used up.
        if rest.is_empty() {
            break;
        }
        let (key, fm) = match node {
            Node::Literal(c) => {
                // A separator matches any one separator or nothing; blanks match any run of
                // blanks; other literal characters skip one input character.
                if c.is_whitespace() {
                    rest = rest.trim_start();
                } else if is_separator(*c) {
                    let mut it = rest.chars();
                    if let Some(x) = it.next() {
                        if is_separator(x) && !x.is_whitespace() {
                            rest = it.as_str();
                        }
                    }
                } else {
                    let mut it = rest.chars();
                    it.next();
                    rest = it.as_str();
                }
                continue;
            }
            Node::Field { key, fm, .. } => (*key, *fm),
        };
        rest = rest.trim_start();
        // A field followed by a separator (or nothing) reads every digit there; otherwise only
        // its own width, so 'YYYYMMDD' splits '20240305'.
        let greedy = fm
            || match nodes.get(i + 1) {
                None => true,
                Some(Node::Literal(c)) => is_separator(*c),
                Some(Node::Field { .. }) => false,
            };
        let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        match key {
            Key::Yyyy | Key::Iyyy => {
                let (v, n) = read_int(&mut rest, 4, false, greedy, key)?;
                if key == Key::Iyyy {
                    f.iso_year = Some(v);
                } else {
                    f.year = Some((v, n.max(4)));
                }
            }
            Key::YCommaYyy => {
                let (th, _) = read_int(&mut rest, 1, false, greedy, key)?;
                rest = rest.strip_prefix(',').unwrap_or(rest);
                let (v, _) = read_int(&mut rest, 3, false, greedy, key)?;
                f.year = Some((th * 1000 + v, 4));
            }
            Key::Yyy | Key::Iyy => {
                let (v, n) = read_int(&mut rest, 3, false, greedy, key)?;
                f.year = Some((v, n));
            }
            Key::Yy | Key::Iy => {
                let (v, n) = read_int(&mut rest, 2, false, greedy, key)?;
                f.year = Some((v, n));
            }
            Key::Y | Key::I => {
                let (v, n) = read_int(&mut rest, 1, false, greedy, key)?;
                f.year = Some((v, n));
            }
            Key::Mm => f.month = Some(small(read_int(&mut rest, 2, false, greedy, key)?.0)),
            Key::Dd => f.day = Some(small(read_int(&mut rest, 2, false, greedy, key)?.0)),
            Key::Ddd | Key::Iddd => {
                f.doy = Some(small(read_int(&mut rest, 3, false, greedy, key)?.0))
            }
            Key::Hh | Key::Hh12 => {
                f.hour = Some((small(read_int(&mut rest, 2, false, greedy, key)?.0), true))
            }
            Key::Hh24 => {
                f.hour = Some((small(read_int(&mut rest, 2, false, greedy, key)?.0), false))
            }
            Key::Mi => f.minute = small(read_int(&mut rest, 2, false, greedy, key)?.0),
            Key::Ss => f.second = small(read_int(&mut rest, 2, false, greedy, key)?.0),
            Key::Ms => {
                let (v, n) = read_int(&mut rest, 3, false, greedy, key)?;
                f.micros = small(v * 10i64.pow(6u32.saturating_sub(n as u32).min(6)) / 1000 * 1000);
            }
            Key::Us | Key::Ff(_) => {
                let (v, n) = read_int(&mut rest, 6, false, greedy, key)?;
                f.micros = small(v * 10i64.pow(6u32.saturating_sub(n as u32).min(6)));
            }
            Key::Ssss => {
                let (v, _) = read_int(&mut rest, 5, false, greedy, key)?;
                let v = small(v);
                f.hour = Some((v / 3600, false));
                f.minute = v / 60 % 60;
                f.second = v % 60;
            }
            Key::J => f.julian = Some(read_int(&mut rest, 7, false, greedy, key)?.0),
            Key::Iw => f.iso_week = Some(small(read_int(&mut rest, 2, false, greedy, key)?.0)),
            Key::Id => f.iso_dow = Some(small(read_int(&mut rest, 1, false, greedy, key)?.0)),
            Key::D | Key::W | Key::Ww | Key::Q | Key::Cc => {
                // Read and, as PostgreSQL does when a full date is given, not used.
                read_int(&mut rest, 2, false, greedy, key)?;
            }
            Key::Month(_) | Key::Mon(_) => {
                let lower = rest.to_ascii_lowercase();
                let full = matches!(key, Key::Month(_));
                let found = MONTHS.iter().enumerate().find_map(|(i, m)| {
                    let name = if full {
                        m.to_ascii_lowercase()
                    } else {
                        m[..3].to_ascii_lowercase()
                    };
                    lower.starts_with(&name).then_some((i, name.len()))
                });
                let Some((i, len)) = found else {
                    let shown: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
                    return fail(
                        INVALID_DATETIME_FORMAT,
                        format!("invalid value \"{shown}\" for \"{}\"", field_name(key)),
                    );
                };
                f.month = Some(i as u32 + 1);
                rest = &rest[len..];
            }
            Key::Day(_) | Key::Dy(_) => {
                let lower = rest.to_ascii_lowercase();
                let full = matches!(key, Key::Day(_));
                let found = DAYS.iter().find_map(|d| {
                    let name = if full {
                        d.to_ascii_lowercase()
                    } else {
                        d[..3].to_ascii_lowercase()
                    };
                    lower.starts_with(&name).then_some(name.len())
                });
                let Some(len) = found else {
                    return fail(INVALID_DATETIME_FORMAT, "invalid value for day name");
                };
                rest = &rest[len..];
            }
            Key::Meridiem(_, dots) | Key::Era(_, dots) => {
                let len = if dots { 4 } else { 2 };
                let word: String = rest
                    .chars()
                    .take(len)
                    .collect::<String>()
                    .to_ascii_lowercase();
                let word = word.replace('.', "");
                match (key, word.as_str()) {
                    (Key::Meridiem(..), "am") => f.pm = Some(false),
                    (Key::Meridiem(..), "pm") => f.pm = Some(true),
                    (Key::Era(..), "ad") => f.bc = false,
                    (Key::Era(..), "bc") => f.bc = true,
                    _ => {
                        return fail(
                            INVALID_DATETIME_FORMAT,
                            format!("invalid value \"{word}\" for \"AM\""),
                        )
                    }
                }
                rest = rest.get(len..).unwrap_or("");
            }
            Key::Rm(_) => {
                let upper = rest.to_ascii_uppercase();
                // Longest numeral first: VIII before VII before VI before V.
                let mut best: Option<(usize, usize)> = None;
                for (i, r) in ROMAN_MONTHS.iter().enumerate() {
                    if upper.starts_with(r) && best.is_none_or(|(_, l)| r.len() > l) {
                        best = Some((i, r.len()));
                    }
                }
                let Some((i, len)) = best else {
                    return fail(INVALID_DATETIME_FORMAT, "invalid value for \"RM\"");
                };
                f.month = Some(i as u32 + 1);
                rest = &rest[len..];
            }
            Key::Tzh => {
                let neg = rest.starts_with('-');
                let (v, _) = read_int(&mut rest, 2, true, greedy, key)?;
                let secs = i32::try_from(v.abs() * 3600).unwrap_or(i32::MAX);
                f.offset = Some(if neg { -secs } else { secs });
            }
            Key::Tzm => {
                let (v, _) = read_int(&mut rest, 2, false, greedy, key)?;
                let m = i32::try_from(v * 60).unwrap_or(i32::MAX);
                f.offset = Some(match f.offset {
                    Some(o) if o < 0 => o - m,
                    Some(o) => o + m,
                    None => m,
                });
            }
            Key::Tz(_) | Key::Of => {
                return fail(
                    crate::error::FEATURE_NOT_SUPPORTED,
                    "formatting field \"TZ\" is only supported in to_char",
                );
            }
        }
    }
    Ok(f)
}

fn out_of_range(input: &str) -> datafusion::error::DataFusionError {
    crate::error::FunctionError::new(
        DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{input}\""),
    )
    .into()
}

/// PostgreSQL completes years given with fewer than four digits to the one nearest 2020.
fn full_year(v: i64, digits: usize) -> i64 {
    match digits {
        1 => v + 2000,
        2 if v < 70 => v + 2000,
        2 => v + 1900,
        3 if v < 520 => v + 2000,
        3 => v + 1000,
        _ => v,
    }
}

impl Fields {
    pub(crate) fn date(&self, input: &str) -> Result<NaiveDate> {
        if let Some(j) = self.julian {
            let days = i32::try_from(j - JULIAN_CE).map_err(|_| out_of_range(input))?;
            return NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(|| out_of_range(input));
        }
        if let (Some(y), Some(w)) = (self.iso_year, self.iso_week) {
            let dow = self.iso_dow.unwrap_or(1);
            let weekday =
                chrono::Weekday::try_from(u8::try_from(dow.saturating_sub(1)).unwrap_or(255))
                    .map_err(|_| out_of_range(input))?;
            let y = i32::try_from(y).map_err(|_| out_of_range(input))?;
            return NaiveDate::from_isoywd_opt(y, w, weekday).ok_or_else(|| out_of_range(input));
        }
        // No year: PostgreSQL's year 0 (1 BC).
        let mut year = self.year.map_or(0, |(v, n)| full_year(v, n));
        if self.bc {
            year = 1 - year;
        }
        let year = i32::try_from(year).map_err(|_| out_of_range(input))?;
        if let (Some(doy), None) = (self.doy, self.month) {
            return NaiveDate::from_yo_opt(year, doy).ok_or_else(|| out_of_range(input));
        }
        // A zero month or day is PostgreSQL's "not given".
        let month = self.month.filter(|m| *m != 0).unwrap_or(1);
        let day = self.day.filter(|d| *d != 0).unwrap_or(1);
        NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| out_of_range(input))
    }

    pub(crate) fn datetime(&self, input: &str) -> Result<NaiveDateTime> {
        let date = self.date(input)?;
        let mut hour = 0;
        if let Some((h, twelve)) = self.hour {
            hour = h;
            if twelve || self.pm.is_some() {
                if !(1..=12).contains(&h) {
                    return fail(
                        INVALID_DATETIME_FORMAT,
                        format!("hour \"{h}\" is invalid for the 12-hour clock"),
                    );
                }
                hour = match self.pm {
                    Some(true) if h < 12 => h + 12,
                    Some(false) if h == 12 => 0,
                    _ => h,
                };
            }
        }
        let time = NaiveTime::from_hms_micro_opt(hour, self.minute, self.second, self.micros)
            .ok_or_else(|| out_of_range(input))?;
        Ok(date.and_time(time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Moment {
        Moment {
            local: NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap(),
            zone: None,
        }
    }

    #[test]
    fn to_char_intervals() {
        let h = 3_600_000_000i64;
        assert_eq!(
            interval_to_char(0, 0, 15 * h + 2 * 60_000_000 + 12_500_000, "HH24:MI:SS.MS").unwrap(),
            "15:02:12.500"
        );
        assert_eq!(
            interval_to_char(
                14,
                3,
                27 * h + 4 * 60_000_000 + 5_000_000,
                "YYYY-MM-DD HH24 HH HH12 MI SS"
            )
            .unwrap(),
            "0001-02-03 27 03 03 04 05"
        );
        assert_eq!(interval_to_char(0, 0, -3 * h, "HH24:MI").unwrap(), "-03:00");
        assert_eq!(interval_to_char(0, 40, 0, "DD DDD").unwrap(), "40 040");
        assert_eq!(interval_to_char(0, 0, 0, "HH12 AM").unwrap(), "12 AM");
        assert_eq!(interval_to_char(14, 0, 0, "Q").unwrap(), "1");
        assert_eq!(interval_to_char(0, 40, 0, "W").unwrap(), "6");
        assert_eq!(interval_to_char(2400, 0, 0, "CC").unwrap(), "02");
        assert_eq!(
            code(interval_to_char(14, 0, 0, "Mon MM").unwrap_err()),
            "22007"
        );
        assert_eq!(code(interval_to_char(0, 40, 0, "D").unwrap_err()), "22007");
    }

    fn code(e: datafusion::error::DataFusionError) -> &'static str {
        crate::error::FunctionError::find(&e).unwrap().sqlstate
    }

    // Expected values from PostgreSQL 15.
    #[test]
    fn to_char_dates() {
        let d = ts("2024-03-05 00:00:00");
        assert_eq!(
            to_char(&d, "FMDay, DDth Mon YYYY"),
            "Tuesday, 05th Mar 2024"
        );
        assert_eq!(to_char(&d, "YYYY-MM"), "2024-03");
        assert_eq!(
            to_char(
                &d,
                r#""YYYY" \"YYYY\" "a\"b" Xyz yyyy Yyyy hh24:Mi:ss \YYYY "q\\r""#
            ),
            r#"YYYY "2024" a"b X4z 2024 4024 00:M4:00 \2024 q\r"#
        );
        assert_eq!(to_char(&d, "yyyy-mm-dd Dd dD mOn"), "2024-03-05 33 33 mOn");
        let j = ts("2024-01-01 00:00:00");
        assert_eq!(
            to_char(&j, "IDDD IW IYYY J CC RM rm W WW Y,YYY yyy yy y FMDDth ddTH FMMonth FMday dy DY MONTH"),
            "001 01 2024 2460311 21 I    i    1 01 2,024 024 24 4 1st 01ST January monday mon MON JANUARY  "
        );
        assert_eq!(
            to_char(&ts("2024-12-30 14:07:09"), "IYYY-IW-ID IYY IY I"),
            "2025-01-1 025 25 5"
        );
    }

    #[test]
    fn to_char_times() {
        let t = ts("2024-03-05 14:07:09.123456");
        assert_eq!(
            to_char(&t, "HH12:MI:SS AM US MS Month| Dy D ID DDD IW IYYY WW Q"),
            "02:07:09 PM 123456 123 March    | Tue 3 2 065 10 2024 10 1"
        );
        let m = ts("2024-03-05 00:07:09.5");
        assert_eq!(
            to_char(&m, "HH HH12 am A.M. p.m. SSSS SSSSS FF1 FF3 FF6 AD bc B.C."),
            "12 12 am A.M. a.m. 429 429 5 500 500000 AD ad A.D."
        );
        assert_eq!(
            to_char(&ts("2024-03-05 14:07:09"), "FMHH12 FMMI SSth FMDDD \"x"),
            "2 7 09th 65 x"
        );
        assert_eq!(
            to_char(&ts("2024-03-05 14:07:09"), "[TZ tz OF TZH:TZM]"),
            "[  +00 +00:00]"
        );
        let z = Moment {
            local: ts("2024-03-05 09:07:09").local,
            zone: Some(("EST".into(), -5 * 3600)),
        };
        assert_eq!(
            to_char(&z, "HH24:MI TZ tz OF TZH:TZM"),
            "09:07 EST est -05 -05:00"
        );
    }

    #[test]
    fn to_char_bc() {
        let d = Moment {
            local: NaiveDate::from_ymd_opt(-56, 3, 15)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            zone: None,
        };
        assert_eq!(to_char(&d, "YYYY AD CC"), "0057 BC -01");
    }

    fn date(input: &str, t: &str) -> Result<String> {
        Ok(read(input, t)?.date(input)?.format("%Y-%m-%d").to_string())
    }

    #[test]
    fn reads_dates_as_postgres() {
        assert_eq!(date("1995-01-01", "YYYY-MM-DD").unwrap(), "1995-01-01");
        assert_eq!(date("20240305", "YYYYMMDD").unwrap(), "2024-03-05");
        assert_eq!(date("24-3-5", "YY-MM-DD").unwrap(), "2024-03-05");
        assert_eq!(date("24-3-5", "YYYY-MM-DD").unwrap(), "0024-03-05");
        assert_eq!(date("5 March 2024", "DD Month YYYY").unwrap(), "2024-03-05");
        assert_eq!(date("  2024   03 05", "YYYY MM DD").unwrap(), "2024-03-05");
        assert_eq!(
            date("2024/03/05 trailing", "YYYY-MM-DD").unwrap(),
            "2024-03-05"
        );
        assert_eq!(date("2024-3", "YYYY-MM").unwrap(), "2024-03-01");
        assert_eq!(date("2024 065", "YYYY DDD").unwrap(), "2024-03-05");
        assert_eq!(date("2024-W10-2", "IYYY-\"W\"IW-ID").unwrap(), "2024-03-05");
        assert_eq!(date("2460311", "J").unwrap(), "2024-01-01");
        assert_eq!(date("2024Mar05", "YYYYMonDD").unwrap(), "2024-03-05");
        // chrono writes years past 9999 with a sign.
        assert_eq!(date("12345-01-01", "YYYY-MM-DD").unwrap(), "+12345-01-01");
        assert_eq!(date("202", "YYY").unwrap(), "2202-01-01");
        assert_eq!(date("9", "Y").unwrap(), "2009-01-01");
        assert_eq!(date("2024-00-10", "YYYY-MM-DD").unwrap(), "2024-01-10");
        assert_eq!(date("2024-03-00", "YYYY-MM-DD").unwrap(), "2024-03-01");
        assert_eq!(date("2024-03-05", "YYYY-MM-DD HH24").unwrap(), "2024-03-05");
        assert_eq!(date("2024031", "YYYYMMDD").unwrap(), "2024-03-01");
        assert_eq!(date("", "YYYY").unwrap(), "0000-01-01");
        // No year given: year 0, which PostgreSQL prints as 0001 BC.
        assert_eq!(date("03", "MM").unwrap(), "0000-03-01");
    }

    #[test]
    fn date_errors_carry_sqlstates() {
        assert_eq!(code(date("2024-13-01", "YYYY-MM-DD").unwrap_err()), "22008");
        assert_eq!(code(date("2024-02-30", "YYYY-MM-DD").unwrap_err()), "22008");
        assert_eq!(code(date("xx", "YYYY").unwrap_err()), "22007");
        assert_eq!(code(date("2024-ab-01", "YYYY-MM-DD").unwrap_err()), "22007");
        assert_eq!(
            code(date("2024 Foo 01", "YYYY Mon DD").unwrap_err()),
            "22007"
        );
        assert_eq!(code(date("12345", "YYYYMMDD").unwrap_err()), "22007");
    }

    fn stamp(input: &str, t: &str) -> Result<(String, Option<i32>)> {
        let f = read(input, t)?;
        Ok((
            f.datetime(input)?
                .format("%Y-%m-%d %H:%M:%S%.f")
                .to_string(),
            f.offset,
        ))
    }

    #[test]
    fn reads_timestamps_as_postgres() {
        assert_eq!(
            stamp("2024-03-05 02:07:09 PM", "YYYY-MM-DD HH:MI:SS AM")
                .unwrap()
                .0,
            "2024-03-05 14:07:09"
        );
        assert_eq!(
            stamp("2024-03-05 14:07:09.123", "YYYY-MM-DD HH24:MI:SS.MS")
                .unwrap()
                .0,
            "2024-03-05 14:07:09.123"
        );
        assert_eq!(
            stamp(
                "2024-03-05 14:07:09 +05:30",
                "YYYY-MM-DD HH24:MI:SS TZH:TZM"
            )
            .unwrap(),
            ("2024-03-05 14:07:09".into(), Some(5 * 3600 + 30 * 60))
        );
        assert_eq!(
            code(stamp("2024-03-05 13:07", "YYYY-MM-DD HH12:MI").unwrap_err()),
            "22007"
        );
    }
}

#[cfg(test)]
mod differential {
    /// Compares with cases PostgreSQL printed (timestamp, template, [result] per line, tab
    /// separated) in cases/ (see cases/README.md).
    #[test]
    fn against_postgres_cases() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/cases/to_char_timestamp.tsv"
        ));
        let mut bad = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 3 {
                continue;
            }
            let local =
                chrono::NaiveDateTime::parse_from_str(f[0], "%Y-%m-%d %H:%M:%S%.f").unwrap();
            let got = format!(
                "[{}]",
                super::to_char(&super::Moment { local, zone: None }, f[1])
            );
            if got != f[2] {
                bad += 1;
                println!("{}\t{}\tpg {}\tours {}", f[0], f[1], f[2], got);
            }
        }
        assert_eq!(bad, 0, "{bad} cases differ from PostgreSQL's");
    }
}

#[cfg(test)]
mod differential_reading {
    /// Compares with what PostgreSQL's to_date read (input, template, date or `ERROR code`
    /// per line, tab separated) in cases/ (see cases/README.md).
    #[test]
    fn against_postgres_cases() {
        let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/cases/to_date.tsv"));
        let mut bad = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 3 {
                continue;
            }
            let got = super::read(f[0], f[1]).and_then(|r| r.date(f[0]));
            let got = match got {
                Ok(d) => d.format("%Y-%m-%d").to_string(),
                Err(e) => format!(
                    "ERROR {}",
                    crate::error::FunctionError::find(&e).map_or("?", |f| f.sqlstate)
                ),
            };
            if got != f[2] {
                bad += 1;
                println!("{}\t{}\tpg {}\tours {}", f[0], f[1], f[2], got);
            }
        }
        assert_eq!(bad, 0, "{bad} cases differ from PostgreSQL's");
    }
}
