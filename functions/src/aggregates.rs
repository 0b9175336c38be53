//! Ordered-set aggregates DataFusion lacks: `mode() WITHIN GROUP (ORDER BY x)` and
//! `percentile_disc(f) WITHIN GROUP (ORDER BY x)`. Both keep the group's values and decide at
//! the end, as PostgreSQL does (it sorts the group too).

use std::any::Any;
use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::error::{fail, NUMERIC_VALUE_OUT_OF_RANGE};
use crate::udf::{arg_f64, wrong_types, FLOAT};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Mode,
    PercentileDisc,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OrderedSet {
    kind: Kind,
    signature: Signature,
}

pub(crate) fn functions() -> Vec<Arc<AggregateUDF>> {
    [Kind::Mode, Kind::PercentileDisc]
        .into_iter()
        .map(|kind| {
            Arc::new(AggregateUDF::new_from_impl(OrderedSet {
                kind,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

impl AggregateUDFImpl for OrderedSet {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        match self.kind {
            Kind::Mode => "mode",
            Kind::PercentileDisc => "percentile_disc",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match (self.kind, arg_types) {
            (Kind::Mode, [x]) => Ok(vec![x.clone()]),
            (Kind::PercentileDisc, [x, f]) if f.is_numeric() || f.is_null() => {
                Ok(vec![x.clone(), FLOAT])
            }
            _ => Err(wrong_types(self.name(), arg_types)),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Null))
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let dt = args.return_type().clone();
        Ok(vec![
            Arc::new(Field::new_list(
                format!("{}_values", args.name),
                Field::new_list_field(dt, true),
                true,
            )),
            Arc::new(Field::new(format!("{}_fraction", args.name), FLOAT, true)),
        ])
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Collect {
            kind: self.kind,
            values: vec![],
            fraction: None,
            descending: acc_args
                .order_bys
                .first()
                .is_some_and(|s| s.options.descending),
            data_type: acc_args.return_field.data_type().clone(),
        }))
    }
}

#[derive(Debug)]
struct Collect {
    kind: Kind,
    values: Vec<ScalarValue>,
    fraction: Option<f64>,
    descending: bool,
    data_type: DataType,
}

impl Collect {
    fn sorted(&mut self) {
        self.values
            .sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
        if self.descending {
            self.values.reverse();
        }
    }
}

impl Accumulator for Collect {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(col) = values.first() else {
            return Ok(());
        };
        for i in 0..col.len() {
            if col.is_valid(i) {
                self.values.push(ScalarValue::try_from_array(col, i)?);
            }
        }
        if self.fraction.is_none() {
            if let Some(f) = values.get(1) {
                for i in 0..f.len() {
                    if f.is_valid(i) {
                        self.fraction = arg_f64(&ScalarValue::try_from_array(f, i)?);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let none = ScalarValue::try_from(&self.data_type)?;
        if self.values.is_empty() {
            return Ok(none);
        }
        self.sorted();
        match self.kind {
            Kind::Mode => {
                // The most frequent value; among equally frequent ones, the first in order.
                let (mut best, mut best_n) = (0, 0);
                let mut i = 0;
                while i < self.values.len() {
                    let mut j = i + 1;
                    while j < self.values.len() && self.values[j] == self.values[i] {
                        j += 1;
                    }
                    if j - i > best_n {
                        (best, best_n) = (i, j - i);
                    }
                    i = j;
                }
                Ok(self.values[best].clone())
            }
            Kind::PercentileDisc => {
                let f = self.fraction.unwrap_or(0.0);
                if !(0.0..=1.0).contains(&f) {
                    return fail(
                        NUMERIC_VALUE_OUT_OF_RANGE,
                        format!("percentile value {f} is not between 0 and 1"),
                    );
                }
                // The first value whose position reaches the fraction of the group.
                let n = self.values.len();
                let k = ((f * n as f64).ceil() as usize).clamp(1, n);
                Ok(self.values[k - 1].clone())
            }
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.iter().map(ScalarValue::size).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(
                &self.values,
                &self.data_type,
            )),
            ScalarValue::Float64(self.fraction),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first() else {
            return Ok(());
        };
        let lists = lists.as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_valid(row) {
                let inner = lists.value(row);
                for i in 0..inner.len() {
                    if inner.is_valid(i) {
                        self.values.push(ScalarValue::try_from_array(&inner, i)?);
                    }
                }
            }
        }
        if self.fraction.is_none() {
            if let Some(f) = states.get(1) {
                for i in 0..f.len() {
                    if f.is_valid(i) {
                        self.fraction = arg_f64(&ScalarValue::try_from_array(f, i)?);
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}
