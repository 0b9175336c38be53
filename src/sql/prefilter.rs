//! A grouped subquery joined on its grouping key aggregates only the groups the join can use.
//!
//! A correlated subquery such as TPC-H q17's `l_quantity < (SELECT 0.2 * avg(l_quantity) FROM
//! lineitem WHERE l_partkey = p_partkey)` is planned as an aggregate of the whole table by the
//! key, joined with the outer rows on it: every part's average is computed (2 M groups from 60 M
//! rows at SF 10) to keep the 2,000 the outer query's filtered parts ask for.
//!
//! ```text
//!  Inner: p_partkey = sq.l_partkey                 Inner: p_partkey = sq.l_partkey
//!    … Filter: p_brand = … (Scan part)               … Filter: p_brand = … (Scan part)
//!    SubqueryAlias sq                        ─►      SubqueryAlias sq
//!      Aggregate: by l_partkey                         Aggregate: by l_partkey
//!        Scan lineitem                                   LeftSemi: l_partkey = keys.p_partkey
//!                                                          Scan lineitem
//!                                                          keys: p_partkey of Filter: p_brand = … (Scan part)
//! ```
//!
//! Exact: the join keeps a group only if its key equals the outer side's key, whose values all
//! come from the filtered table found below it (through projections, inner joins and the left
//! side of semi joins, which only drop or repeat its rows; or the filtered table a semi join on
//! that very column checks it against); a group is kept or dropped whole, so
//! the groups kept have the same values. NULL keys join nothing either way (a join that matches
//! NULL to NULL is left alone), and grouping sets are left alone.
//!
//! Plans that read a remote engine's tables are left to `federate.rs`, which sends whole joins
//! and aggregates there (a semi join over a filtered scan is one it cannot write).
//!
//! The filtered table is read twice. It is taken only when it is one table under its filter,
//! so the second read is a filtered scan of one table, against an aggregate over every row of
//! the grouped one.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, NullEquality, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    Aggregate, Expr, Join, JoinConstraint, JoinType, LogicalPlan, Projection, SubqueryAlias,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The name of the keys' subquery: a later pass knows its own work by it.
const KEYS: &str = "__mg_join_keys";

/// The optimizer rule.
pub fn rule() -> Arc<dyn OptimizerRule + Send + Sync> {
    Arc::new(GroupsTheJoinUses)
}

#[derive(Debug, Default)]
pub struct GroupsTheJoinUses;

impl OptimizerRule for GroupsTheJoinUses {
    fn name(&self) -> &str {
        "groups_the_join_uses"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(j) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if j.join_type != JoinType::Inner || j.null_equality != NullEquality::NullEqualsNothing {
            return Ok(Transformed::no(plan));
        }
        for grouped_on_right in [true, false] {
            let (grouped, other) = if grouped_on_right {
                (&j.right, &j.left)
            } else {
                (&j.left, &j.right)
            };
            for (l, r) in &j.on {
                let (g, o) = if grouped_on_right { (r, l) } else { (l, r) };
                let (Expr::Column(g), Expr::Column(o)) = (g, o) else {
                    continue;
                };
                let Some((source, key)) = filtered_table(other, o) else {
                    continue;
                };
                let Some(narrowed) = narrowed(grouped, g, &source, &key)? else {
                    continue;
                };
                if super::federate::reads_remote(&plan) {
                    return Ok(Transformed::no(plan));
                }
                let (left, right) = if grouped_on_right {
                    ((*j.left).clone(), narrowed)
                } else {
                    (narrowed, (*j.right).clone())
                };
                let rebuilt = plan.with_new_exprs(plan.expressions(), vec![left, right])?;
                return Ok(Transformed::yes(rebuilt));
            }
        }
        Ok(Transformed::no(plan))
    }
}

/// The column of `plan`'s input that its output column `c` passes on unchanged, if it does.
fn passed_from(plan: &LogicalPlan, c: &Column) -> Option<Column> {
    match plan {
        LogicalPlan::Projection(p) => {
            let i = p.schema.index_of_column(c).ok()?;
            match &p.expr[i] {
                Expr::Column(inner) => Some(inner.clone()),
                Expr::Alias(a) => match a.expr.as_ref() {
                    Expr::Column(inner) => Some(inner.clone()),
                    _ => None,
                },
                _ => None,
            }
        }
        LogicalPlan::SubqueryAlias(s) => {
            let i = s.schema.index_of_column(c).ok()?;
            Some(Column::from(s.input.schema().qualified_field(i)))
        }
        LogicalPlan::Filter(_) => Some(c.clone()),
        _ => None,
    }
}

/// The one filtered table that every value of `plan`'s column `c` comes from, and its column.
fn filtered_table(plan: &LogicalPlan, c: &Column) -> Option<(LogicalPlan, Column)> {
    match plan {
        LogicalPlan::Filter(f) if one_table(&f.input) => Some((plan.clone(), c.clone())),
        LogicalPlan::TableScan(scan)
            if scan.filters.iter().any(narrows) && scan.fetch.is_none() =>
        {
            Some((plan.clone(), c.clone()))
        }
        LogicalPlan::Filter(f) => filtered_table(&f.input, c),
        LogicalPlan::Projection(p) => filtered_table(&p.input, &passed_from(plan, c)?),
        LogicalPlan::SubqueryAlias(s) => filtered_table(&s.input, &passed_from(plan, c)?),
        LogicalPlan::Join(j) if j.join_type == JoinType::Inner => {
            match (
                j.left.schema().has_column(c),
                j.right.schema().has_column(c),
            ) {
                (true, false) => filtered_table(&j.left, c),
                (false, true) => filtered_table(&j.right, c),
                _ => None,
            }
        }
        LogicalPlan::Join(j) if matches!(j.join_type, JoinType::LeftSemi | JoinType::LeftAnti) => {
            // A semi join on `c` keeps only the values its other side has: that side, when it
            // is one filtered table, bounds them as well as a filter here would (TPC-H q20's
            // `ps_partkey IN (SELECT p_partkey FROM part WHERE p_name LIKE 'forest%')`).
            let semi_key = (j.join_type == JoinType::LeftSemi
                && j.null_equality == NullEquality::NullEqualsNothing)
                .then(|| {
                    j.on.iter().find_map(|(l, r)| match (l, r) {
                        (Expr::Column(l), Expr::Column(r)) if l == c => Some(r.clone()),
                        _ => None,
                    })
                })
                .flatten();
            semi_key
                .and_then(|r| filtered_table(&j.right, &r))
                .or_else(|| filtered_table(&j.left, c))
        }
        _ => None,
    }
}

/// Whether a filter a scan carries can drop a row (decorrelation leaves a bare `true` there).
fn narrows(filter: &Expr) -> bool {
    !matches!(filter, Expr::Literal(ScalarValue::Boolean(Some(true)), _))
}

/// A table read with nothing above it but column choices and renames.
fn one_table(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => scan.fetch.is_none(),
        LogicalPlan::Projection(p) => {
            p.expr.iter().all(|e| matches!(e, Expr::Column(_))) && one_table(&p.input)
        }
        LogicalPlan::SubqueryAlias(a) => one_table(&a.input),
        _ => false,
    }
}

/// `plan` with the aggregate that its column `c` is a grouping key of reading only the rows
/// whose key is among `source`'s `key` values; None when `c` is not such a key or the
/// aggregate reads only those already.
fn narrowed(
    plan: &LogicalPlan,
    c: &Column,
    source: &LogicalPlan,
    key: &Column,
) -> Result<Option<LogicalPlan>> {
    let LogicalPlan::Aggregate(a) = plan else {
        let Some(inner) = passed_from(plan, c) else {
            return Ok(None);
        };
        let Some(input) = plan.inputs().first().copied() else {
            return Ok(None);
        };
        let Some(new_input) = narrowed(input, &inner, source, key)? else {
            return Ok(None);
        };
        return plan
            .with_new_exprs(plan.expressions(), vec![new_input])
            .map(Some);
    };
    let plain = a.group_expr.iter().all(|g| matches!(g, Expr::Column(_)));
    if !plain || !a.group_expr.contains(&Expr::Column(c.clone())) || narrowed_already(&a.input) {
        return Ok(None);
    }
    let keys = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
        Arc::new(LogicalPlan::Projection(Projection::try_new(
            vec![Expr::Column(key.clone())],
            Arc::new(source.clone()),
        )?)),
        KEYS,
    )?);
    let key_there = Column::new(Some(KEYS), key.name.clone());
    let semi = Join::try_new(
        Arc::clone(&a.input),
        Arc::new(keys),
        vec![(Expr::Column(c.clone()), Expr::Column(key_there))],
        None,
        JoinType::LeftSemi,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?;
    Ok(Some(LogicalPlan::Aggregate(Aggregate::try_new(
        Arc::new(LogicalPlan::Join(semi)),
        a.group_expr.clone(),
        a.aggr_expr.clone(),
    )?)))
}

/// Whether this rule already put a semi join on the keys under an aggregate (it may have moved
/// down since, below the aggregate's projections and joins).
fn narrowed_already(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::SubqueryAlias(s) = node {
            found |= s.alias.table() == KEYS;
        }
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}
