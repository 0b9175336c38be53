//! PostgreSQL tables read in place (`format = "postgres"`).
//!
//! A scan becomes one `SELECT` in the source: the columns the query needs, the filters the
//! source answers exactly as DataFusion would ([`pushdown`]), and the LIMIT when nothing is
//! left to filter here. Connections come from a bounded pool per server, database and user; a
//! source that cannot be reached fails only the queries that read it, with a
//! [`SourceUnavailable`] error naming the source, and the pool reconnects once it is back.

mod peer;
mod pool;
mod pushdown;
mod tls;
mod types;

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::Session;
use datafusion::common::TableReference;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::metrics::Count;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::unparser::dialect::{Dialect, PostgreSqlDialect};
use futures::StreamExt;
use meshgate_connector_api::{
    spawned_batches, Connector, ConnectorError, Fetched, OpenedTable, PostgresSource, RemoteEngine,
    RemoteSource, RemoteStatement, RemoteTable, Result, ScanSource, SourceScanExec, Storage,
    TableSpec, Unreachable,
};

pub use peer::PeerConnector;
use peer::PeerLink;
use pool::Pool;
use pushdown::ident;
use types::{Builder, Kind};

/// Rows per batch handed to DataFusion.
const BATCH_ROWS: usize = 8192;

/// Opens PostgreSQL tables; holds one pool per server, database and user for the server's life.
#[derive(Default)]
pub struct PostgresConnector {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

impl fmt::Debug for PostgresConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PostgresConnector")
    }
}

impl PostgresConnector {
    fn pool(&self, s: &PostgresSource) -> Result<Arc<Pool>, String> {
        // A changed password or limit (a domain reload) gets a new pool; the old one ends with
        // its last connection.
        let key = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}",
            s.host,
            s.port,
            s.database,
            s.user,
            s.password.as_ref().map(|p| p.expose()).unwrap_or_default(),
            s.max_connections,
            match &s.tls {
                meshgate_connector_api::TlsMode::Disable => None,
                meshgate_connector_api::TlsMode::VerifyFull { ca_pem } => Some(ca_pem),
            }
        );
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pools.get(&key) {
            return Ok(Arc::clone(p));
        }
        let pool = Arc::new(Pool::new(s.clone())?);
        pools.insert(key, Arc::clone(&pool));
        Ok(pool)
    }
}

const COLUMNS_SQL: &str =
    "SELECT a.attname::text, t.typname::text, a.atttypmod, NOT a.attnotnull, \
     col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class') \
     FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

#[async_trait]
impl Connector for PostgresConnector {
    fn format(&self) -> &'static str {
        "postgres"
    }

    async fn open(&self, spec: &TableSpec, _storage: &Storage) -> Result<OpenedTable> {
        let name = spec.qualified_name.as_str();
        let Some(RemoteSource::Postgres(source)) = &spec.remote else {
            return Err(ConnectorError::Config {
                table: name.to_string(),
                reason: "a postgres table needs a connection".into(),
            });
        };
        let pool = self.pool(source).map_err(|reason| ConnectorError::Config {
            table: name.to_string(),
            reason,
        })?;
        let client = pool
            .get()
            .await
            .map_err(|source| ConnectorError::Unavailable {
                table: name.to_string(),
                source,
            })?;
        let rows = client
            .query(COLUMNS_SQL, &[&source.schema, &source.table])
            .await
            .map_err(|e| {
                if pool::connection_broke(&e, &client) {
                    ConnectorError::Unavailable {
                        table: name.to_string(),
                        source: pool::unavailable(pool.name(), Unreachable::Lost, &e),
                    }
                } else {
                    ConnectorError::format(name, e)
                }
            })?;
        if rows.is_empty() {
            return Err(ConnectorError::NotFound {
                table: name.to_string(),
                reason: format!(
                    "{} has no table {}.{}",
                    source.describe(),
                    source.schema,
                    source.table
                ),
            });
        }
        let mut fields = Vec::new();
        let mut kinds = Vec::new();
        let mut column_descriptions = BTreeMap::new();
        let mut description = None;
        for r in &rows {
            let column: String = r.get(0);
            let typname: String = r.get(1);
            let kind = types::kind(&typname, r.get(2));
            fields.push(Field::new(&column, kind.arrow(), r.get(3)));
            kinds.push(kind);
            if let Some(d) = r.get::<_, Option<String>>(4) {
                column_descriptions.insert(column, d);
            }
            description = r.get(5);
        }
        let table = remote_table(
            Link::Source(pool),
            TableReference::partial(source.schema.as_str(), source.table.as_str()),
            fields,
            kinds,
        );
        let mut opened = OpenedTable::new(Arc::new(table));
        opened.description = description;
        opened.column_descriptions = column_descriptions;
        Ok(opened)
    }

    fn remote_statement(&self, node: &Arc<dyn ExecutionPlan>) -> Option<RemoteStatement> {
        SourceScanExec::<PostgresScan>::statement_of(node)
    }
}

/// The provider of a table reached through `link`, known there as `name`: whole subplans go to
/// the link's engine; what cannot be sent whole is read per scan.
fn remote_table(
    link: Link,
    name: TableReference,
    fields: Vec<Field>,
    kinds: Vec<Kind>,
) -> RemoteTable {
    let opaque = fields
        .iter()
        .zip(&kinds)
        .filter(|(_, k)| !k.pushable())
        .map(|(f, _)| f.name().clone())
        .collect();
    let from = match (name.schema(), name.table()) {
        (Some(s), t) => format!("{}.{}", ident(s), ident(t)),
        (None, t) => ident(t),
    };
    let engine = Arc::new(PostgresEngine { link: link.clone() });
    let table = PostgresTable {
        link,
        from,
        schema: Arc::new(Schema::new(fields)),
        kinds,
    };
    RemoteTable::new(engine, name, opaque, Arc::new(table))
}

/// Where a table's statements go: one login's pool, or a peer gateway, logged in there as the
/// user each statement runs for.
#[derive(Clone)]
enum Link {
    Source(Arc<Pool>),
    Peer(Arc<PeerLink>),
}

impl Link {
    fn pool(&self, ctx: &TaskContext) -> DfResult<Arc<Pool>> {
        match self {
            Link::Source(p) => Ok(Arc::clone(p)),
            Link::Peer(l) => l.pool_for(ctx),
        }
    }

    fn describe(&self) -> String {
        match self {
            Link::Source(p) => p.source().describe(),
            Link::Peer(l) => l.source.describe(),
        }
    }
}

/// One table of a PostgreSQL source.
struct PostgresTable {
    link: Link,
    /// The quoted `schema.table`.
    from: String,
    schema: SchemaRef,
    kinds: Vec<Kind>,
}

impl fmt::Debug for PostgresTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresTable({} {})", self.link.describe(), self.from)
    }
}

impl PostgresTable {
    fn kind_of(&self, column: &str) -> Option<Kind> {
        self.schema.index_of(column).ok().map(|i| self.kinds[i])
    }

    fn filter_sql(&self, e: &Expr) -> Option<String> {
        pushdown::to_sql(e, &|c| self.kind_of(c))
    }
}

#[async_trait]
impl TableProvider for PostgresTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(meshgate_connector_api::filters_pushdown(filters, |f| {
            self.filter_sql(f)
        }))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (columns, select) =
            meshgate_connector_api::scan_columns(self.schema.fields().len(), projection, |i| {
                self.kinds[i].select(&ident(self.schema.field(i).name()))
            });
        let sql = meshgate_connector_api::select_statement(
            &select,
            &self.from,
            filters,
            |f| self.filter_sql(f),
            limit,
        )?;
        let schema = Arc::new(self.schema.project(&columns)?);
        let scan = PostgresScan {
            link: self.link.clone(),
            kinds: columns.iter().map(|i| self.kinds[*i]).collect(),
        };
        Ok(Arc::new(SourceScanExec::new(scan, sql, schema)))
    }
}

/// A scan's statement goes through the table's link, each column read as its kind says.
struct PostgresScan {
    link: Link,
    kinds: Vec<Kind>,
}

impl ScanSource for PostgresScan {
    const NODE: &'static str = "PostgresScanExec";

    fn describe(&self) -> String {
        self.link.describe()
    }

    fn read(
        &self,
        sql: &str,
        schema: &SchemaRef,
        ctx: Arc<TaskContext>,
        fetched: Fetched,
    ) -> DfResult<SendableRecordBatchStream> {
        Ok(read(
            self.link.pool(&ctx)?,
            sql.to_string(),
            Arc::clone(schema),
            self.kinds.clone(),
            fetched,
        ))
    }
}

/// Runs `sql` in the source on its own task and streams its rows as batches of `schema`, each
/// column read as its kind says.
fn read(
    pool: Arc<Pool>,
    sql: String,
    schema: SchemaRef,
    kinds: Vec<Kind>,
    fetched: Fetched,
) -> SendableRecordBatchStream {
    let batch_schema = Arc::clone(&schema);
    spawned_batches(schema, |tx| async move {
        let source = pool.name().to_string();
        let client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(DataFusionError::External(Box::new(e)))).await;
                return;
            }
        };
        let cancel = client.cancel_token();
        let read = async {
            let broke = |e: tokio_postgres::Error, client: &tokio_postgres::Client| {
                if pool::connection_broke(&e, client) {
                    DataFusionError::External(Box::new(pool::unavailable(
                        &source,
                        Unreachable::Lost,
                        &e,
                    )))
                } else if let Some(db) = e.as_db_error() {
                    DataFusionError::External(Box::new(meshgate_connector_api::RemoteError {
                        source: source.clone(),
                        code: db.code().code().to_string(),
                        message: db.message().to_string(),
                    }))
                } else {
                    DataFusionError::External(Box::new(e))
                }
            };
            // Parse, bind, describe and execute in one round trip: a statement without
            // parameters needs no prepare step first.
            let stream = client
                .query_typed_raw(
                    sql.as_str(),
                    std::iter::empty::<(&str, tokio_postgres::types::Type)>(),
                )
                .await
                .map_err(|e| broke(e, &client))?;
            futures::pin_mut!(stream);
            let mut builders: Vec<Builder> = kinds.iter().map(|k| Builder::new(*k)).collect();
            let mut n = 0usize;
            loop {
                let row = stream.next().await;
                let done = row.is_none();
                if let Some(row) = row {
                    let row = row.map_err(|e| broke(e, &client))?;
                    for (i, b) in builders.iter_mut().enumerate() {
                        b.push(&row, i)?;
                    }
                    n += 1;
                    fetched.rows.add(1);
                    fetched.bytes.add(types::wire_size(&row));
                }
                if n > 0 && (n == BATCH_ROWS || done) {
                    let columns = builders
                        .iter_mut()
                        .map(Builder::finish)
                        .collect::<DfResult<Vec<_>>>()?;
                    let batch = RecordBatch::try_new_with_options(
                        Arc::clone(&batch_schema),
                        columns,
                        &RecordBatchOptions::new().with_row_count(Some(n)),
                    )?;
                    n = 0;
                    if tx.send(Ok(batch)).await.is_err() {
                        return Ok(false);
                    }
                }
                if done {
                    return Ok(true);
                }
            }
        };
        // The query was dropped (cancelled, timed out, the client gone): the statement
        // stops in the source too, rather than running on for nobody.
        let finished = tokio::select! {
            outcome = read => match outcome {
                Ok(finished) => finished,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    true
                }
            },
            _ = tx.closed() => false,
        };
        if !finished {
            if let Err(e) = pool.cancel(cancel).await {
                tracing::warn!(source = %source, "cancelling the source's statement failed: {e}");
            }
            // A cancel request may land late; a connection it could reach is not reused.
            client.discard();
        }
    })
}

/// A PostgreSQL server, database and login as an engine that answers whole subplans.
struct PostgresEngine {
    link: Link,
}

impl fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresEngine({})", self.link.describe())
    }
}

impl RemoteEngine for PostgresEngine {
    // One login to one database sees the same tables with the same rights, whatever pool
    // limit each table was configured with.
    fn key(&self) -> String {
        match &self.link {
            Link::Source(p) => {
                let s = p.source();
                format!(
                    "postgres\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
                    s.host, s.port, s.database, s.user
                )
            }
            // A peer answers for every table of its region, as the same user.
            Link::Peer(l) => format!("peer\u{0}{}", l.source.region),
        }
    }

    fn dialect(&self) -> Arc<dyn Dialect + Send + Sync> {
        Arc::new(PostgreSqlDialect {})
    }

    fn describe(&self) -> String {
        self.link.describe()
    }

    fn speaks_meshgate(&self) -> bool {
        matches!(self.link, Link::Peer(_))
    }

    /// The subplan's columns cast to the types meshgate serves, so that each is read as the
    /// per-scan path reads it (`numeric` as its text) whatever type PostgreSQL gives the
    /// expression (`sum(int8)` is `numeric` there). The subquery keeps its ORDER BY: a
    /// projection over a subquery scan does not reorder rows.
    fn statement(&self, sql: String, schema: &SchemaRef) -> Option<String> {
        if schema.fields().is_empty() {
            return None;
        }
        let casts = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Some(format!("q.c{i}::{}", types::cast_for(f.data_type())?.1)))
            .collect::<Option<Vec<_>>>()?;
        let names = (0..casts.len())
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>();
        Some(format!(
            "SELECT {} FROM ({sql}) AS q({})",
            casts.join(", "),
            names.join(", ")
        ))
    }

    fn execute(
        &self,
        sql: String,
        schema: SchemaRef,
        ctx: Arc<TaskContext>,
        received: Count,
    ) -> DfResult<SendableRecordBatchStream> {
        let kinds = schema
            .fields()
            .iter()
            .map(|f| types::cast_for(f.data_type()).map(|(k, _)| k))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{} cannot return {schema:?}", self.describe()))
            })?;
        Ok(read(
            self.link.pool(&ctx)?,
            sql,
            schema,
            kinds,
            Fetched {
                rows: Count::new(),
                bytes: received,
            },
        ))
    }
}
