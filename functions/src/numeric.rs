//! Numeric functions with PostgreSQL's results and errors: `round`/`trunc` rounding half away
//! from zero on the decimal value, `power`/`ln`/`log`/`sqrt` raising 2201E/2201F instead of
//! answering NaN or infinity, and `mod`, `div`, `sign`, `gcd`, `lcm`, `factorial`,
//! `width_bucket`, `scale`, `cbrt`.
//!
//! meshgate reads a literal such as `1.005` as double precision where PostgreSQL reads
//! numeric; rounding a double through its shortest decimal spelling gives the numeric answer
//! for such literals (`round(1.005, 2)` = 1.01).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use crate::convert::number_arg;
use crate::error::{
    fail, DIVISION_BY_ZERO, INVALID_ARGUMENT_FOR_LOGARITHM, INVALID_ARGUMENT_FOR_POWER_FUNCTION,
    INVALID_ARGUMENT_FOR_WIDTH_BUCKET, NUMERIC_VALUE_OUT_OF_RANGE,
};
use crate::udf::{arg_f64, arg_i64, wrong_types, Ctx, RowFn, FLOAT, INT};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        power_udf(),
        RowFn::new(
            "ln",
            |t| float_args("ln", t, 1),
            |_, _, _| Ok(FLOAT),
            |a, _| log_of(f(&a[0])?, f64::ln),
        )
        .udf(),
        RowFn::new(
            "log10",
            |t| float_args("log10", t, 1),
            |_, _, _| Ok(FLOAT),
            |a, _| log_of(f(&a[0])?, f64::log10),
        )
        .udf(),
        RowFn::new("log", log_args, numeric_16, log).udf(),
        RowFn::new(
            "sqrt",
            |t| float_args("sqrt", t, 1),
            |_, _, _| Ok(FLOAT),
            |a, _| {
                let x = f(&a[0])?;
                if x < 0.0 {
                    return fail(
                        INVALID_ARGUMENT_FOR_POWER_FUNCTION,
                        "cannot take square root of a negative number",
                    );
                }
                Ok(ScalarValue::Float64(Some(x.sqrt())))
            },
        )
        .udf(),
        RowFn::new(
            "cbrt",
            |t| float_args("cbrt", t, 1),
            |_, _, _| Ok(FLOAT),
            |a, _| Ok(ScalarValue::Float64(Some(f(&a[0])?.cbrt()))),
        )
        .udf(),
        RowFn::new(
            "exp",
            |t| float_args("exp", t, 1),
            |_, _, _| Ok(FLOAT),
            |a, _| {
                let v = f(&a[0])?.exp();
                if v.is_infinite() {
                    return fail(NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow");
                }
                Ok(ScalarValue::Float64(Some(v)))
            },
        )
        .udf(),
        RowFn::new("round", round_args, round_type, |a, c| rounded(a, c, true)).udf(),
        RowFn::new("trunc", round_args, round_type, |a, c| rounded(a, c, false)).udf(),
        RowFn::new("sign", same_number_args, sign_type, sign).udf(),
        RowFn::new(
            "ceil",
            |t| whole_args("ceil", t),
            sign_type,
            |a, _| whole(&a[0], f64::ceil),
        )
        .alias("ceiling")
        .udf(),
        RowFn::new(
            "floor",
            |t| whole_args("floor", t),
            sign_type,
            |a, _| whole(&a[0], f64::floor),
        )
        .udf(),
        RowFn::new("mod", same_number_args, same_type, modulo).udf(),
        RowFn::new(
            "div",
            same_number_args,
            |_, _, _| Ok(DataType::Decimal128(38, 0)),
            div,
        )
        .udf(),
        RowFn::new(
            "gcd",
            |t| int_args("gcd", t, 2),
            |t, _, _| Ok(t.first().cloned().unwrap_or(INT)),
            |a, _| gcd_lcm(a, false),
        )
        .udf(),
        RowFn::new(
            "lcm",
            |t| int_args("lcm", t, 2),
            |t, _, _| Ok(t.first().cloned().unwrap_or(INT)),
            |a, _| gcd_lcm(a, true),
        )
        .udf(),
        RowFn::new(
            "factorial",
            |t| int_args("factorial", t, 1),
            |_, _, _| Ok(DataType::Decimal128(38, 0)),
            factorial,
        )
        .udf(),
        RowFn::new(
            "width_bucket",
            |t| {
                float_args("width_bucket", t, 4).map(|mut v| {
                    v[3] = INT;
                    v
                })
            },
            |_, _, _| Ok(DataType::Int32),
            width_bucket,
        )
        .udf(),
        RowFn::new(
            "scale",
            |t| match t {
                [x] if number_arg(x).is_some() => Ok(vec![number_arg(x).unwrap_or(FLOAT)]),
                _ => Err(wrong_types("scale", t)),
            },
            |_, _, _| Ok(DataType::Int32),
            scale,
        )
        .udf(),
    ]
}

pub(crate) fn power_udf() -> Arc<ScalarUDF> {
    RowFn::new(
        "power",
        |t| numeric_args("power", t, false),
        numeric_16,
        power,
    )
    .alias("pow")
    .udf()
}

fn float_args(name: &str, t: &[DataType], n: usize) -> Result<Vec<DataType>> {
    if t.len() == n && t.iter().all(|x| number_arg(x).is_some() || x.is_null()) {
        Ok(vec![FLOAT; n])
    } else {
        Err(wrong_types(name, t))
    }
}

fn int_args(name: &str, t: &[DataType], n: usize) -> Result<Vec<DataType>> {
    if t.len() == n && t.iter().all(|x| x.is_integer() || x.is_null()) {
        Ok(vec![int_width(t); n])
    } else {
        Err(wrong_types(name, t))
    }
}

fn f(v: &ScalarValue) -> Result<f64> {
    match arg_f64(v) {
        Some(x) => Ok(x),
        None => fail(crate::error::INVALID_TEXT_REPRESENTATION, "not a number"),
    }
}

fn power(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let (x, y) = (f(&a[0])?, f(&a[1])?);
    if x == 0.0 && y < 0.0 {
        return fail(
            INVALID_ARGUMENT_FOR_POWER_FUNCTION,
            "zero raised to a negative power is undefined",
        );
    }
    if x < 0.0 && y.fract() != 0.0 {
        return fail(
            INVALID_ARGUMENT_FOR_POWER_FUNCTION,
            "a negative number raised to a non-integer power yields a complex result",
        );
    }
    let v = x.powf(y);
    if v.is_infinite() && x.is_finite() && y.is_finite() {
        return fail(NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow");
    }
    Ok(ScalarValue::Float64(Some(v)))
}

fn log_of(x: f64, op: fn(f64) -> f64) -> Result<ScalarValue> {
    if x == 0.0 {
        return fail(
            INVALID_ARGUMENT_FOR_LOGARITHM,
            "cannot take logarithm of zero",
        );
    }
    if x < 0.0 {
        return fail(
            INVALID_ARGUMENT_FOR_LOGARITHM,
            "cannot take logarithm of a negative number",
        );
    }
    Ok(ScalarValue::Float64(Some(op(x))))
}

fn log_args(t: &[DataType]) -> Result<Vec<DataType>> {
    match t.len() {
        1 => float_args("log", t, 1),
        // PostgreSQL has log(b, x) for numeric only: integers go there too.
        _ => numeric_args("log", t, true),
    }
}

/// Two numbers read as numeric when one is numeric (or `ints_are_numeric` and neither is a
/// double), else as doubles: the overload PostgreSQL resolves.
fn numeric_args(name: &str, t: &[DataType], ints_are_numeric: bool) -> Result<Vec<DataType>> {
    let read: Option<Vec<DataType>> = t
        .iter()
        .map(|x| {
            if x.is_null() {
                Some(FLOAT)
            } else {
                number_arg(x)
            }
        })
        .collect();
    let Some(read) = read.filter(|r| r.len() == 2) else {
        return Err(wrong_types(name, t));
    };
    let has_float = read.contains(&FLOAT) && !t.iter().all(DataType::is_null);
    let scale = read
        .iter()
        .filter_map(|x| match x {
            DataType::Decimal128(_, s) => Some(*s),
            _ => None,
        })
        .max();
    match scale {
        Some(s) if !has_float => Ok(vec![DataType::Decimal128(38, s.max(0)); 2]),
        None if ints_are_numeric && !has_float => Ok(vec![DataType::Decimal128(38, 0); 2]),
        _ => Ok(vec![FLOAT; 2]),
    }
}

/// PostgreSQL's numeric power and logarithm print 16 fraction digits for results of this size.
fn numeric_16(t: &[DataType], _: &[Option<&ScalarValue>], _: Option<&str>) -> Result<DataType> {
    Ok(match t {
        [DataType::Decimal128(..), DataType::Decimal128(..)] => DataType::Decimal128(38, 16),
        _ => FLOAT,
    })
}

/// `log(x)` is base 10; `log(b, x)` base b.
fn log(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    match a {
        [x] => log_of(f(x)?, f64::log10),
        [b, x] => {
            let (b, x) = (f(b)?, f(x)?);
            for v in [b, x] {
                log_of(v, f64::ln)?;
            }
            if b == 1.0 {
                return fail(DIVISION_BY_ZERO, "division by zero");
            }
            Ok(ScalarValue::Float64(Some(x.ln() / b.ln())))
        }
        _ => Ok(ScalarValue::Float64(None)),
    }
}

fn round_args(t: &[DataType]) -> Result<Vec<DataType>> {
    let value = |x: &DataType| match x {
        DataType::Null => Some(FLOAT),
        x => number_arg(x).map(|n| if n == INT { FLOAT } else { n }),
    };
    match t {
        [x] => Ok(vec![value(x).ok_or_else(|| wrong_types("round", t))?]),
        [x, n] if n.is_integer() || n.is_null() => {
            Ok(vec![value(x).ok_or_else(|| wrong_types("round", t))?, INT])
        }
        _ => Err(wrong_types("round", t)),
    }
}

/// A numeric result keeps the digits asked for: `round(x, 2)` has scale 2.
fn round_type(
    t: &[DataType],
    scalars: &[Option<&ScalarValue>],
    _: Option<&str>,
) -> Result<DataType> {
    Ok(match t.first() {
        Some(DataType::Decimal128(p, s)) => {
            let n = match t.len() {
                1 => Some(0),
                _ => scalars.get(1).and_then(|s| s.and_then(arg_i64)),
            };
            let scale = n.map_or(*s, |n| n.clamp(0, i64::from(*s)) as i8);
            DataType::Decimal128(*p, scale)
        }
        _ => FLOAT,
    })
}

/// `v` (at scale `s`) kept to `n` fraction digits, rounding half away from zero or
/// truncating; the result is at scale `max(n, 0)`.
fn round_decimal(v: i128, s: i64, n: i64, half_up: bool) -> Option<i128> {
    let target = n.max(0);
    if n >= s {
        return v.checked_mul(10i128.checked_pow(u32::try_from(target - s).ok()?)?);
    }
    let drop = 10i128.checked_pow(u32::try_from(s - n).ok()?)?;
    let mut q = v / drop;
    let r = v % drop;
    if half_up && r.abs() * 2 >= drop {
        q += v.signum();
    }
    // A negative n rounds to tens, hundreds…: scale back up to the integer.
    if n < 0 {
        q = q.checked_mul(10i128.checked_pow(u32::try_from(-n).ok()?)?)?;
    }
    Some(q)
}

fn rounded(a: &[ScalarValue], ctx: &Ctx, half_up: bool) -> Result<ScalarValue> {
    let n = a.get(1).and_then(arg_i64).unwrap_or(0);
    match &a[0] {
        ScalarValue::Decimal128(Some(v), _, s) => {
            let s = i64::from(*s);
            let out = round_decimal(*v, s, n.min(s), half_up);
            let DataType::Decimal128(p, ts) = ctx.ret else {
                return fail(NUMERIC_VALUE_OUT_OF_RANGE, "value out of range");
            };
            // Bring the result to the planned scale.
            let have = n.clamp(0, s);
            let out = out.and_then(|o| round_decimal(o, have, i64::from(*ts), half_up));
            match out {
                Some(o) => Ok(ScalarValue::Decimal128(Some(o), *p, *ts)),
                None => fail(NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow"),
            }
        }
        ScalarValue::Float64(Some(x)) => {
            if !x.is_finite() {
                return Ok(ScalarValue::Float64(Some(*x)));
            }
            // round(double precision) is rint: ties to even.
            if a.len() == 1 && half_up {
                return Ok(ScalarValue::Float64(Some(x.round_ties_even())));
            }
            // The shortest decimal spelling of the double, rounded as numeric.
            let text = format!("{x:e}");
            let (mant, exp) = text.split_once('e').unwrap_or((&text, "0"));
            let exp: i64 = exp.parse().unwrap_or(0);
            let (neg, mant) = mant.strip_prefix('-').map_or((false, mant), |m| (true, m));
            let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
            let scale = (digits.len() as i64 - 1) - exp;
            let Ok(v) = digits.parse::<i128>() else {
                return Ok(ScalarValue::Float64(Some(*x)));
            };
            let v = if neg { -v } else { v };
            if scale <= n {
                // No digits beyond those kept.
                return Ok(ScalarValue::Float64(Some(*x)));
            }
            let scaled = if scale < 0 {
                u32::try_from(-scale)
                    .ok()
                    .and_then(|e| 10i128.checked_pow(e))
                    .and_then(|f| v.checked_mul(f))
                    .map(|v| (v, 0))
            } else {
                Some((v, scale))
            };
            let Some((v, s)) = scaled else {
                // Beyond i128: a power of ten this coarse is past the double's own precision.
                let step = 10f64.powi(i32::try_from(-n).unwrap_or(i32::MAX));
                let r = if half_up {
                    (x / step).round()
                } else {
                    (x / step).trunc()
                };
                return Ok(ScalarValue::Float64(Some(r * step)));
            };
            let r = round_decimal(v, s, n.min(s), half_up).unwrap_or(0);
            let out = r as f64 / 10f64.powi(n.clamp(0, s) as i32);
            Ok(ScalarValue::Float64(Some(if out == 0.0 {
                0.0
            } else {
                out
            })))
        }
        _ => Ok(ScalarValue::Float64(None)),
    }
}

fn same_number_args(t: &[DataType]) -> Result<Vec<DataType>> {
    let types: Option<Vec<DataType>> = t
        .iter()
        .map(|x| {
            if x.is_null() {
                Some(INT)
            } else {
                number_arg(x)
            }
        })
        .collect();
    let Some(types) = types else {
        return Err(wrong_types("mod", t));
    };
    if types.iter().all(|x| *x == INT) {
        return Ok(vec![int_width(t); types.len()]);
    }
    if let Some(s) = types
        .iter()
        .filter_map(|x| match x {
            DataType::Decimal128(_, s) => Some(*s),
            _ => None,
        })
        .max()
    {
        if !types.contains(&FLOAT) {
            return Ok(vec![DataType::Decimal128(38, s); types.len()]);
        }
    }
    Ok(vec![FLOAT; types.len()])
}

/// PostgreSQL's integer functions answer in the width of their arguments: integer for
/// integers, bigint once one is bigint.
fn int_width(t: &[DataType]) -> DataType {
    let narrow = t.iter().all(|x| {
        matches!(
            x,
            DataType::Null
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::UInt8
                | DataType::UInt16
        )
    });
    if narrow {
        DataType::Int32
    } else {
        INT
    }
}

fn same_type(t: &[DataType], _: &[Option<&ScalarValue>], _: Option<&str>) -> Result<DataType> {
    Ok(match t.first() {
        Some(i @ (DataType::Int32 | DataType::Int64)) => i.clone(),
        Some(d @ DataType::Decimal128(..)) => d.clone(),
        _ => FLOAT,
    })
}

/// sign, ceil and floor: a whole numeric for numeric, double precision otherwise (integers
/// are cast, as PostgreSQL resolves them).
fn sign_type(t: &[DataType], _: &[Option<&ScalarValue>], _: Option<&str>) -> Result<DataType> {
    Ok(match t.first() {
        Some(DataType::Decimal128(p, _)) => DataType::Decimal128(*p, 0),
        _ => FLOAT,
    })
}

fn whole_args(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [DataType::Null] => Ok(vec![FLOAT]),
        [x] => match number_arg(x) {
            Some(d @ DataType::Decimal128(..)) => Ok(vec![d]),
            Some(_) => Ok(vec![FLOAT]),
            None => Err(wrong_types(name, t)),
        },
        _ => Err(wrong_types(name, t)),
    }
}

/// ceil or floor: exact on numeric, `op` on doubles.
fn whole(v: &ScalarValue, op: fn(f64) -> f64) -> Result<ScalarValue> {
    match v {
        ScalarValue::Decimal128(Some(x), p, s) => {
            let Some(unit) = u32::try_from(*s).ok().and_then(|s| 10i128.checked_pow(s)) else {
                return Ok(ScalarValue::Decimal128(Some(*x), *p, 0));
            };
            let (q, r) = (x / unit, x % unit);
            let up = op(0.5) == 1.0;
            let q = if r != 0 && up && *x > 0 {
                q + 1
            } else if r != 0 && !up && *x < 0 {
                q - 1
            } else {
                q
            };
            Ok(ScalarValue::Decimal128(Some(q), *p, 0))
        }
        other => Ok(ScalarValue::Float64(Some(op(f(other)?)))),
    }
}

fn sign(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    Ok(match &a[0] {
        ScalarValue::Decimal128(Some(v), p, _) => ScalarValue::Decimal128(Some(v.signum()), *p, 0),
        v => {
            let x = f(v)?;
            ScalarValue::Float64(Some(if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }))
        }
    })
}

fn zero_division<T>() -> Result<T> {
    fail(DIVISION_BY_ZERO, "division by zero")
}

fn modulo(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    match (&a[0], &a[1]) {
        (ScalarValue::Int32(Some(x)), ScalarValue::Int32(Some(y))) => {
            if *y == 0 {
                return zero_division();
            }
            Ok(ScalarValue::Int32(Some(x.wrapping_rem(*y))))
        }
        (ScalarValue::Int64(Some(x)), ScalarValue::Int64(Some(y))) => {
            if *y == 0 {
                return zero_division();
            }
            Ok(ScalarValue::Int64(Some(x.wrapping_rem(*y))))
        }
        (ScalarValue::Decimal128(Some(x), p, s), ScalarValue::Decimal128(Some(y), _, _)) => {
            if *y == 0 {
                return zero_division();
            }
            Ok(ScalarValue::Decimal128(Some(x % y), *p, *s))
        }
        (x, y) => {
            let (x, y) = (f(x)?, f(y)?);
            if y == 0.0 {
                return zero_division();
            }
            Ok(ScalarValue::Float64(Some(x % y)))
        }
    }
}

fn div(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let q = match (&a[0], &a[1]) {
        (ScalarValue::Int64(Some(x)), ScalarValue::Int64(Some(y))) => {
            if *y == 0 {
                return zero_division();
            }
            i128::from(*x) / i128::from(*y)
        }
        (ScalarValue::Decimal128(Some(x), _, _), ScalarValue::Decimal128(Some(y), _, _)) => {
            if *y == 0 {
                return zero_division();
            }
            x / y
        }
        (x, y) => {
            let (x, y) = (f(x)?, f(y)?);
            if y == 0.0 {
                return zero_division();
            }
            (x / y).trunc() as i128
        }
    };
    Ok(ScalarValue::Decimal128(Some(q), 38, 0))
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

fn gcd_lcm(a: &[ScalarValue], lcm: bool) -> Result<ScalarValue> {
    let (x, y) = (
        i128::from(arg_i64(&a[0]).unwrap_or(0)),
        i128::from(arg_i64(&a[1]).unwrap_or(0)),
    );
    let g = gcd(x, y);
    let v = if !lcm {
        g
    } else if x == 0 || y == 0 {
        0
    } else {
        (x / g * y).abs()
    };
    match i64::try_from(v) {
        Ok(v) => Ok(ScalarValue::Int64(Some(v))),
        Err(_) => fail(NUMERIC_VALUE_OUT_OF_RANGE, "bigint out of range"),
    }
}

fn factorial(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let n = arg_i64(&a[0]).unwrap_or(0);
    if n < 0 {
        return fail(
            NUMERIC_VALUE_OUT_OF_RANGE,
            "factorial of a negative number is undefined",
        );
    }
    let mut v: i128 = 1;
    for k in 2..=i128::from(n) {
        v = match v.checked_mul(k) {
            Some(x) if x < 10i128.pow(38) => x,
            _ => return fail(NUMERIC_VALUE_OUT_OF_RANGE, "value overflows numeric format"),
        };
    }
    Ok(ScalarValue::Decimal128(Some(v), 38, 0))
}

fn width_bucket(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let (x, lo, hi) = (f(&a[0])?, f(&a[1])?, f(&a[2])?);
    let n = arg_i64(&a[3]).unwrap_or(0);
    if n <= 0 {
        return fail(
            INVALID_ARGUMENT_FOR_WIDTH_BUCKET,
            "count must be greater than zero",
        );
    }
    if lo == hi {
        return fail(
            INVALID_ARGUMENT_FOR_WIDTH_BUCKET,
            "lower bound cannot equal upper bound",
        );
    }
    let n_f = n as f64;
    let b = if lo < hi {
        if x < lo {
            0
        } else if x >= hi {
            n + 1
        } else {
            ((n_f * (x - lo) / (hi - lo)) as i64) + 1
        }
    } else if x > lo {
        0
    } else if x <= hi {
        n + 1
    } else {
        ((n_f * (lo - x) / (lo - hi)) as i64) + 1
    };
    match i32::try_from(b) {
        Ok(b) => Ok(ScalarValue::Int32(Some(b))),
        Err(_) => fail(NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range"),
    }
}

fn scale(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = match &a[0] {
        ScalarValue::Decimal128(_, _, s) => i32::from(*s).max(0),
        ScalarValue::Float64(Some(x)) => {
            let t = format!("{x}");
            t.split_once('.').map_or(0, |(_, fr)| fr.len() as i32)
        }
        _ => 0,
    };
    Ok(ScalarValue::Int32(Some(s)))
}
