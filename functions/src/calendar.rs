//! Calendar arithmetic as PostgreSQL does it: `age` (field-wise difference, borrowing days
//! from the month as PostgreSQL does), `make_date`, `make_time`, `make_timestamp`,
//! `make_interval`, `justify_days`/`justify_hours`/`justify_interval`, `isfinite`, and an
//! interval multiplied or divided by a number (`interval '1 day' * 3`, which DataFusion
//! refuses), cascading fractions of months into days and of days into time as PostgreSQL does.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use crate::convert::{days32, moment, number_arg};
use crate::error::{fail, DATETIME_FIELD_OVERFLOW};
use crate::udf::{arg_f64, arg_i64, micros, wrong_types, Ctx, RowFn, FLOAT, INT};
use crate::zone;

const INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);
const US_PER_DAY: i64 = 86_400_000_000;

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        interval_scale_udf(),
        RowFn::new("age", coerce_age, |_, _, _| Ok(INTERVAL), age)
            .stable()
            .udf(),
        RowFn::new(
            "make_date",
            |t| ints("make_date", t, 3),
            |_, _, _| Ok(DataType::Date32),
            make_date,
        )
        .udf(),
        RowFn::new(
            "make_time",
            |t| ints_then_float("make_time", t, 3),
            |_, _, _| Ok(DataType::Time64(TimeUnit::Microsecond)),
            make_time,
        )
        .udf(),
        RowFn::new(
            "make_timestamp",
            |t| ints_then_float("make_timestamp", t, 6),
            |_, _, _| Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
            make_timestamp,
        )
        .udf(),
        RowFn::new(
            "make_interval",
            coerce_make_interval,
            |_, _, _| Ok(INTERVAL),
            make_interval,
        )
        .udf(),
        RowFn::new(
            "justify_days",
            one_interval,
            |_, _, _| Ok(INTERVAL),
            |a, _| justify(&a[0], true, false),
        )
        .udf(),
        RowFn::new(
            "justify_hours",
            one_interval,
            |_, _, _| Ok(INTERVAL),
            |a, _| justify(&a[0], false, true),
        )
        .udf(),
        RowFn::new(
            "justify_interval",
            one_interval,
            |_, _, _| Ok(INTERVAL),
            |a, _| justify(&a[0], true, true),
        )
        .udf(),
        RowFn::new(
            "isfinite",
            |t| match t {
                [x] => Ok(vec![micros(x).unwrap_or(INTERVAL)]),
                _ => Err(wrong_types("isfinite", t)),
            },
            |_, _, _| Ok(DataType::Boolean),
            // The engine's dates and timestamps have no infinities.
            |_, _| Ok(ScalarValue::Boolean(Some(true))),
        )
        .udf(),
    ]
}

fn ints(name: &str, t: &[DataType], n: usize) -> Result<Vec<DataType>> {
    if t.len() == n && t.iter().all(|x| x.is_integer() || x.is_null()) {
        Ok(vec![INT; n])
    } else {
        Err(wrong_types(name, t))
    }
}

/// Integer fields, the last (seconds) fractional.
fn ints_then_float(name: &str, t: &[DataType], n: usize) -> Result<Vec<DataType>> {
    if t.len() == n
        && t[..n - 1].iter().all(|x| x.is_integer() || x.is_null())
        && (number_arg(&t[n - 1]).is_some() || t[n - 1].is_null())
    {
        let mut v = vec![INT; n];
        v[n - 1] = FLOAT;
        Ok(v)
    } else {
        Err(wrong_types(name, t))
    }
}

fn coerce_age(t: &[DataType]) -> Result<Vec<DataType>> {
    let ts = |x: &DataType| -> Option<DataType> {
        let plain = DataType::Timestamp(TimeUnit::Microsecond, None);
        if x.is_null() {
            return Some(plain);
        }
        match micros(x)? {
            DataType::Date32 => Some(plain),
            other => Some(other),
        }
    };
    match t {
        [a] | [a, _] if ts(a).is_none() => Err(wrong_types("age", t)),
        [a] => Ok(vec![ts(a).unwrap_or(FLOAT)]),
        [a, b] => Ok(vec![
            ts(a).unwrap_or(FLOAT),
            ts(b).ok_or_else(|| wrong_types("age", t))?,
        ]),
        _ => Err(wrong_types("age", t)),
    }
}

fn local(v: &ScalarValue, ctx: &Ctx) -> Result<Option<NaiveDateTime>> {
    Ok(moment(v, ctx)?.map(|m| m.local))
}

fn days_in_month(year: i32, month: u32) -> i64 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(ny, nm, 1),
        NaiveDate::from_ymd_opt(year, month, 1),
    ) {
        (Some(a), Some(b)) => (a - b).num_days(),
        _ => 30,
    }
}

/// `t1 - t2` field by field, borrowing as PostgreSQL's `age` does.
fn age_of(t1: NaiveDateTime, t2: NaiveDateTime) -> IntervalMonthDayNano {
    let neg = t1 < t2;
    let us = |t: &NaiveDateTime| i64::from(t.nanosecond() / 1000);
    let mut f = [
        i64::from(t1.year()) - i64::from(t2.year()),
        i64::from(t1.month()) - i64::from(t2.month()),
        i64::from(t1.day()) - i64::from(t2.day()),
        i64::from(t1.hour()) - i64::from(t2.hour()),
        i64::from(t1.minute()) - i64::from(t2.minute()),
        i64::from(t1.second()) - i64::from(t2.second()),
        us(&t1) - us(&t2),
    ];
    if neg {
        f.iter_mut().for_each(|x| *x = -*x);
    }
    let [year, mon, mday, hour, min, sec, fsec] = &mut f;
    while *fsec < 0 {
        *fsec += 1_000_000;
        *sec -= 1;
    }
    while *sec < 0 {
        *sec += 60;
        *min -= 1;
    }
    while *min < 0 {
        *min += 60;
        *hour -= 1;
    }
    while *hour < 0 {
        *hour += 24;
        *mday -= 1;
    }
    // Days are borrowed from the month of the earlier timestamp.
    let from = if neg { t1 } else { t2 };
    while *mday < 0 {
        *mday += days_in_month(from.year(), from.month());
        *mon -= 1;
    }
    while *mon < 0 {
        *mon += 12;
        *year -= 1;
    }
    if neg {
        f.iter_mut().for_each(|x| *x = -*x);
    }
    let [year, mon, mday, hour, min, sec, fsec] = f;
    let time_us = ((hour * 60 + min) * 60 + sec) * 1_000_000 + fsec;
    IntervalMonthDayNano::new(
        (year * 12 + mon) as i32,
        mday as i32,
        time_us.saturating_mul(1000),
    )
}

fn age(a: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let t2 = local(a.last().unwrap_or(&ScalarValue::Null), ctx)?;
    let t1 = if a.len() == 2 {
        local(&a[0], ctx)?
    } else {
        // age(x) is age(current_date, x): midnight today in the session's zone.
        let now = chrono::Utc::now().timestamp_micros();
        Some(
            zone::localize(now, zone::session(ctx.tz)?)?
                .local
                .date()
                .and_time(NaiveTime::MIN),
        )
    };
    Ok(ScalarValue::IntervalMonthDayNano(match (t1, t2) {
        (Some(t1), Some(t2)) => Some(age_of(t1, t2)),
        _ => None,
    }))
}

fn field(v: &ScalarValue) -> i64 {
    arg_i64(v).unwrap_or(0)
}

fn make_date(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let (y, m, d) = (field(&a[0]), field(&a[1]), field(&a[2]));
    // PostgreSQL reads a negative year as BC.
    let year = if y < 0 { y + 1 } else { y };
    let date = (y != 0)
        .then(|| {
            NaiveDate::from_ymd_opt(
                i32::try_from(year).ok()?,
                u32::try_from(m).ok()?,
                u32::try_from(d).ok()?,
            )
        })
        .flatten();
    match date {
        Some(date) => Ok(ScalarValue::Date32(Some(days32(date)?))),
        None => fail(
            DATETIME_FIELD_OVERFLOW,
            format!("date field value out of range: {y}-{m:02}-{d:02}"),
        ),
    }
}

fn time_of(h: i64, m: i64, s: f64) -> Option<NaiveTime> {
    if !(0.0..60.0).contains(&s) {
        return None;
    }
    let us = (s * 1e6).round() as i64;
    NaiveTime::from_hms_micro_opt(
        u32::try_from(h).ok()?,
        u32::try_from(m).ok()?,
        u32::try_from(us / 1_000_000).ok()?,
        u32::try_from(us % 1_000_000).ok()?,
    )
}

fn make_time(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let (h, m, s) = (field(&a[0]), field(&a[1]), arg_f64(&a[2]).unwrap_or(0.0));
    match time_of(h, m, s) {
        Some(t) => Ok(ScalarValue::Time64Microsecond(Some(
            i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1000),
        ))),
        None => fail(
            DATETIME_FIELD_OVERFLOW,
            format!("time field value out of range: {h:02}:{m:02}:{s:02}"),
        ),
    }
}

fn make_timestamp(a: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let ScalarValue::Date32(Some(days)) = make_date(&a[..3], ctx)? else {
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    };
    let (h, m, s) = (field(&a[3]), field(&a[4]), arg_f64(&a[5]).unwrap_or(0.0));
    let Some(t) = time_of(h, m, s) else {
        return fail(
            DATETIME_FIELD_OVERFLOW,
            format!("time field value out of range: {h:02}:{m:02}:{s:02}"),
        );
    };
    let us = i64::from(days) * US_PER_DAY
        + i64::from(t.num_seconds_from_midnight()) * 1_000_000
        + i64::from(t.nanosecond() / 1000);
    Ok(ScalarValue::TimestampMicrosecond(Some(us), None))
}

fn coerce_make_interval(t: &[DataType]) -> Result<Vec<DataType>> {
    if t.is_empty() || t.len() > 7 {
        return Err(wrong_types("make_interval", t));
    }
    if t.len() == 7 {
        return ints_then_float("make_interval", t, 7);
    }
    ints("make_interval", t, t.len())
}

/// make_interval(years, months, weeks, days, hours, mins, secs), missing ones zero.
fn make_interval(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let g = |i: usize| a.get(i).map_or(0, field);
    let secs = a.get(6).and_then(arg_f64).unwrap_or(0.0);
    let months = g(0).checked_mul(12).and_then(|y| y.checked_add(g(1)));
    let days = g(2).checked_mul(7).and_then(|w| w.checked_add(g(3)));
    let time_us = (g(4) as f64 * 3600.0 + g(5) as f64 * 60.0 + secs) * 1e6;
    match (
        months.and_then(|m| i32::try_from(m).ok()),
        days.and_then(|d| i32::try_from(d).ok()),
    ) {
        (Some(m), Some(d)) if time_us.abs() < 9.2e15 => {
            Ok(ScalarValue::IntervalMonthDayNano(Some(
                IntervalMonthDayNano::new(m, d, (time_us.round() as i64) * 1000),
            )))
        }
        _ => fail(
            crate::error::NUMERIC_VALUE_OUT_OF_RANGE,
            "interval out of range",
        ),
    }
}

fn one_interval(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [DataType::Interval(_) | DataType::Duration(_) | DataType::Null] => Ok(vec![INTERVAL]),
        _ => Err(wrong_types("justify_interval", t)),
    }
}

/// 30-day months and 24-hour days, as PostgreSQL's justify functions count.
fn justify(v: &ScalarValue, days_to_months: bool, hours_to_days: bool) -> Result<ScalarValue> {
    let ScalarValue::IntervalMonthDayNano(Some(iv)) = v else {
        return Ok(ScalarValue::IntervalMonthDayNano(None));
    };
    let (mut months, mut days, mut us) = (
        i64::from(iv.months),
        i64::from(iv.days),
        iv.nanoseconds / 1000,
    );
    if hours_to_days {
        days += us / US_PER_DAY;
        us %= US_PER_DAY;
    }
    if days_to_months {
        months += days / 30;
        days %= 30;
    }
    if hours_to_days && days_to_months {
        // Signs of the parts agree afterwards, as justify_interval makes them.
        if months > 0 && (days < 0 || days == 0 && us < 0) {
            months -= 1;
            days += 30;
        } else if months < 0 && (days > 0 || days == 0 && us > 0) {
            months += 1;
            days -= 30;
        }
        if days > 0 && us < 0 {
            days -= 1;
            us += US_PER_DAY;
        } else if days < 0 && us > 0 {
            days += 1;
            us -= US_PER_DAY;
        }
    }
    match (i32::try_from(months), i32::try_from(days)) {
        (Ok(m), Ok(d)) => Ok(ScalarValue::IntervalMonthDayNano(Some(
            IntervalMonthDayNano::new(m, d, us * 1000),
        ))),
        _ => fail(
            crate::error::NUMERIC_VALUE_OUT_OF_RANGE,
            "interval out of range",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn iv(months: i32, days: i32, secs: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(months, days, secs * 1_000_000_000)
    }

    // Expected values from PostgreSQL 15.
    #[test]
    fn age_borrows_like_postgres() {
        assert_eq!(
            age_of(ts("2024-03-05 10:00:00"), ts("2023-01-31 12:30:00")),
            iv(13, 4, 21 * 3600 + 30 * 60)
        );
        assert_eq!(
            age_of(ts("2023-01-31 00:00:00"), ts("2024-03-05 10:00:00")),
            iv(-13, -5, -10 * 3600)
        );
        assert_eq!(
            age_of(ts("2024-03-01 00:00:00"), ts("2024-01-31 00:00:00")),
            iv(1, 1, 0)
        );
        assert_eq!(
            age_of(ts("2024-02-29 00:00:00"), ts("2023-02-28 00:00:00")),
            iv(12, 1, 0)
        );
    }

    #[test]
    fn justify() {
        let j = |v: IntervalMonthDayNano, d, h| match super::justify(
            &ScalarValue::IntervalMonthDayNano(Some(v)),
            d,
            h,
        )
        .unwrap()
        {
            ScalarValue::IntervalMonthDayNano(Some(x)) => x,
            _ => unreachable!(),
        };
        assert_eq!(j(iv(0, 35, 0), true, false), iv(1, 5, 0));
        assert_eq!(j(iv(0, 0, 27 * 3600), false, true), iv(0, 1, 3 * 3600));
        assert_eq!(j(iv(1, 0, -3600), true, true), iv(0, 29, 23 * 3600));
    }

    #[test]
    fn make_functions_check_ranges() {
        let ctx_ret = DataType::Date32;
        let ctx = Ctx {
            tz: None,
            ret: &ctx_ret,
        };
        let i = |v: i64| ScalarValue::Int64(Some(v));
        assert_eq!(
            make_date(&[i(2024), i(2), i(29)], &ctx).unwrap(),
            ScalarValue::Date32(Some(19782))
        );
        let e = make_date(&[i(2024), i(2), i(30)], &ctx).unwrap_err();
        assert_eq!(
            crate::error::FunctionError::find(&e).unwrap().sqlstate,
            "22008"
        );
        let e = make_time(&[i(25), i(0), ScalarValue::Float64(Some(0.0))], &ctx).unwrap_err();
        assert_eq!(
            crate::error::FunctionError::find(&e).unwrap().sqlstate,
            "22008"
        );
        assert_eq!(
            make_interval(
                &[
                    i(1),
                    i(2),
                    i(1),
                    i(3),
                    i(4),
                    i(5),
                    ScalarValue::Float64(Some(6.5))
                ],
                &ctx
            )
            .unwrap(),
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                14,
                10,
                14_706_500_000_000
            )))
        );
    }
}

#[cfg(test)]
mod differential {
    /// Compares with PostgreSQL's `age` (a, b, months, days, seconds per line, tab separated)
    /// in cases/ (see cases/README.md).
    #[test]
    fn against_postgres_cases() {
        let ts = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/cases/age.tsv"));
        let mut bad = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 5 {
                continue;
            }
            let iv = super::age_of(ts(f[0]), ts(f[1]));
            let got = (
                i64::from(iv.months),
                i64::from(iv.days),
                iv.nanoseconds / 1_000_000_000,
            );
            let want = (
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            );
            if got != want {
                bad += 1;
                println!("{} - {}\tpg {want:?}\tours {got:?}", f[0], f[1]);
            }
        }
        assert_eq!(bad, 0, "{bad} cases differ from PostgreSQL's");
    }
}

/// The function `interval * n`, `n * interval` and `interval / n` are planned as: the interval
/// and the factor (a divisor is passed as itself, with `true`).
pub(crate) const INTERVAL_SCALE: &str = "meshgate_interval_scale";

pub(crate) fn interval_scale_udf() -> Arc<ScalarUDF> {
    RowFn::new(
        INTERVAL_SCALE,
        |t| match t {
            [DataType::Interval(_), f, DataType::Boolean] if f.is_numeric() || f.is_null() => {
                Ok(vec![INTERVAL, FLOAT, DataType::Boolean])
            }
            _ => Err(wrong_types(INTERVAL_SCALE, t)),
        },
        |_, _, _| Ok(INTERVAL),
        interval_scale,
    )
    .udf()
}

/// PostgreSQL's rounding of cascaded fractions to microseconds' worth of precision (TSROUND).
fn ts_round(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

fn interval_scale(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let (
        ScalarValue::IntervalMonthDayNano(Some(i)),
        Some(factor),
        ScalarValue::Boolean(Some(divide)),
    ) = (&a[0], arg_f64(&a[1]), &a[2])
    else {
        return Ok(ScalarValue::IntervalMonthDayNano(None));
    };
    if *divide && factor == 0.0 {
        return fail(crate::error::DIVISION_BY_ZERO, "division by zero");
    }
    let by = |x: f64| if *divide { x / factor } else { x * factor };
    let out_of_range = || fail(DATETIME_FIELD_OVERFLOW, "interval out of range");
    let whole = |x: f64| -> Result<i32> {
        if x.is_nan() || x > i32::MAX as f64 || x < i32::MIN as f64 {
            return out_of_range();
        }
        Ok(x as i32)
    };
    let months = whole(by(i.months as f64))?;
    let mut days = whole(by(i.days as f64))?;
    let month_remainder_days = ts_round((by(i.months as f64) - months as f64) * 30.0);
    let mut sec_remainder = ts_round(
        (by(i.days as f64) - days as f64 + month_remainder_days - month_remainder_days.trunc())
            * 86_400.0,
    );
    if sec_remainder.abs() >= 86_400.0 {
        let carried = (sec_remainder / 86_400.0).trunc();
        days = days
            .checked_add(carried as i32)
            .map_or_else(out_of_range, Ok)?;
        sec_remainder -= carried * 86_400.0;
    }
    days = days
        .checked_add(month_remainder_days as i32)
        .map_or_else(out_of_range, Ok)?;
    let micros = (by((i.nanoseconds / 1000) as f64) + sec_remainder * 1e6).round_ties_even();
    if micros.is_nan() || micros.abs() >= 9.2e18 / 1000.0 {
        return fail(DATETIME_FIELD_OVERFLOW, "interval out of range");
    }
    Ok(ScalarValue::IntervalMonthDayNano(Some(
        IntervalMonthDayNano::new(months, days, micros as i64 * 1000),
    )))
}
