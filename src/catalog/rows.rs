//! Building small in-memory catalog tables row by row.

use std::sync::Arc;

use datafusion::arrow::array::{new_empty_array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result;

pub fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

pub fn schema(cols: &[(&str, DataType, bool)]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
            .collect::<Vec<_>>(),
    ))
}

/// Columns all nullable text, as most of information_schema's are.
pub fn text_schema(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

pub fn i32v(v: i32) -> ScalarValue {
    ScalarValue::Int32(Some(v))
}
pub fn i16v(v: i16) -> ScalarValue {
    ScalarValue::Int16(Some(v))
}
pub fn i64v(v: i64) -> ScalarValue {
    ScalarValue::Int64(Some(v))
}
pub fn text(v: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(v.into()))
}
pub fn opt_text(v: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(v)
}
pub fn boolv(v: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(v))
}
pub fn null(dt: &DataType) -> ScalarValue {
    ScalarValue::try_from(dt).unwrap_or(ScalarValue::Null)
}

/// Rows → one batch of `schema`. A `None` cell is the column type's NULL.
pub fn batch(schema: &SchemaRef, rows: Vec<Vec<Option<ScalarValue>>>) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if rows.is_empty() {
                return Ok(new_empty_array(f.data_type()));
            }
            let cells = rows
                .iter()
                .map(|r| r[i].clone().unwrap_or_else(|| null(f.data_type())));
            ScalarValue::iter_to_array(cells)
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Rows → a table of `schema`, for catalog tables built whole.
pub fn mem(s: &SchemaRef, rows: Vec<Vec<Option<ScalarValue>>>) -> Result<Arc<dyn TableProvider>> {
    let b = batch(s, rows)?;
    Ok(Arc::new(MemTable::try_new(s.clone(), vec![vec![b]])?))
}
