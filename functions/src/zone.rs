//! The session's TimeZone: timestamptz values are stored as UTC instants and shown, truncated
//! and taken apart in the session's zone, as PostgreSQL does.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::OffsetName;
use datafusion::error::Result;

use crate::datefmt::Moment;
use crate::error::{fail, DATETIME_FIELD_OVERFLOW, INVALID_PARAMETER_VALUE};

#[derive(Clone, Copy, Debug)]
pub(crate) enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

/// `+05:30`, `-08`, `+0530`: seconds east of UTC.
fn fixed(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
        None if rest.len() == 4 => (rest[..2].parse().ok()?, rest[2..].parse().ok()?),
        None => (rest.parse().ok()?, 0),
    };
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// The session's zone; no setting means UTC.
pub(crate) fn session(tz: Option<&str>) -> Result<Zone> {
    let Some(name) = tz else {
        return Ok(Zone::Named(chrono_tz::UTC));
    };
    if let Some(f) = fixed(name) {
        // DataFusion's default "+00:00" is the UTC that PostgreSQL's default names.
        if f.local_minus_utc() == 0 {
            return Ok(Zone::Named(chrono_tz::UTC));
        }
        return Ok(Zone::Fixed(f));
    }
    match name.parse::<chrono_tz::Tz>() {
        Ok(z) => Ok(Zone::Named(z)),
        Err(_) => fail(
            INVALID_PARAMETER_VALUE,
            format!("time zone \"{name}\" not recognized"),
        ),
    }
}

/// A zone written in a statement (`AT TIME ZONE '…'`, date_trunc's third argument), read as
/// PostgreSQL reads it: a tz database name in any case, or a POSIX zone without daylight rules,
/// whose offset counts hours **west** of UTC (`'+02:00'` and `'UTC+2'` are two hours behind
/// UTC; so is a bare `'2'`).
pub(crate) fn written(name: &str) -> Result<Zone> {
    if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") {
        return Ok(Zone::Named(chrono_tz::UTC));
    }
    if let Some(z) = zone_name(name).and_then(|n| n.parse::<chrono_tz::Tz>().ok()) {
        return Ok(Zone::Named(z));
    }
    match posix_offset_west(name).and_then(FixedOffset::west_opt) {
        Some(f) if f.local_minus_utc() == 0 => Ok(Zone::Named(chrono_tz::UTC)),
        Some(f) => Ok(Zone::Fixed(f)),
        None => fail(
            INVALID_PARAMETER_VALUE,
            format!("time zone \"{name}\" not recognized"),
        ),
    }
}

/// A zone's name as the tz database spells it, matched in any case (`europe/berlin`, `cet`).
pub fn zone_name(s: &str) -> Option<&'static str> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|z| z.name().eq_ignore_ascii_case(s))
        .map(|z| z.name())
}

/// The offset of a POSIX zone without daylight rules, in seconds west of UTC: an optional
/// abbreviation (three or more letters, or anything in `<>`), then `[+-]hh[:mm[:ss]]`
/// (`+02:00`, `UTC+2`, `GMT-02:00`, `<+02>-02`, `2`).
pub fn posix_offset_west(s: &str) -> Option<i32> {
    let rest = if let Some(r) = s.strip_prefix('<') {
        &r[r.find('>')? + 1..]
    } else {
        let letters = s.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        if letters != 0 && letters < 3 {
            return None;
        }
        &s[letters..]
    };
    let (sign, body) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => (1, rest),
    };
    let mut parts = body.split(':');
    let mut seconds = 0;
    for (i, unit) in [3600, 60, 1].into_iter().enumerate() {
        let Some(p) = parts.next() else { break };
        if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: i32 = p.parse().ok()?;
        if (i == 0 && v > 24) || (i > 0 && v > 59) {
            return None;
        }
        seconds += v * unit;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(sign * seconds)
}

pub(crate) fn utc(micros: i64) -> Result<NaiveDateTime> {
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(t) => Ok(t.naive_utc()),
        None => fail(DATETIME_FIELD_OVERFLOW, "timestamp out of range"),
    }
}

/// `t` moved by `secs` seconds; out of range is PostgreSQL's 22008.
pub(crate) fn shift(t: NaiveDateTime, secs: i64) -> Result<NaiveDateTime> {
    match t.checked_add_signed(chrono::Duration::seconds(secs)) {
        Some(t) => Ok(t),
        None => fail(DATETIME_FIELD_OVERFLOW, "timestamp out of range"),
    }
}

/// A UTC instant as wall-clock time in `zone`, with the zone's abbreviation and offset.
pub(crate) fn localize(micros: i64, zone: Zone) -> Result<Moment> {
    let at = utc(micros)?;
    Ok(match zone {
        Zone::Named(z) => {
            let off = z.offset_from_utc_datetime(&at);
            let secs = off.fix().local_minus_utc();
            // Zones whose abbreviation is numeric have none in chrono-tz; PostgreSQL prints
            // the offset then.
            let abbrev = match off.abbreviation() {
                Some(a) if !a.is_empty() => a.to_string(),
                _ if secs == 0 => "UTC".to_string(),
                _ => crate::datefmt::offset_text(secs, false),
            };
            Moment {
                local: shift(at, i64::from(secs))?,
                zone: Some((abbrev, secs)),
            }
        }
        Zone::Fixed(f) => {
            let secs = f.local_minus_utc();
            Moment {
                local: shift(at, i64::from(secs))?,
                zone: Some((String::new(), secs)),
            }
        }
    })
}

/// Wall-clock time in `zone` as a UTC instant (microseconds). A time skipped by a DST change
/// is read with the offset before the change, as PostgreSQL does.
pub(crate) fn to_utc_micros(local: NaiveDateTime, zone: Zone) -> Result<i64> {
    let offset = match zone {
        Zone::Fixed(f) => f.local_minus_utc(),
        Zone::Named(z) => match z.offset_from_local_datetime(&local) {
            chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => {
                o.fix().local_minus_utc()
            }
            chrono::LocalResult::None => z
                .offset_from_utc_datetime(&shift(local, -3 * 3600)?)
                .fix()
                .local_minus_utc(),
        },
    };
    let at = shift(local, -i64::from(offset))?;
    Ok(at.and_utc().timestamp_micros())
}

/// The zone name a timestamptz result carries: the session's, or UTC.
pub(crate) fn result_zone(tz: Option<&str>) -> std::sync::Arc<str> {
    std::sync::Arc::from(tz.unwrap_or("+00:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_zones_have_abbreviations() {
        let z = session(Some("America/New_York")).unwrap();
        // 2024-03-05 14:07:09 UTC
        let m = localize(1_709_647_629_000_000, z).unwrap();
        assert_eq!(m.local.to_string(), "2024-03-05 09:07:09");
        assert_eq!(m.zone, Some(("EST".to_string(), -5 * 3600)));
        assert!(session(Some("Nowhere/City")).is_err());
        let utc = localize(0, session(Some("+00:00")).unwrap()).unwrap();
        assert_eq!(utc.zone, Some(("UTC".to_string(), 0)));
    }

    #[test]
    fn local_to_utc() {
        let z = session(Some("Europe/Berlin")).unwrap();
        let local =
            NaiveDateTime::parse_from_str("2024-07-01 12:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let m = to_utc_micros(local, z).unwrap();
        assert_eq!(utc(m).unwrap().to_string(), "2024-07-01 10:00:00");
    }
}
