//! The JSON set-returning functions in FROM: `jsonb_each(j)` (columns key, value),
//! `jsonb_each_text`, `jsonb_array_elements(j)` (value), `jsonb_array_elements_text`,
//! `jsonb_object_keys(j)` (one column of the function's name), and their json twins.
//!
//! DataFusion's table functions receive their arguments when the statement is planned, so
//! the argument must be a constant expression (a literal, a cast literal, a parameter once
//! bound); it is evaluated then and the rows are a table of their own.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunction, TableFunctionImpl, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarUDF};
use datafusion::physical_expr::create_physical_expr;

use super::value::{Json, Value};
use super::{json_field, JsonFn, JsonKind, Ret};
use crate::error::{fail, FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE};
use crate::udf::arg_str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Each,
    Elements,
    Keys,
}

#[derive(Debug)]
struct JsonRows {
    name: &'static str,
    kind: JsonKind,
    shape: Shape,
    /// Values as text (`_text` variants) rather than of the JSON type.
    as_text: bool,
    /// The scalar function giving the rows as an array, for the select list and rows of
    /// another table's column (see [`list_functions`]); for `json_each`, the values.
    list: &'static str,
}

const fn set(
    name: &'static str,
    kind: JsonKind,
    shape: Shape,
    as_text: bool,
    list: &'static str,
) -> JsonRows {
    JsonRows {
        name,
        kind,
        shape,
        as_text,
        list,
    }
}

use JsonKind::{Json as J, Jsonb as B};

static SETS: [JsonRows; 10] = [
    set("json_each", J, Shape::Each, false, "meshgate_json_each"),
    set("jsonb_each", B, Shape::Each, false, "meshgate_jsonb_each"),
    set(
        "json_each_text",
        J,
        Shape::Each,
        true,
        "meshgate_json_each_text",
    ),
    set(
        "jsonb_each_text",
        B,
        Shape::Each,
        true,
        "meshgate_jsonb_each_text",
    ),
    set(
        "json_array_elements",
        J,
        Shape::Elements,
        false,
        "meshgate_json_array_elements",
    ),
    set(
        "jsonb_array_elements",
        B,
        Shape::Elements,
        false,
        "meshgate_jsonb_array_elements",
    ),
    set(
        "json_array_elements_text",
        J,
        Shape::Elements,
        true,
        "meshgate_json_array_elements_text",
    ),
    set(
        "jsonb_array_elements_text",
        B,
        Shape::Elements,
        true,
        "meshgate_jsonb_array_elements_text",
    ),
    set(
        "json_object_keys",
        J,
        Shape::Keys,
        true,
        "meshgate_json_object_keys",
    ),
    set(
        "jsonb_object_keys",
        B,
        Shape::Keys,
        true,
        "meshgate_jsonb_object_keys",
    ),
];

pub(crate) fn table_functions() -> HashMap<String, Arc<TableFunction>> {
    SETS.iter()
        .map(|f| {
            (
                f.name.to_string(),
                Arc::new(TableFunction::new(f.name.to_string(), Arc::new(Rows(f)))),
            )
        })
        .collect()
}

/// The set-returning functions as scalar functions returning an array of the rows (of the
/// values, for the `json_each` family, whose keys are `json_object_keys`'s):
/// the front end writes `jsonb_array_elements(j)` in a select list as
/// `meshgate_cast_jsonb(unnest(meshgate_jsonb_array_elements(j)))`, rows of jsonb values.
pub(crate) fn list_functions() -> Vec<Arc<ScalarUDF>> {
    SETS.iter()
        .filter(|f| !f.list.is_empty())
        .map(|f| {
            JsonFn::new(
                f.list,
                |name, t| super::texts(name, t, 1),
                Ret::TextList,
                |a| {
                    let Some(f) = SETS.iter().find(|f| f.list == a.name) else {
                        return Err(crate::udf::wrong_types(a.name, &[]));
                    };
                    let text = arg_str(&a.values[0]).unwrap_or_default();
                    let (keys, values) = f.rows(text)?;
                    let items: Vec<ScalarValue> = match f.shape {
                        Shape::Keys => keys,
                        _ => values,
                    }
                    .into_iter()
                    .map(ScalarValue::Utf8)
                    .collect();
                    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                        &items,
                        &DataType::Utf8,
                    )))
                },
            )
            .udf()
        })
        .collect()
}

#[derive(Debug)]
struct Rows(&'static JsonRows);

/// The value of a constant argument.
fn constant(e: &Expr) -> Result<ScalarValue> {
    if let Expr::Literal(v, _) = e {
        return Ok(v.clone());
    }
    let schema = DFSchema::empty();
    let physical = create_physical_expr(e, &schema, &ExecutionProps::new())?;
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match physical.evaluate(&one_row)? {
        ColumnarValue::Scalar(v) => Ok(v),
        ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0),
    }
}

impl TableFunctionImpl for Rows {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let f = self.0;
        let [arg] = args else {
            return fail(
                crate::error::UNDEFINED_FUNCTION,
                format!("function {} takes one argument", f.name),
            );
        };
        let value = constant(arg).or_else(|_| {
            fail(
                FEATURE_NOT_SUPPORTED,
                format!(
                    "{}() in FROM takes a constant argument here, not a column of another table",
                    f.name
                ),
            )
        })?;
        let text = match &value {
            ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
                s.clone()
            }
            ScalarValue::Null => None,
            _ => {
                return Err(crate::udf::wrong_types(f.name, &[value.data_type()]));
            }
        };
        let value_field = || {
            if f.as_text {
                Field::new("value", DataType::Utf8, true)
            } else {
                json_field("value", f.kind)
            }
        };
        let fields = match f.shape {
            Shape::Each => vec![Field::new("key", DataType::Utf8, true), value_field()],
            Shape::Elements => vec![value_field()],
            Shape::Keys => vec![Field::new(f.name, DataType::Utf8, true)],
        };
        let (keys, values) = match text {
            Some(t) => f.rows(&t)?,
            None => (vec![], vec![]),
        };
        let mut columns: Vec<ArrayRef> = Vec::new();
        if f.shape != Shape::Elements {
            columns.push(Arc::new(StringArray::from(keys)));
        }
        if f.shape != Shape::Keys {
            columns.push(Arc::new(StringArray::from(values)));
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

type Column = Vec<Option<String>>;

impl JsonRows {
    fn rows(&self, text: &str) -> Result<(Column, Column)> {
        let j = self.kind.parse(text)?;
        let value = |node: &Json| {
            if self.as_text {
                node.as_text(matches!(self.kind, JsonKind::Json).then_some(text))
            } else {
                Some(self.kind.text(node, text))
            }
        };
        match (&j.value, self.shape) {
            (Value::Object(members), Shape::Each | Shape::Keys) => Ok(members
                .iter()
                .map(|(k, v)| (Some(k.clone()), value(v)))
                .unzip()),
            (Value::Array(items), Shape::Elements) => {
                Ok((vec![], items.iter().map(value).collect()))
            }
            (Value::Array(_), _) => fail(
                INVALID_PARAMETER_VALUE,
                format!("cannot call {} on an array", self.name),
            ),
            (Value::Object(_), _) => fail(
                INVALID_PARAMETER_VALUE,
                "cannot extract elements from an object",
            ),
            _ if self.shape == Shape::Elements => fail(
                INVALID_PARAMETER_VALUE,
                "cannot extract elements from a scalar",
            ),
            _ => fail(
                INVALID_PARAMETER_VALUE,
                format!("cannot call {} on a scalar", self.name),
            ),
        }
    }
}
