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
use datafusion::logical_expr::{ColumnarValue, Expr};
use datafusion::physical_expr::create_physical_expr;

use super::value::{Json, Value};
use super::{json_field, JsonKind};
use crate::error::{fail, FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE};

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
}

pub(crate) fn table_functions() -> HashMap<String, Arc<TableFunction>> {
    use JsonKind::{Json as J, Jsonb as B};
    [
        ("json_each", J, Shape::Each, false),
        ("jsonb_each", B, Shape::Each, false),
        ("json_each_text", J, Shape::Each, true),
        ("jsonb_each_text", B, Shape::Each, true),
        ("json_array_elements", J, Shape::Elements, false),
        ("jsonb_array_elements", B, Shape::Elements, false),
        ("json_array_elements_text", J, Shape::Elements, true),
        ("jsonb_array_elements_text", B, Shape::Elements, true),
        ("json_object_keys", J, Shape::Keys, true),
        ("jsonb_object_keys", B, Shape::Keys, true),
    ]
    .into_iter()
    .map(|(name, kind, shape, as_text)| {
        let f = JsonRows {
            name,
            kind,
            shape,
            as_text,
        };
        (
            name.to_string(),
            Arc::new(TableFunction::new(name.to_string(), Arc::new(f))),
        )
    })
    .collect()
}

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

impl TableFunctionImpl for JsonRows {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let [arg] = args else {
            return fail(
                crate::error::UNDEFINED_FUNCTION,
                format!("function {} takes one argument", self.name),
            );
        };
        let value = constant(arg).or_else(|_| {
            fail(
                FEATURE_NOT_SUPPORTED,
                format!(
                    "{}() in FROM takes a constant argument here, not a column of another table",
                    self.name
                ),
            )
        })?;
        let text = match &value {
            ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
                s.clone()
            }
            ScalarValue::Null => None,
            _ => {
                return Err(crate::udf::wrong_types(self.name, &[value.data_type()]));
            }
        };
        let value_field = || {
            if self.as_text {
                Field::new("value", DataType::Utf8, true)
            } else {
                json_field("value", self.kind)
            }
        };
        let fields = match self.shape {
            Shape::Each => vec![Field::new("key", DataType::Utf8, true), value_field()],
            Shape::Elements => vec![value_field()],
            Shape::Keys => vec![Field::new(self.name, DataType::Utf8, true)],
        };
        let (keys, values) = match text {
            Some(t) => self.rows(&t)?,
            None => (vec![], vec![]),
        };
        let mut columns: Vec<ArrayRef> = Vec::new();
        if self.shape != Shape::Elements {
            columns.push(Arc::new(StringArray::from(keys)));
        }
        if self.shape != Shape::Keys {
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
