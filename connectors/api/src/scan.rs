//! The plan node that runs one statement in a source that answers SQL: a table's own scan in
//! an operational database (PostgreSQL, MySQL, SQLite), or a whole subplan sent to a remote
//! engine. What sets them apart is only how a statement is run and its rows read
//! ([`ScanSource`]); the node, its metrics and how the audit and the plan cache recognise it
//! are one piece of code, so that they cannot drift apart between sources.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use tokio::sync::mpsc::Sender;

use crate::RemoteStatement;

/// A source's side of a [`SourceScanExec`]: where its statement runs and how its rows become
/// batches.
pub trait ScanSource: Send + Sync + 'static {
    /// The node's name. EXPLAIN shows it, and tests and operators' tooling look for it, so
    /// each source keeps the name its scan always had.
    const NODE: &'static str;

    /// Whether the rows cross a network. Only then is `bytes_fetched` kept: it is what the
    /// audit reports as received from the source, and a file read in this process sends
    /// nothing.
    const COUNTS_BYTES: bool = true;

    /// The source as EXPLAIN and the audit name it, never with credentials.
    fn describe(&self) -> String;

    /// Runs `sql` and streams its rows as batches of `schema`, adding to `fetched` what comes
    /// back. A query that stops early (cancelled, timed out by `statement_timeout`, its client
    /// gone) drops the stream: the statement must then stop in the source too.
    fn read(
        &self,
        sql: &str,
        schema: &SchemaRef,
        ctx: Arc<TaskContext>,
        fetched: Fetched,
    ) -> DfResult<SendableRecordBatchStream>;
}

/// What a scan counts as its rows arrive.
pub struct Fetched {
    pub rows: Count,
    /// Bytes of the rows as the source sent them (not counted by sources that send none).
    pub bytes: Count,
}

/// Runs one statement in a source and streams its rows.
pub struct SourceScanExec<S> {
    source: Arc<S>,
    sql: String,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl<S: ScanSource> SourceScanExec<S> {
    /// A scan that sends `sql`, whose result has `schema`.
    pub fn new(source: S, sql: String, schema: SchemaRef) -> Self {
        Self::sharing(Arc::new(source), sql, schema)
    }

    fn sharing(source: Arc<S>, sql: String, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        SourceScanExec {
            source,
            sql,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The statement `node` sends, when it is a scan of this source (for the audit, and for
    /// the plan cache, which keeps plans that are one statement).
    pub fn statement_of(node: &Arc<dyn ExecutionPlan>) -> Option<RemoteStatement> {
        let scan = node.as_any().downcast_ref::<Self>()?;
        Some(RemoteStatement {
            source: scan.source.describe(),
            sql: scan.sql.clone(),
        })
    }
}

impl<S: ScanSource> fmt::Debug for SourceScanExec<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", S::NODE, self.sql)
    }
}

impl<S: ScanSource> DisplayAs for SourceScanExec<S> {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}: source={}, sql={}",
            S::NODE,
            self.source.describe(),
            self.sql
        )
    }
}

impl<S: ScanSource> ExecutionPlan for SourceScanExec<S> {
    fn name(&self) -> &str {
        S::NODE
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    /// A plan kept for reuse runs again: its counts start afresh.
    fn reset_state(self: Arc<Self>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::sharing(
            Arc::clone(&self.source),
            self.sql.clone(),
            Arc::clone(&self.schema),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(format!(
                "{} has no inputs",
                S::NODE
            )))
        }
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let rows = MetricBuilder::new(&self.metrics).counter("rows_fetched", partition);
        let bytes = if S::COUNTS_BYTES {
            MetricBuilder::new(&self.metrics).counter("bytes_fetched", partition)
        } else {
            Count::new()
        };
        self.source
            .read(&self.sql, &self.schema, context, Fetched { rows, bytes })
    }
}

/// The batches `produce` sends, as a stream of `schema`. `produce` runs on a task of its own
/// and hands batches over a small channel: the source's pace is decoupled from the
/// consumer's, and once the stream is dropped its sends fail and `Sender::closed` completes,
/// which is how `produce` learns to stop the statement.
pub fn spawned_batches<F, Fut>(schema: SchemaRef, produce: F) -> SendableRecordBatchStream
where
    F: FnOnce(Sender<DfResult<RecordBatch>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<DfResult<RecordBatch>>(2);
    tokio::spawn(produce(tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
}
