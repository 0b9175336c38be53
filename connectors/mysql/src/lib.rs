//! MySQL and MariaDB tables read in place (`format = "mysql"`).
//!
//! A scan is one `SELECT` in the source: the columns the query needs, the filters MySQL answers
//! exactly as meshgate does ([`pushdown`]), and the LIMIT when nothing is left to filter here.
//! Whole subplans over one server's tables (joins, aggregates, sorts) run there as one
//! statement when every column they read compares as in PostgreSQL (not text under MySQL's
//! case-insensitive collations) and MySQL's answer is PostgreSQL's ([`pushdown::refuses`]).
//! Rows are read over MySQL's text protocol and parsed by each column's kind ([`types`]).

mod pool;
mod pushdown;
mod types;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::metrics::Count;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::unparser::dialect::{Dialect, MySqlDialect};
use futures::TryStreamExt;
use meshgate_connector_api::{
    spawned_batches, Connector, ConnectorError, Fetched, MysqlSource, OpenedTable, RemoteEngine,
    RemoteError, RemoteSource, RemoteStatement, RemoteTable, Result, ScanSource, SourceScanExec,
    Storage, TableSpec, Unreachable,
};
use sqlx::mysql::{MySqlDatabaseError, MySqlRow};
use sqlx::Row;

use pool::Pool;
use pushdown::{ident, literal};
use types::{Builder, Kind};

/// Rows per batch handed to DataFusion.
const BATCH_ROWS: usize = 8192;

/// Opens MySQL tables; one pool per server, database, user (and password, limit) for the
/// server's life.
#[derive(Default)]
pub struct MysqlConnector {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

impl fmt::Debug for MysqlConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MysqlConnector")
    }
}

impl MysqlConnector {
    fn pool(&self, s: &MysqlSource) -> Arc<Pool> {
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
        Arc::clone(
            pools
                .entry(key)
                .or_insert_with(|| Arc::new(Pool::new(s.clone()))),
        )
    }
}

/// A statement's failure as the client should see it: the source unreachable (08001/08006),
/// or the source's own error with the SQLSTATE PostgreSQL would use for it.
fn failed(pool: &Pool, e: sqlx::Error) -> DataFusionError {
    let lost = |e: &sqlx::Error| {
        DataFusionError::External(Box::new(pool.unavailable(Unreachable::Lost, e)))
    };
    match &e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => lost(&e),
        sqlx::Error::Database(d) => {
            let number = d
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(|m| m.number());
            // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, CR_SERVER_GONE_ERROR, CR_SERVER_LOST.
            if matches!(number, Some(1053 | 1927 | 2006 | 2013)) {
                return lost(&e);
            }
            let code = match number {
                Some(1146) => "42P01".to_string(),
                Some(1054) => "42703".to_string(),
                Some(1044 | 1142 | 1143) => "42501".to_string(),
                _ => d.code().unwrap_or_default().to_string(),
            };
            DataFusionError::External(Box::new(RemoteError {
                source: pool.source().describe(),
                code,
                message: d.message().to_string(),
            }))
        }
        _ => DataFusionError::External(Box::new(e)),
    }
}

/// Runs a metadata query whose values are all read as text. On a task of its own: the
/// driver's futures are `Send` only for concrete lifetimes, which an `async_trait` method's
/// are not.
async fn text_rows(pool: &Arc<Pool>, sql: String) -> DfResult<Vec<Vec<Option<String>>>> {
    let pool = Arc::clone(pool);
    tokio::spawn(async move {
        let mut conn = pool
            .get()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let rows: Vec<MySqlRow> = sqlx::raw_sql(&sql)
            .fetch(conn.conn())
            .try_collect()
            .await
            .map_err(|e| failed(&pool, e))?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get_unchecked::<Option<&[u8]>, _>(i)
                            .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
                            .map_err(|e| failed(&pool, e))
                    })
                    .collect()
            })
            .collect()
    })
    .await
    .map_err(|e| DataFusionError::External(Box::new(e)))?
}

#[async_trait]
impl Connector for MysqlConnector {
    fn format(&self) -> &'static str {
        "mysql"
    }

    async fn open(&self, spec: &TableSpec, _storage: &Storage) -> Result<OpenedTable> {
        let name = spec.qualified_name.as_str();
        let Some(RemoteSource::Mysql(source)) = &spec.remote else {
            return Err(ConnectorError::Config {
                table: name.to_string(),
                reason: "a mysql table needs a connection".into(),
            });
        };
        let pool = self.pool(source);
        let opened = |e: DataFusionError| match e {
            DataFusionError::External(inner) => {
                match inner.downcast::<meshgate_connector_api::SourceUnavailable>() {
                    Ok(u) => ConnectorError::Unavailable {
                        table: name.to_string(),
                        source: *u,
                    },
                    Err(other) => match other.downcast::<RemoteError>() {
                        Ok(r) => ConnectorError::Remote { source: *r },
                        Err(other) => ConnectorError::format(name, other),
                    },
                }
            }
            e => ConnectorError::format(name, e),
        };
        let at = format!(
            "TABLE_SCHEMA = {} AND TABLE_NAME = {}",
            literal(&source.database),
            literal(&source.table)
        );
        let columns = text_rows(
            &pool,
            format!(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, \
                 IS_NULLABLE, COLLATION_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS \
                 WHERE {at} ORDER BY ORDINAL_POSITION"
            ),
        )
        .await
        .map_err(opened)?;
        if columns.is_empty() {
            // MySQL lists only the tables the reader may read: its own answer to reading the
            // table says whether it is missing (42P01) or refused (42501).
            let from = format!("{}.{}", ident(&source.database), ident(&source.table));
            text_rows(&pool, format!("SELECT 1 FROM {from} LIMIT 0"))
                .await
                .map_err(opened)?;
            return Err(ConnectorError::NotFound {
                table: name.to_string(),
                reason: format!("{} has no table {}", source.describe(), source.table),
            });
        }
        let table_comment = text_rows(
            &pool,
            format!("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE {at}"),
        )
        .await
        .map_err(opened)?;
        let mut fields = Vec::new();
        let mut kinds = Vec::new();
        let mut column_descriptions = BTreeMap::new();
        for c in &columns {
            let text = |i: usize| c.get(i).cloned().flatten();
            let number = |i: usize| text(i).and_then(|t| t.parse::<u32>().ok());
            let column = text(0).unwrap_or_default();
            let kind = types::kind(
                &text(1).unwrap_or_default(),
                &text(2).unwrap_or_default(),
                number(3),
                number(4),
                text(6).as_deref(),
            );
            fields.push(Field::new(
                &column,
                kind.arrow(),
                text(5).as_deref() != Some("NO"),
            ));
            kinds.push(kind);
            if let Some(d) = text(7).filter(|d| !d.is_empty()) {
                column_descriptions.insert(column, d);
            }
        }
        let opaque: BTreeSet<String> = fields
            .iter()
            .zip(&kinds)
            .filter(|(_, k)| !k.answered_alike())
            .map(|(f, _)| f.name().clone())
            .collect();
        let engine = Arc::new(MysqlEngine {
            pool: Arc::clone(&pool),
        });
        let table = MysqlTable {
            pool,
            from: format!("{}.{}", ident(&source.database), ident(&source.table)),
            schema: Arc::new(Schema::new(fields)),
            kinds,
        };
        let mut opened = OpenedTable::new(Arc::new(RemoteTable::new(
            engine,
            TableReference::partial(source.database.as_str(), source.table.as_str()),
            opaque,
            Arc::new(table),
        )));
        opened.description = table_comment
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .filter(|d| !d.is_empty());
        opened.column_descriptions = column_descriptions;
        Ok(opened)
    }

    fn remote_statement(&self, node: &Arc<dyn ExecutionPlan>) -> Option<RemoteStatement> {
        SourceScanExec::<MysqlScan>::statement_of(node)
    }
}

/// One table of a MySQL source.
struct MysqlTable {
    pool: Arc<Pool>,
    /// The quoted `database.table`.
    from: String,
    schema: SchemaRef,
    kinds: Vec<Kind>,
}

impl fmt::Debug for MysqlTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MysqlTable({} {})",
            self.pool.source().describe(),
            self.from
        )
    }
}

impl MysqlTable {
    fn filter_sql(&self, e: &Expr) -> Option<String> {
        pushdown::to_sql(e, &|c| self.schema.index_of(c).ok().map(|i| self.kinds[i]))
    }
}

#[async_trait]
impl TableProvider for MysqlTable {
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
        let scan = MysqlScan {
            pool: Arc::clone(&self.pool),
            kinds: columns.iter().map(|i| self.kinds[*i]).collect(),
        };
        Ok(Arc::new(SourceScanExec::new(scan, sql, schema)))
    }
}

/// A scan's statement runs on the table's pool, each column parsed as its kind says.
struct MysqlScan {
    pool: Arc<Pool>,
    kinds: Vec<Kind>,
}

impl ScanSource for MysqlScan {
    const NODE: &'static str = "MysqlScanExec";

    fn describe(&self) -> String {
        self.pool.source().describe()
    }

    fn read(
        &self,
        sql: &str,
        schema: &SchemaRef,
        _ctx: Arc<TaskContext>,
        fetched: Fetched,
    ) -> DfResult<SendableRecordBatchStream> {
        Ok(read(
            Arc::clone(&self.pool),
            sql.to_string(),
            Arc::clone(schema),
            self.kinds.clone(),
            fetched,
        ))
    }
}

/// Runs `sql` in the source on its own task and streams its rows as batches of `schema`, each
/// column parsed as its kind says. A query dropped before its rows are all read (cancelled,
/// timed out) has its statement killed in the source.
fn read(
    pool: Arc<Pool>,
    sql: String,
    schema: SchemaRef,
    kinds: Vec<Kind>,
    fetched: Fetched,
) -> SendableRecordBatchStream {
    let batch_schema = Arc::clone(&schema);
    spawned_batches(schema, |tx| async move {
        let mut conn = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(DataFusionError::External(Box::new(e)))).await;
                return;
            }
        };
        conn.busy = true;
        let names: Vec<String> = batch_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let read = async {
            let mut rows = sqlx::raw_sql(&sql).fetch(conn.conn());
            let mut builders: Vec<Builder> = kinds.iter().map(|k| Builder::new(*k)).collect();
            let mut n = 0usize;
            loop {
                let row = rows.try_next().await.map_err(|e| failed(&pool, e))?;
                let done = row.is_none();
                if let Some(row) = row {
                    let mut bytes = 0usize;
                    for (i, b) in builders.iter_mut().enumerate() {
                        let v = row
                            .try_get_unchecked::<Option<&[u8]>, _>(i)
                            .map_err(|e| failed(&pool, e))?;
                        bytes += v.map_or(0, <[u8]>::len);
                        b.push(v, &names[i])?;
                    }
                    n += 1;
                    fetched.rows.add(1);
                    fetched.bytes.add(bytes);
                }
                if n > 0 && (n == BATCH_ROWS || done) {
                    let columns = builders.iter_mut().map(Builder::finish).collect::<Vec<_>>();
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
        let outcome: DfResult<bool> = tokio::select! {
            outcome = read => outcome,
            _ = tx.closed() => Ok(false),
        };
        match outcome {
            // Every row read: the connection is ready for the next statement.
            Ok(true) => conn.busy = false,
            // Dropped mid-result: `conn` is dropped busy, which kills its statement.
            Ok(false) => {}
            Err(e) => {
                // The statement ended with an error: nothing runs on, but the connection's
                // state is unknown, so it is not reused.
                conn.discard();
                let _ = tx.send(Err(e)).await;
            }
        }
    })
}

/// A MySQL server, database and login as an engine that answers whole subplans.
struct MysqlEngine {
    pool: Arc<Pool>,
}

impl fmt::Debug for MysqlEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MysqlEngine({})", self.pool.source().describe())
    }
}

impl RemoteEngine for MysqlEngine {
    // One login to one server sees the same tables with the same rights; statements name each
    // table with its database.
    fn key(&self) -> String {
        let s = self.pool.source();
        format!("mysql\u{0}{}\u{0}{}\u{0}{}", s.host, s.port, s.user)
    }

    fn dialect(&self) -> Arc<dyn Dialect + Send + Sync> {
        Arc::new(MySqlDialect {})
    }

    fn describe(&self) -> String {
        self.pool.source().describe()
    }

    fn refuses(&self, node: &LogicalPlan) -> bool {
        pushdown::refuses(node)
    }

    /// Sent as the unparser wrote it when every result column is one meshgate can read back
    /// from MySQL's text for its type.
    fn statement(&self, sql: String, schema: &SchemaRef) -> Option<String> {
        (!schema.fields().is_empty()
            && schema
                .fields()
                .iter()
                .all(|f| types::kind_for(f.data_type()).is_some()))
        .then_some(sql)
    }

    fn execute(
        &self,
        sql: String,
        schema: SchemaRef,
        _ctx: Arc<TaskContext>,
        received: Count,
    ) -> DfResult<SendableRecordBatchStream> {
        let kinds = schema
            .fields()
            .iter()
            .map(|f| types::kind_for(f.data_type()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{} cannot return {schema:?}", self.describe()))
            })?;
        Ok(read(
            Arc::clone(&self.pool),
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
