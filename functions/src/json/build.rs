//! SQL values as JSON, as PostgreSQL's `to_json` writes them: numbers and booleans bare,
//! dates and timestamps as ISO 8601 strings (`"2024-01-02T03:04:05"`), arrays as `[1,2]` and
//! rows as `{"a":1}` without spaces, a value of a JSON type as it is. `json_build_object`
//! separates with `" : "` and `", "`; the jsonb functions print the jsonb text of the same.

use std::sync::Arc;

use chrono::Timelike;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use super::value::{quoted, Json};
use super::{any, json_kind, Args, JsonFn, JsonKind, Ret};
use crate::error::{fail, INVALID_PARAMETER_VALUE};
use crate::udf::{arg_str, text, Ctx};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    fn one(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
        if t.len() == 1 {
            any(name, t)
        } else {
            Err(crate::udf::wrong_types(name, t))
        }
    }
    vec![
        JsonFn::new("to_json", one, Ret::Json(JsonKind::Json), |a| {
            element(a, 0).map(text)
        })
        .stable(),
        JsonFn::new("to_jsonb", one, Ret::Json(JsonKind::Jsonb), |a| {
            jsonb(element(a, 0)?).map(text)
        })
        .stable(),
        JsonFn::new("row_to_json", one, Ret::Json(JsonKind::Json), |a| {
            element(a, 0).map(text)
        })
        .stable(),
        JsonFn::new("json_build_object", any, Ret::Json(JsonKind::Json), |a| {
            build_object(a, " : ").map(text)
        })
        .lenient()
        .stable(),
        JsonFn::new("jsonb_build_object", any, Ret::Json(JsonKind::Jsonb), |a| {
            jsonb(build_object(a, ": ")?).map(text)
        })
        .lenient()
        .stable(),
        JsonFn::new("json_build_array", any, Ret::Json(JsonKind::Json), |a| {
            build_array(a).map(text)
        })
        .lenient()
        .stable(),
        JsonFn::new("jsonb_build_array", any, Ret::Json(JsonKind::Jsonb), |a| {
            jsonb(build_array(a)?).map(text)
        })
        .lenient()
        .stable(),
    ]
    .into_iter()
    .map(JsonFn::udf)
    .collect()
}

/// The jsonb text of JSON text.
pub(crate) fn jsonb(json: String) -> Result<String> {
    Json::parse_jsonb(&json).map(|j| j.to_jsonb())
}

fn element(a: &Args, i: usize) -> Result<String> {
    to_json(&a.values[i], &a.fields[i], a.tz)
}

/// `{"k" : v, …}` (json) from alternating keys and values.
fn build_object(a: &Args, colon: &str) -> Result<String> {
    if !a.values.len().is_multiple_of(2) {
        return fail(
            INVALID_PARAMETER_VALUE,
            "argument list must have even number of elements",
        );
    }
    let mut out = String::from("{");
    for i in (0..a.values.len()).step_by(2) {
        if a.values[i].is_null() {
            return fail(
                INVALID_PARAMETER_VALUE,
                format!("argument {} cannot be null", i + 1),
            );
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&quoted(&key_text(&a.values[i], a.tz)?));
        out.push_str(colon);
        out.push_str(&element(a, i + 1)?);
    }
    out.push('}');
    Ok(out)
}

fn build_array(a: &Args) -> Result<String> {
    let items = (0..a.values.len())
        .map(|i| element(a, i))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!("[{}]", items.join(", ")))
}

/// An object key: the value's text.
pub(crate) fn key_text(v: &ScalarValue, tz: Option<&str>) -> Result<String> {
    match arg_str(v) {
        Some(s) => Ok(s.to_string()),
        None => plain_text(v, tz),
    }
}

/// A value as PostgreSQL's `to_json` writes it; `field` says whether it is of a JSON type.
pub(crate) fn to_json(v: &ScalarValue, field: &FieldRef, tz: Option<&str>) -> Result<String> {
    if v.is_null() {
        return Ok("null".into());
    }
    if json_kind(field).is_some() {
        return Ok(arg_str(v).unwrap_or("null").to_string());
    }
    Ok(match v {
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_) => v.to_string(),
        ScalarValue::Decimal128(Some(d), _, scale) => decimal(*d, *scale),
        ScalarValue::Decimal64(Some(d), _, scale) => decimal(i128::from(*d), *scale),
        ScalarValue::Decimal32(Some(d), _, scale) => decimal(i128::from(*d), *scale),
        ScalarValue::Float32(Some(f)) => float(f64::from(*f)),
        ScalarValue::Float64(Some(f)) => float(*f),
        ScalarValue::List(list) => {
            let element = match field.data_type() {
                DataType::List(f) => f.clone(),
                _ => Arc::new(datafusion::arrow::datatypes::Field::new(
                    "item",
                    list.value_type(),
                    true,
                )),
            };
            let mut items = Vec::new();
            for row in 0..list.len() {
                let inner = list.value(row);
                for i in 0..inner.len() {
                    items.push(to_json(
                        &ScalarValue::try_from_array(&inner, i)?,
                        &element,
                        tz,
                    )?);
                }
            }
            format!("[{}]", items.join(","))
        }
        ScalarValue::Struct(s) => {
            let mut members = Vec::new();
            for (i, f) in s.fields().iter().enumerate() {
                let value = ScalarValue::try_from_array(s.column(i), 0)?;
                members.push(format!("{}:{}", quoted(f.name()), to_json(&value, f, tz)?));
            }
            format!("{{{}}}", members.join(","))
        }
        other => quoted(&plain_text(other, tz)?),
    })
}

/// A value's text inside a JSON string: dates and timestamps in ISO 8601 with a `T`.
fn plain_text(v: &ScalarValue, tz: Option<&str>) -> Result<String> {
    let micros = |v: &ScalarValue, zone: &Option<Arc<str>>| {
        v.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))
    };
    let ctx = Ctx {
        tz,
        ret: &DataType::Utf8,
    };
    let moment = match v {
        ScalarValue::Date32(Some(_)) => {
            return Ok(crate::convert::moment(v, &ctx)?
                .map(|m| m.local.format("%Y-%m-%d").to_string())
                .unwrap_or_default())
        }
        ScalarValue::TimestampSecond(_, zone)
        | ScalarValue::TimestampMillisecond(_, zone)
        | ScalarValue::TimestampMicrosecond(_, zone)
        | ScalarValue::TimestampNanosecond(_, zone) => {
            crate::convert::moment(&micros(v, zone)?, &ctx)?
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => return Ok(s.clone()),
        other => return Ok(other.to_string()),
    };
    let Some(m) = moment else {
        return Ok(v.to_string());
    };
    let mut out = m.local.format("%Y-%m-%dT%H:%M:%S").to_string();
    let us = m.local.nanosecond() / 1000;
    if us > 0 {
        let frac = format!("{us:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    if let Some((_, secs)) = m.zone {
        let sign = if secs < 0 { '-' } else { '+' };
        let s = secs.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", s / 3600, s / 60 % 60));
        if s % 60 != 0 {
            out.push_str(&format!(":{:02}", s % 60));
        }
    }
    Ok(out)
}

/// A decimal's digits with its scale: 150 at scale 2 is `1.50`.
fn decimal(d: i128, scale: i8) -> String {
    if scale <= 0 {
        return format!("{d}{}", "0".repeat(usize::from(scale.unsigned_abs())));
    }
    let digits = d.unsigned_abs().to_string();
    let scale = usize::from(scale.unsigned_abs());
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, frac) = digits.split_at(digits.len() - scale);
    format!("{}{whole}.{frac}", if d < 0 { "-" } else { "" })
}

/// A double as PostgreSQL prints it (shortest digits, exponent form outside 1e-4 .. 1e15);
/// NaN and the infinities as strings.
fn float(f: f64) -> String {
    if f.is_nan() {
        return "\"NaN\"".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "\"Infinity\"".into()
        } else {
            "\"-Infinity\"".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..15).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_postgres() {
        assert_eq!(float(1.5), "1.5");
        assert_eq!(float(1e20), "1e+20");
        assert_eq!(float(1e-5), "1e-05");
        assert_eq!(float(123456.0), "123456");
        assert_eq!(float(f64::NAN), "\"NaN\"");
    }

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(decimal(150, 2), "1.50");
        assert_eq!(decimal(-5, 3), "-0.005");
        assert_eq!(decimal(25, 0), "25");
    }

    #[test]
    fn values_become_json_as_to_json_writes_them() {
        let f = |dt: DataType| Arc::new(datafusion::arrow::datatypes::Field::new("x", dt, true));
        let v = ScalarValue::Utf8(Some("a\"b".into()));
        assert_eq!(to_json(&v, &f(DataType::Utf8), None).unwrap(), r#""a\"b""#);
        let ts = ScalarValue::TimestampNanosecond(Some(1_704_164_645_500_000_000), None);
        assert_eq!(
            to_json(&ts, &f(ts.data_type()), None).unwrap(),
            r#""2024-01-02T03:04:05.5""#
        );
        let tstz =
            ScalarValue::TimestampMicrosecond(Some(1_704_164_645_000_000), Some("+00:00".into()));
        assert_eq!(
            to_json(&tstz, &f(tstz.data_type()), None).unwrap(),
            r#""2024-01-02T03:04:05+00:00""#
        );
        let list = ScalarValue::List(ScalarValue::new_list_nullable(
            &[ScalarValue::Int32(Some(1)), ScalarValue::Int32(Some(2))],
            &DataType::Int32,
        ));
        assert_eq!(to_json(&list, &f(list.data_type()), None).unwrap(), "[1,2]");
    }
}
