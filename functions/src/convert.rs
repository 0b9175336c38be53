//! `to_char`, `to_date`, `to_timestamp` and `to_number`: PostgreSQL's template functions in
//! place of DataFusion's chrono-pattern ones of the same names.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use crate::datefmt::{self, Moment};
use crate::error::{fail, DATETIME_FIELD_OVERFLOW, INVALID_TEXT_REPRESENTATION};
use crate::numfmt::{self, Num};
use crate::udf::{
    arg_str, is_text, micros, text, texts, wrong_types, Ctx, RowFn, FLOAT, INT, TEXT,
};
use crate::zone;

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFn::new("to_char", coerce_to_char, |_, _, _| Ok(TEXT), to_char)
            .stable()
            .udf(),
        RowFn::new(
            "to_date",
            |t| texts("to_date", t, 2),
            |_, _, _| Ok(DataType::Date32),
            to_date,
        )
        .udf(),
        RowFn::new(
            "to_timestamp",
            coerce_to_timestamp,
            |_, _, tz| {
                Ok(DataType::Timestamp(
                    TimeUnit::Microsecond,
                    Some(zone::result_zone(tz)),
                ))
            },
            to_timestamp,
        )
        .stable()
        .udf(),
        RowFn::new(
            "to_number",
            |t| texts("to_number", t, 2),
            number_type,
            to_number,
        )
        .udf(),
    ]
}

pub(crate) fn number_arg(t: &DataType) -> Option<DataType> {
    match t {
        t if t.is_integer() => Some(INT),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Some(FLOAT),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            Some(DataType::Decimal128(*p, *s))
        }
        DataType::Decimal256(_, s) => Some(DataType::Decimal128(38, *s)),
        _ => None,
    }
}

fn coerce_to_char(types: &[DataType]) -> Result<Vec<DataType>> {
    if types.len() != 2 || !is_text(&types[1]) {
        return Err(wrong_types("to_char", types));
    }
    let value = match &types[0] {
        DataType::Null => INT,
        DataType::Interval(_) | DataType::Duration(_) => {
            DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano)
        }
        t => micros(t)
            .or_else(|| number_arg(t))
            .ok_or_else(|| wrong_types("to_char", types))?,
    };
    Ok(vec![value, TEXT])
}

/// A number as `to_char` reads it.
pub(crate) fn num(v: &ScalarValue) -> Option<Num> {
    match v {
        ScalarValue::Int64(Some(x)) => Some(Num::Exact(i128::from(*x), 0)),
        ScalarValue::Float64(Some(x)) => Some(Num::Float(*x)),
        ScalarValue::Decimal128(Some(x), _, s) if *s >= 0 => Some(Num::Exact(*x, *s as u32)),
        ScalarValue::Decimal128(Some(x), _, s) => Some(Num::Exact(
            x.saturating_mul(
                10i128
                    .checked_pow(s.unsigned_abs().into())
                    .unwrap_or(i128::MAX),
            ),
            0,
        )),
        _ => None,
    }
}

/// A date or timestamp as wall-clock time: timestamptz in the session's zone.
pub(crate) fn moment(v: &ScalarValue, ctx: &Ctx) -> Result<Option<Moment>> {
    Ok(match v {
        ScalarValue::TimestampMicrosecond(Some(us), None) => Some(Moment {
            local: zone::utc(*us)?,
            zone: None,
        }),
        ScalarValue::TimestampMicrosecond(Some(us), Some(_)) => {
            Some(zone::localize(*us, zone::session(ctx.tz)?)?)
        }
        ScalarValue::Date32(Some(d)) => Some(Moment {
            local: date32(*d)?.and_time(NaiveTime::MIN),
            zone: None,
        }),
        _ => None,
    })
}

pub(crate) fn date32(days: i32) -> Result<NaiveDate> {
    match DateTime::from_timestamp(i64::from(days) * 86_400, 0) {
        Some(t) => Ok(t.date_naive()),
        None => fail(DATETIME_FIELD_OVERFLOW, "date out of range"),
    }
}

pub(crate) fn days32(d: NaiveDate) -> Result<i32> {
    let days = d.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
    i32::try_from(days.num_days()).or_else(|_| fail(DATETIME_FIELD_OVERFLOW, "date out of range"))
}

fn to_char(args: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let template = arg_str(&args[1]).unwrap_or("");
    if let Some(m) = moment(&args[0], ctx)? {
        return Ok(text(datefmt::to_char(&m, template)));
    }
    if let ScalarValue::IntervalMonthDayNano(Some(iv)) = &args[0] {
        return Ok(text(datefmt::interval_to_char(
            i64::from(iv.months),
            i64::from(iv.days),
            iv.nanoseconds / 1000,
            template,
        )?));
    }
    match num(&args[0]) {
        Some(n) => Ok(text(numfmt::to_char(n, template)?)),
        None => Ok(ScalarValue::Utf8(None)),
    }
}

fn to_date(args: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let input = arg_str(&args[0]).unwrap_or("");
    let d = datefmt::read(input, arg_str(&args[1]).unwrap_or(""))?.date(input)?;
    Ok(ScalarValue::Date32(Some(days32(d)?)))
}

fn coerce_to_timestamp(types: &[DataType]) -> Result<Vec<DataType>> {
    match types {
        [a, b] if is_text(a) && is_text(b) => Ok(vec![TEXT, TEXT]),
        [a] if is_text(a) || number_arg(a).is_some() => Ok(vec![FLOAT]),
        _ => Err(wrong_types("to_timestamp", types)),
    }
}

fn to_timestamp(args: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let tz = Some(zone::result_zone(ctx.tz));
    if let [ScalarValue::Float64(Some(secs))] = args {
        if !secs.is_finite() || secs.abs() > 9.2e12 {
            return fail(DATETIME_FIELD_OVERFLOW, "timestamp out of range");
        }
        // Seconds to microseconds, rounded as PostgreSQL rounds.
        let us = (secs * 1e6).round() as i64;
        return Ok(ScalarValue::TimestampMicrosecond(Some(us), tz));
    }
    let input = arg_str(&args[0]).unwrap_or("");
    let fields = datefmt::read(input, arg_str(&args[1]).unwrap_or(""))?;
    let local = fields.datetime(input)?;
    let us = match fields.offset {
        Some(off) => zone::shift(local, -i64::from(off))?
            .and_utc()
            .timestamp_micros(),
        None => zone::to_utc_micros(local, zone::session(ctx.tz)?)?,
    };
    Ok(ScalarValue::TimestampMicrosecond(Some(us), tz))
}

/// `to_number`'s scale: the digit positions after the template's decimal point, when the
/// template is a constant.
fn number_type(
    _: &[DataType],
    scalars: &[Option<&ScalarValue>],
    _: Option<&str>,
) -> Result<DataType> {
    let scale = scalars
        .get(1)
        .and_then(|s| s.and_then(arg_str))
        .map(|t| {
            let after = t.find(['.', 'D']).map_or("", |p| &t[p..]);
            after.chars().filter(|c| *c == '9' || *c == '0').count()
        })
        .unwrap_or(6);
    Ok(DataType::Decimal128(38, scale.min(38) as i8))
}

fn to_number(args: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let input = arg_str(&args[0]).unwrap_or("");
    let (v, scale) = numfmt::to_number(input, arg_str(&args[1]).unwrap_or(""))?;
    let DataType::Decimal128(p, s) = ctx.ret else {
        return fail(INVALID_TEXT_REPRESENTATION, "to_number");
    };
    let s = *s as u32;
    let v = if scale <= s {
        v.checked_mul(10i128.pow(s - scale))
    } else {
        Some(v / 10i128.pow(scale - s))
    };
    match v {
        Some(v) => Ok(ScalarValue::Decimal128(Some(v), *p, s as i8)),
        None => fail(
            crate::error::NUMERIC_VALUE_OUT_OF_RANGE,
            "value overflows numeric format",
        ),
    }
}
