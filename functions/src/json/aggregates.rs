//! `json_agg`, `jsonb_agg`, `json_object_agg`, `jsonb_object_agg`, with `ORDER BY` inside.
//!
//! Each input row is written as JSON text when it arrives; the rows' ordering values travel
//! with them through partial aggregation, and the group is sorted once at the end (partial
//! aggregates of several partitions would otherwise interleave).

use std::any::Any;
use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::build::{jsonb, key_text, to_json};
use super::value::quoted;
use super::{any, json_field, JsonKind};
use crate::error::{fail, INVALID_PARAMETER_VALUE};

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonAgg {
    name: &'static str,
    kind: JsonKind,
    /// `json_object_agg(key, value)` rather than `json_agg(value)`.
    object: bool,
    signature: Signature,
}

pub(crate) fn functions() -> Vec<Arc<AggregateUDF>> {
    [
        ("json_agg", JsonKind::Json, false),
        ("jsonb_agg", JsonKind::Jsonb, false),
        ("json_object_agg", JsonKind::Json, true),
        ("jsonb_object_agg", JsonKind::Jsonb, true),
    ]
    .into_iter()
    .map(|(name, kind, object)| {
        Arc::new(AggregateUDF::new_from_impl(JsonAgg {
            name,
            kind,
            object,
            signature: Signature::user_defined(Volatility::Stable),
        }))
    })
    .collect()
}

impl AggregateUDFImpl for JsonAgg {
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
        if arg_types.len() != if self.object { 2 } else { 1 } {
            return Err(crate::udf::wrong_types(self.name, arg_types));
        }
        any(self.name, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field(&self, _arg_fields: &[FieldRef]) -> Result<FieldRef> {
        Ok(Arc::new(json_field(self.name, self.kind)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: String, dt: &DataType| {
            Arc::new(Field::new_list(
                name,
                Field::new_list_field(dt.clone(), true),
                true,
            ))
        };
        let mut fields = vec![
            list(format!("{}_keys", args.name), &DataType::Utf8),
            list(format!("{}_values", args.name), &DataType::Utf8),
        ];
        for (i, f) in args.ordering_fields.iter().enumerate() {
            fields.push(list(format!("{}_order{i}", args.name), f.data_type()));
        }
        Ok(fields)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let order_types = acc_args
            .order_bys
            .iter()
            .map(|o| o.expr.data_type(acc_args.schema))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Collect {
            kind: self.kind,
            object: self.object,
            fields: acc_args.expr_fields.to_vec(),
            order: acc_args.order_bys.iter().map(|o| o.options).collect(),
            order_types,
            distinct: acc_args.is_distinct,
            rows: vec![],
        }))
    }
}

#[derive(Debug)]
struct Row {
    key: Option<String>,
    value: String,
    order: Vec<ScalarValue>,
}

#[derive(Debug)]
struct Collect {
    kind: JsonKind,
    object: bool,
    fields: Vec<FieldRef>,
    order: Vec<SortOptions>,
    order_types: Vec<DataType>,
    /// `json_agg(DISTINCT x ORDER BY x)` (the front end adds the ORDER BY): equal neighbours
    /// after the sort are one.
    distinct: bool,
    rows: Vec<Row>,
}

impl Collect {
    fn inputs(&self) -> usize {
        if self.object {
            2
        } else {
            1
        }
    }

    fn compare(&self, a: &Row, b: &Row) -> Ordering {
        for (i, opts) in self.order.iter().enumerate() {
            let (x, y) = (&a.order[i], &b.order[i]);
            let o = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if opts.nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if opts.nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) => {
                    let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
                    if opts.descending {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

impl Accumulator for Collect {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = self.inputs();
        let Some(first) = values.first() else {
            return Ok(());
        };
        for row in 0..first.len() {
            let cell = |i: usize| ScalarValue::try_from_array(&values[i], row);
            let (key, value) = if self.object {
                let k = cell(0)?;
                if k.is_null() {
                    return fail(INVALID_PARAMETER_VALUE, "field name must not be null");
                }
                (
                    Some(key_text(&k, None)?),
                    to_json(&cell(1)?, &self.fields[1], None)?,
                )
            } else {
                (None, to_json(&cell(0)?, &self.fields[0], None)?)
            };
            let order = (n..values.len()).map(cell).collect::<Result<Vec<_>>>()?;
            self.rows.push(Row { key, value, order });
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.rows.is_empty() {
            return Ok(ScalarValue::Utf8(None));
        }
        let mut rows = std::mem::take(&mut self.rows);
        if !self.order.is_empty() {
            rows.sort_by(|a, b| self.compare(a, b));
        }
        if self.distinct {
            rows.dedup_by(|a, b| a.key == b.key && a.value == b.value);
        }
        let text = if self.object {
            let members: Vec<String> = rows
                .iter()
                .map(|r| format!("{} : {}", quoted(r.key.as_deref().unwrap_or("")), r.value))
                .collect();
            format!("{{ {} }}", members.join(", "))
        } else {
            let items: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
            // PostgreSQL's json_agg starts each row or array after the first on a new line.
            let structured = matches!(
                self.fields.first().map(|f| f.data_type()),
                Some(DataType::Struct(_) | DataType::List(_) | DataType::LargeList(_))
            );
            format!("[{}]", items.join(if structured { ", \n " } else { ", " }))
        };
        self.rows = rows;
        Ok(ScalarValue::Utf8(Some(match self.kind {
            JsonKind::Json => text,
            JsonKind::Jsonb => jsonb(text)?,
        })))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .rows
                .iter()
                .map(|r| {
                    r.value.len()
                        + r.key.as_ref().map_or(0, String::len)
                        + r.order.iter().map(ScalarValue::size).sum::<usize>()
                })
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = |values: Vec<ScalarValue>, dt: &DataType| {
            ScalarValue::List(ScalarValue::new_list_nullable(&values, dt))
        };
        let mut state = vec![
            list(
                self.rows
                    .iter()
                    .map(|r| ScalarValue::Utf8(r.key.clone()))
                    .collect(),
                &DataType::Utf8,
            ),
            list(
                self.rows
                    .iter()
                    .map(|r| ScalarValue::Utf8(Some(r.value.clone())))
                    .collect(),
                &DataType::Utf8,
            ),
        ];
        for (i, dt) in self.order_types.iter().enumerate() {
            state.push(list(
                self.rows.iter().map(|r| r.order[i].clone()).collect(),
                dt,
            ));
        }
        Ok(state)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<_> = states.iter().map(|s| s.as_list::<i32>()).collect();
        let Some(keys) = lists.first() else {
            return Ok(());
        };
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let columns: Vec<ArrayRef> = lists.iter().map(|l| l.value(row)).collect();
            for i in 0..columns[0].len() {
                let cell = |c: usize| ScalarValue::try_from_array(&columns[c], i);
                let key = match cell(0)? {
                    ScalarValue::Utf8(k) => k,
                    _ => None,
                };
                let value = match cell(1)? {
                    ScalarValue::Utf8(Some(v)) => v,
                    _ => "null".into(),
                };
                let order = (2..columns.len()).map(cell).collect::<Result<Vec<_>>>()?;
                self.rows.push(Row { key, value, order });
            }
        }
        Ok(())
    }
}
