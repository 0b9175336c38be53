//! Engines that answer SQL themselves: an operational database, or another gateway. The SQL
//! front end sends them whole subplans (joins, aggregates, ORDER BY/LIMIT over their own
//! tables) as one statement, spelled in their dialect.
//!
//! A table is recognised as one such engine's by its provider being a [`RemoteTable`]: the
//! front end downcasts `TableProvider::as_any` to it and learns the engine and the name the
//! engine knows the table by. Anything else about the table (its own scan with filters,
//! projection and LIMIT) is the wrapped provider's.

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{Constraints, Statistics, TableReference};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::metrics::Count;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::unparser::dialect::Dialect;

/// Something that runs SQL statements over its own tables.
pub trait RemoteEngine: Send + Sync + fmt::Debug {
    /// Scans of engines with equal keys may be combined into one statement.
    fn key(&self) -> String;
    /// How SQL sent to it is spelled (DataFusion's unparser dialects).
    fn dialect(&self) -> Arc<dyn Dialect + Send + Sync>;
    /// What EXPLAIN and the audit call it (no credentials).
    fn describe(&self) -> String;
    /// Runs one statement whose result has `schema`; the stream yields batches of exactly that
    /// schema. `ctx` is the running query's TaskContext (its session config may carry
    /// extensions the engine needs, e.g. the user). An engine reached over a network adds to
    /// `received` the bytes of the rows it receives (what the audit reports as crossing).
    fn execute(
        &self,
        sql: String,
        schema: SchemaRef,
        ctx: Arc<TaskContext>,
        received: Count,
    ) -> DfResult<SendableRecordBatchStream>;
    /// The statement sent for `sql`, a subplan whose result has `schema`, as EXPLAIN and the
    /// audit show it and `execute` receives it; None when the engine cannot return that result
    /// as meshgate serves it (the subplan then stays local, which is always correct).
    fn statement(&self, sql: String, _schema: &SchemaRef) -> Option<String> {
        Some(sql)
    }
    /// Whether a node the shared allow-list accepts is still one this engine answers unlike
    /// meshgate (or cannot spell): the subtree holding it then stays local. The node's inputs
    /// are judged on their own.
    fn refuses(&self, _node: &LogicalPlan) -> bool {
        false
    }
    /// Whether it is another meshgate, which answers every expression as this one does: then
    /// any subplan the unparser can spell is sent, not only the allow-listed ones.
    fn speaks_meshgate(&self) -> bool {
        false
    }
}

/// A table that lives in a [`RemoteEngine`]: the provider the mesh registers for it. Scans
/// that cannot be combined into a larger statement use `inner` as they would without it.
pub struct RemoteTable {
    pub engine: Arc<dyn RemoteEngine>,
    /// The table's name in SQL sent to the engine.
    pub name_in_source: TableReference,
    /// Columns whose values the engine compares, orders or groups unlike meshgate (served as
    /// their text form, blank-padded `char(n)`…): a subplan that reads one is not sent whole.
    pub opaque_columns: BTreeSet<String>,
    inner: Arc<dyn TableProvider>,
}

impl RemoteTable {
    pub fn new(
        engine: Arc<dyn RemoteEngine>,
        name_in_source: TableReference,
        opaque_columns: BTreeSet<String>,
        inner: Arc<dyn TableProvider>,
    ) -> Self {
        RemoteTable {
            engine,
            name_in_source,
            opaque_columns,
            inner,
        }
    }

    /// The provider that scans the table on its own.
    pub fn inner(&self) -> &Arc<dyn TableProvider> {
        &self.inner
    }
}

impl fmt::Debug for RemoteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RemoteTable({} {})",
            self.engine.describe(),
            self.name_in_source
        )
    }
}

#[async_trait]
impl TableProvider for RemoteTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}
