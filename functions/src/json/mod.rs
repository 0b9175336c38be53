//! PostgreSQL's `json` and `jsonb`: their operators, functions and aggregates.
//!
//! ```text
//!  value.rs       the parser and the printers (json text as given, jsonb canonical)
//!  ops.rs         operators and functions over JSON values (-> ->> #> @> ? || -, typeof…)
//!  build.rs       SQL values as JSON (to_json, json_build_object, row_to_json)
//!  aggregates.rs  json_agg, jsonb_agg, json_object_agg, jsonb_object_agg
//!  sets.rs        the set-returning functions in FROM (jsonb_each, json_array_elements…)
//!  path.rs        a subset of SQL/JSON path (jsonb_path_query_array, @?)
//! ```
//!
//! A JSON value is a Utf8 value whose field says which type it is (see `crate::pgtype`): the
//! engine compares, casts to text and moves it as text, and the wire announces json or jsonb
//! from the field. A json value is the text as the user wrote it (validated); a jsonb value is
//! always the canonical text, so jsonb values group and sort as their texts (`=` compares
//! numbers by value: `1.0` and `1.00` are equal jsonb, as in PostgreSQL).

mod aggregates;
mod build;
mod ops;
mod path;
mod sets;
pub(crate) mod value;

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::pgtype::{pg_type, PgType};
use crate::udf::{arg_i64, arg_str, row_by_row, wrong_types};
pub use ops::{CAST_JSON, CAST_JSONB};
pub(crate) use sets::table_functions;
use value::Json;

pub use crate::pgtype::JsonKind;

impl JsonKind {
    /// The argument's text as a value of this type.
    pub(crate) fn parse(self, text: &str) -> Result<Json> {
        match self {
            JsonKind::Json => Json::parse(text),
            JsonKind::Jsonb => Json::parse_jsonb(text),
        }
    }

    /// The text a node of a parsed argument answers with in this type.
    pub(crate) fn text(self, node: &Json, source: &str) -> String {
        match self {
            JsonKind::Json => node.text_in(Some(source)),
            JsonKind::Jsonb => node.to_jsonb(),
        }
    }
}

/// The JSON type a field holds, if it holds one.
pub fn json_kind(field: &Field) -> Option<JsonKind> {
    pg_type(field).and_then(PgType::json_kind)
}

/// A nullable Utf8 field holding values of a JSON type.
pub fn json_field(name: &str, kind: JsonKind) -> Field {
    PgType::from(kind).field(name)
}

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut v = ops::functions();
    v.extend(build::functions());
    v.extend(sets::list_functions());
    v.extend(path::functions());
    v
}

pub(crate) fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    aggregates::functions()
}

/// The operators the planner turns into these functions, by the type of their left operand.
pub(crate) use ops::{may_be_json_operator, operator_function};

/// What a JSON function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ret {
    Text,
    Int,
    Bool,
    Json(JsonKind),
    /// A type's name (`pg_typeof`).
    Regtype,
    /// An array of texts (the rows of a set-returning function, for `unnest`).
    TextList,
}

impl Ret {
    fn data_type(self) -> DataType {
        match self {
            Ret::Text | Ret::Json(_) | Ret::Regtype => DataType::Utf8,
            Ret::Int => DataType::Int32,
            Ret::Bool => DataType::Boolean,
            Ret::TextList => DataType::new_list(DataType::Utf8, true),
        }
    }
}

/// One row's arguments with their fields (which say whether an argument is of a JSON type).
pub(crate) struct Args<'a> {
    /// The function's name.
    pub name: &'a str,
    pub values: &'a [ScalarValue],
    pub fields: &'a [FieldRef],
    /// The session's TimeZone, for timestamptz values.
    pub tz: Option<&'a str>,
}

pub(crate) type Eval = fn(&Args) -> Result<ScalarValue>;
pub(crate) type Coerce = fn(&str, &[DataType]) -> Result<Vec<DataType>>;

/// A JSON function: arguments read with their fields (to know which are JSON), evaluated row
/// by row.
#[derive(Debug, Clone)]
pub(crate) struct JsonFn {
    name: &'static str,
    signature: Signature,
    coerce: Coerce,
    ret: Ret,
    eval: Eval,
    /// STRICT: a NULL argument gives NULL without calling the function.
    strict: bool,
}

impl PartialEq for JsonFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for JsonFn {}
impl Hash for JsonFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl JsonFn {
    pub fn new(name: &'static str, coerce: Coerce, ret: Ret, eval: Eval) -> Self {
        JsonFn {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            ret,
            eval,
            strict: true,
        }
    }

    pub fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    /// Depends on the session (the time zone timestamps print in).
    pub fn stable(mut self) -> Self {
        self.signature = Signature::user_defined(Volatility::Stable);
        self
    }

    pub fn udf(self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(self))
    }
}

impl ScalarUDFImpl for JsonFn {
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
        (self.coerce)(self.name, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.ret.data_type())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(match self.ret {
            Ret::Json(kind) => json_field(self.name, kind),
            Ret::Regtype => PgType::Regtype.field(self.name),
            other => Field::new(self.name, other.data_type(), true),
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ret = self.ret.data_type();
        let tz = args.config_options.execution.time_zone.clone();
        let fields = args.arg_fields.clone();
        row_by_row(&args, &ret, |row| {
            if self.strict && row.iter().any(ScalarValue::is_null) {
                return ScalarValue::try_from(&ret);
            }
            let v = (self.eval)(&Args {
                name: self.name,
                values: row,
                fields: &fields,
                tz: tz.as_deref(),
            })?;
            if v.data_type() == ret {
                Ok(v)
            } else {
                v.cast_to(&ret)
            }
        })
    }
}

// ---- coercions ----

fn is_text(t: &DataType) -> bool {
    crate::udf::is_text(t)
}

/// A JSON (or text) first argument, then the rest as they are.
pub(crate) fn json_then_any(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    match types.first() {
        Some(t) if is_text(t) => Ok(std::iter::once(DataType::Utf8)
            .chain(types[1..].iter().cloned())
            .collect()),
        _ => Err(wrong_types(name, types)),
    }
}

/// Every argument as it is (`to_json`, `json_build_object`).
pub(crate) fn any(_: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    Ok(types
        .iter()
        .map(|t| match t {
            DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
            t => t.clone(),
        })
        .collect())
}

/// `n` text or JSON arguments.
pub(crate) fn texts(name: &str, types: &[DataType], n: usize) -> Result<Vec<DataType>> {
    crate::udf::texts(name, types, n)
}

// ---- reading arguments ----

/// Argument `i` as a value of the JSON type the function reads (an argument already of a JSON
/// type keeps its text, which is valid in both types).
pub(crate) fn json_arg(args: &Args, i: usize, kind: JsonKind) -> Result<(Json, String)> {
    let text = arg_str(&args.values[i]).unwrap_or_default().to_string();
    Ok((kind.parse(&text)?, text))
}

/// A path: PostgreSQL's text array (`'{a,b}'` or `ARRAY['a', 'b']`).
pub(crate) fn path_arg(v: &ScalarValue) -> Result<Vec<Option<String>>> {
    match v {
        ScalarValue::List(list) => {
            let mut out = Vec::new();
            for row in 0..list.len() {
                let inner = list.value(row);
                for i in 0..inner.len() {
                    let s = ScalarValue::try_from_array(&inner, i)?;
                    out.push(if s.is_null() {
                        None
                    } else {
                        Some(arg_str(&s).map_or_else(|| s.to_string(), str::to_string))
                    });
                }
            }
            Ok(out)
        }
        other => match arg_str(other) {
            Some(s) => text_array(s),
            None => Ok(vec![arg_i64(other).map(|i| i.to_string())]),
        },
    }
}

/// A one-dimensional text array literal: `{a,"b c",NULL}`.
pub(crate) fn text_array(s: &str) -> Result<Vec<Option<String>>> {
    match meshgate_sqlfront::rewrite::parse_array_text(s) {
        Some(items) => Ok(items),
        None => crate::error::fail(
            crate::error::INVALID_TEXT_REPRESENTATION,
            format!("malformed array literal: \"{s}\""),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_array_literals_split_as_postgres_reads_them() {
        assert_eq!(
            text_array(r#"{a, "b c" ,NULL,"NULL",d\,e}"#).unwrap(),
            vec![
                Some("a".into()),
                Some("b c".into()),
                None,
                Some("NULL".into()),
                Some("d,e".into())
            ]
        );
        assert_eq!(text_array("{}").unwrap(), Vec::<Option<String>>::new());
        assert!(text_array("a,b").is_err() && text_array("{{a}}").is_err());
    }

    #[test]
    fn fields_say_which_json_type_they_hold() {
        assert_eq!(
            json_kind(&json_field("j", JsonKind::Jsonb)),
            Some(JsonKind::Jsonb)
        );
        assert_eq!(
            json_kind(&json_field("j", JsonKind::Json)),
            Some(JsonKind::Json)
        );
        assert_eq!(json_kind(&Field::new("t", DataType::Utf8, true)), None);
    }
}
