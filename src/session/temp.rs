//! Temporary tables, as Tableau makes them for its extracts and filters:
//! `CREATE LOCAL TEMPORARY TABLE "#Tableau_…" (…) ON COMMIT PRESERVE ROWS`, INSERT, SELECT, DROP.
//!
//! They live in the session's memory only, in its own `pg_temp` schema (a DataFusion memory
//! schema registered in the session's catalog, so no other session can see it), and end with
//! the session. As in PostgreSQL, an unqualified name finds a temporary table before any other.
//! An INSERT or DROP that names no temporary table is a write into a product (`ddl`, `dml`).

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::catalog::SchemaProvider;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Statement};
use futures::StreamExt;
use pgwire::api::portal::Format;

use super::{complete, Client, Failure, Session};
use crate::catalog::TEMP_SCHEMA;
use crate::error::{SqlState, UserError};
use crate::sql::{folded, Allow};

fn idents(name: &ObjectName) -> Vec<&Ident> {
    name.0.iter().filter_map(ObjectNamePart::as_ident).collect()
}

/// The temporary table a name refers to, if any: `pg_temp.t`, or `t` when the session has one.
fn temp_table(name: &ObjectName, temp: &dyn SchemaProvider) -> Option<String> {
    match idents(name).as_slice() {
        [t] => Some(folded(t)).filter(|n| temp.table_exist(n)),
        [s, t] if folded(s) == TEMP_SCHEMA => Some(folded(t)),
        _ => None,
    }
}

fn temp_name(table: &Ident) -> ObjectName {
    ObjectName(vec![
        ObjectNamePart::Identifier(Ident::new(TEMP_SCHEMA)),
        ObjectNamePart::Identifier(table.clone()),
    ])
}

impl Session {
    /// Drops every temporary table (DISCARD ALL).
    pub(super) fn drop_temp_tables(&self) {
        for t in self.temp.table_names() {
            let _ = self.temp.deregister_table(&t);
        }
    }

    pub(super) async fn create_temp(
        &mut self,
        stmt: Statement,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let Statement::CreateTable(mut t) = stmt else {
            return Err(UserError::internal("create temp", &"not a CREATE TABLE").into());
        };
        let parts: Vec<Ident> = idents(&t.name).into_iter().cloned().collect();
        let table = match parts.as_slice() {
            [t] => t.clone(),
            [s, t] if folded(s) == TEMP_SCHEMA => t.clone(),
            _ => {
                return Err(UserError::new(
                    SqlState::InvalidTableDefinition,
                    "cannot create temporary relation in non-temporary schema",
                )
                .into());
            }
        };
        if let Some(query) = t.query.take() {
            return self
                .create_temp_as(&table, &t.columns, *query, client)
                .await;
        }
        // What makes it temporary is where it is held; DataFusion's planner knows no ON COMMIT.
        t.temporary = false;
        t.global = None;
        t.on_commit = None;
        t.name = temp_name(&table);
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DFStatement::Statement(Box::new(Statement::CreateTable(t))))
            .await
            .map_err(|e| UserError::from_datafusion(&e))?;
        // Only creates the empty table in the session's memory schema: no data is read.
        self.ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| UserError::from_datafusion(&e))?;
        complete(client, "CREATE TABLE").await
    }

    /// `CREATE TEMPORARY TABLE t [(names…)] AS query`: the query is planned like any other
    /// (policies apply), its rows kept in the session's memory under `pg_temp.t`.
    async fn create_temp_as(
        &mut self,
        table: &Ident,
        names: &[datafusion::sql::sqlparser::ast::ColumnDef],
        query: datafusion::sql::sqlparser::ast::Query,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let name = folded(table);
        if self.temp.table_exist(&name) {
            return Err(UserError::new(
                SqlState::DuplicateTable,
                format!("relation \"{name}\" already exists"),
            )
            .into());
        }
        let plan = self
            .plan(&Statement::Query(Box::new(query)), Allow::Read)
            .await?;
        let schema = std::sync::Arc::new(super::result::renamed(plan.schema().as_arrow(), names)?);
        let mut src = self.stream(plan, &Format::UnifiedText).await?;
        let mut batches = Vec::new();
        let mut rows = 0usize;
        while let Some(batch) = src.stream.next().await {
            let batch = batch.map_err(|e| src.error(&e))?;
            rows += batch.num_rows();
            let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
                schema.clone(),
                batch.columns().to_vec(),
            )
            .map_err(|e| UserError::internal("create temp as", &e))?;
            batches.push(batch);
        }
        let mem = datafusion::datasource::MemTable::try_new(schema, vec![batches])
            .map_err(|e| UserError::from_datafusion(&e))?;
        self.temp
            .register_table(name, std::sync::Arc::new(mem))
            .map_err(|e| UserError::from_datafusion(&e))?;
        complete(client, &format!("SELECT {rows}")).await
    }

    /// INSERT into a temporary table here; anything else is a write into a product.
    pub(super) async fn insert(
        &mut self,
        stmt: Statement,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let target = match &stmt {
            Statement::Insert(i) => match &i.table {
                datafusion::sql::sqlparser::ast::TableObject::TableName(n) => {
                    temp_table(n, self.temp.as_ref())
                }
                _ => None,
            },
            _ => None,
        };
        if target.is_none() {
            return self.write(stmt, client).await;
        }
        let plan = self.plan(&stmt, Allow::Insert).await?;
        let mut src = self.stream(plan, &Format::UnifiedText).await?;
        let mut rows = 0u64;
        while let Some(batch) = src.stream.next().await {
            let batch = batch.map_err(|e| src.error(&e))?;
            if let Some(counts) = batch
                .columns()
                .first()
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            {
                rows += (0..counts.len())
                    .filter(|i| counts.is_valid(*i))
                    .map(|i| counts.value(i))
                    .sum::<u64>();
            }
        }
        complete(client, &format!("INSERT 0 {rows}")).await
    }

    /// DROP TABLE of temporary tables here; of others, a write into a product.
    pub(super) async fn drop_tables(
        &mut self,
        stmt: Statement,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let Statement::Drop {
            names, if_exists, ..
        } = &stmt
        else {
            return Err(UserError::internal("drop", &"not a DROP").into());
        };
        let temp = self.temp.clone();
        if !names
            .iter()
            .any(|n| temp_table(n, temp.as_ref()).is_some_and(|t| temp.table_exist(&t)))
        {
            // None is a temporary table: tables created in writable products (or refused there).
            return self.write(stmt.clone(), client).await;
        }
        let mut drop = Vec::new();
        for name in names {
            match temp_table(name, temp.as_ref()) {
                Some(t) if temp.table_exist(&t) => drop.push(t),
                _ => {
                    let exists = self
                        .ctx
                        .table_exist(name.to_string().as_str())
                        .unwrap_or(false);
                    if exists {
                        return Err(UserError::denied(format!("permission denied: DROP TABLE {name} is not allowed, the mesh is defined by its domains' configuration")).into());
                    }
                    if !if_exists {
                        return Err(UserError::new(
                            SqlState::UndefinedTable,
                            format!("table \"{name}\" does not exist"),
                        )
                        .into());
                    }
                }
            }
        }
        for t in drop {
            temp.deregister_table(&t)
                .map_err(|e| UserError::from_datafusion(&e))?;
        }
        complete(client, "DROP TABLE").await
    }
}
