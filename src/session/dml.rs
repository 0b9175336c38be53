//! Rows into tables created in writable products: INSERT, DELETE, UPDATE, MERGE, TRUNCATE and
//! the rows of CREATE TABLE … AS, each one commit of the written format.
//!
//! ```text
//!  INSERT … query ──────────────► the query's rows, cast to the table's columns ─► append
//!  DELETE / UPDATE / MERGE ──────► sql::writes: the table's new rows as queries  ─► overwrite
//!  TRUNCATE, DELETE without WHERE ► no rows ──────────────────────────────────────► overwrite
//!                     rows stream from the running query to the writer on the engine's
//!                     runtime, under the statement's cancel and timeout
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{cast, lit, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{self, ObjectName, Query, Statement};
use futures::StreamExt;
use meshgate_connectors::{conformed, no_rows, WriteMode};
use pgwire::api::portal::Format;

use super::{complete, Client, Failure, Session};
use crate::catalog::workspace::WriteTarget;
use crate::catalog::TableEntry;
use crate::error::{SqlState, UserError};
use crate::sql::writes::{self, unsupported};
use crate::sql::{folded, Allow};

/// Counts rows passing through, and keeps the client's error of the first failing batch (the
/// writer wraps errors in its own, whose text is not for clients).
fn observed(
    input: SendableRecordBatchStream,
    rows: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<UserError>>>,
) -> SendableRecordBatchStream {
    let schema = input.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        input.map(move |b| {
            match &b {
                Ok(b) => {
                    rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    let mut slot = failure
                        .lock()
                        .expect("lock is never poisoned: no panics while held");
                    if slot.is_none() {
                        // Mapped now: the writer hands back only its own wrapping of it.
                        *slot = Some(UserError::from_datafusion(e));
                    }
                }
            }
            b
        }),
    ))
}

/// The Arrow schema of a created table (opening it when needed).
async fn entry_schema(entry: &TableEntry, session: &Session) -> Result<SchemaRef, UserError> {
    let opened = entry.open().await?;
    Ok(session
        .mesh
        .connectors
        .writer()
        .storable_schema(opened.provider.schema().as_ref()))
}

/// Column `i` of a plan's output, cast to `field`'s type and named after it.
fn as_column(plan: &LogicalPlan, i: usize, field: &datafusion::arrow::datatypes::Field) -> Expr {
    cast(
        Expr::Column(datafusion::common::Column::from(
            plan.schema().qualified_field(i),
        )),
        field.data_type().clone(),
    )
    .alias(field.name())
}

impl Session {
    /// A table created through meshgate, as this transaction sees it.
    fn created_table(&self, product: &str, table: &str) -> Result<Arc<TableEntry>, UserError> {
        let (p, _) = self.writable(product)?;
        let entry = p.tables.get(table).cloned().ok_or_else(|| {
            UserError::new(
                SqlState::UndefinedTable,
                format!("relation \"{product}.{table}\" does not exist"),
            )
        })?;
        if entry.view.is_some() {
            return Err(UserError::new(
                SqlState::WrongObjectType,
                format!("cannot change rows of view \"{table}\""),
            ));
        }
        if entry.created.is_none() {
            return Err(UserError::denied(format!("permission denied: {product}.{table} is declared in its domain's file; its rows are written by the domain")));
        }
        Ok(entry)
    }

    /// The created table a statement names.
    fn target(&self, name: &ObjectName) -> Result<(String, String, Arc<TableEntry>), UserError> {
        let (product, table) = self.resolve(name)?;
        let entry = self.created_table(&product, &table)?;
        Ok((product, table, entry))
    }

    /// Runs `plan` and writes its rows to the table at `url`, on the engine's runtime, under the
    /// statement's cancel and timeout. Returns the rows written.
    pub(super) async fn run_write(
        &mut self,
        plan: LogicalPlan,
        url: &url::Url,
        target: &WriteTarget,
        schema: SchemaRef,
        mode: WriteMode,
        name: &str,
    ) -> Result<u64, Failure> {
        let src = self.stream(plan, &Format::UnifiedText).await?;
        let redact = src.redact;
        let input: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            src.stream.schema(),
            src.stream,
        ));
        let input = conformed(input, schema.clone());
        let rows = Arc::new(AtomicU64::new(0));
        let failure = Arc::new(Mutex::new(None));
        let input = observed(input, rows.clone(), failure.clone());
        let result = self
            .write_stream(url, target, schema, input, mode, name)
            .await?;
        match result {
            Ok(_version) => Ok(rows.load(Ordering::Relaxed)),
            Err(e) => {
                let input_error = failure
                    .lock()
                    .expect("lock is never poisoned: no panics while held")
                    .take();
                if let Some(u) = input_error {
                    if redact && !matches!(u.code, SqlState::QueryCanceled | SqlState::OutOfMemory)
                    {
                        return Err(UserError::new(u.code, "error while writing rows read under a row filter; the server log has details").into());
                    }
                    return Err(u.into());
                }
                Err(UserError::internal(&format!("writing {name}"), &e).into())
            }
        }
    }

    /// Hands a stream of rows to the writer on the engine's runtime, stopped by a cancel or
    /// the statement timeout.
    async fn write_stream(
        &mut self,
        url: &url::Url,
        target: &WriteTarget,
        schema: SchemaRef,
        input: SendableRecordBatchStream,
        mode: WriteMode,
        name: &str,
    ) -> Result<meshgate_connectors::Result<u64>, Failure> {
        let writer = self.mesh.connectors.writer().clone();
        let url = url.clone();
        let storage = target.storage.clone();
        let name = name.to_string();
        let file_bytes = self.services.mesh.config().server.write_file_mb.max(1) * 1024 * 1024;
        let job = self.services.executor.spawn(async move {
            writer
                .write(&url, &storage, schema, input, mode, &name, file_bytes)
                .await
        });
        self.guarded(job).await
    }

    /// Awaits a job on the engine's runtime, stopped by a cancel or the statement timeout.
    async fn guarded<T>(&mut self, job: tokio::task::JoinHandle<T>) -> Result<T, Failure> {
        struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
        impl<T> Drop for AbortOnDrop<T> {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let mut job = AbortOnDrop(job);
        let guard = self.guard();
        let result = tokio::select! {
            biased;
            e = guard.stopped() => Err(e.into()),
            r = &mut job.0 => r.map_err(|e| UserError::internal("write task", &e).into()),
        };
        self.registered.slot.end();
        result
    }

    /// Empties a created table in one commit (TRUNCATE, DELETE without WHERE).
    pub(super) async fn truncate(&mut self, name: &ObjectName) -> Result<(), Failure> {
        let (product, table, entry) = self.target(name)?;
        let target = self.writable(&product)?.1;
        let schema = entry_schema(&entry, self).await?;
        let empty = no_rows(schema.clone());
        let location = entry.spec.location.clone();
        let qualified = format!("{product}.{table}");
        self.write_stream(
            &location,
            &target,
            schema,
            empty,
            WriteMode::Overwrite,
            &qualified,
        )
        .await?
        .map_err(|e| UserError::internal("writing rows", &e))?;
        self.audit_written(&product, &table);
        entry.invalidate().await;
        Ok(())
    }

    /// `INSERT INTO t [(columns)] query`: appended to the table in one commit.
    pub(super) async fn insert_rows(
        &mut self,
        i: ast::Insert,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let ast::TableObject::TableName(name) = &i.table else {
            return Err(unsupported("INSERT INTO a table function", "insert into a table").into());
        };
        let (product, table, entry) = self.target(name)?;
        let Some(source) = i.source.clone() else {
            return Err(unsupported(
                "INSERT … DEFAULT VALUES",
                "give the rows with VALUES or a query",
            )
            .into());
        };
        if i.on.is_some() || i.returning.is_some() {
            return Err(
                unsupported("INSERT … ON CONFLICT / RETURNING", "insert plain rows").into(),
            );
        }
        let target_schema = entry_schema(&entry, self).await?;
        let plan = self.plan(&Statement::Query(source), Allow::Read).await?;
        let given: Vec<String> = i.columns.iter().map(folded).collect();
        for c in &given {
            if target_schema.field_with_name(c).is_err() {
                return Err(UserError::new(
                    SqlState::UndefinedColumn,
                    format!("column \"{c}\" of relation \"{table}\" does not exist"),
                )
                .into());
            }
        }
        let width = if given.is_empty() {
            target_schema.fields().len()
        } else {
            given.len()
        };
        let given_width = plan.schema().fields().len();
        if given_width > width {
            return Err(
                UserError::syntax("INSERT has more expressions than target columns").into(),
            );
        }
        // The source's columns in the target's order: by the listed names, else by position;
        // columns the INSERT does not give are NULL.
        let exprs: Vec<Expr> = target_schema
            .fields()
            .iter()
            .enumerate()
            .map(|(pos, f)| {
                let from = if given.is_empty() {
                    Some(pos)
                } else {
                    given.iter().position(|c| c == f.name())
                };
                match from.filter(|k| *k < given_width) {
                    Some(k) => as_column(&plan, k, f),
                    None => cast(
                        lit(datafusion::common::ScalarValue::Null),
                        f.data_type().clone(),
                    )
                    .alias(f.name()),
                }
            })
            .collect();
        let plan = LogicalPlanBuilder::from(plan)
            .project(exprs)
            .and_then(|b| b.build())
            .map_err(|e| UserError::from_datafusion(&e))?;
        let target = self.writable(&product)?.1;
        let rows = self
            .run_write(
                plan,
                &entry.spec.location.clone(),
                &target,
                target_schema,
                WriteMode::Append,
                &format!("{product}.{table}"),
            )
            .await?;
        self.audit_written(&product, &table);
        entry.invalidate().await;
        complete(client, &format!("INSERT 0 {rows}")).await
    }

    /// `DELETE FROM t [USING …] [WHERE p]`: the rows where `p` is not true are written back in
    /// one overwrite commit (a copy-on-write delete).
    pub(super) async fn delete_rows(
        &mut self,
        d: ast::Delete,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let (name, rewrite) = writes::delete(&d)?;
        let (_, _, entry) = self.target(&name)?;
        let n = match rewrite {
            Some(rewrite) => self.apply(&entry, rewrite).await?,
            None => {
                let n = self.count(&[writes::count_all(&name)]).await?;
                self.truncate(&name).await?;
                n
            }
        };
        complete(client, &format!("DELETE {n}")).await
    }

    /// `UPDATE t [AS a] SET c = e, … [FROM s] [WHERE p]`, as a copy-on-write rewrite.
    pub(super) async fn update_rows(
        &mut self,
        u: ast::Update,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let (_, table, entry) = self.target(writes::update_target(&u)?)?;
        let schema = entry_schema(&entry, self).await?;
        let rewrite = writes::update(&u, &schema, &table)?;
        let n = self.apply(&entry, rewrite).await?;
        complete(client, &format!("UPDATE {n}")).await
    }

    /// `MERGE INTO t USING s ON c …`, as a copy-on-write rewrite in one commit.
    pub(super) async fn merge_rows(
        &mut self,
        m: ast::Merge,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let (_, table, entry) = self.target(writes::merge_target(&m)?)?;
        let schema = entry_schema(&entry, self).await?;
        let rewrite = writes::merge(&m, &schema, &table)?;
        let n = self.apply(&entry, rewrite).await?;
        complete(client, &format!("MERGE {n}")).await
    }

    /// Counts the rows a rewrite affects and, when there are any, overwrites the table with its
    /// rows. Returns the count.
    async fn apply(
        &mut self,
        entry: &Arc<TableEntry>,
        rewrite: writes::Rewrite,
    ) -> Result<u64, Failure> {
        let n = self.count(&rewrite.count).await?;
        if n > 0 {
            let schema = entry_schema(entry, self).await?;
            let plan = self.stacked(&rewrite.rows, &schema).await?;
            let target = self.writable(&entry.product)?.1;
            let name = format!("{}.{}", entry.product, entry.name);
            self.run_write(
                plan,
                &entry.spec.location.clone(),
                &target,
                schema,
                WriteMode::Overwrite,
                &name,
            )
            .await?;
            self.audit_written(&entry.product, &entry.name);
            entry.invalidate().await;
        }
        Ok(n)
    }

    /// Plans each query (its columns in the target's order), casts them to the target's types
    /// and stacks them: the rows a copy-on-write rewrite of the table leaves.
    async fn stacked(
        &mut self,
        queries: &[Query],
        target: &SchemaRef,
    ) -> Result<LogicalPlan, Failure> {
        let mut out: Option<LogicalPlanBuilder> = None;
        for q in queries {
            let plan = self
                .plan(&Statement::Query(Box::new(q.clone())), Allow::Read)
                .await?;
            let exprs: Vec<Expr> = target
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| as_column(&plan, i, f))
                .collect();
            let b = LogicalPlanBuilder::from(plan)
                .project(exprs)
                .map_err(|e| UserError::from_datafusion(&e))?;
            out = Some(match out {
                None => b,
                Some(prev) => prev
                    .union(b.build().map_err(|e| UserError::from_datafusion(&e))?)
                    .map_err(|e| UserError::from_datafusion(&e))?,
            });
        }
        let b = out.ok_or_else(|| UserError::internal("rewrite", &"no parts"))?;
        Ok(b.build().map_err(|e| UserError::from_datafusion(&e))?)
    }

    /// The sum of `SELECT count(*) …` queries.
    async fn count(&mut self, queries: &[Query]) -> Result<u64, Failure> {
        let mut n = 0u64;
        for q in queries {
            let plan = self
                .plan(&Statement::Query(Box::new(q.clone())), Allow::Read)
                .await?;
            let mut src = self.stream(plan, &Format::UnifiedText).await?;
            while let Some(b) = src.stream.next().await {
                let b = b.map_err(|e| src.error(&e))?;
                if let Some(c) = b
                    .columns()
                    .first()
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                {
                    if !c.is_empty() && c.is_valid(0) {
                        n += c.value(0) as u64;
                    }
                }
            }
        }
        Ok(n)
    }
}
