//! Casts to `varchar(n)` and `char(n)`: the front end writes `x::varchar(2)` as
//! `meshgate_cast_varchar(x::text, 2)`, so the result is text of the right length in a field
//! that says varchar (see `crate::pgtype`).
//!
//! An explicit cast keeps the first n characters, as PostgreSQL's does (no error). A bpchar
//! value loses its trailing blanks here: PostgreSQL ignores them when it compares, measures or
//! casts the value to text, and the wire pads the value again to the declared length.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use meshgate_sqlfront::rewrite::{CAST_BPCHAR, CAST_VARCHAR};

use crate::pgtype::PgType;
use crate::udf::{is_text, wrong_types};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(CharCast::new(CAST_VARCHAR, false))),
        Arc::new(ScalarUDF::new_from_impl(CharCast::new(CAST_BPCHAR, true))),
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CharCast {
    name: &'static str,
    blank_padded: bool,
    signature: Signature,
}

impl CharCast {
    fn new(name: &'static str, blank_padded: bool) -> Self {
        CharCast {
            name,
            blank_padded,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn pg_type(&self, length: Option<u32>) -> PgType {
        if self.blank_padded {
            PgType::Bpchar(length)
        } else {
            PgType::Varchar(length)
        }
    }

    fn convert<'a>(&self, s: &'a str, length: Option<usize>) -> &'a str {
        let s = match length.and_then(|n| s.char_indices().nth(n)) {
            Some((end, _)) => &s[..end],
            None => s,
        };
        if self.blank_padded {
            s.trim_end_matches(' ')
        } else {
            s
        }
    }
}

/// The length argument: a constant the front end wrote.
fn length_arg(v: Option<&ScalarValue>) -> Option<u32> {
    match v? {
        ScalarValue::Int64(Some(n)) => u32::try_from(*n).ok(),
        ScalarValue::Int32(Some(n)) => u32::try_from(*n).ok(),
        _ => None,
    }
}

impl ScalarUDFImpl for CharCast {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_text(t) => Ok(vec![DataType::Utf8]),
            [t, n] if is_text(t) && n.is_integer() => Ok(vec![DataType::Utf8, DataType::Int64]),
            _ => Err(wrong_types(self.name, arg_types)),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let length = length_arg(args.scalar_arguments.get(1).copied().flatten());
        Ok(Arc::new(self.pg_type(length).field(self.name)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let length = match args.args.get(1) {
            Some(ColumnarValue::Scalar(n)) => length_arg(Some(n)).map(|n| n as usize),
            _ => None,
        };
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let input = args.args[0].to_array(if scalar { 1 } else { args.number_rows })?;
        let out: ArrayRef = if length.is_none() && !self.blank_padded {
            input
        } else {
            let strings = input.as_string::<i32>();
            let mut b = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
            for v in strings.iter() {
                b.append_option(v.map(|s| self.convert(s, length)));
            }
            Arc::new(b.finish())
        };
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_keep_the_first_characters_and_bpchar_drops_trailing_blanks() {
        let varchar = CharCast::new(CAST_VARCHAR, false);
        let bpchar = CharCast::new(CAST_BPCHAR, true);
        assert_eq!(varchar.convert("abc", Some(2)), "ab");
        assert_eq!(varchar.convert("ab ", Some(5)), "ab ");
        assert_eq!(varchar.convert("äöü", Some(2)), "äö");
        assert_eq!(bpchar.convert("ab   x", Some(4)), "ab");
        assert_eq!(bpchar.convert("abc", Some(5)), "abc");
        assert_eq!(bpchar.convert("a  ", None), "a");
    }
}
