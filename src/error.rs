//! The errors a client can see.
//!
//! Everything that reaches a client goes through [`UserError`]: a SQLSTATE, a severity and a message
//! that was written for the client. Engine and storage errors are classified here, in one place
//! ([`UserError::from_datafusion`]); anything unclassified becomes a generic XX000 whose message
//! carries only an id, and the full text goes to the log under that id, so object-store URLs,
//! file paths and library internals never leave the server.

use std::fmt;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::messages::response::ErrorResponse;

/// SQLSTATE codes meshgate raises (PostgreSQL appendix A).
pub mod sqlstate {
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const UNDEFINED_SCHEMA: &str = "3F000";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const QUERY_CANCELED: &str = "57014";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const INVALID_AUTHORIZATION: &str = "28000";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const UNDEFINED_PARAMETER: &str = "42704";
    pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
    pub const INVALID_CURSOR_NAME: &str = "34000";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const INVALID_TRANSACTION_STATE: &str = "25000";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const IO_ERROR: &str = "58030";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DUPLICATE_TABLE: &str = "42P07";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    /// The connection is closed after the message.
    Fatal,
}

/// An error written for the client.
#[derive(Debug, Clone)]
pub struct UserError {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for UserError {}

impl UserError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        UserError {
            severity: Severity::Error,
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        UserError {
            severity: Severity::Fatal,
            ..Self::new(code, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(sqlstate::SYNTAX_ERROR, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(sqlstate::FEATURE_NOT_SUPPORTED, message)
    }

    pub fn cancelled() -> Self {
        Self::new(
            sqlstate::QUERY_CANCELED,
            "canceling statement due to user request",
        )
    }

    pub fn statement_timeout() -> Self {
        Self::new(
            sqlstate::QUERY_CANCELED,
            "canceling statement due to statement timeout",
        )
    }

    /// An error whose text must not reach the client: logged in full under a fresh id, and the
    /// client gets only the id.
    pub fn internal(context: &str, err: &dyn fmt::Display) -> Self {
        let id = error_id();
        tracing::error!(error_id = %id, "{context}: {err}");
        Self::new(
            sqlstate::INTERNAL_ERROR,
            format!("internal error (id {id}); the server log has details"),
        )
    }

    pub fn to_response(&self) -> ErrorResponse {
        let severity = match self.severity {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        };
        let mut fields = vec![
            (b'S', severity.to_string()),
            (b'V', severity.to_string()),
            (b'C', self.code.to_string()),
            (b'M', self.message.clone()),
        ];
        if let Some(d) = &self.detail {
            fields.push((b'D', d.clone()));
        }
        if let Some(h) = &self.hint {
            fields.push((b'H', h.clone()));
        }
        ErrorResponse::new(fields)
    }

    pub fn from_parser(e: &ParserError) -> Self {
        let text = match e {
            ParserError::ParserError(s) | ParserError::TokenizerError(s) => s.clone(),
            ParserError::RecursionLimitExceeded => "statement is too deeply nested".to_string(),
        };
        Self::syntax(format!("syntax error: {text}"))
    }

    /// Classifies an engine error. Plan-time messages are produced by DataFusion from the user's
    /// own SQL and name only user-visible objects, so they are passed on; execution-time errors
    /// can carry storage paths and are passed on only for the classes known to be value errors.
    pub fn from_datafusion(e: &DataFusionError) -> Self {
        use sqlstate::*;
        match e {
            DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
                Self::from_datafusion(inner)
            }
            DataFusionError::Shared(inner) => Self::from_datafusion(inner),
            DataFusionError::Collection(v) if !v.is_empty() => Self::from_datafusion(&v[0]),
            DataFusionError::SQL(p, _) => Self::from_parser(p),
            DataFusionError::ArrowError(a, _) => Self::from_arrow(a),
            DataFusionError::SchemaError(s, _) => {
                use datafusion::common::SchemaError as S;
                let code = match s.as_ref() {
                    S::FieldNotFound { .. } => UNDEFINED_COLUMN,
                    S::AmbiguousReference { .. } => AMBIGUOUS_COLUMN,
                    _ => SYNTAX_ERROR,
                };
                Self::new(code, clean(&s.to_string()))
            }
            DataFusionError::NotImplemented(m) => {
                Self::unsupported(format!("not supported: {}", clean(m)))
            }
            DataFusionError::Plan(m) => Self::from_plan_message(m),
            DataFusionError::Configuration(m) => Self::new(INVALID_PARAMETER_VALUE, clean(m)),
            DataFusionError::ResourcesExhausted(m) => Self::new(
                OUT_OF_MEMORY,
                format!("query exceeded its memory limit: {}", clean(m)),
            ),
            DataFusionError::Execution(m) => Self::from_execution_message(m, e),
            DataFusionError::External(inner) => {
                if let Some(u) = inner.downcast_ref::<UserError>() {
                    return u.clone();
                }
                if let Some(d) = inner.downcast_ref::<DataFusionError>() {
                    return Self::from_datafusion(d);
                }
                if let Some(a) = inner.downcast_ref::<ArrowError>() {
                    return Self::from_arrow(a);
                }
                Self::internal("external error", e)
            }
            _ => Self::internal("engine error", e),
        }
    }

    fn from_arrow(a: &ArrowError) -> Self {
        use sqlstate::*;
        match a {
            ArrowError::DivideByZero => Self::new(DIVISION_BY_ZERO, "division by zero"),
            ArrowError::CastError(m) | ArrowError::ParseError(m) => Self::new(
                INVALID_TEXT_REPRESENTATION,
                format!("invalid input value: {}", clean(m)),
            ),
            ArrowError::ArithmeticOverflow(m) => Self::new(NUMERIC_VALUE_OUT_OF_RANGE, clean(m)),
            ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => {
                Self::new(NUMERIC_VALUE_OUT_OF_RANGE, clean(m))
            }
            ArrowError::ExternalError(inner) => {
                if let Some(d) = inner.downcast_ref::<DataFusionError>() {
                    return Self::from_datafusion(d);
                }
                if let Some(u) = inner.downcast_ref::<UserError>() {
                    return u.clone();
                }
                Self::internal("arrow external error", a)
            }
            _ => Self::internal("arrow error", a),
        }
    }

    fn from_plan_message(m: &str) -> Self {
        use sqlstate::*;
        let m = clean(m);
        let lower = m.to_ascii_lowercase();
        let code = if lower.contains("table '") && lower.contains("not found")
            || lower.starts_with("table not found")
        {
            UNDEFINED_TABLE
        } else if lower.contains("no field named")
            || lower.contains("column") && lower.contains("not found")
        {
            UNDEFINED_COLUMN
        } else if lower.contains("invalid function") || lower.contains("no function matches") {
            UNDEFINED_FUNCTION
        } else if lower.contains("schema") && lower.contains("not found") {
            UNDEFINED_SCHEMA
        } else if lower.contains("cannot be cast") || lower.contains("cannot cast") {
            DATATYPE_MISMATCH
        } else if lower.contains("ambiguous") {
            AMBIGUOUS_COLUMN
        } else if lower.contains("unsupported") || lower.contains("not supported") {
            FEATURE_NOT_SUPPORTED
        } else {
            SYNTAX_ERROR
        };
        let message = if code == UNDEFINED_TABLE {
            pg_style_missing_table(&m).unwrap_or(m)
        } else {
            m
        };
        Self::new(code, message)
    }

    fn from_execution_message(m: &str, whole: &DataFusionError) -> Self {
        use sqlstate::*;
        let lower = m.to_ascii_lowercase();
        if lower.contains("divide by zero") || lower.contains("division by zero") {
            Self::new(DIVISION_BY_ZERO, "division by zero")
        } else if lower.contains("cannot cast")
            || lower.contains("cast error")
            || lower.contains("can't parse")
        {
            Self::new(
                INVALID_TEXT_REPRESENTATION,
                format!("invalid input value: {}", clean(m)),
            )
        } else if lower.contains("overflow") {
            Self::new(NUMERIC_VALUE_OUT_OF_RANGE, clean(m))
        } else {
            Self::internal("execution error", whole)
        }
    }
}

/// DataFusion prefixes and backtraces are noise to a psql user.
fn clean(m: &str) -> String {
    let m = m.split("\n\nbacktrace").next().unwrap_or(m);
    m.trim().to_string()
}

/// `table 'mesh.sales.nope' not found` → `relation "sales.nope" does not exist` (PostgreSQL's words,
/// which clients and people recognise).
fn pg_style_missing_table(m: &str) -> Option<String> {
    let start = m.find('\'')? + 1;
    let end = start + m[start..].find('\'')?;
    let name = &m[start..end];
    let parts: Vec<&str> = name.split('.').collect();
    let shown = if parts.len() == 3 {
        format!("{}.{}", parts[1], parts[2])
    } else {
        name.to_string()
    };
    Some(format!("relation \"{shown}\" does not exist"))
}

/// A short random id that ties a client-visible message to a log line.
pub fn error_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{:012x}", n & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_engine_errors_to_sqlstate() {
        let cases = [
            (
                DataFusionError::Plan("table 'mesh.sales.nope' not found".into()),
                "42P01",
            ),
            (DataFusionError::NotImplemented("x".into()), "0A000"),
            (
                DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None),
                "22012",
            ),
            (
                DataFusionError::Plan("Invalid function 'nosuch'.\nDid you mean 'abs'?".into()),
                "42883",
            ),
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::CastError(
                        "Cannot cast string 'x' to value of Int32 type".into(),
                    )),
                    None,
                ),
                "22P02",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(UserError::from_datafusion(&e).code, code, "{e}");
        }
        let e = UserError::from_datafusion(&DataFusionError::Plan(
            "table 'mesh.sales.nope' not found".into(),
        ));
        assert_eq!(e.message, "relation \"sales.nope\" does not exist");
    }

    #[test]
    fn internal_errors_hide_their_text() {
        let e = UserError::from_datafusion(&DataFusionError::Internal(
            "s3://secret-bucket/path?X-Amz-Credential=AKIA".into(),
        ));
        assert_eq!(e.code, "XX000");
        assert!(
            !e.message.contains("secret-bucket") && !e.message.contains("AKIA"),
            "{}",
            e.message
        );
    }
}
