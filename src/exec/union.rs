//! `UNION ALL` answers its branches in the order the statement lists them, as PostgreSQL's
//! Append does: reports built as `SELECT … UNION ALL SELECT 'total', …` rely on it. DataFusion
//! merges the union's partitions as they come, so a literal branch or a small aggregate may
//! overtake the branch before it. A union at the top of a plan (under projections only, with
//! nothing that sorts or limits above it) therefore runs branch after branch, each branch still
//! as parallel as its own plan.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use futures::StreamExt;

/// The plan's rows branch by branch when its top is a union (see the module), else None.
pub(super) fn in_branch_order(
    plan: &Arc<dyn ExecutionPlan>,
    ctx: &Arc<TaskContext>,
) -> Option<SendableRecordBatchStream> {
    let branches = branches(plan)?;
    let ctx = ctx.clone();
    let schema = plan.schema();
    let union = schema.clone();
    let rows = futures::stream::iter(branches)
        .flat_map(move |branch| match execute_stream(branch, ctx.clone()) {
            Ok(stream) => stream.boxed(),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        // A branch's batches carry its own column names; what reads them by name (the hidden
        // display-scale columns) expects the union's.
        .map(move |batch| {
            let batch = batch?;
            Ok(RecordBatch::try_new(
                union.clone(),
                batch.columns().to_vec(),
            )?)
        });
    Some(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
}

/// The union's branches, each under the projections above the union; None when the plan's top
/// is anything else.
fn branches(plan: &Arc<dyn ExecutionPlan>) -> Option<Vec<Arc<dyn ExecutionPlan>>> {
    let any = plan.as_any();
    if let Some(union) = any.downcast_ref::<UnionExec>() {
        return Some(union.children().into_iter().cloned().collect());
    }
    if let Some(coalesce) = any.downcast_ref::<CoalescePartitionsExec>() {
        // Each branch is coalesced on its own; a limit here counts rows of the whole union.
        return match coalesce.fetch() {
            None => branches(coalesce.input()),
            Some(_) => None,
        };
    }
    if any.is::<ProjectionExec>() || any.is::<CooperativeExec>() {
        let [input] = plan.children()[..] else {
            return None;
        };
        return branches(input)?
            .into_iter()
            .map(|b| plan.clone().with_new_children(vec![b]).ok())
            .collect();
    }
    None
}
