//! A subplan the SQL front end sent whole to a remote engine (an operational database, a peer
//! gateway), as a plan node: it runs the engine's statement and counts the rows and bytes that
//! came back. It lives with execution, below the audit that reads its metrics.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use meshgate_connectors::{Fetched, RemoteEngine, ScanSource, SourceScanExec};

/// Runs one statement in a remote engine: the physical side of the front end's `RemoteQuery`
/// (`crate::sql::federate`).
pub type RemoteQueryExec = SourceScanExec<EngineQuery>;

/// The engine a [`RemoteQueryExec`] sends its statement to.
pub struct EngineQuery(pub Arc<dyn RemoteEngine>);

impl ScanSource for EngineQuery {
    const NODE: &'static str = "RemoteQueryExec";

    fn describe(&self) -> String {
        self.0.describe()
    }

    /// Engines count the bytes they receive themselves (only they see the wire); the rows are
    /// counted here, alike for every engine.
    fn read(
        &self,
        sql: &str,
        schema: &SchemaRef,
        ctx: Arc<TaskContext>,
        fetched: Fetched,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self
            .0
            .execute(sql.to_string(), Arc::clone(schema), ctx, fetched.bytes)?;
        let rows = fetched.rows;
        let counted = stream.map(move |b| {
            if let Ok(b) = &b {
                rows.add(b.num_rows());
            }
            b
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(schema),
            counted,
        )))
    }
}
