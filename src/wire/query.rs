//! Statements: what each one is, and the simple-query protocol that runs them.
//!
//! Every statement is parsed once with the PostgreSQL dialect and sorted into a [`Command`].
//! Queries (SELECT, VALUES, WITH, EXPLAIN) go to DataFusion; session statements (SET, SHOW,
//! BEGIN…) are answered here; writes and DDL are refused, because data products are read-only
//! through meshgate.

use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    self, CopySource, CopyTarget, Expr, ObjectType, Set as SetStmt, Statement, Value, ValueWithSpan,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::SinkExt;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncRead, AsyncWrite};

use super::copy::CopyFormat;
use super::encode::{fields, row_description, RowSource};
use super::{Disconnected, Failure, SessionLoop, TxState};
use crate::error::{sqlstate, UserError};

/// A statement, sorted by who answers it.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// Planned and run by DataFusion.
    Query(Box<Statement>),
    Set(String, String),
    Reset(Option<String>),
    Show(String),
    /// Accepted and reported with this tag (SET TRANSACTION …, SET ROLE to oneself…).
    Noop(&'static str),
    Commit,
    Rollback,
    DiscardAll,
    CopyOut(Box<Statement>, CopyFormat),
    /// `DECLARE name [BINARY] CURSOR [WITH HOLD] FOR query`.
    Declare {
        name: String,
        binary: bool,
        hold: bool,
        query: Box<Statement>,
    },
    /// `FETCH` (rows sent) or `MOVE` (rows skipped); `count` None = ALL.
    Fetch {
        name: String,
        count: Option<u64>,
        send: bool,
    },
    /// `CLOSE name`; None = `CLOSE ALL`.
    CloseCursor(Option<String>),
    /// `SET ROLE name`; None = `SET ROLE NONE`.
    SetRole(Option<String>),
    /// `BEGIN` with its isolation level, if named.
    Begin(Option<String>),
    /// `SET SESSION CHARACTERISTICS AS TRANSACTION …`: settings to apply.
    SetMany(Vec<(String, String)>),
    /// `CREATE TEMPORARY TABLE`: held in the session's `pg_temp` schema.
    CreateTemp(Box<Statement>),
    /// INSERT: allowed into the session's temporary tables only.
    Insert(Box<Statement>),
    /// DROP TABLE: the session's temporary tables, or tables created in writable products.
    DropTables(Box<Statement>),
    /// DDL and DML on writable data products (see `wire::write`).
    Write(Box<Statement>),
    Refused(UserError),
}

pub(crate) fn parse(sql: &str) -> Result<Vec<Statement>, UserError> {
    Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| UserError::from_parser(&e))
}

/// Parses and sorts the statements of a message. `MOVE` is not in the SQL parser's grammar; it
/// is FETCH's syntax with the rows skipped, so a message that is one MOVE is read as a FETCH.
#[cfg(test)]
pub(crate) fn commands(sql: &str) -> Result<Vec<Command>, UserError> {
    Ok(commands_with_text(sql, None)?
        .into_iter()
        .map(|(c, _)| c)
        .collect())
}

/// As [`commands`], with each statement's audit text when `audit` is `Some(redact_literals)`
/// (taken from the parsed statement, before classifying consumes it).
pub(crate) fn commands_with_text(
    sql: &str,
    audit: Option<bool>,
) -> Result<Vec<(Command, Option<String>)>, UserError> {
    let text = |s: &Statement| audit.map(|redact| crate::audit::redact::statement_text(s, redact));
    let respelled = super::write::respell(sql);
    let sql = respelled.as_deref().unwrap_or(sql);
    let trimmed = sql.trim_start();
    let is_move = trimmed.len() > 5
        && trimmed[..4].eq_ignore_ascii_case("move")
        && trimmed.as_bytes()[4].is_ascii_whitespace();
    if is_move {
        let stmts = parse(&format!("FETCH{}", &trimmed[4..]))?;
        return Ok(stmts
            .into_iter()
            .map(|s| {
                let t = text(&s).map(|t| t.replacen("FETCH", "MOVE", 1));
                let c = match classify(s) {
                    Command::Fetch { name, count, .. } => Command::Fetch {
                        name,
                        count,
                        send: false,
                    },
                    other => other,
                };
                (c, t)
            })
            .collect());
    }
    Ok(parse(sql)?
        .into_iter()
        .map(|s| {
            let t = text(&s);
            (classify(s), t)
        })
        .collect())
}

fn isolation_text(level: &datafusion::sql::sqlparser::ast::TransactionIsolationLevel) -> String {
    level.to_string().to_ascii_lowercase()
}

/// Rows a FETCH direction asks for: None = all. Backward moves need a scrollable cursor, which
/// a stream is not.
fn fetch_count(
    d: &datafusion::sql::sqlparser::ast::FetchDirection,
) -> Result<Option<u64>, UserError> {
    use datafusion::sql::sqlparser::ast::FetchDirection as D;
    let number = |v: &Value| match v {
        Value::Number(n, _) => n.parse::<u64>().map_err(|_| {
            UserError::new(
                sqlstate::SYNTAX_ERROR,
                format!("invalid row count in FETCH: {n}"),
            )
        }),
        other => Err(UserError::new(
            sqlstate::SYNTAX_ERROR,
            format!("invalid row count in FETCH: {other}"),
        )),
    };
    match d {
        D::Next => Ok(Some(1)),
        D::Count { limit } => number(limit).map(Some),
        D::Forward { limit: Some(l) } => number(l).map(Some),
        D::Forward { limit: None } => Ok(Some(1)),
        D::All | D::ForwardAll => Ok(None),
        _ => Err(UserError::new(
            "55000",
            "cursor can only scan forward: meshgate cursors stream their rows (declare them NO SCROLL)",
        )),
    }
}

fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        })
        | Expr::Value(ValueWithSpan {
            value: Value::DoubleQuotedString(s),
            ..
        }) => s.clone(),
        Expr::Value(ValueWithSpan {
            value: Value::Number(n, _),
            ..
        }) => n.clone(),
        Expr::Identifier(i) => i.value.clone(),
        Expr::UnaryOp { op, expr } => format!("{op}{}", expr_text(expr)),
        other => other.to_string(),
    }
}

pub(crate) fn classify(stmt: Statement) -> Command {
    use Command::*;
    match stmt {
        Statement::Query(_) | Statement::Explain { .. } => Query(Box::new(stmt)),
        Statement::Set(set) => match set {
            SetStmt::SingleAssignment { variable, values, .. } => {
                let name = variable.to_string();
                let value = values.iter().map(expr_text).collect::<Vec<_>>().join(", ");
                if value.eq_ignore_ascii_case("default") {
                    Reset(Some(name))
                } else {
                    Set(name, value)
                }
            }
            SetStmt::SetTimeZone { value, .. } => Set("timezone".into(), expr_text(&value)),
            SetStmt::SetNames { charset_name, .. } => Set("client_encoding".into(), charset_name.value),
            SetStmt::SetTransaction { modes, session: true, .. } => {
                use datafusion::sql::sqlparser::ast::{TransactionAccessMode, TransactionMode};
                SetMany(
                    modes
                        .iter()
                        .map(|m| match m {
                            TransactionMode::IsolationLevel(l) => ("default_transaction_isolation".to_string(), isolation_text(l)),
                            TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                                ("default_transaction_read_only".to_string(), "on".to_string())
                            }
                            TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {
                                ("default_transaction_read_only".to_string(), "off".to_string())
                            }
                        })
                        .collect(),
                )
            }
            SetStmt::SetTransaction { .. } => Noop("SET"),
            SetStmt::SetRole { role_name, .. } => SetRole(role_name.map(|r| r.value)),
            other => Refused(UserError::unsupported(format!("{other} is not supported"))),
        },
        Statement::Reset(r) => match r.reset {
            datafusion::sql::sqlparser::ast::Reset::ALL => Reset(None),
            datafusion::sql::sqlparser::ast::Reset::ConfigurationParameter(n) => Reset(Some(n.to_string())),
        },
        Statement::ShowVariable { variable } => {
            Show(variable.iter().map(|i| i.value.clone()).collect::<Vec<_>>().join(" "))
        }
        Statement::StartTransaction { modes, .. } => {
            use datafusion::sql::sqlparser::ast::TransactionMode;
            Begin(modes.iter().find_map(|m| match m {
                TransactionMode::IsolationLevel(l) => Some(isolation_text(l)),
                _ => None,
            }))
        }
        Statement::Declare { mut stmts } if stmts.len() == 1 => {
            let d = stmts.remove(0);
            match (d.names.first(), d.for_query) {
                (Some(name), Some(q)) => Declare {
                    name: name.value.clone(),
                    binary: d.binary.unwrap_or(false),
                    hold: d.hold.unwrap_or(false),
                    query: Box::new(Statement::Query(q)),
                },
                _ => Refused(UserError::unsupported("DECLARE is supported for cursors only: DECLARE name CURSOR FOR query")),
            }
        }
        Statement::Fetch { name, direction, into: None, .. } => match fetch_count(&direction) {
            Ok(count) => Fetch { name: name.value, count, send: true },
            Err(e) => Refused(e),
        },
        Statement::Close { cursor } => match cursor {
            datafusion::sql::sqlparser::ast::CloseCursor::All => CloseCursor(None),
            datafusion::sql::sqlparser::ast::CloseCursor::Specific { name } => CloseCursor(Some(name.value)),
        },
        Statement::CreateTable(ref t) if t.temporary => CreateTemp(Box::new(stmt)),
        Statement::Insert(_) => Insert(Box::new(stmt)),
        Statement::Drop { object_type: datafusion::sql::sqlparser::ast::ObjectType::Table, .. } => DropTables(Box::new(stmt)),
        Statement::Commit { .. } => Commit,
        Statement::Rollback { savepoint: None, .. } => Rollback,
        Statement::Discard { object_type } => {
            if object_type.to_string().eq_ignore_ascii_case("ALL") {
                DiscardAll
            } else {
                Noop("DISCARD")
            }
        }
        Statement::Copy { source, to: true, target: CopyTarget::Stdout, options, legacy_options, .. } => {
            let format = match CopyFormat::from_options(&options, &legacy_options) {
                Ok(f) => f,
                Err(e) => return Refused(e),
            };
            let query = match source {
                CopySource::Query(q) => Statement::Query(q),
                CopySource::Table { table_name, columns } => {
                    let cols = if columns.is_empty() {
                        "*".to_string()
                    } else {
                        columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
                    };
                    match parse(&format!("SELECT {cols} FROM {table_name}")).map(|mut v| v.remove(0)) {
                        Ok(s) => s,
                        Err(e) => return Refused(e),
                    }
                }
            };
            CopyOut(Box::new(query), format)
        }
        Statement::Copy { .. } => Refused(UserError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            "COPY is supported only as COPY (query) TO STDOUT: data products are read-only and the server's files are not reachable",
        )),
        Statement::Update { .. }
        | Statement::Delete(_)
        | Statement::Merge { .. }
        | Statement::Truncate { .. }
        | Statement::CreateTable(_)
        | Statement::CreateView { .. }
        | Statement::CreateSchema { .. }
        | Statement::Comment { .. }
        | Statement::Drop { object_type: ObjectType::Schema | ObjectType::View, .. } => Write(Box::new(stmt)),
        Statement::AlterTable(ref a) if matches!(a.operations.as_slice(), [ast::AlterTableOperation::RenameTable { .. }]) => {
            Write(Box::new(stmt))
        }
        Statement::CreateIndex(_)
        | Statement::CreateFunction(_)
        | Statement::CreateDatabase { .. }
        | Statement::Drop { .. }
        | Statement::AlterTable { .. }
        | Statement::AlterView { .. }
        | Statement::Grant { .. }
        | Statement::Revoke { .. }
        | Statement::CreateExtension { .. }
        | Statement::CreateRole { .. } => Refused(UserError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied: {} is not allowed, the mesh is defined by its domains' configuration", verb(&stmt)),
        )),
        other => Refused(UserError::unsupported(format!("statement not supported: {}", verb(&other)))),
    }
}

/// The statement's leading keywords, for messages (never its literals).
fn verb(stmt: &Statement) -> String {
    let text = stmt.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    let two = words.join(" ").to_ascii_uppercase();
    if two.starts_with("CREATE") || two.starts_with("DROP") || two.starts_with("ALTER") {
        two
    } else {
        words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default()
    }
}

/// The tag and whether the statement returns rows, for Describe before execution.
pub(crate) fn returns_rows(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Query(_) | Command::Show(_) | Command::Fetch { send: true, .. }
    )
}

/// PostgreSQL's refusal of a write, for statements that are neither queries nor aimed at the
/// session's temporary tables.
pub(crate) fn read_only_refusal(stmt: &Statement) -> UserError {
    UserError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!(
            "permission denied: {} is not allowed, data products are read-only through meshgate",
            verb(stmt)
        ),
    )
}

/// Resolves `'name'::regclass` in a session: unqualified names in its default schema.
struct SessionRelations<'a>(&'a crate::session::Session);

impl crate::catalog::rewrite::RelationResolver for SessionRelations<'_> {
    fn relation_oid(&self, schema: Option<&str>, name: &str) -> Option<i32> {
        let mesh = self.0.mesh()?;
        // The session's temporary tables come first, as in PostgreSQL's search path.
        if matches!(schema, None | Some(crate::session::TEMP_SCHEMA))
            && datafusion::catalog::SchemaProvider::table_exist(self.0.temp.as_ref(), name)
        {
            return Some(crate::catalog::oids::temp_table_oid(name));
        }
        let schema = match schema {
            Some(s) => s.to_string(),
            None => self
                .0
                .ctx
                .state()
                .config_options()
                .catalog
                .default_schema
                .clone(),
        };
        mesh.oids.table(&schema, name).or_else(|| {
            // The system catalogs clients name this way ('pg_class'::regclass) have fixed OIDs.
            (schema == "pg_catalog" || crate::catalog::oids::system_relation(name).is_some())
                .then(|| crate::catalog::oids::system_relation(name))
                .flatten()
        })
    }

    fn namespace_oid(&self, name: &str) -> Option<i32> {
        let mesh = self.0.mesh()?;
        let oid = mesh.oids.namespace(name);
        mesh.oids.namespace_name(oid).is_some().then_some(oid)
    }
}

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The simple-query protocol: run each statement, stop at the first error, then ReadyForQuery.
    pub(crate) async fn simple_query(&mut self, sql: &str) -> Result<(), Disconnected> {
        // A Query message also ends any half-done extended-protocol exchange.
        self.skip_until_sync = false;
        // The statement texts clients send, for recording a tool's corpus (tests/corpus/).
        tracing::debug!(target: "meshgate::statements", protocol = "simple", "{sql}");
        let stmts = match commands_with_text(sql, self.audit_texts()) {
            Ok(s) => s,
            Err(e) => {
                self.audit_unparsed(sql, &e);
                self.fail_tx();
                self.send_error(&e).await?;
                return self.ready().await;
            }
        };
        if stmts.is_empty() {
            self.conn
                .send(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            return self.ready().await;
        }
        for (cmd, text) in stmts {
            self.audit_begin(crate::audit::Protocol::Simple, text);
            let result = self.run_command(cmd, &Format::UnifiedText, true).await;
            self.audit_end(&result);
            match result {
                Ok(()) => {}
                Err(Failure::User(e)) => {
                    self.fail_tx();
                    self.send_error(&e).await?;
                    break;
                }
                Err(Failure::Gone) => return Err(Disconnected),
            }
        }
        self.ready().await
    }

    /// Unqualified names found in a later schema of the session's search_path are qualified
    /// with it (see `search_path`).
    pub(crate) fn qualify_search_path(&self, stmt: &mut Statement) {
        let path = super::search_path::schemas(
            &self.session.get("search_path").unwrap_or_default(),
            &self.session.user,
        );
        if let Some(catalog) = self.session.ctx.catalog(&self.session.database) {
            super::search_path::qualify(stmt, &path, catalog.as_ref());
        }
    }

    /// Plans a query statement in this session. Read-only by construction: anything that is not
    /// a query has been refused by [`classify`], and the plan is checked again here.
    pub(crate) async fn plan(&self, stmt: &Statement) -> Result<LogicalPlan, UserError> {
        self.plan_statement(stmt, false).await
    }

    /// Plans a statement; `dml` lets an INSERT through, which callers allow only into the
    /// session's temporary tables.
    pub(crate) async fn plan_statement(
        &self,
        stmt: &Statement,
        dml: bool,
    ) -> Result<LogicalPlan, UserError> {
        self.session.access.begin();
        let analyze = matches!(stmt, Statement::Explain { analyze: true, .. });
        let mut stmt = stmt.clone();
        super::temp::qualify_temp_names(&mut stmt, self.session.temp.as_ref());
        self.qualify_search_path(&mut stmt);
        crate::catalog::rewrite::rewrite(&mut stmt, &SessionRelations(&self.session))?;
        let state = self.session.ctx.state();
        let plan = state
            .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
            .await
            .map_err(|e| UserError::from_datafusion(&e))?;
        datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(dml)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| {
                UserError::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied: {e}"),
                )
            })?;
        if analyze && self.session.access.current().filtered {
            // Its scan metrics count the rows the filter removed.
            return Err(UserError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                "permission denied: EXPLAIN ANALYZE is not available for statements that read a table under a row filter",
            ));
        }
        Ok(plan)
    }

    /// Starts a planned query; rows are pulled by [`SessionLoop::pump`]. Its scans are attached
    /// to the running statement's audit record.
    pub(crate) async fn start(
        &mut self,
        plan: LogicalPlan,
        format: &Format,
    ) -> Result<RowSource, UserError> {
        let state = self.session.ctx.state();
        let physical = state
            .create_physical_plan(&plan)
            .await
            .map_err(|e| UserError::from_datafusion(&e))?;
        let fields = fields(physical.schema().as_ref(), format)?;
        let mesh = self.session.mesh();
        let probe = crate::audit::scan::ScanProbe::new(
            &self.shared,
            &plan,
            &physical,
            mesh.as_ref(),
            &state.config_options().catalog.default_schema,
        );
        self.audit_attach(&probe);
        let stream = self.shared.executor.execute(physical, state.task_ctx()).map_err(|o| {
            UserError::new(
                sqlstate::TOO_MANY_CONNECTIONS,
                format!("too many queries: {} running and {} waiting, the server's limit; try again shortly", o.running, o.waiting),
            )
        })?;
        Ok(RowSource::new(
            stream,
            fields,
            self.session.access.current().filtered,
            probe,
        ))
    }

    /// Runs one statement to completion. `describe` sends a RowDescription first (simple query;
    /// in the extended protocol Describe does that).
    pub(crate) async fn run_command(
        &mut self,
        cmd: Command,
        format: &Format,
        describe: bool,
    ) -> Result<(), Failure> {
        if self.tx == TxState::Failed && !matches!(cmd, Command::Commit | Command::Rollback) {
            return Err(UserError::new(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            )
            .into());
        }
        match cmd {
            Command::Query(mut stmt) => {
                super::config_fns::apply(&mut stmt, &mut self.session)?;
                let plan = self.plan(&stmt).await?;
                let tag = if matches!(*stmt, Statement::Explain { .. }) {
                    "EXPLAIN"
                } else {
                    "SELECT"
                };
                let mut src = self.start(plan, format).await?;
                if describe {
                    self.conn.feed(row_description(&src.fields)).await?;
                }
                self.pump(&mut src, 0).await?;
                let tag = if tag == "SELECT" {
                    format!("SELECT {}", src.sent)
                } else {
                    tag.to_string()
                };
                self.complete(&tag).await
            }
            Command::Show(name) => {
                let (fields, rows) = self.show(&name)?;
                if describe {
                    self.conn.feed(row_description(&fields)).await?;
                }
                let fields = Arc::new(fields);
                self.audit_rows(rows.len());
                for row in rows {
                    let mut enc = DataRowEncoder::new(fields.clone());
                    for v in row {
                        enc.encode_field(&Some(v))
                            .map_err(|e| UserError::internal("show", &e))?;
                    }
                    self.conn
                        .feed(PgWireBackendMessage::DataRow(enc.take_row()))
                        .await?;
                }
                self.complete("SHOW").await
            }
            Command::Set(name, value) => {
                let report = self.session.set(&name, &value)?;
                self.report(report).await?;
                self.complete("SET").await
            }
            Command::Reset(Some(name)) if name.eq_ignore_ascii_case("role") => {
                self.set_role(None)?;
                self.complete("RESET").await
            }
            Command::Reset(Some(name)) => {
                let report = self.session.reset(&name)?;
                self.report(report).await?;
                self.complete("RESET").await
            }
            Command::Reset(None) => {
                for r in self.session.reset_all() {
                    self.report(Some(r)).await?;
                }
                self.complete("RESET").await
            }
            Command::Noop(tag) => self.complete(tag).await,
            Command::Begin(level) => {
                if self.tx != TxState::Idle {
                    self.notice("25001", "there is already a transaction in progress")
                        .await?;
                } else {
                    self.tx_isolation = level;
                }
                self.tx = TxState::InBlock;
                self.complete("BEGIN").await
            }
            Command::SetMany(settings) => {
                for (name, value) in settings {
                    let report = self.session.set(&name, &value)?;
                    self.report(report).await?;
                }
                self.complete("SET").await
            }
            Command::SetRole(role) => {
                self.set_role(role.as_deref())?;
                self.complete("SET").await
            }
            Command::Declare {
                name,
                binary,
                hold,
                query,
            } => self.declare(name, binary, hold, &query).await,
            Command::Fetch { name, count, send } => self.fetch(&name, count, send, describe).await,
            Command::CloseCursor(name) => self.close_cursor(name).await,
            Command::CreateTemp(stmt) => self.create_temp(*stmt).await,
            Command::Insert(stmt) => self.insert(*stmt).await,
            Command::DropTables(stmt) => self.drop_tables(*stmt).await,
            Command::Write(stmt) => self.write_statement(*stmt).await,
            Command::Commit | Command::Rollback => {
                let tag = if self.tx == TxState::Failed || matches!(cmd, Command::Rollback) {
                    "ROLLBACK"
                } else {
                    "COMMIT"
                };
                if self.tx == TxState::Idle {
                    self.notice("25P01", "there is no transaction in progress")
                        .await?;
                }
                self.tx = TxState::Idle;
                self.tx_isolation = None;
                self.portals.clear();
                self.close_transaction_cursors();
                if tag == "COMMIT" {
                    self.commit_writes().await?;
                } else {
                    self.rollback_writes();
                }
                self.complete(tag).await
            }
            Command::DiscardAll => {
                if self.tx != TxState::Idle {
                    return Err(UserError::new(
                        "25001",
                        "DISCARD ALL cannot run inside a transaction block",
                    )
                    .into());
                }
                for r in self.session.reset_all() {
                    self.report(Some(r)).await?;
                }
                self.statements.clear();
                self.portals.clear();
                self.cursors.clear();
                self.session.drop_temp_tables();
                self.complete("DISCARD ALL").await
            }
            Command::CopyOut(stmt, format) => self.copy_out(&stmt, format).await,
            Command::Refused(e) => Err(e.into()),
        }
    }

    pub(crate) async fn complete(&mut self, tag: &str) -> Result<(), Failure> {
        self.conn
            .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                tag.to_string(),
            )))
            .await?;
        Ok(())
    }

    async fn report(&mut self, r: Option<(String, String)>) -> Result<(), Failure> {
        if let Some((name, value)) = r {
            self.conn
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
        Ok(())
    }

    async fn notice(&mut self, code: &str, message: &str) -> Result<(), Failure> {
        let n = pgwire::messages::response::NoticeResponse::new(vec![
            (b'S', "WARNING".into()),
            (b'V', "WARNING".into()),
            (b'C', code.into()),
            (b'M', message.into()),
        ]);
        self.conn
            .feed(PgWireBackendMessage::NoticeResponse(n))
            .await?;
        Ok(())
    }

    /// SHOW name / SHOW ALL: PostgreSQL's column names and text values.
    pub(crate) fn show(&self, name: &str) -> Result<(Vec<FieldInfo>, Vec<Vec<String>>), UserError> {
        let text =
            |n: &str| FieldInfo::new(n.to_string(), None, None, Type::TEXT, FieldFormat::Text);
        let lower = name.to_ascii_lowercase();
        if lower == "all" {
            let rows = self
                .session
                .all()
                .into_iter()
                .map(|(n, v)| vec![n, v])
                .collect();
            return Ok((vec![text("name"), text("setting")], rows));
        }
        let key = match lower.as_str() {
            "transaction isolation level" => "transaction_isolation",
            "time zone" => "timezone",
            other => other,
        };
        // Outside a block, a transaction starts with the session's default; inside, with the
        // level its BEGIN named.
        if key == "transaction_isolation" {
            let value = match (&self.tx_isolation, self.tx) {
                (Some(level), TxState::InBlock | TxState::Failed) => level.clone(),
                _ => self
                    .session
                    .get("default_transaction_isolation")
                    .unwrap_or_default(),
            };
            return Ok((vec![text(key)], vec![vec![value]]));
        }
        let value = self.session.get(key).ok_or_else(|| {
            UserError::new(
                sqlstate::UNDEFINED_PARAMETER,
                format!("unrecognized configuration parameter \"{name}\""),
            )
        })?;
        Ok((vec![text(key)], vec![vec![value]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_statements_classify() {
        let c = commands("MOVE 10 IN \"pages\"").expect("MOVE parses");
        assert!(
            matches!(&c[..], [Command::Fetch { name, count: Some(10), send: false }] if name == "pages"),
            "{c:?}"
        );
        let c = commands("FETCH FORWARD 2000 FROM \"big_scan\"").expect("FETCH parses");
        assert!(
            matches!(
                &c[..],
                [Command::Fetch {
                    count: Some(2000),
                    send: true,
                    ..
                }]
            ),
            "{c:?}"
        );
        let c = commands("FETCH ALL FROM c").expect("FETCH ALL parses");
        assert!(
            matches!(&c[..], [Command::Fetch { count: None, .. }]),
            "{c:?}"
        );
        let c =
            commands("DECLARE \"c\" BINARY CURSOR WITH HOLD FOR SELECT 1").expect("DECLARE parses");
        assert!(
            matches!(
                &c[..],
                [Command::Declare {
                    binary: true,
                    hold: true,
                    ..
                }]
            ),
            "{c:?}"
        );
        let c = commands("FETCH PRIOR FROM c").expect("parses");
        assert!(
            matches!(&c[..], [Command::Refused(e)] if e.code == "55000"),
            "{c:?}"
        );
        let c = commands("CLOSE ALL").expect("parses");
        assert!(matches!(&c[..], [Command::CloseCursor(None)]), "{c:?}");
    }

    #[test]
    fn transaction_characteristics_become_settings() {
        let c =
            commands("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .expect("parses");
        assert!(
            matches!(&c[..], [Command::SetMany(v)] if v == &vec![("default_transaction_isolation".to_string(), "repeatable read".to_string())]),
            "{c:?}"
        );
        let c = commands("BEGIN READ ONLY ISOLATION LEVEL SERIALIZABLE").expect("parses");
        assert!(
            matches!(&c[..], [Command::Begin(Some(l))] if l == "serializable"),
            "{c:?}"
        );
        let c = commands("SET ROLE NONE").expect("parses");
        assert!(matches!(&c[..], [Command::SetRole(None)]), "{c:?}");
    }
}
