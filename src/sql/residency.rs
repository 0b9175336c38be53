//! Residency rules, enforced where the data lives: what a statement that a peer gateway sends
//! on behalf of a consumer of another region may return.
//!
//! The check runs on the optimized plan, just before it runs, so it sees what will actually be
//! read (the columns each scan projects and the filters pushed into it, policy filters and
//! masks included), and it fails before the first row is read:
//!
//! ```text
//!  every scan of a product whose jurisdiction is not the consumer's region
//!    ├─ export = "none"                      ─► 42501
//!    ├─ reads a never_export column (projected, or in a filter pushed into the scan)
//!    │   in any way: value, expression, GROUP BY key, ORDER BY, WHERE, join key ─► 42501
//!    └─ export = "aggregates": the plan, under its projections, sorts, limits and HAVING
//!       filters, is one Aggregate with every such scan below it, whose functions return
//!       statistics rather than the rows themselves (no array_agg, string_agg, first_value…)
//!         ─► rewritten: each group also counts its rows; a window over the whole result takes
//!            the smallest count, and the result is refused if it is below min_group_size
//! ```
//!
//! A small group is refused rather than left out: an answer silently missing groups could be
//! taken for the whole truth. The window holds every group back until all are counted, so a
//! refused result sends no row at all.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::Column;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    col, create_udf, lit, Aggregate, ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder,
    Volatility, WindowFunctionDefinition,
};

use crate::catalog::Mesh;
use crate::config::{Export, Residency};
use crate::error::UserError;

/// Aggregate functions whose result is a statistic of its group, not one of its values.
const STATISTICS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "var",
    "var_samp",
    "var_pop",
    "variance",
    "corr",
    "covar_samp",
    "covar_pop",
    "median",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "bool_and",
    "bool_or",
    "regr_slope",
    "regr_intercept",
    "regr_count",
    "regr_r2",
    "regr_avgx",
    "regr_avgy",
    "regr_sxx",
    "regr_syy",
    "regr_sxy",
    // The display scales PostgreSQL gives avg, variance and stddev results: statistics of
    // the group's values' scales.
    "meshgate_avg_dscale",
    "meshgate_var_samp_dscale",
    "meshgate_var_pop_dscale",
    "meshgate_stddev_samp_dscale",
    "meshgate_stddev_pop_dscale",
    "meshgate_dscale",
];

const GROUP_ROWS: &str = "__mg_group_rows";
const FEWEST_ROWS: &str = "__mg_fewest_rows";

/// One restricted table a statement reads.
struct Restricted {
    name: String,
    rule: Residency,
}

/// Checks `plan` (optimized) against the residency rules of every product it reads whose
/// jurisdiction is not `consumer`'s, and returns it with the group-size check added where
/// one applies. Refusals are 42501 naming the product and the rule.
pub fn enforce(
    plan: LogicalPlan,
    consumer: &str,
    mesh: &Mesh,
    default_schema: &str,
) -> Result<LogicalPlan, UserError> {
    let mut restricted: Vec<Restricted> = Vec::new();
    let mut refusal: Option<UserError> = None;
    let _ = plan.apply_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = node else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let Some((product, table)) = mesh.scanned(&scan.table_name, default_schema) else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let name = format!("{}.{table}", product.name);
        let domain = mesh.domains.iter().find(|d| d.name == product.domain);
        if domain.is_some_and(|d| d.foreign) {
            // Another region's table, which this gateway itself reads through a peer: a
            // second hop would pass the user's identity on twice; the consumer's own gateway
            // asks that region directly.
            refusal = Some(UserError::denied(format!(
                "{name} is not in this gateway's jurisdiction; ask a gateway of its own region"
            )));
            return Ok(TreeNodeRecursion::Stop);
        }
        let Some(rule) = product.residency.clone() else {
            return Ok(TreeNodeRecursion::Continue);
        };
        if rule.jurisdiction == consumer {
            return Ok(TreeNodeRecursion::Continue);
        }
        let leaves = |what: &str| {
            UserError::denied(format!(
                "{name}: {what} may leave jurisdiction {}",
                rule.jurisdiction
            ))
        };
        if rule.export == Export::None {
            refusal = Some(leaves("nothing"));
            return Ok(TreeNodeRecursion::Stop);
        }
        let mut read: Vec<String> = scan
            .projected_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for f in &scan.filters {
            for c in f.column_refs() {
                read.push(c.name.clone());
            }
        }
        if let Some(c) = read.iter().find(|c| rule.holds_back(table, c)) {
            refusal = Some(UserError::denied(format!(
                "{name}: column {c} may never leave jurisdiction {}, not even aggregated or as a condition",
                rule.jurisdiction
            )));
            return Ok(TreeNodeRecursion::Stop);
        }
        if matches!(rule.export, Export::Aggregates { .. }) {
            restricted.push(Restricted { name, rule });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if let Some(e) = refusal {
        return Err(e);
    }
    let Some(strictest) = restricted.iter().max_by_key(|r| match r.rule.export {
        Export::Aggregates { min_group_size } => min_group_size,
        _ => 0,
    }) else {
        return Ok(plan);
    };
    let Export::Aggregates { min_group_size } = strictest.rule.export else {
        return Ok(plan);
    };
    let refuse = || {
        UserError::denied(format!(
            "{}: only aggregates of at least {min_group_size} rows may leave jurisdiction {}",
            strictest.name, strictest.rule.jurisdiction
        ))
    };
    let min_group_size = i64::try_from(min_group_size).unwrap_or(i64::MAX);
    let message = refuse().message;
    let rewritten = rewrite_top_aggregate(plan, &|agg| {
        let below = scans_below(&agg.input, &restricted, mesh, default_schema);
        if below < restricted.len() {
            return Err(refuse());
        }
        if let Some(f) = agg.aggr_expr.iter().find_map(not_a_statistic) {
            return Err(UserError::denied(format!(
                "{}: {f} returns the rows themselves; only aggregates of at least {min_group_size} rows may leave jurisdiction {}",
                strictest.name, strictest.rule.jurisdiction
            )));
        }
        guard_group_size(agg, min_group_size, &message)
            .map_err(|e| UserError::internal("residency check", &e))
    })?;
    rewritten.ok_or_else(refuse)
}

/// Replaces the Aggregate under the plan's top pass-through nodes with `f(aggregate)`; None
/// when the plan is not an aggregate at heart.
fn rewrite_top_aggregate(
    plan: LogicalPlan,
    f: &dyn Fn(&Aggregate) -> Result<LogicalPlan, UserError>,
) -> Result<Option<LogicalPlan>, UserError> {
    let passes = |p: &LogicalPlan| {
        matches!(
            p,
            LogicalPlan::Projection(_)
                | LogicalPlan::Sort(_)
                | LogicalPlan::Limit(_)
                | LogicalPlan::Filter(_)
                | LogicalPlan::SubqueryAlias(_)
        ) && !has_subquery(p)
    };
    match plan {
        LogicalPlan::Aggregate(agg) => f(&agg).map(Some),
        p if passes(&p) => {
            let inputs = p.inputs();
            let [input] = inputs.as_slice() else {
                return Ok(None);
            };
            let Some(inner) = rewrite_top_aggregate((*input).clone(), f)? else {
                return Ok(None);
            };
            let exprs = p.expressions();
            p.with_new_exprs(exprs, vec![inner])
                .map(Some)
                .map_err(|e| UserError::internal("residency check", &e))
        }
        _ => Ok(None),
    }
}

fn has_subquery(p: &LogicalPlan) -> bool {
    p.expressions().iter().any(|e| {
        e.exists(|e| {
            Ok(matches!(
                e,
                Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
            ))
        })
        .unwrap_or(true)
    })
}

/// How many of the restricted scans are in `plan`.
fn scans_below(
    plan: &LogicalPlan,
    restricted: &[Restricted],
    mesh: &Mesh,
    default_schema: &str,
) -> usize {
    let mut n = 0;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Some((product, table)) = mesh.scanned(&scan.table_name, default_schema) {
                let name = format!("{}.{table}", product.name);
                if restricted.iter().any(|x| x.name == name) {
                    n += 1;
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    n
}

/// The name of an aggregate function in `e` that is not a statistic of its group.
fn not_a_statistic(e: &Expr) -> Option<String> {
    let mut found = None;
    let _ = e.apply(|e| {
        if let Expr::AggregateFunction(f) = e {
            let name = f.func.name().to_ascii_lowercase();
            if !STATISTICS.contains(&name.as_str()) {
                found = Some(name);
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The aggregate, counting each group's rows, under a check that every group has at least
/// `min` of them; the columns are the aggregate's own.
fn guard_group_size(agg: &Aggregate, min: i64, message: &str) -> DfResult<LogicalPlan> {
    let mut aggr = agg.aggr_expr.clone();
    aggr.push(count(lit(1i64)).alias(GROUP_ROWS));
    let counted = LogicalPlan::Aggregate(Aggregate::try_new(
        agg.input.clone(),
        agg.group_expr.clone(),
        aggr,
    )?);
    let fewest =
        Expr::from(WindowFunction::new(
            WindowFunctionDefinition::AggregateUDF(
                datafusion::functions_aggregate::min_max::min_udaf(),
            ),
            vec![col(GROUP_ROWS)],
        ))
        .alias(FEWEST_ROWS);
    let message = message.to_string();
    let check = create_udf(
        "mesh_residency_check",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let n = arrays[0]
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Internal("group rows are not int8".into()))?;
            if (0..n.len()).any(|i| n.is_valid(i) && n.value(i) < min) {
                return Err(UserError::denied(message.clone()).into_datafusion());
            }
            Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(vec![
                true;
                n.len()
            ]))))
        }),
    );
    let columns: Vec<Expr> = agg
        .schema
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    LogicalPlanBuilder::from(counted)
        .window(vec![fewest])?
        .filter(check.call(vec![col(FEWEST_ROWS)]))?
        .project(columns)?
        .build()
}
