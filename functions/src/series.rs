//! Set-returning functions as list-valued ones: `generate_series` and `generate_subscripts`
//! return the whole set as one list, which the SQL front end unnests into rows (in FROM and in
//! the select list alike), so one function serves both places.
//!
//! PostgreSQL picks the element type from the arguments: integers give integer, bigints give
//! bigint, numerics numeric; dates resolve to the timestamptz variant (a date converts to both
//! timestamp types and timestamptz is the preferred one), so a date spine is a timestamptz
//! series starting at midnight in the session's zone.

use std::sync::Arc;

use chrono::{Months, NaiveDateTime, NaiveTime};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use crate::convert::date32;
use crate::error::{fail, DATETIME_FIELD_OVERFLOW, INVALID_PARAMETER_VALUE};
use crate::udf::{arg_i64, wrong_types, Ctx, RowFn};
use crate::zone;

const INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);

/// A series is built in memory (PostgreSQL streams it); past this many values it is refused
/// with 54000 instead of exhausting the server's memory.
pub(crate) const MAX_SERIES: i128 = 100_000_000;
const PROGRAM_LIMIT_EXCEEDED: &str = "54000";

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFn::new(
            "generate_series",
            coerce_series,
            series_type,
            generate_series,
        )
        .stable()
        .udf(),
        RowFn::new(
            "generate_subscripts",
            coerce_subscripts,
            |_, _, _| Ok(DataType::new_list(DataType::Int32, true)),
            generate_subscripts,
        )
        .udf(),
    ]
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    )
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Null)
}

fn coerce_series(t: &[DataType]) -> Result<Vec<DataType>> {
    if !(2..=3).contains(&t.len()) {
        return Err(wrong_types("generate_series", t));
    }
    let bounds = &t[..2];
    if bounds.iter().any(is_temporal) {
        // The step of a time series is an interval; a missing one is no such function.
        if t.len() != 3 || !matches!(t[2], DataType::Interval(_) | DataType::Null) {
            return Err(wrong_types("generate_series", t));
        }
        let mut out: Vec<DataType> = bounds
            .iter()
            .map(|b| match b {
                DataType::Timestamp(_, tz) => {
                    DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
                }
                DataType::Date32 | DataType::Date64 => DataType::Date32,
                // An untyped literal beside a timestamp is read as one.
                _ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            })
            .collect();
        out.push(INTERVAL);
        return Ok(out);
    }
    if t.iter().all(is_integer) {
        let wide = t
            .iter()
            .any(|x| matches!(x, DataType::Int64 | DataType::UInt32 | DataType::UInt64));
        let int = if wide {
            DataType::Int64
        } else {
            DataType::Int32
        };
        return Ok(vec![int; t.len()]);
    }
    if t.iter()
        .all(|x| is_integer(x) || matches!(x, DataType::Decimal128(..)))
    {
        let scale = t
            .iter()
            .map(|x| match x {
                DataType::Decimal128(_, s) => *s,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        return Ok(vec![DataType::Decimal128(38, scale); t.len()]);
    }
    Err(wrong_types("generate_series", t))
}

fn series_type(t: &[DataType], _: &[Option<&ScalarValue>], tz: Option<&str>) -> Result<DataType> {
    let element = match (&t[0], &t[1]) {
        (DataType::Timestamp(_, None), DataType::Timestamp(_, None))
        | (DataType::Timestamp(_, None), DataType::Date32)
        | (DataType::Date32, DataType::Timestamp(_, None)) => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        (a, b) if is_temporal(a) || is_temporal(b) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some(zone::result_zone(tz)))
        }
        (a, _) => a.clone(),
    };
    Ok(DataType::new_list(element, true))
}

fn generate_series(a: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let DataType::List(element) = ctx.ret else {
        return fail(INVALID_PARAMETER_VALUE, "generate_series: no list type");
    };
    let element = element.data_type().clone();
    let values = match &element {
        DataType::Int32 | DataType::Int64 => {
            let step = a.get(2).and_then(arg_i64).unwrap_or(1);
            let (start, stop) = (arg_i64(&a[0]), arg_i64(&a[1]));
            let (Some(start), Some(stop)) = (start, stop) else {
                return Ok(ScalarValue::Null);
            };
            steps(i128::from(start), i128::from(stop), i128::from(step))?
                .map(|v| {
                    let v = v as i64;
                    if element == DataType::Int32 {
                        ScalarValue::Int32(Some(v as i32))
                    } else {
                        ScalarValue::Int64(Some(v))
                    }
                })
                .collect()
        }
        DataType::Decimal128(p, s) => {
            let raw = |v: &ScalarValue| match v {
                ScalarValue::Decimal128(Some(x), _, _) => Some(*x),
                _ => None,
            };
            let (Some(start), Some(stop)) = (raw(&a[0]), raw(&a[1])) else {
                return Ok(ScalarValue::Null);
            };
            let step = match a.get(2) {
                Some(v) => raw(v).unwrap_or(0),
                None => 10i128.pow(u32::from(*s as u8)),
            };
            steps(start, stop, step)?
                .map(|v| ScalarValue::Decimal128(Some(v), *p, *s))
                .collect()
        }
        DataType::Timestamp(_, tz) => time_series(a, tz.clone(), ctx)?,
        other => return Err(wrong_types("generate_series", std::slice::from_ref(other))),
    };
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values, &element,
    )))
}

/// `start, start + step, …` up to `stop` inclusive, in the step's direction.
fn steps(start: i128, stop: i128, step: i128) -> Result<impl Iterator<Item = i128>> {
    if step == 0 {
        return fail(INVALID_PARAMETER_VALUE, "step size cannot equal zero");
    }
    let count = if (step > 0 && start > stop) || (step < 0 && start < stop) {
        0
    } else {
        (stop - start) / step + 1
    };
    too_long(count)?;
    Ok((0..count).map(move |k| start + k * step))
}

fn too_long(count: i128) -> Result<()> {
    if count > MAX_SERIES {
        return fail(
            PROGRAM_LIMIT_EXCEEDED,
            format!("generate_series would return more than {MAX_SERIES} rows"),
        );
    }
    Ok(())
}

/// PostgreSQL's interval sign for a step: months as 30 days, days as 24 hours.
fn interval_sign(i: &IntervalMonthDayNano) -> i128 {
    let total = i128::from(i.months) * 30 * 86_400_000_000_000
        + i128::from(i.days) * 86_400_000_000_000
        + i128::from(i.nanoseconds);
    total.signum()
}

/// A bound as (wall-clock time, is it an instant read in the session's zone).
fn bound(v: &ScalarValue) -> Result<Option<NaiveDateTime>> {
    Ok(match v {
        ScalarValue::TimestampMicrosecond(Some(us), _) => Some(zone::utc(*us)?),
        ScalarValue::Date32(Some(d)) => Some(date32(*d)?.and_time(NaiveTime::MIN)),
        _ => None,
    })
}

fn time_series(a: &[ScalarValue], tz: Option<Arc<str>>, ctx: &Ctx) -> Result<Vec<ScalarValue>> {
    let ScalarValue::IntervalMonthDayNano(Some(step)) = &a[2] else {
        return Ok(vec![]);
    };
    let sign = interval_sign(step);
    if sign == 0 {
        return fail(INVALID_PARAMETER_VALUE, "step size cannot equal zero");
    }
    let zone = zone::session(ctx.tz)?;
    // Each bound as a UTC instant: a date is midnight in the session's zone when the series
    // is of timestamptz, a timestamp without zone is taken as it is.
    let instant = |v: &ScalarValue| -> Result<Option<i64>> {
        match (v, &tz) {
            (ScalarValue::TimestampMicrosecond(Some(us), _), _) => Ok(Some(*us)),
            (ScalarValue::Date32(Some(_)), Some(_)) => match bound(v)? {
                Some(local) => Ok(Some(zone::to_utc_micros(local, zone)?)),
                None => Ok(None),
            },
            _ => Ok(bound(v)?.map(|t| t.and_utc().timestamp_micros())),
        }
    };
    let (Some(mut at), Some(stop)) = (instant(&a[0])?, instant(&a[1])?) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    while (sign > 0 && at <= stop) || (sign < 0 && at >= stop) {
        out.push(ScalarValue::TimestampMicrosecond(Some(at), tz.clone()));
        too_long(out.len() as i128)?;
        at = add_interval(at, step, tz.is_some().then_some(zone))?;
    }
    Ok(out)
}

/// An instant plus an interval as PostgreSQL adds them: months and days on the wall clock (in
/// the session's zone for timestamptz, clamping to the month's last day), then the time part.
fn add_interval(at: i64, step: &IntervalMonthDayNano, zone: Option<zone::Zone>) -> Result<i64> {
    let out_of_range = || fail(DATETIME_FIELD_OVERFLOW, "timestamp out of range");
    let mut local = match zone {
        Some(z) => zone::localize(at, z)?.local,
        None => zone::utc(at)?,
    };
    if step.months != 0 {
        let m = Months::new(step.months.unsigned_abs());
        local = match if step.months > 0 {
            local.checked_add_months(m)
        } else {
            local.checked_sub_months(m)
        } {
            Some(t) => t,
            None => return out_of_range(),
        };
    }
    if step.days != 0 {
        local = zone::shift(local, i64::from(step.days) * 86_400)?;
    }
    let base = match zone {
        Some(z) if step.months != 0 || step.days != 0 => zone::to_utc_micros(local, z)?,
        Some(_) => at,
        None => local.and_utc().timestamp_micros(),
    };
    match base.checked_add(step.nanoseconds / 1_000) {
        Some(v) => Ok(v),
        None => out_of_range(),
    }
}

fn coerce_subscripts(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [a @ (DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)), d]
            if is_integer(d) =>
        {
            Ok(vec![a.clone(), DataType::Int32])
        }
        [a @ (DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)), d, DataType::Boolean | DataType::Null]
            if is_integer(d) =>
        {
            Ok(vec![a.clone(), DataType::Int32, DataType::Boolean])
        }
        _ => Err(wrong_types("generate_subscripts", t)),
    }
}

/// The subscripts of dimension `dim` (1-based, the only dimension of a list), optionally in
/// reverse; none for another dimension.
fn generate_subscripts(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let len = match &a[0] {
        ScalarValue::List(l) => l.value_length(0),
        ScalarValue::LargeList(l) => l.value_length(0) as i32,
        ScalarValue::FixedSizeList(l) => l.value_length(),
        _ => 0,
    };
    let dim = arg_i64(&a[1]).unwrap_or(0);
    let reverse = matches!(a.get(2), Some(ScalarValue::Boolean(Some(true))));
    let mut subscripts: Vec<ScalarValue> = if dim == 1 {
        (1..=len).map(|i| ScalarValue::Int32(Some(i))).collect()
    } else {
        vec![]
    };
    if reverse {
        subscripts.reverse();
    }
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &subscripts,
        &DataType::Int32,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_steps_stop_at_or_before_the_bound() {
        assert_eq!(steps(1, 10, 3).unwrap().collect::<Vec<_>>(), [1, 4, 7, 10]);
        assert_eq!(steps(5, 1, -2).unwrap().collect::<Vec<_>>(), [5, 3, 1]);
        assert_eq!(steps(1, 0, 1).unwrap().count(), 0);
        assert!(steps(1, 2, 0).is_err());
        assert!(steps(0, MAX_SERIES * 2, 1).is_err());
    }

    #[test]
    fn months_clamp_to_the_last_day_and_accumulate() {
        let jan31 = NaiveDateTime::parse_from_str("2024-01-31 00:00:00", "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros();
        let month = IntervalMonthDayNano::new(1, 0, 0);
        let feb = add_interval(jan31, &month, None).unwrap();
        let mar = add_interval(feb, &month, None).unwrap();
        assert_eq!(zone::utc(feb).unwrap().to_string(), "2024-02-29 00:00:00");
        assert_eq!(zone::utc(mar).unwrap().to_string(), "2024-03-29 00:00:00");
    }

    #[test]
    fn days_follow_the_wall_clock_across_daylight_saving() {
        let z = zone::session(Some("Europe/Berlin")).unwrap();
        let local =
            NaiveDateTime::parse_from_str("2024-03-30 12:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let at = zone::to_utc_micros(local, z).unwrap();
        let next = add_interval(at, &IntervalMonthDayNano::new(0, 1, 0), Some(z)).unwrap();
        assert_eq!(
            zone::localize(next, z).unwrap().local.to_string(),
            "2024-03-31 12:00:00"
        );
        assert_eq!(next - at, 23 * 3_600_000_000);
    }
}
