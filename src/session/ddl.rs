//! DDL in writable data products: the statements dbt-postgres sends to create, replace, rename,
//! comment and drop relations (`dbt run`, `seed`, `docs`), and the dispatch of every write.
//!
//! ```text
//!   statement ── target product writable? may the principal write it? ── no ──► 42501
//!      │ yes
//!      ├─ names: CREATE VIEW, RENAME, DROP, COMMENT ──► an Op of the transaction (transaction.rs)
//!      └─ CREATE TABLE [AS] ──► rows into a fresh table directory (dml.rs), then an Op
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{self, CommentObject, ObjectName, ObjectType, Statement};

use super::{complete, notice, Client, Failure, Session};
use crate::catalog::workspace::{
    CreatedTable, CreatedView, Op, TableSource, ViewColumn, WriteTarget,
};
use crate::catalog::ProductEntry;
use crate::error::{SqlState, UserError};
use crate::sql::names::{self, parts};
use crate::sql::writes::{self, unsupported};
use crate::sql::{build, folded, read_only_refusal, Allow};

fn denied(product: &str) -> UserError {
    UserError::denied(format!("permission denied for schema {product}"))
}

fn read_only(product: &str) -> UserError {
    UserError::denied(format!("permission denied for schema {product}: data product {product} is read-only (its domain has not made it writable)"))
}

fn no_schema(product: &str) -> UserError {
    UserError::new(
        SqlState::UndefinedSchema,
        format!("schema \"{product}\" does not exist"),
    )
}

/// A new table of a writable product, checked before any data is written.
pub(super) struct NewTable {
    pub product: String,
    pub table: String,
    pub target: WriteTarget,
    /// Its directory under the product's write root: fresh for every CREATE TABLE.
    pub dir: String,
}

impl Session {
    /// DDL and DML outside the session's temporary tables.
    pub(super) async fn write(
        &mut self,
        stmt: Statement,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        self.refuse_pinned_write()?;
        match stmt {
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => {
                let name = match &schema_name {
                    ast::SchemaName::Simple(n) | ast::SchemaName::NamedAuthorization(n, _) => {
                        parts(n).pop().unwrap_or_default()
                    }
                    ast::SchemaName::UnnamedAuthorization(i) => folded(i),
                };
                self.create_schema(&name, if_not_exists, client).await
            }
            Statement::Drop {
                object_type: ObjectType::Schema,
                names,
                if_exists,
                cascade,
                ..
            } => {
                for n in &names {
                    let name = parts(n).pop().unwrap_or_default();
                    self.drop_schema(&name, if_exists, cascade, client).await?;
                }
                complete(client, "DROP SCHEMA").await
            }
            Statement::Drop {
                object_type: ot @ (ObjectType::Table | ObjectType::View),
                names,
                if_exists,
                ..
            } => {
                let view = ot == ObjectType::View;
                for n in &names {
                    self.drop_relation(n, view, if_exists, client).await?;
                }
                complete(client, if view { "DROP VIEW" } else { "DROP TABLE" }).await
            }
            Statement::CreateTable(t) if t.query.is_some() => self.create_table_as(t, client).await,
            Statement::CreateTable(t) => self.create_empty_table(t, client).await,
            Statement::CreateView(v) => self.create_view(v, client).await,
            Statement::AlterTable(a) => self.alter_table(a, client).await,
            Statement::Comment {
                object_type,
                object_name,
                comment,
                ..
            } => {
                self.comment(object_type, &object_name, comment.unwrap_or_default())
                    .await?;
                complete(client, "COMMENT").await
            }
            Statement::Insert(i) => self.insert_rows(i, client).await,
            Statement::Delete(d) => self.delete_rows(d, client).await,
            Statement::Update(u) => self.update_rows(u, client).await,
            Statement::Merge(m) => self.merge_rows(m, client).await,
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    self.truncate(&target.name).await?;
                }
                complete(client, "TRUNCATE TABLE").await
            }
            other => Err(read_only_refusal(&other).into()),
        }
    }

    /// `[db.]product.table` or `table` (in the session's default schema) as (product, table).
    pub(super) fn resolve(&self, name: &ObjectName) -> Result<(String, String), UserError> {
        match parts(name).as_slice() {
            [t] => Ok((self.default_schema(), t.clone())),
            [s, t] => Ok((s.clone(), t.clone())),
            [d, s, t] if *d == self.mesh.database => Ok((s.clone(), t.clone())),
            [d, _, _] => Err(UserError::unsupported(format!(
                "cross-database references are not implemented: \"{d}\""
            ))),
            _ => Err(UserError::syntax(format!("improper relation name: {name}"))),
        }
    }

    /// The product, if the principal may write into it.
    pub(super) fn writable(
        &self,
        product: &str,
    ) -> Result<(Arc<ProductEntry>, WriteTarget), UserError> {
        let Some(p) = self.mesh.products.get(product).cloned() else {
            // public, pg_catalog, information_schema, mesh, pg_temp: there, and not writable.
            let exists = self
                .ctx
                .catalog(&self.mesh.database)
                .is_some_and(|c| c.schema(product).is_some());
            return Err(if exists {
                denied(product)
            } else {
                no_schema(product)
            });
        };
        let target = p.write.clone().ok_or_else(|| read_only(product))?;
        if !self.access.principal.may_write(product) {
            return Err(denied(product));
        }
        Ok((p, target))
    }

    async fn create_schema(
        &mut self,
        name: &str,
        if_not_exists: bool,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let p = &self.access.principal;
        if let Some(product) = self.mesh.products.get(name) {
            if product.write.is_some() && p.may_write(name) {
                // The product exists already: its domain declared it.
                return complete(client, "CREATE SCHEMA").await;
            }
            if if_not_exists
                && (p.may_write(name) || product.tables.keys().any(|t| p.may_read(name, t)))
            {
                skipped(
                    client,
                    format!("schema \"{name}\" already exists, skipping"),
                )
                .await?;
                return complete(client, "CREATE SCHEMA").await;
            }
            return Err(denied(name).into());
        }
        let writable: Vec<String> = self
            .mesh
            .products
            .values()
            .filter(|product| product.write.is_some() && p.may_write(&product.name))
            .map(|product| product.name.clone())
            .collect();
        let hint = if writable.is_empty() {
            "you may write into no data product; a domain grants `write` on a writable product in its file".to_string()
        } else {
            format!(
                "data products are declared by their domains; you may write into: {}",
                writable.join(", ")
            )
        };
        Err(
            UserError::denied(format!("permission denied to create schema \"{name}\""))
                .with_hint(hint)
                .into(),
        )
    }

    async fn drop_schema(
        &mut self,
        name: &str,
        if_exists: bool,
        cascade: bool,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        if !self.mesh.products.contains_key(name) {
            if if_exists {
                return skipped(
                    client,
                    format!("schema \"{name}\" does not exist, skipping"),
                )
                .await;
            }
            return Err(no_schema(name).into());
        }
        self.writable(name)?;
        let m = self.working(name);
        if m.tables.is_empty() && m.views.is_empty() {
            return Ok(());
        }
        if !cascade {
            return Err(UserError::new(
                SqlState::DependentObjectsStillExist,
                format!("cannot drop schema {name} because other objects depend on it"),
            )
            .with_hint("use DROP ... CASCADE to drop the dependent objects too")
            .into());
        }
        self.change(name, Op::DropAll).await
    }

    async fn drop_relation(
        &mut self,
        name: &ObjectName,
        view: bool,
        if_exists: bool,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let (product, table) = self.resolve(name)?;
        let p = &self.access.principal;
        let known = self
            .mesh
            .products
            .get(&product)
            .and_then(|pe| pe.tables.get(&table))
            .cloned()
            .filter(|_| p.may_read(&product, &table) || p.may_write(&product));
        let kind = if view { "view" } else { "table" };
        let Some(entry) = known else {
            if if_exists {
                return skipped(
                    client,
                    format!("{kind} \"{table}\" does not exist, skipping"),
                )
                .await;
            }
            return Err(UserError::new(
                SqlState::UndefinedTable,
                format!("{kind} \"{table}\" does not exist"),
            )
            .into());
        };
        self.writable(&product)?;
        if entry.view.is_none() && entry.created.is_none() {
            return Err(UserError::denied(format!("permission denied: {product}.{table} is declared in its domain's file and cannot be dropped")).into());
        }
        if entry.view.is_some() != view {
            let (is, want) = if view {
                ("table", "VIEW")
            } else {
                ("view", "TABLE")
            };
            return Err(UserError::new(
                SqlState::WrongObjectType,
                format!("\"{table}\" is a {is}, not a {}", want.to_ascii_lowercase()),
            )
            .with_hint(format!(
                "use DROP {} to remove a {is}",
                is.to_ascii_uppercase()
            ))
            .into());
        }
        self.change(&product, Op::Drop { name: table, view }).await
    }

    async fn alter_table(
        &mut self,
        a: ast::AlterTable,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let [ast::AlterTableOperation::RenameTable { table_name }] = a.operations.as_slice() else {
            return Err(unsupported(
                "ALTER TABLE other than RENAME TO",
                "create the table again with CREATE TABLE … AS",
            )
            .into());
        };
        let to = match table_name {
            ast::RenameTableNameKind::To(n) | ast::RenameTableNameKind::As(n) => {
                parts(n).pop().unwrap_or_default()
            }
        };
        let (product, from) = self.resolve(&a.name)?;
        self.writable(&product)?;
        let m = self.working(&product);
        let view = m.views.contains_key(&from);
        if !view && !m.tables.contains_key(&from) {
            if self.mesh.table(&product, &from).is_some() {
                return Err(UserError::denied(format!("permission denied: {product}.{from} is declared in its domain's file and cannot be renamed")).into());
            }
            if a.if_exists {
                skipped(
                    client,
                    format!("relation \"{from}\" does not exist, skipping"),
                )
                .await?;
                return complete(client, "ALTER TABLE").await;
            }
            return Err(UserError::new(
                SqlState::UndefinedTable,
                format!("relation \"{product}.{from}\" does not exist"),
            )
            .into());
        }
        self.change(&product, Op::Rename { from, to, view }).await?;
        complete(client, if view { "ALTER VIEW" } else { "ALTER TABLE" }).await
    }

    async fn comment(
        &mut self,
        object_type: CommentObject,
        object_name: &ObjectName,
        text: String,
    ) -> Result<(), Failure> {
        let mut p = parts(object_name);
        let column = match object_type {
            CommentObject::Table => None,
            CommentObject::Column => Some(
                p.pop()
                    .ok_or_else(|| UserError::syntax("COMMENT ON COLUMN needs table.column"))?,
            ),
            other => {
                return Err(unsupported(
                    &format!("COMMENT ON {other}"),
                    "comment on tables, views and columns",
                )
                .into())
            }
        };
        let refs: Vec<&str> = p.iter().map(String::as_str).collect();
        let (product, table) = self.resolve(&build::object_name(&refs))?;
        self.change(
            &product,
            Op::Comment {
                name: table,
                column,
                text,
            },
        )
        .await
    }

    /// `CREATE VIEW`: planned now for the creator (so a bad view fails here), stored as SQL with
    /// its output columns.
    async fn create_view(
        &mut self,
        v: ast::CreateView,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        if v.materialized {
            return Err(unsupported(
                "CREATE MATERIALIZED VIEW",
                "use a table (dbt: materialized='table')",
            )
            .into());
        }
        let (product, name) = self.resolve(&v.name)?;
        self.writable(&product)?;
        let mut query = Statement::Query(v.query.clone());
        // The stored definition means the same wherever it is planned: every name qualified
        // with the schema it resolves in now.
        let default_schema = self.default_schema();
        self.scope_names(&mut query)?;
        names::qualify_all(&mut query, &default_schema);
        let depends_on = names::relations(&query, &default_schema);
        if depends_on
            .iter()
            .any(|r| r.starts_with(&format!("{}.", crate::catalog::TEMP_SCHEMA)))
        {
            return Err(unsupported(
                "a view over temporary tables",
                "create a table from the temporary table first",
            )
            .into());
        }
        let plan = self.plan(&query, Allow::Read).await?;
        let schema = plan.schema();
        let renamed: Vec<String> = v.columns.iter().map(|c| folded(&c.name)).collect();
        if renamed.len() > schema.fields().len() {
            return Err(
                UserError::syntax("CREATE VIEW specifies more column names than columns").into(),
            );
        }
        let columns: Vec<ViewColumn> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| ViewColumn {
                name: renamed.get(i).cloned().unwrap_or_else(|| f.name().clone()),
                data_type: f.data_type().to_string(),
            })
            .collect();
        let sql = if renamed.is_empty() {
            query.to_string()
        } else {
            // Renamed columns: the stored query names them itself.
            let Statement::Query(q) = query else {
                unreachable!("a view's definition is a query")
            };
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            build::select(
                vec![build::wildcard()],
                vec![build::derived(*q, "v", &names)],
                None,
            )
            .to_string()
        };
        // A view that reaches itself would never finish planning.
        let me = format!("{product}.{name}");
        let mut seen = BTreeSet::new();
        let mut todo = depends_on.clone();
        while let Some(r) = todo.pop() {
            if r == me {
                return Err(UserError::new(
                    SqlState::InvalidObjectDefinition,
                    format!("infinite recursion detected in rules for relation \"{name}\""),
                )
                .into());
            }
            if !seen.insert(r.clone()) {
                continue;
            }
            if let Some((p, t)) = r.split_once('.') {
                if let Some(view) = self.working(p).views.get(t) {
                    todo.extend(view.depends_on.iter().cloned());
                }
            }
        }
        let view = CreatedView {
            sql,
            schema: columns,
            depends_on,
            description: v.comment.clone().unwrap_or_default(),
            columns: Default::default(),
        };
        if v.or_replace {
            if let Some(old) = self.working(&product).views.get(&name) {
                let keep = old.schema.len().min(view.schema.len());
                if old.schema[..keep]
                    .iter()
                    .map(|c| &c.name)
                    .ne(view.schema[..keep].iter().map(|c| &c.name))
                    || view.schema.len() < old.schema.len()
                {
                    return Err(UserError::new(
                        SqlState::InvalidTableDefinition,
                        "cannot drop or rename columns of a view with CREATE OR REPLACE VIEW",
                    )
                    .with_hint("drop the view first")
                    .into());
                }
            }
        }
        if v.if_not_exists && self.working(&product).has(&name) {
            skipped(
                client,
                format!("relation \"{name}\" already exists, skipping"),
            )
            .await?;
            return complete(client, "CREATE VIEW").await;
        }
        self.change(
            &product,
            Op::CreateView {
                name,
                view,
                replace: v.or_replace,
            },
        )
        .await?;
        complete(client, "CREATE VIEW").await
    }

    /// A new table's name and directory, checked before any data is written; None when it
    /// exists and `if_not_exists` says to skip.
    fn new_table(
        &mut self,
        name: &ObjectName,
        if_not_exists: bool,
    ) -> Result<Option<NewTable>, UserError> {
        let (product, table) = self.resolve(name)?;
        let (p, target) = self.writable(&product)?;
        if p.declared.contains(&table) || self.working(&product).has(&table) {
            if if_not_exists {
                return Ok(None);
            }
            return Err(UserError::new(
                SqlState::DuplicateTable,
                format!("relation \"{table}\" already exists"),
            ));
        }
        let mut id = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
        let dir = format!(
            "{table}-{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        Ok(Some(NewTable {
            product,
            table,
            target,
            dir,
        }))
    }

    async fn create_table_as(
        &mut self,
        mut t: ast::CreateTable,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let Some(new) = self.new_table(&t.name, t.if_not_exists)? else {
            skipped(client, "relation already exists, skipping".into()).await?;
            return complete(client, "CREATE TABLE AS").await;
        };
        let query = Statement::Query(t.query.take().expect("checked by the caller"));
        // Lineage is a record, never a reason to refuse the statement: planning reports any
        // name that does not resolve.
        let source = self.table_source(&query).ok();
        let plan = self.plan(&query, Allow::Read).await?;
        let schema = self.storable(&super::result::renamed(
            plan.schema().as_arrow(),
            &t.columns,
        )?)?;
        let rows = self.write_new_table(plan, schema, new, source).await?;
        complete(client, &format!("SELECT {rows}")).await
    }

    /// `CREATE TABLE t (columns…)`: an empty table (dbt seeds, then INSERT … VALUES).
    async fn create_empty_table(
        &mut self,
        t: ast::CreateTable,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let Some(new) = self.new_table(&t.name, t.if_not_exists)? else {
            skipped(client, "relation already exists, skipping".into()).await?;
            return complete(client, "CREATE TABLE").await;
        };
        if t.columns.is_empty() {
            return Err(unsupported("a table without columns", "name at least one column").into());
        }
        let stmt = Statement::Query(Box::new(writes::empty_table(&t.columns)));
        let plan = self.plan(&stmt, Allow::Read).await?;
        let schema = self.storable(plan.schema().as_arrow())?;
        self.write_new_table(plan, schema, new, None).await?;
        complete(client, "CREATE TABLE").await
    }

    /// The schema a new table of rows of `schema` is stored with, refused when the written
    /// format cannot store one of its columns.
    fn storable(&self, schema: &Schema) -> Result<SchemaRef, UserError> {
        let writer = self.mesh.connectors.writer();
        let schema = writer.storable_schema(schema);
        for f in schema.fields() {
            if !writer.can_store(f.data_type()) {
                return Err(UserError::unsupported(format!(
                    "column \"{}\" has type {}, which {} tables cannot store",
                    f.name(),
                    f.data_type(),
                    writer.format()
                ))
                .with_hint("cast it to text or a number"));
            }
        }
        Ok(schema)
    }

    /// Writes a new table's rows into its own directory and records it in the transaction; a
    /// failure outside a transaction block removes what was written.
    async fn write_new_table(
        &mut self,
        plan: datafusion::logical_expr::LogicalPlan,
        schema: SchemaRef,
        new: NewTable,
        source: Option<TableSource>,
    ) -> Result<u64, Failure> {
        let url = new.target.table_url(&new.dir);
        self.wrote_dir(&new.target, &new.dir);
        let name = format!("{}.{}", new.product, new.table);
        let mode = meshgate_connectors::WriteMode::Create;
        let rows = match self
            .run_write(plan, &url, &new.target, schema, mode, &name)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.forget_if_idle();
                return Err(e);
            }
        };
        self.audit_written(&new.product, &new.table);
        let created = CreatedTable {
            dir: new.dir,
            description: String::new(),
            columns: Default::default(),
            source,
        };
        self.change(
            &new.product,
            Op::CreateTable {
                name: new.table,
                table: created,
            },
        )
        .await?;
        Ok(rows)
    }

    /// A `CREATE TABLE … AS` query as lineage records it: names qualified as they resolve now,
    /// so the record says which tables were read whatever the search path was.
    fn table_source(&self, query: &Statement) -> Result<TableSource, UserError> {
        let mut query = query.clone();
        let default_schema = self.default_schema();
        self.scope_names(&mut query)?;
        names::qualify_all(&mut query, &default_schema);
        Ok(TableSource {
            reads: names::relations(&query, &default_schema),
            sql: query.to_string(),
        })
    }

    /// Qualifies a statement's names as the session resolves them now.
    fn scope_names(&self, stmt: &mut Statement) -> Result<(), UserError> {
        let catalog = self
            .ctx
            .catalog(&self.mesh.database)
            .ok_or_else(|| UserError::internal("names", &"no database catalog"))?;
        let scope = crate::sql::Scope {
            mesh: &self.mesh,
            catalog: catalog.as_ref(),
            temp: self.temp.as_ref(),
            search_path: names::search_path(
                &self.get("search_path").unwrap_or_default(),
                &self.login.user,
            ),
            default_schema: self.default_schema(),
        };
        scope.resolve(stmt)
    }
}

/// PostgreSQL's NOTICE for an IF [NOT] EXISTS that did nothing.
async fn skipped(client: &mut dyn Client, message: String) -> Result<(), Failure> {
    notice(client, false, SqlState::SuccessfulCompletion, message).await
}
