//! A subplan the SQL front end sent whole to a remote engine (an operational database, a peer
//! gateway), as a plan node: it runs the engine's statement and counts the rows and bytes that
//! came back. It lives with execution, below the audit that reads its metrics.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use meshgate_connectors::RemoteEngine;

/// Runs one statement in a remote engine: the physical side of the front end's `RemoteQuery`
/// (`crate::sql::federate`).
#[derive(Debug)]
pub struct RemoteQueryExec {
    engine: Arc<dyn RemoteEngine>,
    sql: String,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RemoteQueryExec {
    pub fn new(engine: Arc<dyn RemoteEngine>, sql: String, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        RemoteQueryExec {
            engine,
            sql,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The source as the audit names it, and the statement sent to it.
    pub fn statement(&self) -> (String, String) {
        (self.engine.describe(), self.sql.clone())
    }
}

impl DisplayAs for RemoteQueryExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "RemoteQueryExec: source={}, sql={}",
            self.engine.describe(),
            self.sql
        )
    }
}

impl ExecutionPlan for RemoteQueryExec {
    fn name(&self) -> &str {
        "RemoteQueryExec"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    /// A plan kept for reuse runs again: its counts start afresh.
    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(RemoteQueryExec::new(
            Arc::clone(&self.engine),
            self.sql.clone(),
            Arc::clone(&self.schema),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            datafusion::common::internal_err!("RemoteQueryExec has no inputs")
        }
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let rows_fetched = MetricBuilder::new(&self.metrics).counter("rows_fetched", partition);
        let bytes_fetched = MetricBuilder::new(&self.metrics).counter("bytes_fetched", partition);
        let stream = self.engine.execute(
            self.sql.clone(),
            Arc::clone(&self.schema),
            context,
            bytes_fetched,
        )?;
        let counted = stream.map(move |b| {
            if let Ok(b) = &b {
                rows_fetched.add(b.num_rows());
            }
            b
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            counted,
        )))
    }
}
