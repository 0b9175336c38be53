//! Array functions PostgreSQL has and DataFusion lacks, or has with other answers:
//! `array_upper`, `array_lower` (an array here always starts at subscript 1), `array_dims`,
//! `array_fill`, and
//! `array_length`, which is NULL for an empty array or a dimension it does not have (DataFusion
//! says 0).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use crate::error::{
    fail, FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE, INVALID_TEXT_REPRESENTATION,
};
use crate::udf::{arg_i64, wrong_types, Ctx, RowFn};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFn::new(
            "array_length",
            |t| array_and_dimension("array_length", t),
            |_, _, _| Ok(DataType::Int32),
            |a, _| {
                Ok(ScalarValue::Int32(dimension_length(
                    &a[0],
                    arg_i64(&a[1]).unwrap_or(0),
                )?))
            },
        )
        .udf(),
        RowFn::new(
            "array_upper",
            |t| array_and_dimension("array_upper", t),
            |_, _, _| Ok(DataType::Int32),
            |a, _| bound(a, true),
        )
        .udf(),
        RowFn::new(
            "array_lower",
            |t| array_and_dimension("array_lower", t),
            |_, _, _| Ok(DataType::Int32),
            |a, _| bound(a, false),
        )
        .udf(),
        RowFn::new("array_fill", coerce_fill, fill_type, array_fill).udf(),
        RowFn::new(
            "meshgate_oid_array",
            |t| match t {
                [a] if is_list(a) => Ok(vec![DataType::new_list(DataType::Int32, true)]),
                [DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null] => {
                    Ok(vec![DataType::Utf8])
                }
                _ => Err(wrong_types("meshgate_oid_array", t)),
            },
            |_, _, _| Ok(DataType::new_list(DataType::Int32, true)),
            oid_array,
        )
        .udf(),
        RowFn::new(
            "meshgate_array_param",
            coerce_array_param,
            |t, _, _| {
                Ok(match &t[0] {
                    a if is_list(a) => a.clone(),
                    _ => DataType::new_list(DataType::Utf8, true),
                })
            },
            array_param,
        )
        .udf(),
        RowFn::new(
            "array_dims",
            |t| match t {
                [a] if is_list(a) => Ok(vec![a.clone()]),
                _ => Err(wrong_types("array_dims", t)),
            },
            |_, _, _| Ok(DataType::Utf8),
            array_dims,
        )
        .udf(),
    ]
}

fn is_list(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    )
}

fn array_and_dimension(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [a, d] if is_list(a) && (d.is_integer() || d.is_null()) => {
            Ok(vec![a.clone(), DataType::Int32])
        }
        _ => Err(wrong_types(name, t)),
    }
}

/// The elements of a list value, or None for NULL.
fn elements(v: &ScalarValue) -> Option<ArrayRef> {
    let list: ArrayRef = match v {
        ScalarValue::List(l) => l.clone(),
        ScalarValue::LargeList(l) => l.clone(),
        ScalarValue::FixedSizeList(l) => l.clone(),
        _ => return None,
    };
    if list.is_null(0) {
        return None;
    }
    Some(match list.data_type() {
        DataType::List(_) => list.as_list::<i32>().value(0),
        DataType::LargeList(_) => list.as_list::<i64>().value(0),
        _ => list.as_fixed_size_list().value(0),
    })
}

/// The length of dimension `dim` (1-based): a nested list's dimensions are its levels, read
/// from the first element as PostgreSQL's rectangular arrays allow.
fn dimension_length(v: &ScalarValue, dim: i64) -> Result<Option<i32>> {
    let Some(items) = elements(v) else {
        return Ok(None);
    };
    if dim == 1 {
        return Ok((!items.is_empty()).then_some(items.len() as i32));
    }
    if dim < 1 || items.is_empty() || !is_list(items.data_type()) {
        return Ok(None);
    }
    let first = ScalarValue::try_from_array(&items, 0)?;
    dimension_length(&first, dim - 1)
}

fn bound(a: &[ScalarValue], upper: bool) -> Result<ScalarValue> {
    let dim = arg_i64(&a[1]).unwrap_or(0);
    let len = dimension_length(&a[0], dim)?;
    Ok(ScalarValue::Int32(match (len, upper) {
        (Some(n), true) => Some(n),
        (Some(_), false) => Some(1),
        (None, _) => None,
    }))
}

/// `[1:2][1:3]`: each dimension's bounds, read through the first elements; NULL when empty.
fn array_dims(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let mut out = String::new();
    let mut dim = 1;
    while let Some(n) = dimension_length(&a[0], dim)? {
        out.push_str(&format!("[1:{n}]"));
        dim += 1;
    }
    Ok(ScalarValue::Utf8((!out.is_empty()).then_some(out)))
}

fn coerce_fill(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [v, d] if is_list(d) => Ok(vec![v.clone(), DataType::new_list(DataType::Int32, true)]),
        [v, d, l] if is_list(d) && is_list(l) => Ok(vec![
            v.clone(),
            DataType::new_list(DataType::Int32, true),
            DataType::new_list(DataType::Int32, true),
        ]),
        _ => Err(wrong_types("array_fill", t)),
    }
}

/// One list level per dimension: PostgreSQL's type is the element's array type whatever the
/// number of dimensions, a list here nests one level per dimension.
fn fill_type(t: &[DataType], args: &[Option<&ScalarValue>], _: Option<&str>) -> Result<DataType> {
    let dims = args
        .get(1)
        .copied()
        .flatten()
        .and_then(elements)
        .map_or(1, |d| d.len().max(1));
    let mut out = t[0].clone();
    for _ in 0..dims {
        out = DataType::new_list(out, true);
    }
    Ok(out)
}

fn array_fill(a: &[ScalarValue], ctx: &Ctx) -> Result<ScalarValue> {
    let Some(dims) = elements(&a[1]) else {
        return fail(
            INVALID_PARAMETER_VALUE,
            "dimension array or low bound array cannot be null",
        );
    };
    let dims: Vec<i64> = (0..dims.len())
        .map(|i| ScalarValue::try_from_array(&dims, i).map(|v| arg_i64(&v).unwrap_or(0)))
        .collect::<Result<_>>()?;
    if let Some(lower) = a.get(2).and_then(elements) {
        for i in 0..lower.len() {
            if arg_i64(&ScalarValue::try_from_array(&lower, i)?) != Some(1) {
                return fail(
                    FEATURE_NOT_SUPPORTED,
                    "arrays here always start at subscript 1",
                );
            }
        }
    }
    if dims.iter().any(|d| *d < 0) || dims.iter().product::<i64>() > 100_000_000 {
        return fail(
            INVALID_PARAMETER_VALUE,
            "array size exceeds the maximum allowed",
        );
    }
    fill(&a[0], &dims, ctx.ret)
}

fn fill(value: &ScalarValue, dims: &[i64], ret: &DataType) -> Result<ScalarValue> {
    let DataType::List(element) = ret else {
        return Ok(value.clone());
    };
    let inner = match dims.split_first() {
        Some((_, rest)) if !rest.is_empty() => fill(value, rest, element.data_type())?,
        _ => value.cast_to(element.data_type())?,
    };
    let n = dims.first().copied().unwrap_or(0) as usize;
    let items = vec![inner; n];
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &items,
        element.data_type(),
    )))
}

/// `x::oid[]` (or regtype[]…) of a catalog column: an oidvector is text here (`2276 25`, or
/// `[2276, 25]` as the catalog crate prints a list); a list of OIDs passes through.
fn oid_array(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let ScalarValue::Utf8(Some(text)) = &a[0] else {
        return Ok(a[0].clone());
    };
    let inner = text.trim().trim_matches(['[', ']', '{', '}']);
    let oids = inner
        .split([',', ' '])
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().parse::<i32>().map(|o| ScalarValue::Int32(Some(o))))
        .collect::<std::result::Result<Vec<_>, _>>();
    match oids {
        Ok(oids) => Ok(ScalarValue::List(ScalarValue::new_list_nullable(
            &oids,
            &DataType::Int32,
        ))),
        Err(_) => fail(
            INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type oid: \"{text}\""),
        ),
    }
}

/// `meshgate_array_param(v)`: the array a parameter of `x = ANY($1)` stands for. A driver that
/// binds a list without a type (psycopg sends `'{r,p}'` as unknown; PostgreSQL reads it as an
/// array of x's type) gives text, read here in PostgreSQL's array syntax as text[]; a typed
/// array passes through.
fn coerce_array_param(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [a] if is_list(a) => Ok(vec![a.clone()]),
        [DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null] => {
            Ok(vec![DataType::Utf8])
        }
        _ => Err(wrong_types("meshgate_array_param", t)),
    }
}

fn array_param(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let ScalarValue::Utf8(Some(text)) = &a[0] else {
        return Ok(a[0].clone());
    };
    let Some(items) = meshgate_sqlfront::rewrite::parse_array_text(text) else {
        return fail(
            INVALID_TEXT_REPRESENTATION,
            format!("malformed array literal: \"{text}\""),
        );
    };
    let values: Vec<ScalarValue> = items.into_iter().map(ScalarValue::Utf8).collect();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values,
        &DataType::Utf8,
    )))
}
