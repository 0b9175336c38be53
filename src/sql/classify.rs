//! What each statement is: sorted once, after parsing, into the [`Command`] that says who
//! answers it (the engine, the session, the write path) and with what.

use datafusion::sql::sqlparser::ast::{
    self, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Expr, ObjectType, Set as SetStmt,
    Statement, Value, ValueWithSpan,
};

use super::build;
use crate::error::{SqlState, UserError};

/// A statement, sorted by who answers it.
#[derive(Debug, Clone)]
pub enum Command {
    /// Planned and run by DataFusion.
    Query(Box<Statement>),
    Set(String, String),
    /// `SET LOCAL`: until the transaction block ends.
    SetLocal(String, String),
    Reset(Option<String>),
    Show(String),
    /// Accepted and reported with this tag (SET TRANSACTION …, SET ROLE to oneself…).
    Noop(&'static str),
    Commit,
    Rollback,
    DiscardAll,
    /// `DEALLOCATE name` / `DEALLOCATE ALL` (None): Power BI's and Tableau's connection reset.
    Deallocate(Option<String>),
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
    /// DDL and DML on writable data products (see `session::ddl`, `session::dml`).
    Write(Box<Statement>),
    Refused(UserError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFormat {
    Text {
        delimiter: u8,
        null: String,
    },
    Csv {
        delimiter: u8,
        null: String,
        quote: u8,
        header: bool,
    },
    Binary,
}

impl CopyFormat {
    pub fn from_options(
        options: &[CopyOption],
        legacy: &[CopyLegacyOption],
    ) -> Result<Self, UserError> {
        let mut kind = "text".to_string();
        let mut delimiter = None;
        let mut null = None;
        let mut quote = b'"';
        let mut header = false;
        let bad = |m: String| UserError::new(SqlState::SyntaxError, m);
        let byte = |c: char, what: &str| -> Result<u8, UserError> {
            if c.is_ascii() {
                Ok(c as u8)
            } else {
                Err(bad(format!(
                    "COPY {what} must be a single one-byte character"
                )))
            }
        };
        for o in options {
            match o {
                CopyOption::Format(f) => kind = f.value.to_ascii_lowercase(),
                CopyOption::Delimiter(c) => delimiter = Some(byte(*c, "delimiter")?),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = byte(*c, "quote")?,
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => {
                    return Err(UserError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )))
                }
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Binary => kind = "binary".into(),
                CopyLegacyOption::Csv(_) => kind = "csv".into(),
                CopyLegacyOption::Delimiter(c) => delimiter = Some(byte(*c, "delimiter")?),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                other => {
                    return Err(UserError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )))
                }
            }
        }
        match kind.as_str() {
            "text" => Ok(CopyFormat::Text {
                delimiter: delimiter.unwrap_or(b'\t'),
                null: null.unwrap_or_else(|| "\\N".into()),
            }),
            "csv" => Ok(CopyFormat::Csv {
                delimiter: delimiter.unwrap_or(b','),
                null: null.unwrap_or_default(),
                quote,
                header,
            }),
            "binary" => Ok(CopyFormat::Binary),
            other => Err(bad(format!("COPY format \"{other}\" not recognized"))),
        }
    }
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
                SqlState::SyntaxError,
                format!("invalid row count in FETCH: {n}"),
            )
        }),
        other => Err(UserError::new(
            SqlState::SyntaxError,
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
            SqlState::ObjectNotInPrerequisiteState,
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

pub fn classify(stmt: Statement) -> Command {
    use Command::*;
    match stmt {
        Statement::Query(_) | Statement::Explain { .. } => Query(Box::new(stmt)),
        Statement::Set(set) => match set {
            SetStmt::SingleAssignment { variable, values, scope, .. } => {
                let name = variable.to_string();
                let value = values.iter().map(expr_text).collect::<Vec<_>>().join(", ");
                if scope == Some(datafusion::sql::sqlparser::ast::ContextModifier::Local) {
                    SetLocal(name, value)
                } else if value.eq_ignore_ascii_case("default") {
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
        Statement::Deallocate { name, .. } => {
            if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
                Deallocate(None)
            } else {
                Deallocate(Some(super::names::folded(&name)))
            }
        }
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
                    let items = if columns.is_empty() {
                        vec![build::wildcard()]
                    } else {
                        columns.into_iter().map(|c| build::item(Expr::Identifier(c))).collect()
                    };
                    Statement::Query(Box::new(build::select(items, vec![build::table(table_name)], None)))
                }
            };
            CopyOut(Box::new(query), format)
        }
        Statement::Copy { .. } => Refused(UserError::new(
            SqlState::InsufficientPrivilege,
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
            SqlState::InsufficientPrivilege,
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
pub fn returns_rows(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Query(_) | Command::Show(_) | Command::Fetch { send: true, .. }
    )
}

/// PostgreSQL's refusal of a write, for statements that are neither queries nor aimed at the
/// session's temporary tables.
pub fn read_only_refusal(stmt: &Statement) -> UserError {
    UserError::new(
        SqlState::InsufficientPrivilege,
        format!(
            "permission denied: {} is not allowed, data products are read-only through meshgate",
            verb(stmt)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_statements_classify() {
        let c = crate::sql::commands("MOVE 10 IN \"pages\"").expect("MOVE parses");
        assert!(
            matches!(&c[..], [Command::Fetch { name, count: Some(10), send: false }] if name == "pages"),
            "{c:?}"
        );
        let c = crate::sql::commands("FETCH FORWARD 2000 FROM \"big_scan\"").expect("FETCH parses");
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
        let c = crate::sql::commands("FETCH ALL FROM c").expect("FETCH ALL parses");
        assert!(
            matches!(&c[..], [Command::Fetch { count: None, .. }]),
            "{c:?}"
        );
        let c = crate::sql::commands("DECLARE \"c\" BINARY CURSOR WITH HOLD FOR SELECT 1")
            .expect("DECLARE parses");
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
        let c = crate::sql::commands("FETCH PRIOR FROM c").expect("parses");
        assert!(
            matches!(&c[..], [Command::Refused(e)] if e.code == SqlState::ObjectNotInPrerequisiteState),
            "{c:?}"
        );
        let c = crate::sql::commands("CLOSE ALL").expect("parses");
        assert!(matches!(&c[..], [Command::CloseCursor(None)]), "{c:?}");
    }

    #[test]
    fn transaction_characteristics_become_settings() {
        let c = crate::sql::commands(
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        )
        .expect("parses");
        assert!(
            matches!(&c[..], [Command::SetMany(v)] if v == &vec![("default_transaction_isolation".to_string(), "repeatable read".to_string())]),
            "{c:?}"
        );
        let c =
            crate::sql::commands("BEGIN READ ONLY ISOLATION LEVEL SERIALIZABLE").expect("parses");
        assert!(
            matches!(&c[..], [Command::Begin(Some(l))] if l == "serializable"),
            "{c:?}"
        );
        let c = crate::sql::commands("SET ROLE NONE").expect("parses");
        assert!(matches!(&c[..], [Command::SetRole(None)]), "{c:?}");
    }
}
