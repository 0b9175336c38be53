//! Writes into writable data products: the DDL and DML dbt-postgres sends (`dbt run`, `seed`).
//!
//! ```text
//!   statement ── target product writable? may the principal write it? ── no ──► 42501
//!      │ yes
//!      ├─ CREATE TABLE [AS] / INSERT / DELETE / TRUNCATE ── rows ──► a Delta commit (delta-rs)
//!      └─ names: CREATE TABLE, CREATE VIEW, RENAME, DROP, COMMENT ──► an Op in the session's
//!           transaction, applied to its own copy of the product's catalog (it sees its changes)
//!                          │ COMMIT (or at once outside a transaction block)
//!                          ▼
//!           Workspaces::commit replays the ops on the newest catalog, stores it in one put;
//!           every session sees the new mesh at its next statement
//! ```
//!
//! Row writes go to Delta at once, each an atomic commit. A table created in the open
//! transaction is invisible to others until COMMIT, so everything written into it is too; rows
//! inserted into or deleted from a table committed before are a Delta commit of their own, which
//! ROLLBACK does not undo (see README "dbt").

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    self, CommentObject, Ident, ObjectName, ObjectNamePart, ObjectType, Statement,
};
use futures::StreamExt;
use pgwire::api::portal::Format;
use tokio::io::{AsyncRead, AsyncWrite};

use meshgate_delta::write::{conformed, storable_schema, WriteMode};

use super::{Failure, SessionLoop, TxState};
use crate::catalog::workspace::{CreatedTable, CreatedView, Manifest, Op, ViewColumn, WriteTarget};
use crate::catalog::{ProductEntry, TableEntry};
use crate::error::{sqlstate, UserError};

/// A transaction's changes to writable products, until COMMIT or ROLLBACK.
#[derive(Default)]
pub(crate) struct WriteTx {
    /// This transaction's copies of the catalogs it changed.
    manifests: HashMap<String, Manifest>,
    /// The changes, per product, in order, to replay at COMMIT.
    ops: Vec<(String, Op)>,
    /// Table directories this transaction wrote (removed when it rolls back).
    written: Vec<(WriteTarget, String)>,
}

use super::names::folded;

fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .filter_map(ObjectNamePart::as_ident)
        .map(folded)
        .collect()
}

fn denied(product: &str) -> UserError {
    UserError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!("permission denied for schema {product}"),
    )
}

fn read_only(product: &str) -> UserError {
    UserError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!("permission denied for schema {product}: data product {product} is read-only (its domain has not made it writable)"),
    )
}

fn no_schema(product: &str) -> UserError {
    UserError::new(
        sqlstate::UNDEFINED_SCHEMA,
        format!("schema \"{product}\" does not exist"),
    )
}

/// The text PostgreSQL's parser accepts and ours does not, put in the spelling ours does: `ALTER
/// VIEW … RENAME TO` and `COMMENT ON VIEW` mean the same as their TABLE forms (PostgreSQL takes
/// the TABLE forms for views too), so they are read as those. Returns None when unchanged.
pub(crate) fn respell(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
    let lower = sql.to_ascii_lowercase();
    if !(lower.contains("comment") || (lower.contains("view") && lower.contains("rename"))) {
        return None;
    }
    // Raw tokens (no unescaping), so printing them again gives back the text as written.
    let mut tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .with_unescape(false)
        .tokenize()
        .ok()?;
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let kw = |t: &Token, k: Keyword| matches!(t, Token::Word(Word { keyword, quote_style: None, .. }) if *keyword == k);
    let mut changed = false;
    for w in 0..words.len() {
        let at = |k: usize| words.get(w + k).map(|&i| &tokens[i]);
        let view_at = match (at(0), at(1), at(2)) {
            (Some(a), Some(b), Some(c))
                if kw(a, Keyword::COMMENT) && kw(b, Keyword::ON) && kw(c, Keyword::VIEW) =>
            {
                Some(words[w + 2])
            }
            (Some(a), Some(b), _) if kw(a, Keyword::ALTER) && kw(b, Keyword::VIEW) => {
                // Only the RENAME form: ALTER VIEW … AS is the parser's own.
                let rest = words[w + 2..]
                    .iter()
                    .map(|&i| &tokens[i])
                    .take_while(|t| !matches!(t, Token::SemiColon));
                let renames = rest.clone().any(|t| kw(t, Keyword::RENAME));
                renames.then_some(words[w + 1])
            }
            _ => None,
        };
        let comment_on = matches!((at(0), at(1)), (Some(a), Some(b)) if kw(a, Keyword::COMMENT) && kw(b, Keyword::ON));
        if let Some(i) = view_at {
            tokens[i] = Token::make_keyword("TABLE");
            changed = true;
        }
        // COMMENT ON … IS $tag$…$tag$ (dbt's persist_docs quoting): as a plain string literal.
        if comment_on {
            for &i in &words[w + 2..] {
                match &tokens[i] {
                    Token::SemiColon => break,
                    Token::DollarQuotedString(d) => {
                        tokens[i] = Token::SingleQuotedString(d.value.replace('\'', "''"));
                        changed = true;
                    }
                    _ => {}
                }
            }
        }
    }
    changed.then(|| tokens.iter().map(|t| t.to_string()).collect())
}

/// The statement's kind for a refusal of something writes cannot do (yet).
fn unsupported(what: &str, hint: &str) -> UserError {
    UserError::unsupported(format!("{what} is not supported in data products"))
        .with_hint(hint.to_string())
}

/// Counts rows passing through, and keeps the client's error of the first failing batch (the
/// Delta writer wraps errors in its own, whose text is not for clients).
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

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// DDL and DML outside the session's temporary tables.
    pub(crate) async fn write_statement(&mut self, stmt: Statement) -> Result<(), Failure> {
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
                self.create_schema(&name, if_not_exists).await
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
                    self.drop_schema(&name, if_exists, cascade).await?;
                }
                self.complete("DROP SCHEMA").await
            }
            Statement::Drop {
                object_type: ot @ (ObjectType::Table | ObjectType::View),
                names,
                if_exists,
                ..
            } => {
                let view = ot == ObjectType::View;
                for n in &names {
                    self.drop_relation(n, view, if_exists).await?;
                }
                self.complete(if view { "DROP VIEW" } else { "DROP TABLE" })
                    .await
            }
            Statement::CreateTable(t) => {
                if t.query.is_some() {
                    self.create_table_as(*Box::new(t)).await
                } else {
                    self.create_empty_table(t).await
                }
            }
            Statement::CreateView(v) => self.create_view(v).await,
            Statement::AlterTable(a) => self.alter_table(a).await,
            Statement::Insert(i) => self.insert_rows(i).await,
            Statement::Delete(d) => self.delete_rows(d).await,
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    let (product, table) = self.resolve(&target.name)?;
                    let entry = self.created_table(&product, &table)?;
                    let empty: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
                        entry_schema(&entry).await?,
                        futures::stream::empty(),
                    ));
                    self.write_rows(&entry, empty, WriteMode::Overwrite).await?;
                }
                self.complete("TRUNCATE TABLE").await
            }
            Statement::Comment {
                object_type,
                object_name,
                comment,
                ..
            } => {
                let mut p = parts(&object_name);
                let column = match object_type {
                    CommentObject::Table => None,
                    CommentObject::Column => {
                        let c = p.pop().ok_or_else(|| {
                            UserError::syntax("COMMENT ON COLUMN needs table.column")
                        })?;
                        Some(c)
                    }
                    other => {
                        return Err(unsupported(
                            &format!("COMMENT ON {other}"),
                            "comment on tables, views and columns",
                        )
                        .into())
                    }
                };
                let name = ObjectName(
                    p.into_iter()
                        .map(|s| ObjectNamePart::Identifier(Ident::with_quote('"', s)))
                        .collect(),
                );
                let (product, table) = self.resolve(&name)?;
                self.change(
                    &product,
                    Op::Comment {
                        name: table,
                        column,
                        text: comment.unwrap_or_default(),
                    },
                )
                .await?;
                self.complete("COMMENT").await
            }
            Statement::Update(u) => self.update_rows(u).await,
            Statement::Merge(m) => self.merge_rows(m).await,
            other => Err(super::query::read_only_refusal(&other).into()),
        }
    }

    /// `[db.]product.table` or `table` (in the session's default schema) as (product, table).
    fn resolve(&self, name: &ObjectName) -> Result<(String, String), UserError> {
        let p = parts(name);
        match p.as_slice() {
            [t] => Ok((
                self.session
                    .ctx
                    .state()
                    .config_options()
                    .catalog
                    .default_schema
                    .clone(),
                t.clone(),
            )),
            [s, t] => Ok((s.clone(), t.clone())),
            [d, s, t] if *d == self.session.database => Ok((s.clone(), t.clone())),
            [d, _, _] => Err(UserError::unsupported(format!(
                "cross-database references are not implemented: \"{d}\""
            ))),
            _ => Err(UserError::syntax(format!("improper relation name: {name}"))),
        }
    }

    /// The product, if the principal may write into it.
    fn writable(&self, product: &str) -> Result<(Arc<ProductEntry>, WriteTarget), UserError> {
        let mesh = self
            .session
            .mesh()
            .ok_or_else(|| UserError::internal("write", &"no mesh"))?;
        let Some(p) = mesh.products.get(product).cloned() else {
            // public, pg_catalog, information_schema, mesh, pg_temp: there, and not writable.
            let exists = self
                .session
                .ctx
                .catalog(&self.session.database)
                .is_some_and(|c| c.schema(product).is_some());
            return Err(if exists {
                denied(product)
            } else {
                no_schema(product)
            });
        };
        let target = p.write.clone().ok_or_else(|| read_only(product))?;
        if !self.session.access.principal.may_write(product) {
            return Err(denied(product));
        }
        Ok((p, target))
    }

    /// The catalog of `product` as this transaction sees it.
    fn working(&mut self, product: &str) -> Manifest {
        if let Some(m) = self
            .write_tx
            .as_ref()
            .and_then(|t| t.manifests.get(product))
        {
            return m.clone();
        }
        self.shared
            .workspaces
            .snapshot()
            .get(product)
            .map(|m| (**m).clone())
            .unwrap_or_default()
    }

    /// Records one change; commits at once outside a transaction block.
    async fn change(&mut self, product: &str, op: Op) -> Result<(), Failure> {
        let (p, _) = self.writable(product)?;
        let mut m = self.working(product);
        let freed = m.apply(&op, &p.declared)?;
        let _ = freed; // freed at commit, when no earlier state can still need them
        let tx = self.write_tx.get_or_insert_with(WriteTx::default);
        tx.manifests.insert(product.to_string(), m);
        tx.ops.push((product.to_string(), op));
        if self.tx == TxState::Idle {
            self.commit_writes().await?;
        } else {
            self.install_write_view()?;
        }
        Ok(())
    }

    /// Builds this session's own mesh: the committed catalogs with this transaction's copies.
    pub(crate) fn install_write_view(&mut self) -> Result<(), UserError> {
        let Some(tx) = self.write_tx.as_ref() else {
            return Ok(());
        };
        let mut view = self.shared.workspaces.snapshot();
        for (p, m) in &tx.manifests {
            view.insert(p.clone(), Arc::new(m.clone()));
        }
        let mesh = self
            .shared
            .mesh_with(&self.shared.config(), &view)
            .map_err(|e| UserError::internal("transaction catalog", &e))?;
        let principal = (*self.session.access.principal).clone();
        self.install_catalog(mesh, principal);
        Ok(())
    }

    /// COMMIT of a transaction with writes: its catalog changes become visible, all at once.
    pub(crate) async fn commit_writes(&mut self) -> Result<(), UserError> {
        let Some(tx) = self.write_tx.take() else {
            return Ok(());
        };
        let mesh = self.shared.mesh();
        let mut changes: Vec<(String, WriteTarget, BTreeSet<String>, Vec<Op>)> = Vec::new();
        for (product, op) in tx.ops {
            if let Some(c) = changes.iter_mut().find(|c| c.0 == product) {
                c.3.push(op);
                continue;
            }
            let Some(p) = mesh.products.get(&product) else {
                continue;
            };
            let Some(target) = p.write.clone() else {
                continue;
            };
            changes.push((product, target, p.declared.clone(), vec![op]));
        }
        let result = self.shared.workspaces.commit(&changes).await;
        let freed = match result {
            Ok(f) => f,
            Err(e) => {
                self.discard_dirs(tx.written, std::time::Duration::ZERO);
                self.reinstall_shared();
                return Err(e);
            }
        };
        // Directories this transaction wrote but no longer names (created, then dropped).
        let named: Vec<String> = self
            .shared
            .workspaces
            .snapshot()
            .values()
            .flat_map(|m| m.tables.values().map(|t| t.dir.clone()))
            .collect();
        let unnamed: Vec<(WriteTarget, String)> = tx
            .written
            .into_iter()
            .filter(|(_, d)| !named.contains(d))
            .collect();
        self.discard_dirs(unnamed, std::time::Duration::ZERO);
        // A statement planned over the catalog before this commit may still be scanning a
        // dropped table: its files go once such a statement would have refreshed.
        let grace =
            std::time::Duration::from_secs(self.shared.config().server.metadata_refresh_secs);
        self.discard_dirs(freed, grace);
        if let Err(e) = self.shared.rebuild_mesh() {
            tracing::error!("mesh not rebuilt after a commit: {e}");
        }
        self.reinstall_shared();
        Ok(())
    }

    /// ROLLBACK (or a failed transaction's end): nothing it created stays.
    pub(crate) fn rollback_writes(&mut self) {
        if let Some(tx) = self.write_tx.take() {
            self.discard_dirs(tx.written, std::time::Duration::ZERO);
            self.reinstall_shared();
        }
    }

    /// At the session's end: an open transaction's tables are never committed.
    pub(crate) fn discard_open_writes(&mut self) {
        if let Some(tx) = self.write_tx.take() {
            tracing::info!(
                dirs = tx.written.len(),
                "session ended inside a transaction with writes: discarding them"
            );
            self.discard_dirs(tx.written, std::time::Duration::ZERO);
        }
    }

    fn reinstall_shared(&mut self) {
        self.sync_generation();
        let principal = (*self.session.access.principal).clone();
        self.install_catalog(self.shared.mesh(), principal);
    }

    fn discard_dirs(&self, dirs: Vec<(WriteTarget, String)>, after: std::time::Duration) {
        if dirs.is_empty() {
            return;
        }
        self.shared.executor.spawn_background(async move {
            if !after.is_zero() {
                tokio::time::sleep(after).await;
            }
            for (t, d) in dirs {
                t.remove_dir(&d).await;
            }
        });
    }

    async fn create_schema(&mut self, name: &str, if_not_exists: bool) -> Result<(), Failure> {
        let mesh = self
            .session
            .mesh()
            .ok_or_else(|| UserError::internal("write", &"no mesh"))?;
        if let Some(p) = mesh.products.get(name) {
            if p.write.is_some() && self.session.access.principal.may_write(name) {
                // The product exists already: its domain declared it.
                return self.complete("CREATE SCHEMA").await;
            }
            if if_not_exists
                && (self.session.access.principal.may_write(name)
                    || p.tables
                        .keys()
                        .any(|t| self.session.access.principal.may_read(name, t)))
            {
                self.notice_skip(&format!("schema \"{name}\" already exists, skipping"))
                    .await?;
                return self.complete("CREATE SCHEMA").await;
            }
            return Err(denied(name).into());
        }
        let writable: Vec<String> = mesh
            .products
            .values()
            .filter(|p| p.write.is_some() && self.session.access.principal.may_write(&p.name))
            .map(|p| p.name.clone())
            .collect();
        let hint = if writable.is_empty() {
            "you may write into no data product; a domain grants `write` on a writable product in its file".to_string()
        } else {
            format!(
                "data products are declared by their domains; you may write into: {}",
                writable.join(", ")
            )
        };
        Err(UserError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to create schema \"{name}\""),
        )
        .with_hint(hint)
        .into())
    }

    async fn notice_skip(&mut self, message: &str) -> Result<(), Failure> {
        let n = pgwire::messages::response::NoticeResponse::new(vec![
            (b'S', "NOTICE".into()),
            (b'V', "NOTICE".into()),
            (b'C', "00000".into()),
            (b'M', message.into()),
        ]);
        futures::SinkExt::feed(
            &mut self.conn,
            pgwire::messages::PgWireBackendMessage::NoticeResponse(n),
        )
        .await?;
        Ok(())
    }

    async fn drop_schema(
        &mut self,
        name: &str,
        if_exists: bool,
        cascade: bool,
    ) -> Result<(), Failure> {
        let mesh = self
            .session
            .mesh()
            .ok_or_else(|| UserError::internal("write", &"no mesh"))?;
        if !mesh.products.contains_key(name) {
            if if_exists {
                return self
                    .notice_skip(&format!("schema \"{name}\" does not exist, skipping"))
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
                "2BP01",
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
    ) -> Result<(), Failure> {
        let (product, table) = self.resolve(name)?;
        let mesh = self
            .session
            .mesh()
            .ok_or_else(|| UserError::internal("write", &"no mesh"))?;
        let known = mesh
            .products
            .get(&product)
            .and_then(|p| p.tables.get(&table))
            .cloned();
        let Some(entry) = known.filter(|_| {
            self.session.access.principal.may_read(&product, &table)
                || self.session.access.principal.may_write(&product)
        }) else {
            if if_exists {
                let kind = if view { "view" } else { "table" };
                return self
                    .notice_skip(&format!("{kind} \"{table}\" does not exist, skipping"))
                    .await;
            }
            return Err(UserError::new(
                sqlstate::UNDEFINED_TABLE,
                format!(
                    "{} \"{table}\" does not exist",
                    if view { "view" } else { "table" }
                ),
            )
            .into());
        };
        self.writable(&product)?;
        if entry.view.is_none() && entry.created.is_none() {
            return Err(UserError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied: {product}.{table} is declared in its domain's file and cannot be dropped"),
            )
            .into());
        }
        if entry.view.is_some() != view {
            let (is, want) = if view {
                ("table", "VIEW")
            } else {
                ("view", "TABLE")
            };
            return Err(UserError::new(
                "42809",
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

    async fn alter_table(&mut self, a: ast::AlterTable) -> Result<(), Failure> {
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
            let mesh = self
                .session
                .mesh()
                .ok_or_else(|| UserError::internal("write", &"no mesh"))?;
            if mesh.table(&product, &from).is_some() {
                return Err(UserError::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied: {product}.{from} is declared in its domain's file and cannot be renamed"),
                )
                .into());
            }
            if a.if_exists {
                self.notice_skip(&format!("relation \"{from}\" does not exist, skipping"))
                    .await?;
                return self.complete("ALTER TABLE").await;
            }
            return Err(UserError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{product}.{from}\" does not exist"),
            )
            .into());
        }
        self.change(&product, Op::Rename { from, to, view }).await?;
        self.complete(if view { "ALTER VIEW" } else { "ALTER TABLE" })
            .await
    }

    /// `CREATE VIEW`: planned now for the creator (so a bad view fails here), stored as SQL with
    /// its output columns.
    async fn create_view(&mut self, v: ast::CreateView) -> Result<(), Failure> {
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
        let default_schema = self
            .session
            .ctx
            .state()
            .config_options()
            .catalog
            .default_schema
            .clone();
        super::temp::qualify_temp_names(&mut query, self.session.temp.as_ref());
        self.qualify_search_path(&mut query);
        qualify(&mut query, &default_schema);
        let depends_on = crate::catalog::views::relations(&query, &default_schema);
        if depends_on
            .iter()
            .any(|r| r.starts_with(&format!("{}.", crate::session::TEMP_SCHEMA)))
        {
            return Err(unsupported(
                "a view over temporary tables",
                "create a table from the temporary table first",
            )
            .into());
        }
        let plan = self.plan(&query).await?;
        let schema = plan.schema();
        let names: Vec<String> = v.columns.iter().map(|c| folded(&c.name)).collect();
        if names.len() > schema.fields().len() {
            return Err(
                UserError::syntax("CREATE VIEW specifies more column names than columns").into(),
            );
        }
        let mut columns = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            columns.push(ViewColumn {
                name: names.get(i).cloned().unwrap_or_else(|| f.name().clone()),
                data_type: f.data_type().to_string(),
            });
        }
        let mut sql = query.to_string();
        if !names.is_empty() {
            // Renamed columns: the stored query names them itself.
            let list = columns
                .iter()
                .map(|c| format!("\"{}\"", c.name.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(", ");
            sql = format!("SELECT * FROM ({sql}) AS v({list})");
        }
        // A view that reaches itself would never finish planning.
        let me = format!("{product}.{name}");
        let mut seen = BTreeSet::new();
        let mut todo = depends_on.clone();
        while let Some(r) = todo.pop() {
            if r == me {
                return Err(UserError::new(
                    "42P17",
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
                        "42P16",
                        "cannot drop or rename columns of a view with CREATE OR REPLACE VIEW",
                    )
                    .with_hint("drop the view first")
                    .into());
                }
            }
        }
        if v.if_not_exists && self.working(&product).has(&name) {
            self.notice_skip(&format!("relation \"{name}\" already exists, skipping"))
                .await?;
            return self.complete("CREATE VIEW").await;
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
        self.complete("CREATE VIEW").await
    }

    /// A new table's name and directory, checked before any data is written.
    fn new_table(
        &mut self,
        name: &ObjectName,
        if_not_exists: bool,
    ) -> Result<Option<(String, String, WriteTarget, String)>, UserError> {
        let (product, table) = self.resolve(name)?;
        let (p, target) = self.writable(&product)?;
        if p.declared.contains(&table) || self.working(&product).has(&table) {
            if if_not_exists {
                return Ok(None);
            }
            return Err(UserError::new(
                sqlstate::DUPLICATE_TABLE,
                format!("relation \"{table}\" already exists"),
            ));
        }
        let mut id = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
        let dir = format!(
            "{table}-{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        Ok(Some((product, table, target, dir)))
    }

    async fn create_table_as(&mut self, mut t: ast::CreateTable) -> Result<(), Failure> {
        let Some((product, table, target, dir)) = self.new_table(&t.name, t.if_not_exists)? else {
            self.notice_skip("relation already exists, skipping")
                .await?;
            return self.complete("CREATE TABLE AS").await;
        };
        let query = t.query.take().expect("checked by the caller");
        let plan = self.plan(&Statement::Query(query)).await?;
        let names: Vec<String> = t.columns.iter().map(|c| folded(&c.name)).collect();
        if names.len() > plan.schema().fields().len() {
            return Err(
                UserError::syntax("CREATE TABLE AS specifies too many column names").into(),
            );
        }
        let fields: Vec<Field> = plan
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Field::new(
                    names.get(i).cloned().unwrap_or_else(|| f.name().clone()),
                    f.data_type().clone(),
                    true,
                )
            })
            .collect();
        let schema = storable_schema(&Schema::new(fields));
        check_storable(&schema)?;
        let rows = self
            .write_new_table(plan, schema, &product, &table, &target, dir)
            .await?;
        self.complete(&format!("SELECT {rows}")).await
    }

    /// Writes a new table's rows into its own directory and records it in the transaction; a
    /// failure outside a transaction block removes what was written.
    async fn write_new_table(
        &mut self,
        plan: datafusion::logical_expr::LogicalPlan,
        schema: SchemaRef,
        product: &str,
        table: &str,
        target: &WriteTarget,
        dir: String,
    ) -> Result<u64, Failure> {
        let url = target.table_url(&dir);
        self.write_tx
            .get_or_insert_with(WriteTx::default)
            .written
            .push((target.clone(), dir.clone()));
        let rows = match self
            .run_write(
                plan,
                &url,
                target,
                schema,
                WriteMode::Create,
                &format!("{product}.{table}"),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.forget_if_idle();
                return Err(e);
            }
        };
        self.note_written(product, table);
        let created = CreatedTable {
            dir,
            description: String::new(),
            columns: Default::default(),
        };
        self.change(
            product,
            Op::CreateTable {
                name: table.to_string(),
                table: created,
            },
        )
        .await?;
        Ok(rows)
    }

    /// A failed write outside a transaction block leaves nothing to commit: drop what it wrote.
    fn forget_if_idle(&mut self) {
        if self.tx == TxState::Idle {
            self.rollback_writes();
        }
    }

    fn note_written(&mut self, product: &str, table: &str) {
        if let Some(r) = self.stmt.as_mut() {
            r.add_written(format!("{product}.{table}"));
        }
    }

    /// `CREATE TABLE t (columns…)`: an empty Delta table (dbt seeds, then INSERT … VALUES).
    async fn create_empty_table(&mut self, t: ast::CreateTable) -> Result<(), Failure> {
        let Some((product, table, target, dir)) = self.new_table(&t.name, t.if_not_exists)? else {
            self.notice_skip("relation already exists, skipping")
                .await?;
            return self.complete("CREATE TABLE").await;
        };
        if t.columns.is_empty() {
            return Err(unsupported("a table without columns", "name at least one column").into());
        }
        // DataFusion's planner knows PostgreSQL's type names: plan an empty SELECT of them.
        let select = t
            .columns
            .iter()
            .map(|c| {
                format!(
                    "CAST(NULL AS {}) AS \"{}\"",
                    c.data_type,
                    folded(&c.name).replace('"', "\"\"")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let stmt = super::query::parse(&format!("SELECT {select} WHERE false"))?.remove(0);
        let plan = self.plan(&stmt).await?;
        let schema = storable_schema(plan.schema().as_arrow());
        check_storable(&schema)?;
        self.write_new_table(plan, schema, &product, &table, &target, dir)
            .await?;
        self.complete("CREATE TABLE").await
    }

    /// A table created through meshgate, as this transaction sees it.
    fn created_table(&self, product: &str, table: &str) -> Result<Arc<TableEntry>, UserError> {
        let (p, _) = self.writable(product)?;
        let entry = p.tables.get(table).cloned().ok_or_else(|| {
            UserError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{product}.{table}\" does not exist"),
            )
        })?;
        if entry.view.is_some() {
            return Err(UserError::new(
                "42809",
                format!("cannot change rows of view \"{table}\""),
            ));
        }
        if entry.created.is_none() {
            return Err(UserError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied: {product}.{table} is declared in its domain's file; its rows are written by the domain"),
            ));
        }
        Ok(entry)
    }

    /// Runs `plan` and writes its rows to the Delta table at `url`, on the engine's runtime, under
    /// the statement's cancel and timeout. Returns the rows written.
    async fn run_write(
        &mut self,
        plan: datafusion::logical_expr::LogicalPlan,
        url: &url::Url,
        target: &WriteTarget,
        schema: SchemaRef,
        mode: WriteMode,
        name: &str,
    ) -> Result<u64, Failure> {
        let src = self.start(plan, &Format::UnifiedText).await?;
        let redact = src.redact;
        let input: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            src.stream.schema(),
            src.stream,
        ));
        let input = conformed(input, schema.clone());
        let rows = Arc::new(AtomicU64::new(0));
        let failure = Arc::new(Mutex::new(None));
        let input = observed(input, rows.clone(), failure.clone());
        let url = url.clone();
        let storage = target.storage.clone();
        let name_owned = name.to_string();
        let file_bytes = self.shared.config().server.write_file_mb.max(1) * 1024 * 1024;
        let job = self.shared.executor.spawn(async move {
            meshgate_delta::write::write(
                &url,
                &storage,
                schema,
                input,
                mode,
                &name_owned,
                file_bytes,
            )
            .await
        });
        let result = self.guarded(job).await?;
        match result {
            Ok(_version) => Ok(rows.load(Ordering::Relaxed)),
            Err(e) => {
                let input_error = failure
                    .lock()
                    .expect("lock is never poisoned: no panics while held")
                    .take();
                if let Some(u) = input_error {
                    if redact
                        && !matches!(u.code, sqlstate::QUERY_CANCELED | sqlstate::OUT_OF_MEMORY)
                    {
                        return Err(UserError::new(u.code, "error while writing rows read under a row filter; the server log has details").into());
                    }
                    return Err(u.into());
                }
                Err(UserError::internal(&format!("writing {name}"), &e).into())
            }
        }
    }

    /// Writes an already running stream of rows (TRUNCATE's empty one) to a created table.
    async fn write_rows(
        &mut self,
        entry: &TableEntry,
        input: SendableRecordBatchStream,
        mode: WriteMode,
    ) -> Result<(), Failure> {
        let target = self.writable(&entry.product)?.1;
        let schema = input.schema();
        let url = entry.spec.location.clone();
        let storage = target.storage.clone();
        let name = format!("{}.{}", entry.product, entry.name);
        let file_bytes = self.shared.config().server.write_file_mb.max(1) * 1024 * 1024;
        let job = self.shared.executor.spawn(async move {
            meshgate_delta::write::write(&url, &storage, schema, input, mode, &name, file_bytes)
                .await
        });
        self.guarded(job)
            .await?
            .map_err(|e| UserError::internal("writing rows", &e))?;
        self.note_written(&entry.product, &entry.name);
        entry.invalidate().await;
        Ok(())
    }

    /// `INSERT INTO t [(columns)] query`: appended to the Delta table in one commit.
    async fn insert_rows(&mut self, i: ast::Insert) -> Result<(), Failure> {
        let ast::TableObject::TableName(name) = &i.table else {
            return Err(unsupported("INSERT INTO a table function", "insert into a table").into());
        };
        let (product, table) = self.resolve(name)?;
        let entry = self.created_table(&product, &table)?;
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
        let target_schema = entry_schema(&entry).await?;
        let plan = self.plan(&Statement::Query(source)).await?;
        let given: Vec<String> = i.columns.iter().map(folded).collect();
        for c in &given {
            if target_schema.field_with_name(c).is_err() {
                return Err(UserError::new(
                    sqlstate::UNDEFINED_COLUMN,
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
        if plan.schema().fields().len() > width {
            return Err(
                UserError::syntax("INSERT has more expressions than target columns").into(),
            );
        }
        // The source's columns in the target's order: by the listed names, else by position;
        // columns the INSERT does not give are NULL.
        let source_names: Vec<String> = plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut exprs = Vec::new();
        for (pos, f) in target_schema.fields().iter().enumerate() {
            let from = if given.is_empty() {
                Some(pos)
            } else {
                given.iter().position(|c| c == f.name())
            };
            let e = match from.and_then(|k| source_names.get(k).map(|_| k)) {
                Some(k) => datafusion::logical_expr::cast(
                    datafusion::logical_expr::Expr::Column(datafusion::common::Column::from(
                        plan.schema().qualified_field(k),
                    )),
                    f.data_type().clone(),
                ),
                None => datafusion::logical_expr::cast(
                    datafusion::logical_expr::lit(datafusion::common::ScalarValue::Null),
                    f.data_type().clone(),
                ),
            };
            exprs.push(e.alias(f.name()));
        }
        let plan = datafusion::logical_expr::LogicalPlanBuilder::from(plan)
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
        self.note_written(&product, &table);
        entry.invalidate().await;
        self.complete(&format!("INSERT 0 {rows}")).await
    }

    /// `DELETE FROM t [USING …] [WHERE p]`: the rows where `p` is not true are written back in one
    /// overwrite commit (a copy-on-write delete).
    async fn delete_rows(&mut self, d: ast::Delete) -> Result<(), Failure> {
        let from = match &d.from {
            ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t.clone(),
        };
        let [twj] = from.as_slice() else {
            return Err(unsupported("DELETE from several tables", "delete from one table").into());
        };
        let ast::TableFactor::Table { name, alias, .. } = &twj.relation else {
            return Err(
                unsupported("DELETE from this kind of relation", "delete from a table").into(),
            );
        };
        if d.returning.is_some() || d.limit.is_some() || !d.order_by.is_empty() {
            return Err(unsupported(
                "DELETE … RETURNING / ORDER BY / LIMIT",
                "delete with a WHERE clause",
            )
            .into());
        }
        let (product, table) = self.resolve(name)?;
        let entry = self.created_table(&product, &table)?;
        let _ = alias;
        // The relation as written, alias included: the predicate may name it either way.
        let relation = twj.relation.to_string();
        let predicate = match (&d.using, &d.selection) {
            (Some(using), sel) => {
                let list = using
                    .iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let w = sel
                    .as_ref()
                    .map(|s| format!(" WHERE {s}"))
                    .unwrap_or_default();
                Some(format!("EXISTS (SELECT 1 FROM {list}{w})"))
            }
            (None, Some(sel)) => Some(sel.to_string()),
            (None, None) => None,
        };
        let schema = entry_schema(&entry).await?;
        let (deleted, plan) = match &predicate {
            None => (None, None),
            Some(p) => {
                let count = super::query::parse(&format!(
                    "SELECT count(*) FROM {relation} WHERE coalesce(({p}), false)"
                ))?
                .remove(0);
                let keep = super::query::parse(&format!(
                    "SELECT * FROM {relation} WHERE NOT coalesce(({p}), false)"
                ))?
                .remove(0);
                (Some(count), Some(self.plan(&keep).await?))
            }
        };
        let removed = match deleted {
            Some(count) => self.count(&count).await?,
            None => 0,
        };
        let target = self.writable(&product)?.1;
        match plan {
            Some(plan) => {
                if removed > 0 {
                    self.run_write(
                        plan,
                        &entry.spec.location.clone(),
                        &target,
                        schema,
                        WriteMode::Overwrite,
                        &format!("{product}.{table}"),
                    )
                    .await?;
                }
            }
            None => {
                let before = self
                    .count(
                        &super::query::parse(&format!("SELECT count(*) FROM {relation}"))?
                            .remove(0),
                    )
                    .await?;
                let empty: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::empty(),
                ));
                self.write_rows(&entry, empty, WriteMode::Overwrite).await?;
                self.note_written(&product, &table);
                entry.invalidate().await;
                return self.complete(&format!("DELETE {before}")).await;
            }
        }
        self.note_written(&product, &table);
        entry.invalidate().await;
        self.complete(&format!("DELETE {removed}")).await
    }

    /// Plans each SELECT (its columns in the target's order), casts them to the target's types
    /// and stacks them: the rows a copy-on-write rewrite of the table leaves.
    async fn stacked(
        &mut self,
        selects: &[String],
        target: &SchemaRef,
    ) -> Result<datafusion::logical_expr::LogicalPlan, Failure> {
        let mut out: Option<datafusion::logical_expr::LogicalPlanBuilder> = None;
        for sql in selects {
            let stmt = super::query::parse(sql)?.remove(0);
            let plan = self.plan(&stmt).await?;
            let exprs: Vec<datafusion::logical_expr::Expr> = target
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    datafusion::logical_expr::cast(
                        datafusion::logical_expr::Expr::Column(datafusion::common::Column::from(
                            plan.schema().qualified_field(i),
                        )),
                        f.data_type().clone(),
                    )
                    .alias(f.name())
                })
                .collect();
            let b = datafusion::logical_expr::LogicalPlanBuilder::from(plan)
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

    /// Overwrites a created table with the rows of `selects`, in one Delta commit.
    async fn rewrite_table(
        &mut self,
        entry: &Arc<TableEntry>,
        selects: &[String],
    ) -> Result<(), Failure> {
        let schema = entry_schema(entry).await?;
        let plan = self.stacked(selects, &schema).await?;
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
        self.note_written(&entry.product, &entry.name);
        entry.invalidate().await;
        Ok(())
    }

    /// `UPDATE t [AS a] SET c = e, … [FROM s] [WHERE p]`, as a copy-on-write rewrite: rows that
    /// match are written back with the new values, the others as they were. (With FROM, a row
    /// matching several source rows is written once for each, where PostgreSQL would pick one.)
    async fn update_rows(&mut self, u: ast::Update) -> Result<(), Failure> {
        if u.returning.is_some() || u.limit.is_some() || !u.table.joins.is_empty() {
            return Err(unsupported(
                "UPDATE … RETURNING / LIMIT / JOIN",
                "update with SET, FROM and WHERE",
            )
            .into());
        }
        let ast::TableFactor::Table { name, alias, .. } = &u.table.relation else {
            return Err(unsupported("UPDATE of this kind of relation", "update a table").into());
        };
        let (product, table) = self.resolve(name)?;
        let entry = self.created_table(&product, &table)?;
        let schema = entry_schema(&entry).await?;
        let relation = u.table.relation.to_string();
        let q = alias
            .as_ref()
            .map(|a| a.name.to_string())
            .unwrap_or_else(|| name.to_string());
        let set = assignments(&u.assignments, &schema, &table)?;
        let pred = u
            .selection
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "true".into());
        let from = match &u.from {
            Some(ast::UpdateTableFromKind::AfterSet(f))
            | Some(ast::UpdateTableFromKind::BeforeSet(f)) => Some(
                f.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            None => None,
        };
        let col = |f: &Field| format!("{q}.\"{}\"", f.name().replace('"', "\"\""));
        let (selects, count) = match &from {
            None => {
                let cols: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| match set.get(f.name()) {
                        Some(e) => format!(
                            "CASE WHEN coalesce(({pred}), false) THEN ({e}) ELSE {} END",
                            col(f)
                        ),
                        None => col(f),
                    })
                    .collect();
                (
                    vec![format!("SELECT {} FROM {relation}", cols.join(", "))],
                    format!("SELECT count(*) FROM {relation} WHERE coalesce(({pred}), false)"),
                )
            }
            Some(from) => {
                let kept: Vec<String> = schema.fields().iter().map(|f| col(f)).collect();
                let changed: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        set.get(f.name())
                            .map(|e| format!("({e})"))
                            .unwrap_or_else(|| col(f))
                    })
                    .collect();
                (
                    vec![
                        format!("SELECT {} FROM {relation} WHERE NOT EXISTS (SELECT 1 FROM {from} WHERE coalesce(({pred}), false))", kept.join(", ")),
                        format!("SELECT {} FROM {relation}, {from} WHERE coalesce(({pred}), false)", changed.join(", ")),
                    ],
                    format!("SELECT count(*) FROM {relation}, {from} WHERE coalesce(({pred}), false)"),
                )
            }
        };
        let n = self.count(&super::query::parse(&count)?.remove(0)).await?;
        if n > 0 {
            self.rewrite_table(&entry, &selects).await?;
        }
        self.complete(&format!("UPDATE {n}")).await
    }

    /// `MERGE INTO t USING s ON c` with at most one WHEN MATCHED (UPDATE or DELETE) and one WHEN
    /// NOT MATCHED … INSERT clause (what dbt's `merge` strategy sends), as a copy-on-write
    /// rewrite in one Delta commit.
    async fn merge_rows(&mut self, m: ast::Merge) -> Result<(), Failure> {
        let ast::TableFactor::Table { name, alias, .. } = &m.table else {
            return Err(
                unsupported("MERGE into this kind of relation", "merge into a table").into(),
            );
        };
        let (product, table) = self.resolve(name)?;
        let entry = self.created_table(&product, &table)?;
        let schema = entry_schema(&entry).await?;
        let target = m.table.to_string();
        let source = m.source.to_string();
        let q = alias
            .as_ref()
            .map(|a| a.name.to_string())
            .unwrap_or_else(|| name.to_string());
        let on = m.on.to_string();
        let col = |f: &Field| format!("{q}.\"{}\"", f.name().replace('"', "\"\""));
        let mut matched: Option<(Option<String>, &ast::MergeAction)> = None;
        let mut not_matched: Option<(Option<String>, &ast::MergeInsertExpr)> = None;
        for c in &m.clauses {
            let pred = c.predicate.as_ref().map(|p| p.to_string());
            match (&c.clause_kind, &c.action) {
                (ast::MergeClauseKind::Matched, a @ (ast::MergeAction::Update(_) | ast::MergeAction::Delete { .. })) if matched.is_none() => {
                    matched = Some((pred, a))
                }
                (ast::MergeClauseKind::NotMatched | ast::MergeClauseKind::NotMatchedByTarget, ast::MergeAction::Insert(i)) if not_matched.is_none() => {
                    not_matched = Some((pred, i))
                }
                _ => {
                    return Err(unsupported(
                        "this MERGE form",
                        "use one WHEN MATCHED THEN UPDATE/DELETE and one WHEN NOT MATCHED THEN INSERT clause",
                    )
                    .into())
                }
            }
        }
        let all: Vec<String> = schema.fields().iter().map(|f| col(f)).collect();
        let mut selects = Vec::new();
        let mut counts = Vec::new();
        match &matched {
            None => selects.push(format!("SELECT {} FROM {target}", all.join(", "))),
            Some((pred, action)) => {
                let when = pred.clone().unwrap_or_else(|| "true".into());
                selects.push(format!(
                    "SELECT {} FROM {target} WHERE NOT EXISTS (SELECT 1 FROM {source} WHERE {on})",
                    all.join(", ")
                ));
                counts.push(format!("SELECT count(*) FROM {target} JOIN {source} ON {on} WHERE coalesce(({when}), false)"));
                match action {
                    ast::MergeAction::Update(u) => {
                        let set = assignments(&u.assignments, &schema, &table)?;
                        let cols: Vec<String> = schema
                            .fields()
                            .iter()
                            .map(|f| match set.get(f.name()) {
                                Some(e) => format!("CASE WHEN coalesce(({when}), false) THEN ({e}) ELSE {} END", col(f)),
                                None => col(f),
                            })
                            .collect();
                        selects.push(format!("SELECT {} FROM {target} JOIN {source} ON {on}", cols.join(", ")));
                    }
                    _ => selects.push(format!("SELECT {} FROM {target} JOIN {source} ON {on} WHERE NOT coalesce(({when}), false)", all.join(", "))),
                }
            }
        }
        if let Some((pred, insert)) = &not_matched {
            let ast::MergeInsertKind::Values(values) = &insert.kind else {
                return Err(unsupported("MERGE … INSERT ROW", "list the inserted values").into());
            };
            let [row] = values.rows.as_slice() else {
                return Err(unsupported(
                    "MERGE … INSERT of several rows",
                    "insert one row per source row",
                )
                .into());
            };
            let names: Vec<String> = if insert.columns.is_empty() {
                schema.fields().iter().map(|f| f.name().clone()).collect()
            } else {
                insert
                    .columns
                    .iter()
                    .map(|c| parts(c).pop().unwrap_or_default())
                    .collect()
            };
            let cols: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| {
                    names
                        .iter()
                        .position(|n| n == f.name())
                        .and_then(|i| row.get(i))
                        .map(|e| format!("({e})"))
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect();
            let when = pred
                .clone()
                .map(|p| format!(" AND coalesce(({p}), false)"))
                .unwrap_or_default();
            let inserted = format!("SELECT {} FROM {source} WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {on}){when}", cols.join(", "));
            counts.push(format!("SELECT count(*) FROM ({inserted}) AS inserted"));
            selects.push(inserted);
        }
        let mut n = 0;
        for c in &counts {
            n += self.count(&super::query::parse(c)?.remove(0)).await?;
        }
        if n > 0 {
            self.rewrite_table(&entry, &selects).await?;
        }
        self.complete(&format!("MERGE {n}")).await
    }

    /// The value of a `SELECT count(*) …`.
    async fn count(&mut self, stmt: &Statement) -> Result<u64, Failure> {
        use datafusion::arrow::array::{Array, Int64Array};
        let plan = self.plan(stmt).await?;
        let mut src = self.start(plan, &Format::UnifiedText).await?;
        let mut n = 0u64;
        while let Some(b) = src.stream.next().await {
            let b = b.map_err(|e| src.error(&e))?;
            if let Some(c) = b
                .columns()
                .first()
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            {
                if !c.is_empty() && c.is_valid(0) {
                    n = c.value(0) as u64;
                }
            }
        }
        Ok(n)
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
        let token = self.slot.arm();
        let deadline = self.session.statement_timeout();
        let result = tokio::select! {
            biased;
            _ = token.cancelled() => Err(UserError::cancelled().into()),
            _ = super::encode::sleep_for(deadline) => Err(UserError::statement_timeout().into()),
            r = &mut job.0 => r.map_err(|e| UserError::internal("write task", &e).into()),
        };
        self.slot.end();
        result
    }
}

/// The Arrow schema of a created table (opening it when needed).
async fn entry_schema(entry: &TableEntry) -> Result<SchemaRef, UserError> {
    let opened = entry.open().await?;
    Ok(storable_schema(opened.provider.schema().as_ref()))
}

fn check_storable(schema: &Schema) -> Result<(), UserError> {
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            DataType::Interval(_)
                | DataType::Duration(_)
                | DataType::Time32(_)
                | DataType::Time64(_)
        ) {
            return Err(UserError::unsupported(format!(
                "column \"{}\" has type {}, which Delta tables cannot store",
                f.name(),
                f.data_type()
            ))
            .with_hint("cast it to text or a number"));
        }
    }
    Ok(())
}

/// `SET c = e, …` of an UPDATE or a MERGE's UPDATE: column → expression text, each column one
/// of the table's.
fn assignments(
    list: &[ast::Assignment],
    schema: &Schema,
    table: &str,
) -> Result<std::collections::HashMap<String, String>, UserError> {
    let mut set = std::collections::HashMap::new();
    for a in list {
        let ast::AssignmentTarget::ColumnName(c) = &a.target else {
            return Err(unsupported(
                "UPDATE of a column tuple",
                "assign columns one by one",
            ));
        };
        let c = parts(c).pop().unwrap_or_default();
        if schema.field_with_name(&c).is_err() {
            return Err(UserError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!("column \"{c}\" of relation \"{table}\" does not exist"),
            ));
        }
        set.insert(c, a.value.to_string());
    }
    Ok(set)
}

/// Qualifies the unqualified relation names of a view's query with the schema they resolve in
/// now, so the stored definition means the same wherever it is planned. CTE names stay as they
/// are.
fn qualify(stmt: &mut Statement, default_schema: &str) {
    super::names::qualify_unqualified(stmt, |_| Some(default_schema.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_and_comment_forms_are_respelled() {
        assert_eq!(
            respell("alter view \"a\".\"b\" rename to c").as_deref(),
            Some("alter TABLE \"a\".\"b\" rename to c")
        );
        assert_eq!(
            respell("select 'view''s'; comment on view x.y is $$it's a view$$").as_deref(),
            Some("select 'view''s'; comment on TABLE x.y is 'it''s a view'")
        );
        assert_eq!(respell("select 1"), None);
        assert_eq!(respell("alter view v as select 1"), None);
    }

    #[test]
    fn view_queries_are_qualified_except_ctes() {
        let mut s = super::super::query::parse(
            "with c as (select * from t) select * from c join u on true",
        )
        .expect("parses")
        .remove(0);
        qualify(&mut s, "analytics");
        let text = s.to_string();
        assert!(text.contains("\"analytics\".t"), "{text}");
        assert!(text.contains("\"analytics\".u"), "{text}");
        assert!(text.contains("FROM c JOIN"), "{text}");
    }
}
