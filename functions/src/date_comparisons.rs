//! A date compared with a constant timestamp, compared as a date. `date ± interval` is a
//! timestamp (as in PostgreSQL, see `planner`), so `l_shipdate <= date '1998-12-01' - interval
//! '90' day` compares the column cast to a timestamp; DataFusion unwraps such casts only for
//! numbers and strings, and a cast column prunes no file or row group. Once the constant is
//! folded, the comparison is rewritten on the date itself with the day that bounds it
//! (`d < ts` is `d < ⌈ts⌉`, `d <= ts` is `d <= ⌊ts⌋`, …), which is the same predicate.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The rule, to run right after constant folding (`simplify_expressions`).
pub fn rule() -> Arc<dyn OptimizerRule + Send + Sync> {
    Arc::new(DateComparisons)
}

#[derive(Debug)]
struct DateComparisons;

impl OptimizerRule for DateComparisons {
    fn name(&self) -> &str {
        "meshgate_date_comparisons"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let schema = match &plan {
            LogicalPlan::TableScan(scan) => {
                DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema())?
            }
            _ => merge_schema(&plan.inputs()),
        };
        plan.map_expressions(|e| e.transform_up(|e| Ok(on_dates(e, &schema))))
    }
}

fn is_date(e: &Expr, schema: &DFSchema) -> bool {
    matches!(e.get_type(schema), Ok(DataType::Date32))
}

/// Days since the epoch below and above (equal at midnight) a timestamp without time zone.
fn day_bounds(v: &ScalarValue) -> Option<(i32, i32)> {
    let (value, per_day): (i64, i64) = match v {
        ScalarValue::TimestampNanosecond(Some(v), None) => (*v, 86_400_000_000_000),
        ScalarValue::TimestampMicrosecond(Some(v), None) => (*v, 86_400_000_000),
        ScalarValue::TimestampMillisecond(Some(v), None) => (*v, 86_400_000),
        ScalarValue::TimestampSecond(Some(v), None) => (*v, 86_400),
        _ => return None,
    };
    let floor = i32::try_from(value.div_euclid(per_day)).ok()?;
    let ceil = floor.checked_add(i32::from(value.rem_euclid(per_day) != 0))?;
    Some((floor, ceil))
}

fn on_dates(e: Expr, schema: &DFSchema) -> Transformed<Expr> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Transformed::no(e);
    };
    // The date on the left: `ts op date` is `date op' ts`.
    let (date, op, ts) = match (left.as_ref(), right.as_ref()) {
        (
            Expr::Cast(Cast {
                expr,
                data_type: DataType::Timestamp(_, None),
            }),
            Expr::Literal(v, _),
        ) => (expr, *op, v),
        (
            Expr::Literal(v, _),
            Expr::Cast(Cast {
                expr,
                data_type: DataType::Timestamp(_, None),
            }),
        ) => match op.swap() {
            Some(op) => (expr, op, v),
            None => return Transformed::no(e),
        },
        _ => return Transformed::no(e),
    };
    let Some((floor, ceil)) = day_bounds(ts) else {
        return Transformed::no(e);
    };
    if !is_date(date, schema) {
        return Transformed::no(e);
    }
    let day = match op {
        Operator::Lt | Operator::GtEq => ceil,
        Operator::LtEq | Operator::Gt => floor,
        Operator::Eq if floor == ceil => floor,
        _ => return Transformed::no(e),
    };
    Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        date.clone(),
        op,
        Box::new(Expr::Literal(ScalarValue::Date32(Some(day)), None)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_bound_timestamps_from_both_sides() {
        let day = 86_400_000_000_000i64;
        let ns = |v| ScalarValue::TimestampNanosecond(Some(v), None);
        assert_eq!(day_bounds(&ns(3 * day)), Some((3, 3)));
        assert_eq!(day_bounds(&ns(3 * day + 1)), Some((3, 4)));
        assert_eq!(day_bounds(&ns(-1)), Some((-1, 0)));
        assert_eq!(
            day_bounds(&ScalarValue::TimestampNanosecond(
                Some(0),
                Some("UTC".into())
            )),
            None
        );
    }
}
