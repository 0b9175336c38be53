//! The one SQL front end: every statement meshgate plans goes through this pipeline, whichever
//! door it came in by (simple query, Parse, DECLARE CURSOR, COPY, the queries of a write, a
//! created view, a policy view).
//!
//! ```text
//!  text ─► respell ─► parse ─► classify ─────────────────────► Command (session dispatches it)
//!                                             │ a statement to plan
//!                                             ▼
//!         resolve names (names.rs: CTEs, temporary tables, pg_catalog, search_path, three-part
//!                        names; a relation that exists nowhere is 42P01 here)
//!       ─► the session's settings functions (settings.rs), then the PostgreSQL-dialect
//!          rewrites (sqlfront/src/rewrite/: casts, operators, catalog shapes)
//!       ─► DataFusion's SQL planner, whose catalog binds policies as it resolves each table
//!          (expand.rs: row filters and masks inlined as a view, a row filter behind a
//!          security barrier (barrier.rs); created views for the reader)
//!       ─► verified logical plan (read-only, or an INSERT the caller allowed)
//!       ─► result columns in PostgreSQL's types (output.rs)
//!
//!  and when the plan runs, DataFusion's analyzer applies semantics.rs (PostgreSQL's results
//!  where the types decide: casts that round or print as text.rs does, integer overflow and
//!  division by zero as errors)
//! ```
//!
//! Statements meshgate writes itself (the copy-on-write queries of a DELETE, a policy view, a
//! rewrite's replacement) are built as syntax trees ([`build`], [`writes`]) and enter the same
//! pipeline after the parse.
//!
//! The steps on syntax trees alone (respell, the parse, [`build`], the PostgreSQL-dialect
//! rewrites) live in the `meshgate-sqlfront` crate (sqlfront/), which a fuzzer builds without
//! DataFusion; this module holds the steps that need the mesh, the session or the engine.

pub mod barrier;
mod classify;
mod expand;
pub mod federate;
pub mod names;
mod output;
mod params;
mod prefilter;
pub mod residency;
pub mod rewrite;
pub mod semantics;
mod semijoin;
mod settings;
pub mod text;
pub mod writes;

pub use meshgate_sqlfront::build;
use meshgate_sqlfront::respell;

use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;

use crate::catalog::{oids, TEMP_SCHEMA};
use crate::error::UserError;
use crate::policy::Access;

pub use classify::{classify, read_only_refusal, returns_rows, Command, CopyFormat};
pub use expand::Expand;
pub use names::{folded, Scope};
pub use params::placeholder_casts;
pub use settings::Settings;

/// One statement of a message, sorted, with its audit text.
#[derive(Debug)]
pub struct Parsed {
    pub command: Command,
    /// The statement as the audit shows it, when `parse` was asked for it.
    pub audit_text: Option<String>,
}

fn parse_sql(sql: &str) -> Result<Vec<Statement>, UserError> {
    meshgate_sqlfront::parse::statements(sql).map_err(|e| UserError::from_parser(&e))
}

/// Exactly one statement (tests, and templates meshgate writes itself).
pub fn parse_one(sql: &str) -> Result<Statement, UserError> {
    let mut stmts = parse_sql(sql)?;
    match stmts.len() {
        1 => Ok(stmts.remove(0)),
        n => Err(UserError::syntax(format!(
            "expected one statement, found {n}"
        ))),
    }
}

/// Respells, parses and sorts the statements of a message. `audit` is
/// `Some(redact_literals)` when each statement's audit text is wanted (taken from the parsed
/// statement, before classifying consumes it).
pub fn parse(sql: &str, audit: Option<bool>) -> Result<Vec<Parsed>, UserError> {
    let respelled = respell::respell(sql);
    let mut moves = respelled.moves.into_iter();
    let text = meshgate_sqlfront::versions::respell(&respelled.text)?;
    let statements = parse_sql(&text).map_err(|mut e| {
        // The parser's position is in the rewritten text; the client's is in what it sent.
        if let Some(at) = meshgate_sqlfront::versions::parser_offset(&respelled.text, &e.message) {
            let at = unrespelled(sql, &respelled.text, at);
            e.message = meshgate_sqlfront::versions::relocated(&e.message, sql, at);
            e.position = Some(sql[..at].chars().count() + 1);
        }
        e
    })?;
    Ok(statements
        .into_iter()
        .map(|s| {
            let is_fetch = matches!(s, Statement::Fetch { .. });
            let mut audit_text =
                audit.map(|redact| crate::audit::redact::statement_text(&s, redact));
            let mut command = classify(s);
            // A MOVE was read as a FETCH: the rows are skipped, and the audit says MOVE.
            if is_fetch && moves.next() == Some(true) {
                if let Command::Fetch { send, .. } = &mut command {
                    *send = false;
                }
                audit_text = audit_text.map(|t| t.replacen("FETCH", "MOVE", 1));
            }
            Parsed {
                command,
                audit_text,
            }
        })
        .collect())
}

/// A byte offset into the respelled text of `sent` as an offset into `sent`: exact before the
/// first change and after the last (the respellings are rare and few), else where the changes
/// begin.
fn unrespelled(sent: &str, respelled: &str, at: usize) -> usize {
    let (s, r) = (sent.as_bytes(), respelled.as_bytes());
    let prefix = s.iter().zip(r).take_while(|(a, b)| a == b).count();
    let suffix = s
        .iter()
        .rev()
        .zip(r.iter().rev())
        .take_while(|(a, b)| a == b)
        .count()
        .min(s.len().min(r.len()) - prefix);
    let at = if at < prefix {
        at
    } else if at >= r.len() - suffix {
        s.len() - (r.len() - at.min(r.len()))
    } else {
        prefix
    };
    sent.floor_char_boundary(at)
}

/// The commands of a message, without audit texts.
#[cfg(test)]
pub fn commands(sql: &str) -> Result<Vec<Command>, UserError> {
    Ok(parse(sql, None)?.into_iter().map(|p| p.command).collect())
}

/// What a statement may do besides reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allow {
    /// A query (SELECT, VALUES, WITH, EXPLAIN).
    #[default]
    Read,
    /// Also an INSERT: callers allow it only into the session's temporary tables.
    Insert,
}

/// Where a query's rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// To the client, printed as PostgreSQL prints them: numeric quotients and averages get
    /// hidden display-scale columns (`meshgate_sqlfront::rewrite::add_display_scales`).
    Client,
    /// Into another statement (CREATE TABLE AS, INSERT, COPY, a definition): the columns as
    /// written.
    Statement,
}

/// Plans a statement in a session: resolve names, rewrite, plan, verify. The statement's
/// access record (tables read, policies applied) starts afresh and is filled while it plans.
/// `engine` gives the engine state to plan in, asked for once the statement's own settings
/// (`set_config`) are applied.
pub async fn plan(
    engine: &(dyn Fn() -> std::sync::Arc<SessionState> + Send + Sync),
    scope: &Scope<'_>,
    access: &Access,
    settings: &mut dyn Settings,
    stmt: &Statement,
    allow: Allow,
    rows: Rows,
) -> Result<LogicalPlan, UserError> {
    access.begin();
    let analyze = matches!(stmt, Statement::Explain { analyze: true, .. });
    let mut stmt = stmt.clone();
    scope.resolve(&mut stmt)?;
    settings::apply(&mut stmt, settings)?;
    rewrite::rewrite(&mut stmt, scope)?;
    if rows == Rows::Client {
        meshgate_sqlfront::rewrite::add_display_scales(&mut stmt);
    }
    let plan = engine()
        .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
        .await
        .map_err(|e| UserError::from_datafusion(&e))?;
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(allow == Allow::Insert)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| UserError::denied(format!("permission denied: {e}")))?;
    if analyze && access.current().filtered {
        // Its scan metrics count the rows the filter removed.
        return Err(UserError::denied(
            "permission denied: EXPLAIN ANALYZE is not available for statements that read a table under a row filter",
        ));
    }
    let plan = semantics::real_widened(plan).map_err(|e| UserError::from_datafusion(&e))?;
    Ok(output::in_postgres_types(plan))
}

/// `'name'::regclass` and `'name'::regnamespace` in a session: the session's temporary tables
/// first, unqualified names in its default schema, pg_catalog's own relations by their fixed
/// OIDs.
impl rewrite::RelationResolver for Scope<'_> {
    fn relation_oid(&self, schema: Option<&str>, name: &str) -> Option<i32> {
        if matches!(schema, None | Some(TEMP_SCHEMA)) && self.temp.table_exist(name) {
            return Some(oids::temp_table_oid(name));
        }
        let schema = schema.unwrap_or(&self.default_schema);
        self.mesh.oids.table(schema, name).or_else(|| {
            (schema == "pg_catalog" || oids::system_relation(name).is_some())
                .then(|| oids::system_relation(name))
                .flatten()
        })
    }

    fn namespace_oid(&self, name: &str) -> Option<i32> {
        let oid = self.mesh.oids.namespace(name);
        self.mesh.oids.namespace_name(oid).is_some().then_some(oid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_positioned_in_the_text_as_sent() {
        // (text, the token the parser stops at, as written)
        for (sql, at) in [
            ("SELECT 'é', = 1", "= 1"),
            ("MOVE 2 IN c; SELECT 'ü' FROM t FOR VERSION AS OF 3 WHERE ) x", ") x"),
            (
                "SELECT * FROM t FOR TIMESTAMP AS OF '2026-01-01' WHERE a BETWEEN SYMMETRIC 1 AND 2 AND b IN (1,, 2)",
                ", 2)",
            ),
        ] {
            let e = parse(sql, None).expect_err(sql);
            let expected = sql[..sql.rfind(at).expect("the token")].chars().count() + 1;
            assert_eq!(e.position, Some(expected), "{sql}: {}", e.message);
        }
        // Inside a respelled stretch: where the stretch begins.
        assert_eq!(unrespelled("MOVE 1 IN c", "FETCH 1 IN c", 2), 0);
        assert_eq!(unrespelled("MOVE 1 IN c", "FETCH 1 IN c", 6), 5);
    }
}
