//! `extract` (numeric), `date_part` (double precision) and `date_trunc` with PostgreSQL's
//! units, on dates, timestamps, timestamptz (in the session's zone) and intervals.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use crate::convert::{date32, moment};
use crate::error::{fail, FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE};
use crate::udf::{arg_str, is_text, micros, wrong_types, Ctx, RowFn, FLOAT, TEXT};
use crate::zone;

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        extract_udf(),
        RowFn::new("date_part", coerce_part, |_, _, _| Ok(FLOAT), date_part)
            .stable()
            .udf(),
        RowFn::new("date_trunc", coerce_trunc, trunc_type, date_trunc)
            .stable()
            .udf(),
        timezone_udf(),
    ]
}

/// What `extract(field FROM x)` is planned as (see `planner`).
pub(crate) fn extract_udf() -> Arc<ScalarUDF> {
    RowFn::new("extract", coerce_part, extract_type, extract)
        .stable()
        .udf()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Century,
    Day,
    Decade,
    Dow,
    Doy,
    Epoch,
    Hour,
    Isodow,
    Isoyear,
    Julian,
    Microseconds,
    Millennium,
    Milliseconds,
    Minute,
    Month,
    Quarter,
    Second,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
    Week,
    Year,
}

/// PostgreSQL's unit names, with the plural and short spellings it accepts.
fn unit(name: &str) -> Option<Unit> {
    let n = name.trim().trim_matches(['\'', '"']).to_ascii_lowercase();
    Some(match n.as_str() {
        "century" | "centuries" | "c" | "cent" => Unit::Century,
        "day" | "days" | "d" => Unit::Day,
        "decade" | "decades" | "dec" | "decs" => Unit::Decade,
        "dow" => Unit::Dow,
        "doy" => Unit::Doy,
        "epoch" => Unit::Epoch,
        "hour" | "hours" | "h" | "hr" | "hrs" => Unit::Hour,
        "isodow" => Unit::Isodow,
        "isoyear" => Unit::Isoyear,
        "julian" | "j" => Unit::Julian,
        "microseconds" | "microsecond" | "us" | "usec" | "usecs" | "useconds" => Unit::Microseconds,
        "millennium" | "millennia" | "mil" | "mils" | "millenniums" => Unit::Millennium,
        "milliseconds" | "millisecond" | "ms" | "msec" | "msecs" | "mseconds" => Unit::Milliseconds,
        "minute" | "minutes" | "m" | "min" | "mins" => Unit::Minute,
        "month" | "months" | "mon" | "mons" => Unit::Month,
        "quarter" | "qtr" => Unit::Quarter,
        "second" | "seconds" | "s" | "sec" | "secs" => Unit::Second,
        "timezone" => Unit::Timezone,
        "timezone_hour" => Unit::TimezoneHour,
        "timezone_minute" => Unit::TimezoneMinute,
        "week" | "weeks" | "w" => Unit::Week,
        "year" | "years" | "y" | "yr" | "yrs" => Unit::Year,
        _ => return None,
    })
}

fn value_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Interval(_) | DataType::Duration(_) => {
            Some(DataType::Interval(IntervalUnit::MonthDayNano))
        }
        DataType::Null => Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        DataType::Time32(_) | DataType::Time64(_) => Some(DataType::Time64(TimeUnit::Microsecond)),
        t => micros(t),
    }
}

fn coerce_part(types: &[DataType]) -> Result<Vec<DataType>> {
    match types {
        [f, v] if is_text(f) => Ok(vec![
            TEXT,
            value_type(v).ok_or_else(|| wrong_types("date_part", types))?,
        ]),
        _ => Err(wrong_types("date_part", types)),
    }
}

/// The scale of `extract`'s numeric result, which PostgreSQL sets by unit and type.
fn extract_type(
    types: &[DataType],
    scalars: &[Option<&ScalarValue>],
    _: Option<&str>,
) -> Result<DataType> {
    let unit = scalars
        .first()
        .and_then(|s| s.and_then(arg_str))
        .and_then(unit);
    let is_date = matches!(types.get(1), Some(DataType::Date32 | DataType::Date64));
    let scale = match unit {
        _ if is_date => 0,
        Some(Unit::Second | Unit::Epoch) => 6,
        Some(Unit::Milliseconds) => 3,
        Some(Unit::Julian) => 20,
        Some(_) => 0,
        None => 6,
    };
    Ok(DataType::Decimal128(38, scale))
}

fn type_name(v: &ScalarValue) -> &'static str {
    match v {
        ScalarValue::Date32(_) => "date",
        ScalarValue::TimestampMicrosecond(_, None) => "timestamp without time zone",
        ScalarValue::TimestampMicrosecond(_, Some(_)) => "timestamp with time zone",
        ScalarValue::Time64Microsecond(_) => "time without time zone",
        _ => "interval",
    }
}

const US_PER_DAY: i128 = 86_400_000_000;

/// The unit's value as an exact decimal: (digits, scale).
fn part(name: &str, v: &ScalarValue, ctx: &Ctx) -> Result<(i128, u32)> {
    let Some(u) = unit(name) else {
        return fail(
            INVALID_PARAMETER_VALUE,
            format!("unit \"{name}\" not recognized for type {}", type_name(v)),
        );
    };
    let unsupported = || {
        fail(
            FEATURE_NOT_SUPPORTED,
            format!("unit \"{name}\" not supported for type {}", type_name(v)),
        )
    };
    if let ScalarValue::Time64Microsecond(Some(us)) = v {
        return time_part(u, *us).map_or_else(unsupported, Ok);
    }
    if let ScalarValue::IntervalMonthDayNano(Some(iv)) = v {
        return interval_part(u, iv.months, iv.days, iv.nanoseconds / 1000)
            .map_or_else(unsupported, Ok);
    }
    let Some(m) = moment(v, ctx)? else {
        return unsupported();
    };
    let is_date = matches!(v, ScalarValue::Date32(_));
    let time_unit = matches!(
        u,
        Unit::Hour | Unit::Minute | Unit::Second | Unit::Milliseconds | Unit::Microseconds
    );
    let zone_unit = matches!(
        u,
        Unit::Timezone | Unit::TimezoneHour | Unit::TimezoneMinute
    );
    if is_date && (time_unit || zone_unit) || zone_unit && m.zone.is_none() {
        return unsupported();
    }
    let d = m.local;
    let year = i128::from(d.year());
    let sec_us = i128::from(d.second()) * 1_000_000 + i128::from(d.nanosecond() / 1000);
    let day_us =
        i128::from(d.num_seconds_from_midnight()) * 1_000_000 + i128::from(d.nanosecond() / 1000);
    let int = |n: i128| Ok((n, 0));
    match u {
        // Years before 1 AD: PostgreSQL's year -1 is chrono's year 0.
        Unit::Year => int(if year <= 0 { year - 1 } else { year }),
        Unit::Month => int(i128::from(d.month())),
        Unit::Day => int(i128::from(d.day())),
        Unit::Hour => int(i128::from(d.hour())),
        Unit::Minute => int(i128::from(d.minute())),
        Unit::Second => Ok((sec_us, 6)),
        Unit::Milliseconds => Ok((sec_us, 3)),
        Unit::Microseconds => int(sec_us),
        Unit::Dow => int(i128::from(d.weekday().num_days_from_sunday())),
        Unit::Isodow => int(i128::from(d.weekday().number_from_monday())),
        Unit::Doy => int(i128::from(d.ordinal())),
        Unit::Week => int(i128::from(d.iso_week().week())),
        Unit::Isoyear => int(i128::from(d.iso_week().year())),
        Unit::Quarter => int((i128::from(d.month()) - 1) / 3 + 1),
        Unit::Decade => int(if year >= 0 {
            year / 10
        } else {
            -((8 - (year - 1)) / 10)
        }),
        Unit::Century => int(if year > 0 {
            (year + 99) / 100
        } else {
            -((99 - (year - 1)) / 100)
        }),
        Unit::Millennium => int(if year > 0 {
            (year + 999) / 1000
        } else {
            -((999 - (year - 1)) / 1000)
        }),
        Unit::Julian => {
            let jd = i128::from(d.date().num_days_from_ce()) + 1_721_425;
            if is_date {
                return int(jd);
            }
            // 20 fraction digits, as PostgreSQL's numeric division gives here; past what i128
            // holds (dates tens of millennia ahead), fewer.
            let whole = jd * US_PER_DAY + day_us;
            let scale = (0..=20u32)
                .rev()
                .find(|s| whole.checked_mul(10i128.pow(*s)).is_some())
                .unwrap_or(0);
            Ok((div_round(whole * 10i128.pow(scale), US_PER_DAY), scale))
        }
        Unit::Epoch => match v {
            ScalarValue::Date32(Some(days)) => int(i128::from(*days) * 86_400),
            ScalarValue::TimestampMicrosecond(Some(us), _) => Ok((i128::from(*us), 6)),
            _ => unsupported(),
        },
        Unit::Timezone => int(i128::from(m.zone.map_or(0, |z| z.1))),
        Unit::TimezoneHour => int(i128::from(m.zone.map_or(0, |z| z.1 / 3600))),
        Unit::TimezoneMinute => int(i128::from(m.zone.map_or(0, |z| z.1 % 3600 / 60))),
    }
}

fn div_round(n: i128, d: i128) -> i128 {
    let q = n / d;
    let r = n % d;
    if r.abs() * 2 >= d.abs() {
        q + n.signum() * d.signum()
    } else {
        q
    }
}

/// A unit of an interval: PostgreSQL takes the fields as stored (25 hours stay 25 hours).
fn interval_part(u: Unit, months: i32, days: i32, us: i64) -> Option<(i128, u32)> {
    let (months, days, us) = (i128::from(months), i128::from(days), i128::from(us));
    let years = months / 12;
    Some(match u {
        Unit::Year => (years, 0),
        Unit::Month => (months % 12, 0),
        Unit::Quarter => ((months % 12) / 3 + 1, 0),
        Unit::Decade => (years / 10, 0),
        Unit::Century => (years / 100, 0),
        Unit::Millennium => (years / 1000, 0),
        Unit::Day => (days, 0),
        Unit::Hour => (us / 3_600_000_000, 0),
        Unit::Minute => (us / 60_000_000 % 60, 0),
        Unit::Second => (us % 60_000_000, 6),
        Unit::Milliseconds => (us % 60_000_000, 3),
        Unit::Microseconds => (us % 60_000_000, 0),
        // A year is 365.25 days and a month 30 days, as in PostgreSQL.
        Unit::Epoch => (
            years * 31_557_600_000_000 + (months % 12) * 2_592_000_000_000 + days * US_PER_DAY + us,
            6,
        ),
        _ => return None,
    })
}

/// A unit of a time of day.
fn time_part(u: Unit, us: i64) -> Option<(i128, u32)> {
    let us = i128::from(us);
    Some(match u {
        Unit::Hour => (us / 3_600_000_000, 0),
        Unit::Minute => (us / 60_000_000 % 60, 0),
        Unit::Second => (us % 60_000_000, 6),
        Unit::Milliseconds => (us % 60_000_000, 3),
        Unit::Microseconds => (us % 60_000_000, 0),
        Unit::Epoch => (us, 6),
        _ => return None,
    })
}

fn extract(args: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let (v, s) = part(arg_str(&args[0]).unwrap_or(""), &args[1], ctx)?;
    let DataType::Decimal128(p, target) = ctx.ret else {
        return Ok(ScalarValue::Float64(Some(v as f64 / 10f64.powi(s as i32))));
    };
    let target = *target as u32;
    let v = if target >= s {
        v * 10i128.pow(target - s)
    } else {
        div_round(v, 10i128.pow(s - target))
    };
    Ok(ScalarValue::Decimal128(Some(v), *p, target as i8))
}

fn date_part(args: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let (v, s) = part(arg_str(&args[0]).unwrap_or(""), &args[1], ctx)?;
    Ok(ScalarValue::Float64(Some(v as f64 / 10f64.powi(s as i32))))
}

fn coerce_trunc(types: &[DataType]) -> Result<Vec<DataType>> {
    match types {
        // date_trunc(unit, timestamptz, zone): truncated in that zone.
        [f, v, z] if is_text(f) && is_text(z) => match micros(v) {
            Some(DataType::Timestamp(u, Some(tz))) => {
                Ok(vec![TEXT, DataType::Timestamp(u, Some(tz)), TEXT])
            }
            Some(_) => Ok(vec![
                TEXT,
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                TEXT,
            ]),
            None => Err(wrong_types("date_trunc", types)),
        },
        [f, v] if is_text(f) => match v {
            DataType::Null => Ok(vec![TEXT, DataType::Timestamp(TimeUnit::Microsecond, None)]),
            v => Ok(vec![
                TEXT,
                micros(v).ok_or_else(|| wrong_types("date_trunc", types))?,
            ]),
        },
        _ => Err(wrong_types("date_trunc", types)),
    }
}

/// A date is truncated as the timestamptz of its midnight, as PostgreSQL casts it.
fn trunc_type(
    types: &[DataType],
    _: &[Option<&ScalarValue>],
    tz: Option<&str>,
) -> Result<DataType> {
    Ok(match types.get(1) {
        Some(DataType::Timestamp(_, z)) => DataType::Timestamp(TimeUnit::Microsecond, z.clone()),
        _ => DataType::Timestamp(TimeUnit::Microsecond, Some(zone::result_zone(tz))),
    })
}

fn truncate(name: &str, d: NaiveDateTime, type_name: &str) -> Result<NaiveDateTime> {
    let day = d.date();
    let year = d.year();
    let ymd = |y: i32, m: u32| {
        NaiveDate::from_ymd_opt(y, m, 1)
            .map(|x| x.and_time(NaiveTime::MIN))
            .ok_or_else(|| {
                crate::error::FunctionError::new(
                    crate::error::DATETIME_FIELD_OVERFLOW,
                    "timestamp out of range",
                )
                .into()
            })
    };
    let keep_us = |step: i64| -> NaiveDateTime {
        let t = d.and_utc().timestamp_micros();
        let cut = t - t.rem_euclid(step);
        chrono::DateTime::from_timestamp_micros(cut).map_or(d, |x| x.naive_utc())
    };
    match unit(name) {
        Some(Unit::Microseconds) => Ok(d),
        Some(Unit::Milliseconds) => Ok(keep_us(1_000)),
        Some(Unit::Second) => Ok(keep_us(1_000_000)),
        Some(Unit::Minute) => Ok(keep_us(60_000_000)),
        Some(Unit::Hour) => Ok(keep_us(3_600_000_000)),
        Some(Unit::Day) => Ok(day.and_time(NaiveTime::MIN)),
        Some(Unit::Week) => {
            let back = i64::from(day.weekday().num_days_from_monday());
            let monday = day
                .checked_sub_signed(chrono::Duration::days(back))
                .ok_or_else(|| {
                    crate::error::FunctionError::new(
                        crate::error::DATETIME_FIELD_OVERFLOW,
                        "timestamp out of range",
                    )
                })?;
            Ok(monday.and_time(NaiveTime::MIN))
        }
        Some(Unit::Month) => ymd(year, d.month()),
        Some(Unit::Quarter) => ymd(year, (d.month() - 1) / 3 * 3 + 1),
        Some(Unit::Year) => ymd(year, 1),
        Some(Unit::Decade) => ymd(year - year.rem_euclid(10), 1),
        Some(Unit::Century) => ymd((year - 1).div_euclid(100) * 100 + 1, 1),
        Some(Unit::Millennium) => ymd((year - 1).div_euclid(1000) * 1000 + 1, 1),
        _ => fail(
            INVALID_PARAMETER_VALUE,
            format!("unit \"{name}\" not recognized for type {type_name}"),
        ),
    }
}

fn date_trunc(args: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let name = arg_str(&args[0]).unwrap_or("");
    let tname = type_name(&args[1]);
    match &args[1] {
        ScalarValue::TimestampMicrosecond(Some(us), None) => {
            let t = truncate(name, zone::utc(*us)?, tname)?;
            Ok(ScalarValue::TimestampMicrosecond(
                Some(t.and_utc().timestamp_micros()),
                None,
            ))
        }
        ScalarValue::TimestampMicrosecond(Some(us), tz) => {
            let z = match args.get(2).and_then(arg_str) {
                Some(written) => zone::written(written)?,
                None => zone::session(ctx.tz)?,
            };
            let local = zone::localize(*us, z)?.local;
            let t = truncate(name, local, tname)?;
            Ok(ScalarValue::TimestampMicrosecond(
                Some(zone::to_utc_micros(t, z)?),
                tz.clone(),
            ))
        }
        ScalarValue::Date32(Some(days)) => {
            let z = zone::session(ctx.tz)?;
            let local = date32(*days)?.and_time(NaiveTime::MIN);
            let t = truncate(name, local, "timestamp with time zone")?;
            Ok(ScalarValue::TimestampMicrosecond(
                Some(zone::to_utc_micros(t, z)?),
                Some(zone::result_zone(ctx.tz)),
            ))
        }
        _ => Ok(ScalarValue::Null),
    }
}

/// `timezone(zone, t)`, which `t AT TIME ZONE zone` is: a timestamptz as the wall-clock time in
/// `zone` (a timestamp), or a timestamp read as wall-clock time in `zone` (a timestamptz).
fn timezone_udf() -> Arc<ScalarUDF> {
    RowFn::new(
        "timezone",
        |t| match t {
            [z, v] if is_text(z) => match (v, micros(v)) {
                (_, Some(m)) => Ok(vec![TEXT, m]),
                // An untyped literal is a timestamptz, as PostgreSQL resolves it.
                (v, None) if is_text(v) => Ok(vec![
                    TEXT,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                ]),
                _ => Err(wrong_types("timezone", t)),
            },
            _ => Err(wrong_types("timezone", t)),
        },
        |t, _, tz| {
            Ok(match &t[1] {
                DataType::Timestamp(_, Some(_)) => DataType::Timestamp(TimeUnit::Microsecond, None),
                _ => DataType::Timestamp(TimeUnit::Microsecond, Some(zone::result_zone(tz))),
            })
        },
        at_time_zone,
    )
    .udf()
}

fn at_time_zone(a: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let name = arg_str(&a[0]).unwrap_or("UTC");
    let zone = zone::written(name)?;
    Ok(match &a[1] {
        ScalarValue::TimestampMicrosecond(Some(us), Some(_)) => {
            let local = zone::localize(*us, zone)?.local;
            ScalarValue::TimestampMicrosecond(Some(local.and_utc().timestamp_micros()), None)
        }
        ScalarValue::TimestampMicrosecond(Some(us), None) => ScalarValue::TimestampMicrosecond(
            Some(zone::to_utc_micros(zone::utc(*us)?, zone)?),
            Some(zone::result_zone(ctx.tz)),
        ),
        ScalarValue::Date32(Some(d)) => ScalarValue::TimestampMicrosecond(
            Some(zone::to_utc_micros(
                date32(*d)?.and_time(NaiveTime::MIN),
                zone,
            )?),
            Some(zone::result_zone(ctx.tz)),
        ),
        _ => ScalarValue::Null,
    })
}
