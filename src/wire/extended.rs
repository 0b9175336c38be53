//! The extended-query protocol: Parse → Bind → Describe → Execute (with a row limit that
//! suspends the portal) → Sync, with named and unnamed statements and portals.
//!
//! A query is planned once at Parse (which also reports unknown tables there, as PostgreSQL
//! does, and gives Describe its parameter and row types); Bind fills the placeholders with the
//! client's values, cast to the types the planner inferred.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::Statement;
use futures::SinkExt;
use pgwire::api::portal::Format;
use pgwire::api::stmt::StoredStatement;
use pgwire::api::Type;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, CloseComplete, ParseComplete, PortalSuspended,
};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::{AsyncRead, AsyncWrite};

use super::encode::{fields, result_format, row_description, Pumped, RowSource};
use super::query::{commands_with_text, returns_rows, Command};
use super::{Failure, SessionLoop};
use crate::error::{sqlstate, UserError};

/// A parsed (and, for queries, planned) statement.
pub(crate) struct Prepared {
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

pub(crate) struct Portal {
    pub prepared: Arc<Prepared>,
    /// The plan with values bound.
    pub plan: Option<LogicalPlan>,
    pub format: Format,
    pub state: PortalState,
    /// The audit record of a suspended run (see `wire::audit`).
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

pub(crate) enum PortalState {
    NotStarted,
    Running(RowSource),
    Done,
}

fn name_of(n: &Option<String>) -> String {
    n.clone().unwrap_or_default()
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
                sqlstate::SYNTAX_ERROR,
                format!("parameters must be numbered $1 to ${}", types.len()),
            )
        })?;
        out.push(t.clone());
    }
    Ok(out)
}

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) async fn extended(&mut self, msg: PgWireFrontendMessage) -> Result<(), Failure> {
        match msg {
            PgWireFrontendMessage::Parse(p) => {
                let name = name_of(&p.name);
                if !name.is_empty() && self.statements.contains_key(&name) {
                    return Err(UserError::new(
                        "42P05",
                        format!("prepared statement \"{name}\" already exists"),
                    )
                    .into());
                }
                let started = std::time::Instant::now();
                let prepared = match self.prepare(&p.query, &p.type_oids).await {
                    Ok(prepared) => prepared,
                    Err(e) => {
                        self.audit_failed_parse(&p.query, started, &e);
                        return Err(e.into());
                    }
                };
                self.statements.insert(name, Arc::new(prepared));
                self.conn
                    .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
                    .await?;
                Ok(())
            }
            PgWireFrontendMessage::Bind(b) => {
                let stmt_name = name_of(&b.statement_name);
                let mut prepared = self.statements.get(&stmt_name).cloned().ok_or_else(|| {
                    UserError::new(
                        sqlstate::INVALID_SQL_STATEMENT_NAME,
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
                        return Err(UserError::new(
                            sqlstate::FEATURE_NOT_SUPPORTED,
                            "cached plan must not change result type",
                        )
                        .into());
                    }
                    prepared = Arc::new(again);
                    self.statements.insert(stmt_name.clone(), prepared.clone());
                }
                let portal_name = name_of(&b.portal_name);
                if !portal_name.is_empty() && self.portals.contains_key(&portal_name) {
                    return Err(UserError::new(
                        "42P03",
                        format!("cursor \"{portal_name}\" already exists"),
                    )
                    .into());
                }
                let started = std::time::Instant::now();
                let text = prepared.audit_text.clone();
                let portal = match self.bind(prepared, &b) {
                    Ok(portal) => portal,
                    Err(e) => {
                        self.audit_failed_bind(text, started, &e);
                        return Err(e.into());
                    }
                };
                self.portals.insert(portal_name, portal);
                self.conn
                    .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
                    .await?;
                Ok(())
            }
            PgWireFrontendMessage::Describe(d) => {
                let name = name_of(&d.name);
                if d.target_type == b'S' {
                    let p = self.statements.get(&name).cloned().ok_or_else(|| {
                        UserError::new(
                            sqlstate::INVALID_SQL_STATEMENT_NAME,
                            format!("prepared statement \"{name}\" does not exist"),
                        )
                    })?;
                    let oids = p.param_types.iter().map(|t| t.oid()).collect();
                    self.conn
                        .feed(PgWireBackendMessage::ParameterDescription(
                            ParameterDescription::new(oids),
                        ))
                        .await?;
                    let desc = self.describe(&p, &Format::UnifiedText)?;
                    self.conn.feed(desc).await?;
                } else if !self.portals.contains_key(&name) && self.cursors.contains_key(&name) {
                    // SQL cursors are portals too: psycopg describes its DECLAREd cursor so.
                    let desc = self.cursor_description(&name)?;
                    self.conn.feed(desc).await?;
                } else {
                    let portal = self.portals.get(&name).ok_or_else(|| {
                        UserError::new(
                            sqlstate::INVALID_CURSOR_NAME,
                            format!("portal \"{name}\" does not exist"),
                        )
                    })?;
                    let (p, f) = (portal.prepared.clone(), portal.format.clone());
                    let desc = self.describe(&p, &f)?;
                    self.conn.feed(desc).await?;
                }
                Ok(())
            }
            PgWireFrontendMessage::Execute(e) => {
                let name = name_of(&e.name);
                let max_rows = if e.max_rows > 0 {
                    e.max_rows as usize
                } else {
                    0
                };
                self.audit_resume(&name);
                let result = self.execute(&name, max_rows).await;
                self.audit_after_execute(&name, &result);
                result
            }
            PgWireFrontendMessage::Close(c) => {
                let name = name_of(&c.name);
                if c.target_type == b'S' {
                    self.statements.remove(&name);
                } else {
                    self.portals.remove(&name);
                }
                self.conn
                    .feed(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
                    .await?;
                Ok(())
            }
            PgWireFrontendMessage::Flush(_) => {
                self.conn.flush().await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn prepare(&mut self, sql: &str, type_oids: &[u32]) -> Result<Prepared, UserError> {
        tracing::debug!(target: "meshgate::statements", protocol = "extended", "{sql}");
        let mut stmts = commands_with_text(sql, self.audit_texts())?;
        if stmts.len() > 1 {
            return Err(UserError::syntax(
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some((command, audit_text)) = stmts.pop() else {
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
        let mut command = command;
        if let Command::Query(stmt) = &mut command {
            super::config_fns::apply(stmt, &mut self.session)?;
        }
        let (plan, param_arrow) = match &command {
            Command::Query(s) => {
                let plan = self.plan(s).await?;
                let params = ordered_params(&plan)?;
                (Some(plan), params)
            }
            Command::CopyOut(s, _) => {
                let plan = self.plan(s).await?;
                let params = ordered_params(&plan)?;
                (None, params)
            }
            _ => (None, vec![]),
        };
        let casts = match &command {
            Command::Query(s) | Command::CopyOut(s, _) => placeholder_casts(s),
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
            audit_text,
            access: self.session.access.current(),
            access_generation: self.access_generation,
            sql: sql.to_string(),
            type_oids: type_oids.to_vec(),
        })
    }

    fn describe(&self, p: &Prepared, format: &Format) -> Result<PgWireBackendMessage, UserError> {
        match (&p.command, &p.plan) {
            (Command::Query(_), Some(plan)) => {
                let schema = plan.schema().as_arrow().clone();
                Ok(row_description(&fields(&schema, format)?))
            }
            (Command::Show(name), _) => Ok(row_description(&self.show(name)?.0)),
            (
                Command::Fetch {
                    name, send: true, ..
                },
                _,
            ) => self.cursor_description(name),
            _ => Ok(PgWireBackendMessage::NoData(NoData::new())),
        }
    }

    fn bind(&self, prepared: Arc<Prepared>, b: &Bind) -> Result<Portal, UserError> {
        let n = prepared.param_types.len();
        if b.parameters.len() != n {
            return Err(UserError::new(
                sqlstate::PROTOCOL_VIOLATION,
                format!(
                    "bind message supplies {} parameters, but prepared statement requires {n}",
                    b.parameters.len()
                ),
            ));
        }
        if !(b.parameter_format_codes.len() <= 1 || b.parameter_format_codes.len() == n) {
            return Err(UserError::new(
                sqlstate::PROTOCOL_VIOLATION,
                "bind message has a wrong number of parameter formats",
            ));
        }
        let columns = match &prepared.plan {
            Some(plan) => plan.schema().fields().len(),
            None => 0,
        };
        let format =
            if returns_rows(&prepared.command) && matches!(prepared.command, Command::Query(_)) {
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

    async fn execute(&mut self, name: &str, max_rows: usize) -> Result<(), Failure> {
        let mut portal = self.portals.remove(name).ok_or_else(|| {
            UserError::new(
                sqlstate::INVALID_CURSOR_NAME,
                format!("portal \"{name}\" does not exist"),
            )
        })?;
        let result = self.execute_portal(&mut portal, max_rows).await;
        // A portal that failed cannot be resumed; one that ran to the end answers later Executes
        // with an empty result, as PostgreSQL's does.
        if result.is_ok() {
            self.portals.insert(name.to_string(), portal);
        }
        result
    }

    async fn execute_portal(
        &mut self,
        portal: &mut Portal,
        max_rows: usize,
    ) -> Result<(), Failure> {
        if let PortalState::NotStarted = portal.state {
            match (&portal.prepared.command, &portal.plan) {
                (Command::Query(_), Some(plan)) => {
                    if self.tx == super::TxState::Failed {
                        return Err(UserError::new(
                            "25P02",
                            "current transaction is aborted, commands ignored until end of transaction block",
                        )
                        .into());
                    }
                    self.session.access.restore(portal.prepared.access.clone());
                    let src = self.start(plan.clone(), &portal.format).await?;
                    portal.state = PortalState::Running(src);
                }
                (Command::Noop("EMPTY"), _) => {
                    portal.state = PortalState::Done;
                    self.conn
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            pgwire::messages::response::EmptyQueryResponse::new(),
                        ))
                        .await?;
                    return Ok(());
                }
                (cmd, _) => {
                    portal.state = PortalState::Done;
                    return self.run_command(cmd.clone(), &portal.format, false).await;
                }
            }
        }
        let is_explain = matches!(&portal.prepared.command, Command::Query(s) if matches!(**s, Statement::Explain { .. }));
        match std::mem::replace(&mut portal.state, PortalState::Done) {
            PortalState::Running(mut src) => match self.pump(&mut src, max_rows).await? {
                Pumped::Suspended => {
                    self.conn
                        .feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                        .await?;
                    portal.state = PortalState::Running(src);
                    Ok(())
                }
                Pumped::Done => {
                    let tag = if is_explain {
                        "EXPLAIN".to_string()
                    } else {
                        format!("SELECT {}", src.sent)
                    };
                    self.complete(&tag).await
                }
            },
            PortalState::Done => self.complete("SELECT 0").await,
            PortalState::NotStarted => Ok(()),
        }
    }
}

/// The types placeholders are cast to in the statement (`$n::type`), by parameter number.
fn placeholder_casts(stmt: &Statement) -> std::collections::HashMap<usize, Type> {
    use datafusion::sql::sqlparser::ast::{visit_expressions, Expr, Value};
    let mut out = std::collections::HashMap::new();
    let _ = visit_expressions(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            if let Expr::Value(v) = expr.as_ref() {
                if let Value::Placeholder(p) = &v.value {
                    let n = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok());
                    if let (Some(n), Some(t)) = (n, pg_type_named(&data_type.to_string())) {
                        out.entry(n).or_insert(t);
                    }
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// PostgreSQL's type for a SQL type name, for the types drivers bind parameters as.
fn pg_type_named(name: &str) -> Option<Type> {
    let name = name.to_ascii_lowercase();
    let base = name.split('(').next().unwrap_or("").trim();
    Some(match base {
        "int8" | "bigint" => Type::INT8,
        "int" | "int4" | "integer" => Type::INT4,
        "int2" | "smallint" => Type::INT2,
        "numeric" | "decimal" => Type::NUMERIC,
        "float8" | "double precision" | "double" => Type::FLOAT8,
        "float4" | "real" => Type::FLOAT4,
        "bool" | "boolean" => Type::BOOL,
        "date" => Type::DATE,
        "timestamp" | "timestamp without time zone" => Type::TIMESTAMP,
        "timestamptz" | "timestamp with time zone" => Type::TIMESTAMPTZ,
        "text" => Type::TEXT,
        "varchar" | "character varying" => Type::VARCHAR,
        "bytea" => Type::BYTEA,
        // asyncpg's type introspection binds `$1::oid[]`; its core codecs include oid[] (not
        // int4[]), so that is the type it must be told. Decoded as int4[] (same layout).
        "oid[]" | "pg_catalog.oid[]" => Type::OID_ARRAY,
        _ => return None,
    })
}

/// Decodes the Bind's parameter values and substitutes them into the plan.
fn bind_params(
    plan: &LogicalPlan,
    prepared: &Prepared,
    b: &Bind,
) -> Result<LogicalPlan, UserError> {
    // OIDs travel as 4-byte integers: oid[] values are decoded as int4[].
    let decode_as = |t: &Type| {
        if *t == Type::OID_ARRAY {
            Type::INT4_ARRAY
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
        .map_err(|e| UserError::new(sqlstate::PROTOCOL_VIOLATION, e.to_string()))?;
    let inferred: Vec<Option<&DataType>> =
        prepared.param_arrow.iter().map(Option::as_ref).collect();
    let values =
        arrow_pg::datatypes::df::deserialize_parameters(&portal, &inferred).map_err(|e| {
            UserError::new(
                sqlstate::INVALID_TEXT_REPRESENTATION,
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
            sqlstate::INVALID_TEXT_REPRESENTATION,
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
