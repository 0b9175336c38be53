//! Prepared statements and portals: what the extended-query protocol's Parse, Bind, Describe,
//! Execute and Close act on, held by the session.
//!
//! A query is planned once at Parse (which also reports unknown tables there, as PostgreSQL
//! does, and gives Describe its parameter and row types); Bind fills the placeholders with the
//! client's values, cast to the types the planner inferred; Execute runs the portal, up to a row
//! limit that suspends it.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::StoredStatement;
use pgwire::api::Type;
use pgwire::messages::extendedquery::Bind;

use super::result::{fields, result_format};
use super::transaction::TxState;
use super::{Client, Failure, Pumped, Reply, RowSource, Session};
use crate::error::{SqlState, UserError};
use crate::sql::{self, returns_rows, Allow, Command};

/// A parsed (and, for queries, planned) statement.
pub(super) struct Prepared {
    pub command: Command,
    /// The plan with placeholders, for queries.
    pub plan: Option<LogicalPlan>,
    /// Parameter types: the client's where it named them, else inferred.
    pub param_types: Vec<Type>,
    /// Inferred Arrow types of the parameters, to cast bound values to.
    pub param_arrow: Vec<Option<DataType>>,
    /// What the plan reads and which policies it applies, for the portals that execute it.
    pub access: crate::policy::StatementAccess,
    /// The session's access generation the plan was made for, and what to plan it again from
    /// when that changes (SET ROLE, reload): the policies of the new principal must apply.
    pub access_generation: u64,
    pub sql: String,
    pub type_oids: Vec<u32>,
    /// The statement's audit text, when auditing was on at Parse.
    pub audit_text: Option<String>,
}

pub(super) struct Portal {
    pub prepared: Arc<Prepared>,
    /// The plan with values bound.
    pub plan: Option<LogicalPlan>,
    pub format: Format,
    pub state: PortalState,
    /// The audit record of a suspended run (see `session::audit`).
    pub audit: Option<crate::audit::StatementRecord>,
}

impl Drop for Portal {
    /// A portal dropped while suspended (Close, Sync outside a block, COMMIT, a new unnamed
    /// Bind, the session's end) ends its statement: the client got the rows sent so far.
    fn drop(&mut self) {
        if let Some(r) = self.audit.take() {
            r.finish(crate::audit::Outcome::Ok, None);
        }
    }
}

pub(super) enum PortalState {
    NotStarted,
    Running(RowSource),
    Done,
}

/// Placeholders are `$1…$n`; DataFusion reports them by name.
fn ordered_params(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>, UserError> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| UserError::from_datafusion(&e))?;
    let mut out = Vec::new();
    for i in 1..=types.len() {
        let t = types.get(&format!("${i}")).ok_or_else(|| {
            UserError::new(
                SqlState::SyntaxError,
                format!("parameters must be numbered $1 to ${}", types.len()),
            )
        })?;
        out.push(t.clone());
    }
    Ok(out)
}

/// What Describe answers for a statement or portal.
pub enum Description {
    /// The columns of the rows it returns (RowDescription).
    Rows(Arc<Vec<FieldInfo>>),
    /// It returns no rows (NoData).
    NoData,
}

impl Session {
    /// Parse: prepares `sql` as statement `name` ("" is the unnamed one). The catalog is
    /// refreshed first; a failure is audited (the statement will never run).
    pub async fn parse_statement(
        &mut self,
        name: String,
        sql: &str,
        type_oids: &[u32],
    ) -> Result<(), UserError> {
        self.refresh();
        async {
            if !name.is_empty() && self.statements.contains_key(&name) {
                return Err(UserError::new(
                    SqlState::DuplicatePreparedStatement,
                    format!("prepared statement \"{name}\" already exists"),
                ));
            }
            let started = std::time::Instant::now();
            match self.prepare(sql, type_oids).await {
                Ok(prepared) => {
                    self.statements.insert(name, Arc::new(prepared));
                    Ok(())
                }
                Err(e) => {
                    self.audit_failed_parse(sql, started, &e);
                    Err(e)
                }
            }
        }
        .await
    }

    /// Bind: makes portal `b.portal_name` of a prepared statement with the client's values.
    pub async fn bind_portal(&mut self, b: &Bind) -> Result<(), UserError> {
        let stmt_name = b.statement_name.clone().unwrap_or_default();
        let mut prepared = self.statements.get(&stmt_name).cloned().ok_or_else(|| {
            UserError::new(
                SqlState::InvalidSqlStatementName,
                format!("prepared statement \"{stmt_name}\" does not exist"),
            )
        })?;
        if prepared.access_generation != self.access_generation {
            let again = self.prepare(&prepared.sql, &prepared.type_oids).await?;
            let same_shape = match (&prepared.plan, &again.plan) {
                (Some(a), Some(b)) => a.schema().as_arrow() == b.schema().as_arrow(),
                (a, b) => a.is_none() && b.is_none(),
            };
            if !same_shape || again.param_types != prepared.param_types {
                return Err(UserError::unsupported(
                    "cached plan must not change result type",
                ));
            }
            prepared = Arc::new(again);
            self.statements.insert(stmt_name.clone(), prepared.clone());
        }
        let portal_name = b.portal_name.clone().unwrap_or_default();
        if !portal_name.is_empty() && self.portals.contains_key(&portal_name) {
            return Err(UserError::new(
                SqlState::DuplicateCursor,
                format!("cursor \"{portal_name}\" already exists"),
            ));
        }
        let started = std::time::Instant::now();
        let text = prepared.audit_text.clone();
        match bind(prepared, b) {
            Ok(portal) => {
                self.portals.insert(portal_name, portal);
                Ok(())
            }
            Err(e) => {
                self.audit_failed_bind(text, started, &e);
                Err(e)
            }
        }
    }

    /// Describe of a prepared statement: its parameter types and what it returns.
    pub fn describe_statement(&self, name: &str) -> Result<(Vec<u32>, Description), UserError> {
        let p = self.statements.get(name).ok_or_else(|| {
            UserError::new(
                SqlState::InvalidSqlStatementName,
                format!("prepared statement \"{name}\" does not exist"),
            )
        })?;
        let oids = p.param_types.iter().map(|t| t.oid()).collect();
        Ok((oids, self.describe(p, &Format::UnifiedText)?))
    }

    /// Describe of a portal (SQL cursors are portals too: psycopg describes its DECLAREd cursor
    /// so).
    pub fn describe_portal(&self, name: &str) -> Result<Description, UserError> {
        if !self.portals.contains_key(name) && self.cursors.contains_key(name) {
            return Ok(Description::Rows(self.cursor_fields(name)?));
        }
        let portal = self.portals.get(name).ok_or_else(|| {
            UserError::new(
                SqlState::InvalidCursorName,
                format!("portal \"{name}\" does not exist"),
            )
        })?;
        self.describe(&portal.prepared, &portal.format)
    }

    /// Close of a statement or portal; closing one that does not exist is no error.
    pub fn close(&mut self, statement: bool, name: &str) {
        if statement {
            self.statements.remove(name);
        } else {
            self.portals.remove(name);
        }
    }

    /// Sync: outside a transaction block it ends the implicit transaction, and portals live no
    /// longer than their transaction.
    pub fn sync(&mut self) {
        if self.tx.state == TxState::Idle {
            self.portals.clear();
        }
    }

    /// Execute: runs portal `name`, up to `max_rows` rows (0: all), audited.
    pub async fn execute(
        &mut self,
        name: &str,
        max_rows: usize,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        self.audit_resume(name);
        let result = self.execute_named(name, max_rows, client).await;
        self.audit_after_execute(name, &result);
        result
    }

    async fn execute_named(
        &mut self,
        name: &str,
        max_rows: usize,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let mut portal = self.portals.remove(name).ok_or_else(|| {
            UserError::new(
                SqlState::InvalidCursorName,
                format!("portal \"{name}\" does not exist"),
            )
        })?;
        let result = self.execute_portal(&mut portal, max_rows, client).await;
        // A portal that failed cannot be resumed; one that ran to the end answers later
        // Executes with an empty result, as PostgreSQL's does.
        if result.is_ok() {
            self.portals.insert(name.to_string(), portal);
        }
        result
    }

    async fn prepare(&mut self, sql: &str, type_oids: &[u32]) -> Result<Prepared, UserError> {
        tracing::debug!(target: "meshgate::statements", protocol = "extended", "{sql}");
        let mut stmts = sql::parse(sql, self.audit_texts())?;
        if stmts.len() > 1 {
            return Err(UserError::syntax(
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(parsed) = stmts.pop() else {
            return Ok(Prepared {
                command: Command::Noop("EMPTY"),
                plan: None,
                param_types: vec![],
                param_arrow: vec![],
                audit_text: None,
                access: Default::default(),
                access_generation: self.access_generation,
                sql: sql.to_string(),
                type_oids: type_oids.to_vec(),
            });
        };
        let command = parsed.command;
        self.peer_may(&command)?;
        let (plan, param_arrow) = match &command {
            Command::Query(s) => {
                let plan = self.plan_for_client(s).await?;
                let params = ordered_params(&plan)?;
                (Some(plan), params)
            }
            Command::CopyOut(s, _) => {
                let plan = self.plan(s, Allow::Read).await?;
                let params = ordered_params(&plan)?;
                (None, params)
            }
            _ => (None, vec![]),
        };
        let casts = match &command {
            Command::Query(s) | Command::CopyOut(s, _) => sql::placeholder_casts(s),
            _ => std::collections::HashMap::new(),
        };
        let mut param_types = Vec::new();
        for (i, arrow) in param_arrow.iter().enumerate() {
            let given = type_oids
                .get(i)
                .copied()
                .filter(|o| *o != 0)
                .and_then(Type::from_oid);
            let t = match (given, arrow) {
                (Some(t), _) => t,
                (None, Some(a)) => arrow_pg::datatypes::into_pg_type(a).unwrap_or(Type::TEXT),
                // `$1::int8`: DataFusion leaves the placeholder untyped, PostgreSQL takes the
                // cast's type, and drivers that send binary parameters (asyncpg) rely on it.
                (None, None) => casts.get(&(i + 1)).cloned().unwrap_or(Type::TEXT),
            };
            param_types.push(t);
        }
        Ok(Prepared {
            command,
            plan,
            param_types,
            param_arrow,
            audit_text: parsed.audit_text,
            access: self.access.current(),
            access_generation: self.access_generation,
            sql: sql.to_string(),
            type_oids: type_oids.to_vec(),
        })
    }

    fn describe(&self, p: &Prepared, format: &Format) -> Result<Description, UserError> {
        Ok(match (&p.command, &p.plan) {
            (Command::Query(_), Some(plan)) => {
                let schema = plan.schema().as_arrow().clone();
                Description::Rows(fields(&schema, format)?)
            }
            (Command::Show(name), _) => Description::Rows(self.show(name)?.0),
            (
                Command::Fetch {
                    name, send: true, ..
                },
                _,
            ) => Description::Rows(self.cursor_fields(name)?),
            _ => Description::NoData,
        })
    }

    async fn execute_portal(
        &mut self,
        portal: &mut Portal,
        max_rows: usize,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        if let PortalState::NotStarted = portal.state {
            match (&portal.prepared.command, &portal.plan) {
                (Command::Query(_), Some(plan)) => {
                    if self.tx.state == TxState::Failed {
                        return Err(UserError::in_failed_transaction().into());
                    }
                    self.access.restore(portal.prepared.access.clone());
                    let src = self.stream(plan.clone(), &portal.format).await?;
                    portal.state = PortalState::Running(src);
                }
                (Command::Noop("EMPTY"), _) => {
                    portal.state = PortalState::Done;
                    client.reply(Reply::Empty).await?;
                    return Ok(());
                }
                (cmd, _) => {
                    portal.state = PortalState::Done;
                    return self.run(cmd.clone(), &portal.format, false, client).await;
                }
            }
        }
        let is_explain = matches!(&portal.prepared.command, Command::Query(s) if matches!(**s, Statement::Explain { .. }));
        match std::mem::replace(&mut portal.state, PortalState::Done) {
            PortalState::Running(mut src) => {
                // Each Execute's tag counts its own rows, as PostgreSQL's does: a portal read
                // in chunks ends with the rows of the last chunk (postgres.js relies on it).
                let before = src.sent;
                match self.pump(client, &mut src, max_rows, true).await? {
                    Pumped::Suspended => {
                        client.reply(Reply::Suspended).await?;
                        portal.state = PortalState::Running(src);
                        Ok(())
                    }
                    Pumped::Done => {
                        let tag = if is_explain {
                            "EXPLAIN".to_string()
                        } else {
                            format!("SELECT {}", src.sent - before)
                        };
                        super::complete(client, &tag).await
                    }
                }
            }
            PortalState::Done => super::complete(client, "SELECT 0").await,
            PortalState::NotStarted => Ok(()),
        }
    }
}

fn bind(prepared: Arc<Prepared>, b: &Bind) -> Result<Portal, UserError> {
    let n = prepared.param_types.len();
    if b.parameters.len() != n {
        return Err(UserError::new(
            SqlState::ProtocolViolation,
            format!(
                "bind message supplies {} parameters, but prepared statement requires {n}",
                b.parameters.len()
            ),
        ));
    }
    if !(b.parameter_format_codes.len() <= 1 || b.parameter_format_codes.len() == n) {
        return Err(UserError::new(
            SqlState::ProtocolViolation,
            "bind message has a wrong number of parameter formats",
        ));
    }
    let columns = match &prepared.plan {
        Some(plan) => super::result::visible_columns(plan.schema().as_arrow()),
        None => 0,
    };
    let format = if returns_rows(&prepared.command) && matches!(prepared.command, Command::Query(_))
    {
        result_format(&b.result_column_format_codes, columns)?
    } else {
        Format::UnifiedText
    };
    let plan = match &prepared.plan {
        Some(plan) if n > 0 => Some(bind_params(plan, &prepared, b)?),
        Some(plan) => Some(plan.clone()),
        None => None,
    };
    Ok(Portal {
        prepared,
        plan,
        format,
        state: PortalState::NotStarted,
        audit: None,
    })
}

/// Decodes the Bind's parameter values and substitutes them into the plan.
fn bind_params(
    plan: &LogicalPlan,
    prepared: &Prepared,
    b: &Bind,
) -> Result<LogicalPlan, UserError> {
    // OIDs travel as 4-byte integers: oid[] values are decoded as int4[]. JSON values are
    // text to the engine (binary json is its text; binary jsonb a version byte, then text).
    let decode_as = |t: &Type| {
        if *t == Type::OID_ARRAY {
            Type::INT4_ARRAY
        } else if *t == Type::JSON || *t == Type::JSONB {
            Type::TEXT
        } else {
            t.clone()
        }
    };
    let stored = Arc::new(StoredStatement::new(
        String::new(),
        (),
        prepared
            .param_types
            .iter()
            .map(|t| Some(decode_as(t)))
            .collect(),
    ));
    let portal = pgwire::api::portal::Portal::try_new(b, stored)
        .map_err(|e| UserError::new(SqlState::ProtocolViolation, e.to_string()))?;
    let inferred: Vec<Option<&DataType>> =
        prepared.param_arrow.iter().map(Option::as_ref).collect();
    let values =
        arrow_pg::datatypes::df::deserialize_parameters(&portal, &inferred).map_err(|e| {
            UserError::new(
                SqlState::InvalidTextRepresentation,
                format!("invalid parameter value: {e}"),
            )
        })?;
    let ParamValues::List(list) = values else {
        return Err(UserError::internal(
            "bind",
            &"named parameters from a positional bind",
        ));
    };
    let mut cast = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let v = valid_decimal(v.value().clone());
        let v = match v {
            ScalarValue::Utf8(Some(s))
                if prepared.param_types.get(i) == Some(&Type::JSONB)
                    && portal.parameter_format.is_binary(i) =>
            {
                ScalarValue::Utf8(Some(s.strip_prefix('\u{1}').unwrap_or(&s).to_string()))
            }
            v => v,
        };
        let v = match prepared.param_arrow.get(i).cloned().flatten() {
            Some(t) if v.data_type() != t => cast_param(v, &t, i)?,
            _ => v,
        };
        cast.push(v);
    }
    plan.clone()
        .with_param_values(ParamValues::List(
            cast.into_iter().map(Into::into).collect(),
        ))
        .map_err(|e| UserError::from_datafusion(&e))
}

/// An untyped numeric parameter (`CAST($1 AS numeric(18,4))`) is decoded with the precision of
/// its digits: 0.0500 from pgjdbc's BigDecimal would be precision 3 with scale 4, which Arrow
/// rejects when the value is cast. The precision is widened to the scale.
fn valid_decimal(v: ScalarValue) -> ScalarValue {
    match v {
        ScalarValue::Decimal128(d, p, s) if i16::from(s) > i16::from(p) => {
            ScalarValue::Decimal128(d, s.unsigned_abs().min(38), s)
        }
        v => v,
    }
}

fn cast_param(v: ScalarValue, t: &DataType, i: usize) -> Result<ScalarValue, UserError> {
    v.cast_to(t).map_err(|_| {
        UserError::new(
            SqlState::InvalidTextRepresentation,
            format!("parameter ${} cannot be converted to {t}", i + 1),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_decimals_can_be_cast() {
        // 0.0500 as arrow-pg decodes an untyped parameter: mantissa 500, 3 digits, scale 4.
        let v = valid_decimal(ScalarValue::Decimal128(Some(500), 3, 4));
        assert_eq!(v, ScalarValue::Decimal128(Some(500), 4, 4));
        let cast = v.cast_to(&DataType::Decimal128(18, 4)).expect("casts");
        assert_eq!(cast, ScalarValue::Decimal128(Some(500), 18, 4));
        assert_eq!(
            valid_decimal(ScalarValue::Decimal128(Some(12345), 5, 2)),
            ScalarValue::Decimal128(Some(12345), 5, 2)
        );
    }
}
