//! SQLite tables read in place (`format = "sqlite"`), e.g. files an edge device ships.
//!
//! Columns get the type their declaration gives under SQLite's affinity rules; a value that
//! does not fit its column's type (SQLite lets any column hold any value) fails the query that
//! reads it, naming the column, rather than being coerced. A scan is one `SELECT` in the file:
//! the needed columns, the filters SQLite answers exactly as DataFusion would, and the LIMIT.

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::Session;
use datafusion::common::TableReference;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::metrics::Count;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use datafusion::sql::unparser::dialect::{Dialect, SqliteDialect};
use futures::{StreamExt, TryStreamExt};
use meshgate_connector_api::{
    spawned_batches, Connector, ConnectorError, Fetched, OpenedTable, RemoteEngine, RemoteSource,
    RemoteStatement, RemoteTable, Result, ScanSource, SourceScanExec, SourceUnavailable,
    SqliteSource, Storage, TableSpec, Unreachable,
};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::Row;

const BATCH_ROWS: usize = 8192;

/// Opens SQLite tables; one read-only pool per file for the server's life.
#[derive(Default)]
pub struct SqliteConnector {
    pools: Mutex<HashMap<(std::path::PathBuf, usize), SqlitePool>>,
}

impl fmt::Debug for SqliteConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SqliteConnector")
    }
}

impl SqliteConnector {
    fn pool(&self, s: &SqliteSource) -> SqlitePool {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry((s.path.clone(), s.max_connections))
            .or_insert_with(|| {
                let options = SqliteConnectOptions::new()
                    .filename(&s.path)
                    .read_only(true)
                    .create_if_missing(false);
                SqlitePoolOptions::new()
                    .max_connections(s.max_connections.max(1) as u32)
                    .min_connections(0)
                    .connect_lazy_with(options)
            })
            .clone()
    }
}

fn unavailable(s: &SqliteSource, kind: Unreachable, e: &sqlx::Error) -> SourceUnavailable {
    SourceUnavailable {
        source: s.describe(),
        kind,
        reason: e.to_string(),
    }
}

/// Whether an error is the file being unreachable rather than the statement failing.
fn unreachable(e: &sqlx::Error) -> Option<Unreachable> {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            Some(Unreachable::Connect)
        }
        // SQLITE_CANTOPEN (14) and SQLITE_NOTADB (26): the file is gone or not a database.
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("14") | Some("26")) => {
            Some(Unreachable::Connect)
        }
        _ => None,
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl Connector for SqliteConnector {
    fn format(&self) -> &'static str {
        "sqlite"
    }

    async fn open(&self, spec: &TableSpec, _storage: &Storage) -> Result<OpenedTable> {
        let name = spec.qualified_name.as_str();
        let Some(RemoteSource::Sqlite(source)) = &spec.remote else {
            return Err(ConnectorError::Config {
                table: name.to_string(),
                reason: "a sqlite table needs a connection with a path".into(),
            });
        };
        let pool = self.pool(source);
        let columns: Vec<SqliteRow> =
            sqlx::query("SELECT name, type, \"notnull\" FROM pragma_table_info(?1)")
                .bind(&source.table)
                .fetch_all(&pool)
                .await
                .map_err(|e| match unreachable(&e) {
                    Some(kind) => ConnectorError::Unavailable {
                        table: name.to_string(),
                        source: unavailable(source, kind, &e),
                    },
                    None => ConnectorError::format(name, e),
                })?;
        if columns.is_empty() {
            return Err(ConnectorError::NotFound {
                table: name.to_string(),
                reason: format!("{} has no table {}", source.describe(), source.table),
            });
        }
        let mut fields = Vec::new();
        let mut kinds = Vec::new();
        for c in &columns {
            let column: String = c.try_get(0).map_err(|e| ConnectorError::format(name, e))?;
            let declared: String = c.try_get(1).map_err(|e| ConnectorError::format(name, e))?;
            let not_null: i64 = c.try_get(2).map_err(|e| ConnectorError::format(name, e))?;
            let kind = kind(&declared);
            fields.push(Field::new(column, kind.arrow(), not_null == 0));
            kinds.push(kind);
        }
        let opaque = opaque_columns(&pool, source, &fields, &kinds)
            .await
            .map_err(|e| ConnectorError::format(name, e))?;
        let engine = Arc::new(SqliteEngine {
            pool: pool.clone(),
            source: source.clone(),
        });
        let table = SqliteTable {
            pool,
            source: source.clone(),
            schema: Arc::new(Schema::new(fields)),
            kinds,
        };
        Ok(OpenedTable::new(Arc::new(RemoteTable::new(
            engine,
            TableReference::bare(source.table.as_str()),
            opaque,
            Arc::new(table),
        ))))
    }

    fn remote_statement(&self, node: &Arc<dyn ExecutionPlan>) -> Option<RemoteStatement> {
        SourceScanExec::<SqliteScan>::statement_of(node)
    }
}

/// How a column is read, from its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Blob,
    Boolean,
    /// `DATE`: ISO text.
    Date,
    /// `DATETIME` / `TIMESTAMP`: ISO text without a zone.
    Timestamp,
    /// No declared type: any value, served as its text.
    Any,
}

/// SQLite's affinity rules (datatype3.html §3.1), with the date and boolean declarations
/// writers use for values SQLite keeps as text and integers.
fn kind(declared: &str) -> Kind {
    let t = declared.to_ascii_uppercase();
    let base = t.split('(').next().unwrap_or_default().trim();
    match base {
        "BOOLEAN" | "BOOL" => return Kind::Boolean,
        "DATE" => return Kind::Date,
        "DATETIME" | "TIMESTAMP" => return Kind::Timestamp,
        _ => {}
    }
    if t.contains("INT") {
        Kind::Integer
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        Kind::Text
    } else if t.contains("BLOB") {
        Kind::Blob
    } else if t.trim().is_empty() {
        Kind::Any
    } else {
        // REAL, FLOAT, DOUBLE, and NUMERIC affinity (DECIMAL…), whose values SQLite keeps as
        // integers or doubles.
        Kind::Real
    }
}

impl Kind {
    fn arrow(self) -> DataType {
        match self {
            Kind::Integer => DataType::Int64,
            Kind::Real => DataType::Float64,
            Kind::Text | Kind::Any => DataType::Utf8,
            Kind::Blob => DataType::Binary,
            Kind::Boolean => DataType::Boolean,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    fn select(self, quoted: &str) -> String {
        match self {
            Kind::Any => format!("CAST({quoted} AS TEXT)"),
            _ => quoted.to_string(),
        }
    }
}

struct SqliteTable {
    pool: SqlitePool,
    source: SqliteSource,
    schema: SchemaRef,
    kinds: Vec<Kind>,
}

impl fmt::Debug for SqliteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SqliteTable({} {})",
            self.source.describe(),
            self.source.table
        )
    }
}

impl SqliteTable {
    fn kind_of(&self, column: &str) -> Option<Kind> {
        self.schema.index_of(column).ok().map(|i| self.kinds[i])
    }

    /// Comparisons of integer, real and text columns with literals, NULL tests, IN lists and
    /// boolean logic: what SQLite answers as DataFusion does (text compared bytewise).
    fn filter_sql(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let sql_op = meshgate_connector_api::sql_operator(op)?;
                if matches!(op, Operator::And | Operator::Or) {
                    return Some(format!(
                        "({} {sql_op} {})",
                        self.filter_sql(left)?,
                        self.filter_sql(right)?
                    ));
                }
                Some(format!(
                    "({} {sql_op} {})",
                    self.operand(left)?,
                    self.operand(right)?
                ))
            }
            Expr::Not(inner) => Some(format!("(NOT {})", self.filter_sql(inner)?)),
            Expr::IsNull(inner) => Some(format!("({} IS NULL)", self.column(inner)?)),
            Expr::IsNotNull(inner) => Some(format!("({} IS NOT NULL)", self.column(inner)?)),
            Expr::InList(l) => {
                let items = l
                    .list
                    .iter()
                    .map(|i| self.operand(i))
                    .collect::<Option<Vec<_>>>()?;
                Some(format!(
                    "({} {}IN ({}))",
                    self.column(&l.expr)?,
                    if l.negated { "NOT " } else { "" },
                    items.join(", ")
                ))
            }
            _ => None,
        }
    }

    fn column(&self, e: &Expr) -> Option<String> {
        let Expr::Column(c) = e else { return None };
        match self.kind_of(&c.name)? {
            Kind::Integer | Kind::Real => Some(ident(&c.name)),
            Kind::Text => Some(format!("{} COLLATE BINARY", ident(&c.name))),
            _ => None,
        }
    }

    fn operand(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::Column(_) => self.column(e),
            Expr::Literal(v, _) => Some(match v {
                ScalarValue::Int64(Some(i)) => i.to_string(),
                ScalarValue::Int32(Some(i)) => i.to_string(),
                ScalarValue::Float64(Some(f)) if f.is_finite() => format!("{f:?}"),
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                    if !s.contains('\0') =>
                {
                    format!("'{}'", s.replace('\'', "''"))
                }
                _ => return None,
            }),
            _ => None,
        }
    }
}

#[async_trait]
impl TableProvider for SqliteTable {
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
            &ident(&self.source.table),
            filters,
            |f| self.filter_sql(f),
            limit,
        )?;
        let schema = Arc::new(self.schema.project(&columns)?);
        let scan = SqliteScan {
            pool: self.pool.clone(),
            source: self.source.clone(),
            kinds: columns.iter().map(|i| self.kinds[*i]).collect(),
        };
        Ok(Arc::new(SourceScanExec::new(scan, sql, schema)))
    }
}

/// A scan's statement runs on the file's pool, each column read as its kind says.
struct SqliteScan {
    pool: SqlitePool,
    source: SqliteSource,
    kinds: Vec<Kind>,
}

impl ScanSource for SqliteScan {
    const NODE: &'static str = "SqliteScanExec";
    const COUNTS_BYTES: bool = false;

    fn describe(&self) -> String {
        self.source.describe()
    }

    fn read(
        &self,
        sql: &str,
        schema: &SchemaRef,
        _ctx: Arc<TaskContext>,
        fetched: Fetched,
    ) -> DfResult<SendableRecordBatchStream> {
        Ok(read(
            self.pool.clone(),
            self.source.clone(),
            sql.to_string(),
            Arc::clone(schema),
            self.kinds.clone(),
            fetched.rows,
        ))
    }
}

/// Runs `sql` in the file on its own task and streams its rows as batches of `schema`, each
/// column read as its kind says.
fn read(
    pool: SqlitePool,
    source: SqliteSource,
    sql: String,
    schema: SchemaRef,
    kinds: Vec<Kind>,
    rows_fetched: Count,
) -> SendableRecordBatchStream {
    let batch_schema = Arc::clone(&schema);
    spawned_batches(schema, |tx| async move {
        let read = async {
            let failed = |e: sqlx::Error| match unreachable(&e) {
                Some(kind) => DataFusionError::External(Box::new(unavailable(&source, kind, &e))),
                None => DataFusionError::External(Box::new(e)),
            };
            let mut rows = sqlx::query(&sql).fetch(&pool);
            let mut builders: Vec<Builder> = kinds.iter().map(|k| Builder::new(*k)).collect();
            let mut n = 0usize;
            loop {
                let row = rows.try_next().await.map_err(failed)?;
                let done = row.is_none();
                if let Some(row) = row {
                    for (i, b) in builders.iter_mut().enumerate() {
                        b.push(&row, i)?;
                    }
                    n += 1;
                    rows_fetched.add(1);
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
                        return Ok(());
                    }
                }
                if done {
                    return Ok(());
                }
            }
        };
        let outcome: DfResult<()> = read.await;
        if let Err(e) = outcome {
            let _ = tx.send(Err(e)).await;
        }
    })
}

/// The columns a whole subplan may not use. SQLite lets a column of an ordinary table hold any
/// value, which the per-scan path refuses on reading but SQLite would compare or sum as it
/// pleases; only a STRICT table's declared types hold. Text with a declared collation (NOCASE…)
/// compares unlike meshgate, and so do the kinds served from other storage (booleans, dates,
/// timestamps, undeclared columns).
async fn opaque_columns(
    pool: &SqlitePool,
    source: &SqliteSource,
    fields: &[Field],
    kinds: &[Kind],
) -> std::result::Result<BTreeSet<String>, sqlx::Error> {
    let table: Option<SqliteRow> = sqlx::query(
        "SELECT l.strict, m.sql FROM pragma_table_list l \
         JOIN sqlite_schema m ON m.name = l.name WHERE l.name = ?1 AND l.schema = 'main'",
    )
    .bind(&source.table)
    .fetch_optional(pool)
    .await?;
    let (strict, sql) = match &table {
        Some(r) => (
            r.try_get::<i64, _>(0)? == 1,
            r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
        ),
        None => (false, String::new()),
    };
    let collated = sql.to_ascii_uppercase().contains("COLLATE");
    Ok(fields
        .iter()
        .zip(kinds)
        .filter(|(_, k)| {
            !strict
                || match k {
                    Kind::Integer | Kind::Real | Kind::Blob => false,
                    Kind::Text => collated,
                    _ => true,
                }
        })
        .map(|(f, _)| f.name().clone())
        .collect())
}

/// An SQLite file as an engine that answers whole subplans over its STRICT tables.
struct SqliteEngine {
    pool: SqlitePool,
    source: SqliteSource,
}

impl fmt::Debug for SqliteEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqliteEngine({})", self.source.describe())
    }
}

/// How a result column of an Arrow type is read from SQLite. A whole-number decimal (meshgate
/// sums integers as PostgreSQL does, into `numeric`) is an integer there: SQLite's `sum` of
/// integers is exact or fails with "integer overflow".
fn kind_for(t: &DataType) -> Option<Kind> {
    Some(match t {
        DataType::Int64 | DataType::Decimal128(_, 0) => Kind::Integer,
        DataType::Float64 => Kind::Real,
        DataType::Utf8 => Kind::Text,
        DataType::Binary => Kind::Blob,
        _ => return None,
    })
}

impl RemoteEngine for SqliteEngine {
    fn key(&self) -> String {
        format!("sqlite\u{0}{}", self.source.path.display())
    }

    fn dialect(&self) -> Arc<dyn Dialect + Send + Sync> {
        Arc::new(SqliteDialect {})
    }

    fn describe(&self) -> String {
        self.source.describe()
    }

    fn statement(&self, sql: String, schema: &SchemaRef) -> Option<String> {
        schema
            .fields()
            .iter()
            .all(|f| kind_for(f.data_type()).is_some())
            .then_some(sql)
    }

    fn execute(
        &self,
        sql: String,
        schema: SchemaRef,
        _ctx: Arc<TaskContext>,
        // A file read in this process: nothing crosses a network.
        _received: datafusion::physical_plan::metrics::Count,
    ) -> DfResult<SendableRecordBatchStream> {
        let kinds = schema
            .fields()
            .iter()
            .map(|f| kind_for(f.data_type()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{} cannot return {schema:?}", self.describe()))
            })?;
        let read_schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .zip(&kinds)
                .map(|(f, k)| f.as_ref().clone().with_data_type(k.arrow()))
                .collect::<Vec<_>>(),
        ));
        let rows = read(
            self.pool.clone(),
            self.source.clone(),
            sql,
            read_schema,
            kinds,
            Count::new(),
        );
        let target = Arc::clone(&schema);
        let cast = rows.map(move |batch| {
            let batch = batch?;
            let columns = batch
                .columns()
                .iter()
                .zip(target.fields())
                .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new_with_options(
                Arc::clone(&target),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, cast)))
    }
}

enum Builder {
    Integer(Int64Builder),
    Real(Float64Builder),
    Text(StringBuilder),
    Blob(BinaryBuilder),
    Boolean(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Integer => Builder::Integer(Int64Builder::new()),
            Kind::Real => Builder::Real(Float64Builder::new()),
            Kind::Text | Kind::Any => Builder::Text(StringBuilder::new()),
            Kind::Blob => Builder::Blob(BinaryBuilder::new()),
            Kind::Boolean => Builder::Boolean(BooleanBuilder::new()),
            Kind::Date => Builder::Date(Date32Builder::new()),
            Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new()),
        }
    }

    fn push(&mut self, row: &SqliteRow, i: usize) -> DfResult<()> {
        let wrong = |what: &str| {
            DataFusionError::Execution(format!(
                "column {} holds a value that is not {what}",
                sqlx::Column::name(&row.columns()[i])
            ))
        };
        match self {
            Builder::Integer(b) => b.append_option(
                row.try_get::<Option<i64>, _>(i)
                    .map_err(|_| wrong("an integer"))?,
            ),
            Builder::Real(b) => {
                let v = match row.try_get::<Option<f64>, _>(i) {
                    Ok(v) => v,
                    // Columns of NUMERIC affinity keep whole numbers as integers.
                    Err(_) => row
                        .try_get::<Option<i64>, _>(i)
                        .map_err(|_| wrong("a number"))?
                        .map(|v| v as f64),
                };
                b.append_option(v)
            }
            Builder::Text(b) => b.append_option(
                row.try_get::<Option<String>, _>(i)
                    .map_err(|_| wrong("text"))?,
            ),
            Builder::Blob(b) => b.append_option(
                row.try_get::<Option<Vec<u8>>, _>(i)
                    .map_err(|_| wrong("a blob"))?,
            ),
            Builder::Boolean(b) => {
                let v = row
                    .try_get::<Option<i64>, _>(i)
                    .map_err(|_| wrong("a boolean (0 or 1)"))?;
                b.append_option(match v {
                    None => None,
                    Some(0) => Some(false),
                    Some(1) => Some(true),
                    Some(_) => return Err(wrong("a boolean (0 or 1)")),
                })
            }
            Builder::Date(b) => {
                let v = row
                    .try_get::<Option<String>, _>(i)
                    .map_err(|_| wrong("a date"))?;
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
                b.append_option(match v {
                    None => None,
                    Some(t) => Some(
                        (chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                            .map_err(|_| wrong("a date (YYYY-MM-DD)"))?
                            - epoch)
                            .num_days() as i32,
                    ),
                })
            }
            Builder::Timestamp(b) => {
                let v = row
                    .try_get::<Option<String>, _>(i)
                    .map_err(|_| wrong("a timestamp"))?;
                b.append_option(match v {
                    None => None,
                    Some(t) => Some(
                        chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f")
                            .or_else(|_| {
                                chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                            })
                            .map_err(|_| wrong("a timestamp (YYYY-MM-DD HH:MM:SS)"))?
                            .and_utc()
                            .timestamp_micros(),
                    ),
                })
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Integer(b) => Arc::new(b.finish()),
            Builder::Real(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Blob(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_follow_affinity() {
        assert_eq!(kind("INTEGER"), Kind::Integer);
        assert_eq!(kind("bigint"), Kind::Integer);
        assert_eq!(kind("VARCHAR(20)"), Kind::Text);
        assert_eq!(kind("DOUBLE PRECISION"), Kind::Real);
        assert_eq!(kind("DECIMAL(10,2)"), Kind::Real);
        assert_eq!(kind("BLOB"), Kind::Blob);
        assert_eq!(kind(""), Kind::Any);
        assert_eq!(kind("DATE"), Kind::Date);
        assert_eq!(kind("boolean"), Kind::Boolean);
    }
}
