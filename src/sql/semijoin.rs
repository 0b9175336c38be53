//! Semi and anti joins filter the table their keys come from, before it is joined with others.
//!
//! DataFusion turns `WHERE o_orderkey IN (SELECT …)` and `[NOT] EXISTS (…)` into a semi or anti
//! join above all the inner joins of the FROM list, so the subquery's keys are looked up once per
//! row of the joined result. In TPC-H q18 that result is orders joined with lineitem, 60 M rows
//! at SF 10 built from a 15 M-row hash table, for the 624 orders the subquery keeps: DataFusion
//! spent 21 s of the statement's 24 s there (EXPLAIN ANALYZE) where DuckDB answers in 2.5 s.
//!
//! ```text
//!  LeftSemi: o_orderkey = sq.k                 Projection
//!    Projection                                  Inner: o_orderkey = l_orderkey
//!      Inner: o_orderkey = l_orderkey     ─►       Inner: c_custkey = o_custkey
//!        Inner: c_custkey = o_custkey                Scan customer
//!          Scan customer                             LeftSemi: o_orderkey = sq.k
//!          Scan orders                                 Scan orders
//!        Scan lineitem                                 sq
//!    sq                                          Scan lineitem
//! ```
//!
//! Exact: a row of an inner join is kept by the semi (anti) join exactly when the part of it the
//! join's keys and filter read is, so filtering that side first keeps the same rows, once each;
//! a null-aware anti join (NOT IN) decides on the subquery's rows as a whole, which do not
//! change. Moved only through inner joins and projections that pass columns on unchanged (an
//! outer join's null-extended rows would be filtered differently), never into anything else (a
//! security barrier's input stays as it is). Plans that read a remote engine's tables are left to
//! `federate.rs`, which sends whole joins and aggregates there.
//!
//! Not always faster: when the other side of an inner join is filtered, the join may keep few
//! of this side's rows (TPC-H q21's lineitem joined with one nation's suppliers and the `F`
//! orders), and the semi join is cheaper above it. It moves only past joins whose other side is
//! a table read whole, which cannot take rows away from this side, only repeat them.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan, Projection};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The optimizer rule.
pub fn rule() -> Arc<dyn OptimizerRule + Send + Sync> {
    Arc::new(SemiJoinsFilterEarly)
}

#[derive(Debug, Default)]
pub struct SemiJoinsFilterEarly;

impl OptimizerRule for SemiJoinsFilterEarly {
    fn name(&self) -> &str {
        "semi_joins_filter_early"
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
        let LogicalPlan::Join(semi) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if !matches!(semi.join_type, JoinType::LeftSemi | JoinType::LeftAnti) {
            return Ok(Transformed::no(plan));
        }
        let Some(read) = left_columns_read(semi) else {
            return Ok(Transformed::no(plan));
        };
        if super::federate::reads_remote(&plan) {
            return Ok(Transformed::no(plan));
        }
        match below(&semi.left, &plan, &read)? {
            Some(moved) => Ok(Transformed::yes(moved)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// The columns of the semi join's left input that its keys and filter read; None when an
/// expression reads one that is not a plain column of it.
fn left_columns_read(semi: &Join) -> Option<HashSet<Column>> {
    let left = semi.left.schema();
    let right = semi.right.schema();
    let mut read = HashSet::new();
    for (l, _) in &semi.on {
        for c in l.column_refs() {
            if !left.has_column(c) {
                return None;
            }
            read.insert(c.clone());
        }
    }
    if let Some(filter) = &semi.filter {
        for c in filter.column_refs() {
            match (left.has_column(c), right.has_column(c)) {
                (true, false) => {
                    read.insert(c.clone());
                }
                (false, true) => {}
                // Neither, or a name both sides have: do not guess.
                _ => return None,
            }
        }
    }
    Some(read)
}

/// `semi` (the semi join) applied inside `input` (its left input or a part of it) as far down
/// as it may go; None when it cannot go below `input` itself. Nodes are rebuilt with their own
/// expressions over new inputs, which leaves every output schema as it was.
fn below(
    input: &LogicalPlan,
    semi: &LogicalPlan,
    read: &HashSet<Column>,
) -> Result<Option<LogicalPlan>> {
    match input {
        LogicalPlan::Projection(p) if passes_columns_on(p) => below(&p.input, semi, read)?
            .map(|inner| input.with_new_exprs(input.expressions(), vec![inner]))
            .transpose(),
        LogicalPlan::Join(j) if j.join_type == JoinType::Inner => {
            // Below where it can go further down, else right on the side it reads.
            let into = |side: &LogicalPlan| -> Result<LogicalPlan> {
                match below(side, semi, read)? {
                    Some(moved) => Ok(moved),
                    None => applied(side, semi),
                }
            };
            let (left, right) = if reads_only(read, j.left.schema()) && whole_table(&j.right) {
                (into(&j.left)?, (*j.right).clone())
            } else if reads_only(read, j.right.schema()) && whole_table(&j.left) {
                ((*j.left).clone(), into(&j.right)?)
            } else {
                return Ok(None);
            };
            input
                .with_new_exprs(input.expressions(), vec![left, right])
                .map(Some)
        }
        _ => Ok(None),
    }
}

/// `semi` with `input` as its left input.
fn applied(input: &LogicalPlan, semi: &LogicalPlan) -> Result<LogicalPlan> {
    let right = semi.inputs()[1].clone();
    semi.with_new_exprs(semi.expressions(), vec![input.clone(), right])
}

fn passes_columns_on(p: &Projection) -> bool {
    p.expr.iter().all(|e| matches!(e, Expr::Column(_)))
}

fn reads_only(read: &HashSet<Column>, schema: &DFSchema) -> bool {
    read.iter().all(|c| schema.has_column(c))
}

/// A table read whole: no filter, no limit, only columns chosen or renamed on the way up.
fn whole_table(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => scan.filters.is_empty() && scan.fetch.is_none(),
        LogicalPlan::Projection(p) => passes_columns_on(p) && whole_table(&p.input),
        LogicalPlan::SubqueryAlias(a) => whole_table(&a.input),
        _ => false,
    }
}
