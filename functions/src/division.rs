//! Numeric division as PostgreSQL does it. PostgreSQL gives each quotient its own display
//! scale, chosen from the operands' values (about 16 significant digits, never fewer decimals
//! than either operand has) and rounds half away from zero at it; DataFusion gives a column
//! one scale, four places past the dividend's, and truncates (`1/3.0` was `0.3333`).
//!
//! Arrow has no per-value scale, so a quotient is a decimal at a column scale wide enough for
//! the quotients PostgreSQL prints (20 places where the integer digits leave room), holding the
//! value PostgreSQL computes, rounded where PostgreSQL rounds. The display scale of each value
//! is a second function (`meshgate_div_dscale`) the SQL front end asks for beside a quotient
//! that goes to the client, so the client sees PostgreSQL's text too; `meshgate_cast_dscale`
//! does the same for conversions to numeric.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Int32Array};
use datafusion::arrow::datatypes::i256;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::error::{fail, DIVISION_BY_ZERO, NUMERIC_VALUE_OUT_OF_RANGE};
use meshgate_sqlfront::rewrite::{CAST_DSCALE, DIV_DSCALE, TO_NUMERIC};

use crate::udf::{wrong_types, Ctx, RowFn};

/// The function `/` between numerics (or a numeric and an integer) is planned as.
const NUMERIC_DIV: &str = "meshgate_numeric_div";

/// PostgreSQL's NUMERIC_MIN_SIG_DIGITS: a quotient gets at least this many significant digits.
const MIN_SIG_DIGITS: i32 = 16;
/// Decimal places a quotient column keeps when its integer digits leave room.
const QUOTIENT_PLACES: i8 = 20;

/// The numeric type an operand of numeric arithmetic is read as: (precision, scale).
pub(crate) fn as_numeric(t: &DataType) -> Option<(u8, i8)> {
    use DataType::*;
    Some(match t {
        Int8 | UInt8 => (3, 0),
        Int16 | UInt16 => (5, 0),
        Int32 | UInt32 => (10, 0),
        Int64 => (19, 0),
        UInt64 => (20, 0),
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) if *s >= 0 => (*p, *s),
        _ => return None,
    })
}

fn is_decimal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..)
    )
}

/// Whether `/` between these types is numeric division (at least one side numeric, the other
/// numeric or an integer).
pub fn is_numeric_division(l: &DataType, r: &DataType) -> bool {
    (is_decimal(l) || is_decimal(r)) && as_numeric(l).is_some() && as_numeric(r).is_some()
}

/// The column scale of values averaging to or divided into a quotient: the operands' scales,
/// and up to 20 places as far as `integer_digits` of the result leave room in 38 digits, never
/// fewer than PostgreSQL's 16 significant digits (the integer digits a type allows are rarely
/// all used; a quotient past 10^22 is then an overflow error rather than fewer digits for all).
pub(crate) fn column_scale(integer_digits: i32, operand_scales: &[i8]) -> i8 {
    let room = (38 - integer_digits).clamp(MIN_SIG_DIGITS, QUOTIENT_PLACES as i32) as i8;
    operand_scales.iter().copied().fold(room, i8::max)
}

/// Field metadata of a numeric computed at a scale that is only room for its values (a
/// quotient, an average): the scale, as long as the column still has it. PostgreSQL gives
/// such a numeric no declared scale (typmod -1) and prints each value with its own; the wire
/// does the same from this, printing the digits a value has where no display scale came with
/// it. A cast to a declared scale changes the type, and the mark no longer holds.
const COMPUTED_SCALE_KEY: &str = "meshgate.computed_scale";

/// A result field of type `t` named `name`, marked as computed-scale when it is a numeric.
pub(crate) fn computed_field(name: &str, t: DataType) -> FieldRef {
    let field = Field::new(name, t.clone(), true);
    Arc::new(match t {
        DataType::Decimal128(_, s) => field.with_metadata(
            [(COMPUTED_SCALE_KEY.to_string(), s.to_string())]
                .into_iter()
                .collect(),
        ),
        _ => field,
    })
}

/// Whether a field is a numeric whose scale is only room for computed values.
pub fn has_computed_scale(field: &Field) -> bool {
    match field.data_type() {
        DataType::Decimal128(_, s) => field
            .metadata()
            .get(COMPUTED_SCALE_KEY)
            .is_some_and(|v| *v == s.to_string()),
        _ => false,
    }
}

/// The scale of `a / b`'s column: the quotient has at most the dividend's integer digits plus
/// the divisor's decimals.
fn quotient_scale((p1, s1): (u8, i8), (_, s2): (u8, i8)) -> i8 {
    column_scale(p1 as i32 - s1 as i32 + s2 as i32, &[s1, s2])
}

/// Weight and first digit of a value in PostgreSQL's base-10000 digits: the index of its
/// leading nonzero group of four decimal digits (0 for the units group, -1 for the first four
/// decimals) and that group's value; (0, 0) for zero, as PostgreSQL's scan finds no digit.
fn weight_and_first_digit(v: i128, scale: i8) -> (i32, i128) {
    let x = v.unsigned_abs();
    if x == 0 {
        return (0, 0);
    }
    let digits = x.ilog10() as i32 + 1;
    let exponent = digits - 1 - scale as i32;
    let weight = exponent.div_euclid(4);
    let shift = scale as i32 + 4 * weight;
    let first = if shift >= 0 {
        x / 10u128.pow(shift as u32)
    } else {
        x * 10u128.pow((-shift) as u32)
    };
    (weight, first as i128)
}

/// PostgreSQL's display scale of `a / b` (select_div_scale): 16 significant digits past the
/// quotient's estimated leading group, at least the operands' scales.
pub(crate) fn division_scale(a: i128, sa: i8, b: i128, sb: i8) -> i32 {
    let (w1, f1) = weight_and_first_digit(a, sa);
    let (w2, f2) = weight_and_first_digit(b, sb);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    (MIN_SIG_DIGITS - qweight * 4)
        .max(sa as i32)
        .max(sb as i32)
        .clamp(0, 1000)
}

fn overflow<T>() -> Result<T> {
    fail(NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
}

fn pow10(n: u32) -> Result<i256> {
    i256::from_i128(10).checked_pow(n).map_or_else(overflow, Ok)
}

/// `a / b` rounded half away from zero at `places` decimals, as a value of scale `scale`
/// (`scale` ≥ `places`).
pub(crate) fn divide(a: i128, sa: i8, b: i128, sb: i8, places: i32, scale: i8) -> Result<i128> {
    if b == 0 {
        return fail(DIVISION_BY_ZERO, "division by zero");
    }
    // a·10^-sa / (b·10^-sb) · 10^places = a·10^(places + sb - sa) / b; places ≥ sa.
    let shift = places + sb as i32 - sa as i32;
    let (n, d) = if shift >= 0 {
        let n = i256::from_i128(a.abs())
            .checked_mul(pow10(shift as u32)?)
            .map_or_else(overflow, Ok)?;
        (n, i256::from_i128(b.abs()))
    } else {
        let d = i256::from_i128(b.abs())
            .checked_mul(pow10((-shift) as u32)?)
            .map_or_else(overflow, Ok)?;
        (i256::from_i128(a.abs()), d)
    };
    let mut q = n / d;
    let rem = n % d;
    if rem + rem >= d {
        q += i256::ONE;
    }
    let q = q
        .checked_mul(pow10((scale as i32 - places).max(0) as u32)?)
        .map_or_else(overflow, Ok)?;
    let q = q.to_i128().map_or_else(overflow, Ok)?;
    if q.unsigned_abs() >= 10u128.pow(38) {
        return overflow();
    }
    Ok(if (a < 0) != (b < 0) { -q } else { q })
}

/// The two operands as decimal arrays of `len` rows.
fn operands(args: &ScalarFunctionArgs) -> Result<Vec<ArrayRef>> {
    args.args
        .iter()
        .map(|a| a.to_array(args.number_rows))
        .collect()
}

fn decimal_parts(t: &DataType) -> Option<i8> {
    match t {
        DataType::Decimal128(_, s) => Some(*s),
        _ => None,
    }
}

/// Coercion of both division functions: integers to numeric of their width, numerics to
/// Decimal128.
fn numeric_operands(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    let [l, r] = t else {
        return Err(wrong_types(name, t));
    };
    if !is_numeric_division(l, r) {
        return Err(wrong_types(name, t));
    }
    Ok(t.iter()
        .map(|t| {
            let (p, s) = as_numeric(t).expect("checked above");
            DataType::Decimal128(p, s)
        })
        .collect())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericDiv {
    signature: Signature,
}

impl ScalarUDFImpl for NumericDiv {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        NUMERIC_DIV
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        numeric_operands(NUMERIC_DIV, t)
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        match (as_numeric(&t[0]), as_numeric(&t[1])) {
            (Some(l), Some(r)) => Ok(DataType::Decimal128(38, quotient_scale(l, r))),
            _ => Err(wrong_types(NUMERIC_DIV, t)),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(computed_field(self.name(), self.return_type(&types)?))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scale = match args.return_field.data_type() {
            DataType::Decimal128(_, s) => *s,
            t => return Err(wrong_types(NUMERIC_DIV, std::slice::from_ref(t))),
        };
        let arrays = operands(&args)?;
        let (Some(sa), Some(sb)) = (
            decimal_parts(arrays[0].data_type()),
            decimal_parts(arrays[1].data_type()),
        ) else {
            return Err(wrong_types(
                NUMERIC_DIV,
                &[arrays[0].data_type().clone(), arrays[1].data_type().clone()],
            ));
        };
        let a = arrays[0].as_primitive::<Decimal128Type>();
        let b = arrays[1].as_primitive::<Decimal128Type>();
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            if a.is_null(i) || b.is_null(i) {
                out.push(None);
                continue;
            }
            let (x, y) = (a.value(i), b.value(i));
            let places = division_scale(x, sa, y, sb).min(scale as i32);
            out.push(Some(divide(x, sa, y, sb, places, scale)?));
        }
        let out = Decimal128Array::from(out).with_precision_and_scale(38, scale)?;
        scalar_if_all_scalar(&args, Arc::new(out))
    }
}

/// A constant result for constant arguments, so that the planner folds it.
fn scalar_if_all_scalar(args: &ScalarFunctionArgs, out: ArrayRef) -> Result<ColumnarValue> {
    if args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)))
    {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DivDscale {
    signature: Signature,
}

impl ScalarUDFImpl for DivDscale {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        DIV_DSCALE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    // Asked for beside every quotient the client sees, whatever its operands' types: only
    // numeric division has a scale to tell.
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        if t.len() != 2 {
            return Err(wrong_types(DIV_DSCALE, t));
        }
        numeric_operands(DIV_DSCALE, t).or_else(|_| Ok(t.to_vec()))
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = operands(&args)?;
        let (Some(l), Some(r)) = (
            as_numeric(arrays[0].data_type()),
            as_numeric(arrays[1].data_type()),
        ) else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)));
        };
        let (Some(sa), Some(sb)) = (
            decimal_parts(arrays[0].data_type()),
            decimal_parts(arrays[1].data_type()),
        ) else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)));
        };
        let scale = quotient_scale(l, r) as i32;
        let a = arrays[0].as_primitive::<Decimal128Type>();
        let b = arrays[1].as_primitive::<Decimal128Type>();
        let out: Int32Array = (0..a.len())
            .map(|i| {
                (a.is_valid(i) && b.is_valid(i))
                    .then(|| division_scale(a.value(i), sa, b.value(i), sb).min(scale))
            })
            .collect();
        scalar_if_all_scalar(&args, Arc::new(out))
    }
}

/// The display scale PostgreSQL gives `x::numeric`: an integer has none, a numeric keeps its
/// own, a double keeps the decimals of its 15-significant-digit spelling (PostgreSQL converts
/// through that text). NULL for anything else (text was typed by the front end already).
fn cast_dscale(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    use ScalarValue::*;
    Ok(Int32(match &a[0] {
        Int8(Some(_)) | Int16(Some(_)) | Int32(Some(_)) | Int64(Some(_)) | UInt8(Some(_))
        | UInt16(Some(_)) | UInt32(Some(_)) | UInt64(Some(_)) => Some(0),
        Decimal128(Some(_), _, s) => Some(i32::from(*s).max(0)),
        Float32(Some(x)) => float_decimals(f64::from(*x)),
        Float64(Some(x)) => float_decimals(*x),
        _ => None,
    }))
}

/// Decimals of `%.15g`: the significant digits without trailing zeros, less the exponent.
fn float_decimals(x: f64) -> Option<i32> {
    if !x.is_finite() {
        return None;
    }
    let spelled = format!("{x:.14e}");
    let (mantissa, exponent) = spelled.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let digits = mantissa.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_end_matches('0').len().max(1) as i32;
    Some((significant - 1 - exponent).max(0))
}

/// `x::numeric` without a precision: PostgreSQL keeps the value's digits, an integer is a
/// numeric of scale 0; the engine's bare decimal has ten places, which then decide the scale
/// of everything computed from it (`count(*)::numeric / 3` had ten decimals, not twenty).
/// Numerics keep their type; other types get the engine's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToNumeric {
    signature: Signature,
}

impl ScalarUDFImpl for ToNumeric {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        TO_NUMERIC
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        match t {
            [_] => Ok(t.to_vec()),
            _ => Err(wrong_types(TO_NUMERIC, t)),
        }
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        Ok(match as_numeric(&t[0]) {
            Some((p, s)) => DataType::Decimal128(p, s),
            None => DataType::Decimal128(38, 10),
        })
    }
    // Ten places are room for a double's or a text's digits, not their scale.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let t = args.arg_fields[0].data_type();
        let to = self.return_type(std::slice::from_ref(t))?;
        Ok(match as_numeric(t) {
            Some(_) => Arc::new(Field::new(self.name(), to, true)),
            None => computed_field(self.name(), to),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let options = datafusion::arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        let to = args.return_field.data_type();
        Ok(match &args.args[0] {
            ColumnarValue::Array(a) => ColumnarValue::Array(
                datafusion::arrow::compute::cast_with_options(a, to, &options)?,
            ),
            ColumnarValue::Scalar(v) => {
                ColumnarValue::Scalar(v.cast_to_with_options(to, &options)?)
            }
        })
    }
}

pub(crate) fn numeric_div_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(NumericDiv {
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        numeric_div_udf(),
        Arc::new(ScalarUDF::new_from_impl(DivDscale {
            signature: Signature::user_defined(Volatility::Immutable),
        })),
        Arc::new(ScalarUDF::new_from_impl(ToNumeric {
            signature: Signature::user_defined(Volatility::Immutable),
        })),
        RowFn::new(
            CAST_DSCALE,
            |t| Ok(t.to_vec()),
            |_, _, _| Ok(DataType::Int32),
            cast_dscale,
        )
        .udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dividend and a divisor as (value, scale), and the quotient's text.
    type Case = ((i128, i8), (i128, i8), &'static str);

    /// (value, scale) pairs as PostgreSQL 15 divides them: quotient text.
    #[test]
    fn quotients_have_postgres_scale_and_rounding() {
        let cases: &[Case] = &[
            ((70, 1), (2, 0), "3.5000000000000000"),
            ((7, 0), (20, 1), "3.5000000000000000"),
            ((1, 0), (30, 1), "0.33333333333333333333"),
            ((100, 1), (3, 0), "3.3333333333333333"),
            ((20, 1), (3, 0), "0.66666666666666666667"),
            ((10000, 2), (7, 0), "14.2857142857142857"),
            ((17279949, 2), (3, 0), "57599.830000000000"),
            ((50, 1), (5, 0), "1.00000000000000000000"),
            ((-20, 1), (3, 0), "-0.66666666666666666667"),
        ];
        for ((a, sa), (b, sb), want) in cases {
            let places = division_scale(*a, *sa, *b, *sb);
            let q = divide(*a, *sa, *b, *sb, places, places as i8).expect("divides");
            let text = Decimal128Array::from(vec![q])
                .with_precision_and_scale(38, places as i8)
                .expect("decimal")
                .value_as_string(0);
            assert_eq!(&text, want, "{a}e-{sa} / {b}e-{sb}");
        }
    }

    #[test]
    fn doubles_convert_with_the_decimals_of_their_fifteen_digits() {
        assert_eq!(float_decimals(1.0), Some(0));
        assert_eq!(float_decimals(0.1), Some(1));
        assert_eq!(float_decimals(1.0 / 3.0), Some(15));
        assert_eq!(float_decimals(1234.5), Some(1));
        assert_eq!(float_decimals(1e20), Some(0));
        assert_eq!(float_decimals(-2.25e-3), Some(5));
    }

    #[test]
    fn division_by_zero_and_overflow_are_errors() {
        assert!(divide(1, 0, 0, 0, 16, 20).is_err());
        assert!(divide(i128::MAX / 10, 0, 1, 20, 20, 20).is_err());
    }
}
